#!/usr/bin/env bash
# Runs Ken's libFuzzer targets (fuzz/) for a bounded time each.
#
#   tools/fuzz.sh [SECONDS] [TARGET ...]
#
# SECONDS per target (default 60; CI uses 60); TARGETs among envelope,
# store, journal, config, http (default: all). Builds with --config=fuzz
# (clang-14, ASan + UBSan + libFuzzer), runs two targets at a time (one per
# core), each from its checked-in seed corpus (fuzz/corpus/<target>, not
# modified: new inputs go to a scratch corpus), and prints each target's
# executions. A crash leaves its input in fuzz/findings/<target>/ (git-ignored)
# and fails the run: fix it, then keep the input as a regression test by
# moving it to fuzz/regressions/<target>/ (//fuzz:<target>_regression_test
# replays it in every build).
#
# For a long run: tools/fuzz.sh 3600 store   (or KEN_FUZZ_JOBS=N for N lanes).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(envelope store journal config http)
case "$seconds" in ''|*[!0-9]*) echo "fuzz: SECONDS must be a number, not '$seconds'" >&2; exit 2;; esac
for t in "${targets[@]}"; do
  [ -f "fuzz/${t}_fuzzer.cc" ] || { echo "fuzz: no target '$t' (fuzz/${t}_fuzzer.cc)" >&2; exit 2; }
done
labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:${t}_fuzzer"); done
bazel build --config=fuzz "${labels[@]}" || exit 1
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)"
for t in "${targets[@]}"; do
  [ -x "$bin/fuzz/${t}_fuzzer" ] || { echo "fuzz: the build made no $bin/fuzz/${t}_fuzzer" >&2; exit 1; }
done
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
run_one() {
  local t="$1"
  mkdir -p "$scratch/$t" "fuzz/findings/$t"
  "$bin/fuzz/${t}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=3072 \
    -max_len=65536 -artifact_prefix="fuzz/findings/$t/" "$scratch/$t" "fuzz/corpus/$t" > "$scratch/$t.log" 2>&1
  local rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t: ${execs:-?} executions in ${seconds} s, no crash"
  else
    echo "fuzz: $t: FAILED after ${execs:-?} executions (exit $rc); input in fuzz/findings/$t/:"
    grep -E "ERROR|SUMMARY|==[0-9]+==|^    #[0-9]" "$scratch/$t.log" | head -30
  fi
  return $rc
}
export -f run_one
export seconds bin scratch
printf '%s\n' "${targets[@]}" | xargs -P "${KEN_FUZZ_JOBS:-2}" -I{} bash -c 'run_one {}'
