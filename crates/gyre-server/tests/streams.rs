//! Streams: XADD and its IDs and trimming, ranges, XREAD (blocking too),
//! consumer groups (XREADGROUP, XPENDING, XACK, XCLAIM, XAUTOCLAIM, XINFO),
//! the generic commands on streams, and persistence. Exact replies and errors
//! of Redis; validated against Redis 7.0 with `GYRE_TEST_REDIS=1` (what only
//! 7.2 has is marked with `skip_before_72`).

mod common;

use std::time::Duration;

use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// One entry as the redis crate reads it: [id, [field, value, ...]].
fn entry(id: &str, fields: &[&str]) -> Value {
    arr(vec![bulk(id), bulks(fields)])
}

fn entries(list: &[(&str, &[&str])]) -> Value {
    arr(list.iter().map(|(id, f)| entry(id, f)).collect())
}

fn fill(c: &mut redis::Connection, key: &str, ids: &[&str]) {
    for id in ids {
        q(c, &["XADD", key, id, "f", id]);
    }
}

/// A flat RESP2 map reply (XINFO) as (field, value) lookups.
fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    let Value::Array(items) = v else { panic!("expected a flat map, got {v:?}") };
    items.chunks(2).find(|p| as_str(&p[0]) == name).map(|p| &p[1]).unwrap_or_else(|| panic!("no {name} in {v:?}"))
}

#[test]
fn xadd_ids_explicit_automatic_and_partial() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
    assert_eq!(q(&mut c, &["XADD", "s", "1-*", "a", "2"]), bulk("1-2"));
    assert_eq!(q(&mut c, &["XADD", "s", "5", "a", "3"]), bulk("5-0"));
    assert_eq!(q(&mut c, &["XADD", "s", "7-*", "a", "4"]), bulk("7-0"));
    let auto = as_str(&q(&mut c, &["XADD", "s", "*", "a", "5"]));
    let ms: i64 = auto.split('-').next().unwrap().parse().unwrap();
    assert!((ms - now_ms()).abs() < 10_000, "{auto}");
    assert_eq!(q(&mut c, &["XLEN", "s"]), int(5));
    assert_eq!(q(&mut c, &["TYPE", "s"]), status("stream"));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "s"]), bulk("stream"));

    let top = "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    assert_eq!(err(&mut c, &["XADD", "s", "5-0", "a", "1"]), top);
    assert_eq!(err(&mut c, &["XADD", "s", "1-*", "a", "1"]), top);
    assert_eq!(err(&mut c, &["XADD", "n", "0-0", "a", "1"]), "ERR The ID specified in XADD must be greater than 0-0");
    assert_eq!(q(&mut c, &["EXISTS", "n"]), int(0));
    assert_eq!(q(&mut c, &["XADD", "n", "0-1", "a", "1"]), bulk("0-1"));
    assert_eq!(err(&mut c, &["XADD", "s", "*", "a"]), "ERR wrong number of arguments for 'xadd' command");
    assert_eq!(err(&mut c, &["XADD", "s", "*", "a", "1", "b"]), "ERR wrong number of arguments for 'xadd' command");
    assert_eq!(err(&mut c, &["XADD", "s", "x-1", "a", "1"]), INVALID_ID);
    assert_eq!(err(&mut c, &["XADD", "s", "+", "a", "1"]), INVALID_ID);
    assert_eq!(q(&mut c, &["XADD", "nope", "NOMKSTREAM", "*", "a", "1"]), nil());
    assert_eq!(q(&mut c, &["EXISTS", "nope"]), int(0));
    q(&mut c, &["SET", "str", "x"]);
    assert_eq!(err(&mut c, &["XADD", "str", "*", "a", "1"]), WRONGTYPE);
    assert_eq!(err(&mut c, &["XLEN", "str"]), WRONGTYPE);
    assert_eq!(q(&mut c, &["XLEN", "missing"]), int(0));

    // The last possible ID.
    q(&mut c, &["XADD", "max", "18446744073709551615-18446744073709551615", "a", "1"]);
    assert_eq!(
        err(&mut c, &["XADD", "max", "*", "a", "1"]),
        "ERR The stream has exhausted the last possible ID, unable to add more items"
    );
}

