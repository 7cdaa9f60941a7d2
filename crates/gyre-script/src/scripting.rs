//! [`Scripting`]: the EVAL script cache and VM, the functions registry and
//! VM, and the running-script state other threads consult.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gyre_resp::Frame;
use parking_lot::Mutex;

use crate::api::{Host, KillCommand, RunOpts, RunningInfo, ScriptConfig, ScriptKind};
use crate::convert::err;
use crate::flags::{parse_eval_shebang, ScriptFlags};
use crate::functions::FunctionState;
use crate::vm::{RunSpec, Vm, VmKind};

/// A script's SHA1 as 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sha([u8; 40]);

impl Sha {
    pub(crate) fn of(body: &[u8]) -> Sha {
        let digest = sha1_smol::Sha1::from(body).digest().bytes();
        let mut hex = [0u8; 40];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in digest.iter().enumerate() {
            hex[2 * i] = DIGITS[usize::from(byte >> 4)];
            hex[2 * i + 1] = DIGITS[usize::from(byte & 15)];
        }
        Sha(hex)
    }

    /// Parses a SHA given by a client: 40 bytes, compared ignoring case.
    pub(crate) fn parse(text: &[u8]) -> Option<Sha> {
        let hex: [u8; 40] = text.try_into().ok()?;
        Some(Sha(hex.map(|b| b.to_ascii_lowercase())))
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// SHA1 of `data` as lowercase hex (`redis.sha1hex`, script names).
pub fn sha1_hex(data: &[u8]) -> String {
    Sha::of(data).as_str().to_string()
}

/// Identifies the running script without allocating for EVAL.
#[derive(Clone)]
pub(crate) enum RunName {
    Sha(Sha),
    Function(Arc<str>),
}

/// The script in progress, as other threads see it.
pub(crate) struct Running {
    kind: ScriptKind,
    name: RunName,
    command: Vec<Bytes>,
    started: Duration,
}

/// A monotonic timestamp for run durations. Millisecond resolution is all
/// BUSY and FUNCTION STATS need, so Linux reads the coarse clock (a few
/// nanoseconds instead of tens: this is on every run's path).
fn monotonic_now() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec; CLOCK_MONOTONIC_COARSE exists on Linux.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed()
}

/// State shared with other threads: readable while a script runs.
pub(crate) struct Shared {
    pub(crate) kill: Arc<AtomicBool>,
    wrote: AtomicBool,
    running: Mutex<Option<Running>>,
    pub(crate) libraries: AtomicUsize,
    pub(crate) functions: AtomicUsize,
    cached_scripts: AtomicUsize,
    eval_memory_bytes: AtomicUsize,
    pub(crate) functions_memory_bytes: AtomicUsize,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            kill: Arc::new(AtomicBool::new(false)),
            wrote: AtomicBool::new(false),
            running: Mutex::new(None),
            libraries: AtomicUsize::new(0),
            functions: AtomicUsize::new(0),
            cached_scripts: AtomicUsize::new(0),
            eval_memory_bytes: AtomicUsize::new(0),
            functions_memory_bytes: AtomicUsize::new(0),
        }
    }

    /// Marks a run as started; the guard marks it finished.
    pub(crate) fn begin(&self, kind: ScriptKind, name: RunName, command: Vec<Bytes>) -> RunningGuard<'_> {
        let mut running = self.running.lock();
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        *running = Some(Running { kind, name, command, started: monotonic_now() });
        RunningGuard { shared: self }
    }
}

/// Clears the running state when a run ends, however it ends.
pub(crate) struct RunningGuard<'a> {
    shared: &'a Shared,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.shared.running.lock();
        *running = None;
        self.shared.kill.store(false, Ordering::Relaxed);
    }
}

/// A cached, compiled EVAL script.
#[derive(Clone, Copy)]
struct Script {
    func_ref: std::os::raw::c_int,
    flags: ScriptFlags,
    /// Added by SCRIPT LOAD: never evicted.
    pinned: bool,
}

struct EvalState {
    vm: Vm,
    scripts: HashMap<Sha, Script, foldhash::fast::RandomState>,
    /// Scripts first seen by EVAL, oldest first (may hold stale entries).
    eviction: VecDeque<Sha>,
    evictable: usize,
}

impl EvalState {
    fn new(shared: &Shared, config: &ScriptConfig) -> EvalState {
        EvalState {
            vm: Vm::new(VmKind::Eval, shared.kill.clone(), config),
            scripts: HashMap::default(),
            eviction: VecDeque::new(),
            evictable: 0,
        }
    }

    /// Compiles and caches `body` (`luaCreateFunction`).
    fn create(&mut self, sha: Sha, body: &[u8], pinned: bool, config: &ScriptConfig) -> Result<Script, Frame> {
        let shebang = parse_eval_shebang(body).map_err(|msg| err(format!("ERR {msg}")))?;
        // The shebang line is skipped but its line feed kept, so line
        // numbers stay the user's.
        let func_ref = self.vm.compile(&body[shebang.len..], c"@user_script").map_err(|msg| {
            crate::convert::error_frame(format!("ERR Error compiling script (new function): {msg}").as_bytes())
        })?;
        let script = Script { func_ref, flags: shebang.flags, pinned };
        self.scripts.insert(sha, script);
        if !pinned {
            self.eviction.push_back(sha);
            self.evictable += 1;
            self.evict(config.eval_scripts_max.max(1));
        }
        Ok(script)
    }

