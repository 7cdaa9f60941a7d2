//! A shard's write path: committing a single-key mutation (applying it and
//! recording it in the caller's log and the shard's feed) and applying one
//! without recording (replay, replication), last-writer-wins by version.
//!
//! Invariants: a mutation not newer than the key's version (or its tombstone,
//! or the flush watermark) changes nothing; a collection emptied by an op is
//! deleted and buried; application never reads the clock.
//!
//! Limits: single-key mutations only; the database-wide ones are the
//! [`Keyspace`](super::Keyspace)'s (`wide.rs`, `replay.rs`).

use super::digest::{digest_change, digest_term};
use super::{find_mut, key_hash, slot_in_shard, Shard};
use crate::hlc::Version;
use crate::mutation::{Mutation, MutationLog, MutationRef};
use crate::node::Node;
use crate::slot::SlotId;
use crate::types::CollOp;
use crate::value::{access_clock, Entry, Value, NO_EXPIRY};

#[inline]
/// The entry a `Set` mutation writes.
fn written(value: &[u8], expire_at_ms: u64, version: Version) -> Entry {
    let mut entry = Entry::new(Value::from_bytes(value), expire_at_ms, version);
    entry.access = access_clock(version.physical_ms());
    entry
}

impl Shard {
    /// Inserts or overwrites in one lookup, reusing the stored key on overwrite.
    /// Leaves a stored entry whose version is not older than `entry`'s alone and
    /// returns `Err(())` then.
    ///
    /// An old entry already expired at `now_ms` (0: do not ask) is counted as
    /// expired and noted, as the lookup before a conditional write would have
    /// done, and its access frequency is not carried over.
    ///
    /// Also returns the key's version before: the replaced entry's, or its
    /// tombstone's (the flush watermark's), or zero.
    pub(super) fn replace_if_newer(
        &mut self,
        slot: SlotId,
        key: &[u8],
        entry: Entry,
        now_ms: u64,
    ) -> Result<(Option<Entry>, Version), ()> {
        let idx = slot_in_shard(slot);
        let expiring = entry.has_expiry();
        let hash = key_hash(key);
        self.map(slot);
        let map = &mut self.slots[idx];
        let mut expired = false;
        let mut prev = Version::ZERO;
        let old = match map.find_index(hash, key) {
            Some(i) if map.at_mut(i).entry.version >= entry.version => return Err(()),
            Some(i) => {
                let stored = &mut map.at_mut(i).entry;
                let mut entry = entry;
                self.digests[idx] ^= digest_change(key, stored.version, entry.version);
                expired = stored.is_expired(now_ms);
                if !expired {
                    // An overwrite keeps the key's access frequency, as Redis does.
                    entry.freq = stored.freq;
                }
                Some(std::mem::replace(stored, entry))
            }
            None => {
                if !self.tombstones.is_empty() || self.flushed_before != Version::ZERO {
                    let tomb = self.tombstones.get(key).copied().unwrap_or(Version::ZERO).max(self.flushed_before);
                    if tomb >= entry.version {
                        return Err(());
                    }
                    prev = tomb;
                    if let Some(v) = self.tombstones.remove(key) {
                        self.digests[idx] ^= digest_term(key, v);
                    }
                }
                self.digests[idx] ^= digest_term(key, entry.version);
                map.insert_unique(hash, Node::boxed(key, entry));
                None
            }
        };
        match &old {
            None => self.keys += 1,
            Some(o) if o.has_expiry() => {
                self.volatile -= 1;
                self.volatile_per_slot[idx] -= 1;
            }
            Some(_) => {}
        }
        if expired {
            crate::expired::note(self.db, key);
            self.stats.expired += 1;
        }
        if expiring {
            self.volatile += 1;
            self.volatile_per_slot[idx] += 1;
        }
        if let Some(o) = &old {
            prev = o.version;
        }
        Ok((old, prev))
    }

    fn replace(&mut self, slot: SlotId, key: &[u8], entry: Entry) -> Option<Entry> {
        self.replace_if_newer(slot, key, entry, 0).map_or(None, |(old, _)| old)
    }

