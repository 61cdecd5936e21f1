#include "runtime/isolate/turn_clock.h"

#include <chrono>

namespace ken {
namespace {

thread_local int64_t g_turn_clock_ms = -1;  // -1: no turn

}  // namespace

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TurnClockScope::TurnClockScope(int64_t unix_ms) : previous_(g_turn_clock_ms) { g_turn_clock_ms = unix_ms; }

TurnClockScope::~TurnClockScope() { g_turn_clock_ms = previous_; }

double TurnClockMs() {
  if (g_turn_clock_ms >= 0) return static_cast<double>(g_turn_clock_ms);
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace ken
