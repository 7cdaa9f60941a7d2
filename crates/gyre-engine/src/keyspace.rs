//! The keyspace: 16 logical databases, each split into shards of hash slots.
//!
//! Layout: a database has [`SHARD_COUNT`] shards, each behind its own mutex and
//! owning a contiguous range of [`SLOTS_PER_SHARD`] slots; each slot is its own hash
//! table, so a slot's keys can be counted, iterated and handed over (cluster
//! migration, anti-entropy) without touching other slots. The slot tables of a shard
//! are allocated when the shard receives its first key, so unused databases cost
//! only their empty shard headers.
//!
//! Locking rules: a command holds shard locks for the shortest time and never across
//! an `.await`; a command that needs several shards takes them through
//! [`Keyspace::lock_many`], which locks in ascending (database, shard) order, the one
//! global order, so two multi-key commands cannot deadlock.
//!
//! Writes: every change goes through [`Shard::commit`] (or the database-wide
//! operations on [`Keyspace`]), which records the [`Mutation`] in the caller's
//! [`MutationLog`] and applies it. [`Keyspace::apply`] is the same application
//! without recording, used for replay; it ignores mutations not newer than the key.
//! Application never reads the clock: whether a key was live is decided by the
//! command that produced the mutation.
//!
//! Expiry: lazy (an expired key is removed by the lookup that finds it and never
//! returned) plus [`Keyspace::active_expire`], which walks slots holding keys with
//! a TTL in bounded steps.
//!
//! Known limit: SCAN and active expiry visit a whole slot per step, so a single slot
//! holding millions of keys (all keys under one `{hash tag}`) makes those steps
//! proportional to the slot's size.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use parking_lot::{Mutex, MutexGuard};

use crate::hlc::{Hlc, Version};

mod transfer;
use crate::mutation::{DbIndex, Mutation, MutationLog, MutationRef};
use crate::node::Node;
use crate::slot::{SlotId, SLOT_COUNT};
use crate::table::SlotTable;
use crate::types::{CollOp, EncodingConfig};
use crate::value::{access_clock, Entry, LfuParams, Value, NO_EXPIRY};
pub use transfer::{records, Fed};

/// Logical databases in standalone mode, as in Redis.
pub const DB_COUNT: usize = 16;
/// Shards per database: `SHARD_BITS` of the slot number select the shard.
pub const SHARD_BITS: u32 = 6;
pub const SHARD_COUNT: usize = 1 << SHARD_BITS;
pub const SLOTS_PER_SHARD: usize = SLOT_COUNT / SHARD_COUNT;

/// Hashes keys with foldhash under the process's key hash seed (see
/// [`seed_key_hasher`]); zero-sized so each of the 16384 slot tables, and each
/// hash and set, carries no state.
#[derive(Clone, Copy, Default, Debug)]
pub struct KeyHasher;

/// The key hash seed; fixed by [`seed_key_hasher`] or, failing that, at the
/// first hash to [`UNSEEDED`].
static SEED: OnceLock<u64> = OnceLock::new();

/// The seed used when nobody handed one in (tests, tools): deterministic, and
/// so without hash flooding resistance.
pub const UNSEEDED: u64 = 0x6779_7265_6b65_7973;

/// Hands in the key hash seed (the server draws it at random from its
/// runtime, for hash flooding resistance; a simulation from its own seed).
/// Must come before the first key is hashed: hashes must never change under a
/// table. Returns false when the seed was already fixed (an earlier call, or a
/// hash taken first); that seed stays, and every keyspace in the process shares
/// it. This is the engine's one process-wide value: a seed per keyspace would
/// cost every slot table, hash and set 8 bytes.
pub fn seed_key_hasher(seed: u64) -> bool {
    SEED.set(seed).is_ok()
}

#[inline]
fn process_seed() -> u64 {
    *SEED.get_or_init(|| UNSEEDED)
}

impl BuildHasher for KeyHasher {
    type Hasher = foldhash::fast::FoldHasher;
    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        foldhash::fast::FixedState::with_seed(process_seed()).build_hasher()
    }
}

/// The stable hash of a key (the table's hash), used to order SCAN within a slot.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
}

/// A slot's keys: one tagged pointer per bucket to the key's [`Node`] (see
/// `node.rs` and `table.rs` for why the table holds pointers).
type SlotMap = SlotTable;

#[inline]
/// The entry a `Set` mutation writes.
fn written(value: &[u8], expire_at_ms: u64, version: Version) -> Entry {
    let mut entry = Entry::new(Value::from_bytes(value), expire_at_ms, version);
    entry.access = access_clock(version.physical_ms());
    entry
}

fn find<'a>(map: &'a SlotMap, key: &[u8]) -> Option<&'a Entry> {
    map.find(key_hash(key), key).map(|n| &n.entry)
}

