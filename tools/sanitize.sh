#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the test command (tools/test.sh runs it
# after the main suite; README, "Sanitizers and fuzzing"):
#   1. ASan + UBSan (one build, --config=asan-ubsan) over every test but the
#      long multi-process ones (chaos, pingpong, test262; --all adds them);
#   2. TSan (--config=tsan) over the threaded parts that run without V8:
#      channels, transport, store, journal, HTTP front end, config,
#      supervisor, and through a TSan-built ken binary `ken cluster` and the
#      wire checks;
#   3. every libFuzzer target for KEN_FUZZ_SECONDS (default 60) each.
# Prints "sanitizers: N passed, N failed" (test cases, from gtest's XML) and
# one line per fuzz target; exit 1 if anything failed.
#   tools/sanitize.sh [--all]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
all=0
[ "${1:-}" = "--all" ] && all=1
rc=0
count() {  # count <testlogs dir> <label>: adds to passed/failed
  local p f
  read -r p f < <(bash tools/count_cases.sh "$1")
  echo "sanitizers: $2: $p passed, $f failed"
  passed=$((passed + p)); failed=$((failed + f))
}
passed=0; failed=0

long='//tests/chaos/... + //tests/test262/... + //tests:pingpong_test + //tests:pingpong_test_snapshot'
if [ $all -eq 1 ]; then
  asan_targets=$(bazel query 'tests(//...)' 2>/dev/null)
else
  asan_targets=$(bazel query "tests(//...) except ($long)" 2>/dev/null)
fi
logs="$(bazel info --config=asan-ubsan bazel-testlogs 2>/dev/null)"
rm -rf "$logs"
# shellcheck disable=SC2086
bazel test --config=asan-ubsan $asan_targets || rc=1
count "$logs" "asan+ubsan"

tsan_targets='//base/... //messaging/... //store/... //http/... //cluster/... //fuzz/...
              //tests:cluster_cli_test //tests:transport_bad_input_test'

logs="$(bazel info --config=tsan bazel-testlogs 2>/dev/null)"
rm -rf "$logs"
# shellcheck disable=SC2086
bazel test --config=tsan $tsan_targets || rc=1
count "$logs" "tsan"

if ! bash tools/fuzz.sh "${KEN_FUZZ_SECONDS:-60}"; then
  rc=1; failed=$((failed + 1))
fi
echo "sanitizers: $passed passed, $failed failed"
exit $rc
