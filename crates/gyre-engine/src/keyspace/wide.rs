//! Database-wide operations on the [`Keyspace`]: FLUSHDB, FLUSHALL, SWAPDB,
//! dropping slots, emptying everything for recovery, and the per-shard change
//! feeds and settings.
//!
//! Invariants: an operation locks every shard it changes (in the global
//! order) before it takes its version, so the version orders after every write
//! it affects and before every write that follows; a SWAPDB's or a dropped
//! slot's place among the feeds is fixed under those locks (see `swap_db`).
//!
//! Limits: the entries removed are detached for the caller to free; these
//! operations hold a whole database's shard locks while they run.

use parking_lot::MutexGuard;

use super::{Keyspace, Shard};
use crate::hlc::Version;
use crate::mutation::{DbIndex, Mutation, MutationLog};
use crate::slot::SlotId;
use crate::types::EncodingConfig;

/// Where taken change-feed bytes go (the log's record builder).
pub type FeedSink<'a> = &'a mut dyn FnMut(&[u8]);

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

impl Keyspace {
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
                s.pos.owns_expiry = if owner { [u64::MAX; 4] } else { [0; 4] };
            }
        }
    }

    /// Whether this node removes `slot`'s expired keys (it leads the slot)
    /// or only hides them (a replica of it), in every database.
    pub fn set_slot_expiry_owner(&self, slot: SlotId, owner: bool) {
        for d in self.dbs.iter() {
            d.lock(slot).pos.set_owns_expiry(super::slot_in_shard(slot), owner);
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
    pub(super) fn swap_contents(&self, a: DbIndex, b: DbIndex, version: Version) -> bool {
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

    /// Empties every database and forgets its tombstones and flush
    /// watermarks, recording nothing: recovery discarding a partly loaded
    /// snapshot before it falls back to an older one.
    pub fn discard_all(&self) -> Detached {
        let mut guards: Vec<_> = self.dbs.iter().flat_map(|d| d.lock_all()).collect();
        Detached(guards.iter_mut().map(|s| s.take_all()).collect())
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
}
