//! Set commands: exact replies, reply shapes in RESP2 and RESP3, error texts
//! and encodings of Redis 7.2.

mod common;

use std::collections::BTreeSet;

use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn members(c: &mut redis::Connection, key: &str) -> Vec<String> {
    sorted_strings(&q(c, &["SMEMBERS", key]))
}

fn strings(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn encoding(c: &mut redis::Connection, key: &str) -> String {
    as_str(&q(c, &["OBJECT", "ENCODING", key]))
}

/// A raw connection that negotiated RESP3.
fn resp3(s: &Server) -> RawConn {
    let mut r = s.raw();
    r.call(&["HELLO", "3"]);
    r
}

/// The texts of an aggregate reply's items, sorted.
fn sorted_texts(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = r.items().iter().map(|i| i.text()).collect();
    v.sort();
    v
}

#[test]
fn sadd_srem_scard() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["SADD", "s", "a", "b", "a"]), int(2));
    assert_eq!(q(&mut c, &["SADD", "s", "b", "c", "c", "d"]), int(2));
    assert_eq!(q(&mut c, &["SADD", "s", "a"]), int(0));
    assert_eq!(q(&mut c, &["SCARD", "s"]), int(4));
    assert_eq!(q(&mut c, &["SCARD", "missing"]), int(0));
    assert_eq!(q(&mut c, &["TYPE", "s"]), status("set"));
    assert_eq!(members(&mut c, "s"), strings(&["a", "b", "c", "d"]));
    assert_eq!(q(&mut c, &["SREM", "s", "a", "x", "a", "b"]), int(2));
    assert_eq!(q(&mut c, &["SREM", "s", "a"]), int(0));
    assert_eq!(q(&mut c, &["SREM", "missing", "a"]), int(0));
    assert_eq!(members(&mut c, "s"), strings(&["c", "d"]));
    // Emptied: the key is deleted.
    assert_eq!(q(&mut c, &["SREM", "s", "c", "d", "e"]), int(2));
    assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
    assert_eq!(q(&mut c, &["TYPE", "s"]), status("none"));
}

#[test]
fn sismember_and_smismember() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a", "1", "b"]);
    assert_eq!(q(&mut c, &["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(q(&mut c, &["SISMEMBER", "s", "1"]), int(1));
    assert_eq!(q(&mut c, &["SISMEMBER", "s", "x"]), int(0));
    assert_eq!(q(&mut c, &["SISMEMBER", "missing", "a"]), int(0));
    assert_eq!(q(&mut c, &["SMISMEMBER", "s", "a", "x", "1", "a"]), arr(vec![int(1), int(0), int(1), int(1)]));
    assert_eq!(q(&mut c, &["SMISMEMBER", "missing", "a", "b"]), arr(vec![int(0), int(0)]));
    // Integers only match in canonical form.
    q(&mut c, &["SADD", "ints", "1", "2", "-3"]);
    for (m, want) in [("1", 1), ("01", 0), ("+1", 0), ("-3", 1), (" 1", 0), ("1.0", 0)] {
        assert_eq!(q(&mut c, &["SISMEMBER", "ints", m]), int(want), "{m}");
    }
}

#[test]
fn smembers_reply_shapes() {
    let s = Server::start();
    let mut r2 = s.raw();
    r2.call(&["SADD", "ints", "3", "1", "2"]);
    // An intset answers in ascending order.
    assert_eq!(
        r2.call(&["SMEMBERS", "ints"]),
        Reply::Array(vec![Reply::bulk("1"), Reply::bulk("2"), Reply::bulk("3")])
    );
    assert_eq!(r2.call(&["SMEMBERS", "missing"]), Reply::Array(vec![]));
    let mut r3 = resp3(&s);
    assert_eq!(r3.call(&["SMEMBERS", "ints"]), Reply::Set(vec![Reply::bulk("1"), Reply::bulk("2"), Reply::bulk("3")]));
    assert_eq!(r3.call(&["SMEMBERS", "missing"]), Reply::Set(vec![]));
    r3.call(&["SADD", "s", "x", "y"]);
    let reply = r3.call(&["SMEMBERS", "s"]);
    assert!(matches!(reply, Reply::Set(_)), "{reply:?}");
    assert_eq!(sorted_texts(&reply), strings(&["x", "y"]));
}

#[test]
fn binary_safe_members() {
    let s = Server::start();
    let mut r = s.raw();
    let odd: &[u8] = b"a\0b\r\nc";
    assert_eq!(r.call_bin(&[b"SADD", b"s", odd, b"", b"\xff"]), Reply::Int(3));
    assert_eq!(r.call_bin(&[b"SISMEMBER", b"s", odd]), Reply::Int(1));
    assert_eq!(r.call_bin(&[b"SISMEMBER", b"s", b""]), Reply::Int(1));
    assert_eq!(r.call_bin(&[b"SISMEMBER", b"s", b"a\0b"]), Reply::Int(0));
    let mut got: Vec<Vec<u8>> = match r.call(&["SMEMBERS", "s"]) {
        Reply::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Reply::Bulk(b) => b,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    got.sort();
    assert_eq!(got, vec![b"".to_vec(), odd.to_vec(), b"\xff".to_vec()]);
}

#[test]
fn wrong_type_everywhere() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "str", "v"]);
    q(&mut c, &["SADD", "set", "a"]);
    for args in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SCARD", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SMEMBERS", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "2"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SMOVE", "str", "set", "a"],
        &["SMOVE", "set", "str", "a"],
        &["SINTER", "set", "str"],
        &["SINTER", "missing", "str"],
        &["SINTERCARD", "2", "missing", "str"],
        &["SINTERSTORE", "d", "set", "str"],
        &["SUNION", "set", "str"],
        &["SUNIONSTORE", "d", "str"],
        &["SDIFF", "missing", "str"],
        &["SDIFF", "set", "str"],
        &["SDIFFSTORE", "d", "set", "str"],
        &["SSCAN", "str", "0"],
        // String commands on a set.
        &["GET", "set"],
        &["APPEND", "set", "x"],
        &["INCR", "set"],
        &["STRLEN", "set"],
        &["GETRANGE", "set", "0", "1"],
    ] {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    // Nothing was changed or created.
    assert_eq!(q(&mut c, &["EXISTS", "d"]), int(0));
    assert_eq!(members(&mut c, "set"), strings(&["a"]));
    // MGET answers nil for a set; SET overwrites it.
    assert_eq!(q(&mut c, &["MGET", "set"]), arr(vec![nil()]));
    ok(&mut c, &["SET", "set", "now a string"]);
    assert_eq!(q(&mut c, &["TYPE", "set"]), status("string"));
}

