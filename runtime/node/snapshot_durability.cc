// Snapshot mode (durability.h): every commit is a full V8 snapshot of the
// heap, written with the state and the outbox changes in one transaction.
#include <utility>

#include "runtime/node/durability.h"

namespace ken {
namespace {

class SnapshotDurability final : public Durability {
 public:
  explicit SnapshotDurability(CheckpointStore* store) : store_(store) {}

  std::string Name() const override { return "snapshot"; }
  bool journaled() const override { return false; }

  absl::StatusOr<Recovered> Recover() override {
    absl::StatusOr<Checkpoint> newest = store_->LoadNewest();
    if (!newest.ok()) return newest.status();
    Recovered r;
    r.checkpoint = std::move(*newest);
    return r;
  }

  absl::StatusOr<PersistentIsolate::Blob> Capture(PersistentIsolate& isolate) override {
    // Runs the before-checkpoint hooks (under the watchdog), then CreateBlob.
    absl::StatusOr<std::string> blob = isolate.Snapshot();
    if (!blob.ok()) return blob.status();
    return std::make_shared<const std::string>(std::move(*blob));
  }

  absl::Status Write(Checkpoint& checkpoint, const PersistentIsolate::Blob& heap, const OutboxChanges& outbox,
                     const v1::JournalCommit* commit) override {
    (void)commit;  // a snapshot holds its effects; nothing is replayed
    return store_->Commit(checkpoint, *heap, outbox);
  }

 private:
  CheckpointStore* store_;
};

}  // namespace

std::unique_ptr<Durability> NewSnapshotDurability(CheckpointStore* store) {
  return std::make_unique<SnapshotDurability>(store);
}

}  // namespace ken
