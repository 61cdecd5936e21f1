#include "runtime/turn/dispatcher.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/form_urlencoded.h"
#include "js_api/natives.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// Calls internals[name](args...); empty on exception.
v8::MaybeLocal<v8::Value> CallHook(const TurnScope& scope, const char* name, int argc, v8::Local<v8::Value>* argv) {
  v8::Local<v8::Value> fn;
  if (!scope.internals->Get(scope.context, V8String(scope.isolate, name)).ToLocal(&fn) || !fn->IsFunction()) {
    scope.isolate->ThrowException(v8::Exception::Error(
        V8String(scope.isolate, absl::StrCat("this heap lacks the built-in hook ", name, " (created by an older ken?)"))));
    return {};
  }
  return fn.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), argc, argv);
}

bool HasHook(const TurnScope& scope, const char* name) {
  v8::Local<v8::Value> fn;
  return scope.internals->Get(scope.context, V8String(scope.isolate, name)).ToLocal(&fn) && fn->IsFunction();
}

// Makes `filename` (absolute) what the global `require` resolves from
// (js_api/modules.js) and runs `source`, the text of that file: as an ES
// module when the loader says the file is one (.mjs, or "type": "module" in
// its package.json: internals.setMainModule returns true), else as a
// classic script. Empty with the exception pending if it threw. A relative
// name (records from before require) or a heap without modules (not
// upgraded yet) runs as a classic script.
v8::MaybeLocal<v8::Value> RunMain(const TurnScope& scope, const std::string& source, const std::string& name,
                                  const std::string& filename) {
  if (!filename.empty() && filename[0] == '/' && HasHook(scope, "setMainModule")) {
    v8::Local<v8::Value> args[] = {V8String(scope.isolate, filename)};
    v8::Local<v8::Value> esm;
    if (!CallHook(scope, "setMainModule", 1, args).ToLocal(&esm)) return {};
    if (esm->IsTrue()) {
      v8::Local<v8::Value> run[] = {V8String(scope.isolate, source), V8String(scope.isolate, filename)};
      return CallHook(scope, "runMainModule", 2, run);
    }
  }
  return EvalScript(scope, source, name);
}

v8::Local<v8::Value> ReplyIdValue(const TurnScope& scope, uint64_t id) {
  return v8::Number::New(scope.isolate, static_cast<double>(id));
}

// Own property `key` of `object` (undefined if absent or on error).
v8::Local<v8::Value> Field(const TurnScope& scope, v8::Local<v8::Object> object, const char* key) {
  v8::Local<v8::Value> v;
  if (!object->Get(scope.context, V8String(scope.isolate, key)).ToLocal(&v)) return v8::Undefined(scope.isolate);
  return v;
}

// internals.httpResponseJson(response) -> the proto. False (with a JS
// exception pending) when the response is malformed or the hook threw.
bool ResponseToProto(const TurnScope& scope, v8::Local<v8::Value> response, v1::HttpResponse* out) {
  v8::Local<v8::Value> args[] = {response};
  v8::Local<v8::Value> json;
  if (!CallHook(scope, "httpResponseJson", 1, args).ToLocal(&json)) return false;
  nlohmann::json r = nlohmann::json::parse(StdString(scope.isolate, json), nullptr, false);
  if (!r.is_object() || !r["statusCode"].is_number_integer() || !r["body"].is_string()) {
    scope.isolate->ThrowException(v8::Exception::Error(V8String(scope.isolate, "malformed HTTP response")));
    return false;
  }
  auto refuse = [&](const std::string& why) {
    scope.isolate->ThrowException(v8::Exception::TypeError(V8String(scope.isolate, why)));
    return false;
  };
  const int status = r["statusCode"].get<int>();
  if (status < 200) return refuse(absl::StrCat("response.statusCode ", status, ": 1xx responses are not supported"));
  out->set_status(status);
  for (auto& [name, value] : r["headers"].items()) {
    if (!value.is_string()) continue;
    // RFC 9110 5.1: a field name is a token; 5.5: a value has no CR, LF or NUL.
    static const std::string kTokenChars =
        "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (name.empty() || name.find_first_not_of(kTokenChars) != std::string::npos) {
      return refuse(absl::StrCat("response header name '", name.substr(0, 100), "' is not an HTTP token"));
    }
    const std::string v = value.get<std::string>();
    if (v.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
      return refuse(absl::StrCat("response header '", name, "' has a CR, LF or NUL in its value"));
    }
    v1::HttpHeader* h = out->add_headers();
    h->set_name(name);
    h->set_value(v);
  }
  out->set_body(r["body"].get<std::string>());
  return true;
}

