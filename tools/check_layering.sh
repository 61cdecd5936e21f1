#!/usr/bin/env bash
# The layering of Ken's code, checked on #include lines (Bazel visibility
# enforces the same on BUILD deps; an include can reach a header of a
# transitive dependency, which visibility does not see):
#
#   cli  ->  cluster, http  ->  runtime  ->  messaging, store, js_api  ->  base
#
# Each folder may include its own headers, proto/ and those of the layers
# below it; never a layer above; and cli/ (flag parsing, printing, wiring)
# does not reach into js_api/, messaging/ or store/: it goes through runtime/.
# tests/, bench/ and unit tests beside the code (*_test.cc) may include anything.
# Usage: tools/check_layering.sh [ROOT]   (exit 1 and a line per violation)
set -uo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root" || exit 2
declare -A allowed=(
  [base]="base"
  [store]="base proto store"
  [messaging]="base proto messaging"
  [js_api]="base js_api"
  [runtime]="base proto store messaging js_api runtime"
  [http]="base proto http runtime"
  [cluster]="base proto cluster runtime"
  [cli]="base proto cli cluster http runtime"
)
status=0
checked=0
for layer in "${!allowed[@]}"; do
  [ -d "$layer" ] || continue
  while IFS= read -r -d '' file; do
    case "$file" in *_test.cc) continue ;; esac
    checked=$((checked + 1))
    while IFS= read -r line; do
      target="${line#*\"}"; target="${target%%\"*}"
      top="${target%%/*}"
      [ "$top" = "$target" ] && continue  # not a path of ours
      [ -d "$top" ] || continue           # a system or library header
      ok=0
      for a in ${allowed[$layer]}; do [ "$top" = "$a" ] && ok=1; done
      if [ "$ok" = 0 ]; then
        echo "layering: $file includes \"$target\" ($layer may include: ${allowed[$layer]})"
        status=1
      fi
    done < <(grep -E '^#include "' "$file")
  done < <(find "$layer" \( -name '*.cc' -o -name '*.h' \) -print0)
done
if [ "$status" = 0 ]; then echo "layering: $checked files follow cli -> cluster/http -> runtime -> messaging/store/js_api -> base"; fi
exit $status
