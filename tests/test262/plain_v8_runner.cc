// The plain-V8 reference for Ken's test262 sample (tests/test262/README.md):
// runs each test of manifest.txt in a bare V8 10.2 isolate, with V8's own
// default flags (not Ken's: ken::InitializeV8 switches off the builtins that
// js_api/polyfills.js defines), and prints one line per test and strictness
// variant:
//   PASS <TAB> path <TAB> sloppy|strict
//   FAIL <TAB> path <TAB> sloppy|strict <TAB> reason
// update_expected.sh turns that into expected_pass.txt / expected_fail.txt.
//
// The test's realm is a fresh context. Like Ken's runner (ken_test262_test.cc),
// it runs each harness file as its own script in non-strict code, then the
// test as one script, prefixed with "use strict";\n for the strict variant
// (test262 INTERPRETING.md), then drains the microtask queue. The host
// provides print() (for async tests' $DONE) and nothing else: no $262.
//
// Usage: plain_v8_runner [--root DIR] [--filter SUBSTRING]
//   DIR (default tests/test262) holds manifest.txt, test/ and harness/.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "libplatform/libplatform.h"
#include "v8.h"

namespace {

struct TestCase {
  std::string path;
  std::vector<std::string> variants;  // "sloppy", "strict"
  bool async = false;
  std::string negative_phase;  // "" unless a negative test
  std::string negative_type;
  std::vector<std::string> includes;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::vector<TestCase> ReadManifest(const std::string& root) {
  std::string text;
  if (!ReadFile(root + "/manifest.txt", &text)) {
    fprintf(stderr, "cannot read %s/manifest.txt\n", root.c_str());
    exit(2);
  }
  std::vector<TestCase> tests;
  for (const std::string& line : Split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = Split(line, '\t');
    if (f.size() != 5) {
      fprintf(stderr, "bad manifest line: %s\n", line.c_str());
      exit(2);
    }
    TestCase t;
    t.path = f[0];
    t.variants = Split(f[1], ',');
    t.async = f[2] == "async";
    if (f[3] != "-") {
      size_t colon = f[3].find(':');
      t.negative_phase = f[3].substr(0, colon);
      t.negative_type = f[3].substr(colon + 1);
    }
    t.includes = Split(f[4], ',');
    tests.push_back(t);
  }
  return tests;
}

std::string ToUtf8(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  v8::String::Utf8Value s(isolate, v);
  return *s != nullptr ? std::string(*s, s.length()) : std::string("<unprintable>");
}

// Terminates the script running in `isolate` once `deadline` passes.
class Watchdog {
 public:
  explicit Watchdog(v8::Isolate* isolate) : isolate_(isolate), thread_([this] { Loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Arm(std::chrono::milliseconds ms) {
    std::lock_guard<std::mutex> l(mu_);
    deadline_ = std::chrono::steady_clock::now() + ms;
    armed_ = true;
    fired_ = false;
    cv_.notify_all();
  }
  bool Disarm() {  // whether it fired
    std::lock_guard<std::mutex> l(mu_);
    armed_ = false;
    return fired_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!done_) {
      if (!armed_) {
        cv_.wait(l);
        continue;
      }
      if (cv_.wait_until(l, deadline_) == std::cv_status::timeout && armed_ &&
          std::chrono::steady_clock::now() >= deadline_) {
        isolate_->TerminateExecution();
        fired_ = true;
        armed_ = false;
      }
    }
  }
  v8::Isolate* isolate_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false, fired_ = false, done_ = false;
  std::thread thread_;
};

void Print(const v8::FunctionCallbackInfo<v8::Value>& info) {
  auto* prints = static_cast<std::vector<std::string>*>(info.Data().As<v8::External>()->Value());
  std::string line;
  for (int i = 0; i < info.Length(); ++i) line += (i ? " " : "") + ToUtf8(info.GetIsolate(), info[i]);
  prints->push_back(line);
}

// The name of a thrown value's constructor ("TypeError", "Test262Error"), or
// its string form for a primitive.
std::string ErrorType(v8::Local<v8::Context> context, v8::Local<v8::Value> exception) {
  v8::Isolate* isolate = context->GetIsolate();
  if (!exception->IsObject()) return "(a primitive: " + ToUtf8(isolate, exception) + ")";
  v8::TryCatch ignore(isolate);
  v8::Local<v8::Value> ctor;
  if (!exception.As<v8::Object>()->Get(context, v8::String::NewFromUtf8Literal(isolate, "constructor")).ToLocal(&ctor) ||
      !ctor->IsObject())
    return "(an object without a constructor)";
  v8::Local<v8::Value> name;
  if (!ctor.As<v8::Object>()->Get(context, v8::String::NewFromUtf8Literal(isolate, "name")).ToLocal(&name))
    return "(unnamed)";
  return ToUtf8(isolate, name);
}

std::string Describe(v8::Local<v8::Context> context, v8::Local<v8::Value> exception) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch ignore(isolate);
  std::string text;
  if (exception->IsObject()) {
    v8::Local<v8::Value> message;
    if (exception.As<v8::Object>()->Get(context, v8::String::NewFromUtf8Literal(isolate, "message")).ToLocal(&message) &&
        !message->IsUndefined())
      text = ToUtf8(isolate, message);
  } else {
    text = ToUtf8(isolate, exception);
  }
  std::string out = ErrorType(context, exception) + ": " + text;
  for (char& c : out)
    if (c == '\n' || c == '\t') c = ' ';
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

// What a script did: "ok", or the phase where it threw and what.
struct Outcome {
  std::string phase;  // "ok", "parse", "runtime", "timeout"
  std::string type;
  std::string detail;
};

Outcome RunScript(v8::Local<v8::Context> context, Watchdog* watchdog, const std::string& source,
                  const std::string& name) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::ScriptOrigin origin(isolate, v8::String::NewFromUtf8(isolate, name.c_str()).ToLocalChecked());
  v8::Local<v8::String> src;
  if (!v8::String::NewFromUtf8(isolate, source.data(), v8::NewStringType::kNormal, static_cast<int>(source.size()))
           .ToLocal(&src))
    return {"parse", "(source)", "source not valid"};
  v8::Local<v8::Script> script;
  watchdog->Arm(std::chrono::milliseconds(20000));
  Outcome out{"ok", "", ""};
  if (!v8::Script::Compile(context, src, &origin).ToLocal(&script)) {
    out = {"parse", ErrorType(context, try_catch.Exception()), Describe(context, try_catch.Exception())};
  } else if (script->Run(context).IsEmpty()) {
    if (try_catch.HasTerminated()) {
      out = {"timeout", "", "ran longer than 20 s"};
    } else {
      out = {"runtime", ErrorType(context, try_catch.Exception()), Describe(context, try_catch.Exception())};
    }
  }
  if (out.phase != "timeout") isolate->PerformMicrotaskCheckpoint();
  if (watchdog->Disarm() && out.phase == "ok") out = {"timeout", "", "its microtasks ran longer than 20 s"};
  isolate->CancelTerminateExecution();
  return out;
}

// "" if the test passed, else why not.
std::string RunTest(v8::Isolate* isolate, Watchdog* watchdog, const std::string& root, const TestCase& t,
                    const std::string& variant, std::map<std::string, std::string>* harness_cache) {
  v8::HandleScope handle_scope(isolate);
  std::vector<std::string> prints;
  v8::Local<v8::ObjectTemplate> global = v8::ObjectTemplate::New(isolate);
  global->Set(isolate, "print", v8::FunctionTemplate::New(isolate, Print, v8::External::New(isolate, &prints)),
              v8::DontEnum);
  v8::Local<v8::Context> context = v8::Context::New(isolate, nullptr, global);
  v8::Context::Scope context_scope(context);
  for (const std::string& h : t.includes) {
    auto it = harness_cache->find(h);
    if (it == harness_cache->end()) {
      std::string src;
      if (!ReadFile(root + "/harness/" + h, &src)) return "cannot read harness/" + h;
      it = harness_cache->emplace(h, src).first;
    }
    Outcome o = RunScript(context, watchdog, it->second, "harness/" + h);
    if (o.phase != "ok") return "harness " + h + " failed (" + o.phase + "): " + o.detail;
  }
  std::string src;
  if (!ReadFile(root + "/" + t.path, &src)) return "cannot read " + t.path;
  if (variant == "strict") src = "\"use strict\";\n" + src;
  Outcome o = RunScript(context, watchdog, src, t.path);
  if (!t.negative_phase.empty()) {
    if (o.phase == t.negative_phase && o.type == t.negative_type) return "";
    if (o.phase == "ok") return "expected " + t.negative_type + " at " + t.negative_phase + ", nothing thrown";
    return "expected " + t.negative_type + " at " + t.negative_phase + ", got " + o.phase + " " + o.detail;
  }
  if (o.phase != "ok") return o.phase + " " + o.detail;
  if (t.async) {
    for (const std::string& p : prints) {
      if (p == "Test262:AsyncTestComplete") return "";
      if (p.rfind("Test262:AsyncTest", 0) == 0) return p;
    }
    return "async test never called $DONE";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = "tests/test262";
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--root" && i + 1 < argc) {
      root = argv[++i];
    } else if (a == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--root DIR] [--filter SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  std::vector<TestCase> tests = ReadManifest(root);

  v8::V8::InitializeICUDefaultLocation(argv[0]);
  std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform.get());
  v8::V8::Initialize();
  fprintf(stderr, "plain V8 %s, default flags\n", v8::V8::GetVersion());
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  int passed = 0, failed = 0;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
    Watchdog watchdog(isolate);
    std::map<std::string, std::string> harness_cache;
    for (const TestCase& t : tests) {
      if (!filter.empty() && t.path.find(filter) == std::string::npos) continue;
      for (const std::string& variant : t.variants) {
        std::string why = RunTest(isolate, &watchdog, root, t, variant, &harness_cache);
        if (why.empty()) {
          ++passed;
          printf("PASS\t%s\t%s\n", t.path.c_str(), variant.c_str());
        } else {
          ++failed;
          printf("FAIL\t%s\t%s\t%s\n", t.path.c_str(), variant.c_str(), why.c_str());
        }
        fflush(stdout);
      }
    }
  }
  isolate->Dispose();
  fprintf(stderr, "plain V8: %d passed, %d failed (of %d)\n", passed, failed, passed + failed);
  return 0;
}
