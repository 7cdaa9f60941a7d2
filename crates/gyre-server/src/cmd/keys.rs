//! Keyspace commands: existence, deletion, renaming, expiry, iteration and
//! databases.

use gyre_engine::{glob, DbIndex, Entry, Mutation, Now, SlotId, Value, DB_COUNT, NO_EXPIRY};

use super::data::Data;
use super::errors::{DB_RANGE, NOT_INTEGER, NO_SUCH_KEY, SYNTAX};
use super::{err, Call, CmdError, CmdResult};

pub fn del(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let mut guard = ks.lock_many(call.keys().map(|k| (db, SlotId::of(k))));
    let mut deleted = 0;
    for key in call.keys() {
        let slot = SlotId::of(key);
        let shard = guard.shard(db, slot);
        if shard.get(slot, key, Now { touch: false, ..now }).is_some() {
            let version = ks.next_version(call.now_ms());
            if let Some(old) = shard.commit(slot, &Mutation::Del { db, key, version }, call.log()) {
                call.free(old);
            }
            deleted += 1;
        }
    }
    drop(guard);
    call.out().integer(deleted);
    Ok(())
}

fn count_existing(call: &mut Data<'_, '_>, touch: bool) -> i64 {
    let (db, ks) = (call.db(), call.ks());
    // TOUCH updates the access clock even for a CLIENT NO-TOUCH client; EXISTS
    // never does (both as in Redis).
    let now = Now { touch, ..call.now() };
    let mut guard = ks.lock_many(call.keys().map(|k| (db, SlotId::of(k))));
    call.keys()
        .filter(|key| {
            let slot = SlotId::of(key);
            let shard = guard.shard(db, slot);
            if touch {
                shard.get(slot, key, now).is_some()
            } else {
                shard.get_read(slot, key, now).is_some()
            }
        })
        .count() as i64
}

pub fn exists(call: &mut Data<'_, '_>) -> CmdResult {
    let n = count_existing(call, false);
    call.out().integer(n);
    Ok(())
}

pub fn touch(call: &mut Data<'_, '_>) -> CmdResult {
    let n = count_existing(call, true);
    call.out().integer(n);
    Ok(())
}

/// Runs `f` on the live entry of argument `i`, if any.
fn with_entry<T>(call: &Data<'_, '_>, i: usize, f: impl FnOnce(Option<&mut Entry>) -> T) -> T {
    let (key, slot, mut shard) = call.lock_key(i);
    f(shard.get_read(slot, key, call.now()))
}

pub fn type_(call: &mut Data<'_, '_>) -> CmdResult {
    let name = with_entry(call, 1, |e| e.map_or("none", |e| e.value.type_name()));
    call.out().simple(name.as_bytes());
    Ok(())
}

pub fn keys(call: &mut Data<'_, '_>) -> CmdResult {
    let pattern = call.args().get(1);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let db = call.ks().db(call.db());
    let everything = pattern == b"*";
    let mut cursor = 0;
    loop {
        // A full scan in steps, so no shard is held for the whole walk.
        cursor = db.scan(cursor, 1024, call.now_ms(), |k, _| {
            if (everything || glob::glob_match(pattern, k, false)) && call.counts_key(k) {
                found.push(k.to_vec());
            }
        });
        if cursor == 0 {
            break;
        }
    }
    call.out().array(found.len());
    for k in &found {
        call.out().bulk(k);
    }
    Ok(())
}

pub fn scan(call: &mut Data<'_, '_>) -> CmdResult {
    let cursor = super::parse_scan_cursor(call.arg(1))?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<Vec<u8>> = None;
    let args = call.args();
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(err(SYNTAX));
        }
        if call.arg_is(i, "COUNT") {
            let n = call.int_arg(i + 1)?;
            if n < 1 {
                return Err(err(SYNTAX));
            }
            count = n as usize;
        } else if call.arg_is(i, "MATCH") {
            pattern = Some(args.get(i + 1));
        } else if call.arg_is(i, "TYPE") {
            type_filter = Some(args.get(i + 1).to_ascii_lowercase());
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = call.ks().db(call.db()).scan(cursor, count, call.now_ms(), |k, e| {
        let type_ok = type_filter.as_deref().is_none_or(|t| t == e.value.type_name().as_bytes());
        let match_ok = pattern.is_none_or(|p| p == b"*" || glob::glob_match(p, k, false));
        if type_ok && match_ok && call.counts_key(k) {
            found.push(k.to_vec());
        }
    });
    call.out().array(2);
    call.out().bulk(itoa::Buffer::new().format(next).as_bytes());
    call.out().array(found.len());
    for k in &found {
        call.out().bulk(k);
    }
    Ok(())
}

