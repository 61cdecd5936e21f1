// messaging_bench: what exactly-once, durable messaging costs between two Ken
// nodes, next to raw gRPC streaming of the same payloads.
//
// Ken side: two real `ken run` processes (a and b) in a temporary cluster on
// free loopback ports. Node a sends --messages messages of --payload_bytes
// each to b with a fixed window in flight; b echoes each one back; a records
// every round trip (Date.now() at send and at receipt, in its heap). Every
// delivery is a turn, and every batch of turns is snapshotted and committed
// (fsync'd) before its sends and acks leave the node. The benchmark polls
// a's Admin.Status RPC until every echo is delivered, stops the nodes, and
// reads the round trips back with `ken inspect`.
//
// Peer, in the same run: this binary re-executed as a plain gRPC echo server
// (bench/echo.proto, one bidirectional stream), and a client that sends the
// same payloads with the same windows, timing each round trip with
// steady_clock. bench/README.md explains the columns.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/echo.grpc.pb.h"
#include "proto/ken.grpc.pb.h"

ABSL_FLAG(std::string, ken, "",
          "the ken binary (default: the one built with this benchmark, from its runfiles; "
          "else bazel-bin/cli/ken)");
ABSL_FLAG(std::vector<std::string>, windows, std::vector<std::string>({"1", "64", "256"}),
          "comma-separated windows (messages in flight) to measure, one row each");
ABSL_FLAG(int, messages, 20000, "messages per row for windows above 1");
ABSL_FLAG(int, window1_messages, 1000,
          "messages for the window-1 row: every Ken round trip there waits for two commits");
ABSL_FLAG(int, payload_bytes, 1024, "bytes of payload per message");
ABSL_FLAG(std::string, dir, "/tmp",
          "directory for the temporary cluster; its file system is the disk the nodes fsync to");
ABSL_FLAG(std::string, durability, "journal", "Ken's durability mode: journal or snapshot");
ABSL_FLAG(int, timeout_s, 120, "give up on a Ken row after this many seconds");
ABSL_FLAG(bool, calls, false,
          "request/reply: a awaits ken.call('b', msg) in `window` concurrent loops and b's handler returns "
          "the message; the peer is gRPC unary calls from `window` threads");
ABSL_FLAG(bool, echo_server, false,
          "internal: run as the gRPC echo peer (prints its port, serves until killed)");

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "messaging-bench";
constexpr int kPollMs = 50;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Nearest-rank percentile (p in 0..100) of unsorted values.
double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::min(values.size(), std::max<size_t>(rank, 1)) - 1];
}

// What one side measured for one window.
struct Measured {
  int messages = 0;
  double elapsed_ms = 0;  // first send to last receipt
  double p50_ms = 0;
  double p99_ms = 0;
  double MsgsPerSecond() const { return elapsed_ms > 0 ? messages * 1000.0 / elapsed_ms : 0; }
};

Measured Summarize(const std::vector<double>& rtts_ms, double elapsed_ms) {
  Measured m;
  m.messages = static_cast<int>(rtts_ms.size());
  m.elapsed_ms = elapsed_ms;
  m.p50_ms = Percentile(rtts_ms, 50);
  m.p99_ms = Percentile(rtts_ms, 99);
  return m;
}

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0).
absl::StatusOr<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", strerror(errno)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The last `lines` lines of a log, for error messages.
std::string Tail(const std::string& text, int lines) {
  size_t pos = text.size();
  while (lines-- > 0 && pos > 0) {
    size_t nl = text.rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
  }
  return text.substr(pos);
}

