// `require` through real `ken` processes (js_api/modules.js): Node.js's
// resolution cases of tests/modules/fixture/main.js give what Node.js gives
// (tests/modules/expected.json, made by `node main.js`; checked against the
// machine's node too when it has one); modules persist and are never read
// again (the fixture is deleted before the store is reopened); a later turn
// resolves only against what was loaded; and the errors Ken adds (Node
// built-ins and globals, syntax errors with file and line) name the problem.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
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

// Loads `program` (relative to the fixture) in a new shell session and checks
// that `results` (a global it fills) prints as `expected_file` says, which is
// also what the machine's Node.js, if it has one, prints for the program.
// Returns the shell's output.
std::string CheckCasesAgainstNode(const std::string& program, const std::string& results,
                                  const std::string& expected_file) {
  const std::string expected = Trim(ReadFileOrEmpty(expected_file));
  EXPECT_FALSE(expected.empty()) << expected_file;
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  const std::string out = Shell(store, ".load " + dir + "/" + program + "\nconsole.log(JSON.stringify(" + results + "))\n");
  EXPECT_NE(out.find(expected), std::string::npos) << "ken printed:\n" << out << "\nexpected:\n" << expected;
  for (const char* node : {"/usr/bin/node", "/usr/local/bin/node"}) {
    if (access(node, X_OK) != 0) continue;
    auto r = RunProgram({node, dir + "/" + program});
    EXPECT_EQ(Trim(r.output), expected) << node;
    break;
  }
  return out;
}

