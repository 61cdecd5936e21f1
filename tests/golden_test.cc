// Stores written by earlier releases (tests/golden/<set>/, made by
// tests/golden/make_golden.sh with that release's `ken`) open and keep
// working in this one: the shell session's values, closures and timers, and
// a cluster whose outbox held unacked messages, which are delivered exactly
// once after the upgrade.
//   format1-builtins1: the first release (store format 1, built-ins without
//                      a recorded version)
//   format1-builtins2: store format 1, built-ins version 2
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

// Decompresses tests/golden/<set>/<name>.ken.gz into `dir`; returns the path.
std::string Unpack(const std::string& set, const std::string& name, const std::string& dir) {
  const std::string from = "tests/golden/" + set + "/" + name + ".ken.gz";
  gzFile in = gzopen(from.c_str(), "rb");
  EXPECT_NE(in, nullptr) << from;
  const std::string to = dir + "/" + name + ".ken";
  std::ofstream out(to, std::ios::binary);
  char buf[1 << 16];
  int n;
  while (in != nullptr && (n = gzread(in, buf, sizeof(buf))) > 0) out.write(buf, n);
  if (in != nullptr) gzclose(in);
  return to;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, ShellSessionRestores) {
  const std::string dir = ::ken::testing::MakeTempDir();
  const std::string store = Unpack(GetParam(), "shell", dir);
  auto r = RunProgram({kKen, "shell", "--store", store},
                      "[counter.n, next(), table.get('k').length, lexical, typeof pending]\n"
                      "counter.n++\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Restored session (snapshot mode)\n[ 41, 11, 3, 'kept', 'number' ]\n41\n"), std::string::npos) << r.output;
  auto again = RunProgram({kKen, "shell", "--store", store}, "[counter.n, next()]\nArray.from({length: 30}, (_, i) => i)\n");
  EXPECT_NE(again.output.find("[ 42, 12 ]"), std::string::npos) << again.output;
  // The built-ins upgrade brought Node's layout (inspect.js, version 4) to
  // heaps that can be upgraded; the first release's heap keeps its own.
  const bool grouped = again.output.find("[\n   0,  1,  2,  3,  4,  5,  6,  7,  8,\n") != std::string::npos;
  EXPECT_EQ(grouped, GetParam() != "format1-builtins1") << again.output;
  // Converting an earlier release's store to journal mode: its values carry
  // over, unless its heap has the first release's built-ins (refused).
  auto converted = RunProgram({kKen, "shell", "--store", store, "--durability", "journal"}, "[counter.n, next()]\n");
  if (GetParam() == "format1-builtins1") {
    EXPECT_EQ(converted.exit_code, 1) << converted.output;
    EXPECT_NE(converted.output.find("cannot go to journal mode"), std::string::npos) << converted.output;
  } else {
    EXPECT_EQ(converted.exit_code, 0) << converted.output;
    EXPECT_NE(converted.output.find("Restored session (journal mode)\n[ 42, 13 ]"), std::string::npos)
        << converted.output;
    auto after = RunProgram({kKen, "shell", "--store", store}, "[counter.n, next()]\n");
    EXPECT_NE(after.output.find("Restored session (journal mode)\n[ 42, 14 ]"), std::string::npos) << after.output;
  }
}

TEST_P(GoldenTest, UnackedMessagesAreDeliveredOnceAfterTheUpgrade) {
  ::ken::testing::TestCluster cluster(kKen, {{"a", "// restored from the golden store\n"},
                                             {"b", "// restored from the golden store\n"}});
  std::filesystem::create_directories(cluster.dir() + "/data");
  Unpack(GetParam(), "a", cluster.dir() + "/data");
  Unpack(GetParam(), "b", cluster.dir() + "/data");
  // Tokens and addresses are not in a store: the golden stores join a
  // cluster config with other ports and another token.
  cluster.Start("a");
  cluster.Start("b");
  EXPECT_EQ(cluster.WaitForValue("b", "got", "[1,2,3,4,5]"), "[1,2,3,4,5]") << cluster.Output("a") << cluster.Output("b");
  // New messages flow, numbered on from 6, and are not duplicated.
  absl::StatusOr<v1::EvalReply> sent;
  for (int i = 0; i < 100; ++i) {
    sent = cluster.Eval("a", "send(); sent");
    if (sent.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(sent.ok() && sent->ok()) << (sent.ok() ? sent->error() : std::string(sent.status().message()));
  EXPECT_EQ(sent->result(), "6");
  EXPECT_EQ(cluster.WaitForValue("b", "got", "[1,2,3,4,5,6]"), "[1,2,3,4,5,6]");
  absl::StatusOr<v1::StatusReply> a = cluster.Status("a");
  ASSERT_TRUE(a.ok()) << a.status();
  for (const auto& c : a->channels()) EXPECT_EQ(c.error(), "") << c.peer();
}

INSTANTIATE_TEST_SUITE_P(Releases, GoldenTest, ::testing::Values("format1-builtins1", "format1-builtins2"));

}  // namespace
}  // namespace ken
