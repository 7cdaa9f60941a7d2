//! Bitmap commands on ordinary strings: SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP, BITFIELD and BITFIELD_RO, with Redis 7.2's arguments, replies and
//! errors. The bit arithmetic is `gyre_engine::bitmap`'s.
//!
//! Writes become deterministic Mutations: SETBIT and BITFIELD overwrite the
//! bytes they changed (SETRANGE of that span, which zero-pads a growing string
//! and keeps the key's expiry); a missing key is created with SET of the whole
//! value; BITOP sets its destination (no expiry) or deletes it when every
//! source is empty. A write that changes nothing (SETBIT to the bit already
//! there, no growth) records nothing, as Redis then neither dirties nor
//! signals the key.

use std::sync::atomic::Ordering;

use gyre_engine::bitmap::{self, BitOp, FieldType, Overflow};
use gyre_engine::num::parse_i64;
use gyre_engine::{Mutation, SlotId, NO_EXPIRY};

use super::data::Data;
use super::errors::{NOT_INTEGER, SYNTAX};
use super::flags::*;
use super::strings::expect_string;
use super::table::{cmd, data, KEY1};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset argument: a non-negative integer whose byte is below
/// `proto-max-bulk-len`. With `field_bits`, BITFIELD's `#n` form (n times the
/// field width) is accepted too.
fn offset_arg(call: &Data<'_, '_>, i: usize, field_bits: Option<u32>) -> Result<u64, CmdError> {
    let arg = call.arg(i);
    let (hash, digits) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(_)) => (true, &arg[1..]),
        _ => (false, arg),
    };
    let mut n = parse_i64(digits).ok_or(err(OFFSET_ERR))?;
    if hash {
        n = n.checked_mul(i64::from(field_bits.unwrap_or(1))).ok_or(err(OFFSET_ERR))?;
    }
    let max = call.hot().proto_max_bulk_len.load(Ordering::Relaxed);
    if n < 0 || (n as u64 >> 3) >= max {
        return Err(err(OFFSET_ERR));
    }
    Ok(n as u64)
}

pub fn setbit(call: &mut Data<'_, '_>) -> CmdResult {
    let offset = offset_arg(call, 2, None)?;
    const BIT_ERR: &str = "ERR bit is not an integer or out of range";
    let on = match parse_i64(call.arg(3)).ok_or(err(BIT_ERR))? {
        0 => false,
        1 => true,
        _ => return Err(err(BIT_ERR)),
    };
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let old = match shard.get(slot, key, now) {
        None => {
            let mut value = vec![0u8; byte + 1];
            if on {
                value[byte] = mask;
            }
            let version = call.version();
            shard.commit(slot, &Mutation::Set { db, key, value: &value, expire_at_ms: NO_EXPIRY, version }, call.log());
            false
        }
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            let bytes = expect_string(e)?.as_bytes(&mut scratch);
            let current = bytes.get(byte).copied();
            let old = current.is_some_and(|b| b & mask != 0);
            if current.is_none() || old != on {
                let new = if on { current.unwrap_or(0) | mask } else { current.unwrap_or(0) & !mask };
                let version = call.version();
                let data = [new];
                shard.commit(
                    slot,
                    &Mutation::SetRange { db, key, offset: byte as u64, data: &data, version },
                    call.log(),
                );
            }
            old
        }
    };
    drop(shard);
    call.out().integer(i64::from(old));
    Ok(())
}

pub fn getbit(call: &mut Data<'_, '_>) -> CmdResult {
    let offset = offset_arg(call, 2, None)?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let bit = match shard.get_read(slot, key, now) {
        None => false,
        Some(e) => bitmap::get_bit(expect_string(e)?.as_bytes(&mut itoa::Buffer::new()), offset),
    };
    drop(shard);
    call.out().integer(i64::from(bit));
    Ok(())
}

/// `BYTE` / `BIT` (any case): true for BIT.
fn unit_arg(call: &Data<'_, '_>, i: usize) -> Result<bool, CmdError> {
    if call.arg_is(i, "BIT") {
        Ok(true)
    } else if call.arg_is(i, "BYTE") {
        Ok(false)
    } else {
        Err(err(SYNTAX))
    }
}

