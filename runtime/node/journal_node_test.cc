// Journal mode end to end inside the library (node.h, "Durability modes"):
// recovery by snapshot + replay in a fresh process, the snapshotter's
// snapshots and the journal they let go, divergence stopping a node with the
// store untouched, conversions both ways, read-only opens and evaluations
// that leave the live isolate alone. Every V8 use runs in a forked child.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "proto/journal.pb.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "store/journal.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunInChild;

NodeOptions Options(const std::string& path, const std::string& mode = "journal", bool explicit_mode = false) {
  NodeOptions options;
  options.store_path = path;
  options.durability = mode;
  options.durability_explicit = explicit_mode;
  options.isolate.turn_timeout_ms = 2000;
  return options;
}

TurnResult Eval(Node& node, const std::string& source) {
  return node.RunBatch({MakeTurn(ShellRecord(source, "test"))}).results[0];
}

std::string Value(Node& node, const std::string& expr) {
  TurnResult r = node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, expr, "read").ToLocal(&value)) return absl::AbortedError("threw");
    return Inspect(scope, value, true);
  });
  return r.ok() ? r.output : r.error;
}

// Every byte of the store and its journal segments, by file name.
std::map<std::string, std::string> StoreFiles(const std::string& path) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(std::filesystem::path(path).filename().string(), 0) != 0) continue;
    // SQLite's -wal/-shm and Ken's .lock come and go with every open; what
    // the store holds is in the file (once checkpointed) and the segments.
    if (absl::EndsWith(name, "-wal") || absl::EndsWith(name, "-shm") || absl::EndsWith(name, ".lock")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    files[entry.path().filename().string()] = text.str();
  }
  return files;
}

// Which files differ between two StoreFiles results (names; "" if none).
std::string Changed(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::string out;
  for (const auto& [name, bytes] : a) {
    auto it = b.find(name);
    if (it == b.end()) out += name + " (gone) ";
    else if (it->second != bytes) out += name + " (changed) ";
  }
  for (const auto& [name, bytes] : b) {
    if (!a.count(name)) out += name + " (new) ";
  }
  return out;
}

TEST(JournalNodeTest, TestsKnowTheDefaultMode) {
  EXPECT_STREQ(::ken::testing::kTestDefaultDurability, kDefaultDurability);
}

// Commits in one process; a second process restores the newest snapshot
// (the one the store was created with) and replays every commit after it.
TEST(JournalNodeTest, CommitsSurviveARestartByReplay) {
  const std::string path = ::ken::testing::MakeTempDir() + "/j.ken";
  auto setup = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "journal");
    ASSERT_TRUE(Eval(**node, "var hits = []; function f(n) { return n * 2; }").ok());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(Eval(**node, "hits.push(f(" + std::to_string(i) + "), Date.now() > 0)").ok());
    ASSERT_TRUE(Eval(**node, "var r = Math.random(); var d = Date.now();").ok());
    printf("r=%s d=%s\n", Value(**node, "r").c_str(), Value(**node, "d").c_str());
    // A commit is a journal record, not a checkpoint.
    auto seqs = (*node)->store().CheckpointSeqs();
    ASSERT_TRUE(seqs.ok());
    EXPECT_EQ(seqs->size(), 1u);
    printf("commits after the snapshot: %lld\n", static_cast<long long>((*node)->checkpoint_seq() - seqs->back()));
  });
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  const std::string before = setup.output.substr(setup.output.find("r="));
  auto check = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, ""));  // the store's own mode
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "journal");
    EXPECT_FALSE((*node)->created());
    EXPECT_EQ(Value(**node, "hits.length"), "40");
    EXPECT_EQ(Value(**node, "hits[38]"), "38");
    // Math.random and Date.now replay to the values the first run saw.
    printf("r=%s d=%s\n", Value(**node, "r").c_str(), Value(**node, "d").c_str());
    EXPECT_EQ(Value(**node, "typeof WeakRef === 'function' && (() => { try { new WeakRef({}); return 'made'; } "
                            "catch (e) { return e.message.includes('journal mode'); } })()"),
              "true");
  });
  ASSERT_EQ(check.exit_code, 0) << check.output;
  const size_t at = setup.output.find("commits after the snapshot: ");
  ASSERT_NE(at, std::string::npos);
  const std::string replayed = setup.output.substr(at + 28, setup.output.find('\n', at) - at - 28);
  EXPECT_GE(std::stoi(replayed), 22);  // the 22 inputs, and the durability switch turn
  EXPECT_NE(check.output.find("replayed " + replayed + " journal commit(s)"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find(before.substr(0, before.find('\n'))), std::string::npos) << check.output;
}

