//! Moving a slot's data between nodes: exporting a copy of a slot as
//! whole-value records, and applying a source's change-feed records on a
//! receiver (a new replica, the target of a slot move).
//!
//! A receiver applies one ordered stream from its source: the source's feed
//! records for the slot from the moment the receiver subscribed, interleaved
//! with the export's chunks as the source read them. Whole values (`Set`,
//! `Del`, `Restore`) are last-writer-wins by version. A delta (`Append`,
//! `SetRange`, `Expire`, a collection op) applies only on the version it
//! followed at the source (`prev`); otherwise the receiver has missed
//! something ([`Fed::Gap`]) and the delta is left out. Within such a stream a
//! gap heals itself: a feed record that reaches the stream before the export
//! read its key was applied at the source before that read, so the export's
//! copy of the key includes it. A gap still open when the export ends needs
//! the key fetched whole (a `Restore`).

use bytes::Bytes;

use super::digest::{digest_bucket, digest_term, DIGEST_BUCKETS};
use super::{Keyspace, SlotMap};
use crate::hlc::Version;
use crate::mutation::{DbIndex, Mutation, MutationLog};
use crate::slot::SlotId;

/// What applying a feed record did on the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    Applied,
    /// The receiver already holds this version or a newer one.
    Held,
    /// A delta that does not follow what the receiver holds (`have`).
    Gap {
        have: Version,
    },
}

/// Whether `m` changes a key relative to its previous state.
fn is_delta<B>(m: &Mutation<B>) -> bool {
    matches!(m, Mutation::Append { .. } | Mutation::SetRange { .. } | Mutation::Expire { .. } | Mutation::Coll { .. })
}

impl Keyspace {
    /// Applies a record of a source's change feed that followed the key's
    /// version `prev` there (see the module doc), recording what it applied
    /// in `log` (and the feed), so the receiver logs it like its own writes.
    /// The caller has checked the version against its clock
    /// (`Hlc::observe_remote`).
    pub fn apply_fed<B: AsRef<[u8]>>(&self, m: &Mutation<B>, prev: Version, log: &mut MutationLog) -> Fed {
        self.clock.observe(m.version());
        let Some((db, key)) = m.key() else {
            if !self.apply_observed(m) {
                return Fed::Held;
            }
            log.record(m);
            return Fed::Applied;
        };
        let Some(d) = self.dbs.get(db as usize) else { return Fed::Held };
        let slot = SlotId::of(key);
        let mut shard = d.lock(slot);
        if let Mutation::Forget { .. } = m {
            // Exact: it removes only the version it names.
            if shard.key_version(slot, key) != m.version() {
                return Fed::Held;
            }
            shard.commit(slot, &m.as_ref(), log);
            return Fed::Applied;
        }
        let have = shard.key_version(slot, key);
        if have >= m.version() {
            return Fed::Held;
        }
        if is_delta(m) && have != prev {
            return Fed::Gap { have };
        }
        shard.commit(slot, &m.as_ref(), log);
        Fed::Applied
    }

    /// The keys `slot` of database `db` holds now, and its tombstones as
    /// `Del` records appended to `out`: the start of a copy of the slot.
    /// [`Keyspace::export_keys`] then exports the keys' values a chunk at a
    /// time. A key created after this call, or changed after its export, reaches
    /// the receiver through the change feed (subscribe before calling this);
    /// a key deleted before its export is skipped (its delete is in the feed).
    /// A flush watermark is not exported (it would reach the receiver's other
    /// slots).
    pub fn slot_keys(&self, db: DbIndex, slot: SlotId, out: &mut Vec<u8>) -> Vec<Box<[u8]>> {
        let shard = self.dbs[db as usize].lock(slot);
        for (key, version) in shard.tombstones().filter(|(k, _)| SlotId::of(k) == slot) {
            Mutation::Del { db, key, version }.encode(out);
        }
        shard
            .slots
            .get(super::slot_in_shard(slot))
            .map_or_else(Vec::new, |map| map.iter().map(|n| n.key().into()).collect())
    }

