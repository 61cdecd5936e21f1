// `ken shell` and `ken inspect` as a user runs them: real processes, real
// kill -9, real store files.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::MakeTempDir;
using ::ken::testing::Process;
using ::ken::testing::ReadFileOrEmpty;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";  // in the test's runfiles

std::vector<std::string> Shell(const std::string& store, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kKen, "shell", "--store", store};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Sends one input line and waits for `expect` to appear after it.
void Send(Process& p, const std::string& line, const std::string& expect) {
  size_t from = p.output().size();
  p.Write(line + "\n");
  ASSERT_TRUE(p.WaitFor(expect, 30000, from)) << "after `" << line << "` expected `" << expect
                                               << "`; output so far:\n" << p.output();
}

TEST(ShellTest, TranscriptSurvivesKill9) {
  const std::string store = MakeTempDir() + "/session.ken";
  {
    Process shell(Shell(store));
    ASSERT_TRUE(shell.WaitFor("Initialized session (journal mode)\n")) << shell.output();
    Send(shell, "var create_counter = function() { var counter = 0; return function() { return counter++; }; };",
         "undefined\n");
    Send(shell, "var a = create_counter();", "undefined\n");
    Send(shell, "a(); a(); a();", "2\n");
    Send(shell, "var b = create_counter();", "undefined\n");
    Send(shell, "b(); b();", "1\n");
    Send(shell, "a();", "3\n");
    shell.Kill(SIGKILL);
    EXPECT_EQ(shell.Wait(), -1);  // died of the signal
  }
  Process shell(Shell(store));
  ASSERT_TRUE(shell.WaitFor("Restored session (journal mode)\n")) << shell.output();
  Send(shell, "create_counter",
       "function() { var counter = 0; return function() { return counter++; }; }\n");
  Send(shell, "a();", "4\n");
  Send(shell, "b();", "2\n");
  shell.Write(".exit\n");
  EXPECT_EQ(shell.Wait(), 0);
  EXPECT_EQ(shell.output(),
            "Restored session (journal mode)\n"
            "function() { var counter = 0; return function() { return counter++; }; }\n"
            "4\n2\n");
}

TEST(ShellTest, AbortedTurnsRollBackAndShellContinues) {
  const std::string store = MakeTempDir() + "/abort.ken";
  auto r = RunProgram(Shell(store, {"--turn-timeout", "300ms"}),
                      "var x = 1; throw new Error(\"boom\")\n"
                      "typeof x\n"
                      "var y = 2; while(true){}\n"
                      "typeof y\n"
                      "function f() {\n"
                      "  return `multi\n"
                      "line`;\n"
                      "}\n"
                      "f()\n"
                      "{ a: 1, 'b-c': [1, 'two'] }\n"
                      "Promise.reject(new TypeError('nope')).catch(e => e.message)\n"
                      "1 +\n"
                      ".break\n"
                      "6 * 7\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Uncaught Error: boom\n    at REPL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'undefined'\nturn aborted: it ran longer than the turn timeout (300 ms)"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the heap is as before the turn\n'undefined'\nundefined\n'multi\\nline'\n"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("{ a: 1, 'b-c': [ 1, 'two' ] }\nPromise { <pending> }\n42\n"), std::string::npos)
      << r.output;
}

TEST(ShellTest, SecondWriterIsRefusedAndInspectReadsWhileRunning) {
  const std::string store = MakeTempDir() + "/locked.ken";
  Process shell(Shell(store));
  ASSERT_TRUE(shell.WaitFor("Initialized session (journal mode)\n"));
  Send(shell, "var account = { owner: 'ada', balance: 10, history: [1, 2] }; function helper() {}", "undefined\n");
  auto second = RunProgram(Shell(store), "1\n");
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.output.find("in use by another process (pid " + std::to_string(shell.pid()) + ")"),
            std::string::npos) << second.output;

  std::string before = ReadFileOrEmpty(store) + ReadFileOrEmpty(store + "-wal");
  auto json = RunProgram({kKen, "inspect", "--store", store, "-e", "account"});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(json.output, "{\"owner\":\"ada\",\"balance\":10,\"history\":[1,2]}\n");
  auto not_json = RunProgram({kKen, "inspect", "--store", store, "--eval=helper"});
  EXPECT_EQ(not_json.output, "function helper() {}\n");
  auto globals = RunProgram({kKen, "inspect", "--store", store});
  EXPECT_EQ(globals.output.substr(globals.output.find('\n') + 1),
            "account: { owner: 'ada', balance: 10, history: [ 1, 2 ] }\nhelper: [Function: helper]\n");
  EXPECT_EQ(globals.output.rfind("# " + store + ": ", 0), 0u) << globals.output;
  EXPECT_NE(globals.output.find(" mode, commit "), std::string::npos) << globals.output;
  auto throws = RunProgram({kKen, "inspect", "--store", store, "-e", "account.missing.x"});
  EXPECT_EQ(throws.exit_code, 3);
  EXPECT_NE(throws.output.find("TypeError"), std::string::npos) << throws.output;
  EXPECT_EQ(ReadFileOrEmpty(store) + ReadFileOrEmpty(store + "-wal"), before) << "inspect wrote to the store";
  // The shell is unaffected.
  Send(shell, "account.balance += 5", "15\n");
}

