// Request/reply (ken.call) between real `ken run` processes: values,
// promises settled turns later, errors thrown or rejected on the callee
// (rolled back there, answered as errors), timeouts and the late replies
// after them, replies that cannot be cloned, nested calls back into the
// caller, plain messages next to calls, an admin eval awaiting a call; and
// a caller whose `await` resumes exactly once with the right value across
// kill -9 of either side at the crash points of the commit path.
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

const char kKen[] = "cli/ken";

// The callee: each `op` exercises one kind of answer.
const char kCallee[] = R"(
var count = 0, plain = [];
ken.receive(function (v, from) {
  if (v.op === 'plain') { plain.push(v.n); return 'nobody reads this'; }
  count++;
  if (v.op === 'double') return v.n * 2;
  if (v.op === 'later') return new Promise(function (resolve) { setTimeout(function () { resolve('late ' + v.n); }, v.ms); });
  if (v.op === 'throw') throw new TypeError('bad n ' + v.n);
  if (v.op === 'reject') return Promise.reject(new RangeError('rejected ' + v.n));
  if (v.op === 'throw42') throw 42;
  if (v.op === 'never') return new Promise(function () {});
  if (v.op === 'clone') return function () {};
  if (v.op === 'back') return ken.call(from, 'ping ' + v.n);
  if (v.op === 'spin') for (;;) {}
  return 'unknown op';
});
)";

// The caller: go(name, value, options) records the outcome in out[name].
const char kCaller[] = R"(
var out = {};
ken.receive(function (v, from) { return 'a got ' + v + ' from ' + from; });
var handleRequest = async function (request, response) {
  response.body = 'b says ' + (await ken.call('b', { op: 'double', n: Number(request.query) }));
};
function go(name, value, options) {
  out[name] = 'pending';
  ken.call('b', value, options).then(
      function (r) { out[name] = ['ok', r]; },
      function (e) { out[name] = ['err', e.name, e.message, e instanceof ken.TimeoutError, e.node === undefined ? null : e.node]; });
  return 0;
}
)";

class CallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<TestCluster>(kKen, std::vector<::ken::testing::NodeSpec>{{"a", kCaller}, {"b", kCallee}});
    cluster_->Start("b", {}, {"--turn_timeout=1s"});
    http_port_ = ::ken::testing::FreePort();
    cluster_->Start("a", {}, {"--http", "127.0.0.1:" + std::to_string(http_port_)});
    ASSERT_TRUE(Eval("a", "1").ok());
    ASSERT_TRUE(Eval("b", "1").ok());
  }

  // An admin eval, retried while the node is starting.
  absl::StatusOr<v1::EvalReply> Eval(const std::string& id, const std::string& source) {
    return cluster_->EvalWhenUp(id, source);
  }

  // Starts call `name` on a and waits for its outcome (JSON).
  std::string Outcome(const std::string& name, const std::string& value, const std::string& options = "undefined") {
    absl::StatusOr<v1::EvalReply> r = Eval("a", "go('" + name + "', " + value + ", " + options + ")");
    EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->error() : std::string(r.status().message()));
    const std::string outcome = Wait("out['" + name + "']", "");
    EXPECT_NE(outcome, "\"pending\"") << "a:\n" << cluster_->Output("a") << "\nb:\n" << cluster_->Output("b");
    return outcome;
  }

  // Polls `expr` on a (admin eval; its value as JSON) until it is not
  // "pending" (`want` empty) or equals `want`.
  std::string Wait(const std::string& expr, const std::string& want, const std::string& node = "a") {
    std::string last;
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<v1::EvalReply> r = Eval(node, expr);
      last = r.ok() ? (r->ok() ? r->result() : r->error()) : std::string(r.status().message());
      if (want.empty() ? last != "\"pending\"" : last == want) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last;
  }

  std::unique_ptr<TestCluster> cluster_;
  int http_port_ = 0;
};

