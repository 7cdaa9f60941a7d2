#!/usr/bin/env bash
# Instructions per pipelined command, counted by callgrind (repeatable, unlike
# wall-clock timings on a shared machine).
#
#   scripts/callgrind-pipelined.sh [binary] [get|set] [requests]
#
# Starts the binary under callgrind with persistence off (or with
# $SERVER_ARGS, e.g. "--appendonly yes --appendfsync no"), fills 100,000 keys,
# runs `redis-benchmark -P 16` for the chosen command, and prints the
# process's instructions per request (start-up and the fill are subtracted by
# zeroing the counters before the measured run). Leaves callgrind.out.* in
# $OUT_DIR (default: a temporary directory) for callgrind_annotate.
set -euo pipefail
BIN=${1:-target/release/gyre-server}
CMD=${2:-get}
N=${3:-200000}
PORT=${PORT:-7811}
OUT_DIR=${OUT_DIR:-$(mktemp -d)}
DATA=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$OUT_DIR/callgrind.out.%p" \
  "$BIN" --port "$PORT" ${SERVER_ARGS:---appendonly no} --dir "$DATA" >"$OUT_DIR/server.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null; wait $VG 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-benchmark -p "$PORT" -t set -n 100000 -r 100000 -d 32 -P 16 -q >/dev/null
callgrind_control -z "$VG" >/dev/null
redis-benchmark -p "$PORT" -t "$CMD" -n "$N" -r 100000 -d 32 -c 50 -P 16 -q >/dev/null
callgrind_control -d "$VG" >/dev/null
sleep 1
TOTAL=$(for f in "$OUT_DIR"/callgrind.out.*; do
  callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
done | sort -n | tail -1)
echo "$CMD -P 16: $TOTAL instructions for $N requests = $((TOTAL / N)) per request ($OUT_DIR)"
