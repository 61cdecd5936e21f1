// actors_bench: what a call to a local actor costs (ken.ref(kind, key)
// .call(method) on the node that hosts the key), next to the in-process
// ceiling measured in the same run: the same method called directly on
// plain objects in one turn.
//
// A local actor call is a turn of its own (js_api/actors.js): the method
// runs in an internal timer's turn on cloned arguments, and its reply
// settles the caller's promise in another, so each call is two turns,
// which the node's turn loop runs in batches with one commit each (group
// commit), as a `ken run` node does. One node (journal mode, the default;
// outside a cluster, so every actor is local) in a temporary store holds
// --actors actors of kind Counter and as many plain objects with the same
// `inc` method. A measured actor run is an admin eval through the loop that
// makes --rounds calls per actor, --window of them in flight (each settled
// call starts the next, on the next actor), answered when the last settles:
// wall clock from submit to that answer. A plain run is an eval making the
// same calls on the plain objects in its one turn, less an empty eval's
// time. Every time is the median of --iterations runs.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bench/script_body.h"
#include "runtime/isolate/persistent_isolate.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/loop/turn_loop.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int, actors, 10000, "actors (and plain objects)");
ABSL_FLAG(int, rounds, 3, "calls per actor in each measured run");
ABSL_FLAG(int, window, 256, "actor calls in flight");
ABSL_FLAG(int, iterations, 3, "measured runs per row (the median is printed)");
ABSL_FLAG(std::string, dir, "/tmp", "where the temporary store is created");

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median ms of `iterations` Evaluate runs of `source`; -1 on an error.
double EvaluateMs(ken::Node& node, const std::string& source, int iterations, std::string* output) {
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    auto start = Clock::now();
    ken::TurnResult r = node.Evaluate(ken::bench::ScriptBody(source, "actors_bench"));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!r.ok()) {
      fprintf(stderr, "actors_bench: %s\n", r.error.c_str());
      return -1;
    }
    *output = r.output;
  }
  return Median(ms);
}

