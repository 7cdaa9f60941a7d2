//! AUTH and the ACL subcommands, answered from `crate::acl`.

use super::client::sub;
use super::errors::SYNTAX;
use super::flags::*;
use super::introspect::help_reply;
use super::{err, Call, CmdError, CmdResult, CommandSpec, Group};
use crate::acl;

macro_rules! acl_sub {
    ($name:literal, $arity:expr, $flags:expr, $since:literal, $summary:literal, $syntax:literal, $handler:expr) => {
        CommandSpec { group: Group::Server, since: $since, ..sub!($name, $arity, $flags, $summary, $syntax, $handler) }
    };
}

const ADMIN_FLAGS: u64 = ADMIN | NOSCRIPT | LOADING | STALE;

pub static SUBCOMMANDS: &[CommandSpec] = &[
    acl_sub!(
        "cat",
        -2,
        NOSCRIPT | LOADING | STALE,
        "6.0.0",
        "Lists the ACL categories, or the commands inside a category.",
        "[category]",
        cat
    ),
    acl_sub!(
        "deluser",
        -3,
        ADMIN_FLAGS,
        "6.0.0",
        "Deletes ACL users, and terminates their connections.",
        "username [username ...]",
        deluser
    ),
    acl_sub!(
        "dryrun",
        -4,
        ADMIN_FLAGS,
        "7.0.0",
        "Simulates the execution of a command by a user, without executing the command.",
        "username command [arg [arg ...]]",
        dryrun
    ),
    acl_sub!(
        "genpass",
        -2,
        NOSCRIPT | LOADING | STALE,
        "6.0.0",
        "Generates a pseudorandom, secure password that can be used to identify ACL users.",
        "[bits]",
        genpass
    ),
    acl_sub!("getuser", 3, ADMIN_FLAGS, "6.0.0", "Lists the ACL rules of a user.", "username", getuser),
    acl_sub!("list", 2, ADMIN_FLAGS, "6.0.0", "Dumps the effective rules in ACL file format.", "", list),
    acl_sub!("load", 2, ADMIN_FLAGS, "6.0.0", "Reloads the rules from the configured ACL file.", "", load),
    acl_sub!(
        "log",
        -2,
        ADMIN_FLAGS,
        "6.0.0",
        "Lists recent security events generated due to commands rejected by ACL rules.",
        "[count | RESET]",
        log
    ),
    acl_sub!("save", 2, ADMIN_FLAGS, "6.0.0", "Saves the effective ACL rules in the configured ACL file.", "", save),
    acl_sub!(
        "setuser",
        -3,
        ADMIN_FLAGS,
        "6.0.0",
        "Creates and modifies an ACL user and its rules.",
        "username [rule [rule ...]]",
        setuser
    ),
    acl_sub!("users", 2, ADMIN_FLAGS, "6.0.0", "Lists all ACL users.", "", users),
    acl_sub!(
        "whoami",
        2,
        NOSCRIPT | LOADING | STALE,
        "6.0.0",
        "Returns the authenticated username of the current connection.",
        "",
        whoami
    ),
    acl_sub!("help", 2, LOADING | STALE, "6.0.0", "Returns helpful text about the different subcommands.", "", help),
];

