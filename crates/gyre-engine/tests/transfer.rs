//! Moving a slot: a receiver that applies its source's feed for the slot
//! from the moment it subscribed, interleaved with an export of the slot
//! read while writes go on, ends with the same slot (same digest) as the
//! source, gaps healed by the export.

use bytes::Bytes;
use gyre_engine::keyspace::records;
use gyre_engine::mutation::decode_fed;
use gyre_engine::{Fed, Keyspace, Mutation, MutationLog, SlotId, Version, NO_EXPIRY};
use rand::{Rng, SeedableRng};

const NOW: u64 = 1_700_000_000_000;

/// Keys all in one slot (hash tag), plus one elsewhere in the same shard's reach.
fn key(i: u32) -> Vec<u8> {
    format!("{{moving}}k{i}").into_bytes()
}

fn write(ks: &Keyspace, log: &mut MutationLog, rng: &mut impl Rng, now: u64) {
    let k = key(rng.gen_range(0..200));
    let slot = SlotId::of(&k);
    let mut shard = ks.db(0).lock(slot);
    let version = ks.next_version(now);
    let live = shard.peek(slot, &k).is_some_and(|e| e.value.is_string());
    let m = match rng.gen_range(0..4) {
        0 => Mutation::Set { db: 0, key: &k[..], value: &b"v"[..], expire_at_ms: NO_EXPIRY, version },
        1 if live => Mutation::Append { db: 0, key: &k[..], data: &b"+"[..], version },
        2 if shard.peek(slot, &k).is_some() => Mutation::Del { db: 0, key: &k[..], version },
        _ => Mutation::Set { db: 0, key: &k[..], value: &b"w"[..], expire_at_ms: NO_EXPIRY, version },
    };
    shard.commit(slot, &m, log);
}

/// Takes the source's feed for `slot` into the stream (what a tap does).
fn tap(source: &Keyspace, slot: SlotId, stream: &mut Vec<Bytes>) {
    let mut bytes = Vec::new();
    source.take_all_feeds(&mut |piece| bytes.extend_from_slice(piece));
    let bytes = Bytes::from(bytes);
    stream.extend(records(&bytes).filter(|(_, s)| *s == Some(slot)).map(|(r, _)| r));
}

fn apply_stream(receiver: &Keyspace, stream: &[Bytes]) -> (usize, usize) {
    let mut log = MutationLog::new();
    let (mut applied, mut gaps) = (0, 0);
    for r in stream {
        let d = decode_fed(r).expect("a record");
        match receiver.apply_fed(&d.mutation, d.prev.expect("feed records name prev"), &mut log) {
            Fed::Applied => applied += 1,
            Fed::Gap { .. } => gaps += 1,
            Fed::Held => {}
        }
        log.clear();
    }
    (applied, gaps)
}

fn contents(ks: &Keyspace) -> Vec<(u32, String, Version)> {
    (0..200)
        .filter_map(|i| {
            let k = key(i);
            let slot = SlotId::of(&k);
            let shard = ks.db(0).lock(slot);
            shard.peek(slot, &k).map(|e| (i, format!("{:?}", e.value), e.version))
        })
        .collect()
}

#[test]
fn a_slot_copied_under_writes_converges_through_its_feed() {
    for seed in 0..20u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let source = Keyspace::new();
        source.set_feeding(true);
        let mut log = MutationLog::new();
        for i in 0..300 {
            write(&source, &mut log, &mut rng, NOW + i);
        }
        source.take_all_feeds(&mut |_| {});
        log.clear();
        let slot = SlotId::of(&key(0));
        // Subscribe (from now on the feed goes to the stream), then export in
        // small chunks with writes (and feed taps) in between.
        let mut stream = Vec::new();
        let mut now = NOW + 1_000;
        let mut first = Vec::new();
        let keys = source.slot_keys(0, slot, &mut first);
        let first = Bytes::from(first);
        stream.extend(records(&first).map(|(r, _)| r));
        let mut done = 0;
        while done < keys.len() {
            for _ in 0..rng.gen_range(0..6) {
                write(&source, &mut log, &mut rng, now);
                now += 1;
                if rng.gen_bool(0.5) {
                    tap(&source, slot, &mut stream);
                }
            }
            tap(&source, slot, &mut stream);
            let mut chunk = Vec::new();
            done += source.export_keys(0, &keys[done..], 200, now, &mut chunk);
            let chunk = Bytes::from(chunk);
            stream.extend(records(&chunk).map(|(r, _)| r));
            log.clear();
        }
        tap(&source, slot, &mut stream);
        let receiver = Keyspace::new();
        let (applied, _gaps) = apply_stream(&receiver, &stream);
        assert!(applied > 0);
        assert_eq!(
            receiver.slot_digest(0, slot),
            source.slot_digest(0, slot),
            "seed {seed}: the receiver's slot differs from the source's"
        );
        assert_eq!(contents(&receiver), contents(&source), "seed {seed}: values differ");
        // Replaying the whole stream again changes nothing.
        let before = receiver.slot_digest(0, slot);
        apply_stream(&receiver, &stream);
        assert_eq!(receiver.slot_digest(0, slot), before, "seed {seed}");
    }
}