#[test]
fn arity_errors() {
    let s = Server::start();
    let mut c = s.client();
    for (args, name) in [
        (&["SADD", "s"][..], "sadd"),
        (&["SREM", "s"], "srem"),
        (&["SCARD"], "scard"),
        (&["SCARD", "a", "b"], "scard"),
        (&["SISMEMBER", "s"], "sismember"),
        (&["SISMEMBER", "s", "a", "b"], "sismember"),
        (&["SMISMEMBER", "s"], "smismember"),
        (&["SMEMBERS"], "smembers"),
        (&["SMEMBERS", "a", "b"], "smembers"),
        (&["SPOP"], "spop"),
        (&["SRANDMEMBER"], "srandmember"),
        (&["SMOVE", "a", "b"], "smove"),
        (&["SMOVE", "a", "b", "c", "d"], "smove"),
        (&["SINTER"], "sinter"),
        (&["SINTERCARD", "1"], "sintercard"),
        (&["SINTERSTORE", "d"], "sinterstore"),
        (&["SUNION"], "sunion"),
        (&["SUNIONSTORE", "d"], "sunionstore"),
        (&["SDIFF"], "sdiff"),
        (&["SDIFFSTORE", "d"], "sdiffstore"),
        (&["SSCAN", "s"], "sscan"),
    ] {
        assert_eq!(err(&mut c, args), format!("ERR wrong number of arguments for '{name}' command"), "{args:?}");
    }
    assert_eq!(err(&mut c, &["SPOP", "s", "1", "2"]), SYNTAX);
    assert_eq!(err(&mut c, &["SRANDMEMBER", "s", "1", "2"]), SYNTAX);
}

#[test]
fn spop_single() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["SPOP", "missing"]), nil());
    q(&mut c, &["SADD", "s", "a", "b", "c"]);
    let mut popped = BTreeSet::new();
    for left in (0..3).rev() {
        popped.insert(as_str(&q(&mut c, &["SPOP", "s"])));
        assert_eq!(q(&mut c, &["SCARD", "s"]), int(left));
    }
    assert_eq!(popped.into_iter().collect::<Vec<_>>(), strings(&["a", "b", "c"]));
    assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
    // Integers come back as their decimal form.
    q(&mut c, &["SADD", "ints", "-42"]);
    assert_eq!(q(&mut c, &["SPOP", "ints"]), bulk("-42"));
    let mut r3 = resp3(&s);
    assert_eq!(r3.call(&["SPOP", "missing"]), Reply::Null);
}

