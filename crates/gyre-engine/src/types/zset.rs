//! Placeholder for the ZSet type; replaced by its implementation. The public
//! names and signatures below are the contract the keyspace relies on.

use bytes::Bytes;

use super::EncodingConfig;
use crate::codec::{put_bytes, DecodeError, Reader};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    _private: (),
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        true
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes (MEMORY USAGE, lazy-free decisions).
    pub fn heap_bytes(&self) -> usize {
        0
    }

    pub fn serialize(&self, _out: &mut Vec<u8>) {}

    pub fn deserialize(_r: &mut Reader<'_>, _cfg: &EncodingConfig) -> Result<ZSet, DecodeError> {
        Ok(ZSet::new())
    }

    pub fn apply(&mut self, _op: &ZSetOp<&[u8]>, _cfg: &EncodingConfig) {}
}

#[derive(Clone, Debug, PartialEq)]
pub enum ZSetOp<B> {
    Placeholder(B),
}

impl<B: AsRef<[u8]>> ZSetOp<B> {
    pub fn as_ref(&self) -> ZSetOp<&[u8]> {
        match self {
            ZSetOp::Placeholder(b) => ZSetOp::Placeholder(b.as_ref()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ZSetOp::Placeholder(b) => put_bytes(out, b.as_ref()),
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<ZSetOp<Bytes>, DecodeError> {
    Ok(ZSetOp::Placeholder(r.bytes()?))
}
