//! XINFO STREAM (with FULL), XINFO GROUPS, XINFO CONSUMERS and XINFO HELP.
//!
//! Read-only: nothing here commits. Limits: XINFO STREAM FULL shows at most
//! COUNT entries and PEL entries per group and consumer (10 by default, 0
//! for all), as Redis does.

use gyre_engine::types::stream::{Group as CGroup, Stream, StreamId, ENTRIES_READ_INVALID};
use gyre_resp::ReplyWriter;

use super::common::{encode_range, id_bytes, int, stream_of};
use super::groups::nogroup;
use super::XINFO_SUBS;
use crate::cmd::data::Data;
use crate::cmd::{err, CmdError, CmdResult};

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

pub(super) fn xinfo_help(call: &mut Data<'_, '_>) -> CmdResult {
    call.help("XINFO", XINFO_SUBS);
    Ok(())
}

fn xinfo_syntax_error(call: &Data<'_, '_>) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        crate::cmd::printable(call.arg(1), 128)
    ))
}

fn write_lag(out: &mut ReplyWriter<'_>, s: &Stream, g: &CGroup) {
    match s.group_lag(g) {
        Some(lag) => out.integer(lag),
        None => out.null(),
    }
}

fn write_entries_read(out: &mut ReplyWriter<'_>, g: &CGroup) {
    if g.entries_read != ENTRIES_READ_INVALID {
        out.integer(g.entries_read);
    } else {
        out.null();
    }
}

pub fn xinfo_consumers(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, group) = (call.now(), call.now_ms(), call.args().get(3));
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(crate::cmd::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let Some(g) = s.group(group) else { return Err(nogroup(key, group)) };
    let out = call.out();
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(4);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.integer(c.pel.len() as i64);
        out.bulk(b"idle");
        out.integer((now_ms as i64 - c.seen_time_ms as i64).max(0));
        out.bulk(b"inactive");
        out.integer(if c.active_time_ms == -1 { -1 } else { now_ms as i64 - c.active_time_ms });
    }
    Ok(())
}

pub fn xinfo_groups(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(crate::cmd::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let out = call.out();
    out.array(s.groups().len());
    for (name, g) in s.groups() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.integer(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.integer(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        out.bulk(&id_bytes(g.last_id));
        out.bulk(b"entries-read");
        write_entries_read(out, g);
        out.bulk(b"lag");
        write_lag(out, s, g);
    }
    Ok(())
}

pub fn xinfo_stream(call: &mut Data<'_, '_>) -> CmdResult {
    let optc = call.argc() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if optc > 0 {
        if (optc != 1 && optc != 3) || !call.arg_is(3, "FULL") {
            return Err(xinfo_syntax_error(call));
        }
        full = true;
        if optc == 3 {
            if !call.arg_is(4, "COUNT") {
                return Err(xinfo_syntax_error(call));
            }
            count = int(call.arg(5))?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let (now, proto) = (call.now(), call.protocol());
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(crate::cmd::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let out = call.out();
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.integer(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.integer(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.integer(s.node_count() as i64 + 1);
    out.bulk(b"last-generated-id");
    out.bulk(&id_bytes(s.last_id));
    out.bulk(b"max-deleted-entry-id");
    out.bulk(&id_bytes(s.max_deleted_id));
    out.bulk(b"entries-added");
    out.integer(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    out.bulk(&id_bytes(s.first_id()));
    if !full {
        out.bulk(b"groups");
        out.integer(s.groups().len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            let (n, buf) = encode_range(proto, s, StreamId::MIN, StreamId::MAX, rev, 1, |_| {});
            if n == 0 {
                out.null();
            } else {
                out.raw(&buf);
            }
        }
        return Ok(());
    }
    let limit = count as usize;
    out.bulk(b"entries");
    let (n, buf) = encode_range(proto, s, StreamId::MIN, StreamId::MAX, false, limit, |_| {});
    out.array(n);
    out.raw(&buf);
    out.bulk(b"groups");
    out.array(s.groups().len());
    let take = |len: usize| if limit == 0 { len } else { len.min(limit) };
    for (name, g) in s.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        out.bulk(&id_bytes(g.last_id));
        out.bulk(b"entries-read");
        write_entries_read(out, g);
        out.bulk(b"lag");
        write_lag(out, s, g);
        out.bulk(b"pel-count");
        out.integer(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(take(g.pel.len()));
        for (id, nack) in g.pel.iter().take(take(g.pel.len())) {
            out.array(4);
            out.bulk(&id_bytes(*id));
            out.bulk(&nack.consumer);
            out.integer(nack.delivery_time_ms as i64);
            out.integer(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(5);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.integer(c.seen_time_ms as i64);
            out.bulk(b"active-time");
            out.integer(c.active_time_ms);
            out.bulk(b"pel-count");
            out.integer(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(take(c.pel.len()));
            for id in c.pel.iter().take(take(c.pel.len())) {
                let nack = g.pel.get(id).expect("a consumer's pending entry is in its group's PEL");
                out.array(3);
                out.bulk(&id_bytes(*id));
                out.integer(nack.delivery_time_ms as i64);
                out.integer(nack.delivery_count as i64);
            }
        }
    }
    Ok(())
}
