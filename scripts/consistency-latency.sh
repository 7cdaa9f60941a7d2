#!/usr/bin/env bash
# consistency-latency.sh: write and read throughput and latency of a
# three-node cluster (replication factor 3) at each consistency level,
# against one node without replication, under the same load.
#
#   scripts/consistency-latency.sh [requests] [appendfsync]
#
# For each configuration it starts a fresh cluster on 127.0.0.81-83 (one
# node for the baseline), runs `redis-benchmark --cluster -t set,get -n
# requests -r requests -d 16 -c 50 -P 1 --csv` (no pipelining: each
# request's latency is its own) and prints requests per second with p50 and
# p99 latency. `appendfsync` (default everysec) goes to every node.
set -euo pipefail
requests=${1:-200000}
fsync=${2:-everysec}
source "$(dirname "$0")/cluster-lib.sh"
printf '%-36s %-4s %10s %8s %8s\n' configuration test rps p50_ms p99_ms
measure() {
  local label=$1 nodes=$2
  shift 2
  cluster_start 8 7600 "$nodes" --appendfsync "$fsync" "$@"
  redis-benchmark -h 127.0.0.81 -p 7600 --cluster -t set,get -n "$requests" -r "$requests" -d 16 -c 50 -P 1 --csv 2>/dev/null \
    | tr -d '"' | awk -F, -v l="$label" '$1 == "SET" || $1 == "GET" { printf "%-36s %-4s %10.0f %8s %8s\n", l, $1, $2, $5, $7 }'
  cluster_stop
}
measure "one node, no replication" 1 --replication-factor 1
for level in one quorum all; do
  measure "3 nodes, RF 3, write-consistency $level" 3 --write-consistency "$level"
done
measure "3 nodes, RF 3, read-consistency quorum" 3 --read-consistency quorum