// kill -9 at random instants while turns commit back to back: every value
// the shell printed is durable, and at most the one turn in flight at the
// kill committed without being printed.
TEST(ShellTest, RandomKill9NeverLosesAPrintedTurn) {
  const std::string store = MakeTempDir() + "/kills.ken";
  std::mt19937 rng(12345);
  int64_t last_seen = -1;
  for (int round = 0; round < 6; ++round) {
    Process shell(Shell(store));
    ASSERT_TRUE(shell.WaitFor(" mode)\n"));
    if (round == 0) Send(shell, "var n = 0;", "undefined\n");
    size_t from = shell.output().size();
    Send(shell, "n", "\n");
    int64_t restored = std::stoll(shell.output().substr(from));
    EXPECT_GE(restored, last_seen) << "a printed turn was lost";
    EXPECT_LE(restored, last_seen + 1) << "more than the in-flight turn committed unseen";
    std::string burst;
    for (int i = 0; i < 400; ++i) burst += "++n\n";
    shell.Write(burst);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    shell.Kill(SIGKILL);
    shell.Wait();
    // The last complete number the shell printed.
    std::string out = shell.output();
    size_t end = out.rfind('\n');
    size_t start = out.rfind('\n', end - 1);
    last_seen = std::stoll(out.substr(start + 1, end - start - 1));
  }
}

struct BadStore {
  std::string name;
  std::string bytes;
};

TEST(ShellTest, BadStoreFilesGetOneLineErrorAndStayUntouched) {
  const std::string dir = MakeTempDir();
  const std::string good = dir + "/good.ken";
  ASSERT_EQ(RunProgram(Shell(good), "var big = 'x'.repeat(200000);\n").exit_code, 0);
  std::string good_bytes = ReadFileOrEmpty(good);
  ASSERT_GT(good_bytes.size(), 8192u);
  std::vector<BadStore> cases = {
      {"not-sqlite", "this is a text file, not a store\n"},
      {"empty", ""},
      {"truncated", good_bytes.substr(0, good_bytes.size() / 2)},
  };
  for (const BadStore& c : cases) {
    const std::string path = dir + "/" + c.name + ".ken";
    { std::ofstream(path, std::ios::binary) << c.bytes; }
    for (auto argv : {Shell(path), std::vector<std::string>{kKen, "inspect", "--store", path}}) {
      auto r = RunProgram(argv, "1\n");
      EXPECT_NE(r.exit_code, 0) << c.name << ": " << r.output;
      EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << c.name << ": " << r.output;
      EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
      EXPECT_EQ(ReadFileOrEmpty(path), c.bytes) << c.name << " was modified";
    }
  }
}

