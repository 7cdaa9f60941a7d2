//! Settings: each declared once with its name, kind, default and description.
//!
//! The declaration ([`PARAMS`]) feeds the command line (`--<name>`, environment
//! variable `GYRE_<NAME>`, `--help`), CONFIG GET and CONFIG SET. Values are
//! validated by one function ([`Param::normalize`]) wherever they come from, and
//! stored in their canonical text form (memory sizes in bytes, as Redis reports
//! them). Settings read on hot paths are mirrored into atomics in [`Hot`].
//!
//! Redis's encoding parameters (`hash-max-listpack-entries`, ...) are accepted and
//! reported so that tools and client tests that read or set them work; they take
//! effect once the collection types land.

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

/// Redis's eviction policies. Until eviction exists every policy behaves as
/// noeviction under a memory limit (commands that add data get -OOM); an LFU
/// policy already makes lookups maintain access frequency (OBJECT FREQ).
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
pub static PARAMS: &[Param] = &[
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
        name: "maxclients",
        kind: Kind::Int { min: 1, max: 1_000_000 },
        default: "10000",
        mutable: true,
        help: "Maximum number of connected clients",
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
        help: "Output limits per client class: class hard-bytes soft-bytes soft-seconds (pubsub enforced)",
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
        help: "Eviction policy when memory is full (only noeviction until eviction lands)",
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
        help: "Size at which the write-ahead log starts a new segment file",
    },
    Param {
        name: "wal-compact-bytes",
        kind: Kind::Memory { min: MB, max: i64::MAX as u64 },
        default: "67108864",
        mutable: true,
        help: "Take a snapshot (and drop the log it covers) once the log exceeds this and the last snapshot's size",
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
        help: "Memory limit in bytes (0 = none); above it commands that add data get -OOM",
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

/// Settings read on hot paths, mirrored from the canonical values.
#[derive(Debug, Default)]
pub struct Hot {
    pub proto_max_bulk_len: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub hz: AtomicU64,
    pub maxclients: AtomicU64,
    /// `maxmemory` in bytes; 0 = no limit.
    pub maxmemory: AtomicU64,
    /// An LFU maxmemory policy is selected: lookups maintain access frequency.
    pub lfu_enabled: AtomicBool,
    pub lfu_log_factor: AtomicU64,
    pub lfu_decay_time: AtomicU64,
    /// `notify-keyspace-events` as flags (0 = off).
    pub notify_flags: AtomicU64,
    /// `busy-reply-threshold` in milliseconds.
    pub busy_reply_threshold_ms: AtomicU64,
    /// The pubsub class of `client-output-buffer-limit`.
    pub pubsub_limit: RwLock<crate::pubsub::OutputLimit>,
    /// Bumped on every change, so connections re-read their limits cheaply.
    pub generation: AtomicU64,
    /// `slowlog-log-slower-than` in microseconds (negative = off).
    pub slowlog_log_slower_than_us: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// `latency-monitor-threshold` in milliseconds (0 = off).
    pub latency_monitor_threshold_ms: AtomicU64,
}

impl Hot {
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

/// The running configuration.
#[derive(Debug)]
pub struct Config {
    values: RwLock<Vec<String>>,
    pub hot: Hot,
}

impl Config {
    /// Defaults overridden by `overrides` (already validated pairs of index, value).
    pub fn new(overrides: Vec<(usize, String)>) -> Config {
        let mut values: Vec<String> = PARAMS.iter().map(|p| p.default.to_string()).collect();
        for (i, v) in overrides {
            values[i] = v;
        }
        let c = Config { values: RwLock::new(values), hot: Hot::default() };
        c.refresh_hot();
        c
    }

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

    /// The collection encoding thresholds, for the keyspace.
    pub fn encoding_config(&self) -> gyre_engine::EncodingConfig {
        let n = |name: &str| self.get_u64(name) as usize;
        gyre_engine::EncodingConfig {
            hash_max_listpack_entries: n("hash-max-listpack-entries"),
            hash_max_listpack_value: n("hash-max-listpack-value"),
            list_max_listpack_size: self.get("list-max-listpack-size").and_then(|v| v.parse().ok()).expect("declared"),
            set_max_intset_entries: n("set-max-intset-entries"),
            set_max_listpack_entries: n("set-max-listpack-entries"),
            set_max_listpack_value: n("set-max-listpack-value"),
            zset_max_listpack_entries: n("zset-max-listpack-entries"),
            zset_max_listpack_value: n("zset-max-listpack-value"),
        }
    }

    fn get_u64(&self, name: &str) -> u64 {
        self.get(name).and_then(|v| v.parse().ok()).expect("declared numeric setting")
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
        drop(values);
        self.refresh_hot();
        Ok(())
    }

    fn refresh_hot(&self) {
        let h = &self.hot;
        h.proto_max_bulk_len.store(self.get_u64("proto-max-bulk-len"), Ordering::Relaxed);
        h.query_buffer_limit.store(self.get_u64("client-query-buffer-limit"), Ordering::Relaxed);
        h.hz.store(self.get_u64("hz"), Ordering::Relaxed);
        h.maxclients.store(self.get_u64("maxclients"), Ordering::Relaxed);
        h.maxmemory.store(self.get_u64("maxmemory"), Ordering::Relaxed);
        h.lfu_enabled.store(self.get("maxmemory-policy").is_some_and(|p| p.ends_with("lfu")), Ordering::Relaxed);
        h.lfu_log_factor.store(self.get_u64("lfu-log-factor"), Ordering::Relaxed);
        h.lfu_decay_time.store(self.get_u64("lfu-decay-time"), Ordering::Relaxed);
        let notify = self.get("notify-keyspace-events").and_then(|t| crate::notify::parse_flags(&t).ok()).unwrap_or(0);
        h.notify_flags.store(u64::from(notify), Ordering::Relaxed);
        h.busy_reply_threshold_ms.store(self.get_u64("busy-reply-threshold"), Ordering::Relaxed);
        if let Some(Ok((_, limit))) =
            self.get("client-output-buffer-limit").map(|t| crate::pubsub::parse_output_limits(&t))
        {
            *h.pubsub_limit.write() = limit;
        }
        let slower_than = self.get("slowlog-log-slower-than").and_then(|v| v.parse().ok()).expect("declared");
        h.slowlog_log_slower_than_us.store(slower_than, Ordering::Relaxed);
        h.slowlog_max_len.store(self.get_u64("slowlog-max-len"), Ordering::Relaxed);
        h.latency_monitor_threshold_ms.store(self.get_u64("latency-monitor-threshold"), Ordering::Relaxed);
        h.generation.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_for_their_kind() {
        for p in PARAMS {
            assert_eq!(p.normalize(p.default.as_bytes()).as_deref(), Ok(p.default), "{}", p.name);
        }
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
