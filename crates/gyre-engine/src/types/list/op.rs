//! List ops: the deterministic effect of a list write ([`ListOp`]), as the
//! replication log and the AOF carry it, and its wire format.
//!
//! Invariants: `encode` and [`decode_op`] are inverse; the tag bytes are part
//! of the on-disk format and never change meaning.
//!
//! Limits: a push of over 4G values cannot be encoded (it panics); decoding
//! rejects unknown tags and flags other than 0 or 1.

use bytes::Bytes;

use crate::codec::{put_bytes, put_i64, put_u32, put_u64, put_u8, DecodeError, Reader};

/// The deterministic effect of a list write.
#[derive(Clone, Debug, PartialEq)]
pub enum ListOp<B> {
    /// Push each value in turn at the head (`left`) or the tail: LPUSH a b
    /// leaves b first.
    Push { left: bool, values: Vec<B> },
    /// Remove `count` elements (at most the length) from the head or the tail.
    Pop { left: bool, count: u64 },
    /// Replace the element at `index` (negative counts from the tail).
    Set { index: i64, value: B },
    /// Insert `value` before or after the first element equal to `pivot`.
    Insert { before: bool, pivot: B, value: B },
    /// LREM: `count` > 0 from the head, < 0 from the tail, 0 all.
    Rem { count: i64, value: B },
    /// LTRIM: keep `start..=stop` with Redis's index rules.
    Trim { start: i64, stop: i64 },
}

const OP_PUSH: u8 = 1;
const OP_POP: u8 = 2;
const OP_SET: u8 = 3;
const OP_INSERT: u8 = 4;
const OP_REM: u8 = 5;
const OP_TRIM: u8 = 6;

impl<B: AsRef<[u8]>> ListOp<B> {
    pub fn as_ref(&self) -> ListOp<&[u8]> {
        match self {
            ListOp::Push { left, values } => {
                ListOp::Push { left: *left, values: values.iter().map(|v| v.as_ref()).collect() }
            }
            ListOp::Pop { left, count } => ListOp::Pop { left: *left, count: *count },
            ListOp::Set { index, value } => ListOp::Set { index: *index, value: value.as_ref() },
            ListOp::Insert { before, pivot, value } => {
                ListOp::Insert { before: *before, pivot: pivot.as_ref(), value: value.as_ref() }
            }
            ListOp::Rem { count, value } => ListOp::Rem { count: *count, value: value.as_ref() },
            ListOp::Trim { start, stop } => ListOp::Trim { start: *start, stop: *stop },
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ListOp::Push { left, values } => {
                put_u8(out, OP_PUSH);
                put_u8(out, u8::from(*left));
                put_u32(out, u32::try_from(values.len()).expect("push of over 4G values"));
                for v in values {
                    put_bytes(out, v.as_ref());
                }
            }
            ListOp::Pop { left, count } => {
                put_u8(out, OP_POP);
                put_u8(out, u8::from(*left));
                put_u64(out, *count);
            }
            ListOp::Set { index, value } => {
                put_u8(out, OP_SET);
                put_i64(out, *index);
                put_bytes(out, value.as_ref());
            }
            ListOp::Insert { before, pivot, value } => {
                put_u8(out, OP_INSERT);
                put_u8(out, u8::from(*before));
                put_bytes(out, pivot.as_ref());
                put_bytes(out, value.as_ref());
            }
            ListOp::Rem { count, value } => {
                put_u8(out, OP_REM);
                put_i64(out, *count);
                put_bytes(out, value.as_ref());
            }
            ListOp::Trim { start, stop } => {
                put_u8(out, OP_TRIM);
                put_i64(out, *start);
                put_i64(out, *stop);
            }
        }
    }
}

fn get_bool(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid("list op flag is not 0 or 1")),
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<ListOp<Bytes>, DecodeError> {
    Ok(match r.u8()? {
        OP_PUSH => {
            let left = get_bool(r)?;
            let n = r.count(4)?;
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                values.push(r.bytes()?);
            }
            ListOp::Push { left, values }
        }
        OP_POP => ListOp::Pop { left: get_bool(r)?, count: r.u64()? },
        OP_SET => ListOp::Set { index: r.i64()?, value: r.bytes()? },
        OP_INSERT => ListOp::Insert { before: get_bool(r)?, pivot: r.bytes()?, value: r.bytes()? },
        OP_REM => ListOp::Rem { count: r.i64()?, value: r.bytes()? },
        OP_TRIM => ListOp::Trim { start: r.i64()?, stop: r.i64()? },
        _ => return Err(DecodeError::Invalid("unknown list op")),
    })
}
