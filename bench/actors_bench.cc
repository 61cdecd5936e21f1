// actors_bench: what a call to a local actor costs (ken.ref(kind, key)
// .call(method) on the node that hosts the key: routing by rendezvous
// hashing, the actor table, a promise per call), next to the in-process
// ceiling measured in the same run: the same method called directly on
// plain objects.
//
// One node (snapshot mode, outside a cluster, so every actor is local) in a
// temporary store holds --actors actors of kind Counter (created and
// committed first) and as many plain objects with the same `inc` method.
// Each measured run is one Node::Evaluate (a turn whose effects are
// discarded) making --rounds calls per actor; its time minus an empty
// Evaluate's (the restore both pay) is the work. Every time is the median
// of --iterations runs.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bench/script_body.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int, actors, 10000, "actors (and plain objects)");
ABSL_FLAG(int, rounds, 10, "calls per actor in each measured run");
ABSL_FLAG(int, iterations, 5, "measured runs per row (the median is printed)");
ABSL_FLAG(std::string, dir, "/tmp", "where the temporary store is created");

namespace {

using Clock = std::chrono::steady_clock;

ken::PersistentIsolate::TurnBody Script(std::string source) {
  return ken::bench::ScriptBody(std::move(source), "actors_bench");
}

// Median ms of `iterations` Evaluate runs of `source`; -1 on an error.
double MedianMs(ken::Node& node, const std::string& source, int iterations, std::string* output) {
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    auto start = Clock::now();
    ken::TurnResult r = node.Evaluate(Script(source));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!r.ok()) {
      fprintf(stderr, "actors_bench: %s\n", r.error.c_str());
      return -1;
    }
    *output = r.output;
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  ken::InitializeV8(ken::V8Config{});
  const int actors = absl::GetFlag(FLAGS_actors), rounds = absl::GetFlag(FLAGS_rounds);
  const int iterations = std::max(1, absl::GetFlag(FLAGS_iterations));
  std::string dir = absl::GetFlag(FLAGS_dir) + "/ken_actors_bench.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    perror("mkdtemp");
    return 1;
  }
  int code = 0;
  {
    ken::NodeOptions options;
    options.store_path = dir + "/bench.ken";
    options.durability = "snapshot";
    options.isolate.turn_timeout_ms = 600000;
    absl::StatusOr<std::unique_ptr<ken::Node>> node = ken::Node::Open(std::move(options));
    if (!node.ok()) {
      fprintf(stderr, "actors_bench: %s\n", std::string(node.status().message()).c_str());
      return 1;
    }
    const std::string setup = absl::StrCat(
        "var N = ", actors, ", R = ", rounds, R"js(;
ken.actor('Counter', { state() { return { n: 0 }; }, inc() { return ++this.n; } });
function Plain() { this.n = 0; }
Plain.prototype.inc = function () { return ++this.n; };
var plain = [], refs = [];
for (var i = 0; i < N; i++) { plain.push(new Plain()); refs.push(ken.ref('Counter', i)); refs[i].call('inc'); }
refs.length)js");
    ken::TurnResult made = (*node)->Turn(Script(setup));
    if (!made.ok() || made.output != std::to_string(actors)) {
      fprintf(stderr, "actors_bench: setup: %s%s\n", made.error.c_str(), made.output.c_str());
      return 1;
    }
    std::string out;
    if (MedianMs(**node, "ken.actors('Counter').length", 1, &out) < 0 || out != std::to_string(actors)) {
      fprintf(stderr, "actors_bench: the node hosts %s actors, not %d\n", out.c_str(), actors);
      return 1;
    }
    const double empty = MedianMs(**node, "0", iterations, &out);
    // Every call's promise settles before the turn ends (local calls run in
    // its microtasks): checked once in a committed turn.
    ken::TurnResult one = (*node)->Turn(Script(
        "var settled = 0; for (var i = 0; i < N; i++) refs[i].call('inc').then(function () { settled++; }); 0"));
    std::string settled;
    if (!one.ok() || MedianMs(**node, "settled", 1, &settled) < 0 || settled != std::to_string(actors)) {
      fprintf(stderr, "actors_bench: %d of %d local calls settled in their turn\n", atoi(settled.c_str()), actors);
      return 1;
    }
    const double actor_ms = MedianMs(**node, R"js(
var done = 0;
for (var r = 0; r < R; r++) for (var i = 0; i < N; i++) refs[i].call('inc').then(function () { done++; });
R * N)js", iterations, &out);
    const std::string actor_out = out;
    const double plain_ms = MedianMs(**node, R"js(
var s = 0;
for (var r = 0; r < R; r++) for (var i = 0; i < N; i++) s += plain[i].inc();
R * N)js", iterations, &out);
    if (empty < 0 || actor_ms < 0 || plain_ms < 0 || actor_out != std::to_string(actors * rounds)) {
      code = 1;
    } else {
      const double calls = static_cast<double>(actors) * rounds;
      const double actor_work = std::max(0.001, actor_ms - empty), plain_work = std::max(0.001, plain_ms - empty);
      printf("actors_bench: %d local actors, %d calls per measured run, median of %d (empty turn %.1f ms subtracted)\n",
             actors, actors * rounds, iterations, empty);
      printf("%-28s %12s %12s\n", "", "ms", "calls/s");
      printf("%-28s %12.1f %12.0f\n", "ref.call (local actor)", actor_work, calls / actor_work * 1000);
      printf("%-28s %12.1f %12.0f\n", "plain method call", plain_work, calls / plain_work * 1000);
      printf("ratio actor/plain calls/s: %.4fx\n", plain_work / actor_work);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return code;
}
