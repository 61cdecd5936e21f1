// The isolate host: one persistent V8 isolate whose heap moves from
// checkpoint to checkpoint, one turn at a time.
//
// How a heap persists. V8's public snapshot API is the persistence mechanism
// (docs/engine.md has the measured facts): every turn runs in an
// isolate made by a v8::SnapshotCreator whose `existing_blob` is the last
// committed checkpoint. A turn evaluates its input, then drains the microtask
// queue. If it finished, the host runs the JS before-checkpoint hooks (Intl
// caches), and CreateBlob(kKeep) turns the whole heap, compiled code included,
// into the next blob. CreateBlob can be called once per creator, so the next
// turn restores a fresh isolate from the blob the caller committed.
//
// Turn abort falls out of the same mechanism: an uncaught exception, a turn
// longer than `turn_timeout_ms` (a watchdog thread calls TerminateExecution)
// or the near-heap-limit callback firing makes RunTurn throw the isolate
// away; the next turn restores from the last committed blob, so the heap is
// exactly as before the turn and nothing the turn did survives.
//
// Threading: one thread (the turn loop) calls every method; the watchdog
// thread only ever calls Isolate::TerminateExecution.
#ifndef KEN_RUNTIME_ISOLATE_PERSISTENT_ISOLATE_H_
#define KEN_RUNTIME_ISOLATE_PERSISTENT_ISOLATE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "js_api/esm.h"
#include "js_api/natives.h"
#include "v8.h"

namespace ken {

struct IsolateOptions {
  // A turn running longer than this (wall clock, ms) is terminated and aborted.
  int64_t turn_timeout_ms = 5000;
  // Receives console output (stream 1 or 2, text without newline), on the
  // turn thread. Default: write to stdout/stderr.
  std::function<void(int stream, std::string_view text)> console;
  // ken.me / ken.peers; empty for a node outside a cluster (the shell).
  std::string node_id;
  std::vector<std::string> peers;
  // ken.send: stages a ValueSerializer payload for `dst` in the current turn.
  // An error status becomes the JS exception. Unset: ken.send throws.
  std::function<absl::Status(const std::string& dst, std::string payload)> send;
  // require's file reads (NativeHost::ReadModuleFile), on the turn thread.
  // Unset: every read refused.
  std::function<absl::StatusOr<NativeHost::ModuleFile>(const std::string& path)> read_module;
  // Journal mode's live isolate: a plain V8 isolate (v8::Isolate::New from
  // the blob), which runs with TurboFan but cannot be snapshotted. Its heap
  // is the blob plus whatever `on_restore` replays onto it.
  bool plain = false;
  // Called on the turn thread right after every restore from the current
  // blob, before the turn (or call) that needed the isolate; it may run
  // turns (RunTurn) to bring the heap forward, e.g. replay journal records
  // committed after the blob. An error fails the restore: the isolate is
  // dropped and the caller gets the error (a turn: kHostError).
  std::function<absl::Status(class PersistentIsolate& host)> on_restore;
  // Called on the turn thread right before every restore; it may Rebase
  // the host onto a newer blob to restore from (journal mode: one the
  // snapshotter made, so that on_restore has less to replay), or wait
  // until restoring is safe (the snapshotter: docs/engine.md, "one
  // read-only heap per process"). An error fails the restore.
  std::function<absl::Status(class PersistentIsolate& host)> before_restore;
};

// What a turn body sees. Valid only during the call; never store it.
struct TurnScope {
  v8::Isolate* isolate;
  v8::Local<v8::Context> context;
  v8::Local<v8::Object> internals;  // hooks set by js_api/*.js (inspect, format, ...)
};

enum class TurnStatus {
  kOk,              // finished; `blob` holds the new heap (when requested)
  kThrew,           // uncaught exception (`error` holds the formatted error)
  kTimedOut,        // ran past turn_timeout_ms
  kHeapLimit,       // reached the heap limit
  kHostError,       // the heap could not be restored or snapshotted
  kInterrupted,     // Interrupt() was called during the turn
  kUncommittable,   // it ran, but what it left cannot be committed (too big, a hook failed)
  kCommitFailed,    // it ran, but the commit failed for a reason that may pass (disk full)
};

struct TurnResult {
  TurnStatus status = TurnStatus::kOk;
  std::string output;  // the body's result (kOk)
  std::string error;   // one-paragraph description (not kOk)
  std::string blob;    // the heap after the turn (kOk and TurnMode::kCheckpoint)
  // kOk: each promise rejected during the turn that still had no handler
  // when the turn ended (its microtasks drained), as "Uncaught <value>"
  // (an Error with its stack), in the order they were rejected. As Node
  // does, a rejection is reported, not an abort: the turn commits.
  std::vector<std::string> unhandled_rejections;
  bool ok() const { return status == TurnStatus::kOk; }
};

enum class TurnMode {
  kCheckpoint,  // snapshot the heap after the turn (the caller commits it)
  kKeep,        // keep the isolate for more turns; Snapshot() later (group commit)
  kDiscard,     // run, then drop every effect (read-only evaluation)
};

class PersistentIsolate : public NativeHost {
 public:
  // A turn body returns its output (e.g. the formatted result), or an error
  // status; when JS threw, the exception stays in the host's TryCatch and is
  // what the TurnResult reports.
  using TurnBody = std::function<absl::StatusOr<std::string>(const TurnScope&)>;

