//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO, SCRIPT and FUNCTION.
//!
//! The Lua side is `gyre-script`; how scripts reach the keyspace, what other
//! clients see meanwhile and where libraries are kept is `crate::scripting`.

use gyre_resp::ReplyWriter;
use gyre_script::{Frame, KillCommand, RestorePolicy, RunOpts};

use super::flags::*;
use super::introspect::help_reply;
use super::table::{cmd, NOKEYS};
use super::{err, errors, Call, CmdError, CmdResult, CommandSpec, Group};
use crate::scripting::{save_functions, ServerHost};

/// Flags of the commands that run a script (Redis's, plus the exclusive gate).
const RUNS: u64 = NOSCRIPT | SKIP_MONITOR | STALE | EXCLUSIVE | RUNS_SCRIPT;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "eval",
            -3,
            RUNS | MAY_REPLICATE,
            NOKEYS,
            Scripting,
            "2.6.0",
            "Executes a server-side Lua script.",
            "script numkeys [key [key ...]] [arg [arg ...]]",
            eval
        )
    },
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "evalsha",
            -3,
            RUNS | MAY_REPLICATE,
            NOKEYS,
            Scripting,
            "2.6.0",
            "Executes a server-side Lua script by SHA1 digest.",
            "sha1 numkeys [key [key ...]] [arg [arg ...]]",
            evalsha
        )
    },
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "eval_ro",
            -3,
            RUNS | READONLY,
            NOKEYS,
            Scripting,
            "7.0.0",
            "Executes a read-only server-side Lua script.",
            "script numkeys [key [key ...]] [arg [arg ...]]",
            eval_ro
        )
    },
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "evalsha_ro",
            -3,
            RUNS | READONLY,
            NOKEYS,
            Scripting,
            "7.0.0",
            "Executes a read-only server-side Lua script by SHA1 digest.",
            "sha1 numkeys [key [key ...]] [arg [arg ...]]",
            evalsha_ro
        )
    },
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "fcall",
            -3,
            RUNS | MAY_REPLICATE,
            NOKEYS,
            Scripting,
            "7.0.0",
            "Invokes a function.",
            "function numkeys [key [key ...]] [arg [arg ...]]",
            fcall
        )
    },
    CommandSpec {
        numkeys_at: 2,
        ..cmd!(
            "fcall_ro",
            -3,
            RUNS | READONLY,
            NOKEYS,
            Scripting,
            "7.0.0",
            "Invokes a read-only function.",
            "function numkeys [key [key ...]] [arg [arg ...]]",
            fcall_ro
        )
    },
    cmd!(
        "script",
        -2,
        0,
        NOKEYS,
        Scripting,
        "2.6.0",
        "A container for Lua scripts management commands.",
        "",
        super::introspect::container,
        SCRIPT_SUBS
    ),
    cmd!(
        "function",
        -2,
        0,
        NOKEYS,
        Scripting,
        "7.0.0",
        "A container for function commands.",
        "",
        super::introspect::container,
        FUNCTION_SUBS
    ),
];

static SCRIPT_SUBS: &[CommandSpec] = &[
    cmd!(
        "load",
        3,
        NOSCRIPT | STALE,
        NOKEYS,
        Scripting,
        "2.6.0",
        "Loads a server-side Lua script to the script cache.",
        "script",
        script_load
    ),
    cmd!(
        "exists",
        -3,
        NOSCRIPT,
        NOKEYS,
        Scripting,
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
        "sha1 [sha1 ...]",
        script_exists
    ),
    cmd!(
        "flush",
        -2,
        NOSCRIPT,
        NOKEYS,
        Scripting,
        "2.6.0",
        "Removes all server-side Lua scripts from the script cache.",
        "[ASYNC | SYNC]",
        script_flush
    ),
    cmd!(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY | NO_GATE,
        NOKEYS,
        Scripting,
        "2.6.0",
        "Terminates a server-side Lua script during execution.",
        "",
        script_kill
    ),
    cmd!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        Scripting,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
        script_help
    ),
];

