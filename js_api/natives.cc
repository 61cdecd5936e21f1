#include "js_api/natives.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "js_api/js_sources.h"

namespace ken {
namespace {

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

void ThrowError(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::Error(
      v8::String::NewFromUtf8(isolate, message.data(), v8::NewStringType::kNormal,
                              static_cast<int>(message.size()))
          .ToLocalChecked()));
}

// natives.send(dst, value): structured-clones `value` (V8 ValueSerializer;
// functions and symbols throw a DataCloneError) and stages it.
void Send(const v8::FunctionCallbackInfo<v8::Value>& info) {
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
  if (!serializer.WriteValue(context, info[1]).FromMaybe(false)) return;  // DataCloneError thrown
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  std::string payload(reinterpret_cast<char*>(bytes.first), bytes.second);
  free(bytes.first);  // ValueSerializer's default delegate allocates with realloc
  absl::Status s = HostOf(isolate)->Send(std::string(*dst, dst.length()), std::move(payload));
  if (!s.ok()) ThrowError(isolate, std::string(s.message()));
}

void Me(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::string id = HostOf(isolate)->NodeId();
  if (id.empty()) {
    info.GetReturnValue().SetNull();
    return;
  }
  info.GetReturnValue().Set(v8::String::NewFromUtf8(isolate, id.c_str()).ToLocalChecked());
}

void Peers(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  std::vector<v8::Local<v8::Value>> ids;
  for (const std::string& p : HostOf(isolate)->Peers()) {
    ids.push_back(v8::String::NewFromUtf8(isolate, p.c_str()).ToLocalChecked());
  }
  info.GetReturnValue().Set(v8::Array::New(isolate, ids.data(), ids.size()));
}

const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(&Write),
    reinterpret_cast<intptr_t>(&PromiseState),
    reinterpret_cast<intptr_t>(&Send),
    reinterpret_cast<intptr_t>(&Me),
    reinterpret_cast<intptr_t>(&Peers),
    0,
};

void SetFunction(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> target,
                 const char* name, v8::FunctionCallback callback) {
  v8::Local<v8::FunctionTemplate> t = v8::FunctionTemplate::New(
      isolate, callback, v8::Local<v8::Value>(), v8::Local<v8::Signature>(), 0,
      v8::ConstructorBehavior::kThrow);
  v8::Local<v8::Function> fn = t->GetFunction(context).ToLocalChecked();
  v8::Local<v8::String> key = v8::String::NewFromUtf8(isolate, name).ToLocalChecked();
  fn->SetName(key);
  target->Set(context, key, fn).Check();
}

}  // namespace

const intptr_t* ExternalReferences() { return kExternalReferences; }

v8::Local<v8::Object> MakeNatives(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  v8::Local<v8::Object> natives = v8::Object::New(isolate);
  SetFunction(isolate, context, natives, "write", &Write);
  SetFunction(isolate, context, natives, "promiseState", &PromiseState);
  SetFunction(isolate, context, natives, "send", &Send);
  SetFunction(isolate, context, natives, "me", &Me);
  SetFunction(isolate, context, natives, "peers", &Peers);
  return natives;
}

bool RunBuiltinScripts(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> internals) {
  v8::Local<v8::Object> natives = MakeNatives(isolate, context);
  v8::Local<v8::String> params[] = {v8::String::NewFromUtf8Literal(isolate, "natives"),
                                    v8::String::NewFromUtf8Literal(isolate, "internals")};
  for (const JsSource& script : BuiltinScripts()) {
    v8::Local<v8::String> source_text =
        v8::String::NewFromUtf8(isolate, script.source, v8::NewStringType::kNormal,
                                static_cast<int>(strlen(script.source)))
            .ToLocalChecked();
    v8::ScriptOrigin origin(isolate, v8::String::NewFromUtf8(isolate, script.name).ToLocalChecked());
    v8::ScriptCompiler::Source source(source_text, origin);
    v8::Local<v8::Function> fn;
    if (!v8::ScriptCompiler::CompileFunction(context, &source, 2, params, 0, nullptr).ToLocal(&fn)) {
      return false;
    }
    v8::Local<v8::Value> args[] = {natives, internals};
    if (fn->Call(context, v8::Undefined(isolate), 2, args).IsEmpty()) return false;
  }
  return true;
}

v8::Local<v8::String> V8String(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string StdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, static_cast<size_t>(utf8.length())) : std::string();
}

v8::MaybeLocal<v8::Value> DeserializeMessage(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                             const std::string& payload) {
  v8::ValueDeserializer deserializer(isolate, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!deserializer.ReadHeader(context).FromMaybe(false)) {
    if (!isolate->IsExecutionTerminating()) ThrowError(isolate, "malformed message: bad ValueSerializer header");
    return {};
  }
  return deserializer.ReadValue(context);
}

}  // namespace ken
