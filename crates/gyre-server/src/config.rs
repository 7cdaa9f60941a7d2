//! Settings: each declared once with its name, kind, default and description.
//!
//! The declaration ([`PARAMS`]) feeds the command line (`--<name>`, environment
//! variable `GYRE_<NAME>`, `--help`), the TOML file (`--config`, see
//! [`parse_file`]), `gyre.example.toml` ([`example_toml`]), CONFIG GET, CONFIG
//! SET and CONFIG REWRITE ([`Config::rewrite`]). Precedence: flags >
//! environment > file > defaults. Values are validated by one function
//! ([`Param::normalize`]) wherever they come from, and stored in their
//! canonical text form (memory sizes in bytes, as Redis reports them). The
//! server reads them typed, never by a name string: settings read on hot paths
//! are mirrored into atomics in [`Hot`], the rest into a [`Settings`] snapshot,
//! both rebuilt on every change. Inside this module a setting is named with
//! `setting!("name")`, which does not compile for an undeclared name.
//!
//! Redis's encoding parameters (`hash-max-listpack-entries`, ...) are accepted and
//! reported so that tools and client tests that read or set them work; they take
//! effect once the collection types land.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

/// The kind of a setting's value, with its bounds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// Bytes, written with an optional k/kb/m/mb/g/gb suffix.
    Memory {
        min: u64,
        max: u64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// `client-output-buffer-limit`: `class hard soft seconds` groups.
    OutputLimits,
    /// `notify-keyspace-events` flags.
    KeyspaceEvents,
    /// `save`: "seconds changes" pairs (see `save_points`).
    SavePoints,
}

/// One declared setting.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    /// Changeable with CONFIG SET while running.
    pub mutable: bool,
    pub help: &'static str,
}

const MB: u64 = 1024 * 1024;

/// Redis's eviction policies (see `evict.rs` and docs/MEMORY.md); the order is
/// [`gyre_engine::Policy::ALL`]'s.
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every setting Gyre knows.
pub static PARAMS: &[Param] = DECLARED;

