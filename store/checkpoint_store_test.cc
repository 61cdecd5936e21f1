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
