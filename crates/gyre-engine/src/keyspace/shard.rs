//! A shard: a group of slots with their keys, tombstones and change feed,
//! reached through its database's mutex; its reads (lookups that expire what
//! they find expired), its bookkeeping and its bulk removals. The write path
//! (commit and apply of single-key mutations) is `write.rs`.
//!
//! Invariants: `keys`, `volatile` and `volatile_per_slot` count the entries
//! held (expired ones not yet removed included); each slot's digest is the XOR
//! of `digest_term` over its entries and tombstones; a key held has no
//! tombstone. The fields are visible to the rest of `keyspace` only.
//!
//! Limits: the slot tables are allocated with the shard's first key and kept;
//! expiring a slot walks all of it.

use super::digest::{digest_change, digest_term};
use super::{find, find_mut, key_hash, slot_in_shard, KeyHasher, KeyspaceStats, Now, SlotMap, SLOTS_PER_SHARD};
use crate::hlc::Version;
use crate::mutation::{DbIndex, Mutation, MutationLog, MutationRef};
use crate::node::Node;
use crate::slot::SlotId;
use crate::types::EncodingConfig;
use crate::value::{Entry, NO_EXPIRY};

#[cfg(doc)]
use super::MultiGuard;

/// A group of slots with their keys; reached through its database's mutex.
#[derive(Debug, Default)]
pub struct Shard {
    /// Empty until the shard's first key; then `SLOTS_PER_SHARD` tables.
    pub(super) slots: Vec<SlotMap>,
    /// Keys with an expiry, per slot (same indexing as `slots`).
    pub(super) volatile_per_slot: Vec<u32>,
    /// Per slot (same indexing): the XOR of [`digest_term`] over every
    /// entry's and tombstone's (key, version). Two copies of a slot holding
    /// the same keys at the same versions have the same digest.
    pub(super) digests: Vec<u64>,
    pub(super) keys: usize,
    pub(super) volatile: usize,
    pub(super) stats: KeyspaceStats,
    /// Encoding thresholds for collections written in this shard.
    pub(super) cfg: EncodingConfig,
    /// The database this shard position belongs to (kept by SWAPDB), to name
    /// the keys expiry removes (see `expired`).
    pub(super) db: DbIndex,
    /// Tombstones: the version of each key deleted here (DEL, an emptied
    /// collection, eviction), so that an older mutation arriving late (log
    /// replay across a snapshot, a replica) cannot bring the key back. Never
    /// read by commands; collected after `tombstone-ttl`.
    pub(super) tombstones: hashbrown::HashMap<Box<[u8]>, Version, KeyHasher>,
    /// Everything older than this was flushed (FLUSHDB / FLUSHALL): the
    /// database-wide tombstone.
    pub(super) flushed_before: Version,
    /// The version of the last SWAPDB that moved data into this shard
    /// position (kept by the position, like `db`): replaying a swap at or
    /// below it is a no-op, so SWAPDB replay is idempotent.
    pub(super) swapped_at: Version,
    /// What belongs to the shard's position rather than its data (kept by
    /// FLUSHDB and SWAPDB): its change feed, its index.
    pub(super) pos: Position,
}

/// The parts of a shard that stay with its position in its database.
#[derive(Debug)]
pub(super) struct Position {
    /// This shard's index in its database.
    pub(super) index: u8,
    /// The change feed: this shard's mutations not yet taken to the log, in
    /// the order they happened (see [`MutationLog`]). Kept only when
    /// `feeding`.
    pub(super) feed: Vec<u8>,
    pub(super) feeding: bool,
    /// A bit per slot of the shard: whether its expired keys are removed
    /// here (and the removal logged as a delete): set on the node that owns
    /// the slot. A replica only hides them from reads and waits for the
    /// owner's delete.
    pub(super) owns_expiry: [u64; 4],
}

impl Default for Position {
    fn default() -> Position {
        Position { index: 0, feed: Vec::new(), feeding: false, owns_expiry: [u64::MAX; 4] }
    }
}

