//! Replication: the control half. Each slot's primary feeds the slot's other
//! replicas (a copy, then every change, over a data link per replica), and a
//! node that becomes a slot's primary catches up from its replicas before it
//! serves. The data half lives in the server ([`DataPlane`]): what a feed
//! carries, what a replica acknowledges, what a write waits for.
//!
//! * **Feeds.** For every other member that replicates some of the slots
//!   this node leads (and has caught up on), one task keeps a
//!   [`DataKind::Feed`] link open and hands it to [`DataPlane::feed`]. When
//!   the set of slots changes (a move, a failover) or the link fails, the
//!   task is replaced: the new feed starts with a fresh copy, which the
//!   replica merges by version (it never drops what it holds, so a replica
//!   always keeps every write it acknowledged).
//! * **Catching up.** A primary serves a slot only once it *caught up* at an
//!   epoch since it became the slot's primary ([`SlotOwners::led_since`]):
//!   it merged the copies of enough of the slot's other replicas that,
//!   with its own, they are a majority of the list. Every write a quorum
//!   acknowledged is on one of them. Until then the slot answers
//!   `-TRYAGAIN` (see [`crate::Cluster::catching_up`]). A primary that has
//!   led the slot throughout, in this process, stays caught up across
//!   epochs; one that restarted catches up again.
//! * **Failover** is the leader's: see `node::fail_over`.
//!
//! [`SlotOwners::led_since`]: crate::topology::SlotOwners::led_since

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::moves::open_data_link;
use crate::node::Shared;
use crate::raft::DataKind;
use crate::swim::Health;
use crate::topology::{NodeTag, Topology, SLOTS};

/// How often a node reconciles its feeds and catch-ups with the topology.
pub const REPLICATE_TICK_MS: u64 = 100;
/// How long a failed feed or catch-up waits before the next try.
const RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Per slot, the epoch at which this node last caught up as its primary
/// (`NOT_READY`: never, in this process).
pub(crate) struct Ready {
    epochs: Vec<AtomicU64>,
}

const NOT_READY: u64 = u64::MAX;

impl Default for Ready {
    fn default() -> Ready {
        Ready { epochs: (0..SLOTS).map(|_| AtomicU64::new(NOT_READY)).collect() }
    }
}

impl Ready {
    /// Whether this node, `slot`'s primary in `t`, may serve it: a single
    /// copy needs no catching up; otherwise it caught up at an epoch since
    /// it became primary.
    pub(crate) fn is_ready(&self, t: &Topology, slot: u16) -> bool {
        let s = &t.slots[slot as usize];
        if s.replicas.len() < 2 {
            return true;
        }
        let at = self.epochs[slot as usize].load(Ordering::Acquire);
        at != NOT_READY && at >= s.led_since
    }

    fn set(&self, slot: u16, epoch: u64) {
        self.epochs[slot as usize].store(epoch, Ordering::Release);
    }
}

/// The quorum of a replica list of `n`.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

struct Feed {
    slots: Vec<u16>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps this node's feeds and catch-ups in line with the applied topology.
pub(crate) async fn replicate_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(REPLICATE_TICK_MS));
    let mut feeds: BTreeMap<NodeTag, Feed> = BTreeMap::new();
    let mut catching: Option<tokio::task::JoinHandle<()>> = None;
    // Which slots this node led at the last topology seen (expiry roles).
    let mut led: Option<(u64, Vec<bool>)> = None;
    loop {
        tick.tick().await;
        let Some(me) = shared.tag.get().copied() else { continue };
        let t = shared.topology.load_full();
        if t.members.is_empty() {
            continue;
        }
        update_roles(&shared, &t, me, &mut led);
        for (i, s) in t.slots.iter().enumerate() {
            if s.replicas.len() == 1 && s.replicas[0] == me {
                shared.ready.set(i as u16, s.epoch);
            }
        }
        let current = shared.lease.holds();
        if current && catching.as_ref().is_none_or(|h| h.is_finished()) {
            let pending: Vec<u16> = (0..SLOTS as u16)
                .filter(|&s| t.slots[s as usize].replicas.first() == Some(&me) && !shared.ready.is_ready(&t, s))
                .collect();
            if !pending.is_empty() {
                catching = Some(tokio::spawn(catch_up(shared.clone(), me, t.clone(), pending)));
            }
        }
        // The feeds this node should run: per replica, the slots it leads,
        // has caught up on, and that replica replicates.
        let mut want: BTreeMap<NodeTag, Vec<u16>> = BTreeMap::new();
        for (i, s) in t.slots.iter().enumerate() {
            if s.replicas.first() == Some(&me) && shared.ready.is_ready(&t, i as u16) {
                for r in &s.replicas[1..] {
                    want.entry(*r).or_default().push(i as u16);
                }
            }
        }
        feeds.retain(|to, f| want.get(to) == Some(&f.slots) && !f.task.is_finished());
        for (to, slots) in want {
            if feeds.contains_key(&to) {
                continue;
            }
            let Some(member) = t.member(to) else { continue };
            if shared.swim.health_of(member.id.as_str()) == Some(Health::Down) {
                continue;
            }
            let addr = member.cluster.to_string();
            let task = tokio::spawn(feed(shared.clone(), me, to, addr, slots.clone()));
            feeds.insert(to, Feed { slots, task });
        }
    }
}

