#include "js_api/esm.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "js_api/natives.h"

namespace ken {
namespace {

v8::Local<v8::Private> LocationKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, v8::String::NewFromUtf8Literal(isolate, "ken.sourceLocation"));
}

ModuleTable* TableOf(v8::Isolate* isolate) {
  return static_cast<ModuleTable*>(isolate->GetData(kModuleTableSlot));
}

void ThrowType(v8::Isolate* isolate, const char* message) {
  isolate->ThrowException(v8::Exception::TypeError(V8String(isolate, message)));
}

// The table entry of id `value`, or null (with a TypeError thrown).
ModuleTable::Entry* EntryOf(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  ModuleTable* table = TableOf(isolate);
  if (table == nullptr) {
    ThrowType(isolate, "ES modules are not available in this isolate");
    return nullptr;
  }
  if (!value->IsInt32() || value.As<v8::Int32>()->Value() < 0 ||
      static_cast<size_t>(value.As<v8::Int32>()->Value()) >= table->size()) {
    ThrowType(isolate, "not the id of a module compiled in this turn");
    return nullptr;
  }
  return &table->entries()[static_cast<size_t>(value.As<v8::Int32>()->Value())];
}

ModuleTable::Entry* EntryOfModule(v8::Isolate* isolate, v8::Local<v8::Module> module) {
  ModuleTable* table = TableOf(isolate);
  if (table == nullptr) return nullptr;
  for (ModuleTable::Entry& e : table->entries()) {
    if (e.module == module) return &e;
  }
  return nullptr;
}

v8::MaybeLocal<v8::Module> Resolve(v8::Local<v8::Context> context, v8::Local<v8::String> specifier,
                                   v8::Local<v8::FixedArray> import_assertions, v8::Local<v8::Module> referrer) {
  v8::Isolate* isolate = context->GetIsolate();
  ModuleTable::Entry* from = EntryOfModule(isolate, referrer);
  const std::string spec = StdString(isolate, specifier);
  if (from != nullptr) {
    for (size_t i = 0; i < from->specifiers.size() && i < from->children.size(); ++i) {
      if (from->specifiers[i] != spec) continue;
      const int child = from->children[i];
      if (child >= 0 && static_cast<size_t>(child) < TableOf(isolate)->size()) {
        return TableOf(isolate)->entries()[static_cast<size_t>(child)].module.Get(isolate);
      }
    }
  }
  isolate->ThrowException(v8::Exception::Error(V8String(
      isolate, absl::StrCat("import '", spec, "' (", from == nullptr ? "?" : from->filename, "): not linked"))));
  return {};
}

// The loader's hook `name` in internals, or empty.
v8::MaybeLocal<v8::Function> Hook(v8::Isolate* isolate, v8::Local<v8::Context> context, const char* name) {
  ModuleTable* table = TableOf(isolate);
  if (table == nullptr || table->internals().IsEmpty()) return {};
  v8::Local<v8::Value> fn;
  if (!table->internals()->Get(context, V8String(isolate, name)).ToLocal(&fn) || !fn->IsFunction()) return {};
  return fn.As<v8::Function>();
}

// import(specifier): internals.esmImport(specifier, referrer file name)
// returns the promise (it loads synchronously, in the calling turn).
v8::MaybeLocal<v8::Promise> ImportDynamically(v8::Local<v8::Context> context, v8::Local<v8::Data> host_defined_options,
                                              v8::Local<v8::Value> resource_name, v8::Local<v8::String> specifier,
                                              v8::Local<v8::FixedArray> import_assertions) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Function> hook;
  if (!Hook(isolate, context, "esmImport").ToLocal(&hook)) {
    v8::Local<v8::Promise::Resolver> resolver;
    if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
    (void)resolver->Reject(context, v8::Exception::Error(V8String(isolate, "import() is not available in this heap")));
    return scope.Escape(resolver->GetPromise());
  }
  v8::Local<v8::Value> args[] = {specifier, resource_name.IsEmpty() ? v8::Undefined(isolate).As<v8::Value>()
                                                                    : resource_name};
  v8::Local<v8::Value> result;
  if (!hook->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&result)) return {};
  if (!result->IsPromise()) {
    isolate->ThrowException(v8::Exception::TypeError(V8String(isolate, "esmImport did not return a promise")));
    return {};
  }
  return scope.Escape(result.As<v8::Promise>());
}

