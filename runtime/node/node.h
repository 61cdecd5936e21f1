// A node's durable core: its checkpoint store, its persistent isolate and
// (in a cluster) its channels, joined by the commit path.
//
// The commit path. RunBatch() runs a group of turns in one isolate, then
// snapshots the heap once and commits it with the runtime state (outbox,
// delivery marks, counters) in one store transaction (fsync'd). Only then
// are the batch's effects released: its sends join the outbox and its
// deliveries become ackable (Channels::CommitBatch). Nothing a turn produces
// leaves the node before the commit that contains it is durable (docs/guarantees.md,
// output commit). Turns arriving while a batch commits form the next batch
// (group commit).
//
// Abort inside a batch. A turn that throws, times out or hits the heap
// limit leaves no trace (docs/guarantees.md, "Turns"): its sends and the
// sequence numbers they took are rolled back in the batch, and its heap
// changes vanish with the isolate, which is discarded. That isolate held the
// earlier turns of the batch too, so the batch is re-run from the last
// committed heap without the failed input (nothing of the first run has left
// the node, so the re-run is as if it were the only run). A failed message
// or timer is recorded as a dead letter; a message still counts as
// delivered, so it is not retried forever.
//
// Poison inputs. Work done at commit time outside any one turn (the JS
// before-checkpoint hooks, which run under the watchdog; the size of the
// heap snapshot and of the state, capped by max_checkpoint_bytes; the store
// write) can fail because of what one of the batch's turns did. When it
// fails for a reason that would repeat (not a full disk or an I/O error),
// the batch is split in halves, each committed on its own, until the single
// input whose effects cannot be committed is found; that input then fails
// like a turn that threw (a dead letter, a 500), and the rest commit. A
// failure that may pass (disk full) fails the batch's remaining inputs with
// kCommitFailed and leaves their inputs to come again.
//
// Durability modes (durability.h). In snapshot mode each commit is a V8
// snapshot of the heap. In journal mode the live isolate is a plain V8
// isolate (TurboFan on) that is never snapshotted by a commit: a commit is
// a journal record (its turns' inputs, what they observed from outside and
// digests of their outputs), one fdatasync; the snapshotter (snapshotter.h)
// turns the journal into snapshots in the background. A plain isolate
// cannot undo a turn, so an abort drops it and the next turn restores the
// heap as of the last commit: the snapshotter's snapshot of it when that
// is cheaper, else the newest snapshot plus the replay of the commits
// after it (replay.h).
//
// Threading: one thread (the turn loop) owns a Node. channels() may be used
// from any thread.
#ifndef KEN_RUNTIME_NODE_NODE_H_
#define KEN_RUNTIME_NODE_NODE_H_

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messaging/channels.h"
#include "base/clock.h"
#include "proto/state.pb.h"
#include "proto/turn.pb.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/node/durability.h"
#include "runtime/node/replay.h"
#include "runtime/node/snapshotter.h"
#include "runtime/turn/turn_input.h"
#include "store/checkpoint_store.h"

namespace ken {

struct NodeOptions {
  std::string store_path;
  bool read_only = false;         // inspect: no lock, never writes
  bool create_if_missing = true;  // ignored when read_only
  IsolateOptions isolate;         // node_id/peers/send are filled in by Node
  // Cluster membership; empty node_id: a standalone node (the shell), which
  // refuses a store that belongs to a cluster node (it would fire that
  // node's timers and lose its messages); read_only opens are allowed.
  std::string node_id;
  std::vector<std::string> peers;
  // The cluster config's actor placement (ClusterConfig::ActorPlacementJson);
  // given to the heap at open, as a turn, when it differs from the heap's.
  // Empty: none (the shell; actors are then all local).
  std::string actor_placement;
  ChannelOptions channels;
  // A commit whose heap snapshot plus state would be larger (bytes) fails as
  // described under "Poison inputs". Below SQLite's 1,000,000,000-byte limit
  // on one value.
  int64_t max_checkpoint_bytes = 768ll << 20;
  // Tests only: called before each store commit; an error fails that commit
  // as the store's would (fault injection).
  std::function<absl::Status()> before_store_commit;

