//! CLIENT subcommands.

use std::sync::Arc;

use super::errors::SYNTAX;
use super::flags::*;
use super::introspect::help_reply;
use super::{err, Call, CmdError, CmdResult, CommandSpec, Group};
use crate::client::{ClientInfo, ReplyMode};

macro_rules! sub {
    ($name:literal, $arity:expr, $flags:expr, $summary:literal, $syntax:literal, $handler:expr) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            numkeys_at: 0,
            group: Group::Connection,
            since: "2.4.0",
            summary: $summary,
            syntax: $syntax,
            handler: $handler,
            subcommands: &[],
            stats: {
                static ROW: crate::stats::Row = crate::stats::Row::new();
                &ROW
            },
        }
    };
}
pub(crate) use sub;

pub static SUBCOMMANDS: &[CommandSpec] = &[
    sub!(
        "pause",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Suspends commands processing.",
        "timeout [WRITE | ALL]",
        pause
    ),
    sub!(
        "unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE | UNPAUSES,
        "Resumes processing commands from paused clients.",
        "",
        unpause
    ),
    sub!("id", 2, NOSCRIPT | LOADING | STALE, "Returns the unique client ID of the connection.", "", id),
    sub!("setname", 3, NOSCRIPT | LOADING | STALE, "Sets the connection name.", "connection-name", setname),
    sub!("getname", 2, NOSCRIPT | LOADING | STALE, "Returns the name of the connection.", "", getname),
    sub!(
        "list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Lists open connections.",
        "[TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]]",
        list
    ),
    sub!("info", 2, NOSCRIPT | LOADING | STALE, "Returns information about the connection.", "", info),
    sub!(
        "kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Terminates open connections.",
        "ip:port | [ID client-id] [ADDR ip:port] [LADDR ip:port] [USER username] [SKIPME yes | no] [MAXAGE maxage]",
        kill
    ),
    sub!(
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Sets the client eviction mode of the connection.",
        "ON | OFF",
        no_evict
    ),
    sub!(
        "no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "ON | OFF",
        no_touch
    ),
    sub!(
        "setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        "Sets information specific to the client or connection.",
        "LIB-NAME libname | LIB-VER libver",
        setinfo
    ),
    sub!(
        "reply",
        3,
        NOSCRIPT | LOADING | STALE,
        "Instructs the server whether to reply to commands.",
        "ON | OFF | SKIP",
        reply
    ),
    sub!(
        "unblock",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Unblocks a client blocked by a blocking command from a different connection.",
        "client-id [TIMEOUT | ERROR]",
        unblock
    ),
    CommandSpec {
        since: "6.0.0",
        ..sub!(
            "tracking",
            -3,
            NOSCRIPT | LOADING | STALE,
            "Controls server-assisted client-side caching for the connection.",
            "<ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
            super::tracking::tracking
        )
    },
    CommandSpec {
        since: "6.0.0",
        ..sub!(
            "caching",
            3,
            NOSCRIPT | LOADING | STALE | KEEPS_CACHING,
            "Instructs the server whether to track the keys in the next request.",
            "<YES | NO>",
            super::tracking::caching
        )
    },
    CommandSpec {
        since: "6.0.0",
        ..sub!(
            "getredir",
            2,
            NOSCRIPT | LOADING | STALE,
            "Returns the client ID to which the connection's tracking notifications are redirected.",
            "",
            super::tracking::getredir
        )
    },
    CommandSpec {
        since: "6.2.0",
        ..sub!(
            "trackinginfo",
            2,
            NOSCRIPT | LOADING | STALE,
            "Returns information about server-assisted client-side caching for the connection.",
            "",
            super::tracking::trackinginfo
        )
    },
    sub!("help", 2, LOADING | STALE, "Returns helpful text about the different subcommands.", "", help),
];

/// Client names and library info may not contain spaces or special characters
/// (they appear in CLIENT LIST's space-separated fields).
pub fn validate_name(name: &[u8], what: &str) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Msg(format!("ERR {what} cannot contain spaces, newlines or special characters.")));
    }
    Ok(())
}

fn id(call: &mut Call<'_>) -> CmdResult {
    call.out.integer(call.client.info.id as i64);
    Ok(())
}

fn setname(call: &mut Call<'_>) -> CmdResult {
    let name = call.arg(2);
    validate_name(name, "Client names")?;
    *call.client.info.name.lock() = if name.is_empty() { None } else { Some(name.to_vec()) };
    call.out.ok();
    Ok(())
}

