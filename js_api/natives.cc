#include "js_api/natives.h"

#include <dlfcn.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "js_api/esm.h"
#include "js_api/js_sources.h"

namespace ken {
namespace {

// The registry behind NativeTable(): each native registers itself beside its
// definition with its fixed index (KEN_NATIVE below).
std::vector<NativeEntry>& Registry() {
  static std::vector<NativeEntry>* entries = new std::vector<NativeEntry>();
  return *entries;
}

struct Registrar {
  Registrar(int index, const char* name, v8::FunctionCallback callback) {
    Registry().push_back({index, name, callback, reinterpret_cast<intptr_t>(callback)});
  }
  // A V8 function by its exported (mangled) symbol; a placeholder address
  // (never called: V8 only compares it) if libnode does not export it.
  Registrar(int index, const char* name, const char* symbol, bool* found) {
    void* address = dlsym(RTLD_DEFAULT, symbol);
    *found = address != nullptr;
    Registry().push_back({index, name, nullptr,
                          address != nullptr ? reinterpret_cast<intptr_t>(address) : reinterpret_cast<intptr_t>(symbol)});
  }
};

#define KEN_NATIVE(index, name, callback) const Registrar kRegister##callback(index, name, &callback)

bool getter_found = false;
bool setter_found = false;

NativeHost* HostOf(v8::Isolate* isolate) {
  return static_cast<NativeHost*>(isolate->GetData(kNativeHostSlot));
}

void Write(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  int stream = info[0]->IsInt32() && info[0].As<v8::Int32>()->Value() == 2 ? 2 : 1;
  v8::String::Utf8Value text(isolate, info[1]);
  NativeHost* host = HostOf(isolate);
  if (host != nullptr && *text != nullptr) host->ConsoleWrite(stream, std::string_view(*text, text.length()));
}
KEN_NATIVE(0, "write", Write);

void PromiseState(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsPromise()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "promiseState: not a promise")));
    return;
  }
  v8::Local<v8::Promise> promise = info[0].As<v8::Promise>();
  int state = 0;
  v8::Local<v8::Value> result = v8::Undefined(isolate);
  switch (promise->State()) {
    case v8::Promise::kPending: state = 0; break;
    case v8::Promise::kFulfilled: state = 1; result = promise->Result(); break;
    case v8::Promise::kRejected: state = 2; result = promise->Result(); break;
  }
  v8::Local<v8::Value> pair[] = {v8::Integer::New(isolate, state), result};
  info.GetReturnValue().Set(v8::Array::New(isolate, pair, 2));
}
KEN_NATIVE(1, "promiseState", PromiseState);

void ThrowError(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::Error(V8String(isolate, message)));
}

// natives.send(dst, value): structured-clones `value` (V8 ValueSerializer;
// functions and symbols throw a DataCloneError) and stages it.
// Serializes `value` after `prefix` and stages it for `dst` (info[0]).
void SendPayload(const v8::FunctionCallbackInfo<v8::Value>& info, v8::Local<v8::Value> value, std::string prefix) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsString()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "ken.send: the destination must be a node id (string)")));
    return;
  }
  v8::String::Utf8Value dst(isolate, info[0]);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::ValueSerializer serializer(isolate);
  serializer.WriteHeader();
  if (!serializer.WriteValue(context, value).FromMaybe(false)) return;  // DataCloneError thrown
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  std::string payload = std::move(prefix);
  payload.append(reinterpret_cast<char*>(bytes.first), bytes.second);
  free(bytes.first);  // ValueSerializer's default delegate allocates with realloc
  absl::Status s = HostOf(isolate)->Send(std::string(*dst, dst.length()), std::move(payload));
  if (!s.ok()) ThrowError(isolate, std::string(s.message()));
}

void Send(const v8::FunctionCallbackInfo<v8::Value>& info) { SendPayload(info, info[1], std::string()); }
KEN_NATIVE(2, "send", Send);

void Me(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string id = HostOf(isolate)->NodeId();
  if (id.empty()) {
    info.GetReturnValue().SetNull();
    return;
  }
  info.GetReturnValue().Set(V8String(isolate, id));
}
KEN_NATIVE(3, "me", Me);