  // Durability mode: "snapshot" or "journal"; empty: the store's own (for a
  // new store, kDefaultDurability). A store of the other mode is converted
  // at Open (logged; nothing is lost) only when `durability_explicit` (the
  // config or a flag names the mode); otherwise it keeps its own.
  std::string durability;
  bool durability_explicit = false;
  // Journal mode: when the snapshotter writes a snapshot (any of these
  // since the last one: commits, journal bytes, ms), and the bound on the
  // journal after the newest snapshot (commits): at that many the node
  // runs no more turns until the snapshotter catches up (so recovery
  // replays at most that many commits).
  int64_t snapshot_every_commits = 10000;
  int64_t snapshot_every_bytes = 64ll << 20;
  int64_t snapshot_every_ms = 60000;
  int64_t journal_max_commits = 100000;
  int64_t journal_segment_bytes = 64ll << 20;
  // A replay whose outputs differ from the recorded ones goes on with the
  // replayed heap (logged) instead of stopping the node (README).
  bool accept_divergence = false;
};

// A random id for a store's journal segments (32 hex digits; store meta
// key journal_id), so that segments of another store are never replayed.
std::string NewJournalId();

// The path prefix of the journal segments of the store at `path`
// (<prefix>.journal.<seq>): beside the store's real file (symlinks
// resolved), named `name` (store meta journal_name: the file name the store
// was created with, so that a hard link finds them too) or, if none, after
// the real file. Any thread; reads no store.
std::string JournalBase(const std::string& path, const std::optional<std::string>& name);

// The mode of new stores when NodeOptions::durability is empty.
inline constexpr char kDefaultDurability[] = "journal";

struct BatchResult {
  // One per input, in order. ok(): the turn ran and is committed (durable).
  // kCommitFailed: it ran, but its commit failed for a reason that may pass
  // (nothing of it took effect; its input may come again). Other statuses:
  // it aborted and left no trace.
  std::vector<TurnResult> results;
  absl::Status commit;              // the first commit that failed (may pass); ok if none
  // Outputs of the `observe` body, one per commit of the batch that became
  // durable (a bisected batch commits in parts), in order; the last one saw
  // the batch's final heap. Empty when it did not run (no turn succeeded)
  // or failed.
  std::vector<std::string> observed;
};

class Node {
 public:
  // Opens the store at options.store_path (creating it with a fresh heap when
  // it does not exist and create_if_missing) and restores its newest valid
  // checkpoint, heap and state. Errors carry the store path and the reason:
  // kNotFound (no store, not creating), kDataLoss (not a Ken store / no valid
  // checkpoint / unreadable state), kFailedPrecondition (locked by pid N;
  // written by another V8 version), kPermissionDenied. InitializeV8 first.
  static absl::StatusOr<std::unique_ptr<Node>> Open(NodeOptions options);

  // Runs `inputs` as one batch of turns and commits it (see above); returns
  // once the commit is durable (or failed). `observe`, if given, runs after
  // them in the same heap and commit (keep it read-only but for what it
  // takes on purpose), e.g. to learn the next timer due; in journal mode it
  // needs a record (dispatcher.h, ObserveRecord), as every input does.
  BatchResult RunBatch(const std::vector<TurnInput>& inputs, const TurnInput* observe = nullptr);

  // The same, pipelined: runs the turns and starts the batch's store write,
  // and returns while the write (fsync) is in flight, so that the caller
  // can run the next batch meanwhile. `done` gets the batch's results once
  // its last write is durable or failed; it is called on this thread,
  // from a later RunBatchAsync, RunBatch, Flush or any call that commits.
  // Batch N+1 runs on batch N's heap before N is durable; its outputs wait
  // for its own commit, which is written only after N's; if N's write
  // fails, N+1 is run again on the last durable heap.
  void RunBatchAsync(const std::vector<TurnInput>& inputs, const TurnInput* observe,
                     std::function<void(BatchResult)> done);
  // Waits for the write in flight, if any, and delivers its batch's results.
  void Flush();
  // Whether a write is in flight.
  bool writing() const { return writing_ != nullptr; }
  // Not ok once a commit found the store file damaged (kDataLoss): nothing
  // more can be committed, and the node should stop (its committed state is
  // intact as of checkpoint_seq()).
  const absl::Status& fatal() const { return fatal_; }

  // Bytes the store at `path` takes on disk (the file, its WAL and its
  // journal segments); 0 if absent. Any thread; reads no store.
  static int64_t StoreDiskBytes(const std::string& path) {
    return CheckpointStore::DiskBytes(path) + Journal::DiskBytes(JournalBase(path, std::nullopt));
  }

  // One turn, committed on its own. A result that is not ok() left no
  // trace; a failed commit is reported as kHostError. A bare body has no
  // record to journal: in journal mode it is refused (run a recorded input,
  // e.g. RunBatch({MakeTurn(ShellRecord(source, name))}), instead).
  TurnResult Turn(const PersistentIsolate::TurnBody& body);

  // Runs `body` against the current heap and discards every effect. In
  // journal mode it runs in a scratch isolate (restored from the newest
  // snapshot plus the replay of the commits after it, then dropped), so the
  // live isolate is not disturbed.
  TurnResult Evaluate(const PersistentIsolate::TurnBody& body);
  // For Ken's own read-only bodies (dispatcher.h: ObserveBody without
  // taking, PendingRepliesBody), which leave the heap as it was: runs `body`
  // in the live isolate. In snapshot mode the same as Evaluate.
  TurnResult Peek(const PersistentIsolate::TurnBody& body);

