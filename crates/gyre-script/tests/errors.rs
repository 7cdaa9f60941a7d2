//! Every error path: compile and runtime errors, error replies through
//! redis.call and redis.pcall, the redis.* argument checks, and that the
//! VM stays usable after each.

mod common;

use common::*;
use gyre_script::{sha1_hex, Frame, ScriptConfig, Scripting, LOG_WARNING};

/// The `script: <sha>, on @user_script:<line>.` suffix of a runtime error.
fn at(body: &str, line: u32) -> String {
    format!(" script: {}, on @user_script:{line}.", sha1_hex(body.as_bytes()))
}

fn run_err(body: &str) -> String {
    error_text(&run(&scripting(), body))
}

#[test]
fn syntax_error_is_a_compile_error() {
    let text = run_err("return (");
    assert_eq!(text, "ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'");
    let text = run_err("local x = 1\nx = = 2");
    assert_eq!(text, "ERR Error compiling script (new function): user_script:2: unexpected symbol near '='");
}

#[test]
fn compile_errors_are_not_cached() {
    let s = scripting();
    let body = "return (";
    assert!(matches!(run(&s, body), Frame::Error(_)));
    assert_eq!(s.script_exists(&[sha1_hex(body.as_bytes()).as_bytes()]), vec![false]);
}

#[test]
fn runtime_error_names_sha_and_line() {
    let body = "local t = nil\nreturn t.x";
    assert_eq!(run_err(body), format!("ERR user_script:2: attempt to index local 't' (a nil value){}", at(body, 2)));
}

#[test]
fn error_with_a_string() {
    let body = "error('boom')";
    assert_eq!(run_err(body), format!("ERR user_script:1: boom{}", at(body, 1)));
    let body = "error('MYCODE boom', 0)";
    assert_eq!(run_err(body), format!("ERR MYCODE boom{}", at(body, 1)), "string errors always get ERR");
    let body = "error()";
    assert_eq!(run_err(body), format!("ERR nil{}", at(body, 1)));
}

#[test]
fn error_with_a_table_keeps_its_code() {
    let body = "\n\nerror({err='CUSTOM failure here'})";
    assert_eq!(run_err(body), format!("CUSTOM failure here{}", at(body, 3)));
    let body = "error(redis.error_reply('NOPE not allowed'))";
    assert_eq!(run_err(body), format!("NOPE not allowed{}", at(body, 1)));
}

#[test]
fn shebang_keeps_line_numbers() {
    let body = "#!lua\nlocal a = 1\nerror('x')";
    assert_eq!(run_err(body), format!("ERR user_script:3: x{}", at(body, 3)));
}

#[test]
fn error_reply_via_call_raises() {
    let s = scripting();
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    let mut host = FakeHost::new().with("LPUSH", error(wrongtype));
    let body = "redis.call('LPUSH', 'k', 'v')\nreturn 'not reached'";
    let r = eval(&s, &mut host, body);
    assert_eq!(error_text(&r), format!("{wrongtype}{}", at(body, 1)));
}

#[test]
fn error_reply_via_pcall_returns() {
    let s = scripting();
    let mut host = FakeHost::new().with("LPUSH", error("WRONGTYPE bad"));
    let r = eval(&s, &mut host, "local r = redis.pcall('LPUSH', 'k', 'v') return {'went on', r.err}");
    assert_eq!(r, Frame::Array(vec![bulk("went on"), bulk("WRONGTYPE bad")]));
    // Returning the error table makes it the reply.
    let r = eval(&s, &mut host, "return redis.pcall('LPUSH', 'k', 'v')");
    assert_eq!(r, error("WRONGTYPE bad"));
}

