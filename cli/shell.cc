#include <editline/readline.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <vector>
#include <thread>

#include <cstdio>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "runtime/loop/turn_loop.h"
#include "runtime/turn/dispatcher.h"
#include "runtime/node/node.h"

namespace ken {
namespace {

constexpr char kHelp[] =
    ".break    Abandon the multi-line input being entered\n"
    ".exit     Exit the shell (so does Ctrl-D); the session is already saved\n"
    ".help     Print this help\n"
    ".load F   Run file F as one turn (one script, like a <script> tag)\n"
    "Timers (setTimeout, setInterval) are durable and fire while the shell waits\n"
    "for input (with piped input: between lines).\n"
    "Every input runs as one turn: when it finishes, the whole heap is committed to\n"
    "the store before its result is printed. A turn that throws, runs past the turn\n"
    "timeout or reaches the heap limit is rolled back.\n";

class LineReader {
 public:
  // `interrupts`: the read end of a pipe that gets one byte per Ctrl-C
  // pressed while the shell waits for input (-1: none).
  LineReader(bool interactive, std::string history_path, int interrupts)
      : interactive_(interactive), history_path_(std::move(history_path)), interrupts_(interrupts) {
    if (interactive_) {
      using_history();
      read_history(history_path_.c_str());
    }
  }

  // Work to do while waiting for a line (due timers): `wait_ms()` says how
  // long until it is due (-1: nothing pending), `run()` does it.
  struct Idle {
    std::function<int64_t()> wait_ms;
    std::function<void()> run;
  };

  enum class Outcome { kLine, kEnd, kInterrupted };

  // kEnd at end of input, or at a second Ctrl-C in a row on an empty line.
  // On a terminal, libedit's callback interface lets the shell fire due
  // timers while it waits, then redraw the prompt and the partly typed
  // line. Ctrl-C discards the partly typed line (kInterrupted: the caller
  // abandons a multi-line input too), as node, bash and python do; on an
  // empty line it says how to exit, and a second one exits, as node does.
  Outcome Read(const char* prompt, bool continuing, std::string* line, const Idle& idle,
               std::atomic<bool>* waiting) {
    if (!interactive_) return std::getline(std::cin, *line) ? Outcome::kLine : Outcome::kEnd;
    got_line_ = false;
    eof_ = false;
    line_ = line;
    current_ = this;
    bool typed = false;
    Outcome outcome = Outcome::kEnd;
    // Ctrl-Cs go to the pipe from before the prompt is shown: one typed
    // right after it appears is never taken for an interrupt of a turn that
    // already ended (and so lost). Earlier ones belonged to the last input.
    *waiting = true;
    DrainInterrupts();
    rl_callback_handler_install(prompt, &LineReader::OnLine);
    while (!got_line_ && !eof_) {
      int64_t wait = idle.wait_ms();
      struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {interrupts_, POLLIN, 0}};
      int ready = poll(p, interrupts_ >= 0 ? 2 : 1, wait < 0 ? -1 : static_cast<int>(std::min<int64_t>(wait, 60000)));
      if (ready > 0 && interrupts_ >= 0 && (p[1].revents & POLLIN)) {
        DrainInterrupts();
        if (typed || continuing) {
          fputs("\n", stdout);
          outcome = Outcome::kInterrupted;
          ctrl_c_on_empty_line_ = false;
          break;
        }
        if (ctrl_c_on_empty_line_) {
          fputs("\n", stdout);
          break;  // kEnd
        }
        ctrl_c_on_empty_line_ = true;
        fputs("\n(To exit, press Ctrl-C again or Ctrl-D or type .exit)\n", stdout);
        fflush(stdout);
        rl_forced_update_display();
      } else if (ready > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        typed = true;
        ctrl_c_on_empty_line_ = false;
        rl_callback_read_char();
      } else if (ready == 0) {
        fputs("\r\x1b[K", stdout);  // clear the prompt line; output goes there
        fflush(stdout);
        *waiting = false;  // a timer's turn is running: Ctrl-C interrupts it
        idle.run();
        *waiting = true;
        rl_forced_update_display();
      } else if (ready < 0 && errno != EINTR) {
        eof_ = true;
      }
    }
    *waiting = false;
    // Removing the handler and installing it at the next Read resets
    // libedit's line buffer: an interrupted line is gone.
    rl_callback_handler_remove();
    current_ = nullptr;
    if (got_line_) {
      ctrl_c_on_empty_line_ = false;
      return Outcome::kLine;
    }
    return outcome;
  }

