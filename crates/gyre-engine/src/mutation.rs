//! Mutations: the deterministic effect of a command, the unit of change.
//!
//! Every write produces Mutations; they are the only thing the write-ahead log
//! stores and the only thing replicas receive. A mutation names absolute values
//! (an expiry is an absolute Unix-ms time, INCR is "set k to 11"), so replaying a
//! sequence in order on any node or at recovery yields the same state. Each carries
//! a [`Version`]; applying one whose version is not newer than the key's is a no-op,
//! which makes replay idempotent.
//!
//! `Mutation<B>` is generic over its byte type: the write path records borrowed
//! `Mutation<&[u8]>` straight into an encoded [`MutationLog`] (no allocation per
//! write), and [`decode`] yields owned `Mutation<Bytes>` for replay and tests.
//!
//! Encoding (little-endian): tag u8, version u64, then the variant's fields; byte
//! strings are a u32 length and the bytes. The WAL frames records with a length and
//! a CRC; this encoding carries no checksum of its own.

use bytes::Bytes;

pub use crate::codec::DecodeError;
use crate::codec::{put_bytes, put_u16, put_u64, Reader};
use crate::hlc::Version;
use crate::types::CollOp;

/// The index of a logical database (0..16 in standalone mode).
pub type DbIndex = u16;

#[derive(Clone, Debug, PartialEq)]
pub enum Mutation<B> {
    /// Set a string value (replacing any value of any type) with an absolute expiry
    /// (0 = none).
    Set { db: DbIndex, key: B, value: B, expire_at_ms: u64, version: Version },
    /// Append bytes to a string, creating it when absent.
    Append { db: DbIndex, key: B, data: B, version: Version },
    /// Overwrite a string at `offset`, zero-padding, creating it when absent.
    SetRange { db: DbIndex, key: B, offset: u64, data: B, version: Version },
    /// Set the absolute expiry of an existing key (0 = persist).
    Expire { db: DbIndex, key: B, expire_at_ms: u64, version: Version },
    /// Delete a key.
    Del { db: DbIndex, key: B, version: Version },
    /// Delete every key of a database older than `version`.
    FlushDb { db: DbIndex, version: Version },
    /// Delete every key of every database older than `version`.
    FlushAll { version: Version },
    /// Swap the contents of two databases.
    SwapDb { a: DbIndex, b: DbIndex, version: Version },
    /// A write to a collection (creating it when absent; a collection left
    /// empty is deleted).
    Coll { db: DbIndex, key: B, op: CollOp<B>, version: Version },
    /// Replace the key with a whole serialized value (see `Value::serialize`)
    /// and an absolute expiry: COPY, RENAME and MOVE of any type.
    Restore { db: DbIndex, key: B, value: B, expire_at_ms: u64, version: Version },
}

/// A mutation borrowing its bytes.
pub type MutationRef<'a> = Mutation<&'a [u8]>;

const TAG_SET: u8 = 1;
const TAG_APPEND: u8 = 2;
const TAG_SETRANGE: u8 = 3;
const TAG_EXPIRE: u8 = 4;
const TAG_DEL: u8 = 5;
const TAG_FLUSHDB: u8 = 6;
const TAG_FLUSHALL: u8 = 7;
const TAG_SWAPDB: u8 = 8;
const TAG_COLL: u8 = 9;
const TAG_RESTORE: u8 = 10;

impl<B: AsRef<[u8]>> Mutation<B> {
    pub fn version(&self) -> Version {
        match self {
            Mutation::Set { version, .. }
            | Mutation::Append { version, .. }
            | Mutation::SetRange { version, .. }
            | Mutation::Expire { version, .. }
            | Mutation::Del { version, .. }
            | Mutation::FlushDb { version, .. }
            | Mutation::FlushAll { version }
            | Mutation::SwapDb { version, .. }
            | Mutation::Coll { version, .. }
            | Mutation::Restore { version, .. } => *version,
        }
    }

    /// The key this mutation touches, if it touches exactly one.
    pub fn key(&self) -> Option<(DbIndex, &[u8])> {
        match self {
            Mutation::Set { db, key, .. }
            | Mutation::Append { db, key, .. }
            | Mutation::SetRange { db, key, .. }
            | Mutation::Expire { db, key, .. }
            | Mutation::Del { db, key, .. }
            | Mutation::Coll { db, key, .. }
            | Mutation::Restore { db, key, .. } => Some((*db, key.as_ref())),
            _ => None,
        }
    }