impl Position {
    /// Whether slot index `idx` (within the shard) expires its keys here.
    #[inline]
    pub(super) fn owns_expiry(&self, idx: usize) -> bool {
        self.owns_expiry[idx / 64] & (1 << (idx % 64)) != 0
    }

    pub(super) fn set_owns_expiry(&mut self, idx: usize, owner: bool) {
        if owner {
            self.owns_expiry[idx / 64] |= 1 << (idx % 64);
        } else {
            self.owns_expiry[idx / 64] &= !(1 << (idx % 64));
        }
    }
}

/// Feeds larger than this are given back to the allocator once taken.
const FEED_RETAINED_BYTES_MAX: usize = 64 << 10;

impl Shard {
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Bytes of the shard's slot tables themselves (headers and buckets, not
    /// the nodes they point to): the keyspace's hash table overhead (MEMORY
    /// STATS `overhead.hashtable.main`).
    pub fn table_bytes(&self) -> usize {
        self.slots.iter().map(|m| std::mem::size_of_val(m) + m.buckets() * std::mem::size_of::<u64>()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// Number of keys stored in `slot` (which must belong to this shard), expired
    /// ones not yet removed included.
    pub fn slot_len(&self, slot: SlotId) -> usize {
        self.slots.get(slot_in_shard(slot)).map_or(0, |m| m.len())
    }

    /// The version below which a mutation of the absent `key` is stale: its
    /// tombstone's, or the last flush's.
    #[inline]
    pub(super) fn deleted_version(&self, key: &[u8]) -> Version {
        if self.tombstones.is_empty() {
            return self.flushed_before;
        }
        self.tombstones.get(key).copied().unwrap_or(Version::ZERO).max(self.flushed_before)
    }

    /// Leaves a tombstone for `key`, deleted at `version`.
    pub(super) fn bury(&mut self, key: &[u8], version: Version) {
        if version <= self.flushed_before {
            return;
        }
        let slot = SlotId::of(key);
        self.map(slot);
        let idx = slot_in_shard(slot);
        match self.tombstones.get_mut(key) {
            Some(v) if *v >= version => {}
            Some(v) => {
                self.digests[idx] ^= digest_change(key, *v, version);
                *v = version;
            }
            None => {
                self.digests[idx] ^= digest_term(key, version);
                self.tombstones.insert(key.into(), version);
            }
        }
    }

    /// The digest of `slot` (which must belong to this shard): its keys and
    /// tombstones with their versions; 0 for an empty slot.
    pub fn slot_digest(&self, slot: SlotId) -> u64 {
        self.digests.get(slot_in_shard(slot)).copied().unwrap_or(0)
    }

    /// A key's version changed in place (`from` to `to`).
    pub(super) fn redigest(&mut self, slot: SlotId, key: &[u8], from: Version, to: Version) {
        self.digests[slot_in_shard(slot)] ^= digest_change(key, from, to);
    }

    /// Tombstones held (INFO `tombstones`).
    pub fn tombstone_len(&self) -> usize {
        self.tombstones.len()
    }

    /// The tombstones, for snapshots.
    pub fn tombstones(&self) -> impl Iterator<Item = (&[u8], Version)> {
        self.tombstones.iter().map(|(k, v)| (&k[..], *v))
    }

    /// The flush watermark, for snapshots.
    pub fn flushed_before(&self) -> Version {
        self.flushed_before
    }

    /// The last swap into this position, for snapshots.
    pub fn swapped_at(&self) -> Version {
        self.swapped_at
    }

    /// Drops tombstones older than `version` (older than `tombstone-ttl`);
    /// returns how many.
    pub(super) fn collect_tombstones(&mut self, version: Version) -> usize {
        let before = self.tombstones.len();
        let digests = &mut self.digests;
        self.tombstones.retain(|k, v| {
            let keep = *v >= version;
            if !keep {
                digests[slot_in_shard(SlotId::of(k))] ^= digest_term(k, *v);
            }
            keep
        });
        before - self.tombstones.len()
    }

    pub(super) fn map(&mut self, slot: SlotId) -> &mut SlotMap {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS_PER_SHARD).map(|_| SlotMap::default()).collect();
            self.volatile_per_slot = vec![0; SLOTS_PER_SHARD];
            self.digests = vec![0; SLOTS_PER_SHARD];
        }
        &mut self.slots[slot_in_shard(slot)]
    }

