//! The data half of slot moves (`gyre_cluster::moves` runs the control
//! half): the old primary sends, the new one receives, over the data link
//! the cluster opened, with the transfer protocol of `slot_transfer`.
//!
//! The hand-over, on the sending side: the copy and the changes go out
//! while the slots keep serving here; once the target has acknowledged the
//! copy, the slots are *frozen* (commands on them answer `-TRYAGAIN`, see
//! `cluster::route` and `cluster::recheck`), the gate is passed once on
//! their stripes so that every command admitted before the freeze has run,
//! the change feeds are committed so the tap holds those commands' changes,
//! and the last changes and `End` go out. The target's acknowledgement of
//! `End` means it holds every write acknowledged here. The cluster then
//! completes the move in the topology and releases the slots: their copy
//! here is dropped (a logged [`gyre_engine::Mutation::DropSlot`]).
//!
//! On the receiving side a copy is always preceded by dropping whatever the
//! node held of those slots (a failed earlier move, an old ownership), so
//! a stale key can never mix with the new copy. The receiver does not serve
//! the slots until the topology says so; until then `DBSIZE`, `KEYS` and
//! `SCAN` do not count them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use gyre_cluster::net::{BoxFuture, BoxStream};
use gyre_cluster::{DataPlane, NodeTag, SLOTS};
use gyre_engine::{MutationLog, SlotId};

use crate::gate::Stripes;
use crate::shared::Shared;
use crate::slot_transfer::{receive_slots, send_slots, SendOptions, CHUNK_BYTES};

/// Slots that refuse commands while their hand-over ends, and what moves
/// have done (CLUSTER INFO).
#[derive(Default)]
pub struct SlotMoves {
    frozen: FrozenSlots,
    pub slots_out: AtomicU64,
    pub slots_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub records_in: AtomicU64,
    pub failed: AtomicU64,
    /// Held by a receiver while it checks the plan and drops the old copy,
    /// and by the stray-copy janitor while it picks and drops: the janitor
    /// never drops a slot a move into this node has started to fill.
    drops: tokio::sync::Mutex<()>,
    /// Wakes the stray-copy janitor.
    pub roles_changed: tokio::sync::Notify,
}

impl SlotMoves {
    /// True when `slot` is frozen (a hand-over is ending).
    #[inline]
    pub fn frozen(&self, slot: u16) -> bool {
        self.frozen.contains(slot)
    }

    /// Slots frozen now.
    pub fn frozen_count(&self) -> usize {
        self.frozen.count.load(Ordering::Acquire)
    }
}

/// A bit per slot, and how many are set.
struct FrozenSlots {
    bits: Vec<AtomicU64>,
    count: AtomicUsize,
}

impl Default for FrozenSlots {
    fn default() -> FrozenSlots {
        FrozenSlots { bits: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(), count: AtomicUsize::new(0) }
    }
}

impl FrozenSlots {
    #[inline]
    fn contains(&self, slot: u16) -> bool {
        self.count.load(Ordering::Acquire) > 0
            && self.bits[slot as usize / 64].load(Ordering::SeqCst) & (1 << (slot % 64)) != 0
    }