void Peers(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::vector<v8::Local<v8::Value>> ids;
  for (const std::string& p : HostOf(isolate)->Peers()) ids.push_back(V8String(isolate, p));
  info.GetReturnValue().Set(v8::Array::New(isolate, ids.data(), ids.size()));
}
KEN_NATIVE(4, "peers", Peers);

// natives.hostNowMs(): a monotonic host clock in ms (fractional), for
// console.time: Date.now() is fixed for the whole of a turn.
void HostNowMs(const v8::FunctionCallbackInfo<v8::Value>& info) {
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  info.GetReturnValue().Set(ms);
}
KEN_NATIVE(5, "hostNowMs", HostNowMs);

// Natives for inspect.js: what V8 knows about a value that JS cannot ask
// without running the program's code (a Proxy's traps, replaced getters).

// natives.brand(v): V8's kind of an object ('Map', 'Proxy', 'NativeError',
// 'AsyncGeneratorFunction', ...), '' for a plain object or a primitive.
void Brand(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Local<v8::Value> v = info[0];
  const char* brand = "";
  if (v->IsProxy()) brand = "Proxy";
  else if (v->IsFunction()) {
    const bool async = v->IsAsyncFunction(), generator = v->IsGeneratorFunction();
    brand = async && generator ? "AsyncGeneratorFunction" : async ? "AsyncFunction"
          : generator ? "GeneratorFunction" : "Function";
  }
  else if (v->IsArgumentsObject()) brand = "Arguments";
  else if (v->IsNativeError()) brand = "NativeError";
  else if (v->IsDate()) brand = "Date";
  else if (v->IsRegExp()) brand = "RegExp";
  else if (v->IsMap()) brand = "Map";
  else if (v->IsSet()) brand = "Set";
  else if (v->IsWeakMap()) brand = "WeakMap";
  else if (v->IsWeakSet()) brand = "WeakSet";
  else if (v->IsMapIterator()) brand = "MapIterator";
  else if (v->IsSetIterator()) brand = "SetIterator";
  else if (v->IsPromise()) brand = "Promise";
  else if (v->IsTypedArray()) brand = "TypedArray";
  else if (v->IsDataView()) brand = "DataView";
  else if (v->IsArrayBuffer()) brand = "ArrayBuffer";
  else if (v->IsSharedArrayBuffer()) brand = "SharedArrayBuffer";
  else if (v->IsNumberObject()) brand = "Number";
  else if (v->IsStringObject()) brand = "String";
  else if (v->IsBooleanObject()) brand = "Boolean";
  else if (v->IsBigIntObject()) brand = "BigInt";
  else if (v->IsSymbolObject()) brand = "Symbol";
  else if (v->IsGeneratorObject()) brand = "Generator";
  else if (v->IsModuleNamespaceObject()) brand = "Module";
  info.GetReturnValue().Set(V8String(info.GetIsolate(), brand));
}
KEN_NATIVE(6, "brand", Brand);

// natives.proxyDetails(v): undefined if v is not a Proxy, null if it was
// revoked, else [target, handler]; no trap runs.
void ProxyDetails(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsProxy()) return;
  v8::Local<v8::Proxy> proxy = info[0].As<v8::Proxy>();
  if (proxy->IsRevoked()) {
    info.GetReturnValue().SetNull();
    return;
  }
  v8::Local<v8::Value> pair[] = {proxy->GetTarget(), proxy->GetHandler()};
  info.GetReturnValue().Set(v8::Array::New(isolate, pair, 2));
}
KEN_NATIVE(7, "proxyDetails", ProxyDetails);

// natives.previewEntries(v): for a Map/Set iterator, WeakMap or WeakSet,
// [entries, isKeyValue] (key-value entries flattened: k0, v0, k1, v1, ...),
// as V8's inspector previews them without advancing the iterator; else
// undefined.
void PreviewEntries(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsObject()) return;
  bool key_value = false;
  v8::Local<v8::Array> entries;
  if (!info[0].As<v8::Object>()->PreviewEntries(&key_value).ToLocal(&entries)) return;
  v8::Local<v8::Value> pair[] = {entries, v8::Boolean::New(isolate, key_value)};
  info.GetReturnValue().Set(v8::Array::New(isolate, pair, 2));
}
KEN_NATIVE(8, "previewEntries", PreviewEntries);

