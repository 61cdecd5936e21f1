// A node's durable core: its checkpoint store plus its persistent isolate,
// joined by the commit path. Turn() runs one turn, commits the resulting
// heap snapshot to the store (fsync'd), and only then makes it current and
// returns the turn's output: nothing a turn produces leaves the node before
// the commit that contains it is durable (DESIGN.md, output commit).
//
// Threading: one thread (the turn loop) owns a Node.
#ifndef KEN_RUNTIME_NODE_NODE_H_
#define KEN_RUNTIME_NODE_NODE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/store/checkpoint_store.h"

namespace ken {

struct NodeOptions {
  std::string store_path;
  bool read_only = false;         // inspect: no lock, never writes
  bool create_if_missing = true;  // ignored when read_only
  IsolateOptions isolate;
};

class Node {
 public:
  // Opens the store at options.store_path (creating it with a fresh heap when
  // it does not exist and create_if_missing) and restores its newest valid
  // checkpoint. Errors carry the store path and the reason: kNotFound (no
  // store, not creating), kDataLoss (not a Ken store / no valid checkpoint),
  // kFailedPrecondition (locked by pid N; written by another V8 version),
  // kPermissionDenied. InitializeV8 must have run.
  static absl::StatusOr<std::unique_ptr<Node>> Open(NodeOptions options);

  // Runs `body` as one turn and commits it. A result that is not ok() left
  // no trace in the heap or the store; a failed commit is reported as
  // kHostError with the store's reason, and the heap stays as it was.
  TurnResult Turn(const PersistentIsolate::TurnBody& body);

  // Runs `body` against the current heap and discards every effect.
  TurnResult Evaluate(const PersistentIsolate::TurnBody& body);

  PersistentIsolate& isolate() { return *isolate_; }
  CheckpointStore& store() { return *store_; }
  bool created() const { return created_; }      // this Open made the store
  int64_t checkpoint_seq() const { return seq_; }  // newest committed checkpoint
  int64_t next_turn() const { return seq_ + 1; }

 private:
  Node() = default;
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<PersistentIsolate> isolate_;
  bool created_ = false;
  int64_t seq_ = 0;
};

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_NODE_H_
