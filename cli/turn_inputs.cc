#include "cli/turn_inputs.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
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

}  // namespace

TurnInput ScriptInput(const std::string& path, const std::string& source) {
  TurnInput input;
  input.description = "script " + path;
  input.body = [path, source](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, path).ToLocal(&value)) return absl::AbortedError("threw");
    return std::string();
  };
  return input;
}

TurnInput DeliveryInput(const v1::Envelope& e) {
  TurnInput input;
  input.description = absl::StrCat("message ", e.src(), "->", e.dst(), " #", e.seq());
  input.delivered_src = e.src();
  input.delivered_seq = e.seq();
  input.dead_letter = true;
  input.body = [payload = e.payload(), src = e.src()](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!DeserializeMessage(scope.isolate, scope.context, payload).ToLocal(&value)) {
      return absl::AbortedError("threw");
    }
    v8::Local<v8::Value> args[] = {value, V8String(scope.isolate, src)};
    if (CallHook(scope, "deliver", 2, args).IsEmpty()) return absl::AbortedError("threw");
    return std::string();
  };
  return input;
}

TurnInput EvalInput(const std::string& source) {
  TurnInput input;
  input.description = "admin eval";
  input.body = [source](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, "admin-eval").ToLocal(&value)) return absl::AbortedError("threw");
    return JsonOrInspect(scope, value);
  };
  return input;
}

TurnInput HttpInput(const HttpRequest& request) {
  TurnInput input;
  input.description = absl::StrCat("http ", request.method, " ", request.uri);
  input.body = [request](const TurnScope& scope) -> absl::StatusOr<std::string> {
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
    for (const auto& [name, value] : request.headers) {
      auto it = std::find_if(joined.begin(), joined.end(), [&](const auto& h) { return h.first == name; });
      if (it == joined.end()) {
        joined.emplace_back(name, value);
      } else {
        it->second += ", " + value;
      }
    }
    bool ok = true;
    for (const auto& [name, value] : joined) ok = ok && put(headers, name, V8String(isolate, value));
    ok = ok && put(req, "method", V8String(isolate, request.method)) &&
         put(req, "uri", V8String(isolate, request.uri)) && put(req, "path", V8String(isolate, request.path)) &&
         put(req, "query", V8String(isolate, request.query)) && put(req, "headers", headers) &&
         put(req, "body", V8String(isolate, request.body));
    if (!ok) return absl::AbortedError("threw");
    v8::Local<v8::Value> args[] = {req};
    v8::Local<v8::Value> response;
    if (!CallHook(scope, "httpDispatch", 1, args).ToLocal(&response)) return absl::AbortedError("threw");
    // Promise reactions of the handler run before the response is read.
    isolate->PerformMicrotaskCheckpoint();
    if (isolate->IsExecutionTerminating()) return absl::AbortedError("terminated");
    v8::Local<v8::Value> out_args[] = {response};
    v8::Local<v8::Value> json;
    if (!CallHook(scope, "httpResponseJson", 1, out_args).ToLocal(&json)) return absl::AbortedError("threw");
    return StdString(isolate, json);
  };
  return input;
}

TurnInput TimerInput(int64_t id, int64_t due_ms) {
  TurnInput input;
  input.description = absl::StrCat("timer #", id, " due at ", due_ms);
  auto call = [id, due_ms](const char* hook) {
    return [id, due_ms, hook](const TurnScope& scope) -> absl::StatusOr<std::string> {
      v8::Local<v8::Value> args[] = {v8::Number::New(scope.isolate, static_cast<double>(id)),
                                     v8::Number::New(scope.isolate, static_cast<double>(due_ms))};
      if (CallHook(scope, hook, 2, args).IsEmpty()) return absl::AbortedError("threw");
      return std::string();
    };
  };
  input.dead_letter = true;
  input.body = call("fireTimer");
  input.on_failure = call("consumeTimer");
  return input;
}

PersistentIsolate::TurnBody UpcomingTimersBody(int max) {
  return [max](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> args[] = {v8::Integer::New(scope.isolate, max)};
    v8::Local<v8::Value> json;
    if (!CallHook(scope, "upcomingTimers", 1, args).ToLocal(&json)) return absl::AbortedError("threw");
    return StdString(scope.isolate, json);
  };
}

std::vector<std::pair<int64_t, int64_t>> ParseUpcomingTimers(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  nlohmann::json list = nlohmann::json::parse(text, nullptr, false);
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    if (item.is_array() && item.size() == 2 && item[0].is_number() && item[1].is_number()) {
      out.emplace_back(item[0].get<int64_t>(), item[1].get<int64_t>());
    }
  }
  return out;
}

HttpResponse ToHttpResponse(const TurnResult& result) {
  HttpResponse response;
  if (result.ok()) {
    nlohmann::json r = nlohmann::json::parse(result.output, nullptr, false);
    if (r.is_object() && r["statusCode"].is_number_integer() && r["body"].is_string()) {
      response.status = r["statusCode"].get<int>();
      for (auto& [name, value] : r["headers"].items()) {
        if (value.is_string()) response.headers.emplace_back(name, value.get<std::string>());
      }
      response.body = r["body"].get<std::string>();
      return response;
    }
  }
  std::random_device rd;
  std::string id = absl::StrCat(absl::Hex(rd(), absl::kZeroPad8));
  if (result.status == TurnStatus::kCommitFailed || result.status == TurnStatus::kTimedOut ||
      result.status == TurnStatus::kHeapLimit) {
    response.status = 503;
    spdlog::error("http error {}: {}", id, result.error);
  } else {
    response.status = 500;
    spdlog::error("http error {}: {}", id, result.ok() ? "malformed response" : result.error);
  }
  response.body = absl::StrCat(response.status == 503 ? "Service Unavailable" : "Internal Server Error",
                               " (error id ", id, ")\n");
  return response;
}

}  // namespace ken
