//! `bench --cluster`: the load generator over a cluster. Each request goes
//! to the primary of its key's slot, as a cluster client sends it.
//!
//! * The slot map comes from `CLUSTER SLOTS` on the node given (`-h -p`)
//!   and is shared by the clients ([`Routes`]). A request's slot is that of
//!   its key (see `workload`: the first argument of the built-in commands,
//!   what `COMMAND GETKEYS` says of a custom one); a request without a key
//!   (`PING`) or of a slot no node serves goes to the primaries in turn.
//! * Each client has one connection per node, opened at the start for every
//!   primary and later for any node a redirect names. A batch of `-P`
//!   requests is split by node, each part written in one `write`, and the
//!   replies are read from whichever connection is readable first, so a
//!   request's latency is its own node's (from the batch's write to the read
//!   that completed its reply, as in `driver`).
//! * `-MOVED`: the slot is recorded at once as the named node's, the
//!   request is sent there, and the whole map is read again from that node
//!   (at most once per [`REFRESH_INTERVAL_MIN`], and not when another client
//!   refreshed since). `-ASK`: `ASKING` and the request to the named node,
//!   the map unchanged. `-TRYAGAIN`: the request again, to its slot's node
//!   in the map (the same node, unless an ASK led there), after
//!   `redirect::tryagain_backoff`. Per request at most
//!   `redirect::REDIRECTS_MAX` hops and `redirect::TRYAGAIN_RETRIES_MAX`
//!   retries; then its last error is its reply (counted as an error). A
//!   request's latency runs from its first write to its final reply; it
//!   counts for the node that gave that reply.
//!
//! Limits: those of `driver`, per connection; at most `-c` times the number
//! of nodes connections.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gyre_resp::Frame;
use hdrhistogram::Histogram;

use super::driver::{connect, error_text, new_histogram, Conn, Outcome, Progress, RunSpec, Shared, Target};
use super::workload::{RequestGen, Rng};
use crate::cluster::redirect::{tryagain_backoff, Reroute, REDIRECTS_MAX, TRYAGAIN_RETRIES_MAX};
use crate::cluster::slot::{key_slot, SlotId, SlotMap};
use crate::cluster::NodeAddr;

/// Shortest time between two `CLUSTER SLOTS` refreshes of a run (MOVED
/// replies in between update their slot directly).
pub const REFRESH_INTERVAL_MIN: Duration = Duration::from_millis(100);

/// `ASKING`, encoded.
const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";

/// The slot map and its primaries, as the clients route by them.
struct RouteTable {
    map: SlotMap,
    /// Nodes serving at least one slot, for requests without a slot.
    primaries: Vec<u16>,
    /// Bumped by each full refresh.
    generation: u64,
}

impl RouteTable {
    /// The node for a request of `slot` (`rr` turns the keyless ones).
    fn route(&self, slot: Option<SlotId>, rr: &mut usize) -> u16 {
        if let Some(node) = slot.and_then(|s| self.map.owner(s)) {
            return node;
        }
        *rr = rr.wrapping_add(1);
        self.primaries[*rr % self.primaries.len()]
    }
}

/// The run's shared view of the cluster.
pub struct Routes {
    table: RwLock<RouteTable>,
    /// Held while a refresh runs; the time the last one started.
    refresh: tokio::sync::Mutex<Option<Instant>>,
    /// Credentials (and the first node) to connect with.
    target: Target,
}

impl Routes {
    /// Reads `CLUSTER SLOTS` from `target`.
    pub async fn load(target: &Target) -> anyhow::Result<Routes> {
        let seed = NodeAddr { host: target.host.clone(), port: target.port };
        let mut map = SlotMap::default();
        let reply = cluster_slots(target, &seed).await?;
        map.update(&reply, &seed.host).map_err(|e| anyhow::anyhow!("CLUSTER SLOTS on {seed}: {e}"))?;
        let primaries = map.primaries();
        if primaries.is_empty() {
            bail!("{seed} serves no slots and knows no node that does (is it a cluster node?)");
        }
        if map.unassigned() > 0 {
            eprintln!("bench --cluster: {} slots have no node; their requests go to any primary", map.unassigned());
        }
        let table = RouteTable { map, primaries, generation: 0 };
        Ok(Routes { table: RwLock::new(table), refresh: tokio::sync::Mutex::new(None), target: target.clone() })
    }

