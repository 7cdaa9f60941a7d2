//! Snapshots and the manifest through their public API: write, load into a
//! fresh keyspace, compare; writes during a snapshot; corruption of every
//! kind; directory housekeeping; a larger parallel load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use gyre_engine::types::{HashOp, ListOp, SetOp, ZSetOp};
use gyre_engine::{CollOp, EncodingConfig, Keyspace, Mutation, MutationLog, SlotId, Value, Version, NO_EXPIRY};
use gyre_log::manifest::{read_manifest, write_manifest, Manifest, ManifestError, SnapshotRef};
use gyre_log::snapshot::{
    list_snapshots, load_snapshot, remove_old_snapshots, snapshot_path, write_snapshot, SnapshotError,
};

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("gyre-log-snapshot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn no_progress(_: u64, _: u64) {}

fn cfg() -> EncodingConfig {
    EncodingConfig::default()
}

fn set(ks: &Keyspace, log: &mut MutationLog, db: u16, key: &[u8], value: &[u8], expire_at_ms: u64, now: u64) {
    let slot = SlotId::of(key);
    let version = ks.next_version(now);
    ks.db(db).lock(slot).commit(slot, &Mutation::Set { db, key, value, expire_at_ms, version }, log);
}

fn coll(ks: &Keyspace, log: &mut MutationLog, db: u16, key: &[u8], op: CollOp<&[u8]>, now: u64) {
    let slot = SlotId::of(key);
    let version = ks.next_version(now);
    ks.db(db).lock(slot).commit(slot, &Mutation::Coll { db, key, op, version }, log);
}

/// Every entry live at `now_ms`: (db, key) -> (value, expiry, version).
type Dump = BTreeMap<(u16, Vec<u8>), (Value, u64, Version)>;

fn dump(ks: &Keyspace, now_ms: u64) -> Dump {
    let mut out = Dump::new();
    for db in 0..ks.db_count() as u16 {
        for s in 0..ks.db(db).shard_count() {
            for (k, e) in ks.db(db).lock_shard(s).iter() {
                if !e.is_expired(now_ms) {
                    out.insert((db, k.to_vec()), (e.value.clone(), e.expire_at_ms, e.version));
                }
            }
        }
    }
    out
}

/// A keyspace with every value type, both encodings of each collection,
/// several databases, expiries (some already past at `NOW`) and a value larger
/// than a block.
fn varied_keyspace() -> Keyspace {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for db in [0u16, 3, 15] {
        for i in 0..300u32 {
            let key = format!("str:{i}");
            let expiry = match i % 3 {
                0 => NO_EXPIRY,
                1 => NOW + 60_000,
                _ => NOW - 1, // expired by the time of the snapshot
            };
            set(&ks, &mut log, db, key.as_bytes(), format!("value-{i}-{db}").as_bytes(), expiry, NOW - 10);
            set(&ks, &mut log, db, format!("int:{i}").as_bytes(), (i as i64 - 150).to_string().as_bytes(), 0, NOW);
        }
        let small: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        coll(&ks, &mut log, db, b"list:small", CollOp::List(ListOp::Push { left: false, values: small.clone() }), NOW);
        coll(&ks, &mut log, db, b"set:ints", CollOp::Set(SetOp::Add { members: vec![b"1", b"2", b"3"] }), NOW);
        coll(&ks, &mut log, db, b"set:small", CollOp::Set(SetOp::Add { members: small.clone() }), NOW);
        let pairs = vec![(&b"f1"[..], &b"v1"[..]), (b"f2", b"v2")];
        coll(&ks, &mut log, db, b"hash:small", CollOp::Hash(HashOp::Set { pairs }), NOW);
        coll(&ks, &mut log, db, b"zset:small", CollOp::ZSet(ZSetOp::Add(vec![(1.5, &b"x"[..]), (-2.0, b"y")])), NOW);
        big_collections(&ks, &mut log, db);
    }
    let huge = vec![b'h'; 3 << 20];
    set(&ks, &mut log, 0, b"huge", &huge, NO_EXPIRY, NOW);
    ks
}

/// Collections past the compact encodings' thresholds.
fn big_collections(ks: &Keyspace, log: &mut MutationLog, db: u16) {
    let names: Vec<Vec<u8>> = (0..2_000).map(|i| format!("member-{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
    coll(ks, log, db, b"list:big", CollOp::List(ListOp::Push { left: true, values: refs.clone() }), NOW);
    coll(ks, log, db, b"set:big", CollOp::Set(SetOp::Add { members: refs.clone() }), NOW);
    let pairs = refs.iter().map(|&r| (r, r)).collect();
    coll(ks, log, db, b"hash:big", CollOp::Hash(HashOp::Set { pairs }), NOW);
    let items = refs.iter().enumerate().map(|(i, &r)| (i as f64 / 3.0, r)).collect();
    coll(ks, log, db, b"zset:big", CollOp::ZSet(ZSetOp::Add(items)), NOW);
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn round_trip_preserves_every_live_key_value_expiry_and_version() {
    let dir = TempDir::new("round-trip");
    let ks = varied_keyspace();
    let expected = dump(&ks, NOW);
    let all = dump(&ks, 0);
    assert!(all.len() > expected.len(), "the fixture has expired keys");

    let written = write_snapshot(&ks, dir.path(), 1, NOW).unwrap();
    assert_eq!(written.path, snapshot_path(dir.path(), 1));
    assert_eq!(written.keys, expected.len() as u64);
    assert_eq!(written.bytes, std::fs::metadata(&written.path).unwrap().len());

    let fresh = Keyspace::new();
    let loaded = load_snapshot(&fresh, &written.path, &cfg(), &no_progress).unwrap();
    assert_eq!(loaded.keys, written.keys);
    assert_eq!(loaded.bytes, written.bytes);
    // dump at 0 sees everything stored, so expired entries must simply be absent.
    let got = dump(&fresh, 0);
    assert_eq!(got.len(), expected.len());
    for (k, (value, expiry, version)) in &expected {
        let (v2, e2, ver2) = got.get(k).unwrap_or_else(|| panic!("{k:?} missing"));
        assert_eq!(v2, value, "{k:?}");
        assert_eq!(v2.encoding(), value.encoding(), "{k:?} encoding");
        assert_eq!((e2, ver2), (expiry, version), "{k:?}");
    }
    assert!(!got.contains_key(&(0, b"str:2".to_vec())), "expired at snapshot time");
    assert!(got.contains_key(&(15, b"str:1".to_vec())), "volatile but live");
    assert!(fresh.clock().last() >= ks.clock().last(), "loading observed the versions");

    // Loading again changes nothing (versions are not newer).
    load_snapshot(&fresh, &written.path, &cfg(), &no_progress).unwrap();
    assert_eq!(dump(&fresh, 0).len(), expected.len());
}

#[test]
fn writes_continue_while_a_snapshot_is_written() {
    let dir = TempDir::new("concurrent");
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..100_000 {
        set(&ks, &mut log, (i % 4) as u16, format!("cold:{i}").as_bytes(), format!("v{i}").as_bytes(), 0, NOW);
        set(&ks, &mut log, 0, format!("hot:{i}").as_bytes(), b"old", 0, NOW);
    }
    let before = dump(&ks, NOW);
    let snapshotting = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let writes_during = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut log = MutationLog::new();
            let mut i = 0u64;
            while !done.load(Ordering::Acquire) {
                let during = snapshotting.load(Ordering::Acquire);
                set(&ks, &mut log, 0, format!("hot:{}", i % 100_000).as_bytes(), b"new", 0, NOW + 1);
                set(&ks, &mut log, 1, format!("fresh:{i}").as_bytes(), b"x", 0, NOW + 1);
                if during && snapshotting.load(Ordering::Acquire) {
                    writes_during.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                log.clear();
            }
        });
        snapshotting.store(true, Ordering::Release);
        write_snapshot(&ks, dir.path(), 9, NOW).unwrap();
        snapshotting.store(false, Ordering::Release);
        done.store(true, Ordering::Release);
    });
    assert!(writes_during.load(Ordering::Relaxed) > 0, "the writer made progress during the snapshot");

    let fresh = Keyspace::new();
    load_snapshot(&fresh, &snapshot_path(dir.path(), 9), &cfg(), &no_progress).unwrap();
    let got = dump(&fresh, NOW);
    for ((db, key), (value, _, version)) in before.iter().filter(|((_, k), _)| k.starts_with(b"cold:")) {
        let (v2, _, ver2) = got.get(&(*db, key.clone())).unwrap_or_else(|| panic!("untouched key {key:?} missing"));
        assert_eq!((v2, ver2), (value, version));
    }
    for i in 0..100_000 {
        let (v, _, _) = got.get(&(0, format!("hot:{i}").into_bytes())).expect("overwritten keys exist in some version");
        assert!(*v == Value::from_bytes(b"old") || *v == Value::from_bytes(b"new"));
    }
}

/// A small snapshot of a few keys in several shards; returns its path.
fn small_snapshot(dir: &Path, id: u64) -> PathBuf {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    for i in 0..6 {
        set(&ks, &mut log, i % 2, format!("key-{i}").as_bytes(), format!("value-{i}").as_bytes(), 0, NOW);
    }
    write_snapshot(&ks, dir, id, NOW).unwrap().path
}

fn load_err(path: &Path) -> SnapshotError {
    load_snapshot(&Keyspace::new(), path, &cfg(), &no_progress).expect_err("load should fail")
}

#[test]
fn a_flipped_byte_in_the_middle_is_an_error_naming_the_file_and_offset() {
    let dir = TempDir::new("flip");
    let path = small_snapshot(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = load_err(&path);
    let SnapshotError::Corrupt { path: p, offset, .. } = &err else { panic!("expected Corrupt, got {err}") };
    assert_eq!(p, &path);
    assert!(*offset >= 36 && *offset < bytes.len() as u64, "offset {offset}");
    let msg = err.to_string();
    assert!(msg.contains("snapshot-0000000000000001.gsnap") && msg.contains("offset"), "{msg}");
}

#[test]
fn every_single_byte_flip_is_detected() {
    let dir = TempDir::new("every-flip");
    let path = small_snapshot(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let r = load_snapshot(&Keyspace::new(), &path, &cfg(), &no_progress);
        assert!(r.is_err(), "flip at byte {i} of {} went unnoticed", good.len());
    }
}

#[test]
fn every_truncation_is_detected_before_anything_is_loaded() {
    let dir = TempDir::new("truncate");
    let path = small_snapshot(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).unwrap();
        let ks = Keyspace::new();
        let r = load_snapshot(&ks, &path, &cfg(), &no_progress);
        assert!(matches!(r, Err(SnapshotError::Corrupt { .. })), "truncated to {len}: {r:?}");
        assert_eq!(dump(&ks, 0).len(), 0, "truncated to {len}: nothing applied");
    }
    // Garbage after a complete file is corruption too.
    let mut longer = good.clone();
    longer.extend_from_slice(b"junk");
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(load_err(&path), SnapshotError::Corrupt { .. }));
}

