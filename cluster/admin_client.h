// Client side of the Admin gRPC service (proto/ken.proto): how the launcher,
// `ken cluster status/kill/eval` and tests talk to nodes. Any thread.
#ifndef KEN_CLUSTER_ADMIN_CLIENT_H_
#define KEN_CLUSTER_ADMIN_CLIENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/tls.h"
#include "proto/ken.pb.h"

namespace ken {

// Mutual TLS to a node (base/tls.h): this client's certificate and key, the
// cluster's CA, and the node id the node's certificate must name. Default:
// plaintext.
struct AdminTls {
  TlsPem pem;
  std::string node_id;
};

// Admin.Status of the node at `address` (host:port). kUnavailable when the
// node does not answer within `timeout_ms`; kUnauthenticated on a wrong token.
absl::StatusOr<v1::StatusReply> AdminStatus(const std::string& address, const std::string& token,
                                            int64_t timeout_ms = 1000, const AdminTls& tls = {});

// Admin.Eval: runs `source` as a turn on the node; the reply arrives after the
// turn's commit. The turn's own failure is in the reply (ok=false, error).
absl::StatusOr<v1::EvalReply> AdminEval(const std::string& address, const std::string& token,
                                        const std::string& source, int64_t timeout_ms = 30000,
                                        const AdminTls& tls = {});

}  // namespace ken

#endif  // KEN_CLUSTER_ADMIN_CLIENT_H_
