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
#include "cli/turn_inputs.h"
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

// Durable timers in the shell: due timers fire (each as its own turn) before
// each prompt and, on a terminal, while the shell waits for input.
class ShellTimers {
 public:
  explicit ShellTimers(Node& node) : node_(node), observe_(UpcomingTimersBody(64)) {
    TurnResult r = node_.Evaluate(observe_);
    if (r.ok()) upcoming_ = ParseUpcomingTimers(r.output);
  }
  const PersistentIsolate::TurnBody* observe() const { return &observe_; }
  // Milliseconds until the soonest timer is due (0 if overdue), -1 if none.
  int64_t WaitMs() const {
    if (upcoming_.empty()) return -1;
    return std::max<int64_t>(0, upcoming_.front().second - NowMs());
  }
  void Update(const BatchResult& batch) {
    if (batch.observed) upcoming_ = ParseUpcomingTimers(*batch.observed);
  }
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void FireDue() {
    for (int round = 0; round < 100; ++round) {
      const int64_t now = NowMs();
      std::vector<TurnInput> due;
      for (const auto& [id, at] : upcoming_) {
        if (at <= now) due.push_back(TimerInput(id, at));
      }
      if (due.empty()) return;
      BatchResult batch = node_.RunBatch(due, &observe_);
      if (!batch.commit.ok()) return;
      Update(batch);
    }
  }

 private:
  Node& node_;
  PersistentIsolate::TurnBody observe_;
  std::vector<std::pair<int64_t, int64_t>> upcoming_;
};

// One turn: evaluates `source` as a script named `name`; prints its value
// (or the error) once the turn is committed.
void RunInput(Node& node, ShellTimers& timers, const std::string& source, const std::string& name) {
  TurnInput input;
  input.description = "shell input";
  input.body = [&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, name).ToLocal(&value)) return absl::AbortedError("threw");
    return Inspect(scope, value, true);
  };
  BatchResult batch = node.RunBatch({input}, timers.observe());
  timers.Update(batch);
  const TurnResult& result = batch.results[0];
  Print(result.ok() ? result.output : result.error);
}

}  // namespace

int RunShell(const ShellOptions& options) {
  NodeOptions node_options;
  node_options.store_path = options.store_path;
  node_options.isolate.turn_timeout_ms = options.turn_timeout_ms;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken shell: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  Print(node.created() ? "Initialized session" : "Restored session");

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
  ShellTimers timers(node);
  int64_t input_number = node.next_turn();
  std::string pending;
  std::string line;
  while (true) {
    if (pending.empty()) timers.FireDue();
    LineReader::Idle idle{[&] { return pending.empty() ? timers.WaitMs() : -1; }, [&] { timers.FireDue(); }};
    if (!reader.Read(pending.empty() ? "> " : "... ", &line, idle)) break;
    absl::string_view command = absl::StripAsciiWhitespace(line);
    if (pending.empty()) {
      if (command == ".exit") break;
      if (command == ".help") {
        fputs(kHelp, stdout);
        continue;
      }
      if (command.empty()) continue;
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
        RunInput(node, timers, text.str(), file);
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
    RunInput(node, timers, source, absl::StrCat("REPL", input_number++));
  }
  if (!pending.empty()) Print("(unfinished input discarded)");
  return 0;
}

}  // namespace ken