    pub fn as_ref(&self) -> MutationRef<'_> {
        match self {
            Mutation::Set { db, key, value, expire_at_ms, version } => Mutation::Set {
                db: *db,
                key: key.as_ref(),
                value: value.as_ref(),
                expire_at_ms: *expire_at_ms,
                version: *version,
            },
            Mutation::Append { db, key, data, version } => {
                Mutation::Append { db: *db, key: key.as_ref(), data: data.as_ref(), version: *version }
            }
            Mutation::SetRange { db, key, offset, data, version } => Mutation::SetRange {
                db: *db,
                key: key.as_ref(),
                offset: *offset,
                data: data.as_ref(),
                version: *version,
            },
            Mutation::Expire { db, key, expire_at_ms, version } => {
                Mutation::Expire { db: *db, key: key.as_ref(), expire_at_ms: *expire_at_ms, version: *version }
            }
            Mutation::Del { db, key, version } => Mutation::Del { db: *db, key: key.as_ref(), version: *version },
            Mutation::FlushDb { db, version } => Mutation::FlushDb { db: *db, version: *version },
            Mutation::FlushAll { version } => Mutation::FlushAll { version: *version },
            Mutation::SwapDb { a, b, version } => Mutation::SwapDb { a: *a, b: *b, version: *version },
            Mutation::Coll { db, key, op, version } => {
                Mutation::Coll { db: *db, key: key.as_ref(), op: op.as_ref(), version: *version }
            }
            Mutation::Restore { db, key, value, expire_at_ms, version } => Mutation::Restore {
                db: *db,
                key: key.as_ref(),
                value: value.as_ref(),
                expire_at_ms: *expire_at_ms,
                version: *version,
            },
        }
    }

    /// Appends the encoding of this mutation to `out`. Works on the mutation
    /// as it is (no borrowed copy: a collection op would be copied whole).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let tag = match self {
            Mutation::Set { .. } => TAG_SET,
            Mutation::Append { .. } => TAG_APPEND,
            Mutation::SetRange { .. } => TAG_SETRANGE,
            Mutation::Expire { .. } => TAG_EXPIRE,
            Mutation::Del { .. } => TAG_DEL,
            Mutation::FlushDb { .. } => TAG_FLUSHDB,
            Mutation::FlushAll { .. } => TAG_FLUSHALL,
            Mutation::SwapDb { .. } => TAG_SWAPDB,
            Mutation::Coll { .. } => TAG_COLL,
            Mutation::Restore { .. } => TAG_RESTORE,
        };
        out.push(tag);
        out.extend_from_slice(&self.version().0.to_le_bytes());
        match self {
            Mutation::Set { db, key, value, expire_at_ms, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                put_bytes(out, value.as_ref());
                put_u64(out, *expire_at_ms);
            }
            Mutation::Append { db, key, data, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                put_bytes(out, data.as_ref());
            }
            Mutation::SetRange { db, key, offset, data, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                put_u64(out, *offset);
                put_bytes(out, data.as_ref());
            }
            Mutation::Expire { db, key, expire_at_ms, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                put_u64(out, *expire_at_ms);
            }
            Mutation::Del { db, key, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
            }
            Mutation::FlushDb { db, .. } => put_u16(out, *db),
            Mutation::FlushAll { .. } => {}
            Mutation::SwapDb { a, b, .. } => {
                put_u16(out, *a);
                put_u16(out, *b);
            }
            Mutation::Coll { db, key, op, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                op.encode(out);
            }
            Mutation::Restore { db, key, value, expire_at_ms, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
                put_bytes(out, value.as_ref());
                put_u64(out, *expire_at_ms);
            }
        }
    }
}

