#include <editline/readline.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "runtime/node/node.h"

namespace ken {
namespace {

constexpr char kHelp[] =
    ".break    Abandon the multi-line input being entered\n"
    ".exit     Exit the shell (so does Ctrl-D); the session is already saved\n"
    ".help     Print this help\n"
    ".load F   Run file F as one turn (one script, like a <script> tag)\n"
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

  // False at end of input.
  bool Read(const char* prompt, std::string* line) {
    if (!interactive_) return static_cast<bool>(std::getline(std::cin, *line));
    char* raw = readline(prompt);
    if (raw == nullptr) return false;
    *line = raw;
    free(raw);
    return true;
  }

  void Remember(const std::string& entry) {
    if (!interactive_ || absl::StripAsciiWhitespace(entry).empty()) return;
    add_history(entry.c_str());
    write_history(history_path_.c_str());
  }

 private:
  bool interactive_;
  std::string history_path_;
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

// One turn: evaluates `source` as a script named `name`; prints its value
// (or the error) once the turn is committed.
void RunInput(Node& node, const std::string& source, const std::string& name) {
  TurnResult result = node.Turn([&](const TurnScope& scope) -> absl::StatusOr<std::string> {
    v8::Local<v8::Value> value;
    if (!EvalScript(scope, source, name).ToLocal(&value)) return absl::AbortedError("threw");
    return Inspect(scope, value, true);
  });
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
  std::string pending;
  std::string line;
  while (reader.Read(pending.empty() ? "> " : "... ", &line)) {
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
          Print(absl::StrCat(".load: cannot read ", file));
          continue;
        }
        std::stringstream text;
        text << in.rdbuf();
        reader.Remember(line);
        RunInput(node, text.str(), file);
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
    RunInput(node, source, absl::StrCat("REPL", node.next_turn()));
  }
  if (!pending.empty()) Print("(unfinished input discarded)");
  return 0;
}

}  // namespace ken
