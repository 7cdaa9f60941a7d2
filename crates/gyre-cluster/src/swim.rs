//! Liveness: SWIM with suspicion (the `foca` crate) over UDP on the cluster
//! port. It says up, suspect or down for each node it has heard of, and
//! carries each node's metadata in its identity; it never changes the
//! topology.
//!
//! foca is the deterministic core (time, messages and its RNG are inputs);
//! this module is its shell: one task owns the `Foca`, fed by a receive task
//! and by timers, and sends what foca asks through [`Datagrams`]. With a
//! cluster secret every datagram ends in an HMAC-SHA256 of its contents;
//! a datagram whose MAC does not verify is dropped and counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{Config, Foca, Identity, OwnedNotification, PostcardCodec, Runtime, Timer};
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::net::{Datagrams, Secret, MAC_BYTES};
use crate::topology::Endpoint;

/// A node as SWIM knows it: its address and the metadata that rides along.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwimId {
    /// The cluster endpoint, UDP side.
    pub addr: SocketAddr,
    /// The persistent 40-hex node id.
    pub node_id: String,
    /// The node's tag once the topology assigned one.
    pub tag: Option<u16>,
    pub client: Endpoint,
    /// Bumped when the node rejoins after being declared down.
    pub bump: u16,
}

impl Identity for SwimId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(SwimId { bump: self.bump.wrapping_add(1), ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, other: &Self) -> bool {
        self.bump > other.bump || (self.bump == other.bump && self.tag > other.tag)
    }
}

/// What SWIM says of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Suspect,
    Down,
}

/// SWIM's view, by node id (40 hex).
#[derive(Default)]
pub struct View {
    pub nodes: HashMap<String, (SwimId, Health)>,
}

/// Settings for the SWIM shell.
#[derive(Clone)]
pub struct SwimConfig {
    /// Probe period; also the gossip period (`--gossip-interval-ms`).
    pub gossip_interval_ms: u64,
    /// From suspect to down (`--node-timeout-ms`).
    pub node_timeout_ms: u64,
    pub secret: Option<Secret>,
}

enum Input {
    Data(Vec<u8>),
    Timer(Timer<SwimId>),
    Announce(SocketAddr),
    Rename(SwimId),
}

/// A running SWIM member.
pub struct Swim {
    tx: mpsc::Sender<Input>,
    pub view: Arc<Mutex<View>>,
    pub dropped_bad_mac: Arc<AtomicU64>,
    /// Woken when a member is declared down (the leader fails it over at
    /// once rather than at its next periodic pass).
    pub downs: Arc<tokio::sync::Notify>,
}

/// Inputs queued for the SWIM task; beyond this, datagrams are dropped
/// (SWIM tolerates loss).
const INPUT_QUEUE_MAX: usize = 4096;

impl Swim {
    pub fn start(me: SwimId, socket: Arc<dyn Datagrams>, cfg: SwimConfig, rng: SmallRng) -> Swim {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE_MAX);
        let view = Arc::new(Mutex::new(View::default()));
        let dropped = Arc::new(AtomicU64::new(0));
        let recv_tx = tx.clone();
        let recv_sock = socket.clone();
        let recv_secret = cfg.secret.clone();
        let recv_dropped = dropped.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, _from) = match recv_sock.recv_from(&mut buf).await {
                    Ok(x) => x,
                    Err(e) => {
                        // Not a busy loop if the error repeats.
                        tracing::debug!(error = %e, "swim: receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Some(data) = open(recv_secret.as_ref(), &buf[..n]) else {
                    recv_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if recv_tx.try_send(Input::Data(data.to_vec())).is_err() && recv_tx.is_closed() {
                    return;
                }
            }
        });
        let mut config = Config::new_lan(NonZeroU32::new(16).expect("non-zero"));
        config.probe_period = Duration::from_millis(cfg.gossip_interval_ms.max(10));
        config.probe_rtt = Duration::from_millis((cfg.gossip_interval_ms / 2).max(5));
        config.suspect_to_down_after = Duration::from_millis(cfg.node_timeout_ms.max(10));
        config.max_packet_size = NonZeroUsize::new(1400 - MAC_BYTES).expect("non-zero");
        config.periodic_announce =
            Some(foca::PeriodicParams { frequency: Duration::from_secs(5), num_members: NonZeroUsize::MIN });
        let foca = Foca::new(me, config, rng, PostcardCodec);
        let downs = Arc::new(tokio::sync::Notify::new());
        let shell =
            Shell { foca, socket, secret: cfg.secret, view: view.clone(), tx: tx.clone(), downs: downs.clone() };
        tokio::spawn(shell.run(rx));
        Swim { tx, view, dropped_bad_mac: dropped, downs }
    }

    /// Introduce ourselves to a node we only know by address (a seed).
    pub fn announce(&self, addr: SocketAddr) {
        let _ = self.tx.try_send(Input::Announce(addr));
    }

    /// Our metadata changed (the tag was assigned).
    pub fn rename(&self, me: SwimId) {
        let _ = self.tx.try_send(Input::Rename(me));
    }

    pub fn health_of(&self, node_id: &str) -> Option<Health> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).nodes.get(node_id).map(|(_, h)| *h)
    }
}

