//! Eviction: which key to remove when memory is over the limit.
//!
//! In the spirit of Redis's approximated LRU/LFU: each round samples
//! `samples` keys of every database that has candidates (from random shards),
//! scores them (idle time for LRU, inverted access frequency for LFU, nearness
//! of expiry for volatile-ttl) and keeps the best [`POOL_SIZE`] in a pool across
//! rounds; the best-scored key still present is removed. The random policies
//! pick one random key, rotating over the databases.
//!
//! The engine decides *what* to evict; the caller decides *whether* (it reads
//! the memory counter) and how long to go on. Each eviction is a `Del` mutation
//! recorded in the caller's [`MutationLog`] through [`Shard::commit`], the one
//! write path, so the log and replicas see it. Randomness is handed in.
//!
//! Limits: a round locks at most `samples` shards per database, one at a
//! time; the list of shards holding
//! candidates is refreshed every [`SHARD_LIST_REFRESH`] evictions (and when it
//! runs dry), so a shard that gains its first key meanwhile waits that long to
//! be considered.

use crate::keyspace::{Keyspace, Shard, DB_COUNT};
use crate::mutation::{DbIndex, Mutation, MutationLog};
use crate::slot::SlotId;
use crate::value::{Entry, LfuParams};

/// Redis's maxmemory policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub const ALL: [Policy; 8] = [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllKeysLru,
        Policy::AllKeysLfu,
        Policy::AllKeysRandom,
        Policy::NoEviction,
    ];

    /// The `maxmemory-policy` name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn parse(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Only keys with an expiry are candidates.
    pub fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn is_random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }

    /// Higher is evicted first.
    fn score(self, e: &Entry, now_ms: u64, lfu: LfuParams) -> u64 {
        match self {
            Policy::AllKeysLfu | Policy::VolatileLfu => 255 - u64::from(e.decayed_freq(now_ms, lfu)),
            Policy::VolatileTtl => u64::MAX - e.expire_at_ms,
            _ => e.idle_ms(now_ms),
        }
    }
}

/// Candidates kept between rounds, as Redis's EVPOOL_SIZE.
pub const POOL_SIZE: usize = 16;
/// Evictions between two refreshes of the list of shards with candidates.
pub const SHARD_LIST_REFRESH: u32 = 1024;
/// Sampling rounds one eviction may take before giving up (every round
/// found only keys that vanished before they could be removed).
const ROUNDS_MAX: usize = 8;

/// How to choose.
#[derive(Clone, Copy, Debug)]
pub struct EvictConfig {
    pub policy: Policy,
    /// Keys sampled per database and round (`maxmemory-samples`).
    pub samples: usize,
    pub lfu: LfuParams,
}

#[derive(Debug)]
struct Candidate {
    score: u64,
    db: DbIndex,
    key: Vec<u8>,
}

/// State carried from one eviction to the next: the candidate pool and the
/// shards worth sampling.
#[derive(Debug, Default)]
pub struct EvictionPool {
    /// Ascending by score; the best candidate is last.
    cands: Vec<Candidate>,
    /// (database, shard index) of shards holding candidates for `listed_for`.
    shards: Vec<(DbIndex, usize)>,
    listed_for: Option<bool>,
    since_refresh: u32,
    next_db: usize,
    /// Shard indexes (bit i: shard i of every database) eviction may touch,
    /// inverted so that the default (0) allows all: the server keeps keys
    /// that a transaction or script holds out of reach.
    denied_shards: u64,
}

impl EvictionPool {
    /// Limits the following evictions to the shard indexes in `allowed`
    /// (bit i: shard i of every database).
    pub fn allow_only(&mut self, allowed: u64) {
        let denied = !allowed;
        if denied == self.denied_shards {
            return;
        }
        self.denied_shards = denied;
        self.cands.retain(|c| denied & (1 << shard_index(&c.key)) == 0);
        self.shards.clear();
    }

    fn offer(&mut self, score: u64, db: DbIndex, key: &[u8]) {
        if self.cands.len() == POOL_SIZE && score <= self.cands[0].score {
            return;
        }
        if self.cands.iter().any(|c| c.db == db && c.key == key) {
            return;
        }
        if self.cands.len() == POOL_SIZE {
            self.cands.remove(0);
        }
        let pos = self.cands.partition_point(|c| c.score < score);
        self.cands.insert(pos, Candidate { score, db, key: key.to_vec() });
    }

