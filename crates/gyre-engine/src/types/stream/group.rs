//! Consumer groups: a group's last delivered ID and read counter, its
//! pending entries list (PEL), and its consumers, each with its own PEL.
//!
//! Invariant: a pending entry is in its group's PEL and in the PEL of the
//! consumer named there, and nowhere else (`assign` and `unassign` keep both
//! in step).
//!
//! Limits: PELs are ordered maps and sets: O(log n) per change.

use std::collections::{BTreeMap, BTreeSet};

use super::StreamId;

#[cfg(doc)]
use super::ENTRIES_READ_INVALID;

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Vec<u8>,
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    /// Last attempted interaction (read, claim).
    pub seen_time_ms: u64,
    /// Last successful interaction; -1 when never.
    pub active_time_ms: i64,
    pub pel: BTreeSet<StreamId>,
}

impl Consumer {
    fn new(now_ms: u64) -> Consumer {
        Consumer { seen_time_ms: now_ms, active_time_ms: -1, pel: BTreeSet::new() }
    }
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical reads counter, or [`ENTRIES_READ_INVALID`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub(super) fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    pub(super) fn consumer_mut(&mut self, name: &[u8], now_ms: u64) -> &mut Consumer {
        self.consumers.entry(name.to_vec()).or_insert_with(|| Consumer::new(now_ms))
    }

    /// Assigns `id` to `consumer` with the given delivery time and count,
    /// taking it from its previous owner.
    pub(super) fn assign(&mut self, id: StreamId, consumer: &[u8], time_ms: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != consumer {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(id, Nack { consumer: consumer.to_vec(), delivery_time_ms: time_ms, delivery_count: count });
        self.consumer_mut(consumer, time_ms).pel.insert(id);
    }

    pub(super) fn unassign(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }
}
