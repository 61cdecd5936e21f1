// Values print as Node's util.inspect prints them: tests/inspect/cases.js
// run in a Ken shell must print tests/inspect/expected.txt, the text Node.js
// 20 prints for it; where the machine has `node`, the same file run by node
// must print it too (so the expected text cannot drift from Node's).
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::MakeTempDir;
using ::ken::testing::ReadFileOrEmpty;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";  // in the test's runfiles
const std::string kCases = "tests/inspect/cases.js";
const std::string kExpected = "tests/inspect/expected.txt";

// The first line where `a` and `b` differ, for a readable failure.
std::string FirstDifference(const std::string& a, const std::string& b) {
  size_t line = 1, start = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) {
      size_t end_a = a.find('\n', start), end_b = b.find('\n', start);
      return "line " + std::to_string(line) + ":\n  got:      " + a.substr(start, end_a - start) +
             "\n  expected: " + b.substr(start, end_b - start);
    }
    if (a[i] == '\n') {
      ++line;
      start = i + 1;
    }
  }
  return a.size() == b.size() ? "" : "lengths differ (" + std::to_string(a.size()) + " vs " +
                                         std::to_string(b.size()) + ")";
}

std::string Node() {
  for (const char* path : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

TEST(InspectTest, ConsoleLogPrintsWhatNodePrints) {
  const std::string expected = ReadFileOrEmpty(kExpected);
  ASSERT_FALSE(expected.empty());
  auto r = RunProgram({kKen, "shell", "--store", MakeTempDir() + "/inspect.ken"}, ".load " + kCases + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The banner line first, the script's value (undefined) last.
  std::string out = r.output;
  out = out.substr(out.find('\n') + 1);
  ASSERT_GE(out.size(), 10u);
  ASSERT_EQ(out.substr(out.size() - 10), "undefined\n") << out;
  out.resize(out.size() - 10);
  EXPECT_EQ(out, expected) << FirstDifference(out, expected);
}

TEST(InspectTest, TheExpectedTextIsWhatNodePrints) {
  const std::string node = Node();
  if (node.empty()) GTEST_SKIP() << "no node on this machine: tests/inspect/expected.txt is checked by the other case";
  auto version = RunProgram({node, "--version"});
  if (version.output.rfind("v20.", 0) != 0) GTEST_SKIP() << "expected.txt is Node 20's text; this is " << version.output;
  auto r = RunProgram({node, kCases});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string expected = ReadFileOrEmpty(kExpected);
  EXPECT_EQ(r.output, expected) << FirstDifference(r.output, expected);
}

// The shell prints results as Node's REPL does (showProxy), except that a
// function at the top level prints its source (Ken's documented choice).
TEST(InspectTest, ShellResultsPrintAsNodesRepl) {
  auto r = RunProgram({kKen, "shell", "--store", MakeTempDir() + "/repl.ken"},
                      "new Proxy({a:1},{})\n"
                      "[function g(){}, new Proxy(function h(){}, {})]\n"
                      "function g2(){ return 1 }; g2\n"
                      "'str'\n"
                      "Array.from({length:30},(_, i)=>i)\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\nProxy [ { a: 1 }, {} ]\n"
                          "[ [Function: g], Proxy [ [Function: h], {} ] ]\n"
                          "function g2(){ return 1 }\n"
                          "'str'\n"
                          "[\n   0,  1,  2,  3,  4,  5,  6,  7,  8,\n   9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
                          "  18, 19, 20, 21, 22, 23, 24, 25, 26,\n  27, 28, 29\n]\n"),
            std::string::npos)
      << r.output;
}

// `ken inspect` without -e lists globals one line each, values cut short.
TEST(InspectTest, GlobalsListingStaysShort) {
  const std::string store = MakeTempDir() + "/list.ken";
  ASSERT_EQ(RunProgram({kKen, "shell", "--store", store},
                       "var big = Array.from({length: 1000}, (_, i) => ({ i, name: 'n' + i }));\n"
                       "var text = 'line\\n'.repeat(500);\nvar small = 1;\n")
                .exit_code,
            0);
  auto r = RunProgram({kKen, "inspect", "--store", store});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  for (size_t at = 0; at < r.output.size();) {
    size_t end = r.output.find('\n', at);
    if (end == std::string::npos) end = r.output.size();
    lines.push_back(r.output.substr(at, end - at));
    at = end + 1;
  }
  ASSERT_EQ(lines.size(), 4u) << r.output;  // the "# STORE" line and three globals
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_LE(lines[i].size(), 100u) << lines[i];
  EXPECT_EQ(lines[1].rfind("big: [ { i: 0, name: 'n0' }, ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[3], "small: 1");
}

}  // namespace
}  // namespace ken
