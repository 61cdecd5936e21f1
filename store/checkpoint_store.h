// The checkpoint store: where a node's checkpoints and outbox live (see
// FORMAT.md, format `ken-store-2`).
//
// A checkpoint is the durable image of a node as of one commit: the V8 heap
// snapshot blob, the runtime state beside it (ken.v1.NodeState: channels,
// timers, dead letters), and what the heap needs to be restored (exact engine
// build, native-table fingerprint, built-ins version). The outbox (envelopes
// sent and not yet acknowledged) is not in the checkpoint: it is a table of
// rows that each commit changes incrementally (the envelopes the batch sent
// are added, the ones acknowledged since the last commit deleted), so a
// commit costs the same however many envelopes are unacked.
//
// Each commit is a single SQLite transaction (WAL journal, synchronous=FULL,
// so it is fsync'd before Commit returns): the new checkpoint, the outbox
// changes, and dropping checkpoints older than the newest
// `kRetainedCheckpoints`. Every blob and every outbox row carries a CRC-32
// (zlib); loading walks from the newest checkpoint down to the first whose
// checksums verify, so a torn or corrupted newest checkpoint falls back to the
// previous one instead of losing the node.
//
// A store is never silently re-initialized: an existing path that does not hold
// at least one valid checkpoint is refused (kDataLoss). One writer per store is
// enforced by StoreLock (store_lock.h); read-only opens take no lock and never
// write, so `ken inspect` can read while a node runs (SQLite WAL readers).
//
// Stores of format 1 (`ken-checkpoint-store-1`, whose outbox is inside each
// checkpoint's state) are migrated in place, in one transaction, by the first
// read-write Open; a read-only Open reads them as they are and returns the
// same Checkpoint (outbox rows included) as a migrated store would, except
// that `state` still holds the envelopes (see LoadNewest).
//
// Thread safety: every method may be called from any thread; they take turns
// on an internal mutex (journal mode's snapshotter writes checkpoints from a
// thread of its own while the node's turn thread sets meta keys).
#ifndef KEN_STORE_CHECKPOINT_STORE_H_
#define KEN_STORE_CHECKPOINT_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store_lock.h"

struct sqlite3;

namespace ken {

// How many checkpoints a store keeps (the newest and its fallbacks).
inline constexpr int kRetainedCheckpoints = 3;

// The store formats this code reads (ken_meta key `format`); it writes kStoreFormat.
inline constexpr char kStoreFormat[] = "ken-store-2";
inline constexpr char kStoreFormat1[] = "ken-checkpoint-store-1";

// One unacknowledged envelope in the outbox: the `seq`th envelope this node
// sent to node `dst`.
struct OutboxRow {
  std::string dst;
  uint64_t seq = 0;
  uint64_t stamp = 0;  // lineage stamp (ken.proto Envelope.stamp); 0 in stores from before stamps
  std::string payload;
  bool operator==(const OutboxRow& o) const {
    return dst == o.dst && seq == o.seq && stamp == o.stamp && payload == o.payload;
  }
};

// What one commit does to the outbox. `added` rows are inserted first, then
// for each (dst, n) of `acked_through` every row of `dst` with seq <= n is
// deleted (so a row added and acked by the same commit is not kept). Rows are
// never updated: an added (dst, seq) that is already in the outbox fails the
// commit (kAlreadyExists: sequence numbers re-used).
struct OutboxChanges {
  std::vector<OutboxRow> added;                                 // envelopes sent by the batch
  std::vector<std::pair<std::string, uint64_t>> acked_through;  // dst -> every seq <= this is acked
  // An added row that is already there replaces it instead of failing the
  // commit (a journal-mode snapshot applies many commits' changes, some of
  // which a fallback to an older snapshot may have applied already).
  bool replace_existing = false;
  bool empty() const { return added.empty() && acked_through.empty(); }
};

struct Checkpoint {
  int64_t seq = 0;              // assigned by Commit: the newest + 1, or commit_as_seq
  // Commit only: when set, the seq to give the checkpoint (greater than the
  // newest). Journal mode numbers its commits itself: a snapshot takes the
  // seq of the last journal commit it holds.
  int64_t commit_as_seq = 0;
  int64_t created_unix_ms = 0;  // wall-clock time of the commit, ms since epoch
  // Exact build of the engine that wrote `heap` (V8 snapshots are tied to
  // it), e.g. "v8 10.2.154.26-node.36; libnode108 18.20.4+dfsg-1~deb12u3".
  // Stores written before format 2 hold the bare V8 version ("10.2.154.26-node.26").
  std::string engine;
  std::string heap;             // V8 snapshot blob (bytes)
  std::string state;            // ken.v1.NodeState (bytes); opaque to the store except in migration
  std::string natives;          // native-table fingerprint ('<count>:<crc>'); '' = table version 1
  int builtins_version = 0;     // version of Ken's built-in scripts in `heap`; 0 = unknown
  // LoadNewest: every row of the outbox, in (dst, seq) order. Commit and
  // Create ignore it, except that Create writes `initial.outbox`.
  std::vector<OutboxRow> outbox;
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

