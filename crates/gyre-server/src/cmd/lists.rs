//! List commands: pushes and pops at both ends, indexed reads and writes,
//! LMOVE and LMPOP, and their blocking forms.
//!
//! Every write reads the list, decides, and commits deterministic [`ListOp`]s:
//! a pop names how many elements go (the reply was read from the list first);
//! LMOVE is a Pop on the source and a Push on the destination, two mutations
//! with their own versions (Push first when source and destination are the same
//! key, so that a one-element list is never emptied and keeps its expiry).
//! Writes that add elements signal the key ready for blocked clients once the
//! shard lock is dropped.
//!
//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) behave exactly
//! like their non-blocking forms when there is something to pop; otherwise
//! they return [`CmdError::Block`] without replying or committing, and the
//! server runs them again when a key they wait on is signalled.
//!
//! Replies and errors, including their order (which check fails first), follow
//! Redis 7.2's t_list.c.

use gyre_engine::types::list::{normalize_range, resolve_index};
use gyre_engine::types::{List, ListOp};
use gyre_engine::{CollOp, Entry, Mutation, SlotId, StrValue, Value};

use super::data::Data;
use super::errors::{NO_SUCH_KEY, SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, KEY1, NOKEYS};
use super::{arity_error, err, parse_block_timeout, BlockSpec, CmdError, CmdResult, CommandSpec, Group, TimeoutReply};

