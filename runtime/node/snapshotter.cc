#include "runtime/node/snapshotter.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

constexpr int64_t kRetryAfterFailureMs = 10000;  // a snapshot that failed is tried again after this

}  // namespace

Snapshotter::Snapshotter(CheckpointStore* store, Journal* journal, const Checkpoint& base,
                         PersistentIsolate::Blob heap, SnapshotterOptions options)
    : store_(store), journal_(journal), options_(std::move(options)), replayer_(options_.replay) {
  IsolateOptions io = options_.isolate;
  io.plain = false;
  io.on_restore = nullptr;
  io.before_restore = [this](PersistentIsolate& host) { return WaitForLive(host); };
  io.console = [](int, std::string_view) {};  // console output is never replayed
  io.send = [this](const std::string& dst, std::string payload) { return replayer_.Send(dst, payload); };
  io.read_module = [this](const std::string& path) { return replayer_.ReadModule(path); };
  live_base_ = heap.get();
  isolate_ = PersistentIsolate::FromSharedBlob(std::move(heap), std::move(io));
  meta_.engine = base.engine;
  meta_.natives = base.natives;
  meta_.builtins_version = base.builtins_version;
  state_.ParseFromString(base.state);
  pushed_seq_ = replayed_seq_ = written_seq_ = base.seq;
  stats_.replayed_seq = stats_.written_seq = base.seq;
  outbox_.replace_existing = true;
  last_snapshot_at_ms_ = SteadyMs();
  thread_ = std::thread([this] { Loop(); });
}

Snapshotter::~Snapshotter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Snapshotter::Push(std::shared_ptr<const v1::JournalCommit> commit) {
  {
    std::lock_guard<std::mutex> l(mu_);
    pushed_seq_ = commit->seq();
    queue_.push_back(std::move(commit));
  }
  cv_.notify_all();
}

absl::StatusOr<Snapshotter::At> Snapshotter::BlobThrough(int64_t seq) {
  std::unique_lock<std::mutex> l(mu_);
  blob_wanted_ = seq;
  blob_made_.reset();
  blob_error_ = absl::OkStatus();
  cv_.notify_all();
  cv_.wait(l, [&] { return stop_ || !health_.ok() || blob_made_.has_value() || !blob_error_.ok(); });
  blob_wanted_ = -1;
  if (blob_made_) {
    At at = std::move(*blob_made_);
    blob_made_.reset();
    return at;
  }
  if (!blob_error_.ok()) return blob_error_;
  if (!health_.ok()) return health_;
  return absl::CancelledError("the snapshotter is stopping");
}

absl::Status Snapshotter::SnapshotNow(const std::function<void()>& service) {
  std::unique_lock<std::mutex> l(mu_);
  const int64_t target = pushed_seq_;
  if (written_seq_ >= target) return absl::OkStatus();
  snapshot_wanted_ = target;
  cv_.notify_all();
  auto done = [&] { return stop_ || !health_.ok() || snapshot_done_ >= target; };
  while (!done()) {
    if (waiting_for_live_ && service) {
      l.unlock();
      service();
      l.lock();
      continue;
    }
    cv_.wait_for(l, std::chrono::milliseconds(20), [&] { return done() || (waiting_for_live_ && service); });
  }
  if (snapshot_done_ >= target) return snapshot_result_;
  if (!health_.ok()) return health_;
  return absl::CancelledError("the snapshotter is stopping");
}

void Snapshotter::LiveRebased(const PersistentIsolate::Blob& heap) {
  {
    std::lock_guard<std::mutex> l(mu_);
    live_base_ = heap.get();
  }
  cv_.notify_all();
}

absl::Status Snapshotter::WaitForLive(PersistentIsolate& host) {
  const std::string* blob = host.shared_blob().get();
  std::unique_lock<std::mutex> l(mu_);
  waiting_for_live_ = true;
  cv_.notify_all();
  // (A BlobThrough caller rebuilds the live isolate: none is alive.)
  cv_.wait(l, [&] { return stop_ || live_base_ == blob || blob_wanted_ >= 0; });
  waiting_for_live_ = false;
  if (live_base_ != blob && blob_wanted_ < 0) return absl::CancelledError("the snapshotter is stopping");
  return absl::OkStatus();
}

