//! The write-ahead log: numbered segment files of checksummed records, group
//! commit on the appending threads, and recovery.
//!
//! What it is: every write command's encoded mutations become one *record*.
//! [`Wal::append`] assigns it the next [`Lsn`] and copies it into the log's
//! buffer under a mutex, so LSN order is buffer order is file order. Nothing
//! is written yet: [`Wal::wait_durable`] writes the buffer (every record in
//! it, whoever appended them) with one `write`, and under `Always` fsyncs it,
//! on the calling thread. A caller that appends, lets the other ready
//! connections run, and then waits (the server yields once in between) shares
//! one `write` and one fsync with all of them. That is Redis's event loop
//! (write the AOF buffer once per loop turn, before the replies) without a
//! writer thread: handing records to a thread cost two cross-thread wake-ups
//! per batch, more than the write itself on one core.
//!
//! * [`FsyncPolicy::Always`]: a record is durable once an `fdatasync` that
//!   started after it was written has finished. Fsyncs never overlap; a
//!   caller that finds one running waits for it and then needs one of its own
//!   only if that one did not cover its record (group commit: everything
//!   written while an fsync runs shares the next).
//! * [`FsyncPolicy::EverySec`]: durable once written to the OS; a background
//!   thread `fdatasync`s a duplicate handle of the active segment about once
//!   per [`EVERYSEC_INTERVAL_MS`] without holding the append lock. A power
//!   loss may lose about a second; a process crash loses nothing
//!   acknowledged.
//! * [`FsyncPolicy::No`]: durable once written; fsync happens only at
//!   rotation and close.
//!
//! Under every policy the background thread also writes what is still
//! buffered once per interval (records whose appender never waited), and the
//! buffer is written as soon as it holds [`BATCH_BYTES_MAX`] bytes.
//!
//! A failed write or fsync *poisons* the log: the reason is recorded and
//! logged, every waiter gets [`WalError::Poisoned`], and every later append is
//! refused. A failed fsync is never retried: after one, the kernel may have
//! dropped the dirty pages and a retry that "succeeds" proves nothing (the
//! 2018 "fsyncgate" lesson).
//!
//! A *full disk* (`ENOSPC`, `EDQUOT` from a write or from creating a segment)
//! is the one failure that clears: nothing reached the file (a partial write
//! is cut off again, so the segment ends at its last whole record), so the
//! records can simply be written later. The log *stalls*: [`Wal::writable`]
//! and the waiters of unwritten records get [`WalError::DiskFull`], the
//! records stay in the buffer in LSN order, and writing is retried about every
//! [`STALL_RETRY_MS`] until it succeeds; then the stall clears and writes
//! resume. Callers refuse new writes while stalled (the server checks
//! [`Wal::writable`] before it runs a write command), so what waits in memory
//! is bounded by the writes already in flight.
//!
//! On-disk format, version 1 (integers little-endian):
//!
//! ```text
//! file     wal-{segment:016}.log
//! header   magic "GYREWAL\0" (8) | u32 format version
//! record   u32 payload len | u32 crc32c(lsn bytes ‖ payload) | u64 lsn | payload
//! ```
//!
//! LSNs strictly increase through the log. Segments are numbered from 1 and
//! consecutively; the directory is fsynced after a segment is created or
//! removed, and a segment is fsynced before the next one is created, so only
//! the last segment can have a torn tail after a crash.
//!
//! Recovery ([`replay`](fn@replay)) checks every record again and truncates a torn tail
//! (a crash mid-append). Any other damage stops recovery with an error naming
//! the file and byte offset, unless the caller asks to cut the log there.
//!
//! What it is not: it does not interpret payloads, and it does not decide when
//! to snapshot or compact ([`Wal::rotate`] and [`Wal::remove_segments_before`]
//! are the hooks). [`Wal::wait_durable`] and [`Wal::rotate`] block the calling
//! thread for a `write` and (under `Always`, and for rotate) an fsync; call
//! `rotate` from `spawn_blocking` in async code.
//!
//! Limits: a payload is at most [`RECORD_PAYLOAD_BYTES_MAX`]; payloads above
//! 64 KiB are written straight from the caller's buffer instead of being
//! copied into the log's; recovery holds one record in memory at a time.
//!
//! Known limitation: with `EverySec` or `No`, a *power loss* can persist pages
//! of the last segment out of order, leaving a damaged record followed by
//! valid ones. Recovery cannot tell that from corruption and stops; the
//! operator then chooses `truncate_corrupt`.
//!
//! Layout: `segment.rs` holds the files (names, headers, the active segment,
//! the reader), `append.rs` the appending side (buffer, group write and
//! fsync, the background thread, poisoning), `replay.rs` recovery; this file
//! holds the public types and the [`Wal`] handle.

