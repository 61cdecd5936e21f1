// Ken's v8::Platform: V8's default platform (worker threads, task runners,
// tracing) with one change: CurrentClockTimeMillis answers the turn clock
// (turn_clock.h), so Date.now() is fixed for the whole of a turn.
#ifndef KEN_RUNTIME_ISOLATE_PLATFORM_H_
#define KEN_RUNTIME_ISOLATE_PLATFORM_H_

#include <memory>

#include "v8-platform.h"

namespace ken {

// Wraps `inner` (e.g. v8::platform::NewDefaultPlatform()); owns it.
std::unique_ptr<v8::Platform> NewKenPlatform(std::unique_ptr<v8::Platform> inner);

}  // namespace ken

#endif  // KEN_RUNTIME_ISOLATE_PLATFORM_H_
