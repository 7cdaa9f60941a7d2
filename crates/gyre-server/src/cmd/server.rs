//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, and TIME.

use gyre_resp::Protocol;

use super::errors::SYNTAX;
use super::{client::validate_name, err, Call, CmdError, CmdResult};

/// The Redis version Gyre reports, so clients enable Redis 7.2 features.
pub const REDIS_VERSION: &str = "7.2.4";

pub fn ping(call: &mut Call<'_>) -> CmdResult {
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
    // RESET answers in the protocol the connection is reset to.
    call.out.simple(b"RESET");
    Ok(())
}

/// Without a configured password the default user accepts any password, as in
/// Redis; any other user name is unknown.
fn check_credentials(user: &[u8], _password: &[u8]) -> CmdResult {
    if user.eq_ignore_ascii_case(b"default") {
        Ok(())
    } else {
        Err(err("WRONGPASS invalid username-password pair or user is disabled."))
    }
}

pub fn auth(call: &mut Call<'_>) -> CmdResult {
    match call.argc() {
        2 => Err(err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")),
        3 => {
            check_credentials(call.arg(1), call.arg(2))?;
            call.out.ok();
            Ok(())
        }
        _ => Err(err(SYNTAX)),
    }
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
    let mut i = 2;
    while i < call.argc() {
        let more = call.argc() - i - 1;
        if call.arg_is(i, "AUTH") && more >= 2 {
            check_credentials(call.arg(i + 1), call.arg(i + 2))?;
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
    if let Some(n) = name {
        *call.client.info.name.lock() = if n.is_empty() { None } else { Some(n) };
    }
    call.client.proto = proto;
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

pub fn time(call: &mut Call<'_>) -> CmdResult {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    call.out.array(2);
    call.out.bulk_int(now.as_secs() as i64);
    call.out.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}
