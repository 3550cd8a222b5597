#!/usr/bin/env bash
# Issue 24's direct-message A/B: two checkouts (A, B: each with its own .venv), fresh
# server and data directory per run (core 0), the generator of THIS checkout on core 1,
# interleaved A B A B ... for ROUNDS (3) at each of RATES ("5000 10000"), then each build
# once at each of SATURATE ("15000 20000 25000") for the saturation rate and its ack p99.
# One summary line per run: server CPU per message (admin stats at the window's edges),
# acked/s, ack p99, writer batch mean, commit p50, load average. JSON reports in $OUT.
#   loadtest/direct-ab.sh /path/to/A /path/to/B
# EXTRA_CFG adds top-level settings to both servers (e.g. 'switch_interval_s = 0.0005').
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2
OUT=${OUT:-bench-results/direct-ab}
PORT=${PORT:-18880}
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-5000 10000}
SATURATE=${SATURATE-15000 20000 25000}  # SATURATE= (empty): none
CLIENTS=${CLIENTS:-400}
DURATION=${DURATION:-10}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

one() {  # one TREE NAME RATE
  local tree=$1 name=$2 rate=$3 data
  data=$(mktemp -d /tmp/corpchat-direct-XXXX)
  printf 'max_unauthenticated_per_address = 0\n%s\n[search]\nenabled = false\n' \
    "${EXTRA_CFG:-}" >"$data/cfg.toml"
  (cd "$tree" && exec taskset -c 0 .venv/bin/corpchat serve --data "$data/d" \
    --listen "127.0.0.1:$PORT" --log-level WARNING --config "$data/cfg.toml") &
  local server=$!
  for _ in $(seq 100); do [ -S "$data/d/admin.sock" ] && break; sleep 0.1; done
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  taskset -c 1 .venv/bin/corpchat loadtest --connect-concurrency 200 direct \
    --clients "$CLIENTS" --rate "$rate" --url "ws://127.0.0.1:$PORT/" \
    --admin-socket "$data/d/admin.sock" --duration "$DURATION" --warmup 3 --seed 1 \
    --json "$OUT/$name.json" >"$OUT/$name.log" 2>&1 || true
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  .venv/bin/python - "$OUT/$name.json" "$name" "$load" <<'PY'
import json, sys
path, name, load = sys.argv[1:]
try:
    d = json.load(open(path))
except (OSError, ValueError):
    print(f"{name:24s} (no report; see its .log)  load {load}")
    sys.exit()
s, ack = d["server"], d["latency_ms"]["ack"]
cpu = s.get("cpu_us_per_message")
print(f"{name:24s} cpu/msg {cpu if cpu is not None else float('nan'):6.1f} µs  "
      f"acked/s {s.get('messages_per_s') or 0:7.0f}  ack p99 {ack.get('p99') or 0:8.1f} ms  "
      f"batch {s.get('writer_batch_mean') or 0:6.1f}  commit p50 {s.get('commit_p50_ms') or 0:5.2f} ms  "
      f"check {'OK' if d['check'].get('ok') else 'FAILED'}  load {load}")
PY
}

for round in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    one "$A" "A-$rate-r$round" "$rate"
    one "$B" "B-$rate-r$round" "$rate"
  done
done
for rate in $SATURATE; do
  one "$A" "A-$rate" "$rate"
  one "$B" "B-$rate" "$rate"
done
