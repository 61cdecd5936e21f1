#include "runtime/node/node.h"

#include <chrono>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/crash/crash_point.h"
#include "runtime/isolate/v8_init.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

constexpr int kRetainedDeadLetters = 100;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

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
    v1::NodeState state;
    state.set_node_id(options.node_id);
    initial.state = state.SerializeAsString();
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
  if (!node->state_.ParseFromString(checkpoint->state)) {
    return absl::DataLossError(absl::StrCat("store ", path, ": checkpoint ", checkpoint->seq,
                                            " has unreadable runtime state"));
  }
  if (!options.node_id.empty() && !node->state_.node_id().empty() && node->state_.node_id() != options.node_id) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path, " belongs to node '",
                                                      node->state_.node_id(), "', not '", options.node_id, "'"));
  }
  if (node->store_->skipped_corrupt() > 0) {
    spdlog::error("store {}: {} newer checkpoint(s) were corrupt; restored checkpoint {}", path,
                  node->store_->skipped_corrupt(), checkpoint->seq);
    if (!options.node_id.empty() && !options.read_only) {
      // The lost commits may have sent messages (and acked others) that the
      // restored state does not know about; reusing their sequence numbers
      // would silently mis-sequence the channels. A new incarnation makes
      // every peer refuse this node's channels loudly instead.
      if (absl::Status s = node->store_->Reincarnate(); !s.ok()) return s;
      spdlog::error("store {}: node '{}' fell back to an older checkpoint and takes the new incarnation {}; "
                    "its peers will refuse its channels (see README, Store incarnations)",
                    path, options.node_id, node->store_->incarnation());
    }
  }
  node->seq_ = checkpoint->seq;
  if (!options.node_id.empty()) {
    node->channels_ = std::make_unique<Channels>(options.node_id, node->store_->incarnation(), options.peers,
                                                 &node->clock_, options.channels);
    node->channels_->Restore(node->state_);
  }
  Node* self = node.get();
  options.isolate.node_id = options.node_id;
  options.isolate.peers = options.peers;
  options.isolate.send = [self](const std::string& dst, std::string payload) {
    return self->Send(dst, std::move(payload));
  };
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

absl::Status Node::Send(const std::string& dst, std::string payload) {
  if (channels_ == nullptr) {
    return absl::FailedPreconditionError("ken.send: this node is not part of a cluster (started by ken shell)");
  }
  if (batch_ == nullptr) return absl::FailedPreconditionError("ken.send: called outside a turn");
  std::string error;
  if (!channels_->Stage(*batch_, dst, std::move(payload), &error)) return absl::InvalidArgumentError(error);
  return absl::OkStatus();
}

