// The snapshotter of durability mode `journal` (durability.h): on a thread
// of its own, it keeps a snapshot-creating isolate caught up with the
// node's durable commits by replaying their journal records (outputs
// suppressed, digests checked: replay.h), and every so often (commits,
// journal bytes or time: SnapshotterOptions) turns it into a V8 snapshot
// that it writes to the store as a checkpoint, with the state and the
// outbox changes of the commits it holds. The journal segments before the
// oldest checkpoint the store keeps are then deleted, so the journal, and
// recovery time, stay bounded.
//
// It replays at interpreter speed (V8 disables TurboFan in an isolate set
// up for serialization), so under sustained load it can fall behind the
// live isolate; the node throttles itself when the journal after the
// newest snapshot reaches max_journal_commits (node.h).
//
// It also serves the live isolate's rebuild after an aborted turn
// (BlobThrough): once caught up, a snapshot of its isolate is the heap as
// of the last durable commit, which a plain isolate restores in a few ms.
//
// Threading: Push, BlobThrough, SnapshotNow, TakeWritten, health and stats
// from any thread (the node's turn thread); the work runs on the
// snapshotter's own thread.
#ifndef KEN_RUNTIME_NODE_SNAPSHOTTER_H_
#define KEN_RUNTIME_NODE_SNAPSHOTTER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/journal.pb.h"
#include "proto/state.pb.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/node/replay.h"
#include "store/checkpoint_store.h"
#include "store/journal.h"

namespace ken {

struct SnapshotterOptions {
  // A snapshot is written once any of these is reached since the last one
  // (and at least one commit is not in a snapshot yet).
  int64_t every_commits = 10000;
  int64_t every_bytes = 64ll << 20;  // of journal records
  int64_t every_ms = 60000;
  // A snapshot whose heap and state would be larger (bytes) is not written
  // (health() says why); as NodeOptions::max_checkpoint_bytes.
  int64_t max_checkpoint_bytes = 768ll << 20;
  // For the snapshotter's isolate: node id, peers, turn timeout (for the
  // before-checkpoint hooks). Its console and ken.send are its own.
  IsolateOptions isolate;
  ReplayOptions replay;
};

class Snapshotter {
 public:
  // Starts the thread on `base`: the newest checkpoint of `store` (its
  // heap, seq and full state, dead letters included), which the journal
  // continues. `store` and `journal` are not owned and must outlive it.
  Snapshotter(CheckpointStore* store, Journal* journal, const Checkpoint& base, PersistentIsolate::Blob heap,
              SnapshotterOptions options);
  ~Snapshotter();  // stops the thread (a snapshot being written is finished first)
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // A commit that is durable in the journal, in seq order.
  void Push(std::shared_ptr<const v1::JournalCommit> commit);

  // A snapshot blob of the heap as of commit `seq` (the last pushed; or
  // the base seq), made as soon as the replay reaches it; returns the seq
  // it holds with it. Errors: health() once a replay failed; kCancelled
  // when stopping.
  struct At {
    int64_t seq = 0;
    PersistentIsolate::Blob heap;
  };
  absl::StatusOr<At> BlobThrough(int64_t seq);

  // Writes a snapshot holding every commit pushed so far (if any is not in
  // one yet) and waits until it is durable. While it waits, `service` (if
  // set) is called on the caller's thread whenever the snapshotter waits for
  // LiveRebased (the caller takes TakeWritten there). Errors: health(), the
  // store's.
  absl::Status SnapshotNow(const std::function<void()>& service = {});

  // The node's live isolate now restores from `heap` (a blob this
  // snapshotter made, or its base), and no isolate of an older blob of the
  // node is alive: the snapshotter may restore its own isolate from `heap`.
  // It never restores from another blob before (it waits): V8 10.2 shares
  // one read-only heap among the isolates alive at once, set up from the
  // blob of the first of them, and a blob made later by a SnapshotCreator
  // refers to read-only objects through its own read-only object cache,
  // which that shared heap does not have; restoring it beside an isolate of
  // an older blob crashes in V8's deserializer (docs/engine.md). Any thread.
  void LiveRebased(const PersistentIsolate::Blob& heap);

  // The newest snapshot written to the store since the last call, if any.
  std::optional<At> TakeWritten();

  // Ok while replays match; else the determinism violation (kDataLoss) or
  // the repeated failure that stops snapshots.
  absl::Status health() const;

  struct Stats {
    int64_t replayed_seq = 0;    // newest commit replayed
    int64_t written_seq = 0;     // newest commit in a written snapshot
    int64_t snapshots = 0;       // written since start
    int64_t replayed_turns = 0;
    double replay_ms = 0;        // time spent replaying, total
    double last_snapshot_ms = 0; // the last snapshot: CreateBlob + store write
    int64_t last_snapshot_bytes = 0;
    std::string last_error;      // of the last snapshot attempt that failed
  };
  Stats stats() const;

 private:
  void Loop();
  absl::Status ReplayOne(const std::shared_ptr<const v1::JournalCommit>& commit);  // thread only
  // Snapshots the isolate; `write`: also into the store. Thread only; mu_ not held.
  absl::StatusOr<At> MakeSnapshot(bool write);
  bool Due() const;  // mu_ held
  // The isolate's before_restore: waits until it may restore from `host`'s
  // blob (LiveRebased, or the live isolate being rebuilt from a BlobThrough).
  absl::Status WaitForLive(PersistentIsolate& host);  // thread only; mu_ not held

  CheckpointStore* store_;
  Journal* journal_;
  const SnapshotterOptions options_;
  Replayer replayer_;
  std::unique_ptr<PersistentIsolate> isolate_;  // thread only
  Checkpoint meta_;                             // engine, natives, builtins of the next snapshot
  v1::NodeState state_;                         // as of replayed_seq_, dead letters included (thread only)
  OutboxChanges outbox_;                        // of the commits replayed since the last written snapshot
  std::map<std::string, uint64_t> acked_;      // per destination, in outbox_
  // Commits replayed since the isolate's blob (thread only): replayed again
  // when a snapshot attempt fails (it consumes the isolate).
  std::vector<std::shared_ptr<const v1::JournalCommit>> since_blob_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const v1::JournalCommit>> queue_;
  int64_t pushed_seq_ = 0;
  int64_t replayed_seq_ = 0;
  int64_t written_seq_ = 0;
  int64_t blob_wanted_ = -1;      // a BlobThrough waiting for this seq
  std::optional<At> blob_made_;   // for it
  absl::Status blob_error_;       // or why it could not be made
  int64_t snapshot_wanted_ = 0;   // SnapshotNow: write one through this seq
  absl::Status snapshot_result_;
  int64_t snapshot_done_ = 0;     // the seq the last SnapshotNow-requested write covered
  std::optional<At> written_;
  absl::Status health_;
  Stats stats_;
  int64_t last_snapshot_at_ms_ = 0;  // steady clock
  int64_t failed_at_ms_ = 0;         // last failed snapshot attempt (steady), for backoff
  bool stop_ = false;
  const std::string* live_base_ = nullptr;  // the blob the live isolate restores from (LiveRebased)
  bool waiting_for_live_ = false;           // the thread waits for LiveRebased
  std::thread thread_;
};

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_SNAPSHOTTER_H_
