#include "runtime/node/node.h"

#include <chrono>
#include <filesystem>
#include <algorithm>
#include <future>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "js_api/natives.h"
#include "base/crash_point.h"
#include "runtime/isolate/turn_clock.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/module_files.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// (How many dead letters the state keeps, and their budget: replay.h.)
constexpr size_t kDeadLetterErrorBytes = 16 << 10;    // of each dead letter's error text
constexpr size_t kDeadLetterRecordBytes = 1 << 20;    // a larger input is not kept (only its description)

// `text` cut to at most `max` bytes (at a UTF-8 character boundary), with a
// note of how much was left out.
std::string CutText(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return absl::StrCat(text.substr(0, end), "... (", text.size() - end, " more bytes)");
}

}  // namespace

std::string NewJournalId() {
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&id, absl::Hex(rd(), absl::kZeroPad8));
  return id;
}

namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Open(NodeOptions options) {
  if (!options.durability.empty() && options.durability != "snapshot" && options.durability != "journal") {
    return absl::InvalidArgumentError(absl::StrCat("durability '", options.durability,
                                                   "' is not supported (snapshot or journal)"));
  }
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::unique_ptr<Node>> node = OpenOnce(options);
    // A reader of a journal-mode store races with the writer's snapshotter,
    // which deletes the journal segments a new snapshot covers: read again.
    if (node.ok() || !options.read_only || attempt == 2 || absl::IsFailedPrecondition(node.status()) ||
        absl::IsNotFound(node.status())) {
      return node;
    }
    spdlog::debug("reading store {} again: {}", options.store_path, std::string(node.status().message()));
  }
}

