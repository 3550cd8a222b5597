#!/usr/bin/env bash
# The benchmark set of the issues, measured the way the reference servers were:
# the server pinned to core 0, the load generator to core 1, loopback, fsync on.
# Each scenario gets a fresh server and data directory; JSON reports go to
# ./bench-results/. Bounded: every run has a fixed duration and stops itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${OUT:-bench-results}
PORT=${PORT:-18850}
DURATION=${DURATION:-10}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run() {  # [SERVE_ARGS="--config FILE"] run NAME SCENARIO [loadtest options...]
  # (default: loadtest/loopback.toml, the per-address cap off for 127.0.0.1)
  local name=$1; shift
  local data; data=$(mktemp -d /tmp/corpchat-bench-XXXX)
  # shellcheck disable=SC2086  # SERVE_ARGS is a list of words
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING ${SERVE_ARGS:---config loadtest/loopback.toml} &
  local server=$!
  for _ in $(seq 50); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  echo "== $name (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  local flood=""
  if [ -n "${FLOOD:-}" ]; then  # failed logins per second from this address, beside the run
    taskset -c 1 "$BIN/python" -m corpchat.loadtest.loginflood --url "ws://127.0.0.1:$PORT/" \
      --rate "$FLOOD" --duration $((DURATION + 4)) >"$OUT/$name.flood.json" &
    flood=$!
  fi
  # 200 handshakes in flight (loopback.toml lifts the per-address cap); a scenario's own
  # --connect-concurrency comes later and wins
  taskset -c 1 "$BIN/corpchat" loadtest --connect-concurrency 200 "$@" --url "ws://127.0.0.1:$PORT/" \
    --admin-socket "$data/admin.sock" --duration "$DURATION" --warmup 3 --seed 1 \
    --json "$OUT/$name.json" || echo "($name reported a failure)"
  if [ -n "$flood" ]; then wait "$flood" || true; fi
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
}

run direct-5k direct --clients 400 --rate 5000
run direct-10k direct --clients 400 --rate 10000
run idle-10k idle --clients 10000
for rate in 100 200 400 800; do
  run "group-100x-$rate" group --groups 1 --members 100 --clients 100 --rate "$rate"
done
run group-10x100 group --groups 10 --members 100 --clients 1000 --rate 400
run slow-400 slow --groups 1 --members 100 --clients 100 --rate 400 --slow 1
run receipts-100 receipts --groups 1 --members 100 --clients 100 --rate 100
run external-400 external --groups 10 --employees 5 --consumers 100 --rate 400
# issue 5: half of a 100-member group resting, alternating with nobody resting in one run
# (5 rounds), and the same as separate runs; 100,000 users' quiet-hour transitions
run resting-800 resting --groups 1 --members 100 --clients 100 --rate 800 --rounds 5 \
  --resting-fraction 0.5
for fraction in 0 0.5 0 0.5; do
  run "group-100x-800-resting$fraction" group --groups 1 --members 100 --clients 100 \
    --rate 800 --resting-fraction "$fraction"
done
run schedules-100k schedules --clients 100000 --drain 30 --rate 0
taskset -c 1 "$BIN/python" -m corpchat.server.fanoutbench  # the fan-out step alone
taskset -c 1 "$BIN/python" -m corpchat.server.fanoutbench --everyday  # issue 20: the hub step per message
# issue 7: broadcast.customers to 20,000 customers (10,000 online) while 100 members
# chat at 100 msgs/s; the caps the set-up needs are raised in broadcast.toml
SERVE_ARGS="--config loadtest/broadcast.toml" run broadcast-20k broadcast --members 100 \
  --consumers 20000 --rate 100 --connect-concurrency 100
# issue 18: group fan-out alone and with 1,000 failed logins/s from one address, interleaved
for round in 1 2 3; do
  run "group-100x-400-$round" group --groups 1 --members 100 --clients 100 --rate 400
  FLOOD=1000 run "group-100x-400-loginflood-$round" group --groups 1 --members 100 \
    --clients 100 --rate 400
done
# issue 19: one 1 GiB download (and its upload), the media settings of loadtest/media.toml
data=$(mktemp -d /tmp/corpchat-bench-XXXX)
taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
  --log-level WARNING --config loadtest/media.toml &
server=$!
for _ in $(seq 50); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
taskset -c 1 "$BIN/python" -m corpchat.server.mediabench download \
  --url "http://127.0.0.1:$PORT" --admin-socket "$data/admin.sock" > "$OUT/media-download.json"
kill "$server"; wait "$server" 2>/dev/null || true
rm -rf "$data"
# issue 20: group100 with 20 % mentions, 10 % replies and one reaction per message,
# interleaved with plain; then 1,000 reactions/s on one message (the same pair A/B
# between two builds: loadtest/everyday-ab.sh A_REV [B_REV])
for mix in plain mixed plain mixed; do
  if [ "$mix" = plain ]; then extra=(); else
    extra=(--mention-fraction 0.2 --reply-fraction 0.1 --reactions 1); fi
  run "group-100x-400-$mix" group --groups 1 --members 100 --clients 100 --rate 400 "${extra[@]}"
done
data=$(mktemp -d /tmp/corpchat-bench-XXXX)
taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
  --log-level WARNING --config loadtest/loopback.toml &
server=$!
for _ in $(seq 50); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
taskset -c 1 "$BIN/python" -m corpchat.loadtest.reactstorm --url "ws://127.0.0.1:$PORT/" \
  --admin-socket "$data/admin.sock" --members 100 --rate 1000 --duration "$DURATION" \
  > "$OUT/reactstorm-1000.json" || echo "(reactstorm reported a failure)"
kill "$server"; wait "$server" 2>/dev/null || true
rm -rf "$data"
echo "reports in $OUT/"
