//! MONITOR: every command executed, streamed to the clients that asked.
//!
//! A line per command, as Redis writes it:
//! `+1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"` (Unix time with
//! microseconds, database, client address or `lua` for commands a script ran,
//! arguments quoted as Redis's `sdscatrepr`). Not shown, as in Redis: ADMIN
//! commands and those flagged SKIP_MONITOR, except the script runners (EVAL,
//! FCALL, ...), which are shown before the commands they run; AUTH's and
//! HELLO's credentials are shown as `(redacted)`.
//!
//! Delivery reuses the pub/sub outbox of the monitoring connection
//! ([`crate::pubsub::Subscriber`]): lines are queued there and the connection
//! writes them while idle, so a monitor never slows the commands it watches.
//! The pubsub class of `client-output-buffer-limit` bounds the outbox; a
//! monitor that does not read is disconnected at that limit (Redis counts
//! monitors as normal clients, unlimited by default; Gyre does not let a
//! monitor grow without bound).
//!
//! Cost when nobody monitors: one atomic load per command ([`Monitors::active`]).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gyre_resp::Args;
use parking_lot::Mutex;

use crate::client::ClientState;
use crate::cmd::{flags, CommandSpec};
use crate::pubsub::Subscriber;
use crate::shared::Shared;
use crate::stats::Run;

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Subscriber>>>,
}

/// The monitoring connections.
#[derive(Default)]
pub struct Monitors {
    inner: Arc<Inner>,
}

impl Monitors {
    /// Anyone monitoring: the one check commands pay when nobody is.
    #[inline]
    pub fn active(&self) -> bool {
        self.inner.count.load(Ordering::Relaxed) > 0
    }

    /// Starts streaming to `sub`; streaming stops when the handle is dropped
    /// (RESET, or the connection ends).
    pub fn add(&self, sub: Arc<Subscriber>) -> Monitoring {
        let mut list = self.inner.list.lock();
        list.push(sub.clone());
        self.inner.count.store(list.len(), Ordering::Relaxed);
        Monitoring { inner: self.inner.clone(), sub }
    }

    fn send(&self, line: &[u8], limit: crate::pubsub::OutputLimit) {
        for m in self.inner.list.lock().iter() {
            m.deliver_raw(line, limit);
        }
    }
}

/// A connection's monitor mode; dropping it ends the mode.
pub struct Monitoring {
    inner: Arc<Inner>,
    sub: Arc<Subscriber>,
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        let mut list = self.inner.list.lock();
        list.retain(|s| !Arc::ptr_eq(s, &self.sub));
        self.inner.count.store(list.len(), Ordering::Relaxed);
    }
}

/// The commands that run scripts: shown before the commands they run.
pub fn runs_scripts(spec: &CommandSpec) -> bool {
    spec.has_flag(flags::RUNS_SCRIPT)
}

/// Whether the command that called a nested command is a script runner.
pub fn is_script_runner(caller: crate::client::CmdName) -> bool {
    match caller {
        crate::client::CmdName::Known { top, sub: None } => {
            crate::cmd::lookup(top.as_bytes()).is_some_and(runs_scripts)
        }
        _ => false,
    }
}

/// Whether a command that ran is shown after it ran.
fn shown_after(run: &Run<'_, '_>) -> bool {
    let hidden = flags::SKIP_MONITOR | flags::ADMIN;
    !run.top.has_flag(hidden) && !run.spec.has_flag(hidden)
}

/// Feeds a command that ran to the monitors (the caller saw them active).
pub fn feed(shared: &Shared, client: &ClientState, run: &Run<'_, '_>) {
    if shown_after(run) {
        send(shared, client, run.args, run.db, crate::stats::from_script(client, run));
    }
}

/// Feeds a script runner before it runs (the caller saw monitors active).
pub fn feed_before(shared: &Shared, client: &ClientState, args: &Args<'_>) {
    send(shared, client, args, client.db, false);
}

fn send(shared: &Shared, client: &ClientState, args: &Args<'_>, db: u16, from_script: bool) {
    let line = line(shared.runtime.now_us(), db, client, args, from_script);
    let limit = *shared.config.hot.pubsub_limit.read();
    shared.diag.monitors.send(&line, limit);
}

/// One monitor line, CRLF included.
fn line(unix_us: u64, db: u16, client: &ClientState, args: &Args<'_>, from_script: bool) -> Vec<u8> {
    let mut l = Vec::with_capacity(64);
    let _ = write!(l, "+{}.{:06} [{db} ", unix_us / 1_000_000, unix_us % 1_000_000);
    if from_script {
        l.extend_from_slice(b"lua");
    } else {
        let _ = write!(l, "{}", client.info.addr);
    }
    l.push(b']');
    let redact_from = redacted_from(args);
    for (i, a) in args.iter().enumerate() {
        l.push(b' ');
        if i >= redact_from {
            l.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut l, a);
        }
    }
    l.extend_from_slice(b"\r\n");
    l
}

/// The first argument shown as `(redacted)`, for the commands flagged
/// SECRET_ARGS: the two after HELLO's AUTH, every argument of the others
/// (AUTH).
fn redacted_from(args: &Args<'_>) -> usize {
    let Some(spec) = crate::cmd::lookup(args.get(0)) else { return usize::MAX };
    if !spec.has_flag(flags::SECRET_ARGS) {
        return usize::MAX;
    }
    if spec.name == "hello" {
        let auth = (2..args.len()).find(|&i| args.get(i).eq_ignore_ascii_case(b"auth"));
        return auth.map_or(usize::MAX, |at| at + 1);
    }
    1
}

/// Appends `s` quoted and escaped as Redis's `sdscatrepr`.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a \"b\"\\\r\n\t\x07\x08\x00\xff~");
        assert_eq!(out, b"\"a \\\"b\\\"\\\\\\r\\n\\t\\a\\b\\x00\\xff~\"".to_vec());
    }

    /// Which commands redact comes from the table (SECRET_ARGS); where the
    /// secrets start stays per command.
    #[test]
    fn secrets_are_redacted_for_the_flagged_commands() {
        let mut flagged: Vec<&str> =
            crate::cmd::table::all().filter(|c| c.has_flag(flags::SECRET_ARGS)).map(|c| c.name).collect();
        flagged.sort_unstable();
        assert_eq!(flagged, ["auth", "hello"]);
        let from = |argv: &[&[u8]]| redacted_from(&gyre_resp::OwnedArgs::from_slices(argv.iter().copied()).args());
        assert_eq!(from(&[b"AUTH", b"user", b"pw"]), 1);
        assert_eq!(from(&[b"hello", b"3", b"SETNAME", b"n", b"auth", b"u", b"p"]), 5);
        assert_eq!(from(&[b"HELLO", b"3"]), usize::MAX);
        assert_eq!(from(&[b"get", b"auth"]), usize::MAX);
        assert_eq!(from(&[b"nosuchcommand", b"x"]), usize::MAX);
    }
}
