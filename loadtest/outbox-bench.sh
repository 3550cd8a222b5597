#!/usr/bin/env bash
# Issue 23's outbox benchmark: events written by department changes (CHANGES, 2,000:
# 3,999 events, each in the same transaction as its change), drained to a local
# receiver, then replayed REPLAYS (5) times with `app replay --since 0`: events/s as the
# receiver acknowledged them (target: >= 2,000/s). A fresh server on core 0, the
# generator (and the receiver, a stdlib HTTP server in its process) on core 1; ROUNDS
# (3) fresh servers. One summary line per round, with the load average before it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PORT:-18890}
ROUNDS=${ROUNDS:-3}
CHANGES=${CHANGES:-2000}
REPLAYS=${REPLAYS:-5}
for round in $(seq "$ROUNDS"); do
  data=$(mktemp -d /tmp/corpchat-outbox-XXXX)
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml 2>/dev/null &
  server=$!
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  result=$(taskset -c 1 "$BIN/python" -m corpchat.loadtest.platform outbox --data "$data" \
    --url "http://127.0.0.1:$PORT" --changes "$CHANGES" --rounds "$REPLAYS")
  echo "outbox-$round: load $load; $result"
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
done
