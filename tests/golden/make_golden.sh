#!/usr/bin/env bash
# Writes golden stores with a given `ken` binary, for the store-format
# migration and built-ins upgrade tests (tests/golden_test.cc):
#   OUT/shell.ken.gz        a shell session: values, a closure, a Map, a timer
#   OUT/a.ken.gz, b.ken.gz  a two-node cluster: a sent #1..#5 to b; b delivered
#                           #1 and #2 (acked), then went down; #3..#5 are in
#                           a's outbox, unacked
# Usage: tests/golden/make_golden.sh KEN OUT
# The stores are committed under tests/golden/<release>/; regenerate them only
# from the release they are named after (a store is bound to that release's
# store format and built-ins, which is what the tests check).
set -euo pipefail
ken="$(realpath "$1")"; out="$(realpath -m "$2")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$ken" shell --store "$work/shell.ken" >/dev/null <<'JS'
var counter = { n: 41 };
var make = function () { var c = 10; return function () { return c++; }; }; var next = make(); next();
var table = new Map([['k', [1, 2, 3]]]);
var pending = setTimeout(function () { counter.n = -1; }, 1e9);
let lexical = 'kept';
JS

cp "$here/a.js" "$here/b.js" "$work/"
cat > "$work/cluster.yaml" <<YAML
token: golden
nodes:
  - id: a
    address: 127.0.0.1:$(free_port)
    script: a.js
  - id: b
    address: 127.0.0.1:$(free_port)
    script: b.js
YAML
eval_on() { "$ken" cluster eval "$work/cluster.yaml" "$1" "$2"; }
wait_for() {  # node expr want
  for _ in $(seq 1 200); do
    [ "$("$ken" inspect --store "$work/data/$1.ken" -e "$2" 2>/dev/null)" = "$3" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1: $2 = $3" >&2; exit 1
}
"$ken" run --cluster "$work/cluster.yaml" --id b --log-level error & b=$!
"$ken" run --cluster "$work/cluster.yaml" --id a --log-level error & a=$!
for _ in $(seq 1 100); do eval_on a 'sent' >/dev/null 2>&1 && break; sleep 0.1; done
eval_on a 'send(); send(); sent' >/dev/null
wait_for b 'got.length' 2
for _ in $(seq 1 100); do  # until a has the ack
  [ "$("$ken" cluster status "$work/cluster.yaml" --json | python3 -c 'import json,sys; print([n for n in json.load(sys.stdin) if n["id"]=="a"][0]["outbox"])' 2>/dev/null)" = 0 ] && break
  sleep 0.1
done
kill -TERM $b; wait $b || true
eval_on a 'send(); send(); send(); sent' >/dev/null
kill -TERM $a; wait $a || true
# Only the newest checkpoint is kept (the tests do not need fallbacks), and
# each store is gzip'd (a heap snapshot compresses about 6x).
for f in shell a b; do
  src="$work/$f.ken"; [ "$f" = shell ] || src="$work/data/$f.ken"
  sqlite3 "$src" 'PRAGMA wal_checkpoint(TRUNCATE);
                  DELETE FROM checkpoints WHERE seq < (SELECT MAX(seq) FROM checkpoints); VACUUM;' >/dev/null
  gzip -9 -n -c "$src" > "$out/$f.ken.gz"
done
echo "golden stores written to $out"
