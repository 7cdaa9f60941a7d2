//! Per-connection state and the registry of connected clients.
//!
//! [`ClientState`] is owned by the connection's task and touched only by it.
//! [`ClientInfo`] is the part other clients may read or act on (CLIENT LIST,
//! CLIENT KILL): plain atomics updated once per batch of commands, a mutex for
//! the rarely changed strings, and the task's abort handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gyre_engine::DbIndex;
use gyre_resp::Protocol;
use parking_lot::Mutex;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the reply of the command now running.
    Skipping,
}

/// Connection state owned by the connection task.
pub struct ClientState {
    pub info: Arc<ClientInfo>,
    pub db: DbIndex,
    pub proto: Protocol,
    pub no_touch: bool,
    pub no_evict: bool,
    pub reply: ReplyMode,
    /// Close the connection once the pending replies are written (QUIT, self-kill).
    pub close_after_reply: bool,
    /// The command running now (or last run), for CLIENT LIST's `cmd` field.
    pub current_cmd: CmdName,
    /// The last top-level command looked up (a lookup cache for repeated commands).
    pub last_spec: Option<&'static crate::cmd::CommandSpec>,
    /// Keys the running command made ready for blocked clients (see
    /// `Call::signal_ready`); drained after each command.
    pub ready_keys: Vec<(DbIndex, Vec<u8>)>,
    /// Between MULTI and EXEC: the commands queued so far.
    pub multi: Option<crate::cmd::transactions::Transaction>,
    /// WATCHed keys (cleared by EXEC, DISCARD, UNWATCH, RESET).
    pub watched: crate::cmd::transactions::Watched,
    /// EXEC is running this client's queued commands (the gate is already
    /// held; a blocking command answers as if it timed out).
    pub in_exec: bool,
    /// A script is running this client's commands (set with `in_exec`):
    /// XREAD/XREADGROUP refuse their BLOCK option then, as Redis 7.2 does.
    pub in_script: bool,
    /// Subscriptions (created by the first SUBSCRIBE; dropping it removes them).
    pub pubsub: Option<crate::pubsub::Subscription>,
    /// MONITOR mode (dropping it ends the mode; the lines go to `pubsub`'s outbox).
    pub monitor: Option<crate::monitor::Monitoring>,
    /// The ACL user and whether the connection authenticated (see `acl`).
    pub auth: crate::acl::ClientAuth,
    /// CLIENT TRACKING on (dropping it turns tracking off).
    pub tracking: Option<crate::tracking::Guard>,
    /// In a cluster, a command for a slot served elsewhere is relayed there
    /// instead of answered with MOVED (`cluster-redirect forward`, the HTTP
    /// API).
    pub relays: bool,
    /// In a cluster: the slot of the last command routed (None: no key).
    pub slot: Option<u16>,
    /// READONLY: reads of slots this node replicates are served here
    /// (possibly stale), as in Redis Cluster.
    pub readonly: bool,
    /// CLUSTER CONSISTENCY WRITE: this connection's write consistency
    /// (None: the server's `write-consistency`).
    pub write_consistency: Option<crate::replication::Consistency>,
    /// CLUSTER CONSISTENCY READ: this connection's read consistency (None:
    /// the server's `read-consistency`).
    pub read_consistency: Option<crate::replication::Consistency>,
}

/// The name of a command, for CLIENT LIST's `cmd` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdName {
    Known { top: &'static str, sub: Option<&'static str> },
    Unknown,
}

impl CmdName {
    fn store_into(self, s: &mut String) {
        s.clear();
        match self {
            CmdName::Known { top, sub } => {
                s.push_str(top);
                if let Some(sub) = sub {
                    s.push('|');
                    s.push_str(sub);
                }
            }
            CmdName::Unknown => s.push_str("NULL"),
        }
    }
}

impl ClientState {
    pub fn new(info: Arc<ClientInfo>) -> ClientState {
        ClientState {
            info,
            db: 0,
            proto: Protocol::Resp2,
            no_touch: false,
            no_evict: false,
            reply: ReplyMode::On,
            close_after_reply: false,
            current_cmd: CmdName::Unknown,
            last_spec: None,
            ready_keys: Vec::new(),
            multi: None,
            watched: Default::default(),
            in_exec: false,
            in_script: false,
            pubsub: None,
            monitor: None,
            auth: crate::acl::ClientAuth::default(),
            tracking: None,
            relays: false,
            slot: None,
            readonly: false,
            write_consistency: None,
            read_consistency: None,
        }
    }

    /// Back to a new connection's state (RESET), keeping identity.
    pub fn reset(&mut self) {
        self.db = 0;
        self.proto = Protocol::Resp2;
        self.no_touch = false;
        self.no_evict = false;
        self.reply = ReplyMode::On;
        self.multi = None;
        self.watched.clear();
        self.tracking = None;
        self.pubsub = None;
        self.monitor = None;
        self.readonly = false;
        self.write_consistency = None;
        self.read_consistency = None;
        self.info.monitor.store(false, Ordering::Relaxed);
        *self.info.name.lock() = None;
        self.publish();
    }

