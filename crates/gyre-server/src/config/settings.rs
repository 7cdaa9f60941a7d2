//! The typed views of the configuration the server reads: [`Settings`], a
//! snapshot rebuilt on every change, and [`Hot`], atomics for the values read
//! on hot paths.
//!
//! Invariant: both are built only from canonical values that
//! [`Param::normalize`] admitted, so reading a number cannot fail. Limits: a
//! reader of [`Hot`] may see a CONFIG SET of several settings half applied
//! (each atomic is stored on its own; `generation` counts the rebuilds).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use super::Setting;

/// What `shutdown-snapshot` asks of a shutdown without SAVE or NOSAVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownSnapshot {
    Yes,
    No,
    /// Only when automatic compaction would take one next.
    Auto,
}

/// The settings read off the hot path (start-up, background work, admin
/// commands), typed and validated. A snapshot: [`Config::settings`] hands out
/// the one current when it is called; CONFIG SET builds a new one.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `bind`, one address per word.
    pub bind: Vec<String>,
    /// `clock-offset-ms`: added to the wall clock (fault tests).
    pub clock_offset_ms: i64,
    pub port: u16,
    pub tls_port: u16,
    pub tcp_backlog: u32,
    /// `http-port` (0 = no HTTP API).
    pub http_port: u16,
    pub http_tls: bool,
    pub dir: PathBuf,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub tls_ca_cert_file: String,
    /// `tls-auth-clients`: yes, no or optional.
    pub tls_auth_clients: String,
    pub loglevel: String,
    /// Empty: standard error.
    pub logfile: String,
    /// `log-format json`.
    pub log_json: bool,
    pub appendonly: bool,
    pub appendfsync: gyre_log::wal::FsyncPolicy,
    /// `wal-recovery truncate` (else strict).
    pub wal_recovery_truncate: bool,
    pub wal_segment_bytes: u64,
    pub wal_compact_bytes: u64,
    pub snapshot_retention: usize,
    pub shutdown_snapshot: ShutdownSnapshot,
    /// `save` as written (see `save_points`); empty = no save points.
    pub save: String,
    /// Empty: the default user has no password.
    pub requirepass: String,
    pub aclfile: Option<PathBuf>,
    pub encoding: gyre_engine::EncodingConfig,
    /// Cluster mode's settings; None when it is off.
    pub cluster: Option<ClusterSettings>,
}

/// The cluster settings (docs/CLUSTER.md). Cluster mode is on with
/// `cluster-enabled yes`, a `cluster-port` or a `join`.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// 0: the client port + 10000.
    pub port: u16,
    /// `host:cluster-port` seeds (`join`, split at spaces and commas).
    pub join: Vec<String>,
    pub replication_factor: u8,
    /// Empty: the first bind address.
    pub announce_ip: String,
    /// 0: the client port in use.
    pub announce_port: u16,
    /// Empty: links and datagrams are not authenticated.
    pub secret: String,
    pub node_timeout_ms: u64,
    pub gossip_interval_ms: u64,
    /// 0: unlimited.
    pub move_bytes_per_sec: u64,
    /// `cluster-redirect forward`: relay rather than MOVED.
    pub forward: bool,
    /// Percent of one core for reading a move's copy (100: unlimited).
    pub move_cpu_percent: u8,
    pub write_consistency: crate::replication::Consistency,
    pub write_timeout_ms: u64,
    pub read_consistency: crate::replication::Consistency,
    /// 0: no anti-entropy rounds.
    pub anti_entropy_interval_ms: u64,
    /// 0: no hints.
    pub hint_ttl_secs: u64,
    pub hint_max_bytes: u64,
    /// Replicas with hints count towards write-consistency.
    pub sloppy_quorum: bool,
}

