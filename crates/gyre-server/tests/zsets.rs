//! Sorted set commands: exact replies (RESP2 and RESP3), errors and encodings
//! of Redis 7.2. Validated against Redis with `GYRE_TEST_REDIS=1`. Scores in
//! these tests are mostly dyadic (1.5, 2.25) so that Redis 7.0's RESP2 double
//! spelling (`%.17g`) agrees with 7.2's; tests pinning 7.2 spellings skip
//! older servers.

mod common;

use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const SYNTAX: &str = "ERR syntax error";
const RANGE_FLOAT: &str = "ERR min or max is not a float";
const RANGE_LEX: &str = "ERR min or max not valid string range item";

fn arity(cmd: &str) -> String {
    format!("ERR wrong number of arguments for '{cmd}' command")
}

/// A raw connection that negotiated RESP3.
fn raw3(s: &Server) -> RawConn {
    let mut r = s.raw();
    let hello = r.call(&["HELLO", "3"]);
    assert!(matches!(hello, Reply::Map(_)), "HELLO 3: {hello:?}");
    r
}

fn strs(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().map(as_str).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// Runs `f` twice: with the default thresholds (listpack) and with
/// zset-max-listpack-entries 1 (so sets of two or more are skiplists).
fn both_encodings(f: impl Fn(&mut redis::Connection, &str)) {
    for (entries, enc) in [("128", "listpack"), ("1", "skiplist")] {
        let s = Server::start();
        let mut c = s.client();
        ok(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", entries]);
        f(&mut c, enc);
    }
}

fn seed(c: &mut redis::Connection) {
    assert_eq!(q(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]), int(5));
}

#[test]
fn zadd_counts_and_options() {
    both_encodings(|c, enc| {
        assert_eq!(q(c, &["ZADD", "z", "1", "a", "2", "b"]), int(2));
        assert_eq!(as_str(&q(c, &["OBJECT", "ENCODING", "z"])), enc);
        assert_eq!(q(c, &["ZADD", "z", "1", "a", "3", "b", "4", "c"]), int(1));
        assert_eq!(q(c, &["ZADD", "z", "CH", "1", "a", "5", "b", "6", "d"]), int(2));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"])), ["a", "1", "c", "4", "b", "5", "d", "6"]);
        // NX: only new members.
        assert_eq!(q(c, &["ZADD", "z", "NX", "CH", "100", "a", "7", "e"]), int(1));
        assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("1"));
        // XX: only existing members.
        assert_eq!(q(c, &["ZADD", "z", "XX", "CH", "10", "a", "8", "f"]), int(1));
        assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("10"));
        assert_eq!(q(c, &["ZSCORE", "z", "f"]), nil());
        // GT / LT update only in their direction; new members are still added.
        assert_eq!(q(c, &["ZADD", "z", "GT", "CH", "5", "a", "20", "b", "1", "g"]), int(2));
        assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("10"));
        assert_eq!(q(c, &["ZSCORE", "z", "b"]), bulk("20"));
        assert_eq!(q(c, &["ZADD", "z", "LT", "CH", "5", "a", "30", "b"]), int(1));
        assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("5"));
        assert_eq!(q(c, &["ZADD", "z", "XX", "GT", "CH", "50", "a", "1", "h"]), int(1));
        assert_eq!(q(c, &["ZSCORE", "z", "h"]), nil());
        // The same member twice: the later pair wins, each pair counts.
        assert_eq!(q(c, &["ZADD", "d", "1", "x", "2", "x"]), int(1));
        assert_eq!(q(c, &["ZADD", "d2", "CH", "1", "x", "2", "x"]), int(2));
        assert_eq!(q(c, &["ZSCORE", "d", "x"]), bulk("2"));
        // Same score is not a change.
        assert_eq!(q(c, &["ZADD", "d", "CH", "2", "x"]), int(0));
        // XX on a missing key creates nothing.
        assert_eq!(q(c, &["ZADD", "nokey", "XX", "1", "a"]), int(0));
        assert_eq!(q(c, &["EXISTS", "nokey"]), int(0));
        // Options are case-insensitive; scores parse as Redis parses them.
        assert_eq!(
            q(c, &["ZADD", "f", "nx", "ch", "+inf", "p", "-INF", "m", "0x10", "h", "1e3", "k", "-0", "n"]),
            int(5)
        );
        // A listpack stores -0 as the integer 0; a skiplist keeps the sign.
        let zero = if enc == "listpack" { "0" } else { "-0" };
        assert_eq!(
            strs(&q(c, &["ZRANGE", "f", "0", "-1", "WITHSCORES"])),
            ["m", "-inf", "n", zero, "h", "16", "k", "1000", "p", "inf"]
        );
    });
}

#[test]
fn zadd_incr() {
    both_encodings(|c, _| {
        assert_eq!(q(c, &["ZADD", "z", "INCR", "1.5", "a"]), bulk("1.5"));
        assert_eq!(q(c, &["ZADD", "z", "INCR", "2", "a"]), bulk("3.5"));
        assert_eq!(q(c, &["ZADD", "z", "NX", "INCR", "2", "a"]), nil());
        assert_eq!(q(c, &["ZADD", "z", "XX", "INCR", "2", "b"]), nil());
        assert_eq!(q(c, &["ZADD", "z", "GT", "INCR", "-1", "a"]), nil());
        assert_eq!(q(c, &["ZADD", "z", "LT", "INCR", "-1", "a"]), bulk("2.5"));
        assert_eq!(q(c, &["ZADD", "z", "INCR", "0", "a"]), bulk("2.5"));
        assert_eq!(q(c, &["ZADD", "z", "INCR", "inf", "a"]), bulk("inf"));
        assert_eq!(err(c, &["ZADD", "z", "INCR", "-inf", "a"]), "ERR resulting score is not a number (NaN)");
        assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("inf"));
        assert_eq!(q(c, &["ZADD", "z", "XX", "INCR", "2", "nokey"]), nil());
    });
}

