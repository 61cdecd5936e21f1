// What a node does with a transmission it received (a v1::Batch from the
// wire, already authenticated by the transport): checks the sender's
// incarnation, checks each envelope and hands it to Channels::Receive,
// applies the acks, and fills the reply. Split from the gRPC service so that
// the whole path from decoded bytes to channel state can be tested and
// fuzzed without a server (fuzz/envelope_fuzzer.cc).
#ifndef KEN_MESSAGING_INBOUND_H_
#define KEN_MESSAGING_INBOUND_H_

#include "messaging/channels.h"
#include "proto/ken.pb.h"

namespace ken {

// V8's ValueSerializer output starts with kVersionTag (0xFF) and a version
// (at most 15 in V8 10.2). Payloads that do not are refused at the wire:
// a node never hands them to V8's deserializer.
bool LooksSerialized(const std::string& payload);

// Applies `batch` (sent by batch.from(), which the caller has checked is a
// peer: Channels::IsPeer) to `channels` and returns the reply for the
// sender. Every refusal is logged (warn) and counted in the reply; nothing
// in `batch` can make it fail or throw. Any thread (Channels locks).
// `crash_point` (optional) runs after each envelope queued for delivery
// (the chaos tests' "after_receive"). `*applied` (optional) is set to false
// when the whole transmission was refused (broken channels with the
// sender: nothing in it was looked at), true otherwise.
v1::BatchReply ReceiveBatch(Channels& channels, const v1::Batch& batch, void (*crash_point)() = nullptr,
                            bool* applied = nullptr);

}  // namespace ken

#endif  // KEN_MESSAGING_INBOUND_H_
