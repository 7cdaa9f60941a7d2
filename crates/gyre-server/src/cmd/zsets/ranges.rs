//! ZRANGE in all its forms (BYSCORE, BYLEX, REV, LIMIT, and the older
//! ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX),
//! ZRANGESTORE, and ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX.
//!
//! Invariant: every range becomes a window of ranks first, then ranks are
//! iterated, whatever the encoding; removals commit a `Rem` of the members
//! found.

use gyre_engine::num::parse_i64;
use gyre_engine::types::zset::{LexRange, ScoreRange};
use gyre_engine::types::{ZSet, ZSetOp};
use gyre_engine::SlotId;

use super::{
    as_zset, commit_op, emit_range, limit_window, parse_lex_range, parse_score_range, rank_window, store_pairs,
};
use crate::cmd::data::Data;
use crate::cmd::errors::{NOT_INTEGER, SYNTAX};
use crate::cmd::{err, CmdError, CmdResult};

// ---------------------------------------------------------------------------
// ZRANGE and friends
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeBy {
    Auto,
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
struct RangeSpec<'a> {
    by: RangeBy,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
    /// Rank bounds (BY rank).
    start: i64,
    stop: i64,
    score: Option<ScoreRange>,
    lex: Option<LexRange<'a>>,
}

impl RangeSpec<'_> {
    /// The window of ranks `[lo, hi)` of `z` this request selects; iterate it
    /// descending when `self.rev`.
    fn window(&self, z: &ZSet) -> (usize, usize) {
        match (self.by, &self.score, &self.lex) {
            (RangeBy::Score, Some(r), _) => {
                let (first, end) = z.score_rank_range(r);
                limit_window(first, end, self.offset, self.limit, self.rev)
            }
            (RangeBy::Lex, _, Some(r)) => {
                let (first, end) = z.lex_rank_range(r);
                limit_window(first, end, self.offset, self.limit, self.rev)
            }
            _ => {
                let (s, e) = rank_window(self.start, self.stop, z.len());
                if self.rev && s < e {
                    (z.len() - e, z.len() - s)
                } else {
                    (s, e)
                }
            }
        }
    }
}

/// Redis's zrangeGenericCommand argument parsing: key at `at`, then min, max
/// and options. `store` refuses WITHSCORES.
fn parse_range<'a>(
    call: &Data<'_, 'a>,
    at: usize,
    store: bool,
    mut by: RangeBy,
    rev: Option<bool>,
) -> Result<RangeSpec<'a>, CmdError> {
    let args = call.args();
    let mut spec = RangeSpec {
        by,
        rev: rev.unwrap_or(false),
        withscores: false,
        offset: 0,
        limit: -1,
        start: 0,
        stop: 0,
        score: None,
        lex: None,
    };
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        if !store && call.arg_is(j, "WITHSCORES") {
            spec.withscores = true;
        } else if call.arg_is(j, "LIMIT") && left >= 2 {
            spec.offset = call.int_arg(j + 1)?;
            spec.limit = call.int_arg(j + 2)?;
            j += 2;
        } else if rev.is_none() && call.arg_is(j, "REV") {
            spec.rev = true;
        } else if by == RangeBy::Auto && call.arg_is(j, "BYLEX") {
            by = RangeBy::Lex;
        } else if by == RangeBy::Auto && call.arg_is(j, "BYSCORE") {
            by = RangeBy::Score;
        } else {
            return Err(err(SYNTAX));
        }
        j += 1;
    }
    if by == RangeBy::Auto {
        by = RangeBy::Rank;
    }
    spec.by = by;
    if spec.limit != -1 && by == RangeBy::Rank {
        return Err(err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if spec.withscores && by == RangeBy::Lex {
        return Err(err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut lo, mut hi) = (args.get(at + 1), args.get(at + 2));
    if spec.rev && by != RangeBy::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    match by {
        RangeBy::Score => spec.score = Some(parse_score_range(lo, hi)?),
        RangeBy::Lex => spec.lex = Some(parse_lex_range(lo, hi)?),
        _ => {
            spec.start = parse_i64(lo).ok_or(err(NOT_INTEGER))?;
            spec.stop = parse_i64(hi).ok_or(err(NOT_INTEGER))?;
        }
    }
    Ok(spec)
}

fn zrange_generic(call: &mut Data<'_, '_>, by: RangeBy, rev: Option<bool>) -> CmdResult {
    let spec = parse_range(call, 1, false, by, rev)?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let (lo, hi) = spec.window(z);
    emit_range(call, z, lo, hi, spec.rev, spec.withscores);
    Ok(())
}

pub fn zrange(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Auto, None)
}

pub fn zrevrange(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Rank, Some(true))
}

