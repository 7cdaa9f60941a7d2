//! The stream commands without consumer groups: XADD and XTRIM (with
//! their shared trimming options), XDEL, XSETID, XRANGE, XREVRANGE, XLEN.
//!
//! Invariant: a write commits exactly the [`StreamOp`]s it decided (XADD the
//! ID it chose, trimming the first entry kept), so a replica or a replay of
//! the log ends with the same stream. Limits: approximate trimming (`~`)
//! does at most LIMIT entries' worth of work per call (without LIMIT, 100
//! nodes' worth: `stream-node-max-entries` times 100, or 10,000).

use gyre_engine::types::stream::{Stream, StreamId, StreamOp, Trim};
use gyre_engine::{SlotId, Value};

use super::common::{
    commit, encode_range, id_bytes, int, parse_strict, parse_xadd_id, range_end, range_start, stream_of,
};
use crate::cmd::data::Data;
use crate::cmd::errors::SYNTAX;
use crate::cmd::{arity_error, err, CmdError, CmdResult};

// ---------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------

/// Trimming options of XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the ID argument's index, the ID and whether its sequence was given.
    id_at: usize,
    id: Option<(StreamId, bool)>,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_trim_args(call: &Data<'_, '_>, xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut a = TrimArgs::default();
    let mut limit_given = false;
    let argc = call.argc();
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = call.arg(i);
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            a.approx = false;
            let next = call.arg(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            let v = call.arg(i + 1);
            a.trim = Some(if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = int(v)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict(v)?)
            });
            i += 2;
            continue;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = int(call.arg(i + 1))?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 2;
            continue;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_xadd_id(opt)?);
            break;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    a.id_at = i;
    if a.limit > 0 && a.trim.is_none() {
        return Err(err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && a.trim.is_none() {
        return Err(err("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given {
        if !a.approx {
            return Err(err("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if a.approx {
        // At most 100 nodes' worth of work (10,000 without a node limit).
        let per_node = call.encoding().stream_node_max_entries as u64;
        a.limit = match per_node.saturating_mul(100) {
            0 => 10_000,
            n => n,
        };
    }
    Ok(a)
}

/// Trims the stream at `key` as `a` says; returns how many entries went.
fn trim(
    call: &mut Data<'_, '_>,
    shard: &mut gyre_engine::Shard,
    key: &[u8],
    a: &TrimArgs,
    now: gyre_engine::Now,
) -> u64 {
    let Some(t) = a.trim else { return 0 };
    let slot = SlotId::of(key);
    let plan = match shard.get(slot, key, now).map(|e| &e.value) {
        Some(Value::Stream(s)) => s.plan_trim(t, a.approx, a.limit),
        _ => return 0,
    };
    if plan.0 > 0 {
        commit(call, shard, key, StreamOp::TrimBefore { keep_from: plan.1 });
    }
    plan.0
}

pub fn xadd(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_trim_args(call, true)?;
    let field_at = a.id_at + 1;
    let nfields = call.argc().saturating_sub(field_at);
    if nfields < 2 || !nfields.is_multiple_of(2) {
        return Err(arity_error("xadd"));
    }
    if a.id == Some((StreamId::MIN, true)) {
        return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    let id = {
        let empty = Stream::default();
        let s = match shard.get(slot, key, now) {
            Some(e) => stream_of(e)?,
            None if a.nomkstream => {
                drop(shard);
                call.out().null();
                return Ok(());
            }
            None => &empty,
        };
        if s.last_id == StreamId::MAX {
            return Err(err("ERR The stream has exhausted the last possible ID, unable to add more items"));
        }
        let id = match a.id {
            Some((id, true)) => Some(id),
            Some((id, false)) => s.next_id(now_ms, Some(id.ms)),
            None => s.next_id(now_ms, None),
        };
        match id {
            Some(id) if id > s.last_id => id,
            _ => return Err(err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        }
    };
    let fields: Vec<(&[u8], &[u8])> =
        (field_at..args.len()).step_by(2).map(|i| (args.get(i), args.get(i + 1))).collect();
    commit(call, &mut shard, key, StreamOp::Add { id, fields });
    trim(call, &mut shard, key, &a, now);
    drop(shard);
    call.out().bulk(&id_bytes(id));
    call.signal_ready(key);
    Ok(())
}

pub fn xtrim(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_trim_args(call, false)?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get(slot, key, now) {
        None => {
            drop(shard);
            call.out().integer(0);
            return Ok(());
        }
        Some(e) => {
            stream_of(e)?;
        }
    }
    let n = trim(call, &mut shard, key, &a, now);
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xdel(call: &mut Data<'_, '_>) -> CmdResult {
    let args = call.args();
    let ids = (2..args.len()).map(|i| parse_strict(args.get(i))).collect::<Result<Vec<_>, _>>()?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let present: Vec<StreamId> = match shard.get(slot, key, now) {
        None => Vec::new(),
        Some(e) => {
            let s = stream_of(e)?;
            let mut seen = std::collections::BTreeSet::new();
            ids.into_iter().filter(|id| s.contains(*id) && seen.insert(*id)).collect()
        }
    };
    let n = present.len();
    if n > 0 {
        commit(call, &mut shard, key, StreamOp::Del { ids: present });
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xsetid(call: &mut Data<'_, '_>) -> CmdResult {
    let id = parse_strict(call.arg(2))?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < call.argc() {
        let more = call.argc() - 1 - i;
        if call.arg_is(i, "ENTRIESADDED") && more > 0 {
            let n = int(call.arg(i + 1))?;
            if n < 0 {
                return Err(err("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if call.arg_is(i, "MAXDELETEDID") && more > 0 {
            max_deleted = parse_strict(call.arg(i + 1))?;
            if id < max_deleted {
                return Err(err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let op = {
        let Some(e) = shard.get(slot, key, now) else { return Err(err(crate::cmd::errors::NO_SUCH_KEY)) };
        let s = stream_of(e)?;
        if id < s.max_deleted_id {
            return Err(err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"));
        }
        if !s.is_empty() {
            if id < s.last_entry_id() {
                return Err(err("ERR The ID specified in XSETID is smaller than the target stream top item"));
            }
            if entries_added.is_some_and(|n| s.len() > n) {
                return Err(err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
            }
        }
        StreamOp::SetId {
            last_id: id,
            entries_added: entries_added.unwrap_or(s.entries_added),
            max_deleted_id: if max_deleted.is_zero() { s.max_deleted_id } else { max_deleted },
        }
    };
    commit(call, &mut shard, key, op);
    drop(shard);
    call.out().ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN
// ---------------------------------------------------------------------------

fn range_generic(call: &mut Data<'_, '_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (call.arg(3), call.arg(2)) } else { (call.arg(2), call.arg(3)) };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < call.argc() {
        if call.arg_is(j, "COUNT") && j + 1 < call.argc() {
            count = int(call.arg(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let (now, proto) = (call.now(), call.protocol());
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let s = stream_of(e)?;
    if count == 0 {
        drop(shard);
        call.out().null_array();
        return Ok(());
    }
    let (n, buf) = encode_range(proto, s, start, end, rev, count.max(0) as usize, |_| {});
    drop(shard);
    call.out().array(n);
    call.out().raw(&buf);
    Ok(())
}

pub fn xrange(call: &mut Data<'_, '_>) -> CmdResult {
    range_generic(call, false)
}

pub fn xrevrange(call: &mut Data<'_, '_>) -> CmdResult {
    range_generic(call, true)
}

pub fn xlen(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => stream_of(e)?.len(),
    };
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}
