// Turn inputs are data: every kind round-trips through its proto, keeps its
// record (and, for a dead letter, the record is what is kept), and the one
// dispatcher turns each kind into the right JS call.
#include "runtime/turn/dispatcher.h"
#include "runtime/node/node.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "js_api/natives.h"
#include "runtime/isolate/v8_init.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

v1::TurnInput RoundTrip(const v1::TurnInput& record) {
  v1::TurnInput copy;
  EXPECT_TRUE(copy.ParseFromString(record.SerializeAsString()));
  EXPECT_EQ(copy.SerializeAsString(), record.SerializeAsString());
  return copy;
}

v1::Envelope MessageFrom(const std::string& src, uint64_t seq, const std::string& text) {
  v1::Envelope e;
  e.set_src(src);
  e.set_dst("a");
  e.set_seq(seq);
  // ValueSerializer bytes of a one-byte string (version 13 header).
  std::string payload("\xFF\x0D\x22", 3);
  payload.push_back(static_cast<char>(text.size()));
  e.set_payload(payload + text);
  return e;
}

TEST(DispatcherTest, RecordsRoundTripAndDescribeThemselves) {
  v1::HttpRequest request;
  request.set_method("POST");
  request.set_uri("/p?q=1");
  EXPECT_EQ(Describe(RoundTrip(HttpRecord(request, 7))), "http POST /p?q=1");
  EXPECT_EQ(RoundTrip(HttpRecord(request, 7)).reply_id(), 7u);
  EXPECT_EQ(Describe(RoundTrip(DeliveryRecord(MessageFrom("b", 3, "x")))), "message b->a #3");
  EXPECT_EQ(Describe(RoundTrip(TimerRecord(4, 1700000000000))), "timer #4 due at 1700000000000");
  EXPECT_EQ(Describe(RoundTrip(ShellRecord("1", "REPL1"))), "shell input");
  EXPECT_EQ(Describe(RoundTrip(EvalRecord("1", 0))), "admin eval");
  EXPECT_EQ(Describe(RoundTrip(ProgramRecord("/srv/app.js", "1"))), "script /srv/app.js");
  // A relative path is made absolute (require resolves from its folder).
  EXPECT_EQ(RoundTrip(ProgramRecord("app/./x.js", "1")).program().path(),
            (std::filesystem::current_path() / "app/x.js").string());
  // Dead-letter policy by kind: messages and timers are kept, the rest answer their caller.
  EXPECT_TRUE(MakeTurn(DeliveryRecord(MessageFrom("b", 1, "x"))).dead_letter);
  EXPECT_TRUE(MakeTurn(TimerRecord(1, 1)).dead_letter);
  EXPECT_FALSE(MakeTurn(HttpRecord(request, 0)).dead_letter);
  EXPECT_FALSE(MakeTurn(EvalRecord("1", 0)).dead_letter);
  EXPECT_FALSE(MakeTurn(ShellRecord("1", "REPL1")).dead_letter);
  TurnInput timer = MakeTurn(TimerRecord(1, 1));
  EXPECT_TRUE(static_cast<bool>(timer.on_failure));
  EXPECT_EQ(timer.record.timer().id(), 1);
  // A timer's fallback learns why its callback failed (an internal timer
  // rejects a local actor call's caller with it), from its record.
  ASSERT_TRUE(static_cast<bool>(timer.with_failure));
  TurnInput timer_failed = timer.with_failure("Uncaught RangeError: no");
  EXPECT_EQ(RoundTrip(timer_failed.record).timer().failure(), "Uncaught RangeError: no");
  EXPECT_EQ(timer_failed.record.timer().id(), 1);
  EXPECT_TRUE(static_cast<bool>(timer_failed.on_failure));
  // A call (a framed message): its fallback sends the error reply, and the
  // fallback's record carries the error, so that a replay repeats it.
  v1::Envelope call = MessageFrom("b", 5, "x");
  call.set_payload(FrameHeader(MessageKind::kCall, 9) + call.payload());
  EXPECT_EQ(Describe(DeliveryRecord(call)), "call b->a #5");
  TurnInput called = MakeTurn(DeliveryRecord(call));
  EXPECT_TRUE(called.dead_letter);
  ASSERT_TRUE(static_cast<bool>(called.on_failure));
  ASSERT_TRUE(static_cast<bool>(called.with_failure));
  TurnInput failed = called.with_failure("Uncaught TypeError: no");
  EXPECT_EQ(failed.record.delivery().failure(), "Uncaught TypeError: no");
  EXPECT_TRUE(static_cast<bool>(failed.on_failure));
  EXPECT_EQ(RoundTrip(failed.record).delivery().failure(), "Uncaught TypeError: no");
  // A plain message has no fallback; a malformed frame is still described.
  EXPECT_FALSE(static_cast<bool>(MakeTurn(DeliveryRecord(MessageFrom("b", 1, "x"))).with_failure));
  v1::Envelope broken = MessageFrom("b", 6, "x");
  broken.set_payload(std::string("\xFF\x00K\x07", 4));
  EXPECT_EQ(Describe(DeliveryRecord(broken)), "message b->a #6");
  MessageFrame frame;
  EXPECT_FALSE(ParseMessageFrame(broken.payload(), &frame));
  EXPECT_TRUE(ParseMessageFrame(MessageFrom("b", 1, "x").payload(), &frame));
  EXPECT_EQ(frame.kind, MessageKind::kPlain);
}

