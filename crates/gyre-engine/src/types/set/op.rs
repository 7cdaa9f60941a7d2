//! Set ops: the deterministic effect of a write on a set ([`SetOp`]), as the
//! replication log and the AOF carry it, and its wire format.
//!
//! Invariants: `encode` and [`decode_op`] are inverse; the tag bytes are part
//! of the on-disk format and never change meaning.
//!
//! Limits: an op carries fewer than 2^32 members; decoding rejects unknown
//! tags.

use bytes::Bytes;

use crate::codec::{put_bytes, put_u32, put_u8, DecodeError, Reader};

/// The deterministic effect of a write on a set.
#[derive(Clone, Debug, PartialEq)]
pub enum SetOp<B> {
    /// SADD's members in argument order, duplicates and existing members
    /// included: their number is Redis's size hint for the encoding. SMOVE's
    /// destination gets one member.
    Add { members: Vec<B> },
    /// Remove these members (SREM, SPOP's chosen members, SMOVE's source);
    /// absent ones are ignored.
    Rem { members: Vec<B> },
}

const OP_ADD: u8 = 1;
const OP_REM: u8 = 2;

impl<B: AsRef<[u8]>> SetOp<B> {
    pub fn as_ref(&self) -> SetOp<&[u8]> {
        match self {
            SetOp::Add { members } => SetOp::Add { members: members.iter().map(|m| m.as_ref()).collect() },
            SetOp::Rem { members } => SetOp::Rem { members: members.iter().map(|m| m.as_ref()).collect() },
        }
    }

    /// Tag u8, u32 count, members as length-prefixed bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (tag, members) = match self {
            SetOp::Add { members } => (OP_ADD, members),
            SetOp::Rem { members } => (OP_REM, members),
        };
        put_u8(out, tag);
        put_u32(out, u32::try_from(members.len()).expect("bounded by the request's argument count"));
        for m in members {
            put_bytes(out, m.as_ref());
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<SetOp<Bytes>, DecodeError> {
    let tag = r.u8()?;
    if tag != OP_ADD && tag != OP_REM {
        return Err(DecodeError::Invalid("unknown set op"));
    }
    let n = r.count(4)?;
    let mut members = Vec::with_capacity(n);
    for _ in 0..n {
        members.push(r.bytes()?);
    }
    Ok(if tag == OP_ADD { SetOp::Add { members } } else { SetOp::Rem { members } })
}