static FUNCTION_SUBS: &[CommandSpec] = &[
    cmd!(
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Creates a library.",
        "[REPLACE] function-code",
        function_load
    ),
    cmd!(
        "delete",
        3,
        WRITE | NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Deletes a library and its functions.",
        "library-name",
        function_delete
    ),
    cmd!(
        "flush",
        -2,
        WRITE | NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Deletes all libraries and functions.",
        "[ASYNC | SYNC]",
        function_flush
    ),
    cmd!(
        "list",
        -2,
        NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Returns information about all libraries.",
        "[LIBRARYNAME library-name-pattern] [WITHCODE]",
        function_list
    ),
    cmd!(
        "dump",
        2,
        NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Dumps all libraries into a serialized binary payload.",
        "",
        function_dump
    ),
    cmd!(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Restores all libraries from a payload.",
        "serialized-value [FLUSH | APPEND | REPLACE]",
        function_restore
    ),
    cmd!(
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY | NO_GATE,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Returns information about a function during execution.",
        "",
        function_stats
    ),
    cmd!(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY | NO_GATE,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Terminates a function during execution.",
        "",
        function_kill
    ),
    cmd!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        Scripting,
        "7.0.0",
        "Returns helpful text about the different subcommands.",
        "",
        function_help
    ),
];

#[derive(Clone, Copy)]
enum Run {
    Eval,
    EvalSha,
    Fcall,
}

fn eval(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::Eval, false)
}

fn evalsha(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::EvalSha, false)
}

fn eval_ro(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::Eval, true)
}

fn evalsha_ro(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::EvalSha, true)
}

fn fcall(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::Fcall, false)
}

fn fcall_ro(call: &mut Call<'_>) -> CmdResult {
    run(call, Run::Fcall, true)
}

/// The protocol number the scripting engine takes.
fn resp_of(proto: gyre_resp::Protocol) -> u8 {
    match proto {
        gyre_resp::Protocol::Resp2 => 2,
        gyre_resp::Protocol::Resp3 => 3,
    }
}

