//! Keyspace behaviour through its public API: lookups, expiry, mutations and
//! replay, SCAN guarantees, database operations.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use gyre_engine::{
    Keyspace, Mutation, MutationLog, Now, SlotId, Value, Version, NO_EXPIRY, PREFETCH_KEYS_MAX, PREFETCH_SHARD_KEYS_MIN,
};
use proptest::prelude::*;

fn set(ks: &Keyspace, log: &mut MutationLog, key: &[u8], value: &[u8], expire_at_ms: u64, now: u64) {
    let slot = SlotId::of(key);
    let version = ks.next_version(now);
    ks.db(0).lock(slot).commit(slot, &Mutation::Set { db: 0, key, value, expire_at_ms, version }, log);
}

fn get(ks: &Keyspace, key: &[u8], now: u64) -> Option<Value> {
    let slot = SlotId::of(key);
    ks.db(0).lock(slot).get(slot, key, Now::at(now)).map(|e| e.value.clone())
}

#[test]
fn commit_records_the_mutation_it_applies() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, b"k", b"v", NO_EXPIRY, 1_000);
    assert_eq!(get(&ks, b"k", 1_000), Some(Value::from_bytes(b"v")));
    let ms = log.decode_all();
    assert_eq!(ms.len(), 1);
    match &ms[0] {
        Mutation::Set { db: 0, key, value, expire_at_ms: NO_EXPIRY, version } => {
            assert_eq!(&key[..], b"k");
            assert_eq!(&value[..], b"v");
            assert_eq!(version.physical_ms(), 1_000);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn expired_keys_are_invisible_and_removed_on_access() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, b"k", b"v", 1_500, 1_000);
    assert!(get(&ks, b"k", 1_499).is_some());
    assert!(get(&ks, b"k", 1_500).is_none());
    assert_eq!(ks.db(0).len(), 0, "the lookup removed it");
    assert_eq!(ks.stats().expired, 1);
}

#[test]
fn an_unconditional_set_over_an_expired_key_counts_the_expiry_once() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, b"k", b"old", 1_500, 1_000);
    set(&ks, &mut log, b"live", b"v", 5_000, 1_000);
    assert_eq!(ks.db(0).volatile_len(), 2);
    let commit_set = |key: &[u8], value: &[u8], expire_at_ms: u64, now: u64, log: &mut MutationLog| {
        let slot = SlotId::of(key);
        let version = ks.next_version(now);
        let m = Mutation::Set { db: 0, key, value, expire_at_ms, version };
        ks.db(0).lock(slot).commit_set(slot, &m, now, log).is_some()
    };
    let (keys, expired) = gyre_engine::expired::collecting(|| {
        // Expired at 1_500: replaced, and counted as expired, not as a live overwrite.
        assert!(commit_set(b"k", b"new", NO_EXPIRY, 2_000, &mut log));
        // Live: an overwrite only.
        assert!(commit_set(b"live", b"w", NO_EXPIRY, 2_000, &mut log));
        assert!(!commit_set(b"fresh", b"x", 9_000, 2_000, &mut log));
        ks.db(0).len()
    });
    assert_eq!(keys, 3);
    assert_eq!(expired, vec![(0, b"k".to_vec())]);
    assert_eq!(ks.stats().expired, 1);
    assert_eq!(ks.db(0).volatile_len(), 1, "only `fresh` has a TTL now");
    assert_eq!(get(&ks, b"k", 2_000), Some(Value::from_bytes(b"new")));
    assert_eq!(log.decode_all().len(), 5, "every SET is recorded");
}

#[test]
fn active_expiry_removes_expired_keys_without_lookups() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..5_000 {
        let expiry = if i % 2 == 0 { 2_000 } else { NO_EXPIRY };
        set(&ks, &mut log, format!("key:{i}").as_bytes(), b"v", expiry, 1_000);
    }
    assert_eq!(ks.db(0).volatile_len(), 2_500);
    // Nothing has expired yet: a cycle checks some keys and stops early.
    let c = ks.active_expire(1_500, &mut || true);
    assert_eq!(c.expired, 0);
    assert!(c.checked <= 100, "stops after a quiet round, checked {}", c.checked);
    // Everything with a TTL has expired: cycles keep going while most are stale.
    let mut total = 0;
    for _ in 0..100 {
        total += ks.active_expire(3_000, &mut || true).expired;
    }
    assert_eq!(total, 2_500);
    assert_eq!(ks.db(0).len(), 2_500);
    assert_eq!(ks.db(0).volatile_len(), 0);
}