/// Decodes one mutation from the front of `buf`; returns it and the bytes consumed.
/// Never panics on arbitrary input.
pub fn decode(buf: &Bytes) -> Result<(Mutation<Bytes>, usize), DecodeError> {
    let mut r = Reader::over(buf);
    let tag = r.u8()?;
    let version = Version(r.u64()?);
    let m = match tag {
        TAG_SET => {
            let db = r.u16()?;
            let key = r.bytes()?;
            let value = r.bytes()?;
            Mutation::Set { db, key, value, expire_at_ms: r.u64()?, version }
        }
        TAG_APPEND => {
            let db = r.u16()?;
            let key = r.bytes()?;
            Mutation::Append { db, key, data: r.bytes()?, version }
        }
        TAG_SETRANGE => {
            let db = r.u16()?;
            let key = r.bytes()?;
            let offset = r.u64()?;
            Mutation::SetRange { db, key, offset, data: r.bytes()?, version }
        }
        TAG_EXPIRE => {
            let db = r.u16()?;
            let key = r.bytes()?;
            Mutation::Expire { db, key, expire_at_ms: r.u64()?, version }
        }
        TAG_DEL => {
            let db = r.u16()?;
            Mutation::Del { db, key: r.bytes()?, version }
        }
        TAG_FLUSHDB => Mutation::FlushDb { db: r.u16()?, version },
        TAG_FLUSHALL => Mutation::FlushAll { version },
        TAG_SWAPDB => {
            let a = r.u16()?;
            Mutation::SwapDb { a, b: r.u16()?, version }
        }
        TAG_COLL => {
            let db = r.u16()?;
            let key = r.bytes()?;
            Mutation::Coll { db, key, op: crate::types::decode_op(&mut r)?, version }
        }
        TAG_RESTORE => {
            let db = r.u16()?;
            let key = r.bytes()?;
            let value = r.bytes()?;
            Mutation::Restore { db, key, value, expire_at_ms: r.u64()?, version }
        }
        other => return Err(DecodeError::UnknownTag(other)),
    };
    Ok((m, r.position()))
}

/// The encoded mutations produced by one or more commands, in order. The write path
/// appends here; the WAL and replication consume the bytes.
#[derive(Debug, Default)]
pub struct MutationLog {
    buf: Vec<u8>,
    count: usize,
}

impl MutationLog {
    pub fn new() -> MutationLog {
        MutationLog::default()
    }

    pub fn record<B: AsRef<[u8]>>(&mut self, m: &Mutation<B>) {
        m.encode(&mut self.buf);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Decodes every recorded mutation (tests, replay of a batch).
    pub fn decode_all(&self) -> Vec<Mutation<Bytes>> {
        let all = Bytes::copy_from_slice(&self.buf);
        let mut out = Vec::with_capacity(self.count);
        let mut pos = 0;
        while pos < all.len() {
            let (m, used) = decode(&all.slice(pos..)).expect("the log holds only encoded mutations");
            out.push(m);
            pos += used;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_mutation() -> impl Strategy<Value = Mutation<Bytes>> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
        let v = || any::<u64>().prop_map(Version);
        prop_oneof![
            (any::<u16>(), bytes(), bytes(), any::<u64>(), v()).prop_map(|(db, key, value, e, version)| {
                Mutation::Set { db, key, value, expire_at_ms: e, version }
            }),
            (any::<u16>(), bytes(), bytes(), v()).prop_map(|(db, key, data, version)| Mutation::Append {
                db,
                key,
                data,
                version
            }),
            (any::<u16>(), bytes(), any::<u64>(), bytes(), v())
                .prop_map(|(db, key, offset, data, version)| { Mutation::SetRange { db, key, offset, data, version } }),
            (any::<u16>(), bytes(), any::<u64>(), v())
                .prop_map(|(db, key, e, version)| { Mutation::Expire { db, key, expire_at_ms: e, version } }),
            (any::<u16>(), bytes(), v()).prop_map(|(db, key, version)| Mutation::Del { db, key, version }),
            (any::<u16>(), v()).prop_map(|(db, version)| Mutation::FlushDb { db, version }),
            v().prop_map(|version| Mutation::FlushAll { version }),
            (any::<u16>(), any::<u16>(), v()).prop_map(|(a, b, version)| Mutation::SwapDb { a, b, version }),
        ]
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(ms in proptest::collection::vec(arb_mutation(), 0..20)) {
            let mut log = MutationLog::new();
            for m in &ms {
                log.record(m);
            }
            prop_assert_eq!(log.len(), ms.len());
            prop_assert_eq!(log.decode_all(), ms);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&Bytes::from(bytes));
        }
    }

    #[test]
    fn truncated_records_are_reported() {
        let mut buf = Vec::new();
        Mutation::Del { db: 0, key: &b"k"[..], version: Version(1) }.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&Bytes::copy_from_slice(&buf[..cut])).unwrap_err(), DecodeError::Truncated);
        }
        assert_eq!(
            decode(&Bytes::from_static(&[99, 0, 0, 0, 0, 0, 0, 0, 0])).unwrap_err(),
            DecodeError::UnknownTag(99)
        );
    }
}