#[test]
fn zadd_errors() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(err(c, &["ZADD", "z"]), arity("zadd"));
    assert_eq!(err(c, &["ZADD", "z", "1"]), arity("zadd"));
    assert_eq!(err(c, &["ZADD", "z", "1", "a", "2"]), SYNTAX);
    assert_eq!(err(c, &["ZADD", "z", "NX", "XX"]), SYNTAX);
    assert_eq!(err(c, &["ZADD", "z", "NX", "1"]), SYNTAX);
    assert_eq!(
        err(c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    let gtlt = "ERR GT, LT, and/or NX options at the same time are not compatible";
    assert_eq!(err(c, &["ZADD", "z", "GT", "LT", "1", "a"]), gtlt);
    assert_eq!(err(c, &["ZADD", "z", "NX", "GT", "1", "a"]), gtlt);
    assert_eq!(err(c, &["ZADD", "z", "LT", "NX", "1", "a"]), gtlt);
    assert_eq!(
        err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(err(c, &["ZADD", "z", "x", "a"]), NOT_FLOAT);
    assert_eq!(err(c, &["ZADD", "z", "1", "a", "nan", "b"]), NOT_FLOAT);
    assert_eq!(err(c, &["ZADD", "z", " 1", "a"]), NOT_FLOAT);
    assert_eq!(err(c, &["ZADD", "z", "1e400", "a"]), NOT_FLOAT);
    assert_eq!(err(c, &["ZADD", "z", "", "a"]), NOT_FLOAT);
    // Nothing was written by the failed commands.
    assert_eq!(q(c, &["EXISTS", "z"]), int(0));
    ok(c, &["SET", "s", "x"]);
    assert_eq!(err(c, &["ZADD", "s", "1", "a"]), WRONGTYPE);
    // A bad score is reported before the wrong type.
    assert_eq!(err(c, &["ZADD", "s", "x", "a"]), NOT_FLOAT);
    assert_eq!(err(c, &["ZINCRBY", "s", "1", "a"]), WRONGTYPE);
}

#[test]
fn zincrby() {
    both_encodings(|c, _| {
        assert_eq!(q(c, &["ZINCRBY", "z", "2.5", "a"]), bulk("2.5"));
        assert_eq!(q(c, &["ZINCRBY", "z", "-1", "a"]), bulk("1.5"));
        assert_eq!(q(c, &["ZINCRBY", "z", "10", "b"]), bulk("10"));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "-1"])), ["a", "b"]);
        assert_eq!(q(c, &["ZINCRBY", "z", "inf", "a"]), bulk("inf"));
        assert_eq!(err(c, &["ZINCRBY", "z", "-inf", "a"]), "ERR resulting score is not a number (NaN)");
        assert_eq!(err(c, &["ZINCRBY", "z", "x", "a"]), NOT_FLOAT);
        assert_eq!(err(c, &["ZINCRBY", "z", "nan", "a"]), NOT_FLOAT);
        // ZINCRBY shares ZADD's option parsing.
        assert_eq!(err(c, &["ZINCRBY", "z", "nx", "a"]), SYNTAX);
        assert_eq!(err(c, &["ZINCRBY", "z", "1"]), arity("zincrby"));
    });
}

#[test]
fn zrem_zcard_zscore_zmscore() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(q(c, &["ZCARD", "z"]), int(5));
        assert_eq!(q(c, &["ZCARD", "missing"]), int(0));
        assert_eq!(q(c, &["ZSCORE", "z", "c"]), bulk("3"));
        assert_eq!(q(c, &["ZSCORE", "z", "x"]), nil());
        assert_eq!(q(c, &["ZSCORE", "missing", "x"]), nil());
        assert_eq!(q(c, &["ZMSCORE", "z", "a", "x", "e"]), arr(vec![bulk("1"), nil(), bulk("5")]));
        assert_eq!(q(c, &["ZMSCORE", "missing", "a", "b"]), arr(vec![nil(), nil()]));
        assert_eq!(q(c, &["ZREM", "z", "a", "a", "x", "b"]), int(2));
        assert_eq!(q(c, &["ZREM", "missing", "a"]), int(0));
        assert_eq!(q(c, &["ZCARD", "z"]), int(3));
        assert_eq!(q(c, &["ZREM", "z", "c", "d", "e"]), int(3));
        assert_eq!(q(c, &["EXISTS", "z"]), int(0));
        assert_eq!(err(c, &["ZREM", "z"]), arity("zrem"));
        assert_eq!(err(c, &["ZMSCORE", "z"]), arity("zmscore"));
        assert_eq!(err(c, &["ZSCORE", "z"]), arity("zscore"));
        assert_eq!(err(c, &["ZCARD"]), arity("zcard"));
        ok(c, &["SET", "s", "x"]);
        for cmd in [&["ZREM", "s", "a"][..], &["ZCARD", "s"], &["ZSCORE", "s", "a"], &["ZMSCORE", "s", "a"]] {
            assert_eq!(err(c, cmd), WRONGTYPE, "{cmd:?}");
        }
    });
}

#[test]
fn zrange_by_rank() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "-1"])), ["a", "b", "c", "d", "e"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "1", "2"])), ["b", "c"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "-2", "-1"])), ["d", "e"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "-100", "1"])), ["a", "b"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "3", "100"])), ["d", "e"]);
        assert_eq!(q(c, &["ZRANGE", "z", "3", "1"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGE", "z", "5", "10"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGE", "z", "0", "-6"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGE", "missing", "0", "-1"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "1", "WITHSCORES"])), ["a", "1", "b", "2"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "1", "REV", "WITHSCORES"])), ["e", "5", "d", "4"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "-2", "-1", "REV"])), ["b", "a"]);
        assert_eq!(strs(&q(c, &["ZREVRANGE", "z", "0", "-1"])), ["e", "d", "c", "b", "a"]);
        assert_eq!(strs(&q(c, &["ZREVRANGE", "z", "1", "2", "withscores"])), ["d", "4", "c", "3"]);
        // LIMIT with a rank range is refused, except LIMIT x -1.
        assert_eq!(
            err(c, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        );
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "1", "LIMIT", "5", "-1"])), ["a", "b"]);
        assert_eq!(err(c, &["ZRANGE", "z", "a", "1"]), NOT_INT);
        assert_eq!(err(c, &["ZRANGE", "z", "0", "1", "BOGUS"]), SYNTAX);
        assert_eq!(err(c, &["ZREVRANGE", "z", "0", "1", "REV"]), SYNTAX);
        assert_eq!(err(c, &["ZRANGE", "z", "0"]), arity("zrange"));
        assert_eq!(err(c, &["ZRANGE", "z", "0", "1", "LIMIT", "0"]), SYNTAX);
        assert_eq!(err(c, &["ZRANGE", "z", "0", "1", "LIMIT", "x", "1"]), NOT_INT);
    });
}