/// Tells the data plane which slots this node now leads and which it no
/// longer leads (expiry belongs to the primary).
fn update_roles(shared: &Shared, t: &Topology, me: NodeTag, led: &mut Option<(u64, Vec<bool>)>) {
    if led.as_ref().is_some_and(|(v, _)| *v == t.version) {
        return;
    }
    let now: Vec<bool> = t.slots.iter().map(|s| s.replicas.first() == Some(&me)).collect();
    let (mut gained, mut lost) = (Vec::new(), Vec::new());
    for (i, &l) in now.iter().enumerate() {
        let before = led.as_ref().map(|(_, b)| b[i]);
        match (before, l) {
            (Some(b), l) if b == l => {}
            (_, true) => gained.push(i as u16),
            (_, false) => lost.push(i as u16),
        }
    }
    shared.data.roles(gained, lost);
    *led = Some((t.version, now));
}

/// One feed, until its link fails (the loop starts it again).
async fn feed(shared: Arc<Shared>, me: NodeTag, to: NodeTag, addr: String, slots: Vec<u16>) {
    let link = match open_data_link(&shared, me, addr, &slots, DataKind::Feed).await {
        Ok(link) => link,
        Err(e) => {
            tracing::debug!(to = %to, error = %e, "replication: cannot open a feed");
            tokio::time::sleep(RETRY_PAUSE).await;
            return;
        }
    };
    tracing::info!(to = %to, slots = slots.len(), "replication: feeding a replica");
    if let Err(e) = shared.data.feed(to, slots.clone(), link).await {
        tracing::warn!(to = %to, slots = slots.len(), error = %e, "replication: a feed broke off");
    }
    tokio::time::sleep(RETRY_PAUSE).await;
}

/// Merges the copies of `slots`' other replicas into this node's, and
/// marks ready each slot for which this node and the replicas that
/// answered are a majority of its list, at the epoch the catch-up began.
async fn catch_up(shared: Arc<Shared>, me: NodeTag, t: Arc<Topology>, slots: Vec<u16>) {
    let mut by_peer: BTreeMap<NodeTag, Vec<u16>> = BTreeMap::new();
    for &s in &slots {
        for r in t.slots[s as usize].replicas.iter().skip(1) {
            by_peer.entry(*r).or_default().push(s);
        }
    }
    let started = tokio::time::Instant::now();
    tracing::info!(slots = slots.len(), replicas = by_peer.len(), "replication: catching up before serving");
    let mut copies = vec![1usize; SLOTS];
    for (peer, peer_slots) in by_peer {
        let Some(member) = t.member(peer) else { continue };
        if shared.swim.health_of(member.id.as_str()) == Some(Health::Down) {
            continue;
        }
        let link = match open_data_link(&shared, me, member.cluster.to_string(), &peer_slots, DataKind::CatchUp).await {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(from = %peer, error = %e, "replication: cannot reach a replica to catch up");
                continue;
            }
        };
        match shared.data.catch_up(peer, peer_slots.clone(), link).await {
            Ok(()) => {
                for s in peer_slots {
                    copies[s as usize] += 1;
                }
            }
            Err(e) => tracing::warn!(from = %peer, error = %e, "replication: catching up from a replica failed"),
        }
    }
    let now = shared.topology.load_full();
    let mut ready = 0;
    for &s in &slots {
        let (was, is) = (&t.slots[s as usize], &now.slots[s as usize]);
        if is.epoch == was.epoch && is.replicas.first() == Some(&me) && copies[s as usize] >= quorum(was.replicas.len())
        {
            shared.ready.set(s, was.epoch);
            ready += 1;
        }
    }
    if ready < slots.len() {
        tracing::warn!(
            ready,
            waiting = slots.len() - ready,
            "replication: some slots have no majority of their replicas to catch up from; they answer TRYAGAIN"
        );
        tokio::time::sleep(RETRY_PAUSE * 3).await;
    } else {
        tracing::info!(slots = ready, ms = started.elapsed().as_millis() as u64, "replication: caught up; serving");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_majority() {
        assert_eq!([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
    }
}
