// Process-wide V8 set-up. V8 can be initialised once per process, before any
// isolate exists; tests share one initialisation (docs/engine.md, "V8 initialisation").
#ifndef KEN_RUNTIME_ISOLATE_V8_INIT_H_
#define KEN_RUNTIME_ISOLATE_V8_INIT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace ken {

struct V8Config {
  // Old-generation heap limit per isolate, in MiB; a turn that reaches it is
  // aborted (near-heap-limit callback). 0 keeps V8's default.
  int64_t heap_limit_mb = 0;
};

// Initialises V8 once: sets the flags that make every isolate see the same
// builtins as the snapshot-creating isolates that write Ken's heaps (the
// flag-gated ones are provided by js_api/polyfills.js instead), creates the
// platform. Later calls do nothing. Call from the main thread before any
// isolate is created.
void InitializeV8(const V8Config& config);

// The V8 version string, e.g. "10.2.154.26-node.37".
std::string V8Version();

// The exact engine build, recorded with every checkpoint: the V8 version and
// the Debian package it comes from, e.g. "v8 10.2.154.26-node.37; libnode108
// 18.20.4+dfsg-1~deb12u3". A heap snapshot opens only in the build that
// wrote it.
std::string EngineBuild();

// Whether a heap recorded as written by `engine` can be restored here: the
// exact build, or (checkpoints written before the package was recorded hold
// the bare V8 version) the same V8 version. kFailedPrecondition otherwise,
// with what to do.
absl::Status CheckEngine(const std::string& engine);

}  // namespace ken

#endif  // KEN_RUNTIME_ISOLATE_V8_INIT_H_
