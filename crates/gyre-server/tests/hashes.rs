//! Hash commands: exact replies (RESP2 and RESP3), errors and encodings of
//! Redis 7.2. Validated against Redis with `GYRE_TEST_REDIS=1`.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn arity(cmd: &str) -> String {
    format!("ERR wrong number of arguments for '{cmd}' command")
}

/// HGETALL as a sorted map (RESP2 flat array).
fn getall(c: &mut redis::Connection, key: &str) -> BTreeMap<String, String> {
    match q(c, &["HGETALL", key]) {
        Value::Array(items) => {
            assert_eq!(items.len() % 2, 0);
            items.chunks(2).map(|p| (as_str(&p[0]), as_str(&p[1]))).collect()
        }
        other => panic!("expected an array, got {other:?}"),
    }
}

fn map_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A raw connection that negotiated RESP3.
fn raw3(s: &Server) -> RawConn {
    let mut r = s.raw();
    let hello = r.call(&["HELLO", "3"]);
    assert!(matches!(hello, Reply::Map(_)), "HELLO 3: {hello:?}");
    r
}

#[test]
fn hset_hget_and_hmset() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["HSET", "h", "a", "1", "b", "2"]), int(2));
    // Only new fields count; a field repeated in one call counts once.
    assert_eq!(q(&mut c, &["HSET", "h", "a", "10", "c", "3", "c", "4"]), int(1));
    assert_eq!(q(&mut c, &["HGET", "h", "a"]), bulk("10"));
    assert_eq!(q(&mut c, &["HGET", "h", "c"]), bulk("4"));
    assert_eq!(q(&mut c, &["HGET", "h", "missing"]), nil());
    assert_eq!(q(&mut c, &["HGET", "missing", "a"]), nil());
    // Empty field and empty value are fine; binary bytes too.
    assert_eq!(q(&mut c, &["HSET", "h", "", ""]), int(1));
    assert_eq!(q(&mut c, &["HGET", "h", ""]), bulk(""));
    ok(&mut c, &["HMSET", "h", "d", "5", "a", "11"]);
    assert_eq!(getall(&mut c, "h"), map_of(&[("", ""), ("a", "11"), ("b", "2"), ("c", "4"), ("d", "5")]));
    assert_eq!(err(&mut c, &["HSET", "h", "a", "1", "b"]), arity("hset"));
    assert_eq!(err(&mut c, &["HSET", "h", "a"]), arity("hset"));
    assert_eq!(err(&mut c, &["HMSET", "h", "a", "1", "b"]), arity("hmset"));
    assert_eq!(err(&mut c, &["HMSET", "h"]), arity("hmset"));
    assert_eq!(err(&mut c, &["HGET", "h"]), arity("hget"));
    // A failed write leaves nothing behind.
    assert_eq!(err(&mut c, &["HSET", "new", "a", "1", "b"]), arity("hset"));
    assert_eq!(q(&mut c, &["EXISTS", "new"]), int(0));
}

#[test]
fn hset_binary_fields_and_values() {
    let s = Server::start();
    let mut r = s.raw();
    let field: &[u8] = b"f\x00\r\n\xff";
    let value: &[u8] = b"\x00\x01\x02\r\n";
    assert_eq!(r.call_bin(&[b"HSET", b"h", field, value]), Reply::Int(1));
    assert_eq!(r.call_bin(&[b"HGET", b"h", field]), Reply::bulk(value));
    assert_eq!(r.call_bin(&[b"HSTRLEN", b"h", field]), Reply::Int(5));
}

#[test]
fn hsetnx() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["HSETNX", "h", "a", "1"]), int(1));
    assert_eq!(q(&mut c, &["HSETNX", "h", "a", "2"]), int(0));
    assert_eq!(q(&mut c, &["HGET", "h", "a"]), bulk("1"));
    assert_eq!(q(&mut c, &["HSETNX", "h", "b", "2"]), int(1));
    assert_eq!(q(&mut c, &["HLEN", "h"]), int(2));
    assert_eq!(err(&mut c, &["HSETNX", "h", "a"]), arity("hsetnx"));
    assert_eq!(err(&mut c, &["HSETNX", "h", "a", "1", "2"]), arity("hsetnx"));
}