    /// Addresses of the primaries, in node order.
    pub fn primaries(&self) -> Vec<NodeAddr> {
        let table = self.table.read().expect("route table lock");
        table.primaries.iter().map(|&i| table.map.node(i).clone()).collect()
    }

    fn addr(&self, node: u16) -> NodeAddr {
        self.table.read().expect("route table lock").map.node(node).clone()
    }

    /// A `-MOVED`: `slot` is `addr`'s from now on; returns its node.
    fn moved(&self, slot: SlotId, addr: &NodeAddr) -> u16 {
        self.table.write().expect("route table lock").map.set_owner(slot, addr)
    }

    /// The node of an `-ASK` (the map stays as it is).
    fn node_of(&self, addr: &NodeAddr) -> u16 {
        self.table.write().expect("route table lock").map.index_of(addr)
    }

    /// Reads the whole map again from `from` (the node that answered MOVED,
    /// so one that knows the newer map), unless a refresh happened
    /// since the caller routed (`seen`) or within [`REFRESH_INTERVAL_MIN`].
    /// A failed refresh keeps the map: the MOVED replies already in it route
    /// the slots they named.
    async fn refresh(&self, seen: u64, from: &NodeAddr) {
        let mut last = self.refresh.lock().await;
        if self.table.read().expect("route table lock").generation != seen
            || last.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL_MIN)
        {
            return;
        }
        *last = Some(Instant::now());
        let Ok(reply) = cluster_slots(&self.target, from).await else { return };
        let mut table = self.table.write().expect("route table lock");
        // Into a copy first: a node without a map yet answers an empty list.
        let mut fresh = table.map.clone();
        if fresh.update(&reply, &from.host).is_ok() && !fresh.primaries().is_empty() {
            table.primaries = fresh.primaries();
            table.map = fresh;
            table.generation += 1;
        }
    }
}

/// `CLUSTER SLOTS` from `node`, over a connection of its own.
async fn cluster_slots(target: &Target, node: &NodeAddr) -> anyhow::Result<Frame> {
    let mut conn = Conn::new(connect(&at(target, node)).await?);
    conn.request(&["CLUSTER", "SLOTS"]).await
}

/// `target`'s credentials at `node`.
fn at(target: &Target, node: &NodeAddr) -> Target {
    Target { host: node.host.clone(), port: node.port, ..target.clone() }
}

