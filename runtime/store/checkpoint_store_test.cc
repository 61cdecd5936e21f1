#include "runtime/store/checkpoint_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace
}  // namespace ken
