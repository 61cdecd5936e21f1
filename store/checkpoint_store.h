// The checkpoint store: where a node's checkpoints live (see FORMAT.md).
//
// A checkpoint is the durable image of a node as of one commit: the V8 heap
// snapshot blob plus opaque runtime state (channels, timers). Each commit
// appends one checkpoint in a single SQLite transaction (WAL journal,
// synchronous=FULL, so the transaction is fsync'd before Commit returns) and
// drops checkpoints older than the newest `kRetainedCheckpoints`. Every blob
// carries a CRC-32 (zlib); loading walks from the newest checkpoint down to the
// first whose checksums verify, so a torn or corrupted newest checkpoint falls
// back to the previous one instead of losing the node.
//
// A store is never silently re-initialized: an existing path that does not hold
// at least one valid checkpoint is refused (kDataLoss). One writer per store is
// enforced by StoreLock (store_lock.h); read-only opens take no lock and never
// write, so `ken inspect` can read while a node runs (SQLite WAL readers).
//
// Thread safety: a CheckpointStore is used by one thread at a time.
#ifndef KEN_STORE_CHECKPOINT_STORE_H_
#define KEN_STORE_CHECKPOINT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store_lock.h"

struct sqlite3;

namespace ken {

// How many checkpoints a store keeps (the newest and its fallbacks).
inline constexpr int kRetainedCheckpoints = 3;

struct Checkpoint {
  int64_t seq = 0;              // assigned by Commit: 1, 2, 3, ... per store
  int64_t created_unix_ms = 0;  // wall-clock time of the commit, ms since epoch
  std::string engine;           // V8 version that wrote `heap`
  std::string heap;             // V8 snapshot blob (bytes)
  std::string state;            // runtime state (bytes), opaque to the store
};

struct CheckpointInfo {
  int64_t seq = 0;
  int64_t created_unix_ms = 0;
  int64_t heap_bytes = 0;
  bool valid = false;  // both checksums verify
};

class CheckpointStore {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Creates a new store at `path` whose first checkpoint is `initial` (its seq
  // becomes 1). The file is built under a temporary name and renamed into
  // place, so a crash during creation never leaves a half-made store at
  // `path`. Takes the store lock and keeps it for the returned store's life.
  // Errors: kAlreadyExists if `path` exists, kFailedPrecondition if another
  // process holds the lock (message names its pid), kPermissionDenied /
  // kInternal for file-system and SQLite failures (message names the path).
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Create(
      const std::string& path, Checkpoint initial);

  // Opens an existing store. kReadWrite takes the store lock (see Create);
  // kReadOnly takes no lock and never writes to the file.
  // Errors: kNotFound if `path` does not exist; kDataLoss if it is not a Ken
  // store (not SQLite, empty, truncated, wrong schema); lock errors as Create.
  // Open does not read checkpoints: LoadNewest reports their validity.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(
      const std::string& path, Mode mode);

  ~CheckpointStore();
  CheckpointStore(const CheckpointStore&) = delete;
  CheckpointStore& operator=(const CheckpointStore&) = delete;

  // Returns the newest checkpoint whose checksums verify. Corrupt newer ones
  // are logged (warning, with seq and reason) and counted in
  // `skipped_corrupt()`. kDataLoss when no checkpoint verifies.
  absl::StatusOr<Checkpoint> LoadNewest();

  // Appends `checkpoint` (seq assigned here and written back) and drops
  // checkpoints older than the kRetainedCheckpoints newest, in one durable
  // transaction. Errors: kFailedPrecondition on a read-only store;
  // kResourceExhausted when the disk is full; kInternal for other SQLite
  // errors. On error the store still holds the previous checkpoints intact.
  absl::Status Commit(Checkpoint& checkpoint);
  // The same, with the heap blob given as `heap` (checkpoint.heap ignored),
  // so a caller that keeps the blob elsewhere need not copy it. `heap` must
  // stay valid and unchanged until Commit returns.
  absl::Status Commit(Checkpoint& checkpoint, std::string_view heap);

  // Bytes the store at `path` takes on disk: the file plus its WAL (0 for
  // files that do not exist). Any thread; no lock, no SQLite.
  static int64_t DiskBytes(const std::string& path);

  // All retained checkpoints, newest first, with checksum verdicts.
  absl::StatusOr<std::vector<CheckpointInfo>> List();

  const std::string& path() const { return path_; }
  // Random id given to the store when it was created (hex, 32 chars).
  const std::string& incarnation() const { return incarnation_; }

  // Gives the store a new random incarnation (durably). Used when the node
  // fell back to an older checkpoint or found that its store went back in
  // time: peers may hold messages from the lost commits, so they must see a
  // different store, not silently mis-sequenced channels. Also records, in
  // the same transaction, that the corrupt checkpoints the last LoadNewest
  // skipped are answered for (see unanswered_fallback()). Errors as Commit.
  absl::Status Reincarnate();
  int skipped_corrupt() const { return skipped_corrupt_; }
  // True when the last LoadNewest skipped corrupt checkpoints newer than any
  // a Reincarnate() has answered for: the store fell back, and no new
  // incarnation was taken for that fallback yet.
  bool unanswered_fallback() const { return newest_corrupt_seq_ > fallback_handled_through_; }

 private:
  CheckpointStore(std::string path, sqlite3* db, StoreLock lock);
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenLocked(const std::string& path,
                                                                     Mode mode, StoreLock lock);
  absl::Status ReadMeta();

  std::string path_;
  sqlite3* db_;  // owned
  StoreLock lock_;
  std::string incarnation_;
  int64_t last_seq_ = 0;
  int skipped_corrupt_ = 0;
  int64_t newest_corrupt_seq_ = 0;        // by the last LoadNewest
  int64_t fallback_handled_through_ = 0;  // ken_meta key fallback_handled_through
};

}  // namespace ken

#endif  // KEN_STORE_CHECKPOINT_STORE_H_
