//! [`MetricsSnapshot`] (what the server reports) and its rendering in the
//! Prometheus text exposition format 0.0.4, plus the HTTP layer's own
//! counters ([`HttpStats`]).
//!
//! Every metric is `gyre_`-prefixed and has `# HELP` and `# TYPE` lines;
//! counters end in `_total`, durations are in seconds and sizes in bytes, as
//! Prometheus's naming rules ask. Label values are escaped (`\\`, `\"`,
//! `\n`). The list of metrics is in `docs/HTTP.md`.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::histogram::{Histogram, HistogramSnapshot};

/// `Content-Type` of `/metrics`.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's numbers at one moment, as `/metrics` shows them. Fields the
/// server does not track stay at their default (zero, empty, `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// Per command (`get`, `config|get`, ...): calls, time, failures, as
    /// `INFO commandstats`. Rendered in the given order.
    pub commands: Vec<CommandMetrics>,
    /// Lookups of existing keys (`keyspace_hits`).
    pub keyspace_hits_total: u64,
    /// Lookups of missing keys (`keyspace_misses`).
    pub keyspace_misses_total: u64,
    /// RESP clients connected now.
    pub connected_clients: u64,
    /// RESP connections accepted since start.
    pub connections_received_total: u64,
    /// RESP connections refused (`maxclients`) since start.
    pub rejected_connections_total: u64,
    /// Bytes allocated by the server (`used_memory`).
    pub used_memory_bytes: u64,
    /// Resident set size of the process (`used_memory_rss`).
    pub used_memory_rss_bytes: u64,
    /// `maxmemory`; 0 when unlimited.
    pub maxmemory_bytes: u64,
    /// Per non-empty database: keys and keys with an expiry.
    pub databases: Vec<DbMetrics>,
    /// Keys evicted under `maxmemory` since start.
    pub evicted_keys_total: u64,
    /// Keys removed because they expired since start.
    pub expired_keys_total: u64,
    /// Bytes in the write-ahead log's segment files now.
    pub wal_size_bytes: u64,
    /// Duration of each WAL fsync.
    pub wal_fsync_latency: HistogramSnapshot,
    /// Seconds since the last successful snapshot; `None` while there has
    /// been none (the series is then absent).
    pub last_snapshot_age_seconds: Option<u64>,
    /// Duration of each command on the RESP path, from parsed request to reply
    /// ready (what `INFO latencystats` samples).
    pub command_latency: HistogramSnapshot,
    /// In a cluster: replication (what `INFO replication` shows); absent on
    /// a standalone server.
    pub replication: Option<ReplicationMetrics>,
}

/// Replication's state on a cluster node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicationMetrics {
    /// The replication feed's position (pieces committed while replicas
    /// were fed).
    pub feed_position: u64,
    /// The replicas this node feeds as a primary.
    pub replicas: Vec<ReplicaMetrics>,
    /// Writes answered -NOREPLICAS.
    pub noreplicas_total: u64,
    /// Feed records applied here as a replica.
    pub feed_records_applied_total: u64,
    /// Catch-ups from a replica's copy this node made as a new primary.
    pub catch_ups_total: u64,
    /// Copies this node sent to a new primary catching up.
    pub copies_served_total: u64,
    /// Keys and tombstones forgotten as a replica (anti-entropy).
    pub keys_forgotten_total: u64,
    /// Anti-entropy rounds run as a primary, and the replica slots they
    /// found differing.
    pub anti_entropy_rounds_total: u64,
    pub anti_entropy_slots_differing_total: u64,
    pub anti_entropy_keys_repaired_total: u64,
    /// Broken feeds kept to resume (hints), and feeds resumed from them.
    pub feeds_parked: u64,
    pub hint_bytes: u64,
    pub feed_resumes_total: u64,
    pub feed_log_resumes_total: u64,
    /// Slots this node leads and has not caught up on (they answer TRYAGAIN).
    pub slots_catching_up: u64,
}

/// One replica a primary feeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaMetrics {
    /// The replica's node tag.
    pub node: String,
    /// Whether its copy is complete (its acknowledgements count).
    pub online: bool,
    /// Feed positions it has not acknowledged yet.
    pub lag_records: u64,
    /// Milliseconds since its last acknowledgement.
    pub lag_ms: u64,
}

