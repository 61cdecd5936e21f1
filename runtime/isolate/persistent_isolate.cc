#include "runtime/isolate/persistent_isolate.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/isolate/turn_clock.h"
#include "v8-profiler.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// Error.stackTraceLimit never goes into a blob. V8 10.2 installs the
// property itself in each context a plain isolate restores from a blob, on
// top of one the blob holds, which then reads as garbage ('uninitialized');
// a snapshot-creating isolate installs none (so err.stack is undefined
// there without it). So before a blob is made its value moves to
// internals.stackTraceLimit and the property is deleted, and after every
// restore it is set again from there (10, V8's default, for heaps made
// before this rule; their stale property is deleted first).
v8::MaybeLocal<v8::Object> IntrinsicError(v8::Local<v8::Context> context, v8::Local<v8::Object> internals) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Value> primordials, error;
  if (!internals->Get(context, V8String(isolate, "primordials")).ToLocal(&primordials) || !primordials->IsObject() ||
      !primordials.As<v8::Object>()->Get(context, V8String(isolate, "Error")).ToLocal(&error) || !error->IsObject()) {
    return {};
  }
  return error.As<v8::Object>();
}

void StashStackTraceLimit(v8::Local<v8::Context> context, v8::Local<v8::Object> internals) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Object> error;
  if (!IntrinsicError(context, internals).ToLocal(&error)) return;
  v8::Local<v8::String> key = V8String(isolate, "stackTraceLimit");
  v8::Local<v8::Value> value;
  if (!error->Get(context, key).ToLocal(&value)) return;
  (void)internals->CreateDataProperty(context, key, value);
  (void)error->Delete(context, key);
}

void RestoreStackTraceLimit(v8::Local<v8::Context> context, v8::Local<v8::Object> internals) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Object> error;
  if (!IntrinsicError(context, internals).ToLocal(&error)) return;
  v8::Local<v8::String> key = V8String(isolate, "stackTraceLimit");
  v8::Local<v8::Value> value;
  if (!internals->HasOwnProperty(context, key).FromMaybe(false) || !internals->Get(context, key).ToLocal(&value)) {
    (void)error->Delete(context, key);
    value = v8::Integer::New(isolate, 10);
  }
  (void)error->Set(context, key, value);
}

void DefaultConsole(int stream, std::string_view text) {
  FILE* f = stream == 2 ? stderr : stdout;
  fwrite(text.data(), 1, text.size(), f);
  fputc('\n', f);
  fflush(f);
}

}  // namespace

PersistentIsolate::PersistentIsolate(std::string blob, IsolateOptions options)
    : options_(std::move(options)), blob_(std::make_shared<const std::string>(std::move(blob))) {
  if (!options_.console) options_.console = DefaultConsole;
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

PersistentIsolate::~PersistentIsolate() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
  DropIsolate();
}

