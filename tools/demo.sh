#!/usr/bin/env bash
# The main job: sets up (idempotent), builds `ken`, starts the bank demo
# cluster (examples/bank: three bank nodes and a driver issuing transfers) in
# the background under the supervisor, kills one node to show a restart, and
# prints the cluster status a few times. The cluster keeps running; stop it
# with: bazel-bin/cli/ken cluster down examples/bank/cluster.yaml
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bazel keeps its cache under $HOME; CI environments may not set it.
export HOME="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
cd "$root"
bash tools/setup.sh
bazel build //cli:ken >&2
ken=bazel-bin/cli/ken
config=examples/bank/cluster.yaml
$ken cluster up "$config" --detach
for i in 1 2 3 4 5; do
  sleep 2
  echo
  $ken cluster status "$config"
  if [ "$i" = 2 ]; then echo; $ken cluster kill "$config" bank-2; fi
done
echo
echo "transfers [issued, done, applied]: $($ken cluster eval "$config" driver '[issued, doneCount, okCount]')"
echo "(done but not applied: refused for insufficient funds)"
echo
echo "The cluster is still running. Try: $ken cluster status $config"
echo "Stop it with: $ken cluster down $config"
