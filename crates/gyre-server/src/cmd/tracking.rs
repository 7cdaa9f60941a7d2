//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT TRACKINGINFO
//! (client-side caching; the machinery is in `crate::tracking`). Replies and
//! errors follow Redis 7.2 (`networking.c`, `tracking.c`).

use super::errors::SYNTAX;
use super::{err, Call, CmdError, CmdResult};
use crate::tracking::Options;

/// Two prefixes overlap when one starts the other.
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses CLIENT TRACKING's options (after on|off).
fn parse_options(call: &Call<'_>) -> Result<Options, CmdError> {
    let mut o = Options::default();
    let mut j = 3;
    while j < call.argc() {
        let more = call.argc() - 1 - j;
        if call.arg_is(j, "REDIRECT") && more > 0 {
            j += 1;
            if o.redirect != 0 {
                return Err(err("ERR A client can only redirect to a single other client"));
            }
            let id = call.int_arg(j)?;
            if id <= 0 || !call.shared.clients.all().iter().any(|c| c.id == id as u64) {
                return Err(err("ERR The client ID you want redirect to does not exist"));
            }
            o.redirect = id as u64;
        } else if call.arg_is(j, "BCAST") {
            o.bcast = true;
        } else if call.arg_is(j, "OPTIN") {
            o.optin = true;
        } else if call.arg_is(j, "OPTOUT") {
            o.optout = true;
        } else if call.arg_is(j, "NOLOOP") {
            o.noloop = true;
        } else if call.arg_is(j, "PREFIX") && more > 0 {
            j += 1;
            o.prefixes.push(call.arg(j).to_vec());
        } else {
            return Err(err(SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

pub fn tracking(call: &mut Call<'_>) -> CmdResult {
    let o = parse_options(call)?;
    let id = call.client.info.id;
    if call.arg_is(2, "OFF") {
        call.client.tracking = None;
        call.out.ok();
        return Ok(());
    }
    if !call.arg_is(2, "ON") {
        return Err(err(SYNTAX));
    }
    if !o.bcast && !o.prefixes.is_empty() {
        return Err(err("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    let current = call.shared.tracking.info(id);
    if let Some((bcast, ..)) = current {
        if bcast != o.bcast {
            return Err(err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if o.bcast && (o.optin || o.optout) {
        return Err(err("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if o.optin && o.optout {
        return Err(err("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if let Some((_, optin, optout, ..)) = current {
        if (o.optin && optout) || (o.optout && optin) {
            return Err(err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if o.bcast {
        let existing = current.map(|c| c.7).unwrap_or_default();
        for (i, p) in o.prefixes.iter().enumerate() {
            if let Some(e) = existing.iter().find(|e| overlaps(e, p)) {
                return Err(CmdError::Msg(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(e)
                )));
            }
            if let Some(q) = o.prefixes[i + 1..].iter().find(|q| overlaps(p, q)) {
                return Err(CmdError::Msg(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                )));
            }
        }
    }
    call.shared.tracking.enable(call.shared, call.client, o);
    call.out.ok();
    Ok(())
}

pub fn caching(call: &mut Call<'_>) -> CmdResult {
    let id = call.client.info.id;
    let Some((_, optin, optout, ..)) = call.shared.tracking.info(id) else {
        return Err(err(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if call.arg_is(2, "YES") {
        if !optin {
            return Err(err("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
        }
    } else if call.arg_is(2, "NO") {
        if !optout {
            return Err(err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
        }
    } else {
        return Err(err(SYNTAX));
    }
    call.shared.tracking.set_caching(id);
    call.out.ok();
    Ok(())
}

pub fn getredir(call: &mut Call<'_>) -> CmdResult {
    let redirect = call.shared.tracking.info(call.client.info.id).map_or(-1, |c| c.6 as i64);
    call.out.integer(redirect);
    Ok(())
}

pub fn trackinginfo(call: &mut Call<'_>) -> CmdResult {
    let info = call.shared.tracking.info(call.client.info.id);
    let mut flags: Vec<&str> = Vec::new();
    let (redirect, prefixes) = match &info {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some((bcast, optin, optout, noloop, caching, broken, redirect, prefixes)) => {
            flags.push("on");
            if *bcast {
                flags.push("bcast");
            }
            if *optin {
                flags.push("optin");
                if *caching {
                    flags.push("caching-yes");
                }
            }
            if *optout {
                flags.push("optout");
                if *caching {
                    flags.push("caching-no");
                }
            }
            if *noloop {
                flags.push("noloop");
            }
            if *broken {
                flags.push("broken_redirect");
            }
            (*redirect as i64, prefixes.clone())
        }
    };
    let out = &mut call.out;
    out.map(3);
    out.bulk(b"flags");
    // A set, as Redis answers (an array in RESP2).
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.integer(redirect);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for p in prefixes {
        out.bulk(&p);
    }
    Ok(())
}