std::optional<Snapshotter::At> Snapshotter::TakeWritten() {
  std::lock_guard<std::mutex> l(mu_);
  std::optional<At> w = std::move(written_);
  written_.reset();
  return w;
}

absl::Status Snapshotter::health() const {
  std::lock_guard<std::mutex> l(mu_);
  return health_;
}

Snapshotter::Stats Snapshotter::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

bool Snapshotter::Due() const {
  if (replayed_seq_ <= written_seq_) return false;
  if (snapshot_wanted_ > snapshot_done_ && replayed_seq_ >= snapshot_wanted_) return true;
  if (failed_at_ms_ != 0 && SteadyMs() - failed_at_ms_ < kRetryAfterFailureMs) return false;
  return replayed_seq_ - written_seq_ >= options_.every_commits ||
         journal_->bytes_after(written_seq_) >= options_.every_bytes ||
         SteadyMs() - last_snapshot_at_ms_ >= options_.every_ms;
}

void Snapshotter::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (!health_.ok()) {
      cv_.wait(l, [&] { return stop_; });
      break;
    }
    // 1. A rebuild of the live isolate waits for a blob through its seq.
    if (blob_wanted_ >= 0 && replayed_seq_ >= blob_wanted_) {
      const int64_t wanted = blob_wanted_;
      const bool write = Due();
      l.unlock();
      absl::StatusOr<At> at = MakeSnapshot(write);
      l.lock();
      if (blob_wanted_ == wanted) {
        if (at.ok()) {
          blob_made_ = std::move(*at);
        } else {
          blob_error_ = at.status();
        }
        blob_wanted_ = -2;  // answered
      }
      cv_.notify_all();
      continue;
    }
    // 2. Catch up with the durable commits, one at a time (so that a
    // request is served as soon as the replay reaches it).
    if (!queue_.empty()) {
      std::shared_ptr<const v1::JournalCommit> commit = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      const auto start = std::chrono::steady_clock::now();
      absl::Status s = ReplayOne(commit);
      const double ms = MsSince(start);
      l.lock();
      stats_.replay_ms += ms;
      stats_.replayed_turns = replayer_.replayed_turns();
      if (!s.ok() && stop_) break;  // (a restore cancelled by the stop)
      if (!s.ok()) {
        spdlog::error("snapshotter: {}; no more snapshots are written", std::string(s.message()));
        health_ = s;
        cv_.notify_all();
        continue;
      }
      replayed_seq_ = commit->seq();
      stats_.replayed_seq = replayed_seq_;
      cv_.notify_all();
      continue;
    }
    // 3. A snapshot when one is due.
    if (Due()) {
      const int64_t through = replayed_seq_;
      l.unlock();
      absl::StatusOr<At> at = MakeSnapshot(true);
      l.lock();
      if (snapshot_wanted_ > snapshot_done_ && through >= snapshot_wanted_) {
        snapshot_done_ = through;
        snapshot_result_ = at.status();
      }
      cv_.notify_all();
      continue;
    }
    const int64_t wait = std::max<int64_t>(
        1, std::min<int64_t>(options_.every_ms - (SteadyMs() - last_snapshot_at_ms_), 1000));
    cv_.wait_for(l, std::chrono::milliseconds(wait));
  }
}

absl::Status Snapshotter::ReplayOne(const std::shared_ptr<const v1::JournalCommit>& shared) {
  const v1::JournalCommit& commit = *shared;
  if (absl::Status s = replayer_.Replay(*isolate_, commit); !s.ok()) return s;
  since_blob_.push_back(shared);
  ApplyCommitState(&state_, commit);
  if (commit.builtins_version() != 0) meta_.builtins_version = commit.builtins_version();
  for (const v1::OutboxAdd& a : commit.outbox_added()) {
    outbox_.added.push_back({a.dst(), a.seq(), a.stamp(), a.payload()});
  }
  for (const v1::OutboxAck& a : commit.outbox_acked()) acked_[a.dst()] = std::max(acked_[a.dst()], a.through());
  return absl::OkStatus();
}