#[test]
fn hdel_counts_and_deletes_the_emptied_key() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q(&mut c, &["HDEL", "h", "a", "a", "missing"]), int(1));
    assert_eq!(q(&mut c, &["HDEL", "h", "a"]), int(0));
    assert_eq!(q(&mut c, &["HDEL", "missing", "a"]), int(0));
    assert_eq!(q(&mut c, &["HLEN", "h"]), int(2));
    assert_eq!(q(&mut c, &["HDEL", "h", "b", "c"]), int(2));
    assert_eq!(q(&mut c, &["EXISTS", "h"]), int(0));
    assert_eq!(q(&mut c, &["TYPE", "h"]), status("none"));
    assert_eq!(err(&mut c, &["HDEL", "h"]), arity("hdel"));
}

#[test]
fn hlen_hstrlen_hexists() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "hello", "n", "-123", "e", ""]);
    assert_eq!(q(&mut c, &["HLEN", "h"]), int(3));
    assert_eq!(q(&mut c, &["HLEN", "missing"]), int(0));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "a"]), int(5));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "n"]), int(4));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "e"]), int(0));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "missing"]), int(0));
    assert_eq!(q(&mut c, &["HSTRLEN", "missing", "a"]), int(0));
    assert_eq!(q(&mut c, &["HEXISTS", "h", "a"]), int(1));
    assert_eq!(q(&mut c, &["HEXISTS", "h", "e"]), int(1));
    assert_eq!(q(&mut c, &["HEXISTS", "h", "zz"]), int(0));
    assert_eq!(q(&mut c, &["HEXISTS", "missing", "a"]), int(0));
    assert_eq!(err(&mut c, &["HLEN"]), arity("hlen"));
    assert_eq!(err(&mut c, &["HLEN", "h", "x"]), arity("hlen"));
    assert_eq!(err(&mut c, &["HSTRLEN", "h"]), arity("hstrlen"));
    assert_eq!(err(&mut c, &["HEXISTS", "h"]), arity("hexists"));
}

#[test]
fn hmget() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(q(&mut c, &["HMGET", "h", "a", "zz", "b", "a"]), arr(vec![bulk("1"), nil(), bulk("2"), bulk("1")]));
    assert_eq!(q(&mut c, &["HMGET", "missing", "a", "b"]), arr(vec![nil(), nil()]));
    assert_eq!(err(&mut c, &["HMGET", "h"]), arity("hmget"));
}

#[test]
fn hkeys_hvals_hgetall() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(sorted_strings(&q(&mut c, &["HKEYS", "h"])), ["a", "b", "c"]);
    assert_eq!(sorted_strings(&q(&mut c, &["HVALS", "h"])), ["1", "2", "3"]);
    assert_eq!(getall(&mut c, "h"), map_of(&[("a", "1"), ("b", "2"), ("c", "3")]));
    // HKEYS and HVALS list in the same order, and HGETALL pairs them up.
    let keys = q(&mut c, &["HKEYS", "h"]);
    let vals = q(&mut c, &["HVALS", "h"]);
    let (Value::Array(k), Value::Array(v)) = (keys, vals) else { panic!("arrays expected") };
    for (k, v) in k.iter().zip(&v) {
        assert_eq!(q(&mut c, &["HGET", "h", &as_str(k)]), v.clone());
    }
    assert_eq!(q(&mut c, &["HKEYS", "missing"]), arr(vec![]));
    assert_eq!(q(&mut c, &["HVALS", "missing"]), arr(vec![]));
    assert_eq!(q(&mut c, &["HGETALL", "missing"]), arr(vec![]));
    assert_eq!(err(&mut c, &["HGETALL"]), arity("hgetall"));
    assert_eq!(err(&mut c, &["HKEYS", "h", "x"]), arity("hkeys"));
    assert_eq!(err(&mut c, &["HVALS", "h", "x"]), arity("hvals"));
}

