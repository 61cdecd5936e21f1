// `ken`: the command-line entry point. Subcommands: shell, inspect.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "runtime/isolate/v8_init.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, store, "", "path of the node's store (SQLite file)");
ABSL_FLAG(std::string, turn_timeout, "5s", "abort a turn that runs longer (e.g. 5s, 500ms; a bare number is ms)");
ABSL_FLAG(std::string, answer_timeout, "60s",
          "run: answer HTTP requests and evals not started within this long with 'not run' (503)");
ABSL_FLAG(int64_t, heap_limit_mb, 0, "abort a turn that grows the heap past this many MiB (0: V8 default)");
ABSL_FLAG(std::string, log_level, "warn", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, eval, "", "inspect: expression to evaluate (also -e)");
ABSL_FLAG(std::string, history, "", "shell: history file (default <store>.history)");
ABSL_FLAG(std::string, cluster, "", "run: the cluster config (YAML)");
ABSL_FLAG(std::string, id, "", "run: this node's id in the cluster config");
ABSL_FLAG(std::string, http, "", "run: serve HTTP on host:port (overrides the config's http)");
ABSL_FLAG(std::string, durability, "",
          "shell/run: snapshot or journal (converts a store of the other mode; default: the store's own)");
ABSL_FLAG(bool, accept_divergence, false, "shell/run: go on when a journal replay diverges (README, Journal mode)");
ABSL_FLAG(bool, detach, false, "cluster up: return once every node answers");
ABSL_FLAG(bool, json, false, "cluster status: print JSON");

namespace {

constexpr char kUsage[] = R"USAGE(ken: a persistent JavaScript runtime (V8) whose heap survives kill -9

Usage:
  ken shell --store PATH [--durability MODE] [--turn-timeout 5s] [--heap-limit-mb N]
      A REPL whose whole heap is committed to PATH after every input. Creates
      PATH when it does not exist ("Initialized session (journal mode)"),
      restores it otherwise ("Restored session (MODE mode)"). Reads plain lines when stdin is not a
      terminal. .help lists shell commands.
  ken run --cluster CLUSTER.yaml --id NODE [--store PATH] [--http HOST:PORT] [--durability MODE]
      One node of a cluster. The first start creates the store (default
      data/<id>.ken beside the config) and runs the node's script as the
      first turn; later starts restore the newest checkpoint. ken.send /
      ken.receive messages are delivered exactly once across crashes. With
      an http address it serves HTTP/1.1: each request is a turn handled by
      handleRequest(request, response), answered after its commit.
  ken cluster up CLUSTER.yaml [--detach]
      Starts every node of the config as a child process, prefixes their log
      lines with the node id, restarts a node that dies (with backoff and a
      restart count); Ctrl-C or SIGTERM stops them all. --detach returns once
      every node answers (log in data/cluster.log beside the config).
  ken cluster status CLUSTER.yaml [--json]
      One row per node: pid, up/down, restarts, committed turns, outbox
      (unacked) depth, retransmits, heap size, store size.
  ken cluster kill CLUSTER.yaml NODE      SIGKILL one node (the supervisor restarts it)
  ken cluster down CLUSTER.yaml           stop the supervisor and every node
  ken cluster eval CLUSTER.yaml NODE EXPR run EXPR as a turn on NODE, print its value
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
  --answer-timeout DUR  run: an HTTP request or eval whose turn has not started
                        after DUR (default 60s) is answered 503 "not run" and
                        never runs; one started but unanswered after twice DUR
                        gets 503 with the header Ken-Outcome: unknown
  --help                this text
)USAGE";

