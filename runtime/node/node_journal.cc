// Node, journal mode (node.h, durability.h): opening and recovering a
// journal-mode store, rebuilding the live isolate after an abort, taking in
// the snapshotter's snapshots, and converting a store between modes.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "js_api/natives.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// A rebuild replays the tail itself when it has fewer turns than this;
// else it takes the snapshotter's blob of the last durable commit, if the
// snapshotter is at most kMaxSnapshotterLag commits behind.
constexpr int kRebuildFromSnapshotterTurns = 32;
constexpr int64_t kMaxSnapshotterLag = 256;

}  // namespace

std::string JournalBase(const std::string& path, const std::optional<std::string>& name) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  if (ec) real = std::filesystem::absolute(path, ec);
  if (name && !name->empty() && name->find('/') == std::string::npos) return (real.parent_path() / *name).string();
  return real.string();
}

int64_t Node::ReplayTimeoutMs() const {
  return std::max<int64_t>(60000, 10 * options_.isolate.turn_timeout_ms);
}

IsolateOptions Node::LiveIsolateOptions(IsolateOptions base, bool plain) {
  base.plain = plain;
  base.before_restore = nullptr;
  base.on_restore = nullptr;
  if (plain) {
    base.before_restore = [this](PersistentIsolate& host) {
      BeforeRestore(host);
      return absl::OkStatus();
    };
    base.on_restore = [this](PersistentIsolate& host) { return ReplayTail(host); };
  }
  return base;
}

absl::Status Node::OpenJournal(const NodeOptions& options, Durability::Recovered* recovered) {
  const std::string& path = options.store_path;
  std::optional<std::string> id = store_->GetMeta("journal_id");
  if (!id) return absl::DataLossError(absl::StrCat("store ", path, " is in journal mode but has no journal id"));
  absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(journal_base_, *id, JournalOpts(options));
  if (!journal.ok()) return journal.status();
  // The store records each segment it starts: one that is gone (a copy of
  // the .ken file without its segments) would silently lose the commits
  // after the newest snapshot.
  int64_t expected = 0;
  if (std::optional<std::string> v = store_->GetMeta("journal_segment"); v && absl::SimpleAtoi(*v, &expected) &&
                                                                          expected > (*journal)->newest_segment_first_seq()) {
    return absl::DataLossError(absl::StrCat(
        "store ", path, ": its journal segment ", journal_base_, ".journal.", absl::Dec(expected, absl::kZeroPad20),
        " (commits from ", expected, " on) is missing, so the commits after its newest snapshot cannot be replayed; "
        "copy the store's .journal.* files back beside it (a copy of a journal-mode store is the .ken file and "
        "its .journal.* files, taken while no node runs on it); to open it as of its newest snapshot instead, losing "
        "those commits: sqlite3 STORE \"DELETE FROM ken_meta WHERE key='journal_segment'\""));
  }
  UseJournal(std::move(*journal));
  absl::StatusOr<Durability::Recovered> r = durability_->Recover();
  if (!r.ok()) return r.status();
  *recovered = std::move(*r);
  return absl::OkStatus();
}

ReplayOptions Node::ReplayOpts(bool accept_divergence) const {
  return ReplayOptions{options_.node_id, ReplayTimeoutMs(), accept_divergence};
}

void Node::UseJournal(std::unique_ptr<Journal> journal) {
  durability_ = NewJournalDurability(store_.get(), std::move(journal));
  replayer_ = std::make_unique<Replayer>(ReplayOpts(options_.accept_divergence));
}

JournalOptions Node::JournalOpts(const NodeOptions& options) {
  JournalOptions jo;
  jo.segment_bytes = options.journal_segment_bytes;
  jo.read_only = options.read_only;
  if (!options.read_only) {
    CheckpointStore* store = store_.get();
    jo.on_new_segment = [store](int64_t first_seq) {
      return store->SetMeta("journal_segment", std::to_string(first_seq));
    };
  }
  return jo;
}

absl::Status Node::DropStaleJournal(int64_t seq) {
  const std::string& path = store_->path();
  if (Journal::SegmentFiles(journal_base_).empty()) return absl::OkStatus();
  std::optional<std::string> id = store_->GetMeta("journal_id");
  if (id) {
    JournalOptions jo;
    jo.read_only = true;
    absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(journal_base_, *id, jo);
    if (!journal.ok()) return journal.status();
    absl::StatusOr<std::vector<JournalRecord>> after = (*journal)->RecordsAfter(seq);
    if (!after.ok() || !after->empty()) {
      return absl::DataLossError(absl::StrCat(
          "store ", path, " is in snapshot mode, but its journal holds commits after its newest checkpoint ", seq,
          " (a conversion from journal mode stopped half-way?); open it with --durability=journal"));
    }
  }
  if (options_.read_only) return absl::OkStatus();
  spdlog::info("store {}: deleting the journal segments left from journal mode (its checkpoint {} holds them)", path,
               seq);
  return Journal::RemoveAll(journal_base_);
}

