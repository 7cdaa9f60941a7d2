//! SORT and SORT_RO: numeric and ALPHA order, DESC, LIMIT, BY patterns (keys
//! and hash fields, `nosort`), GET patterns and `#`, STORE, and Redis's
//! errors. Validated against Redis 7 (`GYRE_TEST_REDIS=1`).

mod common;

use common::*;

#[test]
fn numeric_alpha_desc_and_limit() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["RPUSH", "l", "3", "1", "2", "10", "-5", "1.5"]), int(6));
    assert_eq!(q(c, &["SORT", "l"]), bulks(&["-5", "1", "1.5", "2", "3", "10"]));
    assert_eq!(q(c, &["SORT", "l", "DESC"]), bulks(&["10", "3", "2", "1.5", "1", "-5"]));
    assert_eq!(q(c, &["SORT", "l", "ALPHA"]), bulks(&["-5", "1", "1.5", "10", "2", "3"]));
    assert_eq!(q(c, &["SORT", "l", "ALPHA", "DESC"]), bulks(&["3", "2", "10", "1.5", "1", "-5"]));
    assert_eq!(q(c, &["SORT", "l", "LIMIT", "1", "2"]), bulks(&["1", "1.5"]));
    assert_eq!(q(c, &["SORT", "l", "LIMIT", "-1", "2"]), bulks(&["-5", "1"]));
    assert_eq!(q(c, &["SORT", "l", "LIMIT", "2", "-1"]), bulks(&["1.5", "2", "3", "10"]));
    assert_eq!(q(c, &["SORT", "l", "LIMIT", "10", "2"]), arr(vec![]));
    assert_eq!(q(c, &["SORT", "l", "LIMIT", "0", "0"]), arr(vec![]));
    assert_eq!(err(c, &["SORT", "l", "LIMIT", "x", "1"]), "ERR value is not an integer or out of range");
    assert_eq!(err(c, &["SORT", "l", "LIMIT", "1"]), "ERR syntax error");
    assert_eq!(err(c, &["SORT", "l", "foo"]), "ERR syntax error");
    assert_eq!(q(c, &["RPUSH", "w", "a", "b", "c"]), int(3));
    assert_eq!(err(c, &["SORT", "w"]), "ERR One or more scores can't be converted into double");
    assert_eq!(q(c, &["RPUSH", "e", "", " 5", "inf", "-inf", "+3", ".5", "5.", "0x10"]), int(8));
    assert_eq!(q(c, &["SORT", "e"]), bulks(&["-inf", "", ".5", "+3", " 5", "5.", "0x10", "inf"]));
    assert_eq!(q(c, &["RPUSH", "e2", "1e400"]), int(1));
    assert_eq!(err(c, &["SORT", "e2"]), "ERR One or more scores can't be converted into double");
    assert_eq!(q(c, &["RPUSH", "dup", "b", "a", "b", "a"]), int(4));
    assert_eq!(q(c, &["SORT", "dup", "ALPHA"]), bulks(&["a", "a", "b", "b"]));
    assert_eq!(q(c, &["SORT", "nokey"]), arr(vec![]));
    ok(c, &["SET", "str", "x"]);
    assert_eq!(err(c, &["SORT", "str"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
}

#[test]
fn by_and_get_patterns() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["RPUSH", "w", "a", "b", "c"]), int(3));
    ok(c, &["MSET", "w_a", "3", "w_b", "1", "w_c", "2", "o_a", "x", "o_b", "y", "o_c", "z"]);
    assert_eq!(q(c, &["SORT", "w", "BY", "w_*"]), bulks(&["b", "c", "a"]));
    assert_eq!(q(c, &["SORT", "w", "BY", "w_*", "DESC"]), bulks(&["a", "c", "b"]));
    assert_eq!(
        q(c, &["SORT", "w", "BY", "w_*", "GET", "o_*", "GET", "#", "GET", "nothere_*"]),
        arr(vec![bulk("y"), bulk("b"), nil(), bulk("z"), bulk("c"), nil(), bulk("x"), bulk("a"), nil()])
    );
    assert_eq!(q(c, &["SORT", "w", "BY", "nosort"]), bulks(&["a", "b", "c"]));
    assert_eq!(q(c, &["SORT", "w", "BY", "nosort", "DESC"]), bulks(&["c", "b", "a"]));
    assert_eq!(q(c, &["SORT", "w", "BY", "nosort", "DESC", "LIMIT", "1", "5"]), bulks(&["b", "a"]));
    for (k, f, g) in [("h_a", "9", "q"), ("h_b", "7", "r"), ("h_c", "8", "s")] {
        assert_eq!(q(c, &["HSET", k, "f", f, "g", g]), int(2));
    }
    assert_eq!(
        q(c, &["SORT", "w", "BY", "h_*->f", "GET", "h_*->g", "GET", "#"]),
        bulks(&["r", "b", "s", "c", "q", "a"])
    );
    assert_eq!(q(c, &["SORT", "w", "BY", "h_*->f", "ALPHA"]), bulks(&["b", "c", "a"]));
    assert_eq!(q(c, &["SORT", "w", "BY", "w_*", "LIMIT", "0", "1", "GET", "#"]), bulks(&["b"]));
    assert_eq!(q(c, &["SORT", "w", "GET", "#", "GET", "w_*", "ALPHA"]), bulks(&["a", "3", "b", "1", "c", "2"]));
    assert_eq!(q(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "0", "d"]), int(4));
    assert_eq!(q(c, &["SORT", "z", "BY", "nosort"]), bulks(&["d", "a", "b", "c"]));
    assert_eq!(q(c, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "2"]), bulks(&["b", "a"]));
    assert_eq!(q(c, &["SORT", "z", "ALPHA"]), bulks(&["a", "b", "c", "d"]));
    assert_eq!(q(c, &["SADD", "s", "5", "2", "9", "1"]), int(4));
    assert_eq!(q(c, &["SORT", "s", "DESC", "LIMIT", "0", "2"]), bulks(&["9", "5"]));
}

