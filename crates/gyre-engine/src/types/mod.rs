//! Collection types: lists, hashes, sets, sorted sets and streams.
//!
//! Each type lives in its own module with the same shape: the value type
//! (`List`, `Hash`, `Set`, `ZSet`) with a compact encoding for small collections
//! and a scalable one past the thresholds in [`EncodingConfig`]; an operation
//! type (`ListOp`, ...) that is the deterministic effect of a write on that type,
//! generic over its byte type like [`crate::Mutation`]; `apply` of an op;
//! serialization of the whole value (COPY, RENAME across types, snapshots).
//!
//! Invariant: applying an op never reads the clock or randomness; commands decide
//! (SPOP picks members) and the op names the outcome (remove these members).
//! A collection left empty by an op is deleted by the keyspace.

use bytes::Bytes;

use crate::codec::{DecodeError, Reader};

pub mod hash;
pub mod list;
mod packed;
pub mod set;
pub mod stream;
pub mod zset;

pub use hash::{Hash, HashOp};
pub use list::{List, ListOp};
pub use set::{Set, SetOp};
pub use stream::{Stream, StreamId, StreamOp};
pub use zset::{ZSet, ZSetOp};

/// Thresholds between compact and scalable encodings, with Redis's names and
/// defaults. Set from the server's configuration (CONFIG SET applies to
/// collections converted from then on, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingConfig {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    /// Redis's list-max-listpack-size: positive = entries per node; -1..-5 =
    /// node size 4, 8, 16, 32, 64 KB.
    pub list_max_listpack_size: i64,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Entries (live or deleted) per stream node; 0 = no limit.
    pub stream_node_max_entries: usize,
    /// Bytes per stream node; 0 = the format's limit.
    pub stream_node_max_bytes: usize,
}

impl Default for EncodingConfig {
    fn default() -> EncodingConfig {
        EncodingConfig {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
        }
    }
}

/// The effect of a write on one collection.
#[derive(Clone, Debug, PartialEq)]
pub enum CollOp<B> {
    List(ListOp<B>),
    Hash(HashOp<B>),
    Set(SetOp<B>),
    ZSet(ZSetOp<B>),
    Stream(StreamOp<B>),
}

const OP_LIST: u8 = 1;
const OP_HASH: u8 = 2;
const OP_SET: u8 = 3;
const OP_ZSET: u8 = 4;
const OP_STREAM: u8 = 5;

impl<B: AsRef<[u8]>> CollOp<B> {
    pub fn as_ref(&self) -> CollOp<&[u8]> {
        match self {
            CollOp::List(o) => CollOp::List(o.as_ref()),
            CollOp::Hash(o) => CollOp::Hash(o.as_ref()),
            CollOp::Set(o) => CollOp::Set(o.as_ref()),
            CollOp::ZSet(o) => CollOp::ZSet(o.as_ref()),
            CollOp::Stream(o) => CollOp::Stream(o.as_ref()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CollOp::List(o) => {
                out.push(OP_LIST);
                o.encode(out)
            }
            CollOp::Hash(o) => {
                out.push(OP_HASH);
                o.encode(out)
            }
            CollOp::Set(o) => {
                out.push(OP_SET);
                o.encode(out)
            }
            CollOp::ZSet(o) => {
                out.push(OP_ZSET);
                o.encode(out)
            }
            CollOp::Stream(o) => {
                out.push(OP_STREAM);
                o.encode(out)
            }
        }
    }

    /// The TYPE name of the collection this op applies to.
    pub fn type_name(&self) -> &'static str {
        match self {
            CollOp::List(_) => "list",
            CollOp::Hash(_) => "hash",
            CollOp::Set(_) => "set",
            CollOp::ZSet(_) => "zset",
            CollOp::Stream(_) => "stream",
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<CollOp<Bytes>, DecodeError> {
    Ok(match r.u8()? {
        OP_LIST => CollOp::List(list::decode_op(r)?),
        OP_HASH => CollOp::Hash(hash::decode_op(r)?),
        OP_SET => CollOp::Set(set::decode_op(r)?),
        OP_ZSET => CollOp::ZSet(zset::decode_op(r)?),
        OP_STREAM => CollOp::Stream(stream::decode_op(r)?),
        _ => return Err(DecodeError::Invalid("unknown collection op type")),
    })
}
