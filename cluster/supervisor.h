// The launcher behind `ken cluster up`: runs every node of a cluster config as
// a child process (`ken run --cluster CONFIG --id NODE`), prefixes each line a
// node prints with its id, and restarts a node that dies, with backoff
// (100 ms doubling to 5 s; back to 100 ms once a node stayed up 10 s). Each
// child learns its restart count from KEN_RESTARTS and reports it in
// Admin.Status. Stop() sends SIGTERM to every node, waits up to 10 s, then
// SIGKILLs what is left.
//
// Threading: Run() on one thread; Stop() from any thread or a signal handler.
#ifndef KEN_CLUSTER_SUPERVISOR_H_
#define KEN_CLUSTER_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cluster/config.h"

namespace ken {

struct SupervisorOptions {
  std::string ken_binary;  // path of the `ken` executable
  std::string log_level = "info";  // the nodes' --log-level, and the filter of the supervisor's own lines
};

class Supervisor {
 public:
  Supervisor(ClusterConfig config, SupervisorOptions options);

  // Checks what would make a start fail, before anything starts: each node's
  // gRPC and HTTP address must be free to bind. kFailedPrecondition naming the
  // node and address otherwise.
  absl::Status Preflight() const;

  // Starts every node and supervises until Stop(); returns once all
  // children have exited. Writes to stdout.
  void Run();
  // Async-signal-safe.
  void Stop() { stop_ = true; }

 private:
  struct Child {
    std::string id;
    pid_t pid = -1;
    int fd = -1;         // the child's stdout+stderr
    std::string partial;  // incomplete last line
    int restarts = 0;
    int fast_failures = 0;
    int64_t started_ms = 0;
    int64_t restart_at_ms = -1;  // >= 0: scheduled restart
  };
  void Start(Child& child);
  void Drain(Child& child, bool flush_partial);
  void Reap(int64_t now_ms);
  // A line of the supervisor's own, "[supervisor] LINE", on stdout if `level`
  // (spdlog's order: 2 info, 3 warn, 4 error) is at least options_.log_level.
  void Say(int level, const std::string& line) const;

  ClusterConfig config_;
  SupervisorOptions options_;
  std::vector<Child> children_;
  std::atomic<bool> stop_{false};
};

// Whether node `node` could listen on its gRPC address and, unless empty,
// its HTTP address now (base/host_port.h, WhyNotBindable): OK, or
// kFailedPrecondition "node a: gRPC address 127.0.0.1:7001 cannot be used:
// Address already in use". `ken cluster up` checks every node with it before
// starting any, `ken run` its own node before opening the store.
absl::Status CheckNodeBindable(const std::string& node, const std::string& grpc_address,
                               const std::string& http_address);

// Where `ken cluster` keeps its files for a config: <config dir>/data/.
std::string SupervisorPidFile(const ClusterConfig& config);
std::string SupervisorLogFile(const ClusterConfig& config);

}  // namespace ken

#endif  // KEN_CLUSTER_SUPERVISOR_H_
