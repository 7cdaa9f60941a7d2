//! Replication: the data half (`gyre_cluster::replication` decides who feeds
//! whom, and when a new primary catches up).
//!
//! * **Feeding a replica** ([`feed`]): the primary sends a copy of the slots
//!   the replica holds with it, then every change, over the slot transfer
//!   protocol (`slot_transfer::send_slots_acked`, following the feed's
//!   position). The replica applies what arrives by version and
//!   acknowledges each frame once it is durable under its own
//!   `appendfsync`; once its copy is acknowledged, each acknowledgement
//!   tells the primary the feed position the replica holds ([`Peer`]).
//! * **A write's consistency level**: a write's ticket carries the feed
//!   position after its changes (`commit::Ticket::feed`). Its reply leaves
//!   once enough replicas of its slot hold that position: W of the slot's
//!   n replicas, the primary included, with W = 1, n/2+1 or n
//!   (`write-consistency`). A write that cannot reach W within
//!   `write-timeout-ms` answers `-NOREPLICAS`; it may still apply
//!   ([`settle_replies`]).
//! * **Following** ([`follow`]): a replica applies a feed only while its
//!   applied topology names the sender the slots' primary, and checks that
//!   again before every acknowledgement: a deposed primary gets no more
//!   acknowledgements, so it acknowledges no more quorum writes.
//! * **Catching up** ([`catch_up`], [`serve_copy`]): a new primary merges
//!   the copies of its replicas before it serves; a replica sends its copy
//!   only once its own topology names the asker the primary (so it no
//!   longer acknowledges the old one).
//!
//! A replica never drops what it holds when a feed starts: copies merge by
//! version (tombstones included), so a replica always keeps every write it
//! acknowledged, whatever happens to the feed.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use gyre_cluster::net::BoxStream;
use gyre_cluster::{NodeTag, Topology, SLOTS};
use gyre_engine::SlotId;
use gyre_resp::{Protocol, ReplyWriter};
use parking_lot::RwLock;

use crate::shared::Shared;
use crate::slot_transfer::{receive_slots_fenced, send_slots, SendOptions, CHUNK_BYTES};

/// How many of a slot's replicas must hold a write before it is
/// acknowledged (`write-consistency`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    One,
    #[default]
    Quorum,
    All,
}

