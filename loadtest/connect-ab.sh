#!/usr/bin/env bash
# Issue 24's connect and idle rows, A/B: `corpchat loadtest idle` against each build in
# turn, interleaved (A B A B ...), ROUNDS (3) rounds, CLIENTS (5000) connections each,
# one fresh server and data directory per run, the server on core 0, the generator on
# core 1 (this tree's loadtest for every build, so both are measured the same way).
#   loadtest/connect-ab.sh NAME=TREE NAME=TREE ...
# A TREE is a checkout with its own .venv (`make .venv/.installed`); its
# loadtest/loopback.toml is used if it has one. One line per run to stdout: the
# server's CPU per connect + upgrade + hello (+ the client's first sync) from the
# connect phase alone, connects/s, RSS per idle connection, the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=$PWD/.venv/bin/corpchat
PY=$PWD/.venv/bin/python
OUT=${OUT:-bench-results/connect-ab}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-5000}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run() {  # run NAME TREE ROUND
  local name=$1 tree=$2 round=$3 port=$((20000 + RANDOM % 20000)) data cfg="" server
  data=$(mktemp -d /tmp/corpchat-connect-ab-XXXX)
  [ -f "$tree/loadtest/loopback.toml" ] && cfg="--config $tree/loadtest/loopback.toml"
  # shellcheck disable=SC2086  # cfg is a list of words
  taskset -c 0 "$tree/.venv/bin/corpchat" serve --data "$data" --listen "127.0.0.1:$port" \
    --log-level WARNING $cfg 2>/dev/null &
  server=$!
  for _ in $(seq 600); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  taskset -c 1 "$GEN" loadtest idle --clients "$CLIENTS" --connect-concurrency 60 \
    --url "ws://127.0.0.1:$port/" --admin-socket "$data/admin.sock" --seed 1 \
    --json "$OUT/$name-r$round.json" >/dev/null 2>&1 || echo "($name round $round failed)"
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  "$PY" - "$OUT/$name-r$round.json" "$name" "$round" "$load" <<'PY'
import json, sys
path, name, round_, load = sys.argv[1:]
f = json.load(open(path))["figures"]
print(f"{name} round {round_}: {f.get('server_cpu_us_per_connect')} µs server CPU per connect, "
      f"{f['connect_hello_per_s']}/s, {f['rss_per_connection_bytes']} B RSS per idle connection, "
      f"{f['connections']} connections, load {load}")
PY
}

for round in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    run "${spec%%=*}" "${spec#*=}" "$round"
  done
done