#[test]
fn zrange_by_score() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "2", "4"])), ["b", "c", "d"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "(2", "(4"])), ["c"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "-inf", "+inf"])), ["a", "b", "c", "d", "e"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "-inf", "2", "WITHSCORES"])), ["a", "1", "b", "2"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "2"])), ["b", "c"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "3", "-1"])), ["d", "e"]);
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "-1", "2"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "5", "2"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "0", "0"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "4", "2"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "(3", "3"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", "3", "3"])), ["c"]);
        assert_eq!(strs(&q(c, &["ZREVRANGEBYSCORE", "z", "4", "2"])), ["d", "c", "b"]);
        assert_eq!(
            strs(&q(c, &["ZREVRANGEBYSCORE", "z", "+inf", "(2", "WITHSCORES", "LIMIT", "1", "2"])),
            ["d", "4", "c", "3"]
        );
        assert_eq!(q(c, &["ZREVRANGEBYSCORE", "z", "2", "4"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "(1", "3", "BYSCORE"])), ["b", "c"]);
        assert_eq!(
            strs(&q(c, &["ZRANGE", "z", "3", "(1", "BYSCORE", "REV", "LIMIT", "0", "1", "WITHSCORES"])),
            ["c", "3"]
        );
        // strtod's leniency: leading spaces, overflow, an empty bound (zero).
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "z", " 2", "1e400"])), ["b", "c", "d", "e"]);
        assert_eq!(q(c, &["ZRANGEBYSCORE", "z", "", "("]), arr(vec![]));
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "a", "1"]), RANGE_FLOAT);
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "1", "2 "]), RANGE_FLOAT);
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "nan", "1"]), RANGE_FLOAT);
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "[1", "2"]), RANGE_FLOAT);
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "0", "1", "REV"]), SYNTAX);
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "0", "1", "BYLEX"]), SYNTAX);
        // Options are checked before the range.
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "a", "1", "LIMIT", "x", "1"]), NOT_INT);
        assert_eq!(q(c, &["ZRANGEBYSCORE", "missing", "0", "1"]), arr(vec![]));
    });
}

#[test]
fn zcount_and_equal_scores() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(q(c, &["ZCOUNT", "z", "-inf", "+inf"]), int(5));
        assert_eq!(q(c, &["ZCOUNT", "z", "(1", "(5"]), int(3));
        assert_eq!(q(c, &["ZCOUNT", "z", "5", "1"]), int(0));
        assert_eq!(q(c, &["ZCOUNT", "missing", "0", "1"]), int(0));
        assert_eq!(err(c, &["ZCOUNT", "z", "x", "1"]), RANGE_FLOAT);
        assert_eq!(q(c, &["ZADD", "e", "1", "x", "1", "b", "1", "a", "0", "z", "2", "a2"]), int(5));
        assert_eq!(strs(&q(c, &["ZRANGEBYSCORE", "e", "1", "1"])), ["a", "b", "x"]);
        assert_eq!(q(c, &["ZCOUNT", "e", "1", "1"]), int(3));
    });
}

#[test]
fn lex_ranges() {
    both_encodings(|c, _| {
        assert_eq!(q(c, &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f", "0", "g"]), int(7));
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "-", "+"])), ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "[b", "(e"])), ["b", "c", "d"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "(b", "[e"])), ["c", "d", "e"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "-", "[c", "LIMIT", "1", "5"])), ["b", "c"]);
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "[aa", "(c"])), ["b"]);
        assert_eq!(q(c, &["ZRANGEBYLEX", "l", "+", "-"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYLEX", "l", "-", "-"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANGEBYLEX", "l", "[c", "(c"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZRANGEBYLEX", "l", "[c", "[c"])), ["c"]);
        assert_eq!(strs(&q(c, &["ZREVRANGEBYLEX", "l", "[e", "(b"])), ["e", "d", "c"]);
        assert_eq!(strs(&q(c, &["ZREVRANGEBYLEX", "l", "+", "-", "LIMIT", "1", "2"])), ["f", "e"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "l", "[f", "-", "BYLEX", "REV"])), ["f", "e", "d", "c", "b", "a"]);
        assert_eq!(strs(&q(c, &["ZRANGE", "l", "(a", "[c", "BYLEX"])), ["b", "c"]);
        assert_eq!(q(c, &["ZLEXCOUNT", "l", "-", "+"]), int(7));
        assert_eq!(q(c, &["ZLEXCOUNT", "l", "(a", "[c"]), int(2));
        assert_eq!(q(c, &["ZLEXCOUNT", "l", "[z", "+"]), int(0));
        assert_eq!(q(c, &["ZLEXCOUNT", "missing", "-", "+"]), int(0));
        assert_eq!(err(c, &["ZRANGEBYLEX", "l", "a", "+"]), RANGE_LEX);
        assert_eq!(err(c, &["ZRANGEBYLEX", "l", "-", "++"]), RANGE_LEX);
        assert_eq!(err(c, &["ZLEXCOUNT", "l", "", "+"]), RANGE_LEX);
        assert_eq!(
            err(c, &["ZRANGE", "l", "-", "+", "BYLEX", "WITHSCORES"]),
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
        );
        assert_eq!(
            err(c, &["ZRANGEBYLEX", "l", "-", "+", "WITHSCORES"]),
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
        );
        assert_eq!(err(c, &["ZRANGE", "l", "-", "+", "BYLEX", "BYSCORE"]), SYNTAX);
        assert_eq!(q(c, &["ZREMRANGEBYLEX", "l", "[b", "(d"]), int(2));
        assert_eq!(strs(&q(c, &["ZRANGE", "l", "0", "-1"])), ["a", "d", "e", "f", "g"]);
        assert_eq!(q(c, &["ZREMRANGEBYLEX", "l", "-", "+"]), int(5));
        assert_eq!(q(c, &["EXISTS", "l"]), int(0));
        assert_eq!(err(c, &["ZREMRANGEBYLEX", "l", "x", "+"]), RANGE_LEX);
    });
}