/// Counters of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMetrics {
    /// Lower-case name; subcommands as `container|sub` (`config|get`).
    pub name: Cow<'static, str>,
    /// Calls (`calls` in `INFO commandstats`).
    pub calls_total: u64,
    /// Time spent executing, in microseconds (`usec`).
    pub duration_usec_total: u64,
    /// Calls that returned an error (`failed_calls`).
    pub failed_total: u64,
    /// Calls refused before running: ACL, arity, OOM (`rejected_calls`).
    pub rejected_total: u64,
}

/// Key counts of one database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbMetrics {
    /// Database index.
    pub db: u32,
    /// Keys in it.
    pub keys: u64,
    /// Keys in it with an expiry.
    pub expiring_keys: u64,
}

/// The HTTP layer's own counters, kept by this crate.
#[derive(Debug)]
pub(crate) struct HttpStats {
    /// Requests answered, by status code (index = code, 100..=599).
    by_status: Box<[AtomicU64]>,
    pub(crate) latency: Histogram,
    pub(crate) open_connections: AtomicU64,
    pub(crate) rejected_connections: AtomicU64,
}

/// Status codes are 100..=599; one slot each.
const STATUS_SLOTS: usize = 600;

impl HttpStats {
    pub(crate) fn new() -> Self {
        HttpStats {
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
            open_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
        }
    }

