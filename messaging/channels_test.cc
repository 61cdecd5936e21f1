#include "messaging/channels.h"

#include <algorithm>
#include <memory>
#include <optional>
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

  // `stamp`: the lineage stamp of this store open (each restart draws a new one).
  std::unique_ptr<Channels> Make(const std::string& self, const std::string& inc, uint64_t stamp = 1) {
    std::vector<std::string> peers = self == "a" ? std::vector<std::string>{"b"} : std::vector<std::string>{"a"};
    return std::make_unique<Channels>(self, inc, peers, &clock_, options_, stamp);
  }

  // A restart: a new Channels (new stamp) restored from `state`.
  std::unique_ptr<Channels> Restart(const std::string& self, const std::string& inc, uint64_t stamp,
                                    const v1::NodeState& state) {
    std::unique_ptr<Channels> c = Make(self, inc, stamp);
    c->Restore(state);
    return c;
  }

  static v1::NodeState SnapshotOf(const Channels& c) {
    v1::NodeState state;
    c.Snapshot(nullptr, &state, /*with_outbox=*/true);
    return state;
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
  a_->Snapshot(&batch, &state, /*with_outbox=*/true);
  ASSERT_EQ(state.out(0).unacked_size(), 2);  // the commit carries them
  EXPECT_EQ(state.out(0).next_seq(), 3u);
  a_->CommitBatch(batch);
  v1::Batch sent = a_->TakeDue("b");
  ASSERT_EQ(sent.envelopes_size(), 2);
  EXPECT_EQ(sent.envelopes(0).seq(), 1u);
  EXPECT_EQ(sent.envelopes(1).payload(), "two");
  EXPECT_EQ(sent.envelopes(0).src_incarnation(), "inc-a");
}

// b cannot dial a (a one-way fault): b's own transmissions, which carry its
// acks, never arrive. The replies to a's transmissions carry the ack
// instead, so a's outbox drains; a reply carries none when a's envelopes
// show it knows the ack already, or nothing is delivered yet.
TEST_F(ChannelsTest, AOneWayLinkDrainsThroughAcksInReplies) {
  SendFromA(3);
  auto transmit_and_reply = [&]() {
    v1::Batch batch = a_->TakeDue("b");
    uint64_t knows = 0;
    std::string reason;
    for (const v1::Envelope& e : batch.envelopes()) {
      knows = std::max(knows, e.acked_through());
      b_->Receive(e, &reason);
    }
    v1::BatchReply reply;
    reply.set_incarnation(b_->incarnation());
    v1::Ack ack;
    if (b_->ReplyAck("a", knows, &ack)) *reply.add_acks() = ack;
    a_->OnReply("b", reply, batch.incarnation());
    return reply;
  };
  EXPECT_EQ(transmit_and_reply().acks_size(), 0);  // nothing delivered yet
  EXPECT_EQ(DeliverAtB().size(), 3u);
  EXPECT_EQ(b_->TakeDue("a").acks_size(), 1);  // b's own ack is due ...
  b_->OnSendFailed("a", "connection refused");  // ... and lost
  EXPECT_EQ(a_->Status()[0].unacked(), 3u);
  clock_.Advance(200);  // a retransmits; b drops the duplicates and acks in the reply
  v1::BatchReply reply = transmit_and_reply();
  ASSERT_EQ(reply.acks_size(), 1);
  EXPECT_EQ(reply.acks(0).acked_through(), 3u);
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  EXPECT_EQ(a_->Status()[0].acked_through(), 3u);
  SendFromA(1);  // a's next envelope says it has the ack: the reply repeats none
  EXPECT_EQ(transmit_and_reply().acks_size(), 0);
  // An ack in a reply from someone else's channel is refused.
  v1::BatchReply forged;
  forged.set_incarnation(b_->incarnation());
  v1::Ack* bad = forged.add_acks();
  bad->set_src("a");
  bad->set_dst("c");
  bad->set_acked_through(4);
  a_->OnReply("b", forged, a_->incarnation());
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);
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

TEST_F(ChannelsTest, AFailingPeerGetsOneEnvelopePerRetryThenTheWholeOutbox) {
  SendFromA(50);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 50);
  a_->OnSendFailed("b");
  // A 30 s partition: retries every 2 s (the sender's backoff cap) carry one envelope each.
  int sent = 0;
  for (int t = 0; t < 15; ++t) {
    clock_.Advance(2000);
    v1::Batch batch = a_->TakeDue("b");
    ASSERT_LE(batch.envelopes_size(), 1);
    if (batch.envelopes_size() == 1) {
      EXPECT_EQ(batch.envelopes(0).seq(), 1u);  // the oldest
    }
    sent += batch.envelopes_size();
    a_->OnSendFailed("b");
  }
  EXPECT_EQ(sent, 15);
  a_->OnSendOk("b");  // healed
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 50);
  // 50 payloads queued, 50 + 15 + 50 sent: (1 + 15/50 + 1) x the payload.
  EXPECT_EQ(a_->Status()[0].payload_bytes_committed(), 50u);
  EXPECT_EQ(a_->Status()[0].payload_bytes_sent(), 115u);
}

TEST_F(ChannelsTest, StatusTellsReachabilityAndTheOldestUnackedAge) {
  v1::ChannelStatus s = a_->Status()[0];
  EXPECT_FALSE(s.reachability_known());  // nothing tried yet
  EXPECT_EQ(s.oldest_unacked_age_ms(), 0);
  SendFromA(2);
  a_->TakeDue("b");
  clock_.Advance(1500);
  a_->OnSendFailed("b", "connection refused");
  clock_.Advance(700);
  a_->OnSendFailed("b", "deadline exceeded");  // still down: the age counts from the first failure
  clock_.Advance(300);
  s = a_->Status()[0];
  EXPECT_TRUE(s.reachability_known());
  EXPECT_FALSE(s.peer_reachable());
  EXPECT_EQ(s.reachability_age_ms(), 1000);
  EXPECT_EQ(s.oldest_unacked_age_ms(), 2500);
  EXPECT_EQ(s.last_send_error(), "deadline exceeded");
  EXPECT_EQ(s.payload_bytes_sent(), 2u);  // two 1-byte payloads, sent once
  a_->OnSendOk("b");
  clock_.Advance(400);
  EXPECT_EQ(Transmit(*a_, *b_), 2);  // the whole outbox again
  s = a_->Status()[0];
  EXPECT_TRUE(s.peer_reachable());
  EXPECT_EQ(s.reachability_age_ms(), 400);
  EXPECT_EQ(s.payload_bytes_sent(), 4u);
  // Acked: nothing waits, no age.
  DeliverAtB();
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  EXPECT_EQ(a_->Status()[0].oldest_unacked_age_ms(), 0);
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
  a_->Snapshot(nullptr, &state, /*with_outbox=*/true);
  a_ = Make("a", "inc-a");
  a_->Restore(state);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 2);
  ChannelBatch next = a_->BeginBatch();
  std::string error;
  EXPECT_EQ(a_->Stage(next, "b", "x", &error), 3u);
}