// natives.constructorName(v): V8's class name of an object (from its map:
// the constructor that made it), without reading any property.
void ConstructorName(const v8::FunctionCallbackInfo<v8::Value>& info) {
  if (!info[0]->IsObject()) return;
  info.GetReturnValue().Set(info[0].As<v8::Object>()->GetConstructorName());
}
KEN_NATIVE(9, "constructorName", ConstructorName);

// natives.readModuleFile(path): the file's text, null if there is no such
// regular file, false if this turn may not read modules (NativeHost).
void ReadModuleFile(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsString()) {
    isolate->ThrowException(v8::Exception::TypeError(V8String(isolate, "readModuleFile: the path must be a string")));
    return;
  }
  absl::StatusOr<NativeHost::ModuleFile> file = HostOf(isolate)->ReadModuleFile(StdString(isolate, info[0]));
  if (!file.ok()) {
    ThrowError(isolate, std::string(file.status().message()));
    return;
  }
  switch (file->result) {
    case NativeHost::ModuleFile::kFound: info.GetReturnValue().Set(V8String(isolate, file->text)); break;
    case NativeHost::ModuleFile::kAbsent: info.GetReturnValue().SetNull(); break;
    case NativeHost::ModuleFile::kRefused: info.GetReturnValue().Set(false); break;
  }
}
KEN_NATIVE(10, "readModuleFile", ReadModuleFile);

// natives.compileModule(source, filename): `source` compiled as the body of
// function (exports, require, module, __filename, __dirname), with
// `filename` as its script name (stack traces and syntax errors give the
// file's own lines and columns). A syntax error is thrown.
void CompileModule(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!info[0]->IsString() || !info[1]->IsString()) {
    isolate->ThrowException(
        v8::Exception::TypeError(V8String(isolate, "compileModule: the source and file name must be strings")));
    return;
  }
  v8::Local<v8::String> params[] = {
      v8::String::NewFromUtf8Literal(isolate, "exports"), v8::String::NewFromUtf8Literal(isolate, "require"),
      v8::String::NewFromUtf8Literal(isolate, "module"), v8::String::NewFromUtf8Literal(isolate, "__filename"),
      v8::String::NewFromUtf8Literal(isolate, "__dirname")};
  v8::ScriptOrigin origin(isolate, info[1]);
  v8::ScriptCompiler::Source source(info[0].As<v8::String>(), origin);
  v8::Local<v8::Function> fn;
  v8::TryCatch try_catch(isolate);
  if (v8::ScriptCompiler::CompileFunction(context, &source, 5, params, 0, nullptr).ToLocal(&fn)) {
    info.GetReturnValue().Set(fn);
    return;
  }
  RethrowWithLocation(isolate, context, try_catch, StdString(isolate, info[1]));
}
KEN_NATIVE(11, "compileModule", CompileModule);

// ES modules (js_api/esm.h, esm.js).
KEN_NATIVE(12, "esmCompile", EsmCompile);
KEN_NATIVE(13, "esmLink", EsmLink);
KEN_NATIVE(14, "esmInstantiate", EsmInstantiate);
KEN_NATIVE(15, "esmEvaluate", EsmEvaluate);
KEN_NATIVE(16, "esmNamespace", EsmNamespace);
// V8's own functions missing from its table (natives.h).
const Registrar kRegisterNamespaceGetter(
    17, "v8:ModuleNamespaceEntryGetter",
    "_ZN2v88internal9Accessors26ModuleNamespaceEntryGetterENS_5LocalINS_4NameEEERKNS_20PropertyCallbackInfoINS_5ValueEEE",
    &getter_found);
const Registrar kRegisterNamespaceSetter(
    18, "v8:ModuleNamespaceEntrySetter",
    "_ZN2v88internal9Accessors26ModuleNamespaceEntrySetterENS_5LocalINS_4NameEEENS2_INS_5ValueEEERKNS_20Property"
    "CallbackInfoINS_7BooleanEEE",
    &setter_found);