    /// Applies `m` and records it in `log` (and the shard's feed) as the
    /// change that followed the key's version before. `m` must be a
    /// single-key mutation whose key lives in `slot` of this shard. The write
    /// path's only way to change a key.
    #[inline]
    pub fn commit(&mut self, slot: SlotId, m: &MutationRef<'_>, log: &mut MutationLog) -> Option<Entry> {
        debug_assert_eq!(Some(slot), m.key().map(|(_, k)| SlotId::of(k)));
        let (_, old, prev) = self.apply_after(slot, m);
        self.record(m, prev, log);
        old
    }

    /// [`Shard::commit`] for an eviction's `Del`: the key goes without a
    /// tombstone. Tombstones would otherwise fill the memory eviction frees
    /// (a cache at its limit evicts on every write), and an evicted key that
    /// a reordered older write brings back after a crash is a cached value
    /// that was acknowledged, not a lost delete. (Replaying the `Del` from the
    /// log does leave one; `tombstone-ttl` collects it.)
    pub fn commit_eviction(&mut self, slot: SlotId, m: &MutationRef<'_>, log: &mut MutationLog) -> Option<Entry> {
        let Mutation::Del { key, version, .. } = *m else { unreachable!("evictions are deletes") };
        debug_assert_eq!(slot, SlotId::of(key));
        let prev = match self.peek(slot, key) {
            Some(e) if e.version < version => e.version,
            _ => return None,
        };
        let old = self.remove_entry(slot, key);
        self.record(m, prev, log);
        old
    }

    /// [`Shard::commit`] for an unconditional `Set` (SET without NX, XX, GET or
    /// KEEPTTL): the write path's one hash lookup, where looking the key up
    /// first would make two. A key found expired counts as expired.
    pub fn commit_set(
        &mut self,
        slot: SlotId,
        m: &MutationRef<'_>,
        now_ms: u64,
        log: &mut MutationLog,
    ) -> Option<Entry> {
        let Mutation::Set { key, value, expire_at_ms, version, .. } = *m else {
            return self.commit(slot, m, log);
        };
        debug_assert_eq!(slot, SlotId::of(key));
        let (old, prev) =
            self.replace_if_newer(slot, key, written(value, expire_at_ms, version), now_ms).unwrap_or((None, version));
        self.record(m, prev, log);
        old
    }

    /// Applies a single-key mutation unless the key holds a newer version. Returns
    /// whether it was applied, and the entry it replaced or deleted (the caller may
    /// free a large one off the request path).
    pub fn apply(&mut self, slot: SlotId, m: &MutationRef<'_>) -> (bool, Option<Entry>) {
        let (applied, old, _) = self.apply_after(slot, m);
        (applied, old)
    }

    /// [`Shard::apply`], also returning the key's version before (what a
    /// feed record names as `prev`; the mutation's own version when it was
    /// not applied).
    fn apply_after(&mut self, slot: SlotId, m: &MutationRef<'_>) -> (bool, Option<Entry>, Version) {
        let (_, key) = m.key().expect("shard mutations name one key");
        let version = m.version();
        if let Mutation::Coll { ref op, .. } = *m {
            return self.apply_coll(slot, key, op, version);
        }
        if let Mutation::Forget { .. } = *m {
            return self.forget(slot, key, version);
        }
        if let Mutation::Set { value, expire_at_ms, .. } = *m {
            return match self.replace_if_newer(slot, key, written(value, expire_at_ms, version), 0) {
                Ok((old, prev)) => (true, old, prev),
                Err(()) => (false, None, version),
            };
        }
        let prev = match self.peek(slot, key) {
            Some(e) if e.version >= version => return (false, None, version),
            Some(e) => e.version,
            None => {
                let deleted = self.deleted_version(key);
                if deleted >= version {
                    return (false, None, version);
                }
                deleted
            }
        };
        let (applied, old) = match *m {
            Mutation::Append { data, .. } => {
                self.update_or_create(slot, key, version, |bytes| bytes.extend_from_slice(data));
                (true, None)
            }
            Mutation::SetRange { offset, data, .. } => {
                let offset = usize::try_from(offset).expect("offset bounded by proto-max-bulk-len");
                self.update_or_create(slot, key, version, |bytes| {
                    let end = offset + data.len();
                    if bytes.len() < end {
                        bytes.resize(end, 0);
                    }
                    bytes[offset..end].copy_from_slice(data);
                });
                (true, None)
            }
            Mutation::Expire { expire_at_ms, .. } => {
                if self.peek(slot, key).is_some() {
                    self.set_expiry(slot, key, expire_at_ms);
                    let e = find_mut(self.map(slot), key).expect("present");
                    let from = std::mem::replace(&mut e.version, version);
                    self.redigest(slot, key, from, version);
                }
                (true, None)
            }
            Mutation::Del { .. } => {
                let old = self.remove_entry(slot, key);
                self.bury(key, version);
                (true, old)
            }
            Mutation::Coll { .. } | Mutation::Forget { .. } => unreachable!("handled above"),
            Mutation::Restore { value, expire_at_ms, .. } => {
                match Value::deserialize(&mut crate::codec::Reader::new(value), &self.cfg) {
                    Ok(v) => (true, self.replace(slot, key, Entry::new(v, expire_at_ms, version))),
                    // Produced by our own serializer and checksummed in the log:
                    // unreadable means a bug, and the key is left as it was.
                    Err(_) => (false, None),
                }
            }
            Mutation::Set { .. } => unreachable!("handled above"),
            Mutation::FlushDb { .. }
            | Mutation::FlushAll { .. }
            | Mutation::SwapDb { .. }
            | Mutation::DropSlot { .. } => {
                unreachable!("database-wide mutations are applied by the Keyspace")
            }
        };
        (applied, old, prev)
    }

