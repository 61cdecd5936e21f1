// A mutex that both ThreadSanitizer and clang's -Wthread-safety understand.
//
// absl::Mutex would carry the annotations, but Ken links Debian's Abseil,
// which is not built with -fsanitize=thread: TSan cannot see its lock and
// unlock, so it reports every access the mutex guards as a race (and would
// hide real ones among them). std::mutex is pthread_mutex inlined into Ken's
// own code, which TSan intercepts; this wrapper adds the capability
// annotations that std::mutex lacks in libstdc++.
// Any thread; not recursive.
#ifndef KEN_BASE_MUTEX_H_
#define KEN_BASE_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace ken {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace ken

#endif  // KEN_BASE_MUTEX_H_