// Random loss, duplication, reordering and crashes of either side (each
// restarting from its last committed snapshot with a new lineage stamp, as a
// real store open does): b still delivers 1..N exactly once, in order, and
// no honest restart, reordered or duplicated batch, or stale ack ever looks
// like a store that went back in time. Transmissions go through the same
// steps as the transport (CheckBatch, Receive, OnAck, then OnReply at the
// sender); some seeds run with a tiny receive buffer and outbox cap so that
// deferral and back-pressure are exercised too.
TEST_F(ChannelsTest, ExactlyOnceUnderLossDuplicationAndCrashes) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::mt19937 rng(seed);
    options_ = ChannelOptions();
    if (seed % 2 == 0) options_.max_buffered_messages = 4;
    if (seed % 3 == 0) options_.max_unacked_messages = 8;
    uint64_t next_stamp = 1000 * seed;
    a_ = Make("a", "inc-a", ++next_stamp);
    b_ = Make("b", "inc-b", ++next_stamp);
    v1::NodeState a_durable, b_durable;
    const uint64_t kMessages = 300;
    uint64_t staged = 0;
    uint64_t deferred = 0, refused = 0;
    std::vector<uint64_t> delivered;  // b's committed deliveries
    std::vector<v1::Batch> wire;      // in flight, either direction
    for (int step = 0; step < 40000 && delivered.size() < kMessages; ++step) {
      clock_.Advance(rng() % 50);
      switch (rng() % 6) {
        case 0: {  // a runs a batch of turns sending a few messages
          ChannelBatch batch = a_->BeginBatch();
          std::string error;
          for (int i = rng() % 4; i > 0 && staged < kMessages; --i) {
            ChannelBatch::Mark mark = batch.MakeMark();
            std::optional<uint64_t> seq = a_->Stage(batch, "b", std::to_string(staged + 1), &error);
            if (!seq) {  // back-pressure: ken.send throws, the turn sends nothing more
              ASSERT_NE(error.find("max_unacked_messages"), std::string::npos) << error;
              ++refused;
              break;
            }
            ASSERT_EQ(*seq, staged + 1) << "seed " << seed;
            if (rng() % 7 == 0) {  // the turn aborts: its send vanishes
              batch.RollbackTo(mark);
              continue;
            }
            ++staged;
          }
          a_->Snapshot(&batch, &a_durable, /*with_outbox=*/true);
          a_->CommitBatch(batch);
          break;
        }
        case 1:
        case 2: {  // a sender thread takes what is due (like the transport, it skips empty batches)
          Channels& from = rng() % 2 == 0 ? *a_ : *b_;
          bool notice = false;
          v1::Batch batch = from.TakeDue(from.self() == "a" ? "b" : "a", nullptr, &notice);
          ASSERT_FALSE(notice) << "seed " << seed;
          if (batch.envelopes_size() > 0 || batch.acks_size() > 0) wire.push_back(std::move(batch));
          break;
        }
        case 3: {  // the network delivers, drops or duplicates a random batch
          if (wire.empty()) break;
          size_t i = rng() % wire.size();
          v1::Batch batch = wire[i];
          if (rng() % 4 != 0) wire.erase(wire.begin() + i);  // else: duplicate later
          if (rng() % 5 == 0) break;                         // lost
          Channels& to = batch.from() == "a" ? *b_ : *a_;
          Channels& from = batch.from() == "a" ? *a_ : *b_;
          std::string reason;
          bool went_back = false;
          ASSERT_TRUE(to.CheckBatch(batch, &reason)) << "seed " << seed << ": " << reason;
          for (const v1::Envelope& e : batch.envelopes()) {
            Channels::Verdict v = to.Receive(e, &reason, &went_back);
            ASSERT_NE(v, Channels::Verdict::kRejected) << "seed " << seed << ": " << reason;
            if (v == Channels::Verdict::kDeferred) ++deferred;
          }
          for (const v1::Ack& ack : batch.acks()) {
            ASSERT_TRUE(to.OnAck(ack, &reason)) << "seed " << seed << ": " << reason;
          }
          ASSERT_FALSE(went_back) << "seed " << seed;
          v1::BatchReply reply;
          reply.set_incarnation(to.incarnation());
          reply.set_refused(to.RefusalFor(batch.from()));
          reply.set_sender_went_back(went_back);
          uint64_t knows = 0;
          for (const v1::Envelope& e : batch.envelopes()) knows = std::max(knows, e.acked_through());
          v1::Ack reply_ack;
          if (to.ReplyAck(batch.from(), knows, &reply_ack)) *reply.add_acks() = reply_ack;
          if (rng() % 5 != 0) from.OnReply(to.self(), reply, batch.incarnation());  // else: the reply is lost
          ASSERT_EQ(a_->ReincarnationRequest(), "") << "seed " << seed;
          ASSERT_EQ(b_->ReincarnationRequest(), "") << "seed " << seed;
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
            b_ = Restart("b", "inc-b", ++next_stamp, b_durable);
            break;
          }
          b_->Snapshot(&batch, &b_durable, /*with_outbox=*/true);
          b_->CommitBatch(batch);
          delivered.insert(delivered.end(), seqs.begin(), seqs.end());
          break;
        }
        case 5:  // a crashes and restarts from its last commit
          if (rng() % 5 == 0) {
            a_ = Restart("a", "inc-a", ++next_stamp, a_durable);
            staged = a_durable.out_size() > 0 ? a_durable.out(0).next_seq() - 1 : 0;
          }
          break;
      }
    }
    ASSERT_EQ(delivered.size(), kMessages) << "seed " << seed << " a: " << a_->Status()[0].DebugString()
                                           << " b: " << b_->Status()[0].DebugString() << " staged " << staged;
    for (uint64_t i = 0; i < kMessages; ++i) ASSERT_EQ(delivered[i], i + 1) << "seed " << seed;
    EXPECT_EQ(a_->ReincarnationRequest(), "") << "seed " << seed;
    EXPECT_EQ(b_->ReincarnationRequest(), "") << "seed " << seed;
    EXPECT_EQ(a_->Status()[0].error(), "") << "seed " << seed;
    EXPECT_EQ(b_->Status()[0].error(), "") << "seed " << seed;
    if (seed % 2 == 0) {
      EXPECT_GT(deferred, 0u) << "seed " << seed << ": the small buffer never filled";
    }
    if (seed % 3 == 0) {
      EXPECT_GT(refused, 0u) << "seed " << seed << ": the outbox cap was never reached";
    }
  }
}

