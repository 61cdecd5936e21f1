#include "cluster/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>
#include <vector>
#include <sstream>

#include "absl/strings/numbers.h"
#include "base/host_port.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace ken {
namespace {

std::string Where(const std::string& name, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return name;
  return absl::StrCat(name, ":", mark.line + 1);
}

absl::Status Error(const std::string& name, const YAML::Node& node, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Where(name, node), ": ", what));
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

absl::StatusOr<std::string> ScalarField(const std::string& name, const YAML::Node& map, const char* key,
                                        bool required) {
  YAML::Node v = map[key];
  if (!v) {
    if (required) return Error(name, map, absl::StrCat("missing field '", key, "'"));
    return std::string();
  }
  if (!v.IsScalar()) return Error(name, v, absl::StrCat("'", key, "' must be a string"));
  return v.as<std::string>();
}

// gRPC metadata values (the token travels as "authorization: Bearer T")
// must be printable ASCII; spaces would be ambiguous around the token.
bool ValidToken(const std::string& token) {
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return !token.empty();
}

const char* const kLimitKeys[] = {"max_unacked_messages",   "max_unacked_bytes",   "max_buffered_messages",
                                  "max_checkpoint_bytes",   "snapshot_every_commits", "snapshot_every_bytes",
                                  "snapshot_every_ms",      "journal_max_commits",  "http_max_body_bytes",
                                  "heap_limit_mb"};

// Reads the limits present in `map` over `limits`.
absl::Status ParseLimits(const std::string& name, const YAML::Node& map, NodeLimits* limits) {
  struct Key {
    const char* key;
    int64_t* value;
    int64_t max;
  } keys[] = {
      {"max_unacked_messages", &limits->max_unacked_messages, 1ll << 40},
      {"max_unacked_bytes", &limits->max_unacked_bytes, 1ll << 40},
      {"max_buffered_messages", &limits->max_buffered_messages, 1ll << 40},
      // SQLite refuses a value over 1,000,000,000 bytes.
      {"max_checkpoint_bytes", &limits->max_checkpoint_bytes, 999000000},
      {"snapshot_every_commits", &limits->snapshot_every_commits, 1ll << 40},
      {"snapshot_every_bytes", &limits->snapshot_every_bytes, 1ll << 40},
      {"snapshot_every_ms", &limits->snapshot_every_ms, 7ll * 24 * 3600 * 1000},
      {"journal_max_commits", &limits->journal_max_commits, 1ll << 40},
      // A body is one turn input: it must fit a commit with room to spare.
      {"http_max_body_bytes", &limits->http_max_body_bytes, 256ll << 20},
      {"heap_limit_mb", &limits->heap_limit_mb, 65536},
  };
  for (const Key& k : keys) {
    YAML::Node v = map[k.key];
    if (!v) continue;
    int64_t n = 0;
    // V8 cannot run in less than 16 MiB of old generation.
    const int64_t min = k.value == &limits->heap_limit_mb ? 16 : 1;
    if (!v.IsScalar() || !absl::SimpleAtoi(v.as<std::string>(), &n) || n < min || n > k.max) {
      return Error(name, v, absl::StrCat("'", k.key, "' must be a whole number from ", min, " to ", k.max));
    }
    *k.value = n;
  }
  return absl::OkStatus();
}

constexpr uintmax_t kMaxScriptBytes = 64 << 20;