impl ClusterSettings {
    fn from_values(v: &[String]) -> Option<ClusterSettings> {
        let join: Vec<String> = v[setting!("join").0]
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let port: u16 = number(v, setting!("cluster-port"));
        let on = v[setting!("cluster-enabled").0] == "yes" || port != 0 || !join.is_empty();
        on.then(|| ClusterSettings {
            port,
            join,
            replication_factor: number(v, setting!("replication-factor")),
            announce_ip: v[setting!("announce-ip").0].clone(),
            announce_port: number(v, setting!("announce-port")),
            secret: v[setting!("cluster-secret").0].clone(),
            node_timeout_ms: number(v, setting!("node-timeout-ms")),
            gossip_interval_ms: number(v, setting!("gossip-interval-ms")),
            move_bytes_per_sec: number(v, setting!("slot-move-bytes-per-sec")),
            forward: v[setting!("cluster-redirect").0] == "forward",
            move_cpu_percent: number(v, setting!("slot-move-cpu-percent")),
            write_consistency: crate::replication::Consistency::parse(&v[setting!("write-consistency").0])
                .unwrap_or_default(),
            write_timeout_ms: number(v, setting!("write-timeout-ms")),
            read_consistency: crate::replication::Consistency::parse(&v[setting!("read-consistency").0])
                .unwrap_or(crate::replication::Consistency::One),
            anti_entropy_interval_ms: number(v, setting!("anti-entropy-interval-ms")),
            hint_ttl_secs: number(v, setting!("hint-ttl")),
            hint_max_bytes: number(v, setting!("hint-max-bytes")),
            sloppy_quorum: v[setting!("sloppy-quorum").0] == "yes",
        })
    }
}

impl Settings {
    pub(super) fn from_values(v: &[String]) -> Settings {
        let text = |s: Setting| v[s.0].clone();
        let yes = |s: Setting| v[s.0] == "yes";
        Settings {
            bind: v[setting!("bind").0].split_whitespace().map(String::from).collect(),
            clock_offset_ms: number(v, setting!("clock-offset-ms")),
            port: number(v, setting!("port")),
            tls_port: number(v, setting!("tls-port")),
            tcp_backlog: number(v, setting!("tcp-backlog")),
            http_port: number(v, setting!("http-port")),
            http_tls: yes(setting!("http-tls")),
            dir: PathBuf::from(text(setting!("dir"))),
            tls_cert_file: text(setting!("tls-cert-file")),
            tls_key_file: text(setting!("tls-key-file")),
            tls_ca_cert_file: text(setting!("tls-ca-cert-file")),
            tls_auth_clients: text(setting!("tls-auth-clients")),
            loglevel: text(setting!("loglevel")),
            logfile: text(setting!("logfile")),
            log_json: v[setting!("log-format").0] == "json",
            appendonly: yes(setting!("appendonly")),
            appendfsync: match v[setting!("appendfsync").0].as_str() {
                "always" => gyre_log::wal::FsyncPolicy::Always,
                "no" => gyre_log::wal::FsyncPolicy::No,
                _ => gyre_log::wal::FsyncPolicy::EverySec,
            },
            wal_recovery_truncate: v[setting!("wal-recovery").0] == "truncate",
            wal_segment_bytes: number(v, setting!("wal-segment-bytes")),
            wal_compact_bytes: number(v, setting!("wal-compact-bytes")),
            snapshot_retention: number(v, setting!("snapshot-retention")),
            shutdown_snapshot: match v[setting!("shutdown-snapshot").0].as_str() {
                "yes" => ShutdownSnapshot::Yes,
                "auto" => ShutdownSnapshot::Auto,
                _ => ShutdownSnapshot::No,
            },
            save: text(setting!("save")),
            requirepass: text(setting!("requirepass")),
            aclfile: Some(text(setting!("aclfile"))).filter(|f| !f.is_empty()).map(PathBuf::from),
            encoding: encoding_config(v),
            cluster: ClusterSettings::from_values(v),
        }
    }
}

/// A numeric setting's value; [`Param::normalize`] admitted only numbers in
/// its bounds, so this cannot fail.
pub(super) fn number<T: std::str::FromStr>(v: &[String], s: Setting) -> T {
    v[s.0].parse().ok().expect("a validated number")
}

/// The collection encoding thresholds, for the keyspace.
pub(super) fn encoding_config(v: &[String]) -> gyre_engine::EncodingConfig {
    gyre_engine::EncodingConfig {
        hash_max_listpack_entries: number(v, setting!("hash-max-listpack-entries")),
        hash_max_listpack_value: number(v, setting!("hash-max-listpack-value")),
        list_max_listpack_size: number(v, setting!("list-max-listpack-size")),
        set_max_intset_entries: number(v, setting!("set-max-intset-entries")),
        set_max_listpack_entries: number(v, setting!("set-max-listpack-entries")),
        set_max_listpack_value: number(v, setting!("set-max-listpack-value")),
        zset_max_listpack_entries: number(v, setting!("zset-max-listpack-entries")),
        zset_max_listpack_value: number(v, setting!("zset-max-listpack-value")),
        stream_node_max_entries: number(v, setting!("stream-node-max-entries")),
        stream_node_max_bytes: number(v, setting!("stream-node-max-bytes")),
    }
}

