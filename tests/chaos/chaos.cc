// Chaos test: real clusters under `ken cluster up` (the supervisor), random
// SIGKILLs of random nodes every 0.2-2 s for --duration seconds, then
// quiesce and check invariants. Seeded: the seed is printed and --seed
// replays the same kill schedule.
//
// Workloads:
//   bank3, bank5  examples/bank: transfers debit at the source node and send a
//                 credit message. Money is conserved; every transfer is
//                 applied exactly once at its source and destination.
//   rooms3        examples/rooms: 2000 chat rooms as actors (ken.actor) over 3
//                 room nodes and the driver; every node posts numbered posts
//                 to its share of the rooms with `await ref.call(...)`. Every
//                 post must be in its room exactly once, each sender's in
//                 order, and each room hosted by one node.
//   chain5        examples/chain: tokens forwarded through 5 relays for 40
//                 hops each. Every (token, hop) is seen exactly once, every
//                 token finishes exactly once. Stresses long causal chains
//                 where one lost or doubled message breaks a whole token.
// All: no channel delivered out of order (application-level per-channel
// sequence numbers), no store lost or re-initialized (incarnation unchanged,
// committed turns never go back), every outbox drained, no send left
// waiting (sends refused by a full outbox are retried by the programs).
//
// With --loopback_hosts, nodes sit on 127.0.0.2, 127.0.0.3, ... sharing one
// port and dial each other by names from a hosts file, as on many machines.
// With --faults, every ordered pair of nodes talks through a fault link
// (tests/chaos/network.h) and the chaos is rounds of network faults, with
// kills in every other round (tests/chaos/network_rounds.h): liveness after
// each heal and the retransmission cost of a long partition are checked too.
//
//   bazel run //tests/chaos:chaos -- --duration=600 --workloads=bank5
//   bazel run //tests/chaos:chaos -- --faults=all --duration=1800 --workloads=bank5
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cluster/admin_client.h"
#include "nlohmann/json.hpp"
#include "tests/chaos/chaos_cluster.h"
#include "tests/chaos/network.h"
#include "tests/chaos/network_rounds.h"
#include "tests/util/hosts.h"
#include "tests/util/subprocess.h"

ABSL_FLAG(uint32_t, seed, 0, "kill schedule seed (0: pick one and print it)");
ABSL_FLAG(int, duration, 60, "seconds of chaos per workload");
ABSL_FLAG(std::string, workloads, "bank3,bank5,chain5,rooms3", "comma-separated: bank3, bank5, chain5, rooms3");
ABSL_FLAG(std::string, ken, "cli/ken", "path of the ken binary");
ABSL_FLAG(std::string, durability, "", "durability of every node: snapshot or journal (default: KEN_TEST_DURABILITY, else Ken's)");
ABSL_FLAG(std::string, examples, "examples", "folder holding bank/, chain/ and rooms/");
ABSL_FLAG(std::string, faults, "",
          "network faults between nodes, comma-separated: partition, isolate, asymmetric, flap, slow, stall, or all "
          "(empty: kills only)");
ABSL_FLAG(bool, kills, true, "SIGKILL random nodes (with --faults: during the faults)");
ABSL_FLAG(int, storm_partition_s, 0,
          "with --faults: first a partition of this many seconds (no kills) whose retransmission cost is measured");
ABSL_FLAG(int64_t, drain_bound_ms, 15000, "with --faults: every outbox must drain within this long after a heal");
ABSL_FLAG(bool, loopback_hosts, false,
          "every node on its own loopback address (127.0.0.2, 127.0.0.3, ...), all on one port, its config address "
          "a name (ID.ken.test) that a hosts file maps there (tests/util/hosts.h), as on separate machines");
ABSL_FLAG(int, max_unacked_messages, 0, "the config's max_unacked_messages (0: Ken's default)");

