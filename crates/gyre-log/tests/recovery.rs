//! Crash recovery against a model: random commands (as the engine's write path
//! runs them) are logged one record per command; the log is cut at a random
//! byte (a crash mid-write); replaying it into a fresh keyspace must give
//! exactly the state after the last record that survived whole.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use gyre_engine::{Keyspace, Mutation, MutationLog, Now, SlotId, NO_EXPIRY};
use gyre_log::wal::{list_segments, replay, segment_path, FsyncPolicy, Lsn, Wal, WalOptions};
use proptest::prelude::*;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Append(u8, u8),
    Del(u8),
    Push(u8, u8),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u8, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        (0..6u8, any::<u8>()).prop_map(|(k, v)| Op::Append(k, v)),
        (0..6u8).prop_map(Op::Del),
        (0..6u8, any::<u8>()).prop_map(|(k, v)| Op::Push(k, v)),
    ]
}

fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "gyre-recovery-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs one op the way a handler does (decide on the live state, commit).
fn run(ks: &Keyspace, op: &Op, now: u64, log: &mut MutationLog) {
    let key_of = |k: u8| vec![b'k', k];
    let version = ks.next_version(now);
    match *op {
        Op::Set(k, v) => {
            let key = key_of(k);
            let slot = SlotId::of(&key);
            ks.db(0).lock(slot).commit(
                slot,
                &Mutation::Set { db: 0, key: &key, value: &[v], expire_at_ms: NO_EXPIRY, version },
                log,
            );
        }
        Op::Append(k, v) => {
            let key = key_of(k);
            let slot = SlotId::of(&key);
            let mut shard = ks.db(0).lock(slot);
            let is_string = shard.get(slot, &key, Now::at(now)).is_some_and(|e| e.value.is_string());
            let exists = shard.get(slot, &key, Now::at(now)).is_some();
            if is_string {
                shard.commit(slot, &Mutation::Append { db: 0, key: &key, data: &[v], version }, log);
            } else if !exists {
                shard.commit(
                    slot,
                    &Mutation::Set { db: 0, key: &key, value: &[v], expire_at_ms: NO_EXPIRY, version },
                    log,
                );
            }
        }
        Op::Del(k) => {
            let key = key_of(k);
            let slot = SlotId::of(&key);
            let mut shard = ks.db(0).lock(slot);
            if shard.get(slot, &key, Now::at(now)).is_some() {
                shard.commit(slot, &Mutation::Del { db: 0, key: &key, version }, log);
            }
        }
        Op::Push(k, v) => {
            // A list under its own key space so string ops do not collide.
            let key = [b'l', k];
            let slot = SlotId::of(&key);
            let value = [v];
            let op =
                gyre_engine::CollOp::List(gyre_engine::types::ListOp::Push { left: false, values: vec![&value[..]] });
            ks.db(0).lock(slot).commit(slot, &Mutation::Coll { db: 0, key: &key, op, version }, log);
        }
    }
}

/// The keyspace's content as comparable text.
fn state(ks: &Keyspace) -> State {
    let mut out = State::new();
    let mut cursor = 0;
    loop {
        cursor = ks.db(0).scan(cursor, 100, 0, |k, e| {
            out.insert(k.to_vec(), format!("{:?}", e.value).into_bytes());
        });
        if cursor == 0 {
            return out;
        }
    }
}

fn recover(dir: &std::path::Path) -> (Keyspace, u64) {
    let ks = Keyspace::new();
    let mut records = 0;
    replay(dir, 0, false, |_, payload| {
        records += 1;
        let all = Bytes::copy_from_slice(payload);
        let mut pos = 0;
        while pos < all.len() {
            let (m, used) = gyre_engine::mutation::decode(&all.slice(pos..)).expect("a whole record decodes");
            ks.apply(&m);
            pos += used;
        }
    })
    .expect("a torn tail is repaired, not an error");
    (ks, records)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn recovery_after_a_crash_matches_the_model(ops in proptest::collection::vec(arb_op(), 1..60), cut in any::<prop::sample::Index>()) {
        let dir = temp_dir();
        let ks = Keyspace::new();
        let wal = Wal::open(&dir, WalOptions { fsync: FsyncPolicy::No, ..WalOptions::default() }, Lsn(1)).unwrap();
        // The state after each record that reached the log, keyed by its count.
        let mut after: Vec<State> = vec![State::new()];
        let mut log = MutationLog::new();
        for (i, op) in ops.iter().enumerate() {
            run(&ks, op, 1_000 + i as u64, &mut log);
            if !log.is_empty() {
                wal.append(log.bytes()).unwrap();
                log.clear();
                after.push(state(&ks));
            }
        }
        wal.close().unwrap();
        // Crash: cut the newest segment at a random byte after its header.
        let last = *list_segments(&dir).unwrap().last().unwrap();
        let path = segment_path(&dir, last);
        let len = std::fs::metadata(&path).unwrap().len();
        let header = 12u64;
        let keep = header + cut.index((len - header + 1) as usize) as u64;
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(keep).unwrap();

        let (recovered, records) = recover(&dir);
        prop_assert_eq!(state(&recovered), after[records as usize].clone(), "after {} of {} records", records, after.len() - 1);
        // A second recovery finds the same (the tail was repaired).
        let (again, records_again) = recover(&dir);
        prop_assert_eq!(records_again, records);
        prop_assert_eq!(state(&again), state(&recovered));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