/// Settings read on hot paths, mirrored from the canonical values.
#[derive(Debug, Default)]
pub struct Hot {
    pub proto_max_bulk_len: AtomicU64,
    /// `hll-sparse-max-bytes`.
    pub hll_sparse_max_bytes: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub hz: AtomicU64,
    /// `tombstone-ttl` in seconds.
    pub tombstone_ttl_secs: AtomicU64,
    /// `max-clock-drift-ms`.
    pub max_clock_drift_ms: AtomicU64,
    pub maxclients: AtomicU64,
    /// `maxmemory` in bytes; 0 = no limit.
    pub maxmemory: AtomicU64,
    /// An LFU maxmemory policy is selected: lookups maintain access frequency.
    pub lfu_enabled: AtomicBool,
    /// `maxmemory-policy`, as an index into [`gyre_engine::Policy::ALL`].
    pub maxmemory_policy: AtomicU64,
    pub maxmemory_samples: AtomicU64,
    pub eviction_tenacity: AtomicU64,
    pub lfu_log_factor: AtomicU64,
    pub lfu_decay_time: AtomicU64,
    /// `tracking-table-max-keys` (0 = no limit).
    pub tracking_table_max_keys: AtomicU64,
    /// `notify-keyspace-events` as flags (0 = off).
    pub notify_flags: AtomicU64,
    /// `busy-reply-threshold` in milliseconds.
    pub busy_reply_threshold_ms: AtomicU64,
    /// The pubsub class of `client-output-buffer-limit`.
    pub pubsub_limit: RwLock<crate::pubsub::OutputLimit>,
    /// The normal class of `client-output-buffer-limit` (all zero: none).
    pub normal_limit: RwLock<crate::pubsub::OutputLimit>,
    /// `timeout`: idle seconds before a client is closed (0 = never).
    pub timeout_secs: AtomicU64,
    /// `tcp-keepalive` in seconds (0 = off).
    pub tcp_keepalive_secs: AtomicU64,
    /// `protected-mode yes`.
    pub protected_mode: AtomicBool,
    pub acllog_max_len: AtomicU64,
    /// Bumped on every change, so connections re-read their limits cheaply.
    pub generation: AtomicU64,
    /// `slowlog-log-slower-than` in microseconds (negative = off).
    pub slowlog_log_slower_than_us: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// `latency-monitor-threshold` in milliseconds (0 = off).
    pub latency_monitor_threshold_ms: AtomicU64,
}

impl Hot {
    pub fn policy(&self) -> gyre_engine::Policy {
        gyre_engine::Policy::ALL
            [self.maxmemory_policy.load(Ordering::Relaxed) as usize % gyre_engine::Policy::ALL.len()]
    }

    /// How eviction chooses keys now.
    pub fn evict_config(&self) -> gyre_engine::EvictConfig {
        gyre_engine::EvictConfig {
            policy: self.policy(),
            samples: self.maxmemory_samples.load(Ordering::Relaxed) as usize,
            lfu: gyre_engine::LfuParams {
                log_factor: self.lfu_log_factor.load(Ordering::Relaxed) as u32,
                decay_minutes: self.lfu_decay_time.load(Ordering::Relaxed) as u32,
            },
        }
    }

    /// LFU parameters when an LFU policy is selected.
    #[inline]
    pub fn lfu(&self) -> Option<gyre_engine::LfuParams> {
        if !self.lfu_enabled.load(Ordering::Relaxed) {
            return None;
        }
        Some(gyre_engine::LfuParams {
            log_factor: self.lfu_log_factor.load(Ordering::Relaxed) as u32,
            decay_minutes: self.lfu_decay_time.load(Ordering::Relaxed) as u32,
        })
    }
}

/// The normal class of a canonical `client-output-buffer-limit` text (which
/// always lists `normal hard soft seconds` first).
pub(super) fn normal_output_limit(canonical: &str) -> crate::pubsub::OutputLimit {
    let words: Vec<&str> = canonical.split_whitespace().collect();
    match words.as_slice() {
        ["normal", hard, soft, secs, ..] => crate::pubsub::OutputLimit {
            hard: hard.parse().unwrap_or(0),
            soft: soft.parse().unwrap_or(0),
            soft_secs: secs.parse().unwrap_or(0),
        },
        _ => crate::pubsub::OutputLimit { hard: 0, soft: 0, soft_secs: 0 },
    }
}
