// `ken run`: one node of a cluster. The turn loop: deliver buffered
// messages in batches (one commit per batch), release the batch's sends and
// acks, repeat; the gRPC server and the per-peer senders run on their own
// threads and only touch Channels.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cluster/config.h"
#include "js_api/natives.h"
#include "messaging/transport.h"
#include "runtime/node/node.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

v8::Local<v8::String> Str(v8::Isolate* isolate, const std::string& s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, static_cast<int>(s.size()))
      .ToLocalChecked();
}

TurnInput ScriptInput(const std::string& path, const std::string& source) {
  TurnInput input;
  input.description = "script " + path;
  input.body = [path, source](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, path).ToLocal(&value)) return absl::AbortedError("threw");
    return std::string();
  };
  return input;
}

TurnInput DeliveryInput(const v1::Envelope& e) {
  TurnInput input;
  input.description = absl::StrCat("message ", e.src(), "->", e.dst(), " #", e.seq());
  input.delivered_src = e.src();
  input.delivered_seq = e.seq();
  input.body = [payload = e.payload(), src = e.src()](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!DeserializeMessage(scope.isolate, scope.context, payload).ToLocal(&value)) {
      return absl::AbortedError("threw");
    }
    v8::Local<v8::Value> deliver;
    if (!scope.internals->Get(scope.context, Str(scope.isolate, "deliver")).ToLocal(&deliver) ||
        !deliver->IsFunction()) {
      return absl::InternalError("this heap has no ken.receive support (internals.deliver missing)");
    }
    v8::Local<v8::Value> args[] = {value, Str(scope.isolate, src)};
    if (deliver.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), 2, args).IsEmpty()) {
      return absl::AbortedError("threw");
    }
    return std::string();
  };
  return input;
}

TurnInput EvalInput(const std::string& source) {
  TurnInput input;
  input.description = "admin eval";
  input.body = [source](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, "admin-eval").ToLocal(&value)) return absl::AbortedError("threw");
    std::string json;
    if (ToJson(scope, value, &json)) return json;
    return Inspect(scope, value, true);
  };
  return input;
}

// Admin evals waiting for the turn loop; the gRPC thread blocks on `reply`.
struct PendingEval {
  std::string source;
  std::promise<v1::EvalReply> reply;
};

class EvalQueue {
 public:
  // False once closed (the node is stopping).
  bool Push(std::shared_ptr<PendingEval> e) {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return false;
    queue_.push_back(std::move(e));
    return true;
  }
  std::vector<std::shared_ptr<PendingEval>> TakeAll() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::shared_ptr<PendingEval>> out(queue_.begin(), queue_.end());
    queue_.clear();
    return out;
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    for (auto& e : queue_) {
      v1::EvalReply r;
      r.set_error("the node is stopping");
      e->reply.set_value(r);
    }
    queue_.clear();
  }

 private:
  std::mutex mu_;
  std::deque<std::shared_ptr<PendingEval>> queue_;
  bool closed_ = false;
};