absl::StatusOr<std::string> Serialize(const v1::TurnOutput& output) { return output.SerializeAsString(); }

// Takes reply `id` from the heap's table after the turn's microtasks: the
// settled entry, null while it is pending, undefined if it was not tracked.
v8::MaybeLocal<v8::Value> TakeReply(const TurnScope& scope, uint64_t id) {
  scope.isolate->PerformMicrotaskCheckpoint();
  if (scope.isolate->IsExecutionTerminating()) return {};
  v8::Local<v8::Value> args[] = {ReplyIdValue(scope, id)};
  return CallHook(scope, "takeReply", 1, args);
}

// A delivered message: internals.deliver(value, from, kind, callId,
// mayHoldRefs); kind and callId from its frame (natives.h, MessageFrame;
// 0 and 0 for a plain message).
absl::StatusOr<std::string> RunDelivery(const TurnScope& scope, const v1::Envelope& e) {
  MessageFrame frame;
  if (!ParseMessageFrame(e.payload(), &frame)) {
    scope.isolate->ThrowException(v8::Exception::Error(
        V8String(scope.isolate, "malformed message: a call or reply frame that cannot be parsed")));
    return absl::AbortedError("threw");
  }
  v8::Local<v8::Value> value;
  if (!DeserializeMessage(scope.isolate, scope.context, frame.body).ToLocal(&value)) {
    return absl::AbortedError("threw");
  }
  // Whether the value may hold actor references to bring back to life
  // (js_api/actors.js): their marker key appears in the bytes (V8 writes
  // an ASCII key as its bytes).
  const bool may_hold_refs = frame.body.find(kActorRefMarker) != std::string_view::npos;
  v8::Local<v8::Value> args[] = {value, V8String(scope.isolate, e.src()),
                                 v8::Integer::New(scope.isolate, static_cast<int>(frame.kind)),
                                 v8::Number::New(scope.isolate, static_cast<double>(frame.call_id)),
                                 v8::Boolean::New(scope.isolate, may_hold_refs)};
  if (CallHook(scope, "deliver", 5, args).IsEmpty()) return absl::AbortedError("threw");
  return std::string();
}

// After the handler of call `e` failed (threw, timed out, reached the heap
// limit): internals.callFailed(from, callId, error) sends the error reply.
absl::StatusOr<std::string> RunCallFailed(const TurnScope& scope, const v1::Envelope& e, uint64_t call_id,
                                          const std::string& error) {
  if (!HasHook(scope, "callFailed")) return std::string();  // a heap from before ken.call: no caller waits
  v8::Local<v8::Value> args[] = {V8String(scope.isolate, e.src()),
                                 v8::Number::New(scope.isolate, static_cast<double>(call_id)),
                                 V8String(scope.isolate, error)};
  if (CallHook(scope, "callFailed", 3, args).IsEmpty()) return absl::AbortedError("threw");
  return std::string();
}

