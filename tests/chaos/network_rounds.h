// The chaos test's network rounds: fault, hold (with kills if asked), heal,
// measure the drain. Each round:
//   1. applies a random fault of the next kind (every kind once per pass,
//      in a seeded order; NetworkChaos::Apply) and holds it 3-8 s; with
//      `kills`, every other round also kills random nodes meanwhile;
//   2. checks what an operator and the other channels must see: after a
//      refused cut held >= 6 s the cut links show "unreachable" in the
//      sender's status; during a stall the stalled sender's turn loop still
//      answers an admin eval within 3 s;
//   3. waits until every node answers, heals, and measures how long until
//      every outbox is drained of what it held at the heal (each channel's
//      acked_through reaches its next_seq - 1 at the heal). A drain slower
//      than `drain_bound_ms` is a violation.
// An optional first round is a long partition (`storm_partition_s`, no
// kills) that measures retransmission cost: payload bytes transmitted on the
// cut channels over payload bytes committed to them, which must stay within
// 1 + partition seconds / 2 (one retry per backoff cap of 2 s).
#ifndef KEN_TESTS_CHAOS_NETWORK_ROUNDS_H_
#define KEN_TESTS_CHAOS_NETWORK_ROUNDS_H_

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tests/chaos/chaos_cluster.h"
#include "tests/chaos/network.h"

namespace ken::testing {

struct RoundsOptions {
  std::vector<std::string> kinds;  // fault kinds to draw from (FaultKinds())
  bool kills = true;
  int64_t drain_bound_ms = 15000;
  int storm_partition_s = 0;  // 0: no storm round
};

struct RoundsResult {
  int kills = 0;
  int rounds = 0;
};

// Runs rounds for `duration_s` after the storm round (a round started
// before the end finishes). `poll` is
// called between steps (the caller reaps its supervisor). Prints one line
// per round and a table per fault kind; violations go to `check`.
RoundsResult RunNetworkRounds(const Cluster& c, NetworkChaos& net, const RoundsOptions& options, int duration_s,
                              Checker& check, const std::function<void()>& poll);

}  // namespace ken::testing

#endif  // KEN_TESTS_CHAOS_NETWORK_ROUNDS_H_
