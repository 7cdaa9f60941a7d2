//! Introspection over RESP: INFO sections and field names, commandstats and
//! errorstats (calls, failures, rejections, CONFIG RESETSTAT), SLOWLOG
//! (threshold, length limit, argument truncation), LATENCY (a slow script
//! over the threshold), MONITOR (line format, scripts, credentials, RESET,
//! and a monitor that never reads being disconnected), CLIENT LIST fields.
//! Validated against Redis 7.0 with `GYRE_TEST_REDIS=1`.

mod common;

use std::time::Duration;

use common::*;

fn info(r: &mut RawConn, section: &str) -> String {
    r.call(&["INFO", section]).text()
}

/// `cmdstat_<name>` as (calls, rejected_calls, failed_calls); None when absent.
fn cmdstat(r: &mut RawConn, name: &str) -> Option<(u64, u64, u64)> {
    let text = info(r, "commandstats");
    let v = info_field(&text, &format!("cmdstat_{name}"))?;
    let get = |k: &str| -> u64 {
        v.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .parse()
            .unwrap()
    };
    for k in ["usec", "usec_per_call"] {
        assert!(v.contains(&format!("{k}=")), "{v}");
    }
    Some((get("calls"), get("rejected_calls"), get("failed_calls")))
}

fn errorstat(r: &mut RawConn, code: &str) -> Option<u64> {
    let text = info(r, "errorstats");
    info_field(&text, &format!("errorstat_{code}")).map(|v| v.strip_prefix("count=").unwrap().parse().unwrap())
}

fn total_errors(r: &mut RawConn) -> u64 {
    info_field(&info(r, "stats"), "total_error_replies").unwrap().parse().unwrap()
}

fn section_names(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_prefix("# ")).map(str::to_lowercase).collect()
}

#[test]
fn info_sections_and_field_names_are_redis_s() {
    let s = Server::start();
    let mut r = s.raw();
    let default = section_names(&info(&mut r, "default"));
    for want in ["server", "clients", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "keyspace"]
    {
        assert!(default.contains(&want.to_string()), "{want} missing from INFO: {default:?}");
    }
    assert!(!default.contains(&"commandstats".to_string()), "commandstats is not a default section");
    let all = section_names(&info(&mut r, "all"));
    assert!(all.contains(&"commandstats".to_string()), "{all:?}");
    assert_eq!(section_names(&info(&mut r, "everything")), all);
    assert_eq!(section_names(&info(&mut r, "commandstats")), vec!["commandstats"]);
    let text = r.call(&["INFO", "server", "clients", "replication", "cpu", "cluster"]).text();
    for field in [
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "configured_hz",
        "lru_clock",
        "executable",
        "config_file",
        "connected_clients",
        "maxclients",
        "client_recent_max_input_buffer",
        "client_recent_max_output_buffer",
        "blocked_clients",
        "tracking_clients",
        "role",
        "connected_slaves",
        "master_replid",
        "master_repl_offset",
        "repl_backlog_active",
        "used_cpu_sys",
        "used_cpu_user",
        "used_cpu_sys_children",
        "used_cpu_user_children",
        "cluster_enabled",
    ] {
        assert!(info_field(&text, field).is_some(), "{field} missing from INFO");
    }
    assert_eq!(info_field(&text, "role").as_deref(), Some("master"));
    assert_eq!(info_field(&text, "cluster_enabled").as_deref(), Some("0"));
    assert!(info_field(&info(&mut r, "stats"), "total_error_replies").is_some());
}