// ---------------------------------------------------------------------------
// Aborted turns: a Mark/RollbackTo undoes the sends and their seqs.

TEST_F(ChannelsTest, RollbackDropsSendsAndReusesTheirSequenceNumbers) {
  ChannelBatch batch = a_->BeginBatch();
  std::string error;
  ChannelBatch::Mark empty = batch.MakeMark();
  EXPECT_EQ(a_->Stage(batch, "b", "gone", &error), 1u);
  batch.RollbackTo(empty);  // a first turn that aborted
  EXPECT_TRUE(batch.sends().empty());
  EXPECT_EQ(a_->Stage(batch, "b", "one", &error), 1u);
  EXPECT_EQ(a_->Stage(batch, "b", "two", &error), 2u);
  ChannelBatch::Mark mark = batch.MakeMark();
  EXPECT_EQ(a_->Stage(batch, "b", "three", &error), 3u);
  EXPECT_EQ(a_->Stage(batch, "b", "four", &error), 4u);
  batch.RollbackTo(mark);
  ASSERT_EQ(batch.sends().size(), 2u);
  EXPECT_EQ(batch.sends()[0].payload, "one");
  EXPECT_EQ(batch.sends()[1].payload, "two");
  EXPECT_EQ(a_->Stage(batch, "b", "five", &error), 3u);  // no seq skipped
  v1::NodeState state;
  a_->Snapshot(&batch, &state, /*with_outbox=*/true);
  ASSERT_EQ(state.out(0).unacked_size(), 3);
  EXPECT_EQ(state.out(0).next_seq(), 4u);
  a_->CommitBatch(batch);
  v1::Batch sent = a_->TakeDue("b");
  ASSERT_EQ(sent.envelopes_size(), 3);
  EXPECT_EQ(sent.envelopes(0).payload(), "one");
  EXPECT_EQ(sent.envelopes(1).payload(), "two");
  EXPECT_EQ(sent.envelopes(2).seq(), 3u);
  EXPECT_EQ(sent.envelopes(2).payload(), "five");
  EXPECT_EQ(a_->Status()[0].next_seq(), 4u);
  ChannelBatch next = a_->BeginBatch();
  EXPECT_EQ(a_->Stage(next, "b", "six", &error), 4u);
}

// ---------------------------------------------------------------------------
// Back-pressure.

TEST_F(ChannelsTest, OutboxCapOnMessagesCountsStagedAndUnacked) {
  options_.max_unacked_messages = 3;
  a_ = Make("a", "inc-a");
  SendFromA(1);  // one committed, unacked
  ChannelBatch batch = a_->BeginBatch();
  std::string error;
  EXPECT_EQ(a_->Stage(batch, "b", "2", &error), 2u) << error;
  EXPECT_EQ(a_->Stage(batch, "b", "3", &error), 3u) << error;
  EXPECT_FALSE(a_->Stage(batch, "b", "4", &error));  // 1 unacked + 2 staged: full
  EXPECT_NE(error.find("'b'"), std::string::npos) << error;
  EXPECT_NE(error.find("max_unacked_messages 3"), std::string::npos) << error;
  // Rolling back a turn gives its room back.
  ChannelBatch::Mark mark = batch.MakeMark();
  batch.RollbackTo(mark);
  a_->CommitBatch(batch);
  EXPECT_EQ(a_->Status()[0].unacked(), 3u);
  ChannelBatch full = a_->BeginBatch();
  error.clear();
  EXPECT_FALSE(a_->Stage(full, "b", "4", &error));  // 3 committed, unacked
  EXPECT_NE(error.find("max_unacked_messages 3"), std::string::npos) << error;
  // The refused send consumed no seq. b acks everything: room again.
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2, 3}));
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  ChannelBatch again = a_->BeginBatch();
  for (uint64_t seq = 4; seq <= 6; ++seq) EXPECT_EQ(a_->Stage(again, "b", "x", &error), seq) << error;
  EXPECT_FALSE(a_->Stage(again, "b", "x", &error));
}

TEST_F(ChannelsTest, OutboxCapOnBytesCountsStagedAndUnacked) {
  options_.max_unacked_bytes = 10;
  a_ = Make("a", "inc-a");
  ChannelBatch first = a_->BeginBatch();
  std::string error;
  ASSERT_TRUE(a_->Stage(first, "b", "aaaa", &error)) << error;
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 0u);  // staged, not committed
  a_->CommitBatch(first);
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 4u);
  ChannelBatch second = a_->BeginBatch();
  ASSERT_TRUE(a_->Stage(second, "b", "bbbb", &error)) << error;  // 8
  EXPECT_FALSE(a_->Stage(second, "b", "ccc", &error));            // would be 11
  EXPECT_NE(error.find("'b'"), std::string::npos) << error;
  EXPECT_NE(error.find("max_unacked_bytes"), std::string::npos) << error;
  ASSERT_TRUE(a_->Stage(second, "b", "cc", &error)) << error;  // exactly 10 fits
  a_->CommitBatch(second);
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 10u);
  ChannelBatch third = a_->BeginBatch();
  EXPECT_FALSE(a_->Stage(third, "b", "x", &error));
  EXPECT_NE(error.find("max_unacked_bytes"), std::string::npos) << error;
  // The outbox's byte count survives a restart.
  a_ = Restart("a", "inc-a", 2, SnapshotOf(*a_));
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 10u);
  EXPECT_FALSE(a_->Stage(third, "b", "x", &error));
  // b delivers and acks only #1: its 4 bytes are freed.
  Transmit(*a_, *b_);
  ChannelBatch delivering = b_->BeginBatch();
  std::vector<v1::Envelope> one = b_->TakeDeliverable(1);
  ASSERT_EQ(one.size(), 1u);
  b_->MarkDelivered(delivering, "a", one[0].seq());
  b_->CommitBatch(delivering);
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].acked_through(), 1u);
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 6u);
  ChannelBatch fourth = a_->BeginBatch();
  EXPECT_TRUE(a_->Stage(fourth, "b", "dddd", &error)) << error;  // 6 + 4
  EXPECT_FALSE(a_->Stage(fourth, "b", "e", &error));
  // Everything acked: back to 0.
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{2, 3}));
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].unacked_bytes(), 0u);
}

