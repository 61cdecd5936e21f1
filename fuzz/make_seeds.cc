// Writes the seed corpus of each fuzz target into <dir>/<target>/: small
// well-formed inputs that reach deep into each decoder (valid transmissions
// with envelopes and acks, a real store file, a real journal segment,
// typical cluster configs, HTTP requests). Usage: make_seeds DIR
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/support.h"
#include "proto/ken.pb.h"
#include "proto/journal.pb.h"
#include "store/checkpoint_store.h"
#include "store/journal.h"

namespace ken::fuzz {
namespace {

std::string out_dir;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(out_dir + "/" + target);
  std::ofstream(out_dir + "/" + target + "/" + name, std::ios::binary) << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

v1::Envelope MakeEnvelope(uint64_t seq, uint64_t acked) {
  v1::Envelope e;
  e.set_src("a");
  e.set_dst("b");
  e.set_seq(seq);
  e.set_payload(std::string("\xFF\x0F\x22\x03hey", 6));
  e.set_src_incarnation("inc-a");
  e.set_dst_incarnation("inc-b");
  e.set_stamp(11);
  e.set_acked_through(acked);
  return e;
}

void EnvelopeSeeds() {
  // op 0: a transmission; 2: a send; 3: deliveries; 4: the sender runs;
  // 1: a reply; 5: time passes; 6: a restart; 7: a reincarnation.
  v1::Batch batch;
  batch.set_from("a");
  batch.set_incarnation("inc-a");
  for (uint64_t s = 1; s <= 3; ++s) *batch.add_envelopes() = MakeEnvelope(s, 0);
  v1::Ack* ack = batch.add_acks();
  ack->set_src("b");
  ack->set_dst("a");
  ack->set_acked_through(1);
  ack->set_src_incarnation("inc-b");
  ack->set_dst_incarnation("inc-a");
  std::string p;
  p += '\x02'; AppendChunk(&p, "hello"); p += '\x01';   // send to a, commit
  p += '\x00'; AppendChunk(&p, batch.SerializeAsString());
  p += '\x03'; p += '\x07'; p += '\x01';                // deliver, commit
  p += '\x04'; p += '\x01';                             // transmit to a: ok
  v1::BatchReply reply;
  reply.set_accepted(1);
  reply.set_incarnation("inc-a");
  p += '\x01'; AppendChunk(&p, reply.SerializeAsString());
  p += '\x05'; p += '\xff'; p += '\x0f';                // 4 s pass
  p += '\x04'; p += '\x00';                             // retransmit: fails
  p += '\x06'; p += '\x01';                             // restart
  p += '\x00'; AppendChunk(&p, batch.SerializeAsString());  // duplicates
  Write("envelope", "conversation", p);
  // A gap, an envelope from a went-back sender (another stamp), and a
  // re-created receiver (another dst incarnation).
  v1::Batch odd;
  odd.set_from("a");
  odd.set_incarnation("inc-a");
  *odd.add_envelopes() = MakeEnvelope(5, 0);
  v1::Envelope other = MakeEnvelope(1, 0);
  other.set_stamp(12);
  *odd.add_envelopes() = other;
  v1::Envelope recreated = MakeEnvelope(6, 0);
  recreated.set_dst_incarnation("inc-old");
  *odd.add_envelopes() = recreated;
  std::string q;
  q += '\x00'; AppendChunk(&q, batch.SerializeAsString());
  q += '\x03'; q += '\x07'; q += '\x01';
  q += '\x00'; AppendChunk(&q, odd.SerializeAsString());
  q += '\x07';
  q += '\x04'; q += '\x01';
  Write("envelope", "went_back", q);
}

void StoreSeeds() {
  const std::string dir = out_dir + "/.tmp-store";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/seed.ken";
  {
    Checkpoint c;
    c.engine = "fuzz";
    c.heap = std::string(300, 'h');
    c.state = SampleStateBytes(1);
    auto store = CheckpointStore::Create(path, c);
    if (!store.ok()) {
      fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
      exit(1);
    }
    Checkpoint next = c;
    next.heap = std::string(250, 'j');
    next.state = SampleStateBytes(3);
    OutboxChanges changes;
    changes.added.push_back({"a", 1, 5, std::string("\xFF\x0F\x22\x01x", 5)});
    changes.added.push_back({"a", 2, 5, std::string("\xFF\x0F\x22\x01y", 5)});
    (void)(*store)->Commit(next, next.heap, changes);
  }
  // Mode 0: the whole file (checkpointed: the WAL folded in by the close).
  Write("store", "whole_file", std::string(1, '\0') + ReadFile(path));
  // Mode 1: a fresh store (checkpoints 1-3), then column damage (statement
  // byte, row byte: 0-2 = checkpoint 1-3, value). The newest heap no longer
  // matches its CRC (the load falls back to checkpoint 2), an outbox row
  // gets another payload (its row CRC fails).
  std::string p(1, '\x01');
  p += '\x00'; p += '\x02'; AppendChunk(&p, "damaged heap");
  p += '\x09'; p += '\x01'; AppendChunk(&p, "other payload");
  Write("store", "damaged_columns", p);
  // The newest state replaced with a matching CRC (statement 14): garbage
  // that is no NodeState, and another NodeState restored into Channels.
  std::string q(1, '\x03');
  q += '\x0e'; q += '\x02'; AppendChunk(&q, "not a proto \xFF\xFF");
  Write("store", "state_garbage", q);
  std::string r(1, '\x03');
  r += '\x0e'; r += '\x02'; AppendChunk(&r, SampleStateBytes(9));
  Write("store", "state_replaced", r);
  std::filesystem::remove_all(dir);
}

void JournalSeeds() {
  const std::string dir = out_dir + "/.tmp-journal";
  std::filesystem::create_directories(dir);
  const std::string store = dir + "/s.ken";
  {
    JournalOptions options;
    options.segment_bytes = 4096;
    auto journal = Journal::Open(store, "0123456789abcdef0123456789abcdef", options);
    if (!journal.ok()) {
      fprintf(stderr, "%s\n", std::string(journal.status().message()).c_str());
      exit(1);
    }
    for (int64_t seq = 1; seq <= 3; ++seq) {
      v1::JournalCommit commit;
      commit.set_seq(seq);
      commit.set_unix_ms(1700000000000 + seq);
      v1::JournalTurn* turn = commit.add_turns();
      turn->mutable_input()->mutable_eval()->set_source("x += 1");
      turn->set_digest(static_cast<uint32_t>(seq * 7919));
      *commit.mutable_state() = v1::NodeState();
      commit.mutable_state()->set_node_id("b");
      (void)(*journal)->Append(seq, commit.SerializeAsString());
    }
  }
  std::vector<std::string> files = Journal::SegmentFiles(store);
  if (files.empty()) {
    fprintf(stderr, "no journal segment written\n");
    exit(1);
  }
  // One segment whose name claims first seq 1 (name byte 0 -> 1 + 0).
  std::string p(1, '\x00');
  p += '\x00';
  p += ReadFile(files[0]);
  Write("journal", "one_segment", p);
  std::filesystem::remove_all(dir);
}

void ConfigSeeds() {
  Write("config", "two_nodes",
        "token: secret-token\n"
        "durability: journal\n"
        "max_message_bytes: 1048576\n"
        "nodes:\n"
        "  - id: a\n    address: 127.0.0.1:7001\n    script: a.js\n    http: 127.0.0.1:8001\n"
        "  - id: b\n    address: 127.0.0.1:7002\n    script: b.js\n    store: data/b.ken\n"
        "    max_unacked_messages: 10\n");
  Write("config", "limits",
        "token: t\nmax_unacked_messages: 100\nmax_unacked_bytes: 1024\nmax_buffered_messages: 5\n"
        "heap_limit_mb: 64\nturn_timeout_ms: 1000\nnodes:\n  - {id: a, address: 127.0.0.1:7001, script: a.js}\n");
  Write("config", "flow_style", "{token: t, nodes: [{id: a, address: '127.0.0.1:1', script: a.js}]}\n");
}

void HttpSeeds() {
  const char* const requests[] = {
      "GET /counter?x=1&x=2&y=%41 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n",
      "POST /items HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"a\"}\n",
      "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
  };
  int i = 0;
  for (const char* r : requests) {
    ++i;
    Write("http", "tcp_" + std::to_string(i), std::string(1, '\x01') + r);
    Write("http", "head_" + std::to_string(i), std::string(1, '\x00') + r);
  }
}

}  // namespace
}  // namespace ken::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  ken::fuzz::out_dir = argv[1];
  ken::fuzz::EnvelopeSeeds();
  ken::fuzz::StoreSeeds();
  ken::fuzz::JournalSeeds();
  ken::fuzz::ConfigSeeds();
  ken::fuzz::HttpSeeds();
  printf("seeds written to %s\n", argv[1]);
  return 0;
}
