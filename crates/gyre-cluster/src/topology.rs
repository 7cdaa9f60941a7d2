//! The topology: who is in the cluster and who holds each of the 16384 slots.
//!
//! Pure data and a deterministic state machine. Every change is a [`Command`]
//! applied by [`Topology::apply`]; the Raft log orders the commands, so every
//! node that applied the same prefix holds the same `Topology` (same
//! [`Topology::version`], same map). Nothing here reads a clock, a socket or
//! randomness.
//!
//! Invariants (checked by [`Topology::check`] in tests and after every apply in
//! debug builds):
//! * every slot's replica list holds distinct members that exist and are not
//!   gone; its first entry is the primary;
//! * once any member is active, every slot has at least one replica;
//! * a member's [`NodeTag`] is assigned once, at its `Join`, and never reused,
//!   even after `Forget` (`next_tag` only grows).
//!
//! Placement ([`Topology::rebalance`]) keeps every replica that may stay and
//! moves the fewest copies needed for balance: with n active members each is
//! primary of 16384/n ± 1 slots and holds RF×16384/n ± 1 copies, where RF is
//! min(replication factor, n).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Slots in a Redis cluster.
pub const SLOTS: usize = 16384;

/// A member's compact, never-reused number, assigned by the topology log at
/// its `Join`. It is also the member's Raft node id, and the tag that data
/// versions carry to name the node that issued them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeTag(pub u16);

impl std::fmt::Display for NodeTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A node's persistent identity: 40 lowercase hex characters, as Redis's
/// node ids (the server keeps it in its manifest).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(String);

impl NodeId {
    /// Accepts exactly 40 hex characters (stored lowercase).
    pub fn parse(s: &str) -> Option<NodeId> {
        (s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| NodeId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Host and port (a client endpoint or a cluster endpoint). The host is
/// never empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A member's place in the cluster's life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Admitted; receives slots at the next rebalance.
    Joining,
    /// Holds slots and serves them.
    Active,
    /// Handing its slots away; holds none once the rebalance is done.
    Leaving,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub tag: NodeTag,
    pub id: NodeId,
    /// What clients are told (CLUSTER SLOTS, MOVED).
    pub client: Endpoint,
    /// Raft (TCP) and SWIM (UDP) on one port.
    pub cluster: Endpoint,
    pub state: MemberState,
}

/// One slot's owners.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotOwners {
    /// Ordered; the first is the primary. Empty only before the first member.
    pub replicas: Vec<NodeTag>,
    /// Bumped whenever the replica list changes (the fence of issue 16).
    pub epoch: u64,
    /// The replica list this slot is moving to (empty: no move). The
    /// current primary copies the slot to the target's primary and then
    /// proposes `Complete`, which makes the target the list under a new
    /// epoch; until then the current list serves.
    pub target: Vec<NodeTag>,
    /// The epoch at which the current primary became primary (set by
    /// `Topology::apply` whenever the first replica changes): a primary
    /// that caught up at an epoch since then has led the slot throughout.
    #[serde(default)]
    pub led_since: u64,
}

/// A change to the topology: the only way it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The first member of a new cluster: takes tag 1, all slots, and sets
    /// the replication factor. Refused once the cluster has another member.
    Bootstrap { id: NodeId, client: Endpoint, cluster: Endpoint, replication_factor: u8 },
    /// Admit a node (idempotent by `id`: a second Join of the same id updates
    /// its endpoints and keeps its tag). Refused before the bootstrap, so no
    /// joiner can take the bootstrapping node's tag. The new placement
    /// becomes the slots' targets (moves that carry the data), or, with
    /// `at_once`, the replica lists straight away (no data moves: tests).
    Join { id: NodeId, client: Endpoint, cluster: Endpoint, at_once: bool },
    /// A member's new endpoints (a restart with other addresses). Refused
    /// for a node that is no longer a member: it never re-admits one.
    Update { tag: NodeTag, id: NodeId, client: Endpoint, cluster: Endpoint },
    /// Mark a member leaving: the placement without it becomes the targets.
    Leave { tag: NodeTag },
    /// Remove a member (dead or left) at once: it leaves every replica list
    /// (the next replica leads its slots; a slot it held alone is assigned
    /// anew), and the placement over the rest becomes the targets.
    Forget { tag: NodeTag },
    /// Recompute the targets over the active members.
    Rebalance,
    /// Moves done: each slot whose target is still the given list takes it
    /// as its replica list, under a new epoch. Slots whose target changed
    /// meanwhile are left as they are (the move starts again).
    Complete { moves: Vec<(u16, Vec<NodeTag>)> },
    /// `tag` is down (SWIM, past the node timeout; the leader proposes it).
    /// Each slot it leads whose replicas in `live` are a majority of its
    /// list takes one of them as primary under a new epoch: the one that
    /// got furthest in `tag`'s feeds by `applied` (each replica's answer,
    /// see `DataPlane::applied_from`; one not named counts 0), the first
    /// in the list among equals, as Raft's election restriction prefers
    /// the most complete log. `tag` goes last in the list (it comes back
    /// as a replica). A slot without a live majority keeps its primary: no
    /// new primary could hold every write a quorum acknowledged.
    Failover {
        tag: NodeTag,
        live: Vec<NodeTag>,
        #[serde(default)]
        applied: Vec<(NodeTag, u64)>,
    },
}

