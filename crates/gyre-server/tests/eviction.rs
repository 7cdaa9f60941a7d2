//! Eviction under `maxmemory`: every policy keeps `used_memory` at the limit
//! while ten times the limit is written; LRU and LFU keep a hot set;
//! volatile-* leave keys without a TTL alone; volatile-ttl takes the soonest
//! expiring first; noeviction answers -OOM and still serves reads and DEL.
//!
//! Limits are set relative to the server's own use at the start of a test
//! (`used_memory` + a few MiB), so the tests do not depend on the binary's
//! baseline. Writes are pipelined in batches to keep the tests quick.

mod common;

use common::*;
use std::time::Duration;

/// How far above `maxmemory` `used_memory` may be seen between batches: one
/// pipelined batch in flight (its query buffer and replies) plus the value of
/// the write that ran last. docs/MEMORY.md states the same margin.
const MARGIN_BYTES: i64 = 512 * 1024;
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn used_memory(c: &mut redis::Connection) -> i64 {
    let info = as_str(&q(c, &["INFO", "memory"]));
    info_field(&info, "used_memory").and_then(|v| v.parse().ok()).expect("used_memory")
}

fn stat(c: &mut redis::Connection, section: &str, field: &str) -> i64 {
    let info = as_str(&q(c, &["INFO", section]));
    info_field(&info, field).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{field} in INFO {section}"))
}

/// FLUSHALL, then waits for the background thread to free what it detached
/// (limits are set relative to the use that follows).
fn flush(c: &mut redis::Connection) {
    ok(c, &["FLUSHALL"]);
    assert!(wait_for(Duration::from_secs(10), || stat(c, "memory", "lazyfree_pending_objects") == 0));
}