namespace ken {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Workload {
  std::string name;
  std::string folder;                 // examples/<folder>
  std::vector<std::string> node_ids;  // all but the driver
  std::string node_script;            // script of the non-driver nodes
  std::string progress;               // driver expression: completed count
};

using ::ken::testing::Checker;
using ::ken::testing::Cluster;
using ::ken::testing::Eval;
using ::ken::testing::Status;

// The network faults of this run (empty --faults: none).
struct NetworkSetup {
  std::vector<std::string> kinds;
  std::unique_ptr<::ken::testing::NetworkChaos> net;
};

Cluster Write(const Workload& w, const std::string& examples, uint32_t seed, NetworkSetup* network) {
  Cluster c;
  c.dir = ::ken::testing::MakeTempDir();
  c.config = c.dir + "/cluster.yaml";
  c.ids = w.node_ids;
  c.ids.push_back("driver");
  // The example's folder and the module its scripts require (common/).
  for (const std::string& folder : {w.folder, std::string("common")}) {
    std::filesystem::copy(examples + "/" + folder, c.dir + "/" + folder, std::filesystem::copy_options::recursive);
  }
  std::map<std::string, std::string> named;  // id -> its config address, when not c.address[id]
  if (absl::GetFlag(FLAGS_loopback_hosts)) {
    std::vector<std::string> ips;
    std::map<std::string, std::string> hosts;
    for (size_t i = 0; i < c.ids.size(); ++i) ips.push_back(absl::StrCat("127.0.0.", i + 2));
    const int port = ::ken::testing::FreePortOn(ips);
    for (size_t i = 0; i < c.ids.size(); ++i) {
      c.address[c.ids[i]] = absl::StrCat(ips[i], ":", port);
      hosts[c.ids[i] + ".ken.test"] = ips[i];
      named[c.ids[i]] = absl::StrCat(c.ids[i], ".ken.test:", port);
    }
    ::ken::testing::WriteHostsFile(c.dir + "/hosts", hosts);
    c.env = ::ken::testing::HostsFileEnv(c.dir + "/hosts");
  } else {
    for (const std::string& id : c.ids) c.address[id] = absl::StrCat("127.0.0.1:", ::ken::testing::FreePort());
  }
  if (!network->kinds.empty()) {
    network->net = std::make_unique<::ken::testing::NetworkChaos>(c.ids, seed);
    if (absl::Status s = network->net->AddLinks(c.address); !s.ok()) {
      fprintf(stderr, "cannot add fault links: %s\n", std::string(s.message()).c_str());
      exit(1);
    }
  }
  std::ofstream config(c.config);
  config << "token: " << c.token << "\n";
  std::string durability = absl::GetFlag(FLAGS_durability);
  if (durability.empty()) durability = ::ken::testing::DurabilityUnderTest();
  if (!durability.empty()) config << "durability: " << durability << "\n";
  if (int cap = absl::GetFlag(FLAGS_max_unacked_messages); cap > 0) config << "max_unacked_messages: " << cap << "\n";
  config << "nodes:\n";
  for (const std::string& id : c.ids) {
    config << "  - id: " << id << "\n    address: " << (named.count(id) ? named[id] : c.address[id]) << "\n";
    if (named.count(id)) config << "    listen: " << c.address[id] << "\n";
    config << "    script: "
           << w.folder << "/" << (id == "driver" ? "driver.js" : w.node_script) << "\n";
    if (network->net) config << network->net->PeerAddressesYaml(id);
  }
  return c;
}

// A rooms node's state: its posters' counters and, per room it hosts, the
// posts per sender and any that broke the 0, 1, 2, ... numbering.
constexpr char kRoomsState[] = R"js(({
  issued: run.issued, done: run.done, posted: run.posted, refused: run.refused, waiting: 0,
  rooms: ken.actors('Room').map(function (a) {
    var per = {}, bad = [];
    a.state.posts.forEach(function (p) {
      var next = per[p[0]] || 0;
      if (p[1] !== next) bad.push(p[0] + ' #' + p[1] + ' where #' + next + ' was due');
      per[p[0]] = next + 1;
    });
    return [a.key, per, bad];
  })
}))js";

void CheckCommon(const Cluster& c, const std::map<std::string, json>& state, Checker& check) {
  for (const std::string& id : c.ids) {
    const json& s = state.at(id);
    check.Expect(s["duplicates"].empty(), absl::StrCat(id, " saw duplicates: ", s["duplicates"].dump()));
    check.Expect(s["fifoViolations"].empty(), absl::StrCat(id, " saw out-of-order messages: ", s["fifoViolations"].dump()));
  }
}

