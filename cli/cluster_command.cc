// `ken cluster up|status|kill|down|eval CONFIG ...`: the launcher and the
// operator's view of a cluster. Status, kill and eval talk to nodes only
// through the Admin gRPC service (pids come from Admin.Status); down signals
// the supervisor through its pid file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cluster/admin_client.h"
#include "cluster/config.h"
#include "cluster/supervisor.h"
#include "runtime/node/node.h"

namespace ken {
namespace {

// What the commands present to nodes over TLS: the config's top-level
// cert and key with its CA (read once by RunCluster; empty when the
// cluster does not use TLS).
TlsPem g_admin_pem;

AdminTls AdminTlsFor(const std::string& node_id) { return AdminTls{g_admin_pem, node_id}; }

Supervisor* g_supervisor = nullptr;

void StopSupervisor(int) {
  if (g_supervisor != nullptr) g_supervisor->Stop();
}

std::string SelfExe() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "ken" : p.string();
}

pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return -1;
  return kill(static_cast<pid_t>(pid), 0) == 0 ? static_cast<pid_t>(pid) : -1;
}

// The nodes that do not answer Admin.Status, each as "ID (why)".
std::vector<std::string> SilentNodes(const ClusterConfig& config) {
  std::vector<std::string> silent;
  for (const NodeConfig& n : config.nodes) {
    absl::StatusOr<v1::StatusReply> s = AdminStatus(n.address, config.token, 500, AdminTlsFor(n.id));
    if (!s.ok()) silent.push_back(absl::StrCat(n.id, " (", s.status().message(), ")"));
  }
  return silent;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

int Up(const ClusterConfig& config, const ClusterOptions& options) {
  SupervisorOptions sup_options;
  sup_options.ken_binary = SelfExe();
  sup_options.log_level = options.log_level;
  Supervisor supervisor(config, sup_options);
  const std::string pid_file = SupervisorPidFile(config);
  if (pid_t running = ReadPid(pid_file); running > 0) {
    fprintf(stderr, "ken cluster up: a supervisor for %s is already running (pid %d)\n", config.path.c_str(), running);
    return 1;
  }
  if (absl::Status s = supervisor.Preflight(); !s.ok()) {
    fprintf(stderr, "ken cluster up: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(pid_file).parent_path(), ec);
  if (options.detach) {
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
      perror("ken cluster up: fork");
      return 1;
    }
    if (child > 0) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      std::vector<std::string> silent;
      bool exited = false;
      while (std::chrono::steady_clock::now() < deadline && !exited) {
        silent = SilentNodes(config);
        if (silent.empty()) {
          printf("cluster up: %zu nodes (supervisor pid %d, log %s)\n", config.nodes.size(), child,
                 SupervisorLogFile(config).c_str());
          return 0;
        }
        exited = kill(child, 0) != 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (exited) {
        fprintf(stderr, "ken cluster up: the supervisor exited before every node answered; see %s\n",
                SupervisorLogFile(config).c_str());
        return 1;
      }
      fprintf(stderr,
              "ken cluster up: not every node answered within 60 s: %s. The supervisor (pid %d) keeps running and "
              "restarting them; see %s, or stop it with ken cluster down %s\n",
              absl::StrJoin(silent, ", ").c_str(), child, SupervisorLogFile(config).c_str(), config.path.c_str());
      return 1;
    }
    setsid();
    // A daemon keeps no descriptor of its caller's (a pipe left open would
    // keep the caller's reader waiting for EOF).
    close_range(3, ~0U, 0);
    FILE* log = freopen(SupervisorLogFile(config).c_str(), "a", stdout);
    if (log == nullptr) _exit(1);
    dup2(fileno(stdout), 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
  }
  std::ofstream(pid_file) << getpid() << "\n";
  g_supervisor = &supervisor;
  signal(SIGTERM, StopSupervisor);
  signal(SIGINT, StopSupervisor);
  signal(SIGPIPE, SIG_IGN);
  supervisor.Run();
  if (ReadPid(pid_file) == getpid()) unlink(pid_file.c_str());
  return 0;
}

// A short age: 850ms, 12s, 3m04s, 2h05m.
std::string Age(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, "ms");
  const int64_t s = ms / 1000;
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
}

// Per channel (this node -> peer): is the peer reachable and since when,
// what waits for its ack and for how long.
std::string ChannelsJson(const v1::StatusReply& r) {
  std::string out;
  for (const auto& c : r.channels()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", "{\"peer\": ", JsonString(c.peer()),
                    ", \"reachable\": ", c.reachability_known() ? (c.peer_reachable() ? "true" : "false") : "null",
                    ", \"reachability_age_ms\": ", c.reachability_known() ? absl::StrCat(c.reachability_age_ms()) : "null",
                    ", \"unacked\": ", c.unacked(), ", \"unacked_bytes\": ", c.unacked_bytes(),
                    ", \"oldest_unacked_age_ms\": ", c.oldest_unacked_age_ms(),
                    ", \"retransmits_since_start\": ", c.retransmits(),
                    ", \"payload_bytes_sent_since_start\": ", c.payload_bytes_sent(),
                    ", \"last_send_error\": ", JsonString(c.last_send_error()), "}");
  }
  return out;
}

void PrintChannels(size_t nodes, const std::function<const v1::StatusReply*(size_t)>& reply) {
  bool any = false;
  for (size_t i = 0; i < nodes; ++i) any = any || (reply(i) != nullptr && reply(i)->channels_size() > 0);
  if (!any) return;  // every node down (or a one-node cluster)
  printf("\n%-33s %-20s %8s %14s %16s\n", "CHANNEL", "PEER STATE, FOR", "UNACKED", "OLDEST_UNACKED", "RETX_SINCE_START");
  for (size_t i = 0; i < nodes; ++i) {
    const v1::StatusReply* r = reply(i);
    if (r == nullptr) continue;
    for (const auto& c : r->channels()) {
      const std::string state = !c.reachability_known() ? "not tried yet"
                                : absl::StrCat(c.peer_reachable() ? "reachable " : "UNREACHABLE ",
                                               Age(c.reachability_age_ms()));
      printf("%-33s %-20s %8llu %14s %16llu\n", absl::StrCat(r->node_id(), " -> ", c.peer()).c_str(), state.c_str(),
             static_cast<unsigned long long>(c.unacked()),
             c.unacked() > 0 ? Age(c.oldest_unacked_age_ms()).c_str() : "-",
             static_cast<unsigned long long>(c.retransmits()));
    }
  }
}

int Status(const ClusterConfig& config, const ClusterOptions& options) {
  struct Row {
    std::string id;
    bool up = false;
    v1::StatusReply reply;
    std::string error;
    absl::StatusCode code = absl::StatusCode::kOk;
  };
  std::vector<Row> rows;
  for (const NodeConfig& n : config.nodes) {
    Row row;
    row.id = n.id;
    absl::StatusOr<v1::StatusReply> s = AdminStatus(n.address, config.token, 1000, AdminTlsFor(n.id));
    row.up = s.ok();
    if (s.ok()) {
      row.reply = *s;
    } else {
      row.error = std::string(s.status().message());
      row.code = s.status().code();
      row.reply.set_store_bytes(Node::StoreDiskBytes(n.store));
    }
    rows.push_back(row);
  }
  auto retransmits = [](const v1::StatusReply& r) {
    uint64_t n = 0;
    for (const auto& c : r.channels()) n += c.retransmits();
    return n;
  };
  if (options.json) {
    printf("[");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      printf("%s\n  {\"id\": %s, \"up\": %s, \"pid\": %lld, \"restarts\": %u, \"turns\": %llu, \"checkpoint\": %lld, "
             "\"outbox\": %llu, \"retransmits_since_start\": %llu, \"dead_letters\": %llu, "
             "\"unhandled_rejections_since_start\": %llu, \"heap_bytes\": %llu, "
             "\"store_bytes\": %llu, \"durability\": %s, \"snapshot_checkpoint\": %lld, \"incarnation\": %s, "
             "\"error\": %s",
             i ? "," : "", JsonString(r.id).c_str(), r.up ? "true" : "false",
             static_cast<long long>(r.up ? r.reply.pid() : 0), r.reply.restarts(),
             static_cast<unsigned long long>(r.reply.turns()), static_cast<long long>(r.reply.last_committed_checkpoint()),
             static_cast<unsigned long long>(r.reply.unacked_total()),
             static_cast<unsigned long long>(retransmits(r.reply)),
             static_cast<unsigned long long>(r.reply.dead_letters()),
             static_cast<unsigned long long>(r.reply.unhandled_rejections()),
             static_cast<unsigned long long>(r.reply.heap_used_bytes()),
             static_cast<unsigned long long>(r.reply.store_bytes()), JsonString(r.reply.durability()).c_str(),
             static_cast<long long>(r.reply.snapshot_checkpoint()), JsonString(r.reply.incarnation()).c_str(),
             JsonString(r.error).c_str());
      // Broken channels (both ends report them): [{"peer", "error"}, ...].
      std::string broken;
      for (const auto& c : r.reply.channels()) {
        if (c.error().empty()) continue;
        broken += absl::StrCat(broken.empty() ? "" : ", ", "{\"peer\": ", JsonString(c.peer()),
                               ", \"error\": ", JsonString(c.error()), "}");
      }
      printf(", \"broken_channels\": [%s], \"channels\": [%s]}", broken.c_str(), ChannelsJson(r.reply).c_str());
    }
    printf("\n]\n");
    return 0;
  }
  // TURNS is committed state; retransmits count from the node's start
  // (the label says so: they are not persisted).
  printf("%-16s %8s %-5s %-8s %8s %10s %8s %16s %9s %9s\n", "NODE", "PID", "STATE", "MODE", "RESTARTS", "TURNS",
         "OUTBOX", "RETX_SINCE_START", "HEAP_MB", "STORE_MB");
  for (const Row& r : rows) {
    if (r.up) {
      printf("%-16s %8lld %-5s %-8s %8u %10llu %8llu %16llu %9.1f %9.1f\n", r.id.c_str(),
             static_cast<long long>(r.reply.pid()), "up", r.reply.durability().c_str(), r.reply.restarts(),
             static_cast<unsigned long long>(r.reply.turns()), static_cast<unsigned long long>(r.reply.unacked_total()),
             static_cast<unsigned long long>(retransmits(r.reply)), r.reply.heap_used_bytes() / 1048576.0,
             r.reply.store_bytes() / 1048576.0);
    } else {
      printf("%-16s %8s %-5s %-8s %8s %10s %8s %16s %9s %9.1f\n", r.id.c_str(), "-", "down", "-", "-", "-", "-", "-", "-",
             r.reply.store_bytes() / 1048576.0);
    }
  }
  PrintChannels(rows.size(), [&](size_t i) { return rows[i].up ? &rows[i].reply : nullptr; });
  // Why a node is shown down: not running, or it refused these
  // credentials (the token, a certificate), or its name does not resolve.
  bool refused = false;
  for (const Row& r : rows) {
    if (r.up) continue;
    printf("%s: %s\n", r.id.c_str(), r.error.c_str());
    refused = refused || r.code == absl::StatusCode::kUnauthenticated || r.code == absl::StatusCode::kPermissionDenied;
  }
  for (const Row& r : rows) {
    if (!r.reply.snapshotter_error().empty()) {
      printf("%s: the snapshotter cannot write snapshots: %s\n", r.id.c_str(), r.reply.snapshotter_error().c_str());
    }
    for (const auto& c : r.reply.channels()) {
      if (!c.error().empty()) printf("%s: channel with %s broken: %s\n", r.id.c_str(), c.peer().c_str(), c.error().c_str());
    }
  }
  return refused ? 1 : 0;
}

int Kill(const ClusterConfig& config, const std::string& id) {
  const NodeConfig* n = config.Find(id);
  if (n == nullptr) {
    fprintf(stderr, "ken cluster kill: node '%s' is not in %s\n", id.c_str(), config.path.c_str());
    return 2;
  }
  absl::StatusOr<v1::StatusReply> s = AdminStatus(n->address, config.token, 2000, AdminTlsFor(n->id));
  if (!s.ok()) {
    fprintf(stderr, "ken cluster kill: node %s is not running (%s)\n", id.c_str(), std::string(s.status().message()).c_str());
    return 1;
  }
  if (kill(static_cast<pid_t>(s->pid()), SIGKILL) != 0) {
    fprintf(stderr, "ken cluster kill: kill %lld: %s\n", static_cast<long long>(s->pid()), strerror(errno));
    return 1;
  }
  printf("killed %s (pid %lld)\n", id.c_str(), static_cast<long long>(s->pid()));
  return 0;
}

int Down(const ClusterConfig& config) {
  pid_t supervisor = ReadPid(SupervisorPidFile(config));
  std::vector<pid_t> pids;
  if (supervisor > 0) {
    pids.push_back(supervisor);
  } else {
    for (const NodeConfig& n : config.nodes) {
      absl::StatusOr<v1::StatusReply> s = AdminStatus(n.address, config.token, 500, AdminTlsFor(n.id));
      if (s.ok()) pids.push_back(static_cast<pid_t>(s->pid()));
    }
  }
  if (pids.empty()) {
    printf("cluster %s is not running\n", config.path.c_str());
    return 0;
  }
  for (pid_t p : pids) kill(p, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    bool alive = false;
    for (pid_t p : pids) alive = alive || kill(p, 0) == 0;
    if (!alive) {
      printf("cluster down\n");
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fprintf(stderr, "ken cluster down: still running after 20 s\n");
  return 1;
}

int Eval(const ClusterConfig& config, const std::string& id, const std::string& source) {
  const NodeConfig* n = config.Find(id);
  if (n == nullptr) {
    fprintf(stderr, "ken cluster eval: node '%s' is not in %s\n", id.c_str(), config.path.c_str());
    return 2;
  }
  absl::StatusOr<v1::EvalReply> r = AdminEval(n->address, config.token, source, 30000, AdminTlsFor(n->id));
  if (!r.ok()) {
    fprintf(stderr, "ken cluster eval: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  if (!r->ok()) {
    fprintf(stderr, "%s\n", r->error().c_str());
    return 3;
  }
  printf("%s\n", r->result().c_str());
  return 0;
}

}  // namespace

int RunCluster(const ClusterOptions& options) {
  // certs makes the TLS files the config may already name.
  ConfigLoadOptions load;
  load.tls_files_must_exist = options.action != "certs";
  absl::StatusOr<ClusterConfig> config = LoadClusterConfig(options.config_path, load);
  if (!config.ok()) {
    fprintf(stderr, "ken cluster %s: %s\n", options.action.c_str(), std::string(config.status().message()).c_str());
    return 2;
  }
  if (options.action == "certs") return ClusterCerts(*config, options);
  if (options.action != "render" && !config->nodes.empty() && config->nodes.front().tls.enabled()) {
    if (config->tls.cert.empty() || config->tls.key.empty() || config->tls.ca.empty()) {
      fprintf(stderr,
              "ken cluster %s: the nodes use TLS; the commands need a top-level 'ca', 'cert' and 'key' to talk to "
              "them (ken cluster certs makes an admin certificate)\n",
              options.action.c_str());
      return 2;
    }
    absl::StatusOr<TlsPem> pem = ReadTls(config->tls);
    if (!pem.ok()) {
      fprintf(stderr, "ken cluster %s: %s\n", options.action.c_str(), std::string(pem.status().message()).c_str());
      return 2;
    }
    g_admin_pem = std::move(*pem);
  }
  if (options.action == "up") return Up(*config, options);
  if (options.action == "status") return Status(*config, options);
  if (options.action == "down") return Down(*config);
  if (options.action == "kill") {
    if (options.args.size() != 1) {
      fprintf(stderr, "ken cluster kill: usage: ken cluster kill CONFIG NODE\n");
      return 2;
    }
    return Kill(*config, options.args[0]);
  }
  if (options.action == "eval") {
    if (options.args.size() != 2) {
      fprintf(stderr, "ken cluster eval: usage: ken cluster eval CONFIG NODE EXPR\n");
      return 2;
    }
    return Eval(*config, options.args[0], options.args[1]);
  }
  if (options.action == "actors") return ClusterActors(*config, options.args, options.json);
  if (options.action == "render") return ClusterRender(*config, options);
  fprintf(stderr, "ken cluster: unknown action '%s' (up, status, kill, down, eval, actors, render, certs)\n", options.action.c_str());
  return 2;
}

}  // namespace ken
