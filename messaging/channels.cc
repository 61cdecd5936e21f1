#include "messaging/channels.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ken {

Channels::Channels(std::string self, std::string incarnation, std::vector<std::string> peers,
                   const Clock* clock, ChannelOptions options, uint64_t stamp)
    : self_(std::move(self)),
      incarnation_(std::move(incarnation)),
      stamp_(stamp == 0 ? 1 : stamp),
      peers_(std::move(peers)),
      clock_(clock),
      options_(options) {
  MutexLock l(&mu_);
  for (const std::string& p : peers_) {
    out_[p];
    in_[p];
  }
}

std::string Channels::incarnation() const {
  MutexLock l(&mu_);
  return incarnation_;
}

bool Channels::IsPeer(const std::string& id) const {
  return std::find(peers_.begin(), peers_.end(), id) != peers_.end();
}

void Channels::Restore(const v1::NodeState& state, const std::vector<v1::Envelope>* outbox) {
  MutexLock l(&mu_);
  int64_t now = clock_->NowMs();
  for (const v1::OutChannelState& o : state.out()) {
    auto it = out_.find(o.peer());
    if (it == out_.end()) {
      if (o.unacked_size() > 0) {
        spdlog::error("channel {}->{}: {} unacked envelopes to a node no longer in the cluster config; kept",
                      self_, o.peer(), o.unacked_size());
      }
      // Keep it so the envelopes are not lost if the peer comes back.
      it = out_.emplace(o.peer(), Out()).first;
    }
    Out& out = it->second;
    out.next_seq = std::max<uint64_t>(o.next_seq(), 1);
    out.acked_through = o.acked_through();
    out.peer_incarnation = o.peer_incarnation();
    out.error = o.error();
    out.notice_due = o.notice_due();
    if (outbox != nullptr) continue;
    for (const v1::StoredEnvelope& e : o.unacked()) {
      Pending p;
      p.payload = e.payload();
      p.stamp = e.stamp();
      p.next_send_ms = now;
      p.committed_ms = now;
      out.unacked_bytes += p.payload.size();
      out.unacked.emplace(e.seq(), std::move(p));
    }
  }
  if (outbox != nullptr) {
    for (const v1::Envelope& e : *outbox) {
      auto it = out_.find(e.dst());
      if (it == out_.end()) {
        // Kept so the envelopes are not lost if the peer comes back.
        spdlog::error("channel {}->{}: unacked envelope #{} to a node no longer in the cluster config; kept", self_,
                      e.dst(), e.seq());
        it = out_.emplace(e.dst(), Out()).first;
      }
      Out& out = it->second;
      if (e.seq() <= out.acked_through) continue;
      Pending p;
      p.payload = e.payload();
      p.stamp = e.stamp();
      p.next_send_ms = now;
      p.committed_ms = now;
      out.unacked_bytes += p.payload.size();
      out.unacked.emplace(e.seq(), std::move(p));
      out.next_seq = std::max(out.next_seq, e.seq() + 1);
    }
  }
  reincarnation_request_ = state.went_back();
  for (const v1::InChannelState& i : state.in()) {
    In& in = in_[i.peer()];
    in.delivered_through = i.delivered_through();
    in.delivered_stamp = i.delivered_stamp();
    in.taken_through = i.delivered_through();
    in.peer_incarnation = i.peer_incarnation();
    in.error = i.error();
    in.ack_due = in.delivered_through > 0;  // the peer may have missed the last ack
  }
}

std::map<std::string, uint64_t> Channels::AckedThrough() const {
  MutexLock l(&mu_);
  std::map<std::string, uint64_t> acked;
  for (const auto& [peer, out] : out_) acked[peer] = out.acked_through;
  return acked;
}

