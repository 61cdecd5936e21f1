// The `ken` command's subcommands. Each returns the process exit code.
#ifndef KEN_CLI_COMMANDS_H_
#define KEN_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ken {

struct ShellOptions {
  std::string store_path;
  int64_t turn_timeout_ms = 5000;
  std::string history_path;  // empty: <store>.history
  std::string load_path;     // --load: the first input of a new session (a file, as .load)
  std::string durability;    // --durability: "snapshot", "journal" or empty (the store's own)
  bool accept_divergence = false;
};

// The REPL: every complete input is one turn, committed before its result
// is printed. Reads stdin with line editing and history when it is a
// terminal, plain lines otherwise. Exit code 0 on .exit / end of input, 1 when
// the store cannot be opened (message on stderr).
int RunShell(const ShellOptions& options);

struct InspectOptions {
  std::string store_path;
  std::string expression;  // empty: list the user's globals
  bool has_expression = false;
};

// Read-only: loads the newest checkpoint without locking or writing the
// store, prints EXPR's value (JSON when it has one) or the user's globals.
// Exit code 0, 1 on store errors, 3 when EXPR throws.
int RunInspect(const InspectOptions& options);

struct RunOptions {
  std::string cluster_path;
  std::string node_id;
  std::string store_path;  // empty: the config's store for the node
  std::string http_address;  // empty: the config's http for the node (none if absent)
  std::string script_path;   // --script: the program of a new store instead of the config's
  int64_t turn_timeout_ms = 5000;
  // HTTP requests and admin evals not started within this long are answered
  // "not run" and never run (see HttpOptions::answer_timeout_ms).
  int64_t answer_timeout_ms = 60000;
  std::string durability;  // --durability; empty: the config's, else the store's own
  bool accept_divergence = false;
  // --peer ID=HOST:PORT values: dial peer ID there (over the config's
  // peer_addresses and address for it).
  std::vector<std::string> peers;
  // --health HOST:PORT: a plaintext server there answering only the gRPC
  // health service (TransportOptions::health_address); empty: none.
  std::string health_address;
};

// One node of a cluster (see run.cc). On first start it creates the store and
// runs the node's script as the first turn; later starts restore the newest
// checkpoint and do not run it again. Runs until SIGTERM/SIGINT (exit 0).
// Exit code 2 for config errors (also a --peer that is not ID=HOST:PORT of
// another node of the config), 1 for store/listen/script errors.
int RunNode(const RunOptions& options);

struct ClusterOptions {
  std::string action;  // up, status, kill, down, eval
  std::string config_path;
  std::vector<std::string> args;  // kill: NODE; eval: NODE EXPR
  bool detach = false;            // up: return once every node answers
  bool json = false;              // status: JSON instead of a table
  std::string log_level = "info";  // passed to the nodes
  std::string render_target;       // render: k8s or systemd
  std::string output_dir;          // render: -o DIR (empty: standard output)
  std::string image;               // render k8s: --image
  std::string storage;             // render k8s: --storage (PVC size)
  std::string storage_class;       // render k8s: --storage-class
  int64_t heap_limit_mb = 0;       // render: --heap-limit-mb, for nodes without heap_limit_mb (0: 1024)
  std::string nodes;               // render systemd: --nodes ID,ID (this host's)
};

// `ken cluster ...` (cli/cluster_command.cc). Exit code 0, 1 on runtime
// errors, 2 on usage/config errors, 3 when an eval throws.
int RunCluster(const ClusterOptions& options);

struct ClusterConfig;  // cluster/config.h

// `ken cluster actors CONFIG [KIND]` (cli/actors_command.cc): per node, the
// actors its newest commit holds (kind, key, state bytes, calls, last
// activity), read-only; `json` prints a JSON array instead of the table.
// Exit code 0; 1 if a node's store cannot be read; 2 on usage errors.
int ClusterActors(const ClusterConfig& config, const std::vector<std::string>& args, bool json);

// `ken cluster render k8s|systemd CONFIG [-o DIR] [--image IMAGE]`
// (cli/render_command.cc, cluster/render.h): Kubernetes manifests (one YAML
// stream on stdout, or a file per object into DIR) or systemd units (into
// DIR). Exit code 0, 1 when a file cannot be written, 2 on usage errors or
// a config that cannot be rendered.
int ClusterRender(const ClusterConfig& config, const ClusterOptions& options);

// `ken cluster certs CONFIG -o DIR` (cli/certs_command.cc, cluster/certs.h):
// a test CA (DIR/ca.pem, ca.key; reused when present) and a certificate
// per node id (DIR/ID.pem, ID.key, naming the id and its address's host)
// and for the commands (DIR/admin.pem, admin.key); existing ones are kept.
// Prints the config lines that turn TLS on. Exit code 0, 1 when a file
// cannot be written, 2 without -o.
int ClusterCerts(const ClusterConfig& config, const ClusterOptions& options);

}  // namespace ken

#endif  // KEN_CLI_COMMANDS_H_