TEST(ModulesTest, ResolutionCasesGiveWhatNodeGives) {
  CheckCasesAgainstNode("main.js", "results", "tests/modules/expected.json");
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
  // A loaded file is found by another request too (require.cache first):
  // the program required './dir-with-main', never this path.
  EXPECT_EQ(Inspect(store, "require('./dir-with-main/src/entry').name"), "\"dir-with-main/src/entry\"");
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
         "grab('esm', () => require('./esm/lib/tla.mjs'));\n"
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
  // require() of an ES module gives its namespace (as Node.js 20.19+), unless it awaits.
  EXPECT_NE(out.find("ERR_REQUIRE_ASYNC_MODULE: Cannot require " + dir + "/esm/lib/tla.mjs (required by " + dir +
                     "/errors.js): it awaits at top level"),
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

TEST(ModulesTest, ShellLoadFlagRunsTheFileInANewSessionOnly) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  auto first = RunProgram({kKen, "shell", "--store", store, "--load", dir + "/main.js"}, "results.length\n");
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("Initialized session"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("\n44\n"), std::string::npos) << first.output;
  auto again = RunProgram({kKen, "shell", "--store", store, "--load", dir + "/main.js"}, "results.length\n");
  EXPECT_NE(again.output.find("not run, the session is restored"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("\n44\n"), std::string::npos) << again.output;
}

// A one-node cluster config (node "a") whose own script, old.js, only sets
// `old`: the tests give their program with --script.
std::string OldScriptConfig() {
  const std::string work = MakeTempDir();
  const std::string config = work + "/cluster.yaml";
  std::ofstream(config) << "token: t\ndurability: " << DurabilityUnderTest() << "\nnodes:\n  - id: a\n"
                        << "    address: 127.0.0.1:" << FreePort() << "\n    script: old.js\n";
  std::ofstream(work + "/old.js") << "var old = true;\n";
  return config;
}

// `expr` evaluated on node "a", retried while the node does not answer yet
// (or, with `want`, until it prints `want`: a result of a later turn).
std::string EvalOnA(const std::string& config, const std::string& expr, const std::string& want = "") {
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = Trim(RunProgram({kKen, "cluster", "eval", config, "a", expr}).output);
    if (want.empty() ? out.find("no node answers") == std::string::npos : out == want) break;
    usleep(100000);
  }
  return out;
}

// A node whose program is split into modules and packages: --script gives
// it for the new store; after kill -9 the node comes back with the modules
// in its heap, the files gone.
TEST(ModulesTest, ANodeKeepsItsModulesAcrossKill9) {
  const std::string dir = CopyFixture();
  std::ofstream(dir + "/node.js") << "var fifo = require('./lib/fn');\nvar pkg = require('exports-pkg/sub/a');\n"
                                     "var calls = 0;\nfunction use() { calls++; return fifo(calls) + ':' + "
                                     "pkg.name; }\n";
  const std::string config = OldScriptConfig();
  auto eval = [&](const std::string& expr) { return EvalOnA(config, expr); };
  {
    Process node({kKen, "run", "--cluster", config, "--id", "a", "--script", dir + "/node.js"});
    ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
    EXPECT_EQ(eval("use()"), "\"4:exports-pkg/subdir/a\"");
    EXPECT_EQ(eval("typeof old"), "\"undefined\"");  // --script ran instead of the config's
    node.Kill(SIGKILL);
  }
  std::filesystem::remove_all(dir);
  Process node({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
  EXPECT_EQ(eval("use()"), "\"6:exports-pkg/subdir/a\"");
  EXPECT_NE(eval("try { require('./lib/short') } catch (e) { e.code }").find("KEN_MODULE_NOT_LOADED"),
            std::string::npos);
}


// --- ES modules (js_api/esm.js) ---

TEST(EsModulesTest, CasesGiveWhatNodeGives) {
  const std::string out = CheckCasesAgainstNode("esm/main.mjs", "esmResults", "tests/modules/expected-esm.json");
  // Every rejection was handled by the cases: none is reported.
  EXPECT_EQ(out.find("Uncaught"), std::string::npos) << out;
}

// Module records persist with their bindings: after the files are deleted,
// a new session's import() gets the same module (its live `count`), and
// require() of a loaded ES module its namespace, without reading a file.
TEST(EsModulesTest, ModulesPersistWithTheirLiveBindings) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  Shell(store, ".load " + dir + "/esm/main.mjs\n");
  std::filesystem::remove_all(dir);
  const std::string counter = dir + "/esm/lib/counter.mjs";
  const std::string out = Shell(store, "var c; import('" + counter + "').then((m) => { c = [m.count, m.inc(), m.count]; })\n"
                                       "c\nrequire('" + dir + "/esm/lib/math.mjs').add(20, 22)\n"
                                       "import('" + dir + "/esm/lib/never.mjs').catch((e) => e.code)\n"
                                       "var ns; import('" + dir + "/esm/lib/math.mjs').then((m) => { ns = m; })\nns\n");
  EXPECT_NE(out.find("[ 2, 3, 3 ]"), std::string::npos) << out;  // main.mjs incremented twice
  EXPECT_NE(out.find("\n42\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[Module: null prototype] {\n  add: [Function: add],"), std::string::npos) << out;
  // The ES module's functions read their module's bindings in later turns.
  EXPECT_EQ(Inspect(store, "esmResults.length"), "40");
  // A later turn (ken inspect reads nothing) resolves only what was loaded.
  EXPECT_EQ(Inspect(store, "require('" + counter + "').count"), "3");
  const std::string never = Inspect(store, "try { require('" + dir + "/esm/lib/never.mjs') } catch (e) { e.code }");
  EXPECT_NE(never.find("KEN_MODULE_NOT_LOADED"), std::string::npos) << never;
}

TEST(EsModulesTest, ErrorsNameTheFileLineAndColumn) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  std::ofstream(dir + "/esm/broken.mjs") << "export const ok = 1;\nexport const bad = ;\n";
  std::ofstream(dir + "/esm/imports-broken.mjs") << "import { ok } from './broken.mjs';\nglobalThis.got = ok;\n";
  std::ofstream(dir + "/esm/missing-export.mjs") << "\nimport { nope } from './lib/math.mjs';\n";
  std::ofstream(dir + "/esm/builtin.mjs") << "import fs from 'fs';\n";
  std::ofstream(dir + "/esm/no-ext.mjs") << "import './lib/math';\n";
  std::ofstream(dir + "/esm/needs-buffer.mjs") << "import { bytes } from 'esm-needs-buffer';\n";
  const std::string out = Shell(store, ".load " + dir + "/esm/imports-broken.mjs\n.load " + dir +
                                           "/esm/missing-export.mjs\n.load " + dir + "/esm/builtin.mjs\n.load " + dir +
                                           "/esm/no-ext.mjs\n.load " + dir + "/esm/needs-buffer.mjs\ntypeof got\n");
  EXPECT_NE(out.find("SyntaxError: Unexpected token ';' (" + dir + "/esm/broken.mjs:2:20)"), std::string::npos) << out;
  // The place printed is the file's line with a caret, never Ken's loader.
  EXPECT_NE(out.find(dir + "/esm/broken.mjs:2:20\nexport const bad = ;\n                   ^\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("ken:"), std::string::npos) << out;
  EXPECT_NE(out.find("SyntaxError: The requested module './lib/math.mjs' does not provide an export named 'nope' (" +
                     dir + "/esm/missing-export.mjs:2:10)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Cannot find module 'fs': it is a Node.js built-in module, which Ken does not provide "
                     "(imported from " + dir + "/esm/builtin.mjs)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Cannot find module '" + dir + "/esm/lib/math' (imported from " + dir +
                     "/esm/no-ext.mjs); did you mean '" + dir + "/esm/lib/math.mjs'?"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("package 'esm-needs-buffer' (" + dir + "/node_modules/esm-needs-buffer/index.js) needs the "
                     "Node.js global 'Buffer', which Ken does not provide"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("'undefined'"), std::string::npos) << out;  // nothing of the failed loads ran
}

// A load whose module body throws aborts the turn: nothing of it is kept,
// and the module runs again at the next load.
TEST(EsModulesTest, AThrowingModuleBodyLeavesNothingOfTheLoad) {
  const std::string dir = CopyFixture();
  const std::string store = MakeTempDir() + "/m.ken";
  std::ofstream(dir + "/esm/half.mjs") << "import { inc } from './lib/counter.mjs';\nglobalThis.half = inc();\n"
                                          "import './lib/throws.mjs';\n";
  const std::string out = Shell(store, ".load " + dir + "/esm/half.mjs\ntypeof half\ntypeof esmThrowRuns\n"
                                       ".load " + dir + "/esm/half.mjs\n");
  EXPECT_NE(out.find("Uncaught Error: esm body threw"), std::string::npos) << out;
  EXPECT_NE(out.find("'undefined'\n'undefined'\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Uncaught Error: esm body threw"), out.rfind("Uncaught Error: esm body threw"))
      << "the second load must throw again: " << out;
}

// Edge cases: an ES module reached again through require from a CommonJS
// module it imports (an error, not a second run); a module at a top-level
// await (require refused, import() waits); a failed graph keeps the modules
// that evaluated; Object.prototype.type cannot make a .js an ES module.
TEST(EsModulesTest, CyclesPendingModulesAndFailedGraphs) {
  const std::string dir = CopyFixture() + "/esm/edge";
  const std::string store = MakeTempDir() + "/m.ken";
  std::string out = Shell(
      store, ".load " + dir + "/a.mjs\n[aRuns, cycleError]\n"
             "var p = import('" + dir + "/slow.mjs'); try { require('" + dir + "/slow.mjs') } catch (e) { e.code }\n"
             "var got; import('" + dir + "/slow.mjs').then((m) => { got = m.v; })\n"
             "var mixError; import('" + dir + "/mix.mjs').catch((e) => { mixError = e.message; })\n"
             "import('" + dir + "/builtin-subpath.mjs').catch((e) => { globalThis.subpathError = e.message; })\n"
             "Object.prototype.type = 'module'; var poisoned = require('" + dir + "/plain.js'); "
             "delete Object.prototype.type; poisoned\n");
  EXPECT_NE(out.find("[ 1, 'ERR_REQUIRE_CYCLE_MODULE' ]"), std::string::npos) << out;
  EXPECT_NE(out.find("'ERR_REQUIRE_ASYNC_MODULE'"), std::string::npos) << out;
  EXPECT_NE(out.find("'plain CommonJS'"), std::string::npos) << out;
  usleep(100000);
  out = Shell(store, "got\nmixError\nimport('" + dir + "/fine.mjs').then(() => { globalThis.runs = fineRuns; })\nruns\n"
                     "subpathError\n");
  EXPECT_NE(out.find("\n7\n'bad.mjs threw'\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n1\n"), std::string::npos) << "fine.mjs ran again: " << out;
  EXPECT_NE(out.find("Cannot find module 'fs/promises': it is a Node.js built-in module"), std::string::npos) << out;
}

// A node whose script is an ES module: its graph (an ESM-only package, a
// "type": "module" package, a top-level await across a timer turn) survives
// kill -9 with the files gone.
TEST(EsModulesTest, ANodeKeepsItsModulesAcrossKill9) {
  const std::string dir = CopyFixture();
  std::ofstream(dir + "/esm/node.mjs")
      << "import greet from 'esm-only-pkg';\nimport { fromHelper } from 'type-module-pkg';\n"
         "import { inc } from './lib/counter.mjs';\n"
         "globalThis.use = () => `${greet(inc())}:${fromHelper}`;\n"
         "await new Promise((resolve) => setTimeout(resolve, 20));\n"
         "globalThis.afterAwait = import.meta.url.endsWith('/esm/node.mjs');\n";
  const std::string config = OldScriptConfig();
  auto eval = [&](const std::string& expr, const std::string& want) { return EvalOnA(config, expr, want); };
  {
    Process node({kKen, "run", "--cluster", config, "--id", "a", "--script", dir + "/esm/node.mjs"});
    ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
    EXPECT_EQ(eval("use()", "\"hello 1:helper.js as ESM\""), "\"hello 1:helper.js as ESM\"");
    EXPECT_EQ(eval("afterAwait", "true"), "true");
    node.Kill(SIGKILL);
  }
  std::filesystem::remove_all(dir);
  Process node({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(node.WaitFor("node a up")) << node.output();
  EXPECT_EQ(eval("use()", "\"hello 2:helper.js as ESM\""), "\"hello 2:helper.js as ESM\"");
  EXPECT_EQ(eval("typeof old", "\"undefined\""), "\"undefined\"");
}

}  // namespace
}  // namespace ken
