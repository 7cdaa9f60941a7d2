//! SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT] (see `crate::shutdown`).

use super::errors::SYNTAX;
use super::{err, Call, CmdResult};
use crate::shutdown::{run, Options};

/// Runs holding the execution gate exclusively (taken here, not by the
/// dispatcher: flag NO_GATE), so the commands already running have finished.
/// While a script runs past `busy-reply-threshold`, only SHUTDOWN NOSAVE
/// proceeds, without waiting for it (as in Redis; the script's effects were
/// never acknowledged). Only returns when the shutdown was abandoned or
/// refused. NOW is accepted and changes nothing: Gyre has no replicas to wait
/// for.
pub fn shutdown(call: &mut Call<'_>) -> CmdResult {
    let (mut opts, mut abort, mut now) = (Options::default(), false, false);
    for i in 1..call.argc() {
        let a = call.arg(i);
        if a.eq_ignore_ascii_case(b"NOSAVE") && opts.save.is_none() {
            opts.save = Some(false);
        } else if a.eq_ignore_ascii_case(b"SAVE") && opts.save.is_none() {
            opts.save = Some(true);
        } else if a.eq_ignore_ascii_case(b"NOW") {
            now = true;
        } else if a.eq_ignore_ascii_case(b"FORCE") {
            opts.force = true;
        } else if a.eq_ignore_ascii_case(b"ABORT") {
            abort = true;
        } else {
            return Err(err(SYNTAX));
        }
    }
    if abort {
        if opts.save.is_some() || opts.force || now {
            return Err(err(SYNTAX));
        }
        return Err(err("ERR No shutdown in progress."));
    }
    let shared = call.shared;
    let _gate = match crate::shutdown::stop_the_world(shared, || crate::scripting::busy_error(shared).is_some()) {
        Some(gate) => Some(gate),
        None if opts.save == Some(false) => None,
        None => match crate::scripting::busy_error(shared) {
            Some(busy) => return Err(super::CmdError::Msg(busy)),
            None => return Err(err("ERR Errors trying to SHUTDOWN. Check logs.")),
        },
    };
    match run(shared, opts, "SHUTDOWN") {
        Ok(never) => match never {},
        Err(_) => Err(err("ERR Errors trying to SHUTDOWN. Check logs.")),
    }
}
