//! Sorted set commands (Redis 7.2 semantics, errors and reply shapes).
//!
//! Every write decides in the command and commits absolute ops: ZADD INCR and
//! ZINCRBY compute the new score, pops and range removals become `Rem` of the
//! members found, xSTORE commands replace the destination with a whole
//! serialized value (or delete it when the result is empty). Reads that select
//! by score or lex range turn the range into a window of ranks first
//! ([`ZSet::score_rank_range`]), then iterate ranks, whatever the encoding.
//!
//! Scores in replies go through `ReplyWriter::double` (RESP3 doubles, Redis
//! 7.2's spelling in RESP2). With WITHSCORES, RESP2 gets one flat array and
//! RESP3 an array of [member, score] pairs, as Redis 7.2 answers.

use gyre_engine::num::{parse_f64, parse_i64};
use gyre_engine::types::zset::{LexBound, LexRange, ScoreRange};
use gyre_engine::types::{ZSet, ZSetOp};
use gyre_engine::{CollOp, Entry, Mutation, Shard, SlotId, Value, NO_EXPIRY};
use gyre_resp::Protocol;

use rand::Rng;

use super::data::Data;
use super::errors::{NOT_FLOAT, NOT_INTEGER, SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, KEY1, NOKEYS};
use super::{err, parse_block_timeout, BlockSpec, CmdError, CmdResult, CommandSpec, Group, TimeoutReply};

const NOT_RANGE_FLOAT: &str = "ERR min or max is not a float";
const NOT_LEX_ITEM: &str = "ERR min or max not valid string range item";
const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
/// Longest reply ZRANDMEMBER builds for a negative count (repeats allowed):
/// Redis has no bound and would grow its output buffer until the client is
/// dropped; a bounded reply is an error instead.
const RANDMEMBER_REPLY_MAX: u64 = 1 << 24;

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/// The sorted set held by an entry: Ok(None) when absent, WRONGTYPE otherwise.
pub(super) fn as_zset(e: Option<&mut Entry>) -> Result<Option<&ZSet>, CmdError> {
    match e {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(err(WRONGTYPE)),
        },
    }
}

/// Commits one op on `key` (in the selected database).
fn commit_op(call: &mut Data<'_, '_>, shard: &mut Shard, slot: SlotId, key: &[u8], op: ZSetOp<&[u8]>) {
    let (db, version) = (call.db(), call.version());
    shard.commit(slot, &Mutation::Coll { db, key, op: CollOp::ZSet(op), version }, call.log());
}

/// Replaces `dst` with a sorted set of `pairs` (sorted, unique), or deletes it
/// when `pairs` is empty: what every xSTORE command does to its destination.
fn store_pairs(call: &mut Data<'_, '_>, shard: &mut Shard, dst: &[u8], pairs: &[(f64, &[u8])]) {
    let (db, slot, now) = (call.db(), SlotId::of(dst), call.now());
    if pairs.is_empty() {
        if shard.get(slot, dst, now).is_some() {
            let version = call.version();
            shard.commit(slot, &Mutation::Del { db, key: dst, version }, call.log());
        }
        return;
    }
    let mut value = Vec::new();
    Value::ZSet(ZSet::from_sorted(pairs.iter().copied())).serialize(&mut value);
    let version = call.version();
    shard.commit(
        slot,
        &Mutation::Restore { db, key: dst, value: &value, expire_at_ms: NO_EXPIRY, version },
        call.log(),
    );
}

fn resp3(call: &Data<'_, '_>) -> bool {
    call.protocol() == Protocol::Resp3
}

/// Writes ranks `[start, end)` of `z` (descending when `rev`) as ZRANGE does.
fn emit_range(call: &mut Data<'_, '_>, z: &ZSet, start: usize, end: usize, rev: bool, withscores: bool) {
    let n = end.min(z.len()).saturating_sub(start);
    let nested = withscores && resp3(call);
    call.out().array(if withscores && !nested { n * 2 } else { n });
    let out = call.out();
    z.for_range(start, end, rev, |m, s| {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    });
}