absl::StatusOr<std::unique_ptr<PersistentIsolate>> PersistentIsolate::CreateNew(IsolateOptions options) {
  std::unique_ptr<PersistentIsolate> host(new PersistentIsolate("", std::move(options)));
  // A creator without an existing blob starts from V8's built-in snapshot.
  host->creator_ = std::make_unique<v8::SnapshotCreator>(ExternalReferences(), nullptr);
  v8::Isolate* isolate = host->creator_->GetIsolate();
  host->isolate_ = isolate;
  isolate->Exit();  // entered only while in use, as in EnsureIsolate
  std::string error;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    isolate->SetData(kNativeHostSlot, host.get());
    InstallModuleHost(isolate, &host->modules_);
    isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    // Null prototype: a hook Ken looks up must never be found on a prototype
    // that user code can extend (Object.prototype.deliver = ...).
    v8::Local<v8::Object> internals =
        v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
    bool ok = internals->CreateDataProperty(context, V8String(isolate, "beforeCheckpoint"), v8::Array::New(isolate, 0))
                  .FromMaybe(false) &&
              RunBuiltinScripts(isolate, context, internals);
    if (ok) {
      // The global names a new heap has, so `ken inspect` can list the user's.
      v8::Local<v8::Array> names;
      ok = context->Global()
               ->GetPropertyNames(context, v8::KeyCollectionMode::kOwnOnly,
                                  v8::PropertyFilter::SKIP_SYMBOLS, v8::IndexFilter::kSkipIndices)
               .ToLocal(&names) &&
           internals->CreateDataProperty(context, V8String(isolate, "baselineGlobals"), names).FromMaybe(false);
      isolate->PerformMicrotaskCheckpoint();
    }
    if (!ok) {
      // The stack when there is one (scripts before polyfills.js run with no
      // Error.stackTraceLimit, hence no stack), else the exception itself.
      v8::Local<v8::Value> stack;
      error = !try_catch.HasCaught() ? "unknown error"
              : try_catch.StackTrace(context).ToLocal(&stack) && stack->IsString()
                  ? StdString(isolate, stack)
                  : StdString(isolate, try_catch.Exception());
    } else {
      StashStackTraceLimit(context, internals);
      host->creator_->AddData(context, internals);
      host->creator_->SetDefaultContext(context);
    }
  }
  if (!error.empty()) {
    host->DropIsolate();
    return absl::InternalError(absl::StrCat("built-in scripts failed: ", error));
  }
  isolate->Enter();  // for CreateBlob, and exited by the creator's destructor
  v8::StartupData blob = host->creator_->CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  host->creator_.reset();
  host->isolate_ = nullptr;
  host->blob_ = std::make_shared<const std::string>(blob.data, static_cast<size_t>(blob.raw_size));
  delete[] blob.data;
  return host;
}

std::unique_ptr<PersistentIsolate> PersistentIsolate::FromBlob(std::string blob, IsolateOptions options) {
  return std::unique_ptr<PersistentIsolate>(new PersistentIsolate(std::move(blob), std::move(options)));
}

std::unique_ptr<PersistentIsolate> PersistentIsolate::FromSharedBlob(std::shared_ptr<const std::string> blob,
                                                                     IsolateOptions options) {
  std::unique_ptr<PersistentIsolate> host(new PersistentIsolate("", std::move(options)));
  host->blob_ = std::move(blob);
  return host;
}

