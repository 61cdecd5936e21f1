// Ken's test262 sample (README.md here) run in `ken shell`, with a kill -9
// between loading the harness and running each test, in the durability mode
// of KEN_TEST_DURABILITY (both_modes_test: one target per mode).
//
// For each distinct harness list of manifest.txt a template store is made:
// `ken shell --store T --durability MODE` loads ken_host.js (print) and the
// harness files (`.load`, one committed turn each), prints a marker once they
// are committed, and is killed with SIGKILL. Then each chunk of tests gets a
// fresh copy of that store's files, in its own directory under the same file
// names (journal segments are found by the name the store was created with),
// and one `ken shell --store COPY` process, which restores the killed store
// (its banner must say "Restored session") and `.load`s each test:
//   - a synchronous test is the test's source (after "use strict";\n for the
//     strict variant) followed by `\n;throw 'test262-pass';`: it passes iff
//     the turn ends with that throw. The throw also rolls the turn back, so
//     the chunk's next test sees the heap exactly as restored (README, "The
//     shell": a turn that throws leaves no trace). A negative test gets no
//     suffix: it passes iff the turn throws an error of its type (the parse
//     phase shows as a SyntaxError; a parse-negative test that does compile
//     throws $DONOTEVALUATE's Test262Error instead, and a compile error is
//     told from a SyntaxError thrown at runtime by its missing stack frame).
//   - an asynchronous test commits its turn (its promises settle in the
//     turn's microtasks) and passes iff $DONE printed
//     Test262:AsyncTestComplete; it runs alone in its process.
// After each test the input `.load <missing file named for the run>` prints
// an error line that delimits the test's output without running a turn.
//
// Every run listed in expected_pass.txt (what plain V8 10.2 passes:
// plain_v8_runner.cc) must pass, except those in known_ken_failures.txt,
// which are reported (and must still fail, so that the list stays honest).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::DurabilityUnderTest;
using ::ken::testing::MakeTempDir;
using ::ken::testing::ReadFileOrEmpty;

const char kKen[] = "cli/ken";  // in the test's runfiles
const char kRoot[] = "tests/test262";
const char kStoreName[] = "t262.ken";
const char kPassMarker[] = "Uncaught 'test262-pass'";
constexpr size_t kChunk = 25;  // synchronous runs per restored process

using Clock = std::chrono::steady_clock;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::vector<std::string>> ReadTable(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : Split(ReadFileOrEmpty(path), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    rows.push_back(Split(line, '\t'));
  }
  return rows;
}

struct TestCase {
  std::string path;
  std::vector<std::string> variants;
  bool async = false;
  std::string negative_phase, negative_type;
  std::string includes;  // comma-separated, in load order
};

struct TestRun {
  const TestCase* test = nullptr;
  std::string variant;
  std::string key() const { return test->path + "\t" + variant; }
  // Filled in by the chunk that runs it.
  bool passed = false;
  std::string why;     // when not passed
  std::string output;  // the shell's output for this test
};