KEN_NATIVE(19, "esmStatus", EsmStatus);

// natives.sendFrame(dst, kind, callId, value): as send, framed as a call or
// a reply (natives.h, MessageFrame). `kind` 1..5, `callId` a safe integer >= 1.
void SendFrame(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  const double kind = info[1]->IsNumber() ? info[1].As<v8::Number>()->Value() : 0;
  const double id = info[2]->IsNumber() ? info[2].As<v8::Number>()->Value() : 0;
  if (!(kind >= 1 && kind <= kMaxMessageKind && kind == static_cast<int>(kind)) || !(id >= 1 && id <= 9007199254740991.0) ||
      id != static_cast<double>(static_cast<uint64_t>(id))) {
    ThrowError(isolate, "natives.sendFrame: bad kind or call id");
    return;
  }
  SendPayload(info, info[3], FrameHeader(static_cast<MessageKind>(static_cast<int>(kind)), static_cast<uint64_t>(id)));
}
KEN_NATIVE(20, "sendFrame", SendFrame);

// natives.serializedSize(value): the bytes V8's ValueSerializer writes for
// `value` (what a message or a structured clone of it takes); throws as a
// send would for what cannot be cloned.
void SerializedSize(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::ValueSerializer serializer(isolate);
  serializer.WriteHeader();
  if (!serializer.WriteValue(isolate->GetCurrentContext(), info[0]).FromMaybe(false)) return;
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  free(bytes.first);
  info.GetReturnValue().Set(v8::Number::New(isolate, static_cast<double>(bytes.second)));
}
KEN_NATIVE(21, "serializedSize", SerializedSize);

// natives.clone(value, maxBytes, what): a structured clone of `value` (V8's
// ValueSerializer then ValueDeserializer, what a message to another node
// goes through): what a call to an actor of the same node gets instead of
// the caller's own objects (js_api/actors.js). Throws as a send would (a
// DataCloneError for functions, symbols, ...), and "<what>: a value of N
// bytes exceeds max_message_bytes (maxBytes)" when maxBytes > 0 and the
// serialized value is larger (the heap holds the limit, so a replay
// decides alike).
void Clone(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::ValueSerializer serializer(isolate);
  serializer.WriteHeader();
  if (!serializer.WriteValue(context, info[0]).FromMaybe(false)) return;  // DataCloneError thrown
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  const double max_bytes = info[1]->IsNumber() ? info[1].As<v8::Number>()->Value() : 0;
  if (max_bytes > 0 && static_cast<double>(bytes.second) > max_bytes) {
    free(bytes.first);
    v8::String::Utf8Value what(isolate, info[2]);
    ThrowError(isolate, absl::StrCat(info[2]->IsString() ? std::string(*what, what.length()) : std::string("clone"),
                                     ": a value of ", bytes.second, " bytes exceeds max_message_bytes (",
                                     static_cast<uint64_t>(max_bytes), ")"));
    return;
  }
  v8::Local<v8::Value> copy;
  {
    v8::ValueDeserializer deserializer(isolate, bytes.first, bytes.second);
    if (deserializer.ReadHeader(context).FromMaybe(false)) (void)deserializer.ReadValue(context).ToLocal(&copy);
  }
  free(bytes.first);  // ValueSerializer's default delegate allocates with realloc
  if (!copy.IsEmpty()) info.GetReturnValue().Set(copy);
}
KEN_NATIVE(22, "clone", Clone);

void SetFunction(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target,
                 const char* name, v8::FunctionCallback callback) {
  v8::Local<v8::FunctionTemplate> t = v8::FunctionTemplate::New(
      isolate, callback, v8::Local<v8::Value>(), v8::Local<v8::Signature>(), 0,
      v8::ConstructorBehavior::kThrow);
  v8::Local<v8::Function> fn = t->GetFunction(context).ToLocalChecked();
  v8::Local<v8::String> key = v8::String::NewFromUtf8(isolate, name).ToLocalChecked();
  fn->SetName(key);
  target->CreateDataProperty(context, key, fn).Check();
}