void Channels::Snapshot(const ChannelBatch* batch, v1::NodeState* state, bool with_outbox) const {
  MutexLock l(&mu_);
  state->clear_out();
  state->clear_in();
  for (const auto& [peer, out] : out_) {
    v1::OutChannelState* o = state->add_out();
    o->set_peer(peer);
    o->set_next_seq(out.next_seq);
    o->set_acked_through(out.acked_through);
    o->set_peer_incarnation(out.peer_incarnation);
    o->set_error(out.error);
    o->set_notice_due(out.notice_due);
    if (batch != nullptr) {
      auto next = batch->next_seq_.find(peer);
      if (next != batch->next_seq_.end()) o->set_next_seq(next->second);
    }
    if (!with_outbox) continue;
    for (const auto& [seq, pending] : out.unacked) {
      v1::StoredEnvelope* e = o->add_unacked();
      e->set_seq(seq);
      e->set_payload(pending.payload);
      e->set_stamp(pending.stamp);
    }
    if (batch != nullptr) {
      for (const std::vector<ChannelBatch::Send>* list : {&batch->inherited_, &batch->sends_}) {
        for (const ChannelBatch::Send& s : *list) {
          if (s.dst != peer || out.unacked.count(s.seq)) continue;
          v1::StoredEnvelope* e = o->add_unacked();
          e->set_seq(s.seq);
          e->set_payload(s.payload);
          e->set_stamp(stamp_);
        }
      }
    }
  }
  for (const auto& [peer, in] : in_) {
    v1::InChannelState* i = state->add_in();
    i->set_peer(peer);
    uint64_t through = in.delivered_through;
    uint64_t stamp = in.delivered_stamp;
    if (batch != nullptr) {
      auto d = batch->delivered_.find(peer);
      if (d != batch->delivered_.end() && d->second > through) {
        through = d->second;
        auto b = in.buffered.find(through);
        stamp = b != in.buffered.end() ? b->second.stamp() : 0;
      }
    }
    i->set_delivered_through(through);
    i->set_delivered_stamp(stamp);
    i->set_peer_incarnation(in.peer_incarnation);
    i->set_error(in.error);
  }
  state->set_went_back(reincarnation_request_);
}

ChannelBatch Channels::BeginBatch(const ChannelBatch* parent) const {
  ChannelBatch batch;
  if (parent != nullptr) {
    batch.next_seq_ = parent->next_seq_;
    batch.delivered_ = parent->delivered_;
    batch.staged_ = parent->staged_;
    batch.inherited_ = parent->inherited_;
    batch.inherited_.insert(batch.inherited_.end(), parent->sends_.begin(), parent->sends_.end());
  }
  return batch;
}

std::optional<uint64_t> Channels::Stage(ChannelBatch& batch, const std::string& dst,
                                        std::string payload, std::string* error) const {
  if (!IsPeer(dst)) {
    // The name comes from the program: quote at most 100 bytes of it.
    const std::string shown = dst.size() > 100 ? absl::StrCat(dst.substr(0, 100), "...") : dst;
    *error = dst == self_ ? absl::StrCat("ken.send: cannot send to itself ('", dst, "')")
                          : absl::StrCat("ken.send: unknown destination '", shown, "'");
    return std::nullopt;
  }
  if (payload.size() > options_.max_message_bytes) {
    *error = absl::StrCat("ken.send: message of ", payload.size(), " bytes exceeds max_message_bytes (",
                          options_.max_message_bytes, ")");
    return std::nullopt;
  }
  std::pair<size_t, size_t>& staged_here = batch.staged_[dst];
  const size_t staged = staged_here.first, staged_bytes = staged_here.second;
  size_t staged_total = 0;
  for (const auto& [d, counts] : batch.staged_) staged_total += counts.second;
  uint64_t seq;
  {
    MutexLock l(&mu_);
    const Out& out = out_.at(dst);
    if (!out.error.empty()) {
      *error = absl::StrCat("ken.send: channel ", self_, "->", dst, " is broken: ", out.error);
      return std::nullopt;
    }
    if (out.unacked.size() + staged >= options_.max_unacked_messages) {
      *error = absl::StrCat("ken.send: ", out.unacked.size() + staged, " messages to '", dst,
                            "' are not yet acknowledged, the limit (max_unacked_messages ",
                            options_.max_unacked_messages, "); '", dst, "' is down or slow: try again later");
      return std::nullopt;
    }
    if (payload.size() > options_.max_unacked_bytes) {
      *error = absl::StrCat("ken.send: a message of ", payload.size(), " bytes can never be sent to '", dst,
                            "': it is larger than max_unacked_bytes (", options_.max_unacked_bytes, ")");
      return std::nullopt;
    }
    if (out.unacked_bytes + staged_bytes + payload.size() > options_.max_unacked_bytes) {
      *error = absl::StrCat("ken.send: messages to '", dst, "' not yet acknowledged would take ",
                            out.unacked_bytes + staged_bytes + payload.size(), " bytes, over max_unacked_bytes (",
                            options_.max_unacked_bytes, "); '", dst, "' is down or slow: try again later");
      return std::nullopt;
    }
    if (options_.max_total_unacked_bytes > 0) {
      size_t total = staged_total + payload.size();
      for (const auto& [peer, o] : out_) total += o.unacked_bytes;
      if (total > options_.max_total_unacked_bytes) {
        *error = absl::StrCat("ken.send: messages not yet acknowledged by all peers would take ", total,
                              " bytes, over the node's limit (", options_.max_total_unacked_bytes,
                              "); peers are down or slow: try again later");
        return std::nullopt;
      }
    }
    auto it = batch.next_seq_.find(dst);
    seq = it == batch.next_seq_.end() ? out.next_seq : it->second;
  }
  ++staged_here.first;
  staged_here.second += payload.size();
  batch.next_seq_[dst] = seq + 1;
  batch.sends_.push_back({dst, seq, std::move(payload)});
  return seq;
}