// The snapshotter writes a snapshot every few commits and drops the journal
// segments that snapshot holds; a restart then replays only the rest.
TEST(JournalNodeTest, SnapshotterWritesSnapshotsAndDropsTheJournalTheyHold) {
  const std::string path = ::ken::testing::MakeTempDir() + "/s.ken";
  auto run = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path);
    options.snapshot_every_commits = 10;
    options.journal_max_commits = 10;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "var n = 0;").ok());
    for (int i = 0; i < 45; ++i) {
      ASSERT_TRUE(Eval(**node, "n++").ok());
      (*node)->Maintain();
    }
    ASSERT_TRUE((*node)->SnapshotNow().ok());
    Snapshotter::Stats st = (*node)->snapshotter_stats();
    EXPECT_EQ(st.written_seq, (*node)->checkpoint_seq());
    EXPECT_GE(st.snapshots, 4);
    EXPECT_LE(Journal::SegmentFiles(path).size(), 2u);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Eval(**node, "n++").ok());
    EXPECT_EQ(Value(**node, "n"), "48");
  });
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto check = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(Value(**node, "n"), "48");
  });
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("replayed 3 journal commit(s)"), std::string::npos) << check.output;
}

// A journal commit whose replay gives other outputs than recorded: the node
// refuses to start, naming the node, commit, turn and input kind, and the
// store is left byte for byte as it was; --accept-divergence goes on.
TEST(JournalNodeTest, DivergentReplayStopsWithTheStoreUntouched) {
  const std::string path = ::ken::testing::MakeTempDir() + "/d.ken";
  auto setup = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path));
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "var said = 'a'; said").ok());
  });
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  // Append a commit like the last one whose input now says something else
  // (as a program whose behaviour changed under the journal would).
  {
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
    ASSERT_TRUE(store.ok()) << store.status();
    std::optional<std::string> id = (*store)->GetMeta("journal_id");
    ASSERT_TRUE(id.has_value());
    auto journal = Journal::Open(path, *id);
    ASSERT_TRUE(journal.ok()) << journal.status();
    auto seqs = (*store)->CheckpointSeqs();
    ASSERT_TRUE(seqs.ok() && !seqs->empty());
    auto records = (*journal)->RecordsAfter(seqs->back());
    ASSERT_TRUE(records.ok());
    ASSERT_FALSE(records->empty());
    v1::JournalCommit commit;
    ASSERT_TRUE(commit.ParseFromString(records->back().payload));
    commit.set_seq(records->back().seq + 1);
    ASSERT_EQ(commit.turns_size(), 1);
    commit.mutable_turns(0)->mutable_input()->mutable_shell()->set_source("said = 'b'; said");
    ASSERT_TRUE((*journal)->Append(commit.seq(), commit.SerializeAsString()).ok());
  }
  const auto files = StoreFiles(path);
  auto refused = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path);
    options.node_id = "";
    auto node = Node::Open(options);
    ASSERT_FALSE(node.ok());
    printf("error: %s\n", std::string(node.status().message()).c_str());
  });
  ASSERT_EQ(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("determinism violation"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("shell input"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--accept-divergence"), std::string::npos) << refused.output;
  EXPECT_EQ(Changed(files, StoreFiles(path)), "") << "a refused replay must not write the store";
  auto accepted = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path);
    options.accept_divergence = true;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(Value(**node, "said"), "'b'");
    EXPECT_TRUE(Eval(**node, "said += '!'").ok());
  });
  ASSERT_EQ(accepted.exit_code, 0) << accepted.output;
}

