#!/usr/bin/env bash
# The main job: sets up (idempotent), builds `ken`, starts the bank demo
# cluster (examples/bank: three bank nodes and a driver issuing transfers) in
# the background under the supervisor, kills one node to show a restart, and
# prints the cluster status a few times. The cluster keeps running; stop it
# with: bazel-bin/cli/ken cluster down examples/bank/cluster.yaml
# The stores are examples/bank/data/*.ken. If they exist from an earlier run,
# the nodes restore them and go on from their last commit (the scripts do not
# run again); to start fresh, stop the cluster and delete examples/bank/data/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bazel keeps its cache under $HOME; CI environments may not set it.
export HOME="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
cd "$root"
bash tools/setup.sh
bazel build //cli:ken >&2
ken=bazel-bin/cli/ken
config=examples/bank/cluster.yaml
data="$(dirname "$config")/data"
if compgen -G "$data/*.ken" >/dev/null; then
  echo "Restoring the stores in $data/ from an earlier run: each node goes on from its last commit"
  echo "(its script does not run again). To start fresh: $ken cluster down $config; rm -rf $data"
else
  echo "Creating new stores in $data/: each node runs its script as its first turn."
fi
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
echo "The next run of tools/demo.sh restores the stores in $data/; to start fresh, stop the cluster and rm -rf $data"
