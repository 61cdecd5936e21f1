// commit_bench: what one commit costs as the outbox grows, and what
// pipelining the commit (running batch N+1 while batch N's fsync is in
// flight) gains. Prints tables; the peer is a 256-byte append + fdatasync on
// the same disk, measured in the same run.
//
//   bazel run -c opt //bench:commit_bench
//   bazel run -c opt //bench:commit_bench -- --unacked=0,10000 --commits=30 --batches=300
//
// Part 1, outbox: a cluster node `a` whose peer `b` never answers holds N
// unacked envelopes (100-byte payloads); then `--commits` trivial turns are
// committed one by one (Node::RunBatch), each a full commit. Reported: p50
// and p99 of the commit, and the ratio to N = 0.
//
// Part 2, pipelining: `--batches` batches of one trivial counter turn each,
// committed one after another (RunBatch: each waits for its fsync before the
// next runs) and pipelined (RunBatchAsync: the next batch's turns and
// snapshot run while the previous fsync is in flight). Reported: durable
// batches per second each way, and the gain.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
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

ABSL_FLAG(std::vector<std::string>, unacked, std::vector<std::string>({"0", "10000"}),
          "outbox sizes (unacked envelopes) to measure a commit at");
ABSL_FLAG(int, commits, 30, "timed commits per outbox size");
ABSL_FLAG(int, batches, 300, "batches per pipelining run");
ABSL_FLAG(std::string, durability, "snapshot", "durability mode of the stores: snapshot or journal");
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
  input.description = "bench";
  return input;
}

std::unique_ptr<ken::Node> OpenNode(const std::string& path) {
  ken::NodeOptions options;
  options.store_path = path;
  options.durability = absl::GetFlag(FLAGS_durability);
  options.node_id = "a";
  options.peers = {"b"};
  auto node = ken::Node::Open(options);
  if (!node.ok()) {
    fprintf(stderr, "commit_bench: %s\n", std::string(node.status().message()).c_str());
    exit(1);
  }
  return std::move(*node);
}

// p50 / p99 of a 256-byte append + fdatasync.
std::pair<double, double> FsyncPeer(const std::string& dir) {
  const std::string path = dir + "/commit_bench_fsync";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  std::string record(256, 'x');
  std::vector<double> times;
  for (int i = 0; i < 200; ++i) {
    Clock::time_point t = Clock::now();
    if (write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) || fdatasync(fd) != 0) break;
    times.push_back(MsSince(t));
  }
  close(fd);
  unlink(path.c_str());
  return {Percentile(times, 0.5), Percentile(times, 0.99)};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  ken::InitializeV8({});
  char tmpl[256];
  snprintf(tmpl, sizeof(tmpl), "%s/commit_benchXXXXXX", absl::GetFlag(FLAGS_dir).c_str());
  const std::string dir = mkdtemp(tmpl);
  auto [fsync_p50, fsync_p99] = FsyncPeer(dir);
  printf("peer: 256-byte append + fdatasync: p50 %.3f ms, p99 %.3f ms\n\n", fsync_p50, fsync_p99);

  printf("commit with N unacked envelopes in the outbox (trivial turn, one commit each)\n");
  printf("%10s %10s %10s %12s %14s\n", "unacked", "p50_ms", "p99_ms", "vs_N=0", "p50/fsync_p50");
  double base = 0;
  int round = 0;
  for (const std::string& text : absl::GetFlag(FLAGS_unacked)) {
    int n = 0;
    if (!absl::SimpleAtoi(text, &n)) continue;
    const std::string path = absl::StrCat(dir, "/outbox-", round++, ".ken");
    {
      auto node = OpenNode(path);
      node->RunBatch({Js("var touches = 0; var payload = 'p'.repeat(100);")});
      for (int sent = 0; sent < n;) {
        const int chunk = std::min(1000, n - sent);
        node->RunBatch({Js(absl::StrCat("for (let i = 0; i < ", chunk, "; i++) ken.send('b', payload);"))});
        sent += chunk;
      }
      std::vector<double> times;
      for (int i = 0; i < absl::GetFlag(FLAGS_commits); ++i) {
        Clock::time_point t = Clock::now();
        ken::BatchResult r = node->RunBatch({Js("touches++")});
        times.push_back(MsSince(t));
        if (!r.results[0].ok()) fprintf(stderr, "commit failed: %s\n", r.results[0].error.c_str());
      }
      const double p50 = Percentile(times, 0.5);
      if (n == 0) base = p50;
      printf("%10d %10.2f %10.2f %11.2fx %13.1fx\n", n, p50, Percentile(times, 0.99), base > 0 ? p50 / base : 0,
             fsync_p50 > 0 ? p50 / fsync_p50 : 0);
    }
  }

  printf("\npipelining: %d batches of one counter turn, each committed durably\n", absl::GetFlag(FLAGS_batches));
  auto node = OpenNode(dir + "/pipeline.ken");
  node->RunBatch({Js("var counter = 0;")});
  const int batches = absl::GetFlag(FLAGS_batches);
  Clock::time_point t = Clock::now();
  for (int i = 0; i < batches; ++i) node->RunBatch({Js("counter++")});
  const double sequential_ms = MsSince(t);
#ifndef KEN_BENCH_BEFORE_PIPELINING  // for measuring a tree from before RunBatchAsync
  int durable = 0;
  t = Clock::now();
  for (int i = 0; i < batches; ++i) {
    node->RunBatchAsync({Js("counter++")}, nullptr, [&durable](ken::BatchResult r) {
      if (r.commit.ok()) ++durable;
    });
  }
  node->Flush();
  const double pipelined_ms = MsSince(t);
  printf("%14s %12s %12s\n", "mode", "batches/s", "ms/batch");
  printf("%14s %12.0f %12.2f\n", "one by one", batches * 1000.0 / sequential_ms, sequential_ms / batches);
  printf("%14s %12.0f %12.2f\n", "pipelined", durable * 1000.0 / pipelined_ms, pipelined_ms / batches);
  printf("gain: %.2fx (durable batches: %d of %d)\n", sequential_ms / pipelined_ms, durable, batches);
#else
  printf("%14s %12s %12s\n", "mode", "batches/s", "ms/batch");
  printf("%14s %12.0f %12.2f\n", "one by one", batches * 1000.0 / sequential_ms, sequential_ms / batches);
#endif
  std::string cleanup = "rm -rf " + dir;
  (void)system(cleanup.c_str());
  return 0;
}