mod append;
mod replay;
mod segment;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

pub use self::append::{FaultInjector, RecordBuilder};
use self::append::{FlusherOrders, Log, Progress, Shared, COPY_BYTES_MAX};
pub use self::replay::{read_range, replay, ReplayReport};
use self::segment::{fsync_dir, record_header, ActiveSegment};
pub use self::segment::{list_segments, segment_path};

/// First 8 bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"GYREWAL\0";
/// The format version this build writes; it reads versions 1..=this.
pub const FORMAT_VERSION: u32 = 1;
/// Magic + version.
pub const SEGMENT_HEADER_BYTES: u64 = 12;
/// Length + CRC + LSN in front of every payload.
pub const RECORD_HEADER_BYTES: u64 = 16;
/// Largest payload a record may carry (1 GiB plus slack for encoding
/// overhead). A larger declared length on disk is corruption, never an
/// allocation.
pub const RECORD_PAYLOAD_BYTES_MAX: u64 = (1 << 30) + (1 << 20);
/// Bytes of buffered records at which [`Wal::append`] writes them itself
/// rather than leaving them for [`Wal::wait_durable`].
pub const BATCH_BYTES_MAX: usize = 4 << 20;
/// Target interval between fsyncs under [`FsyncPolicy::EverySec`].
pub const EVERYSEC_INTERVAL_MS: u64 = 1000;
/// How often a stalled log (disk full) retries its unwritten records.
pub const STALL_RETRY_MS: u64 = 250;
/// Smallest accepted [`WalOptions::segment_bytes_max`].
pub const SEGMENT_BYTES_MIN: u64 = 64;

/// When the log forces its data to stable storage (Redis's `appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// A record is durable once an `fdatasync` covers it (shared by the
    /// records written meanwhile).
    Always,
    /// `fdatasync` about once per second; durable = written to the OS.
    EverySec,
    /// Never fsync except at rotation and close; durable = written to the OS.
    No,
}

/// Configuration of a [`Wal`].
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// A segment is rotated before a record would take it past this size
    /// (a segment always takes at least one record). At least
    /// [`SEGMENT_BYTES_MIN`]. Default 64 MiB.
    pub segment_bytes_max: u64,
    /// Fsync policy. Default [`FsyncPolicy::EverySec`].
    pub fsync: FsyncPolicy,
    /// Told how long each fsync of a segment took (metrics). Default: nobody.
    pub fsync_observer: FsyncObserver,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes_max: 64 << 20,
            fsync: FsyncPolicy::EverySec,
            fsync_observer: FsyncObserver::default(),
        }
    }
}

/// A function told the duration of every fsync of a log segment.
#[derive(Clone, Default)]
pub struct FsyncObserver(Option<Arc<dyn Fn(Duration) + Send + Sync>>);

impl FsyncObserver {
    pub fn new(f: impl Fn(Duration) + Send + Sync + 'static) -> FsyncObserver {
        FsyncObserver(Some(Arc::new(f)))
    }
}

impl fmt::Debug for FsyncObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "FsyncObserver(set)" } else { "FsyncObserver(none)" })
    }
}

/// Log sequence number: 1 for the first record ever; 0 means "none".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("WAL file {} is corrupt at byte offset {offset}: {reason}", path.display())]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("the WAL refuses writes after an earlier failure: {0}")]
    Poisoned(String),
    #[error("the WAL is closed")]
    Closed,
    /// The disk is full; the log retries and resumes when space returns.
    #[error("the WAL cannot write: {0}")]
    DiskFull(String),
    #[error("WAL record of {size_bytes} bytes exceeds the limit of {max_bytes} bytes")]
    RecordTooLarge { size_bytes: u64, max_bytes: u64 },
    #[error("cannot remove WAL segments before {requested}: segment {active} is the active one")]
    ActiveSegment { requested: u64, active: u64 },
    #[error("invalid WAL options: {0}")]
    InvalidOptions(String),
}

fn io_err(path: &Path, source: io::Error) -> WalError {
    WalError::Io { path: path.to_path_buf(), source }
}
// ---------------------------------------------------------------------------
// Wal: the appending handle
// ---------------------------------------------------------------------------

