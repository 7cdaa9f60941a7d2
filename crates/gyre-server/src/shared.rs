//! State shared by every connection: the keyspace, configuration, clients and
//! server-wide counters, plus the background worker (active expiry, lazy free).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gyre_engine::Keyspace;

use crate::client::Registry;
use crate::config::Config;
use crate::runtime::Runtime;

/// Server-wide counters (INFO stats). Updated once per batch, not per command.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Values handed to the background thread to free (INFO lazyfreed_objects).
    pub lazyfreed_objects: AtomicU64,
    /// Of those, not freed yet (INFO lazyfree_pending_objects).
    pub lazyfree_pending: AtomicU64,
    /// Tombstones dropped after `tombstone-ttl` (INFO tombstones_collected).
    pub tombstones_collected: AtomicU64,
    /// Versions from other nodes refused for being more than
    /// `max-clock-drift-ms` ahead (INFO clock_drift_refused).
    pub clock_drift_refused: AtomicU64,
}

impl Stats {
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.lazyfreed_objects,
            &self.tombstones_collected,
            &self.clock_drift_refused,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Something to drop on the background thread instead of on a request path.
pub type Garbage = Box<dyn Send>;

pub struct Shared {
    /// Where time and randomness come from (see `runtime`).
    pub runtime: Arc<dyn Runtime>,
    /// The runtime's monotonic clock, which times commands (kept here so
    /// that the hot path reads it without a virtual call).
    pub clock: quanta::Clock,
    /// Bytes handed to the lazy-free thread and not yet freed (see `evict`).
    pub lazy_pending_bytes: Arc<AtomicUsize>,
    /// When `save` last tried a snapshot, Unix ms (see `save_points`).
    pub save_last_try_ms: AtomicU64,
    pub ks: Keyspace,
    pub persistence: crate::persistence::Persistence,
    /// BGSAVE / BGREWRITEAOF asked for a snapshot; the background thread starts it.
    pub snapshot_requested: std::sync::atomic::AtomicBool,
    pub blocking: crate::blocking::Blocking,
    /// Held shared by every command, exclusively by EXEC (see `gate`).
    pub gate: crate::gate::Gate,
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Client-side caching (CLIENT TRACKING).
    pub tracking: crate::tracking::Tracking,
    /// CLIENT PAUSE (see `pause`).
    pub pause: crate::pause::Pause,
    /// Durations of the log's fsyncs (for /metrics).
    pub fsync_latency: Arc<gyre_http::Histogram>,
    /// Lua scripts and function libraries (see `scripting`).
    pub scripting: gyre_script::Scripting,
    pub config: Config,
    /// ACL users and the ACL LOG.
    pub acl: crate::acl::Acl,
    /// Stops the listeners on shutdown.
    pub shutdown: crate::shutdown::Shutdown,
    pub clients: Registry,
    pub stats: Stats,
    /// When the server started, on the runtime's monotonic clock (see
    /// [`Shared::uptime`]).
    started: quanta::Instant,
    /// 40 hex characters, as Redis's run_id.
    pub run_id: String,
    pub tcp_port: AtomicU64,
    /// Eviction under `maxmemory` (see `evict`).
    pub evictor: crate::evict::Evictor,
    lazy_free: mpsc::SyncSender<Garbage>,
    /// Error statistics, latency histogram, slow log, latency monitor, MONITOR clients.
    pub diag: crate::stats::Diagnostics,
    /// Cluster membership, once started (cluster mode only; see `cluster`).
    pub cluster: std::sync::OnceLock<crate::cluster::Face>,
}

/// Values queued for freeing in the background before callers free inline.
const LAZY_FREE_QUEUE_LEN: usize = 1024;

impl Shared {
    /// The version of `key`'s live entry in `db` at `now_ms` (None when it is
    /// absent or expired): what WATCH compares and notifications check.
    pub fn live_version(&self, db: gyre_engine::DbIndex, key: &[u8], now_ms: u64) -> Option<gyre_engine::Version> {
        let slot = gyre_engine::SlotId::of(key);
        self.ks.db(db).lock(slot).peek_live(slot, key, now_ms).map(|e| e.version)
    }