absl::StatusOr<std::unique_ptr<Node>> Node::OpenOnce(const NodeOptions& given) {
  NodeOptions options = given;
  std::unique_ptr<Node> node(new Node());
  const std::string& path = options.store_path;
  auto mode = options.read_only ? CheckpointStore::Mode::kReadOnly : CheckpointStore::Mode::kReadWrite;
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store = CheckpointStore::Open(path, mode);
  if (absl::IsNotFound(store.status()) && !options.read_only && options.create_if_missing) {
    auto start = std::chrono::steady_clock::now();
    // Journal segments beside a store that is gone belong to it, not to the
    // new one (they are useless without its snapshots), as its -wal does.
    const std::string leftover = JournalBase(path, std::nullopt);
    if (!Journal::SegmentFiles(leftover).empty()) {
      spdlog::warn("store {}: removing {} journal segment(s) {}.journal.* left by an earlier store at this path", path,
                   Journal::SegmentFiles(leftover).size(), leftover);
      if (absl::Status s = Journal::RemoveAll(leftover); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<PersistentIsolate>> fresh = PersistentIsolate::CreateNew(options.isolate);
    if (!fresh.ok()) return fresh.status();
    Checkpoint initial;
    initial.engine = EngineBuild();
    initial.natives = NativeTableFingerprint(NativeTable().size());
    initial.builtins_version = kBuiltinsVersion;
    initial.heap = (*fresh)->blob();
    v1::NodeState state;
    state.set_node_id(options.node_id);
    initial.state = state.SerializeAsString();
    store = CheckpointStore::Create(path, std::move(initial));
    if (!store.ok()) return store.status();
    if (!options.node_id.empty()) {
      if (absl::Status s = (*store)->SetMeta("node_id", options.node_id); !s.ok()) return s;
    }
    const std::string mode = options.durability.empty() ? kDefaultDurability : options.durability;
    if (mode == "journal") {
      if (absl::Status s = (*store)->SetMeta("journal_id", NewJournalId()); !s.ok()) return s;
    }
    if (absl::Status s = (*store)->SetMeta("durability", mode); !s.ok()) return s;
    if (absl::Status s = (*store)->SetMeta("journal_name", std::filesystem::path(leftover).filename().string());
        !s.ok()) {
      return s;
    }
    spdlog::info("store {}: created (incarnation {}) in {} ms", path, (*store)->incarnation(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    node->created_ = true;
  }
  if (!store.ok()) return store.status();
  node->store_ = std::move(*store);
  node->options_ = options;
  node->journal_base_ = JournalBase(path, node->store_->GetMeta("journal_name"));
  const std::string durability = node->store_->GetMeta("durability").value_or("snapshot");
  absl::StatusOr<Durability::Recovered> recovered;
  if (durability == "journal") {
    recovered.emplace();
    if (absl::Status s = node->OpenJournal(options, &*recovered); !s.ok()) return s;
  } else if (durability == "snapshot") {
    node->durability_ = NewSnapshotDurability(node->store_.get());
    recovered = node->durability_->Recover();
    if (!recovered.ok()) return recovered.status();
    if (absl::Status s = node->DropStaleJournal(recovered->checkpoint.seq); !s.ok()) return s;
  } else {
    return absl::FailedPreconditionError(absl::StrCat("store ", path, " has durability mode '", durability,
                                                      "', which this ken does not know: use a newer ken"));
  }
  Checkpoint* checkpoint = &recovered->checkpoint;
  if (absl::Status engine = CheckEngine(checkpoint->engine); !engine.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", path, ": checkpoint ", checkpoint->seq, ": ", engine.message()));
  }
  if (absl::Status natives = CheckNativeTable(checkpoint->natives); !natives.ok()) {
    return absl::Status(natives.code(), absl::StrCat("store ", path, ": checkpoint ", checkpoint->seq, ": ",
                                                     natives.message()));
  }
  if (!node->state_.ParseFromString(checkpoint->state)) {
    return absl::DataLossError(absl::StrCat("store ", path, ": checkpoint ", checkpoint->seq,
                                            " has unreadable runtime state"));
  }
  // Journal mode: the commits after the snapshot bring the state, the
  // outbox and the built-ins version forward (their turns are replayed
  // when the isolate is restored, below).
  const int64_t snapshot_seq = checkpoint->seq;
  const std::string snapshot_state = checkpoint->state;
  int builtins_version = checkpoint->builtins_version;
  if (!recovered->commits.empty()) {
    std::map<std::pair<std::string, uint64_t>, OutboxRow> rows;
    for (OutboxRow& row : checkpoint->outbox) rows[{row.dst, row.seq}] = std::move(row);
    for (const auto& commit : recovered->commits) {
      ApplyCommitState(&node->state_, *commit);
      if (commit->builtins_version() != 0) builtins_version = commit->builtins_version();
      for (const v1::OutboxAdd& a : commit->outbox_added()) {
        rows[{a.dst(), a.seq()}] = OutboxRow{a.dst(), a.seq(), a.stamp(), a.payload()};
      }
      for (const v1::OutboxAck& a : commit->outbox_acked()) {
        for (auto it = rows.lower_bound({a.dst(), 0}); it != rows.end() && it->first.first == a.dst() &&
                                                       it->first.second <= a.through();) {
          it = rows.erase(it);
        }
      }
    }
    checkpoint->outbox.clear();
    for (auto& [key, row] : rows) checkpoint->outbox.push_back(std::move(row));
    checkpoint->seq = recovered->commits.back()->seq();
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
  if (!options.node_id.empty()) {
    // This open's lineage stamp, fixed on every envelope it commits.
    std::random_device rd;
    uint64_t stamp = 0;
    while (stamp == 0) stamp = (static_cast<uint64_t>(rd()) << 32) | rd();
    node->channels_ = std::make_unique<Channels>(options.node_id, node->store_->incarnation(), options.peers,
                                                 &node->clock_, options.channels, stamp);
    std::vector<v1::Envelope> outbox;
    for (OutboxRow& row : checkpoint->outbox) {
      v1::Envelope e;
      e.set_src(options.node_id);
      e.set_dst(row.dst);
      e.set_seq(row.seq);
      e.set_stamp(row.stamp);
      e.set_payload(std::move(row.payload));
      outbox.push_back(std::move(e));
    }
    node->channels_->Restore(node->state_, &outbox);
    if (fell_back && !options.read_only && node->store_->unanswered_fallback()) {
      // The lost commits may have sent messages (and acked others) that the
      // restored state does not know about; reusing their sequence numbers
      // would silently mis-sequence the channels.
      node->channels_->WentBack(absl::StrCat("it fell back to checkpoint ", checkpoint->seq,
                                             " because newer ones are corrupt"));
    }
  }
  if (!options.read_only && !options.node_id.empty()) {
    // The peers go into the store so that a read-only open (inspect)
    // replays the journal with the ken.me and ken.peers the turns saw.
    const std::string peers = absl::StrJoin(options.peers, ",");
    if (node->store_->GetMeta("peers").value_or("\x01") != peers) {
      if (absl::Status s = node->store_->SetMeta("peers", peers); !s.ok()) return s;
    }
  }
  if (options.read_only && options.node_id.empty() && !node->state_.node_id().empty()) {
    options.node_id = node->state_.node_id();  // for the isolate only: no channels
    const std::string peers = node->store_->GetMeta("peers").value_or("");
    options.peers = peers.empty() ? std::vector<std::string>() : absl::StrSplit(peers, ',');
    node->options_.node_id = options.node_id;
    node->options_.peers = options.peers;
  }
  Node* self = node.get();
  options.isolate.node_id = options.node_id;
  options.isolate.peers = options.peers;
  options.isolate.send = [self](const std::string& dst, std::string payload) {
    return self->Send(dst, std::move(payload));
  };
  options.isolate.read_module = [self](const std::string& path) { return self->ReadModule(path); };
  node->isolate_options_ = options.isolate;
  node->builtins_version_ = builtins_version;
  const bool journaled = node->durability_->journaled();
  auto heap = std::make_shared<const std::string>(std::move(checkpoint->heap));
  node->isolate_ = PersistentIsolate::FromSharedBlob(heap, node->LiveIsolateOptions(std::move(options.isolate), journaled));
  node->durable_blob_ = heap;
  node->base_seq_ = snapshot_seq;
  node->tail_ = recovered->commits;
  node->pending_state_ = node->state_;
  // Restore now (in journal mode: and replay the commits after the
  // snapshot), so a heap V8 rejects or a replay that diverges is reported at
  // start, not at a turn.
  const auto restore_start = std::chrono::steady_clock::now();
  absl::StatusOr<size_t> used = node->isolate_->UsedHeapBytes();
  if (!used.ok()) {
    if (absl::IsDataLoss(used.status()) && journaled) return used.status();  // a determinism violation
    return absl::DataLossError(absl::StrCat("store ", path, ": checkpoint ", snapshot_seq,
                                            " cannot be restored: ", used.status().message()));
  }
  const double restore_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - restore_start).count();
  if (journaled) {
    spdlog::info("store {}: restored snapshot {} and replayed {} journal commit(s) through {} in {:.1f} ms ({} "
                 "bytes of heap)",
                 path, snapshot_seq, node->tail_.size(), node->seq_, restore_ms, *used);
  } else {
    spdlog::info("store {}: restored checkpoint {} ({} bytes of heap)", path, node->seq_, *used);
  }
  if (journaled && !options.read_only) {
    Checkpoint base;
    base.seq = snapshot_seq;
    base.state = snapshot_state;
    base.engine = EngineBuild();
    base.natives = NativeTableFingerprint(NativeTable().size());
    base.builtins_version = recovered->checkpoint.builtins_version;
    node->StartSnapshotter(base, heap);
    for (const auto& commit : node->tail_) node->snapshotter_->Push(commit);
  }
  if (!options.read_only) {
    // A going back found before a crash (kept in the state), or the fallback
    // above: the new incarnation is taken now, before any turn.
    if (absl::StatusOr<bool> re = node->ReincarnateIfWentBack(); !re.ok()) return re.status();
    node->UpgradeBuiltinsIfOlder();
    if (options.durability_explicit && !options.durability.empty() && options.durability != node->durability()) {
      if (absl::Status s = node->ConvertTo(options.durability, options); !s.ok()) return s;
    }
    if (absl::Status s = node->EnsureHeapDurability(); !s.ok()) return s;
    if (absl::Status s = node->EnsureActorPlacement(options.actor_placement); !s.ok()) return s;
  }
  return node;
}

Checkpoint Node::NewCheckpoint() const {
  Checkpoint c;
  c.engine = EngineBuild();
  // Every heap this process writes was made with its whole native table.
  c.natives = NativeTableFingerprint(NativeTable().size());
  c.builtins_version = builtins_version_;
  return c;
}

void Node::UpgradeBuiltinsIfOlder() {
  int version = builtins_version_;  // as the checkpoint records it (0: unknown, older stores)
  if (version == 0) {
    // Read from the heap. The isolate stays live (it only read), so the
    // next turn need not restore it again.
    version = kBuiltinsVersion;
    (void)isolate_->RunTurn(
        [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
          version = BuiltinsVersion(scope.isolate, scope.context, scope.internals);
          return std::string();
        },
        TurnMode::kKeep);
  }
  builtins_version_ = version;
  if (version >= kBuiltinsVersion) return;
  if (version < 2) {
    spdlog::warn("store {}: its heap has the built-ins of Ken's first release (version {}), which cannot be "
                 "upgraded in place; it keeps working with them (see README, Built-ins upgrades)",
                 store_->path(), version);
    return;
  }
  v1::TurnInput record;
  record.mutable_builtins_upgrade()->set_from_version(version);
  std::random_device entropy;
  for (int i = 0; i < 4; ++i) record.mutable_builtins_upgrade()->add_random_seed(entropy());
  TurnInput upgrade = MakeTurn(std::move(record));
  builtins_version_ = kBuiltinsVersion;  // what the commit of the upgrade holds
  BatchResult r = RunBatch({upgrade});
  if (r.results[0].ok()) {
    spdlog::info("store {}: {}", store_->path(), upgrade.description);
  } else {
    builtins_version_ = version;
    spdlog::error("store {}: {} failed; the heap keeps its built-ins: {}", store_->path(), upgrade.description,
                  r.results[0].error);
  }
}

absl::Status Node::Send(const std::string& dst, std::string payload) {
  // A journal commit being replayed answers what its turn was answered.
  if (replayer_ != nullptr && replayer_->active()) return replayer_->Send(dst, payload);
  absl::Status result;
  if (recording_ != nullptr) recording_digest_.AddSend(dst, payload);
  std::string error;
  if (options_.read_only) {
    // ken inspect: its expression's effects are discarded, so nothing it
    // sends could ever be delivered.
    result = absl::FailedPreconditionError("ken.send: ken inspect reads the store read-only; nothing is sent");
  } else if (channels_ == nullptr) {
    result = absl::FailedPreconditionError("ken.send: this node is not part of a cluster (started by ken shell)");
  } else if (batch_ == nullptr) {
    result = absl::FailedPreconditionError("ken.send: called outside a turn");
  } else if (!channels_->Stage(*batch_, dst, std::move(payload), &error)) {
    result = absl::InvalidArgumentError(error);
  }
  // Journal mode: what the host answered is an input of the turn (the
  // outbox caps and the peers of this moment are not in the heap).
  if (recording_ != nullptr) recording_->sends.emplace_back().set_error(std::string(result.message()));
  return result;
}

absl::StatusOr<NativeHost::ModuleFile> Node::ReadModule(const std::string& path) {
  if (replayer_ != nullptr && replayer_->active()) return replayer_->ReadModule(path);
  absl::StatusOr<NativeHost::ModuleFile> read =
      loads_modules_ && !options_.read_only ? ReadModuleFileFromDisk(path) : NativeHost::ModuleFile();
  if (recording_ != nullptr) recording_->module_reads.push_back(RecordModuleRead(path, read));
  return read;
}

TurnResult Node::RunRecorded(const PersistentIsolate::TurnBody& body, int64_t clock_ms, Recording* recording) {
  if (!durability_->journaled()) return isolate_->RunTurn(body, TurnMode::kKeep, clock_ms);
  *recording = Recording();
  recording_ = recording;
  recording_digest_ = OutputDigest();
  TurnResult r = isolate_->RunTurn(body, TurnMode::kKeep, clock_ms);
  recording_ = nullptr;
  if (r.ok()) recording->digest = recording_digest_.Finish(r.output);
  return r;
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

BatchResult Node::RunBatch(const std::vector<TurnInput>& inputs, const TurnInput* observe) {
  BatchResult result;
  RunBatchAsync(inputs, observe, [&result](BatchResult r) { result = std::move(r); });
  Flush();
  return result;
}

void Node::RunBatchAsync(const std::vector<TurnInput>& inputs, const TurnInput* observe,
                         std::function<void(BatchResult)> done) {
  Maintain();
  auto batch = std::make_shared<PendingBatch>();
  batch->done = std::move(done);
  BatchResult& out = batch->result;
  out.results.resize(inputs.size());
  for (TurnResult& r : out.results) {
    r.status = TurnStatus::kCommitFailed;
    r.error = "turn not run: an earlier commit of its batch failed";
  }
  current_ = batch;
  run_failed_.assign(inputs.size(), false);
  run_fallback_failed_.assign(inputs.size(), false);
  run_failure_input_.assign(inputs.size(), std::nullopt);
  run_recording_.assign(inputs.size() + 1, Recording());  // the last: the observation
  // Each turn's clock is fixed once, for every re-run of it.
  const int64_t now = SystemClockMs();
  run_clock_.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) run_clock_[i] = inputs[i].clock_ms > 0 ? inputs[i].clock_ms : now;
  run_observe_failed_ = false;
  run_committed_checked_ = false;
  blamed_ = -1;
  std::vector<size_t> all(inputs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  absl::Status s = RunGroup(inputs, all, observe, &out);
  if (!s.ok() && out.commit.ok()) out.commit = s;
  program_loaded_pending_ = false;
  current_.reset();
  batch->issuing = false;
  if (batch->writes == 0) FinishBatch(batch);
}

void Node::Flush() { (void)WaitForWrite(); }

absl::Status Node::WaitForWrite() {
  if (!writing_) return absl::OkStatus();
  std::unique_ptr<Write> w = std::move(writing_);
  absl::Status s = w->done.get();
  std::shared_ptr<PendingBatch> owner = w->owner;
  if (s.ok()) {
    spdlog::debug("commit {} durable after {:.2f} ms", w->checkpoint.seq,
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w->started).count());
    seq_ = w->checkpoint.seq;
    state_ = std::move(w->next);
    durable_blob_ = w->blob;
    if (snapshotter_ && w->commit) snapshotter_->Push(w->commit);
    CrashPoint("before_release");
    for (const auto& [dst, through] : w->acked) acked_written_[dst] = std::max(acked_written_[dst], through);
    if (!w->batch.sends().empty()) CrashPoint("after_send_commit");
    if (!w->batch.delivered().empty()) CrashPoint("after_deliver_commit");
    // Output commit: only now do its sends join the outbox and its
    // deliveries become ackable.
    if (channels_) channels_->CommitBatch(w->batch);
    if (w->observed) owner->result.observed.push_back(std::move(*w->observed));
  } else {
    // Nothing of it took effect: its turns failed (their inputs may come
    // again), and the heap goes back to the durable one, with the state.
    spdlog::error("commit failed: {}", std::string(s.message()));
    if (absl::IsDataLoss(s) && fatal_.ok()) {
      // The store file is damaged: every later commit would fail too.
      fatal_ = absl::DataLossError(absl::StrCat(s.message(), "; the node stops (its committed state is as of checkpoint ",
                                                seq_, ")"));
    }
    for (size_t i : w->idx) {
      TurnResult& r = owner->result.results[i];
      if (!r.ok()) continue;
      r.status = TurnStatus::kCommitFailed;
      r.error = absl::StrCat("turn aborted: commit failed: ", s.message());
      r.output.clear();
    }
    if (owner->result.commit.ok()) owner->result.commit = s;
    if (channels_) channels_->AbortBatch(w->batch);
    if (durability_->journaled()) {
      // The live isolate holds the failed commit's turns: it is restored
      // without them.
      if (!tail_.empty() && tail_.back() == w->commit) tail_.pop_back();
      isolate_->Discard();
    } else {
      isolate_->SwapBlob(durable_blob_);
    }
    pending_state_ = state_;
  }
  if (--owner->writes == 0 && !owner->issuing) FinishBatch(owner);
  return s;
}

void Node::FinishBatch(const std::shared_ptr<PendingBatch>& batch) {
  if (batch->done) batch->done(std::move(batch->result));
}

absl::Status Node::RunGroup(const std::vector<TurnInput>& inputs, const std::vector<size_t>& idx,
                            const TurnInput* observe, BatchResult* out) {
  const bool journaled = durability_->journaled();
  const auto batch_start = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  std::vector<bool>& failed = run_failed_;
  std::vector<bool>& fallback_failed = run_fallback_failed_;
  while (true) {
    // A batch begun on top of the write in flight: its sends take the next
    // sequence numbers after that write's.
    ChannelBatch batch = channels_ ? channels_->BeginBatch(writing_ ? &writing_->batch : nullptr) : ChannelBatch();
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
        const TurnInput& fallback_input = run_failure_input_[i] ? *run_failure_input_[i] : inputs[i];
        TurnResult fallback = RunRecorded(fallback_input.on_failure, run_clock_[i], &run_recording_[i]);
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
      if (journaled && inputs[i].record.kind_case() == v1::TurnInput::KIND_NOT_SET) {
        // Only an input that is data can be journaled (and replayed).
        out->results[i].status = TurnStatus::kHostError;
        out->results[i].error = absl::StrCat(inputs[i].description, ": an input without a record cannot run in "
                                             "journal mode");
        failed[i] = true;
        continue;
      }
      loads_modules_ = InputLoadsModules(inputs[i].record);
      out->results[i] = RunRecorded(inputs[i].body, run_clock_[i], &run_recording_[i]);
      loads_modules_ = false;
      if (out->results[i].ok()) {
        any_ok = true;
        continue;
      }
      batch.RollbackTo(mark);
      failed[i] = true;
      if (inputs[i].with_failure) {
        run_failure_input_[i] = inputs[i].with_failure(CutText(out->results[i].error, kDeadLetterErrorBytes));
      }
      if (any_ok || inputs[i].on_failure) {  // the dropped isolate held earlier turns of this batch
        rerun = true;
        break;
      }
    }
    batch_ = nullptr;
    if (rerun) continue;
    std::optional<std::string> observed;
    const int64_t observe_clock = idx.empty() ? SystemClockMs() : run_clock_[idx.back()];
    if (observe != nullptr && any_ok && !run_observe_failed_ &&
        !(journaled && observe->record.kind_case() == v1::TurnInput::KIND_NOT_SET)) {
      TurnResult r = RunRecorded(observe->body, observe_clock, &run_recording_.back());
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

    v1::NodeState next = pending_state_;
    std::vector<v1::DeadLetter> new_dead_letters;  // for the journal record
    uint64_t ok_turns = 0;
    for (size_t i : idx) {
      if (!failed[i]) {
        ++ok_turns;
        continue;
      }
      if (!inputs[i].dead_letter) continue;
      // A dead letter keeps the error (cut to kDeadLetterErrorBytes: a
      // program can throw any text) and, up to kDeadLetterRecordBytes, the
      // input itself; the newest ones are kept, within a budget, so that
      // dead letters can never make the state too big to commit.
      const std::string error = CutText(out->results[i].error, kDeadLetterErrorBytes);
      spdlog::error("dead letter: {}: {}", inputs[i].description, CutText(error, 2000));
      v1::DeadLetter* d = next.add_dead_letters();
      d->set_input(inputs[i].description);
      d->set_error(error);
      d->set_unix_ms(NowUnixMs());
      if (inputs[i].record.kind_case() != v1::TurnInput::KIND_NOT_SET) {
        v1::TurnInput record = inputs[i].record;
        record.set_clock_ms(run_clock_[i]);
        if (record.ByteSizeLong() <= kDeadLetterRecordBytes) d->set_record(record.SerializeAsString());
      }
      next.set_dead_letter_count(next.dead_letter_count() + 1);
      if (journaled) new_dead_letters.push_back(*d);
    }
    TrimDeadLetters(&next);
    next.set_turns(next.turns() + ok_turns);
    if (program_loaded_pending_ && any_ok) next.set_program_loaded(true);
    if (channels_) channels_->Snapshot(&batch, &next);

    CommitFailure failure;
    Checkpoint checkpoint = NewCheckpoint();
    const double turns_ms = ms_since(batch_start);
    const auto snapshot_start = std::chrono::steady_clock::now();
    PersistentIsolate::Blob new_heap;
    std::shared_ptr<v1::JournalCommit> commit;
    if (journaled) {
      // The commit is its record: the turns that ran (inputs, clocks, what
      // ken.send answered, output digests), the state and the dead letters.
      commit = std::make_shared<v1::JournalCommit>();
      auto add_turn = [&](const v1::TurnInput& record, int64_t clock, bool fallback, const Recording& rec) {
        v1::JournalTurn* t = commit->add_turns();
        *t->mutable_input() = record;
        t->mutable_input()->set_clock_ms(clock);
        t->set_fallback(fallback);
        for (const v1::SendOutcome& o : rec.sends) *t->add_sends() = o;
        for (const v1::ModuleRead& m : rec.module_reads) *t->add_module_reads() = m;
        t->set_digest(rec.digest);
      };
      for (size_t i : idx) {
        const bool fallback_ran = failed[i] && inputs[i].on_failure && !fallback_failed[i];
        if (failed[i] && !fallback_ran) continue;
        // A fallback that needed the body's error is journaled with it.
        const v1::TurnInput& record = fallback_ran && run_failure_input_[i] ? run_failure_input_[i]->record
                                                                             : inputs[i].record;
        add_turn(record, run_clock_[i], fallback_ran, run_recording_[i]);
      }
      if (observed) add_turn(observe->record, observe_clock, false, run_recording_.back());
      google::protobuf::RepeatedPtrField<v1::DeadLetter> kept;
      kept.Swap(next.mutable_dead_letters());
      *commit->mutable_state() = next;
      kept.Swap(next.mutable_dead_letters());
      for (v1::DeadLetter& d : new_dead_letters) *commit->add_dead_letters() = std::move(d);
      commit->set_builtins_version(builtins_version_);
      if (static_cast<int64_t>(commit->ByteSizeLong()) > max_checkpoint_bytes_) {
        failure = {absl::OutOfRangeError(absl::StrCat("the journal record would take ", Mb(commit->ByteSizeLong()),
                                                      ", over max_checkpoint_bytes (", max_checkpoint_bytes_, ")")),
                   true};
      } else if (any_ok) {
        // The heap must stay snapshottable (the snapshotter's next snapshot
        // is bounded by the same limit), as in snapshot mode.
        absl::StatusOr<size_t> live = isolate_->LiveBytes(static_cast<size_t>(max_checkpoint_bytes_));
        if (live.ok() && static_cast<int64_t>(*live) > max_checkpoint_bytes_) {
          failure = {absl::OutOfRangeError(absl::StrCat("the heap would take ", Mb(*live),
                                                        ", over max_checkpoint_bytes (", max_checkpoint_bytes_, ")")),
                     true};
        }
      }
    } else {
      // Without a successful turn only the state changed (dead letters,
      // delivery marks) and the current heap is written again.
      checkpoint.state = next.SerializeAsString();
      if (any_ok) {
        absl::StatusOr<PersistentIsolate::Blob> heap = durability_->Capture(*isolate_);
        if (!heap.ok()) {
          failure = {heap.status(), !absl::IsCancelled(heap.status())};
        } else if (static_cast<int64_t>((*heap)->size() + checkpoint.state.size()) > max_checkpoint_bytes_) {
          failure = {absl::OutOfRangeError(absl::StrCat("the checkpoint would take ", Mb((*heap)->size() + checkpoint.state.size()),
                                                        " (heap snapshot ", (*heap)->size(), ", state ",
                                                        checkpoint.state.size(), "), over max_checkpoint_bytes (",
                                                        max_checkpoint_bytes_, ")")),
                     true};
        } else {
          new_heap = std::move(*heap);
        }
      } else if (static_cast<int64_t>(isolate_->blob().size() + checkpoint.state.size()) > max_checkpoint_bytes_) {
        failure = {absl::OutOfRangeError(absl::StrCat("the node's state would take ", Mb(checkpoint.state.size()),
                                                      ", which with the committed heap is over max_checkpoint_bytes (",
                                                      max_checkpoint_bytes_, ")")),
                   false};
      }
    }
    if (failure.status.ok()) {
      // Pipelining: the previous commit's write may still be in flight, and
      // this group ran on its heap. Only once it is durable may this one be
      // written after it; if it failed, this group ran on a heap that will
      // never be durable: run it again on the durable one.
      if (!WaitForWrite().ok()) {
        if (channels_) channels_->AbortBatch(batch);
        continue;
      }
      const double snapshot_ms = ms_since(snapshot_start);
      if (new_heap) {
        // The new heap goes straight into the isolate host (no copy).
        isolate_->SwapBlob(std::move(new_heap));
      }
      CrashPoint("before_commit");
      auto write = std::make_unique<Write>();
      write->checkpoint = std::move(checkpoint);
      write->blob = isolate_->shared_blob();
      write->batch = std::move(batch);
      write->next = std::move(next);
      if (channels_) {
        // The outbox is rows: this commit adds the batch's sends and drops
        // what peers have acked since the last commit. Its cost does not
        // depend on how much is unacked.
        for (const ChannelBatch::Send& s : write->batch.sends()) {
          write->outbox.added.push_back({s.dst, s.seq, channels_->stamp(), s.payload});
        }
        write->acked = channels_->AckedThrough();
        for (const auto& [dst, through] : write->acked) {
          if (through > acked_written_[dst]) write->outbox.acked_through.emplace_back(dst, through);
        }
      }
      if (commit) {
        commit->set_seq(seq_ + 1);
        commit->set_unix_ms(NowUnixMs());
        for (const OutboxRow& r : write->outbox.added) {
          v1::OutboxAdd* a = commit->add_outbox_added();
          a->set_dst(r.dst);
          a->set_seq(r.seq);
          a->set_stamp(r.stamp);
          a->set_payload(r.payload);
        }
        for (const auto& [dst, through] : write->outbox.acked_through) {
          v1::OutboxAck* a = commit->add_outbox_acked();
          a->set_dst(dst);
          a->set_through(through);
        }
        write->commit = commit;
        tail_.push_back(commit);
      }
      write->idx = idx;
      write->observed = std::move(observed);
      write->owner = current_;
      write->started = std::chrono::steady_clock::now();
      spdlog::debug("batch of {} turns: turns {:.2f} ms, {} {:.2f} ms ({} bytes)", idx.size(), turns_ms,
                    journaled ? "record" : "snapshot", snapshot_ms,
                    journaled ? write->commit->ByteSizeLong() : write->blob->size());
      // The store write (and fsync) runs on another thread while this one
      // goes on: it restores the next isolate from the new heap (both only
      // read it) and runs the next batch's turns. Nothing is released before
      // the write is durable (WaitForWrite).
      Write* w = write.get();
      w->done = std::async(std::launch::async, [this, w] {
        if (before_store_commit_) {
          if (absl::Status s = before_store_commit_(); !s.ok()) return s;
        }
        return durability_->Write(w->checkpoint, w->blob, w->outbox, w->commit.get());
      });
      ++current_->writes;
      pending_state_ = write->next;
      if (program_loaded_pending_ && any_ok) program_loaded_pending_ = false;
      writing_ = std::move(write);
      if (any_ok) (void)isolate_->Prepare();
      blamed_ = -1;
      return absl::OkStatus();
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
  // Journal mode commits no heap: only a batch's own record can be too big.
  if (durability_->journaled()) return absl::OkStatus();
  (void)WaitForWrite();
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
  absl::StatusOr<PersistentIsolate::Blob> blob = durability_->Capture(*isolate_);  // consumes the isolate; dropped
  if (!blob.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the node's committed heap cannot be checkpointed again: ", blob.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Node::ReincarnateIfWentBack() {
  if (channels_ == nullptr || reincarnated_) return false;
  Flush();
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
  Checkpoint checkpoint = NewCheckpoint();
  std::shared_ptr<v1::JournalCommit> commit;
  if (durability_->journaled()) {
    // A commit of the state alone (no turns): the live isolate stays.
    commit = std::make_shared<v1::JournalCommit>();
    commit->set_seq(seq_ + 1);
    commit->set_unix_ms(NowUnixMs());
    *commit->mutable_state() = next;
    commit->mutable_state()->clear_dead_letters();
    commit->set_builtins_version(builtins_version_);
  } else {
    checkpoint.state = next.SerializeAsString();
    isolate_->Discard();
  }
  if (absl::Status s = durability_->Write(checkpoint, isolate_->shared_blob(), OutboxChanges{}, commit.get());
      !s.ok()) {
    return s;
  }
  if (commit) {
    tail_.push_back(commit);
    if (snapshotter_) snapshotter_->Push(commit);
  }
  seq_ = checkpoint.seq;
  state_ = std::move(next);
  pending_state_ = state_;
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
  if (!durability_->journaled() || options_.read_only) return isolate_->RunTurn(body, TurnMode::kDiscard);
  // A plain isolate cannot drop what a turn did: evaluate in a scratch one,
  // restored from the live isolate's blob and brought forward by replaying
  // the commits after it.
  Flush();
  auto scratch_replayer = std::make_shared<Replayer>(ReplayOpts(/*accept_divergence=*/true));
  IsolateOptions io = options_.isolate;
  io.node_id = options_.node_id;
  io.peers = options_.peers;
  io.plain = true;
  io.before_restore = nullptr;
  io.send = [scratch_replayer](const std::string& dst, std::string payload) -> absl::Status {
    if (scratch_replayer->active()) return scratch_replayer->Send(dst, payload);
    return absl::FailedPreconditionError("ken.send: a read-only evaluation cannot send");
  };
  io.read_module = [scratch_replayer](const std::string& path) -> absl::StatusOr<NativeHost::ModuleFile> {
    if (scratch_replayer->active()) return scratch_replayer->ReadModule(path);
    return NativeHost::ModuleFile();  // refused: not a program load
  };
  std::vector<std::shared_ptr<const v1::JournalCommit>> tail = tail_;
  io.on_restore = [scratch_replayer, tail](PersistentIsolate& host) -> absl::Status {
    for (const auto& commit : tail) {
      if (absl::Status s = scratch_replayer->Replay(host, *commit); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  std::unique_ptr<PersistentIsolate> scratch = PersistentIsolate::FromSharedBlob(isolate_->shared_blob(), io);
  return scratch->RunTurn(body, TurnMode::kDiscard);
}

TurnResult Node::Peek(const PersistentIsolate::TurnBody& body) {
  if (!durability_->journaled()) return Evaluate(body);
  return isolate_->RunTurn(body, TurnMode::kKeep);
}

}  // namespace ken