// The token kept in `path` (a mounted Kubernetes Secret, a file only root
// reads): its contents without trailing whitespace and newlines.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat("cannot read token_file ", path, " (", strerror(errno), ")"));
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat("token_file ", path, " is not a regular file"));
  if (st.st_size > 4096) return absl::InvalidArgumentError(absl::StrCat("token_file ", path, " is over 4096 bytes"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token_file ", path, " (", strerror(errno), ")"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

// Why a node's script cannot be read, in the OS's words ("No such file or
// directory", "Permission denied", "Not a directory"), or "" if it can.
std::string WhyUnreadableScript(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";  // a directory, a FIFO, a device
  if (static_cast<uintmax_t>(st.st_size) > kMaxScriptBytes) return "over 64 MiB";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return strerror(errno);
  close(fd);
  return "";
}

// The line (1-based) of a '---' that starts a second YAML document, or 0:
// a '---' line after any content (the first document may start with one).
int SecondDocumentLine(const std::string& yaml) {
  bool content = false;
  int line = 0;
  size_t at = 0;
  while (at <= yaml.size()) {
    size_t end = yaml.find('\n', at);
    if (end == std::string::npos) end = yaml.size();
    std::string text = yaml.substr(at, end - at);
    ++line;
    const bool marker = text.rfind("---", 0) == 0 && (text.size() == 3 || text[3] == ' ' || text[3] == '\t' ||
                                                      text[3] == '\r');
    if (marker && content) return line;
    const size_t first = text.find_first_not_of(" \t\r");
    if (!marker && first != std::string::npos && text[first] != '#') content = true;
    at = end + 1;
  }
  return 0;
}

absl::Status CheckKeys(const std::string& name, const YAML::Node& map, const std::set<std::string>& allowed,
                       const std::string& where);

// `ca`, `cert`, `key` in `map` (the top level, or node `node`'s entry) over
// `tls`: readable files, relative to the config's folder.
absl::Status ParseTlsFiles(const std::string& name, const YAML::Node& map, const std::string& base_dir,
                           const std::string& node, bool must_exist, TlsFiles* tls) {
  for (auto [key, out] : {std::pair<const char*, std::string*>{"ca", &tls->ca}, {"cert", &tls->cert}, {"key", &tls->key}}) {
    absl::StatusOr<std::string> value = ScalarField(name, map, key, false);
    if (!value.ok()) return value.status();
    if (!map[key]) continue;
    if (value->empty()) return Error(name, map[key], absl::StrCat("'", key, "' must name a PEM file"));
    *out = Resolve(base_dir, *value);
    if (!must_exist) continue;
    if (const std::string why = WhyUnreadableScript(*out); !why.empty()) {
      return Error(name, map[key], absl::StrCat(node.empty() ? "" : absl::StrCat("node '", node, "': "), "cannot read ",
                                                key, " ", *out, " (", why, ")"));
    }
  }
  return absl::OkStatus();
}

// `actors:`: kind -> {placement: [node ids]}. Kinds are 1-100 printable
// ASCII characters; each list is non-empty, of nodes of the config, each once.
absl::Status ParseActors(const std::string& name, const YAML::Node& actors, ClusterConfig* config) {
  if (!actors) return absl::OkStatus();
  if (!actors.IsMap()) {
    return Error(name, actors, "'actors' must map actor kinds to their settings (e.g. Room: {placement: [a, b]})");
  }
  for (const auto& kv : actors) {
    const std::string kind = kv.first.IsScalar() ? kv.first.as<std::string>() : "";
    bool printable = !kind.empty() && kind.size() <= 100;
    for (char c : kind) printable = printable && c > 0x20 && c < 0x7f;
    if (!printable) return Error(name, kv.first, "actors: a kind must be 1-100 printable ASCII characters without spaces");
    if (config->actor_placement.count(kind)) return Error(name, kv.first, absl::StrCat("actors: duplicate kind '", kind, "'"));
    if (!kv.second.IsMap()) return Error(name, kv.second, absl::StrCat("actors: '", kind, "' must be a mapping (placement)"));
    if (absl::Status s = CheckKeys(name, kv.second, {"placement"}, absl::StrCat(" in actors: ", kind)); !s.ok()) return s;
    const YAML::Node list = kv.second["placement"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      return Error(name, list ? list : kv.second,
                   absl::StrCat("actors: '", kind, "': 'placement' must be a non-empty list of node ids"));
    }
    std::vector<std::string>& ids = config->actor_placement[kind];
    for (const YAML::Node& n : list) {
      const std::string id = n.IsScalar() ? n.as<std::string>() : "";
      if (config->Find(id) == nullptr) {
        return Error(name, n, absl::StrCat("actors: '", kind, "': placement names '", id, "', which is not a node of this config"));
      }
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
        return Error(name, n, absl::StrCat("actors: '", kind, "': placement names '", id, "' twice"));
      }
      ids.push_back(id);
    }
  }
  return absl::OkStatus();
}

// Every key of `map` must be a scalar in `allowed`, given once.
absl::Status CheckKeys(const std::string& name, const YAML::Node& map, const std::set<std::string>& allowed,
                       const std::string& where) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) return Error(name, kv.first, absl::StrCat("a key", where, " must be a plain name"));
    std::string key = kv.first.as<std::string>();
    if (!seen.insert(key).second) {
      return Error(name, kv.first, absl::StrCat("duplicate key '", key, "'", where));
    }
    if (!allowed.count(key)) {
      std::string expected;
      for (const std::string& a : allowed) expected += (expected.empty() ? "" : ", ") + a;
      return Error(name, kv.first, absl::StrCat("unknown key '", key, "'", where, " (expected ", expected, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterConfig> Parse(const std::string& yaml, const std::string& base_dir, const std::string& name,
                                    const ConfigLoadOptions& options);

}  // namespace

const NodeConfig* ClusterConfig::Find(const std::string& id) const {
  for (const NodeConfig& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

std::map<std::string, std::string> ClusterConfig::DialAddressesOf(const std::string& id) const {
  std::map<std::string, std::string> addresses;
  const NodeConfig* me = Find(id);
  for (const NodeConfig& n : nodes) {
    if (n.id == id) continue;
    addresses[n.id] = n.address;
    if (me == nullptr) continue;
    if (auto over = me->peer_addresses.find(n.id); over != me->peer_addresses.end()) addresses[n.id] = over->second;
  }
  return addresses;
}

std::vector<std::string> ClusterConfig::PeersOf(const std::string& id) const {
  std::vector<std::string> peers;
  for (const NodeConfig& n : nodes) {
    if (n.id != id) peers.push_back(n.id);
  }
  return peers;
}


absl::StatusOr<ClusterConfig> ParseClusterConfig(const std::string& yaml, const std::string& base_dir,
                                                 const std::string& name, const ConfigLoadOptions& options) {
  // yaml-cpp throws on conversions it cannot make; every one is a config
  // error, never a crash.
  try {
    return Parse(yaml, base_dir, name, options);
  } catch (const YAML::Exception& e) {
    if (e.mark.line < 0) return absl::InvalidArgumentError(absl::StrCat(name, ": ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat(name, ":", e.mark.line + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", e.what()));
  }
}

namespace {

absl::StatusOr<ClusterConfig> Parse(const std::string& yaml, const std::string& base_dir, const std::string& name,
                                    const ConfigLoadOptions& options) {
  YAML::Node root;
  try {
    // One document only: a second would be ignored by YAML::Load. (Found by
    // its '---' line; yaml-cpp's LoadAll can loop forever on malformed text.)
    if (int line = SecondDocumentLine(yaml); line > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line, ": the cluster config must be one YAML document (found a second '---')"));
    }
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  if (!root.IsMap()) return Error(name, root, "the cluster config must be a mapping (token, nodes, ...)");
  ClusterConfig config;
  std::set<std::string> top_keys = {"token", "token_file", "durability", "nodes", "max_message_bytes", "actors",
                                    "ca",    "cert",       "key"};
  std::set<std::string> node_keys = {"id",   "address",    "listen",        "script", "store", "http",
                                     "durability", "peer_addresses", "ca", "cert", "key"};
  for (const char* k : kLimitKeys) {
    top_keys.insert(k);
    node_keys.insert(k);
  }
  if (absl::Status s = CheckKeys(name, root, top_keys, ""); !s.ok()) return s;
  // KEN_CLUSTER_TOKEN, when set, replaces the file's token (which may then
  // be left out).
  const char* env = getenv("KEN_CLUSTER_TOKEN");
  const bool env_token = env != nullptr && *env != '\0';
  absl::StatusOr<std::string> token_file = ScalarField(name, root, "token_file", false);
  if (!token_file.ok()) return token_file.status();
  if (root["token_file"] && token_file->empty()) return Error(name, root["token_file"], "'token_file' must name a file");
  if (root["token"] && root["token_file"]) {
    return Error(name, root["token_file"], "give either 'token' or 'token_file', not both");
  }
  absl::StatusOr<std::string> token = ScalarField(name, root, "token", !env_token && token_file->empty());
  if (!token.ok()) return token.status();
  const char* token_key = "token";
  if (!token_file->empty()) {
    config.token_file = Resolve(base_dir, *token_file);
    token_key = "token_file";
    if (!env_token) {
      absl::StatusOr<std::string> read = ReadTokenFile(config.token_file);
      if (!read.ok()) return Error(name, root["token_file"], std::string(read.status().message()));
      *token = *read;
    }
  }
  if (!env_token && token->empty()) {
    return Error(name, root[token_key], token_file->empty() ? "'token' must not be empty"
                                                            : absl::StrCat("token_file ", config.token_file, " is empty"));
  }
  if (!token->empty() && !ValidToken(*token)) {
    return Error(name, root[token_key], absl::StrCat(token_file->empty() ? "'token'" : "the token in " + config.token_file,
                                                     " must be printable ASCII without spaces (it is sent as gRPC metadata)"));
  }
  config.token = *token;
  if (env_token) {
    if (!ValidToken(env)) {
      return absl::InvalidArgumentError("KEN_CLUSTER_TOKEN must be printable ASCII without spaces");
    }
    config.token = env;
  }
  if (absl::Status s = ParseLimits(name, root, &config.limits); !s.ok()) return s;
  absl::StatusOr<std::string> durability = ScalarField(name, root, "durability", false);
  if (!durability.ok()) return durability.status();
  config.durability = *durability;
  if (!durability->empty() && !ValidDurability(config.durability)) {
    return Error(name, root["durability"],
                 absl::StrCat("durability '", config.durability, "' is not supported (supported: snapshot, journal)"));
  }
  if (absl::Status st = ParseTlsFiles(name, root, base_dir, "", options.tls_files_must_exist, &config.tls); !st.ok()) return st;
  if (YAML::Node m = root["max_message_bytes"]) {
    int64_t v = 0;
    if (!m.IsScalar() || !absl::SimpleAtoi(m.as<std::string>(), &v) || v < 1 || v > (64 << 20)) {
      return Error(name, m, "'max_message_bytes' must be a number of bytes from 1 to 67108864");
    }
    config.max_message_bytes = v;
  }
  YAML::Node nodes = root["nodes"];
  if (!nodes) return Error(name, root, "missing field 'nodes'");
  if (!nodes.IsSequence() || nodes.size() == 0) return Error(name, nodes, "'nodes' must be a non-empty list");
  std::set<std::string> ids, addresses;
  struct PeerMark {
    std::string node, peer;
    YAML::Node key;
  };
  std::vector<PeerMark> peer_marks;
  for (const YAML::Node& n : nodes) {
    if (!n.IsMap()) return Error(name, n, "each node must be a mapping (id, address, script, ...)");
    if (absl::Status s = CheckKeys(name, n, node_keys, " in node"); !s.ok()) return s;
    NodeConfig node;
    node.limits = config.limits;
    if (absl::Status s = ParseLimits(name, n, &node.limits); !s.ok()) return s;
    absl::StatusOr<std::string> id = ScalarField(name, n, "id", true);
    if (!id.ok()) return id.status();
    if (!ValidId(*id)) return Error(name, n["id"], absl::StrCat("node id '", *id, "' must be 1-63 characters of [a-z0-9-]"));
    if (!ids.insert(*id).second) return Error(name, n["id"], absl::StrCat("duplicate node id '", *id, "'"));
    node.id = *id;
    absl::StatusOr<std::string> address = ScalarField(name, n, "address", true);
    if (!address.ok()) return address.status();
    if (!ParseHostPort(*address, &node.host, &node.port)) {
      return Error(name, n["address"], absl::StrCat("node '", node.id, "': cannot parse address '", *address, "' (expected host:port)"));
    }
    if (!addresses.insert(*address).second) {
      return Error(name, n["address"], absl::StrCat("node '", node.id, "': duplicate address '", *address, "'"));
    }
    node.address = *address;
    absl::StatusOr<std::string> listen = ScalarField(name, n, "listen", false);
    if (!listen.ok()) return listen.status();
    node.listen = listen->empty() ? node.address : *listen;
    std::string listen_host;
    int listen_port = 0;
    if (!listen->empty() && !ParseHostPort(*listen, &listen_host, &listen_port)) {
      return Error(name, n["listen"], absl::StrCat("node '", node.id, "': cannot parse listen address '", *listen,
                                                   "' (expected host:port, e.g. 0.0.0.0:7001)"));
    }
    absl::StatusOr<std::string> script = ScalarField(name, n, "script", true);
    if (!script.ok()) return script.status();
    node.script = Resolve(base_dir, *script);
    if (const std::string why = WhyUnreadableScript(node.script); !why.empty()) {
      return Error(name, n["script"], absl::StrCat("node '", node.id, "': cannot read script ", node.script, " (", why, ")"));
    }
    absl::StatusOr<std::string> store = ScalarField(name, n, "store", false);
    if (!store.ok()) return store.status();
    node.store = Resolve(base_dir, store->empty() ? absl::StrCat("data/", node.id, ".ken") : *store);
    absl::StatusOr<std::string> http = ScalarField(name, n, "http", false);
    if (!http.ok()) return http.status();
    if (!http->empty()) {
      std::string h;
      int p;
      if (!ParseHostPort(*http, &h, &p)) {
        return Error(name, n["http"], absl::StrCat("node '", node.id, "': cannot parse http address '", *http, "'"));
      }
      // A wildcard host (0.0.0.0, [::]) binds every interface of the node's
      // own machine: nodes on different machines (pods) may all use one.
      const bool wildcard = h == "0.0.0.0" || h == "[::]";
      if (!wildcard && !addresses.insert(*http).second) {
        return Error(name, n["http"], absl::StrCat("node '", node.id, "': duplicate address '", *http, "'"));
      }
      node.http = *http;
    }
    absl::StatusOr<std::string> node_durability = ScalarField(name, n, "durability", false);
    if (!node_durability.ok()) return node_durability.status();
    node.durability = node_durability->empty() ? config.durability : *node_durability;
    if (!node_durability->empty() && !ValidDurability(node.durability)) {
      return Error(name, n["durability"], absl::StrCat("node '", node.id, "': durability '", node.durability,
                                                       "' is not supported (supported: snapshot, journal)"));
    }
    if (node.limits.journal_max_commits < node.limits.snapshot_every_commits) {
      return Error(name, n, absl::StrCat("node '", node.id, "': 'journal_max_commits' (", node.limits.journal_max_commits,
                                         ") must be at least 'snapshot_every_commits' (",
                                         node.limits.snapshot_every_commits, ")"));
    }
    if (YAML::Node peers = n["peer_addresses"]) {
      if (!peers.IsMap()) {
        return Error(name, peers, absl::StrCat("node '", node.id, "': 'peer_addresses' must map node ids to host:port"));
      }
      for (const auto& kv : peers) {
        if (!kv.first.IsScalar()) {
          return Error(name, kv.first, absl::StrCat("node '", node.id, "': peer_addresses: a key must be a node id"));
        }
        const std::string peer = kv.first.as<std::string>();
        if (node.peer_addresses.count(peer)) {
          return Error(name, kv.first, absl::StrCat("node '", node.id, "': peer_addresses: duplicate key '", peer, "'"));
        }
        std::string h;
        int p;
        if (!kv.second.IsScalar() || !ParseHostPort(kv.second.as<std::string>(), &h, &p)) {
          const std::string got = kv.second.IsScalar() ? absl::StrCat("'", kv.second.as<std::string>(), "'")
                                                       : std::string("a list or mapping");
          return Error(name, kv.second,
                       absl::StrCat("node '", node.id, "': peer_addresses: the address of '", peer, "' is ", got,
                                    "; it must be host:port (a host name, an IPv4 address or [IPv6], a port 1-65535)"));
        }
        node.peer_addresses[peer] = kv.second.as<std::string>();
        peer_marks.push_back({node.id, peer, kv.first});
      }
    }
    node.tls = config.tls;
    if (absl::Status st = ParseTlsFiles(name, n, base_dir, node.id, options.tls_files_must_exist, &node.tls); !st.ok()) return st;
    if ((node.tls.ca.empty() || node.tls.cert.empty() || node.tls.key.empty()) &&
        !(node.tls.ca.empty() && node.tls.cert.empty() && node.tls.key.empty())) {
      return Error(name, n, absl::StrCat("node '", node.id, "': TLS needs 'ca', 'cert' and 'key' (here or at the top "
                                         "level); this node has only some of them"));
    }
    if (!config.nodes.empty() && node.tls.enabled() != config.nodes.front().tls.enabled()) {
      return Error(name, n, absl::StrCat("node '", node.id, "' ", node.tls.enabled() ? "uses" : "does not use",
                                         " TLS but node '", config.nodes.front().id, "' ",
                                         node.tls.enabled() ? "does not" : "does", ": all nodes or none"));
    }
    config.nodes.push_back(std::move(node));
  }
  // peer_addresses may name only other nodes of the config (any order).
  for (const PeerMark& m : peer_marks) {
    if (m.peer == m.node || config.Find(m.peer) == nullptr) {
      return Error(name, m.key, absl::StrCat("node '", m.node, "': peer_addresses names '", m.peer, "', ",
                                             m.peer == m.node ? "the node itself" : "which is not a node of this config"));
    }
  }
  if (absl::Status s = ParseActors(name, root["actors"], &config); !s.ok()) return s;
  return config;
}

}  // namespace

bool ValidDurability(const std::string& mode) { return mode == "snapshot" || mode == "journal"; }

std::string ClusterConfig::ActorPlacementJson() const {
  nlohmann::json ids = nlohmann::json::array();
  std::vector<std::string> sorted;
  for (const NodeConfig& n : nodes) sorted.push_back(n.id);
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& id : sorted) ids.push_back(id);
  nlohmann::json kinds = nlohmann::json::object();
  for (const auto& [kind, list] : actor_placement) kinds[kind] = list;
  return nlohmann::json{{"nodes", ids}, {"kinds", kinds}, {"max_message_bytes", max_message_bytes}}.dump();
}

absl::StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path, const ConfigLoadOptions& options) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read cluster config ", path, " (", strerror(errno), ")"));
  std::stringstream text;
  text << in.rdbuf();
  std::string absolute = std::filesystem::absolute(path).lexically_normal().string();
  absl::StatusOr<ClusterConfig> config =
      ParseClusterConfig(text.str(), std::filesystem::path(absolute).parent_path().string(), path, options);
  if (config.ok()) config->path = absolute;
  return config;
}

}  // namespace ken