absl::Status PersistentIsolate::EnsureIsolate() {
  if (isolate_ != nullptr) return absl::OkStatus();
  if (options_.before_restore) {
    if (absl::Status s = options_.before_restore(*this); !s.ok()) return s;
  }
  // V8 keeps reading the blob while the isolate lives (contexts deserialize
  // from it), so it points into blob_, which outlives the isolate.
  startup_data_ = v8::StartupData{blob_->data(), static_cast<int>(blob_->size())};
  if (blob_->empty() || !startup_data_.IsValid()) {
    return absl::DataLossError("heap snapshot is not valid for this V8 version (" +
                               std::string(v8::V8::GetVersion()) + ")");
  }
  restored_from_ = blob_;
  if (options_.plain) {
    // A plain isolate from the same blob: TurboFan runs here (V8 10.2
    // disables it in every isolate set up for serialization).
    if (!allocator_) allocator_.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
    v8::Isolate::CreateParams params;
    params.snapshot_blob = &startup_data_;
    params.external_references = ExternalReferences();
    params.array_buffer_allocator = allocator_.get();
    isolate_ = v8::Isolate::New(params);
  } else {
    creator_ = std::make_unique<v8::SnapshotCreator>(ExternalReferences(), &startup_data_);
    isolate_ = creator_->GetIsolate();
    // The creator enters its isolate for good; undo that, and enter it only
    // for the duration of each use (v8::Isolate::Scope below), so that several
    // hosts can live on one thread in any order (V8 keeps the entered isolate
    // in a thread-local stack). DropIsolate enters it again for the creator's
    // destructor, which exits it.
    isolate_->Exit();
  }
  absl::Status restored = absl::OkStatus();
  {
    v8::Isolate::Scope isolate_scope(isolate_);
    isolate_->SetData(kNativeHostSlot, this);
    isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
    isolate_->AddNearHeapLimitCallback(&PersistentIsolate::NearHeapLimit, this);
    isolate_->SetPromiseRejectCallback(&PersistentIsolate::OnPromiseReject);
    InstallModuleHost(isolate_, &modules_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> context = v8::Context::New(isolate_);
    v8::Local<v8::Object> internals;
    if (context.IsEmpty()) {
      restored = absl::DataLossError("heap snapshot has no context");
    } else if (!context->GetDataFromSnapshotOnce<v8::Object>(0).ToLocal(&internals)) {
      restored = absl::DataLossError("heap snapshot lacks Ken's internals (not a Ken heap?)");
    } else {
      v8::Context::Scope context_scope(context);
      RestoreStackTraceLimit(context, internals);
      context_.Reset(isolate_, context);
      internals_.Reset(isolate_, internals);
    }
  }
  if (!restored.ok()) {
    DropIsolate();  // outside the Isolate::Scope: it disposes the isolate
    return restored;
  }
  if (options_.on_restore) {
    restored = options_.on_restore(*this);
    if (!restored.ok()) {
      DropIsolate();
      return restored;
    }
    if (isolate_ == nullptr) return absl::InternalError("the isolate was dropped while it was being restored");
  }
  return absl::OkStatus();
}

void PersistentIsolate::DropIsolate() {
  modules_.Clear();
  context_.Reset();
  internals_.Reset();
  // Disposes the isolate without CreateBlob: every effect since the last
  // accepted blob is gone. (The creator's destructor exits the isolate.)
  if (creator_ != nullptr) {
    isolate_->Enter();
    creator_.reset();
  } else if (isolate_ != nullptr) {
    isolate_->Dispose();
  }
  isolate_ = nullptr;
  restored_from_.reset();
}

void PersistentIsolate::Accept(std::string blob) {
  DropIsolate();
  blob_ = std::make_shared<const std::string>(std::move(blob));
}

PersistentIsolate::Blob PersistentIsolate::SwapBlob(Blob blob) {
  DropIsolate();
  std::swap(blob_, blob);
  return blob;
}

size_t PersistentIsolate::NearHeapLimit(void* data, size_t current_limit, size_t initial_limit) {
  auto* self = static_cast<PersistentIsolate*>(data);
  self->heap_limit_hit_ = true;
  self->isolate_->TerminateExecution();
  // Room for the terminating turn to unwind; the isolate is then discarded.
  return current_limit * 2;
}

void PersistentIsolate::WatchdogLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    if (!armed_) {
      cv_.wait(l);
      continue;
    }
    const uint64_t id = turn_id_;
    if (!timed_out_ && !interrupted_) {
      const int64_t timeout = timeout_ms_ > 0 ? timeout_ms_ : options_.turn_timeout_ms;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
      bool ended =
          cv_.wait_until(l, deadline, [&] { return stopping_ || !armed_ || turn_id_ != id || interrupted_; });
      if (ended && !interrupted_) continue;
      if (!ended) timed_out_ = true;
    }
    // Terminated, and again every 50 ms until the turn ends: host code that
    // runs JS after a termination has unwound (formatting a thrown value,
    // reading a hook) must not run the program's code unchecked.
    isolate_->TerminateExecution();
    cv_.wait_for(l, std::chrono::milliseconds(50), [&] { return stopping_ || !armed_ || turn_id_ != id; });
  }
}

void PersistentIsolate::Arm() {
  heap_limit_hit_ = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    armed_ = true;
    timed_out_ = false;
    interrupted_ = false;
    ++turn_id_;
  }
  cv_.notify_all();
}

void PersistentIsolate::Disarm(bool* timed_out, bool* interrupted) {
  {
    std::lock_guard<std::mutex> l(mu_);
    armed_ = false;
    *timed_out = timed_out_;
    *interrupted = interrupted_;
  }
  cv_.notify_all();
}

std::string PersistentIsolate::FormatUnderWatchdog(const TurnScope& scope, v8::Local<v8::Value> value) {
  // Formatting runs the program's code (getters, Proxy traps, toString):
  // it gets a turn timeout of its own.
  Arm();
  std::string text = Inspect(scope, value, true, /*uncaught=*/true);
  bool timed_out, interrupted;
  Disarm(&timed_out, &interrupted);
  if (timed_out || interrupted || heap_limit_hit_ || isolate_->IsExecutionTerminating()) {
    isolate_->CancelTerminateExecution();
    text = "[a value that could not be formatted: formatting it ran past the turn timeout]";
  }
  return text;
}

