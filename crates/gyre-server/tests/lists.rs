//! List commands: exact replies and error texts of Redis 7.2, in RESP2 and
//! RESP3. The blocking commands' waiting is tested in blocking_lists.rs; here
//! only their non-blocking paths (data present, argument errors).

mod common;

use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn range(c: &mut redis::Connection, key: &str) -> Value {
    q(c, &["LRANGE", key, "0", "-1"])
}

/// A raw connection that negotiated RESP3.
fn raw3(s: &Server) -> RawConn {
    let mut r = s.raw();
    r.call(&["HELLO", "3"]);
    r
}

#[test]
fn push_returns_the_length_and_orders_elements() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["RPUSH", "l", "a", "b"]), int(2));
    assert_eq!(q(&mut c, &["LPUSH", "l", "x", "y"]), int(4));
    assert_eq!(range(&mut c, "l"), bulks(&["y", "x", "a", "b"]));
    assert_eq!(q(&mut c, &["LLEN", "l"]), int(4));
    assert_eq!(q(&mut c, &["LLEN", "missing"]), int(0));
    assert_eq!(q(&mut c, &["TYPE", "l"]), status("list"));
    // Empty and binary elements are kept as they are.
    assert_eq!(q(&mut c, &["RPUSH", "bin", "", "a\r\nb\0c"]), int(2));
    assert_eq!(range(&mut c, "bin"), bulks(&["", "a\r\nb\0c"]));
    assert_eq!(err(&mut c, &["LPUSH", "l"]), "ERR wrong number of arguments for 'lpush' command");
    assert_eq!(err(&mut c, &["RPUSH", "l"]), "ERR wrong number of arguments for 'rpush' command");
}

#[test]
fn pushx_only_pushes_onto_existing_lists() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["LPUSHX", "l", "a"]), int(0));
    assert_eq!(q(&mut c, &["RPUSHX", "l", "a", "b"]), int(0));
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    q(&mut c, &["RPUSH", "l", "m"]);
    assert_eq!(q(&mut c, &["LPUSHX", "l", "a", "b"]), int(3));
    assert_eq!(q(&mut c, &["RPUSHX", "l", "y", "z"]), int(5));
    assert_eq!(range(&mut c, "l"), bulks(&["b", "a", "m", "y", "z"]));
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LPUSHX", "s", "a"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["RPUSHX", "s", "a"]), WRONGTYPE);
}

#[test]
fn lrange_index_rules() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    assert_eq!(q(&mut c, &["LRANGE", "l", "1", "2"]), bulks(&["b", "c"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "-2", "-1"]), bulks(&["d", "e"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "-100", "1"]), bulks(&["a", "b"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "3", "100"]), bulks(&["d", "e"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "3", "1"]), arr(vec![]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "5", "10"]), arr(vec![]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "0", "-6"]), arr(vec![]));
    assert_eq!(
        q(&mut c, &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"]).as_sequence().unwrap().len(),
        5
    );
    assert_eq!(q(&mut c, &["LRANGE", "missing", "0", "-1"]), arr(vec![]));
    assert_eq!(err(&mut c, &["LRANGE", "l", "a", "1"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut c, &["LRANGE", "l", "0", "1.5"]), "ERR value is not an integer or out of range");
    // The index check comes before the type check.
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LRANGE", "s", "x", "1"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut c, &["LRANGE", "s", "0", "1"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["LRANGE", "l", "0"]), "ERR wrong number of arguments for 'lrange' command");
}

#[test]
fn pop_without_count() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(q(&mut c, &["LPOP", "l"]), bulk("a"));
    assert_eq!(q(&mut c, &["RPOP", "l"]), bulk("c"));
    assert_eq!(q(&mut c, &["RPOP", "l"]), bulk("b"));
    // The emptied list is deleted.
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    assert_eq!(q(&mut c, &["LPOP", "l"]), nil());
    let mut r = s.raw();
    assert_eq!(r.call(&["LPOP", "l"]), Reply::NilBulk);
    assert_eq!(r.call(&["RPOP", "l"]), Reply::NilBulk);
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LPOP", "l"]), Reply::Null);
}

