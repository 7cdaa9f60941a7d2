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
//!
//! Layout: this file holds the shared pieces (range parsing, rank windows,
//! committing and replying) and the command table; `members` has ZADD and the
//! single-member commands, `ranges` ZRANGE and the range removals, `pops` the
//! pops (blocking or not), `scan` ZRANDMEMBER and ZSCAN, `setops` ZUNION,
//! ZINTER, ZDIFF and ZINTERCARD.

mod members;
mod pops;
mod ranges;
mod scan;
mod setops;

use self::members::{zadd, zcard, zcount, zincrby, zlexcount, zmscore, zrank, zrem, zrevrank, zscore};
use self::pops::{bzmpop, bzpopmax, bzpopmin, zmpop, zpopmax, zpopmin};
use self::ranges::{
    zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex, zremrangebyrank, zremrangebyscore, zrevrange,
    zrevrangebylex, zrevrangebyscore,
};
use self::scan::{zrandmember, zscan};
use self::setops::{zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};

use gyre_engine::num::{parse_f64, parse_i64};
use gyre_engine::types::zset::{LexBound, LexRange, ScoreRange};
use gyre_engine::types::{ZSet, ZSetOp};
use gyre_engine::{CollOp, Entry, Mutation, Shard, SlotId, Value, NO_EXPIRY};
use gyre_resp::Protocol;

use super::data::Data;
use super::errors::WRONGTYPE;
use super::flags::*;
use super::table::{cmd, data, KEY1, NOKEYS};
use super::{err, CmdError, CommandSpec, Group};

const NOT_RANGE_FLOAT: &str = "ERR min or max is not a float";
const NOT_LEX_ITEM: &str = "ERR min or max not valid string range item";

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
    cmd!("bzpopmin", -3, WRITE | FAST | BLOCKING, (1, -2, 1), SortedSet, "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "key [key ...] timeout", data!(bzpopmin)),
    cmd!("bzpopmax", -3, WRITE | FAST | BLOCKING, (1, -2, 1), SortedSet, "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "key [key ...] timeout", data!(bzpopmax)),
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