TEST_F(ChannelsTest, FullReceiveBufferDefersAllButTheFirstGapAndLosesNothing) {
  options_.max_buffered_messages = 3;
  b_ = Make("b", "inc-b");
  SendFromA(5);
  v1::Batch batch = a_->TakeDue("b");
  ASSERT_EQ(batch.envelopes_size(), 5);
  std::string reason;
  EXPECT_EQ(b_->Receive(batch.envelopes(1), &reason), Channels::Verdict::kQueued);  // #2
  EXPECT_EQ(b_->Receive(batch.envelopes(2), &reason), Channels::Verdict::kQueued);  // #3
  EXPECT_EQ(b_->Receive(batch.envelopes(3), &reason), Channels::Verdict::kQueued);  // #4
  EXPECT_EQ(b_->Receive(batch.envelopes(4), &reason), Channels::Verdict::kDeferred);  // #5: full
  EXPECT_EQ(b_->Status()[0].deferred(), 1u);
  EXPECT_EQ(b_->Status()[0].buffered(), 3u);
  // A retransmission of a buffered envelope is not a deferral.
  EXPECT_EQ(b_->Receive(batch.envelopes(2), &reason), Channels::Verdict::kQueued);
  EXPECT_EQ(b_->Status()[0].deferred(), 1u);
  // #1 fills the first gap: accepted although the buffer is full.
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kQueued);
  std::vector<uint64_t> delivered = DeliverAtB();
  EXPECT_EQ(delivered, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(b_->Status()[0].buffered(), 0u);
  Transmit(*b_, *a_);  // ack through 4
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);
  // #5 was dropped unacked: a retransmits it and b takes it now.
  clock_.Advance(a_->NextDueMs("b") - clock_.NowMs());
  EXPECT_EQ(Transmit(*a_, *b_), 1);
  for (uint64_t seq : DeliverAtB()) delivered.push_back(seq);
  EXPECT_EQ(delivered, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  EXPECT_EQ(b_->Status()[0].duplicates_dropped(), 0u);
}

// In-order envelopes count too: a full buffer without a gap takes nothing
// more until its envelopes are delivered (the sender retransmits the rest).
TEST_F(ChannelsTest, FullReceiveBufferOfInOrderEnvelopesTakesNoMore) {
  options_.max_buffered_messages = 3;
  b_ = Make("b", "inc-b");
  SendFromA(6);
  v1::Batch batch = a_->TakeDue("b");
  ASSERT_EQ(batch.envelopes_size(), 6);
  std::string reason;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b_->Receive(batch.envelopes(i), &reason), Channels::Verdict::kQueued);
  for (int i = 3; i < 6; ++i) EXPECT_EQ(b_->Receive(batch.envelopes(i), &reason), Channels::Verdict::kDeferred);
  EXPECT_EQ(b_->Status()[0].buffered(), 3u);
  std::vector<uint64_t> delivered = DeliverAtB();
  EXPECT_EQ(delivered, (std::vector<uint64_t>{1, 2, 3}));
  Transmit(*b_, *a_);
  clock_.Advance(a_->NextDueMs("b") - clock_.NowMs());
  EXPECT_EQ(Transmit(*a_, *b_), 3);
  for (uint64_t seq : DeliverAtB()) delivered.push_back(seq);
  EXPECT_EQ(delivered, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
}

// ---------------------------------------------------------------------------
// Stores that go back in time.

// a's store is restored from an older copy (next_seq 2) after it had sent
// #1..#3 and b delivered them: b's ack through #3 is for seqs this store never
// sent.
TEST_F(ChannelsTest, AckBeyondNextSeqMeansThisStoreWentBack) {
  a_ = std::make_unique<Channels>("a", "inc-a", std::vector<std::string>{"b", "c"}, &clock_, options_, 11);
  SendFromA(1);
  v1::NodeState old = SnapshotOf(*a_);
  SendFromA(2);
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2, 3}));
  v1::Batch ack = b_->TakeDue("a");
  ASSERT_EQ(ack.acks_size(), 1);
  a_ = std::make_unique<Channels>("a", "inc-a", std::vector<std::string>{"b", "c"}, &clock_, options_, 12);
  a_->Restore(old);
  EXPECT_EQ(a_->ReincarnationRequest(), "");
  std::string reason;
  EXPECT_FALSE(a_->OnAck(ack.acks(0), &reason));
  EXPECT_NE(reason, "");
  EXPECT_NE(a_->ReincarnationRequest().find("went back in time"), std::string::npos) << a_->ReincarnationRequest();
  for (const v1::ChannelStatus& s : a_->Status()) EXPECT_NE(s.error(), "") << s.peer();
  for (const char* dst : {"b", "c"}) {
    ChannelBatch batch = a_->BeginBatch();
    std::string error;
    EXPECT_FALSE(a_->Stage(batch, dst, "x", &error)) << dst;
    EXPECT_NE(error.find("broken"), std::string::npos) << error;
  }
  bool notice = true;
  v1::Batch nothing = a_->TakeDue("b", nullptr, &notice);
  EXPECT_FALSE(notice);  // no new incarnation yet
  EXPECT_EQ(nothing.envelopes_size(), 0);
  // The turn loop gives the store a new incarnation.
  a_->Reincarnated("new-inc");
  EXPECT_EQ(a_->incarnation(), "new-inc");
  EXPECT_EQ(a_->NextDueMs("b"), clock_.NowMs());
  v1::Batch n;
  for (int i = 0; i < 2; ++i) {  // until a reply arrives
    notice = false;
    n = a_->TakeDue("b", nullptr, &notice);
    EXPECT_TRUE(notice);
    EXPECT_EQ(n.envelopes_size(), 0);
    EXPECT_EQ(n.acks_size(), 0);
    EXPECT_EQ(n.incarnation(), "new-inc");
  }
  // b learns of it from the notice and breaks its side; its reply says so.
  std::string refusal;
  EXPECT_FALSE(b_->CheckBatch(n, &refusal));
  EXPECT_NE(refusal.find("new-inc"), std::string::npos) << refusal;
  EXPECT_NE(b_->Status()[0].error(), "");
  v1::BatchReply reply;
  reply.set_incarnation(b_->incarnation());
  reply.set_refused(b_->RefusalFor("a"));
  EXPECT_NE(reply.refused(), "");
  a_->OnReply("b", reply, a_->incarnation());
  a_->TakeDue("b", nullptr, &notice);
  EXPECT_FALSE(notice);
  a_->TakeDue("c", nullptr, &notice);
  EXPECT_TRUE(notice);  // c has not answered yet
}