#[test]
fn pop_with_count() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    assert_eq!(q(&mut c, &["LPOP", "l", "2"]), bulks(&["a", "b"]));
    // RPOP replies in pop order: the tail first.
    assert_eq!(q(&mut c, &["RPOP", "l", "2"]), bulks(&["e", "d"]));
    assert_eq!(q(&mut c, &["LPOP", "l", "0"]), arr(vec![]));
    assert_eq!(q(&mut c, &["RPOP", "l", "10"]), bulks(&["c"]));
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));

    // A missing key with a count is a null array (RESP2 *-1, RESP3 _), even for 0.
    let mut r = s.raw();
    assert_eq!(r.call(&["LPOP", "missing", "1"]), Reply::NilArray);
    assert_eq!(r.call(&["RPOP", "missing", "0"]), Reply::NilArray);
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LPOP", "missing", "1"]), Reply::Null);
    r3.call(&["RPUSH", "k", "x"]);
    assert_eq!(r3.call(&["LPOP", "k", "0"]), Reply::Array(vec![]));
    assert_eq!(r3.call(&["LPOP", "k", "5"]), Reply::Array(vec![Reply::bulk("x")]));

    for bad in ["-1", "abc", "1.5"] {
        assert_eq!(err(&mut c, &["LPOP", "l", bad]), "ERR value is out of range, must be positive");
        assert_eq!(err(&mut c, &["RPOP", "l", bad]), "ERR value is out of range, must be positive");
    }
    assert_eq!(err(&mut c, &["LPOP", "l", "1", "2"]), "ERR wrong number of arguments for 'lpop' command");
    assert_eq!(err(&mut c, &["RPOP", "l", "1", "2"]), "ERR wrong number of arguments for 'rpop' command");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LPOP", "s"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["RPOP", "s", "2"]), WRONGTYPE);
    // The count is checked before the key.
    assert_eq!(err(&mut c, &["LPOP", "s", "-2"]), "ERR value is out of range, must be positive");
}

#[test]
fn lindex() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(q(&mut c, &["LINDEX", "l", "0"]), bulk("a"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "2"]), bulk("c"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "-3"]), bulk("a"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "3"]), nil());
    assert_eq!(q(&mut c, &["LINDEX", "l", "-4"]), nil());
    assert_eq!(q(&mut c, &["LINDEX", "l", "-9223372036854775808"]), nil());
    assert_eq!(err(&mut c, &["LINDEX", "l", "x"]), "ERR value is not an integer or out of range");
    // A missing key answers nil before the index is parsed.
    assert_eq!(q(&mut c, &["LINDEX", "missing", "x"]), nil());
    let mut r = s.raw();
    assert_eq!(r.call(&["LINDEX", "l", "9"]), Reply::NilBulk);
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LINDEX", "l", "9"]), Reply::Null);
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LINDEX", "s", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["LINDEX", "s", "x"]), WRONGTYPE);
}

#[test]
fn lset() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    ok(&mut c, &["LSET", "l", "0", "A"]);
    ok(&mut c, &["LSET", "l", "-1", "C"]);
    ok(&mut c, &["LSET", "l", "1", &"long".repeat(100)]);
    assert_eq!(range(&mut c, "l"), bulks(&["A", &"long".repeat(100), "C"]));
    ok(&mut c, &["LSET", "l", "1", ""]);
    assert_eq!(range(&mut c, "l"), bulks(&["A", "", "C"]));
    assert_eq!(err(&mut c, &["LSET", "l", "3", "x"]), "ERR index out of range");
    assert_eq!(err(&mut c, &["LSET", "l", "-4", "x"]), "ERR index out of range");
    assert_eq!(err(&mut c, &["LSET", "l", "x", "x"]), "ERR value is not an integer or out of range");
    // The key is looked up before the index is parsed.
    assert_eq!(err(&mut c, &["LSET", "missing", "0", "x"]), "ERR no such key");
    assert_eq!(err(&mut c, &["LSET", "missing", "x", "x"]), "ERR no such key");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LSET", "s", "x", "x"]), WRONGTYPE);
}

