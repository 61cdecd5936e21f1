#include "cli/flags.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/host_port.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, store, "", "path of the node's store (SQLite file)");
ABSL_FLAG(std::string, turn_timeout, "5s", "abort a turn that runs longer (e.g. 5s, 500ms; a bare number is ms)");
ABSL_FLAG(std::string, answer_timeout, "60s",
          "run: answer HTTP requests and evals not started within this long with 'not run' (503)");
ABSL_FLAG(int64_t, heap_limit_mb, 0, "abort a turn that grows the heap past this many MiB (0: V8 default)");
ABSL_FLAG(std::string, log_level, "warn", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, eval, "", "inspect: expression to evaluate (also -e)");
ABSL_FLAG(std::string, history, "", "shell: history file (default <store>.history)");
ABSL_FLAG(std::string, load, "", "shell: run FILE as the first input of a new session (as .load FILE)");
ABSL_FLAG(std::string, script, "", "run: the program of a node whose store is new (instead of the config's script)");
ABSL_FLAG(std::string, cluster, "", "run: the cluster config (YAML)");
ABSL_FLAG(std::string, id, "", "run: this node's id in the cluster config");
ABSL_FLAG(std::string, http, "", "run: serve HTTP on host:port (overrides the config's http)");
ABSL_FLAG(std::string, durability, "",
          "shell/run: snapshot or journal (converts a store of the other mode; default: the store's own)");
ABSL_FLAG(bool, accept_divergence, false, "shell/run: go on when a journal replay diverges (README, Journal mode)");
ABSL_FLAG(std::string, peer, "",
          "run: ID=HOST:PORT, dial peer ID there instead of its config address (repeatable)");
ABSL_FLAG(std::string, health, "",
          "run: also answer the gRPC health service, and only it, in plaintext on host:port (for probes "
          "without a client certificate)");
ABSL_FLAG(bool, detach, false, "cluster up: return once every node answers");
ABSL_FLAG(bool, json, false, "cluster status: print JSON");
ABSL_FLAG(std::string, output, "", "cluster render: write one file per object into this folder (also -o)");
ABSL_FLAG(std::string, image, "localhost/ken:latest", "cluster render k8s: the container image of the pods");
ABSL_FLAG(std::string, storage, "1Gi", "cluster render k8s: each store's PersistentVolumeClaim size (a quantity)");
ABSL_FLAG(std::string, storage_class, "", "cluster render k8s: the claims' storageClassName (default: the cluster's)");
ABSL_FLAG(std::string, nodes, "", "cluster render systemd: the node ids this host runs, comma-separated (default all)");

namespace ken {
namespace {

// A flag's name as the user writes it: --turn-timeout.
std::string Shown(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

// A duration flag: a bare number is milliseconds; else 5s, 500ms, 2m...
std::string DurationMs(const std::string& name, const std::string& text, int64_t* ms) {
  absl::Duration d;
  if (absl::SimpleAtoi(text, ms)) {
    // a bare number: milliseconds
  } else if (absl::ParseDuration(text, &d)) {
    *ms = d == absl::InfiniteDuration() ? INT64_MAX : absl::ToInt64Milliseconds(d);
    if (d < absl::ZeroDuration()) *ms = -1;
  } else {
    return absl::StrCat(Shown(name), " '", text, "' is not a duration (e.g. 5s, 500ms, 2m)");
  }
  if (*ms <= 0 || *ms > 24LL * 3600 * 1000) {
    return absl::StrCat(Shown(name), " must be positive and at most a day (24h), not '", text, "'");
  }
  return "";
}

}  // namespace

std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg == "-e") arg = "--eval";
    if (i > 0 && arg == "-o") arg = "--output";
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

std::string CheckFlagSyntax(const std::vector<std::string>& args, FlagScan* scan) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;  // a positional argument (or "-")
    if (arg[1] != '-') {
      // absl reads "-x" as the flag x; ken's one-dash flags, -e and -o, were renamed.
      return absl::StrCat("unknown flag ", arg, " (see ken --help)");
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool negated = absl::FindCommandLineFlag(name) == nullptr && name.rfind("no", 0) == 0;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(negated ? name.substr(2) : name);
    if (flag == nullptr || name.empty() || (negated && (!flag->IsOfType<bool>() || eq != std::string::npos))) {
      return absl::StrCat("unknown flag ", Shown(name), " (see ken --help)");
    }
    if (flag->Name() == "log_level") scan->log_level_given = true;
    std::string value;
    // --peer may be given many times; absl keeps only the last.
    const auto collect = [&] {
      if (flag->Name() == "peer") scan->peers.push_back(value);
    };
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 >= args.size()) {
      return absl::StrCat(Shown(name), " needs a value (see ken --help)");
    } else {
      value = args[++i];
    }
    collect();
    if (flag->Name() == "peer") {
      const size_t at = value.find('=');
      std::string host;
      int port = 0;
      if (at == std::string::npos || at == 0 || !ParseHostPort(value.substr(at + 1), &host, &port)) {
        return absl::StrCat("--peer '", value, "' must be ID=HOST:PORT (a node id, then where to dial it)");
      }
    }
    if (flag->IsOfType<bool>()) {
      bool b;
      if (!absl::SimpleAtob(value, &b)) return absl::StrCat(Shown(name), " is true or false, not '", value, "'");
    } else if (flag->IsOfType<int64_t>()) {
      int64_t n;
      if (!absl::SimpleAtoi(value, &n)) return absl::StrCat(Shown(name), " '", value, "' is not a whole number");
    }
  }
  return "";
}

std::string CheckFlagValues(FlagValues* values) {
  if (std::string e = DurationMs("turn_timeout", absl::GetFlag(FLAGS_turn_timeout), &values->turn_timeout_ms);
      !e.empty()) {
    return e;
  }
  if (std::string e = DurationMs("answer_timeout", absl::GetFlag(FLAGS_answer_timeout), &values->answer_timeout_ms);
      !e.empty()) {
    return e;
  }
  values->heap_limit_mb = absl::GetFlag(FLAGS_heap_limit_mb);
  if (values->heap_limit_mb != 0 && (values->heap_limit_mb < 16 || values->heap_limit_mb > 65536)) {
    // Below 16 MiB V8 cannot even set up a new heap's built-ins.
    return absl::StrCat("--heap-limit-mb must be 0 (V8's default) or from 16 to 65536, not ", values->heap_limit_mb);
  }
  const std::string level = absl::GetFlag(FLAGS_log_level);
  values->log_level = spdlog::level::from_str(level);
  if (values->log_level == spdlog::level::off && level != "off") {
    return absl::StrCat("--log-level must be trace, debug, info, warn, error, critical or off, not '", level, "'");
  }
  const std::string durability = absl::GetFlag(FLAGS_durability);
  if (!durability.empty() && durability != "snapshot" && durability != "journal") {
    return absl::StrCat("--durability must be snapshot or journal, not '", durability, "'");
  }
  return "";
}

}  // namespace ken