// snapshot -> journal -> snapshot, each at an explicit open: values, timers'
// state and the commit count carry over; a heap with a live WeakRef cannot
// go to journal mode and says why.
TEST(JournalNodeTest, ConversionsKeepEverythingAndRefuseWeakRefs) {
  const std::string path = ::ken::testing::MakeTempDir() + "/c.ken";
  auto in_snapshot = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, "snapshot"));
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "var kept = { list: [1, 2] }; var wr = new WeakRef(kept);").ok());
  });
  ASSERT_EQ(in_snapshot.exit_code, 0) << in_snapshot.output;
  auto refused = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, "journal", true));
    ASSERT_FALSE(node.ok());
    printf("error: %s\n", std::string(node.status().message()).c_str());
  });
  ASSERT_EQ(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("cannot go to journal mode"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("WeakRef"), std::string::npos) << refused.output;
  auto to_journal = RunInChild([&] {
    InitializeV8({});
    {
      auto node = Node::Open(Options(path, "snapshot"));
      ASSERT_TRUE(node.ok()) << node.status();
      ASSERT_TRUE(Eval(**node, "wr = null;").ok());
    }
    auto node = Node::Open(Options(path, "journal", true));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "journal");
    EXPECT_EQ(Value(**node, "kept.list.join()"), "'1,2'");
    ASSERT_TRUE(Eval(**node, "kept.list.push(3)").ok());
  });
  ASSERT_EQ(to_journal.exit_code, 0) << to_journal.output;
  EXPECT_NE(to_journal.output.find("converted from snapshot mode to journal mode"), std::string::npos)
      << to_journal.output;
  auto stays = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, "snapshot"));  // not explicit: the store keeps its mode
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "journal");
    EXPECT_EQ(Value(**node, "kept.list.join()"), "'1,2,3'");
  });
  ASSERT_EQ(stays.exit_code, 0) << stays.output;
  auto to_snapshot = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, "snapshot", true));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "snapshot");
    EXPECT_EQ(Value(**node, "kept.list.join()"), "'1,2,3'");
    EXPECT_TRUE(Eval(**node, "wr = new WeakRef(kept); wr.deref() === kept").ok());
    EXPECT_TRUE(Journal::SegmentFiles(path).empty());
  });
  ASSERT_EQ(to_snapshot.exit_code, 0) << to_snapshot.output;
}

// An evaluation (inspect, admin eval) runs in a scratch isolate: it sees the
// committed heap and its effects vanish; a read-only open of a journal
// store replays without writing.
TEST(JournalNodeTest, EvaluateAndReadOnlyOpensLeaveTheLiveHeapAndStoreAlone) {
  const std::string path = ::ken::testing::MakeTempDir() + "/e.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path));
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "var x = 1; var cache = { warm: true };").ok());
    ASSERT_TRUE(Eval(**node, "x = 2").ok());
    EXPECT_EQ(Value(**node, "x = 99, cache.warm = false, x"), "99");
    EXPECT_EQ(Value(**node, "x"), "2");
    TurnResult r = Eval(**node, "x + ' ' + cache.warm");
    EXPECT_EQ(r.output, "'2 true'");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
  const auto files = StoreFiles(path);
  auto reader = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path, "");
    options.read_only = true;
    options.create_if_missing = false;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ((*node)->durability(), "journal");
    EXPECT_EQ(Value(**node, "x"), "2");
  });
  ASSERT_EQ(reader.exit_code, 0) << reader.output;
  EXPECT_EQ(Changed(files, StoreFiles(path)), "");
}

// A read-only open (ken inspect) of a cluster node's store replays with the
// node's ken.me and ken.peers, as the turns saw them: a turn that set a
// ken.receive handler (which a shell refuses) or read the peers replays.
TEST(JournalNodeTest, ReadOnlyOpenOfAClusterNodeReplaysAsThatNode) {
  const std::string path = ::ken::testing::MakeTempDir() + "/n.ken";
  auto writer = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path);
    options.node_id = "a";
    options.peers = {"b", "c"};
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "ken.receive(function () {}); var who = ken.me + ':' + ken.peers.join('+')").ok());
  });
  ASSERT_EQ(writer.exit_code, 0) << writer.output;
  auto reader = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path, "");
    options.read_only = true;
    options.create_if_missing = false;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(Value(**node, "who"), "'a:b+c'");
  });
  ASSERT_EQ(reader.exit_code, 0) << reader.output;
}

