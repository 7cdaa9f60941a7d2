//! Streams against a model: random sequences of stream writes (adds with
//! chosen IDs, deletes, exact and approximate trims, XSETID, consumer groups
//! with reads, history re-deliveries, acknowledgements, claims and consumer
//! deletion) are applied to a real stream in a keyspace and to a plain
//! `BTreeMap` model, and must agree after every step: entries, ranges in
//! both directions with counts, counters, PELs per group and per consumer.
//! The same writes, recorded in a mutation log and replayed into a fresh
//! keyspace, must rebuild the same stream, and so must its serialization.

use std::collections::{BTreeMap, BTreeSet};

use gyre_engine::types::stream::{OwnedEntry, Stream, StreamId, StreamOp, Trim};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;
use gyre_engine::{CollOp, Keyspace, Mutation, MutationLog, Now, SlotId, Value};
use proptest::prelude::*;

const KEY: &[u8] = b"stream";

#[derive(Clone, Debug)]
enum Action {
    Add { ms_step: u64, nfields: usize, tag: u8 },
    Del { pick: usize },
    TrimMaxLen { max: u64, approx: bool },
    TrimMinId { pick: usize },
    SetId { bump: u64 },
    GroupCreate { group: u8, pick: usize },
    Read { group: u8, consumer: u8, count: usize },
    History { group: u8, consumer: u8 },
    Ack { group: u8, pick: usize },
    Claim { group: u8, consumer: u8, pick: usize, count: u64 },
    DelConsumer { group: u8, consumer: u8 },
    Destroy { group: u8 },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u64..3, 1usize..4, any::<u8>()).prop_map(|(ms_step, nfields, tag)| Action::Add { ms_step, nfields, tag }),
        2 => any::<usize>().prop_map(|pick| Action::Del { pick }),
        1 => (0u64..30, any::<bool>()).prop_map(|(max, approx)| Action::TrimMaxLen { max, approx }),
        1 => any::<usize>().prop_map(|pick| Action::TrimMinId { pick }),
        1 => (0u64..3).prop_map(|bump| Action::SetId { bump }),
        1 => (0u8..3, any::<usize>()).prop_map(|(group, pick)| Action::GroupCreate { group, pick }),
        3 => (0u8..3, 0u8..3, 0usize..4).prop_map(|(group, consumer, count)| Action::Read { group, consumer, count }),
        1 => (0u8..3, 0u8..3).prop_map(|(group, consumer)| Action::History { group, consumer }),
        2 => (0u8..3, any::<usize>()).prop_map(|(group, pick)| Action::Ack { group, pick }),
        2 => (0u8..3, 0u8..3, any::<usize>(), 0u64..5).prop_map(|(group, consumer, pick, count)| Action::Claim { group, consumer, pick, count }),
        1 => (0u8..3, 0u8..3).prop_map(|(group, consumer)| Action::DelConsumer { group, consumer }),
        1 => (0u8..3).prop_map(|group| Action::Destroy { group }),
    ]
}

#[derive(Default, Clone, Debug, PartialEq)]
struct MGroup {
    last_id: StreamId,
    /// id -> (consumer, time, count)
    pel: BTreeMap<StreamId, (Vec<u8>, u64, u64)>,
    consumers: BTreeMap<Vec<u8>, BTreeSet<StreamId>>,
}

#[derive(Default, Clone, Debug)]
struct Model {
    entries: BTreeMap<StreamId, Fields>,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
    groups: BTreeMap<Vec<u8>, MGroup>,
}

fn name(prefix: &str, n: u8) -> Vec<u8> {
    format!("{prefix}{n}").into_bytes()
}

/// A keyspace holding the stream, and the log of everything committed.
struct Real {
    ks: Keyspace,
    log: MutationLog,
    now_ms: u64,
}

