#include "messaging/transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/tls.h"
#include "base/crash_point.h"
#include "messaging/inbound.h"
#include "messaging/repeat_limiter.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

constexpr char kAuthHeader[] = "authorization";

bool Authorized(grpc::ServerContext* context, const std::string& token) {
  const std::string expected = "Bearer " + token;
  auto range = context->client_metadata().equal_range(kAuthHeader);
  for (auto it = range.first; it != range.second; ++it) {
    if (std::string(it->second.data(), it->second.size()) == expected) return true;
  }
  return false;
}

// gRPC's peer ("ipv4:127.0.0.1:54321") without its port, which changes with
// every connection.
std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos || peer.find(':') == colon ? peer : peer.substr(0, colon);
}

// The wrong-token warning, at most once a minute per sender (its claimed id
// and its host), with the count of rejections it stands for.
void WarnWrongToken(RepeatLimiter& limiter, const char* one, const char* many, const std::string& from,
                    grpc::ServerContext* context) {
  const std::string host = PeerHost(context->peer());
  const uint64_t n = limiter.Note(absl::StrCat(many, "|", from, "|", host));
  if (n == 0) return;
  // `from` is what the unauthenticated caller claims: escaped and cut short.
  const std::string sender =
      from.empty() ? host : absl::StrCat("'", absl::CHexEscape(from.substr(0, 64)), "' at ", host);
  if (n == 1) {
    spdlog::warn("rejected {} from {}: wrong or missing cluster token (more from it are counted and logged at most "
                 "once a minute)", one, sender);
  } else {
    spdlog::warn("rejected {} {} from {} since the last such line: wrong or missing cluster token", n, many, sender);
  }
}

void AfterReceive() { CrashPoint("after_receive"); }

}  // namespace

int MaxGrpcMessageBytes(size_t max_message_bytes) {
  // A batch carries at least one envelope of up to max_message_bytes plus
  // others up to ChannelOptions::max_batch_bytes; leave room for framing.
  return static_cast<int>(std::min<size_t>(2 * max_message_bytes + (8 << 20), 512 << 20));
}

class TransportServer::Service final : public v1::Transport::Service {
 public:
  Service(Channels* channels, std::string token, bool tls, std::function<void()> on_input)
      : channels_(channels), token_(std::move(token)), tls_(tls), on_input_(std::move(on_input)) {}

  grpc::Status Deliver(grpc::ServerContext* context, const v1::Batch* batch, v1::BatchReply* reply) override {
    if (!Authorized(context, token_)) {
      WarnWrongToken(wrong_token_, "a transmission", "transmissions", batch->from(), context);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong or missing cluster token");
    }
    if (!channels_->IsPeer(batch->from())) {
      spdlog::warn("rejected a transmission from {}: '{}' is not a node of this cluster", context->peer(),
                   batch->from());
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "sender is not a node of this cluster");
    }
    if (tls_) {
      // The certificate (verified against the cluster's CA by TLS) must
      // name the node the transmission says it comes from.
      const std::vector<std::string> names = ClientCertificateNames(*context);
      if (std::find(names.begin(), names.end(), batch->from()) == names.end()) {
        const uint64_t n = wrong_certificate_.Note(absl::StrCat(batch->from(), "|", PeerHost(context->peer())));
        if (n > 0) {
          spdlog::warn("rejected {} transmission(s) from {} claiming to be node '{}': its TLS certificate names {}",
                       n, PeerHost(context->peer()), absl::CHexEscape(batch->from().substr(0, 64)),
                       names.empty() ? std::string("no node") : absl::StrJoin(names, ", "));
        }
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "the TLS certificate does not name the sending node");
      }
    }
    bool applied = false;
    *reply = ReceiveBatch(*channels_, *batch, AfterReceive, &applied);
    if (applied) on_input_();
    return grpc::Status::OK;
  }

 private:
  Channels* channels_;
  const std::string token_;
  const bool tls_;
  std::function<void()> on_input_;
  SteadyClock clock_;
  RepeatLimiter wrong_token_{&clock_};
  RepeatLimiter wrong_certificate_{&clock_};
};

