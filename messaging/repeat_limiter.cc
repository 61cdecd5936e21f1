#include "messaging/repeat_limiter.h"

#include <iterator>

namespace ken {

RepeatLimiter::RepeatLimiter(const Clock* clock, int64_t window_ms, size_t max_keys)
    : clock_(clock), window_ms_(window_ms), max_keys_(max_keys) {}

uint64_t RepeatLimiter::Note(const std::string& key) {
  const int64_t now = clock_->NowMs();
  std::lock_guard<std::mutex> l(mu_);
  std::string k = key;
  if (entries_.count(k) == 0 && entries_.size() >= max_keys_) {
    // Forget sources quiet for a whole window before merging new ones.
    for (auto e = entries_.begin(); e != entries_.end();) {
      e = now - e->second.logged_ms >= window_ms_ && e->second.unlogged == 0 ? entries_.erase(e) : std::next(e);
    }
    if (entries_.size() >= max_keys_) k = "(other sources)";
  }
  auto [it, inserted] = entries_.try_emplace(k, Entry{now, 0});
  if (inserted) return 1;
  Entry& e = it->second;
  if (now - e.logged_ms < window_ms_) {
    ++e.unlogged;
    return 0;
  }
  const uint64_t count = e.unlogged + 1;
  e = Entry{now, 0};
  return count;
}

}  // namespace ken
