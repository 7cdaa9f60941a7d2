//! `gyre-server --import-rdb dump.rdb`: moving in from Redis.
//!
//! Before the server starts serving, the RDB file (Redis 6 or 7, RDB version
//! up to 11) is checked whole (header, CRC64 trailer), then read key by key
//! into a keyspace opened on the data directory: each key becomes one Restore
//! mutation (value and absolute expiry) appended to the write-ahead log, so
//! the server that starts next recovers it like any other write. Keys already
//! expired are skipped, keys of databases above 15 are skipped and reported;
//! a key that cannot be read (a module type, corrupt data) stops
//! the import with the byte offset, and nothing of the file counts as loaded
//! beyond the keys already logged (the operator can fix and re-run: a re-run
//! overwrites the same keys). Progress is logged every second.
//!
//! Limits: the file is read into memory whole (Redis's own files of a size
//! this machine can load in memory anyway).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use gyre_engine::rdb::FileReader;
use gyre_engine::{Keyspace, Mutation, MutationLog, SlotId, DB_COUNT, NO_EXPIRY};
use tracing::{info, warn};

use crate::config::Config;
use crate::persistence::Persistence;
use crate::runtime::unix_ms;

/// Log records are appended in batches of about this size.
const BATCH_BYTES: usize = 1 << 20;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub loaded: u64,
    pub expired: u64,
    pub skipped_db: u64,
}

/// Imports the RDB file at `path` into the data directory `config` names.
pub fn import(config: &Config, path: &str) -> anyhow::Result<Imported> {
    if !config.settings().appendonly {
        bail!("--import-rdb needs persistence (appendonly yes): with appendonly no there is nowhere to keep the data");
    }
    let data = std::fs::read(path).with_context(|| format!("reading RDB file '{path}'"))?;
    let mut reader = FileReader::open(&data).map_err(|e| anyhow!("refusing RDB file '{path}': {e}"))?;
    let ks = Keyspace::new();
    let persistence = Persistence::open(config, &ks, gyre_log::wal::FsyncObserver::new(|_| {}))?;
    let cfg = config.encoding_config();
    info!(path, bytes = data.len(), rdb_version = reader.version, "importing RDB file");
    let now_ms = unix_ms();
    let mut done = Imported::default();
    let mut log = MutationLog::new();
    let mut last_report = Instant::now();
    loop {
        let entry = match reader.next_entry(&cfg) {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                let _ = crate::commit::commit(&persistence, &ks, &mut log);
                persistence.close();
                bail!("refusing RDB file '{path}': {e} ({} keys were imported before it)", done.loaded);
            }
        };
        if entry.db >= DB_COUNT as u64 {
            warn!(db = entry.db, "skipped a key of a database above 15 (Gyre has 16)");
            done.skipped_db += 1;
            continue;
        }
        let expire_at_ms = entry.expire_at_ms.unwrap_or(NO_EXPIRY);
        if expire_at_ms != NO_EXPIRY && expire_at_ms <= now_ms {
            done.expired += 1;
            continue;
        }
        let mut value = Vec::new();
        entry.value.serialize(&mut value);
        let (db, key) = (entry.db as u16, entry.key.as_slice());
        let slot = SlotId::of(key);
        let mut shard = ks.db(db).lock(slot);
        let version = ks.next_version(now_ms);
        shard.commit(slot, &Mutation::Restore { db, key, value: &value, expire_at_ms, version }, &mut log);
        drop(shard);
        done.loaded += 1;
        if log.bytes().len() >= BATCH_BYTES {
            let _ = crate::commit::commit(&persistence, &ks, &mut log);
            log.clear();
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let pct = reader.offset() as f64 * 100.0 / data.len() as f64;
            info!(keys = done.loaded, progress = format!("{pct:.1}%"), "importing");
            last_report = Instant::now();
        }
    }
    let _ = crate::commit::commit(&persistence, &ks, &mut log);
    if !persistence.close() {
        bail!("the write-ahead log could not be flushed after importing '{path}'");
    }
    if let Some(e) = persistence.write_refusal() {
        bail!("importing '{path}': {e}");
    }
    info!(
        loaded = done.loaded,
        expired_skipped = done.expired,
        other_databases_skipped = done.skipped_db,
        "RDB file imported"
    );
    Ok(done)
}
