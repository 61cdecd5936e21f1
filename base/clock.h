// Time source for retransmission timing, replaceable in tests.
#ifndef KEN_BASE_CLOCK_H_
#define KEN_BASE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace ken {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds; any thread.
  virtual int64_t NowMs() const = 0;
};

class SteadyClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock tests move by hand.
class FakeClock : public Clock {
 public:
  int64_t NowMs() const override { return now_ms_; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  int64_t now_ms_ = 1000;
};

}  // namespace ken

#endif  // KEN_BASE_CLOCK_H_
