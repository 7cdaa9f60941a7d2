//! Consumer groups: XGROUP's subcommands, XACK, XPENDING, XCLAIM and
//! XAUTOCLAIM.
//!
//! Invariant: claims commit each claimed entry's delivery time and count, so
//! replaying the log gives the same PELs. XGROUP DESTROY signals the key so
//! that XREADGROUP waiters on the group wake with an error. Replies and
//! errors follow Redis 7.2 (`t_stream.c`).

use gyre_engine::types::stream::{Group as CGroup, Stream, StreamId, StreamOp, ENTRIES_READ_INVALID};
use gyre_engine::Entry;
use gyre_resp::ReplyWriter;

use super::common::{commit, id_bytes, int, parse_id, parse_strict, range_end, range_start, stream_of, write_entry};
use super::XGROUP_SUBS;
use crate::cmd::data::Data;
use crate::cmd::errors::SYNTAX;
use crate::cmd::{err, CmdError, CmdResult};

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn subcommand_syntax_error(call: &Data<'_, '_>) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        crate::cmd::printable(call.arg(1), 128)
    ))
}

/// XGROUP's options after the ID: MKSTREAM (CREATE) and ENTRIESREAD.
fn parse_group_opts(call: &Data<'_, '_>, create: bool) -> Result<(bool, i64), CmdError> {
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_INVALID);
    let mut i = 5;
    while i < call.argc() {
        if create && call.arg_is(i, "MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if call.arg_is(i, "ENTRIESREAD") && i + 1 < call.argc() {
            entries_read = int(call.arg(i + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(call));
        }
    }
    Ok((mkstream, entries_read))
}

const XGROUP_NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

pub(super) fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// Looks up the stream of XGROUP's key and the group; the errors Redis gives
/// when either is missing (`need_group`: SETID, CREATECONSUMER, DELCONSUMER).
fn group_target<'s>(
    e: Option<&'s mut Entry>,
    key: &[u8],
    group: &[u8],
    need_group: bool,
) -> Result<(&'s Stream, Option<&'s CGroup>), CmdError> {
    let Some(e) = e else { return Err(err(XGROUP_NEEDS_KEY)) };
    let s = stream_of(e)?;
    let g = s.group(group);
    if need_group && g.is_none() {
        return Err(nogroup(key, group));
    }
    Ok((s, g))
}

pub fn xgroup_create(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() > 8 {
        return Err(subcommand_syntax_error(call));
    }
    let (mkstream, entries_read) = parse_group_opts(call, true)?;
    let (now, args) = (call.now(), call.args());
    let (group, id_arg) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let last_id = {
        let e = shard.get(slot, key, now);
        let s = match e {
            None if mkstream => None,
            e => Some(group_target(e, key, group, false)?),
        };
        let id = if id_arg == b"$" { s.map_or(StreamId::MIN, |(s, _)| s.last_id) } else { parse_strict(id_arg)? };
        if s.is_some_and(|(_, g)| g.is_some()) {
            return Err(err("BUSYGROUP Consumer Group name already exists"));
        }
        id
    };
    commit(call, &mut shard, key, StreamOp::GroupCreate { group, last_id, entries_read });
    drop(shard);
    call.out().ok();
    Ok(())
}

pub fn xgroup_setid(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() != 5 && call.argc() != 7 {
        return Err(subcommand_syntax_error(call));
    }
    let (_, entries_read) = parse_group_opts(call, false)?;
    let (now, args) = (call.now(), call.args());
    let (group, id_arg) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let last_id = {
        let (s, _) = group_target(shard.get(slot, key, now), key, group, true)?;
        if id_arg == b"$" {
            s.last_id
        } else {
            parse_id(id_arg, 0, false)?
        }
    };
    commit(call, &mut shard, key, StreamOp::GroupSetId { group, last_id, entries_read });
    drop(shard);
    call.out().ok();
    Ok(())
}

pub fn xgroup_destroy(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, group) = (call.now(), call.args().get(3));
    let (key, slot, mut shard) = call.lock_key(2);
    let exists = group_target(shard.get(slot, key, now), key, group, false)?.1.is_some();
    if exists {
        commit(call, &mut shard, key, StreamOp::GroupDestroy { group });
    }
    drop(shard);
    call.out().integer(i64::from(exists));
    if exists {
        // XREADGROUP waiters on this group answer NOGROUP.
        call.signal_ready(key);
    }
    Ok(())
}

