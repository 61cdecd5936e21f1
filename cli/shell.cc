#include <editline/readline.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
  LineReader(bool interactive, std::string history_path)
      : interactive_(interactive), history_path_(std::move(history_path)) {
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

  // False at end of input. On a terminal, libedit's callback interface lets
  // the shell fire due timers while it waits, then redraw the prompt and the
  // partly typed line.
  bool Read(const char* prompt, std::string* line, const Idle& idle) {
    if (!interactive_) return static_cast<bool>(std::getline(std::cin, *line));
    got_line_ = false;
    eof_ = false;
    line_ = line;
    current_ = this;
    rl_callback_handler_install(prompt, &LineReader::OnLine);
    while (!got_line_ && !eof_) {
      int64_t wait = idle.wait_ms();
      struct pollfd p = {STDIN_FILENO, POLLIN, 0};
      int ready = poll(&p, 1, wait < 0 ? -1 : static_cast<int>(std::min<int64_t>(wait, 60000)));
      if (ready > 0) {
        rl_callback_read_char();
      } else if (ready == 0) {
        fputs("\r\x1b[K", stdout);  // clear the prompt line; output goes there
        fflush(stdout);
        idle.run();
        rl_forced_update_display();
      } else if (errno != EINTR) {
        eof_ = true;
      }
    }
    rl_callback_handler_remove();
    current_ = nullptr;
    return got_line_;
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

  static inline LineReader* current_ = nullptr;  // libedit's callback has no user data
  bool interactive_;
  std::string history_path_;
  std::string* line_ = nullptr;
  bool got_line_ = false;
  bool eof_ = false;
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

// Durable timers in the shell: due timers fire (each as its own turn)
// before each prompt and, on a terminal, while the shell waits for input.
void FireDueTimers(TurnLoop& loop) {
  for (int round = 0; round < 100 && loop.TimerDue(); ++round) loop.Step(0);
  loop.Drain();
}

// One input: a script named `name`; prints its value (or the error) once
// the turn is committed.
void RunInput(TurnLoop& loop, const std::string& source, const std::string& name) {
  TurnResult result = RunTurnNow(loop, ShellRecord(source, name));
  Print(result.ok() ? result.output : result.error);
  if (!loop.node().fatal().ok()) {
    fprintf(stderr, "ken shell: %s\n", std::string(loop.node().fatal().message()).c_str());
    exit(1);
  }
}

}  // namespace

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
  // is rolled back; at the prompt it only reminds how to leave.
  std::atomic<bool> done{false};
  std::thread interrupter;
  if (interactive) {
    interrupter = std::thread([&node, &done] {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGINT);
      sigaddset(&set, SIGUSR1);
      int sig = 0;
      while (sigwait(&set, &sig) == 0 && !done) {
        if (sig != SIGINT) continue;
        node.isolate().Interrupt();
        fputs("\n(Ctrl-C interrupts a running input; to exit, press Ctrl-D or type .exit)\n", stdout);
        fflush(stdout);
      }
    });
  }
  struct JoinInterrupter {
    std::atomic<bool>& done;
    std::thread& thread;
    ~JoinInterrupter() {
      done = true;
      if (thread.joinable()) {
        pthread_kill(thread.native_handle(), SIGUSR1);
        thread.join();
      }
    }
  } join_interrupter{done, interrupter};
  LineReader reader(interactive,
                    options.history_path.empty() ? options.store_path + ".history" : options.history_path);
  TurnLoopOptions loop_options;
  loop_options.linger_ms = 0;  // one person types: no batches to wait for
  TurnLoop loop(node, loop_options);
  int64_t input_number = node.next_turn();
  std::string pending;
  std::string line;
  while (true) {
    if (pending.empty()) FireDueTimers(loop);
    LineReader::Idle idle{[&] { return pending.empty() ? loop.MsUntilNextTimer() : -1; },
                          [&] { FireDueTimers(loop); }};
    if (!reader.Read(pending.empty() ? "> " : "... ", &line, idle)) break;
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
        std::string file(absl::StripAsciiWhitespace(command.substr(6)));
        std::ifstream in(file, std::ios::binary);
        if (!in) {
          Print(absl::StrCat(".load: cannot read ", file, ": ", strerror(errno)));
          continue;
        }
        std::stringstream text;
        text << in.rdbuf();
        reader.Remember(line);
        RunInput(loop, text.str(), file);
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
    RunInput(loop, source, absl::StrCat("REPL", input_number++));
  }
  if (!pending.empty()) Print("(unfinished input discarded)");
  return 0;
}

}  // namespace ken
