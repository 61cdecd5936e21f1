// checkpoint_bench: what durability costs a Ken node, by live heap size.
//
// For heaps holding about 0, 1, 10 and 100 MB of JS data it measures the
// checkpoint blob size, the commit time (V8 CreateBlob + SQLite write +
// fsync), the start-up restore time (Node::Open on an existing store plus the
// first read) and the process RSS. Every commit time is printed against a
// peer measured in the same run on the same disk: a plain write of the same
// number of bytes to a new file plus fsync, i.e. what a commit would cost if
// it were only I/O. bench/README.md explains the columns.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/script_body.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "store/checkpoint_store.h"
#include "spdlog/spdlog.h"
#include "v8.h"

ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"0", "1", "10", "100"}),
          "comma-separated live heap sizes to measure, in MB of JS data");
ABSL_FLAG(int, iterations, 5, "timed commits / raw writes / restores per heap size");
ABSL_FLAG(int, large_iterations, 3,
          "cap on --iterations for heaps of at least 100 MB (keeps the run short)");
ABSL_FLAG(std::string, dir, "/tmp",
          "directory for the temporary stores; its file system is the disk being measured");

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int kLargeHeapMb = 100;
// Roomy, so that building 100 MB of data in one turn is never cut short by
// the default 5 s turn timeout on a slow machine.
constexpr int64_t kTurnTimeoutMs = 120000;

// One row of the table: everything measured for one heap size.
struct Row {
  int target_mb = 0;
  int iterations = 0;
  double heap_mb = 0;      // V8 used heap after restore (built-ins included)
  double blob_mb = 0;      // checkpoint blob
  double json_mb = 0;      // JSON.stringify(data).length, for scale
  double commit_ms = 0;    // p50 of Node::Turn with the isolate already restored
  double turn_ms = 0;      // p50 of a whole turn: isolate restore + commit
  double sqlite_ms = 0;    // p50 of CheckpointStore::Commit alone (no V8)
  double raw_ms = 0;       // p50 of write(blob bytes) + fsync to a new file
  double restore_ms = 0;   // p50 of Node::Open + first read
  double rss_mb = 0;       // VmRSS with the restored heap live
  double peak_rss_mb = 0;  // VmHWM over this size's whole run
};

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// A field of /proc/self/status such as "VmRSS:    123456 kB", in MiB.
double ProcStatusMb(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    return std::strtod(line.c_str() + key.size() + 1, nullptr) / 1024.0;
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux clear_refs "5"), so that each heap
// size reports its own peak rather than the largest size's so far.
void ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
}

ken::PersistentIsolate::TurnBody Script(std::string source) {
  return ken::bench::ScriptBody(std::move(source), "checkpoint_bench");
}

absl::StatusOr<std::string> Checked(const ken::TurnResult& result, const char* what) {
  if (!result.ok()) return absl::InternalError(absl::StrCat(what, ": ", result.error));
  return result.output;
}

absl::StatusOr<std::unique_ptr<ken::Node>> OpenNode(const std::string& store_path) {
  ken::NodeOptions options;
  options.store_path = store_path;
  options.durability = "snapshot";  // what this bench measures: snapshot mode's commit (journal_bench: both)
  options.isolate.turn_timeout_ms = kTurnTimeoutMs;
  return ken::Node::Open(std::move(options));
}

// About `mb` MB of live data: ~1 KB per entry, mostly a 900-byte string, plus
// a small object graph (object, short string, array) so the snapshot walks
// many objects rather than a few big ones. 'X'.repeat() alone would be a tree
// of cons strings sharing their halves (~450 bytes an entry); toLowerCase()
// copies it into one flat 900-byte string, so each entry really holds ~1 KB.
std::string FillScript(int mb) {
  return absl::StrCat(
      "globalThis.data = [];\n"
      "for (let i = 0; i < ", static_cast<int64_t>(mb) * 1024, "; i++) {\n"
      "  data.push({id: i, name: 'item' + i, tags: ['a', 'b'],\n"
      "             payload: 'X'.repeat(900).toLowerCase()});\n"
      "}\n"
      "data.length");
}

// Changes one small value, so a commit snapshots a heap of unchanged size.
constexpr char kTouchScript[] = "globalThis.touches = (globalThis.touches || 0) + 1";