    /// [`Shared::start_with`] the real clock and the OS's randomness (tests).
    #[cfg(test)]
    pub fn start(config: Config) -> anyhow::Result<Arc<Shared>> {
        Shared::start_with(config, Arc::new(crate::runtime::OsRuntime::new()))
    }

    /// Builds the shared state, recovers the data (see `persistence`) and
    /// starts the background worker thread. Time and randomness come from
    /// `runtime`.
    pub fn start_with(config: Config, runtime: Arc<dyn Runtime>) -> anyhow::Result<Arc<Shared>> {
        crate::memory::mark_startup();
        let (tx, rx) = mpsc::sync_channel::<Garbage>(LAZY_FREE_QUEUE_LEN);
        let run_id = crate::runtime::hex_id(runtime.seed());
        if !gyre_engine::seed_key_hasher(runtime.seed()) {
            // Another server in this process (or main) fixed it first.
            tracing::debug!("the key hash seed was already handed in");
        }
        let ks = Keyspace::new();
        let settings = config.settings();
        ks.set_encoding_config(settings.encoding);
        let acl = crate::acl::Acl::new(&settings.requirepass, settings.aclfile.clone(), runtime.clone())
            .map_err(|why| anyhow::anyhow!("loading the aclfile: {why}"))?;
        let fsync_latency = Arc::new(gyre_http::Histogram::default());
        let observer = {
            let h = fsync_latency.clone();
            gyre_log::wal::FsyncObserver::new(move |d| h.observe(d))
        };
        let persistence = crate::persistence::Persistence::open(&config, &ks, observer)?;
        let scripting = crate::scripting::new_scripting();
        if persistence.wal.is_some() {
            crate::scripting::load_functions(&scripting, &persistence.dir)?;
        }
        let clock = runtime.clock();
        let started = clock.now();
        let shared = Arc::new(Shared {
            runtime,
            clock,
            lazy_pending_bytes: Arc::default(),
            save_last_try_ms: AtomicU64::new(0),
            ks,
            persistence,
            snapshot_requested: std::sync::atomic::AtomicBool::new(false),
            blocking: crate::blocking::Blocking::default(),
            gate: crate::gate::Gate::default(),
            pubsub: Arc::default(),
            tracking: crate::tracking::Tracking::default(),
            scripting,
            fsync_latency,
            pause: crate::pause::Pause::default(),
            config,
            acl,
            shutdown: Default::default(),
            clients: Registry::default(),
            stats: Stats::default(),
            started,
            run_id,
            tcp_port: AtomicU64::new(0),
            evictor: crate::evict::Evictor::default(),
            lazy_free: tx,
            diag: Default::default(),
            cluster: std::sync::OnceLock::new(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("gyre-bg".into())
            .spawn(move || background(weak, rx))
            .expect("spawn background thread");
        Ok(shared)
    }

    /// Frees `garbage` on the background thread; inline when the queue is full
    /// (bounded: never an unbounded backlog of memory waiting to be freed).
    pub fn free_later(&self, garbage: Garbage) {
        self.stats.lazyfree_pending.fetch_add(1, Ordering::Relaxed);
        match self.lazy_free.try_send(garbage) {
            Ok(()) => {
                self.stats.lazyfreed_objects.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::TrySendError::Full(g) | mpsc::TrySendError::Disconnected(g)) => {
                drop(g);
                self.stats.lazyfree_pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// The log has outgrown `wal-compact-bytes` and the last snapshot, and no
/// snapshot is running: time for one.
pub fn compaction_due(shared: &Shared) -> bool {
    shared.persistence.wants_compaction(shared.config.settings().wal_compact_bytes)
}

/// Starts a snapshot on its own thread when BGSAVE asked for one or the log has
/// outgrown `wal-compact-bytes` (and the last snapshot).
fn start_snapshot_if_due(shared: &Arc<Shared>) {
    let requested = shared.snapshot_requested.swap(false, Ordering::AcqRel);
    if !requested && !compaction_due(shared) && !crate::save_points::snapshot_due(shared, shared.now_ms()) {
        return;
    }
    let retention = shared.config.settings().snapshot_retention;
    let s = shared.clone();
    let spawned = std::thread::Builder::new().name("gyre-snapshot".into()).spawn(move || {
        // Failures are logged and reported by INFO persistence.
        let _ = s.persistence.snapshot_now(&s.ks, retention);
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the snapshot thread");
    }
}

impl Shared {
    /// How long the server has been up, on the runtime's monotonic clock.
    pub fn uptime(&self) -> Duration {
        self.clock.now().duration_since(self.started)
    }

    /// Wall-clock time from the server's runtime, Unix milliseconds.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.runtime.now_ms()
    }
}

/// Shards whose tombstones one background cycle looks at: all 1,024 in
/// about ten seconds at the default `hz`.
const TOMBSTONE_SHARDS_PER_CYCLE: usize = 10;

/// Drops tombstones older than `tombstone-ttl`, a few shards per cycle.
fn collect_tombstones(shared: &Shared, cursor: &mut usize) {
    let ttl_ms = shared.config.hot.tombstone_ttl_secs.load(Ordering::Relaxed).saturating_mul(1000);
    let horizon = gyre_engine::Version::at_ms(shared.now_ms().saturating_sub(ttl_ms));
    let n = shared.ks.collect_tombstones(cursor, horizon, TOMBSTONE_SHARDS_PER_CYCLE);
    shared.stats.tombstones_collected.fetch_add(n as u64, Ordering::Relaxed);
}

/// The background worker: every 1/hz seconds an active expiry cycle with a budget
/// of a quarter of the period (Redis's slow cycle uses 25%), and in between it
/// frees what connections handed over. Ends when the server state is dropped.
fn background(shared: std::sync::Weak<Shared>, garbage: mpsc::Receiver<Garbage>) {
    let mut next_cycle = Instant::now();
    let mut tombstone_cursor = 0;
    loop {
        let timeout = next_cycle.saturating_duration_since(Instant::now());
        match garbage.recv_timeout(timeout) {
            Ok(g) => {
                drop(g);
                if let Some(shared) = shared.upgrade() {
                    shared.stats.lazyfree_pending.fetch_sub(1, Ordering::Relaxed);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = shared.upgrade() else { return };
        start_snapshot_if_due(&shared);
        let hz = shared.config.hot.hz.load(Ordering::Relaxed).clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        let deadline = Instant::now() + period / 4;
        let notify = shared.config.hot.notify_flags.load(Ordering::Relaxed) as u32;
        let cycle_started = Instant::now();
        if notify & crate::notify::EXPIRED != 0 || shared.tracking.active() {
            let (_, expired) = gyre_engine::expired::collecting(|| {
                shared.ks.active_expire(shared.now_ms(), &mut || Instant::now() < deadline)
            });
            shared.tracking.invalidate_removed(&shared, &expired);
            crate::notify::expired_in_background(&shared, expired);
        } else {
            shared.ks.active_expire(shared.now_ms(), &mut || Instant::now() < deadline);
        }
        // LATENCY's expire-cycle event.
        let threshold_ms = shared.config.hot.latency_monitor_threshold_ms.load(Ordering::Relaxed);
        let cycle = cycle_started.elapsed();
        if threshold_ms > 0 && cycle >= Duration::from_millis(threshold_ms) {
            shared.diag.latency.add_sample("expire-cycle", cycle.as_millis() as u64, shared.now_ms());
        }
        crate::evict::background_step(&shared);
        // Expiry's deletes (and anything else no command committed) to the log.
        crate::commit::commit_feeds(&shared.persistence, &shared.ks);
        collect_tombstones(&shared, &mut tombstone_cursor);
        next_cycle = Instant::now() + period;
    }
}
