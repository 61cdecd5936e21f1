#include "messaging/channels.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ken {
namespace {

class ChannelsTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  ChannelOptions options_;
  std::unique_ptr<Channels> a_ = Make("a", "inc-a");
  std::unique_ptr<Channels> b_ = Make("b", "inc-b");

  std::unique_ptr<Channels> Make(const std::string& self, const std::string& inc) {
    std::vector<std::string> peers = self == "a" ? std::vector<std::string>{"b"} : std::vector<std::string>{"a"};
    return std::make_unique<Channels>(self, inc, peers, &clock_, options_);
  }

  // a sends `n` messages in one committed batch.
  void SendFromA(int n) {
    ChannelBatch batch = a_->BeginBatch();
    std::string error;
    for (int i = 0; i < n; ++i) ASSERT_TRUE(a_->Stage(batch, "b", "m", &error)) << error;
    a_->CommitBatch(batch);
  }

  // Moves what a has due into b; returns how many envelopes b queued.
  int Transmit(Channels& from, Channels& to) {
    v1::Batch batch = from.TakeDue(to.self());
    int queued = 0;
    for (const v1::Envelope& e : batch.envelopes()) {
      std::string reason;
      if (to.Receive(e, &reason) == Channels::Verdict::kQueued) ++queued;
    }
    for (const v1::Ack& ack : batch.acks()) {
      std::string reason;
      to.OnAck(ack, &reason);
    }
    return queued;
  }

  // b delivers everything deliverable in one committed batch.
  std::vector<uint64_t> DeliverAtB() {
    ChannelBatch batch = b_->BeginBatch();
    std::vector<uint64_t> seqs;
    for (const v1::Envelope& e : b_->TakeDeliverable(1000)) {
      seqs.push_back(e.seq());
      b_->MarkDelivered(batch, e.src(), e.seq());
    }
    b_->CommitBatch(batch);
    return seqs;
  }
};

TEST_F(ChannelsTest, SendsAreReleasedOnlyAfterCommit) {
  ChannelBatch batch = a_->BeginBatch();
  std::string error;
  EXPECT_EQ(a_->Stage(batch, "b", "one", &error), 1u);
  EXPECT_EQ(a_->Stage(batch, "b", "two", &error), 2u);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 0);  // not committed yet
  v1::NodeState state;
  a_->Snapshot(&batch, &state);
  ASSERT_EQ(state.out(0).unacked_size(), 2);  // the commit carries them
  EXPECT_EQ(state.out(0).next_seq(), 3u);
  a_->CommitBatch(batch);
  v1::Batch sent = a_->TakeDue("b");
  ASSERT_EQ(sent.envelopes_size(), 2);
  EXPECT_EQ(sent.envelopes(0).seq(), 1u);
  EXPECT_EQ(sent.envelopes(1).payload(), "two");
  EXPECT_EQ(sent.envelopes(0).src_incarnation(), "inc-a");
}

TEST_F(ChannelsTest, StageErrors) {
  ChannelBatch batch = a_->BeginBatch();
  std::string error;
  EXPECT_FALSE(a_->Stage(batch, "nobody", "x", &error));
  EXPECT_EQ(error, "ken.send: unknown destination 'nobody'");
  EXPECT_FALSE(a_->Stage(batch, "b", std::string(options_.max_message_bytes + 1, 'x'), &error));
  EXPECT_NE(error.find("exceeds max_message_bytes"), std::string::npos);
  EXPECT_FALSE(a_->Stage(batch, "a", "x", &error));
}

TEST_F(ChannelsTest, RetransmitsWithCappedExponentialBackoff) {
  SendFromA(1);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 1);
  std::vector<int64_t> gaps;
  int64_t last = clock_.NowMs();
  for (int i = 0; i < 6; ++i) {
    int64_t due = a_->NextDueMs("b");
    EXPECT_EQ(a_->TakeDue("b").envelopes_size(), due <= clock_.NowMs() ? 1 : 0);
    clock_.Advance(due - clock_.NowMs());
    EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 1);
    gaps.push_back(clock_.NowMs() - last);
    last = clock_.NowMs();
  }
  EXPECT_EQ(gaps, (std::vector<int64_t>{200, 400, 800, 1600, 2000, 2000}));
  EXPECT_EQ(a_->Status()[0].retransmits(), 6u);
}