#[test]
fn zrank_and_zrevrank() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(q(c, &["ZRANK", "z", "a"]), int(0));
        assert_eq!(q(c, &["ZRANK", "z", "e"]), int(4));
        assert_eq!(q(c, &["ZREVRANK", "z", "a"]), int(4));
        assert_eq!(q(c, &["ZREVRANK", "z", "d"]), int(1));
        assert_eq!(q(c, &["ZRANK", "z", "x"]), nil());
        assert_eq!(q(c, &["ZRANK", "missing", "x"]), nil());
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZRANK", "s", "a"]), WRONGTYPE);
    });
}

#[test]
fn zrank_withscore() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    seed(c);
    assert_eq!(q(c, &["ZRANK", "z", "b", "WITHSCORE"]), arr(vec![int(1), bulk("2")]));
    assert_eq!(q(c, &["ZREVRANK", "z", "b", "withscore"]), arr(vec![int(3), bulk("2")]));
    assert_eq!(q(c, &["ZRANK", "z", "x", "WITHSCORE"]), nil());
    assert_eq!(q(c, &["ZRANK", "missing", "x", "WITHSCORE"]), nil());
    assert_eq!(err(c, &["ZRANK", "z", "b", "WITHSCORES"]), SYNTAX);
    assert_eq!(err(c, &["ZRANK", "z", "b", "WITHSCORE", "x"]), arity("zrank"));
    let mut r = s.raw();
    assert_eq!(r.call(&["ZRANK", "z", "x", "WITHSCORE"]), Reply::NilArray);
    assert_eq!(r.call(&["ZRANK", "z", "x"]), Reply::NilBulk);
    let mut r = raw3(&s);
    assert_eq!(r.call(&["ZRANK", "z", "c", "WITHSCORE"]), Reply::Array(vec![Reply::Int(2), Reply::Double("3".into())]));
    assert_eq!(r.call(&["ZRANK", "z", "x", "WITHSCORE"]), Reply::Null);
}

#[test]
fn zremrange_by_rank_and_score() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(q(c, &["ZREMRANGEBYRANK", "z", "1", "2"]), int(2));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "-1"])), ["a", "d", "e"]);
        assert_eq!(q(c, &["ZREMRANGEBYRANK", "z", "5", "10"]), int(0));
        assert_eq!(q(c, &["ZREMRANGEBYRANK", "z", "-1", "-1"]), int(1));
        assert_eq!(q(c, &["ZREMRANGEBYSCORE", "z", "(1", "+inf"]), int(1));
        assert_eq!(strs(&q(c, &["ZRANGE", "z", "0", "-1"])), ["a"]);
        assert_eq!(q(c, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), int(1));
        assert_eq!(q(c, &["EXISTS", "z"]), int(0));
        assert_eq!(q(c, &["ZREMRANGEBYRANK", "missing", "0", "-1"]), int(0));
        assert_eq!(err(c, &["ZREMRANGEBYRANK", "z", "x", "1"]), NOT_INT);
        assert_eq!(err(c, &["ZREMRANGEBYSCORE", "z", "x", "1"]), RANGE_FLOAT);
        assert_eq!(err(c, &["ZREMRANGEBYSCORE", "z", "1"]), arity("zremrangebyscore"));
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZREMRANGEBYRANK", "s", "0", "1"]), WRONGTYPE);
        assert_eq!(err(c, &["ZREMRANGEBYSCORE", "s", "0", "1"]), WRONGTYPE);
        assert_eq!(err(c, &["ZREMRANGEBYLEX", "s", "-", "+"]), WRONGTYPE);
    });
}

#[test]
fn zpopmin_and_zpopmax() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(strs(&q(c, &["ZPOPMIN", "z"])), ["a", "1"]);
        assert_eq!(strs(&q(c, &["ZPOPMAX", "z"])), ["e", "5"]);
        assert_eq!(strs(&q(c, &["ZPOPMIN", "z", "2"])), ["b", "2", "c", "3"]);
        assert_eq!(q(c, &["ZPOPMIN", "z", "0"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZPOPMAX", "z", "10"])), ["d", "4"]);
        assert_eq!(q(c, &["EXISTS", "z"]), int(0));
        assert_eq!(q(c, &["ZPOPMIN", "z"]), arr(vec![]));
        assert_eq!(q(c, &["ZPOPMAX", "z", "3"]), arr(vec![]));
        let positive = "ERR value is out of range, must be positive";
        assert_eq!(err(c, &["ZPOPMIN", "z", "-1"]), positive);
        assert_eq!(err(c, &["ZPOPMIN", "z", "x"]), positive);
        assert_eq!(err(c, &["ZPOPMIN", "z", "1", "2"]), SYNTAX);
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZPOPMIN", "s"]), WRONGTYPE);
        assert_eq!(err(c, &["ZPOPMAX", "s", "0"]), WRONGTYPE);
    });
}

