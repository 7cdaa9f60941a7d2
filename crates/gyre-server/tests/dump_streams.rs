//! DUMP and RESTORE of streams in Redis's format: a stream with consumer
//! groups round-trips, streams DUMPed by redis-server 7.0
//! (gyre-engine/src/testdata/redis_stream_dumps.txt) restore with their
//! entries, counters, groups and PELs, and, when a `redis-server` is on the
//! PATH (or `GYRE_TEST_REDIS_BIN`), a stream moves from a live Redis to Gyre
//! and back, compared view by view. Gyre writes STREAM_LISTPACKS_3 under RDB
//! version 11 (Redis 7.2's); for Redis 7.0 the test re-encodes Gyre's
//! payload as 7.0 reads it (`rdb::encode_value_for`). `--import-rdb` of a
//! file with streams, written by Debian's redis-server, is in tests at the end.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use gyre_engine::rdb;

fn bytes_of(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => panic!("not a bulk: {other:?}"),
    }
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) -> redis::RedisResult<Value> {
    redis::cmd("RESTORE").arg(key).arg(0).arg(payload).arg("REPLACE").query(c)
}

fn redis_stream_payloads() -> Vec<Vec<u8>> {
    include_str!("../../gyre-engine/src/testdata/redis_stream_dumps.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let hex = l.split_once(' ').unwrap().0;
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        })
        .collect()
}

/// Fields of a flat RESP2 map reply, by name.
fn field(v: &Value, name: &str) -> Value {
    let Value::Array(items) = v else { panic!("not an array: {v:?}") };
    items
        .chunks(2)
        .find(|kv| as_str(&kv[0]) == name)
        .map(|kv| kv[1].clone())
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}

/// What of a stream must survive DUMP/RESTORE, times left out (they move).
fn view(c: &mut redis::Connection, key: &str) -> Vec<String> {
    let mut out = vec![format!("{:?}", q(c, &["XRANGE", key, "-", "+"]))];
    let info = q(c, &["XINFO", "STREAM", key]);
    for f in ["length", "last-generated-id", "max-deleted-entry-id", "entries-added", "recorded-first-entry-id"] {
        out.push(format!("{f}={:?}", field(&info, f)));
    }
    let Value::Array(groups) = q(c, &["XINFO", "GROUPS", key]) else { panic!() };
    for g in &groups {
        out.push(format!("{g:?}"));
        let name = as_str(&field(g, "name"));
        let Value::Array(pending) = q(c, &["XPENDING", key, &name, "-", "+", "100"]) else { panic!() };
        for p in pending {
            let Value::Array(p) = p else { panic!() };
            out.push(format!("pending {:?} {:?} count {:?}", p[0], p[1], p[3]));
        }
        let Value::Array(consumers) = q(c, &["XINFO", "CONSUMERS", key, &name]) else { panic!() };
        for cons in &consumers {
            out.push(format!("consumer {:?} pending {:?}", field(cons, "name"), field(cons, "pending")));
        }
    }
    out
}

/// A stream with what a DUMP must carry: entries of varied fields (one
/// deleted), two groups, pending entries of two consumers, one acked.
fn build(c: &mut redis::Connection, key: &str) {
    let big = "x".repeat(300);
    for (id, fields) in [
        ("1-1", vec!["name", "alice", "age", "30"]),
        ("1-2", vec!["name", "bob", "age", "41"]),
        ("2-0", vec!["other", "123", "big", &big]),
        ("3-5", vec!["name", "carol", "age", "-7"]),
        ("4-0", vec!["name", "dave", "age", "99999999999"]),
    ] {
        let mut args = vec!["XADD", key, id];
        args.extend(fields);
        q(c, &args);
    }
    for i in 0..150 {
        q(c, &["XADD", key, &format!("5-{i}"), "n", &i.to_string()]);
    }
    assert_eq!(q(c, &["XDEL", key, "1-2", "5-3"]), int(2));
    ok(c, &["XGROUP", "CREATE", key, "g1", "0"]);
    ok(c, &["XGROUP", "CREATE", key, "g2", "$"]);
    q(c, &["XREADGROUP", "GROUP", "g1", "c1", "COUNT", "2", "STREAMS", key, ">"]);
    q(c, &["XREADGROUP", "GROUP", "g1", "c2", "COUNT", "3", "STREAMS", key, ">"]);
    assert_eq!(q(c, &["XACK", key, "g1", "1-1"]), int(1));
    assert_eq!(q(c, &["XGROUP", "CREATECONSUMER", key, "g2", "idle"]), int(1));
}

#[test]
fn a_stream_with_groups_round_trips() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    build(c, "s");
    let payload = bytes_of(q(c, &["DUMP", "s"]));
    restore(c, "copy", &payload).unwrap();
    assert_eq!(view(c, "s"), view(c, "copy"));
    assert_eq!(q(c, &["TYPE", "copy"]), status("stream"));
    // An emptied stream keeps its counters and groups.
    q(c, &["XTRIM", "s", "MAXLEN", "0"]);
    let payload = bytes_of(q(c, &["DUMP", "s"]));
    restore(c, "copy", &payload).unwrap();
    assert_eq!(view(c, "s"), view(c, "copy"));
}

