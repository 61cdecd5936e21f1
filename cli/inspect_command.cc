#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "js_api/natives.h"
#include "runtime/node/node.h"

namespace ken {
namespace {

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

int RunInspect(const InspectOptions& options) {
  NodeOptions node_options;
  node_options.store_path = options.store_path;
  node_options.read_only = true;
  node_options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken inspect: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  TurnResult result = node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Isolate* isolate = scope.isolate;
    if (options.has_expression) {
      v8::Local<v8::Value> value;
      if (!EvalScript(scope, options.expression, "inspect").ToLocal(&value)) return absl::AbortedError("threw");
      return JsonOrInspect(scope, value);
    }
    v8::Local<v8::String> param = v8::String::NewFromUtf8Literal(isolate, "internals");
    v8::ScriptCompiler::Source source(v8::String::NewFromUtf8Literal(isolate, kListGlobals));
    v8::Local<v8::Function> fn;
    if (!v8::ScriptCompiler::CompileFunction(scope.context, &source, 1, &param, 0, nullptr).ToLocal(&fn)) {
      return absl::InternalError("cannot compile the globals listing");
    }
    v8::Local<v8::Value> args[] = {scope.internals};
    v8::Local<v8::Value> text;
    if (!fn->Call(scope.context, v8::Undefined(isolate), 1, args).ToLocal(&text)) {
      return absl::AbortedError("threw");
    }
    return StdString(isolate, text);
  });
  if (!result.ok()) {
    fprintf(stderr, "ken inspect: store %s: %s\n", options.store_path.c_str(), result.error.c_str());
    return 3;
  }
  if (!result.output.empty()) printf("%s\n", result.output.c_str());
  return 0;
}

}  // namespace ken