  void Remember(const std::string& entry) {
    if (!interactive_ || absl::StripAsciiWhitespace(entry).empty()) return;
    add_history(entry.c_str());
    write_history(history_path_.c_str());
  }

 private:
  static void OnLine(char* raw) {
    LineReader* self = current_;
    if (raw == nullptr) {
      self->eof_ = true;
      fputc('\n', stdout);
      return;
    }
    *self->line_ = raw;
    free(raw);
    self->got_line_ = true;
  }

  void DrainInterrupts() {
    if (interrupts_ < 0) return;
    char buf[64];
    while (read(interrupts_, buf, sizeof(buf)) > 0) {
    }
  }

  static inline LineReader* current_ = nullptr;  // libedit's callback has no user data
  bool interactive_;
  std::string history_path_;
  int interrupts_;
  std::string* line_ = nullptr;
  bool got_line_ = false;
  bool eof_ = false;
  bool ctrl_c_on_empty_line_ = false;
};

void Print(const std::string& text) {
  fwrite(text.data(), 1, text.size(), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

// Node's REPL reads `{ a: 1 }` as an object literal, not a block.
std::string AsExpressionIfObjectLiteral(PersistentIsolate& isolate, const std::string& source) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(source);
  if (!absl::StartsWith(trimmed, "{") || !absl::EndsWith(trimmed, "}")) return source;
  std::string wrapped = absl::StrCat("(", trimmed, ")");
  absl::StatusOr<PersistentIsolate::Syntax> syntax = isolate.CheckSyntax(wrapped);
  return syntax.ok() && *syntax == PersistentIsolate::Syntax::kValid ? wrapped : source;
}

// Runs `record` as one turn through the loop and returns its result once
// its commit is durable. Due timers fire in the same loop.
TurnResult RunTurnNow(TurnLoop& loop, v1::TurnInput record) {
  auto input = std::make_shared<LoopInput>();
  input->record = std::move(record);
  TurnResult result;
  bool done = false;
  input->done = [&](const TurnResult& r) {
    result = r;
    done = true;
  };
  loop.Submit(input);
  while (!done) loop.Step(100);
  return result;
}

// Promise rejections that committed turns left unhandled, printed (like
// Node's REPL, "Uncaught ...") after the output of the input that made them.
void PrintUncaught(std::vector<std::string>* uncaught) {
  for (const std::string& text : *uncaught) Print(text);
  uncaught->clear();
}

// Durable timers in the shell: due timers fire (each as its own turn)
// before each prompt and, on a terminal, while the shell waits for input.
void FireDueTimers(TurnLoop& loop, std::vector<std::string>* uncaught) {
  for (int round = 0; round < 100 && loop.TimerDue(); ++round) loop.Step(0);
  loop.Drain();
  PrintUncaught(uncaught);
}

// One input: a script named `name`; prints its value (or the error) once
// the turn is committed.
// `main_module`: the absolute file its `require` resolves from.
void RunInput(TurnLoop& loop, const std::string& source, const std::string& name, const std::string& main_module,
              std::vector<std::string>* uncaught, bool* said_why_slow) {
  TurnResult result = RunTurnNow(loop, ShellRecord(source, name, main_module));
  Print(result.ok() ? result.output : result.error);
  if (!result.ok() && absl::StrContains(result.error, "await is only valid in async functions")) {
    Print("Hint: the shell has no top-level await: each input runs as one turn, a classic script. Wrap it in an\n"
          "async function, (async () => { ... })(); the code after an await runs when the promise settles, in\n"
          "this turn or a later one (a timer's), and survives a restart like everything else.");
  }
  if (!result.ok() && (absl::StrContains(result.error, "Cannot use import statement outside a module") ||
                       absl::StrContains(result.error, "Unexpected token 'export'"))) {
    Print("Hint: a typed input runs as a classic script, and so does a .js file outside a \"type\": \"module\"\n"
          "package. A file is an ES module (import/export) when its name ends in .mjs or its package.json has\n"
          "\"type\": \"module\"; from a script, use import('./file.mjs').then((m) => ...) or require('./file.mjs').");
  }
  PrintUncaught(uncaught);
  // Snapshot mode writes the whole heap at every commit: with a large heap
  // every input takes that long. Said once per session.
  PersistentIsolate& isolate = loop.node().isolate();
  if (!*said_why_slow && loop.node().durability() == "snapshot" && isolate.last_snapshot_ms() > 500) {
    *said_why_slow = true;
    Print(absl::StrCat("(the last commit took ", isolate.last_snapshot_ms(), " ms: in snapshot mode every commit writes ",
                       "the whole heap, ", isolate.last_snapshot_heap_bytes() >> 20, " MB now; journal mode commits ",
                       "only the input: ken shell --store ", loop.node().store().path(), " --durability journal)"));
  }
  if (!loop.node().fatal().ok()) {
    fprintf(stderr, "ken shell: %s\n", std::string(loop.node().fatal().message()).c_str());
    exit(1);
  }
}

}  // namespace

// `.load FILE` and `--load FILE`: the file's text as one input, its
// `require` resolving from the file's folder. `what` names the command in
// the error if it cannot be read.
static void LoadFile(TurnLoop& loop, const std::string& file, const char* what, std::vector<std::string>* uncaught,
              bool* said_why_slow) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    Print(absl::StrCat(what, ": cannot read ", file, ": ", strerror(errno)));
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(file, ec).lexically_normal().string();
  RunInput(loop, text.str(), file, ec ? "" : absolute, uncaught, said_why_slow);
}