/// Which argument of a custom command is its key, as `COMMAND GETKEYS`
/// says (`None`: it has none, or the server cannot tell).
pub async fn custom_key_arg(target: &Target, args: &[Vec<u8>]) -> anyhow::Result<Option<usize>> {
    let mut conn = Conn::new(connect(target).await?);
    let mut request = vec![b"COMMAND".to_vec(), b"GETKEYS".to_vec()];
    request.extend(args.iter().cloned());
    let first_key = match conn.request(&request).await? {
        Frame::Array(keys) => match keys.into_iter().next() {
            Some(Frame::Bulk(key) | Frame::Simple(key)) => key,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(args.iter().skip(1).position(|a| a.as_slice() == first_key.as_ref()).map(|i| i + 1))
}

/// What a cluster run measured: the total and each node's share.
#[derive(Debug)]
pub struct ClusterOutcome {
    /// All nodes together.
    pub total: Outcome,
    /// Per node that answered or serves slots, in node order.
    pub nodes: Vec<(NodeAddr, Outcome)>,
    /// Redirects and retries followed, measured phase.
    pub reroutes: Reroutes,
}

/// How often the cluster said "not here" or "not now".
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reroutes {
    /// `-MOVED` replies followed.
    pub moved: u64,
    /// `-ASK` replies followed.
    pub ask: u64,
    /// `-TRYAGAIN` replies retried.
    pub tryagain: u64,
}

/// Runs one workload over the cluster on `rt`.
pub fn run(
    rt: &tokio::runtime::Runtime,
    routes: &Arc<Routes>,
    spec: &RunSpec,
    gen: &RequestGen,
    progress: Arc<Progress>,
    epoch: Instant,
) -> anyhow::Result<ClusterOutcome> {
    rt.block_on(async {
        let mut clients = Vec::with_capacity(spec.clients);
        for i in 0..spec.clients {
            let rng = Rng::new(spec.seed.wrapping_add(i as u64));
            clients.push(Client::connect(Arc::clone(routes), gen.clone(), rng).await?);
        }
        let shared = Shared::start(spec, progress, epoch);
        let tasks: Vec<_> = clients.into_iter().map(|c| tokio::spawn(c.run(Arc::clone(&shared)))).collect();
        let mut per_node: Vec<NodeStats> = Vec::new();
        let mut reroutes = Reroutes::default();
        let mut last_reply = shared.measure_start;
        for task in tasks {
            let result = task.await.context("benchmark client panicked")??;
            for (i, stats) in result.stats.into_iter().enumerate() {
                if per_node.len() <= i {
                    per_node.push(NodeStats::new());
                }
                per_node[i].merge(stats)?;
            }
            reroutes.moved += result.reroutes.moved;
            reroutes.ask += result.reroutes.ask;
            reroutes.tryagain += result.reroutes.tryagain;
            last_reply = last_reply.max(result.last_reply);
        }
        let elapsed = last_reply.saturating_duration_since(shared.measure_start);
        summarize(routes, per_node, reroutes, elapsed)
    })
}

/// The total and the per-node outcomes (nodes that served slots at the end
/// or answered requests).
fn summarize(
    routes: &Routes,
    per_node: Vec<NodeStats>,
    reroutes: Reroutes,
    elapsed: Duration,
) -> anyhow::Result<ClusterOutcome> {
    let primaries = routes.primaries();
    let mut total = NodeStats::new();
    let mut nodes = Vec::new();
    for (i, stats) in per_node.into_iter().enumerate() {
        let addr = routes.addr(i as u16);
        total.merge(stats.clone())?;
        if stats.requests > 0 || primaries.contains(&addr) {
            nodes.push((addr, stats.into_outcome(elapsed)));
        }
    }
    nodes.sort_by(|(a, _), (b, _)| (&a.host, a.port).cmp(&(&b.host, b.port)));
    Ok(ClusterOutcome { total: total.into_outcome(elapsed), nodes, reroutes })
}

/// One node's figures in one client (or merged).
#[derive(Debug, Clone)]
struct NodeStats {
    requests: u64,
    errors: u64,
    latency_us: Histogram<u64>,
    first_error: Option<String>,
}

impl NodeStats {
    fn new() -> NodeStats {
        NodeStats { requests: 0, errors: 0, latency_us: new_histogram(), first_error: None }
    }

    fn merge(&mut self, other: NodeStats) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_us.add(&other.latency_us).context("merging latency histograms")?;
        self.first_error = self.first_error.take().or(other.first_error);
        Ok(())
    }

    fn into_outcome(self, elapsed: Duration) -> Outcome {
        let NodeStats { requests, errors, latency_us, first_error } = self;
        Outcome { requests, errors, elapsed, latency_us, first_error }
    }
}

/// Where a request goes next.
#[derive(Debug, Clone, Copy)]
enum Dest {
    /// Its slot's node in the map.
    Route,
    /// That node (after a MOVED).
    Node(u16),
    /// That node, after `ASKING`.
    Ask(u16),
}

/// A request of the current batch.
struct Req {
    /// Its bytes in the client's batch buffer.
    bytes: Range<usize>,
    slot: Option<SlotId>,
    hops: u32,
    retries: u32,
}

/// What a connection owes us, in order.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The reply to an `ASKING` (ignored).
    Asking,
    /// The reply to request `i` of the batch.
    Reply(usize),
}

/// One client's link to one node.
struct Link {
    conn: Option<Conn>,
    wbuf: Vec<u8>,
    expect: VecDeque<Expect>,
    /// When the last read on `conn` completed.
    read_at: Instant,
}

impl Link {
    fn new() -> Link {
        Link { conn: None, wbuf: Vec::new(), expect: VecDeque::new(), read_at: Instant::now() }
    }
}

/// What one client measured.
struct ClientResult {
    stats: Vec<NodeStats>,
    reroutes: Reroutes,
    last_reply: Instant,
}

/// What one round of replies asks for next.
#[derive(Default)]
struct Round {
    /// Requests to send again, and where.
    again: Vec<(usize, Dest)>,
    /// The node that answered the first MOVED, whose map to read.
    moved_from: Option<NodeAddr>,
    /// The most retries any TRYAGAIN'd request has had (its backoff).
    tryagain: Option<u32>,
}

