#!/usr/bin/env bash
# Issue 25's figures: one conversation home's acked messages/s and server CPU per
# delivery through JetStream R3 (3 nats-servers, sync_interval: always) against
# the single process, interleaved in one session (ROUNDS rounds). The corpchat
# server is pinned to core 0; the load generator and the three nats-servers
# share core 1 (a 2-core machine: NATS's CPU is not the node's). JSON reports
# go to $OUT/cluster-*.json. Bounded: fixed durations; everything started here
# is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${OUT:-bench-results}
PORT=${PORT:-18860}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

nats_root=$(mktemp -d /tmp/corpchat-nats-XXXX)
taskset -c 1 "$BIN/python" -m tests.cluster.natscluster "$nats_root" >"$nats_root/urls" &
nats=$!
trap 'kill $nats 2>/dev/null; wait $nats 2>/dev/null; rm -rf "$nats_root"' EXIT
for _ in $(seq 100); do [ -s "$nats_root/urls" ] && break; sleep 0.1; done
URLS=$(head -1 "$nats_root/urls")

run() {  # run NAME CLUSTER(yes|no) SCENARIO [loadtest options...]
  local name=$1 clustered=$2; shift 2
  local data; data=$(mktemp -d /tmp/corpchat-bench-XXXX)
  local extra=()
  if [ "$clustered" = yes ]; then
    # A fresh LMDB numbers its conversations from 1 again: a fresh log too, or the
    # fence would (rightly) refuse this node's conversation 1 against the last run's
    "$BIN/python" -c "from tests.cluster.engine import reset_cluster as r; r('$URLS'.split(','))"
    extra=(--cluster "$URLS" --node "bench$RANDOM")
  fi
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml "${extra[@]}" &
  local server=$!
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1
  done
  echo "== $name (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  taskset -c 1 "$BIN/corpchat" loadtest "$@" --url "ws://127.0.0.1:$PORT/" \
    --admin-socket "$data/admin.sock" --duration "$DURATION" --warmup 3 --seed 1 \
    --json "$OUT/$name.json" || echo "($name reported a failure)"
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
}

for round in $(seq "$ROUNDS"); do
  for mode in no yes; do
    tag=$([ $mode = yes ] && echo r3 || echo alone)
    run "cluster-direct-$tag-$round" $mode direct --clients 400 --rate "${RATE:-2000}"
    run "cluster-saturate-$tag-$round" $mode direct --clients 400 --rate "${MAX_RATE:-10000}"
    run "cluster-group-$tag-$round" $mode group --groups 1 --members 100 --clients 100 \
      --rate "${GROUP_RATE:-200}"
  done
done
