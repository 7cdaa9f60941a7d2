//! `gyre-cli import-rdb FILE`: loads a Redis RDB file into a running server
//! (Gyre, or Redis itself) with RESTORE ... REPLACE ABSTTL, pipelined.
//!
//! The file is checked whole first (header, CRC64): a damaged file is refused
//! with its byte offset before anything is sent. Each key's value is sent as
//! the file encodes it, sealed with the file's RDB version, so any server that
//! reads that version accepts it; SELECT precedes keys of another database.
//! Keys already expired are skipped. Progress goes to stderr every second;
//! keys the server refused are reported (the first few by name) and make the
//! exit status 1. Plain TCP only (like `--pipe`).

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gyre_engine::rdb::{self, FileReader};
use gyre_engine::EncodingConfig;
use gyre_resp::Frame;

use crate::conn::Connection;

/// RESTOREs in flight before their replies are read.
const IN_FLIGHT_MAX: usize = 512;
/// Refusals reported by key name.
const REPORTED_MAX: usize = 10;
/// Largest reply accepted (RESTORE answers +OK or an error line).
pub const REPLY_BYTES_MAX: usize = 1 << 20;

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub restored: u64,
    pub expired: u64,
    pub refused: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Reads `pending` replies; counts and reports refusals.
fn drain(conn: &mut Connection, pending: &mut Vec<Option<Vec<u8>>>, s: &mut Summary) -> anyhow::Result<()> {
    for key in pending.drain(..) {
        let frame = conn.read_frame().map_err(|e| anyhow::anyhow!("reading a reply: {e}"))?;
        let Some(key) = key else { continue }; // a SELECT
        match frame {
            Frame::Error(e) => {
                s.refused += 1;
                if s.refused as usize <= REPORTED_MAX {
                    eprintln!("key '{}' refused: {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&e));
                }
            }
            _ => s.restored += 1,
        }
    }
    Ok(())
}

/// Imports `path` over `conn` (already authenticated, database 0 selected).
pub fn import(conn: &mut Connection, path: &str) -> anyhow::Result<Summary> {
    let data = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading RDB file '{path}': {e}"))?;
    let mut reader = FileReader::open(&data).map_err(|e| anyhow::anyhow!("refusing RDB file '{path}': {e}"))?;
    let version = reader.version;
    let cfg = EncodingConfig::default();
    let now = now_ms();
    let mut s = Summary::default();
    let mut db = 0u64;
    let mut pending: Vec<Option<Vec<u8>>> = Vec::with_capacity(IN_FLIGHT_MAX);
    let mut last_report = Instant::now();
    let send = |conn: &mut Connection, args: &[&[u8]]| conn.send(args).map_err(|e| anyhow::anyhow!("sending: {e}"));
    loop {
        let entry = match reader.next_entry(&cfg) {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                drain(conn, &mut pending, &mut s)?;
                anyhow::bail!("refusing RDB file '{path}': {e} ({} keys were restored before it)", s.restored);
            }
        };
        if entry.expire_at_ms.is_some_and(|t| t <= now) {
            s.expired += 1;
            continue;
        }
        if entry.db != db {
            send(conn, &[b"SELECT", entry.db.to_string().as_bytes()])?;
            pending.push(None);
            db = entry.db;
        }
        let payload = rdb::seal_version(entry.raw, version);
        let ttl = entry.expire_at_ms.unwrap_or(0).to_string();
        send(conn, &[b"RESTORE", &entry.key, ttl.as_bytes(), &payload, b"REPLACE", b"ABSTTL"])?;
        pending.push(Some(entry.key));
        if pending.len() >= IN_FLIGHT_MAX {
            drain(conn, &mut pending, &mut s)?;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let pct = reader.offset() as f64 * 100.0 / data.len() as f64;
            eprintln!("import-rdb: {} keys, {pct:.1}% of the file", s.restored);
            last_report = Instant::now();
        }
    }
    drain(conn, &mut pending, &mut s)?;
    let _ = std::io::stderr().flush();
    Ok(s)
}
