//! HyperLogLog commands: PFADD, PFCOUNT (one key, or the union of several)
//! and PFMERGE, on ordinary strings in Redis's own representation
//! (`gyre_engine::hll`), with Redis 7.2's replies and errors: a string that is
//! not a HyperLogLog answers `WRONGTYPE Key is not a valid HyperLogLog string
//! value.`, a corrupt one `INVALIDOBJ Corrupted HLL object detected`.
//! `hll-sparse-max-bytes` bounds the sparse form, as in Redis.
//!
//! Writes: the new bytes are computed on a copy, then recorded as SETRANGE of
//! the runs of bytes that changed (the value kept its length), or as SET of
//! the whole value with its expiry (it grew, shrank or was created). PFCOUNT
//! of one key stores the cardinality it computed in the header's cache, as
//! Redis does: that is a SETRANGE of those 8 bytes.

use std::sync::atomic::Ordering;

use gyre_engine::hll::{self, Corrupt, NotHll, REGISTERS};
use gyre_engine::{Entry, Mutation, Shard, SlotId, NO_EXPIRY};

use super::data::Data;
use super::errors::WRONGTYPE;
use super::flags::*;
use super::table::{cmd, data, ALLKEYS, KEY1};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Changed bytes closer than this are written as one SETRANGE.
const RUN_GAP_BYTES: usize = 16;

impl From<NotHll> for CmdError {
    fn from(_: NotHll) -> CmdError {
        err(NOT_HLL)
    }
}

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        err(INVALID)
    }
}

/// A live entry's bytes, checked to be a HyperLogLog.
fn hll_bytes(e: &Entry) -> Result<Vec<u8>, CmdError> {
    if !e.value.is_string() {
        return Err(err(WRONGTYPE));
    }
    let bytes = e.value.as_bytes(&mut itoa::Buffer::new()).to_vec();
    hll::validate(&bytes)?;
    Ok(bytes)
}

fn sparse_max_bytes(call: &Data<'_, '_>) -> u64 {
    call.hot().hll_sparse_max_bytes.load(Ordering::Relaxed)
}

