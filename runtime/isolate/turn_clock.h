// The wall clock a turn sees. Date.now(), new Date() and Intl's default time
// all read v8::Platform::CurrentClockTimeMillis() (in every tier: TurboFan
// lowers Date.now to a runtime call that reaches it), which Ken's platform
// answers from here: during a turn, the turn's own clock value, fixed for its
// whole duration (as Cloudflare Workers do) and recorded with the turn, so
// the turn can be replayed; outside turns, the system clock. The platform
// method has no isolate argument, so the value is per thread: each isolate
// runs turns on one thread at a time.
#ifndef KEN_RUNTIME_ISOLATE_TURN_CLOCK_H_
#define KEN_RUNTIME_ISOLATE_TURN_CLOCK_H_

#include <cstdint>

namespace ken {

// Milliseconds since the Unix epoch from the system clock.
int64_t SystemClockMs();

// Sets the clock of turns run on this thread until the scope ends.
class TurnClockScope {
 public:
  explicit TurnClockScope(int64_t unix_ms);
  ~TurnClockScope();
  TurnClockScope(const TurnClockScope&) = delete;
  TurnClockScope& operator=(const TurnClockScope&) = delete;

 private:
  int64_t previous_;
};

// What CurrentClockTimeMillis answers on this thread (ms since the epoch).
double TurnClockMs();

}  // namespace ken

#endif  // KEN_RUNTIME_ISOLATE_TURN_CLOCK_H_
