// Replaying journal records (durability mode `journal`, durability.h): the
// turns of a committed JournalCommit run again, in order, in an isolate whose
// heap is the one they first ran on, so that the isolate ends with the heap
// they left. Used by recovery and by rebuilding the live isolate after an
// abort (a plain isolate restored from a snapshot), and by the snapshotter
// (a snapshot-creating isolate). A replayed turn sees what it saw the first
// time: its input, its clock (TurnInput.clock_ms) and what each ken.send
// host call answered (JournalTurn.sends); Math.random comes from the heap.
// Its outputs (the turn's result and each send's destination and payload)
// are digested and compared with the recorded digest: a difference is a
// determinism violation (README, "Journal mode").
//
// Threading: a Replayer belongs to the thread of the isolate it replays into.
#ifndef KEN_RUNTIME_NODE_REPLAY_H_
#define KEN_RUNTIME_NODE_REPLAY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/journal.pb.h"
#include "proto/state.pb.h"
#include "runtime/isolate/persistent_isolate.h"

namespace ken {

// CRC-32 (zlib) over a turn's outputs: each send's destination and payload
// in order, then the turn's result (TurnResult::output).
class OutputDigest {
 public:
  void AddSend(const std::string& dst, const std::string& payload);
  uint32_t Finish(const std::string& output) const;

 private:
  uint32_t crc_ = 0;
};

struct ReplayOptions {
  std::string node_id;      // for error messages ("" for the shell)
  // A replayed turn may take this long (ms): it finished once, possibly in
  // a faster tier (a snapshot-creating isolate has no TurboFan).
  int64_t timeout_ms = 60000;
  // A digest that differs is logged and replay goes on with the replayed
  // heap (the operator's choice; README), instead of failing.
  bool accept_divergence = false;
};

class Replayer {
 public:
  explicit Replayer(ReplayOptions options) : options_(std::move(options)) {}

  // Whether a recorded turn is being replayed (the host's ken.send must
  // then go to Send below, not to the channels).
  bool active() const { return turn_ != nullptr; }

  // ken.send during a replayed turn: answers what the first run was
  // answered (an error: the text it threw), and digests the send.
  absl::Status Send(const std::string& dst, const std::string& payload);

  // A require file read during a replayed turn: what the first run was
  // answered (JournalTurn.module_reads), never the disk. A read the first
  // run did not make, or of another path, is an error thrown into the turn
  // (which then fails: a determinism violation).
  absl::StatusOr<NativeHost::ModuleFile> ReadModule(const std::string& path);

  // Replays every turn of `commit` in `isolate` (TurnMode::kKeep). Errors:
  // kDataLoss for a determinism violation (naming the node, the commit, the
  // turn and its input kind; a turn that fails now although it finished, a
  // different digest, or other sends) — with accept_divergence only a turn
  // that fails is an error (the heap would lack its effects); kInternal when the isolate cannot be restored.
  absl::Status Replay(PersistentIsolate& isolate, const v1::JournalCommit& commit);

  // Turns replayed so far, and how many diverged (accept_divergence).
  int64_t replayed_turns() const { return replayed_; }
  int64_t divergences() const { return divergences_; }

 private:
  absl::Status Diverged(const v1::JournalCommit& commit, int index, const std::string& what, bool failed);

  ReplayOptions options_;
  const v1::JournalTurn* turn_ = nullptr;  // being replayed
  int next_send_ = 0;
  int next_read_ = 0;
  bool extra_send_ = false;  // more sends than recorded
  OutputDigest digest_;
  int64_t replayed_ = 0;
  int64_t divergences_ = 0;
};

// How many dead letters the node state keeps (the newest), and within what
// budget (bytes of serialized dead letters), so that they can never make
// the state too big to commit.
inline constexpr int kRetainedDeadLetters = 100;
inline constexpr size_t kDeadLetterBudgetBytes = 8 << 20;
// Drops the oldest dead letters of `state` beyond those limits.
void TrimDeadLetters(v1::NodeState* state);

// The node state after `commit`, from the state before it: the commit's
// state (which holds no dead letters) with the earlier dead letters and the
// commit's new ones, trimmed.
void ApplyCommitState(v1::NodeState* state, const v1::JournalCommit& commit);

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_REPLAY_H_