#[test]
fn linsert() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "a"]);
    assert_eq!(q(&mut c, &["LINSERT", "l", "BEFORE", "a", "x"]), int(4));
    assert_eq!(q(&mut c, &["LINSERT", "l", "after", "a", "y"]), int(5));
    assert_eq!(q(&mut c, &["LINSERT", "l", "AFTER", "b", "z"]), int(6));
    assert_eq!(range(&mut c, "l"), bulks(&["x", "a", "y", "b", "z", "a"]));
    assert_eq!(q(&mut c, &["LINSERT", "l", "BEFORE", "nope", "x"]), int(-1));
    assert_eq!(q(&mut c, &["LINSERT", "missing", "BEFORE", "a", "x"]), int(0));
    assert_eq!(q(&mut c, &["EXISTS", "missing"]), int(0));
    assert_eq!(err(&mut c, &["LINSERT", "l", "MIDDLE", "a", "x"]), "ERR syntax error");
    // The position word is checked before the key.
    assert_eq!(err(&mut c, &["LINSERT", "missing", "MIDDLE", "a", "x"]), "ERR syntax error");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LINSERT", "s", "BEFORE", "a", "x"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["LINSERT", "l", "BEFORE", "a"]), "ERR wrong number of arguments for 'linsert' command");
}

#[test]
fn lrem() {
    let s = Server::start();
    let mut c = s.client();
    let fill = |c: &mut redis::Connection| {
        q(c, &["DEL", "l"]);
        q(c, &["RPUSH", "l", "a", "b", "a", "c", "a", "b"]);
    };
    fill(&mut c);
    assert_eq!(q(&mut c, &["LREM", "l", "2", "a"]), int(2));
    assert_eq!(range(&mut c, "l"), bulks(&["b", "c", "a", "b"]));
    fill(&mut c);
    assert_eq!(q(&mut c, &["LREM", "l", "-2", "a"]), int(2));
    assert_eq!(range(&mut c, "l"), bulks(&["a", "b", "c", "b"]));
    fill(&mut c);
    assert_eq!(q(&mut c, &["LREM", "l", "0", "a"]), int(3));
    assert_eq!(range(&mut c, "l"), bulks(&["b", "c", "b"]));
    assert_eq!(q(&mut c, &["LREM", "l", "5", "zz"]), int(0));
    assert_eq!(q(&mut c, &["LREM", "l", "-100", "b"]), int(2));
    assert_eq!(q(&mut c, &["LREM", "l", "1", "c"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    assert_eq!(q(&mut c, &["LREM", "missing", "0", "a"]), int(0));
    assert_eq!(err(&mut c, &["LREM", "l", "x", "a"]), "ERR value is not an integer or out of range");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LREM", "s", "0", "a"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["LREM", "s", "x", "a"]), "ERR value is not an integer or out of range");
}

#[test]
fn ltrim() {
    let s = Server::start();
    let mut c = s.client();
    let fill = |c: &mut redis::Connection| {
        q(c, &["DEL", "l"]);
        q(c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    };
    fill(&mut c);
    ok(&mut c, &["LTRIM", "l", "1", "-2"]);
    assert_eq!(range(&mut c, "l"), bulks(&["b", "c", "d"]));
    fill(&mut c);
    ok(&mut c, &["LTRIM", "l", "-2", "100"]);
    assert_eq!(range(&mut c, "l"), bulks(&["d", "e"]));
    fill(&mut c);
    ok(&mut c, &["LTRIM", "l", "0", "-1"]);
    assert_eq!(q(&mut c, &["LLEN", "l"]), int(5));
    ok(&mut c, &["LTRIM", "l", "-100", "0"]);
    assert_eq!(range(&mut c, "l"), bulks(&["a"]));
    // An empty range deletes the list.
    ok(&mut c, &["LTRIM", "l", "2", "1"]);
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    fill(&mut c);
    ok(&mut c, &["LTRIM", "l", "5", "10"]);
    assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    ok(&mut c, &["LTRIM", "missing", "0", "1"]);
    assert_eq!(err(&mut c, &["LTRIM", "l", "0", "x"]), "ERR value is not an integer or out of range");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LTRIM", "s", "0", "1"]), WRONGTYPE);
}

#[test]
fn lpos() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(q(&mut c, &["LPOS", "l", "c"]), int(2));
    assert_eq!(q(&mut c, &["LPOS", "l", "zz"]), nil());
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "2"]), int(6));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), int(7));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-3"]), int(2));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "4"]), nil());
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "2"]), arr(vec![int(2), int(6)]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "0"]), arr(vec![int(2), int(6), int(7)]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "0", "RANK", "-1"]), arr(vec![int(7), int(6), int(2)]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "0", "RANK", "2"]), arr(vec![int(6), int(7)]));
    assert_eq!(q(&mut c, &["LPOS", "l", "zz", "COUNT", "0"]), arr(vec![]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "MAXLEN", "2"]), nil());
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "MAXLEN", "3"]), int(2));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]), arr(vec![int(2), int(6)]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1", "COUNT", "0"]), arr(vec![int(7)]));
    assert_eq!(q(&mut c, &["lpos", "l", "c", "rank", "1", "count", "1", "maxlen", "0"]), arr(vec![int(2)]));
    // Missing key: nil, or an empty array with COUNT.
    assert_eq!(q(&mut c, &["LPOS", "missing", "c"]), nil());
    assert_eq!(q(&mut c, &["LPOS", "missing", "c", "COUNT", "1"]), arr(vec![]));
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LPOS", "l", "zz"]), Reply::Null);
    let mut r = s.raw();
    assert_eq!(r.call(&["LPOS", "l", "zz"]), Reply::NilBulk);

    assert_eq!(
        err(&mut c, &["LPOS", "l", "c", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "RANK", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]), "ERR COUNT can't be negative");
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "COUNT", "x"]), "ERR COUNT can't be negative");
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]), "ERR MAXLEN can't be negative");
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "RANK"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "FOO", "1"]), "ERR syntax error");
    // Options are checked before the key.
    assert_eq!(err(&mut c, &["LPOS", "missing", "c", "FOO"]), "ERR syntax error");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LPOS", "s", "c"]), WRONGTYPE);
}

