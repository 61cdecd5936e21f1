#include "store/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// Segment header (kHeaderBytes): magic, format version, first seq, store id
// (32 bytes, NUL-padded), CRC-32 of the bytes before it.
constexpr char kMagic[8] = {'K', 'E', 'N', 'J', 'R', 'N', 'L', '1'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 64;
constexpr int64_t kRecordHeaderBytes = 16;  // length, crc, seq
constexpr uint32_t kMaxPayload = 1u << 30;

int64_t Padded(int64_t n) { return (n + 7) & ~int64_t{7}; }

uint32_t Crc(uint32_t crc, const void* data, size_t n) {
  return static_cast<uint32_t>(crc32(crc, static_cast<const Bytef*>(data), static_cast<uInt>(n)));
}

uint32_t RecordCrc(int64_t seq, std::string_view payload) {
  uint8_t s[8];
  for (int i = 0; i < 8; ++i) s[i] = static_cast<uint8_t>(static_cast<uint64_t>(seq) >> (8 * i));
  uint32_t c = Crc(static_cast<uint32_t>(crc32(0L, Z_NULL, 0)), s, 8);
  size_t off = 0;
  while (off < payload.size()) {
    size_t chunk = std::min<size_t>(payload.size() - off, 1u << 30);
    c = Crc(c, payload.data() + off, chunk);
    off += chunk;
  }
  return c;
}

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string Header(int64_t first_seq, const std::string& store_id) {
  std::string h(kHeaderBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(h.data());
  memcpy(p, kMagic, 8);
  Put32(p + 8, kVersion);
  Put64(p + 16, static_cast<uint64_t>(first_seq));
  memcpy(p + 24, store_id.data(), std::min<size_t>(store_id.size(), 32));
  Put32(p + 60, Crc(static_cast<uint32_t>(crc32(0L, Z_NULL, 0)), p, 60));
  return h;
}

std::string SegmentPath(const std::string& store_path, int64_t first_seq) {
  return absl::StrFormat("%s.journal.%020d", store_path, first_seq);
}

absl::Status IoError(const std::string& what, const std::string& path, int err) {
  std::string text = absl::StrCat("journal ", path, ": ", what, ": ", strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(text + " (the disk is full)");
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(text);
  return absl::InternalError(text);
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return IoError("stat", path, err);
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out->size()) {
    ssize_t n = pread(fd, out->data() + got, out->size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      return IoError("read", path, err);
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status SyncDirOf(const std::string& path) {
  std::string dir = ".";
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open folder", dir, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return IoError("fsync folder", dir, err);
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> Journal::SegmentFiles(const std::string& store_path) {
  std::string dir = ".", base = store_path;
  size_t slash = store_path.rfind('/');
  if (slash != std::string::npos) {
    dir = slash == 0 ? "/" : store_path.substr(0, slash);
    base = store_path.substr(slash + 1);
  }
  const std::string prefix = base + ".journal.";
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (!absl::StartsWith(name, prefix)) continue;
    std::string digits = name.substr(prefix.size());
    if (digits.size() != 20 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    out.push_back(slash == std::string::npos ? name : absl::StrCat(dir == "/" ? "" : dir, "/", name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());  // 20 digits: name order is seq order
  return out;
}

absl::Status Journal::RemoveAll(const std::string& store_path) {
  for (const std::string& f : SegmentFiles(store_path)) {
    if (unlink(f.c_str()) != 0 && errno != ENOENT) return IoError("delete", f, errno);
  }
  return SyncDirOf(store_path);
}

int64_t Journal::DiskBytes(const std::string& store_path) {
  int64_t total = 0;
  struct stat st;
  for (const std::string& f : SegmentFiles(store_path)) {
    if (stat(f.c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

Journal::Journal(std::string store_path, std::string store_id, JournalOptions options)
    : store_path_(std::move(store_path)), store_id_(std::move(store_id)), options_(options) {}

Journal::~Journal() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(const std::string& store_path, const std::string& store_id,
                                                       JournalOptions options) {
  std::unique_ptr<Journal> j(new Journal(store_path, store_id, options));
  if (absl::Status s = j->Load(); !s.ok()) return s;
  return j;
}

absl::Status Journal::Load() {
  std::vector<std::string> files = SegmentFiles(store_path_);
  int64_t last = 0;  // seq of the last valid record so far
  for (size_t k = 0; k < files.size(); ++k) {
    const std::string& path = files[k];
    const bool newest = k + 1 == files.size();
    std::string data;
    if (absl::Status s = ReadFile(path, &data); !s.ok()) return s;
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    Segment seg;
    seg.path = path;
    seg.size = static_cast<int64_t>(data.size());
    const bool header_ok = data.size() >= kHeaderBytes && memcmp(p, kMagic, 8) == 0 &&
                           Get32(p + 60) == Crc(static_cast<uint32_t>(crc32(0L, Z_NULL, 0)), p, 60);
    if (!header_ok) {
      // A segment being created when the process died (its header is
      // written and synced before any record goes into it).
      if (newest) {
        spdlog::warn("journal {}: segment without a valid header (creation interrupted); ignored", path);
        if (!options_.read_only && unlink(path.c_str()) != 0) return IoError("delete", path, errno);
        continue;
      }
      return absl::DataLossError(absl::StrCat("journal segment ", path, " has a damaged header"));
    }
    if (Get32(p + 8) != kVersion) {
      return absl::FailedPreconditionError(absl::StrCat("journal segment ", path, " has format version ",
                                                        Get32(p + 8), ", which this ken does not read"));
    }
    std::string id(reinterpret_cast<const char*>(p + 24), 32);
    id = id.substr(0, id.find('\0'));
    if (id != store_id_) {
      return absl::DataLossError(absl::StrCat("journal segment ", path, " belongs to another store (id ", id,
                                              ", this store's is ", store_id_, "); move it away"));
    }
    seg.first_seq = static_cast<int64_t>(Get64(p + 16));
    // Records of earlier segments from this one's first seq on were never
    // acknowledged (their append is being written again here).
    while (!loaded_.empty() && loaded_.back().seq >= seg.first_seq) {
      loaded_.pop_back();
      record_bytes_.pop_back();
    }
    for (Segment& earlier : segments_) {
      if (earlier.last_seq >= seg.first_seq) earlier.last_seq = seg.first_seq - 1;
    }
    last = loaded_.empty() ? 0 : loaded_.back().seq;
    int64_t off = kHeaderBytes;
    std::string damage;  // why reading stopped before the segment's end
    while (off + kRecordHeaderBytes <= seg.size) {
      const uint32_t len = Get32(p + off);
      const uint32_t crc = Get32(p + off + 4);
      const int64_t seq = static_cast<int64_t>(Get64(p + off + 8));
      if (len == 0 && crc == 0 && seq == 0) break;  // preallocated zeros: the end
      if (len > kMaxPayload || off + kRecordHeaderBytes + len > seg.size) {
        damage = "a record length past the segment's end";
        break;
      }
      std::string_view payload(data.data() + off + kRecordHeaderBytes, len);
      if (RecordCrc(seq, payload) != crc) {
        damage = "a record whose checksum does not verify";
        break;
      }
      if (last != 0 && seq != last + 1) {
        return absl::DataLossError(absl::StrCat("journal segment ", path, " at offset ", off, ": record ", seq,
                                                " follows record ", last, " (commits are missing)"));
      }
      if (last == 0 && seq < seg.first_seq) {
        return absl::DataLossError(absl::StrCat("journal segment ", path, " at offset ", off, ": record ", seq,
                                                " is before the segment's first seq ", seg.first_seq));
      }
      loaded_.push_back({seq, std::string(payload)});
      record_bytes_.emplace_back(seq, Padded(kRecordHeaderBytes + len));
      last = seq;
      seg.last_seq = seq;
      off += Padded(kRecordHeaderBytes + len);
    }
    seg.used = off;
    if (!damage.empty()) {
      // A torn tail has nothing valid after it; a valid record after the
      // damage means committed records were lost.
      for (int64_t q = off + 8; q + kRecordHeaderBytes <= seg.size; q += 8) {
        const uint32_t len = Get32(p + q);
        const int64_t seq = static_cast<int64_t>(Get64(p + q + 8));
        if (len == 0 || len > kMaxPayload || q + kRecordHeaderBytes + len > seg.size || seq <= last) continue;
        if (RecordCrc(seq, std::string_view(data.data() + q + kRecordHeaderBytes, len)) == Get32(p + q + 4)) {
          return absl::DataLossError(absl::StrCat("journal segment ", path, " is damaged at offset ", off, " (",
                                                  damage, "), and committed records follow it"));
        }
      }
      spdlog::info("journal {}: ends at offset {} with an incomplete write (a commit that never completed)", path,
                   off);
    }
    segments_.push_back(seg);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JournalRecord>> Journal::RecordsAfter(int64_t after) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<JournalRecord> out;
  bool before = false;
  for (const JournalRecord& r : loaded_) {
    if (r.seq <= after) {
      before = true;
      continue;
    }
    if (out.empty() && r.seq != after + 1 && (before || r.seq > after + 1)) {
      return absl::DataLossError(absl::StrCat("journal of ", store_path_, " continues at commit ", r.seq,
                                              " after the snapshot at commit ", after, ": commits ", after + 1,
                                              "..", r.seq - 1, " are missing"));
    }
    out.push_back(r);
  }
  return out;
}

absl::Status Journal::StartSegment(int64_t first_seq, int64_t min_bytes) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  Segment seg;
  seg.path = SegmentPath(store_path_, first_seq);
  seg.first_seq = first_seq;
  seg.size = std::max(options_.segment_bytes, Padded(kHeaderBytes + min_bytes));
  // A file of that name left by an earlier open holds no record we need
  // (its first seq was never durable, or we would not start here again).
  if (unlink(seg.path.c_str()) != 0 && errno != ENOENT) return IoError("delete", seg.path, errno);
  int fd = open(seg.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", seg.path, errno);
  auto fail = [&](const std::string& what, int err) {
    close(fd);
    unlink(seg.path.c_str());
    return IoError(what, seg.path, err);
  };
  int rc = posix_fallocate(fd, 0, seg.size);
  if (rc == EOPNOTSUPP || rc == EINVAL) {
    // No fallocate on this file system: zero-fill (the same effect for fdatasync).
    std::string zeros(1 << 20, '\0');
    for (int64_t off = 0; off < seg.size; off += static_cast<int64_t>(zeros.size())) {
      size_t n = static_cast<size_t>(std::min<int64_t>(seg.size - off, static_cast<int64_t>(zeros.size())));
      if (pwrite(fd, zeros.data(), n, off) != static_cast<ssize_t>(n)) return fail("preallocate", errno);
    }
  } else if (rc != 0) {
    return fail("preallocate", rc);
  }
  const std::string header = Header(first_seq, store_id_);
  if (pwrite(fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    return fail("write header", errno);
  }
  if (fsync(fd) != 0) return fail("fsync", errno);
  if (absl::Status s = SyncDirOf(seg.path); !s.ok()) {
    close(fd);
    return s;
  }
  if (options_.on_new_segment) {
    if (absl::Status s = options_.on_new_segment(first_seq); !s.ok()) {
      close(fd);
      unlink(seg.path.c_str());  // holds no record; the next Append starts it again
      return s;
    }
  }
  seg.used = kHeaderBytes;
  segments_.push_back(seg);
  fd_ = fd;
  rotate_ = false;
  return absl::OkStatus();
}

absl::Status Journal::Append(int64_t seq, std::string_view payload) {
  if (options_.read_only) return absl::FailedPreconditionError("journal " + store_path_ + " is open read-only");
  if (payload.size() > kMaxPayload) {
    return absl::OutOfRangeError(absl::StrCat("journal record of ", payload.size(), " bytes is over the ",
                                              kMaxPayload, "-byte limit"));
  }
  std::lock_guard<std::mutex> l(mu_);
  const int64_t last = record_bytes_.empty() ? 0 : record_bytes_.back().first;
  if (last != 0 && seq != last + 1) {
    return absl::InvalidArgumentError(absl::StrCat("journal append of commit ", seq, " after ", last));
  }
  const int64_t bytes = Padded(kRecordHeaderBytes + static_cast<int64_t>(payload.size()));
  if (rotate_ || fd_ < 0 || segments_.back().used + bytes > segments_.back().size) {
    if (absl::Status s = StartSegment(seq, bytes); !s.ok()) return s;
  }
  Segment& seg = segments_.back();
  std::string rec(static_cast<size_t>(bytes), '\0');
  auto* p = reinterpret_cast<uint8_t*>(rec.data());
  Put32(p, static_cast<uint32_t>(payload.size()));
  Put32(p + 4, RecordCrc(seq, payload));
  Put64(p + 8, static_cast<uint64_t>(seq));
  memcpy(p + kRecordHeaderBytes, payload.data(), payload.size());
  size_t done = 0;
  while (done < rec.size()) {
    ssize_t n = pwrite(fd_, rec.data() + done, rec.size() - done, static_cast<off_t>(seg.used + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("write", seg.path, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  if (fdatasync(fd_) != 0) {
    // After a failed fdatasync the page cache may no longer hold what was
    // written (Linux drops the dirty pages): never trust this segment again.
    const int err = errno;
    rotate_ = true;
    return IoError("fdatasync", seg.path, err);
  }
  seg.used += bytes;
  seg.last_seq = seq;
  record_bytes_.emplace_back(seq, bytes);
  return absl::OkStatus();
}

void Journal::Rotate() {
  std::lock_guard<std::mutex> l(mu_);
  rotate_ = true;
}

absl::Status Journal::DropThrough(int64_t seq) {
  if (options_.read_only) return absl::OkStatus();
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Segment> kept;
  bool dropped = false;
  for (size_t k = 0; k < segments_.size(); ++k) {
    const Segment& seg = segments_[k];
    const bool current = fd_ >= 0 && k + 1 == segments_.size();
    // A segment's records all have seq <= the next segment's first seq - 1.
    const int64_t last = seg.last_seq != 0 ? seg.last_seq
                         : k + 1 < segments_.size() ? segments_[k + 1].first_seq - 1
                                                    : seg.first_seq - 1;
    if (!current && last <= seq) {
      if (unlink(seg.path.c_str()) != 0 && errno != ENOENT) return IoError("delete", seg.path, errno);
      dropped = true;
      continue;
    }
    kept.push_back(seg);
  }
  segments_ = std::move(kept);
  while (!record_bytes_.empty() && record_bytes_.front().first <= seq &&
         (segments_.empty() || record_bytes_.front().first < segments_.front().first_seq)) {
    record_bytes_.pop_front();
  }
  loaded_.erase(std::remove_if(loaded_.begin(), loaded_.end(), [seq](const JournalRecord& r) { return r.seq <= seq; }),
                loaded_.end());
  if (dropped) return SyncDirOf(store_path_);
  return absl::OkStatus();
}

int64_t Journal::newest_segment_first_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.empty() ? 0 : segments_.back().first_seq;
}

int64_t Journal::last_seq() const {
  std::lock_guard<std::mutex> l(mu_);
  return record_bytes_.empty() ? 0 : record_bytes_.back().first;
}

int64_t Journal::disk_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  int64_t total = 0;
  for (const Segment& s : segments_) total += s.size;
  return total;
}

int64_t Journal::bytes_after(int64_t seq) const {
  std::lock_guard<std::mutex> l(mu_);
  int64_t total = 0;
  for (auto it = record_bytes_.rbegin(); it != record_bytes_.rend() && it->first > seq; ++it) total += it->second;
  return total;
}

}  // namespace ken
