// `require` through real `ken` processes (js_api/modules.js): Node.js's
// resolution cases of tests/modules/fixture/main.js give what Node.js gives
// (tests/modules/expected.json, made by `node main.js`; checked against the
// machine's node too when it has one); modules persist and are never read
// again (the fixture is deleted before the store is reopened); a later turn
// resolves only against what was loaded; and the errors Ken adds (Node
// built-ins and globals, syntax errors with file and line) name the problem.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::DurabilityUnderTest;
using ::ken::testing::MakeTempDir;
using ::ken::testing::ReadFileOrEmpty;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";
const std::string kFixture = "tests/modules/fixture";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A copy of the fixture in a fresh folder (runfiles are read-only and
// shared): returns its path.
std::string CopyFixture() {
  const std::string dir = MakeTempDir() + "/program";
  std::filesystem::copy(kFixture, dir, std::filesystem::copy_options::recursive);
  return dir;
}

// Runs shell inputs on a new store in `dir`; returns the output.
std::string Shell(const std::string& store, const std::string& input) {
  auto r = RunProgram({kKen, "shell", "--store", store, "--durability", DurabilityUnderTest()}, input);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

std::string Inspect(const std::string& store, const std::string& expr) {
  auto r = RunProgram({kKen, "inspect", "--store", store, "-e", expr});
  return Trim(r.output);
}

TEST(ModulesTest, ResolutionCasesGiveWhatNodeGives) {
  const std::string expected = Trim(ReadFileOrEmpty("tests/modules/expected.json"));
  ASSERT_FALSE(expected.empty());
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  const std::string out = Shell(store, ".load " + dir + "/main.js\nconsole.log(JSON.stringify(results))\n");
  EXPECT_NE(out.find(expected), std::string::npos) << "ken printed:\n" << out << "\nexpected:\n" << expected;

  // The machine's Node.js, if it has one, agrees with the checked-in table.
  for (const char* node : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(node, X_OK) != 0) continue;
    auto r = RunProgram({node, dir + "/main.js"});
    EXPECT_EQ(Trim(r.output), expected) << node;
    break;
  }
}

TEST(ModulesTest, ModulesPersistAndAreNeverReadAgain) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  Shell(store, ".load " + dir + "/main.js\n");
  // Nothing of the program is on disk any more: the heap holds it.
  std::filesystem::remove_all(dir);
  // (A later turn's `require` resolves from the program's file.)
  EXPECT_EQ(Inspect(store, "require('./lib/fn')(5) + ':' + require('./lib/util').name"), "\"12:lib/util\"");
  EXPECT_EQ(Inspect(store, "require('outer').inner"), "\"outer/node_modules/inner\"");
  EXPECT_EQ(Inspect(store, "require('./cycle/b').aDone"), "true");
  // A later turn resolves only against what was loaded: a module never
  // loaded is an error, not a file read.
  const std::string never = Inspect(store, "try { require('./lib/never') } catch (e) { e.code + ': ' + e.message }");
  EXPECT_NE(never.find("KEN_MODULE_NOT_LOADED"), std::string::npos) << never;
  EXPECT_NE(never.find("not loaded when the program loaded"), std::string::npos) << never;
  // And after a reopen by the shell (journal mode: the .load turn replayed
  // from its record) the modules still work.
  const std::string again = Shell(store, "require.cache['" + dir + "/lib/fn.js'].exports(1)\n");
  EXPECT_NE(again.find("\n4\n"), std::string::npos) << again;
}

TEST(ModulesTest, TypedShellLinesResolveFromTheWorkingFolder) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  auto r = RunProgram({"/bin/sh", "-c",
                       "cd '" + dir + "' && \"$0\" shell --store '" + store + "' --durability " + DurabilityUnderTest(),
                       std::filesystem::absolute(kKen).string()},
                      "require('plain-pkg').name\nrequire('./lib/short').x\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("'plain-pkg'\n1\n"), std::string::npos) << r.output;
}

TEST(ModulesTest, KensOwnErrorsNameTheProblem) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  std::ofstream(dir + "/errors.js")
      << "var errs = {};\n"
         "function grab(k, f) { try { f(); } catch (e) { errs[k] = (e.code || e.name) + ': ' + e.message; } }\n"
         "grab('builtin', () => require('fs'));\n"
         "grab('nodeScheme', () => require('node:path'));\n"
         "grab('global', () => require('needs-process'));\n"
         "grab('syntax', () => require('./lib/syntax-error'));\n"
         "grab('json', () => require('./lib/bad.json'));\n"
         "grab('esm', () => require('./node_modules/exports-pkg/esm.mjs'));\n"
         "grab('cond', () => { errs.condName = require('cond-pkg').name; });\n";
  const std::string out = Shell(store, ".load " + dir + "/errors.js\n" +
                                           "errs.builtin\nerrs.nodeScheme\nerrs.global\nerrs.syntax\nerrs.json\nerrs.esm\nerrs.condName\n");
  EXPECT_NE(out.find("MODULE_NOT_FOUND: Cannot find module 'fs': it is a Node.js built-in module, which Ken does "
                     "not provide (required by " + dir + "/errors.js)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Cannot find module 'node:path': it is a Node.js built-in"), std::string::npos) << out;
  EXPECT_NE(out.find("KEN_NODE_GLOBAL: package 'needs-process' (" + dir +
                     "/node_modules/needs-process/index.js) needs the Node.js global 'process', which Ken does not "
                     "provide"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("SyntaxError: Unexpected token ';' (" + dir + "/lib/syntax-error.js:3:"), std::string::npos)
      << out;
  EXPECT_NE(out.find("SyntaxError: " + dir + "/lib/bad.json: not valid JSON"), std::string::npos) << out;
  EXPECT_NE(out.find("ERR_REQUIRE_ESM: Cannot require " + dir + "/node_modules/exports-pkg/esm.mjs: an ES module"),
            std::string::npos)
      << out;
  // Ken's conditions: `worker` before `default`, never `node`.
  EXPECT_NE(out.find("'cond-pkg/worker'"), std::string::npos) << out;
}

TEST(ModulesTest, AThrowingModuleBodyLeavesNothingOfTheLoad) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  std::ofstream(dir + "/half.js") << "var loadedUtil = require('./lib/util');\nrequire('./lib/throws');\n";
  const std::string out = Shell(store, ".load " + dir + "/half.js\ntypeof loadedUtil\n"
                                       "Object.keys(require.cache).length\n");
  EXPECT_NE(out.find("module body threw"), std::string::npos) << out;
  EXPECT_NE(out.find("'undefined'\n0\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace ken