impl Real {
    fn commit(&mut self, op: StreamOp<&[u8]>) {
        let slot = SlotId::of(KEY);
        let version = self.ks.next_version(self.now_ms);
        let m = Mutation::Coll { db: 0, key: KEY, op: CollOp::Stream(op), version };
        self.ks.db(0).lock(slot).commit(slot, &m, &mut self.log);
    }

    fn with<R>(&self, f: impl FnOnce(&Stream) -> R) -> Option<R> {
        let slot = SlotId::of(KEY);
        let mut shard = self.ks.db(0).lock(slot);
        match shard.get(slot, KEY, Now::at(self.now_ms)).map(|e| &e.value) {
            Some(Value::Stream(s)) => Some(f(s)),
            _ => None,
        }
    }
}

fn pick<T: Copy>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()])
}

/// Applies one action to the model and, as the op the model decided, to the
/// real stream.
fn step(real: &mut Real, m: &mut Model, a: &Action) {
    real.now_ms += 1;
    let now = real.now_ms;
    let ids: Vec<StreamId> = m.entries.keys().copied().collect();
    match a {
        Action::Add { ms_step, nfields, tag } => {
            let id = if *ms_step == 0 {
                match m.last_id.incr() {
                    Some(id) => id,
                    None => return,
                }
            } else {
                StreamId::new(m.last_id.ms + ms_step, 0)
            };
            let fields: Fields = (0..*nfields)
                .map(|i| (format!("f{}", if *tag % 3 == 0 { i + 10 } else { i }).into_bytes(), vec![*tag; i + 1]))
                .collect();
            real.commit(StreamOp::Add { id, fields: fields.iter().map(|(f, v)| (&f[..], &v[..])).collect() });
            m.entries.insert(id, fields);
            m.last_id = id;
            m.entries_added += 1;
        }
        Action::Del { pick: p } => {
            let Some(id) = pick(&ids, *p) else { return };
            real.commit(StreamOp::Del { ids: vec![id] });
            m.entries.remove(&id);
            m.max_deleted = m.max_deleted.max(id);
        }
        Action::TrimMaxLen { max, approx } => {
            let (n, keep) = real.with(|s| s.plan_trim(Trim::MaxLen(*max), *approx, 0)).unwrap_or((0, None));
            let excess = (m.entries.len() as u64).saturating_sub(*max);
            if *approx {
                assert!(n <= excess, "approximate trimming never removes more than exact");
            } else {
                assert_eq!(n, excess);
            }
            if n == 0 {
                return;
            }
            real.commit(StreamOp::TrimBefore { keep_from: keep });
            let doomed: Vec<StreamId> = m.entries.keys().take(n as usize).copied().collect();
            for id in doomed {
                m.entries.remove(&id);
            }
            assert_eq!(keep, m.entries.keys().next().copied());
        }
        Action::TrimMinId { pick: p } => {
            let Some(min) = pick(&ids, *p) else { return };
            let (n, keep) = real.with(|s| s.plan_trim(Trim::MinId(min), false, 0)).unwrap();
            assert_eq!(n as usize, m.entries.range(..min).count());
            if n > 0 {
                real.commit(StreamOp::TrimBefore { keep_from: keep });
                m.entries = m.entries.split_off(&min);
            }
        }
        Action::SetId { bump } => {
            if real.with(|_| ()).is_none() {
                return;
            }
            let last_id = StreamId::new(m.last_id.ms + bump, m.last_id.seq);
            real.commit(StreamOp::SetId { last_id, entries_added: m.entries_added, max_deleted_id: m.max_deleted });
            m.last_id = last_id;
        }
        Action::GroupCreate { group, pick: p } => {
            let g = name("g", *group);
            if m.groups.contains_key(&g) {
                return;
            }
            let last_id = pick(&ids, *p).unwrap_or(StreamId::MIN);
            real.commit(StreamOp::GroupCreate { group: &g, last_id, entries_read: -1 });
            m.groups.insert(g, MGroup { last_id, ..MGroup::default() });
        }
        Action::Read { group, consumer, count } => {
            let (g, c) = (name("g", *group), name("c", *consumer));
            let Some(mg) = m.groups.get_mut(&g) else { return };
            let start = match mg.last_id.incr() {
                Some(s) => s,
                None => return,
            };
            let new: Vec<StreamId> = m
                .entries
                .range(start..)
                .map(|(id, _)| *id)
                .take(if *count == 0 { usize::MAX } else { *count })
                .collect();
            // The real stream serves the same entries.
            let served = real
                .with(|s| {
                    let mut v = Vec::new();
                    s.range(start, StreamId::MAX, false, |id, _| {
                        v.push(id);
                        *count == 0 || v.len() < *count
                    });
                    v
                })
                .unwrap();
            assert_eq!(served, new);
            let last = new.last().map(|id| (*id, 0));
            real.commit(StreamOp::Read {
                group: &g,
                consumer: &c,
                now_ms: now,
                last,
                new: new.clone(),
                history: vec![],
            });
            mg.consumers.entry(c.clone()).or_default();
            if let Some((id, _)) = last {
                mg.last_id = id;
            }
            for id in new {
                if let Some((old, _, _)) = mg.pel.get(&id) {
                    let old = old.clone();
                    mg.consumers.get_mut(&old).unwrap().remove(&id);
                }
                mg.pel.insert(id, (c.clone(), now, 1));
                mg.consumers.get_mut(&c).unwrap().insert(id);
            }
        }
        Action::History { group, consumer } => {
            let (g, c) = (name("g", *group), name("c", *consumer));
            let Some(mg) = m.groups.get_mut(&g) else { return };
            let history: Vec<StreamId> = mg
                .consumers
                .get(&c)
                .map(|p| p.iter().filter(|id| m.entries.contains_key(id)).copied().collect())
                .unwrap_or_default();
            real.commit(StreamOp::Read {
                group: &g,
                consumer: &c,
                now_ms: now,
                last: None,
                new: vec![],
                history: history.clone(),
            });
            mg.consumers.entry(c.clone()).or_default();
            for id in history {
                let e = mg.pel.get_mut(&id).unwrap();
                e.1 = now;
                e.2 += 1;
            }
        }
        Action::Ack { group, pick: p } => {
            let g = name("g", *group);
            let Some(mg) = m.groups.get_mut(&g) else { return };
            let pending: Vec<StreamId> = mg.pel.keys().copied().collect();
            let Some(id) = pick(&pending, *p) else { return };
            real.commit(StreamOp::Ack { group: &g, ids: vec![id] });
            let (owner, _, _) = mg.pel.remove(&id).unwrap();
            mg.consumers.get_mut(&owner).unwrap().remove(&id);
        }
        Action::Claim { group, consumer, pick: p, count } => {
            let (g, c) = (name("g", *group), name("c", *consumer));
            let Some(mg) = m.groups.get_mut(&g) else { return };
            let pending: Vec<StreamId> = mg.pel.keys().copied().collect();
            let Some(id) = pick(&pending, *p) else { return };
            let time = now - 7;
            let (claims, dropped) =
                if m.entries.contains_key(&id) { (vec![(id, time, *count)], vec![]) } else { (vec![], vec![id]) };
            real.commit(StreamOp::Claim {
                group: &g,
                consumer: &c,
                now_ms: now,
                claims: claims.clone(),
                dropped: dropped.clone(),
                last_id: None,
                active: !claims.is_empty(),
            });
            mg.consumers.entry(c.clone()).or_default();
            let (owner, _, _) = mg.pel.remove(&id).unwrap();
            mg.consumers.get_mut(&owner).unwrap().remove(&id);
            if !claims.is_empty() {
                mg.pel.insert(id, (c.clone(), time, *count));
                mg.consumers.get_mut(&c).unwrap().insert(id);
            }
        }
        Action::DelConsumer { group, consumer } => {
            let (g, c) = (name("g", *group), name("c", *consumer));
            let Some(mg) = m.groups.get_mut(&g) else { return };
            let Some(pel) = mg.consumers.remove(&c) else { return };
            real.commit(StreamOp::ConsumerDelete { group: &g, consumer: &c });
            for id in pel {
                mg.pel.remove(&id);
            }
        }
        Action::Destroy { group } => {
            let g = name("g", *group);
            if m.groups.remove(&g).is_some() {
                real.commit(StreamOp::GroupDestroy { group: &g });
            }
        }
    }
}

