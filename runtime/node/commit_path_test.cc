// The commit path's guarantees that tests in node_test.cc do not cover: an
// aborted turn leaves no send whatever shares its batch; a batch whose commit
// fails because of one input's effects (a before-checkpoint hook that throws
// or loops, a checkpoint over max_checkpoint_bytes) is bisected until that
// input is found, which becomes a dead letter while the rest commit; the
// shell refuses a cluster node's store.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunInChild;

std::unique_ptr<Node> OpenClusterNode(const std::string& path, int64_t max_checkpoint_bytes = 768ll << 20,
                                      int64_t timeout_ms = 1000) {
  NodeOptions options;
  options.durability = ::ken::testing::DurabilityUnderTest();
  options.store_path = path;
  options.node_id = "a";
  options.peers = {"b"};
  options.max_checkpoint_bytes = max_checkpoint_bytes;
  options.isolate.turn_timeout_ms = timeout_ms;
  auto node = Node::Open(options);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

// Runs `source`; a failure is a dead letter (as a message's would be).
TurnInput Js(const std::string& source) {
  TurnInput input = MakeTurn(ShellRecord(source, "test"));
  input.description = source.substr(0, 40);
  input.dead_letter = true;
  return input;
}

std::string Value(Node& node, const std::string& expr) {
  TurnResult r = node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, expr, "read").ToLocal(&value)) return absl::AbortedError("threw");
    return Inspect(scope, value, true);
  });
  return r.ok() ? r.output : r.error;
}

std::vector<uint64_t> OutboxSeqs(Node& node) {
  v1::NodeState state;
  node.channels()->Snapshot(nullptr, &state, /*with_outbox=*/true);
  std::vector<uint64_t> seqs;
  for (const auto& o : state.out()) {
    for (const auto& e : o.unacked()) seqs.push_back(e.seq());
  }
  return seqs;
}

