// Fuzz target: journal segments (FORMAT.md, "Journal segments") on damaged
// files. The input holds up to three segment files (chunks); they are put
// beside a store path under the names the journal looks for, then opened
// read-only and read-write as a node does at start, and every record read is
// decoded as the node replays it (a ken.v1.JournalCommit). A read-write open
// then appends a record after the last one.
// Checks: no crash or sanitizer report; records come back in seq order with
// consecutive seqs; every error is a Status.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz_input.h"
#include "fuzz/support.h"
#include "proto/journal.pb.h"
#include "spdlog/spdlog.h"
#include "store/journal.h"

namespace ken::fuzz {
namespace {

constexpr char kStoreId[] = "0123456789abcdef0123456789abcdef";

void Read(const std::string& store, bool read_only) {
  JournalOptions options;
  options.read_only = read_only;
  options.segment_bytes = 4096;
  auto journal = Journal::Open(store, kStoreId, options);
  if (!journal.ok()) return;
  absl::StatusOr<std::vector<JournalRecord>> records = (*journal)->RecordsAfter(0);
  if (!records.ok()) return;
  int64_t previous = 0;
  for (const JournalRecord& r : *records) {
    if (previous != 0 && r.seq != previous + 1) abort();  // Open promised consecutive seqs
    previous = r.seq;
    v1::JournalCommit commit;
    (void)commit.ParseFromString(r.payload);
  }
  if (!read_only) {
    (void)(*journal)->Append((*journal)->last_seq() + 1, "appended");
    (void)(*journal)->RecordsAfter((*journal)->last_seq() - 1);
  }
}

}  // namespace
}  // namespace ken::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ken::fuzz::QuietLogs();
  ken::fuzz::FuzzInput in(data, size);
  static const std::string store = ken::fuzz::ScratchDir("journal") + "/s.ken";
  (void)ken::Journal::RemoveAll(store);
  const int segments = in.Byte() % 3 + 1;
  for (int i = 0; i < segments; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "%020d", 1 + in.Byte() * (i + 1));  // the first seq the name claims
    std::ofstream(store + ".journal." + name, std::ios::binary) << (i + 1 == segments ? in.Rest() : in.Chunk());
  }
  ken::fuzz::Read(store, /*read_only=*/true);
  ken::fuzz::Read(store, /*read_only=*/false);
  (void)ken::Journal::RemoveAll(store);
  return 0;
}