void Node::StartSnapshotter(const Checkpoint& base, PersistentIsolate::Blob heap) {
  SnapshotterOptions so;
  so.every_commits = options_.snapshot_every_commits;
  so.every_bytes = options_.snapshot_every_bytes;
  so.every_ms = options_.snapshot_every_ms;
  so.max_checkpoint_bytes = options_.max_checkpoint_bytes;
  so.isolate = isolate_options_;
  so.replay = ReplayOpts(options_.accept_divergence);
  snapshotter_ = std::make_unique<Snapshotter>(store_.get(), durability_->journal(), base, std::move(heap), so);
}

void Node::TrimTail(int64_t seq) {
  tail_.erase(std::remove_if(tail_.begin(), tail_.end(),
                             [seq](const std::shared_ptr<const v1::JournalCommit>& c) { return c->seq() <= seq; }),
              tail_.end());
}

void Node::BeforeRestore(PersistentIsolate& host) {
  if (!snapshotter_) return;
  TakeWrittenSnapshot();  // (no live isolate now: nothing to drop)
  if (tail_.empty()) return;
  int turns = 0;
  for (const auto& c : tail_) turns += c->turns_size();
  if (turns < kRebuildFromSnapshotterTurns) return;
  if (seq_ - snapshotter_->stats().replayed_seq > kMaxSnapshotterLag) return;
  absl::StatusOr<Snapshotter::At> at = snapshotter_->BlobThrough(seq_);
  if (!at.ok()) {
    spdlog::warn("rebuilding the live isolate: the snapshotter has no blob ({}); replaying {} commits",
                 std::string(at.status().message()), tail_.size());
    return;
  }
  if (at->seq <= base_seq_) return;
  host.Rebase(at->heap);
  base_seq_ = at->seq;
  TrimTail(at->seq);
  snapshotter_->LiveRebased(at->heap);
}

void Node::TakeWrittenSnapshot() {
  std::optional<Snapshotter::At> w = snapshotter_->TakeWritten();
  if (!w || w->seq <= base_seq_) return;
  isolate_->Rebase(w->heap);
  isolate_->Discard();
  base_seq_ = w->seq;
  TrimTail(w->seq);
  snapshotter_->LiveRebased(w->heap);
}

absl::Status Node::ReplayTail(PersistentIsolate& host) {
  for (const auto& commit : tail_) {
    absl::Status s = replayer_->Replay(host, *commit);
    if (s.ok()) continue;
    if (absl::IsDataLoss(s) && fatal_.ok() && !options_.read_only) {
      fatal_ = absl::DataLossError(absl::StrCat(s.message(), "; the node stops"));
    }
    return s;
  }
  return absl::OkStatus();
}

