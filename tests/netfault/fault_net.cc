#include "tests/netfault/fault_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ken::testing {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Cut = LinkFaults::Cut;

constexpr size_t kMaxQueuedBytes = 1 << 20;  // per direction: stop reading above
constexpr size_t kReadSize = 64 << 10;       // bytes per recv
constexpr size_t kReadBudget = 256 << 10;    // bytes per side per loop turn
constexpr int kAcceptBudget = 64;            // accepts per link per loop turn

// Socket sides of a connection; direction d reads side d and writes side 1-d.
constexpr int kClient = 0;
constexpr int kTarget = 1;
constexpr int kUp = 0;    // client -> target
constexpr int kDown = 1;  // target -> client

// Closes `fd` with an RST (SO_LINGER 0). No-op for fd < 0.
void ResetAndClose(int fd) {
  if (fd < 0) return;
  struct linger lin = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
  close(fd);
}

void CloseIfOpen(int fd) {
  if (fd >= 0) close(fd);
}

// Small chunks go out at once (latency tests send a few bytes at a time).
void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Parses and resolves "host:port" to an IPv4 address.
absl::StatusOr<sockaddr_in> ResolveTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(target.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("target must be host:port, got '", target, "'"));
  }
  const std::string host = target.substr(0, colon);
  struct addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  sockaddr_in addr;
  std::memcpy(&addr, found->ai_addr, sizeof(addr));
  freeaddrinfo(found);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// A non-blocking socket listening on 127.0.0.1 at a kernel-chosen port,
// which goes to *port.
absl::StatusOr<int> ListenOnLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "bind/listen on 127.0.0.1");
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Token-bucket capacity (bytes) at `rate` bytes/s: 50 ms worth, at least 1.
double BucketCap(int64_t rate) { return std::max(1.0, static_cast<double>(rate) / 20.0); }

// poll(2) timeout (ms, rounded up; -1 = none) to wait until `when`.
int TimeoutMs(TimePoint when, TimePoint now) {
  if (when == TimePoint::max()) return -1;
  if (when <= now) return 0;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(when - now).count();
  return static_cast<int>(std::min<int64_t>((us + 999) / 1000, 60 * 60 * 1000));
}

[[noreturn]] void NoSuchLink(const std::string& name) {
  std::fprintf(stderr, "FaultNet: no link named '%s'\n", name.c_str());
  std::abort();
}

void Add(FaultNet::Stats* sum, const FaultNet::Stats& s) {
  sum->up_bytes += s.up_bytes;
  sum->down_bytes += s.down_bytes;
  sum->connections += s.connections;
  sum->resets += s.resets;
  sum->refused += s.refused;
}

}  // namespace

class FaultNet::Impl {
 public:
  struct Chunk {
    std::string data;
    size_t offset = 0;  // bytes already written
    TimePoint due;
  };
  struct Direction {
    std::deque<Chunk> queue;
    size_t queued_bytes = 0;
    TimePoint last_due = TimePoint::min();
    bool src_eof = false;   // read EOF (stalled: or an error) from the source
    bool dst_shut = false;  // shut down the destination's write side
    bool want_out = false;  // a send would have blocked: wait for POLLOUT
    double tokens = 0;      // bandwidth bucket, bytes
    TimePoint last_refill;
  };
  // kWaiting: accepted during a blackhole, target not yet dialled.
  enum class Phase { kWaiting, kConnecting, kOpen };
  struct Conn {
    int fd[2] = {-1, -1};   // by side: kClient, kTarget
    int pfd[2] = {-1, -1};  // index in this turn's poll set, -1 if not polled
    Phase phase = Phase::kWaiting;
    bool stalled = false;
    bool closed = false;  // fds closed; erased at the next sweep
    Direction dir[2];     // kUp, kDown
  };
  struct Link {
    std::string name;
    int listen_fd = -1;
    int listen_pfd = -1;  // index in this turn's poll set
    sockaddr_in target = {};
    LinkFaults faults;
    Stats stats;
    std::list<std::unique_ptr<Conn>> conns;
  };

  explicit Impl(uint32_t seed);
  ~Impl();

  // Runs `fn` on the loop thread (between two polls, mu_ held) and waits
  // until it has. Call from any thread but the loop's.
  void Run(std::function<void(TimePoint now)> fn);
  // Runs `fn` on the link named `name` as Run does; aborts if there is none.
  void RunOnLink(const std::string& name, std::function<void(Link&, TimePoint now)> fn);