int64_t FileBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
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
  spdlog::set_pattern(absl::StrCat("[%Y-%m-%d %H:%M:%S.%e] [", me->id, "] [%l] %v"));
  const std::string store = options.store_path.empty() ? me->store : options.store_path;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(store).parent_path(), ec);

  NodeOptions node_options;
  node_options.store_path = store;
  node_options.node_id = me->id;
  node_options.peers = config->PeersOf(me->id);
  node_options.channels.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  node_options.isolate.turn_timeout_ms = options.turn_timeout_ms;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken run: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  Channels* channels = node.channels();

  Notifier wake;
  std::atomic<int64_t> last_checkpoint{node.checkpoint_seq()};
  std::atomic<uint64_t> turns{node.state().turns()};
  std::atomic<uint64_t> dead_letters{node.state().dead_letter_count()};
  std::atomic<uint64_t> heap_bytes{0};
  TransportOptions transport;
  transport.listen_address = me->address;
  transport.token = config->token;
  transport.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  const std::string incarnation = node.store().incarnation();
  const char* restarts_env = getenv("KEN_RESTARTS");
  const uint32_t restarts = restarts_env ? static_cast<uint32_t>(atoi(restarts_env)) : 0;
  EvalQueue evals;
  absl::StatusOr<std::unique_ptr<TransportServer>> server = TransportServer::Start(
      transport, channels, [&wake] { wake.Notify(); },
      [&] {
        v1::StatusReply reply;
        reply.set_node_id(me->id);
        reply.set_incarnation(incarnation);
        reply.set_pid(getpid());
        reply.set_last_committed_checkpoint(last_checkpoint);
        reply.set_turns(turns);
        reply.set_dead_letters(dead_letters);
        reply.set_heap_used_bytes(heap_bytes);
        reply.set_store_bytes(FileBytes(store) + FileBytes(store + "-wal"));
        reply.set_restarts(restarts);
        reply.set_unacked_total(channels->UnackedTotal());
        for (v1::ChannelStatus& c : channels->Status()) *reply.add_channels() = std::move(c);
        return reply;
      },
      [&evals, &wake](const std::string& source) {
        auto pending = std::make_shared<PendingEval>();
        pending->source = source;
        std::future<v1::EvalReply> future = pending->reply.get_future();
        v1::EvalReply reply;
        if (!evals.Push(pending)) {
          reply.set_error("the node is stopping");
          return reply;
        }
        wake.Notify();
        if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
          reply.set_error("no answer within 60 s");
          return reply;
        }
        return future.get();
      });
  if (!server.ok()) {
    fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(server.status().message()).c_str());
    return 1;
  }
  std::map<std::string, std::string> addresses;
  for (const NodeConfig& n : config->nodes) {
    if (n.id != me->id) addresses[n.id] = n.address;
  }
  PeerSenders senders(channels, addresses, config->token, transport.max_message_bytes);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  spdlog::info("node {} listening on {} (store {}, checkpoint {})", me->id, me->address, store,
               node.checkpoint_seq());

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
    if (!r.results[0].ok() || !r.commit.ok()) {
      fprintf(stderr, "ken run: node %s: script %s failed: %s\n", me->id.c_str(), me->script.c_str(),
              r.results[0].ok() ? std::string(r.commit.message()).c_str() : r.results[0].error.c_str());
      fprintf(stderr, "ken run: the store holds no program yet; fix the script and start the node again\n");
      return 1;
    }
    spdlog::info("ran script {} as the first turn", me->script);
    senders.Wake();
  }
  heap_bytes = node.isolate().last_snapshot_heap_bytes();

  constexpr size_t kMaxBatch = 256;
  while (!g_stop) {
    std::vector<std::shared_ptr<PendingEval>> admin = evals.TakeAll();
    std::vector<v1::Envelope> envelopes = channels->TakeDeliverable(kMaxBatch);
    if (envelopes.empty() && admin.empty()) {
      wake.Wait(200);
      continue;
    }
    std::vector<TurnInput> inputs;
    inputs.reserve(admin.size() + envelopes.size());
    for (const auto& e : admin) inputs.push_back(EvalInput(e->source));
    for (const v1::Envelope& e : envelopes) inputs.push_back(DeliveryInput(e));
    BatchResult r = node.RunBatch(inputs);
    for (size_t i = 0; i < admin.size(); ++i) {
      v1::EvalReply reply;
      reply.set_ok(r.commit.ok() && r.results[i].ok());
      if (reply.ok()) {
        reply.set_result(r.results[i].output);
      } else {
        reply.set_error(!r.commit.ok() ? absl::StrCat("commit failed: ", r.commit.message()) : r.results[i].error);
      }
      admin[i]->reply.set_value(reply);
    }
    if (!r.commit.ok()) {
      // Nothing of the batch took effect; its messages will be taken again.
      wake.Wait(500);
      continue;
    }
    last_checkpoint = node.checkpoint_seq();
    turns = node.state().turns();
    dead_letters = node.state().dead_letter_count();
    if (node.isolate().last_snapshot_heap_bytes() > 0) heap_bytes = node.isolate().last_snapshot_heap_bytes();
    senders.Wake();
  }
  evals.Close();
  spdlog::info("node {} stopping (checkpoint {})", me->id, node.checkpoint_seq());
  (*server)->Shutdown();
  return 0;
}

}  // namespace ken