// A failed turn's sends vanish and consume no sequence number, whether it is
// alone, first, last or between successful turns of its batch.
TEST(CommitPathTest, AbortedTurnLeavesNoSendWhateverSharesItsBatch) {
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    V8Config v8;
    v8.heap_limit_mb = 96;
    InitializeV8(v8);
    auto node = OpenClusterNode(dir + "/a.ken");
    ASSERT_NE(node, nullptr);
    const std::string send_throw = "ken.send('b', 'lost'); throw new Error('no')";
    const std::string send_loop = "ken.send('b', 'lost'); for (;;) {}";
    const std::string send_heap =
        "ken.send('b', 'lost'); var hog = []; for (;;) hog.push(new Array(100000).fill(1));";
    // Alone: nothing committed but the dead letter.
    BatchResult r = node->RunBatch({Js(send_throw)});
    EXPECT_EQ(r.results[0].status, TurnStatus::kThrew);
    EXPECT_TRUE(OutboxSeqs(*node).empty());
    r = node->RunBatch({Js(send_loop)});
    EXPECT_EQ(r.results[0].status, TurnStatus::kTimedOut);
    EXPECT_TRUE(OutboxSeqs(*node).empty());
    // First in its batch, then a good turn that sends: it gets seq 1.
    r = node->RunBatch({Js(send_throw), Js("ken.send('b', 'one'); 1")});
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    EXPECT_FALSE(r.results[0].ok());
    EXPECT_TRUE(r.results[1].ok());
    EXPECT_EQ(OutboxSeqs(*node), (std::vector<uint64_t>{1}));
    // Last, and between two good turns; and one that reaches the heap limit.
    r = node->RunBatch({Js("ken.send('b', 'two')"), Js(send_loop), Js("ken.send('b', 'three')"), Js(send_heap),
                        Js(send_throw)});
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    EXPECT_EQ(r.results[3].status, TurnStatus::kHeapLimit);
    EXPECT_EQ(OutboxSeqs(*node), (std::vector<uint64_t>{1, 2, 3}));
    EXPECT_EQ(node->state().dead_letter_count(), 6u);
    // What the outbox holds is exactly what the good turns sent.
    v1::Batch out = node->channels()->TakeDue("b");
    ASSERT_EQ(out.envelopes_size(), 3);
    for (const auto& e : out.envelopes()) EXPECT_EQ(e.payload().find("lost"), std::string::npos);
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// A hook that fails at commit time when the heap holds a flag set by one
// poison input (the way `Map.prototype.clear = () => { throw 1 }` once broke
// every commit): the batch is bisected, the poison input becomes a dead
// letter, every other input commits, and the node keeps committing, also
// after a restart.
TEST(CommitPathTest, PoisonInputIsBisectedOutAndDeadLettered) {
  if (::ken::testing::DurabilityUnderTest() == "journal") {
    GTEST_SKIP() << "snapshot mode: before-checkpoint hooks run at each commit only in snapshot mode (in journal mode, in the snapshotter)";
  }
  for (const std::string hook_kind : {"throw", "loop"}) {
    SCOPED_TRACE(hook_kind);
    const std::string dir = ::ken::testing::MakeTempDir();
    auto child = RunInChild([&] {
      InitializeV8({});
      auto node = OpenClusterNode(dir + "/a.ken");
      ASSERT_NE(node, nullptr);
      // Registers a before-checkpoint hook that fails while `poisoned` is set.
      TurnInput install;
      install.description = "install hook";
      install.body = [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
        const std::string body = hook_kind == "throw" ? "if (globalThis.poisoned) throw new Error('hook broke');"
                                                      : "if (globalThis.poisoned) for (;;) {}";
        v8::Local<v8::Value> fn;
        if (!EvalScript(scope, "var count = 0; (function () { " + body + " })", "hook").ToLocal(&fn)) {
          return absl::AbortedError("threw");
        }
        v8::Local<v8::Value> hooks;
        if (!scope.internals->Get(scope.context, V8String(scope.isolate, "beforeCheckpoint")).ToLocal(&hooks) ||
            !hooks->IsArray()) {
          return absl::InternalError("no hooks");
        }
        v8::Local<v8::Array> list = hooks.As<v8::Array>();
        if (list->Set(scope.context, list->Length(), fn).IsNothing()) return absl::AbortedError("threw");
        return std::string();
      };
      ASSERT_TRUE(node->RunBatch({install}).commit.ok());
      std::vector<TurnInput> batch;
      for (int i = 0; i < 7; ++i) batch.push_back(Js("count++; ken.send('b', " + std::to_string(i) + ")"));
      batch.insert(batch.begin() + 4, Js("count += 1000; globalThis.poisoned = true"));
      BatchResult r = node->RunBatch(batch);
      ASSERT_TRUE(r.commit.ok()) << r.commit;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (i == 4) {
          EXPECT_EQ(r.results[i].status, TurnStatus::kUncommittable);
          EXPECT_NE(r.results[i].error.find(hook_kind == "throw" ? "hook broke" : "turn timeout"), std::string::npos)
              << r.results[i].error;
        } else {
          EXPECT_TRUE(r.results[i].ok()) << i << ": " << r.results[i].error;
        }
      }
      EXPECT_EQ(Value(*node, "count"), "7");
      EXPECT_EQ(Value(*node, "globalThis.poisoned"), "undefined");
      EXPECT_EQ(OutboxSeqs(*node), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
      EXPECT_EQ(node->state().dead_letter_count(), 1u);
      EXPECT_TRUE(node->RunBatch({Js("count++")}).commit.ok());
    });
    ASSERT_EQ(child.exit_code, 0) << child.output;
    auto restarted = RunInChild([&] {
      InitializeV8({});
      auto node = OpenClusterNode(dir + "/a.ken");
      ASSERT_NE(node, nullptr);
      EXPECT_EQ(Value(*node, "count"), "8");
      BatchResult r = node->RunBatch({Js("count++")});
      EXPECT_TRUE(r.commit.ok() && r.results[0].ok()) << r.results[0].error;
    });
    ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  }
}

// A turn that grows the heap past max_checkpoint_bytes is rejected alone;
// the turns before and after it in its batch commit.
TEST(CommitPathTest, CheckpointOverTheLimitRejectsOnlyTheTurnThatGrewIt) {
  if (::ken::testing::DurabilityUnderTest() == "journal") {
    GTEST_SKIP() << "snapshot mode: a commit holds a heap snapshot only in snapshot mode; journal_node_test covers journal records over the limit";
  }
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 6 << 20);
    ASSERT_NE(node, nullptr);
    BatchResult r = node->RunBatch({Js("var small = [1]"), Js("var big = new Uint8Array(8 << 20).fill(7)"),
                                    Js("small.push(2)")});
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    EXPECT_TRUE(r.results[0].ok());
    EXPECT_EQ(r.results[1].status, TurnStatus::kUncommittable);
    EXPECT_NE(r.results[1].error.find("over max_checkpoint_bytes (6291456)"), std::string::npos)
        << r.results[1].error;
    EXPECT_TRUE(r.results[2].ok());
    EXPECT_EQ(Value(*node, "small.join()"), "'1,2'");
    EXPECT_EQ(Value(*node, "typeof big"), "'undefined'");
    ASSERT_EQ(node->state().dead_letters_size(), 1);
    EXPECT_NE(node->state().dead_letters(0).error().find("max_checkpoint_bytes"), std::string::npos);
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// `ken shell` (no node id) must not open a cluster node's store for writing:
// it would fire the node's timers there. Read-only opens stay allowed.
TEST(CommitPathTest, StandaloneOpenRefusesAClusterNodesStore) {
  const std::string path = ::ken::testing::MakeTempDir() + "/a.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    { ASSERT_NE(OpenClusterNode(path), nullptr); }
    NodeOptions shell;
    shell.durability = ::ken::testing::DurabilityUnderTest();
    shell.store_path = path;
    auto refused = Node::Open(shell);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("belongs to cluster node 'a'"), std::string::npos) << refused.status();
    shell.read_only = true;
    EXPECT_TRUE(Node::Open(shell).ok());
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A commit that fails for a reason that may pass (a full disk) inside a
// bisection: no input of the batch may be reported as committed, and none
// took effect.
TEST(CommitPathTest, PassingFailureInsideABisectionCommitsNothingAndSaysSo) {
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    InitializeV8({});
    NodeOptions options;
    options.durability = ::ken::testing::DurabilityUnderTest();
    options.store_path = dir + "/a.ken";
    options.node_id = "a";
    options.peers = {"b"};
    options.max_checkpoint_bytes = 6 << 20;
    int commits = 0;
    bool fail = false;
    options.before_store_commit = [&]() -> absl::Status {
      ++commits;
      return fail ? absl::ResourceExhaustedError("injected: disk full") : absl::OkStatus();
    };
    auto opened = Node::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    Node& node = **opened;
    ASSERT_TRUE(node.RunBatch({Js("var n = 0")}).commit.ok());
    const int64_t seq = node.checkpoint_seq();
    fail = true;
    BatchResult r = node.RunBatch({Js("n++; ken.send('b', 1)"), Js("n++"), Js("n++"),
                                   Js("var big = new Uint8Array(8 << 20).fill(7)")});
    EXPECT_FALSE(r.commit.ok());
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(r.results[i].status, TurnStatus::kCommitFailed) << i << ": " << r.results[i].error;
    }
    // The oversized one is found uncommittable on its own (before any write).
    EXPECT_FALSE(r.results[3].ok());
    EXPECT_EQ(node.checkpoint_seq(), seq);
    EXPECT_EQ(Value(node, "n"), "0");
    EXPECT_TRUE(OutboxSeqs(node).empty());
    EXPECT_EQ(node.state().dead_letter_count(), 0u);
    fail = false;
    r = node.RunBatch({Js("n++")});
    EXPECT_TRUE(r.commit.ok() && r.results[0].ok()) << r.results[0].error;
    EXPECT_EQ(Value(node, "n"), "1");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// A thrown value whose formatting runs the program's code forever (a
// looping getter) must not freeze the node: formatting has a watchdog too.
TEST(CommitPathTest, HostileThrownValueIsFormattedUnderTheWatchdog) {
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 768ll << 20, 300);
    ASSERT_NE(node, nullptr);
    BatchResult r = node->RunBatch(
        {Js("throw { get [Symbol.toStringTag]() { for (;;) {} }, get constructor() { for (;;) {} } }")});
    EXPECT_EQ(r.results[0].status, TurnStatus::kThrew);
    EXPECT_NE(r.results[0].error.find("could not be formatted"), std::string::npos) << r.results[0].error;
    r = node->RunBatch({Js("throw new Proxy({}, { getPrototypeOf() { for (;;) {} }, get() { for (;;) {} } })")});
    EXPECT_EQ(r.results[0].status, TurnStatus::kThrew);
    r = node->RunBatch({Js("var ok = 1")});
    EXPECT_TRUE(r.results[0].ok()) << r.results[0].error;
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// When the committed heap itself can no longer be committed (here: the
// limit was lowered below it), no input is blamed: the turns fail as
// commits that may pass, with an error saying why, and nothing becomes a
// dead letter.
TEST(CommitPathTest, CommittedHeapOverTheLimitBlamesNoInput) {
  if (::ken::testing::DurabilityUnderTest() == "journal") {
    GTEST_SKIP() << "snapshot mode: a commit holds a heap snapshot only in snapshot mode";
  }
  const std::string dir = ::ken::testing::MakeTempDir();
  auto first = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 64 << 20);
    ASSERT_NE(node, nullptr);
    ASSERT_TRUE(node->RunBatch({Js("var big = new Uint8Array(4 << 20).fill(7)")}).results[0].ok());
  });
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 2 << 20);
    ASSERT_NE(node, nullptr);
    BatchResult r = node->RunBatch({Js("var x = 1"), Js("var y = 2")});
    for (const TurnResult& t : r.results) {
      EXPECT_EQ(t.status, TurnStatus::kCommitFailed) << t.error;
      EXPECT_NE(t.error.find("committed heap and state already take"), std::string::npos) << t.error;
    }
    EXPECT_EQ(node->state().dead_letter_count(), 0u);
  });
  ASSERT_EQ(second.exit_code, 0) << second.output;
}

