//! Functions: FUNCTION LOAD / DELETE / LIST / FLUSH / DUMP / RESTORE /
//! STATS and FCALL / FCALL_RO, with flags.

mod common;

use bytes::Bytes;
use common::*;
use gyre_script::{Frame, RestorePolicy, RunOpts, ScriptConfig, ScriptFlags, Scripting};

const LIB: &str = "#!lua name=mylib
local function echo(keys, args)
  return {keys[1], args[1]}
end
redis.register_function('echo', echo)
redis.register_function{function_name = 'ro_get', callback = function(keys) return redis.call('GET', keys[1]) end,
                        flags = {'no-writes', 'ALLOW-STALE'}, description = 'reads a key'}
";

const RO: RunOpts = RunOpts { read_only: true, resp: 2 };

fn load(s: &Scripting, code: &str) -> Result<String, String> {
    s.function_load(code.as_bytes(), false).map_err(|e| error_text(&e))
}

fn load_err(code: &str) -> String {
    load(&scripting(), code).unwrap_err()
}

fn fcall(s: &Scripting, name: &str, keys: &[&[u8]], args: &[&[u8]]) -> Frame {
    s.fcall(&mut FakeHost::new(), name.as_bytes(), keys, args, RESP2)
}

#[test]
fn load_and_call() {
    let s = scripting();
    assert_eq!(load(&s, LIB), Ok("mylib".to_string()));
    assert_eq!(fcall(&s, "echo", &[b"k"], &[b"a"]), Frame::Array(vec![bulk("k"), bulk("a")]));
    assert_eq!(fcall(&s, "ECHO", &[b"k"], &[b"a"]), Frame::Array(vec![bulk("k"), bulk("a")]), "names ignore case");
    assert_eq!(fcall(&s, "nope", &[], &[]), error("ERR Function not found"));
    let mut host = FakeHost::new();
    host.data.insert(b"k".to_vec(), b"v".to_vec());
    assert_eq!(s.fcall(&mut host, b"ro_get", &[b"k"], &[], RO), bulk("v"));
    assert_eq!(host.checks, vec![(ScriptFlags::NO_WRITES.union(ScriptFlags::ALLOW_STALE), true)]);
    assert_eq!(
        s.fcall(&mut host, b"echo", &[b"k"], &[], RO),
        error("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(s.function_flags(b"ro_get"), Some(ScriptFlags::NO_WRITES.union(ScriptFlags::ALLOW_STALE)));
    assert_eq!(s.function_flags(b"echo"), Some(ScriptFlags::empty()));
    assert_eq!(s.function_flags(b"nope"), None);
}

#[test]
fn replace_and_already_exists() {
    let s = scripting();
    load(&s, LIB).unwrap();
    assert_eq!(load(&s, LIB), Err("ERR Library 'mylib' already exists".to_string()));
    let v2 = "#!lua name=mylib\nredis.register_function('echo', function() return 'v2' end)";
    assert_eq!(s.function_load(v2.as_bytes(), true).map_err(|e| error_text(&e)), Ok("mylib".to_string()));
    assert_eq!(fcall(&s, "echo", &[], &[]), bulk("v2"));
    assert_eq!(
        fcall(&s, "ro_get", &[b"k"], &[]),
        error("ERR Function not found"),
        "replaced library's functions are gone"
    );
}

#[test]
fn a_failed_replace_keeps_the_old_library() {
    let s = scripting();
    load(&s, LIB).unwrap();
    let broken = "#!lua name=mylib\nerror('nope')";
    assert!(s.function_load(broken.as_bytes(), true).is_err());
    assert_eq!(fcall(&s, "echo", &[b"k"], &[b"a"]), Frame::Array(vec![bulk("k"), bulk("a")]));
}

#[test]
fn metadata_errors() {
    assert_eq!(load_err("return 1"), "ERR Missing library metadata");
    assert_eq!(load_err("#!lua name=x"), "ERR Invalid library metadata");
    assert_eq!(load_err("#!lua\nreturn"), "ERR Library name was not given");
    assert_eq!(load_err("#!lua name=a name=b\n"), "ERR Invalid metadata value, name argument was given multiple times");
    assert_eq!(load_err("#!lua desc=x name=a\n"), "ERR Invalid metadata value given: desc=x");
    assert_eq!(
        load_err("#!lua name=my-lib\n"),
        "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
    );
    assert_eq!(load_err("#!python name=x\n"), "ERR Engine 'python' not found");
    assert_eq!(
        load(&scripting(), "#!LUA name=upper\nredis.register_function('f', function() end)"),
        Ok("upper".to_string())
    );
}

#[test]
fn load_errors() {
    assert_eq!(load_err("#!lua name=x\nlocal a = 1"), "ERR No functions registered");
    assert_eq!(
        load_err("#!lua name=x\nreturn ("),
        "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"
    );
    assert_eq!(
        load_err("#!lua name=x\n\nlocal t = nil t.x = 1"),
        "ERR Error registering functions: ERR user_function:3: attempt to index local 't' (a nil value)"
    );
    // Only `redis` exists while a library loads (as in Redis: not even `error` or `math`).
    assert_eq!(
        load_err("#!lua name=x\nreturn math.random()"),
        "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'"
    );
    assert_eq!(
        load_err("#!lua name=x\nredis.register_function('f', function() end)\nx = 1"),
        "ERR Error registering functions: ERR user_function:3: Script attempted to create global variable 'x'"
    );
    assert_eq!(
        load_err("#!lua name=x\nredis.call('SET', 'a', 'b')"),
        "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"
    );
    assert_eq!(
        load_err("#!lua name=x\nlocal s = string.format('%d', 1)"),
        "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"
    );
    assert_eq!(
        load_err("#!lua name=x\nredis.register_function('bad-name', function() end)"),
        "ERR Error registering functions: ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long"
    );
    assert_eq!(
        load_err(
            "#!lua name=x\nredis.register_function('f', function() end)\nredis.register_function('F', function() end)"
        ),
        "ERR Error registering functions: ERR Function already exists in the library"
    );
    let register_errors = [
        ("redis.register_function()", "wrong number of arguments to redis.register_function"),
        ("redis.register_function('f', function() end, 3)", "wrong number of arguments to redis.register_function"),
        ("redis.register_function({}, function() end)", "first argument to redis.register_function must be a string"),
        ("redis.register_function('f', 1)", "second argument to redis.register_function must be a function"),
        (
            "redis.register_function('f')",
            "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
        ),
        (
            "redis.register_function(1)",
            "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
        ),
        ("redis.register_function{callback = function() end}", "redis.register_function must get a function name argument"),
        ("redis.register_function{function_name = 'f'}", "redis.register_function must get a callback argument"),
        ("redis.register_function{function_name = 'f', callback = 1}", "callback argument given to redis.register_function must be a function"),
        ("redis.register_function{function_name = {}, callback = function() end}", "function_name argument given to redis.register_function must be a string"),
        ("redis.register_function{function_name = 'f', callback = function() end, flags = 'x'}", "flags argument to redis.register_function must be a table representing function flags"),
        ("redis.register_function{function_name = 'f', callback = function() end, flags = {'bogus'}}", "unknown flag given"),
        ("redis.register_function{function_name = 'f', callback = function() end, other = 1}", "unknown argument given to redis.register_function"),
        ("redis.register_function{function_name = 'f', callback = function() end, description = {}}", "description argument given to redis.register_function must be a string"),
    ];
    for (line, expected) in register_errors {
        assert_eq!(
            load_err(&format!("#!lua name=x\n{line}")),
            format!("ERR Error registering functions: ERR {expected}"),
            "{line}"
        );
    }
}

#[test]
fn function_names_are_unique_across_libraries() {
    let s = scripting();
    load(&s, LIB).unwrap();
    assert_eq!(
        load(&s, "#!lua name=other\nredis.register_function('Echo', function() end)"),
        Err("ERR Function Echo already exists".to_string())
    );
    assert_eq!(fcall(&s, "echo", &[b"k"], &[b"a"]), Frame::Array(vec![bulk("k"), bulk("a")]));
}

#[test]
fn load_timeout() {
    let s = Scripting::new(ScriptConfig {
        function_load_timeout: std::time::Duration::from_millis(20),
        ..Default::default()
    });
    assert_eq!(
        load(&s, "#!lua name=slow\nwhile true do end"),
        Err("ERR Error registering functions: ERR FUNCTION LOAD timeout".to_string())
    );
    assert_eq!(
        load(&s, "#!lua name=quick\nredis.register_function('f', function() return 1 end)"),
        Ok("quick".to_string())
    );
    assert_eq!(fcall(&s, "f", &[], &[]), Frame::Integer(1));
}

#[test]
fn runtime_api_of_functions() {
    let s = scripting();
    let code = "#!lua name=api
redis.register_function('kinds', function(keys, args)
  redis.setresp(3)
  local m = redis.call('X')
  return {type(keys), #args, m.map.a, redis.sha1hex(''), math.floor(2.5), tostring(pcall(function() return KEYS end))}
end)
redis.register_function('fail', function() local t = nil\n  return t.x end)
redis.register_function('reg', function() return redis.register_function('g', function() end) end)";
    load(&s, code).unwrap();
    let mut host = FakeHost::new().with("X", Frame::Map(vec![(bulk("a"), Frame::Integer(7))]));
    let r = s.fcall(&mut host, b"kinds", &[], &[b"1", b"2"], RESP2);
    assert_eq!(
        r,
        Frame::Array(vec![
            bulk("table"),
            Frame::Integer(2),
            Frame::Integer(7),
            bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            Frame::Integer(2),
            bulk("false"),
        ])
    );
    assert_eq!(host.calls[0].1, 3);
    assert_eq!(
        error_text(&fcall(&s, "fail", &[], &[])),
        "ERR user_function:8: attempt to index local 't' (a nil value) script: fail, on @user_function:8."
    );
    assert!(error_text(&fcall(&s, "reg", &[], &[])).contains("attempt to call field 'register_function' (a nil value)"));
}

#[test]
fn delete_and_flush() {
    let s = scripting();
    load(&s, LIB).unwrap();
    load(&s, "#!lua name=second\nredis.register_function('two', function() return 2 end)").unwrap();
    assert_eq!(s.function_delete(b"mylib"), Ok(()));
    assert_eq!(s.function_delete(b"mylib"), Err(error("ERR Library not found")));
    assert_eq!(s.function_delete(b"MYLIB"), Err(error("ERR Library not found")));
    assert_eq!(fcall(&s, "echo", &[], &[]), error("ERR Function not found"));
    assert_eq!(fcall(&s, "two", &[], &[]), Frame::Integer(2));
    // A deleted function's name can be registered again.
    load(&s, "#!lua name=again\nredis.register_function('echo', function() return 'again' end)").unwrap();
    assert_eq!(fcall(&s, "echo", &[], &[]), bulk("again"));
    s.function_flush();
    assert_eq!(s.function_list(&|_| true, false, 3), Frame::Array(vec![]));
    assert_eq!(fcall(&s, "two", &[], &[]), error("ERR Function not found"));
}

fn ro_get_entry(resp: u8) -> Frame {
    let flags = vec![simple("no-writes"), simple("allow-stale")];
    let pairs = vec![
        (bulk("name"), bulk("ro_get")),
        (bulk("description"), bulk("reads a key")),
        (bulk("flags"), if resp == 3 { Frame::Set(flags) } else { Frame::Array(flags) }),
    ];
    if resp == 3 {
        Frame::Map(pairs)
    } else {
        Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

#[test]
fn list_shape_resp3() {
    let s = scripting();
    load(&s, LIB).unwrap();
    let echo = Frame::Map(vec![
        (bulk("name"), bulk("echo")),
        (bulk("description"), Frame::Null),
        (bulk("flags"), Frame::Set(vec![])),
    ]);
    let expected = Frame::Array(vec![Frame::Map(vec![
        (bulk("library_name"), bulk("mylib")),
        (bulk("engine"), bulk("LUA")),
        (bulk("functions"), Frame::Array(vec![echo, ro_get_entry(3)])),
    ])]);
    assert_eq!(s.function_list(&|_| true, false, 3), expected);
}

#[test]
fn list_shape_resp2_with_code_and_pattern() {
    let s = scripting();
    load(&s, LIB).unwrap();
    load(&s, "#!lua name=other\nredis.register_function('x', function() end)").unwrap();
    let r = s.function_list(&|name| name.to_ascii_lowercase().starts_with("my"), true, 2);
    let Frame::Array(libraries) = r else { panic!() };
    assert_eq!(libraries.len(), 1);
    let Frame::Array(fields) = &libraries[0] else { panic!() };
    assert_eq!(fields[0..4], [bulk("library_name"), bulk("mylib"), bulk("engine"), bulk("LUA")]);
    let Frame::Array(functions) = &fields[5] else { panic!() };
    assert_eq!(functions[1], ro_get_entry(2));
    assert_eq!(fields[6..8], [bulk("library_code"), Frame::Bulk(Bytes::from(LIB))]);
    let Frame::Array(all) = s.function_list(&|_| true, false, 2) else { panic!() };
    assert_eq!(all.len(), 2);
    assert_eq!(s.function_list(&|name| name.starts_with("nomatch"), false, 2), Frame::Array(vec![]));
}

#[test]
fn dump_and_restore() {
    let s = scripting();
    load(&s, LIB).unwrap();
    load(&s, "#!lua name=second\nredis.register_function('two', function() return 2 end)").unwrap();
    let dump = s.function_dump();
    let listing = s.function_list(&|_| true, true, 3);

    let other = scripting();
    assert_eq!(other.function_restore(&dump, RestorePolicy::Append), Ok(()));
    assert_eq!(other.function_list(&|_| true, true, 3), listing);
    assert_eq!(fcall(&other, "two", &[], &[]), Frame::Integer(2));

    // APPEND refuses an existing library; REPLACE replaces it.
    assert_eq!(other.function_restore(&dump, RestorePolicy::Append), Err(error("ERR Library mylib already exists")));
    assert_eq!(other.function_restore(&dump, RestorePolicy::Replace), Ok(()));
    assert_eq!(fcall(&other, "echo", &[b"k"], &[b"a"]), Frame::Array(vec![bulk("k"), bulk("a")]));

    // FLUSH drops libraries the payload does not have.
    load(&other, "#!lua name=extra\nredis.register_function('extra', function() return 'x' end)").unwrap();
    assert_eq!(other.function_restore(&dump, RestorePolicy::Flush), Ok(()));
    assert_eq!(fcall(&other, "extra", &[], &[]), error("ERR Function not found"));
    assert_eq!(other.function_list(&|_| true, true, 3), listing);
}

#[test]
fn restore_refuses_function_collisions_and_rolls_back() {
    let s = scripting();
    load(&s, "#!lua name=a\nredis.register_function('shared', function() return 'a' end)").unwrap();
    let dump = s.function_dump();
    let other = scripting();
    load(&other, "#!lua name=b\nredis.register_function('shared', function() return 'b' end)").unwrap();
    assert_eq!(other.function_restore(&dump, RestorePolicy::Replace), Err(error("ERR Function shared already exists")));
    assert_eq!(fcall(&other, "shared", &[], &[]), bulk("b"));
    let Frame::Array(all) = other.function_list(&|_| true, false, 2) else { panic!() };
    assert_eq!(all.len(), 1);
}

#[test]
fn restore_refuses_bad_payloads() {
    let s = scripting();
    load(&s, LIB).unwrap();
    let mut dump = s.function_dump().to_vec();
    let wrong = "ERR DUMP payload version or checksum are wrong";
    let last = dump.len() - 1;
    dump[last] ^= 1;
    assert_eq!(s.function_restore(&dump, RestorePolicy::Append), Err(error(wrong)));
    dump[last] ^= 1;
    dump[20] ^= 0x20;
    assert_eq!(s.function_restore(&dump, RestorePolicy::Append), Err(error(wrong)));
    // A Redis RDB payload (or anything else) is not Gyre's format.
    let redis_payload = b"\xf5\xc3@X@]\x1f#!lua name=mylib\n...\x0b\x00\x1a\x8e\xe4\xb7\xef\x9c\x07\x7f";
    let text = error_text(&s.function_restore(redis_payload, RestorePolicy::Append).unwrap_err());
    assert_eq!(text, format!("{wrong} (not a Gyre FUNCTION DUMP payload)"));
    assert_eq!(error_text(&s.function_restore(b"", RestorePolicy::Flush).unwrap_err()), text);
}

#[test]
fn empty_dump_restores_to_nothing() {
    let s = scripting();
    let dump = s.function_dump();
    load(&s, LIB).unwrap();
    assert_eq!(s.function_restore(&dump, RestorePolicy::Flush), Ok(()));
    assert_eq!(s.function_list(&|_| true, false, 2), Frame::Array(vec![]));
}

#[test]
fn stats_when_idle() {
    let s = scripting();
    load(&s, LIB).unwrap();
    let expected = Frame::Map(vec![
        (bulk("running_script"), Frame::Null),
        (
            bulk("engines"),
            Frame::Map(vec![(
                bulk("LUA"),
                Frame::Map(vec![
                    (bulk("libraries_count"), Frame::Integer(1)),
                    (bulk("functions_count"), Frame::Integer(2)),
                ]),
            )]),
        ),
    ]);
    assert_eq!(s.function_stats(3), expected);
    let Frame::Array(flat) = s.function_stats(2) else { panic!() };
    assert_eq!(flat[0..2], [bulk("running_script"), Frame::Null]);
}