// request.params: the decoded query (base/form_urlencoded.h) as a
// null-prototype object of own data properties; a name given once maps to
// its value, a repeated one to an array of its values in order. Bytes that
// are not UTF-8 become U+FFFD.
v8::Local<v8::Object> QueryParams(const TurnScope& scope, const std::string& query) {
  v8::Isolate* isolate = scope.isolate;
  std::vector<std::pair<std::string, std::vector<v8::Local<v8::Value>>>> grouped;
  for (const auto& field : ParseFormUrlencoded(query)) {
    const std::string& name = field.first;  // (a structured binding cannot be captured in C++17)
    const std::string& value = field.second;
    auto it = std::find_if(grouped.begin(), grouped.end(), [&](const auto& g) { return g.first == name; });
    if (it == grouped.end()) it = grouped.insert(grouped.end(), {name, {}});
    it->second.push_back(V8String(isolate, value));
  }
  v8::Local<v8::Object> params = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  for (auto& [name, values] : grouped) {
    v8::Local<v8::Value> v = values.size() == 1 ? values[0]
                                                : v8::Local<v8::Value>(v8::Array::New(isolate, values.data(), values.size()));
    params->CreateDataProperty(scope.context, V8String(isolate, name), v).Check();
  }
  return params;
}

// "Uncaught " and the formatted rejection of a handler's promise. Formatting
// runs the program's code; if that throws, a placeholder.
std::string RejectionText(const TurnScope& scope, v8::Local<v8::Value> reason) {
  v8::TryCatch try_catch(scope.isolate);
  std::string text = Inspect(scope, reason, true);
  if (try_catch.HasCaught() && !scope.isolate->IsExecutionTerminating()) text = "[a value that could not be formatted]";
  return "Uncaught " + text;
}

absl::StatusOr<std::string> RunHttp(const TurnScope& scope, const v1::HttpRequest& request, uint64_t reply_id) {
  v8::Isolate* isolate = scope.isolate;
  v8::Local<v8::Context> context = scope.context;
  // Own data properties only (CreateDataProperty): a setter or a frozen
  // property that the program put on Object.prototype must not be reached.
  v8::Local<v8::Object> req = v8::Object::New(isolate);
  v8::Local<v8::Object> headers = v8::Object::New(isolate);
  auto put = [&](v8::Local<v8::Object> target, const std::string& key, v8::Local<v8::Value> value) {
    return target->CreateDataProperty(context, V8String(isolate, key), value).FromMaybe(false);
  };
  // Repeated headers are joined as RFC 9110 5.3 allows.
  std::vector<std::pair<std::string, std::string>> joined;
  for (const v1::HttpHeader& h : request.headers()) {
    auto it = std::find_if(joined.begin(), joined.end(), [&](const auto& j) { return j.first == h.name(); });
    if (it == joined.end()) {
      joined.emplace_back(h.name(), h.value());
    } else {
      it->second += ", " + h.value();
    }
  }
  bool ok = true;
  for (const auto& [name, value] : joined) ok = ok && put(headers, name, V8String(isolate, value));
  ok = ok && put(req, "method", V8String(isolate, request.method())) &&
       put(req, "uri", V8String(isolate, request.uri())) && put(req, "path", V8String(isolate, request.path())) &&
       put(req, "query", V8String(isolate, request.query())) && put(req, "params", QueryParams(scope, request.query())) &&
       put(req, "headers", headers) && put(req, "body", V8String(isolate, request.body()));
  if (!ok) return absl::AbortedError("threw");
  v8::Local<v8::Value> id = reply_id != 0 ? ReplyIdValue(scope, reply_id) : v8::Local<v8::Value>(v8::Undefined(isolate));
  v8::Local<v8::Value> args[] = {req, id};
  v8::Local<v8::Value> response;
  if (!CallHook(scope, "httpDispatch", 2, args).ToLocal(&response)) return absl::AbortedError("threw");
  v1::TurnOutput output;
  if (reply_id != 0 && HasHook(scope, "takeReply")) {
    v8::Local<v8::Value> entry;
    if (!TakeReply(scope, reply_id).ToLocal(&entry)) return absl::AbortedError("threw");
    if (entry->IsNull()) {  // the handler's promise is still pending
      output.set_pending(true);
      return Serialize(output);
    }
    if (entry->IsObject() && !Field(scope, entry.As<v8::Object>(), "ok")->BooleanValue(isolate)) {
      // The handler's promise rejected. A rejection is not an abort: the
      // turn commits (as when a later turn rejects it), and the client
      // gets 500 (HttpResponseFor).
      output.set_rejected(RejectionText(scope, Field(scope, entry.As<v8::Object>(), "value")));
      if (isolate->IsExecutionTerminating()) return absl::AbortedError("terminated");
      return Serialize(output);
    }
  } else {
    // Promise reactions of the handler run before the response is read.
    isolate->PerformMicrotaskCheckpoint();
    if (isolate->IsExecutionTerminating()) return absl::AbortedError("terminated");
  }
  if (!ResponseToProto(scope, response, output.mutable_http())) return absl::AbortedError("threw");
  return Serialize(output);
}

