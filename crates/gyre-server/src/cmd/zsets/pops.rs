//! Pops: ZPOPMIN, ZPOPMAX, ZMPOP and their blocking forms BZPOPMIN,
//! BZPOPMAX, BZMPOP.
//!
//! Invariant: a pop commits a `Rem` of the members it took. A blocking pop
//! that finds every key empty returns [`CmdError::Block`] on its keys and
//! changes nothing; it runs again when one of them is written.

use gyre_engine::types::ZSetOp;
use gyre_engine::SlotId;

use super::{as_zset, commit_op, ranged_int, resp3};
use crate::cmd::data::Data;
use crate::cmd::errors::SYNTAX;
use crate::cmd::{err, parse_block_timeout, BlockSpec, CmdError, CmdResult, TimeoutReply};

// ---------------------------------------------------------------------------
// Pops: ZPOPMIN, ZPOPMAX, ZMPOP, BZPOPMIN, BZPOPMAX, BZMPOP
// ---------------------------------------------------------------------------

/// Outcome of looking for something to pop among keys.
enum Popped {
    /// No key holds a sorted set.
    Nothing,
    /// The key and its popped (score, member) pairs, in pop order.
    From(Vec<u8>, Vec<(f64, Vec<u8>)>),
}

/// Pops up to `count` members from the first key of `keys` holding a sorted
/// set (WRONGTYPE for a key of another type met before it). `count` 0 pops
/// nothing but still reports the key.
fn pop_first(call: &mut Data<'_, '_>, keys: &[&[u8]], max: bool, count: usize) -> Result<Popped, CmdError> {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    for &key in keys {
        let slot = SlotId::of(key);
        let mut shard = ks.db(db).lock(slot);
        let Some(z) = as_zset(shard.get(slot, key, now))? else {
            continue;
        };
        let n = count.min(z.len());
        let mut popped = Vec::with_capacity(n);
        if max {
            z.for_range(z.len() - n, z.len(), true, |m, s| popped.push((s, m.to_vec())));
        } else {
            z.for_range(0, n, false, |m, s| popped.push((s, m.to_vec())));
        }
        if n > 0 {
            commit_op(call, &mut shard, slot, key, ZSetOp::Rem(popped.iter().map(|(_, m)| &m[..]).collect()));
        }
        return Ok(Popped::From(key.to_vec(), popped));
    }
    Ok(Popped::Nothing)
}

fn zpop_generic(call: &mut Data<'_, '_>, max: bool) -> CmdResult {
    if call.argc() > 3 {
        return Err(err(SYNTAX));
    }
    let count = if call.argc() == 3 {
        Some(ranged_int(call, 2, 0, "ERR value is out of range, must be positive")? as usize)
    } else {
        None
    };
    let key = call.args().get(1);
    let popped = match pop_first(call, &[key], max, count.unwrap_or(1))? {
        Popped::Nothing => Vec::new(),
        Popped::From(_, p) => p,
    };
    // RESP3 with a count nests [member, score] pairs; otherwise one flat array.
    let nested = resp3(call) && count.is_some();
    call.out().array(if nested { popped.len() } else { popped.len() * 2 });
    for (s, m) in &popped {
        if nested {
            call.out().array(2);
        }
        call.out().bulk(m);
        call.out().double(*s);
    }
    Ok(())
}

pub fn zpopmin(call: &mut Data<'_, '_>) -> CmdResult {
    zpop_generic(call, false)
}

pub fn zpopmax(call: &mut Data<'_, '_>) -> CmdResult {
    zpop_generic(call, true)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout
fn bzpop_generic(call: &mut Data<'_, '_>, max: bool) -> CmdResult {
    let timeout = parse_block_timeout(call.arg(call.argc() - 1), call.now_ms())?;
    let args = call.args();
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    match pop_first(call, &keys, max, 1)? {
        Popped::From(key, popped) if !popped.is_empty() => {
            call.out().array(3);
            call.out().bulk(&key);
            call.out().bulk(&popped[0].1);
            call.out().double(popped[0].0);
            Ok(())
        }
        _ => Err(CmdError::Block(BlockSpec {
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            timeout,
            timeout_reply: TimeoutReply::NullArray,
            argv: None,
        })),
    }
}

pub fn bzpopmin(call: &mut Data<'_, '_>) -> CmdResult {
    bzpop_generic(call, false)
}

pub fn bzpopmax(call: &mut Data<'_, '_>) -> CmdResult {
    bzpop_generic(call, true)
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` from `at`: the keys,
/// MAX or not, and the count.
fn parse_mpop<'a>(call: &Data<'_, 'a>, at: usize) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let args = call.args();
    let numkeys = ranged_int(call, at, 1, "ERR numkeys should be greater than 0")? as u64;
    let where_at = (at as u64 + 1).saturating_add(numkeys);
    if where_at >= args.len() as u64 {
        return Err(err(SYNTAX));
    }
    let where_at = where_at as usize;
    let max = if call.arg_is(where_at, "MAX") {
        true
    } else if call.arg_is(where_at, "MIN") {
        false
    } else {
        return Err(err(SYNTAX));
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && call.arg_is(j, "COUNT") && j + 1 < args.len() {
            count = Some(ranged_int(call, j + 1, 1, "ERR count should be greater than 0")? as usize);
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let keys = (at + 1..where_at).map(|i| args.get(i)).collect();
    Ok((keys, max, count.unwrap_or(1)))
}

/// ZMPOP's reply: [key, [[member, score], ...]].
fn reply_mpop(call: &mut Data<'_, '_>, key: &[u8], popped: &[(f64, Vec<u8>)]) {
    call.out().array(2);
    call.out().bulk(key);
    call.out().array(popped.len());
    for (s, m) in popped {
        call.out().array(2);
        call.out().bulk(m);
        call.out().double(*s);
    }
}

pub fn zmpop(call: &mut Data<'_, '_>) -> CmdResult {
    let (keys, max, count) = parse_mpop(call, 1)?;
    match pop_first(call, &keys, max, count)? {
        Popped::From(key, popped) if !popped.is_empty() => reply_mpop(call, &key, &popped),
        _ => call.out().null_array(),
    }
    Ok(())
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(call: &mut Data<'_, '_>) -> CmdResult {
    let (keys, max, count) = parse_mpop(call, 2)?;
    let timeout = parse_block_timeout(call.arg(1), call.now_ms())?;
    match pop_first(call, &keys, max, count)? {
        Popped::From(key, popped) if !popped.is_empty() => {
            reply_mpop(call, &key, &popped);
            Ok(())
        }
        _ => Err(CmdError::Block(BlockSpec {
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            timeout,
            timeout_reply: TimeoutReply::NullArray,
            argv: None,
        })),
    }
}
