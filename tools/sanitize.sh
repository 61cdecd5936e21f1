#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the test command (tools/test.sh runs it
# after the main suite; README, "Sanitizers and fuzzing"):
#   1. ASan + UBSan (one build, --config=asan-ubsan) over every test but the
#      long multi-process ones (chaos, pingpong, test262) and the container test (--all adds them);
#   2. TSan (--config=tsan) over the threaded parts: channels, transport,
#      store, journal, HTTP front end, config and supervisor in tests without
#      V8, and `ken cluster` and the wire checks through a TSan-built ken
#      (whose V8 threads TSan cannot follow: tools/sanitizers/tsan.supp);
#   3. every libFuzzer target for KEN_FUZZ_SECONDS (default 60) each.
# Prints "sanitizers: N passed, N failed" (test cases: tools/count_cases.sh,
# plus one failure per sanitizer report file, from a test or any process it
# started) and one line per fuzz target; exit 1 if anything failed.
#   tools/sanitize.sh [--all]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
all=0
[ "${1:-}" = "--all" ] && all=1
rc=0
# stage <config> <label> <target pattern...>: tests the targets under the
# config and counts the cases of exactly those targets.
stage() {
  local config="$1" label="$2"; shift 2
  local tests logs p f
  if ! tests=$(bazel query "tests($*)" 2>/dev/null) || [ -z "$tests" ]; then
    echo "sanitizers: $label: cannot list the tests of: $*" >&2
    rc=1; failed=$((failed + 1)); return
  fi
  logs="$(bazel info --config="$config" bazel-testlogs 2>/dev/null)"
  case "$logs" in
    */bazel-out/*-"$config"/testlogs) ;;
    *) echo "sanitizers: $label: unexpected testlogs folder '$logs'" >&2; rc=1; failed=$((failed + 1)); return;;
  esac
  # Every report goes to a file, whichever process makes it: a node that a
  # test started and that stops at a report (exit 66 under TSan) is only a
  # restart to the supervisor, and its stderr is in a log the test deletes.
  reports="$(mktemp -d /tmp/ken-sanitizer-reports.XXXXXX)"
  # shellcheck disable=SC2086
  bazel test --config="$config" --sandbox_writable_path="$reports" \
    --test_env=ASAN_OPTIONS="log_path=$reports/asan" --test_env=UBSAN_OPTIONS="log_path=$reports/ubsan" \
    --test_env=TSAN_OPTIONS="log_path=$reports/tsan" $tests || rc=1
  # shellcheck disable=SC2086
  read -r p f < <(bash tools/count_cases.sh "$logs" $tests)
  echo "sanitizers: $label: $p passed, $f failed"
  local files=("$reports"/*)
  if [ -e "${files[0]}" ]; then
    echo "sanitizers: $label: ${#files[@]} report(s) from tests or the processes they started:" >&2
    for r in "${files[@]:0:5}"; do
      echo "--- $(basename "$r")" >&2
      head -n 80 "$r" | cut -c1-400 >&2
    done
    rc=1; failed=$((failed + ${#files[@]}))
  fi
  rm -rf "$reports"
  passed=$((passed + p)); failed=$((failed + f))
}
passed=0; failed=0

long='//tests/chaos/... + //tests/test262/... + //tests/container/... + //tests:pingpong_test + //tests:pingpong_test_snapshot'
if [ $all -eq 1 ]; then
  stage asan-ubsan "asan+ubsan" '//...'
else
  stage asan-ubsan "asan+ubsan" "//... except ($long)"
fi
stage tsan tsan '//base/... + //messaging/... + //store/... + //http/... + //cluster/... + //fuzz/... + //tests:cluster_cli_test + //tests:transport_bad_input_test + //tests:tls_test'

if ! bash tools/fuzz.sh "${KEN_FUZZ_SECONDS:-60}"; then
  rc=1; failed=$((failed + 1))
fi
echo "sanitizers: $passed passed, $failed failed"
exit $rc