    /// Every key and tombstone of `slot` in database `db` with its version
    /// (what a replica compares with what its primary sent, to forget what
    /// the primary does not have).
    pub fn slot_versions(&self, db: DbIndex, slot: SlotId) -> Vec<(Box<[u8]>, crate::Version)> {
        let Some(d) = self.dbs.get(db as usize) else { return Vec::new() };
        let shard = d.lock(slot);
        let mut out: Vec<(Box<[u8]>, crate::Version)> =
            shard.tombstones().filter(|(k, _)| SlotId::of(k) == slot).map(|(k, v)| (k.into(), v)).collect();
        if let Some(map) = shard.slots.get(super::slot_in_shard(slot)) {
            out.extend(map.iter().map(|n| (n.key().into(), n.entry.version)));
        }
        out
    }

    /// `slot`'s digest in database `db` split into [`DIGEST_BUCKETS`]
    /// buckets by key (their XOR is [`Keyspace::slot_digest`]): what
    /// anti-entropy compares to narrow a slot that differs down to the
    /// keys that do. O(the slot's keys and the shard's tombstones).
    pub fn slot_bucket_digests(&self, db: DbIndex, slot: SlotId) -> [u64; DIGEST_BUCKETS] {
        let mut out = [0u64; DIGEST_BUCKETS];
        let Some(d) = self.dbs.get(db as usize) else { return out };
        let shard = d.lock(slot);
        for (key, version) in shard.tombstones().filter(|(k, _)| SlotId::of(k) == slot) {
            out[digest_bucket(key)] ^= digest_term(key, version);
        }
        if let Some(map) = shard.slots.get(super::slot_in_shard(slot)) {
            for n in map.iter() {
                out[digest_bucket(n.key())] ^= digest_term(n.key(), n.entry.version);
            }
        }
        out
    }

    /// The keys and tombstones of `slot` in database `db` whose digest
    /// bucket is set in `buckets` (bit `b` for bucket `b`), with their
    /// versions.
    pub fn slot_versions_in(&self, db: DbIndex, slot: SlotId, buckets: u64) -> Vec<(Box<[u8]>, Version)> {
        let mut out = self.slot_versions(db, slot);
        out.retain(|(key, _)| buckets & (1 << digest_bucket(key)) != 0);
        out
    }

    /// Appends the records that make a replica holding `key` at `theirs`
    /// (None: nothing) hold what this node holds, applied in order after
    /// any change the replica already has from this node's feed:
    /// * a `Forget` of `theirs` when this node holds no such key or an
    ///   older version (the replica's copy is of another lineage: a deposed
    ///   primary's unacknowledged write, a delete whose tombstone was
    ///   collected here);
    /// * the key whole (`Restore`) or its tombstone (`Del`) at this node's
    ///   version, when that differs from `theirs` (an expired key is left
    ///   to its delete, which the feed carries).
    ///
    /// Returns whether it appended anything.
    pub fn export_repair(
        &self,
        db: DbIndex,
        key: &[u8],
        theirs: Option<Version>,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(d) = self.dbs.get(db as usize) else { return false };
        let slot = SlotId::of(key);
        let shard = d.lock(slot);
        let map = shard.slots.get(super::slot_in_shard(slot));
        let entry = map.and_then(|m| super::find(m, key));
        let ours = entry.map(|e| e.version).or_else(|| shard.tombstones.get(key).copied());
        let start = out.len();
        if let Some(theirs) = theirs {
            if ours.is_none_or(|v| theirs > v) {
                Mutation::Forget { db, key, version: theirs }.encode(out);
            }
        }
        if ours != theirs {
            match (map, entry, ours) {
                (Some(map), Some(_), _) => export_key(map, db, key, now_ms, &mut Vec::new(), out),
                (_, None, Some(version)) => Mutation::Del { db, key, version }.encode(out),
                _ => {}
            }
        }
        out.len() > start
    }

