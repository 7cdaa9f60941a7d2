//! Durability wiring: the data directory, recovery at start-up, the log on the
//! write path, snapshots (SAVE, BGSAVE, automatic compaction) and their state
//! for INFO persistence.
//!
//! Start-up: lock the directory (one server per directory), load the snapshot
//! the manifest names, replay the write-ahead log from the segment the manifest
//! says is still needed, then open the log for appending. Replay is idempotent
//! (mutations are versioned), so the snapshot need not be a single instant.
//!
//! Write path: after a command runs, its encoded mutations go to the log as one
//! record; the connection sends its replies only once the log says the last
//! record of the batch is durable under `appendfsync` (always: fsynced; everysec
//! and no: handed to the OS, so a process crash loses nothing). A log that
//! failed (I/O error, fsync error) is poisoned: write commands get
//! `-MISCONF`, reads keep working. A full disk refuses writes the same way,
//! but only while it lasts: the log keeps the records it could not write and
//! writes them when space returns, and then writes resume.
//!
//! Snapshots: rotate the log (records from then on are in the new segment or
//! later), write the keyspace shard by shard while writes continue, point the
//! manifest at the snapshot and the new segment, then delete the segments and
//! snapshots it no longer needs.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use gyre_engine::{EncodingConfig, Keyspace};
use gyre_log::manifest::{read_manifest, write_manifest, Manifest, SnapshotRef, NODE_ID_BYTES};
use gyre_log::snapshot::{load_snapshot, remove_old_snapshots, snapshot_path, write_snapshot};
use gyre_log::wal::{replay, FsyncObserver, Lsn, RecordBuilder, Wal, WalError, WalOptions};
use parking_lot::Mutex;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::runtime::unix_ms;

/// Snapshot bookkeeping reported by INFO persistence and LASTSAVE.
#[derive(Debug, Clone, Default)]
pub struct SnapshotState {
    pub last_save_unix_ms: u64,
    pub last_status_ok: bool,
    pub last_duration_ms: u64,
    pub last_bytes: u64,
    pub last_error: Option<String>,
}

pub struct Persistence {
    pub dir: PathBuf,
    /// None when `appendonly no`: a pure cache.
    pub wal: Option<Arc<Wal>>,
    pub snapshot: Mutex<SnapshotState>,
    /// A snapshot is being written (BGSAVE, SAVE or automatic).
    pub snapshot_running: AtomicBool,
    /// Held while a snapshot rotates the log and walks the keyspace; SWAPDB
    /// takes it (without waiting) for its swap, so a swap and a snapshot's
    /// walk never overlap (the walk captures each database's shards at
    /// different instants).
    pub swap_guard: parking_lot::Mutex<()>,
    /// Records appended since the last snapshot (INFO rdb_changes_since_last_save).
    pub changes_since_snapshot: AtomicU64,
    next_snapshot_id: AtomicU64,
    /// The manifest as last written (or read at start-up).
    manifest: Mutex<Manifest>,
    /// Held for the server's lifetime: the directory's lock.
    _lock: File,
    /// The node's persistent id, 40 hex characters (see [`node_id`]).
    pub node_id: String,
    /// Subscribers to the change feed (slot moves, replicas): every commit
    /// offers them what it takes, in log order.
    pub taps: crate::feed_tap::FeedTaps,
}

/// Gives the manifest a node id at the first start (kept across restarts
/// from then on); without persistence, a fresh one per process.
fn node_id(dir: &Path, manifest: &mut Manifest, persistent: bool) -> anyhow::Result<String> {
    if manifest.node_id == [0; NODE_ID_BYTES] {
        manifest.node_id = rand::random();
        if persistent {
            write_manifest(dir, manifest).with_context(|| format!("writing the node id to '{}'", dir.display()))?;
            info!("new node: id made and kept in the data directory");
        }
    }
    Ok(manifest.node_id.iter().map(|b| format!("{b:02x}")).collect())
}