// absl flag names cannot contain '-': accept --turn-timeout as --turn_timeout,
// and -e as --eval.
std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg == "-e") arg = "--eval";
    if (i > 0 && arg.rfind("--", 0) == 0) {
      size_t end = arg.find('=');
      for (size_t k = 2; k < (end == std::string::npos ? arg.size() : end); ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    out.push_back(arg);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args = NormalizeArgs(argc, argv);
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
  // before absl's parser (which would print its own and exit 1).
  for (size_t i = 1; i < flag_argv.size(); ++i) {
    std::string arg = flag_argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) continue;
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool negated = absl::FindCommandLineFlag(name) == nullptr && name.rfind("no", 0) == 0;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(negated ? name.substr(2) : name);
    std::string shown = name;
    std::replace(shown.begin(), shown.end(), '_', '-');
    if (flag == nullptr || (negated && !flag->IsOfType<bool>())) {
      fprintf(stderr, "ken %s: unknown flag --%s (see ken --help)\n", command.c_str(), shown.c_str());
      return 2;
    }
    if (eq == std::string::npos && !flag->IsOfType<bool>()) {
      if (i + 1 >= flag_argv.size()) {
        fprintf(stderr, "ken %s: --%s needs a value (see ken --help)\n", command.c_str(), shown.c_str());
        return 2;
      }
      ++i;  // its value
    }
  }
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(flag_argv.size()), flag_argv.data());

  auto logger = spdlog::stderr_color_mt("ken");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  spdlog::level::level_enum level = spdlog::level::from_str(absl::GetFlag(FLAGS_log_level));
  if (level == spdlog::level::off && absl::GetFlag(FLAGS_log_level) != "off") {
    fprintf(stderr, "ken: unknown --log-level '%s'\n", absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  spdlog::set_level(level);

  if (command == "cluster") {
    if (rest.size() < 3) {
      fprintf(stderr, "ken cluster: usage: ken cluster up|status|kill|down|eval CLUSTER.yaml ... (see ken --help)\n");
      return 2;
    }
    ken::ClusterOptions options;
    options.action = rest[1];
    options.config_path = rest[2];
    for (size_t i = 3; i < rest.size(); ++i) options.args.push_back(rest[i]);
    options.detach = absl::GetFlag(FLAGS_detach);
    options.json = absl::GetFlag(FLAGS_json);
    options.log_level = absl::GetFlag(FLAGS_log_level) == "warn" ? "info" : absl::GetFlag(FLAGS_log_level);
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
  // A duration flag: a bare number is milliseconds; else 5s, 500ms, 2m...
  auto duration_ms = [&](const char* flag, const std::string& text, int64_t* ms) {
    absl::Duration d;
    if (absl::SimpleAtoi(text, ms)) {
      // a bare number: milliseconds
    } else if (absl::ParseDuration(text, &d)) {
      *ms = absl::ToInt64Milliseconds(d);
    } else {
      fprintf(stderr, "ken %s: --%s '%s' is not a duration (e.g. 5s, 500ms, 2m)\n", command.c_str(), flag,
              text.c_str());
      return false;
    }
    if (*ms <= 0 || *ms > 24LL * 3600 * 1000) {
      fprintf(stderr, "ken %s: --%s must be positive and at most a day (24h)\n", command.c_str(), flag);
      return false;
    }
    return true;
  };
  const std::string durability = absl::GetFlag(FLAGS_durability);
  if (!durability.empty() && durability != "snapshot" && durability != "journal") {
    fprintf(stderr, "ken %s: --durability must be snapshot or journal, not '%s'\n", command.c_str(),
            durability.c_str());
    return 2;
  }
  if (command == "inspect" && (!durability.empty() || absl::GetFlag(FLAGS_accept_divergence))) {
    fprintf(stderr, "ken inspect: --durability and --accept-divergence are for shell and run (inspect reads either mode)\n");
    return 2;
  }
  int64_t timeout_ms = 0, answer_timeout_ms = 0;
  if (!duration_ms("turn-timeout", absl::GetFlag(FLAGS_turn_timeout), &timeout_ms) ||
      !duration_ms("answer-timeout", absl::GetFlag(FLAGS_answer_timeout), &answer_timeout_ms)) {
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
  const int64_t heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb);
  if (heap_limit_mb != 0 && (heap_limit_mb < 16 || heap_limit_mb > 65536)) {
    // Below 16 MiB V8 cannot even set up a new heap's built-ins.
    fprintf(stderr, "ken %s: --heap-limit-mb must be 0 (V8's default) or from 16 to 65536\n", command.c_str());
    return 2;
  }
  ken::V8Config v8_config;
  v8_config.heap_limit_mb = heap_limit_mb;
  ken::InitializeV8(v8_config);

  if (command == "run") {
    ken::RunOptions options;
    options.cluster_path = absl::GetFlag(FLAGS_cluster);
    options.node_id = absl::GetFlag(FLAGS_id);
    options.store_path = store;
    options.http_address = absl::GetFlag(FLAGS_http);
    options.turn_timeout_ms = timeout_ms;
    options.answer_timeout_ms = answer_timeout_ms;
    options.durability = durability;
    options.accept_divergence = absl::GetFlag(FLAGS_accept_divergence);
    return ken::RunNode(options);
  }
  if (command == "shell") {
    ken::ShellOptions options;
    options.store_path = store;
    options.turn_timeout_ms = timeout_ms;
    options.history_path = absl::GetFlag(FLAGS_history);
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
