#include "store/checkpoint_store.h"

#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ken {
namespace {

std::string TempDir() {
  const char* t = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(t ? t : "/tmp") + "/storeXXXXXX";
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

Checkpoint Make(const std::string& heap, const std::string& state = "s") {
  Checkpoint c;
  c.engine = "test";
  c.heap = heap;
  c.state = state;
  return c;
}

// Flips one byte of checkpoint `seq`'s heap blob behind the store's back.
void CorruptHeap(const std::string& path, int64_t seq) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string sql = "UPDATE checkpoints SET heap = CAST('X' || substr(heap, 2) AS BLOB) WHERE seq = " +
                    std::to_string(seq);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(CheckpointStoreTest, RoundTripAcrossReopen) {
  std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("heap-1", "state-1"));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->incarnation().size(), 32u);
    Checkpoint c = Make(std::string(3 << 20, 'z') + "tail", "state-2");
    ASSERT_TRUE((*store)->Commit(c).ok());
    EXPECT_EQ(c.seq, 2);
  }
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok()) << store.status();
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 2);
  EXPECT_EQ(c->heap, std::string(3 << 20, 'z') + "tail");
  EXPECT_EQ(c->state, "state-2");
  EXPECT_EQ(c->engine, "test");
  EXPECT_EQ((*store)->skipped_corrupt(), 0);
}

TEST(CheckpointStoreTest, KeepsOnlyRetainedCheckpoints) {
  std::string path = TempDir() + "/a.ken";
  auto store = CheckpointStore::Create(path, Make("h1"));
  ASSERT_TRUE(store.ok());
  for (int i = 2; i <= 10; ++i) {
    Checkpoint c = Make("h" + std::to_string(i));
    ASSERT_TRUE((*store)->Commit(c).ok());
  }
  auto list = (*store)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(kRetainedCheckpoints));
  EXPECT_EQ((*list)[0].seq, 10);
  EXPECT_TRUE((*list)[0].valid);
}

TEST(CheckpointStoreTest, ChecksumMismatchFallsBackToPrevious) {
  std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("heap-1"));
    ASSERT_TRUE(store.ok());
    Checkpoint c = Make("heap-2");
    ASSERT_TRUE((*store)->Commit(c).ok());
  }
  CorruptHeap(path, 2);
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  auto list = (*store)->List();
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE((*list)[0].valid);
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 1);
  EXPECT_EQ(c->heap, "heap-1");
  EXPECT_EQ((*store)->skipped_corrupt(), 1);
  // The next commit gets a fresh seq above the corrupt one.
  Checkpoint next = Make("heap-3");
  ASSERT_TRUE((*store)->Commit(next).ok());
  EXPECT_EQ(next.seq, 3);
  EXPECT_EQ((*store)->LoadNewest()->heap, "heap-3");
}

TEST(CheckpointStoreTest, RefusesStoreWithoutValidCheckpoint) {
  std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("heap-1"));
    ASSERT_TRUE(store.ok());
  }
  CorruptHeap(path, 1);
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadNewest();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(c.status().message().find("no valid checkpoint"), std::string::npos) << c.status();
}

TEST(CheckpointStoreTest, CreateRefusesExistingPath) {
  std::string path = TempDir() + "/a.ken";
  WriteFile(path, "");
  auto store = CheckpointStore::Create(path, Make("h"));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), "");
}

TEST(CheckpointStoreTest, MissingStoreIsNotFound) {
  std::string path = TempDir() + "/missing.ken";
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kNotFound);
}

TEST(CheckpointStoreTest, ForeignFilesAreRefusedAndUntouched) {
  std::string dir = TempDir();
  std::string good = dir + "/good.ken";
  { ASSERT_TRUE(CheckpointStore::Create(good, Make(std::string(100000, 'h'))).ok()); }
  std::string good_bytes = ReadFile(good);
  struct Case {
    std::string name;
    std::string bytes;
  } cases[] = {
      {"empty", ""},
      {"text", "hello, this is not a database\n"},
      {"truncated", good_bytes.substr(0, 4096 + 100)},
      {"plain-sqlite", ""},
  };
  for (auto& c : cases) {
    std::string path = dir + "/" + c.name + ".ken";
    if (c.name == "plain-sqlite") {
      sqlite3* db = nullptr;
      sqlite3_open(path.c_str(), &db);
      sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr);
      sqlite3_close(db);
      c.bytes = ReadFile(path);
    } else {
      WriteFile(path, c.bytes);
    }
    for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
      auto store = CheckpointStore::Open(path, mode);
      absl::Status s = store.ok() ? (*store)->LoadNewest().status() : store.status();
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.name << ": " << s;
      EXPECT_NE(s.message().find(path), std::string::npos) << s;
    }
    EXPECT_EQ(ReadFile(path), c.bytes) << c.name << " was modified";
  }
}