fn getname(call: &mut Call<'_>) -> CmdResult {
    let name = call.client.info.name.lock().clone();
    match name {
        Some(n) => call.out.bulk(&n),
        None => call.out.null(),
    }
    Ok(())
}

fn write_lines(call: &mut Call<'_>, clients: &[Arc<ClientInfo>]) {
    call.client.publish();
    let mut text = String::new();
    for c in clients {
        text.push_str(&c.describe());
        text.push('\n');
    }
    call.out.verbatim(b"txt", text.as_bytes());
}

fn list(call: &mut Call<'_>) -> CmdResult {
    let mut clients = call.shared.clients.all();
    let mut i = 2;
    while i < call.argc() {
        if call.arg_is(i, "TYPE") && i + 1 < call.argc() {
            let t = call.arg(i + 1).to_ascii_lowercase();
            match t.as_slice() {
                b"normal" => {}
                b"master" | b"replica" | b"slave" | b"pubsub" => clients.clear(),
                _ => return Err(CmdError::Msg(format!("ERR Unknown client type '{}'", super::printable(&t, 64)))),
            }
            i += 2;
        } else if call.arg_is(i, "ID") && i + 1 < call.argc() {
            let mut ids = Vec::new();
            for j in i + 1..call.argc() {
                let id =
                    gyre_engine::num::parse_i64(call.arg(j)).filter(|&n| n > 0).ok_or(err("ERR Invalid client ID"))?;
                ids.push(id as u64);
            }
            clients.retain(|c| ids.contains(&c.id));
            i = call.argc();
        } else {
            return Err(err(SYNTAX));
        }
    }
    write_lines(call, &clients);
    Ok(())
}

fn info(call: &mut Call<'_>) -> CmdResult {
    let me = call.client.info.clone();
    write_lines(call, &[me]);
    Ok(())
}

/// CLIENT KILL filters (new form).
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<Vec<u8>>,
    skip_me: bool,
    max_age_s: Option<u64>,
}

impl KillFilter {
    fn matches(&self, c: &ClientInfo, me: u64) -> bool {
        self.id.is_none_or(|id| c.id == id)
            && self.addr.as_deref().is_none_or(|a| c.addr.to_string() == a)
            && self.laddr.as_deref().is_none_or(|a| c.laddr.to_string() == a)
            && self.user.as_deref().is_none_or(|u| u == c.user.lock().as_bytes())
            && self.max_age_s.is_none_or(|m| c.created.elapsed().as_secs() >= m)
            && !(self.skip_me && c.id == me)
    }
}