#[test]
fn commandstats_count_calls_failures_and_rejections() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["CONFIG", "RESETSTAT"]), Reply::simple("OK"));
    assert_eq!(r.call(&["SET", "k", "v"]), Reply::simple("OK"));
    r.call(&["GET", "k"]);
    r.call(&["GET", "k"]);
    // Failed: the handler ran and answered an error.
    assert!(matches!(r.call(&["INCR", "k"]), Reply::Error(_)));
    assert!(matches!(r.call(&["LPUSH", "k", "x"]), Reply::Error(e) if e.starts_with("WRONGTYPE")));
    // Rejected: wrong arity, never ran.
    assert!(matches!(r.call(&["GET"]), Reply::Error(_)));
    // Unknown: counts as an error only.
    assert!(matches!(r.call(&["NOSUCHCOMMAND", "a"]), Reply::Error(_)));
    r.call(&["CONFIG", "GET", "maxmemory"]);

    assert_eq!(cmdstat(&mut r, "set"), Some((1, 0, 0)));
    assert_eq!(cmdstat(&mut r, "get"), Some((2, 1, 0)));
    assert_eq!(cmdstat(&mut r, "incr"), Some((1, 0, 1)));
    assert_eq!(cmdstat(&mut r, "lpush"), Some((1, 0, 1)));
    assert_eq!(cmdstat(&mut r, "config|get"), Some((1, 0, 0)));
    assert_eq!(cmdstat(&mut r, "nosuchcommand"), None);
    assert_eq!(cmdstat(&mut r, "hset"), None, "unused commands are not listed");
    assert_eq!(errorstat(&mut r, "ERR"), Some(3));
    assert_eq!(errorstat(&mut r, "WRONGTYPE"), Some(1));
    assert_eq!(total_errors(&mut r), 4);

    // OOM refuses before running: a rejection.
    assert_eq!(r.call(&["CONFIG", "SET", "maxmemory", "1"]), Reply::simple("OK"));
    assert!(matches!(r.call(&["SET", "k2", "v"]), Reply::Error(e) if e.starts_with("OOM")));
    assert_eq!(r.call(&["CONFIG", "SET", "maxmemory", "0"]), Reply::simple("OK"));
    assert_eq!(cmdstat(&mut r, "set"), Some((1, 1, 0)));
    assert_eq!(errorstat(&mut r, "OOM"), Some(1));

    // CONFIG RESETSTAT forgets them all (and then counts itself).
    assert_eq!(r.call(&["CONFIG", "RESETSTAT"]), Reply::simple("OK"));
    assert_eq!(cmdstat(&mut r, "get"), None);
    assert_eq!(errorstat(&mut r, "ERR"), None);
    assert_eq!(total_errors(&mut r), 0);
    assert_eq!(cmdstat(&mut r, "config|resetstat"), Some((1, 0, 0)));
}

#[test]
fn commandstats_inside_multi_exec_and_scripts() {
    let s = Server::start();
    let mut r = s.raw();
    r.call(&["CONFIG", "RESETSTAT"]);
    // A rejected command dooms the transaction: EXEC fails.
    assert_eq!(r.call(&["MULTI"]), Reply::simple("OK"));
    assert!(matches!(r.call(&["SET"]), Reply::Error(_)));
    assert!(matches!(r.call(&["EXEC"]), Reply::Error(e) if e.starts_with("EXECABORT")));
    assert_eq!(cmdstat(&mut r, "set"), Some((0, 1, 0)));
    assert_eq!(cmdstat(&mut r, "multi"), Some((1, 0, 0)));
    assert_eq!(cmdstat(&mut r, "exec"), Some((1, 0, 1)));
    assert_eq!(errorstat(&mut r, "EXECABORT"), Some(1));
    assert_eq!(total_errors(&mut r), 2);

    // Queued commands count when EXEC runs them, not when queued.
    r.call(&["CONFIG", "RESETSTAT"]);
    r.call(&["MULTI"]);
    r.call(&["SET", "a", "1"]);
    r.call(&["INCR", "a"]);
    assert_eq!(cmdstat(&mut r, "set"), None);
    r.call(&["EXEC"]);
    assert_eq!(cmdstat(&mut r, "set"), Some((1, 0, 0)));
    assert_eq!(cmdstat(&mut r, "incr"), Some((1, 0, 0)));

    // A script's commands count as calls of their own.
    r.call(&["CONFIG", "RESETSTAT"]);
    r.call(&["EVAL", "redis.call('set', KEYS[1], 'x') return redis.pcall('incr', KEYS[1])", "1", "b"]);
    // The script answers the error it caught: a failed EVAL, as in Redis.
    assert_eq!(cmdstat(&mut r, "eval"), Some((1, 0, 1)));
    assert_eq!(cmdstat(&mut r, "set"), Some((1, 0, 0)));
    assert_eq!(cmdstat(&mut r, "incr"), Some((1, 0, 1)));
    // The error was counted once, when INCR answered it.
    assert_eq!(errorstat(&mut r, "ERR"), Some(1));
    assert_eq!(total_errors(&mut r), 1);

    // redis.call raising a command's error: counted once as well.
    r.call(&["CONFIG", "RESETSTAT"]);
    assert!(matches!(r.call(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "b"]), Reply::Error(_)));
    assert_eq!(cmdstat(&mut r, "eval"), Some((1, 0, 1)));
    assert_eq!(errorstat(&mut r, "ERR"), Some(1));
    assert_eq!(total_errors(&mut r), 1);

    // A script's own error reply counts under its code.
    r.call(&["CONFIG", "RESETSTAT"]);
    assert_eq!(r.call(&["EVAL", "return redis.error_reply('MYERR boom')", "0"]), Reply::error("MYERR boom"));
    assert_eq!(errorstat(&mut r, "MYERR"), Some(1));
    assert_eq!(cmdstat(&mut r, "eval"), Some((1, 0, 1)));
}

