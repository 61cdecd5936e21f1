// Network faults for the chaos test (tests/chaos/chaos.cc): a FaultNet link
// (tests/netfault) between every ordered pair of nodes, and seeded random
// faults on them.
//
// Node A dials peer B at the link "A->B" (its peer_addresses entry), which
// forwards to B's real address. Everything A sends to B and the replies to
// those calls go through "A->B"; acks for B's messages to A go through
// "B->A". So cutting "A->B" alone is an asymmetric fault: A's messages to B
// (and B's acks of them) are lost, while B's messages to A still arrive.
// Admin calls (status, eval) are made directly, never through a link.
#ifndef KEN_TESTS_CHAOS_NETWORK_H_
#define KEN_TESTS_CHAOS_NETWORK_H_

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/netfault/fault_net.h"

namespace ken::testing {

// The kinds of fault, as --faults names them.
//   partition  the cluster split at random into two sides (links between
//              them cut both ways)
//   isolate    one node cut from all others, both ways
//   asymmetric one link cut in one direction
//   flap       one link (both ways) cut and healed every 200-800 ms
//   slow       one node's links (in and out) get 500-2000 ms latency and
//              jitter, next to fast links
//   throttle   one node's links limited to 2-20 KB/s each way
//   reset      one node's connections reset (RST) every 200-800 ms
//   stall      one link's open connections stalled (bytes accepted, never
//              forwarded); new connections work
// A cut is, at random, a blackhole (packets dropped: calls hang until their
// deadline) or a refusal (connections reset: calls fail at once).
const std::vector<std::string>& FaultKinds();

struct Fault {
  std::string kind;
  std::string description;  // e.g. "partition {bank-1,driver} | {bank-2,bank-3} (blackhole)"
  std::vector<std::string> cut;  // links cut (names "A->B")
  bool blackhole = false;
  std::string stalled;           // stall: the link
  std::vector<std::string> slow; // slow, throttle: its links
  std::string resetting;         // reset: the node
  std::string flapping;          // flap: the node pair's link "A->B" (and "B->A")
};

class NetworkChaos {
 public:
  // `ids`: every node of the cluster; `seed` makes fault choices replayable.
  NetworkChaos(std::vector<std::string> ids, uint32_t seed);

  // Adds the links "A->B" for every ordered pair, forwarding to B's real
  // address (`address`: id -> host:port). Errors from FaultNet::AddLink.
  absl::Status AddLinks(const std::map<std::string, std::string>& address);
  // The YAML lines of node `id`'s peer_addresses (indented for a node entry).
  std::string PeerAddressesYaml(const std::string& id) const;

  // Picks a fault of `kind` at random and applies it.
  Fault Apply(const std::string& kind);
  // A partition of the cluster into two random sides, cut both ways.
  Fault Partition(bool blackhole);
  // Flapping links change state, resetting ones are reset: call every few
  // hundred ms while a fault holds.
  void Tick(const Fault& fault);
  // Ends every fault (stalled connections are reset).
  void HealAll();

  FaultNet::Stats Total() const { return net_.total(); }
  std::mt19937& rng() { return rng_; }

 private:
  static std::string Link(const std::string& from, const std::string& to) { return from + "->" + to; }
  void Cut(const std::vector<std::string>& links, bool blackhole);
  // Both directions between every node of `a` and every node of `b`.
  std::vector<std::string> Between(const std::set<std::string>& a, const std::set<std::string>& b) const;

  std::vector<std::string> ids_;
  std::mt19937 rng_;
  FaultNet net_;
  std::map<std::string, int> port_;  // link -> local port
  bool flap_cut_ = false;
};

}  // namespace ken::testing

#endif  // KEN_TESTS_CHAOS_NETWORK_H_
