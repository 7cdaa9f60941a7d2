//! Generic keyspace commands (no expiry; see expiry.rs): exact replies and
//! error texts of Redis 7.2.

mod common;

use common::*;
use std::collections::{BTreeSet, HashSet};

const OUT_OF_RANGE_DB: &str = "ERR DB index is out of range";
const NOT_INT: &str = "ERR value is not an integer or out of range";

#[test]
fn del_and_unlink() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q(&mut c, &["DEL", "a", "missing", "b"]), int(2));
    assert_eq!(q(&mut c, &["DEL", "a"]), int(0));
    // Duplicates count once.
    assert_eq!(q(&mut c, &["DEL", "c", "c"]), int(1));
    assert_eq!(q(&mut c, &["UNLINK", "d", "d", "missing"]), int(1));
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    assert_eq!(err(&mut c, &["DEL"]), "ERR wrong number of arguments for 'del' command");
    assert_eq!(err(&mut c, &["UNLINK"]), "ERR wrong number of arguments for 'unlink' command");
}

#[test]
fn exists_counts_duplicates() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q(&mut c, &["EXISTS", "a"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "missing"]), int(0));
    assert_eq!(q(&mut c, &["EXISTS", "a", "a", "b", "missing", "a"]), int(4));
    assert_eq!(err(&mut c, &["EXISTS"]), "ERR wrong number of arguments for 'exists' command");
}

#[test]
fn type_command() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "s", "v"]);
    ok(&mut c, &["SET", "i", "42"]);
    assert_eq!(q(&mut c, &["TYPE", "s"]), status("string"));
    assert_eq!(q(&mut c, &["TYPE", "i"]), status("string"));
    assert_eq!(q(&mut c, &["TYPE", "missing"]), status("none"));
}

fn keys(c: &mut redis::Connection, pattern: &str) -> Vec<String> {
    sorted_strings(&q(c, &["KEYS", pattern]))
}

#[test]
fn keys_glob_patterns() {
    let s = Server::start();
    let mut c = s.client();
    for k in ["hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "a*b", "a?b", "axb", "a[b", "a\\b", "foo", "Foo"]
    {
        ok(&mut c, &["SET", k, "1"]);
    }
    assert_eq!(keys(&mut c, "*").len(), 13);
    assert_eq!(keys(&mut c, "h?llo"), ["hallo", "hbllo", "hello", "hxllo"]);
    assert_eq!(keys(&mut c, "h*llo"), ["hallo", "hbllo", "heeeello", "hello", "hllo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut c, "h[^e]llo"), ["hallo", "hbllo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[a-b]llo"), ["hallo", "hbllo"]);
    // A reversed range is accepted as the same range.
    assert_eq!(keys(&mut c, "h[b-a]llo"), ["hallo", "hbllo"]);
    // Escapes match the special character literally.
    assert_eq!(keys(&mut c, "a\\*b"), ["a*b"]);
    assert_eq!(keys(&mut c, "a\\?b"), ["a?b"]);
    assert_eq!(keys(&mut c, "a\\[b"), ["a[b"]);
    assert_eq!(keys(&mut c, "a\\\\b"), ["a\\b"]);
    assert_eq!(keys(&mut c, "a?b"), ["a*b", "a?b", "a[b", "a\\b", "axb"]);
    assert_eq!(keys(&mut c, "a[\\[]b"), ["a[b"]);
    // Case-sensitive.
    assert_eq!(keys(&mut c, "foo"), ["foo"]);
    assert_eq!(keys(&mut c, "[fF]oo"), ["Foo", "foo"]);
    assert!(keys(&mut c, "nomatch*").is_empty());
    assert_eq!(q(&mut c, &["KEYS", "zzz"]), arr(vec![]));
    assert_eq!(err(&mut c, &["KEYS"]), "ERR wrong number of arguments for 'keys' command");
}

#[test]
fn keys_only_sees_current_db() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "zero", "1"]);
    ok(&mut c, &["SELECT", "1"]);
    ok(&mut c, &["SET", "one", "1"]);
    assert_eq!(keys(&mut c, "*"), ["one"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(1));
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(keys(&mut c, "*"), ["zero"]);
}

/// Runs a full SCAN iteration and returns every key returned (with repeats)
/// plus the number of calls.
fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = q(c, &args);
        calls += 1;
        let Value::Array(items) = reply else { panic!("SCAN reply {:?}", reply) };
        assert_eq!(items.len(), 2, "SCAN reply {:?}", items);
        // The cursor is a bulk string.
        let Value::BulkString(next) = &items[0] else { panic!("cursor {:?}", items[0]) };
        let next = String::from_utf8(next.clone()).unwrap();
        next.parse::<u64>().expect("numeric cursor");
        let Value::Array(keys) = &items[1] else { panic!("keys {:?}", items[1]) };
        out.extend(keys.iter().map(as_str));
        assert!(calls < 100_000, "SCAN does not terminate");
        if next == "0" {
            return (out, calls);
        }
        cursor = next;
    }
}