#[test]
fn xrange_and_xrevrange_with_exclusive_bounds_and_count() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "1-1", "2-0", "3-5"]);
    let all =
        entries(&[("1-0", &["f", "1-0"]), ("1-1", &["f", "1-1"]), ("2-0", &["f", "2-0"]), ("3-5", &["f", "3-5"])]);
    assert_eq!(q(&mut c, &["XRANGE", "s", "-", "+"]), all);
    assert_eq!(
        q(&mut c, &["XRANGE", "s", "1", "2"]),
        entries(&[("1-0", &["f", "1-0"]), ("1-1", &["f", "1-1"]), ("2-0", &["f", "2-0"])])
    );
    assert_eq!(q(&mut c, &["XRANGE", "s", "(1-0", "(3-5"]), entries(&[("1-1", &["f", "1-1"]), ("2-0", &["f", "2-0"])]));
    assert_eq!(
        q(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "2"]),
        entries(&[("1-0", &["f", "1-0"]), ("1-1", &["f", "1-1"])])
    );
    assert_eq!(q(&mut c, &["XREVRANGE", "s", "+", "-", "COUNT", "1"]), entries(&[("3-5", &["f", "3-5"])]));
    assert_eq!(
        q(&mut c, &["XREVRANGE", "s", "(3-5", "(1-0"]),
        entries(&[("2-0", &["f", "2-0"]), ("1-1", &["f", "1-1"])])
    );
    assert_eq!(q(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "0"]), Value::Nil);
    assert_eq!(q(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "-3"]), Value::Nil);
    assert_eq!(q(&mut c, &["XRANGE", "s", "5", "4"]), arr(vec![]));
    assert_eq!(q(&mut c, &["XRANGE", "missing", "-", "+"]), arr(vec![]));
    assert_eq!(err(&mut c, &["XRANGE", "s", "(-", "+"]), INVALID_ID);
    assert_eq!(err(&mut c, &["XRANGE", "s", "x", "+"]), INVALID_ID);
    assert_eq!(
        err(&mut c, &["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"]),
        "ERR invalid start ID for the interval"
    );
    assert_eq!(err(&mut c, &["XRANGE", "s", "-", "(0-0"]), "ERR invalid end ID for the interval");
    assert_eq!(err(&mut c, &["XRANGE", "s", "-", "+", "COUNT"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "x"]), "ERR value is not an integer or out of range");
    // Many entries across nodes, and fields that differ from the first entry's.
    for i in 0..300 {
        let id = format!("10-{i}");
        if i % 7 == 0 {
            q(&mut c, &["XADD", "big", &id, "other", "x", "second", "y"]);
        } else {
            q(&mut c, &["XADD", "big", &id, "f", &i.to_string()]);
        }
    }
    assert_eq!(
        q(&mut c, &["XRANGE", "big", "10-150", "10-151"]),
        entries(&[("10-150", &["f", "150"]), ("10-151", &["f", "151"])])
    );
    assert_eq!(
        q(&mut c, &["XRANGE", "big", "10-147", "10-147"]),
        entries(&[("10-147", &["other", "x", "second", "y"])])
    );
    let Value::Array(rev) = q(&mut c, &["XREVRANGE", "big", "+", "-"]) else { panic!() };
    assert_eq!(rev.len(), 300);
}