#[test]
fn resp3_reply_shapes() {
    let s = Server::start();
    let mut r = raw3(&s);
    assert_eq!(r.call(&["HSET", "h", "a", "1"]), Reply::Int(1));
    assert_eq!(r.call(&["HGETALL", "h"]), Reply::Map(vec![(Reply::bulk("a"), Reply::bulk("1"))]));
    assert_eq!(r.call(&["HGETALL", "missing"]), Reply::Map(vec![]));
    assert_eq!(r.call(&["HKEYS", "h"]), Reply::Array(vec![Reply::bulk("a")]));
    assert_eq!(r.call(&["HVALS", "h"]), Reply::Array(vec![Reply::bulk("1")]));
    assert_eq!(r.call(&["HKEYS", "missing"]), Reply::Array(vec![]));
    assert_eq!(r.call(&["HGET", "h", "zz"]), Reply::Null);
    assert_eq!(r.call(&["HMGET", "h", "a", "zz"]), Reply::Array(vec![Reply::bulk("1"), Reply::Null]));
    assert_eq!(r.call(&["HINCRBYFLOAT", "h", "a", "0.5"]), Reply::bulk("1.5"));
    assert_eq!(r.call(&["HRANDFIELD", "missing"]), Reply::Null);
    assert_eq!(r.call(&["HRANDFIELD", "h", "1"]), Reply::Array(vec![Reply::bulk("a")]));
    assert_eq!(
        r.call(&["HRANDFIELD", "h", "1", "WITHVALUES"]),
        Reply::Array(vec![Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1.5")])])
    );
    assert_eq!(
        r.call(&["HRANDFIELD", "h", "-2", "WITHVALUES"]),
        Reply::Array(vec![
            Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1.5")]),
            Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1.5")])
        ])
    );
    assert_eq!(r.call(&["HRANDFIELD", "h", "0", "WITHVALUES"]), Reply::Array(vec![]));
    assert_eq!(r.call(&["HRANDFIELD", "missing", "3", "WITHVALUES"]), Reply::Array(vec![]));
    assert_eq!(
        r.call(&["HSCAN", "h", "0"]),
        Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1.5")])])
    );
}

#[test]
fn resp2_null_shapes() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["HGET", "h", "a"]), Reply::NilBulk);
    assert_eq!(r.call(&["HRANDFIELD", "h"]), Reply::NilBulk);
    assert_eq!(r.call(&["HMGET", "h", "a"]), Reply::Array(vec![Reply::NilBulk]));
    assert_eq!(r.call(&["HGETALL", "h"]), Reply::Array(vec![]));
    assert_eq!(r.call(&["HSCAN", "h", "0"]), Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]));
}

#[test]
fn hincrby() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "-7"]), int(-2));
    assert_eq!(q(&mut c, &["HGET", "h", "n"]), bulk("-2"));
    assert_eq!(q(&mut c, &["HINCRBY", "h", "m", "0"]), int(0));
    q(&mut c, &["HSET", "h", "big", "9223372036854775806", "small", "-9223372036854775807"]);
    assert_eq!(q(&mut c, &["HINCRBY", "h", "big", "1"]), int(i64::MAX));
    assert_eq!(err(&mut c, &["HINCRBY", "h", "big", "1"]), "ERR increment or decrement would overflow");
    assert_eq!(q(&mut c, &["HINCRBY", "h", "small", "-1"]), int(i64::MIN));
    assert_eq!(err(&mut c, &["HINCRBY", "h", "small", "-1"]), "ERR increment or decrement would overflow");
    assert_eq!(q(&mut c, &["HGET", "h", "big"]), bulk("9223372036854775807"));
    for bad in ["abc", "1.5", " 1", "01", ""] {
        q(&mut c, &["HSET", "h", "s", bad]);
        assert_eq!(err(&mut c, &["HINCRBY", "h", "s", "1"]), "ERR hash value is not an integer", "{bad:?}");
    }
    assert_eq!(q(&mut c, &["HGET", "h", "s"]), bulk(""));
    for bad in ["abc", "1.5", "", "9223372036854775808"] {
        assert_eq!(err(&mut c, &["HINCRBY", "h", "n", bad]), NOT_INT, "{bad:?}");
    }
    // The increment is checked before the type of the key.
    ok(&mut c, &["SET", "str", "1"]);
    assert_eq!(err(&mut c, &["HINCRBY", "str", "n", "x"]), NOT_INT);
    assert_eq!(err(&mut c, &["HINCRBY", "str", "n", "1"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["HINCRBY", "h", "n"]), arity("hincrby"));
}

