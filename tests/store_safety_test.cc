// Store files as users mishandle them, through real processes: a store
// deleted while its holder was killed and then re-created, a second writer
// through a symlink or hard link, `ken shell` pointed at a cluster node's
// store, and config files that used to crash the process.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::MakeTempDir;
using ::ken::testing::Process;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

void Send(Process& p, const std::string& line, const std::string& expect) {
  size_t from = p.output().size();
  p.Write(line + "\n");
  ASSERT_TRUE(p.WaitFor(expect, 30000, from)) << "after `" << line << "` expected `" << expect << "`:\n"
                                               << p.output();
}

// A -wal file left by a killed holder must not be replayed into a new store
// made at the same path ("Initialized session", yet the old values back).
TEST(StoreSafetyTest, RecreatedStoreDoesNotResurrectTheDeletedOne) {
  const std::string store = MakeTempDir() + "/s.ken";
  {
    Process shell({kKen, "shell", "--store", store});
    ASSERT_TRUE(shell.WaitFor("Initialized session (journal mode)\n")) << shell.output();
    for (int i = 0; i < 5; ++i) Send(shell, "var secret = 'old-" + std::to_string(i) + "'", "undefined\n");
    shell.Kill(SIGKILL);
    shell.Wait();
  }
  struct stat st;
  ASSERT_EQ(stat((store + "-wal").c_str(), &st), 0) << "the killed shell left no -wal file";
  ASSERT_GT(st.st_size, 0);
  ASSERT_EQ(unlink(store.c_str()), 0);  // the user deletes "the store"
  Process shell({kKen, "shell", "--store", store});
  ASSERT_TRUE(shell.WaitFor("Initialized session (journal mode)\n")) << shell.output();
  Send(shell, "typeof secret", "'undefined'\n");
  shell.CloseStdin();
  EXPECT_EQ(shell.Wait(), 0);
  // And it stays the new store after a restart.
  auto again = RunProgram({kKen, "shell", "--store", store}, "typeof secret\n");
  EXPECT_NE(again.output.find("Restored session (journal mode)\n'undefined'"), std::string::npos) << again.output;
}

// flock locks the file, not its name: a second writer through a symlink or
// a hard link is refused with a one-line error, and inspect still reads.
TEST(StoreSafetyTest, SecondWriterThroughAnotherPathIsRefused) {
  const std::string dir = MakeTempDir();
  const std::string store = dir + "/s.ken";
  Process holder({kKen, "shell", "--store", store});
  ASSERT_TRUE(holder.WaitFor("Initialized session (journal mode)\n")) << holder.output();
  Send(holder, "var v = 7", "undefined\n");
  ASSERT_EQ(symlink(store.c_str(), (dir + "/sym.ken").c_str()), 0);
  ASSERT_EQ(link(store.c_str(), (dir + "/hard.ken").c_str()), 0);
  for (const std::string& other : {dir + "/sym.ken", dir + "/hard.ken", dir + "/./s.ken"}) {
    auto r = RunProgram({kKen, "shell", "--store", other}, "v = 8\n");
    EXPECT_EQ(r.exit_code, 1) << other << ": " << r.output;
    EXPECT_TRUE(r.output.find("already open for writing by another process") != std::string::npos ||
                r.output.find("is in use by another process") != std::string::npos)
        << other << ": " << r.output;
  }
  auto inspect = RunProgram({kKen, "inspect", "--store", dir + "/sym.ken", "-e", "v"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_EQ(inspect.output, "7\n");
  Send(holder, "v", "7\n");
  holder.CloseStdin();
  EXPECT_EQ(holder.Wait(), 0);
  auto after = RunProgram({kKen, "shell", "--store", dir + "/sym.ken"}, "v\n");
  EXPECT_NE(after.output.find("Restored session (journal mode)\n7\n"), std::string::npos) << after.output;
}

// `ken shell` on a cluster node's store would fire the node's timers there
// and lose those firings: it is refused with a line naming the node.
TEST(StoreSafetyTest, ShellRefusesAClusterNodesStore) {
  ::ken::testing::TestCluster cluster(kKen, {{"worker", "var ticks = 0; setInterval(function () { ticks++; }, 50);"}});
  cluster.Start("worker");
  ASSERT_NE(cluster.WaitForValue("worker", "ticks > 2", "true"), "") << cluster.Output("worker");
  cluster.Kill("worker", SIGTERM);
  int code = 0;
  for (int i = 0; i < 500 && !cluster.Exited("worker", &code); ++i) usleep(10000);
  auto shell = RunProgram({kKen, "shell", "--store", cluster.store("worker")}, "ticks\n");
  EXPECT_EQ(shell.exit_code, 1) << shell.output;
  EXPECT_NE(shell.output.find("belongs to cluster node 'worker'"), std::string::npos) << shell.output;
  EXPECT_EQ(shell.output.find('\n'), shell.output.size() - 1) << "one line: " << shell.output;
  auto inspect = RunProgram({kKen, "inspect", "--store", cluster.store("worker"), "-e", "ticks > 2"});
  EXPECT_EQ(inspect.output, "true\n") << inspect.output;
}

// Config files that used to abort the process: each is a one-line error
// with the file and line, exit code 2, from `ken run` and `ken cluster`.
TEST(StoreSafetyTest, BadConfigsAreOneLineErrors) {
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/a.js") << "1;\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"token: t\xc3\xb6k\xc3\xa9n\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n",
       "c.yaml:1: 'token' must be printable ASCII"},
      {"token: t\n? [x, y]\n: 1\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n",
       "c.yaml:2: a key must be a plain name"},
      {"token: t\nnodes:\n  - id: a\n    ? {k: v}\n    : 1\n    address: 127.0.0.1:1\n    script: a.js\n",
       "c.yaml:4: a key in node must be a plain name"},
      {"token: t\nmax_unacked_messages: lots\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n",
       "c.yaml:2: 'max_unacked_messages' must be a whole number"},
  };
  for (const auto& [yaml, want] : cases) {
    std::ofstream(dir + "/c.yaml") << yaml;
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{kKen, "run", "--cluster", dir + "/c.yaml", "--id", "a"},
          std::vector<std::string>{kKen, "cluster", "status", dir + "/c.yaml"}}) {
      auto r = RunProgram(argv);
      EXPECT_EQ(r.exit_code, 2) << argv[1] << " " << yaml << r.output;
      EXPECT_NE(r.output.find(want), std::string::npos) << argv[1] << " " << yaml << r.output;
      EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line: " << r.output;
    }
  }
}