    /// The live entry for `key`, removing it first if it has expired. Touches the
    /// access clock. Does not count hits or misses (see [`Shard::get_read`]).
    #[inline]
    pub fn get(&mut self, slot: SlotId, key: &[u8], now: Now) -> Option<&mut Entry> {
        self.lookup(slot, key, now, false)
    }

    /// [`Shard::get`] for commands that read a key: counts keyspace hits/misses.
    #[inline]
    pub fn get_read(&mut self, slot: SlotId, key: &[u8], now: Now) -> Option<&mut Entry> {
        self.lookup(slot, key, now, true)
    }

    /// One stage of [`Keyspace::prefetch`](super::Keyspace::prefetch) for
    /// the key of hash `hash` in the shard's table `idx`: 0 asks for the
    /// table's header, 1 for the bucket its probe starts at, 2 for the
    /// node, 3 for the key's bytes when they are behind a pointer. Each
    /// stage reads only what the previous one asked for.
    #[inline]
    pub(super) fn prefetch(&self, stage: u8, idx: usize, hash: u64) {
        let Some(table) = self.slots.get(idx) else { return };
        match stage {
            0 => crate::table::prefetch(table),
            1 => table.prefetch_home(hash),
            2 => table.prefetch_node(hash, false),
            _ => table.prefetch_node(hash, true),
        }
    }

    /// One hash lookup: the entry API lets an expired entry be removed or a live
    /// one returned without searching twice.
    fn lookup(&mut self, slot: SlotId, key: &[u8], now: Now, count: bool) -> Option<&mut Entry> {
        let idx = slot_in_shard(slot);
        let found = match self.slots.get_mut(idx) {
            Some(map) => map.find_index(key_hash(key), key).map(|i| (i, map.at_mut(i).entry.is_expired(now.ms))),
            None => None,
        };
        match found {
            None => {
                self.stats.misses += u64::from(count);
                None
            }
            Some((i, true)) => {
                self.stats.misses += u64::from(count);
                if !self.pos.owns_expiry(idx) {
                    return None;
                }
                let e = self.slots[idx].remove_index(i);
                self.expired(idx, key, e.entry.version);
                drop(e);
                None
            }
            Some((i, false)) => {
                self.stats.hits += u64::from(count);
                let e = &mut self.slots[idx].at_mut(i).entry;
                if now.touch {
                    now.touch_entry(e);
                }
                Some(e)
            }
        }
    }

    /// Accounts for `key`, of version `version`, just removed from its table
    /// because it expired: the expiry becomes a delete, logged (through the
    /// feed) and leaving a tombstone, as a replicated write would; and it is
    /// noted for keyspace notifications. The delete's version is
    /// [`Version::expired`]: above the key's, below every version the clock
    /// issues later, even one a handler took before its lookup expired the
    /// key (a clock tick here would order the delete after that write).
    fn expired(&mut self, idx: usize, key: &[u8], version: Version) {
        self.digests[idx] ^= digest_term(key, version);
        self.keys -= 1;
        self.volatile -= 1;
        self.volatile_per_slot[idx] -= 1;
        self.stats.expired += 1;
        crate::expired::note(self.db, key);
        let del = version.expired();
        self.bury(key, del);
        if self.pos.feeding {
            Mutation::Del { db: self.db, key, version: del }.encode_after(version, &mut self.pos.feed);
        }
    }

    /// Hands the shard's change feed (its mutations not yet in the log, in
    /// order) to `sink` and empties it. The caller holds the log's lock, so
    /// feeds reach the log in the order they were taken.
    pub fn take_feed(&mut self, sink: &mut dyn FnMut(&[u8])) {
        let feed = &mut self.pos.feed;
        if feed.is_empty() {
            return;
        }
        sink(feed);
        feed.clear();
        if feed.capacity() > FEED_RETAINED_BYTES_MAX {
            *feed = Vec::new();
        }
    }

