//! The write-ahead log: numbered segment files of checksummed records, one
//! writer thread with group commit, and recovery.
//!
//! What it is: every write command's encoded mutations become one *record*,
//! handed by [`Wal::append`] to a bounded queue and assigned the next [`Lsn`]
//! in queue order. One writer thread owns the active segment file: it takes
//! everything queued (at most [`BATCH_BYTES_MAX`] per write), writes it with a
//! single `write`, then applies the [`FsyncPolicy`]:
//!
//! * [`FsyncPolicy::Always`]: `fdatasync` after every batch, and only then are
//!   the batch's records published as durable. Appenders that queued while the
//!   previous fsync ran share the next one (group commit).
//! * [`FsyncPolicy::EverySec`]: no queue and no writer thread (as Redis
//!   does it): the appending thread itself writes the record to the active
//!   segment under a mutex (so LSN order is file order) and the record is
//!   durable (for [`Wal::wait_durable`]) as soon as `append` returns. A
//!   background thread `fdatasync`s a duplicate handle of the active segment
//!   about once per [`EVERYSEC_INTERVAL_MS`] when it has unsynced data,
//!   without holding the append lock. A power loss may lose about a second; a
//!   process crash loses nothing.
//! * [`FsyncPolicy::No`]: written inline like `EverySec`; fsync happens only
//!   at rotation and close.
//!
//! A failed write or fsync *poisons* the log: the reason is recorded and
//! logged, every waiter wakes with [`WalError::Poisoned`], and every later
//! append is refused. A failed fsync is never retried: after one, the kernel
//! may have dropped the dirty pages and a retry that "succeeds" proves nothing
//! (the 2018 "fsyncgate" lesson).
//!
//! A *full disk* (`ENOSPC`, `EDQUOT` from a write or from creating a segment)
//! is the one failure that clears: nothing reached the file (a partial write
//! is cut off again, so the segment ends at its last whole record), so the
//! record can simply be written later. The log *stalls*: [`Wal::writable`]
//! and the records that could not be written report [`WalError::DiskFull`],
//! the unwritten records wait in memory in LSN order (the inline path keeps
//! them in a pending list, the writer thread in its buffer), and writing is
//! retried about every [`STALL_RETRY_MS`] until it succeeds; then the stall
//! clears and writes resume. Callers refuse new writes while stalled (the
//! server checks [`Wal::writable`] before it runs a write command), so what
//! waits in memory is bounded by the writes already in flight.
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
//! Recovery ([`replay`]) checks every record again and truncates a torn tail
//! (a crash mid-append). Any other damage stops recovery with an error naming
//! the file and byte offset, unless the caller asks to cut the log there.
//!
//! What it is not: it does not interpret payloads, and it does not decide when
//! to snapshot or compact ([`Wal::rotate`] and [`Wal::remove_segments_before`]
//! are the hooks). [`Wal::append`] and [`Wal::rotate`] block the calling
//! thread briefly (backpressure, or one fsync for rotate); call `rotate` from
//! `spawn_blocking` in async code.
//!
//! Limits: a payload is at most [`RECORD_PAYLOAD_BYTES_MAX`]; the queue (used
//! by [`FsyncPolicy::Always`] only) holds
//! at most [`WalOptions::queue_records_max`] records and
//! [`QUEUE_BYTES_MAX`] bytes (one larger record is admitted alone); recovery
//! holds one record in memory at a time.
//!
//! Known limitation: with `EverySec` or `No`, a *power loss* can persist pages
//! of the last segment out of order, leaving a damaged record followed by
//! valid ones. Recovery cannot tell that from corruption and stops; the
//! operator then chooses `truncate_corrupt`.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

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
/// Most bytes the writer hands to one `write` call (a larger single record is
/// written alone).
pub const BATCH_BYTES_MAX: usize = 4 << 20;
/// Most payload bytes waiting in the queue (a larger single record is
/// admitted alone when the queue is empty).
pub const QUEUE_BYTES_MAX: u64 = 256 << 20;
/// Target interval between fsyncs under [`FsyncPolicy::EverySec`].
pub const EVERYSEC_INTERVAL_MS: u64 = 1000;
/// How often a stalled log (disk full) retries its unwritten records.
pub const STALL_RETRY_MS: u64 = 250;
/// Smallest accepted [`WalOptions::segment_bytes_max`].
pub const SEGMENT_BYTES_MIN: u64 = 64;
/// How far past the last good LSN the resynchronising scan looks for the next
/// valid record (after a bad one) when deciding "torn tail or corruption".
const RESYNC_LSN_WINDOW: u64 = 1 << 32;
/// Chunk size of that scan.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// When the log forces its data to stable storage (Redis's `appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` after every batch; a record is durable after the fsync.
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
    /// Records the hand-off queue holds before [`Wal::append`] blocks. At
    /// least 1. Default 65536.
    pub queue_records_max: usize,
    /// Told how long each fsync of a segment took (metrics). Default: nobody.
    pub fsync_observer: FsyncObserver,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes_max: 64 << 20,
            fsync: FsyncPolicy::EverySec,
            queue_records_max: 65536,
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

/// `ENOSPC` or `EDQUOT`: the one write failure that may be retried, because
/// nothing was lost (the bytes are still in memory, the file is cut back).
fn is_disk_full(e: &io::Error) -> bool {
    const EDQUOT: i32 = 122;
    e.kind() == io::ErrorKind::StorageFull || (cfg!(target_os = "linux") && e.raw_os_error() == Some(EDQUOT))
}

fn is_disk_full_err(e: &WalError) -> bool {
    matches!(e, WalError::Io { source, .. } if is_disk_full(source))
}

/// Cuts `file` back to `len` bytes and puts the write position there: undoes
/// a partial write so the segment ends at its last whole record.
fn rewind(file: &mut File, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    file.seek(SeekFrom::Start(len))?;
    Ok(())
}

/// Name of segment `number` in `dir`.
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("wal-{number:016}.log"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment numbers present in `dir`, ascending (other files are ignored).
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_segment_name) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn fsync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err(dir, e))
}

fn segment_header() -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES as usize];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// CRC of a record: over the LSN bytes followed by the payload, i.e. over
/// everything after the length and CRC fields.
fn record_crc(lsn_and_payload: &[u8]) -> u32 {
    crc32c::crc32c(lsn_and_payload)
}

/// The header of record `lsn` carrying `payload`.
fn record_header(lsn: u64, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES as usize] {
    let lsn_bytes = lsn.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&lsn_bytes), payload);
    let mut header = [0u8; RECORD_HEADER_BYTES as usize];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8..16].copy_from_slice(&lsn_bytes);
    header
}

// ---------------------------------------------------------------------------
// Test hooks
// ---------------------------------------------------------------------------

/// Failure injection for tests only (not part of the stable API): makes the
/// writer's next writes or fsyncs fail, stalls the writer, or slows fsync down
/// to emulate a slow disk.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct FaultInjector {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
    disk_full: AtomicBool,
    stall: AtomicBool,
    sync_delay_ms: AtomicU64,
}

