//! MULTI / EXEC / DISCARD / WATCH / UNWATCH: queueing, EXECABORT, runtime
//! errors without rollback, WATCH aborts, and atomicity under concurrent
//! clients on several threads. Validated against Redis 7.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn simple(s: &str) -> Reply {
    Reply::simple(s)
}

#[test]
fn queued_commands_run_in_order_and_reply_as_one_array() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    assert_eq!(r.call(&["SET", "k", "1"]), simple("QUEUED"));
    assert_eq!(r.call(&["INCR", "k"]), simple("QUEUED"));
    assert_eq!(r.call(&["GET", "k"]), simple("QUEUED"));
    assert_eq!(r.call(&["LPUSH", "k", "x"]), simple("QUEUED"), "type errors are found at EXEC, not queueing");
    assert_eq!(r.call(&["INCR", "k"]), simple("QUEUED"));
    let replies = r.call(&["EXEC"]);
    let items = replies.items();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0], simple("OK"));
    assert_eq!(items[1], Reply::Int(2));
    assert_eq!(items[2], Reply::bulk("2"));
    assert!(matches!(&items[3], Reply::Error(e) if e.starts_with("WRONGTYPE")), "{:?}", items[3]);
    assert_eq!(items[4], Reply::Int(3), "a runtime error does not roll back or stop the rest");
    assert_eq!(r.call(&["GET", "k"]), Reply::bulk("3"));
    // An empty transaction.
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    assert_eq!(r.call(&["EXEC"]), Reply::Array(vec![]));
}

#[test]
fn a_command_that_fails_to_queue_aborts_exec() {
    let s = Server::start();
    let mut r = s.raw();
    r.call(&["SET", "k", "before"]);
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    assert_eq!(r.call(&["SET", "k", "during"]), simple("QUEUED"));
    assert!(r.call(&["NOSUCHCMD", "x"]).text().starts_with("ERR unknown command 'NOSUCHCMD'"));
    assert_eq!(r.call(&["GET"]), Reply::error("ERR wrong number of arguments for 'get' command"));
    assert_eq!(r.call(&["EXEC"]), Reply::error("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(r.call(&["GET", "k"]), Reply::bulk("before"), "nothing of the transaction ran");
    // The connection is out of MULTI afterwards.
    assert_eq!(r.call(&["SET", "k", "after"]), simple("OK"));
}

#[test]
fn control_errors_have_redis_wording() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["EXEC"]), Reply::error("ERR EXEC without MULTI"));
    assert_eq!(r.call(&["DISCARD"]), Reply::error("ERR DISCARD without MULTI"));
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    assert_eq!(r.call(&["MULTI"]), Reply::error("ERR MULTI calls can not be nested"));
    assert_eq!(r.call(&["WATCH", "x"]), Reply::error("ERR WATCH inside MULTI is not allowed"));
    assert_eq!(r.call(&["SET", "a", "1"]), simple("QUEUED"));
    assert_eq!(r.call(&["DISCARD"]), simple("OK"));
    assert_eq!(r.call(&["EXISTS", "a"]), Reply::Int(0), "DISCARD dropped the queue");
    assert_eq!(r.call(&["UNWATCH"]), simple("OK"));
}

