//! Deletes stay deleted across snapshots and crashes (tombstones).
//!
//! Regression: mutations are applied when a command runs but logged at the
//! end of its connection's batch, so the log's order is not version order.
//! A DEL logged before a snapshot's log rotation, with an older SET of the
//! same key logged after it, brought the key back after a restart.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const KEYS: usize = 2000;

/// Two connections set and delete the same keys in pipelined batches while a
/// third takes snapshots; after a crash, the data is exactly what the server
/// held before it (every write was acknowledged under `appendfsync always`).
/// The reordering itself is timing-dependent here (it needs a DEL between
/// another batch's SET and that batch's log append, and a snapshot's
/// rotation between the two appends); gyre-log's
/// `a_deleted_key_stays_deleted_when_an_older_write_is_replayed_after_a_snapshot`
/// builds it deterministically.
#[test]
fn interleaved_deletes_across_snapshots_do_not_come_back_after_a_crash() {
    if is_redis() {
        return;
    }
    let mut s = Server::start_with(&["--appendfsync", "always"]);
    let writer = |s: &Server, delete: bool| {
        let mut c = s.client();
        std::thread::spawn(move || {
            for round in 0..30 {
                let mut pipe = redis::pipe();
                for k in 0..KEYS {
                    let key = format!("k{k}");
                    if delete {
                        pipe.cmd("DEL").arg(&key).ignore();
                    } else {
                        pipe.cmd("SET").arg(&key).arg(round).ignore();
                    }
                }
                let _: () = pipe.query(&mut c).expect("batch");
            }
        })
    };
    let a = writer(&s, false);
    let b = writer(&s, true);
    let mut admin = s.client();
    let mut snapshots = 0;
    while !(a.is_finished() && b.is_finished()) {
        // (An error while one is running is fine: the next try starts another.)
        let _: redis::RedisResult<redis::Value> = cmd(&["BGSAVE"]).query(&mut admin);
        snapshots += 1;
    }
    a.join().unwrap();
    b.join().unwrap();
    assert!(snapshots > 0);
    let before = contents(&mut admin);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert_eq!(contents(&mut c), before, "the data after a crash is the data before it");
}

fn contents(c: &mut redis::Connection) -> BTreeMap<String, Option<String>> {
    (0..KEYS)
        .map(|k| {
            let key = format!("k{k}");
            let v: Option<String> = cmd(&["GET", &key]).query(c).unwrap();
            (key, v)
        })
        .collect()
}

/// A delete leaves a tombstone, counted in INFO and collected after
/// `tombstone-ttl`.
#[test]
fn tombstones_are_counted_and_collected_after_their_ttl() {
    if is_redis() {
        return;
    }
    let s = Server::start_with(&["--hz", "100"]);
    let mut c = s.client();
    for k in 0..10 {
        ok(&mut c, &["SET", &format!("t{k}"), "v"]);
    }
    assert_eq!(q(&mut c, &["DEL", "t0", "t1", "t2"]), int(3));
    let tombstones = |c: &mut redis::Connection| {
        let info: String = cmd(&["INFO", "stats"]).query(c).unwrap();
        info_field(&info, "tombstones").expect("tombstones field").parse::<u64>().unwrap()
    };
    assert_eq!(tombstones(&mut c), 3);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(7), "tombstones are not keys");
    assert_eq!(q(&mut c, &["KEYS", "t0"]), arr(vec![]));
    ok(&mut c, &["SET", "t0", "again"]);
    assert_eq!(tombstones(&mut c), 2, "a new write replaces the tombstone");
    ok(&mut c, &["CONFIG", "SET", "tombstone-ttl", "1"]);
    assert!(wait_for(Duration::from_secs(20), || tombstones(&mut c) == 0), "collected after the ttl");
}

/// Tombstones are bounded by `maxmemory`: a DEL-heavy workload at the limit
/// under `noeviction` sweeps them rather than refusing writes forever.
#[test]
fn tombstones_give_way_under_memory_pressure() {
    if is_redis() {
        return;
    }
    let s = Server::start_with(&["--appendonly", "no", "--maxmemory-policy", "noeviction"]);
    let mut c = s.client();
    let info: String = cmd(&["INFO", "memory"]).query(&mut c).unwrap();
    let used: u64 = info_field(&info, "used_memory").unwrap().parse().unwrap();
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &(used + (2 << 20)).to_string()]);
    let key = "x".repeat(200);
    let mut refused = 0;
    for round in 0..200 {
        let mut pipe = redis::pipe();
        for k in 0..100 {
            let name = format!("{key}{round}-{k}");
            pipe.cmd("SET").arg(&name).arg("v").ignore().cmd("DEL").arg(&name).ignore();
        }
        if pipe.query::<()>(&mut c).is_err() {
            refused += 1;
            std::thread::sleep(Duration::from_millis(110));
        }
    }
    // 20,000 tombstones of 200-byte keys are more than the 2 MB of room.
    let info: String = cmd(&["INFO", "stats"]).query(&mut c).unwrap();
    let collected: u64 = info_field(&info, "tombstones_collected").unwrap().parse().unwrap();
    assert!(collected > 0, "tombstones were swept under pressure");
    assert!(refused < 50, "writes went on: {refused} of 200 batches refused");
    ok(&mut c, &["SET", "still", "writable"]);
}

/// The log holds each shard's changes in the order they happened (the change
/// feed), and recovery applies it in its own order, without sorting: two
/// connections appending to the same keys in pipelined batches, and a script
/// and a transaction appending too, must find the exact same strings after a
/// crash (appends are deltas: any reordering changes the bytes).
#[test]
fn interleaved_appends_replay_in_the_order_they_happened() {
    if is_redis() {
        return;
    }
    let mut s = Server::start_with(&["--appendfsync", "always"]);
    let writer = |s: &Server, tag: &'static str| {
        let mut c = s.client();
        std::thread::spawn(move || {
            for round in 0..40 {
                let mut pipe = redis::pipe();
                for k in 0..50 {
                    pipe.cmd("APPEND").arg(format!("a{k}")).arg(format!("{tag}{round},")).ignore();
                }
                if round % 10 == 0 {
                    pipe.cmd("EVAL")
                        .arg("redis.call('APPEND', KEYS[1], ARGV[1]) return 1")
                        .arg(1)
                        .arg("a0")
                        .arg(tag)
                        .ignore();
                    pipe.cmd("MULTI").ignore();
                    pipe.cmd("APPEND").arg("a1").arg(tag).ignore();
                    pipe.cmd("APPEND").arg("a2").arg(tag).ignore();
                    pipe.cmd("EXEC").ignore();
                }
                let _: () = pipe.query(&mut c).expect("batch");
            }
        })
    };
    let (a, b) = (writer(&s, "x"), writer(&s, "y"));
    a.join().unwrap();
    b.join().unwrap();
    let strings = |c: &mut redis::Connection| -> Vec<String> {
        (0..50).map(|k| cmd(&["GET", &format!("a{k}")]).query(c).unwrap()).collect()
    };
    let mut c = s.client();
    let before = strings(&mut c);
    assert!(before[0].contains("x0,") && before[0].contains("y39,"));
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert_eq!(strings(&mut c), before, "the strings after a crash are the strings before it");
    assert!(!s.logs().contains("predate change feeds"), "a new log is applied in its own order");
}