impl Persistence {
    /// Locks `dir`, recovers into `ks` and opens the log. Errors name the file.
    pub fn open(config: &Config, ks: &Keyspace, fsync_observer: FsyncObserver) -> anyhow::Result<Persistence> {
        let settings = config.settings();
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating data directory '{}'", dir.display()))?;
        let lock = lock_dir(&dir)?;
        let enabled = settings.appendonly;
        let mut snapshot = SnapshotState { last_save_unix_ms: unix_ms(), last_status_ok: true, ..Default::default() };
        let mut next_snapshot_id = 1;
        let mut manifest = Manifest::default();
        let wal = if enabled {
            let cfg = settings.encoding;
            let truncate = settings.wal_recovery_truncate;
            let next_lsn;
            (next_lsn, manifest) = recover(&dir, ks, &cfg, truncate)?;
            if let Some(newest) = manifest.newest() {
                snapshot.last_save_unix_ms = newest.unix_ms;
            }
            let on_disk = gyre_log::snapshot::list_snapshots(&dir).ok().and_then(|ids| ids.last().copied());
            next_snapshot_id = manifest.newest().map(|s| s.id).max(on_disk).map_or(1, |id| id + 1);
            let opts = WalOptions {
                segment_bytes_max: settings.wal_segment_bytes,
                fsync: settings.appendfsync,
                fsync_observer,
            };
            let wal =
                Wal::open(&dir, opts, next_lsn).with_context(|| format!("opening the log in '{}'", dir.display()))?;
            info!(dir = %dir.display(), fsync = ?wal.fsync_policy(), "write-ahead log open");
            Some(Arc::new(wal))
        } else {
            info!("persistence off (appendonly no): data lives in memory only");
            None
        };
        // The shards keep change feeds for the commit point to take to the log.
        ks.set_feeding(wal.is_some());
        let node_id = node_id(&dir, &mut manifest, wal.is_some())?;
        info!(node_id = %node_id, "node identity");
        Ok(Persistence {
            node_id,
            dir,
            wal,
            snapshot: Mutex::new(snapshot),
            snapshot_running: AtomicBool::new(false),
            swap_guard: parking_lot::Mutex::new(()),
            changes_since_snapshot: AtomicU64::new(0),
            next_snapshot_id: AtomicU64::new(next_snapshot_id),
            manifest: Mutex::new(manifest),
            _lock: lock,
            taps: crate::feed_tap::FeedTaps::default(),
        })
    }

    /// Why writes are refused, if they are: the log failed (until a
    /// restart), or the disk is full (until space returns; asking is what
    /// retries the waiting records).
    pub fn write_refusal(&self) -> Option<String> {
        match self.wal.as_ref()?.writable() {
            Ok(()) => None,
            Err(WalError::DiskFull(reason)) => Some(format!("MISCONF Errors writing to the write-ahead log: {reason}. Writes are refused until there is space on disk again; reads keep working.")),
            Err(e) => Some(format!("MISCONF Errors writing to the write-ahead log: {e}. Writes are refused until the server is restarted with the problem fixed; reads keep working.")),
        }
    }

    /// Whether writes go to a log (false: `appendonly no`).
    pub fn logging(&self) -> bool {
        self.wal.is_some()
    }

    /// Appends what `fill` hands the [`RecordBuilder`], under the log's lock;
    /// returns the last record's LSN (None when there was nothing to log or
    /// persistence is off). Called by the commit point (`commit`) only.
    pub(crate) fn append_with(&self, fill: impl FnOnce(&mut RecordBuilder<'_>)) -> Option<Lsn> {
        let wal = self.wal.as_ref()?;
        match wal.append_with(fill) {
            Ok(lsn) => {
                if lsn.is_some() {
                    self.changes_since_snapshot.fetch_add(1, Ordering::Relaxed);
                }
                lsn
            }
            // The log is poisoned (it said why, loudly). The change is in memory
            // but not durable; `wait_durable` reports the failure to the client.
            Err(_) => Some(Lsn(u64::MAX)),
        }
    }

    /// Waits until `lsn` is durable under the fsync policy. Before writing
    /// (and under `always` fsyncing) it yields once, so every connection
    /// ready on this worker appends its batch first and one `write` (one
    /// fsync) serves them all, as one turn of Redis's event loop does.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), String> {
        let Some(wal) = &self.wal else { return Ok(()) };
        if lsn == Lsn(u64::MAX) {
            return Err(wal.write_error().unwrap_or_else(|| "the log refused the write".into()));
        }
        if !wal.is_durable(lsn) {
            tokio::task::yield_now().await;
        }
        wal.wait_durable(lsn).await.map_err(|e| e.to_string())
    }

