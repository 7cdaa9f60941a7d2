#!/usr/bin/env bash
# RSS growth for 100,000 hashes of 10 small fields and 100,000 sorted sets of
# 10 members, Gyre vs Redis, each loaded with redis-cli --pipe into a fresh
# server. Usage (from the project root): scripts/collection-memory.sh
set -euo pipefail
N=${N:-100000}
cargo build --release --bin gyre-server >&2
WORK=$(mktemp -d /tmp/collmem.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
python3 - "$N" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def cmd(*args):
    args = [a.encode() for a in args]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
with open(f"{work}/hashes.resp", "wb") as f:
    for i in range(n):
        pairs = []
        for j in range(10):
            pairs += [f"field:{j}", f"value:{i % 1000}:{j}"]
        f.write(cmd("HSET", f"hash:{i:06d}", *pairs))
with open(f"{work}/zsets.resp", "wb") as f:
    for i in range(n):
        items = []
        for j in range(10):
            items += [str((i * 7 + j * 13) % 1000), f"member:{j}"]
        f.write(cmd("ZADD", f"zset:{i:06d}", *items))
PY
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
measure() { # name start-command port
  local name=$1 port=$3
  for data in hashes zsets; do
    bash -c "$2" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    local lp; lp=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    local before; before=$(rss_kb "$lp")
    redis-cli -p "$port" --pipe < "$WORK/$data.resp" >/dev/null
    sleep 1
    local after; after=$(rss_kb "$lp")
    local keys; keys=$(redis-cli -p "$port" dbsize)
    echo "$name $data keys=$keys rss_growth_mb=$(( (after - before) / 1024 )) bytes_per_key=$(( (after - before) * 1024 / keys ))"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    sleep 0.5
  done
}
measure gyre "cd $WORK && exec $(pwd)/target/release/gyre-server --port 6611" 6611
measure redis "exec redis-server --port 6612 --save '' --appendonly no" 6612