#[test]
fn resp3_reply_shapes() {
    let s = Server::start();
    let mut r = raw3(&s);
    let d = |v: &str| Reply::Double(v.to_string());
    let pair = |m: &str, v: &str| Reply::Array(vec![Reply::bulk(m), Reply::Double(v.to_string())]);
    assert_eq!(r.call(&["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]), Reply::Int(3));
    assert_eq!(r.call(&["ZSCORE", "z", "a"]), d("1.5"));
    assert_eq!(r.call(&["ZSCORE", "z", "x"]), Reply::Null);
    assert_eq!(r.call(&["ZMSCORE", "z", "a", "x"]), Reply::Array(vec![d("1.5"), Reply::Null]));
    assert_eq!(r.call(&["ZINCRBY", "z", "1", "a"]), d("2.5"));
    assert_eq!(r.call(&["ZADD", "z", "INCR", "1", "a"]), d("3.5"));
    assert_eq!(r.call(&["ZADD", "z", "NX", "INCR", "1", "a"]), Reply::Null);
    assert_eq!(r.call(&["ZRANGE", "z", "0", "1", "WITHSCORES"]), Reply::Array(vec![pair("b", "2"), pair("c", "3")]));
    assert_eq!(r.call(&["ZRANGE", "z", "0", "0"]), Reply::Array(vec![Reply::bulk("b")]));
    assert_eq!(
        r.call(&["ZRANGEBYSCORE", "z", "3", "+inf", "WITHSCORES"]),
        Reply::Array(vec![pair("c", "3"), pair("a", "3.5")])
    );
    assert_eq!(r.call(&["ZRANGE", "missing", "0", "-1"]), Reply::Array(vec![]));
    assert_eq!(r.call(&["ZPOPMIN", "z"]), Reply::Array(vec![Reply::bulk("b"), d("2")]));
    assert_eq!(r.call(&["ZPOPMIN", "z", "1"]), Reply::Array(vec![pair("c", "3")]));
    assert_eq!(r.call(&["ZPOPMAX", "missing"]), Reply::Array(vec![]));
    assert_eq!(r.call(&["ZRANDMEMBER", "z", "1", "WITHSCORES"]), Reply::Array(vec![pair("a", "3.5")]));
    assert_eq!(
        r.call(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]),
        Reply::Array(vec![pair("a", "3.5"), pair("a", "3.5")])
    );
    assert_eq!(r.call(&["ZRANDMEMBER", "missing"]), Reply::Null);
    assert_eq!(
        r.call(&["ZSCAN", "z", "0"]),
        Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![Reply::bulk("a"), Reply::bulk("3.5")])])
    );
    assert_eq!(r.call(&["ZADD", "u", "1", "a"]), Reply::Int(1));
    assert_eq!(r.call(&["ZUNION", "2", "z", "u", "WITHSCORES"]), Reply::Array(vec![pair("a", "4.5")]));
    assert_eq!(
        r.call(&["ZMPOP", "1", "z", "MIN"]),
        Reply::Array(vec![Reply::bulk("z"), Reply::Array(vec![pair("a", "3.5")])])
    );
    assert_eq!(r.call(&["ZMPOP", "1", "z", "MIN"]), Reply::Null);
}