#[test]
fn lpos_rank_of_the_minimum_integer_is_out_of_range() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a"]);
    assert_eq!(
        err(&mut c, &["LPOS", "l", "a", "RANK", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
}

#[test]
fn lmove_in_every_direction() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    q(&mut c, &["RPUSH", "dst", "x"]);
    assert_eq!(q(&mut c, &["LMOVE", "src", "dst", "LEFT", "LEFT"]), bulk("a"));
    assert_eq!(q(&mut c, &["LMOVE", "src", "dst", "right", "right"]), bulk("c"));
    assert_eq!(range(&mut c, "dst"), bulks(&["a", "x", "c"]));
    assert_eq!(q(&mut c, &["LMOVE", "dst", "src", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(q(&mut c, &["LMOVE", "dst", "src", "RIGHT", "LEFT"]), bulk("c"));
    assert_eq!(range(&mut c, "src"), bulks(&["c", "b", "a"]));
    assert_eq!(range(&mut c, "dst"), bulks(&["x"]));
    // Moving the last element deletes the source and creates the destination.
    assert_eq!(q(&mut c, &["LMOVE", "dst", "new", "LEFT", "LEFT"]), bulk("x"));
    assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0));
    assert_eq!(range(&mut c, "new"), bulks(&["x"]));
    // Missing source: nil, nothing created.
    assert_eq!(q(&mut c, &["LMOVE", "missing", "dst", "LEFT", "LEFT"]), nil());
    assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0));
    let mut r = s.raw();
    assert_eq!(r.call(&["LMOVE", "missing", "dst", "LEFT", "LEFT"]), Reply::NilBulk);
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LMOVE", "missing", "dst", "LEFT", "LEFT"]), Reply::Null);

    assert_eq!(err(&mut c, &["LMOVE", "src", "dst", "UP", "LEFT"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMOVE", "src", "dst", "LEFT", "DOWN"]), "ERR syntax error");
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["LMOVE", "s", "dst", "LEFT", "LEFT"]), WRONGTYPE);
    // A destination of another type fails and leaves the source alone.
    assert_eq!(err(&mut c, &["LMOVE", "src", "s", "LEFT", "LEFT"]), WRONGTYPE);
    assert_eq!(range(&mut c, "src"), bulks(&["c", "b", "a"]));
    // ...but a missing source wins over a wrong destination.
    assert_eq!(q(&mut c, &["LMOVE", "missing", "s", "LEFT", "LEFT"]), nil());
}

#[test]
fn lmove_onto_the_same_list_rotates() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(q(&mut c, &["LMOVE", "l", "l", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(range(&mut c, "l"), bulks(&["b", "c", "a"]));
    assert_eq!(q(&mut c, &["RPOPLPUSH", "l", "l"]), bulk("a"));
    assert_eq!(range(&mut c, "l"), bulks(&["a", "b", "c"]));
    assert_eq!(q(&mut c, &["LMOVE", "l", "l", "LEFT", "LEFT"]), bulk("a"));
    assert_eq!(range(&mut c, "l"), bulks(&["a", "b", "c"]));
    // A one-element list keeps its expiry.
    q(&mut c, &["RPUSH", "one", "x"]);
    q(&mut c, &["EXPIRE", "one", "100"]);
    assert_eq!(q(&mut c, &["LMOVE", "one", "one", "RIGHT", "LEFT"]), bulk("x"));
    assert_eq!(range(&mut c, "one"), bulks(&["x"]));
    let ttl = as_int(&q(&mut c, &["TTL", "one"]));
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
}

#[test]
fn rpoplpush() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "src", "a", "b"]);
    assert_eq!(q(&mut c, &["RPOPLPUSH", "src", "dst"]), bulk("b"));
    assert_eq!(q(&mut c, &["RPOPLPUSH", "src", "dst"]), bulk("a"));
    assert_eq!(range(&mut c, "dst"), bulks(&["a", "b"]));
    assert_eq!(q(&mut c, &["EXISTS", "src"]), int(0));
    assert_eq!(q(&mut c, &["RPOPLPUSH", "src", "dst"]), nil());
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["RPOPLPUSH", "dst", "s"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["RPOPLPUSH", "s", "dst"]), WRONGTYPE);
    assert_eq!(range(&mut c, "dst"), bulks(&["a", "b"]));
}

