//! Set algebra on sorted sets: ZUNION, ZINTER, ZDIFF, their STORE forms and
//! ZINTERCARD, with WEIGHTS and AGGREGATE SUM | MIN | MAX.
//!
//! Invariant: the STORE forms replace the destination with the whole result
//! (or delete it when the result is empty), committed as one value. Inputs may
//! be sets as well as sorted sets (members score 1), as in Redis.

use gyre_engine::num::parse_f64;
use gyre_engine::{SlotId, Value};

use super::{emit_pairs, ranged_int, store_pairs};
use crate::cmd::data::Data;
use crate::cmd::errors::{SYNTAX, WRONGTYPE};
use crate::cmd::{err, CmdError, CmdResult};

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