    /// Forgets everything (after a policy change or FLUSHALL, say).
    pub fn clear(&mut self) {
        *self = EvictionPool::default();
    }

    fn refresh_shards(&mut self, ks: &Keyspace, volatile_only: bool) {
        self.shards.clear();
        for db in 0..DB_COUNT {
            let d = ks.db(db as DbIndex);
            for i in 0..d.shard_count() {
                let s = d.lock_shard(i);
                let allowed = self.denied_shards & (1 << i) == 0;
                if allowed && s.evictable_len(volatile_only) > 0 {
                    self.shards.push((db as DbIndex, i));
                }
            }
        }
        self.listed_for = Some(volatile_only);
        self.since_refresh = 0;
    }
}

fn shard_index(key: &[u8]) -> usize {
    crate::SlotId::of(key).index() / crate::keyspace::SLOTS_PER_SHARD
}

/// A key removed by eviction. The caller frees `entry` (off the request path
/// when it is large) and raises the `evicted` notification.
#[derive(Debug)]
pub struct Evicted {
    pub db: DbIndex,
    pub key: Vec<u8>,
    pub entry: Entry,
}

impl Keyspace {
    /// Removes one key chosen by `cfg.policy`, recording its `Del` in `log`.
    /// None when no key is a candidate (noeviction, or nothing to evict).
    pub fn evict_one(
        &self,
        pool: &mut EvictionPool,
        cfg: &EvictConfig,
        now_ms: u64,
        rand: &mut dyn FnMut() -> u64,
        log: &mut MutationLog,
    ) -> Option<Evicted> {
        if cfg.policy == Policy::NoEviction {
            return None;
        }
        let volatile = cfg.policy.volatile_only();
        if pool.listed_for != Some(volatile) || pool.since_refresh >= SHARD_LIST_REFRESH || pool.shards.is_empty() {
            pool.cands.clear();
            pool.refresh_shards(self, volatile);
        }
        pool.since_refresh += 1;
        for _ in 0..ROUNDS_MAX {
            if pool.shards.is_empty() {
                return None;
            }
            let evicted = if cfg.policy.is_random() {
                self.evict_random(pool, volatile, now_ms, rand, log)
            } else {
                self.populate(pool, cfg, now_ms, rand);
                self.evict_best(pool, volatile, now_ms, log)
            };
            if evicted.is_some() {
                return evicted;
            }
            // Every listed shard may have emptied: look again.
            pool.refresh_shards(self, volatile);
        }
        None
    }

    /// Samples `cfg.samples` keys of each database with candidates into the
    /// pool, from random listed shards (several when the shards are small).
    fn populate(&self, pool: &mut EvictionPool, cfg: &EvictConfig, now_ms: u64, rand: &mut dyn FnMut() -> u64) {
        let volatile = cfg.policy.volatile_only();
        let mut db_start = 0;
        let mut seen: Vec<(u64, Vec<u8>)> = Vec::with_capacity(cfg.samples);
        while db_start < pool.shards.len() {
            let db = pool.shards[db_start].0;
            let db_end = db_start + pool.shards[db_start..].partition_point(|&(d, _)| d == db);
            // Bounded: at most `samples` shards per database and round.
            for _ in 0..cfg.samples.min(db_end - db_start) {
                let (_, shard_idx) = pool.shards[db_start + (rand() as usize) % (db_end - db_start)];
                let shard = self.db(db).lock_shard(shard_idx);
                shard.sample(volatile, cfg.samples - seen.len(), rand, &mut |k, e| {
                    seen.push((cfg.policy.score(e, now_ms, cfg.lfu), k.to_vec()));
                });
                drop(shard);
                if seen.len() >= cfg.samples {
                    break;
                }
            }
            for (score, key) in seen.drain(..) {
                pool.offer(score, db, &key);
            }
            db_start = db_end;
        }
    }

    fn evict_best(
        &self,
        pool: &mut EvictionPool,
        volatile: bool,
        now_ms: u64,
        log: &mut MutationLog,
    ) -> Option<Evicted> {
        while let Some(c) = pool.cands.pop() {
            if let Some(e) = self.remove_for_eviction(c.db, &c.key, volatile, now_ms, log) {
                return Some(e);
            }
        }
        None
    }