// Writes `bytes` to a new file and fsyncs it: the raw disk cost of a commit.
absl::StatusOr<double> TimedRawWrite(const std::string& path, const std::string& bytes) {
  unlink(path.c_str());  // a new file each time, like fresh WAL frames
  Clock::time_point start = Clock::now();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("write ", path, ": ", strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", strerror(errno)));
  return MsSince(start);
}

// Builds the heap in one turn and records its JSON size; returns the expected
// data.length for checking restores.
absl::StatusOr<std::string> BuildHeap(ken::Node& node, Row& row) {
  absl::StatusOr<std::string> length =
      Checked(node.Turn(Script(FillScript(row.target_mb))), "fill");
  if (!length.ok()) return length.status();
  // Evaluate discards its effects, so the JSON text never reaches a snapshot.
  absl::StatusOr<std::string> json_chars =
      Checked(node.Evaluate(Script("JSON.stringify(data).length")), "stringify");
  if (!json_chars.ok()) return json_chars.status();
  int64_t chars = 0;
  if (!absl::SimpleAtoi(*json_chars, &chars)) return absl::InternalError("bad JSON length");
  row.json_mb = chars / kMiB;  // the data is ASCII: one byte per char
  return length;
}

// Every turn restores a fresh isolate from the last blob before it runs (see
// persistent_isolate.h). Restoring it first, outside the timer, leaves
// exactly the commit path in commit_ms: run, CreateBlob, SQLite + fsync.
absl::Status MeasureCommits(ken::Node& node, Row& row) {
  std::vector<double> commits, turns;
  for (int i = 0; i < row.iterations; ++i) {
    Clock::time_point start = Clock::now();
    absl::StatusOr<size_t> heap = node.isolate().UsedHeapBytes();
    if (!heap.ok()) return heap.status();
    double restore_ms = MsSince(start);
    row.heap_mb = *heap / kMiB;
    Clock::time_point commit_start = Clock::now();
    absl::StatusOr<std::string> touched = Checked(node.Turn(Script(kTouchScript)), "commit");
    if (!touched.ok()) return touched.status();
    commits.push_back(MsSince(commit_start));
    turns.push_back(restore_ms + commits.back());
  }
  row.commit_ms = Median(commits);
  row.turn_ms = Median(turns);
  row.blob_mb = node.isolate().blob().size() / kMiB;
  return absl::OkStatus();
}

// The store alone, on a side file: the same blob through SQLite + fsync with
// no V8 work, to split commit_ms into snapshot and storage.
absl::Status MeasureSqliteCommits(const std::string& path, const std::string& blob, Row& row) {
  ken::Checkpoint checkpoint;
  checkpoint.engine = ken::V8Version();
  checkpoint.heap = blob;
  absl::StatusOr<std::unique_ptr<ken::CheckpointStore>> store =
      ken::CheckpointStore::Create(path, checkpoint);
  if (!store.ok()) return store.status();
  std::vector<double> times;
  for (int i = 0; i < row.iterations; ++i) {
    Clock::time_point start = Clock::now();
    if (absl::Status s = (*store)->Commit(checkpoint); !s.ok()) return s;
    times.push_back(MsSince(start));
  }
  row.sqlite_ms = Median(times);
  return absl::OkStatus();
}

absl::Status MeasureRawWrites(const std::string& path, const std::string& blob, Row& row) {
  std::vector<double> times;
  for (int i = 0; i < row.iterations; ++i) {
    absl::StatusOr<double> ms = TimedRawWrite(path, blob);
    if (!ms.ok()) return ms.status();
    times.push_back(*ms);
  }
  unlink(path.c_str());
  row.raw_ms = Median(times);
  return absl::OkStatus();
}

// Start-up as a restarted node sees it: open the store, load the newest
// checkpoint, restore the isolate (all inside Node::Open), then answer a
// first read. The store file is in the page cache (a warm restart).
absl::Status MeasureRestores(const std::string& store_path, const std::string& expected_length,
                             Row& row) {
  std::vector<double> times;
  std::unique_ptr<ken::Node> node;
  for (int i = 0; i < row.iterations; ++i) {
    node.reset();  // one writer per store: the previous node must be gone
    Clock::time_point start = Clock::now();
    absl::StatusOr<std::unique_ptr<ken::Node>> opened = OpenNode(store_path);
    if (!opened.ok()) return opened.status();
    node = std::move(*opened);
    absl::StatusOr<std::string> length = Checked(node->Evaluate(Script("data.length")), "read");
    times.push_back(MsSince(start));
    if (!length.ok()) return length.status();
    if (*length != expected_length) {
      return absl::DataLossError(absl::StrCat("restored data.length ", *length, ", want ",
                                              expected_length));
    }
  }
  row.restore_ms = Median(times);
  // Evaluate dropped the isolate; bring the heap back, as during a turn.
  if (absl::Status s = node->isolate().UsedHeapBytes().status(); !s.ok()) return s;
  row.rss_mb = ProcStatusMb("VmRSS");
  return absl::OkStatus();
}

int IterationsFor(int mb) {
  int iterations = std::max(1, absl::GetFlag(FLAGS_iterations));
  if (mb >= kLargeHeapMb) iterations = std::min(iterations, absl::GetFlag(FLAGS_large_iterations));
  return std::max(1, iterations);
}

// Measures one heap size in its own folder, deleted afterwards.
absl::StatusOr<Row> BenchOneSize(const std::string& root, int mb) {
  Row row;
  row.target_mb = mb;
  row.iterations = IterationsFor(mb);
  std::string dir = absl::StrCat(root, "/heap_", mb, "mb");
  std::filesystem::create_directory(dir);
  std::string store_path = dir + "/node.ken";
  ResetPeakRss();

  absl::StatusOr<std::unique_ptr<ken::Node>> node = OpenNode(store_path);
  if (!node.ok()) return node.status();
  absl::StatusOr<std::string> length = BuildHeap(**node, row);
  if (!length.ok()) return length.status();
  if (absl::Status s = MeasureCommits(**node, row); !s.ok()) return s;
  std::string blob = (*node)->isolate().blob();
  node->reset();

  if (absl::Status s = MeasureSqliteCommits(dir + "/sqlite_only.ken", blob, row); !s.ok()) return s;
  if (absl::Status s = MeasureRawWrites(dir + "/raw.bin", blob, row); !s.ok()) return s;
  blob.clear();
  blob.shrink_to_fit();
  if (absl::Status s = MeasureRestores(store_path, *length, row); !s.ok()) return s;
  row.peak_rss_mb = ProcStatusMb("VmHWM");

  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return row;
}

// The headline columns come first; after the bar, the ones that explain them
// (README.md describes each column).
void PrintHeader() {
  absl::PrintF("%7s %7s %9s %18s %10s %10s %6s | %7s %9s %9s %10s %11s %2s\n", "heap_mb",
               "blob_mb", "commit_ms", "raw_write_fsync_ms", "commit/raw", "restore_ms", "rss_mb",
               "json_mb", "turn_ms", "sqlite_ms", "sqlite/raw", "peak_rss_mb", "n");
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintRow(const Row& r) {
  absl::PrintF("%7.1f %7.1f %9.1f %18.1f %9.1fx %10.1f %6.0f | "
               "%7.1f %9.1f %9.1f %9.1fx %11.0f %2d\n",
               r.heap_mb, r.blob_mb, r.commit_ms, r.raw_ms, Ratio(r.commit_ms, r.raw_ms),
               r.restore_ms, r.rss_mb, r.json_mb, r.turn_ms, r.sqlite_ms,
               Ratio(r.sqlite_ms, r.raw_ms), r.peak_rss_mb, r.iterations);
  fflush(stdout);  // rows appear as each size finishes
}

absl::StatusOr<std::vector<int>> ParseSizes() {
  std::vector<int> sizes;
  for (const std::string& s : absl::GetFlag(FLAGS_sizes)) {
    int mb = 0;
    if (!absl::SimpleAtoi(s, &mb) || mb < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--sizes: '", s, "' is not a size in MB"));
    }
    sizes.push_back(mb);
  }
  return sizes;
}

absl::Status Run(const std::string& root) {
  absl::StatusOr<std::vector<int>> sizes = ParseSizes();
  if (!sizes.ok()) return sizes.status();
  absl::PrintF("checkpoint_bench: V8 %s, dir %s, iterations %d (>= %d MB: %d), medians\n",
               ken::V8Version(), root, absl::GetFlag(FLAGS_iterations), kLargeHeapMb,
               IterationsFor(kLargeHeapMb));
  absl::PrintF("process RSS before any heap: %.0f MB\n", ProcStatusMb("VmRSS"));
  PrintHeader();
  for (int mb : *sizes) {
    absl::StatusOr<Row> row = BenchOneSize(root, mb);
    if (!row.ok()) return row.status();
    PrintRow(*row);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "checkpoint_bench [--sizes=0,1,10,100] [--iterations=5] [--dir=/tmp]: commit and restore "
      "cost by heap size, against a raw write+fsync of the same bytes");
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // Node::Open logs each open at info
  ken::InitializeV8(ken::V8Config{});

  std::string templ = absl::GetFlag(FLAGS_dir) + "/ken_checkpoint_bench.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    fprintf(stderr, "checkpoint_bench: mkdtemp %s: %s\n", templ.c_str(), strerror(errno));
    return 1;
  }
  Clock::time_point start = Clock::now();
  absl::Status status = Run(templ);
  std::error_code ignored;
  std::filesystem::remove_all(templ, ignored);
  if (!status.ok()) {
    fprintf(stderr, "checkpoint_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  absl::PrintF("total %.1f s\n", MsSince(start) / 1000);
  return 0;
}