    /// [`Mutation::Forget`]: the key, or its tombstone, goes if held at
    /// exactly `version`.
    fn forget(&mut self, slot: SlotId, key: &[u8], version: Version) -> (bool, Option<Entry>, Version) {
        if self.peek(slot, key).is_some_and(|e| e.version == version) {
            return (true, self.remove_entry(slot, key), version);
        }
        if self.tombstones.get(key) == Some(&version) {
            self.tombstones.remove(key);
            self.digests[slot_in_shard(slot)] ^= digest_term(key, version);
            return (true, None, version);
        }
        (false, None, version)
    }

    /// A collection write: onto the existing collection, or onto a new empty one
    /// when the key is absent or holds another type; an emptied collection is
    /// deleted. Keeps the key's expiry.
    fn apply_coll(
        &mut self,
        slot: SlotId,
        key: &[u8],
        op: &CollOp<&[u8]>,
        version: Version,
    ) -> (bool, Option<Entry>, Version) {
        let cfg = self.cfg;
        // One lookup for the common case: the collection exists.
        let idx = slot_in_shard(slot);
        let prev = if let Some(e) = self.slots.get_mut(idx).and_then(|m| find_mut(m, key)) {
            if e.version >= version {
                return (false, None, version);
            }
            if e.value.type_name() == op.type_name() {
                e.value.apply_op(op, &cfg);
                let from = std::mem::replace(&mut e.version, version);
                self.digests[idx] ^= digest_change(key, from, version);
                if e.value.is_empty_collection() {
                    let old = self.remove_entry(slot, key);
                    self.bury(key, version);
                    return (true, old, from);
                }
                return (true, None, from);
            }
            e.version
        } else {
            let deleted = self.deleted_version(key);
            if deleted >= version {
                return (false, None, version);
            }
            deleted
        };
        // Absent, or holding another type (a replica catching up): a new value.
        let mut value = Value::empty_for(op);
        value.apply_op(op, &cfg);
        if value.is_empty_collection() {
            let old = self.remove_entry(slot, key);
            self.bury(key, version);
            return (true, old, prev);
        }
        (true, self.replace(slot, key, Entry::new(value, NO_EXPIRY, version)), prev)
    }

    fn update_or_create(&mut self, slot: SlotId, key: &[u8], version: Version, f: impl FnOnce(&mut Vec<u8>)) {
        if !self.peek(slot, key).is_some_and(|e| e.value.is_string()) {
            self.replace(slot, key, Entry::new(Value::from_bytes(b""), NO_EXPIRY, version));
        }
        let e = find_mut(self.map(slot), key).expect("present");
        f(e.value.make_bytes_mut());
        e.modified_in_place = true;
        // A string that now reads as an integer keeps the byte form; Redis does the
        // same after APPEND/SETRANGE (OBJECT ENCODING reports raw).
        let from = std::mem::replace(&mut e.version, version);
        self.redigest(slot, key, from, version);
    }
}
