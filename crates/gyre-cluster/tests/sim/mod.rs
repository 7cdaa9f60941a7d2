//! What the simulations share: turmoil's sockets behind the cluster's
//! runtime seam, and a member's configuration.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gyre_cluster::net::{BoxFuture, BoxStream, Datagrams, Listener, Net};
use gyre_cluster::{Cluster, ClusterConfig, DataPlane, Endpoint, NodeId, SLOTS};

/// The members started, by number (a restarted member registers again).
pub type Registry = Arc<Mutex<HashMap<u16, Cluster>>>;

/// turmoil's sockets behind the cluster's runtime seam.
pub struct SimNet {
    pub seed: u64,
}

struct SimListener(turmoil::net::TcpListener);
struct SimUdp(turmoil::net::UdpSocket);

impl Net for SimNet {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(
            async move { Ok(Box::new(SimListener(turmoil::net::TcpListener::bind(addr).await?)) as Box<dyn Listener>) },
        )
    }

    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Arc<dyn Datagrams>>> {
        Box::pin(async move { Ok(Arc::new(SimUdp(turmoil::net::UdpSocket::bind(addr).await?)) as Arc<dyn Datagrams>) })
    }

    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>> {
        Box::pin(async move {
            let a: SocketAddr = addr.parse().map_err(io::Error::other)?;
            Ok(Box::new(turmoil::net::TcpStream::connect(a).await?) as BoxStream)
        })
    }

    fn seed(&self) -> u64 {
        self.seed
    }
}

impl Listener for SimListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move { Ok(Box::new(self.0.accept().await?.0) as BoxStream) })
    }
}

impl Datagrams for SimUdp {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(self.0.send_to(buf, to))
    }

    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(self.0.recv_from(buf))
    }
}

pub const PORT: u16 = 17000;

/// Member `n`'s configuration (host `n<n>`), joining through `seeds`.
pub fn config(dir: &std::path::Path, n: u16, seeds: Vec<String>, replication_factor: u8) -> ClusterConfig {
    let ip = turmoil::lookup(format!("n{n}"));
    ClusterConfig {
        node_id: NodeId::parse(&format!("{n:040x}")).unwrap(),
        client: Endpoint { host: ip.to_string(), port: 6379 },
        cluster: Endpoint { host: ip.to_string(), port: PORT },
        bind: SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), PORT),
        seeds,
        replication_factor,
        secret: Some(b"sim-secret".to_vec()),
        node_timeout_ms: 1000,
        gossip_interval_ms: 200,
        dir: dir.join(format!("n{n}")),
    }
}

/// When a simulated member starts and leaves.
pub struct Signals {
    /// Start the node (a later join).
    pub start: Option<Arc<tokio::sync::Notify>>,
    /// Make the node leave.
    pub leave: Arc<tokio::sync::Notify>,
}

/// Adds member `n` (host `n<n>`) with `replication_factor`, its data
/// plane made by `data` at each start (a restart included), registered in
/// `registry` once started.
#[allow(clippy::too_many_arguments)]
pub fn add_node(
    sim: &mut turmoil::Sim<'_>,
    dir: &std::path::Path,
    n: u16,
    seed: u64,
    replication_factor: u8,
    registry: &Registry,
    data: impl Fn() -> Arc<dyn DataPlane> + 'static,
    signals: Signals,
) {
    let dir = dir.to_path_buf();
    let registry = registry.clone();
    let signals = Arc::new(signals);
    let data = Arc::new(data);
    sim.host(format!("n{n}"), move || {
        let dir = dir.clone();
        let registry = registry.clone();
        let signals = signals.clone();
        let data = data.clone();
        async move {
            if let Some(start) = &signals.start {
                start.notified().await;
            }
            let seeds = if n == 1 { vec![] } else { vec![format!("{}:{PORT}", turmoil::lookup("n1"))] };
            let net = Arc::new(SimNet { seed: seed.wrapping_mul(31).wrapping_add(n as u64) });
            let c = Cluster::start_with(config(&dir, n, seeds, replication_factor), net, data()).await?;
            registry.lock().unwrap().insert(n, c.clone());
            signals.leave.notified().await;
            // Retried: the leader may be on the other side of a partition.
            while c.tag().is_some_and(|t| c.topology().member(t).is_some()) {
                if let Err(e) = c.leave(std::time::Duration::from_secs(30)).await {
                    tracing::debug!(error = %e, "leave: retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
}

/// Whether `members` (of `count`) agree on one map that assigns every slot,
/// with no move in progress.
pub fn agreed(nodes: &HashMap<u16, Cluster>, members: &[u16], count: usize) -> bool {
    agreed_moving(nodes, members, count)
        && members.iter().filter_map(|n| nodes.get(n)).all(|c| c.topology().moving() == 0)
}

/// [`agreed`], with moves still in progress.
pub fn agreed_moving(nodes: &HashMap<u16, Cluster>, members: &[u16], count: usize) -> bool {
    let tops: Vec<_> = members.iter().filter_map(|n| nodes.get(n)).map(|c| c.topology()).collect();
    let healthy = members.iter().filter_map(|n| nodes.get(n)).all(|c| c.raft_view().fatal.is_none());
    healthy
        && tops.len() == members.len()
        && tops.iter().all(|t| t.members.len() == count && t.assigned() == SLOTS)
        && tops.windows(2).all(|w| w[0].version == w[1].version && w[0].slots == w[1].slots)
}

/// Each member's view, for a timeout's message.
pub fn describe(nodes: &HashMap<u16, Cluster>) -> String {
    let mut keys: Vec<_> = nodes.keys().copied().collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            let c = &nodes[k];
            let t = c.topology();
            format!(
                "n{k}: tag {:?} version {} members {:?} raft {:?}",
                c.tag(),
                t.version,
                t.members.keys().map(|m| m.0).collect::<Vec<_>>(),
                c.raft_view()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The slot of writer key `key` (spread over every slot).
pub fn slot_of(key: u64) -> u16 {
    (key.wrapping_mul(2_654_435_761) % SLOTS as u64) as u16
}

/// Member numbers by tag.
pub fn by_tag(nodes: &HashMap<u16, Cluster>) -> HashMap<gyre_cluster::NodeTag, u16> {
    nodes.iter().filter_map(|(n, c)| c.tag().map(|t| (t, *n))).collect()
}

/// Whether every key of `acked` is held (`holds(member, slot, key)`) by
/// its slot's primary, as `view`'s map names it; else which is not.
pub fn on_primaries(
    nodes: &HashMap<u16, Cluster>,
    view: u16,
    acked: &[u64],
    holds: impl Fn(u16, u16, u64) -> bool,
) -> Result<(), String> {
    let t = nodes[&view].topology();
    let tags = by_tag(nodes);
    for &key in acked {
        let slot = slot_of(key);
        let primary = t.slots[slot as usize].replicas.first().and_then(|p| tags.get(p)).copied();
        let Some(n) = primary else { return Err(format!("slot {slot} has no known primary")) };
        if !holds(n, slot, key) {
            return Err(format!("acknowledged write {key} (slot {slot}) is not on its primary n{n}"));
        }
    }
    Ok(())
}