    fn set(&self, slots: &[u16], on: bool) {
        for &s in slots {
            let bit = 1u64 << (s % 64);
            let word = &self.bits[s as usize / 64];
            let before = if on { word.fetch_or(bit, Ordering::SeqCst) } else { word.fetch_and(!bit, Ordering::SeqCst) };
            match (on, before & bit != 0) {
                (true, false) => {
                    self.count.fetch_add(1, Ordering::SeqCst);
                }
                (false, true) => {
                    self.count.fetch_sub(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }
}

/// The server's [`DataPlane`]: slot moves here, relayed commands in
/// `relay`. Holds the server weakly: the server holds the cluster, which
/// holds this.
pub struct ServerDataPlane {
    shared: Weak<Shared>,
    moves: Arc<SlotMoves>,
}

impl ServerDataPlane {
    pub fn new(shared: &Arc<Shared>, moves: Arc<SlotMoves>) -> ServerDataPlane {
        ServerDataPlane { shared: Arc::downgrade(shared), moves }
    }
}

impl DataPlane for ServerDataPlane {
    fn hand_over(&self, link: BoxStream, slots: Vec<u16>) -> BoxFuture<'static, Result<(), String>> {
        let (shared, moves) = (self.shared.clone(), self.moves.clone());
        Box::pin(async move {
            let shared = shared.upgrade().ok_or("the server is stopping")?;
            let ids: Vec<SlotId> = slots.iter().map(|s| SlotId(*s)).collect();
            let settings = shared.config.settings();
            let (bytes_per_sec, cpu_percent) =
                settings.cluster.as_ref().map_or((0, 100), |c| (c.move_bytes_per_sec, c.move_cpu_percent));
            let opts = SendOptions { bytes_per_sec, chunk_bytes: CHUNK_BYTES, cpu_percent, ..SendOptions::default() };
            let stop = freeze(&shared, &moves, &slots);
            match send_slots(&shared, link, 0, &ids, opts, stop).await {
                Ok(progress) => {
                    moves.bytes_out.fetch_add(progress.bytes, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    moves.failed.fetch_add(1, Ordering::Relaxed);
                    Err(e.to_string())
                }
            }
        })
    }

    fn release(&self, slots: Vec<u16>, moved: bool) {
        let Some(shared) = self.shared.upgrade() else { return };
        let moves = self.moves.clone();
        if !moved {
            moves.frozen.set(&slots, false);
            return;
        }
        moves.slots_out.fetch_add(slots.len() as u64, Ordering::Relaxed);
        tokio::spawn(async move {
            // This node no longer serves them (route and recheck answer
            // MOVED), so nothing writes them here any more. The drop is
            // this node's alone: first its feeds of the slots end (the
            // replication loop sees the new map within a tick), so the
            // replicas never apply it; and a copy it still holds as a
            // replica of the new primary stays.
            if let Some(face) = shared.cluster.get() {
                let deadline = std::time::Instant::now() + FEEDS_END_WAIT;
                while face.replication.carries_any(&slots) && std::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let t = face.cluster.topology();
                let me = face.cluster.tag();
                let gone: Vec<u16> = slots
                    .iter()
                    .copied()
                    .filter(|s| !me.is_some_and(|me| t.slots[*s as usize].replicas.contains(&me)))
                    .collect();
                if let Err(e) = drop_slots(&shared, &gone).await {
                    tracing::warn!(slots = gone.len(), error = %e, "dropping slots handed over");
                }
            }
            moves.frozen.set(&slots, false);
        });
    }

    fn relay(&self, user: String, resp3: bool, link: BoxStream) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Some(shared) = shared.upgrade() {
                crate::relay::serve(shared, user, resp3, link).await;
            }
        })
    }

    fn feed(&self, to: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, Result<(), String>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let shared = shared.upgrade().ok_or("the server is stopping")?;
            crate::replication::feed(shared, to, slots, link).await
        })
    }

    fn applied_from(&self, primary: NodeTag) -> u64 {
        let shared = self.shared.upgrade();
        shared.and_then(|s| s.cluster.get().map(|face| face.replication.applied_from(primary))).unwrap_or(0)
    }

    fn follow(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Some(shared) = shared.upgrade() {
                crate::replication::follow(shared, from, slots, link).await;
            }
        })
    }

    fn catch_up(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, Result<(), String>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let shared = shared.upgrade().ok_or("the server is stopping")?;
            crate::replication::catch_up(shared, from, slots, link).await
        })
    }

    fn serve_copy(&self, to: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Some(shared) = shared.upgrade() {
                crate::replication::serve_copy(shared, to, slots, link).await;
            }
        })
    }

    fn roles(&self, led: Vec<u16>, not_led: Vec<u16>) {
        if let Some(shared) = self.shared.upgrade() {
            crate::replication::roles(&shared, &led, &not_led);
        }
    }

    fn published(&self, messages: Vec<gyre_cluster::bus::Message>) {
        let Some(shared) = self.shared.upgrade() else { return };
        let limit = *shared.config.hot.pubsub_limit.read();
        for (channel, message) in messages {
            shared.pubsub.publish(&channel, &message, limit);
        }
    }

    fn receive(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()> {
        let (shared, moves) = (self.shared.clone(), self.moves.clone());
        Box::pin(async move {
            let Some(shared) = shared.upgrade() else { return };
            let Some(face) = shared.cluster.get() else { return };
            if slots.iter().any(|s| *s as usize >= SLOTS || face.cluster.serves(*s)) {
                tracing::warn!(from = %from, "refused a slot move: this node already serves some of the slots");
                return;
            }
            // Only once this node has applied the plan that moves the slots
            // here: then it applies their completion moments after its
            // sender, and clients sent here meanwhile get TRYAGAIN (see
            // `cluster::route`), not a map that does not know the move.
            let drops = moves.drops.lock().await;
            let t = face.cluster.topology();
            let me = face.cluster.tag();
            if me.is_none() || slots.iter().any(|s| t.slots[*s as usize].target.first() != me.as_ref()) {
                tracing::debug!(from = %from, "a slot move arrived before its plan; the sender tries again");
                return;
            }
            // A copy this node holds as a replica stays (the move merges
            // into it by version): it may hold writes a quorum acknowledged.
            let stale: Vec<u16> = slots
                .iter()
                .copied()
                .filter(|s| !me.is_some_and(|me| t.slots[*s as usize].replicas.contains(&me)))
                .collect();
            if let Err(e) = drop_slots(&shared, &stale).await {
                tracing::warn!(from = %from, error = %e, "refused a slot move: cannot drop the old copy");
                return;
            }
            drop(drops);
            tracing::info!(from = %from, slots = slots.len(), "receiving slots");
            let started = std::time::Instant::now();
            match receive_slots(&shared, link).await {
                Ok(applied) => {
                    moves.slots_in.fetch_add(slots.len() as u64, Ordering::Relaxed);
                    moves.records_in.fetch_add(applied.applied as u64, Ordering::Relaxed);
                    tracing::info!(
                        from = %from,
                        slots = slots.len(),
                        records = applied.applied,
                        ms = started.elapsed().as_millis() as u64,
                        "received slots"
                    );
                }
                Err(e) => {
                    moves.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(from = %from, slots = slots.len(), error = %e, "slot move broke off");
                }
            }
        })
    }
}