namespace {

// For a script that did not compile (a SyntaxError with no stack frames),
// where: "NAME:LINE:COLUMN", the source line and a caret under the error,
// as Node prints it; "" for anything else. Reads nothing the program can
// have replaced (the error is V8's, made just now).
std::string SyntaxErrorLocation(v8::Isolate* isolate, v8::Local<v8::Context> context,
                                v8::Local<v8::Message> message, v8::Local<v8::Value> exception) {
  if (message.IsEmpty() || !exception->IsNativeError()) return "";
  v8::Local<v8::Object> error = exception.As<v8::Object>();
  if (StdString(isolate, error->GetConstructorName()) != "SyntaxError") return "";
  v8::Local<v8::StackTrace> frames = message->GetStackTrace();
  if (!frames.IsEmpty() && frames->GetFrameCount() > 0) return "";
  // A module file's syntax error, thrown by the natives the built-in module
  // loaders call: its place in the file (js_api/esm.h), never ken:*.js.
  if (StdString(isolate, message->GetScriptResourceName()).rfind("ken:", 0) == 0) {
    return ThrownSourceLocation(isolate, context, exception);
  }
  return SourceLocationBlock(isolate, context, message);
}

}  // namespace

void PersistentIsolate::OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Local<v8::Promise> promise = message.GetPromise();
  v8::Isolate* isolate = promise->GetIsolate();
  auto* self = static_cast<PersistentIsolate*>(static_cast<NativeHost*>(isolate->GetData(kNativeHostSlot)));
  if (self == nullptr || !self->tracking_rejections_) return;
  auto& list = self->rejections_;
  switch (message.GetEvent()) {
    case v8::kPromiseRejectWithNoHandler:
      list.emplace_back(v8::Global<v8::Promise>(isolate, promise), v8::Global<v8::Value>(isolate, message.GetValue()));
      break;
    case v8::kPromiseHandlerAddedAfterReject:
      for (auto it = list.begin(); it != list.end(); ++it) {
        if (it->first == promise) {
          list.erase(it);
          break;
        }
      }
      break;
    default:  // a resolve or reject after the promise was resolved: no effect
      break;
  }
}

TurnResult PersistentIsolate::RunTurn(const TurnBody& body, TurnMode mode, int64_t clock_ms, int64_t timeout_ms) {
  TurnResult result;
  if (absl::Status s = EnsureIsolate(); !s.ok()) {
    result.status = TurnStatus::kHostError;
    result.error = std::string(s.message());
    return result;
  }
  // After the restore (which may run turns of its own, with their clocks).
  TurnClockScope clock(clock_ms >= 0 ? clock_ms : SystemClockMs());
  {
    std::lock_guard<std::mutex> l(mu_);
    timeout_ms_ = timeout_ms;
  }
  Arm();
  bool drop = true;
  {
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> context = context_.Get(isolate_);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate_);
    TurnScope scope{isolate_, context, internals_.Get(isolate_)};
    rejections_.clear();
    tracking_rejections_ = true;
    absl::StatusOr<std::string> out = body(scope);
    if (out.ok() && !try_catch.HasCaught()) isolate_->PerformMicrotaskCheckpoint();
    modules_.Clear();
    tracking_rejections_ = false;
    bool timed_out, interrupted;
    Disarm(&timed_out, &interrupted);
    if (timed_out || interrupted || heap_limit_hit_ || try_catch.HasTerminated() || isolate_->IsExecutionTerminating()) {
      if (interrupted) {
        result.status = TurnStatus::kInterrupted;
        result.error = "turn interrupted; the heap is as before the turn";
      } else if (heap_limit_hit_) {
        result.status = TurnStatus::kHeapLimit;
        result.error = "turn aborted: it reached the heap limit; the heap is as before the turn";
      } else {
        result.status = TurnStatus::kTimedOut;
        result.error = absl::StrCat("turn aborted: it ran longer than the turn timeout (",
                                    options_.turn_timeout_ms, " ms); the heap is as before the turn");
      }
    } else if (!out.ok() || try_catch.HasCaught()) {
      result.status = TurnStatus::kThrew;
      if (try_catch.HasCaught()) {
        v8::Local<v8::Value> exception = try_catch.Exception();
        const std::string where = SyntaxErrorLocation(isolate_, context, try_catch.Message(), exception);
        try_catch.Reset();
        result.error = where + "Uncaught " + FormatUnderWatchdog(scope, exception);
      } else {
        result.error = std::string(out.status().message());
      }
    } else {
      result.output = *out;
      drop = mode == TurnMode::kDiscard;
      for (auto& [promise, reason] : rejections_) {
        result.unhandled_rejections.push_back("Uncaught " + FormatUnderWatchdog(scope, reason.Get(isolate_)));
      }
    }
    rejections_.clear();
  }
  if (drop) {
    DropIsolate();
    return result;
  }
  if (mode == TurnMode::kCheckpoint) {
    absl::StatusOr<std::string> blob = Snapshot();
    if (!blob.ok()) {
      result.status = TurnStatus::kHostError;
      result.error = absl::StrCat("turn aborted: ", blob.status().message());
      result.output.clear();
      return result;
    }
    result.blob = std::move(*blob);
  }
  return result;
}