impl Consistency {
    pub fn name(self) -> &'static str {
        match self {
            Consistency::One => "one",
            Consistency::Quorum => "quorum",
            Consistency::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Consistency> {
        match s.to_ascii_lowercase().as_str() {
            "one" => Some(Consistency::One),
            "quorum" => Some(Consistency::Quorum),
            "all" => Some(Consistency::All),
            _ => None,
        }
    }

    /// Copies (the primary's included) a write needs among `n` replicas.
    pub fn copies(self, n: usize) -> usize {
        match self {
            Consistency::One => 1,
            Consistency::Quorum => gyre_cluster::replication::quorum(n),
            Consistency::All => n.max(1),
        }
    }
}

/// The replicas this node feeds, and what they acknowledged.
#[derive(Default)]
pub struct Replication {
    peers: RwLock<Vec<Arc<Peer>>>,
    /// Woken on every acknowledgement.
    acked: tokio::sync::Notify,
    /// Writes answered -NOREPLICAS.
    pub noreplicas: AtomicU64,
    /// Feed records applied here as a replica.
    pub records_in: AtomicU64,
    /// Catch-ups this node made as a new primary, and copies it served.
    pub catch_ups: AtomicU64,
    pub copies_served: AtomicU64,
    /// Keys and tombstones this node forgot as a replica because its
    /// primary's copy showed it does not have them (anti-entropy).
    pub keys_forgotten: AtomicU64,
    /// Anti-entropy rounds this node ran as a primary, and the slots they
    /// found differing on a replica.
    pub ae_rounds: AtomicU64,
    pub ae_slots_differing: AtomicU64,
    /// Keys and tombstones those rounds found differing and queued for
    /// their feeds to repair.
    pub ae_keys_repaired: AtomicU64,
    /// Feeds whose link broke after their replica's copy, kept to resume
    /// (hinted handoff), by replica.
    parked: parking_lot::Mutex<std::collections::HashMap<NodeTag, ParkedFeed>>,
    /// Feeds resumed from what was kept, without a copy.
    pub feed_resumes: AtomicU64,
    /// Of those, the ones resumed from this node's log (durable hints).
    pub feed_log_resumes: AtomicU64,
    /// `sloppy-quorum`: a replica whose feed is parked counts as holding
    /// the writes its hints keep.
    pub sloppy: std::sync::atomic::AtomicBool,
    /// As a replica, per primary: the newest version (HLC) applied from
    /// its feeds since this process started (`DataPlane::applied_from`:
    /// a failover promotes the replica that got furthest). Kept after a
    /// feed ends: that is when it is asked.
    applied_from: parking_lot::Mutex<std::collections::HashMap<NodeTag, Arc<AtomicU64>>>,
}

/// How many of `peers` hold `slot` (None: any slot) through feed position
/// `position`.
fn held_by(peers: &[Arc<Peer>], slot: Option<u16>, position: u64) -> usize {
    peers.iter().filter(|p| slot.is_none_or(|s| p.carries(s)) && p.holds(position)).count()
}

/// A parked feed: its slots, when it broke, and what it kept.
struct ParkedFeed {
    slots: Vec<u16>,
    at: std::time::Instant,
    feed: crate::slot_transfer::Parked,
}

impl Replication {
    /// How far this node got in `primary`'s feeds (see `applied_from`).
    pub fn applied_from(&self, primary: NodeTag) -> u64 {
        self.applied_from.lock().get(&primary).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Feeds kept to resume (INFO).
    pub fn parked_feeds(&self) -> usize {
        self.parked.lock().len()
    }

    /// Bytes of hints those feeds keep (INFO).
    pub fn hint_bytes(&self) -> usize {
        self.parked.lock().values().map(|p| p.feed.hint_bytes()).sum()
    }

    /// The feed to `to` kept to resume, if it carries `slots` and is no
    /// older than `ttl`; anything else kept for `to` is dropped.
    fn unpark(&self, to: NodeTag, slots: &[u16], ttl: std::time::Duration) -> Option<crate::slot_transfer::Parked> {
        let p = self.parked.lock().remove(&to)?;
        (p.slots == slots && p.at.elapsed() <= ttl).then_some(p.feed)
    }

    /// Replicas not fed now whose parked feeds keep hints for `slot` (None:
    /// any): with `sloppy-quorum`, they count towards a write's copies.
    fn hinted(&self, peers: &[Arc<Peer>], slot: Option<u16>) -> usize {
        if !self.sloppy.load(Ordering::Relaxed) {
            return 0;
        }
        let parked = self.parked.lock();
        parked
            .iter()
            .filter(|(tag, p)| {
                !peers.iter().any(|f| f.tag == **tag)
                    && slot.is_none_or(|s| p.slots.binary_search(&s).is_ok())
                    && !p.feed.lagged()
            })
            .count()
    }
}

/// One replica being fed.
pub struct Peer {
    pub tag: NodeTag,
    /// A bit per slot the feed carries.
    slots: Box<[u64]>,
    pub slot_count: usize,
    /// The feed position it holds durably: every record of its slots
    /// offered after `since` up to here (0: nothing acknowledged yet).
    acked: AtomicU64,
    /// The feed's position when this feed subscribed.
    since: AtomicU64,
    /// Its copy is complete: it also holds everything from before `since`.
    copied: std::sync::atomic::AtomicBool,
    /// When it last acknowledged (ms since the Unix epoch).
    pub acked_at_ms: AtomicU64,
    /// Once copied: this node's log position through which it holds
    /// every record of its slots (`hints`).
    held_lsn: AtomicU64,
    /// Once copied: the feed position through which what it holds is
    /// fsynced to its own log (WAITAOF).
    synced: AtomicU64,
    /// What anti-entropy found differing there, for the feed to repair.
    repairs: crate::slot_transfer::Repairs,
}

impl Peer {
    fn carries(&self, slot: u16) -> bool {
        self.slots[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    /// How far behind it is, in ms: 0 when it holds everything up to feed
    /// `position` (an idle replica is not behind), else the time since it
    /// last acknowledged.
    pub fn lag_ms(&self, position: u64, now_ms: u64) -> u64 {
        if self.acked() >= position {
            return 0;
        }
        now_ms.saturating_sub(self.acked_at_ms.load(Ordering::Relaxed))
    }

    /// Whether its copy is complete.
    pub fn copied(&self) -> bool {
        self.copied.load(Ordering::Acquire)
    }

    /// Whether it holds durably what was committed at feed `position`: a
    /// write after the feed subscribed once acknowledged (it came in the
    /// stream), an older one once the copy is complete too. So a write
    /// made while a replica's copy is being re-sent (a feed restarted) need
    /// not wait for the whole copy.
    fn holds(&self, position: u64) -> bool {
        self.acked() >= position && (position > self.since.load(Ordering::Acquire) || self.copied())
    }

    /// [`Peer::holds`], fsynced to its log too.
    fn holds_synced(&self, position: u64) -> bool {
        self.holds(position) && self.synced.load(Ordering::Acquire) >= position
    }

    fn record(&self, held: crate::slot_transfer::Held) {
        self.since.store(held.since, Ordering::Release);
        if held.copied {
            self.copied.store(true, Ordering::Release);
            self.held_lsn.fetch_max(held.lsn, Ordering::AcqRel);
            self.synced.fetch_max(held.synced, Ordering::AcqRel);
        }
        // 0: only its fsync moved.
        if held.position > 0 {
            self.acked.fetch_max(held.position, Ordering::AcqRel);
            self.acked_at_ms.store(crate::runtime::unix_ms(), Ordering::Relaxed);
        }
    }
}

/// Unregisters a feed's peer when the feed ends or its task is cancelled.
struct Registered<'a> {
    repl: &'a Replication,
    peer: Arc<Peer>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.repl.peers.write().retain(|p| !Arc::ptr_eq(p, &self.peer));
        self.repl.acked.notify_waiters();
    }
}

impl Replication {
    fn register(&self, tag: NodeTag, slots: &[u16]) -> Registered<'_> {
        let mut bits = vec![0u64; SLOTS / 64].into_boxed_slice();
        for &s in slots {
            bits[s as usize / 64] |= 1 << (s % 64);
        }
        let peer = Arc::new(Peer {
            tag,
            slots: bits,
            slot_count: slots.len(),
            acked: AtomicU64::new(0),
            since: AtomicU64::new(u64::MAX),
            copied: Default::default(),
            acked_at_ms: AtomicU64::new(0),
            held_lsn: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            repairs: Default::default(),
        });
        self.peers.write().push(peer.clone());
        Registered { repl: self, peer }
    }

