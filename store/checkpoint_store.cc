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
#include <filesystem>
#include <limits>
#include <random>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/state.pb.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

// Same schema text as FORMAT.md. A format-1 store migrated in place ends
// with the same tables and columns (kMigrateSchema).
#define KEN_OUTBOX_TABLE \
  "CREATE TABLE outbox (\n" \
  "  dst TEXT NOT NULL,\n" \
  "  seq INTEGER NOT NULL,\n" \
  "  stamp INTEGER NOT NULL,\n" \
  "  payload BLOB NOT NULL,\n" \
  "  crc32 INTEGER NOT NULL,\n" \
  "  PRIMARY KEY (dst, seq)\n" \
  ");\n"

constexpr char kSchema[] = R"sql(
CREATE TABLE ken_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE checkpoints (
  seq INTEGER PRIMARY KEY,
  created_unix_ms INTEGER NOT NULL,
  engine TEXT NOT NULL,
  heap BLOB NOT NULL,
  heap_crc32 INTEGER NOT NULL,
  state BLOB NOT NULL,
  state_crc32 INTEGER NOT NULL,
  natives TEXT NOT NULL DEFAULT '',
  builtins INTEGER NOT NULL DEFAULT 0
);
)sql" KEN_OUTBOX_TABLE;

constexpr char kMigrateSchema[] =
    "ALTER TABLE checkpoints ADD COLUMN natives TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE checkpoints ADD COLUMN builtins INTEGER NOT NULL DEFAULT 0;\n" KEN_OUTBOX_TABLE;

// ken_meta keys the store manages itself (SetMeta refuses them).
constexpr const char* kReservedMeta[] = {"format", "incarnation", "created_unix_ms", "fallback_handled_through"};

std::function<absl::Status(std::string_view)>& MigrationHook() {
  static auto* hook = new std::function<absl::Status(std::string_view)>();
  return *hook;
}

uint32_t Crc32(uint32_t crc, std::string_view bytes);
uint32_t Crc32(std::string_view bytes) { return Crc32(static_cast<uint32_t>(crc32(0L, Z_NULL, 0)), bytes); }

uint32_t Crc32(uint32_t crc, std::string_view bytes) {
  const Bytef* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  uLong c = crc;
  while (left > 0) {
    uInt chunk = left > (1u << 30) ? (1u << 30) : static_cast<uInt>(left);
    c = crc32(c, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(c);
}

// An outbox row's checksum covers all of it: dst, a 0 byte, seq and stamp
// as 8-byte little-endian integers, then the payload (FORMAT.md).
uint32_t RowCrc32(std::string_view dst, uint64_t seq, uint64_t stamp, std::string_view payload) {
  std::string head(dst);
  head.push_back('\0');
  for (uint64_t v : {seq, stamp}) {
    for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return Crc32(Crc32(head), payload);
}

std::string RowName(std::string_view dst, uint64_t seq) { return absl::StrCat("to '", std::string(dst), "' #", seq); }

// SQLite INTEGER is signed 64-bit: u64 values are stored as their two's
// complement (stamps are random 64-bit numbers), read back unchanged.
int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v); }

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
            "state_crc32, natives, builtins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db, stmt.rc(), path, "prepare insert");
  sqlite3_bind_int64(stmt.get(), 1, c.seq);
  sqlite3_bind_int64(stmt.get(), 2, c.created_unix_ms);
  sqlite3_bind_text(stmt.get(), 3, c.engine.data(), static_cast<int>(c.engine.size()), SQLITE_STATIC);
  // A blob over SQLite's length limit fails here (SQLITE_TOOBIG), leaving the parameter NULL.
  int bound = sqlite3_bind_blob64(stmt.get(), 4, heap.data(), heap.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 5, Crc32(heap));
  if (bound == SQLITE_OK) bound = sqlite3_bind_blob64(stmt.get(), 6, c.state.data(), c.state.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 7, Crc32(c.state));
  sqlite3_bind_text(stmt.get(), 8, c.natives.data(), static_cast<int>(c.natives.size()), SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 9, c.builtins_version);
  if (bound != SQLITE_OK) return SqliteError(db, bound, path, "write checkpoint");
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) return SqliteError(db, rc, path, "write checkpoint");
  return absl::OkStatus();
}