pub fn xgroup_createconsumer(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let (group, consumer) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let created = {
        let (_, g) = group_target(shard.get(slot, key, now), key, group, true)?;
        !g.expect("required").consumers.contains_key(consumer)
    };
    if created {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    drop(shard);
    call.out().integer(i64::from(created));
    Ok(())
}

pub fn xgroup_delconsumer(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let (group, consumer) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let pending = {
        let (_, g) = group_target(shard.get(slot, key, now), key, group, true)?;
        g.expect("required").consumers.get(consumer).map(|c| c.pel.len())
    };
    if pending.is_some() {
        commit(call, &mut shard, key, StreamOp::ConsumerDelete { group, consumer });
    }
    drop(shard);
    call.out().integer(pending.unwrap_or(0) as i64);
    Ok(())
}

pub(super) fn xgroup_help(call: &mut Data<'_, '_>) -> CmdResult {
    call.help("XGROUP", XGROUP_SUBS);
    Ok(())
}

// ---------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------

pub fn xack(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let group = args.get(2);
    let (key, slot, mut shard) = call.lock_key(1);
    let ids = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => stream_of(e)?.group(group),
        };
        let Some(g) = g else {
            drop(shard);
            call.out().integer(0);
            return Ok(());
        };
        let ids = (3..args.len()).map(|i| parse_strict(args.get(i))).collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::BTreeSet::new();
        ids.into_iter().filter(|id| g.pel.contains_key(id) && seen.insert(*id)).collect::<Vec<_>>()
    };
    let n = ids.len();
    if n > 0 {
        commit(call, &mut shard, key, StreamOp::Ack { group, ids });
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xpending(call: &mut Data<'_, '_>) -> CmdResult {
    let argc = call.argc();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(err(SYNTAX));
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if call.arg_is(3, "IDLE") {
            min_idle = int(call.arg(4))?;
            if argc < 8 {
                return Err(err(SYNTAX));
            }
            at += 2;
        }
        let count = int(call.arg(at + 2))?.max(0) as usize;
        let start = range_start(call.arg(at))?;
        let end = range_end(call.arg(at + 1))?;
        let args = call.args();
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((min_idle, start, end, count, consumer));
    }
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let group = args.get(2);
    let (key, slot, mut shard) = call.lock_key(1);
    let g = match shard.get_read(slot, key, now) {
        None => None,
        Some(e) => stream_of(e)?.group(group),
    };
    let Some(g) = g else {
        return Err(CmdError::Msg(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        )));
    };
    let out = call.out();
    let Some((min_idle, start, end, count, consumer)) = range else {
        out.array(4);
        out.integer(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                out.bulk(&id_bytes(*first));
                out.bulk(&id_bytes(*last));
                let busy: Vec<_> = g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).collect();
                out.array(busy.len());
                for (name, c) in busy {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            None => Vec::new(),
            Some(c) => c.pel.range(start..).take_while(|id| **id <= end).copied().collect(),
        },
        None => g.pel.range(start..).take_while(|(id, _)| **id <= end).map(|(id, _)| *id).collect(),
    };
    let rows: Vec<_> = ids
        .iter()
        .filter_map(|id| g.pel.get(id).map(|n| (id, n)))
        .filter(|(_, n)| min_idle == 0 || (now_ms as i64 - n.delivery_time_ms as i64) >= min_idle)
        .take(count)
        .collect();
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        out.bulk(&id_bytes(*id));
        out.bulk(&n.consumer);
        out.integer((now_ms as i64 - n.delivery_time_ms as i64).max(0));
        out.integer(n.delivery_count as i64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------

fn nogroup_claim(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn min_idle_arg(arg: &[u8], cmd: &str) -> Result<i64, CmdError> {
    let v = gyre_engine::num::parse_i64(arg)
        .ok_or_else(|| CmdError::Msg(format!("ERR Invalid min-idle-time argument for {cmd}")))?;
    Ok(v.max(0))
}

/// XCLAIM's options after the IDs.
struct ClaimOpts {
    force: bool,
    justid: bool,
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    last_id: StreamId,
}

fn parse_claim_opts(call: &Data<'_, '_>, from: usize, now_ms: u64) -> Result<ClaimOpts, CmdError> {
    let mut o =
        ClaimOpts { force: false, justid: false, delivery_time: None, retry_count: None, last_id: StreamId::MIN };
    let bad = |name: &str| CmdError::Msg(format!("ERR Invalid {name} option argument for XCLAIM"));
    let mut j = from;
    while j < call.argc() {
        let more = call.argc() - 1 - j;
        let opt = call.arg(j);
        if opt.eq_ignore_ascii_case(b"FORCE") {
            o.force = true;
        } else if opt.eq_ignore_ascii_case(b"JUSTID") {
            o.justid = true;
        } else if opt.eq_ignore_ascii_case(b"IDLE") && more > 0 {
            j += 1;
            let idle = gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("IDLE"))?;
            o.delivery_time = Some((now_ms as i64).saturating_sub(idle));
        } else if opt.eq_ignore_ascii_case(b"TIME") && more > 0 {
            j += 1;
            o.delivery_time = Some(gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("TIME"))?);
        } else if opt.eq_ignore_ascii_case(b"RETRYCOUNT") && more > 0 {
            j += 1;
            o.retry_count = Some(gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("RETRYCOUNT"))?);
        } else if opt.eq_ignore_ascii_case(b"LASTID") && more > 0 {
            j += 1;
            o.last_id = parse_strict(call.arg(j))?;
        } else {
            return Err(CmdError::Msg(format!("ERR Unrecognized XCLAIM option '{}'", crate::cmd::printable(opt, 128))));
        }
        j += 1;
    }
    Ok(o)
}

