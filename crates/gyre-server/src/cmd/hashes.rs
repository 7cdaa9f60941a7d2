//! Hash commands: HSET and its family, reads, counters, HRANDFIELD, HSCAN.
//!
//! Every write reads the hash, decides, and commits one deterministic
//! [`HashOp`]: HSETNX commits a Set only when the field is absent, HINCRBY and
//! HINCRBYFLOAT commit a Set of the computed value, HDEL names only the fields
//! that were present. Replies and errors follow Redis 7.2.
//!
//! Limit (Gyre's, not Redis's): HRANDFIELD with a negative count returns at
//! most [`RANDOM_REPEATS_MAX`] fields; a larger count is "value is out of
//! range" rather than a reply that could exhaust memory.

use gyre_engine::num;
use gyre_engine::types::{Hash, HashOp};
use gyre_engine::{CollOp, Entry, Mutation, Value};
use gyre_resp::Protocol;
use rand::Rng;

use super::data::Data;
use super::errors::{NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, KEY1};
use super::{arity_error, err, CmdError, CmdResult, CommandSpec, Group};

/// Most fields HRANDFIELD returns for a negative count.
pub const RANDOM_REPEATS_MAX: u64 = 1 << 24;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("hset", -4, WRITE | DENYOOM | FAST, KEY1, Hash, "2.0.0", "Creates or modifies the value of a field in a hash.", "key field value [field value ...]", data!(hset)),
    cmd!("hsetnx", 4, WRITE | DENYOOM | FAST, KEY1, Hash, "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", "key field value", data!(hsetnx)),
    cmd!("hmset", -4, WRITE | DENYOOM | FAST, KEY1, Hash, "2.0.0", "Sets the values of multiple fields.", "key field value [field value ...]", data!(hmset)),
    cmd!("hget", 3, READONLY | FAST, KEY1, Hash, "2.0.0", "Returns the value of a field in a hash.", "key field", data!(hget)),
    cmd!("hmget", -3, READONLY | FAST, KEY1, Hash, "2.0.0", "Returns the values of all fields in a hash.", "key field [field ...]", data!(hmget)),
    cmd!("hdel", -3, WRITE | FAST, KEY1, Hash, "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "key field [field ...]", data!(hdel)),
    cmd!("hlen", 2, READONLY | FAST, KEY1, Hash, "2.0.0", "Returns the number of fields in a hash.", "key", data!(hlen)),
    cmd!("hstrlen", 3, READONLY | FAST, KEY1, Hash, "3.2.0", "Returns the length of the value of a field.", "key field", data!(hstrlen)),
    cmd!("hexists", 3, READONLY | FAST, KEY1, Hash, "2.0.0", "Determines whether a field exists in a hash.", "key field", data!(hexists)),
    cmd!("hkeys", 2, READONLY, KEY1, Hash, "2.0.0", "Returns all fields in a hash.", "key", data!(hkeys)),
    cmd!("hvals", 2, READONLY, KEY1, Hash, "2.0.0", "Returns all values in a hash.", "key", data!(hvals)),
    cmd!("hgetall", 2, READONLY, KEY1, Hash, "2.0.0", "Returns all fields and values in a hash.", "key", data!(hgetall)),
    cmd!("hincrby", 4, WRITE | DENYOOM | FAST, KEY1, Hash, "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment", data!(hincrby)),
    cmd!("hincrbyfloat", 4, WRITE | DENYOOM | FAST, KEY1, Hash, "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment", data!(hincrbyfloat)),
    cmd!("hrandfield", -2, READONLY, KEY1, Hash, "6.2.0", "Returns one or more random fields from a hash.", "key [count [WITHVALUES]]", data!(hrandfield)),
    cmd!("hscan", -3, READONLY, KEY1, Hash, "2.8.0", "Iterates over fields and values of a hash.", "key cursor [MATCH pattern] [COUNT count]", data!(hscan)),
];

/// The hash an entry holds, or WRONGTYPE.
fn expect_hash(e: &Entry) -> Result<&Hash, CmdError> {
    match &e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(err(WRONGTYPE)),
    }
}

