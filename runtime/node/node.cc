#include "runtime/node/node.h"

#include <chrono>
#include <algorithm>
#include <future>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "js_api/natives.h"
#include "base/crash_point.h"
#include "runtime/isolate/turn_clock.h"
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
  if (options.node_id.empty() && !options.read_only && !node->state_.node_id().empty()) {
    // The shell would fire the node's timers and commit turns that its
    // peers and its outbox know nothing about.
    return absl::FailedPreconditionError(
        absl::StrCat("store ", path, " belongs to cluster node '", node->state_.node_id(),
                     "'; run it with `ken run --cluster FILE --id ", node->state_.node_id(),
                     "`, or read it with `ken inspect --store ", path, "`"));
  }
  const bool fell_back = node->store_->skipped_corrupt() > 0;
  if (fell_back) {
    spdlog::error("store {}: {} newer checkpoint(s) were corrupt; restored checkpoint {}", path,
                  node->store_->skipped_corrupt(), checkpoint->seq);
  }
  if (!options.node_id.empty() && node->state_.node_id().empty()) {
    node->state_.set_node_id(options.node_id);  // e.g. a store made by an earlier ken; kept at the next commit
  }
  node->seq_ = checkpoint->seq;
  node->max_checkpoint_bytes_ = options.max_checkpoint_bytes;
  node->before_store_commit_ = options.before_store_commit;
  if (options.channels.max_total_unacked_bytes == 0) {
    // The outbox is part of every checkpoint: keep room for the heap.
    options.channels.max_total_unacked_bytes = static_cast<size_t>(options.max_checkpoint_bytes / 2);
  }
  if (!options.node_id.empty()) {
    // This open's lineage stamp, fixed on every envelope it commits.
    std::random_device rd;
    uint64_t stamp = 0;
    while (stamp == 0) stamp = (static_cast<uint64_t>(rd()) << 32) | rd();
    node->channels_ = std::make_unique<Channels>(options.node_id, node->store_->incarnation(), options.peers,
                                                 &node->clock_, options.channels, stamp);
    node->channels_->Restore(node->state_);
    if (fell_back && !options.read_only && node->store_->unanswered_fallback()) {
      // The lost commits may have sent messages (and acked others) that the
      // restored state does not know about; reusing their sequence numbers
      // would silently mis-sequence the channels.
      node->channels_->WentBack(absl::StrCat("it fell back to checkpoint ", checkpoint->seq,
                                             " because newer ones are corrupt"));
    }
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
  if (!options.read_only) {
    // A going back found before a crash (kept in the state), or the fallback
    // above: the new incarnation is taken now, before any turn.
    if (absl::StatusOr<bool> re = node->ReincarnateIfWentBack(); !re.ok()) return re.status();
    node->UpgradeBuiltinsIfOlder();
  }
  return node;
}