#[test]
fn xdel_xtrim_and_xadd_trimming() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "2-0", "3-0", "4-0", "5-0"]);
    assert_eq!(q(&mut c, &["XDEL", "s", "2-0", "2-0", "9-0"]), int(1));
    assert_eq!(q(&mut c, &["XDEL", "missing", "1-0"]), int(0));
    assert_eq!(err(&mut c, &["XDEL", "s", "x"]), INVALID_ID);
    assert_eq!(q(&mut c, &["XLEN", "s"]), int(4));
    assert_eq!(q(&mut c, &["XTRIM", "s", "MAXLEN", "2"]), int(2));
    assert_eq!(q(&mut c, &["XRANGE", "s", "-", "+"]), entries(&[("4-0", &["f", "4-0"]), ("5-0", &["f", "5-0"])]));
    assert_eq!(q(&mut c, &["XTRIM", "s", "MINID", "=", "5"]), int(1));
    assert_eq!(q(&mut c, &["XTRIM", "s", "MAXLEN", "0"]), int(1));
    assert_eq!(q(&mut c, &["EXISTS", "s"]), int(1), "an empty stream stays");
    assert_eq!(q(&mut c, &["XLEN", "s"]), int(0));
    assert_eq!(q(&mut c, &["XTRIM", "missing", "MAXLEN", "0"]), int(0));

    // XADD trims after adding.
    for i in 1..=5 {
        q(&mut c, &["XADD", "t", "MAXLEN", "3", &format!("{i}-0"), "f", "v"]);
    }
    assert_eq!(q(&mut c, &["XLEN", "t"]), int(3));
    assert_eq!(q(&mut c, &["XADD", "t", "MINID", "5", "6-0", "f", "v"]), bulk("6-0"));
    assert_eq!(q(&mut c, &["XLEN", "t"]), int(2));

    // Approximate trimming removes whole nodes (100 entries) only.
    for i in 1..=250 {
        q(&mut c, &["XADD", "a", &format!("{i}-0"), "f", "v"]);
    }
    assert_eq!(q(&mut c, &["XTRIM", "a", "MAXLEN", "~", "200"]), int(0));
    assert_eq!(q(&mut c, &["XTRIM", "a", "MAXLEN", "~", "120"]), int(100));
    assert_eq!(q(&mut c, &["XTRIM", "a", "MINID", "~", "220"]), int(100));
    assert_eq!(q(&mut c, &["XLEN", "a"]), int(50));
    assert_eq!(q(&mut c, &["XTRIM", "a", "MAXLEN", "~", "0", "LIMIT", "10"]), int(0));

    // Node size follows stream-node-max-entries; LIMIT caps approximate
    // trimming (Redis's own test, "XADD with LIMIT consecutive calls").
    ok(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "10"]);
    for _ in 0..100 {
        q(&mut c, &["XADD", "lim", "*", "xitem", "v"]);
    }
    q(&mut c, &["XADD", "lim", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v"]);
    assert_eq!(q(&mut c, &["XLEN", "lim"]), int(71));
    q(&mut c, &["XADD", "lim", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v"]);
    assert_eq!(q(&mut c, &["XLEN", "lim"]), int(62));
    let info = q(&mut c, &["XINFO", "STREAM", "lim"]);
    assert_eq!(field(&info, "radix-tree-keys"), &int(7));
    ok(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "100"]);

    assert_eq!(err(&mut c, &["XTRIM", "a", "MAXLEN", "-1"]), "ERR The MAXLEN argument must be >= 0.");
    assert_eq!(
        err(&mut c, &["XTRIM", "a", "MAXLEN", "1", "LIMIT", "1"]),
        "ERR syntax error, LIMIT cannot be used without the special ~ option"
    );
    assert_eq!(
        err(&mut c, &["XTRIM", "a", "MAXLEN", "1", "MINID", "1"]),
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["XTRIM", "a", "LIMIT", "1"]),
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
    );
    assert_eq!(
        err(&mut c, &["XTRIM", "a", "LIMIT", "0"]),
        "ERR syntax error, XTRIM must be called with a trimming strategy"
    );
    assert_eq!(err(&mut c, &["XTRIM", "a", "MAXLEN", "~", "1", "LIMIT", "-1"]), "ERR The LIMIT argument must be >= 0.");
    assert_eq!(err(&mut c, &["XTRIM", "a", "FOO", "1"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["XADD", "a", "LIMIT", "5", "*", "f", "v"]),
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
    );
}

#[test]
fn xsetid_and_the_counters_xinfo_reports() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "2-0", "3-0"]);
    q(&mut c, &["XDEL", "s", "2-0"]);
    let info = q(&mut c, &["XINFO", "STREAM", "s"]);
    assert_eq!(field(&info, "length"), &int(2));
    assert_eq!(field(&info, "last-generated-id"), &bulk("3-0"));
    assert_eq!(field(&info, "max-deleted-entry-id"), &bulk("2-0"));
    assert_eq!(field(&info, "entries-added"), &int(3));
    assert_eq!(field(&info, "groups"), &int(0));
    assert_eq!(field(&info, "first-entry"), &entry("1-0", &["f", "1-0"]));
    assert_eq!(field(&info, "last-entry"), &entry("3-0", &["f", "3-0"]));

    assert_eq!(
        err(&mut c, &["XSETID", "s", "2-0"]),
        "ERR The ID specified in XSETID is smaller than the target stream top item"
    );
    assert_eq!(
        err(&mut c, &["XSETID", "s", "5-0", "ENTRIESADDED", "1"]),
        "ERR The entries_added specified in XSETID is smaller than the target stream length"
    );
    assert_eq!(err(&mut c, &["XSETID", "s", "5-0", "ENTRIESADDED", "-1"]), "ERR entries_added must be positive");
    assert_eq!(
        err(&mut c, &["XSETID", "s", "5-0", "MAXDELETEDID", "6-0"]),
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
    );
    assert_eq!(err(&mut c, &["XSETID", "nokey", "5-0"]), "ERR no such key");
    assert_eq!(err(&mut c, &["XSETID", "s", "5-0", "BOGUS"]), "ERR syntax error");
    ok(&mut c, &["XSETID", "s", "5-0", "ENTRIESADDED", "9", "MAXDELETEDID", "4-0"]);
    let info = q(&mut c, &["XINFO", "STREAM", "s"]);
    assert_eq!(field(&info, "last-generated-id"), &bulk("5-0"));
    assert_eq!(field(&info, "entries-added"), &int(9));
    assert_eq!(field(&info, "max-deleted-entry-id"), &bulk("4-0"));
    assert_eq!(
        err(&mut c, &["XADD", "s", "5-0", "f", "v"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(q(&mut c, &["XADD", "s", "5-*", "f", "v"]), bulk("5-1"));
    assert_eq!(err(&mut c, &["XINFO", "STREAM", "nokey"]), "ERR no such key");
}

#[test]
fn xread_serves_streams_and_resp3_answers_a_map() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "a", &["1-0", "2-0"]);
    fill(&mut c, "b", &["3-0"]);
    assert_eq!(
        q(&mut c, &["XREAD", "STREAMS", "a", "b", "1-0", "0"]),
        arr(vec![
            arr(vec![bulk("a"), entries(&[("2-0", &["f", "2-0"])])]),
            arr(vec![bulk("b"), entries(&[("3-0", &["f", "3-0"])])]),
        ])
    );
    assert_eq!(
        q(&mut c, &["XREAD", "COUNT", "1", "STREAMS", "a", "0"]),
        arr(vec![arr(vec![bulk("a"), entries(&[("1-0", &["f", "1-0"])])])])
    );
    assert_eq!(q(&mut c, &["XREAD", "STREAMS", "a", "$"]), Value::Nil);
    assert_eq!(q(&mut c, &["XREAD", "STREAMS", "missing", "0"]), Value::Nil);
    let mut r3 = raw3(&s);
    let reply = r3.call(&["XREAD", "STREAMS", "b", "0"]);
    assert_eq!(
        reply,
        Reply::Map(vec![(
            Reply::bulk("b"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("3-0"),
                Reply::Array(vec![Reply::bulk("f"), Reply::bulk("3-0")])
            ])])
        )])
    );
    assert_eq!(r3.call(&["XREAD", "STREAMS", "b", "$"]), Reply::Null);

    // Redis 7.0 words it "Unbalanced XREAD list"; 7.2 quotes the command name.
    if s.at_least_redis(7, 2) {
        assert_eq!(
            err(&mut c, &["XREAD", "STREAMS", "a", "b", "0"]),
            "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
        );
    }
    assert_eq!(err(&mut c, &["XREAD", "COUNT", "1", "a", "0"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["XREAD", "STREAMS", "a", ">"]),
        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
    );
    assert_eq!(
        err(&mut c, &["XREAD", "GROUP", "g", "c", "STREAMS", "a", "0"]),
        "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
    );
    assert_eq!(err(&mut c, &["XREAD", "BLOCK", "-1", "STREAMS", "a", "0"]), "ERR timeout is negative");
    q(&mut c, &["SET", "str", "x"]);
    assert_eq!(err(&mut c, &["XREAD", "STREAMS", "str", "0"]), WRONGTYPE);
    assert_eq!(
        q(&mut c, &["COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]),
        bulks(&["a", "b"])
    );
}

#[test]
fn blocking_xread_wakes_on_xadd_times_out_and_does_not_block_in_multi() {
    let s = Server::start();
    let mut c = s.client();
    let mut w = s.raw();
    q(&mut c, &["XADD", "s", "1-0", "f", "old"]);
    // `$` means entries newer than the last one when the command arrived.
    w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    let list = as_str(&q(&mut c, &["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| l.contains(" flags=b ") && l.contains(" cmd=xread ")), "{list}");
    q(&mut c, &["XADD", "s", "2-0", "f", "new"]);
    assert_eq!(
        w.read_reply(),
        Reply::Array(vec![Reply::Array(vec![
            Reply::bulk("s"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("2-0"),
                Reply::Array(vec![Reply::bulk("f"), Reply::bulk("new")])
            ])])
        ])])
    );
    // A stream that does not exist yet.
    w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "later", "0"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["XADD", "later", "5-0", "f", "v"]);
    assert_eq!(w.read_reply().items()[0].items()[0], Reply::bulk("later"));
    // Timeout: a null array.
    w.send_cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]);
    assert_eq!(w.read_reply(), Reply::NilArray);
    // Inside MULTI nothing waits.
    assert_eq!(w.call(&["MULTI"]), Reply::simple("OK"));
    w.call(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(w.call(&["EXEC"]), Reply::Array(vec![Reply::NilArray]));
    // CLIENT UNBLOCK.
    let id = w.call(&["CLIENT", "ID"]).int().to_string();
    w.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    assert_eq!(q(&mut c, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
}

#[test]
fn consumer_groups_deliver_track_and_acknowledge() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]),
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
    );
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]), "BUSYGROUP Consumer Group name already exists");
    fill(&mut c, "s", &["1-0", "2-0", "3-0"]);
    assert_eq!(
        q(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"]),
        arr(vec![arr(vec![bulk("s"), entries(&[("1-0", &["f", "1-0"]), ("2-0", &["f", "2-0"])])])])
    );
    assert_eq!(
        q(&mut c, &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]),
        arr(vec![arr(vec![bulk("s"), entries(&[("3-0", &["f", "3-0"])])])])
    );
    assert_eq!(q(&mut c, &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]), Value::Nil);
    // Summary form of XPENDING.
    assert_eq!(
        q(&mut c, &["XPENDING", "s", "g"]),
        arr(vec![int(3), bulk("1-0"), bulk("3-0"), arr(vec![bulks(&["alice", "2"]), bulks(&["bob", "1"])])])
    );
    // History: alice's own pending entries, delivered again.
    assert_eq!(
        q(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]),
        arr(vec![arr(vec![bulk("s"), entries(&[("1-0", &["f", "1-0"]), ("2-0", &["f", "2-0"])])])])
    );
    let Value::Array(rows) = q(&mut c, &["XPENDING", "s", "g", "-", "+", "10", "alice"]) else { panic!() };
    assert_eq!(rows.len(), 2);
    let Value::Array(row) = &rows[0] else { panic!() };
    assert_eq!((&row[0], &row[1], &row[3]), (&bulk("1-0"), &bulk("alice"), &int(2)));
    assert_eq!(q(&mut c, &["XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10"]), arr(vec![]));
    assert_eq!(q(&mut c, &["XPENDING", "s", "g", "-", "+", "10", "nobody"]), arr(vec![]));
    assert_eq!(q(&mut c, &["XACK", "s", "g", "1-0", "1-0", "9-0"]), int(1));
    assert_eq!(q(&mut c, &["XACK", "s", "nogroup", "2-0"]), int(0));
    // A deleted entry shows in the history as its ID and a null.
    q(&mut c, &["XDEL", "s", "2-0"]);
    assert_eq!(
        q(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]),
        arr(vec![arr(vec![bulk("s"), arr(vec![arr(vec![bulk("2-0"), Value::Nil])])])])
    );
    // NOACK delivers without a pending entry.
    q(&mut c, &["XADD", "s", "4-0", "f", "4-0"]);
    q(&mut c, &["XREADGROUP", "GROUP", "g", "carol", "NOACK", "STREAMS", "s", ">"]);
    assert_eq!(as_int(&q(&mut c, &["XPENDING", "s", "g"]).as_sequence().unwrap()[0]), 2);

    let groups = q(&mut c, &["XINFO", "GROUPS", "s"]);
    let Value::Array(groups) = groups else { panic!() };
    let g = &groups[0];
    assert_eq!(field(g, "name"), &bulk("g"));
    assert_eq!(field(g, "consumers"), &int(3));
    assert_eq!(field(g, "pending"), &int(2));
    assert_eq!(field(g, "last-delivered-id"), &bulk("4-0"));
    assert_eq!(field(g, "entries-read"), &int(4));
    assert_eq!(field(g, "lag"), &int(0));
    let Value::Array(consumers) = q(&mut c, &["XINFO", "CONSUMERS", "s", "g"]) else { panic!() };
    assert_eq!(consumers.len(), 3);
    assert_eq!(field(&consumers[0], "name"), &bulk("alice"));
    assert_eq!(field(&consumers[0], "pending"), &int(1));
    // Redis 7.2 adds when each consumer last received an entry; a read
    // with NOACK does not count (carol never did).
    if s.at_least_redis(7, 2) {
        for (c, name) in consumers.iter().zip(["alice", "bob", "carol"]) {
            assert_eq!(field(c, "name"), &bulk(name));
            let inactive = as_int(field(c, "inactive"));
            if name == "carol" {
                assert_eq!(inactive, -1);
            } else {
                assert!((0..60_000).contains(&inactive), "{name}: {inactive}");
            }
        }
    }
    let mut r3 = raw3(&s);
    let g3 = r3.call(&["XINFO", "GROUPS", "s"]);
    assert_eq!(g3.items()[0].field("lag"), Some(&Reply::Int(0)));
    assert_eq!(r3.call(&["XPENDING", "s", "g"]).items()[0], Reply::Int(2));

    // Errors.
    assert_eq!(
        err(&mut c, &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"]),
        "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
    );
    assert!(
        err(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"]).starts_with("ERR The $ ID is meaningless")
    );
    assert_eq!(err(&mut c, &["XPENDING", "s", "nog"]), "NOGROUP No such key 's' or consumer group 'nog'");
    assert_eq!(err(&mut c, &["XPENDING", "s", "g", "-", "+"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["XINFO", "CONSUMERS", "s", "nog"]),
        "NOGROUP No such consumer group 'nog' for key name 's'"
    );
}

#[test]
fn xgroup_subcommands() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "2-0"]);
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "0", "ENTRIESREAD", "0"]);
    assert_eq!(q(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "c1"]), int(1));
    assert_eq!(q(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "c1"]), int(0));
    q(&mut c, &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"]);
    assert_eq!(q(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "c1"]), int(2));
    assert_eq!(q(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "c1"]), int(0));
    assert_eq!(as_int(&q(&mut c, &["XPENDING", "s", "g"]).as_sequence().unwrap()[0]), 0);
    ok(&mut c, &["XGROUP", "SETID", "s", "g", "0"]);
    let Value::Array(groups) = q(&mut c, &["XINFO", "GROUPS", "s"]) else { panic!() };
    assert_eq!(field(&groups[0], "last-delivered-id"), &bulk("0-0"));
    assert_eq!(field(&groups[0], "entries-read"), &Value::Nil);
    assert_eq!(field(&groups[0], "lag"), &int(2));
    ok(&mut c, &["XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "2"]);
    let Value::Array(groups) = q(&mut c, &["XINFO", "GROUPS", "s"]) else { panic!() };
    assert_eq!(field(&groups[0], "entries-read"), &int(2));
    assert_eq!(field(&groups[0], "lag"), &int(0));
    assert_eq!(q(&mut c, &["XGROUP", "DESTROY", "s", "g"]), int(1));
    assert_eq!(q(&mut c, &["XGROUP", "DESTROY", "s", "g"]), int(0));
    assert_eq!(err(&mut c, &["XGROUP", "SETID", "s", "g", "0"]), "NOGROUP No such consumer group 'g' for key name 's'");
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g", "0", "ENTRIESREAD", "-5"]),
        "ERR value for ENTRIESREAD must be positive or -1"
    );
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g", "0", "BOGUS"]),
        "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP."
    );
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "s", "g", "x"]), INVALID_ID);
    assert_eq!(err(&mut c, &["XGROUP", "NOPE"]), "ERR unknown subcommand 'NOPE'. Try XGROUP HELP.");
    q(&mut c, &["SET", "str", "x"]);
    assert_eq!(err(&mut c, &["XGROUP", "CREATE", "str", "g", "$"]), WRONGTYPE);
}

