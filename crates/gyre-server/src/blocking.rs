//! Clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, ...).
//!
//! A blocking command that finds nothing to serve returns `CmdError::Block`;
//! its connection registers a [`Waiter`] here, queued per key in arrival order,
//! and awaits a reply. A command that adds elements signals its keys
//! (`Call::signal_ready`); once it has finished, [`serve`] runs, in the
//! signalling connection's task, the blocked commands of the waiters queued on
//! those keys, first come first served, exactly as Redis serves them after the
//! command that pushed. A waiter whose command still finds nothing goes back to
//! the front of its queues; one that is served gets the reply bytes through a
//! oneshot channel. Served commands may themselves signal keys (BLMOVE pushes
//! to its destination): those join the work queue, bounded by
//! [`SERVE_ROUNDS_MAX`].
//!
//! Ownership of a waiter is decided under one mutex: whoever removes it from the
//! registry (the server serving it, its own timeout, its disconnect, CLIENT
//! UNBLOCK) decides its reply; the others then find it gone.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use gyre_engine::{DbIndex, MutationLog};
use gyre_resp::{encode_command, Limits, Protocol, ReplyWriter, RequestParser};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::client::{ClientInfo, ClientState};
use crate::cmd::{BlockSpec, TimeoutReply};
use crate::commit::{commit, Ticket};
use crate::dispatch;
use crate::shared::Shared;

/// Marks a ready key (in its database index) as "deleted or replaced": only
/// waiters that must hear of that are served (XREADGROUP, whose group went
/// with the key, as in Redis 7.2); the others keep waiting untouched.
pub const NOKEY_SIGNAL: DbIndex = 1 << 15;

/// Whether a waiter's command is woken by its key's deletion or retyping
/// (flagged WAKES_ON_DELETE).
fn unblocks_on_nokey(argv: &[Vec<u8>]) -> bool {
    let spec = argv.first().and_then(|name| crate::cmd::lookup(name));
    spec.is_some_and(|s| s.has_flag(crate::cmd::flags::WAKES_ON_DELETE))
}

/// Keys processed by one call of [`serve`] (each may wake several clients); a
/// bound on the chain BLMOVE a -> b -> c ... can start.
pub const SERVE_ROUNDS_MAX: usize = 10_000;

struct Waiter {
    info: Arc<ClientInfo>,
    db: DbIndex,
    proto: Protocol,
    argv: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    timeout_reply: TimeoutReply,
    tx: oneshot::Sender<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    queues: HashMap<(DbIndex, Vec<u8>), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

impl Inner {
    fn unlink(&mut self, id: u64, w: &Waiter) {
        for k in &w.keys {
            let qk = (w.db, k.clone());
            if let Some(q) = self.queues.get_mut(&qk) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.queues.remove(&qk);
                }
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        self.unlink(id, &w);
        Some(w)
    }
}

/// The registry of blocked clients.
#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
    /// Registered waiters, readable without the lock: writes skip signalling
    /// when nobody waits anywhere.
    waiting: AtomicUsize,
}

