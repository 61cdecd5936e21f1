// Native functions the built-in JS (js_api/*.js) calls, and the table of
// external references that every snapshot of a Ken heap is made and restored
// with. V8 serializes a native callback as an index into this table, so every
// callback a heap can reach must be listed here, in this file, in a stable
// order (V8 aborts with "Unknown external reference" otherwise).
#ifndef KEN_JS_API_NATIVES_H_
#define KEN_JS_API_NATIVES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#include "v8.h"

namespace ken {

// What native callbacks need from the process hosting the isolate. The host
// stores a pointer to its NativeHost in isolate data slot kNativeHostSlot for
// every isolate it creates (slots are not part of snapshots).
class NativeHost {
 public:
  virtual ~NativeHost() = default;
  // Console output; `stream` is 1 (stdout) or 2 (stderr); `text` has no
  // trailing newline. Called on the isolate thread, inside a turn.
  virtual void ConsoleWrite(int stream, std::string_view text) = 0;
  // ken.send: `payload` is the value serialized by v8::ValueSerializer. An
  // error becomes the JS exception of the sending turn.
  virtual absl::Status Send(const std::string& dst, std::string payload) = 0;
  // ken.me ("" outside a cluster) and ken.peers.
  virtual std::string NodeId() = 0;
  virtual std::vector<std::string> Peers() = 0;
};

inline constexpr uint32_t kNativeHostSlot = 0;

// The version of the built-in JS (js_api/*.js) a new heap gets, recorded in
// the heap as internals.builtinsVersion. 1: the first release (no version
// recorded, intrinsics looked up live); 2: intrinsics captured at creation
// (internals.primordials) and the built-ins' state in internals.state.
inline constexpr int kBuiltinsVersion = 2;

// Null-terminated table for SnapshotCreator / Isolate::CreateParams. Static
// storage; never freed.
const intptr_t* ExternalReferences();

// Builds the `natives` object handed to the built-in scripts: write(stream,
// text), promiseState(promise) -> [0 pending | 1 fulfilled | 2 rejected,
// result], send(dst, value), me(), peers(). Only while creating a new heap: after that the functions live in
// the heap, captured by the built-in scripts' closures.
v8::Local<v8::Object> MakeNatives(v8::Isolate* isolate, v8::Local<v8::Context> context);

// Runs the built-in scripts (polyfills, Intl, console, inspect, ...) in order
// as `function (natives, internals)`, filling `internals` with the hooks the
// host uses (inspect, format, beforeCheckpoint, baselineGlobals). Returns
// false with the exception left in the caller's TryCatch on failure.
bool RunBuiltinScripts(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> internals);

// The V8 boundary's string conversions (UTF-8 both ways). V8String aborts
// only if V8 cannot allocate the string (then the isolate is out of memory).
v8::Local<v8::String> V8String(v8::Isolate* isolate, std::string_view text);
std::string StdString(v8::Isolate* isolate, v8::Local<v8::Value> value);

// Deserializes a ken.send payload (v8::ValueDeserializer) in the current
// context. Empty on malformed bytes, with a JS exception pending.
v8::MaybeLocal<v8::Value> DeserializeMessage(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                             const std::string& payload);

}  // namespace ken

#endif  // KEN_JS_API_NATIVES_H_
