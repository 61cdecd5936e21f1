// Format-1 stores written by earlier releases (tests/golden/<set>/*.ken.gz,
// made by tests/golden/make_golden.sh) are migrated in place to ken-store-2
// by a read-write open, in one transaction; a read-only open reads them as
// they are and gives the caller the same checkpoint and outbox.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/state.pb.h"
#include "store/checkpoint_store.h"

namespace ken {
namespace {

std::string TempDir() {
  const char* t = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(t ? t : "/tmp") + "/migrateXXXXXX";
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

// Decompresses tests/golden/<set>/<name>.ken.gz into `dir`; returns the path.
std::string Unpack(const std::string& set, const std::string& name, const std::string& dir) {
  const std::string from = "tests/golden/" + set + "/" + name + ".ken.gz";
  gzFile in = gzopen(from.c_str(), "rb");
  EXPECT_NE(in, nullptr) << from;
  const std::string to = dir + "/" + name + ".ken";
  std::ofstream out(to, std::ios::binary);
  char buf[1 << 16];
  int n;
  while (in != nullptr && (n = gzread(in, buf, sizeof(buf))) > 0) out.write(buf, n);
  if (in != nullptr) gzclose(in);
  return to;
}

uint32_t Crc(const std::string& bytes) {
  return static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                                     static_cast<uInt>(bytes.size())));
}

// A checkpoint row as SQLite holds it, read behind the store's back.
struct RawCheckpoint {
  int64_t seq = 0;
  int64_t created_unix_ms = 0;
  std::string engine, heap, state;
  uint32_t heap_crc = 0, state_crc = 0;
};

struct Raw {
  std::string format;
  bool has_outbox_table = false;
  std::vector<RawCheckpoint> checkpoints;  // newest first
};

Raw ReadRaw(const std::string& path) {
  Raw raw;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM ken_meta WHERE key = 'format'", -1, &stmt, nullptr), SQLITE_OK);
  if (sqlite3_step(stmt) == SQLITE_ROW) raw.format = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'outbox'", -1, &stmt, nullptr),
            SQLITE_OK);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  raw.has_outbox_table = sqlite3_column_int(stmt, 0) > 0;
  sqlite3_finalize(stmt);
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT seq, created_unix_ms, engine, heap, heap_crc32, state, state_crc32 "
                               "FROM checkpoints ORDER BY seq DESC",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    RawCheckpoint c;
    c.seq = sqlite3_column_int64(stmt, 0);
    c.created_unix_ms = sqlite3_column_int64(stmt, 1);
    c.engine = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2));
    c.heap.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 3)), sqlite3_column_bytes(stmt, 3));
    c.heap_crc = static_cast<uint32_t>(sqlite3_column_int64(stmt, 4));
    c.state.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 5)), sqlite3_column_bytes(stmt, 5));
    c.state_crc = static_cast<uint32_t>(sqlite3_column_int64(stmt, 6));
    raw.checkpoints.push_back(std::move(c));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return raw;
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql << ": " << sqlite3_errmsg(db);
  sqlite3_close(db);
}

v1::NodeState Parse(const std::string& bytes) {
  v1::NodeState state;
  EXPECT_TRUE(state.ParseFromString(bytes));
  return state;
}

// What a migration must give for a format-1 state: the state without its
// envelopes, and the envelopes as rows in (dst, seq) order.
std::string Stripped(const std::string& bytes) {
  v1::NodeState state = Parse(bytes);
  for (v1::OutChannelState& o : *state.mutable_out()) o.clear_unacked();
  return state.SerializeAsString();
}

std::vector<OutboxRow> Envelopes(const std::string& bytes) {
  std::vector<OutboxRow> rows;
  const v1::NodeState state = Parse(bytes);
  for (const v1::OutChannelState& o : state.out()) {
    for (const v1::StoredEnvelope& e : o.unacked()) rows.push_back({o.peer(), e.seq(), e.stamp(), e.payload()});
  }
  return rows;
}

std::string Describe(const std::vector<OutboxRow>& rows) {
  std::string out;
  for (const OutboxRow& r : rows) out += r.dst + "#" + std::to_string(r.seq) + " ";
  return out;
}

const char* const kStores[] = {"a", "b", "shell"};

class GoldenMigrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override { CheckpointStore::SetMigrationHookForTesting({}); }
};

