// Process-wide V8 set-up. V8 can be initialised once per process, before any
// isolate exists; tests share one initialisation (see ../shared/BUILDING.md).
#ifndef KEN_RUNTIME_ISOLATE_V8_INIT_H_
#define KEN_RUNTIME_ISOLATE_V8_INIT_H_

#include <cstdint>
#include <string>

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

// The V8 version string, recorded with every checkpoint.
std::string V8Version();

}  // namespace ken

#endif  // KEN_RUNTIME_ISOLATE_V8_INIT_H_
