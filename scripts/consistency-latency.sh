#!/usr/bin/env bash
# consistency-latency.sh: write and read throughput and latency of a
# three-node cluster (replication factor 3) at each consistency level,
# against one node without replication, under the same load.
#
#   scripts/consistency-latency.sh [requests] [appendfsync]
#
# For each configuration it starts a fresh cluster on 127.0.0.81-83 (for
# the baseline, one server not in cluster mode: redis-benchmark --cluster
# refuses a one-node cluster), runs `redis-benchmark [--cluster] -t set,get
# -n requests -r requests -d 16 -c 50 -P 1 --csv` (no pipelining: each
# request's latency is its own) and prints requests per second with p50 and
# p99 latency. `appendfsync` (default everysec) goes to every node. Last,
# Redis Cluster (3 primaries, a replica each) under the
# same load, for comparison (on 127.0.0.1:7611-7616: a Redis Cluster bound
# to other loopback addresses never joins).
set -euo pipefail
requests=${1:-200000}
fsync=${2:-everysec}
source "$(dirname "$0")/cluster-lib.sh"
printf '%-42s %-4s %10s %8s %8s\n' configuration test rps p50_ms p99_ms
bench() {
  redis-benchmark -h 127.0.0.81 -p 7600 "$@" -t set,get -n "$requests" -r "$requests" -d 16 -c 50 -P 1 --csv 2>/dev/null \
    | tr -d '"' | awk -F, -v l="$label" '$1 == "SET" || $1 == "GET" { printf "%-42s %-4s %10.0f %8s %8s\n", l, $1, $2, $5, $7 }'
}
measure() {
  label=$1
  local nodes=$2
  shift 2
  cluster_start 8 7600 "$nodes" --appendfsync "$fsync" "$@"
  bench --cluster
  cluster_stop
}
label="one node, not in cluster mode"
"$bin" --bind 127.0.0.81 --port 7600 --dir "$root/single" --appendfsync "$fsync" >"$root/single.log" 2>&1 &
pids=($!)
disown
for _ in $(seq 1 100); do redis-cli -h 127.0.0.81 -p 7600 ping >/dev/null 2>&1 && break; sleep 0.1; done
bench
cluster_stop
for level in one quorum all; do
  measure "3 nodes, RF 3, write-consistency $level" 3 --write-consistency "$level"
done
measure "3 nodes, RF 3, read-consistency quorum" 3 --read-consistency quorum

# Redis Cluster, 3 primaries with a replica each (it replicates after it
# acknowledges), the same load; its log as the same appendfsync asks.
label="Redis Cluster, 3 primaries + 3 replicas"
aof=(--appendonly yes --appendfsync "$fsync")
[ "$fsync" = no ] && aof=(--appendonly no)
nodes=()
for n in 1 2 3 4 5 6; do
  mkdir -p "$root/redis$n"
  redis-server --bind 127.0.0.1 --port 761$n --dir "$root/redis$n" --cluster-enabled yes --save '' "${aof[@]}" \
    --daemonize no >"$root/redis$n.log" 2>&1 &
  pids+=($!)
  disown
  nodes+=("127.0.0.1:761$n")
done
for n in 1 2 3 4 5 6; do
  for _ in $(seq 1 100); do redis-cli -p 761$n ping >/dev/null 2>&1 && break; sleep 0.1; done
done
timeout 60 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p 7611 cluster info | grep -q cluster_state:ok && break
  sleep 0.1
done
sleep 1
redis-benchmark -p 7611 --cluster -t set,get -n "$requests" -r "$requests" -d 16 -c 50 -P 1 --csv 2>/dev/null \
  | tr -d '"' | awk -F, -v l="$label" '$1 == "SET" || $1 == "GET" { printf "%-42s %-4s %10.0f %8s %8s\n", l, $1, $2, $5, $7 }'
cluster_stop
