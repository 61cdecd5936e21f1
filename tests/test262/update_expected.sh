#!/usr/bin/env bash
# Regenerates expected_pass.txt and expected_fail.txt from the plain-V8
# reference (plain_v8_runner.cc: V8 10.2, default flags, a bare isolate).
# Run from anywhere in the workspace after select_tests.py; review the diff.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bazel build //tests/test262:plain_v8_runner
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
bazel-bin/tests/test262/plain_v8_runner --root tests/test262 >"$out"
commit="$(sed -n '1s/^# test262 \([0-9a-f]*\),.*/\1/p' tests/test262/manifest.txt)"
version="$(bazel-bin/tests/test262/plain_v8_runner --root tests/test262 --filter /nothing/ 2>&1 >/dev/null |
  sed -n 's/^plain V8 \([^,]*\),.*/\1/p')"
{
  echo "# Every test (and strictness variant) of the sample that plain V8 $version passes: test262 $commit."
  echo "# Written by update_expected.sh; ken_test262_test requires each to pass in Ken."
  awk -F'\t' '$1 == "PASS" { print $2 "\t" $3 }' "$out"
} >tests/test262/expected_pass.txt
{
  echo "# Every test (and strictness variant) of the sample that plain V8 $version fails, and why: test262 $commit."
  echo "# Written by update_expected.sh; not required to pass in Ken."
  awk -F'\t' '$1 == "FAIL" { print $2 "\t" $3 "\t" $4 }' "$out"
} >tests/test262/expected_fail.txt
echo "expected_pass.txt: $(grep -vc '^#' tests/test262/expected_pass.txt) runs; expected_fail.txt: $(grep -vc '^#' tests/test262/expected_fail.txt) runs"