TEST_F(CallTest, RepliesAndErrorsReachTheCaller) {
  EXPECT_EQ(Outcome("d", "{op: 'double', n: 21}"), "[\"ok\",42]");
  EXPECT_EQ(Outcome("l", "{op: 'later', n: 1, ms: 300}"), "[\"ok\",\"late 1\"]");
  // A handler that throws is rolled back (count stays), dead-lettered, and
  // its caller gets the error's name and message.
  EXPECT_EQ(Outcome("t", "{op: 'throw', n: 3}"), "[\"err\",\"TypeError\",\"bad n 3\",false,\"b\"]");
  EXPECT_EQ(Wait("count", "2", "b"), "2");
  absl::StatusOr<v1::StatusReply> status = cluster_->Status("b");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->dead_letters(), 1u);
  EXPECT_EQ(Outcome("r", "{op: 'reject', n: 4}"), "[\"err\",\"RangeError\",\"rejected 4\",false,\"b\"]");
  EXPECT_EQ(Outcome("42", "{op: 'throw42'}"), "[\"err\",\"Error\",\"42\",false,\"b\"]");
  // A handler that runs past the turn timeout is aborted like one that threw.
  const std::string spin = Outcome("s", "{op: 'spin'}");
  EXPECT_NE(spin.find("turn timeout"), std::string::npos) << spin;
  const std::string clone = Outcome("c", "{op: 'clone'}");
  EXPECT_NE(clone.find("the reply could not be sent: "), std::string::npos) << clone;
  EXPECT_NE(clone.find("could not be cloned"), std::string::npos) << clone;
  // b calls back into a from inside its handler: no deadlock.
  EXPECT_EQ(Outcome("n", "{op: 'back', n: 7}"), "[\"ok\",\"a got ping 7 from b\"]");
  // A plain message next to the calls: delivered, not answered.
  ASSERT_TRUE(Eval("a", "ken.send('b', {op: 'plain', n: 9})").ok());
  EXPECT_EQ(Wait("plain", "[9]", "b"), "[9]");
  EXPECT_EQ(Wait("ken.callStats().lateReplies", "0"), "0");
  // An admin eval may await a call (its reply is completed by a later turn).
  absl::StatusOr<v1::EvalReply> awaited = Eval("a", "ken.call('b', {op: 'double', n: 5})");
  ASSERT_TRUE(awaited.ok()) << awaited.status();
  EXPECT_EQ(awaited->result(), "10") << awaited->error();
  // So may an HTTP handler: its response waits for the reply.
  httplib::Client web("127.0.0.1", http_port_);
  auto res = web.Get("/call?33");
  ASSERT_TRUE(res) << cluster_->Output("a");
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "b says 66");
  EXPECT_EQ(Wait("ken.callStats().pending", "0"), "0");
}

TEST_F(CallTest, TimeoutsRejectAndLateRepliesAreDroppedAndCounted) {
  EXPECT_EQ(Outcome("t", "{op: 'never'}", "{timeout: '300ms'}"),
            "[\"err\",\"TimeoutError\",\"ken.call to 'b' got no reply within 300 ms; whether it ran there is unknown "
            "(a reply that comes later is dropped)\",true,null]");
  EXPECT_EQ(Outcome("late", "{op: 'later', n: 2, ms: 1000}", "{timeout: 200}"),
            "[\"err\",\"TimeoutError\",\"ken.call to 'b' got no reply within 200 ms; whether it ran there is unknown "
            "(a reply that comes later is dropped)\",true,null]");
  EXPECT_EQ(Wait("ken.callStats().lateReplies", "1"), "1");
  EXPECT_EQ(Wait("ken.callStats()", ""), "{\"pending\":0,\"timedOut\":2,\"lateReplies\":1,\"replyRetries\":0}");
  // Bad arguments throw at the call, naming the problem.
  for (const auto& [source, message] : std::vector<std::pair<std::string, std::string>>{
           {"ken.call('b', 1, {timeout: -1})", "RangeError: ken.call: options.timeout must be more than 0"},
           {"ken.call('b', 1, {timeout: '5 parsecs'})", "RangeError: ken.call: options.timeout"},
           {"ken.call('b', 1, {timeout: 1e12})", "at most 2147483647 ms"},
           {"ken.call('b', 1, {timeout: null})", "TypeError: ken.call: options.timeout must be a number"},
           {"ken.call('b', 1, 5)", "TypeError: ken.call: options must be an object"},
           {"ken.call('b', 1, {timout: 5})", "TypeError: ken.call: unknown option 'timout' (the one option is timeout)"},
           {"ken.call('b')", "TypeError: ken.call(dest, value[, options]) needs a destination and a value"},
           {"ken.call('nobody', 1)", "unknown destination 'nobody'"},
           {"ken.call('b', function () {})", "could not be cloned"}}) {
    absl::StatusOr<v1::EvalReply> r = Eval("a", source);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->ok()) << source;
    EXPECT_NE(r->error().find(message), std::string::npos) << source << ": " << r->error();
  }
  // Timeouts are durable timers: one pending across a restart still fires.
  ASSERT_TRUE(Eval("a", "go('r', {op: 'never'}, {timeout: '2s'})").ok());
  cluster_->Kill("a", SIGKILL);
  int code;
  while (!cluster_->Exited("a", &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cluster_->Start("a");
  EXPECT_EQ(Wait("out.r[1]", "\"TimeoutError\""), "\"TimeoutError\"");
}

// Programs that replace the builtins ken.call relies on (Promise.prototype.then,
// Map, Object.defineProperty, Error, ...) still call and answer: the
// built-ins use the intrinsics captured when the heap was made.
const char kPoison[] = R"(
Promise.prototype.then = function () { throw new Error('poisoned then'); };
Map.prototype.get = Map.prototype.set = Map.prototype.delete = function () { throw new Error('poisoned map'); };
Object.defineProperty = function () { throw new Error('poisoned defineProperty'); };
Array.prototype.push = function () { throw new Error('poisoned push'); };
String.prototype.indexOf = function () { throw new Error('poisoned indexOf'); };
RegExp.prototype.exec = function () { throw new Error('poisoned exec'); };
globalThis.Error = function () { throw new Error('poisoned Error'); };
)";

