#!/usr/bin/env bash
# Issue 23's robot benchmark: 1,000 robot posts/s across 100 robots, and group100's
# e2e p99 alone (A) and beside those posts (B), interleaved A B A B ... on fresh
# servers (core 0), the generators on core 1. ROUNDS (3), RATE (group msgs/s, 400),
# ROBOT_RATE (1000), CONNS (kept-alive robot connections, 32; 0: one per post).
# Each run's JSON goes to $OUT; one summary line per run to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${OUT:-bench-results/robots-ab}
PORT=${PORT:-18870}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-400}
ROBOT_RATE=${ROBOT_RATE:-1000}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
mkdir -p "$OUT"

one() {  # one NAME WITH_ROBOTS(0|1)
  local name=$1 robots=$2 data
  data=$(mktemp -d /tmp/corpchat-robots-XXXX)
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml &
  local server=$! bots=""
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  taskset -c 1 "$BIN/python" -m corpchat.loadtest.platform robots-setup --data "$data" \
    --url "http://127.0.0.1:$PORT" --robots 100 --keys "$data/keys.txt" >/dev/null
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  if [ "$robots" = 1 ]; then  # from before the group's warm-up to after its window
    taskset -c 1 "$BIN/python" -m corpchat.loadtest.platform robots --url "http://127.0.0.1:$PORT" \
      --keys "$data/keys.txt" --rate "$ROBOT_RATE" --seconds $((DURATION + 5)) \
      --connections "$CONNS" >"$OUT/$name.robots.json" &
    bots=$!
    sleep 1
  fi
  taskset -c 1 "$BIN/corpchat" loadtest group --groups 1 --members 100 --clients 100 \
    --rate "$RATE" --url "ws://127.0.0.1:$PORT/" --admin-socket "$data/admin.sock" \
    --duration "$DURATION" --warmup 3 --seed 1 --json "$OUT/$name.json" >/dev/null \
    || echo "($name reported a failure)"
  if [ -n "$bots" ]; then wait "$bots" || true; fi
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  "$BIN/python" - "$OUT/$name.json" "$name" "$load" "$OUT/$name.robots.json" <<'PY'
import json, os, sys
report = json.load(open(sys.argv[1]))
e2e = report["latency_ms"]["e2e"]
line = f"{sys.argv[2]}: load {sys.argv[3]}; e2e p50 {e2e['p50']:.1f} p99 {e2e['p99']:.1f} ms"
if os.path.exists(sys.argv[4]):
    bots = json.load(open(sys.argv[4]))
    line += (f"; robots {bots['achieved_per_s']}/s over {bots['seconds']} s, "
             f"answers {bots['answers']}, connections {bots['connections']}")
print(line, flush=True)
PY
}

for round in $(seq "$ROUNDS"); do
  one "alone-$round" 0
  one "robots-$round" 1
done