// Console output is written when a turn runs, not again when the journal is
// replayed: after an abort (the live isolate is rebuilt) or at a restart.
TEST(JournalNodeTest, ReplaysDoNotRepeatConsoleOutput) {
  const std::string path = ::ken::testing::MakeTempDir() + "/c.ken";
  for (int run = 0; run < 2; ++run) {
    auto child = RunInChild([&] {
      InitializeV8({});
      std::string lines;
      NodeOptions options = Options(path);
      options.isolate.console = [&](int, std::string_view text) { lines += std::string(text) + "\n"; };
      auto node = Node::Open(options);
      ASSERT_TRUE(node.ok()) << node.status();
      if (run == 0) {
        ASSERT_TRUE(Eval(**node, "console.log('once'); var n = 1").ok());
        EXPECT_FALSE(Eval(**node, "n = 2; throw new Error('abort')").ok());
        ASSERT_TRUE(Eval(**node, "n").ok());
        EXPECT_EQ(lines, "once\n");
      } else {
        EXPECT_EQ(Value(**node, "n"), "1");
        EXPECT_EQ(lines, "");
      }
    });
    ASSERT_EQ(child.exit_code, 0) << child.output;
  }
}

// A journal record over max_checkpoint_bytes (here: an input bigger than
// it) fails that input alone; the rest of its batch commits.
TEST(JournalNodeTest, RecordOverTheLimitRejectsOnlyItsInput) {
  const std::string path = ::ken::testing::MakeTempDir() + "/l.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    NodeOptions options = Options(path);
    options.max_checkpoint_bytes = 1 << 20;
    auto node = Node::Open(options);
    ASSERT_TRUE(node.ok()) << node.status();
    const std::string big = "var big = '" + std::string(2 << 20, 'x') + "'.length";
    BatchResult r = (*node)->RunBatch({MakeTurn(ShellRecord("var small = [1]", "t")), MakeTurn(ShellRecord(big, "t")),
                                       MakeTurn(ShellRecord("small.push(2)", "t"))});
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    EXPECT_TRUE(r.results[0].ok());
    EXPECT_EQ(r.results[1].status, TurnStatus::kUncommittable) << r.results[1].error;
    EXPECT_TRUE(r.results[2].ok());
    EXPECT_EQ(Value(**node, "small.join()"), "'1,2'");
    EXPECT_EQ(Value(**node, "typeof big"), "'undefined'");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// A copy of the .ken file without its journal segments (or a store whose
// newest segment was deleted) is refused, naming the segment, instead of
// silently restoring the older snapshot; a store reached through a symlink
// or a hard link finds its segments.
TEST(JournalNodeTest, MissingSegmentIsRefusedAndLinksFindTheirSegments) {
  const std::string dir = ::ken::testing::MakeTempDir();
  const std::string path = dir + "/m.ken";
  auto setup = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path));
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE(Eval(**node, "var kept = 'after the snapshot'").ok());
  });
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  ASSERT_EQ(symlink(path.c_str(), (dir + "/sym.ken").c_str()), 0);
  ASSERT_EQ(link(path.c_str(), (dir + "/hard.ken").c_str()), 0);
  auto linked = RunInChild([&] {
    InitializeV8({});
    for (const std::string other : {dir + "/sym.ken", dir + "/hard.ken"}) {
      NodeOptions options = Options(other, "");
      options.read_only = true;
      auto node = Node::Open(options);
      ASSERT_TRUE(node.ok()) << other << ": " << node.status();
      EXPECT_EQ(Value(**node, "kept"), "'after the snapshot'") << other;
    }
  });
  ASSERT_EQ(linked.exit_code, 0) << linked.output;
  const std::vector<std::string> segments = Journal::SegmentFiles(path);
  ASSERT_FALSE(segments.empty());
  ASSERT_TRUE(std::filesystem::create_directories(dir + "/aside"));
  for (const std::string& s : segments) {
    std::filesystem::rename(s, dir + "/aside/" + std::filesystem::path(s).filename().string());
  }
  auto refused = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, ""));
    ASSERT_FALSE(node.ok());
    printf("error: %s\n", std::string(node.status().message()).c_str());
  });
  ASSERT_EQ(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("is missing"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find(".journal.0000"), std::string::npos) << refused.output;
  for (const std::string& s : segments) {
    std::filesystem::rename(dir + "/aside/" + std::filesystem::path(s).filename().string(), s);
  }
  auto back = RunInChild([&] {
    InitializeV8({});
    auto node = Node::Open(Options(path, ""));
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(Value(**node, "kept"), "'after the snapshot'");
  });
  ASSERT_EQ(back.exit_code, 0) << back.output;
}

}  // namespace
}  // namespace ken