TEST(CheckpointStoreTest, SecondWriterIsRefusedWithHolderPid) {
  std::string path = TempDir() + "/a.ken";
  auto first = CheckpointStore::Create(path, Make("h"));
  ASSERT_TRUE(first.ok());
  auto second = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(getpid())), std::string::npos)
      << second.status();
  first->reset();  // releasing the lock lets the next writer in
  EXPECT_TRUE(CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite).ok());
}

TEST(CheckpointStoreTest, ConcurrentReaderSeesCommittedCheckpoints) {
  std::string path = TempDir() + "/a.ken";
  auto writer = CheckpointStore::Create(path, Make("heap-1"));
  ASSERT_TRUE(writer.ok());
  auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->LoadNewest()->heap, "heap-1");
  Checkpoint c = Make("heap-2");
  ASSERT_TRUE((*writer)->Commit(c).ok());
  EXPECT_EQ((*reader)->LoadNewest()->heap, "heap-2");
  Checkpoint r = Make("nope");
  EXPECT_EQ((*reader)->Commit(r).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CheckpointStoreTest, ReadOnlyOpenAfterCrashDoesNotWrite) {
  std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("heap-1"));
    ASSERT_TRUE(store.ok());
  }
  std::string before = ReadFile(path);
  {
    auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->LoadNewest()->heap, "heap-1");
  }
  EXPECT_EQ(ReadFile(path), before);
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

TEST(CheckpointStoreTest, ReincarnateIsDurable) {
  std::string path = TempDir() + "/a.ken";
  std::string before;
  std::string after;
  {
    auto store = CheckpointStore::Create(path, Make("h"));
    ASSERT_TRUE(store.ok());
    before = (*store)->incarnation();
    ASSERT_TRUE((*store)->Reincarnate().ok());
    after = (*store)->incarnation();
    EXPECT_NE(before, after);
  }
  auto reopened = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->incarnation(), after);
  EXPECT_EQ((*reopened)->Reincarnate().code(), absl::StatusCode::kFailedPrecondition);
}

// A store deleted while its holder was killed -9 leaves `<path>-wal` (and
// `-shm`) behind; SQLite would replay that WAL into a new store created at the
// same path, bringing the old checkpoints back under the new incarnation.
TEST(CheckpointStoreTest, RecreatingDeletedStoreDoesNotResurrectTheOldOne) {
  const std::string path = TempDir() + "/a.ken";
  std::string wal, shm, old_incarnation;
  {
    auto store = CheckpointStore::Create(path, Make("old-heap-1", "old-state-1"));
    ASSERT_TRUE(store.ok()) << store.status();
    old_incarnation = (*store)->incarnation();
    for (int i = 2; i <= 4; ++i) {
      Checkpoint c = Make("old-heap-" + std::to_string(i), "old-state-" + std::to_string(i));
      ASSERT_TRUE((*store)->Commit(c).ok());
    }
    // While the store is open, the newest commits sit in the WAL.
    struct stat st;
    ASSERT_EQ(stat((path + "-wal").c_str(), &st), 0);
    ASSERT_GT(st.st_size, 0);
    wal = ReadFile(path + "-wal");
    ASSERT_NE(wal.find("old-state-4"), std::string::npos) << "the newest commit is not in the WAL";
    shm = ReadFile(path + "-shm");
    // Closing checkpoints and removes the WAL; a holder killed with -9 does
    // not: keep copies and put them back below.
  }
  ASSERT_EQ(unlink(path.c_str()), 0);  // the operator deletes only the store file
  WriteFile(path + "-wal", wal);
  if (!shm.empty()) WriteFile(path + "-shm", shm);
  {
    auto store = CheckpointStore::Create(path, Make("new-heap", "new-state"));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_NE((*store)->incarnation(), old_incarnation);
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->seq, 1);
    EXPECT_EQ(c->state, "new-state");
    EXPECT_EQ(c->heap, "new-heap");
    auto list = (*store)->List();
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_EQ(list->size(), 1u);
    EXPECT_EQ((*store)->skipped_corrupt(), 0);
    Checkpoint next = Make("new-heap-2", "new-state-2");
    ASSERT_TRUE((*store)->Commit(next).ok());
    EXPECT_EQ(next.seq, 2);
  }
  auto reopened = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto c = (*reopened)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 2);
  EXPECT_EQ(c->state, "new-state-2");
  EXPECT_EQ(ReadFile(path).find("old-state"), std::string::npos);
}

