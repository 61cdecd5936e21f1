#!/usr/bin/env bash
# bench/http_counter: a durable HTTP counter on Ken vs Node.js + SQLite vs
# Node.js + Redis, on this machine in this run. Every system answers a request
# only after the incremented counter is durable (fsync'd). See README.md.
#
#   bash bench/http_counter/run.sh
#
# Environment (optional): CONNS="1 16 64" DURATION=10s WARMUP=3s
#   DURABILITY=journal|snapshot (Ken's mode; default journal)
#   BENCH_DIR=<dir for the stores; default bench/http_counter/data, i.e. the
#   repo's disk: it must be a real disk, not tmpfs, or fsync costs nothing>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
CONNS="${CONNS:-1 16 64}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
BENCH_DIR="${BENCH_DIR:-$here/data}"
DURABILITY="${DURABILITY:-journal}"

log() { echo "[http_counter] $*" >&2; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# ---------------------------------------------------------------- set-up
# Ken's build dependencies (Debian packages, V8 unpacked; idempotent, and it
# installs sqlite3, used below to count commits).
"$root/tools/setup.sh"

missing=()
for p in wrk redis-server sqlite3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! (cd "$here" && node -e 'require("better-sqlite3"); require("redis")' 2>/dev/null); then
  log "npm install better-sqlite3@12 redis@4 into $here/node_modules"
  (cd "$here" && npm install --no-audit --no-fund better-sqlite3@12 redis@4 >&2)
fi

log "building ken (bazel build -c opt //cli:ken)"
(cd "$root" && bazel build -c opt //cli:ken >&2)
# The -c opt output, not the bazel-bin symlink (which follows the last build).
ken="$(cd "$root" && bazel info -c opt bazel-bin 2>/dev/null)/cli/ken"
[ -x "$ken" ] || { log "no ken binary at $ken"; exit 1; }

# ---------------------------------------------------------------- run dir, cleanup
mkdir -p "$BENCH_DIR"
run="$(mktemp -d "$BENCH_DIR/run.XXXXXX")"
pids=()
stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$run"
  rmdir "$BENCH_DIR" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports, all held open at once so they are distinct.
read -r KEN_GRPC KEN_HTTP SQLITE_HTTP REDIS_PORT REDIS_HTTP < <(node -e '
  const net = require("net"); const ports = [];
  const next = () => { if (ports.length === 5) { console.log(ports.map((s) => s.address().port).join(" ")); ports.forEach((s) => s.close()); return; }
    const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s); next(); }); };
  next();')

wait_http() {  # wait_http PORT PID: until the server answers any HTTP response
  local port=$1 pid=$2 i
  for i in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || { log "server (pid $pid) on port $port exited"; return 1; }
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET /ready HTTP/1.0\r\n\r\n' >&3; head -c 8 <&3" 2>/dev/null | grep -q '^HTTP/1'; then
      return 0
    fi
    sleep 0.1
  done
  log "server on port $port did not answer in 30 s"; return 1
}

