//! Every conversion both ways: command replies into Lua values (RESP2 and
//! RESP3), and script results into replies for RESP2 and RESP3 callers.

mod common;

use bytes::Bytes;
use common::*;
use gyre_script::Frame;

fn ints(values: &[i64]) -> Frame {
    Frame::Array(values.iter().map(|&v| Frame::Integer(v)).collect())
}

/// Runs `body` against a host whose command X returns `reply`.
fn with_reply(reply: Frame, body: &str) -> (Frame, FakeHost) {
    let s = scripting();
    let mut host = FakeHost::new().with("X", reply);
    let result = eval(&s, &mut host, body);
    (result, host)
}

#[test]
fn integer_reply_becomes_number() {
    let (r, _) = with_reply(Frame::Integer(42), "local r = redis.call('X'); return {type(r), r}");
    assert_eq!(r, Frame::Array(vec![bulk("number"), Frame::Integer(42)]));
}

#[test]
fn bulk_reply_becomes_string() {
    let (r, _) = with_reply(bulk("hi\0there"), "local r = redis.call('X'); return {type(r), r, #r}");
    assert_eq!(r, Frame::Array(vec![bulk("string"), bulk("hi\0there"), Frame::Integer(8)]));
}

#[test]
fn resp2_null_becomes_false() {
    let (r, host) = with_reply(Frame::Null, "local r = redis.call('X'); return {type(r), tostring(r)}");
    assert_eq!(r, Frame::Array(vec![bulk("boolean"), bulk("false")]));
    assert_eq!(host.calls[0].1, 2, "scripts speak RESP2 by default");
}

#[test]
fn resp3_null_becomes_nil() {
    let (r, host) = with_reply(Frame::Null, "redis.setresp(3); local r = redis.call('X'); return type(r)");
    assert_eq!(r, bulk("nil"));
    assert_eq!(host.calls[0].1, 3, "the host is asked for RESP3 after redis.setresp(3)");
}

#[test]
fn array_reply_becomes_table() {
    let reply = Frame::Array(vec![Frame::Integer(1), bulk("a"), Frame::Null, Frame::Array(vec![bulk("n")])]);
    let (r, _) = with_reply(reply, "local r = redis.call('X'); return {#r, r[1], r[2], tostring(r[3]), r[4][1]}");
    assert_eq!(r, Frame::Array(vec![Frame::Integer(4), Frame::Integer(1), bulk("a"), bulk("false"), bulk("n")]));
}

#[test]
fn status_reply_becomes_ok_table() {
    let (r, _) = with_reply(simple("QUEUED"), "local r = redis.call('X'); return {type(r), r.ok}");
    assert_eq!(r, Frame::Array(vec![bulk("table"), bulk("QUEUED")]));
}

#[test]
fn error_reply_becomes_err_table_with_pcall() {
    let (r, _) = with_reply(
        error("WRONGTYPE Operation against a key holding the wrong kind of value"),
        "local r = redis.pcall('X'); return {r.err, tostring(r.ignore_error_stats_update)}",
    );
    assert_eq!(
        r,
        Frame::Array(vec![bulk("WRONGTYPE Operation against a key holding the wrong kind of value"), bulk("true")])
    );
}

#[test]
fn error_reply_without_code_gets_err() {
    let (r, _) = with_reply(error("oops"), "return redis.pcall('X').err");
    assert_eq!(r, bulk("ERR oops"));
}

#[test]
fn map_reply_becomes_map_table() {
    let reply = Frame::Map(vec![(bulk("a"), Frame::Integer(1)), (bulk("b"), bulk("x"))]);
    let (r, _) = with_reply(reply, "redis.setresp(3); local r = redis.call('X'); return {r.map.a, r.map.b}");
    assert_eq!(r, Frame::Array(vec![Frame::Integer(1), bulk("x")]));
}

#[test]
fn set_reply_becomes_set_table() {
    let reply = Frame::Set(vec![bulk("x"), bulk("y")]);
    let (r, _) = with_reply(
        reply,
        "redis.setresp(3); local r = redis.call('X'); return {tostring(r.set.x), tostring(r.set.y), tostring(r.set.z)}",
    );
    assert_eq!(r, Frame::Array(vec![bulk("true"), bulk("true"), bulk("nil")]));
}

#[test]
fn double_reply_becomes_double_table() {
    let (r, _) = with_reply(Frame::Double(3.25), "redis.setresp(3); return tostring(redis.call('X').double)");
    assert_eq!(r, bulk("3.25"));
}

