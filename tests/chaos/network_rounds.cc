#include "tests/chaos/network_rounds.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster/admin_client.h"

namespace ken::testing {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Every node's status at one moment (nodes that are down are absent).
using Snapshot = std::map<std::string, v1::StatusReply>;

Snapshot Take(const Cluster& c) {
  Snapshot s;
  for (const std::string& id : c.ids) {
    if (auto st = Status(c, id)) s[id] = *st;
  }
  return s;
}

const v1::ChannelStatus* ChannelOf(const v1::StatusReply& r, const std::string& peer) {
  for (const auto& ch : r.channels()) {
    if (ch.peer() == peer) return &ch;
  }
  return nullptr;
}

// Counters of channels between two snapshots. "Since start" counters
// restart with the process: a node whose pid changed counts from zero.
struct Delta {
  uint64_t delivered = 0, retransmits = 0, payload_sent = 0, payload_committed = 0;
};

Delta Between(const Snapshot& before, const Snapshot& after, const std::set<std::string>* links = nullptr) {
  Delta d;
  for (const auto& [id, a] : after) {
    auto b = before.find(id);
    const bool same_process = b != before.end() && b->second.pid() == a.pid();
    for (const auto& ch : a.channels()) {
      if (links != nullptr && !links->count(id + "->" + ch.peer())) continue;
      const v1::ChannelStatus* old = b != before.end() ? ChannelOf(b->second, ch.peer()) : nullptr;
      // delivered_through is committed state: it never restarts.
      d.delivered += ch.delivered_through() - (old != nullptr ? std::min(old->delivered_through(), ch.delivered_through()) : 0);
      const bool from_old = same_process && old != nullptr;
      d.retransmits += ch.retransmits() - (from_old ? old->retransmits() : 0);
      d.payload_sent += ch.payload_bytes_sent() - (from_old ? old->payload_bytes_sent() : 0);
      d.payload_committed += ch.payload_bytes_committed() - (from_old ? old->payload_bytes_committed() : 0);
    }
  }
  return d;
}

bool AllUp(const Cluster& c, int seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    if (Take(c).size() == c.ids.size()) return true;
    SleepMs(100);
  }
  return false;
}

// Waits until every channel's acked_through reaches what its outbox held at
// `at_heal`; returns the ms it took, or -1 past `limit_ms`.
int64_t Drain(const Cluster& c, const Snapshot& at_heal, Clock::time_point healed, int64_t limit_ms,
              const std::function<void()>& poll) {
  while (MsSince(healed) <= limit_ms) {
    bool drained = true;
    for (const auto& [id, h] : at_heal) {
      std::optional<v1::StatusReply> now = Status(c, id);
      if (!now) {
        drained = false;
        break;
      }
      for (const auto& ch : h.channels()) {
        const v1::ChannelStatus* n = ChannelOf(*now, ch.peer());
        if (n == nullptr || n->acked_through() + 1 < ch.next_seq()) drained = false;
      }
      if (!drained) break;
    }
    if (drained) return MsSince(healed);
    poll();
    SleepMs(50);
  }
  return -1;
}

struct KindRow {
  int rounds = 0, kills = 0;
  Delta delta;
  uint64_t wire_bytes = 0;
  std::vector<int64_t> drains;
  int violations = 0;
};

int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

void PrintTable(const std::map<std::string, KindRow>& rows) {
  printf("%-11s %6s %5s %9s %11s %14s %9s %9s %10s\n", "FAULT", "ROUNDS", "KILLS", "DELIVERED", "RETRANSMITS",
         "WIRE_B/DELIV", "DRAIN_P50", "DRAIN_MAX", "VIOLATIONS");
  for (const auto& [kind, r] : rows) {
    printf("%-11s %6d %5d %9llu %11llu %14.0f %7lldms %7lldms %10d\n", kind.c_str(), r.rounds, r.kills,
           static_cast<unsigned long long>(r.delta.delivered), static_cast<unsigned long long>(r.delta.retransmits),
           r.delta.delivered ? static_cast<double>(r.wire_bytes) / r.delta.delivered : 0.0,
           static_cast<long long>(Percentile(r.drains, 0.5)), static_cast<long long>(Percentile(r.drains, 1.0)),
           r.violations);
  }
  fflush(stdout);
}

