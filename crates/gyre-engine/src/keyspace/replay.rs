//! Applying recorded mutations without recording them (log replay,
//! replication) and loading snapshot contents into the [`Keyspace`].
//!
//! Invariants: both are idempotent and last-writer-wins by version: a
//! mutation or entry not newer than what the key holds (or its tombstone, or
//! the flush watermark) changes nothing, so a record replayed twice, or a
//! snapshot loaded under a replay, leaves the same state. The clock observes
//! every version applied.
//!
//! Limits: [`Keyspace::apply_all`] spreads only runs of at least 1024
//! single-key mutations over the caller's [`Workers`].

use super::{shard_of, Job, Keyspace, Workers, DB_COUNT, SHARD_COUNT};
use crate::hlc::Version;
use crate::mutation::{DbIndex, Mutation};
use crate::slot::SlotId;
use crate::value::Entry;

#[cfg(doc)]
use super::Sequential;

impl Keyspace {
    /// Applies a mutation without recording it (replay, replication). Returns
    /// whether it changed anything (false when the key already holds a version at
    /// least as new).
    pub fn apply<B: AsRef<[u8]>>(&self, m: &Mutation<B>) -> bool {
        self.clock.observe(m.version());
        self.apply_observed(m)
    }

    /// [`Keyspace::apply`] once the clock has seen `m`'s version.
    pub(super) fn apply_observed<B: AsRef<[u8]>>(&self, m: &Mutation<B>) -> bool {
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

    /// Inserts an entry read from a snapshot, unless the key already holds a
    /// version at least as new (loading is idempotent, like replay). Returns
    /// whether it was stored.
    pub fn load_entry(&self, db: DbIndex, key: &[u8], entry: Entry) -> bool {
        self.clock.observe(entry.version);
        let Some(d) = self.dbs.get(db as usize) else { return false };
        let slot = SlotId::of(key);
        d.lock(slot).replace_if_newer(slot, key, entry, 0).is_ok()
    }
}