    /// Copies the fields CLIENT LIST shows into the shared info.
    /// Subscribed to anything (RESP2 subscriber mode applies).
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|s| s.sub.active())
    }

    pub fn publish(&self) {
        let i = &self.info;
        i.db.store(self.db, Ordering::Relaxed);
        i.resp.store(if self.proto == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
        i.no_touch.store(self.no_touch, Ordering::Relaxed);
        i.no_evict.store(self.no_evict, Ordering::Relaxed);
        i.last_active_ms.store(i.created.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.current_cmd.store_into(&mut i.last_cmd.lock());
        i.multi.store(self.multi.as_ref().map_or(-1, |t| t.queued.len() as i64), Ordering::Relaxed);
        let counts = self.pubsub.as_ref().map_or([0; 3], |s| s.sub.counts());
        for (slot, n) in i.subscriptions.iter().zip(counts) {
            slot.store(n, Ordering::Relaxed);
        }
    }
}

/// What other connections can see of a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    pub db: AtomicU16,
    pub resp: AtomicU8,
    pub no_touch: AtomicBool,
    pub no_evict: AtomicBool,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    /// Full name (e.g. "client|list") of the last command.
    pub last_cmd: Mutex<String>,
    pub query_buf_bytes: AtomicUsize,
    /// Channel, pattern and shard-channel subscriptions (CLIENT LIST sub/psub/ssub).
    pub subscriptions: [AtomicUsize; 3],
    /// Commands queued in MULTI, or -1 outside a transaction (CLIENT LIST multi).
    pub multi: std::sync::atomic::AtomicI64,
    pub out_buf_bytes: AtomicUsize,
    /// The ACL user the connection is authenticated as (CLIENT LIST user=).
    pub user: Mutex<String>,
    pub killed: AtomicBool,
    pub abort: Mutex<Option<tokio::task::AbortHandle>>,
    /// In MONITOR mode (CLIENT LIST flag O).
    pub monitor: AtomicBool,
    /// The socket's file descriptor (CLIENT LIST fd); -1 until known.
    pub fd: std::sync::atomic::AtomicI32,
    /// Free bytes in the query buffer (CLIENT LIST qbuf-free).
    pub query_buf_free: AtomicUsize,
    /// Waiting in a blocking command (CLIENT LIST flag b).
    pub blocked: AtomicBool,
    /// CLIENT TRACKING: the redirect client id (0 none), or -1 when off
    /// (CLIENT LIST redir, flag t).
    pub tracking_redirect: std::sync::atomic::AtomicI64,
    /// Tracking in BCAST mode (flag B).
    pub tracking_bcast: AtomicBool,
    /// The redirect client went away (flag R).
    pub tracking_broken: AtomicBool,
    /// This client wrote (itself, or served while blocked) since a WAITAOF
    /// last saw all of its writes fsynced: WAITAOF then waits for the log as
    /// written when it blocks (an upper bound on the client's newest record,
    /// where Redis's `c->woff` is exact).
    pub aof_unsynced: AtomicBool,
}

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicU16::new(0),
            resp: AtomicU8::new(2),
            no_touch: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(0),
            last_cmd: Mutex::new(String::from("NULL")),
            query_buf_bytes: AtomicUsize::new(0),
            subscriptions: Default::default(),
            multi: std::sync::atomic::AtomicI64::new(-1),
            out_buf_bytes: AtomicUsize::new(0),
            user: Mutex::new(String::from("default")),
            killed: AtomicBool::new(false),
            abort: Mutex::new(None),
            monitor: AtomicBool::new(false),
            fd: std::sync::atomic::AtomicI32::new(-1),
            query_buf_free: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            tracking_redirect: std::sync::atomic::AtomicI64::new(-1),
            tracking_bcast: AtomicBool::new(false),
            tracking_broken: AtomicBool::new(false),
            aof_unsynced: AtomicBool::new(false),
        }
    }

    /// Ends the connection: its task is aborted at its next await point.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        if let Some(h) = self.abort.lock().as_ref() {
            h.abort();
        }
    }

    /// One CLIENT LIST / CLIENT INFO line, fields as Redis 7.2 names them.
    pub fn describe(&self) -> String {
        let age = self.created.elapsed();
        let idle_ms = (age.as_millis() as u64).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let name = self.name.lock().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
        let lib_name = self.lib_name.lock().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
        let lib_ver = self.lib_ver.lock().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
        let mut flags = String::new();
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            flags.push('T');
        }
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if self.subscriptions.iter().any(|n| n.load(Ordering::Relaxed) > 0) {
            flags.push('P');
        }
        if self.multi.load(Ordering::Relaxed) >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let redir = self.tracking_redirect.load(Ordering::Relaxed);
        if redir >= 0 {
            flags.push('t');
            if self.tracking_broken.load(Ordering::Relaxed) {
                flags.push('R');
            }
            if self.tracking_bcast.load(Ordering::Relaxed) {
                flags.push('B');
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let qbuf = self.query_buf_bytes.load(Ordering::Relaxed);
        let qbuf_free = self.query_buf_free.load(Ordering::Relaxed);
        let omem = self.out_buf_bytes.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd.load(Ordering::Relaxed),
            name,
            age.as_secs(),
            idle_ms / 1000,
            flags,
            self.db.load(Ordering::Relaxed),
            self.subscriptions[0].load(Ordering::Relaxed),
            self.subscriptions[1].load(Ordering::Relaxed),
            self.subscriptions[2].load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            qbuf,
            qbuf_free,
            omem,
            qbuf + qbuf_free + omem,
            self.last_cmd.lock(),
            self.user.lock(),
            redir,
            self.resp.load(Ordering::Relaxed),
            lib_name,
            lib_ver,
        )
    }
}

/// Connected clients by id (ascending: CLIENT LIST order).
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, c: Arc<ClientInfo>) {
        self.clients.lock().insert(c.id, c);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }
}

/// Removes the client from the registry when its task ends, however it ends.
pub struct Registration<'a> {
    pub registry: &'a Registry,
    pub id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}