// Kills a random node now (the supervisor restarts it); true if one was killed.
bool KillOne(const Cluster& c, std::mt19937& rng) {
  const std::string& victim = c.ids[rng() % c.ids.size()];
  std::optional<v1::StatusReply> s = Status(c, victim);
  if (!s) return false;
  kill(static_cast<pid_t>(s->pid()), SIGKILL);
  return true;
}

// "A->B" as {A, B}.
std::pair<std::string, std::string> Ends(const std::string& link) {
  const size_t arrow = link.find("->");
  return {link.substr(0, arrow), link.substr(arrow + 2)};
}

// After a refused cut: every cut link's sender, if up, shows the peer unreachable.
void CheckUnreachableShown(const Cluster& c, const Fault& f, Checker& check) {
  for (const std::string& link : f.cut) {
    const auto [from, to] = Ends(link);
    std::optional<v1::StatusReply> s = Status(c, from);
    if (!s) continue;
    const v1::ChannelStatus* ch = ChannelOf(*s, to);
    check.Expect(ch != nullptr && ch->reachability_known() && !ch->peer_reachable(),
                 absl::StrCat(f.description, ": ", from, "'s status does not show ", to, " unreachable"));
  }
}

// During a stall: the stalled link's sender still runs turns, and its other
// channels that had envelopes waiting at the stall got acks meanwhile.
void CheckStallBlocksNothingElse(const Cluster& c, const Fault& f, const Snapshot& before, Checker& check) {
  const auto [from, stalled_peer] = Ends(f.stalled);
  std::optional<v1::StatusReply> now = Status(c, from);
  auto b = before.find(from);
  if (now && b != before.end()) {
    for (const auto& ch : b->second.channels()) {
      if (ch.peer() == stalled_peer || ch.unacked() == 0) continue;
      const v1::ChannelStatus* n = ChannelOf(*now, ch.peer());
      check.Expect(n != nullptr && n->acked_through() > ch.acked_through(),
                   absl::StrCat(f.description, ": ", from, "'s channel to ", ch.peer(), " made no progress"));
    }
  }
  auto t0 = Clock::now();
  absl::StatusOr<v1::EvalReply> r = AdminEval(c.address.at(from), c.token, "1 + 1", 3000);
  check.Expect(r.ok() && r->ok() && MsSince(t0) <= 3000,
               absl::StrCat(f.description, ": ", from, "'s turn loop did not answer an eval within 3 s"));
}

// During a one-way cut A->B (A cannot reach B): B's messages to A still get
// acked, in the replies to B's own transmissions, so B's outbox to A keeps
// draining: its oldest unacked envelope stays young.
void CheckReverseChannelDrains(const Cluster& c, const Fault& f, Checker& check) {
  for (const std::string& link : f.cut) {
    const auto [from, to] = Ends(link);
    std::optional<v1::StatusReply> s = Status(c, to);
    if (!s) continue;
    const v1::ChannelStatus* ch = ChannelOf(*s, from);
    check.Expect(ch != nullptr && ch->oldest_unacked_age_ms() <= 3000,
                 absl::StrCat(f.description, ": ", to, "'s messages to ", from, " went unacked for ",
                              ch != nullptr ? ch->oldest_unacked_age_ms() : -1, " ms although ", to, "->", from,
                              " is up"));
  }
}

}  // namespace

