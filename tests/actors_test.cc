// Actors by key (ken.actor / ken.ref) on clusters of real `ken run`
// processes: placement across the nodes and its stability across kill -9
// and restarts, references that keep working after being cloned into
// messages and replies, errors, a pinned placement and nodes that disagree
// about one, and rooms whose posts arrive exactly once, in per-sender order,
// while every node is killed at random.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunProgram;
using ::ken::testing::TestCluster;

const char kKen[] = "cli/ken";

// Every node runs this: the Room kind and a helper to record outcomes.
const char kRooms[] = R"(
ken.actor('Room', {
  state(key) { return { name: key, members: [], posts: [] }; },
  join(who) { this.members.push(who); return this.members.length; },
  members() { return this.members; },
  post(who, n) { this.posts.push([who, n]); return this.posts.length; },
  boom() { this.members.push('never'); throw new RangeError('no ' + this.name); },
  where() { return ken.me; },
  forward(ref, method) { return ref.call(method); },
  neighbour(key) { return ken.ref('Room', key); },
});
var out = {};
function go(name, p) {
  out[name] = 'pending';
  p.then(function (v) { out[name] = ['ok', v]; }, function (e) { out[name] = ['err', e.name, e.message]; });
  return 0;
}
)";

std::vector<::ken::testing::NodeSpec> ThreeNodes(const std::string& extra = "") {
  return {{"a", kRooms + extra}, {"b", kRooms + extra}, {"c", kRooms + extra}};
}