/// BITCOUNT key [start end [BYTE | BIT]]. As in Redis, a missing key answers
/// 0 before the range is parsed.
pub fn bitcount(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().integer(0);
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let bytes = expect_string(e)?.as_bytes(&mut scratch);
    let range = match call.argc() {
        2 => None,
        4 | 5 => {
            let start = call.int_arg(2)?;
            let end = call.int_arg(3)?;
            if start < 0 && end < 0 && start > end {
                drop(shard);
                call.out().integer(0);
                return Ok(());
            }
            let bit = if call.argc() == 5 { unit_arg(call, 4)? } else { false };
            Some((start, end, bit))
        }
        _ => return Err(err(SYNTAX)),
    };
    let n = bitmap::bitcount(bytes, range);
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE | BIT]]].
pub fn bitpos(call: &mut Data<'_, '_>) -> CmdResult {
    let bit = match call.int_arg(2)? {
        0 => false,
        1 => true,
        _ => return Err(err("ERR The bit argument must be 1 or 0.")),
    };
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().integer(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let bytes = expect_string(e)?.as_bytes(&mut scratch);
    let (start, end, in_bits) = match call.argc() {
        3 => (None, None, false),
        4..=6 => {
            let start = call.int_arg(3)?;
            let in_bits = if call.argc() == 6 { unit_arg(call, 5)? } else { false };
            let end = if call.argc() >= 5 { Some(call.int_arg(4)?) } else { None };
            (Some(start), end, in_bits)
        }
        _ => return Err(err(SYNTAX)),
    };
    let pos = bitmap::bitpos(bytes, bit, start, end, in_bits);
    drop(shard);
    call.out().integer(pos);
    Ok(())
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]
pub fn bitop(call: &mut Data<'_, '_>) -> CmdResult {
    let op = match call.arg(1).to_ascii_lowercase().as_slice() {
        b"and" => BitOp::And,
        b"or" => BitOp::Or,
        b"xor" => BitOp::Xor,
        b"not" => BitOp::Not,
        _ => return Err(err(SYNTAX)),
    };
    if op == BitOp::Not && call.argc() != 4 {
        return Err(err("ERR BITOP NOT must be called with a single source key."));
    }
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let dst = call.args().get(2);
    let keys: Vec<&[u8]> = (3..call.argc()).map(|i| call.args().get(i)).collect();
    let mut g = ks.lock_many(keys.iter().chain([&dst]).map(|k| (db, SlotId::of(k))));
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in &keys {
        let slot = SlotId::of(k);
        match g.shard(db, slot).get_read(slot, k, now) {
            None => sources.push(Vec::new()),
            Some(e) => sources.push(expect_string(e)?.as_bytes(&mut itoa::Buffer::new()).to_vec()),
        }
    }
    let refs: Vec<&[u8]> = sources.iter().map(|s| s.as_slice()).collect();
    let result = bitmap::bitop(op, &refs);
    let dst_slot = SlotId::of(dst);
    let shard = g.shard(db, dst_slot);
    if !result.is_empty() {
        let version = call.version();
        let m = Mutation::Set { db, key: dst, value: &result, expire_at_ms: NO_EXPIRY, version };
        if let Some(old) = shard.commit(dst_slot, &m, call.log()) {
            call.free(old);
        }
    } else if shard.get(dst_slot, dst, now).is_some() {
        let version = call.version();
        if let Some(old) = shard.commit(dst_slot, &Mutation::Del { db, key: dst, version }, call.log()) {
            call.free(old);
        }
    }
    drop(g);
    call.out().integer(result.len() as i64);
    Ok(())
}

/// One parsed BITFIELD operation.
struct FieldOp {
    ty: FieldType,
    offset: u64,
    /// None for GET; Some((is_incrby, argument)) for SET / INCRBY.
    write: Option<(bool, i64)>,
    overflow: Overflow,
}

/// Parses BITFIELD's operations, all before anything runs (as Redis does).
fn parse_field_ops(call: &Data<'_, '_>) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < call.argc() {
        let remaining = call.argc() - j - 1;
        let sub = call.arg(j).to_ascii_lowercase();
        let write = match sub.as_slice() {
            b"get" if remaining >= 2 => None,
            b"set" if remaining >= 3 => Some(false),
            b"incrby" if remaining >= 3 => Some(true),
            b"overflow" if remaining >= 1 => {
                overflow = match call.arg(j + 1).to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(err("ERR Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            _ => return Err(err(SYNTAX)),
        };
        let ty = FieldType::parse(call.arg(j + 1)).ok_or(err(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        ))?;
        let offset = offset_arg(call, j + 2, Some(ty.bits))?;
        let write = match write {
            None => None,
            Some(incr) => Some((incr, parse_i64(call.arg(j + 3)).ok_or(err(NOT_INTEGER))?)),
        };
        ops.push(FieldOp { ty, offset, write, overflow });
        j += if write.is_some() { 4 } else { 3 };
    }
    Ok(ops)
}

pub fn bitfield(call: &mut Data<'_, '_>) -> CmdResult {
    bitfield_generic(call, false)
}

pub fn bitfield_ro(call: &mut Data<'_, '_>) -> CmdResult {
    bitfield_generic(call, true)
}

/// BITFIELD / BITFIELD_RO. The operations run in order on a copy of the
/// value; the bytes between the first and last one changed are written back
/// as one SETRANGE (a missing key: SET of the whole value).
fn bitfield_generic(call: &mut Data<'_, '_>, read_only: bool) -> CmdResult {
    let ops = parse_field_ops(call)?;
    let writes = ops.iter().any(|o| o.write.is_some());
    if writes && read_only {
        return Err(err("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let entry = if writes { shard.get(slot, key, now) } else { shard.get_read(slot, key, now) };
    let existed = entry.is_some();
    let mut bytes: Vec<u8> = match entry {
        None => Vec::new(),
        Some(e) => expect_string(e)?.as_bytes(&mut itoa::Buffer::new()).to_vec(),
    };
    let old_len = bytes.len();
    if let Some(highest) = ops.iter().filter(|o| o.write.is_some()).map(|o| o.offset + u64::from(o.ty.bits) - 1).max() {
        let need = (highest >> 3) as usize + 1;
        if bytes.len() < need {
            bytes.resize(need, 0);
        }
    }
    let grew = bytes.len() != old_len;
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let mut changed: Option<(usize, usize)> = None;
    for op in &ops {
        match op.write {
            None => {
                let v = if op.ty.signed {
                    bitmap::get_signed(&bytes, op.offset, op.ty.bits)
                } else {
                    bitmap::get_unsigned(&bytes, op.offset, op.ty.bits) as i64
                };
                replies.push(Some(v));
            }
            Some((incr, arg)) => {
                let (reply, bits_changed) = bitmap::field_write(&mut bytes, op.ty, op.offset, incr, arg, op.overflow);
                if reply.is_some() && (bits_changed || grew) {
                    let (a, b) = ((op.offset >> 3) as usize, ((op.offset + u64::from(op.ty.bits) - 1) >> 3) as usize);
                    changed = Some(changed.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                }
                replies.push(reply);
            }
        }
    }
    if grew {
        // The padding is part of the change even where no field wrote.
        changed = Some(changed.map_or((old_len, bytes.len() - 1), |(x, y)| (x.min(old_len), y.max(bytes.len() - 1))));
    }
    if let Some((from, to)) = changed {
        let version = call.version();
        if existed {
            let m = Mutation::SetRange { db, key, offset: from as u64, data: &bytes[from..=to], version };
            shard.commit(slot, &m, call.log());
        } else {
            shard.commit(slot, &Mutation::Set { db, key, value: &bytes, expire_at_ms: NO_EXPIRY, version }, call.log());
        }
    }
    drop(shard);
    call.out().array(replies.len());
    for r in replies {
        match r {
            Some(v) => call.out().integer(v),
            None => call.out().null(),
        }
    }
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("setbit", 4, WRITE | DENYOOM, KEY1, Bitmap, "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "key offset value", data!(setbit)),
    cmd!("getbit", 3, READONLY | FAST, KEY1, Bitmap, "2.2.0", "Returns a bit value by offset.", "key offset", data!(getbit)),
    cmd!("bitcount", -2, READONLY, KEY1, Bitmap, "2.6.0", "Counts the number of set bits (population counting) in a string.", "key [start end [BYTE | BIT]]", data!(bitcount)),
    cmd!("bitpos", -3, READONLY, KEY1, Bitmap, "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", "key bit [start [end [BYTE | BIT]]]", data!(bitpos)),
    cmd!("bitop", -4, WRITE | DENYOOM, (2, -1, 1), Bitmap, "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", "<AND | OR | XOR | NOT> destkey key [key ...]", data!(bitop)),
    cmd!("bitfield", -2, WRITE | DENYOOM, KEY1, Bitmap, "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> ...]]", data!(bitfield)),
    cmd!("bitfield_ro", -2, READONLY | FAST, KEY1, Bitmap, "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "key [GET encoding offset [GET encoding offset ...]]", data!(bitfield_ro)),
];
