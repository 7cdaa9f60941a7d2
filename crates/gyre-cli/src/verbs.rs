//! Friendly verbs: `put`, `delete`, `keys`, `stats` and `cluster status`
//! (and `get`, which is plain `GET`), for people who do not speak Redis.
//!
//! The rule that keeps them from shadowing real commands: a verb is
//! recognized only as the first word of a one-shot command line, spelled in
//! lowercase exactly, and only when no `--` precedes it. `gyre-cli KEYS '*'`
//! and `gyre-cli -- keys '*'` send the real `KEYS`; `gyre-cli keys` walks the
//! keyspace with `SCAN` (never blocking the server). `put`, `delete` and
//! `stats` are not Redis commands; `get` needs no translation; `cluster`
//! is a verb only before `status` (Redis has no `CLUSTER STATUS`), so
//! `gyre-cli cluster info` stays the real `CLUSTER INFO`.
//!
//! Limits: `keys` asks for [`SCAN_COUNT`] keys per round trip and, like
//! `redis-cli --scan`, may print a key twice if the keyspace is resized while
//! it runs; `stats` samples the command counter over [`OPS_SAMPLE`] when the
//! server does not report `instantaneous_ops_per_sec`.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use gyre_resp::Frame;

use crate::format::OutputMode;
use crate::session::{CommandError, Session};

/// Keys SCAN is asked for per call.
pub const SCAN_COUNT: usize = 1000;

/// How long `stats` watches the command counter to compute ops/s.
pub const OPS_SAMPLE: Duration = Duration::from_millis(250);

/// A friendly verb with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `put KEY VALUE [--ttl SECONDS]`.
    Put { key: Vec<u8>, value: Vec<u8>, ttl: Option<Vec<u8>> },
    /// `delete KEY [KEY ...]`.
    Delete(Vec<Vec<u8>>),
    /// `keys [PATTERN]`.
    Keys(Option<Vec<u8>>),
    /// `stats`.
    Stats,
    /// `cluster status [--json]`.
    ClusterStatus {
        /// JSON instead of the table (also with gyre-cli's own `--json`).
        json: bool,
    },
}

