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
#include "absl/status/statusor.h"

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
  // require (js_api/modules.js): the text of the regular file at `path`
  // (absolute), read only in a turn that loads a program (the host refuses
  // in every other turn, and a journal replay answers what the first run was
  // answered). Errors (an I/O error, a file over kMaxModuleFileBytes) become
  // the JS exception. Default: every read refused.
  struct ModuleFile {
    enum Result { kFound, kAbsent, kRefused };
    Result result = kRefused;
    std::string text;  // kFound: the file's bytes (UTF-8 expected)
  };
  virtual absl::StatusOr<ModuleFile> ReadModuleFile(const std::string& path) { return ModuleFile(); }
};

// The largest module file require reads (bytes).
inline constexpr size_t kMaxModuleFileBytes = 64 << 20;

inline constexpr uint32_t kNativeHostSlot = 0;

// The version of the built-in JS (js_api/*.js) a new heap gets, recorded in
// the heap as internals.builtinsVersion. 1: the first release (no version
// recorded, intrinsics looked up live); 2: intrinsics captured at creation
// (internals.primordials) and the built-ins' state in internals.state;
// 3: Math.random from a generator in the heap (random.js), console.time on
// a host monotonic clock, replies completed by later turns (replies.js);
// 4: values printed as Node's util.inspect prints them (inspect.js, with
// the natives brand, proxyDetails, previewEntries, constructorName),
// request.params and rejected handler promises answered 500 (http.js);
// 5: CommonJS modules, the global `require` (modules.js); 6: request/reply,
// ken.call (ken.js, natives.sendFrame), internal durable timers (timers.js);
// 7: a call to an actor of the same node is a turn of its own, on cloned
// values (actors.js, natives.clone; timers.js: internal timers told why
// their callback failed).
inline constexpr int kBuiltinsVersion = 7;

// The built-ins version of the heap whose `internals` these are.
int BuiltinsVersion(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals);

// Brings the built-ins of an existing heap from version `from` (>= 2) to
// kBuiltinsVersion, as part of the calling turn: for each version step, its
// migration (js_api/upgrades/to_vN.js) converts the built-ins' own state in
// internals.state, then the built-in scripts that changed run again in the
// heap, keeping that state and the intrinsics captured when the store was
// created (internals.primordials; never captured again from a heap whose
// prototypes the program may have replaced). The program's own state is
// untouched; functions it took from the old built-ins (`const t =
// console.time`) keep their old behaviour. Version 1 heaps cannot be
// upgraded this way (they captured nothing). `seed`: the four words that
// reseed Math.random's generator (recorded with the upgrade turn, so that
// a replay of it repeats them); empty: OS entropy. Returns false with the
// JS exception in the caller's TryCatch.
bool UpgradeBuiltins(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals,
                     int from, const std::vector<uint32_t>& seed = {});

// Switches the heap's globals to durability mode `mode` ("snapshot" or
// "journal"; js_api/durability.js), as part of the calling turn: in journal
// mode WeakRef is a constructor that throws. Idempotent. Returns false with
// the JS exception in the caller's TryCatch (e.g. a version-1 heap, which
// captured no intrinsics).
bool SwitchDurability(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals,
                      const std::string& mode);
// The mode the heap's globals are set for ("snapshot" unless switched).
std::string HeapDurability(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Object> internals);

// The native table: every native callback a heap can reach, by index. It is
// a disk format: V8 serializes a native callback as its index in the
// external-reference table made from it (ExternalReferences), so a heap
// binds each of its natives by index. Hence the table is append-only: each
// native registers itself beside its definition with a fixed index
// (js_api/natives.cc, KEN_NATIVE), an entry keeps its index forever, a new
// native takes the next one. Table "version" N is its first N entries; a
// heap made with N opens in any Ken whose table starts with the same N names.
struct NativeEntry {
  int index;
  const char* name;                // natives.<name> in the built-in JS
  v8::FunctionCallback callback;   // null: not a native but a V8 function (below)
  // The address V8 serializes: `callback`, or for a V8 function that V8's
  // own reference table lacks (names "v8:..."), its address in libnode.
  intptr_t address = 0;
};
const std::vector<NativeEntry>& NativeTable();  // by index; any thread

// The first release's table (write, promiseState, send, me, peers); heaps
// that carry no fingerprint were made with it.
inline constexpr size_t kNativeTableVersion1 = 5;

// "<count>:<crc32 of the first count names>" (the heap records the
// fingerprint of the table it was made with).
std::string NativeTableFingerprint(size_t count);