void CheckBank(const Cluster& c, const Workload& w, const std::map<std::string, json>& state, Checker& check) {
  CheckCommon(c, state, check);
  int64_t total = 0;
  for (const std::string& id : w.node_ids) {
    for (auto& [acct, balance] : state.at(id)["accounts"].items()) total += balance.get<int64_t>();
  }
  check.Expect(total == static_cast<int64_t>(w.node_ids.size()) * 10 * 1000,
               absl::StrCat("money not conserved: total ", total));
  const json& driver = state.at("driver");
  int64_t issued = driver["issued"];
  check.Expect(driver["doneCount"].get<int64_t>() == issued, "driver doneCount != issued");
  for (int64_t i = 1; i <= issued; ++i) {
    std::string t = absl::StrCat("t", i);
    if (!driver["done"].contains(t)) {
      check.Expect(false, absl::StrCat("transfer ", t, " never completed"));
      continue;
    }
    bool ok = driver["done"][t];
    int debits = 0, credits = 0, rejected = 0;
    int64_t debited = -1, credited = -2;
    for (const std::string& id : w.node_ids) {
      const json& b = state.at(id);
      if (b["debits"].contains(t)) ++debits, debited = b["debits"][t];
      if (b["credits"].contains(t)) ++credits, credited = b["credits"][t];
      if (b["rejected"].contains(t)) ++rejected;
    }
    if (ok) {
      check.Expect(debits == 1 && credits == 1 && debited == credited,
                   absl::StrCat("transfer ", t, ": debited at ", debits, " nodes, credited at ", credits));
    } else {
      check.Expect(debits == 0 && credits == 0 && rejected == 1, absl::StrCat("rejected transfer ", t, " left traces"));
    }
  }
}

void CheckChain(const Cluster& c, const Workload& w, const std::map<std::string, json>& state, Checker& check) {
  CheckCommon(c, state, check);
  const json& driver = state.at("driver");
  int64_t issued = driver["issued"];
  int64_t hops = driver["hops"];
  check.Expect(driver["finishedCount"].get<int64_t>() == issued, "driver finishedCount != issued");
  std::map<std::string, int> seen;  // "k7@3" -> times across relays
  for (const std::string& id : w.node_ids) {
    for (auto& [key, from] : state.at(id)["seen"].items()) seen[key]++;
  }
  for (int64_t i = 1; i <= issued; ++i) {
    std::string k = absl::StrCat("k", i);
    check.Expect(driver["finished"].contains(k), absl::StrCat("token ", k, " never finished"));
    for (int64_t h = 1; h <= hops; ++h) {
      int n = seen[absl::StrCat(k, "@", h)];
      check.Expect(n == 1, absl::StrCat("token ", k, " hop ", h, " seen ", n, " times"));
    }
  }
}

// rooms: state[id] = {issued, done, posted: {room: n}, refused, rooms: [[key, {sender: n}, [bad...]]]}.
void CheckRooms(const Cluster& c, const std::map<std::string, json>& state, Checker& check) {
  std::map<std::string, std::string> host;                  // room -> node hosting it
  std::map<std::pair<std::string, std::string>, int64_t> in_room;  // (room, sender) -> posts
  for (const std::string& id : c.ids) {
    for (const json& room : state.at(id)["rooms"]) {
      const std::string key = room[0].get<std::string>();
      const auto [at, first] = host.emplace(key, id);
      check.Expect(first, absl::StrCat(key, " is hosted by both ", at->second, " and ", id));
      for (auto& [sender, n] : room[1].items()) in_room[{key, sender}] = n.get<int64_t>();
      check.Expect(room[2].empty(), absl::StrCat(key, ": posts doubled or out of order: ", room[2].dump()));
    }
  }
  for (const std::string& id : c.ids) {
    const json& s = state.at(id);
    check.Expect(s["done"] == s["issued"], absl::StrCat(id, ": ", s["done"].dump(), " of ", s["issued"].dump(), " posts done"));
    for (auto& [room, n] : s["posted"].items()) {
      const int64_t got = in_room.count({room, id}) ? in_room[{room, id}] : 0;
      check.Expect(got == n.get<int64_t>(), absl::StrCat(room, " holds ", got, " posts of ", id, ", which completed ", n.dump()));
      in_room.erase({room, id});
    }
  }
  for (const auto& [where, n] : in_room) {
    check.Expect(false, absl::StrCat(where.first, " holds ", n, " posts of ", where.second, " that it never completed"));
  }
}

