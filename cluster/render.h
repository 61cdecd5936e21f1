// Deployment files rendered from a cluster config (`ken cluster render`,
// deploy/README.md): Kubernetes manifests and systemd units, each with the
// cluster config its nodes run, rewritten for where they run (addresses,
// store and script paths, the token in a Secret or a file of its own).
// Pure functions of the config: they read the program's files (scripts and
// what they load) and the TLS files, and write nothing (the caller prints
// or writes the files).
#ifndef KEN_CLUSTER_RENDER_H_
#define KEN_CLUSTER_RENDER_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cluster/config.h"

namespace ken {

// One rendered file: its path under `-o DIR` (relative, '/'-separated) and
// its text.
struct RenderedFile {
  std::string name;
  std::string text;
  int mode = 0644;  // for `-o DIR`: 0600 for tokens and keys
};

struct KubernetesOptions {
  std::string image = "localhost/ken:latest";  // the runtime image (deploy/Containerfile)
  std::string service = "ken";                 // the headless Service; pods are <id>-0.<service>
  int grpc_port = 7001;                        // every pod's gRPC port (each pod has its own IP)
  int http_port = 8080;                        // pods of nodes that have `http:`
  int health_port = 7002;                      // plaintext gRPC health service, for the probes
  std::string storage = "1Gi";                 // each store's PersistentVolumeClaim (a quantity)
  std::string storage_class;                   // its storageClassName; empty: the cluster's default
  int64_t default_heap_limit_mb = 1024;        // for nodes whose config has no heap_limit_mb
};

// The memory (MiB) a node with this V8 heap limit and durability mode may
// use at its peak: the heap, plus a checkpoint's serialized copy of it
// (snapshot mode) or the snapshotter's second isolate restoring the newest
// snapshot and the snapshot it writes (journal mode), plus 256 MiB for
// V8's code, gRPC, SQLite and the journal's buffers. Pods request and are
// limited to it (Guaranteed QoS); systemd units get it as MemoryMax.
int64_t NodeMemoryMb(int64_t heap_limit_mb, const std::string& durability);

// Kubernetes objects, in apply order: a Secret with the token, a ConfigMap
// with the pods' cluster.yaml and the program (the nodes' scripts and the
// files they load, cluster/program_files.h, mounted at /etc/ken/program/
// with their relative paths kept), a headless Service,
// and per node id one single-replica StatefulSet named after it (so node
// ids stay free-form, a pod is <id>-0, its DNS name <id>-0.<service>, and
// its store's PersistentVolumeClaim follows the id). Each object is one
// file "<kind>-<name>.yaml" (lower case). Errors (kInvalidArgument): a
// `storage` that is no Kubernetes quantity above zero, a `storage_class`
// that is no DNS subdomain, a node id that is not a DNS label (starts or ends with '-') or is over 52
// characters (a pod is ID-0 and its revision label adds 11), a program
// over a ConfigMap's 1 MiB in all, a file that cannot be read or a module
// that cannot be found (CollectProgramFiles' errors).
absl::StatusOr<std::vector<RenderedFile>> RenderKubernetes(const ClusterConfig& config,
                                                           const KubernetesOptions& options);

// The files as one multi-document YAML stream ("---" between objects).
std::string JoinYamlDocuments(const std::vector<RenderedFile>& files);

struct SystemdOptions {
  std::string ken_binary = "/usr/local/bin/ken";
  std::string config_dir = "/etc/ken";   // cluster.yaml, token, program/
  std::string state_dir = "ken";         // StateDirectory=: /var/lib/ken holds the stores
  int64_t default_heap_limit_mb = 1024;  // for nodes whose config has no heap_limit_mb
  // The node ids of the host the tree is for (`--nodes`): only their keys
  // and memory drop-ins are written. Empty: every node's.
  std::set<std::string> nodes;
};

// systemd units, as a tree to copy onto / (paths relative to it):
// etc/systemd/system/ken@.service (a template, instance = node id: ken run
// --id %i, restart on failure, stores in /var/lib/<state_dir>, sandboxed),
// etc/systemd/system/ken.target (what the instances enabled on a host are
// wanted by; each host enables only its own node ids), per node
// etc/systemd/system/ken@<id>.service.d/memory.conf (MemoryMax from its
// heap limit), <config_dir>/cluster.yaml (stores and scripts moved, the
// token in <config_dir>/token: root:ken 0640 when installed as
// deploy/README.md says), <config_dir>/program/ (the scripts and the files
// they load, relative paths kept), and the `ken` system user
// (etc/sysusers.d/ken.conf, sysusers.d(5)). config_dir must be absolute.
absl::StatusOr<std::vector<RenderedFile>> RenderSystemd(const ClusterConfig& config, const SystemdOptions& options);

}  // namespace ken

#endif  // KEN_CLUSTER_RENDER_H_