    /// Appends `Restore` records (the value, expiry and version, as feed
    /// records) for the keys of `keys`, all of one slot of database `db`,
    /// from the first until `out` grew by about `max_bytes`; returns how
    /// many keys it consumed. Keys gone or expired are skipped.
    pub fn export_keys(
        &self,
        db: DbIndex,
        keys: &[Box<[u8]>],
        max_bytes: usize,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> usize {
        let Some(first) = keys.first() else { return 0 };
        let slot = SlotId::of(first);
        let shard = self.dbs[db as usize].lock(slot);
        let Some(map) = shard.slots.get(super::slot_in_shard(slot)) else { return keys.len() };
        let start = out.len();
        let mut value = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if out.len() - start >= max_bytes.max(1) {
                return i;
            }
            debug_assert_eq!(SlotId::of(key), slot);
            export_key(map, db, key, now_ms, &mut value, out);
        }
        keys.len()
    }
}

fn export_key(map: &SlotMap, db: DbIndex, key: &[u8], now_ms: u64, value: &mut Vec<u8>, out: &mut Vec<u8>) {
    let Some(e) = super::find(map, key) else { return };
    if e.is_expired(now_ms) {
        // Its owner's delete reaches the receiver through the feed.
        return;
    }
    value.clear();
    e.value.serialize(value);
    Mutation::Restore { db, key, value: &value[..], expire_at_ms: e.expire_at_ms, version: e.version }.encode(out);
}

/// A key to repair on a replica, with the version the replica holds of it
/// (None: nothing).
pub type KeyRepair = (Box<[u8]>, Option<Version>);

/// The keys whose versions differ between two copies of the same digest
/// buckets of a slot (`ours`, `theirs`: from [`Keyspace::slot_versions_in`]),
/// each with the version the other copy holds (None: none): what
/// [`Keyspace::export_repair`] needs to make `theirs` hold `ours`.
pub fn differing_keys(ours: Vec<(Box<[u8]>, Version)>, theirs: Vec<(Box<[u8]>, Version)>) -> Vec<KeyRepair> {
    let mut theirs: std::collections::HashMap<Box<[u8]>, Version> = theirs.into_iter().collect();
    let mut out = Vec::new();
    for (key, version) in ours {
        match theirs.remove(&key) {
            Some(t) if t == version => {}
            t => out.push((key, t)),
        }
    }
    out.extend(theirs.into_iter().map(|(key, t)| (key, Some(t))));
    out
}

/// Splits encoded feed records into (record bytes, the record's key slot;
/// `None` for a database-wide record; a `DropSlot` names its slot). Stops
/// at the first undecodable byte.
pub fn records(bytes: &Bytes) -> impl Iterator<Item = (Bytes, Option<SlotId>)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let rest = bytes.slice(pos..);
        let d = crate::mutation::decode_fed(&rest).ok()?;
        pos += d.len;
        // A slot's drop concerns its slot only (never every slot: a node
        // dropping a copy it no longer replicates must not reach the feeds
        // of its other slots).
        let slot = match &d.mutation {
            Mutation::DropSlot { slot, .. } => Some(SlotId(*slot)),
            m => m.key().map(|(_, k)| SlotId::of(k)),
        };
        Some((rest.slice(..d.len), slot))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_drop_is_routed_to_its_slot_and_a_flush_to_every_slot() {
        let mut buf = Vec::new();
        Mutation::<&[u8]>::DropSlot { db: 0, slot: 3008, version: Version::at_ms(1) }.encode(&mut buf);
        Mutation::<&[u8]>::Del { db: 0, key: b"k", version: Version::at_ms(2) }.encode(&mut buf);
        Mutation::<&[u8]>::FlushDb { db: 0, version: Version::at_ms(3) }.encode(&mut buf);
        let slots: Vec<Option<SlotId>> = records(&Bytes::from(buf)).map(|(_, s)| s).collect();
        assert_eq!(slots, vec![Some(SlotId(3008)), Some(SlotId::of(b"k")), None]);
    }
}