#[test]
fn xclaim_and_xautoclaim() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "2-0", "3-0"]);
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    q(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    // Not idle long enough: nothing moves.
    assert_eq!(q(&mut c, &["XCLAIM", "s", "g", "bob", "100000", "1-0"]), arr(vec![]));
    assert_eq!(q(&mut c, &["XCLAIM", "s", "g", "bob", "0", "1-0"]), entries(&[("1-0", &["f", "1-0"])]));
    assert_eq!(q(&mut c, &["XCLAIM", "s", "g", "bob", "0", "2-0", "JUSTID"]), bulks(&["2-0"]));
    let Value::Array(rows) = q(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]) else { panic!() };
    let counts: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            let Value::Array(r) = r else { panic!() };
            (as_str(&r[0]), as_str(&r[1]), as_int(&r[3]))
        })
        .collect();
    assert_eq!(
        counts,
        vec![("1-0".into(), "bob".into(), 2), ("2-0".into(), "bob".into(), 1), ("3-0".into(), "alice".into(), 1)]
    );
    // IDLE / RETRYCOUNT set absolute values.
    q(&mut c, &["XCLAIM", "s", "g", "carol", "0", "3-0", "IDLE", "5000", "RETRYCOUNT", "7", "JUSTID"]);
    let Value::Array(rows) = q(&mut c, &["XPENDING", "s", "g", "IDLE", "4000", "-", "+", "10"]) else { panic!() };
    assert_eq!(rows.len(), 1);
    let Value::Array(r) = &rows[0] else { panic!() };
    assert_eq!((as_str(&r[1]), as_int(&r[3])), ("carol".to_string(), 7));
    assert!(as_int(&r[2]) >= 5000);
    // FORCE claims an entry no one had pending.
    q(&mut c, &["XADD", "s", "4-0", "f", "4-0"]);
    assert_eq!(q(&mut c, &["XCLAIM", "s", "g", "dave", "0", "4-0", "JUSTID"]), arr(vec![]));
    assert_eq!(q(&mut c, &["XCLAIM", "s", "g", "dave", "0", "4-0", "FORCE", "JUSTID"]), bulks(&["4-0"]));
    assert_eq!(
        err(&mut c, &["XCLAIM", "s", "g", "dave", "0", "4-0", "BOGUS"]),
        "ERR Unrecognized XCLAIM option 'BOGUS'"
    );
    assert_eq!(err(&mut c, &["XCLAIM", "s", "g", "dave", "x", "4-0"]), "ERR Invalid min-idle-time argument for XCLAIM");
    assert_eq!(
        err(&mut c, &["XCLAIM", "s", "nog", "dave", "0", "4-0"]),
        "NOGROUP No such key 's' or consumer group 'nog'"
    );

    // XAUTOCLAIM walks the PEL; deleted entries are dropped and reported.
    q(&mut c, &["XDEL", "s", "2-0"]);
    let reply = q(&mut c, &["XAUTOCLAIM", "s", "g", "erin", "0", "0", "COUNT", "2"]);
    assert_eq!(reply, arr(vec![bulk("3-0"), entries(&[("1-0", &["f", "1-0"])]), bulks(&["2-0"])]));
    let reply = q(&mut c, &["XAUTOCLAIM", "s", "g", "erin", "0", "3-0", "JUSTID"]);
    assert_eq!(reply, arr(vec![bulk("0-0"), bulks(&["3-0", "4-0"]), arr(vec![])]));
    assert_eq!(err(&mut c, &["XAUTOCLAIM", "s", "g", "erin", "0", "0", "COUNT", "0"]), "ERR COUNT must be > 0");
    assert_eq!(
        err(&mut c, &["XAUTOCLAIM", "s", "nog", "erin", "0", "0"]),
        "NOGROUP No such key 's' or consumer group 'nog'"
    );
}

