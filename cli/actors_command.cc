// `ken cluster actors CONFIG [KIND]`: the actors each node hosts, read from
// each node's store as `ken inspect` reads it (the newest commit; also while
// the node runs), so that listing them commits nothing.
#include <time.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cluster/config.h"
#include "nlohmann/json.hpp"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"

namespace ken {

namespace {

// "2026-12-03 13:45:07" (UTC) from ms since the epoch; "-" for 0.
std::string Time(int64_t ms) {
  if (ms <= 0) return "-";
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

int ClusterActors(const ClusterConfig& config, const std::vector<std::string>& args, bool json) {
  if (args.size() > 1) {
    fprintf(stderr, "ken cluster actors: usage: ken cluster actors CONFIG [KIND]\n");
    return 2;
  }
  InitializeV8({});
  const std::string kind = args.empty() ? "" : args[0];
  const std::string expression =
      absl::StrCat("ken.actors(", kind.empty() ? "" : nlohmann::json(kind).dump(),
                   ").map(function (a) { return [a.kind, a.key, a.stateBytes, a.calls, a.lastActive]; })");
  nlohmann::json all = nlohmann::json::array();
  int failures = 0;
  if (!json) printf("%-16s %-20s %-24s %10s %8s %-19s\n", "NODE", "KIND", "KEY", "STATE_B", "CALLS", "LAST_ACTIVE_UTC");
  for (const NodeConfig& n : config.nodes) {
    NodeOptions options;
    options.store_path = n.store;
    options.read_only = true;
    options.create_if_missing = false;
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
    std::string error;
    nlohmann::json rows;
    if (!node.ok()) {
      error = std::string(node.status().message());
    } else {
      TurnResult r = (*node)->Evaluate(InspectBody(expression));
      if (!r.ok()) {
        error = r.error.find("ken.actors is not a function") != std::string::npos
                    ? "its heap's built-ins predate actors (ken.actors)"
                    : r.error;
      } else {
        rows = nlohmann::json::parse(r.output, nullptr, false);
        if (!rows.is_array()) error = "unexpected output: " + r.output;
      }
    }
    if (!error.empty()) {
      ++failures;
      if (json) {
        all.push_back({{"node", n.id}, {"error", error}});
      } else {
        fprintf(stderr, "%s: %s\n", n.id.c_str(), error.c_str());
      }
      continue;
    }
    for (const auto& row : rows) {
      const std::string key = row[1].is_string() ? row[1].get<std::string>() : row[1].dump();
      const int64_t last = row[4].is_number() ? row[4].get<int64_t>() : 0;
      if (json) {
        all.push_back({{"node", n.id}, {"kind", row[0]}, {"key", row[1]}, {"state_bytes", row[2]},
                       {"calls", row[3]}, {"last_active_unix_ms", last}});
      } else {
        printf("%-16s %-20s %-24s %10lld %8lld %-19s\n", n.id.c_str(), row[0].get<std::string>().c_str(),
               key.c_str(), static_cast<long long>(row[2].get<int64_t>()),
               static_cast<long long>(row[3].get<int64_t>()), Time(last).c_str());
      }
    }
  }
  if (json) printf("%s\n", all.dump(2).c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace ken