#[test]
fn spop_with_count() {
    let s = Server::start();
    let mut c = s.client();
    let all: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", "s"];
    args.extend(all.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    let first = sorted_strings(&q(&mut c, &["SPOP", "s", "5"]));
    assert_eq!(first.len(), 5);
    assert_eq!(q(&mut c, &["SCARD", "s"]), int(15));
    let rest = members(&mut c, "s");
    assert!(first.iter().all(|m| !rest.contains(m) && all.contains(m)));
    assert_eq!(q(&mut c, &["SPOP", "s", "0"]), arr(vec![]));
    // A count of at least the size takes everything and deletes the key.
    let second = sorted_strings(&q(&mut c, &["SPOP", "s", "100"]));
    assert_eq!(second, rest);
    assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
    assert_eq!(q(&mut c, &["SPOP", "s", "3"]), arr(vec![]));
    // Errors come before the key is looked at.
    assert_eq!(err(&mut c, &["SPOP", "missing", "-1"]), "ERR value is out of range, must be positive");
    assert_eq!(err(&mut c, &["SPOP", "missing", "x"]), "ERR value is out of range, must be positive");
    // An intset, most of it popped.
    q(&mut c, &["SADD", "ints", "1", "2", "3", "4", "5", "6"]);
    let got = sorted_strings(&q(&mut c, &["SPOP", "ints", "5"]));
    let left = members(&mut c, "ints");
    let mut union: Vec<String> = got.into_iter().chain(left).collect();
    union.sort();
    assert_eq!(union, strings(&["1", "2", "3", "4", "5", "6"]));
}

#[test]
fn spop_with_count_resp3_is_a_set() {
    let s = Server::start();
    let mut r = resp3(&s);
    r.call(&["SADD", "s", "a", "b", "c"]);
    let reply = r.call(&["SPOP", "s", "2"]);
    assert!(matches!(&reply, Reply::Set(v) if v.len() == 2), "{reply:?}");
    let reply = r.call(&["SPOP", "s", "5"]);
    assert!(matches!(&reply, Reply::Set(v) if v.len() == 1), "{reply:?}");
    assert_eq!(r.call(&["SPOP", "s", "1"]), Reply::Set(vec![]));
    assert_eq!(r.call(&["SPOP", "s", "0"]), Reply::Set(vec![]));
}

#[test]
fn srandmember() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["SRANDMEMBER", "missing"]), nil());
    assert_eq!(q(&mut c, &["SRANDMEMBER", "missing", "5"]), arr(vec![]));
    assert_eq!(q(&mut c, &["SRANDMEMBER", "missing", "-5"]), arr(vec![]));
    let all = ["a", "b", "c", "d", "e"];
    let mut args = vec!["SADD", "s"];
    args.extend(all);
    q(&mut c, &args);
    assert!(all.contains(&as_str(&q(&mut c, &["SRANDMEMBER", "s"])).as_str()));
    assert_eq!(q(&mut c, &["SRANDMEMBER", "s", "0"]), arr(vec![]));
    // Positive: distinct members.
    let three = sorted_strings(&q(&mut c, &["SRANDMEMBER", "s", "3"]));
    assert_eq!(three.len(), 3);
    assert_eq!(three.iter().collect::<BTreeSet<_>>().len(), 3);
    assert_eq!(sorted_strings(&q(&mut c, &["SRANDMEMBER", "s", "10"])), strings(&all));
    // Negative: exactly that many, repeats allowed.
    let many = sorted_strings(&q(&mut c, &["SRANDMEMBER", "s", "-100"]));
    assert_eq!(many.len(), 100);
    assert!(many.iter().all(|m| all.contains(&m.as_str())));
    // Nothing was removed.
    assert_eq!(q(&mut c, &["SCARD", "s"]), int(5));
    assert_eq!(err(&mut c, &["SRANDMEMBER", "s", "x"]), NOT_INT);
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    // A hashtable and an intset.
    let big: Vec<String> = (0..300).map(|i| format!("x{i}")).collect();
    let mut args = vec!["SADD", "big"];
    args.extend(big.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    let got = sorted_strings(&q(&mut c, &["SRANDMEMBER", "big", "250"]));
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 250);
    q(&mut c, &["SADD", "ints", "7", "8", "9"]);
    assert_eq!(sorted_strings(&q(&mut c, &["SRANDMEMBER", "ints", "3"])), strings(&["7", "8", "9"]));
}

#[test]
fn srandmember_reply_shapes_resp3() {
    let s = Server::start();
    let mut r = resp3(&s);
    r.call(&["SADD", "s", "a", "b", "c"]);
    assert!(matches!(r.call(&["SRANDMEMBER", "s"]), Reply::Bulk(_)));
    assert_eq!(r.call(&["SRANDMEMBER", "missing"]), Reply::Null);
    assert!(matches!(&r.call(&["SRANDMEMBER", "s", "2"]), Reply::Array(v) if v.len() == 2));
    assert!(matches!(&r.call(&["SRANDMEMBER", "s", "-5"]), Reply::Array(v) if v.len() == 5));
    assert_eq!(r.call(&["SRANDMEMBER", "missing", "2"]), Reply::Array(vec![]));
    if skip_before_72(&s) {
        return;
    }
    // 7.2 answers an array here too (7.0 answered a set).
    assert!(matches!(&r.call(&["SRANDMEMBER", "s", "10"]), Reply::Array(v) if v.len() == 3));
}