#[test]
fn blocking_xreadgroup_wakes_on_xadd_and_on_group_destruction() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut w = s.raw();
    w.send_cmd(&["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["XADD", "s", "1-0", "f", "v"]);
    assert_eq!(
        w.read_reply(),
        Reply::Array(vec![Reply::Array(vec![
            Reply::bulk("s"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("1-0"),
                Reply::Array(vec![Reply::bulk("f"), Reply::bulk("v")])
            ])])
        ])])
    );
    assert_eq!(as_int(&q(&mut c, &["XPENDING", "s", "g"]).as_sequence().unwrap()[0]), 1);
    w.send_cmd(&["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked(&mut c, 1);
    q(&mut c, &["XGROUP", "DESTROY", "s", "g"]);
    let reply = w.read_reply();
    assert!(matches!(&reply, Reply::Error(e) if e.starts_with("NOGROUP")), "{reply:?}");
    // The key deleted (Redis 7.2: the waiter runs again and finds no group).
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]);
    let mut list_waiter = s.raw();
    list_waiter.send_cmd(&["BLPOP", "lst", "0"]);
    w.send_cmd(&["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"]);
    wait_blocked(&mut c, 2);
    // A list waiter stays blocked when its key becomes a string.
    ok(&mut c, &["SET", "lst", "string"]);
    q(&mut c, &["DEL", "s"]);
    let reply = w.read_reply();
    if s.at_least_redis(7, 2) {
        assert!(matches!(&reply, Reply::Error(e) if e.starts_with("NOGROUP")), "{reply:?}");
    } else {
        assert_eq!(reply, Reply::error("UNBLOCKED the stream key no longer exists"));
    }
    wait_blocked(&mut c, 1);
    // Retyped, and flushed (Redis 7.2's answers).
    if s.at_least_redis(7, 2) {
        for (change, error) in [(&["SET", "s", "v"][..], "WRONGTYPE"), (&["FLUSHALL"][..], "NOGROUP")] {
            q(&mut c, &["DEL", "s"]);
            ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
            w.send_cmd(&["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"]);
            wait_blocked(&mut c, 2);
            q(&mut c, change);
            let reply = w.read_reply();
            assert!(matches!(&reply, Reply::Error(e) if e.starts_with(error)), "{change:?}: {reply:?}");
        }
    }
    // The list waiter was not disturbed.
    q(&mut c, &["DEL", "lst"]);
    q(&mut c, &["RPUSH", "lst", "x"]);
    assert_eq!(list_waiter.read_reply(), Reply::Array(vec![Reply::bulk("lst"), Reply::bulk("x")]));
    // Timeout.
    q(&mut c, &["DEL", "s"]);
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    w.send_cmd(&["XREADGROUP", "GROUP", "g", "c", "BLOCK", "30", "STREAMS", "s", ">"]);
    assert_eq!(w.read_reply(), Reply::NilArray);
}

