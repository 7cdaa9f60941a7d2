//! The server's side of the cluster: start-up from the settings, and the
//! route step of dispatch (MOVED, CROSSSLOT, CLUSTERDOWN), as Redis Cluster
//! answers them. Membership, the agreed topology and liveness live in
//! `gyre-cluster`; the engine knows nothing of any of it.
//!
//! A node serves the slots it is the primary of, once it caught up from
//! their replicas (`replication`), and, to READONLY clients, reads of the
//! slots it replicates. Slots move with their data (`slot_moves`); while a
//! hand-over ends, or a new primary catches up, its slots answer
//! `-TRYAGAIN`.

use std::sync::Arc;

use anyhow::Context;
use gyre_cluster::{Cluster, ClusterConfig, Endpoint, NodeId, NodeTag, Topology};
use gyre_engine::SlotId;
use gyre_resp::Args;

use crate::client::ClientState;
use crate::cmd::{self, flags, CommandSpec};
use crate::shared::Shared;
use crate::slot_moves::{ServerDataPlane, SlotMoves};

/// What the server holds of its cluster membership.
pub struct Face {
    pub cluster: Cluster,
    /// Our 40-hex node id (the manifest's).
    pub my_id: String,
    /// Slot moves: frozen slots and counters.
    pub moves: Arc<SlotMoves>,
    /// Links for relayed commands (`cluster-redirect forward`).
    pub relays: crate::relay::Relays,
    /// The replicas this node feeds and what they hold.
    pub replication: Arc<crate::replication::Replication>,
    /// `read-consistency` (fixed at start-up): read on every keyed read,
    /// so kept here rather than taken from the settings each time.
    pub read_consistency: crate::replication::Consistency,
}

impl Face {
    /// True when this node is the primary of `slot` in the applied topology.
    pub fn serves(&self, topology: &Topology, slot: u16) -> bool {
        match (self.cluster.tag(), topology.slots[slot as usize].replicas.first()) {
            (Some(me), Some(p)) => me == *p,
            _ => false,
        }
    }

    /// Slots this node leads and has not caught up on (they answer
    /// `-TRYAGAIN`; CLUSTER INFO and `/metrics`).
    pub fn slots_catching_up(&self) -> usize {
        let t = self.cluster.topology();
        (0..gyre_cluster::SLOTS as u16).filter(|&s| self.serves(&t, s) && self.cluster.catching_up(s)).count()
    }
}

/// The slot of a command's only key, when the table says it has exactly
/// one (GET, SET, ...): the common case, without collecting key indexes.
#[inline]
fn single_key_slot(spec: &CommandSpec, args: &Args<'_>) -> Option<Option<u16>> {
    if spec.first_key > 0 && spec.first_key == spec.last_key && spec.numkeys_at == 0 {
        let i = spec.first_key as usize;
        return Some((i < args.len()).then(|| SlotId::of(args.get(i)).0));
    }
    None
}

/// Starts cluster membership when cluster mode is on; `client_port` is the
/// port the RESP listener got. Formation goes on in the background.
pub async fn start(shared: &Arc<Shared>, client_port: u16) -> anyhow::Result<()> {
    let settings = shared.config.settings();
    let Some(c) = &settings.cluster else { return Ok(()) };
    // A delete's tombstone must outlive every way an older copy of the key
    // can come back: a replica's hints and an anti-entropy round.
    let tombstone_ttl = shared.config.hot.tombstone_ttl_secs.load(std::sync::atomic::Ordering::Relaxed);
    let window = c.hint_ttl_secs + c.anti_entropy_interval_ms.div_ceil(1000);
    anyhow::ensure!(
        tombstone_ttl > window,
        "tombstone-ttl ({tombstone_ttl} s) must exceed hint-ttl plus anti-entropy-interval-ms ({window} s)"
    );
    let bind = settings.bind.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
    let bind_ip: std::net::IpAddr = bind.parse().with_context(|| format!("bind address '{bind}'"))?;
    let cluster_port = match c.port {
        0 => client_port.checked_add(10000).context("port + 10000 is over 65535: set --cluster-port")?,
        p => p,
    };
    let announce_ip = match &c.announce_ip {
        ip if !ip.is_empty() => ip.clone(),
        _ if bind_ip.is_unspecified() => {
            anyhow::bail!("bind is a wildcard address ({bind}): set --announce-ip to the address clients reach")
        }
        _ => bind.clone(),
    };
    let announce_ip: std::net::IpAddr =
        announce_ip.parse().with_context(|| format!("announce-ip '{announce_ip}' is not an IP address"))?;
    let announce_port = match c.announce_port {
        0 => client_port,
        p => p,
    };
    let node_id = NodeId::parse(&shared.persistence.node_id).context("the node id is not 40 hex characters")?;
    let cfg = ClusterConfig {
        node_id: node_id.clone(),
        client: Endpoint { host: announce_ip.to_string(), port: announce_port },
        cluster: Endpoint { host: announce_ip.to_string(), port: cluster_port },
        bind: std::net::SocketAddr::new(bind_ip, cluster_port),
        seeds: c.join.clone(),
        replication_factor: c.replication_factor,
        secret: (!c.secret.is_empty()).then(|| c.secret.clone().into_bytes()),
        node_timeout_ms: c.node_timeout_ms,
        gossip_interval_ms: c.gossip_interval_ms,
        dir: settings.dir.join("cluster"),
    };
    tracing::info!(cluster_port, announce = %cfg.client, seeds = ?cfg.seeds, "cluster mode");
    let moves = Arc::new(SlotMoves::default());
    let replication = Arc::new(crate::replication::Replication::default());
    replication.sloppy.store(c.sloppy_quorum, std::sync::atomic::Ordering::Relaxed);
    let data = Arc::new(ServerDataPlane::new(shared, moves.clone()));
    let cluster = Cluster::start_with(cfg, Arc::new(gyre_cluster::net::TokioNet), data)
        .await
        .with_context(|| format!("starting the cluster on port {cluster_port}"))?;
    let face = Face {
        cluster,
        my_id: node_id.to_string(),
        moves,
        relays: Default::default(),
        replication,
        read_consistency: c.read_consistency,
    };
    let _ = shared.cluster.set(face);
    tokio::spawn(crate::slot_moves::drop_strays(shared.clone()));
    Ok(())
}

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
const UNSERVED: &str = "CLUSTERDOWN Hash slot not served";
const DOWN: &str = "CLUSTERDOWN The cluster is down";
const TRYAGAIN: &str = "TRYAGAIN The slot is being handed over to another node; try again";
const CATCHING_UP: &str = "TRYAGAIN The slot's new primary is catching up from its replicas; try again";

