#include "cluster/render.h"

#include <utility>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/tls.h"
#include "cluster/program_files.h"
#include "yaml-cpp/yaml.h"

namespace ken {
namespace {

constexpr char kPodConfigDir[] = "/etc/ken";
constexpr char kPodTokenDir[] = "/etc/ken-token";
constexpr char kPodStoreDir[] = "/var/lib/ken";
constexpr char kPodTlsDir[] = "/etc/ken-tls";
// ConfigMap data is limited to 1 MiB in all (Kubernetes' etcd object limit).
constexpr size_t kConfigMapMaxBytes = 1 << 20;

// A node id is [a-z0-9-]{1,63} (cluster/config.h); a DNS label must also
// start and end with a letter or digit.
// A Kubernetes quantity as a claim's size takes it: digits, an optional
// fraction, an optional suffix (binary Ki..Ei or decimal k..E), not zero.
bool StorageQuantity(const std::string& q) {
  static const std::regex re("([0-9]+)(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?");
  std::smatch m;
  return std::regex_match(q, m, re) && q.find_first_of("123456789") != std::string::npos;
}

// A DNS subdomain (RFC 1123), as a storageClassName must be.
bool DnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return s.size() <= 253 && std::regex_match(s, re);
}

bool DnsLabel(const std::string& id) { return !id.empty() && id.front() != '-' && id.back() != '-'; }

// Whether `text` survives a YAML literal block unchanged: UTF-8 of
// printable characters, tabs and newlines (no CR, no NEL, LS, PS or BOM,
// which YAML reads as line breaks or marks), no leading or trailing
// whitespace on any line, not starting with a newline, ending with exactly
// one. Other files go into a ConfigMap's binaryData, base64.
bool LiteralSafe(const std::string& text) {
  if (text.empty() || text.back() != '\n' || text[0] == '\n' || text[0] == ' ' || text[0] == '\t') return false;
  if (text.size() >= 2 && text[text.size() - 2] == '\n') return false;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      if (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) return false;
      ++i;
      continue;
    }
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
      ++i;
      continue;
    }
    const int len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (len == 0 || (c >= 0xe0 && c >= 0xf5) || i + len > text.size()) return false;
    uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;  // overlong or surrogate
    }
    if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff) return false;
    i += len;
  }
  return true;
}

// ConfigMap keys are [-._a-zA-Z0-9]+.
std::string KeyFor(const std::string& name) {
  std::string key;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_';
    key += ok ? c : '_';
  }
  return key;
}

// The nodes' scripts and the files they load (cluster/program_files.h).
absl::StatusOr<ProgramFiles> Program(const ClusterConfig& config, size_t max_bytes) {
  std::vector<std::string> scripts;
  for (const NodeConfig& n : config.nodes) scripts.push_back(n.script);
  return CollectProgramFiles(scripts, max_bytes);
}

// A program file's ConfigMap key: "p<N>-<file name>" (keys are flat; the
// volume's items put each back at its path).
std::vector<std::pair<std::string, std::string>> ProgramKeys(const ProgramFiles& program) {
  std::vector<std::pair<std::string, std::string>> keys;  // key -> path under the mount
  int n = 0;
  for (const auto& [path, file] : program.files) {
    keys.push_back({KeyFor(absl::StrCat("p", ++n, "-", std::filesystem::path(path).filename().string())),
                    absl::StrCat("program/", file.rel)});
  }
  return keys;
}

// Where each node runs, for the config the deployed nodes read.
struct Placement {
  std::string address, listen, store, script, http;
  std::string cert, key;  // TLS: this node's own, when not the top level's
  std::map<std::string, std::string> peer_addresses;
};

