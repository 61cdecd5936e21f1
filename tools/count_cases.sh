#!/usr/bin/env bash
# Prints "PASSED FAILED": the gtest cases of every test.xml under DIR (a
# bazel-testlogs folder), cached targets included.
#   tools/count_cases.sh DIR
set -uo pipefail
passed=0; failed=0
while IFS= read -r -d '' xml; do
  line=$(grep -m1 -o '<testsuites [^>]*>' "$xml" || true)
  t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line"); t=${t:-0}
  f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line"); f=${f:-0}
  e=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line"); e=${e:-0}
  passed=$((passed + t - f - e)); failed=$((failed + f + e))
done < <(find -L "$1" -name test.xml -print0 2>/dev/null)
echo "$passed $failed"