// The golden stores are what the tests think they are.
TEST_P(GoldenMigrationTest, GoldenStoresAreFormat1WithAnOutbox) {
  const std::string dir = TempDir();
  for (const char* name : kStores) {
    Raw raw = ReadRaw(Unpack(GetParam(), name, dir));
    EXPECT_EQ(raw.format, "ken-checkpoint-store-1") << name;
    EXPECT_FALSE(raw.has_outbox_table) << name;
    ASSERT_EQ(raw.checkpoints.size(), 1u) << name;
  }
  Raw a = ReadRaw(dir + "/a.ken");
  std::vector<OutboxRow> rows = Envelopes(a.checkpoints[0].state);
  EXPECT_EQ(Describe(rows), "b#3 b#4 b#5 ");
  for (const OutboxRow& r : rows) EXPECT_FALSE(r.payload.empty());
  EXPECT_TRUE(Envelopes(ReadRaw(dir + "/b.ken").checkpoints[0].state).empty());
}

TEST_P(GoldenMigrationTest, ReadOnlyOpenReadsFormat1AsItIsAndWritesNothing) {
  const std::string dir = TempDir();
  for (const char* name : kStores) {
    const std::string path = Unpack(GetParam(), name, dir);
    const std::string before = ReadFile(path);
    const RawCheckpoint raw = ReadRaw(path).checkpoints[0];
    {
      auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
      ASSERT_TRUE(store.ok()) << name << ": " << store.status();
      EXPECT_EQ((*store)->format(), "ken-checkpoint-store-1");
      auto c = (*store)->LoadNewest();
      ASSERT_TRUE(c.ok()) << name << ": " << c.status();
      EXPECT_EQ(c->seq, raw.seq);
      EXPECT_EQ(c->engine, raw.engine);
      EXPECT_EQ(c->heap, raw.heap) << name;
      EXPECT_EQ(c->state, raw.state) << name << ": the state is as stored";
      EXPECT_EQ(c->outbox, Envelopes(raw.state)) << name;
      EXPECT_EQ(c->natives, "");
      EXPECT_EQ(c->builtins_version, 0);
      auto rows = (*store)->Outbox();
      ASSERT_TRUE(rows.ok()) << rows.status();
      EXPECT_EQ(*rows, c->outbox);
      Checkpoint next;
      EXPECT_EQ((*store)->Commit(next).code(), absl::StatusCode::kFailedPrecondition);
    }
    EXPECT_EQ(ReadFile(path), before) << name << " was modified by a read-only open";
    EXPECT_EQ(ReadRaw(path).format, "ken-checkpoint-store-1");
  }
}

TEST_P(GoldenMigrationTest, ReadWriteOpenMigratesInPlace) {
  const std::string dir = TempDir();
  for (const char* name : kStores) {
    const std::string path = Unpack(GetParam(), name, dir);
    const RawCheckpoint old = ReadRaw(path).checkpoints[0];
    const std::vector<OutboxRow> envelopes = Envelopes(old.state);
    Checkpoint read_only_view;
    {
      auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
      ASSERT_TRUE(reader.ok());
      read_only_view = *(*reader)->LoadNewest();
    }
    {
      auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
      ASSERT_TRUE(store.ok()) << name << ": " << store.status();
      EXPECT_EQ((*store)->format(), "ken-store-2");
    }
    Raw migrated = ReadRaw(path);
    EXPECT_EQ(migrated.format, "ken-store-2");
    EXPECT_TRUE(migrated.has_outbox_table);
    ASSERT_EQ(migrated.checkpoints.size(), 1u);
    EXPECT_EQ(migrated.checkpoints[0].state, Stripped(old.state)) << name;
    EXPECT_EQ(migrated.checkpoints[0].state_crc, Crc(Stripped(old.state))) << name;
    EXPECT_EQ(migrated.checkpoints[0].heap_crc, old.heap_crc);
    for (auto mode : {CheckpointStore::Mode::kReadWrite, CheckpointStore::Mode::kReadOnly}) {
      auto store = CheckpointStore::Open(path, mode);
      ASSERT_TRUE(store.ok()) << name << ": " << store.status();
      EXPECT_EQ((*store)->format(), "ken-store-2");
      auto c = (*store)->LoadNewest();
      ASSERT_TRUE(c.ok()) << name << ": " << c.status();
      EXPECT_EQ(c->seq, old.seq);
      EXPECT_EQ(c->created_unix_ms, old.created_unix_ms);
      EXPECT_EQ(c->engine, old.engine);
      EXPECT_EQ(c->natives, "");
      EXPECT_EQ(c->builtins_version, 0);
      EXPECT_TRUE(c->heap == old.heap) << name << ": the heap changed";
      EXPECT_EQ(c->state, Stripped(old.state)) << name;
      EXPECT_EQ(c->outbox, envelopes) << name;
      // The caller sees the same outbox as a read-only open before the migration.
      EXPECT_EQ(c->outbox, read_only_view.outbox) << name;
      EXPECT_EQ(Stripped(c->state), Stripped(read_only_view.state)) << name;
      EXPECT_EQ((*store)->GetMeta("node_id").value_or(""), Parse(old.state).node_id()) << name;
    }
  }
  // a's outbox: b #3..#5 with their payloads and stamps, as a sent them.
  auto a = CheckpointStore::Open(dir + "/a.ken", CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(a.ok());
  auto c = (*a)->LoadNewest();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
  v1::NodeState state = Parse(c->state);
  ASSERT_EQ(state.out_size(), 1);
  EXPECT_EQ(state.out(0).peer(), "b");
  EXPECT_EQ(state.out(0).next_seq(), 6u);
  EXPECT_EQ(state.out(0).unacked_size(), 0);
  EXPECT_EQ(state.node_id(), "a");
  // The migrated store takes format-2 commits.
  Checkpoint next = *c;
  OutboxChanges changes;
  changes.added = {{"b", 6, c->outbox[0].stamp, "six"}};
  changes.acked_through = {{"b", 5}};
  ASSERT_TRUE((*a)->Commit(next, next.heap, changes).ok());
  auto after = (*a)->LoadNewest();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->seq, c->seq + 1);
  EXPECT_EQ(Describe(after->outbox), "b#6 ");
}

