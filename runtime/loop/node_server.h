// A cluster node's network side, wired to its turn loop: the gRPC transport
// (envelopes and acks from peers), the admin service (Status, Eval), and
// one sender per peer. Front ends (HTTP, admin evals) submit inputs through
// Submit*, which implement the answer-timeout rule: an input whose turn has
// not started within `answer_timeout_ms` is answered "not run" and never
// runs; one whose turn started but has no answer after twice that is
// answered "outcome unknown" and its late completion is dropped.
//
// Threading: Start and OnCommit on the loop thread; the rest from any
// thread (gRPC and HTTP threads).
#ifndef KEN_RUNTIME_LOOP_NODE_SERVER_H_
#define KEN_RUNTIME_LOOP_NODE_SERVER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "messaging/transport.h"
#include "proto/ken.pb.h"
#include "proto/turn.pb.h"
#include "base/tls.h"
#include "runtime/loop/turn_loop.h"
#include "runtime/node/node.h"

namespace ken {

struct NodeServerOptions {
  std::string listen_address;                 // host:port of the gRPC server
  std::string token;                          // cluster token
  size_t max_message_bytes = 4 << 20;
  std::map<std::string, std::string> peers;   // id -> host:port to dial
  int64_t answer_timeout_ms = 60000;
  uint32_t restarts = 0;                      // reported by Admin.Status
  TlsPem tls;                                 // mutual TLS for server and senders (base/tls.h)
  std::string health_address;                 // plaintext health-only server (TransportOptions), or ""
};

class NodeServer {
 public:
  // Listens and starts the peer senders. `node` and `loop` must outlive the
  // server. Errors: kUnavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<NodeServer>> Start(Node& node, TurnLoop& loop, NodeServerOptions options);
  ~NodeServer();

  // After each commit (the loop's on_commit): publishes the status and
  // wakes the senders.
  void OnCommit();

  // The loop's on_unhandled_rejection: logs the rejection (a warning with
  // the input and the reason's stack) and counts it for Admin.Status.
  void OnUnhandledRejection(const std::string& input, const std::string& text);

  // Runs an HTTP request as a turn; blocks until answered (see above).
  v1::HttpResponse SubmitHttp(v1::HttpRequest request);
  // Runs an admin eval as a turn; blocks until answered.
  v1::EvalReply SubmitEval(const std::string& source);

  // Stops the gRPC server (queued inputs are answered by TurnLoop::Close).
  void Shutdown();

 private:
  NodeServer(Node& node, TurnLoop& loop, NodeServerOptions options);
  v1::StatusReply Status();
  // Submits `record` and waits; `answer` is filled in on the loop thread.
  template <typename Answer>
  Answer SubmitAndWait(v1::TurnInput record, std::function<Answer(const TurnResult&)> convert,
                       std::function<Answer(const std::string& why)> failed);

  Node& node_;
  TurnLoop& loop_;
  NodeServerOptions options_;
  std::unique_ptr<TransportServer> server_;
  std::unique_ptr<PeerSenders> senders_;
  // Published after each commit for Admin.Status (any thread reads them).
  std::atomic<int64_t> last_checkpoint_{0};
  std::atomic<uint64_t> turns_{0};
  std::atomic<uint64_t> dead_letters_{0};
  std::atomic<uint64_t> unhandled_rejections_{0};  // since start
  std::atomic<uint64_t> heap_bytes_{0};
  std::string durability_;  // the node's mode, set at Start
  std::mutex snapshotter_mu_;  // guards the two below (set by OnCommit, read by Status)
  int64_t snapshot_checkpoint_ = 0;
  std::string snapshotter_error_;
};

}  // namespace ken

#endif  // KEN_RUNTIME_LOOP_NODE_SERVER_H_