  // A brand-new heap: runs the built-in scripts (js_api/) and snapshots the
  // result. The returned host's blob() is the heap to store as checkpoint 1.
  // InitializeV8 must have run. Errors: kInternal if a built-in script fails.
  static absl::StatusOr<std::unique_ptr<PersistentIsolate>> CreateNew(IsolateOptions options);

  // A host whose current heap is `blob` (a committed checkpoint). The blob
  // is checked lazily: kDataLoss from the first turn if V8 rejects it.
  static std::unique_ptr<PersistentIsolate> FromBlob(std::string blob, IsolateOptions options);
  // The same, sharing a blob held elsewhere (no copy).
  static std::unique_ptr<PersistentIsolate> FromSharedBlob(std::shared_ptr<const std::string> blob,
                                                           IsolateOptions options);

  ~PersistentIsolate() override;

  // Runs one turn. With kCheckpoint and a kOk result, `result.blob` is the
  // new heap: commit it, then call Accept(std::move(blob)). If the commit
  // fails, do not call Accept: the next turn restores the old heap. Any
  // other outcome leaves the current heap as it was. `clock_ms` is the wall
  // clock the whole turn sees (Date.now(), ms since the epoch; see
  // turn_clock.h); negative: the system clock when the turn starts.
  // `timeout_ms` > 0 replaces turn_timeout_ms for this turn (replay of a
  // turn that finished once, possibly in a faster tier).
  TurnResult RunTurn(const TurnBody& body, TurnMode mode, int64_t clock_ms = -1, int64_t timeout_ms = 0);

  // Snapshots the live isolate, which holds every kKeep turn since the last
  // accepted blob, and returns the blob to commit. The isolate is consumed
  // (dropped on error too); call Accept(blob) once committed. The JS
  // before-checkpoint hooks run first, under the watchdog. Errors:
  // kFailedPrecondition if no isolate is live (no kKeep turn succeeded);
  // caused by the heap's contents, so they repeat on the same heap:
  // kAborted (a hook threw), kDeadlineExceeded (a hook ran past the turn
  // timeout), kResourceExhausted (a hook reached the heap limit), kInternal
  // (V8 produced no blob); kCancelled if Interrupt() was called;
  // kFailedPrecondition for a plain isolate (IsolateOptions::plain).
  absl::StatusOr<std::string> Snapshot();

  // Drops the live isolate and every effect since the last accepted blob.
  void Discard() { DropIsolate(); }

  // A heap blob, shared between the isolate host (which restores from it),
  // the store write in flight and the node's record of its durable heap.
  using Blob = std::shared_ptr<const std::string>;

  // Makes `blob` (just committed) the current heap.
  void Accept(std::string blob);

  // Makes `blob` the current heap and returns the previous one (for a commit
  // that may still fail: swap back). Drops any live isolate.
  Blob SwapBlob(Blob blob);

  // Makes `blob` the current heap without dropping the live isolate, which
  // must hold the same heap (journal mode: a snapshot of the live heap's
  // past plus the records since, which the live isolate already ran). A
  // later restore starts from `blob`.
  void Rebase(Blob blob) { blob_ = std::move(blob); }

  // Whether an isolate is live (restored, not dropped since).
  bool live() const { return isolate_ != nullptr; }

  // Names of the live objects in the heap that journal mode cannot hold
  // (WeakRef and FinalizationRegistry instances, subclasses included: any
  // object with a weak `target` reference), one entry per object, found by
  // a V8 heap snapshot (v8::HeapProfiler). Empty when there are none.
  // Errors as EnsureIsolate.
  absl::StatusOr<std::vector<std::string>> GcObservableObjects();

  // Restores the isolate from the current blob now rather than at the next
  // turn (e.g. while a commit's fsync is in flight). Errors as EnsureIsolate.
  absl::Status Prepare() { return EnsureIsolate(); }

  // Used heap of the live isolate (bytes) as of the last Snapshot().
  size_t last_snapshot_heap_bytes() const { return last_snapshot_heap_bytes_; }
  // How long the last Snapshot() took, in ms (0 before the first). Turn thread.
  int64_t last_snapshot_ms() const { return last_snapshot_ms_; }

  // The current (last accepted) heap blob.
  const std::string& blob() const { return *blob_; }
  const Blob& shared_blob() const { return blob_; }

  enum class Syntax { kValid, kIncomplete, kInvalid };
  // Compiles `source` as a classic script without running it: kIncomplete
  // when it is unfinished (open block, function or template literal), for
  // the shell's multi-line input. Errors: kDataLoss if the heap blob cannot
  // be restored.
  absl::StatusOr<Syntax> CheckSyntax(const std::string& source);