// Flags that used to crash V8 or overflow: one-line errors, exit code 2.
TEST(StoreSafetyTest, BadFlagsAreOneLineErrors) {
  const std::string store = MakeTempDir() + "/f.ken";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--heap-limit-mb", "1"}, "--heap-limit-mb must be 0 (V8's default) or from 16 to 65536"},
      {{"--heap-limit-mb", "-5"}, "--heap-limit-mb must be 0"},
      {{"--turn-timeout", "2562047h"}, "--turn-timeout must be positive and at most a day"},
      {{"--turn-timeout", "0"}, "--turn-timeout must be positive"},
      {{"--bogus", "1"}, "ken shell: unknown flag --bogus (see ken --help)"},
      {{"--no-store"}, "ken shell: unknown flag --no-store"},
      {{"--durability", "fast"}, "--durability must be snapshot or journal, not 'fast'"},
      {{"--turn-timeout"}, "ken shell: --turn-timeout needs a value"},
      {{"--heap-limit-mb", "abc"}, "ken shell: --heap-limit-mb 'abc' is not a whole number"},
      {{"--heap-limit-mb="}, "ken shell: --heap-limit-mb '' is not a whole number"},
      {{"--detach=maybe"}, "ken shell: --detach is true or false, not 'maybe'"},
      {{"-x"}, "ken shell: unknown flag -x (see ken --help)"},
      {{"--answer-timeout", "0"}, "ken shell: --answer-timeout must be positive and at most a day (24h), not '0'"},
      {{"--answer-timeout=-3s"}, "ken shell: --answer-timeout must be positive"},
      {{"--turn-timeout", "soon"}, "ken shell: --turn-timeout 'soon' is not a duration"},
      {{"--log-level", "loud"}, "ken shell: --log-level must be trace, debug, info, warn, error, critical or off"},
  };
  for (const auto& [flags, want] : cases) {
    std::vector<std::string> argv = {kKen, "shell", "--store", store};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto r = RunProgram(argv, "1\n");
    EXPECT_EQ(r.exit_code, 2) << flags[0] << ": " << r.output;
    EXPECT_NE(r.output.find(want), std::string::npos) << flags[0] << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << flags[0] << ": " << r.output;
  }
  // Every subcommand checks every value, also of flags it does not use.
  const std::string config = MakeTempDir() + "/c.yaml";
  const std::vector<std::vector<std::string>> commands = {
      {kKen, "run", "--cluster", config, "--id", "a"},
      {kKen, "inspect", "--store", store},
      {kKen, "cluster", "status", config},
      {kKen, "cluster", "up", config},
  };
  for (const std::vector<std::string>& command : commands) {
    for (const std::pair<std::string, std::string>& bad :
         {std::pair<std::string, std::string>{"--heap-limit-mb=-5", "--heap-limit-mb must be 0"},
          {"--turn-timeout=0", "--turn-timeout must be positive"},
          {"--answer-timeout=-1", "--answer-timeout must be positive"}}) {
      std::vector<std::string> argv = command;
      argv.push_back(bad.first);
      auto r = RunProgram(argv);
      const std::string prefix = "ken " + command[1] + ": ";
      EXPECT_EQ(r.exit_code, 2) << command[1] << " " << bad.first << ": " << r.output;
      EXPECT_EQ(r.output.rfind(prefix + bad.second, 0), 0u) << command[1] << " " << bad.first << ": " << r.output;
      EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
  }
  // A shell command without its argument says what it needs.
  auto load = RunProgram({kKen, "shell", "--store", store}, ".load\n.load   \n");
  EXPECT_NE(load.output.find(".load needs a file: .load FILE\n.load needs a file"), std::string::npos) << load.output;
  // ken.receive in a shell says why it cannot work, as ken.send does.
  auto receive = RunProgram({kKen, "shell", "--store", store}, "ken.receive(function () {})\n");
  EXPECT_NE(receive.output.find("ken.receive: this node is not part of a cluster (started by ken shell)"),
            std::string::npos)
      << receive.output;
}

// Runs `ken inspect --store STORE [-e EXPR]` with `dir` (the store's
// folder) read-only. As a user other than root that is chmod 555 on the
// folder and 444 on the store; root ignores those modes, so as root (as in
// CI) it is a read-only bind mount of the folder, in a user and mount
// namespace of the command's own (`unshare -rm`), where writes fail with
// EROFS as on read-only media. *how says which; "" if neither can be done.
::ken::testing::ChildResult InspectReadOnly(const std::string& dir, const std::string& store,
                                            const std::vector<std::string>& expr, std::string* how) {
  std::vector<std::string> inspect = {kKen, "inspect", "--store", store};
  inspect.insert(inspect.end(), expr.begin(), expr.end());
  if (geteuid() != 0) {
    *how = "chmod";
    chmod(store.c_str(), 0444);
    chmod(dir.c_str(), 0555);
    auto r = RunProgram(inspect);
    chmod(dir.c_str(), 0755);
    chmod(store.c_str(), 0644);
    return r;
  }
  auto probe = RunProgram({"/usr/bin/unshare", "-rm", "/bin/sh", "-c", "mount --bind \"$0\" \"$0\" && mount -o remount,ro,bind "
                                                          "\"$0\" && ! touch \"$0/probe\" 2>/dev/null", dir});
  if (probe.exit_code != 0) {
    *how = "";
    return probe;
  }
  *how = "read-only bind mount";
  std::vector<std::string> argv = {"/usr/bin/unshare", "-rm", "/bin/sh", "-c",
                                   "mount --bind \"$0\" \"$0\" && mount -o remount,ro,bind \"$0\" && exec \"$@\"",
                                   dir};
  argv.insert(argv.end(), inspect.begin(), inspect.end());
  return RunProgram(argv);
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A store on read-only media (a folder SQLite cannot create its -shm in)
// reads, in both modes, without a file made beside it; one whose -wal holds
// commits but has no -shm cannot be read there, and the error says why.
TEST(StoreSafetyTest, InspectReadsAStoreOnReadOnlyMedia) {
  for (const std::string mode : {"journal", "snapshot"}) {
    const std::string dir = MakeTempDir();
    const std::string store = dir + "/s.ken";
    auto made = RunProgram({kKen, "shell", "--store", store, "--durability", mode}, "var v = {n: 42}\n");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    const std::vector<std::string> before = FilesIn(dir);
    std::string how;
    auto r = InspectReadOnly(dir, store, {"-e", "v.n"}, &how);
    if (how.empty()) GTEST_SKIP() << "running as root without unshare -rm: cannot make a folder read-only: " << r.output;
    EXPECT_EQ(r.exit_code, 0) << mode << " (" << how << "): " << r.output;
    EXPECT_EQ(r.output, "42\n") << mode << " (" << how << ")";
    EXPECT_EQ(FilesIn(dir), before) << mode;
  }
  // Killed mid-session: the -wal holds commits; with its -shm it reads, without one it cannot.
  const std::string dir = MakeTempDir();
  const std::string store = dir + "/s.ken";
  {
    Process shell({kKen, "shell", "--store", store, "--durability", "snapshot"});
    Send(shell, "var w = 7", "undefined\n");
    shell.Kill(SIGKILL);
    shell.Wait();
  }
  struct stat st;
  ASSERT_EQ(stat((store + "-wal").c_str(), &st), 0);
  ASSERT_GT(st.st_size, 0);
  std::string how;
  auto with_shm = InspectReadOnly(dir, store, {"-e", "w"}, &how);
  EXPECT_EQ(with_shm.output, "7\n") << how;
  ASSERT_EQ(unlink((store + "-shm").c_str()), 0);
  auto without = InspectReadOnly(dir, store, {"-e", "w"}, &how);
  EXPECT_EQ(without.exit_code, 1) << how << ": " << without.output;
  EXPECT_NE(without.output.find("cannot be read in place: its folder " + dir + " cannot be written ("),
            std::string::npos)
      << how << ": " << without.output;
  EXPECT_NE(without.output.find("copy the store with its -wal to a writable folder"), std::string::npos);
}

// A Ken store whose pages are damaged is called corrupt (not "not a Ken
// store"); a refused file, of any kind, gets no .lock beside it; a store
// that opens keeps its lock file (store_lock.h).
TEST(StoreSafetyTest, CorruptStoreIsCorruptAndRefusedFilesGetNoLock) {
  const std::string dir = MakeTempDir();
  const std::string good = dir + "/good.ken";
  ASSERT_EQ(RunProgram({kKen, "shell", "--store", good, "--durability", "snapshot"}, "var v = 1\n").exit_code, 0);
  std::filesystem::copy_file(good, dir + "/torn.ken");
  std::filesystem::resize_file(dir + "/torn.ken", 8192);  // cut short, as by a failed copy
  std::filesystem::copy_file(good, dir + "/scribbled.ken");
  {
    std::fstream f(dir + "/scribbled.ken", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f << std::string(4000, '\x5a');
  }
  std::ofstream(dir + "/notes.txt") << "not a store\n";
  ASSERT_EQ(RunProgram({"/usr/bin/sqlite3", dir + "/other.db", "CREATE TABLE t(a)"}).exit_code, 0);
  std::filesystem::remove(good + ".lock");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"torn.ken", "is corrupt (SQLite: database disk image is malformed); restore it from a copy"},
      {"scribbled.ken", "is corrupt (SQLite: "},
      {"notes.txt", "is not a Ken store (not an SQLite database)"},
      {"other.db", "is not a Ken store (no such table: ken_meta)"},
  };
  for (const auto& [name, want] : cases) {
    for (const std::string command : {"inspect", "shell"}) {
      auto r = RunProgram({kKen, command, "--store", dir + "/" + name}, "1\n");
      EXPECT_EQ(r.exit_code, 1) << command << " " << name << ": " << r.output;
      EXPECT_EQ(r.output.rfind("ken " + command + ": store " + dir + "/" + name + " " + want, 0), 0u)
          << command << " " << name << ": " << r.output;
      EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
      EXPECT_FALSE(std::filesystem::exists(dir + "/" + name + ".lock")) << command << " " << name;
    }
  }
  ASSERT_EQ(RunProgram({kKen, "shell", "--store", good}, "v\n").exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(good + ".lock"));
}

// ken inspect's expression sending a message is told what inspect is, not
// "started by ken shell".
TEST(StoreSafetyTest, InspectSaysWhyItCannotSend) {
  const std::string store = MakeTempDir() + "/s.ken";
  ASSERT_EQ(RunProgram({kKen, "shell", "--store", store}, "var v = 1\n").exit_code, 0);
  auto r = RunProgram({kKen, "inspect", "--store", store, "-e", "ken.send('x', 1)"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("ken.send: ken inspect reads the store read-only; nothing is sent"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("started by ken shell"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ken
