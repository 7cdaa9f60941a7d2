//! Slot moves: the control half. The topology names each moving slot's
//! target list; the slot's current primary drives the move, so that the
//! node answering clients for the slot is the one that hands it over:
//!
//! 1. it opens a data link to the target's primary (the cluster port, the
//!    same handshake as Raft's links) and gives it to the [`DataPlane`], which
//!    copies the slots and their changes and, once the target has caught
//!    up, makes them refuse writes here (they are *frozen*: `-TRYAGAIN`)
//!    and sends the last changes;
//! 2. it proposes [`Command::Complete`]: the target becomes the slots'
//!    replica list under a new epoch;
//! 3. once this node has applied that, it releases the slots (the mover
//!    drops its copy; clients now get `-MOVED`). A slot whose target
//!    changed meanwhile is released back to serving here.
//!
//! A failure anywhere leaves the slots either serving here (before the
//! freeze) or frozen (after it, until the topology says which way it
//! went): a slot is never served by two nodes, and a write acknowledged
//! here before the freeze is on the target before the target serves.
//! Slots whose primary does not change complete without data (replicas
//! hold no data until replication lands).
//!
//! The data half lives in the server ([`DataPlane`]); the cluster crate knows
//! nothing of keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::net::{BoxFuture, BoxStream};
use crate::node::Shared;
use crate::raft::{DataKind, Link, Request, Response};
use crate::swim::Health;
use crate::topology::{Command, NodeTag, Outcome, Topology};

