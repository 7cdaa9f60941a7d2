//! Commands on single members and counts: ZADD and ZINCRBY (with ZADD's
//! NX/XX/GT/LT/CH/INCR flags), ZREM, ZCARD, ZSCORE, ZMSCORE, ZCOUNT,
//! ZLEXCOUNT, ZRANK and ZREVRANK (with WITHSCORE).
//!
//! Invariant: ZADD INCR and ZINCRBY commit the new score they computed, never
//! an increment, so a replay gives the same set; an increment that would make
//! a score NaN is an error.

use gyre_engine::num::parse_f64;
use gyre_engine::types::{ZSet, ZSetOp};

use super::{as_zset, commit_op, parse_lex_range, parse_score_range};
use crate::cmd::data::Data;
use crate::cmd::errors::{NOT_FLOAT, SYNTAX};
use crate::cmd::{err, CmdError, CmdResult};

const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
// ---------------------------------------------------------------------------
// ZADD, ZINCRBY
// ---------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Parses ZADD's options from index 2; returns them and the first score index.
fn parse_add_flags(call: &Data<'_, '_>) -> Result<(AddFlags, usize), CmdError> {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < call.argc() {
        let a = call.arg(i);
        let flag = match a.len() {
            2 if a.eq_ignore_ascii_case(b"nx") => &mut f.nx,
            2 if a.eq_ignore_ascii_case(b"xx") => &mut f.xx,
            2 if a.eq_ignore_ascii_case(b"gt") => &mut f.gt,
            2 if a.eq_ignore_ascii_case(b"lt") => &mut f.lt,
            2 if a.eq_ignore_ascii_case(b"ch") => &mut f.ch,
            4 if a.eq_ignore_ascii_case(b"incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let elements = call.argc() - i;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(err(SYNTAX));
    }
    if f.nx && f.xx {
        return Err(err("ERR XX and NX options at the same time are not compatible"));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(err("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && elements > 2 {
        return Err(err("ERR INCR option supports a single increment-element pair"));
    }
    Ok((f, i))
}

/// What ZADD decided for one pair.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Unchanged; `Some` when the element was processed (same score).
    Same(f64),
    Nop,
}

/// Redis's zsetAdd decision for one pair against the current score.
fn decide(f: AddFlags, score: f64, current: Option<f64>) -> Result<AddOutcome, CmdError> {
    let Some(cur) = current else {
        return Ok(if f.xx { AddOutcome::Nop } else { AddOutcome::Added(score) });
    };
    if f.nx {
        return Ok(AddOutcome::Nop);
    }
    let score = if f.incr { score + cur } else { score };
    if score.is_nan() {
        return Err(err(NAN_RESULT));
    }
    if (f.lt && score >= cur) || (f.gt && score <= cur) {
        return Ok(AddOutcome::Nop);
    }
    Ok(if score != cur { AddOutcome::Updated(score) } else { AddOutcome::Same(score) })
}

pub fn zadd(call: &mut Data<'_, '_>) -> CmdResult {
    let (f, first) = parse_add_flags(call)?;
    let pairs = (call.argc() - first) / 2;
    let mut scores = Vec::with_capacity(pairs);
    for j in 0..pairs {
        scores.push(parse_f64(call.arg(first + 2 * j)).ok_or(err(NOT_FLOAT))?);
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let z = as_zset(shard.get(slot, key, now))?;
    if z.is_none() && f.xx {
        drop(shard);
        return reply_add(call, f, 0, 0, None);
    }
    let args = call.args();
    // Pairs for the same member apply in order: later ones see earlier ones.
    let mut items: Vec<(f64, &[u8])> = Vec::with_capacity(pairs);
    // Where each member sits in `items`: a linear search for a few pairs, a
    // map for many (ZADD with thousands of pairs stays linear).
    let mut index: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
    let (mut added, mut updated, mut last) = (0i64, 0i64, None);
    for (j, &score) in scores.iter().enumerate() {
        let member = args.get(first + 2 * j + 1);
        let pending =
            if pairs <= 16 { items.iter().position(|(_, m)| *m == member) } else { index.get(member).copied() };
        let current = match pending {
            Some(p) => Some(items[p].0),
            None => z.and_then(|z| z.score(member)),
        };
        let new = match decide(f, score, current)? {
            AddOutcome::Added(s) => {
                added += 1;
                s
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                s
            }
            AddOutcome::Same(s) => {
                last = Some(s);
                continue;
            }
            AddOutcome::Nop => continue,
        };
        last = Some(new);
        match pending {
            Some(p) => items[p].0 = new,
            None => {
                if pairs > 16 {
                    index.insert(member, items.len());
                }
                items.push((new, member));
            }
        }
    }
    let changed = !items.is_empty();
    if changed {
        commit_op(call, &mut shard, slot, key, ZSetOp::Add(items));
    }
    drop(shard);
    if changed {
        call.signal_ready(key);
    }
    reply_add(call, f, added, updated, last)
}

fn reply_add(call: &mut Data<'_, '_>, f: AddFlags, added: i64, updated: i64, last: Option<f64>) -> CmdResult {
    match (f.incr, last) {
        (true, Some(s)) => call.out().double(s),
        (true, None) => call.out().null(),
        (false, _) => call.out().integer(if f.ch { added + updated } else { added }),
    }
    Ok(())
}

/// ZINCRBY key increment member: ZADD key INCR increment member, including
/// its option parsing (so `ZINCRBY k nx m` is a syntax error, as in Redis).
pub fn zincrby(call: &mut Data<'_, '_>) -> CmdResult {
    let (mut f, first) = parse_add_flags(call)?;
    f.incr = true;
    let score = parse_f64(call.arg(first)).ok_or(err(NOT_FLOAT))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let z = as_zset(shard.get(slot, key, now))?;
    let member = call.args().get(first + 1);
    let new = match decide(f, score, z.and_then(|z| z.score(member)))? {
        AddOutcome::Added(s) | AddOutcome::Updated(s) => s,
        AddOutcome::Same(s) => {
            drop(shard);
            call.out().double(s);
            return Ok(());
        }
        AddOutcome::Nop => unreachable!("no NX/XX/GT/LT reach here"),
    };
    commit_op(call, &mut shard, slot, key, ZSetOp::Add(vec![(new, member)]));
    drop(shard);
    call.signal_ready(key);
    call.out().double(new);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZREM, ZCARD, ZSCORE, ZMSCORE, ZCOUNT, ZLEXCOUNT, ZRANK
// ---------------------------------------------------------------------------

/// The distinct members among `members` that `z` holds.
fn present<'a>(z: &ZSet, members: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut seen = hashbrown::HashSet::new();
    for m in members {
        if z.score(m).is_some() && seen.insert(m) {
            out.push(m);
        }
    }
    out
}

pub fn zrem(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get(slot, key, now))? else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    let args = call.args();
    let gone = present(z, (2..args.len()).map(|i| args.get(i)));
    let n = gone.len();
    if n > 0 {
        commit_op(call, &mut shard, slot, key, ZSetOp::Rem(gone));
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn zcard(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = as_zset(shard.get_read(slot, key, now))?.map_or(0, |z| z.len());
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn zscore(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let s = as_zset(shard.get_read(slot, key, now))?.and_then(|z| z.score(call.args().get(2)));
    drop(shard);
    match s {
        Some(s) => call.out().double(s),
        None => call.out().null(),
    }
    Ok(())
}

pub fn zmscore(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let z = as_zset(shard.get_read(slot, key, now))?;
    let args = call.args();
    call.out().array(args.len() - 2);
    for i in 2..args.len() {
        match z.and_then(|z| z.score(args.get(i))) {
            Some(s) => call.out().double(s),
            None => call.out().null(),
        }
    }
    Ok(())
}

pub fn zcount(call: &mut Data<'_, '_>) -> CmdResult {
    let r = parse_score_range(call.arg(2), call.arg(3))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = as_zset(shard.get_read(slot, key, now))?.map_or(0, |z| {
        let (first, end) = z.score_rank_range(&r);
        end - first
    });
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn zlexcount(call: &mut Data<'_, '_>) -> CmdResult {
    let args = call.args();
    let r = parse_lex_range(args.get(2), args.get(3))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = as_zset(shard.get_read(slot, key, now))?.map_or(0, |z| {
        let (first, end) = z.lex_rank_range(&r);
        end - first
    });
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

fn zrank_generic(call: &mut Data<'_, '_>, rev: bool) -> CmdResult {
    if call.argc() > 4 {
        return Err(crate::cmd::arity_error(if rev { "zrevrank" } else { "zrank" }));
    }
    let withscore = call.argc() == 4;
    if withscore && !call.arg_is(3, "WITHSCORE") {
        return Err(err(SYNTAX));
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let found = as_zset(shard.get_read(slot, key, now))?
        .and_then(|z| z.rank(call.args().get(2)).map(|(r, s)| (if rev { z.len() - 1 - r } else { r }, s)));
    drop(shard);
    match found {
        Some((rank, score)) if withscore => {
            call.out().array(2);
            call.out().integer(rank as i64);
            call.out().double(score);
        }
        Some((rank, _)) => call.out().integer(rank as i64),
        None if withscore => call.out().null_array(),
        None => call.out().null(),
    }
    Ok(())
}

pub fn zrank(call: &mut Data<'_, '_>) -> CmdResult {
    zrank_generic(call, false)
}

pub fn zrevrank(call: &mut Data<'_, '_>) -> CmdResult {
    zrank_generic(call, true)
}
