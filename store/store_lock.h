// One writer per store: an exclusive flock(2) on `<store>.lock`, which also
// holds the holder's pid for the error message, and a second flock(2) on the
// store file itself (LockStoreFile), so that two paths to one file (a
// symlink, a hard link, `./x` and `x`) cannot give two writers: flock locks
// the inode, not the name. SQLite's own locks are fcntl(2) locks, which
// Linux keeps apart from flock locks. The kernel drops both when the holder
// exits for any reason (kill -9 included), so a crashed node never blocks
// its own restart. The lock file of a store that was opened is left in
// place. One that Acquire created for an open that was then refused (not a
// Ken store, corrupt, ...) is removed, while still locked, when the lock is
// released without Keep(): so a refused file gets no `.lock` beside it. That
// removal is safe against a process that opened the file meanwhile: Acquire
// checks, once it holds the flock, that the name still leads to the file it
// locked, and starts again if not.
#ifndef KEN_STORE_STORE_LOCK_H_
#define KEN_STORE_STORE_LOCK_H_

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

  // Also locks the store file `path` (which must exist) through `fd` if
  // given (an open descriptor of it, which this lock then owns), else by
  // opening it. Errors: kFailedPrecondition "store X is already open for
  // writing by another process" (through another path to the same file);
  // kPermissionDenied / kInternal when it cannot be opened.
  absl::Status LockStoreFile(const std::string& path, int fd = -1);

  bool held() const { return fd_ >= 0; }

  // The store was opened: the lock file stays when the lock is released.
  void Keep() { remove_on_release_ = false; }

 private:
  StoreLock(int fd, std::string lock_path, bool created)
      : fd_(fd), lock_path_(std::move(lock_path)), remove_on_release_(created) {}
  void Release();
  int fd_ = -1;
  int file_fd_ = -1;
  std::string lock_path_;
  bool remove_on_release_ = false;  // Acquire created the lock file and no open kept it
};

}  // namespace ken

#endif  // KEN_STORE_STORE_LOCK_H_
