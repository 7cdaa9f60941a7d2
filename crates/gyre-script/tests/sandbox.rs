//! Sandbox escapes attempted by scripts, and isolation between runs.

mod common;

use common::*;
use gyre_script::Frame;

fn run_err(body: &str) -> String {
    error_text(&run(&scripting(), body))
}

fn assert_err_contains(body: &str, needle: &str) {
    let text = run_err(body);
    assert!(text.contains(needle), "{body}: {text:?} lacks {needle:?}");
}

#[test]
fn no_os_but_clock() {
    assert_err_contains("return os.execute('true')", "attempt to call field 'execute' (a nil value)");
    assert_err_contains("return os.getenv('HOME')", "attempt to call field 'getenv' (a nil value)");
    assert_eq!(run(&scripting(), "return type(os.clock())"), bulk("number"));
}

#[test]
fn no_io_require_loadfile_dofile_print_newproxy_debug() {
    for name in ["io", "require", "loadfile", "dofile", "print", "newproxy", "debug", "package", "module"] {
        assert_err_contains(
            &format!("return {name}"),
            &format!("Script attempted to access nonexistent global variable '{name}'"),
        );
    }
    assert_err_contains("io.open('/etc/passwd')", "nonexistent global variable 'io'");
}

#[test]
fn bytecode_is_refused() {
    let r = run(&scripting(), "local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}");
    assert_eq!(r, Frame::Array(vec![bulk("nil"), bulk("bytecode loading is not allowed")]));
    let r = run(
        &scripting(),
        "local code = string.dump(function() return 1 end)
         local done = false
         local f, e = load(function() if done then return nil end done = true return code end)
         return {tostring(f), e}",
    );
    assert_eq!(r, Frame::Array(vec![bulk("nil"), bulk("bytecode loading is not allowed")]));
    // An EVAL body that is bytecode is a compile error.
    let s = scripting();
    let mut host = FakeHost::new();
    let dumped = s.eval(&mut host, b"return string.dump(function() return 1 end)", &[], &[], RESP2);
    let Frame::Bulk(code) = dumped else { panic!("{dumped:?}") };
    let r = s.eval(&mut host, &code, &[], &[], RESP2);
    assert!(error_text(&r).starts_with("ERR Error compiling script (new function): user_script: bytecode"), "{r:?}");
}

#[test]
fn loadstring_and_load_work_inside_the_sandbox() {
    let s = scripting();
    assert_eq!(run(&s, "return loadstring('return 1 + 1')()"), Frame::Integer(2));
    assert_eq!(
        run(
            &s,
            "local parts = {'return ', '40 + 2'} local i = 0 return load(function() i = i + 1 return parts[i] end)()"
        ),
        Frame::Integer(42)
    );
    assert_err_contains("loadstring('y = 1')()", "Script attempted to create global variable 'y'");
    assert_eq!(
        run(&s, "local f, e = loadstring('return (') return e"),
        bulk("[string \"return (\"]:1: unexpected symbol near '<eof>'")
    );
}

#[test]
fn globals_table_is_protected() {
    assert_err_contains("setmetatable(_G, {})", "Attempt to modify a readonly table");
    assert_err_contains("rawset(_G, 'x', 1)", "Attempt to modify a readonly table");
    assert_err_contains("_G.x = 1", "Script attempted to create global variable 'x'");
    assert_err_contains("_G['redis'] = nil", "Attempt to modify a readonly table");
    assert_err_contains("table.insert(_G, 1)", "Attempt to modify a readonly table");
    assert_eq!(run(&scripting(), "return tostring(getmetatable(_G))"), bulk("false"));
}

#[test]
fn real_globals_never_leak_through_getfenv() {
    let s = scripting();
    assert_eq!(run(&s, "return tostring(getfenv(0) == _G)"), bulk("true"));
    assert_eq!(run(&s, "return tostring(getfenv(1) == _G)"), bulk("true"));
    assert_eq!(run(&s, "return tostring(getfenv(string.format) == _G)"), bulk("true"));
    assert_err_contains("getfenv(0).x = 1", "Script attempted to create global variable 'x'");
    assert_err_contains("rawset(getfenv(0), 'x', 1)", "Attempt to modify a readonly table");
    assert_err_contains("setfenv(0, {})", "setfenv cannot change the environment of the running thread");
}

#[test]
fn libraries_are_read_only() {
    assert_err_contains("string.upper = nil", "Attempt to modify a readonly table");
    assert_err_contains("redis.call = function() end", "Attempt to modify a readonly table");
    assert_err_contains("cjson.encode = nil", "Attempt to modify a readonly table");
    assert_err_contains("math.pi = 3", "Attempt to modify a readonly table");
    assert_err_contains("rawset(string, 'x', 1)", "Attempt to modify a readonly table");
    assert_err_contains("setmetatable(redis, {})", "Attempt to modify a readonly table");
    assert_err_contains("table.insert(table, 1)", "Attempt to modify a readonly table");
    assert_err_contains("table.sort(bit)", "Attempt to modify a readonly table");
    assert_err_contains("getmetatable('').__index.upper = nil", "Attempt to modify a readonly table");
    assert_err_contains("getmetatable('').x = 1", "Attempt to modify a readonly table");
    // Reading works, and string methods still reach the real library.
    assert_eq!(run(&scripting(), "return ('abc'):upper() .. string.rep('x', 2)"), bulk("ABCxx"));
}