void Node::UpgradeBuiltinsIfOlder() {
  int version = kBuiltinsVersion;
  (void)isolate_->RunTurn(
      [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
        version = BuiltinsVersion(scope.isolate, scope.context, scope.internals);
        return std::string();
      },
      TurnMode::kDiscard);
  if (version >= kBuiltinsVersion) return;
  if (version < 2) {
    spdlog::warn("store {}: its heap has the built-ins of Ken's first release (version {}), which cannot be "
                 "upgraded in place; it keeps working with them (see README, Built-ins upgrades)",
                 store_->path(), version);
    return;
  }
  TurnInput upgrade;
  upgrade.description = absl::StrCat("built-ins upgrade from version ", version, " to ", kBuiltinsVersion);
  upgrade.body = [version](const TurnScope& scope) -> absl::StatusOr<std::string> {
    if (!UpgradeBuiltins(scope.isolate, scope.context, scope.internals, version)) return absl::AbortedError("threw");
    return std::string();
  };
  BatchResult r = RunBatch({upgrade});
  if (r.results[0].ok()) {
    spdlog::info("store {}: {}", store_->path(), upgrade.description);
  } else {
    spdlog::error("store {}: {} failed; the heap keeps its built-ins: {}", store_->path(), upgrade.description,
                  r.results[0].error);
  }
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

namespace {

// Whether a commit-time failure comes from the batch's own effects, so that
// it would happen again on the same heap (see node.h, "Poison inputs").
struct CommitFailure {
  absl::Status status;
  bool repeats = false;
};

std::string Mb(int64_t bytes) { return absl::StrCat(bytes, " bytes (", bytes >> 20, " MiB)"); }

}  // namespace

BatchResult Node::RunBatch(const std::vector<TurnInput>& inputs, const PersistentIsolate::TurnBody* observe) {
  BatchResult out;
  out.results.resize(inputs.size());
  for (TurnResult& r : out.results) {
    r.status = TurnStatus::kCommitFailed;
    r.error = "turn not run: an earlier commit of its batch failed";
  }
  run_failed_.assign(inputs.size(), false);
  run_fallback_failed_.assign(inputs.size(), false);
  // Each turn's clock is fixed once, for every re-run of it.
  const int64_t now = SystemClockMs();
  run_clock_.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) run_clock_[i] = inputs[i].clock_ms > 0 ? inputs[i].clock_ms : now;
  run_observe_failed_ = false;
  run_committed_checked_ = false;
  blamed_ = -1;
  std::vector<size_t> all(inputs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  out.commit = RunGroup(inputs, all, observe, &out);
  program_loaded_pending_ = false;
  return out;
}

absl::Status Node::RunGroup(const std::vector<TurnInput>& inputs, const std::vector<size_t>& idx,
                            const PersistentIsolate::TurnBody* observe, BatchResult* out) {
  const auto batch_start = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  std::vector<bool>& failed = run_failed_;
  std::vector<bool>& fallback_failed = run_fallback_failed_;
  while (true) {
    ChannelBatch batch = channels_ ? channels_->BeginBatch() : ChannelBatch();
    batch_ = &batch;
    bool any_ok = false, rerun = false, any_delivery = false;
    for (size_t i : idx) {
      if (inputs[i].delivered_src && channels_) {
        channels_->MarkDelivered(batch, *inputs[i].delivered_src, inputs[i].delivered_seq);
        any_delivery = true;
      }
      // Every turn's sends can be undone on its own: an aborted turn leaves
      // no send and consumes no sequence number, whatever shares its batch.
      const ChannelBatch::Mark mark = batch.MakeMark();
      if (failed[i]) {
        // The failed input's fallback (if any) takes its place.
        if (!inputs[i].on_failure || fallback_failed[i]) continue;
        TurnResult fallback = isolate_->RunTurn(inputs[i].on_failure, TurnMode::kKeep, run_clock_[i]);
        if (fallback.ok()) {
          any_ok = true;
          continue;
        }
        batch.RollbackTo(mark);
        spdlog::error("fallback of {} failed: {}", inputs[i].description, fallback.error);
        fallback_failed[i] = true;
        if (any_ok) {
          rerun = true;
          break;
        }
        continue;
      }
      out->results[i] = isolate_->RunTurn(inputs[i].body, TurnMode::kKeep, run_clock_[i]);
      if (out->results[i].ok()) {
        any_ok = true;
        continue;
      }
      batch.RollbackTo(mark);
      failed[i] = true;
      if (any_ok || inputs[i].on_failure) {  // the dropped isolate held earlier turns of this batch
        rerun = true;
        break;
      }
    }
    batch_ = nullptr;
    if (rerun) continue;
    std::optional<std::string> observed;
    if (observe != nullptr && any_ok && !run_observe_failed_) {
      TurnResult r = isolate_->RunTurn(*observe, TurnMode::kKeep, idx.empty() ? -1 : run_clock_[idx.back()]);
      if (r.ok()) {
        observed = r.output;
      } else {
        spdlog::error("observing the heap after a batch failed: {}", r.error);
        run_observe_failed_ = true;
        continue;  // the isolate is gone; run the batch again without observing
      }
    }
    bool any_dead_letter = false;
    for (size_t i : idx) any_dead_letter = any_dead_letter || (failed[i] && inputs[i].dead_letter);
    if (!any_ok && !any_delivery && !any_dead_letter) return absl::OkStatus();  // nothing to commit

    v1::NodeState next = state_;
    uint64_t ok_turns = 0;
    for (size_t i : idx) {
      if (!failed[i]) {
        ++ok_turns;
        continue;
      }
      if (!inputs[i].dead_letter) continue;
      spdlog::error("dead letter: {}: {}", inputs[i].description, out->results[i].error);
      v1::DeadLetter* d = next.add_dead_letters();
      d->set_input(inputs[i].description);
      d->set_error(out->results[i].error);
      d->set_unix_ms(NowUnixMs());
      next.set_dead_letter_count(next.dead_letter_count() + 1);
    }
    if (next.dead_letters_size() > kRetainedDeadLetters) {
      next.mutable_dead_letters()->DeleteSubrange(0, next.dead_letters_size() - kRetainedDeadLetters);
    }
    next.set_turns(next.turns() + ok_turns);
    if (program_loaded_pending_ && any_ok) next.set_program_loaded(true);
    if (channels_) channels_->Snapshot(&batch, &next);

    CommitFailure failure;
    Checkpoint checkpoint;
    checkpoint.engine = V8Version();
    const double turns_ms = ms_since(batch_start);
    const auto snapshot_start = std::chrono::steady_clock::now();
    // The new heap goes straight into the isolate host (no copy); without a
    // successful turn only the state changed (dead letters, delivery marks)
    // and the current heap is written again.
    std::string previous;
    bool swapped = false;
    checkpoint.state = next.SerializeAsString();
    if (any_ok) {
      absl::StatusOr<std::string> heap = isolate_->Snapshot();
      if (!heap.ok()) {
        failure = {heap.status(), !absl::IsCancelled(heap.status())};
      } else if (static_cast<int64_t>(heap->size() + checkpoint.state.size()) > max_checkpoint_bytes_) {
        failure = {absl::OutOfRangeError(absl::StrCat("the checkpoint would take ", Mb(heap->size() + checkpoint.state.size()),
                                                      " (heap snapshot ", heap->size(), ", state ",
                                                      checkpoint.state.size(), "), over max_checkpoint_bytes (",
                                                      max_checkpoint_bytes_, ")")),
                   true};
      } else {
        previous = isolate_->SwapBlob(std::move(*heap));
        swapped = true;
      }
    } else if (static_cast<int64_t>(isolate_->blob().size() + checkpoint.state.size()) > max_checkpoint_bytes_) {
      failure = {absl::OutOfRangeError(absl::StrCat("the node's state would take ", Mb(checkpoint.state.size()),
                                                    ", which with the committed heap is over max_checkpoint_bytes (",
                                                    max_checkpoint_bytes_, ")")),
                 false};
    }
    if (failure.status.ok()) {
      const std::string& heap = isolate_->blob();
      const double snapshot_ms = ms_since(snapshot_start);
      const auto commit_start = std::chrono::steady_clock::now();
      CrashPoint("before_commit");
      // The store commit (write + fsync) runs on another thread while this
      // one restores the next isolate from the new heap (both only read it);
      // if the commit fails, the previous heap comes back. Nothing is
      // released before the commit.
      std::future<absl::Status> committed = std::async(std::launch::async, [this, &checkpoint, &heap] {
        if (before_store_commit_) {
          if (absl::Status s = before_store_commit_(); !s.ok()) return s;
        }
        return store_->Commit(checkpoint, heap);
      });
      if (any_ok) (void)isolate_->Prepare();
      absl::Status s = committed.get();
      if (s.ok()) {
        spdlog::debug("batch of {} turns: turns {:.2f} ms, snapshot {:.2f} ms ({} bytes), commit {:.2f} ms",
                      idx.size(), turns_ms, snapshot_ms, heap.size(), ms_since(commit_start));
        seq_ = checkpoint.seq;
        state_ = std::move(next);
        if (any_ok) program_loaded_pending_ = false;
        if (!batch.sends().empty()) CrashPoint("after_send_commit");
        if (!batch.delivered().empty()) CrashPoint("after_deliver_commit");
        if (channels_) channels_->CommitBatch(batch);
        if (observed) out->observed = std::move(observed);
        blamed_ = -1;
        return absl::OkStatus();
      }
      if (swapped) isolate_->SwapBlob(std::move(previous));
      failure = {s, absl::IsOutOfRange(s)};
    }

    // The commit failed: nothing of this attempt took effect.
    if (channels_) channels_->AbortBatch(batch);
    isolate_->Discard();
    std::vector<size_t> in_heap;  // inputs whose effects were in the heap
    for (size_t i : idx) {
      if (!failed[i] || (inputs[i].on_failure && !fallback_failed[i])) in_heap.push_back(i);
    }
    // Until a later commit says otherwise, none of these turns took effect.
    auto not_committed = [&](const std::vector<size_t>& which, const absl::Status& why) {
      for (size_t i : which) {
        if (failed[i]) continue;
        out->results[i].status = TurnStatus::kCommitFailed;
        out->results[i].error = absl::StrCat("turn aborted: commit failed: ", why.message());
        out->results[i].output.clear();
      }
    };
    if (failure.repeats && !run_committed_checked_) {
      // Before bisecting and blaming an input: is the committed heap itself
      // uncommittable (too big already, or a hook that fails on it)? Then no
      // input is to blame. (Checked once per batch.)
      run_committed_checked_ = true;
      absl::Status committed = CheckCommittedHeap();
      if (!committed.ok()) failure = {committed, false};
    }
    if (!failure.repeats || in_heap.empty()) {
      spdlog::error("commit failed: {}", std::string(failure.status.message()));
      not_committed(idx, failure.status);
      if (blamed_ >= 0) {  // the input blamed last cannot be the cause after all
        out->results[blamed_].status = TurnStatus::kCommitFailed;
        out->results[blamed_].error = absl::StrCat("turn aborted: commit failed: ", failure.status.message());
        blamed_ = -1;
      }
      return failure.status;
    }
    if (in_heap.size() >= 2) {
      // Bisect: each half commits on its own, in input order.
      spdlog::warn("commit of {} turns failed ({}); committing them in two halves to find the input that causes it",
                   in_heap.size(), std::string(failure.status.message()));
      const size_t cut = static_cast<size_t>(
          std::find(idx.begin(), idx.end(), in_heap[in_heap.size() / 2]) - idx.begin());
      std::vector<size_t> first(idx.begin(), idx.begin() + static_cast<long>(cut));
      std::vector<size_t> second(idx.begin() + static_cast<long>(cut), idx.end());
      // The results of this attempt's run are void; each half's run sets
      // its own, and a half that is not run (the first failed) reports so.
      not_committed(idx, absl::UnavailableError("an earlier part of its batch could not be committed"));
      if (absl::Status s = RunGroup(inputs, first, observe, out); !s.ok()) return s;
      return RunGroup(inputs, second, observe, out);
    }
    // One input's effects cannot be committed: it fails like a turn that
    // threw, and the group is run again without it.
    const size_t j = in_heap[0];
    blamed_ = static_cast<long>(j);
    if (failed[j]) {
      fallback_failed[j] = true;
      spdlog::error("fallback of {} cannot be committed: {}", inputs[j].description,
                    std::string(failure.status.message()));
    } else {
      failed[j] = true;
      out->results[j].status = TurnStatus::kUncommittable;
      out->results[j].output.clear();
      out->results[j].error = absl::StrCat("turn aborted: what it left cannot be committed: ",
                                           failure.status.message(), "; the heap is as before the turn");
    }
  }
}

absl::Status Node::CheckCommittedHeap() {
  v1::NodeState committed = state_;
  if (channels_) channels_->Snapshot(nullptr, &committed);
  const std::string state = committed.SerializeAsString();
  if (static_cast<int64_t>(isolate_->blob().size() + state.size()) > max_checkpoint_bytes_) {
    return absl::OutOfRangeError(absl::StrCat(
        "the node's committed heap and state already take ", Mb(isolate_->blob().size() + state.size()),
        ", over max_checkpoint_bytes (", max_checkpoint_bytes_, "): raise it, or let peers acknowledge the outbox"));
  }
  isolate_->Discard();
  if (absl::Status s = isolate_->Prepare(); !s.ok()) return s;
  absl::StatusOr<std::string> blob = isolate_->Snapshot();  // consumes the isolate; the blob is dropped
  if (!blob.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the node's committed heap cannot be checkpointed again: ", blob.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Node::ReincarnateIfWentBack() {
  if (channels_ == nullptr || reincarnated_) return false;
  const std::string why = channels_->ReincarnationRequest();
  if (why.empty()) return false;
  if (absl::Status s = store_->Reincarnate(); !s.ok()) return s;
  reincarnated_ = true;
  channels_->Reincarnated(store_->incarnation());
  spdlog::error("store {}: node '{}' went back in time ({}); it takes the new incarnation {}: every peer will "
                "refuse its channels (see README, Store incarnations)",
                store_->path(), state_.node_id(), why, store_->incarnation());
  // Record the broken channels now, not only at the next commit.
  v1::NodeState next = state_;
  channels_->Snapshot(nullptr, &next);
  Checkpoint checkpoint;
  checkpoint.engine = V8Version();
  checkpoint.state = next.SerializeAsString();
  isolate_->Discard();
  if (absl::Status s = store_->Commit(checkpoint, isolate_->blob()); !s.ok()) return s;
  seq_ = checkpoint.seq;
  state_ = std::move(next);
  return true;
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