#[test]
fn scan_full_iteration() {
    let s = Server::start();
    let mut c = s.client();
    let mut expected = BTreeSet::new();
    for chunk in (0..1000).collect::<Vec<_>>().chunks(100) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            let k = format!("key:{}", i);
            expected.insert(k.clone());
            args.push(k);
            args.push(i.to_string());
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        ok(&mut c, &refs);
    }
    let (got, calls) = scan_all(&mut c, &["COUNT", "10"]);
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(set, expected, "every key must be returned at least once");
    assert!(calls > 1, "COUNT 10 over 1000 keys takes several calls");

    // Default COUNT.
    let (got, _) = scan_all(&mut c, &[]);
    let set: BTreeSet<String> = got.into_iter().collect();
    assert_eq!(set, expected);

    // MATCH filters (possibly returning empty pages before the end).
    let (got, _) = scan_all(&mut c, &["MATCH", "key:1?", "COUNT", "50"]);
    let set: BTreeSet<String> = got.into_iter().collect();
    let want: BTreeSet<String> = (10..20).map(|i| format!("key:{}", i)).collect();
    assert_eq!(set, want);

    // TYPE filter.
    let (got, _) = scan_all(&mut c, &["TYPE", "string", "COUNT", "1000"]);
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>().len(), 1000);
    let (got, _) = scan_all(&mut c, &["TYPE", "list"]);
    assert!(got.is_empty());
    let (got, _) = scan_all(&mut c, &["MATCH", "key:99*", "type", "STRING"]);
    let set: BTreeSet<String> = got.into_iter().collect();
    assert_eq!(set.len(), 11);
}

#[test]
fn scan_empty_and_errors() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["SCAN", "0"]), arr(vec![bulk("0"), arr(vec![])]));
    ok(&mut c, &["SET", "only", "1"]);
    assert_eq!(q(&mut c, &["SCAN", "0"]), arr(vec![bulk("0"), bulks(&["only"])]));
    assert_eq!(err(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SCAN", "1x"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["SCAN", "0", "COUNT", "x"]), NOT_INT);
    assert_eq!(err(&mut c, &["SCAN", "0", "COUNT"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["SCAN", "0", "FOO", "bar"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["SCAN"]), "ERR wrong number of arguments for 'scan' command");
}

#[test]
fn rename_and_renamenx() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["RENAME", "a", "b"]);
    assert_eq!(q(&mut c, &["EXISTS", "a"]), int(0));
    assert_eq!(q(&mut c, &["GET", "b"]), bulk("1"));
    // Overwrites the destination.
    ok(&mut c, &["SET", "c", "3"]);
    ok(&mut c, &["RENAME", "b", "c"]);
    assert_eq!(q(&mut c, &["GET", "c"]), bulk("1"));
    assert_eq!(q(&mut c, &["DBSIZE"]), int(1));
    // Renaming onto itself is OK when the key exists.
    ok(&mut c, &["RENAME", "c", "c"]);
    assert_eq!(q(&mut c, &["GET", "c"]), bulk("1"));
    assert_eq!(err(&mut c, &["RENAME", "missing", "x"]), "ERR no such key");
    assert_eq!(err(&mut c, &["RENAME", "missing", "missing"]), "ERR no such key");
    // The TTL moves with the key; the destination's TTL is dropped.
    ok(&mut c, &["SET", "t", "v", "EX", "100"]);
    ok(&mut c, &["SET", "u", "v", "EX", "1000"]);
    ok(&mut c, &["RENAME", "t", "t2"]);
    let ttl = as_int(&q(&mut c, &["TTL", "t2"]));
    assert!((99..=100).contains(&ttl), "ttl {}", ttl);
    ok(&mut c, &["SET", "p", "v"]);
    ok(&mut c, &["RENAME", "p", "u"]);
    assert_eq!(q(&mut c, &["TTL", "u"]), int(-1));

    ok(&mut c, &["MSET", "x", "1", "y", "2"]);
    assert_eq!(q(&mut c, &["RENAMENX", "x", "y"]), int(0));
    assert_eq!(q(&mut c, &["GET", "x"]), bulk("1"));
    assert_eq!(q(&mut c, &["RENAMENX", "x", "z"]), int(1));
    assert_eq!(q(&mut c, &["GET", "z"]), bulk("1"));
    assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0));
    assert_eq!(q(&mut c, &["RENAMENX", "z", "z"]), int(0));
    assert_eq!(err(&mut c, &["RENAMENX", "missing", "q"]), "ERR no such key");
    assert_eq!(err(&mut c, &["RENAME", "a"]), "ERR wrong number of arguments for 'rename' command");
}