    fn evict(&mut self, max: usize) {
        while self.evictable > max {
            let Some(oldest) = self.eviction.pop_front() else { break };
            if let Some(script) = self.scripts.get(&oldest).copied() {
                if !script.pinned {
                    self.scripts.remove(&oldest);
                    self.vm.unref(script.func_ref);
                    self.evictable -= 1;
                }
            }
        }
    }
}

/// Redis-compatible scripting for one server: EVAL scripts and functions.
///
/// `Send + Sync`. Each VM sits behind its own mutex; the server runs one
/// script at a time. [`running`](Scripting::running),
/// [`kill`](Scripting::kill), [`mark_write`](Scripting::mark_write),
/// [`busy_error`](Scripting::busy_error) and
/// [`function_stats`](Scripting::function_stats) never wait for a VM, so
/// other threads may call them while a script runs.
pub struct Scripting {
    pub(crate) config: ScriptConfig,
    pub(crate) shared: Shared,
    eval: Mutex<EvalState>,
    pub(crate) functions: Mutex<FunctionState>,
}

impl Scripting {
    /// Creates both VMs.
    pub fn new(config: ScriptConfig) -> Scripting {
        let shared = Shared::new();
        let eval = EvalState::new(&shared, &config);
        let functions = FunctionState::new(&shared, &config);
        let scripting = Scripting { config, shared, eval: Mutex::new(eval), functions: Mutex::new(functions) };
        scripting.publish_eval_stats(&scripting.eval.lock());
        scripting.publish_function_stats(&scripting.functions.lock());
        scripting
    }

    /// EVAL / EVAL_RO: compiles and caches `body` if needed, then runs it.
    pub fn eval(&self, host: &mut dyn Host, body: &[u8], keys: &[&[u8]], args: &[&[u8]], opts: RunOpts) -> Frame {
        let sha = Sha::of(body);
        let mut state = self.eval.lock();
        let script = match state.scripts.get(&sha) {
            Some(script) => *script,
            None => match state.create(sha, body, false, &self.config) {
                Ok(script) => script,
                Err(reply) => return reply,
            },
        };
        self.run_eval(&mut state, host, sha, script, keys, args, opts)
    }