#[test]
fn hincrbyfloat() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "-5"]), bulk("5.6"));
    assert_eq!(q(&mut c, &["HGET", "h", "f"]), bulk("5.6"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "e", "5.0e3"]), bulk("5000"));
    q(&mut c, &["HSET", "h", "i", "3"]);
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "i", "1"]), bulk("4"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "i", "-4"]), bulk("0"));
    for bad in ["abc", "1.5.5", "", " 1"] {
        q(&mut c, &["HSET", "h", "s", bad]);
        assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]), "ERR hash value is not a float", "{bad:?}");
    }
    for bad in ["abc", "", "1x", "nan"] {
        assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "f", bad]), "ERR value is not a valid float", "{bad:?}");
    }
    for inf in ["inf", "-inf", "+inf"] {
        assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "f", inf]), "ERR value is NaN or Infinity");
    }
    // A stored infinity is a float, but the sum is refused; NaN is not a float.
    q(&mut c, &["HSET", "h", "inf", "inf", "nan", "nan"]);
    assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "inf", "1"]), "ERR increment would produce NaN or Infinity");
    assert_eq!(q(&mut c, &["HGET", "h", "inf"]), bulk("inf"));
    assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "nan", "1"]), "ERR hash value is not a float");
    ok(&mut c, &["SET", "str", "1"]);
    assert_eq!(err(&mut c, &["HINCRBYFLOAT", "str", "f", "x"]), "ERR value is not a valid float");
    assert_eq!(err(&mut c, &["HINCRBYFLOAT", "str", "f", "1"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["HINCRBYFLOAT", "h", "f"]), arity("hincrbyfloat"));
}

#[test]
fn hrandfield_single_and_counts() {
    let s = Server::start();
    let mut c = s.client();
    let all = map_of(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")]);
    for (k, v) in &all {
        q(&mut c, &["HSET", "h", k, v]);
    }
    for _ in 0..20 {
        let f = as_str(&q(&mut c, &["HRANDFIELD", "h"]));
        assert!(all.contains_key(&f), "{f}");
    }
    assert_eq!(q(&mut c, &["HRANDFIELD", "missing"]), nil());
    assert_eq!(q(&mut c, &["HRANDFIELD", "missing", "3"]), arr(vec![]));
    assert_eq!(q(&mut c, &["HRANDFIELD", "missing", "-3", "WITHVALUES"]), arr(vec![]));
    assert_eq!(q(&mut c, &["HRANDFIELD", "h", "0"]), arr(vec![]));
    // Positive: distinct fields, at most the hash's size.
    for n in [1usize, 3, 5, 10] {
        let got = sorted_strings(&q(&mut c, &["HRANDFIELD", "h", &n.to_string()]));
        assert_eq!(got.len(), n.min(5));
        assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len(), "distinct: {got:?}");
        assert!(got.iter().all(|f| all.contains_key(f)));
    }
    // Negative: exactly |count|, repeats allowed.
    let got = sorted_strings(&q(&mut c, &["HRANDFIELD", "h", "-20"]));
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|f| all.contains_key(f)));
    // WITHVALUES in RESP2: a flat array of field, value.
    for n in ["3", "-8", "10"] {
        let Value::Array(items) = q(&mut c, &["HRANDFIELD", "h", n, "withvalues"]) else { panic!("array") };
        let want = n.parse::<i64>().unwrap().unsigned_abs().min(if n.starts_with('-') { 100 } else { 5 }) as usize;
        assert_eq!(items.len(), want * 2, "{n}");
        for p in items.chunks(2) {
            assert_eq!(all.get(&as_str(&p[0])), Some(&as_str(&p[1])));
        }
    }
}

