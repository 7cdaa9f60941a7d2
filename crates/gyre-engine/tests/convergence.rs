//! Replicas converge: mutations delivered in any order, with duplicates, and
//! with gaps repaired by fetching the key whole (a `Restore`), leave the same
//! state and the same per-slot digests as applying them in order.
//!
//! Whole-value writes (SET, DEL, RESTORE) are last-writer-wins by version.
//! Deltas (APPEND, EXPIRE, collection ops) apply only on the version they
//! followed at the source (`prev`); a receiver that holds an older one has
//! missed something and takes the key's state after the delta instead. The
//! source writes through `Shard::commit` and ships what its change feed says,
//! `prev` included.

use bytes::Bytes;
use gyre_engine::mutation::decode_fed;
use gyre_engine::types::HashOp;
use gyre_engine::{CollOp, Keyspace, Mutation, MutationLog, SlotId, Version, NO_EXPIRY};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000_000;
const KEYS: &[&[u8]] = &[b"a", b"b", b"{t}c", b"{t}d", b"e"];

#[derive(Debug, Clone)]
enum Op {
    Set(usize, u8),
    Del(usize),
    Append(usize, u8),
    Expire(usize, u16),
    HSet(usize, u8, u8),
    HDel(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    prop_oneof![
        (k.clone(), any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        k.clone().prop_map(Op::Del),
        (k.clone(), any::<u8>()).prop_map(|(k, v)| Op::Append(k, v)),
        (k.clone(), any::<u16>()).prop_map(|(k, s)| Op::Expire(k, s)),
        (k.clone(), 0..4u8, any::<u8>()).prop_map(|(k, f, v)| Op::HSet(k, f, v)),
        (k, 0..4u8).prop_map(|(k, f)| Op::HDel(k, f)),
    ]
}

/// A mutation as the source produced it, with what a receiver needs.
#[derive(Debug, Clone)]
struct Shipped {
    m: Mutation<Bytes>,
    /// The key's version at the source before `m` (ZERO: absent).
    prev: Version,
    /// The key's state at the source right after `m`, for gap repair: a
    /// Restore, or a Del when `m` left it absent.
    after: Mutation<Bytes>,
    delta: bool,
}

fn entry_version(ks: &Keyspace, key: &[u8]) -> Version {
    let slot = SlotId::of(key);
    ks.db(0).lock(slot).peek(slot, key).map_or(Version::ZERO, |e| e.version)
}

/// The version a receiver holds for `key`, tombstones included.
fn key_version(ks: &Keyspace, key: &[u8]) -> Version {
    let slot = SlotId::of(key);
    ks.db(0).lock(slot).key_version(slot, key)
}

fn state_after(ks: &Keyspace, key: &[u8], version: Version) -> Mutation<Bytes> {
    let slot = SlotId::of(key);
    let shard = ks.db(0).lock(slot);
    match shard.peek(slot, key) {
        Some(e) => {
            let mut value = Vec::new();
            e.value.serialize(&mut value);
            Mutation::Restore {
                db: 0,
                key: Bytes::copy_from_slice(key),
                value: value.into(),
                expire_at_ms: e.expire_at_ms,
                version: e.version,
            }
        }
        None => Mutation::Del { db: 0, key: Bytes::copy_from_slice(key), version },
    }
}

/// Runs `ops` on a source keyspace; returns what its change feed shipped.
fn produce(source: &Keyspace, ops: &[Op]) -> Vec<Shipped> {
    source.set_feeding(true);
    let mut log = MutationLog::new();
    let mut shipped = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let version = source.next_version(NOW + i as u64);
        let key = |k: usize| Bytes::from_static(KEYS[k]);
        let (m, delta) = match op {
            Op::Set(k, v) => (
                Mutation::Set { db: 0, key: key(*k), value: Bytes::from(vec![*v]), expire_at_ms: NO_EXPIRY, version },
                false,
            ),
            Op::Del(k) => (Mutation::Del { db: 0, key: key(*k), version }, false),
            Op::Append(k, v) => (Mutation::Append { db: 0, key: key(*k), data: Bytes::from(vec![*v]), version }, true),
            Op::Expire(k, s) => {
                (Mutation::Expire { db: 0, key: key(*k), expire_at_ms: NOW + 1_000_000 + u64::from(*s), version }, true)
            }
            Op::HSet(k, f, v) => {
                let pairs = vec![(Bytes::from(vec![b'f', *f]), Bytes::from(vec![*v]))];
                (Mutation::Coll { db: 0, key: key(*k), op: CollOp::Hash(HashOp::Set { pairs }), version }, true)
            }
            Op::HDel(k, f) => {
                let fields = vec![Bytes::from(vec![b'f', *f])];
                (Mutation::Coll { db: 0, key: key(*k), op: CollOp::Hash(HashOp::Del { fields }), version }, true)
            }
        };
        let k = m.key().expect("single key").1.to_vec();
        let prev = entry_version(source, &k);
        // A command checks types before it writes; deltas of the wrong type
        // are not commands a source would ship.
        let wrong_type = {
            let slot = SlotId::of(&k);
            let shard = source.db(0).lock(slot);
            let held = shard.peek(slot, &k).map(|e| e.value.type_name());
            match op {
                Op::Append(..) => held.is_some_and(|t| t != "string"),
                Op::HSet(..) | Op::HDel(..) => held.is_some_and(|t| t != "hash"),
                Op::Expire(..) => held.is_none(),
                _ => false,
            }
        };
        if wrong_type || (matches!(op, Op::HDel(..)) && prev == Version::ZERO) {
            continue;
        }
        let slot = SlotId::of(&k);
        let mut feed = Vec::new();
        let known = {
            let mut shard = source.db(0).lock(slot);
            let known = shard.key_version(slot, &k);
            shard.commit(slot, &m.as_ref(), &mut log);
            shard.take_feed(&mut |piece| feed.extend_from_slice(piece));
            known
        };
        log.clear();
        let fed = decode_fed(&Bytes::from(feed)).expect("the feed decodes");
        assert_eq!(fed.mutation, m);
        assert_eq!(fed.prev, Some(known), "a feed record names the version its key was at");
        assert!(prev == known || prev == Version::ZERO, "an absent key's prev is its tombstone's version");
        let prev = known;
        let after = state_after(source, &k, version);
        shipped.push(Shipped { m, prev, after, delta });
    }
    shipped
}

/// Delivers one shipped mutation to a receiver, repairing a gap.
fn deliver(r: &Keyspace, s: &Shipped) {
    if !s.delta {
        r.apply(&s.m);
        return;
    }
    let key = s.m.key().expect("single key").1.to_vec();
    let have = key_version(r, &key);
    if have >= s.m.version() {
        return; // already reflected (a duplicate, or a later whole value)
    }
    if have == s.prev {
        r.apply(&s.m);
    } else {
        r.apply(&s.after); // a gap: fetch the key whole
    }
}

fn digests(ks: &Keyspace) -> Vec<(u16, u64)> {
    let mut slots: Vec<u16> = KEYS.iter().map(|k| SlotId::of(k).0).collect();
    slots.sort_unstable();
    slots.dedup();
    slots.into_iter().map(|s| (s, ks.slot_digest(0, SlotId(s)))).collect()
}

fn contents(ks: &Keyspace) -> Vec<(Vec<u8>, String, u64, Version)> {
    let mut out = Vec::new();
    for key in KEYS {
        let slot = SlotId::of(key);
        if let Some(e) = ks.db(0).lock(slot).peek(slot, key) {
            out.push((key.to_vec(), format!("{:?}", e.value), e.expire_at_ms, e.version));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_with_duplicates_converges(
        ops in proptest::collection::vec(op(), 1..60),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..120),
    ) {
        let source = Keyspace::new();
        let shipped = produce(&source, &ops);
        // In order: the reference.
        let in_order = Keyspace::new();
        for s in &shipped {
            deliver(&in_order, s);
        }
        prop_assert_eq!(contents(&in_order), contents(&source));
        prop_assert_eq!(digests(&in_order), digests(&source));
        // Shuffled, with duplicates: every shipped mutation once in a random
        // order, then random re-deliveries.
        let mut idx: Vec<usize> = (0..shipped.len()).collect();
        for (i, pick) in order.iter().enumerate().take(idx.len()) {
            let j = i + pick.index(idx.len() - i);
            idx.swap(i, j);
        }
        if !shipped.is_empty() {
            idx.extend(order.iter().map(|p| p.index(shipped.len())));
        }
        let shuffled = Keyspace::new();
        for &i in &idx {
            deliver(&shuffled, &shipped[i]);
        }
        prop_assert_eq!(contents(&shuffled), contents(&source));
        prop_assert_eq!(digests(&shuffled), digests(&source));
    }
}

#[test]
fn the_digest_tells_versions_and_tombstones_apart() {
    let a = Keyspace::new();
    let b = Keyspace::new();
    let key = Bytes::from_static(b"k");
    let slot = SlotId::of(b"k");
    let v1 = a.next_version(NOW);
    let set = Mutation::Set {
        db: 0,
        key: key.clone(),
        value: Bytes::from_static(b"x"),
        expire_at_ms: NO_EXPIRY,
        version: v1,
    };
    assert_eq!(a.slot_digest(0, slot), 0);
    a.apply(&set);
    b.apply(&set);
    assert_eq!(a.slot_digest(0, slot), b.slot_digest(0, slot));
    assert_ne!(a.slot_digest(0, slot), 0);
    let v2 = a.next_version(NOW);
    a.apply(&Mutation::Del { db: 0, key: key.clone(), version: v2 });
    assert_ne!(a.slot_digest(0, slot), b.slot_digest(0, slot), "a tombstone is not the key");
    assert_ne!(a.slot_digest(0, slot), 0, "the tombstone counts");
    b.apply(&Mutation::Del { db: 0, key, version: v2 });
    assert_eq!(a.slot_digest(0, slot), b.slot_digest(0, slot));
}

/// `Forget` removes a key or a tombstone held at exactly its version and
/// leaves nothing behind (so an older write applies again); any other
/// version is left alone, which is what makes replaying it safe.
#[test]
fn forget_takes_exactly_the_version_it_names() {
    let ks = Keyspace::new();
    let key = Bytes::from_static(b"k");
    let slot = SlotId::of(b"k");
    let (v0, v1) = (ks.next_version(NOW), ks.next_version(NOW));
    let set = |version| Mutation::Set {
        db: 0,
        key: key.clone(),
        value: Bytes::from_static(b"x"),
        expire_at_ms: NO_EXPIRY,
        version,
    };
    let forget = |version| Mutation::Forget { db: 0, key: key.clone(), version };
    ks.apply(&set(v1));
    assert!(!ks.apply(&forget(v0)), "another version stays");
    assert_ne!(ks.slot_digest(0, slot), 0);
    assert!(ks.apply(&forget(v1)));
    assert_eq!(ks.slot_digest(0, slot), 0, "no tombstone is left");
    assert!(ks.apply(&set(v0)), "an older write applies again");
    let v2 = ks.next_version(NOW);
    ks.apply(&Mutation::Del { db: 0, key: key.clone(), version: v2 });
    assert_ne!(ks.slot_digest(0, slot), 0, "the tombstone counts");
    assert!(ks.apply(&forget(v2)));
    assert_eq!(ks.slot_digest(0, slot), 0, "the tombstone went");
    assert!(ks.slot_versions(0, slot).is_empty());
}