/// Draws RANDOMKEY makes for a key this node serves, in cluster mode.
const RANDOMKEY_TRIES: usize = 64;

pub fn randomkey(call: &mut Data<'_, '_>) -> CmdResult {
    let now = Now { touch: false, ..call.now() };
    let mut rng = call.rng();
    // In a cluster, a key of a slot this node serves (a slot being copied
    // here, or handed over and not dropped yet, holds keys for a moment).
    let mut found = None;
    for _ in 0..RANDOMKEY_TRIES {
        match call.ks().db(call.db()).random_key(now, &mut || rng.next_u64()) {
            Some(k) if call.counts_key(&k) => {
                found = Some(k);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    match found {
        Some(k) => call.out().bulk(&k),
        None => call.out().null(),
    }
    Ok(())
}

pub fn dbsize(call: &mut Data<'_, '_>) -> CmdResult {
    // In a cluster, the keys of the slots this node is primary of.
    let n = call.cluster_dbsize(call.db()).unwrap_or_else(|| call.ks().db(call.db()).len());
    call.out().integer(n as i64);
    Ok(())
}

/// Parses FLUSHDB/FLUSHALL's optional ASYNC|SYNC.
fn flush_mode_async(call: &Data<'_, '_>) -> Result<bool, CmdError> {
    match call.argc() {
        1 => Ok(false),
        2 if call.arg_is(1, "ASYNC") => Ok(true),
        2 if call.arg_is(1, "SYNC") => Ok(false),
        _ => Err(err(SYNTAX)),
    }
}

fn dispose(call: &Data<'_, '_>, detached: gyre_engine::Detached, lazy: bool) {
    if lazy || detached.len() > 1024 {
        call.free_later(Box::new(detached));
    }
}

pub fn flushdb(call: &mut Data<'_, '_>) -> CmdResult {
    let lazy = flush_mode_async(call)?;
    // In cluster mode (database 0 only) a node flushes the slots it serves.
    let detached = match call.cluster_flush() {
        Some(d) => d,
        None => call.ks().flush_db(call.db(), call.now_ms(), call.log()),
    };
    dispose(call, detached, lazy);
    call.out().ok();
    Ok(())
}

pub fn flushall(call: &mut Data<'_, '_>) -> CmdResult {
    let lazy = flush_mode_async(call)?;
    let detached = match call.cluster_flush() {
        Some(d) => d,
        None => call.ks().flush_all(call.now_ms(), call.log()),
    };
    dispose(call, detached, lazy);
    call.out().ok();
    Ok(())
}

/// A database index argument: not an integer -> `not_int`; outside 0..16 -> DB_RANGE.
fn db_arg(arg: &[u8], not_int: &'static str) -> Result<DbIndex, CmdError> {
    let n = gyre_engine::num::parse_i64(arg).ok_or(err(not_int))?;
    if !(0..DB_COUNT as i64).contains(&n) {
        return Err(err(DB_RANGE));
    }
    Ok(n as DbIndex)
}

/// SELECT changes the connection: it runs with the whole `Call`.
pub fn select(call: &mut Call<'_>) -> CmdResult {
    let db = db_arg(call.arg(1), NOT_INTEGER)?;
    // A cluster has database 0 only, as Redis Cluster.
    if db != 0 && call.shared.cluster.get().is_some() {
        return Err(err("ERR SELECT is not allowed in cluster mode"));
    }
    call.client.db = db;
    call.out.ok();
    Ok(())
}

/// SWAPDB holds off snapshots (persistence's guard): it runs with the whole
/// `Call`.
pub fn swapdb(call: &mut Call<'_>) -> CmdResult {
    let a = db_arg(call.arg(1), "ERR invalid first DB index")?;
    let b = db_arg(call.arg(2), "ERR invalid second DB index")?;
    // A snapshot walks the databases shard by shard while writes go on: a
    // swap in the middle of the walk would be captured half done. The guard
    // is taken, not checked, so no snapshot can start between the two.
    let Some(_no_snapshot) = call.shared.persistence.swap_guard.try_lock() else {
        return Err(err("ERR SWAPDB is not allowed while a snapshot is being written; retry when BGSAVE is done"));
    };
    crate::commit::commit_swap(&call.shared.persistence, &call.shared.ks, call.log, a, b, call.now_ms);
    call.out.ok();
    Ok(())
}

/// Writes `value` with `expire_at_ms` at (db, key), replacing whatever is there.
fn put(
    call: &mut Data<'_, '_>,
    guard: &mut gyre_engine::MultiGuard<'_>,
    db: DbIndex,
    key: &[u8],
    value: &Value,
    expire_at_ms: u64,
) {
    let version = call.version();
    let slot = SlotId::of(key);
    let shard = guard.shard(db, slot);
    let old = if value.is_string() {
        let mut scratch = itoa::Buffer::new();
        let bytes = value.as_bytes(&mut scratch);
        shard.commit(slot, &Mutation::Set { db, key, value: bytes, expire_at_ms, version }, call.log())
    } else {
        // Collections travel whole, serialized.
        let mut serialized = Vec::new();
        value.serialize(&mut serialized);
        shard.commit(slot, &Mutation::Restore { db, key, value: &serialized, expire_at_ms, version }, call.log())
    };
    if let Some(old) = old {
        call.free(old);
    }
    // A list or sorted set arriving under a key someone waits on serves them.
    if !value.is_string() {
        call.signal_ready_in(db, key);
    }
}

fn rename_generic(call: &mut Data<'_, '_>, nx: bool) -> CmdResult {
    let (src, dst) = (call.args().get(1), call.args().get(2));
    let (db, ks) = (call.db(), call.ks());
    let now = Now { touch: false, ..call.now() };
    let mut guard = ks.lock_many([(db, SlotId::of(src)), (db, SlotId::of(dst))]);
    let (src_slot, dst_slot) = (SlotId::of(src), SlotId::of(dst));
    let Some(e) = guard.shard(db, src_slot).get(src_slot, src, now) else {
        return Err(err(NO_SUCH_KEY));
    };
    let (value, expire_at_ms) = (e.value.clone(), e.expire_at_ms);
    if src == dst {
        drop(guard);
        if nx {
            call.out().integer(0);
        } else {
            call.out().ok();
        }
        return Ok(());
    }
    if nx && guard.shard(db, dst_slot).get(dst_slot, dst, now).is_some() {
        drop(guard);
        call.out().integer(0);
        return Ok(());
    }
    let version = call.version();
    guard.shard(db, src_slot).commit(src_slot, &Mutation::Del { db, key: src, version }, call.log());
    put(call, &mut guard, db, dst, &value, expire_at_ms);
    drop(guard);
    if nx {
        call.out().integer(1);
    } else {
        call.out().ok();
    }
    Ok(())
}

pub fn rename(call: &mut Data<'_, '_>) -> CmdResult {
    rename_generic(call, false)
}

pub fn renamenx(call: &mut Data<'_, '_>) -> CmdResult {
    rename_generic(call, true)
}

pub fn copy(call: &mut Data<'_, '_>) -> CmdResult {
    let (src, dst) = (call.args().get(1), call.args().get(2));
    let src_db = call.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < call.argc() {
        if call.arg_is(i, "REPLACE") {
            replace = true;
        } else if call.arg_is(i, "DB") && i + 1 < call.argc() {
            dst_db = db_arg(call.arg(i + 1), NOT_INTEGER)?;
            i += 1;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    if src_db == dst_db && src == dst {
        return Err(err("ERR source and destination objects are the same"));
    }
    let ks = call.ks();
    let now = Now { touch: false, ..call.now() };
    let (src_slot, dst_slot) = (SlotId::of(src), SlotId::of(dst));
    let mut guard = ks.lock_many([(src_db, src_slot), (dst_db, dst_slot)]);
    let Some(e) = guard.shard(src_db, src_slot).get(src_slot, src, now) else {
        drop(guard);
        call.out().integer(0);
        return Ok(());
    };
    let (value, expire_at_ms) = (e.value.clone(), e.expire_at_ms);
    if !replace && guard.shard(dst_db, dst_slot).get(dst_slot, dst, now).is_some() {
        drop(guard);
        call.out().integer(0);
        return Ok(());
    }
    put(call, &mut guard, dst_db, dst, &value, expire_at_ms);
    drop(guard);
    call.out().integer(1);
    Ok(())
}

pub fn move_(call: &mut Data<'_, '_>) -> CmdResult {
    let key = call.args().get(1);
    let src_db = call.db();
    let dst_db = db_arg(call.arg(2), NOT_INTEGER)?;
    if src_db == dst_db {
        return Err(err("ERR source and destination objects are the same"));
    }
    let ks = call.ks();
    let now = Now { touch: false, ..call.now() };
    let slot = SlotId::of(key);
    let mut guard = ks.lock_many([(src_db, slot), (dst_db, slot)]);
    let Some(e) = guard.shard(src_db, slot).get(slot, key, now) else {
        drop(guard);
        call.out().integer(0);
        return Ok(());
    };
    let (value, expire_at_ms) = (e.value.clone(), e.expire_at_ms);
    if guard.shard(dst_db, slot).get(slot, key, now).is_some() {
        drop(guard);
        call.out().integer(0);
        return Ok(());
    }
    let version = call.version();
    guard.shard(src_db, slot).commit(slot, &Mutation::Del { db: src_db, key, version }, call.log());
    put(call, &mut guard, dst_db, key, &value, expire_at_ms);
    drop(guard);
    call.out().integer(1);
    Ok(())
}

/// EXPIRE and its family. `unit_ms` 1000 for seconds; `relative` for EXPIRE/PEXPIRE.
fn expire_generic(call: &mut Data<'_, '_>, unit_ms: i64, relative: bool, name: &str) -> CmdResult {
    let n = call.int_arg(2)?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for i in 3..call.argc() {
        match call.arg(i).to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => return Err(CmdError::Msg(format!("ERR Unsupported option {}", super::printable(call.arg(i), 128)))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(err("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(err("ERR GT and LT options at the same time are not compatible"));
    }
    let invalid = || CmdError::Msg(format!("ERR invalid expire time in '{name}' command"));
    let mut at = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if relative {
        at = at.checked_add(call.now_ms() as i64).ok_or_else(invalid)?;
    }
    let db = call.db();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, call.now()) else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    // No expiry counts as an infinite TTL for GT and LT, as in Redis.
    let current = if e.has_expiry() { e.expire_at_ms as i64 } else { i64::MAX };
    let condition_met = if e.has_expiry() { !nx } else { !xx };
    let allowed = condition_met && !(gt && at <= current) && !(lt && at >= current);
    if allowed {
        let version = call.version();
        if at <= call.now_ms() as i64 {
            shard.commit(slot, &Mutation::Del { db, key, version }, call.log());
        } else {
            shard.commit(slot, &Mutation::Expire { db, key, expire_at_ms: at as u64, version }, call.log());
        }
    }
    drop(shard);
    call.out().integer(i64::from(allowed));
    Ok(())
}

pub fn expire(call: &mut Data<'_, '_>) -> CmdResult {
    expire_generic(call, 1000, true, "expire")
}

pub fn pexpire(call: &mut Data<'_, '_>) -> CmdResult {
    expire_generic(call, 1, true, "pexpire")
}

pub fn expireat(call: &mut Data<'_, '_>) -> CmdResult {
    expire_generic(call, 1000, false, "expireat")
}

pub fn pexpireat(call: &mut Data<'_, '_>) -> CmdResult {
    expire_generic(call, 1, false, "pexpireat")
}

pub fn persist(call: &mut Data<'_, '_>) -> CmdResult {
    let db = call.db();
    let (key, slot, mut shard) = call.lock_key(1);
    let had = shard.get(slot, key, call.now()).is_some_and(|e| e.has_expiry());
    if had {
        let version = call.version();
        shard.commit(slot, &Mutation::Expire { db, key, expire_at_ms: NO_EXPIRY, version }, call.log());
    }
    drop(shard);
    call.out().integer(i64::from(had));
    Ok(())
}

/// TTL family: `f` maps an absolute expiry to the reply; -2 missing, -1 no expiry.
fn ttl_generic(call: &mut Data<'_, '_>, f: impl FnOnce(u64, u64) -> i64) -> CmdResult {
    let now_ms = call.now_ms();
    let reply = with_entry(call, 1, |e| match e {
        None => -2,
        Some(e) if !e.has_expiry() => -1,
        Some(e) => f(e.expire_at_ms, now_ms),
    });
    call.out().integer(reply);
    Ok(())
}

pub fn ttl(call: &mut Data<'_, '_>) -> CmdResult {
    ttl_generic(call, |at, now| ((at.saturating_sub(now) + 500) / 1000) as i64)
}

pub fn pttl(call: &mut Data<'_, '_>) -> CmdResult {
    ttl_generic(call, |at, now| at.saturating_sub(now) as i64)
}

pub fn expiretime(call: &mut Data<'_, '_>) -> CmdResult {
    ttl_generic(call, |at, _| (at.saturating_add(500) / 1000) as i64)
}

pub fn pexpiretime(call: &mut Data<'_, '_>) -> CmdResult {
    ttl_generic(call, |at, _| at as i64)
}