void PersistentIsolate::Interrupt() {
  std::lock_guard<std::mutex> l(mu_);
  if (!armed_ || isolate_ == nullptr) return;
  interrupted_ = true;  // the watchdog terminates the turn until it ends
  cv_.notify_all();
}

absl::StatusOr<std::string> PersistentIsolate::Snapshot() {
  if (isolate_ == nullptr) return absl::FailedPreconditionError("no live isolate to snapshot");
  if (creator_ == nullptr) return absl::FailedPreconditionError("a plain (journal-mode) isolate cannot be snapshotted");
  const auto started = std::chrono::steady_clock::now();
  absl::Status hooks = absl::OkStatus();
  {
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> context = context_.Get(isolate_);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate_);
    v8::Local<v8::Object> internals = internals_.Get(isolate_);
    // Before-checkpoint hooks drop what a snapshot cannot hold (Intl's ICU
    // objects); then the context and internals go into the blob. They are
    // JS, so they run under the watchdog like any turn.
    {
      std::lock_guard<std::mutex> l(mu_);
      timeout_ms_ = 0;
    }
    Arm();
    v8::Local<v8::Value> hooks_value;
    bool ok = internals->Get(context, V8String(isolate_, "beforeCheckpoint")).ToLocal(&hooks_value);
    if (ok && hooks_value->IsArray()) {
      v8::Local<v8::Array> list = hooks_value.As<v8::Array>();
      for (uint32_t i = 0; ok && i < list->Length(); ++i) {
        v8::Local<v8::Value> hook;
        ok = list->Get(context, i).ToLocal(&hook) && hook->IsFunction() &&
             !hook.As<v8::Function>()->Call(context, v8::Undefined(isolate_), 0, nullptr).IsEmpty();
      }
    }
    if (ok) isolate_->PerformMicrotaskCheckpoint();
    bool timed_out, interrupted;
    Disarm(&timed_out, &interrupted);
    if (interrupted) {
      hooks = absl::CancelledError("interrupted while preparing the checkpoint");
    } else if (heap_limit_hit_) {
      hooks = absl::ResourceExhaustedError("a before-checkpoint hook reached the heap limit");
    } else if (timed_out || try_catch.HasTerminated() || isolate_->IsExecutionTerminating()) {
      hooks = absl::DeadlineExceededError(absl::StrCat("a before-checkpoint hook ran longer than the turn timeout (",
                                                       options_.turn_timeout_ms, " ms)"));
    } else if (!ok || try_catch.HasCaught()) {
      std::string what = "unknown error";
      if (try_catch.HasCaught()) {
        v8::Local<v8::Value> exception = try_catch.Exception();
        try_catch.Reset();
        TurnScope scope{isolate_, context, internals};
        what = FormatUnderWatchdog(scope, exception);
      }
      hooks = absl::AbortedError(absl::StrCat("a before-checkpoint hook threw: ", what));
    }
    if (hooks.ok()) {
      StashStackTraceLimit(context, internals);
      v8::HeapStatistics stats;
      isolate_->GetHeapStatistics(&stats);
      last_snapshot_heap_bytes_ = stats.used_heap_size();
      creator_->AddData(context, internals);
      creator_->SetDefaultContext(context);
    }
  }
  if (!hooks.ok()) {
    DropIsolate();
    return hooks;
  }
  modules_.Clear();
  context_.Reset();
  internals_.Reset();
  isolate_->Enter();  // for CreateBlob, and exited by the creator's destructor
  v8::StartupData blob = creator_->CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  creator_.reset();
  isolate_ = nullptr;
  if (blob.data == nullptr || blob.raw_size <= 0) {
    delete[] blob.data;
    return absl::InternalError("V8 could not snapshot the heap");
  }
  std::string out(blob.data, static_cast<size_t>(blob.raw_size));
  delete[] blob.data;
  last_snapshot_ms_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  return out;
}