#[test]
fn smove() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "src", "a", "b"]);
    q(&mut c, &["SADD", "dst", "b", "c"]);
    assert_eq!(q(&mut c, &["SMOVE", "src", "dst", "a"]), int(1));
    assert_eq!(members(&mut c, "src"), strings(&["b"]));
    assert_eq!(members(&mut c, "dst"), strings(&["a", "b", "c"]));
    // Not a member of the source.
    assert_eq!(q(&mut c, &["SMOVE", "src", "dst", "x"]), int(0));
    // Already in the destination: removed from the source only.
    assert_eq!(q(&mut c, &["SMOVE", "src", "dst", "b"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "src"]), int(0));
    assert_eq!(members(&mut c, "dst"), strings(&["a", "b", "c"]));
    // Source missing: 0, whatever the destination holds.
    ok(&mut c, &["SET", "str", "v"]);
    assert_eq!(q(&mut c, &["SMOVE", "src", "str", "a"]), int(0));
    assert_eq!(q(&mut c, &["SMOVE", "missing", "dst", "a"]), int(0));
    assert_eq!(err(&mut c, &["SMOVE", "dst", "str", "a"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["SMOVE", "str", "dst", "a"]), WRONGTYPE);
    // Same key: 1 when a member, nothing changes.
    assert_eq!(q(&mut c, &["SMOVE", "dst", "dst", "a"]), int(1));
    assert_eq!(q(&mut c, &["SMOVE", "dst", "dst", "zz"]), int(0));
    assert_eq!(members(&mut c, "dst"), strings(&["a", "b", "c"]));
    // A new destination is created.
    assert_eq!(q(&mut c, &["SMOVE", "dst", "fresh", "c"]), int(1));
    assert_eq!(members(&mut c, "fresh"), strings(&["c"]));
    assert_eq!(members(&mut c, "dst"), strings(&["a", "b"]));
}

#[test]
fn smove_encodings() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "src", "1", "2", "x"]);
    q(&mut c, &["SADD", "ints", "5"]);
    assert_eq!(q(&mut c, &["SMOVE", "src", "new", "1"]), int(1));
    assert_eq!(encoding(&mut c, "new"), "intset");
    assert_eq!(q(&mut c, &["SMOVE", "src", "ints", "2"]), int(1));
    assert_eq!(encoding(&mut c, "ints"), "intset");
    assert_eq!(q(&mut c, &["SMOVE", "src", "ints", "x"]), int(1));
    assert_ne!(encoding(&mut c, "ints"), "intset");
    assert_eq!(members(&mut c, "ints"), strings(&["2", "5", "x"]));
}

fn setup_algebra(c: &mut redis::Connection) {
    q(c, &["SADD", "a", "1", "2", "3", "x"]);
    q(c, &["SADD", "b", "2", "3", "4", "y"]);
    q(c, &["SADD", "c", "3", "4", "5", "x"]);
    ok(c, &["SET", "str", "v"]);
}