#[test]
fn ordinary_tables_are_not_affected() {
    let r = run(
        &scripting(),
        "local t = {} rawset(t, 'a', 1) setmetatable(t, {__index = function() return 7 end})
         table.insert(t, 'x') table.insert(t, 'y') table.remove(t, 1)
         local s = {3, 1, 2} table.sort(s)
         return {t.a, t.zzz, t[1], s[1], s[3]}",
    );
    assert_eq!(
        r,
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(7), bulk("y"), Frame::Integer(1), Frame::Integer(3)])
    );
}

#[test]
fn no_state_leaks_between_runs() {
    let s = scripting();
    let _ = run(&s, "pcall(function() leaked = 1 end) pcall(rawset, _G, 'leaked', 1) pcall(setfenv, 1, {leaked = 1})");
    assert!(error_text(&run(&s, "return leaked")).contains("nonexistent global variable 'leaked'"));
    // A script that replaced its own environment gets the sandbox back next run.
    let body =
        "if rawget(getfenv(1), 'marker') then return 'stale env' end setfenv(1, {marker = true}) return 'changed'";
    assert_eq!(run(&s, body), bulk("changed"));
    assert_eq!(run(&s, body), bulk("changed"));
}

#[test]
fn coroutines_work() {
    let r = run(
        &scripting(),
        "local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
         local _, x = coroutine.resume(co, 1)
         local _, y = coroutine.resume(co, 10)
         return {x, y}",
    );
    assert_eq!(r, Frame::Array(vec![Frame::Integer(2), Frame::Integer(20)]));
}

#[test]
fn math_random_is_deterministic_per_run() {
    let s = scripting();
    let body = "return {math.random(1000000), math.random(1000000), math.random(5, 6)}";
    let first = run(&s, body);
    assert_eq!(run(&s, body), first);
    let seeded = "math.randomseed(7) return math.random(1000000)";
    assert_eq!(run(&s, seeded), run(&s, seeded));
    assert_ne!(run(&s, seeded), run(&s, "return math.random(1000000)"));
    let r = run(&s, "local x = math.random() return tostring(x >= 0 and x < 1)");
    assert_eq!(r, bulk("true"));
}

#[test]
fn memory_limit_stops_a_script_and_the_vm_survives() {
    let config = gyre_script::ScriptConfig { lua_memory_bytes_max: 8 << 20, ..Default::default() };
    let s = gyre_script::Scripting::new(config);
    let text = error_text(&run(&s, "local t = {} for i = 1, 1e8 do t[i] = i end return #t"));
    assert!(text.contains("not enough memory"), "{text}");
    let text = error_text(&run(&s, "return cjson.encode(string.rep('x', 20 * 1024 * 1024))"));
    assert!(text.contains("not enough memory"), "{text}");
    assert_eq!(run(&s, "local t = {} for i = 1, 1000 do t[i] = i end return #t"), Frame::Integer(1000));
}

#[test]
fn raw_reads_see_through_proxies_without_leaking_the_real_tables() {
    let s = scripting();
    let r = run(
        &s,
        "local seen = {}
         for k in pairs(_G) do seen[k] = true end
         local n = 0 for _ in pairs(string) do n = n + 1 end
         return {tostring(rawget(_G, 'redis') == redis), tostring(rawget(_G, 'nope')), tostring(seen.redis),
                 tostring(seen.cjson), tostring(n > 10), tostring(next(math) ~= nil), type(rawget(string, 'format'))}",
    );
    assert_eq!(
        r,
        Frame::Array(vec![
            bulk("true"),
            bulk("nil"),
            bulk("true"),
            bulk("true"),
            bulk("true"),
            bulk("true"),
            bulk("function")
        ])
    );
    // The iteration state pairs hands out is the proxy, not the real table.
    let text = error_text(&run(&s, "local _, state = pairs(_G) state.sneaky = 1"));
    assert!(text.contains("Script attempted to create global variable 'sneaky'"), "{text}");
    let text = error_text(&run(&s, "local _, state = pairs(string) state.sneaky = 1"));
    assert!(text.contains("Attempt to modify a readonly table"), "{text}");
    // Ordinary tables are unaffected.
    assert_eq!(
        run(&s, "local t = {a = 1} local k, v = next(t) return {k, v, rawget(t, 'a')}"),
        Frame::Array(vec![bulk("a"), Frame::Integer(1), Frame::Integer(1)])
    );
}

/// Regression: the `pairs` wrapper ran the original `luaB_pairs` on its own
/// frame, where upvalue 1 is the wrapper's light userdata instead of `next`,
/// so `pairs` over an ordinary table returned a userdata as its iterator.
#[test]
fn pairs_over_an_ordinary_table_iterates_it() {
    let s = scripting();
    let r = run(&s, "local n = 0 for k, v in pairs({10, 20, x = 30}) do n = n + v end return n");
    assert_eq!(r, Frame::Integer(60));
    assert_eq!(run(&s, "return type((pairs({})))"), bulk("function"));
    assert!(error_text(&run(&s, "pairs(1)")).contains("table expected"));
}
