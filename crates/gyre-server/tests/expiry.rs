//! Key expiry: EXPIRE family, TTL/PTTL, PERSIST, EXPIRETIME, passive and
//! active expiration. Real expirations use millisecond TTLs and polling.

mod common;

use common::*;
use std::time::Duration;

const INCOMPAT_NX: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
const INCOMPAT_GT_LT: &str = "ERR GT and LT options at the same time are not compatible";

#[test]
fn ttl_and_pttl_special_values() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["TTL", "missing"]), int(-2));
    assert_eq!(q(&mut c, &["PTTL", "missing"]), int(-2));
    assert_eq!(q(&mut c, &["EXPIRETIME", "missing"]), int(-2));
    assert_eq!(q(&mut c, &["PEXPIRETIME", "missing"]), int(-2));
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
    assert_eq!(q(&mut c, &["PTTL", "k"]), int(-1));
    assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(-1));
    assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(-1));
    assert_eq!(err(&mut c, &["TTL"]), "ERR wrong number of arguments for 'ttl' command");
}

#[test]
fn expire_family() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["EXPIRE", "missing", "100"]), int(0));
    assert_eq!(q(&mut c, &["PEXPIRE", "missing", "100"]), int(0));
    assert_eq!(q(&mut c, &["EXPIREAT", "missing", "99999999999"]), int(0));
    assert_eq!(q(&mut c, &["PEXPIREAT", "missing", "99999999999"]), int(0));
    ok(&mut c, &["SET", "k", "v"]);

    assert_eq!(q(&mut c, &["EXPIRE", "k", "100"]), int(1));
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((99..=100).contains(&ttl), "ttl {}", ttl);
    let pttl = as_int(&q(&mut c, &["PTTL", "k"]));
    assert!((98_000..=100_000).contains(&pttl), "pttl {}", pttl);

    assert_eq!(q(&mut c, &["PEXPIRE", "k", "200000"]), int(1));
    let pttl = as_int(&q(&mut c, &["PTTL", "k"]));
    assert!((198_000..=200_000).contains(&pttl), "pttl {}", pttl);

    let at = now_ms() / 1000 + 300;
    assert_eq!(q(&mut c, &["EXPIREAT", "k", &at.to_string()]), int(1));
    assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(at));
    assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(at * 1000));

    let base = now_ms() / 1000 + 400;
    let pat = base * 1000 + 123;
    assert_eq!(q(&mut c, &["PEXPIREAT", "k", &pat.to_string()]), int(1));
    assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(pat));
    // EXPIRETIME (like TTL) rounds milliseconds to the nearest second.
    assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(base));
    let pat2 = (base * 1000 + 700).to_string();
    assert_eq!(q(&mut c, &["PEXPIREAT", "k", &pat2]), int(1));
    assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(base + 1));
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((399..=401).contains(&ttl), "ttl {}", ttl);

    // A very long TTL.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100000000000"]), int(1));
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((99_999_999_990..=100_000_000_000).contains(&ttl), "ttl {}", ttl);
}

#[test]
fn ttl_rounds_to_nearest_second() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "a", "v", "PX", "1900"]);
    ok(&mut c, &["SET", "b", "v", "PX", "1200"]);
    assert_eq!(q(&mut c, &["TTL", "a"]), int(2));
    assert_eq!(q(&mut c, &["TTL", "b"]), int(1));
}

#[test]
fn expire_in_the_past_deletes() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q(&mut c, &["EXPIRE", "a", "0"]), int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "b", "-10"]), int(1));
    assert_eq!(q(&mut c, &["PEXPIREAT", "c", "1"]), int(1));
    assert_eq!(q(&mut c, &["EXPIREAT", "d", "1"]), int(1));
    for k in ["a", "b", "c", "d"] {
        assert_eq!(q(&mut c, &["EXISTS", k]), int(0), "{}", k);
        assert_eq!(q(&mut c, &["TTL", k]), int(-2), "{}", k);
    }
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
}

#[test]
fn expire_errors() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    let not_int = "ERR value is not an integer or out of range";
    assert_eq!(err(&mut c, &["EXPIRE", "k", "abc"]), not_int);
    assert_eq!(err(&mut c, &["EXPIRE", "k", "1.5"]), not_int);
    assert_eq!(err(&mut c, &["PEXPIRE", "k", ""]), not_int);
    assert_eq!(err(&mut c, &["EXPIRE", "k", "9223372036854775807"]), "ERR invalid expire time in 'expire' command");
    assert_eq!(err(&mut c, &["PEXPIRE", "k", "9223372036854775807"]), "ERR invalid expire time in 'pexpire' command");
    assert_eq!(err(&mut c, &["EXPIREAT", "k", "9223372036854775807"]), "ERR invalid expire time in 'expireat' command");
    assert_eq!(err(&mut c, &["EXPIRE", "k"]), "ERR wrong number of arguments for 'expire' command");
    assert_eq!(err(&mut c, &["EXPIRE", "k", "10", "FOO"]), "ERR Unsupported option FOO");
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
}