#[test]
fn sinter() {
    let s = Server::start();
    let mut c = s.client();
    setup_algebra(&mut c);
    assert_eq!(sorted_strings(&q(&mut c, &["SINTER", "a", "b"])), strings(&["2", "3"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SINTER", "a", "b", "c"])), strings(&["3"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SINTER", "a"])), strings(&["1", "2", "3", "x"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SINTER", "a", "a"])), strings(&["1", "2", "3", "x"]));
    assert_eq!(q(&mut c, &["SINTER", "a", "missing"]), arr(vec![]));
    assert_eq!(q(&mut c, &["SINTER", "missing", "a"]), arr(vec![]));
    // The intersection of intsets comes back in ascending order.
    q(&mut c, &["SADD", "i1", "5", "1", "3", "9"]);
    q(&mut c, &["SADD", "i2", "9", "3", "1", "7"]);
    assert_eq!(q(&mut c, &["SINTER", "i1", "i2"]), bulks(&["1", "3", "9"]));
    let mut r3 = resp3(&s);
    assert_eq!(
        r3.call(&["SINTER", "i1", "i2"]),
        Reply::Set(vec![Reply::bulk("1"), Reply::bulk("3"), Reply::bulk("9")])
    );
    assert_eq!(r3.call(&["SINTER", "i1", "missing"]), Reply::Set(vec![]));
}

#[test]
fn sunion_and_sdiff() {
    let s = Server::start();
    let mut c = s.client();
    setup_algebra(&mut c);
    assert_eq!(sorted_strings(&q(&mut c, &["SUNION", "a", "b"])), strings(&["1", "2", "3", "4", "x", "y"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SUNION", "missing", "c"])), strings(&["3", "4", "5", "x"]));
    assert_eq!(q(&mut c, &["SUNION", "missing"]), arr(vec![]));
    assert_eq!(sorted_strings(&q(&mut c, &["SDIFF", "a", "b"])), strings(&["1", "x"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SDIFF", "a", "b", "c"])), strings(&["1"]));
    assert_eq!(sorted_strings(&q(&mut c, &["SDIFF", "a", "missing"])), strings(&["1", "2", "3", "x"]));
    assert_eq!(q(&mut c, &["SDIFF", "missing", "a"]), arr(vec![]));
    assert_eq!(q(&mut c, &["SDIFF", "a", "b", "a"]), arr(vec![]));
    assert_eq!(q(&mut c, &["SDIFF", "a", "a"]), arr(vec![]));
    // A small first set against big others, and the reverse (both of
    // Redis's algorithms).
    let big: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let mut args = vec!["SADD", "big"];
    args.extend(big.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    assert_eq!(sorted_strings(&q(&mut c, &["SDIFF", "a", "big"])), strings(&["x"]));
    let diff = sorted_strings(&q(&mut c, &["SDIFF", "big", "a", "b", "c"]));
    assert_eq!(diff.len(), 200 - 5);
    assert!(!diff.contains(&"3".to_string()) && diff.contains(&"0".to_string()));
    // Unions of intsets come back in ascending order.
    q(&mut c, &["SADD", "i1", "5", "1"]);
    q(&mut c, &["SADD", "i2", "3", "1"]);
    assert_eq!(q(&mut c, &["SUNION", "i1", "i2"]), bulks(&["1", "3", "5"]));
    assert_eq!(q(&mut c, &["SDIFF", "i1", "i2"]), bulks(&["5"]));
    let mut r3 = resp3(&s);
    assert_eq!(
        r3.call(&["SUNION", "i1", "i2"]),
        Reply::Set(vec![Reply::bulk("1"), Reply::bulk("3"), Reply::bulk("5")])
    );
    assert_eq!(r3.call(&["SDIFF", "i1", "i1"]), Reply::Set(vec![]));
}

#[test]
fn store_commands() {
    let s = Server::start();
    let mut c = s.client();
    setup_algebra(&mut c);
    assert_eq!(q(&mut c, &["SINTERSTORE", "d", "a", "b"]), int(2));
    assert_eq!(members(&mut c, "d"), strings(&["2", "3"]));
    assert_eq!(q(&mut c, &["SUNIONSTORE", "d", "a", "b"]), int(6));
    assert_eq!(members(&mut c, "d"), strings(&["1", "2", "3", "4", "x", "y"]));
    assert_eq!(q(&mut c, &["SDIFFSTORE", "d", "a", "b"]), int(2));
    assert_eq!(members(&mut c, "d"), strings(&["1", "x"]));
    // The destination may be a source.
    assert_eq!(q(&mut c, &["SUNIONSTORE", "d", "d", "c"]), int(5));
    assert_eq!(members(&mut c, "d"), strings(&["1", "3", "4", "5", "x"]));
    // Any type is overwritten, and the expiry goes.
    ok(&mut c, &["SET", "dst", "v", "EX", "100"]);
    assert_eq!(q(&mut c, &["SINTERSTORE", "dst", "a", "c"]), int(2));
    assert_eq!(q(&mut c, &["TYPE", "dst"]), status("set"));
    assert_eq!(q(&mut c, &["TTL", "dst"]), int(-1));
    // An empty result deletes the destination, whatever its type.
    for args in [
        &["SINTERSTORE", "dst", "a", "missing"][..],
        &["SUNIONSTORE", "dst", "missing"],
        &["SDIFFSTORE", "dst", "a", "a"],
        &["SDIFFSTORE", "dst", "missing", "a"],
    ] {
        ok(&mut c, &["SET", "dst", "v"]);
        assert_eq!(q(&mut c, args), int(0), "{args:?}");
        assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0), "{args:?}");
    }
    assert_eq!(q(&mut c, &["SINTERSTORE", "nothing", "missing"]), int(0));
    assert_eq!(q(&mut c, &["EXISTS", "nothing"]), int(0));
    // A wrong-type source fails and leaves the destination alone.
    ok(&mut c, &["SET", "dst", "kept"]);
    assert_eq!(err(&mut c, &["SUNIONSTORE", "dst", "a", "str"]), WRONGTYPE);
    assert_eq!(q(&mut c, &["GET", "dst"]), bulk("kept"));
    // A stored set is an ordinary set.
    assert_eq!(q(&mut c, &["SUNIONSTORE", "u", "a", "c"]), int(6));
    assert_eq!(q(&mut c, &["SADD", "u", "new"]), int(1));
    assert_eq!(q(&mut c, &["SCARD", "u"]), int(7));
}

#[test]
fn sintercard() {
    let s = Server::start();
    let mut c = s.client();
    setup_algebra(&mut c);
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(q(&mut c, &["SINTERCARD", "1", "a"]), int(4));
    assert_eq!(q(&mut c, &["SINTERCARD", "3", "a", "b", "c"]), int(1));
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "b", "limit", "0"]), int(2));
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "10"]), int(2));
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "5", "LIMIT", "1"]), int(1));
    assert_eq!(q(&mut c, &["SINTERCARD", "2", "a", "missing"]), int(0));
    // The keys are counted from numkeys: "a" alone here, then LIMIT.
    assert_eq!(q(&mut c, &["SINTERCARD", "1", "a", "LIMIT", "2"]), int(2));
    for n in ["0", "-1", "x"] {
        assert_eq!(err(&mut c, &["SINTERCARD", n, "a"]), "ERR numkeys should be greater than 0", "{n}");
    }
    assert_eq!(err(&mut c, &["SINTERCARD", "3", "a", "b"]), "ERR Number of keys can't be greater than number of args");
    for l in ["-1", "x"] {
        assert_eq!(err(&mut c, &["SINTERCARD", "1", "a", "LIMIT", l]), "ERR LIMIT can't be negative", "{l}");
    }
    assert_eq!(err(&mut c, &["SINTERCARD", "1", "a", "LIMIT"]), SYNTAX);
    assert_eq!(err(&mut c, &["SINTERCARD", "1", "a", "b"]), SYNTAX);
    assert_eq!(err(&mut c, &["SINTERCARD", "1", "str"]), WRONGTYPE);
}