// Applies `changes` to the outbox, inside the caller's transaction: the
// added rows, then the deletions.
absl::Status ApplyOutboxChanges(sqlite3* db, const std::string& path, const OutboxChanges& changes) {
  if (!changes.added.empty()) {
    Stmt ins(db, changes.replace_existing
                     ? "INSERT OR REPLACE INTO outbox (dst, seq, stamp, payload, crc32) VALUES (?, ?, ?, ?, ?)"
                     : "INSERT INTO outbox (dst, seq, stamp, payload, crc32) VALUES (?, ?, ?, ?, ?)");
    if (ins.rc() != SQLITE_OK) return SqliteError(db, ins.rc(), path, "prepare outbox insert");
    for (const OutboxRow& r : changes.added) {
      sqlite3_reset(ins.get());
      sqlite3_bind_text(ins.get(), 1, r.dst.data(), static_cast<int>(r.dst.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins.get(), 2, ToSql(r.seq));
      sqlite3_bind_int64(ins.get(), 3, ToSql(r.stamp));
      int bound = sqlite3_bind_blob64(ins.get(), 4, r.payload.data(), r.payload.size(), SQLITE_STATIC);
      if (bound != SQLITE_OK) return SqliteError(db, bound, path, "write outbox row " + RowName(r.dst, r.seq));
      sqlite3_bind_int64(ins.get(), 5, RowCrc32(r.dst, r.seq, r.stamp, r.payload));
      int rc = sqlite3_step(ins.get());
      if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        return absl::AlreadyExistsError(absl::StrCat("store ", path, ": outbox row ", RowName(r.dst, r.seq),
                                                     " already exists (a sequence number sent twice)"));
      }
      if (rc != SQLITE_DONE) return SqliteError(db, rc, path, "write outbox row " + RowName(r.dst, r.seq));
    }
  }
  if (!changes.acked_through.empty()) {
    Stmt del(db, "DELETE FROM outbox WHERE dst = ? AND seq <= ?");
    if (del.rc() != SQLITE_OK) return SqliteError(db, del.rc(), path, "prepare outbox delete");
    for (const auto& [dst, through] : changes.acked_through) {
      sqlite3_reset(del.get());
      sqlite3_bind_text(del.get(), 1, dst.data(), static_cast<int>(dst.size()), SQLITE_STATIC);
      // seqs are below 2^63; "everything" may be given as UINT64_MAX.
      sqlite3_bind_int64(del.get(), 2, static_cast<int64_t>(std::min<uint64_t>(
                                           through, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))));
      int rc = sqlite3_step(del.get());
      if (rc != SQLITE_DONE) return SqliteError(db, rc, path, "delete acked outbox rows to '" + dst + "'");
    }
  }
  return absl::OkStatus();
}

// The unacked envelopes in a format-1 state, as rows in (dst, seq) order
// (the first of duplicates kept, as Channels::Restore does). Empty when
// `state` is not a NodeState.
std::vector<OutboxRow> RowsFromState(const v1::NodeState& state) {
  std::vector<OutboxRow> rows;
  for (const v1::OutChannelState& o : state.out()) {
    for (const v1::StoredEnvelope& e : o.unacked()) rows.push_back({o.peer(), e.seq(), e.stamp(), e.payload()});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const OutboxRow& a, const OutboxRow& b) {
    return std::tie(a.dst, a.seq) < std::tie(b.dst, b.seq);
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const OutboxRow& a, const OutboxRow& b) { return a.dst == b.dst && a.seq == b.seq; }),
             rows.end());
  return rows;
}

// Removes every out[].unacked; true when there were any.
bool StripUnacked(v1::NodeState* state) {
  bool any = false;
  for (v1::OutChannelState& o : *state->mutable_out()) {
    any = any || o.unacked_size() > 0;
    o.clear_unacked();
  }
  return any;
}