/// For the log: a command in a line (a `Complete` names how many slots,
/// not each).
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Bootstrap { id, .. } => write!(f, "Bootstrap {id}"),
            Command::Join { id, client, .. } => write!(f, "Join {id} ({client})"),
            Command::Update { tag, client, .. } => write!(f, "Update {tag} ({client})"),
            Command::Leave { tag } => write!(f, "Leave {tag}"),
            Command::Forget { tag } => write!(f, "Forget {tag}"),
            Command::Rebalance => write!(f, "Rebalance"),
            Command::Failover { tag, .. } => write!(f, "Failover {tag}"),
            Command::Complete { moves } => {
                let to = moves.first().and_then(|(_, l)| l.first());
                match to {
                    Some(t) => write!(f, "Complete {} slot moves (to {t}, ...)", moves.len()),
                    None => write!(f, "Complete {} slot moves", moves.len()),
                }
            }
        }
    }
}

/// What applying a command answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Joined(NodeTag),
    Done,
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Bumped by every applied command that changed something.
    pub version: u64,
    /// Target copies per slot; the effective factor is min(this, active members).
    pub replication_factor: u8,
    pub members: BTreeMap<NodeTag, Member>,
    /// Indexed by slot; always `SLOTS` long.
    pub slots: Vec<SlotOwners>,
    /// The next tag to assign; never decreases.
    pub next_tag: u16,
    /// Failovers applied (`Command::Failover` that promoted something).
    #[serde(default)]
    pub failovers: u64,
}

impl Default for Topology {
    fn default() -> Self {
        Topology::new()
    }
}

impl Topology {
    pub fn new() -> Topology {
        Topology {
            version: 0,
            replication_factor: 3,
            members: BTreeMap::new(),
            slots: vec![SlotOwners::default(); SLOTS],
            next_tag: 1,
            failovers: 0,
        }
    }

