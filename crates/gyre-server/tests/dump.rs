//! DUMP and RESTORE in Redis's serialization: round trips of every type,
//! payloads written by redis-server 7.0 (gyre-engine/src/testdata) restored
//! with their contents, RESTORE's options (REPLACE, ABSTTL, IDLETIME, FREQ)
//! and errors. Validated against Redis 7 (`GYRE_TEST_REDIS=1`).

mod common;

use common::*;

fn bytes_of(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => panic!("not a bulk: {other:?}"),
    }
}

fn restore(
    c: &mut redis::Connection,
    key: &str,
    ttl: &str,
    payload: &[u8],
    opts: &[&str],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for o in opts {
        cmd.arg(*o);
    }
    cmd.query(c)
}

/// Redis's CRC64 (Jones, reflected), to build payloads in tests.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 } else { crc >> 1 };
        }
    }
    crc
}

fn seal(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn redis_payloads() -> Vec<(String, Vec<u8>)> {
    include_str!("../../gyre-engine/src/testdata/redis_dumps.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (hex, what) = l.split_once(' ').unwrap();
            let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            (what.to_string(), bytes)
        })
        .collect()
}

#[test]
fn every_type_round_trips() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "s", "hello world"]);
    ok(c, &["SET", "n", "-123"]);
    assert_eq!(q(c, &["RPUSH", "l", "a", "b", "3"]), int(3));
    assert_eq!(q(c, &["SADD", "t", "x", "1", "y"]), int(3));
    assert_eq!(q(c, &["HSET", "h", "f", "v", "g", "w"]), int(2));
    assert_eq!(q(c, &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"]), int(3));
    let reads: &[&[&str]] = &[
        &["GET", "K"],
        &["LRANGE", "K", "0", "-1"],
        &["SORT", "K", "ALPHA"],
        &["HGET", "K", "g"],
        &["ZRANGE", "K", "0", "-1", "WITHSCORES"],
    ];
    for (key, read) in [("s", 0), ("n", 0), ("l", 1), ("t", 2), ("h", 3), ("z", 4)] {
        let payload = bytes_of(q(c, &["DUMP", key]));
        let copy = format!("{key}_copy");
        assert_eq!(restore(c, &copy, "0", &payload, &[]).unwrap(), Value::Okay);
        let on = |k: &str| {
            reads[read].iter().map(|a| if *a == "K" { k.to_string() } else { a.to_string() }).collect::<Vec<_>>()
        };
        let (a, b) = (on(key), on(&copy));
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let b: Vec<&str> = b.iter().map(|s| s.as_str()).collect();
        assert_eq!(q(c, &a), q(c, &b), "{key}");
        assert_eq!(q(c, &["TYPE", &copy]), q(c, &["TYPE", key]));
    }
    assert_eq!(q(c, &["DUMP", "nokey"]), nil());
}

#[test]
fn payloads_written_by_redis_restore_with_their_contents() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    for (i, (what, payload)) in redis_payloads().into_iter().enumerate() {
        let key = format!("k{i}");
        assert_eq!(restore(c, &key, "0", &payload, &[]).unwrap(), Value::Okay, "{what}");
        assert_eq!(as_str(&q(c, &["TYPE", &key])), what.split(':').next().unwrap(), "{what}");
    }
    assert_eq!(q(c, &["GET", "k0"]), bulk("hello"));
    assert_eq!(q(c, &["GET", "k1"]), bulk("12345"));
    assert_eq!(q(c, &["GET", "k2"]), bulk("-7"));
    assert_eq!(q(c, &["GET", "k3"]), bulk("a".repeat(200)));
    assert_eq!(q(c, &["LRANGE", "k4", "0", "-1"]), bulks(&["a", "b", "1", "-300", "70000", &"x".repeat(70)]));
    assert_eq!(q(c, &["LLEN", "k5"]), int(1000));
    assert_eq!(q(c, &["LINDEX", "k5", "777"]), bulk("e777"));
    assert_eq!(q(c, &["LLEN", "k6"]), int(2000));
    assert_eq!(q(c, &["LINDEX", "k6", "1999"]), bulk("compressible-1"));
    assert_eq!(q(c, &["SORT", "k7"]), bulks(&["-100000", "1", "2", "3", "5000000000"]));
    assert_eq!(q(c, &["SORT", "k8", "ALPHA"]), bulks(&["a", "b", "c"]));
    assert_eq!(q(c, &["SCARD", "k9"]), int(200));
    assert_eq!(
        q(c, &["ZRANGE", "k10", "0", "-1", "WITHSCORES"]),
        bulks(&["c", "-inf", "a", "1", "b", "2.5", "d", "100"])
    );
    assert_eq!(q(c, &["ZCARD", "k11"]), int(200));
    assert_eq!(q(c, &["ZSCORE", "k11", "m7"]), bulk("3.5"));
    assert_eq!(q(c, &["HGETALL", "k12"]), bulks(&["f", "v", "n", "12"]));
    assert_eq!(q(c, &["HLEN", "k13"]), int(600));
    assert_eq!(q(c, &["HGET", "k13", "f599"]), bulk("v599"));
}