/// The declaration itself, a constant so that [`Setting::named`] can search it
/// while the program is compiled.
const DECLARED: &[Param] = &[
    Param {
        name: "bind",
        kind: Kind::Str,
        default: "127.0.0.1",
        mutable: false,
        help: "Address the RESP listener binds to",
    },
    Param {
        name: "port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "6379",
        mutable: false,
        help: "TCP port of the RESP listener (0 = any free port)",
    },
    Param {
        name: "http-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: false,
        help: "TCP port of the HTTP API and /metrics, on the RESP bind address (0 = off)",
    },
    Param {
        name: "http-tls",
        kind: Kind::Enum(&["yes", "no"]),
        default: "no",
        mutable: false,
        help: "Serve the HTTP API over TLS with the tls-* certificate settings",
    },
    Param { name: "dir", kind: Kind::Str, default: "./gyre-data", mutable: false, help: "Data directory" },
    Param {
        name: "databases",
        kind: Kind::Int { min: 16, max: 16 },
        default: "16",
        mutable: false,
        help: "Number of logical databases (fixed at 16)",
    },
    Param {
        name: "hz",
        kind: Kind::Int { min: 1, max: 500 },
        default: "10",
        mutable: true,
        help: "Background task frequency (active expiry cycles per second)",
    },
    Param {
        name: "tombstone-ttl",
        kind: Kind::Int { min: 1, max: i32::MAX as i64 },
        default: "86400",
        mutable: true,
        help: "Seconds a deleted key's tombstone is kept (it must outlive the cluster's hint window and anti-entropy period)",
    },
    Param {
        name: "max-clock-drift-ms",
        kind: Kind::Int { min: 1, max: i32::MAX as i64 },
        default: "500",
        mutable: true,
        help: "A version from another node more than this many milliseconds ahead of this node's clock is refused (and counted in INFO clock_drift_refused)",
    },
    Param {
        name: "maxclients",
        kind: Kind::Int { min: 1, max: 1_000_000 },
        default: "10000",
        mutable: true,
        help: "Maximum number of connected clients",
    },
    Param {
        name: "timeout",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "0",
        mutable: true,
        help: "Close a client after this many idle seconds (0 = never; subscribers and blocked clients are exempt)",
    },
    Param {
        name: "tcp-keepalive",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "300",
        mutable: true,
        help: "TCP keepalive period in seconds for client sockets (0 = off)",
    },
    Param {
        name: "tcp-backlog",
        kind: Kind::Int { min: 1, max: 65535 },
        default: "511",
        mutable: false,
        help: "Listen backlog of the client ports (the kernel caps it at net.core.somaxconn)",
    },
    Param {
        name: "protected-mode",
        kind: Kind::Enum(&["yes", "no"]),
        default: "yes",
        mutable: true,
        help: "While the default user has no password, refuse clients that are not on loopback",
    },
    Param {
        name: "requirepass",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "Password of the default user (empty = none); sets the default user's only password",
    },
    Param {
        name: "aclfile",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "File of ACL users loaded at start-up and by ACL LOAD, written by ACL SAVE (empty = none)",
    },
    Param {
        name: "acllog-max-len",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "128",
        mutable: true,
        help: "Entries kept in the ACL LOG of denied commands and failed authentications",
    },
    Param {
        name: "tls-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: false,
        help: "TCP port of the TLS listener (0 = no TLS listener); served beside `port`",
    },
    Param {
        name: "tls-cert-file",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "PEM file with the server certificate chain (required with tls-port)",
    },
    Param {
        name: "tls-key-file",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "PEM file with the server's private key (required with tls-port)",
    },
    Param {
        name: "tls-ca-cert-file",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "PEM file of the CA certificates that client certificates must chain to",
    },
    Param {
        name: "tls-auth-clients",
        kind: Kind::Enum(&["yes", "no", "optional"]),
        default: "yes",
        mutable: false,
        help: "Client certificates: yes = required, optional = verified when sent, no = not asked for",
    },
    Param {
        name: "loglevel",
        kind: Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        default: "notice",
        mutable: false,
        help: "Log verbosity (debug = trace, verbose = debug, notice = info, warning = warn); GYRE_LOG overrides",
    },
    Param {
        name: "logfile",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "File the log is appended to (empty = standard error)",
    },
    Param {
        name: "log-format",
        kind: Kind::Enum(&["text", "json"]),
        default: "text",
        mutable: false,
        help: "Log line format: text for people, json (one object per line) for log collectors",
    },
    Param {
        name: "shutdown-snapshot",
        kind: Kind::Enum(&["yes", "no", "auto"]),
        default: "auto",
        mutable: true,
        help: "Take a final snapshot on shutdown: yes, no, or auto (when the log has outgrown wal-compact-bytes and the last snapshot, so the next start loads a snapshot instead of replaying a long log); SHUTDOWN SAVE / NOSAVE override it; the log is flushed either way",
    },
    Param {
        name: "proto-max-bulk-len",
        kind: Kind::Memory { min: MB, max: i64::MAX as u64 },
        default: "536870912",
        mutable: true,
        help: "Largest bulk string a client may send, in bytes",
    },
    Param {
        name: "notify-keyspace-events",
        kind: Kind::KeyspaceEvents,
        default: "",
        mutable: true,
        help: "Keyspace notifications to publish: K E and event classes g $ l s h z x e t m d n, or A",
    },
    Param {
        name: "busy-reply-threshold",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "5000",
        mutable: true,
        help: "Milliseconds a script may run before other clients get -BUSY (and SCRIPT KILL may stop it)",
    },
    Param {
        name: "client-output-buffer-limit",
        kind: Kind::OutputLimits,
        default: "normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60",
        mutable: true,
        help: "Output limits per client class: class hard-bytes soft-bytes soft-seconds (normal and pubsub enforced)",
    },
    Param {
        name: "client-query-buffer-limit",
        kind: Kind::Memory { min: MB, max: i64::MAX as u64 },
        default: "1073741824",
        mutable: true,
        help: "Largest query buffer of one client, in bytes",
    },
    Param {
        name: "maxmemory-policy",
        kind: Kind::Enum(MAXMEMORY_POLICIES),
        default: "noeviction",
        mutable: true,
        help: "Eviction policy when memory is full: noeviction, allkeys-/volatile- lru, lfu, random, volatile-ttl",
    },
    Param {
        name: "maxmemory-samples",
        kind: Kind::Int { min: 1, max: 64 },
        default: "5",
        mutable: true,
        help: "Keys sampled per database and round when choosing a key to evict",
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        kind: Kind::Int { min: 0, max: 100 },
        default: "10",
        mutable: true,
        help: "Time one write may spend evicting: 10 = 500 us, +15% per step above, 100 = unbounded",
    },
    Param {
        name: "appendonly",
        kind: Kind::Enum(&["yes", "no"]),
        default: "yes",
        mutable: false,
        help: "Log every write to the write-ahead log in `dir` (no = a pure in-memory cache)",
    },
    Param {
        name: "appendfsync",
        kind: Kind::Enum(&["always", "everysec", "no"]),
        default: "everysec",
        mutable: false,
        help: "When the log is fsynced: always (before each reply), everysec, no (left to the OS)",
    },
    Param {
        name: "wal-segment-bytes",
        kind: Kind::Memory { min: MB, max: 4096 * MB },
        default: "67108864",
        mutable: false,
        help: "Size at which the write-ahead log starts a new segment file; each segment reserves this much disk when created (not on tmpfs) and gives back what it did not use when it is closed",
    },
    Param {
        name: "wal-compact-bytes",
        kind: Kind::Memory { min: MB, max: i64::MAX as u64 },
        default: "67108864",
        mutable: true,
        help: "Take a snapshot (and drop the log it covers) once the log exceeds this and the last snapshot's size",
    },
    Param {
        name: "hll-sparse-max-bytes",
        kind: Kind::Memory { min: 0, max: i64::MAX as u64 },
        default: "3000",
        mutable: true,
        help: "Largest sparse HyperLogLog (header included); a PFADD that would grow one past it converts it to the dense form (12304 bytes), as in Redis",
    },
    Param {
        name: "save",
        kind: Kind::SavePoints,
        default: "",
        mutable: true,
        help: "Save points as in Redis: \"3600 1 300 100\" takes a snapshot after 3600 s if 1 write happened since the last one, or after 300 s if 100 did; \"\" = none (the log keeps writes durable either way)",
    },
    Param {
        name: "snapshot-retention",
        kind: Kind::Int { min: 1, max: 100 },
        default: "2",
        mutable: true,
        help: "Snapshots kept in `dir` (the newest is used; older ones are for recovery by hand)",
    },
    Param {
        name: "wal-recovery",
        kind: Kind::Enum(&["strict", "truncate"]),
        default: "strict",
        mutable: false,
        help: "On log corruption before its tail: strict = refuse to start, truncate = keep what precedes it",
    },
    Param {
        name: "maxmemory",
        kind: Kind::Memory { min: 0, max: i64::MAX as u64 },
        default: "0",
        mutable: true,
        help: "Memory limit in bytes (0 = none); above it writes evict keys per maxmemory-policy, or get -OOM",
    },
    Param {
        name: "tracking-table-max-keys",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "1000000",
        mutable: true,
        help: "Keys the client-side caching table remembers (0 = no limit); past it the oldest are invalidated",
    },
    Param {
        name: "lfu-log-factor",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "10",
        mutable: true,
        help: "LFU counter logarithm factor",
    },
    Param {
        name: "lfu-decay-time",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "1",
        mutable: true,
        help: "LFU counter decay time in minutes",
    },
    Param {
        name: "hash-max-listpack-entries",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "512",
        mutable: true,
        help: "Hashes up to this many fields use the compact encoding",
    },
    Param {
        name: "hash-max-listpack-value",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "64",
        mutable: true,
        help: "Hashes whose values are at most this long use the compact encoding",
    },
    Param {
        name: "list-max-listpack-size",
        kind: Kind::Int { min: i32::MIN as i64, max: i32::MAX as i64 },
        default: "-2",
        mutable: true,
        help: "Size of list nodes (negative: -1..-5 = 4..64 KB)",
    },
    Param {
        name: "list-compress-depth",
        kind: Kind::Int { min: 0, max: i32::MAX as i64 },
        default: "0",
        mutable: true,
        help: "List nodes left uncompressed at each end",
    },
    Param {
        name: "set-max-intset-entries",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "512",
        mutable: true,
        help: "Integer sets up to this size use the intset encoding",
    },
    Param {
        name: "set-max-listpack-entries",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "128",
        mutable: true,
        help: "Sets up to this many members use the compact encoding",
    },
    Param {
        name: "set-max-listpack-value",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "64",
        mutable: true,
        help: "Sets whose members are at most this long use the compact encoding",
    },
    Param {
        name: "zset-max-listpack-entries",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "128",
        mutable: true,
        help: "Sorted sets up to this many members use the compact encoding",
    },
    Param {
        name: "zset-max-listpack-value",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "64",
        mutable: true,
        help: "Sorted sets whose members are at most this long use the compact encoding",
    },
    Param {
        name: "stream-node-max-bytes",
        kind: Kind::Memory { min: 0, max: i64::MAX as u64 },
        default: "4096",
        mutable: true,
        help: "Bytes of a stream node before a new one starts (0 = no limit but the format's)",
    },
    Param {
        name: "stream-node-max-entries",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "100",
        mutable: true,
        help: "Entries of a stream node before a new one starts (0 = no limit); approximate trimming removes whole nodes",
    },
    // Introspection: the slow log and the latency monitor.
    Param {
        name: "slowlog-log-slower-than",
        kind: Kind::Int { min: i64::MIN, max: i64::MAX },
        default: "10000",
        mutable: true,
        help: "Log commands that run for at least this many microseconds in the slow log (negative = off, 0 = all)",
    },
    Param {
        name: "slowlog-max-len",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "128",
        mutable: true,
        help: "Entries kept in the slow log (the oldest are dropped)",
    },
    Param {
        name: "latency-monitor-threshold",
        kind: Kind::Int { min: 0, max: i64::MAX },
        default: "0",
        mutable: true,
        help: "Record latency spikes of at least this many milliseconds for LATENCY (0 = off)",
    },
    // The cluster (docs/CLUSTER.md): all fixed at start-up.
    Param {
        name: "cluster-enabled",
        kind: Kind::Enum(&["yes", "no"]),
        default: "no",
        mutable: false,
        help: "Run as a cluster member (also implied by cluster-port or join); the cluster port defaults to port + 10000",
    },
    Param {
        name: "cluster-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: false,
        help: "TCP and UDP port for cluster traffic (Raft, SWIM) on the first bind address (0 = port + 10000 in cluster mode)",
    },
    Param {
        name: "join",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "host:cluster-port of cluster members to join through, separated by spaces or commas (only at a node's first start)",
    },
    Param {
        name: "replication-factor",
        kind: Kind::Int { min: 1, max: 16 },
        default: "3",
        mutable: false,
        help: "Copies of each slot (effectively min(this, nodes)); the first node's value is the cluster's",
    },
    Param {
        name: "announce-ip",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "Address clients and other nodes are told to reach this node at (empty = the first bind address, which must then not be a wildcard)",
    },
    Param {
        name: "announce-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: false,
        help: "Client port announced to clients in CLUSTER SLOTS and MOVED (0 = the port in use)",
    },
    Param {
        name: "cluster-secret",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "Shared secret of the cluster: HMAC on every SWIM datagram and a challenge-response on every cluster link (empty = unauthenticated)",
    },
    Param {
        name: "node-timeout-ms",
        kind: Kind::Int { min: 10, max: 3_600_000 },
        default: "15000",
        mutable: false,
        help: "Milliseconds a suspected node has to answer before SWIM declares it down; also how long a node cut off from the Raft majority keeps serving",
    },
    Param {
        name: "gossip-interval-ms",
        kind: Kind::Int { min: 10, max: 60_000 },
        default: "1000",
        mutable: false,
        help: "Milliseconds between SWIM probes (and the gossip period)",
    },
    Param {
        name: "slot-move-cpu-percent",
        kind: Kind::Int { min: 1, max: 100 },
        default: "50",
        mutable: false,
        help: "CPU budget of reading a slot move's copy, in percent of one core (100 = unlimited)",
    },
    Param {
        name: "cluster-redirect",
        kind: Kind::Enum(&["moved", "forward"]),
        default: "moved",
        mutable: false,
        help: "A command for a slot another node serves: answer MOVED (as Redis Cluster), or relay it to that node and pass its reply back (for plain clients)",
    },
    Param {
        name: "slot-move-bytes-per-sec",
        kind: Kind::Memory { min: 0, max: u64::MAX },
        default: "0",
        mutable: false,
        help: "Bandwidth budget of each slot move this node sends, in bytes per second (0 = unlimited)",
    },
];

