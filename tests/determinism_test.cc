// What a turn observes from outside, through real `ken` processes: the wall
// clock is fixed for the whole of a turn; Math.random continues from state
// in the heap, so two restores of one checkpoint see the same sequence; and
// a heap with older built-ins (a golden store of built-ins version 2) is
// upgraded when opened, after which it has both.
#include <zlib.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string InspectValue(const std::string& store, const std::string& expr) {
  auto r = RunProgram({kKen, "inspect", "--store", store, "-e", expr});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return Trim(r.output);
}

TEST(DeterminismTest, DateNowIsFixedForTheWholeTurnAndAdvancesBetweenTurns) {
  const std::string store = ::ken::testing::MakeTempDir() + "/clock.ken";
  auto r = RunProgram({kKen, "shell", "--store", store},
                      "var t0 = Date.now(); var spin = 0; while (spin < 3e6) spin++; "
                      "[Date.now() === t0, new Date().getTime() === t0, Date() === new Date(t0).toString()]\n"
                      "Date.now() >= t0\n"
                      "console.time('t'); spin = 0; while (spin < 1e6) spin++; console.timeEnd('t')\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[ true, true, true ]\ntrue\n"), std::string::npos) << r.output;
  // console.time uses a host clock: it measures the busy loop (3 decimals).
  size_t at = r.output.find("t: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_NE(r.output.substr(at, 20).find("."), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("t: 0.000ms"), std::string::npos) << r.output;
}

TEST(DeterminismTest, MathRandomIsTheSameAcrossTwoRestoresOfOneCheckpoint) {
  const std::string store = ::ken::testing::MakeTempDir() + "/random.ken";
  auto made = RunProgram({kKen, "shell", "--store", store}, "var first = Math.random()\n");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string seq = "JSON.stringify([Math.random(), Math.random(), Math.random()])";
  const std::string a = InspectValue(store, seq);
  const std::string b = InspectValue(store, seq);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("0."), std::string::npos) << a;
  // A committed turn moves the generator on; another store starts elsewhere.
  auto moved = RunProgram({kKen, "shell", "--store", store}, "Math.random(); 1\n");
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_NE(InspectValue(store, seq), a);
  const std::string other = ::ken::testing::MakeTempDir() + "/other.ken";
  ASSERT_EQ(RunProgram({kKen, "shell", "--store", other}, "1\n").exit_code, 0);
  EXPECT_NE(InspectValue(other, seq), a);
  // The generator looks like the builtin.
  EXPECT_EQ(InspectValue(store, "[Math.random.name, Math.random.length, String(Math.random).includes('native code'),"
                                " Object.getOwnPropertyDescriptor(Math, 'random').enumerable]"),
            "[\"random\",0,true,false]");
}

TEST(DeterminismTest, OlderBuiltinsAreUpgradedWhenTheStoreIsOpened) {
  const std::string dir = ::ken::testing::MakeTempDir();
  const std::string store = dir + "/shell.ken";
  {
    gzFile in = gzopen("tests/golden/format1-builtins2/shell.ken.gz", "rb");
    ASSERT_NE(in, nullptr);
    std::ofstream out(store, std::ios::binary);
    char buf[1 << 16];
    int n;
    while ((n = gzread(in, buf, sizeof(buf))) > 0) out.write(buf, n);
    gzclose(in);
  }
  // Version 2 built-ins: V8's own Math.random, reset at every restore.
  const std::string seq = "JSON.stringify([Math.random(), Math.random()])";
  EXPECT_NE(InspectValue(store, seq), InspectValue(store, seq));
  // Opened for writing: upgraded in one committed turn; state kept.
  auto r = RunProgram({kKen, "shell", "--store", store, "--log-level", "info"},
                      "[counter.n, next(), typeof pending]\n"
                      "console.time('u'); console.timeEnd('u')\n"
                      "[typeof require, Object.keys(require.cache).length]\n"
                      "[typeof ken.call, typeof ken.send]\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("built-ins upgrade from version 2 to 7"), std::string::npos) << r.output;
  // Its `ken` was frozen before ken.call: kept as it was (api.md, "ken").
  EXPECT_NE(r.output.find("[ 'undefined', 'function' ]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[ 'function', 0 ]"), std::string::npos) << r.output;  // version 5's require
  EXPECT_NE(r.output.find("[ 41, 11, 'number' ]"), std::string::npos) << r.output;
  size_t at = r.output.find("u: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_NE(r.output.substr(at, 20).find("."), std::string::npos) << r.output;  // the host clock, 3 decimals
  // Now the heap's generator: the same sequence from each restore.
  EXPECT_EQ(InspectValue(store, seq), InspectValue(store, seq));
  // And it is not upgraded again.
  auto again = RunProgram({kKen, "shell", "--store", store, "--log-level", "info"}, "counter.n\n");
  EXPECT_EQ(again.output.find("built-ins upgrade"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace ken
