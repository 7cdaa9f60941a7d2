//! The server's side of Lua scripting and functions: how a script reaches the
//! keyspace ([`ServerHost`]), what other clients see while one runs, and where
//! function libraries are kept.
//!
//! The Lua VMs, the sandbox and the Lua <-> RESP conversions are the
//! `gyre-script` crate's; this module is the contract's other half.
//!
//! * Atomicity: EVAL, EVALSHA, FCALL and their `_RO` forms hold the execution
//!   gate exclusively (flag `EXCLUSIVE`, as EXEC), so no other command runs
//!   while a script does, on any thread. Commands the script calls run through
//!   `dispatch::execute_nested` with the gate already held.
//! * Effects, not scripts, are logged: every command a script calls records its
//!   Mutations in the calling connection's log, and the whole script becomes
//!   one log record (as a transaction does). Replay never runs Lua.
//! * A long script: after [`HANDOFF_AFTER`] the connection's thread hands its
//!   async worker to another thread ([`ServerHost::tick`]), so the server keeps
//!   accepting and reading other clients. Those wait at the gate until the
//!   script has run for `busy-reply-threshold`; then they get `-BUSY`
//!   ([`busy_error`]), and SCRIPT KILL / FUNCTION KILL (which do not take the
//!   gate) can stop a script that has not written.
//! * Functions are server state as in Redis: FUNCTION LOAD / DELETE / FLUSH /
//!   RESTORE rewrite `functions.gyre` in the data directory (written to a
//!   temporary file, fsynced, renamed), and start-up loads it. A damaged file
//!   stops start-up with an error naming it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use gyre_engine::MutationLog;
use gyre_resp::Protocol;
use gyre_script::{Frame, Host, ScriptFlags, Scripting};

use crate::client::{ClientState, ReplyMode};
use crate::cmd::{self, flags};
use crate::shared::Shared;

/// How long a script runs before its thread gives the async worker away.
pub const HANDOFF_AFTER: Duration = Duration::from_millis(100);

/// Function libraries, in the data directory.
pub const FUNCTIONS_FILE: &str = "functions.gyre";

/// The scripting engine with Gyre's settings.
pub fn new_scripting() -> Scripting {
    Scripting::new(gyre_script::ScriptConfig { redis_version: "7.2.0", ..Default::default() })
}

/// The `-BUSY` error other clients get while a script has run for at least
/// `busy-reply-threshold`.
pub fn busy_error(shared: &Shared) -> Option<String> {
    let threshold = shared.config.hot.busy_reply_threshold_ms.load(Ordering::Relaxed);
    shared.scripting.busy_error_after(Duration::from_millis(threshold)).map(error_text)
}

/// The text of an error the scripting engine answered (its frames carry
/// errors without the leading `-`).
pub fn error_text(frame: Frame) -> String {
    match frame {
        Frame::Error(text) => String::from_utf8_lossy(&text).into_owned(),
        other => format!("ERR unexpected reply {other:?}"),
    }
}

/// What a script acts through: the calling client, its mutation log and the
/// command's clock.
pub struct ServerHost<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut ClientState,
    pub log: &'a mut MutationLog,
    pub now_ms: u64,
    /// Write commands are refused (EVAL_RO & co., or the `no-writes` flag).
    read_only: bool,
    /// The script may not write past maxmemory (no `allow-oom` flag).
    deny_oom: bool,
    started: Instant,
    /// The async worker has been handed to another thread (confirmed).
    handed_off: Option<Arc<AtomicBool>>,
    scratch: BytesMut,
    /// The command that started the run, as sent (see [`Host::command`]);
    /// copied only when the engine asks (FUNCTION STATS needs it).
    sent: Option<gyre_resp::Args<'a>>,
}

impl<'a> ServerHost<'a> {
    pub fn new(shared: &'a Shared, client: &'a mut ClientState, log: &'a mut MutationLog, now_ms: u64) -> Self {
        ServerHost {
            shared,
            client,
            log,
            now_ms,
            read_only: false,
            deny_oom: false,
            started: Instant::now(),
            handed_off: None,
            scratch: BytesMut::new(),
            sent: None,
        }
    }