// Ends a read transaction on scope exit.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db) : db_(db) {
    open_ = sqlite3_get_autocommit(db_) && sqlite3_exec(db_, "BEGIN;", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~ReadTransaction() {
    if (open_) sqlite3_exec(db_, "COMMIT;", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  bool open_;
};

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

// What a read-only open adds to the store's URI. SQLite reads a WAL-mode
// file through its -shm index, which it creates beside the file if missing;
// in a folder it cannot write (read-only media, a read-only mount, a
// directory without write permission) that fails ("unable to open database
// file"). There no process can be writing the store, so when no -wal holds
// commits the file is opened `immutable=1`: SQLite then reads it as it is,
// without -shm or locks. A -wal with commits is read through an -shm that is
// already there; without one the store cannot be read in place, and the
// error says so.
absl::StatusOr<std::string> ReadOnlyUriSuffix(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (access(dir.c_str(), W_OK) == 0) return std::string();
  const std::string why = strerror(errno);
  struct stat st;
  if (stat((path + "-wal").c_str(), &st) != 0 || st.st_size == 0) return std::string("?immutable=1");
  if (stat((path + "-shm").c_str(), &st) == 0) return std::string();
  return absl::FailedPreconditionError(absl::StrCat(
      "store ", path, " cannot be read in place: its folder ", dir, " cannot be written (", why, "), and its -wal (",
      st.st_size, " bytes) holds commits that SQLite reads only through an -shm file, which is not there and "
      "cannot be made; copy the store with its -wal to a writable folder and read the copy"));
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
    std::string meta = absl::StrCat("INSERT INTO ken_meta VALUES ('format', '", kStoreFormat,
                                    "'), ('incarnation', '", incarnation, "'), ('created_unix_ms', '",
                                    initial.created_unix_ms, "');");
    s = Exec(db, path, meta.c_str());
  }
  if (s.ok()) s = InsertCheckpoint(db, path, initial, initial.heap);
  if (s.ok() && !initial.outbox.empty()) {
    OutboxChanges changes;
    changes.added = initial.outbox;
    s = ApplyOutboxChanges(db, path, changes);
  }
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
  std::string uri_suffix;
  if (mode == Mode::kReadOnly) {
    flags |= SQLITE_OPEN_READONLY;
    absl::StatusOr<std::string> suffix = ReadOnlyUriSuffix(path);
    if (!suffix.ok()) return suffix.status();
    uri_suffix = *suffix;
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
  escaped += uri_suffix;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(escaped.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteError(db, rc, path, "open");
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<CheckpointStore> store(new CheckpointStore(path, db, std::move(lock)));
  if (mode == Mode::kReadWrite && DiskBytes(path + "-wal") > 0) {
    // The holder did not close cleanly, or the -wal beside the file came
    // from elsewhere (a copy of the store restored without it): SQLite
    // replays any -wal into the file, so check the result before writing.
    if (absl::Status s = store->QuickCheck(); !s.ok()) return s;
  }
  if (absl::Status s = store->ReadMeta(); !s.ok()) return s;
  if (mode == Mode::kReadWrite) {
    if (absl::Status s = Exec(db, path, "PRAGMA synchronous=FULL;"); !s.ok()) return s;
    if (store->format1()) {
      if (absl::Status s = store->MigrateFromFormat1(); !s.ok()) return s;
    }
  }
  store->lock_.Keep();  // a refused open removes a lock file it created (store_lock.h)
  return store;
}

absl::Status CheckpointStore::QuickCheck() {
  Stmt stmt(db_, "PRAGMA quick_check(1)");
  std::string verdict;
  if (stmt.rc() == SQLITE_OK && sqlite3_step(stmt.get()) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    verdict = text ? reinterpret_cast<const char*>(text) : "";
  } else {
    verdict = sqlite3_errmsg(db_);
  }
  if (verdict == "ok") return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "store ", path_, " is damaged (SQLite quick_check: ", verdict,
      "); if it was restored from a copy, the -wal beside it may be another store's: stop the node, put back the "
      "copy with its own -wal (or delete the stale -wal), and start again"));
}

absl::Status CheckpointStore::Corrupt() const {
  return absl::DataLossError(
      absl::StrCat("store ", path_, " is corrupt (SQLite: ", sqlite3_errmsg(db_), "); restore it from a copy"));
}

absl::Status CheckpointStore::ReadMeta() {
  Stmt stmt(db_, "SELECT key, value FROM ken_meta");
  if (stmt.rc() != SQLITE_OK) {
    const int code = sqlite3_errcode(db_) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Corrupt();
    return absl::DataLossError(absl::StrCat("store ", path_, " is not a Ken store (",
                                            sqlite3_errmsg(db_), ")"));
  }
  meta_.clear();
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const unsigned char* k = sqlite3_column_text(stmt.get(), 0);
    const unsigned char* v = sqlite3_column_text(stmt.get(), 1);
    if (k == nullptr) continue;
    meta_[reinterpret_cast<const char*>(k)] = v ? reinterpret_cast<const char*>(v) : "";
  }
  if (rc != SQLITE_DONE) return Corrupt();
  const std::string format = GetMeta("format").value_or("");
  incarnation_ = GetMeta("incarnation").value_or("");
  fallback_handled_through_ = 0;
  if (auto f = GetMeta("fallback_handled_through")) (void)absl::SimpleAtoi(*f, &fallback_handled_through_);
  if (format != kStoreFormat && format != kStoreFormat1) {
    int version = 0;
    if (absl::StartsWith(format, "ken-store-") &&
        absl::SimpleAtoi(format.substr(strlen("ken-store-")), &version) && version > 2) {
      return absl::FailedPreconditionError(absl::StrCat("store ", path_, " has format '", format,
                                                        "', newer than this ken understands (", kStoreFormat,
                                                        "): use a newer ken"));
    }
    return absl::DataLossError(absl::StrCat("store ", path_, " has unknown format '", format,
                                            "' (this ken reads ", kStoreFormat1, " and ", kStoreFormat, ")"));
  }
  format_ = format;
  Stmt max(db_, "SELECT COALESCE(MAX(seq), 0) FROM checkpoints");
  if (max.rc() != SQLITE_OK || sqlite3_step(max.get()) != SQLITE_ROW) return Corrupt();
  last_seq_ = sqlite3_column_int64(max.get(), 0);
  return absl::OkStatus();
}

