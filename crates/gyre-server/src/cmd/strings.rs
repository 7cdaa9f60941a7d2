//! String commands: GET, SET and its family, counters, ranges.
//!
//! Every write reads the current entry, decides, and commits exactly one Mutation
//! per key it changes (INCR becomes "set k to 11 keeping its expiry"; SETRANGE on
//! a missing key becomes "set k to the padded value").

use gyre_engine::num;
use gyre_engine::{Entry, Mutation, SlotId, Value, NO_EXPIRY};

use super::data::Data;
use super::errors::{NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};
use super::{arity_error, err, CmdError, CmdResult};

/// The reply for a value read as a string: its bytes, or nil for a collection
/// (what MGET answers for keys of other types).
pub fn reply_value(call: &mut Data<'_, '_>, v: &Value) {
    match v {
        Value::Int(i) => call.out().bulk_int(*i),
        Value::Str(s) => call.out().bulk(s),
        _ => call.out().null(),
    }
}

/// Fails with WRONGTYPE unless the entry holds a string.
pub fn expect_string(e: &Entry) -> Result<&Value, CmdError> {
    if e.value.is_string() {
        Ok(&e.value)
    } else {
        Err(err(WRONGTYPE))
    }
}

fn string_too_long(call: &Data<'_, '_>, len: u64) -> CmdResult {
    let max = call.hot().proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
    if len > max {
        return Err(err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
    }
    Ok(())
}

pub fn get(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get_read(slot, key, now) {
        None => call.out().null(),
        Some(e) => {
            let v = expect_string(e)?;
            reply_value(call, v);
        }
    }
    Ok(())
}

/// How a SET-like command sets the expiry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    /// Remove any expiry (plain SET; GETEX PERSIST).
    Clear,
    Keep,
    At(u64),
}

/// Converts an expiry argument to an absolute Unix-ms time. `unit_ms` is 1000 for
/// seconds, 1 for milliseconds; `relative` adds `now`. Redis's rules: the value
/// must be positive and must not overflow.
fn expire_at(call: &Data<'_, '_>, i: usize, unit_ms: i64, relative: bool, cmd: &str) -> Result<u64, CmdError> {
    let n = call.int_arg(i)?;
    let invalid = || CmdError::Msg(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    let abs = if relative { ms.checked_add(call.now_ms() as i64).ok_or_else(invalid)? } else { ms };
    Ok(abs as u64)
}

struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Ttl,
}