/// Strips and checks the MAC; `None` when it does not verify.
fn open<'a>(secret: Option<&Secret>, packet: &'a [u8]) -> Option<&'a [u8]> {
    let Some(s) = secret else { return Some(packet) };
    let body_len = packet.len().checked_sub(MAC_BYTES)?;
    let (body, mac) = packet.split_at(body_len);
    s.verify(&[b"gyre-swim-v1", body], mac).then_some(body)
}

fn seal(secret: Option<&Secret>, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    if let Some(s) = secret {
        out.extend_from_slice(&s.mac(&[b"gyre-swim-v1", body]));
    }
    out
}

struct Shell {
    foca: Foca<SwimId, PostcardCodec, SmallRng, foca::NoCustomBroadcast>,
    socket: Arc<dyn Datagrams>,
    secret: Option<Secret>,
    view: Arc<Mutex<View>>,
    tx: mpsc::Sender<Input>,
    downs: Arc<tokio::sync::Notify>,
}

/// Collects foca's effects during one call.
#[derive(Default)]
struct Effects {
    send: Vec<(SocketAddr, Vec<u8>)>,
    timers: Vec<(Timer<SwimId>, Duration)>,
    notes: Vec<OwnedNotification<SwimId>>,
}

impl Runtime<SwimId> for Effects {
    fn notify(&mut self, n: foca::Notification<'_, SwimId>) {
        self.notes.push(n.to_owned());
    }

    fn send_to(&mut self, to: SwimId, data: &[u8]) {
        self.send.push((to.addr, data.to_vec()));
    }

    fn submit_after(&mut self, event: Timer<SwimId>, after: Duration) {
        self.timers.push((event, after));
    }
}

impl Shell {
    async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        while let Some(input) = rx.recv().await {
            let mut fx = Effects::default();
            let r = match input {
                Input::Data(d) => self.foca.handle_data(&d, &mut fx),
                Input::Timer(t) => self.foca.handle_timer(t, &mut fx),
                Input::Announce(addr) => {
                    let mut probe = self.foca.identity().clone();
                    probe.addr = addr;
                    probe.node_id = String::new();
                    probe.tag = None;
                    self.foca.announce(probe, &mut fx)
                }
                Input::Rename(me) => self.foca.change_identity(me, &mut fx),
            };
            if let Err(e) = r {
                tracing::debug!(error = %e, "swim input refused");
            }
            self.effects(fx).await;
        }
    }

    async fn effects(&mut self, fx: Effects) {
        for (to, data) in fx.send {
            let _ = self.socket.send_to(&seal(self.secret.as_ref(), &data), to).await;
        }
        for (timer, after) in fx.timers {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(Input::Timer(timer)).await;
            });
        }
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        for n in fx.notes {
            match n {
                OwnedNotification::MemberUp(id) => {
                    tracing::info!(node = %id.node_id, addr = %id.addr, "swim: member up");
                }
                OwnedNotification::MemberDown(id) => {
                    tracing::info!(node = %id.node_id, addr = %id.addr, "swim: member down");
                    view.record(id, Health::Down);
                    self.downs.notify_one();
                }
                _ => {}
            }
        }
        // Members foca holds now; those it dropped keep their last word.
        for m in self.foca.iter_membership_state() {
            let h = match m.state() {
                foca::State::Alive => Health::Up,
                foca::State::Suspect => Health::Suspect,
                foca::State::Down => Health::Down,
            };
            view.record(m.id().clone(), h);
        }
    }
}

impl View {
    /// A node may be known under several identities (each restart or rename
    /// bumps it, and the old one is declared down): the newest speaks for it.
    fn record(&mut self, id: SwimId, h: Health) {
        if id.node_id.is_empty() {
            return;
        }
        match self.nodes.get(&id.node_id) {
            Some((old, _)) if old.bump > id.bump => {}
            _ => {
                self.nodes.insert(id.node_id.clone(), (id, h));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bump: u16) -> SwimId {
        SwimId {
            addr: "127.0.0.1:1".parse().unwrap(),
            node_id: "a".repeat(40),
            tag: Some(1),
            client: Endpoint { host: "127.0.0.1".into(), port: 2 },
            bump,
        }
    }

    /// Regression: a renamed node's old identity, declared down, hid the
    /// live one, so the leader never promoted it to voter.
    #[test]
    fn the_newest_identity_speaks_for_a_node() {
        let mut v = View::default();
        v.record(id(1), Health::Up);
        v.record(id(0), Health::Down);
        assert_eq!(v.nodes[&"a".repeat(40)].1, Health::Up);
        v.record(id(1), Health::Suspect);
        assert_eq!(v.nodes[&"a".repeat(40)].1, Health::Suspect);
        v.record(id(2), Health::Down);
        assert_eq!(v.nodes[&"a".repeat(40)].1, Health::Down);
    }

    #[test]
    fn sealed_datagrams_open_only_with_the_secret() {
        let s = Secret::new(b"k");
        let p = seal(Some(&s), b"hello");
        assert_eq!(open(Some(&s), &p), Some(&b"hello"[..]));
        assert_eq!(open(Some(&Secret::new(b"other")), &p), None);
        let mut bad = p.clone();
        bad[0] ^= 1;
        assert_eq!(open(Some(&s), &bad), None);
        assert_eq!(open(Some(&s), b"short"), None);
        assert_eq!(open(None, b"plain"), Some(&b"plain"[..]));
    }
}