/// The real stream agrees with the model.
fn check(real: &Real, m: &Model, probe: (usize, usize, usize)) {
    let Some(()) = real.with(|s| {
        let want: Vec<OwnedEntry> = m.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(s.entries(), want);
        assert_eq!(s.len(), m.entries.len() as u64);
        assert_eq!(s.last_id, m.last_id);
        assert_eq!(s.entries_added, m.entries_added);
        assert_eq!(s.max_deleted_id, m.max_deleted);
        assert_eq!(s.first_id(), m.entries.keys().next().copied().unwrap_or(StreamId::MIN));
        // A random range, both ways, with a count.
        let ids: Vec<StreamId> = m.entries.keys().copied().collect();
        if !ids.is_empty() {
            let (a, b) = (ids[probe.0 % ids.len()], ids[probe.1 % ids.len()]);
            let (lo, hi) = (a.min(b), a.max(b));
            let count = probe.2 % 5;
            for rev in [false, true] {
                let mut got = Vec::new();
                s.range(lo, hi, rev, |id, _| {
                    got.push(id);
                    count == 0 || got.len() < count
                });
                let mut want: Vec<StreamId> = m.entries.range(lo..=hi).map(|(k, _)| *k).collect();
                if rev {
                    want.reverse();
                }
                if count > 0 {
                    want.truncate(count);
                }
                assert_eq!(got, want, "range {lo}..={hi} rev {rev} count {count}");
            }
        }
        let groups: BTreeMap<Vec<u8>, MGroup> = s
            .groups()
            .iter()
            .map(|(name, g)| {
                let pel = g
                    .pel
                    .iter()
                    .map(|(id, n)| (*id, (n.consumer.clone(), n.delivery_time_ms, n.delivery_count)))
                    .collect();
                let consumers = g.consumers.iter().map(|(n, c)| (n.clone(), c.pel.clone())).collect();
                (name.clone(), MGroup { last_id: g.last_id, pel, consumers })
            })
            .collect();
        assert_eq!(groups, m.groups);
    }) else {
        assert!(m.entries.is_empty() && m.groups.is_empty() && m.entries_added == 0, "the stream exists once written");
        return;
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn streams_agree_with_the_model_and_replay_to_the_same_value(
        actions in proptest::collection::vec(action(), 1..120),
        probes in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 120),
    ) {
        let mut real = Real { ks: Keyspace::new(), log: MutationLog::new(), now_ms: 1_000 };
        let mut model = Model::default();
        for (a, p) in actions.iter().zip(&probes) {
            step(&mut real, &mut model, a);
            check(&real, &model, *p);
        }
        // Replay of the log into a fresh keyspace rebuilds the same stream.
        let replayed = Keyspace::new();
        for m in real.log.decode_all() {
            replayed.apply(&m);
        }
        let slot = SlotId::of(KEY);
        let now = Now::at(real.now_ms);
        let original = real.ks.db(0).lock(slot).get(slot, KEY, now).map(|e| e.value.clone());
        let again = replayed.db(0).lock(slot).get(slot, KEY, now).map(|e| e.value.clone());
        prop_assert_eq!(&original, &again);
        // And so does its serialization (snapshots, COPY, RENAME, MOVE).
        if let Some(v) = original {
            let mut buf = Vec::new();
            v.serialize(&mut buf);
            let back = Value::deserialize(&mut gyre_engine::Reader::new(&buf), &Default::default()).unwrap();
            prop_assert_eq!(back, v);
        }
    }
}