pub fn zrangebyscore(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Score, Some(false))
}

pub fn zrevrangebyscore(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Score, Some(true))
}

pub fn zrangebylex(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Lex, Some(false))
}

pub fn zrevrangebylex(call: &mut Data<'_, '_>) -> CmdResult {
    zrange_generic(call, RangeBy::Lex, Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(call: &mut Data<'_, '_>) -> CmdResult {
    let spec = parse_range(call, 2, true, RangeBy::Auto, None)?;
    let (db, now, args) = (call.db(), call.now(), call.args());
    let (dst, src) = (args.get(1), args.get(2));
    let ks = call.ks();
    let mut g = ks.lock_many([(db, SlotId::of(dst)), (db, SlotId::of(src))]);
    let mut pairs: Vec<(f64, Vec<u8>)> = Vec::new();
    if let Some(z) = as_zset(g.shard(db, SlotId::of(src)).get_read(SlotId::of(src), src, now))? {
        let (lo, hi) = spec.window(z);
        z.for_range(lo, hi, spec.rev, |m, s| pairs.push((s, m.to_vec())));
    }
    if spec.rev {
        pairs.reverse();
    }
    let refs: Vec<(f64, &[u8])> = pairs.iter().map(|(s, m)| (*s, &m[..])).collect();
    store_pairs(call, g.shard(db, SlotId::of(dst)), dst, &refs);
    drop(g);
    if !refs.is_empty() {
        call.signal_ready(dst);
    }
    call.out().integer(refs.len() as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------

fn zremrange_generic(call: &mut Data<'_, '_>, by: RangeBy) -> CmdResult {
    let args = call.args();
    let (lo, hi) = (args.get(2), args.get(3));
    let mut spec = RangeSpec {
        by,
        rev: false,
        withscores: false,
        offset: 0,
        limit: -1,
        start: 0,
        stop: 0,
        score: None,
        lex: None,
    };
    match by {
        RangeBy::Score => spec.score = Some(parse_score_range(lo, hi)?),
        RangeBy::Lex => spec.lex = Some(parse_lex_range(lo, hi)?),
        _ => {
            spec.start = call.int_arg(2)?;
            spec.stop = call.int_arg(3)?;
        }
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get(slot, key, now))? else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    let (lo, hi) = spec.window(z);
    let mut members: Vec<Vec<u8>> = Vec::with_capacity(hi.saturating_sub(lo));
    z.for_range(lo, hi, false, |m, _| members.push(m.to_vec()));
    let n = members.len();
    if n > 0 {
        commit_op(call, &mut shard, slot, key, ZSetOp::Rem(members.iter().map(|m| &m[..]).collect()));
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn zremrangebyrank(call: &mut Data<'_, '_>) -> CmdResult {
    zremrange_generic(call, RangeBy::Rank)
}

pub fn zremrangebyscore(call: &mut Data<'_, '_>) -> CmdResult {
    zremrange_generic(call, RangeBy::Score)
}

pub fn zremrangebylex(call: &mut Data<'_, '_>) -> CmdResult {
    zremrange_generic(call, RangeBy::Lex)
}
