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
//!
//! Layout: this file holds the vocabulary (a setting's [`Kind`] and
//! [`Param`], [`find`], [`Setting`] and `setting!`) and the running
//! [`Config`]; `params` is the declaration table, `settings` the typed
//! [`Settings`] and [`Hot`] views, `file` the TOML file, CONFIG REWRITE and
//! the generated example and documentation.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

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

// Declared after `setting!` so that they can use it.
mod file;
mod params;
mod settings;

pub use file::{allowed_values, parse_file};
use params::DECLARED;
pub use params::PARAMS;
use settings::{normal_output_limit, number};
pub use settings::{Hot, Settings, ShutdownSnapshot};

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
        Config::for_test_with_log(false)
    }

    /// [`Config::for_test`], with the write-ahead log on when `logged`.
    #[cfg(test)]
    pub fn for_test_with_log(logged: bool) -> Config {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gyre-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let set = |name: &str, v: &str| (find(name).expect("declared").0, v.to_string());
        let appendonly = if logged { "yes" } else { "no" };
        Config::new(vec![set("appendonly", appendonly), set("dir", dir.to_str().expect("utf-8 temp dir"))])
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
    use super::params::MB;
    use super::*;

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