RoundsResult RunNetworkRounds(const Cluster& c, NetworkChaos& net, const RoundsOptions& options, int duration_s,
                              Checker& check, const std::function<void()>& poll) {
  Clock::time_point end = Clock::now() + std::chrono::seconds(duration_s);
  RoundsResult result;
  std::map<std::string, KindRow> rows;
  std::mt19937& rng = net.rng();
  bool storm = options.storm_partition_s > 0;
  std::vector<std::string> order;
  int pass = 0;
  while (storm || Clock::now() < end) {
    const Snapshot before = Take(c);
    const uint64_t wire_before = net.Total().up_bytes + net.Total().down_bytes;
    const int violations_before = check.violations;
    Fault f;
    int64_t hold_ms = 3000 + rng() % 5001;
    if (storm) {
      f = net.Partition(/*blackhole=*/false);
      f.kind = "storm";
      hold_ms = options.storm_partition_s * 1000LL;
    } else {
      // Every kind once per pass, in a seeded order; kills in every other round.
      if (order.empty()) {
        order = options.kinds;
        std::shuffle(order.begin(), order.end(), rng);
        ++pass;
      }
      f = net.Apply(order.back());
      order.pop_back();
    }
    const bool kills_allowed = options.kills && !storm && (order.size() + pass) % 2 == 1;
    auto held = Clock::now();
    int kills = 0;
    int64_t next_kill = 500 + rng() % 1500;
    while (MsSince(held) < hold_ms) {
      SleepMs(std::min<int64_t>(200 + rng() % 600, std::max<int64_t>(1, hold_ms - MsSince(held))));
      net.Tick(f);
      if (kills_allowed && MsSince(held) >= next_kill) {
        kills += KillOne(c, rng) ? 1 : 0;
        next_kill = MsSince(held) + 500 + rng() % 2500;
      }
      poll();
    }
    if (kills == 0 && !f.cut.empty() && !f.blackhole && hold_ms >= 6000) CheckUnreachableShown(c, f, check);
    if (kills == 0 && !f.stalled.empty()) CheckStallBlocksNothingElse(c, f, before, check);
    if (kills == 0 && f.kind == "asymmetric" && hold_ms >= 5000) CheckReverseChannelDrains(c, f, check);
    check.Expect(AllUp(c, 60), absl::StrCat(f.description, ": not every node answered 60 s after the fault"));
    const Snapshot at_heal = Take(c);
    net.HealAll();
    const auto healed = Clock::now();
    const int64_t drain = Drain(c, at_heal, healed, options.drain_bound_ms, poll);
    check.Expect(drain >= 0, absl::StrCat(f.description, ": outboxes not drained within ", options.drain_bound_ms,
                                          " ms of the heal"));
    const Snapshot after = Take(c);
    KindRow& row = rows[f.kind];
    const Delta d = Between(before, after);
    const uint64_t wire = net.Total().up_bytes + net.Total().down_bytes - wire_before;
    row.rounds++;
    row.kills += kills;
    row.delta.delivered += d.delivered;
    row.delta.retransmits += d.retransmits;
    row.wire_bytes += wire;
    if (drain >= 0) row.drains.push_back(drain);
    printf("  %-60s held %5lld ms, kills %d, delivered %llu, retransmits %llu, %s\n", f.description.c_str(),
           static_cast<long long>(hold_ms), kills, static_cast<unsigned long long>(d.delivered),
           static_cast<unsigned long long>(d.retransmits),
           drain >= 0 ? absl::StrCat("drained in ", drain, " ms").c_str() : "NOT DRAINED");
    if (storm) {
      const std::set<std::string> cut(f.cut.begin(), f.cut.end());
      const Delta on_cut = Between(before, after, &cut);
      const double ratio = on_cut.payload_committed ? static_cast<double>(on_cut.payload_sent) / on_cut.payload_committed : 0;
      const double bound = 1 + options.storm_partition_s / 2.0;
      printf("  storm: on the %zu cut channels %llu payload bytes committed, %llu transmitted (%.2fx; bound %.1fx); "
             "%llu wire bytes per delivered message overall\n",
             cut.size(), static_cast<unsigned long long>(on_cut.payload_committed),
             static_cast<unsigned long long>(on_cut.payload_sent), ratio, bound,
             static_cast<unsigned long long>(d.delivered ? wire / d.delivered : 0));
      check.Expect(ratio <= bound, absl::StrCat("storm: ", ratio, "x the payload retransmitted, over ", bound, "x"));
      storm = false;
      end = Clock::now() + std::chrono::seconds(duration_s);  // the mixed rounds' time starts now
    }
    fflush(stdout);
    row.violations += check.violations - violations_before;
    result.kills += kills;
    result.rounds++;
    SleepMs(300 + rng() % 700);
  }
  PrintTable(rows);
  return result;
}

}  // namespace ken::testing
