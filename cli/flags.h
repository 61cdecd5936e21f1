// The flags of `ken`, and the checks that make every flag mistake a usage
// error in Ken's words with exit code 2 (absl's parser would print its own
// message and exit 1). main.cc runs CheckFlagSyntax before absl parses the
// command line and CheckFlagValues after, for every subcommand alike, so a
// bad value is refused even where the flag has no effect.
#ifndef KEN_CLI_FLAGS_H_
#define KEN_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, store);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, image);
ABSL_DECLARE_FLAG(std::string, health);
ABSL_DECLARE_FLAG(std::string, storage);
ABSL_DECLARE_FLAG(std::string, storage_class);
ABSL_DECLARE_FLAG(std::string, nodes);
ABSL_DECLARE_FLAG(std::string, turn_timeout);
ABSL_DECLARE_FLAG(std::string, answer_timeout);
ABSL_DECLARE_FLAG(int64_t, heap_limit_mb);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::string, eval);
ABSL_DECLARE_FLAG(std::string, history);
ABSL_DECLARE_FLAG(std::string, load);
ABSL_DECLARE_FLAG(std::string, script);
ABSL_DECLARE_FLAG(std::string, cluster);
ABSL_DECLARE_FLAG(std::string, id);
ABSL_DECLARE_FLAG(std::string, http);
ABSL_DECLARE_FLAG(std::string, durability);
ABSL_DECLARE_FLAG(bool, accept_divergence);
ABSL_DECLARE_FLAG(std::string, peer);
ABSL_DECLARE_FLAG(bool, detach);
ABSL_DECLARE_FLAG(bool, json);

namespace ken {

// absl flag names cannot contain '-': turns --turn-timeout into
// --turn_timeout (the name only, not a value after '=') and -e into --eval.
std::vector<std::string> NormalizeArgs(int argc, char** argv);

// What CheckFlagSyntax saw besides errors.
struct FlagScan {
  bool log_level_given = false;  // --log-level was on the command line
  std::vector<std::string> peers;  // every --peer value, in order
};

// Checks `args` (the arguments after the subcommand, normalized) without
// setting any flag: every `--name` and `-x` must be a flag of ken, every
// non-bool flag needs a value, and each value must parse as the flag's type
// (a whole number for --heap-limit-mb, true/false for a bool given
// `--flag=value`). Stops at `--`. Returns "" or the error message, e.g.
// "unknown flag --bogus (see ken --help)", "--heap-limit-mb 'abc' is not a
// whole number"; the caller prefixes "ken COMMAND: " and exits 2.
std::string CheckFlagSyntax(const std::vector<std::string>& args, FlagScan* scan);

// The flag values, checked and converted.
struct FlagValues {
  int64_t turn_timeout_ms = 5000;
  int64_t answer_timeout_ms = 60000;
  int64_t heap_limit_mb = 0;
  int log_level = 0;  // spdlog::level::level_enum
};

// Checks the values absl parsed (ranges, durations, names), whatever the
// subcommand: a duration is a bare number of milliseconds or a number with
// a unit, positive and at most a day; --heap-limit-mb is 0 or 16 to 65536;
// --log-level and --durability are one of their names. Returns "" (and
// fills *values) or the error message naming the flag, without the
// "ken COMMAND: " prefix.
std::string CheckFlagValues(FlagValues* values);

}  // namespace ken

#endif  // KEN_CLI_FLAGS_H_
