// Channel bookkeeping for exactly-once messaging (docs/guarantees.md, "Exactly-once
// messaging"). No V8 and no network here: this is the state machine, and it is
// unit-tested with a fake clock.
//
// Sender side, per destination (OutChannel): `next_seq` and the outbox of
// unacked envelopes. A turn's sends are staged in a Batch and get their seqs
// there; they join the outbox only when CommitBatch() is called, which the
// node does after the commit that contains the turn is durable (output
// commit). The outbox goes into every checkpoint (Snapshot), so envelopes
// survive crashes until acked. Envelopes are (re)sent when due: at once after
// commit, then with exponential backoff (base, doubling, capped) until an ack
// covers them, and all at once when a peer that was failing answers again.
// While a peer is failing, each transmission carries only the oldest due
// envelope, so a partition costs about one payload per retry, not the
// whole outbox per retry (docs/guarantees.md, "Network faults").
//
// Receiver side, per source (InChannel): `delivered_through`, the high-water
// mark of committed deliveries. Envelopes above it are buffered in memory;
// the node takes them in seq order (TakeDeliverable), delivers each as a
// turn, and CommitBatch raises the mark once the commit is durable — only
// then is the cumulative ack due. Envelopes at or below the mark are
// duplicates: dropped, counted and acked again. The buffer is not durable: a
// crash loses it and the sender retransmits.
//
// Incarnations: each store has a random id. The receiver adopts a source's
// incarnation from its first envelope and the sender adopts the receiver's
// from its first ack; both are checkpointed. An envelope, ack or batch from
// another incarnation means a store was deleted and re-created: the channels
// with that peer are marked broken (both directions, checkpointed) with an
// error naming the node and channel, nothing more is delivered or sent on
// them, and the reply to the peer says why, so both ends report it (see
// README, "Store incarnations").
//
// Stores that go back in time (restored from a copy, or fallen back to an
// older checkpoint) are detected from facts an honest store can never
// contradict, whatever the network reorders or delays:
//   - an ack through a seq this node never sent, or acking seq N with
//     another lineage stamp than this node's envelope #N carries: this
//     node's outbox went back (it re-used sequence numbers);
//   - an envelope saying this node acked through N when its own delivered
//     mark is below N: this node's inbox went back;
//   - (at the peer) envelope #N re-sent with another stamp than the #N it
//     delivered: the sender went back.
// Lineage stamps are random per store open (`stamp`), fixed on an envelope
// when it is committed, and remembered by the receiver for its newest
// delivery. A node that finds itself gone back asks for a new incarnation
// (TakeReincarnationRequest); every channel then breaks loudly on both sides.
//
// Back-pressure: a destination's outbox holds at most max_unacked_messages
// envelopes and max_unacked_bytes payload bytes; past either, Stage refuses
// (ken.send throws). A source's receive buffer holds at most
// max_buffered_messages envelopes not yet delivered; when full, it takes
// only an envelope that fills its first gap, and others are dropped unacked
// (the sender retransmits them, as in Go-Back-N).
//
// Thread safety: all methods may be called from any thread (one mutex).
#ifndef KEN_MESSAGING_CHANNELS_H_
#define KEN_MESSAGING_CHANNELS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "proto/ken.pb.h"
#include "proto/state.pb.h"

namespace ken {

struct ChannelOptions {
  int64_t retransmit_base_ms = 200;  // first retransmit this long after a send
  int64_t retransmit_cap_ms = 2000;  // backoff never waits longer
  size_t max_batch_envelopes = 512;  // per Batch sent to one peer
  size_t max_batch_bytes = 4 << 20;  // payload bytes per Batch (at least one envelope)
  size_t max_message_bytes = 4 << 20;
  size_t max_unacked_messages = 100000;     // per destination
  size_t max_unacked_bytes = 256u << 20;    // per destination, payload bytes
  size_t max_buffered_messages = 10000;     // per source, received but not yet delivered
  // All destinations together, payload bytes (0: no limit).
  size_t max_total_unacked_bytes = 0;
};

// The effects of a group of turns, applied by CommitBatch once durable.
class ChannelBatch {
 public:
  // Sends staged by the batch's turns, in order.
  struct Send {
    std::string dst;
    uint64_t seq;
    std::string payload;
  };
  const std::vector<Send>& sends() const { return sends_; }
  const std::map<std::string, uint64_t>& delivered() const { return delivered_; }

  // A turn's sends can be undone: take a Mark before the turn and, if the
  // turn aborts, RollbackTo it (its sends and sequence numbers vanish).
  struct Mark {
    size_t sends;
    std::map<std::string, uint64_t> next_seq;
    std::map<std::string, std::pair<size_t, size_t>> staged;
  };
  Mark MakeMark() const { return {sends_.size(), next_seq_, staged_}; }
  void RollbackTo(const Mark& mark) {
    sends_.resize(mark.sends);
    next_seq_ = mark.next_seq;
    staged_ = mark.staged;
  }