/// Runs a script or function: `<body|sha|name> numkeys key... arg...`.
fn run(call: &mut Call<'_>, what: Run, read_only: bool) -> CmdResult {
    let numkeys = call.int_arg(2)?;
    if numkeys < 0 {
        return Err(err("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > (call.argc() - 3) as u64 {
        return Err(err("ERR Number of keys can't be greater than number of args"));
    }
    let args = call.args;
    let split = 3 + numkeys as usize;
    let keys: Vec<&[u8]> = (3..split).map(|i| args.get(i)).collect();
    let argv: Vec<&[u8]> = (split..args.len()).map(|i| args.get(i)).collect();
    let opts = RunOpts { read_only, resp: resp_of(call.out.protocol()) };
    let shared = call.shared;
    let target = args.get(1);
    let reply = {
        let mut host = ServerHost::new(shared, call.client, call.log, call.now_ms).sent(args);
        match what {
            Run::Eval => shared.scripting.eval(&mut host, target, &keys, &argv, opts),
            Run::EvalSha => shared.scripting.evalsha(&mut host, target, &keys, &argv, opts),
            Run::Fcall => shared.scripting.fcall(&mut host, target, &keys, &argv, opts),
        }
    };
    write_frame(&mut call.out, &reply);
    Ok(())
}

/// Writes a reply the scripting engine built (already shaped for the
/// client's protocol; `Null` is the protocol's null).
fn write_frame(w: &mut ReplyWriter<'_>, frame: &Frame) {
    match frame {
        Frame::Simple(s) => w.simple(s),
        Frame::Error(e) => w.error(e),
        Frame::Integer(n) => w.integer(*n),
        Frame::Bulk(b) => w.bulk(b),
        Frame::Null => w.null(),
        Frame::Double(v) => w.double(*v),
        Frame::Boolean(v) => w.boolean(*v),
        Frame::BigNumber(d) => w.big_number(d),
        Frame::Verbatim { format, text } => w.verbatim(format, text),
        Frame::Array(items) | Frame::Push(items) => {
            w.array(items.len());
            items.iter().for_each(|f| write_frame(w, f));
        }
        Frame::Set(items) => {
            w.set(items.len());
            items.iter().for_each(|f| write_frame(w, f));
        }
        Frame::Map(pairs) | Frame::Attribute(pairs) => {
            w.map(pairs.len());
            for (k, v) in pairs {
                write_frame(w, k);
                write_frame(w, v);
            }
        }
    }
}

/// An error frame from the engine as a command error.
fn frame_error(frame: Frame) -> CmdError {
    CmdError::Msg(crate::scripting::error_text(frame))
}

/// `[ASYNC | SYNC]` of SCRIPT FLUSH / FUNCTION FLUSH (both run synchronously).
fn flush_mode(call: &Call<'_>, error: &'static str) -> CmdResult {
    match call.argc() {
        2 => Ok(()),
        3 if call.arg_is(2, "async") || call.arg_is(2, "sync") => Ok(()),
        _ => Err(err(error)),
    }
}

fn script_load(call: &mut Call<'_>) -> CmdResult {
    let sha = call.shared.scripting.script_load(call.arg(2)).map_err(frame_error)?;
    call.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(call: &mut Call<'_>) -> CmdResult {
    let shas: Vec<&[u8]> = (2..call.argc()).map(|i| call.args.get(i)).collect();
    let found = call.shared.scripting.script_exists(&shas);
    call.out.array(found.len());
    for f in found {
        call.out.integer(i64::from(f));
    }
    Ok(())
}

fn script_flush(call: &mut Call<'_>) -> CmdResult {
    flush_mode(call, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")?;
    call.shared.scripting.script_flush();
    call.out.ok();
    Ok(())
}

fn script_kill(call: &mut Call<'_>) -> CmdResult {
    call.shared.scripting.kill(KillCommand::Script).map_err(frame_error)?;
    call.out.ok();
    Ok(())
}

fn script_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "SCRIPT", SCRIPT_SUBS);
    Ok(())
}

/// Saves the libraries after a change; the change stands either way (as in
/// memory), but the client learns that it is not on disk.
fn saved(call: &Call<'_>) -> CmdResult {
    save_functions(call.shared).map_err(CmdError::Msg)
}

fn function_load(call: &mut Call<'_>) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < call.argc() - 1 {
        if call.arg_is(i, "replace") {
            replace = true;
        } else {
            return Err(CmdError::Msg(format!("ERR Unknown option given: {}", super::printable(call.arg(i), 128))));
        }
        i += 1;
    }
    let name = call.shared.scripting.function_load(call.arg(call.argc() - 1), replace).map_err(frame_error)?;
    saved(call)?;
    call.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(call: &mut Call<'_>) -> CmdResult {
    call.shared.scripting.function_delete(call.arg(2)).map_err(frame_error)?;
    saved(call)?;
    call.out.ok();
    Ok(())
}

fn function_flush(call: &mut Call<'_>) -> CmdResult {
    flush_mode(call, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    call.shared.scripting.function_flush();
    saved(call)?;
    call.out.ok();
    Ok(())
}

fn function_list(call: &mut Call<'_>) -> CmdResult {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 2;
    while i < call.argc() {
        if call.arg_is(i, "withcode") && !with_code {
            with_code = true;
        } else if call.arg_is(i, "libraryname") && pattern.is_none() {
            if i + 1 >= call.argc() {
                return Err(err("ERR library name argument was not given"));
            }
            pattern = Some(call.args.get(i + 1));
            i += 1;
        } else {
            return Err(CmdError::Msg(format!("ERR Unknown argument {}", super::printable(call.arg(i), 128))));
        }
        i += 1;
    }
    let resp = resp_of(call.out.protocol());
    let listed = |name: &str| pattern.is_none_or(|p| gyre_engine::glob::glob_match(p, name.as_bytes(), true));
    let list = call.shared.scripting.function_list(&listed, with_code, resp);
    write_frame(&mut call.out, &list);
    Ok(())
}

fn function_dump(call: &mut Call<'_>) -> CmdResult {
    let payload = call.shared.scripting.function_dump();
    call.out.bulk(&payload);
    Ok(())
}

fn function_restore(call: &mut Call<'_>) -> CmdResult {
    let policy = match call.argc() {
        3 => RestorePolicy::Append,
        4 if call.arg_is(3, "flush") => RestorePolicy::Flush,
        4 if call.arg_is(3, "append") => RestorePolicy::Append,
        4 if call.arg_is(3, "replace") => RestorePolicy::Replace,
        4 => return Err(err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")),
        _ => return Err(err(errors::SYNTAX)),
    };
    call.shared.scripting.function_restore(call.arg(2), policy).map_err(frame_error)?;
    saved(call)?;
    call.out.ok();
    Ok(())
}

fn function_stats(call: &mut Call<'_>) -> CmdResult {
    let stats = call.shared.scripting.function_stats(resp_of(call.out.protocol()));
    write_frame(&mut call.out, &stats);
    Ok(())
}

fn function_kill(call: &mut Call<'_>) -> CmdResult {
    call.shared.scripting.kill(KillCommand::Function).map_err(frame_error)?;
    call.out.ok();
    Ok(())
}

fn function_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "FUNCTION", FUNCTION_SUBS);
    Ok(())
}