#[test]
fn randomkey() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["RANDOMKEY"]), nil());
    ok(&mut c, &["SET", "only", "1"]);
    assert_eq!(q(&mut c, &["RANDOMKEY"]), bulk("only"));
    ok(&mut c, &["MSET", "a", "1", "b", "2"]);
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        seen.insert(as_str(&q(&mut c, &["RANDOMKEY"])));
    }
    assert!(seen.iter().all(|k| ["only", "a", "b"].contains(&k.as_str())));
    assert!(seen.len() >= 2, "RANDOMKEY is random: {:?}", seen);
    assert_eq!(err(&mut c, &["RANDOMKEY", "x"]), "ERR wrong number of arguments for 'randomkey' command");
}

#[test]
fn dbsize_flushdb_flushall() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(3));
    ok(&mut c, &["SELECT", "1"]);
    ok(&mut c, &["SET", "x", "1"]);
    ok(&mut c, &["FLUSHDB"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(3));
    ok(&mut c, &["FLUSHDB", "ASYNC"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["FLUSHDB", "sync"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));

    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["SELECT", "5"]);
    ok(&mut c, &["SET", "b", "1"]);
    ok(&mut c, &["FLUSHALL"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["FLUSHALL", "ASYNC"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["FLUSHALL", "SYNC"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));

    assert_eq!(err(&mut c, &["FLUSHDB", "FOO"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["FLUSHALL", "FOO"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["DBSIZE", "x"]), "ERR wrong number of arguments for 'dbsize' command");
}

#[test]
fn touch() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q(&mut c, &["TOUCH", "a", "b", "missing"]), int(2));
    assert_eq!(q(&mut c, &["TOUCH", "a", "a"]), int(2));
    assert_eq!(q(&mut c, &["TOUCH", "missing"]), int(0));
    assert_eq!(err(&mut c, &["TOUCH"]), "ERR wrong number of arguments for 'touch' command");
}

#[test]
fn copy() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "src", "v"]);
    assert_eq!(q(&mut c, &["COPY", "src", "dst"]), int(1));
    assert_eq!(q(&mut c, &["GET", "dst"]), bulk("v"));
    assert_eq!(q(&mut c, &["GET", "src"]), bulk("v"));
    // Changing the copy does not change the source.
    assert_eq!(q(&mut c, &["APPEND", "dst", "x"]), int(2));
    assert_eq!(q(&mut c, &["GET", "src"]), bulk("v"));
    // Existing destination: 0 unless REPLACE.
    assert_eq!(q(&mut c, &["COPY", "src", "dst"]), int(0));
    assert_eq!(q(&mut c, &["GET", "dst"]), bulk("vx"));
    assert_eq!(q(&mut c, &["COPY", "src", "dst", "REPLACE"]), int(1));
    assert_eq!(q(&mut c, &["GET", "dst"]), bulk("v"));
    assert_eq!(q(&mut c, &["COPY", "missing", "dst2"]), int(0));
    assert_eq!(q(&mut c, &["EXISTS", "dst2"]), int(0));
    // The TTL is copied.
    ok(&mut c, &["SET", "t", "v", "EX", "100"]);
    assert_eq!(q(&mut c, &["COPY", "t", "t2"]), int(1));
    let ttl = as_int(&q(&mut c, &["TTL", "t2"]));
    assert!((99..=100).contains(&ttl), "ttl {}", ttl);
    // Into another database.
    assert_eq!(q(&mut c, &["COPY", "src", "other", "DB", "3"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "other"]), int(0));
    assert_eq!(q(&mut c, &["COPY", "src", "src", "DB", "3"]), int(1));
    ok(&mut c, &["SELECT", "3"]);
    assert_eq!(q(&mut c, &["GET", "other"]), bulk("v"));
    assert_eq!(q(&mut c, &["GET", "src"]), bulk("v"));
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(q(&mut c, &["COPY", "src", "other", "DB", "3", "REPLACE"]), int(1));
    assert_eq!(err(&mut c, &["COPY", "src", "src"]), "ERR source and destination objects are the same");
    assert_eq!(err(&mut c, &["COPY", "src", "x", "DB", "16"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["COPY", "src", "x", "DB", "abc"]), NOT_INT);
    assert_eq!(err(&mut c, &["COPY", "src", "x", "FOO"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["COPY", "src", "x", "DB"]), "ERR syntax error");
}

#[test]
fn object_encoding() {
    let s = Server::start();
    let mut c = s.client();
    let enc = |c: &mut redis::Connection, k: &str| q(c, &["OBJECT", "ENCODING", k]);
    for (v, want) in [
        ("12345", "int"),
        ("-1", "int"),
        ("0", "int"),
        ("9223372036854775807", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("01", "embstr"),
        ("+1", "embstr"),
        ("1.5", "embstr"),
        ("hello", "embstr"),
        ("", "embstr"),
    ] {
        ok(&mut c, &["SET", "k", v]);
        assert_eq!(enc(&mut c, "k"), bulk(want), "value {:?}", v);
    }
    // 44 bytes is the embstr limit.
    ok(&mut c, &["SET", "k", &"x".repeat(44)]);
    assert_eq!(enc(&mut c, "k"), bulk("embstr"));
    ok(&mut c, &["SET", "k", &"x".repeat(45)]);
    assert_eq!(enc(&mut c, "k"), bulk("raw"));
    // Modifying a string makes it raw.
    ok(&mut c, &["SET", "k", "abc"]);
    q(&mut c, &["APPEND", "k", "d"]);
    assert_eq!(enc(&mut c, "k"), bulk("raw"));
    ok(&mut c, &["SET", "k", "abc"]);
    q(&mut c, &["SETRANGE", "k", "0", "x"]);
    assert_eq!(enc(&mut c, "k"), bulk("raw"));
    // INCR produces an int.
    ok(&mut c, &["SET", "k", "abc"]);
    q(&mut c, &["DEL", "k"]);
    q(&mut c, &["INCR", "k"]);
    assert_eq!(enc(&mut c, "k"), bulk("int"));
    q(&mut c, &["INCRBYFLOAT", "f", "1.5"]);
    assert_eq!(enc(&mut c, "f"), bulk("embstr"));
    assert_eq!(enc(&mut c, "missing"), nil());
}

#[test]
fn object_other_subcommands() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "some value"]);
    let idle = as_int(&q(&mut c, &["OBJECT", "IDLETIME", "k"]));
    assert!((0..=2).contains(&idle), "idle {}", idle);
    assert_eq!(q(&mut c, &["OBJECT", "REFCOUNT", "k"]), int(1));
    assert_eq!(q(&mut c, &["OBJECT", "IDLETIME", "missing"]), nil());
    assert_eq!(q(&mut c, &["OBJECT", "REFCOUNT", "missing"]), nil());
    assert_eq!(q(&mut c, &["object", "encoding", "k"]), bulk("embstr"));

    assert_eq!(
        err(&mut c, &["OBJECT", "FREQ", "k"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
         Please note that when switching between policies at runtime LRU and LFU data \
         will take some time to adjust."
    );
    ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    let freq = as_int(&q(&mut c, &["OBJECT", "FREQ", "k"]));
    assert!((0..=255).contains(&freq), "freq {}", freq);
    assert_eq!(q(&mut c, &["OBJECT", "FREQ", "missing"]), nil());
    assert_eq!(
        err(&mut c, &["OBJECT", "IDLETIME", "k"]),
        "ERR An LFU maxmemory policy is selected, idle time not tracked. \
         Please note that when switching between policies at runtime LRU and LFU data \
         will take some time to adjust."
    );

    let Value::Array(help) = q(&mut c, &["OBJECT", "HELP"]) else { panic!("OBJECT HELP is an array") };
    let lines: Vec<String> = help.iter().map(as_str).collect();
    assert_eq!(lines[0], "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    for word in ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT", "HELP"] {
        assert!(lines.iter().any(|l| l.starts_with(word)), "{} in {:?}", word, lines);
    }
    assert_eq!(err(&mut c, &["OBJECT", "FOO", "k"]), "ERR unknown subcommand 'FOO'. Try OBJECT HELP.");
    assert_eq!(err(&mut c, &["OBJECT", "ENCODING"]), "ERR wrong number of arguments for 'object|encoding' command");
    assert_eq!(err(&mut c, &["OBJECT"]), "ERR wrong number of arguments for 'object' command");
}

#[test]
fn select_databases() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "zero"]);
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(q(&mut c, &["GET", "k"]), nil());
    ok(&mut c, &["SET", "k", "one"]);
    ok(&mut c, &["SELECT", "15"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("zero"));
    // The selected DB is per connection.
    let mut other = s.client();
    ok(&mut other, &["SELECT", "1"]);
    assert_eq!(q(&mut other, &["GET", "k"]), bulk("one"));
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("zero"));

    assert_eq!(err(&mut c, &["SELECT", "16"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["SELECT", "-1"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["SELECT", "abc"]), NOT_INT);
    assert_eq!(err(&mut c, &["SELECT", "1.0"]), NOT_INT);
    assert_eq!(err(&mut c, &["SELECT"]), "ERR wrong number of arguments for 'select' command");
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("zero"));
}