/// Writes owned (member, score) pairs as ZRANGE does.
fn emit_pairs(call: &mut Data<'_, '_>, pairs: &[(f64, Vec<u8>)], withscores: bool) {
    let nested = withscores && resp3(call);
    call.out().array(if withscores && !nested { pairs.len() * 2 } else { pairs.len() });
    for (s, m) in pairs {
        if nested {
            call.out().array(2);
        }
        call.out().bulk(m);
        if withscores {
            call.out().double(*s);
        }
    }
}

/// Parses a float as C's strtod does when the whole string must be consumed:
/// leading white space allowed, overflow gives infinity, an empty string is 0
/// (Redis's zslParseRange accepts all of these). NaN is refused.
fn strtod_whole(s: &[u8]) -> Option<f64> {
    // C strings end at the first NUL.
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    if s.is_empty() {
        return Some(0.0);
    }
    let body = &s[s.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?..];
    let v = parse_f64(body).or_else(|| std::str::from_utf8(body).ok()?.parse::<f64>().ok())?;
    (!v.is_nan()).then_some(v)
}

fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg {
        [b'(', rest @ ..] => Some((strtod_whole(rest)?, true)),
        _ => Some((strtod_whole(arg)?, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, min_exclusive) = parse_score_bound(min).ok_or(err(NOT_RANGE_FLOAT))?;
    let (max, max_exclusive) = parse_score_bound(max).ok_or(err(NOT_RANGE_FLOAT))?;
    Ok(ScoreRange { min, max, min_exclusive, max_exclusive })
}

fn parse_lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    match arg {
        b"+" => Some(LexBound::PosInf),
        b"-" => Some(LexBound::NegInf),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(rest)),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(rest)),
        _ => None,
    }
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
    let min = parse_lex_bound(min).ok_or(err(NOT_LEX_ITEM))?;
    let max = parse_lex_bound(max).ok_or(err(NOT_LEX_ITEM))?;
    Ok(LexRange { min, max })
}

/// Redis's rank sanitizing: the window `[start, end)` of `start..=stop`
/// (negative counting from the end), empty when nothing is inside.
fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return (0, 0);
    }
    (start as usize, (stop.min(len - 1) + 1) as usize)
}

/// The ranks `[lo, hi)` selected from `[first, end)` by LIMIT offset count,
/// counting from the top when `rev` (Redis: a negative offset selects
/// nothing, a negative count everything after the offset).
fn limit_window(first: usize, end: usize, offset: i64, limit: i64, rev: bool) -> (usize, usize) {
    if offset < 0 || first >= end {
        return (0, 0);
    }
    let avail = end - first;
    let offset = (offset as u64).min(avail as u64) as usize;
    let take = if limit < 0 { avail - offset } else { (limit as u64).min((avail - offset) as u64) as usize };
    if rev {
        (end - offset - take, end - offset)
    } else {
        (first + offset, first + offset + take)
    }
}

/// Argument `i` as a count with Redis's getRangeLong errors: `msg` for a
/// non-integer or an out-of-range value.
fn ranged_int(call: &Data<'_, '_>, i: usize, min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match parse_i64(call.arg(i)) {
        Some(v) if v >= min => Ok(v),
        _ => Err(err(msg)),
    }
}

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
        return Err(super::arity_error(if rev { "zrevrank" } else { "zrank" }));
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

// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------

