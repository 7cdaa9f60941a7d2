//! Blocking list commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) while
//! they wait: timeouts and their null replies, wake-up by another client's
//! push, FIFO order of waiters, keys that come and go while a client waits,
//! CLIENT UNBLOCK and disconnects. Validated against Redis 7.
//!
//! A test first waits until the server reports the client as blocked
//! (`blocked_clients` in INFO), so that the order of events is certain.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn bulks_reply(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(Reply::bulk).collect())
}

#[test]
fn timeouts_reply_null_in_each_command_shape() {
    let s = Server::start();
    let mut r = s.raw();
    let start = Instant::now();
    assert_eq!(r.call(&["BLPOP", "k", "0.1"]), Reply::NilArray);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(90) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(r.call(&["BRPOP", "k", "k2", "0.05"]), Reply::NilArray);
    assert_eq!(r.call(&["BLMPOP", "0.05", "2", "k", "k2", "LEFT"]), Reply::NilArray);
    // BLMOVE and BRPOPLPUSH too time out with a null array, though their
    // reply is a bulk string otherwise (Redis answers every list wait so).
    assert_eq!(r.call(&["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.05"]), Reply::NilArray);
    assert_eq!(r.call(&["BRPOPLPUSH", "k", "d", "0.05"]), Reply::NilArray);
    // Nothing was created by the waits.
    assert_eq!(r.call(&["EXISTS", "k", "k2", "d"]), Reply::Int(0));

    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["BLPOP", "k", "0.05"]), Reply::Null);
    assert_eq!(r3.call(&["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.05"]), Reply::Null);
    assert_eq!(r3.call(&["BLMPOP", "0.05", "1", "k", "RIGHT", "COUNT", "2"]), Reply::Null);
}

#[test]
fn a_push_from_another_client_wakes_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "a", "k", "0"]);
    wait_blocked(&mut c, 1);
    // LPUSH of several elements: the waiter pops the head after the push.
    assert_eq!(q(&mut c, &["LPUSH", "k", "foo", "bar"]), int(2));
    assert_eq!(w.read_reply(), bulks_reply(&["k", "bar"]));
    assert_eq!(q(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["foo"]));
    wait_blocked(&mut c, 0);

    // BRPOP on several keys is served from the key that got data.
    w.send_cmd(&["BRPOP", "x", "y", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "y", "1", "2"]);
    assert_eq!(w.read_reply(), bulks_reply(&["y", "2"]));

    // The waiter's connection works normally afterwards.
    assert_eq!(w.call(&["LLEN", "y"]), Reply::Int(1));
}

#[test]
fn blmove_and_brpoplpush_wake_and_move() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "src", "a", "b"]);
    assert_eq!(w.read_reply(), Reply::bulk("b"));
    assert_eq!(q(&mut c, &["LRANGE", "src", "0", "-1"]), bulks(&["a"]));
    assert_eq!(q(&mut c, &["LRANGE", "dst", "0", "-1"]), bulks(&["b"]));

    q(&mut c, &["DEL", "src"]);
    w.send_cmd(&["BRPOPLPUSH", "src", "dst", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["LPUSH", "src", "c"]);
    assert_eq!(w.read_reply(), Reply::bulk("c"));
    assert_eq!(q(&mut c, &["LRANGE", "dst", "0", "-1"]), bulks(&["c", "b"]));
    assert_eq!(q(&mut c, &["EXISTS", "src"]), int(0));
}

#[test]
fn blmpop_wakes_with_count() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(w.read_reply(), Reply::Array(vec![Reply::bulk("b"), bulks_reply(&["1", "2"])]));
    assert_eq!(q(&mut c, &["LRANGE", "b", "0", "-1"]), bulks(&["3"]));
}

#[test]
fn a_move_into_a_waited_key_wakes_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "dst", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "src", "x"]);
    assert_eq!(q(&mut c, &["LMOVE", "src", "dst", "LEFT", "LEFT"]), bulk("x"));
    assert_eq!(w.read_reply(), bulks_reply(&["dst", "x"]));
    assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0));
}

