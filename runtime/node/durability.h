// Durability modes behind one interface (README, "Durability modes"). The
// commit path (node.h) is the same in every mode: it runs a batch's turns,
// asks the mode to Capture what the batch did to the heap, hands the commit
// to the mode's Write on the commit thread, and releases the batch's
// outputs only once Write has returned ok.
//
//   snapshot (SnapshotDurability): the heap after a batch is a full V8
//   snapshot of the isolate; Write puts it, the state and the outbox changes
//   in one SQLite transaction (fsync'd). Recovery: the newest valid
//   checkpoint (the heap, the state, the outbox rows). No turn records are
//   kept: nothing is replayed.
//
//   journal (JournalDurability): nothing is taken from the heap (the live
//   isolate, a plain V8 isolate, keeps running at full JIT speed); Write
//   appends the commit's JournalCommit record (its turns' inputs, what they
//   observed, digests of their outputs, the state and outbox changes) to
//   the journal with one fdatasync; the snapshotter (snapshotter.h) replays
//   the records into snapshots in the background; recovery is the newest
//   snapshot plus the replay of the records after it (replay.h).
//
// Threading: Capture on the turn thread; Write on the commit thread, one
// call at a time, in commit order (the commit path serializes them);
// Recover before either, on the turn thread.
#ifndef KEN_RUNTIME_NODE_DURABILITY_H_
#define KEN_RUNTIME_NODE_DURABILITY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/journal.pb.h"
#include "runtime/isolate/persistent_isolate.h"
#include "store/checkpoint_store.h"
#include "store/journal.h"

namespace ken {

class Durability {
 public:
  virtual ~Durability() = default;

  // "snapshot" or "journal".
  virtual std::string Name() const = 0;
  // Whether commits are journal records (the live isolate is never
  // snapshotted by the commit path).
  virtual bool journaled() const = 0;

  // The newest durable state: its checkpoint (heap blob, runtime state,
  // outbox rows, engine, native table, built-ins version) and the journal
  // commits to replay on top of it, in seq order (none in snapshot mode).
  // Errors: the store's (kDataLoss when no checkpoint verifies), the
  // journal's (kDataLoss for damage or missing commits, naming them).
  struct Recovered {
    Checkpoint checkpoint;
    std::vector<std::shared_ptr<const v1::JournalCommit>> commits;
  };
  virtual absl::StatusOr<Recovered> Recover() = 0;

  // Snapshot mode, after a batch's turns ran in `isolate`: what its commit
  // must make durable of the heap, as the blob the node restores from
  // next; it consumes the live isolate. Its errors come from the batch's
  // own effects and would repeat on the same heap, so the caller bisects
  // the batch (PersistentIsolate::Snapshot lists them), except kCancelled
  // (an interrupt). Journal mode: kUnimplemented (never called).
  virtual absl::StatusOr<PersistentIsolate::Blob> Capture(PersistentIsolate& isolate) = 0;

  // Makes one commit durable. Snapshot mode: `checkpoint` (its seq is
  // assigned here) with the heap `heap` and the outbox changes, in one store
  // transaction; `commit` is ignored. Journal mode: `commit` (its seq set
  // by the caller, the previous commit's + 1) appended to the journal; the
  // rest is ignored (the snapshotter writes checkpoints). Returns once it
  // is on disk; on error nothing of it is, and the error may pass
  // (kResourceExhausted: disk full; kInternal: I/O).
  virtual absl::Status Write(Checkpoint& checkpoint, const PersistentIsolate::Blob& heap, const OutboxChanges& outbox,
                             const v1::JournalCommit* commit) = 0;

  // The journal (journal mode), else nullptr.
  virtual Journal* journal() { return nullptr; }
};

// Snapshot mode, over the node's store (not owned; it must outlive this).
std::unique_ptr<Durability> NewSnapshotDurability(CheckpointStore* store);

// Journal mode, over the node's store (not owned) and its journal.
std::unique_ptr<Durability> NewJournalDurability(CheckpointStore* store, std::unique_ptr<Journal> journal);

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_DURABILITY_H_
