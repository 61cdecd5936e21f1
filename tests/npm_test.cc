// Real npm packages in Ken nodes (tests/npm: lodash, dayjs with a plugin,
// ms, semver, zod; as ES modules lodash-es, nanoid, yocto-queue; pinned by package-lock.json and installed by
// tools/setup.sh with npm ci): a node's program requires them, uses the
// objects they make, is killed with SIGKILL and, with node_modules
// deleted, uses the same objects again. The results are the ones Node.js gives
// (checked against the machine's node when it has one). dotenv, which needs
// Node.js's fs, fails with an error naming the package and the module.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::DurabilityUnderTest;
using ::ken::testing::FreePort;
using ::ken::testing::MakeTempDir;
using ::ken::testing::Process;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

// What app.js's useAll() gives under Node.js 20 (`node tests/npm/app.js`).
const std::string kExpected =
    R"({"lodash":[[[1,2],[3,4],[5]],{"3":["one","two"],"5":["three"]},144,144,1],)"
    R"("dayjs":["2026-12-02 22:00",true],"ms":[172800000,"2m","1 hour"],)"
    R"("semver":[true,false,true,"3.0.0"],"zod":[true,2]})";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// tests/npm copied out of the (read-only) runfiles; "" if its packages
// are not installed.
std::string CopyPackages() {
  if (!std::filesystem::exists("tests/npm/node_modules/zod/package.json")) return "";
  const std::string dir = MakeTempDir() + "/app";
  std::filesystem::copy("tests/npm", dir, std::filesystem::copy_options::recursive);
  return dir;
}

// A one-node cluster config (node "a") whose script is `script`.
std::string OneNodeConfig(const std::string& script) {
  const std::string config = MakeTempDir() + "/cluster.yaml";
  std::ofstream(config) << "token: t\ndurability: " << DurabilityUnderTest() << "\nnodes:\n  - id: a\n"
                        << "    address: 127.0.0.1:" << FreePort() << "\n    script: " << script << "\n";
  return config;
}

// `expr` evaluated on node "a" (retried while the node is not answering yet).
std::string EvalOnA(const std::string& config, const std::string& expr) {
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = Trim(RunProgram({kKen, "cluster", "eval", config, "a", expr}).output);
    if (out.find("no node answers") == std::string::npos) break;
    usleep(100000);
  }
  return out;
}