/// Key positions of commands with a source and a destination key.
const SRC_DST: (i32, i32, i32) = (1, 2, 1);
/// Key positions of BLPOP/BRPOP: every argument but the timeout.
const ALL_BUT_LAST: (i32, i32, i32) = (1, -2, 1);

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("lpush", -3, WRITE | DENYOOM | FAST, KEY1, List, "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]", data!(lpush)),
    cmd!("rpush", -3, WRITE | DENYOOM | FAST, KEY1, List, "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]", data!(rpush)),
    cmd!("lpushx", -3, WRITE | DENYOOM | FAST, KEY1, List, "2.2.0", "Prepends one or more elements to a list only when the list exists.", "key element [element ...]", data!(lpushx)),
    cmd!("rpushx", -3, WRITE | DENYOOM | FAST, KEY1, List, "2.2.0", "Appends an element to a list only when the list exists.", "key element [element ...]", data!(rpushx)),
    cmd!("lpop", -2, WRITE | FAST, KEY1, List, "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count]", data!(lpop)),
    cmd!("rpop", -2, WRITE | FAST, KEY1, List, "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "key [count]", data!(rpop)),
    cmd!("llen", 2, READONLY | FAST, KEY1, List, "1.0.0", "Returns the length of a list.", "key", data!(llen)),
    cmd!("lrange", 4, READONLY, KEY1, List, "1.0.0", "Returns a range of elements from a list.", "key start stop", data!(lrange)),
    cmd!("lindex", 3, READONLY, KEY1, List, "1.0.0", "Returns an element from a list by its index.", "key index", data!(lindex)),
    cmd!("lset", 4, WRITE | DENYOOM, KEY1, List, "1.0.0", "Sets the value of an element in a list by its index.", "key index element", data!(lset)),
    cmd!("linsert", 5, WRITE | DENYOOM, KEY1, List, "2.2.0", "Inserts an element before or after another element in a list.", "key <BEFORE | AFTER> pivot element", data!(linsert)),
    cmd!("lrem", 4, WRITE, KEY1, List, "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "key count element", data!(lrem)),
    cmd!("ltrim", 4, WRITE, KEY1, List, "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "key start stop", data!(ltrim)),
    cmd!("lpos", -3, READONLY, KEY1, List, "6.0.6", "Returns the index of matching elements in a list.", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", data!(lpos)),
    cmd!("lmove", 5, WRITE | DENYOOM, SRC_DST, List, "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "source destination <LEFT | RIGHT> <LEFT | RIGHT>", data!(lmove)),
    cmd!("rpoplpush", 3, WRITE | DENYOOM, SRC_DST, List, "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "source destination", data!(rpoplpush)),
    CommandSpec { numkeys_at: 1, ..cmd!("lmpop", -4, WRITE, NOKEYS, List, "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", data!(lmpop)) },
    cmd!("blpop", -3, WRITE | BLOCKING, ALL_BUT_LAST, List, "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout", data!(blpop)),
    cmd!("brpop", -3, WRITE | BLOCKING, ALL_BUT_LAST, List, "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout", data!(brpop)),
    cmd!("blmove", 6, WRITE | DENYOOM | BLOCKING, SRC_DST, List, "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout", data!(blmove)),
    cmd!("brpoplpush", 4, WRITE | DENYOOM | BLOCKING, SRC_DST, List, "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "source destination timeout", data!(brpoplpush)),
    CommandSpec { numkeys_at: 2, ..cmd!("blmpop", -5, WRITE | BLOCKING, NOKEYS, List, "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", data!(blmpop)) },
];

/// The list in `e`, or WRONGTYPE.
fn list_of(e: &Entry) -> Result<&List, CmdError> {
    match &e.value {
        Value::List(l) => Ok(l),
        _ => Err(err(WRONGTYPE)),
    }
}

/// Commits `op` on `key` of the selected database in `shard`.
fn commit(call: &mut Data<'_, '_>, shard: &mut gyre_engine::Shard, slot: SlotId, key: &[u8], op: ListOp<&[u8]>) {
    let version = call.version();
    let m = Mutation::Coll { db: call.db(), key, op: CollOp::List(op), version };
    shard.commit(slot, &m, call.log());
}

/// LEFT or RIGHT (any case): true for LEFT; otherwise a syntax error.
fn parse_side(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Ok(false)
    } else {
        Err(err(SYNTAX))
    }
}

fn len_reply(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------

/// LPUSH, RPUSH, LPUSHX, RPUSHX: `xx` pushes only onto an existing list.
fn push_generic(call: &mut Data<'_, '_>, left: bool, xx: bool) -> CmdResult {
    let now = call.now();
    let args = call.args();
    let values: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    let added = values.len();
    let (key, slot, mut shard) = call.lock_key(1);
    let len = match shard.get(slot, key, now) {
        Some(e) => list_of(e)?.len(),
        None if xx => {
            drop(shard);
            call.out().integer(0);
            return Ok(());
        }
        None => 0,
    };
    commit(call, &mut shard, slot, key, ListOp::Push { left, values });
    drop(shard);
    call.out().integer(len_reply(len + added));
    call.signal_ready(key);
    Ok(())
}

pub fn lpush(call: &mut Data<'_, '_>) -> CmdResult {
    push_generic(call, true, false)
}

pub fn rpush(call: &mut Data<'_, '_>) -> CmdResult {
    push_generic(call, false, false)
}

pub fn lpushx(call: &mut Data<'_, '_>) -> CmdResult {
    push_generic(call, true, true)
}

pub fn rpushx(call: &mut Data<'_, '_>) -> CmdResult {
    push_generic(call, false, true)
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// Writes up to `count` elements from one end of `l` as an array (in pop
/// order) and returns how many.
fn reply_popped(call: &mut Data<'_, '_>, l: &List, left: bool, count: usize) -> usize {
    let n = count.min(l.len());
    call.out().array(n);
    if left {
        for e in l.iter().take(n) {
            call.out().bulk(e);
        }
    } else {
        for e in l.iter().rev().take(n) {
            call.out().bulk(e);
        }
    }
    n
}

/// LPOP and RPOP, with the optional count.
fn pop_generic(call: &mut Data<'_, '_>, left: bool) -> CmdResult {
    if call.argc() > 3 {
        return Err(arity_error(if left { "lpop" } else { "rpop" }));
    }
    let count = match call.argc() {
        3 => Some(
            gyre_engine::num::parse_i64(call.arg(2))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(err("ERR value is out of range, must be positive"))?,
        ),
        _ => None,
    };
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, now) else {
        drop(shard);
        match count {
            Some(_) => call.out().null_array(),
            None => call.out().null(),
        }
        return Ok(());
    };
    let l = list_of(e)?;
    let popped = match count {
        Some(0) => {
            drop(shard);
            call.out().array(0);
            return Ok(());
        }
        Some(n) => reply_popped(call, l, left, n),
        None => {
            call.out().bulk(l.end(left).expect("stored lists are never empty"));
            1
        }
    };
    commit(call, &mut shard, slot, key, ListOp::Pop { left, count: popped as u64 });
    Ok(())
}

pub fn lpop(call: &mut Data<'_, '_>) -> CmdResult {
    pop_generic(call, true)
}

pub fn rpop(call: &mut Data<'_, '_>) -> CmdResult {
    pop_generic(call, false)
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

pub fn llen(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let len = match shard.get_read(slot, key, now) {
        Some(e) => list_of(e)?.len(),
        None => 0,
    };
    drop(shard);
    call.out().integer(len_reply(len));
    Ok(())
}

pub fn lrange(call: &mut Data<'_, '_>) -> CmdResult {
    let (start, stop) = (call.int_arg(2)?, call.int_arg(3)?);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let l = list_of(e)?;
    match normalize_range(start, stop, l.len()) {
        None => call.out().array(0),
        Some((first, last)) => {
            call.out().array(last - first + 1);
            for v in l.range(first, last) {
                call.out().bulk(v);
            }
        }
    }
    Ok(())
}

pub fn lindex(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().null();
        return Ok(());
    };
    let l = list_of(e)?;
    let index = call.int_arg(2)?;
    match resolve_index(index, l.len()).and_then(|i| l.get(i)) {
        Some(v) => call.out().bulk(v),
        None => call.out().null(),
    }
    Ok(())
}

/// LPOS options.
struct LposOptions {
    rank: i64,
    /// None: no COUNT given (reply with one index or nil).
    count: Option<usize>,
    /// 0: no limit.
    maxlen: usize,
}

fn parse_lpos_options(call: &Data<'_, '_>) -> Result<LposOptions, CmdError> {
    let mut o = LposOptions { rank: 1, count: None, maxlen: 0 };
    let non_negative = |arg: &[u8], msg: &'static str| {
        gyre_engine::num::parse_i64(arg).and_then(|n| usize::try_from(n).ok()).ok_or(err(msg))
    };
    let mut i = 3;
    while i < call.argc() {
        let has_value = i + 1 < call.argc();
        if call.arg_is(i, "RANK") && has_value {
            let rank = call.int_arg(i + 1)?;
            if rank == i64::MIN {
                return Err(err(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if rank == 0 {
                return Err(err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            o.rank = rank;
        } else if call.arg_is(i, "COUNT") && has_value {
            o.count = Some(non_negative(call.arg(i + 1), "ERR COUNT can't be negative")?);
        } else if call.arg_is(i, "MAXLEN") && has_value {
            o.maxlen = non_negative(call.arg(i + 1), "ERR MAXLEN can't be negative")?;
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    Ok(o)
}

/// Indexes (from the head) of the matches LPOS reports, at most `limit`.
fn lpos_matches(l: &List, value: &[u8], o: &LposOptions, limit: usize) -> Vec<usize> {
    let skip = usize::try_from(o.rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
    let scan = if o.maxlen == 0 { l.len() } else { o.maxlen.min(l.len()) };
    let mut found = Vec::new();
    let mut visit = |i: usize, e: &[u8], matches: &mut usize| {
        if e == value {
            *matches += 1;
            if *matches > skip {
                found.push(i);
            }
        }
        found.len() < limit
    };
    let mut matches = 0;
    if o.rank > 0 {
        for (i, e) in l.iter().take(scan).enumerate() {
            if !visit(i, e, &mut matches) {
                break;
            }
        }
    } else {
        let len = l.len();
        for (k, e) in l.iter().rev().take(scan).enumerate() {
            if !visit(len - 1 - k, e, &mut matches) {
                break;
            }
        }
    }
    found
}

pub fn lpos(call: &mut Data<'_, '_>) -> CmdResult {
    let o = parse_lpos_options(call)?;
    let value = call.args().get(2);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        match o.count {
            Some(_) => call.out().array(0),
            None => call.out().null(),
        }
        return Ok(());
    };
    let l = list_of(e)?;
    let limit = match o.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let found = lpos_matches(l, value, &o, limit);
    drop(shard);
    match (o.count, found.first()) {
        (Some(_), _) => {
            call.out().array(found.len());
            for i in found {
                call.out().integer(len_reply(i));
            }
        }
        (None, Some(&i)) => call.out().integer(len_reply(i)),
        (None, None) => call.out().null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Writes inside a list
// ---------------------------------------------------------------------------

pub fn lset(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let value = call.args().get(3);
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, now) else {
        return Err(err(NO_SUCH_KEY));
    };
    let l = list_of(e)?;
    let index = call.int_arg(2)?;
    let Some(i) = resolve_index(index, l.len()) else {
        return Err(err("ERR index out of range"));
    };
    commit(call, &mut shard, slot, key, ListOp::Set { index: len_reply(i), value });
    drop(shard);
    call.out().ok();
    Ok(())
}

pub fn linsert(call: &mut Data<'_, '_>) -> CmdResult {
    let before = if call.arg_is(2, "BEFORE") {
        true
    } else if call.arg_is(2, "AFTER") {
        false
    } else {
        return Err(err(SYNTAX));
    };
    let (pivot, value) = (call.args().get(3), call.args().get(4));
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, now) else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    let l = list_of(e)?;
    if !l.iter().any(|v| v == pivot) {
        drop(shard);
        call.out().integer(-1);
        return Ok(());
    }
    let len = l.len();
    commit(call, &mut shard, slot, key, ListOp::Insert { before, pivot, value });
    drop(shard);
    call.out().integer(len_reply(len + 1));
    Ok(())
}

pub fn lrem(call: &mut Data<'_, '_>) -> CmdResult {
    let count = call.int_arg(2)?;
    let value = call.args().get(3);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let removed = match shard.get(slot, key, now) {
        Some(e) => list_of(e)?.count_removable(count, value),
        None => 0,
    };
    if removed > 0 {
        commit(call, &mut shard, slot, key, ListOp::Rem { count, value });
    }
    drop(shard);
    call.out().integer(len_reply(removed));
    Ok(())
}

pub fn ltrim(call: &mut Data<'_, '_>) -> CmdResult {
    let (start, stop) = (call.int_arg(2)?, call.int_arg(3)?);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    if let Some(e) = shard.get(slot, key, now) {
        let len = list_of(e)?.len();
        let keeps_all = normalize_range(start, stop, len) == Some((0, len - 1));
        if !keeps_all {
            commit(call, &mut shard, slot, key, ListOp::Trim { start, stop });
        }
    }
    drop(shard);
    call.out().ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// LMOVE and RPOPLPUSH
// ---------------------------------------------------------------------------

/// Moves one element from the `from_left` end of argument 1 to the `to_left`
/// end of argument 2. Returns the element, or None when the source is absent.
fn move_generic(call: &mut Data<'_, '_>, from_left: bool, to_left: bool) -> Result<Option<StrValue>, CmdError> {
    let (src, dst) = (call.args().get(1), call.args().get(2));
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let (src_slot, dst_slot) = (SlotId::of(src), SlotId::of(dst));
    let mut g = ks.lock_many([(db, src_slot), (db, dst_slot)]);
    let Some(e) = g.shard(db, src_slot).get(src_slot, src, now) else {
        return Ok(None);
    };
    let value = StrValue::from_slice(list_of(e)?.end(from_left).expect("stored lists are never empty"));
    if let Some(d) = g.shard(db, dst_slot).get(dst_slot, dst, now) {
        list_of(d)?;
    }
    let pop = ListOp::Pop { left: from_left, count: 1 };
    let push = ListOp::Push { left: to_left, values: vec![&value[..]] };
    if src == dst {
        commit(call, g.shard(db, src_slot), src_slot, src, push);
        commit(call, g.shard(db, src_slot), src_slot, src, pop);
    } else {
        commit(call, g.shard(db, src_slot), src_slot, src, pop);
        commit(call, g.shard(db, dst_slot), dst_slot, dst, push);
    }
    drop(g);
    call.signal_ready(dst);
    Ok(Some(value))
}

fn reply_moved(call: &mut Data<'_, '_>, moved: Option<StrValue>) {
    match moved {
        Some(v) => call.out().bulk(&v),
        None => call.out().null(),
    }
}

pub fn lmove(call: &mut Data<'_, '_>) -> CmdResult {
    let from_left = parse_side(call.arg(3))?;
    let to_left = parse_side(call.arg(4))?;
    let moved = move_generic(call, from_left, to_left)?;
    reply_moved(call, moved);
    Ok(())
}

pub fn rpoplpush(call: &mut Data<'_, '_>) -> CmdResult {
    let moved = move_generic(call, false, true)?;
    reply_moved(call, moved);
    Ok(())
}

// ---------------------------------------------------------------------------
// LMPOP and the multi-key pops
// ---------------------------------------------------------------------------

/// What LMPOP/BLMPOP pop: keys at argument indexes `first_key..first_key +
/// numkeys`, from `left` or right, up to `count` each.
struct MpopArgs {
    first_key: usize,
    numkeys: usize,
    left: bool,
    count: usize,
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at
/// argument `at`, in Redis's order of checks.
fn parse_mpop(call: &Data<'_, '_>, at: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = gyre_engine::num::parse_i64(call.arg(at))
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(err("ERR numkeys should be greater than 0"))?;
    let where_at = at.checked_add(numkeys).and_then(|i| i.checked_add(1)).filter(|i| *i < call.argc());
    let where_at = where_at.ok_or(err(SYNTAX))?;
    let left = parse_side(call.arg(where_at))?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < call.argc() {
        if count.is_none() && call.arg_is(i, "COUNT") && i + 1 < call.argc() {
            let n = gyre_engine::num::parse_i64(call.arg(i + 1))
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(err("ERR count should be greater than 0"))?;
            count = Some(n);
            i += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    Ok(MpopArgs { first_key: at + 1, numkeys, left, count: count.unwrap_or(1) })
}

/// How a multi-key pop replies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PopReply {
    /// BLPOP/BRPOP: `[key, element]`.
    KeyAndElement,
    /// LMPOP/BLMPOP: `[key, [element ...]]`.
    KeyAndElements,
}

/// Pops from the first non-empty list among `keys` and replies; false (with
/// nothing written) when every key is absent. A key of another type that comes
/// before the first list with elements is WRONGTYPE.
fn pop_first_nonempty(
    call: &mut Data<'_, '_>,
    keys: &[&[u8]],
    left: bool,
    count: usize,
    shape: PopReply,
) -> Result<bool, CmdError> {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    for &key in keys {
        let slot = SlotId::of(key);
        let shard = g.shard(db, slot);
        let Some(e) = shard.get(slot, key, now) else {
            continue;
        };
        let l = list_of(e)?;
        call.out().array(2);
        call.out().bulk(key);
        let popped = match shape {
            PopReply::KeyAndElements => reply_popped(call, l, left, count),
            PopReply::KeyAndElement => {
                call.out().bulk(l.end(left).expect("stored lists are never empty"));
                1
            }
        };
        commit(call, shard, slot, key, ListOp::Pop { left, count: popped as u64 });
        return Ok(true);
    }
    Ok(false)
}

pub fn lmpop(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_mpop(call, 1)?;
    let args = call.args();
    let keys: Vec<&[u8]> = (a.first_key..a.first_key + a.numkeys).map(|i| args.get(i)).collect();
    if !pop_first_nonempty(call, &keys, a.left, a.count, PopReply::KeyAndElements)? {
        call.out().null_array();
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Blocking forms
// ---------------------------------------------------------------------------

fn block_on(keys: &[&[u8]], timeout: Option<std::time::Duration>, timeout_reply: TimeoutReply) -> CmdError {
    CmdError::Block(BlockSpec { keys: keys.iter().map(|k| k.to_vec()).collect(), timeout, timeout_reply, argv: None })
}

/// BLPOP and BRPOP.
fn bpop_generic(call: &mut Data<'_, '_>, left: bool) -> CmdResult {
    let timeout = parse_block_timeout(call.arg(call.argc() - 1), call.now_ms())?;
    let args = call.args();
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    if pop_first_nonempty(call, &keys, left, 1, PopReply::KeyAndElement)? {
        return Ok(());
    }
    Err(block_on(&keys, timeout, TimeoutReply::NullArray))
}

pub fn blpop(call: &mut Data<'_, '_>) -> CmdResult {
    bpop_generic(call, true)
}

pub fn brpop(call: &mut Data<'_, '_>) -> CmdResult {
    bpop_generic(call, false)
}

/// BLMOVE and BRPOPLPUSH: wait on the source only.
fn bmove_generic(
    call: &mut Data<'_, '_>,
    from_left: bool,
    to_left: bool,
    timeout: Option<std::time::Duration>,
) -> CmdResult {
    match move_generic(call, from_left, to_left)? {
        Some(v) => {
            call.out().bulk(&v);
            Ok(())
        }
        // Redis answers a timed-out BLMOVE with a null array too (verified
        // against Redis 7.0; replyToBlockedClientTimedOut is the same for
        // every list wait), not a null bulk.
        None => Err(block_on(&[call.args().get(1)], timeout, TimeoutReply::NullArray)),
    }
}

pub fn blmove(call: &mut Data<'_, '_>) -> CmdResult {
    let from_left = parse_side(call.arg(3))?;
    let to_left = parse_side(call.arg(4))?;
    let timeout = parse_block_timeout(call.arg(5), call.now_ms())?;
    bmove_generic(call, from_left, to_left, timeout)
}

pub fn brpoplpush(call: &mut Data<'_, '_>) -> CmdResult {
    let timeout = parse_block_timeout(call.arg(3), call.now_ms())?;
    bmove_generic(call, false, true, timeout)
}

pub fn blmpop(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_mpop(call, 2)?;
    let timeout = parse_block_timeout(call.arg(1), call.now_ms())?;
    let args = call.args();
    let keys: Vec<&[u8]> = (a.first_key..a.first_key + a.numkeys).map(|i| args.get(i)).collect();
    if pop_first_nonempty(call, &keys, a.left, a.count, PopReply::KeyAndElements)? {
        return Ok(());
    }
    Err(block_on(&keys, timeout, TimeoutReply::NullArray))
}