/// SLOWLOG GET entries: (id, args, addr, name).
fn slowlog(r: &mut RawConn, count: &str) -> Vec<(i64, Vec<String>, String, String)> {
    let reply = r.call(&["SLOWLOG", "GET", count]);
    reply
        .items()
        .iter()
        .map(|e| {
            let f = e.items();
            assert_eq!(f.len(), 6, "{e:?}");
            assert!(f[1].int() > 1_600_000_000, "a Unix time: {e:?}");
            assert!(f[2].int() >= 0);
            (f[0].int(), f[3].items().iter().map(Reply::text).collect(), f[4].text(), f[5].text())
        })
        .collect()
}

#[test]
fn slowlog_logs_by_threshold_keeps_max_len_and_truncates() {
    let s = Server::start();
    let mut r = s.raw();
    // The default threshold (10 ms) logs none of these.
    r.call(&["SET", "fast", "1"]);
    assert_eq!(r.call(&["SLOWLOG", "LEN"]), Reply::Int(0));

    r.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    r.call(&["CLIENT", "SETNAME", "slowpoke"]);
    r.call(&["SET", "foo", "bar"]);
    let entries = slowlog(&mut r, "1");
    assert_eq!(entries.len(), 1);
    let (id, args, addr, name) = &entries[0];
    assert_eq!(args, &["SET", "foo", "bar"], "as sent");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(name, "slowpoke");

    // Long commands are cut: 32 arguments at most, 128 bytes of each.
    let mut sadd: Vec<String> = vec!["SADD".into(), "s".into()];
    sadd.extend((0..48).map(|i| i.to_string()));
    let sadd_args: Vec<&str> = sadd.iter().map(String::as_str).collect();
    r.call(&sadd_args);
    let big = "x".repeat(200);
    r.call(&["SET", "big", &big]);
    let entries = slowlog(&mut r, "2");
    assert!(entries[0].0 > entries[1].0 && entries[1].0 > *id, "newest first, ids increase");
    assert_eq!(entries[0].1, vec!["SET".to_string(), "big".into(), format!("{}... (72 more bytes)", &big[..128])]);
    let cut = &entries[1].1;
    assert_eq!(cut.len(), 32);
    assert_eq!(cut[30], "28");
    assert_eq!(cut[31], "... (19 more arguments)");

    // slowlog-max-len keeps the newest; GET count, -1 = all.
    r.call(&["CONFIG", "SET", "slowlog-max-len", "10"]);
    for _ in 0..30 {
        r.call(&["PING"]);
    }
    assert_eq!(r.call(&["SLOWLOG", "LEN"]), Reply::Int(10));
    assert_eq!(slowlog(&mut r, "5").len(), 5);
    assert_eq!(slowlog(&mut r, "-1").len(), 10);
    assert_eq!(r.call(&["SLOWLOG", "GET", "-2"]), Reply::error("ERR count should be greater than or equal to -1"));
    // A negative threshold turns it off; RESET empties it.
    r.call(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    assert_eq!(r.call(&["SLOWLOG", "RESET"]), Reply::simple("OK"));
    r.call(&["PING"]);
    assert_eq!(r.call(&["SLOWLOG", "LEN"]), Reply::Int(0));
    assert!(r.call(&["SLOWLOG", "HELP"]).items().len() > 3);
}

#[test]
fn latency_monitor_records_a_slow_script() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
    r.call(&["CONFIG", "SET", "latency-monitor-threshold", "5"]);
    r.call(&["EVAL", "local i = 0 while i < 3e6 do i = i + 1 end", "0"]);
    let latest = r.call(&["LATENCY", "LATEST"]);
    let event = latest
        .items()
        .iter()
        .find(|e| e.items()[0].text() == "command")
        .unwrap_or_else(|| panic!("no command event in {latest:?}"));
    let f = event.items();
    assert!(f[1].int() > 1_600_000_000);
    assert!(f[2].int() >= 5 && f[3].int() >= f[2].int(), "{event:?}");
    let history = r.call(&["LATENCY", "HISTORY", "command"]);
    assert!(!history.items().is_empty());
    assert_eq!(history.items()[0].items().len(), 2);
    assert!(r.call(&["LATENCY", "DOCTOR"]).text().contains("command"));
    assert_eq!(r.call(&["LATENCY", "RESET", "command"]), Reply::Int(1));
    assert_eq!(r.call(&["LATENCY", "HISTORY", "command"]), Reply::Array(vec![]));
    assert!(r.call(&["LATENCY", "HELP"]).items().len() > 3);
}