class TransportServer::AdminService final : public v1::Admin::Service {
 public:
  AdminService(std::string token, StatusFn status, EvalFn eval)
      : token_(std::move(token)), status_(std::move(status)), eval_(std::move(eval)) {}
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest*, v1::StatusReply* reply) override {
    if (!Authorized(context, token_)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong or missing cluster token");
    }
    *reply = status_();
    return grpc::Status::OK;
  }
  grpc::Status Eval(grpc::ServerContext* context, const v1::EvalRequest* request, v1::EvalReply* reply) override {
    if (!Authorized(context, token_)) {
      WarnWrongToken(wrong_token_, "an admin eval", "admin evals", "", context);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong or missing cluster token");
    }
    *reply = eval_(request->source());
    return grpc::Status::OK;
  }

 private:
  const std::string token_;
  StatusFn status_;
  EvalFn eval_;
  SteadyClock clock_;
  RepeatLimiter wrong_token_{&clock_};
};

absl::StatusOr<std::unique_ptr<TransportServer>> TransportServer::Start(const TransportOptions& options,
                                                                        Channels* channels,
                                                                        std::function<void()> on_input,
                                                                        StatusFn status, EvalFn eval) {
  std::unique_ptr<TransportServer> server(new TransportServer());
  server->service_ = std::make_unique<Service>(channels, options.token, options.tls.enabled(), std::move(on_input));
  server->admin_ = std::make_unique<AdminService>(options.token, std::move(status), std::move(eval));
  // The standard gRPC health service (grpc.health.v1.Health; SERVING once
  // the server is up, which is after the store was restored): what
  // Kubernetes' grpc probes and grpc_health_probe ask. It needs no token and
  // tells nothing but that. (Process-wide; before any ServerBuilder.)
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(options.listen_address, ServerCredentialsFor(options.tls), &bound_port);
  builder.SetMaxReceiveMessageSize(MaxGrpcMessageBytes(options.max_message_bytes));
  // SO_REUSEPORT would let two nodes bind one address; a second node on an
  // address must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || bound_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address,
                                               " (address in use or not local?)"));
  }
  if (!options.health_address.empty()) {
    // The default health service, which every server gets, and Admin's
    // generated base class, whose methods all answer UNIMPLEMENTED: a
    // server needs one synchronous service to poll for calls at all.
    grpc::ServerBuilder health;
    int health_port = 0;
    health.AddListeningPort(options.health_address, grpc::InsecureServerCredentials(), &health_port);
    health.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    server->unimplemented_ = std::make_unique<v1::Admin::Service>();
    health.RegisterService(server->unimplemented_.get());
    server->health_server_ = health.BuildAndStart();
    if (server->health_server_ == nullptr || health_port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options.health_address,
                                                 " for health checks (address in use or not local?)"));
    }
  }
  return server;
}

TransportServer::~TransportServer() { Shutdown(); }

void TransportServer::Shutdown() {
  if (health_server_) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
    health_server_.reset();
  }
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    server_->Wait();
    server_.reset();
  }
}

PeerSenders::PeerSenders(Channels* channels, const std::map<std::string, std::string>& addresses,
                         std::string token, size_t max_message_bytes, TlsPem tls)
    : channels_(channels), token_(std::move(token)), max_message_bytes_(max_message_bytes), tls_(std::move(tls)) {
  // spdlog makes its registry and default logger at the first log call; made
  // here, before the sender threads, two of them logging their first line at
  // once do not race to make it (TSan saw that in a process that had not
  // logged before: the registry's lazy creation happens in Debian's
  // uninstrumented libspdlog).
  (void)spdlog::default_logger_raw();
  for (const auto& [peer, address] : addresses) {
    threads_.emplace_back([this, peer = peer, address = address] { Loop(peer, address); });
  }
}

PeerSenders::~PeerSenders() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void PeerSenders::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

