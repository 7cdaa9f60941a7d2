#!/bin/bash
# Usage (from the project root, after cargo build --release -p gyre-server): scripts/snapshot-rss.sh
# Needs redis-benchmark and redis-cli (Debian redis-tools).
# RSS and latency during a snapshot under SET load: sample VmRSS every 5 ms;
# redis-benchmark's CSV gives the latency percentiles.
set -e
BIN=${GYRE_BIN:-$PWD/target/release/gyre-server}
D=$(mktemp -d); PORT=6911
(cd $D && exec taskset -c 0 $BIN --port $PORT --dir $D/data) > $D/log 2>&1 &
PID=$!
sleep 1
redis-benchmark -p $PORT -t set -n 2000000 -r 1000000 -d 32 -P 16 -q >/dev/null
redis-cli -p $PORT SAVE >/dev/null
sleep 1
sample() { local max=0; while kill -0 $PID 2>/dev/null && [ ! -f $D/stop ]; do r=$(awk '/VmRSS/{print $2}' /proc/$PID/status); [ "$r" -gt "$max" ] && max=$r; sleep 0.005; done; echo $max; }
for run in 1 2; do
 for mode in without with; do
  rm -f $D/stop
  base=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
  sample > $D/max &
  SP=$!
  redis-benchmark -p $PORT -t set -c 50 -n 300000 -r 1000000 -d 32 --csv > $D/bench &
  BP=$!
  sleep 1
  if [ $mode = with ]; then redis-cli -p $PORT BGSAVE >/dev/null; fi
  wait $BP
  touch $D/stop; wait $SP
  max=$(cat $D/max)
  lat=$(tail -1 $D/bench | tr -d '"' | awk -F, '{printf "%s rps, p50 %s ms, p99 %s ms, max %s ms", $2, $5, $7, $8}')
  echo "run $run $mode snapshot: base ${base} kB, max ${max} kB, growth $(( (max-base)*1000/base ))‰; $lat"
 done
done
redis-cli -p $PORT DBSIZE
kill $PID; wait $PID 2>/dev/null || true
rm -rf $D
