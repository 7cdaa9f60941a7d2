//! Placeholder for the List type; replaced by its implementation. The public
//! names and signatures below are the contract the keyspace relies on.

use bytes::Bytes;

use super::EncodingConfig;
use crate::codec::{put_bytes, DecodeError, Reader};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    _private: (),
}

impl List {
    pub fn new() -> List {
        List::default()
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

    pub fn deserialize(_r: &mut Reader<'_>, _cfg: &EncodingConfig) -> Result<List, DecodeError> {
        Ok(List::new())
    }

    pub fn apply(&mut self, _op: &ListOp<&[u8]>, _cfg: &EncodingConfig) {}
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListOp<B> {
    Placeholder(B),
}

impl<B: AsRef<[u8]>> ListOp<B> {
    pub fn as_ref(&self) -> ListOp<&[u8]> {
        match self {
            ListOp::Placeholder(b) => ListOp::Placeholder(b.as_ref()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ListOp::Placeholder(b) => put_bytes(out, b.as_ref()),
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<ListOp<Bytes>, DecodeError> {
    Ok(ListOp::Placeholder(r.bytes()?))
}