#[test]
fn active_expiry_respects_its_time_budget() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..1_000 {
        set(&ks, &mut log, format!("k{i}").as_bytes(), b"v", 2_000, 1_000);
    }
    let c = ks.active_expire(3_000, &mut || false);
    assert!(c.out_of_time);
    assert!(c.expired < 1_000, "one round only, expired {}", c.expired);
}

#[test]
fn replay_is_idempotent_and_ignores_older_versions() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, b"a", b"1", NO_EXPIRY, 1_000);
    set(&ks, &mut log, b"a", b"2", NO_EXPIRY, 1_001);
    let ms = log.decode_all();
    let replica = Keyspace::new();
    for m in ms.iter().chain(ms.iter()) {
        replica.apply(m);
    }
    assert_eq!(get(&replica, b"a", 2_000), Some(Value::Int(2)));
    // An older write arriving late changes nothing.
    assert!(!replica.apply(&ms[0]));
    assert_eq!(get(&replica, b"a", 2_000), Some(Value::Int(2)));
    assert!(replica.clock().last() >= ms[1].version());
}

#[test]
fn flush_replay_keeps_newer_keys() {
    let ks = Keyspace::new();
    ks.apply(&Mutation::Set {
        db: 0,
        key: &b"old"[..],
        value: &b"v"[..],
        expire_at_ms: 0,
        version: Version::from_hlc(10),
    });
    ks.apply(&Mutation::Set {
        db: 0,
        key: &b"new"[..],
        value: &b"v"[..],
        expire_at_ms: 0,
        version: Version::from_hlc(30),
    });
    ks.apply(&Mutation::<&[u8]>::FlushDb { db: 0, version: Version::from_hlc(20) });
    assert!(get(&ks, b"old", 0).is_none());
    assert!(get(&ks, b"new", 0).is_some());
}

#[test]
fn swapdb_swaps_contents_atomically() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, b"k", b"v", NO_EXPIRY, 1);
    ks.swap_db(0, 5, 2, &mut log, None);
    assert_eq!(ks.db(0).len(), 0);
    assert_eq!(ks.db(5).len(), 1);
    assert!(matches!(log.decode_all().last(), Some(Mutation::SwapDb { a: 0, b: 5, .. })));
}

#[test]
fn scan_returns_every_key_once_despite_concurrent_inserts() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..3_000 {
        set(&ks, &mut log, format!("k{i}").as_bytes(), b"v", NO_EXPIRY, 1);
    }
    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut extra = 0;
    loop {
        cursor = ks.db(0).scan(cursor, 10, 1, |k, _| seen.push(k.to_vec()));
        // Inserts between steps (which resize tables) must not make SCAN miss
        // or repeat keys that were there from the start.
        for _ in 0..5 {
            set(&ks, &mut log, format!("extra{extra}").as_bytes(), b"v", NO_EXPIRY, 1);
            extra += 1;
        }
        if cursor == 0 {
            break;
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    for i in 0..3_000 {
        assert!(unique.contains(format!("k{i}").as_bytes()), "k{i} missing");
    }
}

#[test]
fn scan_splits_a_huge_slot_into_bounded_steps() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..2_000 {
        set(&ks, &mut log, format!("{{tag}}:{i}").as_bytes(), b"v", NO_EXPIRY, 1);
    }
    let mut steps = 0;
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let mut n = 0;
        cursor = ks.db(0).scan(cursor, 10, 1, |k, _| {
            n += 1;
            assert!(seen.insert(k.to_vec()));
        });
        assert!(n <= 2_000 / 32 + 10, "step returned {n} keys");
        steps += 1;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 2_000);
    assert!(steps >= 30, "{steps} steps");
}

#[test]
fn random_key_finds_live_keys_only() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    let mut state = 12345u64;
    let mut rng = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    assert!(ks.db(0).random_key(Now::at(1), &mut rng).is_none());
    set(&ks, &mut log, b"dead", b"v", 5, 1);
    set(&ks, &mut log, b"live", b"v", NO_EXPIRY, 1);
    for _ in 0..20 {
        assert_eq!(ks.db(0).random_key(Now::at(10), &mut rng).as_deref(), Some(&b"live"[..]));
    }
}

/// Operations of the replay property test, over a handful of keys.
#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, Option<u64>),
    Append(u8, u8),
    SetRange(u8, u8, u8),
    Expire(u8, u64),
    Del(u8),
    Flush,
    Advance(u64),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8u8, any::<u8>(), proptest::option::of(1..50u64)).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        (0..8u8, any::<u8>()).prop_map(|(k, v)| Op::Append(k, v)),
        (0..8u8, 0..6u8, any::<u8>()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        (0..8u8, 0..50u64).prop_map(|(k, t)| Op::Expire(k, t)),
        (0..8u8).prop_map(Op::Del),
        Just(Op::Flush),
        (1..20u64).prop_map(Op::Advance),
    ]
}