#[inline]
fn find_mut<'a>(map: &'a mut SlotMap, key: &[u8]) -> Option<&'a mut Entry> {
    map.find_mut(key_hash(key), key).map(|n| &mut n.entry)
}

/// When a lookup happens and whether it counts as an access for eviction.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub ms: u64,
    /// Update the entry's access clock (false for CLIENT NO-TOUCH clients).
    pub touch: bool,
    /// Track access frequency too (an LFU policy is selected).
    pub lfu: Option<LfuParams>,
}

impl Now {
    pub fn at(ms: u64) -> Now {
        Now { ms, touch: true, lfu: None }
    }

    fn touch_entry(self, e: &mut Entry) {
        let coin = if self.lfu.is_some() { lfu_coin() } else { 0.0 };
        e.record_access(self.ms, self.lfu, coin);
    }
}

/// A uniform number in [0, 1) for the LFU counter's probabilistic increment.
/// A per-thread xorshift seeded from the handed-in key hash seed
/// ([`seed_key_hasher`]), never from the OS: no OS call per access, and the
/// quality needed here is modest.
fn lfu_coin() -> f64 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(process_seed() | 1));
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// One piece of a bulk operation, for [`Workers::run`].
pub type Job<'a> = Box<dyn FnOnce() + Send + 'a>;

/// The threads a caller lends to a bulk operation ([`Keyspace::apply_all`]):
/// the engine splits the work into independent jobs and never starts a thread
/// itself.
pub trait Workers: Sync {
    /// How many jobs may usefully run at once (the work is split this many
    /// ways; 1 = no split).
    fn count(&self) -> usize;
    /// Runs every job, in any order or at once, and returns when all have
    /// finished.
    fn run<'a>(&self, jobs: Vec<Job<'a>>);
}

/// Runs every job on the calling thread, one after another.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequential;

impl Workers for Sequential {
    fn count(&self) -> usize {
        1
    }

    fn run<'a>(&self, jobs: Vec<Job<'a>>) {
        for job in jobs {
            job();
        }
    }
}

/// Counters kept per shard (under its lock) and summed on demand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

impl KeyspaceStats {
    fn add(&mut self, o: &KeyspaceStats) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.expired += o.expired;
    }
}

/// A group of slots with their keys; reached through its database's mutex.
#[derive(Debug, Default)]
pub struct Shard {
    /// Empty until the shard's first key; then `SLOTS_PER_SHARD` tables.
    slots: Vec<SlotMap>,
    /// Keys with an expiry, per slot (same indexing as `slots`).
    volatile_per_slot: Vec<u32>,
    /// Per slot (same indexing): the XOR of [`digest_term`] over every
    /// entry's and tombstone's (key, version). Two copies of a slot holding
    /// the same keys at the same versions have the same digest.
    digests: Vec<u64>,
    keys: usize,
    volatile: usize,
    stats: KeyspaceStats,
    /// Encoding thresholds for collections written in this shard.
    cfg: EncodingConfig,
    /// The database this shard position belongs to (kept by SWAPDB), to name
    /// the keys expiry removes (see `expired`).
    db: DbIndex,
    /// Tombstones: the version of each key deleted here (DEL, an emptied
    /// collection, eviction), so that an older mutation arriving late (log
    /// replay across a snapshot, a replica) cannot bring the key back. Never
    /// read by commands; collected after `tombstone-ttl`.
    tombstones: hashbrown::HashMap<Box<[u8]>, Version, KeyHasher>,
    /// Everything older than this was flushed (FLUSHDB / FLUSHALL): the
    /// database-wide tombstone.
    flushed_before: Version,
    /// The version of the last SWAPDB that moved data into this shard
    /// position (kept by the position, like `db`): replaying a swap at or
    /// below it is a no-op, so SWAPDB replay is idempotent.
    swapped_at: Version,
    /// What belongs to the shard's position rather than its data (kept by
    /// FLUSHDB and SWAPDB): its change feed, its index.
    pos: Position,
}

/// The parts of a shard that stay with its position in its database.
#[derive(Debug)]
struct Position {
    /// This shard's index in its database.
    index: u8,
    /// The change feed: this shard's mutations not yet taken to the log, in
    /// the order they happened (see [`MutationLog`]). Kept only when
    /// `feeding`.
    feed: Vec<u8>,
    feeding: bool,
    /// Whether expired keys are removed here (and the removal logged as a
    /// delete): true on the node that owns the keys. A replica only hides
    /// them from reads and waits for the owner's delete.
    owns_expiry: bool,
}

impl Default for Position {
    fn default() -> Position {
        Position { index: 0, feed: Vec::new(), feeding: false, owns_expiry: true }
    }
}

/// Where taken change-feed bytes go (the log's record builder).
pub type FeedSink<'a> = &'a mut dyn FnMut(&[u8]);