void Channels::MarkDelivered(ChannelBatch& batch, const std::string& src, uint64_t seq) const {
  uint64_t& d = batch.delivered_[src];
  d = std::max(d, seq);
}

void Channels::CommitBatch(const ChannelBatch& batch) {
  MutexLock l(&mu_);
  int64_t now = clock_->NowMs();
  for (const auto& [dst, next] : batch.next_seq_) out_[dst].next_seq = std::max(out_[dst].next_seq, next);
  for (const ChannelBatch::Send& s : batch.sends_) {
    Pending p;
    p.payload = s.payload;
    p.stamp = stamp_;
    p.next_send_ms = now;
    p.committed_ms = now;
    Out& out = out_[s.dst];
    out.unacked_bytes += p.payload.size();
    out.payload_bytes_committed += p.payload.size();
    out.unacked.emplace(s.seq, std::move(p));
  }
  for (const auto& [src, seq] : batch.delivered_) {
    In& in = in_[src];
    if (seq > in.delivered_through) {
      auto b = in.buffered.find(seq);
      in.delivered_stamp = b != in.buffered.end() ? b->second.stamp() : 0;
      in.delivered_through = seq;
      in.ack_due = true;
    }
    in.taken_through = std::max(in.taken_through, in.delivered_through);
    in.buffered.erase(in.buffered.begin(), in.buffered.upper_bound(in.delivered_through));
  }
}

void Channels::AbortBatch(const ChannelBatch& batch) {
  MutexLock l(&mu_);
  for (auto& [src, in] : in_) in.taken_through = in.delivered_through;
}

std::vector<v1::Envelope> Channels::TakeDeliverable(size_t max) {
  MutexLock l(&mu_);
  std::vector<v1::Envelope> out;
  bool progress = true;
  // Round-robin over sources so one busy channel cannot starve the others.
  while (progress && out.size() < max) {
    progress = false;
    for (auto& [src, in] : in_) {
      if (out.size() >= max) break;
      if (!in.error.empty()) continue;
      auto it = in.buffered.find(in.taken_through + 1);
      if (it == in.buffered.end()) continue;
      out.push_back(it->second);
      in.taken_through = it->first;
      progress = true;
    }
  }
  return out;
}

size_t Channels::DeliverableCount() const {
  MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [src, in] : in_) {
    if (!in.error.empty()) continue;
    for (uint64_t seq = in.taken_through + 1; in.buffered.count(seq); ++seq) ++n;
  }
  return n;
}

void Channels::BreakLocked(const std::string& peer, const std::string& reason) {
  Out& out = out_[peer];
  In& in = in_[peer];
  if (out.error.empty() && in.error.empty()) {
    spdlog::error("channels {} <-> {} broken: {}", self_, peer, reason);
  }
  if (out.error.empty()) out.error = reason;
  if (in.error.empty()) in.error = reason;
  in.buffered.clear();
}

void Channels::WentBackLocked(const std::string& reason) {
  if (!reincarnation_request_.empty() || reincarnated_) return;
  reincarnation_request_ = reason;
  spdlog::error("{}", reason);
  for (const std::string& peer : peers_) {
    BreakLocked(peer, absl::StrCat("this node's store went back in time (", reason,
                                   "); it takes a new incarnation (see README, Store incarnations)"));
  }
}