// A child process, killed and reaped by the destructor at the latest. The
// child also gets SIGKILL if this process dies (PR_SET_PDEATHSIG), so no
// node or echo server outlives a crashed or killed benchmark.
class Child {
 public:
  // Runs argv with stdout and stderr appended to `log_path`, or, with
  // `stdout_pipe`, stdout to a pipe (read with ReadLine) and stderr to the log.
  static absl::StatusOr<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                                      const std::string& log_path,
                                                      bool stdout_pipe = false) {
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
    int pipefd[2] = {-1, -1};
    if (stdout_pipe && pipe2(pipefd, O_CLOEXEC) != 0) {
      close(log);
      return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
      int error = errno;
      close(log);
      if (stdout_pipe) {
        close(pipefd[0]);
        close(pipefd[1]);
      }
      return absl::InternalError(absl::StrCat("fork: ", strerror(error)));
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);  // the parent died before prctl
      setpgid(0, 0);  // Ctrl-C reaches only the benchmark, which then kills its children
      dup2(stdout_pipe ? pipefd[1] : log, 1);
      dup2(log, 2);
      execv(args[0], args.data());
      fprintf(stderr, "exec %s: %s\n", args[0], strerror(errno));
      _exit(127);
    }
    close(log);
    std::unique_ptr<Child> child(new Child(pid, log_path));
    if (stdout_pipe) {
      close(pipefd[1]);
      child->stdout_fd_ = pipefd[0];
    }
    return child;
  }

  ~Child() { Kill(); }

  // False once it exited (sets *status).
  bool Running() {
    if (reaped_) return false;
    if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }

  // SIGTERM, then SIGKILL if it has not exited within `grace_ms`.
  void Stop(int grace_ms) {
    if (!Running()) return;
    kill(pid_, SIGTERM);
    Clock::time_point start = Clock::now();
    while (Running() && MsSince(start) < grace_ms) usleep(10000);
    Kill();
  }

  void Kill() {
    if (stdout_fd_ >= 0) close(stdout_fd_);
    stdout_fd_ = -1;
    if (reaped_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }

  // One line of the child's stdout (without the newline), within `timeout_ms`.
  absl::StatusOr<std::string> ReadLine(int timeout_ms) {
    std::string line;
    Clock::time_point start = Clock::now();
    while (MsSince(start) < timeout_ms && !g_interrupted) {
      struct timeval tv = {0, 50000};
      fd_set fds;
      FD_ZERO(&fds);
      FD_SET(stdout_fd_, &fds);
      if (select(stdout_fd_ + 1, &fds, nullptr, nullptr, &tv) <= 0) continue;
      char c;
      ssize_t n = read(stdout_fd_, &c, 1);
      if (n <= 0) break;
      if (c == '\n') return line;
      line += c;
    }
    return absl::UnavailableError(absl::StrCat("no line from pid ", pid_, "; its log:\n",
                                               Tail(ReadFileOrEmpty(log_path_), 20)));
  }

  std::string Describe() {
    std::string state = "running";
    if (!Running()) {
      state = WIFEXITED(status_) ? absl::StrCat("exited with code ", WEXITSTATUS(status_))
                                 : absl::StrCat("killed by signal ", WTERMSIG(status_));
    }
    return absl::StrCat("pid ", pid_, " ", state, "; last lines of ", log_path_, ":\n",
                        Tail(ReadFileOrEmpty(log_path_), 20));
  }

 private:
  Child(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  int stdout_fd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// Runs a program to completion; its stdout, or an error with its stderr.
absl::StatusOr<std::string> RunProgram(const std::vector<std::string>& argv,
                                       const std::string& scratch_dir) {
  std::string out_path = scratch_dir + "/program.out";
  std::string err_path = scratch_dir + "/program.err";
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string out = ReadFileOrEmpty(out_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " ", argv[1], " failed: ",
                                            ReadFileOrEmpty(err_path), out));
  }
  return out;
}

// ---------------------------------------------------------------- Ken side

// Node a: sends N messages ({i, p}, p a flat string of B bytes) to b with W in
// flight, and records each round trip in ms. Everything lives in a's heap.
std::string SenderScript(int messages, int window, int payload_bytes) {
  return absl::StrCat(
      "// messaging_bench node a: ", messages, " messages, window ", window, "\n",
      "var N = ", messages, ", W = ", window, ";\n",
      "var payload = 'x'.repeat(", payload_bytes, ").toLowerCase();  // one flat string\n",
      R"js(var sent = 0, got = 0, duplicates = 0, t0 = 0, t1 = 0;
var sentAt = new Float64Array(N);      // Date.now() at ken.send
var rtt = new Int32Array(N).fill(-1);  // ms from ken.send to the echo's turn
function sendNext() {
  var i = sent++;
  sentAt[i] = Date.now();
  ken.send('b', {i: i, p: payload});
}
ken.receive(function (msg) {
  var now = Date.now();
  if (rtt[msg.i] !== -1) { duplicates++; return; }
  rtt[msg.i] = now - sentAt[msg.i];
  got++;
  if (got === N) t1 = now;
  else if (sent < N) sendNext();
});
t0 = Date.now();
for (var k = 0; k < W && sent < N; k++) sendNext();
)js");
}

