#include "runtime/node/module_files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace ken {

bool InputLoadsModules(const v1::TurnInput& input) {
  switch (input.kind_case()) {
    case v1::TurnInput::kProgram:
    case v1::TurnInput::kShell:
    case v1::TurnInput::kUpgrade:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<NativeHost::ModuleFile> ReadModuleFileFromDisk(const std::string& path) {
  NativeHost::ModuleFile file;
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("require: '", path, "' is not an absolute path"));
  }
  if (path.find('\0') != std::string::npos) {  // no file has such a name (open() would stop at the NUL)
    file.result = NativeHost::ModuleFile::kAbsent;
    return file;
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == ENAMETOOLONG) {
      file.result = NativeHost::ModuleFile::kAbsent;
      return file;
    }
    return absl::UnavailableError(absl::StrCat("require: cannot read ", path, ": ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    file.result = NativeHost::ModuleFile::kAbsent;
    return file;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxModuleFileBytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("require: ", path, " is ", st.st_size, " bytes, over the limit of ",
                                                   kMaxModuleFileBytes, " bytes for a module file"));
  }
  file.text.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < file.text.size()) {
    const ssize_t n = read(fd, file.text.data() + done, file.text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("require: cannot read ", path, ": ", strerror(err)));
    }
    if (n == 0) break;  // the file shrank while read
    done += static_cast<size_t>(n);
  }
  file.text.resize(done);
  close(fd);
  file.result = NativeHost::ModuleFile::kFound;
  return file;
}

v1::ModuleRead RecordModuleRead(const std::string& path, const absl::StatusOr<NativeHost::ModuleFile>& read) {
  v1::ModuleRead r;
  r.set_path(path);
  if (!read.ok()) {
    r.set_result(v1::ModuleRead::ERROR);
    r.set_error(std::string(read.status().message()));
    return r;
  }
  switch (read->result) {
    case NativeHost::ModuleFile::kFound:
      r.set_result(v1::ModuleRead::FOUND);
      r.set_text(read->text);
      break;
    case NativeHost::ModuleFile::kAbsent: r.set_result(v1::ModuleRead::ABSENT); break;
    case NativeHost::ModuleFile::kRefused: r.set_result(v1::ModuleRead::REFUSED); break;
  }
  return r;
}

absl::StatusOr<NativeHost::ModuleFile> RecordedModuleRead(const v1::ModuleRead& record) {
  NativeHost::ModuleFile file;
  switch (record.result()) {
    case v1::ModuleRead::FOUND:
      file.result = NativeHost::ModuleFile::kFound;
      file.text = record.text();
      return file;
    case v1::ModuleRead::ABSENT: file.result = NativeHost::ModuleFile::kAbsent; return file;
    case v1::ModuleRead::REFUSED: file.result = NativeHost::ModuleFile::kRefused; return file;
    default: return absl::UnavailableError(record.error());
  }
}

}  // namespace ken