#[test]
fn lua_pcall_of_redis_call_returns_the_message() {
    let s = scripting();
    let mut host = FakeHost::new().with("X", error("WRONGTYPE bad"));
    let r = eval(&s, &mut host, "local ok, e = pcall(redis.call, 'X') return {tostring(ok), e}");
    assert_eq!(r, Frame::Array(vec![bulk("false"), bulk("WRONGTYPE bad")]));
    let r = eval(&s, &mut host, "local ok, e = pcall(error, 'plain') return {tostring(ok), e}");
    assert_eq!(r, Frame::Array(vec![bulk("false"), bulk("plain")]));
    let r = eval(&s, &mut host, "return {pcall(function(a, b) return a + b, 'x' end, 1, 2)}");
    assert_eq!(r, Frame::Array(vec![Frame::Integer(1), Frame::Integer(3), bulk("x")]));
}

#[test]
fn call_argument_errors() {
    let body = "return redis.call()";
    assert_eq!(
        run_err(body),
        format!("ERR Please specify at least one argument for this redis lib call{}", at(body, 1))
    );
    let body = "return redis.pcall()";
    assert_eq!(
        run_err(body),
        format!("ERR Please specify at least one argument for this redis lib call{}", at(body, 1)),
        "pcall raises this one too"
    );
    let body = "return redis.call('SET', 'k', {})";
    assert_eq!(
        run_err(body),
        format!("ERR Lua redis lib command arguments must be strings or integers{}", at(body, 1))
    );
    assert_eq!(
        run(&scripting(), "return redis.pcall('SET', 'k', true)"),
        error("ERR Lua redis lib command arguments must be strings or integers")
    );
}

#[test]
fn unknown_global() {
    let body = "return undefined_thing";
    assert_eq!(
        run_err(body),
        format!(
            "ERR user_script:1: Script attempted to access nonexistent global variable 'undefined_thing'{}",
            at(body, 1)
        )
    );
}

#[test]
fn creating_a_global() {
    let body = "x = 5";
    assert_eq!(
        run_err(body),
        format!("ERR user_script:1: Script attempted to create global variable 'x'{}", at(body, 1))
    );
    let body = "function f() end";
    assert_eq!(
        run_err(body),
        format!("ERR user_script:1: Script attempted to create global variable 'f'{}", at(body, 1))
    );
    let body = "KEYS = {}";
    assert_eq!(run_err(body), format!("ERR user_script:1: Attempt to modify a readonly table{}", at(body, 1)));
}

#[test]
fn redis_api_argument_errors() {
    let cases = [
        ("return redis.sha1hex()", "ERR wrong number of arguments"),
        ("redis.setresp(4)", "ERR RESP version must be 2 or 3."),
        ("redis.setresp()", "ERR redis.setresp() requires one argument."),
        ("redis.log(redis.LOG_WARNING)", "ERR redis.log() requires two arguments or more."),
        ("redis.log('x', 'msg')", "ERR First argument must be a number (log level)."),
        ("redis.log(9, 'msg')", "ERR Invalid debug level."),
        ("redis.set_repl(8)", "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."),
        ("redis.set_repl()", "ERR redis.set_repl() requires two arguments."),
        ("return redis.acl_check_cmd('get', 'k')", "ERR redis.acl_check_cmd is not supported by this server"),
        ("return math.random(0)", "ERR user_script:1: bad argument #1 to 'random' (interval is empty)"),
        ("return math.random(1, 2, 3)", "ERR user_script:1: wrong number of arguments"),
        ("return bit.tobit('x')", "ERR user_script:1: bad argument #1 to 'tobit' (number expected, got string)"),
    ];
    for (body, expected) in cases {
        assert_eq!(run_err(body), format!("{expected}{}", at(body, 1)), "{body}");
    }
}

