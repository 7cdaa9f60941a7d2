//! One cluster member: the thin shell that wires the topology's Raft group,
//! SWIM and the cluster port together, and the handle the server holds.
//!
//! Start-up, in one of three ways:
//! * a node with a saved tag (`<dir>/node.json`) restarts its Raft with its
//!   log and rejoins without seeds, then re-announces its endpoints;
//! * a new node with seeds asks any seed to admit it (`Join`, forwarded to
//!   the leader), receives its tag, and starts Raft as a learner;
//! * a new node without seeds bootstraps a cluster of one (tag 1).
//!
//! The leader keeps Raft's membership in line with the topology: every
//! member is a learner at least, an odd number of caught-up members up to
//! [`MAX_VOTERS`] vote, and forgotten members leave the group.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use openraft::{BasicNode, ChangeMembers};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::moves::{DataPlane, NoData};
use crate::net::{self, BoxStream, Net, Secret};
use crate::raft::{Link, Network, Raft, RaftId, Request, Response, Store, TypeConfig};
use crate::swim::{Health, Swim, SwimConfig, SwimId};
use crate::topology::{Command, Endpoint, MemberState, NodeId, NodeTag, Outcome, Topology};

/// Raft voters at most; other members follow as learners.
pub const MAX_VOTERS: usize = 5;
/// How long one cluster RPC may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Leader forwards followed for one proposal.
const FORWARDS_MAX: usize = 3;
/// Concurrent inbound cluster links; beyond this new ones are closed.
const INBOUND_LINKS_MAX: usize = 256;

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The node's persistent id (the server keeps it in its manifest).
    pub node_id: NodeId,
    /// Where clients reach this node (announce-ip / announce-port).
    pub client: Endpoint,
    /// Where other nodes reach this node's cluster port (TCP and UDP);
    /// the host must be an IP address.
    pub cluster: Endpoint,
    /// Where the cluster port listens.
    pub bind: SocketAddr,
    /// `host:cluster-port` of members to join through; empty for a new
    /// cluster or a restart.
    pub seeds: Vec<String>,
    /// Copies per slot (taken from the first member).
    pub replication_factor: u8,
    pub secret: Option<Vec<u8>>,
    /// From SWIM suspect to down, ms (> 0).
    pub node_timeout_ms: u64,
    /// SWIM probe and gossip period, ms (> 0).
    pub gossip_interval_ms: u64,
    /// Where the cluster keeps its files (`<data dir>/cluster`).
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cluster I/O: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Refused(String),
    #[error("this node has not joined the cluster yet")]
    NotJoined,
    #[error("the cluster has no reachable leader: {0}")]
    NoLeader(String),
    #[error("{0}")]
    Raft(String),
}

#[derive(Serialize, Deserialize)]
struct NodeFile {
    node_id: NodeId,
    tag: NodeTag,
}

/// Shared by the handle and the background tasks.
pub(crate) struct Shared {
    cfg: ClusterConfig,
    pub(crate) net: Arc<dyn Net>,
    pub(crate) secret: Option<Secret>,
    pub(crate) topology: Arc<ArcSwap<Topology>>,
    store: Store,
    raft: OnceLock<Raft>,
    pub(crate) tag: OnceLock<NodeTag>,
    pub(crate) nonces: Arc<Mutex<SmallRng>>,
    pub(crate) swim: Swim,
    /// The server's side: slot data and relayed commands.
    pub(crate) data: Arc<dyn DataPlane>,
    /// PUBLISH to the other members.
    bus: crate::bus::Bus,
    inbound: std::sync::atomic::AtomicUsize,
    /// Peers' last acknowledgements of our AppendEntries (as leader).
    acks: crate::raft::Acks,
    /// When a leader reached us (as follower or learner), with the commit
    /// index it announced then: a contact counts towards the lease only
    /// once this node applied that far (see [`lease_until`]).
    leader_contact: Mutex<Contacts>,
    /// The lease: see [`Cluster::map_is_current`].
    pub(crate) lease: Arc<Lease>,
    /// Per slot, whether this node caught up as its primary (`replication`).
    pub(crate) ready: crate::replication::Ready,
}

/// The server's handle on its cluster membership. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

/// Raft's view, for INFO and CLUSTER commands.
#[derive(Clone, Debug, Default)]
pub struct RaftView {
    pub leader: Option<NodeTag>,
    pub term: u64,
    pub voters: Vec<NodeTag>,
    /// A voter change is half done (joint consensus: both the old and the
    /// new voter sets must agree until it completes).
    pub joint: bool,
    pub last_applied: u64,
    /// Why this node's Raft stopped, if it did (a storage error, a panic).
    pub fatal: Option<String>,
}

impl Cluster {
    /// Binds the cluster port (TCP and UDP) and starts forming or rejoining
    /// in the background; [`Cluster::topology`] is empty until this node
    /// has applied the topology log.
    pub async fn start(cfg: ClusterConfig, net: Arc<dyn Net>) -> Result<Cluster, Error> {
        Cluster::start_with(cfg, net, Arc::new(NoData)).await
    }