/// AUTH [username] password.
pub fn auth(call: &mut Call<'_>) -> CmdResult {
    let (name, password): (&[u8], &[u8]) = match call.argc() {
        2 => {
            if call.shared.acl.default_user().nopass {
                return Err(err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (b"default", call.args.get(1))
        }
        3 => (call.args.get(1), call.args.get(2)),
        _ => return Err(err(SYNTAX)),
    };
    acl::authenticate(call.shared, call.client, name, password)?;
    call.out.ok();
    Ok(())
}

fn user_name(call: &Call<'_>, i: usize) -> Result<String, CmdError> {
    acl::valid_user_name(call.arg(i)).map(str::to_string).map_err(|why| CmdError::Msg(format!("ERR {why}")))
}

fn setuser(call: &mut Call<'_>) -> CmdResult {
    let name = user_name(call, 2)?;
    let rules: Vec<&[u8]> = (3..call.argc()).map(|i| call.args.get(i)).collect();
    call.shared.acl.set_user(&name, &rules).map_err(|why| CmdError::Msg(format!("ERR {why}")))?;
    call.out.ok();
    Ok(())
}

fn getuser(call: &mut Call<'_>) -> CmdResult {
    let Some(u) = std::str::from_utf8(call.arg(2)).ok().and_then(|n| call.shared.acl.get(n)) else {
        call.out.null();
        return Ok(());
    };
    let out = &mut call.out;
    out.map(6);
    out.bulk(b"flags");
    let mut flags = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        flags.push("nopass");
    }
    flags.push(u.payload.flag());
    out.array(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    let hashes = u.password_hashes();
    out.array(hashes.len());
    for h in hashes {
        out.bulk(h.as_bytes());
    }
    out.bulk(b"commands");
    out.bulk(u.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(u.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(u.describe_channels().as_bytes());
    out.bulk(b"selectors");
    out.array(0);
    Ok(())
}

fn deluser(call: &mut Call<'_>) -> CmdResult {
    let names: Vec<String> =
        (2..call.argc()).filter_map(|i| std::str::from_utf8(call.arg(i)).ok().map(String::from)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let deleted = call.shared.acl.delete(&refs).map_err(|why| CmdError::Msg(format!("ERR {why}")))?;
    disconnect_users(call, &deleted);
    call.out.integer(deleted.len() as i64);
    Ok(())
}

/// Closes the connections authenticated as `names` (this one after its reply).
fn disconnect_users(call: &mut Call<'_>, names: &[String]) {
    if names.is_empty() {
        return;
    }
    for c in call.shared.clients.all() {
        if names.iter().any(|n| *n == *c.user.lock()) {
            if c.id == call.client.info.id {
                call.client.close_after_reply = true;
            } else {
                c.kill();
            }
        }
    }
}

fn list(call: &mut Call<'_>) -> CmdResult {
    let users = call.shared.acl.users();
    call.out.array(users.len());
    for u in users {
        call.out.bulk(u.describe().as_bytes());
    }
    Ok(())
}

fn users(call: &mut Call<'_>) -> CmdResult {
    let users = call.shared.acl.users();
    call.out.array(users.len());
    for u in users {
        call.out.bulk(u.name.as_bytes());
    }
    Ok(())
}

fn whoami(call: &mut Call<'_>) -> CmdResult {
    let name = call.client.auth.user_name().to_string();
    call.out.bulk(name.as_bytes());
    Ok(())
}

fn cat(call: &mut Call<'_>) -> CmdResult {
    if call.argc() > 3 {
        return Err(super::arity_error("acl|cat"));
    }
    let names: Vec<String> = if call.argc() == 2 {
        acl::CATEGORIES.iter().map(|c| c.to_string()).collect()
    } else {
        let cat = String::from_utf8_lossy(call.arg(2)).to_ascii_lowercase();
        acl::commands_in(&cat)
            .ok_or_else(|| CmdError::Msg(format!("ERR Unknown category '{}'", super::printable(call.arg(2), 128))))?
    };
    call.out.array(names.len());
    for n in names {
        call.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn genpass(call: &mut Call<'_>) -> CmdResult {
    let bits = match call.argc() {
        2 => 256,
        3 => match gyre_engine::num::parse_i64(call.arg(2)) {
            Some(b @ 1..=4096) => b as usize,
            _ => return Err(err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
        },
        _ => return Err(super::arity_error("acl|genpass")),
    };
    call.out.bulk(acl::genpass(bits).as_bytes());
    Ok(())
}

fn log(call: &mut Call<'_>) -> CmdResult {
    let count = match call.argc() {
        2 => 10,
        3 if call.arg_is(2, "RESET") => {
            call.shared.acl.log_reset();
            call.out.ok();
            return Ok(());
        }
        3 => match gyre_engine::num::parse_i64(call.arg(2)) {
            Some(n) if n >= 0 => n as usize,
            _ => return Err(err("ERR value is out of range, must be positive")),
        },
        _ => return Err(err(SYNTAX)),
    };
    let entries = call.shared.acl.log_entries(count);
    let now = call.shared.now_ms();
    let out = &mut call.out;
    out.array(entries.len());
    for e in entries {
        out.map(10);
        out.bulk(b"count");
        out.integer(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(e.object.as_bytes());
        out.bulk(b"username");
        out.bulk(e.username.as_bytes());
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
        out.bulk(b"entry-id");
        out.integer(e.entry_id as i64);
        out.bulk(b"timestamp-created");
        out.integer(e.created_ms as i64);
        out.bulk(b"timestamp-last-updated");
        out.integer(e.updated_ms as i64);
    }
    Ok(())
}

fn save(call: &mut Call<'_>) -> CmdResult {
    call.shared.acl.save().map_err(|why| CmdError::Msg(format!("ERR {why}")))?;
    call.out.ok();
    Ok(())
}

fn load(call: &mut Call<'_>) -> CmdResult {
    let before: Vec<String> = call.shared.acl.users().iter().map(|u| u.name.clone()).collect();
    call.shared.acl.load().map_err(|why| CmdError::Msg(format!("ERR {why}")))?;
    let gone: Vec<String> = before.into_iter().filter(|n| call.shared.acl.get(n).is_none()).collect();
    disconnect_users(call, &gone);
    call.out.ok();
    Ok(())
}

fn dryrun(call: &mut Call<'_>) -> CmdResult {
    let name = String::from_utf8_lossy(call.arg(2)).into_owned();
    let user = call
        .shared
        .acl
        .get(&name)
        .ok_or_else(|| CmdError::Msg(format!("ERR User '{}' not found", super::printable(call.arg(2), 128))))?;
    let owned = gyre_resp::OwnedArgs::from_slices(call.args.iter().skip(3));
    let rest = owned.args();
    let verdict = acl::dry_run(&user, &rest).map_err(|e| match e {
        CmdError::Msg(m) if m.starts_with("ERR unknown command") => {
            CmdError::Msg(format!("ERR Command '{}' not found", super::printable(rest.get(0), 128)))
        }
        other => other,
    })?;
    match verdict {
        None => call.out.ok(),
        Some(why) => call.out.bulk(why.as_bytes()),
    }
    Ok(())
}

fn help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "ACL", SUBCOMMANDS);
    Ok(())
}