int RunWorkload(const Workload& w, uint32_t seed, int duration_s, const std::vector<std::string>& faults) {
  const std::string examples = absl::GetFlag(FLAGS_examples);
  NetworkSetup network;
  network.kinds = faults;
  Cluster c = Write(w, examples, seed, &network);
  printf("== %s: %zu nodes, seed %u, %d s of chaos (%s)\n", w.name.c_str(), c.ids.size(), seed, duration_s,
         c.config.c_str());
  fflush(stdout);
  ::ken::testing::Process supervisor({absl::GetFlag(FLAGS_ken), "cluster", "up", c.config, "--log-level", "warn"},
                                     c.env);
  if (!c.env.empty()) {
    printf("   every node on its own loopback address, one port, addressed by name (%s/hosts)\n", c.dir.c_str());
  }
  std::map<std::string, std::string> incarnation;
  std::map<std::string, uint64_t> turns;
  auto up_deadline = Clock::now() + std::chrono::seconds(60);
  int exit_code = 0;
  bool supervisor_exited = false;
  while (incarnation.size() < c.ids.size() && Clock::now() < up_deadline && !supervisor_exited) {
    for (const std::string& id : c.ids) {
      if (auto s = Status(c, id)) incarnation[id] = s->incarnation();
    }
    supervisor_exited = supervisor.Poll(&exit_code);  // also reads its output so the pipe never fills
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (network.net) {
    printf("   network faults (%s) between every pair of nodes, kills %s\n", absl::StrJoin(faults, ",").c_str(),
           absl::GetFlag(FLAGS_kills) ? "on" : "off");
    fflush(stdout);
  }
  Checker check;
  if (incarnation.size() < c.ids.size()) {
    std::vector<std::string> down;
    for (const std::string& id : c.ids) {
      if (!incarnation.count(id)) down.push_back(absl::StrCat(id, " (", c.address.at(id), ")"));
    }
    fprintf(stderr, "cluster did not come up: no status from %s within 60 s%s; ken cluster up printed:\n%s\n",
            absl::StrJoin(down, ", ").c_str(),
            supervisor_exited ? absl::StrCat(" (it exited with code ", exit_code, ")").c_str() : "",
            supervisor.output().c_str());
    return 1;
  }
  std::mt19937 rng(seed);
  int kills = 0;
  auto chaos_end = Clock::now() + std::chrono::seconds(duration_s);
  if (network.net) {
    ::ken::testing::RoundsOptions rounds;
    rounds.kinds = network.kinds;
    rounds.kills = absl::GetFlag(FLAGS_kills);
    rounds.drain_bound_ms = absl::GetFlag(FLAGS_drain_bound_ms);
    rounds.storm_partition_s = absl::GetFlag(FLAGS_storm_partition_s);
    kills = ::ken::testing::RunNetworkRounds(c, *network.net, rounds, duration_s, check,
                                             [&] { supervisor.Poll(&exit_code); })
                .kills;
  }
  while (!network.net && Clock::now() < chaos_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1801));
    const std::string& victim = c.ids[rng() % c.ids.size()];
    if (!absl::GetFlag(FLAGS_kills)) continue;
    if (auto s = Status(c, victim)) {
      check.Expect(s->incarnation() == incarnation[victim], victim + "'s store was re-created");
      check.Expect(s->turns() >= turns[victim], victim + "'s committed turns went back");
      turns[victim] = s->turns();
      kill(static_cast<pid_t>(s->pid()), SIGKILL);
      ++kills;
    }
    supervisor.Poll(&exit_code);
  }
  // Stop issuing, then wait until everything issued is done and every outbox is empty.
  const bool rooms = w.folder == "rooms";
  const std::vector<std::string> issuers = rooms ? c.ids : std::vector<std::string>{"driver"};
  for (const std::string& id : issuers) {
    std::optional<json> issued = Eval(c, id, rooms ? "run.limit = run.issued" : "limit = issued");
    check.Expect(issued.has_value(), "could not stop " + id);
  }
  bool quiet = false;
  auto quiesce_deadline = Clock::now() + std::chrono::seconds(180);
  while (!quiet && Clock::now() < quiesce_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    quiet = true;
    for (const std::string& id : issuers) {
      std::optional<json> progress = Eval(c, id, rooms ? "run.done === run.issued" : w.progress + " === issued");
      quiet = quiet && progress && progress->is_boolean() && progress->get<bool>();
    }
    for (const std::string& id : c.ids) {
      auto s = Status(c, id);
      quiet = quiet && s && s->unacked_total() == 0;
    }
    supervisor.Poll(&exit_code);
  }
  check.Expect(quiet, "the cluster did not quiesce within 180 s");
  std::map<std::string, json> state;
  uint64_t restarts = 0, retransmits = 0, duplicates = 0, dead = 0, refused = 0;
  for (const std::string& id : c.ids) {
    // The workload's own globals (the script's `var`s), as JSON.
    std::optional<json> s = Eval(c, id, rooms ? std::string(kRoomsState) : "({" +
        std::string(w.folder == "bank"
                        ? (id == "driver" ? "issued, done, doneCount, okCount, duplicates, fifoViolations"
                                          : "accounts, debits, credits, rejected, duplicates, fifoViolations")
                        : (id == "driver" ? "issued, hops, finished, finishedCount, duplicates, fifoViolations"
                                          : "seen, duplicates, fifoViolations")) +
        ", refused: send.refused, waiting: send.waitingCount()})");
    if (!s || !s->is_object()) {
      check.Expect(false, "cannot read the state of " + id);
      state[id] = json::object({{"duplicates", json::array()}, {"fifoViolations", json::array()}});
      continue;
    }
    state[id] = *s;
    refused += s->value("refused", 0);
    check.Expect(s->value("waiting", -1) == 0, absl::StrCat(id, " still holds ", s->value("waiting", -1), " refused sends"));
    if (auto st = Status(c, id)) {
      check.Expect(st->incarnation() == incarnation[id], id + "'s store was re-created");
      restarts += st->restarts();
      dead += st->dead_letters();
      for (const auto& ch : st->channels()) {
        retransmits += ch.retransmits();
        duplicates += ch.duplicates_dropped();
      }
    }
  }
  check.Expect(dead == 0, absl::StrCat(dead, " dead letters"));
  if (check.violations == 0) {
    if (w.folder == "bank") CheckBank(c, w, state, check);
    else if (rooms) CheckRooms(c, state, check);
    else CheckChain(c, w, state, check);
  }
  supervisor.Kill(SIGTERM);
  supervisor.Wait(30000);
  const json& driver = state["driver"];
  int64_t posts = 0, hosted = 0;
  for (const std::string& id : c.ids) {
    if (!rooms) break;
    posts += state[id].value("issued", 0);
    hosted += state[id]["rooms"].size();
  }
  printf("%s seed %u: %s %lld (%s), kills %d, restarts %llu, retransmits %llu, duplicates dropped %llu, sends refused (outbox full) and retried %llu, violations %d\n",
         w.name.c_str(), seed, w.folder == "bank" ? "transfers" : rooms ? "posts" : "tokens",
         static_cast<long long>(rooms ? posts : driver.value("issued", 0)),
         w.folder == "bank" ? absl::StrCat(driver.value("okCount", 0), " applied").c_str()
         : rooms            ? absl::StrCat("into ", hosted, " room actors").c_str()
                            : absl::StrCat(driver.value("hops", 0), " hops each").c_str(),
         kills, static_cast<unsigned long long>(restarts), static_cast<unsigned long long>(retransmits),
         static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(refused), check.violations);
  if (check.violations > 0) {
    printf("FAILED: replay with --seed=%u --workloads=%s --faults=%s (stores and logs kept in %s)\n", seed,
           w.name.c_str(), absl::StrJoin(faults, ",").c_str(), c.dir.c_str());
  } else {
    // A passing run leaves nothing behind (its journal segments take GBs).
    std::error_code ignored;
    std::filesystem::remove_all(c.dir, ignored);
  }
  fflush(stdout);
  return check.violations == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ken

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  uint32_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint32_t>(std::random_device()());
  std::map<std::string, ken::Workload> known = {
      {"bank3", {"bank3", "bank", {"bank-1", "bank-2", "bank-3"}, "bank.js", "doneCount"}},
      {"bank5", {"bank5", "bank", {"bank-1", "bank-2", "bank-3", "bank-4", "bank-5"}, "bank.js", "doneCount"}},
      {"chain5", {"chain5", "chain", {"relay-1", "relay-2", "relay-3", "relay-4", "relay-5"}, "relay.js", "finishedCount"}},
      {"rooms3", {"rooms3", "rooms", {"room-1", "room-2", "room-3"}, "rooms.js", "run.done"}},
  };
  if (absl::GetFlag(FLAGS_loopback_hosts) && !ken::testing::HaveNssWrapper()) {
    fprintf(stderr, "--loopback_hosts needs nss_wrapper (Debian's libnss-wrapper; tools/setup.sh installs it)\n");
    return 2;
  }
  int passed = 0, failed = 0;
  std::vector<std::string> names = absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty());
  std::vector<std::string> faults = absl::StrSplit(absl::GetFlag(FLAGS_faults), ',', absl::SkipEmpty());
  if (faults.size() == 1 && faults[0] == "all") faults = ken::testing::FaultKinds();
  for (const std::string& f : faults) {
    const auto& kinds = ken::testing::FaultKinds();
    if (std::find(kinds.begin(), kinds.end(), f) == kinds.end()) {
      fprintf(stderr, "unknown fault %s (known: %s, all)\n", f.c_str(), absl::StrJoin(kinds, ", ").c_str());
      return 2;
    }
  }
  for (const std::string& name : names) {
    auto it = known.find(name);
    if (it == known.end()) {
      fprintf(stderr, "unknown workload %s\n", name.c_str());
      return 2;
    }
    (ken::RunWorkload(it->second, seed, absl::GetFlag(FLAGS_duration), faults) == 0 ? passed : failed)++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