pub fn xclaim(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args, proto) = (call.now(), call.now_ms(), call.args(), call.protocol());
    let (group, consumer) = (args.get(2), args.get(3));
    let (key, slot, mut shard) = call.lock_key(1);
    let (op, n, buf, existed) = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => {
                let s = stream_of(e)?;
                s.group(group).map(|g| (s, g))
            }
        };
        let Some((s, g)) = g else { return Err(nogroup_claim(key, group)) };
        let min_idle = min_idle_arg(args.get(4), "XCLAIM")?;
        let mut ids = Vec::new();
        let mut j = 5;
        while j < args.len() {
            match parse_strict(args.get(j)) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            j += 1;
        }
        let o = parse_claim_opts(call, j, now_ms)?;
        let time = match o.delivery_time {
            Some(t) if t >= 0 && t <= now_ms as i64 => t as u64,
            _ => now_ms,
        };
        let mut claims: Vec<(StreamId, u64, u64)> = Vec::new();
        let mut dropped = Vec::new();
        let mut buf = bytes::BytesMut::new();
        let mut w = ReplyWriter::new(&mut buf, proto);
        let mut n = 0;
        for id in ids {
            let Some(fields) = s.get(id) else {
                if g.pel.contains_key(&id) && !dropped.contains(&id) {
                    dropped.push(id);
                }
                continue;
            };
            // A later mention of the same ID sees the earlier claim.
            let current = claims
                .iter()
                .rev()
                .find(|c| c.0 == id)
                .map(|c| (c.1, c.2))
                .or_else(|| g.pel.get(&id).map(|nack| (nack.delivery_time_ms, nack.delivery_count)));
            let (prev_time, prev_count) = match current {
                Some(c) => c,
                // FORCE creates the pending entry (delivered once, as Redis's new NACK).
                None if o.force => (now_ms, 1),
                None => continue,
            };
            if current.is_some() && min_idle > 0 && (now_ms as i64 - prev_time as i64) < min_idle {
                continue;
            }
            let count = match o.retry_count {
                Some(r) if r >= 0 => r as u64,
                _ if !o.justid => prev_count + 1,
                _ => prev_count,
            };
            claims.push((id, time, count));
            if o.justid {
                w.bulk(&id_bytes(id));
            } else {
                let f: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                write_entry(&mut w, id, &f);
            }
            n += 1;
        }
        let last_id = (o.last_id > g.last_id).then_some(o.last_id);
        let active = n > 0;
        let existed = g.consumers.contains_key(consumer);
        (StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active }, n, buf, existed)
    };
    if !existed {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    commit(call, &mut shard, key, op);
    drop(shard);
    call.out().array(n);
    call.out().raw(&buf);
    Ok(())
}

pub fn xautoclaim(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args, proto) = (call.now(), call.now_ms(), call.args(), call.protocol());
    let (group, consumer) = (args.get(2), args.get(3));
    let min_idle = min_idle_arg(args.get(4), "XAUTOCLAIM")?;
    let start = range_start(args.get(5))?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < args.len() {
        if call.arg_is(j, "COUNT") && j + 1 < args.len() {
            let max = i64::MAX / 16;
            count = gyre_engine::num::parse_i64(args.get(j + 1))
                .filter(|c| (1..=max).contains(c))
                .ok_or(err("ERR COUNT must be > 0"))?;
            j += 2;
        } else if call.arg_is(j, "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let (key, slot, mut shard) = call.lock_key(1);
    let (op, n, buf, next, deleted, existed) = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => {
                let s = stream_of(e)?;
                s.group(group).map(|g| (s, g))
            }
        };
        let Some((s, g)) = g else { return Err(nogroup_claim(key, group)) };
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut claims = Vec::new();
        let mut dropped = Vec::new();
        let mut buf = bytes::BytesMut::new();
        let mut w = ReplyWriter::new(&mut buf, proto);
        let mut n = 0;
        let mut it = g.pel.range(start..).peekable();
        while attempts > 0 && left > 0 {
            let Some((id, nack)) = it.next() else { break };
            attempts -= 1;
            let Some(fields) = s.get(*id) else {
                dropped.push(*id);
                left -= 1;
                continue;
            };
            if min_idle > 0 && (now_ms as i64 - nack.delivery_time_ms as i64) < min_idle {
                continue;
            }
            let cnt = if justid { nack.delivery_count } else { nack.delivery_count + 1 };
            claims.push((*id, now_ms, cnt));
            if justid {
                w.bulk(&id_bytes(*id));
            } else {
                let f: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                write_entry(&mut w, *id, &f);
            }
            n += 1;
            left -= 1;
        }
        let next = it.next().map_or(StreamId::MIN, |(id, _)| *id);
        let active = n > 0;
        let deleted = dropped.clone();
        let existed = g.consumers.contains_key(consumer);
        let op = StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id: None, active };
        (op, n, buf, next, deleted, existed)
    };
    if !existed {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    commit(call, &mut shard, key, op);
    drop(shard);
    let out = call.out();
    out.array(3);
    out.bulk(&id_bytes(next));
    out.array(n);
    out.raw(&buf);
    out.array(deleted.len());
    for id in deleted {
        out.bulk(&id_bytes(id));
    }
    Ok(())
}