uint32_t NamesCrc(size_t count) {
  const std::vector<NativeEntry>& table = NativeTable();
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t i = 0; i < count && i < table.size(); ++i) {
    std::string name = absl::StrCat(table[i].name, "\n");
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), static_cast<uInt>(name.size()));
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

const std::vector<NativeEntry>& NativeTable() {
  static const std::vector<NativeEntry>* table = [] {
    auto* t = new std::vector<NativeEntry>(Registry());
    std::sort(t->begin(), t->end(), [](const NativeEntry& a, const NativeEntry& b) { return a.index < b.index; });
    for (size_t i = 0; i < t->size(); ++i) {
      if ((*t)[i].index != static_cast<int>(i)) {
        fprintf(stderr, "ken: the native table has a gap or a duplicate at index %zu (%s)\n", i, (*t)[i].name);
        abort();
      }
    }
    return t;
  }();
  return *table;
}

bool ModuleNamespaceAccessorsFound() { return getter_found && setter_found; }

const intptr_t* ExternalReferences() {
  static const intptr_t* refs = [] {
    const std::vector<NativeEntry>& table = NativeTable();
    auto* r = new intptr_t[table.size() + 1];
    for (size_t i = 0; i < table.size(); ++i) r[i] = table[i].address;
    r[table.size()] = 0;
    return r;
  }();
  return refs;
}

std::string NativeTableFingerprint(size_t count) {
  count = std::min(count, NativeTable().size());
  return absl::StrCat(count, ":", absl::Hex(NamesCrc(count), absl::kZeroPad8));
}

absl::Status CheckNativeTable(const std::string& fingerprint) {
  const std::string heap = fingerprint.empty() ? NativeTableFingerprint(kNativeTableVersion1) : fingerprint;
  std::vector<std::string> parts = absl::StrSplit(heap, ':');
  size_t count = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &count)) {
    return absl::DataLossError(absl::StrCat("its native table fingerprint '", heap, "' is malformed"));
  }
  if (count > NativeTable().size() || NativeTableFingerprint(count) != heap) {
    return absl::FailedPreconditionError(absl::StrCat(
        "its heap was made with native table ", heap, ", which this ken's table (", NativeTableFingerprint(count),
        " for its first ", count, " entries, ", NativeTable().size(),
        " in all) does not start with; V8 would bind the wrong native functions. Open it with the ken that wrote it"));
  }
  return absl::OkStatus();
}

v8::Local<v8::Object> MakeNatives(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  v8::Local<v8::Object> natives = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  for (const NativeEntry& e : NativeTable()) {
    if (e.callback != nullptr) SetFunction(isolate, context, natives, e.name, e.callback);
  }
  return natives;
}

