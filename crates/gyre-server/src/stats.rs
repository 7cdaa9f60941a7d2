//! Per-command and per-error statistics, the command latency histogram, and
//! the one place that records what a command run costs ([`ran`]).
//!
//! * Per command (a [`CommandStats`] per command table row, in each server's
//!   [`CommandCounters`], found by the row's [`Row`] number):
//!   calls, microseconds, calls refused before running (`rejected_calls`:
//!   arity, OOM, MISCONF, BUSY, subscriber context, not allowed in MULTI) and
//!   calls whose handler returned an error (`failed_calls`), as INFO
//!   commandstats shows them. A blocked command is counted when it is served.
//! * Per error code ([`ErrorStats`]): every error reply by its first word
//!   (`ERR`, `WRONGTYPE`, ...), as INFO errorstats shows them, and the total
//!   (`total_error_replies`). At most [`ERROR_CODES_MAX`] distinct codes are
//!   kept, so clients cannot grow the table with invented error words (codes
//!   beyond it count in the total only).
//! * A histogram of command durations (`gyre_http::Histogram`) for `/metrics`.
//!
//! Cost on the hot path: relaxed atomic adds on the command's row and the
//! histogram, two threshold loads (slowlog, latency monitor) and one load of
//! the monitor count. Nothing is allocated unless a command is slow enough to
//! be logged or someone runs MONITOR.

use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use gyre_http::{CommandMetrics, Histogram, HistogramSnapshot};
use gyre_resp::Args;
use parking_lot::Mutex;

use crate::client::ClientState;
use crate::cmd::{self, CmdError, CmdResult, CommandSpec};
use crate::shared::Shared;

/// Distinct error codes INFO errorstats tracks.
pub const ERROR_CODES_MAX: usize = 128;

/// A command table row's number among the per-command counters. The table
/// is one `static` for the whole process, so the numbering is too (made once,
/// at the first [`CommandCounters::new`]); the counters themselves belong to a
/// server.
#[derive(Debug)]
pub struct Row(AtomicU32);

impl Row {
    /// Not numbered yet (const: the table rows are statics).
    pub const fn new() -> Row {
        Row(AtomicU32::new(u32::MAX))
    }

    #[inline]
    fn index(&self) -> usize {
        self.0.load(Ordering::Relaxed) as usize
    }
}

impl Default for Row {
    fn default() -> Self {
        Row::new()
    }
}

/// Numbers every row of the command table, once per process; returns how many
/// rows there are.
fn number_rows() -> usize {
    static ROWS: OnceLock<usize> = OnceLock::new();
    *ROWS.get_or_init(|| {
        let mut n = 0u32;
        for spec in every_spec() {
            spec.stats.0.store(n, Ordering::Relaxed);
            n += 1;
        }
        n as usize
    })
}

/// One server's per-command counters, one per command table row.
#[derive(Debug)]
pub struct CommandCounters(Box<[CommandStats]>);

impl CommandCounters {
    pub fn new() -> CommandCounters {
        CommandCounters((0..number_rows()).map(|_| CommandStats::new()).collect())
    }

    /// The counters of `spec`'s row.
    #[inline]
    pub fn of(&self, spec: &CommandSpec) -> &CommandStats {
        &self.0[spec.stats.index()]
    }

    fn reset(&self) {
        for c in self.0.iter() {
            c.reset();
        }
    }
}

impl Default for CommandCounters {
    fn default() -> Self {
        CommandCounters::new()
    }
}

/// Counters of one command table row. Relaxed atomics: each counter is exact,
/// a reader may see one updated before another.
#[derive(Debug)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

impl CommandStats {
    /// Zeroed counters.
    pub const fn new() -> CommandStats {
        CommandStats {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected_calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
        }
    }

    fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected_calls, &self.failed_calls] {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn load(&self) -> [u64; 4] {
        [&self.calls, &self.usec, &self.rejected_calls, &self.failed_calls].map(|c| c.load(Ordering::Relaxed))
    }
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats::new()
    }
}

/// Error replies by code.
#[derive(Debug, Default)]
pub struct ErrorStats {
    total: AtomicU64,
    by_code: Mutex<Vec<(Box<str>, u64)>>,
}