#[test]
fn resp2_reply_shapes() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["ZSCORE", "z", "a"]), Reply::NilBulk);
    assert_eq!(r.call(&["ZRANDMEMBER", "z"]), Reply::NilBulk);
    assert_eq!(r.call(&["ZADD", "z", "XX", "INCR", "1", "a"]), Reply::NilBulk);
    assert_eq!(r.call(&["ZMPOP", "1", "z", "MIN"]), Reply::NilArray);
    assert_eq!(r.call(&["ZADD", "z", "1", "a"]), Reply::Int(1));
    assert_eq!(r.call(&["ZMSCORE", "z", "a", "b"]), Reply::Array(vec![Reply::bulk("1"), Reply::NilBulk]));
    assert_eq!(
        r.call(&["ZMPOP", "2", "missing", "z", "MAX", "COUNT", "5"]),
        Reply::Array(vec![
            Reply::bulk("z"),
            Reply::Array(vec![Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1")])])
        ])
    );
}

#[test]
fn doubles_spelled_as_redis_7_2() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["ZADD", "z", "0.1", "a", "1e20", "b", "1.5e-7", "c", "123456789.125", "d"]), int(4));
    assert_eq!(q(c, &["ZSCORE", "z", "a"]), bulk("0.1"));
    assert_eq!(q(c, &["ZINCRBY", "z", "0.2", "a"]), bulk("0.30000000000000004"));
    assert_eq!(
        strs(&q(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"])),
        ["c", "1.5e-7", "a", "0.30000000000000004", "d", "123456789.125", "b", "1e+20"]
    );
    // ZSCAN spells listpack scores as stored (Redis's d2string).
    let Value::Array(parts) = q(c, &["ZSCAN", "z", "0"]) else { panic!() };
    assert_eq!(strs(&parts[1])[3], "0.30000000000000004");
}

#[test]
fn zrangestore() {
    both_encodings(|c, _| {
        seed(c);
        assert_eq!(q(c, &["ZRANGESTORE", "dst", "z", "1", "2"]), int(2));
        assert_eq!(strs(&q(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"])), ["b", "2", "c", "3"]);
        assert_eq!(q(c, &["ZRANGESTORE", "dst", "z", "4", "(2", "BYSCORE", "REV", "LIMIT", "0", "1"]), int(1));
        assert_eq!(strs(&q(c, &["ZRANGE", "dst", "0", "-1"])), ["d"]);
        assert_eq!(q(c, &["ZRANGESTORE", "dst", "z", "0", "-1", "REV"]), int(5));
        assert_eq!(strs(&q(c, &["ZRANGE", "dst", "0", "-1"])), ["a", "b", "c", "d", "e"]);
        // An empty result deletes the destination, whatever its type.
        ok(c, &["SET", "str", "x"]);
        assert_eq!(q(c, &["ZRANGESTORE", "str", "z", "10", "20"]), int(0));
        assert_eq!(q(c, &["EXISTS", "str"]), int(0));
        ok(c, &["SET", "str", "x"]);
        assert_eq!(q(c, &["ZRANGESTORE", "str", "missing", "0", "-1"]), int(0));
        assert_eq!(q(c, &["EXISTS", "str"]), int(0));
        // The destination is overwritten, losing any TTL.
        ok(c, &["SET", "str", "x", "EX", "100"]);
        assert_eq!(q(c, &["ZRANGESTORE", "str", "z", "0", "0"]), int(1));
        assert_eq!(q(c, &["TYPE", "str"]), status("zset"));
        assert_eq!(q(c, &["TTL", "str"]), int(-1));
        assert_eq!(err(c, &["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"]), SYNTAX);
        assert_eq!(err(c, &["ZRANGESTORE", "dst", "str2", "0"]), arity("zrangestore"));
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZRANGESTORE", "dst", "s", "0", "-1"]), WRONGTYPE);
    });
}

#[test]
fn zrandmember() {
    both_encodings(|c, _| {
        seed(c);
        let all = ["a", "b", "c", "d", "e"];
        let one = as_str(&q(c, &["ZRANDMEMBER", "z"]));
        assert!(all.contains(&one.as_str()));
        let mut got = strs(&q(c, &["ZRANDMEMBER", "z", "10"]));
        got.sort();
        assert_eq!(got, all);
        let three = strs(&q(c, &["ZRANDMEMBER", "z", "3"]));
        let mut distinct = three.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3);
        assert_eq!(strs(&q(c, &["ZRANDMEMBER", "z", "-20"])).len(), 20);
        let ws = strs(&q(c, &["ZRANDMEMBER", "z", "-3", "WITHSCORES"]));
        assert_eq!(ws.len(), 6);
        for p in ws.chunks(2) {
            assert_eq!(q(c, &["ZSCORE", "z", &p[0]]), bulk(&p[1]));
        }
        assert_eq!(q(c, &["ZRANDMEMBER", "z", "0"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANDMEMBER", "missing", "5"]), arr(vec![]));
        assert_eq!(q(c, &["ZRANDMEMBER", "missing"]), nil());
        assert_eq!(err(c, &["ZRANDMEMBER", "z", "x"]), NOT_INT);
        assert_eq!(err(c, &["ZRANDMEMBER", "z", "1", "WITHSCORE"]), SYNTAX);
        assert_eq!(err(c, &["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"]), SYNTAX);
        assert_eq!(err(c, &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]), "ERR value is out of range");
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZRANDMEMBER", "s"]), WRONGTYPE);
        assert_eq!(err(c, &["ZRANDMEMBER", "s", "1"]), WRONGTYPE);
    });
}

#[test]
fn zscan() {
    both_encodings(|c, enc| {
        let members: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        for (i, m) in members.iter().enumerate() {
            q(c, &["ZADD", "z", &i.to_string(), m]);
        }
        let mut seen = std::collections::BTreeMap::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let v = q(c, &["ZSCAN", "z", &cursor, "COUNT", "7"]);
            let Value::Array(parts) = v else { panic!() };
            cursor = as_str(&parts[0]);
            for p in strs(&parts[1]).chunks(2) {
                seen.insert(p[0].clone(), p[1].clone());
            }
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 40);
        assert_eq!(seen["m7"], "7");
        if enc == "listpack" {
            assert_eq!(calls, 1);
        }
        let v = q(c, &["ZSCAN", "z", "0", "MATCH", "m1*", "COUNT", "100"]);
        let Value::Array(parts) = v else { panic!() };
        let got: Vec<String> = strs(&parts[1]).chunks(2).map(|p| p[0].clone()).collect();
        assert_eq!(got.len(), 11);
        assert_eq!(q(c, &["ZSCAN", "missing", "0"]), arr(vec![bulk("0"), arr(vec![])]));
        assert_eq!(err(c, &["ZSCAN", "z", "x"]), "ERR invalid cursor");
        assert_eq!(err(c, &["ZSCAN", "z", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(err(c, &["ZSCAN", "z", "0", "COUNT"]), SYNTAX);
        assert_eq!(err(c, &["ZSCAN", "z", "0", "BOGUS", "1"]), SYNTAX);
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZSCAN", "s", "0"]), WRONGTYPE);
    });
}

#[test]
fn union_inter_diff() {
    both_encodings(|c, _| {
        assert_eq!(q(c, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]), int(3));
        assert_eq!(q(c, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]), int(3));
        assert_eq!(q(c, &["SADD", "set", "x", "w"]), int(2));
        assert_eq!(strs(&q(c, &["ZUNION", "2", "a", "b", "WITHSCORES"])), ["x", "1", "y", "12", "z", "23", "w", "30"]);
        assert_eq!(strs(&q(c, &["ZUNION", "2", "a", "b"])), ["x", "y", "z", "w"]);
        assert_eq!(
            strs(&q(c, &["ZUNION", "2", "a", "b", "WEIGHTS", "2", "0.5", "WITHSCORES"])),
            ["x", "2", "y", "9", "w", "15", "z", "16"]
        );
        assert_eq!(
            strs(&q(c, &["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"])),
            ["x", "1", "y", "2", "z", "3", "w", "30"]
        );
        assert_eq!(
            strs(&q(c, &["ZUNION", "2", "a", "b", "aggregate", "max", "WITHSCORES"])),
            ["x", "1", "y", "10", "z", "20", "w", "30"]
        );
        assert_eq!(
            strs(&q(c, &["ZUNION", "3", "a", "missing", "set", "WITHSCORES"])),
            ["w", "1", "x", "2", "y", "2", "z", "3"]
        );
        assert_eq!(strs(&q(c, &["ZINTER", "2", "a", "b", "WITHSCORES"])), ["y", "12", "z", "23"]);
        assert_eq!(strs(&q(c, &["ZINTER", "2", "a", "set", "WITHSCORES"])), ["x", "2"]);
        assert_eq!(q(c, &["ZINTER", "2", "a", "missing"]), arr(vec![]));
        assert_eq!(strs(&q(c, &["ZDIFF", "2", "a", "b", "WITHSCORES"])), ["x", "1"]);
        assert_eq!(strs(&q(c, &["ZDIFF", "1", "a"])), ["x", "y", "z"]);
        assert_eq!(q(c, &["ZDIFF", "2", "missing", "a"]), arr(vec![]));
        assert_eq!(q(c, &["ZINTERCARD", "2", "a", "b"]), int(2));
        assert_eq!(q(c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
        assert_eq!(q(c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]), int(2));
        // +inf and -inf sum to 0; inf * 0 weight is 0.
        assert_eq!(q(c, &["ZADD", "p", "inf", "x"]), int(1));
        assert_eq!(q(c, &["ZADD", "n", "-inf", "x"]), int(1));
        assert_eq!(strs(&q(c, &["ZUNION", "2", "p", "n", "WITHSCORES"])), ["x", "0"]);
        assert_eq!(strs(&q(c, &["ZUNION", "1", "p", "WEIGHTS", "0", "WITHSCORES"])), ["x", "0"]);
        // STORE forms.
        assert_eq!(q(c, &["ZUNIONSTORE", "u", "2", "a", "b"]), int(4));
        assert_eq!(strs(&q(c, &["ZRANGE", "u", "0", "-1", "WITHSCORES"])), ["x", "1", "y", "12", "z", "23", "w", "30"]);
        assert_eq!(q(c, &["ZINTERSTORE", "i", "2", "a", "b", "WEIGHTS", "1", "2", "AGGREGATE", "MAX"]), int(2));
        assert_eq!(strs(&q(c, &["ZRANGE", "i", "0", "-1", "WITHSCORES"])), ["y", "20", "z", "40"]);
        assert_eq!(q(c, &["ZDIFFSTORE", "d", "2", "a", "b"]), int(1));
        assert_eq!(strs(&q(c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"])), ["x", "1"]);
        // A destination that is also a source; an empty result deletes it.
        assert_eq!(q(c, &["ZUNIONSTORE", "a", "2", "a", "a"]), int(3));
        assert_eq!(strs(&q(c, &["ZRANGE", "a", "0", "-1", "WITHSCORES"])), ["x", "2", "y", "4", "z", "6"]);
        assert_eq!(q(c, &["ZINTERSTORE", "d", "2", "a", "missing"]), int(0));
        assert_eq!(q(c, &["EXISTS", "d"]), int(0));
        ok(c, &["SET", "str", "v"]);
        assert_eq!(q(c, &["ZDIFFSTORE", "str", "1", "b"]), int(3));
        assert_eq!(q(c, &["TYPE", "str"]), status("zset"));
    });
}

#[test]
fn union_inter_diff_errors() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["ZADD", "a", "1", "x"]), int(1));
    ok(c, &["SET", "s", "v"]);
    assert_eq!(err(c, &["ZUNION", "0", "a"]), "ERR at least 1 input key is needed for 'zunion' command");
    assert_eq!(err(c, &["ZINTERSTORE", "d", "0", "a"]), "ERR at least 1 input key is needed for 'zinterstore' command");
    assert_eq!(err(c, &["ZINTERCARD", "0", "a"]), "ERR at least 1 input key is needed for 'zintercard' command");
    assert_eq!(err(c, &["ZUNION", "x", "a"]), NOT_INT);
    assert_eq!(err(c, &["ZUNION", "3", "a", "b"]), SYNTAX);
    assert_eq!(err(c, &["ZUNION", "1", "s"]), WRONGTYPE);
    // A wrong-typed key is reported before a bad option.
    assert_eq!(err(c, &["ZUNION", "1", "s", "BOGUS"]), WRONGTYPE);
    assert_eq!(err(c, &["ZUNION", "1", "a", "BOGUS"]), SYNTAX);
    assert_eq!(err(c, &["ZUNION", "1", "a", "WEIGHTS", "x"]), "ERR weight value is not a float");
    assert_eq!(err(c, &["ZUNION", "2", "a", "a", "WEIGHTS", "1"]), SYNTAX);
    assert_eq!(err(c, &["ZUNION", "1", "a", "AGGREGATE", "AVG"]), SYNTAX);
    assert_eq!(err(c, &["ZUNION", "1", "a", "AGGREGATE"]), SYNTAX);
    assert_eq!(err(c, &["ZDIFF", "1", "a", "WEIGHTS", "1"]), SYNTAX);
    assert_eq!(err(c, &["ZUNIONSTORE", "d", "1", "a", "WITHSCORES"]), SYNTAX);
    assert_eq!(err(c, &["ZINTERCARD", "1", "a", "LIMIT", "-1"]), "ERR LIMIT can't be negative");
    assert_eq!(err(c, &["ZINTERCARD", "1", "a", "WITHSCORES"]), SYNTAX);
    assert_eq!(err(c, &["ZUNION", "1"]), arity("zunion"));
    assert_eq!(err(c, &["ZUNIONSTORE", "d", "1"]), arity("zunionstore"));
}

#[test]
fn zmpop() {
    both_encodings(|c, _| {
        seed(c);
        let pairs = |v: &Value| -> (String, Vec<String>) {
            let Value::Array(p) = v else { panic!("{v:?}") };
            let Value::Array(items) = &p[1] else { panic!() };
            (as_str(&p[0]), items.iter().flat_map(strs).collect())
        };
        assert_eq!(pairs(&q(c, &["ZMPOP", "2", "missing", "z", "MIN"])), ("z".into(), vec!["a".into(), "1".into()]));
        assert_eq!(
            pairs(&q(c, &["ZMPOP", "1", "z", "max", "COUNT", "2"])),
            ("z".into(), vec!["e".into(), "5".into(), "d".into(), "4".into()])
        );
        assert_eq!(q(c, &["ZMPOP", "1", "missing", "MIN"]), nil());
        assert_eq!(err(c, &["ZMPOP", "0", "z", "MIN"]), "ERR numkeys should be greater than 0");
        assert_eq!(err(c, &["ZMPOP", "x", "z", "MIN"]), "ERR numkeys should be greater than 0");
        assert_eq!(err(c, &["ZMPOP", "2", "z", "MIN"]), SYNTAX);
        assert_eq!(err(c, &["ZMPOP", "1", "z", "MID"]), SYNTAX);
        assert_eq!(err(c, &["ZMPOP", "1", "z", "MIN", "COUNT", "0"]), "ERR count should be greater than 0");
        assert_eq!(err(c, &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"]), SYNTAX);
        assert_eq!(err(c, &["ZMPOP", "1", "z", "MIN", "COUNT"]), SYNTAX);
        ok(c, &["SET", "s", "x"]);
        assert_eq!(err(c, &["ZMPOP", "2", "s", "z", "MIN"]), WRONGTYPE);
        assert_eq!(err(c, &["ZMPOP", "1"]), arity("zmpop"));
    });
}

#[test]
fn encodings_and_conversion() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["CONFIG", "SET", "zset-max-listpack-entries", "3"]);
    ok(c, &["CONFIG", "SET", "zset-max-listpack-value", "8"]);
    assert_eq!(q(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    assert_eq!(q(c, &["ZADD", "z", "4", "d"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    // One-way: shrinking does not go back.
    assert_eq!(q(c, &["ZREM", "z", "a", "b", "c"]), int(3));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    assert_eq!(q(c, &["ZADD", "long", "1", "123456789"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "long"]), bulk("skiplist"));
    assert_eq!(q(c, &["ZADD", "short", "1", "12345678"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "short"]), bulk("listpack"));
    // A store result small enough becomes a listpack again.
    assert_eq!(q(c, &["ZUNIONSTORE", "u", "1", "z"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "u"]), bulk("listpack"));
    assert_eq!(q(c, &["ZRANGESTORE", "r", "z", "0", "-1"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "r"]), bulk("listpack"));
    assert_eq!(q(c, &["ZADD", "big", "1", "a", "2", "b", "3", "c", "4", "d"]), int(4));
    assert_eq!(q(c, &["ZUNIONSTORE", "u", "1", "big"]), int(4));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "u"]), bulk("skiplist"));
    // COPY and RENAME keep contents and encoding.
    assert_eq!(q(c, &["COPY", "z", "z2"]), int(1));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "z2"]), bulk("skiplist"));
    assert_eq!(strs(&q(c, &["ZRANGE", "z2", "0", "-1", "WITHSCORES"])), ["d", "4"]);
    ok(c, &["RENAME", "short", "short2"]);
    assert_eq!(q(c, &["OBJECT", "ENCODING", "short2"]), bulk("listpack"));
    assert_eq!(q(c, &["ZSCORE", "short2", "12345678"]), bulk("1"));
    assert_eq!(q(c, &["MOVE", "short2", "1"]), int(1));
    ok(c, &["SELECT", "1"]);
    assert_eq!(q(c, &["ZCARD", "short2"]), int(1));
    assert_eq!(q(c, &["TYPE", "short2"]), status("zset"));
}

#[test]
fn type_scan_and_wrongtype() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["ZADD", "z", "1", "a"]), int(1));
    ok(c, &["SET", "s", "v"]);
    assert_eq!(q(c, &["TYPE", "z"]), status("zset"));
    let v = q(c, &["SCAN", "0", "TYPE", "zset", "COUNT", "100"]);
    let Value::Array(parts) = v else { panic!() };
    assert_eq!(strs(&parts[1]), ["z"]);
    assert_eq!(err(c, &["GET", "z"]), WRONGTYPE);
    assert_eq!(err(c, &["APPEND", "z", "x"]), WRONGTYPE);
    assert_eq!(err(c, &["INCR", "z"]), WRONGTYPE);
    assert_eq!(q(c, &["MGET", "z", "s"]), arr(vec![nil(), bulk("v")]));
    // SET overwrites a sorted set.
    ok(c, &["SET", "z", "now a string"]);
    assert_eq!(q(c, &["TYPE", "z"]), status("string"));
}

#[test]
fn expiry_keeps_working_on_sorted_sets() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["ZADD", "z", "1", "a"]), int(1));
    assert_eq!(q(c, &["PEXPIRE", "z", "100000"]), int(1));
    assert_eq!(q(c, &["ZADD", "z", "2", "b"]), int(1));
    assert!(as_int(&q(c, &["PTTL", "z"])) > 0, "ZADD keeps the TTL");
    assert_eq!(q(c, &["ZPOPMIN", "z", "2"]).clone(), arr(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]));
    assert_eq!(q(c, &["EXISTS", "z"]), int(0));
}