#[test]
fn waiters_are_served_in_the_order_they_blocked() {
    let s = Server::start();
    let mut c = s.client();
    let mut first = s.raw();
    let mut second = s.raw();
    first.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    second.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 2);
    q(&mut c, &["RPUSH", "k", "one"]);
    assert_eq!(first.read_reply(), bulks_reply(&["k", "one"]));
    second.expect_silence(Duration::from_millis(200));
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "k", "two"]);
    assert_eq!(second.read_reply(), bulks_reply(&["k", "two"]));

    // One push of two elements serves both waiters, in order.
    first.send_cmd(&["BRPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    second.send_cmd(&["BRPOP", "k", "0"]);
    wait_blocked(&mut c, 2);
    q(&mut c, &["RPUSH", "k", "a", "b"]);
    assert_eq!(first.read_reply(), bulks_reply(&["k", "b"]));
    assert_eq!(second.read_reply(), bulks_reply(&["k", "a"]));
    assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
}

#[test]
fn a_key_deleted_or_of_another_type_while_waiting_keeps_the_client_waiting() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    ok(&mut c, &["SET", "k", "string"]);
    assert_eq!(q(&mut c, &["DEL", "k"]), int(1));
    w.expect_silence(Duration::from_millis(200));
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(w.read_reply(), bulks_reply(&["k", "v"]));
}

/// Redis wakes waiters when a list is renamed onto the key they wait on.
#[test]
fn a_list_renamed_onto_a_waited_key_wakes_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["RPUSH", "tmp", "a", "b"]);
    ok(&mut c, &["RENAME", "tmp", "k"]);
    assert_eq!(w.read_reply(), bulks_reply(&["k", "a"]));
    assert_eq!(q(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["b"]));
}

#[test]
fn a_disconnected_waiter_takes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    {
        let mut w = s.raw();
        w.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
    }
    wait_blocked(&mut c, 0);
    q(&mut c, &["RPUSH", "k", "kept"]);
    assert_eq!(q(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["kept"]));
}

#[test]
fn client_unblock_ends_the_wait() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    let id = w.call(&["CLIENT", "ID"]).int().to_string();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
    wait_blocked(&mut c, 0);

    w.send_cmd(&["BRPOPLPUSH", "k", "d", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);

    w.send_cmd(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(w.read_reply(), Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(0));
}

#[test]
fn a_fractional_timeout_is_honoured_while_others_are_served() {
    let s = Server::start();
    let mut c = s.client();
    let mut short = s.raw();
    let mut long = s.raw();
    long.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    let start = Instant::now();
    assert_eq!(short.call(&["BLPOP", "k", "0.25"]), Reply::NilArray);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(3), "waited {waited:?}");
    q(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(long.read_reply(), bulks_reply(&["k", "v"]));
}

/// Regression: a huge timeout overflowed the deadline and killed the connection.
#[test]
fn a_timeout_too_large_for_a_deadline_is_refused() {
    let s = Server::start();
    // Redis 7.0 overflows here itself and answers "timeout is negative".
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    assert_eq!(err(&mut c, &["BLPOP", "k", "9223372036854775807"]), "ERR timeout is out of range");
    assert_eq!(err(&mut c, &["BZPOPMIN", "k", "1e300"]), "ERR timeout is out of range");
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
}

/// Regression (issue 17): CLIENT LIST showed a client blocked in BLPOP as
/// `flags=N cmd=NULL`; Redis shows `flags=b cmd=blpop`, and clients' own tests
/// wait for exactly that before they call CLIENT UNBLOCK.
#[test]
fn client_list_shows_a_blocked_client_with_flag_b_and_its_command() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    let id = w.call(&["CLIENT", "ID"]).int().to_string();
    w.send_cmd(&["BLPOP", "nothing", "0"]);
    wait_blocked(&mut c, 1);
    let line = |c: &mut redis::Connection| {
        let list = as_str(&q(c, &["CLIENT", "LIST", "ID", &id]));
        list.trim().to_string()
    };
    let l = line(&mut c);
    assert!(l.contains(" flags=b "), "{l}");
    assert!(l.contains(" cmd=blpop "), "{l}");
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
    let l = line(&mut c);
    assert!(l.contains(" flags=N "), "{l}");
}

/// Regression (issue 18): a transaction that runs LPUSH, DEL and SET on the
/// key a client waits on leaves it blocked (Redis's "BLPOP, LPUSH + DEL + SET
/// should not awake blocked client"); it is served by a later push.
#[test]
fn transaction_push_del_set_does_not_wake_the_waiter() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "l", "0"]);
    wait_blocked(&mut c, 1);
    let mut t = s.raw();
    t.call(&["MULTI"]);
    t.call(&["LPUSH", "l", "a"]);
    t.call(&["DEL", "l"]);
    t.call(&["SET", "l", "foo"]);
    assert_eq!(t.call(&["EXEC"]), Reply::Array(vec![Reply::Int(1), Reply::Int(1), Reply::Simple("OK".into())]));
    w.expect_silence(Duration::from_millis(100));
    assert_eq!(q(&mut c, &["DEL", "l"]), int(1));
    assert_eq!(q(&mut c, &["RPUSH", "l", "b"]), int(1));
    assert_eq!(w.read_reply(), Reply::Array(vec![Reply::bulk("l"), Reply::bulk("b")]));
}