// Every step of the migration can fail (an injected error) and leave the
// store exactly as it was: format 1, readable, and migrated by the next open.
TEST_P(GoldenMigrationTest, FailedMigrationLeavesFormat1) {
  const std::string dir = TempDir();
  const std::string path = Unpack(GetParam(), "a", dir);
  std::set<std::string> steps;
  {
    // Which steps a migration goes through (on a copy).
    const std::string copy = TempDir() + "/a.ken";
    std::ofstream(copy, std::ios::binary) << ReadFile(path);
    CheckpointStore::SetMigrationHookForTesting([&](std::string_view step) {
      steps.insert(std::string(step));
      return absl::OkStatus();
    });
    ASSERT_TRUE(CheckpointStore::Open(copy, CheckpointStore::Mode::kReadWrite).ok());
  }
  EXPECT_EQ(steps, (std::set<std::string>{"begin", "schema", "outbox", "states", "format"}));
  const std::string before = ReadFile(path);
  const RawCheckpoint old = ReadRaw(path).checkpoints[0];
  for (const std::string& at : steps) {
    CheckpointStore::SetMigrationHookForTesting([&](std::string_view step) {
      return step == at ? absl::InternalError("injected failure at " + at) : absl::OkStatus();
    });
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_FALSE(store.ok()) << at;
    EXPECT_NE(store.status().message().find("injected failure at " + at), std::string::npos) << store.status();
    EXPECT_NE(store.status().message().find("left as it was (ken-checkpoint-store-1)"), std::string::npos)
        << store.status();
    EXPECT_EQ(ReadFile(path), before) << "failed at " << at;
    Raw raw = ReadRaw(path);
    EXPECT_EQ(raw.format, "ken-checkpoint-store-1") << at;
    EXPECT_FALSE(raw.has_outbox_table) << at;
    EXPECT_EQ(raw.checkpoints[0].state, old.state) << at;
    auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto c = (*reader)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
  }
  CheckpointStore::SetMigrationHookForTesting({});
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok()) << store.status();
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
  EXPECT_EQ(c->state, Stripped(old.state));
}

// A process that dies in the middle of a migration (no rollback, no close:
// its transaction is simply never committed) leaves format 1.
TEST_P(GoldenMigrationTest, CrashDuringMigrationLeavesFormat1) {
  for (const char* at : {"outbox", "states", "format"}) {
    const std::string dir = TempDir();
    const std::string path = Unpack(GetParam(), "a", dir);
    const RawCheckpoint old = ReadRaw(path).checkpoints[0];
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      CheckpointStore::SetMigrationHookForTesting([at](std::string_view step) {
        if (step == at) _exit(42);
        return absl::OkStatus();
      });
      (void)CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
      _exit(1);  // the hook did not run
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 42) << "died at " << at << ": status " << status;
    {
      auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
      ASSERT_TRUE(reader.ok()) << at << ": " << reader.status();
      EXPECT_EQ((*reader)->format(), "ken-checkpoint-store-1") << at;
      auto c = (*reader)->LoadNewest();
      ASSERT_TRUE(c.ok()) << at << ": " << c.status();
      EXPECT_EQ(c->state, old.state) << at;
      EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ") << at;
    }
    Raw raw = ReadRaw(path);
    EXPECT_EQ(raw.format, "ken-checkpoint-store-1") << at;
    EXPECT_FALSE(raw.has_outbox_table) << at;
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok()) << at << ": " << store.status();
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->state, Stripped(old.state)) << at;
    EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ") << at;
  }
}

