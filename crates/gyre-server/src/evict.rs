//! Keeping memory under `maxmemory`: eviction on the write path, in bounded
//! steps, and lazy freeing of what it removes.
//!
//! Before a command that may add data (flag WRITE, DENYOOM or MAY_REPLICATE:
//! scripts) runs, [`make_room`] compares
//! `used_memory` (the allocator counter, less what is queued for lazy freeing)
//! with `maxmemory`. Over it, it evicts keys chosen by the engine
//! ([`gyre_engine::Keyspace::evict_one`]) until under the limit or until the
//! time budget of `maxmemory-eviction-tenacity` (500 µs by default) is spent.
//! The command is refused with -OOM only when it is flagged DENYOOM, memory
//! is over the limit and nothing could be evicted (noeviction, or no
//! candidate: volatile-* with no key carrying a TTL); as in Redis, a command
//! whose eviction ran out of time still runs, and the background worker
//! ([`background_step`]) goes on evicting between commands.
//!
//! Each eviction is a `Del` mutation in the command's log (so it reaches the
//! WAL with the command), counts in `evicted_keys`, and raises the `evicted`
//! keyspace event when enabled. A value of [`LAZY_FREE_BYTES_MIN`] or more is
//! freed on the background thread; its bytes count as already freed, so the
//! loop does not evict more than needed while the free is pending.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gyre_engine::{Entry, EvictionPool, MutationLog, Policy};
use parking_lot::Mutex;

use crate::shared::Shared;

/// Values with at least this many heap bytes are freed off the request path.
pub const LAZY_FREE_BYTES_MIN: usize = 64 * 1024;
/// Evictions between two reads of the clock in the eviction loop.
const EVICTIONS_PER_CLOCK_CHECK: u32 = 16;
/// What the background worker may spend per cycle while memory is over.
const BACKGROUND_BUDGET: Duration = Duration::from_millis(5);

/// Eviction state shared by every connection.
#[derive(Debug, Default)]
pub struct Evictor {
    pool: Mutex<EvictionPool>,
    /// INFO stats `evicted_keys`.
    pub evicted_keys: AtomicU64,
    /// Evictions that stopped because their time budget ran out (INFO
    /// `eviction_exceeded_time` counts the same situations in Redis).
    pub out_of_time: AtomicU64,
}

impl Evictor {
    pub fn reset_stats(&self) {
        self.evicted_keys.store(0, Ordering::Relaxed);
        self.out_of_time.store(0, Ordering::Relaxed);
    }
}

/// Bytes in use as far as the limit is concerned.
pub fn used_for_limit(shared: &Shared) -> usize {
    crate::memory::allocated_bytes().saturating_sub(lazy_pending_bytes(shared))
}

/// Bytes queued for freeing in the background (INFO `lazyfree_pending_bytes`).
pub fn lazy_pending_bytes(shared: &Shared) -> usize {
    shared.lazy_pending_bytes.load(Ordering::Relaxed)
}

/// A large entry on its way to the background thread; its bytes stop counting
/// against the limit as soon as it is queued and leave the counter when freed.
struct LazyEntry {
    _entry: Entry,
    bytes: usize,
    /// The server's `lazy_pending_bytes`.
    pending: Arc<AtomicUsize>,
}

impl Drop for LazyEntry {
    fn drop(&mut self) {
        self.pending.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Frees an entry taken out of the keyspace (evicted, deleted, overwritten):
/// off the request path when it is large, its bytes no longer counted
/// against `maxmemory` from the moment it is queued. The one way an entry
/// is freed lazily.
#[inline]
pub fn free_entry(shared: &Shared, entry: Entry) {
    let bytes = entry.value.heap_bytes();
    if bytes >= LAZY_FREE_BYTES_MIN {
        shared.lazy_pending_bytes.fetch_add(bytes, Ordering::Relaxed);
        let pending = shared.lazy_pending_bytes.clone();
        shared.free_later(Box::new(LazyEntry { _entry: entry, bytes, pending }));
    }
}

/// Redis's eviction time limit for `maxmemory-eviction-tenacity`: 50 µs per
/// step up to 10, then 15% more per step; 100 means no limit.
fn time_budget(tenacity: u64) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * tenacity.max(1))),
        11..=99 => Some(Duration::from_micros((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64)),
        _ => None,
    }
}

