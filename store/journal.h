// The journal of a store in durability mode `journal` (FORMAT.md, "Journal
// segments"): an append-only sequence of commit records, each made durable
// by one fdatasync, kept in segment files beside the SQLite store:
// `<store>.journal.<first seq, 20 digits>`.
//
// Why a segment file and not a table of the store: a 256-byte append +
// fdatasync into a preallocated file costs ~0.1 ms on the development disk,
// a SQLite WAL insert with synchronous=FULL 0.3–0.7 ms (bench/journal_bench
// prints both), and a snapshot being written into SQLite (up to seconds at a
// 100 MB heap) would hold SQLite's one write lock against every commit.
// Segments are preallocated (posix_fallocate, else zero-filled), so that an
// fdatasync flushes only the data, not a changed file size
// (docs/durability.md has the measurements).
//
// A record: u32 payload length, u32 CRC-32 (zlib) of the seq and payload,
// u64 seq, payload, zero padding to a multiple of 8 bytes; little-endian.
// Seqs increase by one from record to record across segments. Reading stops
// at the first record that does not verify: when nothing valid follows it
// in its segment, it is the torn tail of a write that never completed (a
// commit is acknowledged only after its fdatasync); a valid record after a
// damaged one, or a gap in the seqs, is kDataLoss (committed records would
// be lost). A writer never appends to a segment that was on disk when it
// opened: its first append starts a new segment. A segment's header names
// the first seq it holds; records of earlier segments at or after it are
// superseded (an append whose fdatasync failed is written again there).
//
// Thread safety: all methods may be called from any thread; they serialize
// on an internal mutex (Append holds it through its fdatasync).
#ifndef KEN_STORE_JOURNAL_H_
#define KEN_STORE_JOURNAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ken {

struct JournalOptions {
  // Bytes preallocated per segment; a record larger than this gets a
  // segment of its own size.
  int64_t segment_bytes = 64ll << 20;
  bool read_only = false;  // never creates, writes or deletes files
  // Called with a new segment's first seq once its file is durable and
  // before any record goes into it (the node records it in the store, so
  // that a missing segment is noticed at open); an error fails the Append.
  // Called on the appending thread, under the journal's lock.
  std::function<absl::Status(int64_t first_seq)> on_new_segment;
};

struct JournalRecord {
  int64_t seq = 0;
  std::string payload;  // a serialized ken.v1.JournalCommit, opaque here
};

class Journal {
 public:
  // Opens the journal of the store at `store_path` (no segment files: an
  // empty journal) and reads every valid record. `store_id` is written in
  // each segment's header and checked when reading, so that segments left
  // beside another store of the same name are never replayed into it.
  // Errors: kDataLoss naming the segment and offset (a damaged record with
  // valid ones after it, a gap in the seqs, a segment of another store),
  // kInternal / kPermissionDenied for I/O.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& store_path, const std::string& store_id,
                                                       JournalOptions options = {});

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The records read at Open with seq > `after`, in seq order. kDataLoss if
  // the journal does not continue from `after` (its first such record is
  // not after+1 while records at or before `after` exist, or it starts past
  // after+1): commits between the snapshot and the journal are missing.
  absl::StatusOr<std::vector<JournalRecord>> RecordsAfter(int64_t after) const;

  // Appends one record and fdatasyncs it; returns once it is durable.
  // `seq` must be the previous record's seq + 1 (or anything for the first
  // record of an empty journal). Errors: kResourceExhausted when the disk is
  // full, kInternal for other I/O errors; on error the record is not part
  // of the journal (a later Append overwrites the partial bytes) and the
  // same seq may be appended again.
  absl::Status Append(int64_t seq, std::string_view payload);

  // Ends the current segment: the next Append starts a new one, so that
  // the segments before it can be dropped once a snapshot covers them.
  void Rotate();

  // Deletes every segment other than the one being appended to whose
  // records all have seq <= `seq` (a snapshot holds their effects).
  absl::Status DropThrough(int64_t seq);

  // The first seq of the newest segment (0 if none).
  int64_t newest_segment_first_seq() const;
  // The newest seq in the journal (0 if empty).
  int64_t last_seq() const;
  // Bytes of the segments on disk (allocated size).
  int64_t disk_bytes() const;
  // Bytes of records (headers included) after `seq`.
  int64_t bytes_after(int64_t seq) const;

  // The segment files of the store at `store_path`, in seq order. Any thread.
  static std::vector<std::string> SegmentFiles(const std::string& store_path);
  // Deletes them all (a store that leaves journal mode). Errors: kInternal.
  static absl::Status RemoveAll(const std::string& store_path);
  // Bytes the segment files take on disk (0 if none).
  static int64_t DiskBytes(const std::string& store_path);

 private:
  struct Segment {
    std::string path;
    int64_t first_seq = 0;  // from its header
    int64_t last_seq = 0;   // of its last valid record; 0 if none
    int64_t size = 0;       // allocated bytes
    int64_t used = 0;       // bytes of header and valid records
  };
  Journal(std::string store_path, std::string store_id, JournalOptions options);
  absl::Status Load();
  absl::Status StartSegment(int64_t first_seq, int64_t min_bytes);

  const std::string store_path_;
  const std::string store_id_;
  const JournalOptions options_;
  mutable std::mutex mu_;
  std::vector<Segment> segments_;
  std::vector<JournalRecord> loaded_;  // records read at Open
  std::deque<std::pair<int64_t, int64_t>> record_bytes_;  // (seq, bytes) of every record, in order
  int fd_ = -1;                        // the segment being appended to (last of segments_)
  bool rotate_ = true;                 // the next Append starts a new segment
};

}  // namespace ken

#endif  // KEN_STORE_JOURNAL_H_