    /// Whether a feed running now carries any of `slots`.
    pub fn carries_any(&self, slots: &[u16]) -> bool {
        self.peers.read().iter().any(|p| slots.iter().any(|s| p.carries(*s)))
    }

    /// The replicas being fed now (INFO).
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.read().clone()
    }

    /// How many replicas (other than this node) hold `slot` (None: any
    /// slot) through feed position `position`.
    pub fn holding(&self, slot: Option<u16>, position: u64) -> usize {
        held_by(&self.peers.read(), slot, position)
    }

    /// [`Replication::holding`], for a write's `write-consistency`: with
    /// `sloppy-quorum`, replicas whose hints keep it count too (WAIT does
    /// not count them: they do not hold it).
    fn holding_for_write(&self, slot: Option<u16>, position: u64) -> usize {
        let peers = self.peers.read();
        held_by(&peers, slot, position) + self.hinted(&peers, slot)
    }

    /// How many replicas hold everything through feed position `position`
    /// fsynced to their logs (WAITAOF's count; hints never count).
    pub fn holding_synced(&self, position: u64) -> usize {
        self.peers.read().iter().filter(|p| p.holds_synced(position)).count()
    }

    /// Waits until every write in `writes` (a write's slot, None: keyless;
    /// and how many other replicas it needs) is held by that many through
    /// `position`, or until `deadline`. Returns which were.
    pub async fn wait(
        &self,
        writes: &[(Option<u16>, usize)],
        position: u64,
        deadline: tokio::time::Instant,
    ) -> Vec<bool> {
        loop {
            let notified = self.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let held: Vec<bool> =
                writes.iter().map(|(s, need)| self.holding_for_write(*s, position) >= *need).collect();
            if held.iter().all(|h| *h) || tokio::time::Instant::now() >= deadline {
                return held;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

/// The other replicas a write to `slot` needs under `consistency` (None:
/// a keyless write, judged by the replication factor).
pub fn needed(t: &Topology, consistency: Consistency, slot: Option<u16>) -> usize {
    let n = match slot {
        Some(s) => t.slots[s as usize].replicas.len(),
        None => (t.replication_factor as usize).min(t.members.len()),
    };
    consistency.copies(n).saturating_sub(1)
}

/// The error a write gets when its replicas did not hold it in time.
pub const NOREPLICAS: &str =
    "NOREPLICAS Not enough good replicas to write (write-consistency not met within write-timeout-ms; the write may still apply)";

/// The error a read at `quorum` or `all` gets when its replicas did not
/// hold what it read in time.
pub const NOREPLICAS_READ: &str =
    "NOREPLICAS Not enough good replicas to read (read-consistency not met within write-timeout-ms)";

/// A reply in a connection's output that waits for replicas: a write's, or
/// a read's at `quorum` or `all`; the slot it touched and the connection's
/// consistency level then (None: the server's write consistency).
#[derive(Debug, Clone)]
pub struct WriteReply {
    pub range: Range<usize>,
    pub slot: Option<u16>,
    pub consistency: Option<Consistency>,
    pub read: bool,
}

impl WriteReply {
    /// The reply at `range` of `client`'s command that just wrote.
    pub fn of(client: &crate::client::ClientState, range: Range<usize>) -> WriteReply {
        WriteReply { range, slot: client.slot, consistency: client.write_consistency, read: false }
    }

    /// The reply at `range` of `client`'s command that just read its slot
    /// at `level`.
    pub fn read(client: &crate::client::ClientState, range: Range<usize>, level: Consistency) -> WriteReply {
        WriteReply { range, slot: client.slot, consistency: Some(level), read: true }
    }
}

/// The level a keyed read that `client` just ran here must reach before
/// its reply leaves: None at `one` (the primary alone, under its lease),
/// for a keyless command, a command queued in MULTI, and a READONLY read
/// of a replica's copy (stale by contract).
pub fn read_level(shared: &Shared, client: &crate::client::ClientState) -> Option<Consistency> {
    let slot = client.slot?;
    if client.multi.is_some() {
        return None;
    }
    let face = shared.cluster.get()?;
    let level = client.read_consistency.unwrap_or(face.read_consistency);
    (level != Consistency::One && face.cluster.serves(slot)).then_some(level)
}

/// Notes, in a cluster, the reply of a command that read at `quorum` or
/// `all` (from `start` in `out`): its commit takes its slot's shard feed,
/// so its ticket's feed position covers every change the read could see,
/// and its reply waits until enough replicas hold that position. Since
/// one primary orders a slot's writes, the copies that hold that position
/// hold what the read returned: this is the read's repair, made by the
/// feed, and once a quorum holds the value no failover can lose it, so
/// quorum reads are monotonic.
pub fn note_read(
    shared: &Shared,
    client: &crate::client::ClientState,
    log: &mut gyre_engine::MutationLog,
    writes: &mut Vec<WriteReply>,
    range: Range<usize>,
) {
    if let (Some(level), Some(slot)) = (read_level(shared, client), client.slot) {
        log.touch_slot(client.db, SlotId(slot));
        writes.push(WriteReply::read(client, range, level));
    }
}

/// Before the replies in `out` leave: waits until each write's replicas
/// hold the batch's changes (feed position `position`); the reply of a
/// write that did not reach its consistency level in time becomes
/// -NOREPLICAS. Clears `writes`.
pub async fn settle_replies(
    shared: &Shared,
    position: u64,
    writes: &mut Vec<WriteReply>,
    out: &mut BytesMut,
    proto: Protocol,
) {
    if writes.is_empty() {
        return;
    }
    let Some(face) = shared.cluster.get() else {
        writes.clear();
        return;
    };
    let held = wait_for(shared, face, writes, position).await;
    if held.iter().all(|h| *h) {
        writes.clear();
        return;
    }
    let mut rebuilt = BytesMut::with_capacity(out.len());
    let mut at = 0;
    for (w, held) in writes.iter().zip(held) {
        if held || w.range.end > out.len() || w.range.start < at {
            continue;
        }
        rebuilt.extend_from_slice(&out[at..w.range.start]);
        ReplyWriter::new(&mut rebuilt, proto).error(if w.read { NOREPLICAS_READ } else { NOREPLICAS }.as_bytes());
        face.replication.noreplicas.fetch_add(1, Ordering::Relaxed);
        at = w.range.end;
    }
    rebuilt.extend_from_slice(&out[at..]);
    *out = rebuilt;
    writes.clear();
}

/// Waits (up to `write-timeout-ms`) for the replicas of `writes`.
async fn wait_for(shared: &Shared, face: &crate::cluster::Face, writes: &[WriteReply], position: u64) -> Vec<bool> {
    let settings = shared.config.settings();
    let Some(c) = settings.cluster.as_ref() else { return vec![true; writes.len()] };
    let t = face.cluster.topology();
    let needs: Vec<(Option<u16>, usize)> =
        writes.iter().map(|w| (w.slot, needed(&t, w.consistency.unwrap_or(c.write_consistency), w.slot))).collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(c.write_timeout_ms);
    face.replication.wait(&needs, position, deadline).await
}

fn send_options(shared: &Shared, follow_feed: bool) -> SendOptions {
    let settings = shared.config.settings();
    let (bytes_per_sec, cpu_percent) =
        settings.cluster.as_ref().map_or((0, 100), |c| (c.move_bytes_per_sec, c.move_cpu_percent));
    // A feed runs only for slots this node caught up on as their primary,
    // so its copy is authoritative (the replica forgets what it lacks).
    SendOptions { bytes_per_sec, chunk_bytes: CHUNK_BYTES, cpu_percent, follow_feed, authoritative: follow_feed }
}

/// Feeds replica `to` (see the module doc) until the link fails.
pub async fn feed(shared: Arc<Shared>, to: NodeTag, slots: Vec<u16>, link: BoxStream) -> Result<(), String> {
    let face = shared.cluster.get().ok_or("not in cluster mode")?;
    let repl = &face.replication;
    let registered = repl.register(to, &slots);
    let peer = registered.peer.clone();
    let ids: Vec<SlotId> = slots.iter().map(|s| SlotId(*s)).collect();
    let on_ack = |held: crate::slot_transfer::Held| {
        peer.record(held);
        // Writes wait for positions; WAITAOF polls for fsyncs.
        if held.position > 0 {
            repl.acked.notify_waiters();
        }
    };
    let (ttl, tap_bytes) =
        shared.config.settings().cluster.as_ref().map_or((0, 64 << 20), |c| (c.hint_ttl_secs, c.hint_max_bytes));
    let ttl = std::time::Duration::from_secs(ttl);
    let mut parked = repl.unpark(to, &slots, ttl);
    let mut from_log = false;
    if parked.is_none() && !ttl.is_zero() {
        parked = resume_from_log(&shared, to, &ids, &slots, ttl, tap_bytes as usize).await;
        from_log = parked.is_some();
    }
    if let Some(p) = &parked {
        repl.feed_resumes.fetch_add(1, Ordering::Relaxed);
        if from_log {
            repl.feed_log_resumes.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(
            to = %to,
            slots = slots.len(),
            bytes = p.unacked_bytes(),
            from_log,
            "replication: replaying what a returning replica missed (hints)"
        );
    }
    let opts = send_options(&shared, true);
    let sending =
        crate::slot_transfer::send_feed(&shared, link, &ids, opts, &on_ack, parked, tap_bytes as usize, &peer.repairs);
    let result = tokio::select! {
        (r, parked) = sending => {
            if let (Some(feed), false) = (parked, ttl.is_zero()) {
                park(&shared, to, slots.clone(), feed, ttl);
            }
            r.map_err(|e| e.to_string())
        }
        () = anti_entropy(&shared, face, to, &slots, &peer) => unreachable!("rounds run until the feed ends"),
        () = keep_marks(&shared, to, &slots, &peer, ttl) => unreachable!("keeps marks until the feed ends"),
    };
    drop(registered);
    match result {
        Ok(_) => Err("the replica ended the feed".into()),
        Err(e) => Err(e),
    }
}

/// A feed to `to` resumed from this node's log at the mark kept for it
/// (see `hints`): when the mark is for the same slots and younger than
/// `ttl`, and the log still holds what came after it.
async fn resume_from_log(
    shared: &Shared,
    to: NodeTag,
    ids: &[SlotId],
    slots: &[u16],
    ttl: std::time::Duration,
    max_bytes: usize,
) -> Option<crate::slot_transfer::Parked> {
    shared.persistence.wal.as_ref()?;
    let mark = crate::hints::load(&shared.persistence.dir, to)?;
    let age = std::time::Duration::from_millis(crate::runtime::unix_ms().saturating_sub(mark.at_ms));
    if mark.node != shared.persistence.node_id || mark.slots != slots || age > ttl {
        return None;
    }
    let resumed = crate::slot_transfer::from_log(shared, ids, mark.held, max_bytes).await;
    if resumed.is_none() {
        tracing::info!(to = %to, "replication: the log no longer holds what a replica missed; it gets a fresh copy");
    }
    resumed
}

/// How often a feed's mark (`hints`) is written when it moved, and at
/// least how often when it did not.
const MARK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const MARK_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the mark of replica `to` (`hints`) up to date while its feed
/// runs: what it holds of this node's log, once its copy is complete.
/// Never returns.
async fn keep_marks(shared: &Shared, to: NodeTag, slots: &[u16], peer: &Peer, ttl: std::time::Duration) {
    if shared.persistence.wal.is_none() || ttl.is_zero() {
        return std::future::pending().await;
    }
    let (mut saved, mut saved_at) = (0u64, std::time::Instant::now());
    loop {
        tokio::time::sleep(MARK_EVERY).await;
        let held = peer.held_lsn.load(Ordering::Acquire);
        if !peer.copied() || held == 0 || (held == saved && saved_at.elapsed() < MARK_REFRESH) {
            continue;
        }
        let mark = crate::hints::Mark {
            node: shared.persistence.node_id.clone(),
            slots: slots.to_vec(),
            held,
            at_ms: crate::runtime::unix_ms(),
        };
        match crate::hints::save(&shared.persistence.dir, to, &mark) {
            Ok(()) => (saved, saved_at) = (held, std::time::Instant::now()),
            Err(e) => tracing::warn!(to = %to, error = %e, "replication: cannot keep a replica's hint mark"),
        }
    }
}

/// Keeps a broken feed to resume when its replica returns, for up to
/// `ttl` (then drops it: the replica will get a fresh copy).
fn park(
    shared: &Arc<Shared>,
    to: NodeTag,
    slots: Vec<u16>,
    feed: crate::slot_transfer::Parked,
    ttl: std::time::Duration,
) {
    let Some(face) = shared.cluster.get() else { return };
    let at = std::time::Instant::now();
    tracing::info!(
        to = %to,
        slots = slots.len(),
        ttl_s = ttl.as_secs(),
        "replication: a replica's feed broke; keeping its changes to replay (hints)"
    );
    face.replication.parked.lock().insert(to, ParkedFeed { slots, at, feed });
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ttl).await;
        let Some(face) = shared.cluster.get() else { return };
        let mut parked = face.replication.parked.lock();
        if parked.get(&to).is_some_and(|p| p.at == at) {
            parked.remove(&to);
            tracing::info!(to = %to, "replication: hints expired (hint-ttl); the replica will get a fresh copy");
        }
    });
}

/// Anti-entropy rounds on one feed, every `anti-entropy-interval-ms` once
/// the replica's copy is complete. A round compares at one feed position:
/// 1. reads this node's digests of the feed's slots, between two commits
///    that take every change made to them so far (so every change the
///    digests include has a feed position up to `p`, the position after
///    the second);
/// 2. waits until the replica acknowledged `p`, then asks it for its
///    digests (`CLUSTER DIGEST` over a relay link);
/// 3. reads its own digests again: a slot whose digest did not change in
///    between had no change after `p` that the replica could have seen,
///    so the replica's must equal it;
/// 4. narrows each slot that differs ([`narrow`]) to the keys that do,
///    which the feed then repairs in its order (`slot_transfer::Repairs`).
///
/// A slot written throughout is skipped that round (its feed is busy
/// keeping it in step anyway). The cost when nothing differs: two digest
/// reads per slot (each an O(1) lookup under the shard's lock) and one
/// request of a few bytes per slot, per interval. Never returns (a round
/// that fails is tried again at the next interval).
async fn anti_entropy(shared: &Shared, face: &crate::cluster::Face, to: NodeTag, slots: &[u16], peer: &Peer) {
    let interval = shared.config.settings().cluster.as_ref().map_or(0, |c| c.anti_entropy_interval_ms);
    if interval == 0 {
        return std::future::pending().await;
    }
    let interval = std::time::Duration::from_millis(interval);
    loop {
        tokio::time::sleep(interval).await;
        // A round waits for the last one's repairs to go out.
        if !peer.copied() || peer.repairs.pending() > 0 {
            continue;
        }
        let settle = |shared: &Shared| {
            let mut log = gyre_engine::MutationLog::new();
            for &s in slots {
                log.touch_slot(0, SlotId(s));
            }
            let _ = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
        };
        let digests =
            |shared: &Shared| -> Vec<u64> { slots.iter().map(|&s| shared.ks.slot_digest(0, SlotId(s))).collect() };
        settle(shared);
        let before = digests(shared);
        settle(shared);
        let position = shared.persistence.taps.position();
        let deadline = tokio::time::Instant::now() + interval;
        while peer.acked() < position && tokio::time::Instant::now() < deadline {
            let notified = face.replication.acked.notified();
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
        if peer.acked() < position {
            continue;
        }
        let mut replica = match Replica::open(face, to).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(to = %to, error = %e, "anti-entropy: no link to the replica");
                continue;
            }
        };
        let theirs = match replica.digests(slots).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(to = %to, error = %e, "anti-entropy: the replica's digests did not come");
                continue;
            }
        };
        let after = digests(shared);
        face.replication.ae_rounds.fetch_add(1, Ordering::Relaxed);
        let differing = differing(slots, &before, &after, &theirs);
        if differing.is_empty() {
            continue;
        }
        face.replication.ae_slots_differing.fetch_add(differing.len() as u64, Ordering::Relaxed);
        let mut keys = 0;
        for &slot in differing.iter().take(AE_SLOTS_NARROWED_MAX) {
            match narrow(shared, &mut replica, slot).await {
                Ok(repairs) => {
                    keys += repairs.len();
                    peer.repairs.push(repairs);
                }
                Err(e) => {
                    // The next round tries again.
                    tracing::debug!(to = %to, slot, error = %e, "anti-entropy: narrowing a slot failed");
                    break;
                }
            }
        }
        face.replication.ae_keys_repaired.fetch_add(keys as u64, Ordering::Relaxed);
        tracing::warn!(
            to = %to,
            slots = differing.len(),
            first = differing[0],
            keys,
            "anti-entropy: a replica's slots differ from this primary's; repairing the keys that differ"
        );
    }
}

