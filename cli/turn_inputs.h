// The inputs of a `ken run` node's turns (DESIGN.md, "turn"): the script,
// a delivered message, an admin eval, an HTTP request, a timer firing. Each
// builds a TurnInput whose body enters JS through the built-in hooks in
// `internals` (js_api/*.js).
#ifndef KEN_CLI_TURN_INPUTS_H_
#define KEN_CLI_TURN_INPUTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/http_frontend.h"
#include "proto/ken.pb.h"
#include "runtime/node/node.h"

namespace ken {

// The config's script, run once as the first turn of a new store.
TurnInput ScriptInput(const std::string& path, const std::string& source);

// A message: deserialized, handed to the ken.receive handler.
TurnInput DeliveryInput(const v1::Envelope& envelope);

// An admin eval: the output is JSON of the value when it has one.
TurnInput EvalInput(const std::string& source);

// An HTTP request: the output is the response as JSON text
// {"statusCode", "headers", "body"} (see js_api/http.js).
TurnInput HttpInput(const HttpRequest& request);

// Fires timer `id` for its due time `due_ms`; if the callback throws, the
// fallback still consumes that due time.
TurnInput TimerInput(int64_t id, int64_t due_ms);

// Observes the heap after a batch: output is JSON [[id, due_ms], ...] of the
// earliest `max` timers.
PersistentIsolate::TurnBody UpcomingTimersBody(int max);

// Parses UpcomingTimersBody's output; empty on malformed input.
std::vector<std::pair<int64_t, int64_t>> ParseUpcomingTimers(const std::string& json);

// Turns a finished HTTP turn into the response to send. A turn that threw
// or left what cannot be committed gets 500 with a short error id (the
// details go to the log with that id); one that timed out or reached the
// heap limit, or whose commit failed (disk full), 503.
HttpResponse ToHttpResponse(const TurnResult& result);

}  // namespace ken

#endif  // KEN_CLI_TURN_INPUTS_H_
