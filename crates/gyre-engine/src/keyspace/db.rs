//! One logical database: its shards, each behind a mutex, and the walks over
//! all of them (SCAN, RANDOMKEY, INFO's sums).
//!
//! Invariants: shard `i` holds the slots `i * SLOTS_PER_SHARD` up to the next
//! shard's; a walk holds one shard lock at a time.
//!
//! Limits: a SCAN step visits a whole slot (at least 1/32 of a huge one); the
//! sums lock every shard in turn and are for INFO only.

use parking_lot::{Mutex, MutexGuard};

use super::shard::Position;
use super::{find, key_hash, shard_of, Now, Shard, SHARD_COUNT, SLOTS_PER_SHARD};
use crate::mutation::DbIndex;
use crate::slot::{SlotId, SLOT_COUNT};
use crate::value::Entry;

/// One logical database.
#[derive(Debug)]
pub struct Db {
    pub(super) shards: Box<[Mutex<Shard>]>,
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

    pub(super) fn lock_all(&self) -> Vec<MutexGuard<'_, Shard>> {
        self.shards.iter().map(|s| s.lock()).collect()
    }
}