void Node::Maintain() {
  if (!snapshotter_) return;
  TakeWrittenSnapshot();
  if (absl::Status h = snapshotter_->health(); !h.ok() && absl::IsDataLoss(h) && fatal_.ok()) {
    fatal_ = absl::DataLossError(absl::StrCat(h.message(), "; the node stops"));
  }
  // Bounded journal: at journal_max_commits after the newest snapshot, no
  // more turns run until the snapshotter has caught up to 3/4 of it.
  Snapshotter::Stats st = snapshotter_->stats();
  if (seq_ - st.written_seq < options_.journal_max_commits) return;
  spdlog::warn("journal: {} commits after the newest snapshot (journal_max_commits {}): waiting for the snapshotter",
               seq_ - st.written_seq, options_.journal_max_commits);
  const auto start = std::chrono::steady_clock::now();
  while (fatal_.ok() && snapshotter_->health().ok()) {
    st = snapshotter_->stats();
    if (seq_ - st.written_seq <= options_.journal_max_commits * 3 / 4) break;
    TakeWrittenSnapshot();  // (the snapshotter waits for it before it goes on)
    if (!st.last_error.empty()) {
      spdlog::error("journal: the snapshotter cannot write snapshots ({}); the journal grows past journal_max_commits",
                    st.last_error);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  TakeWrittenSnapshot();
  spdlog::info("journal: the snapshotter caught up after {:.0f} ms",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
}

Snapshotter::Stats Node::snapshotter_stats() const {
  return snapshotter_ ? snapshotter_->stats() : Snapshotter::Stats();
}

absl::Status Node::SnapshotNow() {
  if (!snapshotter_) return absl::FailedPreconditionError("not in journal mode");
  Flush();
  absl::Status s = snapshotter_->SnapshotNow([this] { TakeWrittenSnapshot(); });
  if (s.ok()) Maintain();
  return s;
}

absl::Status Node::EnsureHeapDurability() {
  const std::string mode = durability();
  std::string heap_mode = "snapshot";
  TurnResult probe = isolate_->RunTurn(
      [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
        heap_mode = HeapDurability(scope.isolate, scope.context, scope.internals);
        return std::string();
      },
      TurnMode::kKeep);
  if (!probe.ok() || heap_mode == mode) return absl::OkStatus();
  if (builtins_version_ < 2 && mode == "snapshot") return absl::OkStatus();  // never switched
  v1::TurnInput record;
  record.mutable_durability_switch()->set_mode(mode);
  BatchResult r = RunBatch({MakeTurn(std::move(record))});
  if (!r.results[0].ok()) {
    return absl::FailedPreconditionError(absl::StrCat("store ", store_->path(), ": switching the heap's globals to ",
                                                      mode, " mode failed: ", r.results[0].error));
  }
  spdlog::info("store {}: the heap's globals are set for {} mode", store_->path(), mode);
  return absl::OkStatus();
}

absl::Status Node::EnsureActorPlacement(const std::string& json) {
  if (json.empty()) return absl::OkStatus();
  bool differs = false;
  TurnResult probe = isolate_->RunTurn(
      [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
        v8::Local<v8::Value> fn;
        if (!scope.internals->Get(scope.context, V8String(scope.isolate, "actorPlacementJson")).ToLocal(&fn) ||
            !fn->IsFunction()) {
          return std::string();  // built-ins without actors
        }
        v8::Local<v8::Value> now;
        if (!fn.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), 0, nullptr).ToLocal(&now)) {
          return absl::AbortedError("threw");
        }
        differs = StdString(scope.isolate, now) != json;
        return std::string();
      },
      TurnMode::kKeep);
  if (!probe.ok() || !differs) return absl::OkStatus();
  v1::TurnInput record;
  record.mutable_actor_placement()->set_json(json);
  BatchResult r = RunBatch({MakeTurn(std::move(record))});
  if (!r.results[0].ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", store_->path(), ": giving the heap the config's actor placement failed: ", r.results[0].error));
  }
  return absl::OkStatus();
}

absl::Status Node::ConvertTo(const std::string& mode, const NodeOptions& options) {
  const std::string& path = store_->path();
  const std::string from = durability();
  if (mode == from) return absl::OkStatus();
  Flush();
  const auto start = std::chrono::steady_clock::now();
  if (mode == "journal") {
    if (builtins_version_ < 2) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store ", path, " cannot go to journal mode: its heap has the built-ins of Ken's first release"));
    }
    absl::StatusOr<std::vector<std::string>> found = isolate_->GcObservableObjects();
    if (!found.ok()) return found.status();
    if (!found->empty()) {
      std::vector<std::string> names = *found;
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      return absl::FailedPreconditionError(absl::StrCat(
          "store ", path, " cannot go to journal mode: its heap holds ", found->size(),
          " live WeakRef/FinalizationRegistry object(s) (", absl::StrJoin(names, ", "),
          "), whose behaviour depends on garbage collection, which a journal replay cannot repeat; drop them "
          "from the heap first, or keep durability: snapshot"));
    }
    if (!store_->GetMeta("journal_id")) {
      if (absl::Status s = store_->SetMeta("journal_id", NewJournalId()); !s.ok()) return s;
    }
    if (!store_->GetMeta("journal_name")) {
      const std::string name = std::filesystem::path(journal_base_).filename().string();
      if (absl::Status s = store_->SetMeta("journal_name", name); !s.ok()) return s;
    }
    if (absl::Status s = Journal::RemoveAll(journal_base_); !s.ok()) return s;
    if (absl::Status s = store_->SetMeta("journal_segment", "0"); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(journal_base_, *store_->GetMeta("journal_id"), JournalOpts(options));
    if (!journal.ok()) return journal.status();
    if (absl::Status s = store_->SetMeta("durability", "journal"); !s.ok()) return s;
    UseJournal(std::move(*journal));
    PersistentIsolate::Blob heap = durable_blob_;
    isolate_ = PersistentIsolate::FromSharedBlob(heap, LiveIsolateOptions(isolate_options_, true));
    tail_.clear();
    base_seq_ = seq_;
    Checkpoint base = NewCheckpoint();
    base.seq = seq_;
    base.state = state_.SerializeAsString();
    StartSnapshotter(base, heap);
  } else {
    if (absl::Status s = snapshotter_->SnapshotNow([this] { TakeWrittenSnapshot(); }); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("store ", path, " cannot go to snapshot mode: ", s.message()));
    }
    snapshotter_.reset();
    absl::StatusOr<Checkpoint> newest = store_->LoadNewest();
    if (!newest.ok()) return newest.status();
    if (newest->seq != seq_) {
      return absl::InternalError(absl::StrCat("store ", path, ": the snapshot for the conversion is at commit ",
                                              newest->seq, ", not ", seq_));
    }
    if (absl::Status s = store_->SetMeta("durability", "snapshot"); !s.ok()) return s;
    durability_ = NewSnapshotDurability(store_.get());
    if (absl::Status s = Journal::RemoveAll(journal_base_); !s.ok()) return s;
    auto heap = std::make_shared<const std::string>(std::move(newest->heap));
    isolate_ = PersistentIsolate::FromSharedBlob(heap, LiveIsolateOptions(isolate_options_, false));
    durable_blob_ = heap;
    tail_.clear();
    base_seq_ = seq_;
    replayer_.reset();
  }
  spdlog::info("store {}: converted from {} mode to {} mode at commit {} in {:.0f} ms", path, from, mode, seq_,
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

}  // namespace ken