#[test]
fn swapdb() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "a", "in0"]);
    ok(&mut c, &["SELECT", "1"]);
    ok(&mut c, &["MSET", "b", "in1", "c", "in1"]);
    ok(&mut c, &["SWAPDB", "0", "1"]);
    // This connection still has DB 1 selected, which now holds the old DB 0.
    assert_eq!(keys(&mut c, "*"), ["a"]);
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(keys(&mut c, "*"), ["b", "c"]);
    // Another connection that had DB 0 selected sees the swap too.
    let mut other = s.client();
    assert_eq!(q(&mut other, &["DBSIZE"]), int(2));
    ok(&mut c, &["SWAPDB", "0", "0"]);
    assert_eq!(q(&mut c, &["DBSIZE"]), int(2));
    assert_eq!(err(&mut c, &["SWAPDB", "x", "1"]), "ERR invalid first DB index");
    assert_eq!(err(&mut c, &["SWAPDB", "0", "x"]), "ERR invalid second DB index");
    assert_eq!(err(&mut c, &["SWAPDB", "0", "16"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["SWAPDB", "-1", "0"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["SWAPDB", "0"]), "ERR wrong number of arguments for 'swapdb' command");
}

#[test]
fn move_between_databases() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q(&mut c, &["MOVE", "k", "1"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
    assert_eq!(q(&mut c, &["MOVE", "missing", "1"]), int(0));
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));
    // The TTL moves along.
    let ttl = as_int(&q(&mut c, &["TTL", "k"]));
    assert!((99..=100).contains(&ttl), "ttl {}", ttl);
    // Destination exists: not moved.
    ok(&mut c, &["SELECT", "0"]);
    ok(&mut c, &["SET", "k", "other"]);
    assert_eq!(q(&mut c, &["MOVE", "k", "1"]), int(0));
    assert_eq!(q(&mut c, &["GET", "k"]), bulk("other"));
    assert_eq!(err(&mut c, &["MOVE", "k", "0"]), "ERR source and destination objects are the same");
    assert_eq!(err(&mut c, &["MOVE", "k", "16"]), OUT_OF_RANGE_DB);
    assert_eq!(err(&mut c, &["MOVE", "k", "x"]), NOT_INT);
}

