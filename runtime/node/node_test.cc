// The commit path end to end inside the library: values survive a restore in
// a fresh process, and aborted turns leave the heap as it was. Every V8 use
// happens in a forked child (V8 initialises once per process), so each
// restore below really is a new process reading the store.
#include "runtime/node/node.h"

#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/turn/dispatcher.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunInChild;

std::unique_ptr<Node> OpenNode(const std::string& path, int64_t timeout_ms = 5000) {
  NodeOptions options;
  options.durability = ::ken::testing::DurabilityUnderTest();
  options.store_path = path;
  options.isolate.turn_timeout_ms = timeout_ms;
  auto node = Node::Open(options);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

bool Journaled() { return ::ken::testing::DurabilityUnderTest() == "journal"; }

// Runs `source` as a shell input (a turn with a record, as every input in
// journal mode needs), committed on its own.
TurnResult Eval(Node& node, const std::string& source) {
  return node.RunBatch({MakeTurn(ShellRecord(source, "test"))}).results[0];
}

// Each value kind: set up in one process; checked, after a restore, in
// another. A check is an expression that must print `true`.
struct Kind {
  const char* name;
  const char* setup;
  const char* check;
};

const Kind kKinds[] = {
    {"closure", "var mk = function() { var c = 0; return function() { return c++; }; }; var a = mk(); a(); a();",
     "a() === 2 && a() === 3"},
    {"object", "var o = { x: 1, nested: { y: [1, 2, { z: 'deep' }] } };", "o.nested.y[2].z === 'deep'"},
    {"array", "var arr = [1, 'two', , 4]; arr.extra = 5;", "arr.length === 4 && !(2 in arr) && arr.extra === 5"},
    {"map-set", "var m = new Map([['k', { v: 1 }]]); var s = new Set([1, 'a', m]);",
     "m.get('k').v === 1 && s.has(m) && s.size === 3"},
    {"date", "var d = new Date(Date.UTC(2020, 1, 29, 12));", "d.toISOString() === '2020-02-29T12:00:00.000Z'"},
    {"regexp", "var re = /a(b+)c/gi; re.test('xABBC'); ", "re.lastIndex === 5 && re.flags === 'gi' && (re.lastIndex = 4, re.exec('abc abbc')[1] === 'bb')"},
    {"class-instance", "class Point { #secret = 7; constructor(x) { this.x = x; } get double() { return this.x * 2; } peek() { return this.#secret; } } var pt = new Point(21);",
     "pt instanceof Point && pt.double === 42 && pt.peek() === 7"},
    {"let-const-class", "let counterL = 10; const fixedC = 'c'; class TopLevel { static who() { return 'tl'; } }",
     "counterL === 10 && fixedC === 'c' && TopLevel.who() === 'tl'"},
    {"typed-arrays", "var buf = new ArrayBuffer(16); var f64 = new Float64Array(buf); f64[1] = 2.5; var u8 = Uint8Array.from([1, 2, 255]); var dv = new DataView(buf); dv.setInt16(0, -2);",
     "f64[1] === 2.5 && u8[2] === 255 && dv.getInt16(0) === -2 && f64.buffer === buf"},
    {"symbols", "var sym = Symbol('local'); var reg = Symbol.for('registered'); var withSym = { [sym]: 'v' };",
     "withSym[sym] === 'v' && Symbol.for('registered') === reg && sym.description === 'local'"},
    {"getters-setters", "var acc = { _v: 1, get v() { return this._v * 10; }, set v(x) { this._v = x; } };",
     "(acc.v = 4, acc.v === 40)"},
    {"error-with-stack", "function thrower() { return new RangeError('kept'); } var err = thrower(); err.code = 'E1';",
     "err instanceof RangeError && err.message === 'kept' && err.code === 'E1' && typeof err.stack === 'string' && err.stack.includes('thrower')"},
    {"resolved-promise", "var resolved = Promise.resolve(41); var got; resolved.then(v => { got = v + 1; });",
     "got === 42"},
    {"pending-promise", "var release; var gate = new Promise(r => { release = r; }); var seen = []; gate.then(v => seen.push('then ' + v));",
     "(release('go'), true)"},
    {"async-await", "var log = []; var open; var door = new Promise(r => { open = r; }); async function worker() { log.push('start'); const v = await door; log.push('resumed ' + v); return v * 2; } var done = worker(); done.then(v => log.push('done ' + v));",
     "log.join() === 'start'"},
    {"generator", "function* gen() { let i = 0; while (true) yield i++; } var it = gen(); it.next(); it.next();",
     "it.next().value === 2"},
    {"bigint-proxy-bound", "var big = 2n ** 70n; var px = new Proxy({}, { get: (t, k) => 'proxied ' + String(k) }); function add(a, b) { return a + b; } var add5 = add.bind(null, 5);",
     "big === 1180591620717411303424n && px.foo === 'proxied foo' && add5(1) === 6"},
    {"weakmap-weakset", "var key = {}; var wm = new WeakMap([[key, 'wv']]); var ws = new WeakSet([key]);",
     "wm.get(key) === 'wv' && ws.has(key)"},
    // Snapshot mode only (journal mode has no WeakRef: journal_node_test).
    {"weakref", "var wkey = {}; var wr = new WeakRef(wkey);", "wr.deref() === wkey"},
    {"intl", "var nf = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }); var dtf = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'long' }); var coll = new Intl.Collator('sv'); var cmp = coll.compare; var fmt = nf.format; var pr = new Intl.PluralRules('en'); var rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' }); var lf = new Intl.ListFormat('en'); var loc = new Intl.Locale('en-Latn-US', { hourCycle: 'h12' }); var seg = new Intl.Segmenter('en', { granularity: 'word' }); var dn = new Intl.DisplayNames(['en'], { type: 'region' });",
     "nf.format(1234.5) === '1.234,50\u00a0€' && fmt(1) === '1,00\u00a0€' && dtf.format(new Date(0)) === 'January 1, 1970' && ['z', 'ä', 'a'].sort(cmp).join('') === 'azä' && pr.select(1) === 'one' && rtf.format(-1, 'day') === 'yesterday' && lf.format(['a', 'b']) === 'a and b' && loc.hourCycle === 'h12' && loc.maximize().script === 'Latn' && [...seg.segment('hi there')].filter(s => s.isWordLike).length === 2 && dn.of('DE') === 'Germany' && nf instanceof Intl.NumberFormat && Object.prototype.toString.call(nf) === '[object Intl.NumberFormat]'"},
};

TEST(NodeTest, ValueKindsSurviveRestoreInFreshProcess) {
  const std::string path = ::ken::testing::MakeTempDir() + "/kinds.ken";
  auto setup = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path);
    ASSERT_TRUE(node);
    EXPECT_TRUE(node->created());
    for (const Kind& kind : kKinds) {
      if (Journaled() && std::string(kind.name) == "weakref") continue;
      TurnResult r = Eval(*node, kind.setup);
      EXPECT_TRUE(r.ok()) << kind.name << ": " << r.error;
    }
  });
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  auto check = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path);
    ASSERT_TRUE(node);
    EXPECT_FALSE(node->created());
    for (const Kind& kind : kKinds) {
      if (Journaled() && std::string(kind.name) == "weakref") continue;
      TurnResult r = Eval(*node, kind.check);
      EXPECT_TRUE(r.ok()) << kind.name << ": " << r.error;
      EXPECT_EQ(r.output, "true") << kind.name << ": " << kind.check;
    }
  });
  ASSERT_EQ(check.exit_code, 0) << check.output;
  // The continuations triggered in the second process were committed too.
  auto after = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path);
    ASSERT_TRUE(node);
    EXPECT_EQ(Eval(*node, "seen.join()").output, "'then go'");
    EXPECT_TRUE(Eval(*node, "open(21)").ok());  // resumes the suspended async function
    EXPECT_EQ(Eval(*node, "log.join()").output, "'start,resumed 21,done 42'");
  });
  ASSERT_EQ(after.exit_code, 0) << after.output;
  auto final_check = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path);
    ASSERT_TRUE(node);
    EXPECT_EQ(Eval(*node, "log.length").output, "3");
    EXPECT_EQ(Eval(*node, "mk.toString()").output,
              "'function() { var c = 0; return function() { return c++; }; }'");
  });
  ASSERT_EQ(final_check.exit_code, 0) << final_check.output;
}

