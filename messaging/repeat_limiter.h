// Keeps a warning that can repeat without end (a peer with the wrong cluster
// token retries every transmission) to one line per source per window, with
// the count of what it stands for. Thread-safe.
#ifndef KEN_MESSAGING_REPEAT_LIMITER_H_
#define KEN_MESSAGING_REPEAT_LIMITER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "base/clock.h"

namespace ken {

class RepeatLimiter {
 public:
  // `clock` must outlive the limiter. At most `max_keys` sources are told
  // apart; past that, new ones share the key "(other sources)", so a flood
  // of distinct sources cannot grow memory.
  explicit RepeatLimiter(const Clock* clock, int64_t window_ms = 60000, size_t max_keys = 1024);

  // Notes one occurrence from `key`. Returns 0 when it is not to be logged,
  // else how many occurrences the line to log stands for: 1 for the first
  // from `key` (or the first after a quiet window), 1 + the ones not logged
  // since the last line once `window_ms` has passed since that line.
  uint64_t Note(const std::string& key);

 private:
  struct Entry {
    int64_t logged_ms = 0;  // when the last line for this key was logged
    uint64_t unlogged = 0;  // occurrences since then, not logged
  };
  const Clock* clock_;
  const int64_t window_ms_;
  const size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace ken

#endif  // KEN_MESSAGING_REPEAT_LIMITER_H_