std::optional<std::string> CheckpointStore::GetMeta(const std::string& key) const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::nullopt;
  return it->second;
}

absl::Status CheckpointStore::SetMeta(const std::string& key, const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (const char* reserved : kReservedMeta) {
    if (key == reserved) {
      return absl::InvalidArgumentError(
          absl::StrCat("store ", path_, ": ken_meta key '", key, "' is managed by the store"));
    }
  }
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat("store ", path_, ": empty ken_meta key"));
  if (!lock_.held()) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path_, " is open read-only"));
  }
  // One statement: its own (durable) transaction.
  Stmt stmt(db_, "INSERT OR REPLACE INTO ken_meta (key, value) VALUES (?, ?)");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db_, stmt.rc(), path_, "prepare meta");
  sqlite3_bind_text(stmt.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  sqlite3_bind_text(stmt.get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "set ken_meta " + key);
  meta_[key] = value;
  return absl::OkStatus();
}

void CheckpointStore::SetMigrationHookForTesting(std::function<absl::Status(std::string_view step)> hook) {
  MigrationHook() = std::move(hook);
}

absl::Status CheckpointStore::MigrateFromFormat1() {
  const auto start = std::chrono::steady_clock::now();
  auto step = [](std::string_view name) {
    return MigrationHook() ? MigrationHook()(name) : absl::OkStatus();
  };
  int64_t newest_valid = 0;
  size_t moved = 0;
  int stripped = 0;
  std::string node_id;
  auto migrate = [&]() -> absl::Status {
    if (absl::Status s = Exec(db_, path_, "BEGIN IMMEDIATE;"); !s.ok()) return s;
    if (absl::Status s = step("begin"); !s.ok()) return s;
    if (absl::Status s = Exec(db_, path_, kMigrateSchema); !s.ok()) return s;
    if (absl::Status s = step("schema"); !s.ok()) return s;
    std::vector<int64_t> seqs;
    {
      Stmt ids(db_, "SELECT seq FROM checkpoints ORDER BY seq DESC");
      if (ids.rc() != SQLITE_OK) return SqliteError(db_, ids.rc(), path_, "list checkpoints");
      int rc;
      while ((rc = sqlite3_step(ids.get())) == SQLITE_ROW) seqs.push_back(sqlite3_column_int64(ids.get(), 0));
      if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "list checkpoints");
    }
    // Newest first: the newest valid checkpoint's envelopes become the
    // outbox; every valid checkpoint's state loses its envelopes. Corrupt
    // checkpoints are left exactly as they are (a new CRC would launder them).
    for (int64_t seq : seqs) {
      std::string state_bytes;
      {
        Stmt read(db_, "SELECT heap, heap_crc32, state, state_crc32 FROM checkpoints WHERE seq = ?");
        if (read.rc() != SQLITE_OK) return SqliteError(db_, read.rc(), path_, "read checkpoint");
        sqlite3_bind_int64(read.get(), 1, seq);
        if (sqlite3_step(read.get()) != SQLITE_ROW) continue;
        const void* heap = sqlite3_column_blob(read.get(), 0);
        std::string_view heap_view(static_cast<const char*>(heap),
                                   heap ? static_cast<size_t>(sqlite3_column_bytes(read.get(), 0)) : 0);
        state_bytes = ColumnBytes(read.get(), 2);
        if (Crc32(heap_view) != static_cast<uint32_t>(sqlite3_column_int64(read.get(), 1)) ||
            Crc32(state_bytes) != static_cast<uint32_t>(sqlite3_column_int64(read.get(), 3))) {
          continue;
        }
      }
      const bool newest = newest_valid == 0;
      if (newest) newest_valid = seq;
      v1::NodeState state;
      if (!state.ParseFromString(state_bytes)) {
        spdlog::warn("store {}: checkpoint {}'s state is not a ken.v1.NodeState; left as it is", path_, seq);
        continue;
      }
      if (newest) {
        node_id = state.node_id();
        // INSERT OR IGNORE: the first of duplicate seqs wins, as in Channels::Restore.
        Stmt ins(db_, "INSERT OR IGNORE INTO outbox (dst, seq, stamp, payload, crc32) VALUES (?, ?, ?, ?, ?)");
        if (ins.rc() != SQLITE_OK) return SqliteError(db_, ins.rc(), path_, "prepare outbox insert");
        for (const OutboxRow& r : RowsFromState(state)) {
          sqlite3_reset(ins.get());
          sqlite3_bind_text(ins.get(), 1, r.dst.data(), static_cast<int>(r.dst.size()), SQLITE_STATIC);
          sqlite3_bind_int64(ins.get(), 2, ToSql(r.seq));
          sqlite3_bind_int64(ins.get(), 3, ToSql(r.stamp));
          sqlite3_bind_blob64(ins.get(), 4, r.payload.data(), r.payload.size(), SQLITE_STATIC);
          sqlite3_bind_int64(ins.get(), 5, RowCrc32(r.dst, r.seq, r.stamp, r.payload));
          int rc = sqlite3_step(ins.get());
          if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "write outbox row " + RowName(r.dst, r.seq));
          ++moved;
        }
        if (absl::Status s = step("outbox"); !s.ok()) return s;
      }
      if (!StripUnacked(&state)) continue;
      const std::string rewritten = state.SerializeAsString();
      Stmt upd(db_, "UPDATE checkpoints SET state = ?, state_crc32 = ? WHERE seq = ?");
      if (upd.rc() != SQLITE_OK) return SqliteError(db_, upd.rc(), path_, "prepare state rewrite");
      sqlite3_bind_blob64(upd.get(), 1, rewritten.data(), rewritten.size(), SQLITE_STATIC);
      sqlite3_bind_int64(upd.get(), 2, Crc32(rewritten));
      sqlite3_bind_int64(upd.get(), 3, seq);
      int rc = sqlite3_step(upd.get());
      if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, absl::StrCat("rewrite checkpoint ", seq, "'s state"));
      if (!newest) ++stripped;
    }
    if (absl::Status s = step("states"); !s.ok()) return s;
    {
      Stmt fmt(db_, "UPDATE ken_meta SET value = ? WHERE key = 'format'");
      if (fmt.rc() != SQLITE_OK) return SqliteError(db_, fmt.rc(), path_, "prepare format update");
      sqlite3_bind_text(fmt.get(), 1, kStoreFormat, -1, SQLITE_STATIC);
      if (int rc = sqlite3_step(fmt.get()); rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "set format");
    }
    if (!node_id.empty() && !GetMeta("node_id")) {
      Stmt id(db_, "INSERT OR IGNORE INTO ken_meta (key, value) VALUES ('node_id', ?)");
      if (id.rc() != SQLITE_OK) return SqliteError(db_, id.rc(), path_, "prepare node_id");
      sqlite3_bind_text(id.get(), 1, node_id.data(), static_cast<int>(node_id.size()), SQLITE_STATIC);
      if (int rc = sqlite3_step(id.get()); rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "set node_id");
    }
    if (absl::Status s = step("format"); !s.ok()) return s;
    return Exec(db_, path_, "COMMIT;");
  };
  if (absl::Status s = migrate(); !s.ok()) {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    return absl::Status(s.code(), absl::StrCat("store ", path_, ": migration from ", kStoreFormat1, " to ",
                                               kStoreFormat, " failed, the store is left as it was (",
                                               kStoreFormat1, "): ", s.message()));
  }
  format_ = kStoreFormat;
  meta_["format"] = kStoreFormat;
  if (!node_id.empty() && !GetMeta("node_id")) meta_["node_id"] = node_id;
  spdlog::info(
      "store {}: migrated from {} to {} in {} ms: {} unacked envelope(s) of checkpoint {} moved to the outbox "
      "table, {} older checkpoint state(s) stripped of theirs",
      path_, kStoreFormat1, kStoreFormat,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count(), moved,
      newest_valid, stripped);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxRow>> CheckpointStore::ReadOutbox() {
  Stmt stmt(db_, "SELECT dst, seq, stamp, payload, crc32 FROM outbox ORDER BY dst, seq");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db_, stmt.rc(), path_, "read outbox");
  std::vector<OutboxRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    OutboxRow r;
    const unsigned char* dst = sqlite3_column_text(stmt.get(), 0);
    r.dst = dst ? std::string(reinterpret_cast<const char*>(dst), sqlite3_column_bytes(stmt.get(), 0)) : "";
    r.seq = FromSql(sqlite3_column_int64(stmt.get(), 1));
    r.stamp = FromSql(sqlite3_column_int64(stmt.get(), 2));
    r.payload = ColumnBytes(stmt.get(), 3);
    if (RowCrc32(r.dst, r.seq, r.stamp, r.payload) != static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 4))) {
      return absl::DataLossError(absl::StrCat(
          "store ", path_, ": outbox row ", RowName(r.dst, r.seq),
          " is corrupt (checksum mismatch); that envelope cannot be sent, and its receiver would wait for it "
          "forever: refusing to start (see FORMAT.md, Outbox)"));
    }
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "read outbox");
  return rows;
}