/// The most slots one anti-entropy round narrows (the others wait for the
/// next round): bounds a round's requests and repairs.
const AE_SLOTS_NARROWED_MAX: usize = 64;

/// The keys of `slot` whose versions differ on `replica`: the slot's
/// digest buckets compared (`CLUSTER DIGEST-BUCKETS`), then the keys of
/// the buckets that differ (`CLUSTER DIGEST-KEYS`), each with the version
/// the replica holds.
async fn narrow(
    shared: &Shared,
    replica: &mut Replica,
    slot: u16,
) -> Result<Vec<gyre_engine::keyspace::KeyRepair>, String> {
    let theirs = replica.integers(&["CLUSTER", "DIGEST-BUCKETS", &slot.to_string()]).await?;
    let ours = shared.ks.slot_bucket_digests(0, SlotId(slot));
    if theirs.len() != ours.len() {
        return Err(format!("{} buckets, not {}", theirs.len(), ours.len()));
    }
    let buckets: Vec<String> =
        (0..ours.len()).filter(|&b| ours[b] != theirs[b] as u64).map(|b| b.to_string()).collect();
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let mask = buckets.iter().fold(0u64, |m, b| m | 1 << b.parse::<u32>().expect("a bucket number"));
    let slot_word = slot.to_string();
    let mut argv = vec!["CLUSTER", "DIGEST-KEYS", &slot_word];
    argv.extend(buckets.iter().map(String::as_str));
    let theirs = replica.key_versions(&argv).await?;
    let ours = shared.ks.slot_versions_in(0, SlotId(slot), mask);
    Ok(gyre_engine::keyspace::differing_keys(ours, theirs))
}