absl::StatusOr<Snapshotter::At> Snapshotter::MakeSnapshot(bool write) {
  const auto start = std::chrono::steady_clock::now();
  int64_t seq;
  {
    std::lock_guard<std::mutex> l(mu_);
    seq = replayed_seq_;
  }
  if (!isolate_->live()) {
    // Nothing replayed since the last blob: it is the heap as of `seq`.
    if (absl::Status s = isolate_->Prepare(); !s.ok()) return s;
  }
  absl::StatusOr<std::string> blob = isolate_->Snapshot();  // consumes the isolate
  if (!blob.ok()) {
    // The heap's own contents stop it (a before-checkpoint hook failed):
    // no snapshot now; the journal keeps every commit, and a later heap may
    // be snapshotted again.
    const std::string why(blob.status().message());
    spdlog::error("snapshotter: the heap as of commit {} cannot be snapshotted: {}", seq, why);
    // The isolate is gone with the commits replayed since its blob: replay
    // them again from that blob.
    absl::Status replayed = absl::OkStatus();
    for (const auto& commit : since_blob_) {
      replayed = replayer_.Replay(*isolate_, *commit);
      if (!replayed.ok()) break;
    }
    std::lock_guard<std::mutex> l(mu_);
    stats_.last_error = why;
    failed_at_ms_ = SteadyMs();
    if (!replayed.ok()) health_ = replayed;
    return absl::FailedPreconditionError(absl::StrCat("the heap as of commit ", seq, " cannot be snapshotted: ", why));
  }
  PersistentIsolate::Blob heap = std::make_shared<const std::string>(std::move(*blob));
  isolate_->SwapBlob(heap);  // the next replay restores from it
  since_blob_.clear();
  if (write) {
    Checkpoint checkpoint = meta_;
    checkpoint.commit_as_seq = seq;
    checkpoint.state = state_.SerializeAsString();
    absl::Status s;
    if (static_cast<int64_t>(heap->size() + checkpoint.state.size()) > options_.max_checkpoint_bytes) {
      s = absl::OutOfRangeError(absl::StrCat("the snapshot would take ", heap->size() + checkpoint.state.size(),
                                             " bytes, over max_checkpoint_bytes (", options_.max_checkpoint_bytes,
                                             ")"));
    } else {
      OutboxChanges changes = outbox_;
      for (const auto& [dst, through] : acked_) changes.acked_through.emplace_back(dst, through);
      s = store_->Commit(checkpoint, *heap, changes);
    }
    std::lock_guard<std::mutex> l(mu_);
    if (!s.ok()) {
      stats_.last_error = std::string(s.message());
      failed_at_ms_ = SteadyMs();
      spdlog::error("snapshotter: writing the snapshot of commit {} failed: {}", seq, stats_.last_error);
    } else {
      outbox_.added.clear();
      acked_.clear();
      written_seq_ = seq;
      written_ = At{seq, heap};
      failed_at_ms_ = 0;
      last_snapshot_at_ms_ = SteadyMs();
      stats_.written_seq = seq;
      ++stats_.snapshots;
      stats_.last_snapshot_ms = MsSince(start);
      stats_.last_snapshot_bytes = static_cast<int64_t>(heap->size());
      stats_.last_error.clear();
      spdlog::debug("snapshotter: snapshot of commit {} ({} bytes) in {:.1f} ms", seq, heap->size(),
                    stats_.last_snapshot_ms);
    }
    if (s.ok()) {
      // The journal before the oldest checkpoint the store keeps is no
      // longer needed (a fallback to that checkpoint replays what follows it).
      journal_->Rotate();
      absl::StatusOr<std::vector<int64_t>> seqs = store_->CheckpointSeqs();
      if (seqs.ok() && !seqs->empty()) {
        if (absl::Status d = journal_->DropThrough(seqs->front()); !d.ok()) {
          spdlog::warn("snapshotter: {}", std::string(d.message()));
        }
      }
    }
  }
  return At{seq, heap};
}

}  // namespace ken
