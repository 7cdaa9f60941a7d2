"""redis-py's RedisCluster against a Gyre cluster (run by tests/cluster.rs).

Usage: redis_py_cluster.py HOST PORT. Exits non-zero on the first mismatch.
"""
import sys

from redis.cluster import RedisCluster

host, port = sys.argv[1], int(sys.argv[2])
rc = RedisCluster(host=host, port=port, decode_responses=True)
rc.flushall(target_nodes=RedisCluster.PRIMARIES)

KEYS = 10_000
for i in range(KEYS):
    rc.set(f"py:{i}", f"v{i}")
for i in range(KEYS):
    assert rc.get(f"py:{i}") == f"v{i}", i

# A pipeline across slots (redis-py splits it by node).
pipe = rc.pipeline()
for i in range(1000):
    pipe.incr(f"pipe:{i}")
assert pipe.execute() == [1] * 1000

# Hash-tagged multi-key commands stay in one slot.
rc.mset({f"{{user:7}}:f{i}": str(i) for i in range(50)})
assert rc.mget([f"{{user:7}}:f{i}" for i in range(50)]) == [str(i) for i in range(50)]

# Each key counted once over the primaries (redis-py sums the nodes' answers).
total = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
assert total == KEYS + 1000 + 50, total
seen = sum(1 for _ in rc.scan_iter(match="py:*", count=1000))
assert seen == KEYS, seen
print("redis-py cluster: ok", total)