/// One benchmark client: a connection per node.
struct Client {
    routes: Arc<Routes>,
    gen: RequestGen,
    rng: Rng,
    links: Vec<Link>,
    stats: Vec<NodeStats>,
    /// This batch's encoded requests, and each one's state.
    batch: Vec<u8>,
    reqs: Vec<Req>,
    /// Turns keyless requests over the primaries; where reading starts.
    rr: usize,
    turn: usize,
    reroutes: Reroutes,
}

impl Client {
    /// A client connected to every primary.
    async fn connect(routes: Arc<Routes>, gen: RequestGen, rng: Rng) -> anyhow::Result<Client> {
        let mut client = Client {
            routes,
            gen,
            rng,
            links: Vec::new(),
            stats: Vec::new(),
            batch: Vec::new(),
            reqs: Vec::new(),
            rr: 0,
            turn: 0,
            reroutes: Reroutes::default(),
        };
        let primaries: Vec<u16> = client.routes.table.read().expect("route table lock").primaries.clone();
        for node in primaries {
            client.link(node).await?;
        }
        Ok(client)
    }

    /// Node `node`'s link, connected.
    async fn link(&mut self, node: u16) -> anyhow::Result<&mut Link> {
        let i = usize::from(node);
        while self.links.len() <= i {
            self.links.push(Link::new());
            self.stats.push(NodeStats::new());
        }
        if self.links[i].conn.is_none() {
            let target = at(&self.routes.target, &self.routes.addr(node));
            self.links[i].conn = Some(Conn::new(connect(&target).await?));
        }
        Ok(&mut self.links[i])
    }