    fn evict_random(
        &self,
        pool: &mut EvictionPool,
        volatile: bool,
        now_ms: u64,
        rand: &mut dyn FnMut() -> u64,
        log: &mut MutationLog,
    ) -> Option<Evicted> {
        // Rotate over the databases as Redis does, then a random listed shard of it.
        let dbs: Vec<DbIndex> = {
            let mut v: Vec<DbIndex> = pool.shards.iter().map(|&(d, _)| d).collect();
            v.dedup();
            v
        };
        let db = dbs[pool.next_db % dbs.len()];
        pool.next_db = pool.next_db.wrapping_add(1);
        let listed: Vec<usize> = pool.shards.iter().filter(|&&(d, _)| d == db).map(|&(_, s)| s).collect();
        let shard_idx = listed[(rand() as usize) % listed.len()];
        let mut key = None;
        self.db(db).lock_shard(shard_idx).sample(volatile, 1, rand, &mut |k, _| key = Some(k.to_vec()));
        self.remove_for_eviction(db, &key?, volatile, now_ms, log)
    }

    fn remove_for_eviction(
        &self,
        db: DbIndex,
        key: &[u8],
        volatile: bool,
        now_ms: u64,
        log: &mut MutationLog,
    ) -> Option<Evicted> {
        let slot = SlotId::of(key);
        let mut shard = self.db(db).lock(slot);
        let present = shard.peek(slot, key)?;
        if volatile && !present.has_expiry() {
            return None;
        }
        let version = self.next_version(now_ms);
        let entry = shard.commit_eviction(slot, &Mutation::Del { db, key, version }, log)?;
        Some(Evicted { db, key: key.to_vec(), entry })
    }
}

