// ES modules (`import`/`export`, `import()`, `import.meta`): the natives the
// built-in loader (js_api/esm.js) compiles, links and evaluates module
// records with, and the isolate callbacks V8 calls for `import()` and
// `import.meta`.
//
// How modules persist. A v8::Module is not a JS value, so JS refers to a
// module record compiled in the current turn by an id (its index in the
// isolate's ModuleTable), and to a module evaluated in an earlier turn by
// its namespace object, which the loader keeps in the heap by file name.
// Module records and their bindings are ordinary heap objects and survive a
// snapshot (docs/engine.md: measured with V8 10.2); only the table of ids
// is per turn, cleared at the end of every turn, so that no v8::Global is
// alive when SnapshotCreator::CreateBlob runs and so that a journal replay
// sees the same ids as the first run.
#ifndef KEN_JS_API_ESM_H_
#define KEN_JS_API_ESM_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "v8.h"

namespace ken {

// The isolate data slot holding the isolate's ModuleTable (slots are not
// part of snapshots; natives.h's kNativeHostSlot is 0).
inline constexpr uint32_t kModuleTableSlot = 1;

// The module records compiled in the current turn, by id. One per isolate;
// only the isolate's thread uses it.
class ModuleTable {
 public:
  // `internals`: returns the heap's `internals` object (the loader's hooks
  // esmImport and esmImportMeta live there), called inside a HandleScope of
  // the isolate's current context.
  explicit ModuleTable(std::function<v8::Local<v8::Object>()> internals) : internals_(std::move(internals)) {}
  // Forgets every record (their ids become invalid; the records themselves
  // stay in the heap as long as JS reaches them). Call at the end of every
  // turn and before the isolate is disposed or snapshotted.
  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

  struct Entry {
    v8::Global<v8::Module> module;
    std::string filename;                 // absolute path (the module's script name)
    std::vector<std::string> specifiers;  // its requests, in GetModuleRequests order
    std::vector<int> children;            // the id each request resolves to (esmLink)
    v8::Global<v8::Value> facade;         // a facade's exports object (import.meta.kenExports)
  };
  std::vector<Entry>& entries() { return entries_; }
  v8::Local<v8::Object> internals() const { return internals_(); }

 private:
  std::function<v8::Local<v8::Object>()> internals_;
  std::vector<Entry> entries_;
};

// Points the isolate's kModuleTableSlot at `table` (owned by the caller; it
// must outlive the isolate) and sets the isolate's import() and import.meta
// callbacks. Call for every isolate a heap runs in, after it is created or
// restored (callbacks are not part of snapshots).
void InstallModuleHost(v8::Isolate* isolate, ModuleTable* table);

// Rethrows the exception caught by `try_catch` (a SyntaxError or a link
// error, whose file and position V8 keeps only in the v8::Message) as
// `Ctor("<message> (FILE:LINE:COL)")` of the same kind. `filename`: the
// file to name; empty: the message's script name. A termination or a caught
// value without a message is rethrown as it is. `try_catch` must be the
// innermost TryCatch; the exception leaves it (rethrown).
void RethrowWithLocation(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::TryCatch& try_catch,
                         const std::string& filename);

// Where `message` points: "NAME:LINE:COLUMN\n", then the source line and a
// caret under the error (as Node prints a syntax error's place); NAME is
// `name`, or the message's script name if empty; "" if V8 gives no line.
std::string SourceLocationBlock(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                v8::Local<v8::Message> message, const std::string& name = "");
// A SyntaxError RethrowWithLocation threw carries the SourceLocationBlock of
// the file's own line in this private property (JS cannot see it): thrown
// from a native that the built-in JS called, the error's own v8::Message
// points into ken:*.js instead. Empty if it has none.
std::string ThrownSourceLocation(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> error);

// The natives (registered in natives.cc with their fixed indices):
// esmCompile(source, filename, facade?) -> [id, ...specifiers]:
//   compiles an ES module (a syntax error is thrown naming FILE:LINE:COL);
//   `facade` (optional): the object a facade module reads its exports from
//   as import.meta.kenExports.
void EsmCompile(const v8::FunctionCallbackInfo<v8::Value>& info);
// esmLink(id, childIds): the id each of the module's requests resolves to.
void EsmLink(const v8::FunctionCallbackInfo<v8::Value>& info);
// esmInstantiate(id): links the graph (throws a SyntaxError naming the
// importing file when an import names an export that does not exist).
void EsmInstantiate(const v8::FunctionCallbackInfo<v8::Value>& info);
// esmEvaluate(id): runs the graph; returns the evaluation's promise
// (settled already unless a module awaits at top level).
void EsmEvaluate(const v8::FunctionCallbackInfo<v8::Value>& info);
// esmNamespace(id): the module's namespace object (instantiated modules).
void EsmNamespace(const v8::FunctionCallbackInfo<v8::Value>& info);
// esmStatus(id): its v8::Module::Status (0 uninstantiated ... 4 evaluated,
// 5 errored), plus 8 if it or a module it imports awaits at top level
// (Module::IsGraphAsync; instantiated modules).
void EsmStatus(const v8::FunctionCallbackInfo<v8::Value>& info);

}  // namespace ken

#endif  // KEN_JS_API_ESM_H_