  // The durability mode in use ("snapshot" or "journal").
  std::string durability() const { return durability_->Name(); }
  // Journal mode: the snapshotter's progress (zeros otherwise).
  Snapshotter::Stats snapshotter_stats() const;
  // Journal mode, any thread but only while the node lives: writes a
  // snapshot of every commit so far and waits until it is durable.
  absl::Status SnapshotNow();
  // Turn loop, between batches: takes in the snapshotter's newest snapshot
  // (the isolate restores from it next) and, in journal mode, waits while
  // the journal after the newest snapshot is at journal_max_commits.
  void Maintain();

  PersistentIsolate& isolate() { return *isolate_; }
  CheckpointStore& store() { return *store_; }
  Channels* channels() { return channels_.get(); }  // nullptr outside a cluster
  bool created() const { return created_; }         // this Open made the store
  int64_t checkpoint_seq() const { return seq_; }   // newest committed checkpoint
  int64_t next_turn() const { return seq_ + 1; }
  const v1::NodeState& state() const { return state_; }  // as last committed
  // Marks the program (the config's script) as loaded in the next batch's
  // commit, if a turn of that batch succeeds.
  void SetProgramLoaded() { program_loaded_pending_ = true; }
  bool program_loaded() const { return state_.program_loaded(); }

  // If the channels found that this store went back in time (restored from
  // a copy), gives the store a new incarnation (durably) so that every peer
  // refuses its channels loudly, and returns true. Turn loop only.
  // Errors: the store's (the request stays and is retried).
  absl::StatusOr<bool> ReincarnateIfWentBack();

 private:
  Node() = default;
  absl::Status Send(const std::string& dst, std::string payload);
  // require's file reads (module_files.h): from disk in a turn that loads a
  // program, refused otherwise; recorded in journal mode, answered from the
  // record during a replay.
  absl::StatusOr<NativeHost::ModuleFile> ReadModule(const std::string& path);
  // Opening a heap whose built-ins are older than this Ken's upgrades them
  // in one committed turn (js_api/natives.h, UpgradeBuiltins).
  void UpgradeBuiltinsIfOlder();
  // A checkpoint with this node's engine, native table and built-ins.
  Checkpoint NewCheckpoint() const;
  // Whether the committed heap and state could be committed again (within
  // max_checkpoint_bytes, its before-checkpoint hooks run): when they
  // cannot, no input is to blame for a failing commit.
  absl::Status CheckCommittedHeap();
  // The commit path, on inputs[idx...] (see "Poison inputs").
  absl::Status RunGroup(const std::vector<TurnInput>& inputs, const std::vector<size_t>& idx,
                        const TurnInput* observe, BatchResult* out);
  // Runs one turn body in the live isolate (kKeep); in journal mode also
  // records what each ken.send answered and the digest of its outputs.
  struct Recording {
    std::vector<v1::SendOutcome> sends;
    std::vector<v1::ModuleRead> module_reads;
    uint32_t digest = 0;
  };
  TurnResult RunRecorded(const PersistentIsolate::TurnBody& body, int64_t clock_ms, Recording* recording);

  static absl::StatusOr<std::unique_ptr<Node>> OpenOnce(const NodeOptions& options);

