#include "tests/util/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "gtest/gtest.h"

namespace ken::testing {

ChildResult RunInChild(const std::function<void()>& fn) {
  int pipefd[2];
  if (pipe(pipefd) != 0) abort();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    fn();
    fflush(stdout);
    fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  close(pipefd[1]);
  ChildResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) result.output.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

Process::Process(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) abort();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  signal(SIGPIPE, SIG_IGN);
}

Process::~Process() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void Process::Write(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(stdin_fd_, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void Process::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool Process::ReadSome(int timeout_ms) {
  if (stdout_fd_ < 0) return false;
  struct pollfd p = {stdout_fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[4096];
  ssize_t n = read(stdout_fd_, buf, sizeof(buf));
  if (n > 0) {
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }
  close(stdout_fd_);
  stdout_fd_ = -1;
  return false;
}

bool Process::WaitFor(const std::string& needle, int timeout_ms, size_t from) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (output_.size() >= from && output_.find(needle, from) != std::string::npos) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || stdout_fd_ < 0) return output_.find(needle, from) != std::string::npos;
    ReadSome(static_cast<int>(std::min<int64_t>(left, 100)));
  }
}

void Process::Kill(int sig) { kill(pid_, sig); }

int Process::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!exited_) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    ReadSome(20);
  }
  while (stdout_fd_ >= 0) ReadSome(100);
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

bool Process::Poll(int* exit_code) {
  if (!exited_) {
    while (ReadSome(0)) {
    }
    if (waitpid(pid_, &status_, WNOHANG) != pid_) return false;
    exited_ = true;
    while (stdout_fd_ >= 0) ReadSome(100);
  }
  *exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  return true;
}

namespace {

// Binds a fresh socket to 127.0.0.1:`port` (0: the kernel picks); returns
// the bound port, or 0 if it is taken.
int TryBind(int port, const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) abort();
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) abort();
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = 0;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

// The lowest port of the kernel's ephemeral range.
int EphemeralLow() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  if (!(f >> low >> high) || low <= 0) return 32768;
  return low;
}

}  // namespace

int FreePort() { return FreePortOn({"127.0.0.1"}); }

int FreePortOn(const std::vector<std::string>& hosts) {
  constexpr int kFirst = 10000;
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  static std::set<int> handed_out;  // so two calls never return one port
  std::lock_guard<std::mutex> lock(mu);
  const int low = EphemeralLow();
  if (low > kFirst + 1000) {
    std::uniform_int_distribution<int> pick(kFirst, low - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int candidate = pick(rng);
      if (handed_out.count(candidate)) continue;
      bool free = true;
      for (const std::string& host : hosts) free = free && TryBind(candidate, host) == candidate;
      if (free) {
        handed_out.insert(candidate);
        return candidate;
      }
    }
  }
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = TryBind(0, hosts.front());
    bool free = port != 0;
    for (size_t i = 1; free && i < hosts.size(); ++i) free = TryBind(port, hosts[i]) == port;
    if (free) return port;
  }
  abort();
}

ChildResult RunProgram(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                       const std::vector<std::string>& env) {
  Process p(argv, env);
  p.Write(input);
  p.CloseStdin();
  ChildResult r;
  r.exit_code = p.Wait(timeout_ms);
  r.output = p.output();
  return r;
}

BusyPort::BusyPort() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd_, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

BusyPort::~BusyPort() { close(fd_); }

std::string MakeTempDir() {
  const char* t = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(t ? t : "/tmp") + "/kenXXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) abort();
  return tmpl;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace ken::testing
