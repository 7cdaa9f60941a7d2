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
//! Encoding (little-endian): tag u8 (with [`TAG_FED`] set), the version (clock
//! u64, node tag u16), the key's previous version (the same two; zero for a
//! database-wide mutation), then the variant's fields; byte strings are a u32
//! length and the bytes. Records written before versions carried a node tag
//! lack the flag: their tag is followed by a u64 clock only (node 0) and no
//! previous version; [`decode`] reads both. The WAL frames records with a
//! length and a CRC; this encoding carries no checksum of its own.
//!
//! The previous version (`prev`) is what the key held before this mutation,
//! stamped under the shard lock (see `Shard::commit`): a receiver holding
//! exactly `prev` applies the mutation; one holding something else missed a
//! change and asks for the whole value instead (a `Restore`).

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
    /// Forget one slot of a database entirely: its keys and its tombstones,
    /// whatever their versions, leaving no watermark. Not a client's delete:
    /// a node drops its copy of a slot it handed to another node, or one it
    /// is about to receive whole from the slot's owner (so a stale leftover
    /// copy can never mix with the new one).
    DropSlot { db: DbIndex, slot: u16, version: Version },
    /// Forget one key, or its tombstone, held at exactly `version`, leaving
    /// nothing behind (no tombstone); any other version is left alone. Not
    /// a client's delete: a replica drops what its slot's primary showed it
    /// does not have (anti-entropy, see the server's `replication`). Its
    /// effect depends only on the key's version, so replaying the log (in
    /// which a key's mutations keep their order) repeats it.
    Forget { db: DbIndex, key: B, version: Version },
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
const TAG_DROPSLOT: u8 = 11;
const TAG_FORGET: u8 = 12;

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
            | Mutation::Restore { version, .. }
            | Mutation::DropSlot { version, .. }
            | Mutation::Forget { version, .. } => *version,
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
            | Mutation::Restore { db, key, .. }
            | Mutation::Forget { db, key, .. } => Some((*db, key.as_ref())),
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
            Mutation::Forget { db, key, version } => Mutation::Forget { db: *db, key: key.as_ref(), version: *version },
            Mutation::FlushDb { db, version } => Mutation::FlushDb { db: *db, version: *version },
            Mutation::FlushAll { version } => Mutation::FlushAll { version: *version },
            Mutation::SwapDb { a, b, version } => Mutation::SwapDb { a: *a, b: *b, version: *version },
            Mutation::DropSlot { db, slot, version } => Mutation::DropSlot { db: *db, slot: *slot, version: *version },
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
    /// Encodes with no previous version (a database-wide mutation, or one
    /// whose key's history does not matter to the reader).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_after(Version::ZERO, out)
    }

    /// Encodes as the change that follows `prev`, the key's version before it.
    pub fn encode_after(&self, prev: Version, out: &mut Vec<u8>) {
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
            Mutation::DropSlot { .. } => TAG_DROPSLOT,
            Mutation::Forget { .. } => TAG_FORGET,
        };
        out.push(tag | TAG_FED);
        put_version(out, self.version());
        put_version(out, prev);
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
            Mutation::Del { db, key, .. } | Mutation::Forget { db, key, .. } => {
                put_u16(out, *db);
                put_bytes(out, key.as_ref());
            }
            Mutation::FlushDb { db, .. } => put_u16(out, *db),
            Mutation::FlushAll { .. } => {}
            Mutation::SwapDb { a, b, .. } => {
                put_u16(out, *a);
                put_u16(out, *b);
            }
            Mutation::DropSlot { db, slot, .. } => {
                put_u16(out, *db);
                put_u16(out, *slot);
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

/// Set on the tag of every mutation encoded with a node tag and a previous
/// version (see the module doc).
pub const TAG_FED: u8 = 0x80;

fn put_version(out: &mut Vec<u8>, v: Version) {
    put_u64(out, v.hlc());
    put_u16(out, v.node());
}

fn read_version(r: &mut Reader<'_>) -> Result<Version, DecodeError> {
    let hlc = r.u64()?;
    Ok(Version::new(hlc, r.u16()?))
}

/// Decodes one mutation from the front of `buf`; returns it and the bytes consumed.
/// Never panics on arbitrary input.
pub fn decode(buf: &Bytes) -> Result<(Mutation<Bytes>, usize), DecodeError> {
    decode_fed(buf).map(|d| (d.mutation, d.len))
}

/// One decoded mutation with what the feed says about its key's history.
#[derive(Debug)]
pub struct Decoded {
    pub mutation: Mutation<Bytes>,
    /// The key's version before this mutation; `None` in a record written
    /// before the log carried it.
    pub prev: Option<Version>,
    /// Bytes consumed.
    pub len: usize,
}

/// [`decode`], keeping the previous version.
pub fn decode_fed(buf: &Bytes) -> Result<Decoded, DecodeError> {
    let mut r = Reader::over(buf);
    let raw = r.u8()?;
    let (version, prev) = if raw & TAG_FED != 0 {
        let v = read_version(&mut r)?;
        (v, Some(read_version(&mut r)?))
    } else {
        (Version::from_hlc(r.u64()?), None)
    };
    let tag = raw & !TAG_FED;
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
        TAG_FORGET => {
            let db = r.u16()?;
            Mutation::Forget { db, key: r.bytes()?, version }
        }
        TAG_FLUSHDB => Mutation::FlushDb { db: r.u16()?, version },
        TAG_FLUSHALL => Mutation::FlushAll { version },
        TAG_SWAPDB => {
            let a = r.u16()?;
            Mutation::SwapDb { a, b: r.u16()?, version }
        }
        TAG_DROPSLOT => {
            let db = r.u16()?;
            let slot = r.u16()?;
            if slot as usize >= crate::slot::SLOT_COUNT {
                return Err(DecodeError::Invalid("slot out of range"));
            }
            Mutation::DropSlot { db, slot, version }
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
        _ => return Err(DecodeError::UnknownTag(raw)),
    };
    Ok(Decoded { mutation: m, prev, len: r.position() })
}

/// The encoded mutations produced by one or more commands, in order, and
/// what their commit must take to the log.
///
/// Every mutation is encoded here: keyspace notifications, client tracking
/// and blocked clients read a command's slice of [`MutationLog::bytes`]. What
/// reaches the write-ahead log goes another way, so that per key the log's
/// order is the order the writes happened (the *change feed*):
///
/// * A single-key mutation is also copied, under its shard's lock, into that
///   shard's feed ([`MutationLog::record_fed`]); the log notes the shard as
///   touched. The commit takes the feeds of the touched shards, in one
///   critical section of the log, with whatever other writers left in them.
/// * Inside an atomic section (EXEC, a script: [`MutationLog::begin_atomic`])
///   mutations stay here, and the whole section goes to the log as one piece
///   after the touched shards' feeds, so a crash keeps all of a transaction or
///   none of it. The section must be committed before the transaction's
///   shards are released to other writers.
/// * A database-wide mutation (FLUSHDB, FLUSHALL) is this log's own piece:
///   its watermark makes its position against single-key writes irrelevant.
#[derive(Debug, Default)]
pub struct MutationLog {
    buf: Vec<u8>,
    count: usize,
    /// Ranges of `buf` the commit appends itself, in order.
    own: Vec<std::ops::Range<usize>>,
    /// Where the open atomic section starts in `buf`.
    atomic_from: Option<usize>,
    /// Per database, a bit per shard whose feed this log wrote to (or whose
    /// keys an atomic section changed).
    touched: Vec<u64>,
    /// The newest log position committed by this log's holder in the middle
    /// of a batch (an atomic section, SWAPDB), for the batch's reply to wait on.
    committed: Option<u64>,
    /// The same commits' position in the replication feed (0: none).
    committed_feed: u64,
    /// Mutations recorded since this log was made (never reset): tells a
    /// caller whether a command wrote.
    recorded: u64,
}

impl MutationLog {
    pub fn new() -> MutationLog {
        MutationLog::default()
    }

    /// Records a mutation the commit appends itself (database-wide ones).
    pub fn record<B: AsRef<[u8]>>(&mut self, m: &Mutation<B>) {
        let from = self.buf.len();
        m.encode(&mut self.buf);
        self.count += 1;
        self.recorded += 1;
        if self.atomic_from.is_none() {
            self.own.push(from..self.buf.len());
        }
    }

    /// Records a single-key mutation of shard `shard` of database `db`,
    /// which followed the key's version `prev`; outside an atomic section it
    /// is copied into `feed`, the shard's change feed (`None`: the keyspace
    /// keeps no feeds, as when nothing is logged). Called under the shard's
    /// lock, so a feed holds its keys' changes in the order they happened.
    #[inline]
    pub fn record_fed<B: AsRef<[u8]>>(
        &mut self,
        m: &Mutation<B>,
        prev: Version,
        feed: Option<&mut Vec<u8>>,
        db: DbIndex,
        shard: usize,
    ) {
        let from = self.buf.len();
        m.encode_after(prev, &mut self.buf);
        self.count += 1;
        self.recorded += 1;
        let Some(feed) = feed else { return };
        if self.atomic_from.is_none() {
            feed.extend_from_slice(&self.buf[from..]);
        }
        self.touch(db, shard);
    }

    /// Records a mutation its caller hands to the log itself, now (SWAPDB);
    /// returns its encoding.
    pub fn record_taken<B: AsRef<[u8]>>(&mut self, m: &Mutation<B>) -> &[u8] {
        let from = self.buf.len();
        m.encode(&mut self.buf);
        self.count += 1;
        self.recorded += 1;
        &self.buf[from..]
    }

    /// Notes that the next commit must take shard `shard` of `db`'s feed
    /// before this log's own pieces.
    pub fn touch(&mut self, db: DbIndex, shard: usize) {
        let db = db as usize;
        if self.touched.len() <= db {
            self.touched.resize(db + 1, 0);
        }
        self.touched[db] |= 1 << shard;
    }

    /// Notes that the next commit must take the feed of the shard holding
    /// `slot` of `db` (a read that must wait until what it saw is fed to
    /// replicas: the commit orders it after every change it could see).
    pub fn touch_slot(&mut self, db: DbIndex, slot: crate::SlotId) {
        self.touch(db, crate::keyspace::shard_of(slot));
    }

    /// Whether an atomic section is open.
    pub fn in_atomic(&self) -> bool {
        self.atomic_from.is_some()
    }

    /// Opens an atomic section; false (and nothing changes) when one is open.
    pub fn begin_atomic(&mut self) -> bool {
        if self.atomic_from.is_some() {
            return false;
        }
        self.atomic_from = Some(self.buf.len());
        true
    }

    /// Closes the atomic section: it becomes one piece of the next commit.
    pub fn end_atomic(&mut self) {
        if let Some(from) = self.atomic_from.take() {
            if from < self.buf.len() {
                self.own.push(from..self.buf.len());
            }
        }
    }

    /// Whether the next commit has anything to take.
    pub fn has_pending(&self) -> bool {
        !self.own.is_empty() || self.touched.iter().any(|&bits| bits != 0)
    }

    /// The shards (database, shard) whose feeds the next commit takes first;
    /// clears the set.
    pub fn take_touched(&mut self) -> impl Iterator<Item = (DbIndex, usize)> + '_ {
        self.touched.iter_mut().enumerate().flat_map(|(db, bits)| {
            let mut b = std::mem::take(bits);
            std::iter::from_fn(move || {
                if b == 0 {
                    return None;
                }
                let shard = b.trailing_zeros() as usize;
                b &= b - 1;
                Some((db as DbIndex, shard))
            })
        })
    }

    /// The pieces the commit appends after the feeds; clears them.
    pub fn take_own(&mut self) -> impl Iterator<Item = &[u8]> + '_ {
        let buf = &self.buf;
        self.own.drain(..).map(move |r| &buf[r])
    }

    /// Notes a log position committed in the middle of the batch.
    pub fn note_committed(&mut self, lsn: u64) {
        self.committed = self.committed.max(Some(lsn));
    }

    /// The newest position committed in the middle of the batch; clears it.
    pub fn take_committed(&mut self) -> Option<u64> {
        self.committed.take()
    }

    /// Notes the replication feed's position after a commit in the middle
    /// of the batch.
    pub fn note_committed_feed(&mut self, seq: u64) {
        self.committed_feed = self.committed_feed.max(seq);
    }

    /// The feed position noted by [`MutationLog::note_committed_feed`]; clears it.
    pub fn take_committed_feed(&mut self) -> u64 {
        std::mem::take(&mut self.committed_feed)
    }

    /// How many mutations this log recorded since it was made.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every mutation recorded since the last [`MutationLog::clear`].
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the recorded mutations (after the batch's commit; the
    /// touched set and the own pieces were taken by it).
    pub fn clear(&mut self) {
        debug_assert!(self.atomic_from.is_none(), "an atomic section is open");
        self.buf.clear();
        self.own.clear();
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
        let v = || (any::<u64>(), any::<u16>()).prop_map(|(h, n)| Version::new(h, n));
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
            (any::<u16>(), bytes(), v()).prop_map(|(db, key, version)| Mutation::Forget { db, key, version }),
            (any::<u16>(), v()).prop_map(|(db, version)| Mutation::FlushDb { db, version }),
            v().prop_map(|version| Mutation::FlushAll { version }),
            (any::<u16>(), any::<u16>(), v()).prop_map(|(a, b, version)| Mutation::SwapDb { a, b, version }),
            (any::<u16>(), 0u16..16384, v()).prop_map(|(db, slot, version)| Mutation::DropSlot { db, slot, version }),
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
        Mutation::Del { db: 0, key: &b"k"[..], version: Version::from_hlc(1) }.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&Bytes::copy_from_slice(&buf[..cut])).unwrap_err(), DecodeError::Truncated);
        }
        assert_eq!(
            decode(&Bytes::from_static(&[99, 0, 0, 0, 0, 0, 0, 0, 0])).unwrap_err(),
            DecodeError::UnknownTag(99)
        );
    }
}