    /// [`Cluster::start`] with the server's data plane (slot data, relayed
    /// commands).
    pub async fn start_with(cfg: ClusterConfig, net: Arc<dyn Net>, data: Arc<dyn DataPlane>) -> Result<Cluster, Error> {
        std::fs::create_dir_all(&cfg.dir)?;
        let saved = read_node_file(&cfg)?;
        let listener = net.listen(cfg.bind).await?;
        let udp = net.bind_udp(cfg.bind).await?;
        let topology = Arc::new(ArcSwap::from_pointee(Topology::new()));
        let store = Store::open(&cfg.dir, topology.clone())?;
        let mut rng = SmallRng::seed_from_u64(net.seed());
        let nonces = Arc::new(Mutex::new(SmallRng::seed_from_u64(rng.random())));
        let secret = cfg.secret.as_deref().map(Secret::new);
        let cluster_addr: SocketAddr = cfg.cluster.to_string().parse().map_err(|_| {
            Error::Refused(format!("the cluster endpoint {} must be an IP address and port", cfg.cluster))
        })?;
        let me = SwimId {
            addr: cluster_addr,
            node_id: cfg.node_id.to_string(),
            tag: saved.as_ref().map(|t| t.0),
            client: cfg.client.clone(),
            bump: 0,
        };
        let swim_cfg = SwimConfig {
            gossip_interval_ms: cfg.gossip_interval_ms,
            node_timeout_ms: cfg.node_timeout_ms,
            secret: secret.clone(),
        };
        let swim = Swim::start(me, udp, swim_cfg, SmallRng::seed_from_u64(rng.random()));
        let (bus, bus_rx) = crate::bus::Bus::new();
        let shared = Arc::new(Shared {
            cfg,
            net,
            secret,
            topology,
            store,
            raft: OnceLock::new(),
            tag: OnceLock::new(),
            nonces,
            swim,
            data,
            bus,
            inbound: Default::default(),
            acks: Default::default(),
            leader_contact: Default::default(),
            lease: Arc::new(Lease::new()),
            ready: Default::default(),
        });
        tokio::spawn(accept_loop(shared.clone(), listener));
        tokio::spawn(form(shared.clone(), saved));
        tokio::spawn(reconcile_loop(shared.clone()));
        tokio::spawn(announce_loop(shared.clone()));
        tokio::spawn(lease_loop(shared.clone()));
        tokio::spawn(crate::moves::move_loop(shared.clone()));
        tokio::spawn(crate::replication::replicate_loop(shared.clone()));
        tokio::spawn(crate::bus::bus_loop(shared.clone(), bus_rx));
        Ok(Cluster { shared })
    }

    /// The topology this node has applied (lock-free; the same version is
    /// the same map on every node).
    pub fn topology(&self) -> Arc<Topology> {
        self.shared.topology.load_full()
    }

    /// The tag of `slot`'s primary in the applied topology, without
    /// touching a reference count (the per-command route check).
    pub fn primary_tag(&self, slot: u16) -> Option<NodeTag> {
        self.shared.topology.load().slots.get(slot as usize)?.replicas.first().copied()
    }

    /// True when this node is `slot`'s primary.
    pub fn serves(&self, slot: u16) -> bool {
        self.tag().is_some_and(|me| self.primary_tag(slot) == Some(me))
    }

    /// True while this node, `slot`'s primary, has not caught up from a
    /// majority of its replicas since it became primary (see
    /// `replication`): the slot answers `-TRYAGAIN` meanwhile.
    pub fn catching_up(&self, slot: u16) -> bool {
        !self.shared.ready.is_ready(&self.shared.topology.load(), slot)
    }

    pub fn node_id(&self) -> &NodeId {
        &self.shared.cfg.node_id
    }

    /// This node's tag, once admitted.
    pub fn tag(&self) -> Option<NodeTag> {
        self.shared.tag.get().copied()
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.shared.cfg
    }

    /// What SWIM says of a member (`None`: never heard of). This node is
    /// always up to itself.
    pub fn health(&self, id: &NodeId) -> Option<Health> {
        if id == &self.shared.cfg.node_id {
            return Some(Health::Up);
        }
        self.shared.swim.health_of(id.as_str())
    }

    /// True while this node holds its lease, so its map is known to be
    /// current: within half of `node-timeout-ms` it was the Raft leader
    /// and a majority of voters acknowledged it, or a leader reached it and
    /// this node has applied everything that leader had committed then.
    /// A node cut off from the majority stops serving after that
    /// (`-CLUSTERDOWN`), as a Redis Cluster node on the minority side does,
    /// and strictly before the others can fail its slots over (SWIM needs
    /// a whole `node-timeout-ms` to declare it down): a deposed primary
    /// never serves a read beside its successor. The lease is checked
    /// against the clock at every call, so a process that was paused (or
    /// whose lease task is late) stops at once; it is extended every
    /// [`LEASE_CHECK_MS`].
    pub fn map_is_current(&self) -> bool {
        self.shared.lease.holds()
    }

    /// Sends a PUBLISHed message to the subscribers of the other members
    /// (see `bus`); never waits.
    pub fn publish(&self, channel: &[u8], message: &[u8]) {
        self.shared.bus.publish(channel, message);
    }