absl::StatusOr<std::vector<OutboxRow>> CheckpointStore::Outbox() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (!format1()) return ReadOutbox();
  const int skipped = skipped_corrupt_;
  const int64_t newest_corrupt = newest_corrupt_seq_;
  absl::StatusOr<Checkpoint> c = LoadNewest();
  skipped_corrupt_ = skipped;
  newest_corrupt_seq_ = newest_corrupt;
  if (!c.ok()) return c.status();
  return std::move(c->outbox);
}

absl::StatusOr<Checkpoint> CheckpointStore::LoadNewest() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  skipped_corrupt_ = 0;
  newest_corrupt_seq_ = 0;
  ReadTransaction snapshot(db_);  // the checkpoint and the outbox as of one commit
  if (format1()) {
    // A reader of a format-1 store that a writer has migrated since Open.
    Stmt fmt(db_, "SELECT value FROM ken_meta WHERE key = 'format'");
    if (fmt.rc() == SQLITE_OK && sqlite3_step(fmt.get()) == SQLITE_ROW &&
        reinterpret_cast<const char*>(sqlite3_column_text(fmt.get(), 0)) == std::string(kStoreFormat)) {
      format_ = kStoreFormat;
      meta_["format"] = kStoreFormat;
    }
  }
  Stmt ids(db_, "SELECT seq FROM checkpoints ORDER BY seq DESC");
  if (ids.rc() != SQLITE_OK) return SqliteError(db_, ids.rc(), path_, "list checkpoints");
  std::vector<int64_t> seqs;
  int rc;
  while ((rc = sqlite3_step(ids.get())) == SQLITE_ROW) seqs.push_back(sqlite3_column_int64(ids.get(), 0));
  std::string last_error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
  for (int64_t seq : seqs) {
    Stmt stmt(db_, format1() ? "SELECT created_unix_ms, engine, heap, heap_crc32, state, state_crc32, '', 0 "
                               "FROM checkpoints WHERE seq = ?"
                             : "SELECT created_unix_ms, engine, heap, heap_crc32, state, state_crc32, natives, "
                               "builtins FROM checkpoints WHERE seq = ?");
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
      const unsigned char* natives = sqlite3_column_text(stmt.get(), 6);
      c.natives = natives ? reinterpret_cast<const char*>(natives) : "";
      c.builtins_version = sqlite3_column_int(stmt.get(), 7);
      if (Crc32(c.heap) != static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 3))) {
        reason = "heap checksum mismatch";
      } else if (Crc32(c.state) != static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), 5))) {
        reason = "state checksum mismatch";
      } else {
        if (format1()) {
          // Read-only format 1: the envelopes stay in `state` (nothing is
          // written) and are given as rows too.
          v1::NodeState state;
          if (state.ParseFromString(c.state)) c.outbox = RowsFromState(state);
        } else {
          absl::StatusOr<std::vector<OutboxRow>> rows = ReadOutbox();
          if (!rows.ok()) return rows.status();
          c.outbox = std::move(*rows);
        }
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
  return Commit(checkpoint, heap, OutboxChanges());
}