#[test]
fn watch_aborts_exec_when_another_client_changed_the_key() {
    let s = Server::start();
    let mut r = s.raw();
    let mut other = s.raw();
    r.call(&["SET", "x", "1"]);
    assert_eq!(r.call(&["WATCH", "x", "y"]), simple("OK"));
    other.call(&["SET", "x", "2"]);
    r.call(&["MULTI"]);
    r.call(&["SET", "x", "mine"]);
    assert_eq!(r.call(&["EXEC"]), Reply::NilArray);
    assert_eq!(r.call(&["GET", "x"]), Reply::bulk("2"));

    // After EXEC (even a failed one) nothing is watched any more.
    other.call(&["SET", "x", "3"]);
    r.call(&["MULTI"]);
    r.call(&["SET", "x", "mine"]);
    assert_eq!(r.call(&["EXEC"]).items(), &[simple("OK")]);

    // A watched key that nobody touched lets EXEC run.
    r.call(&["WATCH", "x"]);
    other.call(&["SET", "unrelated", "1"]);
    r.call(&["MULTI"]);
    r.call(&["PING"]);
    assert_eq!(r.call(&["EXEC"]).items(), &[simple("PONG")]);

    // A key absent at WATCH and created since.
    r.call(&["WATCH", "fresh"]);
    other.call(&["SET", "fresh", "1"]);
    r.call(&["MULTI"]);
    r.call(&["PING"]);
    assert_eq!(r.call(&["EXEC"]), Reply::NilArray);

    // UNWATCH and DISCARD forget the keys.
    r.call(&["WATCH", "x"]);
    other.call(&["SET", "x", "4"]);
    r.call(&["UNWATCH"]);
    r.call(&["MULTI"]);
    r.call(&["PING"]);
    assert_eq!(r.call(&["EXEC"]).items(), &[simple("PONG")]);
    r.call(&["WATCH", "x"]);
    other.call(&["SET", "x", "5"]);
    r.call(&["MULTI"]);
    r.call(&["DISCARD"]);
    r.call(&["MULTI"]);
    r.call(&["PING"]);
    assert_eq!(r.call(&["EXEC"]).items(), &[simple("PONG")]);
}