absl::StatusOr<std::string> RunEval(const TurnScope& scope, const std::string& source, uint64_t reply_id) {
  v8::Local<v8::Value> value;
  if (!EvalScript(scope, source, "admin-eval").ToLocal(&value)) return absl::AbortedError("threw");
  v1::TurnOutput output;
  if (reply_id != 0 && value->IsPromise() && HasHook(scope, "trackReply")) {
    // An eval whose value is a promise is answered with its settled value.
    v8::Local<v8::Value> args[] = {ReplyIdValue(scope, reply_id), V8String(scope.isolate, "eval"), value,
                                   v8::Undefined(scope.isolate)};
    if (CallHook(scope, "trackReply", 4, args).IsEmpty()) return absl::AbortedError("threw");
    v8::Local<v8::Value> entry;
    if (!TakeReply(scope, reply_id).ToLocal(&entry)) return absl::AbortedError("threw");
    if (entry->IsNull()) {
      output.set_pending(true);
      return Serialize(output);
    }
    if (!Field(scope, entry.As<v8::Object>(), "ok")->BooleanValue(scope.isolate)) {
      scope.isolate->ThrowException(Field(scope, entry.As<v8::Object>(), "value"));
      return absl::AbortedError("threw");
    }
    value = Field(scope, entry.As<v8::Object>(), "value");
  }
  output.set_value(JsonOrInspect(scope, value));
  return Serialize(output);
}

// internals.fireTimer(id, due), or consumeTimer(id, due, failure) after a
// failed callback.
absl::StatusOr<std::string> CallTimerHook(const TurnScope& scope, const char* hook, const v1::TimerFiring& t) {
  v8::Local<v8::Value> args[] = {v8::Number::New(scope.isolate, static_cast<double>(t.id())),
                                 v8::Number::New(scope.isolate, static_cast<double>(t.due_ms())),
                                 V8String(scope.isolate, t.failure())};
  if (CallHook(scope, hook, t.failure().empty() ? 2 : 3, args).IsEmpty()) return absl::AbortedError("threw");
  return std::string();
}

std::string NewErrorId() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd(), absl::kZeroPad8));
}

v1::HttpResponse ErrorResponse(int status, const std::string& what) {
  const std::string id = NewErrorId();
  // The error may quote the program's text: at most 16 KiB of it in the log.
  spdlog::error("http error {}: {}", id, what.size() <= (16 << 10) ? what : what.substr(0, 16 << 10) + "...");
  v1::HttpResponse response;
  response.set_status(status);
  response.set_body(absl::StrCat(status == 503 ? "Service Unavailable" : "Internal Server Error", " (error id ", id,
                                 ")\n"));
  return response;
}

// For ken inspect without -e.
// Lists own global properties that a new heap does not have, one per line:
// `name: <value>` (values summarised by internals.inspect). Heaps made since
// the built-ins took their intrinsics from primordials do it themselves
// (internals.listGlobals, immune to replaced builtins); this is the
// fallback for older heaps.
constexpr char kListGlobals[] = R"js(
  if (typeof internals.listGlobals === 'function') return internals.listGlobals();
  const baseline = new Set(internals.baselineGlobals);
  const lines = [];
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (baseline.has(name)) continue;
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    const text = 'value' in d ? internals.inspect(d.value, false) : '[Getter/Setter]';
    lines.push(name + ': ' + text);
  }
  return lines.join('\n');
)js";


}  // namespace

