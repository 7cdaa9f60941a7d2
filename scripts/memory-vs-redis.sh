#!/usr/bin/env bash
# Memory per key with a TTL on every key, and memory per idle connection,
# Gyre vs Redis 7, each measured on a fresh server (RSS from /proc).
#
# usage (from the project root): scripts/memory-vs-redis.sh [ttl|conns|all]
#   ttl:   1M keys "key:000000123" with 32-byte values, SET ... EX 1000000
#          (the same data as ../shared/bench/memory.sh, plus a TTL)
#   conns: 10,000 idle client connections (connected, nothing sent)
# env: N_KEYS (1000000), N_CONNS (10000), GYRE_BIN (another gyre-server binary)
# Only loopback traffic; only the server processes this script starts are signalled.
set -euo pipefail
MODE=${1:-all}
N_KEYS=${N_KEYS:-1000000}
N_CONNS=${N_CONNS:-10000}
cargo build --release --bin gyre-server >&2
BIN=${GYRE_BIN:-$(pwd)/target/release/gyre-server}
WORK=$(mktemp -d /tmp/memvs.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start() { # name port -> sets SPID
  case $1 in
    gyre) (cd "$WORK" && exec "$BIN" --port "$2" --appendonly no --maxclients 20000) >/dev/null 2>&1 & ;;
    redis) redis-server --port "$2" --save '' --appendonly no --maxclients 20000 >/dev/null 2>&1 & ;;
  esac
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

ttl() {
  awk -v n="$N_KEYS" 'BEGIN { for (i = 0; i < n; i++)
    printf "*5\r\n$3\r\nSET\r\n$13\r\nkey:%09d\r\n$32\r\nvalue-%026d\r\n$2\r\nEX\r\n$7\r\n1000000\r\n", i, i }' >"$WORK/ttl.resp"
  for name in gyre redis; do
    local port=$([ $name = gyre ] && echo 6621 || echo 6622)
    start $name $port
    sleep 1
    local before after keys
    before=$(rss_kb "$SPID")
    redis-cli -p $port --pipe <"$WORK/ttl.resp" >/dev/null
    sleep 1
    after=$(rss_kb "$SPID")
    keys=$(redis-cli -p $port dbsize)
    echo "ttl $name keys=$keys rss_before_kb=$before rss_after_kb=$after bytes_per_key=$(( (after - before) * 1024 / keys ))"
    stop "$SPID"
  done
}

conns() {
  for name in gyre redis; do
    local port=$([ $name = gyre ] && echo 6623 || echo 6624)
    start $name $port
    sleep 1
    python3 - "$port" "$N_CONNS" "$SPID" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
def ping(s):
    s.sendall(b"PING\r\n"); assert s.recv(64).startswith(b"+PONG")
probe = socket.create_connection(("127.0.0.1", port)); ping(probe)
time.sleep(0.5)
before = rss_kb()
socks = []
for i in range(n):
    socks.append(socket.create_connection(("127.0.0.1", port)))
def connected():
    probe.sendall(b"INFO clients\r\n")
    data = b""
    while b"connected_clients:" not in data or not data.endswith(b"\r\n\r\n") and data.count(b"\r\n") < 4:
        data += probe.recv(65536)
        if b"maxclients" in data: break
    for line in data.split(b"\r\n"):
        if line.startswith(b"connected_clients:"):
            return int(line.split(b":")[1])
    return 0
deadline = time.time() + 30
while connected() < n + 1 and time.time() < deadline:
    time.sleep(0.2)
time.sleep(1)
after = rss_kb()
print(f"conns port={port} n={n} rss_before_kb={before} rss_after_kb={after} bytes_per_conn={(after - before) * 1024 // n}")
for s in socks: s.close()
PY
    stop "$SPID"
  done
}

case $MODE in
  ttl) ttl ;;
  conns) conns ;;
  all) ttl; conns ;;
  *) echo "usage: $0 [ttl|conns|all]" >&2; exit 2 ;;
esac
