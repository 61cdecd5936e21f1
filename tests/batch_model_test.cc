// A randomized model test of the batch/commit logic (runtime/node). The same
// random sequence of inputs — message deliveries, timer firings, HTTP
// requests, admin evals — runs on two nodes: the system under test groups
// them into random batches (group commit, re-runs, bisection), the model
// runs every input alone, one commit each. Each input runs a generated
// program that changes the heap, sends, sets and clears timers, and then
// finishes, throws, loops past the turn timeout, exhausts the heap, or
// leaves a heap too big to commit. After every batch both nodes must agree
// on the committed heap (a canonical dump of the program's state), the
// outbox, the dead letters and the timer table; and a failed turn must have
// left no trace at all. Generated programs use neither the clock nor
// Math.random. Seeded and replayable: KEN_MODEL_SEED=N runs one seed.
#include <cstdlib>
#include <random>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "tests/util/turns.h"
#include "gtest/gtest.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/node/node.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using namespace ::ken::testing;  // NOLINT: the turn-input helpers

enum class Kind { kDelivery, kTimer, kHttp, kEval };
enum class Fate { kOk, kThrow, kLoop, kHeap, kTooBig };

struct Step {
  Kind kind;
  Fate fate;
  std::string program;
  int64_t timer_id = 0;  // kTimer: the timer (made in the set-up turn) whose callback runs `program`
  uint64_t seq = 0;      // kDelivery: its sequence number on channel b->a
};

constexpr int64_t kMaxCheckpointBytes = 3 << 20;

// A program: some effects, then its fate.
std::string Program(std::mt19937& rng, int k, Fate fate) {
  std::string p;
  const int effects = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < effects; ++e) {
    switch (rng() % 5) {
      case 0:
      case 1:
        p += "S.log.push(" + std::to_string(k) + "); ";
        break;
      case 2:
        p += "ken.send('b', 'm" + std::to_string(k) + "-" + std::to_string(e) + "'); ";
        break;
      case 3:
        p += "S.timers.push(setTimeout(function () { S.log.push('never'); }, 1e9)); ";
        break;
      case 4:
        p += "if (S.timers.length) clearTimeout(S.timers.shift()); ";
        break;
    }
  }
  switch (fate) {
    case Fate::kOk:
      p += "S.done++;";
      break;
    case Fate::kThrow:
      p += "throw new Error('program " + std::to_string(k) + " throws');";
      break;
    case Fate::kLoop:
      p += "for (;;) {}";
      break;
    case Fate::kHeap:
      p += "var hog = []; for (;;) hog.push(new Array(100000).fill(" + std::to_string(k) + "));";
      break;
    case Fate::kTooBig:
      p += "S.big = new Uint8Array(" + std::to_string(kMaxCheckpointBytes + (1 << 20)) + ").fill(1);";
      break;
  }
  return p;
}

std::vector<Step> Plan(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<Step> steps;
  uint64_t seq = 0;
  int64_t timer = 0;
  for (int k = 0; k < n; ++k) {
    Step s;
    s.kind = static_cast<Kind>(rng() % 4);
    unsigned f = rng() % 100;
    s.fate = f < 70 ? Fate::kOk : f < 86 ? Fate::kThrow : f < 92 ? Fate::kTooBig : f < 97 ? Fate::kLoop : Fate::kHeap;
    s.program = Program(rng, k, s.fate);
    if (s.kind == Kind::kDelivery) s.seq = ++seq;
    if (s.kind == Kind::kTimer) s.timer_id = ++timer;  // set-up timers take ids 1, 2, ...
    steps.push_back(std::move(s));
  }
  return steps;
}

// A ValueSerializer payload holding a one-byte string (version 13 header).
std::string SerializedString(const std::string& s) {
  std::string out("\xFF\x0D\x22", 3);
  size_t n = s.size();
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
  return out + s;
}

TurnResult Run(Node& node, const std::string& source) {
  return node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, "dump").ToLocal(&value)) return absl::AbortedError("threw");
    return JsonOrInspect(scope, value);
  });
}

class ModelNode {
 public:
  explicit ModelNode(const std::string& path) {
    NodeOptions options;
    options.store_path = path;
    options.durability = ::ken::testing::DurabilityUnderTest();
    options.node_id = "a";
    options.peers = {"b"};
    options.max_checkpoint_bytes = kMaxCheckpointBytes;
    options.isolate.turn_timeout_ms = 150;
    auto opened = Node::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    node_ = std::move(*opened);
  }
  Node& node() { return *node_; }

  // The program's state, the timer table (ids), the outbox and the dead letters.
  std::string Dump() {
    std::string out = Run(*node_, "JSON.stringify(S)").output;
    TurnResult timers = node_->Evaluate(UpcomingTimersBody(100000));
    for (const auto& [id, due] : ParseUpcomingTimers(timers.output)) out += " t" + std::to_string(id);
    v1::NodeState state;
    node_->channels()->Snapshot(nullptr, &state);
    for (const auto& o : state.out()) {
      out += " next=" + std::to_string(o.next_seq());
      for (const auto& e : o.unacked()) out += " #" + std::to_string(e.seq()) + ":" + e.payload().substr(3);
    }
    for (const auto& i : state.in()) out += " delivered=" + std::to_string(i.delivered_through());
    out += " dead=" + std::to_string(node_->state().dead_letter_count());
    static const std::regex due(" due at [0-9]+");
    for (const auto& d : node_->state().dead_letters()) out += " [" + std::regex_replace(d.input(), due, "") + "]";
    return out;
  }

