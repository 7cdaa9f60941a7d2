//! ROLE, LOLWUT, MODULE, REPLICAOF/SLAVEOF, WAIT and MEMORY MALLOC-STATS as a
//! standalone Redis 7 with no replicas and no modules answers them.
//! Validated against Redis 7 (`GYRE_TEST_REDIS=1`) where Redis answers the
//! same (Redis refuses MODULE by default and accepts REPLICAOF; Gyre has
//! neither modules nor this kind of replication).

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn role_lolwut_and_malloc_stats() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["ROLE"]), arr(vec![bulk("master"), int(0), arr(vec![])]));
    let v = as_str(&q(c, &["LOLWUT"]));
    assert!(v.starts_with("Redis ver. 7.") && v.ends_with('\n'), "{v}");
    let art = as_str(&q(c, &["LOLWUT", "VERSION", "5", "10", "2", "2"]));
    assert!(art.starts_with("⠀⡤⠤⠤⠤⡤⠤⠤⠤⡄\n"), "{art}");
    assert!(art.contains("Georg Nees - schotter, plotter on paper, 1968. Redis ver. 7."));
    let sky = as_str(&q(c, &["LOLWUT", "VERSION", "6", "20", "5"]));
    assert!(sky.contains("Dedicated to the 8 bit game developers of past and present."));
    assert_eq!(err(c, &["LOLWUT", "VERSION", "x"]), "ERR value is not an integer or out of range");
    // What MALLOC-STATS says depends on the allocator the server was built
    // with, not on the version: Gyre and Debian's Redis use jemalloc, a Redis
    // built with MALLOC=libc (as the 7.2 validation build is) has no stats.
    let info = as_str(&q(c, &["INFO", "memory"]));
    let allocator = info_field(&info, "mem_allocator").expect("mem_allocator in INFO memory");
    let stats = as_str(&q(c, &["MEMORY", "MALLOC-STATS"]));
    if allocator.starts_with("jemalloc") {
        assert!(stats.starts_with("___ Begin jemalloc statistics ___"), "{}", &stats[..40.min(stats.len())]);
    } else {
        assert!(is_redis(), "Gyre is built with jemalloc");
        assert_eq!(stats, "Stats not supported for the current allocator");
    }
}

#[test]
fn wait_with_no_replicas() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "k", "v"]);
    assert_eq!(q(c, &["WAIT", "0", "0"]), int(0));
    let start = Instant::now();
    assert_eq!(q(c, &["WAIT", "1", "100"]), int(0));
    assert!(start.elapsed() >= Duration::from_millis(90), "WAIT returned before its timeout");
    assert_eq!(err(c, &["WAIT", "1", "-1"]), "ERR timeout is negative");
    assert_eq!(err(c, &["WAIT", "x", "1"]), "ERR value is not an integer or out of range");
    // Inside a transaction nothing waits.
    let mut r = s.raw();
    r.call(&["MULTI"]);
    r.call(&["WAIT", "5", "0"]);
    assert_eq!(r.call(&["EXEC"]), Reply::Array(vec![Reply::Int(0)]));
    // A client waiting forever is released by CLIENT UNBLOCK with the count.
    let mut w = s.raw();
    let id = match w.call(&["CLIENT", "ID"]) {
        Reply::Int(i) => i,
        other => panic!("{other:?}"),
    };
    w.send_cmd(&["WAIT", "1", "0"]);
    wait_blocked(c, 1);
    assert_eq!(q(c, &["CLIENT", "UNBLOCK", &id.to_string()]), int(1));
    assert_eq!(w.read_reply(), Reply::Int(0));
}

/// (flags, ACL categories) of `name` in COMMAND INFO, each sorted.
fn flags_and_categories(c: &mut redis::Connection, name: &str) -> (Vec<String>, Vec<String>) {
    let Value::Array(infos) = q(c, &["COMMAND", "INFO", name]) else { panic!("COMMAND INFO is an array") };
    let Value::Array(info) = &infos[0] else { panic!("{name}: no COMMAND INFO entry") };
    (sorted_strings(&info[2]), sorted_strings(&info[6]))
}