fn parse_set_options(
    call: &Data<'_, '_>,
    from: usize,
    cmd: &str,
    allow_persist: bool,
    allow_cond: bool,
) -> Result<SetOptions, CmdError> {
    let mut o = SetOptions { nx: false, xx: false, get: false, ttl: Ttl::Clear };
    // Which expiry option was given: Redis lets one be repeated (the last wins)
    // but not combined with another.
    let mut ttl_given: Option<Vec<u8>> = None;
    let mut i = from;
    while i < call.argc() {
        let a = call.arg(i).to_ascii_uppercase();
        let has_next = i + 1 < call.argc();
        match a.as_slice() {
            b"NX" if allow_cond && !o.xx => o.nx = true,
            b"XX" if allow_cond && !o.nx => o.xx = true,
            b"GET" if allow_cond => o.get = true,
            b"KEEPTTL" if allow_cond && ttl_compatible(&ttl_given, &a) => {
                o.ttl = Ttl::Keep;
                ttl_given = Some(a);
            }
            b"PERSIST" if allow_persist && ttl_compatible(&ttl_given, &a) => {
                o.ttl = Ttl::Clear;
                ttl_given = Some(a);
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if has_next && ttl_compatible(&ttl_given, &a) => {
                let (unit, relative) = match a.as_slice() {
                    b"EX" => (1000, true),
                    b"PX" => (1, true),
                    b"EXAT" => (1000, false),
                    _ => (1, false),
                };
                o.ttl = Ttl::At(expire_at(call, i + 1, unit, relative, cmd)?);
                ttl_given = Some(a);
                i += 1;
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 1;
    }
    Ok(o)
}

fn ttl_compatible(given: &Option<Vec<u8>>, option: &[u8]) -> bool {
    given.as_deref().is_none_or(|g| g == option)
}

/// Shared by SET, SETNX, SETEX, PSETEX, GETSET: sets `key` to `value` under the
/// options; replies per `reply`.
fn set_generic(call: &mut Data<'_, '_>, key: &[u8], value: &[u8], o: &SetOptions, reply: SetReply) -> CmdResult {
    debug_assert_eq!(key, call.arg(1), "the key of every SET-like command is its first argument");
    let slot = call.slot(1);
    let now = call.now();
    let db = call.db();
    let mut shard = call.ks().db(db).lock(slot);
    if !(o.get || o.nx || o.xx || matches!(o.ttl, Ttl::Keep)) {
        // A plain SET needs nothing from the old value: one hash lookup.
        let expire_at_ms = match o.ttl {
            Ttl::At(t) => t,
            _ => NO_EXPIRY,
        };
        let version = call.version();
        let m = Mutation::Set { db, key, value, expire_at_ms, version };
        if let Some(old) = shard.commit_set(slot, &m, now.ms, call.log()) {
            call.free(old);
        }
        drop(shard);
        match reply {
            SetReply::OkOrNil => call.out().ok(),
            SetReply::Bool => call.out().integer(1),
        }
        return Ok(());
    }
    let current = shard.get(slot, key, now);
    let exists = current.is_some();
    let old_expiry = current.as_ref().map_or(NO_EXPIRY, |e| e.expire_at_ms);
    let old_value = match current {
        Some(e) if o.get => Some(expect_string(e)?.clone()),
        Some(_) => None,
        None => None,
    };
    let allowed = if exists { !o.nx } else { !o.xx };
    if allowed {
        let expire_at_ms = match o.ttl {
            Ttl::Clear => NO_EXPIRY,
            Ttl::Keep => old_expiry,
            Ttl::At(t) => t,
        };
        let version = call.version();
        if let Some(old) = shard.commit(slot, &Mutation::Set { db, key, value, expire_at_ms, version }, call.log()) {
            call.free(old);
        }
    }
    drop(shard);
    match reply {
        SetReply::OkOrNil if o.get => match old_value {
            Some(v) => reply_value(call, &v),
            None => call.out().null(),
        },
        SetReply::OkOrNil if allowed => call.out().ok(),
        SetReply::OkOrNil => call.out().null(),
        SetReply::Bool => call.out().integer(i64::from(allowed)),
    }
    Ok(())
}

enum SetReply {
    OkOrNil,
    Bool,
}

pub fn set(call: &mut Data<'_, '_>) -> CmdResult {
    let o = parse_set_options(call, 3, "set", false, true)?;
    let (key, value) = (call.args().get(1), call.args().get(2));
    set_generic(call, key, value, &o, SetReply::OkOrNil)
}

pub fn setnx(call: &mut Data<'_, '_>) -> CmdResult {
    let o = SetOptions { nx: true, xx: false, get: false, ttl: Ttl::Clear };
    let (key, value) = (call.args().get(1), call.args().get(2));
    set_generic(call, key, value, &o, SetReply::Bool)
}

fn setex_generic(call: &mut Data<'_, '_>, unit_ms: i64, cmd: &str) -> CmdResult {
    let at = expire_at(call, 2, unit_ms, true, cmd)?;
    let o = SetOptions { nx: false, xx: false, get: false, ttl: Ttl::At(at) };
    let (key, value) = (call.args().get(1), call.args().get(3));
    set_generic(call, key, value, &o, SetReply::OkOrNil)
}

pub fn setex(call: &mut Data<'_, '_>) -> CmdResult {
    setex_generic(call, 1000, "setex")
}

pub fn psetex(call: &mut Data<'_, '_>) -> CmdResult {
    setex_generic(call, 1, "psetex")
}

pub fn getset(call: &mut Data<'_, '_>) -> CmdResult {
    let o = SetOptions { nx: false, xx: false, get: true, ttl: Ttl::Clear };
    let (key, value) = (call.args().get(1), call.args().get(2));
    set_generic(call, key, value, &o, SetReply::OkOrNil)
}

pub fn getdel(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().null();
        return Ok(());
    };
    expect_string(e)?;
    let version = call.version();
    let old = shard.commit(slot, &Mutation::Del { db, key, version }, call.log()).expect("key was present");
    drop(shard);
    reply_value(call, &old.value);
    Ok(())
}

pub fn getex(call: &mut Data<'_, '_>) -> CmdResult {
    let o = parse_set_options(call, 2, "getex", true, false)?;
    let persist_given = (2..call.argc()).any(|i| call.arg_is(i, "PERSIST"));
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().null();
        return Ok(());
    };
    let value = expect_string(e)?.clone();
    let has_expiry = e.has_expiry();
    let version = call.version();
    match o.ttl {
        Ttl::At(t) if t <= call.now_ms() => {
            shard.commit(slot, &Mutation::Del { db, key, version }, call.log());
        }
        Ttl::At(t) => {
            shard.commit(slot, &Mutation::Expire { db, key, expire_at_ms: t, version }, call.log());
        }
        Ttl::Clear if persist_given && has_expiry => {
            shard.commit(slot, &Mutation::Expire { db, key, expire_at_ms: NO_EXPIRY, version }, call.log());
        }
        _ => {}
    }
    drop(shard);
    reply_value(call, &value);
    Ok(())
}

pub fn mget(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut guard = ks.lock_many(call.keys().map(|k| (db, SlotId::of(k))));
    let n = call.argc() - 1;
    call.out().array(n);
    for key in call.keys() {
        let slot = SlotId::of(key);
        match guard.shard(db, slot).get_read(slot, key, now).map(|e| &e.value) {
            Some(Value::Int(i)) => call.out().bulk_int(*i),
            Some(Value::Str(s)) => call.out().bulk(s),
            #[allow(unreachable_patterns)]
            _ => call.out().null(),
        }
    }
    Ok(())
}

fn mset_generic(call: &mut Data<'_, '_>, nx: bool, name: &str) -> CmdResult {
    let args = call.args();
    if args.len().is_multiple_of(2) {
        return Err(arity_error(name));
    }
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut guard = ks.lock_many(call.keys().map(|k| (db, SlotId::of(k))));
    if nx {
        let any_exists = (1..args.len()).step_by(2).any(|i| {
            let key = args.get(i);
            let slot = SlotId::of(key);
            guard.shard(db, slot).get(slot, key, gyre_engine::Now { touch: false, ..now }).is_some()
        });
        if any_exists {
            drop(guard);
            call.out().integer(0);
            return Ok(());
        }
    }
    for i in (1..args.len()).step_by(2) {
        let (key, value) = (args.get(i), args.get(i + 1));
        // One version per write: a key named twice ends with its last value.
        let version = call.version();
        let slot = SlotId::of(key);
        guard.shard(db, slot).commit(
            slot,
            &Mutation::Set { db, key, value, expire_at_ms: NO_EXPIRY, version },
            call.log(),
        );
    }
    drop(guard);
    if nx {
        call.out().integer(1);
    } else {
        call.out().ok();
    }
    Ok(())
}

pub fn mset(call: &mut Data<'_, '_>) -> CmdResult {
    mset_generic(call, false, "mset")
}

pub fn msetnx(call: &mut Data<'_, '_>) -> CmdResult {
    mset_generic(call, true, "msetnx")
}

pub fn append(call: &mut Data<'_, '_>) -> CmdResult {
    let (key, data) = (call.args().get(1), call.args().get(2));
    let slot = SlotId::of(key);
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut shard = ks.db(db).lock(slot);
    let version = call.version();
    let new_len = match shard.get(slot, key, now) {
        None => {
            shard.commit(slot, &Mutation::Set { db, key, value: data, expire_at_ms: NO_EXPIRY, version }, call.log());
            data.len()
        }
        Some(e) => {
            let len = expect_string(e)?.str_len() + data.len();
            string_too_long(call, len as u64)?;
            shard.commit(slot, &Mutation::Append { db, key, data, version }, call.log());
            len
        }
    };
    drop(shard);
    call.out().integer(new_len as i64);
    Ok(())
}

pub fn strlen(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let len = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => expect_string(e)?.str_len(),
    };
    drop(shard);
    call.out().integer(len as i64);
    Ok(())
}

