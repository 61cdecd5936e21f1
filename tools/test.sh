#!/usr/bin/env bash
# Sets up (idempotent), builds everything and runs every test, then prints a
# plain summary line "N passed, N failed" counted from gtest's test.xml files.
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
passed=0; failed=0
while IFS= read -r -d '' xml; do
  line=$(grep -m1 -o '<testsuites [^>]*>' "$xml" || true)
  t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line"); t=${t:-0}
  f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line"); f=${f:-0}
  e=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line"); e=${e:-0}
  passed=$((passed + t - f - e)); failed=$((failed + f + e))
done < <(find -L bazel-testlogs/ -name test.xml -print0 2>/dev/null)
[ "$layering" -ne 0 ] && failed=$((failed + 1))  # the layering check counts as one case
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit $rc