/// Why a write may not run.
#[derive(Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// Brings memory under `maxmemory` before a write, evicting per policy.
/// `Err` when memory is over the limit and nothing could be evicted.
pub fn make_room(shared: &Shared, log: &mut MutationLog, now_ms: u64) -> Result<(), OutOfMemory> {
    let limit = shared.config.hot.maxmemory.load(Ordering::Relaxed) as usize;
    if limit == 0 || used_for_limit(shared) <= limit {
        return Ok(());
    }
    let budget = time_budget(shared.config.hot.eviction_tenacity.load(Ordering::Relaxed));
    if evict_until(shared, limit, log, now_ms, budget) > 0 || used_for_limit(shared) <= limit {
        return Ok(());
    }
    sweep_tombstones(shared, now_ms);
    if used_for_limit(shared) > limit {
        return Err(OutOfMemory);
    }
    Ok(())
}

/// Tombstones younger than this survive a sweep under memory pressure: on
/// one node a delete can only be overtaken by an older write within one
/// connection's batch (applied before, logged after), far shorter.
pub const TOMBSTONE_PRESSURE_AGE_MS: u64 = 100;

/// Memory is over the limit and nothing more can be evicted: drops the
/// tombstones past [`TOMBSTONE_PRESSURE_AGE_MS`] (DEL-heavy workloads would
/// otherwise fill `maxmemory` with them until `tombstone-ttl`). Returns how
/// many went.
fn sweep_tombstones(shared: &Shared, now_ms: u64) -> usize {
    let horizon = gyre_engine::Version::at_ms(now_ms.saturating_sub(TOMBSTONE_PRESSURE_AGE_MS));
    let n = shared.ks.collect_tombstones(&mut 0, horizon, usize::MAX);
    shared.stats.tombstones_collected.fetch_add(n as u64, Ordering::Relaxed);
    if n > 0 {
        tracing::debug!(tombstones = n, "memory over maxmemory: tombstones collected early");
    }
    n
}

/// Evicts until memory is at most `limit` or `budget` is spent; returns how
/// many keys went.
fn evict_until(shared: &Shared, limit: usize, log: &mut MutationLog, now_ms: u64, budget: Option<Duration>) -> u64 {
    let cfg = shared.config.hot.evict_config();
    if cfg.policy == Policy::NoEviction {
        return 0;
    }
    let started = Instant::now();
    let notify = shared.config.hot.notify_flags.load(Ordering::Relaxed) as u32;
    let mut pool = shared.evictor.pool.lock();
    // Keys a transaction or script holds stay out of reach (see `gate`).
    let reach = shared.gate.try_shared_where_free();
    pool.allow_only(reach.stripes().0);
    let mut rng = crate::runtime::XorShift::new(shared.runtime.seed());
    let mut rand = || rng.next_u64();
    let mut evicted = 0u64;
    while used_for_limit(shared) > limit {
        let Some(ev) = shared.ks.evict_one(&mut pool, &cfg, now_ms, &mut rand, log) else { break };
        evicted += 1;
        if notify != 0 {
            crate::notify::key_evicted(shared, notify, ev.db, &ev.key);
        }
        shared.tracking.invalidate_removed(shared, &[(ev.db, ev.key.clone())]);
        free_entry(shared, ev.entry);
        if evicted.is_multiple_of(u64::from(EVICTIONS_PER_CLOCK_CHECK))
            && budget.is_some_and(|b| started.elapsed() >= b)
        {
            shared.evictor.out_of_time.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    shared.evictor.evicted_keys.fetch_add(evicted, Ordering::Relaxed);
    evicted
}

/// One background pass while memory is over the limit (between commands,
/// e.g. after CONFIG SET maxmemory lowered it or a write ran out of time).
/// The evictions go to the write-ahead log like a command's.
pub fn background_step(shared: &Shared) {
    let limit = shared.config.hot.maxmemory.load(Ordering::Relaxed) as usize;
    crate::memory::sample_peak();
    if limit == 0 || used_for_limit(shared) <= limit {
        return;
    }
    let mut log = MutationLog::new();
    let now_ms = shared.now_ms();
    if evict_until(shared, limit, &mut log, now_ms, Some(BACKGROUND_BUDGET)) == 0 && used_for_limit(shared) > limit {
        sweep_tombstones(shared, now_ms);
    }
    if !log.is_empty() {
        // Durability of evictions is "eventually": nothing waits for this record.
        let _ = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenacity_maps_to_redis_time_limits() {
        assert_eq!(time_budget(10), Some(Duration::from_micros(500)));
        assert_eq!(time_budget(1), Some(Duration::from_micros(50)));
        assert!(time_budget(20).unwrap() > Duration::from_millis(2));
        assert_eq!(time_budget(100), None);
    }
}