impl ErrorStats {
    /// Counts one error reply (the full line, without the leading `-`).
    pub fn record(&self, line: &[u8]) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let code = error_code(line);
        let mut codes = self.by_code.lock();
        if let Some((_, n)) = codes.iter_mut().find(|(c, _)| c.as_bytes() == code) {
            *n += 1;
        } else if codes.len() < ERROR_CODES_MAX {
            codes.push((String::from_utf8_lossy(code).into(), 1));
        }
    }

    /// `total_error_replies`.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// (code, count) sorted by code, as INFO errorstats lists them.
    pub fn codes(&self) -> Vec<(Box<str>, u64)> {
        let mut v = self.by_code.lock().clone();
        v.sort();
        v
    }

    fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.by_code.lock().clear();
    }
}

/// The error code of an error line as Redis takes it: the first word when a
/// space comes within the first 32 bytes, else `ERR`.
pub fn error_code(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"-").unwrap_or(line);
    match line[..line.len().min(32)].iter().position(|&b| b == b' ') {
        Some(end) => &line[..end],
        None => b"ERR",
    }
}

/// The server's diagnostics: error statistics, latency histogram, slow log,
/// latency monitor and MONITOR clients.
pub struct Diagnostics {
    pub errors: ErrorStats,
    /// INFO commandstats.
    pub commands: CommandCounters,
    /// Duration of every command run on the RESP path.
    pub command_latency: Histogram,
    pub slowlog: crate::slowlog::SlowLog,
    pub latency: crate::latency::LatencyMonitor,
    pub monitors: crate::monitor::Monitors,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics {
            errors: ErrorStats::default(),
            commands: CommandCounters::new(),
            command_latency: Histogram::new(gyre_http::LATENCY_BOUNDS_NS),
            slowlog: Default::default(),
            latency: Default::default(),
            monitors: Default::default(),
        }
    }
}

impl Diagnostics {
    /// CONFIG RESETSTAT: command and error statistics back to zero. (The
    /// histogram is a Prometheus counter and the slow log and latency monitor
    /// have their own RESET, as in Redis.)
    pub fn reset_stats(&self) {
        self.errors.reset();
        self.commands.reset();
    }
}

/// Every command table row: top-level commands and their subcommands.
fn every_spec() -> impl Iterator<Item = &'static CommandSpec> {
    cmd::table::all().flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

/// Counts a refusal before running (OOM, MISCONF, BUSY, ...) and its error
/// reply, and passes the error on.
pub fn rejected(shared: &Shared, spec: &CommandSpec, e: CmdError) -> CmdError {
    rejected_call(shared, spec);
    shared.diag.errors.record(e.to_string().as_bytes());
    e
}

/// Counts a refusal before running.
pub fn rejected_call(shared: &Shared, spec: &CommandSpec) {
    shared.diag.commands.of(spec).rejected_calls.fetch_add(1, Ordering::Relaxed);
}

/// Counts a rejection found while resolving the command (an arity error): the
/// command (or subcommand) it names gets the rejected call. Unknown commands
/// count nowhere but in the error statistics, as in Redis.
pub fn rejected_while_resolving(shared: &Shared, args: &Args<'_>, e: &CmdError) {
    if !e.to_string().starts_with("ERR wrong number of arguments") {
        return;
    }
    let Some(top) = cmd::lookup(args.get(0)) else { return };
    let spec = match (top.subcommands.is_empty(), args.len() >= 2) {
        (false, true) => cmd::lookup_sub(top, args.get(1)).unwrap_or(top),
        _ => top,
    };
    rejected_call(shared, spec);
}

/// What [`ran`] needs to know about the command that ran.
pub struct Run<'a, 'b> {
    pub top: &'static CommandSpec,
    pub spec: &'static CommandSpec,
    pub args: &'a Args<'b>,
    /// When the handler started (a raw reading of `Shared::clock`).
    pub started: u64,
    /// The database the command ran in (for MONITOR).
    pub db: u16,
    /// Someone monitors (loaded once, before the command ran).
    pub monitored: bool,
    /// The command running when this one started: a script runner for a
    /// script's commands (MONITOR shows them as `lua`).
    pub caller: crate::client::CmdName,
    /// The handler succeeded but its reply is an error (a script that
    /// returned one): a failed call, as in Redis. The error's text.
    pub error_reply: Option<&'a [u8]>,
}

