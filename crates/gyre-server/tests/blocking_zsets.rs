//! Blocking sorted set commands (BZPOPMIN, BZPOPMAX, BZMPOP) while they wait:
//! timeouts and their null replies, wake-up by another client's ZADD, FIFO
//! order of waiters, keys deleted while a client waits, disconnects, and the
//! immediate answers when data is there. Validated against Redis 7.
//!
//! A test first waits until the server reports the client as blocked
//! (`blocked_clients` in INFO), so that the order of events is certain.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

#[test]
fn data_present_answers_at_once() {
    let s = Server::start();
    let mut c = s.client();
    let mut r = s.raw();
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_eq!(r.call(&["BZPOPMIN", "missing", "z", "0"]), Reply::Array(vec![b("z"), b("a"), b("1")]));
    assert_eq!(r.call(&["BZPOPMAX", "z", "0"]), Reply::Array(vec![b("z"), b("c"), b("3")]));
    assert_eq!(
        r.call(&["BZMPOP", "0", "2", "missing", "z", "MIN", "COUNT", "5"]),
        Reply::Array(vec![b("z"), Reply::Array(vec![Reply::Array(vec![b("b"), b("2")])])])
    );
    assert_eq!(q(&mut c, &["EXISTS", "z"]), int(0));
    let mut r3 = raw3(&s);
    assert_eq!(q(&mut c, &["ZADD", "z", "1.5", "a"]), int(1));
    assert_eq!(r3.call(&["BZPOPMIN", "z", "0"]), Reply::Array(vec![b("z"), b("a"), Reply::Double("1.5".into())]));
}

#[test]
fn argument_errors() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(err(c, &["BZPOPMIN", "z", "x"]), "ERR timeout is not a float or out of range");
    assert_eq!(err(c, &["BZPOPMAX", "z", "-1"]), "ERR timeout is negative");
    assert_eq!(err(c, &["BZPOPMIN", "z"]), "ERR wrong number of arguments for 'bzpopmin' command");
    assert_eq!(err(c, &["BZMPOP", "0", "0", "z", "MIN"]), "ERR numkeys should be greater than 0");
    assert_eq!(err(c, &["BZMPOP", "0", "1", "z", "LEFT"]), "ERR syntax error");
    assert_eq!(err(c, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"]), "ERR count should be greater than 0");
    assert_eq!(err(c, &["BZMPOP", "x", "1", "z", "MIN"]), "ERR timeout is not a float or out of range");
    ok(c, &["SET", "s", "v"]);
    assert_eq!(
        err(c, &["BZPOPMIN", "missing", "s", "0"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(c, &["BZMPOP", "0", "1", "s", "MAX"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn timeouts_reply_null() {
    let s = Server::start();
    let mut r = s.raw();
    let start = Instant::now();
    assert_eq!(r.call(&["BZPOPMIN", "z", "0.1"]), Reply::NilArray);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(90) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(r.call(&["BZPOPMAX", "z", "z2", "0.05"]), Reply::NilArray);
    assert_eq!(r.call(&["BZMPOP", "0.05", "2", "z", "z2", "MIN"]), Reply::NilArray);
    assert_eq!(r.call(&["EXISTS", "z", "z2"]), Reply::Int(0));
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["BZPOPMIN", "z", "0.05"]), Reply::Null);
    assert_eq!(r3.call(&["BZMPOP", "0.05", "1", "z", "MAX", "COUNT", "2"]), Reply::Null);
}

#[test]
fn zadd_from_another_client_wakes_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BZPOPMIN", "a", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZADD", "z", "2", "two", "1", "one"]), int(2));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("z"), b("one"), b("1")]));
    assert_eq!(q(&mut c, &["ZRANGE", "z", "0", "-1"]), bulks(&["two"]));
    wait_blocked(&mut c, 0);

    w.send_cmd(&["BZPOPMAX", "x", "y", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZINCRBY", "y", "5", "m"]), bulk("5"));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("y"), b("m"), b("5")]));

    w.send_cmd(&["BZMPOP", "0", "2", "p", "q", "MAX", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZADD", "q", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_eq!(
        w.read_reply(),
        Reply::Array(vec![
            b("q"),
            Reply::Array(vec![Reply::Array(vec![b("c"), b("3")]), Reply::Array(vec![b("b"), b("2")])])
        ])
    );
    assert_eq!(w.call(&["ZCARD", "q"]), Reply::Int(1));
}

#[test]
fn store_commands_wake_waiters() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["ZADD", "src", "1", "a", "2", "b"]), int(2));
    let mut w = s.raw();
    w.send_cmd(&["BZPOPMAX", "dst", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZUNIONSTORE", "dst", "1", "src"]), int(2));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("dst"), b("b"), b("2")]));
    w.send_cmd(&["BZPOPMIN", "dst2", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZRANGESTORE", "dst2", "src", "1", "1"]), int(1));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("dst2"), b("b"), b("2")]));
}

#[test]
fn waiters_are_served_in_fifo_order() {
    let s = Server::start();
    let mut c = s.client();
    let mut first = s.raw();
    let mut second = s.raw();
    first.send_cmd(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    second.send_cmd(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 2);
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "a"]), int(1));
    assert_eq!(first.read_reply(), Reply::Array(vec![b("z"), b("a"), b("1")]));
    wait_blocked(&mut c, 1);
    second.expect_silence(Duration::from_millis(100));
    assert_eq!(q(&mut c, &["ZADD", "z", "2", "b", "3", "c"]), int(2));
    assert_eq!(second.read_reply(), Reply::Array(vec![b("z"), b("b"), b("2")]));
    assert_eq!(q(&mut c, &["ZRANGE", "z", "0", "-1"]), bulks(&["c"]));
}

#[test]
fn a_key_deleted_or_of_another_type_keeps_the_client_waiting() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    ok(&mut c, &["SET", "z", "string"]);
    assert_eq!(q(&mut c, &["DEL", "z"]), int(1));
    assert_eq!(q(&mut c, &["ZADD", "other", "1", "a"]), int(1));
    w.expect_silence(Duration::from_millis(100));
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZADD", "z", "7", "x"]), int(1));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("z"), b("x"), b("7")]));
}

