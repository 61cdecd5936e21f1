// Who answers a queued request: the turn loop, once it starts the request's
// turn (Take), or the caller, if the turn loop has not started it in time
// (Abandon). Exactly one of them wins, so a request answered "not run" never
// runs afterwards. Any thread.
#ifndef KEN_BASE_CLAIM_H_
#define KEN_BASE_CLAIM_H_

#include <atomic>

namespace ken {

class Claim {
 public:
  bool Take() { return Move(kTaken); }
  bool Abandon() { return Move(kAbandoned); }

 private:
  enum State { kQueued, kTaken, kAbandoned };
  bool Move(int to) {
    int expected = kQueued;
    return state_.compare_exchange_strong(expected, to);
  }
  std::atomic<int> state_{kQueued};
};

}  // namespace ken

#endif  // KEN_BASE_CLAIM_H_