bool Channels::CheckBatch(const v1::Batch& batch, std::string* reason) {
  MutexLock l(&mu_);
  if (!IsPeer(batch.from())) return true;  // the transport refuses it
  In& in = in_[batch.from()];
  Out& out = out_[batch.from()];
  const std::string& known = !in.peer_incarnation.empty() ? in.peer_incarnation : out.peer_incarnation;
  if (!batch.incarnation().empty() && !known.empty() && batch.incarnation() != known) {
    BreakLocked(batch.from(),
                absl::StrCat("node '", batch.from(), "' now has store incarnation ", batch.incarnation(),
                             " but was ", known,
                             " (its store was re-created or went back in time); its channels are refused"));
  }
  if (!in.error.empty()) {
    *reason = in.error;
    return false;
  }
  return true;
}

Channels::Verdict Channels::Receive(const v1::Envelope& e, std::string* reason, bool* sender_went_back) {
  if (e.dst() != self_) {
    *reason = absl::StrCat("envelope for '", e.dst(), "' reached node '", self_, "'");
    return Verdict::kRejected;
  }
  if (!IsPeer(e.src())) {
    *reason = absl::StrCat("envelope from unknown node '", e.src(), "'");
    return Verdict::kRejected;
  }
  if (e.seq() == 0) {
    *reason = absl::StrCat("envelope ", e.src(), "->", self_, " has seq 0 (sequence numbers start at 1)");
    return Verdict::kRejected;
  }
  if (e.payload().size() > options_.max_message_bytes) {
    *reason = absl::StrCat("envelope ", e.src(), "->", self_, " #", e.seq(), " has ", e.payload().size(),
                           " bytes, over max_message_bytes (", options_.max_message_bytes, ")");
    return Verdict::kRejected;
  }
  MutexLock l(&mu_);
  In& in = in_[e.src()];
  if (!e.dst_incarnation().empty() && e.dst_incarnation() != incarnation_) {
    BreakLocked(e.src(), absl::StrCat("node '", e.src(), "' sends messages addressed to store incarnation ",
                                      e.dst_incarnation(), " of '", self_, "', but this store is incarnation ",
                                      incarnation_,
                                      " (this node's store was re-created or went back in time; see README, "
                                      "Store incarnations)"));
  }
  if (!in.error.empty()) {
    *reason = in.error;
    return Verdict::kRejected;
  }
  if (in.peer_incarnation.empty()) {
    in.peer_incarnation = e.src_incarnation();
  } else if (e.src_incarnation() != in.peer_incarnation) {
    BreakLocked(e.src(), absl::StrCat("channel ", e.src(), "->", self_, ": node '", e.src(),
                                      "' now has store incarnation ", e.src_incarnation(),
                                      " but its messages so far came from ", in.peer_incarnation,
                                      " (its store was re-created); refusing its messages"));
    *reason = in.error;
    return Verdict::kRejected;
  }
  if (e.acked_through() > in.delivered_through) {
    // The peer holds an ack from this node for messages this store has not
    // delivered: the store lost commits it had made.
    WentBackLocked(absl::StrCat("channel ", e.src(), "->", self_, ": '", e.src(), "' says '", self_,
                                "' acknowledged up to #", e.acked_through(), ", but this store has delivered only #",
                                in.delivered_through, ": it went back in time (restored from a copy?)"));
    *reason = in.error;
    return Verdict::kRejected;
  }
  if (e.seq() == in.delivered_through && in.delivered_stamp != 0 && e.stamp() != 0 &&
      e.stamp() != in.delivered_stamp) {
    BreakLocked(e.src(), absl::StrCat("channel ", e.src(), "->", self_, ": envelope #", e.seq(),
                                      " came again with lineage stamp ", e.stamp(), " but #", e.seq(),
                                      " was delivered with ", in.delivered_stamp, ": the store of '", e.src(),
                                      "' went back in time and re-used sequence numbers; refusing its messages"));
    if (sender_went_back != nullptr) *sender_went_back = true;
    *reason = in.error;
    return Verdict::kRejected;
  }
  if (e.seq() <= in.delivered_through) {
    ++in.duplicates;
    in.ack_due = true;  // the sender missed an ack
    return Verdict::kDuplicate;
  }
  if (in.buffered.count(e.seq())) return Verdict::kQueued;  // already buffered (a retransmission)
  if (in.buffered.size() >= options_.max_buffered_messages) {
    // Keep only what fills the first gap; the sender retransmits the rest.
    // (A full buffer with no gap holds deliverable envelopes only: it drains
    // as they are delivered, so nothing more is kept meanwhile.)
    uint64_t first_missing = in.delivered_through + 1;
    for (auto it = in.buffered.begin(); it != in.buffered.end() && it->first == first_missing; ++it) ++first_missing;
    if (e.seq() != first_missing || first_missing > in.buffered.rbegin()->first) {
      ++in.deferred;
      return Verdict::kDeferred;
    }
  }
  in.buffered.emplace(e.seq(), e);
  return Verdict::kQueued;
}