TEST(CallHostileTest, ReplacedBuiltinsDoNotBreakCalls) {
  TestCluster cluster(kKen, {{"a", std::string(kPoison) + R"(
var got = [];
(async function () {
  got[got.length] = await ken.call('b', 5, { timeout: '30s' });
  try { await ken.call('b', -1); } catch (e) { got[got.length] = e.name + ': ' + e.message; }
  try { await ken.call('b', 0); } catch (e) { got[got.length] = e.name + ': ' + e.message; }
})();
)"},
                             {"b", std::string(kPoison) + R"(
ken.receive(async function (v) {
  if (v < 0) throw new RangeError('negative');
  if (v === 0) null.boom;
  return v * 3;
});
)"}});
  cluster.Start("b");
  cluster.Start("a");
  EXPECT_EQ(cluster.WaitForValue("a", "got.length", "3"), "3") << cluster.Output("a") << cluster.Output("b");
  EXPECT_EQ(cluster.Inspect("a", "got"),
            "[15,\"RangeError: negative\",\"TypeError: Cannot read properties of null (reading 'boom')\"]");
}

// The caller awaits kCalls calls in a loop that lives in its heap; every 9th
// call's handler throws. Whatever crashes, the caller's results are each
// call's answer exactly once, in order, and the callee's effects happened
// once per call that did not throw.
const char kLoopCaller[] = R"(
var results = [], done = false;
(async function () {
  for (var i = 0; i < 100; i++) {
    try { results.push(await ken.call('b', i, { timeout: Infinity })); }
    catch (e) { results.push(e.name + ': ' + e.message); }
  }
  done = true;
})();
)";
const char kLoopCallee[] = R"(
var seen = [];
ken.receive(function (i) {
  if (i % 9 === 4) throw new Error('no ' + i);
  seen.push(i);
  return i % 2 ? new Promise(function (resolve) { setTimeout(function () { resolve(i * 2); }, 5); }) : i * 2;
});
)";
constexpr int kCalls = 100;  // as in kLoopCaller
const char kCallerCheck[] = "results";
const char kCalleeCheck[] = "seen";

std::string ExpectedResults() {
  std::string s = "[";
  for (int i = 0; i < kCalls; ++i) {
    s += i ? "," : "";
    s += i % 9 == 4 ? "\"Error: no " + std::to_string(i) + "\"" : std::to_string(i * 2);
  }
  return s + "]";
}
std::string ExpectedSeen() {
  std::string s = "[";
  for (int i = 0, n = 0; i < kCalls; ++i) {
    if (i % 9 == 4) continue;
    s += n++ ? "," : "";
    s += std::to_string(i);
  }
  return s + "]";
}