/// Reads one MONITOR line.
fn monitor_line(m: &mut RawConn) -> String {
    match m.read_reply() {
        Reply::Simple(s) => s,
        other => panic!("expected a monitor line, got {other:?}"),
    }
}

/// The line without its timestamp; checks the timestamp's shape.
fn without_time(line: &str) -> String {
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("secs.micros");
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000 && micros.len() == 6, "{line}");
    rest.to_string()
}

#[test]
fn monitor_streams_commands_scripts_and_ends_with_reset() {
    let s = Server::start();
    let mut m = s.raw();
    let mut r = s.raw();
    let addr = r.call(&["CLIENT", "INFO"]).text();
    let addr = addr.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    assert_eq!(m.call(&["MONITOR"]), Reply::simple("OK"));
    // CLIENT LIST is an admin command: not shown.
    let list = r.call(&["CLIENT", "LIST"]).text();
    assert!(list.lines().any(|l| l.contains("flags=O") && l.contains("cmd=monitor")), "{list}");

    r.call(&["SET", "k", "a \"b\"\n\x01"]);
    r.call(&["SELECT", "2"]);
    r.call(&["GET", "k"]);
    assert_eq!(without_time(&monitor_line(&mut m)), format!("[0 {addr}] \"SET\" \"k\" \"a \\\"b\\\"\\n\\x01\""));
    assert!(without_time(&monitor_line(&mut m)).ends_with("\"SELECT\" \"2\""));
    assert_eq!(without_time(&monitor_line(&mut m)), format!("[2 {addr}] \"GET\" \"k\""));

    // A script: its runner first, then its commands as `lua`.
    r.call(&["EVAL", "redis.call('set', KEYS[1], ARGV[1])", "1", "foo", "bar"]);
    assert!(without_time(&monitor_line(&mut m)).starts_with(&format!("[2 {addr}] \"EVAL\"")));
    assert_eq!(without_time(&monitor_line(&mut m)), "[2 lua] \"set\" \"foo\" \"bar\"");

    // Credentials are redacted; admin commands are not shown.
    let _ = r.call(&["AUTH", "secretpass"]);
    let _ = r.call(&["HELLO", "2", "AUTH", "default", "secretpass"]);
    r.call(&["CONFIG", "GET", "hz"]);
    r.call(&["PING"]);
    assert_eq!(without_time(&monitor_line(&mut m)), format!("[2 {addr}] \"AUTH\" \"(redacted)\""));
    assert_eq!(
        without_time(&monitor_line(&mut m)),
        format!("[2 {addr}] \"HELLO\" \"2\" \"AUTH\" \"(redacted)\" \"(redacted)\"")
    );
    assert_eq!(without_time(&monitor_line(&mut m)), format!("[2 {addr}] \"PING\""));

    // RESET ends monitor mode.
    assert_eq!(m.call(&["RESET"]), Reply::simple("RESET"));
    r.call(&["SET", "after", "reset"]);
    m.expect_silence(Duration::from_millis(200));
}