int RunShell(const ShellOptions& options) {
  NodeOptions node_options;
  node_options.store_path = options.store_path;
  node_options.isolate.turn_timeout_ms = options.turn_timeout_ms;
  node_options.durability = options.durability;
  node_options.durability_explicit = !options.durability.empty();
  node_options.accept_divergence = options.accept_divergence;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken shell: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  Print(absl::StrCat(node.created() ? "Initialized session" : "Restored session", " (", node.durability(), " mode)"));

  const bool interactive = isatty(STDIN_FILENO);
  // Ctrl-C: SIGINT is blocked in every thread (main() blocks it before V8
  // starts its threads) and taken here: it interrupts a running turn, which
  // is rolled back; while the shell waits for input it goes to the line
  // reader through a pipe (it discards the line being typed).
  std::atomic<bool> done{false};
  std::atomic<bool> waiting{false};
  int interrupts[2] = {-1, -1};
  std::thread interrupter;
  if (interactive && pipe2(interrupts, O_NONBLOCK | O_CLOEXEC) != 0) interrupts[0] = interrupts[1] = -1;
  if (interactive) {
    interrupter = std::thread([&node, &done, &waiting, &interrupts] {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGINT);
      sigaddset(&set, SIGUSR1);
      int sig = 0;
      while (sigwait(&set, &sig) == 0 && !done) {
        if (sig != SIGINT) continue;
        if (waiting && interrupts[1] >= 0) {
          (void)!write(interrupts[1], "c", 1);
          continue;
        }
        node.isolate().Interrupt();
      }
    });
  }
  struct JoinInterrupter {
    std::atomic<bool>& done;
    std::thread& thread;
    int* fds;
    ~JoinInterrupter() {
      done = true;
      if (thread.joinable()) {
        pthread_kill(thread.native_handle(), SIGUSR1);
        thread.join();
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) close(fds[i]);
      }
    }
  } join_interrupter{done, interrupter, interrupts};
  LineReader reader(interactive,
                    options.history_path.empty() ? options.store_path + ".history" : options.history_path,
                    interrupts[0]);
  TurnLoopOptions loop_options;
  loop_options.linger_ms = 0;  // one person types: no batches to wait for
  std::vector<std::string> uncaught;
  bool said_why_slow = false;  // the slow-commit hint is said once per session
  loop_options.on_unhandled_rejection = [&uncaught](const std::string&, const std::string& text) {
    uncaught.push_back(text);
  };
  TurnLoop loop(node, loop_options);
  if (!options.load_path.empty()) {
    if (node.created()) {
      LoadFile(loop, options.load_path, "--load", &uncaught, &said_why_slow);
    } else {
      Print(absl::StrCat("--load ", options.load_path, ": not run, the session is restored (it ran when the store "
                         "was new); .load FILE runs a file again"));
    }
  }
  int64_t input_number = node.next_turn();
  std::string pending;
  std::string line;
  while (true) {
    if (pending.empty()) FireDueTimers(loop, &uncaught);
    LineReader::Idle idle{[&] { return pending.empty() ? loop.MsUntilNextTimer() : -1; },
                          [&] { FireDueTimers(loop, &uncaught); }};
    LineReader::Outcome got = reader.Read(pending.empty() ? "> " : "... ", !pending.empty(), &line, idle, &waiting);
    if (got == LineReader::Outcome::kEnd) break;
    if (got == LineReader::Outcome::kInterrupted) {
      pending.clear();
      continue;
    }
    absl::string_view command = absl::StripAsciiWhitespace(line);
    if (pending.empty()) {
      if (command == ".exit") break;
      if (command == ".help") {
        fputs(kHelp, stdout);
        continue;
      }
      if (command.empty()) continue;
      if (command == ".load" || (absl::StartsWith(command, ".load ") && absl::StripAsciiWhitespace(command.substr(6)).empty())) {
        Print(".load needs a file: .load FILE");
        continue;
      }
      if (absl::StartsWith(command, ".load ")) {
        reader.Remember(line);
        LoadFile(loop, std::string(absl::StripAsciiWhitespace(command.substr(6))), ".load", &uncaught, &said_why_slow);
        continue;
      }
      if (command.size() > 1 && command[0] == '.' && std::isalpha(static_cast<unsigned char>(command[1])) &&
          command != ".break") {
        Print("Invalid REPL keyword (.help lists them)");
        continue;
      }
    }
    if (command == ".break") {
      pending.clear();
      continue;
    }
    pending += pending.empty() ? line : "\n" + line;
    absl::StatusOr<PersistentIsolate::Syntax> syntax = node.isolate().CheckSyntax(pending);
    if (!syntax.ok()) {
      fprintf(stderr, "ken shell: store %s: %s\n", options.store_path.c_str(),
              std::string(syntax.status().message()).c_str());
      return 1;
    }
    if (*syntax == PersistentIsolate::Syntax::kIncomplete) continue;
    std::string source = AsExpressionIfObjectLiteral(node.isolate(), pending);
    reader.Remember(pending);
    pending.clear();
    // Named like Node's REPL: REPL<n>, one number per input (from the
    // store's next turn, so names stay distinct across restarts).
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    RunInput(loop, source, absl::StrCat("REPL", input_number++), ec ? "" : (cwd / "[repl]").string(), &uncaught,
             &said_why_slow);
  }
  if (!pending.empty()) Print("(unfinished input discarded)");
  return 0;
}

}  // namespace ken