// flock locks the inode: a symlink or a hard link to a store that is open
// for writing cannot give a second writer.
TEST(CheckpointStoreTest, TwoPathsToOneFileGiveOneWriter) {
  const std::string dir = TempDir();
  const std::string path = dir + "/a.ken";
  const std::string sym = dir + "/sym.ken";
  const std::string hard = dir + "/hard.ken";
  { ASSERT_TRUE(CheckpointStore::Create(path, Make("heap-1")).ok()); }
  ASSERT_EQ(symlink(path.c_str(), sym.c_str()), 0);
  ASSERT_EQ(link(path.c_str(), hard.c_str()), 0);
  auto writer = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto refused = [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kFailedPrecondition &&
           (s.message().find("already open for writing by another process") != std::string::npos ||
            s.message().find("in use") != std::string::npos);
  };
  for (const std::string& other : {sym, hard, dir + "/./a.ken"}) {
    auto second = CheckpointStore::Open(other, CheckpointStore::Mode::kReadWrite);
    ASSERT_FALSE(second.ok()) << other << " gave a second writer";
    EXPECT_TRUE(refused(second.status())) << other << ": " << second.status();
    // Readers take no lock, through any path.
    auto reader = CheckpointStore::Open(other, CheckpointStore::Mode::kReadOnly);
    ASSERT_TRUE(reader.ok()) << other << ": " << reader.status();
    auto c = (*reader)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->heap, "heap-1");
  }
  {
    auto second = CheckpointStore::Open(sym, CheckpointStore::Mode::kReadWrite);
    EXPECT_NE(second.status().message().find("already open for writing by another process"), std::string::npos)
        << second.status();
  }
  // The writer still works, and a reader through the symlink sees its commit.
  Checkpoint c2 = Make("heap-2");
  ASSERT_TRUE((*writer)->Commit(c2).ok());
  {
    auto reader = CheckpointStore::Open(sym, CheckpointStore::Mode::kReadOnly);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->LoadNewest()->heap, "heap-2");
  }
  writer->reset();
  // Now the symlink gets the one writer, and the other paths are refused.
  auto via_symlink = CheckpointStore::Open(sym, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(via_symlink.ok()) << via_symlink.status();
  Checkpoint c3 = Make("heap-3");
  ASSERT_TRUE((*via_symlink)->Commit(c3).ok());
  for (const std::string& other : {path, hard}) {
    auto second = CheckpointStore::Open(other, CheckpointStore::Mode::kReadWrite);
    EXPECT_TRUE(refused(second.status())) << other << ": " << second.status();
  }
  via_symlink->reset();
  auto via_hard_link = CheckpointStore::Open(hard, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(via_hard_link.ok()) << via_hard_link.status();
  EXPECT_EQ((*via_hard_link)->LoadNewest()->heap, "heap-3");
}

// A fallback to an older checkpoint takes a new incarnation once: the next
// opens see the same corrupt checkpoint, but it has been answered for.
TEST(CheckpointStoreTest, FallbackIsAnsweredByOneReincarnation) {
  const std::string path = TempDir() + "/a.ken";
  std::string original;
  {
    auto store = CheckpointStore::Create(path, Make("heap-1"));
    ASSERT_TRUE(store.ok());
    original = (*store)->incarnation();
    for (int i = 2; i <= 3; ++i) {
      Checkpoint c = Make("heap-" + std::to_string(i));
      ASSERT_TRUE((*store)->Commit(c).ok());
    }
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE((*store)->unanswered_fallback());
  }
  CorruptHeap(path, 3);
  std::string renewed;
  {
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->incarnation(), original);
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->seq, 2);
    EXPECT_EQ((*store)->skipped_corrupt(), 1);
    EXPECT_TRUE((*store)->unanswered_fallback());
    ASSERT_TRUE((*store)->Reincarnate().ok());
    renewed = (*store)->incarnation();
    EXPECT_NE(renewed, original);
    EXPECT_FALSE((*store)->unanswered_fallback());
  }
  for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
    auto store = CheckpointStore::Open(path, mode);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->incarnation(), renewed);
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->seq, 2);
    EXPECT_EQ((*store)->skipped_corrupt(), 1);  // still there, still skipped
    EXPECT_FALSE((*store)->unanswered_fallback());
  }
  {
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->LoadNewest().ok());
    Checkpoint c = Make("heap-4");
    ASSERT_TRUE((*store)->Commit(c).ok());
    EXPECT_EQ(c.seq, 4);
    auto newest = (*store)->LoadNewest();
    ASSERT_TRUE(newest.ok());
    EXPECT_EQ(newest->seq, 4);
    EXPECT_EQ(newest->heap, "heap-4");
    EXPECT_EQ((*store)->skipped_corrupt(), 0);
    EXPECT_FALSE((*store)->unanswered_fallback());
  }
  {
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok());
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->heap, "heap-4");
    EXPECT_EQ((*store)->incarnation(), renewed);
    EXPECT_FALSE((*store)->unanswered_fallback());
  }
  // A corrupt checkpoint newer than the one answered for is a new fallback.
  CorruptHeap(path, 4);
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 2);  // #4 and the old corrupt #3 are skipped
  EXPECT_EQ((*store)->skipped_corrupt(), 2);
  EXPECT_TRUE((*store)->unanswered_fallback());
}

