//! A long script never wedges the server (issue: EVAL "while true do end"
//! followed by MULTI from another client used to hang every client, SCRIPT
//! KILL and SIGTERM included). While a script runs past
//! `busy-reply-threshold`, every command in the table gets Redis's answer
//! promptly: `-BUSY`, or served for the commands Redis serves then
//! (ALLOW_BUSY). SCRIPT KILL then stops the script and everything works again.

mod common;

use std::time::{Duration, Instant};

use common::*;

const THRESHOLD_MS: u64 = 200;

/// Commands Redis 7 flags `allow-busy`: served during a busy script. (Also
/// FUNCTION STATS, which answers -BUSY itself while an EVAL runs, as Redis's
/// does, and is served during a function: see the FCALL test.)
const ALLOW_BUSY: &[&str] = &[
    "auth",
    "discard",
    "function|kill",
    "hello",
    "multi",
    "quit",
    "replconf",
    "reset",
    "script|kill",
    "shutdown",
    "unwatch",
    "watch",
];

/// Starts a script that loops until killed and waits until other clients
/// are answered -BUSY.
fn start_looping_script(s: &Server, body: &str) -> RawConn {
    let mut runner = s.raw();
    runner.send_cmd(&["EVAL", body, "0"]);
    let mut probe = s.raw();
    assert!(
        wait_for(Duration::from_secs(10), || probe.call(&["PING"]).text().starts_with("BUSY")),
        "other clients get -BUSY once the threshold passed"
    );
    runner
}

fn busy_server() -> Server {
    let threshold = THRESHOLD_MS.to_string();
    Server::start_with(&["--busy-reply-threshold", &threshold])
}