    /// EVALSHA / EVALSHA_RO: runs a cached script, or
    /// `-NOSCRIPT No matching script. Please use EVAL.`
    pub fn evalsha(&self, host: &mut dyn Host, sha: &[u8], keys: &[&[u8]], args: &[&[u8]], opts: RunOpts) -> Frame {
        let mut state = self.eval.lock();
        let found = Sha::parse(sha).and_then(|sha| Some((sha, *state.scripts.get(&sha)?)));
        let Some((sha, script)) = found else {
            return err("NOSCRIPT No matching script. Please use EVAL.");
        };
        self.run_eval(&mut state, host, sha, script, keys, args, opts)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_eval(
        &self,
        state: &mut EvalState,
        host: &mut dyn Host,
        sha: Sha,
        script: Script,
        keys: &[&[u8]],
        args: &[&[u8]],
        opts: RunOpts,
    ) -> Frame {
        if let Err(reply) = check_flags(host, script.flags, opts.read_only) {
            return reply;
        }
        let reply = {
            let _running = self.shared.begin(ScriptKind::Eval, RunName::Sha(sha), Vec::new());
            state.vm.run(
                host,
                RunSpec { func_ref: script.func_ref, keys, args, name: sha.as_str(), caller_resp: opts.resp },
            )
        };
        self.publish_eval_stats(state);
        reply
    }

    fn publish_eval_stats(&self, state: &EvalState) {
        self.shared.cached_scripts.store(state.scripts.len(), Ordering::Relaxed);
        self.shared.eval_memory_bytes.store(state.vm.memory_bytes(), Ordering::Relaxed);
    }

    /// SCRIPT LOAD: compiles and caches `body`; returns its SHA1.
    pub fn script_load(&self, body: &[u8]) -> Result<String, Frame> {
        let sha = Sha::of(body);
        let mut state = self.eval.lock();
        if let Some(script) = state.scripts.get_mut(&sha) {
            if !script.pinned {
                script.pinned = true;
                state.evictable -= 1;
            }
            return Ok(sha.as_str().to_string());
        }
        let created = state.create(sha, body, true, &self.config);
        self.publish_eval_stats(&state);
        created.map(|_| sha.as_str().to_string())
    }

    /// SCRIPT EXISTS: whether each SHA1 is cached (case-insensitive).
    pub fn script_exists(&self, shas: &[&[u8]]) -> Vec<bool> {
        let state = self.eval.lock();
        shas.iter().map(|sha| Sha::parse(sha).is_some_and(|sha| state.scripts.contains_key(&sha))).collect()
    }

    /// `SCRIPT FLUSH [ASYNC|SYNC]`: drops every cached script and starts a
    /// fresh EVAL VM (both modes are synchronous here).
    pub fn script_flush(&self) {
        let mut state = self.eval.lock();
        *state = EvalState::new(&self.shared, &self.config);
        self.publish_eval_stats(&state);
    }

    /// The flags an EVAL body declares in its shebang line, for the server's
    /// checks before running (compat mode without a shebang).
    pub fn script_flags(&self, body: &[u8]) -> Result<ScriptFlags, Frame> {
        script_flags(body)
    }

    /// The flags of a cached script, by SHA1 (for EVALSHA).
    pub fn cached_script_flags(&self, sha: &[u8]) -> Option<ScriptFlags> {
        let state = self.eval.lock();
        Sha::parse(sha).and_then(|sha| state.scripts.get(&sha)).map(|script| script.flags)
    }

    /// Number of cached scripts (INFO `number_of_cached_scripts`), as of
    /// the last EVAL / SCRIPT command. Never waits for a running script.
    pub fn cached_scripts(&self) -> usize {
        self.shared.cached_scripts.load(Ordering::Relaxed)
    }

    /// Bytes used by the EVAL VM and by the functions VM (INFO
    /// `used_memory_vm_eval`, `used_memory_vm_functions`), as of the last
    /// operation on each. Never waits for a running script.
    pub fn memory_bytes(&self) -> (usize, usize) {
        (
            self.shared.eval_memory_bytes.load(Ordering::Relaxed),
            self.shared.functions_memory_bytes.load(Ordering::Relaxed),
        )
    }

    /// The running script, if any. Callable from any thread at any time.
    pub fn running(&self) -> Option<RunningInfo> {
        let running = self.shared.running.lock();
        running.as_ref().map(|run| RunningInfo {
            kind: run.kind,
            name: match &run.name {
                RunName::Sha(sha) => sha.as_str().to_string(),
                RunName::Function(name) => name.to_string(),
            },
            command: run.command.clone(),
            elapsed: monotonic_now().saturating_sub(run.started),
            wrote: self.shared.wrote.load(Ordering::Relaxed),
        })
    }

    /// The `-BUSY` error other clients get while a script has been running
    /// for at least `busy_reply_threshold`; None otherwise.
    pub fn busy_error(&self) -> Option<Frame> {
        self.busy_error_after(self.config.busy_reply_threshold)
    }

    /// [`busy_error`](Scripting::busy_error) with another threshold (the
    /// server's setting may change while it runs).
    pub fn busy_error_after(&self, threshold: Duration) -> Option<Frame> {
        let running = self.shared.running.lock();
        let run = running.as_ref()?;
        if monotonic_now().saturating_sub(run.started) < threshold {
            return None;
        }
        Some(match run.kind {
            ScriptKind::Eval => err(BUSY_EVAL),
            ScriptKind::Function => err(BUSY_FUNCTION),
        })
    }

    /// Records that the running script executed a write command: from now
    /// on it cannot be killed. Called by the server's [`Host`].
    pub fn mark_write(&self) {
        self.shared.wrote.store(true, Ordering::Relaxed);
    }

    /// SCRIPT KILL / FUNCTION KILL, with Redis's replies. On success the
    /// script stops at its next check (within `kill_check_instructions`
    /// Lua instructions) with "Script killed by user with SCRIPT KILL...".
    pub fn kill(&self, command: KillCommand) -> Result<(), Frame> {
        let running = self.shared.running.lock();
        let Some(run) = running.as_ref() else {
            return Err(err("NOTBUSY No scripts in execution right now."));
        };
        if self.shared.wrote.load(Ordering::Relaxed) {
            return Err(err(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. \
                 You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        match (command, run.kind) {
            (KillCommand::Script, ScriptKind::Function) => return Err(err(BUSY_FUNCTION)),
            (KillCommand::Function, ScriptKind::Eval) => return Err(err(BUSY_EVAL)),
            _ => {}
        }
        self.shared.kill.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// While an EVAL script runs (Redis's `slowevalerr`).
pub(crate) const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// While a function runs (Redis's `slowscripterr`).
pub(crate) const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The flags an EVAL body declares (see [`Scripting::script_flags`]).
pub fn script_flags(body: &[u8]) -> Result<ScriptFlags, Frame> {
    parse_eval_shebang(body).map(|shebang| shebang.flags).map_err(|msg| err(format!("ERR {msg}")))
}

/// The checks before a run: the crate's own (`*_RO` with a script that may
/// write), then the server's.
pub(crate) fn check_flags(host: &mut dyn Host, flags: ScriptFlags, read_only: bool) -> Result<(), Frame> {
    if read_only && !flags.contains(ScriptFlags::EVAL_COMPAT_MODE) && !flags.contains(ScriptFlags::NO_WRITES) {
        return Err(err("ERR Can not execute a script with write flag using *_ro command."));
    }
    host.check_run(flags, read_only)
}
