// Crash-point injection for crash tests: KEN_CRASH_AT=NAME or NAME:N makes
// the process exit abruptly (_exit, like kill -9: no flush, no cleanup) the
// Nth time (default 1st) execution reaches CrashPoint(NAME). Points:
//   before_commit          a batch ran; its commit has not started
//   before_release         a batch's commit is durable; none of its outputs released
//   after_send_commit      a batch with sends is durable; sends not yet released
//   after_deliver_commit   a batch with deliveries is durable; acks not yet sent
//   after_send_rpc         a transmission with envelopes reached the peer; no ack yet
//   mid_retransmit         a retransmission was taken from the outbox, not yet sent
//   after_receive          an envelope was buffered, its delivery turn not yet run
#ifndef KEN_BASE_CRASH_POINT_H_
#define KEN_BASE_CRASH_POINT_H_

namespace ken {

// Exits with status 86 if KEN_CRASH_AT selects this occurrence of `name`.
// Thread-safe; costs one relaxed atomic load when KEN_CRASH_AT is unset.
void CrashPoint(const char* name);

}  // namespace ken

#endif  // KEN_BASE_CRASH_POINT_H_
