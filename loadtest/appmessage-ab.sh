#!/usr/bin/env bash
# Issue 23's app-message benchmark: group100's e2e p99 alone (A) and while an app sends
# ROUNDS_MSG messages to a department of EMPLOYEES (10,000) employees, every one online
# (B), interleaved A B A B ... on fresh servers (core 0), the generators on core 1.
# B: `corpchat loadtest appmessage` connects its employees; once the server holds them
# all, the group's run starts (its set-up and 3 s warm-up take ~5-7 s here), and the
# app's messages go at APP_WARMUP (8) s, then every APP_SPAN / ROUNDS_MSG s: inside the
# group's window (WINDOW, 20 s). The target: each message on all 10,000 devices within
# 5 s (`time_to_all_ms_max`), group100's p99 within 2x of A's.
# ROUNDS (A/B pairs, 3), RATE (group msgs/s, 400), EMPLOYEES (10000), ROUNDS_MSG (3),
# APP_WARMUP (8), APP_SPAN (10), WINDOW (20). APP_CORE / APP_NICE: where the
# employees' generator runs (default core 1 beside the group's generator, nice 0).
# Each run's JSON goes to $OUT; one summary line per run to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${OUT:-bench-results/appmessage-ab}
PORT=${PORT:-18880}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-400}
EMPLOYEES=${EMPLOYEES:-10000}
ROUNDS_MSG=${ROUNDS_MSG:-3}
APP_WARMUP=${APP_WARMUP:-8}
APP_SPAN=${APP_SPAN:-10}
WINDOW=${WINDOW:-20}
APP_CORE=${APP_CORE:-1}
APP_NICE=${APP_NICE:-0}
ulimit -n 20000  # the employees' connections, on both sides
mkdir -p "$OUT"

connections() {
  "$BIN/corpchat" admin --data "$1" --json stats | "$BIN/python" -c \
    'import json, sys; print(json.load(sys.stdin)["connections"])'
}

one() {  # one NAME WITH_APP_MESSAGES(0|1)
  local name=$1 app=$2 data employees=""
  data=$(mktemp -d /tmp/corpchat-appmsg-XXXX)
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml 2>/dev/null &
  local server=$!
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  if [ "$app" = 1 ]; then
    taskset -c "$APP_CORE" nice -n "$APP_NICE" "$BIN/corpchat" loadtest appmessage \
      --clients "$EMPLOYEES" --rounds "$ROUNDS_MSG" --warmup "$APP_WARMUP" \
      --duration "$APP_SPAN" --drain 30 --connect-concurrency 100 \
      --url "ws://127.0.0.1:$PORT/" --admin-socket "$data/admin.sock" \
      --json "$OUT/$name.app.json" >"$OUT/$name.app.txt" 2>&1 &
    employees=$!
    for _ in $(seq 3000); do  # at most 5 minutes for the set-up and the connections
      [ "$(connections "$data")" -ge "$EMPLOYEES" ] && break
      sleep 0.1
    done
  fi
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  taskset -c 1 "$BIN/corpchat" loadtest group --groups 1 --members 100 --clients 100 \
    --rate "$RATE" --url "ws://127.0.0.1:$PORT/" --admin-socket "$data/admin.sock" \
    --duration "$WINDOW" --warmup 3 --seed 1 --json "$OUT/$name.json" >/dev/null \
    || echo "($name: the group's run reported a failure)"
  if [ -n "$employees" ]; then
    wait "$employees" || echo "($name: the app-message run reported a failure: $OUT/$name.app.txt)"
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  "$BIN/python" - "$OUT/$name.json" "$name" "$load" "$OUT/$name.app.json" "$app" <<'PY'
import json, os, sys
report = json.load(open(sys.argv[1]))
e2e = report["latency_ms"]["e2e"]
line = f"{sys.argv[2]}: load {sys.argv[3]}; group e2e p50 {e2e['p50']:.1f} p99 {e2e['p99']:.1f} ms"
if sys.argv[5] == "1" and os.path.exists(sys.argv[4]):
    app = json.load(open(sys.argv[4]))
    f = app["figures"]["appmessage"]
    line += ("; app message to all (ms): "
             + ", ".join(f"{r['all_ms']} ({r['devices']}/{f['recipients']})" for r in f["rounds"])
             + f"; answered in {', '.join(str(r['answer_ms']) for r in f['rounds'])} ms"
             + f"; check {'OK' if app['check']['ok'] else 'FAILED'}")
print(line, flush=True)
PY
}

for round in $(seq "$ROUNDS"); do
  one "alone-$round" 0
  one "app-$round" 1
done
