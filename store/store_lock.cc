#include "store/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace ken {

absl::StatusOr<StoreLock> StoreLock::Acquire(const std::string& store_path) {
  const std::string lock_path = store_path + ".lock";
  for (int attempt = 0;; ++attempt) {
    bool created = true;
    int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
      created = false;
      fd = open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && attempt < 100) continue;  // removed meanwhile
    }
    if (fd < 0) {
      int err = errno;
      std::string msg = absl::StrCat("store ", store_path, ": cannot create lock file ", lock_path, ": ", strerror(err));
      if (err == EACCES || err == EROFS || err == EPERM) return absl::PermissionDeniedError(msg);
      return absl::InternalError(msg);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {0};
      ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
      close(fd);
      if (err == EWOULDBLOCK) {
        std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        return absl::FailedPreconditionError(
            absl::StrCat("store ", store_path, " is in use by another process (pid ", pid, ")"));
      }
      return absl::InternalError(absl::StrCat("store ", store_path, ": cannot lock ", lock_path, ": ", strerror(err)));
    }
    // A refused open of another process may have removed the file between
    // our open and our flock: then this lock guards nothing; start again.
    struct stat held, named;
    if (fstat(fd, &held) != 0 || stat(lock_path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      close(fd);
      if (attempt < 100) continue;
      return absl::InternalError(absl::StrCat("store ", store_path, ": ", lock_path, " keeps being replaced"));
    }
    std::string pid = absl::StrCat(getpid(), "\n");
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      // The lock is held; the pid is only for other processes' error messages.
    }
    return StoreLock(fd, lock_path, created);
  }
}

absl::Status StoreLock::LockStoreFile(const std::string& path, int fd) {
  if (file_fd_ >= 0 && fd < 0) return absl::OkStatus();  // already holds it (Create, then open)
  if (fd < 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = absl::StrCat("store ", path, ": ", strerror(err));
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store ", path,
          " is already open for writing by another process (through another path to the same file: a "
          "symlink or hard link)"));
    }
    return absl::InternalError(absl::StrCat("store ", path, ": cannot lock it: ", strerror(err)));
  }
  if (file_fd_ >= 0) close(file_fd_);
  file_fd_ = fd;
  return absl::OkStatus();
}

StoreLock::StoreLock(StoreLock&& other) noexcept
    : fd_(other.fd_),
      file_fd_(other.file_fd_),
      lock_path_(std::move(other.lock_path_)),
      remove_on_release_(other.remove_on_release_) {
  other.fd_ = -1;
  other.file_fd_ = -1;
  other.remove_on_release_ = false;
}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = other.fd_;
    file_fd_ = other.file_fd_;
    lock_path_ = std::move(other.lock_path_);
    remove_on_release_ = other.remove_on_release_;
    other.fd_ = -1;
    other.file_fd_ = -1;
    other.remove_on_release_ = false;
  }
  return *this;
}

void StoreLock::Release() {
  // Removed while still locked (see the header); closing the last
  // descriptor releases each flock.
  if (fd_ >= 0 && remove_on_release_) unlink(lock_path_.c_str());
  if (file_fd_ >= 0) close(file_fd_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  file_fd_ = -1;
  remove_on_release_ = false;
}

StoreLock::~StoreLock() { Release(); }

}  // namespace ken
