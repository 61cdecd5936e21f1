// `ken run`: one node of a cluster. The turn loop takes whatever inputs are
// ready — admin evals, HTTP requests, due timers, delivered messages — runs
// them as one batch of turns with one commit (group commit), then answers
// the evals and HTTP requests and releases the batch's sends and acks. The
// gRPC server, the HTTP front end and the per-peer senders run on their own
// threads and only queue inputs or touch Channels.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/turn_inputs.h"
#include "cluster/config.h"
#include "http/http_frontend.h"
#include "messaging/transport.h"
#include "runtime/node/node.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

constexpr size_t kMaxBatch = 256;
constexpr int kUpcomingTimers = 64;

// Admin evals waiting for the turn loop; the gRPC thread blocks on `reply`.
// The turn loop Takes `claim` before running it (see Claim).
struct PendingEval {
  std::string source;
  Claim claim;
  std::promise<v1::EvalReply> reply;
};

// Inputs queued by server threads for the turn loop. Once closed (the node
// is stopping) Push refuses and the queued entries are answered by `reject`.
template <typename T>
class PendingQueue {
 public:
  bool Push(std::shared_ptr<T> e) {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return false;
    queue_.push_back(std::move(e));
    return true;
  }
  std::vector<std::shared_ptr<T>> Take(size_t max) {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = std::min(max, queue_.size());
    std::vector<std::shared_ptr<T>> out(queue_.begin(), queue_.begin() + static_cast<long>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
    return out;
  }
  size_t Size() {
    std::lock_guard<std::mutex> l(mu_);
    return queue_.size();
  }
  void Close(const std::function<void(T&)>& reject) {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    for (auto& e : queue_) reject(*e);
    queue_.clear();
  }

 private:
  std::mutex mu_;
  std::deque<std::shared_ptr<T>> queue_;
  bool closed_ = false;
};

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int RunNode(const RunOptions& options) {
  absl::StatusOr<ClusterConfig> config = LoadClusterConfig(options.cluster_path);
  if (!config.ok()) {
    fprintf(stderr, "ken run: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  const NodeConfig* me = config->Find(options.node_id);
  if (me == nullptr) {
    fprintf(stderr, "ken run: node '%s' is not in %s\n", options.node_id.c_str(), config->path.c_str());
    return 2;
  }
  spdlog::set_pattern(getenv("KEN_SUPERVISED") != nullptr
                          ? "[%Y-%m-%d %H:%M:%S.%e] [%l] %v"
                          : absl::StrCat("[%Y-%m-%d %H:%M:%S.%e] [", me->id, "] [%l] %v"));
  const std::string store = options.store_path.empty() ? me->store : options.store_path;
  const std::string http_address = options.http_address.empty() ? me->http : options.http_address;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(store).parent_path(), ec);

  NodeOptions node_options;
  node_options.store_path = store;
  node_options.node_id = me->id;
  node_options.peers = config->PeersOf(me->id);
  node_options.channels.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  node_options.channels.max_unacked_messages = static_cast<size_t>(me->limits.max_unacked_messages);
  node_options.channels.max_unacked_bytes = static_cast<size_t>(me->limits.max_unacked_bytes);
  node_options.channels.max_buffered_messages = static_cast<size_t>(me->limits.max_buffered_messages);
  node_options.max_checkpoint_bytes = me->limits.max_checkpoint_bytes;
  node_options.isolate.turn_timeout_ms = options.turn_timeout_ms;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken run: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  Channels* channels = node.channels();

  Notifier wake;
  PendingQueue<PendingEval> evals;
  PendingQueue<PendingHttp> requests;
  std::atomic<int64_t> last_checkpoint{node.checkpoint_seq()};
  std::atomic<uint64_t> turns{node.state().turns()};
  std::atomic<uint64_t> dead_letters{node.state().dead_letter_count()};
  std::atomic<uint64_t> heap_bytes{0};
  const char* restarts_env = getenv("KEN_RESTARTS");
  const uint32_t restarts = restarts_env ? static_cast<uint32_t>(atoi(restarts_env)) : 0;

  TransportOptions transport;
  transport.listen_address = me->address;
  transport.token = config->token;
  transport.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  auto status = [&] {
    v1::StatusReply reply;
    reply.set_node_id(me->id);
    reply.set_incarnation(channels->incarnation());
    reply.set_pid(getpid());
    reply.set_last_committed_checkpoint(last_checkpoint);
    reply.set_turns(turns);
    reply.set_dead_letters(dead_letters);
    reply.set_heap_used_bytes(heap_bytes);
    reply.set_store_bytes(CheckpointStore::DiskBytes(store));
    reply.set_restarts(restarts);
    reply.set_unacked_total(channels->UnackedTotal());
    for (v1::ChannelStatus& c : channels->Status()) *reply.add_channels() = std::move(c);
    return reply;
  };
  auto eval = [&](const std::string& source) {
    auto pending = std::make_shared<PendingEval>();
    pending->source = source;
    std::future<v1::EvalReply> future = pending->reply.get_future();
    v1::EvalReply reply;
    if (!evals.Push(pending)) {
      reply.set_error("the node is stopping");
      return reply;
    }
    wake.Notify();
    const auto timeout = std::chrono::milliseconds(options.answer_timeout_ms);
    if (future.wait_for(timeout) != std::future_status::ready) {
      if (pending->claim.Abandon()) {
        reply.set_error(absl::StrCat("the node did not start the eval within ", options.answer_timeout_ms,
                                     " ms; it was not run and will not be"));
        return reply;
      }
      if (future.wait_for(timeout) != std::future_status::ready) {
        reply.set_error("the node started the eval but has not answered; its outcome is unknown");
        return reply;
      }
    }
    return future.get();
  };
  absl::StatusOr<std::unique_ptr<TransportServer>> server =
      TransportServer::Start(transport, channels, [&wake] { wake.Notify(); }, status, eval);
  if (!server.ok()) {
    fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(server.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<HttpFrontend> http;
  if (!http_address.empty()) {
    HttpOptions http_options;
    http_options.address = http_address;
    http_options.answer_timeout_ms = options.answer_timeout_ms;
    absl::StatusOr<std::unique_ptr<HttpFrontend>> started =
        HttpFrontend::Start(http_options, [&](std::shared_ptr<PendingHttp> pending) {
          if (!requests.Push(pending)) {
            HttpResponse r;
            r.status = 503;
            r.body = "the node is stopping\n";
            pending->reply.set_value(r);
            return;
          }
          wake.Notify();
        });
    if (!started.ok()) {
      fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(started.status().message()).c_str());
      return 1;
    }
    http = std::move(*started);
  }
  std::map<std::string, std::string> addresses;
  for (const NodeConfig& n : config->nodes) {
    if (n.id != me->id) addresses[n.id] = n.address;
  }
  PeerSenders senders(channels, addresses, config->token, transport.max_message_bytes);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  spdlog::info("node {} listening on {}{} (store {}, checkpoint {})", me->id, me->address,
               http_address.empty() ? "" : ", http " + http_address, store, node.checkpoint_seq());

  if (!node.program_loaded()) {
    std::ifstream in(me->script, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      fprintf(stderr, "ken run: node %s: cannot read script %s\n", me->id.c_str(), me->script.c_str());
      return 1;
    }
    node.SetProgramLoaded();
    BatchResult r = node.RunBatch({ScriptInput(me->script, text.str())});
    if (!r.results[0].ok()) {
      fprintf(stderr, "ken run: node %s: script %s failed: %s\n", me->id.c_str(), me->script.c_str(),
              r.results[0].error.c_str());
      fprintf(stderr, "ken run: the store holds no program yet; fix the script and start the node again\n");
      return 1;
    }
    spdlog::info("ran script {} as the first turn", me->script);
    senders.Wake();
  }
  // What Admin.Status reports, refreshed after every commit.
  auto publish = [&] {
    last_checkpoint = node.checkpoint_seq();
    turns = node.state().turns();
    dead_letters = node.state().dead_letter_count();
    if (node.isolate().last_snapshot_heap_bytes() > 0) heap_bytes = node.isolate().last_snapshot_heap_bytes();
  };
  publish();
  if (absl::StatusOr<size_t> used = node.isolate().UsedHeapBytes(); used.ok()) heap_bytes = *used;

  const PersistentIsolate::TurnBody observe = UpcomingTimersBody(kUpcomingTimers);
  std::vector<std::pair<int64_t, int64_t>> upcoming;  // timers [id, due_ms], soonest first
  TurnResult first = node.Evaluate(observe);
  if (first.ok()) upcoming = ParseUpcomingTimers(first.output);

  size_t last_batch = 0;
  while (!g_stop) {
    // Group commit under load: when far fewer inputs are waiting than the
    // last batch had, the rest are usually the clients' next requests after
    // that batch's answers, about to arrive. Waiting briefly (at most 5 ms)
    // for most of them makes one commit where there would be two.
    if (last_batch >= 8) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
      while (requests.Size() + channels->DeliverableCount() < last_batch * 3 / 4 &&
             std::chrono::steady_clock::now() < until && !g_stop) {
        wake.Wait(1);
      }
    }
    if (absl::StatusOr<bool> re = node.ReincarnateIfWentBack(); !re.ok()) {
      spdlog::error("{}", std::string(re.status().message()));
    } else if (*re) {
      publish();
      senders.Wake();
    }
    const int64_t now = WallMs();
    // Requests whose callers gave up (answered "not run") are dropped here.
    std::vector<std::shared_ptr<PendingEval>> admin;
    for (auto& e : evals.Take(kMaxBatch)) {
      if (e->claim.Take()) admin.push_back(std::move(e));
    }
    std::vector<std::shared_ptr<PendingHttp>> http_requests;
    for (auto& h : requests.Take(kMaxBatch)) {
      if (h->claim.Take()) http_requests.push_back(std::move(h));
    }
    std::vector<v1::Envelope> envelopes = channels->TakeDeliverable(kMaxBatch);
    std::vector<TurnInput> inputs;
    for (const auto& e : admin) inputs.push_back(EvalInput(e->source));
    for (const auto& h : http_requests) inputs.push_back(HttpInput(h->request));
    for (const auto& [id, due] : upcoming) {
      if (due <= now) inputs.push_back(TimerInput(id, due));
    }
    for (const v1::Envelope& e : envelopes) inputs.push_back(DeliveryInput(e));
    last_batch = inputs.size();
    if (inputs.empty()) {
      int64_t wait = 200;
      if (!upcoming.empty()) wait = std::max<int64_t>(1, std::min<int64_t>(wait, upcoming.front().second - now));
      auto t0 = std::chrono::steady_clock::now();
      wake.Wait(wait);
      spdlog::debug("idle {:.2f} ms, then {} requests queued",
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
                    requests.Size());
      continue;
    }
    BatchResult r = node.RunBatch(inputs, &observe);
    size_t i = 0;
    for (const auto& e : admin) {
      const TurnResult& result = r.results[i++];
      v1::EvalReply reply;
      reply.set_ok(result.ok());
      if (reply.ok()) {
        reply.set_result(result.output);
      } else {
        reply.set_error(result.error);
      }
      e->reply.set_value(reply);
    }
    for (const auto& h : http_requests) h->reply.set_value(ToHttpResponse(r.results[i++]));
    if (r.observed) upcoming = ParseUpcomingTimers(*r.observed);
    publish();
    senders.Wake();
    if (!r.commit.ok()) {
      // What did not commit takes no effect; its messages and timers come
      // again after a pause (e.g. the disk is full).
      wake.Wait(500);
    }
  }
  spdlog::info("node {} stopping (checkpoint {})", me->id, node.checkpoint_seq());
  evals.Close([](PendingEval& e) {
    if (!e.claim.Take()) return;  // already answered
    v1::EvalReply r;
    r.set_error("the node is stopping; the eval was not run");
    e.reply.set_value(r);
  });
  requests.Close([](PendingHttp& h) {
    if (!h.claim.Take()) return;
    HttpResponse r;
    r.status = 503;
    r.body = "the node is stopping; the request was not run\n";
    h.reply.set_value(r);
  });
  if (http) http->Stop();
  (*server)->Shutdown();
  return 0;
}

}  // namespace ken
