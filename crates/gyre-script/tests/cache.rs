//! The script cache (EVAL, EVALSHA, SCRIPT LOAD/EXISTS/FLUSH), shebang
//! flags and the checks before a run.

mod common;

use common::*;
use gyre_script::{script_flags, sha1_hex, Frame, RunOpts, ScriptConfig, ScriptFlags, Scripting};

const RO: RunOpts = RunOpts { read_only: true, resp: 2 };

#[test]
fn evalsha_after_eval() {
    let s = scripting();
    let body = b"return redis.call('INCR', KEYS[1])";
    let sha = sha1_hex(body);
    let mut host = FakeHost::new();
    assert_eq!(
        s.evalsha(&mut host, sha.as_bytes(), &[b"k"], &[], RESP2),
        error("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(s.eval(&mut host, body, &[b"k"], &[], RESP2), Frame::Integer(1));
    assert_eq!(s.evalsha(&mut host, sha.as_bytes(), &[b"k"], &[], RESP2), Frame::Integer(2));
    assert_eq!(s.evalsha(&mut host, sha.to_uppercase().as_bytes(), &[b"k"], &[], RESP2), Frame::Integer(3));
    assert_eq!(s.evalsha(&mut host, b"abc", &[], &[], RESP2), error("NOSCRIPT No matching script. Please use EVAL."));
    assert_eq!(host.calls.len(), 3, "NOSCRIPT runs nothing");
}

#[test]
fn script_load_exists_flush() {
    let s = scripting();
    let sha = s.script_load(b"return 'loaded'").unwrap();
    assert_eq!(sha, sha1_hex(b"return 'loaded'"));
    assert_eq!(s.script_load(b"return 'loaded'").unwrap(), sha, "loading twice is fine");
    let upper = sha.to_uppercase();
    assert_eq!(
        s.script_exists(&[sha.as_bytes(), upper.as_bytes(), b"0000", &[b'a'; 40]]),
        vec![true, true, false, false]
    );
    assert_eq!(s.cached_scripts(), 1);
    assert_eq!(s.evalsha(&mut FakeHost::new(), sha.as_bytes(), &[], &[], RESP2), bulk("loaded"));
    s.script_flush();
    assert_eq!(s.script_exists(&[sha.as_bytes()]), vec![false]);
    assert_eq!(s.cached_scripts(), 0);
    assert_eq!(
        s.evalsha(&mut FakeHost::new(), sha.as_bytes(), &[], &[], RESP2),
        error("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(run(&s, "return 'still works'"), bulk("still works"));
}

#[test]
fn script_load_reports_compile_errors() {
    let s = scripting();
    let err = s.script_load(b"return (").unwrap_err();
    assert_eq!(
        error_text(&err),
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'"
    );
    let err = s.script_load(b"#!lua flags=nope\nreturn 1").unwrap_err();
    assert_eq!(error_text(&err), "ERR Unexpected flag in script shebang: nope");
    assert_eq!(s.cached_scripts(), 0);
}

#[test]
fn eval_created_scripts_are_evicted_beyond_the_limit() {
    let s = Scripting::new(ScriptConfig { eval_scripts_max: 2, ..Default::default() });
    let pinned = s.script_load(b"return 'pinned'").unwrap();
    let bodies = ["return 1", "return 2", "return 3"];
    for body in bodies {
        let _ = run(&s, body);
    }
    let shas: Vec<String> = bodies.iter().map(|b| sha1_hex(b.as_bytes())).collect();
    let exists = s.script_exists(&[shas[0].as_bytes(), shas[1].as_bytes(), shas[2].as_bytes(), pinned.as_bytes()]);
    assert_eq!(exists, vec![false, true, true, true], "the oldest EVAL script goes; SCRIPT LOAD ones stay");
    // SCRIPT LOAD of an EVAL-created script pins it.
    s.script_load(b"return 2").unwrap();
    let _ = run(&s, "return 4");
    let _ = run(&s, "return 5");
    assert_eq!(s.script_exists(&[shas[1].as_bytes()]), vec![true]);
}

#[test]
fn shebang_flags_are_parsed_and_passed_to_the_host() {
    let s = scripting();
    let mut host = FakeHost::new();
    let body = b"#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 1";
    assert_eq!(s.eval(&mut host, body, &[], &[], RESP2), Frame::Integer(1));
    let flags = host.checks[0].0;
    for flag in [
        ScriptFlags::NO_WRITES,
        ScriptFlags::ALLOW_OOM,
        ScriptFlags::ALLOW_STALE,
        ScriptFlags::NO_CLUSTER,
        ScriptFlags::ALLOW_CROSS_SLOT_KEYS,
    ] {
        assert!(flags.contains(flag), "{flag:?}");
    }
    assert!(!flags.contains(ScriptFlags::EVAL_COMPAT_MODE));
    assert_eq!(script_flags(body).unwrap(), flags);
    assert_eq!(s.cached_script_flags(sha1_hex(body).as_bytes()), Some(flags));
    assert_eq!(s.script_flags(b"return 1").unwrap(), ScriptFlags::EVAL_COMPAT_MODE);
    assert_eq!(s.cached_script_flags(b"nope"), None);
    assert_eq!(error_text(&script_flags(b"#!perl\n").unwrap_err()), "ERR Unexpected engine in script shebang: #!perl");
}

#[test]
fn read_only_runs() {
    let s = scripting();
    let mut host = FakeHost::new();
    // A shebang without no-writes may write: refused under *_RO.
    let r = s.eval(&mut host, b"#!lua\nreturn redis.call('SET', 'k', 'v')", &[], &[], RO);
    assert_eq!(r, error("ERR Can not execute a script with write flag using *_ro command."));
    assert!(host.calls.is_empty());
    // no-writes scripts and compat-mode scripts run; the host learns it is read-only.
    assert_eq!(s.eval(&mut host, b"#!lua flags=no-writes\nreturn 1", &[], &[], RO), Frame::Integer(1));
    assert_eq!(s.eval(&mut host, b"return 2", &[], &[], RO), Frame::Integer(2));
    assert_eq!(host.checks[0], (ScriptFlags::NO_WRITES, true));
    assert_eq!(host.checks[1], (ScriptFlags::EVAL_COMPAT_MODE, true));
}

#[test]
fn host_can_refuse_a_run() {
    let s = scripting();
    let mut host = FakeHost::new();
    host.refuse = Some(error("OOM command not allowed when used memory > 'maxmemory'."));
    let r = s.eval(&mut host, b"return redis.call('SET', 'k', 'v')", &[], &[], RESP2);
    assert_eq!(r, error("OOM command not allowed when used memory > 'maxmemory'."));
    assert!(host.calls.is_empty(), "a refused script does not run");
    assert!(s.running().is_none());
}

#[test]
fn resp_selection_resets_between_runs() {
    let s = scripting();
    let mut host = FakeHost::new();
    let _ = eval(&s, &mut host, "redis.setresp(3) return redis.call('PING')");
    let _ = eval(&s, &mut host, "return redis.call('PING')");
    assert_eq!(host.calls.iter().map(|(_, resp)| *resp).collect::<Vec<_>>(), vec![3, 2]);
}

#[test]
fn memory_and_cache_counters() {
    let s = scripting();
    let (eval_bytes, function_bytes) = s.memory_bytes();
    assert!(eval_bytes > 10_000 && function_bytes > 10_000, "{eval_bytes} {function_bytes}");
    let _ = run(&s, "return 1");
    assert_eq!(s.cached_scripts(), 1);
}