    /// Writes a snapshot now, in the calling thread, and compacts the log.
    /// Fails at once if another snapshot is running.
    pub fn snapshot_now(&self, ks: &Keyspace, retention: usize) -> Result<(), String> {
        if self.snapshot_running.swap(true, Ordering::AcqRel) {
            return Err("ERR Background save already in progress".into());
        }
        let result = self.snapshot_inner(ks, retention);
        let mut st = self.snapshot.lock();
        match &result {
            Ok(()) => st.last_status_ok = true,
            Err(e) => {
                st.last_status_ok = false;
                st.last_error = Some(e.clone());
                error!(error = %e, "snapshot failed");
            }
        }
        drop(st);
        self.snapshot_running.store(false, Ordering::Release);
        result.map_err(|e| format!("ERR {e}"))
    }

    fn snapshot_inner(&self, ks: &Keyspace, retention: usize) -> Result<(), String> {
        let started = Instant::now();
        let started_ms = unix_ms();
        let no_swaps = self.swap_guard.lock();
        // Records from here on are in `first_needed` or later; everything
        // before is already in memory and so in the snapshot.
        let (first_needed, last_lsn) = match &self.wal {
            Some(wal) => (wal.rotate().map_err(|e| e.to_string())?, wal.written_lsn().0),
            None => (0, 0),
        };
        self.changes_since_snapshot.store(0, Ordering::Relaxed);
        let id = self.next_snapshot_id.fetch_add(1, Ordering::Relaxed);
        let info = write_snapshot(ks, &self.dir, id, started_ms).map_err(|e| e.to_string())?;
        drop(no_swaps);
        // The manifest keeps `retention` snapshots and, through the oldest,
        // the log they need: recovery falls back to an older snapshot when
        // the newest is damaged.
        let snap = SnapshotRef { id, wal_first_segment: first_needed, unix_ms: started_ms };
        let manifest = self.manifest.lock().with_snapshot(snap, last_lsn, retention);
        write_manifest(&self.dir, &manifest).map_err(|e| e.to_string())?;
        let keep: Vec<u64> = manifest.snapshots.iter().map(|s| s.id).collect();
        let first_kept_segment = manifest.first_segment_needed();
        *self.manifest.lock() = manifest;
        let freed = match &self.wal {
            Some(wal) => wal.remove_segments_before(first_kept_segment).map_err(|e| e.to_string())?,
            None => 0,
        };
        remove_old_snapshots(&self.dir, &keep).map_err(|e| e.to_string())?;
        let mut st = self.snapshot.lock();
        st.last_save_unix_ms = started_ms;
        st.last_duration_ms = started.elapsed().as_millis() as u64;
        st.last_bytes = info.bytes;
        drop(st);
        info!(
            keys = info.keys,
            bytes = info.bytes,
            ms = started.elapsed().as_millis() as u64,
            log_bytes_freed = freed,
            path = %info.path.display(),
            "snapshot done"
        );
        Ok(())
    }

    /// True when the log has outgrown both `compact_bytes` and the last
    /// snapshot (Redis's auto-aof-rewrite rule, by size).
    pub fn wants_compaction(&self, compact_bytes: u64) -> bool {
        let Some(wal) = &self.wal else { return false };
        let last = self.snapshot.lock().last_bytes;
        !self.snapshot_running.load(Ordering::Relaxed) && wal.size_bytes() > compact_bytes.max(last)
    }

