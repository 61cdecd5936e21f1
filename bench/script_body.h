// A turn body for the in-process benchmarks: runs a classic script and
// returns its completion value as text (the isolate reports a throw).
#ifndef KEN_BENCH_SCRIPT_BODY_H_
#define KEN_BENCH_SCRIPT_BODY_H_

#include <string>
#include <utility>

#include "runtime/isolate/persistent_isolate.h"

namespace ken::bench {

// `name`: the script's name in stack traces.
inline PersistentIsolate::TurnBody ScriptBody(std::string source, const char* name) {
  return [source = std::move(source), name](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, name).ToLocal(&value)) return absl::AbortedError("script threw");
    v8::String::Utf8Value text(scope.isolate, value);
    return std::string(*text != nullptr ? *text : "", text.length());
  };
}

}  // namespace ken::bench

#endif  // KEN_BENCH_SCRIPT_BODY_H_