impl FaultInjector {
    pub fn new() -> Arc<FaultInjector> {
        Arc::new(FaultInjector::default())
    }
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }
    pub fn fail_syncs(&self, on: bool) {
        self.fail_syncs.store(on, Ordering::SeqCst);
    }
    /// While on, writes and segment creation fail with `StorageFull`.
    pub fn disk_full(&self, on: bool) {
        self.disk_full.store(on, Ordering::SeqCst);
    }
    /// While on, the writer holds its current batch instead of writing it.
    pub fn stall_writer(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }
    pub fn set_sync_delay_ms(&self, delay_ms: u64) {
        self.sync_delay_ms.store(delay_ms, Ordering::SeqCst);
    }

    fn before_write(&self) -> io::Result<()> {
        while self.stall.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        self.check_space()
    }

    fn check_space(&self) -> io::Result<()> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device (injected)"));
        }
        Ok(())
    }

    fn before_sync(&self) -> io::Result<()> {
        let delay_ms = self.sync_delay_ms.load(Ordering::SeqCst);
        if delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Shared state between appenders, waiters and the writer thread
// ---------------------------------------------------------------------------

/// A record on its way to disk: the full encoded record with length and LSN
/// filled in; the writer fills in the CRC.
struct Frame {
    lsn: u64,
    bytes: Vec<u8>,
}

enum Item {
    Record(Frame),
    /// Rotate once everything queued before this item is written; the reply
    /// carries the segment that takes the records queued after it.
    Rotate(mpsc::SyncSender<Result<u64, String>>),
}

struct Queue {
    items: VecDeque<Item>,
    records: usize,
    payload_bytes: u64,
    next_lsn: u64,
    closing: bool,
}

/// What async waiters watch.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    durable_lsn: u64,
    poisoned: bool,
    /// The disk is full: records above `durable_lsn` wait for space.
    stalled: bool,
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    faults: Arc<FaultInjector>,
    queue: Mutex<Queue>,
    /// Appenders wait here while the queue is full.
    not_full: Condvar,
    /// The writer waits here while the queue is empty.
    not_empty: Condvar,
    /// Set once, while holding `queue`, when the log fails.
    poison: OnceLock<String>,
    /// Why the log is stalled (disk full); `None` when it is not. Unlike the
    /// poison, this clears when a retry succeeds.
    stall: Mutex<Option<String>>,
    /// `stall.is_some()`, readable without the lock on the write path.
    stalled: AtomicBool,
    progress: watch::Sender<Progress>,
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    fsync_count: AtomicU64,
    size_bytes: AtomicU64,
    current_segment: AtomicU64,
    /// The active segment of the inline path (`EverySec` and `No`); `None`
    /// under `Always`, where the writer thread owns it.
    inline: Option<Mutex<Inline>>,
    /// Held for every fsync of the inline path, so fsyncs never overlap and
    /// none starts after one has failed. Lock order: `inline`, then this.
    sync_lock: Mutex<()>,
    /// Tells the `EverySec` syncer thread to stop.
    syncer_stop: Mutex<bool>,
    syncer_wake: Condvar,
}

/// The error that ends the writer; the reason is already recorded in
/// `Shared::poison` when this exists.
struct PoisonedMarker;

impl Shared {
    /// `fdatasync` of a segment (through the fault injector), counted and
    /// timed for the observer.
    fn sync_file(&self, file: &File) -> io::Result<()> {
        let started = Instant::now();
        let result = self.faults.before_sync().and_then(|()| file.sync_data());
        self.fsync_count.fetch_add(1, Ordering::Relaxed);
        if let Some(observe) = &self.opts.fsync_observer.0 {
            observe(started.elapsed());
        }
        result
    }

    /// Records the first failure, refuses further work and wakes everyone.
    fn poison(&self, reason: String) -> PoisonedMarker {
        let mut q = self.queue.lock();
        if self.poison.set(reason.clone()).is_ok() {
            tracing::error!(dir = %self.dir.display(), %reason, "WAL poisoned; refusing further writes");
        }
        // Dropping queued rotate requests wakes their callers, who then read
        // the reason set above.
        q.items.clear();
        q.records = 0;
        q.payload_bytes = 0;
        drop(q);
        self.not_full.notify_all();
        self.progress.send_modify(|p| p.poisoned = true);
        PoisonedMarker
    }

    fn poison_reason(&self) -> Option<String> {
        self.poison.get().cloned()
    }

    /// Enters (or stays in) the disk-full stall; logs once per stall.
    fn set_stall(&self, reason: String) {
        let mut stall = self.stall.lock();
        if stall.is_none() {
            tracing::error!(dir = %self.dir.display(), %reason, "disk full: the WAL refuses writes until space returns (retrying)");
        }
        *stall = Some(reason);
        self.stalled.store(true, Ordering::Release);
        drop(stall);
        self.progress.send_modify(|p| p.stalled = true);
    }

    /// Leaves the stall after the unwritten records were written.
    fn clear_stall(&self) {
        if !self.stalled.load(Ordering::Acquire) {
            return;
        }
        if self.stall.lock().take().is_some() {
            tracing::warn!(dir = %self.dir.display(), "disk space returned: the WAL wrote the waiting records; writes resume");
        }
        self.stalled.store(false, Ordering::Release);
        self.progress.send_modify(|p| p.stalled = false);
    }

    fn stall_reason(&self) -> Option<String> {
        if !self.stalled.load(Ordering::Acquire) {
            return None;
        }
        self.stall.lock().clone()
    }

    fn publish_durable(&self, lsn: u64) {
        self.progress.send_if_modified(|p| {
            let changed = lsn > p.durable_lsn;
            p.durable_lsn = p.durable_lsn.max(lsn);
            changed
        });
    }
}

/// State of the inline append path, behind `Shared::inline`.
struct Inline {
    segment: ActiveSegment,
    /// A duplicate handle of `segment.file` for the syncer thread, which
    /// fsyncs through it without holding the append lock.
    sync_file: Arc<File>,
    next_lsn: u64,
    closed: bool,
    /// Encoding buffer, reused across appends.
    buf: Vec<u8>,
    /// Records not written because the disk is full (LSN, whole record), in
    /// LSN order; non-empty exactly while the inline path is stalled.
    pending: VecDeque<(u64, Vec<u8>)>,
    /// When the last write of `pending` was tried.
    last_retry: Instant,
}

/// Payloads up to this size are copied next to their header and written with
/// one `write`; larger ones are written as header, then payload.
const INLINE_COPY_BYTES_MAX: usize = 64 << 10;

impl Shared {
    fn inline(&self) -> &Mutex<Inline> {
        self.inline.as_ref().expect("inline WAL path")
    }

    fn poisoned_err(&self) -> WalError {
        match self.poison_reason() {
            Some(reason) => WalError::Poisoned(reason),
            None => WalError::Closed,
        }
    }