// A blob over SQLite's length limit (1,000,000,000 bytes) is kOutOfRange, and
// the store keeps its previous checkpoints. The heap is a view of untouched
// anonymous memory (the zero page), so this costs no RAM.
TEST(CheckpointStoreTest, ValueOverSqliteLimitIsOutOfRange) {
  const std::string path = TempDir() + "/a.ken";
  auto store = CheckpointStore::Create(path, Make("heap-1", "state-1"));
  ASSERT_TRUE(store.ok());
  const size_t kBytes = 1000000000 + 16;
  void* p = mmap(nullptr, kBytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  struct Case {
    const char* name;
    size_t heap_bytes;
    std::string state;
  } cases[] = {
      {"a heap over the limit", kBytes, "s"},
      {"a row over the limit", 1000000000, std::string(64, 's')},
  };
  for (const Case& k : cases) {
    Checkpoint c = Make("", k.state);
    absl::Status s = (*store)->Commit(c, std::string_view(static_cast<const char*>(p), k.heap_bytes));
    EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << k.name << ": " << s;
    EXPECT_NE(s.message().find(path), std::string::npos) << s;
  }
  munmap(p, kBytes);
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 1);
  EXPECT_EQ(c->state, "state-1");
  Checkpoint next = Make("heap-2");
  ASSERT_TRUE((*store)->Commit(next).ok());
  EXPECT_EQ(next.seq, 2);
}

}  // namespace
}  // namespace ken

// Format 2: the outbox as rows, meta, formats.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "proto/state.pb.h"

