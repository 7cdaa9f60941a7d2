#!/usr/bin/env bash
# anti-entropy-cost.sh: the CPU anti-entropy rounds cost when nothing differs.
#
#   scripts/anti-entropy-cost.sh [keys] [seconds] [interval-ms]
#
# Starts three gyre-server nodes on 127.0.0.71-73 (replication factor 3),
# loads `keys` keys (default 1,000,000) with `redis-benchmark --cluster`,
# waits for the copies to converge, then measures each node's CPU time
# (utime + stime from /proc) over `seconds` (default 30) of idle, twice:
# with `--anti-entropy-interval-ms interval-ms` (default 1000, ten times
# the default frequency) and with rounds off (0), on fresh clusters. It
# prints the CPU each idle cluster used, in percent of one core, and the
# rounds that ran. Only the processes this script started are signalled.
set -euo pipefail
keys=${1:-1000000}
secs=${2:-30}
interval=${3:-1000}
source "$(dirname "$0")/cluster-lib.sh"
cli() { redis-cli -h "$1" -p 7500 "${@:2}"; }
ticks() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
run() {
  local ae=$1
  cluster_start 7 7500 3 --anti-entropy-interval-ms "$ae" --appendfsync everysec
  redis-benchmark -h 127.0.0.71 -p 7500 --cluster -q -t set -n "$keys" -r "$keys" -d 16 -c 50 -P 16 >/dev/null
  # Converged: every node's digests of every slot agree.
  slots=$(seq -s ' ' 0 16383)
  for _ in $(seq 1 600); do
    d1=$(cli 127.0.0.71 cluster digest $slots | md5sum)
    d2=$(cli 127.0.0.72 cluster digest $slots | md5sum)
    d3=$(cli 127.0.0.73 cluster digest $slots | md5sum)
    [ "$d1" = "$d2" ] && [ "$d2" = "$d3" ] && break
    sleep 0.5
  done
  local hz t0 t1
  hz=$(getconf CLK_TCK)
  t0=$(ticks)
  sleep "$secs"
  t1=$(ticks)
  rounds=0
  for n in 1 2 3; do
    r=$(cli 127.0.0.7$n info replication | tr -d '\r' | awk -F: '/^gyre_anti_entropy_rounds:/ {print $2}')
    rounds=$((rounds + ${r:-0}))
  done
  keysnow=$(( $(cli 127.0.0.71 dbsize) + $(cli 127.0.0.72 dbsize) + $(cli 127.0.0.73 dbsize) ))
  awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$secs" -v ae="$ae" -v r="$rounds" -v k="$keysnow" \
    'BEGIN { printf "anti-entropy-interval-ms %6s: %d keys, three idle nodes used %.2f%% of one core (%d rounds)\n", ae, k, 100 * t / hz / s, r }'
  cluster_stop
}
run "$interval"
run 0