/// The write-ahead log, open for appending. `Send + Sync`; share it in an
/// `Arc`. Dropping it closes it (errors are logged).
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("fsync", &self.shared.opts.fsync)
            .field("written_lsn", &self.written_lsn())
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens the log in `dir` for appending: creates the directory if needed
    /// and starts a NEW segment numbered after the highest existing one
    /// (recovery has already read and, if needed, truncated the old ones).
    /// `next_lsn` = last recovered LSN + 1 (`Lsn(0)` is taken as 1). Spawns
    /// the background thread.
    pub fn open(dir: &Path, opts: WalOptions, next_lsn: Lsn) -> Result<Wal, WalError> {
        Wal::open_with_faults(dir, opts, next_lsn, FaultInjector::new())
    }

    /// [`Wal::open`] with a [`FaultInjector`]; for tests only.
    #[doc(hidden)]
    pub fn open_with_faults(
        dir: &Path,
        opts: WalOptions,
        next_lsn: Lsn,
        faults: Arc<FaultInjector>,
    ) -> Result<Wal, WalError> {
        validate_options(&opts)?;
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let existing = list_segments(dir)?;
        let mut size_bytes = 0;
        for &n in &existing {
            let path = segment_path(dir, n);
            size_bytes += fs::metadata(&path).map_err(|e| io_err(&path, e))?.len();
        }
        let number = existing.last().map_or(1, |last| last + 1);
        let segment = ActiveSegment::create(dir, number, opts.segment_bytes_max)?;
        size_bytes += SEGMENT_HEADER_BYTES;
        let next_lsn = next_lsn.0.max(1);
        let dup = segment.file.try_clone().map_err(|e| io_err(&segment.path, e))?;
        let log = Log {
            segment,
            sync_file: Arc::new(dup),
            next_lsn,
            closed: false,
            buf: Vec::with_capacity(4096),
            ends: Vec::new(),
            last_retry: Instant::now(),
        };
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            faults,
            log: Mutex::new(log),
            syncing: Mutex::new(false),
            sync_done: Condvar::new(),
            poison: OnceLock::new(),
            stall: Mutex::new(None),
            stalled: AtomicBool::new(false),
            written_lsn: AtomicU64::new(next_lsn - 1),
            synced_lsn: AtomicU64::new(next_lsn - 1),
            fsync_count: AtomicU64::new(0),
            size_bytes: AtomicU64::new(size_bytes),
            current_segment: AtomicU64::new(number),
            flusher: Mutex::new(FlusherOrders::default()),
            flusher_wake: Condvar::new(),
            progress: watch::channel(Progress { synced_lsn: next_lsn - 1, ..Progress::default() }).0,
        });
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("gyre-wal-flusher".to_string())
                .spawn(move || shared.run_flusher())
                .map_err(|e| io_err(dir, e))?
        };
        tracing::info!(
            dir = %dir.display(),
            segment = number,
            next_lsn,
            fsync = ?shared.opts.fsync,
            "WAL open"
        );
        Ok(Wal { shared, flusher: Mutex::new(Some(flusher)) })
    }

    /// Appends one record to the log's buffer and returns its LSN; it is
    /// written by [`Wal::wait_durable`] (or within an interval by the
    /// background thread). `Err(Poisoned)` once the log has failed,
    /// `Err(Closed)` after close. While the disk is full the record is kept
    /// and its waiters get [`WalError::DiskFull`].
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, WalError> {
        let payload_bytes = payload.len() as u64;
        if payload_bytes > RECORD_PAYLOAD_BYTES_MAX {
            return Err(WalError::RecordTooLarge { size_bytes: payload_bytes, max_bytes: RECORD_PAYLOAD_BYTES_MAX });
        }
        let s = &*self.shared;
        let mut guard = self.lock_open()?;
        let st = &mut *guard;
        let lsn = st.next_lsn;
        let header = record_header(lsn, payload);
        // Written straight from the caller's buffer once everything before it
        // is. (`next_lsn` moves only after that write-out: the buffer's first
        // LSN is reckoned from it.)
        let direct = payload.len() > COPY_BYTES_MAX && s.write_out(st, false).is_ok();
        st.next_lsn += 1;
        if direct {
            match s.write_record(st, lsn, &header, payload) {
                Ok(()) => return Ok(Lsn(lsn)),
                // Kept below, written when space returns.
                Err(WalError::DiskFull(_)) => {}
                // The waiter hears of it.
                Err(_) => return Ok(Lsn(lsn)),
            }
        }
        st.buf.extend_from_slice(&header);
        st.buf.extend_from_slice(payload);
        st.ends.push(st.buf.len());
        if st.buf.len() >= BATCH_BYTES_MAX {
            // A failure is the waiters' to hear.
            let _ = s.write_out(st, false);
        }
        Ok(Lsn(lsn))
    }

    /// The log's state, locked, unless the log failed or was closed.
    fn lock_open(&self) -> Result<parking_lot::MutexGuard<'_, Log>, WalError> {
        let s = &*self.shared;
        let guard = s.log.lock();
        if let Some(reason) = s.poison.get() {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if guard.closed {
            return Err(WalError::Closed);
        }
        Ok(guard)
    }

    /// Appends records built under the log's lock: `fill` hands pieces of
    /// payload to the [`RecordBuilder`], which cuts a new record before a
    /// piece that would take the current one past
    /// [`RECORD_PAYLOAD_BYTES_MAX`]. This is how a writer whose records must
    /// be ordered against other writers' (the server's per-shard change
    /// feeds) takes them and appends them in one critical section. Returns
    /// the LSN of the last record appended, `None` when `fill` gave nothing.
    /// A single piece over the limit poisons the log: what it held cannot
    /// be written, and it may already hold other writers' changes.
    pub fn append_with(&self, fill: impl FnOnce(&mut RecordBuilder<'_>)) -> Result<Option<Lsn>, WalError> {
        let s = &*self.shared;
        let mut guard = self.lock_open()?;
        let st = &mut *guard;
        let mut builder = RecordBuilder { st, start: None, last: None, oversized: None };
        fill(&mut builder);
        builder.finish();
        let (last, oversized) = (builder.last, builder.oversized);
        if let Some(size_bytes) = oversized {
            return Err(s.poison(format!(
                "a change of {size_bytes} bytes exceeds the log's record limit of {RECORD_PAYLOAD_BYTES_MAX} bytes"
            )));
        }
        if st.buf.len() >= BATCH_BYTES_MAX {
            // A failure is the waiters' to hear.
            let _ = s.write_out(st, false);
        }
        Ok(last.map(Lsn))
    }

    /// Whether `lsn` is durable under the policy already (nothing to wait for).
    pub fn is_durable(&self, lsn: Lsn) -> bool {
        let done = match self.shared.opts.fsync {
            FsyncPolicy::Always => &self.shared.synced_lsn,
            FsyncPolicy::EverySec | FsyncPolicy::No => &self.shared.written_lsn,
        };
        done.load(Ordering::Acquire) >= lsn.0
    }

    /// Makes `lsn` durable under the policy. Writes the buffer (every record
    /// in it, with one `write`) on the calling thread, as Redis's event loop
    /// does; under `Always` it then asks the background thread for an fsync
    /// and waits for it without blocking the thread, so the caller's thread
    /// goes on serving (and writing the next group) while the fsync runs.
    /// `Err(Poisoned)` if the log failed, `Err(DiskFull)` while the disk is
    /// full, `Err(Closed)` for an LSN this log never issued. Callers that let
    /// other tasks append before they wait share the `write`.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), WalError> {
        if self.is_durable(lsn) {
            return Ok(());
        }
        let s = &*self.shared;
        if s.poison.get().is_some() {
            return Err(s.poisoned_err());
        }
        {
            let mut st = s.log.lock();
            if lsn.0 >= st.next_lsn {
                return Err(WalError::Closed);
            }
            if s.written_lsn.load(Ordering::Acquire) < lsn.0 {
                s.write_out(&mut st, false)?;
            }
        }
        if s.opts.fsync != FsyncPolicy::Always || self.is_durable(lsn) {
            return Ok(());
        }
        let mut progress = s.progress.subscribe();
        {
            let mut orders = s.flusher.lock();
            if orders.sync_wanted < lsn.0 {
                orders.sync_wanted = lsn.0;
                s.flusher_wake.notify_one();
            }
        }
        let p = match progress.wait_for(|p| p.synced_lsn >= lsn.0 || p.poisoned || p.closed).await {
            Ok(p) => *p,
            Err(_) => return Err(WalError::Closed),
        };
        if p.synced_lsn >= lsn.0 {
            Ok(())
        } else if p.poisoned {
            Err(s.poisoned_err())
        } else {
            Err(WalError::Closed)
        }
    }

    /// Whether a write may start now: `Err(Poisoned)` after a failure,
    /// `Err(DiskFull)` while the disk is full. While stalled this is also
    /// what retries writing the waiting records (at most once per
    /// [`STALL_RETRY_MS`]), so writes resume by themselves once space returns.
    pub fn writable(&self) -> Result<(), WalError> {
        let s = &*self.shared;
        if let Some(reason) = s.poison.get() {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if !s.stalled.load(Ordering::Acquire) {
            return Ok(());
        }
        s.write_out(&mut s.log.lock(), false)
    }

    /// Why writes are refused right now (poisoned or disk full), if they
    /// are; reads state only, never retries.
    pub fn write_error(&self) -> Option<String> {
        self.shared.poison_reason().or_else(|| self.shared.stall_reason())
    }

    /// The LSN of the last record appended (written out or not): taken
    /// under the log's lock, so every append before this call has finished.
    pub fn last_lsn(&self) -> Lsn {
        Lsn(self.shared.log.lock().next_lsn.saturating_sub(1))
    }

    /// Highest LSN written to the OS.
    pub fn written_lsn(&self) -> Lsn {
        Lsn(self.shared.written_lsn.load(Ordering::Acquire))
    }

    /// Highest LSN covered by an fsync.
    pub fn synced_lsn(&self) -> Lsn {
        Lsn(self.shared.synced_lsn.load(Ordering::Acquire))
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.poison_reason()
    }

    /// Bytes of all segments on disk (tracked, not re-measured).
    pub fn size_bytes(&self) -> u64 {
        self.shared.size_bytes.load(Ordering::Relaxed)
    }

    /// Number of the segment the log appends to.
    pub fn current_segment(&self) -> u64 {
        self.shared.current_segment.load(Ordering::Acquire)
    }

    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.shared.opts.fsync
    }

    /// Data fsyncs of segment files so far (for tests and metrics).
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsync_count.load(Ordering::Relaxed)
    }

    /// Writes what is buffered, closes the current segment (fsynced) and
    /// starts a new one; returns the new segment number. Records appended
    /// after `rotate` returns are in the returned segment or later, so a
    /// snapshot started after `rotate` covers everything before it. If the
    /// current segment holds no records yet, it is kept and its number
    /// returned. Blocks for one fsync.
    pub fn rotate(&self) -> Result<u64, WalError> {
        let s = &*self.shared;
        let mut st = s.log.lock();
        if s.poison.get().is_some() {
            return Err(s.poisoned_err());
        }
        if st.closed {
            return Err(WalError::Closed);
        }
        s.write_out(&mut st, true)?;
        if st.segment.has_records() {
            s.rotate_segment(&mut st)?;
        }
        Ok(st.segment.number)
    }

    /// Deletes segment files numbered below `segment` (compaction after a
    /// snapshot); returns the bytes freed. `segment` may not be above the
    /// active segment.
    pub fn remove_segments_before(&self, segment: u64) -> Result<u64, WalError> {
        let active = self.current_segment();
        if segment > active {
            return Err(WalError::ActiveSegment { requested: segment, active });
        }
        let dir = &self.shared.dir;
        let mut freed_bytes = 0;
        let mut removed = 0;
        for n in list_segments(dir)?.into_iter().filter(|&n| n < segment) {
            let path = segment_path(dir, n);
            let len = fs::metadata(&path).map_err(|e| io_err(&path, e))?.len();
            fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            freed_bytes += len;
            removed += 1;
        }
        if removed > 0 {
            fsync_dir(dir)?;
            let _ = self
                .shared
                .size_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.saturating_sub(freed_bytes)));
            tracing::info!(dir = %dir.display(), before = segment, removed, freed_bytes, "WAL segments removed");
        }
        Ok(freed_bytes)
    }

    /// Writes and fsyncs everything buffered, then stops the background
    /// thread. Calling it again is harmless. `Err(Poisoned)` if the log
    /// failed, `Err(DiskFull)` if records could not be written.
    pub fn close(&self) -> Result<(), WalError> {
        let flusher = self.flusher.lock().take();
        self.shared.close(flusher)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if !self.shared.log.lock().closed {
            if let Err(e) = self.close() {
                tracing::error!(error = %e, "WAL close on drop failed");
            }
        }
    }
}

fn validate_options(opts: &WalOptions) -> Result<(), WalError> {
    if opts.segment_bytes_max < SEGMENT_BYTES_MIN {
        return Err(WalError::InvalidOptions(format!(
            "segment_bytes_max is {} but must be at least {SEGMENT_BYTES_MIN}",
            opts.segment_bytes_max
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        let mut opts = WalOptions { segment_bytes_max: 10, ..WalOptions::default() };
        assert!(matches!(validate_options(&opts), Err(WalError::InvalidOptions(_))));
        opts.segment_bytes_max = SEGMENT_BYTES_MIN;
        assert!(validate_options(&opts).is_ok());
    }
}
