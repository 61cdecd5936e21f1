// Test helpers for running code and programs in fresh processes.
#ifndef KEN_TESTS_UTIL_SUBPROCESS_H_
#define KEN_TESTS_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <cstdlib>
#include <string>
#include <vector>

namespace ken::testing {

struct ChildResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `fn` in a forked child (so V8 can be initialised afresh there) and
// waits. The child exits 1 if `fn` recorded a gtest failure, else 0. Call
// only from a process that has not initialised V8.
ChildResult RunInChild(const std::function<void()>& fn);

// A program started with pipes on stdin and stdout+stderr.
class Process {
 public:
  // argv[0] is the program path. Environment is inherited, plus `env`
  // ("NAME=value" entries).
  explicit Process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Process();  // kills (SIGKILL) and reaps if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Write(const std::string& text);
  void CloseStdin();
  // Reads output until `needle` appears in everything read so far after
  // `from` (byte offset), or `timeout_ms` passes. Returns whether found.
  bool WaitFor(const std::string& needle, int timeout_ms = 30000, size_t from = 0);
  const std::string& output() const { return output_; }
  void Kill(int signal);
  // Waits for exit (reading output meanwhile); returns the exit code, or -1
  // if killed by a signal or not done within `timeout_ms`.
  int Wait(int timeout_ms = 30000);
  // Non-blocking: reads available output; true (and *exit_code) once exited.
  bool Poll(int* exit_code);

 private:
  bool ReadSome(int timeout_ms);  // true if it read bytes
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string output_;
};

// Runs a program to completion with `input` on stdin.
ChildResult RunProgram(const std::vector<std::string>& argv, const std::string& input = "",
                       int timeout_ms = 60000, const std::vector<std::string>& env = {});

// The durability mode the test runs under: the environment variable
// KEN_TEST_DURABILITY ("snapshot" or "journal", set per Bazel target so that
// one test source runs in both modes); else Ken's default for new stores,
// kTestDefaultDurability (journal_node_test checks that it matches
// kDefaultDurability in runtime/node/node.h).
inline constexpr char kTestDefaultDurability[] = "journal";
inline std::string DurabilityUnderTest() {
  const char* d = getenv("KEN_TEST_DURABILITY");
  return d != nullptr && *d != '\0' ? d : kTestDefaultDurability;
}

// A fresh directory under TEST_TMPDIR (or /tmp).
std::string MakeTempDir();

// A TCP port on 127.0.0.1 that was free a moment ago, chosen at random
// below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
// 32768-60999 by default). A port from bind(0) would be in that range, where
// the kernel may hand it to the next bind(0) (a fault proxy's listener) or to
// an outgoing connection's local end before the node that was meant to listen
// on it starts or restarts, and that node then cannot bind for as long as the
// other socket lives. Falls back to bind(0) if no port below the range is free.
int FreePort();
// The same for a port free on every one of `hosts` (IPv4 addresses, e.g.
// 127.0.0.2 and 127.0.0.3: nodes on their own loopback addresses sharing one
// port, as nodes on different machines would).
int FreePortOn(const std::vector<std::string>& hosts);

// A port held by another program: a listening socket on 127.0.0.1 (a
// kernel-chosen port), open while this lives.
class BusyPort {
 public:
  BusyPort();
  ~BusyPort();
  BusyPort(const BusyPort&) = delete;
  BusyPort& operator=(const BusyPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace ken::testing

#endif  // KEN_TESTS_UTIL_SUBPROCESS_H_
