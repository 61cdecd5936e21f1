// `ken run`: one node of a cluster. Wiring only: the cluster config gives
// the node's options; the node (runtime/node), its turn loop
// (runtime/loop/turn_loop.h), its network side (runtime/loop/node_server.h)
// and, when configured, the HTTP front end (http/) do the work.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cluster/config.h"
#include "cluster/supervisor.h"
#include "http/http_frontend.h"
#include "runtime/loop/node_server.h"
#include "runtime/loop/turn_loop.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

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
  if (std::string host; !options.health_address.empty()) {
    int port = 0;
    if (!ParseHostPort(options.health_address, &host, &port)) {
      fprintf(stderr, "ken run: --health '%s' must be HOST:PORT\n", options.health_address.c_str());
      return 2;
    }
  }
  std::map<std::string, std::string> peer_flags;
  for (const std::string& arg : options.peers) {
    const size_t eq = arg.find('=');
    const std::string peer = arg.substr(0, eq == std::string::npos ? 0 : eq);
    std::string host;
    int port = 0;
    if (eq == std::string::npos || !ParseHostPort(arg.substr(eq + 1), &host, &port)) {
      fprintf(stderr, "ken run: --peer '%s' must be ID=HOST:PORT\n", arg.c_str());
      return 2;
    }
    if (peer == me->id || config->Find(peer) == nullptr) {
      fprintf(stderr, "ken run: --peer names '%s', %s\n", peer.c_str(),
              peer == me->id ? "this node itself" : absl::StrCat("which is not a node of ", config->path).c_str());
      return 2;
    }
    if (!peer_flags.emplace(peer, arg.substr(eq + 1)).second) {
      fprintf(stderr, "ken run: --peer names '%s' twice\n", peer.c_str());
      return 2;
    }
  }
  spdlog::set_pattern(getenv("KEN_SUPERVISED") != nullptr
                          ? "[%Y-%m-%d %H:%M:%S.%e] [%l] %v"
                          : absl::StrCat("[%Y-%m-%d %H:%M:%S.%e] [", me->id, "] [%l] %v"));
  const std::string store = options.store_path.empty() ? me->store : options.store_path;
  const std::string http_address = options.http_address.empty() ? me->http : options.http_address;
  // A busy address is found before the store is opened (or created, with
  // its script run), in the words `ken cluster up` uses.
  if (absl::Status s = CheckNodeBindable(me->id, me->listen, http_address); !s.ok()) {
    fprintf(stderr, "ken run: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  // TLS files are read (and checked to be PEM) before the store is opened.
  absl::StatusOr<TlsPem> tls = ReadTls(me->tls);
  if (!tls.ok()) {
    fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(tls.status().message()).c_str());
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(store).parent_path(), ec);

  NodeOptions node_options;
  node_options.store_path = store;
  node_options.node_id = me->id;
  node_options.peers = config->PeersOf(me->id);
  node_options.actor_placement = config->ActorPlacementJson();
  node_options.channels.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  node_options.channels.max_unacked_messages = static_cast<size_t>(me->limits.max_unacked_messages);
  node_options.channels.max_unacked_bytes = static_cast<size_t>(me->limits.max_unacked_bytes);
  node_options.channels.max_buffered_messages = static_cast<size_t>(me->limits.max_buffered_messages);
  node_options.max_checkpoint_bytes = me->limits.max_checkpoint_bytes;
  node_options.isolate.turn_timeout_ms = options.turn_timeout_ms;
  node_options.durability = options.durability.empty() ? me->durability : options.durability;
  node_options.durability_explicit = !node_options.durability.empty();
  node_options.snapshot_every_commits = me->limits.snapshot_every_commits;
  node_options.snapshot_every_bytes = me->limits.snapshot_every_bytes;
  node_options.snapshot_every_ms = me->limits.snapshot_every_ms;
  node_options.journal_max_commits = me->limits.journal_max_commits;
  node_options.accept_divergence = options.accept_divergence;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken run: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;

  const bool created = !node.program_loaded();
  const std::string script = options.script_path.empty() ? me->script : options.script_path;
  if (!created && !options.script_path.empty()) {
    fprintf(stderr, "ken run: node %s: --script %s not run: the store already holds its program (it ran when the "
            "store was new)\n", me->id.c_str(), options.script_path.c_str());
  }
  if (created) {
    std::ifstream in(script, std::ios::binary);
    const int open_errno = errno;
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      fprintf(stderr, "ken run: node %s: cannot read script %s (%s)\n", me->id.c_str(), script.c_str(),
              in.is_open() ? "read failed" : strerror(open_errno));
      return 1;
    }
    node.SetProgramLoaded();
    BatchResult r = node.RunBatch({MakeTurn(ProgramRecord(script, text.str()))});
    if (!r.results[0].ok()) {
      fprintf(stderr, "ken run: node %s: script %s failed: %s\n", me->id.c_str(), script.c_str(),
              r.results[0].error.c_str());
      fprintf(stderr, "ken run: the store holds no program yet; fix the script and start the node again\n");
      return 1;
    }
    spdlog::info("ran script {} as the first turn", script);
    for (const std::string& text : r.results[0].unhandled_rejections) {
      spdlog::warn("unhandled promise rejection in script {} (the turn committed): {}", script, text);
    }
  }

  NodeServer* server_ptr = nullptr;
  TurnLoopOptions loop_options;
  loop_options.on_commit = [&server_ptr] {
    if (server_ptr != nullptr) server_ptr->OnCommit();
  };
  loop_options.on_unhandled_rejection = [&server_ptr](const std::string& input, const std::string& text) {
    if (server_ptr != nullptr) server_ptr->OnUnhandledRejection(input, text);
  };
  TurnLoop loop(node, loop_options);
  NodeServerOptions server_options;
  server_options.listen_address = me->listen;
  server_options.token = config->token;
  server_options.max_message_bytes = static_cast<size_t>(config->max_message_bytes);
  server_options.answer_timeout_ms = options.answer_timeout_ms;
  const char* restarts = getenv("KEN_RESTARTS");
  server_options.restarts = restarts ? static_cast<uint32_t>(atoi(restarts)) : 0;
  server_options.peers = config->DialAddressesOf(me->id);
  server_options.tls = std::move(*tls);
  server_options.health_address = options.health_address;
  for (const auto& [peer, address] : peer_flags) server_options.peers[peer] = address;
  absl::StatusOr<std::unique_ptr<NodeServer>> server = NodeServer::Start(node, loop, server_options);
  if (!server.ok()) {
    fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(server.status().message()).c_str());
    return 1;
  }
  server_ptr = server->get();
  std::unique_ptr<HttpFrontend> http;
  if (!http_address.empty()) {
    HttpOptions http_options;
    http_options.address = http_address;
    http_options.max_body_bytes = static_cast<size_t>(me->limits.http_max_body_bytes);
    absl::StatusOr<std::unique_ptr<HttpFrontend>> started = HttpFrontend::Start(
        http_options, [server_ptr](v1::HttpRequest request) { return server_ptr->SubmitHttp(std::move(request)); });
    if (!started.ok()) {
      fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(started.status().message()).c_str());
      return 1;
    }
    http = std::move(*started);
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  // The one line that says the node is up (stdout; at levels up to warn,
  // the default: error, critical and off hide it).
  if (spdlog::should_log(spdlog::level::warn)) {
    const std::string grpc = me->listen == me->address ? me->address
                                                       : absl::StrCat(me->listen, " (address ", me->address, ")");
    printf("node %s up: gRPC %s%s%s, store %s, %s\n", me->id.c_str(), grpc.c_str(),
           http_address.empty() ? "" : absl::StrCat(", http ", http_address).c_str(),
           options.health_address.empty() ? "" : absl::StrCat(", health ", options.health_address).c_str(),
           store.c_str(),
           created ? absl::StrCat("new (script ", script, " ran as turn 1)").c_str()
                   : absl::StrCat("restored turn ", node.state().turns(), " (commit ", node.checkpoint_seq(), ")")
                         .c_str());
    fflush(stdout);
  }

  while (!g_stop && node.fatal().ok()) loop.Step(200);
  if (!node.fatal().ok()) {
    fprintf(stderr, "ken run: node %s: %s\n", me->id.c_str(), std::string(node.fatal().message()).c_str());
    loop.Close("the node is stopping; it was not run");
    if (http) http->Stop();
    (*server)->Shutdown();
    return 1;
  }

  spdlog::info("node {} stopping (checkpoint {})", me->id, node.checkpoint_seq());
  loop.Close("the node is stopping; it was not run");
  if (http) http->Stop();
  (*server)->Shutdown();
  return 0;
}

}  // namespace ken