/// GETRANGE / SUBSTR with Redis 7.2's index rules.
pub fn getrange(call: &mut Data<'_, '_>) -> CmdResult {
    let (start, end) = (call.int_arg(2)?, call.int_arg(3)?);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().bulk(b"");
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let bytes = expect_string(e)?.as_bytes(&mut scratch);
    match substring_range(bytes.len() as i64, start, end) {
        Some((s, e)) => call.out().bulk(&bytes[s..=e]),
        None => call.out().bulk(b""),
    }
    Ok(())
}

fn substring_range(len: i64, mut start: i64, mut end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

pub fn setrange(call: &mut Data<'_, '_>) -> CmdResult {
    let offset = call.int_arg(2)?;
    if offset < 0 {
        return Err(err("ERR offset is out of range"));
    }
    let (key, data) = (call.args().get(1), call.args().get(3));
    let slot = SlotId::of(key);
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut shard = ks.db(db).lock(slot);
    let current_len = match shard.get(slot, key, now) {
        Some(e) => Some(expect_string(e)?.str_len()),
        None => None,
    };
    if data.is_empty() {
        drop(shard);
        call.out().integer(current_len.unwrap_or(0) as i64);
        return Ok(());
    }
    let end = offset as u64 + data.len() as u64;
    string_too_long(call, end)?;
    let version = call.version();
    let new_len = match current_len {
        None => {
            let mut value = vec![0u8; end as usize];
            value[offset as usize..].copy_from_slice(data);
            shard.commit(slot, &Mutation::Set { db, key, value: &value, expire_at_ms: NO_EXPIRY, version }, call.log());
            end as usize
        }
        Some(len) => {
            shard.commit(slot, &Mutation::SetRange { db, key, offset: offset as u64, data, version }, call.log());
            len.max(end as usize)
        }
    };
    drop(shard);
    call.out().integer(new_len as i64);
    Ok(())
}

/// INCR/DECR/INCRBY/DECRBY: add `delta` to the integer at `key` (0 when absent),
/// keeping its expiry.
fn incr_by(call: &mut Data<'_, '_>, delta: i64) -> CmdResult {
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let (current, expire_at_ms) = match shard.get(slot, key, now) {
        None => (0, NO_EXPIRY),
        Some(e) => {
            let n = match expect_string(e)? {
                Value::Int(i) => *i,
                other => num::parse_i64(other.as_bytes(&mut itoa::Buffer::new())).ok_or(err(NOT_INTEGER))?,
            };
            (n, e.expire_at_ms)
        }
    };
    let next = current.checked_add(delta).ok_or(err(OVERFLOW))?;
    let mut buf = itoa::Buffer::new();
    let version = call.version();
    shard.commit(
        slot,
        &Mutation::Set { db, key, value: buf.format(next).as_bytes(), expire_at_ms, version },
        call.log(),
    );
    drop(shard);
    call.out().integer(next);
    Ok(())
}

pub fn incr(call: &mut Data<'_, '_>) -> CmdResult {
    incr_by(call, 1)
}

pub fn decr(call: &mut Data<'_, '_>) -> CmdResult {
    incr_by(call, -1)
}

pub fn incrby(call: &mut Data<'_, '_>) -> CmdResult {
    let d = call.int_arg(2)?;
    incr_by(call, d)
}

pub fn decrby(call: &mut Data<'_, '_>) -> CmdResult {
    let d = call.int_arg(2)?;
    if d == i64::MIN {
        return Err(err("ERR decrement would overflow"));
    }
    incr_by(call, -d)
}

/// INCRBYFLOAT's arithmetic on text (also HINCRBYFLOAT's): `current` plus
/// `delta`, with Redis's errors. Plain decimals add exactly (as Redis's long
/// double shows them: 1.1 + 2.2 is 3.3); anything else as f64.
pub fn add_float_text(current: &[u8], delta: &[u8]) -> Result<Vec<u8>, CmdError> {
    let d = num::parse_f64(delta).ok_or(err(NOT_FLOAT))?;
    let c = num::parse_f64(current).ok_or(err(NOT_FLOAT))?;
    let next = c + d;
    if !next.is_finite() {
        return Err(err("ERR increment would produce NaN or Infinity"));
    }
    Ok(num::add_decimals(current, delta).unwrap_or_else(|| {
        let mut t = Vec::with_capacity(24);
        num::format_f64_incr(next, &mut t);
        t
    }))
}

pub fn incrbyfloat(call: &mut Data<'_, '_>) -> CmdResult {
    let delta = call.args().get(2);
    // The increment is validated before the key is looked at, as in Redis.
    num::parse_f64(delta).ok_or(err(NOT_FLOAT))?;
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let mut scratch = itoa::Buffer::new();
    let (current, expire_at_ms): (Vec<u8>, u64) = match shard.get(slot, key, now) {
        None => (b"0".to_vec(), NO_EXPIRY),
        Some(e) => (expect_string(e)?.as_bytes(&mut scratch).to_vec(), e.expire_at_ms),
    };
    let text = add_float_text(&current, delta)?;
    let version = call.version();
    shard.commit(slot, &Mutation::Set { db, key, value: &text, expire_at_ms, version }, call.log());
    drop(shard);
    call.out().bulk(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::substring_range;

    #[test]
    fn getrange_index_rules_match_redis() {
        // "Hello World" (len 11), cases from Redis's documentation and tests.
        assert_eq!(substring_range(11, 0, 3), Some((0, 3)));
        assert_eq!(substring_range(11, -3, -1), Some((8, 10)));
        assert_eq!(substring_range(11, 0, -1), Some((0, 10)));
        assert_eq!(substring_range(11, 10, 100), Some((10, 10)));
        assert_eq!(substring_range(11, 5, 3), None);
        assert_eq!(substring_range(11, -1, -5), None);
        assert_eq!(substring_range(0, 0, -1), None);
        assert_eq!(substring_range(11, -100, 2), Some((0, 2)));
    }
}
