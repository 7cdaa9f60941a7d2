//! Taps on the change feed: what a node sends another about some of its
//! slots (the target of a slot move now; replicas in the replication issue).
//!
//! A [`Tap`] names the slots it wants. Every commit offers the feed records
//! it takes to the active taps, in the order it appends them to the log (and
//! without a log, in each shard's order), so a tap sees each key's changes in
//! the order they happened. A tap's queue is bounded: a receiver that falls
//! behind by more than its bound loses the tap ([`Lagged`]) and must start
//! over with a fresh copy of the slots, instead of holding the writers back
//! or letting memory grow.
//!
//! [`SlotStream`] is the sending side of a slot copy: it subscribes, then
//! interleaves chunks of `Keyspace::export_keys` with what the tap gathered,
//! one ordered stream of feed records that the receiver applies with
//! [`apply_stream`] (see gyre-engine's `keyspace::transfer` for why that
//! converges).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use gyre_engine::keyspace::records;
use gyre_engine::mutation::decode_fed;
use gyre_engine::slot::SLOT_COUNT;
use gyre_engine::{DbIndex, Fed, Keyspace, MutationLog, SlotId};
use parking_lot::{Mutex, RwLock};

use crate::commit::{commit, Ticket};
use crate::persistence::Persistence;

/// A tap's default bound: feed bytes gathered and not yet taken.
pub const TAP_QUEUE_BYTES_MAX: usize = 64 << 20;

/// The taps of one server.
#[derive(Default)]
pub struct FeedTaps {
    /// How many taps are subscribed (commits skip the offer when 0).
    active: AtomicUsize,
    taps: RwLock<Vec<Arc<Tap>>>,
    /// Pieces offered so far: the replication feed's position. Offers are
    /// made in log order (under the log's lock, or [`FeedTaps::order`]
    /// without a log), so a tap that has been offered position `n` has
    /// seen every record of its slots committed before.
    seq: AtomicU64,
    /// Orders offers when no log does.
    pub(crate) order: Mutex<()>,
}

/// The receiver fell behind by more than the tap's bound: the records it
/// missed are gone, so it must copy the slots again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the change-feed tap fell more than {max_bytes} bytes behind")]
pub struct Lagged {
    pub max_bytes: usize,
}

/// One subscriber's view of the feed.
pub struct Tap {
    /// A bit per slot.
    slots: Box<[u64]>,
    max_bytes: usize,
    /// The feed's position when it subscribed: it gets every record of its
    /// slots offered after that.
    since: u64,
    queue: Mutex<Queue>,
    ready: tokio::sync::Notify,
    /// Set when its stream is dropped: offers skip it, the next
    /// subscription or offer removes it.
    closed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Queue {
    records: Vec<Bytes>,
    bytes: usize,
    lagged: bool,
    /// The feed position of the last offer (whether or not it held records
    /// for this tap's slots).
    seen: u64,
}

impl FeedTaps {
    /// Subscribes to `slots`' changes from now on. Turns the keyspace's
    /// feeds on (they are off on a node that keeps no log).
    pub fn subscribe(&self, ks: &Keyspace, slots: impl IntoIterator<Item = SlotId>, max_bytes: usize) -> Arc<Tap> {
        let mut bits = vec![0u64; SLOT_COUNT / 64].into_boxed_slice();
        for s in slots {
            bits[s.index() / 64] |= 1 << (s.index() % 64);
        }
        ks.set_feeding(true);
        let mut taps = self.taps.write();
        // Read under the lock: an offer numbered after this is made with
        // the read lock held, so it finds the tap in the list.
        let since = self.position();
        let tap = Arc::new(Tap {
            slots: bits,
            max_bytes,
            since,
            queue: Mutex::new(Queue { seen: since, ..Queue::default() }),
            ready: tokio::sync::Notify::new(),
            closed: Default::default(),
        });
        taps.retain(|t| !t.is_closed());
        taps.push(Arc::clone(&tap));
        self.active.store(taps.len(), Ordering::Release);
        tap
    }

    pub fn unsubscribe(&self, tap: &Arc<Tap>) {
        let mut taps = self.taps.write();
        taps.retain(|t| !Arc::ptr_eq(t, tap) && !t.is_closed());
        self.active.store(taps.len(), Ordering::Release);
    }

    /// The feed's position: how many pieces were offered so far.
    #[inline]
    pub fn position(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Whether any tap is subscribed.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire) != 0
    }