#[test]
fn hrandfield_errors() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1"]);
    // The count is checked before the key is looked up.
    assert_eq!(err(&mut c, &["HRANDFIELD", "missing", "x"]), NOT_INT);
    assert_eq!(err(&mut c, &["HRANDFIELD", "h", "1.5"]), NOT_INT);
    assert_eq!(err(&mut c, &["HRANDFIELD", "h", "1", "WITHVALUE"]), SYNTAX);
    assert_eq!(err(&mut c, &["HRANDFIELD", "h", "1", "WITHVALUES", "x"]), SYNTAX);
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(err(&mut c, &["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"]), "ERR value is out of range");
    assert_eq!(err(&mut c, &["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"]), "ERR value is out of range");
    // Within range, a huge positive count returns the whole hash.
    assert_eq!(q(&mut c, &["HRANDFIELD", "h", "9223372036854775807"]), bulks(&["a"]));
    assert_eq!(err(&mut c, &["HRANDFIELD"]), arity("hrandfield"));
    if !is_redis() {
        // Gyre bounds the reply of a negative count (Redis would try to send it).
        assert_eq!(err(&mut c, &["HRANDFIELD", "h", "-100000000"]), "ERR value is out of range");
        assert_eq!(as_int(&q(&mut c, &["HLEN", "h"])), 1);
    }
    ok(&mut c, &["SET", "str", "1"]);
    assert_eq!(err(&mut c, &["HRANDFIELD", "str"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["HRANDFIELD", "str", "0"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["HRANDFIELD", "str", "x"]), NOT_INT);
}

#[test]
fn hrandfield_on_a_hashtable() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "8"]);
    for i in 0..100 {
        q(&mut c, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    let got = sorted_strings(&q(&mut c, &["HRANDFIELD", "h", "30"]));
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 30);
    let Value::Array(items) = q(&mut c, &["HRANDFIELD", "h", "90", "WITHVALUES"]) else { panic!("array") };
    assert_eq!(items.len(), 180);
    for p in items.chunks(2) {
        assert_eq!(as_str(&p[1]), as_str(&p[0]).replace('f', "v"));
    }
    assert_eq!(sorted_strings(&q(&mut c, &["HRANDFIELD", "h", "-300"])).len(), 300);
    assert_eq!(sorted_strings(&q(&mut c, &["HRANDFIELD", "h", "100"])).len(), 100);
}

/// Runs a whole HSCAN and returns every field/value pair seen, with how many
/// times each field was returned.
fn full_hscan(c: &mut redis::Connection, key: &str, extra: &[&str]) -> (BTreeMap<String, String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = BTreeMap::new();
    let mut returned = 0;
    let mut steps = 0;
    loop {
        let mut args = vec!["HSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let Value::Array(reply) = q(c, &args) else { panic!("array") };
        let Value::Array(items) = &reply[1] else { panic!("array") };
        for p in items.chunks(2) {
            returned += 1;
            seen.insert(as_str(&p[0]), as_str(&p[1]));
        }
        cursor = as_str(&reply[0]);
        steps += 1;
        assert!(steps < 10_000, "HSCAN does not terminate");
        if cursor == "0" {
            return (seen, returned);
        }
    }
}

#[test]
fn hscan_listpack_returns_everything_at_once() {
    let s = Server::start();
    let mut c = s.client();
    for i in 0..50 {
        q(&mut c, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    let Value::Array(reply) = q(&mut c, &["HSCAN", "h", "0", "COUNT", "2"]) else { panic!("array") };
    assert_eq!(reply[0], bulk("0"));
    let Value::Array(items) = &reply[1] else { panic!("array") };
    assert_eq!(items.len(), 100);
    let Value::Array(reply) = q(&mut c, &["HSCAN", "h", "0", "MATCH", "f1*"]) else { panic!("array") };
    let Value::Array(items) = &reply[1] else { panic!("array") };
    let fields: BTreeSet<String> = items.chunks(2).map(|p| as_str(&p[0])).collect();
    let want: BTreeSet<String> = (0..50).map(|i| format!("f{i}")).filter(|f| f.starts_with("f1")).collect();
    assert_eq!(fields, want);
    for p in items.chunks(2) {
        assert_eq!(as_str(&p[1]), as_str(&p[0]).replace('f', "v"));
    }
    let (seen, _) = full_hscan(&mut c, "h", &["MATCH", "*"]);
    assert_eq!(seen.len(), 50);
}

#[test]
fn hscan_hashtable_iterates_with_a_cursor() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "16"]);
    for i in 0..1000 {
        q(&mut c, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    let (seen, returned) = full_hscan(&mut c, "h", &["COUNT", "10"]);
    assert_eq!(seen.len(), 1000);
    assert!(returned <= 1100, "too many duplicates: {returned}");
    for (f, v) in &seen {
        assert_eq!(v, &f.replace('f', "v"));
    }
    let (seen, _) = full_hscan(&mut c, "h", &["MATCH", "f99*", "COUNT", "100"]);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["f99", "f990", "f991", "f992", "f993", "f994", "f995", "f996", "f997", "f998", "f999"]
    );
}

#[test]
fn hscan_returns_fields_present_throughout_while_the_hash_grows() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "16"]);
    for i in 0..500 {
        q(&mut c, &["HSET", "h", &format!("old{i}"), "v"]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut added = 0;
    loop {
        let Value::Array(reply) = q(&mut c, &["HSCAN", "h", &cursor, "COUNT", "20"]) else { panic!("array") };
        let Value::Array(items) = &reply[1] else { panic!("array") };
        for p in items.chunks(2) {
            seen.insert(as_str(&p[0]));
        }
        // The table grows (and rehashes) during the first steps of the iteration.
        if added < 2000 {
            for _ in 0..100 {
                q(&mut c, &["HSET", "h", &format!("new{added}"), "v"]);
                added += 1;
            }
        }
        cursor = as_str(&reply[0]);
        if cursor == "0" {
            break;
        }
    }
    for i in 0..500 {
        assert!(seen.contains(&format!("old{i}")), "old{i} missed");
    }
}

#[test]
fn hscan_errors() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1"]);
    assert_eq!(err(&mut c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    for bad in [" 1", "1 ", "0x1", "18446744073709551616", "-"] {
        assert_eq!(err(&mut c, &["HSCAN", "h", bad]), "ERR invalid cursor", "{bad:?}");
    }
    // Cursors are read as C's strtoul reads them.
    for fine in ["", "+1", "-1", "007", "18446744073709551615"] {
        let Value::Array(reply) = q(&mut c, &["HSCAN", "h", fine]) else { panic!("array") };
        assert_eq!(reply[0], bulk("0"), "{fine:?}");
    }
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "COUNT", "0"]), SYNTAX);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "COUNT", "-1"]), SYNTAX);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "COUNT", "x"]), NOT_INT);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "COUNT"]), SYNTAX);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "MATCH"]), SYNTAX);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "TYPE", "string"]), SYNTAX);
    // NOVALUES arrived in Redis 7.4.
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "NOVALUES"]), SYNTAX);
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "FOO", "bar"]), SYNTAX);
    // A missing key answers an empty scan before the options are read.
    assert_eq!(q(&mut c, &["HSCAN", "missing", "0", "COUNT", "0"]), arr(vec![bulk("0"), arr(vec![])]));
    assert_eq!(q(&mut c, &["HSCAN", "missing", "123"]), arr(vec![bulk("0"), arr(vec![])]));
    assert_eq!(err(&mut c, &["HSCAN", "missing", "x"]), "ERR invalid cursor");
    ok(&mut c, &["SET", "str", "1"]);
    assert_eq!(err(&mut c, &["HSCAN", "str", "0", "FOO"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["HSCAN", "h"]), arity("hscan"));
}

