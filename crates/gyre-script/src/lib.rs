//! `gyre-script`: Redis 7.2-compatible Lua scripting (EVAL, EVALSHA, SCRIPT)
//! and functions (FUNCTION, FCALL) for Gyre, as a library.
//!
//! # What it is
//!
//! A [`Scripting`] value per server holds two sandboxed Lua 5.1 VMs (Lua is
//! built from mlua's vendored sources and driven through `mlua::ffi`): one
//! for EVAL scripts, one for function libraries. Scripts reach the server
//! only through the [`Host`] trait, which the server implements:
//!
//! ```text
//! trait Host {
//!     fn call(&mut self, args: &[&[u8]], resp: u8) -> Frame;          // redis.call / redis.pcall
//!     fn log(&mut self, level: u8, msg: &str);                         // redis.log
//!     fn check_run(&mut self, flags, read_only) -> Result<(), Frame>;  // default: Ok
//!     fn acl_check_cmd(&mut self, args) -> Result<bool, Frame>;       // default: "not supported"
//! }
//!
//! Scripting::new(ScriptConfig) -> Scripting
//! eval(host, body, keys, args, RunOpts) -> Frame          EVAL, EVAL_RO
//! evalsha(host, sha, keys, args, RunOpts) -> Frame        EVALSHA, EVALSHA_RO (-NOSCRIPT)
//! script_load(body) -> Result<String, Frame>              SCRIPT LOAD
//! script_exists(&[sha]) -> Vec<bool>                      SCRIPT EXISTS
//! script_flush()                                          SCRIPT FLUSH [ASYNC|SYNC]
//! script_flags(body) / cached_script_flags(sha)           shebang flags, for the server's checks
//! function_load(code, replace) -> Result<String, Frame>   FUNCTION LOAD [REPLACE]
//! function_delete(name) -> Result<(), Frame>              FUNCTION DELETE
//! function_list(listed, with_code, resp) -> Frame        FUNCTION LIST [LIBRARYNAME p] [WITHCODE]
//! function_flush()                                        FUNCTION FLUSH [ASYNC|SYNC]
//! function_dump() -> Bytes                                FUNCTION DUMP (Gyre's own format)
//! function_restore(payload, RestorePolicy)                FUNCTION RESTORE [FLUSH|APPEND|REPLACE]
//! function_stats(resp) -> Frame                           FUNCTION STATS
//! function_flags(name) -> Option<ScriptFlags>             for the server's checks before FCALL
//! fcall(host, name, keys, args, RunOpts) -> Frame         FCALL, FCALL_RO
//! running() -> Option<RunningInfo>                        from any thread, any time
//! busy_error() -> Option<Frame>                           -BUSY for other clients past the threshold
//! kill(KillCommand) -> Result<(), Frame>                  SCRIPT KILL / FUNCTION KILL
//! mark_write()                                            the Host reports a write
//! ```
//!
//! # Contract with the server
//!
//! * Atomicity is the server's: it holds its exclusive lock while `eval`,
//!   `evalsha` or `fcall` runs. The crate runs one script at a time (each
//!   VM has a mutex). `running`, `busy_error`, `kill`, `mark_write`,
//!   `function_stats`, `cached_scripts` and `memory_bytes` never wait for a
//!   VM: call them from other threads while a script runs. Any other method
//!   called during a run waits for it to end (Redis answers -BUSY to those).
//! * A `Host` must not call back into the `Scripting` running it.
//! * Replies ([`Frame`]) are returned already shaped for the caller's
//!   protocol (`RunOpts::resp`): under RESP2 there are no maps, sets,
//!   doubles, booleans, big numbers or verbatim strings (Redis's
//!   downgrades); [`Frame::Null`] means the protocol's null. `Frame::Error`
//!   text has no leading `-`, and carries its code (`ERR`, `WRONGTYPE`, ...).
//! * `Host::call` gets `resp`, the protocol the script selected with
//!   `redis.setresp` (2 by default), and must return a reply shaped for it.
//!   RESP2 null replies become `false` in Lua, RESP3 ones `nil`.
//! * Kill: `kill` sets a flag the VM checks every
//!   `ScriptConfig::kill_check_instructions` Lua instructions; the script
//!   then fails with "ERR Script killed by user with SCRIPT KILL..." and the
//!   VM stays usable. Once the host calls [`Scripting::mark_write`] the
//!   script is UNKILLABLE, as in Redis.
//!
//! # Fidelity to Redis 7.2
//!
//! Error formats are Redis's: compile errors `ERR Error compiling script
//! (new function): user_script:1: ...`, runtime errors `ERR user_script:1:
//! ... script: <sha>, on @user_script:1.`, error tables keep their code.
//! Conversions both ways are Redis's (see `convert`). The sandbox allows
//! Redis's list of builtins and libraries (`string`, `table`, `math`,
//! `cjson`, `bit`, `struct`, `cmsgpack`, `os.clock`); globals are read-only
//! as in Redis 7 (see `sandbox` for how, on stock Lua). Differences:
//! creating a global says "Script attempted to create global variable 'x'"
//! (Redis 7.0's wording; 7.2 says "Attempt to modify a readonly table");
//! `newproxy` is removed; `#` and `ipairs` on `_G` or a library table see
//! an empty table; `math.random` restarts its sequence at every run; CJSON's configuration
//! functions only report the defaults; `cmsgpack.unpack` also reads the bin
//! formats; `redis.log` during FUNCTION LOAD is dropped (there is no host).
//!
//! # Limits
//!
//! Every VM's memory is capped (`lua_memory_bytes_max`); nesting of
//! converted values is capped at 1000 levels; EVAL-created cache entries are
//! capped (`eval_scripts_max`, oldest evicted); FUNCTION LOAD's top level is
//! time-boxed (`function_load_timeout`).

// Every unsafe block says why it is sound, and every unsafe fn what its
// callers must guarantee (`lua`'s module doc defines the terms).
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[macro_use]
mod lua;

mod api;
mod convert;
mod flags;
mod functions;
mod libs;
mod numfmt;
mod redis_api;
mod sandbox;
mod scripting;
mod vm;

pub use api::{
    Host, KillCommand, RestorePolicy, RunOpts, RunningInfo, ScriptConfig, ScriptKind, LOG_DEBUG, LOG_NOTICE,
    LOG_VERBOSE, LOG_WARNING,
};
pub use flags::ScriptFlags;
pub use gyre_resp::Frame;
pub use scripting::{script_flags, sha1_hex, Scripting};

/// One `Scripting` serves every connection thread.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Scripting>();
};