namespace {

// Four 32-bit words of OS entropy (std::random_device reads the kernel's
// generator), the seed of the heap's Math.random (js_api/random.js).
v8::Local<v8::Array> RandomSeed(v8::Isolate* isolate, const std::vector<uint32_t>& given = {}) {
  std::random_device entropy;
  v8::Local<v8::Value> words[4];
  for (size_t i = 0; i < 4; ++i) {
    words[i] = v8::Integer::NewFromUnsigned(isolate, given.size() == 4 ? given[i] : entropy());
  }
  return v8::Array::New(isolate, words, 4);
}

// Runs `script` as `function (natives, internals)`.
bool RunScript(v8::Isolate* isolate, v8::Local<v8::Context> context, const JsSource& script,
               v8::Local<v8::Object> natives, v8::Local<v8::Object> internals) {
  v8::Local<v8::String> params[] = {v8::String::NewFromUtf8Literal(isolate, "natives"),
                                    v8::String::NewFromUtf8Literal(isolate, "internals")};
  v8::ScriptOrigin origin(isolate, V8String(isolate, script.name));
  v8::ScriptCompiler::Source source(V8String(isolate, script.source), origin);
  v8::Local<v8::Function> fn;
  if (!v8::ScriptCompiler::CompileFunction(context, &source, 2, params, 0, nullptr).ToLocal(&fn)) return false;
  v8::Local<v8::Value> args[] = {natives, internals};
  return !fn->Call(context, v8::Undefined(isolate), 2, args).IsEmpty();
}

const JsSource* FindScript(const std::vector<JsSource>& scripts, const std::string& name) {
  for (const JsSource& s : scripts) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

// Each step from version `to - 1` to `to`: its migration (nullptr: the
// built-ins' state needs none), then the built-in scripts that run again.
struct Upgrade {
  int to;
  const char* migration;
  std::vector<const char*> rerun;
};
const std::vector<Upgrade>& Upgrades() {
  static const std::vector<Upgrade>* upgrades = new std::vector<Upgrade>{
      {3, "ken:to_v3.js", {"ken:random.js", "ken:console.js", "ken:replies.js", "ken:http.js"}},
      // Version 4: Node's util.inspect layout (inspect.js, and console.js,
      // which holds its functions); HTTP request.params and rejected handler
      // promises (http.js); unhandled rejections reported (replies.js).
      {4, nullptr, {"ken:inspect.js", "ken:console.js", "ken:http.js"}},
      // Version 5: the global `require` (modules.js), ES modules (esm.js),
      // module namespaces printed as Node prints them (inspect.js, and
      // console.js, which holds its functions).
      {5, nullptr, {"ken:inspect.js", "ken:console.js", "ken:modules.js", "ken:esm.js"}},
      // Version 6: request/reply and actors (ken.js: ken.call, call and
      // reply frames; actors.js: ken.actor, ken.ref; a heap whose `ken` was
      // frozen before keeps it, answering calls but not making them),
      // built-in durable timers for call timeouts (timers.js).
      {6, nullptr, {"ken:timers.js", "ken:ken.js", "ken:actors.js"}},
      // Version 7: calls to actors of the same node run as turns of their
      // own, on structured clones (actors.js, ken.js; natives.clone), on
      // internal timers that learn why their callback failed (timers.js).
      {7, nullptr, {"ken:timers.js", "ken:ken.js", "ken:actors.js"}},
  };
  return *upgrades;
}

bool SetVersion(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals, int version) {
  return internals->Set(context, V8String(isolate, "builtinsVersion"), v8::Integer::New(isolate, version))
      .FromMaybe(false);
}

}  // namespace

bool RunBuiltinScripts(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> internals) {
  if (!SetVersion(isolate, context, internals, kBuiltinsVersion) ||
      !internals->CreateDataProperty(context, V8String(isolate, "randomSeed"), RandomSeed(isolate)).FromMaybe(false)) {
    return false;
  }
  v8::Local<v8::Object> natives = MakeNatives(isolate, context);
  for (const JsSource& script : BuiltinScripts()) {
    if (!RunScript(isolate, context, script, natives, internals)) return false;
  }
  return true;
}

int BuiltinsVersion(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals) {
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> v;
  if (internals->Get(context, V8String(isolate, "builtinsVersion")).ToLocal(&v) && v->IsInt32()) {
    return v.As<v8::Int32>()->Value();
  }
  // Heaps made before versions were recorded: 2 if they captured their
  // intrinsics (primordials), else the first release's.
  bool primordials = internals->HasOwnProperty(context, V8String(isolate, "primordials")).FromMaybe(false);
  return primordials ? 2 : 1;
}

bool UpgradeBuiltins(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals,
                     int from, const std::vector<uint32_t>& seed) {
  if (from < 2) {
    isolate->ThrowException(v8::Exception::Error(V8String(
        isolate, "built-ins version 1 (the first release) cannot be upgraded: it captured no intrinsics")));
    return false;
  }
  if (!internals->Set(context, V8String(isolate, "randomSeed"), RandomSeed(isolate, seed)).FromMaybe(false)) {
    return false;
  }
  v8::Local<v8::Object> natives = MakeNatives(isolate, context);
  for (const Upgrade& step : Upgrades()) {
    if (step.to <= from) continue;
    if (step.migration != nullptr) {
      const JsSource* migration = FindScript(UpgradeScripts(), step.migration);
      if (migration == nullptr || !RunScript(isolate, context, *migration, natives, internals)) {
        if (migration == nullptr) isolate->ThrowException(v8::Exception::Error(V8String(isolate, step.migration)));
        return false;
      }
    }
    for (const char* name : step.rerun) {
      const JsSource* script = FindScript(BuiltinScripts(), name);
      if (script == nullptr || !RunScript(isolate, context, *script, natives, internals)) {
        if (script == nullptr) isolate->ThrowException(v8::Exception::Error(V8String(isolate, name)));
        return false;
      }
    }
    if (!SetVersion(isolate, context, internals, step.to)) return false;
  }
  return true;
}

bool SwitchDurability(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals,
                      const std::string& mode) {
  if (!internals->HasOwnProperty(context, V8String(isolate, "primordials")).FromMaybe(false)) {
    isolate->ThrowException(v8::Exception::Error(V8String(
        isolate, "this heap has the built-ins of Ken's first release, which captured no intrinsics: it cannot "
                 "change durability mode")));
    return false;
  }
  if (!internals->Set(context, V8String(isolate, "durabilityTarget"), V8String(isolate, mode)).FromMaybe(false)) {
    return false;
  }
  const JsSource& script = DurabilityScripts().at(0);
  return RunScript(isolate, context, script, MakeNatives(isolate, context), internals);
}

std::string HeapDurability(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals) {
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> v;
  if (internals->Get(context, V8String(isolate, "durability")).ToLocal(&v) && v->IsString()) {
    return StdString(isolate, v);
  }
  return "snapshot";
}

v8::Local<v8::String> V8String(v8::Isolate* isolate, std::string_view text) {
  // V8 refuses strings over String::kMaxLength (about 2^29 characters) and
  // lengths over INT_MAX: such text (e.g. an error message quoting a huge
  // value from the program) is cut, never a crash.
  constexpr size_t kMax = static_cast<size_t>(v8::String::kMaxLength) - 64;
  if (text.size() > kMax) {
    std::string cut = absl::StrCat(absl::string_view(text.data(), 1 << 20), "... (", text.size() - (1 << 20), " more bytes)");
    return V8String(isolate, cut);
  }
  v8::Local<v8::String> s;
  if (v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
          .ToLocal(&s)) {
    return s;
  }
  return v8::String::Empty(isolate);
}

std::string StdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, static_cast<size_t>(utf8.length())) : std::string();
}

