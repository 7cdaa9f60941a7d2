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
//!
//! Files: this one holds the layout (constants, the key hasher, slot
//! arithmetic), the access context [`Now`], the [`Workers`] a caller lends and
//! the [`Keyspace`] itself with its locking ([`Keyspace::lock_many`],
//! [`MultiGuard`]). `shard.rs` is a [`Shard`] with its reads and bookkeeping,
//! `write.rs` the shard's write path (commit and apply of single-key
//! mutations), `digest.rs` the per-slot digest, `db.rs` one database (SCAN,
//! RANDOMKEY), `wide.rs` the database-wide operations (flushes, SWAPDB,
//! dropped slots, feeds), `replay.rs` applying recorded mutations and loading
//! snapshots, `expire.rs` the budgeted background steps (active expiry,
//! tombstone collection), `stats.rs` the counters and summaries, and
//! `transfer.rs` copying slots between nodes.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use parking_lot::{Mutex, MutexGuard};

use crate::hlc::{Hlc, Version};
use crate::mutation::DbIndex;
use crate::slot::{SlotId, SLOT_COUNT};
use crate::table::SlotTable;
use crate::value::{Entry, LfuParams};

#[cfg(doc)]
use crate::mutation::{Mutation, MutationLog};

mod db;
mod digest;
mod expire;
mod replay;
mod shard;
mod stats;
mod transfer;
mod wide;
mod write;

pub use db::Db;
pub use digest::DIGEST_BUCKETS;
use expire::ExpireCursor;
pub use expire::{ExpireCycle, EXPIRE_KEYS_PER_ROUND, EXPIRE_STALE_PERCENT};
pub use shard::Shard;
pub use stats::KeyspaceStats;
pub use transfer::{differing_keys, records, Fed, KeyRepair};
pub use wide::{Detached, FeedSink};

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

#[inline]
pub(crate) fn shard_of(slot: SlotId) -> usize {
    slot.index() / SLOTS_PER_SHARD
}

#[inline]
pub(crate) fn slot_in_shard(slot: SlotId) -> usize {
    slot.index() % SLOTS_PER_SHARD
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
}

/// The most keys one [`Keyspace::prefetch`] warms.
pub const PREFETCH_KEYS_MAX: usize = 32;
/// [`Keyspace::prefetch`] gives no hints while the shard of its first key
/// holds fewer keys than this (about 32,000 keys in the database, keys
/// spreading evenly over shards): such a keyspace mostly stays in the CPU's
/// caches, and the hints would cost more than they save (about 700
/// instructions a command: 5-7% of pipelined throughput with 1,000 keys,
/// against up to twice the throughput with 100,000; docs/BENCHMARKS.md).
pub const PREFETCH_SHARD_KEYS_MIN: usize = 512;

impl Keyspace {
    /// Warms the CPU's cache for lookups of `keys` (at most
    /// [`PREFETCH_KEYS_MAX`]) in database `db` that are about to run: the
    /// commands of a pipelined batch.
    ///
    /// A lookup follows four dependent pointers (the slot table's header,
    /// the bucket, the node, a long key's bytes), and in a table larger than
    /// the cache each is a miss; one lookup after another, a batch of 16
    /// waits for 64 misses in a row. Here the batch goes stage by stage
    /// instead: the 16 headers are asked for together, then the 16 buckets,
    /// and so on, so the misses of a stage overlap and the batch waits for
    /// about four. A hint changes nothing the program sees; a shard another
    /// thread holds is skipped rather than waited for; a small keyspace gets
    /// none ([`PREFETCH_SHARD_KEYS_MIN`]). Returns how many of `keys` got
    /// hints.
    pub fn prefetch(&self, db: DbIndex, keys: &[&[u8]]) -> usize {
        let keys = &keys[..keys.len().min(PREFETCH_KEYS_MAX)];
        let mut at = [(0usize, 0usize, 0u64); PREFETCH_KEYS_MAX];
        let mut guards: [Option<MutexGuard<'_, Shard>>; SHARD_COUNT] = std::array::from_fn(|_| None);
        let shards = &self.dbs[db as usize].shards;
        let mut n = 0;
        for key in keys {
            let slot = SlotId::of(key);
            let shard = shard_of(slot);
            if guards[shard].is_none() {
                match shards[shard].try_lock() {
                    Some(g) if n == 0 && g.len() < PREFETCH_SHARD_KEYS_MIN => return 0,
                    Some(g) => guards[shard] = Some(g),
                    None => continue,
                }
            }
            at[n] = (shard, slot_in_shard(slot), key_hash(key));
            n += 1;
        }
        for stage in 0..4 {
            for &(shard, idx, hash) in &at[..n] {
                if let Some(g) = &guards[shard] {
                    g.prefetch(stage, idx, hash);
                }
            }
        }
        n
    }
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