// Whether a heap made with `fingerprint` ("" for table version 1) binds
// correctly here. Errors: kFailedPrecondition naming both tables,
// kDataLoss if the fingerprint is malformed.
absl::Status CheckNativeTable(const std::string& fingerprint);

// V8 10.2 leaves two of its own functions out of its external-reference
// table: the getter and setter of module namespace entries
// (v8::internal::Accessors::ModuleNamespaceEntryGetter/Setter, reachable
// from every namespace object of a module with exports), so a snapshot
// holding one aborts with "Unknown external reference". The table lists
// them (entries "v8:ModuleNamespaceEntryGetter"/"...Setter", looked up in
// libnode by their exported symbols). False if that lookup failed (another
// V8 build): ES modules are then refused (a snapshot could not hold them).
bool ModuleNamespaceAccessorsFound();

// Null-terminated table for SnapshotCreator / Isolate::CreateParams, made
// from NativeTable(). Static storage; never freed.
const intptr_t* ExternalReferences();

// Builds the `natives` object (null prototype) handed to the built-in
// scripts, one function per NativeTable() entry: write(stream, text),
// promiseState(promise) -> [0 pending | 1 fulfilled | 2 rejected, result],
// send(dst, value), me(), peers(), hostNowMs(), ..., readModuleFile(path),
// compileModule(source, filename). Only while creating a new
// heap (or upgrading its built-ins): after that the functions live in the
// heap, captured by the built-in scripts' closures.
v8::Local<v8::Object> MakeNatives(v8::Isolate* isolate, v8::Local<v8::Context> context);

// Runs the built-in scripts (polyfills, Intl, console, inspect, ...) in order
// as `function (natives, internals)`, filling `internals` with the hooks the
// host uses (inspect, format, beforeCheckpoint, baselineGlobals). Returns
// false with the exception left in the caller's TryCatch on failure.
bool RunBuiltinScripts(v8::Isolate* isolate, v8::Local<v8::Context> context,
                       v8::Local<v8::Object> internals);

// The V8 boundary's string conversions (UTF-8 both ways). V8String never
// fails: text longer than V8 can hold is cut (with a note of how much), and
// if V8 cannot allocate it the result is the empty string.
v8::Local<v8::String> V8String(v8::Isolate* isolate, std::string_view text);
std::string StdString(v8::Isolate* isolate, v8::Local<v8::Value> value);

// Deserializes a ken.send payload (v8::ValueDeserializer; for a framed one,
// its body) in the current context. Empty on malformed bytes, with a JS
// exception pending.
v8::MaybeLocal<v8::Value> DeserializeMessage(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                             std::string_view payload);

// Calls and replies (ken.call, js_api/ken.js) are messages like any other
// (same channels, same exactly-once delivery) whose payload is framed: the
// 3 bytes kMessageFrameMagic, the kind (1 byte), the call id (8 bytes,
// little-endian, 1..2^53-1), then the value's ValueSerializer bytes. A plain
// ken.send payload starts with V8's own header (0xFF, then its format
// version, 13-15 for V8 10.x, never 0), so the two cannot be confused, and a
// program cannot forge a frame with ken.send.
// kActorCall / kActorSend: a method call (with a reply) or message (none)
// for an actor (js_api/actors.js).
enum class MessageKind : uint8_t { kPlain = 0, kCall = 1, kReply = 2, kErrorReply = 3, kActorCall = 4, kActorSend = 5 };
inline constexpr uint8_t kMaxMessageKind = 5;
// The key by which a cloned actor reference is recognized (js_api/actors.js).
inline constexpr std::string_view kActorRefMarker = "@kenRef";
inline constexpr char kMessageFrameMagic[3] = {'\xFF', '\x00', 'K'};
inline constexpr size_t kMessageFrameHeaderBytes = sizeof(kMessageFrameMagic) + 1 + 8;
struct MessageFrame {
  MessageKind kind = MessageKind::kPlain;
  uint64_t call_id = 0;   // kCall: the caller's id; replies: the id they answer
  std::string_view body;  // the ValueSerializer bytes (a view into the payload)
};
// The frame header for `kind` (not kPlain) and `call_id`.
std::string FrameHeader(MessageKind kind, uint64_t call_id);
// Splits `payload`: a plain payload is kPlain with the whole payload as
// body. False if it starts like a frame but is malformed (too short, an
// unknown kind, call id 0 or over 2^53-1).
bool ParseMessageFrame(std::string_view payload, MessageFrame* frame);

}  // namespace ken

#endif  // KEN_JS_API_NATIVES_H_