impl Param {
    /// Validates `value` and returns its canonical form, or the reason it is
    /// invalid in Redis's CONFIG SET wording.
    pub fn normalize(&self, value: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(value).map_err(|_| "argument must be valid UTF-8".to_string())?;
        match self.kind {
            Kind::Int { min, max } => {
                let v: i64 = gyre_engine::num::parse_i64(value).ok_or("argument couldn't be parsed into an integer")?;
                if v < min || v > max {
                    return Err(format!("argument must be between {min} and {max} inclusive"));
                }
                Ok(v.to_string())
            }
            Kind::Memory { min, max } => {
                let v = parse_memory(text).ok_or("argument must be a memory value")?;
                if v < min || v > max {
                    return Err(format!("argument must be between {min} and {max} inclusive"));
                }
                Ok(v.to_string())
            }
            Kind::Enum(options) => {
                let lower = text.to_ascii_lowercase();
                options
                    .iter()
                    .find(|o| **o == lower)
                    .map(|o| o.to_string())
                    .ok_or_else(|| "argument(s) must be one of the following: ".to_string() + &options.join(", "))
            }
            Kind::Str => Ok(text.to_string()),
            Kind::OutputLimits => crate::pubsub::parse_output_limits(text).map(|(canonical, _)| canonical),
            Kind::KeyspaceEvents => crate::notify::normalize(text),
            Kind::SavePoints => crate::save_points::normalize(text),
        }
    }
}