    pub(crate) fn count_response(&self, status: u16) {
        if let Some(slot) = self.by_status.get(usize::from(status)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Renders `snapshot` and the HTTP layer's `http` counters.
pub(crate) fn render_metrics(snapshot: &MetricsSnapshot, http: &HttpStats) -> String {
    let mut out = String::with_capacity(8 * 1024 + snapshot.commands.len() * 512);
    let w = &mut out;
    let s = snapshot;
    gauge(w, "gyre_uptime_seconds", "Seconds since the server started.", s.uptime_seconds);
    render_commands(w, &s.commands);
    counter(w, "gyre_keyspace_hits_total", "Lookups that found their key.", s.keyspace_hits_total);
    counter(w, "gyre_keyspace_misses_total", "Lookups that did not find their key.", s.keyspace_misses_total);
    gauge(w, "gyre_connected_clients", "RESP clients connected now.", s.connected_clients);
    counter(w, "gyre_connections_received_total", "RESP connections accepted.", s.connections_received_total);
    counter(
        w,
        "gyre_rejected_connections_total",
        "RESP connections refused (maxclients).",
        s.rejected_connections_total,
    );
    gauge(w, "gyre_memory_used_bytes", "Bytes allocated by the server.", s.used_memory_bytes);
    gauge(w, "gyre_memory_rss_bytes", "Resident set size of the server process.", s.used_memory_rss_bytes);
    gauge(w, "gyre_memory_max_bytes", "The maxmemory setting; 0 when unlimited.", s.maxmemory_bytes);
    render_databases(w, &s.databases);
    counter(w, "gyre_evicted_keys_total", "Keys evicted under maxmemory.", s.evicted_keys_total);
    counter(w, "gyre_expired_keys_total", "Keys removed because they expired.", s.expired_keys_total);
    gauge(w, "gyre_wal_size_bytes", "Bytes in the write-ahead log's segment files.", s.wal_size_bytes);
    histogram(w, "gyre_wal_fsync_duration_seconds", "Duration of write-ahead log fsyncs.", &s.wal_fsync_latency);
    if let Some(age) = s.last_snapshot_age_seconds {
        gauge(w, "gyre_snapshot_age_seconds", "Seconds since the last successful snapshot.", age);
    }
    histogram(w, "gyre_command_duration_seconds", "Duration of commands on the RESP path.", &s.command_latency);
    if let Some(r) = &s.replication {
        render_replication(w, r);
    }
    render_http(w, http);
    out
}

fn render_replication(w: &mut String, r: &ReplicationMetrics) {
    gauge(w, "gyre_replication_feed_position", "The replication feed's position.", r.feed_position);
    let families: [Family<'_, ReplicaMetrics>; 3] = [
        ("gyre_replica_online", "Whether a replica's copy is complete (1) or being sent (0).", |m| {
            u8::from(m.online).to_string()
        }),
        ("gyre_replica_lag_records", "Feed positions a replica has not acknowledged.", |m| m.lag_records.to_string()),
        ("gyre_replica_lag_seconds", "Seconds since a replica's last acknowledgement.", |m| {
            seconds(m.lag_ms.saturating_mul(1_000_000))
        }),
    ];
    labeled_families(w, "gauge", "replica", &r.replicas, |m| &m.node, &families);
    counter(w, "gyre_replication_noreplicas_total", "Writes answered -NOREPLICAS.", r.noreplicas_total);
    counter(
        w,
        "gyre_replication_feed_records_applied_total",
        "Feed records applied as a replica.",
        r.feed_records_applied_total,
    );
    counter(w, "gyre_replication_catch_ups_total", "Replica copies merged as a new primary.", r.catch_ups_total);
    counter(w, "gyre_replication_copies_served_total", "Copies sent to a new primary.", r.copies_served_total);
    counter(
        w,
        "gyre_replication_keys_forgotten_total",
        "Keys and tombstones a replica forgot because its primary's copy showed it does not have them.",
        r.keys_forgotten_total,
    );
    counter(
        w,
        "gyre_anti_entropy_rounds_total",
        "Anti-entropy rounds (a replica's slot digests compared with the primary's).",
        r.anti_entropy_rounds_total,
    );
    counter(
        w,
        "gyre_anti_entropy_slots_differing_total",
        "Replica slots anti-entropy found differing (narrowed to the keys that differ).",
        r.anti_entropy_slots_differing_total,
    );
    counter(
        w,
        "gyre_anti_entropy_keys_repaired_total",
        "Keys and tombstones anti-entropy found differing on a replica and repaired through its feed.",
        r.anti_entropy_keys_repaired_total,
    );
    gauge(
        w,
        "gyre_replication_feeds_parked",
        "Feeds to unreachable replicas kept, with the changes they missed, to resume without a copy (hints).",
        r.feeds_parked,
    );
    gauge(
        w,
        "gyre_replication_hint_bytes",
        "Bytes of changes those parked feeds keep for their replicas (hints pending).",
        r.hint_bytes,
    );
    counter(
        w,
        "gyre_replication_feed_resumes_total",
        "Feeds resumed from what was kept for a returning replica, without a copy.",
        r.feed_resumes_total,
    );
    counter(
        w,
        "gyre_replication_feed_log_resumes_total",
        "Of those, feeds resumed by reading what the replica missed back from this node's log (durable hints).",
        r.feed_log_resumes_total,
    );
    gauge(w, "gyre_slots_catching_up", "Slots led here and not caught up on yet.", r.slots_catching_up);
}

fn render_commands(w: &mut String, commands: &[CommandMetrics]) {
    let families: [Family<'_, CommandMetrics>; 4] = [
        ("gyre_commands_total", "Commands run, by command.", |c| c.calls_total.to_string()),
        ("gyre_commands_duration_seconds_total", "Time spent running commands, by command.", |c| {
            seconds(c.duration_usec_total.saturating_mul(1000))
        }),
        ("gyre_commands_failed_total", "Commands that returned an error, by command.", |c| c.failed_total.to_string()),
        ("gyre_commands_rejected_total", "Commands refused before running (ACL, arity, OOM), by command.", |c| {
            c.rejected_total.to_string()
        }),
    ];
    labeled_families(w, "counter", "cmd", commands, |c| &c.name, &families);
}

/// A metric family: its name, its help and an item's value.
type Family<'a, T> = (&'a str, &'a str, fn(&T) -> String);

/// Metric families of `kind` with one series per item, labelled `label`
/// with `key(item)`.
fn labeled_families<T>(
    w: &mut String,
    kind: &str,
    label: &str,
    items: &[T],
    key: fn(&T) -> &str,
    families: &[Family<'_, T>],
) {
    for (name, help, field) in families {
        header(w, name, help, kind);
        for item in items {
            let _ = writeln!(w, "{name}{{{label}=\"{}\"}} {}", escape_label(key(item)), field(item));
        }
    }
}

fn render_databases(w: &mut String, databases: &[DbMetrics]) {
    header(w, "gyre_db_keys", "Keys per database.", "gauge");
    for d in databases {
        let _ = writeln!(w, "gyre_db_keys{{db=\"{}\"}} {}", d.db, d.keys);
    }
    header(w, "gyre_db_expiring_keys", "Keys with an expiry per database.", "gauge");
    for d in databases {
        let _ = writeln!(w, "gyre_db_expiring_keys{{db=\"{}\"}} {}", d.db, d.expiring_keys);
    }
}

fn render_http(w: &mut String, http: &HttpStats) {
    header(w, "gyre_http_requests_total", "HTTP requests answered, by status code.", "counter");
    for (code, n) in http.by_status.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(w, "gyre_http_requests_total{{code=\"{code}\"}} {n}");
        }
    }
    let latency = http.latency.snapshot();
    histogram(w, "gyre_http_request_duration_seconds", "Duration of HTTP requests, headers to response.", &latency);
    let open = http.open_connections.load(Ordering::Relaxed);
    gauge(w, "gyre_http_connections", "HTTP connections open now.", open);
    let rejected = http.rejected_connections.load(Ordering::Relaxed);
    counter(w, "gyre_http_rejected_connections_total", "HTTP connections refused at the limit.", rejected);
}

fn header(w: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(w: &mut String, name: &str, help: &str, value: u64) {
    header(w, name, help, "counter");
    let _ = writeln!(w, "{name} {value}");
}

fn gauge(w: &mut String, name: &str, help: &str, value: u64) {
    header(w, name, help, "gauge");
    let _ = writeln!(w, "{name} {value}");
}

fn histogram(w: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    header(w, name, help, "histogram");
    let mut cumulative = 0u64;
    for (bound, n) in h.bounds_ns.iter().zip(&h.counts) {
        cumulative += n;
        let _ = writeln!(w, "{name}_bucket{{le=\"{}\"}} {cumulative}", seconds(*bound));
    }
    let count = h.count();
    let _ = writeln!(w, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(w, "{name}_sum {}", seconds(h.sum_ns));
    let _ = writeln!(w, "{name}_count {count}");
}

/// Nanoseconds as decimal seconds, exactly (no float rounding): `0.0000025`.
fn seconds(ns: u64) -> String {
    let (whole, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn escape_label(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(1_000), "0.000001");
        assert_eq!(seconds(2_500), "0.0000025");
        assert_eq!(seconds(1_500_000_000), "1.5");
        assert_eq!(seconds(10_000_000_000), "10");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("get"), "get");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        let h = Histogram::new(&[1_000, 2_000]);
        h.observe_ns(500);
        h.observe_ns(1_500);
        h.observe_ns(5_000);
        let mut w = String::new();
        histogram(&mut w, "x_seconds", "X.", &h.snapshot());
        let expected = "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
            x_seconds_bucket{le=\"0.000001\"} 1\nx_seconds_bucket{le=\"0.000002\"} 2\n\
            x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 0.000007\nx_seconds_count 3\n";
        assert_eq!(w, expected);
    }

    #[test]
    fn every_family_has_help_and_type_and_snapshot_age_is_absent_until_known() {
        let http = HttpStats::new();
        http.count_response(200);
        let mut snapshot = MetricsSnapshot {
            commands: vec![CommandMetrics { name: "get".into(), calls_total: 3, ..Default::default() }],
            ..Default::default()
        };
        snapshot.replication = Some(ReplicationMetrics {
            feed_position: 9,
            replicas: vec![ReplicaMetrics { node: "3".into(), online: true, lag_records: 2, lag_ms: 1500 }],
            noreplicas_total: 1,
            ..Default::default()
        });
        let text = render_metrics(&snapshot, &http);
        assert!(text.contains("gyre_replica_lag_records{replica=\"3\"} 2\n"), "{text}");
        assert!(text.contains("gyre_replica_lag_seconds{replica=\"3\"} 1.5\n"), "{text}");
        assert!(text.contains("gyre_replication_noreplicas_total 1\n"), "{text}");
        assert!(!text.contains("gyre_snapshot_age_seconds"));
        assert!(text.contains("gyre_commands_total{cmd=\"get\"} 3\n"));
        assert!(text.contains("gyre_http_requests_total{code=\"200\"} 1\n"));
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                    .unwrap_or(name);
                assert!(typed.contains(family), "{name} has no TYPE line before it");
                assert!(name.starts_with("gyre_"), "{name}");
            }
        }
        snapshot.last_snapshot_age_seconds = Some(7);
        assert!(render_metrics(&snapshot, &http).contains("gyre_snapshot_age_seconds 7\n"));
    }
}