PersistentIsolate::TurnBody InspectBody(const std::string& expression) {
  return [expression](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, expression, "inspect").ToLocal(&value)) return absl::AbortedError("threw");
    return JsonOrInspect(scope, value);
  };
}

PersistentIsolate::TurnBody ListGlobalsBody() {
  return [](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Isolate* isolate = scope.isolate;
    v8::Local<v8::String> param = V8String(isolate, "internals");
    v8::ScriptCompiler::Source source(V8String(isolate, kListGlobals));
    v8::Local<v8::Function> fn;
    if (!v8::ScriptCompiler::CompileFunction(scope.context, &source, 1, &param, 0, nullptr).ToLocal(&fn)) {
      return absl::InternalError("cannot compile the globals listing");
    }
    v8::Local<v8::Value> args[] = {scope.internals};
    v8::Local<v8::Value> text;
    if (!fn->Call(scope.context, v8::Undefined(isolate), 1, args).ToLocal(&text)) return absl::AbortedError("threw");
    return StdString(isolate, text);
  };
}

std::string Describe(const v1::TurnInput& r) {
  switch (r.kind_case()) {
    case v1::TurnInput::kDelivery: {
      MessageFrame frame;
      const bool framed = ParseMessageFrame(r.delivery().envelope().payload(), &frame);
      const char* what = !framed || frame.kind == MessageKind::kPlain ? "message "
                         : frame.kind == MessageKind::kCall           ? "call "
                         : frame.kind == MessageKind::kActorCall      ? "actor call "
                         : frame.kind == MessageKind::kActorSend      ? "actor message "
                                                                      : "reply ";
      return absl::StrCat(what, r.delivery().envelope().src(), "->", r.delivery().envelope().dst(), " #",
                          r.delivery().envelope().seq());
    }
    case v1::TurnInput::kHttp:
      return absl::StrCat("http ", r.http().method(), " ", r.http().uri());
    case v1::TurnInput::kTimer:
      return absl::StrCat("timer #", r.timer().id(), " due at ", r.timer().due_ms());
    case v1::TurnInput::kShell:
      return "shell input";
    case v1::TurnInput::kEval:
      return "admin eval";
    case v1::TurnInput::kProgram:
      return "script " + r.program().path();
    case v1::TurnInput::kUpgrade:
      return "code upgrade " + r.upgrade().path();
    case v1::TurnInput::kBuiltinsUpgrade:
      return absl::StrCat("built-ins upgrade from version ", r.builtins_upgrade().from_version(), " to ",
                          kBuiltinsVersion);
    case v1::TurnInput::kForgetReplies:
      return "forget replies nobody waits for";
    case v1::TurnInput::kObserve:
      return "observe the heap after a batch";
    case v1::TurnInput::kDurabilitySwitch:
      return "switch the heap to durability mode " + r.durability_switch().mode();
    case v1::TurnInput::kActorPlacement:
      return "actor placement from the cluster config";
    case v1::TurnInput::KIND_NOT_SET:
      break;
  }
  return "empty input";
}