  // Opens an existing store. kReadWrite takes the store lock (see Create)
  // and migrates a format-1 store to format 2 in place, in one transaction
  // (logged at info; on failure the store is left at format 1 and the error
  // says so); kReadOnly takes no lock and never writes to the file. In a
  // folder it cannot write (read-only media), kReadOnly opens the file
  // SQLite-`immutable` when no -wal with commits is beside it (no -shm is
  // made), else through the -shm already there.
  // Errors: kNotFound if `path` does not exist; kDataLoss "is not a Ken
  // store (...)" if it is something else (not SQLite, empty, no ken_meta,
  // unknown format), "is corrupt (SQLite: ...)" if its SQLite pages are
  // damaged (truncated, overwritten); kFailedPrecondition for a newer format
  // ("store X has format 'ken-store-3', newer than this ken understands
  // (ken-store-2): use a newer ken") and, read-only, for a -wal with commits
  // and no -shm in a folder that cannot be written ("cannot be read in
  // place ..."); lock errors as Create. A refused kReadWrite open leaves no
  // `.lock` it created (store_lock.h).
  // Open does not read checkpoints: LoadNewest reports their validity.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(
      const std::string& path, Mode mode);

  ~CheckpointStore();
  CheckpointStore(const CheckpointStore&) = delete;
  CheckpointStore& operator=(const CheckpointStore&) = delete;

  // Returns the newest checkpoint whose checksums verify, with every outbox
  // row (Checkpoint::outbox, in (dst, seq) order), read in one snapshot.
  // Corrupt newer checkpoints are logged (warning, with seq and reason) and
  // counted in `skipped_corrupt()`. kDataLoss when no checkpoint verifies, or
  // when an outbox row's checksum does not verify (the message names the
  // row: an envelope cannot be skipped without leaving its receiver a gap).
  // The outbox is the newest commit's: after a fallback to an older
  // checkpoint it may hold rows that the lost commits added (seq at or past
  // that checkpoint's state's next_seq for their dst) and miss rows they
  // deleted (acked); a fallback takes a new incarnation, so those are held,
  // never resent.
  // A format-1 store opened read-only: `state` is as stored (its
  // out[].unacked still there), `outbox` is built from those envelopes.
  absl::StatusOr<Checkpoint> LoadNewest();

  // Appends `checkpoint` (seq assigned here and written back: the newest + 1,
  // or commit_as_seq, which must be greater than the newest, else
  // kInvalidArgument), applies
  // `changes` to the outbox and drops checkpoints older than the
  // kRetainedCheckpoints newest, in one durable transaction. The heap blob is
  // `heap` (checkpoint.heap and checkpoint.outbox are ignored), so a caller
  // that keeps the blob elsewhere need not copy it; `heap` must stay valid and
  // unchanged until Commit returns. The cost is that of the checkpoint row
  // plus O(log n) per added or deleted row: it does not grow with the rows
  // already in the outbox.
  // Errors: kFailedPrecondition on a read-only store; kAlreadyExists when an
  // added (dst, seq) is already in the outbox; kOutOfRange for a value over
  // SQLite's limit; kResourceExhausted when the disk is full; kInternal for
  // other SQLite errors. On error nothing of the commit is written: the store
  // still holds the previous checkpoints and outbox intact.
  absl::Status Commit(Checkpoint& checkpoint, std::string_view heap, const OutboxChanges& changes);
  // The same with no outbox changes.
  absl::Status Commit(Checkpoint& checkpoint, std::string_view heap);
  absl::Status Commit(Checkpoint& checkpoint);  // heap = checkpoint.heap