/// Parses Redis memory notation: a non-negative integer with an optional unit
/// (b, k, kb, m, mb, g, gb; case-insensitive; k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = gyre_engine::num::parse_u64(digits.as_bytes())?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Redis's older names, still accepted by CONFIG GET/SET: (alias, name).
pub const ALIASES: &[(&str, &str)] = &[
    ("lua-time-limit", "busy-reply-threshold"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

/// A setting by its name or one of its aliases (any case).
pub fn find(name: &str) -> Option<(usize, &'static Param)> {
    let name =
        ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map_or(name, |(_, canonical)| canonical);
    PARAMS.iter().enumerate().find(|(_, p)| p.name.eq_ignore_ascii_case(name))
}

/// A declared setting: an index into [`PARAMS`], found by name while the
/// program is compiled (see `setting!`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting(usize);

impl Setting {
    /// The setting called exactly `name` (canonical, lower case). Evaluated in
    /// a constant, as `setting!` does, an undeclared name fails the build.
    pub const fn named(name: &str) -> Setting {
        let mut i = 0;
        while i < DECLARED.len() {
            if const_str_eq(DECLARED[i].name, name) {
                return Setting(i);
            }
            i += 1;
        }
        panic!("undeclared setting");
    }
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `setting!("maxmemory")`: the declared setting of that name, checked when
/// compiled.
macro_rules! setting {
    ($name:literal) => {{
        const S: Setting = Setting::named($name);
        S
    }};
}

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
        })
    }
}

