// The cluster config: one YAML file used by `ken run`, `ken cluster` and
// deploy (docs/config.md). Parsed with yaml-cpp; every problem
// is reported before anything starts, with the file, line and field.
#ifndef KEN_CLUSTER_CONFIG_H_
#define KEN_CLUSTER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/host_port.h"  // ParseHostPort, for callers of this header
#include "base/tls.h"

namespace ken {

// Back-pressure and size limits (top level, each overridable per node).
struct NodeLimits {
  int64_t max_unacked_messages = 100000;     // per destination: ken.send throws past it
  int64_t max_unacked_bytes = 256ll << 20;   // per destination, payload bytes
  int64_t max_buffered_messages = 10000;     // per source: out-of-order envelopes kept
  int64_t max_checkpoint_bytes = 768ll << 20;  // heap snapshot + state of one commit
  // Journal mode's snapshotter (docs/config.md): a snapshot is written after
  // any of these since the last one (commits, journal bytes, ms), and at
  // journal_max_commits commits after the newest snapshot the node runs no
  // more turns until the snapshotter catches up.
  int64_t snapshot_every_commits = 10000;
  int64_t snapshot_every_bytes = 64ll << 20;
  int64_t snapshot_every_ms = 60000;
  int64_t journal_max_commits = 100000;
  // The largest HTTP request body (bytes) a node takes; larger ones get 413.
  int64_t http_max_body_bytes = 1 << 20;
  // V8's old-generation limit for the node's isolate, MiB (16-65536; 0 =
  // V8's default): a turn that grows the heap past it is aborted. `ken run
  // --heap-limit-mb` overrides it; `ken cluster render` derives a pod's
  // memory request and limit from it.
  int64_t heap_limit_mb = 0;
};

// The durability modes a config may name.
bool ValidDurability(const std::string& mode);

struct NodeConfig {
  std::string id;          // [a-z0-9-]+, unique
  std::string address;     // host:port peers dial (and the admin commands); a DNS name allowed
  // host:port the node's gRPC server binds (`listen:`, e.g. 0.0.0.0:7001 in
  // a container whose `address` is its DNS name); `address` when absent.
  std::string listen;
  std::string host;        // parsed from address
  int port = 0;
  std::string script;      // absolute path; run as the first turn of a new store
  std::string store;       // absolute path; default <config dir>/data/<id>.ken
  std::string http;        // optional host:port
  // "snapshot" or "journal": this node's, else the top level's; empty when
  // neither names one (a new store gets the default mode, an existing one
  // keeps its own). A store of the other mode is converted at start.
  std::string durability;
  NodeLimits limits;       // the top level's, with this node's overrides
  // Where this node dials some of its peers instead of their `address`
  // (peer id -> host:port; `peer_addresses:` in the node's entry, or
  // `ken run --peer`): a proxy, a tunnel, a name only this host resolves.
  // Peers absent here are dialed at their own `address`.
  std::map<std::string, std::string> peer_addresses;
  // Mutual TLS (`ca`, `cert`, `key`; this node's, else the top level's):
  // all three or none, the same for every node (base/tls.h).
  TlsFiles tls;
};

struct ClusterConfig {
  std::string path;  // the file it came from (absolute)
  std::string token;       // `token:`, the contents of `token_file:`, or KEN_CLUSTER_TOKEN
  std::string token_file;  // absolute; empty when the config has no `token_file:`
  // The top level's `ca`, `cert`, `key`: what the `ken cluster` commands
  // present to the nodes (and each node's default).
  TlsFiles tls;
  std::string durability;  // top level; empty if absent
  int64_t max_message_bytes = 4 << 20;
  NodeLimits limits;
  std::vector<NodeConfig> nodes;
  // `actors:` (top level): per actor kind, the node ids its actors are
  // placed over (`placement:`), in config order; kinds not named are placed
  // over every node (js_api/actors.js).
  std::map<std::string, std::vector<std::string>> actor_placement;

  // nullptr if absent.
  const NodeConfig* Find(const std::string& id) const;
  // Every node id but `id`, in config order.
  std::vector<std::string> PeersOf(const std::string& id) const;
  // Where node `id` dials each of its peers: their `address`, or the
  // node's `peer_addresses` entry for them.
  std::map<std::string, std::string> DialAddressesOf(const std::string& id) const;
  // What a node's heap places actors by (js_api/actors.js): JSON
  // {"nodes": [every id, sorted], "kinds": {kind: [ids, as in the config]},
  // "max_message_bytes": N} (the limit also applies to the clones a call to
  // an actor of the same node makes, so it is part of the heap's record).
  std::string ActorPlacementJson() const;
};

// Reads and validates `path`. Relative paths in it resolve against its
// folder. The token is `token:` or the contents of `token_file:` (one of
// the two; trailing whitespace and newlines are not part of it); the
// environment variable KEN_CLUSTER_TOKEN, when set, overrides both (and the
// file is then not read). Errors (kInvalidArgument / kNotFound): unreadable file,
// YAML syntax, unknown or non-scalar key, missing field, bad id, duplicate id
// or address, unparsable address, a `peer_addresses` entry naming an unknown
// node or the node itself, an `actors:` placement naming an unknown node,
// unreadable script or token_file, both token and token_file, a token that is not
// printable ASCII (it travels as gRPC metadata), a limit out of range; the
// message names the file and the line.
struct ConfigLoadOptions {
  // Whether the TLS files (`ca`, `cert`, `key`) must be readable. Off for
  // `ken cluster certs`, which makes them.
  bool tls_files_must_exist = true;
};
absl::StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path, const ConfigLoadOptions& options = {});

// Same, from text; `base_dir` resolves relative paths, `name` is used in
// messages.
absl::StatusOr<ClusterConfig> ParseClusterConfig(const std::string& yaml, const std::string& base_dir,
                                                 const std::string& name, const ConfigLoadOptions& options = {});


}  // namespace ken

#endif  // KEN_CLUSTER_CONFIG_H_
