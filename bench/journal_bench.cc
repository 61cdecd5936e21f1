// journal_bench: the two durability modes side by side (README, "Durability
// modes"), at live heaps of about 1 MB and 100 MB, next to peers measured in
// the same run: a 256-byte append + fdatasync on the same disk (the floor of
// any durable commit) and a plain V8 10.2 isolate running the same JS.
//
//   bazel run -c opt //bench:journal_bench
//   bazel run -c opt //bench:journal_bench -- --sizes=1 --sustain_s=60 --modes=journal
//
// Each (mode, size) runs in a forked child (V8 initialises once per
// process), in-process through ken::Node's public API (no network):
//  - commit p50/p99: one trivial counter turn per commit (Node::RunBatch);
//  - turns/s one by one, and with group commit: batches of 64 inputs
//    pipelined (RunBatchAsync), as 64 concurrent inputs would be batched;
//  - bytes written per turn (/proc/self/io write_bytes, snapshotter
//    included);
//  - restore: Node::Open of the store right after a snapshot (snapshot
//    load), and again after --replay_commits more commits (the difference
//    is the replay);
//  - snapshotter replay turns/s (journal mode);
//  - RSS after the run;
//  - one aborted turn: a throwing turn plus the next trivial turn, minus a
//    trivial turn (journal mode rebuilds the live isolate after an abort);
//    and group-commit turns/s when 10% of the inputs throw;
//  - JS speed: the same CPU-heavy turn, vs a plain V8 isolate.
// Then, journal mode only, a sustained run of --sustain_s seconds at maximum
// load (batches of 64, pipelined, the snapshotter on): turns/s per window,
// commit latency, how far the journal gets ahead of the newest snapshot
// (the bound: journal_max_commits).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"
#include "v8.h"

ABSL_FLAG(std::vector<std::string>, sizes, std::vector<std::string>({"1", "100"}), "live heap sizes, MB of JS data");
ABSL_FLAG(std::vector<std::string>, modes, std::vector<std::string>({"journal", "snapshot"}), "durability modes");
ABSL_FLAG(int, commits, 300, "timed one-by-one commits (snapshot mode at 100 MB: at most 5)");
ABSL_FLAG(double, group_s, 5, "seconds of each group-commit run");
ABSL_FLAG(int, replay_commits, 2000, "commits replayed by the restore measurement");
ABSL_FLAG(int, sustain_s, 60, "seconds of the sustained journal-mode run (0: skip)");
ABSL_FLAG(std::string, dir, "/tmp", "where the temporary stores go (the disk being measured)");

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

ken::TurnInput Js(const std::string& source) {
  ken::TurnInput input = ken::MakeTurn(ken::ShellRecord(source, "bench"));
  input.dead_letter = true;
  return input;
}

int64_t WriteBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

double RssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// About `mb` MB of JS data: mb*1024 objects of ~1 KB (many objects, as real
// heaps hold, rather than one big string).
std::string BuildHeap(int mb) {
  return absl::StrCat("var data = []; for (let i = 0; i < ", mb * 1024,
                      "; i++) data.push({ id: i, name: 'item' + i, tags: ['a', 'b'], "
                      "payload: 'X'.repeat(900).toLowerCase() }); var counter = 0; data.length");
}

// The CPU-heavy turn: object allocation, sorting, string building, math.
constexpr char kWork[] =
    "function work(n) { const a = []; for (let i = 0; i < n; i++) a.push({ k: i, v: (i * 2654435761) % 1000003 });"
    " a.sort((x, y) => x.v - y.v); let h = 0; for (const o of a) h = (h * 31 + o.v) | 0;"
    " let s = ''; for (let i = 0; i < 50000; i++) s += String.fromCharCode(65 + (i % 26));"
    " const m = new Map(); for (let i = 0; i < n; i++) m.set('k' + (i % 5000), i); return h + s.length + m.size; }";
constexpr int kWorkN = 200000;
constexpr int kWorkRuns = 5;