/// Regression (issue 18): Redis's "MOVE basic usage", run as its test suite
/// runs it (databases 9 and 10, the destination emptied first). Gyre and Redis
/// agree; the suite's failure came from the tests before it (stream and DEBUG
/// commands) leaving keys in database 9 behind.
#[test]
fn move_basic_usage() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SELECT", "10"]);
    ok(c, &["FLUSHDB"]);
    ok(c, &["SELECT", "9"]);
    ok(c, &["SET", "mykey", "foobar"]);
    assert_eq!(q(c, &["MOVE", "mykey", "10"]), int(1));
    assert_eq!(q(c, &["EXISTS", "mykey"]), int(0));
    assert_eq!(q(c, &["DBSIZE"]), int(0));
    ok(c, &["SELECT", "10"]);
    assert_eq!(q(c, &["GET", "mykey"]), bulk("foobar"));
    assert_eq!(q(c, &["DBSIZE"]), int(1));
    ok(c, &["SELECT", "9"]);
    ok(c, &["SET", "mykey", "hello"]);
    assert_eq!(q(c, &["MOVE", "mykey", "10"]), int(0));
    assert_eq!(err(c, &["MOVE", "mykey", "notanumber"]), "ERR value is not an integer or out of range");
    assert_eq!(err(c, &["MOVE", "mykey", "9"]), "ERR source and destination objects are the same");
    assert_eq!(err(c, &["MOVE", "mykey", "16"]), "ERR DB index is out of range");
    ok(c, &["SET", "vol", "foo", "EX", "100"]);
    assert_eq!(q(c, &["MOVE", "vol", "10"]), int(1));
    assert_eq!(q(c, &["TTL", "vol"]), int(-2));
    ok(c, &["SELECT", "10"]);
    let ttl = as_int(&q(c, &["TTL", "vol"]));
    assert!(ttl > 0 && ttl <= 100, "{ttl}");
    assert_eq!(q(c, &["TTL", "mykey"]), int(-1));
}