    /// Offers encoded feed records (one piece a commit takes) to the taps,
    /// as the feed's next position. The caller orders offers (see
    /// [`FeedTaps::seq`]).
    pub fn offer(&self, piece: &[u8]) {
        if !self.active() {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = Bytes::copy_from_slice(piece);
        // Split (and decode) once, whatever the number of taps.
        let split: Vec<(Bytes, Option<SlotId>)> = records(&bytes).collect();
        let taps = self.taps.read();
        let mut closed = false;
        for tap in taps.iter() {
            if tap.is_closed() {
                closed = true;
                continue;
            }
            let mut q = tap.queue.lock();
            for (record, slot) in &split {
                // A database-wide record (FLUSHALL) concerns every slot.
                if slot.is_none_or(|s| tap.wants(s)) {
                    q.push(record.clone(), tap.max_bytes);
                }
            }
            q.seen = seq;
            drop(q);
            tap.ready.notify_one();
        }
        drop(taps);
        if closed {
            let mut taps = self.taps.write();
            taps.retain(|t| !t.is_closed());
            self.active.store(taps.len(), Ordering::Release);
        }
    }
}

impl Queue {
    fn push(&mut self, record: Bytes, max_bytes: usize) {
        if self.lagged {
            return;
        }
        if self.bytes + record.len() > max_bytes {
            self.lagged = true;
            self.records = Vec::new();
            self.bytes = 0;
        } else {
            self.bytes += record.len();
            self.records.push(record);
        }
    }
}

impl Tap {
    fn wants(&self, slot: SlotId) -> bool {
        self.slots[slot.index() / 64] & (1 << (slot.index() % 64)) != 0
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether it fell behind its bound.
    pub fn lagged(&self) -> bool {
        self.queue.lock().lagged
    }

    /// Everything gathered so far, in order (possibly nothing).
    #[cfg(test)]
    pub fn take(&self) -> Result<Vec<Bytes>, Lagged> {
        self.take_seen().map(|(records, _)| records)
    }

    /// [`Tap::take`], with the feed position the records bring the
    /// receiver to.
    /// Bytes gathered and not taken yet.
    pub fn gathered_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    pub fn take_seen(&self) -> Result<(Vec<Bytes>, u64), Lagged> {
        let mut q = self.queue.lock();
        if q.lagged {
            return Err(Lagged { max_bytes: self.max_bytes });
        }
        q.bytes = 0;
        Ok((std::mem::take(&mut q.records), q.seen))
    }

    /// Waits until something was gathered (or the tap lagged), or, with
    /// `past`, until the feed moved beyond that position.
    pub async fn ready(&self, past: Option<u64>) {
        loop {
            let notified = self.ready.notified();
            {
                let q = self.queue.lock();
                if q.lagged || !q.records.is_empty() || past.is_some_and(|p| q.seen > p) {
                    return;
                }
            }
            notified.await;
        }
    }
}

/// The sending side of a copy of some slots of database `db`: one ordered
/// stream of feed records, the slots' contents interleaved with their changes.
pub struct SlotStream {
    tap: Arc<Tap>,
    db: DbIndex,
    /// Slots whose copy has not started, last first.
    pending: Vec<SlotId>,
    /// The keys of the slot being copied, as they were when its copy
    /// started, and how many are done.
    keys: Vec<Box<[u8]>>,
    done: usize,
}

impl SlotStream {
    /// Subscribes to `slots` first, so that no change made while they are
    /// copied is missed.
    pub fn start(taps: &FeedTaps, ks: &Keyspace, db: DbIndex, slots: &[SlotId]) -> SlotStream {
        SlotStream::start_bounded(taps, ks, db, slots, TAP_QUEUE_BYTES_MAX)
    }

    /// [`SlotStream::start`] with a tap bounded to `max_bytes` gathered
    /// and not yet taken.
    pub fn start_bounded(
        taps: &FeedTaps,
        ks: &Keyspace,
        db: DbIndex,
        slots: &[SlotId],
        max_bytes: usize,
    ) -> SlotStream {
        let tap = taps.subscribe(ks, slots.iter().copied(), max_bytes);
        let mut pending = slots.to_vec();
        pending.reverse();
        SlotStream { tap, db, pending, keys: Vec::new(), done: 0 }
    }

    /// A stream of `slots`' changes from now on, without a copy (a feed
    /// that resumes: its target holds the rest).
    pub fn changes_only(taps: &FeedTaps, ks: &Keyspace, db: DbIndex, slots: &[SlotId], max_bytes: usize) -> SlotStream {
        let tap = taps.subscribe(ks, slots.iter().copied(), max_bytes);
        SlotStream { tap, db, pending: Vec::new(), keys: Vec::new(), done: 0 }
    }

    /// The feed's position when the stream subscribed: every change of its
    /// slots after that is in the stream, the older ones in its copy.
    pub fn since(&self) -> u64 {
        self.tap.since
    }

    /// Whether its tap fell behind its bound (what it gathered is gone).
    pub fn lagged(&self) -> bool {
        self.tap.lagged()
    }

    /// Bytes its tap gathered and it has not taken yet.
    pub fn gathered_bytes(&self) -> usize {
        self.tap.gathered_bytes()
    }

