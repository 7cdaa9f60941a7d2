//! Topology agreement through Raft (openraft): the log's entries are
//! [`Command`]s and its state machine is the [`Topology`].
//!
//! Storage is a few small files in `<dir>/cluster/`, each replaced whole
//! (write to a temporary file, fsync, rename, fsync the directory) except
//! the log, which is appended line by line and fsynced before openraft is
//! told an append is durable:
//! * `raft-state.json`: vote, committed log id, last purged log id;
//! * `raft-log.jsonl`: one entry per line; a torn last line (a crash
//!   mid-append) is dropped at open, as it was never acknowledged;
//! * `raft-snapshot.json`: the latest snapshot (metadata and the topology).
//!
//! The state machine is not written on every apply: at start it is the
//! snapshot's, and openraft re-applies the log up to the saved committed id.
//! Topology changes are rare (joins, leaves), so the log stays small; a
//! snapshot every [`SNAPSHOT_EVERY_ENTRIES`] entries bounds it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::io::Cursor;
use std::io::{self, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{LogState, RaftLogReader, RaftSnapshotBuilder, RaftStorage, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftNetwork, RaftNetworkFactory, StorageError, StorageIOError,
    StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};

use crate::net::{self, BoxStream, Net, Secret};
use crate::topology::{Command, Outcome, Topology};

openraft::declare_raft_types!(
    /// Raft over the topology: entries are commands, responses outcomes.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        AsyncRuntime = crate::runtime::SeededRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftId = u64;

/// Entries between snapshots (and log purges).
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 500;

#[derive(Default, Serialize, Deserialize)]
struct HardState {
    vote: Option<Vote<RaftId>>,
    committed: Option<LogId<RaftId>>,
    purged: Option<LogId<RaftId>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<RaftId, BasicNode>,
    /// postcard-encoded [`Topology`], as hex in the file.
    data: Vec<u8>,
}

struct Inner {
    dir: PathBuf,
    hard: HardState,
    log: BTreeMap<u64, Entry<TypeConfig>>,
    last_applied: Option<LogId<RaftId>>,
    membership: StoredMembership<RaftId, BasicNode>,
    topology: Topology,
    snapshot: Option<StoredSnapshot>,
    snapshot_seq: u64,
    published: Arc<ArcSwap<Topology>>,
}

/// Raft's storage for one node (log, vote, state machine, snapshot).
/// Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Store(Arc<Mutex<Inner>>);

fn io_err(e: impl std::error::Error + 'static) -> StorageError<RaftId> {
    StorageIOError::write(AnyError::new(&e)).into()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<RaftId> {
    StorageIOError::read(AnyError::new(&e)).into()
}

/// Replaces `path` whole and durably.
fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(path.parent().expect("a file in a directory"))?.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (s.len() & 1 == 0).then_some(())?;
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<RaftId, BasicNode>,
    data: String,
}

impl Store {
    /// Opens (or creates) the store in `dir` and publishes its topology.
    pub fn open(dir: &Path, published: Arc<ArcSwap<Topology>>) -> io::Result<Store> {
        fs::create_dir_all(dir)?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", dir.display()))
        };
        let hard: HardState = match fs::read(dir.join("raft-state.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| bad("raft-state.json", &e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(e),
        };
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            hard,
            log: BTreeMap::new(),
            last_applied: None,
            membership: StoredMembership::default(),
            topology: Topology::new(),
            snapshot: None,
            snapshot_seq: 0,
            published,
        };
        match fs::read(dir.join("raft-snapshot.json")) {
            Ok(b) => {
                let f: SnapshotFile = serde_json::from_slice(&b).map_err(|e| bad("raft-snapshot.json", &e))?;
                let data = unhex(&f.data).ok_or_else(|| bad("raft-snapshot.json", &"bad hex"))?;
                inner.topology = postcard::from_bytes(&data).map_err(|e| bad("raft-snapshot.json", &e))?;
                inner.last_applied = f.meta.last_log_id;
                inner.membership = f.meta.last_membership.clone();
                inner.snapshot = Some(StoredSnapshot { meta: f.meta, data });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match fs::read_to_string(dir.join("raft-log.jsonl")) {
            Ok(text) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                for (i, line) in lines.iter().enumerate() {
                    match serde_json::from_str::<Entry<TypeConfig>>(line.trim_end()) {
                        Ok(e) => {
                            inner.log.insert(e.log_id.index, e);
                        }
                        // Only the last line may be torn (never acknowledged).
                        Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => {
                            tracing::warn!(dir = %dir.display(), "dropping a torn last raft log line");
                        }
                        Err(e) => return Err(bad(&format!("raft-log.jsonl line {}", i + 1), &e)),
                    }
                }
                inner.rewrite_log()?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        inner.publish();
        Ok(Store(Arc::new(Mutex::new(inner))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn publish(&self) {
        self.published.store(Arc::new(self.topology.clone()));
    }

    fn save_hard(&self) -> io::Result<()> {
        replace_file(&self.dir.join("raft-state.json"), &serde_json::to_vec(&self.hard)?)
    }

    fn rewrite_log(&self) -> io::Result<()> {
        let mut text = Vec::new();
        for e in self.log.values() {
            serde_json::to_writer(&mut text, e)?;
            text.push(b'\n');
        }
        replace_file(&self.dir.join("raft-log.jsonl"), &text)
    }

    fn save_snapshot(&self, s: &StoredSnapshot) -> io::Result<()> {
        let f = SnapshotFile { meta: s.meta.clone(), data: hex(&s.data) };
        replace_file(&self.dir.join("raft-snapshot.json"), &serde_json::to_vec(&f)?)
    }
}

impl RaftLogReader<TypeConfig> for Store {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<RaftId>> {
        Ok(self.lock().log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Store {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<RaftId>> {
        let mut g = self.lock();
        let data = postcard::to_allocvec(&g.topology).map_err(io_err)?;
        g.snapshot_seq += 1;
        let last = g.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: g.membership.clone(),
            snapshot_id: format!("{}-{}", last.map_or(0, |l| l.index), g.snapshot_seq),
        };
        let s = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        g.save_snapshot(&s).map_err(io_err)?;
        g.snapshot = Some(s);
        Ok(Snapshot { meta, snapshot: Box::new(io::Cursor::new(data)) })
    }
}

impl RaftStorage<TypeConfig> for Store {
    type LogReader = Store;
    type SnapshotBuilder = Store;

    async fn save_vote(&mut self, vote: &Vote<RaftId>) -> Result<(), StorageError<RaftId>> {
        let mut g = self.lock();
        g.hard.vote = Some(*vote);
        g.save_hard().map_err(io_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftId>>, StorageError<RaftId>> {
        Ok(self.lock().hard.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<RaftId>>) -> Result<(), StorageError<RaftId>> {
        let mut g = self.lock();
        g.hard.committed = committed;
        g.save_hard().map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<RaftId>>, StorageError<RaftId>> {
        Ok(self.lock().hard.committed)
    }

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<RaftId>> {
        let g = self.lock();
        let last = g.log.values().next_back().map(|e| e.log_id).or(g.hard.purged);
        Ok(LogState { last_purged_log_id: g.hard.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn append_to_log<I>(&mut self, entries: I) -> Result<(), StorageError<RaftId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let mut g = self.lock();
        let mut text = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut text, &e).map_err(io_err)?;
            text.push(b'\n');
            g.log.insert(e.log_id.index, e);
        }
        let path = g.dir.join("raft-log.jsonl");
        let mut f = fs::OpenOptions::new().create(true).append(true).open(path).map_err(io_err)?;
        f.write_all(&text).map_err(io_err)?;
        f.sync_data().map_err(io_err)
    }

    async fn delete_conflict_logs_since(&mut self, log_id: LogId<RaftId>) -> Result<(), StorageError<RaftId>> {
        let mut g = self.lock();
        g.log.split_off(&log_id.index);
        g.rewrite_log().map_err(io_err)
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<RaftId>) -> Result<(), StorageError<RaftId>> {
        let mut g = self.lock();
        // Record the purge first: a crash between the two leaves entries
        // that are simply purged again.
        g.hard.purged = Some(log_id);
        g.save_hard().map_err(io_err)?;
        let keep = g.log.split_off(&(log_id.index + 1));
        g.log = keep;
        g.rewrite_log().map_err(io_err)
    }

    async fn last_applied_state(
        &mut self,
    ) -> Result<(Option<LogId<RaftId>>, StoredMembership<RaftId, BasicNode>), StorageError<RaftId>> {
        let g = self.lock();
        Ok((g.last_applied, g.membership.clone()))
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry<TypeConfig>],
    ) -> Result<Vec<Outcome>, StorageError<RaftId>> {
        let mut g = self.lock();
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            g.last_applied = Some(e.log_id);
            out.push(match &e.payload {
                EntryPayload::Blank => Outcome::Done,
                EntryPayload::Normal(cmd) => {
                    let o = g.topology.apply(cmd);
                    tracing::info!(command = %cmd, outcome = ?o, version = g.topology.version, "topology changed");
                    o
                }
                EntryPayload::Membership(m) => {
                    g.membership = StoredMembership::new(Some(e.log_id), m.clone());
                    Outcome::Done
                }
            });
        }
        g.publish();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<io::Cursor<Vec<u8>>>, StorageError<RaftId>> {
        Ok(Box::new(io::Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<RaftId, BasicNode>,
        snapshot: Box<io::Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<RaftId>> {
        let data = snapshot.into_inner();
        let topology: Topology = postcard::from_bytes(&data).map_err(read_err)?;
        let mut g = self.lock();
        let s = StoredSnapshot { meta: meta.clone(), data };
        g.save_snapshot(&s).map_err(io_err)?;
        g.topology = topology;
        g.last_applied = meta.last_log_id;
        g.membership = meta.last_membership.clone();
        g.snapshot = Some(s);
        g.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<RaftId>> {
        Ok(self.lock().snapshot.clone().map(|s| Snapshot { meta: s.meta, snapshot: Box::new(io::Cursor::new(s.data)) }))
    }
}

/// A request on a cluster link.
#[derive(Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    /// A follower asks the leader for its lease (see `node::lease_until`).
    LeaseProbe,
    Vote(VoteRequest<RaftId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A topology change, for the leader (a follower answers `NotLeader`).
    Propose(Command),
    /// A data link for `slots` from `from`: after `DataAccepted` it carries
    /// the slot transfer protocol (the server's). What for: see [`DataKind`].
    Data {
        from: crate::topology::NodeTag,
        slots: Vec<u16>,
        #[serde(default)]
        kind: DataKind,
    },
    /// Commands relayed for a client of another node, run as ACL user
    /// `user`: after `RelayAccepted` the link carries RESP requests and
    /// replies (RESP3 replies with `resp3`), as a client connection would.
    Relay {
        user: String,
        resp3: bool,
    },
    /// How far this node got in `primary`'s change feeds (the leader asks
    /// before a failover; see `node::fail_over`).
    Applied {
        primary: crate::topology::NodeTag,
    },
    /// PUBLISHed messages for this node's subscribers (see `bus`).
    Publish {
        messages: Vec<crate::bus::Message>,
    },
}

/// What a data link is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataKind {
    /// The primary of the slots moves them here (`moves`).
    #[default]
    Move,
    /// The primary of the slots feeds this replica: a copy, then every
    /// change, acknowledged once durable here (`replication`).
    Feed,
    /// The new primary of the slots asks this replica for its copy, to
    /// catch up before it serves (`replication`); this node sends.
    CatchUp,
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<RaftId>, RaftError<RaftId>>),
    Vote(Result<VoteResponse<RaftId>, RaftError<RaftId>>),
    Snapshot(Result<InstallSnapshotResponse<RaftId>, RaftError<RaftId, InstallSnapshotError>>),
    Proposed(Result<Outcome, String>),
    /// Ask the leader instead (its cluster endpoint, if known).
    NotLeader(Option<String>),
    /// This node's Raft is not running yet (it is still joining).
    NotReady,
    /// The data link is open (see `Request::Data`).
    DataAccepted,
    /// The relay link is open (see `Request::Relay`).
    RelayAccepted,
    /// The messages were delivered here.
    Published,
    /// The answer to `Applied`: the newest version (HLC) this node applied
    /// from that primary's feeds, 0 when none.
    Applied(u64),
    /// The leader's answer to `LeaseProbe`: the milliseconds left of its
    /// lease (0: it holds none, or is not the leader) and its applied index.
    Lease {
        remaining_ms: u64,
        applied: u64,
    },
}

/// One request and its response on a fresh or kept link.
pub struct Link {
    net: Arc<dyn Net>,
    secret: Option<Secret>,
    addr: String,
    stream: Option<BoxStream>,
    nonces: Arc<Mutex<rand::rngs::SmallRng>>,
}

impl Link {
    pub fn new(
        net: Arc<dyn Net>,
        secret: Option<Secret>,
        addr: String,
        nonces: Arc<Mutex<rand::rngs::SmallRng>>,
    ) -> Link {
        Link { net, secret, addr, stream: None, nonces }
    }

    /// The connection, for a protocol of its own after a call.
    pub fn into_stream(self) -> Option<BoxStream> {
        self.stream
    }

    /// Sends `req` and waits for the response, within `timeout`. A failed
    /// call drops the connection; the next one reconnects.
    pub async fn call(&mut self, req: &Request, timeout: std::time::Duration) -> io::Result<Response> {
        let r = tokio::time::timeout(timeout, self.call_inner(req)).await;
        let r = r.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "cluster link timed out")));
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn call_inner(&mut self, req: &Request) -> io::Result<Response> {
        if self.stream.is_none() {
            let mut s = self.net.connect(self.addr.clone()).await?;
            let nonce: [u8; 16] = rand::Rng::random(&mut *self.nonces.lock().unwrap_or_else(|p| p.into_inner()));
            net::handshake_connect(&mut s, self.secret.as_ref(), nonce).await?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().expect("connected above");
        net::write_frame(s, req).await?;
        net::read_frame(s).await
    }
}

/// Opens Raft links to other nodes.
pub struct Network {
    pub net: Arc<dyn Net>,
    pub secret: Option<Secret>,
    pub nonces: Arc<Mutex<rand::rngs::SmallRng>>,
    /// When each peer last accepted our AppendEntries (the leader's lease).
    pub acks: Acks,
}

/// The instant each peer last answered an AppendEntries with anything but
/// a higher vote: proof that it followed us then.
pub type Acks = Arc<Mutex<std::collections::HashMap<RaftId, tokio::time::Instant>>>;

/// True for an answer from a node that accepts the sender as leader.
pub fn follows(resp: &AppendEntriesResponse<RaftId>) -> bool {
    !matches!(resp, AppendEntriesResponse::HigherVote(_))
}

pub struct Peer {
    target: RaftId,
    link: Link,
    acks: Acks,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: RaftId, node: &BasicNode) -> Peer {
        let link = Link::new(self.net.clone(), self.secret.clone(), node.addr.clone(), self.nonces.clone());
        Peer { target, link, acks: self.acks.clone() }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<RaftId, BasicNode, RaftError<RaftId, E>>;

impl Peer {
    async fn rpc(&mut self, req: Request, option: &RPCOption) -> Result<Response, Unreachable> {
        match self.link.call(&req, option.hard_ttl()).await {
            Ok(Response::NotReady) => Err(Unreachable::new(&io::Error::other("peer not ready"))),
            Ok(r) => Ok(r),
            Err(e) => Err(Unreachable::new(&e)),
        }
    }

    fn unexpected<E: std::error::Error>() -> RpcErr<E> {
        RPCError::Network(NetworkError::new(&io::Error::other("unexpected response")))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<RaftId>, RpcErr> {
        // An acknowledgement proves the peer followed us at some moment
        // after the request left: the lease counts from then.
        let sent = tokio::time::Instant::now();
        match self.rpc(Request::Append(rpc), &option).await? {
            Response::Append(r) => {
                if r.as_ref().is_ok_and(follows) {
                    let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                    let at = acks.entry(self.target).or_insert(sent);
                    *at = (*at).max(sent);
                }
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(Self::unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<RaftId>, RpcErr<InstallSnapshotError>> {
        match self.rpc(Request::Snapshot(rpc), &option).await? {
            Response::Snapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(Self::unexpected()),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<RaftId>, option: RPCOption) -> Result<VoteResponse<RaftId>, RpcErr> {
        match self.rpc(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(Self::unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Endpoint, NodeId, NodeTag};
    use openraft::CommittedLeaderId;

    fn entry(index: u64, cmd: Command) -> Entry<TypeConfig> {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Normal(cmd) }
    }

    fn join(n: u16) -> Command {
        let id = NodeId::parse(&format!("{n:040x}")).unwrap();
        let ep = Endpoint { host: "127.0.0.1".into(), port: n };
        if n == 1 {
            Command::Bootstrap { id, client: ep.clone(), cluster: ep, replication_factor: 2 }
        } else {
            Command::Join { id, client: ep.clone(), cluster: ep, at_once: true }
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gyre-raft-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// Write, snapshot, purge, append more, tear the last line, reopen:
    /// the snapshot and the intact entries are back; the torn one is not.
    #[tokio::test]
    async fn store_survives_reopen_with_snapshot_purge_and_a_torn_tail() {
        let d = dir("reopen");
        let published = Arc::new(ArcSwap::from_pointee(Topology::new()));
        let mut s = Store::open(&d, published.clone()).unwrap();
        let first: Vec<_> = (1..=3).map(|i| entry(i, join(i as u16))).collect();
        s.append_to_log(first.clone()).await.unwrap();
        s.apply_to_state_machine(&first).await.unwrap();
        s.save_committed(Some(first[2].log_id)).await.unwrap();
        let snap = s.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snap.meta.last_log_id, Some(first[2].log_id));
        s.purge_logs_upto(first[1].log_id).await.unwrap();
        s.append_to_log(vec![entry(4, join(4))]).await.unwrap();
        let applied = published.load().clone();
        assert_eq!(applied.members.len(), 3);
        drop(s);
        // A crash mid-append leaves half a line.
        let mut f = fs::OpenOptions::new().append(true).open(d.join("raft-log.jsonl")).unwrap();
        f.write_all(b"{\"log_id\":").unwrap();
        drop(f);

        let published = Arc::new(ArcSwap::from_pointee(Topology::new()));
        let mut s = Store::open(&d, published.clone()).unwrap();
        assert_eq!(*published.load_full(), *applied, "the snapshot's topology is published at open");
        let state = s.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(first[1].log_id));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
        let entries = s.try_get_log_entries(0..10).await.unwrap();
        assert_eq!(entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(s.read_committed().await.unwrap(), Some(first[2].log_id));
        let (applied_id, _) = s.last_applied_state().await.unwrap();
        assert_eq!(applied_id, Some(first[2].log_id));
        // Entry 4 is applied again by openraft after the restart.
        s.apply_to_state_machine(&[entry(4, join(4))]).await.unwrap();
        assert!(published.load().member(NodeTag(4)).is_some());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn hex_round_trips() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(unhex(&hex(&b)), Some(b));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