#[test]
fn encoding_converts_past_the_thresholds() {
    let s = Server::start();
    let mut c = s.client();
    let enc = |c: &mut redis::Connection, k: &str| q(c, &["OBJECT", "ENCODING", k]);
    q(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(enc(&mut c, "small"), bulk("listpack"));
    // 64 bytes is the default value limit.
    q(&mut c, &["HSET", "v64", "f", &"x".repeat(64)]);
    assert_eq!(enc(&mut c, "v64"), bulk("listpack"));
    q(&mut c, &["HSET", "v65", "f", &"x".repeat(65)]);
    assert_eq!(enc(&mut c, "v65"), bulk("hashtable"));
    q(&mut c, &["HSET", "f65", &"x".repeat(65), "v"]);
    assert_eq!(enc(&mut c, "f65"), bulk("hashtable"));
    // Growing a value past the limit converts, too.
    q(&mut c, &["HSET", "grow", "f", "short"]);
    q(&mut c, &["HSET", "grow", "f", &"y".repeat(100)]);
    assert_eq!(enc(&mut c, "grow"), bulk("hashtable"));
    assert_eq!(q(&mut c, &["HGET", "grow", "f"]), bulk("y".repeat(100)));

    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
    ok(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "8"]);
    q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(enc(&mut c, "h"), bulk("listpack"));
    q(&mut c, &["HSET", "h", "e", "5"]);
    assert_eq!(enc(&mut c, "h"), bulk("hashtable"));
    // One way: deleting fields keeps the hashtable.
    q(&mut c, &["HDEL", "h", "a", "b", "c", "d"]);
    assert_eq!(enc(&mut c, "h"), bulk("hashtable"));
    assert_eq!(getall(&mut c, "h"), map_of(&[("e", "5")]));
    q(&mut c, &["HSET", "h2", "f", "12345678"]);
    assert_eq!(enc(&mut c, "h2"), bulk("listpack"));
    q(&mut c, &["HINCRBY", "h2", "n", "123456789"]);
    assert_eq!(enc(&mut c, "h2"), bulk("hashtable"));
    // A hash of many fields set at once is converted.
    let mut args = vec!["HSET".to_string(), "many".to_string()];
    for i in 0..10 {
        args.push(format!("f{i}"));
        args.push(i.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(q(&mut c, &args), int(10));
    assert_eq!(enc(&mut c, "many"), bulk("hashtable"));
    assert_eq!(q(&mut c, &["HLEN", "many"]), int(10));
}

#[test]
fn wrong_type_both_ways() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "str", "v"]);
    let hash_cmds: &[&[&str]] = &[
        &["HSET", "str", "f", "v"],
        &["HSETNX", "str", "f", "v"],
        &["HMSET", "str", "f", "v"],
        &["HGET", "str", "f"],
        &["HMGET", "str", "f"],
        &["HDEL", "str", "f"],
        &["HLEN", "str"],
        &["HSTRLEN", "str", "f"],
        &["HEXISTS", "str", "f"],
        &["HKEYS", "str"],
        &["HVALS", "str"],
        &["HGETALL", "str"],
        &["HINCRBY", "str", "f", "1"],
        &["HINCRBYFLOAT", "str", "f", "1"],
        &["HRANDFIELD", "str"],
        &["HRANDFIELD", "str", "2", "WITHVALUES"],
        &["HSCAN", "str", "0"],
    ];
    for args in hash_cmds {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(q(&mut c, &["GET", "str"]), bulk("v"));
    q(&mut c, &["HSET", "h", "f", "v"]);
    let string_cmds: &[&[&str]] = &[
        &["GET", "h"],
        &["APPEND", "h", "x"],
        &["INCR", "h"],
        &["INCRBYFLOAT", "h", "1"],
        &["STRLEN", "h"],
        &["GETRANGE", "h", "0", "1"],
        &["SETRANGE", "h", "0", "x"],
        &["GETSET", "h", "x"],
        &["GETDEL", "h"],
    ];
    for args in string_cmds {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    // MGET answers nil for a hash; SET overwrites it.
    assert_eq!(q(&mut c, &["MGET", "h"]), arr(vec![nil()]));
    ok(&mut c, &["SET", "h", "now a string"]);
    assert_eq!(q(&mut c, &["GET", "h"]), bulk("now a string"));
}

#[test]
fn type_scan_and_keyspace_commands() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h1", "a", "1", "b", "2"]);
    q(&mut c, &["HSET", "h2", "a", "1"]);
    ok(&mut c, &["SET", "s", "v"]);
    assert_eq!(q(&mut c, &["TYPE", "h1"]), status("hash"));
    let Value::Array(reply) = q(&mut c, &["SCAN", "0", "TYPE", "hash", "COUNT", "100"]) else { panic!("array") };
    assert_eq!(sorted_strings(&reply[1]), ["h1", "h2"]);
    assert_eq!(q(&mut c, &["DEL", "h2"]), int(1));

    // COPY keeps the contents and the encoding; the copy is independent.
    assert_eq!(q(&mut c, &["COPY", "h1", "copy"]), int(1));
    q(&mut c, &["HSET", "copy", "c", "3"]);
    assert_eq!(getall(&mut c, "h1"), map_of(&[("a", "1"), ("b", "2")]));
    assert_eq!(getall(&mut c, "copy"), map_of(&[("a", "1"), ("b", "2"), ("c", "3")]));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "copy"]), bulk("listpack"));
    q(&mut c, &["HSET", "big", "f", &"x".repeat(100)]);
    q(&mut c, &["HSET", "big", "f", "small"]);
    assert_eq!(q(&mut c, &["COPY", "big", "bigcopy"]), int(1));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "bigcopy"]), bulk("hashtable"));
    assert_eq!(q(&mut c, &["HGET", "bigcopy", "f"]), bulk("small"));

    // RENAME onto a string key replaces it.
    ok(&mut c, &["RENAME", "copy", "s"]);
    assert_eq!(q(&mut c, &["TYPE", "s"]), status("hash"));
    assert_eq!(q(&mut c, &["HLEN", "s"]), int(3));
    assert_eq!(q(&mut c, &["EXISTS", "copy"]), int(0));

    // MOVE to another database.
    assert_eq!(q(&mut c, &["MOVE", "s", "1"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(getall(&mut c, "s"), map_of(&[("a", "1"), ("b", "2"), ("c", "3")]));
}

#[test]
fn writes_keep_the_ttl_and_expired_hashes_vanish() {
    let s = Server::start();
    let mut c = s.client();
    q(&mut c, &["HSET", "h", "a", "1"]);
    assert_eq!(q(&mut c, &["EXPIRE", "h", "100"]), int(1));
    q(&mut c, &["HSET", "h", "b", "2"]);
    q(&mut c, &["HINCRBY", "h", "n", "1"]);
    q(&mut c, &["HDEL", "h", "a"]);
    let ttl = as_int(&q(&mut c, &["TTL", "h"]));
    assert!((90..=100).contains(&ttl), "ttl {ttl}");
    q(&mut c, &["HSET", "gone", "a", "1"]);
    assert_eq!(q(&mut c, &["PEXPIRE", "gone", "1"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(q(&mut c, &["HGET", "gone", "a"]), nil());
    assert_eq!(q(&mut c, &["HLEN", "gone"]), int(0));
    // A write to an expired hash starts a fresh one without the old fields.
    q(&mut c, &["HSET", "gone2", "a", "1"]);
    assert_eq!(q(&mut c, &["PEXPIRE", "gone2", "1"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(q(&mut c, &["HSET", "gone2", "b", "2"]), int(1));
    assert_eq!(getall(&mut c, "gone2"), map_of(&[("b", "2")]));
    assert_eq!(q(&mut c, &["TTL", "gone2"]), int(-1));
}

#[test]
fn command_info_for_hash_commands() {
    let s = Server::start();
    let mut r = s.raw();
    let rows = [
        ("hset", -4, &["write", "denyoom", "fast"][..]),
        ("hget", 3, &["readonly", "fast"][..]),
        ("hgetall", 2, &["readonly"][..]),
        ("hdel", -3, &["write", "fast"][..]),
        ("hscan", -3, &["readonly"][..]),
        ("hrandfield", -2, &["readonly"][..]),
    ];
    for (name, arity, flags) in rows {
        let info = r.call(&["COMMAND", "INFO", name]);
        let row = &info.items()[0];
        let items = row.items();
        assert_eq!(items[0], Reply::bulk(name));
        assert_eq!(items[1], Reply::Int(arity), "{name}");
        let got: Vec<String> = items[2].items().iter().map(|f| f.text()).collect();
        assert_eq!(got, flags, "{name}");
        assert_eq!(&items[3..6], &[Reply::Int(1), Reply::Int(1), Reply::Int(1)], "{name}");
    }
}

#[test]
fn many_small_hashes_and_a_big_one() {
    let s = Server::start();
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for k in 0..2000 {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(format!("hash:{k}"));
        for f in 0..10 {
            cmd.arg(format!("field:{f}")).arg(format!("{k}:{f}"));
        }
        pipe.add_command(cmd);
    }
    let _: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(q(&mut c, &["DBSIZE"]), int(2000));
    assert_eq!(q(&mut c, &["HGET", "hash:1234", "field:7"]), bulk("1234:7"));
    assert_eq!(q(&mut c, &["HLEN", "hash:1999"]), int(10));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "hash:0"]), bulk("listpack"));

    let mut pipe = redis::pipe();
    for f in 0..5000 {
        pipe.cmd("HSET").arg("big").arg(format!("f{f}")).arg(f);
    }
    let _: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(q(&mut c, &["HLEN", "big"]), int(5000));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "big"]), bulk("hashtable"));
    assert_eq!(q(&mut c, &["HINCRBY", "big", "f4999", "1"]), int(5000));
    let mut pipe = redis::pipe();
    for f in 0..5000 {
        pipe.cmd("HDEL").arg("big").arg(format!("f{f}"));
    }
    let _: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(q(&mut c, &["EXISTS", "big"]), int(0));
}
