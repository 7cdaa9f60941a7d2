//! XREAD and XREADGROUP where nothing may wait, as Redis 7.0 and 7.2
//! answer (validated with `GYRE_TEST_REDIS=1`): in MULTI, BLOCK answers
//! what is there at once, or a null array as if it timed out (a consumer
//! XREADGROUP names is still created); in a script the commands run, but
//! their BLOCK option is refused with Redis's error, naming the command as
//! the script wrote it (Redis 7.4 changed that to the MULTI behaviour).

mod common;

use common::*;

fn error_starting(r: &Reply, prefix: &str) -> bool {
    matches!(r, Reply::Error(e) if e.starts_with(prefix))
}

#[test]
fn block_inside_multi_answers_at_once() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["XADD", "s", "1-1", "a", "1"]), Reply::bulk("1-1"));
    assert_eq!(r.call(&["XGROUP", "CREATE", "s", "g", "$"]), Reply::simple("OK"));
    assert_eq!(r.call(&["MULTI"]), Reply::simple("OK"));
    for cmd in [
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"][..],
        &["XREADGROUP", "GROUP", "g", "c2", "BLOCK", "0", "STREAMS", "s", ">"],
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "0"],
        &["XREAD", "BLOCK", "10", "STREAMS", "nokey", "0"],
    ] {
        assert_eq!(r.call(cmd), Reply::simple("QUEUED"));
    }
    let entry = Reply::Array(vec![Reply::bulk("1-1"), Reply::Array(vec![Reply::bulk("a"), Reply::bulk("1")])]);
    assert_eq!(
        r.call(&["EXEC"]),
        Reply::Array(vec![
            Reply::NilArray,
            Reply::NilArray,
            Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry])])]),
            Reply::NilArray,
        ])
    );
    // The consumer was created on the way, as in Redis 7.2 (7.0 creates
    // one only when it serves it).
    let consumers = r.call(&["XINFO", "CONSUMERS", "s", "g"]);
    let want = if s.at_least_redis(7, 2) { 1 } else { 0 };
    assert_eq!(consumers.items().len(), want, "{consumers:?}");
    // RESP3: the timeout reply is a null.
    let mut r3 = raw3(&s);
    assert_eq!(r3.call(&["MULTI"]), Reply::simple("OK"));
    assert_eq!(r3.call(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]), Reply::simple("QUEUED"));
    assert_eq!(r3.call(&["EXEC"]), Reply::Array(vec![Reply::Null]));
}

#[test]
fn scripts_run_xread_but_refuse_block() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["XADD", "s", "1-1", "a", "1"]), Reply::bulk("1-1"));
    assert_eq!(r.call(&["XGROUP", "CREATE", "s", "g", "0"]), Reply::simple("OK"));
    let read = r.call(&["EVAL", "return redis.call('XREAD', 'STREAMS', KEYS[1], '0')", "1", "s"]);
    assert_eq!(read.items().len(), 1, "{read:?}");
    let read =
        r.call(&["EVAL", "return redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', KEYS[1], '>')", "1", "s"]);
    assert_eq!(read.items().len(), 1, "{read:?}");
    for (script, want) in [
        (
            "return redis.call('XREAD', 'BLOCK', '0', 'STREAMS', KEYS[1], '$')",
            "ERR XREAD command is not allowed with BLOCK option from scripts",
        ),
        (
            "return redis.call('xread', 'BLOCK', '0', 'STREAMS', KEYS[1], '0')",
            "ERR xread command is not allowed with BLOCK option from scripts",
        ),
        (
            "return redis.pcall('XREAD', 'BLOCK', 'x', 'STREAMS', KEYS[1], '0')",
            "ERR XREAD command is not allowed with BLOCK option from scripts",
        ),
        (
            "return redis.call('xreadgroup', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', KEYS[1], '>')",
            "ERR xreadgroup command is not allowed with BLOCK option from scripts",
        ),
        // Options before BLOCK are checked first.
        (
            "return redis.call('XREAD', 'COUNT', 'x', 'BLOCK', '0', 'STREAMS', KEYS[1], '0')",
            "ERR value is not an integer or out of range",
        ),
    ] {
        let reply = r.call(&["EVAL", script, "1", "s"]);
        assert!(error_starting(&reply, want), "{script}: {reply:?}");
    }
}
