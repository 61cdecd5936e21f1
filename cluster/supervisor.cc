#include "cluster/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace ken {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// spdlog's level names in order; an unknown name counts as info.
int LevelRank(const std::string& level) {
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (int i = 0; i < 7; ++i) {
    if (level == kLevels[i]) return i;
  }
  return 2;
}

constexpr int kInfo = 2, kWarn = 3, kError = 4;

}  // namespace

// The supervisor's own lines follow --log-level as the nodes' do.
void Supervisor::Say(int level, const std::string& line) const {
  if (level < LevelRank(options_.log_level)) return;
  std::string text = "[supervisor] " + line + "\n";
  fwrite(text.data(), 1, text.size(), stdout);
  fflush(stdout);
}

std::string SupervisorPidFile(const ClusterConfig& config) {
  return (std::filesystem::path(config.path).parent_path() / "data" / "supervisor.pid").string();
}

std::string SupervisorLogFile(const ClusterConfig& config) {
  return (std::filesystem::path(config.path).parent_path() / "data" / "cluster.log").string();
}

Supervisor::Supervisor(ClusterConfig config, SupervisorOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  for (const NodeConfig& n : config_.nodes) {
    Child c;
    c.id = n.id;
    children_.push_back(c);
  }
}

absl::Status CheckNodeBindable(const std::string& node, const std::string& grpc_address,
                               const std::string& http_address) {
  for (const auto& [what, address] : {std::pair<const char*, const std::string&>{"gRPC", grpc_address},
                                      std::pair<const char*, const std::string&>{"http", http_address}}) {
    if (address.empty()) continue;
    if (const std::string why = WhyNotBindable(address); !why.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("node ", node, ": ", what, " address ", address, " ", why));
    }
  }
  return absl::OkStatus();
}

absl::Status Supervisor::Preflight() const {
  for (const NodeConfig& n : config_.nodes) {
    if (absl::Status s = CheckNodeBindable(n.id, n.listen, n.http); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Supervisor::Start(Child& child) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    Say(kError, absl::StrCat("cannot start node ", child.id, ": pipe: ", strerror(errno)));
    child.restart_at_ms = NowMs() + 1000;
    return;
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::string restarts = std::to_string(child.restarts);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    setenv("KEN_RESTARTS", restarts.c_str(), 1);
    setenv("KEN_SUPERVISED", "1", 1);  // the supervisor prefixes lines with the node id
    signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the supervisor, which stops nodes with SIGTERM
    // If the supervisor itself dies (even by SIGKILL), its nodes stop too
    // rather than run on unsupervised; their state is durable either way.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) _exit(1);  // the supervisor died before prctl took effect
    signal(SIGPIPE, SIG_DFL);
    execl(options_.ken_binary.c_str(), options_.ken_binary.c_str(), "run", "--cluster", config_.path.c_str(),
          "--id", child.id.c_str(), "--log-level", options_.log_level.c_str(), static_cast<char*>(nullptr));
    fprintf(stderr, "cannot exec %s: %s\n", options_.ken_binary.c_str(), strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    Say(kError, absl::StrCat("cannot start node ", child.id, ": fork: ", strerror(errno)));
    child.restart_at_ms = NowMs() + 1000;
    return;
  }
  child.pid = pid;
  child.fd = fds[0];
  child.started_ms = NowMs();
  child.restart_at_ms = -1;
  Say(kInfo, absl::StrCat("started node ", child.id, " (pid ", pid, child.restarts ? absl::StrCat(", restart #", child.restarts) : "", ")"));
}

void Supervisor::Drain(Child& child, bool flush_partial) {
  if (child.fd < 0) return;
  char buf[8192];
  while (true) {
    ssize_t n = read(child.fd, buf, sizeof(buf));
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(child.fd);
        child.fd = -1;
        flush_partial = true;
      }
      break;
    }
    child.partial.append(buf, static_cast<size_t>(n));
    if (n < static_cast<ssize_t>(sizeof(buf))) break;
  }
  std::string out;
  size_t start = 0, nl;
  while ((nl = child.partial.find('\n', start)) != std::string::npos) {
    out += absl::StrCat("[", child.id, "] ", child.partial.substr(start, nl - start + 1));
    start = nl + 1;
  }
  child.partial.erase(0, start);
  if (flush_partial && !child.partial.empty()) {
    out += absl::StrCat("[", child.id, "] ", child.partial, "\n");
    child.partial.clear();
  }
  if (!out.empty()) {
    fwrite(out.data(), 1, out.size(), stdout);
    fflush(stdout);
  }
}

void Supervisor::Reap(int64_t now_ms) {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      Drain(c, true);
      c.pid = -1;
      std::string how = WIFSIGNALED(status) ? absl::StrCat("killed by signal ", WTERMSIG(status))
                                            : absl::StrCat("exited with code ", WEXITSTATUS(status));
      if (stop_) {
        Say(kInfo, absl::StrCat("node ", c.id, " stopped (", how, ")"));
        break;
      }
      c.fast_failures = now_ms - c.started_ms > 10000 ? 0 : c.fast_failures + 1;
      int64_t delay = std::min<int64_t>(5000, 100LL << std::min(c.fast_failures, 6));
      ++c.restarts;
      c.restart_at_ms = now_ms + delay;
      Say(kWarn, absl::StrCat("node ", c.id, " ", how, "; restart #", c.restarts, " in ", delay, " ms"));
    }
  }
}

void Supervisor::Run() {
  for (Child& c : children_) Start(c);
  int64_t stop_deadline = -1;
  while (true) {
    int64_t now = NowMs();
    if (stop_ && stop_deadline < 0) {
      Say(kInfo, "stopping every node (SIGTERM)");
      for (Child& c : children_) {
        if (c.pid > 0) kill(c.pid, SIGTERM);
        c.restart_at_ms = -1;
      }
      stop_deadline = now + 10000;
    }
    if (stop_deadline >= 0 && now > stop_deadline) {
      for (Child& c : children_) {
        if (c.pid > 0) {
          Say(kWarn, absl::StrCat("node ", c.id, " did not stop in 10 s; SIGKILL"));
          kill(c.pid, SIGKILL);
        }
      }
      stop_deadline = now + 100000;
    }
    bool any_running = false;
    for (Child& c : children_) {
      if (c.pid > 0) any_running = true;
      if (!stop_ && c.pid < 0 && c.restart_at_ms >= 0 && now >= c.restart_at_ms) {
        Start(c);
        any_running = true;
      }
    }
    if (stop_ && !any_running) break;
    std::vector<struct pollfd> fds;
    for (Child& c : children_) {
      if (c.fd >= 0) fds.push_back({c.fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 100);
    for (Child& c : children_) Drain(c, false);
    Reap(NowMs());
  }
  Say(kInfo, "all nodes stopped");
}

}  // namespace ken
