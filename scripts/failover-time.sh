#!/usr/bin/env bash
# failover-time.sh: how long writes to a killed primary's slots stay refused.
#
#   scripts/failover-time.sh [runs] [extra gyre-server flags...]
#
# Each run starts three gyre-server nodes on 127.0.0.61-63 (replication
# factor 3, the default), writes a key that node 2 leads, kills node 2 with
# SIGKILL and retries `SET` on that key through `redis-cli -c` every 50 ms
# until it is acknowledged again; it prints that time. Extra flags (say
# `--node-timeout-ms 2000 --gossip-interval-ms 200`) go to every node.
# Only the processes this script started are signalled.
set -euo pipefail
runs=${1:-3}
shift || true
extra=("$@")
source "$(dirname "$0")/cluster-lib.sh"
cli() { redis-cli -h "$1" -p 7400 "${@:2}"; }
for run in $(seq 1 "$runs"); do
  cluster_start 6 7400 3 "${extra[@]}"
  key=""
  for i in $(seq 1 1000); do
    if cli 127.0.0.61 get "k:$i" 2>&1 | grep -q "127.0.0.62:7400"; then key="k:$i"; break; fi
  done
  [ -n "$key" ] || { echo "no key led by node 2"; exit 1; }
  [ "$(redis-cli -c -h 127.0.0.61 -p 7400 set "$key" before)" = OK ]
  echo "run $run: formed; killing node 2 (key $key)" >&2
  kill -9 "${pids[1]}"
  start=$(date +%s.%N)
  while true; do
    r=$(timeout 5 redis-cli -c -h 127.0.0.61 -p 7400 set "$key" after 2>&1 | tail -1 || true)
    [ "$r" = OK ] && break
    if [ "$(echo "$(date +%s.%N) - $start > 60" | bc)" = 1 ]; then
      keep=$(mktemp -d /tmp/failover-time-XXXX)
      cp "$root"/*.log "$keep"/
      echo "run $run: not acknowledged after 60 s (last answer: $r); logs in $keep"
      exit 1
    fi
    sleep 0.05
  done
  end=$(date +%s.%N)
  echo "run $run: writes to the killed primary's slot acknowledged again after $(echo "$end - $start" | bc) s"
  cluster_stop
done