TEST_F(ChannelsTest, ReconnectMakesWholeOutboxDue) {
  SendFromA(3);
  a_->TakeDue("b");
  a_->OnSendFailed("b");
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 0);
  a_->OnSendOk("b");
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 3);
}

TEST_F(ChannelsTest, ReceiverBuffersGapsAndDeliversInOrder) {
  SendFromA(3);
  v1::Batch batch = a_->TakeDue("b");
  std::string reason;
  EXPECT_EQ(b_->Receive(batch.envelopes(2), &reason), Channels::Verdict::kQueued);
  EXPECT_EQ(b_->Receive(batch.envelopes(1), &reason), Channels::Verdict::kQueued);
  EXPECT_TRUE(b_->TakeDeliverable(10).empty());  // #1 missing
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kQueued);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(ChannelsTest, AckOnlyAfterCommitAndDuplicatesAreAckedAgain) {
  SendFromA(2);
  Transmit(*a_, *b_);
  ChannelBatch batch = b_->BeginBatch();
  for (const v1::Envelope& e : b_->TakeDeliverable(10)) b_->MarkDelivered(batch, e.src(), e.seq());
  EXPECT_EQ(b_->TakeDue("a").acks_size(), 0);  // delivering batch not durable yet
  b_->CommitBatch(batch);
  v1::Batch acks = b_->TakeDue("a");
  ASSERT_EQ(acks.acks_size(), 1);
  EXPECT_EQ(acks.acks(0).acked_through(), 2u);
  EXPECT_EQ(b_->TakeDue("a").acks_size(), 0);
  // The ack is lost; a retransmits; b drops the duplicates and acks again.
  clock_.Advance(10000);
  EXPECT_EQ(Transmit(*a_, *b_), 0);
  EXPECT_EQ(b_->Status()[0].duplicates_dropped(), 2u);
  EXPECT_EQ(Transmit(*b_, *a_), 0);
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  EXPECT_EQ(a_->Status()[0].acked_through(), 2u);
}

TEST_F(ChannelsTest, AbortedBatchReleasesTakenEnvelopes) {
  SendFromA(2);
  Transmit(*a_, *b_);
  ChannelBatch batch = b_->BeginBatch();
  EXPECT_EQ(b_->TakeDeliverable(10).size(), 2u);
  EXPECT_TRUE(b_->TakeDeliverable(10).empty());
  b_->AbortBatch(batch);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2}));
}

TEST_F(ChannelsTest, RejectsMalformedEnvelopes) {
  std::string reason;
  v1::Envelope e;
  e.set_src("a");
  e.set_dst("b");
  e.set_seq(0);
  EXPECT_EQ(b_->Receive(e, &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("seq 0"), std::string::npos);
  e.set_seq(1);
  e.set_src("mallory");
  EXPECT_EQ(b_->Receive(e, &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("unknown node 'mallory'"), std::string::npos);
  e.set_src("a");
  e.set_dst("c");
  EXPECT_EQ(b_->Receive(e, &reason), Channels::Verdict::kRejected);
  e.set_dst("b");
  e.set_payload(std::string(options_.max_message_bytes + 1, 'x'));
  EXPECT_EQ(b_->Receive(e, &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("over max_message_bytes"), std::string::npos);
}

TEST_F(ChannelsTest, RecreatedSenderStoreIsDetected) {
  SendFromA(1);
  Transmit(*a_, *b_);
  DeliverAtB();
  a_ = Make("a", "inc-a2");  // a's store deleted and re-created: seqs restart at 1
  SendFromA(1);
  v1::Batch batch = a_->TakeDue("b");
  std::string reason;
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("node 'a' now has store incarnation inc-a2"), std::string::npos) << reason;
  EXPECT_NE(b_->Status()[0].error(), "");
}

TEST_F(ChannelsTest, RecreatedReceiverStoreIsDetected) {
  SendFromA(1);
  Transmit(*a_, *b_);
  DeliverAtB();
  Transmit(*b_, *a_);  // a learns b's incarnation from the ack
  b_ = Make("b", "inc-b2");
  SendFromA(1);
  v1::Batch batch = a_->TakeDue("b");
  std::string reason;
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("this node's store was re-created"), std::string::npos) << reason;
  // An ack from the new incarnation breaks a's channel: no more sends.
  v1::Ack ack;
  ack.set_src("a");
  ack.set_dst("b");
  ack.set_acked_through(0);
  ack.set_src_incarnation("inc-a");
  ack.set_dst_incarnation("inc-b2");
  EXPECT_FALSE(a_->OnAck(ack, &reason));
  ChannelBatch next = a_->BeginBatch();
  EXPECT_FALSE(a_->Stage(next, "b", "x", &reason));
  EXPECT_NE(reason.find("is broken"), std::string::npos);
}

TEST_F(ChannelsTest, RestoreResendsOutboxAndReacks) {
  SendFromA(2);
  v1::NodeState state;
  a_->Snapshot(nullptr, &state);
  a_ = Make("a", "inc-a");
  a_->Restore(state);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 2);
  ChannelBatch next = a_->BeginBatch();
  std::string error;
  EXPECT_EQ(a_->Stage(next, "b", "x", &error), 3u);
}