#[test]
fn expire_nx_xx_gt_lt() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    // XX: only when the key has a TTL.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
    // GT: a key without TTL counts as infinite, so GT never applies.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "GT"]), int(0));
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
    // NX: only when the key has no TTL.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "200", "NX"]), int(0));
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((99..=100).contains(&ttl), "ttl {}", ttl);
    assert_eq!(q(&mut c, &["EXPIRE", "k", "200", "XX"]), int(1));
    // GT / LT compare with the current TTL.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "GT"]), int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "300", "GT"]), int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "400", "LT"]), int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "50", "LT"]), int(1));
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((49..=50).contains(&ttl), "ttl {}", ttl);
    // XX combined with GT / LT.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "60", "XX", "GT"]), int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "70", "xx", "lt"]), int(0));
    // LT on a key without TTL applies.
    ok(&mut c, &["SET", "p", "v"]);
    assert_eq!(q(&mut c, &["PEXPIRE", "p", "100000", "LT"]), int(1));
    assert!(as_int(&q(&mut c, &["PTTL", "p"])) > 0);
    // Same options on the absolute variants.
    ok(&mut c, &["SET", "a", "v"]);
    let far = (now_ms() / 1000 + 1000).to_string();
    let near = (now_ms() / 1000 + 500).to_string();
    assert_eq!(q(&mut c, &["EXPIREAT", "a", &far, "XX"]), int(0));
    assert_eq!(q(&mut c, &["EXPIREAT", "a", &far, "NX"]), int(1));
    assert_eq!(q(&mut c, &["EXPIREAT", "a", &near, "GT"]), int(0));
    assert_eq!(q(&mut c, &["EXPIREAT", "a", &near, "LT"]), int(1));
    let pfar = (now_ms() + 2_000_000).to_string();
    assert_eq!(q(&mut c, &["PEXPIREAT", "a", &pfar, "GT"]), int(1));
    assert_eq!(q(&mut c, &["PEXPIRETIME", "a"]), int(pfar.parse().unwrap()));
    // Missing key: 0 whatever the option.
    assert_eq!(q(&mut c, &["EXPIRE", "missing", "10", "LT"]), int(0));
}

#[test]
fn expire_incompatible_options() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    for opts in [&["NX", "XX"][..], &["XX", "NX"][..], &["NX", "GT"][..], &["NX", "LT"][..], &["LT", "NX"][..]] {
        let mut args = vec!["EXPIRE", "k", "100"];
        args.extend_from_slice(opts);
        assert_eq!(err(&mut c, &args), INCOMPAT_NX, "{:?}", opts);
    }
    assert_eq!(err(&mut c, &["EXPIRE", "k", "100", "GT", "LT"]), INCOMPAT_GT_LT);
    assert_eq!(err(&mut c, &["PEXPIRE", "k", "100", "LT", "GT"]), INCOMPAT_GT_LT);
    assert_eq!(err(&mut c, &["EXPIREAT", "k", "99999999999", "NX", "XX"]), INCOMPAT_NX);
    assert_eq!(err(&mut c, &["PEXPIREAT", "k", "99999999999999", "GT", "LT"]), INCOMPAT_GT_LT);
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
}

#[test]
fn persist() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["PERSIST", "missing"]), int(0));
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(q(&mut c, &["PERSIST", "k"]), int(0));
    q(&mut c, &["EXPIRE", "k", "100"]);
    assert_eq!(q(&mut c, &["PERSIST", "k"]), int(1));
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
    assert_eq!(q(&mut c, &["PERSIST", "k"]), int(0));
    assert_eq!(err(&mut c, &["PERSIST"]), "ERR wrong number of arguments for 'persist' command");
}

#[test]
fn key_expires_after_px() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v", "PX", "100"]);
    ok(&mut c, &["SET", "stay", "v"]);
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));
    let gone = wait_for(Duration::from_secs(2), || q(&mut c, &["GET", "k"]) == nil());
    assert!(gone, "key with PX 100 still there after 2 s");
    assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
    assert_eq!(q(&mut c, &["TTL", "k"]), int(-2));
    assert_eq!(q(&mut c, &["PTTL", "k"]), int(-2));
    assert_eq!(q(&mut c, &["GET", "stay"]), bulk("v"));
}

