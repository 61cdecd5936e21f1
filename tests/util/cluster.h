// A cluster of real `ken run` processes for tests: free loopback ports, a
// generated cluster.yaml, restart of crashed nodes, and state read back with
// `ken inspect` (read-only, while the nodes run).
#ifndef KEN_TESTS_UTIL_CLUSTER_H_
#define KEN_TESTS_UTIL_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ken.pb.h"
#include "tests/util/subprocess.h"

namespace ken::testing {

struct NodeSpec {
  std::string id;
  std::string script_source;  // JS text of the node's script
};

class TestCluster {
 public:
  // Writes scripts and cluster.yaml (token "test-token") into a new temp dir.
  // `ken` is the path of the ken binary; `extra_config` is added at the top
  // level of cluster.yaml (e.g. "max_unacked_messages: 5\n").
  TestCluster(std::string ken, const std::vector<NodeSpec>& nodes, const std::string& extra_config = "");
  ~TestCluster();  // kills every node

  const std::string& config_path() const { return config_path_; }
  const std::string& dir() const { return dir_; }
  int port(const std::string& id) const { return ports_.at(id); }
  std::string store(const std::string& id) const { return dir_ + "/data/" + id + ".ken"; }

  // Starts (or restarts) a node; `env` entries like "KEN_CRASH_AT=x:3";
  // `args` are extra `ken run` flags.
  void Start(const std::string& id, const std::vector<std::string>& env = {},
             const std::vector<std::string>& args = {});
  // If the node's process exited, returns true and its exit code; reads its
  // output meanwhile (so pipes never fill).
  bool Exited(const std::string& id, int* exit_code);
  void Kill(const std::string& id, int signal);
  bool Running(const std::string& id);
  std::string Output(const std::string& id) const;
  // Reads the node's output until `needle` appears or `seconds` pass.
  bool WaitForOutput(const std::string& id, const std::string& needle, int seconds = 10);

  // `ken inspect --store <store> -e expr`, trimmed; "" on failure.
  std::string Inspect(const std::string& id, const std::string& expr) const;

  // Admin.Status / Admin.Eval of a running node (errors as the admin client's).
  absl::StatusOr<v1::StatusReply> Status(const std::string& id) const;
  absl::StatusOr<v1::EvalReply> Eval(const std::string& id, const std::string& source) const;
  // Eval, retried every 100 ms for up to `seconds` while the node cannot
  // be reached (starting, restarting); the last answer.
  absl::StatusOr<v1::EvalReply> EvalWhenUp(const std::string& id, const std::string& source, int seconds = 10) const;
  // Polls `expr` with Inspect until it prints `want` or `seconds` pass;
  // returns the last value read.
  std::string WaitForValue(const std::string& id, const std::string& expr, const std::string& want,
                           int seconds = 30) const;

 private:
  std::string ken_;
  std::string dir_;
  std::string config_path_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::unique_ptr<Process>> processes_;
  std::map<std::string, std::string> old_output_;
};

}  // namespace ken::testing

#endif  // KEN_TESTS_UTIL_CLUSTER_H_
