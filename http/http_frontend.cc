#include "http/http_frontend.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/host_port.h"
#include "spdlog/spdlog.h"

namespace ken {

namespace {

// Debian's libcpp-httplib is compiled with a listen backlog of 5, so a burst
// of new connections overflows the accept queue and clients retry after 1 s.
// Linux lets listen() be called again on a listening socket to change its
// backlog; the library does not expose the socket, so find it by its port.
void WidenListenBacklog(int port) {
  for (int fd = 3; fd < 1024; ++fd) {
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) continue;
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = 0;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<struct sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<struct sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port && listen(fd, SOMAXCONN) == 0) return;
  }
  spdlog::warn("http: could not widen the listen backlog of port {}", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpFrontend>> HttpFrontend::Start(
    const HttpOptions& options, std::function<v1::HttpResponse(v1::HttpRequest)> handle) {
  std::string host;
  int port = 0;
  if (!ParseHostPort(options.address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse http address ", options.address));
  }
  std::unique_ptr<HttpFrontend> frontend(new HttpFrontend());
  frontend->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *frontend->server_;
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(30);
  // Responses are small and written in pieces: without TCP_NODELAY, Nagle's
  // algorithm and the client's delayed ACK add ~40 ms to each one.
  server.set_tcp_nodelay(true);
  // Every method and path goes to the node. (A pre-routing handler would run
  // before cpp-httplib reads the body, so these are ordinary handlers.)
  auto handler = [handle](const httplib::Request& req, httplib::Response& res) {
    v1::HttpRequest r;
    r.set_method(req.method);
    r.set_uri(req.target);
    r.set_path(req.path);
    size_t q = req.target.find('?');
    r.set_query(q == std::string::npos ? "" : req.target.substr(q + 1));
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "remote_addr" || lower == "remote_port" || lower == "local_addr" || lower == "local_port") {
        continue;  // added by cpp-httplib, not sent by the client
      }
      v1::HttpHeader* h = r.add_headers();
      h->set_name(lower);
      h->set_value(value);
    }
    r.set_body(req.body);
    v1::HttpResponse answer = handle(std::move(r));
    res.status = answer.status();
    std::string content_type = "text/plain; charset=utf-8";
    for (const v1::HttpHeader& h : answer.headers()) {
      if (h.name() == "content-type") {
        content_type = h.value();
      } else if (h.name() != "content-length" && h.name() != "transfer-encoding" && h.name() != "connection") {
        res.set_header(h.name().c_str(), h.value());
      }
    }
    // RFC 9110 15.3.5 and 15.4.5: a 204 or 304 response has no content.
    if (answer.status() != 204 && answer.status() != 304) res.set_content(answer.body(), content_type.c_str());
  };
  const std::string all = ".*";
  server.Get(all, handler);  // and HEAD
  server.Post(all, handler);
  server.Put(all, handler);
  server.Patch(all, handler);
  server.Delete(all, handler);
  server.Options(all, handler);
  if (!server.bind_to_port(host.c_str(), port)) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.address, " (address in use?)"));
  }
  WidenListenBacklog(port);
  frontend->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return frontend;
}

HttpFrontend::~HttpFrontend() { Stop(); }

void HttpFrontend::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ken