bool Channels::OnAck(const v1::Ack& ack, std::string* reason) {
  if (ack.src() != self_ || !IsPeer(ack.dst())) {
    *reason = absl::StrCat("ack for channel ", ack.src(), "->", ack.dst(), " reached node '", self_, "'");
    return false;
  }
  MutexLock l(&mu_);
  if (ack.src_incarnation() != incarnation_) {
    *reason = absl::StrCat("ack from '", ack.dst(), "' is for store incarnation ", ack.src_incarnation(),
                           " of '", self_, "', but this store is incarnation ", incarnation_);
    return false;
  }
  Out& out = out_[ack.dst()];
  if (!out.error.empty()) {
    *reason = absl::StrCat("ack on broken channel ", self_, "->", ack.dst(), ": ", out.error);
    return false;
  }
  if (out.peer_incarnation.empty()) {
    out.peer_incarnation = ack.dst_incarnation();
  } else if (ack.dst_incarnation() != out.peer_incarnation) {
    BreakLocked(ack.dst(), absl::StrCat("node '", ack.dst(), "' now has store incarnation ", ack.dst_incarnation(),
                                        " but acked ", out.peer_incarnation, " before (its store was re-created); ",
                                        out.unacked.size(), " unacked messages are held, not resent"));
    *reason = absl::StrCat("channel ", self_, "->", ack.dst(), ": ", out.error);
    return false;
  }
  if (ack.acked_through() >= out.next_seq) {
    WentBackLocked(absl::StrCat("channel ", self_, "->", ack.dst(), ": '", ack.dst(), "' acknowledges #",
                                ack.acked_through(), " but this store has sent only up to #", out.next_seq - 1,
                                ": it went back in time (restored from a copy?)"));
    *reason = out.error;
    return false;
  }
  auto sent = out.unacked.find(ack.acked_through());
  if (sent != out.unacked.end() && ack.acked_stamp() != 0 && sent->second.stamp != 0 &&
      sent->second.stamp != ack.acked_stamp()) {
    WentBackLocked(absl::StrCat("channel ", self_, "->", ack.dst(), ": '", ack.dst(), "' delivered #",
                                ack.acked_through(), " with lineage stamp ", ack.acked_stamp(),
                                ", but this store's #", ack.acked_through(), " has stamp ", sent->second.stamp,
                                ": it went back in time and re-used sequence numbers (restored from a copy?)"));
    *reason = out.error;
    return false;
  }
  out.acked_through = std::max(out.acked_through, ack.acked_through());
  auto end = out.unacked.upper_bound(out.acked_through);
  for (auto it = out.unacked.begin(); it != end; ++it) out.unacked_bytes -= it->second.payload.size();
  out.unacked.erase(out.unacked.begin(), end);
  return true;
}

std::string Channels::RefusalFor(const std::string& peer) const {
  MutexLock l(&mu_);
  auto it = in_.find(peer);
  if (it != in_.end() && !it->second.error.empty()) return it->second.error;
  auto o = out_.find(peer);
  return o != out_.end() ? o->second.error : std::string();
}

void Channels::FillAckLocked(const std::string& peer, const In& in, v1::Ack* ack) const {
  ack->set_src(peer);
  ack->set_dst(self_);
  ack->set_acked_through(in.delivered_through);
  ack->set_acked_stamp(in.delivered_stamp);
  ack->set_src_incarnation(in.peer_incarnation);
  ack->set_dst_incarnation(incarnation_);
}

bool Channels::ReplyAck(const std::string& peer, uint64_t peer_knows_through, v1::Ack* ack) const {
  MutexLock l(&mu_);
  auto it = in_.find(peer);
  if (it == in_.end() || !it->second.error.empty() || it->second.delivered_through == 0) return false;
  if (it->second.delivered_through <= peer_knows_through) return false;
  FillAckLocked(peer, it->second, ack);
  return true;
}