// a's store is restored from a copy taken before #1 and re-uses #1 with
// another stamp: b's ack of the first #1 (delayed) carries the old stamp.
TEST_F(ChannelsTest, AckWithAnotherStampMeansThisStoreWentBack) {
  a_ = Make("a", "inc-a", 11);
  v1::NodeState before = SnapshotOf(*a_);
  SendFromA(1);
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1}));
  v1::Batch ack = b_->TakeDue("a");
  ASSERT_EQ(ack.acks_size(), 1);
  EXPECT_EQ(ack.acks(0).acked_through(), 1u);
  EXPECT_EQ(ack.acks(0).acked_stamp(), 11u);
  std::string reason;
  {
    // The same store: equal stamps, a normal ack.
    std::unique_ptr<Channels> same = Restart("a", "inc-a", 12, SnapshotOf(*a_));
    EXPECT_TRUE(same->OnAck(ack.acks(0), &reason)) << reason;
    EXPECT_EQ(same->Status()[0].unacked(), 0u);
    EXPECT_EQ(same->ReincarnationRequest(), "");
  }
  a_ = Restart("a", "inc-a", 22, before);
  SendFromA(1);  // #1 again, stamp 22
  a_ = Restart("a", "inc-a", 33, SnapshotOf(*a_));  // the stamp of #1 is checkpointed
  {
    // Stamp 0 in the ack (unknown): no check.
    std::unique_ptr<Channels> unknown = Restart("a", "inc-a", 34, SnapshotOf(*a_));
    v1::Ack zero = ack.acks(0);
    zero.set_acked_stamp(0);
    EXPECT_TRUE(unknown->OnAck(zero, &reason)) << reason;
    EXPECT_EQ(unknown->ReincarnationRequest(), "");
  }
  EXPECT_FALSE(a_->OnAck(ack.acks(0), &reason));
  EXPECT_NE(a_->ReincarnationRequest().find("went back in time"), std::string::npos) << a_->ReincarnationRequest();
  EXPECT_NE(a_->ReincarnationRequest().find("stamp"), std::string::npos) << a_->ReincarnationRequest();
  EXPECT_NE(a_->Status()[0].error(), "");
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);  // held, not dropped by the bad ack

  // Stamp 0 on the sender's envelope (a store written before stamps): no check.
  v1::NodeState legacy;
  v1::OutChannelState* out = legacy.add_out();
  out->set_peer("b");
  out->set_next_seq(2);
  v1::StoredEnvelope* e = out->add_unacked();
  e->set_seq(1);
  e->set_payload("m");
  std::unique_ptr<Channels> old = Restart("a", "inc-a", 44, legacy);
  EXPECT_TRUE(old->OnAck(ack.acks(0), &reason)) << reason;
  EXPECT_EQ(old->ReincarnationRequest(), "");
  EXPECT_EQ(old->Status()[0].unacked(), 0u);
}

// b's store is restored from a copy taken before it delivered #1, #2: a
// knows b acked through #2, so its next envelope says so.
TEST_F(ChannelsTest, EnvelopeAckedBeyondDeliveredMeansReceiverWentBack) {
  v1::NodeState b_before = SnapshotOf(*b_);
  SendFromA(2);
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2}));
  Transmit(*b_, *a_);
  EXPECT_EQ(a_->Status()[0].acked_through(), 2u);
  {
    // b as it really is: the envelope's acked_through is what it delivered.
    SendFromA(1);
    v1::Batch batch = a_->TakeDue("b");
    ASSERT_EQ(batch.envelopes_size(), 1);
    EXPECT_EQ(batch.envelopes(0).acked_through(), 2u);
    std::unique_ptr<Channels> honest = Restart("b", "inc-b", 5, SnapshotOf(*b_));
    std::string reason;
    EXPECT_EQ(honest->Receive(batch.envelopes(0), &reason), Channels::Verdict::kQueued) << reason;
    EXPECT_EQ(honest->ReincarnationRequest(), "");
  }
  b_ = Restart("b", "inc-b", 6, b_before);
  clock_.Advance(10000);
  v1::Batch batch = a_->TakeDue("b");
  ASSERT_EQ(batch.envelopes_size(), 1);
  std::string reason;
  bool sender_went_back = false;
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason, &sender_went_back), Channels::Verdict::kRejected);
  EXPECT_FALSE(sender_went_back);  // it is b that went back
  EXPECT_NE(reason, "");
  EXPECT_NE(b_->ReincarnationRequest().find("went back in time"), std::string::npos) << b_->ReincarnationRequest();
  EXPECT_NE(b_->Status()[0].error(), "");
  EXPECT_NE(b_->RefusalFor("a"), "");
  EXPECT_TRUE(b_->TakeDeliverable(10).empty());
}

// a's store is restored from a copy taken after #1 and before #2, and sends
// another #2 (new stamp) after b delivered the first #2.
TEST_F(ChannelsTest, EnvelopeResentWithAnotherStampMeansSenderWentBack) {
  a_ = Make("a", "inc-a", 11);
  SendFromA(1);
  v1::NodeState a_old = SnapshotOf(*a_);
  SendFromA(1);
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2}));
  b_->TakeDue("a");  // the ack is lost
  b_ = Restart("b", "inc-b", 7, SnapshotOf(*b_));  // the delivered stamp is checkpointed
  std::string reason;
  bool went_back = false;
  // The same #2 (same stamp) again: a duplicate, acked again.
  clock_.Advance(10000);
  v1::Batch again = a_->TakeDue("b");
  ASSERT_EQ(again.envelopes_size(), 2);
  EXPECT_EQ(b_->Receive(again.envelopes(1), &reason, &went_back), Channels::Verdict::kDuplicate) << reason;
  EXPECT_FALSE(went_back);
  v1::Batch acks = b_->TakeDue("a");
  ASSERT_EQ(acks.acks_size(), 1);
  EXPECT_EQ(acks.acks(0).acked_through(), 2u);
  // Stamp 0 (unknown) on the envelope: no check.
  v1::Envelope unstamped = again.envelopes(1);
  unstamped.set_stamp(0);
  EXPECT_EQ(b_->Receive(unstamped, &reason, &went_back), Channels::Verdict::kDuplicate) << reason;
  EXPECT_FALSE(went_back);
  // a went back and re-uses #2 with its new stamp.
  a_ = Restart("a", "inc-a", 22, a_old);
  SendFromA(1);
  v1::Batch batch = a_->TakeDue("b");
  ASSERT_EQ(batch.envelopes_size(), 2);
  EXPECT_EQ(batch.envelopes(0).stamp(), 11u);
  EXPECT_EQ(batch.envelopes(1).stamp(), 22u);
  {
    // A receiver that does not know #2's stamp (an older store): no check.
    v1::NodeState legacy;
    v1::InChannelState* in = legacy.add_in();
    in->set_peer("a");
    in->set_delivered_through(2);
    in->set_peer_incarnation("inc-a");
    std::unique_ptr<Channels> old = Restart("b", "inc-b", 8, legacy);
    EXPECT_EQ(old->Receive(batch.envelopes(1), &reason), Channels::Verdict::kDuplicate) << reason;
    EXPECT_EQ(old->Status()[0].error(), "");
  }
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason, &went_back), Channels::Verdict::kDuplicate);  // #1 same
  EXPECT_FALSE(went_back);
  EXPECT_EQ(b_->Receive(batch.envelopes(1), &reason, &went_back), Channels::Verdict::kRejected);
  EXPECT_TRUE(went_back);
  EXPECT_NE(reason.find("went back in time"), std::string::npos) << reason;
  EXPECT_NE(b_->Status()[0].error(), "");
  EXPECT_EQ(b_->ReincarnationRequest(), "");  // b's own store is fine
  ChannelBatch reply_turn = b_->BeginBatch();
  EXPECT_FALSE(b_->Stage(reply_turn, "a", "x", &reason));  // both directions broken
  EXPECT_NE(reason.find("broken"), std::string::npos) << reason;
  // The reply tells a that its store went back.
  v1::BatchReply reply;
  reply.set_incarnation(b_->incarnation());
  reply.set_refused(b_->RefusalFor("a"));
  reply.set_sender_went_back(went_back);
  a_->OnReply("b", reply, a_->incarnation());
  EXPECT_NE(a_->ReincarnationRequest().find("went back in time"), std::string::npos) << a_->ReincarnationRequest();
  EXPECT_NE(a_->Status()[0].error(), "");
}

