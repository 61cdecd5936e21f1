#!/usr/bin/env bash
# Prints "PASSED FAILED": the test cases of every test.xml under DIR (a
# bazel-testlogs folder), cached targets included; with LABEL arguments,
# only those targets' (//pkg:name -> DIR/pkg/name/test.xml).
# A gtest binary's XML carries its counts on <testsuites ...>. When a test
# writes none (a script, or a binary killed before gtest wrote it: a
# sanitizer abort, a timeout), Bazel writes its own file whose counts are on
# <testsuite ...> (one case, failed or not): those count too.
#   tools/count_cases.sh DIR [LABEL ...]
set -uo pipefail
dir="$1"; shift
files=()
if [ $# -gt 0 ]; then
  for label in "$@"; do
    path="${label#//}"; path="${path/://}"
    [ -f "$dir/$path/test.xml" ] && files+=("$dir/$path/test.xml")
  done
else
  while IFS= read -r -d '' xml; do files+=("$xml"); done < <(find -L "$dir" -name test.xml -print0 2>/dev/null)
fi
attr() { sed -n "s/.* $1=\"\\([0-9]*\\)\".*/\\1/p" <<<"$2"; }
passed=0; failed=0
for xml in "${files[@]}"; do
  heads=$(grep -m1 -o '<testsuites [^>]*tests="[^>]*>' "$xml" || true)
  [ -z "$heads" ] && heads=$(grep -o '<testsuite [^>]*>' "$xml" || true)
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    t=$(attr tests "$line"); t=${t:-0}
    f=$(attr failures "$line"); f=${f:-0}
    e=$(attr errors "$line"); e=${e:-0}
    passed=$((passed + t - f - e)); failed=$((failed + f + e))
  done <<<"$heads"
done
echo "$passed $failed"
