//! The HTTP API's backend: how `gyre-http` reaches the server.
//!
//! The HTTP crate (routes, JSON, auth headers, TLS, limits, /metrics
//! rendering) knows nothing of the server; this module implements its
//! [`gyre_http::Backend`]. Each request runs one command as a fresh RESP3
//! client through `dispatch`, the same path as RESP (gate, refusals,
//! notifications, blocked clients woken), and its reply waits for the write
//! to be durable under `appendfsync`, as a RESP reply does.
//!
//! The listener starts before recovery, so `/health` answers while a large
//! data set loads; `/ready` and the other endpoints wait for [`HttpBackend::set_ready`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use gyre_http::{AuthError, Backend, DbMetrics, MetricsSnapshot};
use gyre_resp::{Frame, OwnedArgs, Protocol};

use crate::cmd::{self, flags};
use crate::shared::Shared;

/// The server as the HTTP API sees it.
#[derive(Default)]
pub struct HttpBackend {
    shared: OnceLock<Arc<Shared>>,
}

/// Who a request runs as: an ACL user, authenticated or not (then every
/// command but the few allowed before AUTH gets -NOAUTH, as on RESP).
pub struct Session(crate::acl::ClientAuth);

impl HttpBackend {
    /// Recovery finished: requests may run.
    pub fn set_ready(&self, shared: Arc<Shared>) {
        let _ = self.shared.set(shared);
    }
}

/// Commands that need a connection of their own, or wait: refused over HTTP.
/// (WAIT and WAITAOF wait without the BLOCKING flag, as in Redis 7.2.)
fn needs_connection(spec: &cmd::CommandSpec) -> bool {
    // WAIT and WAITAOF wait on this server's own log (and, in the cluster,
    // replicas) for a connection's writes; Redis does not flag them
    // blocking, so Gyre's own flag marks them.
    spec.has_flag(flags::BLOCKING | flags::SUBSCRIPTION | flags::CONNECTION_STATE | flags::WAITS_ON_CONNECTION)
}

fn error(msg: impl Into<Bytes>) -> Frame {
    Frame::Error(msg.into())
}

impl Backend for HttpBackend {
    type Session = Session;

    fn auth_required(&self) -> bool {
        self.shared.get().is_some_and(|shared| !crate::acl::ClientAuth::connection(&shared.acl).authenticated)
    }

    /// As AUTH: the user must exist, be on and have that password; a
    /// failure is recorded in the ACL LOG (without the password).
    fn authenticate(&self, user: Option<&str>, password: &[u8]) -> Result<Session, AuthError> {
        let Some(shared) = self.shared.get() else {
            return Err(AuthError::WrongPass);
        };
        let name = user.unwrap_or("default");
        match shared.acl.get(name) {
            Some(u) if u.enabled && u.password_ok(password) => {
                let mut auth = crate::acl::ClientAuth::connection(&shared.acl);
                auth.user = Some(u);
                auth.authenticated = true;
                Ok(Session(auth))
            }
            _ => {
                let max = shared.config.hot.acllog_max_len.load(Ordering::Relaxed) as usize;
                shared.acl.log("auth", "toplevel", "AUTH".into(), name.to_string(), "http", max);
                Err(AuthError::WrongPass)
            }
        }
    }

    fn anonymous(&self) -> Session {
        match self.shared.get() {
            Some(shared) => Session(crate::acl::ClientAuth::connection(&shared.acl)),
            // Before recovery nothing runs (`execute` answers LOADING).
            None => Session(crate::acl::ClientAuth::default()),
        }
    }

    async fn execute(&self, session: &Session, args: &[Bytes]) -> Frame {
        let Some(shared) = self.shared.get() else {
            return error("LOADING Gyre is loading the dataset in memory");
        };
        let owned = OwnedArgs::from_slices(args.iter().map(|a| &a[..]));
        let argv = owned.args();
        if let Some(top) = cmd::lookup(argv.get(0)) {
            if needs_connection(top) {
                return error(format!(
                    "ERR '{}' needs a connection of its own: use RESP for it",
                    top.name.to_ascii_uppercase()
                ));
            }
        }
        // The HTTP API always relays a command for a slot served elsewhere.
        let out = crate::relay::run_one(shared, session.0.clone(), Protocol::Resp3, argv, true).await;
        crate::dispatch::reply_frame(&out)
    }

    fn ready(&self) -> bool {
        self.shared.get().is_some()
    }

    fn metrics(&self) -> MetricsSnapshot {
        let Some(shared) = self.shared.get() else {
            return MetricsSnapshot::default();
        };
        let ks = shared.ks.stats();
        let databases = (0..shared.ks.db_count())
            .filter_map(|i| {
                let db = shared.ks.db(i as u16);
                let keys = db.len() as u64;
                (keys > 0).then(|| DbMetrics { db: i as u32, keys, expiring_keys: db.volatile_len() as u64 })
            })
            .collect();
        let snapshot = shared.persistence.snapshot.lock().clone();
        let has_snapshot = shared.persistence.wal.is_some() && snapshot.last_status_ok && snapshot.last_bytes > 0;
        MetricsSnapshot {
            uptime_seconds: shared.uptime().as_secs(),
            commands: crate::stats::command_metrics(shared),
            keyspace_hits_total: ks.hits,
            keyspace_misses_total: ks.misses,
            connected_clients: shared.clients.len() as u64,
            connections_received_total: shared.stats.connections_received.load(Ordering::Relaxed),
            rejected_connections_total: shared.stats.rejected_connections.load(Ordering::Relaxed),
            used_memory_bytes: crate::memory::allocated_bytes() as u64,
            used_memory_rss_bytes: crate::memory::rss_bytes() as u64,
            maxmemory_bytes: shared.config.hot.maxmemory.load(Ordering::Relaxed),
            databases,
            evicted_keys_total: shared.evictor.evicted_keys.load(Ordering::Relaxed),
            expired_keys_total: ks.expired,
            wal_size_bytes: shared.persistence.wal.as_ref().map_or(0, |w| w.size_bytes()),
            wal_fsync_latency: shared.fsync_latency.snapshot(),
            last_snapshot_age_seconds: has_snapshot
                .then(|| shared.now_ms().saturating_sub(snapshot.last_save_unix_ms) / 1000),
            command_latency: crate::stats::command_latency(shared),
            replication: shared.cluster.get().map(|face| crate::replication::metrics(shared, face)),
        }
    }
}