    /// Applies one command. Deterministic: the same topology and command give
    /// the same result on every node.
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        let before = self.clone();
        let outcome = match cmd {
            Command::Bootstrap { id, client, cluster, replication_factor } => {
                if !self.members.is_empty() && self.member_by_id(id.as_str()).is_none() {
                    Outcome::Refused("the cluster is already bootstrapped".into())
                } else {
                    if self.members.is_empty() {
                        self.replication_factor = (*replication_factor).max(1);
                    }
                    self.join(id, client, cluster, true)
                }
            }
            Command::Join { id, client, cluster, at_once } => {
                if self.members.is_empty() {
                    Outcome::Refused("the cluster is not bootstrapped yet".into())
                } else {
                    self.join(id, client, cluster, *at_once)
                }
            }
            Command::Update { tag, id, client, cluster } => match self.members.get_mut(tag) {
                Some(m) if &m.id == id => {
                    m.client = client.clone();
                    m.cluster = cluster.clone();
                    Outcome::Done
                }
                _ => Outcome::Refused(format!("node {id} is not a member of this cluster")),
            },
            Command::Leave { tag } => self.leave(*tag),
            Command::Forget { tag } => self.forget(*tag),
            Command::Rebalance => {
                self.plan();
                Outcome::Done
            }
            Command::Complete { moves } => self.complete(moves),
            Command::Failover { tag, live, applied } => self.failover(*tag, live, applied),
        };
        for (s, b) in self.slots.iter_mut().zip(&before.slots) {
            if s.replicas.first() != b.replicas.first() {
                s.led_since = s.epoch;
            }
        }
        if *self != before {
            self.version = before.version + 1;
        }
        debug_assert_eq!(self.check(), Ok(()));
        outcome
    }

    fn join(&mut self, id: &NodeId, client: &Endpoint, cluster: &Endpoint, at_once: bool) -> Outcome {
        if let Some(m) = self.members.values_mut().find(|m| &m.id == id) {
            m.client = client.clone();
            m.cluster = cluster.clone();
            return Outcome::Joined(m.tag);
        }
        if self.next_tag == u16::MAX {
            return Outcome::Refused("no node tags left".into());
        }
        let tag = NodeTag(self.next_tag);
        self.next_tag += 1;
        self.members.insert(
            tag,
            Member {
                tag,
                id: id.clone(),
                client: client.clone(),
                cluster: cluster.clone(),
                state: MemberState::Joining,
            },
        );
        if at_once {
            self.rebalance();
        }
        self.plan();
        Outcome::Joined(tag)
    }

    fn leave(&mut self, tag: NodeTag) -> Outcome {
        let Some(m) = self.members.get(&tag) else { return Outcome::Refused(format!("no member {tag}")) };
        if m.state != MemberState::Leaving && self.active().count() == 1 {
            return Outcome::Refused("the last member cannot leave; its slots would have no owner".into());
        }
        self.members.get_mut(&tag).expect("checked").state = MemberState::Leaving;
        self.plan();
        Outcome::Done
    }

    fn forget(&mut self, tag: NodeTag) -> Outcome {
        if !self.members.contains_key(&tag) {
            return Outcome::Refused(format!("no member {tag}"));
        }
        if self.members.len() == 1 {
            return Outcome::Refused("cannot forget the last member".into());
        }
        self.members.remove(&tag);
        let mut orphans = false;
        for s in &mut self.slots {
            if s.replicas.contains(&tag) {
                s.replicas.retain(|t| *t != tag);
                s.epoch += 1;
                orphans |= s.replicas.is_empty();
            }
        }
        if orphans {
            // Slots it held alone: assigned at once (there is no copy to move).
            let mut want = self.clone();
            want.rebalance();
            for (s, w) in self.slots.iter_mut().zip(want.slots) {
                if s.replicas.is_empty() {
                    s.replicas = w.replicas;
                    s.epoch += 1;
                }
            }
        }
        self.plan();
        Outcome::Done
    }

    fn failover(&mut self, tag: NodeTag, live: &[NodeTag], applied: &[(NodeTag, u64)]) -> Outcome {
        let got = |r: NodeTag| applied.iter().find(|(t, _)| *t == r).map_or(0, |(_, a)| *a);
        if !self.members.contains_key(&tag) {
            return Outcome::Refused(format!("no member {tag}"));
        }
        let mut promoted = 0;
        for s in &mut self.slots {
            if s.replicas.first() != Some(&tag) || s.replicas.len() < 2 {
                continue;
            }
            let up: Vec<NodeTag> = s.replicas.iter().copied().filter(|r| *r != tag && live.contains(r)).collect();
            if up.len() < s.replicas.len() / 2 + 1 {
                continue;
            }
            // The furthest; the first in the list among equals.
            let new = up.iter().copied().rev().max_by_key(|r| got(*r)).expect("a majority is not empty");
            s.replicas.retain(|r| *r != tag && *r != new);
            s.replicas.insert(0, new);
            s.replicas.push(tag);
            s.epoch += 1;
            promoted += 1;
        }
        if promoted == 0 {
            return Outcome::Refused(format!("no slot led by {tag} has a live majority of replicas"));
        }
        self.failovers += 1;
        Outcome::Done
    }

    /// Sets every slot's target to the placement over the active members
    /// (what [`Topology::rebalance`] would make of the current lists), or
    /// clears it where that is the current list. Joining members count as
    /// active from here on.
    fn plan(&mut self) {
        let mut want = self.clone();
        want.rebalance();
        for m in self.members.values_mut() {
            if m.state == MemberState::Joining {
                m.state = MemberState::Active;
            }
        }
        for (s, w) in self.slots.iter_mut().zip(want.slots) {
            s.target = if w.replicas == s.replicas { Vec::new() } else { w.replicas };
        }
    }

    fn complete(&mut self, moves: &[(u16, Vec<NodeTag>)]) -> Outcome {
        let mut done = 0;
        for (slot, list) in moves {
            let Some(s) = self.slots.get_mut(*slot as usize) else { continue };
            if !list.is_empty() && s.target == *list {
                s.replicas = std::mem::take(&mut s.target);
                s.epoch += 1;
                done += 1;
            }
        }
        if done == 0 && !moves.is_empty() {
            return Outcome::Refused("no move completed: the targets changed".into());
        }
        Outcome::Done
    }

    /// Slots with a move in progress.
    pub fn moving(&self) -> usize {
        self.slots.iter().filter(|s| !s.target.is_empty()).count()
    }

    /// True when `tag` holds no slot and none is moving to it.
    pub fn holds_nothing(&self, tag: NodeTag) -> bool {
        self.slots.iter().all(|s| !s.replicas.contains(&tag) && !s.target.contains(&tag))
    }

    /// Members that hold (or are to hold) slots, in tag order.
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| m.state != MemberState::Leaving)
    }

    pub fn member(&self, tag: NodeTag) -> Option<&Member> {
        self.members.get(&tag)
    }

    pub fn member_by_id(&self, id: &str) -> Option<&Member> {
        self.members.values().find(|m| m.id.as_str().eq_ignore_ascii_case(id))
    }

    /// The slot's primary, if the slot is assigned.
    pub fn primary(&self, slot: u16) -> Option<&Member> {
        self.slots.get(slot as usize)?.replicas.first().and_then(|t| self.members.get(t))
    }

    pub fn epoch(&self, slot: u16) -> u64 {
        self.slots.get(slot as usize).map_or(0, |s| s.epoch)
    }

    /// The largest slot epoch (CLUSTER INFO's current epoch).
    pub fn max_epoch(&self) -> u64 {
        self.slots.iter().map(|s| s.epoch).max().unwrap_or(0)
    }

    /// Contiguous runs of slots with the same replica list, in slot order
    /// (CLUSTER SLOTS). Unassigned slots are left out.
    pub fn ranges(&self) -> Vec<SlotRange<'_>> {
        let mut out: Vec<SlotRange<'_>> = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if s.replicas.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(r) if r.end as usize + 1 == i && r.replicas == s.replicas.as_slice() => r.end = i as u16,
                _ => out.push(SlotRange { start: i as u16, end: i as u16, replicas: &s.replicas }),
            }
        }
        out
    }

    /// Slots whose primary is `tag`, as ranges.
    pub fn primary_ranges(&self, tag: NodeTag) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if s.replicas.first() != Some(&tag) {
                continue;
            }
            match out.last_mut() {
                Some(r) if r.1 as usize + 1 == i => r.1 = i as u16,
                _ => out.push((i as u16, i as u16)),
            }
        }
        out
    }

    /// Number of slots whose primary is `tag`.
    pub fn primary_count(&self, tag: NodeTag) -> usize {
        self.slots.iter().filter(|s| s.replicas.first() == Some(&tag)).count()
    }

    /// Number of slot copies `tag` holds.
    pub fn copy_count(&self, tag: NodeTag) -> usize {
        self.slots.iter().filter(|s| s.replicas.contains(&tag)).count()
    }

    /// Slots that are assigned.
    pub fn assigned(&self) -> usize {
        self.slots.iter().filter(|s| !s.replicas.is_empty()).count()
    }

    /// The invariants listed in the module doc.
    pub fn check(&self) -> Result<(), String> {
        if self.slots.len() != SLOTS {
            return Err(format!("{} slots", self.slots.len()));
        }
        if let Some(max) = self.members.keys().max() {
            if max.0 >= self.next_tag {
                return Err(format!("tag {max} not below next_tag {}", self.next_tag));
            }
        }
        let any_active = self.active().next().is_some();
        for (i, s) in self.slots.iter().enumerate() {
            for (j, t) in s.replicas.iter().enumerate() {
                if !self.members.contains_key(t) {
                    return Err(format!("slot {i} names unknown member {t}"));
                }
                if s.replicas[..j].contains(t) {
                    return Err(format!("slot {i} names {t} twice"));
                }
            }
            if any_active && s.replicas.is_empty() {
                return Err(format!("slot {i} has no owner"));
            }
        }
        Ok(())
    }
}