struct CrashScenario {
  const char* name;
  std::vector<std::string> caller_env;
  std::vector<std::string> callee_env;
};
void PrintTo(const CrashScenario& s, std::ostream* os) { *os << s.name; }

class CallCrashTest : public ::testing::TestWithParam<CrashScenario> {};

TEST_P(CallCrashTest, TheAwaitResumesExactlyOnceWithTheRightValue) {
  const CrashScenario& scenario = GetParam();
  TestCluster cluster(kKen, {{"a", kLoopCaller}, {"b", kLoopCallee}});
  cluster.Start("b", scenario.callee_env);
  cluster.Start("a", scenario.caller_env);
  const int expected = (scenario.caller_env.empty() ? 0 : 1) + (scenario.callee_env.empty() ? 0 : 1);
  int crashes = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline && cluster.Inspect("a", "done") != "true") {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const char* id : {"a", "b"}) {
      int code = 0;
      if (!cluster.Exited(id, &code)) continue;
      ASSERT_EQ(code, 86) << id << " exited unexpectedly:\n" << cluster.Output(id);
      ++crashes;
      cluster.Start(id);
    }
  }
  EXPECT_EQ(cluster.Inspect("a", kCallerCheck), ExpectedResults()) << cluster.Output("a") << cluster.Output("b");
  EXPECT_EQ(cluster.WaitForValue("b", kCalleeCheck, ExpectedSeen()), ExpectedSeen());
  EXPECT_EQ(crashes, expected) << "the crash point was not reached\na:\n" << cluster.Output("a") << "\nb:\n"
                               << cluster.Output("b");
  EXPECT_EQ(cluster.WaitForValue("a", "ken.callStats().pending", "0"), "0");
  EXPECT_EQ(cluster.Inspect("a", "ken.callStats().lateReplies"), "0");
}

std::vector<std::string> Crash(const std::string& point) { return {"KEN_CRASH_AT=" + point}; }

INSTANTIATE_TEST_SUITE_P(
    CrashPoints, CallCrashTest,
    ::testing::Values(CrashScenario{"no_crash", {}, {}},
                      CrashScenario{"caller_before_commit", Crash("before_commit:12"), {}},
                      CrashScenario{"caller_after_call_commit", Crash("after_send_commit:9"), {}},
                      CrashScenario{"caller_after_call_sent", Crash("after_send_rpc:11"), {}},
                      CrashScenario{"caller_after_reply_commit", Crash("after_deliver_commit:10"), {}},
                      CrashScenario{"callee_after_receive", {}, Crash("after_receive:8")},
                      CrashScenario{"callee_before_commit", {}, Crash("before_commit:13")},
                      CrashScenario{"callee_after_reply_commit", {}, Crash("after_send_commit:10")},
                      CrashScenario{"callee_after_call_commit", {}, Crash("after_deliver_commit:7")}),
    [](const ::testing::TestParamInfo<CrashScenario>& info) { return std::string(info.param.name); });

// Real SIGKILLs of either side at random instants.
TEST(CallKillTest, RandomKill9OfCallerAndCallee) {
  TestCluster cluster(kKen, {{"a", kLoopCaller}, {"b", kLoopCallee}});
  cluster.Start("b");
  cluster.Start("a");
  const uint32_t seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int kill = 0; kill < 8; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    if (cluster.Inspect("a", "done") == "true") break;  // kill only while calls are in flight
    const char* victim = rng() % 2 ? "a" : "b";
    cluster.Kill(victim, SIGKILL);
    int code;
    while (!cluster.Exited(victim, &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cluster.Start(victim);
  }
  EXPECT_EQ(cluster.WaitForValue("a", "done", "true", 90), "true") << cluster.Output("a") << cluster.Output("b");
  EXPECT_EQ(cluster.Inspect("a", kCallerCheck), ExpectedResults());
  EXPECT_EQ(cluster.WaitForValue("b", kCalleeCheck, ExpectedSeen()), ExpectedSeen());
}

}  // namespace
}  // namespace ken
