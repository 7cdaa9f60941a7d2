#!/usr/bin/env bash
# Throughput of issue 18's commands, Gyre vs Redis, with redis-benchmark -P 16.
#
#   scripts/bench-commands18.sh [rounds]      (from the repository root)
#
# Both servers without persistence (Redis: --save '' --appendonly no; Gyre:
# --appendonly no), both pinned to CPU 0 and alternated per test, the client on
# CPU 1; 50 clients, -P 16. Prints, per test, the median rps of each server
# over the rounds and the ratio. Needs target/release/gyre-server, redis-server
# and redis-benchmark on PATH. Ports 7711 (Gyre) and 7712 (Redis) must be free.
set -euo pipefail
ROUNDS=${1:-3}
N=${BENCH_N:-200000}
GP=7711 RP=7712
DIR=$(mktemp -d)
trap 'kill $GPID $RPID 2>/dev/null || true; rm -rf "$DIR"' EXIT
taskset -c 0 target/release/gyre-server --port $GP --dir "$DIR/gyre" --appendonly no >"$DIR/gyre.log" 2>&1 &
GPID=$!
taskset -c 0 redis-server --port $RP --save '' --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
RPID=$!
for p in $GP $RP; do
    for _ in $(seq 100); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done
done
# Data the read tests use: a 100-element list to SORT, and 100,000 points
# spread over a 1x1 degree box for GEOSEARCH, a 12,500-byte bitmap for
# BITCOUNT (the same seeded data in both); the HyperLogLog is built by PFADD,
# which runs before PFCOUNT. (SETBIT writes a bit of 100,000 keys: Redis
# refuses __rand_int__'s zero-padded numbers as offsets.)
python3 - "$DIR/load.resp" <<'PY'
import random, sys
random.seed(18)
out = open(sys.argv[1], "wb")
def cmd(*a):
    out.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in (s.encode() for s in a)))
cmd("DEL", "lst", "geo", "bm")
cmd("SET", "bm", "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12500)))
cmd("RPUSH", "lst", *[str(random.randint(1, 1000000)) for _ in range(100)])
for i in range(0, 100000, 1000):
    args = []
    for j in range(i, i + 1000):
        args += ["%.6f" % random.uniform(13, 14), "%.6f" % random.uniform(38, 39), "p%d" % j]
    cmd("GEOADD", "geo", *args)
PY
for p in $GP $RP; do redis-cli -p $p --pipe <"$DIR/load.resp" >/dev/null; done
TESTS=(
    "SETBIT|-r 100000|SETBIT flags:__rand_int__ 7 1"
    "BITCOUNT|-r 1|BITCOUNT bm"
    "PFADD|-r 1000000|PFADD hll __rand_int__"
    "PFCOUNT|-r 1|PFCOUNT hll"
    "GEOADD|-r 100000|GEOADD geo2 13.__rand_int__ 38.__rand_int__ m:__rand_int__"
    "GEOSEARCH|-r 1|GEOSEARCH geo FROMLONLAT 13.5 38.5 BYRADIUS 5 km ASC COUNT 10"
    "SORT_100|-r 1|SORT lst"
)
rps() { # port, extra, command...
    local port=$1 extra=$2; shift 2
    taskset -c 1 redis-benchmark -p "$port" -c 50 -P 16 -n "$N" $extra --csv "$@" 2>/dev/null |
        tail -1 | cut -d, -f2 | tr -d '"'
}
printf '%-10s %12s %12s %8s\n' test gyre_rps redis_rps ratio
for t in "${TESTS[@]}"; do
    IFS='|' read -r name extra cmd <<<"$t"
    g=() r=()
    for _ in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2086
        g+=("$(rps $GP "$extra" $cmd)")
        # shellcheck disable=SC2086
        r+=("$(rps $RP "$extra" $cmd)")
    done
    gm=$(printf '%s\n' "${g[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    rm=$(printf '%s\n' "${r[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    printf '%-10s %12.0f %12.0f %8.3f\n' "$name" "$gm" "$rm" "$(echo "$gm / $rm" | bc -l)"
done