// A reader opened before a writer migrated the store reads the migrated store.
TEST_P(GoldenMigrationTest, ReaderOpenedBeforeTheMigrationFollowsIt) {
  const std::string path = Unpack(GetParam(), "a", TempDir());
  auto reader = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(Describe((*reader)->LoadNewest()->outbox), "b#3 b#4 b#5 ");
  auto writer = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto c = (*reader)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*reader)->format(), "ken-store-2");
  EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
  EXPECT_EQ(Parse(c->state).out(0).unacked_size(), 0);
}

INSTANTIATE_TEST_SUITE_P(Releases, GoldenMigrationTest,
                         ::testing::Values("format1-builtins1", "format1-builtins2"));

// A format-1 store with fallbacks and corrupt checkpoints: the newest VALID
// checkpoint's envelopes become the outbox; older valid checkpoints lose
// theirs (with a new CRC); corrupt ones are left byte for byte.
TEST(MigrationTest, NewestValidCheckpointGivesTheOutbox) {
  const std::string dir = TempDir();
  const std::string path = Unpack("format1-builtins2", "a", dir);
  const RawCheckpoint five = ReadRaw(path).checkpoints[0];
  ASSERT_EQ(five.seq, 5);
  v1::NodeState six_state = Parse(five.state);
  v1::StoredEnvelope* extra = six_state.mutable_out(0)->add_unacked();
  extra->set_seq(6);
  extra->set_payload("lost");
  const std::string six = six_state.SerializeAsString();
  // #6: newer, heap checksum wrong; #4: an older valid copy; #3: state checksum wrong.
  Sql(path, "INSERT INTO checkpoints SELECT 6, created_unix_ms, engine, heap, heap_crc32 + 1, X'" +
                [&] {
                  std::string hex;
                  for (unsigned char ch : six) {
                    static const char* d = "0123456789abcdef";
                    hex += d[ch >> 4];
                    hex += d[ch & 15];
                  }
                  return hex;
                }() +
                "', " + std::to_string(Crc(six)) +
                " FROM checkpoints WHERE seq = 5;"
                "INSERT INTO checkpoints SELECT 4, created_unix_ms, engine, heap, heap_crc32, state, state_crc32 "
                "FROM checkpoints WHERE seq = 5;"
                "INSERT INTO checkpoints SELECT 3, created_unix_ms, engine, heap, heap_crc32, state, state_crc32 + 1 "
                "FROM checkpoints WHERE seq = 5;");
  const Raw before = ReadRaw(path);
  ASSERT_EQ(before.checkpoints.size(), 4u);
  {
    auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok()) << store.status();
    auto c = (*store)->LoadNewest();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->seq, 5);
    EXPECT_EQ((*store)->skipped_corrupt(), 1);
    EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
    EXPECT_EQ(c->state, Stripped(five.state));
  }
  const Raw after = ReadRaw(path);
  ASSERT_EQ(after.checkpoints.size(), 4u);
  auto by_seq = [](const Raw& raw, int64_t seq) {
    for (const RawCheckpoint& c : raw.checkpoints) {
      if (c.seq == seq) return c;
    }
    return RawCheckpoint();
  };
  for (int64_t corrupt : {6, 3}) {
    EXPECT_EQ(by_seq(after, corrupt).state, by_seq(before, corrupt).state) << corrupt;
    EXPECT_EQ(by_seq(after, corrupt).state_crc, by_seq(before, corrupt).state_crc) << corrupt;
    EXPECT_EQ(by_seq(after, corrupt).heap_crc, by_seq(before, corrupt).heap_crc) << corrupt;
  }
  EXPECT_EQ(by_seq(after, 4).state, Stripped(five.state));
  EXPECT_EQ(by_seq(after, 4).state_crc, Crc(Stripped(five.state)));
  // The older valid checkpoint is a usable fallback after the migration.
  Sql(path, "UPDATE checkpoints SET heap_crc32 = heap_crc32 + 1 WHERE seq = 5");
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadNewest();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq, 4);
  EXPECT_EQ(Describe(c->outbox), "b#3 b#4 b#5 ");
}

}  // namespace
}  // namespace ken