absl::StatusOr<PersistentIsolate::Syntax> PersistentIsolate::CheckSyntax(const std::string& source) {
  if (absl::Status s = EnsureIsolate(); !s.ok()) return s;
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::Local<v8::Context> context = context_.Get(isolate_);
  v8::Context::Scope context_scope(context);
  // V8 says "Unexpected end of input" for an open block, call or function,
  // "Unterminated template literal" for an open `...`, and "Invalid or
  // unexpected token" for an open /* comment (and for real errors, so the
  // comment case is confirmed by closing it).
  auto compile_error = [&](const std::string& text) -> std::string {
    v8::TryCatch try_catch(isolate_);
    v8::ScriptOrigin origin(isolate_, V8String(isolate_, "check"));
    v8::ScriptCompiler::Source src(V8String(isolate_, text), origin);
    if (!v8::ScriptCompiler::Compile(context, &src).IsEmpty()) return "";
    if (!try_catch.HasCaught() || try_catch.Message().IsEmpty()) return "unknown error";
    return StdString(isolate_, try_catch.Message()->Get());
  };
  auto unfinished = [](const std::string& message) {
    return message.find("Unexpected end of input") != std::string::npos ||
           message.find("Unterminated template literal") != std::string::npos;
  };
  std::string message = compile_error(source);
  if (message.empty()) return Syntax::kValid;
  if (unfinished(message)) return Syntax::kIncomplete;
  if (message.find("Invalid or unexpected token") != std::string::npos &&
      source.find("/*") != std::string::npos) {
    std::string closed = compile_error(source + "*/");
    if (closed.empty() || unfinished(closed)) return Syntax::kIncomplete;
  }
  return Syntax::kInvalid;
}

absl::StatusOr<size_t> PersistentIsolate::UsedHeapBytes() {
  if (absl::Status s = EnsureIsolate(); !s.ok()) return s;
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HeapStatistics stats;
  isolate_->GetHeapStatistics(&stats);
  return stats.used_heap_size();
}

absl::StatusOr<size_t> PersistentIsolate::LiveBytes(size_t limit) {
  if (absl::Status s = EnsureIsolate(); !s.ok()) return s;
  v8::Isolate::Scope isolate_scope(isolate_);
  auto measure = [this] {
    v8::HeapStatistics stats;
    isolate_->GetHeapStatistics(&stats);
    return stats.used_heap_size() + stats.external_memory();
  };
  size_t bytes = measure();
  if (bytes <= limit) return bytes;
  isolate_->LowMemoryNotification();  // full GCs: what a snapshot would hold
  return measure();
}

void PersistentIsolate::ConsoleWrite(int stream, std::string_view text) {
  if (!console_muted_) options_.console(stream, text);
}

absl::Status PersistentIsolate::Send(const std::string& dst, std::string payload) {
  if (!options_.send) {
    return absl::FailedPreconditionError("ken.send: this node is not part of a cluster (started by ken shell)");
  }
  return options_.send(dst, std::move(payload));
}

absl::StatusOr<NativeHost::ModuleFile> PersistentIsolate::ReadModuleFile(const std::string& path) {
  if (!options_.read_module) return ModuleFile();
  return options_.read_module(path);
}

v8::MaybeLocal<v8::Value> EvalScript(const TurnScope& scope, const std::string& source,
                                     const std::string& name) {
  v8::ScriptOrigin origin(scope.isolate, V8String(scope.isolate, name));
  v8::ScriptCompiler::Source src(V8String(scope.isolate, source), origin);
  v8::Local<v8::Script> script;
  if (!v8::ScriptCompiler::Compile(scope.context, &src).ToLocal(&script)) return {};
  return script->Run(scope.context);
}