  // Commands: loop thread only (through Run/RunOnLink).
  absl::Status AddLink(const std::string& name, int listen_fd, const sockaddr_in& target);
  void ApplyFaults(Link& link, const LinkFaults& faults, TimePoint now);
  void Heal(Link& link, TimePoint now);
  void Stall(Link& link);
  void ResetAll(Link& link);
  std::vector<Link*> AllLinks();

  // Any thread.
  Stats StatsOf(const std::string& name) const;
  Stats Total() const;

 private:
  void Loop();
  void RunCommands(TimePoint now);  // mu_ held
  void Wake();
  void DrainWake();
  int BuildPollSet(std::vector<pollfd>* pfds, TimePoint now);
  short SideEvents(const Link& link, const Conn& conn, int side) const;
  TimePoint NextDue(const Link& link, const Conn& conn, TimePoint now) const;
  void HandleEvents(const std::vector<pollfd>& pfds, TimePoint now);
  void HandleConnEvents(Link& link, Conn& conn, const std::vector<pollfd>& pfds, TimePoint now);
  void AcceptAll(Link& link, TimePoint now);
  void StartConnect(Link& link, Conn& conn, TimePoint now);
  void FinishConnect(Link& link, Conn& conn, TimePoint now);
  void OnConnected(Link& link, Conn& conn, TimePoint now);
  bool ShouldRead(const Link& link, const Conn& conn, int side) const;
  void ReadSide(Link& link, Conn& conn, int side, TimePoint now);
  void Enqueue(const Link& link, Direction& dir, const char* data, size_t n, TimePoint now);
  void Pump(Link& link, Conn& conn, TimePoint now);
  bool WriteDue(Link& link, Conn& conn, int d, TimePoint now);
  void MaybeShutdown(Conn& conn, int d);
  void ResetConn(Link& link, Conn& conn);
  void RefuseConn(Link& link, Conn& conn);
  void CloseConn(Conn& conn);
  void Sweep();
  static void Refill(Direction& dir, int64_t rate, TimePoint now);
  static void RetuneBucket(Direction& dir, int64_t old_rate, int64_t new_rate, TimePoint now);
  static void DropQueue(Direction& dir);

  // std::mutex, not absl::Mutex: Debian's Abseil is not built for TSan,
  // which would see no synchronization (see base/mutex.h).
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  // Guarded by mu_.
  std::vector<std::function<void(TimePoint)>> commands_;
  uint64_t submitted_ = 0;  // commands pushed
  uint64_t done_ = 0;       // commands run
  bool stop_ = false;
  // The loop thread touches the rest with mu_ held, except across poll(2);
  // other threads only read links_ (and stats) with mu_ held.
  std::map<std::string, std::unique_ptr<Link>> links_;
  int wake_fd_ = -1;
  std::mt19937 rng_;
  std::vector<char> read_buf_;
  std::thread thread_;
};

// ---- Control side (any thread) ----

FaultNet::Impl::Impl(uint32_t seed) : rng_(seed), read_buf_(kReadSize) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    std::perror("FaultNet: eventfd");
    std::abort();
  }
  thread_ = std::thread([this] { Loop(); });
}

FaultNet::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    Wake();
  }
  thread_.join();
  for (auto& [name, link] : links_) {
    close(link->listen_fd);
    for (auto& conn : link->conns) {
      if (conn->closed) continue;
      CloseIfOpen(conn->fd[kClient]);
      CloseIfOpen(conn->fd[kTarget]);
    }
  }
  close(wake_fd_);
}

void FaultNet::Impl::Run(std::function<void(TimePoint)> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = ++submitted_;
  commands_.push_back(std::move(fn));
  Wake();
  done_cv_.wait(lock, [&] { return done_ >= ticket; });
}

void FaultNet::Impl::RunOnLink(const std::string& name,
                               std::function<void(Link&, TimePoint)> fn) {
  Link* link = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = links_.find(name);
    if (it == links_.end()) NoSuchLink(name);
    link = it->second.get();  // links are never removed
  }
  Run([link, &fn](TimePoint now) { fn(*link, now); });
}