    /// Bytes waiting in the change feed.
    pub fn feed_len(&self) -> usize {
        self.pos.feed.len()
    }

    /// Records `m` (which followed the key's version `prev`) in `log` and,
    /// when the keyspace keeps feeds, in this shard's feed.
    #[inline]
    pub(super) fn record(&mut self, m: &MutationRef<'_>, prev: Version, log: &mut MutationLog) {
        let feed = if self.pos.feeding { Some(&mut self.pos.feed) } else { None };
        log.record_fed(m, prev, feed, self.db, self.pos.index as usize);
    }

    /// The entry if it is live at `now_ms`, through a shared reference: an
    /// expired entry is treated as absent but left for a later lookup to
    /// remove. For reading several keys at once under [`MultiGuard::shard_ref`].
    pub fn peek_live(&self, slot: SlotId, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.peek(slot, key).filter(|e| !e.is_expired(now_ms))
    }

    /// The version `key` is at here: its entry's, or for an absent key its
    /// tombstone's (or the flush watermark; zero when nothing is known). A
    /// change-feed record whose `prev` equals it follows what this copy holds.
    pub fn key_version(&self, slot: SlotId, key: &[u8]) -> Version {
        self.peek(slot, key).map_or_else(|| self.deleted_version(key), |e| e.version)
    }

    /// Looks at an entry without expiring it or touching it (OBJECT IDLETIME, tests).
    pub fn peek(&self, slot: SlotId, key: &[u8]) -> Option<&Entry> {
        find(self.slots.get(slot_in_shard(slot))?, key)
    }

    pub(super) fn remove_entry(&mut self, slot: SlotId, key: &[u8]) -> Option<Entry> {
        let idx = slot_in_shard(slot);
        let map = self.slots.get_mut(idx)?;
        let node = map.remove(key_hash(key), key)?;
        let e = node.entry;
        self.digests[idx] ^= digest_term(key, e.version);
        self.keys -= 1;
        if e.has_expiry() {
            self.volatile -= 1;
            self.volatile_per_slot[idx] -= 1;
        }
        Some(e)
    }

    pub(super) fn set_expiry(&mut self, slot: SlotId, key: &[u8], expire_at_ms: u64) {
        let idx = slot_in_shard(slot);
        let e = find_mut(&mut self.slots[idx], key).expect("caller checked the key exists");
        let (was, is) = (e.has_expiry(), expire_at_ms != NO_EXPIRY);
        e.expire_at_ms = expire_at_ms;
        match (was, is) {
            (false, true) => {
                self.volatile += 1;
                self.volatile_per_slot[idx] += 1;
            }
            (true, false) => {
                self.volatile -= 1;
                self.volatile_per_slot[idx] -= 1;
            }
            _ => {}
        }
    }

    /// Removes entries older than `version` (FLUSHDB replay); returns how many.
    pub(super) fn retain_newer(&mut self, version: Version) -> usize {
        self.flushed_before = self.flushed_before.max(version);
        self.collect_tombstones(version);
        let before = self.keys;
        for (idx, map) in self.slots.iter_mut().enumerate() {
            map.retain(|n| {
                let e = &n.entry;
                let keep = e.version >= version;
                if !keep {
                    self.digests[idx] ^= digest_term(n.key(), e.version);
                    self.keys -= 1;
                    if e.has_expiry() {
                        self.volatile -= 1;
                        self.volatile_per_slot[idx] -= 1;
                    }
                }
                keep
            });
        }
        before - self.keys
    }

    /// Takes `slot` (of this shard) out entirely: its keys and its
    /// tombstones, leaving no watermark (see [`Mutation::DropSlot`]).
    pub(super) fn drop_slot(&mut self, slot: SlotId) -> Shard {
        let mut taken = Shard::default();
        if self.slots.is_empty() {
            return taken;
        }
        let idx = slot_in_shard(slot);
        let map = std::mem::take(&mut self.slots[idx]);
        taken.keys = map.len();
        self.keys -= map.len();
        self.volatile -= self.volatile_per_slot[idx] as usize;
        self.volatile_per_slot[idx] = 0;
        self.digests[idx] = 0;
        if !self.tombstones.is_empty() {
            self.tombstones.retain(|k, _| SlotId::of(k) != slot);
        }
        taken.slots.push(map);
        taken
    }

