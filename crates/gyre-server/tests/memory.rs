//! Memory accounting and introspection: INFO memory agrees with the
//! allocator, MEMORY USAGE/STATS/DOCTOR/PURGE, OBJECT FREQ/IDLETIME with
//! CLIENT NO-TOUCH and TOUCH, and the maxmemory settings.

mod common;

use common::*;
use std::time::Duration;

fn info_num(c: &mut redis::Connection, section: &str, field: &str) -> f64 {
    let info = as_str(&q(c, &["INFO", section]));
    info_field(&info, field).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{field} in INFO {section}"))
}

fn load(w: &mut RawConn, prefix: &str, n: usize, value: &str) {
    for start in (0..n).step_by(1000) {
        let mut bytes = Vec::new();
        for i in start..(start + 1000).min(n) {
            bytes.extend(encode_str(&["SET", &format!("{prefix}:{i:09}"), value]));
        }
        w.send(&bytes);
        for _ in start..(start + 1000).min(n) {
            assert_eq!(w.read_reply(), Reply::simple("OK"));
        }
    }
}

#[test]
fn used_memory_agrees_with_the_allocator_and_grows_with_the_data() {
    let s = Server::start_with(&["--appendonly", "no"]);
    let mut c = s.client();
    let mut w = s.raw();
    let before = info_num(&mut c, "memory", "used_memory");
    // Enough data that jemalloc's thread caches (objects freed but kept per
    // thread, which jemalloc counts as allocated) are a small part of it.
    load(&mut w, "key", 300_000, &"v".repeat(32));
    let used = info_num(&mut c, "memory", "used_memory");
    let allocated = info_num(&mut c, "memory", "allocator_allocated");
    let rss = info_num(&mut c, "memory", "used_memory_rss");
    let diff = (used - allocated).abs() / allocated;
    assert!(diff < 0.10, "used_memory {used} vs allocator_allocated {allocated}: {:.1}% apart", diff * 100.0);
    // 300,000 keys of 13 + 32 bytes: between 50 and 200 bytes each.
    let per_key = (used - before) / 300_000.0;
    assert!((50.0..200.0).contains(&per_key), "{per_key} bytes per key");
    assert!(rss >= allocated * 0.9, "rss {rss} below what is allocated {allocated}");
    assert!(info_num(&mut c, "memory", "used_memory_peak") >= used);
    let info = as_str(&q(&mut c, &["INFO", "memory"]));
    for field in ["used_memory_human", "mem_fragmentation_ratio", "maxmemory", "maxmemory_human", "maxmemory_policy"] {
        assert!(info_field(&info, field).is_some(), "INFO memory lacks {field}");
    }
    let allocator = info_field(&info, "mem_allocator");
    if is_redis() {
        // The validation Redis's allocator is a build choice (Debian's:
        // jemalloc-5.3.0; the 7.2 build used for validation: libc).
        assert!(allocator.is_some_and(|a| a.starts_with("jemalloc") || a == "libc"));
    } else {
        assert_eq!(allocator.as_deref(), Some("jemalloc-5.3.0"));
    }
    let stats = as_str(&q(&mut c, &["INFO", "stats"]));
    for field in ["evicted_keys", "expired_keys", "keyspace_hits", "keyspace_misses"] {
        assert!(info_field(&stats, field).is_some(), "INFO stats lacks {field}");
    }
    // Freed memory leaves the counter.
    ok(&mut c, &["FLUSHALL"]);
    assert!(wait_for(Duration::from_secs(10), || info_num(&mut c, "memory", "lazyfree_pending_objects") == 0.0));
    let after = info_num(&mut c, "memory", "used_memory");
    assert!(after < before + (used - before) / 4.0, "used_memory {after} after FLUSHALL (before load {before})");
}

#[test]
fn memory_usage_counts_key_value_and_bucket() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "small", "x"]);
    ok(&mut c, &["SET", "large", &"x".repeat(10_000)]);
    let small = as_int(&q(&mut c, &["MEMORY", "USAGE", "small"]));
    let large = as_int(&q(&mut c, &["MEMORY", "USAGE", "large", "SAMPLES", "0"]));
    // Gyre counts its node, the key, the value and the key's share of the
    // slot table's buckets. Redis counts its own layout (dict entry, object,
    // embedded string) in its allocator's usable sizes: 64 bytes with
    // jemalloc (Debian's 7.0), 72 with libc malloc (the 7.2 build).
    let floor = if is_redis() { 48 } else { 80 };
    assert!((floor..200).contains(&small), "small key: {small}");
    assert!(large >= small + 10_000, "large key: {large}");
    assert_eq!(q(&mut c, &["MEMORY", "USAGE", "missing"]), nil());
    assert_eq!(err(&mut c, &["MEMORY", "USAGE", "small", "SAMPLES"]), "ERR syntax error");
}

