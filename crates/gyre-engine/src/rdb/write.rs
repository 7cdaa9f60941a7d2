//! Encoding a value in the RDB object format (DUMP): the plain types every
//! Redis since 2.x reads, and streams in the type the reader's RDB version
//! asks for (`stream.rs` writes them).
//!
//! Invariant: what is written here reads back through `read.rs` into an
//! equal value.
//!
//! Limits: strings are never compressed or integer-encoded, collections
//! never written in a compact type: larger payloads than Redis's, readable
//! by every version.

use super::stream::encode_stream;
use super::{RDB_VERSION, T_HASH, T_LIST, T_SET, T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3};
use super::{T_STRING, T_ZSET_2};
use crate::value::Value;

pub(super) fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The RDB type byte and encoding of a value (no trailer), as RDB version
/// [`RDB_VERSION`] has it.
pub fn encode_value(v: &Value) -> Vec<u8> {
    encode_value_for(v, RDB_VERSION)
}

/// [`encode_value`] for a reader of an older RDB version: only streams
/// differ (version 10, Redis 7.0, reads `STREAM_LISTPACKS_2`; older ones
/// `STREAM_LISTPACKS`).
pub fn encode_value_for(v: &Value, version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::Stream(s) => {
            let t = match version {
                11.. => T_STREAM_LISTPACKS_3,
                10 => T_STREAM_LISTPACKS_2,
                _ => T_STREAM_LISTPACKS,
            };
            out.push(t);
            encode_stream(&mut out, s, t);
        }
        Value::Int(_) | Value::Str(_) => {
            out.push(T_STRING);
            put_str(&mut out, v.as_bytes(&mut itoa::Buffer::new()));
        }
        Value::List(l) => {
            out.push(T_LIST);
            put_len(&mut out, l.len() as u64);
            for e in l.iter() {
                put_str(&mut out, e);
            }
        }
        Value::Set(s) => {
            out.push(T_SET);
            put_len(&mut out, s.len() as u64);
            let mut scratch = itoa::Buffer::new();
            for m in s.iter() {
                put_str(&mut out, m.as_bytes(&mut scratch));
            }
        }
        Value::Hash(h) => {
            out.push(T_HASH);
            put_len(&mut out, h.len() as u64);
            for (f, val) in h.iter() {
                put_str(&mut out, f);
                put_str(&mut out, val);
            }
        }
        Value::ZSet(z) => {
            out.push(T_ZSET_2);
            put_len(&mut out, z.len() as u64);
            // Redis writes from the highest score down, so that loading
            // inserts at the head; any order loads.
            z.for_range(0, z.len(), true, |m, s| {
                put_str(&mut out, m);
                out.extend_from_slice(&s.to_le_bytes());
            });
        }
    }
    out
}