  // --- journal mode (node_journal.cc) ---
  // Snapshot mode: journal segments left by a conversion from journal mode
  // that stopped half-way are deleted if the newest checkpoint (`seq`)
  // holds them; kDataLoss if they hold commits after it.
  absl::Status DropStaleJournal(int64_t seq);
  void StartSnapshotter(const Checkpoint& base, PersistentIsolate::Blob heap);
  // The journal's options: segment size, read-only, and recording each new
  // segment in the store (store meta journal_segment).
  JournalOptions JournalOpts(const NodeOptions& options);
  // Opens the store's journal and recovers: the newest snapshot, the
  // replay of the commits after it in the live (plain) isolate, the
  // snapshotter started on them. Sets state_, seq_, isolate_ and the outbox
  // rows in `checkpoint`.
  absl::Status OpenJournal(const NodeOptions& options, Durability::Recovered* recovered);
  // IsolateOptions hooks of the live isolate: before a restore, take the
  // snapshotter's snapshot of the last durable commit when that saves
  // replaying; after it, replay tail_.
  void BeforeRestore(PersistentIsolate& host);
  // Takes the newest snapshot the snapshotter wrote, if it is newer than the
  // live isolate's base: rebases onto it and drops the live isolate (the
  // next turn restores it from that snapshot and replays the commits
  // after it), so that the snapshotter may restore from it (V8 shares one
  // read-only heap among the isolates alive at once: docs/engine.md).
  void TakeWrittenSnapshot();
  absl::Status ReplayTail(PersistentIsolate& host);
  // Switches an open node (and its store) to the other mode, in place.
  absl::Status ConvertTo(const std::string& mode, const NodeOptions& options);
  // Runs the durability switch turn if the heap's globals are not set for
  // the mode in use (js_api/durability.js).
  absl::Status EnsureHeapDurability();
  // Runs the actor placement turn if the heap's placement is not `json`
  // (js_api/actors.js); a no-op for "" or built-ins without actors.
  absl::Status EnsureActorPlacement(const std::string& json);
  // Drops the commits of tail_ at or before `seq` (a blob holds them).
  void TrimTail(int64_t seq);
  IsolateOptions LiveIsolateOptions(IsolateOptions base, bool plain);
  // How long a replayed turn may run (ms): it finished once, maybe faster.
  int64_t ReplayTimeoutMs() const;
  // This node's replay options (node id for errors, timeout).
  ReplayOptions ReplayOpts(bool accept_divergence) const;
  // Journal mode from now on: `journal` behind durability_, and the live
  // isolate's replayer.
  void UseJournal(std::unique_ptr<Journal> journal);
  // A batch whose commits may still be in flight.
  struct PendingBatch {
    BatchResult result;
    std::function<void(BatchResult)> done;
    int writes = 0;        // store writes issued and not yet completed
    bool issuing = true;   // RunBatchAsync still running its groups
  };
  // One store write in flight (at most one at a time).
  struct Write {
    Checkpoint checkpoint;
    PersistentIsolate::Blob blob;
    ChannelBatch batch;
    v1::NodeState next;
    OutboxChanges outbox;     // rows it adds and drops
    std::map<std::string, uint64_t> acked;  // what `outbox` drops, per destination
    std::vector<size_t> idx;  // its group's inputs
    std::shared_ptr<v1::JournalCommit> commit;  // journal mode: its record
    std::optional<std::string> observed;
    std::shared_ptr<PendingBatch> owner;
    std::chrono::steady_clock::time_point started;
    std::future<absl::Status> done;
  };
  // Completes the write in flight: on success its effects become the
  // committed state and its outputs are released; on failure its turns
  // fail and the heap and state go back to the durable ones.
  absl::Status WaitForWrite();
  void FinishBatch(const std::shared_ptr<PendingBatch>& batch);

  SteadyClock clock_;
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<Durability> durability_;  // the mode: snapshot (durability.h)
  std::unique_ptr<Channels> channels_;
  std::unique_ptr<PersistentIsolate> isolate_;
  ChannelBatch* batch_ = nullptr;  // the batch being run, for ken.send
  v1::NodeState state_;
  bool program_loaded_pending_ = false;
  bool created_ = false;
  int64_t seq_ = 0;
  int64_t max_checkpoint_bytes_ = 0;
  bool reincarnated_ = false;
  absl::Status fatal_;
  std::unique_ptr<Write> writing_;
  std::shared_ptr<PendingBatch> current_;   // the batch RunBatchAsync is running
  PersistentIsolate::Blob durable_blob_;    // the heap of the newest durable checkpoint
  v1::NodeState pending_state_;             // state_ plus the write in flight: the base of the next
  std::map<std::string, uint64_t> acked_written_;  // per destination: outbox rows dropped through this seq
  int builtins_version_ = 0;                // of the heap (js_api/natives.h)
  // Per RunBatch: which inputs (by index) failed, whose fallback failed.
  std::vector<bool> run_failed_;
  std::vector<bool> run_fallback_failed_;
  // Per input whose fallback needs the body's error (TurnInput::with_failure):
  // the input made from that error, once the body failed.
  std::vector<std::optional<TurnInput>> run_failure_input_;
  std::vector<Recording> run_recording_;     // of each input's last run (journal mode)
  Recording* recording_ = nullptr;           // of the turn being run, if recorded
  bool loads_modules_ = false;               // the turn being run may read module files
  OutputDigest recording_digest_;
  // Journal mode.
  NodeOptions options_;                      // as opened (for conversions and scratch isolates)
  std::unique_ptr<Snapshotter> snapshotter_;
  std::unique_ptr<Replayer> replayer_;       // the live isolate's replays
  // Commits after the live isolate's blob (base_seq_), durable ones and the
  // one in flight: what a restore replays.
  std::vector<std::shared_ptr<const v1::JournalCommit>> tail_;
  int64_t base_seq_ = 0;
  std::string journal_base_;                 // JournalBase() of this store
  IsolateOptions isolate_options_;           // of the live isolate (node id, peers, send, console)
  std::vector<int64_t> run_clock_;
  long blamed_ = -1;
  std::function<absl::Status()> before_store_commit_;  // the input last found uncommittable, until its group commits
  bool run_observe_failed_ = false;
  bool run_committed_checked_ = false;
};

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_NODE_H_