/// A run of slots with one replica list (primary first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange<'a> {
    pub start: u16,
    pub end: u16,
    pub replicas: &'a [NodeTag],
}

/// Targets `total` spread over `nodes`: `total / n` each and one more for the
/// first `total % n`, preferring those that hold more now (fewer moves), then
/// the lower tag.
fn targets(nodes: &[NodeTag], total: usize, load: &BTreeMap<NodeTag, usize>) -> BTreeMap<NodeTag, usize> {
    let n = nodes.len();
    let mut order = nodes.to_vec();
    order.sort_by_key(|t| (std::cmp::Reverse(load.get(t).copied().unwrap_or(0)), *t));
    order.iter().enumerate().map(|(i, t)| (*t, total / n + usize::from(i < total % n))).collect()
}

impl Topology {
    /// Recomputes placement over the active (not leaving) members, keeping
    /// every copy that may stay. Replica lists lose members that left or
    /// were forgotten, over-full members shed copies, short lists are filled
    /// from the least loaded members; then primaries are balanced by
    /// reordering lists, which moves no data.
    pub fn rebalance(&mut self) {
        let nodes: Vec<NodeTag> = self.active().map(|m| m.tag).collect();
        if nodes.is_empty() {
            return;
        }
        for m in self.members.values_mut() {
            if m.state == MemberState::Joining {
                m.state = MemberState::Active;
            }
        }
        let rf = (self.replication_factor as usize).clamp(1, nodes.len());
        let old: Vec<Vec<NodeTag>> = self.slots.iter().map(|s| s.replicas.clone()).collect();
        self.place_copies(&nodes, rf);
        self.balance_primaries(&nodes);
        for (s, before) in self.slots.iter_mut().zip(old) {
            if s.replicas != before {
                s.epoch += 1;
            }
        }
    }