// Runs `source` as an admin eval through the loop's turns until its value
// (a promise, settled turns later) is answered; the wall-clock ms from
// submit to the answer (after the commit that settled it), or -1 on an
// error, with its output in *output.
double RunEval(ken::TurnLoop& loop, const std::string& source, std::string* output) {
  auto start = Clock::now();
  auto input = std::make_shared<ken::LoopInput>();
  input->record = ken::EvalRecord(source, loop.NewReplyId());
  bool answered = false;
  ken::TurnResult result;
  input->done = [&](const ken::TurnResult& r) {
    answered = true;
    result = r;
  };
  loop.Submit(input);
  while (!answered) {
    loop.Step(50);
    if (std::chrono::duration<double>(Clock::now() - start).count() > 600) {
      fprintf(stderr, "actors_bench: no answer in 600 s\n");
      return -1;
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (!result.ok()) {
    fprintf(stderr, "actors_bench: %s\n", result.error.c_str());
    return -1;
  }
  ken::v1::TurnOutput out;  // an eval's output is a TurnOutput (its value as JSON)
  if (!out.ParseFromString(result.output)) {
    fprintf(stderr, "actors_bench: an eval's output is not a TurnOutput\n");
    return -1;
  }
  *output = out.value();
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  ken::InitializeV8(ken::V8Config{});
  const int actors = absl::GetFlag(FLAGS_actors), rounds = absl::GetFlag(FLAGS_rounds);
  const int iterations = std::max(1, absl::GetFlag(FLAGS_iterations));
  const int window = std::max(1, absl::GetFlag(FLAGS_window));
  std::string dir = absl::GetFlag(FLAGS_dir) + "/ken_actors_bench.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    perror("mkdtemp");
    return 1;
  }
  int code = 0;
  {
    ken::NodeOptions options;
    options.store_path = dir + "/bench.ken";
    options.durability = "journal";
    options.isolate.turn_timeout_ms = 600000;
    absl::StatusOr<std::unique_ptr<ken::Node>> node = ken::Node::Open(std::move(options));
    if (!node.ok()) {
      fprintf(stderr, "actors_bench: %s\n", std::string(node.status().message()).c_str());
      return 1;
    }
    ken::TurnLoop loop(**node, ken::TurnLoopOptions{});
    const std::string setup = absl::StrCat("var N = ", actors, ", R = ", rounds, ", W = ", window, R"js(;
ken.actor('Counter', { state() { return { n: 0 }; }, inc() { return ++this.n; } });
function Plain() { this.n = 0; }
Plain.prototype.inc = function () { return ++this.n; };
var plain = [], refs = [], done = 0;
// Makes R * N calls (N after the first), W in flight: each settled call
// starts the next, on the next actor. A promise of the count settled.
function calls(total) {
  var next = 0;
  done = 0;
  return new Promise(function (resolve) {
    function more() {
      if (next < total) refs[next++ % N].call('inc').then(function () { if (++done === total) resolve(done); more(); });
    }
    for (var w = 0; w < W; w++) more();
  });
}
for (var i = 0; i < N; i++) {
  plain.push(new Plain());
  refs.push(ken.ref('Counter', i).withTimeout(Infinity));
}
calls(N))js");
    std::string out;
    if (RunEval(loop, setup, &out) < 0 || EvaluateMs(**node, "ken.actors('Counter').length", 1, &out) < 0 ||
        out != std::to_string(actors)) {
      fprintf(stderr, "actors_bench: the node hosts %s actors, not %d\n", out.c_str(), actors);
      return 1;
    }
    std::vector<double> actor_runs, plain_runs, empty_runs;
    for (int i = 0; i < iterations && code == 0; ++i) {
      // R * N calls, `window` in flight: each settled call starts the next,
      // on the next actor.
      std::string a, p, e;
      const double ms = RunEval(loop, "calls(R * N)", &a);
      const double plain = RunEval(loop, R"js(var s = 0;
for (var r = 0; r < R; r++) for (var i = 0; i < N; i++) s += plain[i].inc();
s > 0 ? R * N : -1)js", &p);
      const double empty = RunEval(loop, "R * N", &e);
      const std::string total = std::to_string(actors * rounds);
      if (ms < 0 || plain < 0 || empty < 0 || a != total || p != total || e != total) {
        fprintf(stderr, "actors_bench: a run answered %s, %s, %s, not %s\n", a.c_str(), p.c_str(), e.c_str(),
                total.c_str());
        code = 1;
      }
      actor_runs.push_back(ms);
      plain_runs.push_back(plain);
      empty_runs.push_back(empty);
    }
    // Every call ran exactly once: each counter is 1 + rounds * iterations.
    const std::string expect = std::to_string(1 + rounds * iterations);
    if (code == 0 && (EvaluateMs(**node, "ken.actors('Counter').every(function (a) { return a.state.n === " + expect +
                                             "; })", 1, &out) < 0 || out != "true")) {
      fprintf(stderr, "actors_bench: a counter is not %s\n", expect.c_str());
      code = 1;
    }
    if (code == 0) {
      const double calls = static_cast<double>(actors) * rounds;
      const double empty = Median(empty_runs);
      const double actor_work = Median(actor_runs), plain_work = std::max(0.001, Median(plain_runs) - empty);
      printf("actors_bench: %d local actors, %d calls per measured run (%d in flight), median of %d (journal mode; "
             "plain: an empty eval's %.1f ms subtracted)\n", actors, actors * rounds, window, iterations, empty);
      printf("%-36s %12s %12s\n", "", "ms", "calls/s");
      printf("%-36s %12.1f %12.0f\n", "ref.call (local actor, 2 turns each)", actor_work, calls / actor_work * 1000);
      printf("%-36s %12.1f %12.0f\n", "plain method call (in one turn)", plain_work, calls / plain_work * 1000);
      printf("ratio actor/plain calls/s: %.5fx\n", plain_work / actor_work);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return code;
}
