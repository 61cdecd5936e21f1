// The turn loop's guarantees, in process: the output gate releases an
// answer only once the commit that holds its turn is durable (also when the
// commit fails: then the answer is an error); pipelining runs batch N+1 on
// N's heap but re-runs it on the durable heap when N's write fails; a reply
// completed by a later turn is released with that turn's commit; a reply
// its caller gave up on is dropped and counted; replies pending in a heap
// from before a restart are forgotten.
#include "runtime/loop/turn_loop.h"

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/isolate/v8_init.h"
#include "runtime/turn/dispatcher.h"
#include "store/checkpoint_store.h"
#include "store/journal.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunInChild;

std::unique_ptr<Node> Open(const std::string& path, std::function<absl::Status()> fault = nullptr) {
  NodeOptions options;
  options.store_path = path;
  options.durability = ::ken::testing::DurabilityUnderTest();
  options.before_store_commit = std::move(fault);
  auto node = Node::Open(options);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

// The newest commit as another process would read it from the files: the
// newest checkpoint, or in journal mode the journal's last record after it.
int64_t DurableSeq(const std::string& path) {
  auto store = CheckpointStore::Open(path, CheckpointStore::Mode::kReadOnly);
  if (!store.ok()) return -1;
  auto c = (*store)->LoadNewest();
  if (!c.ok()) return -1;
  std::optional<std::string> id = (*store)->GetMeta("journal_id");
  if (!id || (*store)->GetMeta("durability").value_or("") != "journal") return c->seq;
  JournalOptions jo;
  jo.read_only = true;
  auto journal = Journal::Open(path, *id, jo);
  if (!journal.ok()) return -1;
  auto records = (*journal)->RecordsAfter(c->seq);
  if (!records.ok()) return -1;
  return records->empty() ? c->seq : records->back().seq;
}

std::string Value(Node& node, const std::string& expr) {
  TurnResult r = node.Evaluate(InspectBody(expr));
  return r.ok() ? r.output : r.error;
}

std::shared_ptr<LoopInput> Eval(const std::string& source, uint64_t reply_id, TurnResult* result, bool* done) {
  auto input = std::make_shared<LoopInput>();
  input->record = EvalRecord(source, reply_id);
  input->done = [result, done](const TurnResult& r) {
    *result = r;
    *done = true;
  };
  return input;
}

void RunUntil(TurnLoop& loop, const bool& done, int max_steps = 200) {
  for (int i = 0; i < max_steps && !done; ++i) loop.Step(20);
}

TEST(TurnLoopTest, AnswersAreReleasedOnlyOnceTheirCommitIsDurable) {
  const std::string path = ::ken::testing::MakeTempDir() + "/gate.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    bool fail = false;
    auto node = Open(path, [&]() -> absl::Status {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a slow fsync
      return fail ? absl::ResourceExhaustedError("injected: disk full") : absl::OkStatus();
    });
    ASSERT_NE(node, nullptr);
    TurnLoop loop(*node, {});
    const int64_t before = DurableSeq(path);
    TurnResult result;
    bool done = false;
    int64_t seen_at_release = -2;
    auto input = Eval("var x = 41; x + 1", loop.NewReplyId(), &result, &done);
    input->done = [&](const TurnResult& r) {
      seen_at_release = DurableSeq(path);  // what the file holds when the answer goes out
      result = r;
      done = true;
    };
    ASSERT_TRUE(loop.Submit(input));
    RunUntil(loop, done);
    ASSERT_TRUE(done);
    EXPECT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(DecodeOutput(result).value(), "42");
    EXPECT_GT(seen_at_release, before);  // durable before the answer was released
    // A commit that fails: the answer is an error, and nothing took effect.
    fail = true;
    done = false;
    ASSERT_TRUE(loop.Submit(Eval("x = 1000", loop.NewReplyId(), &result, &done)));
    RunUntil(loop, done);
    ASSERT_TRUE(done);
    EXPECT_EQ(result.status, TurnStatus::kCommitFailed) << result.error;
    EXPECT_NE(result.error.find("disk full"), std::string::npos) << result.error;
    fail = false;
    EXPECT_EQ(Value(*node, "x"), "41");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// Batch N+1 runs on N's heap while N's write is in flight; when N's write
// fails, N+1 is run again on the last durable heap.
TEST(TurnLoopTest, PipelinedBatchIsRunAgainWhenThePreviousCommitFails) {
  const std::string path = ::ken::testing::MakeTempDir() + "/pipe.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    int writes = 0;
    int fail_write = -1;
    auto node = Open(path, [&]() -> absl::Status {
      const int n = ++writes;
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      return n == fail_write ? absl::UnavailableError("injected: I/O error") : absl::OkStatus();
    });
    ASSERT_NE(node, nullptr);
    auto js = [](const std::string& source) {
      TurnInput input = MakeTurn(EvalRecord(source, 0));
      return input;
    };
    ASSERT_TRUE(node->RunBatch({js("var x = 0; var runs = []")}).results[0].ok());
    fail_write = writes + 1;
    BatchResult first, second;
    bool first_done = false, second_done = false;
    node->RunBatchAsync({js("x = 1; runs.push('first')")}, nullptr, [&](BatchResult r) {
      first = std::move(r);
      first_done = true;
    });
    EXPECT_TRUE(node->writing());  // returned with the write in flight
    EXPECT_FALSE(first_done);
    node->RunBatchAsync({js("x = x + 10; runs.push('second saw ' + x); x")}, nullptr, [&](BatchResult r) {
      second = std::move(r);
      second_done = true;
    });
    node->Flush();
    ASSERT_TRUE(first_done && second_done);
    EXPECT_EQ(first.results[0].status, TurnStatus::kCommitFailed) << first.results[0].error;
    ASSERT_TRUE(second.results[0].ok()) << second.results[0].error;
    // Run again on the durable heap (x = 0), not on the failed one (x = 1).
    EXPECT_EQ(DecodeOutput(second.results[0]).value(), "10");
    EXPECT_EQ(Value(*node, "x"), "10");
    EXPECT_EQ(Value(*node, "runs.join()"), "\"second saw 10\"");
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// An HTTP handler whose promise waits for a later turn (here an eval that
// resolves it) is answered by that turn, after its commit; a reply given up
// on is dropped (and counted) when it settles later.
TEST(TurnLoopTest, RepliesCompletedByLaterTurnsAndAbandonedOnes) {
  const std::string path = ::ken::testing::MakeTempDir() + "/later.ken";
  auto child = RunInChild([&] {
    InitializeV8({});
    auto node = Open(path);
    ASSERT_NE(node, nullptr);
    ASSERT_TRUE(node->RunBatch({MakeTurn(ProgramRecord("app.js", R"js(
      var served = 0;
      var gates = [];
      var handleRequest = async function (request, response) {
        await new Promise(function (resolve) { gates.push(resolve); });
        served++;
        response.body = 'later ' + served;
      };
    )js"))}).results[0].ok());
    TurnLoop loop(*node, {});
    v1::HttpRequest request;
    request.set_method("GET");
    request.set_uri("/x");
    request.set_path("/x");
    TurnResult result;
    bool done = false;
    auto input = std::make_shared<LoopInput>();
    input->record = HttpRecord(request, loop.NewReplyId());
    int64_t seq_at_request_commit = -1;
    input->done = [&](const TurnResult& r) {
      result = r;
      done = true;
    };
    ASSERT_TRUE(loop.Submit(input));
    // The request's own turn commits with the reply pending: nothing released.
    for (int i = 0; i < 3 && !done; ++i) loop.Step(0);
    loop.Drain();
    seq_at_request_commit = node->checkpoint_seq();
    EXPECT_FALSE(done);
    TurnResult released;
    bool released_done = false;
    ASSERT_TRUE(loop.Submit(Eval("gates.shift()(); 'released'", loop.NewReplyId(), &released, &released_done)));
    RunUntil(loop, done);
    ASSERT_TRUE(done);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_GT(node->checkpoint_seq(), seq_at_request_commit);  // released by a later commit
    v1::HttpResponse response = HttpResponseFor(result);
    EXPECT_EQ(response.status(), 200);
    EXPECT_EQ(response.body(), "later 1");
    // Given up on before it settles: dropped and counted, and forgotten.
    done = false;
    auto second = std::make_shared<LoopInput>();
    second->record = HttpRecord(request, loop.NewReplyId());
    second->done = [&](const TurnResult&) { done = true; };
    ASSERT_TRUE(loop.Submit(second));
    for (int i = 0; i < 3; ++i) loop.Step(0);
    loop.Drain();
    loop.Abandon(second->record.reply_id());
    released_done = false;
    ASSERT_TRUE(loop.Submit(Eval("gates.shift()(); 'released'", loop.NewReplyId(), &released, &released_done)));
    RunUntil(loop, released_done);
    for (int i = 0; i < 5; ++i) loop.Step(10);
    loop.Drain();
    EXPECT_FALSE(done);
    EXPECT_EQ(Value(*node, "served"), "2");  // the handler itself ran to its end
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

// Replies pending in the heap when the node stopped are forgotten at the
// first batch after a restart: nobody waits for them any more.
TEST(TurnLoopTest, RepliesPendingBeforeARestartAreForgotten) {
  const std::string path = ::ken::testing::MakeTempDir() + "/restart.ken";
  auto count_pending = [](Node& node) {
    int n = -1;
    (void)node.Evaluate([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
      v8::Local<v8::Value> fn;
      if (scope.internals->Get(scope.context, V8String(scope.isolate, "pendingReplies")).ToLocal(&fn) &&
          fn->IsFunction()) {
        v8::Local<v8::Value> v;
        if (fn.As<v8::Function>()->Call(scope.context, v8::Undefined(scope.isolate), 0, nullptr).ToLocal(&v)) {
          n = static_cast<int>(v->IntegerValue(scope.context).FromMaybe(-1));
        }
      }
      return std::string();
    });
    return n;
  };
  auto first = RunInChild([&] {
    InitializeV8({});
    auto node = Open(path);
    ASSERT_NE(node, nullptr);
    TurnLoop loop(*node, {});
    TurnResult result;
    bool done = false;
    ASSERT_TRUE(loop.Submit(Eval("new Promise(function () {})", loop.NewReplyId(), &result, &done)));
    for (int i = 0; i < 5; ++i) loop.Step(0);
    loop.Drain();
    EXPECT_FALSE(done);
    EXPECT_EQ(count_pending(*node), 1);
  });
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = RunInChild([&] {
    InitializeV8({});
    auto node = Open(path);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(count_pending(*node), 1);
    TurnLoop loop(*node, {});
    TurnResult result;
    bool done = false;
    ASSERT_TRUE(loop.Submit(Eval("1 + 1", loop.NewReplyId(), &result, &done)));
    RunUntil(loop, done);
    EXPECT_EQ(DecodeOutput(result).value(), "2");
    EXPECT_EQ(count_pending(*node), 0);
  });
  ASSERT_EQ(second.exit_code, 0) << second.output;
}

}  // namespace
}  // namespace ken