// The cluster config as the deployed nodes read it: the same nodes, limits,
// modes and actors, at the places `where` gives, with the token in a file.
std::string DeployedConfig(const ClusterConfig& config, const std::string& token_file, const TlsFiles& top_tls,
                           const std::map<std::string, Placement>& where, int64_t default_heap_limit_mb,
                           const std::string& header) {
  YAML::Emitter out;
  out << YAML::Comment(header) << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "token_file" << YAML::Value << token_file;
  for (auto [key, value] : {std::pair<const char*, const std::string&>{"ca", top_tls.ca}, {"cert", top_tls.cert},
                            {"key", top_tls.key}}) {
    if (!value.empty()) out << YAML::Key << key << YAML::Value << value;
  }
  if (!config.durability.empty()) out << YAML::Key << "durability" << YAML::Value << config.durability;
  out << YAML::Key << "max_message_bytes" << YAML::Value << config.max_message_bytes;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  const NodeLimits defaults;
  for (const NodeConfig& n : config.nodes) {
    const Placement& p = where.at(n.id);
    out << YAML::BeginMap;
    out << YAML::Key << "id" << YAML::Value << n.id;
    out << YAML::Key << "address" << YAML::Value << p.address;
    if (p.listen != p.address) out << YAML::Key << "listen" << YAML::Value << p.listen;
    out << YAML::Key << "script" << YAML::Value << p.script;
    out << YAML::Key << "store" << YAML::Value << p.store;
    if (!p.http.empty()) out << YAML::Key << "http" << YAML::Value << p.http;
    if (!p.cert.empty()) out << YAML::Key << "cert" << YAML::Value << p.cert << YAML::Key << "key" << YAML::Value << p.key;
    if (!p.peer_addresses.empty()) {
      out << YAML::Key << "peer_addresses" << YAML::Value << YAML::BeginMap;
      for (const auto& [peer, address] : p.peer_addresses) out << YAML::Key << peer << YAML::Value << address;
      out << YAML::EndMap;
    }
    if (!n.durability.empty() && n.durability != config.durability) {
      out << YAML::Key << "durability" << YAML::Value << n.durability;
    }
    const NodeLimits& l = n.limits;
    const std::pair<const char*, std::pair<int64_t, int64_t>> limits[] = {
        {"max_unacked_messages", {l.max_unacked_messages, defaults.max_unacked_messages}},
        {"max_unacked_bytes", {l.max_unacked_bytes, defaults.max_unacked_bytes}},
        {"max_buffered_messages", {l.max_buffered_messages, defaults.max_buffered_messages}},
        {"max_checkpoint_bytes", {l.max_checkpoint_bytes, defaults.max_checkpoint_bytes}},
        {"snapshot_every_commits", {l.snapshot_every_commits, defaults.snapshot_every_commits}},
        {"snapshot_every_bytes", {l.snapshot_every_bytes, defaults.snapshot_every_bytes}},
        {"snapshot_every_ms", {l.snapshot_every_ms, defaults.snapshot_every_ms}},
        {"journal_max_commits", {l.journal_max_commits, defaults.journal_max_commits}},
        {"http_max_body_bytes", {l.http_max_body_bytes, defaults.http_max_body_bytes}},
    };
    for (const auto& [key, values] : limits) {
      if (values.first != values.second) out << YAML::Key << key << YAML::Value << values.first;
    }
    out << YAML::Key << "heap_limit_mb" << YAML::Value
        << (l.heap_limit_mb > 0 ? l.heap_limit_mb : default_heap_limit_mb);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (!config.actor_placement.empty()) {
    out << YAML::Key << "actors" << YAML::Value << YAML::BeginMap;
    for (const auto& [kind, ids] : config.actor_placement) {
      out << YAML::Key << kind << YAML::Value << YAML::BeginMap << YAML::Key << "placement" << YAML::Value
          << YAML::Flow << ids << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A user-given string, double-quoted: yaml-cpp leaves `123`, `true` or
// `1e5` unquoted, and Kubernetes would read a number or a boolean.
struct Quoted {
  const std::string& value;
};
YAML::Emitter& operator<<(YAML::Emitter& out, const Quoted& q) { return out << YAML::DoubleQuoted << q.value; }

// Starts a Kubernetes object: apiVersion, kind, metadata (name, labels).
void BeginObject(YAML::Emitter& out, const char* api, const char* kind, const std::string& name,
                 const std::string& service, const std::string& node_id) {
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << api;
  out << YAML::Key << "kind" << YAML::Value << kind;
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << Quoted{name};
  out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "app.kubernetes.io/name" << YAML::Value << "ken";
  out << YAML::Key << "app.kubernetes.io/instance" << YAML::Value << Quoted{service};
  if (!node_id.empty()) out << YAML::Key << "ken/node-id" << YAML::Value << Quoted{node_id};
  out << YAML::EndMap << YAML::EndMap;
}

RenderedFile Finish(YAML::Emitter& out, const char* kind, const std::string& name) {
  out << YAML::EndMap;
  return {absl::StrCat(Lower(kind), "-", name, ".yaml"), std::string(out.c_str()) + "\n"};
}

void Probe(YAML::Emitter& out, const char* which, int port, int period_s, int timeout_s, int failures) {
  out << YAML::Key << which << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "grpc" << YAML::Value << YAML::BeginMap << YAML::Key << "port" << YAML::Value << port
      << YAML::EndMap;
  out << YAML::Key << "periodSeconds" << YAML::Value << period_s;
  out << YAML::Key << "timeoutSeconds" << YAML::Value << timeout_s;
  out << YAML::Key << "failureThreshold" << YAML::Value << failures;
  out << YAML::EndMap;
}

RenderedFile StatefulSet(const NodeConfig& n, const KubernetesOptions& o, int64_t memory_mb,
                         const std::vector<std::pair<std::string, std::string>>& keys, bool tls) {
  YAML::Emitter out;
  BeginObject(out, "apps/v1", "StatefulSet", n.id, o.service, n.id);
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "serviceName" << YAML::Value << Quoted{o.service};
  out << YAML::Key << "replicas" << YAML::Value << 1;
  out << YAML::Key << "podManagementPolicy" << YAML::Value << "Parallel";
  out << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key << "matchLabels" << YAML::Value
      << YAML::BeginMap << YAML::Key << "app.kubernetes.io/instance" << YAML::Value << Quoted{o.service} << YAML::Key
      << "ken/node-id" << YAML::Value << Quoted{n.id} << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap << YAML::Key << "labels" << YAML::Value
      << YAML::BeginMap << YAML::Key << "app.kubernetes.io/name" << YAML::Value << "ken" << YAML::Key
      << "app.kubernetes.io/instance" << YAML::Value << Quoted{o.service} << YAML::Key << "ken/node-id" << YAML::Value
      << Quoted{n.id} << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  // SIGTERM lets the turn in progress finish and commit (a commit takes
  // milliseconds in journal mode, about a second per 100 MB in snapshot
  // mode); SIGKILL after this loses nothing committed either.
  out << YAML::Key << "terminationGracePeriodSeconds" << YAML::Value << 30;
  out << YAML::Key << "securityContext" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "runAsNonRoot" << YAML::Value << true;
  out << YAML::Key << "runAsUser" << YAML::Value << 10001;
  out << YAML::Key << "runAsGroup" << YAML::Value << 10001;
  out << YAML::Key << "fsGroup" << YAML::Value << 10001;
  out << YAML::EndMap;
  out << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "ken";
  out << YAML::Key << "image" << YAML::Value << Quoted{o.image};
  out << YAML::Key << "args" << YAML::Value << YAML::Flow << YAML::BeginSeq << "run" << "--cluster"
      << absl::StrCat(kPodConfigDir, "/cluster.yaml") << "--id" << Quoted{n.id} << "--health"
      << absl::StrCat("0.0.0.0:", o.health_port) << YAML::EndSeq;
  out << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "grpc" << YAML::Key << "containerPort"
      << YAML::Value << o.grpc_port << YAML::EndMap;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "health" << YAML::Key << "containerPort"
      << YAML::Value << o.health_port << YAML::EndMap;
  if (!n.http.empty()) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "http" << YAML::Key << "containerPort"
        << YAML::Value << o.http_port << YAML::EndMap;
  }
  out << YAML::EndSeq;
  const std::string memory = absl::StrCat(memory_mb, "Mi");
  out << YAML::Key << "resources" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "requests" << YAML::Value << YAML::BeginMap << YAML::Key << "memory" << YAML::Value << memory
      << YAML::Key << "cpu" << YAML::Value << "250m" << YAML::EndMap;
  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap << YAML::Key << "memory" << YAML::Value << memory
      << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::Key << "volumeMounts" << YAML::Value << YAML::BeginSeq;
  for (const auto& [name, path, read_only] : {std::tuple<const char*, const char*, bool>{"store", kPodStoreDir, false},
                                              {"config", kPodConfigDir, true},
                                              {"token", kPodTokenDir, true},
                                              {"tls", kPodTlsDir, true}}) {
    if (!tls && std::string(name) == "tls") continue;
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name << YAML::Key << "mountPath" << YAML::Value
        << path;
    if (read_only) out << YAML::Key << "readOnly" << YAML::Value << true;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  // The gRPC server starts once the store is restored (a long journal
  // replays first): the startup probe allows an hour for that, then the
  // liveness probe takes over. All ask the standard gRPC health service,
  // which needs no token and tells nothing but SERVING, on the plaintext
  // health port (`ken run --health`): a kubelet has no client certificate
  // for a TLS cluster's gRPC port. Readiness only gates Service endpoints
  // (peers dial the pod's DNS name, published before it is ready).
  Probe(out, "startupProbe", o.health_port, 5, 2, 720);
  Probe(out, "livenessProbe", o.health_port, 10, 5, 3);
  Probe(out, "readinessProbe", o.health_port, 5, 2, 2);
  out << YAML::EndMap << YAML::EndSeq;  // the container, containers
  out << YAML::Key << "volumes" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "config" << YAML::Key << "configMap" << YAML::Value
      << YAML::BeginMap << YAML::Key << "name" << YAML::Value << absl::StrCat(o.service, "-config");
  out << YAML::Key << "items" << YAML::Value << YAML::BeginSeq;
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "key" << YAML::Value << "cluster.yaml" << YAML::Key << "path"
      << YAML::Value << "cluster.yaml" << YAML::EndMap;
  for (const auto& [key, path] : keys) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "key" << YAML::Value << key << YAML::Key << "path"
        << YAML::Value << path << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  // 0440 (group read: the files belong to fsGroup).
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "token" << YAML::Key << "secret" << YAML::Value
      << YAML::BeginMap << YAML::Key << "secretName" << YAML::Value << absl::StrCat(o.service, "-token") << YAML::Key
      << "defaultMode" << YAML::Value << 0440 << YAML::EndMap << YAML::EndMap;
  if (tls) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "tls" << YAML::Key << "secret" << YAML::Value
        << YAML::BeginMap << YAML::Key << "secretName" << YAML::Value << absl::StrCat(o.service, "-tls-", n.id)
        << YAML::Key << "defaultMode" << YAML::Value << 0440 << YAML::EndMap << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap << YAML::EndMap;  // pod spec, template
  out << YAML::Key << "volumeClaimTemplates" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "store"
      << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "accessModes" << YAML::Value << YAML::Flow << YAML::BeginSeq << "ReadWriteOnce" << YAML::EndSeq;
  if (!o.storage_class.empty()) out << YAML::Key << "storageClassName" << YAML::Value << Quoted{o.storage_class};
  out << YAML::Key << "resources" << YAML::Value << YAML::BeginMap << YAML::Key << "requests" << YAML::Value
      << YAML::BeginMap << YAML::Key << "storage" << YAML::Value << o.storage << YAML::EndMap << YAML::EndMap;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;  // spec
  return Finish(out, "StatefulSet", n.id);
}

}  // namespace

int64_t NodeMemoryMb(int64_t heap_limit_mb, const std::string& durability) {
  const int64_t copies = durability == "snapshot" ? 2 : 3;
  return copies * heap_limit_mb + 256;
}

absl::StatusOr<std::vector<RenderedFile>> RenderKubernetes(const ClusterConfig& config,
                                                           const KubernetesOptions& o) {
  if (!StorageQuantity(o.storage)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--storage '", o.storage, "' is not a size Kubernetes takes (e.g. 512Mi, 10Gi)"));
  }
  if (!o.storage_class.empty() && !DnsSubdomain(o.storage_class)) {
    return absl::InvalidArgumentError(absl::StrCat("--storage-class '", o.storage_class,
                                                   "' is not a storage class name (lower-case DNS name)"));
  }
  for (const NodeConfig& n : config.nodes) {
    if (!DnsLabel(n.id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node id '", n.id, "' cannot name a Kubernetes object (it must start and end with a letter or digit)"));
    }
    if (n.id.size() > 52) {
      return absl::InvalidArgumentError(absl::StrCat("node id '", n.id, "' is over 52 characters: its pod (ID-0) and "
                                                     "StatefulSet revision label would be over Kubernetes' 63"));
    }
  }
  std::map<std::string, Placement> where;
  absl::StatusOr<ProgramFiles> program = Program(config, kConfigMapMaxBytes);
  if (!program.ok()) {
    if (program.status().message().find("bytes (at") == std::string::npos) return program.status();
    return absl::Status(program.status().code(),
                        absl::StrCat(program.status().message(),
                                     "; the ConfigMap holds at most 1 MiB: put the program into the image"));
  }
  const std::vector<std::pair<std::string, std::string>> keys = ProgramKeys(*program);
  for (const NodeConfig& n : config.nodes) {
    Placement& p = where[n.id];
    p.address = absl::StrCat(n.id, "-0.", o.service, ":", o.grpc_port);
    p.listen = absl::StrCat("0.0.0.0:", o.grpc_port);
    p.store = absl::StrCat(kPodStoreDir, "/", n.id, ".ken");
    p.script = absl::StrCat(kPodConfigDir, "/program/", program->files.at(n.script).rel);
    if (!n.http.empty()) p.http = absl::StrCat("0.0.0.0:", o.http_port);
  }
  // TLS: each pod mounts its own node's Secret at the same place, so one
  // config (top-level ca/cert/key) serves every pod.
  const bool tls = !config.nodes.empty() && config.nodes.front().tls.enabled();
  TlsFiles pod_tls;
  if (tls) pod_tls = {absl::StrCat(kPodTlsDir, "/ca.crt"), absl::StrCat(kPodTlsDir, "/tls.crt"), absl::StrCat(kPodTlsDir, "/tls.key")};
  const std::string pod_config =
      DeployedConfig(config, absl::StrCat(kPodTokenDir, "/token"), pod_tls, where, o.default_heap_limit_mb,
                     absl::StrCat("Rendered by ken cluster render k8s from ", std::filesystem::path(config.path).filename().string()));
  std::vector<RenderedFile> files;
  {
    YAML::Emitter out;
    BeginObject(out, "v1", "Secret", absl::StrCat(o.service, "-token"), o.service, "");
    out << YAML::Key << "type" << YAML::Value << "Opaque";
    out << YAML::Key << "stringData" << YAML::Value << YAML::BeginMap << YAML::Key << "token" << YAML::Value
        << Quoted{config.token} << YAML::EndMap;
    files.push_back(Finish(out, "Secret", absl::StrCat(o.service, "-token")));
    files.back().mode = 0600;
  }
  for (const NodeConfig& n : config.nodes) {
    if (!tls) break;
    absl::StatusOr<TlsPem> pem = ReadTls(n.tls);
    if (!pem.ok()) return pem.status();
    YAML::Emitter out;
    const std::string name = absl::StrCat(o.service, "-tls-", n.id);
    BeginObject(out, "v1", "Secret", name, o.service, n.id);
    out << YAML::Key << "type" << YAML::Value << "kubernetes.io/tls";
    out << YAML::Key << "stringData" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "ca.crt" << YAML::Value << YAML::Literal << pem->ca;
    out << YAML::Key << "tls.crt" << YAML::Value << YAML::Literal << pem->cert;
    out << YAML::Key << "tls.key" << YAML::Value << YAML::Literal << pem->key;
    out << YAML::EndMap;
    files.push_back(Finish(out, "Secret", name));
    files.back().mode = 0600;
  }
  {
    YAML::Emitter out;
    BeginObject(out, "v1", "ConfigMap", absl::StrCat(o.service, "-config"), o.service, "");
    out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "cluster.yaml" << YAML::Value << YAML::Literal << pod_config;
    size_t bytes = pod_config.size();
    auto key = keys.begin();
    std::vector<std::pair<std::string, std::string>> binary;  // key -> base64
    for (const auto& [path, file] : program->files) {
      const std::string& name = (key++)->first;
      if (LiteralSafe(file.text)) {
        bytes += file.text.size();
        out << YAML::Key << name << YAML::Value << YAML::Literal << file.text;
      } else {
        binary.push_back({name, absl::Base64Escape(file.text)});
        bytes += binary.back().second.size();
      }
    }
    if (bytes > kConfigMapMaxBytes) {
      return absl::InvalidArgumentError(absl::StrCat("the program's files and config come to ", bytes,
                                                     " bytes, over a ConfigMap's 1 MiB: put the program into the image"));
    }
    out << YAML::EndMap;
    if (!binary.empty()) {
      out << YAML::Key << "binaryData" << YAML::Value << YAML::BeginMap;
      for (const auto& [name, base64] : binary) out << YAML::Key << name << YAML::Value << base64;
      out << YAML::EndMap;
    }
    files.push_back(Finish(out, "ConfigMap", absl::StrCat(o.service, "-config")));
  }
  {
    YAML::Emitter out;
    BeginObject(out, "v1", "Service", o.service, o.service, "");
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "clusterIP" << YAML::Value << "None";
    // Peers dial a node while it starts (before it is ready), so its DNS
    // name must exist from the start.
    out << YAML::Key << "publishNotReadyAddresses" << YAML::Value << true;
    out << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key << "app.kubernetes.io/instance"
        << YAML::Value << o.service << YAML::EndMap;
    out << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key << "name"
        << YAML::Value << "grpc" << YAML::Key << "port" << YAML::Value << o.grpc_port << YAML::EndMap;
    bool http = false;
    for (const NodeConfig& n : config.nodes) http = http || !n.http.empty();
    if (http) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "http" << YAML::Key << "port" << YAML::Value
          << o.http_port << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::EndMap;
    files.push_back(Finish(out, "Service", o.service));
  }
  for (const NodeConfig& n : config.nodes) {
    const int64_t heap = n.limits.heap_limit_mb > 0 ? n.limits.heap_limit_mb : o.default_heap_limit_mb;
    files.push_back(StatefulSet(n, o, NodeMemoryMb(heap, n.durability.empty() ? "journal" : n.durability), keys, tls));
  }
  return files;
}

std::string JoinYamlDocuments(const std::vector<RenderedFile>& files) {
  std::string all;
  for (const RenderedFile& f : files) all += "---\n" + f.text;
  return all;
}

absl::StatusOr<std::vector<RenderedFile>> RenderSystemd(const ClusterConfig& config, const SystemdOptions& o) {
  for (const std::string& id : o.nodes) {
    if (config.Find(id) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--nodes names '", id, "', which is not a node of ", config.path));
    }
  }
  // This host's nodes: all, or o.nodes.
  auto here = [&](const std::string& id) { return o.nodes.empty() || o.nodes.count(id) > 0; };
  std::map<std::string, Placement> where;
  absl::StatusOr<ProgramFiles> program = Program(config, size_t{1} << 30);
  if (!program.ok()) return program.status();
  const std::string state = absl::StrCat("/var/lib/", o.state_dir);
  for (const NodeConfig& n : config.nodes) {
    Placement& p = where[n.id];
    p.address = n.address;
    p.listen = n.listen;
    p.store = absl::StrCat(state, "/", n.id, ".ken");
    p.script = absl::StrCat(o.config_dir, "/program/", program->files.at(n.script).rel);
    p.http = n.http;
    p.peer_addresses = n.peer_addresses;  // same hosts, same routes
  }
  std::vector<RenderedFile> files;
  const std::string etc = o.config_dir.substr(1);  // the tree's paths, relative to /
  // TLS: the certificate and key of each node this host runs (and the
  // commands') under <config_dir>/tls/; a host never holds the key of a
  // node it does not run.
  TlsFiles top_tls;
  if (!config.nodes.empty() && config.nodes.front().tls.enabled()) {
    const std::string tls_dir = absl::StrCat(o.config_dir, "/tls");
    for (const NodeConfig& n : config.nodes) {
      absl::StatusOr<TlsPem> pem = ReadTls(n.tls);
      if (!pem.ok()) return pem.status();
      if (top_tls.ca.empty()) {
        top_tls.ca = tls_dir + "/ca.pem";
        files.push_back({top_tls.ca.substr(1), pem->ca});
      }
      // Another host's node: no files, and no cert/key of its own in this
      // host's config (it inherits the top level's, which it never runs with).
      if (!here(n.id)) continue;
      Placement& p = where[n.id];
      p.cert = absl::StrCat(tls_dir, "/", n.id, ".pem");
      p.key = absl::StrCat(tls_dir, "/", n.id, ".key");
      files.push_back({p.cert.substr(1), pem->cert});
      files.push_back({p.key.substr(1), pem->key, 0600});
    }
    if (!config.tls.cert.empty() && !config.tls.key.empty()) {
      absl::StatusOr<TlsPem> admin = ReadTls(config.tls);
      if (!admin.ok()) return admin.status();
      top_tls.cert = tls_dir + "/admin.pem";
      top_tls.key = tls_dir + "/admin.key";
      files.push_back({top_tls.cert.substr(1), admin->cert});
      files.push_back({top_tls.key.substr(1), admin->key, 0600});
    } else if (!o.nodes.empty()) {
      return absl::InvalidArgumentError(
          "--nodes with TLS needs the top-level cert and key (the commands' certificate; ken cluster certs makes "
          "admin.pem): this host's config names no files for the other hosts' nodes, which inherit them");
    }
  }
  files.push_back({etc + "/cluster.yaml", DeployedConfig(config, absl::StrCat(o.config_dir, "/token"), top_tls, where,
                                                  o.default_heap_limit_mb,
                                                  absl::StrCat("Rendered by ken cluster render systemd from ",
                                                               std::filesystem::path(config.path).filename().string()))});
  files.push_back({etc + "/token", config.token + "\n", 0600});
  // The system user the units run as (systemd-sysusers; sysusers.d(5)).
  files.push_back({"etc/sysusers.d/ken.conf", absl::StrCat("u ken - \"Ken node\" /var/lib/", o.state_dir, "\n")});
  for (const auto& [path, file] : program->files) files.push_back({absl::StrCat(etc, "/program/", file.rel), file.text});
  std::string unit = absl::StrCat(
      "# Rendered by ken cluster render systemd from ", std::filesystem::path(config.path).filename().string(),
      ".\n# One instance per node id, each on one host: systemctl enable ken.target; systemctl enable --now ken@ID.\n"
      "[Unit]\n"
      "Description=Ken node %i\n"
      "After=network-online.target\n"
      "Wants=network-online.target\n"
      "PartOf=ken.target\n"
      "\n"
      "[Service]\n"
      "Type=exec\n",
      "ExecStart=", o.ken_binary, " run --cluster ", o.config_dir, "/cluster.yaml --id %i\n",
      // SIGTERM: the node finishes the turn in progress, commits and exits 0.
      "KillSignal=SIGTERM\n"
      "TimeoutStopSec=30\n"
      "Restart=on-failure\n"
      "RestartSec=1\n"
      "User=ken\n"
      "Group=ken\n"
      "StateDirectory=", o.state_dir, "\n",
      "StateDirectoryMode=0700\n"
      "WorkingDirectory=/var/lib/", o.state_dir, "\n",
      "ProtectSystem=strict\n"
      "ProtectHome=yes\n"
      "PrivateTmp=yes\n"
      "PrivateDevices=yes\n"
      "NoNewPrivileges=yes\n"
      "ProtectKernelTunables=yes\n"
      "ProtectKernelModules=yes\n"
      "ProtectKernelLogs=yes\n"
      "ProtectControlGroups=yes\n"
      "ProtectClock=yes\n"
      "ProtectHostname=yes\n"
      "RestrictNamespaces=yes\n"
      "RestrictRealtime=yes\n"
      "RestrictSUIDSGID=yes\n"
      "LockPersonality=yes\n"
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
      "SystemCallArchitectures=native\n"
      "CapabilityBoundingSet=\n"
      // V8's JIT writes code at run time: MemoryDenyWriteExecute would stop it.
      "MemoryDenyWriteExecute=no\n"
      "LimitNOFILE=65536\n"
      "\n"
      "[Install]\n"
      "WantedBy=ken.target\n");
  files.push_back({"etc/systemd/system/ken@.service", unit});
  // No Wants= list: every host gets the same files but runs only its own
  // node ids (`systemctl enable ken.target ken@ID`); two hosts running one
  // id would make two stores of it.
  files.push_back({"etc/systemd/system/ken.target",
                   absl::StrCat("# The Ken nodes enabled on this host (systemctl enable ken.target ken@ID).\n"
                                "[Unit]\nDescription=Ken nodes of ",
                                std::filesystem::path(config.path).filename().string(),
                                "\n\n[Install]\nWantedBy=multi-user.target\n")});
  for (const NodeConfig& n : config.nodes) {
    if (!here(n.id)) continue;
    const int64_t heap = n.limits.heap_limit_mb > 0 ? n.limits.heap_limit_mb : o.default_heap_limit_mb;
    files.push_back({absl::StrCat("etc/systemd/system/ken@", n.id, ".service.d/memory.conf"),
                     absl::StrCat("# heap_limit_mb ", heap, "\n[Service]\nMemoryMax=",
                                  NodeMemoryMb(heap, n.durability.empty() ? "journal" : n.durability), "M\n")});
  }
  return files;
}

}  // namespace ken
