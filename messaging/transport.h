// The gRPC transport between nodes (proto/ken.proto, service Transport) and
// the admin service (service Admin).
//
// Receiving: TransportServer::Deliver authenticates the caller by the cluster
// token ("authorization: Bearer <token>" metadata), checks that the batch
// comes from a configured node, checks each envelope's payload header, and
// hands envelopes and acks to Channels, which checks the rest (dst, seq,
// size, incarnations). Every rejection is logged with its reason; nothing
// rejected reaches JS. Envelopes are only buffered here: they are delivered
// by the node's turn loop, and acked after the delivering commit.
//
// Sending: one PeerSender thread per peer moves what Channels says is due
// (new envelopes, retransmissions, the cumulative ack) in one unary Deliver
// call (batched). Unary batches were chosen over a bidirectional stream for
// simplicity of failure handling: a failed call is simply retried later,
// and a reconnect needs no stream re-establishment. A peer that does not
// answer is retried with exponential backoff (100 ms doubling to 2 s).
// Every call has a 10 s deadline; after a call misses it the sender dials a
// new connection (the old one may be stalled: bytes accepted, never
// answered), so one stuck peer never holds back another peer's thread or
// the turn loop. A peer with nothing due is probed with an empty
// transmission every 5 s, so its reachability (Channels::Status) is current.
#ifndef KEN_MESSAGING_TRANSPORT_H_
#define KEN_MESSAGING_TRANSPORT_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "base/notifier.h"
#include "base/tls.h"
#include "messaging/channels.h"
#include "proto/ken.grpc.pb.h"

namespace grpc {
class Server;
}

namespace ken {


struct TransportOptions {
  std::string listen_address;  // host:port
  std::string token;
  size_t max_message_bytes = 4 << 20;
  // Mutual TLS (base/tls.h) when enabled: clients must present a
  // certificate from `tls.ca`, and a transmission is taken only if that
  // certificate names its source node (PERMISSION_DENIED, logged, else).
  TlsPem tls;
  // When set (host:port), a second, plaintext server there answers only the
  // standard gRPC health service: for probes that cannot present a client
  // certificate (Kubernetes' grpc probes) when `tls` is enabled.
  std::string health_address;
};

class TransportServer {
 public:
  using StatusFn = std::function<v1::StatusReply()>;
  // Runs an admin eval as a turn; blocks the calling gRPC thread until the
  // turn is committed (or failed).
  using EvalFn = std::function<v1::EvalReply(const std::string& source)>;
  // Listens on options.listen_address. `on_input` is called (from gRPC
  // threads) when envelopes or acks arrived; `status` answers Admin.Status,
  // `eval` Admin.Eval. Errors: kUnavailable if the address (or the health
  // address) cannot be bound.
  static absl::StatusOr<std::unique_ptr<TransportServer>> Start(const TransportOptions& options,
                                                                Channels* channels,
                                                                std::function<void()> on_input,
                                                                StatusFn status, EvalFn eval);
  ~TransportServer();
  void Shutdown();

 private:
  class Service;
  class AdminService;
  TransportServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Admin::Service> unimplemented_;  // the health server's placeholder (outlives it)
  std::unique_ptr<grpc::Server> health_server_;        // options.health_address's, or none
};

// Channel arguments for Ken's gRPC channels and servers: message limits that
// fit a full batch of maximum-size messages.
int MaxGrpcMessageBytes(size_t max_message_bytes);

class PeerSenders {
 public:
  // addresses: peer id -> host:port to dial (the config's address, or a
  // peer_addresses / --peer override). Starts one thread per peer.
  // With `tls` enabled, each peer is dialed over TLS and its certificate
  // must name the peer's node id.
  PeerSenders(Channels* channels, const std::map<std::string, std::string>& addresses, std::string token,
              size_t max_message_bytes, TlsPem tls = {});
  // Stops and joins the sender threads. A transmission in flight is
  // cancelled (grpc::ClientContext::TryCancel), so this returns within
  // moments even while a call waits on a stalled connection or a peer that
  // does not answer (otherwise up to the call's 10 s deadline). Envelopes of
  // a cancelled call stay unacked and go again after a restart.
  ~PeerSenders();
  // Something may be due (after a commit, or an ack became due).
  void Wake();

 private:
  void Loop(const std::string& peer, const std::string& address);
  Channels* channels_;
  std::string token_;
  size_t max_message_bytes_;
  const TlsPem tls_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wakeups_ = 0;
  std::set<grpc::ClientContext*> in_flight_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ken

#endif  // KEN_MESSAGING_TRANSPORT_H_