// Restarts with new stamps, retransmissions, and acks that arrive late,
// twice or out of order never look like going back in time.
TEST_F(ChannelsTest, HonestRestartsAndStaleAcksNeverLookLikeGoingBack) {
  a_ = Make("a", "inc-a", 11);
  SendFromA(2);  // #1, #2 with stamp 11
  v1::NodeState a1 = SnapshotOf(*a_);
  Transmit(*a_, *b_);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{1, 2}));
  v1::Batch ack1 = b_->TakeDue("a");  // through #2, stamp 11: delayed
  ASSERT_EQ(ack1.acks_size(), 1);
  // a restarts from its last commit with a new stamp and retransmits.
  a_ = Restart("a", "inc-a", 22, a1);
  std::string reason;
  bool went_back = false;
  v1::Batch re = a_->TakeDue("b");
  ASSERT_EQ(re.envelopes_size(), 2);
  for (const v1::Envelope& e : re.envelopes()) {
    EXPECT_EQ(e.stamp(), 11u);  // fixed when committed, not the open's stamp
    EXPECT_EQ(b_->Receive(e, &reason, &went_back), Channels::Verdict::kDuplicate) << reason;
  }
  SendFromA(1);  // #3 with stamp 22
  v1::NodeState a2 = SnapshotOf(*a_);  // #1, #2 (11), #3 (22), nothing acked
  EXPECT_EQ(Transmit(*a_, *b_), 1);
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{3}));
  v1::Batch ack2 = b_->TakeDue("a");
  ASSERT_EQ(ack2.acks_size(), 1);
  EXPECT_EQ(ack2.acks(0).acked_through(), 3u);
  EXPECT_EQ(ack2.acks(0).acked_stamp(), 22u);
  // Newest ack first, then the stale one, then a duplicate.
  EXPECT_TRUE(a_->OnAck(ack2.acks(0), &reason)) << reason;
  EXPECT_TRUE(a_->OnAck(ack1.acks(0), &reason)) << reason;
  EXPECT_TRUE(a_->OnAck(ack2.acks(0), &reason)) << reason;
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  EXPECT_EQ(a_->Status()[0].acked_through(), 3u);
  // a restarts from a2, which predates both acks; they arrive again, the
  // stale one first: its stamp matches #2's (11), the newer one #3's (22).
  a_ = Restart("a", "inc-a", 33, a2);
  EXPECT_TRUE(a_->OnAck(ack1.acks(0), &reason)) << reason;
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);
  EXPECT_TRUE(a_->OnAck(ack2.acks(0), &reason)) << reason;
  EXPECT_EQ(a_->Status()[0].unacked(), 0u);
  // b restarts too; a restarts from a2 again and retransmits all three.
  b_ = Restart("b", "inc-b", 44, SnapshotOf(*b_));
  a_ = Restart("a", "inc-a", 55, a2);
  v1::Batch all = a_->TakeDue("b");
  ASSERT_EQ(all.envelopes_size(), 3);
  EXPECT_TRUE(b_->CheckBatch(all, &reason)) << reason;
  for (const v1::Envelope& e : all.envelopes()) {
    EXPECT_EQ(b_->Receive(e, &reason, &went_back), Channels::Verdict::kDuplicate) << reason;
  }
  v1::Batch ack3 = b_->TakeDue("a");
  ASSERT_EQ(ack3.acks_size(), 1);
  EXPECT_TRUE(a_->CheckBatch(ack3, &reason)) << reason;
  EXPECT_TRUE(a_->OnAck(ack3.acks(0), &reason)) << reason;
  EXPECT_TRUE(a_->OnAck(ack1.acks(0), &reason)) << reason;
  // New messages flow (stamp 55); the envelope's acked_through is b's mark.
  SendFromA(1);
  v1::Batch fresh = a_->TakeDue("b");
  ASSERT_EQ(fresh.envelopes_size(), 1);
  EXPECT_EQ(fresh.envelopes(0).acked_through(), 3u);
  EXPECT_EQ(b_->Receive(fresh.envelopes(0), &reason, &went_back), Channels::Verdict::kQueued) << reason;
  EXPECT_EQ(DeliverAtB(), (std::vector<uint64_t>{4}));
  v1::BatchReply reply;
  reply.set_incarnation(b_->incarnation());
  reply.set_refused(b_->RefusalFor("a"));
  reply.set_sender_went_back(went_back);
  a_->OnReply("b", reply, a_->incarnation());
  EXPECT_FALSE(went_back);
  EXPECT_EQ(a_->ReincarnationRequest(), "");
  EXPECT_EQ(b_->ReincarnationRequest(), "");
  EXPECT_EQ(a_->Status()[0].error(), "");
  EXPECT_EQ(b_->Status()[0].error(), "");
  EXPECT_EQ(b_->Status()[0].duplicates_dropped(), 3u);  // since b's restart
}