#[test]
fn bad_magic_and_unknown_versions_are_rejected() {
    let dir = TempDir::new("magic");
    let path = small_snapshot(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();

    let mut bad = good.clone();
    bad[..8].copy_from_slice(b"NOTSNAPS");
    std::fs::write(&path, &bad).unwrap();
    let err = load_err(&path);
    assert!(matches!(err, SnapshotError::Corrupt { offset: 0, .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");

    let mut future = good.clone();
    future[8..12].copy_from_slice(&4u32.to_le_bytes());
    std::fs::write(&path, &future).unwrap();
    assert!(matches!(load_err(&path), SnapshotError::UnsupportedVersion { version: 4, .. }));
}

#[test]
fn an_absurd_block_length_is_corruption_not_an_allocation() {
    let dir = TempDir::new("absurd");
    let path = small_snapshot(dir.path(), 1);
    let mut bad = std::fs::read(&path).unwrap();
    // The first block header follows the 36-byte file header.
    bad[36..40].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(&path, &bad).unwrap();
    let err = load_err(&path);
    assert!(matches!(err, SnapshotError::Corrupt { offset: 36, .. }), "{err}");
}

#[test]
fn a_missing_snapshot_is_an_io_error_naming_it() {
    let dir = TempDir::new("missing");
    let path = snapshot_path(dir.path(), 5);
    let err = load_err(&path);
    assert!(matches!(&err, SnapshotError::Io { path: p, .. } if *p == path), "{err}");
}

#[test]
fn list_snapshots_ignores_temps_and_other_files() {
    let dir = TempDir::new("list");
    assert_eq!(list_snapshots(dir.path()).unwrap(), Vec::<u64>::new());
    assert_eq!(list_snapshots(&dir.path().join("absent")).unwrap(), Vec::<u64>::new());
    small_snapshot(dir.path(), 12);
    small_snapshot(dir.path(), 3);
    std::fs::write(dir.path().join("snapshot-0000000000000020.gsnap.tmp"), b"partial").unwrap();
    std::fs::write(dir.path().join("MANIFEST"), b"x").unwrap();
    std::fs::write(dir.path().join("snapshot-abc.gsnap"), b"x").unwrap();
    assert_eq!(list_snapshots(dir.path()).unwrap(), vec![3, 12]);
}

#[test]
fn remove_old_snapshots_keeps_the_listed_and_stale_temps_go() {
    let dir = TempDir::new("remove");
    for id in [1, 2, 5, 9] {
        small_snapshot(dir.path(), id);
    }
    let stale = dir.path().join("snapshot-0000000000000004.gsnap.tmp");
    let in_progress = dir.path().join("snapshot-0000000000000010.gsnap.tmp");
    std::fs::write(&stale, b"crashed write").unwrap();
    std::fs::write(&in_progress, b"being written").unwrap();

    // 5 is not listed (say its manifest write failed): it goes even though
    // it is newer than 2, which is listed.
    assert_eq!(remove_old_snapshots(dir.path(), &[9, 2]).unwrap(), 3, "snapshots 1, 5 and the stale temp");
    assert_eq!(list_snapshots(dir.path()).unwrap(), vec![2, 9]);
    assert!(!stale.exists());
    assert!(in_progress.exists(), "a temp newer than every snapshot may be a write in progress");

    assert_eq!(remove_old_snapshots(dir.path(), &[]).unwrap(), 0, "an empty list deletes nothing");
    assert_eq!(remove_old_snapshots(dir.path(), &[9]).unwrap(), 1);
    assert_eq!(list_snapshots(dir.path()).unwrap(), vec![9]);
    assert_eq!(remove_old_snapshots(dir.path(), &[9]).unwrap(), 0);
}

#[test]
fn a_failed_write_leaves_no_file() {
    let dir = TempDir::new("failed-write");
    let missing = dir.path().join("no-such-dir");
    let err = write_snapshot(&Keyspace::new(), &missing, 1, NOW).unwrap_err();
    assert!(matches!(err, SnapshotError::Io { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_large_snapshot_loads_in_parallel_and_reports_progress() {
    let dir = TempDir::new("large");
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    const KEYS: u64 = 200_000;
    for i in 0..KEYS {
        set(&ks, &mut log, (i % 3) as u16, format!("key:{i}").as_bytes(), format!("{i}-payload").as_bytes(), 0, NOW);
        if i % 10_000 == 0 {
            log.clear();
        }
    }
    let written = write_snapshot(&ks, dir.path(), 77, NOW).unwrap();
    assert_eq!(written.keys, KEYS);

    let calls = Mutex::new(Vec::new());
    let progress = |keys: u64, bytes: u64| calls.lock().unwrap().push((keys, bytes, std::thread::current().id()));
    let fresh = Keyspace::new();
    let loaded = load_snapshot(&fresh, &written.path, &cfg(), &progress).unwrap();
    assert_eq!(loaded.keys, KEYS);
    let calls = calls.into_inner().unwrap();
    assert!(calls.len() >= 2, "at least one report during the load and one at the end: {calls:?}");
    assert!(calls.iter().any(|&(k, _, _)| (100_000..KEYS).contains(&k)), "a report before the end: {calls:?}");
    assert_eq!(calls.last().map(|c| (c.0, c.1)), Some((KEYS, written.bytes)), "final report");
    let main = std::thread::current().id();
    assert!(calls[..calls.len() - 1].iter().all(|c| c.2 != main), "intermediate reports come from loader threads");
    assert_eq!(dump(&fresh, NOW), dump(&ks, NOW));
}

// ---------------------------------------------------------------------------
// Manifest

#[test]
fn a_missing_manifest_is_none() {
    let dir = TempDir::new("manifest-missing");
    assert_eq!(read_manifest(dir.path()).unwrap(), None);
    assert_eq!(read_manifest(&dir.path().join("absent")).unwrap(), None);
}

#[test]
fn the_manifest_round_trips_and_is_replaced_atomically() {
    let dir = TempDir::new("manifest-round-trip");
    let first = Manifest::default();
    write_manifest(dir.path(), &first).unwrap();
    assert_eq!(read_manifest(dir.path()).unwrap(), Some(first.clone()));

    let second = first.with_snapshot(SnapshotRef { id: 42, wal_first_segment: 17, unix_ms: NOW }, 7, 2);
    write_manifest(dir.path(), &second).unwrap();
    assert_eq!(read_manifest(dir.path()).unwrap(), Some(second.clone()));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec!["MANIFEST"], "no temp file left behind");

    // A crash mid-write leaves a temp file; the manifest in place is unaffected,
    // and the next write replaces the leftover.
    std::fs::write(dir.path().join("MANIFEST.tmp"), b"torn").unwrap();
    assert_eq!(read_manifest(dir.path()).unwrap(), Some(second.clone()));
    let third = second.with_snapshot(SnapshotRef { id: 43, wal_first_segment: 18, unix_ms: NOW + 5 }, 9, 2);
    write_manifest(dir.path(), &third).unwrap();
    assert_eq!(read_manifest(dir.path()).unwrap(), Some(third));
}

#[test]
fn a_corrupt_manifest_is_an_error_naming_the_file() {
    let dir = TempDir::new("manifest-corrupt");
    let m = Manifest {
        snapshots: vec![SnapshotRef { id: 3, wal_first_segment: 4, unix_ms: NOW }],
        last_lsn: 1,
        ..Manifest::default()
    };
    write_manifest(dir.path(), &m).unwrap();
    let path = dir.path().join("MANIFEST");
    let good = std::fs::read(&path).unwrap();

    let mut bad = good.clone();
    bad[20] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    let err = read_manifest(dir.path()).unwrap_err();
    assert!(matches!(&err, ManifestError::Corrupt { path: p, .. } if *p == path), "{err}");
    assert!(err.to_string().contains("MANIFEST") && err.to_string().contains("checksum"), "{err}");

    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(matches!(read_manifest(dir.path()), Err(ManifestError::Corrupt { .. })), "truncated");

    std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    assert!(matches!(read_manifest(dir.path()), Err(ManifestError::Corrupt { .. })), "oversized");

    let mut future = good.clone();
    future[8..12].copy_from_slice(&9u32.to_le_bytes());
    std::fs::write(&path, &future).unwrap();
    assert!(matches!(read_manifest(dir.path()), Err(ManifestError::UnsupportedVersion { version: 9, .. })));
}

/// Rewrites the trailer's key or block count of `bytes` and recomputes the
/// file checksum (header, block headers, trailer), as a buggy writer might.
fn forge_trailer(bytes: &mut [u8], keys_delta: i64, blocks_delta: i64) {
    let trailer_at = bytes.len() - 32;
    let mut crc = crc32c::crc32c(&bytes[..36]);
    let mut at = 36;
    while at < trailer_at {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        crc = crc32c::crc32c_append(crc, &bytes[at..at + 8]);
        at += 8 + len;
    }
    let field = |b: &mut [u8], off: usize, delta: i64| {
        let v = u64::from_le_bytes(b[off..off + 8].try_into().unwrap()).wrapping_add_signed(delta);
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    };
    field(bytes, trailer_at + 4, keys_delta);
    field(bytes, trailer_at + 12, blocks_delta);
    let crc = crc32c::crc32c_append(crc, &bytes[trailer_at..trailer_at + 28]);
    bytes[trailer_at + 28..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn trailer_counts_that_disagree_with_the_blocks_are_corruption() {
    let dir = TempDir::new("forged-trailer");
    let path = small_snapshot(dir.path(), 1);
    let good = std::fs::read(&path).unwrap();
    let mut same = good.clone();
    forge_trailer(&mut same, 0, 0);
    assert_eq!(same, good, "the forger reproduces the real checksum");
    for (keys, blocks, what) in [(1, 0, "keys"), (0, -1, "blocks")] {
        let mut bad = good.clone();
        forge_trailer(&mut bad, keys, blocks);
        std::fs::write(&path, &bad).unwrap();
        let err = load_err(&path);
        assert!(matches!(err, SnapshotError::Corrupt { .. }) && err.to_string().contains(what), "{err}");
    }
}

#[test]
fn an_empty_keyspace_snapshots_and_loads() {
    let dir = TempDir::new("empty");
    let written = write_snapshot(&Keyspace::new(), dir.path(), 0, NOW).unwrap();
    assert_eq!(written.keys, 0);
    assert_eq!(written.bytes, 36 + 32, "header and trailer only");
    let loaded = load_snapshot(&Keyspace::new(), &written.path, &cfg(), &no_progress).unwrap();
    assert_eq!(loaded.keys, 0);
}

/// Regression: a deleted key came back after a restart. Mutations are applied
/// when a command runs but logged at the end of its connection's batch, so
/// log order is not version order: a DEL could be logged before a snapshot's
/// log rotation and an older SET of the same key after it. Recovery loads
/// the snapshot (no key) and replays the SET, which applied to the absent
/// key. Deletes and flushes now leave tombstones, kept in the snapshot.
#[test]
fn a_deleted_key_stays_deleted_when_an_older_write_is_replayed_after_a_snapshot() {
    let dir = TempDir::new("tombstones");
    let ks = Keyspace::new();
    // Connection A writes k and j (applied; their log records come later).
    let late_k = Mutation::Set {
        db: 0,
        key: &b"k"[..],
        value: &b"a"[..],
        expire_at_ms: NO_EXPIRY,
        version: ks.next_version(NOW),
    };
    let late_j = Mutation::Set {
        db: 3,
        key: &b"j"[..],
        value: &b"a"[..],
        expire_at_ms: NO_EXPIRY,
        version: ks.next_version(NOW),
    };
    let late_h = Mutation::Coll {
        db: 0,
        key: &b"h"[..],
        op: CollOp::Hash(HashOp::Set { pairs: vec![(&b"f"[..], &b"v"[..])] }),
        version: ks.next_version(NOW),
    };
    for m in [&late_k, &late_j, &late_h] {
        assert!(ks.apply(m));
    }
    // Connection B deletes k and h, and flushes database 3, before the snapshot.
    assert!(ks.apply(&Mutation::Del { db: 0, key: &b"k"[..], version: ks.next_version(NOW) }));
    assert!(ks.apply(&Mutation::Del { db: 0, key: &b"h"[..], version: ks.next_version(NOW) }));
    assert!(ks.apply(&Mutation::<&[u8]>::FlushDb { db: 3, version: ks.next_version(NOW) }));
    let path = write_snapshot(&ks, dir.path(), 1, NOW).unwrap().path;
    // Recovery: the snapshot, then the log after its rotation (A's records).
    let recovered = Keyspace::new();
    load_snapshot(&recovered, &path, &cfg(), &no_progress).unwrap();
    for m in [&late_k, &late_j, &late_h] {
        assert!(!recovered.apply(m), "{m:?} is older than the delete");
    }
    assert!(dump(&recovered, NOW).is_empty(), "no deleted key came back");
    for key in [&b"k"[..], b"h"] {
        let slot = SlotId::of(key);
        assert_eq!(recovered.slot_digest(0, slot), ks.slot_digest(0, slot), "the tombstones came with the snapshot");
        assert_ne!(recovered.slot_digest(0, slot), 0);
    }
    // A newer write still lands.
    assert!(recovered.apply(&Mutation::Set {
        db: 0,
        key: &b"k"[..],
        value: &b"b"[..],
        expire_at_ms: NO_EXPIRY,
        version: recovered.next_version(NOW + 1),
    }));
    assert_eq!(dump(&recovered, NOW).len(), 1);
}

/// Regression: SWAPDB replay ignored versions. A swap applied before a
/// snapshot but logged after its rotation was replayed over the snapshot and
/// swapped the databases back. A swap's version now stays with the database
/// positions (and in the snapshot), and replaying one already reflected is a
/// no-op.
#[test]
fn a_swap_already_in_the_snapshot_is_not_replayed_twice() {
    let dir = TempDir::new("swapdb");
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    set(&ks, &mut log, 0, b"in-0", b"v", 0, NOW);
    set(&ks, &mut log, 1, b"in-1", b"v", 0, NOW);
    let mut swap_log = MutationLog::new();
    ks.swap_db(0, 1, NOW, &mut swap_log, None);
    let swap = swap_log.decode_all().pop().expect("the swap");
    let path = write_snapshot(&ks, dir.path(), 1, NOW).unwrap().path;
    let recovered = Keyspace::new();
    load_snapshot(&recovered, &path, &cfg(), &no_progress).unwrap();
    assert!(!recovered.apply(&swap), "the swap is already in the snapshot");
    assert_eq!(dump(&recovered, NOW), dump(&ks, NOW));
    assert!(recovered.db(1).len() == 1 && recovered.db(0).len() == 1);
    let swapped_key = |ks: &Keyspace| {
        let mut keys = Vec::new();
        ks.db(1).scan(0, 100, NOW, |k, _| keys.push(k.to_vec()));
        keys
    };
    assert_eq!(swapped_key(&recovered), vec![b"in-0".to_vec()]);
    // A later swap still applies.
    let mut again = MutationLog::new();
    ks.swap_db(0, 1, NOW + 1, &mut again, None);
    assert!(recovered.apply(&again.decode_all()[0]));
    assert_eq!(dump(&recovered, NOW), dump(&ks, NOW));
}
