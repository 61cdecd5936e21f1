// The HTTP front end of a node (cpp-httplib, Debian's libcpp-httplib). It
// parses requests (keep-alive, many concurrent connections, 400 for
// malformed requests, 413 over the body limit) on its own thread pool and
// hands each one to the node's turn loop as a PendingHttp; the connection's
// thread waits until the turn loop answers, which it does only after the
// turn's commit is durable (output commit).
#ifndef KEN_HTTP_HTTP_FRONTEND_H_
#define KEN_HTTP_HTTP_FRONTEND_H_

#include <cstdint>
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace ken {

struct HttpRequest {
  std::string method;
  std::string uri;    // as sent: path and query
  std::string path;
  std::string query;  // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Who answers a queued request: the turn loop, once it starts the request's
// turn (Take), or the front end, if the turn loop has not started it in time
// (Abandon). Exactly one of them wins, so a request answered "not run"
// never runs afterwards. Any thread.
class Claim {
 public:
  bool Take() { return Move(kTaken); }
  bool Abandon() { return Move(kAbandoned); }

 private:
  enum State { kQueued, kTaken, kAbandoned };
  bool Move(int to) {
    int expected = kQueued;
    return state_.compare_exchange_strong(expected, to);
  }
  std::atomic<int> state_{kQueued};
};

// A request waiting for its turn; the turn loop Takes `claim`, then sets
// `reply` exactly once.
struct PendingHttp {
  HttpRequest request;
  Claim claim;
  std::promise<HttpResponse> reply;
};

struct HttpOptions {
  std::string address;                   // host:port
  size_t max_body_bytes = 1 << 20;       // larger bodies get 413
  int threads = 128;                     // concurrent connections served
  // A request whose turn has not started after this long is answered 503
  // and never runs; one whose turn started but has no answer after twice
  // this long is answered 503 with "Ken-Outcome: unknown".
  int64_t answer_timeout_ms = 60000;
};

class HttpFrontend {
 public:
  // Binds options.address and serves on background threads; every parsed
  // request goes to `on_request` (any thread). Errors: kUnavailable if the
  // address cannot be bound, kInvalidArgument if it cannot be parsed.
  static absl::StatusOr<std::unique_ptr<HttpFrontend>> Start(
      const HttpOptions& options, std::function<void(std::shared_ptr<PendingHttp>)> on_request);
  ~HttpFrontend();  // stops listening and joins
  void Stop();

 private:
  HttpFrontend() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace ken

#endif  // KEN_HTTP_HTTP_FRONTEND_H_