FaultNet::Stats FaultNet::Impl::StatsOf(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(name);
  if (it == links_.end()) NoSuchLink(name);
  return it->second->stats;
}

FaultNet::Stats FaultNet::Impl::Total() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats sum;
  for (const auto& [name, link] : links_) Add(&sum, link->stats);
  return sum;
}

void FaultNet::Impl::Wake() {
  const uint64_t one = 1;
  // A full counter (EAGAIN) already wakes the loop.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void FaultNet::Impl::DrainWake() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
}

// ---- Commands (loop thread, mu_ held) ----

absl::Status FaultNet::Impl::AddLink(const std::string& name, int listen_fd,
                                     const sockaddr_in& target) {
  if (links_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("FaultNet: link '", name, "' exists"));
  }
  auto link = std::make_unique<Link>();
  link->name = name;
  link->listen_fd = listen_fd;
  link->target = target;
  links_[name] = std::move(link);
  return absl::OkStatus();
}

void FaultNet::Impl::ApplyFaults(Link& link, const LinkFaults& faults, TimePoint now) {
  const int64_t old_rate = link.faults.bandwidth_bytes_per_s;
  link.faults = faults;
  for (auto& conn : link.conns) {
    if (conn->closed) continue;
    if (faults.cut == Cut::kRefuse) {
      ResetConn(link, *conn);
      continue;
    }
    for (Direction& dir : conn->dir) {
      RetuneBucket(dir, old_rate, faults.bandwidth_bytes_per_s, now);
    }
    if (faults.cut == Cut::kNone && conn->phase == Phase::kWaiting) StartConnect(link, *conn, now);
  }
}

void FaultNet::Impl::Heal(Link& link, TimePoint now) {
  ApplyFaults(link, LinkFaults(), now);
  for (auto& conn : link.conns) {
    if (conn->stalled) ResetConn(link, *conn);
  }
}

void FaultNet::Impl::Stall(Link& link) {
  for (auto& conn : link.conns) {
    if (conn->closed) continue;
    conn->stalled = true;
    for (Direction& dir : conn->dir) DropQueue(dir);
  }
}

void FaultNet::Impl::ResetAll(Link& link) {
  for (auto& conn : link.conns) ResetConn(link, *conn);
}

std::vector<FaultNet::Impl::Link*> FaultNet::Impl::AllLinks() {
  std::vector<Link*> all;
  for (auto& [name, link] : links_) all.push_back(link.get());
  return all;
}

// ---- Event loop (loop thread) ----

void FaultNet::Impl::Loop() {
  std::vector<pollfd> pfds;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    RunCommands(Clock::now());
    const int timeout_ms = BuildPollSet(&pfds, Clock::now());
    lock.unlock();
    const int ready = poll(pfds.data(), pfds.size(), timeout_ms);
    const int poll_errno = errno;
    lock.lock();
    if (ready < 0 && poll_errno != EINTR) {
      std::fprintf(stderr, "FaultNet: poll: %s\n", std::strerror(poll_errno));
      std::abort();
    }
    const TimePoint now = Clock::now();
    if (ready > 0) HandleEvents(pfds, now);
    for (auto& [name, link] : links_) {
      for (auto& conn : link->conns) Pump(*link, *conn, now);
    }
  }
  RunCommands(Clock::now());  // release any caller still waiting
}

void FaultNet::Impl::RunCommands(TimePoint now) {
  std::vector<std::function<void(TimePoint)>> commands;
  commands.swap(commands_);
  for (auto& fn : commands) fn(now);
  done_ = submitted_;
  done_cv_.notify_all();
}

int FaultNet::Impl::BuildPollSet(std::vector<pollfd>* pfds, TimePoint now) {
  Sweep();
  pfds->clear();
  pfds->push_back({wake_fd_, POLLIN, 0});
  TimePoint wake_at = TimePoint::max();
  for (auto& [name, link] : links_) {
    link->listen_pfd = static_cast<int>(pfds->size());
    pfds->push_back({link->listen_fd, POLLIN, 0});
    for (auto& conn : link->conns) {
      for (int side : {kClient, kTarget}) {
        conn->pfd[side] = -1;
        const short events = SideEvents(*link, *conn, side);
        if (events == 0) continue;  // (POLLERR/POLLHUP would be reported anyway)
        conn->pfd[side] = static_cast<int>(pfds->size());
        pfds->push_back({conn->fd[side], events, 0});
      }
      wake_at = std::min(wake_at, NextDue(*link, *conn, now));
    }
  }
  return TimeoutMs(wake_at, now);
}