// import.meta, on its first use in a module: a facade gets its exports
// object; every other module internals.esmImportMeta(meta, filename,
// namespace) (filename null when the module was compiled in an earlier
// turn: the loader finds it by its namespace object).
void InitializeImportMeta(v8::Local<v8::Context> context, v8::Local<v8::Module> module, v8::Local<v8::Object> meta) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::HandleScope scope(isolate);
  ModuleTable::Entry* e = EntryOfModule(isolate, module);
  if (e != nullptr && !e->facade.IsEmpty()) {
    (void)meta->CreateDataProperty(context, V8String(isolate, "kenExports"), e->facade.Get(isolate));
    return;
  }
  v8::Local<v8::Function> hook;
  if (!Hook(isolate, context, "esmImportMeta").ToLocal(&hook)) return;
  v8::Local<v8::Value> file = v8::Null(isolate);
  v8::Local<v8::Value> ns = v8::Undefined(isolate);
  if (e != nullptr) {
    file = V8String(isolate, e->filename);
  } else if (module->GetStatus() >= v8::Module::kInstantiated) {
    ns = module->GetModuleNamespace();
  }
  v8::Local<v8::Value> args[] = {meta, file, ns};
  (void)hook->Call(context, v8::Undefined(isolate), 3, args);
}

}  // namespace

void InstallModuleHost(v8::Isolate* isolate, ModuleTable* table) {
  isolate->SetData(kModuleTableSlot, table);
  isolate->SetHostImportModuleDynamicallyCallback(&ImportDynamically);
  isolate->SetHostInitializeImportMetaObjectCallback(&InitializeImportMeta);
}

void RethrowWithLocation(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::TryCatch& try_catch,
                         const std::string& filename) {
  if (!try_catch.HasCaught() || try_catch.Message().IsEmpty() || isolate->IsExecutionTerminating() ||
      !try_catch.Exception()->IsNativeError()) {
    if (try_catch.HasCaught()) try_catch.ReThrow();
    return;
  }
  v8::Local<v8::Message> message = try_catch.Message();
  std::string text = StdString(isolate, message->Get());
  bool syntax = false;
  for (const char* prefix : {"SyntaxError: ", "Uncaught SyntaxError: "}) {
    if (text.rfind(prefix, 0) == 0) {
      text = text.substr(std::string(prefix).size());
      syntax = true;
      break;
    }
  }
  if (!syntax) {
    try_catch.ReThrow();
    return;
  }
  const std::string file = filename.empty() ? StdString(isolate, message->GetScriptResourceName()) : filename;
  absl::StrAppend(&text, " (", file, ":", message->GetLineNumber(context).FromMaybe(0), ":",
                  message->GetStartColumn(context).FromMaybe(-1) + 1, ")");
  const std::string block = SourceLocationBlock(isolate, context, message, file);
  // Thrown while `try_catch` is active, it catches the new exception; ReThrow
  // passes it on to the caller's handler.
  try_catch.Reset();
  v8::Local<v8::Value> error = v8::Exception::SyntaxError(V8String(isolate, text));
  if (!block.empty() && error->IsObject()) {
    (void)error.As<v8::Object>()->SetPrivate(context, LocationKey(isolate), V8String(isolate, block));
  }
  isolate->ThrowException(error);
  try_catch.ReThrow();
}

std::string SourceLocationBlock(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Message> message,
                                const std::string& name) {
  const int line = message->GetLineNumber(context).FromMaybe(0);
  if (line <= 0) return "";
  const int column = message->GetStartColumn(context).FromMaybe(0);
  const int end = message->GetEndColumn(context).FromMaybe(column + 1);
  std::string out = absl::StrCat(name.empty() ? StdString(isolate, message->GetScriptResourceName()) : name, ":",
                                 line, ":", column + 1, "\n");
  v8::Local<v8::String> source_line;
  if (message->GetSourceLine(context).ToLocal(&source_line)) {
    std::string text = StdString(isolate, source_line);
    if (text.size() <= 300 && column <= static_cast<int>(text.size())) {
      std::string caret;
      for (int i = 0; i < column; ++i) caret += text[i] == '\t' ? '\t' : ' ';
      caret += std::string(std::max(1, std::min(end - column, 80)), '^');
      absl::StrAppend(&out, text, "\n", caret, "\n");
    }
  }
  return out;
}

std::string ThrownSourceLocation(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> error) {
  if (!error->IsObject()) return "";
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> block;
  if (!error.As<v8::Object>()->GetPrivate(context, LocationKey(isolate)).ToLocal(&block) || !block->IsString()) {
    return "";
  }
  return StdString(isolate, block);
}