class ActorsTest : public ::testing::Test {
 protected:
  void StartAll(TestCluster& cluster) {
    for (const char* id : {"a", "b", "c"}) cluster.Start(id);
    for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(Eval(cluster, id, "1").ok()) << cluster.Output(id);
  }
  void KillAll(TestCluster& cluster) {
    for (const char* id : {"a", "b", "c"}) {
      cluster.Kill(id, SIGKILL);
      int code;
      while (!cluster.Exited(id, &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  static absl::StatusOr<v1::EvalReply> Eval(TestCluster& cluster, const std::string& id, const std::string& source) {
    return cluster.EvalWhenUp(id, source);
  }
  // Starts `promise` (JS) on `id` as out[name] and waits for its outcome (JSON).
  static std::string Outcome(TestCluster& cluster, const std::string& id, const std::string& name,
                             const std::string& promise) {
    absl::StatusOr<v1::EvalReply> r = Eval(cluster, id, "go('" + name + "', " + promise + ")");
    EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->error() : std::string(r.status().message()));
    std::string last;
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<v1::EvalReply> v = cluster.Eval(id, "out['" + name + "']");
      last = v.ok() ? v->result() : "";
      if (last != "\"pending\"" && !last.empty()) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last;
  }
  // Which node hosts each Room key, from the stores (ken inspect); number
  // keys as "#7".
  static std::map<std::string, std::string> Owners(TestCluster& cluster) {
    std::map<std::string, std::string> owners;
    for (const char* id : {"a", "b", "c"}) {
      nlohmann::json keys =
          nlohmann::json::parse(cluster.Inspect(id, "ken.actors('Room').map(function (x) { return x.key; })"), nullptr, false);
      if (!keys.is_array()) continue;
      for (const auto& k : keys) owners[k.is_string() ? k.get<std::string>() : "#" + k.dump()] += id;
    }
    return owners;
  }
};

TEST_F(ActorsTest, ActorsLiveWhereTheirKeyIsPlacedAndStayThereAcrossRestarts) {
  TestCluster cluster(kKen, ThreeNodes());
  StartAll(cluster);
  ASSERT_TRUE(Eval(cluster, "a", "for (var i = 0; i < 60; i++) ken.ref('Room', 'r' + i).send('join', 'a'); "
                                 "ken.ref('Room', 7).send('join', 'seven'); var saved = ken.ref('Room', 'r1'); 0").ok());
  std::map<std::string, std::string> owners;
  for (int i = 0; i < 100 && owners.size() < 61; ++i) {
    owners = Owners(cluster);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(owners.size(), 61u);
  std::map<std::string, int> per_node;
  for (const auto& [key, node] : owners) {
    EXPECT_EQ(node.size(), 1u) << key << " is hosted on " << node;
    per_node[node]++;
  }
  for (const char* id : {"a", "b", "c"}) EXPECT_GE(per_node[id], 8) << id << " hosts too few of 61 actors";
  // Keys 7 and '7' are different actors.
  EXPECT_EQ(Outcome(cluster, "b", "n7", "ken.ref('Room', 7).call('members')"), "[\"ok\",[\"seven\"]]");
  EXPECT_EQ(Outcome(cluster, "b", "s7", "ken.ref('Room', '7').call('members')"), "[\"ok\",[]]");
  owners = Owners(cluster);
  ASSERT_EQ(owners.size(), 62u);
  KillAll(cluster);
  StartAll(cluster);
  EXPECT_EQ(Owners(cluster), owners) << "an actor moved across the restart";
  // The state is kept, calls from any node reach it, and a reference kept in
  // the heap still works after the restart.
  EXPECT_EQ(Outcome(cluster, "c", "m", "ken.ref('Room', 'r5').call('members')"), "[\"ok\",[\"a\"]]");
  EXPECT_EQ(Outcome(cluster, "a", "saved", "saved.call('where')"), "[\"ok\",\"" + owners["r1"] + "\"]");
  // ken cluster actors lists them, read-only.
  auto listed = RunProgram({kKen, "cluster", "actors", cluster.config_path(), "Room", "--json"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  nlohmann::json rows = nlohmann::json::parse(listed.output.substr(listed.output.find('[')), nullptr, false);
  ASSERT_TRUE(rows.is_array()) << listed.output;
  EXPECT_EQ(rows.size(), 62u);  // with 7 and '7'
  for (const auto& row : rows) {
    const std::string key = row["key"].is_string() ? row["key"].get<std::string>() : "#" + row["key"].dump();
    EXPECT_EQ(row["node"].get<std::string>(), owners[key]) << key;
    EXPECT_GT(row["state_bytes"].get<int64_t>(), 20);
  }
  auto table = RunProgram({kKen, "cluster", "actors", cluster.config_path()});
  EXPECT_NE(table.output.find("NODE             KIND                 KEY"), std::string::npos) << table.output;
  // ken inspect reaches an actor's state.
  const std::string owner = owners["r3"];
  EXPECT_EQ(cluster.Inspect(owner, "ken.actors('Room').filter(function (x) { return x.key === 'r3'; })[0].state.members"),
            "[\"a\"]");
}

TEST_F(ActorsTest, ReferencesSurviveCloningAndErrorsReachTheCaller) {
  TestCluster cluster(kKen, ThreeNodes());
  StartAll(cluster);
  // A reference sent to an actor on another node, which calls through it.
  EXPECT_EQ(Outcome(cluster, "a", "fw", "ken.ref('Room', 'x').call('forward', ken.ref('Room', 'y'), 'where')"),
            Outcome(cluster, "a", "wy", "ken.ref('Room', 'y').call('where')"));
  // A reference returned in a reply.
  EXPECT_EQ(Outcome(cluster, "b", "nb", "ken.ref('Room', 'x').call('neighbour', 'z').then(function (r) { "
                                        "return [String(r), typeof r.call, r.kind]; })"),
            "[\"ok\",[\"[actor Room \\\"z\\\"]\",\"function\",\"Room\"]]");
  // A method that throws: rolled back on its node, its error at the caller.
  EXPECT_EQ(Outcome(cluster, "c", "boom", "ken.ref('Room', 'x').call('boom')"), "[\"err\",\"RangeError\",\"no x\"]");
  EXPECT_EQ(Outcome(cluster, "c", "after", "ken.ref('Room', 'x').call('members')"), "[\"ok\",[]]");
  EXPECT_EQ(Outcome(cluster, "a", "nomethod", "ken.ref('Room', 'x').call('fly')"),
            "[\"err\",\"TypeError\",\"actor kind 'Room' has no method 'fly'\"]");
  const std::string unknown = Outcome(cluster, "a", "kind", "ken.ref('Nope', 'k').call('x')");
  EXPECT_TRUE(unknown.find("actor kind 'Nope' is not defined on node") != std::string::npos) << unknown;
  for (const auto& [source, message] : std::vector<std::pair<std::string, std::string>>{
           {"ken.ref('', 1)", "TypeError: ken.ref(kind, key): the kind must be a non-empty string"},
           {"ken.ref('Room', {})", "TypeError: ken.ref(kind, key): the key must be a string or a safe integer, not object"},
           {"ken.ref('Room', 1.5)", "the key must be a string or a safe integer"},
           {"ken.actor('X', 5)", "TypeError: ken.actor(kind, methods): methods must be an object of functions"},
           {"ken.actor('X', {a: 1})", "TypeError: ken.actor('X'): 'a' is not a function"},
           {"ken.ref('Room', 'x').call(5)", "TypeError: ref.call(method, ...args): method must be a string"}}) {
    absl::StatusOr<v1::EvalReply> r = Eval(cluster, "a", source);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NE(r->error().find(message), std::string::npos) << source << ": " << r->error();
  }
}

TEST_F(ActorsTest, PinnedPlacementAndNodesThatDisagree) {
  TestCluster cluster(kKen, ThreeNodes(), "actors:\n  Room: {placement: [c]}\n");
  StartAll(cluster);
  for (const char* key : {"p", "q", "r", "s"}) {
    EXPECT_EQ(Outcome(cluster, "a", key, std::string("ken.ref('Room', '") + key + "').call('where')"), "[\"ok\",\"c\"]");
  }
  // The config now places Room over b and c. c used Room already: it keeps
  // [c] and says so; a has used it too and keeps [c]; b never used it and
  // takes [b, c], asks a and c which list they use, and refuses every Room
  // call once they answer [c]: its calls routed to c are refused by c, and
  // those it would host itself under [b, c] never run, so no actor exists
  // twice.
  KillAll(cluster);
  std::ifstream in(cluster.config_path());
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  config.replace(config.find("placement: [c]"), 14, "placement: [b, c]");
  std::ofstream(cluster.config_path()) << config;
  StartAll(cluster);
  EXPECT_TRUE(cluster.WaitForOutput("c", "actors: Room actors stay placed over [c]", 10)) << cluster.Output("c");
  EXPECT_EQ(Outcome(cluster, "a", "p2", "ken.ref('Room', 'p').call('where')"), "[\"ok\",\"c\"]");
  // A call that throws at once (b refuses the kind) counts as its rejection.
  const auto call_on_b = [](const std::string& key) {
    return "(function () { try { return ken.ref('Room', '" + key + "').call('where'); } catch (e) { return "
           "Promise.reject(e); } })()";
  };
  for (int i = 0; i < 12; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::string o = Outcome(cluster, "b", key, call_on_b(key));
    EXPECT_EQ(o.find("[\"ok\""), std::string::npos) << key << " ran under b's own list: " << o;
    EXPECT_NE(o.find("places Room actors over ["), std::string::npos) << o;
  }
  EXPECT_TRUE(cluster.WaitForOutput("b", "refusing every Room call here so that no actor is hosted twice: pin the "
                                         "list the cluster uses in the config (actors: Room: placement: [c])", 10))
      << cluster.Output("b");
  for (const auto& [key, hosts] : Owners(cluster)) EXPECT_EQ(hosts, "c") << key;
  // Pinned back to the list the cluster uses, b asks again and agrees.
  cluster.Kill("b", SIGKILL);
  int code;
  while (!cluster.Exited("b", &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  config.replace(config.find("placement: [b, c]"), 17, "placement: [c]");
  std::ofstream(cluster.config_path()) << config;
  cluster.Start("b");
  EXPECT_EQ(Outcome(cluster, "b", "after", call_on_b("k0")), "[\"ok\",\"c\"]") << cluster.Output("b");
}

// Calls and messages to an actor of the calling node are turns of their
// own, as they are to another node's: arguments and results are structured
// clones, a method that throws is rolled back and rejects its caller with
// e.node set, a message whose method throws is a dead letter, and what
// cannot be cloned is refused at the call.
TEST_F(ActorsTest, CallsToAnActorOfTheSameNodeAreTurnsOfTheirOwn) {
  TestCluster cluster(kKen, ThreeNodes(), "actors:\n  Room: {placement: [a]}\n  Lazy: {placement: [a]}\n");
  StartAll(cluster);
  const std::string x = "ken.ref('Room', 'x')";
  EXPECT_EQ(Outcome(cluster, "a", "join",
                    "(function () { var who = ['ada']; var p = " + x + ".call('join', who); who.push('bob'); "
                    "return p; })()"),
            "[\"ok\",1]");
  EXPECT_EQ(Outcome(cluster, "a", "copy",
                    x + ".call('members').then(function (m) { m.push('intruder'); return " + x + ".call('members'); })"),
            "[\"ok\",[[\"ada\"]]]");
  EXPECT_EQ(Outcome(cluster, "a", "boom", x + ".call('boom')"), "[\"err\",\"RangeError\",\"no x\"]");
  EXPECT_EQ(Outcome(cluster, "a", "node", x + ".call('boom').catch(function (e) { return e.node; })"), "[\"ok\",\"a\"]");
  absl::StatusOr<v1::EvalReply> r = Eval(cluster, "a", x + ".send('boom'); 1");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_TRUE(cluster.WaitForOutput("a", "dead letter", 10)) << cluster.Output("a");
  EXPECT_EQ(Outcome(cluster, "a", "after", x + ".call('members')"), "[\"ok\",[[\"ada\"]]]")
      << "a method that threw kept its changes";
  r = Eval(cluster, "a", "try { " + x + ".call('join', function () {}); 'accepted' } catch (e) { e.message }");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_NE(r->result().find("could not be cloned"), std::string::npos) << r->result();
  // As big a limit as a message to another node has (the config's
  // max_message_bytes, 4 MiB by default); kinds the config could not pin
  // are refused.
  r = Eval(cluster, "a", "try { " + x + ".call('join', 'z'.repeat(5 << 20)); 'accepted' } catch (e) { e.message }");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_NE(r->result().find("Room 'x'.join() arguments: a value of 5242"), std::string::npos) << r->result();
  EXPECT_NE(r->result().find("bytes exceeds max_message_bytes (4194304)"), std::string::npos) << r->result();
  r = Eval(cluster, "a", "try { ken.actor('Chat Room', {}); 'accepted' } catch (e) { e.message }");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_NE(r->result().find("printable ASCII characters without spaces"), std::string::npos) << r->result();
  r = Eval(cluster, "a", "try { ken.ref('Room', 1.5); 'accepted' } catch (e) { e.message }");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_NE(r->result().find("the key must be a string or a safe integer, not 1.5"), std::string::npos) << r->result();
  // A state() that returns a promise: the call is refused, not the promise kept as the state.
  ASSERT_TRUE(Eval(cluster, "a", "ken.actor('Lazy', { async state() { return {}; }, get() { return 1; } }); 1").ok());
  const std::string lazy = Outcome(cluster, "a", "lazy", "ken.ref('Lazy', 'x').call('get')");
  EXPECT_NE(lazy.find("state() must return the state itself, not a promise"), std::string::npos) << lazy;
  for (const auto& [key, hosts] : Owners(cluster)) EXPECT_EQ(hosts, "a") << key;
  // After kill -9 (a journal store replays the failed turns' fallbacks from
  // their records, error included) the outcomes and the state are as committed.
  KillAll(cluster);
  StartAll(cluster);
  r = Eval(cluster, "a", "[out.boom[0], out.boom[1], out.boom[2], out.node[1]].join(' ')");
  ASSERT_TRUE(r.ok() && r->ok());
  EXPECT_EQ(r->result(), "\"err RangeError no x a\"");
  EXPECT_EQ(Outcome(cluster, "a", "restarted", x + ".call('members')"), "[\"ok\",[[\"ada\"]]]");
}

// Rooms under kill -9: a and b each post 60 numbered posts into 12 rooms
// (awaiting each), while every node is killed at random. Every post is in
// its room exactly once, and each sender's posts are in order.
TEST_F(ActorsTest, RoomPostsArriveExactlyOnceInPerSenderOrderUnderKill9) {
  const std::string poster = R"(
var posted = 0, done = false;
(async function () {
  for (var n = 0; n < 60; n++) {
    await ken.ref('Room', 'room' + (n % 12)).call('post', ken.me, n);
    posted = n + 1;
  }
  done = true;
})();
)";
  TestCluster cluster(kKen, {{"a", kRooms + poster}, {"b", kRooms + poster}, {"c", kRooms}});
  StartAll(cluster);
  const uint32_t seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int kill = 0; kill < 10; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    const std::string victim = std::string(1, "abc"[rng() % 3]);
    cluster.Kill(victim, SIGKILL);
    int code;
    while (!cluster.Exited(victim, &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cluster.Start(victim);
  }
  EXPECT_EQ(cluster.WaitForValue("a", "done", "true", 90), "true") << cluster.Output("a");
  EXPECT_EQ(cluster.WaitForValue("b", "done", "true", 90), "true") << cluster.Output("b");
  std::map<std::string, std::vector<int>> seen;  // sender -> posts in room order, per room
  int total = 0;
  for (const char* id : {"a", "b", "c"}) {
    nlohmann::json rooms = nlohmann::json::parse(
        cluster.Inspect(id, "ken.actors('Room').map(function (x) { return [x.key, x.state.posts]; })"), nullptr, false);
    ASSERT_TRUE(rooms.is_array()) << id;
    for (const auto& room : rooms) {
      std::map<std::string, int> last;
      for (const auto& post : room[1]) {
        const std::string who = post[0].get<std::string>();
        const int n = post[1].get<int>();
        EXPECT_EQ(n % 12, std::stoi(room[0].get<std::string>().substr(4))) << "post in the wrong room";
        EXPECT_GT(n, last.count(who) ? last[who] : -1) << who << "'s posts out of order or doubled in " << room[0];
        last[who] = n;
        seen[who].push_back(n);
        ++total;
      }
    }
  }
  EXPECT_EQ(total, 120);
  for (const char* who : {"a", "b"}) {
    std::set<int> distinct(seen[who].begin(), seen[who].end());
    EXPECT_EQ(distinct.size(), 60u) << who;
    EXPECT_EQ(seen[who].size(), 60u) << who;
  }
}

}  // namespace
}  // namespace ken
