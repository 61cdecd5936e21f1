#include "runtime/isolate/v8_init.h"

#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "libplatform/libplatform.h"
#include "runtime/isolate/engine_version.h"
#include "runtime/isolate/platform.h"
#include "v8.h"

namespace ken {

void InitializeV8(const V8Config& config) {
  static std::once_flag once;
  std::call_once(once, [&config] {
    // Builtins V8 installs only outside snapshot creation are switched off
    // everywhere; js_api/polyfills.js defines the spec ones in every heap.
    // SharedArrayBuffer, Atomics and WebAssembly cannot live in a checkpoint.
    std::string flags =
        "--no-harmony-object-has-own --no-harmony-relative-indexing-methods "
        "--no-harmony-array-find-last --no-harmony-sharedarraybuffer --no-harmony-atomics "
        "--no-expose-wasm";
    if (config.heap_limit_mb > 0) flags += " --max-old-space-size=" + std::to_string(config.heap_limit_mb);
    v8::V8::SetFlagsFromString(flags.c_str());
    static std::unique_ptr<v8::Platform> platform = NewKenPlatform(v8::platform::NewDefaultPlatform());
    v8::V8::InitializePlatform(platform.get());
    v8::V8::Initialize();
  });
}

std::string V8Version() { return v8::V8::GetVersion(); }

std::string EngineBuild() { return absl::StrCat("v8 ", V8Version(), "; libnode108 ", KEN_LIBNODE_VERSION); }

absl::Status CheckEngine(const std::string& engine) {
  if (engine == EngineBuild()) return absl::OkStatus();
  if (engine.find(';') == std::string::npos && engine == V8Version()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "its heap was written by engine '", engine, "', but this ken runs '", EngineBuild(),
      "'; a V8 heap snapshot opens only in the exact build that wrote it. Run the ken built with that engine "
      "(tools/setup.sh pins the libnode108 version), or move the program's data to a new store"));
}

}  // namespace ken
