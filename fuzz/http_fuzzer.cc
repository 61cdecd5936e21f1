// Fuzz target: the HTTP request path of a node up to its turn input. The
// first byte picks the way in:
//  - even: the rest is a request head, checked as the front end checks the
//    bytes a client sent (CheckRequestHead), and quoted for the log;
//  - odd: the rest is sent as it is over a TCP connection to a real
//    HttpFrontend (cpp-httplib and Ken's connection checks, on 127.0.0.1,
//    started once), the client half-closes and reads the answer. Every
//    request the front end passes on becomes the turn input a node runs
//    (v1::TurnInput, as NodeServer::SubmitHttp makes it), which must encode
//    and decode back unchanged (a journal records it), and its query is
//    parsed as the program's request.params.
// Checks: no crash or sanitizer report; every answer is an HTTP status line.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/form_urlencoded.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/support.h"
#include "http/http_frontend.h"
#include "http/request_head.h"
#include "proto/turn.pb.h"
#include "spdlog/spdlog.h"

namespace ken::fuzz {
namespace {

v1::HttpResponse Handle(v1::HttpRequest request) {
  v1::TurnInput input;
  *input.mutable_http() = request;
  input.set_reply_id(1);
  v1::TurnInput reread;
  if (!reread.ParseFromString(input.SerializeAsString())) abort();  // a journal could not replay it
  if (reread.http().SerializeAsString() != request.SerializeAsString()) abort();
  (void)ParseFormUrlencoded(request.query());
  v1::HttpResponse response;
  response.set_status(200);
  response.set_body(request.body().substr(0, 64));
  return response;
}

int Port() {
  static int port = [] {
    // A free port: bind to 0, read it back, let the front end take it.
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      abort();
    }
    const int p = ntohs(a.sin_port);
    close(s);
    HttpOptions options;
    options.address = "127.0.0.1:" + std::to_string(p);
    options.max_body_bytes = 4096;
    options.threads = 4;
    static std::unique_ptr<HttpFrontend> frontend;
    absl::StatusOr<std::unique_ptr<HttpFrontend>> started = HttpFrontend::Start(options, Handle);
    if (!started.ok()) abort();
    frontend = std::move(*started);
    return p;
  }();
  return port;
}

// A connected socket to the front end. Each connection comes from the next
// source address of 127.0.0.0/8 (the server listens on 127.0.0.1): the
// server closes most connections first, and each such close keeps its
// (source address, port) pair in TIME-WAIT for a minute, so at thousands of
// runs a second one source address would run out of ports.
int Connect() {
  static uint32_t next = 0;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(Port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int tries = 0; tries < 1000; ++tries) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    // Closed with RST (linger 0): no TIME-WAIT on the client's side.
    linger no_wait{1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &no_wait, sizeof(no_wait));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7F000000u | (1 + (next++ % 0xFFFFFEu)));  // 127.0.0.1 ... 127.255.255.254
    if (bind(s, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0 &&
        connect(s, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
      return s;
    }
    const int error = errno;
    close(s);
    if (error == ECONNREFUSED) abort();  // the front end stopped listening: a finding
  }
  abort();  // no source address could connect: the front end no longer accepts
}

void OverTcp(const std::string& bytes) {
  const int s = Connect();
  timeval timeout{5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(s, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered and closed early
    sent += static_cast<size_t>(n);
  }
  shutdown(s, SHUT_WR);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = recv(s, buffer, sizeof(buffer), 0)) > 0;) answer.append(buffer, static_cast<size_t>(n));
  close(s);
  if (!answer.empty() && answer.rfind("HTTP/1.", 0) != 0) abort();  // bytes that are not an HTTP answer
}

}  // namespace
}  // namespace ken::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ken::fuzz::QuietLogs();
  ken::fuzz::FuzzInput in(data, size);
  const bool tcp = in.Byte() & 1;
  const std::string rest = in.Rest();
  if (!tcp) {
    ken::RequestHead head;
    (void)ken::CheckRequestHead(rest, &head);
    (void)ken::QuoteForLog(rest);
  } else {
    ken::fuzz::OverTcp(rest);
  }
  return 0;
}