    /// Names the command that started the run, as the client sent it.
    pub fn sent(mut self, args: gyre_resp::Args<'a>) -> Self {
        self.sent = Some(args);
        self
    }

    /// Runs one command for the script and returns its reply bytes' frame.
    fn run(&mut self, args: &[&[u8]], resp: u8) -> Frame {
        let owned = gyre_resp::OwnedArgs::from_slices(args.iter().copied());
        let argv = owned.args();
        let Some(spec) = script_spec(&argv) else {
            return error_frame("ERR Unknown Redis command called from script");
        };
        let spec = match spec {
            Ok(spec) => spec,
            Err(msg) => return error_frame(msg),
        };
        // Blocking commands run, and answer as if they timed out when they
        // would wait (`in_exec`), as in Redis 7.2 (7.0 flagged them
        // NOSCRIPT); XREAD and XREADGROUP refuse their BLOCK option.
        if spec.has_flag(flags::NOSCRIPT) {
            return error_frame("ERR This Redis command is not allowed from script");
        }
        let writes = spec.has_flag(flags::WRITE);
        if writes && self.read_only {
            return error_frame("ERR Write commands are not allowed from read-only scripts.");
        }
        if self.deny_oom && spec.has_flag(flags::DENYOOM) && crate::dispatch::over_maxmemory(self.shared) {
            return error_frame("OOM command not allowed when used memory > 'maxmemory'.");
        }
        if writes {
            self.shared.scripting.mark_write();
        }
        // The script's protocol, replies always on, and the caller's state back after.
        let (proto, reply, current, in_exec, in_script) =
            (self.client.proto, self.client.reply, self.client.current_cmd, self.client.in_exec, self.client.in_script);
        self.client.proto = if resp == 3 { Protocol::Resp3 } else { Protocol::Resp2 };
        self.client.reply = ReplyMode::On;
        self.client.in_exec = true;
        self.client.in_script = true;
        self.scratch.clear();
        crate::dispatch::execute_nested(argv, self.shared, self.client, &mut self.scratch, self.log, self.now_ms);
        (self.client.proto, self.client.reply, self.client.current_cmd, self.client.in_exec, self.client.in_script) =
            (proto, reply, current, in_exec, in_script);
        crate::dispatch::reply_frame(&self.scratch)
    }
}

fn error_frame(msg: &'static str) -> Frame {
    Frame::Error(Bytes::from_static(msg.as_bytes()))
}

/// The command a script names, with Redis's script-specific errors; None
/// for an unknown command.
fn script_spec(args: &gyre_resp::Args<'_>) -> Option<Result<&'static cmd::CommandSpec, &'static str>> {
    let top = cmd::lookup(args.get(0))?;
    let mut last = Some(top);
    Some(match cmd::resolve(args, &mut last) {
        Ok((_, spec)) => Ok(spec),
        Err(e) if e.to_string().starts_with("ERR wrong number") => {
            Err("ERR Wrong number of args calling Redis command from script")
        }
        Err(_) => Err("ERR Unknown Redis command called from script"),
    })
}