// Going back in time found just before a crash is not forgotten: it is kept
// in the committed state and acted on at the next start.
TEST(CommitPathTest, WentBackBeforeACrashIsActedOnAtTheNextStart) {
  const std::string dir = ::ken::testing::MakeTempDir();
  std::string before;
  auto first = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken");
    ASSERT_NE(node, nullptr);
    v1::Ack ack;  // b acks a seq this store never sent
    ack.set_src("a");
    ack.set_dst("b");
    ack.set_acked_through(3);
    ack.set_src_incarnation(node->store().incarnation());
    std::string reason;
    EXPECT_FALSE(node->channels()->OnAck(ack, &reason));
    ASSERT_NE(node->channels()->ReincarnationRequest(), "");
    ASSERT_TRUE(node->RunBatch({Js("var v = 1")}).commit.ok());  // commits the request; then "crashes"
    printf("incarnation=%s\n", node->store().incarnation().c_str());
  });
  ASSERT_EQ(first.exit_code, 0) << first.output;
  before = first.output.substr(first.output.find("incarnation=") + 12, 32);
  auto second = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken");
    ASSERT_NE(node, nullptr);
    EXPECT_NE(node->store().incarnation(), before);
    EXPECT_EQ(node->channels()->ReincarnationRequest(), "");
    std::vector<v1::ChannelStatus> status = node->channels()->Status();
    ASSERT_EQ(status.size(), 1u);
    EXPECT_NE(status[0].error().find("went back in time"), std::string::npos) << status[0].error();
    bool notice = false;
    node->channels()->TakeDue("b", nullptr, &notice);
    EXPECT_TRUE(notice);
  });
  ASSERT_EQ(second.exit_code, 0) << second.output;
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A heap made with another native table or by another engine build is
// refused at open with a message that says why and what to do, instead of
// binding the wrong native callbacks or crashing V8.
TEST(CommitPathTest, HeapOfAnotherNativeTableOrEngineIsRefused) {
  for (const std::string column : {"natives", "engine"}) {
    SCOPED_TRACE(column);
    const std::string path = ::ken::testing::MakeTempDir() + "/a.ken";
    auto made = RunInChild([&] {
      InitializeV8({});
      ASSERT_NE(OpenClusterNode(path), nullptr);
    });
    ASSERT_EQ(made.exit_code, 0) << made.output;
    const std::string value = column == "natives" ? "99:deadbeef" : "v8 9.9.9; libnode108 0.0";
    auto r = ::ken::testing::RunProgram(
        {"/usr/bin/sqlite3", path, "UPDATE checkpoints SET " + column + " = '" + value + "';"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto opened = RunInChild([&] {
      InitializeV8({});
      NodeOptions options;
      options.durability = ::ken::testing::DurabilityUnderTest();
      options.store_path = path;
      options.node_id = "a";
      options.peers = {"b"};
      auto node = Node::Open(options);
      ASSERT_FALSE(node.ok());
      EXPECT_EQ(node.status().code(), absl::StatusCode::kFailedPrecondition) << node.status();
      const std::string want = column == "natives" ? "native table 99:deadbeef" : "engine 'v8 9.9.9; libnode108 0.0'";
      EXPECT_NE(node.status().message().find(want), std::string::npos) << node.status();
      EXPECT_NE(node.status().message().find(column == "natives" ? "wrong native functions" : "exact build"),
                std::string::npos)
          << node.status();
    });
    ASSERT_EQ(opened.exit_code, 0) << opened.output;
  }
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A message whose handler throws an enormous error: the dead letter keeps a
// cut copy of the error, so it can always be committed (it used to be too
// big, and the node retried the message forever).
TEST(CommitPathTest, HugeErrorsMakeSmallDeadLetters) {
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 4000000);
    ASSERT_NE(node, nullptr);
    for (int i = 0; i < 3; ++i) {
      BatchResult r = node->RunBatch({Js("throw new Error('x'.repeat(3500000))")});
      ASSERT_TRUE(r.commit.ok()) << r.commit;
    }
    EXPECT_EQ(node->state().dead_letter_count(), 3u);
    ASSERT_EQ(node->state().dead_letters_size(), 3);
    EXPECT_LT(node->state().dead_letters(0).error().size(), 20000u);
    EXPECT_NE(node->state().dead_letters(0).error().find("more bytes)"), std::string::npos);
    EXPECT_TRUE(node->RunBatch({Js("var fine = 1")}).results[0].ok());
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// A value whose formatting runs the program's code forever (a Proxy trap, a
// getter on Object.prototype) ends its turn by the turn timeout; the
// watchdog keeps terminating until the turn is over, whatever host code
// runs after the first termination.
TEST(CommitPathTest, HostileValuesToFormatEndByTheTimeout) {
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = OpenClusterNode(dir + "/a.ken", 768ll << 20, 300);
    ASSERT_NE(node, nullptr);
    auto value_of = [&](const std::string& source) {
      return node->RunBatch({MakeTurn(EvalRecord(source, 0))}).results[0];
    };
    const auto start = std::chrono::steady_clock::now();
    TurnResult r = value_of("new Proxy({}, { ownKeys: function () { while (true) {} } })");
    EXPECT_EQ(r.status, TurnStatus::kTimedOut) << r.error;
    r = value_of("Object.defineProperty(Object.prototype, Symbol.toStringTag, "
                 "{ get: function () { for (;;) {} }, configurable: true }); ({ b: 2 })");
    EXPECT_EQ(r.status, TurnStatus::kTimedOut) << r.error;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    r = value_of("1 + 1");
    EXPECT_TRUE(r.ok()) << r.error;
    v1::TurnOutput output;
    ASSERT_TRUE(output.ParseFromString(r.output));
    EXPECT_EQ(output.value(), "2");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken
