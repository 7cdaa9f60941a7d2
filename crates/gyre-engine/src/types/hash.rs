//! Placeholder for the Hash type; replaced by its implementation. The public
//! names and signatures below are the contract the keyspace relies on.

use bytes::Bytes;

use super::EncodingConfig;
use crate::codec::{put_bytes, DecodeError, Reader};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hash {
    _private: (),
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
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

    pub fn deserialize(_r: &mut Reader<'_>, _cfg: &EncodingConfig) -> Result<Hash, DecodeError> {
        Ok(Hash::new())
    }

    pub fn apply(&mut self, _op: &HashOp<&[u8]>, _cfg: &EncodingConfig) {}
}

#[derive(Clone, Debug, PartialEq)]
pub enum HashOp<B> {
    Placeholder(B),
}

impl<B: AsRef<[u8]>> HashOp<B> {
    pub fn as_ref(&self) -> HashOp<&[u8]> {
        match self {
            HashOp::Placeholder(b) => HashOp::Placeholder(b.as_ref()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            HashOp::Placeholder(b) => put_bytes(out, b.as_ref()),
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<HashOp<Bytes>, DecodeError> {
    Ok(HashOp::Placeholder(r.bytes()?))
}
