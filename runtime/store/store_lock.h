// One writer per store: an exclusive flock(2) on `<store>.lock`, which also
// holds the holder's pid for the error message. The kernel drops the lock when
// the holder exits for any reason (kill -9 included), so a crashed node never
// blocks its own restart. The lock file itself is left in place: removing it
// would race with a process that just opened it.
#ifndef KEN_RUNTIME_STORE_STORE_LOCK_H_
#define KEN_RUNTIME_STORE_STORE_LOCK_H_

#include <string>

#include "absl/status/statusor.h"

namespace ken {

class StoreLock {
 public:
  // An empty lock (holds nothing), as used by read-only stores.
  StoreLock() = default;

  // Takes the lock for `store_path` without waiting. Errors:
  // kFailedPrecondition "store X is in use by another process (pid N)";
  // kPermissionDenied / kInternal when the lock file cannot be created.
  static absl::StatusOr<StoreLock> Acquire(const std::string& store_path);

  StoreLock(StoreLock&& other) noexcept;
  StoreLock& operator=(StoreLock&& other) noexcept;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock();

  bool held() const { return fd_ >= 0; }

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ken

#endif  // KEN_RUNTIME_STORE_STORE_LOCK_H_