TurnInput MakeTurn(v1::TurnInput record) {
  TurnInput input;
  input.description = Describe(record);
  input.clock_ms = record.clock_ms();
  const uint64_t reply_id = record.reply_id();
  switch (record.kind_case()) {
    case v1::TurnInput::kDelivery: {
      const v1::Envelope& e = record.delivery().envelope();
      input.delivered_src = e.src();
      input.delivered_seq = e.seq();
      input.dead_letter = true;
      input.body = [e](const TurnScope& scope) { return RunDelivery(scope, e); };
      MessageFrame frame;
      if (ParseMessageFrame(e.payload(), &frame) &&
          (frame.kind == MessageKind::kCall || frame.kind == MessageKind::kActorCall)) {
        // A call whose handler fails still gets an answer: the error reply,
        // committed with the dead letter. The error is part of the record
        // of that fallback turn, so a journal replay sends the same reply.
        const uint64_t call_id = frame.call_id;
        input.on_failure = [e, call_id, error = record.delivery().failure()](const TurnScope& scope) {
          return RunCallFailed(scope, e, call_id, error);
        };
        input.with_failure = [record](const std::string& error) {
          v1::TurnInput failed = record;
          failed.mutable_delivery()->set_failure(error);
          return MakeTurn(std::move(failed));
        };
      }
      break;
    }
    case v1::TurnInput::kHttp:
      input.body = [request = record.http(), reply_id](const TurnScope& scope) {
        return RunHttp(scope, request, reply_id);
      };
      break;
    case v1::TurnInput::kTimer: {
      input.dead_letter = true;
      const v1::TimerFiring t = record.timer();
      input.body = [t](const TurnScope& scope) { return CallTimerHook(scope, "fireTimer", t); };
      // After a failed callback the firing still counts (not retried
      // forever), and an internal timer learns why (the error is part of
      // the fallback turn's record, so that a journal replay repeats it).
      input.on_failure = [t](const TurnScope& scope) { return CallTimerHook(scope, "consumeTimer", t); };
      input.with_failure = [record](const std::string& error) {
        v1::TurnInput failed = record;
        failed.mutable_timer()->set_failure(error);
        return MakeTurn(std::move(failed));
      };
      break;
    }
    case v1::TurnInput::kShell:
      input.body = [line = record.shell()](const TurnScope& scope) -> absl::StatusOr<std::string> {
        v8::Local<v8::Value> value;
        if (!RunMain(scope, line.source(), line.name(), line.main_module()).ToLocal(&value)) {
          return absl::AbortedError("threw");
        }
        return Inspect(scope, value, true);
      };
      break;
    case v1::TurnInput::kEval:
      input.body = [source = record.eval().source(), reply_id](const TurnScope& scope) {
        return RunEval(scope, source, reply_id);
      };
      break;
    case v1::TurnInput::kProgram:
      input.body = [program = record.program()](const TurnScope& scope) -> absl::StatusOr<std::string> {
        v8::Local<v8::Value> value;
        if (!RunMain(scope, program.source(), program.path(), program.path()).ToLocal(&value)) {
          return absl::AbortedError("threw");
        }
        return std::string();
      };
      break;
    case v1::TurnInput::kBuiltinsUpgrade:
      input.body = [from = record.builtins_upgrade().from_version(),
                    seed = std::vector<uint32_t>(record.builtins_upgrade().random_seed().begin(),
                                                 record.builtins_upgrade().random_seed().end())](
                       const TurnScope& scope) -> absl::StatusOr<std::string> {
        if (!UpgradeBuiltins(scope.isolate, scope.context, scope.internals, from, seed)) {
          return absl::AbortedError("threw");
        }
        return std::string();
      };
      break;
    case v1::TurnInput::kActorPlacement:
      input.body = [json = record.actor_placement().json()](const TurnScope& scope) -> absl::StatusOr<std::string> {
        if (!HasHook(scope, "setActorPlacement")) return std::string();  // built-ins without actors
        v8::Local<v8::Value> args[] = {V8String(scope.isolate, json)};
        if (CallHook(scope, "setActorPlacement", 1, args).IsEmpty()) return absl::AbortedError("threw");
        return std::string();
      };
      break;
    case v1::TurnInput::kDurabilitySwitch:
      input.body = [mode = record.durability_switch().mode()](const TurnScope& scope) -> absl::StatusOr<std::string> {
        if (!SwitchDurability(scope.isolate, scope.context, scope.internals, mode)) return absl::AbortedError("threw");
        return std::string();
      };
      break;
    case v1::TurnInput::kForgetReplies: {
      std::vector<uint64_t> ids(record.forget_replies().reply_ids().begin(), record.forget_replies().reply_ids().end());
      input.body = [ids = std::move(ids)](const TurnScope& scope) -> absl::StatusOr<std::string> {
        if (!HasHook(scope, "forgetReplies")) return std::string();
        v8::Local<v8::Value> arg = v8::Undefined(scope.isolate);
        if (!ids.empty()) {
          std::vector<v8::Local<v8::Value>> values;
          for (uint64_t id : ids) values.push_back(ReplyIdValue(scope, id));
          arg = v8::Array::New(scope.isolate, values.data(), values.size());
        }
        v8::Local<v8::Value> args[] = {arg};
        if (CallHook(scope, "forgetReplies", 1, args).IsEmpty()) return absl::AbortedError("threw");
        return std::string();
      };
      break;
    }
    case v1::TurnInput::kObserve:
      input.body = ObserveBody(record.observe().max_timers(), record.observe().take_settled());
      break;
    case v1::TurnInput::kUpgrade:
    case v1::TurnInput::KIND_NOT_SET:
      input.body = [d = input.description](const TurnScope&) -> absl::StatusOr<std::string> {
        return absl::UnimplementedError(absl::StrCat(d, ": this input kind is not supported by this ken"));
      };
      break;
  }
  input.record = std::move(record);
  return input;
}