  // Aborts the running turn, if any (e.g. on Ctrl-C in the shell): it ends
  // as kInterrupted and leaves no trace. Any thread; not from a signal
  // handler (it takes a mutex).
  void Interrupt();

  // Live heap of the current isolate, bytes (restores it if needed).
  // Journal mode's stand-in for a snapshot's size (bytes): the heap's used
  // bytes plus external memory (ArrayBuffer contents); when that is over
  // `limit`, after a full GC (garbage would not be in a snapshot). Turn
  // thread only.
  absl::StatusOr<size_t> LiveBytes(size_t limit);
  absl::StatusOr<size_t> UsedHeapBytes();

  // NativeHost:
  void ConsoleWrite(int stream, std::string_view text) override;
  // While muted, console output is dropped (a journal replay: console
  // output was written when the turn first ran). Turn thread only.
  void set_console_muted(bool muted) { console_muted_ = muted; }
  absl::Status Send(const std::string& dst, std::string payload) override;
  absl::StatusOr<ModuleFile> ReadModuleFile(const std::string& path) override;
  std::string NodeId() override { return options_.node_id; }
  std::vector<std::string> Peers() override { return options_.peers; }

 private:
  PersistentIsolate(std::string blob, IsolateOptions options);
  absl::Status EnsureIsolate();
  void DropIsolate();
  static size_t NearHeapLimit(void* data, size_t current_limit, size_t initial_limit);
  // V8's PromiseRejectCallback: tracks promises rejected without a handler
  // (and forgets one when a handler is added) while a turn runs.
  static void OnPromiseReject(v8::PromiseRejectMessage message);
  void WatchdogLoop();
  // The watchdog covers every piece of JS: Arm before running any, Disarm
  // after (reports whether the watchdog or Interrupt() terminated it).
  void Arm();
  void Disarm(bool* timed_out, bool* interrupted);
  // internals.inspect(value) for an error message, under a watchdog window
  // of its own (the value's getters and traps are the program's code).
  std::string FormatUnderWatchdog(const TurnScope& scope, v8::Local<v8::Value> value);

  IsolateOptions options_;
  Blob blob_;
  Blob restored_from_;  // the blob the live isolate was made from (V8 reads it while the isolate lives)
  v8::StartupData startup_data_{nullptr, 0};
  std::unique_ptr<v8::SnapshotCreator> creator_;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;  // a plain isolate's
  int64_t timeout_ms_ = 0;  // of the turn being run (0: options_.turn_timeout_ms)
  v8::Isolate* isolate_ = nullptr;
  v8::Global<v8::Context> context_;
  v8::Global<v8::Object> internals_;
  // The ES module records compiled in the current turn (js_api/esm.h):
  // cleared at the end of every turn, before every snapshot and disposal.
  ModuleTable modules_{[this] { return internals_.Get(isolate_); }};

  std::atomic<bool> heap_limit_hit_{false};
  bool console_muted_ = false;
  // Promises rejected in the running turn with no handler yet, with their
  // reasons (cleared at the end of every turn: no handle outlives it).
  bool tracking_rejections_ = false;
  std::vector<std::pair<v8::Global<v8::Promise>, v8::Global<v8::Value>>> rejections_;
  size_t last_snapshot_heap_bytes_ = 0;
  int64_t last_snapshot_ms_ = 0;
  // Watchdog: armed for the duration of a turn.
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool stopping_ = false;
  bool timed_out_ = false;
  bool interrupted_ = false;
  uint64_t turn_id_ = 0;
  std::thread watchdog_;
};

// Compiles and runs `source` as a classic script named `name` in the turn's
// context and returns its completion value. On an exception returns an empty
// handle (the exception is in the caller's TryCatch).
v8::MaybeLocal<v8::Value> EvalScript(const TurnScope& scope, const std::string& source,
                                     const std::string& name);

// internals.inspect(value, top): Node-style text for the shell/console.
// `uncaught`: the value was thrown or rejected ("Uncaught " goes before the
// text): an error prints as "SyntaxError: x" even without stack frames.
std::string Inspect(const TurnScope& scope, v8::Local<v8::Value> value, bool top, bool uncaught = false);

// Sets *out to JSON.stringify(value) and returns true; returns false when the
// value has no JSON text (undefined, functions, symbols, cycles, BigInt).
bool ToJson(const TurnScope& scope, v8::Local<v8::Value> value, std::string* out);

// JSON text when it says all the shell would (JSON.parse of it inspects the
// same: plain objects, arrays, strings, numbers...), else the shell's text
// (a Map, a Date, a function, an object holding one...). For `ken inspect -e`
// and admin evals, whose output scripts parse.
std::string JsonOrInspect(const TurnScope& scope, v8::Local<v8::Value> value);


}  // namespace ken

#endif  // KEN_RUNTIME_ISOLATE_PERSISTENT_ISOLATE_H_
