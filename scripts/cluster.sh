#!/usr/bin/env bash
# A local Gyre cluster of N nodes, for trying it out.
#
#   scripts/cluster.sh start [N]    start N nodes (default 3) and wait until they agree;
#                                   on a running cluster, starts the missing ones (a join)
#   scripts/cluster.sh status       CLUSTER INFO / NODES of the first node
#   scripts/cluster.sh stop         stop every node this script started
#
# Node i listens on 127.0.0.1:(7000+i) for clients and 17000+i for the cluster,
# keeps its data in $GYRE_CLUSTER_DIR/node-i (default ./gyre-cluster) and logs to
# node-i.log there; node 1 starts the cluster and the others join through it.
# Uses target/release/gyre-server (GYRE_BIN overrides); extra flags for every
# node in GYRE_CLUSTER_FLAGS. A stopped cluster restarts with `start` (the
# nodes keep their ids and slots); remove the directory for a new one.
# Then: redis-cli -c -p 7001, or redis-cli --cluster check 127.0.0.1:7001.
set -euo pipefail
CMD=${1:-status}
N=${2:-3}
DIR=${GYRE_CLUSTER_DIR:-./gyre-cluster}
BIN=${GYRE_BIN:-target/release/gyre-server}

start() {
    mkdir -p "$DIR"
    for i in $(seq 1 "$N"); do
        local port=$((7000 + i)) cport=$((17000 + i)) join=()
        # Already running (start N+1 adds a node to a running cluster).
        if [ -e "$DIR/node-$i.pid" ] && kill -0 "$(cat "$DIR/node-$i.pid")" 2>/dev/null; then
            continue
        fi
        if [ "$i" -gt 1 ] && [ ! -e "$DIR/node-$i/cluster/node.json" ]; then
            join=(--join 127.0.0.1:17001)
        fi
        # shellcheck disable=SC2086
        "$BIN" --port $port --cluster-port $cport --dir "$DIR/node-$i" "${join[@]}" ${GYRE_CLUSTER_FLAGS:-} \
            >>"$DIR/node-$i.log" 2>&1 &
        echo $! >"$DIR/node-$i.pid"
        for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    for _ in $(seq 300); do
        local ok=0
        for i in $(seq 1 "$N"); do
            # Every node knows all N, and every slot move is done.
            redis-cli -p $((7000 + i)) cluster info 2>/dev/null | tr -d '\r' |
                grep -c -e "^cluster_known_nodes:$N$" -e "^gyre_slot_moves_in_progress:0$" | grep -q 2 && ok=$((ok + 1))
        done
        if [ "$ok" -eq "$N" ] && redis-cli -p 7001 cluster info | grep -q cluster_state:ok; then
            echo "cluster of $N up: redis-cli -c -p 7001"
            return 0
        fi
        sleep 0.1
    done
    echo "the nodes did not agree within 30 s; see $DIR/node-*.log" >&2
    return 1
}

stop() {
    for f in "$DIR"/node-*.pid; do
        [ -e "$f" ] || continue
        kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

status() {
    redis-cli -p 7001 cluster info | tr -d '\r' | grep -E '^(cluster_state|cluster_known_nodes|cluster_size|gyre_)'
    redis-cli -p 7001 cluster nodes
}

case "$CMD" in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start [N] | status | stop" >&2
    exit 2
    ;;
esac