/// Iterates SSCAN to the end; returns every member seen (with repeats) and
/// the number of calls.
fn sscan_all(c: &mut redis::Connection, key: &str, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SSCAN", key, cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = q(c, &args);
        calls += 1;
        let Value::Array(parts) = reply else { panic!("{reply:?}") };
        let next = as_str(&parts[0]);
        seen.extend(sorted_strings(&parts[1]));
        if next == "0" {
            return (seen, calls);
        }
        cursor = next;
        assert!(calls < 10_000, "SSCAN does not end");
    }
}

#[test]
fn sscan_small_sets_come_whole() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a", "b", "c", "ab"]);
    let reply = q(&mut c, &["SSCAN", "s", "0"]);
    let Value::Array(parts) = &reply else { panic!("{reply:?}") };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(sorted_strings(&parts[1]), strings(&["a", "ab", "b", "c"]));
    let (got, _) = sscan_all(&mut c, "s", &["MATCH", "a*"]);
    assert_eq!(got, strings(&["a", "ab"]));
    let (got, _) = sscan_all(&mut c, "s", &["match", "*", "count", "1"]);
    assert_eq!(got.len(), 4);
    q(&mut c, &["SADD", "ints", "10", "2", "30"]);
    let (got, calls) = sscan_all(&mut c, "ints", &["MATCH", "*0"]);
    assert_eq!((got, calls), (strings(&["10", "30"]), 1));
    assert_eq!(q(&mut c, &["SSCAN", "missing", "0"]), arr(vec![bulk("0"), arr(vec![])]));
}

#[test]
fn sscan_errors() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a"]);
    assert_eq!(err(&mut c, &["SSCAN", "s", "x"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SSCAN", "s", " 1"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SSCAN", "missing", "x"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SSCAN", "s", "0", "COUNT", "0"]), SYNTAX);
    assert_eq!(err(&mut c, &["SSCAN", "s", "0", "COUNT", "x"]), NOT_INT);
    assert_eq!(err(&mut c, &["SSCAN", "s", "0", "COUNT"]), SYNTAX);
    assert_eq!(err(&mut c, &["SSCAN", "s", "0", "TYPE", "set"]), SYNTAX);
    assert_eq!(err(&mut c, &["SSCAN", "s", "0", "NOVALUES"]), SYNTAX);
    // Options are only read for an existing set.
    assert_eq!(q(&mut c, &["SSCAN", "missing", "0", "COUNT", "0"]), arr(vec![bulk("0"), arr(vec![])]));
    // Cursors are parsed as strtoul does; an intset comes whole whatever the cursor.
    q(&mut c, &["SADD", "ints", "1", "2"]);
    for cursor in ["7", "007", "+3", "-1", "18446744073709551615", ""] {
        let reply = q(&mut c, &["SSCAN", "ints", cursor]);
        assert_eq!(reply, arr(vec![bulk("0"), bulks(&["1", "2"])]), "{cursor}");
    }
    assert_eq!(err(&mut c, &["SSCAN", "s", "18446744073709551616"]), "ERR invalid cursor");
}

#[test]
fn sscan_large_set_returns_every_member() {
    let s = Server::start();
    let mut c = s.client();
    let all: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
    for chunk in all.chunks(100) {
        let mut args = vec!["SADD", "big"];
        args.extend(chunk.iter().map(|s| s.as_str()));
        q(&mut c, &args);
    }
    assert_eq!(encoding(&mut c, "big"), "hashtable");
    let (seen, calls) = sscan_all(&mut c, "big", &["COUNT", "10"]);
    assert!(calls > 1, "a hashtable is scanned in steps");
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 1000);
    assert!(all.iter().all(|m| distinct.contains(m)));
    let (seen, _) = sscan_all(&mut c, "big", &["MATCH", "member:99*", "COUNT", "50"]);
    let distinct: BTreeSet<String> = seen.into_iter().collect();
    assert_eq!(distinct.len(), 11);
}

#[test]
fn sscan_while_the_set_grows() {
    let s = Server::start();
    let mut c = s.client();
    let all: Vec<String> = (0..600).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", "big"];
    args.extend(all.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut added = 0;
    loop {
        let Value::Array(parts) = q(&mut c, &["SSCAN", "big", &cursor, "COUNT", "20"]) else { panic!() };
        seen.extend(sorted_strings(&parts[1]));
        cursor = as_str(&parts[0]);
        // Growth makes the table resize between calls.
        let batch: Vec<String> = (0..100).map(|i| format!("new{}", added + i)).collect();
        added += 100;
        let mut args = vec!["SADD", "big"];
        args.extend(batch.iter().map(|s| s.as_str()));
        q(&mut c, &args);
        if cursor == "0" {
            break;
        }
    }
    assert!(all.iter().all(|m| seen.contains(m)), "a member present throughout was missed");
}

#[test]
fn intset_encoding_and_conversion() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "1", "2", "3"]);
    assert_eq!(encoding(&mut c, "s"), "intset");
    ok(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "4"]);
    q(&mut c, &["SADD", "s", "4"]);
    assert_eq!(encoding(&mut c, "s"), "intset");
    q(&mut c, &["SADD", "s", "5"]);
    assert_eq!(encoding(&mut c, "s"), "hashtable");
    // Never converted back.
    q(&mut c, &["SREM", "s", "1", "2", "3", "4"]);
    assert_eq!(encoding(&mut c, "s"), "hashtable");
    // Too many arguments at once: not an intset from the start (a listpack in
    // 7.2, which 7.0 lacks).
    q(&mut c, &["SADD", "h", "1", "2", "3", "4", "5"]);
    let want = if s.at_least_redis(7, 2) { "listpack" } else { "hashtable" };
    assert_eq!(encoding(&mut c, "h"), want);
    // Non-canonical integers are strings.
    q(&mut c, &["SADD", "z", "01"]);
    assert_ne!(encoding(&mut c, "z"), "intset");
}