#[test]
fn multi_during_a_busy_script_does_not_wedge_the_server() {
    let s = busy_server();
    let mut runner = s.raw();
    runner.send_cmd(&["EVAL", "while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(50));
    let mut b = s.raw();
    b.set_read_timeout(Duration::from_secs(5));
    assert_eq!(b.call(&["MULTI"]), Reply::simple("OK"), "MULTI is served during a script");
    let mut other = s.raw();
    other.set_read_timeout(Duration::from_secs(5));
    assert!(wait_for(Duration::from_secs(10), || other.call(&["PING"]).text().starts_with("BUSY")));
    // A command queued while busy is refused and dooms the transaction.
    assert!(b.call(&["SET", "k", "v"]).text().starts_with("BUSY"));
    // A refused EXEC discards the transaction, as Redis's rejectCommand does.
    assert!(b.call(&["EXEC"]).text().starts_with("EXECABORT Transaction discarded because of: BUSY"));
    let mut admin = s.raw();
    admin.set_read_timeout(Duration::from_secs(5));
    assert_eq!(admin.call(&["SCRIPT", "KILL"]), Reply::simple("OK"));
    assert!(runner.read_reply().text().starts_with("ERR Script killed by user"));
    assert_eq!(other.call(&["PING"]), Reply::simple("PONG"));
    assert_eq!(b.call(&["EXEC"]).text(), "ERR EXEC without MULTI");
    assert_eq!(b.call(&["SET", "k", "v"]), Reply::simple("OK"));
}

#[test]
fn every_command_gets_its_answer_while_a_script_is_busy() {
    let s = busy_server();
    let mut c = s.client();
    let mut commands: Vec<(String, i64)> = Vec::new();
    let Value::Array(all) = q(&mut c, &["COMMAND"]) else { panic!("COMMAND is not an array") };
    for entry in all {
        let Value::Array(items) = entry else { panic!("entry") };
        let name = as_str(&items[0]);
        // A container alone (CONFIG k) is an unknown subcommand before it is busy.
        let container = matches!(items.get(9), Some(Value::Array(subs)) if !subs.is_empty());
        if !container {
            commands.push((name, as_int(&items[1])));
        }
        if let Some(Value::Array(subs)) = items.get(9) {
            for sub in subs {
                let Value::Array(sub_items) = sub else { continue };
                commands.push((as_str(&sub_items[0]), as_int(&sub_items[1])));
            }
        }
    }
    assert!(commands.len() > 200, "the whole table: {}", commands.len());
    let mut runner = start_looping_script(&s, "local i = 0 while true do i = i + 1 end");
    let limit = Duration::from_millis(THRESHOLD_MS + 100);
    let mut wrong = Vec::new();
    for (name, arity) in &commands {
        if matches!(name.as_str(), "shutdown" | "script|kill" | "function|kill") {
            continue;
        }
        // Redis checks these before it is busy (DEBUG and MODULE are off
        // unless enable-*-command allows them); Gyre has neither command.
        if is_redis() && (name == "debug" || name.starts_with("module|")) {
            continue;
        }
        let mut args: Vec<String> = name.split('|').map(str::to_string).collect();
        while args.len() < arity.unsigned_abs() as usize {
            args.push("k".into());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut conn = s.raw();
        conn.set_read_timeout(Duration::from_secs(10));
        let started = Instant::now();
        let reply = conn.call(&argv);
        let took = started.elapsed();
        assert!(took < limit, "{argv:?} answered after {took:?}: {reply:?}");
        let busy = matches!(&reply, Reply::Error(e)
            if e.starts_with("BUSY") || e.starts_with("EXECABORT Transaction discarded because of: BUSY"));
        if busy == ALLOW_BUSY.contains(&name.as_str()) {
            wrong.push(format!("{argv:?} -> {reply:?}"));
        }
    }
    assert!(wrong.is_empty(), "answers unlike Redis's during a busy script:\n{}", wrong.join("\n"));
    let mut admin = s.raw();
    assert_eq!(admin.call(&["SCRIPT", "KILL"]), Reply::simple("OK"));
    assert!(runner.read_reply().text().starts_with("ERR Script killed by user"));
    assert_eq!(admin.call(&["SET", "after", "1"]), Reply::simple("OK"));
    assert_eq!(admin.call(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn function_stats_shows_the_running_command_as_sent() {
    let s = busy_server();
    let mut admin = s.raw();
    let lib =
        "#!lua name=test\nredis.register_function('test', function() local a = 1 while true do a = a + 1 end end)";
    assert_eq!(admin.call(&["FUNCTION", "LOAD", lib]), Reply::bulk("test"));
    let mut runner = s.raw();
    runner.send_cmd(&["fcall", "test", "0"]);
    let mut probe = s.raw();
    assert!(wait_for(Duration::from_secs(10), || probe.call(&["PING"]).text().starts_with("BUSY")));
    let stats = admin.call(&["FUNCTION", "STATS"]);
    let running = stats.field("running_script").expect("running_script").clone();
    assert_eq!(running.field("name"), Some(&Reply::bulk("test")));
    assert_eq!(
        running.field("command"),
        Some(&Reply::Array(vec![Reply::bulk("fcall"), Reply::bulk("test"), Reply::bulk("0")]))
    );
    assert_eq!(admin.call(&["FUNCTION", "KILL"]), Reply::simple("OK"));
    assert!(runner.read_reply().text().starts_with("ERR Script killed by user"));
}

/// A script that wrote cannot be killed; SIGTERM still stops the server
/// promptly, with what was acknowledged before the script on disk.
#[test]
fn sigterm_during_an_unkillable_script_stops_the_server_with_the_log_flushed() {
    if is_redis() {
        return;
    }
    let mut s = busy_server();
    let mut c = s.raw();
    for i in 0..100 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), Reply::simple("OK"));
    }
    let _runner = start_looping_script(&s, "redis.call('SET', 'w', 1) local i = 0 while true do i = i + 1 end");
    let mut multi = s.raw();
    assert_eq!(multi.call(&["MULTI"]), Reply::simple("OK"));
    // SAFETY: kill(2) on the pid of the server this test started.
    unsafe { libc::kill(s.pid() as i32, libc::SIGTERM) };
    assert!(wait_for(Duration::from_secs(10), || !s.is_running()), "the server exits within 10 s");
    s.restart(Stop::Kill, &[]);
    let mut c = s.raw();
    assert_eq!(c.call(&["DBSIZE"]), Reply::Int(100), "every acknowledged write survived");
}

#[test]
fn shutdown_nosave_during_a_busy_script_stops_the_server() {
    if is_redis() {
        return;
    }
    let mut s = busy_server();
    let _runner = start_looping_script(&s, "redis.call('SET', 'w', 1) local i = 0 while true do i = i + 1 end");
    let mut admin = s.raw();
    assert!(admin.call(&["SHUTDOWN"]).text().starts_with("BUSY"));
    admin.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(wait_for(Duration::from_secs(10), || !s.is_running()), "the server exits within 10 s");
}