    /// Whether the copy is complete (from now on only changes follow).
    pub fn copied(&self) -> bool {
        self.pending.is_empty() && self.done == self.keys.len()
    }

    /// The next piece of the stream: what the tap gathered, then (until the
    /// copy is complete) about `chunk_bytes` more of the copy. Each slot's
    /// keys are listed once when its copy starts (memory: the slot's keys),
    /// then exported a chunk at a time under its shard's lock.
    #[cfg(test)]
    pub fn next(&mut self, ks: &Keyspace, chunk_bytes: usize, now_ms: u64) -> Result<Vec<Bytes>, Lagged> {
        self.next_seen(ks, chunk_bytes, now_ms).map(|(records, _)| records)
    }

    /// [`SlotStream::next`], with the feed position the piece brings a
    /// receiver to (once the copy is complete).
    pub fn next_seen(&mut self, ks: &Keyspace, chunk_bytes: usize, now_ms: u64) -> Result<(Vec<Bytes>, u64), Lagged> {
        let (mut out, seen) = self.tap.take_seen()?;
        let mut chunk = Vec::new();
        if self.done == self.keys.len() {
            if let Some(slot) = self.pending.pop() {
                self.keys = ks.slot_keys(self.db, slot, &mut chunk);
                self.done = 0;
            }
        }
        if self.done < self.keys.len() {
            self.done += ks.export_keys(self.db, &self.keys[self.done..], chunk_bytes, now_ms, &mut chunk);
        }
        if self.done == self.keys.len() {
            self.keys = Vec::new();
            self.done = 0;
        }
        let chunk = Bytes::from(chunk);
        out.extend(records(&chunk).map(|(r, _)| r));
        Ok((out, seen))
    }

    /// Waits until the tap gathered something (or, with `past`, until the
    /// feed moved beyond that position).
    pub async fn changed(&self, past: Option<u64>) {
        self.tap.ready(past).await
    }

    /// Ends the stream (unsubscribes).
    pub fn finish(self, taps: &FeedTaps) {
        taps.unsubscribe(&self.tap);
    }
}

/// A stream dropped without [`SlotStream::finish`] (its task was
/// cancelled) closes its tap: no further records are gathered for it.
impl Drop for SlotStream {
    fn drop(&mut self) {
        self.tap.closed.store(true, Ordering::Release);
    }
}

/// What a receiver did with part of a stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub applied: usize,
    pub held: usize,
    /// Deltas that did not follow what the receiver holds (healed by the
    /// copy later in the stream; see the module doc).
    pub gaps: usize,
    /// Records that did not decode (a bug or a damaged link: the caller
    /// should drop the stream and start over).
    pub undecodable: usize,
    /// Records refused for a version too far ahead of this node's clock
    /// (`max-clock-drift-ms`): the stream is incomplete and must not be
    /// taken for a copy.
    pub drift_refused: usize,
    /// Keys and tombstones a replica forgot at the end of a copy (see
    /// `slot_transfer::forget_unnamed`).
    pub forgotten: usize,
    /// The newest version (its HLC) among the records taken (applied,
    /// held or a gap): how far the sender's stream got here.
    pub newest: u64,
}

/// How a receiver checks the versions it is sent against its own clock.
#[derive(Clone, Copy)]
pub struct DriftCheck<'a> {
    pub now_ms: u64,
    pub max_ms: u64,
    /// Counts refusals (INFO clock_drift_refused).
    pub refused: &'a AtomicU64,
}

impl DriftCheck<'_> {
    /// The server's own check, from `max-clock-drift-ms`.
    pub fn of(shared: &crate::shared::Shared) -> DriftCheck<'_> {
        DriftCheck {
            now_ms: shared.now_ms(),
            max_ms: shared.config.hot.max_clock_drift_ms.load(Ordering::Relaxed),
            refused: &shared.stats.clock_drift_refused,
        }
    }
}