    fn place_copies(&mut self, nodes: &[NodeTag], rf: usize) {
        for s in &mut self.slots {
            s.replicas.retain(|t| nodes.contains(t));
            s.replicas.truncate(rf);
        }
        let mut load: BTreeMap<NodeTag, usize> = nodes.iter().map(|t| (*t, 0)).collect();
        for s in &self.slots {
            for t in &s.replicas {
                *load.get_mut(t).expect("kept replicas are active") += 1;
            }
        }
        let target = targets(nodes, SLOTS * rf, &load);
        // Shed: an over-full member gives up copies, from the highest slots
        // down (so ranges stay contiguous); first only copies it does not lead
        // in slots that lost nothing yet, then any.
        for &t in nodes {
            let mut excess = load[&t].saturating_sub(target[&t]);
            for pass in 0..2 {
                for s in self.slots.iter_mut().rev() {
                    if excess == 0 {
                        break;
                    }
                    let full = s.replicas.len() == rf;
                    let Some(pos) = s.replicas.iter().position(|x| *x == t) else { continue };
                    if pass == 0 && (!full || pos == 0) {
                        continue;
                    }
                    s.replicas.remove(pos);
                    excess -= 1;
                    *load.get_mut(&t).expect("active") -= 1;
                }
            }
        }
        // Fill: short lists take the member furthest below its target.
        for s in &mut self.slots {
            while s.replicas.len() < rf {
                let pick = nodes
                    .iter()
                    .filter(|t| !s.replicas.contains(t))
                    .max_by_key(|t| (target[*t] as isize - load[*t] as isize, std::cmp::Reverse(**t)))
                    .copied()
                    .expect("rf <= nodes");
                s.replicas.push(pick);
                *load.get_mut(&pick).expect("active") += 1;
            }
        }
        self.even_copies(nodes, &target, &mut load);
    }

    /// Balances primary roles by reordering replica lists (no data moves).
    /// This is an assignment problem (each slot to one of its replicas,
    /// each member up to its target), solved with augmenting paths: an
    /// over-full member hands a role to a co-replica, which may hand one of
    /// its own on, until a member below its target takes one.
    fn balance_primaries(&mut self, nodes: &[NodeTag]) {
        let n = nodes.len();
        let index = |t: NodeTag| nodes.binary_search(&t).expect("active");
        let mut load = vec![0usize; n];
        for s in &self.slots {
            load[index(s.replicas[0])] += 1;
        }
        let by_tag: BTreeMap<NodeTag, usize> = nodes.iter().map(|t| (*t, load[index(*t)])).collect();
        let target: Vec<usize> = {
            let t = targets(nodes, SLOTS, &by_tag);
            nodes.iter().map(|x| t[x]).collect()
        };
        // Each augmentation lowers the total excess; bound the loop anyway.
        for _ in 0..(4 * n * n + 64) {
            let Some(u) = (0..n).find(|&i| load[i] > target[i]) else { return };
            // cnt[x][y]: slots led by x that y also holds.
            let mut cnt = vec![vec![0usize; n]; n];
            for s in &self.slots {
                let x = index(s.replicas[0]);
                for t in &s.replicas[1..] {
                    cnt[x][index(*t)] += 1;
                }
            }
            let mut prev = vec![usize::MAX; n];
            prev[u] = u;
            let mut queue = std::collections::VecDeque::from([u]);
            let mut end = None;
            while let Some(x) = queue.pop_front() {
                if load[x] < target[x] {
                    end = Some(x);
                    break;
                }
                for y in 0..n {
                    if prev[y] == usize::MAX && cnt[x][y] > 0 {
                        prev[y] = x;
                        queue.push_back(y);
                    }
                }
            }
            let Some(v) = end else { return };
            let mut path = vec![v];
            while *path.last().expect("non-empty") != u {
                path.push(prev[*path.last().expect("non-empty")]);
            }
            path.reverse();
            let mut amount = (load[u] - target[u]).min(target[v] - load[v]);
            for w in path.windows(2) {
                amount = amount.min(cnt[w[0]][w[1]]);
            }
            for w in path.windows(2) {
                let (x, y) = (nodes[w[0]], nodes[w[1]]);
                let mut left = amount;
                for s in self.slots.iter_mut().rev() {
                    if left == 0 {
                        break;
                    }
                    if s.replicas[0] == x {
                        if let Some(i) = s.replicas.iter().position(|t| *t == y) {
                            s.replicas.swap(0, i);
                            left -= 1;
                        }
                    }
                }
            }
            load[u] -= amount;
            load[v] += amount;
        }
    }