impl Settings {
    fn from_values(v: &[String]) -> Settings {
        let text = |s: Setting| v[s.0].clone();
        let yes = |s: Setting| v[s.0] == "yes";
        Settings {
            bind: v[setting!("bind").0].split_whitespace().map(String::from).collect(),
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
fn number<T: std::str::FromStr>(v: &[String], s: Setting) -> T {
    v[s.0].parse().ok().expect("a validated number")
}

/// The collection encoding thresholds, for the keyspace.
fn encoding_config(v: &[String]) -> gyre_engine::EncodingConfig {
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

/// Why a configuration file was refused: the file, where, and what.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("config file '{path}' is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config file '{path}', line {line}: unknown setting '{name}'")]
    Unknown { path: String, line: usize, name: String },
    #[error("config file '{path}', line {line}: invalid value '{value}' for setting '{name}': {why}")]
    Invalid { path: String, line: usize, name: String, value: String, why: String },
    #[error("config file '{path}', line {line}: setting '{name}' given twice")]
    Duplicate { path: String, line: usize, name: String },
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: Option<std::ops::Range<usize>>) -> usize {
    at.map_or(0, |r| text[..r.start.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// A TOML value as the text a setting takes: strings as they are, integers
/// in decimal, booleans as yes/no, arrays as their items joined by spaces
/// (`bind = ["127.0.0.1", "::1"]`, `client-output-buffer-limit = [...]`).
fn toml_value_text(v: &toml_edit::Value) -> Option<String> {
    use toml_edit::Value;
    match v {
        Value::String(s) => Some(s.value().clone()),
        Value::Integer(i) => Some(i.value().to_string()),
        Value::Boolean(b) => Some(if *b.value() { "yes" } else { "no" }.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(toml_value_text).collect();
            Some(parts?.join(" "))
        }
        Value::Float(_) | Value::Datetime(_) | Value::InlineTable(_) => None,
    }
}

/// Parses a configuration file: top-level `name = value` pairs, names as
/// declared (or their aliases). Every value is validated; unknown names,
/// tables and values of the wrong shape are errors naming the line.
pub fn parse_file(path: &str, text: &str) -> Result<Vec<(usize, String)>, FileError> {
    let doc = toml_edit::Document::parse(text.to_string())
        .map_err(|e| FileError::Syntax { path: path.to_string(), message: e.to_string().trim().to_string() })?;
    let mut found: Vec<(usize, String)> = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let line = line_of(text, doc.as_table().key(key).and_then(|k| k.span()));
        let Some((i, p)) = find(key) else {
            return Err(FileError::Unknown { path: path.to_string(), line, name: key.to_string() });
        };
        let invalid = |value: String, why: String| FileError::Invalid {
            path: path.to_string(),
            line,
            name: p.name.to_string(),
            value,
            why,
        };
        let Some(value) = item.as_value() else {
            return Err(invalid(
                item.to_string().trim().to_string(),
                "settings are top-level `name = value` pairs, not tables".into(),
            ));
        };
        let Some(text_value) = toml_value_text(value) else {
            return Err(invalid(
                value.to_string().trim().to_string(),
                "expected a string, an integer, a boolean or an array of them".into(),
            ));
        };
        let canonical = p.normalize(text_value.as_bytes()).map_err(|why| invalid(text_value.clone(), why))?;
        if found.iter().any(|(j, _)| *j == i) {
            return Err(FileError::Duplicate { path: path.to_string(), line, name: p.name.to_string() });
        }
        found.push((i, canonical));
    }
    Ok(found)
}

/// What a setting accepts, in words (for `gyre.example.toml` and --help).
pub fn allowed_values(p: &Param) -> String {
    match p.kind {
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::Memory { min, max } => {
            format!("bytes from {min} to {max}, or a string with a unit (\"64mb\", \"1gb\"; k = 1000, kb = 1024)")
        }
        Kind::Enum(options) => format!("one of: {}", options.join(", ")),
        Kind::Str => "a string".to_string(),
        Kind::OutputLimits => {
            "groups of \"class hard-bytes soft-bytes soft-seconds\", class normal, replica or pubsub".into()
        }
        Kind::KeyspaceEvents => "a string of event-class letters (see notify-keyspace-events in Redis)".into(),
        Kind::SavePoints => "\"seconds changes\" pairs, seconds >= 1 and changes >= 0, or \"\" for none".into(),
    }
}

/// A setting's value as TOML: integer kinds as integers, the rest as strings.
fn toml_value_of(p: &Param, canonical: &str) -> toml_edit::Value {
    match p.kind {
        Kind::Int { .. } | Kind::Memory { .. } => match canonical.parse::<i64>() {
            Ok(n) => toml_edit::Value::from(n),
            Err(_) => toml_edit::Value::from(canonical),
        },
        _ => toml_edit::Value::from(canonical),
    }
}

/// The text of `gyre.example.toml`: every setting with its description, what
/// it accepts, whether CONFIG SET can change it, and its default. A test keeps
/// the file at the repository root equal to this.
#[cfg(test)]
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Gyre configuration: every setting, with its default.\n\
         #\n\
         # Start with `gyre-server --config gyre.toml`. Each setting can also be given\n\
         # as a flag (`--maxclients 500`) or an environment variable (`GYRE_MAXCLIENTS=500`);\n\
         # precedence: flags > environment > this file > defaults. Unknown settings and\n\
         # invalid values stop start-up with a message naming them. CONFIG REWRITE writes\n\
         # the running values back to the file the server was started with, keeping comments.\n\
         #\n\
         # This file is generated from the settings declaration (crates/gyre-server/src/config.rs);\n\
         # a test fails when they differ. Regenerate: GYRE_BLESS=1 cargo test -p gyre-server example_toml\n",
    );
    for p in PARAMS {
        out.push('\n');
        out.push_str(&format!("# {}.\n", p.help.trim_end_matches('.')));
        let changeable = if p.mutable { "can be changed at run time (CONFIG SET)" } else { "fixed at start-up" };
        out.push_str(&format!("# Accepts {}; {changeable}.\n", allowed_values(p)));
        out.push_str(&format!("{} = {}\n", p.name, toml_value_of(p, p.default).to_string().trim()));
    }
    out
}

/// The settings reference of `docs/CONFIGURATION.md` (between its
/// `settings:begin` / `settings:end` markers): one table row per setting. A
/// test keeps the document equal to this.
#[cfg(test)]
pub fn settings_markdown() -> String {
    let mut out = String::from("| setting | accepts | default | CONFIG SET | description |\n|---|---|---|---|---|\n");
    for p in PARAMS {
        let default = if p.default.is_empty() { "(empty)".to_string() } else { format!("`{}`", p.default) };
        out.push_str(&format!(
            "| `{}` | {} | {default} | {} | {} |\n",
            p.name,
            allowed_values(p).replace('|', "\\|"),
            if p.mutable { "yes" } else { "no" },
            p.help.replace('|', "\\|"),
        ));
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file beside it (with the
/// original's permissions), fsynced, renamed over it, then the directory fsynced.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("config path has no file name"))?;
    let tmp = dir.join(format!(".{}.rewrite-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
fn normal_output_limit(canonical: &str) -> crate::pubsub::OutputLimit {
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

/// The running configuration.
#[derive(Debug)]
pub struct Config {
    values: RwLock<Vec<String>>,
    pub hot: Hot,
    /// Rebuilt from `values` on every change (see [`Config::settings`]).
    settings: RwLock<std::sync::Arc<Settings>>,
    /// The file the server was started with (`--config`): CONFIG REWRITE's target.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Defaults overridden by `overrides` (already validated pairs of index, value).
    pub fn new(overrides: Vec<(usize, String)>) -> Config {
        let mut values: Vec<String> = PARAMS.iter().map(|p| p.default.to_string()).collect();
        for (i, v) in overrides {
            values[i] = v;
        }
        let settings = RwLock::new(std::sync::Arc::new(Settings::from_values(&values)));
        let c = Config { values: RwLock::new(values), hot: Hot::default(), settings, file: None };
        c.refresh_hot();
        c
    }

    /// Records the file the configuration was read from (for CONFIG REWRITE).
    pub fn with_file(mut self, file: Option<PathBuf>) -> Config {
        self.file = file;
        self
    }

    /// CONFIG REWRITE: writes the running values to the start-up file. Keys
    /// already in the file are updated in place (keeping comments and order);
    /// settings not in it are appended when they differ from their default.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or("The server is running without a config file")?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Rewriting config file: {e}")),
        };
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| format!("Rewriting config file: {}", e.to_string().trim()))?;
        let values = self.values.read().clone();
        let present: Vec<(String, usize)> =
            doc.as_table().iter().filter_map(|(k, _)| find(k).map(|(i, _)| (k.to_string(), i))).collect();
        for (key, i) in &present {
            let decor = doc[key.as_str()].as_value().map(|v| v.decor().clone());
            let mut v = toml_value_of(&PARAMS[*i], &values[*i]);
            if let Some(d) = decor {
                *v.decor_mut() = d;
            }
            doc[key.as_str()] = toml_edit::Item::Value(v);
        }
        for (i, p) in PARAMS.iter().enumerate() {
            if values[i] != p.default && !present.iter().any(|(_, j)| *j == i) {
                doc[p.name] = toml_edit::Item::Value(toml_value_of(p, &values[i]));
            }
        }
        write_atomically(path, &doc.to_string()).map_err(|e| format!("Rewriting config file: {e}"))
    }

    /// The typed settings as they are now (a later CONFIG SET makes a new
    /// snapshot; this one stays as it was).
    pub fn settings(&self) -> std::sync::Arc<Settings> {
        self.settings.read().clone()
    }

    /// The collection encoding thresholds, for the keyspace and the commands
    /// that build collections outside it.
    pub fn encoding_config(&self) -> gyre_engine::EncodingConfig {
        self.settings.read().encoding
    }

    /// A setting's canonical text by name or alias, as CONFIG GET shows it
    /// (tests; the server reads [`Config::settings`] and [`Hot`]).
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<String> {
        let (i, _) = find(name)?;
        Some(self.values.read()[i].clone())
    }

    /// A configuration for unit tests: persistence off and a data directory of
    /// its own (the directory is locked by the server, so tests must not share).
    #[cfg(test)]
    pub fn for_test() -> Config {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gyre-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let set = |name: &str, v: &str| (find(name).expect("declared").0, v.to_string());
        Config::new(vec![set("appendonly", "no"), set("dir", dir.to_str().expect("utf-8 temp dir"))])
    }

    /// All (name, value) pairs whose name or alias matches `pattern` (glob);
    /// an alias is reported under the name that matched, as Redis does.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let mut found: Vec<(&'static str, String)> = PARAMS
            .iter()
            .zip(values.iter())
            .filter(|(p, _)| gyre_engine::glob::glob_match(pattern, p.name.as_bytes(), true))
            .map(|(p, v)| (p.name, v.clone()))
            .collect();
        for (alias, canonical) in ALIASES {
            if gyre_engine::glob::glob_match(pattern, alias.as_bytes(), true) {
                let (i, _) = find(canonical).expect("aliases name declared settings");
                found.push((alias, values[i].clone()));
            }
        }
        found
    }

    /// Sets several values at once: all are validated before any is applied.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        let mut staged: Vec<(usize, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let name_text = String::from_utf8_lossy(name);
            let Some((i, p)) = find(&name_text) else {
                return Err(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name_text}'"));
            };
            if staged.iter().any(|(j, _)| *j == i) {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                    p.name
                ));
            }
            if !p.mutable {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                    p.name
                ));
            }
            let v = p
                .normalize(value)
                .map_err(|why| format!("ERR CONFIG SET failed (possibly related to argument '{}') - {why}", p.name))?;
            staged.push((i, v));
        }
        let mut values = self.values.write();
        for (i, v) in staged {
            values[i] = v;
        }
        *self.settings.write() = std::sync::Arc::new(Settings::from_values(&values));
        drop(values);
        self.refresh_hot();
        Ok(())
    }

    fn refresh_hot(&self) {
        let v = self.values.read();
        let n = |s: Setting| -> u64 { number(&v, s) };
        let h = &self.hot;
        h.proto_max_bulk_len.store(n(setting!("proto-max-bulk-len")), Ordering::Relaxed);
        h.hll_sparse_max_bytes.store(n(setting!("hll-sparse-max-bytes")), Ordering::Relaxed);
        h.query_buffer_limit.store(n(setting!("client-query-buffer-limit")), Ordering::Relaxed);
        h.hz.store(n(setting!("hz")), Ordering::Relaxed);
        h.tombstone_ttl_secs.store(n(setting!("tombstone-ttl")), Ordering::Relaxed);
        h.max_clock_drift_ms.store(n(setting!("max-clock-drift-ms")), Ordering::Relaxed);
        h.maxclients.store(n(setting!("maxclients")), Ordering::Relaxed);
        h.maxmemory.store(n(setting!("maxmemory")), Ordering::Relaxed);
        let policy = gyre_engine::Policy::parse(&v[setting!("maxmemory-policy").0]);
        let policy = policy.unwrap_or(gyre_engine::Policy::NoEviction);
        h.lfu_enabled.store(policy.is_lfu(), Ordering::Relaxed);
        let index = gyre_engine::Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0);
        h.maxmemory_policy.store(index as u64, Ordering::Relaxed);
        h.maxmemory_samples.store(n(setting!("maxmemory-samples")), Ordering::Relaxed);
        h.eviction_tenacity.store(n(setting!("maxmemory-eviction-tenacity")), Ordering::Relaxed);
        h.lfu_log_factor.store(n(setting!("lfu-log-factor")), Ordering::Relaxed);
        h.lfu_decay_time.store(n(setting!("lfu-decay-time")), Ordering::Relaxed);
        h.tracking_table_max_keys.store(n(setting!("tracking-table-max-keys")), Ordering::Relaxed);
        let notify = crate::notify::parse_flags(&v[setting!("notify-keyspace-events").0]).unwrap_or(0);
        h.notify_flags.store(u64::from(notify), Ordering::Relaxed);
        h.busy_reply_threshold_ms.store(n(setting!("busy-reply-threshold")), Ordering::Relaxed);
        let limits = &v[setting!("client-output-buffer-limit").0];
        if let Ok((_, limit)) = crate::pubsub::parse_output_limits(limits) {
            *h.pubsub_limit.write() = limit;
        }
        *h.normal_limit.write() = normal_output_limit(limits);
        let slower_than: i64 = number(&v, setting!("slowlog-log-slower-than"));
        h.slowlog_log_slower_than_us.store(slower_than, Ordering::Relaxed);
        h.slowlog_max_len.store(n(setting!("slowlog-max-len")), Ordering::Relaxed);
        h.latency_monitor_threshold_ms.store(n(setting!("latency-monitor-threshold")), Ordering::Relaxed);
        h.timeout_secs.store(n(setting!("timeout")), Ordering::Relaxed);
        h.tcp_keepalive_secs.store(n(setting!("tcp-keepalive")), Ordering::Relaxed);
        h.protected_mode.store(v[setting!("protected-mode").0] == "yes", Ordering::Relaxed);
        h.acllog_max_len.store(n(setting!("acllog-max-len")), Ordering::Relaxed);
        h.generation.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings table of docs/CONFIGURATION.md is generated from the
    /// declaration; GYRE_BLESS=1 rewrites it.
    #[test]
    fn configuration_md_lists_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md");
        let have = std::fs::read_to_string(&path).expect("docs/CONFIGURATION.md");
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let start = have.find(begin).expect("settings:begin marker") + begin.len();
        let stop = have.find(end).expect("settings:end marker");
        let want = settings_markdown();
        if std::env::var("GYRE_BLESS").is_ok() {
            let text = format!("{}{want}{}", &have[..start], &have[stop..]);
            std::fs::write(&path, text).expect("write docs/CONFIGURATION.md");
            return;
        }
        assert!(
            have[start..stop] == want,
            "docs/CONFIGURATION.md's settings table is out of date: run GYRE_BLESS=1 cargo test -p gyre-server configuration_md"
        );
    }

    /// `gyre.example.toml` is generated from the declaration and cannot drift
    /// from it; GYRE_BLESS=1 rewrites it.
    #[test]
    fn example_toml_matches_the_declaration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gyre.example.toml");
        let want = example_toml();
        if std::env::var("GYRE_BLESS").is_ok() {
            std::fs::write(&path, &want).expect("write gyre.example.toml");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "gyre.example.toml is out of date: run GYRE_BLESS=1 cargo test -p gyre-server example_toml"
        );
        let parsed = parse_file("gyre.example.toml", &have).expect("the example parses");
        assert_eq!(parsed.len(), PARAMS.len(), "the example sets every setting");
        for (i, v) in parsed {
            assert_eq!(v, PARAMS[i].default, "{}", PARAMS[i].name);
        }
    }

    #[test]
    fn file_values_of_every_shape() {
        let text = "port = 7000\nappendonly = false\nmaxmemory = \"2mb\"\nbind = [\"127.0.0.1\", \"::1\"]\n# c\nhash-max-ziplist-entries = 9\n";
        let got = parse_file("t.toml", text).unwrap();
        let by_name = |n: &str| got.iter().find(|(i, _)| PARAMS[*i].name == n).map(|(_, v)| v.as_str());
        assert_eq!(by_name("port"), Some("7000"));
        assert_eq!(by_name("appendonly"), Some("no"));
        assert_eq!(by_name("maxmemory"), Some("2097152"));
        assert_eq!(by_name("bind"), Some("127.0.0.1 ::1"));
        assert_eq!(by_name("hash-max-listpack-entries"), Some("9"));
    }

    #[test]
    fn file_errors_name_the_line_setting_and_value() {
        let e = parse_file("g.toml", "port = 1\n\nnosuch = 3\n").unwrap_err().to_string();
        assert_eq!(e, "config file 'g.toml', line 3: unknown setting 'nosuch'");
        let e = parse_file("g.toml", "hz = 9000\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "config file 'g.toml', line 1: invalid value '9000' for setting 'hz': argument must be between 1 and 500 inclusive"
        );
        let e = parse_file("g.toml", "appendfsync = \"sometimes\"").unwrap_err().to_string();
        assert!(e.contains("'appendfsync'") && e.contains("'sometimes'") && e.contains("always, everysec, no"), "{e}");
        assert!(parse_file("g.toml", "[server]\nport = 1\n")
            .unwrap_err()
            .to_string()
            .contains("unknown setting 'server'"));
        assert!(parse_file("g.toml", "hz = 1.5").unwrap_err().to_string().contains("expected a string"));
        assert!(parse_file("g.toml", "hz = ").unwrap_err().to_string().contains("not valid TOML"));
        let dup = parse_file("g.toml", "hash-max-ziplist-entries = 1\nhash-max-listpack-entries = 2").unwrap_err();
        assert!(dup.to_string().contains("given twice"), "{dup}");
    }

    #[test]
    fn rewrite_keeps_comments_and_appends_changes() {
        let dir = std::env::temp_dir().join(format!("gyre-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.toml");
        std::fs::write(&path, "# my port\nport = 7000 # trailing\nhz = 20\n").unwrap();
        let overrides = parse_file("g.toml", &std::fs::read_to_string(&path).unwrap()).unwrap();
        let c = Config::new(overrides).with_file(Some(path.clone()));
        c.set_many(&[(b"hz", b"30"), (b"maxclients", b"77")]).unwrap();
        c.rewrite().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# my port\nport = 7000 # trailing\nhz = 30\nmaxclients = 77\n");
        let again = Config::new(parse_file("g.toml", &text).unwrap());
        assert_eq!(again.get("maxclients").unwrap(), "77");
        assert!(Config::new(vec![]).rewrite().unwrap_err().contains("without a config file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_are_valid_for_their_kind() {
        for p in PARAMS {
            assert_eq!(p.normalize(p.default.as_bytes()).as_deref(), Ok(p.default), "{}", p.name);
        }
    }

    #[test]
    fn every_policy_name_is_an_engine_policy() {
        assert_eq!(MAXMEMORY_POLICIES.len(), gyre_engine::Policy::ALL.len());
        let c = Config::new(vec![]);
        for (i, name) in MAXMEMORY_POLICIES.iter().enumerate() {
            assert_eq!(gyre_engine::Policy::ALL[i].name(), *name);
            c.set_many(&[(b"maxmemory-policy", name.as_bytes())]).unwrap();
            assert_eq!(c.hot.policy().name(), *name);
        }
        c.set_many(&[(b"maxmemory", b"10mb"), (b"maxmemory-samples", b"10")]).unwrap();
        assert_eq!(c.hot.maxmemory.load(Ordering::Relaxed), 10 * MB);
        assert_eq!(c.hot.evict_config().samples, 10);
        assert!(c.set_many(&[(b"maxmemory-samples", b"0")]).is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn set_many_is_all_or_nothing() {
        let c = Config::new(vec![]);
        let err = c.set_many(&[(b"hz", b"20"), (b"maxclients", b"zero")]).unwrap_err();
        assert!(err.contains("'maxclients'"), "{err}");
        assert_eq!(c.get("hz").unwrap(), "10");
        c.set_many(&[(b"hz", b"20"), (b"proto-max-bulk-len", b"2mb")]).unwrap();
        assert_eq!(c.get("hz").unwrap(), "20");
        assert_eq!(c.hot.proto_max_bulk_len.load(Ordering::Relaxed), 2 * MB);
    }

    #[test]
    fn old_ziplist_names_are_aliases() {
        let c = Config::new(vec![]);
        c.set_many(&[(b"hash-max-ziplist-entries", b"64")]).unwrap();
        assert_eq!(c.get("hash-max-listpack-entries").unwrap(), "64");
        assert_eq!(c.matching(b"hash-max-ziplist-entries"), vec![("hash-max-ziplist-entries", "64".to_string())]);
        for (alias, canonical) in ALIASES {
            assert!(find(canonical).is_some() && find(alias).is_some(), "{alias}");
        }
    }

    #[test]
    fn bounds_and_immutables_are_enforced() {
        let c = Config::new(vec![]);
        assert!(c.set_many(&[(b"hz", b"0")]).unwrap_err().contains("between 1 and 500"));
        assert!(c.set_many(&[(b"port", b"1")]).unwrap_err().contains("immutable"));
        assert!(c.set_many(&[(b"nosuch", b"1")]).unwrap_err().starts_with("ERR Unknown option"));
        assert!(c.set_many(&[(b"hz", b"5"), (b"HZ", b"6")]).unwrap_err().contains("duplicate"));
    }
}