impl Shard {
    /// Visits up to `count` keys (only those with an expiry when
    /// `volatile_only`) from a random slot onwards, each slot from a random
    /// position. Expired keys not yet removed are included: they are the
    /// cheapest to evict. Keys of slots this node does not lead are left
    /// out: in a cluster a replica evicts nothing of its own accord (as
    /// Redis's replicas ignore maxmemory); its primary's evictions reach it
    /// as deletes.
    pub fn sample(
        &self,
        volatile_only: bool,
        count: usize,
        rand: &mut dyn FnMut() -> u64,
        visit: &mut dyn FnMut(&[u8], &Entry),
    ) {
        let slots = self.slot_count();
        if slots == 0 || count == 0 {
            return;
        }
        let start = (rand() as usize) % slots;
        let mut seen = 0;
        for i in 0..slots {
            let idx = (start + i) % slots;
            let len = if self.leads(idx) { self.slot_table_len(idx, volatile_only) } else { 0 };
            if len == 0 {
                continue;
            }
            let offset = (rand() as usize) % len;
            for (k, e) in self.slot_iter(idx).skip(offset).chain(self.slot_iter(idx).take(offset)) {
                if volatile_only && !e.has_expiry() {
                    continue;
                }
                visit(k, e);
                seen += 1;
                if seen >= count {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hlc::Version;
    use crate::mutation::Mutation;

    const T0_MS: u64 = 1_700_000_000_000;

    /// A deterministic xorshift, seeded.
    fn rng(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Key `i` written at T0 + i seconds, with expiry `expiry(i)`.
    fn keyspace(n: u64, expiry: impl Fn(u64) -> u64) -> Keyspace {
        let ks = Keyspace::new();
        for i in 0..n {
            let key = format!("key:{i:05}");
            let version = Version::from_hlc((T0_MS + i * 1000) << 16);
            assert_eq!(version.physical_ms(), T0_MS + i * 1000, "versions carry milliseconds in the high bits");
            ks.apply(&Mutation::Set { db: 0, key: key.as_bytes(), value: b"value", expire_at_ms: expiry(i), version });
        }
        ks
    }

    fn evict(ks: &Keyspace, policy: Policy, n: usize, log: &mut MutationLog) -> Vec<u64> {
        let cfg = EvictConfig { policy, samples: 10, lfu: LfuParams { log_factor: 10, decay_minutes: 1 } };
        let mut pool = EvictionPool::default();
        let mut rand = rng(0x9E37_79B9_7F4A_7C15);
        let now = T0_MS + 10_000_000;
        (0..n)
            .map_while(|_| ks.evict_one(&mut pool, &cfg, now, &mut rand, log))
            .map(|e| std::str::from_utf8(&e.key[4..]).unwrap().parse().unwrap())
            .collect()
    }

    /// A replica's keys (slots this node does not lead) are never evicted.
    #[test]
    fn keys_of_slots_not_led_here_are_not_evicted() {
        for policy in [Policy::AllKeysLru, Policy::AllKeysRandom] {
            let ks = keyspace(400, |_| 0);
            let slot = |i: u64| SlotId::of(format!("key:{i:05}").as_bytes());
            for i in 0..400 {
                ks.set_slot_expiry_owner(slot(i), false);
            }
            for i in (0..400).filter(|i| i % 4 == 0) {
                ks.set_slot_expiry_owner(slot(i), true);
            }
            let leads = |i: u64| ks.db(0).lock(slot(i)).leads(crate::keyspace::slot_in_shard(slot(i)));
            let kept = (0..400).filter(|&i| !leads(i)).count();
            assert!(kept >= 250, "{kept} keys in slots not led here");
            let gone = evict(&ks, policy, 400, &mut MutationLog::new());
            for i in &gone {
                assert!(leads(*i), "{policy:?} evicted key {i} of a slot not led here");
            }
            assert_eq!(ks.db(0).len(), kept, "{policy:?}: every key led here went, and no other");
        }
    }

    #[test]
    fn lru_takes_the_least_recently_used() {
        let ks = keyspace(400, |_| 0);
        let mut log = MutationLog::new();
        let gone = evict(&ks, Policy::AllKeysLru, 40, &mut log);
        assert_eq!(gone.len(), 40);
        let oldest_quarter = gone.iter().filter(|&&i| i < 100).count();
        assert!(oldest_quarter >= 32, "only {oldest_quarter} of 40 evictions among the oldest quarter: {gone:?}");
        // Every eviction is a Del in the log, in order.
        let dels: Vec<u64> = log
            .decode_all()
            .iter()
            .map(|m| match m {
                Mutation::Del { key, .. } => std::str::from_utf8(&key[4..]).unwrap().parse().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(dels, gone);
        assert_eq!(ks.db(0).len(), 360);
    }

    #[test]
    fn volatile_policies_take_only_keys_with_a_ttl() {
        for policy in [Policy::VolatileLru, Policy::VolatileLfu, Policy::VolatileRandom, Policy::VolatileTtl] {
            // Odd keys expire far in the future; even keys never.
            let ks = keyspace(200, |i| if i % 2 == 1 { T0_MS + 100_000_000 + i } else { 0 });
            let gone = evict(&ks, policy, 1000, &mut MutationLog::new());
            assert_eq!(gone.len(), 100, "{policy:?}");
            assert!(gone.iter().all(|i| i % 2 == 1), "{policy:?} evicted a key without a TTL");
            assert_eq!(ks.db(0).len(), 100);
        }
    }

    #[test]
    fn volatile_ttl_takes_the_soonest_expiring() {
        let ks = keyspace(400, |i| T0_MS + 100_000_000 + i * 1000);
        let gone = evict(&ks, Policy::VolatileTtl, 40, &mut MutationLog::new());
        let soonest_quarter = gone.iter().filter(|&&i| i < 100).count();
        assert!(soonest_quarter >= 32, "only {soonest_quarter} of 40 evictions among the soonest quarter");
    }

    #[test]
    fn random_and_noeviction() {
        let ks = keyspace(50, |_| 0);
        assert!(evict(&ks, Policy::NoEviction, 10, &mut MutationLog::new()).is_empty());
        let gone = evict(&ks, Policy::AllKeysRandom, 100, &mut MutationLog::new());
        let mut sorted = gone.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 50, "every key evicted once");
        assert!(ks.db(0).is_empty());
    }

    #[test]
    fn policies_round_trip_their_names() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn the_pool_keeps_the_best_scores() {
        let mut pool = EvictionPool::default();
        for i in 0..100u64 {
            pool.offer((i * 37) % 101, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.cands.len(), POOL_SIZE);
        let scores: Vec<u64> = pool.cands.iter().map(|c| c.score).collect();
        let mut all: Vec<u64> = (0..100u64).map(|i| (i * 37) % 101).collect();
        all.sort_unstable();
        assert_eq!(scores, all[all.len() - POOL_SIZE..]);
        let best = pool.cands.last().unwrap().key.clone();
        pool.offer(1000, 0, &best);
        assert_eq!(pool.cands.iter().filter(|c| c.key == best).count(), 1, "a pooled key is not added twice");
    }
}