/// Sets `maxmemory` to the current use plus `extra` bytes; returns the limit.
fn limit_to_current_plus(c: &mut redis::Connection, extra: i64) -> i64 {
    let limit = used_memory(c) + extra;
    ok(c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    limit
}

/// SETs `keys` (with `EX ttl` when given) in one pipeline; returns the error
/// replies.
fn set_batch(w: &mut RawConn, keys: &[String], value: &str, ttl_s: Option<u64>) -> Vec<String> {
    let ttl = ttl_s.map(|t| t.to_string());
    let mut bytes = Vec::new();
    for k in keys {
        match &ttl {
            Some(t) => bytes.extend(encode_str(&["SET", k, value, "EX", t])),
            None => bytes.extend(encode_str(&["SET", k, value])),
        }
    }
    w.send(&bytes);
    (0..keys.len())
        .filter_map(|_| match w.read_reply() {
            Reply::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn keys(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}:{i:07}")).collect()
}

fn exists_count(c: &mut redis::Connection, keys: &[String]) -> usize {
    let mut n = 0;
    for chunk in keys.chunks(500) {
        let mut cmd = redis::cmd("EXISTS");
        for k in chunk {
            cmd.arg(k);
        }
        n += cmd.query::<i64>(c).expect("EXISTS") as usize;
    }
    n
}

#[test]
fn every_policy_holds_used_memory_at_the_limit_under_ten_times_the_writes() {
    let mut s = Server::start_with(&["--appendonly", "no"]);
    let mut c = s.client();
    let mut w = s.raw();
    let value = "v".repeat(1000);
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "noeviction",
    ] {
        ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        flush(&mut c);
        ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", policy]);
        let limit = limit_to_current_plus(&mut c, 4 << 20);
        let evicted_before = stat(&mut c, "stats", "evicted_keys");
        // Ten times the room, in 1 KB values, every key with a TTL so that the
        // volatile policies have candidates.
        let total = 10 * (4 << 20) / 1000;
        let mut errors = 0;
        let mut peak = 0;
        for start in (0..total).step_by(400) {
            let errs = set_batch(&mut w, &keys(policy, start..start + 400), &value, Some(3600));
            for e in &errs {
                assert_eq!(e, OOM, "{policy}");
            }
            errors += errs.len();
            peak = peak.max(used_memory(&mut c));
        }
        assert!(peak <= limit + MARGIN_BYTES, "{policy}: used_memory {peak} over limit {limit} + margin");
        let evicted = stat(&mut c, "stats", "evicted_keys") - evicted_before;
        if policy == "noeviction" {
            assert!(errors > total / 2, "{policy}: only {errors} of {total} writes refused");
            assert_eq!(evicted, 0);
        } else {
            assert_eq!(errors, 0, "{policy}: writes refused although keys could be evicted");
            assert!(evicted as usize >= total / 2, "{policy}: only {evicted} evictions");
        }
        assert!(s.is_running(), "{policy}: the server died");
    }
}

/// Writes a stream of new keys while reading a hot set between batches;
/// returns the share of hot keys still present.
fn hot_set_survival(policy: &str) -> f64 {
    let s = Server::start_with(&["--appendonly", "no", "--maxmemory-policy", policy]);
    let mut c = s.client();
    let mut w = s.raw();
    let value = "v".repeat(1000);
    let limit = limit_to_current_plus(&mut c, 4 << 20);
    let fits = (4 << 20) / 1200;
    let all = keys("k", 0..fits * 8 / 10);
    let hot = &all[..all.len() / 5];
    for chunk in all.chunks(400) {
        assert!(set_batch(&mut w, chunk, &value, None).is_empty());
    }
    let read_hot = |c: &mut redis::Connection| {
        let mut p = redis::pipe();
        for k in hot {
            p.cmd("GET").arg(k).ignore();
        }
        let () = p.query(c).expect("GETs");
    };
    // Three times the room in new (cold) keys, the hot set read between batches.
    let cold = keys("cold", 0..3 * fits);
    for chunk in cold.chunks(100) {
        read_hot(&mut c);
        assert!(set_batch(&mut w, chunk, &value, None).is_empty());
    }
    assert!(used_memory(&mut c) <= limit + MARGIN_BYTES);
    assert!(stat(&mut c, "stats", "evicted_keys") as usize >= 2 * fits, "the cold keys were not evicted");
    exists_count(&mut c, hot) as f64 / hot.len() as f64
}

#[test]
fn allkeys_lru_keeps_a_hot_set() {
    let kept = hot_set_survival("allkeys-lru");
    if is_redis() {
        // Redis's LRU clock ticks once a second (LRU_CLOCK_RESOLUTION) and
        // this test runs in well under one, so there every key looks equally
        // recent and what survives is chance (12-24% in runs against 7.0 and
        // 7.2). The limit and the evictions were still checked above.
        return;
    }
    assert!(kept >= 0.9, "only {:.0}% of the hot set survived", kept * 100.0);
}

#[test]
fn allkeys_lfu_keeps_a_hot_set() {
    let kept = hot_set_survival("allkeys-lfu");
    assert!(kept >= 0.9, "only {:.0}% of the hot set survived", kept * 100.0);
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    let s = Server::start_with(&["--appendonly", "no"]);
    let mut c = s.client();
    let mut w = s.raw();
    let value = "v".repeat(1000);
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        flush(&mut c);
        ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", policy]);
        limit_to_current_plus(&mut c, 4 << 20);
        let persistent = keys("p", 0..1500);
        for chunk in persistent.chunks(500) {
            assert!(set_batch(&mut w, chunk, &value, None).is_empty());
        }
        // Keys with a TTL, several times what is left: they evict each other.
        let volatile = keys("t", 0..8000);
        for chunk in volatile.chunks(400) {
            let errs = set_batch(&mut w, chunk, &value, Some(3600));
            assert!(errs.is_empty(), "{policy}: {errs:?}");
        }
        assert_eq!(exists_count(&mut c, &persistent), persistent.len(), "{policy} evicted a key without a TTL");
        // With no key carrying a TTL left to evict, writes that add data get -OOM.
        let filler = keys("f", 0..6000);
        let mut refused = 0;
        for chunk in filler.chunks(500) {
            refused += set_batch(&mut w, chunk, &value, None).len();
        }
        assert!(refused > 0, "{policy}: never refused a write with nothing evictable");
        assert_eq!(exists_count(&mut c, &persistent), persistent.len(), "{policy} evicted a key without a TTL");
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    let s = Server::start_with(&["--appendonly", "no", "--maxmemory-policy", "volatile-ttl"]);
    let mut c = s.client();
    let mut w = s.raw();
    let value = "v".repeat(1000);
    limit_to_current_plus(&mut c, 4 << 20);
    let n = 3000;
    // Key i expires in 10,000 + i seconds.
    let originals = keys("o", 0..n);
    for (i, k) in originals.iter().enumerate() {
        assert!(set_batch(&mut w, std::slice::from_ref(k), &value, Some(10_000 + i as u64)).is_empty());
    }
    // Newer keys that expire last push some of the originals out.
    let newer = keys("n", 0..1500);
    for chunk in newer.chunks(300) {
        assert!(set_batch(&mut w, chunk, &value, Some(1_000_000)).is_empty());
    }
    let (soon, late) = originals.split_at(n / 2);
    let gone_soon = soon.len() - exists_count(&mut c, soon);
    let gone_late = late.len() - exists_count(&mut c, late);
    assert!(gone_soon + gone_late > n / 10, "too few evictions to judge: {gone_soon} + {gone_late}");
    assert!(gone_soon >= 3 * gone_late, "soonest half lost {gone_soon}, latest half lost {gone_late}");
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_del() {
    let s = Server::start_with(&["--appendonly", "no"]);
    let mut c = s.client();
    let mut w = s.raw();
    ok(&mut c, &["SET", "keep", "value"]);
    let start_limit = limit_to_current_plus(&mut c, 1 << 20);
    let value = "v".repeat(1000);
    let batch = keys("k", 0..3000);
    let mut refused = Vec::new();
    for chunk in batch.chunks(500) {
        refused.extend(set_batch(&mut w, chunk, &value, None));
    }
    assert!(!refused.is_empty(), "nothing was refused");
    // Client buffers count in used_memory and shrink on the server's own
    // schedule (Redis resizes idle query buffers in its cron; with libc
    // malloc, as in the 7.2 validation build, that memory leaves the count
    // at once), so right at the limit a later write may fit again. Move the
    // limit well below the use instead: every write is refused from here.
    let limit = used_memory(&mut c) / 2;
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    assert_eq!(err(&mut c, &["SET", "another", "x"]), OOM);
    assert_eq!(err(&mut c, &["LPUSH", "list", "x"]), OOM);
    // Reads, deletes and commands that free memory go on.
    assert_eq!(q(&mut c, &["GET", "keep"]), bulk("value"));
    assert_eq!(q(&mut c, &["EXISTS", "keep"]), int(1));
    assert_eq!(q(&mut c, &["DEL", "keep"]), int(1));
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &start_limit.to_string()]);
    let removed: i64 = {
        let mut cmd = redis::cmd("DEL");
        for k in &batch {
            cmd.arg(k);
        }
        cmd.query(&mut c).expect("DEL")
    };
    assert!(removed > 0);
    ok(&mut c, &["SET", "another", "x"]);
}

#[test]
fn evictions_raise_the_evicted_event_and_count_in_info() {
    let s = Server::start_with(&["--appendonly", "no", "--maxmemory-policy", "allkeys-random"]);
    let mut c = s.client();
    let mut w = s.raw();
    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    let mut sub = s.raw();
    sub.call(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    limit_to_current_plus(&mut c, 1 << 20);
    let value = "v".repeat(1000);
    for chunk in keys("k", 0..3000).chunks(500) {
        assert!(set_batch(&mut w, chunk, &value, None).is_empty());
    }
    let msg = sub.read_reply();
    let items = msg.items();
    assert_eq!(items[0].text(), "message");
    assert_eq!(items[1].text(), "__keyevent@0__:evicted");
    assert!(items[2].text().starts_with("k:"), "{}", items[2].text());
    assert!(stat(&mut c, "stats", "evicted_keys") > 1000);
}

#[test]
fn lowering_maxmemory_evicts_in_the_background() {
    let s = Server::start_with(&["--appendonly", "no", "--maxmemory-policy", "allkeys-lru", "--hz", "50"]);
    let mut c = s.client();
    let mut w = s.raw();
    let base = used_memory(&mut c);
    let value = "v".repeat(1000);
    for chunk in keys("k", 0..4000).chunks(500) {
        assert!(set_batch(&mut w, chunk, &value, None).is_empty());
    }
    let limit = base + (1 << 20);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    // No write follows: the background worker brings memory down.
    assert!(
        wait_for(Duration::from_secs(10), || used_memory(&mut c) <= limit),
        "used_memory stayed above the new limit"
    );
    assert!(stat(&mut c, "stats", "evicted_keys") > 2000);
}

#[test]
fn evicting_a_large_set_frees_it_off_the_request_path() {
    // Gyre always frees an evicted value off the request path; Redis does
    // when told to (its default frees inline).
    let mut args = vec!["--appendonly", "no", "--maxmemory-policy", "allkeys-random"];
    if is_redis() {
        args.extend(["--lazyfree-lazy-eviction", "yes"]);
    }
    let s = Server::start_with(&args);
    let mut c = s.client();
    let mut members: Vec<String> = Vec::new();
    for i in 0..200_000 {
        members.push(format!("member:{i}"));
        if members.len() == 10_000 {
            let mut cmd = redis::cmd("SADD");
            cmd.arg("big");
            for m in &members {
                cmd.arg(m);
            }
            let _: i64 = cmd.query(&mut c).expect("SADD");
            members.clear();
        }
    }
    // INFO memory, where Redis shows it too.
    let freed_before = stat(&mut c, "memory", "lazyfreed_objects");
    // Room for almost nothing: the set (the only key) must go.
    let used = used_memory(&mut c);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &(used - (1 << 20)).to_string(), "hz", "1"]);
    if is_redis() {
        // Redis waits only briefly for its lazy-free thread before refusing
        // the write with -OOM; freeing 200,000 members can take longer, so a
        // first try may be refused.
        let set = |c: &mut redis::Connection| cmd(&["SET", "small", "x"]).query::<()>(c).is_ok();
        assert!(wait_for(Duration::from_secs(10), || set(&mut c)), "SET stayed refused");
    } else {
        ok(&mut c, &["SET", "small", "x"]);
    }
    assert_eq!(q(&mut c, &["EXISTS", "big"]), int(0));
    // Redis counts the object once its background thread has freed it.
    assert!(
        wait_for(Duration::from_secs(10), || stat(&mut c, "memory", "lazyfreed_objects") == freed_before + 1),
        "the set was not freed lazily"
    );
}