    /// Flushes and fsyncs the log (shutdown). False when that failed (logged).
    pub fn close(&self) -> bool {
        if let Some(wal) = &self.wal {
            match wal.close() {
                Ok(()) => info!("write-ahead log flushed, fsynced and closed"),
                Err(e) => {
                    error!(error = %e, "closing the write-ahead log failed");
                    return false;
                }
            }
        }
        true
    }
}

/// One server per data directory: an exclusive, non-blocking flock on
/// `dir/LOCK`, released by the kernel when the process ends however it ends.
fn lock_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file '{}'", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is shared with the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "data directory '{}' is in use by another gyre-server (lock file '{}' is held); stop it or choose another --dir",
            dir.display(),
            path.display()
        );
    }
    Ok(file)
}

/// Recovery applies the log this many mutations at a time (each run on every
/// core), so what it holds in memory is bounded, not the whole log tail.
const REPLAY_RUN_MUTATIONS: usize = 1 << 16;

/// Loads the newest intact snapshot the manifest lists (falling back to
/// older ones when a snapshot is damaged) and replays the log after it.
/// Returns the next LSN and the manifest.
fn recover(dir: &Path, ks: &Keyspace, cfg: &EncodingConfig, truncate: bool) -> anyhow::Result<(Lsn, Manifest)> {
    let started = Instant::now();
    let manifest =
        read_manifest(dir).with_context(|| format!("reading the manifest in '{}'", dir.display()))?.unwrap_or_default();
    let mut chosen = None;
    let mut failures = Vec::new();
    for snap in &manifest.snapshots {
        let path = snapshot_path(dir, snap.id);
        info!(path = %path.display(), "loading snapshot");
        let progress = |keys: u64, bytes: u64| {
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            info!(keys, mb = bytes / (1 << 20), keys_per_sec = (keys as f64 / secs) as u64, "loading snapshot");
        };
        match load_snapshot(ks, &path, cfg, &progress) {
            Ok(loaded) => {
                info!(
                    keys = loaded.keys,
                    mb = loaded.bytes / (1 << 20),
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot loaded"
                );
                chosen = Some(*snap);
                break;
            }
            Err(e) => {
                error!(path = %path.display(), error = %e, "snapshot is unusable; falling back to the previous snapshot and more of the log");
                failures.push(format!("loading snapshot '{}': {e}", path.display()));
                // A damaged snapshot may have loaded in part: start over.
                drop(ks.discard_all());
            }
        }
    }
    if chosen.is_none() && !manifest.snapshots.is_empty() {
        anyhow::bail!("no usable snapshot: {}", failures.join("; "));
    }
    let first_segment = chosen.map_or(0, |s| s.wal_first_segment);
    let mut last = Lsn(0);
    let mut bad_records = 0u64;
    // The log holds the shards' change feeds: per key, writes are in the
    // order they happened, so it is applied in its own order, a bounded run
    // of mutations at a time. Records written before the feeds (without
    // previous versions) held connections' batches in the order they
    // finished; versions are taken under the key's shard lock, so for those
    // version order is the true per-key order: they are gathered and applied
    // sorted (stable: one command's mutations keep their order), before the
    // first record written after them.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = crate::runtime::ScopedThreads(threads);
    let apply = |ms: &mut Vec<gyre_engine::Mutation<Bytes>>| {
        ks.apply_all(ms, &workers);
        ms.clear();
    };
    let (mut run, mut legacy) = (Vec::new(), Vec::new());
    let mut legacy_records = 0u64;
    let report = replay(dir, first_segment, truncate, |lsn, payload| {
        last = lsn;
        let mut decoded = Vec::new();
        match decode_record(payload, &mut decoded) {
            Ok(true) => {
                if !legacy.is_empty() {
                    legacy.sort_by_key(|m: &gyre_engine::Mutation<Bytes>| m.version());
                    apply(&mut legacy);
                }
                run.append(&mut decoded);
                if run.len() >= REPLAY_RUN_MUTATIONS {
                    apply(&mut run);
                }
            }
            Ok(false) => {
                apply(&mut run);
                legacy_records += 1;
                legacy.append(&mut decoded);
            }
            Err(_) => bad_records += 1,
        }
    })
    .with_context(|| format!("replaying the write-ahead log in '{}'", dir.display()))?;
    if legacy_records > 0 {
        info!(records = legacy_records, "applied log records that predate change feeds in version order");
    }
    legacy.sort_by_key(|m| m.version());
    apply(&mut legacy);
    apply(&mut run);
    if report.torn_bytes_truncated > 0 {
        warn!(bytes = report.torn_bytes_truncated, "truncated a torn record at the end of the log (a crash mid-write)");
    }
    if report.dropped_records > 0 {
        warn!(records = report.dropped_records, "wal-recovery truncate: dropped records after a corruption");
    }
    anyhow::ensure!(bad_records == 0, "{bad_records} log records passed their checksum but did not decode");
    info!(
        records = report.records,
        mb = report.bytes / (1 << 20),
        keys = (0..ks.db_count()).map(|i| ks.db(i as u16).len()).sum::<usize>(),
        ms = started.elapsed().as_millis() as u64,
        "recovery done"
    );
    // LSNs continue above everything ever written, even records compacted away.
    Ok((Lsn(last.0.max(report.last_lsn.0).max(manifest.last_lsn) + 1), manifest))
}