void Channels::OnReply(const std::string& peer, const v1::BatchReply& reply, const std::string& sent_incarnation) {
  ApplyReplyHeader(peer, reply, sent_incarnation);
  for (const v1::Ack& ack : reply.acks()) {
    std::string reason;
    if (ack.dst() != peer) {
      spdlog::warn("rejected an ack for channel {}->{} in a reply from '{}'", ack.src(), ack.dst(), peer);
    } else if (!OnAck(ack, &reason)) {
      spdlog::warn("rejected {} (in a reply)", reason);
    }
  }
}

void Channels::ApplyReplyHeader(const std::string& peer, const v1::BatchReply& reply,
                                const std::string& sent_incarnation) {
  MutexLock l(&mu_);
  // Only a transmission that carried the current incarnation told the peer.
  if (sent_incarnation == incarnation_) out_[peer].notice_due = false;
  if (reply.sender_went_back()) {
    WentBackLocked(absl::StrCat("node '", peer, "' found that this store re-sent sequence numbers it had "
                                "delivered before: it went back in time (restored from a copy?)"));
    return;
  }
  Out& out = out_[peer];
  In& in = in_[peer];
  const std::string& known = !out.peer_incarnation.empty() ? out.peer_incarnation : in.peer_incarnation;
  if (!reply.incarnation().empty() && !known.empty() && reply.incarnation() != known) {
    BreakLocked(peer, absl::StrCat("node '", peer, "' now has store incarnation ", reply.incarnation(), " but was ",
                                   known, " (its store was re-created or went back in time); ", out.unacked.size(),
                                   " unacked messages are held, not resent"));
  }
  if (!reply.refused().empty() && out.error.empty()) {
    BreakLocked(peer, absl::StrCat("node '", peer, "' refuses the channels with '", self_, "': ", reply.refused()));
  }
}

std::string Channels::ReincarnationRequest() const {
  MutexLock l(&mu_);
  return reincarnation_request_;
}

void Channels::WentBack(const std::string& reason) {
  MutexLock l(&mu_);
  WentBackLocked(reason);
}

void Channels::Reincarnated(const std::string& incarnation) {
  MutexLock l(&mu_);
  incarnation_ = incarnation;
  reincarnation_request_.clear();
  reincarnated_ = true;
  for (auto& [peer, out] : out_) out.notice_due = true;
}

int64_t Channels::RetransmitDelayMs(int attempts) const {
  int64_t delay = options_.retransmit_base_ms;
  for (int i = 1; i < attempts && delay < options_.retransmit_cap_ms; ++i) delay *= 2;
  return std::min(delay, options_.retransmit_cap_ms);
}

v1::Batch Channels::TakeDue(const std::string& peer, int* retransmitted, bool* notice) {
  if (retransmitted != nullptr) *retransmitted = 0;
  if (notice != nullptr) *notice = false;
  v1::Batch batch;
  batch.set_from(self_);
  MutexLock l(&mu_);
  batch.set_incarnation(incarnation_);
  int64_t now = clock_->NowMs();
  auto oit = out_.find(peer);
  if (oit != out_.end() && oit->second.error.empty()) {
    Out& out = oit->second;
    size_t bytes = 0;
    // While the peer is failing, a transmission carries one envelope (the
    // oldest due): it probes the peer without re-sending the whole outbox
    // each time; OnSendOk makes everything due once the peer answers.
    const int max_envelopes = out.failing ? 1 : static_cast<int>(options_.max_batch_envelopes);
    for (auto& [seq, pending] : out.unacked) {
      if (pending.next_send_ms > now) continue;
      if (batch.envelopes_size() >= max_envelopes) break;
      if (batch.envelopes_size() > 0 && bytes + pending.payload.size() > options_.max_batch_bytes) break;
      v1::Envelope* e = batch.add_envelopes();
      e->set_src(self_);
      e->set_dst(peer);
      e->set_seq(seq);
      e->set_payload(pending.payload);
      e->set_src_incarnation(incarnation_);
      e->set_dst_incarnation(out.peer_incarnation);
      e->set_stamp(pending.stamp);
      e->set_acked_through(out.acked_through);
      bytes += pending.payload.size();
      out.payload_bytes_sent += pending.payload.size();
      if (pending.attempts > 0) {
        ++out.retransmits;
        if (retransmitted != nullptr) ++*retransmitted;
      }
      ++pending.attempts;
      pending.next_send_ms = now + RetransmitDelayMs(pending.attempts);
    }
  }
  auto iit = in_.find(peer);
  if (iit != in_.end() && iit->second.ack_due && iit->second.error.empty()) {
    In& in = iit->second;
    FillAckLocked(peer, in, batch.add_acks());
    in.ack_due = false;
  }
  if (oit != out_.end() && oit->second.notice_due) {
    // A transmission with nothing in it still carries this node's
    // incarnation: the peer learns of the change and breaks its channels.
    if (notice != nullptr) *notice = true;  // until a reply arrives (OnReply)
  }
  return batch;
}