namespace ken {
namespace {

OutboxRow Row(const std::string& dst, uint64_t seq, const std::string& payload = "", uint64_t stamp = 77) {
  return OutboxRow{dst, seq, stamp, payload.empty() ? dst + "-payload-" + std::to_string(seq) : payload};
}

std::string Rows(const std::vector<OutboxRow>& rows) {
  std::string out;
  for (const OutboxRow& r : rows) out += r.dst + "#" + std::to_string(r.seq) + " ";
  return out;
}

// Runs SQL on the store file through a connection of the test's own.
void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql << ": " << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(OutboxTest, CommitsAddAndAckRowsAndLoadReturnsTheUnacked) {
  const std::string path = TempDir() + "/a.ken";
  auto store = CheckpointStore::Create(path, Make("heap-1"));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->format(), "ken-store-2");
  {
    Checkpoint c = Make("heap-2", "state-2");
    OutboxChanges changes;
    changes.added = {Row("b", 1), Row("b", 2), Row("b", 3), Row("c", 1, std::string("\0bin\xff", 5), 0)};
    ASSERT_TRUE((*store)->Commit(c, c.heap, changes).ok());
    EXPECT_EQ(c.seq, 2);
  }
  {
    // An ack, a send, and a send acked by the same commit.
    Checkpoint c = Make("heap-3", "state-3");
    OutboxChanges changes;
    changes.added = {Row("b", 4), Row("d", 1)};
    changes.acked_through = {{"b", 2}, {"d", 1}, {"nobody", 9}};
    ASSERT_TRUE((*store)->Commit(c, c.heap, changes).ok());
  }
  const std::vector<OutboxRow> want = {Row("b", 3), Row("b", 4), Row("c", 1, std::string("\0bin\xff", 5), 0)};
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 3);
  EXPECT_EQ(c->heap, "heap-3");
  EXPECT_EQ(Rows(c->outbox), Rows(want));
  EXPECT_EQ(c->outbox, want);
  {
    auto rows = (*store)->Outbox();
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(*rows, want);
  }
  // The old overloads commit with no outbox changes.
  Checkpoint legacy = Make("heap-4", "state-4");
  ASSERT_TRUE((*store)->Commit(legacy).ok());
  Checkpoint legacy2 = Make("", "state-5");
  ASSERT_TRUE((*store)->Commit(legacy2, "heap-5").ok());
  store->reset();
  for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
    auto reopened = CheckpointStore::Open(path, mode);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    auto loaded = (*reopened)->LoadNewest();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->seq, 5);
    EXPECT_EQ(loaded->heap, "heap-5");
    EXPECT_EQ(loaded->outbox, want);
    EXPECT_EQ(loaded->natives, "");
    EXPECT_EQ(loaded->builtins_version, 0);
  }
  // After a fallback to an older checkpoint the outbox is still the newest
  // commit's (FORMAT.md, Fallback).
  CorruptHeap(path, 5);
  auto fell_back = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(fell_back.ok());
  auto four = (*fell_back)->LoadNewest();
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->seq, 4);
  EXPECT_EQ((*fell_back)->skipped_corrupt(), 1);
  EXPECT_EQ(four->outbox, want);
}

TEST(OutboxTest, NativesBuiltinsAndEngineRoundTrip) {
  const std::string path = TempDir() + "/a.ken";
  Checkpoint initial = Make("heap-1");
  initial.natives = "5:0badcafe";
  auto store = CheckpointStore::Create(path, initial);
  ASSERT_TRUE(store.ok());
  Checkpoint c = Make("heap-2");
  c.natives = "6:1a2b3c4d";
  c.builtins_version = 3;
  c.engine = "v8 10.2.154.26-node.36; libnode108 18.20.4+dfsg-1~deb12u3";
  ASSERT_TRUE((*store)->Commit(c).ok());
  store->reset();
  auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok());
  auto loaded = (*reader)->LoadNewest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->natives, "6:1a2b3c4d");
  EXPECT_EQ(loaded->builtins_version, 3);
  EXPECT_EQ(loaded->engine, "v8 10.2.154.26-node.36; libnode108 18.20.4+dfsg-1~deb12u3");
  CorruptHeap(path, 2);
  auto first = (*reader)->LoadNewest();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->natives, "5:0badcafe");
  EXPECT_EQ(first->builtins_version, 0);
}

TEST(OutboxTest, CreateWritesTheInitialOutbox) {
  const std::string path = TempDir() + "/a.ken";
  Checkpoint initial = Make("heap-1");
  initial.outbox = {Row("z", 2), Row("a", 7)};
  ASSERT_TRUE(CheckpointStore::Create(path, initial).ok());
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Rows(c->outbox), "a#7 z#2 ");
}