TEST(NodeTest, ExceptionAbortsTurnAndKeepsPreTurnHeap) {
  const std::string path = ::ken::testing::MakeTempDir() + "/throw.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path);
    ASSERT_TRUE(node);
    ASSERT_TRUE(Eval(*node, "var kept = { n: 1 };").ok());
    int64_t seq = node->checkpoint_seq();
    TurnResult r = Eval(*node, "var x = 1; kept.n = 99; throw new Error('boom')");
    EXPECT_EQ(r.status, TurnStatus::kThrew);
    EXPECT_NE(r.error.find("Uncaught Error: boom"), std::string::npos) << r.error;
    EXPECT_EQ(node->checkpoint_seq(), seq);  // nothing committed
    EXPECT_EQ(Eval(*node, "typeof x").output, "'undefined'");
    EXPECT_EQ(Eval(*node, "kept.n").output, "1");
    // A rejected promise job does not abort; a thrown non-Error is shown.
    EXPECT_EQ(Eval(*node, "throw 42").error, "Uncaught 42");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

TEST(NodeTest, TimeoutAbortsTurnAndKeepsPreTurnHeap) {
  const std::string path = ::ken::testing::MakeTempDir() + "/loop.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenNode(path, /*timeout_ms=*/300);
    ASSERT_TRUE(node);
    ASSERT_TRUE(Eval(*node, "var state = 'before';").ok());
    TurnResult r = Eval(*node, "state = 'during'; while (true) {}");
    EXPECT_EQ(r.status, TurnStatus::kTimedOut);
    EXPECT_NE(r.error.find("300 ms"), std::string::npos) << r.error;
    EXPECT_EQ(Eval(*node, "state").output, "'before'");
    // A microtask that requeues itself forever is a runaway turn too.
    r = Eval(*node, "state = 'micro'; (function spin() { Promise.resolve().then(spin); })();");
    EXPECT_EQ(r.status, TurnStatus::kTimedOut);
    EXPECT_EQ(Eval(*node, "state").output, "'before'");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

TEST(NodeTest, HeapLimitAbortsTurnAndKeepsPreTurnHeap) {
  const std::string path = ::ken::testing::MakeTempDir() + "/heap.ken";
  auto child = RunInChild([&] {
    V8Config config;
    config.heap_limit_mb = 64;
    InitializeV8(config);
    auto node = OpenNode(path, /*timeout_ms=*/60000);
    ASSERT_TRUE(node);
    ASSERT_TRUE(Eval(*node, "var small = [1, 2, 3];").ok());
    TurnResult r = Eval(*node, "var hog = []; small.push(4); while (true) hog.push(new Array(100000).fill(1.5));");
    EXPECT_EQ(r.status, TurnStatus::kHeapLimit) << r.error;
    EXPECT_EQ(Eval(*node, "typeof hog + ' ' + small.length").output, "'undefined 3'");
    EXPECT_TRUE(Eval(*node, "small.push(5)").ok());
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

TEST(NodeTest, ConsoleOutputReachesHost) {
  const std::string path = ::ken::testing::MakeTempDir() + "/console.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    std::vector<std::pair<int, std::string>> lines;
    NodeOptions options;
    options.durability = ::ken::testing::DurabilityUnderTest();
    options.store_path = path;
    options.isolate.console = [&](int stream, std::string_view text) { lines.emplace_back(stream, std::string(text)); };
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "console.log('n=%d', 5, { a: [1] }, 'raw'); console.error(new Map([[1, 2]]))").ok());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], std::make_pair(1, std::string("n=5 { a: [ 1 ] } raw")));
    EXPECT_EQ(lines[1], std::make_pair(2, std::string("Map(1) { 1 => 2 }")));
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A test input; a failure is kept as a dead letter (as for a message).
TurnInput EvalInput(const std::string& source) {
  TurnInput input = MakeTurn(ShellRecord(source, "batch"));
  input.description = source;
  input.dead_letter = true;
  return input;
}

// A failing turn in the middle of a batch: the batch is re-run without it,
// its sends never reach the outbox, the others commit once.
TEST(NodeTest, BatchRerunsWithoutTheFailedTurn) {
  const std::string path = ::ken::testing::MakeTempDir() + "/batch.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    NodeOptions options;
    options.durability = ::ken::testing::DurabilityUnderTest();
    options.store_path = path;
    options.node_id = "a";
    options.peers = {"b"};
    auto opened = Node::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    Node& node = **opened;
    ASSERT_TRUE(node.RunBatch({EvalInput("var log = [];")}).commit.ok());
    int64_t seq = node.checkpoint_seq();
    BatchResult r = node.RunBatch({EvalInput("log.push(1); ken.send('b', 'one'); 1"),
                                   EvalInput("log.push(2); ken.send('b', 'two'); throw new Error('bad turn')"),
                                   EvalInput("log.push(3); ken.send('b', { three: 3 }); 3")});
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    EXPECT_TRUE(r.results[0].ok());
    EXPECT_EQ(r.results[1].status, TurnStatus::kThrew);
    EXPECT_TRUE(r.results[2].ok());
    EXPECT_EQ(node.checkpoint_seq(), seq + 1);  // one commit for the batch
    EXPECT_EQ(node.state().dead_letter_count(), 1u);
    EXPECT_NE(node.state().dead_letters(0).error().find("bad turn"), std::string::npos);
    EXPECT_EQ(Eval(node, "log.join()").output, "'1,3'");
    // The outbox holds the two committed sends, numbered 1 and 2.
    v1::Batch out = node.channels()->TakeDue("b");
    ASSERT_EQ(out.envelopes_size(), 2);
    EXPECT_EQ(out.envelopes(1).seq(), 2u);
    // ken.send errors throw in the sending turn.
    EXPECT_NE(Eval(node, "ken.send('nobody', 1)").error.find("unknown destination 'nobody'"), std::string::npos);
    EXPECT_NE(Eval(node, "ken.send('b', function f() {})").error.find("could not be cloned"), std::string::npos);
    EXPECT_NE(Eval(node, "ken.send('b', Symbol('s'))").error.find("could not be cloned"), std::string::npos);
    EXPECT_NE(Eval(node, "ken.send('b', 'x'.repeat(5 << 20))").error.find("exceeds max_message_bytes"), std::string::npos);
    EXPECT_EQ(Eval(node, "ken.me + ' ' + ken.peers").output, "'a b'");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A cluster node that falls back to an older checkpoint (corrupt newest)
// takes a new incarnation, so peers refuse its channels instead of
// mis-sequencing them; a standalone (shell) store keeps its incarnation.
TEST(NodeTest, FallbackToOlderCheckpointReincarnatesClusterNodes) {
  // Journal mode commits no checkpoint per turn: journal_node_test covers
  // its fallback (an older snapshot plus a longer replay).
  if (Journaled()) GTEST_SKIP() << "snapshot mode: one checkpoint per commit";
  for (bool cluster : {true, false}) {
    const std::string path = ::ken::testing::MakeTempDir() + "/fallback.ken";
    auto open = [&] {
      NodeOptions options;
      options.durability = ::ken::testing::DurabilityUnderTest();
      options.store_path = path;
      if (cluster) {
        options.node_id = "a";
        options.peers = {"b"};
      }
      return Node::Open(options);
    };
    std::string first;
    auto setup = RunInChild([&] {
      InitializeV8({});
      auto node = open();
      ASSERT_TRUE(node.ok()) << node.status();
      ASSERT_TRUE(Eval(**node, "var v = 1;").ok());
      ASSERT_TRUE(Eval(**node, "v = 2;").ok());
      printf("incarnation=%s\n", (*node)->store().incarnation().c_str());
    });
    ASSERT_EQ(setup.exit_code, 0) << setup.output;
    size_t at = setup.output.find("incarnation=");
    ASSERT_NE(at, std::string::npos);
    first = setup.output.substr(at + 12, 32);
    // Corrupt the newest checkpoint's heap.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE checkpoints SET heap = CAST('X' || substr(heap, 2) AS BLOB) "
                               "WHERE seq = (SELECT MAX(seq) FROM checkpoints)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    // Opened twice with no commit in between: the new incarnation is taken
    // once, for the fallback, not again at every restart.
    std::string second;
    for (int round = 0; round < 2; ++round) {
      auto check = RunInChild([&] {
        InitializeV8({});
        auto node = open();
        ASSERT_TRUE(node.ok()) << node.status();
        EXPECT_EQ((*node)->state().turns(), 1u);  // the previous checkpoint (v = 1)
        if (cluster) {
          EXPECT_NE((*node)->store().incarnation(), first);
        } else {
          EXPECT_EQ((*node)->store().incarnation(), first);
        }
        printf("incarnation=%s\n", (*node)->store().incarnation().c_str());
      });
      ASSERT_EQ(check.exit_code, 0) << check.output;
      size_t at = check.output.find("incarnation=");
      ASSERT_NE(at, std::string::npos);
      std::string now = check.output.substr(at + 12, 32);
      if (round == 0) second = now;
      EXPECT_EQ(now, second) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace ken
