// `ken run`: one node of a cluster. The turn loop: deliver buffered
// messages in batches (one commit per batch), release the batch's sends and
// acks, repeat; the gRPC server and the per-peer senders run on their own
// threads and only touch Channels.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
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
        for (v1::ChannelStatus& c : channels->Status()) *reply.add_channels() = std::move(c);
        return reply;
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
    std::vector<v1::Envelope> envelopes = channels->TakeDeliverable(kMaxBatch);
    if (envelopes.empty()) {
      wake.Wait(200);
      continue;
    }
    std::vector<TurnInput> inputs;
    inputs.reserve(envelopes.size());
    for (const v1::Envelope& e : envelopes) inputs.push_back(DeliveryInput(e));
    BatchResult r = node.RunBatch(inputs);
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
  spdlog::info("node {} stopping (checkpoint {})", me->id, node.checkpoint_seq());
  (*server)->Shutdown();
  return 0;
}

}  // namespace ken