/// Records a command that ran: its counters, the histogram, the slow log, the
/// latency monitor and the MONITOR stream. A command that blocked is recorded
/// when it is served instead.
pub fn ran(shared: &Shared, client: &ClientState, run: Run<'_, '_>, result: &CmdResult) {
    if matches!(result, Err(CmdError::Block(_))) {
        return;
    }
    let clock = &shared.clock;
    let elapsed = Duration::from_nanos(clock.delta_as_nanos(run.started, clock.raw()));
    let usec = elapsed.as_micros() as u64;
    let st = shared.diag.commands.of(run.spec);
    st.calls.fetch_add(1, Ordering::Relaxed);
    st.usec.fetch_add(usec, Ordering::Relaxed);
    match (result, run.error_reply) {
        (Err(e), _) => {
            st.failed_calls.fetch_add(1, Ordering::Relaxed);
            count_error(shared, client, &run, e.to_string().as_bytes());
        }
        (Ok(()), Some(line)) => {
            st.failed_calls.fetch_add(1, Ordering::Relaxed);
            count_error(shared, client, &run, line);
        }
        (Ok(()), None) => {}
    }
    let d = &shared.diag;
    d.command_latency.observe(elapsed);
    let hot = &shared.config.hot;
    let slower_than = hot.slowlog_log_slower_than_us.load(Ordering::Relaxed);
    if slower_than >= 0 && usec >= slower_than as u64 && !run.spec.has_flag(cmd::flags::SKIP_SLOWLOG) {
        let max_len = hot.slowlog_max_len.load(Ordering::Relaxed) as usize;
        d.slowlog.push(run.args, usec, &client.info, max_len, shared.now_ms());
    }
    let threshold_ms = hot.latency_monitor_threshold_ms.load(Ordering::Relaxed);
    if threshold_ms > 0 && elapsed >= Duration::from_millis(threshold_ms) {
        let event = if run.spec.has_flag(cmd::flags::FAST) { "fast-command" } else { "command" };
        d.latency.add_sample(event, elapsed.as_millis() as u64, shared.now_ms());
    }
    if run.monitored {
        crate::monitor::feed(shared, client, &run);
    }
}