impl Blocking {
    /// True when at least one client is blocked.
    #[inline]
    pub fn anyone_blocked(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Registers a client blocked on `spec.keys`; returns its id and the channel
    /// its reply will come through.
    fn block(&self, client: &ClientState, argv: Vec<Vec<u8>>, spec: &BlockSpec) -> (u64, oneshot::Receiver<Vec<u8>>) {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        for k in &spec.keys {
            inner.queues.entry((client.db, k.clone())).or_default().push_back(id);
        }
        let waiter = Waiter {
            info: client.info.clone(),
            db: client.db,
            proto: client.proto,
            argv,
            keys: spec.keys.clone(),
            // A deadline past what Instant can represent is as good as never.
            deadline: spec.timeout.and_then(|d| Instant::now().checked_add(d)),
            timeout_reply: spec.timeout_reply,
            tx,
        };
        inner.waiters.insert(id, waiter);
        self.waiting.store(inner.waiters.len(), Ordering::Release);
        (id, rx)
    }

    /// Removes a waiter that gives up (timeout, disconnect). False when it is
    /// being served at this moment: its reply is then on its way.
    fn cancel(&self, id: u64) -> bool {
        let mut inner = self.inner.lock();
        let removed = inner.remove(id).is_some();
        self.waiting.store(inner.waiters.len(), Ordering::Release);
        removed
    }

    /// CLIENT UNBLOCK: answers the client's blocked command with its timeout
    /// reply, or with an UNBLOCKED error. False when the client is not blocked.
    pub fn unblock_client(&self, client_id: u64, error: bool) -> bool {
        let mut inner = self.inner.lock();
        let Some(id) = inner.waiters.iter().find(|(_, w)| w.info.id == client_id).map(|(id, _)| *id) else {
            return false;
        };
        let w = inner.remove(id).expect("found above");
        self.waiting.store(inner.waiters.len(), Ordering::Release);
        drop(inner);
        let reply = if error {
            let mut out = BytesMut::new();
            ReplyWriter::new(&mut out, w.proto).error(b"UNBLOCKED client unblocked via CLIENT UNBLOCK");
            out.to_vec()
        } else {
            timeout_bytes(w.timeout_reply, w.proto)
        };
        let _ = w.tx.send(reply);
        true
    }

    /// The keys, in `db` (all databases when None), that clients woken by a
    /// key's deletion wait on (FLUSHDB, FLUSHALL and SWAPDB signal them).
    pub fn nokey_waited(&self, db: Option<DbIndex>) -> Vec<(DbIndex, Vec<u8>)> {
        let inner = self.inner.lock();
        let mut keys: Vec<(DbIndex, Vec<u8>)> = inner
            .waiters
            .values()
            .filter(|w| unblocks_on_nokey(&w.argv) && db.is_none_or(|d| d == w.db))
            .flat_map(|w| w.keys.iter().map(|k| (w.db, k.clone())))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Whether a client woken by a key's deletion waits on (db, key).
    pub fn nokey_waits_on(&self, db: DbIndex, key: &[u8]) -> bool {
        let inner = self.inner.lock();
        inner
            .queues
            .get(&(db, key.to_vec()))
            .is_some_and(|q| q.iter().any(|id| inner.waiters.get(id).is_some_and(|w| unblocks_on_nokey(&w.argv))))
    }

    /// Number of blocked clients (INFO clients: blocked_clients).
    pub fn blocked_count(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    /// Takes the first waiter queued on (db, key) out of the registry (for a
    /// [`NOKEY_SIGNAL`], the first whose command wakes on deletion).
    fn claim_first(&self, db: DbIndex, key: &[u8], nokey: bool) -> Option<(u64, Waiter)> {
        let mut inner = self.inner.lock();
        let queue = inner.queues.get(&(db, key.to_vec()))?;
        let id = if nokey {
            *queue.iter().find(|id| inner.waiters.get(id).is_some_and(|w| unblocks_on_nokey(&w.argv)))?
        } else {
            *queue.front()?
        };
        let w = inner.remove(id).expect("queued waiters are registered");
        self.waiting.store(inner.waiters.len(), Ordering::Release);
        Some((id, w))
    }

    /// Returns a waiter whose command still found nothing to the front of its
    /// queues, keeping its place.
    fn put_back(&self, id: u64, w: Waiter) {
        let mut inner = self.inner.lock();
        for k in &w.keys {
            inner.queues.entry((w.db, k.clone())).or_default().push_front(id);
        }
        inner.waiters.insert(id, w);
        self.waiting.store(inner.waiters.len(), Ordering::Release);
    }
}

/// The reply of a blocked command whose time ran out.
pub fn timeout_bytes(reply: TimeoutReply, proto: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut w = ReplyWriter::new(&mut out, proto);
    match reply {
        TimeoutReply::NullArray => w.null_array(),
        TimeoutReply::Integer(n) => w.integer(n),
        // Without the log's state at hand (CLIENT UNBLOCK, a stale waiter):
        // nothing confirmed.
        TimeoutReply::WaitAof { .. } => aof_pair(&mut w, 0, 0),
        TimeoutReply::WaitReplicas { .. } => w.integer(0),
    }
    out.to_vec()
}

/// WAITAOF's reply: the local fsync count, and the replicas'.
fn aof_pair(w: &mut ReplyWriter<'_>, local: i64, replicas: i64) {
    w.array(2);
    w.integer(local);
    w.integer(replicas);
}

/// How often a client blocked in WAITAOF looks at the log's fsync progress.
const AOF_POLL_MS: u64 = 10;

/// WAITAOF's local count: 1 once the log is fsynced through `target`.
fn aof_local(shared: &Shared, target: Option<gyre_log::wal::Lsn>) -> i64 {
    match (&shared.persistence.wal, target) {
        (Some(wal), Some(t)) => i64::from(wal.synced_lsn() >= t),
        _ => 0,
    }
}

/// A reply for a client that was served while blocked, held until the log
/// records of the commands that served it are durable.
pub struct Delivery {
    tx: oneshot::Sender<Vec<u8>>,
    reply: Vec<u8>,
}

impl Delivery {
    pub fn send(self) {
        // The waiter may have gone (disconnect): nothing to do then.
        let _ = self.tx.send(self.reply);
    }
}

/// What serving blocked clients produced: replies to deliver once the
/// ticket of their writes resolved.
#[derive(Default)]
pub struct Served {
    pub deliveries: Vec<Delivery>,
    pub ticket: Ticket,
}

/// Serves clients blocked on the `ready` keys by running their commands now,
/// in the order they blocked.
pub async fn serve(shared: &Shared, ready: Vec<(DbIndex, Vec<u8>)>, now_ms: u64) -> Served {
    let mut served = Served::default();
    let mut work: VecDeque<(DbIndex, Vec<u8>)> = ready.into();
    let mut rounds = 0;
    while let Some((db, key)) = work.pop_front() {
        let (db, nokey) = (db & !NOKEY_SIGNAL, db & NOKEY_SIGNAL != 0);
        rounds += 1;
        if rounds > SERVE_ROUNDS_MAX {
            tracing::warn!(rounds, "stopped serving blocked clients: too many chained wake-ups in one command");
            return served;
        }
        while let Some((id, w)) = shared.blocking.claim_first(db, &key, nokey) {
            if w.deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = w.tx.send(timeout_bytes(w.timeout_reply, w.proto));
                continue;
            }
            if !holds_awaited_type(shared, &w, db, &key, now_ms) {
                shared.blocking.put_back(id, w);
                break;
            }
            match run_for(shared, &w, now_ms).await {
                Outcome::Reply { reply, ready, ticket } => {
                    served.ticket = served.ticket.and(ticket);
                    served.deliveries.push(Delivery { tx: w.tx, reply });
                    work.extend(ready);
                }
                Outcome::StillBlocked => {
                    shared.blocking.put_back(id, w);
                    break;
                }
            }
        }
    }
    served
}

/// Whether `key` now holds the type of value the waiter's command waits for
/// (a list for BLPOP and its family, a sorted set for BZPOPMIN and BZMPOP).
/// Redis serves a blocked client only then: a transaction that runs ZADD, DEL
/// and SET on the key leaves the waiter blocked rather than answering it
/// WRONGTYPE. Commands of other groups decide for themselves.
fn holds_awaited_type(shared: &Shared, w: &Waiter, db: DbIndex, key: &[u8], now_ms: u64) -> bool {
    let awaited = match crate::cmd::lookup(&w.argv[0]).map(|c| c.group) {
        Some(crate::cmd::Group::List) => "list",
        Some(crate::cmd::Group::SortedSet) => "zset",
        _ => return true,
    };
    let slot = gyre_engine::SlotId::of(key);
    let shard = shared.ks.db(db).lock(slot);
    shard.peek_live(slot, key, now_ms).is_some_and(|e| e.value.type_name() == awaited)
}

enum Outcome {
    Reply { reply: Vec<u8>, ready: Vec<(DbIndex, Vec<u8>)>, ticket: Ticket },
    StillBlocked,
}

/// Runs a waiter's command as that client (its database and protocol).
async fn run_for(shared: &Shared, w: &Waiter, now_ms: u64) -> Outcome {
    let mut request = BytesMut::new();
    encode_command(&w.argv, &mut request);
    let mut parser = RequestParser::new(Limits { bulk_bytes_max: usize::MAX, ..Limits::default() });
    match parser.parse(&request) {
        Ok(Some(_)) => {}
        _ => unreachable!("a command we encoded ourselves parses"),
    }
    let mut client = ClientState::new(w.info.clone());
    client.db = w.db;
    client.proto = w.proto;
    let mut out = BytesMut::new();
    let mut log = MutationLog::new();
    let blocked = dispatch::execute_async(parser.args(&request), shared, &mut client, &mut out, &mut log, now_ms).await;
    match blocked {
        Some(_) => Outcome::StillBlocked,
        None => Outcome::Reply {
            reply: out.to_vec(),
            ready: std::mem::take(&mut client.ready_keys),
            ticket: commit(&shared.persistence, &shared.ks, &mut log),
        },
    }
}

/// Waits, in the blocked client's own task, for its reply: served by another
/// client's write, its timeout, CLIENT UNBLOCK, or its own disconnect (None).
pub async fn wait(
    shared: &Shared,
    client: &ClientState,
    argv: Vec<Vec<u8>>,
    spec: BlockSpec,
    stream: &tokio::net::TcpStream,
) -> Option<Vec<u8>> {
    // CLIENT LIST shows a blocked client as `flags=b cmd=<its command>` while
    // it waits (the batch's usual publish comes only after the wait).
    client.publish();
    client.info.blocked.store(true, Ordering::Relaxed);
    let (id, mut rx) = shared.blocking.block(client, argv, &spec);
    // Dropped with the task (CLIENT KILL, shutdown): the waiter must not stay
    // registered, or a later push would be served to nobody and lost.
    let _guard = CancelOnDrop { blocking: &shared.blocking, id, info: &client.info };
    let sleep = async {
        match spec.timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    // WAITAOF: every record of this client was written before it blocked (its
    // batch was flushed), so the log as written now bounds its newest record.
    // In a cluster, its replicas' fsyncs are counted through the feed's
    // position now.
    let (aof_target, aof_wanted) = match spec.timeout_reply {
        TimeoutReply::WaitAof { local, replicas } => {
            (shared.persistence.wal.as_ref().map(|w| w.written_lsn()), Some((local, replicas)))
        }
        _ => (None, None),
    };
    let aof_position = shared.persistence.taps.position();
    let aof_replicas = || shared.cluster.get().map_or(0, |face| face.replication.holding_synced(aof_position) as i64);
    let aof_reply = || {
        let mut out = BytesMut::new();
        aof_pair(&mut ReplyWriter::new(&mut out, client.proto), aof_local(shared, aof_target), aof_replicas());
        out.to_vec()
    };
    // WAIT in a cluster: the same, with the replication feed's position.
    let replicas = match spec.timeout_reply {
        TimeoutReply::WaitReplicas { wanted } => shared.cluster.get().map(|face| {
            let target = shared.persistence.taps.position();
            (face, target, wanted)
        }),
        _ => None,
    };
    let count_reply = |n: usize| {
        let mut out = BytesMut::new();
        ReplyWriter::new(&mut out, client.proto).integer(n as i64);
        out.to_vec()
    };
    let holding = || replicas.map_or(0, |(face, target, _)| face.replication.holding(None, target));
    let mut aof_poll = tokio::time::interval(std::time::Duration::from_millis(AOF_POLL_MS));
    let mut watch_disconnect = true;
    let mut peek = [0u8; 1];
    let reply = loop {
        tokio::select! {
            r = &mut rx => break r.ok(),
            _ = &mut sleep => {
                if shared.blocking.cancel(id) {
                    if aof_wanted.is_some() {
                        break Some(aof_reply());
                    }
                    if replicas.is_some() {
                        break Some(count_reply(holding()));
                    }
                    break Some(timeout_bytes(spec.timeout_reply, client.proto));
                }
                break rx.await.ok();
            }
            _ = aof_poll.tick(), if aof_wanted.is_some() || replicas.is_some() => {
                if let Some((local, wanted)) = aof_wanted {
                    if aof_local(shared, aof_target) >= local && aof_replicas() >= wanted && shared.blocking.cancel(id) {
                        break Some(aof_reply());
                    }
                }
                if let Some((_, _, wanted)) = replicas {
                    let n = holding();
                    if n as i64 >= wanted && shared.blocking.cancel(id) {
                        break Some(count_reply(n));
                    }
                }
            }
            r = stream.peek(&mut peek), if watch_disconnect => match r {
                Ok(0) | Err(_) => {
                    if shared.blocking.cancel(id) {
                        break None;
                    }
                    let _ = rx.await;
                    break None;
                }
                // More commands behind the blocking one: they wait their turn,
                // as in Redis; stop watching (the data stays readable).
                Ok(_) => watch_disconnect = false,
            },
        }
    };
    reply
}

/// Unregisters the waiter however `wait` ends; a no-op when it was already
/// removed (served, timed out, unblocked).
struct CancelOnDrop<'a> {
    blocking: &'a Blocking,
    id: u64,
    info: &'a ClientInfo,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.blocking.cancel(self.id);
        self.info.blocked.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which commands a key's deletion wakes comes from the table
    /// (WAKES_ON_DELETE), looked up by the waiter's command name.
    #[test]
    fn only_flagged_commands_wake_on_delete() {
        let mut flagged: Vec<&str> = crate::cmd::table::all()
            .filter(|c| c.has_flag(crate::cmd::flags::WAKES_ON_DELETE))
            .map(|c| c.name)
            .collect();
        flagged.sort_unstable();
        assert_eq!(flagged, ["xreadgroup"]);
        let argv = |names: &[&str]| names.iter().map(|n| n.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(unblocks_on_nokey(&argv(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"])));
        assert!(!unblocks_on_nokey(&argv(&["xread", "STREAMS", "k", "$"])));
        assert!(!unblocks_on_nokey(&argv(&["blpop", "k", "0"])));
        assert!(!unblocks_on_nokey(&argv(&["nosuchcommand"])));
        assert!(!unblocks_on_nokey(&[]));
    }
}
