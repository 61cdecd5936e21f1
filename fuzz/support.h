// What the fuzz targets and the seed maker share: a scratch folder per
// process, silenced logs, and a sample node state.
#ifndef KEN_FUZZ_SUPPORT_H_
#define KEN_FUZZ_SUPPORT_H_

#include <cstdint>
#include <string>

namespace ken::fuzz {

// A folder for this process's files, made on first use: in /dev/shm when
// there is one (file-backed targets run thousands of times a second; fsync
// on tmpfs costs nothing), else in the temp directory. `name` tells targets
// apart. Removed when the process exits normally.
std::string ScratchDir(const std::string& name);

// Turns spdlog off (every refusal is logged: millions of lines). Idempotent.
void QuietLogs();

// A serialized ken.v1.NodeState of node "b": channels with "a" (out at
// `next_seq`, in delivered through 3) and one dead letter.
std::string SampleStateBytes(uint64_t next_seq);

}  // namespace ken::fuzz

#endif  // KEN_FUZZ_SUPPORT_H_