/// Feeds larger than this are given back to the allocator once taken.
const FEED_RETAINED_BYTES_MAX: usize = 64 << 10;

/// One (key, version)'s share of its slot's digest. Defined here, byte for
/// byte, rather than by a hashing crate: copies on different nodes (and
/// builds) must agree, and hash crates do not promise stable output. Eight
/// key bytes at a time through splitmix64's finalizer.
#[inline]
fn digest_term(key: &[u8], version: Version) -> u64 {
    version_term(digest_key(key), version)
}

/// The key's part of [`digest_term`], computed once when a key changes
/// version: a multiply per eight bytes, one full mix at the end.
#[inline]
fn digest_key(key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x6779_7265_6469_6765 ^ key.len() as u64; // "gyredige"
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    digest_mix(h ^ u64::from_le_bytes(tail))
}

#[inline]
fn version_term(key_part: u64, version: Version) -> u64 {
    digest_mix(key_part ^ version.hlc() ^ u64::from(version.node()).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finalizer.
#[inline]
fn digest_mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// [`digest_term`]'s change when `key` moves from version `from` to `to`.
#[inline]
fn digest_change(key: &[u8], from: Version, to: Version) -> u64 {
    let k = digest_key(key);
    version_term(k, from) ^ version_term(k, to)
}

#[inline]
fn shard_of(slot: SlotId) -> usize {
    slot.index() / SLOTS_PER_SHARD
}

#[inline]
fn slot_in_shard(slot: SlotId) -> usize {
    slot.index() % SLOTS_PER_SHARD
}

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
    fn deleted_version(&self, key: &[u8]) -> Version {
        if self.tombstones.is_empty() {
            return self.flushed_before;
        }
        self.tombstones.get(key).copied().unwrap_or(Version::ZERO).max(self.flushed_before)
    }

    /// Leaves a tombstone for `key`, deleted at `version`.
    fn bury(&mut self, key: &[u8], version: Version) {
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
    fn redigest(&mut self, slot: SlotId, key: &[u8], from: Version, to: Version) {
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
    fn collect_tombstones(&mut self, version: Version) -> usize {
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

    fn map(&mut self, slot: SlotId) -> &mut SlotMap {
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
                if !self.pos.owns_expiry {
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
    fn record(&mut self, m: &MutationRef<'_>, prev: Version, log: &mut MutationLog) {
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

    fn remove_entry(&mut self, slot: SlotId, key: &[u8]) -> Option<Entry> {
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

    fn set_expiry(&mut self, slot: SlotId, key: &[u8], expire_at_ms: u64) {
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
    fn replace_if_newer(
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
            Mutation::Coll { .. } => unreachable!("handled above"),
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

    /// Removes entries older than `version` (FLUSHDB replay); returns how many.
    fn retain_newer(&mut self, version: Version) -> usize {
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
    fn drop_slot(&mut self, slot: SlotId) -> Shard {
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
    fn flush(&mut self, version: Version) -> Shard {
        let taken = self.take_all();
        self.flushed_before = version;
        taken
    }

    /// Takes everything out, leaving an empty shard (statistics stay).
    fn take_all(&mut self) -> Shard {
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
    fn expire_slot(&mut self, idx: usize, now_ms: u64) -> (usize, usize) {
        if !self.pos.owns_expiry || self.volatile_per_slot.get(idx).is_none_or(|&n| n == 0) {
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

/// Entries detached from the keyspace (FLUSHDB, FLUSHALL), to be dropped by the
/// caller, off the request path when it is large.
#[derive(Debug, Default)]
pub struct Detached(Vec<Shard>);

impl Detached {
    pub fn len(&self) -> usize {
        self.0.iter().map(Shard::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One logical database.
#[derive(Debug)]
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Db {
    fn default() -> Db {
        Db::new(0)
    }
}

impl Db {
    /// The shards of database `index`.
    pub fn new(index: DbIndex) -> Db {
        let shard =
            |i: usize| Shard { db: index, pos: Position { index: i as u8, ..Position::default() }, ..Shard::default() };
        Db { shards: (0..SHARD_COUNT).map(|i| Mutex::new(shard(i))).collect() }
    }

    /// Number of shards (for walking a database shard by shard).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Locks shard `i` (0..shard_count), e.g. to serialize it for a snapshot.
    pub fn lock_shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock()
    }

    /// Locks the shard that holds `slot`.
    #[inline]
    pub fn lock(&self, slot: SlotId) -> MutexGuard<'_, Shard> {
        self.shards[shard_of(slot)].lock()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().volatile_len()).sum()
    }

    /// Bytes of the database's slot tables (see [`Shard::table_bytes`]).
    pub fn table_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().table_bytes()).sum()
    }

    /// Sum of the remaining TTLs of keys with an expiry and their count (INFO
    /// keyspace avg_ttl). Walks the whole database: for INFO only.
    pub fn ttl_sum(&self, now_ms: u64) -> (u128, usize) {
        let mut sum = 0u128;
        let mut n = 0;
        for s in self.shards.iter() {
            for (_, e) in s.lock().iter() {
                if e.has_expiry() && !e.is_expired(now_ms) {
                    sum += u128::from(e.expire_at_ms - now_ms);
                    n += 1;
                }
            }
        }
        (sum, n)
    }

    /// One step of a SCAN. The cursor's low 14 bits are a slot; the rest is a
    /// threshold on key hashes within that slot: a step returns the slot's keys
    /// whose hash is at least the threshold, in hash order. Because the order does
    /// not depend on the table's layout, a key present for the whole iteration is
    /// returned exactly once, whatever is inserted or resized meanwhile.
    ///
    /// `count` bounds the keys visited (Redis's COUNT hint); `visit` sees each live
    /// key and returns whether it is wanted. A huge slot is split into steps of at
    /// least 1/32 of its keys so that a full iteration stays linear.
    pub fn scan(&self, cursor: u64, count: usize, now_ms: u64, mut visit: impl FnMut(&[u8], &Entry)) -> u64 {
        let count = count.max(1);
        let mut slot = (cursor as usize) & (SLOT_COUNT - 1);
        let mut threshold = cursor >> 14;
        let mut visited = 0usize;
        while slot < SLOT_COUNT {
            let guard = self.shards[slot / SLOTS_PER_SHARD].lock();
            let Some(map) = guard.slots.get(slot % SLOTS_PER_SHARD) else {
                slot = (slot / SLOTS_PER_SHARD + 1) * SLOTS_PER_SHARD;
                threshold = 0;
                continue;
            };
            let mut batch: Vec<(u64, &[u8])> = Vec::with_capacity(map.len());
            for n in map.iter() {
                let k = n.key();
                let h = key_hash(k) >> 14;
                if h >= threshold {
                    batch.push((h, k));
                }
            }
            let budget = (count.saturating_sub(visited)).max(map.len() / 32).max(1);
            let mut next_threshold = None;
            if batch.len() > budget {
                batch.sort_unstable_by_key(|&(h, _)| h);
                let last_h = batch[budget - 1].0;
                let end = batch.partition_point(|&(h, _)| h <= last_h);
                batch.truncate(end);
                next_threshold = Some(last_h + 1);
            }
            for &(_, k) in &batch {
                let e = find(map, k).expect("present under the lock");
                if !e.is_expired(now_ms) {
                    visit(k, e);
                }
            }
            visited += batch.len();
            drop(batch);
            drop(guard);
            match next_threshold {
                Some(t) => threshold = t,
                None => {
                    slot += 1;
                    threshold = 0;
                }
            }
            if visited >= count && slot < SLOT_COUNT {
                return (threshold << 14) | slot as u64;
            }
        }
        0
    }

    /// A random live key, or None when the database is empty. `rand` supplies
    /// randomness (the engine has no RNG of its own).
    pub fn random_key(&self, now: Now, rand: &mut dyn FnMut() -> u64) -> Option<Vec<u8>> {
        // Bounded retries: a database of mostly expired keys may yield None even
        // though a live key exists, as Redis's RANDOMKEY may.
        for _ in 0..100 {
            let start = (rand() as usize) % SHARD_COUNT;
            let shard_idx =
                (0..SHARD_COUNT).map(|i| (start + i) % SHARD_COUNT).find(|&i| !self.shards[i].lock().is_empty())?;
            let mut shard = self.shards[shard_idx].lock();
            let first = (rand() as usize) % SLOTS_PER_SHARD;
            let Some(idx) =
                (0..SLOTS_PER_SHARD).map(|i| (first + i) % SLOTS_PER_SHARD).find(|&i| !shard.slots[i].is_empty())
            else {
                continue;
            };
            let n = (rand() as usize) % shard.slots[idx].len();
            let key: Vec<u8> = shard.slots[idx].iter().nth(n).expect("n < len").key().to_vec();
            let slot = SlotId((shard_idx * SLOTS_PER_SHARD + idx) as u16);
            if shard.get(slot, &key, Now { touch: false, ..now }).is_some() {
                return Some(key);
            }
        }
        None
    }

    fn lock_all(&self) -> Vec<MutexGuard<'_, Shard>> {
        self.shards.iter().map(|s| s.lock()).collect()
    }
}

/// Where the active expiry cycle stopped: (database, global slot index).
#[derive(Debug, Default)]
struct ExpireCursor {
    db: usize,
    slot: usize,
}

/// Keys examined per sampling round of the active expiry cycle, as Redis's
/// ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP.
pub const EXPIRE_KEYS_PER_ROUND: usize = 20;
/// Another round follows only while more than this percentage of examined keys
/// had expired (Redis's ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE).
pub const EXPIRE_STALE_PERCENT: usize = 10;

/// What one active expiry cycle did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpireCycle {
    pub checked: usize,
    pub expired: usize,
    /// True when the cycle stopped because its time budget ran out.
    pub out_of_time: bool,
}

/// All databases, the version clock and the expiry cursor.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Box<[Db]>,
    clock: Hlc,
    expire_cursor: Mutex<ExpireCursor>,
}

impl Default for Keyspace {
    fn default() -> Keyspace {
        Keyspace::new()
    }
}

impl Keyspace {
    pub fn new() -> Keyspace {
        Keyspace {
            dbs: (0..DB_COUNT).map(|i| Db::new(i as DbIndex)).collect(),
            clock: Hlc::new(),
            expire_cursor: Mutex::new(ExpireCursor::default()),
        }
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `i`; panics when out of range (callers validate SELECT indexes).
    #[inline]
    pub fn db(&self, i: DbIndex) -> &Db {
        &self.dbs[i as usize]
    }

    pub fn clock(&self) -> &Hlc {
        &self.clock
    }

    /// A version for a write happening now.
    pub fn next_version(&self, now_ms: u64) -> Version {
        self.clock.tick(now_ms)
    }

    /// Locks the shards holding `keys` (database, slot) in the global order and
    /// returns a guard that hands out each key's shard.
    pub fn lock_many(&self, keys: impl IntoIterator<Item = (DbIndex, SlotId)>) -> MultiGuard<'_> {
        let mut ids: Vec<(DbIndex, u16)> = keys.into_iter().map(|(db, s)| (db, shard_of(s) as u16)).collect();
        ids.sort_unstable();
        ids.dedup();
        let guards =
            ids.into_iter().map(|(db, sh)| ((db, sh), self.dbs[db as usize].shards[sh as usize].lock())).collect();
        MultiGuard { guards }
    }

    /// Empties database `db`, recording the mutation. Returns the detached entries.
    ///
    /// The version is taken once every shard is locked, so it orders after every
    /// write the flush removes and before every write that follows it: the
    /// invariant recovery relies on (per key, version order is apply order).
    pub fn flush_db(&self, db: DbIndex, now_ms: u64, log: &mut MutationLog) -> Detached {
        let mut guards = self.dbs[db as usize].lock_all();
        let version = self.next_version(now_ms);
        log.record(&Mutation::<&[u8]>::FlushDb { db, version });
        Detached(guards.iter_mut().map(|s| s.flush(version)).collect())
    }

    /// Forgets `slots` of database `db` entirely, recording a
    /// [`Mutation::DropSlot`] for each; returns the detached entries. Its
    /// place in the log matters (replay has no watermark to refuse older
    /// writes of the slot), so, as [`Keyspace::swap_db`] does, with `sink`
    /// each shard's feed is taken into it first and the drop follows, under
    /// the shard's lock (the caller holds the log's lock); without, the
    /// drop is the log's own piece, after the shard's feed at commit.
    pub fn drop_slots(
        &self,
        db: DbIndex,
        slots: &[SlotId],
        now_ms: u64,
        log: &mut MutationLog,
        mut sink: Option<FeedSink<'_>>,
    ) -> Detached {
        let d = &self.dbs[db as usize];
        let mut taken = Vec::new();
        for &slot in slots {
            let mut shard = d.lock(slot);
            let version = self.next_version(now_ms);
            let m = Mutation::<&[u8]>::DropSlot { db, slot: slot.0, version };
            match sink.as_mut() {
                Some(sink) => {
                    shard.take_feed(*sink);
                    sink(log.record_taken(&m));
                }
                None => {
                    log.record(&m);
                    if shard.pos.feeding {
                        log.touch(db, shard.pos.index as usize);
                    }
                }
            }
            let t = shard.drop_slot(slot);
            if !t.is_empty() {
                taken.push(t);
            }
        }
        Detached(taken)
    }

    /// Empties every database, recording the mutation.
    /// Versioned under the locks, as [`Keyspace::flush_db`].
    pub fn flush_all(&self, now_ms: u64, log: &mut MutationLog) -> Detached {
        let mut guards: Vec<_> = self.dbs.iter().flat_map(|d| d.lock_all()).collect();
        let version = self.next_version(now_ms);
        log.record(&Mutation::<&[u8]>::FlushAll { version });
        Detached(guards.iter_mut().map(|s| s.flush(version)).collect())
    }

    /// Swaps two databases atomically, recording the mutation.
    /// Versioned under the locks, as [`Keyspace::flush_db`].
    ///
    /// Unlike a flush, a swap's place among single-key writes matters (a
    /// write before it lands in the other database on replay). With `sink`
    /// (the caller holds the log's lock), the two databases' feeds, then the
    /// swap itself, go to `sink` under the shard locks: the log then has
    /// every earlier write of both databases before the swap and every later
    /// one after it. Without (inside an atomic section, whose shards are all
    /// held), the swap is the section's, and the section's commit takes the
    /// two databases' feeds first.
    pub fn swap_db(&self, a: DbIndex, b: DbIndex, now_ms: u64, log: &mut MutationLog, sink: Option<FeedSink<'_>>) {
        let (lo, hi) = (a.min(b), a.max(b));
        let mut ga = self.dbs[lo as usize].lock_all();
        let mut gb = if a == b { Vec::new() } else { self.dbs[hi as usize].lock_all() };
        let version = self.next_version(now_ms);
        let m = Mutation::<&[u8]>::SwapDb { a, b, version };
        match sink {
            Some(sink) => {
                for s in ga.iter_mut().chain(gb.iter_mut()) {
                    s.take_feed(sink);
                }
                sink(log.record_taken(&m));
            }
            None => {
                log.record(&m);
                for s in ga.iter().chain(gb.iter()).filter(|s| s.pos.feeding) {
                    log.touch(s.db, s.pos.index as usize);
                }
            }
        }
        Self::swap_locked(ga, gb, version);
    }

    /// Turns the per-shard change feeds on (the server logs or replicates
    /// writes) or off. Set before serving.
    pub fn set_feeding(&self, on: bool) {
        for d in self.dbs.iter() {
            for s in d.lock_all().iter_mut() {
                s.pos.feeding = on;
                if !on {
                    s.pos.feed = Vec::new();
                }
            }
        }
    }

    /// Whether this node removes expired keys (and logs their deletes); a
    /// replica hides them and waits for the owner's delete instead.
    pub fn set_expiry_owner(&self, owner: bool) {
        for d in self.dbs.iter() {
            for s in d.lock_all().iter_mut() {
                s.pos.owns_expiry = owner;
            }
        }
    }

    /// Hands shard `shard` of `db`'s change feed to `sink` (see
    /// [`Shard::take_feed`]).
    pub fn take_feed(&self, db: DbIndex, shard: usize, sink: &mut dyn FnMut(&[u8])) {
        self.dbs[db as usize].shards[shard].lock().take_feed(sink);
    }

    /// Hands every non-empty feed to `sink` (changes no command committed:
    /// expiry's deletes), shard by shard.
    pub fn take_all_feeds(&self, sink: &mut dyn FnMut(&[u8])) {
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                s.lock().take_feed(sink);
            }
        }
    }

    /// Replays a swap, unless it is already reflected (a snapshot taken
    /// after it, with its record replayed again after the snapshot).
    fn swap_contents(&self, a: DbIndex, b: DbIndex, version: Version) -> bool {
        if a == b {
            return false;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (ga, gb) = (self.dbs[lo as usize].lock_all(), self.dbs[hi as usize].lock_all());
        if ga.iter().chain(gb.iter()).any(|s| s.swapped_at >= version) {
            return false;
        }
        Self::swap_locked(ga, gb, version);
        true
    }

    fn swap_locked(mut ga: Vec<MutexGuard<'_, Shard>>, mut gb: Vec<MutexGuard<'_, Shard>>, version: Version) {
        for (x, y) in ga.iter_mut().zip(gb.iter_mut()) {
            // Statistics and settings belong to the shard position, not the data.
            let (sx, sy) = (x.stats, y.stats);
            std::mem::swap(&mut **x, &mut **y);
            x.stats = sx;
            y.stats = sy;
            std::mem::swap(&mut x.cfg, &mut y.cfg);
            std::mem::swap(&mut x.db, &mut y.db);
            std::mem::swap(&mut x.pos, &mut y.pos);
            x.swapped_at = version;
            y.swapped_at = version;
        }
    }

    /// Applies a mutation without recording it (replay, replication). Returns
    /// whether it changed anything (false when the key already holds a version at
    /// least as new).
    pub fn apply<B: AsRef<[u8]>>(&self, m: &Mutation<B>) -> bool {
        self.clock.observe(m.version());
        self.apply_observed(m)
    }

    /// [`Keyspace::apply`] once the clock has seen `m`'s version.
    fn apply_observed<B: AsRef<[u8]>>(&self, m: &Mutation<B>) -> bool {
        let m = m.as_ref();
        match m {
            Mutation::FlushDb { db, version } => self
                .dbs
                .get(db as usize)
                .map(|d| d.lock_all().iter_mut().map(|s| s.retain_newer(version)).sum::<usize>() > 0)
                .unwrap_or(false),
            Mutation::FlushAll { version } => {
                self.dbs
                    .iter()
                    .map(|d| d.lock_all().iter_mut().map(|s| s.retain_newer(version)).sum::<usize>())
                    .sum::<usize>()
                    > 0
            }
            Mutation::SwapDb { a, b, version } => {
                (a as usize) < DB_COUNT && (b as usize) < DB_COUNT && self.swap_contents(a, b, version)
            }
            Mutation::DropSlot { db, slot, .. } => {
                self.dbs.get(db as usize).is_some_and(|d| !d.lock(SlotId(slot)).drop_slot(SlotId(slot)).is_empty())
            }
            _ => {
                let (db, key) = m.key().expect("single-key mutation");
                let Some(d) = self.dbs.get(db as usize) else { return false };
                let slot = SlotId::of(key);
                d.lock(slot).apply(slot, &m).0
            }
        }
    }

    /// Applies `ms` as if one by one in order (replay), on the caller's
    /// `workers`: single-key mutations are split by shard, each shard's in
    /// their order (so every key sees its mutations in order, and no two jobs
    /// take the same shard lock), and a database-wide mutation (FLUSHDB,
    /// FLUSHALL, SWAPDB) waits for everything before it and runs alone. The
    /// engine starts no threads: [`Sequential`] applies everything on the
    /// calling thread.
    pub fn apply_all<B: AsRef<[u8]> + Sync>(&self, ms: &[Mutation<B>], workers: &dyn Workers) {
        let threads = workers.count().clamp(1, SHARD_COUNT);
        // One clock update for all (threads updating it per mutation would
        // fight over its cache line).
        if let Some(newest) = ms.iter().map(|m| m.version()).max() {
            self.clock.observe(newest);
        }
        let mut rest = ms;
        while !rest.is_empty() {
            let run = rest.iter().position(|m| m.key().is_none()).unwrap_or(rest.len());
            let (keyed, after) = rest.split_at(run);
            if threads == 1 || keyed.len() < 1024 {
                for m in keyed {
                    self.apply_observed(m);
                }
            } else {
                let mut parts: Vec<Vec<&Mutation<B>>> = vec![Vec::with_capacity(keyed.len() / threads + 1); threads];
                for m in keyed {
                    let (_, key) = m.key().expect("a single-key run");
                    parts[shard_of(SlotId::of(key)) % threads].push(m);
                }
                let jobs: Vec<Job<'_>> = parts
                    .iter()
                    .map(|part| {
                        Box::new(move || {
                            for m in part {
                                self.apply_observed(*m);
                            }
                        }) as Job<'_>
                    })
                    .collect();
                workers.run(jobs);
            }
            if let Some((barrier, tail)) = after.split_first() {
                self.apply_observed(barrier);
                rest = tail;
            } else {
                rest = after;
            }
        }
    }

    /// Empties every database and forgets its tombstones and flush
    /// watermarks, recording nothing: recovery discarding a partly loaded
    /// snapshot before it falls back to an older one.
    pub fn discard_all(&self) -> Detached {
        let mut guards: Vec<_> = self.dbs.iter().flat_map(|d| d.lock_all()).collect();
        Detached(guards.iter_mut().map(|s| s.take_all()).collect())
    }

    /// Restores a tombstone read from a snapshot.
    pub fn load_tombstone(&self, db: DbIndex, key: &[u8], version: Version) {
        self.clock.observe(version);
        let Some(d) = self.dbs.get(db as usize) else { return };
        let slot = SlotId::of(key);
        let mut shard = d.lock(slot);
        if shard.peek(slot, key).is_none_or(|e| e.version < version) {
            shard.bury(key, version);
        }
    }

    /// Restores a database's flush watermark read from a snapshot.
    pub fn load_flushed_before(&self, db: DbIndex, version: Version) {
        self.clock.observe(version);
        let Some(d) = self.dbs.get(db as usize) else { return };
        for mut s in d.lock_all() {
            s.retain_newer(version);
        }
    }

    /// Restores a database's last swap version read from a snapshot.
    pub fn load_swapped_at(&self, db: DbIndex, version: Version) {
        self.clock.observe(version);
        let Some(d) = self.dbs.get(db as usize) else { return };
        for mut s in d.lock_all() {
            s.swapped_at = s.swapped_at.max(version);
        }
    }

    /// The digest of `slot` in database `db`: equal on two keyspaces exactly
    /// when they hold the slot's keys and tombstones at the same versions
    /// (barring a 64-bit collision).
    pub fn slot_digest(&self, db: DbIndex, slot: SlotId) -> u64 {
        self.dbs.get(db as usize).map_or(0, |d| d.lock(slot).slot_digest(slot))
    }

    /// Tombstones held in every database (INFO).
    pub fn tombstone_count(&self) -> usize {
        self.dbs.iter().flat_map(|d| d.shards.iter()).map(|s| s.lock().tombstone_len()).sum()
    }

    /// Collects tombstones older than `version` in up to `shards_max`
    /// shards, resuming at `cursor` (a worker step with a budget). Returns
    /// how many went.
    pub fn collect_tombstones(&self, cursor: &mut usize, version: Version, shards_max: usize) -> usize {
        let total = self.dbs.len() * SHARD_COUNT;
        let mut collected = 0;
        for _ in 0..shards_max.min(total) {
            let i = *cursor % total;
            *cursor = (i + 1) % total;
            collected += self.dbs[i / SHARD_COUNT].lock_shard(i % SHARD_COUNT).collect_tombstones(version);
        }
        collected
    }

    /// Inserts an entry read from a snapshot, unless the key already holds a
    /// version at least as new (loading is idempotent, like replay). Returns
    /// whether it was stored.
    pub fn load_entry(&self, db: DbIndex, key: &[u8], entry: Entry) -> bool {
        self.clock.observe(entry.version);
        let Some(d) = self.dbs.get(db as usize) else { return false };
        let slot = SlotId::of(key);
        d.lock(slot).replace_if_newer(slot, key, entry, 0).is_ok()
    }

    /// Sets the collection encoding thresholds (CONFIG SET of the
    /// `*-max-listpack-*` parameters).
    pub fn set_encoding_config(&self, cfg: EncodingConfig) {
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                s.lock().cfg = cfg;
            }
        }
    }

    /// Summed hit/miss/expiry counters of every shard.
    pub fn stats(&self) -> KeyspaceStats {
        let mut total = KeyspaceStats::default();
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                total.add(&s.lock().stats());
            }
        }
        total
    }

    pub fn reset_stats(&self) {
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                s.lock().reset_stats();
            }
        }
    }

    /// One active expiry cycle, in the spirit of Redis's activeExpireCycle: for each
    /// database, examine keys with a TTL slot by slot from where the last cycle
    /// stopped, in rounds of [`EXPIRE_KEYS_PER_ROUND`]; keep going while more than
    /// [`EXPIRE_STALE_PERCENT`]% of a round had expired and `time_left()` says so.
    pub fn active_expire(&self, now_ms: u64, time_left: &mut dyn FnMut() -> bool) -> ExpireCycle {
        let mut cur = self.expire_cursor.lock();
        let mut total = ExpireCycle::default();
        for _ in 0..DB_COUNT {
            let db = &self.dbs[cur.db];
            loop {
                let (checked, expired, wrapped) = expire_round(db, &mut cur.slot, now_ms);
                total.checked += checked;
                total.expired += expired;
                if !time_left() {
                    total.out_of_time = true;
                    return total;
                }
                if wrapped || checked == 0 || expired * 100 <= checked * EXPIRE_STALE_PERCENT {
                    break;
                }
            }
            cur.db = (cur.db + 1) % DB_COUNT;
            cur.slot = 0;
        }
        total
    }
}

/// One round: walk slots from `*slot` until at least EXPIRE_KEYS_PER_ROUND keys
/// with a TTL were checked or the database was covered once. Returns (checked,
/// expired, wrapped).
fn expire_round(db: &Db, slot: &mut usize, now_ms: u64) -> (usize, usize, bool) {
    let (mut checked, mut expired, mut traversed) = (0, 0, 0);
    while checked < EXPIRE_KEYS_PER_ROUND {
        if traversed >= SLOT_COUNT {
            return (checked, expired, true);
        }
        let shard_idx = *slot / SLOTS_PER_SHARD;
        let mut shard = db.shards[shard_idx].lock();
        let step = if shard.volatile == 0 {
            // Nothing to expire in this shard: skip to the next one.
            (shard_idx + 1) * SLOTS_PER_SHARD - *slot
        } else {
            let (c, e) = shard.expire_slot(*slot % SLOTS_PER_SHARD, now_ms);
            checked += c;
            expired += e;
            1
        };
        drop(shard);
        traversed += step;
        *slot = (*slot + step) % SLOT_COUNT;
    }
    (checked, expired, false)
}

/// Shards locked together by [`Keyspace::lock_many`].
pub struct MultiGuard<'a> {
    guards: Vec<((DbIndex, u16), MutexGuard<'a, Shard>)>,
}

impl MultiGuard<'_> {
    /// Read access to the shard holding `slot` of database `db` (several at
    /// once, e.g. to intersect collections without copying them).
    pub fn shard_ref(&self, db: DbIndex, slot: SlotId) -> &Shard {
        let id = (db, shard_of(slot) as u16);
        let i = self.guards.binary_search_by_key(&id, |g| g.0).expect("shard was locked by lock_many");
        &self.guards[i].1
    }

    /// The shard holding `slot` of database `db`; it must have been locked.
    pub fn shard(&mut self, db: DbIndex, slot: SlotId) -> &mut Shard {
        let id = (db, shard_of(slot) as u16);
        let i = self.guards.binary_search_by_key(&id, |g| g.0).expect("shard was locked by lock_many");
        &mut self.guards[i].1
    }
}