#[test]
fn memory_stats_doctor_and_purge() {
    let s = Server::start();
    let mut c = s.client_resp3();
    ok(&mut c, &["SET", "k", "v"]);
    let stats = q(&mut c, &["MEMORY", "STATS"]);
    let Value::Map(pairs) = stats else { panic!("MEMORY STATS is a map: {stats:?}") };
    let get = |name: &str| pairs.iter().find(|(k, _)| as_str(k) == name).map(|(_, v)| v.clone());
    assert!(as_int(&get("total.allocated").expect("total.allocated")) > 0);
    assert_eq!(get("keys.count"), Some(int(1)));
    // Each database with keys is a map of its table overheads (Redis 7.0 and
    // 7.2 alike).
    let Some(Value::Map(db0)) = get("db.0") else { panic!("db.0 is a map: {:?}", get("db.0")) };
    let db0: Vec<String> = db0.iter().map(|(k, _)| as_str(k)).collect();
    assert_eq!(db0, ["overhead.hashtable.main", "overhead.hashtable.expires", "overhead.hashtable.slot-to-keys"]);
    assert_eq!(get("db.1"), None);
    assert!(get("allocator.resident").is_some() && get("peak.allocated").is_some());
    let doctor = as_str(&q(&mut c, &["MEMORY", "DOCTOR"]));
    assert!(doctor.contains("Sam"), "{doctor}");
    ok(&mut c, &["MEMORY", "PURGE"]);
    let help = q(&mut c, &["MEMORY", "HELP"]);
    let Value::Array(lines) = help else { panic!() };
    assert!(lines.iter().any(|l| as_str(l).starts_with("DOCTOR")));
}

#[test]
fn maxmemory_settings_parse_units_and_validate() {
    let s = Server::start_with(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = s.client();
    assert_eq!(q(&mut c, &["CONFIG", "GET", "maxmemory"]), bulks(&["maxmemory", "104857600"]));
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1gb"]);
    assert_eq!(info_num(&mut c, "memory", "maxmemory"), 1073741824.0);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "2k"]);
    assert_eq!(q(&mut c, &["CONFIG", "GET", "maxmemory"]), bulks(&["maxmemory", "2000"]));
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    for (name, good, bad) in [
        ("maxmemory-policy", "volatile-ttl", "lru"),
        ("maxmemory-samples", "10", "0"),
        ("lfu-log-factor", "5", "-1"),
        ("lfu-decay-time", "0", "x"),
        ("maxmemory-eviction-tenacity", "50", "101"),
    ] {
        ok(&mut c, &["CONFIG", "SET", name, good]);
        assert_eq!(q(&mut c, &["CONFIG", "GET", name]), bulks(&[name, good]));
        assert!(err(&mut c, &["CONFIG", "SET", name, bad]).starts_with("ERR CONFIG SET failed"), "{name} {bad}");
    }
    let info = as_str(&q(&mut c, &["INFO", "memory"]));
    assert_eq!(info_field(&info, "maxmemory_policy").as_deref(), Some("volatile-ttl"));
}

#[test]
fn object_freq_grows_with_access_under_lfu() {
    let s = Server::start_with(&["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"]);
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    let start = as_int(&q(&mut c, &["OBJECT", "FREQ", "k"]));
    assert_eq!(start, 5, "new keys start at LFU_INIT_VAL");
    for _ in 0..20 {
        q(&mut c, &["GET", "k"]);
    }
    let after = as_int(&q(&mut c, &["OBJECT", "FREQ", "k"]));
    assert_eq!(after, 25, "with lfu-log-factor 0 every access counts");
    // A NO-TOUCH client's reads do not count; its TOUCH does.
    if skip_before_72(&s) {
        return; // CLIENT NO-TOUCH is new in 7.2
    }
    ok(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    q(&mut c, &["GET", "k"]);
    assert_eq!(as_int(&q(&mut c, &["OBJECT", "FREQ", "k"])), 25);
    assert_eq!(q(&mut c, &["TOUCH", "k", "missing"]), int(1));
    assert_eq!(as_int(&q(&mut c, &["OBJECT", "FREQ", "k"])), 26);
    assert!(err(&mut c, &["OBJECT", "IDLETIME", "k"]).contains("LFU maxmemory policy is selected"));
}

#[test]
fn object_idletime_follows_access_and_no_touch() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "a", "v"]);
    ok(&mut c, &["SET", "b", "v"]);
    std::thread::sleep(Duration::from_millis(2100));
    assert!(as_int(&q(&mut c, &["OBJECT", "IDLETIME", "a"])) >= 2);
    q(&mut c, &["GET", "a"]);
    assert_eq!(as_int(&q(&mut c, &["OBJECT", "IDLETIME", "a"])), 0);
    if skip_before_72(&s) {
        return; // CLIENT NO-TOUCH is new in 7.2
    }
    ok(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    q(&mut c, &["GET", "b"]);
    assert!(as_int(&q(&mut c, &["OBJECT", "IDLETIME", "b"])) >= 2, "NO-TOUCH reads must not reset idle time");
    assert_eq!(q(&mut c, &["TOUCH", "b"]), int(1));
    assert_eq!(as_int(&q(&mut c, &["OBJECT", "IDLETIME", "b"])), 0, "TOUCH counts even under NO-TOUCH");
    assert!(err(&mut c, &["OBJECT", "FREQ", "a"]).contains("LFU maxmemory policy is not selected"));
}