/// The slots of an anti-entropy round (see [`anti_entropy`]) whose
/// replica digest (`theirs`) differs from the primary's, among those whose
/// primary digest did not change during the round (`before`, `after`).
fn differing(slots: &[u16], before: &[u64], after: &[u64], theirs: &[u64]) -> Vec<u16> {
    (0..slots.len()).filter(|&i| before[i] == after[i] && theirs.get(i) != Some(&before[i])).map(|i| slots[i]).collect()
}

/// A relay link to a replica (as the default user) for anti-entropy's
/// questions.
struct Replica {
    link: BoxStream,
}

impl Replica {
    async fn open(face: &crate::cluster::Face, to: NodeTag) -> Result<Replica, String> {
        let link = face.cluster.open_relay(to, "default", false).await.map_err(|e| e.to_string())?;
        Ok(Replica { link })
    }

    async fn ask(&mut self, argv: &[&str]) -> Result<Vec<gyre_resp::Frame>, String> {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let mut request = BytesMut::new();
        gyre_resp::encode_command(&argv, &mut request);
        let reply = tokio::time::timeout(crate::relay::RELAY_TIMEOUT, crate::relay::exchange(&mut self.link, &request))
            .await
            .map_err(|_| "timed out".to_string())??;
        match gyre_resp::parse_frame(&reply, &gyre_resp::Limits::default()) {
            Ok(Some((gyre_resp::Frame::Array(items), _))) => Ok(items),
            other => Err(format!("an unexpected reply: {other:?}")),
        }
    }

