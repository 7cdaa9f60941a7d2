//! WAITAOF on a standalone server, as Redis 7.2 answers it: `[numlocal,
//! numreplicas]`, the local count following `appendfsync`, no replicas, its
//! argument errors, and its behaviour inside MULTI. Redis 7.0 has no
//! WAITAOF: against it (`GYRE_TEST_REDIS=1`) these tests are skipped.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn pair(local: i64, replicas: i64) -> Value {
    arr(vec![int(local), int(replicas)])
}

#[test]
fn errors_match_redis() {
    let s = Server::start_with(&["--appendonly", "no"]);
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(
        err(c, &["WAITAOF", "1", "0", "0"]),
        "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
    );
    // numlocal 0 needs no log: nothing to wait for locally, no replicas.
    assert_eq!(q(c, &["WAITAOF", "0", "0", "0"]), pair(0, 0));
    assert_eq!(err(c, &["WAITAOF", "2", "0", "0"]), "ERR value is out of range, value must between 0 and 1");
    assert_eq!(err(c, &["WAITAOF", "-1", "0", "0"]), "ERR value is out of range, value must between 0 and 1");
    assert_eq!(err(c, &["WAITAOF", "x", "0", "0"]), "ERR value is not an integer or out of range");
    assert_eq!(err(c, &["WAITAOF", "0", "-1", "0"]), "ERR value is out of range, must be positive");
    assert_eq!(err(c, &["WAITAOF", "0", "0", "-1"]), "ERR timeout is negative");
    assert_eq!(err(c, &["WAITAOF", "0", "0", "x"]), "ERR timeout is not an integer or out of range");
    assert!(err(c, &["WAITAOF", "0", "0"]).contains("wrong number of arguments"));
}

#[test]
fn always_confirms_at_once_and_replicas_wait_their_timeout() {
    let s = Server::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    // Nothing written yet: confirmed.
    assert_eq!(q(c, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    ok(c, &["SET", "k", "v"]);
    assert_eq!(q(c, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    // A replica is asked for and there are none: the client waits out its
    // timeout and hears what was reached.
    let start = Instant::now();
    assert_eq!(q(c, &["WAITAOF", "1", "1", "100"]), pair(1, 0));
    assert!(start.elapsed() >= Duration::from_millis(90), "{:?}", start.elapsed());
    // Not from scripts (NOSCRIPT in Redis 7.2).
    assert!(err(c, &["EVAL", "return redis.call('WAITAOF', 0, 0, 0)", "0"])
        .starts_with("ERR This Redis command is not allowed from script"));
    // Inside MULTI nothing blocks.
    ok(c, &["MULTI"]);
    assert_eq!(q(c, &["WAITAOF", "0", "1", "0"]), status("QUEUED"));
    assert_eq!(q(c, &["EXEC"]), arr(vec![pair(1, 0)]));
}

#[test]
fn everysec_confirms_once_the_log_is_fsynced() {
    let s = Server::start_with(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "k", "v"]);
    // Blocks (timeout 0: no limit) until the background fsync covers the
    // write, about a second at most.
    let start = Instant::now();
    assert_eq!(q(c, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    // Now nothing of this client is unsynced: at once.
    let start = Instant::now();
    assert_eq!(q(c, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
    // A write in the same pipeline is waited for too.
    let mut p = redis::pipe();
    p.cmd("SET").arg("k").arg("w").cmd("WAITAOF").arg(1).arg(0).arg(0);
    let (set, w): (String, Vec<i64>) = p.query(c).unwrap();
    assert_eq!((set.as_str(), w), ("OK", vec![1, 0]));
}

#[test]
fn no_fsync_never_confirms_a_write() {
    let s = Server::start_with(&["--appendonly", "yes", "--appendfsync", "no"]);
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    ok(c, &["SET", "k", "v"]);
    assert_eq!(q(c, &["WAITAOF", "1", "0", "200"]), pair(0, 0));
    assert_eq!(q(c, &["WAITAOF", "0", "0", "0"]), pair(0, 0));
}

/// A client served while blocked wrote too (BLMOVE pushes): its next
/// WAITAOF waits for that write's fsync rather than confirming at once.
/// Deliberately not Redis 7.2: it does not move a served client's write
/// offset (the write is propagated by the command that woke it), so it
/// answers `[1, 0]` for a write that is not fsynced.
#[test]
fn a_write_made_while_served_from_a_block_is_waited_for() {
    if is_redis() {
        return;
    }
    let s = Server::start_with(&["--appendonly", "yes", "--appendfsync", "no"]);
    let mut b = s.client();
    let mut w = s.client();
    assert_eq!(q(&mut b, &["WAITAOF", "1", "0", "0"]), pair(1, 0));
    let blocked = std::thread::spawn(move || {
        let moved = q(&mut b, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
        (moved, q(&mut b, &["WAITAOF", "1", "0", "100"]))
    });
    wait_blocked(&mut w, 1);
    assert_eq!(q(&mut w, &["RPUSH", "src", "x"]), int(1));
    let (moved, waited) = blocked.join().unwrap();
    assert_eq!(moved, bulk("x"));
    // Under `no` nothing is fsynced: not confirmed.
    assert_eq!(waited, pair(0, 0));
}