#[test]
fn listpack_encoding_and_conversion() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "4"]);
    ok(&mut c, &["CONFIG", "SET", "set-max-listpack-value", "8"]);
    q(&mut c, &["SADD", "s", "a", "b", "c"]);
    assert_eq!(encoding(&mut c, "s"), "listpack");
    q(&mut c, &["SADD", "s", "d"]);
    assert_eq!(encoding(&mut c, "s"), "listpack");
    q(&mut c, &["SADD", "s", "e"]);
    assert_eq!(encoding(&mut c, "s"), "hashtable");
    // A long member.
    q(&mut c, &["SADD", "l", "a"]);
    q(&mut c, &["SADD", "l", "123456789"]);
    assert_eq!(encoding(&mut c, "l"), "hashtable");
    // Intset + string: listpack while it fits, else hashtable.
    q(&mut c, &["SADD", "i", "1", "2", "3"]);
    q(&mut c, &["SADD", "i", "x"]);
    assert_eq!(encoding(&mut c, "i"), "listpack");
    assert_eq!(members(&mut c, "i"), strings(&["1", "2", "3", "x"]));
    q(&mut c, &["SADD", "j", "1", "2", "3", "4"]);
    q(&mut c, &["SADD", "j", "x"]);
    assert_eq!(encoding(&mut c, "j"), "hashtable");
    q(&mut c, &["SADD", "w", "123456789"]);
    q(&mut c, &["SADD", "w", "x"]);
    assert_eq!(encoding(&mut c, "w"), "hashtable");
    // A listpack keeps insertion order.
    q(&mut c, &["SADD", "o", "c", "a", "b"]);
    assert_eq!(q(&mut c, &["SMEMBERS", "o"]), bulks(&["c", "a", "b"]));
    // Too many arguments at once: a hashtable from the start.
    q(&mut c, &["SADD", "many", "a", "b", "c", "d", "e"]);
    assert_eq!(encoding(&mut c, "many"), "hashtable");
}

#[test]
fn store_result_encodings() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    q(&mut c, &["SADD", "i1", "1", "2", "3"]);
    q(&mut c, &["SADD", "i2", "2", "3", "4"]);
    q(&mut c, &["SADD", "m", "2", "3", "x"]);
    q(&mut c, &["SADD", "w", "x", "y"]);
    q(&mut c, &["SINTERSTORE", "d", "i1", "i2"]);
    assert_eq!(encoding(&mut c, "d"), "intset");
    // From a listpack, all integers: an intset.
    q(&mut c, &["SINTERSTORE", "d", "m", "i1"]);
    assert_eq!(encoding(&mut c, "d"), "intset");
    q(&mut c, &["SINTERSTORE", "d", "m", "w"]);
    assert_eq!(encoding(&mut c, "d"), "listpack");
    q(&mut c, &["SUNIONSTORE", "d", "i1", "i2"]);
    assert_eq!(encoding(&mut c, "d"), "intset");
    q(&mut c, &["SUNIONSTORE", "d", "i1", "w"]);
    assert_eq!(encoding(&mut c, "d"), "listpack");
    q(&mut c, &["SDIFFSTORE", "d", "m", "w"]);
    assert_eq!(encoding(&mut c, "d"), "intset");
    assert_eq!(q(&mut c, &["SMEMBERS", "d"]), bulks(&["2", "3"]));
    ok(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "2"]);
    q(&mut c, &["SUNIONSTORE", "d", "m", "w"]);
    assert_eq!(encoding(&mut c, "d"), "hashtable");
}