#[test]
fn streams_are_copied_renamed_moved_and_notified() {
    let s = Server::start();
    let mut c = s.client();
    fill(&mut c, "s", &["1-0", "2-0"]);
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    q(&mut c, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"]);
    assert_eq!(q(&mut c, &["COPY", "s", "copy"]), int(1));
    ok(&mut c, &["RENAME", "copy", "renamed"]);
    assert_eq!(q(&mut c, &["MOVE", "renamed", "1"]), int(1));
    ok(&mut c, &["SELECT", "1"]);
    assert_eq!(q(&mut c, &["XRANGE", "renamed", "-", "+"]), entries(&[("1-0", &["f", "1-0"]), ("2-0", &["f", "2-0"])]));
    assert_eq!(as_int(&q(&mut c, &["XPENDING", "renamed", "g"]).as_sequence().unwrap()[0]), 1);
    ok(&mut c, &["SELECT", "0"]);

    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Et"]);
    let mut sub = s.raw();
    sub.send_cmd(&["PSUBSCRIBE", "__keyevent@0__:x*"]);
    sub.read_reply();
    q(&mut c, &["XADD", "s", "MAXLEN", "1", "3-0", "f", "v"]);
    q(&mut c, &["XDEL", "s", "3-0"]);
    let mut events = Vec::new();
    for _ in 0..3 {
        let m = sub.read_reply();
        events.push(m.items()[2].text());
    }
    assert_eq!(events, vec!["__keyevent@0__:xadd", "__keyevent@0__:xtrim", "__keyevent@0__:xdel"]);
    // A consumer that XREADGROUP creates is announced (Redis 7.2).
    if s.at_least_redis(7, 2) {
        q(&mut c, &["XREADGROUP", "GROUP", "g", "newcomer", "STREAMS", "s", ">"]);
        assert_eq!(sub.read_reply().items()[2].text(), "__keyevent@0__:xgroup-createconsumer");
    }
    ok(&mut c, &["XGROUP", "SETID", "s", "g", "0"]);
    assert_eq!(sub.read_reply().items()[2].text(), "__keyevent@0__:xgroup-setid");
}

#[test]
fn streams_survive_a_crash_and_a_snapshot() {
    if is_redis() {
        eprintln!("skipped: Gyre's persistence");
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    for i in 1..=250 {
        q(&mut c, &["XADD", "s", &format!("{i}-0"), "f", &i.to_string(), "g", "x"]);
    }
    q(&mut c, &["XDEL", "s", "7-0"]);
    q(&mut c, &["XTRIM", "s", "MAXLEN", "~", "140"]);
    ok(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    q(&mut c, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "s", ">"]);
    q(&mut c, &["XACK", "s", "g", "101-0"]);
    q(&mut c, &["XCLAIM", "s", "g", "d", "0", "102-0", "JUSTID"]);
    // Every other stream write, so that replay covers each of them.
    ok(&mut c, &["XGROUP", "CREATE", "s", "other", "$"]);
    ok(&mut c, &["XGROUP", "SETID", "s", "other", "150-0", "ENTRIESREAD", "40"]);
    assert_eq!(q(&mut c, &["XGROUP", "CREATECONSUMER", "s", "other", "idle"]), int(1));
    q(&mut c, &["XREADGROUP", "GROUP", "other", "gone", "COUNT", "2", "STREAMS", "s", ">"]);
    assert_eq!(q(&mut c, &["XGROUP", "DELCONSUMER", "s", "other", "gone"]), int(2));
    ok(&mut c, &["XGROUP", "CREATE", "s", "doomed", "0"]);
    assert_eq!(q(&mut c, &["XGROUP", "DESTROY", "s", "doomed"]), int(1));
    q(&mut c, &["XAUTOCLAIM", "s", "g", "e", "0", "0", "COUNT", "1"]);
    q(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"]);
    q(&mut c, &["XADD", "s", "MAXLEN", "~", "100", "300-0", "f", "v"]);
    ok(&mut c, &["XSETID", "s", "400-0", "ENTRIESADDED", "1000", "MAXDELETEDID", "7-0"]);
    let auto = as_str(&q(&mut c, &["XADD", "s", "*", "f", "auto"]));
    let before = (
        q(&mut c, &["XRANGE", "s", "-", "+"]),
        q(&mut c, &["XPENDING", "s", "g", "-", "+", "100"]),
        q(&mut c, &["XINFO", "STREAM", "s", "FULL"]),
    );
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    let after = (
        q(&mut c, &["XRANGE", "s", "-", "+"]),
        q(&mut c, &["XPENDING", "s", "g", "-", "+", "100"]),
        q(&mut c, &["XINFO", "STREAM", "s", "FULL"]),
    );
    assert_eq!(before.0, after.0);
    assert_eq!(field(&before.2, "groups"), field(&after.2, "groups"));
    for name in ["length", "last-generated-id", "max-deleted-entry-id", "entries-added", "recorded-first-entry-id"] {
        assert_eq!(field(&before.2, name), field(&after.2, name), "{name}");
    }
    assert_eq!(field(&after.2, "last-generated-id"), &bulk(&auto));
    // Idle times differ after a restart; owners and counts do not.
    let strip = |v: &Value| -> Vec<(String, String, i64)> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|r| {
                let r = r.as_sequence().unwrap();
                (as_str(&r[0]), as_str(&r[1]), as_int(&r[3]))
            })
            .collect()
    };
    assert_eq!(strip(&before.1), strip(&after.1));
    ok(&mut c, &["SAVE"]);
    q(&mut c, &["XADD", "s", "*", "f", "after-snapshot"]);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert_eq!(q(&mut c, &["XLEN", "s"]), int(as_int(field(&after.2, "length")) + 1));
    let Value::Array(last) = q(&mut c, &["XREVRANGE", "s", "+", "-", "COUNT", "1"]) else { panic!() };
    assert_eq!(last[0].as_sequence().unwrap()[1], bulks(&["f", "after-snapshot"]));
    assert_eq!(strip(&q(&mut c, &["XPENDING", "s", "g", "-", "+", "100"])), strip(&before.1));
}

#[test]
fn stream_commands_are_in_command_docs_and_acl_categories() {
    let s = Server::start();
    let mut c = s.client();
    let cats = sorted_strings(&q(&mut c, &["ACL", "CAT", "stream"]));
    for name in [
        "xadd",
        "xrange",
        "xread",
        "xreadgroup",
        "xack",
        "xclaim",
        "xautoclaim",
        "xpending",
        "xlen",
        "xdel",
        "xtrim",
        "xsetid",
    ] {
        assert!(cats.iter().any(|c| c == name), "{name} not in @stream: {cats:?}");
    }
    let Value::Array(info) = q(&mut c, &["COMMAND", "INFO", "xadd"]) else { panic!() };
    let Value::Array(xadd) = &info[0] else { panic!() };
    assert_eq!((&xadd[0], &xadd[1]), (&bulk("xadd"), &int(-5)));
    let _ = Duration::from_secs(0);
}

/// Every stream command and subcommand with assorted argument shapes against
/// a stream that has entries, deletions, a group and pending entries: always
/// a reply, never a panic or a closed connection.
#[test]
fn stream_commands_survive_odd_arguments_on_a_live_stream() {
    let s = Server::start();
    let mut c = s.client();
    let shapes = [
        "",
        "0",
        "-1",
        "1",
        "+",
        "-",
        "$",
        ">",
        "*",
        "(0",
        "1-*",
        "18446744073709551615-18446744073709551615",
        "COUNT",
        "BLOCK",
        "STREAMS",
        "MAXLEN",
        "~",
        "LIMIT",
        "g",
        "k",
    ];
    let names = [
        "XADD",
        "XDEL",
        "XTRIM",
        "XSETID",
        "XRANGE",
        "XREVRANGE",
        "XLEN",
        "XREAD",
        "XREADGROUP",
        "XACK",
        "XPENDING",
        "XCLAIM",
        "XAUTOCLAIM",
        "XGROUP CREATE",
        "XGROUP SETID",
        "XGROUP DESTROY",
        "XGROUP CREATECONSUMER",
        "XGROUP DELCONSUMER",
        "XINFO STREAM",
        "XINFO GROUPS",
        "XINFO CONSUMERS",
    ];
    let mut raw = s.raw();
    let mut n = 0usize;
    for name in names {
        for a in shapes {
            for b in shapes {
                // Rebuild the live stream now and then (commands trim and delete it).
                if n.is_multiple_of(97) {
                    q(&mut c, &["DEL", "k"]);
                    for i in 1..=120 {
                        q(&mut c, &["XADD", "k", &format!("{i}-1"), "f", "v"]);
                    }
                    q(&mut c, &["XDEL", "k", "5-1"]);
                    q(&mut c, &["XGROUP", "CREATE", "k", "g", "0"]);
                    q(&mut c, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "7", "STREAMS", "k", ">"]);
                }
                n += 1;
                let mut args: Vec<&str> = name.split(' ').collect();
                args.extend(["k", "g", a, b, "c"]);
                // BLOCK waits would hang the sweep: 1 ms at most.
                if args.contains(&"BLOCK") {
                    continue;
                }
                let _ = raw.call(&args);
            }
        }
        assert_eq!(raw.call(&["PING"]).text(), "PONG", "after {name}");
    }
    assert!(!s.logs().contains("panicked"), "a handler panicked:\n{}", s.logs());
}