v1::TurnInput ObserveRecord(int max_timers, bool take_settled) {
  v1::TurnInput r;
  r.mutable_observe()->set_max_timers(max_timers);
  r.mutable_observe()->set_take_settled(take_settled);
  return r;
}

v1::TurnInput DeliveryRecord(const v1::Envelope& envelope) {
  v1::TurnInput r;
  *r.mutable_delivery()->mutable_envelope() = envelope;
  return r;
}

v1::TurnInput TimerRecord(int64_t id, int64_t due_ms) {
  v1::TurnInput r;
  r.mutable_timer()->set_id(id);
  r.mutable_timer()->set_due_ms(due_ms);
  return r;
}

v1::TurnInput HttpRecord(v1::HttpRequest request, uint64_t reply_id) {
  v1::TurnInput r;
  *r.mutable_http() = std::move(request);
  r.set_reply_id(reply_id);
  return r;
}

v1::TurnInput EvalRecord(const std::string& source, uint64_t reply_id) {
  v1::TurnInput r;
  r.mutable_eval()->set_source(source);
  r.set_reply_id(reply_id);
  return r;
}

v1::TurnInput ShellRecord(const std::string& source, const std::string& name, const std::string& main_module) {
  v1::TurnInput r;
  r.mutable_shell()->set_source(source);
  r.mutable_shell()->set_name(name);
  r.mutable_shell()->set_main_module(main_module);
  return r;
}

v1::TurnInput ProgramRecord(const std::string& path, const std::string& source) {
  v1::TurnInput r;
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  r.mutable_program()->set_path(ec ? path : absolute.lexically_normal().string());
  r.mutable_program()->set_source(source);
  return r;
}