/// How often a node looks for moves it should drive.
pub const MOVE_TICK_MS: u64 = 100;
/// How long a node waits to apply a completion it proposed.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a data link may take.
const LINK_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's side of the cluster: the data half of slot moves, and
/// commands relayed from other nodes.
pub trait DataPlane: Send + Sync + 'static {
    /// Copies `slots` (led here) over `link` to the primary of their target,
    /// returning once it holds every write acknowledged here for them; the
    /// slots then refuse commands here (frozen) until [`DataPlane::release`].
    fn hand_over(&self, link: BoxStream, slots: Vec<u16>) -> BoxFuture<'static, Result<(), String>>;
    /// The move of `slots` completed (`moved`: drop the copy here) or did
    /// not (serve them here again).
    fn release(&self, slots: Vec<u16>, moved: bool);
    /// A data link from the primary of `slots`, which moves them here.
    fn receive(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()>;
    /// A relay link: RESP requests to run as ACL user `user`, answered in
    /// order (RESP3 replies with `resp3`), until the link closes.
    fn relay(&self, user: String, resp3: bool, link: BoxStream) -> BoxFuture<'static, ()>;
    /// Messages another member PUBLISHed, for this node's subscribers.
    fn published(&self, messages: Vec<crate::bus::Message>);
    /// Feeds replica `to` over `link` with `slots` (led here): a copy, then
    /// every change, until the link fails (an error) or the future is
    /// dropped. Once `to` has acknowledged the copy, its acknowledgements
    /// count towards writes' consistency levels.
    fn feed(&self, to: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, Result<(), String>>;
    /// A feed from the primary of `slots` (this node replicates them):
    /// applies it and acknowledges what is durable, as long as the applied
    /// topology names `from` their primary.
    fn follow(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()>;
    /// How far this node got in `primary`'s change feeds: the newest
    /// version (its hybrid logical clock) among the records it applied
    /// from them since it started, 0 when none. The leader asks each live
    /// replica of a failed primary and promotes the one that got furthest.
    fn applied_from(&self, primary: NodeTag) -> u64;
    /// Merges the copy of `slots` that replica `from` sends over `link`
    /// into this node's (which now leads them), returning once it holds
    /// all of it.
    fn catch_up(&self, from: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, Result<(), String>>;
    /// Sends this node's copy of `slots` to `to`, their new primary, which
    /// is catching up; only while the applied topology names `to` their
    /// primary.
    fn serve_copy(&self, to: NodeTag, slots: Vec<u16>, link: BoxStream) -> BoxFuture<'static, ()>;
    /// This node now leads `led` (it expires their keys) and does not lead
    /// `not_led` (a replica hides expired keys and waits for the primary's
    /// deletes).
    fn roles(&self, led: Vec<u16>, not_led: Vec<u16>);
}

/// A mover for a cluster without data (the crate's own tests and
/// simulation): every hand-over succeeds at once.
pub struct NoData;

impl DataPlane for NoData {
    fn hand_over(&self, _link: BoxStream, _slots: Vec<u16>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn release(&self, _slots: Vec<u16>, _moved: bool) {}
    fn receive(&self, _from: NodeTag, _slots: Vec<u16>, _link: BoxStream) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn relay(&self, _user: String, _resp3: bool, _link: BoxStream) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn published(&self, _messages: Vec<crate::bus::Message>) {}
    fn feed(&self, _to: NodeTag, _slots: Vec<u16>, _link: BoxStream) -> BoxFuture<'static, Result<(), String>> {
        // Nothing to send: the link stays open until it fails.
        Box::pin(std::future::pending())
    }
    fn follow(&self, _from: NodeTag, _slots: Vec<u16>, _link: BoxStream) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn applied_from(&self, _primary: NodeTag) -> u64 {
        0
    }
    fn catch_up(&self, _from: NodeTag, _slots: Vec<u16>, _link: BoxStream) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn serve_copy(&self, _to: NodeTag, _slots: Vec<u16>, _link: BoxStream) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn roles(&self, _led: Vec<u16>, _not_led: Vec<u16>) {}
}

/// A slot and the replica list it moves to.
type SlotMove = (u16, Vec<NodeTag>);

/// Slots this node froze for a hand-over, with the target list each was
/// handed to.
type Frozen = BTreeMap<u16, Vec<NodeTag>>;

/// Drives the moves of the slots this node leads, one target at a time.
pub(crate) async fn move_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(MOVE_TICK_MS));
    let mut frozen = Frozen::new();
    loop {
        tick.tick().await;
        let Some(me) = shared.tag.get().copied() else { continue };
        settle(&shared, me, &mut frozen);
        if !shared.lease.holds() {
            continue;
        }
        let t = shared.topology.load_full();
        let Some((to, moves)) = next_batch(&t, me) else { continue };
        if to == me {
            // The primary stays: nothing to copy (replicas hold no data yet).
            let _ = crate::node::propose(&shared, Command::Complete { moves }).await;
            continue;
        }
        let Some(member) = t.member(to) else { continue };
        if shared.swim.health_of(member.id.as_str()) == Some(Health::Down) {
            continue;
        }
        let slots: Vec<u16> = moves.iter().map(|(s, _)| *s).collect();
        let link = match open_data_link(&shared, me, member.cluster.to_string(), &slots, DataKind::Move).await {
            Ok(link) => link,
            Err(e) => {
                tracing::warn!(to = %to, slots = slots.len(), error = %e, "slot move: cannot reach the target");
                continue;
            }
        };
        tracing::info!(to = %to, slots = slots.len(), "slot move: copying");
        let started = tokio::time::Instant::now();
        if let Err(e) = shared.data.hand_over(link, slots.clone()).await {
            tracing::warn!(to = %to, slots = slots.len(), error = %e, "slot move failed; serving the slots here again");
            shared.data.release(slots, false);
            continue;
        }
        frozen.extend(moves.iter().cloned());
        match crate::node::propose(&shared, Command::Complete { moves }).await {
            Ok(Outcome::Done) => {}
            Ok(other) => tracing::warn!(to = %to, outcome = ?other, "slot move: completion refused"),
            Err(e) => tracing::warn!(to = %to, error = %e, "slot move: completion not confirmed"),
        }
        // Wait (bounded) until this node applied what became of the moves.
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while !frozen.is_empty() && tokio::time::Instant::now() < deadline {
            settle(&shared, me, &mut frozen);
            if !frozen.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        tracing::info!(
            to = %to,
            slots = slots.len(),
            ms = started.elapsed().as_millis() as u64,
            unsettled = frozen.len(),
            "slot move: handed over"
        );
    }
}

/// The slots this node leads that move, for one target primary (the
/// lowest tag first), with their target lists.
fn next_batch(t: &Topology, me: NodeTag) -> Option<(NodeTag, Vec<SlotMove>)> {
    let mut by_target: BTreeMap<NodeTag, Vec<SlotMove>> = BTreeMap::new();
    for (i, s) in t.slots.iter().enumerate() {
        if s.replicas.first() == Some(&me) && !s.target.is_empty() {
            by_target.entry(s.target[0]).or_default().push((i as u16, s.target.clone()));
        }
    }
    // Moves that copy nothing go first: they complete at once.
    if let Some(mine) = by_target.remove(&me) {
        return Some((me, mine));
    }
    by_target.into_iter().next()
}

/// Releases the frozen slots whose fate the applied topology shows: moved
/// (another node leads them) or not (the target changed; serve again).
fn settle(shared: &Shared, me: NodeTag, frozen: &mut Frozen) {
    if frozen.is_empty() {
        return;
    }
    let t = shared.topology.load_full();
    let (mut moved, mut back) = (Vec::new(), Vec::new());
    frozen.retain(|slot, list| {
        let s = &t.slots[*slot as usize];
        if s.replicas.first() != Some(&me) {
            moved.push(*slot);
            false
        } else if s.target != *list {
            back.push(*slot);
            false
        } else {
            true
        }
    });
    if !moved.is_empty() {
        shared.data.release(moved, true);
    }
    if !back.is_empty() {
        shared.data.release(back, false);
    }
}

pub(crate) async fn open_data_link(
    shared: &Shared,
    me: NodeTag,
    addr: String,
    slots: &[u16],
    kind: DataKind,
) -> std::io::Result<BoxStream> {
    let mut link = Link::new(shared.net.clone(), shared.secret.clone(), addr, shared.nonces.clone());
    match link.call(&Request::Data { from: me, slots: slots.to_vec(), kind }, LINK_TIMEOUT).await? {
        Response::DataAccepted => link.into_stream().ok_or_else(|| std::io::Error::other("the data link closed")),
        Response::NotReady => Err(std::io::Error::other("the target is not ready")),
        _ => Err(std::io::Error::other("the target refused the data link")),
    }
}

/// Waits (bounded) until `tag` holds no slot and none moves to it.
pub(crate) async fn wait_emptied(shared: &Shared, tag: NodeTag, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if shared.topology.load().holds_nothing(tag) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