    async fn integers(&mut self, argv: &[&str]) -> Result<Vec<i64>, String> {
        self.ask(argv)
            .await?
            .into_iter()
            .map(|f| match f {
                gyre_resp::Frame::Integer(n) => Ok(n),
                other => Err(format!("an unexpected integer: {other:?}")),
            })
            .collect()
    }

    /// Its digests of `slots` (`CLUSTER DIGEST`).
    async fn digests(&mut self, slots: &[u16]) -> Result<Vec<u64>, String> {
        let words: Vec<String> = slots.iter().map(u16::to_string).collect();
        let mut argv = vec!["CLUSTER", "DIGEST"];
        argv.extend(words.iter().map(String::as_str));
        let digests = self.integers(&argv).await?;
        if digests.len() != slots.len() {
            return Err(format!("{} digests for {} slots", digests.len(), slots.len()));
        }
        Ok(digests.into_iter().map(|d| d as u64).collect())
    }

    /// `CLUSTER DIGEST-KEYS`' answer: keys with their versions.
    async fn key_versions(&mut self, argv: &[&str]) -> Result<Vec<(Box<[u8]>, gyre_engine::Version)>, String> {
        use gyre_resp::Frame;
        self.ask(argv)
            .await?
            .into_iter()
            .map(|f| match f {
                Frame::Array(item) => match &item[..] {
                    [Frame::Bulk(key), Frame::Integer(hlc), Frame::Integer(node)] => {
                        let node = u16::try_from(*node).map_err(|_| format!("a node tag out of range: {node}"))?;
                        Ok((key.to_vec().into_boxed_slice(), gyre_engine::Version::new(*hlc as u64, node)))
                    }
                    other => Err(format!("an unexpected key version: {other:?}")),
                },
                other => Err(format!("an unexpected key version: {other:?}")),
            })
            .collect()
    }
}