// ---------------------------------------------------------------------------
// Incarnation changes, reported on both ends.

TEST_F(ChannelsTest, BatchFromAnotherSenderIncarnationBreaksBothDirections) {
  std::string reason;
  v1::Batch unknown;
  unknown.set_from("a");
  unknown.set_incarnation("inc-a");
  EXPECT_TRUE(b_->CheckBatch(unknown, &reason));  // nothing known yet
  SendFromA(1);
  Transmit(*a_, *b_);  // b learns inc-a
  v1::Batch same = a_->TakeDue("b");
  EXPECT_EQ(same.incarnation(), "inc-a");
  EXPECT_TRUE(b_->CheckBatch(same, &reason)) << reason;
  v1::Batch unset;
  unset.set_from("a");
  EXPECT_TRUE(b_->CheckBatch(unset, &reason)) << reason;  // an older sender: no incarnation
  DeliverAtB();  // an ack is now due
  v1::Batch other;
  other.set_from("a");
  other.set_incarnation("inc-a2");
  EXPECT_FALSE(b_->CheckBatch(other, &reason));
  EXPECT_NE(reason.find("inc-a2"), std::string::npos) << reason;
  EXPECT_NE(b_->Status()[0].error(), "");
  EXPECT_NE(b_->RefusalFor("a").find("inc-a2"), std::string::npos) << b_->RefusalFor("a");
  ChannelBatch batch = b_->BeginBatch();
  EXPECT_FALSE(b_->Stage(batch, "a", "x", &reason));
  EXPECT_NE(reason.find("broken"), std::string::npos) << reason;
  EXPECT_EQ(b_->TakeDue("a").acks_size(), 0);  // nothing more goes out
  EXPECT_FALSE(b_->CheckBatch(same, &reason));  // and the old incarnation stays refused

  // The same when the incarnation was learned from acks (the sender side).
  std::unique_ptr<Channels> a = Make("a", "inc-a");
  std::unique_ptr<Channels> b = Make("b", "inc-b");
  ChannelBatch send = a->BeginBatch();
  ASSERT_TRUE(a->Stage(send, "b", "m", &reason));
  a->CommitBatch(send);
  Transmit(*a, *b);
  ChannelBatch deliver = b->BeginBatch();
  for (const v1::Envelope& e : b->TakeDeliverable(10)) b->MarkDelivered(deliver, "a", e.seq());
  b->CommitBatch(deliver);
  Transmit(*b, *a);  // a learns inc-b from the ack
  ASSERT_EQ(a->Status()[0].peer_incarnation(), "inc-b");
  v1::Batch from_b2;
  from_b2.set_from("b");
  from_b2.set_incarnation("inc-b2");
  EXPECT_FALSE(a->CheckBatch(from_b2, &reason));
  EXPECT_NE(a->Status()[0].error().find("inc-b2"), std::string::npos) << a->Status()[0].error();
}

TEST_F(ChannelsTest, ReplyFromAnotherReceiverIncarnationBreaksTheChannel) {
  SendFromA(1);
  Transmit(*a_, *b_);
  DeliverAtB();
  Transmit(*b_, *a_);  // a learns inc-b
  v1::BatchReply same;
  same.set_incarnation("inc-b");
  a_->OnReply("b", same, a_->incarnation());
  EXPECT_EQ(a_->Status()[0].error(), "");
  v1::BatchReply unset;  // an older receiver: no incarnation
  a_->OnReply("b", unset, a_->incarnation());
  EXPECT_EQ(a_->Status()[0].error(), "");
  SendFromA(1);
  v1::BatchReply other;
  other.set_incarnation("inc-b2");
  a_->OnReply("b", other, a_->incarnation());
  const std::string error = a_->Status()[0].error();
  EXPECT_NE(error.find("node 'b'"), std::string::npos) << error;
  EXPECT_NE(error.find("inc-b2"), std::string::npos) << error;
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 0);  // held, not resent
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);
  ChannelBatch batch = a_->BeginBatch();
  std::string reason;
  EXPECT_FALSE(a_->Stage(batch, "b", "x", &reason));
  EXPECT_NE(reason.find("broken"), std::string::npos) << reason;
  EXPECT_NE(a_->RefusalFor("b"), "");  // a's replies to b say so too
}

TEST_F(ChannelsTest, RefusalInReplyBreaksTheChannel) {
  SendFromA(1);
  v1::BatchReply reply;
  reply.set_incarnation("inc-b");
  reply.set_refused("the store of 'b' is on fire");
  a_->OnReply("b", reply, a_->incarnation());
  const std::string error = a_->Status()[0].error();
  EXPECT_NE(error.find("node 'b'"), std::string::npos) << error;
  EXPECT_NE(error.find("the store of 'b' is on fire"), std::string::npos) << error;
  ChannelBatch batch = a_->BeginBatch();
  std::string reason;
  EXPECT_FALSE(a_->Stage(batch, "b", "x", &reason));
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 0);
  EXPECT_EQ(a_->ReincarnationRequest(), "");  // a's own store is fine
}

TEST_F(ChannelsTest, EnvelopeForAnotherIncarnationOfThisNodeBreaksBothEnds) {
  SendFromA(1);
  Transmit(*a_, *b_);
  DeliverAtB();
  Transmit(*b_, *a_);  // a learns inc-b
  b_ = Make("b", "inc-b2");  // b's store deleted and re-created
  SendFromA(1);
  v1::Batch batch = a_->TakeDue("b");
  ASSERT_EQ(batch.envelopes_size(), 1);  // #2 (#1 was acked)
  EXPECT_EQ(batch.envelopes(0).dst_incarnation(), "inc-b");
  std::string reason;
  EXPECT_TRUE(b_->CheckBatch(batch, &reason)) << reason;  // b2 knows nothing of a yet
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kRejected);
  EXPECT_NE(reason.find("inc-b2"), std::string::npos) << reason;
  // The re-created b reports it too: both directions with a are broken.
  EXPECT_NE(b_->Status()[0].error(), "");
  EXPECT_NE(b_->RefusalFor("a"), "");
  ChannelBatch turn = b_->BeginBatch();
  EXPECT_FALSE(b_->Stage(turn, "a", "x", &reason));
  EXPECT_NE(reason.find("broken"), std::string::npos) << reason;
  EXPECT_EQ(b_->Receive(batch.envelopes(0), &reason), Channels::Verdict::kRejected);  // and stays so
  EXPECT_TRUE(b_->TakeDeliverable(10).empty());
  // b's reply carries it back to a.
  v1::BatchReply reply;
  reply.set_incarnation(b_->incarnation());
  reply.set_refused(b_->RefusalFor("a"));
  a_->OnReply("b", reply, a_->incarnation());
  EXPECT_NE(a_->Status()[0].error().find("inc-b2"), std::string::npos) << a_->Status()[0].error();
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);  // held
}

