// Fuzz target: what a node does with bytes from the network. Each input is a
// program of operations on one node's Channels ("b", peers "a" and "c"):
// transmissions (a v1::Batch decoded from fuzzed bytes, through
// ReceiveBatch as the transport's Deliver runs it), replies to its own
// transmissions (a v1::BatchReply from fuzzed bytes, through OnReply), and
// the node's own turns, sends, deliveries, retransmissions, restarts and
// reincarnations in between, so that hostile bytes meet every channel state;
// restarts may also restore a NodeState decoded from fuzzed bytes.
// Checks: no crash or sanitizer report; the checkpoint state round-trips.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/clock.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/support.h"
#include "messaging/channels.h"
#include "messaging/inbound.h"
#include "proto/ken.pb.h"
#include "proto/state.pb.h"
#include "spdlog/spdlog.h"

namespace ken::fuzz {
namespace {

const std::vector<std::string> kPeers = {"a", "c"};

ChannelOptions SmallOptions() {
  ChannelOptions o;
  o.max_unacked_messages = 64;
  o.max_unacked_bytes = 1 << 16;
  o.max_buffered_messages = 32;
  o.max_batch_envelopes = 16;
  o.max_message_bytes = 1 << 12;
  return o;
}

void Run(FuzzInput& in) {
  FakeClock clock;
  auto channels = std::make_unique<Channels>("b", "inc-b", kPeers, &clock, SmallOptions(), 7);
  std::string incarnation = "inc-b";
  int reincarnations = 0;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const std::string& peer = kPeers[op >> 7];
    switch (op % 8) {
      case 0: {  // a transmission from the network
        v1::Batch batch;
        if (!batch.ParseFromString(in.Chunk())) break;
        if (channels->IsPeer(batch.from())) ReceiveBatch(*channels, batch);
        break;
      }
      case 1: {  // the reply to one of this node's transmissions
        v1::BatchReply reply;
        if (!reply.ParseFromString(in.Chunk())) break;
        channels->OnReply(peer, reply, incarnation);
        break;
      }
      case 2: {  // a turn sends (and commits, or aborts)
        ChannelBatch batch = channels->BeginBatch();
        std::string error;
        std::string payload = "\xFF\x0F" + in.Chunk();
        channels->Stage(batch, peer, payload, &error);
        if (in.Byte() & 1) channels->CommitBatch(batch); else channels->AbortBatch(batch);
        break;
      }
      case 3: {  // turns deliver what arrived (committed, or aborted)
        ChannelBatch batch = channels->BeginBatch();
        for (const v1::Envelope& e : channels->TakeDeliverable(in.Byte() % 8 + 1)) {
          channels->MarkDelivered(batch, e.src(), e.seq());
        }
        if (in.Byte() & 1) channels->CommitBatch(batch); else channels->AbortBatch(batch);
        break;
      }
      case 4: {  // the sender to `peer` runs; the transmission works or fails
        int retransmitted = 0;
        bool notice = false;
        v1::Batch out = channels->TakeDue(peer, &retransmitted, &notice);
        if (in.Byte() & 1) channels->OnSendOk(peer); else channels->OnSendFailed(peer);
        break;
      }
      case 5:
        clock.Advance(in.U16());
        break;
      case 6: {  // a restart from the checkpoint state (what a commit stores)
        const uint8_t how = in.Byte();
        v1::NodeState reread;
        if (how & 0x80) {  // from a state of fuzzed bytes (as if its CRC had verified)
          if (!reread.ParseFromString(in.Chunk())) break;
        } else {
          v1::NodeState state;
          channels->Snapshot(nullptr, &state, /*with_outbox=*/true);
          if (!reread.ParseFromString(state.SerializeAsString())) abort();  // a state Ken wrote must read back
        }
        channels = std::make_unique<Channels>("b", incarnation, kPeers, &clock, SmallOptions(), 7 + how);
        channels->Restore(reread);
        break;
      }
      case 7:  // the store went back in time and took a new incarnation
        if (reincarnations++ < 4) {
          channels->WentBack("fuzz");
          incarnation = "inc-b" + std::to_string(reincarnations);
          channels->Reincarnated(incarnation);
        }
        break;
    }
    channels->Status();
  }
}

}  // namespace
}  // namespace ken::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ken::fuzz::QuietLogs();
  ken::fuzz::FuzzInput in(data, size);
  ken::fuzz::Run(in);
  return 0;
}
