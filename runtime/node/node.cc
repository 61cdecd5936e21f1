#include "runtime/node/node.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/isolate/v8_init.h"
#include "spdlog/spdlog.h"

namespace ken {

absl::StatusOr<std::unique_ptr<Node>> Node::Open(NodeOptions options) {
  std::unique_ptr<Node> node(new Node());
  const std::string& path = options.store_path;
  auto mode = options.read_only ? CheckpointStore::Mode::kReadOnly : CheckpointStore::Mode::kReadWrite;
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store = CheckpointStore::Open(path, mode);
  if (absl::IsNotFound(store.status()) && !options.read_only && options.create_if_missing) {
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<PersistentIsolate>> fresh = PersistentIsolate::CreateNew(options.isolate);
    if (!fresh.ok()) return fresh.status();
    Checkpoint initial;
    initial.engine = V8Version();
    initial.heap = (*fresh)->blob();
    store = CheckpointStore::Create(path, std::move(initial));
    if (!store.ok()) return store.status();
    spdlog::info("store {}: created (incarnation {}) in {} ms", path, (*store)->incarnation(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    node->created_ = true;
  }
  if (!store.ok()) return store.status();
  node->store_ = std::move(*store);
  absl::StatusOr<Checkpoint> checkpoint = node->store_->LoadNewest();
  if (!checkpoint.ok()) return checkpoint.status();
  if (checkpoint->engine != V8Version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", path, ": checkpoint ", checkpoint->seq, " was written by V8 ",
                     checkpoint->engine, "; this ken runs V8 ", V8Version()));
  }
  if (node->store_->skipped_corrupt() > 0) {
    spdlog::error("store {}: {} newer checkpoint(s) were corrupt; restored checkpoint {}", path,
                  node->store_->skipped_corrupt(), checkpoint->seq);
  }
  node->seq_ = checkpoint->seq;
  node->isolate_ = PersistentIsolate::FromBlob(std::move(checkpoint->heap), std::move(options.isolate));
  // Restore now, so a heap V8 rejects is reported at start, not at a turn.
  absl::StatusOr<size_t> heap = node->isolate_->UsedHeapBytes();
  if (!heap.ok()) {
    return absl::DataLossError(absl::StrCat("store ", path, ": checkpoint ", node->seq_,
                                            " cannot be restored: ", heap.status().message()));
  }
  spdlog::info("store {}: restored checkpoint {} ({} bytes of heap)", path, node->seq_, *heap);
  return node;
}

TurnResult Node::Turn(const PersistentIsolate::TurnBody& body) {
  TurnResult result = isolate_->RunTurn(body, TurnMode::kCheckpoint);
  if (!result.ok()) return result;
  Checkpoint checkpoint;
  checkpoint.engine = V8Version();
  checkpoint.heap = std::move(result.blob);
  absl::Status committed = store_->Commit(checkpoint);
  if (!committed.ok()) {
    spdlog::error("{}", std::string(committed.message()));
    result.status = TurnStatus::kHostError;
    result.error = absl::StrCat("turn aborted: commit failed: ", committed.message());
    result.output.clear();
    return result;
  }
  seq_ = checkpoint.seq;
  isolate_->Accept(std::move(checkpoint.heap));
  return result;
}

TurnResult Node::Evaluate(const PersistentIsolate::TurnBody& body) {
  return isolate_->RunTurn(body, TurnMode::kDiscard);
}

}  // namespace ken