#[test]
fn lmpop() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    q(&mut c, &["RPUSH", "c", "x"]);
    assert_eq!(q(&mut c, &["LMPOP", "3", "a", "b", "c", "LEFT"]), arr(vec![bulk("b"), bulks(&["1"])]));
    assert_eq!(q(&mut c, &["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "5"]), arr(vec![bulk("b"), bulks(&["3", "2"])]));
    assert_eq!(q(&mut c, &["EXISTS", "b"]), int(0));
    assert_eq!(q(&mut c, &["lmpop", "3", "a", "b", "c", "left", "count", "1"]), arr(vec![bulk("c"), bulks(&["x"])]));
    assert_eq!(q(&mut c, &["LMPOP", "2", "a", "b", "LEFT"]), nil());
    let mut r = s.raw();
    assert_eq!(r.call(&["LMPOP", "1", "a", "LEFT"]), Reply::NilArray);
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["LMPOP", "1", "a", "LEFT"]), Reply::Null);
    r3.call(&["RPUSH", "k", "v"]);
    assert_eq!(
        r3.call(&["LMPOP", "1", "k", "LEFT"]),
        Reply::Array(vec![Reply::bulk("k"), Reply::Array(vec![Reply::bulk("v")])])
    );

    for bad in ["0", "-1", "x"] {
        assert_eq!(err(&mut c, &["LMPOP", bad, "a", "LEFT"]), "ERR numkeys should be greater than 0");
    }
    assert_eq!(err(&mut c, &["LMPOP", "2", "a", "LEFT"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "MIDDLE"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "LEFT", "COUNT"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"]), "ERR count should be greater than 0");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "LEFT", "COUNT", "x"]), "ERR count should be greater than 0");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a", "LEFT", "FOO"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["LMPOP", "1", "a"]), "ERR wrong number of arguments for 'lmpop' command");
    ok(&mut c, &["SET", "s", "v"]);
    q(&mut c, &["RPUSH", "l", "v"]);
    // A key of another type before the first list with elements is an error...
    assert_eq!(err(&mut c, &["LMPOP", "2", "s", "l", "LEFT"]), WRONGTYPE);
    // ...one after it is never looked at.
    assert_eq!(q(&mut c, &["LMPOP", "2", "l", "s", "LEFT"]), arr(vec![bulk("l"), bulks(&["v"])]));
}

#[test]
fn blocking_forms_serve_available_data_at_once() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(q(&mut c, &["BLPOP", "a", "b", "0"]), bulks(&["b", "1"]));
    assert_eq!(q(&mut c, &["BRPOP", "a", "b", "0.5"]), bulks(&["b", "3"]));
    assert_eq!(q(&mut c, &["BLMPOP", "1", "2", "a", "b", "LEFT", "COUNT", "9"]), arr(vec![bulk("b"), bulks(&["2"])]));
    q(&mut c, &["RPUSH", "src", "x", "y"]);
    assert_eq!(q(&mut c, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]), bulk("y"));
    assert_eq!(q(&mut c, &["BRPOPLPUSH", "src", "dst", "0"]), bulk("x"));
    assert_eq!(range(&mut c, "dst"), bulks(&["x", "y"]));
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["BLPOP", "dst", "0"]), Reply::Array(vec![Reply::bulk("dst"), Reply::bulk("x")]));

    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(err(&mut c, &["BLPOP", "s", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["BRPOP", "missing", "s", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["BLMPOP", "0", "1", "s", "LEFT"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["BLMOVE", "s", "dst", "LEFT", "LEFT", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["BLMOVE", "dst", "s", "LEFT", "LEFT", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["BRPOPLPUSH", "dst", "s", "0"]), WRONGTYPE);
}

#[test]
fn blocking_forms_reject_bad_arguments() {
    let s = Server::start();
    let mut c = s.client();
    for (args, want) in [
        (&["BLPOP", "k", "x"][..], "ERR timeout is not a float or out of range"),
        (&["BLPOP", "k", "-1"], "ERR timeout is negative"),
        (&["BLMOVE", "a", "b", "UP", "LEFT", "0"], "ERR syntax error"),
        (&["BLMOVE", "a", "b", "LEFT", "LEFT", "x"], "ERR timeout is not a float or out of range"),
        // BLMOVE checks the positions before the timeout.
        (&["BLMOVE", "a", "b", "UP", "LEFT", "x"], "ERR syntax error"),
        (&["BRPOPLPUSH", "a", "b", "-0.5"], "ERR timeout is negative"),
        (&["BLMPOP", "0", "0", "k", "LEFT"], "ERR numkeys should be greater than 0"),
        (&["BLMPOP", "0", "2", "k", "LEFT"], "ERR syntax error"),
        (&["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
        // BLMPOP checks its other arguments before the timeout.
        (&["BLMPOP", "x", "1", "k", "MIDDLE"], "ERR syntax error"),
        (&["BLMPOP", "x", "1", "k", "LEFT"], "ERR timeout is not a float or out of range"),
        (&["BLMPOP", "-1", "1", "k", "LEFT"], "ERR timeout is negative"),
        (&["BLPOP", "k"], "ERR wrong number of arguments for 'blpop' command"),
        (&["BLMPOP", "0", "1", "k"], "ERR wrong number of arguments for 'blmpop' command"),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
}

#[test]
fn string_commands_on_a_list_are_wrongtype() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a"]);
    assert_eq!(err(&mut c, &["GET", "l"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["APPEND", "l", "x"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["INCR", "l"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["STRLEN", "l"]), WRONGTYPE);
    // SET replaces a list.
    ok(&mut c, &["SET", "l", "v"]);
    assert_eq!(q(&mut c, &["TYPE", "l"]), status("string"));
    ok(&mut c, &["SET", "s", "v"]);
    for args in [
        &["LPUSH", "s", "a"][..],
        &["RPUSH", "s", "a"],
        &["LLEN", "s"],
        &["LPOP", "s"],
        &["RPOP", "s"],
        &["LINDEX", "s", "0"],
        &["LPOS", "s", "a"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LSET", "s", "0", "a"],
        &["LMPOP", "1", "s", "LEFT"],
    ] {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(q(&mut c, &["GET", "s"]), bulk("v"));
}

#[test]
fn keyspace_commands_on_lists() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b", &"c".repeat(300)]);
    assert_eq!(q(&mut c, &["COPY", "l", "l2"]), int(1));
    q(&mut c, &["RPUSH", "l2", "more"]);
    assert_eq!(q(&mut c, &["LLEN", "l"]), int(3));
    assert_eq!(range(&mut c, "l2"), bulks(&["a", "b", &"c".repeat(300), "more"]));
    ok(&mut c, &["RENAME", "l2", "l3"]);
    assert_eq!(q(&mut c, &["LLEN", "l3"]), int(4));
    assert_eq!(q(&mut c, &["EXISTS", "l2"]), int(0));
    assert_eq!(q(&mut c, &["MOVE", "l3", "1"]), int(1));
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(q(&mut c, &["LINDEX", "l3", "-1"]), bulk("more"));
    assert_eq!(q(&mut c, &["TYPE", "l3"]), status("list"));
    ok(&mut c, &["SELECT", "0"]);
    ok(&mut c, &["SET", "str", "v"]);
    let scanned = q(&mut c, &["SCAN", "0", "TYPE", "list", "COUNT", "100"]);
    let Value::Array(parts) = scanned else { panic!("{scanned:?}") };
    assert_eq!(sorted_strings(&parts[1]), ["l"]);
    // Expiry applies to lists; DEL removes them.
    assert_eq!(q(&mut c, &["PEXPIRE", "l", "50"]), int(1));
    assert!(wait_for(std::time::Duration::from_secs(2), || q(&mut c, &["EXISTS", "l"]) == int(0)));
    q(&mut c, &["RPUSH", "d", "a"]);
    assert_eq!(q(&mut c, &["DEL", "d"]), int(1));
    assert_eq!(q(&mut c, &["LLEN", "d"]), int(0));
}

#[test]
fn a_write_to_an_emptied_list_starts_afresh() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a"]);
    q(&mut c, &["EXPIRE", "l", "100"]);
    assert_eq!(q(&mut c, &["LPOP", "l"]), bulk("a"));
    q(&mut c, &["RPUSH", "l", "b"]);
    assert_eq!(q(&mut c, &["TTL", "l"]), int(-1));
    // Writes keep the expiry of a list that stays.
    q(&mut c, &["EXPIRE", "l", "100"]);
    q(&mut c, &["RPUSH", "l", "c"]);
    ok(&mut c, &["LSET", "l", "0", "B"]);
    assert!(as_int(&q(&mut c, &["TTL", "l"])) > 90);
}

#[test]
fn encoding_converts_past_the_limits_and_back() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    q(&mut c, &["RPUSH", "l", "a", "b"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "l"]), bulk("listpack"));
    // The default limit is 8 KB per node: one big element converts.
    q(&mut c, &["RPUSH", "big", &"x".repeat(9000)]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "big"]), bulk("quicklist"));

    ok(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "4"]);
    q(&mut c, &["RPUSH", "n", "1", "2", "3", "4"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("listpack"));
    q(&mut c, &["RPUSH", "n", "5"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("quicklist"));
    assert_eq!(range(&mut c, "n"), bulks(&["1", "2", "3", "4", "5"]));
    // Shrinking to half the limit converts back.
    q(&mut c, &["LPOP", "n", "2"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("quicklist"));
    q(&mut c, &["RPOP", "n"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("listpack"));
    assert_eq!(range(&mut c, "n"), bulks(&["3", "4"]));
    // A list that would outgrow the limit converts even when a push adds several.
    q(&mut c, &["LPUSH", "m", "1", "2", "3", "4", "5"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "m"]), bulk("quicklist"));
}

#[test]
fn large_lists_keep_order_through_both_encodings() {
    let s = Server::start();
    let mut c = s.client();
    let n = 2000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut args = vec!["RPUSH".to_string(), "l".to_string()];
        args.extend(chunk.iter().map(|i| format!("element-{i}")));
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        q(&mut c, &refs);
    }
    assert_eq!(q(&mut c, &["LLEN", "l"]), int(n));
    assert_eq!(q(&mut c, &["LINDEX", "l", "1234"]), bulk("element-1234"));
    let r = q(&mut c, &["LRANGE", "l", "-3", "-1"]);
    assert_eq!(r, bulks(&["element-1997", "element-1998", "element-1999"]));
    assert_eq!(q(&mut c, &["LPOP", "l"]), bulk("element-0"));
    assert_eq!(q(&mut c, &["LPOS", "l", "element-1500"]), int(1499));
    ok(&mut c, &["LTRIM", "l", "0", "9"]);
    assert_eq!(q(&mut c, &["LRANGE", "l", "0", "-1"]).as_sequence().unwrap().len(), 10);
    assert_eq!(q(&mut c, &["LINDEX", "l", "9"]), bulk("element-10"));
}

#[test]
fn command_info_describes_the_list_commands() {
    let s = Server::start();
    let mut r = s.raw();
    let info = r.call(&["COMMAND", "INFO", "lpush", "lmove", "lmpop", "blpop"]);
    let rows = info.items();
    let head = |row: &Reply| (row.items()[0].text(), row.items()[1].int(), row.items()[3].int(), row.items()[4].int());
    assert_eq!(head(&rows[0]), ("lpush".to_string(), -3, 1, 1));
    assert_eq!(head(&rows[1]), ("lmove".to_string(), 5, 1, 2));
    assert_eq!(head(&rows[2]), ("lmpop".to_string(), -4, 0, 0));
    assert_eq!(head(&rows[3]), ("blpop".to_string(), -3, 1, -2));
}