    /// FLUSHDB / FLUSHALL at `version`: takes everything out and leaves the
    /// watermark that stands for every key deleted.
    pub(super) fn flush(&mut self, version: Version) -> Shard {
        let taken = self.take_all();
        self.flushed_before = version;
        taken
    }

    /// Takes everything out, leaving an empty shard (statistics stay).
    pub(super) fn take_all(&mut self) -> Shard {
        let (stats, cfg, db, swapped_at) = (self.stats, self.cfg, self.db, self.swapped_at);
        let pos = std::mem::take(&mut self.pos);
        let taken = std::mem::take(self);
        self.pos = pos;
        self.stats = stats;
        self.cfg = cfg;
        self.db = db;
        self.swapped_at = swapped_at;
        taken
    }

    pub fn stats(&self) -> KeyspaceStats {
        self.stats
    }

    pub fn reset_stats(&mut self) {
        self.stats = KeyspaceStats::default();
    }

    /// Slot tables allocated (0 until the shard's first key).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Keys in the table of slot index `idx`; 0 when `volatile_only` and none
    /// of them has an expiry.
    /// Whether this node leads slot `idx` of the shard: it removes the
    /// slot's expired keys and may evict them (a replica of the slot waits
    /// for its primary's deletes instead).
    pub(crate) fn leads(&self, idx: usize) -> bool {
        self.pos.owns_expiry(idx)
    }

    /// Keys eviction may take here (only those with an expiry when
    /// `volatile_only`): those of the slots this node leads.
    pub(crate) fn evictable_len(&self, volatile_only: bool) -> usize {
        if self.pos.owns_expiry == [u64::MAX; 4] {
            return if volatile_only { self.volatile_len() } else { self.len() };
        }
        (0..self.slot_count()).filter(|&i| self.leads(i)).map(|i| self.slot_table_len(i, volatile_only)).sum()
    }

    pub(crate) fn slot_table_len(&self, idx: usize, volatile_only: bool) -> usize {
        if volatile_only && self.volatile_per_slot[idx] == 0 {
            return 0;
        }
        self.slots[idx].len()
    }

    pub(crate) fn slot_iter(&self, idx: usize) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.slots[idx].iter().map(|n| (n.key(), &n.entry))
    }

    /// Bytes `key` costs (MEMORY USAGE): its node, the key's and the value's
    /// heap bytes, and its table bucket (the table's buckets over its keys).
    pub fn memory_usage(&self, slot: SlotId, key: &[u8]) -> Option<usize> {
        let map = self.slots.get(slot_in_shard(slot))?;
        let node = map.find(key_hash(key), key)?;
        // A bucket is one tagged pointer.
        let bucket_share = map.buckets() * std::mem::size_of::<u64>() / map.len().max(1);
        Some(std::mem::size_of::<Node>() + node.key.heap_bytes() + node.entry.value.heap_bytes() + bucket_share)
    }

    /// Iterates the entries of every slot of the shard (expired ones included).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.slots.iter().flat_map(|m| m.iter().map(|n| (n.key(), &n.entry)))
    }

    /// Removes expired keys of slot index `idx` (within the shard). Returns (checked
    /// keys with a TTL, removed).
    pub(super) fn expire_slot(&mut self, idx: usize, now_ms: u64) -> (usize, usize) {
        if !self.pos.owns_expiry(idx) || self.volatile_per_slot.get(idx).is_none_or(|&n| n == 0) {
            return (0, 0);
        }
        let map = &mut self.slots[idx];
        let mut checked = 0;
        let mut gone = Vec::new();
        map.retain(|n| {
            let e = &n.entry;
            if !e.has_expiry() {
                return true;
            }
            checked += 1;
            if e.is_expired(now_ms) {
                gone.push((Box::<[u8]>::from(n.key()), e.version));
                return false;
            }
            true
        });
        for (key, version) in &gone {
            self.expired(idx, key, *version);
        }
        (checked, gone.len())
    }
}