/// Applies stream records on the receiver and commits what changed through
/// its commit point (logged like its own writes); the ticket says when that
/// is durable. A record whose version is too far ahead of this node's clock
/// is refused (`Hlc::observe_remote`), counted, and not applied.
pub fn apply_stream(
    persistence: &Persistence,
    ks: &Keyspace,
    drift: DriftCheck<'_>,
    stream: &[Bytes],
) -> (Applied, Ticket) {
    let mut log = MutationLog::new();
    let mut done = Applied::default();
    for r in stream {
        let Ok(d) = decode_fed(r) else {
            done.undecodable += 1;
            continue;
        };
        let Some(prev) = d.prev else {
            done.undecodable += 1;
            continue;
        };
        if ks.clock().observe_remote(d.mutation.version(), drift.now_ms, drift.max_ms).is_err() {
            drift.refused.fetch_add(1, Ordering::Relaxed);
            done.drift_refused += 1;
            continue;
        }
        done.newest = done.newest.max(d.mutation.version().hlc());
        match ks.apply_fed(&d.mutation, prev, &mut log) {
            Fed::Applied => done.applied += 1,
            Fed::Held => done.held += 1,
            Fed::Gap { .. } => done.gaps += 1,
        }
    }
    let ticket = commit(persistence, ks, &mut log);
    log.clear();
    (done, ticket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::shared::Shared;

    fn set(shared: &Shared, key: &[u8], value: &[u8]) {
        let mut log = MutationLog::new();
        let slot = SlotId::of(key);
        let mut shard = shared.ks.db(0).lock(slot);
        let version = shared.ks.next_version(crate::runtime::unix_ms());
        shard.commit_set(
            slot,
            &gyre_engine::Mutation::Set { db: 0, key, value, expire_at_ms: 0, version },
            0,
            &mut log,
        );
        drop(shard);
        let _ = commit(&shared.persistence, &shared.ks, &mut log);
    }

    fn get(shared: &Shared, key: &[u8]) -> Option<Vec<u8>> {
        let slot = SlotId::of(key);
        let mut shard = shared.ks.db(0).lock(slot);
        let mut s = itoa::Buffer::new();
        shard.get(slot, key, gyre_engine::Now::at(crate::runtime::unix_ms())).map(|e| e.value.as_bytes(&mut s).to_vec())
    }

    #[test]
    fn a_slot_copied_to_another_server_under_writes_arrives_whole() {
        let source = Shared::start(Config::for_test()).expect("source");
        let target = Shared::start(Config::for_test()).expect("target");
        let key = |i: usize| format!("{{s}}key{i}").into_bytes();
        let other = b"{elsewhere}k";
        for i in 0..500 {
            set(&source, &key(i), b"before");
        }
        set(&source, other, b"not copied");
        let slot = SlotId::of(&key(0));
        let mut stream = SlotStream::start(&source.persistence.taps, &source.ks, 0, &[slot]);
        let mut round = 0;
        while !stream.copied() {
            for i in (round * 7..500).step_by(50) {
                set(&source, &key(i), format!("during {round}").as_bytes());
            }
            let piece = stream.next(&source.ks, 2_000, crate::runtime::unix_ms()).expect("not lagged");
            let (applied, _) = apply_stream(&target.persistence, &target.ks, DriftCheck::of(&target), &piece);
            assert_eq!(applied.undecodable, 0);
            round += 1;
        }
        assert!(round > 3, "the copy took several chunks");
        set(&source, &key(1), b"after");
        let piece = stream.next(&source.ks, 2_000, crate::runtime::unix_ms()).expect("not lagged");
        let _ = apply_stream(&target.persistence, &target.ks, DriftCheck::of(&target), &piece);
        stream.finish(&source.persistence.taps);
        assert!(!source.persistence.taps.active());
        for i in 0..500 {
            assert_eq!(get(&target, &key(i)), get(&source, &key(i)), "key {i}");
        }
        assert_eq!(get(&target, &key(1)).as_deref(), Some(&b"after"[..]));
        assert_eq!(get(&target, other), None, "only the slot is copied");
        assert_eq!(target.ks.slot_digest(0, slot), source.ks.slot_digest(0, slot));
    }

    #[test]
    fn a_version_too_far_ahead_is_refused_and_counted() {
        let target = Shared::start(Config::for_test()).expect("target");
        let now = crate::runtime::unix_ms();
        let mut record = Vec::new();
        let ahead = gyre_engine::Version::at_ms(now + 60_000);
        gyre_engine::Mutation::Set { db: 0, key: &b"k"[..], value: &b"v"[..], expire_at_ms: 0, version: ahead }
            .encode(&mut record);
        let (applied, _) =
            apply_stream(&target.persistence, &target.ks, DriftCheck::of(&target), &[Bytes::from(record)]);
        assert_eq!((applied.applied, applied.drift_refused), (0, 1));
        assert_eq!(target.stats.clock_drift_refused.load(Ordering::Relaxed), 1);
        assert_eq!(get(&target, b"k"), None);
        assert!(target.ks.next_version(now) < ahead, "a refused version does not move the clock");
    }

    #[test]
    fn a_tap_that_falls_behind_its_bound_says_so_instead_of_growing() {
        let shared = Shared::start(Config::for_test()).expect("start");
        let slot = SlotId::of(b"k");
        let tap = shared.persistence.taps.subscribe(&shared.ks, [slot], 200);
        for _ in 0..20 {
            set(&shared, b"k", b"0123456789");
        }
        assert_eq!(tap.take(), Err(Lagged { max_bytes: 200 }));
        shared.persistence.taps.unsubscribe(&tap);
    }
}
