// `ken`: the command-line entry point. Subcommands: shell, inspect.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cluster/config.h"
#include "cluster/grpc_log.h"
#include "runtime/isolate/v8_init.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kUsage[] = R"USAGE(ken: a persistent JavaScript runtime (V8) whose heap survives kill -9

Usage:
  ken shell --store PATH [--load FILE] [--durability MODE] [--turn-timeout 5s] [--heap-limit-mb N]
      A REPL whose whole heap is committed to PATH after every input. Creates
      PATH when it does not exist ("Initialized session (journal mode)"),
      restores it otherwise ("Restored session (MODE mode)"). Reads plain lines when stdin is not a
      terminal. .help lists shell commands. --load FILE runs FILE (which may
      require modules) as the first input of a new session.
  ken run --cluster CLUSTER.yaml --id NODE [--store PATH] [--http HOST:PORT] [--durability MODE]
          [--script FILE] [--peer ID=HOST:PORT ...] [--health HOST:PORT]
      One node of a cluster. The first start creates the store (default
      data/<id>.ken beside the config) and runs the node's script (or
      --script FILE) as the first turn, with the modules it requires; later
      starts restore the newest checkpoint. ken.send /
      ken.receive messages are delivered exactly once across crashes. With
      an http address it serves HTTP/1.1: each request is a turn handled by
      handleRequest(request, response), answered after its commit.
      --peer ID=HOST:PORT (repeatable) dials peer ID there instead of its
      config address (a proxy, a tunnel; also peer_addresses: in the config).
      --health HOST:PORT also serves the standard gRPC health service, alone
      and in plaintext, there: for probes that cannot present a client
      certificate when the cluster uses TLS (Kubernetes' grpc probes).
  ken cluster up CLUSTER.yaml [--detach]
      Starts every node of the config as a child process, prefixes their log
      lines with the node id, restarts a node that dies (with backoff and a
      restart count); Ctrl-C or SIGTERM stops them all. --detach returns once
      every node answers (log in data/cluster.log beside the config).
  ken cluster status CLUSTER.yaml [--json]
      One row per node: pid, up/down, restarts, committed turns, outbox
      (unacked) depth, retransmits since the node started, heap size, store size.
  ken cluster kill CLUSTER.yaml NODE      SIGKILL one node (the supervisor restarts it)
  ken cluster down CLUSTER.yaml           stop the supervisor and every node
  ken cluster eval CLUSTER.yaml NODE EXPR run EXPR as a turn on NODE, print its value
  ken cluster actors CLUSTER.yaml [KIND] [--json]
      the actors each node hosts (kind, key, state bytes, calls, last
      activity), read from each store's newest commit, as ken inspect reads
  ken cluster render k8s CLUSTER.yaml [-o DIR] [--image IMAGE] [--storage 1Gi]
          [--storage-class NAME] [--heap-limit-mb N]
      Kubernetes manifests for the config's nodes (deploy/README.md): a
      Secret (the token), a ConfigMap (the pods' config and scripts), a
      headless Service and one StatefulSet per node id (pod ID-0, DNS name
      ID-0.ken, a PersistentVolumeClaim for its store, gRPC health probes on
      a plaintext health port 7002, memory from heap_limit_mb, else
      --heap-limit-mb, else 1024). One YAML stream, or a file per object.
  ken cluster certs CLUSTER.yaml -o DIR
      A test CA and a certificate per node id and for the commands, for
      mutual TLS between nodes (docs/config.md, "TLS"); prints the config
      lines that turn it on
  ken cluster render systemd CLUSTER.yaml -o DIR [--nodes ID,ID] [--heap-limit-mb N]
      ken@.service (instance = node id), ken.target, the config, token and
      scripts for /etc/ken, stores in /var/lib/ken, MemoryMax per node;
      --nodes: a tree for the host running those nodes (only their TLS keys)
  ken inspect --store PATH [-e EXPR]
      Read-only: loads PATH's newest checkpoint (also while a node runs on
      it) and prints EXPR's value as JSON when it has one, else as the shell
      would; without -e, lists the globals the program defined.

Flags (also --flag=value; - and _ are the same in flag names):
  --store PATH          the node's store, an SQLite file (one writer at a time)
  --turn-timeout DUR    abort a turn that runs longer (default 5s)
  --heap-limit-mb N     abort a turn that grows the heap past N MiB (default: V8's)
  --durability MODE     shell/run: snapshot (every commit a V8 snapshot) or journal
                        (a commit is one journal append; JS runs with TurboFan).
                        A new store gets MODE (default: journal); an existing one of
                        the other mode is converted (nothing is lost). Without it,
                        run uses the config's durability, else the store's own
  --accept-divergence   shell/run: a journal replay whose outputs differ from the
                        recorded ones goes on with the replayed heap (logged)
                        instead of stopping the node
  --log-level LEVEL     trace, debug, info, warn (default), error, critical, off
  -e, --eval EXPR       inspect: the expression to evaluate
  --history PATH        shell: history file (default PATH.history)
  --cluster FILE        run: the cluster config
  --id NODE             run: which node of the config to run
  --http HOST:PORT      run: serve HTTP there (overrides the config)
  -o, --output DIR      cluster render: one file per object into DIR; cluster certs: where they go
  --image IMAGE         cluster render k8s: the pods' image (default localhost/ken:latest)
  --storage SIZE        cluster render k8s: each store's volume claim (default 1Gi)
  --storage-class NAME  cluster render k8s: the claims' storage class
  --nodes ID,ID         cluster render systemd: the nodes of the host it is for
  --health HOST:PORT    run: plaintext gRPC health service there (probes)
  --answer-timeout DUR  run: an HTTP request or eval whose turn has not started
                        after DUR (default 60s) is answered 503 "not run" and
                        never runs; one started but unanswered after twice DUR
                        gets 503 with the header Ken-Outcome: unknown
  --help                this text
)USAGE";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args = ken::NormalizeArgs(argc, argv);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h" || a == "help") {
      fputs(kUsage, stdout);
      return 0;
    }
  }
  if (args.size() < 2) {
    fputs(kUsage, stderr);
    return 2;
  }
  std::string command = args[1];
  std::vector<char*> flag_argv;
  flag_argv.push_back(args[0].data());
  for (size_t i = 2; i < args.size(); ++i) flag_argv.push_back(args[i].data());
  absl::SetProgramUsageMessage("see ken --help");
  // Flag mistakes are usage errors in Ken's words and exit code (2), found
  // before absl's parser (which would print its own and exit 1); values are
  // checked for every subcommand, also where a flag has no effect.
  ken::FlagScan scan;
  if (std::string e = ken::CheckFlagSyntax(std::vector<std::string>(args.begin() + 2, args.end()), &scan);
      !e.empty()) {
    fprintf(stderr, "ken %s: %s\n", command.c_str(), e.c_str());
    return 2;
  }
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(flag_argv.size()), flag_argv.data());
  ken::FlagValues values;
  if (std::string e = ken::CheckFlagValues(&values); !e.empty()) {
    fprintf(stderr, "ken %s: %s\n", command.c_str(), e.c_str());
    return 2;
  }

  auto logger = spdlog::stderr_color_mt("ken");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  spdlog::set_level(static_cast<spdlog::level::level_enum>(values.log_level));
  ken::RouteGrpcLogToSpdlog();

  if (!scan.peers.empty() && command != "run") {
    fprintf(stderr, "ken %s: --peer is for ken run (a cluster config sets it per node: peer_addresses)\n",
            command.c_str());
    return 2;
  }
  if (command == "cluster") {
    if (rest.size() < 3) {
      fprintf(stderr, "ken cluster: usage: ken cluster up|status|kill|down|eval|actors|certs CLUSTER.yaml ..., "
                      "ken cluster render k8s|systemd CLUSTER.yaml (see ken --help)\n");
      return 2;
    }
    ken::ClusterOptions options;
    options.action = rest[1];
    size_t config_at = 2;
    if (options.action == "render") {
      // ken cluster render TARGET CLUSTER.yaml
      if (rest.size() != 4) {
        fprintf(stderr, "ken cluster render: usage: ken cluster render k8s|systemd CLUSTER.yaml [-o DIR] (see ken --help)\n");
        return 2;
      }
      options.render_target = rest[2];
      config_at = 3;
    }
    options.config_path = rest[config_at];
    for (size_t i = config_at + 1; i < rest.size(); ++i) options.args.push_back(rest[i]);
    options.output_dir = absl::GetFlag(FLAGS_output);
    options.image = absl::GetFlag(FLAGS_image);
    options.storage = absl::GetFlag(FLAGS_storage);
    options.storage_class = absl::GetFlag(FLAGS_storage_class);
    options.heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb);
    options.nodes = absl::GetFlag(FLAGS_nodes);
    options.detach = absl::GetFlag(FLAGS_detach);
    options.json = absl::GetFlag(FLAGS_json);
    // The nodes log at info unless `up` was given a level (the default warn
    // is ken's own, not a choice).
    options.log_level = scan.log_level_given ? absl::GetFlag(FLAGS_log_level) : "info";
    return ken::RunCluster(options);
  }
  if (rest.size() > 1) {
    fprintf(stderr, "ken %s: unexpected argument '%s' (see ken --help)\n", command.c_str(), rest[1]);
    return 2;
  }
  std::string store = absl::GetFlag(FLAGS_store);
  if (command != "shell" && command != "inspect" && command != "run") {
    fprintf(stderr, "ken: unknown command '%s' (see ken --help)\n", command.c_str());
    return 2;
  }
  if (command == "run" && (absl::GetFlag(FLAGS_cluster).empty() || absl::GetFlag(FLAGS_id).empty())) {
    fprintf(stderr, "ken run: --cluster FILE and --id NODE are required\n");
    return 2;
  }
  if (store.empty() && command != "run") {
    fprintf(stderr, "ken %s: --store PATH is required\n", command.c_str());
    return 2;
  }
  const std::string durability = absl::GetFlag(FLAGS_durability);
  if (command == "inspect" && (!durability.empty() || absl::GetFlag(FLAGS_accept_divergence))) {
    fprintf(stderr, "ken inspect: --durability and --accept-divergence are for shell and run (inspect reads either mode)\n");
    return 2;
  }
  // A file-size limit must surface as a failed commit (EFBIG), not kill us.
  signal(SIGXFSZ, SIG_IGN);
  if (command == "shell" && isatty(STDIN_FILENO)) {
    // The shell takes Ctrl-C on a thread of its own (cli/shell.cc); block it
    // before V8 starts threads so that none of them inherits it unblocked.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  ken::V8Config v8_config;
  v8_config.heap_limit_mb = values.heap_limit_mb;
  if (command == "run" && v8_config.heap_limit_mb == 0) {
    // The node's heap_limit_mb, when its config has one (V8 takes it before
    // any isolate; a config error is reported by RunNode below).
    absl::StatusOr<ken::ClusterConfig> config = ken::LoadClusterConfig(absl::GetFlag(FLAGS_cluster));
    if (config.ok()) {
      if (const ken::NodeConfig* me = config->Find(absl::GetFlag(FLAGS_id)); me != nullptr) {
        v8_config.heap_limit_mb = me->limits.heap_limit_mb;
      }
    }
  }
  ken::InitializeV8(v8_config);

  if (command == "run") {
    ken::RunOptions options;
    options.cluster_path = absl::GetFlag(FLAGS_cluster);
    options.node_id = absl::GetFlag(FLAGS_id);
    options.store_path = store;
    options.http_address = absl::GetFlag(FLAGS_http);
    options.script_path = absl::GetFlag(FLAGS_script);
    options.turn_timeout_ms = values.turn_timeout_ms;
    options.answer_timeout_ms = values.answer_timeout_ms;
    options.durability = durability;
    options.accept_divergence = absl::GetFlag(FLAGS_accept_divergence);
    options.peers = scan.peers;
    options.health_address = absl::GetFlag(FLAGS_health);
    return ken::RunNode(options);
  }
  if (command == "shell") {
    ken::ShellOptions options;
    options.store_path = store;
    options.turn_timeout_ms = values.turn_timeout_ms;
    options.history_path = absl::GetFlag(FLAGS_history);
    options.load_path = absl::GetFlag(FLAGS_load);
    options.durability = durability;
    options.accept_divergence = absl::GetFlag(FLAGS_accept_divergence);
    return ken::RunShell(options);
  }
  ken::InspectOptions options;
  options.store_path = store;
  options.expression = absl::GetFlag(FLAGS_eval);
  for (const std::string& a : args) {
    if (a == "--eval" || a.rfind("--eval=", 0) == 0) options.has_expression = true;
  }
  return ken::RunInspect(options);
}
