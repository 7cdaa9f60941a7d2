//! The per-shard change feed: what the commit point takes to the log, in the
//! order writes happened per key, each naming its key's previous version;
//! atomic sections; expiry as a logged delete.

use bytes::Bytes;
use gyre_engine::mutation::{decode_fed, Decoded};
use gyre_engine::{DbIndex, Keyspace, Mutation, MutationLog, Now, SlotId, Version, NO_EXPIRY};

fn feeding() -> Keyspace {
    let ks = Keyspace::new();
    ks.set_feeding(true);
    ks
}

fn append(ks: &Keyspace, log: &mut MutationLog, key: &[u8], data: &[u8], now: u64) -> Version {
    let slot = SlotId::of(key);
    let mut shard = ks.db(0).lock(slot);
    let version = ks.next_version(now);
    shard.commit(slot, &Mutation::Append { db: 0, key, data, version }, log);
    version
}

/// What a commit takes: the touched shards' feeds, then the log's own pieces.
fn commit(ks: &Keyspace, log: &mut MutationLog) -> Vec<u8> {
    let mut out = Vec::new();
    let touched: Vec<(DbIndex, usize)> = log.take_touched().collect();
    for (db, shard) in touched {
        ks.take_feed(db, shard, &mut |piece| out.extend_from_slice(piece));
    }
    for piece in log.take_own() {
        out.extend_from_slice(piece);
    }
    log.clear();
    out
}

fn decode_all(bytes: &[u8]) -> Vec<Decoded> {
    let all = Bytes::copy_from_slice(bytes);
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < all.len() {
        let d = decode_fed(&all.slice(pos..)).expect("decodes");
        pos += d.len;
        out.push(d);
    }
    out
}

#[test]
fn the_first_commit_takes_every_writer_s_changes_in_the_order_they_happened() {
    let ks = feeding();
    let (mut a, mut b) = (MutationLog::new(), MutationLog::new());
    let v1 = append(&ks, &mut a, b"k", b"1", 1_000);
    let v2 = append(&ks, &mut b, b"k", b"2", 1_000);
    let v3 = append(&ks, &mut a, b"k", b"3", 1_000);
    assert_eq!((a.len(), b.len()), (2, 1), "each writer keeps its own mutations (notifications read them)");
    // b finishes its batch first: its commit takes a's changes too, in order.
    let first = decode_all(&commit(&ks, &mut b));
    let versions: Vec<Version> = first.iter().map(|d| d.mutation.version()).collect();
    assert_eq!(versions, vec![v1, v2, v3]);
    let prevs: Vec<Option<Version>> = first.iter().map(|d| d.prev).collect();
    assert_eq!(prevs, vec![Some(Version::ZERO), Some(v1), Some(v2)], "each names the version it followed");
    assert!(commit(&ks, &mut a).is_empty(), "nothing left for a: its changes are in the earlier record");
}

#[test]
fn an_atomic_section_is_one_piece_after_the_feeds_it_touched() {
    let ks = feeding();
    let (mut other, mut tx) = (MutationLog::new(), MutationLog::new());
    let before = append(&ks, &mut other, b"k", b"x", 1_000);
    assert!(tx.begin_atomic());
    assert!(!tx.begin_atomic(), "sections do not nest");
    let in_tx = append(&ks, &mut tx, b"k", b"y", 1_000);
    let elsewhere = append(&ks, &mut tx, b"other-key", b"z", 1_000);
    tx.end_atomic();
    let taken = decode_all(&commit(&ks, &mut tx));
    let versions: Vec<Version> = taken.iter().map(|d| d.mutation.version()).collect();
    assert_eq!(versions, vec![before, in_tx, elsewhere], "the earlier write first, then the whole section");
    assert_eq!(taken[1].prev, Some(before));
}