declare -A RPS P50 P99 ERR REQS OVF
# SYNs dropped because a listen queue was full (this network namespace; other
# processes' connections count too). wrk opens all its connections at once:
# a server with a short accept backlog drops some, and those connections'
# first requests wait for the SYN retransmit (1 s, then 3 s).
listen_overflows() { nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/{print $2}'; }
SYSTEMS=()
run_wrk() {  # run_wrk SYSTEM CONNS URL: one measured run
  local sys=$1 c=$2 url=$3 t=2 out line
  [ "$c" -lt 2 ] && t=1
  out="$run/wrk-$sys-$c.txt"
  local ovf0 ovf1
  ovf0=$(listen_overflows)
  wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$here/report.lua" "$url" >"$out" 2>&1 || true
  ovf1=$(listen_overflows)
  OVF[$sys,$c]=-; [ -n "$ovf0" ] && [ -n "$ovf1" ] && OVF[$sys,$c]=$((ovf1 - ovf0))
  line="$(grep '^RESULT ' "$out" || true)"
  [ -n "$line" ] || { cat "$out" >&2; log "wrk failed for $sys c=$c"; exit 1; }
  # RESULT requests=N duration_us=N rps=X p50_us=N p99_us=N max_us=N connect=N read=N write=N timeout=N non2xx=N
  local requests duration_us rps p50_us p99_us max_us connect read write timeout non2xx
  eval "$(echo "${line#RESULT }" | tr ' ' '\n' | grep -E '^[a-z0-9_]+=[0-9.]+$')"
  RPS[$sys,$c]=$rps
  P50[$sys,$c]=$(awk -v u="$p50_us" 'BEGIN{printf "%.2f", u/1000}')
  P99[$sys,$c]=$(awk -v u="$p99_us" 'BEGIN{printf "%.2f", u/1000}')
  ERR[$sys,$c]=$((connect + read + write + timeout + non2xx))
  REQS[$sys,$c]=$requests
  log "$(printf '%-12s c=%-3s %9.1f req/s  p50 %7s ms  p99 %7s ms  errors %s (timeouts %s, non-2xx %s)  listen overflows %s' "$sys" "$c" "$rps" "${P50[$sys,$c]}" "${P99[$sys,$c]}" "${ERR[$sys,$c]}" "$timeout" "$non2xx" "${OVF[$sys,$c]}")"
}
bench_system() {  # bench_system SYSTEM URL [hook-before hook-after]: warm-up, then each CONNS
  local sys=$1 url=$2 before=${3:-:} after=${4:-:} c
  SYSTEMS+=("$sys")
  wrk -t2 -c16 -d"$WARMUP" "$url" >/dev/null 2>&1 || true
  for c in $CONNS; do
    $before "$c"; run_wrk "$sys" "$c" "$url"; $after "$c"
  done
}
total_requests() {  # responses wrk counted for SYSTEM over all CONNS
  local sys=$1 c n=0
  for c in $CONNS; do n=$((n + REQS[$sys,$c])); done
  echo "$n"
}
CHECKS=()

# ---------------------------------------------------------------- 1. Ken
cat >"$run/cluster.yaml" <<EOF
token: http-counter-bench
durability: $DURABILITY
nodes:
  - id: web
    address: 127.0.0.1:$KEN_GRPC
    script: $here/counter.js
    store: $run/ken/web.ken
    http: 127.0.0.1:$KEN_HTTP
EOF
mkdir -p "$run/ken"
store="$run/ken/web.ken"
# --log-level debug: if this build logs per-batch timings ("batch of N turns:
# turns X ms, snapshot Y ms (B bytes), commit Z ms"), they are summarized
# below; one line per batch, to a file.
"$ken" run --cluster "$run/cluster.yaml" --id web --log-level debug 2>"$run/ken.log" &
ken_pid=$!; pids+=("$ken_pid")
wait_http "$KEN_HTTP" "$ken_pid"
declare -A KSEQ0 KSEQ1 KLOG0 KLOG1
# The newest commit, from ken inspect's first line ("# STORE: MODE mode, commit N, ...").
seq_now() { "$ken" inspect --store "$store" 2>/dev/null | sed -n '1s/.* commit \([0-9]*\),.*/\1/p'; }
ken_before() { KSEQ0[$1]=$(seq_now); KLOG0[$1]=$(wc -l <"$run/ken.log"); }
ken_after() { KSEQ1[$1]=$(seq_now); KLOG1[$1]=$(wc -l <"$run/ken.log"); }
bench_system ken "http://127.0.0.1:$KEN_HTTP/counter" ken_before ken_after
blob_bytes=$(sqlite3 -readonly "$store" 'select length(heap) from checkpoints order by seq desc limit 1')
stop_pid "$ken_pid"
ken_counter=$("$ken" inspect --store "$store" -e counter 2>/dev/null || echo "?")
CHECKS+=("ken: counter $ken_counter after $(total_requests ken) measured responses (plus warm-up)")

# ---------------------------------------------------------------- 2. Node.js + SQLite
node "$here/node_sqlite.js" "$SQLITE_HTTP" "$run/counter.sqlite" 2>"$run/node_sqlite.log" &
sqlite_pid=$!; pids+=("$sqlite_pid")
wait_http "$SQLITE_HTTP" "$sqlite_pid"
bench_system node+sqlite "http://127.0.0.1:$SQLITE_HTTP/counter"
stop_pid "$sqlite_pid"
CHECKS+=("node+sqlite: counter $(sqlite3 -readonly "$run/counter.sqlite" 'select value from counter where id = 1') after $(total_requests node+sqlite) measured responses (plus warm-up)")

# ---------------------------------------------------------------- 3. Node.js + Redis
mkdir -p "$run/redis"
cat >"$run/redis/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
dir $run/redis
daemonize no
logfile $run/redis/redis.log
save ""
appendonly yes
appendfsync always
EOF
redis-server "$run/redis/redis.conf" &
redis_pid=$!; pids+=("$redis_pid")
for i in $(seq 100); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
[ "$(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -1)" = always ] || { log "redis is not appendfsync always"; exit 1; }
node "$here/node_redis.js" "$REDIS_HTTP" "$REDIS_PORT" 2>"$run/node_redis.log" &
redis_http_pid=$!; pids+=("$redis_http_pid")
wait_http "$REDIS_HTTP" "$redis_http_pid"
bench_system node+redis "http://127.0.0.1:$REDIS_HTTP/counter"
stop_pid "$redis_http_pid"
CHECKS+=("node+redis: counter $(redis-cli -p "$REDIS_PORT" get counter) after $(total_requests node+redis) measured responses (plus warm-up)")
stop_pid "$redis_pid"

# ---------------------------------------------------------------- Ken's commit, by component
# The disk and SQLite without V8, for a blob the size of Ken's last snapshot.
probe="$(cd "$here" && node fsync_probe.js "$run" "${blob_bytes:-500000}" 50)"
eval "$probe"
# V8 snapshot / restore of an empty node's heap (the counter's heap is about
# that), from the repo's checkpoint benchmark; not fatal if it fails to build.
log "bazel run -c opt //bench:checkpoint_bench -- --sizes=0 --iterations=20"
ckpt="$(cd "$root" && bazel run -c opt //bench:checkpoint_bench -- --sizes=0 --iterations=20 --dir="$run" 2>/dev/null |
  grep -E '^ *(heap_mb|[0-9.]+ )' || true)"

# ---------------------------------------------------------------- report
echo
echo "== bench/http_counter: durable HTTP counter (ken in $DURABILITY mode), wrk ${DURATION} per row (-t1 at 1 connection, -t2 otherwise) =="
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(. /etc/os-release; echo "$PRETTY_NAME"), stores on $(df -T "$BENCH_DIR" | awk 'NR==2{print $2 " (" $1 ")"}')"
echo "ken: bazel -c opt, $(cd "$root" && git rev-parse --short HEAD 2>/dev/null)$(cd "$root" && [ -n "$(git status --porcelain -- . ':!bench' 2>/dev/null)" ] && echo " + uncommitted changes outside bench/"); node $(node --version), better-sqlite3 $(cd "$here" && node -p 'require("better-sqlite3/package.json").version') (SQLite $(cd "$here" && node -p 'new (require("better-sqlite3"))(":memory:").prepare("select sqlite_version() v").get().v')), redis client $(cd "$here" && node -p 'require("redis/package.json").version'), $(redis-server --version | awk '{print $1, $3}')"
echo
printf '%-12s %5s %10s %9s %9s %7s %9s\n' system conns "req/s" "p50 ms" "p99 ms" errors "lst_ovf"
for sys in "${SYSTEMS[@]}"; do
  for c in $CONNS; do
    printf '%-12s %5s %10.1f %9s %9s %7s %9s\n' "$sys" "$c" "${RPS[$sys,$c]}" "${P50[$sys,$c]}" "${P99[$sys,$c]}" "${ERR[$sys,$c]}" "${OVF[$sys,$c]}"
  done
done
echo "(errors: wrk socket errors + timeouts (2 s) + non-2xx; lst_ovf: SYNs dropped on a full listen queue during the run, system-wide)"
echo
for peer in node+sqlite node+redis; do
  line=""
  for c in $CONNS; do
    line+=$(awk -v k="${RPS[ken,$c]}" -v p="${RPS[$peer,$c]}" -v c="$c" 'BEGIN{printf "  c=%s %.2fx", c, k/p}')
  done
  echo "ken / $peer (req/s):$line"
done
if [[ " $CONNS " == *" 64 "* ]]; then
  awk -v k="${RPS[ken,64]}" -v s="${RPS[node+sqlite,64]}" -v r="${RPS[node+redis,64]}" 'BEGIN{
    printf "target at 64 connections: ken >= 5x node+sqlite: %.2fx (%s); ken >= 1x node+redis: %.2fx (%s)\n",
      k/s, (k/s >= 5 ? "met" : "not met"), k/r, (k/r >= 1 ? "met" : "not met") }'