/// How long a node that handed slots over waits for its feeds of them to
/// end before it drops its copy.
const FEEDS_END_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a node looks for copies of slots it neither serves nor
/// receives.
const STRAYS_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Drops, now and then, the copies of slots this node holds keys of
/// without serving or receiving them: left by a crash between a hand-over
/// and its drop, or by a move that broke off and was planned elsewhere.
/// They are never served or counted; this gives their memory back.
pub async fn drop_strays(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(STRAYS_CHECK);
    loop {
        let Some(face) = shared.cluster.get() else { return };
        tokio::select! {
            _ = tick.tick() => {}
            // The node's roles changed (`replication::roles`): a copy it no
            // longer replicates goes now, not at the next check.
            () = face.moves.roles_changed.notified() => {}
            () = shared.shutdown.stopping() => return,
        }
        let Some(me) = face.cluster.tag() else { continue };
        if !face.cluster.map_is_current() {
            continue;
        }
        let _drops = face.moves.drops.lock().await;
        let t = face.cluster.topology();
        // A frozen slot is on its way out: its hand-over drops it.
        let strays =
            stray_slots(&t, me, |s| !face.moves.frozen(s) && shared.ks.db(0).lock(SlotId(s)).slot_len(SlotId(s)) > 0);
        if strays.is_empty() {
            continue;
        }
        tracing::info!(slots = strays.len(), "dropping copies of slots this node neither serves nor receives");
        if let Err(e) = drop_slots(&shared, &strays).await {
            tracing::warn!(error = %e, "dropping stray slot copies");
        }
    }
}

