#!/usr/bin/env bash
# Restart time with 1M keys (16-byte keys, 32-byte values), Gyre against
# Redis 7 loading the same data from its RDB. Run from the project root after
# `cargo build --release --bin gyre-server`; needs redis-server and redis-cli.
# Each server is pinned to one core ($CORES); the time is from exec to the
# first PING answered.
#   scripts/restart-time.sh [keys] [rounds]
# CRASH=1: Gyre is stopped with SIGKILL and never snapshots
# (wal-compact-bytes 1000gb), so each start replays the whole log: the slowest
# restart, after a crash with a full log tail.
set -euo pipefail
# CORES: the cores both servers are pinned to (default 0; e.g. 0,1).
CORES=${CORES:-0}
GYRE_EXTRA=(); GYRE_STOP=TERM
if [ "${CRASH:-0}" = 1 ]; then GYRE_EXTRA=(--wal-compact-bytes 1000gb); GYRE_STOP=KILL; fi
KEYS=${1:-1000000}; ROUNDS=${2:-3}
BIN=${GYRE_BIN:-$PWD/target/release/gyre-server}
W=$(mktemp -d); trap 'grep -h "recovery done\|snapshot loaded\|replay" "$W/server.log" | tail -4 | sed "s/\x1b\[[0-9;]*m//g"; rm -rf "$W"' EXIT
python3 - "$KEYS" > "$W/load.resp" <<'PY'
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for i in range(n):
    k = b"key:%012d" % i; v = b"v" * 32
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
# Both answer -LOADING while they load: wait for PONG.
wait_ping() {
  local deadline=$(( $(date +%s) + 120 ))
  until [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "no PONG on port $1 after 120 s; server log:" >&2; tail -5 "$W/server.log" >&2; exit 1; }
    sleep 0.005
  done
}
start_timed() { # port, command...
  local port=$1; shift
  local t0; t0=$(date +%s%N)
  ( "$@" >>"$W/server.log" 2>&1 & echo $! >"$W/pid" )
  wait_ping "$port"
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() { local pid; pid=$(cat "$W/pid"); kill -"${1:-TERM}" "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done; }
mkdir -p "$W/gyre" "$W/redis"
cd "$W/gyre"; start_timed 6931 taskset -c "$CORES" "$BIN" --port 6931 "${GYRE_EXTRA[@]}" >/dev/null
redis-cli -p 6931 --pipe <"$W/load.resp" >/dev/null; stop "$GYRE_STOP"
cd "$W/redis"; start_timed 6932 taskset -c "$CORES" redis-server --port 6932 --save '' --appendonly no --dir "$W/redis" >/dev/null
redis-cli -p 6932 --pipe <"$W/load.resp" >/dev/null; redis-cli -p 6932 save >/dev/null; stop
echo "gyre data: $(du -sh "$W/gyre/gyre-data" | cut -f1); redis rdb: $(du -sh "$W/redis/dump.rdb" | cut -f1)"
for r in $(seq 1 "$ROUNDS"); do
  cd "$W/gyre"; g=$(start_timed 6931 taskset -c "$CORES" "$BIN" --port 6931 "${GYRE_EXTRA[@]}"); k=$(redis-cli -p 6931 dbsize); stop "$GYRE_STOP"
  cd "$W/redis"; d=$(start_timed 6932 taskset -c "$CORES" redis-server --port 6932 --save '' --appendonly no --dir "$W/redis" --dbfilename dump.rdb); k2=$(redis-cli -p 6932 dbsize); stop
  echo "round $r: gyre ${g} ms ($k keys), redis ${d} ms ($k2 keys)"
done
