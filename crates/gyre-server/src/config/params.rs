//! The declaration of every setting: its name, kind (with bounds), default,
//! whether CONFIG SET may change it, and the description shown by `--help`,
//! `gyre.example.toml` and docs/CONFIGURATION.md.
//!
//! Invariants: each name is declared once, in lower case, as CONFIG GET
//! reports it; each default is valid for its kind (a test normalizes every
//! default and expects it back unchanged). The order is the index a
//! [`Setting`] holds and the order of the generated example and documentation,
//! so adding a setting changes those files (regenerate them with
//! `GYRE_BLESS=1`).

use super::{Kind, Param};

pub(super) const MB: u64 = 1024 * 1024;

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
pub(super) const DECLARED: &[Param] = &[
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
        name: "clock-offset-ms",
        kind: Kind::Int { min: -86_400_000, max: 86_400_000 },
        default: "0",
        mutable: false,
        help: "Shifts this node's wall clock by this many milliseconds (ahead if positive): a skewed clock for fault tests; leave it at 0",
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
        default: "2000",
        mutable: false,
        help: "Milliseconds a suspected node has to answer before SWIM declares it down; also how long a node cut off from the Raft majority keeps serving",
    },
    Param {
        name: "gossip-interval-ms",
        kind: Kind::Int { min: 10, max: 60_000 },
        default: "200",
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
        name: "write-consistency",
        kind: Kind::Enum(&["one", "quorum", "all"]),
        default: "quorum",
        mutable: false,
        help: "How many of a slot's replicas, the primary included, must hold a write durably before it is acknowledged: one, quorum (a majority) or all",
    },
    Param {
        name: "write-timeout-ms",
        kind: Kind::Int { min: 1, max: 3_600_000 },
        default: "5000",
        mutable: false,
        help: "Milliseconds a write waits for its replicas (write-consistency) before it answers -NOREPLICAS (the write may still apply)",
    },
    Param {
        name: "read-consistency",
        kind: Kind::Enum(&["one", "quorum", "all"]),
        default: "one",
        mutable: false,
        help: "How many of a slot's replicas, the primary included, must hold what a read returns before it answers: one (the primary, under its lease), quorum or all (the read waits for them, up to write-timeout-ms)",
    },
    Param {
        name: "hint-ttl",
        kind: Kind::Int { min: 0, max: 86_400 },
        default: "3600",
        mutable: false,
        help: "Seconds a primary keeps the changes a replica missed while its feed was broken, to resume the feed without a copy (hinted handoff; 0 = never: a returning replica always gets a fresh copy)",
    },
    Param {
        name: "hint-max-bytes",
        kind: Kind::Memory { min: MB, max: 1 << 40 },
        default: "67108864",
        mutable: false,
        help: "Bytes of changes a primary keeps for each replica whose feed broke (and a feed gathers ahead of its replica); past it the replica gets a fresh copy",
    },
    Param {
        name: "sloppy-quorum",
        kind: Kind::Enum(&["yes", "no"]),
        default: "no",
        mutable: false,
        help: "Count a replica whose feed broke, and whose missed changes this primary keeps as hints, towards write-consistency (yes: writes stay available with replicas down, but until the hints replay such a write is held by fewer nodes than its level says)",
    },
    Param {
        name: "anti-entropy-interval-ms",
        kind: Kind::Int { min: 0, max: 3_600_000 },
        default: "10000",
        mutable: false,
        help: "How often a primary compares each replica's slot digests with its own (0 = never); the keys of a slot that differs are found through its digest buckets and repaired through the replica's feed",
    },
    Param {
        name: "slot-move-bytes-per-sec",
        kind: Kind::Memory { min: 0, max: u64::MAX },
        default: "0",
        mutable: false,
        help: "Bandwidth budget of each slot move this node sends, in bytes per second (0 = unlimited)",
    },
];

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::super::Config;
    use super::*;

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
}
