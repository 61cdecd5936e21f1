#include "http/http_frontend.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/host_port.h"
#include "http/http_connection.h"
#include "http/request_head.h"
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

// cpp-httplib (0.11, compiled into Debian's library) caps
// application/x-www-form-urlencoded bodies at 8 KiB and parses
// multipart/form-data bodies into parts, leaving `body` empty. Ken hands
// every body to the handler as it came, up to max_body_bytes: so before the
// library reads the body, such a Content-Type is moved to a header of
// Ken's own. (The handler is given the fields as sent, HttpConnection's, so
// the program sees the Content-Type and never the renamed one.)
constexpr char kStashedContentType[] = "x-ken-stashed-content-type";

bool LibraryParsesBody(const std::string& content_type) {
  std::string lower = content_type;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.rfind("application/x-www-form-urlencoded", 0) == 0 || lower.rfind("multipart/form-data", 0) == 0;
}

// Answers 400 to a request that is malformed (`why`), logs it, and closes
// the connection after the response: what follows in it cannot be trusted
// to start a request.
void RefuseMalformed(HttpConnection& connection, httplib::Response& res, const std::string& why) {
  std::string ip;
  int port = 0;
  connection.get_remote_ip_and_port(ip, port);
  spdlog::warn("http: 400 Bad Request to {}:{}: {}; the request is not run and the connection is closed", ip, port,
               why);
  res.status = 400;
  res.set_content(absl::StrCat("Bad Request: ", why, "\n"), "text/plain; charset=utf-8");
  connection.CloseAfterResponse();
}

// Why the library answered 400 by itself (its parser gives no reason).
std::string LibraryRefusal(const HttpConnection& connection) {
  const std::string& head = connection.head();
  std::string request_line = head.substr(0, head.find('\n'));
  if (!request_line.empty() && request_line.back() == '\r') request_line.pop_back();
  if (!connection.head_complete()) {
    return absl::StrCat("malformed request line or header (request line '", QuoteForLog(request_line), "')");
  }
  return absl::StrCat("the body of '", QuoteForLog(request_line), "' could not be read (malformed chunks, or ",
                      "the client stopped sending), or its method is not served");
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
  frontend->server_ = std::make_unique<HttpServer>();
  httplib::Server& server = *frontend->server_;
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(30);
  // Responses are small and written in pieces: without TCP_NODELAY, Nagle's
  // algorithm and the client's delayed ACK add ~40 ms to each one.
  server.set_tcp_nodelay(true);
  server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    // Before the body is read: refuse a head the library took too leniently.
    HttpConnection* connection = HttpConnection::Current();
    if (connection == nullptr) {  // not served by HttpServer: cannot be checked
      res.status = 500;
      return httplib::Server::HandlerResponse::Handled;
    }
    RequestHead head;
    std::string why = connection->head_overflowed()
                          ? absl::StrCat("the request head is over ", HttpConnection::kMaxHeadBytes, " bytes")
                          : CheckRequestHead(connection->head(), &head);
    if (!why.empty()) {
      RefuseMalformed(*connection, res, why);
      return httplib::Server::HandlerResponse::Handled;
    }
    connection->fields() = std::move(head.fields);
    // The request object is the library's own, not const: renaming a header
    // here is how the library is told not to parse the body.
    auto& headers = const_cast<httplib::Request&>(req).headers;
    headers.erase(kStashedContentType);
    auto it = headers.find("Content-Type");
    if (it != headers.end() && LibraryParsesBody(it->second)) {
      std::string value = it->second;
      headers.erase(it);
      headers.emplace(kStashedContentType, value);
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // A 400 the library made itself (a malformed request line, an unreadable
  // body...): give it a reason, log it, close the connection after it.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    HttpConnection* connection = HttpConnection::Current();
    if (connection == nullptr || res.status != 400 || connection->answered_by_node() ||
        connection->close_after_response()) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    RefuseMalformed(*connection, res, LibraryRefusal(*connection));
    // The library sends this response without adding a length.
    res.set_header("Content-Length", std::to_string(res.body.size()));
    return httplib::Server::HandlerResponse::Unhandled;
  }));
  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    HttpConnection* connection = HttpConnection::Current();
    if (connection != nullptr && connection->close_after_response()) {
      res.headers.erase("Keep-Alive");
      res.set_header("Connection", "close");
    }
  });
  // Every method and path goes to the node. (A pre-routing handler runs
  // before cpp-httplib reads the body, so these are ordinary handlers.)
  const size_t max_body = options.max_body_bytes;
  auto handler = [handle, max_body](const httplib::Request& req, httplib::Response& res) {
    HttpConnection* connection = HttpConnection::Current();  // set: the pre-routing handler checked
    // A chunked body has no Content-Length for the library to check.
    if (req.body.size() > max_body) {
      res.status = 413;
      res.set_content(absl::StrCat("request body over ", max_body, " bytes (http_max_body_bytes)\n"),
                      "text/plain; charset=utf-8");
      return;
    }
    v1::HttpRequest r;
    r.set_method(req.method);
    r.set_uri(req.target);
    r.set_path(req.path);
    size_t q = req.target.find('?');
    r.set_query(q == std::string::npos ? "" : req.target.substr(q + 1));
    // The fields as the client sent them (the library's own percent-decode
    // values, drop empty ones and add REMOTE_ADDR and the like).
    for (const auto& [name, value] : connection->fields()) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      v1::HttpHeader* h = r.add_headers();
      h->set_name(lower);
      h->set_value(value);
    }
    r.set_body(req.body);
    connection->MarkAnsweredByNode();
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
  // cpp-httplib's stop() does nothing until the listening loop has started
  // (it checks is_running()), so a Stop() right after Start() would leave
  // the thread listening and the join waiting forever: return only once the
  // loop runs. It starts within microseconds; the bound is a safeguard.
  for (int i = 0; i < 10000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) spdlog::warn("the HTTP listening thread has not started after 10 s");
  return frontend;
}

HttpFrontend::~HttpFrontend() { Stop(); }

void HttpFrontend::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ken