/// Whether the applied topology names `primary` the primary of every slot
/// in `slots`, and this node one of their replicas.
fn names_primary(face: &crate::cluster::Face, primary: NodeTag, slots: &[u16]) -> bool {
    let t = face.cluster.topology();
    let Some(me) = face.cluster.tag() else { return false };
    slots.iter().all(|&s| {
        let owners = &t.slots[s as usize].replicas;
        owners.first() == Some(&primary) && owners.contains(&me)
    })
}

/// Applies the feed `from` sends for `slots` (see the module doc).
pub async fn follow(shared: Arc<Shared>, from: NodeTag, slots: Vec<u16>, link: BoxStream) {
    let Some(face) = shared.cluster.get() else { return };
    if slots.iter().any(|s| *s as usize >= SLOTS) || !names_primary(face, from, &slots) {
        tracing::debug!(from = %from, "refused a feed: the applied topology does not name the sender primary");
        return;
    }
    // Checked again whenever the topology changed since the last check.
    let checked = AtomicU64::new(face.cluster.topology().version);
    let fence = || {
        let version = face.cluster.topology().version;
        if checked.load(Ordering::Relaxed) == version {
            return Ok(());
        }
        if names_primary(face, from, &slots) {
            checked.store(version, Ordering::Relaxed);
            Ok(())
        } else {
            Err(format!("node {from} no longer leads the slots it feeds here"))
        }
    };
    tracing::info!(from = %from, slots = slots.len(), "replication: following a primary");
    let furthest = Arc::clone(face.replication.applied_from.lock().entry(from).or_default());
    let follows = crate::slot_transfer::Follows { slots: &slots, furthest: &furthest };
    match receive_slots_fenced(&shared, link, &fence, None, Some(follows)).await {
        Ok(applied) => {
            face.replication.records_in.fetch_add(applied.applied as u64, Ordering::Relaxed);
        }
        Err(e) => tracing::info!(from = %from, slots = slots.len(), error = %e, "replication: a feed ended"),
    }
}

