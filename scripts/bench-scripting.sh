#!/usr/bin/env bash
# bench-scripting.sh — EVALSHA INCR and PUBLISH (one subscriber) on Gyre and
# Redis 7, side by side: both servers pinned to CPU 0, redis-benchmark to
# CPU 1, runs interleaved (A B A B ...), persistence off on both.
#
# usage (from the project root): scripts/bench-scripting.sh [rounds] [requests]
# Prints requests/s per run and the Gyre/Redis ratio of the medians. Quote the
# ratios, not the absolute numbers (the machine is shared and noisy).
set -eu
ROUNDS=${1:-3}
N=${2:-200000}
cargo build --release --bin gyre-server >&2
BIN=$(pwd)/target/release/gyre-server
DATA=$(mktemp -d /tmp/gyre-bench-scripting.XXXXXX)
GP=6511
RP=6512
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT
(cd "$DATA" && exec taskset -c 0 "$BIN" --port $GP --appendonly no >"$DATA/gyre.log" 2>&1) &
PIDS+=($!)
taskset -c 0 redis-server --port $RP --save '' --appendonly no >"$DATA/redis.log" 2>&1 &
PIDS+=($!)
for p in $GP $RP; do
  for _ in $(seq 100); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done
done

BODY="return redis.call('INCR', KEYS[1])"
rps() { # port, args... -> requests per second
  local port=$1; shift
  taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$N" -q --csv "$@" 2>/dev/null | tail -1 | cut -d'"' -f4
}
declare -A RES
for round in $(seq "$ROUNDS"); do
  for side in gyre redis; do
    port=$GP; [ $side = redis ] && port=$RP
    sha=$(redis-cli -p $port script load "$BODY")
    RES[$side,evalsha,$round]=$(rps $port evalsha "$sha" 1 counter)
    # One subscriber that reads everything.
    taskset -c 1 redis-cli -p $port subscribe bench-channel >/dev/null &
    sub=$!
    PIDS+=($sub)
    for _ in $(seq 50); do
      [ "$(redis-cli -p $port pubsub numsub bench-channel | tail -1)" = 1 ] && break
      sleep 0.05
    done
    RES[$side,publish,$round]=$(rps $port publish bench-channel hello-subscriber)
    kill $sub 2>/dev/null || true
    wait $sub 2>/dev/null || true
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-9s %-28s %-28s %s\n' test "gyre rps (runs)" "redis rps (runs)" "gyre/redis (medians)"
for t in evalsha publish; do
  g=(); r=()
  for round in $(seq "$ROUNDS"); do g+=("${RES[gyre,$t,$round]}"); r+=("${RES[redis,$t,$round]}"); done
  mg=$(median "${g[@]}"); mr=$(median "${r[@]}")
  printf '%-9s %-28s %-28s %.2f\n' $t "${g[*]}" "${r[*]}" "$(echo "$mg / $mr" | bc -l)"
done