#[test]
fn store_and_sort_ro() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["RPUSH", "w", "a", "b", "c"]), int(3));
    ok(c, &["MSET", "w_a", "3", "w_b", "1", "w_c", "2", "o_a", "x", "o_b", "y"]);
    assert_eq!(q(c, &["SORT", "w", "BY", "w_*", "GET", "o_*", "STORE", "dst"]), int(3));
    assert_eq!(q(c, &["LRANGE", "dst", "0", "-1"]), bulks(&["y", "", "x"]));
    ok(c, &["SET", "dst2", "v", "EX", "100"]);
    assert_eq!(q(c, &["SORT", "w", "BY", "w_*", "STORE", "dst2"]), int(3));
    assert_eq!(q(c, &["LRANGE", "dst2", "0", "-1"]), bulks(&["b", "c", "a"]));
    assert_eq!(q(c, &["TTL", "dst2"]), int(-1));
    assert_eq!(q(c, &["SORT", "nokey", "STORE", "dst"]), int(0));
    assert_eq!(q(c, &["EXISTS", "dst"]), int(0));
    // A set stored without sorting is sorted ALPHA, for a stable result.
    assert_eq!(q(c, &["SADD", "ss", "x", "b", "a"]), int(3));
    assert_eq!(q(c, &["SORT", "ss", "BY", "nosort", "STORE", "dst"]), int(3));
    assert_eq!(q(c, &["LRANGE", "dst", "0", "-1"]), bulks(&["a", "b", "x"]));
    assert_eq!(err(c, &["SORT_RO", "w", "BY", "w_*", "STORE", "dst"]), "ERR syntax error");
    assert_eq!(q(c, &["SORT_RO", "w", "BY", "w_*"]), bulks(&["b", "c", "a"]));
}

/// A client blocked on the STORE destination is served.
#[test]
fn store_wakes_a_blocked_client() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["RPUSH", "src", "2", "1"]), int(2));
    let mut w = s.raw();
    w.send_cmd(&["BLPOP", "dst", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["SORT", "src", "STORE", "dst"]), int(2));
    assert_eq!(w.read_reply(), Reply::Array(vec![Reply::bulk("dst"), Reply::bulk("1")]));
}

/// BY and GET patterns reach keys the command does not name: a user who may
/// not read every key gets Redis 7.2's refusal (`BY nosort`, a constant
/// pattern, reads no key and is allowed).
#[test]
fn patterns_need_access_to_every_key() {
    let s = Server::start();
    let mut admin = s.client();
    ok(&mut admin, &["ACL", "SETUSER", "sorter", "on", ">pw", "~list*", "+@all"]);
    q(&mut admin, &["RPUSH", "list1", "3", "1", "2"]);
    let mut c = s.client();
    ok(&mut c, &["AUTH", "sorter", "pw"]);
    assert_eq!(
        err(&mut c, &["SORT", "list1", "BY", "w_*"]),
        "ERR BY option of SORT denied due to insufficient ACL permissions."
    );
    assert_eq!(
        err(&mut c, &["SORT", "list1", "GET", "#"]),
        "ERR GET option of SORT denied due to insufficient ACL permissions."
    );
    assert_eq!(q(&mut c, &["SORT", "list1", "BY", "nosort"]), Value::Array(vec![bulk("3"), bulk("1"), bulk("2")]));
    assert_eq!(q(&mut c, &["SORT", "list1"]), Value::Array(vec![bulk("1"), bulk("2"), bulk("3")]));
}