/// Runs `ops` the way command handlers do (decide on the live state, commit one
/// mutation), mirroring them in a model; returns the final state.
fn run(ops: &[Op], ks: &Keyspace, log: &mut MutationLog) -> BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
    let mut model: BTreeMap<Vec<u8>, (Vec<u8>, u64)> = BTreeMap::new();
    let mut now = 1_000u64;
    for op in ops {
        model.retain(|_, (_, exp)| *exp == NO_EXPIRY || *exp > now);
        let version = ks.next_version(now);
        let key_of = |k: u8| vec![b'k', k];
        match *op {
            Op::Set(k, v, ttl) => {
                let key = key_of(k);
                let exp = ttl.map_or(NO_EXPIRY, |t| now + t);
                let slot = SlotId::of(&key);
                ks.db(0).lock(slot).commit(
                    slot,
                    &Mutation::Set { db: 0, key: &key, value: &[v], expire_at_ms: exp, version },
                    log,
                );
                model.insert(key, (vec![v], exp));
            }
            Op::Append(k, v) | Op::SetRange(k, _, v) => {
                let key = key_of(k);
                let slot = SlotId::of(&key);
                let mut shard = ks.db(0).lock(slot);
                let live = shard.get(slot, &key, Now::at(now)).is_some();
                let offset =
                    if let Op::SetRange(_, o, _) = *op { o as usize } else { model.get(&key).map_or(0, |e| e.0.len()) };
                if live {
                    let m = if let Op::Append(..) = *op {
                        Mutation::Append { db: 0, key: &key[..], data: &[v][..], version }
                    } else {
                        Mutation::SetRange { db: 0, key: &key[..], offset: offset as u64, data: &[v][..], version }
                    };
                    shard.commit(slot, &m, log);
                    let e = model.get_mut(&key).expect("live");
                    if e.0.len() < offset + 1 {
                        e.0.resize(offset + 1, 0);
                    }
                    e.0[offset] = v;
                } else {
                    let mut value = vec![0; offset + 1];
                    value[offset] = v;
                    shard.commit(
                        slot,
                        &Mutation::Set { db: 0, key: &key, value: &value, expire_at_ms: NO_EXPIRY, version },
                        log,
                    );
                    model.insert(key, (value, NO_EXPIRY));
                }
            }
            Op::Expire(k, t) => {
                let key = key_of(k);
                let slot = SlotId::of(&key);
                let mut shard = ks.db(0).lock(slot);
                if shard.get(slot, &key, Now::at(now)).is_some() {
                    shard.commit(slot, &Mutation::Expire { db: 0, key: &key, expire_at_ms: now + t + 1, version }, log);
                    model.get_mut(&key).expect("live").1 = now + t + 1;
                }
            }
            Op::Del(k) => {
                let key = key_of(k);
                let slot = SlotId::of(&key);
                let mut shard = ks.db(0).lock(slot);
                if shard.get(slot, &key, Now::at(now)).is_some() {
                    shard.commit(slot, &Mutation::Del { db: 0, key: &key, version }, log);
                    model.remove(&key);
                }
            }
            Op::Flush => {
                ks.flush_db(0, now, log);
                model.clear();
            }
            Op::Advance(ms) => now += ms,
        }
    }
    model.retain(|_, (_, exp)| *exp == NO_EXPIRY || *exp > now);
    model
}

fn live_state(ks: &Keyspace, now: u64) -> BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
    let mut state = BTreeMap::new();
    let mut cursor = 0;
    loop {
        cursor = ks.db(0).scan(cursor, 100, now, |k, e| {
            let mut s = itoa::Buffer::new();
            state.insert(k.to_vec(), (e.value.as_bytes(&mut s).to_vec(), e.expire_at_ms));
        });
        if cursor == 0 {
            return state;
        }
    }
}

proptest! {
    /// The engine matches a model, and replaying its mutations on a fresh
    /// keyspace (once, or twice: idempotence) yields the same live state.
    #[test]
    fn mutations_replay_to_the_same_state(ops in proptest::collection::vec(arb_op(), 0..80)) {
        let ks = Keyspace::new();
        let mut log = MutationLog::new();
        let model = run(&ops, &ks, &mut log);
        let end = 1_000 + ops.iter().map(|o| if let Op::Advance(ms) = o { *ms } else { 0 }).sum::<u64>();
        prop_assert_eq!(&live_state(&ks, end), &model);
        let mutations: Vec<Mutation<Bytes>> = log.decode_all();
        for times in 1..=2 {
            let replica = Keyspace::new();
            for _ in 0..times {
                for m in &mutations {
                    replica.apply(m);
                }
            }
            prop_assert_eq!(&live_state(&replica, end), &model);
        }
    }
}

