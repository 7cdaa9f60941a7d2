//! SLOWLOG, LATENCY and MONITOR: the diagnostics commands (state in
//! `slowlog`, `latency` and `monitor`).

use std::sync::atomic::Ordering;

use super::client::sub;
use super::flags::*;
use super::introspect::help_reply;
use super::table::{cmd, NOKEYS};
use super::{err, Call, CmdError, CmdResult, CommandSpec, Group};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "slowlog",
        -2,
        0,
        NOKEYS,
        Server,
        "2.2.12",
        "A container for slow log commands.",
        "",
        super::introspect::container,
        SLOWLOG_SUBS
    ),
    cmd!(
        "latency",
        -2,
        0,
        NOKEYS,
        Server,
        "2.8.13",
        "A container for latency diagnostics commands.",
        "",
        super::introspect::container,
        LATENCY_SUBS
    ),
    cmd!(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE | CONNECTION_STATE,
        NOKEYS,
        Server,
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        "",
        monitor
    ),
];

/// A server subcommand row.
macro_rules! server_sub {
    ($since:literal, $($rest:tt)*) => {
        CommandSpec { group: Group::Server, since: $since, ..sub!($($rest)*) }
    };
}

const DIAG: u64 = ADMIN | NOSCRIPT | LOADING | STALE;

static SLOWLOG_SUBS: &[CommandSpec] = &[
    server_sub!(
        "2.2.12",
        "get",
        -2,
        ADMIN | LOADING | STALE,
        "Returns the slow log's entries.",
        "[count]",
        slowlog_get
    ),
    server_sub!(
        "2.2.12",
        "len",
        2,
        ADMIN | LOADING | STALE,
        "Returns the number of entries in the slow log.",
        "",
        slowlog_len
    ),
    server_sub!(
        "2.2.12",
        "reset",
        2,
        ADMIN | LOADING | STALE,
        "Clears all entries from the slow log.",
        "",
        slowlog_reset
    ),
    server_sub!(
        "6.2.0",
        "help",
        2,
        LOADING | STALE,
        "Show helpful text about the different subcommands.",
        "",
        slowlog_help
    ),
];

static LATENCY_SUBS: &[CommandSpec] = &[
    server_sub!("2.8.13", "latest", 2, DIAG, "Returns the latest latency samples for all events.", "", latency_latest),
    server_sub!(
        "2.8.13",
        "history",
        3,
        DIAG,
        "Returns timestamp-latency samples for an event.",
        "event",
        latency_history
    ),
    server_sub!(
        "2.8.13",
        "reset",
        -2,
        DIAG,
        "Resets the latency data for one or more events.",
        "[event [event ...]]",
        latency_reset
    ),
    server_sub!("2.8.13", "doctor", 2, DIAG, "Returns a human-readable latency analysis report.", "", latency_doctor),
    server_sub!(
        "2.8.13",
        "help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        "",
        latency_help
    ),
];

/// SLOWLOG GET [count]: newest first; 10 by default, -1 for all.
fn slowlog_get(call: &mut Call<'_>) -> CmdResult {
    let count = match call.argc() {
        2 => Some(10),
        3 => match gyre_engine::num::parse_i64(call.arg(2)) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Err(err("ERR count should be greater than or equal to -1")),
        },
        _ => return Err(super::arity_error("slowlog|get")),
    };
    let entries = call.shared.diag.slowlog.get(count);
    call.out.array(entries.len());
    for e in &entries {
        call.out.array(6);
        call.out.integer(e.id as i64);
        call.out.integer(e.unix_secs as i64);
        call.out.integer(e.usec as i64);
        call.out.array(e.args.len());
        for a in &e.args {
            call.out.bulk(a);
        }
        call.out.bulk(e.addr.as_bytes());
        call.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(call: &mut Call<'_>) -> CmdResult {
    call.out.integer(call.shared.diag.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(call: &mut Call<'_>) -> CmdResult {
    call.shared.diag.slowlog.reset();
    call.out.ok();
    Ok(())
}

fn slowlog_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "SLOWLOG", SLOWLOG_SUBS);
    Ok(())
}

/// LATENCY LATEST: per event, [name, time of the latest spike, its latency,
/// the all-time worst].
fn latency_latest(call: &mut Call<'_>) -> CmdResult {
    let events = call.shared.diag.latency.all();
    call.out.array(events.len());
    for (name, s) in &events {
        let last = s.samples.back().copied().unwrap_or(crate::latency::Sample { unix_secs: 0, ms: 0 });
        call.out.array(4);
        call.out.bulk(name.as_bytes());
        call.out.integer(last.unix_secs as i64);
        call.out.integer(last.ms as i64);
        call.out.integer(s.max_ms as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event: [time, latency] pairs, oldest first (empty for an
/// event never seen).
fn latency_history(call: &mut Call<'_>) -> CmdResult {
    let series = call.shared.diag.latency.history(call.arg(2)).unwrap_or_default();
    call.out.array(series.samples.len());
    for s in &series.samples {
        call.out.array(2);
        call.out.integer(s.unix_secs as i64);
        call.out.integer(s.ms as i64);
    }
    Ok(())
}

fn latency_reset(call: &mut Call<'_>) -> CmdResult {
    let events: Vec<&[u8]> = (2..call.argc()).map(|i| call.args.get(i)).collect();
    let n = call.shared.diag.latency.reset(&events);
    call.out.integer(n as i64);
    Ok(())
}

fn latency_doctor(call: &mut Call<'_>) -> CmdResult {
    let threshold = call.shared.config.hot.latency_monitor_threshold_ms.load(Ordering::Relaxed);
    let report = crate::latency::doctor(threshold, &call.shared.diag.latency.all());
    call.out.verbatim(b"txt", report.as_bytes());
    Ok(())
}

fn latency_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "LATENCY", LATENCY_SUBS);
    Ok(())
}

/// MONITOR: this connection receives a line per command run from now on,
/// until RESET or QUIT.
fn monitor(call: &mut Call<'_>) -> CmdResult {
    if call.client.in_exec {
        return Err(CmdError::Static("ERR MONITOR isn't allowed for DENY BLOCKING client"));
    }
    // Already monitoring: Redis ignores the command (no reply at all).
    if call.client.monitor.is_some() {
        return Ok(());
    }
    let (shared, info, proto) = (call.shared, call.client.info.clone(), call.client.proto);
    let sub = call.client.pubsub.get_or_insert_with(|| shared.pubsub.subscriber(info, proto)).sub.clone();
    call.client.monitor = Some(shared.diag.monitors.add(sub));
    call.client.info.monitor.store(true, Ordering::Relaxed);
    call.out.ok();
    Ok(())
}
