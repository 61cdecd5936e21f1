#include "js_api/natives.h"

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

const intptr_t kExternalReferences[] = {
    reinterpret_cast<intptr_t>(&Write),
    reinterpret_cast<intptr_t>(&PromiseState),
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

}  // namespace ken