fn parse_kill_filter(call: &Call<'_>) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter { skip_me: true, ..KillFilter::default() };
    let mut i = 2;
    while i < call.argc() {
        if i + 1 >= call.argc() {
            return Err(err(SYNTAX));
        }
        let v = call.arg(i + 1);
        let text = String::from_utf8_lossy(v).into_owned();
        match call.arg(i).to_ascii_uppercase().as_slice() {
            b"ID" => {
                f.id = Some(
                    gyre_engine::num::parse_i64(v)
                        .filter(|&n| n > 0)
                        .ok_or(err("ERR client-id should be greater than 0"))? as u64,
                )
            }
            b"ADDR" => f.addr = Some(text),
            b"LADDR" => f.laddr = Some(text),
            b"USER" => f.user = Some(v.to_vec()),
            b"MAXAGE" => f.max_age_s = Some(gyre_engine::num::parse_u64(v).ok_or(err(SYNTAX))?),
            b"TYPE" => {
                if !matches!(text.to_ascii_lowercase().as_str(), "normal" | "master" | "replica" | "slave" | "pubsub") {
                    return Err(CmdError::Msg(format!("ERR Unknown client type '{text}'")));
                }
                if text.eq_ignore_ascii_case("normal") {
                } else {
                    f.id = Some(0); // matches nobody: Gyre has no such clients yet
                }
            }
            b"SKIPME" => {
                f.skip_me = match text.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(err(SYNTAX)),
                }
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 2;
    }
    Ok(f)
}

fn kill_clients(call: &mut Call<'_>, victims: Vec<Arc<ClientInfo>>) -> usize {
    let me = call.client.info.id;
    for v in &victims {
        if v.id == me {
            // Reply first, then close (Redis closes the caller after the reply).
            call.client.close_after_reply = true;
        } else {
            v.kill();
            // Gone from CLIENT LIST once KILL has answered, not only once its
            // task has wound down.
            call.shared.clients.remove(v.id);
        }
    }
    victims.len()
}

fn kill(call: &mut Call<'_>) -> CmdResult {
    let me = call.client.info.id;
    if call.argc() == 3 {
        // Old form: CLIENT KILL ip:port.
        let addr = String::from_utf8_lossy(call.arg(2)).into_owned();
        let victims: Vec<_> = call.shared.clients.all().into_iter().filter(|c| c.addr.to_string() == addr).collect();
        if victims.is_empty() {
            return Err(err("ERR No such client"));
        }
        kill_clients(call, victims);
        call.out.ok();
        return Ok(());
    }
    let filter = parse_kill_filter(call)?;
    let victims: Vec<_> = call.shared.clients.all().into_iter().filter(|c| filter.matches(c, me)).collect();
    let n = kill_clients(call, victims);
    call.out.integer(n as i64);
    Ok(())
}

fn on_off(call: &Call<'_>, i: usize) -> Result<bool, CmdError> {
    if call.arg_is(i, "ON") {
        Ok(true)
    } else if call.arg_is(i, "OFF") {
        Ok(false)
    } else {
        Err(err(SYNTAX))
    }
}

fn no_evict(call: &mut Call<'_>) -> CmdResult {
    call.client.no_evict = on_off(call, 2)?;
    call.out.ok();
    Ok(())
}

fn no_touch(call: &mut Call<'_>) -> CmdResult {
    call.client.no_touch = on_off(call, 2)?;
    call.out.ok();
    Ok(())
}

fn setinfo(call: &mut Call<'_>) -> CmdResult {
    let value = call.arg(3);
    let slot = if call.arg_is(2, "LIB-NAME") {
        validate_name(value, "lib-name")?;
        &call.client.info.lib_name
    } else if call.arg_is(2, "LIB-VER") {
        validate_name(value, "lib-ver")?;
        &call.client.info.lib_ver
    } else {
        return Err(CmdError::Msg(format!("ERR Unrecognized option '{}'", super::printable(call.arg(2), 128))));
    };
    *slot.lock() = if value.is_empty() { None } else { Some(value.to_vec()) };
    call.out.ok();
    Ok(())
}

fn reply(call: &mut Call<'_>) -> CmdResult {
    if call.arg_is(2, "ON") {
        call.client.reply = ReplyMode::On;
        call.out.ok();
    } else if call.arg_is(2, "OFF") {
        call.client.reply = ReplyMode::Off;
    } else if call.arg_is(2, "SKIP") {
        // CLIENT REPLY SKIP itself has no reply; the next command's is dropped.
        call.client.reply = ReplyMode::SkipNext;
    } else {
        return Err(err(SYNTAX));
    }
    Ok(())
}

fn unblock(call: &mut Call<'_>) -> CmdResult {
    let id = call.int_arg(2)?;
    let error = match call.argc() {
        3 => false,
        4 if call.arg_is(3, "TIMEOUT") => false,
        4 if call.arg_is(3, "ERROR") => true,
        4 => return Err(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
        _ => return Err(err(SYNTAX)),
    };
    let done = u64::try_from(id).is_ok_and(|id| call.shared.blocking.unblock_client(id, error));
    call.out.integer(i64::from(done));
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE | ALL] (see `crate::pause`).
fn pause(call: &mut Call<'_>) -> CmdResult {
    let ms = gyre_engine::num::parse_i64(call.arg(2)).ok_or(err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    let all = match call.argc() {
        3 => true,
        4 if call.arg_is(3, "all") => true,
        4 if call.arg_is(3, "write") => false,
        4 => return Err(err("ERR CLIENT PAUSE mode must be WRITE or ALL")),
        _ => return Err(err(SYNTAX)),
    };
    let now = call.shared.now_ms();
    call.shared.pause.pause(now.saturating_add(ms as u64), all, now);
    call.out.ok();
    Ok(())
}

fn unpause(call: &mut Call<'_>) -> CmdResult {
    call.shared.pause.unpause();
    call.out.ok();
    Ok(())
}

fn help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "CLIENT", SUBCOMMANDS);
    Ok(())
}