/// The test's threads, lent to `Keyspace::apply_all`.
struct ScopedThreads(usize);

impl gyre_engine::Workers for ScopedThreads {
    fn count(&self) -> usize {
        self.0
    }

    fn run<'a>(&self, jobs: Vec<gyre_engine::Job<'a>>) {
        std::thread::scope(|s| {
            for job in jobs {
                s.spawn(job);
            }
        });
    }
}

/// Replay on several threads (`Keyspace::apply_all`) ends in the same state
/// as the model: every key sees its mutations in order (appends and
/// set-ranges would differ otherwise), and a FLUSHDB in the middle is a
/// barrier. Long enough that the runs between barriers go parallel.
#[test]
fn parallel_replay_matches_the_model() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let ops: Vec<Op> = (0..8000)
        .map(|i| {
            if i == 4000 {
                return Op::Flush;
            }
            let k = rng.gen_range(0..64u8);
            match rng.gen_range(0..10) {
                0..=3 => Op::Append(k, rng.gen()),
                4 | 5 => Op::Set(k, rng.gen(), rng.gen_bool(0.2).then(|| rng.gen_range(1..50))),
                6 => Op::SetRange(k, rng.gen_range(0..6), rng.gen()),
                7 => Op::Expire(k, rng.gen_range(0..50)),
                8 => Op::Del(k),
                _ => Op::Advance(rng.gen_range(1..3)),
            }
        })
        .collect();
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    let model = run(&ops, &ks, &mut log);
    let end = 1_000 + ops.iter().map(|o| if let Op::Advance(ms) = o { *ms } else { 0 }).sum::<u64>();
    let mutations: Vec<Mutation<Bytes>> = log.decode_all();
    assert!(mutations.len() > 4 * 1024, "{} mutations", mutations.len());
    for threads in [1, 2, 4] {
        let replica = Keyspace::new();
        replica.apply_all(&mutations, &ScopedThreads(threads));
        assert_eq!(live_state(&replica, end), model, "{threads} threads");
        // The clock has seen every replayed version: new writes sort after them.
        let newest = mutations.iter().map(|m| m.version()).max().unwrap();
        assert!(replica.next_version(0) > newest, "{threads} threads");
    }
}

#[test]
fn prefetch_changes_nothing_and_skips_a_shard_held_elsewhere() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    // Short keys (inline in their node) and long ones (behind a pointer),
    // present and absent, one repeated, more than one prefetch takes, all
    // in one shard (one hash tag).
    let keys: Vec<Vec<u8>> = (0..40)
        .map(|i| if i % 2 == 0 { format!("{{t}}k{i}") } else { format!("{{t}}a-key-long-enough-for-the-heap:{i}") })
        .map(String::into_bytes)
        .collect();
    for k in keys.iter().step_by(3) {
        set(&ks, &mut log, k, b"v", NO_EXPIRY, 1_000);
    }
    let mut refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    refs.push(b"{t}k0");
    // A keyspace that stays in the caches gets no hints.
    assert_eq!(ks.prefetch(0, &refs), 0);
    // Past the bound, hints for as many keys as one prefetch takes.
    for i in 0..PREFETCH_SHARD_KEYS_MIN {
        set(&ks, &mut log, format!("{{t}}fill{i}").as_bytes(), b"v", NO_EXPIRY, 1_000);
    }
    let before: Vec<Option<Value>> = keys.iter().map(|k| get(&ks, k, 1_000)).collect();
    let logged = log.decode_all().len();
    assert_eq!(ks.prefetch(0, &refs), PREFETCH_KEYS_MAX);
    assert_eq!(ks.prefetch(0, &refs[..3]), 3);
    // A shard held by another guard (here, this thread's own: a blocking
    // lock would never return) is passed over.
    {
        let _guard = ks.db(0).lock(SlotId::of(b"{t}"));
        assert_eq!(ks.prefetch(0, &refs), 0);
    }
    assert_eq!(ks.prefetch(5, &refs), 0, "an empty database");
    let after: Vec<Option<Value>> = keys.iter().map(|k| get(&ks, k, 1_000)).collect();
    assert_eq!(before, after);
    assert_eq!(log.decode_all().len(), logged, "prefetching logged nothing");
}
