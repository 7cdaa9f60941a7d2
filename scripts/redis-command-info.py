#!/usr/bin/env python3
"""Write the COMMAND INFO flags and ACL categories Redis declares for each
command and subcommand, from Redis's command JSON files (src/commands/*.json).

The output is the fixture crates/gyre-server/tests/data/redis-7.2.6-command-info.txt,
which the gyre-server unit test `cmd::introspect::tests::command_info_matches_redis`
compares Gyre's command table against. To regenerate it (needs a clone of
github.com/redis/redis with the tag; nothing here touches the network):

    python3 scripts/redis-command-info.py /path/to/redis 7.2.6 \
        > crates/gyre-server/tests/data/redis-7.2.6-command-info.txt

The first argument is a git checkout of Redis; the second a tag or commit in it
(the files are read with `git show`, so the work tree's checkout does not matter).

Each output line is `name<TAB>flags<TAB>categories`: name lower-case, a
subcommand as `container|sub`; flags comma-separated in the order Redis's
`addReplyFlagsForCommand` (src/server.c) writes them; categories comma-separated,
each with its `@`, in the order of `ACLCommandCategories` (src/acl.c), which is
the order COMMAND INFO lists them in. How they are derived, after Redis 7.2:

- flags: the JSON "command_flags", lower-cased, less those COMMAND INFO hides
  (MAY_REPLICATE, SENTINEL, ONLY_SENTINEL, PROTECTED, TOUCHES_ARBITRARY_KEYS),
  plus "movablekeys" where `populateCommandLegacyRangeSpec` sets it (a key spec
  that is not index+range, has keystep != 1, is not consecutive to the previous
  one, or is INCOMPLETE).
- categories: the JSON "acl_categories" plus those `setImplicitACLCategories`
  adds: write -> @write; readonly -> @read unless the command is @scripting;
  admin -> @admin @dangerous; pubsub -> @pubsub; fast -> @fast; blocking ->
  @blocking; @slow when not @fast. (The "group" gives no category.)

Commands flagged ONLY_SENTINEL (Sentinel's own) are left out.
"""

import json
import subprocess
import sys

FLAG_ORDER = [
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
    "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
    "fast", "no_auth", "no_mandatory_keys", "no_async_loading", "no_multi",
    "movablekeys", "allow_busy",
]
HIDDEN_FLAGS = {"may_replicate", "sentinel", "only_sentinel", "protected", "touches_arbitrary_keys"}
CATEGORY_ORDER = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
    "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
    "blocking", "dangerous", "connection", "transaction", "scripting",
]


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def movablekeys(specs):
    """populateCommandLegacyRangeSpec's CMD_MOVABLE_KEYS, for a native command."""
    if not specs:
        return False
    is_range = lambda s: "index" in s["begin_search"] and "range" in s["find_keys"]
    incomplete = lambda s: "INCOMPLETE" in s.get("flags", [])
    if len(specs) == 1 and is_range(specs[0]):
        return incomplete(specs[0])
    movable, found, lastkey, prev_lastkey = False, False, 0, 0
    for s in specs:
        if not is_range(s):
            movable = True
            continue
        pos = s["begin_search"]["index"]["pos"]
        rng = s["find_keys"]["range"]
        if rng["step"] != 1 or (prev_lastkey and prev_lastkey != pos - 1):
            movable = True
            continue
        if incomplete(s):
            movable = True
        found = True
        last_abs = rng["lastkey"] + pos if rng["lastkey"] >= 0 else rng["lastkey"]
        # Redis compares as unsigned: a negative lastkey is the largest.
        lastkey = max(lastkey, last_abs, key=lambda v: v % (1 << 32))
        prev_lastkey = lastkey
    return movable or not found


def main():
    repo, ref = sys.argv[1], sys.argv[2]
    files = [f for f in git(repo, "ls-tree", "--name-only", f"{ref}:src/commands").split() if f.endswith(".json")]
    rows = []
    for f in files:
        doc = json.loads(git(repo, "show", f"{ref}:src/commands/{f}"))
        for name, c in doc.items():
            cflags = [x.lower() for x in c.get("command_flags", [])]
            if "only_sentinel" in cflags:
                continue
            full = f"{c['container'].lower()}|{name.lower()}" if "container" in c else name.lower()
            flags = {x for x in cflags if x not in HIDDEN_FLAGS}
            unknown = flags - set(FLAG_ORDER)
            assert not unknown, (full, unknown)
            if movablekeys(c.get("key_specs", [])):
                flags.add("movablekeys")
            cats = {x.lower() for x in c.get("acl_categories", [])}
            if "write" in cflags:
                cats.add("write")
            if "readonly" in cflags and "scripting" not in cats:
                cats.add("read")
            if "admin" in cflags:
                cats |= {"admin", "dangerous"}
            if "pubsub" in cflags:
                cats.add("pubsub")
            if "fast" in cflags:
                cats.add("fast")
            if "blocking" in cflags:
                cats.add("blocking")
            if "fast" not in cats:
                cats.add("slow")
            unknown = cats - set(CATEGORY_ORDER)
            assert not unknown, (full, unknown)
            rows.append((
                full,
                ",".join(x for x in FLAG_ORDER if x in flags),
                ",".join("@" + x for x in CATEGORY_ORDER if x in cats),
            ))
    print(f"# COMMAND INFO flags and ACL categories of Redis {ref}, from its src/commands/*.json.")
    print("# Generated by scripts/redis-command-info.py; do not edit by hand.")
    print("# name<TAB>flags<TAB>categories")
    for r in sorted(rows):
        print("\t".join(r))


if __name__ == "__main__":
    main()