fi
echo
echo "ken commits (checkpoints written) during each measured run; batch = requests per commit:"
for c in $CONNS; do
  commits=$((KSEQ1[$c] - KSEQ0[$c]))
  line=$(awk -v n="${REQS[ken,$c]}" -v k="$commits" -v d="$DURATION" -v c="$c" 'BEGIN{
    secs = d + 0; if (k == 0) k = 1;
    printf "  c=%-3s %6d commits, %6.1f commits/s, batch %5.1f requests, %5.2f ms per commit cycle", c, k, k/secs, n/k, 1000*secs/k }')
  # Per-batch phases, when this build logs them (see above).
  phases=$(sed -n "$((KLOG0[$c] + 1)),${KLOG1[$c]}p" "$run/ken.log" |
    sed -nE 's/.*batch of ([0-9]+) turns: turns ([0-9.]+) ms, snapshot ([0-9.]+) ms \(([0-9]+) bytes\), commit ([0-9.]+) ms.*/\1 \2 \3 \4 \5/p' |
    awk '{n++; t+=$2; s+=$3; b+=$4; m+=$5} END{ if (n) printf "; mean of %d logged batches: turns %.2f ms, snapshot %.2f ms (%.0f KB), commit %.2f ms", n, t/n, s/n, b/n/1024, m/n }')
  echo "$line$phases"
done
echo "disk and SQLite alone (p50, this disk): write+fsync of a ${blob_bytes:-?}-byte file (Ken's heap snapshot) ${write_fsync_ms} ms;"
echo "  SQLite WAL/FULL transaction inserting that blob ${sqlite_blob_commit_ms} ms; 100-byte append+fsync ${append_fsync_ms} ms"
if [ -n "$ckpt" ]; then
  echo "checkpoint_bench --sizes=0 (an empty node; commit = V8 snapshot + store commit; restore = open + restore the isolate):"
  echo "$ckpt" | sed 's/^/  /'
fi
echo
echo "sanity (each counter >= the responses wrk counted; in-flight requests at the end of a run also count):"
for line in "${CHECKS[@]}"; do echo "  $line"; done
