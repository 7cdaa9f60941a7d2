//! The types the server works with: the [`Host`] a script acts through,
//! per-run options, configuration, and what a running script looks like
//! from another thread.

use std::time::Duration;

use bytes::Bytes;
use gyre_resp::Frame;

use crate::flags::ScriptFlags;

/// `redis.LOG_DEBUG`.
pub const LOG_DEBUG: u8 = 0;
/// `redis.LOG_VERBOSE`.
pub const LOG_VERBOSE: u8 = 1;
/// `redis.LOG_NOTICE`.
pub const LOG_NOTICE: u8 = 2;
/// `redis.LOG_WARNING`.
pub const LOG_WARNING: u8 = 3;

/// What a script can do to the server. Implemented by the server, one value
/// per script run (it usually borrows the calling client and the keyspace).
///
/// A `Host` must not call back into the [`Scripting`](crate::Scripting) that
/// is running it (EVAL from inside a script is refused by Redis anyway):
/// the VM lock is held for the whole run, so that would deadlock.
pub trait Host {
    /// The command that started the run, as the client sent it (FUNCTION
    /// STATS and introspection show it, as Redis does: `fcall test 0`).
    /// Empty: rebuilt from the run's name, keys and arguments.
    fn command(&self) -> Vec<Bytes> {
        Vec::new()
    }

    /// Runs one command for `redis.call` / `redis.pcall` and returns its
    /// reply. Errors come back as [`Frame::Error`] with Redis's wording
    /// (arity, unknown command, "This Redis command is not allowed from
    /// script", writes refused in read-only runs, OOM...): the server checks
    /// all of that. `resp` (2 or 3) is the protocol the script selected with
    /// `redis.setresp`: the reply must be shaped for it (no maps, sets,
    /// doubles or booleans under 2). Call
    /// [`Scripting::mark_write`](crate::Scripting::mark_write) when the
    /// command wrote, so SCRIPT KILL answers UNKILLABLE from then on.
    fn call(&mut self, args: &[&[u8]], resp: u8) -> Frame;

    /// `redis.log(level, ...)`: `level` is one of [`LOG_DEBUG`]..[`LOG_WARNING`];
    /// the server filters by its verbosity. Messages are bytes from the
    /// script, shown lossily as UTF-8.
    fn log(&mut self, level: u8, msg: &str);

    /// Called once the script or function is known and before it runs, with
    /// its flags (for EVAL without a shebang: [`ScriptFlags::EVAL_COMPAT_MODE`])
    /// and whether the command was EVAL_RO / EVALSHA_RO / FCALL_RO. The server
    /// refuses here what depends on its state, with Redis's replies:
    /// `no-cluster` in cluster mode, stale replicas without `allow-stale`,
    /// OOM without `allow-oom`, writes on a read-only replica... It also
    /// learns here whether write commands must be refused during the run
    /// (`read_only` or [`ScriptFlags::NO_WRITES`]). The default accepts.
    ///
    /// The crate itself refuses a script that may write (no `no-writes`,
    /// not in compat mode) under a `*_RO` command, before calling this.
    fn check_run(&mut self, flags: ScriptFlags, read_only: bool) -> Result<(), Frame> {
        let _ = (flags, read_only);
        Ok(())
    }

    /// Called every `kill_check_instructions` Lua instructions while a
    /// script or function runs (not during FUNCTION LOAD). A long script
    /// holds the thread that runs it; this is where the server can arrange
    /// to keep serving other clients meanwhile (Gyre hands its async worker
    /// to another thread here). Must not panic. The default does nothing.
    fn tick(&mut self) {}

    /// `redis.acl_check_cmd(cmd, ...)`: whether the calling user may run the
    /// command. `Err` is raised in the script as an error (Redis raises
    /// "ERR Invalid command passed to redis.acl_check_cmd()" for unknown
    /// commands). The default answers that ACL checks are not supported.
    fn acl_check_cmd(&mut self, args: &[&[u8]]) -> Result<bool, Frame> {
        let _ = args;
        Err(Frame::Error(Bytes::from_static(b"ERR redis.acl_check_cmd is not supported by this server")))
    }
}

/// Options of one EVAL / EVALSHA / FCALL run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOpts {
    /// The command was EVAL_RO, EVALSHA_RO or FCALL_RO.
    pub read_only: bool,
    /// The calling client's protocol (2 or 3): the reply is shaped for it.
    pub resp: u8,
}

impl Default for RunOpts {
    fn default() -> Self {
        RunOpts { read_only: false, resp: 2 }
    }
}

/// Configuration of a [`Scripting`](crate::Scripting).
#[derive(Debug, Clone)]
pub struct ScriptConfig {
    /// After how long a running script makes other clients get `-BUSY`
    /// (Redis's `busy-reply-threshold`, 5 s). Only read by
    /// [`Scripting::busy_error`](crate::Scripting::busy_error).
    pub busy_reply_threshold: Duration,
    /// How many scripts first seen by EVAL the cache keeps; beyond that the
    /// oldest is evicted (EVALSHA then answers NOSCRIPT and clients resend
    /// the body). Scripts added by SCRIPT LOAD are never evicted. At least 1.
    pub eval_scripts_max: usize,
    /// Lua instructions between two checks of the kill flag (Redis: 100000).
    /// At least 1.
    pub kill_check_instructions: u32,
    /// Longest a FUNCTION LOAD (running the library's top level) may take
    /// (Redis: 500 ms).
    pub function_load_timeout: Duration,
    /// Most bytes each Lua VM (one for EVAL, one for functions) may
    /// allocate; a script that needs more fails with "not enough memory".
    /// 0 means unlimited.
    pub lua_memory_bytes_max: usize,
    /// `redis.REDIS_VERSION`; `REDIS_VERSION_NUM` is derived from it.
    pub redis_version: &'static str,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            busy_reply_threshold: Duration::from_millis(5000),
            eval_scripts_max: 10_000,
            kill_check_instructions: 100_000,
            function_load_timeout: Duration::from_millis(500),
            lua_memory_bytes_max: 1 << 30,
            redis_version: "7.2.0",
        }
    }
}

/// Whether a run is an EVAL script or a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// EVAL, EVALSHA and their `_RO` variants.
    Eval,
    /// FCALL and FCALL_RO.
    Function,
}

/// Which kill command the server received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillCommand {
    /// SCRIPT KILL: kills EVAL scripts only.
    Script,
    /// FUNCTION KILL: kills functions only.
    Function,
}

/// A snapshot of the running script, for `-BUSY`, SCRIPT KILL and
/// FUNCTION STATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningInfo {
    /// EVAL script or function.
    pub kind: ScriptKind,
    /// The script's SHA1 (lowercase hex) or the function's name.
    pub name: String,
    /// For functions: the command as FUNCTION STATS reports it
    /// (`FCALL name numkeys key... arg...`); empty for EVAL.
    pub command: Vec<Bytes>,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Whether the script has run a write command
    /// ([`Scripting::mark_write`](crate::Scripting::mark_write)): it can no
    /// longer be killed.
    pub wrote: bool,
}

/// How FUNCTION RESTORE treats libraries that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestorePolicy {
    /// Delete every existing library first.
    Flush,
    /// Add the libraries; fail if one already exists (the default).
    #[default]
    Append,
    /// Add the libraries, replacing those with the same name.
    Replace,
}