/// How long a catch-up waits for the next frame of a replica's copy.
pub const CATCH_UP_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Merges the copy replica `from` sends of `slots` (see the module doc).
pub async fn catch_up(shared: Arc<Shared>, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> Result<(), String> {
    let face = shared.cluster.get().ok_or("not in cluster mode")?;
    // A replica that stalls in the middle of its copy (paused, cut off)
    // must not hold the catch-up of every slot waiting on it.
    let applied =
        receive_slots_fenced(&shared, link, &|| Ok(()), Some(CATCH_UP_IDLE), None).await.map_err(|e| e.to_string())?;
    face.replication.catch_ups.fetch_add(1, Ordering::Relaxed);
    tracing::info!(from = %from, slots = slots.len(), records = applied.applied, "replication: merged a replica's copy");
    Ok(())
}

/// Sends this node's copy of `slots` to `to`, their new primary.
pub async fn serve_copy(shared: Arc<Shared>, to: NodeTag, slots: Vec<u16>, link: BoxStream) {
    let Some(face) = shared.cluster.get() else { return };
    if slots.iter().any(|s| *s as usize >= SLOTS) || !names_primary(face, to, &slots) {
        tracing::debug!(to = %to, "refused a catch-up: the applied topology does not name the asker primary yet");
        return;
    }
    let ids: Vec<SlotId> = slots.iter().map(|s| SlotId(*s)).collect();
    match send_slots(&shared, link, 0, &ids, send_options(&shared, false), std::future::ready(())).await {
        Ok(_) => {
            face.replication.copies_served.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(to = %to, error = %e, "replication: sending a copy to a new primary failed"),
    }
}

/// Replication's numbers for `/metrics` (the same as `INFO replication`).
pub fn metrics(shared: &Shared, face: &crate::cluster::Face) -> gyre_http::ReplicationMetrics {
    let position = shared.persistence.taps.position();
    let now = crate::runtime::unix_ms();
    let r = &face.replication;
    gyre_http::ReplicationMetrics {
        feed_position: position,
        replicas: r
            .peers()
            .iter()
            .map(|p| gyre_http::ReplicaMetrics {
                node: p.tag.to_string(),
                online: p.copied(),
                lag_records: position.saturating_sub(p.acked()),
                lag_ms: p.lag_ms(position, now),
            })
            .collect(),
        noreplicas_total: r.noreplicas.load(Ordering::Relaxed),
        feed_records_applied_total: r.records_in.load(Ordering::Relaxed),
        catch_ups_total: r.catch_ups.load(Ordering::Relaxed),
        copies_served_total: r.copies_served.load(Ordering::Relaxed),
        keys_forgotten_total: r.keys_forgotten.load(Ordering::Relaxed),
        anti_entropy_rounds_total: r.ae_rounds.load(Ordering::Relaxed),
        anti_entropy_slots_differing_total: r.ae_slots_differing.load(Ordering::Relaxed),
        anti_entropy_keys_repaired_total: r.ae_keys_repaired.load(Ordering::Relaxed),
        feeds_parked: r.parked_feeds() as u64,
        hint_bytes: r.hint_bytes() as u64,
        feed_resumes_total: r.feed_resumes.load(Ordering::Relaxed),
        feed_log_resumes_total: r.feed_log_resumes.load(Ordering::Relaxed),
        slots_catching_up: face.slots_catching_up() as u64,
    }
}

/// Expiry follows leadership: the primary expires a slot's keys and logs
/// the deletes; a replica hides expired keys and waits for them.
pub fn roles(shared: &Shared, led: &[u16], not_led: &[u16]) {
    for &s in led {
        shared.ks.set_slot_expiry_owner(SlotId(s), true);
    }
    for &s in not_led {
        shared.ks.set_slot_expiry_owner(SlotId(s), false);
    }
    if let Some(face) = shared.cluster.get() {
        face.moves.roles_changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot_transfer::Held;

    #[test]
    fn consistency_levels_count_copies() {
        assert_eq!([1, 2, 3, 5].map(|n| Consistency::One.copies(n)), [1, 1, 1, 1]);
        assert_eq!([1, 2, 3, 5].map(|n| Consistency::Quorum.copies(n)), [1, 2, 2, 3]);
        assert_eq!([1, 2, 3, 5].map(|n| Consistency::All.copies(n)), [1, 2, 3, 5]);
        assert_eq!(Consistency::parse("QUORUM"), Some(Consistency::Quorum));
        assert_eq!(Consistency::parse("two"), None);
    }

    #[tokio::test]
    async fn a_write_waits_for_its_slots_replicas_and_no_others() {
        let repl = Replication::default();
        let a = repl.register(NodeTag(2), &[1, 2]);
        let b = repl.register(NodeTag(3), &[2]);
        a.peer.record(Held { position: 10, since: 0, copied: true, lsn: 0, synced: 0 });
        assert_eq!(repl.holding(Some(1), 10), 1);
        assert_eq!(repl.holding(Some(1), 11), 0);
        assert_eq!(repl.holding(Some(3), 1), 0, "no feed carries slot 3");
        let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        let held = repl.wait(&[(Some(1), 1), (Some(2), 1)], 10, soon).await;
        assert_eq!(held, vec![true, true]);
        let held = repl.wait(&[(Some(1), 2), (Some(2), 2)], 10, soon).await;
        assert_eq!(held, vec![false, false], "slot 1 has one replica fed; slot 2's second has not acknowledged");
        // A feed re-sending its copy holds what came after it subscribed,
        // not what is older.
        b.peer.record(Held { position: 12, since: 8, copied: false, lsn: 0, synced: 0 });
        assert_eq!(repl.holding(Some(2), 9), 2);
        assert_eq!(repl.holding(Some(2), 8), 1, "from before its subscription: only in its copy");
        b.peer.record(Held { position: 12, since: 8, copied: true, lsn: 0, synced: 0 });
        assert_eq!(repl.holding(Some(2), 8), 2);
        drop(a);
        assert_eq!(repl.holding(Some(1), 0), 0, "a feed that ended counts no more");
    }
}
