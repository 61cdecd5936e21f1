// The HTTP front end of a node (cpp-httplib, Debian's libcpp-httplib). It
// parses requests (keep-alive, many concurrent connections, 413 over the
// body limit) on its own thread pool and hands each one, as a
// v1::HttpRequest (proto/turn.proto), to `handle`, which runs it as a turn
// and returns the response once the turn's commit is durable (output
// commit); the connection's thread waits meanwhile.
//
// A malformed request (request line, a header line: request_head.h, a
// Content-Length that is not a number, an unreadable body) is answered 400
// with the reason in the body and a warning in the log, is never run, and
// its connection is closed after the response. The handler's headers are
// the fields as sent (values not decoded, empty ones kept). A client that
// has shut down its sending side still gets its response
// (http_connection.h).
#ifndef KEN_HTTP_HTTP_FRONTEND_H_
#define KEN_HTTP_HTTP_FRONTEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "proto/turn.pb.h"

namespace httplib {
class Server;
}

namespace ken {

struct HttpOptions {
  std::string address;                   // host:port
  size_t max_body_bytes = 1 << 20;       // larger bodies get 413, whatever their Content-Type (http_max_body_bytes)
  int threads = 128;                     // concurrent connections served
};

class HttpFrontend {
 public:
  // Binds options.address and serves on background threads; every parsed
  // request goes to `handle` (called on the connection's thread, which
  // blocks until it returns). Errors: kUnavailable if the address cannot be
  // bound, kInvalidArgument if it cannot be parsed. Returns once the
  // listening loop runs, so Stop() may follow at once.
  static absl::StatusOr<std::unique_ptr<HttpFrontend>> Start(
      const HttpOptions& options, std::function<v1::HttpResponse(v1::HttpRequest)> handle);
  ~HttpFrontend();  // stops listening and joins
  void Stop();

 private:
  HttpFrontend() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace ken

#endif  // KEN_HTTP_HTTP_FRONTEND_H_