std::string FrameHeader(MessageKind kind, uint64_t call_id) {
  std::string header(kMessageFrameMagic, sizeof(kMessageFrameMagic));
  header.push_back(static_cast<char>(kind));
  for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((call_id >> (8 * i)) & 0xFF));
  return header;
}

bool ParseMessageFrame(std::string_view payload, MessageFrame* frame) {
  frame->kind = MessageKind::kPlain;
  frame->call_id = 0;
  frame->body = payload;
  constexpr size_t kMagic = sizeof(kMessageFrameMagic);
  if (payload.size() < kMagic || payload.substr(0, kMagic) != std::string_view(kMessageFrameMagic, kMagic)) {
    return true;  // a plain ken.send payload
  }
  if (payload.size() < kMessageFrameHeaderBytes) return false;
  const uint8_t kind = static_cast<uint8_t>(payload[kMagic]);
  if (kind < 1 || kind > kMaxMessageKind) return false;
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(static_cast<uint8_t>(payload[kMagic + 1 + i])) << (8 * i);
  if (id == 0 || id > (uint64_t{1} << 53) - 1) return false;
  frame->kind = static_cast<MessageKind>(kind);
  frame->call_id = id;
  frame->body = payload.substr(kMessageFrameHeaderBytes);
  return true;
}

v8::MaybeLocal<v8::Value> DeserializeMessage(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                             std::string_view payload) {
  v8::ValueDeserializer deserializer(isolate, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!deserializer.ReadHeader(context).FromMaybe(false)) {
    if (!isolate->IsExecutionTerminating()) ThrowError(isolate, "malformed message: bad ValueSerializer header");
    return {};
  }
  return deserializer.ReadValue(context);
}

}  // namespace ken