/// WAIT and WAITAOF sit in the generic group of COMMAND DOCS, but Redis 7.2
/// declares them `@connection` (not `@keyspace`), without the BLOCKING flag
/// or `@blocking`.
#[test]
fn wait_and_waitaof_are_connection_commands() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    let connection_only = vec!["@connection".to_string(), "@slow".to_string()];
    let (flags, cats) = flags_and_categories(c, "wait");
    assert_eq!(cats, connection_only);
    // Redis 7.0 flagged WAIT noscript; 7.2 lists no flags.
    let wait_flags: Vec<String> = if s.at_least_redis(7, 2) { vec![] } else { vec!["noscript".into()] };
    assert_eq!(flags, wait_flags);
    let docs = q(c, &["COMMAND", "DOCS", "wait"]);
    let Value::Array(docs) = docs else { panic!("{docs:?}") };
    let Value::Array(fields) = &docs[1] else { panic!("{docs:?}") };
    let group = fields.chunks(2).find(|kv| as_str(&kv[0]) == "group").map(|kv| as_str(&kv[1]));
    assert_eq!(group.as_deref(), Some("generic"));
    let in_category = |c: &mut redis::Connection, cat: &str, name: &str| {
        sorted_strings(&q(c, &["ACL", "CAT", cat])).iter().any(|n| n == name)
    };
    assert!(in_category(c, "connection", "wait"));
    assert!(!in_category(c, "keyspace", "wait") && !in_category(c, "blocking", "wait"));
    if s.at_least_redis(7, 2) {
        let (flags, cats) = flags_and_categories(c, "waitaof");
        assert_eq!((flags, cats), (vec!["noscript".to_string()], connection_only));
        assert!(in_category(c, "connection", "waitaof"));
        assert!(!in_category(c, "keyspace", "waitaof") && !in_category(c, "blocking", "waitaof"));
    }
}

#[test]
fn modules_and_replicaof_are_refused_clearly() {
    if is_redis() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["MODULE", "LIST"]), arr(vec![]));
    assert_eq!(
        err(c, &["MODULE", "LOAD", "/tmp/x.so"]),
        "ERR Gyre does not load Redis modules: the module API is not supported"
    );
    assert_eq!(
        err(c, &["MODULE", "UNLOAD", "foo"]),
        "ERR Error unloading module: no such module with that name ('foo')"
    );
    for cmd in ["REPLICAOF", "SLAVEOF"] {
        let e = err(c, &[cmd, "NO", "ONE"]);
        assert!(e.starts_with(&format!("ERR {cmd} is not supported: Gyre replicates through its cluster mode")), "{e}");
    }
}

fn key_flags(key: &str, flags: &[&str]) -> Value {
    arr(vec![bulk(key), arr(flags.iter().map(|f| status(f)).collect())])
}

#[test]
fn command_getkeysandflags() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    let g = |c: &mut redis::Connection, args: &[&str]| {
        let mut all = vec!["COMMAND", "GETKEYSANDFLAGS"];
        all.extend_from_slice(args);
        q(c, &all)
    };
    assert_eq!(g(c, &["GET", "k"]), arr(vec![key_flags("k", &["RO", "access"])]));
    assert_eq!(g(c, &["SET", "k", "v"]), arr(vec![key_flags("k", &["OW", "update"])]));
    assert_eq!(g(c, &["SET", "k", "v", "GET"]), arr(vec![key_flags("k", &["RW", "access", "update"])]));
    assert_eq!(
        g(c, &["LMOVE", "a", "b", "LEFT", "RIGHT"]),
        arr(vec![key_flags("a", &["RW", "access", "delete"]), key_flags("b", &["RW", "insert"])])
    );
    assert_eq!(
        g(c, &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
        arr(vec![
            key_flags("d", &["OW", "update"]),
            key_flags("a", &["RO", "access"]),
            key_flags("b", &["RO", "access"])
        ])
    );
    assert_eq!(
        g(c, &["SORT", "s", "BY", "w_*", "STORE", "dst"]),
        arr(vec![key_flags("s", &["RO", "access"]), key_flags("dst", &["OW", "update"])])
    );
    assert_eq!(g(c, &["BITFIELD", "b", "GET", "u8", "0"]), arr(vec![key_flags("b", &["RO", "access"])]));
    assert_eq!(g(c, &["BITFIELD", "b", "SET", "u8", "0", "1"]), arr(vec![key_flags("b", &["RW", "access", "update"])]));
    assert_eq!(g(c, &["EVAL", "return 1", "0"]), arr(vec![]));
    assert_eq!(g(c, &["OBJECT", "ENCODING", "k"]), arr(vec![key_flags("k", &["RO"])]));
    assert_eq!(err(c, &["COMMAND", "GETKEYSANDFLAGS", "nosuch", "a"]), "ERR Invalid command specified");
    assert_eq!(
        err(c, &["COMMAND", "GETKEYSANDFLAGS", "ZUNIONSTORE", "d", "x", "a"]),
        "ERR Invalid arguments specified for command"
    );
    if skip_before_72(&s) {
        return;
    }
    assert_eq!(err(c, &["COMMAND", "GETKEYSANDFLAGS", "PING"]), "ERR The command has no key arguments");
    assert_eq!(err(c, &["COMMAND", "GETKEYSANDFLAGS", "GET"]), "ERR Invalid number of arguments specified for command");
}
