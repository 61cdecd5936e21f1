// A raw gRPC client attacks one node: wrong token, unknown sender, garbage
// payloads, seq 0, a huge envelope, a forged ack. Each is refused with a
// clear log line; the node keeps running and still delivers the real
// messages that follow, exactly once.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "proto/ken.grpc.pb.h"
#include "tests/util/cluster.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

constexpr char kReceiver[] = R"js(
var got = [];
ken.receive(function (value, from) { got.push([from, value]); });
)js";

// ValueSerializer bytes of the string "hi" (version 13 header, one-byte string).
const std::string kHi = std::string("\xFF\x0D\x22\x02hi", 6);

class BadInputTest : public ::testing::Test {
 protected:
  BadInputTest() : cluster_("cli/ken", {{"node", kReceiver}, {"peer", "// never started\n"}}) {}

  void SetUp() override {
    cluster_.Start("node");
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(cluster_.port("node")),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Transport::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
    // Wait until the node answers Status.
    for (int i = 0; i < 200; ++i) {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer test-token");
      v1::StatusReply reply;
      if (admin_->Status(&ctx, v1::StatusRequest(), &reply).ok()) {
        incarnation_ = reply.incarnation();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "node did not start: " << cluster_.Output("node");
  }

  grpc::Status Send(const v1::Batch& batch, v1::BatchReply* reply, const std::string& token = "test-token") {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return stub_->Deliver(&ctx, batch, reply);
  }

  v1::Batch Envelope(uint64_t seq, const std::string& payload, const std::string& src = "peer") {
    v1::Batch batch;
    batch.set_from(src);
    v1::Envelope* e = batch.add_envelopes();
    e->set_src(src);
    e->set_dst("node");
    e->set_seq(seq);
    e->set_payload(payload);
    e->set_src_incarnation("peer-incarnation-1");
    return batch;
  }

  bool WaitForLog(const std::string& needle) {
    for (int i = 0; i < 100; ++i) {
      int code;
      cluster_.Exited("node", &code);  // reads output
      if (cluster_.Output("node").find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  TestCluster cluster_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Transport::Stub> stub_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::string incarnation_;
};

TEST_F(BadInputTest, RejectsWithReasonAndKeepsDelivering) {
  v1::BatchReply reply;
  EXPECT_EQ(Send(Envelope(1, kHi), &reply, "wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Send(Envelope(1, kHi), &reply, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(WaitForLog("wrong or missing cluster token"));

  EXPECT_EQ(Send(Envelope(1, kHi, "mallory"), &reply).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(WaitForLog("'mallory' is not a node of this cluster"));

  ASSERT_TRUE(Send(Envelope(1, "garbage, not a V8 value"), &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);
  EXPECT_TRUE(WaitForLog("payload that is not a V8-serialized value"));

  ASSERT_TRUE(Send(Envelope(0, kHi), &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);
  EXPECT_TRUE(WaitForLog("has seq 0"));

  ASSERT_TRUE(Send(Envelope(1, std::string("\xFF\x0D", 2) + std::string(5 << 20, 'x')), &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);
  EXPECT_TRUE(WaitForLog("over max_message_bytes"));

  v1::Batch wrong_dst = Envelope(1, kHi);
  wrong_dst.mutable_envelopes(0)->set_dst("elsewhere");
  ASSERT_TRUE(Send(wrong_dst, &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);

  v1::Batch forged_ack;
  forged_ack.set_from("peer");
  v1::Ack* ack = forged_ack.add_acks();
  ack->set_src("node");
  ack->set_dst("peer");
  ack->set_acked_through(999);
  ack->set_src_incarnation("not-this-store");
  ASSERT_TRUE(Send(forged_ack, &reply).ok());
  EXPECT_TRUE(WaitForLog("is for store incarnation not-this-store"));

  // A well-formed header with a malformed body passes the transport and
  // fails in its delivery turn: a dead letter, the channel moves on.
  ASSERT_TRUE(Send(Envelope(1, std::string("\xFF\x0D\x22\x7F", 4)), &reply).ok());
  EXPECT_EQ(reply.accepted(), 1u);
  EXPECT_TRUE(WaitForLog("dead letter: message peer->node #1"));

  // Real messages still arrive, once each, in order, whatever the duplicates.
  // (#3 cannot be delivered before #2, so its second copy always finds it
  // buffered: a retransmission kept once, not counted as a duplicate.)
  ASSERT_TRUE(Send(Envelope(3, kHi), &reply).ok());  // buffered until #2
  ASSERT_TRUE(Send(Envelope(3, kHi), &reply).ok());  // already buffered
  EXPECT_EQ(reply.accepted(), 1u);
  ASSERT_TRUE(Send(Envelope(2, kHi), &reply).ok());
  std::string got;
  for (int i = 0; i < 100 && got != "[[\"peer\",\"hi\"],[\"peer\",\"hi\"]]"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = cluster_.Inspect("node", "got");
  }
  EXPECT_EQ(got, "[[\"peer\",\"hi\"],[\"peer\",\"hi\"]]");
  ASSERT_TRUE(Send(Envelope(2, kHi), &reply).ok());  // a late duplicate: dropped, acked again
  EXPECT_EQ(reply.accepted(), 1u);
  // A different incarnation of the same sender is refused, not mis-sequenced.
  v1::Batch reborn = Envelope(4, kHi);
  reborn.mutable_envelopes(0)->set_src_incarnation("peer-incarnation-2");
  ASSERT_TRUE(Send(reborn, &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);
  EXPECT_TRUE(WaitForLog("node 'peer' now has store incarnation peer-incarnation-2"));

  EXPECT_NE(reply.refused().find("now has store incarnation peer-incarnation-2"), std::string::npos)
      << reply.refused();

  auto status = [&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer test-token");
    v1::StatusReply s;
    EXPECT_TRUE(admin_->Status(&ctx, v1::StatusRequest(), &s).ok());
    return s;
  };
  v1::StatusReply before = status();
  EXPECT_EQ(before.node_id(), "node");
  EXPECT_EQ(before.dead_letters(), 1u);
  ASSERT_EQ(before.channels_size(), 1);
  EXPECT_EQ(before.channels(0).delivered_through(), 3u);
  EXPECT_EQ(before.channels(0).duplicates_dropped(), 1u);
  EXPECT_NE(before.channels(0).error(), "");

  int code;
  EXPECT_FALSE(cluster_.Exited("node", &code)) << cluster_.Output("node");
}

// A sender with the wrong token retries without end: the warning is one
// line per sender per minute (the count comes with the next line), not one
// per transmission.
TEST_F(BadInputTest, WrongTokenIsWarnedOncePerSenderPerMinute) {
  v1::BatchReply reply;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Send(Envelope(1, kHi), &reply, "wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  ASSERT_TRUE(WaitForLog("rejected a transmission from 'peer' at ipv4:127.0.0.1: wrong or missing cluster token (more "
                         "from it are counted and logged at most once a minute)"))
      << cluster_.Output("node");
  // A real transmission afterwards, so that every rejection was handled.
  ASSERT_TRUE(Send(Envelope(1, kHi), &reply).ok());
  const std::string out = cluster_.Output("node");
  size_t lines = 0;
  for (size_t at = out.find("wrong or missing cluster token"); at != std::string::npos;
       at = out.find("wrong or missing cluster token", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << out;
}

// An ack (for this node's own incarnation) for messages the node never sent
// can only mean that its store went back in time (restored from a copy): it
// takes a new incarnation, durably, so that every peer refuses its channels
// loudly, and reports the broken channel itself.
TEST_F(BadInputTest, AckBeyondWhatWasSentMeansTheStoreWentBack) {
  auto status = [&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer test-token");
    v1::StatusReply s;
    EXPECT_TRUE(admin_->Status(&ctx, v1::StatusRequest(), &s).ok());
    return s;
  };
  v1::StatusReply before = status();
  v1::Batch forged_ack;
  forged_ack.set_from("peer");
  v1::Ack* ack = forged_ack.add_acks();
  ack->set_src("node");
  ack->set_dst("peer");
  ack->set_acked_through(5);
  ack->set_src_incarnation(before.incarnation());
  v1::BatchReply reply;
  ASSERT_TRUE(Send(forged_ack, &reply).ok());
  EXPECT_TRUE(WaitForLog("has sent only up to #0: it went back in time"));
  EXPECT_TRUE(WaitForLog("takes the new incarnation"));
  v1::StatusReply after = status();
  EXPECT_NE(after.incarnation(), before.incarnation());
  ASSERT_EQ(after.channels_size(), 1);
  EXPECT_NE(after.channels(0).error().find("went back in time"), std::string::npos) << after.channels(0).error();
  // The peer is told on its next transmission.
  ASSERT_TRUE(Send(Envelope(1, kHi), &reply).ok());
  EXPECT_EQ(reply.rejected(), 1u);
  EXPECT_NE(reply.refused().find("went back in time"), std::string::npos) << reply.refused();
  EXPECT_EQ(reply.incarnation(), after.incarnation());
  int code;
  EXPECT_FALSE(cluster_.Exited("node", &code)) << cluster_.Output("node");
}

}  // namespace
}  // namespace ken
