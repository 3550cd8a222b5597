#!/usr/bin/env bash
# Issue 20's target end to end, A/B between two builds: group100 (`corpchat loadtest group
# --groups 1 --members 100 --clients 100`), plain and with the everyday mix
# (--mention-fraction 0.2 --reply-fraction 0.1 --reactions 1), each run on a fresh server
# (core 0) and data directory, the generator on core 1, loopback, fsync on. Per round:
# A plain, A mixed, B plain, B mixed. The figure is the one the target names: the server's
# CPU per message delivery from `stats` over the window (`server.cpu_us_per_delivery` of
# the report; reaction frames are not deliveries), mixed / plain per build and round.
#
#   loadtest/everyday-ab.sh A_REV [B_REV]
#
# A_REV, B_REV: git revisions (B_REV absent: this work tree as it is). A revision's
# server runs from `git archive` in a temporary directory through PYTHONPATH, on this
# tree's virtualenv; the generator is always this tree's, so both builds get the same
# client. ROUNDS (3), RATE (msgs/s, 400), DURATION (10), PORT (18890), OUT
# (bench-results/everyday-ab). One line per run, then the ratios.
# HUB=1: instead, the hub's step alone (`fanoutbench --everyday`, on core 1, both builds
# with the server's GC threshold), A B A B ..., ROUNDS times; its median lines per run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
OUT=${OUT:-bench-results/everyday-ab}
PORT=${PORT:-18890}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-400}
DURATION=${DURATION:-10}
A_REV=${1:?usage: loadtest/everyday-ab.sh A_REV [B_REV]}
B_REV=${2:-}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TMP=$(mktemp -d /tmp/corpchat-everyday-ab-XXXX)
trap 'rm -rf "$TMP"' EXIT

tree() {  # tree NAME REV: a PYTHONPATH entry whose `corpchat` is REV's source
  local dir=$TMP/$1
  mkdir -p "$dir/src" "$dir/path/corpchat"
  git archive "$2" | tar -x -C "$dir/src"
  for p in protocol adminclient store bridge search cluster server loadtest web; do
    ln -sfn "$dir/src/$p" "$dir/path/corpchat/$p"
  done
  echo "$dir/path"
}

A_PATH=$(tree a "$A_REV")
B_PATH=""
if [ -n "$B_REV" ]; then B_PATH=$(tree b "$B_REV"); fi

one() {  # one NAME PYTHONPATH(for the server; "" = this tree) MIX(plain|mixed)
  local name=$1 path=$2 mix=$3 data extra=()
  if [ "$mix" = mixed ]; then extra=(--mention-fraction 0.2 --reply-fraction 0.1 --reactions 1); fi
  data=$(mktemp -d /tmp/corpchat-bench-XXXX)
  PYTHONPATH=$path taskset -c 0 "$BIN/python" -m corpchat.server.cli serve --data "$data" \
    --listen "127.0.0.1:$PORT" --log-level WARNING --config loadtest/loopback.toml &
  local server=$!
  for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  taskset -c 1 "$BIN/corpchat" loadtest group --groups 1 --members 100 --clients 100 \
    --rate "$RATE" "${extra[@]}" --connect-concurrency 200 --url "ws://127.0.0.1:$PORT/" \
    --admin-socket "$data/admin.sock" --duration "$DURATION" --warmup 3 --seed 1 \
    --json "$OUT/$name.json" >/dev/null || echo "($name reported a failure)"
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  "$BIN/python" - "$OUT/$name.json" "$name" "$load" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, c, e2e = r["server"], r["check"], r["latency_ms"]["e2e"]
print(f"{sys.argv[2]}: load {sys.argv[3]}; CPU {s['cpu_us_per_delivery']} µs/delivery, "
      f"{r['rates']['delivered_per_s']:.0f} deliveries/s, server {s['cpu_fraction']:.0%} of a "
      f"core, batch {s['writer_batch_mean']}, e2e p50 {e2e['p50']:.1f} ms; lost {c['lost']} "
      f"duplicated {c['duplicated']} reordered {c['reordered']}", flush=True)
PY
}

if [ -n "${HUB:-}" ]; then
  for round in $(seq "$ROUNDS"); do
    for build in a b; do
      path=$A_PATH; [ "$build" = b ] && path=$B_PATH
      echo "== $build round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
      PYTHONPATH=$path taskset -c 1 "$BIN/python" -c "import gc, runpy, sys
gc.set_threshold(50_000, 50, 1000)  # as corpchat serve (server/cli.py)
sys.argv = ['fanoutbench', '--everyday', '--messages', '3000', '--rounds', '5']
runpy.run_module('corpchat.server.fanoutbench', run_name='__main__')" | grep median
    done
  done
  exit 0
fi
for round in $(seq "$ROUNDS"); do
  for build in a b; do
    path=$A_PATH; [ "$build" = b ] && path=$B_PATH
    for mix in plain mixed; do one "$build-$mix-$round" "$path" "$mix"; done
  done
done
"$BIN/python" - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
for build in "ab":
    cpu = lambda mix, r: json.load(open(f"{out}/{build}-{mix}-{r}.json"))["server"]["cpu_us_per_delivery"]
    ratios = [cpu("mixed", r) / cpu("plain", r) for r in range(1, rounds + 1)]
    print(f"{build.upper()}: mixed/plain per round " + ", ".join(f"{x:.3f}" for x in ratios)
          + f"; median {statistics.median(ratios):.3f}")
PY