#[test]
fn a_disconnected_waiter_is_forgotten() {
    let s = Server::start();
    let mut c = s.client();
    {
        let mut gone = s.raw();
        gone.send_cmd(&["BZPOPMIN", "z", "0"]);
        wait_blocked(&mut c, 1);
    }
    wait_blocked(&mut c, 0);
    let mut w = s.raw();
    w.send_cmd(&["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("z"), b("b"), b("2")]));
    // The vanished client took nothing.
    assert_eq!(q(&mut c, &["ZRANGE", "z", "0", "-1"]), bulks(&["a"]));
}

#[test]
fn client_unblock_ends_the_wait() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    let id = match w.call(&["CLIENT", "ID"]) {
        Reply::Int(id) => id.to_string(),
        other => panic!("CLIENT ID: {other:?}"),
    };
    w.send_cmd(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
    w.send_cmd(&["BZMPOP", "0", "1", "z", "MIN"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(w.read_reply(), Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into()));
}

/// Regression (issue 18): a transaction that runs ZADD, DEL and SET on the
/// key a client waits on must not wake it with WRONGTYPE: Redis serves a
/// waiter only when the key holds a sorted set once the transaction ends, and
/// keeps it blocked otherwise. Redis's "ZADD + DEL + SET should not awake
/// blocked client", for BZPOPMIN and BZMPOP.
#[test]
fn transaction_zadd_del_set_does_not_wake_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    for (pop, served) in [
        (vec!["BZPOPMIN", "z", "0"], Reply::Array(vec![b("z"), b("bar"), b("1")])),
        (
            vec!["BZMPOP", "0", "1", "z", "MIN"],
            Reply::Array(vec![b("z"), Reply::Array(vec![Reply::Array(vec![b("bar"), b("1")])])]),
        ),
    ] {
        let mut w = s.raw();
        w.send_cmd(&pop);
        wait_blocked(&mut c, 1);
        let mut t = s.raw();
        assert_eq!(t.call(&["MULTI"]), Reply::Simple("OK".into()));
        for cmd in [&["ZADD", "z", "0", "foo"][..], &["DEL", "z"], &["SET", "z", "foo"]] {
            assert_eq!(t.call(cmd), Reply::Simple("QUEUED".into()));
        }
        assert_eq!(t.call(&["EXEC"]), Reply::Array(vec![Reply::Int(1), Reply::Int(1), Reply::Simple("OK".into())]));
        w.expect_silence(Duration::from_millis(100));
        wait_blocked(&mut c, 1);
        assert_eq!(q(&mut c, &["DEL", "z"]), int(1));
        assert_eq!(q(&mut c, &["ZADD", "z", "1", "bar"]), int(1));
        assert_eq!(w.read_reply(), served);
        wait_blocked(&mut c, 0);
    }
}

/// The same for a transaction that runs ZADD then DEL: the key is gone when
/// the transaction ends, so the waiter keeps waiting.
#[test]
fn transaction_zadd_del_does_not_wake_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    let mut t = s.raw();
    t.call(&["MULTI"]);
    t.call(&["ZADD", "z", "0", "foo"]);
    t.call(&["DEL", "z"]);
    assert_eq!(t.call(&["EXEC"]), Reply::Array(vec![Reply::Int(1), Reply::Int(1)]));
    w.expect_silence(Duration::from_millis(100));
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "bar"]), int(1));
    assert_eq!(w.read_reply(), Reply::Array(vec![b("z"), b("bar"), b("1")]));
}