    /// Writes one record to the active segment on the calling thread. While
    /// the disk is full the record joins the pending ones and the call
    /// answers [`WalError::DiskFull`] (the record is written when space
    /// returns, in LSN order).
    fn inline_append(&self, payload: &[u8]) -> Result<Lsn, WalError> {
        let mut guard = self.inline().lock();
        if let Some(reason) = self.poison.get() {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if guard.closed {
            return Err(WalError::Closed);
        }
        let st = &mut *guard;
        let lsn = st.next_lsn;
        assert!(lsn > self.written_lsn.load(Ordering::Relaxed), "WAL LSNs must increase");
        let header = record_header(lsn, payload);
        let result = if st.pending.is_empty() {
            self.inline_write(st, lsn, &header, payload)
        } else {
            Err(WalError::DiskFull(String::new()))
        };
        st.next_lsn += 1;
        match result {
            Ok(()) => {}
            Err(WalError::DiskFull(_)) => {
                let mut frame = Vec::with_capacity(header.len() + payload.len());
                frame.extend_from_slice(&header);
                frame.extend_from_slice(payload);
                st.pending.push_back((lsn, frame));
                self.inline_retry(st, false)?;
                if let Some(reason) = self.stall_reason() {
                    return Err(WalError::DiskFull(reason));
                }
            }
            Err(e) => return Err(e),
        }
        drop(guard);
        self.publish_durable(lsn);
        Ok(Lsn(lsn))
    }

    /// Writes one whole record (header, then payload) at the end of the
    /// active segment, rotating first when it would pass the size limit.
    /// A full disk cuts the segment back to its last whole record and stalls
    /// the log ([`WalError::DiskFull`]); any other failure poisons it.
    fn inline_write(&self, st: &mut Inline, lsn: u64, header: &[u8], payload: &[u8]) -> Result<(), WalError> {
        let frame_len = (header.len() + payload.len()) as u64;
        if st.segment.len_bytes + frame_len > self.opts.segment_bytes_max && st.segment.has_records() {
            self.inline_rotate(st)?;
        }
        let result = self.faults.before_write().and_then(|()| {
            if payload.len() <= INLINE_COPY_BYTES_MAX {
                st.buf.clear();
                st.buf.extend_from_slice(header);
                st.buf.extend_from_slice(payload);
                st.segment.file.write_all(&st.buf)
            } else {
                st.segment.file.write_all(header).and_then(|()| st.segment.file.write_all(payload))
            }
        });
        if let Err(e) = result {
            let path = st.segment.path.display().to_string();
            if is_disk_full(&e) {
                if let Err(e2) = rewind(&mut st.segment.file, st.segment.len_bytes) {
                    self.poison(format!("cutting WAL segment {path} back after a failed write ({e}) failed: {e2}"));
                    return Err(self.poisoned_err());
                }
                let reason = format!("write of WAL segment {path} failed: {e}");
                self.set_stall(reason.clone());
                return Err(WalError::DiskFull(reason));
            }
            self.poison(format!("write of WAL segment {path} failed: {e}"));
            return Err(self.poisoned_err());
        }
        st.segment.len_bytes += frame_len;
        self.size_bytes.fetch_add(frame_len, Ordering::Relaxed);
        self.written_lsn.store(lsn, Ordering::Release);
        Ok(())
    }

    /// While stalled, tries to write the pending records (at most once per
    /// [`STALL_RETRY_MS`] unless `now`); clears the stall and publishes them
    /// when all are written. `Err` only if the log is poisoned.
    fn inline_retry(&self, st: &mut Inline, now: bool) -> Result<(), WalError> {
        if st.pending.is_empty() || (!now && st.last_retry.elapsed() < Duration::from_millis(STALL_RETRY_MS)) {
            return Ok(());
        }
        st.last_retry = Instant::now();
        while let Some((lsn, frame)) = st.pending.pop_front() {
            let (header, payload) = frame.split_at(RECORD_HEADER_BYTES as usize);
            match self.inline_write(st, lsn, header, payload) {
                Ok(()) => {}
                Err(WalError::DiskFull(_)) => {
                    st.pending.push_front((lsn, frame));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.clear_stall();
        self.publish_durable(self.written_lsn.load(Ordering::Acquire));
        Ok(())
    }

    /// `fdatasync`s the active segment if it has unsynced records; called
    /// holding the append lock. Never retried: a failure poisons the log.
    fn inline_sync(&self, st: &mut Inline) -> Result<(), WalError> {
        let _sync = self.sync_lock.lock();
        if self.poison.get().is_some() {
            return Err(self.poisoned_err());
        }
        let written = self.written_lsn.load(Ordering::Acquire);
        if written <= self.synced_lsn.load(Ordering::Acquire) {
            return Ok(());
        }
        let result = self.sync_file(&st.segment.file);
        if let Err(e) = result {
            let path = st.segment.path.display();
            self.poison(format!("fsync of WAL segment {path} failed: {e}"));
            return Err(self.poisoned_err());
        }
        self.synced_lsn.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    /// fsyncs the active segment, then creates and switches to the next one;
    /// called holding the append lock.
    fn inline_rotate(&self, st: &mut Inline) -> Result<(), WalError> {
        self.inline_sync(st)?;
        let number = st.segment.number + 1;
        let segment =
            self.faults.check_space().map_err(|e| io_err(&segment_path(&self.dir, number), e)).and_then(|()| {
                let s = ActiveSegment::create(&self.dir, number)?;
                let dup = s.file.try_clone().map_err(|e| io_err(&s.path, e))?;
                Ok((s, dup))
            });
        let (segment, dup) = match segment {
            Ok(s) => s,
            Err(e) if is_disk_full_err(&e) => {
                let reason = format!("cannot start segment: {e}");
                self.set_stall(reason.clone());
                return Err(WalError::DiskFull(reason));
            }
            Err(e) => {
                self.poison(format!("cannot start segment: {e}"));
                return Err(self.poisoned_err());
            }
        };
        st.segment = segment;
        st.sync_file = Arc::new(dup);
        self.size_bytes.fetch_add(SEGMENT_HEADER_BYTES, Ordering::Relaxed);
        self.current_segment.store(number, Ordering::Release);
        tracing::info!(dir = %self.dir.display(), segment = number, "WAL rotated");
        Ok(())
    }

    /// The `EverySec` syncer thread: about once per interval, fsyncs what was
    /// written through the duplicate handle, outside the append lock.
    fn run_syncer(self: Arc<Self>) {
        let _guard = PoisonOnPanic(self.clone());
        let interval = Duration::from_millis(EVERYSEC_INTERVAL_MS);
        let mut last_sync = Instant::now();
        loop {
            {
                let mut stop = self.syncer_stop.lock();
                let deadline = last_sync + interval;
                while !*stop && Instant::now() < deadline {
                    self.syncer_wake.wait_until(&mut stop, deadline);
                }
                if *stop {
                    return;
                }
            }
            if self.poison.get().is_some() {
                return;
            }
            if self.written_lsn.load(Ordering::Acquire) <= self.synced_lsn.load(Ordering::Acquire) {
                last_sync = Instant::now();
                continue;
            }
            // Everything up to `lsn` is in this segment or in earlier ones,
            // which were fsynced when rotated.
            let (file, path, lsn) = {
                let st = self.inline().lock();
                (st.sync_file.clone(), st.segment.path.clone(), self.written_lsn.load(Ordering::Acquire))
            };
            let _sync = self.sync_lock.lock();
            if self.poison.get().is_some() {
                return;
            }
            if lsn > self.synced_lsn.load(Ordering::Acquire) {
                let result = self.sync_file(&file);
                if let Err(e) = result {
                    self.poison(format!("fsync of WAL segment {} failed: {e}", path.display()));
                    return;
                }
                self.synced_lsn.fetch_max(lsn, Ordering::AcqRel);
            }
            last_sync = Instant::now();
        }
    }

    /// Close of the inline path: refuse appends, stop the syncer, fsync.
    fn inline_close(&self, syncer: Option<JoinHandle<()>>) -> Result<(), WalError> {
        let first = {
            let mut st = self.inline().lock();
            !std::mem::replace(&mut st.closed, true)
        };
        *self.syncer_stop.lock() = true;
        self.syncer_wake.notify_all();
        if let Some(handle) = syncer {
            if handle.join().is_err() {
                tracing::error!("WAL syncer thread panicked");
            }
        }
        if first {
            let mut st = self.inline().lock();
            let _ = self.inline_retry(&mut st, true);
            if !st.pending.is_empty() {
                tracing::error!(
                    dir = %self.dir.display(),
                    records = st.pending.len(),
                    "WAL closed with records still unwritten: the disk is full (they were never acknowledged)"
                );
            }
            if self.inline_sync(&mut st).is_ok() {
                let lsn = self.synced_lsn.load(Ordering::Acquire);
                self.publish_durable(lsn);
                tracing::info!(dir = %self.dir.display(), lsn, "WAL closed");
            }
            self.progress.send_modify(|p| p.closed = true);
        }
        match (self.poison_reason(), self.stall_reason()) {
            (Some(reason), _) => Err(WalError::Poisoned(reason)),
            (None, Some(reason)) => Err(WalError::DiskFull(reason)),
            (None, None) => Ok(()),
        }
    }
}

/// Wakes everyone with a poison if the writer thread panics, so no waiter
/// hangs on a dead writer.
struct PoisonOnPanic(Arc<Shared>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison("the WAL writer thread panicked".to_string());
        }
    }
}

// ---------------------------------------------------------------------------
// Wal: the appending handle
// ---------------------------------------------------------------------------

/// The write-ahead log, open for appending. `Send + Sync`; share it in an
/// `Arc`. Dropping it closes it (errors are logged).
pub struct Wal {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("segment", &self.current_segment())
            .field("written_lsn", &self.written_lsn())
            .field("synced_lsn", &self.synced_lsn())
            .field("poisoned", &self.poisoned())
            .finish()
    }
}

impl Wal {
    /// Opens the log in `dir` for appending: creates the directory if needed
    /// and starts a NEW segment numbered after the highest existing one
    /// (recovery has already read and, if needed, truncated the old ones).
    /// `next_lsn` = last recovered LSN + 1 (`Lsn(0)` is taken as 1). Spawns
    /// the writer thread.
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
        let segment = ActiveSegment::create(dir, number)?;
        size_bytes += SEGMENT_HEADER_BYTES;

        let next_lsn = next_lsn.0.max(1);
        let policy = opts.fsync;
        let (inline, segment) = if policy == FsyncPolicy::Always {
            (None, Some(segment))
        } else {
            let dup = segment.file.try_clone().map_err(|e| io_err(&segment.path, e))?;
            let st = Inline {
                segment,
                sync_file: Arc::new(dup),
                next_lsn,
                closed: false,
                buf: Vec::with_capacity(4096),
                pending: VecDeque::new(),
                last_retry: Instant::now(),
            };
            (Some(Mutex::new(st)), None)
        };
        let (progress, _) = watch::channel(Progress { durable_lsn: next_lsn - 1, ..Progress::default() });
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            faults,
            queue: Mutex::new(Queue { items: VecDeque::new(), records: 0, payload_bytes: 0, next_lsn, closing: false }),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            poison: OnceLock::new(),
            stall: Mutex::new(None),
            stalled: AtomicBool::new(false),
            progress,
            written_lsn: AtomicU64::new(next_lsn - 1),
            synced_lsn: AtomicU64::new(next_lsn - 1),
            fsync_count: AtomicU64::new(0),
            size_bytes: AtomicU64::new(size_bytes),
            current_segment: AtomicU64::new(number),
            inline,
            sync_lock: Mutex::new(()),
            syncer_stop: Mutex::new(false),
            syncer_wake: Condvar::new(),
        });
        let handle = match (segment, policy) {
            (Some(segment), _) => {
                let writer = Writer::new(shared.clone(), segment, next_lsn - 1);
                let handle = std::thread::Builder::new()
                    .name("gyre-wal-writer".to_string())
                    .spawn(move || writer.run())
                    .map_err(|e| io_err(dir, e))?;
                Some(handle)
            }
            (None, FsyncPolicy::EverySec) => {
                let syncer = shared.clone();
                let handle = std::thread::Builder::new()
                    .name("gyre-wal-syncer".to_string())
                    .spawn(move || syncer.run_syncer())
                    .map_err(|e| io_err(dir, e))?;
                Some(handle)
            }
            (None, _) => None,
        };
        tracing::info!(
            dir = %dir.display(),
            segment = number,
            next_lsn,
            fsync = ?shared.opts.fsync,
            "WAL open"
        );
        Ok(Wal { shared, writer: Mutex::new(handle) })
    }

    /// Appends one record; returns its LSN. Under `Always` it hands the
    /// record to the writer and blocks the caller (a brief backpressure) when
    /// the queue is full; under `EverySec` and `No` it writes the record to
    /// the OS itself before returning (so it is already durable for
    /// [`Wal::wait_durable`]). `Err(Poisoned)` once the log has failed,
    /// `Err(Closed)` after close.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, WalError> {
        let payload_bytes = payload.len() as u64;
        if payload_bytes > RECORD_PAYLOAD_BYTES_MAX {
            return Err(WalError::RecordTooLarge { size_bytes: payload_bytes, max_bytes: RECORD_PAYLOAD_BYTES_MAX });
        }
        if self.shared.inline.is_some() {
            return self.shared.inline_append(payload);
        }
        // Encode outside the lock; only the LSN is filled in under it.
        let mut bytes = Vec::with_capacity(RECORD_HEADER_BYTES as usize + payload.len());
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&[0u8; 12]);
        bytes.extend_from_slice(payload);

        let shared = &*self.shared;
        let mut q = shared.queue.lock();
        loop {
            if let Some(reason) = shared.poison.get() {
                return Err(WalError::Poisoned(reason.clone()));
            }
            if q.closing {
                return Err(WalError::Closed);
            }
            let fits = q.records == 0
                || (q.records < shared.opts.queue_records_max && q.payload_bytes + payload_bytes <= QUEUE_BYTES_MAX);
            if fits {
                break;
            }
            shared.not_full.wait(&mut q);
        }
        let lsn = q.next_lsn;
        q.next_lsn += 1;
        bytes[8..16].copy_from_slice(&lsn.to_le_bytes());
        q.items.push_back(Item::Record(Frame { lsn, bytes }));
        q.records += 1;
        q.payload_bytes += payload_bytes;
        drop(q);
        shared.not_empty.notify_one();
        Ok(Lsn(lsn))
    }

    /// Resolves when `lsn` is durable under the policy: `Always` = covered by
    /// an fsync that happened after it was written; `EverySec` and `No` =
    /// written to the OS (a process crash loses nothing). `Err(Poisoned)` if
    /// the log failed first, `Err(Closed)` if it closed without reaching
    /// `lsn` (an LSN never handed out). Never blocks the thread.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), WalError> {
        // Inline path: an LSN `append` returned is already written.
        if self.shared.inline.is_some() && self.shared.written_lsn.load(Ordering::Acquire) >= lsn.0 {
            return Ok(());
        }
        let mut rx = self.shared.progress.subscribe();
        let progress = match rx.wait_for(|p| p.durable_lsn >= lsn.0 || p.poisoned || p.closed || p.stalled).await {
            Ok(p) => *p,
            Err(_) => return Err(WalError::Closed),
        };
        if progress.durable_lsn >= lsn.0 {
            Ok(())
        } else if progress.poisoned {
            Err(self.poisoned_error())
        } else if progress.stalled {
            Err(WalError::DiskFull(self.shared.stall_reason().unwrap_or_else(|| "the disk is full".to_string())))
        } else {
            Err(WalError::Closed)
        }
    }

    /// Whether a write may start now: `Err(Poisoned)` after a failure,
    /// `Err(DiskFull)` while the disk is full. While stalled this is also
    /// what retries the inline path's waiting records (throttled to one try
    /// per [`STALL_RETRY_MS`]), so writes resume by themselves once space
    /// returns; the writer thread retries on its own.
    pub fn writable(&self) -> Result<(), WalError> {
        if let Some(reason) = self.shared.poison.get() {
            return Err(WalError::Poisoned(reason.clone()));
        }
        if !self.shared.stalled.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some(inline) = &self.shared.inline {
            self.shared.inline_retry(&mut inline.lock(), false)?;
        }
        match self.shared.stall_reason() {
            Some(reason) => Err(WalError::DiskFull(reason)),
            None => Ok(()),
        }
    }

    /// Why writes are refused right now (poisoned or disk full), if they
    /// are; reads state only, never retries.
    pub fn write_error(&self) -> Option<String> {
        self.shared.poison_reason().or_else(|| self.shared.stall_reason())
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

    /// Number of the segment the writer appends to.
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

    /// Closes the current segment (fsynced) and starts a new one; returns the
    /// new segment number. Records appended after `rotate` returns are in the
    /// returned segment or later, so a snapshot started after `rotate` covers
    /// everything before it. If the current segment holds no records yet, it
    /// is kept and its number returned. Blocks for one fsync.
    pub fn rotate(&self) -> Result<u64, WalError> {
        if let Some(inline) = &self.shared.inline {
            let mut st = inline.lock();
            if self.shared.poison.get().is_some() {
                return Err(self.poisoned_error());
            }
            if st.closed {
                return Err(WalError::Closed);
            }
            self.shared.inline_retry(&mut st, true)?;
            if let Some(reason) = self.shared.stall_reason() {
                return Err(WalError::DiskFull(reason));
            }
            if st.segment.has_records() {
                self.shared.inline_rotate(&mut st)?;
            }
            return Ok(st.segment.number);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut q = self.shared.queue.lock();
            if self.shared.poison.get().is_some() {
                return Err(self.poisoned_error());
            }
            if q.closing {
                return Err(WalError::Closed);
            }
            // While stalled the writer is retrying a write; a rotation queued
            // behind it would wait for space. Fail now instead (a snapshot
            // could not be written either).
            if let Some(reason) = self.shared.stall_reason() {
                return Err(WalError::DiskFull(reason));
            }
            q.items.push_back(Item::Rotate(tx));
        }
        self.shared.not_empty.notify_one();
        match rx.recv() {
            Ok(Ok(segment)) => Ok(segment),
            Ok(Err(reason)) => Err(WalError::Poisoned(reason)),
            Err(_) => Err(self.poisoned_error()),
        }
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

    /// Writes and fsyncs everything queued, then stops the writer. Calling it
    /// again is harmless. `Err(Poisoned)` if the log failed.
    pub fn close(&self) -> Result<(), WalError> {
        if self.shared.inline.is_some() {
            let syncer = self.writer.lock().take();
            return self.shared.inline_close(syncer);
        }
        self.shared.queue.lock().closing = true;
        self.shared.not_empty.notify_one();
        self.shared.not_full.notify_all();
        if let Some(handle) = self.writer.lock().take() {
            if handle.join().is_err() {
                // PoisonOnPanic has already recorded it.
                tracing::error!("WAL writer thread panicked");
            }
        }
        match self.shared.poison_reason() {
            Some(reason) => Err(WalError::Poisoned(reason)),
            None => Ok(()),
        }
    }

    fn poisoned_error(&self) -> WalError {
        self.shared.poisoned_err()
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let open = match &self.shared.inline {
            Some(inline) => !inline.lock().closed,
            None => self.writer.lock().is_some(),
        };
        if open {
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
    if opts.queue_records_max == 0 {
        return Err(WalError::InvalidOptions("queue_records_max must be at least 1".to_string()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The writer thread
// ---------------------------------------------------------------------------

struct ActiveSegment {
    number: u64,
    path: PathBuf,
    file: File,
    len_bytes: u64,
}

impl ActiveSegment {
    /// Creates segment `number` (it must not exist), writes and fsyncs its
    /// header, then fsyncs the directory so the file itself survives a crash.
    fn create(dir: &Path, number: u64) -> Result<ActiveSegment, WalError> {
        let path = segment_path(dir, number);
        let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| io_err(&path, e))?;
        let written = file.write_all(&segment_header()).and_then(|()| file.sync_all()).map_err(|e| io_err(&path, e));
        if let Err(e) = written.and_then(|()| fsync_dir(dir)) {
            // Leave no half-made segment behind: a retry creates it again
            // (and a full disk gets its space back).
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(ActiveSegment { number, path, file, len_bytes: SEGMENT_HEADER_BYTES })
    }

    fn has_records(&self) -> bool {
        self.len_bytes > SEGMENT_HEADER_BYTES
    }
}

enum Next {
    Work,
    SyncDue,
    Close,
}

struct Writer {
    shared: Arc<Shared>,
    segment: ActiveSegment,
    /// Bytes encoded but not yet written; at most BATCH_BYTES_MAX unless one
    /// record is larger.
    buf: Vec<u8>,
    /// LSN of the last record in `buf`.
    buf_last_lsn: u64,
    batch: Vec<Item>,
    written_lsn: u64,
    synced_lsn: u64,
    last_sync: Instant,
}

type WriterResult<T = ()> = Result<T, PoisonedMarker>;

impl Writer {
    fn new(shared: Arc<Shared>, segment: ActiveSegment, last_lsn: u64) -> Writer {
        Writer {
            shared,
            segment,
            buf: Vec::with_capacity(BATCH_BYTES_MAX),
            buf_last_lsn: last_lsn,
            batch: Vec::new(),
            written_lsn: last_lsn,
            synced_lsn: last_lsn,
            last_sync: Instant::now(),
        }
    }

    fn run(mut self) {
        let _guard = PoisonOnPanic(self.shared.clone());
        loop {
            let step = match self.take_batch() {
                Next::Work => self.process_batch(),
                Next::SyncDue => self.sync(),
                Next::Close => {
                    if self.finish().is_ok() {
                        tracing::info!(dir = %self.shared.dir.display(), lsn = self.synced_lsn, "WAL closed");
                    }
                    return;
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// Waits for work and moves up to BATCH_BYTES_MAX of queued items into
    /// `self.batch`.
    fn take_batch(&mut self) -> Next {
        let shared = &*self.shared;
        let mut q = shared.queue.lock();
        loop {
            if !q.items.is_empty() {
                break;
            }
            if q.closing {
                return Next::Close;
            }
            let unsynced = self.written_lsn > self.synced_lsn;
            if shared.opts.fsync == FsyncPolicy::EverySec && unsynced {
                let deadline = self.last_sync + Duration::from_millis(EVERYSEC_INTERVAL_MS);
                if Instant::now() >= deadline {
                    return Next::SyncDue;
                }
                shared.not_empty.wait_until(&mut q, deadline);
            } else {
                shared.not_empty.wait(&mut q);
            }
        }
        let mut batch_bytes = 0usize;
        while let Some(item) = q.items.front() {
            if let Item::Record(frame) = item {
                let len = frame.bytes.len();
                if batch_bytes > 0 && batch_bytes + len > BATCH_BYTES_MAX {
                    break;
                }
                batch_bytes += len;
                q.records -= 1;
                q.payload_bytes -= len as u64 - RECORD_HEADER_BYTES;
            }
            let item = q.items.pop_front().expect("front exists");
            self.batch.push(item);
        }
        drop(q);
        shared.not_full.notify_all();
        Next::Work
    }

    fn process_batch(&mut self) -> WriterResult {
        let mut batch = std::mem::take(&mut self.batch);
        for item in batch.drain(..) {
            match item {
                Item::Record(frame) => self.encode(frame)?,
                Item::Rotate(reply) => match self.flush().and_then(|()| self.rotate_if_used()) {
                    Ok(number) => {
                        let _ = reply.send(Ok(number));
                    }
                    Err(marker) => {
                        let reason = self.shared.poison_reason().unwrap_or_default();
                        let _ = reply.send(Err(reason));
                        return Err(marker);
                    }
                },
            }
        }
        self.batch = batch;
        self.flush()?;
        self.apply_policy()
    }

    /// Appends one record to `buf`, first writing out `buf` and rotating when
    /// the record would take the segment past its size limit.
    fn encode(&mut self, mut frame: Frame) -> WriterResult {
        let pending = self.segment.len_bytes + self.buf.len() as u64;
        let would_be = pending + frame.bytes.len() as u64;
        if would_be > self.shared.opts.segment_bytes_max && pending > SEGMENT_HEADER_BYTES {
            self.flush()?;
            self.rotate()?;
        }
        if !self.buf.is_empty() && self.buf.len() + frame.bytes.len() > BATCH_BYTES_MAX {
            self.flush()?;
        }
        let crc = record_crc(&frame.bytes[8..]);
        frame.bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(frame.lsn > self.buf_last_lsn, "WAL LSNs must increase");
        self.buf.extend_from_slice(&frame.bytes);
        self.buf_last_lsn = frame.lsn;
        Ok(())
    }

    /// Writes `buf` to the active segment with one `write_all`. A full disk
    /// cuts the segment back to its last whole record, stalls the log and
    /// retries until the write succeeds (or the log closes).
    fn flush(&mut self) -> WriterResult {
        if self.buf.is_empty() {
            return Ok(());
        }
        loop {
            let result = self.shared.faults.before_write().and_then(|()| self.segment.file.write_all(&self.buf));
            match result {
                Ok(()) => break,
                Err(e) if is_disk_full(&e) => {
                    if let Err(e2) = rewind(&mut self.segment.file, self.segment.len_bytes) {
                        return Err(self.fail("cutting back after a failed write", e2));
                    }
                    let path = self.segment.path.display();
                    self.shared.set_stall(format!("write of WAL segment {path} failed: {e}"));
                    self.wait_for_space()?;
                }
                Err(e) => return Err(self.fail("write", e)),
            }
        }
        self.shared.clear_stall();
        let len = self.buf.len() as u64;
        self.segment.len_bytes += len;
        self.shared.size_bytes.fetch_add(len, Ordering::Relaxed);
        self.written_lsn = self.buf_last_lsn;
        self.shared.written_lsn.store(self.written_lsn, Ordering::Release);
        self.buf.clear();
        if self.buf.capacity() > 2 * BATCH_BYTES_MAX {
            self.buf.shrink_to(BATCH_BYTES_MAX);
        }
        Ok(())
    }

    /// After a batch is written: fsync and publish as the policy says.
    fn apply_policy(&mut self) -> WriterResult {
        match self.shared.opts.fsync {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::EverySec => {
                self.shared.publish_durable(self.written_lsn);
                let interval = Duration::from_millis(EVERYSEC_INTERVAL_MS);
                if self.last_sync.elapsed() >= interval {
                    self.sync()?;
                }
                Ok(())
            }
            FsyncPolicy::No => {
                self.shared.publish_durable(self.written_lsn);
                Ok(())
            }
        }
    }

    /// `fdatasync`s the active segment if it has unsynced records. Never
    /// retried: a failure poisons the log.
    fn sync(&mut self) -> WriterResult {
        if self.written_lsn == self.synced_lsn {
            return Ok(());
        }
        let result = self.shared.sync_file(&self.segment.file);
        if let Err(e) = result {
            return Err(self.fail("fsync", e));
        }
        self.last_sync = Instant::now();
        self.synced_lsn = self.written_lsn;
        self.shared.synced_lsn.store(self.synced_lsn, Ordering::Release);
        if self.shared.opts.fsync == FsyncPolicy::Always {
            self.shared.publish_durable(self.synced_lsn);
        }
        Ok(())
    }

    fn rotate_if_used(&mut self) -> WriterResult<u64> {
        if self.segment.has_records() {
            self.rotate()?;
        }
        Ok(self.segment.number)
    }

    /// fsyncs the active segment, then creates and switches to the next one.
    fn rotate(&mut self) -> WriterResult {
        self.sync()?;
        let number = self.segment.number + 1;
        let segment = loop {
            let created = self
                .shared
                .faults
                .check_space()
                .map_err(|e| io_err(&segment_path(&self.shared.dir, number), e))
                .and_then(|()| ActiveSegment::create(&self.shared.dir, number));
            match created {
                Ok(s) => break s,
                Err(e) if is_disk_full_err(&e) => {
                    self.shared.set_stall(format!("cannot start segment: {e}"));
                    self.wait_for_space()?;
                }
                Err(e) => return Err(self.shared.poison(format!("cannot start segment: {e}"))),
            }
        };
        self.shared.clear_stall();
        self.segment = segment;
        self.shared.size_bytes.fetch_add(SEGMENT_HEADER_BYTES, Ordering::Relaxed);
        self.shared.current_segment.store(number, Ordering::Release);
        tracing::info!(dir = %self.shared.dir.display(), segment = number, "WAL rotated");
        Ok(())
    }

    /// Close: everything queued is written; fsync it and tell waiters.
    fn finish(&mut self) -> WriterResult {
        self.flush()?;
        self.sync()?;
        self.shared.publish_durable(self.synced_lsn);
        self.shared.progress.send_modify(|p| p.closed = true);
        Ok(())
    }

    /// Sleeps one retry interval while stalled (disk full). When the log is
    /// closing instead, gives up: the unwritten records were never
    /// acknowledged, and the log ends poisoned so close reports it.
    fn wait_for_space(&self) -> WriterResult {
        let mut q = self.shared.queue.lock();
        if !q.closing {
            self.shared.not_empty.wait_for(&mut q, Duration::from_millis(STALL_RETRY_MS));
        }
        if q.closing {
            drop(q);
            let reason = self.shared.stall_reason().unwrap_or_default();
            return Err(self.shared.poison(format!(
                "closed while the disk was full ({reason}); unwritten records were never acknowledged"
            )));
        }
        Ok(())
    }

    fn fail(&self, op: &str, e: io::Error) -> PoisonedMarker {
        let path = self.segment.path.display();
        self.shared.poison(format!("{op} of WAL segment {path} failed: {e}"))
    }
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

/// What [`replay`] found and did.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    /// Valid records handed to `apply`.
    pub records: u64,
    /// Bytes of those records, record headers included.
    pub bytes: u64,
    /// LSN of the last valid record, `Lsn(0)` if none.
    pub last_lsn: Lsn,
    /// Segment files read.
    pub segments: u64,
    /// Bytes cut from the end of the last segment as a torn tail.
    pub torn_bytes_truncated: u64,
    /// Records lost by cutting the log at corruption (`truncate_corrupt`):
    /// those that could still be parsed after the cut.
    pub dropped_records: u64,
}

/// Recovery: reads segments with numbers >= `first_segment` in order and
/// calls `apply(lsn, payload)` for each valid record.
///
/// * A torn tail (an incomplete or checksum-failing record at the very end of
///   the last segment, with no valid record after it) is truncated from the
///   file (truncate + fsync), logged with `warn!` and reported. A last
///   segment shorter than its header (a crash while creating it) is deleted.
/// * Any other corruption (bad magic or version, a bad record followed by a
///   valid one, a bad record in a non-last segment, a missing segment number
///   (`first_segment` itself included, when it is not 0), LSNs going
///   backwards) is [`WalError::Corrupt`] naming the file and
///   offset, unless `truncate_corrupt`: then the log is cut there (that
///   segment truncated, or deleted if the cut is inside its header; later
///   segments deleted) and the records lost are reported.
///
/// The last segment is fsynced, so everything replayed is on stable storage.
pub fn replay(
    dir: &Path,
    first_segment: u64,
    truncate_corrupt: bool,
    mut apply: impl FnMut(Lsn, &[u8]),
) -> Result<ReplayReport, WalError> {
    let segments: Vec<u64> = list_segments(dir)?.into_iter().filter(|&n| n >= first_segment).collect();
    let mut report = ReplayReport::default();
    if segments.is_empty() && first_segment > 0 && !truncate_corrupt {
        let reason = format!("segment {first_segment} is missing (no log segment from it on exists)");
        return Err(WalError::Corrupt { path: segment_path(dir, first_segment), offset: 0, reason });
    }
    let mut payload = Vec::new();
    for (i, &number) in segments.iter().enumerate() {
        let path = segment_path(dir, number);
        let is_last = i + 1 == segments.len();
        let end = match i.checked_sub(1).map(|p| segments[p]) {
            // The snapshot needs the log from `first_segment` on: a log that
            // starts later has lost records.
            None if first_segment > 0 && number != first_segment => SegmentEnd::Corrupt {
                offset: 0,
                reason: format!("segment {first_segment} is missing (the log resumes at {number})"),
                resync: Some(0),
            },
            Some(prev) if prev + 1 != number => SegmentEnd::Corrupt {
                offset: 0,
                reason: format!("segment {} is missing (found {prev}, then {number})", prev + 1),
                // Count from this segment's header when cutting here.
                resync: Some(0),
            },
            _ => {
                report.segments += 1;
                read_segment(&path, is_last, &mut report, &mut payload, &mut apply)?
            }
        };
        match end {
            SegmentEnd::Clean => {}
            SegmentEnd::Torn { offset, len_bytes } => {
                cut_torn_tail(&path, offset, len_bytes, &mut report)?;
                return Ok(report);
            }
            SegmentEnd::Corrupt { offset, reason, resync } => {
                if !truncate_corrupt {
                    return Err(WalError::Corrupt { path, offset, reason });
                }
                let later = &segments[i + 1..];
                report.dropped_records = count_dropped(dir, number, resync, later)?;
                cut_log(dir, number, offset, later)?;
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    %reason,
                    dropped_records = report.dropped_records,
                    "WAL corruption: log cut at the damaged record as requested"
                );
                return Ok(report);
            }
        }
    }
    if let Some(&last) = segments.last() {
        let path = segment_path(dir, last);
        File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io_err(&path, e))?;
    }
    Ok(report)
}

enum SegmentEnd {
    Clean,
    /// Cut the last segment at `offset` (delete it if inside the header).
    Torn {
        offset: u64,
        len_bytes: u64,
    },
    /// `resync`: offset of the next valid record found after the damage, if
    /// any, for counting what a cut drops (`Some(0)`: count the whole segment,
    /// header checked).
    Corrupt {
        offset: u64,
        reason: String,
        resync: Option<u64>,
    },
}

/// Reads one segment, applying its valid records.
fn read_segment(
    path: &Path,
    is_last: bool,
    report: &mut ReplayReport,
    payload: &mut Vec<u8>,
    apply: &mut impl FnMut(Lsn, &[u8]),
) -> Result<SegmentEnd, WalError> {
    let mut reader = SegmentReader::open(path)?;
    if let Err((offset, reason)) = reader.read_header()? {
        let short_prefix = reader.len_bytes < SEGMENT_HEADER_BYTES && reader.header_prefix_ok;
        if is_last && short_prefix {
            let len_bytes = reader.len_bytes;
            return Ok(SegmentEnd::Torn { offset: 0, len_bytes });
        }
        return Ok(SegmentEnd::Corrupt { offset, reason, resync: None });
    }
    loop {
        let offset = reader.pos;
        match reader.next_record(report.last_lsn.0, payload)? {
            Step::End => return Ok(SegmentEnd::Clean),
            Step::Record { lsn } => {
                apply(Lsn(lsn), payload);
                report.records += 1;
                report.bytes += reader.pos - offset;
                report.last_lsn = Lsn(lsn);
                if payload.capacity() > BATCH_BYTES_MAX {
                    *payload = Vec::new();
                }
            }
            Step::Bad { reason, maybe_torn } => {
                let resync = reader.scan_for_record(offset + 1, report.last_lsn.0)?;
                if is_last && maybe_torn && resync.is_none() {
                    let len_bytes = reader.len_bytes;
                    return Ok(SegmentEnd::Torn { offset, len_bytes });
                }
                return Ok(SegmentEnd::Corrupt { offset, reason, resync });
            }
        }
    }
}

fn cut_torn_tail(path: &Path, offset: u64, len_bytes: u64, report: &mut ReplayReport) -> Result<(), WalError> {
    let torn_bytes = len_bytes - offset;
    report.torn_bytes_truncated = torn_bytes;
    if offset < SEGMENT_HEADER_BYTES {
        // A crash while the segment was being created: it holds no records.
        fs::remove_file(path).map_err(|e| io_err(path, e))?;
        fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
    } else {
        truncate_file(path, offset)?;
    }
    tracing::warn!(
        file = %path.display(),
        offset,
        torn_bytes,
        "WAL torn tail truncated (a crash interrupted an append)"
    );
    Ok(())
}

fn truncate_file(path: &Path, len_bytes: u64) -> Result<(), WalError> {
    let file = OpenOptions::new().write(true).open(path).map_err(|e| io_err(path, e))?;
    file.set_len(len_bytes).and_then(|()| file.sync_all()).map_err(|e| io_err(path, e))
}

/// Cuts the log at `offset` of segment `number`: truncates it (or deletes it
/// when the cut is inside the header) and deletes the `later` segments.
fn cut_log(dir: &Path, number: u64, offset: u64, later: &[u64]) -> Result<(), WalError> {
    let path = segment_path(dir, number);
    if offset < SEGMENT_HEADER_BYTES {
        remove_if_exists(&path)?;
    } else {
        truncate_file(&path, offset)?;
    }
    for &n in later {
        remove_if_exists(&segment_path(dir, n))?;
    }
    fsync_dir(dir)
}

fn remove_if_exists(path: &Path) -> Result<(), WalError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

/// Records a cut would drop: those parseable from `resync` in segment
/// `number` plus those in the later segments.
fn count_dropped(dir: &Path, number: u64, resync: Option<u64>, later: &[u64]) -> Result<u64, WalError> {
    let mut payload = Vec::new();
    let mut dropped = 0;
    let starts = resync.map(|offset| (number, offset)).into_iter().chain(later.iter().map(|&n| (n, 0)));
    for (n, offset) in starts {
        let path = segment_path(dir, n);
        if !path.exists() {
            continue;
        }
        let mut reader = SegmentReader::open(&path)?;
        if offset == 0 {
            if reader.read_header()?.is_err() {
                continue;
            }
        } else {
            reader.seek(offset)?;
        }
        while let Step::Record { .. } = reader.next_record(0, &mut payload)? {
            dropped += 1;
        }
    }
    Ok(dropped)
}

enum Step {
    Record {
        lsn: u64,
    },
    End,
    /// `maybe_torn`: an interrupted append could have produced this (a short
    /// or checksum-failing record), as opposed to a well-formed record that
    /// breaks an invariant.
    Bad {
        reason: String,
        maybe_torn: bool,
    },
}

struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    len_bytes: u64,
    pos: u64,
    /// Whether the bytes read as header are a prefix of a valid header.
    header_prefix_ok: bool,
}

impl SegmentReader {
    fn open(path: &Path) -> Result<SegmentReader, WalError> {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let len_bytes = file.metadata().map_err(|e| io_err(path, e))?.len();
        Ok(SegmentReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            len_bytes,
            pos: 0,
            header_prefix_ok: false,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), WalError> {
        self.reader.read_exact(buf).map_err(|e| io_err(&self.path, e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn seek(&mut self, pos: u64) -> Result<(), WalError> {
        self.reader.seek(SeekFrom::Start(pos)).map_err(|e| io_err(&self.path, e))?;
        self.pos = pos;
        Ok(())
    }

    /// `Ok(Err((offset, reason)))` for a bad header.
    fn read_header(&mut self) -> Result<Result<(), (u64, String)>, WalError> {
        let expected = segment_header();
        let n = self.len_bytes.min(SEGMENT_HEADER_BYTES) as usize;
        let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
        self.read_exact(&mut header[..n])?;
        self.header_prefix_ok = header[..n] == expected[..n] || header[..n].iter().all(|&b| b == 0);
        if n < SEGMENT_HEADER_BYTES as usize {
            let reason = format!("segment header truncated: {n} of {SEGMENT_HEADER_BYTES} bytes");
            return Ok(Err((0, reason)));
        }
        if header[..8] != SEGMENT_MAGIC {
            let reason = format!(
                "bad magic {:?}, expected {:?} (not a Gyre WAL segment)",
                String::from_utf8_lossy(&header[..8]),
                String::from_utf8_lossy(&SEGMENT_MAGIC)
            );
            return Ok(Err((0, reason)));
        }
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if version == 0 || version > FORMAT_VERSION {
            let reason = format!("unsupported WAL format version {version} (this build reads 1 to {FORMAT_VERSION})");
            return Ok(Err((8, reason)));
        }
        Ok(Ok(()))
    }

    /// Reads the record at `self.pos` into `payload`. On `Bad`, the position
    /// is unspecified.
    fn next_record(&mut self, prev_lsn: u64, payload: &mut Vec<u8>) -> Result<Step, WalError> {
        let remaining = self.len_bytes - self.pos;
        if remaining == 0 {
            return Ok(Step::End);
        }
        if remaining < RECORD_HEADER_BYTES {
            let reason = format!("incomplete record header: {remaining} bytes before end of file");
            return Ok(Step::Bad { reason, maybe_torn: true });
        }
        let mut header = [0u8; RECORD_HEADER_BYTES as usize];
        self.read_exact(&mut header)?;
        let (len, crc, lsn) = parse_record_header(&header);
        if len > RECORD_PAYLOAD_BYTES_MAX {
            let reason = format!("declared record length {len} exceeds the limit of {RECORD_PAYLOAD_BYTES_MAX} bytes");
            return Ok(Step::Bad { reason, maybe_torn: true });
        }
        if len > remaining - RECORD_HEADER_BYTES {
            let reason = format!("record of {len} payload bytes extends past end of file");
            return Ok(Step::Bad { reason, maybe_torn: true });
        }
        payload.resize(len as usize, 0);
        self.read_exact(payload)?;
        let actual = crc32c::crc32c_append(crc32c::crc32c(&header[8..]), payload);
        if actual != crc {
            let reason = format!("checksum mismatch (stored {crc:#010x}, computed {actual:#010x})");
            return Ok(Step::Bad { reason, maybe_torn: true });
        }
        if lsn <= prev_lsn {
            let reason = format!("LSN {lsn} does not follow LSN {prev_lsn}");
            return Ok(Step::Bad { reason, maybe_torn: false });
        }
        Ok(Step::Record { lsn })
    }

    /// Offset of the first valid record at or after `from` whose LSN follows
    /// `prev_lsn` (within [`RESYNC_LSN_WINDOW`]), if any. Tells a torn tail
    /// (nothing valid after the damage) from corruption in the middle.
    fn scan_for_record(&self, from: u64, prev_lsn: u64) -> Result<Option<u64>, WalError> {
        let file = self.reader.get_ref();
        let header_len = RECORD_HEADER_BYTES as usize;
        let mut chunk = vec![0u8; SCAN_CHUNK_BYTES + header_len];
        let mut payload = Vec::new();
        let mut base = from;
        while base + RECORD_HEADER_BYTES <= self.len_bytes {
            let want = (self.len_bytes - base).min(chunk.len() as u64) as usize;
            file.read_exact_at(&mut chunk[..want], base).map_err(|e| io_err(&self.path, e))?;
            for i in 0..=(want - header_len).min(SCAN_CHUNK_BYTES - 1) {
                let offset = base + i as u64;
                let header: &[u8; 16] = chunk[i..i + header_len].try_into().expect("16 bytes");
                let (len, crc, lsn) = parse_record_header(header);
                let lsn_fits = lsn > prev_lsn && (prev_lsn == 0 || lsn - prev_lsn <= RESYNC_LSN_WINDOW);
                let end = offset + RECORD_HEADER_BYTES + len;
                if !lsn_fits || len > RECORD_PAYLOAD_BYTES_MAX || end > self.len_bytes {
                    continue;
                }
                payload.resize(len as usize, 0);
                file.read_exact_at(&mut payload, offset + RECORD_HEADER_BYTES).map_err(|e| io_err(&self.path, e))?;
                if crc32c::crc32c_append(crc32c::crc32c(&header[8..]), &payload) == crc {
                    return Ok(Some(offset));
                }
            }
            base += SCAN_CHUNK_BYTES as u64;
        }
        Ok(None)
    }
}

/// (payload length, CRC, LSN) of a record header.
fn parse_record_header(h: &[u8; 16]) -> (u64, u32, u64) {
    let len = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")) as u64;
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    let lsn = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    (len, crc, lsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let dir = Path::new("/x");
        let path = segment_path(dir, 42);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "wal-0000000000000042.log");
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("wal-42.log"), None);
        assert_eq!(parse_segment_name("wal-000000000000004x.log"), None);
        assert_eq!(parse_segment_name("snapshot-0000000000000042.snap"), None);
    }

    #[test]
    fn header_is_magic_then_version() {
        let h = segment_header();
        assert_eq!(&h[..8], b"GYREWAL\0");
        assert_eq!(u32::from_le_bytes(h[8..].try_into().unwrap()), 1);
    }

    #[test]
    fn record_header_parses_little_endian() {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&7u32.to_le_bytes());
        h[4..8].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        h[8..16].copy_from_slice(&99u64.to_le_bytes());
        assert_eq!(parse_record_header(&h), (7, 0xdead_beef, 99));
    }

    #[test]
    fn options_are_validated() {
        let mut opts = WalOptions { segment_bytes_max: 10, ..WalOptions::default() };
        assert!(matches!(validate_options(&opts), Err(WalError::InvalidOptions(_))));
        opts.segment_bytes_max = SEGMENT_BYTES_MIN;
        opts.queue_records_max = 0;
        assert!(matches!(validate_options(&opts), Err(WalError::InvalidOptions(_))));
        opts.queue_records_max = 1;
        assert!(validate_options(&opts).is_ok());
    }
}
