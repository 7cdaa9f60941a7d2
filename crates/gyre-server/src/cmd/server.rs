//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, and TIME.

use gyre_resp::Protocol;

use super::errors::SYNTAX;
use super::{client::validate_name, err, Call, CmdError, CmdResult};

/// The Redis version Gyre reports, so clients enable Redis 7.2 features.
pub const REDIS_VERSION: &str = "7.2.4";

pub fn ping(call: &mut Call<'_>) -> CmdResult {
    // A subscribed RESP2 connection gets PING's answer as a message-shaped array.
    if call.client.proto == gyre_resp::Protocol::Resp2 && call.client.subscribed() {
        let msg = if call.argc() > 1 { call.args.get(1) } else { b"" };
        call.out.array(2);
        call.out.bulk(b"pong");
        call.out.bulk(msg);
        return Ok(());
    }
    match call.argc() {
        1 => call.out.simple(b"PONG"),
        2 => {
            let msg = call.args.get(1);
            call.out.bulk(msg)
        }
        _ => return Err(super::arity_error("ping")),
    }
    Ok(())
}

pub fn echo(call: &mut Call<'_>) -> CmdResult {
    let msg = call.args.get(1);
    call.out.bulk(msg);
    Ok(())
}

pub fn quit(call: &mut Call<'_>) -> CmdResult {
    call.out.ok();
    call.client.close_after_reply = true;
    Ok(())
}

pub fn reset(call: &mut Call<'_>) -> CmdResult {
    call.client.reset();
    crate::acl::reset_client(call.shared, call.client);
    // RESET answers in the protocol the connection is reset to.
    call.out.simple(b"RESET");
    Ok(())
}

pub fn hello(call: &mut Call<'_>) -> CmdResult {
    let mut proto = call.client.proto;
    if call.argc() >= 2 {
        proto = match gyre_engine::num::parse_i64(call.arg(1)) {
            None => return Err(err("ERR Protocol version is not an integer or out of range")),
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return Err(err("NOPROTO unsupported protocol version")),
        };
    }
    let mut name: Option<Vec<u8>> = None;
    let mut auth: Option<(usize, usize)> = None;
    let mut i = 2;
    while i < call.argc() {
        let more = call.argc() - i - 1;
        if call.arg_is(i, "AUTH") && more >= 2 {
            auth = Some((i + 1, i + 2));
            i += 3;
        } else if call.arg_is(i, "SETNAME") && more >= 1 {
            validate_name(call.arg(i + 1), "Client names")?;
            name = Some(call.arg(i + 1).to_vec());
            i += 2;
        } else {
            return Err(CmdError::Msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                super::printable(call.arg(i), 128)
            )));
        }
    }
    match auth {
        Some((user, pass)) => {
            let (user, pass) = (call.args.get(user), call.args.get(pass));
            crate::acl::authenticate(call.shared, call.client, user, pass)?;
        }
        None if !call.client.auth.authenticated => return Err(err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")),
        None => {}
    }
    if let Some(n) = name {
        *call.client.info.name.lock() = if n.is_empty() { None } else { Some(n) };
    }
    call.client.proto = proto;
    if let Some(sub) = &call.client.pubsub {
        sub.sub.set_protocol(proto);
    }
    // The reply is already in the protocol just negotiated.
    call.out.set_protocol(proto);
    write_hello_map(&mut call.out, call.client.info.id, proto);
    call.client.publish();
    Ok(())
}

fn write_hello_map(out: &mut gyre_resp::ReplyWriter<'_>, id: u64, proto: Protocol) {
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.integer(if proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.integer(id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

fn retention(call: &Call<'_>) -> usize {
    call.shared.config.settings().snapshot_retention
}

fn require_persistence(call: &Call<'_>) -> CmdResult {
    if call.shared.persistence.wal.is_none() {
        return Err(err("ERR persistence is off (appendonly no): there is no data directory state to save"));
    }
    Ok(())
}

/// SAVE: a snapshot in the foreground (this connection waits; others go on).
pub fn save(call: &mut Call<'_>) -> CmdResult {
    require_persistence(call)?;
    call.shared.persistence.snapshot_now(&call.shared.ks, retention(call)).map_err(CmdError::Msg)?;
    call.out.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE] and BGREWRITEAOF: a snapshot (which also compacts the
/// log) on a background thread.
fn start_background_snapshot(call: &mut Call<'_>, started: &[u8]) -> CmdResult {
    require_persistence(call)?;
    let p = &call.shared.persistence;
    if p.snapshot_running.load(std::sync::atomic::Ordering::Acquire) {
        if call.argc() == 2 && call.arg_is(1, "SCHEDULE") {
            call.shared.snapshot_requested.store(true, std::sync::atomic::Ordering::Release);
            call.out.simple(b"Background saving scheduled");
            return Ok(());
        }
        return Err(err("ERR Background save already in progress"));
    }
    call.shared.snapshot_requested.store(true, std::sync::atomic::Ordering::Release);
    call.out.simple(started);
    Ok(())
}

pub fn bgsave(call: &mut Call<'_>) -> CmdResult {
    if call.argc() > 2 || (call.argc() == 2 && !call.arg_is(1, "SCHEDULE")) {
        return Err(err(SYNTAX));
    }
    start_background_snapshot(call, b"Background saving started")
}

pub fn bgrewriteaof(call: &mut Call<'_>) -> CmdResult {
    start_background_snapshot(call, b"Background append only file rewriting started")
}

pub fn lastsave(call: &mut Call<'_>) -> CmdResult {
    let ms = call.shared.persistence.snapshot.lock().last_save_unix_ms;
    call.out.integer((ms / 1000) as i64);
    Ok(())
}

pub fn time(call: &mut Call<'_>) -> CmdResult {
    let now_us = call.shared.runtime.now_us();
    call.out.array(2);
    call.out.bulk_int((now_us / 1_000_000) as i64);
    call.out.bulk_int((now_us % 1_000_000) as i64);
    Ok(())
}