namespace {

// A peer with nothing due is still probed (an empty transmission) this
// often, so that `ken cluster status` knows whether it is reachable.
constexpr int64_t kProbeIntervalMs = 5000;
// Every transmission's deadline. A call past it may sit on a connection that
// accepts bytes and never answers (a stalled middlebox, a half-dead peer):
// the next one goes on a new connection.
constexpr int64_t kDeliverDeadlineMs = 10000;

std::unique_ptr<v1::Transport::Stub> NewStub(const std::string& peer, const std::string& address,
                                             size_t max_message_bytes, const TlsPem& tls) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(MaxGrpcMessageBytes(max_message_bytes));
  args.SetMaxSendMessageSize(MaxGrpcMessageBytes(max_message_bytes));
  // Reconnect quickly after a peer restarts (gRPC's default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  // A peer's name is resolved again when its connection fails, at most this
  // often (gRPC's default: 30 s): a peer that moved to a new IP (a pod
  // rescheduled) is dialed there within about a second.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  // A connection of this channel's own: a new channel (after a deadline)
  // must not reuse the old one's connection from gRPC's global pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentialsFor(tls, peer, &args);
  return v1::Transport::NewStub(grpc::CreateCustomChannel(address, credentials, args));
}

}  // namespace

void PeerSenders::Loop(const std::string& peer, const std::string& address) {
  std::unique_ptr<v1::Transport::Stub> stub = NewStub(peer, address, max_message_bytes_, tls_);
  SteadyClock clock;
  int failures = 0;
  int64_t not_before = 0;  // after a failure, wait before the next try
  int64_t last_call = clock.NowMs();
  uint64_t seen_wakeups = 0;
  while (!stop_) {
    int64_t now = clock.NowMs();
    const int64_t probe_at = std::max(last_call + kProbeIntervalMs, not_before);
    int64_t due = std::min(std::max(channels_->NextDueMs(peer), not_before), probe_at);
    if (due > now) {
      std::unique_lock<std::mutex> l(mu_);
      int64_t wait = std::min<int64_t>(due - now, 1000);
      cv_.wait_for(l, std::chrono::milliseconds(wait), [&] { return stop_ || wakeups_ != seen_wakeups; });
      seen_wakeups = wakeups_;
      continue;
    }
    int retransmitted = 0;
    bool notice = false;
    v1::Batch batch = channels_->TakeDue(peer, &retransmitted, &notice);
    const bool probe = now >= probe_at;
    if (batch.envelopes_size() == 0 && batch.acks_size() == 0 && !notice && !probe) continue;
    if (retransmitted > 0) CrashPoint("mid_retransmit");
    grpc::ClientContext context;
    context.AddMetadata(kAuthHeader, "Bearer " + token_);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(kDeliverDeadlineMs));
    v1::BatchReply reply;
    {
      // Checked under the lock the destructor cancels under: a call is
      // either seen by it or not started.
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) break;
      in_flight_.insert(&context);
    }
    grpc::Status status = stub->Deliver(&context, batch, &reply);
    {
      std::lock_guard<std::mutex> l(mu_);
      in_flight_.erase(&context);
    }
    last_call = clock.NowMs();
    if (status.ok()) {
      if (failures > 0) spdlog::info("peer {} ({}) reachable again", peer, address);
      failures = 0;
      not_before = 0;
      channels_->OnReply(peer, reply, batch.incarnation());
      channels_->OnSendOk(peer);
      if (batch.envelopes_size() > 0) CrashPoint("after_send_rpc");
    } else {
      if (stop_) break;  // cancelled by the destructor: not the peer's failure
      channels_->OnSendFailed(peer, status.error_message());
      if (failures == 0) {
        spdlog::warn("cannot reach peer {} at {}: {}; retrying", peer, address, status.error_message());
      }
      ++failures;
      not_before = clock.NowMs() + std::min<int64_t>(2000, 100LL << std::min(failures - 1, 5));
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) stub = NewStub(peer, address, max_message_bytes_, tls_);
    }
  }
}

}  // namespace ken