thread_local! {
    /// The last error a command run by a script answered (scripts run their
    /// commands on the script's own thread).
    static SCRIPT_COMMAND_ERROR: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Counts a command's error reply in the error statistics. As in Redis, an
/// error a script passes on from one of its commands (`redis.call` raising
/// it, or `redis.pcall`'s error returned) was counted when the command
/// answered it and is not counted again.
fn count_error(shared: &Shared, client: &ClientState, run: &Run<'_, '_>, line: &[u8]) {
    if crate::monitor::runs_scripts(run.top) {
        let nested = SCRIPT_COMMAND_ERROR.with(|e| e.borrow_mut().take());
        if nested.is_some_and(|n| line.starts_with(&n)) {
            return;
        }
    } else if from_script(client, run) {
        SCRIPT_COMMAND_ERROR.with(|e| *e.borrow_mut() = Some(line.to_vec()));
    }
    shared.diag.errors.record(line);
}

/// Whether a script ran this command.
pub fn from_script(client: &ClientState, run: &Run<'_, '_>) -> bool {
    client.in_exec && crate::monitor::is_script_runner(run.caller)
}

/// The text of an error reply (`-text` or RESP3 `!len text`), None for any
/// other reply.
pub fn error_line(reply: &[u8]) -> Option<&[u8]> {
    // Only an error's first line is scanned: this runs after every command.
    if !matches!(reply.first(), Some(b'-' | b'!')) {
        return None;
    }
    let end = reply.windows(2).position(|w| w == b"\r\n")?;
    match reply.first()? {
        b'-' => Some(&reply[1..end]),
        b'!' => {
            let len: usize = std::str::from_utf8(&reply[1..end]).ok()?.parse().ok()?;
            reply.get(end + 2..end + 2 + len)
        }
        _ => None,
    }
}

/// `cmdstat_get` or `cmdstat_config|get`.
fn full_name(top: &CommandSpec, sub: Option<&CommandSpec>) -> String {
    match sub {
        Some(s) => format!("{}|{}", top.name, s.name),
        None => top.name.to_string(),
    }
}

/// Every command that has been called, rejected or failed since the last
/// reset: (full name, row). Containers come before their subcommands.
fn used_commands(shared: &Shared) -> Vec<(String, &'static CommandSpec)> {
    let mut v = Vec::new();
    for top in cmd::table::all() {
        let used = |c: &CommandSpec| shared.diag.commands.of(c).load() != [0; 4];
        if used(top) {
            v.push((full_name(top, None), top));
        }
        for s in top.subcommands.iter().filter(|s| used(s)) {
            v.push((full_name(top, Some(s)), s));
        }
    }
    v
}

/// INFO commandstats.
pub fn write_commandstats(shared: &Shared, t: &mut String) {
    t.push_str("# Commandstats\r\n");
    for (name, spec) in used_commands(shared) {
        let [calls, usec, rejected, failed] = shared.diag.commands.of(spec).load();
        let per_call = if calls > 0 { usec as f64 / calls as f64 } else { 0.0 };
        let _ = write!(
            t,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
        );
    }
}

/// INFO errorstats.
pub fn write_errorstats(shared: &Shared, t: &mut String) {
    t.push_str("# Errorstats\r\n");
    for (code, n) in shared.diag.errors.codes() {
        let _ = write!(t, "errorstat_{code}:count={n}\r\n");
    }
}

/// Per-command counters for `/metrics` (commands used since the last CONFIG
/// RESETSTAT; subcommands named `container|sub`).
pub fn command_metrics(shared: &Shared) -> Vec<CommandMetrics> {
    used_commands(shared)
        .into_iter()
        .map(|(name, spec)| {
            let [calls, usec, rejected, failed] = shared.diag.commands.of(spec).load();
            CommandMetrics {
                name: name.into(),
                calls_total: calls,
                duration_usec_total: usec,
                failed_total: failed,
                rejected_total: rejected,
            }
        })
        .collect()
}

/// The command latency histogram for `/metrics`.
pub fn command_latency(shared: &Shared) -> HistogramSnapshot {
    shared.diag.command_latency.snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row has a number of its own, and two servers' counters are
    /// apart (issue 14: no process-wide statics holding server state).
    #[test]
    fn rows_are_numbered_and_counters_belong_to_a_server() {
        let (a, b) = (CommandCounters::new(), CommandCounters::new());
        let mut seen = std::collections::HashSet::new();
        for spec in every_spec() {
            assert!(spec.stats.index() < a.0.len(), "{} is numbered", spec.name);
            seen.insert(spec.stats.index());
        }
        assert_eq!(seen.len(), a.0.len());
        let get = cmd::lookup(b"get").expect("declared");
        a.of(get).calls.fetch_add(1, Ordering::Relaxed);
        assert_eq!(a.of(get).load()[0], 1);
        assert_eq!(b.of(get).load()[0], 0);
    }

    #[test]
    fn error_codes_are_the_first_word_within_32_bytes() {
        assert_eq!(error_code(b"ERR syntax error"), b"ERR");
        assert_eq!(error_code(b"-WRONGTYPE Operation against"), b"WRONGTYPE");
        assert_eq!(error_code(b"NOSPACEHERE"), b"ERR");
        let long = [b'X'; 40];
        assert_eq!(error_code(&[&long[..], b" tail"].concat()), b"ERR");
    }

    #[test]
    fn error_codes_are_bounded() {
        let e = ErrorStats::default();
        for i in 0..(ERROR_CODES_MAX + 10) {
            e.record(format!("E{i} boom").as_bytes());
        }
        e.record(b"E0 again");
        assert_eq!(e.total(), ERROR_CODES_MAX as u64 + 11);
        let codes = e.codes();
        assert_eq!(codes.len(), ERROR_CODES_MAX);
        assert!(codes.contains(&("E0".into(), 2)));
    }
}