#[test]
fn a_delta_that_does_not_follow_what_the_receiver_holds_is_a_gap() {
    let receiver = Keyspace::new();
    let mut log = MutationLog::new();
    let v1 = Version::new(10, 1);
    let v2 = Version::new(11, 1);
    let append = Mutation::Append { db: 0, key: &b"k"[..], data: &b"x"[..], version: v2 };
    assert_eq!(receiver.apply_fed(&append, v1, &mut log), Fed::Gap { have: Version::ZERO });
    let set = Mutation::Set { db: 0, key: &b"k"[..], value: &b"a"[..], expire_at_ms: NO_EXPIRY, version: v1 };
    assert_eq!(receiver.apply_fed(&set, Version::ZERO, &mut log), Fed::Applied);
    assert_eq!(receiver.apply_fed(&append, v1, &mut log), Fed::Applied);
    assert_eq!(receiver.apply_fed(&append, v1, &mut log), Fed::Held, "a duplicate");
    assert_eq!(log.len(), 2, "what was applied is recorded for the receiver's own log");
}

#[test]
fn a_dropped_slot_forgets_keys_and_tombstones_and_takes_an_older_copy_again() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    let slot = SlotId::of(&key(0));
    let other = b"elsewhere".to_vec();
    let old = Version::at_ms(NOW - 10_000);
    {
        let mut shard = ks.db(0).lock(slot);
        for i in 0..50 {
            let k = key(i);
            let m = Mutation::Set { db: 0, key: &k[..], value: &b"v"[..], expire_at_ms: NO_EXPIRY, version: old };
            shard.commit(slot, &m, &mut log);
        }
        let k = key(0);
        let del = Mutation::Del { db: 0, key: &k[..], version: ks.next_version(NOW) };
        shard.commit(slot, &del, &mut log);
    }
    {
        let oslot = SlotId::of(&other);
        let m = Mutation::Set { db: 0, key: &other[..], value: &b"o"[..], expire_at_ms: NO_EXPIRY, version: old };
        ks.db(0).lock(oslot).commit(oslot, &m, &mut log);
    }
    assert_eq!(ks.db(0).lock(slot).slot_len(slot), 49);
    let mut drop_log = MutationLog::new();
    let detached = ks.drop_slots(0, &[slot], NOW, &mut drop_log, None);
    assert_eq!(detached.len(), 49);
    assert_eq!(ks.db(0).lock(slot).slot_len(slot), 0);
    assert_eq!(ks.db(0).lock(slot).slot_digest(slot), 0, "keys and tombstones are gone");
    assert!(ks.db(0).lock(SlotId::of(&other)).peek(SlotId::of(&other), &other).is_some(), "other slots stay");
    // A copy from another node, older than the drop and than the local
    // tombstone, applies in full: nothing of the old copy is in its way.
    let k = key(0);
    let restore = Mutation::Set { db: 0, key: &k[..], value: &b"new"[..], expire_at_ms: NO_EXPIRY, version: old };
    assert_eq!(ks.apply_fed(&restore, Version::ZERO, &mut MutationLog::new()), Fed::Applied);
    // The drop replays from its record: decoded, it drops the slot again.
    let bytes = Bytes::from(drop_log.bytes().to_vec());
    let d = decode_fed(&bytes).expect("the drop record decodes");
    assert!(matches!(d.mutation, Mutation::DropSlot { db: 0, slot: s, .. } if s == slot.0));
    assert!(ks.apply(&d.mutation), "replaying the drop removes the key applied since");
    assert_eq!(ks.db(0).lock(slot).slot_len(slot), 0);
}