TEST(OutboxTest, ReusedSequenceNumberFailsTheWholeCommit) {
  const std::string path = TempDir() + "/a.ken";
  auto store = CheckpointStore::Create(path, Make("heap-1"));
  ASSERT_TRUE(store.ok());
  Checkpoint c = Make("heap-2");
  OutboxChanges changes;
  changes.added = {Row("b", 1), Row("b", 2)};
  ASSERT_TRUE((*store)->Commit(c, c.heap, changes).ok());
  Checkpoint bad = Make("heap-3");
  OutboxChanges again;
  again.added = {Row("b", 3), Row("b", 2, "other")};
  again.acked_through = {{"b", 1}};
  absl::Status s = (*store)->Commit(bad, bad.heap, again);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("outbox row to 'b' #2"), std::string::npos) << s;
  auto loaded = (*store)->LoadNewest();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->seq, 2);  // nothing of the failed commit was written
  EXPECT_EQ(loaded->heap, "heap-2");
  EXPECT_EQ(Rows(loaded->outbox), "b#1 b#2 ");
  Checkpoint next = Make("heap-3");
  ASSERT_TRUE((*store)->Commit(next, next.heap, OutboxChanges{{Row("b", 3)}, {}}).ok());
  EXPECT_EQ(next.seq, 3);
}

TEST(OutboxTest, CorruptRowIsDataLossNamingTheRow) {
  const std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("heap-1"));
    ASSERT_TRUE(store.ok());
    Checkpoint c = Make("heap-2");
    ASSERT_TRUE((*store)->Commit(c, c.heap, OutboxChanges{{Row("b", 3), Row("b", 4), Row("b", 5)}, {}}).ok());
  }
  // Flip one payload byte behind the store's back (the sqlite3 C API).
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* read = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT payload FROM outbox WHERE dst = 'b' AND seq = 4", -1, &read, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(read), SQLITE_ROW);
    std::string payload(static_cast<const char*>(sqlite3_column_blob(read, 0)), sqlite3_column_bytes(read, 0));
    sqlite3_finalize(read);
    payload[1] ^= 0x01;
    sqlite3_stmt* write = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE outbox SET payload = ? WHERE dst = 'b' AND seq = 4", -1, &write, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(write, 1, payload.data(), static_cast<int>(payload.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(write), SQLITE_DONE);
    sqlite3_finalize(write);
    sqlite3_close(db);
  }
  for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
    auto store = CheckpointStore::Open(path, mode);
    ASSERT_TRUE(store.ok()) << store.status();
    auto c = (*store)->LoadNewest();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(c.status().message().find("outbox row to 'b' #4 is corrupt"), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find(path), std::string::npos) << c.status();
    EXPECT_EQ((*store)->Outbox().status().code(), absl::StatusCode::kDataLoss);
  }
  // The checksum covers the row's key and stamp too.
  Sql(path, "UPDATE outbox SET payload = CAST('b-payload-4' AS BLOB) WHERE seq = 4; "
            "UPDATE outbox SET stamp = stamp + 1 WHERE seq = 5");
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(store.ok());
  absl::Status s = (*store)->LoadNewest().status();
  EXPECT_NE(s.message().find("outbox row to 'b' #5 is corrupt"), std::string::npos) << s;
}

// Frames (pages) the WAL holds: after a TRUNCATE checkpoint, what the commits
// since then wrote.
int WalFrames(sqlite3* db, bool truncate) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, truncate ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 0) << "checkpoint busy";
  int frames = sqlite3_column_int(stmt, 1);
  sqlite3_finalize(stmt);
  return frames;
}

struct CommitCost {
  int max_frames = 0;
  double median_ms = 0;
};