#[test]
fn copy_rename_move_keep_sets() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "ints", "1", "2"]);
    let big: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
    let mut args = vec!["SADD", "big"];
    args.extend(big.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    assert_eq!(q(&mut c, &["COPY", "ints", "ints2"]), int(1));
    assert_eq!(members(&mut c, "ints2"), strings(&["1", "2"]));
    assert_eq!(encoding(&mut c, "ints2"), "intset");
    // The copy is independent.
    q(&mut c, &["SADD", "ints2", "3"]);
    assert_eq!(q(&mut c, &["SCARD", "ints"]), int(2));
    assert_eq!(q(&mut c, &["COPY", "big", "big2"]), int(1));
    assert_eq!(encoding(&mut c, "big2"), "hashtable");
    assert_eq!(q(&mut c, &["SCARD", "big2"]), int(200));
    ok(&mut c, &["RENAME", "big2", "big3"]);
    assert_eq!(q(&mut c, &["SISMEMBER", "big3", "v199"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "big2"]), int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "ints", "100"]), int(1));
    assert_eq!(q(&mut c, &["MOVE", "ints", "1"]), int(1));
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(members(&mut c, "ints"), strings(&["1", "2"]));
    let ttl = as_int(&q(&mut c, &["TTL", "ints"]));
    assert!((98..=100).contains(&ttl), "{ttl}");
    // SADD keeps the expiry.
    q(&mut c, &["SADD", "ints", "9"]);
    assert!(as_int(&q(&mut c, &["TTL", "ints"])) > 0);
}

#[test]
fn copy_keeps_the_listpack_encoding() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a", "b"]);
    assert_eq!(q(&mut c, &["COPY", "s", "t"]), int(1));
    assert_eq!(encoding(&mut c, "t"), "listpack");
    assert_eq!(q(&mut c, &["SMEMBERS", "t"]), bulks(&["a", "b"]));
}

#[test]
fn scan_type_set() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s1", "a"]);
    q(&mut c, &["SADD", "s2", "1"]);
    ok(&mut c, &["SET", "str", "v"]);
    let mut cursor = "0".to_string();
    let mut found = Vec::new();
    loop {
        let Value::Array(parts) = q(&mut c, &["SCAN", &cursor, "TYPE", "set"]) else { panic!() };
        found.extend(sorted_strings(&parts[1]));
        cursor = as_str(&parts[0]);
        if cursor == "0" {
            break;
        }
    }
    found.sort();
    assert_eq!(found, strings(&["s1", "s2"]));
}

#[test]
fn expired_sets_are_gone() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a"]);
    assert_eq!(q(&mut c, &["PEXPIRE", "s", "30"]), int(1));
    assert!(wait_for(std::time::Duration::from_secs(2), || q(&mut c, &["SCARD", "s"]) == int(0)));
    assert_eq!(q(&mut c, &["SADD", "s", "b"]), int(1));
    assert_eq!(members(&mut c, "s"), strings(&["b"]));
    assert_eq!(q(&mut c, &["TTL", "s"]), int(-1));
}

#[test]
fn command_info_for_set_commands() {
    let s = Server::start();
    let mut r = s.raw();
    // (name, arity, first key, last key, step)
    for (name, arity, first, last, step) in [
        ("sadd", -3, 1, 1, 1),
        ("smove", 4, 1, 2, 1),
        ("sinter", -2, 1, -1, 1),
        ("sinterstore", -3, 1, -1, 1),
        ("sintercard", -3, 0, 0, 0),
        ("sscan", -3, 1, 1, 1),
    ] {
        let reply = r.call(&["COMMAND", "INFO", name]);
        let info = &reply.items()[0];
        let items = info.items();
        assert_eq!(items[0], Reply::bulk(name));
        assert_eq!(items[1], Reply::Int(arity), "{name}");
        assert_eq!(items[3], Reply::Int(first), "{name}");
        assert_eq!(items[4], Reply::Int(last), "{name}");
        assert_eq!(items[5], Reply::Int(step), "{name}");
    }
    let keys = r.call(&["COMMAND", "GETKEYS", "SMOVE", "a", "b", "m"]);
    assert_eq!(sorted_texts(&keys), strings(&["a", "b"]));
}

#[test]
fn srandmember_repeats_are_bounded() {
    let s = Server::start();
    if is_redis() {
        // A Gyre limit: Redis would build the whole reply.
        return;
    }
    let mut c = s.client();
    q(&mut c, &["SADD", "s", "a"]);
    assert_eq!(sorted_strings(&q(&mut c, &["SRANDMEMBER", "s", "-1000"])).len(), 1000);
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "s", "-16777217"]),
        "ERR value is out of range, value must between -16777216 and 9223372036854775807"
    );
}
