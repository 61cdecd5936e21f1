// Tests FaultNet against a real echo server over 127.0.0.1.
#include "tests/netfault/fault_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Faults = LinkFaults;

Faults Latency(int latency_ms, int jitter_ms = 0) {
  Faults f;
  f.latency_ms = latency_ms;
  f.jitter_ms = jitter_ms;
  return f;
}

Faults CutWith(Faults::Cut cut) {
  Faults f;
  f.cut = cut;
  return f;
}

Faults Bandwidth(int64_t bytes_per_s) {
  Faults f;
  f.bandwidth_bytes_per_s = bytes_per_s;
  return f;
}

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A TCP echo server on 127.0.0.1 (a kernel-chosen port), one thread per
// connection. On EOF it half-closes back and closes.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("EchoServer");
      std::abort();
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~EchoServer() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : live_) shutdown(fd, SHUT_RDWR);  // unblocks a send
    }
    for (std::thread& t : workers_) t.join();
    close(listen_fd_);
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  // Connections accepted so far.
  int accepted() const { return accepted_; }

 private:
  // Waits up to 50 ms for `fd` to be readable; false on timeout.
  static bool Readable(int fd) {
    pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 50) > 0;
  }

  void AcceptLoop() {
    while (!stop_) {
      if (!Readable(listen_fd_)) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      live_.insert(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    char buf[16384];
    while (!stop_) {
      if (!Readable(fd)) continue;
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n == 0) shutdown(fd, SHUT_WR);
      if (n <= 0) break;
      if (send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;  // blocking: all or error
    }
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(fd);
    close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;  // std::mutex: visible to TSan, unlike Debian's absl::Mutex
  std::set<int> live_;                // guarded by mu_
  std::vector<std::thread> workers_;  // guarded by mu_
};

// A blocking client socket connected to 127.0.0.1:port (-1 on failure),
// with 10 s send/receive timeouts as a safety net against hangs.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `n` bytes, EOF/error, or `timeout_ms`; returns what arrived.
std::string RecvN(int fd, size_t n, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string got;
  char buf[65536];
  while (got.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p = {fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - got.size()), 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

// Reads (and drops) until the peer ends the connection (recv returns 0 or
// an error, e.g. ECONNRESET): true; false if still open after `timeout_ms`.
bool ClosedWithin(int fd, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p = {fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    if (recv(fd, buf, sizeof(buf), 0) <= 0) return true;
  }
}

// Sends `msg` and expects it echoed within 3 s.
void ExpectEcho(int fd, const std::string& msg) {
  ASSERT_TRUE(SendAll(fd, msg));
  EXPECT_EQ(RecvN(fd, msg.size(), 3000), msg);
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class FaultNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> port = net_.AddLink("echo", echo_.target());
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  // A new client connection through the "echo" link, checked to work.
  int ConnectWorking() {
    const int fd = Connect(port_);
    EXPECT_GE(fd, 0);
    ExpectEcho(fd, "hello");
    fds_.push_back(fd);
    return fd;
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
  }

  EchoServer echo_;  // outlives net_
  FaultNet net_{42};
  int port_ = 0;
  std::vector<int> fds_;
};

TEST_F(FaultNetTest, PassesDataBothWaysIntactAndHalfCloses) {
  const int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  const std::string data = RandomBytes(1 << 20, 7);
  std::thread sender([&] {
    EXPECT_TRUE(SendAll(fd, data));
    shutdown(fd, SHUT_WR);  // the echo server's EOF comes back through the proxy
  });
  const std::string got = RecvN(fd, data.size() + 1, 10000);
  sender.join();
  EXPECT_TRUE(got == data) << "got " << got.size() << " bytes, want " << data.size();
  EXPECT_TRUE(ClosedWithin(fd, 1000));  // RecvN stopped at EOF
  close(fd);
  const FaultNet::Stats s = net_.stats("echo");
  EXPECT_EQ(s.up_bytes, data.size());
  EXPECT_EQ(s.down_bytes, data.size());
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.resets, 0u);
  EXPECT_EQ(net_.total().up_bytes, data.size());
}

TEST_F(FaultNetTest, LatencyDelaysEachDirection) {
  const int fd = ConnectWorking();
  net_.Set("echo", Latency(300));
  const auto start = Clock::now();
  ExpectEcho(fd, "ping");
  const int64_t ms = MsSince(start);
  EXPECT_GE(ms, 600);
  EXPECT_LT(ms, 2000);
  net_.Heal("echo");
  const auto healed = Clock::now();
  ExpectEcho(fd, "pong");
  EXPECT_LT(MsSince(healed), 300);
}

TEST_F(FaultNetTest, JitterKeepsOrderWithinADirection) {
  const int fd = ConnectWorking();
  net_.Set("echo", Latency(10, 200));
  std::string want;
  for (int i = 0; i < 30; ++i) {
    const std::string record = absl::StrFormat("%04d;", i);
    want += record;
    ASSERT_TRUE(SendAll(fd, record));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // separate chunks
  }
  EXPECT_EQ(RecvN(fd, want.size(), 5000), want);
}

TEST_F(FaultNetTest, BlackholeHoldsDataUntilHeal) {
  const int old_fd = ConnectWorking();
  net_.Set("echo", CutWith(Faults::Cut::kBlackhole));
  const int accepted = echo_.accepted();
  ASSERT_TRUE(SendAll(old_fd, "during"));
  const int new_fd = Connect(port_);  // the kernel accepts it; the proxy holds it
  ASSERT_GE(new_fd, 0);
  fds_.push_back(new_fd);
  ASSERT_TRUE(SendAll(new_fd, "fresh"));
  EXPECT_EQ(RecvN(old_fd, 6, 500), "");
  EXPECT_EQ(RecvN(new_fd, 5, 300), "");
  EXPECT_EQ(echo_.accepted(), accepted);  // not dialled through the partition
  net_.Heal("echo");
  EXPECT_EQ(RecvN(old_fd, 6, 3000), "during");
  EXPECT_EQ(RecvN(new_fd, 5, 3000), "fresh");
  ExpectEcho(old_fd, "after");
  ExpectEcho(new_fd, "after");
  EXPECT_EQ(echo_.accepted(), accepted + 1);
  EXPECT_EQ(net_.stats("echo").resets, 0u);
}

TEST_F(FaultNetTest, RefuseResetsOpenAndNewConnections) {
  const int old_fd = ConnectWorking();
  net_.Set("echo", CutWith(Faults::Cut::kRefuse));
  EXPECT_TRUE(ClosedWithin(old_fd, 2000));
  const int new_fd = Connect(port_);
  ASSERT_GE(new_fd, 0);
  fds_.push_back(new_fd);
  const auto start = Clock::now();
  EXPECT_TRUE(ClosedWithin(new_fd, 2000));
  EXPECT_LT(MsSince(start), 1000);
  const FaultNet::Stats s = net_.stats("echo");
  EXPECT_EQ(s.resets, 1u);
  EXPECT_EQ(s.refused, 1u);
  net_.HealAll();
  ConnectWorking();
}

TEST_F(FaultNetTest, StallSwallowsBytesOfOpenConnectionsOnly) {
  const int stalled_fd = ConnectWorking();
  net_.Stall("echo");
  ASSERT_TRUE(SendAll(stalled_fd, "lost"));
  const int new_fd = ConnectWorking();  // not stalled
  EXPECT_EQ(RecvN(stalled_fd, 4, 500), "");
  ExpectEcho(new_fd, "still fine");
  net_.Heal("echo");
  EXPECT_TRUE(ClosedWithin(stalled_fd, 2000));
  ExpectEcho(new_fd, "after heal");
  EXPECT_EQ(net_.stats("echo").resets, 1u);
}

TEST_F(FaultNetTest, BandwidthLimitsThroughput) {
  const int fd = ConnectWorking();
  net_.Set("echo", Bandwidth(100000));
  const std::string data = RandomBytes(300000, 9);
  const auto start = Clock::now();
  std::thread sender([&] { EXPECT_TRUE(SendAll(fd, data)); });
  const std::string got = RecvN(fd, data.size(), 10000);
  sender.join();
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(got == data) << "got " << got.size() << " bytes";
  EXPECT_GE(ms, 2500);
  EXPECT_LT(ms, 6000);
}

TEST_F(FaultNetTest, ResetRstsOpenConnectionsNewOnesWork) {
  const int old_fd = ConnectWorking();
  net_.Reset("echo");
  EXPECT_TRUE(ClosedWithin(old_fd, 2000));
  EXPECT_EQ(net_.stats("echo").resets, 1u);
  ConnectWorking();
}

TEST(FaultNetTargetTest, TargetDownClosesClientAndCounts) {
  FaultNet net(1);
  absl::StatusOr<int> port = net.AddLink("down", absl::StrCat("127.0.0.1:", FreePort()));
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = Connect(*port);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ClosedWithin(fd, 2000));
  close(fd);
  const FaultNet::Stats s = net.stats("down");
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.refused, 1u);
}

TEST(FaultNetTargetTest, AddLinkErrors) {
  FaultNet net(1);
  EXPECT_EQ(net.AddLink("a", "no-port").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(net.AddLink("a", "127.0.0.1:0").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(net.AddLink("a", "127.0.0.1:1").ok());
  EXPECT_EQ(net.AddLink("a", "127.0.0.1:1").status().code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace ken::testing
