#include "fuzz/support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "proto/state.pb.h"
#include "spdlog/spdlog.h"

namespace ken::fuzz {

std::string ScratchDir(const std::string& name) {
  const std::string base =
      std::filesystem::exists("/dev/shm") ? std::string("/dev/shm") : std::filesystem::temp_directory_path().string();
  const std::string dir = base + "/ken-" + name + "-fuzz-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  static std::vector<std::string>* made = [] {
    auto* v = new std::vector<std::string>;
    atexit([] {
      std::error_code ec;
      for (const std::string& d : *made) std::filesystem::remove_all(d, ec);
    });
    return v;
  }();
  made->push_back(dir);
  return dir;
}

void QuietLogs() {
  static const bool done = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)done;
}

std::string SampleStateBytes(uint64_t next_seq) {
  v1::NodeState state;
  state.set_node_id("b");
  v1::OutChannelState* out = state.add_out();
  out->set_peer("a");
  out->set_next_seq(next_seq);
  v1::InChannelState* in = state.add_in();
  in->set_peer("a");
  in->set_delivered_through(3);
  v1::DeadLetter* dead = state.add_dead_letters();
  dead->set_input("message a->b #2");
  dead->set_error("Error: boom\n    at ken:main.js:1:7");
  return state.SerializeAsString();
}

}  // namespace ken::fuzz