    async fn run(mut self, shared: Arc<Shared>) -> anyhow::Result<ClientResult> {
        let mut last_reply = shared.measure_start;
        loop {
            let now = Instant::now();
            let count = shared.claim(now);
            if count == 0 {
                let stats = std::mem::take(&mut self.stats);
                return Ok(ClientResult { stats, reroutes: self.reroutes, last_reply });
            }
            let measured = now >= shared.measure_start;
            self.generate(count);
            let sent = Instant::now();
            let mut todo: Vec<(usize, Dest)> = (0..self.reqs.len()).map(|i| (i, Dest::Route)).collect();
            while !todo.is_empty() {
                let generation = self.dispatch(&todo);
                self.flush().await?;
                let round = self.collect(sent, measured).await?;
                if let Some(retries) = round.tryagain {
                    tokio::time::sleep(tryagain_backoff(retries.saturating_sub(1))).await;
                }
                if let Some(from) = &round.moved_from {
                    self.routes.refresh(generation, from).await;
                }
                todo = round.again;
            }
            if measured {
                last_reply = self.links.iter().map(|l| l.read_at).max().unwrap_or(last_reply).max(last_reply);
                shared.progress.completed.fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    /// Writes `count` requests into `batch`, noting each one's slot.
    fn generate(&mut self, count: u64) {
        self.batch.clear();
        self.reqs.clear();
        for _ in 0..count {
            let start = self.batch.len();
            let key = self.gen.write(&mut self.batch, &mut self.rng);
            let slot = key.map(|k| key_slot(&self.batch[k]));
            self.reqs.push(Req { bytes: start..self.batch.len(), slot, hops: 0, retries: 0 });
        }
    }

    /// Puts each request of `todo` in its node's write buffer; returns the
    /// map generation it routed by.
    fn dispatch(&mut self, todo: &[(usize, Dest)]) -> u64 {
        let table = self.routes.table.read().expect("route table lock");
        for &(i, dest) in todo {
            let req = &self.reqs[i];
            let node = match dest {
                Dest::Route => table.route(req.slot, &mut self.rr),
                Dest::Node(node) | Dest::Ask(node) => node,
            };
            let n = usize::from(node);
            while self.links.len() <= n {
                self.links.push(Link::new());
                self.stats.push(NodeStats::new());
            }
            let link = &mut self.links[n];
            if matches!(dest, Dest::Ask(_)) {
                link.wbuf.extend_from_slice(ASKING);
                link.expect.push_back(Expect::Asking);
            }
            link.wbuf.extend_from_slice(&self.batch[req.bytes.clone()]);
            link.expect.push_back(Expect::Reply(i));
        }
        table.generation
    }

    /// Writes every link's buffer, connecting first where needed.
    async fn flush(&mut self) -> anyhow::Result<()> {
        for node in 0..self.links.len() {
            if self.links[node].wbuf.is_empty() {
                continue;
            }
            let link = self.link(node as u16).await?;
            let conn = link.conn.as_mut().expect("linked");
            tokio::io::AsyncWriteExt::write_all(&mut conn.stream, &link.wbuf).await?;
            link.wbuf.clear();
        }
        Ok(())
    }

    /// Reads every reply the links owe, settling each request or putting it
    /// in the next round.
    async fn collect(&mut self, sent: Instant, measured: bool) -> anyhow::Result<Round> {
        let mut round = Round::default();
        let mut owed: usize = self.links.iter().map(|l| l.expect.len()).sum();
        while owed > 0 {
            for node in 0..self.links.len() {
                while !self.links[node].expect.is_empty() {
                    let link = &mut self.links[node];
                    let conn = link.conn.as_mut().expect("a link owing replies is connected");
                    let Some((reply, range)) = conn.next_reply()? else { break };
                    let error = reply.is_error().then(|| error_text(conn.bytes(range)));
                    let at = link.read_at;
                    owed -= 1;
                    if let Some(Expect::Reply(i)) = link.expect.pop_front() {
                        self.settle(node as u16, i, error, at.saturating_duration_since(sent), measured, &mut round);
                    }
                }
            }
            if owed > 0 {
                self.read_ready().await?;
            }
        }
        Ok(round)
    }

    /// Handles the reply to request `i` from `node`: a redirect or retry
    /// within the bounds goes into `round`, anything else is recorded.
    fn settle(
        &mut self,
        node: u16,
        i: usize,
        error: Option<String>,
        latency: Duration,
        measured: bool,
        round: &mut Round,
    ) {
        let req = &mut self.reqs[i];
        let reroute = error.as_deref().and_then(|e| Reroute::parse(e.as_bytes()));
        let here = || self.routes.addr(node);
        match reroute {
            Some(Reroute::Moved { slot, mut addr }) if req.hops < REDIRECTS_MAX => {
                req.hops += 1;
                if addr.host.is_empty() {
                    addr.host = here().host;
                }
                self.reroutes.moved += u64::from(measured);
                round.again.push((i, Dest::Node(self.routes.moved(slot, &addr))));
                if round.moved_from.is_none() {
                    round.moved_from = Some(here());
                }
                return;
            }
            Some(Reroute::Ask { mut addr, .. }) if req.hops < REDIRECTS_MAX => {
                req.hops += 1;
                if addr.host.is_empty() {
                    addr.host = here().host;
                }
                self.reroutes.ask += u64::from(measured);
                round.again.push((i, Dest::Ask(self.routes.node_of(&addr))));
                return;
            }
            Some(Reroute::TryAgain) if req.retries < TRYAGAIN_RETRIES_MAX => {
                req.retries += 1;
                self.reroutes.tryagain += u64::from(measured);
                // From the slot's owner again: that is this node, unless an
                // ASK led here (then the owner asks again).
                round.again.push((i, Dest::Route));
                round.tryagain = round.tryagain.max(Some(req.retries));
                return;
            }
            _ => {}
        }
        if !measured {
            return;
        }
        let stats = &mut self.stats[usize::from(node)];
        stats.requests += 1;
        stats.latency_us.saturating_record(latency.as_micros() as u64);
        if let Some(text) = error {
            stats.errors += 1;
            stats.first_error.get_or_insert(text);
        }
    }

    /// Waits until a link that owes replies is readable and reads it.
    async fn read_ready(&mut self) -> anyhow::Result<()> {
        loop {
            let (links, turn) = (&self.links, self.turn);
            let node = poll_fn(|cx| {
                for j in 0..links.len() {
                    let k = (turn + j) % links.len();
                    let Some(conn) = links[k].conn.as_ref().filter(|_| !links[k].expect.is_empty()) else {
                        continue;
                    };
                    if let Poll::Ready(ready) = conn.stream.poll_read_ready(cx) {
                        return Poll::Ready(ready.map(|()| k));
                    }
                }
                Poll::Pending
            })
            .await?;
            // Start the next wait after this node, so none is favoured.
            self.turn = node + 1;
            let link = &mut self.links[node];
            match link.conn.as_mut().expect("polled").try_fill()? {
                Some(0) => bail!("Server closed the connection ({})", self.routes.addr(node as u16)),
                Some(_) => {
                    link.read_at = Instant::now();
                    return Ok(());
                }
                None => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU16, AtomicU64};

    use super::*;
    use crate::bench::workload::{KeyDist, Workload};
    use crate::cluster::fake::fake_node;

    /// `CLUSTER SLOTS`: every slot on `port`.
    fn all_slots(port: u16) -> String {
        format!("*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:{port}\r\n$2\r\nid\r\n")
    }

    fn run_against(seed: u16, workload: Workload, requests: u64) -> ClusterOutcome {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let target = Target { host: "127.0.0.1".into(), port: seed, user: None, password: None, db: 0 };
        let routes = Arc::new(rt.block_on(Routes::load(&target)).unwrap());
        let spec = RunSpec {
            clients: 2,
            pipeline: 3,
            requests: Some(requests),
            duration: None,
            warmup: Duration::ZERO,
            seed: 1,
        };
        let gen = workload.generator(3, KeyDist::Uniform(1000));
        run(&rt, &routes, &spec, &gen, Arc::new(Progress::default()), Instant::now()).unwrap()
    }

    #[test]
    fn moved_tryagain_and_ask_are_followed() {
        // B: TRYAGAIN for every third command on a connection; a GET only
        // right after ASKING.
        let tries = Arc::new(AtomicU64::new(0));
        let b_tries = Arc::clone(&tries);
        let b = fake_node(Arc::new(move |words: &[String], count: u64, asking: bool| match words[0].as_str() {
            "ASKING" => "+OK\r\n".into(),
            "GET" if !asking => "-ERR GET without ASKING\r\n".into(),
            _ if count.is_multiple_of(3) => {
                b_tries.fetch_add(1, Ordering::Relaxed);
                "-TRYAGAIN slot being handed over\r\n".into()
            }
            "GET" => "$1\r\nv\r\n".into(),
            _ => "+OK\r\n".into(),
        }));
        // A (the seed) claims every slot, then sends SETs to B with MOVED
        // and GETs with ASK.
        let a = fake_node(Arc::new(move |words: &[String], _: u64, _: bool| match words[0].as_str() {
            "CLUSTER" => all_slots(SEED_PORT.load(Ordering::Relaxed)),
            "SET" => format!("-MOVED {} 127.0.0.1:{b}\r\n", key_slot(words[1].as_bytes()).0),
            "GET" => format!("-ASK {} 127.0.0.1:{b}\r\n", key_slot(words[1].as_bytes()).0),
            _ => "+OK\r\n".into(),
        }));
        SEED_PORT.store(a, Ordering::Relaxed);

        let set = run_against(a, Workload::Set, 60);
        assert_eq!((set.total.requests, set.total.errors), (60, 0), "{:?}", set.total.first_error);
        assert!(set.reroutes.moved >= 1, "{:?}", set.reroutes);
        assert!(set.reroutes.tryagain >= 1, "{:?}", set.reroutes);
        let on_b: Vec<u64> = set.nodes.iter().filter(|(n, _)| n.port == b).map(|(_, o)| o.requests).collect();
        assert_eq!(on_b, [60], "every SET ends on B");

        let get = run_against(a, Workload::Get, 30);
        assert_eq!((get.total.requests, get.total.errors), (30, 0), "{:?}", get.total.first_error);
        assert_eq!(get.reroutes.ask, 30 + get.reroutes.tryagain, "each GET asked, again after a TRYAGAIN");
        assert!(tries.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn redirects_are_bounded() {
        // A node that always says the slot is on itself: MOVED forever.
        let a = fake_node(Arc::new(|words: &[String], _: u64, _: bool| match words[0].as_str() {
            "CLUSTER" => all_slots(LOOP_PORT.load(Ordering::Relaxed)),
            _ => format!("-MOVED {} 127.0.0.1:{}\r\n", 0, LOOP_PORT.load(Ordering::Relaxed)),
        }));
        LOOP_PORT.store(a, Ordering::Relaxed);
        let out = run_against(a, Workload::Set, 4);
        assert_eq!((out.total.requests, out.total.errors), (4, 4));
        assert_eq!(out.reroutes.moved, 4 * u64::from(REDIRECTS_MAX));
        assert!(out.total.first_error.unwrap().starts_with("MOVED 0 127.0.0.1:"));
    }

    /// The ports the fake nodes name themselves by (known only once bound).
    static SEED_PORT: AtomicU16 = AtomicU16::new(0);
    static LOOP_PORT: AtomicU16 = AtomicU16::new(0);
}