std::unique_ptr<ken::Node> Open(const std::string& path, const std::string& mode, bool snapshotter) {
  ken::NodeOptions options;
  options.store_path = path;
  options.durability = mode;
  options.isolate.turn_timeout_ms = 120000;
  if (!snapshotter) {
    options.snapshot_every_commits = options.journal_max_commits = 1ll << 40;
    options.snapshot_every_bytes = 1ll << 40;
    options.snapshot_every_ms = 7ll * 24 * 3600 * 1000;
  }
  auto node = ken::Node::Open(options);
  if (!node.ok()) {
    fprintf(stderr, "journal_bench: %s\n", std::string(node.status().message()).c_str());
    exit(1);
  }
  return std::move(*node);
}

// Durable turns per second for `seconds`: batches of 64, pipelined; every
// `throw_every`-th input throws (0: none). Also collects commit latencies.
double GroupCommit(ken::Node& node, double seconds, int throw_every, std::vector<double>* latency_ms) {
  int64_t durable = 0, issued = 0;
  const Clock::time_point start = Clock::now();
  while (MsSince(start) < seconds * 1000) {
    std::vector<ken::TurnInput> batch;
    for (int i = 0; i < 64; ++i, ++issued) {
      batch.push_back(Js(throw_every > 0 && issued % throw_every == 0 ? "throw new Error('bad request')" : "counter++"));
    }
    const Clock::time_point t = Clock::now();
    node.RunBatchAsync(batch, nullptr, [&, t](ken::BatchResult r) {
      for (const auto& result : r.results) durable += result.ok() ? 1 : 0;
      if (latency_ms) latency_ms->push_back(MsSince(t));
    });
    node.Maintain();
  }
  node.Flush();
  return durable * 1000.0 / MsSince(start);
}

void Run(const std::string& mode, int mb, const std::string& dir, double fsync_p50) {
  ken::InitializeV8({});
  const std::string path = absl::StrCat(dir, "/", mode, "-", mb, ".ken");
  const bool big = mb >= 50;
  const bool slow = mode == "snapshot" && big;
  double restore_snapshot_ms = 0, restore_replay_ms = 0, rss = 0;
  int replayed = 0;
  {
    auto node = Open(path, mode, true);
    node->RunBatch({Js(BuildHeap(mb))});
    node->RunBatch({Js(kWork)});
    const double heap_mb = static_cast<double>(node->isolate().UsedHeapBytes().value_or(0)) / 1048576.0;
    // Commit latency, one turn per commit.
    std::vector<double> commit;
    const int commits = slow ? std::min(5, absl::GetFlag(FLAGS_commits)) : absl::GetFlag(FLAGS_commits);
    int64_t bytes0 = WriteBytes();
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < commits; ++i) {
      const Clock::time_point t = Clock::now();
      node->RunBatch({Js("counter++")});
      commit.push_back(MsSince(t));
      node->Maintain();
    }
    const double one_by_one = commits * 1000.0 / MsSince(t0);
    const double bytes_per_turn = static_cast<double>(WriteBytes() - bytes0) / commits;
    // Group commit, and the same with 10% throwing inputs.
    const double group_s = slow ? std::min(3.0, absl::GetFlag(FLAGS_group_s)) : absl::GetFlag(FLAGS_group_s);
    bytes0 = WriteBytes();
    int64_t turns0 = node->state().turns();
    const double group = GroupCommit(*node, group_s, 0, nullptr);
    const double group_bytes =
        static_cast<double>(WriteBytes() - bytes0) / std::max<int64_t>(1, node->state().turns() - turns0);
    const double group_throwing = GroupCommit(*node, group_s, 10, nullptr);
    // One aborted turn: throw + next trivial turn, minus a trivial turn.
    std::vector<double> abort_ms, plain_ms;
    for (int i = 0; i < (slow ? 2 : 10); ++i) {
      Clock::time_point t = Clock::now();
      node->RunBatch({Js("counter++")});
      plain_ms.push_back(MsSince(t));
      t = Clock::now();
      node->RunBatch({Js("counter++; throw new Error('abort')")});
      node->RunBatch({Js("counter++")});
      abort_ms.push_back(MsSince(t));
    }
    const double abort_cost = Percentile(abort_ms, 0.5) - Percentile(plain_ms, 0.5);
    // JS speed: kWorkRuns turns each running work(kWorkN).
    std::vector<double> work_ms;
    for (int i = 0; i < kWorkRuns; ++i) {
      const Clock::time_point t = Clock::now();
      node->RunBatch({Js(absl::StrCat("work(", kWorkN, ")"))});
      work_ms.push_back(MsSince(t));
    }
    ken::Snapshotter::Stats st = node->snapshotter_stats();
    const double snapshotter_tps = st.replay_ms > 0 ? st.replayed_turns * 1000.0 / st.replay_ms : 0;
    rss = RssMb();
    printf("%-8s %5d %8.1f %8.3f %8.3f %7.1fx %9.0f %9.0f %9.0f %10.0f %10.0f %9.1f %11.0f %9.1f %7.0f\n",
           mode.c_str(), mb, heap_mb, Percentile(commit, 0.5), Percentile(commit, 0.99),
           fsync_p50 > 0 ? Percentile(commit, 0.5) / fsync_p50 : 0, one_by_one, group, group_throwing,
           bytes_per_turn, group_bytes, abort_cost, snapshotter_tps, Percentile(work_ms, 0.5), rss);
    fflush(stdout);
    if (mode == "journal") (void)node->SnapshotNow();
  }
  // Restore: right after a snapshot, then after replay_commits commits.
  {
    Clock::time_point t = Clock::now();
    auto node = Open(path, "", false);
    restore_snapshot_ms = MsSince(t);
    if (mode == "journal") {
      replayed = absl::GetFlag(FLAGS_replay_commits);
      for (int i = 0; i < replayed; ++i) node->RunBatch({Js("counter++; data[counter % data.length].id++")});
    }
  }
  if (mode == "journal") {
    Clock::time_point t = Clock::now();
    auto node = Open(path, "", false);
    restore_replay_ms = MsSince(t) - restore_snapshot_ms;
  }
  printf("         restore: snapshot load %.0f ms; replay of %d commits %.0f ms (%.0f turns/s)\n",
         restore_snapshot_ms, replayed, restore_replay_ms,
         restore_replay_ms > 0 ? replayed * 1000.0 / restore_replay_ms : 0);
  fflush(stdout);
}