absl::Status CheckpointStore::Commit(Checkpoint& checkpoint, std::string_view heap, const OutboxChanges& changes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (!lock_.held()) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path_, " is open read-only"));
  }
  if (format1()) {  // a read-write Open migrates; never reached
    return absl::FailedPreconditionError(absl::StrCat("store ", path_, " is still ", kStoreFormat1));
  }
  if (checkpoint.commit_as_seq == 0) {
    checkpoint.seq = last_seq_ + 1;
  } else if (checkpoint.commit_as_seq <= last_seq_) {
    return absl::InvalidArgumentError(absl::StrCat("store ", path_, ": checkpoint ", checkpoint.commit_as_seq,
                                                   " is not newer than checkpoint ", last_seq_));
  } else {
    checkpoint.seq = checkpoint.commit_as_seq;
  }
  if (checkpoint.created_unix_ms == 0) checkpoint.created_unix_ms = NowUnixMs();
  absl::Status s = Exec(db_, path_, "BEGIN IMMEDIATE;");
  if (s.ok()) s = InsertCheckpoint(db_, path_, checkpoint, heap);
  if (s.ok()) s = ApplyOutboxChanges(db_, path_, changes);
  if (s.ok()) {
    // The newest kRetainedCheckpoints stay (seqs are not consecutive in
    // journal mode, where snapshots are taken every so many commits).
    Stmt del(db_, "DELETE FROM checkpoints WHERE seq < (SELECT MIN(seq) FROM "
                  "(SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT ?))");
    sqlite3_bind_int64(del.get(), 1, kRetainedCheckpoints);
    int rc = sqlite3_step(del.get());
    if (rc != SQLITE_DONE) s = SqliteError(db_, rc, path_, "drop old checkpoints");
  }
  if (s.ok()) s = Exec(db_, path_, "COMMIT;");
  if (!s.ok()) {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
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
  std::lock_guard<std::recursive_mutex> lock(mu_);
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
  meta_["incarnation"] = incarnation;
  meta_["fallback_handled_through"] = absl::StrCat(handled);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CheckpointInfo>> CheckpointStore::List() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
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

absl::StatusOr<std::vector<int64_t>> CheckpointStore::CheckpointSeqs() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt stmt(db_, "SELECT seq FROM checkpoints ORDER BY seq");
  if (stmt.rc() != SQLITE_OK) return SqliteError(db_, stmt.rc(), path_, "list checkpoints");
  std::vector<int64_t> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) out.push_back(sqlite3_column_int64(stmt.get(), 0));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, path_, "list checkpoints");
  return out;
}

}  // namespace ken
