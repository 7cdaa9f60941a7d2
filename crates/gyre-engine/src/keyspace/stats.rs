//! The keyspace's counters and summaries: hits, misses and expiries per
//! shard (summed on demand), tombstones held, and the per-slot digests.
//!
//! Invariants: each shard's counters change only under its lock; a sum locks
//! one shard at a time, so it is not a snapshot of one instant.
//!
//! Limits: a sum walks every shard of every database (INFO, not per request).

use super::Keyspace;
use crate::mutation::DbIndex;
use crate::slot::SlotId;

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

impl Keyspace {
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
}