void Sustain(const std::string& dir, int mb, int seconds) {
  ken::InitializeV8({});
  const std::string path = absl::StrCat(dir, "/sustain-", mb, ".ken");
  auto node = Open(path, "journal", true);
  node->RunBatch({Js(BuildHeap(mb))});
  const int window_s = 10;
  printf("\nsustained: journal mode, %d MB heap, %d s of batches of 64 pipelined, snapshotter on "
         "(snapshot_every_commits 10000, journal_max_commits 100000)\n", mb, seconds);
  printf("%8s %10s %10s %10s %12s %10s\n", "window", "turns/s", "p50_ms", "p99_ms", "max_tail", "snapshots");
  std::vector<double> all;
  int64_t max_tail_total = 0;
  for (int w = 0; w * window_s < seconds; ++w) {
    std::vector<double> latency;
    int64_t max_tail = 0;
    const Clock::time_point start = Clock::now();
    int64_t durable = 0;
    while (MsSince(start) < window_s * 1000.0) {
      std::vector<ken::TurnInput> batch(64, Js("counter++"));
      const Clock::time_point t = Clock::now();
      node->RunBatchAsync(batch, nullptr, [&, t](ken::BatchResult r) {
        for (const auto& result : r.results) durable += result.ok() ? 1 : 0;
        latency.push_back(MsSince(t));
      });
      node->Maintain();
      max_tail = std::max(max_tail, node->checkpoint_seq() - node->snapshotter_stats().written_seq);
    }
    node->Flush();
    max_tail_total = std::max(max_tail_total, max_tail);
    all.insert(all.end(), latency.begin(), latency.end());
    printf("%5d-%-2d %10.0f %10.2f %10.2f %12lld %10lld\n", w * window_s, (w + 1) * window_s,
           durable * 1000.0 / MsSince(start), Percentile(latency, 0.5), Percentile(latency, 0.99),
           static_cast<long long>(max_tail), static_cast<long long>(node->snapshotter_stats().snapshots));
    fflush(stdout);
  }
  ken::Snapshotter::Stats st = node->snapshotter_stats();
  printf("whole run: batch commit p50 %.2f ms, p99 %.2f ms; journal tail at most %lld commits after the newest "
         "snapshot; snapshotter replays %.0f turns/s, last snapshot %.0f ms (%lld bytes)\n",
         Percentile(all, 0.5), Percentile(all, 0.99), static_cast<long long>(max_tail_total),
         st.replay_ms > 0 ? st.replayed_turns * 1000.0 / st.replay_ms : 0, st.last_snapshot_ms,
         static_cast<long long>(st.last_snapshot_bytes));
}