 private:
  friend class Channels;
  std::vector<Send> sends_;
  std::vector<Send> inherited_;  // sends of in-flight parent batches (not yet in the outbox)
  std::map<std::string, std::pair<size_t, size_t>> staged_;  // dst -> (messages, payload bytes), parents included
  std::map<std::string, uint64_t> next_seq_;   // dst -> next seq within the batch
  std::map<std::string, uint64_t> delivered_;  // src -> highest seq delivered by the batch
};

class Channels {
 public:
  // `stamp`: this store open's lineage stamp (random, nonzero).
  Channels(std::string self, std::string incarnation, std::vector<std::string> peers,
           const Clock* clock, ChannelOptions options = {}, uint64_t stamp = 1);

  const std::string& self() const { return self_; }
  std::string incarnation() const;
  uint64_t stamp() const { return stamp_; }
  const std::vector<std::string>& peers() const { return peers_; }
  bool IsPeer(const std::string& id) const;

  // Loads the committed state of a checkpoint (marks, incarnations, broken
  // channels) and its outbox: `outbox` (the store's outbox rows, as
  // envelopes with dst, seq, stamp, payload), or, if null, the unacked
  // envelopes inside `state` (states written before the outbox had rows of
  // its own). Every restored envelope is due at once. Call before any other
  // use.
  void Restore(const v1::NodeState& state, const std::vector<v1::Envelope>* outbox = nullptr);
  // The committed state plus `batch`'s effects, for the next checkpoint.
  // Fills out/in channels of `state` (other fields are the caller's). The
  // outbox itself is written as rows (Outbox changes per commit); with
  // `with_outbox` the unacked envelopes go into `state` too.
  void Snapshot(const ChannelBatch* batch, v1::NodeState* state, bool with_outbox = false) const;
  // Per destination: every seq up to this is acked (what a commit may drop
  // from the stored outbox).
  std::map<std::string, uint64_t> AckedThrough() const;

  // --- turns (isolate thread) ---
  // A new batch; `parent` (optional) is a batch whose commit is still in
  // flight: the new one continues its sequence numbers, delivery marks and
  // outbox counts, and its checkpoint state includes the parent's sends.
  ChannelBatch BeginBatch(const ChannelBatch* parent = nullptr) const;
  // Stages a send in `batch`; returns its seq. Errors: unknown destination,
  // oversized payload, broken channel, outbox caps reached (message in
  // *error, naming the destination and the cap).
  std::optional<uint64_t> Stage(ChannelBatch& batch, const std::string& dst, std::string payload,
                                std::string* error) const;
  // Records that the batch delivered `seq` from `src`.
  void MarkDelivered(ChannelBatch& batch, const std::string& src, uint64_t seq) const;
  // After the batch's commit is durable: sends join the outbox (due now),
  // delivery marks rise, acks become due.
  void CommitBatch(const ChannelBatch& batch);
  // The batch was not committed: its taken envelopes may be taken again.
  void AbortBatch(const ChannelBatch& batch);
  // Envelopes ready for delivery, in seq order per source, not yet taken by
  // an uncommitted batch. Marks them taken.
  std::vector<v1::Envelope> TakeDeliverable(size_t max);
  // How many envelopes TakeDeliverable would return now (no limit).
  size_t DeliverableCount() const;

  // --- network, receiving (server threads) ---
  // kDeferred: dropped unacked because the receive buffer is full.
  enum class Verdict { kQueued, kDuplicate, kRejected, kDeferred };
  // Checks a transmission's sender incarnation before its contents. Returns
  // false (with *reason) when the channels with `from` are broken.
  bool CheckBatch(const v1::Batch& batch, std::string* reason);
  // Checks and buffers an envelope from the wire. kRejected sets *reason.
  // *sender_went_back is set when the envelope proves the sender's store
  // went back in time.
  Verdict Receive(const v1::Envelope& envelope, std::string* reason, bool* sender_went_back = nullptr);
  // Applies an ack from the wire. Returns false (with *reason) if rejected.
  bool OnAck(const v1::Ack& ack, std::string* reason);
  // What to tell `peer` in a BatchReply: why its channels are refused
  // ("" when they are not).
  std::string RefusalFor(const std::string& peer) const;
  // The cumulative ack for channel peer->self as durably delivered, for a
  // BatchReply: true (and *ack filled) when something is delivered and the
  // peer's transmission showed it knew less (`peer_knows_through`, the
  // highest acked_through its envelopes carried; 0 for an empty probe).
  // Leaves the ack due for this node's own transmissions too.
  bool ReplyAck(const std::string& peer, uint64_t peer_knows_through, v1::Ack* ack) const;

