//! The keyspace's budgeted background steps: the active expiry cycle and
//! tombstone collection, each resuming where the last step stopped.
//!
//! Invariants: a step holds one shard lock at a time; an expired key is
//! removed only where this node owns expiry, and its removal is logged as a
//! delete (see `Shard::expired`).
//!
//! Limits: expiry visits a whole slot per step, so one slot holding millions
//! of keys with a TTL makes that step proportional to its size.

use super::{Db, Keyspace, DB_COUNT, SHARD_COUNT, SLOTS_PER_SHARD};
use crate::hlc::Version;
use crate::slot::SLOT_COUNT;

/// Where the active expiry cycle stopped: (database, global slot index).
#[derive(Debug, Default)]
pub(super) struct ExpireCursor {
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

impl Keyspace {
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
