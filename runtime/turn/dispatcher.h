// The one dispatcher: turns a turn input (data, proto/turn.proto) into the
// JS call that runs it, through the built-in hooks in `internals`
// (js_api/*.js). Every kind of input a node runs comes through here: a
// delivered message, an HTTP request, a timer firing, a shell line, an
// admin eval, the program's first load, a built-ins upgrade.
//
// Outputs. A turn's output (TurnResult::output) is, for HTTP requests and
// evals, a serialized v1::TurnOutput: the response or the value, or
// `pending` when the handler's promise has not settled by the end of the
// turn; a later turn settles it and the observation after that batch
// (ObserveBody) reports it as a SettledReply. For shell lines the output is
// the printed value (text).
//
// Threading: bodies run on the turn thread, inside a turn.
#ifndef KEN_RUNTIME_TURN_DISPATCHER_H_
#define KEN_RUNTIME_TURN_DISPATCHER_H_

#include <cstdint>
#include <string>

#include "proto/turn.pb.h"
#include "runtime/turn/turn_input.h"

namespace ken {

// The runnable turn for `record`: description, body, fallback (a timer is
// consumed even when its callback throws), delivery mark, dead-letter
// policy (messages and timers), clock. `record` is kept in the result.
TurnInput MakeTurn(v1::TurnInput record);

// E.g. "message a->b #3", "http GET /x", "timer #4 due at 1700000000000".
std::string Describe(const v1::TurnInput& record);

// Convenience constructors of records.
v1::TurnInput DeliveryRecord(const v1::Envelope& envelope);
v1::TurnInput TimerRecord(int64_t id, int64_t due_ms);
v1::TurnInput HttpRecord(v1::HttpRequest request, uint64_t reply_id);
v1::TurnInput EvalRecord(const std::string& source, uint64_t reply_id);
// `main_module`: what the input's `require` resolves from (the absolute
// file of a .load, "<working folder>/[repl]" for a typed line; "": none).
v1::TurnInput ShellRecord(const std::string& source, const std::string& name, const std::string& main_module = "");
// `path` is made absolute (against the working folder).
v1::TurnInput ProgramRecord(const std::string& path, const std::string& source);

// The body run after each batch, on the batch's final heap and in its
// commit: a serialized v1::BatchObservation (the earliest `max_timers`
// timers; the replies the batch settled, taken out of the heap's table
// when `take_settled`, else left there and not reported: read-only).
PersistentIsolate::TurnBody ObserveBody(int max_timers, bool take_settled = true);
// The same as an input (kind `observe`), for Node::RunBatchAsync.
v1::TurnInput ObserveRecord(int max_timers, bool take_settled = true);

// Read-only bodies for `ken inspect`: an expression's value (JSON when it
// says all, else as the shell prints it), and the globals the program
// defined ("name: value" lines).
PersistentIsolate::TurnBody InspectBody(const std::string& expression);
PersistentIsolate::TurnBody ListGlobalsBody();

// How many replies the heap's table holds (as text; "0" if it has none).
PersistentIsolate::TurnBody PendingRepliesBody();

// Forgets replies nobody waits for any more (ids; all if empty), as a turn.
TurnInput ForgetRepliesTurn(std::vector<uint64_t> ids);

// The TurnOutput of a finished turn (empty if the output is not one).
v1::TurnOutput DecodeOutput(const TurnResult& result);

// The response to send for an HTTP turn. A turn that threw or left what
// cannot be committed, or whose handler's promise rejected (that turn
// committed: TurnOutput.rejected), gets 500 with a short error id (the
// details go to the log with that id); one that timed out or reached the heap limit, or whose
// commit failed (disk full), 503. `result` must not be pending.
v1::HttpResponse HttpResponseFor(const TurnResult& result);
// The same for a reply a later turn settled.
v1::HttpResponse HttpResponseFor(const v1::SettledReply& settled);

}  // namespace ken

#endif  // KEN_RUNTIME_TURN_DISPATCHER_H_