/// Why a command does not run here (see [`route`]).
pub enum Refusal {
    /// Answer this error.
    Error(String),
    /// Relay the command to the slot's primary (a client that relays); if
    /// that fails, answer `moved`.
    Relay { to: NodeTag, moved: String },
}

impl From<String> for Refusal {
    fn from(msg: String) -> Refusal {
        Refusal::Error(msg)
    }
}

/// Step 4 of dispatch: in cluster mode, the error a command gets instead of
/// running here, as Redis Cluster's `getNodeByQuery` decides it: keys in
/// several slots (over all of a transaction's commands at EXEC) are
/// CROSSSLOT; a slot this node is not the primary of is MOVED; an unformed
/// cluster, or a node cut off from the Raft majority, is CLUSTERDOWN; a
/// slot frozen for a hand-over, or moving here, is TRYAGAIN; a client that
/// relays gets its command relayed instead of MOVED. (SELECT of a database
/// other than 0 is refused by SELECT itself, as in Redis.)
/// Inside EXEC or a script, a key this node does not serve is an error.
pub fn route(
    shared: &Shared,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    args: &Args<'_>,
    client: &mut ClientState,
) -> Option<Refusal> {
    let face = shared.cluster.get()?;
    let slot = match slot_of(top, spec, args, client) {
        Ok(None) => {
            client.slot = None;
            return None;
        }
        Ok(Some(slot)) => slot,
        Err(e) => return Some(redirect_error(client, top, e).into()),
    };
    client.slot = Some(slot);
    if face.cluster.serves(slot) {
        stamp_tag(shared, face);
        if face.moves.frozen(slot) && !client.in_exec {
            return Some(redirect_error(client, top, TRYAGAIN.to_string()).into());
        }
        if !client.in_exec && face.cluster.catching_up(slot) {
            return Some(redirect_error(client, top, CATCHING_UP.to_string()).into());
        }
        // Cut off from the Raft majority for node-timeout-ms, the map may
        // have moved on without us (inside EXEC or a script the command
        // that started it was let in).
        if face.cluster.map_is_current() || client.in_exec {
            return None;
        }
        return Some(redirect_error(client, top, DOWN.to_string()).into());
    }
    let t = face.cluster.topology();
    if client.in_exec {
        return Some(Refusal::Error("ERR Script attempted to access a non local key in a cluster node script".into()));
    }
    // READONLY: a read of a slot this node replicates is served here.
    if client.readonly
        && top.has_flag(flags::READONLY)
        && !top.has_flag(flags::WRITE)
        && client.multi.is_none()
        && face.cluster.tag().is_some_and(|me| t.slots[slot as usize].replicas.contains(&me))
    {
        return None;
    }
    // The slot is moving here: its sender may already have handed it over
    // and redirected the client, with this node a moment behind.
    if face.cluster.tag().is_some_and(|me| t.slots[slot as usize].target.first() == Some(&me)) {
        return Some(redirect_error(client, top, TRYAGAIN.to_string()).into());
    }
    let (msg, to) = match t.primary(slot) {
        Some(p) if t.assigned() == gyre_cluster::SLOTS && face.cluster.tag().is_some() => {
            (format!("MOVED {slot} {}:{}", p.client.host, p.client.port), Some(p.tag))
        }
        _ => (UNSERVED.to_string(), None),
    };
    match to {
        Some(to) if client.relays && relayable(top, spec, client) => Some(Refusal::Relay { to, moved: msg }),
        _ => Some(redirect_error(client, top, msg).into()),
    }
}

