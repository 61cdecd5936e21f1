// What the chaos test's parts share: the cluster under test, reaching its
// nodes' admin service (directly, never through a fault link), and the
// invariant checker.
#ifndef KEN_TESTS_CHAOS_CHAOS_CLUSTER_H_
#define KEN_TESTS_CHAOS_CHAOS_CLUSTER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "proto/ken.pb.h"

namespace ken::testing {

struct Cluster {
  std::string dir, config, token = "chaos-token";
  std::map<std::string, std::string> address;  // id -> host:port (real, not a link)
  std::vector<std::string> ids;                 // driver last
  std::vector<std::string> env;                 // of the processes started (a hosts file's, or none)
};

// Evaluates `expr` on a node as an admin turn, retrying while it restarts
// (up to `seconds`). nullopt if it threw or the node never answered.
std::optional<nlohmann::json> Eval(const Cluster& c, const std::string& id, const std::string& expr,
                                   int seconds = 30);
// The node's admin status (1 s deadline); nullopt while it is down.
std::optional<v1::StatusReply> Status(const Cluster& c, const std::string& id);

class Checker {
 public:
  // Counts a violation (and prints the first 20) unless `ok`.
  void Expect(bool ok, const std::string& what);
  int violations = 0;
};

}  // namespace ken::testing

#endif  // KEN_TESTS_CHAOS_CHAOS_CLUSTER_H_