#[test]
fn pexpire_then_disappears() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(q(&mut c, &["PEXPIRE", "k", "100"]), int(1));
    let gone = wait_for(Duration::from_secs(2), || q(&mut c, &["EXISTS", "k"]) == int(0));
    assert!(gone);
}

#[test]
fn expired_keys_are_invisible() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "live", "1"]);
    for k in ["e1", "e2", "e3"] {
        ok(&mut c, &["SET", k, "5", "PX", "30"]);
    }
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(q(&mut c, &["KEYS", "*"]), bulks(&["live"]));
    assert_eq!(q(&mut c, &["SCAN", "0", "COUNT", "100"]), arr(vec![bulk("0"), bulks(&["live"])]));
    assert_eq!(q(&mut c, &["MGET", "e1", "live"]), arr(vec![nil(), bulk("1")]));
    assert_eq!(q(&mut c, &["EXISTS", "e1", "e2", "e3"]), int(0));
    assert_eq!(q(&mut c, &["STRLEN", "e2"]), int(0));
    // Writing to an expired key starts from scratch, without TTL.
    assert_eq!(q(&mut c, &["INCR", "e3"]), int(1));
    assert_eq!(q(&mut c, &["TTL", "e3"]), int(-1));
    assert_eq!(q(&mut c, &["SETNX", "e2", "new"]), int(1));
    assert_ne!(q(&mut c, &["RANDOMKEY"]), nil());
    assert_eq!(err(&mut c, &["RENAME", "e1", "x"]), "ERR no such key");
}

#[test]
fn active_expiry_reclaims_keys() {
    // Nobody touches the keys: the server's periodic expiry must remove them.
    let s = Server::start_with(&["--hz", "100"]);
    let mut c = s.client();
    for i in 0..50 {
        ok(&mut c, &["SET", &format!("k{}", i), "v", "PX", "50"]);
    }
    ok(&mut c, &["SET", "persistent", "v"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(51));
    let reclaimed = wait_for(Duration::from_secs(3), || q(&mut c, &["DBSIZE"]) == int(1));
    assert!(reclaimed, "DBSIZE still {:?}", q(&mut c, &["DBSIZE"]));
    let info = as_str(&q(&mut c, &["INFO", "stats"]));
    let expired: i64 = info_field(&info, "expired_keys").expect("expired_keys in INFO stats").parse().unwrap();
    assert_eq!(expired, 50);
}

#[test]
fn overwriting_clears_ttl_but_modifying_keeps_it() {
    let s = Server::start();
    let mut c = s.client();
    for (cmd, keeps) in [
        (&["SET", "k", "x"][..], false),
        (&["GETSET", "k", "x"][..], false),
        (&["MSET", "k", "x"][..], false),
        (&["SET", "k", "x", "KEEPTTL"][..], true),
        (&["APPEND", "k", "x"][..], true),
        (&["SETRANGE", "k", "0", "x"][..], true),
        (&["INCRBYFLOAT", "k", "1"][..], true),
    ] {
        ok(&mut c, &["SET", "k", "1", "EX", "100"]);
        q(&mut c, cmd);
        let ttl = as_int(&q(&mut c, &["TTL", "k"]));
        if keeps {
            assert!(ttl > 0, "{:?} should keep the TTL", cmd);
        } else {
            assert_eq!(ttl, -1, "{:?} should clear the TTL", cmd);
        }
    }
}

#[test]
fn keyspace_info_counts_expires() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    q(&mut c, &["EXPIRE", "a", "100"]);
    ok(&mut c, &["SELECT", "2"]);
    ok(&mut c, &["SET", "x", "1", "PX", "50000"]);
    ok(&mut c, &["SET", "y", "1", "PX", "70000"]);
    let info = as_str(&q(&mut c, &["INFO", "keyspace"]));
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[0], "# Keyspace");
    let db0 = info_field(&info, "db0").expect("db0 line");
    let (head, avg) = db0.rsplit_once(",avg_ttl=").expect("avg_ttl");
    assert_eq!(head, "keys=3,expires=1");
    let avg: i64 = avg.parse().unwrap();
    assert!((0..=100_000).contains(&avg), "avg_ttl {}", avg);
    let db2 = info_field(&info, "db2").expect("db2 line");
    assert!(db2.starts_with("keys=2,expires=2,avg_ttl="), "{}", db2);
    // Empty databases are not listed.
    assert!(info_field(&info, "db1").is_none(), "{}", info);
    q(&mut c, &["FLUSHALL"]);
    let info = as_str(&q(&mut c, &["INFO", "keyspace"]));
    assert_eq!(info.trim_end(), "# Keyspace");
}
