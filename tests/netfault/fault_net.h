// A fault-injecting TCP proxy for network-chaos tests.
//
// A FaultNet holds named *links*. Each link listens on 127.0.0.1 (a port the
// kernel picks) and forwards every accepted connection to one fixed target.
// Tests point a client at the link's port instead of the target, then cut,
// slow, stall or reset the link while the client talks through it. One
// event-loop thread (poll(2), non-blocking sockets) serves every link.
//
// Each connection has two directions: "up" (client -> target) and "down"
// (target -> client). Faults apply per link, to its existing and new
// connections alike, except where documented otherwise.
#ifndef KEN_TESTS_NETFAULT_FAULT_NET_H_
#define KEN_TESTS_NETFAULT_FAULT_NET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ken::testing {

// The faults of one link. A default-constructed value is a healthy link.
struct LinkFaults {
  enum class Cut {
    kNone,
    // A partition that drops packets: nothing is read from or forwarded on
    // the link's connections (data waits in kernel buffers; when the cut is
    // lifted forwarding resumes with the streams intact). New connections
    // are accepted but not connected to the target until the cut is lifted.
    kBlackhole,
    // Every open connection is reset (RST, via SO_LINGER 0) when the cut is
    // set; new connections are accepted and reset at once.
    kRefuse,
  };
  Cut cut = Cut::kNone;
  // Every chunk is forwarded latency_ms plus a uniform random 0..jitter_ms
  // (ms) after it was read, but never before the chunk read before it in
  // the same direction: order within a direction is always kept. Applies to
  // chunks read after the change.
  int latency_ms = 0;
  int jitter_ms = 0;
  // Bytes per second, per direction per connection (a token bucket holding
  // at most 50 ms worth); 0 = unlimited.
  int64_t bandwidth_bytes_per_s = 0;
};

class FaultNet {
 public:
  // Counters of a link (or of all links), since it was added.
  struct Stats {
    uint64_t up_bytes = 0;     // bytes written to targets
    uint64_t down_bytes = 0;   // bytes written to clients
    uint64_t connections = 0;  // client connections accepted
    uint64_t resets = 0;       // accepted connections the proxy ended with RST
                               // (Reset, kRefuse on open ones, Heal of stalled
                               // ones, an error from one side passed on)
    uint64_t refused = 0;      // connections closed without reaching the
                               // target: reset at accept by kRefuse, or the
                               // target refused/failed the connect
  };

  // Starts the event-loop thread. `seed` seeds the jitter's random numbers.
  // Aborts if the thread's wake-up eventfd cannot be made.
  explicit FaultNet(uint32_t seed = 1);
  // Stops the thread and closes every socket (listening and connected).
  ~FaultNet();
  FaultNet(const FaultNet&) = delete;
  FaultNet& operator=(const FaultNet&) = delete;

  // Every method below is thread-safe: call from any thread but the loop's
  // own (FaultNet runs no callbacks, so that cannot happen). Methods that
  // change state return once the loop has applied the change: e.g. after
  // Set(kBlackhole) returns, no more bytes are read on that link.
  //
  // Methods taking a link name abort (with a message on stderr) if no link
  // has that name: that is a bug in the test.

  // Adds a healthy link named `name` that forwards to `target` ("host:port",
  // host a name or IPv4 address, resolved now). Returns the port it listens
  // on at 127.0.0.1. Errors: InvalidArgument (bad target), NotFound (host
  // does not resolve), AlreadyExists (name taken), or the errno of a failed
  // socket/bind/listen. The target need not be up: each connection is made
  // when a client connects, and if it fails the client's connection is
  // closed (counted in `refused`).
  absl::StatusOr<int> AddLink(const std::string& name, const std::string& target);

  // Replaces the link's faults (see LinkFaults for what each does).
  void Set(const std::string& name, const LinkFaults& faults);

  // Set(name, {}), and resets (RST both sides) the link's stalled
  // connections: their streams lost bytes, so they cannot resume.
  void Heal(const std::string& name);
  // Heal on every link.
  void HealAll();

  // Stalls every connection open on the link now: both sides keep being
  // read but nothing is forwarded (bytes are accepted and discarded, bytes
  // queued for latency or bandwidth are dropped): each peer sees a live
  // connection that never answers. Connections made later are not stalled.
  // Stalled connections stay so until Heal or Reset (which reset them). A
  // stalled connection is closed once both of its sides have closed.
  void Stall(const std::string& name);

  // Resets (RST both sides) every connection of the link now. The link's
  // faults are unchanged; new connections work as they allow.
  void Reset(const std::string& name);

  // The link's counters.
  Stats stats(const std::string& name) const;
  // The sum of every link's counters.
  Stats total() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ken::testing

#endif  // KEN_TESTS_NETFAULT_FAULT_NET_H_