PersistentIsolate::TurnBody ObserveBody(int max_timers, bool take_settled) {
  return [max_timers, take_settled](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v1::BatchObservation observation;
    v8::Local<v8::Value> args[] = {v8::Integer::New(scope.isolate, max_timers)};
    v8::Local<v8::Value> json;
    if (!CallHook(scope, "upcomingTimers", 1, args).ToLocal(&json)) return absl::AbortedError("threw");
    nlohmann::json list = nlohmann::json::parse(StdString(scope.isolate, json), nullptr, false);
    if (list.is_array()) {
      for (const auto& item : list) {
        if (item.is_array() && item.size() == 2 && item[0].is_number() && item[1].is_number()) {
          v1::BatchObservation::Timer* t = observation.add_upcoming();
          t->set_id(item[0].get<int64_t>());
          t->set_due_ms(item[1].get<int64_t>());
        }
      }
    }
    if (take_settled && HasHook(scope, "takeSettledReplies")) {
      v8::Local<v8::Value> settled;
      if (!CallHook(scope, "takeSettledReplies", 0, nullptr).ToLocal(&settled)) return absl::AbortedError("threw");
      if (settled->IsObject()) {
        v8::Local<v8::Object> list_object = settled.As<v8::Object>();
        const int64_t n = Field(scope, list_object, "length")->IntegerValue(scope.context).FromMaybe(0);
        for (int64_t i = 0; i < n; ++i) {
          v8::Local<v8::Value> e;
          if (!list_object->Get(scope.context, static_cast<uint32_t>(i)).ToLocal(&e) || !e->IsObject()) continue;
          v8::Local<v8::Object> entry = e.As<v8::Object>();
          v1::SettledReply* reply = observation.add_settled();
          reply->set_reply_id(
              static_cast<uint64_t>(Field(scope, entry, "id")->NumberValue(scope.context).FromMaybe(0)));
          const bool ok = Field(scope, entry, "ok")->BooleanValue(scope.isolate);
          const std::string kind = StdString(scope.isolate, Field(scope, entry, "kind"));
          v8::Local<v8::Value> value = Field(scope, entry, "value");
          if (!ok) {
            reply->set_ok(false);
            reply->set_error("Uncaught " + Inspect(scope, value, true));
            continue;
          }
          v8::TryCatch try_catch(scope.isolate);
          if (kind == "http") {
            if (!ResponseToProto(scope, Field(scope, entry, "response"), reply->mutable_output()->mutable_http())) {
              reply->set_ok(false);
              reply->set_error(try_catch.HasCaught() ? "Uncaught " + Inspect(scope, try_catch.Exception(), true)
                                                     : "malformed HTTP response");
              continue;
            }
          } else {
            reply->mutable_output()->set_value(JsonOrInspect(scope, value));
          }
          reply->set_ok(true);
        }
      }
    }
    return observation.SerializeAsString();
  };
}

PersistentIsolate::TurnBody PendingRepliesBody() {
  return [](const TurnScope& scope) -> absl::StatusOr<std::string> {
    if (!HasHook(scope, "pendingReplies")) return std::string("0");
    v8::Local<v8::Value> n;
    if (!CallHook(scope, "pendingReplies", 0, nullptr).ToLocal(&n)) return absl::AbortedError("threw");
    return StdString(scope.isolate, n);
  };
}

TurnInput ForgetRepliesTurn(std::vector<uint64_t> ids) {
  v1::TurnInput record;
  for (uint64_t id : ids) record.mutable_forget_replies()->add_reply_ids(id);
  if (ids.empty()) record.mutable_forget_replies();
  return MakeTurn(std::move(record));
}

v1::TurnOutput DecodeOutput(const TurnResult& result) {
  v1::TurnOutput output;
  if (result.ok()) output.ParseFromString(result.output);
  return output;
}

v1::HttpResponse HttpResponseFor(const TurnResult& result) {
  if (result.ok()) {
    v1::TurnOutput output = DecodeOutput(result);
    if (output.has_http()) return output.http();
    if (output.kind_case() == v1::TurnOutput::kRejected) return ErrorResponse(500, output.rejected());
    return ErrorResponse(500, "malformed response");
  }
  if (result.status == TurnStatus::kCommitFailed || result.status == TurnStatus::kTimedOut ||
      result.status == TurnStatus::kHeapLimit) {
    return ErrorResponse(503, result.error);
  }
  return ErrorResponse(500, result.error);
}

v1::HttpResponse HttpResponseFor(const v1::SettledReply& settled) {
  if (settled.ok() && settled.output().has_http()) return settled.output().http();
  return ErrorResponse(500, settled.ok() ? "malformed response" : settled.error());
}

}  // namespace ken