// --calls: node a keeps W calls in flight (W loops, each awaiting
// ken.call('b', {i, p}) before its next call); the same records.
std::string CallerScript(int messages, int window, int payload_bytes) {
  return absl::StrCat(
      "// messaging_bench --calls node a: ", messages, " calls, window ", window, "\n",
      "var N = ", messages, ", W = ", window, ";\n",
      "var payload = 'x'.repeat(", payload_bytes, ").toLowerCase();  // one flat string\n",
      R"js(var sent = 0, got = 0, duplicates = 0, t0 = 0, t1 = 0;
var sentAt = new Float64Array(N);      // Date.now() at ken.call
var rtt = new Int32Array(N).fill(-1);  // ms from ken.call to the turn that got its reply
async function loop() {
  while (sent < N) {
    var i = sent++;
    sentAt[i] = Date.now();
    var reply = await ken.call('b', {i: i, p: payload}, {timeout: Infinity});
    var now = Date.now();
    if (rtt[reply.i] !== -1) { duplicates++; continue; }
    rtt[reply.i] = now - sentAt[reply.i];
    if (++got === N) t1 = now;
  }
}
t0 = Date.now();
for (var k = 0; k < W; k++) loop();
)js");
}

// --calls: node b's handler returns each call's message as its reply.
constexpr char kReplyScript[] = R"js(// messaging_bench --calls node b: replies with every call's message
var echoed = 0;
ken.receive(function (msg) {
  echoed++;
  return msg;
});
)js";

// Node b: echoes every message to its sender.
constexpr char kEchoScript[] = R"js(// messaging_bench node b: echoes every message
var echoed = 0;
ken.receive(function (msg, from) {
  echoed++;
  ken.send(from, msg);
});
)js";

