// Regression test for a fuzz target: runs every file of the directories
// given as arguments (the checked-in seed corpus and the inputs of crashes
// found, fuzz/regressions/<target>) through LLVMFuzzerTestOneInput. A crash,
// a sanitizer report or an empty or missing directory fails the test; a
// directory given as ?DIR may be missing (no crash found yet).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int total = 0;
  for (int i = 1; i < argc; ++i) {
    int here = 0;
    std::error_code ec;
    std::string dir = argv[i];
    if (dir[0] == '?') {
      dir = dir.substr(1);
      if (!std::filesystem::exists(dir)) continue;
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream bytes;
      bytes << in.rdbuf();
      const std::string input = bytes.str();
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
      ++here;
    }
    if (ec) {
      fprintf(stderr, "cannot read %s: %s\n", dir.c_str(), ec.message().c_str());
      return 1;
    }
    if (here == 0) {
      fprintf(stderr, "%s holds no inputs\n", dir.c_str());
      return 1;
    }
    printf("%s: %d inputs ran\n", dir.c_str(), here);
    total += here;
  }
  printf("%d inputs ran, none crashed\n", total);
  return total > 0 ? 0 : 1;
}