/// The slots that hold something here (`holds`) that this node neither
/// replicates (as primary or replica) nor is in the target list of.
pub fn stray_slots(t: &gyre_cluster::Topology, me: NodeTag, holds: impl Fn(u16) -> bool) -> Vec<u16> {
    (0..SLOTS as u16)
        .filter(|&s| {
            let owners = &t.slots[s as usize];
            !owners.replicas.contains(&me) && !owners.target.contains(&me) && holds(s)
        })
        .collect()
}

/// Freezes `slots` and returns once every command admitted before has run
/// and its changes are in the feeds' taps.
async fn freeze(shared: &Shared, moves: &SlotMoves, slots: &[u16]) {
    moves.frozen.set(slots, true);
    let mut stripes = Stripes::NONE;
    for &s in slots {
        stripes.add(Stripes::of_slot(SlotId(s)));
    }
    // Commands on these stripes admitted before the freeze leave; those
    // admitted after see it. Nothing to give up on: a busy script delays
    // the hand-over, as it delays everything else.
    let guard = shared.gate.exclusive(stripes, false, || None::<()>).await;
    drop(guard);
    crate::commit::commit_feeds(&shared.persistence, &shared.ks);
}

/// Forgets this node's copy of `slots` (durably, in the log).
async fn drop_slots(shared: &Shared, slots: &[u16]) -> Result<(), String> {
    let ids: Vec<SlotId> = slots.iter().map(|s| SlotId(*s)).collect();
    let mut log = MutationLog::new();
    let detached = crate::commit::commit_drop(&shared.persistence, &shared.ks, &mut log, 0, &ids, shared.now_ms());
    let ticket = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
    if !detached.is_empty() {
        shared.free_later(Box::new(detached));
    }
    ticket.durable(&shared.persistence).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre_cluster::{Command, Endpoint, NodeId, Outcome, Topology};

    #[test]
    fn strays_are_slots_held_here_that_are_neither_led_nor_moving_here() {
        let ep = |n: u16| Endpoint { host: "127.0.0.1".into(), port: 7000 + n };
        let id = |n: u16| NodeId::parse(&format!("{n:040x}")).unwrap();
        let mut t = Topology::new();
        let boot = Command::Bootstrap { id: id(1), client: ep(1), cluster: ep(1), replication_factor: 1 };
        assert!(matches!(t.apply(&boot), Outcome::Joined(_)));
        let join = Command::Join { id: id(2), client: ep(2), cluster: ep(2), at_once: false };
        let Outcome::Joined(two) = t.apply(&join) else { panic!("joined") };
        let one = NodeTag(1);
        // Node 1 leads everything; half of it moves to node 2.
        let moving: Vec<u16> =
            (0..SLOTS as u16).filter(|s| t.slots[*s as usize].target.first() == Some(&two)).collect();
        assert!(!moving.is_empty());
        // Node 2 holding copies of the slots moving to it: none is a stray.
        assert!(stray_slots(&t, two, |s| moving.contains(&s)).is_empty());
        // Node 2 holding a slot that stays with node 1: a stray.
        let stays = (0..SLOTS as u16).find(|s| !moving.contains(s)).unwrap();
        assert_eq!(stray_slots(&t, two, |s| s == stays), vec![stays]);
        // Node 1 leads everything: nothing it holds is a stray.
        assert!(stray_slots(&t, one, |_| true).is_empty());
        // Once the moves complete, node 1's copies of the moved slots are.
        let moves = moving.iter().map(|s| (*s, t.slots[*s as usize].target.clone())).collect();
        assert_eq!(t.apply(&Command::Complete { moves }), Outcome::Done);
        assert_eq!(stray_slots(&t, one, |_| true), moving);
    }
}