    /// After the fill, a member may sit above its copy target because every
    /// member below it already held the slots in question: swap such copies
    /// to a member below target that lacks the slot (one always exists, as
    /// the fuller member holds more slots than the emptier one).
    fn even_copies(
        &mut self,
        nodes: &[NodeTag],
        target: &BTreeMap<NodeTag, usize>,
        load: &mut BTreeMap<NodeTag, usize>,
    ) {
        loop {
            let Some(u) = nodes.iter().copied().find(|t| load[t] > target[t]) else { return };
            let Some(v) = nodes.iter().copied().find(|t| load[t] < target[t]) else { return };
            let s = self
                .slots
                .iter_mut()
                .rev()
                .find(|s| s.replicas.contains(&u) && !s.replicas.contains(&v))
                .expect("the fuller member holds a slot the emptier lacks");
            let i = s.replicas.iter().position(|t| *t == u).expect("found above");
            s.replicas[i] = v;
            *load.get_mut(&u).expect("active") -= 1;
            *load.get_mut(&v).expect("active") += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn id(n: u16) -> NodeId {
        NodeId::parse(&format!("{n:040x}")).unwrap()
    }

    fn ep(n: u16) -> Endpoint {
        Endpoint { host: "127.0.0.1".into(), port: 7000 + n }
    }

    fn join(t: &mut Topology, n: u16, rf: u8) -> NodeTag {
        let cmd = if t.members.is_empty() {
            Command::Bootstrap { id: id(n), client: ep(n), cluster: ep(n + 10000), replication_factor: rf }
        } else {
            Command::Join { id: id(n), client: ep(n), cluster: ep(n + 10000), at_once: true }
        };
        match t.apply(&cmd) {
            Outcome::Joined(tag) => tag,
            other => panic!("{other:?}"),
        }
    }

    /// Completes every move in progress, as the movers would.
    fn complete_all(t: &mut Topology) {
        let moves: Vec<(u16, Vec<NodeTag>)> = t
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.target.is_empty())
            .map(|(i, s)| (i as u16, s.target.clone()))
            .collect();
        if !moves.is_empty() {
            assert_eq!(t.apply(&Command::Complete { moves }), Outcome::Done);
        }
        assert_eq!(t.moving(), 0);
    }

    fn assert_balanced(t: &Topology) {
        t.check().unwrap();
        let nodes: Vec<NodeTag> = t.active().map(|m| m.tag).collect();
        let n = nodes.len();
        let rf = (t.replication_factor as usize).min(n);
        for &tag in &nodes {
            let p = t.primary_count(tag);
            assert!(p == SLOTS / n || p == SLOTS / n + 1, "{tag} primary of {p} with {n} nodes");
            let c = t.copy_count(tag);
            let want = SLOTS * rf / n;
            assert!(c == want || c == want + 1, "{tag} holds {c} copies, want {want} (n={n}, rf={rf})");
        }
        for s in &t.slots {
            assert_eq!(s.replicas.len(), rf);
        }
    }

    /// Copies that some member gained between two topologies.
    fn copies_moved(a: &Topology, b: &Topology) -> usize {
        a.slots.iter().zip(&b.slots).map(|(x, y)| y.replicas.iter().filter(|t| !x.replicas.contains(t)).count()).sum()
    }

    fn primaries_moved(a: &Topology, b: &Topology) -> usize {
        a.slots.iter().zip(&b.slots).filter(|(x, y)| x.replicas.first() != y.replicas.first()).count()
    }

    #[test]
    fn one_node_owns_everything() {
        let mut t = Topology::new();
        let a = join(&mut t, 1, 3);
        assert_eq!(a, NodeTag(1));
        assert_eq!(t.ranges(), vec![SlotRange { start: 0, end: 16383, replicas: &[a] }]);
        assert_eq!(t.primary(0).unwrap().tag, a);
        assert_balanced(&t);
    }

    #[test]
    fn joins_stay_balanced_and_move_about_one_nth() {
        for rf in [1u8, 2, 3] {
            let mut t = Topology::new();
            join(&mut t, 1, rf);
            for n in 2..=9u16 {
                let before = t.clone();
                join(&mut t, n, rf);
                assert_balanced(&t);
                let n = n as usize;
                let rf_eff = (rf as usize).min(n);
                // The newcomer must receive its share, and nothing else moves.
                let share = SLOTS * rf_eff / n;
                let gained = t.copy_count(NodeTag(n as u16));
                assert!(gained >= share && gained <= share + 1);
                // When rf_eff grows with n, the added copies are also moves.
                let growth = SLOTS * (rf_eff - (rf as usize).min(n - 1));
                assert!(copies_moved(&before, &t) <= gained + growth, "rf {rf} n {n}");
                // Primary roles may shift along a chain of co-replicas (no
                // data moves for that), so allow twice the newcomer's share.
                let pm = primaries_moved(&before, &t);
                assert!(pm <= 2 * (SLOTS / n + 1), "rf {rf} n {n}: {pm} primaries moved");
            }
        }
    }

    #[test]
    fn leave_and_forget_move_only_the_leavers_share() {
        for rf in [1u8, 3] {
            let mut t = Topology::new();
            for n in 1..=5 {
                join(&mut t, n, rf);
            }
            let before = t.clone();
            assert_eq!(t.apply(&Command::Leave { tag: NodeTag(3) }), Outcome::Done);
            assert!(t.moving() > 0 && t.copy_count(NodeTag(3)) > 0, "a leaver keeps its slots until they moved");
            complete_all(&mut t);
            assert_eq!(t.copy_count(NodeTag(3)), 0);
            assert!(t.holds_nothing(NodeTag(3)));
            assert_balanced(&t);
            // The leaver's copies move, plus under 1% of re-spreading when
            // the only members below target already held a slot.
            let moved = copies_moved(&before, &t);
            assert!(moved <= before.copy_count(NodeTag(3)) + SLOTS / 100, "rf {rf}: {moved} moved");
            let before = t.clone();
            assert_eq!(t.apply(&Command::Forget { tag: NodeTag(5) }), Outcome::Done);
            complete_all(&mut t);
            assert_balanced(&t);
            let moved = copies_moved(&before, &t);
            assert!(moved <= before.copy_count(NodeTag(5)) + SLOTS / 100, "rf {rf}: {moved} moved");
            // Tags are never reused.
            assert_eq!(join(&mut t, 9, rf), NodeTag(6));
        }
    }

    /// Regression: a joiner's Join reached the bootstrapping leader before
    /// the leader's own, took tag 1 (the leader's Raft id), and the leader
    /// then added itself as a learner under tag 2 and crashed its Raft.
    #[test]
    fn only_the_bootstrap_admits_the_first_member() {
        let mut t = Topology::new();
        let j = Command::Join { id: id(2), client: ep(2), cluster: ep(2), at_once: true };
        assert!(matches!(t.apply(&j), Outcome::Refused(_)));
        assert_eq!(join(&mut t, 1, 3), NodeTag(1));
        let again = Command::Bootstrap { id: id(3), client: ep(3), cluster: ep(3), replication_factor: 3 };
        assert!(matches!(t.apply(&again), Outcome::Refused(_)));
        assert_eq!(t.apply(&j), Outcome::Joined(NodeTag(2)));
    }

    #[test]
    fn update_changes_endpoints_of_members_only() {
        let mut t = Topology::new();
        join(&mut t, 1, 1);
        join(&mut t, 2, 1);
        let up = Command::Update { tag: NodeTag(2), id: id(2), client: ep(9), cluster: ep(9) };
        assert_eq!(t.apply(&up), Outcome::Done);
        assert_eq!(t.members[&NodeTag(2)].client, ep(9));
        assert_eq!(t.apply(&Command::Forget { tag: NodeTag(2) }), Outcome::Done);
        assert!(matches!(t.apply(&up), Outcome::Refused(_)));
        assert!(t.member(NodeTag(2)).is_none());
    }

    #[test]
    fn join_is_idempotent_and_versions_count_changes() {
        let mut t = Topology::new();
        join(&mut t, 1, 3);
        let v = t.version;
        assert_eq!(join(&mut t, 1, 3), NodeTag(1));
        assert_eq!(t.version, v);
        assert_eq!(t.apply(&Command::Rebalance), Outcome::Done);
        assert_eq!(t.version, v);
        assert!(matches!(t.apply(&Command::Leave { tag: NodeTag(1) }), Outcome::Refused(_)));
    }

    #[test]
    fn a_join_plans_moves_that_complete_under_new_epochs() {
        let mut t = Topology::new();
        join(&mut t, 1, 1);
        let b = match t.apply(&Command::Join { id: id(2), client: ep(2), cluster: ep(2), at_once: false }) {
            Outcome::Joined(b) => b,
            o => panic!("{o:?}"),
        };
        // Nothing moved yet: node 1 still serves every slot; half are moving.
        assert_eq!(t.copy_count(b), 0);
        assert_eq!(t.primary_count(NodeTag(1)), SLOTS);
        assert_eq!(t.moving(), SLOTS / 2);
        let slot = t.slots.iter().position(|s| !s.target.is_empty()).unwrap() as u16;
        assert_eq!(t.slots[slot as usize].target, vec![b]);
        let e = t.epoch(slot);
        // A completion for a list that is not the target is refused.
        let stale = Command::Complete { moves: vec![(slot, vec![NodeTag(1)])] };
        assert!(matches!(t.apply(&stale), Outcome::Refused(_)));
        assert_eq!(t.apply(&Command::Complete { moves: vec![(slot, vec![b])] }), Outcome::Done);
        assert_eq!(t.primary(slot).unwrap().tag, b);
        assert!(t.epoch(slot) > e);
        assert!(t.slots[slot as usize].target.is_empty());
        // A second join re-plans from the current lists.
        join(&mut t, 3, 1);
        complete_all(&mut t);
        assert_balanced(&t);
    }

    /// A failover promotes, for each slot of the failed primary, the live
    /// replica that got furthest in its feeds; among equals (or without
    /// answers) the first in the slot's list; a slot without a live
    /// majority keeps its primary.
    #[test]
    fn failover_promotes_the_live_replica_that_got_furthest() {
        let mut t = Topology::default();
        let tags: Vec<NodeTag> = (1..=5).map(|n| join(&mut t, n, 3)).collect();
        complete_all(&mut t);
        let down = tags[0];
        let led: Vec<usize> = (0..t.slots.len()).filter(|&i| t.slots[i].replicas[0] == down).collect();
        assert!(!led.is_empty());
        let before = t.clone();
        let live: Vec<NodeTag> = tags[1..].to_vec();
        // Each slot's last replica got furthest.
        let applied: Vec<(NodeTag, u64)> = tags.iter().map(|t| (*t, 100 + u64::from(t.0))).collect();
        let mut furthest = before.clone();
        let cmd = Command::Failover { tag: down, live: live.clone(), applied };
        assert_eq!(furthest.apply(&cmd), Outcome::Done);
        for &i in &led {
            let was = &before.slots[i].replicas;
            let want = *was[1..].iter().max_by_key(|r| 100 + u64::from(r.0)).unwrap();
            let now = &furthest.slots[i].replicas;
            assert_eq!(now[0], want, "slot {i}: {was:?} became {now:?}");
            assert_eq!(now.last(), Some(&down), "the failed primary comes back last");
            assert_eq!(furthest.slots[i].epoch, before.slots[i].epoch + 1);
        }
        // Without answers: the first live replica in the list.
        let mut first = before.clone();
        assert_eq!(first.apply(&Command::Failover { tag: down, live: live.clone(), applied: vec![] }), Outcome::Done);
        for &i in &led {
            assert_eq!(first.slots[i].replicas[0], before.slots[i].replicas[1], "slot {i}");
        }
        // The furthest replica down: the next furthest live one.
        let mut without = before.clone();
        let partial: Vec<NodeTag> = live.iter().copied().filter(|t| *t != tags[4]).collect();
        let applied: Vec<(NodeTag, u64)> = tags.iter().map(|t| (*t, 100 + u64::from(t.0))).collect();
        assert_eq!(without.apply(&Command::Failover { tag: down, live: partial.clone(), applied }), Outcome::Done);
        for &i in &led {
            let was = &before.slots[i].replicas;
            let up: Vec<NodeTag> = was[1..].iter().copied().filter(|r| partial.contains(r)).collect();
            if up.len() < was.len() / 2 + 1 {
                assert_eq!(without.slots[i].replicas, *was, "slot {i} has no live majority");
            } else {
                let want = *up.iter().max_by_key(|r| r.0).unwrap();
                assert_eq!(without.slots[i].replicas[0], want, "slot {i}");
            }
        }
        furthest.check().unwrap();
    }

    #[test]
    fn ranges_are_contiguous_and_cover_all() {
        let mut t = Topology::new();
        for n in 1..=3 {
            join(&mut t, n, 3);
        }
        let ranges = t.ranges();
        let mut next = 0u32;
        for r in &ranges {
            assert_eq!(r.start as u32, next);
            next = r.end as u32 + 1;
        }
        assert_eq!(next, 16384);
        // A handful of ranges, not thousands.
        assert!(ranges.len() < 16, "{} ranges", ranges.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn any_sequence_keeps_invariants_and_balance(ops in proptest::collection::vec(0u8..4, 1..12), rf in 1u8..4) {
            let mut t = Topology::new();
            let mut next = 1u16;
            join(&mut t, next, rf);
            for op in ops {
                let tags: Vec<NodeTag> = t.members.keys().copied().collect();
                match op {
                    0 | 1 => { next += 1; join(&mut t, next, rf); }
                    2 if tags.len() > 1 => { t.apply(&Command::Forget { tag: tags[tags.len() / 2] }); }
                    3 if t.active().count() > 1 => { t.apply(&Command::Leave { tag: tags[0] }); }
                    _ => {}
                }
                complete_all(&mut t);
                assert_balanced(&t);
                let mut replay = t.clone();
                replay.apply(&Command::Rebalance);
                proptest::prop_assert_eq!(&replay.slots, &t.slots);
            }
        }
    }
}