fn hash_len(e: Option<&Entry>) -> usize {
    match e.map(|e| &e.value) {
        Some(Value::Hash(h)) => h.len(),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// HSET / HMSET: sets every pair; returns how many fields were added.
fn set_pairs(call: &mut Data<'_, '_>, name: &str) -> Result<usize, CmdError> {
    let argc = call.argc();
    if argc & 1 == 1 {
        return Err(arity_error(name));
    }
    let (db, now, args) = (call.db(), call.now(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    let before = match shard.get(slot, key, now) {
        None => 0,
        Some(e) => expect_hash(e)?.len(),
    };
    let pairs = (2..argc).step_by(2).map(|i| (args.get(i), args.get(i + 1))).collect();
    let version = call.version();
    shard.commit(slot, &Mutation::Coll { db, key, op: CollOp::Hash(HashOp::Set { pairs }), version }, call.log());
    Ok(hash_len(shard.peek(slot, key)) - before)
}

pub fn hset(call: &mut Data<'_, '_>) -> CmdResult {
    let added = set_pairs(call, "hset")?;
    call.out().integer(added as i64);
    Ok(())
}

pub fn hmset(call: &mut Data<'_, '_>) -> CmdResult {
    set_pairs(call, "hmset")?;
    call.out().ok();
    Ok(())
}

/// Commits "set `field` to `value`" on the locked key.
fn commit_set(call: &mut Data<'_, '_>, shard: &mut gyre_engine::Shard, field: &[u8], value: &[u8]) {
    let (db, key) = (call.db(), call.args().get(1));
    let slot = gyre_engine::SlotId::of(key);
    let version = call.version();
    let op = CollOp::Hash(HashOp::Set { pairs: vec![(field, value)] });
    shard.commit(slot, &Mutation::Coll { db, key, op, version }, call.log());
}

pub fn hsetnx(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let (field, value) = (args.get(2), args.get(3));
    let (key, slot, mut shard) = call.lock_key(1);
    let exists = match shard.get(slot, key, now) {
        None => false,
        Some(e) => expect_hash(e)?.contains(field),
    };
    if !exists {
        commit_set(call, &mut shard, field, value);
    }
    drop(shard);
    call.out().integer(i64::from(!exists));
    Ok(())
}

pub fn hdel(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now, args) = (call.db(), call.now(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    // The op names each removed field once.
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut named: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::new();
    if let Some(e) = shard.get(slot, key, now) {
        let h = expect_hash(e)?;
        for f in (2..args.len()).map(|i| args.get(i)) {
            if h.contains(f) && named.insert(f) {
                fields.push(f);
            }
        }
    }
    let removed = fields.len();
    if removed > 0 {
        let version = call.version();
        shard.commit(slot, &Mutation::Coll { db, key, op: CollOp::Hash(HashOp::Del { fields }), version }, call.log());
    }
    drop(shard);
    call.out().integer(removed as i64);
    Ok(())
}

pub fn hincrby(call: &mut Data<'_, '_>) -> CmdResult {
    // The increment is validated before the key is looked at, as in Redis.
    let incr = call.int_arg(3)?;
    let (now, field) = (call.now(), call.args().get(2));
    let (key, slot, mut shard) = call.lock_key(1);
    let current = match shard.get(slot, key, now) {
        None => 0,
        Some(e) => match expect_hash(e)?.get(field) {
            None => 0,
            Some(v) => num::parse_i64(v).ok_or(err("ERR hash value is not an integer"))?,
        },
    };
    let next = current.checked_add(incr).ok_or(err(OVERFLOW))?;
    let mut text = itoa::Buffer::new();
    commit_set(call, &mut shard, field, text.format(next).as_bytes());
    drop(shard);
    call.out().integer(next);
    Ok(())
}

pub fn hincrbyfloat(call: &mut Data<'_, '_>) -> CmdResult {
    let delta = call.args().get(3);
    let d = num::parse_f64(delta).ok_or(err(NOT_FLOAT))?;
    if !d.is_finite() {
        return Err(err("ERR value is NaN or Infinity"));
    }
    let (now, field) = (call.now(), call.args().get(2));
    let (key, slot, mut shard) = call.lock_key(1);
    let current: Vec<u8> = match shard.get(slot, key, now) {
        None => b"0".to_vec(),
        Some(e) => match expect_hash(e)?.get(field) {
            None => b"0".to_vec(),
            Some(v) => {
                num::parse_f64(v).ok_or(err("ERR hash value is not a float"))?;
                v.to_vec()
            }
        },
    };
    let text = super::strings::add_float_text(&current, delta)?;
    commit_set(call, &mut shard, field, &text);
    drop(shard);
    call.out().bulk(&text);
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

pub fn hget(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, field) = (call.now(), call.args().get(2));
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get_read(slot, key, now) {
        None => call.out().null(),
        Some(e) => match expect_hash(e)?.get(field) {
            Some(v) => call.out().bulk(v),
            None => call.out().null(),
        },
    }
    Ok(())
}

pub fn hmget(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    let h = match shard.get_read(slot, key, now) {
        None => None,
        Some(e) => Some(expect_hash(e)?),
    };
    call.out().array(args.len() - 2);
    for f in (2..args.len()).map(|i| args.get(i)) {
        match h.and_then(|h| h.get(f)) {
            Some(v) => call.out().bulk(v),
            None => call.out().null(),
        }
    }
    Ok(())
}

pub fn hlen(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => expect_hash(e)?.len(),
    };
    call.out().integer(n as i64);
    Ok(())
}

pub fn hstrlen(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, field) = (call.now(), call.args().get(2));
    let (key, slot, mut shard) = call.lock_key(1);
    let n = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => expect_hash(e)?.get(field).map_or(0, <[u8]>::len),
    };
    call.out().integer(n as i64);
    Ok(())
}

pub fn hexists(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, field) = (call.now(), call.args().get(2));
    let (key, slot, mut shard) = call.lock_key(1);
    let found = match shard.get_read(slot, key, now) {
        None => false,
        Some(e) => expect_hash(e)?.contains(field),
    };
    call.out().integer(i64::from(found));
    Ok(())
}

/// What HKEYS / HVALS / HGETALL reply with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Fields,
    Values,
    Both,
}

