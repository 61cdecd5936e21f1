// Fuzz target: the cluster config parser (YAML through yaml-cpp, then Ken's
// own checks) on arbitrary text. The scripts a config names resolve against
// a folder that holds a.js and b.js.
// Checks: no crash, no exception escaping, no sanitizer report; an accepted
// config has at least one node and unique ids; a refusal names the file.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cluster/config.h"
#include "fuzz/support.h"

namespace {

std::string Dir() {
  static const std::string dir = [] {
    const std::string d = ken::fuzz::ScratchDir("config");
    std::ofstream(d + "/a.js") << "ken.receive(() => {});\n";
    std::ofstream(d + "/b.js") << "ken.receive(() => {});\n";
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ken::ClusterConfig> config = ken::ParseClusterConfig(text, Dir(), "fuzz.yaml");
  if (config.ok()) {
    if (config->nodes.empty()) abort();
    std::set<std::string> ids;
    for (const ken::NodeConfig& n : config->nodes) {
      if (!ids.insert(n.id).second) abort();
      if (config->Find(n.id) == nullptr) abort();
      (void)config->PeersOf(n.id);
    }
  } else if (config.status().message().find("fuzz.yaml") == std::string::npos) {
    abort();  // every refusal names the file
  }
  return 0;
}