/// Decodes one log record (feeds and a writer's own pieces, in order);
/// returns whether it was written with change feeds (every mutation names
/// its key's previous version).
fn decode_record(
    payload: &[u8],
    into: &mut Vec<gyre_engine::Mutation<Bytes>>,
) -> Result<bool, gyre_engine::DecodeError> {
    let all = Bytes::copy_from_slice(payload);
    let mut pos = 0;
    let mut fed = true;
    while pos < all.len() {
        let d = gyre_engine::mutation::decode_fed(&all.slice(pos..))?;
        fed &= d.prev.is_some();
        into.push(d.mutation);
        pos += d.len;
    }
    Ok(fed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre_engine::{Mutation, SlotId, Version};

    /// `m` as a log record written before change feeds: the tag without the
    /// feed flag, the version's clock only, no previous version.
    fn legacy(m: &Mutation<&[u8]>) -> Vec<u8> {
        let mut fed = Vec::new();
        m.encode(&mut fed);
        let mut out = vec![fed[0] & !gyre_engine::mutation::TAG_FED];
        out.extend_from_slice(&fed[1..9]);
        out.extend_from_slice(&fed[1 + 8 + 2 + 10..]);
        out
    }

    #[test]
    fn a_log_from_before_change_feeds_is_applied_in_version_order() {
        let dir = std::env::temp_dir().join(format!("gyre-legacy-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let append = |data: &'static [u8], hlc: u64| Mutation::Append {
            db: 0,
            key: &b"s"[..],
            data,
            version: Version::from_hlc(hlc),
        };
        let wal = Wal::open(&dir, WalOptions::default(), Lsn(1)).unwrap();
        // Two connections' batches, logged in the order they finished, not
        // the order they wrote.
        wal.append(&legacy(&append(b"b", 20))).unwrap();
        wal.append(&legacy(&append(b"a", 10))).unwrap();
        // Then a record written with feeds (after an upgrade).
        let mut fed = Vec::new();
        append(b"c", 30).encode_after(Version::from_hlc(20), &mut fed);
        wal.append(&fed).unwrap();
        wal.close().unwrap();
        let ks = Keyspace::new();
        recover(&dir, &ks, &EncodingConfig::default(), false).unwrap();
        let slot = SlotId::of(b"s");
        let mut shard = ks.db(0).lock(slot);
        let mut buf = itoa::Buffer::new();
        let value = shard.get(slot, b"s", gyre_engine::Now::at(0)).map(|e| e.value.as_bytes(&mut buf).to_vec());
        assert_eq!(value.as_deref(), Some(&b"abc"[..]));
        drop(shard);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