// Five commits that each add one row and ack one, on a store whose outbox
// holds `rows` rows of 100 bytes; or (legacy) five format-1 style commits
// whose state carries those rows, as ken-checkpoint-store-1 did.
CommitCost MeasureCommits(int rows, bool legacy) {
  const std::string path = TempDir() + "/cost.ken";
  auto store = CheckpointStore::Create(path, Make(std::string(4096, 'h')));
  EXPECT_TRUE(store.ok()) << store.status();
  v1::NodeState state;
  v1::OutChannelState* out = state.add_out();
  out->set_peer("b");
  OutboxChanges fill;
  for (int i = 1; i <= rows; ++i) {
    OutboxRow r = Row("b", i, std::string(100, static_cast<char>('a' + i % 26)), 0x9e3779b97f4a7c15ull);
    v1::StoredEnvelope* e = out->add_unacked();
    e->set_seq(r.seq);
    e->set_payload(r.payload);
    e->set_stamp(r.stamp);
    fill.added.push_back(std::move(r));
  }
  Checkpoint first = Make(std::string(4096, 'h'), legacy ? state.SerializeAsString() : "s");
  EXPECT_TRUE((*store)->Commit(first, first.heap, legacy ? OutboxChanges() : fill).ok());
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  CommitCost cost;
  std::vector<double> ms;
  uint64_t next = rows + 1;
  for (int i = 0; i < 5; ++i, ++next) {
    OutboxChanges changes;
    changes.added = {Row("b", next, std::string(100, 'n'))};
    changes.acked_through = {{"b", next - std::max(rows, 1)}};
    if (legacy) {
      out->mutable_unacked()->DeleteSubrange(0, 1);
      out->add_unacked()->set_seq(next);
    }
    Checkpoint c = Make(std::string(4096, 'h'), legacy ? state.SerializeAsString() : "s");
    WalFrames(db, /*truncate=*/true);
    auto start = std::chrono::steady_clock::now();
    absl::Status s = legacy ? (*store)->Commit(c) : (*store)->Commit(c, c.heap, changes);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    EXPECT_TRUE(s.ok()) << s;
    cost.max_frames = std::max(cost.max_frames, WalFrames(db, /*truncate=*/false));
  }
  sqlite3_close(db);
  if (!legacy) {
    auto c = (*store)->LoadNewest();
    EXPECT_TRUE(c.ok());
    EXPECT_EQ(c->outbox.size(), static_cast<size_t>(std::max(rows, 1)));
  }
  std::sort(ms.begin(), ms.end());
  cost.median_ms = ms[2];
  return cost;
}

// The cost of a commit does not grow with the rows already in the outbox:
// counted in pages written (WAL frames), not time.
TEST(OutboxTest, CommitCostDoesNotGrowWithTheOutbox) {
  CommitCost empty = MeasureCommits(0, false);
  CommitCost full = MeasureCommits(10000, false);
  CommitCost legacy = MeasureCommits(10000, true);
  std::cout << "commit adding 1 row and acking 1 (median of 5): outbox of 0 rows " << empty.median_ms << " ms, "
            << empty.max_frames << " pages; 10,000 rows " << full.median_ms << " ms, " << full.max_frames
            << " pages; the same in format 1 (outbox in the state) " << legacy.median_ms << " ms, "
            << legacy.max_frames << " pages\n";
  RecordProperty("commit_ms_0_rows", std::to_string(empty.median_ms));
  RecordProperty("commit_ms_10000_rows", std::to_string(full.median_ms));
  RecordProperty("commit_ms_10000_rows_format1", std::to_string(legacy.median_ms));
  // O(log n) b-tree pages for the row added, the row deleted and their index
  // entries, beside the checkpoint row's own pages: a few pages more, not the
  // ~280 pages that 10,000 rows of 100 bytes take.
  EXPECT_LE(full.max_frames, empty.max_frames + 8);
  EXPECT_LT(full.max_frames, 30);
  EXPECT_GT(legacy.max_frames, 10 * full.max_frames) << "the format-1 baseline should write the whole outbox";
}

TEST(CheckpointStoreTest, CommitAsSeqKeepsTheNewestThreeAndMayReplaceOutboxRows) {
  std::string path = TempDir() + "/a.ken";
  auto store = CheckpointStore::Create(path, Make("heap-1"));
  ASSERT_TRUE(store.ok());
  for (int64_t seq : {10, 25, 26, 40}) {
    Checkpoint c = Make("heap-" + std::to_string(seq));
    c.commit_as_seq = seq;
    ASSERT_TRUE((*store)->Commit(c).ok());
    EXPECT_EQ(c.seq, seq);
  }
  auto seqs = (*store)->CheckpointSeqs();
  ASSERT_TRUE(seqs.ok());
  EXPECT_EQ(*seqs, (std::vector<int64_t>{25, 26, 40}));
  Checkpoint older = Make("x");
  older.commit_as_seq = 40;
  EXPECT_EQ((*store)->Commit(older).code(), absl::StatusCode::kInvalidArgument);
  Checkpoint next = Make("heap-41");
  ASSERT_TRUE((*store)->Commit(next).ok());
  EXPECT_EQ(next.seq, 41);
  // A row added again: refused, unless replace_existing.
  OutboxChanges add;
  add.added = {{"b", 1, 7, "one"}};
  Checkpoint c1 = Make("h");
  ASSERT_TRUE((*store)->Commit(c1, c1.heap, add).ok());
  Checkpoint c2 = Make("h");
  EXPECT_EQ((*store)->Commit(c2, c2.heap, add).code(), absl::StatusCode::kAlreadyExists);
  add.replace_existing = true;
  add.added[0].payload = "one again";
  ASSERT_TRUE((*store)->Commit(c2, c2.heap, add).ok());
  auto rows = (*store)->Outbox();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].payload, "one again");
}