short FaultNet::Impl::SideEvents(const Link& link, const Conn& conn, int side) const {
  if (conn.closed || conn.fd[side] < 0) return 0;
  if (side == kTarget && conn.phase == Phase::kConnecting) return POLLOUT;
  short events = 0;
  if (ShouldRead(link, conn, side)) events |= POLLIN;
  if (conn.phase == Phase::kOpen && conn.dir[1 - side].want_out) events |= POLLOUT;
  return events;
}

// When the connection next has something to write (max() = nothing timed).
TimePoint FaultNet::Impl::NextDue(const Link& link, const Conn& conn, TimePoint now) const {
  if (conn.closed || conn.phase != Phase::kOpen || conn.stalled || link.faults.cut != Cut::kNone) {
    return TimePoint::max();
  }
  const int64_t rate = link.faults.bandwidth_bytes_per_s;
  TimePoint next = TimePoint::max();
  for (const Direction& dir : conn.dir) {
    if (dir.want_out || dir.queue.empty()) continue;
    const Chunk& chunk = dir.queue.front();
    if (chunk.due > now) {
      next = std::min(next, chunk.due);
    } else if (rate > 0) {
      const double need =
          std::min(static_cast<double>(chunk.data.size() - chunk.offset), BucketCap(rate));
      const double wait_s = std::max(0.0, (need - dir.tokens) / static_cast<double>(rate));
      next = std::min(next, dir.last_refill + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(wait_s)));
    } else {
      next = now;
    }
  }
  return next;
}

void FaultNet::Impl::HandleEvents(const std::vector<pollfd>& pfds, TimePoint now) {
  if (pfds[0].revents != 0) DrainWake();
  for (auto& [name, link] : links_) {
    for (auto& conn : link->conns) HandleConnEvents(*link, *conn, pfds, now);
    const int i = link->listen_pfd;
    if (i >= 0 && (pfds[i].revents & POLLIN) != 0) AcceptAll(*link, now);
  }
}

void FaultNet::Impl::HandleConnEvents(Link& link, Conn& conn, const std::vector<pollfd>& pfds,
                                      TimePoint now) {
  if (conn.closed) return;
  if (conn.phase == Phase::kConnecting && conn.pfd[kTarget] >= 0 &&
      pfds[conn.pfd[kTarget]].revents != 0) {
    FinishConnect(link, conn, now);
  }
  for (int side : {kClient, kTarget}) {
    if (conn.closed) return;
    if (conn.pfd[side] < 0) continue;
    const short revents = pfds[conn.pfd[side]].revents;
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) != 0) conn.dir[1 - side].want_out = false;
    if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0 && ShouldRead(link, conn, side)) {
      ReadSide(link, conn, side, now);
    }
  }
}

void FaultNet::Impl::AcceptAll(Link& link, TimePoint now) {
  for (int i = 0; i < kAcceptBudget; ++i) {
    const int fd = accept4(link.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of fds: try again next turn
    }
    ++link.stats.connections;
    if (link.faults.cut == Cut::kRefuse) {
      ++link.stats.refused;
      ResetAndClose(fd);
      continue;
    }
    SetNoDelay(fd);
    auto conn = std::make_unique<Conn>();
    conn->fd[kClient] = fd;
    Conn& added = *conn;
    link.conns.push_back(std::move(conn));
    if (link.faults.cut == Cut::kNone) StartConnect(link, added, now);
  }
}

void FaultNet::Impl::StartConnect(Link& link, Conn& conn, TimePoint now) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    RefuseConn(link, conn);
    return;
  }
  SetNoDelay(fd);
  conn.fd[kTarget] = fd;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&link.target), sizeof(link.target)) == 0) {
    OnConnected(link, conn, now);
  } else if (errno == EINPROGRESS) {
    conn.phase = Phase::kConnecting;
  } else {
    RefuseConn(link, conn);
  }
}

void FaultNet::Impl::FinishConnect(Link& link, Conn& conn, TimePoint now) {
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(conn.fd[kTarget], SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) {
    RefuseConn(link, conn);
  } else {
    OnConnected(link, conn, now);
  }
}

