// Hostile heaps through real processes: a program replaces or poisons the
// builtins Ken's own JS and C++ use (prototype methods, getters and setters
// on Object.prototype, Symbol.iterator, toJSON, then, JSON, Reflect), then
// the node keeps receiving messages, HTTP requests, timers, admin evals and
// inspects — before and after a kill -9. The node must never crash or wedge:
// the program sees its own replacements, Ken does not.
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

// The victim counts what reaches it; `poison(kind)` (run by a timer, as in
// the original report, or by an admin eval) breaks builtins for good.
constexpr char kVictim[] = R"js(
var hits = 0, messages = 0, ticks = 0;
var formatted = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
var handleRequest = function (request, response) {
  hits++;
  response.statusCode = 200;
  response.headers['x-hits'] = '' + hits;
  response.body = 'hits ' + hits + ' ' + request.method + ' ' + request.path;
};
ken.receive(function (v, from) { messages++; });
setInterval(function () { ticks++; }, 30);
var poisons = {
  setters: function () {
    ['uri', 'path', 'method', 'query', 'headers', 'body', 'statusCode', 'then', 'length', 'next', 'done', 'value',
     'constructor', 'deliver', 'inspect', 'beforeCheckpoint', 'httpDispatch'].forEach(function (k) {
      Object.defineProperty(Object.prototype, k, { set: function () { throw 1; }, get: function () { throw 2; },
                                                   configurable: true });
    });
  },
  methods: function () {
    var bad = function () { throw new Error('poisoned'); };
    var targets = [Map.prototype, Set.prototype, WeakMap.prototype, Array.prototype, String.prototype, Object,
                   Reflect, JSON, Promise.prototype, Function.prototype, Number.prototype, Math];
    var skip = { prototype: 1, length: 1, name: 1, constructor: 1, caller: 1, arguments: 1 };
    var plan = [];
    for (var t = 0; t < targets.length; t++) {
      var names = Object.getOwnPropertyNames(targets[t]);
      for (var j = 0; j < names.length; j++) if (!skip[names[j]]) plan.push([targets[t], names[j]]);
    }
    for (var p = 0; p < plan.length; p++) { try { plan[p][0][plan[p][1]] = bad; } catch (e) {} }
    Array.prototype[Symbol.iterator] = bad;
    Object.prototype.toJSON = bad;
    globalThis.String = bad;
  },
  // Breaks only what a commit does not need (so it commits even where Ken's
  // JS would still use live builtins): iteration, Object.entries, JSON.
  iterators: function () {
    var bad = function () { throw new Error('poisoned'); };
    Array.prototype[Symbol.iterator] = bad;
    Object.entries = Object.keys = Object.values = bad;
    JSON.stringify = bad;
    Array.prototype.sort = Array.prototype.slice = Array.prototype.push = bad;
  },
  looping: function () {
    var spin = function () { for (;;) {} };
    Map.prototype.clear = spin;
    Map.prototype.get = spin;
    Array.prototype.sort = spin;
    JSON.stringify = spin;
  },
};
var poisonLater = function (kind) { setTimeout(function () { poisons[kind](); }, 1); };
)js";

constexpr char kPeer[] = "var n = 0;";

class HostileTest : public ::testing::TestWithParam<std::string> {
 protected:
  HostileTest() : cluster_("cli/ken", {{"victim", kVictim}, {"peer", kPeer}}), http_port_(::ken::testing::FreePort()) {}

  void StartVictim() {
    cluster_.Start("victim", {}, {"--http", "127.0.0.1:" + std::to_string(http_port_), "--turn-timeout", "500ms"});
  }

