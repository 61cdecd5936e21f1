// Fuzz target: the store loader on damaged files. The first byte picks how
// the input damages a store:
//  - even: the rest of the input is the whole store file (a seed corpus of
//    real stores lets the fuzzer reach past SQLite's header checks);
//  - odd: a valid store (three checkpoints, outbox rows) is made, then each
//    following operation overwrites one column of one row (heap, checksums,
//    state, natives, engine, meta values, outbox rows) with fuzzed bytes.
// Then it is opened read-only and read-write, its checkpoints listed and the
// newest valid one loaded, as a node does at start, its NodeState decoded
// and restored into Channels, and a new checkpoint committed.
// Checks: no crash or sanitizer report; a checkpoint LoadNewest returns has
// checksums that verify (V8 is never handed a blob whose CRC failed);
// every error is a Status.
#include <sqlite3.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/clock.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/support.h"
#include "messaging/channels.h"
#include "proto/state.pb.h"
#include "spdlog/spdlog.h"
#include "store/checkpoint_store.h"

namespace ken::fuzz {
namespace {

void Clean(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", ".lock", ".tmp"}) unlink((path + suffix).c_str());
}

void MakeStore(const std::string& path) {
  Checkpoint c;
  c.engine = "fuzz";
  c.heap = std::string(300, 'h');
  c.state = SampleStateBytes(1);
  auto store = CheckpointStore::Create(path, c);
  if (!store.ok()) abort();
  for (int i = 2; i <= 3; ++i) {
    Checkpoint next = c;
    next.heap = std::string(200 + i, 'a' + i);
    next.state = SampleStateBytes(i);
    OutboxChanges changes;
    changes.added.push_back({"a", static_cast<uint64_t>(i), 5, "\xFF\x0F" "payload"});
    if (!(*store)->Commit(next, next.heap, changes).ok()) abort();
  }
}

uint32_t Crc(const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// Overwrites one column of one row, chosen by the input, with its bytes.
void Damage(const std::string& path, FuzzInput& in) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) abort();
  static const char* const kUpdates[] = {
      "UPDATE checkpoints SET heap = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET heap_crc32 = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET state = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET state_crc32 = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET natives = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET engine = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET builtins = ?1 WHERE seq = ?2",
      "UPDATE checkpoints SET seq = ?1 WHERE seq = ?2",
      "UPDATE ken_meta SET value = ?1 WHERE rowid = ?2",
      "UPDATE outbox SET payload = ?1 WHERE seq = ?2",
      "UPDATE outbox SET crc32 = ?1 WHERE seq = ?2",
      "UPDATE outbox SET stamp = ?1 WHERE seq = ?2",
      "UPDATE outbox SET dst = ?1 WHERE seq = ?2",
      "DELETE FROM checkpoints WHERE seq = ?2 OR ?1 = ''",
      // With a matching checksum, so that the bytes get past the CRC check
      // to the decoders behind it (NodeState, Channels::Restore).
      "UPDATE checkpoints SET state = ?1, state_crc32 = ?3 WHERE seq = ?2",
      "UPDATE checkpoints SET heap = ?1, heap_crc32 = ?3 WHERE seq = ?2",
  };
  constexpr int kCount = sizeof(kUpdates) / sizeof(kUpdates[0]);
  for (int n = 0; n < 8 && !in.empty(); ++n) {
    const uint8_t which = in.Byte();  // bits 0-5: the statement; 6-7: how the value is bound
    const int row = in.Byte() % 4 + 1;  // checkpoints 1-3 exist (outbox rows 2 and 3); 4 does not
    const std::string value = in.Chunk();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, kUpdates[(which & 0x3F) % kCount], -1, &stmt, nullptr) != SQLITE_OK) abort();
    if (which & 0x80) {  // an integer column gets an integer, a text one a number
      int64_t v = 0;
      for (char ch : value.substr(0, 8)) v = (v << 8) | static_cast<uint8_t>(ch);
      sqlite3_bind_int64(stmt, 1, v);
    } else if (which & 0x40) {
      sqlite3_bind_text(stmt, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_blob(stmt, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(stmt, 2, row);
    sqlite3_bind_int64(stmt, 3, Crc(value));  // (SQLITE_RANGE where there is no ?3)
    sqlite3_step(stmt);  // constraint failures are fine: the row stays as it was
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
}

void Load(const std::string& path, CheckpointStore::Mode mode) {
  auto store = CheckpointStore::Open(path, mode);
  if (!store.ok()) return;
  (void)(*store)->List();
  (void)(*store)->Outbox();
  absl::StatusOr<Checkpoint> newest = (*store)->LoadNewest();
  if (!newest.ok()) return;
  // What a node hands V8 is what LoadNewest returned: its heap and state
  // must match the checksums stored with them (computed here with zlib,
  // apart from the store's code), whatever the damage.
  {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT heap_crc32, state_crc32 FROM checkpoints WHERE seq = ?", -1, &stmt, nullptr) ==
          SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, newest->seq);
        if (sqlite3_step(stmt) == SQLITE_ROW &&
            (static_cast<uint32_t>(sqlite3_column_int64(stmt, 0)) != Crc(newest->heap) ||
             static_cast<uint32_t>(sqlite3_column_int64(stmt, 1)) != Crc(newest->state))) {
          abort();  // a heap or state whose CRC did not verify would reach V8
        }
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
  }
  v1::NodeState state;
  if (state.ParseFromString(newest->state)) {
    FakeClock clock;
    Channels channels("b", (*store)->incarnation(), {"a", "c"}, &clock);
    std::vector<v1::Envelope> outbox;
    for (const OutboxRow& row : newest->outbox) {
      v1::Envelope e;
      e.set_dst(row.dst);
      e.set_seq(row.seq);
      e.set_stamp(row.stamp);
      e.set_payload(row.payload);
      outbox.push_back(e);
    }
    channels.Restore(state, &outbox);
    channels.Status();
  }
  if (mode == CheckpointStore::Mode::kReadWrite) {
    Checkpoint next = *newest;
    next.commit_as_seq = 0;
    (void)(*store)->Commit(next, "new heap");
  }
}

}  // namespace
}  // namespace ken::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ken::fuzz::QuietLogs();
  using ken::CheckpointStore;
  ken::fuzz::FuzzInput in(data, size);
  static const std::string path = ken::fuzz::ScratchDir("store") + "/s.ken";
  ken::fuzz::Clean(path);
  if ((in.Byte() & 1) == 0) {
    std::ofstream(path, std::ios::binary) << in.Rest();
  } else {
    ken::fuzz::MakeStore(path);
    ken::fuzz::Damage(path, in);
  }
  ken::fuzz::Load(path, CheckpointStore::Mode::kReadOnly);
  ken::fuzz::Load(path, CheckpointStore::Mode::kReadWrite);
  ken::fuzz::Clean(path);
  return 0;
}