  // Every outbox row, in (dst, seq) order, checksums verified (a corrupt
  // row is kDataLoss naming it). On a format-1 store (read-only), the
  // unacked envelopes of the newest valid checkpoint's state.
  absl::StatusOr<std::vector<OutboxRow>> Outbox();

  // Bytes the store at `path` takes on disk: the file plus its WAL (0 for
  // files that do not exist). Any thread; no lock, no SQLite.
  static int64_t DiskBytes(const std::string& path);

  // All retained checkpoints, newest first, with checksum verdicts.
  absl::StatusOr<std::vector<CheckpointInfo>> List();
  // The seqs of the retained checkpoints, oldest first (reads no blob).
  absl::StatusOr<std::vector<int64_t>> CheckpointSeqs();

  const std::string& path() const { return path_; }
  // Random id given to the store when it was created (hex, 32 chars).
  const std::string& incarnation() const { return incarnation_; }
  // The store's format as opened: kStoreFormat, or kStoreFormat1 for a
  // format-1 store opened read-only (a read-write open migrates it).
  const std::string& format() const { return format_; }

  // Sets ken_meta `key` to `value`, durably, in one transaction (e.g.
  // "node_id"). Keys the store manages itself (format, incarnation,
  // created_unix_ms, fallback_handled_through) are kInvalidArgument.
  // Errors otherwise as Commit.
  absl::Status SetMeta(const std::string& key, const std::string& value);
  // ken_meta `key` as of Open (or the last SetMeta); nullopt when unset.
  std::optional<std::string> GetMeta(const std::string& key) const;

  // Gives the store a new random incarnation (durably). Used when the node
  // fell back to an older checkpoint or found that its store went back in
  // time: peers may hold messages from the lost commits, so they must see a
  // different store, not silently mis-sequenced channels. Also records, in
  // the same transaction, that the corrupt checkpoints the last LoadNewest
  // skipped are answered for (see unanswered_fallback()). Errors as Commit.
  absl::Status Reincarnate();
  int skipped_corrupt() const { return skipped_corrupt_; }

  // Test only: called at each step of a format-1 migration ("begin",
  // "schema", "outbox", "states", "format", "commit"); a non-OK status aborts
  // the migration there (rolled back: the store stays format 1). Pass {} to
  // clear. Not thread safe.
  static void SetMigrationHookForTesting(std::function<absl::Status(std::string_view step)> hook);
  // True when the last LoadNewest skipped corrupt checkpoints newer than any
  // a Reincarnate() has answered for: the store fell back, and no new
  // incarnation was taken for that fallback yet.
  bool unanswered_fallback() const { return newest_corrupt_seq_ > fallback_handled_through_; }

 private:
  CheckpointStore(std::string path, sqlite3* db, StoreLock lock);
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> OpenLocked(const std::string& path,
                                                                     Mode mode, StoreLock lock);
  absl::Status ReadMeta();
  // kDataLoss "store S is corrupt (SQLite: <its message>); restore it from a
  // copy", for SQLite's last error on this store.
  absl::Status Corrupt() const;
  // PRAGMA quick_check; kDataLoss naming what it found.
  absl::Status QuickCheck();
  absl::Status MigrateFromFormat1();
  absl::StatusOr<std::vector<OutboxRow>> ReadOutbox();
  bool format1() const { return format_ == kStoreFormat1; }

  mutable std::recursive_mutex mu_;  // every public method holds it
  std::string path_;
  sqlite3* db_;  // owned
  StoreLock lock_;
  std::string incarnation_;
  std::string format_;
  std::map<std::string, std::string> meta_;
  int64_t last_seq_ = 0;
  int skipped_corrupt_ = 0;
  int64_t newest_corrupt_seq_ = 0;        // by the last LoadNewest
  int64_t fallback_handled_through_ = 0;  // ken_meta key fallback_handled_through
};

}  // namespace ken

#endif  // KEN_STORE_CHECKPOINT_STORE_H_