#[test]
fn streams_dumped_by_redis_restore_with_their_contents() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    let p = redis_stream_payloads();
    for (key, payload) in ["s", "long", "empty"].iter().zip(&p) {
        assert_eq!(restore(c, key, payload).unwrap(), Value::Okay, "{key}");
    }
    assert_eq!(q(c, &["XLEN", "s"]), int(4));
    let range = q(c, &["XRANGE", "s", "4-0", "4-0"]);
    assert_eq!(
        format!("{range:?}"),
        format!("{:?}", arr(vec![arr(vec![bulk("4-0"), bulks(&["name", "dave", "age", "99999999999"])])]))
    );
    let info = q(c, &["XINFO", "STREAM", "s"]);
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("1-2"));
    assert_eq!(field(&info, "entries-added"), int(5));
    let pending = q(c, &["XPENDING", "s", "g1"]);
    assert_eq!(
        pending,
        arr(vec![int(2), bulk("2-0"), bulk("3-5"), arr(vec![bulks(&["c1", "1"]), bulks(&["c2", "1"])])])
    );
    let Value::Array(consumers) = q(c, &["XINFO", "CONSUMERS", "s", "g2"]) else { panic!() };
    assert_eq!(field(&consumers[0], "name"), bulk("idle"));
    // The group still delivers from where it was.
    let next = q(c, &["XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "s", ">"]);
    assert!(format!("{next:?}").contains("4-0"), "{next:?}");
    assert_eq!(q(c, &["XLEN", "long"]), int(200));
    assert_eq!(field(&q(c, &["XINFO", "STREAM", "long"]), "entries-added"), int(250));
    assert_eq!(q(c, &["XLEN", "empty"]), int(0));
    assert_eq!(field(&q(c, &["XINFO", "STREAM", "empty"]), "last-generated-id"), bulk("5-5"));
    // A damaged stream payload is refused as Redis refuses it.
    let mut bad = p[0].clone();
    bad[20] ^= 0x40;
    let e = restore(c, "bad", &bad).unwrap_err();
    assert_eq!(err_text(&e), "ERR DUMP payload version or checksum are wrong");
}

/// A `redis-server` of our own, on a free port, beside the Gyre under test.
struct LiveRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl LiveRedis {
    fn start() -> Option<LiveRedis> {
        let bin = std::env::var("GYRE_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("gyre-live-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let live = LiveRedis { child, port, dir };
        let url = format!("redis://127.0.0.1:{port}/");
        let up = wait_for(Duration::from_secs(5), || {
            redis::Client::open(url.as_str()).and_then(|cl| cl.get_connection()).is_ok()
        });
        up.then_some(live)
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection().unwrap()
    }
}

impl Drop for LiveRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn streams_move_between_redis_and_gyre_both_ways() {
    if is_redis() {
        return;
    }
    let Some(live) = LiveRedis::start() else {
        eprintln!("skipped: no redis-server to start");
        return;
    };
    let mut r = live.client();
    let gyre = Server::start();
    let mut g = gyre.client();

    // Redis -> Gyre.
    build(&mut r, "s");
    let payload = bytes_of(q(&mut r, &["DUMP", "s"]));
    restore(&mut g, "s", &payload).unwrap();
    assert_eq!(view(&mut r, "s"), view(&mut g, "s"));

    // Gyre -> Redis: Gyre's own stream, under the newest format the live
    // Redis reads (7.0 refuses RDB version 11).
    build(&mut g, "t");
    let payload = bytes_of(q(&mut g, &["DUMP", "t"]));
    let info = as_str(&q(&mut r, &["INFO", "server"]));
    let version = info_field(&info, "redis_version").unwrap();
    let (major, minor) = {
        let mut it = version.split('.').map(|n| n.parse::<u32>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    let payload = if (major, minor) >= (7, 2) {
        payload
    } else {
        let value = rdb::restore(&payload, &gyre_engine::EncodingConfig::default()).unwrap();
        rdb::seal_version(rdb::encode_value_for(&value, 10), 10)
    };
    restore(&mut r, "t", &payload).unwrap();
    assert_eq!(view(&mut g, "t"), view(&mut r, "t"));
}

/// `--import-rdb` loads stream keys (groups and PELs with them) from a file
/// written by Debian's redis-server 7.0 (gyre-engine/src/testdata/redis7_stream.rdb,
/// made as redis_stream_dumps.txt says).
#[test]
fn import_rdb_loads_streams() {
    if is_redis() {
        return;
    }
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gyre-engine/src/testdata/redis7_stream.rdb");
    let mut s = Server::start_with(&["--import-rdb", path.to_str().unwrap()]);
    let check = |c: &mut redis::Connection| {
        assert_eq!(q(c, &["DBSIZE"]), int(3));
        assert_eq!(q(c, &["XLEN", "s"]), int(4));
        assert_eq!(q(c, &["XLEN", "long"]), int(200));
        assert_eq!(q(c, &["XLEN", "empty"]), int(0));
        let pending = q(c, &["XPENDING", "s", "g1"]);
        assert_eq!(
            pending,
            arr(vec![int(2), bulk("2-0"), bulk("3-5"), arr(vec![bulks(&["c1", "1"]), bulks(&["c2", "1"])])])
        );
    };
    let mut c = s.client();
    check(&mut c);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    check(&mut c);
}
