// A node's durable core: its checkpoint store, its persistent isolate and
// (in a cluster) its channels, joined by the commit path.
//
// The commit path. RunBatch() runs a group of turns in one isolate, then
// snapshots the heap once and commits it with the runtime state (outbox,
// delivery marks, counters) in one store transaction (fsync'd). Only then
// are the batch's effects released: its sends join the outbox and its
// deliveries become ackable (Channels::CommitBatch). Nothing a turn produces
// leaves the node before the commit that contains it is durable (DESIGN.md,
// output commit). Turns arriving while a batch commits form the next batch
// (group commit).
//
// Abort inside a batch. A turn that throws, times out or hits the heap
// limit makes the isolate unusable, and it holds the earlier turns of the
// batch too. The batch is then re-run from the last committed heap without
// the failed input (nothing of the first run has left the node, so the
// re-run is as if it were the only run); the failed input is recorded as a
// dead letter and, for a message, still counts as delivered, so it is not
// retried forever (DESIGN.md, turn semantics 1).
//
// Threading: one thread (the turn loop) owns a Node. channels() may be used
// from any thread.
#ifndef KEN_RUNTIME_NODE_NODE_H_
#define KEN_RUNTIME_NODE_NODE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messaging/channels.h"
#include "messaging/clock.h"
#include "proto/state.pb.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/store/checkpoint_store.h"

namespace ken {

struct NodeOptions {
  std::string store_path;
  bool read_only = false;         // inspect: no lock, never writes
  bool create_if_missing = true;  // ignored when read_only
  IsolateOptions isolate;         // node_id/peers/send are filled in by Node
  // Cluster membership; empty node_id: a standalone node (the shell).
  std::string node_id;
  std::vector<std::string> peers;
  ChannelOptions channels;
};

// One input of a batch. `body` may run more than once (see re-run above).
struct TurnInput {
  std::string description;                 // for dead letters, e.g. "message ping->pong #3"
  PersistentIsolate::TurnBody body;
  std::optional<std::string> delivered_src;  // a message delivery: its channel and seq
  uint64_t delivered_seq = 0;
  // Runs in place of `body` once `body` has failed (e.g. a timer whose
  // callback threw is still consumed). Must not throw; may be empty.
  PersistentIsolate::TurnBody on_failure;
};

struct BatchResult {
  std::vector<TurnResult> results;  // one per input, in order
  absl::Status commit;              // not ok: nothing of the batch took effect
  // Output of the `observe` body, run after the inputs on the batch's final
  // heap; nullopt when it did not run (no turn succeeded) or failed.
  std::optional<std::string> observed;
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

  // Runs `inputs` as one batch of turns and commits it (see above).
  // `observe`, if given, runs after them in the same heap (its effects are
  // committed too; keep it read-only), e.g. to learn the next timer due.
  BatchResult RunBatch(const std::vector<TurnInput>& inputs,
                       const PersistentIsolate::TurnBody* observe = nullptr);

  // One turn, committed on its own (the shell). A result that is not ok()
  // left no trace; a failed commit is reported as kHostError.
  TurnResult Turn(const PersistentIsolate::TurnBody& body);

  // Runs `body` against the current heap and discards every effect.
  TurnResult Evaluate(const PersistentIsolate::TurnBody& body);

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

 private:
  Node() = default;
  absl::Status Send(const std::string& dst, std::string payload);

  SteadyClock clock_;
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<Channels> channels_;
  std::unique_ptr<PersistentIsolate> isolate_;
  ChannelBatch* batch_ = nullptr;  // the batch being run, for ken.send
  v1::NodeState state_;
  bool program_loaded_pending_ = false;
  bool created_ = false;
  int64_t seq_ = 0;
};

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_NODE_H_