#[test]
fn boolean_reply_becomes_boolean() {
    let (r, _) =
        with_reply(Frame::Boolean(true), "redis.setresp(3); local r = redis.call('X'); return {type(r), tostring(r)}");
    assert_eq!(r, Frame::Array(vec![bulk("boolean"), bulk("true")]));
    let (r, _) = with_reply(Frame::Boolean(false), "redis.setresp(3); return tostring(redis.call('X'))");
    assert_eq!(r, bulk("false"));
}

#[test]
fn big_number_reply_becomes_big_number_table() {
    let digits = "1234567999999999999999999999999999999";
    let (r, _) =
        with_reply(Frame::BigNumber(Bytes::from(digits)), "redis.setresp(3); return redis.call('X').big_number");
    assert_eq!(r, bulk(digits));
}

#[test]
fn verbatim_reply_becomes_verbatim_table() {
    let reply = Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"hello") };
    let (r, _) =
        with_reply(reply, "redis.setresp(3); local v = redis.call('X').verbatim_string; return {v.format, v.string}");
    assert_eq!(r, Frame::Array(vec![bulk("txt"), bulk("hello")]));
}

#[test]
fn command_arguments_are_strings_and_numbers() {
    let s = scripting();
    let mut host = FakeHost::new();
    let r = eval(&s, &mut host, "redis.call('SET', 'a', 10); redis.call('SET', 'b', 3.5); redis.call('SET', 'c', 0.1); redis.call('SET', 'd', -2e20); return 1");
    assert_eq!(r, Frame::Integer(1));
    let third: Vec<&[u8]> = host.calls.iter().map(|(args, _)| args[2].as_slice()).collect();
    assert_eq!(third, vec![&b"10"[..], b"3.5", b"0.10000000000000001", b"-2e+20"]);
}

#[test]
fn lua_string_becomes_bulk() {
    assert_eq!(run(&scripting(), "return 'x\\0y'"), bulk("x\0y"));
}

#[test]
fn lua_number_becomes_truncated_integer() {
    let s = scripting();
    assert_eq!(run(&s, "return 3.99"), Frame::Integer(3));
    assert_eq!(run(&s, "return -3.99"), Frame::Integer(-3));
    assert_eq!(run(&s, "return 2^53"), Frame::Integer(9007199254740992));
}

#[test]
fn lua_booleans_and_nil_under_script_resp2() {
    let s = scripting();
    assert_eq!(run(&s, "return true"), Frame::Integer(1));
    assert_eq!(run(&s, "return false"), Frame::Null);
    assert_eq!(run(&s, "return nil"), Frame::Null);
    assert_eq!(run(&s, "return"), Frame::Null);
    let mut host = FakeHost::new();
    assert_eq!(s.eval(&mut host, b"return true", &[], &[], RESP3), Frame::Integer(1));
    assert_eq!(s.eval(&mut host, b"return false", &[], &[], RESP3), Frame::Null);
}

#[test]
fn lua_booleans_under_script_resp3() {
    let s = scripting();
    let mut host = FakeHost::new();
    assert_eq!(s.eval(&mut host, b"redis.setresp(3) return true", &[], &[], RESP3), Frame::Boolean(true));
    assert_eq!(s.eval(&mut host, b"redis.setresp(3) return false", &[], &[], RESP3), Frame::Boolean(false));
    assert_eq!(s.eval(&mut host, b"redis.setresp(3) return true", &[], &[], RESP2), Frame::Integer(1));
    assert_eq!(s.eval(&mut host, b"redis.setresp(3) return false", &[], &[], RESP2), Frame::Integer(0));
}

#[test]
fn lua_array_stops_at_first_nil() {
    assert_eq!(run(&scripting(), "return {1, 2, nil, 4}"), ints(&[1, 2]));
    assert_eq!(run(&scripting(), "return {}"), Frame::Array(vec![]));
    assert_eq!(
        run(&scripting(), "return {{1}, {2, {3}}}"),
        Frame::Array(vec![ints(&[1]), Frame::Array(vec![Frame::Integer(2), ints(&[3])])])
    );
}

#[test]
fn lua_ok_and_err_tables() {
    let s = scripting();
    assert_eq!(run(&s, "return {ok='fine'}"), simple("fine"));
    assert_eq!(run(&s, "return {ok='a\\r\\nb'}"), simple("a  b"));
    assert_eq!(run(&s, "return {err='MYERR bad thing'}"), error("MYERR bad thing"));
    assert_eq!(run(&s, "return {err='bad\\nthing\\r\\n'}"), error("bad thing"));
    // err wins over ok, and both over the array part.
    assert_eq!(run(&s, "return {1, 2, ok='x', err='E y'}"), error("E y"));
    assert_eq!(run(&s, "return {1, 2, ok='x'}"), simple("x"));
}