/// Anti-entropy's narrowing: two copies of a slot that differ in a few
/// keys (missing, older, of another lineage, unknown to the primary,
/// deleted on one side) differ in a few digest buckets; the keys of those
/// buckets whose versions differ, repaired with `export_repair`'s records
/// applied as feed records, make the replica's copy equal the primary's.
#[test]
fn diverged_copies_converge_through_the_repair_of_the_buckets_that_differ() {
    use gyre_engine::keyspace::differing_keys;
    let primary = Keyspace::new();
    let replica = Keyspace::new();
    let slot = SlotId::of(&key(0));
    let set = |ks: &Keyspace, i: u32, value: &[u8], version: Version| {
        let k = key(i);
        let m = Mutation::Set { db: 0, key: &k[..], value, expire_at_ms: NO_EXPIRY, version };
        ks.db(0).lock(slot).commit(slot, &m, &mut MutationLog::new());
    };
    let del = |ks: &Keyspace, i: u32, version: Version| {
        let k = key(i);
        ks.db(0).lock(slot).commit(slot, &Mutation::Del { db: 0, key: &k[..], version }, &mut MutationLog::new());
    };
    let at = |ms: u64, node: u16| Version::new(ms << 16, node);
    for i in 0..200 {
        set(&primary, i, b"same", at(NOW - 1000 + u64::from(i), 1));
        if i != 1 {
            set(&replica, i, b"same", at(NOW - 1000 + u64::from(i), 1));
        }
    }
    set(&primary, 2, b"newer", at(NOW, 1));
    set(&replica, 3, b"other lineage", at(NOW + 5, 2));
    set(&replica, 200, b"unknown to the primary", at(NOW, 2));
    del(&primary, 4, at(NOW + 1, 1));
    del(&replica, 201, at(NOW + 2, 2));
    let digests = |ks: &Keyspace| ks.slot_bucket_digests(0, slot);
    for ks in [&primary, &replica] {
        assert_eq!(digests(ks).iter().fold(0, |a, b| a ^ b), ks.slot_digest(0, slot), "buckets XOR to the slot");
    }
    assert_ne!(primary.slot_digest(0, slot), replica.slot_digest(0, slot));
    let (ours, theirs) = (digests(&primary), digests(&replica));
    let buckets: u64 = (0..ours.len()).filter(|&b| ours[b] != theirs[b]).map(|b| 1u64 << b).sum();
    assert!((1..=6).contains(&buckets.count_ones()), "six keys differ: {buckets:b}");
    let repairs =
        differing_keys(primary.slot_versions_in(0, slot, buckets), replica.slot_versions_in(0, slot, buckets));
    let mut names: Vec<Vec<u8>> = repairs.iter().map(|(k, _)| k.to_vec()).collect();
    names.sort();
    let mut expected: Vec<Vec<u8>> = [1, 2, 3, 4, 200, 201].iter().map(|&i| key(i)).collect();
    expected.sort();
    assert_eq!(names, expected, "only the keys that differ are repaired");
    let mut out = Vec::new();
    for (k, theirs) in &repairs {
        assert!(primary.export_repair(0, k, *theirs, NOW, &mut out));
    }
    let stream: Vec<Bytes> = records(&Bytes::from(out)).map(|(r, _)| r).collect();
    let forgets = stream.iter().filter(|r| matches!(decode_fed(r).unwrap().mutation, Mutation::Forget { .. })).count();
    assert_eq!(forgets, 3, "another lineage's write, a key and a tombstone the primary lacks");
    let mut log = MutationLog::new();
    for r in &stream {
        let d = decode_fed(r).expect("a record");
        assert_eq!(replica.apply_fed(&d.mutation, d.prev.unwrap_or(Version::ZERO), &mut log), Fed::Applied, "{d:?}");
    }
    assert_eq!(replica.slot_digest(0, slot), primary.slot_digest(0, slot), "the copies converged");
    assert_eq!(contents(&replica), contents(&primary));
    // Repeated (a round that raced the repair): nothing more applies.
    for (k, theirs) in &repairs {
        let mut again = Vec::new();
        primary.export_repair(0, k, *theirs, NOW, &mut again);
        for (r, _) in records(&Bytes::from(again)) {
            let d = decode_fed(&r).expect("a record");
            assert_eq!(replica.apply_fed(&d.mutation, d.prev.unwrap_or(Version::ZERO), &mut log), Fed::Held);
        }
    }
}