TEST(ShellTest, ReadOnlyDirectoryIsAnError) {
  const std::string dir = MakeTempDir();
  const std::string existing = dir + "/ro/existing.ken";
  mkdir((dir + "/ro").c_str(), 0755);
  ASSERT_EQ(RunProgram(Shell(existing), "var v = 1;\n").exit_code, 0);
  unlink((existing + ".lock").c_str());
  std::string bytes = ReadFileOrEmpty(existing);
  // Root ignores directory permissions: make the directory read-only with a
  // read-only bind mount in a private mount namespace instead.
  std::vector<std::string> prefix;
  if (geteuid() == 0) {
    auto probe = RunProgram({"/usr/bin/unshare", "--mount", "/bin/sh", "-c",
                             "mount --bind -o ro " + dir + "/ro " + dir + "/ro && touch " + dir + "/ro/x"});
    if (probe.exit_code == 0 || probe.output.find("Read-only") == std::string::npos) {
      GTEST_SKIP() << "cannot make a read-only directory here as root: " << probe.output;
    }
    prefix = {"/usr/bin/unshare", "--mount", "/bin/sh", "-c",
              "mount --bind -o ro " + dir + "/ro " + dir + "/ro && exec \"$0\" \"$@\""};
  } else {
    chmod((dir + "/ro").c_str(), 0555);
  }
  for (const std::string& store : {existing, dir + "/ro/new.ken"}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a : Shell(store)) argv.push_back(a);
    auto r = RunProgram(argv, "1\n");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find(store), std::string::npos) << r.output;
  }
  EXPECT_EQ(ReadFileOrEmpty(existing), bytes);
  chmod((dir + "/ro").c_str(), 0755);
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