TEST(MetaTest, SetMetaIsDurableAndReservedKeysAreRefused) {
  const std::string path = TempDir() + "/a.ken";
  {
    auto store = CheckpointStore::Create(path, Make("h"));
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*store)->GetMeta("node_id").has_value());
    EXPECT_EQ((*store)->GetMeta("format"), "ken-store-2");
    ASSERT_TRUE((*store)->SetMeta("node_id", "a").ok());
    ASSERT_TRUE((*store)->SetMeta("node_id", "it's 'a'").ok());  // quotes are values, not SQL
    EXPECT_EQ((*store)->GetMeta("node_id"), "it's 'a'");
    for (const char* key : {"format", "incarnation", "created_unix_ms", "fallback_handled_through", ""}) {
      EXPECT_EQ((*store)->SetMeta(key, "x").code(), absl::StatusCode::kInvalidArgument) << key;
    }
  }
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->GetMeta("node_id"), "it's 'a'");
  EXPECT_EQ((*store)->GetMeta("format"), "ken-store-2");
  EXPECT_EQ((*store)->SetMeta("node_id", "b").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FormatTest, NewerFormatIsRefusedAndUntouched) {
  const std::string path = TempDir() + "/a.ken";
  { ASSERT_TRUE(CheckpointStore::Create(path, Make("h")).ok()); }
  Sql(path, "PRAGMA journal_mode=DELETE; UPDATE ken_meta SET value = 'ken-store-3' WHERE key = 'format'");
  const std::string before = ReadFile(path);
  for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
    auto store = CheckpointStore::Open(path, mode);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
    EXPECT_EQ(store.status().message(), "store " + path +
                                            " has format 'ken-store-3', newer than this ken understands "
                                            "(ken-store-2): use a newer ken");
  }
  EXPECT_EQ(ReadFile(path), before);
  Sql(path, "UPDATE ken_meta SET value = 'something-else' WHERE key = 'format'");
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_NE(store.status().message().find("unknown format 'something-else'"), std::string::npos) << store.status();
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// A damaged file with a -wal beside it (a holder that did not close
// cleanly, or a copy restored next to another store's -wal) is refused at
// open with a one-line error, instead of failing every commit afterwards.
TEST(QuickCheckTest, DamagedStoreWithAWalIsRefusedAtOpen) {
  const char* t = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(t ? t : "/tmp") + "/qcXXXXXX";
  const std::string path = std::string(mkdtemp(tmpl.data())) + "/s.ken";
  {
    Checkpoint initial;
    initial.heap = std::string(200000, 'h');
    initial.state = "s";
    auto store = CheckpointStore::Create(path, initial);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 3; ++i) {
      Checkpoint c;
      c.heap = std::string(200000, static_cast<char>('a' + i));
      c.state = "s";
      ASSERT_TRUE((*store)->Commit(c).ok());
    }
  }
  // Damage a b-tree page in the middle of the file.
  {
    FILE* f = fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    fseek(f, 3 * 4096, SEEK_SET);
    const char junk[64] = {static_cast<char>(0xff)};
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    FILE* wal = fopen((path + "-wal").c_str(), "wb");
    fputs("not a wal", wal);
    fclose(wal);
  }
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_NE(store.status().message().find("is damaged (SQLite quick_check"), std::string::npos) << store.status();
}

}  // namespace
}  // namespace ken