#[test]
fn expiry_logs_a_delete_that_orders_before_any_later_write() {
    let ks = feeding();
    let mut log = MutationLog::new();
    let slot = SlotId::of(b"k");
    let written = ks.next_version(1_000);
    ks.db(0).lock(slot).commit(
        slot,
        &Mutation::Set { db: 0, key: &b"k"[..], value: &b"v"[..], expire_at_ms: 1_010, version: written },
        &mut log,
    );
    let _ = commit(&ks, &mut log);
    // A handler takes its version, then its lookup finds the key expired.
    let next = ks.next_version(1_020);
    let mut shard = ks.db(0).lock(slot);
    assert!(shard.get(slot, b"k", Now::at(1_020)).is_none());
    shard.commit(
        slot,
        &Mutation::Set { db: 0, key: &b"k"[..], value: &b"new"[..], expire_at_ms: NO_EXPIRY, version: next },
        &mut log,
    );
    drop(shard);
    let taken = decode_all(&commit(&ks, &mut log));
    assert_eq!(taken.len(), 2, "the expiry's delete, then the write");
    match &taken[0].mutation {
        Mutation::Del { key, version, .. } => {
            assert_eq!(&key[..], b"k");
            assert_eq!(*version, written.expired());
            assert!(written < *version && *version < next);
        }
        other => panic!("expected the expiry's delete, got {other:?}"),
    }
    assert_eq!(taken[0].prev, Some(written));
    assert_eq!(taken[1].prev, Some(written.expired()), "the write follows the delete");
    // Replayed elsewhere in order, the write survives the delete.
    let replica = Keyspace::new();
    for d in &taken {
        replica.apply(&d.mutation);
    }
    assert!(replica.db(0).lock(slot).get(slot, b"k", Now::at(1_020)).is_some());
}

#[test]
fn a_replica_hides_expired_keys_but_leaves_their_removal_to_the_owner() {
    let ks = feeding();
    ks.set_expiry_owner(false);
    let slot = SlotId::of(b"k");
    let version = ks.next_version(1_000);
    ks.apply(&Mutation::Set { db: 0, key: &b"k"[..], value: &b"v"[..], expire_at_ms: 1_010, version });
    let mut shard = ks.db(0).lock(slot);
    assert!(shard.get(slot, b"k", Now::at(1_020)).is_none(), "hidden from reads");
    assert!(shard.peek(slot, b"k").is_some(), "but still held");
    assert_eq!(shard.feed_len(), 0, "and no delete logged");
    drop(shard);
    let cycle = ks.active_expire(1_020, &mut || true);
    assert_eq!(cycle.expired, 0);
    assert!(ks.apply(&Mutation::Del { db: 0, key: &b"k"[..], version: version.expired() }));
    assert!(ks.db(0).lock(slot).peek(slot, b"k").is_none(), "the owner's delete removes it");
}

#[test]
fn a_swap_with_a_sink_hands_over_both_databases_feeds_first() {
    let ks = feeding();
    let mut w = MutationLog::new();
    let slot = SlotId::of(b"k");
    let v = ks.next_version(1_000);
    ks.db(1).lock(slot).commit(
        slot,
        &Mutation::Set { db: 1, key: &b"k"[..], value: &b"v"[..], expire_at_ms: NO_EXPIRY, version: v },
        &mut w,
    );
    let mut swapper = MutationLog::new();
    let mut out = Vec::new();
    ks.swap_db(0, 1, 1_000, &mut swapper, Some(&mut |piece| out.extend_from_slice(piece)));
    let taken = decode_all(&out);
    assert_eq!(taken.len(), 2);
    assert!(matches!(taken[0].mutation, Mutation::Set { db: 1, .. }), "the write before the swap comes first");
    assert!(matches!(taken[1].mutation, Mutation::SwapDb { a: 0, b: 1, .. }));
    assert!(commit(&ks, &mut w).is_empty(), "the writer's change already went with the swap");
}

#[test]
fn without_feeds_nothing_accumulates() {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    append(&ks, &mut log, b"k", b"1", 1_000);
    assert_eq!(log.len(), 1, "still recorded for the command's readers");
    assert!(!log.has_pending());
    assert_eq!(ks.db(0).lock(SlotId::of(b"k")).feed_len(), 0);
}
