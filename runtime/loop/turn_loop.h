// The turn loop: the one loop that drives a node, for `ken run` and
// `ken shell` alike. It takes what is ready — submitted inputs (HTTP
// requests, admin evals, shell lines), due timers, deliverable messages —
// runs them as one batch of turns with one commit (group commit), and
// releases each output through the output gate only once the commit that
// holds its turn is durable (docs/guarantees.md, "Commits": output gate).
//
// Pipelining. A batch's store write (fsync) runs while the next batch's
// turns run on its heap (Node::RunBatchAsync): batch N+1's outputs wait for
// N+1's own commit, written after N's; if N's write fails, N+1 is run again
// on the last durable heap.
//
// The output gate. Each input's answer (`done`) is called after its turn's
// commit is durable. An answer may also be completed by a later turn: an
// HTTP handler or eval whose promise is still pending when its turn ends
// (TurnOutput.pending) is held, by reply id, until a later batch settles it
// (BatchObservation.settled); it is released with that batch's commit. A
// caller that stops waiting (its timeout answered the client) Abandons the
// reply: a late completion is then dropped and counted, and the heap
// forgets it. Replies pending in a heap from before a restart are forgotten
// at the first batch (nobody waits for them any more).
//
// Threading: Step, Drain, Close and MsUntilNextTimer on the loop thread (the
// node's turn thread); Submit, NewReplyId, Abandon and Wake from any thread.
// `done` callbacks run on the loop thread.
#ifndef KEN_RUNTIME_LOOP_TURN_LOOP_H_
#define KEN_RUNTIME_LOOP_TURN_LOOP_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/claim.h"
#include "base/notifier.h"
#include "proto/turn.pb.h"
#include "runtime/node/node.h"

namespace ken {

// An input submitted to the loop, and who to tell.
struct LoopInput {
  v1::TurnInput record;  // clock_ms is assigned when it first runs
  // The loop Takes it before running it; a caller whose Abandon wins
  // answers its client itself ("not run"), and the input never runs.
  Claim claim;
  // Called once, on the loop thread, with the turn's result after its
  // commit is durable or failed — or, for a reply a later turn completes,
  // after that turn's commit — unless the caller abandoned the reply.
  std::function<void(const TurnResult& result)> done;
};

struct TurnLoopOptions {
  size_t max_batch = 256;        // inputs of each kind per batch
  int upcoming_timers = 64;      // timers the loop keeps track of
  // Group commit under load: when far fewer inputs are waiting than the
  // last batch had, wait up to this long for the rest (the clients' next
  // requests after that batch's answers). 0: never wait.
  int64_t linger_ms = 5;
  // After each batch's commit is durable (publish status, wake senders).
  std::function<void()> on_commit;
  // For each promise a committed turn rejected and left without a handler
  // (TurnResult::unhandled_rejections): the turn's input (its description,
  // e.g. "timer 3") and "Uncaught <reason>". Called on the loop's thread
  // after the batch's commit is durable, after its callers' `done`.
  std::function<void(const std::string& input, const std::string& text)> on_unhandled_rejection;
};

class TurnLoop {
 public:
  TurnLoop(Node& node, TurnLoopOptions options);
  TurnLoop(const TurnLoop&) = delete;
  TurnLoop& operator=(const TurnLoop&) = delete;

  // --- any thread ---
  // Queues an input; false once the loop is closed.
  bool Submit(std::shared_ptr<LoopInput> input);
  // An id for a record's reply_id (HTTP requests, evals).
  uint64_t NewReplyId() { return next_reply_id_++; }
  // The caller no longer waits for reply `reply_id`.
  void Abandon(uint64_t reply_id);
  void Wake() { wake_.Notify(); }
  uint64_t late_replies() const { return late_replies_; }

  // --- loop thread ---
  // Runs one batch of what is ready, pipelined with the previous batch's
  // commit. When nothing is ready it completes the write in flight, then
  // waits until something is submitted, a timer is due, or `max_wait_ms`
  // passes. Returns whether it ran a batch.
  bool Step(int64_t max_wait_ms);
  // Completes the write in flight and releases its outputs.
  void Drain();
  // Milliseconds until the soonest timer is due (0 if overdue), -1 if none.
  int64_t MsUntilNextTimer() const;
  // Stops taking inputs; those queued are answered `why` (not run).
  void Close(const std::string& why);
  // Whether a timer is due now.
  bool TimerDue() const { return MsUntilNextTimer() == 0; }
  Node& node() { return node_; }

 private:
  std::vector<std::shared_ptr<LoopInput>> TakeQueued(size_t max);
  void Release(const std::vector<std::shared_ptr<LoopInput>>& owners,
               const std::vector<std::pair<int64_t, int64_t>>& timers, const std::vector<std::string>& descriptions,
               BatchResult result);
  void ReadTimersFromHeap();

  Node& node_;
  TurnLoopOptions options_;
  TurnInput observe_;  // the observation after each batch (dispatcher.h, ObserveRecord)
  Notifier wake_;
  std::mutex mu_;
  std::deque<std::shared_ptr<LoopInput>> queue_;  // guarded by mu_
  bool closed_ = false;                            // guarded by mu_
  std::set<uint64_t> abandoned_;                   // guarded by mu_
  std::atomic<uint64_t> next_reply_id_{1};
  std::atomic<uint64_t> late_replies_{0};
  // Loop thread only.
  std::map<uint64_t, std::shared_ptr<LoopInput>> waiting_;  // replies pending after their turn
  std::vector<std::pair<int64_t, int64_t>> upcoming_;        // timers [id, due_ms], soonest first
  std::set<std::pair<int64_t, int64_t>> firing_;            // taken by a batch not yet durable
  bool forget_old_replies_ = false;
  size_t last_batch_ = 0;
};

}  // namespace ken

#endif  // KEN_RUNTIME_LOOP_TURN_LOOP_H_