TEST(NpmTest, PackagesWorkInANodeAndAfterKill9) {
  const std::string dir = CopyPackages();
  ASSERT_FALSE(dir.empty()) << "tests/npm/node_modules is missing: run tools/setup.sh (npm ci)";
  for (const char* node : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(node, X_OK) != 0) continue;
    EXPECT_EQ(Trim(RunProgram({node, dir + "/app.js"}).output), kExpected) << node;
    break;
  }
  const std::string config = OneNodeConfig(dir + "/app.js");
  auto eval = [&](const std::string& expr) { return EvalOnA(config, expr); };
  {
    Process node({kKen, "run", "--cluster", config, "--id", "a"});
    ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
    EXPECT_EQ(eval("JSON.parse(firstUse)"), kExpected);
    EXPECT_EQ(eval("useAll()"), kExpected);
    node.Kill(SIGKILL);
  }
  // (The config's script must stay readable; the packages need not.)
  std::filesystem::remove_all(dir + "/node_modules");
  Process node({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
  // The schema, date, range and memoized function made before the kill.
  EXPECT_EQ(eval("useAll()"), kExpected);
  EXPECT_EQ(eval("require('zod').z.string().email().safeParse('ada@example.com').success"), "true");
}

// What app.mjs's useAllEsm() gives under Node.js 20 at its `n`th call (a
// queue that grows by one each call).
std::string ExpectedEsm(int n) {
  return std::string(R"({"lodash":[[[1,2,3],[4,5]],{"1":["c"],"2":["ab","de"]},49,49,1],"nanoid":[12,true],)") +
         R"("queue":[)" + std::to_string(n) + R"(,1],"zod":[true,2],"dayjs":"2026-12-04","ms":[10800000,"2s"],)" +
         R"("semver":[true,false]})";
}

// The same as an ES module: ESM-only packages (lodash-es, nanoid,
// yocto-queue), zod's "import" condition, CommonJS packages imported.
TEST(NpmTest, EsModulePackagesWorkInANodeAndAfterKill9) {
  const std::string dir = CopyPackages();
  ASSERT_FALSE(dir.empty()) << "tests/npm/node_modules is missing: run tools/setup.sh (npm ci)";
  for (const char* node : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(node, X_OK) != 0) continue;
    EXPECT_EQ(Trim(RunProgram({node, dir + "/app.mjs"}).output), ExpectedEsm(1)) << node;
    break;
  }
  const std::string config = OneNodeConfig(dir + "/app.mjs");
  auto eval = [&](const std::string& expr) { return EvalOnA(config, expr); };
  {
    Process node({kKen, "run", "--cluster", config, "--id", "a"});
    ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
    EXPECT_EQ(eval("JSON.parse(firstUseEsm)"), ExpectedEsm(1));
    EXPECT_EQ(eval("useAllEsm()"), ExpectedEsm(2));
    node.Kill(SIGKILL);
  }
  std::filesystem::remove_all(dir + "/node_modules");
  Process node({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
  EXPECT_EQ(eval("useAllEsm()"), ExpectedEsm(3));
  // import() in a later turn resolves against what was loaded (no file read).
  EXPECT_EQ(eval("import('lodash-es').then((m) => { globalThis.chunks = m.chunk([1, 2, 3], 2).length; }), 0"), "0");
  EXPECT_EQ(eval("chunks"), "2");
}

// Journal mode's snapshotter restores from the snapshots it writes while the
// live isolate (from an older blob) runs: with V8's one read-only heap per
// process that crashed for these packages' heaps (semver's ranges; the
// node died with SIGSEGV in V8's deserializer at the first snapshot). The
// live isolate now moves to each new snapshot first.
TEST(NpmTest, TheSnapshotterSnapshotsTheseHeapsWhileTheNodeRuns) {
  if (DurabilityUnderTest() != "journal") GTEST_SKIP() << "the snapshotter is journal mode's";
  const std::string dir = CopyPackages();
  ASSERT_FALSE(dir.empty()) << "tests/npm/node_modules is missing: run tools/setup.sh (npm ci)";
  const std::string config = OneNodeConfig(dir + "/app.js");
  std::ofstream(config, std::ios::app) << "snapshot_every_commits: 1\n";
  Process node({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(EvalOnA(config, "useAll()"), kExpected) << "eval " << i << "\n" << node.output();
    usleep(200000);  // the snapshotter writes a snapshot after each commit
  }
  std::string status;
  for (int i = 0; i < 50; ++i) {
    status = RunProgram({kKen, "cluster", "status", config, "--json"}).output;
    if (status.find("\"snapshot_checkpoint\": 0,") == std::string::npos &&
        status.find("\"snapshot_checkpoint\": 1,") == std::string::npos) {
      break;
    }
    usleep(100000);
  }
  EXPECT_EQ(status.find("\"snapshot_checkpoint\": 0,"), std::string::npos) << status;
  EXPECT_EQ(status.find("\"snapshot_checkpoint\": 1,"), std::string::npos) << status;
  EXPECT_EQ(EvalOnA(config, "useAll()"), kExpected) << node.output();
}

TEST(NpmTest, APackageThatNeedsNodeBuiltinsFailsNamingThem) {
  const std::string dir = CopyPackages();
  ASSERT_FALSE(dir.empty()) << "tests/npm/node_modules is missing: run tools/setup.sh (npm ci)";
  const std::string store = MakeTempDir() + "/s.ken";
  auto r = RunProgram({kKen, "shell", "--store", store, "--load", dir + "/errors.js"}, "dotenvError\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("MODULE_NOT_FOUND: Cannot find module 'fs': it is a Node.js built-in module, which Ken "
                          "does not provide (required by " + dir + "/node_modules/dotenv/lib/main.js, in package "
                          "'dotenv')"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace ken