/// Why a verb's arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usage: gyre-cli {0}")]
pub struct Usage(&'static str);

/// Recognizes a friendly verb: `None` when `command` is a plain command.
pub fn parse(command: &[Vec<u8>]) -> Option<Result<Verb, Usage>> {
    let (first, rest) = command.split_first()?;
    Some(match first.as_slice() {
        b"put" => parse_put(rest),
        b"delete" if !rest.is_empty() => Ok(Verb::Delete(rest.to_vec())),
        b"delete" => Err(Usage("delete KEY [KEY ...]")),
        b"keys" if rest.len() <= 1 => Ok(Verb::Keys(rest.first().cloned())),
        b"keys" => Err(Usage("keys [PATTERN]")),
        b"stats" if rest.is_empty() => Ok(Verb::Stats),
        b"stats" => Err(Usage("stats")),
        b"cluster" if rest.first().is_some_and(|w| w == b"status") => match &rest[1..] {
            [] => Ok(Verb::ClusterStatus { json: false }),
            [flag] if flag == b"--json" => Ok(Verb::ClusterStatus { json: true }),
            _ => Err(Usage("cluster status [--json]")),
        },
        _ => return None,
    })
}

fn parse_put(rest: &[Vec<u8>]) -> Result<Verb, Usage> {
    const USAGE: Usage = Usage("put KEY VALUE [--ttl SECONDS]");
    let mut words = Vec::new();
    let mut ttl = None;
    let mut iter = rest.iter();
    while let Some(word) = iter.next() {
        if word == b"--ttl" {
            ttl = Some(iter.next().ok_or(USAGE)?.clone());
        } else {
            words.push(word.clone());
        }
    }
    match <[Vec<u8>; 2]>::try_from(words) {
        Ok([key, value]) => Ok(Verb::Put { key, value, ttl }),
        Err(_) => Err(USAGE),
    }
}

/// Runs a verb, printing its result to `out`. Returns whether it succeeded
/// (an error reply is printed and is a failure).
pub fn run(verb: Verb, session: &mut Session, out: &mut dyn Write) -> anyhow::Result<bool> {
    match verb {
        Verb::Put { key, value, ttl } => {
            let mut args = vec![b"SET".to_vec(), key, value];
            if let Some(seconds) = ttl {
                args.extend([b"EX".to_vec(), seconds]);
            }
            report(session.call(&args)?, out, |_| Ok(b"OK".to_vec()))
        }
        Verb::Delete(keys) => {
            let count = keys.len();
            let mut args = vec![b"DEL".to_vec()];
            args.extend(keys);
            report(session.call(&args)?, out, |reply| match (reply, count) {
                (Frame::Integer(1), 1) => Ok(b"deleted".to_vec()),
                (Frame::Integer(0), 1) => Ok(b"not found".to_vec()),
                (Frame::Integer(n), _) => Ok(format!("deleted {n} of {count} keys").into_bytes()),
                other => bail!("unexpected reply to DEL: {other:?}"),
            })
        }
        Verb::Keys(pattern) => scan_keys(session, pattern, out),
        Verb::Stats => {
            let text = stats(session)?;
            out.write_all(text.as_bytes())?;
            Ok(true)
        }
        Verb::ClusterStatus { json } => {
            let json = json || session.mode() == OutputMode::Json;
            let text = crate::cluster::status::run(session, json)?;
            out.write_all(text.as_bytes())?;
            Ok(true)
        }
    }
}

/// Prints an error reply (and fails) or the text `ok` makes of the reply.
fn report(
    reply: Frame,
    out: &mut dyn Write,
    ok: impl FnOnce(&Frame) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<bool> {
    if let Frame::Error(e) = &reply {
        eprintln!("(error) {}", String::from_utf8_lossy(e));
        return Ok(false);
    }
    let mut line = ok(&reply)?;
    line.push(b'\n');
    out.write_all(&line)?;
    Ok(true)
}

/// Prints every key matching `pattern`, one per line, using SCAN.
fn scan_keys(session: &mut Session, pattern: Option<Vec<u8>>, out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut cursor = b"0".to_vec();
    loop {
        let mut args = vec![b"SCAN".to_vec(), cursor, b"COUNT".to_vec(), SCAN_COUNT.to_string().into_bytes()];
        if let Some(p) = &pattern {
            args.extend([b"MATCH".to_vec(), p.clone()]);
        }
        let (next, keys) = match session.call(&args)? {
            Frame::Array(mut parts) if parts.len() == 2 => {
                let keys = parts.pop().expect("two parts");
                let next = parts.pop().expect("two parts");
                (next, keys)
            }
            Frame::Error(e) => {
                eprintln!("(error) {}", String::from_utf8_lossy(&e));
                return Ok(false);
            }
            other => bail!("unexpected reply to SCAN: {other:?}"),
        };
        let (Frame::Bulk(next), Frame::Array(keys) | Frame::Set(keys)) = (next, keys) else {
            bail!("unexpected reply shape to SCAN");
        };
        for key in keys {
            if let Frame::Bulk(key) | Frame::Simple(key) = key {
                out.write_all(&key)?;
                out.write_all(b"\n")?;
            }
        }
        if next.as_ref() == b"0" {
            out.flush()?;
            return Ok(true);
        }
        cursor = next.to_vec();
    }
}

/// INFO as `field -> value`.
fn info(session: &mut Session, section: Option<&str>) -> Result<HashMap<String, String>, CommandError> {
    let mut args = vec![b"INFO".to_vec()];
    args.extend(section.map(|s| s.as_bytes().to_vec()));
    let text = match session.call(&args)? {
        Frame::Bulk(text) | Frame::Verbatim { text, .. } => text,
        _ => return Ok(HashMap::new()),
    };
    Ok(parse_info(&String::from_utf8_lossy(&text)))
}

fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The `stats` summary.
fn stats(session: &mut Session) -> anyhow::Result<String> {
    let fields = info(session, None).context("INFO failed")?;
    if fields.is_empty() {
        bail!("the server's INFO reply has no fields");
    }
    // ops/s: the server's own figure, else the counter's rate over a short sample.
    let ops = match fields.get("instantaneous_ops_per_sec") {
        Some(v) => v.clone(),
        None => {
            let before = number(&fields, "total_commands_processed");
            let started = std::time::Instant::now();
            std::thread::sleep(OPS_SAMPLE);
            let after = info(session, Some("stats"))?;
            let delta = number(&after, "total_commands_processed").saturating_sub(before + 1);
            format!("{:.0}", delta as f64 / started.elapsed().as_secs_f64())
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(summarize(&fields, &ops, now))
}

fn number(fields: &HashMap<String, String>, name: &str) -> u64 {
    fields.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Formats the summary from INFO fields (pure, for tests).
fn summarize(f: &HashMap<String, String>, ops_per_sec: &str, now_unix_s: u64) -> String {
    let get = |name: &str| f.get(name).map_or("?", String::as_str);
    let mut out = String::new();
    let version = match f.get("gyre_version") {
        Some(v) => format!("gyre {v} (redis_version {})", get("redis_version")),
        None => format!("redis {}", get("redis_version")),
    };
    let uptime = human_duration(number(f, "uptime_in_seconds"));
    out.push_str(&format!("server:      {version}, {} mode, up {uptime}\n", get("redis_mode")));
    out.push_str(&format!("clients:     {} connected, {} blocked\n", get("connected_clients"), get("blocked_clients")));
    let maxmemory = match number(f, "maxmemory") {
        0 => "no limit".to_string(),
        _ => f.get("maxmemory_human").cloned().unwrap_or_else(|| get("maxmemory").to_string()),
    };
    out.push_str(&format!(
        "memory:      {} used, {} peak, maxmemory {maxmemory} ({})\n",
        get("used_memory_human"),
        get("used_memory_peak_human"),
        get("maxmemory_policy")
    ));
    out.push_str(&format!("keys:        {}\n", keyspace(f)));
    out.push_str(&format!("ops/s:       {ops_per_sec} ({} commands in total)\n", get("total_commands_processed")));
    let (hits, misses) = (number(f, "keyspace_hits"), number(f, "keyspace_misses"));
    let ratio = match hits + misses {
        0 => "n/a".to_string(),
        total => format!("{:.2}%", 100.0 * hits as f64 / total as f64),
    };
    out.push_str(&format!("hit ratio:   {ratio} ({hits} hits, {misses} misses)\n"));
    out.push_str(&format!("persistence: {}\n", persistence(f, now_unix_s)));
    out
}

/// `db0: 10 keys (2 with TTL), db3: 1 key` or `empty`.
fn keyspace(f: &HashMap<String, String>) -> String {
    let mut dbs: Vec<(u64, String)> = f
        .iter()
        .filter_map(|(name, value)| {
            let db: u64 = name.strip_prefix("db")?.parse().ok()?;
            let field = |k: &str| {
                value.split(',').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')).unwrap_or("0").to_string()
            };
            let keys = field("keys");
            let noun = if keys == "1" { "key" } else { "keys" };
            Some((db, format!("db{db}: {keys} {noun} ({} with TTL)", field("expires"))))
        })
        .collect();
    if dbs.is_empty() {
        return "empty".into();
    }
    dbs.sort();
    dbs.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join(", ")
}

fn persistence(f: &HashMap<String, String>, now_unix_s: u64) -> String {
    let get = |name: &str| f.get(name).map_or("?", String::as_str);
    let mut parts = Vec::new();
    if get("loading") == "1" {
        parts.push("LOADING".to_string());
    }
    let aof = if get("aof_enabled") == "1" {
        match f.get("gyre_appendfsync") {
            Some(policy) => format!("aof on (appendfsync {policy}, last write {})", get("aof_last_write_status")),
            None => format!("aof on (last write {})", get("aof_last_write_status")),
        }
    } else {
        "aof off".to_string()
    };
    parts.push(aof);
    let last_save = number(f, "rdb_last_save_time");
    let ago =
        if last_save == 0 { "never".into() } else { human_duration(now_unix_s.saturating_sub(last_save)) + " ago" };
    parts.push(format!(
        "last save {ago} ({}), {} changes since",
        get("rdb_last_bgsave_status"),
        get("rdb_changes_since_last_save")
    ));
    if get("rdb_bgsave_in_progress") == "1" {
        parts.push("saving now".into());
    }
    if let Some(err) = f.get("gyre_wal_error").filter(|e| !e.is_empty()) {
        parts.push(format!("WAL ERROR: {err}"));
    }
    parts.join("; ")
}

/// `3d 4h 5m 6s`, leading zero units left out.
fn human_duration(secs: u64) -> String {
    let units = [(secs / 86_400, "d"), (secs / 3600 % 24, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let first = units.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    units[first..].iter().map(|(n, u)| format!("{n}{u}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn verbs_are_lowercase_only() {
        assert_eq!(parse(&words(&["keys"])), Some(Ok(Verb::Keys(None))));
        assert_eq!(parse(&words(&["keys", "user:*"])), Some(Ok(Verb::Keys(Some(b"user:*".to_vec())))));
        assert_eq!(parse(&words(&["KEYS", "*"])), None);
        assert_eq!(parse(&words(&["Keys", "*"])), None);
        assert_eq!(parse(&words(&["get", "k"])), None, "get is plain GET");
        assert_eq!(parse(&words(&["stats"])), Some(Ok(Verb::Stats)));
        assert_eq!(parse(&words(&["delete"])), Some(Err(Usage("delete KEY [KEY ...]"))));
        assert_eq!(parse(&words(&["cluster", "status"])), Some(Ok(Verb::ClusterStatus { json: false })));
        assert_eq!(parse(&words(&["cluster", "status", "--json"])), Some(Ok(Verb::ClusterStatus { json: true })));
        assert!(matches!(parse(&words(&["cluster", "status", "x"])), Some(Err(_))));
        // Other CLUSTER subcommands, and any other spelling, are plain commands.
        assert_eq!(parse(&words(&["cluster", "info"])), None);
        assert_eq!(parse(&words(&["cluster"])), None);
        assert_eq!(parse(&words(&["CLUSTER", "status"])), None);
    }

    #[test]
    fn put_takes_a_ttl_anywhere() {
        let want = Verb::Put { key: b"k".to_vec(), value: b"v".to_vec(), ttl: Some(b"30".to_vec()) };
        assert_eq!(parse(&words(&["put", "k", "v", "--ttl", "30"])), Some(Ok(want.clone())));
        assert_eq!(parse(&words(&["put", "--ttl", "30", "k", "v"])), Some(Ok(want)));
        assert!(matches!(parse(&words(&["put", "k"])), Some(Err(_))));
        assert!(matches!(parse(&words(&["put", "k", "v", "--ttl"])), Some(Err(_))));
    }

    #[test]
    fn stats_summary() {
        let info = "# Server\r\nredis_version:7.2.4\r\ngyre_version:0.1.0\r\nredis_mode:standalone\r\n\
                    uptime_in_seconds:3725\r\n# Clients\r\nconnected_clients:3\r\nblocked_clients:0\r\n\
                    used_memory_human:1.5M\r\nused_memory_peak_human:2.0M\r\nmaxmemory:0\r\n\
                    maxmemory_policy:noeviction\r\nloading:0\r\nrdb_changes_since_last_save:4\r\n\
                    rdb_last_save_time:1000\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\n\
                    aof_last_write_status:ok\r\ngyre_appendfsync:everysec\r\ngyre_wal_error:\r\n\
                    total_commands_processed:99\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\n\
                    # Keyspace\r\ndb2:keys=1,expires=0,avg_ttl=0\r\ndb0:keys=10,expires=2,avg_ttl=5\r\n";
        let text = summarize(&parse_info(info), "12", 1090);
        let want = "\
server:      gyre 0.1.0 (redis_version 7.2.4), standalone mode, up 1h 2m 5s
clients:     3 connected, 0 blocked
memory:      1.5M used, 2.0M peak, maxmemory no limit (noeviction)
keys:        db0: 10 keys (2 with TTL), db2: 1 key (0 with TTL)
ops/s:       12 (99 commands in total)
hit ratio:   75.00% (3 hits, 1 misses)
persistence: aof on (appendfsync everysec, last write ok); last save 1m 30s ago (ok), 4 changes since
";
        assert_eq!(text, want);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(86_400 + 5), "1d 0h 0m 5s");
    }
}
