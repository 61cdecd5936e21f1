#include "store/checkpoint_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

constexpr char kFormat[] = "ken-checkpoint-store-1";

// Same schema text as FORMAT.md.
constexpr char kSchema[] = R"sql(
CREATE TABLE ken_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE checkpoints (
  seq INTEGER PRIMARY KEY,
  created_unix_ms INTEGER NOT NULL,
  engine TEXT NOT NULL,
  heap BLOB NOT NULL,
  heap_crc32 INTEGER NOT NULL,
  state BLOB NOT NULL,
  state_crc32 INTEGER NOT NULL
);
)sql";

uint32_t Crc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const Bytef* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {  // zlib's length is a uInt
    uInt chunk = left > (1u << 30) ? (1u << 30) : static_cast<uInt>(left);
    crc = crc32(crc, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

absl::Status SqliteError(sqlite3* db, int rc, const std::string& path, const std::string& what) {
  std::string msg = absl::StrCat("store ", path, ": ", what, ": ",
                                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_TOOBIG:
      return absl::OutOfRangeError(msg);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::DataLossError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Runs SQL that returns no rows.
absl::Status Exec(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  sqlite3_free(err);
  return SqliteError(db, rc, path, sql);
}

// A prepared statement finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() { return stmt_; }
  int rc() const { return rc_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

std::string ColumnBytes(sqlite3_stmt* stmt, int col) {
  const void* p = sqlite3_column_blob(stmt, col);
  int n = sqlite3_column_bytes(stmt, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

absl::Status InsertCheckpoint(sqlite3* db, const std::string& path, const Checkpoint& c, std::string_view heap) {
  Stmt stmt(db,
            "INSERT INTO checkpoints (seq, created_unix_ms, engine, heap, heap_crc32, state, "
            "state_crc32) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db, stmt.rc(), path, "prepare insert");
  sqlite3_bind_int64(stmt.get(), 1, c.seq);
  sqlite3_bind_int64(stmt.get(), 2, c.created_unix_ms);
  sqlite3_bind_text(stmt.get(), 3, c.engine.data(), static_cast<int>(c.engine.size()), SQLITE_STATIC);
  // A blob over SQLite's length limit fails here (SQLITE_TOOBIG), leaving the parameter NULL.
  int bound = sqlite3_bind_blob64(stmt.get(), 4, heap.data(), heap.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 5, Crc32(heap));
  if (bound == SQLITE_OK) bound = sqlite3_bind_blob64(stmt.get(), 6, c.state.data(), c.state.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 7, Crc32(c.state));
  if (bound != SQLITE_OK) return SqliteError(db, bound, path, "write checkpoint");
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) return SqliteError(db, rc, path, "write checkpoint");
  return absl::OkStatus();
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status FsyncDir(const std::string& path) {
  std::string dir = ".";
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open directory ", dir, ": ", strerror(errno)));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync directory ", dir, ": ", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace

CheckpointStore::CheckpointStore(std::string path, sqlite3* db, StoreLock lock)
    : path_(std::move(path)), db_(db), lock_(std::move(lock)) {}

CheckpointStore::~CheckpointStore() { sqlite3_close_v2(db_); }

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Create(const std::string& path,
                                                                         Checkpoint initial) {
  absl::StatusOr<StoreLock> lock = StoreLock::Acquire(path);
  if (!lock.ok()) return lock.status();
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(absl::StrCat("store ", path, " already exists"));
  }
  // Build the whole store under a temporary name, then rename it into place.
  const std::string tmp = absl::StrCat(path, ".creating");
  unlink(tmp.c_str());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(tmp.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto fail = [&](absl::Status s) {
    sqlite3_close_v2(db);
    unlink(tmp.c_str());
    return s;
  };
  if (rc != SQLITE_OK) return fail(SqliteError(db, rc, path, "create"));
  std::string incarnation = RandomHex(16);
  initial.seq = 1;
  if (initial.created_unix_ms == 0) initial.created_unix_ms = NowUnixMs();
  absl::Status s = Exec(db, path, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; BEGIN;");
  if (s.ok()) s = Exec(db, path, kSchema);
  if (s.ok()) {
    std::string meta = absl::StrCat("INSERT INTO ken_meta VALUES ('format', '", kFormat,
                                    "'), ('incarnation', '", incarnation, "'), ('created_unix_ms', '",
                                    initial.created_unix_ms, "');");
    s = Exec(db, path, meta.c_str());
  }
  if (s.ok()) s = InsertCheckpoint(db, path, initial, initial.heap);
  if (s.ok()) s = Exec(db, path, "COMMIT;");
  if (s.ok()) s = Exec(db, path, "PRAGMA journal_mode=WAL;");
  if (!s.ok()) return fail(s);
  sqlite3_close_v2(db);
  db = nullptr;
  // The new file is locked before it has its name, so no second writer can
  // reach it through another path between the rename and the lock.
  if (absl::Status l = lock->LockStoreFile(tmp); !l.ok()) return fail(l);
  // A -wal or -shm file left beside `path` by a store that was deleted while
  // its holder was killed would be replayed into the new file by SQLite,
  // bringing the old store back: remove them (the store lock is held).
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string stale = path + suffix;
    if (unlink(stale.c_str()) == 0) {
      spdlog::warn("store {}: removed {} left by an earlier store at this path", path, stale);
    } else if (errno != ENOENT) {
      return fail(absl::InternalError(absl::StrCat("store ", path, ": cannot remove stale ", stale, ": ",
                                                   strerror(errno))));
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(absl::InternalError(absl::StrCat("store ", path, ": rename: ", strerror(errno))));
  }
  if (absl::Status d = FsyncDir(path); !d.ok()) {
    return absl::InternalError(absl::StrCat("store ", path, ": ", d.message()));
  }
  return OpenLocked(path, Mode::kReadWrite, std::move(*lock));
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& path,
                                                                       Mode mode) {
  StoreLock lock;
  if (mode == Mode::kReadWrite) {
    absl::StatusOr<StoreLock> l = StoreLock::Acquire(path);
    if (!l.ok()) return l.status();
    lock = std::move(*l);
  }
  return OpenLocked(path, mode, std::move(lock));
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::OpenLocked(
    const std::string& path, Mode mode, StoreLock lock) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("store ", path, " does not exist"));
    return absl::PermissionDeniedError(absl::StrCat("store ", path, ": ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::DataLossError(absl::StrCat("store ", path, " is not a Ken store (not a regular file)"));
  }
  if (st.st_size == 0) {
    return absl::DataLossError(absl::StrCat("store ", path, " is not a Ken store (empty file)"));
  }
  // Check the header before SQLite sees the file, so a foreign file is never
  // touched (SQLite would create -wal/-shm files beside it).
  {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("store ", path, ": ", strerror(errno)));
    char header[16] = {0};
    ssize_t n = pread(fd, header, sizeof(header), 0);
    close(fd);
    if (n != 16 || memcmp(header, "SQLite format 3", 16) != 0) {
      return absl::DataLossError(
          absl::StrCat("store ", path, " is not a Ken store (not an SQLite database)"));
    }
  }
  if (mode == Mode::kReadWrite && lock.held()) {
    if (absl::Status l = lock.LockStoreFile(path); !l.ok()) return l;
  }
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  std::string uri = "file:" + path;
  if (mode == Mode::kReadOnly) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
  }
  // Escape URI metacharacters in the path.
  std::string escaped;
  for (char c : uri) {
    if (c == '?' || c == '#' || c == '%') {
      escaped += absl::StrCat("%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      escaped += c;
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(escaped.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteError(db, rc, path, "open");
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<CheckpointStore> store(new CheckpointStore(path, db, std::move(lock)));
  if (absl::Status s = store->ReadMeta(); !s.ok()) return s;
  if (mode == Mode::kReadWrite) {
    if (absl::Status s = Exec(db, path, "PRAGMA synchronous=FULL;"); !s.ok()) return s;
  }
  return store;
}

absl::Status CheckpointStore::ReadMeta() {
  Stmt stmt(db_, "SELECT key, value FROM ken_meta");
  if (stmt.rc() != SQLITE_OK) {
    return absl::DataLossError(absl::StrCat("store ", path_, " is not a Ken store (",
                                            sqlite3_errmsg(db_), ")"));
  }
  std::string format;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    std::string key = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    const unsigned char* v = sqlite3_column_text(stmt.get(), 1);
    std::string value = v ? reinterpret_cast<const char*>(v) : "";
    if (key == "format") format = value;
    if (key == "incarnation") incarnation_ = value;
    if (key == "fallback_handled_through") (void)absl::SimpleAtoi(value, &fallback_handled_through_);
  }
  if (rc != SQLITE_DONE) {
    return absl::DataLossError(absl::StrCat("store ", path_, " is damaged (", sqlite3_errmsg(db_), ")"));
  }
  if (format != kFormat) {
    return absl::DataLossError(absl::StrCat("store ", path_, " has unknown format '", format,
                                            "' (expected ", kFormat, ")"));
  }
  Stmt max(db_, "SELECT COALESCE(MAX(seq), 0) FROM checkpoints");
  if (max.rc() != SQLITE_OK || sqlite3_step(max.get()) != SQLITE_ROW) {
    return absl::DataLossError(absl::StrCat("store ", path_, " is damaged (", sqlite3_errmsg(db_), ")"));
  }
  last_seq_ = sqlite3_column_int64(max.get(), 0);
  return absl::OkStatus();
}

absl::StatusOr<Checkpoint> CheckpointStore::LoadNewest() {
  skipped_corrupt_ = 0;
  newest_corrupt_seq_ = 0;
  Stmt ids(db_, "SELECT seq FROM checkpoints ORDER BY seq DESC");
  if (ids.rc() != SQLITE_OK) return SqliteError(db_, ids.rc(), path_, "list checkpoints");
  std::vector<int64_t> seqs;
  int rc;
  while ((rc = sqlite3_step(ids.get())) == SQLITE_ROW) seqs.push_back(sqlite3_column_int64(ids.get(), 0));
  std::string last_error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
  for (int64_t seq : seqs) {
    Stmt stmt(db_,
              "SELECT created_unix_ms, engine, heap, heap_crc32, state, state_crc32 "
              "FROM checkpoints WHERE seq = ?");
    if (stmt.rc() != SQLITE_OK) return SqliteError(db_, stmt.rc(), path_, "read checkpoint");
    sqlite3_bind_int64(stmt.get(), 1, seq);
    rc = sqlite3_step(stmt.get());
    std::string reason;
    Checkpoint c;
    if (rc == SQLITE_ROW) {
      c.seq = seq;
      c.created_unix_ms = sqlite3_column_int64(stmt.get(), 0);
      const unsigned char* engine = sqlite3_column_text(stmt.get(), 1);
      c.engine = engine ? reinterpret_cast<const char*>(engine) : "";
      c.heap = ColumnBytes(stmt.get(), 2);
      c.state = ColumnBytes(stmt.get(), 4);
      if (Crc32(c.heap) != static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 3))) {
        reason = "heap checksum mismatch";
      } else if (Crc32(c.state) != static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 5))) {
        reason = "state checksum mismatch";
      } else {
        return c;
      }
    } else {
      reason = sqlite3_errmsg(db_);
    }
    ++skipped_corrupt_;
    newest_corrupt_seq_ = std::max(newest_corrupt_seq_, seq);
    last_error = absl::StrCat("checkpoint ", seq, ": ", reason);
    spdlog::warn("store {}: checkpoint {} is corrupt ({}); trying the previous one", path_, seq, reason);
  }
  return absl::DataLossError(absl::StrCat("store ", path_, " has no valid checkpoint",
                                          last_error.empty() ? "" : " (last error: " + last_error + ")",
                                          "; refusing to start"));
}

absl::Status CheckpointStore::Commit(Checkpoint& checkpoint) { return Commit(checkpoint, checkpoint.heap); }

absl::Status CheckpointStore::Commit(Checkpoint& checkpoint, std::string_view heap) {
  if (!lock_.held()) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path_, " is open read-only"));
  }
  checkpoint.seq = last_seq_ + 1;
  if (checkpoint.created_unix_ms == 0) checkpoint.created_unix_ms = NowUnixMs();
  absl::Status s = Exec(db_, path_, "BEGIN IMMEDIATE;");
  if (s.ok()) s = InsertCheckpoint(db_, path_, checkpoint, heap);
  if (s.ok()) {
    Stmt del(db_, "DELETE FROM checkpoints WHERE seq <= ?");
    sqlite3_bind_int64(del.get(), 1, checkpoint.seq - kRetainedCheckpoints);
    int rc = sqlite3_step(del.get());
    if (rc != SQLITE_DONE) s = SqliteError(db_, rc, path_, "drop old checkpoints");
  }
  if (s.ok()) s = Exec(db_, path_, "COMMIT;");
  if (!s.ok()) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    return s;
  }
  last_seq_ = checkpoint.seq;
  return absl::OkStatus();
}

int64_t CheckpointStore::DiskBytes(const std::string& path) {
  int64_t total = 0;
  struct stat st;
  for (const std::string& file : {path, path + "-wal"}) {
    if (stat(file.c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

absl::Status CheckpointStore::Reincarnate() {
  if (!lock_.held()) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path_, " is open read-only"));
  }
  std::string incarnation = RandomHex(16);
  // One transaction: the new incarnation, and that the corrupt checkpoints
  // skipped by the last LoadNewest have been answered (the next open does
  // not take yet another incarnation for them).
  int64_t handled = std::max(fallback_handled_through_, newest_corrupt_seq_);
  std::string sql = absl::StrCat(
      "BEGIN IMMEDIATE; UPDATE ken_meta SET value = '", incarnation, "' WHERE key = 'incarnation'; ",
      "INSERT OR REPLACE INTO ken_meta VALUES ('fallback_handled_through', '", handled, "'); COMMIT;");
  if (absl::Status s = Exec(db_, path_, sql.c_str()); !s.ok()) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    return s;
  }
  incarnation_ = incarnation;
  fallback_handled_through_ = handled;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CheckpointInfo>> CheckpointStore::List() {
  Stmt stmt(db_,
            "SELECT seq, created_unix_ms, heap, heap_crc32, state, state_crc32 FROM checkpoints "
            "ORDER BY seq DESC");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db_, stmt.rc(), path_, "list checkpoints");
  std::vector<CheckpointInfo> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    CheckpointInfo info;
    info.seq = sqlite3_column_int64(stmt.get(), 0);
    info.created_unix_ms = sqlite3_column_int64(stmt.get(), 1);
    std::string heap = ColumnBytes(stmt.get(), 2);
    std::string state = ColumnBytes(stmt.get(), 4);
    info.heap_bytes = static_cast<int64_t>(heap.size());
    info.valid = Crc32(heap) == static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 3)) &&
                 Crc32(state) == static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 5));
    out.push_back(info);
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "list checkpoints");
  return out;
}

}  // namespace ken
