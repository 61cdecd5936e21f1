// Durability modes behind one interface (DESIGN.md, turn semantics 6). The
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
//   journal (a later mode): Capture takes nothing from the heap (the live
//   isolate keeps running, at full JIT speed); Write appends the batch's
//   turn records with one fdatasync; a background snapshotter replays them
//   into snapshots; recovery is the newest snapshot plus the replay of the
//   records after it.
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
#include "proto/turn.pb.h"
#include "runtime/isolate/persistent_isolate.h"
#include "store/checkpoint_store.h"

namespace ken {

class Durability {
 public:
  virtual ~Durability() = default;

  // "snapshot" or "journal".
  virtual std::string Name() const = 0;

  // The newest durable state: its checkpoint (heap blob, runtime state,
  // outbox rows, engine, native table, built-ins version) and the turn
  // records to replay on top of it (none in snapshot mode). Errors: the
  // store's (kDataLoss when no checkpoint verifies).
  struct Recovered {
    Checkpoint checkpoint;
    std::vector<v1::TurnInput> replay;
  };
  virtual absl::StatusOr<Recovered> Recover() = 0;

  // After a batch's turns ran in `isolate`: what its commit must make
  // durable of the heap, as the blob the node restores from next. May
  // consume the live isolate (snapshot mode does). Its errors come from
  // the batch's own effects and would repeat on the same heap, so the
  // caller bisects the batch (PersistentIsolate::Snapshot lists them),
  // except kCancelled (an interrupt).
  virtual absl::StatusOr<PersistentIsolate::Blob> Capture(PersistentIsolate& isolate) = 0;

  // Makes one commit durable: `checkpoint` (its seq is assigned here), the
  // heap `heap`, the outbox changes, and the batch's turn records `turns`
  // (kept in journal mode). Returns once all of it is on disk; on error
  // nothing of it is, and the error may pass (kResourceExhausted: disk
  // full; kInternal: I/O).
  virtual absl::Status Write(Checkpoint& checkpoint, const PersistentIsolate::Blob& heap, const OutboxChanges& outbox,
                             const std::vector<v1::TurnInput>& turns) = 0;
};

// Snapshot mode, over the node's store (not owned; it must outlive this).
std::unique_ptr<Durability> NewSnapshotDurability(CheckpointStore* store);

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_DURABILITY_H_