pub fn zrandmember(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() == 2 {
        let now = call.now();
        let (key, slot, mut shard) = call.lock_key(1);
        match as_zset(shard.get_read(slot, key, now))? {
            Some(z) => {
                let (m, _) = z.get(call.rng().gen_range(0..z.len())).expect("in range");
                call.out().bulk(m);
            }
            None => call.out().null(),
        }
        return Ok(());
    }
    let count = match parse_i64(call.arg(2)) {
        None => return Err(err(NOT_INTEGER)),
        Some(i64::MIN) => {
            return Err(err(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(c) => c,
    };
    if call.argc() > 4 || (call.argc() == 4 && !call.arg_is(3, "WITHSCORES")) {
        return Err(err(SYNTAX));
    }
    let withscores = call.argc() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(err("ERR value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > RANDMEMBER_REPLY_MAX {
        return Err(err("ERR value is out of range"));
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let ranks: Vec<usize> = if count < 0 {
        {
            let mut rng = call.rng();
            (0..count.unsigned_abs()).map(|_| rng.gen_range(0..z.len())).collect()
        }
    } else if count as u64 >= z.len() as u64 {
        (0..z.len()).collect()
    } else {
        rand::seq::index::sample(&mut call.rng(), z.len(), count as usize).into_vec()
    };
    let nested = withscores && resp3(call);
    call.out().array(if withscores && !nested { ranks.len() * 2 } else { ranks.len() });
    for r in ranks {
        let (m, s) = z.get(r).expect("in range");
        if nested {
            call.out().array(2);
        }
        call.out().bulk(m);
        if withscores {
            call.out().double(s);
        }
    }
    Ok(())
}

/// Redis's `%.17g`, which ZSCAN uses for scores of skiplist-encoded sets.
fn format_17g(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..17).contains(&exp) {
        trim(&format!("{:.*}", (16 - exp) as usize, v))
    } else {
        format!("{}e{}{:02}", trim(mantissa), if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

pub fn zscan(call: &mut Data<'_, '_>) -> CmdResult {
    let cursor = super::parse_scan_cursor(call.arg(2))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().array(2);
        call.out().bulk(b"0");
        call.out().array(0);
        return Ok(());
    };
    let args = call.args();
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 3;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(err(SYNTAX));
        }
        if call.arg_is(i, "COUNT") {
            count = match call.int_arg(i + 1)? {
                n if n < 1 => return Err(err(SYNTAX)),
                n => n as usize,
            };
        } else if call.arg_is(i, "MATCH") {
            pattern = Some(args.get(i + 1)).filter(|p| *p != b"*");
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    // A listpack is returned whole (as Redis does). A skiplist is walked in the
    // order of a stable hash of the members, the cursor being the next hash:
    // unlike a rank, that order does not shift when members are added or
    // removed, so every member present for the whole scan is returned. A step
    // covers at least 1/32 of the set, so a full scan stays linear.
    let packed = z.encoding() == "listpack";
    let mut batch: Vec<(u64, Vec<u8>, f64)> = Vec::new();
    z.for_range(0, z.len(), false, |m, s| {
        let h = gyre_engine::keyspace::key_hash(m) >> 1;
        if packed || h >= cursor {
            batch.push((h, m.to_vec(), s));
        }
    });
    let mut next = 0;
    let budget = count.max(z.len() / 32).max(1);
    if !packed && batch.len() > budget {
        batch.sort_unstable_by_key(|e| e.0);
        let last = batch[budget - 1].0;
        batch.truncate(batch.partition_point(|e| e.0 <= last));
        next = last + 1;
    }
    drop(shard);
    let mut found: Vec<(Vec<u8>, String)> = Vec::new();
    for (_, m, s) in batch {
        if pattern.is_none_or(|p| gyre_engine::glob::glob_match(p, &m, false)) {
            let text = if packed {
                let mut b = Vec::new();
                gyre_resp::format_double(s, &mut b);
                String::from_utf8(b).expect("ascii")
            } else {
                format_17g(s)
            };
            found.push((m, text));
        }
    }
    call.out().array(2);
    call.out().bulk(itoa::Buffer::new().format(next).as_bytes());
    call.out().array(found.len() * 2);
    for (m, s) in &found {
        call.out().bulk(m);
        call.out().bulk(s.as_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's zunionInterAggregate: a SUM of +inf and -inf is 0.
fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if v < *target { v } else { *target },
        Aggregate::Max => *target = if v > *target { v } else { *target },
    }
}

/// Options after the keys of ZUNION and friends.
struct SetOpOptions {
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: usize,
}

/// One input: its members and scores (a plain set's members score 1).
type Source = Vec<(f64, Vec<u8>)>;

/// Parses the options after `numkeys` keys starting at `from`.
fn parse_setop_options(
    call: &Data<'_, '_>,
    from: usize,
    n: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpOptions, CmdError> {
    let mut o = SetOpOptions { weights: vec![1.0; n], how: Aggregate::Sum, withscores: false, limit: 0 };
    let mut j = from;
    while j < call.argc() {
        let left = call.argc() - j;
        if op != SetOp::Diff && !card && left > n && call.arg_is(j, "WEIGHTS") {
            for i in 0..n {
                o.weights[i] = parse_f64(call.arg(j + 1 + i)).ok_or(err("ERR weight value is not a float"))?;
            }
            j += n + 1;
        } else if op != SetOp::Diff && !card && left >= 2 && call.arg_is(j, "AGGREGATE") {
            let a = call.arg(j + 1);
            o.how = if a.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(err(SYNTAX));
            };
            j += 2;
        } else if !store && !card && call.arg_is(j, "WITHSCORES") {
            o.withscores = true;
            j += 1;
        } else if card && left >= 2 && call.arg_is(j, "LIMIT") {
            o.limit = ranged_int(call, j + 1, 0, "ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    Ok(o)
}

/// Copies the members of each key (WRONGTYPE unless a sorted set or a set).
fn read_sources(
    call: &Data<'_, '_>,
    g: &mut gyre_engine::MultiGuard<'_>,
    keys: &[&[u8]],
) -> Result<Vec<Source>, CmdError> {
    let (db, now) = (call.db(), call.now());
    let mut out = Vec::with_capacity(keys.len());
    for &k in keys {
        let slot = SlotId::of(k);
        let src = match g.shard(db, slot).get_read(slot, k, now).map(|e| &e.value) {
            None => Vec::new(),
            Some(Value::ZSet(z)) => z.to_vec(),
            Some(Value::Set(s)) => {
                let mut scratch = itoa::Buffer::new();
                s.iter().map(|m| (1.0, m.as_bytes(&mut scratch).to_vec())).collect()
            }
            Some(_) => return Err(err(WRONGTYPE)),
        };
        out.push(src);
    }
    Ok(out)
}

/// Computes the operation over weighted sources; the result in set order.
/// With `limit` (> 0) an intersection stops counting there (ZINTERCARD).
fn compute_setop(mut srcs: Vec<(f64, Source)>, op: SetOp, how: Aggregate, limit: usize) -> Source {
    use hashbrown::HashMap;
    if op != SetOp::Diff {
        // Smallest first, as Redis iterates them.
        srcs.sort_by_key(|(_, s)| s.len());
    }
    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut out: Source = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (w, src) in srcs {
                for (s, m) in src {
                    let v = weighted(w, s);
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, v, how),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            out = acc.into_iter().map(|(m, s)| (s, m)).collect();
        }
        SetOp::Inter => {
            let Some(((w0, first), rest)) = srcs.split_first() else {
                return out;
            };
            let maps: Vec<(f64, HashMap<&[u8], f64>)> =
                rest.iter().map(|(w, src)| (*w, src.iter().map(|(s, m)| (&m[..], *s)).collect())).collect();
            'members: for (s, m) in first {
                let mut score = weighted(*w0, *s);
                for (w, map) in &maps {
                    match map.get(&m[..]) {
                        Some(v) => aggregate(&mut score, v * w, how),
                        None => continue 'members,
                    }
                }
                out.push((score, m.clone()));
                if limit > 0 && out.len() >= limit {
                    break;
                }
            }
        }
        SetOp::Diff => {
            let Some(((_, first), rest)) = srcs.split_first() else {
                return out;
            };
            let others: hashbrown::HashSet<&[u8]> =
                rest.iter().flat_map(|(_, src)| src.iter().map(|(_, m)| &m[..])).collect();
            out = first.iter().filter(|(_, m)| !others.contains(&m[..])).cloned().collect();
        }
    }
    out.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("no NaN").then_with(|| a.1.cmp(&b.1)));
    out
}

/// The shared body: `numkeys_at` is the index of numkeys; `dst` for STORE.
fn setop_generic(
    call: &mut Data<'_, '_>,
    name: &str,
    numkeys_at: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> CmdResult {
    let n = call.int_arg(numkeys_at)?;
    if n < 1 {
        return Err(CmdError::Msg(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    if n as u64 > (call.argc() - numkeys_at - 1) as u64 {
        return Err(err(SYNTAX));
    }
    let n = n as usize;
    let args = call.args();
    let keys: Vec<&[u8]> = (numkeys_at + 1..numkeys_at + 1 + n).map(|i| args.get(i)).collect();
    let options = parse_setop_options(call, numkeys_at + 1 + n, n, op, store, card);
    let (db, ks) = (call.db(), call.ks());
    let dst = store.then(|| args.get(1));
    let mut g = ks.lock_many(keys.iter().chain(dst.iter()).map(|k| (db, SlotId::of(k))));
    // Redis reports a wrong-typed input before a bad option.
    let srcs = read_sources(call, &mut g, &keys)?;
    let o = options?;
    let result =
        compute_setop(o.weights.iter().copied().zip(srcs).collect(), op, o.how, if card { o.limit } else { 0 });
    if let Some(dst) = dst {
        let refs: Vec<(f64, &[u8])> = result.iter().map(|(s, m)| (*s, &m[..])).collect();
        store_pairs(call, g.shard(db, SlotId::of(dst)), dst, &refs);
        drop(g);
        if !refs.is_empty() {
            call.signal_ready(dst);
        }
        call.out().integer(refs.len() as i64);
        return Ok(());
    }
    drop(g);
    if card {
        call.out().integer(result.len() as i64);
    } else {
        emit_pairs(call, &result, o.withscores);
    }
    Ok(())
}

pub fn zunion(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zunion", 1, SetOp::Union, false, false)
}

pub fn zinter(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zinter", 1, SetOp::Inter, false, false)
}

pub fn zdiff(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zdiff", 1, SetOp::Diff, false, false)
}

pub fn zunionstore(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zunionstore", 2, SetOp::Union, true, false)
}

pub fn zinterstore(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zinterstore", 2, SetOp::Inter, true, false)
}

pub fn zdiffstore(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zdiffstore", 2, SetOp::Diff, true, false)
}

pub fn zintercard(call: &mut Data<'_, '_>) -> CmdResult {
    setop_generic(call, "zintercard", 1, SetOp::Inter, false, true)
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("zadd", -4, WRITE | DENYOOM | FAST, KEY1, SortedSet, "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]", data!(zadd)),
    cmd!("zincrby", 4, WRITE | DENYOOM | FAST, KEY1, SortedSet, "1.2.0", "Increments the score of a member in a sorted set.", "key increment member", data!(zincrby)),
    cmd!("zrem", -3, WRITE | FAST, KEY1, SortedSet, "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "key member [member ...]", data!(zrem)),
    cmd!("zcard", 2, READONLY | FAST, KEY1, SortedSet, "1.2.0", "Returns the number of members in a sorted set.", "key", data!(zcard)),
    cmd!("zscore", 3, READONLY | FAST, KEY1, SortedSet, "1.2.0", "Returns the score of a member in a sorted set.", "key member", data!(zscore)),
    cmd!("zmscore", -3, READONLY | FAST, KEY1, SortedSet, "6.2.0", "Returns the score of one or more members in a sorted set.", "key member [member ...]", data!(zmscore)),
    cmd!("zcount", 4, READONLY | FAST, KEY1, SortedSet, "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", "key min max", data!(zcount)),
    cmd!("zlexcount", 4, READONLY | FAST, KEY1, SortedSet, "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", "key min max", data!(zlexcount)),
    cmd!("zrange", -4, READONLY, KEY1, SortedSet, "1.2.0", "Returns members in a sorted set within a range of indexes.", "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", data!(zrange)),
    cmd!("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), SortedSet, "6.2.0", "Stores a range of members from sorted set in a key.", "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", data!(zrangestore)),
    cmd!("zrevrange", -4, READONLY, KEY1, SortedSet, "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", "key start stop [WITHSCORES]", data!(zrevrange)),
    cmd!("zrangebyscore", -4, READONLY, KEY1, SortedSet, "1.0.5", "Returns members in a sorted set within a range of scores.", "key min max [WITHSCORES] [LIMIT offset count]", data!(zrangebyscore)),
    cmd!("zrevrangebyscore", -4, READONLY, KEY1, SortedSet, "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", "key max min [WITHSCORES] [LIMIT offset count]", data!(zrevrangebyscore)),
    cmd!("zrangebylex", -4, READONLY, KEY1, SortedSet, "2.8.9", "Returns members in a sorted set within a lexicographical range.", "key min max [LIMIT offset count]", data!(zrangebylex)),
    cmd!("zrevrangebylex", -4, READONLY, KEY1, SortedSet, "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", "key max min [LIMIT offset count]", data!(zrevrangebylex)),
    cmd!("zrank", -3, READONLY | FAST, KEY1, SortedSet, "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", "key member [WITHSCORE]", data!(zrank)),
    cmd!("zrevrank", -3, READONLY | FAST, KEY1, SortedSet, "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", "key member [WITHSCORE]", data!(zrevrank)),
    cmd!("zremrangebyrank", 4, WRITE, KEY1, SortedSet, "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "key start stop", data!(zremrangebyrank)),
    cmd!("zremrangebyscore", 4, WRITE, KEY1, SortedSet, "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "key min max", data!(zremrangebyscore)),
    cmd!("zremrangebylex", 4, WRITE, KEY1, SortedSet, "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "key min max", data!(zremrangebylex)),
    cmd!("zpopmin", -2, WRITE | FAST, KEY1, SortedSet, "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count]", data!(zpopmin)),
    cmd!("zpopmax", -2, WRITE | FAST, KEY1, SortedSet, "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count]", data!(zpopmax)),
    CommandSpec { numkeys_at: 1, ..cmd!("zmpop", -4, WRITE, NOKEYS, SortedSet, "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "numkeys key [key ...] MIN | MAX [COUNT count]", data!(zmpop)) },
    cmd!("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), SortedSet, "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "key [key ...] timeout", data!(bzpopmin)),
    cmd!("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), SortedSet, "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "key [key ...] timeout", data!(bzpopmax)),
    CommandSpec { numkeys_at: 2, ..cmd!("bzmpop", -5, WRITE | BLOCKING, NOKEYS, SortedSet, "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "timeout numkeys key [key ...] MIN | MAX [COUNT count]", data!(bzmpop)) },
    cmd!("zrandmember", -2, READONLY, KEY1, SortedSet, "6.2.0", "Returns one or more random members from a sorted set.", "key [count [WITHSCORES]]", data!(zrandmember)),
    CommandSpec { numkeys_at: 1, ..cmd!("zunion", -3, READONLY, NOKEYS, SortedSet, "6.2.0", "Returns the union of multiple sorted sets.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]", data!(zunion)) },
    CommandSpec { numkeys_at: 1, ..cmd!("zinter", -3, READONLY, NOKEYS, SortedSet, "6.2.0", "Returns the intersect of multiple sorted sets.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX] [WITHSCORES]", data!(zinter)) },
    CommandSpec { numkeys_at: 1, ..cmd!("zdiff", -3, READONLY, NOKEYS, SortedSet, "6.2.0", "Returns the difference between multiple sorted sets.", "numkeys key [key ...] [WITHSCORES]", data!(zdiff)) },
    CommandSpec { numkeys_at: 2, ..cmd!("zunionstore", -4, WRITE | DENYOOM, KEY1, SortedSet, "2.0.0", "Stores the union of multiple sorted sets in a key.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX]", data!(zunionstore)) },
    CommandSpec { numkeys_at: 2, ..cmd!("zinterstore", -4, WRITE | DENYOOM, KEY1, SortedSet, "2.0.0", "Stores the intersect of multiple sorted sets in a key.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX]", data!(zinterstore)) },
    CommandSpec { numkeys_at: 2, ..cmd!("zdiffstore", -4, WRITE | DENYOOM, KEY1, SortedSet, "6.2.0", "Stores the difference of multiple sorted sets in a key.", "destination numkeys key [key ...]", data!(zdiffstore)) },
    CommandSpec { numkeys_at: 1, ..cmd!("zintercard", -3, READONLY, NOKEYS, SortedSet, "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", "numkeys key [key ...] [LIMIT limit]", data!(zintercard)) },
    cmd!("zscan", -3, READONLY, KEY1, SortedSet, "2.8.0", "Iterates over members and scores of a sorted set.", "key cursor [MATCH pattern] [COUNT count]", data!(zscan)),
];