#[test]
fn restore_options_and_ttl() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "s", "v"]);
    let p = bytes_of(q(c, &["DUMP", "s"]));
    assert_eq!(err_text(&restore(c, "s", "0", &p, &[]).unwrap_err()), "BUSYKEY Target key name already exists.");
    assert_eq!(restore(c, "s", "0", &p, &["REPLACE"]).unwrap(), Value::Okay);
    assert_eq!(restore(c, "t", "100000", &p, &[]).unwrap(), Value::Okay);
    let pttl = as_int(&q(c, &["PTTL", "t"]));
    assert!(pttl > 90_000 && pttl <= 100_000, "{pttl}");
    let at = (now_ms() + 200_000).to_string();
    assert_eq!(restore(c, "u", &at, &p, &["ABSTTL"]).unwrap(), Value::Okay);
    assert_eq!(q(c, &["PEXPIRETIME", "u"]), int(at.parse().unwrap()));
    // Already expired: nothing is created, and REPLACE deletes.
    assert_eq!(restore(c, "gone", "1", &p, &["ABSTTL"]).unwrap(), Value::Okay);
    assert_eq!(q(c, &["EXISTS", "gone"]), int(0));
    assert_eq!(restore(c, "u", "1", &p, &["ABSTTL", "REPLACE"]).unwrap(), Value::Okay);
    assert_eq!(q(c, &["EXISTS", "u"]), int(0));
    assert_eq!(restore(c, "idle", "0", &p, &["IDLETIME", "1000"]).unwrap(), Value::Okay);
    assert!(as_int(&q(c, &["OBJECT", "IDLETIME", "idle"])) >= 1000);
    let errors = [
        (vec!["IDLETIME", "-1"], "ERR Invalid IDLETIME value, must be >= 0"),
        (vec!["FREQ", "256"], "ERR Invalid FREQ value, must be >= 0 and <= 255"),
        (vec!["IDLETIME", "1", "FREQ", "1"], "ERR syntax error"),
        (vec!["FOO"], "ERR syntax error"),
        (vec!["IDLETIME", "x"], "ERR value is not an integer or out of range"),
    ];
    for (opts, e) in errors {
        assert_eq!(err_text(&restore(c, "x", "0", &p, &opts).unwrap_err()), e, "{opts:?}");
    }
    assert_eq!(err_text(&restore(c, "x", "-1", &p, &[]).unwrap_err()), "ERR Invalid TTL value, must be >= 0");
    assert_eq!(err_text(&restore(c, "x", "y", &p, &[]).unwrap_err()), "ERR value is not an integer or out of range");
}

#[test]
fn damaged_payloads_are_refused() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "s", "hello"]);
    let p = bytes_of(q(c, &["DUMP", "s"]));
    let wrong = "ERR DUMP payload version or checksum are wrong";
    let mut flipped = p.clone();
    flipped[2] ^= 0x20;
    assert_eq!(err_text(&restore(c, "x", "0", &flipped, &[]).unwrap_err()), wrong);
    assert_eq!(err_text(&restore(c, "x", "0", b"short", &[]).unwrap_err()), wrong);
    let body = &p[..p.len() - 10];
    assert_eq!(err_text(&restore(c, "x", "0", &seal(body, 99), &[]).unwrap_err()), wrong);
    // A good trailer around a bad value.
    let bad = "ERR Bad data format";
    for body in [&b"\x63\x01a"[..], b"\x01\x05\x01a", b"\x04\x00", b"\x02\x00", b"\x01\x00"] {
        assert_eq!(err_text(&restore(c, "x", "0", &seal(body, 9), &[]).unwrap_err()), bad, "{body:?}");
    }
    // Redis reads a value that runs short on into its own trailer, and
    // ignores bytes left after the value; Gyre refuses both.
    if !is_redis() {
        for body in [&b"\x00\x05hel"[..], b"\x00\x05hello\x00"] {
            assert_eq!(err_text(&restore(c, "x", "0", &seal(body, 9), &[]).unwrap_err()), bad, "{body:?}");
        }
    }
    assert_eq!(q(c, &["EXISTS", "x"]), int(0));
    // The same value sealed under an older version restores.
    assert_eq!(restore(c, "x", "0", &seal(b"\x00\x05hello", 9), &[]).unwrap(), Value::Okay);
    assert_eq!(q(c, &["GET", "x"]), bulk("hello"));
}

/// Gyre writes RDB version 11 (Redis 7.2's); RESTOREd keys survive a crash.
#[test]
fn version_and_recovery() {
    if is_redis() {
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "2", "b"]), int(2));
    let p = bytes_of(q(&mut c, &["DUMP", "z"]));
    assert_eq!(&p[p.len() - 10..p.len() - 8], &[11, 0]);
    assert_eq!(&p[p.len() - 8..], &crc64(&p[..p.len() - 8]).to_le_bytes());
    assert_eq!(restore(&mut c, "z2", "0", &p, &[]).unwrap(), Value::Okay);
    for (i, (_, payload)) in redis_payloads().into_iter().enumerate() {
        assert_eq!(restore(&mut c, &format!("k{i}"), "0", &payload, &[]).unwrap(), Value::Okay);
    }
    // Sets and hashes may iterate in another order after recovery: compare
    // their sorted contents, and the ordered types byte for byte.
    let snapshot = |c: &mut redis::Connection| -> Vec<Vec<String>> {
        (0..14)
            .map(|i| {
                let k = format!("k{i}");
                match i {
                    7..=9 => sorted_strings(&q(c, &["SMEMBERS", &k])),
                    12 | 13 => sorted_strings(&q(c, &["HGETALL", &k])),
                    _ => vec![format!("{:?}", bytes_of(q(c, &["DUMP", &k])))],
                }
            })
            .collect()
    };
    let before = snapshot(&mut c);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert_eq!(q(&mut c, &["ZRANGE", "z2", "0", "-1", "WITHSCORES"]), bulks(&["a", "1", "b", "2"]));
    let after = snapshot(&mut c);
    assert!(before == after, "contents changed across recovery");
}
