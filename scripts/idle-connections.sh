#!/usr/bin/env bash
# idle-connections.sh — 10,000 idle connections held open against Gyre and
# Redis 7: RSS per idle connection, and GET/SET throughput (redis-benchmark,
# 50 clients) while they stay open. Servers pinned to CPU 0, clients to CPU 1,
# persistence off on both.
#
# usage (from the project root): scripts/idle-connections.sh [connections]
# Quote the ratios: the machine is shared and noisy.
set -eu
CONNS=${1:-10000}
N=${N:-100000}
cargo build --release --bin gyre-server >&2
BIN=$(pwd)/target/release/gyre-server
DATA=$(mktemp -d /tmp/gyre-idle.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rps() { # port test
  taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$N" -r 100000 -t "$2" -q --csv 2>/dev/null | tail -1 | cut -d'"' -f4
}
measure() { # name port pid
  local name=$1 port=$2 pid=$3
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local before set0 get0
  before=$(rss_kb "$pid")
  set0=$(rps "$port" set); get0=$(rps "$port" get)
  # Hold CONNS idle connections open from one process (each sends one PING
  # first, so the server has set the connection up) until told to stop.
  python3 - "$port" "$CONNS" "$DATA/$name.ready" "$DATA/$name.stop" <<'PY' &
import os, socket, sys, time
port, n, ready, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PING\r\n")
    socks.append(s)
for s in socks:
    s.recv(16)
open(ready, "w").close()
while not os.path.exists(stop):
    time.sleep(0.1)
PY
  local holder=$!
  PIDS+=($holder)
  for _ in $(seq 600); do [ -e "$DATA/$name.ready" ] && break; sleep 0.1; done
  sleep 1
  local after set1 get1
  after=$(rss_kb "$pid")
  set1=$(rps "$port" set); get1=$(rps "$port" get)
  touch "$DATA/$name.stop"
  wait $holder 2>/dev/null || true
  echo "$name $before $after $set0 $get0 $set1 $get1"
}
(cd "$DATA" && exec taskset -c 0 "$BIN" --port 6521 --appendonly no --maxclients 20000 >"$DATA/gyre.log" 2>&1) &
GP=$!; PIDS+=($GP)
G=$(measure gyre 6521 $GP)
kill $GP
taskset -c 0 redis-server --port 6522 --save '' --appendonly no --maxclients 20000 >"$DATA/redis.log" 2>&1 &
RP=$!; PIDS+=($RP)
R=$(measure redis 6522 $RP)
printf '%-6s %12s %12s %14s %10s %10s %12s %12s\n' server "rss0 KiB" "rss KiB" "bytes/conn" "SET rps" "GET rps" "SET w/ idle" "GET w/ idle"
for line in "$G" "$R"; do
  set -- $line
  printf '%-6s %12s %12s %14.0f %10s %10s %12s %12s\n' "$1" "$2" "$3" "$(echo "($3 - $2) * 1024 / $CONNS" | bc -l)" "$4" "$5" "$6" "$7"
done
set -- $G; g_per=$(echo "($3 - $2) * 1024 / $CONNS" | bc -l); g_set=$6; g_get=$7
set -- $R; r_per=$(echo "($3 - $2) * 1024 / $CONNS" | bc -l); r_set=$6; r_get=$7
printf 'gyre/redis: bytes per idle connection %.2f, SET with idle connections open %.2f, GET %.2f\n' \
  "$(echo "$g_per / $r_per" | bc -l)" "$(echo "$g_set / $r_set" | bc -l)" "$(echo "$g_get / $r_get" | bc -l)"