void EsmCompile(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  ModuleTable* table = TableOf(isolate);
  if (table == nullptr) return ThrowType(isolate, "ES modules are not available in this isolate");
  if (!info[0]->IsString() || !info[1]->IsString()) {
    return ThrowType(isolate, "esmCompile: the source and file name must be strings");
  }
  if (!ModuleNamespaceAccessorsFound()) {
    return ThrowType(isolate, "ES modules are not available: this libnode does not export the V8 functions a "
                              "snapshot of a module namespace needs (js_api/natives.h)");
  }
  const std::string filename = StdString(isolate, info[1]);
  v8::ScriptOrigin origin(isolate, info[1], 0, 0, false, -1, v8::Local<v8::Value>(), false, false, /*is_module=*/true);
  v8::ScriptCompiler::Source source(info[0].As<v8::String>(), origin);
  v8::Local<v8::Module> module;
  {
    v8::TryCatch try_catch(isolate);
    if (!v8::ScriptCompiler::CompileModule(isolate, &source).ToLocal(&module)) {
      return RethrowWithLocation(isolate, context, try_catch, filename);
    }
  }
  ModuleTable::Entry entry;
  entry.module.Reset(isolate, module);
  entry.filename = filename;
  if (info.Length() > 2 && !info[2]->IsUndefined()) entry.facade.Reset(isolate, info[2]);
  v8::Local<v8::FixedArray> requests = module->GetModuleRequests();
  std::vector<v8::Local<v8::Value>> out = {v8::Integer::New(isolate, static_cast<int>(table->size()))};
  for (int i = 0; i < requests->Length(); ++i) {
    v8::Local<v8::String> spec = requests->Get(context, i).As<v8::ModuleRequest>()->GetSpecifier();
    entry.specifiers.push_back(StdString(isolate, spec));
    out.push_back(spec);
  }
  table->entries().push_back(std::move(entry));
  info.GetReturnValue().Set(v8::Array::New(isolate, out.data(), out.size()));
}

void EsmLink(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  ModuleTable::Entry* e = EntryOf(isolate, info[0]);
  if (e == nullptr) return;
  if (!info[1]->IsArray()) return ThrowType(isolate, "esmLink: the children must be an array of ids");
  v8::Local<v8::Array> ids = info[1].As<v8::Array>();
  std::vector<int> children;
  for (uint32_t i = 0; i < ids->Length(); ++i) {
    v8::Local<v8::Value> id;
    if (!ids->Get(context, i).ToLocal(&id)) return;
    if (EntryOf(isolate, id) == nullptr) return;
    children.push_back(id.As<v8::Int32>()->Value());
  }
  e->children = std::move(children);
}

void EsmInstantiate(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  ModuleTable::Entry* e = EntryOf(isolate, info[0]);
  if (e == nullptr) return;
  v8::Local<v8::Module> module = e->module.Get(isolate);
  v8::TryCatch try_catch(isolate);
  if (module->InstantiateModule(context, &Resolve).FromMaybe(false)) return;
  RethrowWithLocation(isolate, context, try_catch, "");
}

void EsmEvaluate(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  ModuleTable::Entry* e = EntryOf(isolate, info[0]);
  if (e == nullptr) return;
  v8::Local<v8::Module> module = e->module.Get(isolate);
  if (module->GetStatus() != v8::Module::kInstantiated && module->GetStatus() != v8::Module::kEvaluated &&
      module->GetStatus() != v8::Module::kErrored) {
    return ThrowType(isolate, "esmEvaluate: not instantiated, or evaluating");
  }
  v8::Local<v8::Value> result;
  if (!module->Evaluate(context).ToLocal(&result)) return;  // terminated
  info.GetReturnValue().Set(result);
}

void EsmStatus(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  ModuleTable::Entry* e = EntryOf(isolate, info[0]);
  if (e == nullptr) return;
  v8::Local<v8::Module> module = e->module.Get(isolate);
  const bool async = module->GetStatus() >= v8::Module::kInstantiated && module->GetStatus() != v8::Module::kErrored &&
                     module->IsGraphAsync();
  info.GetReturnValue().Set(static_cast<int>(module->GetStatus()) + (async ? 8 : 0));
}

void EsmNamespace(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  ModuleTable::Entry* e = EntryOf(isolate, info[0]);
  if (e == nullptr) return;
  v8::Local<v8::Module> module = e->module.Get(isolate);
  if (module->GetStatus() < v8::Module::kInstantiated) return ThrowType(isolate, "esmNamespace: not instantiated");
  info.GetReturnValue().Set(module->GetModuleNamespace());
}

}  // namespace ken
