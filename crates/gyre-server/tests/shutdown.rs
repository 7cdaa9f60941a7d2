//! Graceful shutdown: SIGTERM during write load loses no acknowledged write;
//! SIGINT and SHUTDOWN exit 0 after flushing the log; SHUTDOWN's options.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[test]
fn sigterm_during_writes_keeps_every_acknowledged_write() {
    if is_redis() {
        return; // Redis runs here without persistence
    }
    let mut s = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (addr, stop, acked) = (s.addr(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut c = RawConn::connect(&addr);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (k, v) = (format!("w{w}:{i}"), format!("v{i}"));
                    c.send_cmd(&["SET", &k, &v]);
                    // The server may go away mid-reply: that write is not acknowledged.
                    let mut buf = [0u8; 5];
                    match std::io::Read::read(&mut c.stream, &mut buf) {
                        Ok(5) if &buf == b"+OK\r\n" => acked.lock().unwrap().push((k, v)),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let status = s.stop(Stop::Term);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(status.code(), Some(0), "graceful exit:\n{}", s.logs());
    let logs = s.logs();
    assert!(logs.contains("SIGTERM") && logs.contains("bye bye"), "{logs}");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "the load ran ({} writes)", acked.len());
    s.restart(Stop::Term, &[]);
    let mut c = s.raw();
    for (k, v) in &acked {
        assert_eq!(c.call(&["GET", k]), Reply::bulk(v), "acknowledged write {k} lost");
    }
}

#[test]
fn sigint_exits_zero() {
    if is_redis() {
        return;
    }
    let s = Server::start();
    let mut c = s.raw();
    assert_eq!(c.call(&["SET", "k", "v"]), Reply::simple("OK"));
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(s.pid() as i32, libc::SIGINT) };
    c.expect_closed();
    let mut s = s;
    let ok = wait_for(Duration::from_secs(10), || !s.is_running());
    assert!(ok, "still running after SIGINT");
    assert!(s.logs().contains("SIGINT"), "{}", s.logs());
}

#[test]
fn shutdown_command_options() {
    let s = Server::start();
    let mut c = s.raw();
    assert_eq!(c.call(&["SHUTDOWN", "ABORT"]), Reply::error("ERR No shutdown in progress."));
    assert_eq!(c.call(&["SHUTDOWN", "SAVE", "NOSAVE"]), Reply::error("ERR syntax error"));
    assert_eq!(c.call(&["SHUTDOWN", "LATER"]), Reply::error("ERR syntax error"));
    assert_eq!(c.call(&["MULTI"]), Reply::simple("OK"));
    assert_eq!(c.call(&["SHUTDOWN"]), Reply::error("ERR Command not allowed inside a transaction"));
    assert_eq!(c.call(&["DISCARD"]), Reply::simple("OK"));
    if is_redis() {
        return;
    }
    let mut s = s;
    assert_eq!(c.call(&["SET", "k", "before-shutdown"]), Reply::simple("OK"));
    c.send_cmd(&["SHUTDOWN", "SAVE", "NOW"]);
    c.expect_closed();
    let ok = wait_for(Duration::from_secs(10), || !s.is_running());
    assert!(ok, "still running after SHUTDOWN");
    let logs = s.logs();
    assert!(logs.contains("final snapshot") && logs.contains("snapshot done"), "{logs}");
    s.restart(Stop::Term, &[]);
    assert_eq!(s.raw().call(&["GET", "k"]), Reply::bulk("before-shutdown"));
}

/// `shutdown-snapshot auto` (the default): a shutdown takes a final snapshot
/// when the log is due for compaction, so the next start loads a snapshot
/// instead of replaying a long log; a small log is only flushed.
#[test]
fn a_shutdown_snapshots_when_the_log_is_due_for_compaction() {
    if is_redis() {
        return;
    }
    // hz 1: automatic compaction (checked once per 1/hz s) is unlikely to run
    // between the CONFIG SET and the SHUTDOWN below and take the snapshot first.
    let args = ["--wal-compact-bytes", "1gb", "--hz", "1"];
    let mut s = Server::start_with(&args);
    let value = "x".repeat(1000);
    let mut c = s.raw();
    for i in 0..100 {
        assert_eq!(c.call(&["SET", &format!("small:{i}"), &value]), Reply::simple("OK"));
    }
    // 100 KB of log, far below the threshold: flushed, no snapshot.
    assert_eq!(s.stop(Stop::Term).code(), Some(0));
    assert!(!s.logs().contains("taking the final snapshot"), "{}", s.logs());
    s.restart(Stop::Term, &args);
    let mut c = s.raw();
    for i in 0..2000 {
        assert_eq!(c.call(&["SET", &format!("big:{i}"), &value]), Reply::simple("OK"));
    }
    // 2 MB of log against a threshold lowered to 1 MB: due.
    assert_eq!(c.call(&["CONFIG", "SET", "wal-compact-bytes", "1mb"]), Reply::simple("OK"));
    c.send_cmd(&["SHUTDOWN"]);
    c.expect_closed();
    assert!(wait_for(Duration::from_secs(10), || !s.is_running()), "still running after SHUTDOWN");
    let logs = s.logs();
    assert!(logs.contains("taking the final snapshot") && logs.contains("snapshot done"), "{logs}");
    s.restart(Stop::Term, &args);
    assert!(s.logs().contains("snapshot loaded"), "the next start loads it:\n{}", s.logs());
    let mut c = s.raw();
    assert_eq!(c.call(&["DBSIZE"]), Reply::Int(2100));
    assert_eq!(c.call(&["GET", "big:1999"]), Reply::bulk(&value));
}
