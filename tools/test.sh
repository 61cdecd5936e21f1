#!/usr/bin/env bash
# Sets up (idempotent), builds everything and runs every test, then the
# sanitizer and fuzzing stage (tools/sanitize.sh; KEN_SANITIZERS=0 skips it),
# and prints a plain summary line "N passed, N failed" counted from gtest's
# test.xml files (the fuzz targets count as one case if any of them fails).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bazel keeps its cache under $HOME; CI environments may not set it.
export HOME="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
cd "$root"
bash tools/setup.sh || exit 1
bash tools/check_layering.sh
layering=$?
bazel test //... "$@"
rc=$?
[ "$layering" -ne 0 ] && rc=1
read -r passed failed < <(bash tools/count_cases.sh bazel-testlogs/)
[ "$layering" -ne 0 ] && failed=$((failed + 1))  # the layering check counts as one case
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "suite: $passed passed, $failed failed"
if [ "${KEN_SANITIZERS:-1}" != 0 ]; then
  out="$(mktemp)"
  bash tools/sanitize.sh 2>&1 | tee "$out"
  src=${PIPESTATUS[0]}
  line=$(grep '^sanitizers: [0-9]* passed, [0-9]* failed$' "$out" | tail -1)
  rm -f "$out"
  sp=$(sed -n 's/^sanitizers: \([0-9]*\) passed.*/\1/p' <<<"$line"); sp=${sp:-0}
  sf=$(sed -n 's/.* passed, \([0-9]*\) failed$/\1/p' <<<"$line"); sf=${sf:-1}
  [ "$src" -ne 0 ] && [ "$sf" -eq 0 ] && sf=1
  passed=$((passed + sp)); failed=$((failed + sf))
  [ "$src" -ne 0 ] && rc=1
fi
echo "$passed passed, $failed failed"
exit $rc