fn get_all(call: &mut Data<'_, '_>, part: Part) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        match part {
            Part::Both => call.out().map(0),
            _ => call.out().array(0),
        }
        return Ok(());
    };
    let h = expect_hash(e)?;
    match part {
        Part::Both => call.out().map(h.len()),
        _ => call.out().array(h.len()),
    }
    for (f, v) in h.iter() {
        if part != Part::Values {
            call.out().bulk(f);
        }
        if part != Part::Fields {
            call.out().bulk(v);
        }
    }
    Ok(())
}

pub fn hkeys(call: &mut Data<'_, '_>) -> CmdResult {
    get_all(call, Part::Fields)
}

pub fn hvals(call: &mut Data<'_, '_>) -> CmdResult {
    get_all(call, Part::Values)
}

pub fn hgetall(call: &mut Data<'_, '_>) -> CmdResult {
    get_all(call, Part::Both)
}

// ---------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------

/// HRANDFIELD's count and WITHVALUES, validated before the key is looked at.
fn parse_random_count(call: &Data<'_, '_>) -> Result<(i64, bool), CmdError> {
    let count = call.int_arg(2)?;
    if count == i64::MIN {
        return Err(err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    let withvalues = match call.argc() {
        3 => false,
        4 if call.arg_is(3, "WITHVALUES") => true,
        _ => return Err(err(SYNTAX)),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(err("ERR value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Err(err("ERR value is out of range"));
    }
    Ok((count, withvalues))
}

pub fn hrandfield(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() == 2 {
        return hrandfield_one(call);
    }
    let (count, withvalues) = parse_random_count(call)?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        call.out().array(0);
        return Ok(());
    };
    let h = expect_hash(e)?;
    if count == 0 {
        call.out().array(0);
        return Ok(());
    }
    let all: Vec<(&[u8], &[u8])> = h.iter().collect();
    let mut rng = call.rng();
    let picks: Vec<usize> = if count < 0 {
        (0..count.unsigned_abs()).map(|_| rng.gen_range(0..all.len())).collect()
    } else if count as u64 >= all.len() as u64 {
        (0..all.len()).collect()
    } else {
        rand::seq::index::sample(&mut rng, all.len(), count as usize).into_vec()
    };
    let resp3 = call.out().protocol() == Protocol::Resp3;
    call.out().array(if withvalues && !resp3 { picks.len() * 2 } else { picks.len() });
    for i in picks {
        let (f, v) = all[i];
        if withvalues && resp3 {
            call.out().array(2);
        }
        call.out().bulk(f);
        if withvalues {
            call.out().bulk(v);
        }
    }
    Ok(())
}

fn hrandfield_one(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        call.out().null();
        return Ok(());
    };
    let h = expect_hash(e)?;
    let i = call.rng().gen_range(0..h.len());
    let (f, _) = h.iter().nth(i).expect("index below the length");
    call.out().bulk(f);
    Ok(())
}

// ---------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------

pub fn hscan(call: &mut Data<'_, '_>) -> CmdResult {
    let cursor = super::parse_scan_cursor(call.arg(2))?;
    let (now, args) = (call.now(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    // As in Redis, a missing key answers an empty scan before options are read.
    let Some(e) = shard.get_read(slot, key, now) else {
        call.out().array(2);
        call.out().bulk(b"0");
        call.out().array(0);
        return Ok(());
    };
    let h = expect_hash(e)?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(err(SYNTAX));
        }
        if call.arg_is(i, "COUNT") {
            let n = num::parse_i64(args.get(i + 1)).ok_or(err(NOT_INTEGER))?;
            if n < 1 {
                return Err(err(SYNTAX));
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if call.arg_is(i, "MATCH") {
            let p = args.get(i + 1);
            pattern = (p != b"*").then_some(p);
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| gyre_engine::glob::glob_match(p, f, false)) {
            // The table outlives this step: the shard stays locked until the reply is written.
            found.push((f, v));
        }
    });
    call.out().array(2);
    call.out().bulk(itoa::Buffer::new().format(next).as_bytes());
    call.out().array(found.len() * 2);
    for (f, v) in found {
        call.out().bulk(f);
        call.out().bulk(v);
    }
    Ok(())
}