BatchResult Node::RunBatch(const std::vector<TurnInput>& inputs, const PersistentIsolate::TurnBody* observe) {
  const auto batch_start = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  BatchResult out;
  out.results.resize(inputs.size());
  std::vector<bool> failed(inputs.size(), false);
  std::vector<bool> fallback_failed(inputs.size(), false);
  bool observe_failed = false;
  while (true) {
    ChannelBatch batch = channels_ ? channels_->BeginBatch() : ChannelBatch();
    batch_ = &batch;
    bool any_ok = false, rerun = false, any_delivery = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].delivered_src && channels_) {
        channels_->MarkDelivered(batch, *inputs[i].delivered_src, inputs[i].delivered_seq);
        any_delivery = true;
      }
      if (failed[i]) {
        // The failed input's fallback (if any) takes its place.
        if (!inputs[i].on_failure || fallback_failed[i]) continue;
        TurnResult fallback = isolate_->RunTurn(inputs[i].on_failure, TurnMode::kKeep);
        if (fallback.ok()) {
          any_ok = true;
          continue;
        }
        spdlog::error("fallback of {} failed: {}", inputs[i].description, fallback.error);
        fallback_failed[i] = true;
        if (any_ok) {
          rerun = true;
          break;
        }
        continue;
      }
      out.results[i] = isolate_->RunTurn(inputs[i].body, TurnMode::kKeep);
      if (out.results[i].ok()) {
        any_ok = true;
        continue;
      }
      failed[i] = true;
      if (any_ok || inputs[i].on_failure) {  // the dropped isolate held earlier turns of this batch
        rerun = true;
        break;
      }
    }
    batch_ = nullptr;
    if (rerun) continue;
    if (observe != nullptr && any_ok && !observe_failed) {
      TurnResult r = isolate_->RunTurn(*observe, TurnMode::kKeep);
      if (r.ok()) {
        out.observed = r.output;
      } else {
        spdlog::error("observing the heap after a batch failed: {}", r.error);
        observe_failed = true;
        continue;  // the isolate is gone; run the batch again without observing
      }
    }
    if (!any_ok && !any_delivery) {  // nothing to commit
      program_loaded_pending_ = false;
      return out;
    }

    v1::NodeState next = state_;
    uint64_t ok_turns = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!failed[i]) {
        ++ok_turns;
        continue;
      }
      spdlog::error("dead letter: {}: {}", inputs[i].description, out.results[i].error);
      v1::DeadLetter* d = next.add_dead_letters();
      d->set_input(inputs[i].description);
      d->set_error(out.results[i].error);
      d->set_unix_ms(NowUnixMs());
      next.set_dead_letter_count(next.dead_letter_count() + 1);
    }
    if (next.dead_letters_size() > kRetainedDeadLetters) {
      next.mutable_dead_letters()->DeleteSubrange(0, next.dead_letters_size() - kRetainedDeadLetters);
    }
    next.set_turns(next.turns() + ok_turns);
    if (program_loaded_pending_ && any_ok) next.set_program_loaded(true);
    if (channels_) channels_->Snapshot(&batch, &next);

    auto fail = [&](const absl::Status& s) {
      out.commit = s;
      if (channels_) channels_->AbortBatch(batch);
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (failed[i]) continue;
        out.results[i].status = TurnStatus::kHostError;
        out.results[i].error = absl::StrCat("turn aborted: commit failed: ", s.message());
        out.results[i].output.clear();
      }
      spdlog::error("{}", std::string(s.message()));
      return out;
    };
    Checkpoint checkpoint;
    checkpoint.engine = V8Version();
    const double turns_ms = ms_since(batch_start);
    const auto snapshot_start = std::chrono::steady_clock::now();
    // The new heap goes straight into the isolate host (no copy); without a
    // successful turn only the state changed (dead letters) and the current
    // heap is written again.
    std::string previous;
    if (any_ok) {
      absl::StatusOr<std::string> heap = isolate_->Snapshot();
      if (!heap.ok()) return fail(heap.status());
      previous = isolate_->SwapBlob(std::move(*heap));
    }
    const std::string& heap = isolate_->blob();
    checkpoint.state = next.SerializeAsString();
    const double snapshot_ms = ms_since(snapshot_start);
    const auto commit_start = std::chrono::steady_clock::now();
    CrashPoint("before_commit");
    // The store commit (write + fsync) runs on another thread while this one
    // restores the next isolate from the new heap (both only read it); if the
    // commit fails, the previous heap comes back. Nothing is released before
    // the commit.
    std::future<absl::Status> committed =
        std::async(std::launch::async, [this, &checkpoint, &heap] { return store_->Commit(checkpoint, heap); });
    if (any_ok) (void)isolate_->Prepare();
    if (absl::Status s = committed.get(); !s.ok()) {
      if (any_ok) isolate_->SwapBlob(std::move(previous));
      return fail(s);
    }
    spdlog::debug("batch of {} turns: turns {:.2f} ms, snapshot {:.2f} ms ({} bytes), commit {:.2f} ms", inputs.size(),
                  turns_ms, snapshot_ms, heap.size(), ms_since(commit_start));
    seq_ = checkpoint.seq;
    state_ = std::move(next);
    program_loaded_pending_ = false;
    if (!batch.sends().empty()) CrashPoint("after_send_commit");
    if (!batch.delivered().empty()) CrashPoint("after_deliver_commit");
    if (channels_) channels_->CommitBatch(batch);
    return out;
  }
}

TurnResult Node::Turn(const PersistentIsolate::TurnBody& body) {
  TurnInput input;
  input.description = "shell input";
  input.body = body;
  BatchResult batch = RunBatch({input});
  return batch.results[0];
}

TurnResult Node::Evaluate(const PersistentIsolate::TurnBody& body) {
  return isolate_->RunTurn(body, TurnMode::kDiscard);
}

}  // namespace ken