TEST_F(ChannelsTest, BrokenChannelsStayBrokenAcrossRestarts) {
  SendFromA(1);
  Transmit(*a_, *b_);
  // b breaks on a batch from another incarnation of a.
  v1::Batch other;
  other.set_from("a");
  other.set_incarnation("inc-a2");
  std::string reason;
  ASSERT_FALSE(b_->CheckBatch(other, &reason));
  const std::string b_error = b_->Status()[0].error();
  ASSERT_NE(b_error, "");
  b_ = Restart("b", "inc-b", 2, SnapshotOf(*b_));
  EXPECT_EQ(b_->Status()[0].error(), b_error);
  EXPECT_EQ(b_->RefusalFor("a"), b_error);
  v1::Batch good = a_->TakeDue("b");
  good.set_incarnation("inc-a");
  EXPECT_FALSE(b_->CheckBatch(good, &reason));
  clock_.Advance(10000);
  v1::Batch retransmit = a_->TakeDue("b");
  ASSERT_EQ(retransmit.envelopes_size(), 1);
  EXPECT_EQ(b_->Receive(retransmit.envelopes(0), &reason), Channels::Verdict::kRejected);
  ChannelBatch turn = b_->BeginBatch();
  EXPECT_FALSE(b_->Stage(turn, "a", "x", &reason));
  // a breaks on b's refusal.
  v1::BatchReply reply;
  reply.set_refused(b_error);
  a_->OnReply("b", reply, a_->incarnation());
  const std::string a_error = a_->Status()[0].error();
  ASSERT_NE(a_error, "");
  a_ = Restart("a", "inc-a", 3, SnapshotOf(*a_));
  EXPECT_EQ(a_->Status()[0].error(), a_error);
  EXPECT_EQ(a_->Status()[0].unacked(), 1u);
  EXPECT_EQ(a_->TakeDue("b").envelopes_size(), 0);  // the restored outbox is not resent
  ChannelBatch a_turn = a_->BeginBatch();
  EXPECT_FALSE(a_->Stage(a_turn, "b", "x", &reason));
  EXPECT_NE(reason.find("broken"), std::string::npos) << reason;
  // A store that went back and reincarnated keeps its broken channels too.
  std::unique_ptr<Channels> c = Make("a", "inc-a", 4);
  v1::Ack bogus;
  bogus.set_src("a");
  bogus.set_dst("b");
  bogus.set_acked_through(7);
  bogus.set_src_incarnation("inc-a");
  bogus.set_dst_incarnation("inc-b");
  ASSERT_FALSE(c->OnAck(bogus, &reason));
  c->Reincarnated("inc-a3");
  const std::string c_error = c->Status()[0].error();
  ASSERT_NE(c_error.find("went back in time"), std::string::npos) << c_error;
  std::unique_ptr<Channels> c2 = std::make_unique<Channels>("a", "inc-a3", std::vector<std::string>{"b"},
                                                            &clock_, options_, 5);
  c2->Restore(SnapshotOf(*c));
  EXPECT_EQ(c2->Status()[0].error(), c_error);
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

class ChannelsNoticeTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Channels a_{"a", "inc-a", {"b"}, &clock_, {}, 7};
};

// A reply to a transmission taken before the new incarnation must not count
// as telling the peer about it.
TEST_F(ChannelsNoticeTest, ReplyInFlightAcrossReincarnationKeepsTheNoticeDue) {
  std::string error;
  ChannelBatch batch = a_.BeginBatch();
  ASSERT_TRUE(a_.Stage(batch, "b", std::string("\xFF\x0D\x22\x01x", 5), &error)) << error;
  a_.CommitBatch(batch);
  v1::Batch in_flight = a_.TakeDue("b");
  ASSERT_EQ(in_flight.incarnation(), "inc-a");
  a_.WentBack("test: store went back");
  a_.Reincarnated("inc-a2");
  v1::BatchReply reply;
  reply.set_accepted(1);
  a_.OnReply("b", reply, in_flight.incarnation());  // the old transmission's reply
  bool notice = false;
  v1::Batch next = a_.TakeDue("b", nullptr, &notice);
  EXPECT_TRUE(notice);
  EXPECT_EQ(next.incarnation(), "inc-a2");
  a_.OnReply("b", reply, next.incarnation());
  a_.TakeDue("b", nullptr, &notice);
  EXPECT_FALSE(notice);
}

// The request for a new incarnation and due notices are kept in checkpoints.
TEST_F(ChannelsNoticeTest, WentBackAndNoticesSurviveARestart) {
  a_.WentBack("test: store went back");
  v1::NodeState state;
  a_.Snapshot(nullptr, &state);
  EXPECT_NE(state.went_back(), "");
  Channels restored("a", "inc-a", {"b"}, &clock_, {}, 8);
  restored.Restore(state);
  EXPECT_NE(restored.ReincarnationRequest().find("store went back"), std::string::npos);
  restored.Reincarnated("inc-a2");
  v1::NodeState after;
  restored.Snapshot(nullptr, &after);
  EXPECT_EQ(after.went_back(), "");
  Channels again("a", "inc-a2", {"b"}, &clock_, {}, 9);
  again.Restore(after);
  bool notice = false;
  again.TakeDue("b", nullptr, &notice);
  EXPECT_TRUE(notice);
  EXPECT_NE(again.Status()[0].error(), "");
  std::string error;
  ChannelBatch batch = again.BeginBatch();
  EXPECT_FALSE(again.Stage(batch, "b", "x", &error));
}

// All destinations together are capped by max_total_unacked_bytes.
TEST(ChannelsTotalCapTest, TotalUnackedBytesAcrossDestinations) {
  FakeClock clock;
  ChannelOptions options;
  options.max_total_unacked_bytes = 10;
  Channels a("a", "inc-a", {"b", "c"}, &clock, options, 1);
  std::string error;
  ChannelBatch batch = a.BeginBatch();
  EXPECT_TRUE(a.Stage(batch, "b", "123456", &error)) << error;
  EXPECT_FALSE(a.Stage(batch, "c", "123456", &error));
  EXPECT_NE(error.find("over the node's limit (10)"), std::string::npos) << error;
  EXPECT_TRUE(a.Stage(batch, "c", "1234", &error)) << error;
}

}  // namespace
}  // namespace ken
