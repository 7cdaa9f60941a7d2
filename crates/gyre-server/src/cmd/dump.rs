//! DUMP and RESTORE in Redis's serialization (`gyre_engine::rdb`): a DUMP
//! from Redis 7 restores in Gyre, and Gyre's DUMP is made of RDB types every
//! Redis reads, streams as Redis 7.2 writes them (STREAM_LISTPACKS_3), under
//! RDB version 11, Redis 7.2's: Redis 7.0 refuses a version newer than its
//! own 10 (`gyre_engine::rdb::encode_value_for` writes for it). RESTORE takes REPLACE, ABSTTL, IDLETIME
//! and FREQ with Redis 7.2's errors.
//!
//! RESTORE records one Restore mutation (the value in Gyre's own encoding,
//! with its absolute expiry); IDLETIME and FREQ set the key's access clock or
//! frequency counter locally, as Redis does (they are eviction hints, not
//! data).

use gyre_engine::rdb::{self, RdbError};
use gyre_engine::{access_clock, Mutation, Now, NO_EXPIRY};

use super::data::Data;
use super::errors::SYNTAX;
use super::flags::*;
use super::table::{cmd, data, KEY1};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

pub fn dump(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let payload = shard.get_read(slot, key, now).map(|e| rdb::dump(&e.value));
    drop(shard);
    match payload {
        Some(p) => call.out().bulk(&p),
        None => call.out().null(),
    }
    Ok(())
}

struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_secs: Option<i64>,
    freq: Option<u8>,
}

fn parse_restore_options(call: &Data<'_, '_>) -> Result<RestoreOptions, CmdError> {
    let mut o = RestoreOptions { replace: false, absttl: false, idle_secs: None, freq: None };
    let mut j = 4;
    while j < call.argc() {
        let more = call.argc() - j - 1;
        if call.arg_is(j, "REPLACE") {
            o.replace = true;
        } else if call.arg_is(j, "ABSTTL") {
            o.absttl = true;
        } else if call.arg_is(j, "IDLETIME") && more >= 1 && o.freq.is_none() {
            let v = call.int_arg(j + 1)?;
            if v < 0 {
                return Err(err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle_secs = Some(v);
            j += 1;
        } else if call.arg_is(j, "FREQ") && more >= 1 && o.idle_secs.is_none() {
            let v = call.int_arg(j + 1)?;
            if !(0..=255).contains(&v) {
                return Err(err("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(v as u8);
            j += 1;
        } else {
            return Err(err(SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
/// [FREQ frequency]
pub fn restore(call: &mut Data<'_, '_>) -> CmdResult {
    let o = parse_restore_options(call)?;
    let (db, now) = (call.db(), call.now());
    let cfg = call.encoding();
    let (key, slot, mut shard) = call.lock_key(1);
    let exists = shard.get(slot, key, now).is_some();
    if !o.replace && exists {
        return Err(err("BUSYKEY Target key name already exists."));
    }
    let ttl = call.int_arg(2)?;
    if ttl < 0 {
        return Err(err("ERR Invalid TTL value, must be >= 0"));
    }
    let value = rdb::restore(call.arg(3), &cfg).map_err(|e| match e {
        RdbError::VersionOrChecksum => err("ERR DUMP payload version or checksum are wrong"),
        RdbError::BadData(_) => err("ERR Bad data format"),
    })?;
    let expire_at_ms = match ttl {
        0 => NO_EXPIRY,
        t if o.absttl => t as u64,
        t => (t as u64).saturating_add(call.now_ms()),
    };
    if expire_at_ms != NO_EXPIRY && expire_at_ms <= call.now_ms() {
        // Already expired: nothing is created; REPLACE still deletes.
        if exists {
            let version = call.version();
            if let Some(old) = shard.commit(slot, &Mutation::Del { db, key, version }, call.log()) {
                call.free(old);
            }
        }
        drop(shard);
        call.out().ok();
        return Ok(());
    }
    let mut encoded = Vec::new();
    value.serialize(&mut encoded);
    let version = call.version();
    if let Some(old) =
        shard.commit(slot, &Mutation::Restore { db, key, value: &encoded, expire_at_ms, version }, call.log())
    {
        call.free(old);
    }
    if o.idle_secs.is_some() || o.freq.is_some() {
        let lfu = now.lfu.is_some();
        if let Some(e) = shard.get(slot, key, Now { touch: false, ..now }) {
            match (lfu, o.freq, o.idle_secs) {
                (true, Some(f), _) => e.freq = f,
                (false, _, Some(idle)) => {
                    e.access = access_clock(call.now_ms().saturating_sub((idle as u64).saturating_mul(1000)))
                }
                _ => {}
            }
        }
    }
    drop(shard);
    call.signal_ready(key);
    call.out().ok();
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "dump",
        2,
        READONLY,
        KEY1,
        Generic,
        "2.6.0",
        "Returns a serialized representation of the value stored at a key.",
        "key",
        data!(dump)
    ),
    cmd!(
        "restore",
        -4,
        WRITE | DENYOOM,
        KEY1,
        Generic,
        "2.6.0",
        "Creates a key from the serialized representation of a value.",
        "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        data!(restore)
    ),
];