  // GET until the node answers 200 (or 10 s pass); returns the last status.
  int Get(const std::string& path, std::string* body = nullptr) {
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      httplib::Client c("127.0.0.1", http_port_);
      c.set_read_timeout(5);
      if (auto r = c.Get(path.c_str())) {
        status = r->status;
        if (body != nullptr) *body = r->body;
        if (status == 200) return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return status;
  }

  absl::StatusOr<v1::EvalReply> Eval(const std::string& id, const std::string& source) {
    absl::StatusOr<v1::EvalReply> r;
    for (int i = 0; i < 100; ++i) {
      r = cluster_.Eval(id, source);
      if (r.ok()) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return r;
  }

  void ExpectAlive(const std::string& when) {
    SCOPED_TRACE(when);
    std::string body;
    EXPECT_EQ(Get("/after?x=1", &body), 200) << body << cluster_.Output("victim");
    EXPECT_NE(body.find(" GET /after"), std::string::npos) << body;
    // Messages keep arriving and timers keep firing.
    absl::StatusOr<v1::EvalReply> sent = Eval("peer", "for (var i = 0; i < 5; i++) ken.send('victim', { i: ++n }); n");
    ASSERT_TRUE(sent.ok() && sent->ok()) << (sent.ok() ? sent->error() : std::string(sent.status().message()));
    const std::string want = sent->result();
    EXPECT_EQ(cluster_.WaitForValue("victim", "messages", want, 20), want) << cluster_.Output("victim");
    const std::string ticks = cluster_.Inspect("victim", "ticks");
    EXPECT_NE(cluster_.WaitForValue("victim", "ticks > " + ticks, "true", 20), "") << cluster_.Output("victim");
    // Admin evals and inspect answer; the program sees its own replacements.
    absl::StatusOr<v1::EvalReply> eval = Eval("victim", "hits + 1");
    ASSERT_TRUE(eval.ok()) << eval.status();
    EXPECT_TRUE(eval->ok()) << eval->error();
    EXPECT_NE(cluster_.Inspect("victim", "formatted.resolvedOptions().locale"), "");
    absl::StatusOr<v1::StatusReply> status = cluster_.Status("victim");
    ASSERT_TRUE(status.ok()) << status.status();
    int code;
    EXPECT_FALSE(cluster_.Exited("victim", &code)) << cluster_.Output("victim");
  }

  TestCluster cluster_;
  int http_port_;
};

TEST_P(HostileTest, NodeNeverCrashesOrWedges) {
  const std::string kind = GetParam();
  cluster_.Start("peer");
  StartVictim();
  ExpectAlive("before poisoning");
  // Poisoned from a timer callback, as first reported.
  absl::StatusOr<v1::EvalReply> r = Eval("victim", "poisonLater('" + kind + "'); 1");
  ASSERT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->error() : std::string(r.status().message()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ExpectAlive("after poisoning");
  cluster_.Kill("victim", SIGKILL);
  int code;
  for (int i = 0; i < 500 && !cluster_.Exited("victim", &code); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  StartVictim();
  ExpectAlive("after kill -9 and restart");
}

INSTANTIATE_TEST_SUITE_P(Poisons, HostileTest, ::testing::Values("setters", "methods", "iterators", "looping"));

// The shell and inspect on a heap whose builtins the program replaced.
TEST(HostileShellTest, ShellAndInspectKeepWorking) {
  const std::string store = ::ken::testing::MakeTempDir() + "/hostile.ken";
  auto r = ::ken::testing::RunProgram(
      {"cli/ken", "shell", "--store", store},
      "var m = new Map([[1, { a: [1, 2] }]]); var when = new Date(0); var nf = new Intl.NumberFormat('de');\n"
      "['then', 'toJSON', 'constructor', 'length'].forEach(function (k) { Object.defineProperty(Object.prototype, k, "
      "{ get: function () { throw 3; }, set: function () { throw 4; }, configurable: true }); })\n"
      "Array.prototype[Symbol.iterator] = function () { throw 5; }; Array.prototype.join = Array.prototype.map = "
      "String.prototype.split = String.prototype.slice = Map.prototype.entries = JSON.stringify = "
      "Reflect.apply = function () { throw 6; }; 'poisoned'\n"
      "console.log('still', 1, { x: 1 }); m\n"
      "nf.format(1234.5)\n"
      "setTimeout(function () { globalThis.fired = true; }, 1); 'timer set'\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("'poisoned'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("still 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Map(1)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'1.234,5'"), std::string::npos) << r.output;
  auto again = ::ken::testing::RunProgram({"cli/ken", "shell", "--store", store}, "typeof m + ' ' + m.size\n");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("Restored session"), std::string::npos) << again.output;
  auto inspect = ::ken::testing::RunProgram({"cli/ken", "inspect", "--store", store, "-e", "m.size"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  auto list = ::ken::testing::RunProgram({"cli/ken", "inspect", "--store", store});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("nf"), std::string::npos) << list.output;
}

// A request whose effects cannot be committed (the checkpoint would exceed
// max_checkpoint_bytes) is rolled back and answered 500; the node goes on
// committing the others, also after a restart (it is not retried forever).
TEST(PoisonInputTest, OversizedTurnIsRejectedAndTheNodeGoesOn) {
  TestCluster cluster("cli/ken", {{"web", R"js(
    var keep = [];
    var handleRequest = function (request, response) {
      if (request.path === '/grow') keep.push(new Uint8Array(8 << 20).fill(1));
      response.body = 'n=' + keep.length;
    };
  )js"}}, "max_checkpoint_bytes: 4000000\n");
  const int port = ::ken::testing::FreePort();
  auto start = [&] { cluster.Start("web", {}, {"--http", "127.0.0.1:" + std::to_string(port)}); };
  auto get = [&](const std::string& path) {
    for (int i = 0; i < 100; ++i) {
      httplib::Client c("127.0.0.1", port);
      if (auto r = c.Get(path.c_str())) return std::to_string(r->status) + " " + r->body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::string("no answer");
  };
  start();
  EXPECT_EQ(get("/"), "200 n=0");
  std::string grown = get("/grow");
  EXPECT_EQ(grown.substr(0, 4), "500 ") << grown;
  EXPECT_EQ(get("/"), "200 n=0");
  EXPECT_TRUE(cluster.WaitForOutput("web", "over max_checkpoint_bytes (4000000)")) << cluster.Output("web");
  cluster.Kill("web", SIGKILL);
  int code;
  for (int i = 0; i < 500 && !cluster.Exited("web", &code); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  start();
  EXPECT_EQ(get("/"), "200 n=0");
}

}  // namespace
}  // namespace ken