TEST(ShellTest, LoadFileAndMultiLineComments) {
  const std::string dir = MakeTempDir();
  { std::ofstream(dir + "/lib.js") << "'use strict';\nvar loaded = (function () { return this; })() === undefined;\n"; }
  auto r = RunProgram(Shell(dir + "/s.ken"), "/*---\ndescription: a test262-style header\n---*/\n"
                                             ".load " + dir + "/lib.js\nloaded\n.load " + dir + "/missing.js\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "Initialized session (journal mode)\nundefined\n'use strict'\ntrue\n.load: cannot read " + dir + "/missing.js: No such file or directory\n");
}

// A disk that fills up fails the commit: the turn is rolled back with the
// store's reason, the shell keeps its committed state and goes on.
TEST(ShellTest, FullDiskRollsBackTheTurn) {
  const std::string dir = MakeTempDir();
  mkdir((dir + "/small").c_str(), 0755);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const std::string store = dir + "/small/full.ken";
  std::vector<std::string> argv = {"/usr/bin/unshare", "--mount", "/bin/sh", "-c",
                                   "mount -t tmpfs -o size=3m tmpfs " + dir + "/small && exec \"$0\" \"$@\""};
  for (const std::string& a : Shell(store)) argv.push_back(a);
  auto r = RunProgram(argv,
                      "var kept = 'small';\n"
                      "var big = new Float64Array(600000).map(Math.random); kept = 'changed'; 1\n"
                      "typeof big + ' ' + kept\n");
  if (r.output.find("Initialized session") == std::string::npos) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << r.output;
  }
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("turn aborted: commit failed: store " + store), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("full"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'undefined small'\n"), std::string::npos) << r.output;
}

// A promise left rejected with no handler at the end of its turn is
// reported like Node's REPL does ("Uncaught ..."), after the input's value,
// and the turn still commits; in a timer's turn too. One handled within the
// turn is not reported.
TEST(ShellTest, UnhandledRejectionsAreReportedAndTheTurnCommits) {
  auto r = RunProgram(Shell(MakeTempDir() + "/rejections.ken"),
                      "var kept = 1; Promise.reject(new Error('boom')); 'done'\n"
                      "kept\n"
                      "var p2 = Promise.reject(new Error('handled')); p2.catch(() => {}); 2\n"
                      "async function f() { throw new TypeError('async boom'); } f(); 3\n"
                      "setTimeout(() => { Promise.reject(42); }, 0); 4\n"
                      "5\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("'done'\nUncaught Error: boom\n    at REPL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n1\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("handled"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n3\nUncaught TypeError: async boom\n    at f (REPL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Uncaught 42\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("ken:"), std::string::npos) << "a built-in frame is shown:\n" << r.output;
}

// A SyntaxError names the input or file, line and column, with the line and
// a caret; top-level await and a typed `import` get a hint.
TEST(ShellTest, SyntaxErrorsNameFileLineAndColumn) {
  const std::string dir = MakeTempDir();
  {
    std::ofstream f(dir + "/bad.js");
    f << "var ok = 1;\nvar broken = {a: 1,, b};\n";
  }
  auto r = RunProgram(Shell(dir + "/syntax.ken"), "let x = ;\n.load " + dir + "/bad.js\nawait 1\nimport x from './x.mjs'\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(":1:9\nlet x = ;\n        ^\nUncaught SyntaxError: Unexpected token ';'"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(dir + "/bad.js:2:20\nvar broken = {a: 1,, b};\n                   ^\n"
                          "Uncaught SyntaxError: Unexpected token ','"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Hint: the shell has no top-level await"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Hint: a typed input runs as a classic script, and so does a .js file outside a"),
            std::string::npos)
      << r.output;
}

// With a large heap in snapshot mode, the shell says once why inputs are slow.
TEST(ShellTest, SlowSnapshotCommitIsExplainedOnce) {
  std::string inputs = "var big = []; for (let i = 0; i < 60; i++) big.push(new Array(1 << 18).fill(i)); 1\n";
  for (int i = 0; i < 3; ++i) inputs += "2\n";
  auto r = RunProgram(Shell(MakeTempDir() + "/slow.ken", {"--durability", "snapshot"}), inputs, 180000);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string hint = "ms: in snapshot mode every commit writes the whole heap";
  const size_t at = r.output.find(hint);
  if (at == std::string::npos) GTEST_SKIP() << "commits stayed under 500 ms on this machine:\n" << r.output.substr(0, 400);
  EXPECT_EQ(r.output.find(hint, at + 1), std::string::npos) << "said twice:\n" << r.output;
  EXPECT_NE(r.output.find("--durability journal)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// `ken shell` on a pseudo-terminal, as a person at a terminal runs it.
class PtyShell {
 public:
  explicit PtyShell(const std::string& store) {
    pid_ = forkpty(&master_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      execl(kKen.c_str(), kKen.c_str(), "shell", "--store", store.c_str(), "--turn-timeout", "60s",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~PtyShell() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(master_);
  }
  // Reads until `needle` occurs at or after byte `from` of the output.
  bool ReadUntil(const std::string& needle, int seconds = 20, size_t from = 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (out_.find(needle, from) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      struct pollfd p = {master_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[1024];
      ssize_t n = read(master_, buf, sizeof(buf));
      if (n <= 0) break;
      out_.append(buf, static_cast<size_t>(n));
    }
    return out_.find(needle, from) != std::string::npos;
  }
  // Types `keys` and waits for a fresh prompt "> " after them (the shell
  // has handled them: under load a Ctrl-C may take a while to be handled).
  bool TypeAndAwaitPrompt(const std::string& keys) {
    const size_t mark = out_.size();
    Type(keys);
    return ReadUntil("> ", 20, mark);
  }
  void Type(const std::string& keys) { ASSERT_EQ(write(master_, keys.data(), keys.size()), (ssize_t)keys.size()); }
  int Exit() {
    Type(".exit\r");
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The exit code once the shell exits by itself within `seconds` (-1 if not).
  int Wait(int seconds) {
    for (int i = 0; i < seconds * 10; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      ReadUntil("\x01never\x01", 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return out_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  std::string out_;
};

// On a terminal, SIGINT (Ctrl-C) interrupts the running input, which is
// rolled back, and the shell goes on.
TEST(ShellTest, CtrlCInterruptsRunningInputOnATerminal) {
  PtyShell shell(MakeTempDir() + "/tty.ken");
  ASSERT_TRUE(shell.ReadUntil("> ")) << shell.output();
  shell.Type("var x = 5; while (true) {}\r");
  // Until the loop is running, Ctrl-C only prints a hint: keep pressing it.
  bool interrupted = false;
  for (int i = 0; i < 40 && !interrupted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    kill(shell.pid(), SIGINT);
    interrupted = shell.ReadUntil("turn interrupted; the heap is as before the turn", 1);
  }
  EXPECT_TRUE(interrupted) << shell.output();
  shell.Type("typeof x\r");
  EXPECT_TRUE(shell.ReadUntil("'undefined'")) << shell.output();
  EXPECT_EQ(shell.Exit(), 0) << shell.output();
}

// Ctrl-C at the prompt discards the partly typed line and abandons an
// unfinished multi-line input; twice on an empty line it exits, as node's
// REPL does (the first time it says so).
TEST(ShellTest, CtrlCAtThePromptDiscardsTheLineAndTwiceExits) {
  PtyShell shell(MakeTempDir() + "/ctrlc.ken");
  ASSERT_TRUE(shell.ReadUntil("> ")) << shell.output();
  shell.Type("var half = 1");
  ASSERT_TRUE(shell.ReadUntil("var half = 1")) << shell.output();
  ASSERT_TRUE(shell.TypeAndAwaitPrompt("\x03")) << shell.output();  // the terminal sends SIGINT
  shell.Type("typeof half\r");
  EXPECT_TRUE(shell.ReadUntil("'undefined'")) << shell.output();
  shell.Type("function f() {\r");
  ASSERT_TRUE(shell.ReadUntil("... ")) << shell.output();
  ASSERT_TRUE(shell.TypeAndAwaitPrompt("\x03")) << shell.output();
  shell.Type("typeof f + '!'\r");
  ASSERT_TRUE(shell.ReadUntil("'undefined!'")) << shell.output();
  EXPECT_EQ(shell.output().find("To exit"), std::string::npos) << shell.output();
  ASSERT_TRUE(shell.ReadUntil("> ", 20, shell.output().find("'undefined!'"))) << shell.output();  // back at the prompt
  shell.Type("\x03");
  EXPECT_TRUE(shell.ReadUntil("(To exit, press Ctrl-C again or Ctrl-D or type .exit)")) << shell.output();
  shell.Type("\x03");
  EXPECT_EQ(shell.Wait(10), 0) << shell.output();
}

// On a terminal, a timer fires while the shell waits at the prompt, and the
// partly typed line survives it.
TEST(ShellTest, TimersFireWhileWaitingAtTheTerminal) {
  PtyShell shell(MakeTempDir() + "/idle.ken");
  ASSERT_TRUE(shell.ReadUntil("> ")) << shell.output();
  shell.Type("setTimeout(function () { console.log('fired-' + 'while-idle'); }, 300); 1\r");
  shell.Type("var typed");
  EXPECT_TRUE(shell.ReadUntil("fired-while-idle")) << shell.output();
  shell.Type(" = 42\r");
  shell.Type("typed\r");
  EXPECT_TRUE(shell.ReadUntil("42\r\n")) << shell.output();
  EXPECT_EQ(shell.Exit(), 0) << shell.output();
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

// The shell fires due timers between inputs; `ken inspect -e` prints JSON
// only when JSON says all the shell would.
TEST(ShellTest, TimersFireBetweenInputsAndInspectKeepsMaps) {
  const std::string store = MakeTempDir() + "/timers.ken";
  // A 0 ms delay is 1 ms (as in node), counted from the turn's clock: the
  // loop in the second input makes sure that much time has passed.
  auto r = RunProgram(Shell(store), "var fired = []; setTimeout(function (x) { fired.push(x); }, 0, 'due'); 1\n"
                                    "for (var i = 0; i < 3e5; i++) {}\n"
                                    "fired\n"
                                    "var m = new Map([['k', 1]]); var plain = { a: [1, 'b'] };\n"
                                    ".nosuchcommand\n");
  EXPECT_EQ(r.output,
            "Initialized session (journal mode)\n1\nundefined\n[ 'due' ]\nundefined\nInvalid REPL keyword (.help lists them)\n");
  EXPECT_EQ(RunProgram({kKen, "inspect", "--store", store, "-e", "m"}).output, "Map(1) { 'k' => 1 }\n");
  EXPECT_EQ(RunProgram({kKen, "inspect", "--store", store, "-e", "plain"}).output, "{\"a\":[1,\"b\"]}\n");
}

}  // namespace
}  // namespace ken