#[test]
fn status_and_error_reply_helpers() {
    let s = scripting();
    assert_eq!(run(&s, "return redis.status_reply('PONG')"), simple("PONG"));
    assert_eq!(run(&s, "return redis.error_reply('My Error')"), error("My Error"));
    assert_eq!(run(&s, "return redis.error_reply('oops')"), error("ERR oops"));
    assert_eq!(run(&s, "return redis.error_reply('-CUSTOM oops')"), error("CUSTOM oops"));
    assert_eq!(run(&s, "return redis.error_reply(1)"), error("ERR wrong number or type of arguments"));
    assert_eq!(run(&s, "return redis.status_reply()"), error("ERR wrong number or type of arguments"));
}

#[test]
fn resp3_tables_for_a_resp3_caller() {
    let s = scripting();
    let mut host = FakeHost::new();
    let mut go = |body: &str| s.eval(&mut host, body.as_bytes(), &[], &[], RESP3);
    assert_eq!(go("return {double=3.5}"), Frame::Double(3.5));
    assert_eq!(go("return {map={a=1}}"), Frame::Map(vec![(bulk("a"), Frame::Integer(1))]));
    assert_eq!(go("return {set={a=true}}"), Frame::Set(vec![bulk("a")]));
    assert_eq!(go("return {big_number='123\\r\\n4'}"), Frame::BigNumber(Bytes::from_static(b"123  4")));
    assert_eq!(
        go("return {verbatim_string={format='mkd', string='# hi'}}"),
        Frame::Verbatim { format: *b"mkd", text: Bytes::from_static(b"# hi") }
    );
    assert_eq!(
        go("return {verbatim_string={format='t', string='x'}}"),
        Frame::Verbatim { format: *b"t  ", text: Bytes::from_static(b"x") }
    );
    // A verbatim table without its string falls through to the array part.
    assert_eq!(go("return {verbatim_string={format='txt'}}"), Frame::Array(vec![]));
}

#[test]
fn resp3_tables_for_a_resp2_caller_are_downgraded() {
    let s = scripting();
    let go = |body: &str| s.eval(&mut FakeHost::new(), body.as_bytes(), &[], &[], RESP2);
    assert_eq!(go("return {double=3.5}"), bulk("3.5"));
    assert_eq!(go("return {map={a=1}}"), Frame::Array(vec![bulk("a"), Frame::Integer(1)]));
    assert_eq!(go("return {set={a=true}}"), Frame::Array(vec![bulk("a")]));
    assert_eq!(go("return {big_number='123'}"), bulk("123"));
    assert_eq!(go("return {verbatim_string={format='txt', string='x'}}"), bulk("x"));
}

#[test]
fn nested_map_values_convert() {
    let s = scripting();
    let r = s.eval(&mut FakeHost::new(), b"return {map={k={1, {ok='s'}}}}", &[], &[], RESP3);
    assert_eq!(r, Frame::Map(vec![(bulk("k"), Frame::Array(vec![Frame::Integer(1), simple("s")]))]));
}

#[test]
fn unsupported_values_become_null() {
    let s = scripting();
    assert_eq!(run(&s, "return function() end"), Frame::Null);
    assert_eq!(run(&s, "return cjson.null"), Frame::Null);
    assert_eq!(run(&s, "return coroutine.create(function() end)"), Frame::Null);
}

#[test]
fn self_referencing_table_hits_the_depth_limit() {
    let r = run(&scripting(), "local t = {} t[1] = t return t");
    let mut depth = 0;
    let mut frame = &r;
    while let Frame::Array(items) = frame {
        depth += 1;
        frame = &items[0];
    }
    assert_eq!(frame, &error("ERR reached lua stack limit"));
    assert_eq!(depth, 1000);
}

#[test]
fn keys_and_argv() {
    let s = scripting();
    let r = s.eval(
        &mut FakeHost::new(),
        b"return {#KEYS, #ARGV, KEYS[1], KEYS[2], ARGV[1]}",
        &[b"k1", b"k\0two"],
        &[b"a1"],
        RESP2,
    );
    assert_eq!(r, Frame::Array(vec![Frame::Integer(2), Frame::Integer(1), bulk("k1"), bulk("k\0two"), bulk("a1")]));
    // The next run sees its own KEYS and ARGV.
    let r = s.eval(&mut FakeHost::new(), b"return {#KEYS, #ARGV}", &[], &[], RESP2);
    assert_eq!(r, ints(&[0, 0]));
}