#[test]
fn a_monitor_that_never_reads_is_disconnected_at_the_output_limit() {
    let s = Server::start();
    if is_redis() {
        // Redis holds monitors to the normal class: unlimited by default.
        return;
    }
    let mut r = s.raw();
    r.call(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 0 0"]);
    let mut m = s.raw();
    assert_eq!(m.call(&["MONITOR"]), Reply::simple("OK"));
    // About 40 MB of monitor lines, far beyond what the socket buffers hold;
    // the monitor reads none of it.
    let value = "v".repeat(10_000);
    let cmd = encode_str(&["SET", "k", &value]);
    let batch: Vec<u8> = cmd.iter().copied().cycle().take(cmd.len() * 100).collect();
    let gone = wait_for(Duration::from_secs(20), || {
        r.send(&batch);
        for _ in 0..100 {
            r.read_reply();
        }
        !r.call(&["CLIENT", "LIST"]).text().contains("flags=O")
    });
    assert!(gone, "the monitor is still connected");
    assert_eq!(r.call(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn client_list_has_redis_7_fields_in_order() {
    let s = Server::start();
    let mut r = s.raw();
    let line = r.call(&["CLIENT", "INFO"]).text();
    let names: Vec<&str> = line.split_whitespace().map(|f| f.split_once('=').expect("name=value").0).collect();
    let redis70 = [
        "id",
        "addr",
        "laddr",
        "fd",
        "name",
        "age",
        "idle",
        "flags",
        "db",
        "sub",
        "psub",
        "ssub",
        "multi",
        "qbuf",
        "qbuf-free",
        "argv-mem",
        "multi-mem",
        "obl",
        "oll",
        "omem",
        "tot-mem",
        "events",
        "cmd",
        "user",
        "redir",
        "resp",
    ];
    // Redis 7.0's fields, in its order (7.2 adds rbs, rbp, lib-name, lib-ver).
    let mut at = 0;
    for want in redis70 {
        let found = names[at..].iter().position(|n| *n == want);
        assert!(found.is_some(), "{want} missing or out of order in {line}");
        at += found.unwrap() + 1;
    }
    let field = |k: &str| line.split_whitespace().find_map(|f| f.strip_prefix(&format!("{k}="))).unwrap().to_string();
    assert!(field("fd").parse::<i64>().unwrap() > 0, "a real descriptor: {line}");
    assert_eq!(field("cmd"), "client|info");
    assert_eq!(field("flags"), "N");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_command_counters_and_latency_histogram() {
    if is_redis() {
        return;
    }
    let port = free_port();
    let s = Server::start_with(&["--http-port", &port.to_string()]);
    let mut r = s.raw();
    r.call(&["SET", "k", "v"]);
    r.call(&["GET", "k"]);
    r.call(&["GET", "k"]);
    assert!(matches!(r.call(&["INCR", "k"]), Reply::Error(_)));
    assert!(matches!(r.call(&["GET"]), Reply::Error(_)));
    r.call(&["CONFIG", "GET", "hz"]);
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    for line in [
        "gyre_commands_total{cmd=\"get\"} 2",
        "gyre_commands_rejected_total{cmd=\"get\"} 1",
        "gyre_commands_failed_total{cmd=\"incr\"} 1",
        "gyre_commands_total{cmd=\"config|get\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("gyre_command_duration_seconds_count "))
        .expect("the command latency histogram")
        .parse()
        .unwrap();
    // The harness's INFO at start-up, SET, GET, GET, INCR, CONFIG GET ran
    // (the rejected GET did not).
    assert_eq!(count, 6);
}

#[test]
fn latency_monitor_records_a_long_active_expiry_cycle() {
    let s = Server::start();
    let mut r = s.raw();
    r.call(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    // 100,000 keys that expire together keep the active cycle busy for more
    // than a millisecond.
    let mut batch = Vec::new();
    for i in 0..100_000 {
        batch.extend_from_slice(&encode_str(&["SET", &format!("k{i}"), "v", "PX", "100"]));
    }
    r.send(&batch);
    for _ in 0..100_000 {
        r.read_reply();
    }
    let seen = wait_for(Duration::from_secs(5), || {
        let latest = r.call(&["LATENCY", "LATEST"]);
        latest.items().iter().any(|e| e.items()[0].text() == "expire-cycle")
    });
    assert!(seen, "no expire-cycle event: {:?}", r.call(&["LATENCY", "LATEST"]));
    assert!(!r.call(&["LATENCY", "HISTORY", "expire-cycle"]).items().is_empty());
}