  // --- network, replies (sender threads) ---
  // The reply to a transmission to `peer` that carried `sent_incarnation`:
  // learns a re-created receiver (another incarnation) and a refusal, and
  // breaks the channels so both ends report it; applies the acks it carries
  // (as OnAck; a rejected one is logged).
  void OnReply(const std::string& peer, const v1::BatchReply& reply, const std::string& sent_incarnation);

  // --- going back in time ---
  // Non-empty once this node found that its own store went back in time:
  // the reason. The turn loop then gives the store a new incarnation
  // durably and calls Reincarnated(). Kept in checkpoints (Snapshot) until
  // then, so a crash in between does not forget it. Any thread.
  std::string ReincarnationRequest() const;
  // This node's store went back in time (e.g. it fell back to an older
  // checkpoint at start): breaks every channel and asks for a new
  // incarnation, as when the channels find it themselves.
  void WentBack(const std::string& reason);
  // The store now has incarnation `incarnation`: every channel is broken
  // (ken.send throws), and each peer is told (a notice batch, sent until the
  // peer replies to a transmission carrying the new incarnation; kept in
  // checkpoints until then).
  void Reincarnated(const std::string& incarnation);

  // --- network, sending (one sender per peer) ---
  // What to send to `peer` now: due envelopes (marked sent, next retransmit
  // scheduled) and the ack if one is due. Empty batch: nothing to do.
  // `retransmitted` (optional) counts envelopes sent before. `notice`
  // (optional) is set when the batch must be sent even if empty: it tells
  // the peer this node's new incarnation.
  v1::Batch TakeDue(const std::string& peer, int* retransmitted = nullptr, bool* notice = nullptr);
  // The transmission failed (`error`: why, in gRPC's words, for Status):
  // its ack is due again; envelopes stay on their backoff schedule; the
  // peer counts as unreachable from now until a transmission succeeds.
  // `OnSendOk` after failures makes the whole outbox due.
  void OnSendFailed(const std::string& peer, const std::string& error = "");
  void OnSendOk(const std::string& peer);
  // When TakeDue(peer) will next have something (ms, Clock time); INT64_MAX if
  // nothing is pending.
  int64_t NextDueMs(const std::string& peer) const;

  // Per-channel counters for the admin Status RPC.
  std::vector<v1::ChannelStatus> Status() const;
  size_t UnackedTotal() const;

 private:
  struct Pending {
    std::string payload;
    uint64_t stamp = 0;
    int attempts = 0;       // transmissions so far
    int64_t next_send_ms = 0;
    int64_t committed_ms = 0;  // Clock time it joined the outbox (or was restored)
  };
  struct Out {
    uint64_t next_seq = 1;
    uint64_t acked_through = 0;
    std::string peer_incarnation;
    std::map<uint64_t, Pending> unacked;
    size_t unacked_bytes = 0;
    uint64_t retransmits = 0;
    bool failing = false;
    // Whether a transmission has succeeded or failed since start, and when
    // the last one changed `failing` (Clock ms).
    bool reachability_known = false;
    int64_t reachability_changed_ms = 0;
    std::string last_send_error;
    uint64_t payload_bytes_sent = 0;  // envelopes' payloads put into transmissions, retransmits included
    uint64_t payload_bytes_committed = 0;  // payloads of envelopes that joined the outbox by commits
    bool notice_due = false;  // tell the peer this node's (new) incarnation
    std::string error;
  };
  struct In {
    uint64_t delivered_through = 0;
    uint64_t delivered_stamp = 0;
    uint64_t taken_through = 0;  // >= delivered_through: handed to a batch
    std::string peer_incarnation;
    std::map<uint64_t, v1::Envelope> buffered;
    uint64_t duplicates = 0;
    uint64_t deferred = 0;
    bool ack_due = false;
    std::string error;
  };

  int64_t RetransmitDelayMs(int attempts) const;
  // OnReply without the acks: went-back, incarnation and refusal.
  void ApplyReplyHeader(const std::string& peer, const v1::BatchReply& reply, const std::string& sent_incarnation);
  // The cumulative ack for channel peer->self_.
  void FillAckLocked(const std::string& peer, const In& in, v1::Ack* ack) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks both directions with `peer` broken (first reason wins).
  void BreakLocked(const std::string& peer, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // This node's store went back in time: break everything, ask for a new
  // incarnation.
  void WentBackLocked(const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string self_;
  std::string incarnation_ ABSL_GUARDED_BY(mu_);
  std::string reincarnation_request_ ABSL_GUARDED_BY(mu_);
  bool reincarnated_ ABSL_GUARDED_BY(mu_) = false;  // by this process
  const uint64_t stamp_;
  const std::vector<std::string> peers_;
  const Clock* clock_;
  const ChannelOptions options_;
  mutable Mutex mu_;
  std::map<std::string, Out> out_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, In> in_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ken

#endif  // KEN_MESSAGING_CHANNELS_H_
