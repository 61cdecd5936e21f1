#include "http/http_frontend.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>

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
    const HttpOptions& options, std::function<void(std::shared_ptr<PendingHttp>)> on_request) {
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
  const int64_t timeout_ms = options.answer_timeout_ms;
  // Every method and path goes to the node. (A pre-routing handler would run
  // before cpp-httplib reads the body, so these are ordinary handlers.)
  auto handler = [on_request, timeout_ms](const httplib::Request& req, httplib::Response& res) {
    auto pending = std::make_shared<PendingHttp>();
    HttpRequest& r = pending->request;
    r.method = req.method;
    r.uri = req.target;
    r.path = req.path;
    size_t q = req.target.find('?');
    r.query = q == std::string::npos ? "" : req.target.substr(q + 1);
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "remote_addr" || lower == "remote_port" || lower == "local_addr" || lower == "local_port") {
        continue;  // added by cpp-httplib, not sent by the client
      }
      r.headers.emplace_back(lower, value);
    }
    r.body = req.body;
    std::future<HttpResponse> future = pending->reply.get_future();
    on_request(pending);
    if (future.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
      if (pending->claim.Abandon()) {
        res.status = 503;
        res.set_header("Ken-Outcome", "not-run");
        res.set_content(absl::StrCat("the node did not start this request within ", timeout_ms,
                                     " ms; it was not run and will not be\n"),
                        "text/plain");
        return;
      }
      // Its turn has started: the answer comes after its commit.
      if (future.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
        res.status = 503;
        res.set_header("Ken-Outcome", "unknown");
        res.set_content("the node started this request but has not answered; its outcome is unknown\n",
                        "text/plain");
        return;
      }
    }
    HttpResponse answer = future.get();
    res.status = answer.status;
    std::string content_type = "text/plain; charset=utf-8";
    for (const auto& [name, value] : answer.headers) {
      if (name == "content-type") {
        content_type = value;
      } else if (name != "content-length" && name != "transfer-encoding" && name != "connection") {
        res.set_header(name.c_str(), value);
      }
    }
    res.set_content(answer.body, content_type.c_str());
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