#[test]
fn large_sets_stay_consistent() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    let mut args: Vec<String> = vec!["ZADD".into(), "big".into()];
    for i in 0..2000 {
        args.push(((i * 7919) % 2000).to_string());
        args.push(format!("m{i}"));
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(q(c, &refs), int(2000));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    assert_eq!(q(c, &["ZCOUNT", "big", "100", "(200"]), int(100));
    assert_eq!(strs(&q(c, &["ZRANGE", "big", "0", "0", "WITHSCORES"])), ["m0", "0"]);
    assert_eq!(q(c, &["ZRANK", "big", "m1"]), int(1919));
    assert_eq!(q(c, &["ZREMRANGEBYSCORE", "big", "0", "(1000"]), int(1000));
    assert_eq!(q(c, &["ZCARD", "big"]), int(1000));
    assert_eq!(q(c, &["ZRANK", "big", "m1"]), int(919));
    assert_eq!(strs(&q(c, &["ZREVRANGE", "big", "0", "1"])).len(), 2);
}

/// SCAN's guarantee for a large sorted set: members present for the whole
/// iteration come back, whatever is removed or added meanwhile.
#[test]
fn zscan_returns_every_stable_member_despite_concurrent_changes() {
    let s = Server::start();
    let mut c = s.client();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg("z");
    for i in 0..1000 {
        zadd.arg(i).arg(format!("m{i}"));
    }
    let _: i64 = zadd.query(&mut c).unwrap();
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let Value::Array(reply) = q(&mut c, &["ZSCAN", "z", &cursor, "COUNT", "20"]) else { panic!() };
        cursor = as_str(&reply[0]);
        let Value::Array(items) = &reply[1] else { panic!() };
        for pair in items.chunks(2) {
            seen.insert(as_str(&pair[0]));
        }
        // Churn: remove low members (which are not checked) and add new ones.
        q(&mut c, &["ZREM", "z", &format!("m{step}")]);
        q(&mut c, &["ZADD", "z", "5000", &format!("new{step}")]);
        step += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 500..1000 {
        assert!(seen.contains(&format!("m{i}")), "m{i} missing after {step} steps");
    }
}