// The peer for JS speed: a bare v8::Isolate (TurboFan on), no Ken at all,
// holding the same live data as the Ken heap it is compared with (a GC
// marks it: the work allocates).
void PlainV8(int mb) {
  ken::InitializeV8({});
  v8::Isolate::CreateParams params;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  std::vector<double> work_ms;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    auto run = [&](const std::string& source) {
      v8::Local<v8::Script> script =
          v8::Script::Compile(context, v8::String::NewFromUtf8(isolate, source.c_str()).ToLocalChecked())
              .ToLocalChecked();
      v8::Local<v8::Value> ignored;
      if (!script->Run(context).ToLocal(&ignored)) fprintf(stderr, "journal_bench: a heap-building script threw\n");
    };
    run(BuildHeap(mb));
    run(kWork);
    for (int i = 0; i < kWorkRuns; ++i) {
      const Clock::time_point t = Clock::now();
      run(absl::StrCat("work(", kWorkN, ")"));
      work_ms.push_back(MsSince(t));
    }
  }
  isolate->Dispose();
  printf("peer: plain V8 isolate with %d MB of the same data, work(%d): p50 %.1f ms\n", mb, kWorkN,
         Percentile(work_ms, 0.5));
  fflush(stdout);
}

std::pair<double, double> FsyncPeer(const std::string& dir) {
  const std::string path = dir + "/fsync_peer";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  std::string record(256, 'x');
  std::vector<double> times;
  for (int i = 0; i < 500; ++i) {
    Clock::time_point t = Clock::now();
    if (write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) || fdatasync(fd) != 0) break;
    times.push_back(MsSince(t));
  }
  close(fd);
  unlink(path.c_str());
  return {Percentile(times, 0.5), Percentile(times, 0.99)};
}

template <typename F>
void InChild(F f) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    f();
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("(child failed: status %d)\n", status);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::critical);  // the throwing turns' dead letters are expected
  char tmpl[256];
  snprintf(tmpl, sizeof(tmpl), "%s/journal_benchXXXXXX", absl::GetFlag(FLAGS_dir).c_str());
  const std::string dir = mkdtemp(tmpl);
  const auto [fsync_p50, fsync_p99] = FsyncPeer(dir);
  const double peer_p50 = fsync_p50;  // (a structured binding cannot be captured in C++17)
  printf("peer: 256-byte append + fdatasync: p50 %.3f ms, p99 %.3f ms\n", fsync_p50, fsync_p99);
  printf("\n%-8s %5s %8s %8s %8s %8s %9s %9s %9s %10s %10s %9s %11s %9s %7s\n", "mode", "MB", "heap_mb",
         "p50_ms", "p99_ms", "/fsync", "seq_tps", "group_tps", "grp10%thr", "B/turn", "grp_B/turn", "abort_ms",
         "snapshtr_tps", "work_ms", "rss_mb");
  for (const std::string& size : absl::GetFlag(FLAGS_sizes)) {
    int mb = 0;
    if (!absl::SimpleAtoi(size, &mb)) continue;
    InChild([&] { PlainV8(mb); });
    for (const std::string& mode : absl::GetFlag(FLAGS_modes)) InChild([&] { Run(mode, mb, dir, peer_p50); });
  }
  if (absl::GetFlag(FLAGS_sustain_s) > 0) {
    InChild([&] { Sustain(dir, 1, absl::GetFlag(FLAGS_sustain_s)); });
  }
  std::string cleanup = "rm -rf " + dir;
  (void)system(cleanup.c_str());
  return 0;
}
