#!/usr/bin/env python3
"""redis-py's client-side cache (RESP3, cache_config) against a server.

Usage: redis-py-cache.py PORT

A cached read is answered from the client's cache (the server counts no
command for it); another client's write invalidates it, and the next read
goes to the server and sees the new value. Exits non-zero on a mismatch.
Needs redis-py >= 5.1 (`pip install redis`). redis-py enables its cache only
for servers whose HELLO reports version 7.4 or later; Gyre reports Redis 7.2
compatibility (and Redis 7.0/7.2 are refused the same way), so the check is
lowered here: what is tested is the tracking protocol the cache relies on.
"""
import sys
import time

import redis
from redis.cache import CacheConfig

import redis.connection

for name in dir(redis.connection):
    cls = getattr(redis.connection, name)
    if isinstance(cls, type) and hasattr(cls, "MIN_ALLOWED_VERSION"):
        cls.MIN_ALLOWED_VERSION = "7.0.0"

port = int(sys.argv[1])
cached = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
other = redis.Redis(port=port)

other.set("csc:key", "v1")
assert cached.get("csc:key") == b"v1"


def calls():
    info = other.info("commandstats")
    return info.get("cmdstat_get", {}).get("calls", 0)


before = calls()
for _ in range(10):
    assert cached.get("csc:key") == b"v1"
after = calls()
assert after == before, f"cached reads reached the server: {before} -> {after}"

other.set("csc:key", "v2")
deadline = time.time() + 5
while True:
    value = cached.get("csc:key")
    if value == b"v2":
        break
    assert time.time() < deadline, f"still {value!r} after the write"
    time.sleep(0.01)
assert calls() > after, "the read after the invalidation went to the server"
print("ok: cached read, then invalidated by another client's write")