void Channels::OnSendFailed(const std::string& peer, const std::string& error) {
  MutexLock l(&mu_);
  auto iit = in_.find(peer);
  if (iit != in_.end() && iit->second.delivered_through > 0) iit->second.ack_due = true;
  auto oit = out_.find(peer);
  if (oit == out_.end()) return;
  Out& out = oit->second;
  if (!out.failing || !out.reachability_known) out.reachability_changed_ms = clock_->NowMs();
  out.failing = true;
  out.reachability_known = true;
  out.last_send_error = error;
}

void Channels::OnSendOk(const std::string& peer) {
  MutexLock l(&mu_);
  auto oit = out_.find(peer);
  if (oit == out_.end()) return;
  int64_t now = clock_->NowMs();
  if (!oit->second.reachability_known) oit->second.reachability_changed_ms = now;
  oit->second.reachability_known = true;
  if (!oit->second.failing) return;
  // Reconnected: everything unacked goes again now rather than on backoff.
  oit->second.failing = false;
  oit->second.reachability_changed_ms = now;
  oit->second.last_send_error.clear();
  for (auto& [seq, pending] : oit->second.unacked) pending.next_send_ms = now;
}

int64_t Channels::NextDueMs(const std::string& peer) const {
  MutexLock l(&mu_);
  int64_t next = INT64_MAX;
  auto iit = in_.find(peer);
  if (iit != in_.end() && iit->second.ack_due && iit->second.error.empty()) return clock_->NowMs();
  auto oit = out_.find(peer);
  if (oit != out_.end() && oit->second.notice_due) return clock_->NowMs();
  if (oit != out_.end() && oit->second.error.empty()) {
    for (const auto& [seq, pending] : oit->second.unacked) next = std::min(next, pending.next_send_ms);
  }
  return next;
}

std::vector<v1::ChannelStatus> Channels::Status() const {
  MutexLock l(&mu_);
  const int64_t now = clock_->NowMs();
  std::vector<v1::ChannelStatus> result;
  for (const std::string& peer : peers_) {
    v1::ChannelStatus s;
    s.set_peer(peer);
    const Out& out = out_.at(peer);
    const In& in = in_.at(peer);
    s.set_next_seq(out.next_seq);
    s.set_unacked(out.unacked.size());
    s.set_unacked_bytes(out.unacked_bytes);
    s.set_acked_through(out.acked_through);
    s.set_retransmits(out.retransmits);
    s.set_delivered_through(in.delivered_through);
    s.set_duplicates_dropped(in.duplicates);
    s.set_buffered(in.buffered.size());
    s.set_deferred(in.deferred);
    s.set_peer_incarnation(!in.peer_incarnation.empty() ? in.peer_incarnation : out.peer_incarnation);
    s.set_error(!out.error.empty() ? out.error : in.error);
    s.set_payload_bytes_sent(out.payload_bytes_sent);
    s.set_payload_bytes_committed(out.payload_bytes_committed);
    s.set_reachability_known(out.reachability_known);
    s.set_peer_reachable(out.reachability_known && !out.failing);
    if (out.reachability_known) s.set_reachability_age_ms(now - out.reachability_changed_ms);
    if (!out.unacked.empty()) s.set_oldest_unacked_age_ms(now - out.unacked.begin()->second.committed_ms);
    s.set_last_send_error(out.last_send_error);
    result.push_back(std::move(s));
  }
  return result;
}

size_t Channels::UnackedTotal() const {
  MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [peer, out] : out_) n += out.unacked.size();
  return n;
}

}  // namespace ken