/// Records the change from `old` (None: the key was absent) to `new`.
fn commit_change(
    call: &mut Data<'_, '_>,
    shard: &mut Shard,
    slot: SlotId,
    key: &[u8],
    old: Option<(&[u8], u64)>,
    new: &[u8],
) {
    let db = call.db();
    match old {
        Some((old, _)) if old.len() == new.len() => {
            let mut i = 0;
            while i < new.len() {
                if old[i] == new[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                let mut last = i;
                while i < new.len() && i - last <= RUN_GAP_BYTES {
                    if old[i] != new[i] {
                        last = i;
                    }
                    i += 1;
                }
                let version = call.version();
                let data = &new[start..=last];
                shard.commit(slot, &Mutation::SetRange { db, key, offset: start as u64, data, version }, call.log());
                i = last + 1;
            }
        }
        _ => {
            let expire_at_ms = old.map_or(NO_EXPIRY, |(_, t)| t);
            let version = call.version();
            if let Some(gone) =
                shard.commit(slot, &Mutation::Set { db, key, value: new, expire_at_ms, version }, call.log())
            {
                call.free(gone);
            }
        }
    }
}

/// Records byte patches (offset, byte) as one SETRANGE per run of adjacent
/// offsets (later patches of an offset win).
fn commit_patches(call: &mut Data<'_, '_>, shard: &mut Shard, slot: SlotId, key: &[u8], mut patches: Vec<(usize, u8)>) {
    // Stable: of equal offsets the last written stays last.
    patches.sort_by_key(|(o, _)| *o);
    let mut bytes: Vec<(usize, u8)> = Vec::with_capacity(patches.len());
    for (o, b) in patches {
        match bytes.last_mut() {
            Some(last) if last.0 == o => last.1 = b,
            _ => bytes.push((o, b)),
        }
    }
    let db = call.db();
    let mut i = 0;
    while i < bytes.len() {
        let start = bytes[i].0;
        let mut data = vec![bytes[i].1];
        i += 1;
        while i < bytes.len() && bytes[i].0 == start + data.len() {
            data.push(bytes[i].1);
            i += 1;
        }
        let version = call.version();
        shard.commit(slot, &Mutation::SetRange { db, key, offset: start as u64, data: &data, version }, call.log());
    }
}

/// PFADD key [element ...]: 1 when a register changed (or the key was
/// created), else 0.
pub fn pfadd(call: &mut Data<'_, '_>) -> CmdResult {
    let max_bytes = sparse_max_bytes(call);
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    // A dense value (12 KB) is patched in place: no copy of it per PFADD.
    if let Some(e) = shard.get(slot, key, now) {
        if e.value.is_string() {
            let mut scratch = itoa::Buffer::new();
            let v = e.value.as_bytes(&mut scratch);
            if hll::validate(v) == Ok(hll::DENSE) {
                let args = call.args();
                let patches = hll::dense_add_patches(v, (2..args.len()).map(|i| args.get(i)));
                let updated = !patches.is_empty();
                commit_patches(call, &mut shard, slot, key, patches);
                drop(shard);
                call.out().integer(i64::from(updated));
                return Ok(());
            }
        }
    }
    let (old, expire_at_ms) = match shard.get(slot, key, now) {
        None => (None, NO_EXPIRY),
        Some(e) => (Some(hll_bytes(e)?), e.expire_at_ms),
    };
    let mut updated = old.is_none();
    let mut v = old.clone().unwrap_or_else(hll::new_sparse);
    for i in 2..call.argc() {
        updated |= hll::add(&mut v, call.args().get(i), max_bytes)?;
    }
    if updated {
        // Redis marks the cached cardinality stale on every update, the
        // creation of the key included.
        v[15] |= 0x80;
        commit_change(call, &mut shard, slot, key, old.as_deref().map(|o| (o, expire_at_ms)), &v);
    }
    drop(shard);
    call.out().integer(i64::from(updated));
    Ok(())
}

/// PFCOUNT key [key ...].
pub fn pfcount(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() > 2 {
        return pfcount_union(call);
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    let v = hll_bytes(e)?;
    let card = match hll::cached(&v) {
        Some(card) => card,
        None => {
            let card = hll::count_registers(&v)?;
            let mut cache = [0u8; 8];
            cache.copy_from_slice(&card.to_le_bytes());
            let (db, version) = (call.db(), call.version());
            shard.commit(slot, &Mutation::SetRange { db, key, offset: 8, data: &cache, version }, call.log());
            card
        }
    };
    drop(shard);
    call.out().integer(card as i64);
    Ok(())
}

/// The union's registers of `keys` (missing keys are empty), read under `g`;
/// also whether any input was dense.
fn union_registers(
    call: &Data<'_, '_>,
    g: &mut gyre_engine::MultiGuard<'_>,
    keys: &[&[u8]],
) -> Result<(Box<[u8; REGISTERS]>, bool), CmdError> {
    let (db, now) = (call.db(), call.now());
    let mut max = Box::new([0u8; REGISTERS]);
    let mut any_dense = false;
    for k in keys {
        let slot = SlotId::of(k);
        let Some(e) = g.shard(db, slot).get_read(slot, k, now) else { continue };
        let v = hll_bytes(e)?;
        any_dense |= v[4] == hll::DENSE;
        hll::merge_into(&mut max, &v)?;
    }
    Ok((max, any_dense))
}

fn pfcount_union(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, ks) = (call.db(), call.ks());
    let keys: Vec<&[u8]> = (1..call.argc()).map(|i| call.args().get(i)).collect();
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    let (max, _) = union_registers(call, &mut g, &keys)?;
    drop(g);
    call.out().integer(hll::count_raw(&max) as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself one of the
/// inputs) becomes the union; dense when any input was dense.
pub fn pfmerge(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let keys: Vec<&[u8]> = (1..call.argc()).map(|i| call.args().get(i)).collect();
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    let (max, any_dense) = union_registers(call, &mut g, &keys)?;
    let max_bytes = sparse_max_bytes(call);
    let (key, slot) = (keys[0], SlotId::of(keys[0]));
    let shard = g.shard(db, slot);
    let (old, expire_at_ms) = match shard.get(slot, key, now) {
        None => (None, NO_EXPIRY),
        Some(e) => (Some(hll_bytes(e)?), e.expire_at_ms),
    };
    let mut v = old.clone().unwrap_or_else(hll::new_sparse);
    if any_dense {
        v = hll::sparse_to_dense(&v)?;
    }
    for (i, &r) in max.iter().enumerate() {
        if r > 0 {
            // As in Redis, the result is not checked: the destination was
            // validated as one of the inputs.
            let _ = hll::set_register(&mut v, i, r, max_bytes);
        }
    }
    v[15] |= 0x80;
    commit_change(call, shard, slot, key, old.as_deref().map(|o| (o, expire_at_ms)), &v);
    drop(g);
    call.out().ok();
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        KEY1,
        HyperLogLog,
        "2.8.9",
        "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        "key [element [element ...]]",
        data!(pfadd)
    ),
    cmd!(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        ALLKEYS,
        HyperLogLog,
        "2.8.9",
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        "key [key ...]",
        data!(pfcount)
    ),
    cmd!(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        ALLKEYS,
        HyperLogLog,
        "2.8.9",
        "Merges one or more HyperLogLog values into a single key.",
        "destkey [sourcekey [sourcekey ...]]",
        data!(pfmerge)
    ),
];