void FaultNet::Impl::OnConnected(Link& link, Conn& conn, TimePoint now) {
  conn.phase = Phase::kOpen;
  const int64_t rate = link.faults.bandwidth_bytes_per_s;
  for (Direction& dir : conn.dir) {
    dir.tokens = rate > 0 ? BucketCap(rate) : 0;
    dir.last_refill = now;
  }
}

bool FaultNet::Impl::ShouldRead(const Link& link, const Conn& conn, int side) const {
  if (conn.closed || conn.fd[side] < 0 || link.faults.cut == Cut::kBlackhole) return false;
  const Direction& dir = conn.dir[side];
  if (dir.src_eof) return false;
  if (side == kTarget && conn.phase != Phase::kOpen) return false;
  if (conn.stalled) return true;  // read and discard, whatever the phase
  return conn.phase == Phase::kOpen && dir.queued_bytes < kMaxQueuedBytes;
}

void FaultNet::Impl::ReadSide(Link& link, Conn& conn, int side, TimePoint now) {
  Direction& dir = conn.dir[side];
  size_t budget = kReadBudget;
  while (budget > 0 && ShouldRead(link, conn, side)) {
    const ssize_t n = recv(conn.fd[side], read_buf_.data(), read_buf_.size(), 0);
    if (n > 0) {
      if (!conn.stalled) Enqueue(link, dir, read_buf_.data(), static_cast<size_t>(n), now);
      budget -= std::min(budget, static_cast<size_t>(n));
    } else if (n == 0) {
      dir.src_eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (conn.stalled) {
      dir.src_eof = true;  // a stalled connection passes nothing on, not even errors
    } else {
      ResetConn(link, conn);
    }
  }
}

void FaultNet::Impl::Enqueue(const Link& link, Direction& dir, const char* data, size_t n,
                             TimePoint now) {
  int delay_ms = std::max(0, link.faults.latency_ms);
  if (link.faults.jitter_ms > 0) {
    delay_ms += std::uniform_int_distribution<int>(0, link.faults.jitter_ms)(rng_);
  }
  const TimePoint due = std::max(now + std::chrono::milliseconds(delay_ms), dir.last_due);
  dir.last_due = due;
  dir.queue.push_back(Chunk{std::string(data, n), 0, due});
  dir.queued_bytes += n;
}

void FaultNet::Impl::Pump(Link& link, Conn& conn, TimePoint now) {
  if (conn.closed) return;
  if (conn.stalled) {
    const bool target_done = conn.phase != Phase::kOpen || conn.dir[kDown].src_eof;
    if (conn.dir[kUp].src_eof && target_done) CloseConn(conn);
    return;
  }
  if (conn.phase != Phase::kOpen || link.faults.cut != Cut::kNone) return;
  for (int d : {kUp, kDown}) {
    if (!WriteDue(link, conn, d, now)) return;
    MaybeShutdown(conn, d);
  }
  if (conn.dir[kUp].dst_shut && conn.dir[kDown].dst_shut) CloseConn(conn);
}

// Writes the due part of direction d's queue, within its bandwidth. False if
// the connection was reset (the destination failed).
bool FaultNet::Impl::WriteDue(Link& link, Conn& conn, int d, TimePoint now) {
  Direction& dir = conn.dir[d];
  const int64_t rate = link.faults.bandwidth_bytes_per_s;
  while (!dir.want_out && !dir.queue.empty()) {
    Chunk& chunk = dir.queue.front();
    if (chunk.due > now) break;
    size_t n = chunk.data.size() - chunk.offset;
    if (rate > 0) {
      Refill(dir, rate, now);
      if (dir.tokens < 1) break;
      n = std::min(n, static_cast<size_t>(dir.tokens));
    }
    const ssize_t sent = send(conn.fd[1 - d], chunk.data.data() + chunk.offset, n, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        dir.want_out = true;
        break;
      }
      ResetConn(link, conn);
      return false;
    }
    (d == kUp ? link.stats.up_bytes : link.stats.down_bytes) += static_cast<uint64_t>(sent);
    if (rate > 0) dir.tokens -= static_cast<double>(sent);
    chunk.offset += static_cast<size_t>(sent);
    dir.queued_bytes -= static_cast<size_t>(sent);
    if (chunk.offset == chunk.data.size()) dir.queue.pop_front();
  }
  return true;
}

