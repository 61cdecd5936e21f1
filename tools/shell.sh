#!/usr/bin/env bash
# Sets up (idempotent), builds `ken`, and opens the persistent shell on
# data/session.ken (the embedded default store). Extra arguments go to
# `ken shell`, e.g. --store other.ken or --turn-timeout 2s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bazel keeps its cache under $HOME; CI environments may not set it.
export HOME="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
cd "$root"
bash tools/setup.sh
bazel build //cli:ken >&2
mkdir -p data
store_given=0
for a in "$@"; do case "$a" in --store|--store=*) store_given=1 ;; esac; done
if [ "$store_given" = 1 ]; then exec bazel-bin/cli/ken shell "$@"; fi
exec bazel-bin/cli/ken shell --store data/session.ken "$@"