TEST(DispatcherTest, EachKindRunsItsCall) {
  const std::string path = ::ken::testing::MakeTempDir() + "/d.ken";
  auto child = ::ken::testing::RunInChild([&] {
    InitializeV8({});
    NodeOptions options;
    options.store_path = path;
    options.node_id = "a";
    options.peers = {"b"};
    auto opened = Node::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    Node& node = **opened;
    auto run = [&](v1::TurnInput record) {
      BatchResult r = node.RunBatch({MakeTurn(std::move(record))});
      return r.results[0];
    };
    ASSERT_TRUE(run(ProgramRecord("app.js", R"js(
      var log = [];
      ken.receive(function (v, from) { log.push('message ' + v + ' from ' + from); });
      var handleRequest = function (request, response) {
        log.push('http ' + request.method + ' ' + request.path + ' ' + request.headers['x-a']);
        response.statusCode = 201;
        response.headers['X-Out'] = 'o';
        response.body = request.body.toUpperCase();
      };
      var tid = setTimeout(function (n) { log.push('timer ' + n); }, 1e9, 5);
    )js")).ok());
    EXPECT_TRUE(run(DeliveryRecord(MessageFrom("b", 1, "hi"))).ok());
    v1::HttpRequest request;
    request.set_method("PUT");
    request.set_uri("/r?z=1");
    request.set_path("/r");
    request.set_query("z=1");
    request.set_body("body");
    for (const char* v : {"1", "2"}) {
      v1::HttpHeader* h = request.add_headers();
      h->set_name("x-a");
      h->set_value(v);
    }
    TurnResult http = run(HttpRecord(request, 0));
    ASSERT_TRUE(http.ok()) << http.error;
    v1::HttpResponse response = HttpResponseFor(http);
    EXPECT_EQ(response.status(), 201);
    EXPECT_EQ(response.body(), "BODY");
    ASSERT_EQ(response.headers_size(), 1);
    EXPECT_EQ(response.headers(0).name(), "x-out");
    TurnResult observed = node.Evaluate(ObserveBody(10));
    v1::BatchObservation o;
    ASSERT_TRUE(o.ParseFromString(observed.output));
    ASSERT_EQ(o.upcoming_size(), 1);
    EXPECT_TRUE(run(TimerRecord(o.upcoming(0).id(), o.upcoming(0).due_ms())).ok());
    TurnResult shell = run(ShellRecord("log.length", "REPL1"));
    EXPECT_EQ(shell.output, "3");
    TurnResult eval = run(EvalRecord("log", 0));
    ASSERT_TRUE(eval.ok()) << eval.error;
    EXPECT_EQ(DecodeOutput(eval).value(),
              R"(["message hi from b","http PUT /r 1, 2","timer 5"])");
    v1::TurnInput upgrade;
    upgrade.mutable_upgrade()->set_path("v2.js");
    TurnResult unsupported = run(upgrade);
    EXPECT_FALSE(unsupported.ok());
    EXPECT_NE(unsupported.error.find("not supported"), std::string::npos) << unsupported.error;
    // A failed message keeps its record in the dead letter, to retry it.
    ASSERT_TRUE(run(ShellRecord("ken.receive(function () { throw new Error('no'); })", "REPL2")).ok());
    EXPECT_FALSE(run(DeliveryRecord(MessageFrom("b", 2, "again"))).ok());
    ASSERT_EQ(node.state().dead_letters_size(), 1);
    v1::TurnInput kept;
    ASSERT_TRUE(kept.ParseFromString(node.state().dead_letters(0).record()));
    EXPECT_EQ(kept.delivery().envelope().seq(), 2u);
    EXPECT_GT(kept.clock_ms(), 0);  // with the clock the turn saw
  });
  ASSERT_EQ(child.exit_code, 0) << child.output;
}

}  // namespace
}  // namespace ken