// Half-closes: once direction d's source ended and its queue is written,
// shuts down the write side of its destination.
void FaultNet::Impl::MaybeShutdown(Conn& conn, int d) {
  Direction& dir = conn.dir[d];
  if (!dir.src_eof || !dir.queue.empty() || dir.dst_shut) return;
  shutdown(conn.fd[1 - d], SHUT_WR);  // failure (peer gone) shows up on the next read
  dir.dst_shut = true;
}

void FaultNet::Impl::ResetConn(Link& link, Conn& conn) {
  if (conn.closed) return;
  ++link.stats.resets;
  ResetAndClose(conn.fd[kClient]);
  ResetAndClose(conn.fd[kTarget]);
  conn.closed = true;
}

void FaultNet::Impl::RefuseConn(Link& link, Conn& conn) {
  if (conn.closed) return;
  ++link.stats.refused;
  CloseConn(conn);
}

void FaultNet::Impl::CloseConn(Conn& conn) {
  if (conn.closed) return;
  CloseIfOpen(conn.fd[kClient]);
  CloseIfOpen(conn.fd[kTarget]);
  conn.closed = true;
}

void FaultNet::Impl::Sweep() {
  for (auto& [name, link] : links_) {
    link->conns.remove_if([](const std::unique_ptr<Conn>& c) { return c->closed; });
  }
}

void FaultNet::Impl::Refill(Direction& dir, int64_t rate, TimePoint now) {
  const double elapsed_s = std::chrono::duration<double>(now - dir.last_refill).count();
  if (elapsed_s > 0) {
    dir.tokens = std::min(BucketCap(rate), dir.tokens + elapsed_s * static_cast<double>(rate));
  }
  dir.last_refill = now;
}

void FaultNet::Impl::RetuneBucket(Direction& dir, int64_t old_rate, int64_t new_rate,
                                  TimePoint now) {
  if (old_rate > 0) {
    Refill(dir, old_rate, now);
  } else {
    dir.tokens = new_rate > 0 ? BucketCap(new_rate) : 0;
    dir.last_refill = now;
  }
  if (new_rate > 0) dir.tokens = std::min(dir.tokens, BucketCap(new_rate));
}

void FaultNet::Impl::DropQueue(Direction& dir) {
  dir.queue.clear();
  dir.queued_bytes = 0;
  dir.want_out = false;
}

// ---- FaultNet ----

FaultNet::FaultNet(uint32_t seed) : impl_(std::make_unique<Impl>(seed)) {}

FaultNet::~FaultNet() = default;

absl::StatusOr<int> FaultNet::AddLink(const std::string& name, const std::string& target) {
  absl::StatusOr<sockaddr_in> addr = ResolveTarget(target);
  if (!addr.ok()) return addr.status();
  int port = 0;
  absl::StatusOr<int> fd = ListenOnLoopback(&port);
  if (!fd.ok()) return fd.status();
  absl::Status added;
  impl_->Run([&](TimePoint) { added = impl_->AddLink(name, *fd, *addr); });
  if (!added.ok()) {
    close(*fd);
    return added;
  }
  return port;
}

void FaultNet::Set(const std::string& name, const LinkFaults& faults) {
  impl_->RunOnLink(name, [&](Impl::Link& link, TimePoint now) {
    impl_->ApplyFaults(link, faults, now);
  });
}

void FaultNet::Heal(const std::string& name) {
  impl_->RunOnLink(name, [&](Impl::Link& link, TimePoint now) { impl_->Heal(link, now); });
}

void FaultNet::HealAll() {
  impl_->Run([&](TimePoint now) {
    for (Impl::Link* link : impl_->AllLinks()) impl_->Heal(*link, now);
  });
}

void FaultNet::Stall(const std::string& name) {
  impl_->RunOnLink(name, [&](Impl::Link& link, TimePoint) { impl_->Stall(link); });
}

void FaultNet::Reset(const std::string& name) {
  impl_->RunOnLink(name, [&](Impl::Link& link, TimePoint) { impl_->ResetAll(link); });
}

FaultNet::Stats FaultNet::stats(const std::string& name) const { return impl_->StatsOf(name); }

FaultNet::Stats FaultNet::total() const { return impl_->Total(); }

}  // namespace ken::testing