#[test]
fn watch_sees_expiry_expire_flushes_and_swapdb() {
    let s = Server::start();
    let mut r = s.raw();
    let mut other = s.raw();
    let aborts = |r: &mut RawConn| {
        r.call(&["MULTI"]);
        r.call(&["PING"]);
        r.call(&["EXEC"]) == Reply::NilArray
    };

    // A key that expires (lazily) after WATCH.
    r.call(&["SET", "t", "v", "PX", "50"]);
    r.call(&["WATCH", "t"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(aborts(&mut r), "an expired watched key aborts EXEC");

    // A key already expired at WATCH is not a change.
    r.call(&["SET", "stale", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    r.call(&["WATCH", "stale"]);
    r.call(&["DEL", "stale"]);
    assert!(!aborts(&mut r), "a stale watched key does not abort EXEC");

    // EXPIRE on a watched key.
    r.call(&["SET", "e", "v"]);
    r.call(&["WATCH", "e"]);
    other.call(&["EXPIRE", "e", "100"]);
    assert!(aborts(&mut r), "EXPIRE touches the key");

    // FLUSHDB / FLUSHALL touch existing watched keys only.
    r.call(&["SET", "f", "v"]);
    r.call(&["WATCH", "f"]);
    other.call(&["FLUSHDB"]);
    assert!(aborts(&mut r), "FLUSHDB touches a watched key");
    r.call(&["WATCH", "nothing-here"]);
    other.call(&["FLUSHALL"]);
    assert!(!aborts(&mut r), "FLUSHALL does not touch a key that did not exist");

    // SWAPDB bringing a value into a watched (absent) key.
    r.call(&["SELECT", "1"]);
    r.call(&["SET", "sw", "from-db1"]);
    r.call(&["SELECT", "0"]);
    r.call(&["WATCH", "sw"]);
    other.call(&["SWAPDB", "0", "1"]);
    assert!(aborts(&mut r), "SWAPDB brought the key in");
    other.call(&["SWAPDB", "0", "1"]);

    // WATCH remembers the database of the key.
    r.call(&["SELECT", "2"]);
    r.call(&["SET", "d", "v"]);
    r.call(&["WATCH", "d"]);
    r.call(&["SELECT", "0"]);
    other.call(&["SET", "d", "db0"]);
    assert!(!aborts(&mut r), "a write to the same name in another database is not a change");
    r.call(&["SELECT", "2"]);
    r.call(&["WATCH", "d"]);
    other.call(&["SELECT", "2"]);
    other.call(&["SET", "d", "db2"]);
    assert!(aborts(&mut r));
}

#[test]
fn blocking_commands_inside_exec_do_not_wait() {
    let s = Server::start();
    let mut r = s.raw();
    r.call(&["MULTI"]);
    r.call(&["BLPOP", "empty", "0"]);
    r.call(&["RPUSH", "l", "a"]);
    r.call(&["BLPOP", "l", "0"]);
    let replies = r.call(&["EXEC"]);
    assert_eq!(replies.items()[0], Reply::NilArray);
    assert_eq!(replies.items()[2], Reply::Array(vec![Reply::bulk("l"), Reply::bulk("a")]));
}

/// Atomicity under concurrency: 50 clients on their own threads each run
/// transactions that increment two counters; readers on other threads never
/// see them differ, and the totals are exact.
#[test]
fn transactions_are_atomic_under_concurrent_clients() {
    let s = Server::start();
    const CLIENTS: usize = 50;
    const ROUNDS: usize = 40;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = s.client();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<Option<i64>> = cmd(&["MGET", "a", "b"]).query(&mut c).unwrap();
                    assert_eq!(v[0].unwrap_or(0), v[1].unwrap_or(0), "saw half a transaction");
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = s.client();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let (a, b): (i64, i64) = redis::pipe().atomic().incr("a", 1).incr("b", 1).query(&mut c).unwrap();
                    assert_eq!(a, b);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let mut c = s.client();
    assert_eq!(q(&mut c, &["GET", "a"]), bulk((CLIENTS * ROUNDS).to_string()));
    assert_eq!(q(&mut c, &["GET", "b"]), bulk((CLIENTS * ROUNDS).to_string()));
}

/// The optimistic-locking pattern clients build on WATCH: read, compute,
/// write only if nobody raced. 20 clients incrementing through it end exact.
#[test]
fn watch_based_check_and_set_loses_no_increment() {
    let s = Server::start();
    const CLIENTS: usize = 20;
    const EACH: usize = 25;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = s.client();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < EACH {
                    let _: () = cmd(&["WATCH", "counter"]).query(&mut c).unwrap();
                    let v: Option<i64> = cmd(&["GET", "counter"]).query(&mut c).unwrap();
                    let next = (v.unwrap_or(0) + 1).to_string();
                    let res: Option<(String,)> =
                        redis::pipe().atomic().cmd("SET").arg("counter").arg(&next).query(&mut c).unwrap();
                    if res.is_some() {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut c = s.client();
    assert_eq!(q(&mut c, &["GET", "counter"]), bulk((CLIENTS * EACH).to_string()));
}

/// A transaction's writes reach the log as one record: after a crash both
/// halves are there.
#[test]
fn a_transaction_survives_a_crash_whole() {
    if is_redis() {
        return;
    }
    let mut s = Server::start_with(&["--appendfsync", "always"]);
    let mut r = s.raw();
    r.call(&["MULTI"]);
    r.call(&["SET", "p", "1"]);
    r.call(&["RPUSH", "q", "a", "b"]);
    assert_eq!(r.call(&["EXEC"]).items().len(), 2);
    drop(r);
    s.restart(Stop::Kill, &["--appendfsync", "always"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["GET", "p"]), Reply::bulk("1"));
    assert_eq!(r.call(&["LLEN", "q"]), Reply::Int(2));
}

/// WATCHED_KEYS_MAX (2^20 per client) bounds what WATCH can make the server
/// remember; past it WATCH answers an error and watches nothing more.
#[test]
fn watch_refuses_more_than_the_limit_of_keys() {
    if is_redis() {
        return;
    }
    let s = Server::start();
    let mut r = s.raw();
    const LIMIT: usize = 1 << 20;
    const CHUNK: usize = 1 << 16;
    for c in 0..LIMIT / CHUNK {
        let keys: Vec<String> = (0..CHUNK).map(|i| format!("w{}", c * CHUNK + i)).collect();
        let mut args = vec!["WATCH"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(r.call(&args), Reply::simple("OK"), "chunk {c}");
    }
    assert_eq!(r.call(&["WATCH", "one-more"]), Reply::error("ERR too many watched keys"));
    // The keys already watched still work: a change to one aborts EXEC.
    s.raw().call(&["SET", "w7", "x"]);
    r.call(&["MULTI"]);
    r.call(&["PING"]);
    assert_eq!(r.call(&["EXEC"]), Reply::NilArray);
}