// Admin.Status of one node, over its own channel.
class AdminClient {
 public:
  // Create it once the node listens (WaitForListening): a channel that
  // first met a refused connection retries only after gRPC's backoff.
  explicit AdminClient(const std::string& address)
      : stub_(ken::v1::Admin::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  absl::StatusOr<ken::v1::StatusReply> Status() {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    ken::v1::StatusReply reply;
    grpc::Status status = stub_->Status(&context, ken::v1::StatusRequest(), &reply);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    return reply;
  }

 private:
  std::unique_ptr<ken::v1::Admin::Stub> stub_;
};

// What the Ken side measured for one window, plus the batching that explains it.
struct KenResult {
  Measured measured;
  uint64_t a_batches = 0;  // commits of node a that delivered messages
  double a_heap_mb = 0;    // node a's used heap at its last snapshot
};

// Waits until `node` accepts TCP connections on 127.0.0.1:`port`.
absl::Status WaitForListening(int port, Child& node, Clock::time_point deadline, const char* what) {
  while (true) {
    if (g_interrupted) return absl::CancelledError("interrupted");
    if (!node.Running()) {
      return absl::InternalError(absl::StrCat("node ", what, " stopped: ", node.Describe()));
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool up = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (up) return absl::OkStatus();
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("node ", what, " did not listen on port ",
                                                      port, " before --timeout_s: ",
                                                      node.Describe()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Polls `node`'s Admin.Status until its script has run: `ken run` listens
// before it runs the script, and reports a heap size only after it.
absl::StatusOr<ken::v1::StatusReply> WaitForScript(AdminClient& admin, Child& node,
                                                   Clock::time_point deadline, const char* what) {
  while (true) {
    if (g_interrupted) return absl::CancelledError("interrupted");
    if (!node.Running()) {
      return absl::InternalError(absl::StrCat("node ", what, " stopped: ", node.Describe()));
    }
    absl::StatusOr<ken::v1::StatusReply> status = admin.Status();
    if (status.ok() && status->heap_used_bytes() > 0) return status;
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("node ", what, " did not start before --timeout_s (",
                       status.status().ToString(), "): ", node.Describe()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

// Polls `node`'s Admin.Status until it has run `turns` turns (each committed).
absl::StatusOr<ken::v1::StatusReply> WaitForTurns(AdminClient& admin, Child& node, uint64_t turns,
                                                  Clock::time_point deadline, const char* what) {
  while (true) {
    if (g_interrupted) return absl::CancelledError("interrupted");
    if (!node.Running()) {
      return absl::InternalError(absl::StrCat("node ", what, " stopped: ", node.Describe()));
    }
    absl::StatusOr<ken::v1::StatusReply> status = admin.Status();
    if (status.ok() && status->turns() >= turns) return status;
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "node ", what, " ran ", status.ok() ? absl::StrCat(status->turns()) : "?", " of ", turns,
          " turns before --timeout_s (", status.ok() ? "" : status.status().ToString(), "): ",
          node.Describe()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

// Parses `ken inspect` JSON output that is an array of numbers.
absl::StatusOr<std::vector<double>> ParseNumberArray(const std::string& json) {
  absl::string_view text = absl::StripAsciiWhitespace(json);
  if (!absl::ConsumePrefix(&text, "[") || !absl::ConsumeSuffix(&text, "]")) {
    return absl::InternalError(absl::StrCat("not a JSON array: ", json.substr(0, 200)));
  }
  std::vector<double> values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    double v = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(item), &v)) {
      return absl::InternalError(absl::StrCat("not a number in the JSON array: ", item));
    }
    values.push_back(v);
  }
  return values;
}

// One window on a fresh two-node cluster in `dir`.
absl::StatusOr<KenResult> KenRow(const std::string& ken, const std::string& dir, int window,
                                 int messages, int payload_bytes) {
  std::filesystem::create_directories(dir);
  absl::StatusOr<int> port_a = FreePort();
  absl::StatusOr<int> port_b = FreePort();
  if (!port_a.ok()) return port_a.status();
  if (!port_b.ok()) return port_b.status();
  const std::string address_a = absl::StrCat("127.0.0.1:", *port_a);
  const std::string address_b = absl::StrCat("127.0.0.1:", *port_b);
  const std::string config = dir + "/cluster.yaml";
  const bool calls = absl::GetFlag(FLAGS_calls);
  if (absl::Status s = WriteFile(dir + "/a.js", calls ? CallerScript(messages, window, payload_bytes)
                                                      : SenderScript(messages, window, payload_bytes));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFile(dir + "/b.js", calls ? kReplyScript : kEchoScript); !s.ok()) return s;
  if (absl::Status s = WriteFile(
          config, absl::StrCat("token: ", kToken, "\ndurability: ", absl::GetFlag(FLAGS_durability), "\nnodes:\n",
                               "  - id: a\n    address: ", address_a, "\n    script: a.js\n",
                               "  - id: b\n    address: ", address_b, "\n    script: b.js\n"));
      !s.ok()) {
    return s;
  }
  Clock::time_point deadline = Clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));
  auto start_node = [&](const std::string& id) {
    return Child::Start({ken, "run", "--cluster", config, "--id", id, "--log-level", "warn"},
                        dir + "/" + id + ".log");
  };

  // b first, so a's first sends find it listening with its script run.
  absl::StatusOr<std::unique_ptr<Child>> b = start_node("b");
  if (!b.ok()) return b.status();
  if (absl::Status s = WaitForListening(*port_b, **b, deadline, "b"); !s.ok()) return s;
  AdminClient admin_b(address_b);
  absl::StatusOr<ken::v1::StatusReply> b_ready = WaitForScript(admin_b, **b, deadline, "b");
  if (!b_ready.ok()) return b_ready.status();
  // b's checkpoint after its script is also a's before its first delivery
  // (both start the same way). `ken run` may report the checkpoint it opened
  // until its first delivery batch (turns still 0); the script's commit is
  // the one after it.
  const int64_t start_checkpoint =
      b_ready->last_committed_checkpoint() + (b_ready->turns() == 0 ? 1 : 0);

  absl::StatusOr<std::unique_ptr<Child>> a = start_node("a");
  if (!a.ok()) return a.status();
  if (absl::Status s = WaitForListening(*port_a, **a, deadline, "a"); !s.ok()) return s;
  AdminClient admin_a(address_a);
  // a's script plus one turn per echo.
  absl::StatusOr<ken::v1::StatusReply> a_done =
      WaitForTurns(admin_a, **a, 1 + static_cast<uint64_t>(messages), deadline, "a");
  if (!a_done.ok()) return a_done.status();
  absl::StatusOr<ken::v1::StatusReply> b_done =
      WaitForTurns(admin_b, **b, 1 + static_cast<uint64_t>(messages), deadline, "b");
  if (!b_done.ok()) return b_done.status();
  (*a)->Stop(5000);
  (*b)->Stop(5000);

  KenResult result;
  result.a_batches = a_done->last_committed_checkpoint() - start_checkpoint;
  result.a_heap_mb = a_done->heap_used_bytes() / (1024.0 * 1024.0);

  // The nodes are stopped, so reading their stores competes with nothing.
  absl::StatusOr<std::string> json = RunProgram(
      {ken, "inspect", "--store", dir + "/data/a.ken", "-e",
       "[got, duplicates, t0, t1].concat(Array.from(rtt))"},
      dir);
  if (!json.ok()) return json.status();
  absl::StatusOr<std::vector<double>> values = ParseNumberArray(*json);
  if (!values.ok()) return values.status();
  if (values->size() != 4 + static_cast<size_t>(messages)) {
    return absl::InternalError(absl::StrCat("node a returned ", values->size() - 4,
                                            " round trips, want ", messages));
  }
  const double got = (*values)[0], duplicates = (*values)[1], t0 = (*values)[2], t1 = (*values)[3];
  std::vector<double> rtts(values->begin() + 4, values->end());
  if (got != messages || duplicates != 0 ||
      std::any_of(rtts.begin(), rtts.end(), [](double v) { return v < 0; })) {
    return absl::DataLossError(absl::StrCat("node a received ", got, " of ", messages,
                                            " echoes with ", duplicates, " duplicates"));
  }
  absl::StatusOr<std::string> echoed =
      RunProgram({ken, "inspect", "--store", dir + "/data/b.ken", "-e", "echoed"}, dir);
  if (!echoed.ok()) return echoed.status();
  if (absl::StripAsciiWhitespace(*echoed) != absl::StrCat(messages)) {
    return absl::DataLossError(absl::StrCat("node b echoed ", *echoed, " messages, want ", messages));
  }
  result.measured = Summarize(rtts, t1 - t0);
  return result;
}

// --------------------------------------------------------------- gRPC peer

class EchoService final : public ken::bench::Echo::Service {
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<ken::bench::EchoMessage, ken::bench::EchoMessage>* stream)
      override {
    ken::bench::EchoMessage message;
    while (stream->Read(&message)) {
      if (!stream->Write(message)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status Unary(grpc::ServerContext*, const ken::bench::EchoMessage* request,
                     ken::bench::EchoMessage* reply) override {
    *reply = *request;
    return grpc::Status::OK;
  }
};

// --echo_server: listens on a free loopback port, prints it, serves forever.
int RunEchoServer() {
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    fprintf(stderr, "messaging_bench --echo_server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  printf("%d\n", port);
  fflush(stdout);
  server->Wait();  // until the benchmark kills this process
  return 0;
}

// A stub of the echo server at `address`, once its channel is connected (10 s at most).
absl::StatusOr<std::unique_ptr<ken::bench::Echo::Stub>> ConnectEcho(const std::string& address) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to the echo server at ", address));
  }
  return ken::bench::Echo::NewStub(channel);
}

// The same workload as node a: `messages` payloads with `window` in flight,
// on one stream; per-message round trip from Write to Read.
absl::StatusOr<Measured> GrpcRow(const std::string& address, int window, int messages,
                                 int payload_bytes) {
  absl::StatusOr<std::unique_ptr<ken::bench::Echo::Stub>> connected = ConnectEcho(address);
  if (!connected.ok()) return connected.status();
  std::unique_ptr<ken::bench::Echo::Stub> stub = std::move(*connected);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<ken::bench::EchoMessage, ken::bench::EchoMessage>>
      stream = stub->Stream(&context);

  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool stop = false;
  std::vector<Clock::time_point> sent_at(messages);
  std::thread writer([&] {
    ken::bench::EchoMessage message;
    message.set_payload(std::string(payload_bytes, 'x'));
    for (int i = 0; i < messages; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_flight < window || stop; });
        if (stop) break;
        ++in_flight;
        sent_at[i] = Clock::now();
      }
      message.set_seq(i);
      if (!stream->Write(message)) break;
    }
    stream->WritesDone();
  });

  std::vector<double> rtts(messages, -1);
  int got = 0;
  ken::bench::EchoMessage reply;
  while (got < messages && !g_interrupted && stream->Read(&reply)) {
    Clock::time_point now = Clock::now();
    uint64_t seq = reply.seq();
    std::lock_guard<std::mutex> lock(mu);
    if (seq < static_cast<uint64_t>(messages) && rtts[seq] < 0) {
      rtts[seq] = std::chrono::duration<double, std::milli>(now - sent_at[seq]).count();
      ++got;
    }
    --in_flight;
    cv.notify_one();
  }
  Clock::time_point last = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_one();
  if (got < messages) context.TryCancel();
  writer.join();
  grpc::Status status = stream->Finish();
  if (got < messages) {
    return absl::UnavailableError(absl::StrCat("echo stream ended after ", got, " of ", messages,
                                               " messages: ", status.error_message()));
  }
  double elapsed_ms = std::chrono::duration<double, std::milli>(last - sent_at[0]).count();
  return Summarize(rtts, elapsed_ms);
}

// --calls: `window` threads, each making blocking unary calls one after
// another until `messages` calls are done; per-call round trip.
absl::StatusOr<Measured> GrpcUnaryRow(const std::string& address, int window, int messages,
                                      int payload_bytes) {
  absl::StatusOr<std::unique_ptr<ken::bench::Echo::Stub>> connected = ConnectEcho(address);
  if (!connected.ok()) return connected.status();
  std::unique_ptr<ken::bench::Echo::Stub> stub = std::move(*connected);
  std::vector<double> rtts(messages, -1);
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::string error;
  std::mutex mu;
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < window; ++t) {
    threads.emplace_back([&] {
      ken::bench::EchoMessage request;
      request.set_payload(std::string(payload_bytes, 'x'));
      for (int i = next++; i < messages && !g_interrupted; i = next++) {
        request.set_seq(i);
        ken::bench::EchoMessage reply;
        grpc::ClientContext context;
        Clock::time_point at = Clock::now();
        grpc::Status status = stub->Unary(&context, request, &reply);
        if (!status.ok() || reply.seq() != static_cast<uint64_t>(i)) {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          error = status.error_message();
          continue;
        }
        rtts[i] = std::chrono::duration<double, std::milli>(Clock::now() - at).count();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failed > 0) return absl::UnavailableError(absl::StrCat(failed.load(), " unary calls failed: ", error));
  return Summarize(rtts, MsSince(start));
}

// ------------------------------------------------------------------- table

struct Row {
  int window = 0;
  KenResult ken;
  Measured grpc;
};

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintHeader() {
  absl::PrintF("%6s %8s %11s %10s %10s %12s %11s %11s %9s | %9s %10s %8s %9s %9s\n", "window",
               "messages", "ken_msgs/s", "ken_p50_ms", "ken_p99_ms", "grpc_msgs/s", "grpc_p50_ms",
               "grpc_p99_ms", "ken/grpc", "a_batches", "msgs/batch", "ms/batch", "a_heap_mb",
               "p50_ratio");
}

void PrintRow(const Row& r) {
  const Measured& k = r.ken.measured;
  absl::PrintF("%6d %8d %11.0f %10.1f %10.1f %12.0f %11.3f %11.3f %8.4fx | %9d %10.1f %8.1f %9.1f %8.0fx\n",
               r.window, k.messages, k.MsgsPerSecond(), k.p50_ms, k.p99_ms,
               r.grpc.MsgsPerSecond(), r.grpc.p50_ms, r.grpc.p99_ms,
               Ratio(k.MsgsPerSecond(), r.grpc.MsgsPerSecond()), static_cast<int>(r.ken.a_batches),
               Ratio(k.messages, r.ken.a_batches), Ratio(k.elapsed_ms, r.ken.a_batches),
               r.ken.a_heap_mb, Ratio(k.p50_ms, r.grpc.p50_ms));
  fflush(stdout);  // rows appear as each window finishes
}

absl::StatusOr<std::vector<int>> ParseWindows() {
  std::vector<int> windows;
  for (const std::string& s : absl::GetFlag(FLAGS_windows)) {
    int w = 0;
    if (!absl::SimpleAtoi(s, &w) || w < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--windows: '", s, "' is not a window >= 1"));
    }
    windows.push_back(w);
  }
  return windows;
}

// The ken binary: --ken; else the copy in this binary's runfiles (`data`
// in bench/BUILD), which was built with the same -c as this benchmark, both
// beside the binary and in the current directory (`bazel run` starts in the
// runfiles); else bazel-bin/cli/ken, which is whatever was built last.
absl::StatusOr<std::string> FindKen() {
  std::string ken = absl::GetFlag(FLAGS_ken);
  if (!ken.empty()) {
    if (access(ken.c_str(), X_OK) == 0) return std::filesystem::absolute(ken).string();
    return absl::NotFoundError(absl::StrCat("--ken: ", ken, " is not an executable"));
  }
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  for (const std::string& candidate :
       {self + ".runfiles/ken/cli/ken", std::string("cli/ken"), std::string("bazel-bin/cli/ken")}) {
    if (access(candidate.c_str(), X_OK) == 0) return std::filesystem::absolute(candidate).string();
  }
  return absl::NotFoundError(
      "no ken binary: build it (bazel build -c opt //bench:messaging_bench //cli:ken) or pass "
      "--ken");
}

absl::Status Run(const std::string& root) {
  absl::StatusOr<std::vector<int>> windows = ParseWindows();
  if (!windows.ok()) return windows.status();
  absl::StatusOr<std::string> ken = FindKen();
  if (!ken.ok()) return ken.status();
  const int payload_bytes = std::max(1, absl::GetFlag(FLAGS_payload_bytes));

  absl::StatusOr<std::unique_ptr<Child>> server =
      Child::Start({"/proc/self/exe", "--echo_server"}, root + "/echo_server.log", true);
  if (!server.ok()) return server.status();
  absl::StatusOr<std::string> port = (*server)->ReadLine(10000);
  if (!port.ok()) return port.status();
  const std::string echo_address = absl::StrCat("127.0.0.1:", *port);

  const bool calls = absl::GetFlag(FLAGS_calls);
  if (calls) {
    absl::PrintF("messaging_bench --calls: %d-byte values, a awaits ken.call('b') and b's handler returns it "
                 "(msgs = calls); ken: 2 `ken run` nodes (%s), stores in %s; grpc: unary calls from `window` "
                 "threads to an echo process\n",
                 payload_bytes, *ken, root);
  } else {
    absl::PrintF("messaging_bench: %d-byte messages echoed a -> b -> a; ken: 2 `ken run` nodes "
                 "(%s), stores in %s; grpc: 1 bidi stream to an echo process\n",
                 payload_bytes, *ken, root);
  }
  PrintHeader();
  fflush(stdout);
  for (int window : *windows) {
    Row row;
    row.window = window;
    int messages = window == 1 ? absl::GetFlag(FLAGS_window1_messages) : absl::GetFlag(FLAGS_messages);
    messages = std::max(1, messages);
    absl::StatusOr<KenResult> ken_result =
        KenRow(*ken, absl::StrCat(root, "/ken_w", window), window, messages, payload_bytes);
    if (!ken_result.ok()) return ken_result.status();
    row.ken = *ken_result;
    absl::StatusOr<Measured> grpc = calls ? GrpcUnaryRow(echo_address, window, messages, payload_bytes)
                                          : GrpcRow(echo_address, window, messages, payload_bytes);
    if (!grpc.ok()) return grpc.status();
    row.grpc = *grpc;
    PrintRow(row);
  }
  (*server)->Stop(1000);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "messaging_bench [--windows=1,64,256] [--messages=20000] [--ken=PATH]: "
      "msgs/s and round-trip latency between two Ken nodes, against raw gRPC streaming");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_echo_server)) return RunEchoServer();
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  std::string templ = absl::GetFlag(FLAGS_dir) + "/ken_messaging_bench.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    fprintf(stderr, "messaging_bench: mkdtemp %s: %s\n", templ.c_str(), strerror(errno));
    return 1;
  }
  Clock::time_point start = Clock::now();
  absl::Status status = Run(templ);  // every child is killed when Run returns
  std::error_code ignored;
  std::filesystem::remove_all(templ, ignored);
  if (!status.ok()) {
    fflush(stdout);
    fprintf(stderr, "messaging_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  absl::PrintF("total %.1f s\n", MsSince(start) / 1000);
  return 0;
}