std::string Inspect(const TurnScope& scope, v8::Local<v8::Value> value, bool top, bool uncaught) {
  v8::Isolate* isolate = scope.isolate;
  if (isolate->IsExecutionTerminating()) return "[value could not be inspected: the turn was terminated]";
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> fn;
  if (!scope.internals->Get(scope.context, V8String(isolate, "inspect")).ToLocal(&fn) || !fn->IsFunction()) {
    return StdString(isolate, value);
  }
  v8::Local<v8::Object> options = v8::Object::New(isolate, v8::Null(isolate), nullptr, nullptr, 0);
  if (uncaught && !options->CreateDataProperty(scope.context, V8String(isolate, "uncaught"), v8::True(isolate))
                       .FromMaybe(false)) {
    return "[value could not be inspected]";
  }
  v8::Local<v8::Value> args[] = {value, v8::Boolean::New(isolate, top), options};
  v8::Local<v8::Value> text;
  if (!fn.As<v8::Function>()->Call(scope.context, v8::Undefined(isolate), 3, args).ToLocal(&text)) {
    return "[value could not be inspected]";
  }
  return StdString(isolate, text);
}

bool ToJson(const TurnScope& scope, v8::Local<v8::Value> value, std::string* out) {
  // JSON.stringify has no text for these (it returns undefined).
  if (value->IsUndefined() || value->IsFunction() || value->IsSymbol()) return false;
  if (scope.isolate->IsExecutionTerminating()) return false;
  v8::TryCatch try_catch(scope.isolate);
  v8::Local<v8::String> json;
  if (!v8::JSON::Stringify(scope.context, value).ToLocal(&json)) return false;
  *out = StdString(scope.isolate, json);
  return true;
}

std::string JsonOrInspect(const TurnScope& scope, v8::Local<v8::Value> value) {
  std::string shell = Inspect(scope, value, true);
  std::string json;
  if (scope.isolate->IsExecutionTerminating() || !ToJson(scope, value, &json)) return shell;
  v8::TryCatch try_catch(scope.isolate);
  v8::Local<v8::Value> parsed;
  if (!v8::JSON::Parse(scope.context, V8String(scope.isolate, json)).ToLocal(&parsed)) return shell;
  return Inspect(scope, parsed, true) == shell ? json : shell;
}

}  // namespace ken

namespace ken {

absl::StatusOr<std::vector<std::string>> PersistentIsolate::GcObservableObjects() {
  if (absl::Status s = EnsureIsolate(); !s.ok()) return s;
  std::vector<std::string> found;
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::HeapProfiler* profiler = isolate_->GetHeapProfiler();
  // The snapshot is taken after a full GC: it holds reachable objects only.
  const v8::HeapSnapshot* snapshot = profiler->TakeHeapSnapshot();
  if (snapshot == nullptr) return absl::InternalError("V8 could not take a heap snapshot");
  for (int i = 0; i < snapshot->GetNodesCount(); ++i) {
    const v8::HeapGraphNode* node = snapshot->GetNode(i);
    if (node->GetType() != v8::HeapGraphNode::kObject) continue;
    const std::string name = StdString(isolate_, node->GetName());
    bool weak_target = false, prototype = false;
    for (int e = 0; e < node->GetChildrenCount(); ++e) {
      const v8::HeapGraphEdge* edge = node->GetChild(e);
      if (edge->GetType() == v8::HeapGraphEdge::kWeak && StdString(isolate_, edge->GetName()) == "target") {
        weak_target = true;
      }
      // WeakRef.prototype and FinalizationRegistry.prototype carry the
      // class name too, and own a `constructor`; instances do not.
      if (edge->GetType() == v8::HeapGraphEdge::kProperty && StdString(isolate_, edge->GetName()) == "constructor") {
        prototype = true;
      }
    }
    // A WeakRef's target is a weak reference of the object itself (a
    // WeakMap's entries are not).
    if (weak_target || (!prototype && (name == "WeakRef" || name == "FinalizationRegistry"))) found.push_back(name);
  }
  const_cast<v8::HeapSnapshot*>(snapshot)->Delete();
  return found;
}

}  // namespace ken