/// Whether a command may run on another node for this client: not inside
/// a transaction (queued or running), and not one that keeps state on the
/// connection (WATCH, subscriptions) or blocks it.
fn relayable(top: &CommandSpec, spec: &CommandSpec, client: &ClientState) -> bool {
    client.multi.is_none()
        && !client.in_exec
        && !top.has_flag(flags::EXCLUSIVE_KEYS)
        && !spec.has_flag(flags::BLOCKING | flags::SUBSCRIPTION | flags::CONNECTION_STATE | flags::CONTROLS_TRANSACTION)
}

/// Step 5b, after the gate admitted the command: its slot may have been
/// frozen for a hand-over, or handed over, since `route` let it through
/// (the freeze waits for the commands already admitted, and only those).
/// Cheap unless cluster mode is on; then one more slot computation.
#[inline]
pub fn recheck(
    shared: &Shared,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    args: &Args<'_>,
    client: &mut ClientState,
) -> Option<Refusal> {
    let face = shared.cluster.get()?;
    if client.in_exec {
        return None;
    }
    let Ok(Some(slot)) = slot_of(top, spec, args, client) else { return None };
    if face.moves.frozen(slot) {
        return Some(redirect_error(client, top, TRYAGAIN.to_string()).into());
    }
    if !face.cluster.serves(slot) {
        // Handed over meanwhile (or a READONLY read of a replica): route
        // answers what the new map says.
        return route(shared, top, spec, args, client);
    }
    None
}

/// Versions this node issues carry its topology tag (so two members never
/// issue equal versions); set before its first write in a slot it serves.
#[inline]
fn stamp_tag(shared: &Shared, face: &Face) {
    if let Some(tag) = face.cluster.tag() {
        if shared.ks.clock().node() != tag.0 {
            shared.ks.clock().set_node(tag.0);
        }
    }
}

/// A redirect discards a transaction at EXEC, and dooms one being queued,
/// as in Redis.
fn redirect_error(client: &mut ClientState, top: &CommandSpec, msg: String) -> String {
    if top.has_flag(flags::EXCLUSIVE_KEYS) {
        client.multi = None;
        client.watched.clear();
    } else if let Some(tx) = &mut client.multi {
        tx.aborted = true;
    }
    msg
}

/// The slot of a command's keys: the single-key shortcut, else
/// [`command_slot`].
#[inline]
fn slot_of(
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    args: &Args<'_>,
    client: &ClientState,
) -> Result<Option<u16>, String> {
    single_key_slot(spec, args).map_or_else(|| command_slot(top, spec, args, client), Ok)
}

/// The one slot a command's keys are in (None: no keys), or CROSSSLOT.
/// EXEC's keys are those of every queued command.
fn command_slot(
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    args: &Args<'_>,
    client: &ClientState,
) -> Result<Option<u16>, String> {
    let mut slot = None;
    let mut add = |key: &[u8]| -> Result<(), String> {
        let s = SlotId::of(key).0;
        match slot {
            Some(x) if x != s => Err(CROSSSLOT.to_string()),
            _ => {
                slot = Some(s);
                Ok(())
            }
        }
    };
    if top.has_flag(flags::EXCLUSIVE_KEYS) {
        let Some(tx) = &client.multi else { return Ok(None) };
        let mut last = None;
        for queued in &tx.queued {
            let qargs = queued.args();
            let Ok((_, qspec)) = cmd::resolve(&qargs, &mut last) else { continue };
            for i in qspec.key_indexes(qargs.len(), |i| qargs.get(i)) {
                add(qargs.get(i))?;
            }
        }
    } else {
        for i in spec.key_indexes(args.len(), |i| args.get(i)) {
            add(args.get(i))?;
        }
    }
    Ok(slot)
}

/// True unless cluster mode is on and `key`'s slot is not this node's:
/// what keyspace-wide commands (KEYS, SCAN, DBSIZE) count, so that a
/// client fanning out to every primary counts each key once.
pub fn counts_key(shared: &Shared, key: &[u8]) -> bool {
    match shared.cluster.get() {
        None => true,
        Some(face) => face.cluster.serves(SlotId::of(key).0),
    }
}

/// The slots this node serves, in cluster mode.
pub fn served_slots(shared: &Shared) -> Option<Vec<SlotId>> {
    let face = shared.cluster.get()?;
    let t = face.cluster.topology();
    Some((0..gyre_cluster::SLOTS as u16).filter(|&s| face.serves(&t, s)).map(SlotId).collect())
}

/// DBSIZE in cluster mode: keys in the slots this node is primary of.
pub fn dbsize(shared: &Shared, db: gyre_engine::DbIndex) -> Option<usize> {
    let face = shared.cluster.get()?;
    let t = face.cluster.topology();
    let d = shared.ks.db(db);
    Some(
        (0..gyre_cluster::SLOTS as u16)
            .filter(|&s| face.serves(&t, s))
            .map(|s| d.lock(SlotId(s)).slot_len(SlotId(s)))
            .sum(),
    )
}
