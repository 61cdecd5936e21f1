// One input of a batch of turns (runtime/node/node.h): the runnable body
// and what the commit path needs to know about it. runtime/turn/dispatcher.h
// makes one from a turn input as data (proto/turn.proto).
#ifndef KEN_RUNTIME_TURN_TURN_INPUT_H_
#define KEN_RUNTIME_TURN_TURN_INPUT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "proto/turn.pb.h"
#include "runtime/isolate/persistent_isolate.h"

namespace ken {

// One input of a batch. `body` may run more than once (node.h: a batch is re-run after an abort).
struct TurnInput {
  std::string description;                 // for dead letters, e.g. "message ping->pong #3"
  PersistentIsolate::TurnBody body;
  std::optional<std::string> delivered_src;  // a message delivery: its channel and seq
  uint64_t delivered_seq = 0;
  // Runs in place of `body` once `body` has failed (e.g. a timer whose
  // callback threw is still consumed). Must not throw; may be empty.
  PersistentIsolate::TurnBody on_failure;
  // Set when the fallback needs to know why `body` failed (a call's error
  // reply): given TurnResult::error, the input whose on_failure runs instead
  // and whose record is journaled for that fallback turn.
  std::function<TurnInput(const std::string& error)> with_failure;
  // A failure is kept as a dead letter (messages, timers); other inputs
  // answer their caller with the error instead (HTTP, eval, shell).
  bool dead_letter = false;
  // The wall clock the turn sees (ms since the epoch), fixed for the whole
  // turn and for every re-run of it; 0: the time its batch starts.
  int64_t clock_ms = 0;
  // The input as data (runtime/turn/dispatcher.h makes `body` from it);
  // kept with a dead letter so it can be retried. Empty for internal turns.
  v1::TurnInput record;
};

}  // namespace ken

#endif  // KEN_RUNTIME_TURN_TURN_INPUT_H_