    /// Messages PUBLISH could not queue for the other members.
    pub fn publish_dropped(&self) -> u64 {
        self.shared.bus.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// SWIM datagrams dropped because their MAC did not verify.
    pub fn bad_datagrams(&self) -> u64 {
        self.shared.swim.dropped_bad_mac.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn raft_view(&self) -> RaftView {
        let Some(raft) = self.shared.raft.get() else { return RaftView::default() };
        let m = raft.metrics().borrow().clone();
        RaftView {
            leader: m.current_leader.map(|l| NodeTag(l as u16)),
            term: m.current_term,
            voters: m.membership_config.membership().voter_ids().map(|v| NodeTag(v as u16)).collect(),
            joint: m.membership_config.membership().get_joint_config().len() > 1,
            last_applied: m.last_applied.map_or(0, |l| l.index),
            fatal: m.running_state.as_ref().err().map(|e| e.to_string()),
        }
    }

    /// Sends a topology change to the leader and waits until it is
    /// committed and applied there.
    pub async fn propose(&self, cmd: Command) -> Result<Outcome, Error> {
        propose(&self.shared, cmd).await
    }

    /// Hands this node's slots to the others (each move acknowledged by
    /// its target before it completes) and then leaves the topology; gives
    /// up after `timeout` with the moves still going on.
    pub async fn leave(&self, timeout: Duration) -> Result<(), Error> {
        let tag = self.tag().ok_or(Error::NotJoined)?;
        if let Outcome::Refused(why) = self.propose(Command::Leave { tag }).await? {
            return Err(Error::Refused(why));
        }
        if !crate::moves::wait_emptied(&self.shared, tag, timeout).await {
            return Err(Error::Refused(format!(
                "this node still holds slots after {} s; the moves go on (CLUSTER LEAVE again to wait)",
                timeout.as_secs()
            )));
        }
        match self.propose(Command::Forget { tag }).await? {
            Outcome::Refused(why) => Err(Error::Refused(why)),
            _ => Ok(()),
        }
    }

    /// Opens a link to `tag` that runs RESP commands there as ACL user
    /// `user` (`cluster-redirect forward`, the HTTP API): see
    /// `Request::Relay`. The caller keeps it for the next command.
    pub async fn open_relay(&self, tag: NodeTag, user: &str, resp3: bool) -> Result<BoxStream, Error> {
        let t = self.topology();
        let m = t.member(tag).ok_or_else(|| Error::Refused(format!("no member {tag}")))?;
        let mut link = Link::new(
            self.shared.net.clone(),
            self.shared.secret.clone(),
            m.cluster.to_string(),
            self.shared.nonces.clone(),
        );
        match link.call(&Request::Relay { user: user.to_string(), resp3 }, RPC_TIMEOUT).await? {
            Response::RelayAccepted => link.into_stream().ok_or(Error::Raft("the relay link closed".into())),
            _ => Err(Error::Refused("the node refused the relay link".into())),
        }
    }

    /// Removes a member (by 40-hex id); its slots go to the others.
    pub async fn forget(&self, id: &str) -> Result<(), Error> {
        let t = self.topology();
        let m = t.member_by_id(id).ok_or_else(|| Error::Refused(format!("Unknown node {id}")))?;
        match self.propose(Command::Forget { tag: m.tag }).await? {
            Outcome::Refused(why) => Err(Error::Refused(why)),
            _ => Ok(()),
        }
    }

    /// Waits until this node has applied a topology in which it owns slots
    /// or `timeout` passes; true when formed.
    pub async fn wait_formed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(tag) = self.tag() {
                if self.topology().assigned() == crate::topology::SLOTS && self.topology().member(tag).is_some() {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops Raft (the sockets close with the runtime).
    pub async fn shutdown(&self) {
        if let Some(r) = self.shared.raft.get() {
            let _ = r.shutdown().await;
        }
    }
}

fn read_node_file(cfg: &ClusterConfig) -> Result<Option<NodeTag>, Error> {
    let path = cfg.dir.join("node.json");
    match std::fs::read(&path) {
        Ok(b) => {
            let f: NodeFile =
                serde_json::from_slice(&b).map_err(|e| Error::Refused(format!("{}: {e}", path.display())))?;
            if f.node_id != cfg.node_id {
                return Err(Error::Refused(format!(
                    "{} belongs to node {}, not {} (the node id lives in the data directory's manifest, which appendonly no does not keep)",
                    path.display(),
                    f.node_id,
                    cfg.node_id
                )));
            }
            Ok(Some(f.tag))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_node_file(cfg: &ClusterConfig, tag: NodeTag) -> io::Result<()> {
    let path = cfg.dir.join("node.json");
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec(&NodeFile { node_id: cfg.node_id.clone(), tag }).map_err(io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(&cfg.dir)?.sync_all()
}

fn join_command(cfg: &ClusterConfig) -> Command {
    Command::Join {
        id: cfg.node_id.clone(),
        client: cfg.client.clone(),
        cluster: cfg.cluster.clone(),
        // Slots are handed over at once: data streaming is not built yet.
        at_once: false,
    }
}

fn bootstrap_command(cfg: &ClusterConfig) -> Command {
    Command::Bootstrap {
        id: cfg.node_id.clone(),
        client: cfg.client.clone(),
        cluster: cfg.cluster.clone(),
        replication_factor: cfg.replication_factor,
    }
}

async fn start_raft(shared: &Arc<Shared>, tag: NodeTag) -> Result<(), Error> {
    // Raft timing: heartbeats well inside an election timeout, which is
    // short so a new leader appears quickly on loopback and LANs.
    let config = openraft::Config {
        cluster_name: "gyre".into(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(crate::raft::SNAPSHOT_EVERY_ENTRIES),
        max_in_snapshot_log_to_keep: 100,
        ..Default::default()
    };
    let config = Arc::new(config.validate().map_err(|e| Error::Raft(e.to_string()))?);
    let network = Network {
        net: shared.net.clone(),
        secret: shared.secret.clone(),
        nonces: shared.nonces.clone(),
        acks: shared.acks.clone(),
    };
    let (log, sm) = openraft::storage::Adaptor::<TypeConfig, Store>::new(shared.store.clone());
    let raft = Raft::new(tag.0 as RaftId, config, network, log, sm).await.map_err(|e| Error::Raft(e.to_string()))?;
    let _ = shared.tag.set(tag);
    let _ = shared.raft.set(raft);
    let mut me = SwimId {
        addr: shared.cfg.cluster.to_string().parse().expect("checked at start"),
        node_id: shared.cfg.node_id.to_string(),
        tag: Some(tag.0),
        client: shared.cfg.client.clone(),
        bump: 0,
    };
    me.bump = 1;
    shared.swim.rename(me);
    Ok(())
}

/// Forms, joins or rejoins; retries until it succeeds.
async fn form(shared: Arc<Shared>, saved: Option<NodeTag>) {
    let tag = match saved {
        Some(tag) => tag,
        None if shared.cfg.seeds.is_empty() => match bootstrap(&shared).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, "cluster bootstrap failed");
                return;
            }
        },
        None => join_via_seeds(&shared).await,
    };
    if shared.raft.get().is_none() {
        if let Err(e) = start_raft(&shared, tag).await {
            tracing::error!(error = %e, "cannot start the topology's Raft");
            return;
        }
    }
    // A bootstrap that crashed after saving tag 1 but before Raft was
    // initialised finishes now (initialising twice is refused harmlessly).
    let raft = shared.raft.get().expect("started above");
    if saved == Some(NodeTag(1)) && !raft.is_initialized().await.unwrap_or(true) {
        if let Err(e) = finish_bootstrap(&shared).await {
            tracing::error!(error = %e, "cluster bootstrap failed");
        }
        return;
    }
    if saved.is_some() {
        // Re-announce our endpoints (they may have changed); retry until a
        // leader hears it. A node that left or was forgotten is told so.
        let update = Command::Update {
            tag,
            id: shared.cfg.node_id.clone(),
            client: shared.cfg.client.clone(),
            cluster: shared.cfg.cluster.clone(),
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match propose(&shared, update.clone()).await {
                Ok(Outcome::Refused(why)) => {
                    tracing::error!(
                        dir = %shared.cfg.dir.display(),
                        "{why}: this node left or was forgotten; to join again, remove its cluster directory and start it with --join"
                    );
                    return;
                }
                Ok(_) => break,
                Err(e) => tracing::debug!(error = %e, "rejoin: re-announcing endpoints"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
    tracing::info!(tag = %tag, "cluster: member");
}

async fn bootstrap(shared: &Arc<Shared>) -> Result<(), Error> {
    write_node_file(&shared.cfg, NodeTag(1))?;
    start_raft(shared, NodeTag(1)).await?;
    finish_bootstrap(shared).await
}

/// Initialises Raft with this node as the only voter and commits the
/// Bootstrap command (tag 1, every slot).
async fn finish_bootstrap(shared: &Arc<Shared>) -> Result<(), Error> {
    let tag = NodeTag(1);
    let raft = shared.raft.get().expect("started");
    let nodes = BTreeMap::from([(tag.0 as RaftId, BasicNode::new(shared.cfg.cluster.to_string()))]);
    if let Err(e) = raft.initialize(nodes).await {
        tracing::debug!(error = %e, "raft already initialised");
    }
    let mut delay = Duration::from_millis(50);
    loop {
        match propose(shared, bootstrap_command(&shared.cfg)).await {
            Ok(Outcome::Joined(t)) if t == tag => break,
            Ok(o) => return Err(Error::Refused(format!("bootstrap join answered {o:?}"))),
            Err(e) => tracing::debug!(error = %e, "bootstrap: waiting for leadership"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    tracing::info!(node = %shared.cfg.node_id, "cluster: bootstrapped a new cluster");
    Ok(())
}

async fn join_via_seeds(shared: &Arc<Shared>) -> NodeTag {
    let mut delay = Duration::from_millis(100);
    loop {
        for seed in &shared.cfg.seeds {
            if let Ok(a) = seed.parse::<SocketAddr>() {
                shared.swim.announce(a);
            }
            match propose_at(shared, seed.clone(), join_command(&shared.cfg)).await {
                Ok(Outcome::Joined(tag)) => {
                    if let Err(e) = write_node_file(&shared.cfg, tag) {
                        tracing::error!(error = %e, "cannot save the node's tag; retrying");
                        continue;
                    }
                    tracing::info!(tag = %tag, seed = %seed, "cluster: admitted");
                    return tag;
                }
                Ok(o) => tracing::warn!(seed = %seed, outcome = ?o, "cluster: join refused"),
                Err(e) => tracing::info!(seed = %seed, error = %e, "cluster: join attempt failed"),
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Proposes locally when leader, else at the leader Raft names, else at
/// the seeds and known members in turn.
pub(crate) async fn propose(shared: &Arc<Shared>, cmd: Command) -> Result<Outcome, Error> {
    match handle_propose(shared, cmd.clone()).await {
        Response::Proposed(r) => r.map_err(Error::Raft),
        Response::NotLeader(Some(addr)) => propose_at(shared, addr, cmd).await,
        _ => Err(Error::NoLeader("no leader known yet".into())),
    }
}

async fn propose_at(shared: &Arc<Shared>, mut addr: String, cmd: Command) -> Result<Outcome, Error> {
    for _ in 0..FORWARDS_MAX {
        let mut link = Link::new(shared.net.clone(), shared.secret.clone(), addr.clone(), shared.nonces.clone());
        match link.call(&Request::Propose(cmd.clone()), RPC_TIMEOUT).await? {
            Response::Proposed(r) => return r.map_err(Error::Raft),
            Response::NotLeader(Some(leader)) => addr = leader,
            Response::NotLeader(None) | Response::NotReady => break,
            _ => return Err(Error::Raft("unexpected response".into())),
        }
    }
    Err(Error::NoLeader(format!("asked {addr}")))
}

/// A proposal arriving here: commit it if leader, else point at the leader.
async fn handle_propose(shared: &Arc<Shared>, cmd: Command) -> Response {
    let Some(raft) = shared.raft.get() else { return Response::NotReady };
    // Bounded: a leader without a majority would wait forever.
    let Ok(written) = tokio::time::timeout(RPC_TIMEOUT, raft.client_write(cmd.clone())).await else {
        return Response::Proposed(Err(
            "the change was not committed in time (no Raft majority?); it may still apply".into()
        ));
    };
    match written {
        Ok(resp) => {
            if let (Command::Join { cluster, .. }, Outcome::Joined(tag)) = (&cmd, &resp.data) {
                ensure_learner(raft, *tag, cluster).await;
            }
            Response::Proposed(Ok(resp.data))
        }
        Err(e) => match e.forward_to_leader() {
            Some(f) => Response::NotLeader(f.leader_node.as_ref().map(|n| n.addr.clone())),
            None => Response::Proposed(Err(e.to_string())),
        },
    }
}

async fn ensure_learner(raft: &Raft, tag: NodeTag, cluster: &Endpoint) {
    // Never ourselves (a member whose tag is our Raft id is us).
    if tag.0 as RaftId == raft.metrics().borrow().id {
        return;
    }
    let known = raft.metrics().borrow().membership_config.membership().get_node(&(tag.0 as RaftId)).is_some();
    if !known {
        let add = raft.add_learner(tag.0 as RaftId, BasicNode::new(cluster.to_string()), false);
        match tokio::time::timeout(RPC_TIMEOUT, add).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(tag = %tag, error = %e, "cannot add a learner"),
            Err(_) => tracing::debug!(tag = %tag, "adding a learner is waiting for a quorum"),
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, mut listener: Box<dyn net::Listener>) {
    use std::sync::atomic::Ordering;
    loop {
        let s = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "cluster accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.inbound.fetch_add(1, Ordering::Relaxed) >= INBOUND_LINKS_MAX {
            shared.inbound.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_link(&shared, s).await {
                tracing::debug!(error = %e, "cluster link closed");
            }
            shared.inbound.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_link(shared: &Arc<Shared>, mut s: BoxStream) -> io::Result<()> {
    let nonce: [u8; 16] = shared.nonces.lock().unwrap_or_else(|p| p.into_inner()).random();
    let hs = tokio::time::timeout(RPC_TIMEOUT, net::handshake_accept(&mut s, shared.secret.as_ref(), nonce)).await;
    if let Err(e) = hs.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))) {
        tracing::warn!(error = %e, "cluster link refused");
        return Err(e);
    }
    loop {
        let req: Request = net::read_frame(&mut s).await?;
        let resp = match (req, shared.raft.get()) {
            (Request::Data { from, slots, kind }, _) => {
                // The link is the data plane's from here on.
                net::write_frame(&mut s, &Response::DataAccepted).await?;
                match kind {
                    crate::raft::DataKind::Move => shared.data.receive(from, slots, s).await,
                    crate::raft::DataKind::Feed => shared.data.follow(from, slots, s).await,
                    crate::raft::DataKind::CatchUp => shared.data.serve_copy(from, slots, s).await,
                }
                return Ok(());
            }
            (Request::Relay { user, resp3 }, _) => {
                net::write_frame(&mut s, &Response::RelayAccepted).await?;
                shared.data.relay(user, resp3, s).await;
                return Ok(());
            }
            (Request::Publish { messages }, _) => {
                shared.data.published(messages);
                Response::Published
            }
            (Request::Applied { primary }, _) => Response::Applied(shared.data.applied_from(primary)),
            (Request::Propose(cmd), _) => handle_propose(shared, cmd).await,
            (_, None) => Response::NotReady,
            (Request::Append(r), Some(raft)) => Response::Append(raft.append_entries(r).await),
            (Request::LeaseProbe, Some(raft)) => {
                // Read in place: probes come ten times a second per follower.
                let (leading, applied) = {
                    let metrics = raft.metrics();
                    let m = metrics.borrow();
                    (m.current_leader == Some(m.id), m.last_applied.map_or(0, |l| l.index))
                };
                Response::Lease { remaining_ms: if leading { shared.lease.remaining_ms() } else { 0 }, applied }
            }
            (Request::Vote(r), Some(raft)) => Response::Vote(raft.vote(r).await),
            (Request::Snapshot(r), Some(raft)) => Response::Snapshot(raft.install_snapshot(r).await),
        };
        net::write_frame(&mut s, &resp).await?;
    }
}

/// On the leader: every member is in Raft's membership, forgotten ones are
/// removed, and caught-up members are promoted to voters up to the limit.
async fn reconcile_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(RECONCILE_MS));
    loop {
        // Every period, and at once when SWIM declares a member down.
        tokio::select! {
            _ = tick.tick() => {}
            () = shared.swim.downs.notified() => {}
        }
        let Some(raft) = shared.raft.get() else { continue };
        let m = raft.metrics().borrow().clone();
        if m.current_leader != Some(m.id) || m.state != openraft::ServerState::Leader {
            continue;
        }
        let top = shared.topology.load_full();
        let voters: BTreeSet<RaftId> = m.membership_config.membership().voter_ids().collect();
        // A leader that removed itself (it left) drives nothing more:
        // openraft 0.9 trips over membership changes from a leader on its
        // way out, and a voter of the new set takes over.
        if top.members.is_empty() || !voters.contains(&m.id) {
            continue;
        }
        let nodes: BTreeSet<RaftId> = m.membership_config.membership().nodes().map(|(i, _)| *i).collect();
        for member in top.members.values() {
            if !nodes.contains(&(member.tag.0 as RaftId)) {
                ensure_learner(raft, member.tag, &member.cluster).await;
            }
        }
        if !remove_forgotten(raft, &top, &nodes, &voters).await {
            promote_one(&shared, raft, &m, &top, &voters).await;
        }
        fail_over(&shared, raft, &top).await;
    }
}

/// The leader fails over every member SWIM declares down (suspect for
/// `node-timeout-ms`) that still leads a slot with other replicas: its
/// slots go to live replicas (see `Command::Failover`), which catch up from
/// a majority before they serve (`replication`).
async fn fail_over(shared: &Arc<Shared>, raft: &Raft, top: &Arc<Topology>) {
    let me = shared.tag.get().copied();
    let live: Vec<NodeTag> = top
        .members
        .values()
        .filter(|m| Some(m.tag) == me || shared.swim.health_of(m.id.as_str()) == Some(Health::Up))
        .map(|m| m.tag)
        .collect();
    for m in top.members.values() {
        if Some(m.tag) == me || shared.swim.health_of(m.id.as_str()) != Some(Health::Down) {
            continue;
        }
        if top.as_ref().clone().apply(&Command::Failover { tag: m.tag, live: live.clone(), applied: Vec::new() })
            != Outcome::Done
        {
            continue;
        }
        let applied = applied_from(shared, top, m.tag, &live).await;
        tracing::warn!(
            node = %m.tag,
            id = %m.id,
            replicas_applied = ?applied,
            "failover: the node is down; its slots go to the live replicas that got furthest"
        );
        let cmd = Command::Failover { tag: m.tag, live: live.clone(), applied };
        match tokio::time::timeout(RPC_TIMEOUT, raft.client_write(cmd)).await {
            Ok(Ok(_)) => tracing::info!(node = %m.tag, "failover: committed"),
            Ok(Err(e)) => tracing::warn!(node = %m.tag, error = %e, "failover: not committed"),
            Err(_) => tracing::warn!(node = %m.tag, "failover: not committed in time (no Raft majority?)"),
        }
    }
}

/// How long the leader waits for a replica's answer to `Request::Applied`
/// before a failover (one that does not answer counts 0).
const APPLIED_TIMEOUT: Duration = Duration::from_millis(500);

/// How far each live replica of `down`'s slots got in its feeds (see
/// `DataPlane::applied_from`), asked of all of them at once; this node
/// answers for itself.
async fn applied_from(shared: &Arc<Shared>, top: &Topology, down: NodeTag, live: &[NodeTag]) -> Vec<(NodeTag, u64)> {
    let me = shared.tag.get().copied();
    let replicas: BTreeSet<NodeTag> = top
        .slots
        .iter()
        .filter(|s| s.replicas.first() == Some(&down))
        .flat_map(|s| s.replicas.iter().copied())
        .filter(|r| *r != down && live.contains(r))
        .collect();
    let asks: Vec<_> = replicas
        .into_iter()
        .map(|r| {
            let shared = shared.clone();
            let addr = top.member(r).map(|m| m.cluster.to_string());
            tokio::spawn(async move {
                if Some(r) == me {
                    return (r, shared.data.applied_from(down));
                }
                let Some(addr) = addr else { return (r, 0) };
                let mut link = Link::new(shared.net.clone(), shared.secret.clone(), addr, shared.nonces.clone());
                match link.call(&Request::Applied { primary: down }, APPLIED_TIMEOUT).await {
                    Ok(Response::Applied(at)) => (r, at),
                    _ => (r, 0),
                }
            })
        })
        .collect();
    let mut applied = Vec::with_capacity(asks.len());
    for ask in asks {
        if let Ok(answer) = ask.await {
            applied.push(answer);
        }
    }
    applied
}

/// Leader's membership pass period.
const RECONCILE_MS: u64 = 300;

/// Runs one membership change, bounded: without a quorum it waits, and the
/// reconcile loop must go on.
async fn change(raft: &Raft, what: &str, c: ChangeMembers<RaftId, BasicNode>, retain: bool) -> bool {
    match tokio::time::timeout(RPC_TIMEOUT, raft.change_membership(c, retain)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "raft membership: {what} failed");
            false
        }
        Err(_) => {
            tracing::debug!("raft membership: {what} is waiting for a quorum");
            false
        }
    }
}

/// Removes Raft nodes the topology no longer names (voters first, then
/// learners). True when there was something to remove.
async fn remove_forgotten(raft: &Raft, top: &Topology, nodes: &BTreeSet<RaftId>, voters: &BTreeSet<RaftId>) -> bool {
    let gone: BTreeSet<RaftId> =
        nodes.iter().copied().filter(|id| !top.members.contains_key(&NodeTag(*id as u16))).collect();
    if gone.is_empty() {
        return false;
    }
    let gone_voters: BTreeSet<RaftId> = gone.intersection(voters).copied().collect();
    let c = if gone_voters.is_empty() {
        ChangeMembers::RemoveNodes(gone)
    } else {
        ChangeMembers::RemoveVoters(gone_voters)
    };
    change(raft, "removing forgotten members", c, false).await;
    true
}

/// Promotes one caught-up, live learner while fewer than the wanted number
/// of members vote: an odd number up to [`MAX_VOTERS`] (an even count
/// tolerates no more failures and needs a larger quorum).
async fn promote_one(
    shared: &Shared,
    raft: &Raft,
    m: &openraft::RaftMetrics<RaftId, BasicNode>,
    top: &Topology,
    voters: &BTreeSet<RaftId>,
) {
    let eligible = top.members.values().filter(|m| m.state != MemberState::Leaving).count();
    let wanted = match eligible.min(MAX_VOTERS) {
        n if n & 1 == 0 => n.saturating_sub(1),
        n => n,
    };
    if voters.len() >= wanted {
        return;
    }
    let last = m.last_log_index.unwrap_or(0);
    let caught_up = |id: &RaftId| {
        m.replication.as_ref().and_then(|r| r.get(id)).and_then(|l| l.as_ref()).is_some_and(|l| l.index >= last)
    };
    let candidates: Vec<NodeTag> = top
        .members
        .values()
        .filter(|mem| {
            let id = mem.tag.0 as RaftId;
            mem.state != MemberState::Leaving
                && !voters.contains(&id)
                && caught_up(&id)
                && shared.swim.health_of(mem.id.as_str()) != Some(Health::Down)
        })
        .map(|mem| mem.tag)
        .collect();
    // Never an even number of voters: with two, losing either stops the
    // log (no failover, no membership change) until it returns. So one
    // voter becomes three at once, in one joint change.
    let add = odd_promotion(voters.len(), wanted, candidates.len());
    if add == 0 {
        return;
    }
    let tags: Vec<NodeTag> = candidates[..add].to_vec();
    let ids: BTreeSet<RaftId> = tags.iter().map(|t| t.0 as RaftId).collect();
    if change(raft, "promoting voters", ChangeMembers::AddVoterIds(ids), true).await {
        for tag in tags {
            tracing::info!(tag = %tag, "raft: promoted to voter");
        }
    }
}

/// How many of `candidates` to promote so that `voters` moves towards
/// `wanted` and stays odd (0: wait for more candidates).
fn odd_promotion(voters: usize, wanted: usize, candidates: usize) -> usize {
    let mut k = wanted.saturating_sub(voters).min(candidates);
    while k > 0 && (voters + k).is_multiple_of(2) {
        k -= 1;
    }
    k
}

/// How often the lease ([`Cluster::map_is_current`]) is extended.
pub const LEASE_CHECK_MS: u64 = 100;

/// The lease's end, in milliseconds since `base` on the runtime's
/// monotonic clock, and whether it held when last extended.
pub(crate) struct Lease {
    base: tokio::time::Instant,
    until_ms: std::sync::atomic::AtomicU64,
    held: std::sync::atomic::AtomicBool,
}

impl Lease {
    fn new() -> Lease {
        Lease { base: tokio::time::Instant::now(), until_ms: Default::default(), held: Default::default() }
    }

    fn ms(&self, at: tokio::time::Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    /// Whether the lease holds now. Outside the node's runtime (a
    /// simulation's driver, whose clock is not the node's) only whether
    /// it held when last extended.
    pub(crate) fn holds(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        self.held.load(Acquire)
            && (tokio::runtime::Handle::try_current().is_err()
                || self.ms(tokio::time::Instant::now()) < self.until_ms.load(Acquire))
    }

    /// Milliseconds left of the lease (0: it does not hold). A leader
    /// sends this with every AppendEntries: a follower's lease cannot
    /// outlast its leader's.
    pub(crate) fn remaining_ms(&self) -> u64 {
        use std::sync::atomic::Ordering::Acquire;
        if !self.held.load(Acquire) {
            return 0;
        }
        self.until_ms.load(Acquire).saturating_sub(self.ms(tokio::time::Instant::now()))
    }

    /// Sets the lease's end; returns whether it holds now.
    fn set(&self, until: Option<tokio::time::Instant>) -> bool {
        use std::sync::atomic::Ordering::Release;
        let now = tokio::time::Instant::now();
        let until = until.map_or(0, |u| self.ms(u));
        self.until_ms.store(until, Release);
        let held = self.ms(now) < until;
        self.held.store(held, Release);
        held
    }
}

/// A follower's recent answers from a leader's lease (see [`probe_loop`]):
/// (when the lease each gives ends, the leader's applied index then),
/// oldest first, bounded; and the latest end among those whose index this
/// node has applied.
#[derive(Default)]
pub(crate) struct Contacts {
    pending: std::collections::VecDeque<(tokio::time::Instant, u64)>,
    applied: Option<tokio::time::Instant>,
}

/// Contacts kept waiting for their commit to be applied (dropping the
/// oldest only delays the lease, never extends it).
const CONTACTS_MAX: usize = 64;

impl Contacts {
    fn push(&mut self, until: tokio::time::Instant, commit: u64) {
        if self.pending.len() == CONTACTS_MAX {
            self.pending.pop_front();
        }
        self.pending.push_back((until, commit));
    }

    /// The latest lease end among the contacts whose commit index is
    /// applied here.
    fn newest_applied(&mut self, applied: u64) -> Option<tokio::time::Instant> {
        while let Some(&(at, commit)) = self.pending.front() {
            if commit > applied {
                break;
            }
            self.pending.pop_front();
            self.applied = self.applied.max(Some(at));
        }
        self.applied
    }
}

async fn lease_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(LEASE_CHECK_MS));
    let mut was = false;
    tokio::spawn(probe_loop(shared.clone()));
    loop {
        tick.tick().await;
        let current = shared.lease.set(lease_until(&shared));
        if current != was {
            was = current;
            if current {
                tracing::info!("cluster: in contact with the Raft majority; serving");
            } else {
                tracing::warn!(
                    "cluster: no contact with the Raft majority within half of node-timeout-ms; not serving (CLUSTERDOWN)"
                );
            }
        }
    }
}

/// A follower's lease comes from round trips it starts: it asks the
/// leader for its lease (`Request::LeaseProbe`), and the answer, if the
/// leader holds one, gives this node a lease from when the question left
/// (so a message that sat in a socket while this process was paused
/// extends nothing), for at most half of `node-timeout-ms` and never past
/// the leader's own, counted once this node has applied what the leader
/// had applied. A leader cut off with a minority holds no lease, so the
/// followers beside it get none either.
async fn probe_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(LEASE_CHECK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One kept link to the leader (a new one when the leader changes or a
    // probe fails).
    let mut link: Option<(RaftId, Link)> = None;
    let timeout = Duration::from_millis(shared.cfg.node_timeout_ms / 2);
    loop {
        tick.tick().await;
        let Some(raft) = shared.raft.get() else { continue };
        let leader = {
            let metrics = raft.metrics();
            let m = metrics.borrow();
            m.current_leader.filter(|l| *l != m.id)
        };
        let Some(leader) = leader else { continue };
        if link.as_ref().is_none_or(|(l, _)| *l != leader) {
            let Some(member) = shared.topology.load().member(NodeTag(leader as u16)).cloned() else { continue };
            let addr = member.cluster.to_string();
            link = Some((leader, Link::new(shared.net.clone(), shared.secret.clone(), addr, shared.nonces.clone())));
        }
        let Some((_, l)) = link.as_mut() else { continue };
        let sent = tokio::time::Instant::now();
        match l.call(&Request::LeaseProbe, timeout).await {
            Ok(Response::Lease { remaining_ms, applied }) => {
                if remaining_ms > 0 {
                    let lease = Duration::from_millis(remaining_ms.min(shared.cfg.node_timeout_ms / 2));
                    shared.leader_contact.lock().unwrap_or_else(|p| p.into_inner()).push(sent + lease, applied);
                }
            }
            _ => link = None,
        }
    }
}

/// Where the lease ends: half of `node-timeout-ms` after the latest
/// moment a majority is known to have followed this node as leader (each
/// acknowledgement counted from when its request was sent), or, on a
/// follower, where the lease of the newest contact with a leader whose
/// commit index this node has applied ends (half of `node-timeout-ms`
/// after it, and never past the leader's own lease). None: no lease.
fn lease_until(shared: &Shared) -> Option<tokio::time::Instant> {
    let raft = shared.raft.get()?;
    let lease = Duration::from_millis(shared.cfg.node_timeout_ms / 2);
    let m = raft.metrics().borrow().clone();
    if m.current_leader == Some(m.id) {
        let voters: Vec<RaftId> = m.membership_config.membership().voter_ids().collect();
        let acks = shared.acks.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        let mut times: Vec<tokio::time::Instant> =
            voters.iter().filter_map(|v| if *v == m.id { Some(now) } else { acks.get(v).copied() }).collect();
        // The majority-th newest acknowledgement.
        times.sort_unstable_by(|a, b| b.cmp(a));
        return times.get(voters.len() / 2).map(|t| *t + lease);
    }
    let applied = m.last_applied.map_or(0, |l| l.index);
    shared.leader_contact.lock().unwrap_or_else(|p| p.into_inner()).newest_applied(applied)
}

/// Keeps SWIM introduced to the members the topology names (after a
/// restart SWIM knows nobody until it hears from someone).
async fn announce_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(shared.cfg.gossip_interval_ms.max(50) * 5));
    loop {
        tick.tick().await;
        let top = shared.topology.load_full();
        for m in top.members.values() {
            if m.id == shared.cfg.node_id || shared.swim.health_of(m.id.as_str()) == Some(Health::Up) {
                continue;
            }
            if let Ok(a) = m.cluster.to_string().parse() {
                shared.swim.announce(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::odd_promotion;

    #[test]
    fn voters_stay_odd_as_they_grow() {
        // One voter, one caught-up candidate: wait (two would be fragile).
        assert_eq!(odd_promotion(1, 3, 1), 0);
        // One voter, two candidates: both at once.
        assert_eq!(odd_promotion(1, 3, 2), 2);
        assert_eq!(odd_promotion(1, 3, 4), 2);
        // Three voters towards five.
        assert_eq!(odd_promotion(3, 5, 1), 0);
        assert_eq!(odd_promotion(3, 5, 3), 2);
        // Enough already.
        assert_eq!(odd_promotion(3, 3, 2), 0);
        // An even count left by a removal goes to odd with one.
        assert_eq!(odd_promotion(2, 3, 1), 1);
    }
}