impl Host for ServerHost<'_> {
    fn command(&self) -> Vec<Bytes> {
        self.sent.map(|args| args.iter().map(Bytes::copy_from_slice).collect()).unwrap_or_default()
    }

    fn call(&mut self, args: &[&[u8]], resp: u8) -> Frame {
        if args.is_empty() {
            return error_frame("ERR Please specify at least one argument for this redis lib call");
        }
        self.run(args, resp)
    }

    fn log(&mut self, level: u8, msg: &str) {
        // The script's own message, logged because its author asked for it.
        match level {
            gyre_script::LOG_WARNING => tracing::warn!(target: "gyre::script", "{msg}"),
            gyre_script::LOG_NOTICE => tracing::info!(target: "gyre::script", "{msg}"),
            _ => tracing::debug!(target: "gyre::script", "{msg}"),
        }
    }

    fn check_run(&mut self, flags: ScriptFlags, read_only: bool) -> Result<(), Frame> {
        self.read_only = read_only || flags.contains(ScriptFlags::NO_WRITES);
        let compat = flags.contains(ScriptFlags::EVAL_COMPAT_MODE);
        self.deny_oom = !flags.contains(ScriptFlags::ALLOW_OOM);
        // A script that declares it may write is refused up front, as Redis
        // does; one without a shebang is checked command by command.
        if !compat && !self.read_only {
            if let Some(msg) = self.shared.persistence.write_refusal() {
                return Err(Frame::Error(Bytes::from(msg)));
            }
            if self.deny_oom && crate::dispatch::over_maxmemory(self.shared) {
                return Err(error_frame("OOM command not allowed when used memory > 'maxmemory'."));
            }
        }
        Ok(())
    }

    fn tick(&mut self) {
        if self.started.elapsed() < HANDOFF_AFTER {
            return;
        }
        if self.handed_off.as_ref().is_some_and(|done| done.load(Ordering::Acquire)) {
            return;
        }
        hand_off_worker(&mut self.handed_off);
    }

    fn acl_check_cmd(&mut self, args: &[&[u8]]) -> Result<bool, Frame> {
        let owned = gyre_resp::OwnedArgs::from_slices(args.iter().copied());
        match script_spec(&owned.args()) {
            Some(Ok(_)) => Ok(true),
            _ => Err(error_frame("ERR Invalid command passed to redis.acl_check_cmd()")),
        }
    }
}

/// Moves the async worker this thread runs to another thread, so the runtime
/// keeps serving other connections while this thread runs a long script.
///
/// `block_in_place` gives the worker away and, when its closure returns, takes
/// it back if no other thread picked it up yet. So the closure waits (briefly)
/// until a probe task has run elsewhere: then the worker is certainly owned by
/// another thread. If the probe does not run in time (an overloaded machine),
/// the next tick tries again. Only on the multi-threaded runtime (the server
/// always builds one); elsewhere (unit tests) nothing happens.
fn hand_off_worker(state: &mut Option<Arc<AtomicBool>>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    let probe = Arc::new(AtomicBool::new(false));
    *state = Some(probe.clone());
    tokio::task::block_in_place(|| {
        let ran = probe.clone();
        handle.spawn(async move { ran.store(true, Ordering::Release) });
        let deadline = Instant::now() + Duration::from_millis(50);
        while !probe.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
}

/// Loads the function libraries saved in `dir` (start-up).
pub fn load_functions(scripting: &Scripting, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(FUNCTIONS_FILE);
    let payload = match std::fs::read(&path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading function libraries from '{}'", path.display())),
    };
    scripting.function_restore(&payload, gyre_script::RestorePolicy::Replace).map_err(|f| {
        let why = error_text(f);
        anyhow::anyhow!(
            "loading function libraries from '{}': {why} (move the file away to start without them)",
            path.display()
        )
    })?;
    tracing::info!(file = %path.display(), "function libraries loaded");
    Ok(())
}

/// Saves the function libraries after a change (when persistence is on).
/// Returns the error text for the client when the file could not be written.
pub fn save_functions(shared: &Shared) -> Result<(), String> {
    if shared.persistence.wal.is_none() {
        return Ok(());
    }
    let dir = &shared.persistence.dir;
    let payload = shared.scripting.function_dump();
    write_atomically(dir, FUNCTIONS_FILE, &payload).map_err(|e| {
        tracing::error!(error = %e, dir = %dir.display(), "could not save the function libraries");
        format!("ERR could not save the function libraries: {e}")
    })
}

/// Writes `name` in `dir`: a temporary file, fsync, rename, directory fsync.
fn write_atomically(dir: &Path, name: &str, payload: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp: PathBuf = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(payload)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}