  // Due time of set-up timer `id` in this node (due times are wall-clock).
  int64_t DueOf(int64_t id) {
    if (dues_.empty()) {
      TurnResult timers = node_->Evaluate(UpcomingTimersBody(100000));
      for (const auto& [tid, due] : ParseUpcomingTimers(timers.output)) dues_.emplace_back(tid, due);
    }
    for (const auto& [tid, due] : dues_) {
      if (tid == id) return due;
    }
    return 0;
  }

  TurnInput Input(const Step& s) {
    switch (s.kind) {
      case Kind::kDelivery: {
        v1::Envelope e;
        e.set_src("b");
        e.set_dst("a");
        e.set_seq(s.seq);
        e.set_payload(SerializedString(s.program));
        return DeliveryInput(e);
      }
      case Kind::kTimer:
        return TimerInput(s.timer_id, DueOf(s.timer_id));
      case Kind::kHttp: {
        HttpRequest r;
        r.method = "POST";
        r.uri = r.path = "/run";
        r.body = s.program;
        return HttpInput(r);
      }
      case Kind::kEval:
        return EvalInput(s.program);
    }
    return EvalInput("");
  }

 private:
  std::unique_ptr<Node> node_;
  std::vector<std::pair<int64_t, int64_t>> dues_;
};

std::string SetUp(const std::vector<Step>& steps) {
  std::string js =
      "var S = { log: [], done: 0, timers: [] };\n"
      "var handleRequest = function (request, response) { (0, eval)(request.body); response.body = 'ok'; };\n"
      "ken.receive(function (code) { (0, eval)(code); });\n";
  // One timer per timer step, in step order (ids 1, 2, ...), whose callback
  // evaluates that step's program.
  for (const Step& s : steps) {
    if (s.kind != Kind::kTimer) continue;
    std::string quoted;
    for (char c : s.program) quoted += c == '\'' ? std::string("\\'") : std::string(1, c);
    js += "setTimeout(globalThis.eval, 1e9, '" + quoted + "');\n";
  }
  return js;
}

void CheckSeed(uint32_t seed, const std::string& dir) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: KEN_MODEL_SEED=" + std::to_string(seed) + ")");
  const std::vector<Step> steps = Plan(seed, 90);
  ModelNode sut(dir + "/sut-" + std::to_string(seed) + ".ken");
  ModelNode model(dir + "/model-" + std::to_string(seed) + ".ken");
  for (ModelNode* n : {&sut, &model}) {
    BatchResult r = n->node().RunBatch({ScriptInput("setup.js", SetUp(steps))});
    ASSERT_TRUE(r.results[0].ok()) << r.results[0].error;
  }
  ASSERT_EQ(sut.Dump(), model.Dump());
  std::mt19937 rng(seed * 7919u + 1);
  const TurnInput observe = UpcomingTimersInput(64);
  size_t i = 0;
  while (i < steps.size()) {
    const size_t n = std::min<size_t>(steps.size() - i, 1 + rng() % 8);
    std::vector<TurnInput> batch;
    for (size_t k = i; k < i + n; ++k) batch.push_back(sut.Input(steps[k]));
    BatchResult r = sut.node().RunBatch(batch, &observe);
    ASSERT_TRUE(r.commit.ok()) << r.commit;
    for (size_t k = i; k < i + n; ++k) {
      BatchResult alone = model.node().RunBatch({model.Input(steps[k])}, &observe);
      ASSERT_TRUE(alone.commit.ok()) << alone.commit;
      const TurnResult& got = r.results[k - i];
      const TurnResult& want = alone.results[0];
      // A heap hog ends by the heap limit or, on a loaded machine, by the
      // 150 ms turn timeout first: either way it aborts.
      auto same = [&](TurnStatus a, TurnStatus b) {
        auto aborted_hog = [](TurnStatus t) { return t == TurnStatus::kHeapLimit || t == TurnStatus::kTimedOut; };
        return a == b || (steps[k].fate == Fate::kHeap && aborted_hog(a) && aborted_hog(b));
      };
      EXPECT_TRUE(same(got.status, want.status)) << "step " << k << ": " << steps[k].program << "\n" << got.error
                                                 << " / " << want.error;
      // A program's fate decides its outcome.
      EXPECT_EQ(got.ok(), steps[k].fate == Fate::kOk) << "step " << k << ": " << steps[k].program << "\n"
                                                     << got.error;
      if (steps[k].kind == Kind::kHttp) {
        HttpResponse response = ToHttpResponse(got);
        EXPECT_EQ(response.status, steps[k].fate == Fate::kOk ? 200 : steps[k].fate == Fate::kThrow ||
                                                                         steps[k].fate == Fate::kTooBig
                                                                     ? 500
                                                                     : 503)
            << "step " << k;
      }
    }
    ASSERT_EQ(sut.Dump(), model.Dump()) << "after steps " << i << ".." << i + n - 1;
    i += n;
  }
  // Every successful program ran exactly once, no failed one left a trace.
  int ok = 0;
  for (const Step& s : steps) ok += s.fate == Fate::kOk;
  EXPECT_EQ(Run(sut.node(), "S.done").output, std::to_string(ok));
  EXPECT_EQ(Run(sut.node(), "S.log.indexOf('never') === -1 && S.big === undefined").output, "true");
}

TEST(BatchModelTest, RandomBatchesMatchOneTurnAtATime) {
  std::vector<uint32_t> seeds = {1, 2, 3};
  if (const char* s = getenv("KEN_MODEL_SEED")) seeds = {static_cast<uint32_t>(std::stoul(s))};
  const std::string dir = ::ken::testing::MakeTempDir();
  auto child = ::ken::testing::RunInChild([&] {
    V8Config v8;
    v8.heap_limit_mb = 64;
    InitializeV8(v8);
    for (uint32_t seed : seeds) CheckSeed(seed, dir);
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken
