#!/usr/bin/env bash
# Issue 23's robot benchmark: group100's e2e p99 alone (A) and beside 1,000 robot
# posts/s across 100 robots (B), interleaved A B A B ... on fresh servers (core 0),
# the generators on core 1. The robots are `corpchat loadtest robots` (10 groups of
# 10 members online, 10 robots each, as many kept-alive connections as robots): it checks
# every 200 on the members' devices and every 429's Retry-After against the
# 20-a-minute / 10-minute rule, and fails the run otherwise. In B the group's run
# starts once the robots have posted their 2,000 answered 200 (each robot's first
# 20, within ~2 s), so its warm-up and window see the robots' steady state: 1,000
# posts/s, every one a 429.
# ROUNDS (3), RATE (group msgs/s, 400), ROBOT_RATE (1000), ROBOTS (100),
# ROBOT_MEMBERS (members online per robots' group, 10), DURATION (10).
# POSTS_ONLY=1: instead, the robots' posts alone (python -m corpchat.loadtest.platform
# robots), kept-alive against a connection per post, with the server's CPU time for them.
# Each run's JSON goes to $OUT; one summary line per run to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${OUT:-bench-results/robots-ab}
PORT=${PORT:-18870}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-400}
ROBOT_RATE=${ROBOT_RATE:-1000}
ROBOTS=${ROBOTS:-100}
ROBOT_MEMBERS=${ROBOT_MEMBERS:-10}
CONNS=${CONNS:-100}
DURATION=${DURATION:-10}
# Where the robots' generator runs: by default beside the group's on core 1, where on
# a shared machine it competes with the generator that measures the latency;
# ROBOT_CORE=0 ROBOT_NICE=19 puts it on the server's core at the lowest priority
# instead, so that it takes only the time the server leaves idle.
ROBOT_CORE=${ROBOT_CORE:-1}
ROBOT_NICE=${ROBOT_NICE:-0}
mkdir -p "$OUT"

cpu() {  # the server's CPU time so far, in clock ticks (utime + stime)
  awk '{print $14 + $15}' "/proc/$1/stat"
}

messages() {  # messages the server has committed and fanned out so far
  "$BIN/corpchat" admin --data "$1" --json stats | "$BIN/python" -c \
    'import json, sys; print(json.load(sys.stdin)["messages"])'
}

wait_robots() {  # wait_robots DATA N: until N messages and no more for 0.5 s (≤ 120 s)
  local before
  for _ in $(seq 1200); do
    [ "$(messages "$1")" -ge "$2" ] && break
    sleep 0.1
  done
  for _ in $(seq 240); do  # the robots' 200s are over: every robot is throttled
    before=$(messages "$1"); sleep 0.5
    [ "$(messages "$1")" = "$before" ] && return 0
  done
}

one() {  # one NAME WITH_ROBOTS(0|1)
  local name=$1 robots=$2 data
  data=$(mktemp -d /tmp/corpchat-robots-XXXX)
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml &
  local server=$! bots=""
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  local cpu0; cpu0=$(cpu "$server")
  # the robots post from before the group's warm-up to after its window: its set-up,
  # warm-up (3 s), window and drain, with room to spare
  local robot_cmd=(taskset -c "$ROBOT_CORE" nice -n "$ROBOT_NICE" "$BIN/corpchat" loadtest
    robots --robots "$ROBOTS" --clients $(( (ROBOTS + 9) / 10 * ROBOT_MEMBERS ))
    --rate "$ROBOT_RATE" --url "ws://127.0.0.1:$PORT/" --admin-socket "$data/admin.sock"
    --warmup 0 --duration $((DURATION + 20)) --seed 2 --json "$OUT/$name.robots.json")
  if [ "$robots" = 1 ]; then
    "${robot_cmd[@]}" >"$OUT/$name.robots.txt" 2>&1 &
    bots=$!
    wait_robots "$data" $((ROBOTS * 20))
  fi
  taskset -c 1 "$BIN/corpchat" loadtest group --groups 1 --members 100 --clients 100 \
    --rate "$RATE" --url "ws://127.0.0.1:$PORT/" --admin-socket "$data/admin.sock" \
    --duration "$DURATION" --warmup 3 --seed 1 --json "$OUT/$name.json" >/dev/null &
  local group=$!
  wait "$group" || echo "($name: the group's run reported a failure)"
  local cpu_s; cpu_s=$(( $(cpu "$server") - cpu0 ))  # the group's run, robots beside it
  if [ -n "$bots" ]; then
    wait "$bots" || echo "($name: the robots' run reported a failure: $OUT/$name.robots.txt)"
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  "$BIN/python" - "$OUT/$name.json" "$name" "$load" "$OUT/$name.robots.json" \
    "$cpu_s" "$(getconf CLK_TCK)" "$robots" <<'PY'
import json, os, sys
report = json.load(open(sys.argv[1]))
e2e = report["latency_ms"]["e2e"]
line = (f"{sys.argv[2]}: load {sys.argv[3]}; e2e p50 {e2e['p50']:.1f} p99 {e2e['p99']:.1f} ms;"
        f" server CPU {int(sys.argv[5]) / int(sys.argv[6]):.1f} s")
if sys.argv[7] == "1" and os.path.exists(sys.argv[4]):
    bots = json.load(open(sys.argv[4]))
    r = bots["figures"]["robots"]
    line += (f"; robots {r['achieved_per_s']}/s ({r['posts']} of {r['scheduled']} due),"
             f" answers {r['answers']}, rule {'OK' if r['rule']['ok'] else 'BROKEN'},"
             f" check {'OK' if bots['check']['ok'] else 'FAILED'}")
print(line, flush=True)
PY
}

posts() {  # posts NAME CONNECTIONS: the robots' load alone, and the server's CPU for it
  local name=$1 conns=$2 data
  data=$(mktemp -d /tmp/corpchat-robots-XXXX)
  taskset -c 0 "$BIN/corpchat" serve --data "$data" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --config loadtest/loopback.toml &
  local server=$!
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  taskset -c 1 "$BIN/python" -m corpchat.loadtest.platform robots-setup --data "$data" \
    --url "http://127.0.0.1:$PORT" --robots 100 --keys "$data/keys.txt" >/dev/null
  local phase load cpu0 cpu_s
  # first: 20 posts per robot answered 200 (each a commit), the rest 429; then, every
  # robot throttled for 10 minutes, a second run of 429s alone
  for phase in first throttled; do
    load=$(cut -d' ' -f1-3 /proc/loadavg); cpu0=$(cpu "$server")
    taskset -c 1 "$BIN/python" -m corpchat.loadtest.platform robots \
      --url "http://127.0.0.1:$PORT" --keys "$data/keys.txt" --rate "$ROBOT_RATE" \
      --seconds "$DURATION" --connections "$conns" >"$OUT/$name.$phase.json"
    cpu_s=$(( $(cpu "$server") - cpu0 ))
    echo "$name $phase: load $load; server CPU $cpu_s ticks ($(getconf CLK_TCK)/s);" \
      "$(cat "$OUT/$name.$phase.json")"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
}

for round in $(seq "$ROUNDS"); do
  if [ -n "${POSTS_ONLY:-}" ]; then  # keep-alive against a connection per post
    posts "kept-$round" "$CONNS"
    posts "fresh-$round" 0
  else
    one "alone-$round" 0
    one "robots-$round" 1
  fi
done