// A child process whose pipes are close-on-exec in this process, so that
// children started concurrently from other threads do not hold them open.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) abort();
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      Reap();
    }
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
  }
  void Write(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = write(stdin_, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  void CloseStdin() {
    close(stdin_);
    stdin_ = -1;
  }
  // Reads until `needle` is in the output or the deadline passes.
  bool WaitFor(const std::string& needle, Clock::time_point deadline) {
    while (output_.find(needle) == std::string::npos) {
      if (!ReadSome(deadline)) return output_.find(needle) != std::string::npos;
    }
    return true;
  }
  // Reads to end of output and reaps; false if the deadline passed first.
  bool Finish(Clock::time_point deadline) {
    while (ReadSome(deadline)) {
    }
    if (stdout_ >= 0) return false;  // deadline
    Reap();
    return true;
  }
  void Kill9() {
    kill(pid_, SIGKILL);
    Reap();
  }
  int status() const { return status_; }
  const std::string& output() const { return output_; }

 private:
  bool ReadSome(Clock::time_point deadline) {
    if (stdout_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    struct pollfd p = {stdout_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) < 0) return false;
    if (p.revents == 0) return true;  // not yet: the caller checks the deadline again
    char buf[65536];
    ssize_t n = read(stdout_, buf, sizeof(buf));
    if (n > 0) {
      output_.append(buf, static_cast<size_t>(n));
      return true;
    }
    close(stdout_);
    stdout_ = -1;
    return false;
  }
  void Reap() {
    if (waitpid(pid_, &status_, 0) == pid_) reaped_ = true;
  }
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::string output_;
};

// A store's files as the template left them, kept in memory without their
// zero blocks (a journal segment is preallocated: mostly zeros), so that each
// copy writes only the bytes in use and leaves the rest a hole.
struct FileImage {
  std::string name;
  off_t size = 0;
  std::vector<std::pair<off_t, std::string>> extents;
};

std::vector<FileImage> ImageOf(const std::string& dir) {
  std::vector<FileImage> images;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return images;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    // The lock names the killed process; shared memory is rebuilt from the WAL.
    if (name.size() >= 5 && (name.substr(name.size() - 5) == ".lock" || name.substr(name.size() - 4) == "-shm"))
      continue;
    FileImage img;
    img.name = name;
    int fd = open((dir + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    constexpr size_t kBlock = 4096;
    static const char kZeros[kBlock] = {};
    std::vector<char> buf(1 << 20);
    off_t pos = 0;
    ssize_t n;
    while ((n = read(fd, buf.data(), buf.size())) > 0) {
      for (ssize_t off = 0; off < n; off += kBlock) {
        size_t len = std::min<size_t>(kBlock, static_cast<size_t>(n - off));
        if (memcmp(buf.data() + off, kZeros, len) == 0) continue;
        const off_t at = pos + off;
        if (!img.extents.empty() &&
            img.extents.back().first + static_cast<off_t>(img.extents.back().second.size()) == at) {
          img.extents.back().second.append(buf.data() + off, len);
        } else {
          img.extents.emplace_back(at, std::string(buf.data() + off, len));
        }
      }
      pos += n;
    }
    close(fd);
    img.size = pos;
    images.push_back(std::move(img));
  }
  closedir(d);
  return images;
}

bool WriteImage(const std::vector<FileImage>& images, const std::string& dir) {
  for (const FileImage& img : images) {
    int fd = open((dir + "/" + img.name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    bool ok = true;
    for (const auto& [off, data] : img.extents)
      ok = ok && pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size());
    ok = ok && ftruncate(fd, img.size) == 0;
    close(fd);
    if (!ok) return false;
  }
  return true;
}

void RemoveTree(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d != nullptr) {
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      struct stat st;
      if (lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        RemoveTree(child);
      } else {
        unlink(child.c_str());
      }
    }
    closedir(d);
  }
  rmdir(path.c_str());
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  return static_cast<bool>(f);
}

std::string Cwd() {
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? buf : ".";
}

std::vector<std::string> ShellArgv(const std::string& store) {
  return {kKen, "shell", "--store", store, "--durability", DurabilityUnderTest(), "--turn-timeout", "20s"};
}

// The template store for one harness list, killed -9 after its commits.
struct Template {
  std::vector<FileImage> image;
  std::string error;  // why it could not be made
  double ms = 0;
};

Template MakeTemplate(const std::string& root, const std::string& includes) {
  Template t;
  Clock::time_point start = Clock::now();
  const std::string dir = MakeTempDir();
  std::string input = ".load " + root + "/ken_host.js\n";
  for (const std::string& h : Split(includes, ',')) input += ".load " + root + "/harness/" + h + "\n";
  input += "'harness-loaded'\n";
  Child shell(ShellArgv(dir + "/" + kStoreName));
  shell.Write(input);
  // Each input's result is printed only once its turn is committed.
  bool loaded = shell.WaitFor("'harness-loaded'\n", Clock::now() + std::chrono::seconds(60));
  shell.Kill9();
  const std::string banner = "Initialized session (" + DurabilityUnderTest() + " mode)\n";
  if (!loaded || shell.output().rfind(banner, 0) != 0 || shell.output().find("Uncaught") != std::string::npos ||
      shell.output().find(".load:") != std::string::npos) {
    t.error = "template for [" + includes + "] not made; the shell printed:\n" + shell.output();
  } else if (!WIFSIGNALED(shell.status()) || WTERMSIG(shell.status()) != SIGKILL) {
    t.error = "template shell for [" + includes + "] was not killed by SIGKILL";
  } else {
    t.image = ImageOf(dir);
  }
  RemoveTree(dir);
  t.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return t;
}

// Runs `runs` (all with the same harness list) in one shell restored from a
// copy of `tpl`; fills in each run's outcome.
void RunChunk(const std::string& root, const Template& tpl, std::vector<TestRun*>& runs) {
  auto fail_all = [&](const std::string& why, const std::string& output) {
    for (TestRun* r : runs) {
      r->passed = false;
      r->why = why;
      r->output = output;
    }
  };
  if (!tpl.error.empty()) return fail_all("no template", tpl.error);
  const std::string dir = MakeTempDir();
  if (!WriteImage(tpl.image, dir)) {
    RemoveTree(dir);
    return fail_all("could not copy the template store", "");
  }
  std::string input;
  std::vector<std::string> delimiters;
  for (size_t i = 0; i < runs.size(); ++i) {
    const TestRun& r = *runs[i];
    std::string source = ReadFileOrEmpty(root + "/" + r.test->path);
    if (r.variant == "strict") source = "\"use strict\";\n" + source;
    if (!r.test->async && r.test->negative_phase.empty()) source += "\n;throw 'test262-pass';\n";
    const std::string file = dir + "/run-" + std::to_string(i) + ".js";
    WriteFile(file, source);
    delimiters.push_back(dir + "/end-of-run-" + std::to_string(i));
    input += ".load " + file + "\n.load " + delimiters.back() + "\n";
  }
  input += ".exit\n";
  Child shell(ShellArgv(dir + "/" + kStoreName));
  shell.Write(input);
  shell.CloseStdin();
  bool finished = shell.Finish(Clock::now() + std::chrono::seconds(60 + 25 * runs.size()));
  const std::string& out = shell.output();
  const std::string banner = "Restored session (" + DurabilityUnderTest() + " mode)\n";
  if (out.rfind(banner, 0) != 0) {
    RemoveTree(dir);
    return fail_all("the copy of the killed template store did not restore", out);
  }
  size_t from = banner.size();
  for (size_t i = 0; i < runs.size(); ++i) {
    TestRun& r = *runs[i];
    size_t at = out.find(delimiters[i], from);
    if (at == std::string::npos) {
      r.why = finished ? "no output for this test (the shell exited)" : "the shell did not finish in time";
      r.output = out.substr(std::min(from, out.size()));
      from = out.size();
      continue;
    }
    size_t line_start = out.rfind('\n', at);
    line_start = line_start == std::string::npos || line_start < from ? from : line_start + 1;
    std::string seg = out.substr(from, line_start - from);
    size_t next = out.find('\n', at);
    from = next == std::string::npos ? out.size() : next + 1;
    r.output = seg;
    std::vector<std::string> lines = Split(seg, '\n');
    auto has_line = [&](const std::string& l) { return std::find(lines.begin(), lines.end(), l) != lines.end(); };
    if (!r.test->negative_phase.empty()) {
      // "Uncaught TypeError: ..." for an Error, "Uncaught Test262Error { ..." for another object. A
      // script that does not compile throws a SyntaxError with no stack frame ("    at ..." line).
      const std::string& type = r.test->negative_type;
      std::string phase;
      for (size_t j = 0; j < lines.size() && phase.empty(); ++j) {
        const std::string& l = lines[j];
        if (l.rfind("Uncaught " + type, 0) != 0) continue;
        if (l.size() > 9 + type.size() && l[9 + type.size()] != ':' && l[9 + type.size()] != ' ') continue;
        bool frame = j + 1 < lines.size() && lines[j + 1].rfind("    at ", 0) == 0;
        phase = type == "SyntaxError" && !frame ? "parse" : "runtime";
      }
      r.passed = phase == r.test->negative_phase;
      if (!r.passed)
        r.why = "expected " + type + " at " + r.test->negative_phase +
                (phase.empty() ? "" : ", thrown at " + phase);
    } else if (r.test->async) {
      std::string first;
      for (const std::string& l : lines)
        if (first.empty() && l.rfind("Test262:AsyncTest", 0) == 0) first = l;
      r.passed = first == "Test262:AsyncTestComplete";
      if (!r.passed) r.why = first.empty() ? "$DONE was not called" : first;
    } else {
      r.passed = has_line(kPassMarker);
      if (!r.passed) r.why = "did not run to its end";
    }
  }
  RemoveTree(dir);
}

TEST(Test262, ExpectedPassesPassAfterKill9) {
  const std::string mode = DurabilityUnderTest();
  const std::string root = Cwd() + "/" + kRoot;
  Clock::time_point start = Clock::now();

  std::vector<TestCase> tests;
  for (const auto& f : ReadTable(root + "/manifest.txt")) {
    ASSERT_EQ(f.size(), 5u);
    TestCase t;
    t.path = f[0];
    t.variants = Split(f[1], ',');
    t.async = f[2] == "async";
    if (f[3] != "-") {
      t.negative_phase = f[3].substr(0, f[3].find(':'));
      t.negative_type = f[3].substr(f[3].find(':') + 1);
    }
    t.includes = f[4];
    tests.push_back(t);
  }
  ASSERT_GE(tests.size(), 500u);
  std::set<std::string> expected_pass;
  for (const auto& f : ReadTable(root + "/expected_pass.txt")) {
    ASSERT_EQ(f.size(), 2u);
    expected_pass.insert(f[0] + "\t" + f[1]);
  }
  std::map<std::string, std::string> known;  // run key -> reason, for this mode
  for (const auto& f : ReadTable(root + "/known_ken_failures.txt")) {
    ASSERT_EQ(f.size(), 4u) << "known_ken_failures.txt: path, variant, mode (journal|snapshot|both), reason";
    if (f[2] == mode || f[2] == "both") known[f[0] + "\t" + f[1]] = f[3];
  }

  std::vector<TestRun> runs;
  for (const TestCase& t : tests)
    for (const std::string& v : t.variants) {
      TestRun r;
      r.test = &t;
      r.variant = v;
      runs.push_back(r);
    }
  for (const std::string& k : expected_pass) {
    bool found = std::any_of(runs.begin(), runs.end(), [&](const TestRun& r) { return r.key() == k; });
    EXPECT_TRUE(found) << "expected_pass.txt lists a run the manifest does not have: " << k;
  }

  // Templates, one per harness list.
  std::map<std::string, Template> templates;
  for (const TestRun& r : runs) templates[r.test->includes];
  // Chunks: synchronous runs of one harness list, kChunk at a time; each
  // asynchronous run alone (its turn commits).
  std::vector<std::vector<TestRun*>> chunks;
  std::map<std::string, std::vector<TestRun*>> sync_by_includes;
  for (TestRun& r : runs) {
    if (r.test->async) {
      chunks.push_back({&r});
    } else {
      sync_by_includes[r.test->includes].push_back(&r);
    }
  }
  for (auto& [includes, list] : sync_by_includes)
    for (size_t i = 0; i < list.size(); i += kChunk)
      chunks.emplace_back(list.begin() + i, list.begin() + std::min(list.size(), i + kChunk));

  const unsigned workers = std::max(2u, std::thread::hardware_concurrency());
  auto parallel = [&](size_t n, const std::function<void(size_t)>& job) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < workers; ++w)
      threads.emplace_back([&] {
        for (size_t i; (i = next++) < n;) job(i);
      });
    for (std::thread& t : threads) t.join();
  };
  std::vector<std::string> keys;
  for (const auto& [k, v] : templates) keys.push_back(k);
  parallel(keys.size(), [&](size_t i) { templates.at(keys[i]) = MakeTemplate(root, keys[i]); });
  const double template_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& [k, t] : templates) ASSERT_TRUE(t.error.empty()) << t.error;
  parallel(chunks.size(), [&](size_t i) { RunChunk(root, templates.at(chunks[i][0]->test->includes), chunks[i]); });
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();

  int passed = 0, failed = 0, expected_failed = 0, known_failed = 0, unexpected = 0;
  for (const TestRun& r : runs) {
    r.passed ? ++passed : ++failed;
    const bool expected = expected_pass.count(r.key()) > 0;
    auto k = known.find(r.key());
    if (!expected) {
      if (!r.passed) ++expected_failed;
      printf("%s (plain V8 fails it; expected_fail.txt): %s in Ken\n", r.key().c_str(),
             r.passed ? "passes" : "fails");
    } else if (k != known.end()) {
      if (r.passed) {
        ADD_FAILURE() << "known_ken_failures.txt lists " << r.key() << " for " << mode
                      << " but it passes now: remove it from the list";
      } else {
        ++known_failed;
        printf("KNOWN KEN FAILURE %s (%s): %s\n", r.key().c_str(), k->second.c_str(), r.why.c_str());
      }
    } else if (!r.passed) {
      ++unexpected;
      ADD_FAILURE() << "test262 " << mode << ": " << r.key() << " passes in plain V8 but fails in Ken: " << r.why
                    << "\n--- the shell's output for it ---\n" << r.output << "---";
    }
  }
  printf("test262 %s: %d passed, %d failed (of %zu): %d of them fail in plain V8 too, %d known Ken failures, "
         "%d unexpected\n",
         mode.c_str(), passed, failed, runs.size(), expected_failed, known_failed, unexpected);
  printf("test262 %s: %zu tests, %zu templates (%.1f s), %zu restored processes, %.1f s in all, %u workers\n",
         mode.c_str(), tests.size(), templates.size(), template_s, chunks.size(), total_s, workers);
  fflush(stdout);
}

}  // namespace
}  // namespace ken
