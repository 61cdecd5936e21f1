#include "messaging/inbound.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ken {

bool LooksSerialized(const std::string& payload) {
  return payload.size() >= 2 && static_cast<uint8_t>(payload[0]) == 0xFF && static_cast<uint8_t>(payload[1]) <= 15;
}

v1::BatchReply ReceiveBatch(Channels& channels, const v1::Batch& batch, void (*crash_point)(), bool* applied) {
  v1::BatchReply reply;
  std::string refusal;
  if (applied != nullptr) *applied = false;
  if (!channels.CheckBatch(batch, &refusal)) {
    spdlog::warn("refused a transmission from '{}': {}", batch.from(), refusal);
    reply.set_rejected(batch.envelopes_size());
    reply.set_incarnation(channels.incarnation());
    reply.set_refused(refusal);
    return reply;
  }
  if (applied != nullptr) *applied = true;
  uint32_t accepted = 0, rejected = 0, deferred = 0;
  bool sender_went_back = false;
  for (const v1::Envelope& e : batch.envelopes()) {
    std::string reason;
    Channels::Verdict verdict = Channels::Verdict::kRejected;
    if (e.src() != batch.from()) {
      reason = absl::StrCat("envelope claims src '", e.src(), "' inside a transmission from '", batch.from(), "'");
    } else if (!LooksSerialized(e.payload())) {
      reason = absl::StrCat("envelope ", e.src(), "->", e.dst(), " #", e.seq(),
                            " has a payload that is not a V8-serialized value (", e.payload().size(), " bytes)");
    } else {
      verdict = channels.Receive(e, &reason, &sender_went_back);
    }
    if (verdict == Channels::Verdict::kRejected) {
      ++rejected;
      spdlog::warn("rejected {}", reason);
    } else if (verdict == Channels::Verdict::kDeferred) {
      ++deferred;
    } else {
      ++accepted;
      if (verdict == Channels::Verdict::kQueued && crash_point != nullptr) crash_point();
    }
  }
  for (const v1::Ack& ack : batch.acks()) {
    std::string reason;
    if (ack.dst() != batch.from()) {
      spdlog::warn("rejected an ack for channel {}->{} sent by '{}'", ack.src(), ack.dst(), batch.from());
    } else if (!channels.OnAck(ack, &reason)) {
      spdlog::warn("rejected {}", reason);
    }
  }
  if (deferred > 0) {
    spdlog::debug("deferred {} envelopes from '{}': receive buffer full (max_buffered_messages)", deferred,
                  batch.from());
  }
  reply.set_accepted(accepted);
  reply.set_rejected(rejected);
  reply.set_deferred(deferred);
  reply.set_incarnation(channels.incarnation());  // after the envelopes: they may have changed it
  reply.set_refused(channels.RefusalFor(batch.from()));
  reply.set_sender_went_back(sender_went_back);
  // Acks normally travel in this node's own transmissions to the sender;
  // the reply carries one too when the sender showed it lacks it, so a
  // sender whose peer cannot dial it back still drains its outbox.
  uint64_t sender_knows = 0;
  for (const v1::Envelope& e : batch.envelopes()) sender_knows = std::max(sender_knows, e.acked_through());
  v1::Ack ack;
  if (channels.ReplyAck(batch.from(), sender_knows, &ack)) *reply.add_acks() = std::move(ack);
  return reply;
}

}  // namespace ken