// Random loss, duplication, reordering and crashes of either side (each
// restarting from its last committed snapshot): b still delivers 1..N
// exactly once, in order.
TEST_F(ChannelsTest, ExactlyOnceUnderLossDuplicationAndCrashes) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    a_ = Make("a", "inc-a");
    b_ = Make("b", "inc-b");
    v1::NodeState a_durable, b_durable;
    const uint64_t kMessages = 300;
    uint64_t staged = 0;
    std::vector<uint64_t> delivered;  // b's committed deliveries
    std::vector<v1::Batch> wire;      // in flight, either direction
    for (int step = 0; step < 20000 && delivered.size() < kMessages; ++step) {
      clock_.Advance(rng() % 50);
      switch (rng() % 6) {
        case 0: {  // a runs a batch of turns sending a few messages
          ChannelBatch batch = a_->BeginBatch();
          std::string error;
          for (int i = rng() % 4; i > 0 && staged < kMessages; --i, ++staged) {
            ASSERT_TRUE(a_->Stage(batch, "b", std::to_string(staged + 1), &error));
          }
          a_->Snapshot(&batch, &a_durable);
          a_->CommitBatch(batch);
          break;
        }
        case 1:
          wire.push_back(a_->TakeDue("b"));
          break;
        case 2:
          wire.push_back(b_->TakeDue("a"));
          break;
        case 3: {  // the network delivers, drops or duplicates a random batch
          if (wire.empty()) break;
          size_t i = rng() % wire.size();
          v1::Batch batch = wire[i];
          if (rng() % 4 != 0) wire.erase(wire.begin() + i);  // else: duplicate later
          if (rng() % 5 == 0) break;                         // lost
          Channels& to = batch.from() == "a" ? *b_ : *a_;
          std::string reason;
          for (const v1::Envelope& e : batch.envelopes()) to.Receive(e, &reason);
          for (const v1::Ack& ack : batch.acks()) to.OnAck(ack, &reason);
          break;
        }
        case 4: {  // b delivers what it can, as one committed batch
          ChannelBatch batch = b_->BeginBatch();
          std::vector<uint64_t> seqs;
          for (const v1::Envelope& e : b_->TakeDeliverable(1 + rng() % 8)) {
            ASSERT_EQ(e.payload(), std::to_string(e.seq()));
            seqs.push_back(e.seq());
            b_->MarkDelivered(batch, e.src(), e.seq());
          }
          if (rng() % 10 == 0) {  // crash before the commit is durable
            b_ = Make("b", "inc-b");
            b_->Restore(b_durable);
            break;
          }
          b_->Snapshot(&batch, &b_durable);
          b_->CommitBatch(batch);
          delivered.insert(delivered.end(), seqs.begin(), seqs.end());
          break;
        }
        case 5:  // a crashes and restarts from its last commit
          if (rng() % 5 == 0) {
            a_ = Make("a", "inc-a");
            a_->Restore(a_durable);
            staged = a_durable.out_size() > 0 ? a_durable.out(0).next_seq() - 1 : 0;
          }
          break;
      }
    }
    ASSERT_EQ(delivered.size(), kMessages) << "seed " << seed;
    for (uint64_t i = 0; i < kMessages; ++i) ASSERT_EQ(delivered[i], i + 1) << "seed " << seed;
  }
}

}  // namespace
}  // namespace ken