#[test]
fn redis_api_misc() {
    let s = scripting();
    let mut host = FakeHost::new();
    let r = eval(
        &s,
        &mut host,
        "redis.log(redis.LOG_WARNING, 'hello', 'world', 5)
         redis.set_repl(redis.REPL_ALL)
         redis.debug('ignored')
         return {tostring(redis.replicate_commands()), tostring(redis.breakpoint()), redis.REDIS_VERSION,
                 redis.REDIS_VERSION_NUM, redis.REPL_NONE, redis.REPL_AOF, redis.REPL_REPLICA, redis.REPL_SLAVE,
                 redis.REPL_ALL, redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    );
    assert_eq!(
        r,
        Frame::Array(vec![
            bulk("true"),
            bulk("false"),
            bulk("7.2.0"),
            Frame::Integer(0x070200),
            Frame::Integer(0),
            Frame::Integer(1),
            Frame::Integer(2),
            Frame::Integer(2),
            Frame::Integer(3),
            Frame::Integer(0),
            Frame::Integer(1),
            Frame::Integer(2),
            Frame::Integer(3),
        ])
    );
    assert_eq!(host.logs, vec![(LOG_WARNING, "hello world 5".to_string())]);
}

#[test]
fn error_value_the_handler_cannot_annotate() {
    // A read-only table as the error value: annotating it fails inside the
    // handler, which Lua hands back to the handler as a string error (Redis
    // 7.2 behaves the same with its read-only tables).
    let body = "error(string)";
    let sha = sha1_hex(body.as_bytes());
    assert_eq!(
        run_err(body),
        format!("ERR err_handler_def:12: Attempt to modify a readonly table script: {sha}, on @err_handler_def:12.")
    );
}

#[test]
fn vm_stays_usable_after_errors() {
    let s = scripting();
    for body in ["error('x')", "return (", "x = 1", "return redis.call()", "local t = {} t[1] = t return t"] {
        let _ = run(&s, body);
        assert_eq!(run(&s, "return 'alive'"), bulk("alive"), "after {body}");
    }
}

#[test]
fn shebang_errors() {
    let s = scripting();
    assert_eq!(run(&s, "#!python\nreturn 1"), error("ERR Unexpected engine in script shebang: #!python"));
    assert_eq!(run(&s, "#!lua flags=bogus\nreturn 1"), error("ERR Unexpected flag in script shebang: bogus"));
    assert_eq!(run(&s, "#!lua"), error("ERR Invalid script shebang"));
    assert_eq!(run(&s, "#!lua thing=1\nreturn 1"), error("ERR Unknown lua shebang option: thing=1"));
}

/// A host that panics inside redis.call.
struct PanickingHost;

impl gyre_script::Host for PanickingHost {
    fn call(&mut self, _args: &[&[u8]], _resp: u8) -> Frame {
        panic!("host bug");
    }

    fn log(&mut self, _level: u8, _msg: &str) {}
}

#[test]
fn a_host_panic_reaches_the_caller_and_the_vm_survives() {
    let s = scripting();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.eval(&mut PanickingHost, b"pcall(redis.call, 'GET', 'k') return 'swallowed?'", &[], &[], RESP2)
    }));
    let payload = outcome.expect_err("the panic is resumed after the script ends");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"host bug"));
    assert!(s.running().is_none());
    assert_eq!(run(&s, "return redis.call('PING')"), simple("PONG"));
}

/// A host whose `tick` panics (the hook calls it from inside Lua's C frames).
struct PanickingTickHost;

impl gyre_script::Host for PanickingTickHost {
    fn call(&mut self, _args: &[&[u8]], _resp: u8) -> Frame {
        Frame::Null
    }

    fn log(&mut self, _level: u8, _msg: &str) {}

    fn tick(&mut self) {
        panic!("tick bug");
    }
}

/// Regression: a panic in `Host::tick` unwound from the Lua hook into Lua's
/// C frames (undefined behaviour); now the hook stashes it, fails the script
/// (pcall cannot swallow it) and the caller gets the panic back.
#[test]
fn a_panic_in_tick_reaches_the_caller_and_the_vm_survives() {
    let s = Scripting::new(ScriptConfig { kill_check_instructions: 100, ..ScriptConfig::default() });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.eval(&mut PanickingTickHost, b"while true do pcall(function() while true do end end) end", &[], &[], RESP2)
    }));
    let payload = outcome.expect_err("the panic is resumed after the script ends");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"tick bug"));
    assert!(s.running().is_none());
    assert_eq!(run(&s, "return redis.call('PING')"), simple("PONG"));
}
