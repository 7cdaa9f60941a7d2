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
//! Recovery ([`replay`]) checks every record again and truncates a torn tail
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

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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
/// Bytes of buffered records at which [`Wal::append`] writes them itself
/// rather than leaving them for [`Wal::wait_durable`].
pub const BATCH_BYTES_MAX: usize = 4 << 20;
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

/// The header of record `lsn` carrying `payload`. The CRC covers the LSN
/// bytes followed by the payload, i.e. everything after the length and CRC
/// fields.
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
    /// Writes above this many bytes fail as if the disk were full; 0: none.
    room_bytes: AtomicU64,
    /// The background thread skips its work (a crash test's disk must not
    /// change behind it).
    flusher_paused: AtomicBool,
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
    /// While on, writes wait (on the thread that is writing) instead of
    /// happening.
    pub fn stall_writes(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }
    /// While on, the background thread neither writes nor fsyncs.
    pub fn pause_flusher(&self, on: bool) {
        self.flusher_paused.store(on, Ordering::SeqCst);
    }
    /// Writes of more than `bytes` fail with `StorageFull` (a disk with a
    /// little room left); 0 (the default) lifts it.
    pub fn set_room_bytes(&self, bytes: u64) {
        self.room_bytes.store(bytes, Ordering::SeqCst);
    }
    pub fn set_sync_delay_ms(&self, delay_ms: u64) {
        self.sync_delay_ms.store(delay_ms, Ordering::SeqCst);
    }

    fn before_write(&self, bytes: u64) -> io::Result<()> {
        while self.stall.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        let room = self.room_bytes.load(Ordering::SeqCst);
        if room != 0 && bytes > room {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device (injected)"));
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
// The appending side: buffer, group write, group fsync
// ---------------------------------------------------------------------------

struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    faults: Arc<FaultInjector>,
    log: Mutex<Log>,
    /// An fsync is running (see `sync_through`): fsyncs never overlap and
    /// none starts after one has failed. Lock order: `log`, then this.
    syncing: Mutex<bool>,
    /// Signalled when an fsync ends.
    sync_done: Condvar,
    /// Set once when the log fails.
    poison: OnceLock<String>,
    /// Why the log is stalled (disk full); `None` when it is not. Unlike the
    /// poison, this clears when a retry succeeds.
    stall: Mutex<Option<String>>,
    /// `stall.is_some()`, readable without the lock on the write path.
    stalled: AtomicBool,
    written_lsn: AtomicU64,
    synced_lsn: AtomicU64,
    fsync_count: AtomicU64,
    size_bytes: AtomicU64,
    current_segment: AtomicU64,
    /// What the background thread is asked to do.
    flusher: Mutex<FlusherOrders>,
    flusher_wake: Condvar,
    /// Fsync progress, for `Always` waiters (who wait without a thread).
    progress: watch::Sender<Progress>,
}

/// What the background thread is asked to do, behind `Shared::flusher`.
#[derive(Default)]
struct FlusherOrders {
    /// Highest LSN an `Always` waiter needs fsynced.
    sync_wanted: u64,
    stop: bool,
}

/// What `Always` waiters watch.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    synced_lsn: u64,
    poisoned: bool,
    closed: bool,
}

/// The active segment and the records not yet written, behind `Shared::log`.
struct Log {
    segment: ActiveSegment,
    /// A duplicate handle of `segment.file`, to fsync without the lock.
    sync_file: Arc<File>,
    next_lsn: u64,
    closed: bool,
    /// Whole records appended but not yet written, in LSN order; the last is
    /// `next_lsn - 1`.
    buf: Vec<u8>,
    /// Where each buffered record ends in `buf`.
    ends: Vec<usize>,
    /// When writing after a full disk was last tried.
    last_retry: Instant,
}

impl Log {
    fn first_buffered_lsn(&self) -> u64 {
        self.next_lsn - self.ends.len() as u64
    }

    /// Drops the first `records` buffered records (`bytes` long), written.
    fn consume(&mut self, records: usize, bytes: usize) {
        if records == self.ends.len() {
            self.buf.clear();
            self.ends.clear();
            if self.buf.capacity() > 2 * BATCH_BYTES_MAX {
                self.buf.shrink_to(BATCH_BYTES_MAX);
            }
            return;
        }
        self.buf.drain(..bytes);
        self.ends.drain(..records);
        for end in &mut self.ends {
            *end -= bytes;
        }
    }
}

/// Builds records in the log's buffer under its lock ([`Wal::append_with`]).
pub struct RecordBuilder<'a> {
    st: &'a mut Log,
    /// Where the open record's header starts in the buffer.
    start: Option<usize>,
    last: Option<u64>,
    oversized: Option<u64>,
}

impl RecordBuilder<'_> {
    /// Adds `piece` to the open record (opening one, or cutting the open one
    /// first when `piece` would take it past the limit).
    pub fn extend(&mut self, piece: &[u8]) {
        if piece.is_empty() || self.oversized.is_some() {
            return;
        }
        if piece.len() as u64 > RECORD_PAYLOAD_BYTES_MAX {
            self.oversized = Some(piece.len() as u64);
            return;
        }
        if let Some(start) = self.start {
            let open = (self.st.buf.len() - start) as u64 - RECORD_HEADER_BYTES;
            if open + piece.len() as u64 > RECORD_PAYLOAD_BYTES_MAX {
                self.finish();
            }
        }
        if self.start.is_none() {
            self.start = Some(self.st.buf.len());
            self.st.buf.extend_from_slice(&[0; RECORD_HEADER_BYTES as usize]);
        }
        self.st.buf.extend_from_slice(piece);
    }

    /// Closes the open record: its header, its LSN.
    fn finish(&mut self) {
        let Some(start) = self.start.take() else { return };
        let st = &mut *self.st;
        let lsn = st.next_lsn;
        let body = start + RECORD_HEADER_BYTES as usize;
        let header = record_header(lsn, &st.buf[body..]);
        st.buf[start..body].copy_from_slice(&header);
        st.next_lsn += 1;
        st.ends.push(st.buf.len());
        self.last = Some(lsn);
    }
}

/// Payloads up to this size are copied into the buffer; larger ones are
/// written straight from the caller's (header, then payload).
const COPY_BYTES_MAX: usize = 64 << 10;

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

    /// Records the first failure (loudly) and returns the error every caller
    /// gets from now on.
    fn poison(&self, reason: String) -> WalError {
        if self.poison.set(reason.clone()).is_ok() {
            tracing::error!(dir = %self.dir.display(), %reason, "WAL poisoned; refusing further writes");
            self.progress.send_modify(|p| p.poisoned = true);
        }
        self.poisoned_err()
    }

    fn poisoned_err(&self) -> WalError {
        match self.poison.get() {
            Some(reason) => WalError::Poisoned(reason.clone()),
            None => WalError::Closed,
        }
    }

    fn poison_reason(&self) -> Option<String> {
        self.poison.get().cloned()
    }

    /// Enters (or stays in) the disk-full stall; logs once per stall.
    fn set_stall(&self, reason: String) -> WalError {
        let mut stall = self.stall.lock();
        if stall.is_none() {
            tracing::error!(dir = %self.dir.display(), %reason, "disk full: the WAL refuses writes until space returns (retrying)");
        }
        *stall = Some(reason.clone());
        self.stalled.store(true, Ordering::Release);
        WalError::DiskFull(reason)
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
    }

    fn stall_reason(&self) -> Option<String> {
        if !self.stalled.load(Ordering::Acquire) {
            return None;
        }
        self.stall.lock().clone()
    }

    fn stall_err(&self) -> WalError {
        WalError::DiskFull(self.stall_reason().unwrap_or_else(|| "the disk is full".to_string()))
    }

    /// Writes every buffered record. While stalled it tries at most once per
    /// [`STALL_RETRY_MS`] unless `retry_now`, and answers
    /// [`WalError::DiskFull`] while the disk stays full.
    fn write_out(&self, st: &mut Log, retry_now: bool) -> Result<(), WalError> {
        if self.stalled.load(Ordering::Acquire) {
            if !retry_now && st.last_retry.elapsed() < Duration::from_millis(STALL_RETRY_MS) {
                return Err(self.stall_err());
            }
            st.last_retry = Instant::now();
        }
        self.write_buffered(st)?;
        self.clear_stall();
        Ok(())
    }

    /// Writes the buffered records, as many per `write` as fit in the active
    /// segment, rotating between segments at record boundaries (a record
    /// larger than a segment gets one of its own). On failure the records not
    /// written stay buffered.
    fn write_buffered(&self, st: &mut Log) -> Result<(), WalError> {
        let first_lsn = st.first_buffered_lsn();
        let (mut done, mut start) = (0, 0);
        let result = loop {
            if done == st.ends.len() {
                break Ok(());
            }
            let room = self.opts.segment_bytes_max.saturating_sub(st.segment.len_bytes);
            let fit = st.ends[done..].partition_point(|&end| (end - start) as u64 <= room);
            let count = match fit {
                0 if st.segment.has_records() => {
                    if let Err(e) = self.rotate_segment(st) {
                        break Err(e);
                    }
                    continue;
                }
                0 => 1,
                n => n,
            };
            let end = st.ends[done + count - 1];
            if let Err(e) = self.write_parts(&mut st.segment, &[&st.buf[start..end]]) {
                break Err(e);
            }
            done += count;
            start = end;
            self.written_lsn.store(first_lsn + done as u64 - 1, Ordering::Release);
        };
        st.consume(done, start);
        result
    }

    /// Writes one record straight from the caller's buffer (after everything
    /// buffered, which must be written already).
    fn write_record(&self, st: &mut Log, lsn: u64, header: &[u8], payload: &[u8]) -> Result<(), WalError> {
        debug_assert!(st.ends.is_empty());
        let frame = (header.len() + payload.len()) as u64;
        if st.segment.len_bytes + frame > self.opts.segment_bytes_max && st.segment.has_records() {
            self.rotate_segment(st)?;
        }
        self.write_parts(&mut st.segment, &[header, payload])?;
        self.written_lsn.store(lsn, Ordering::Release);
        Ok(())
    }

    /// Appends `parts` at the end of the segment. A full disk cuts the segment
    /// back to its last whole record and stalls the log
    /// ([`WalError::DiskFull`]); any other failure poisons it.
    fn write_parts(&self, segment: &mut ActiveSegment, parts: &[&[u8]]) -> Result<(), WalError> {
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let result =
            self.faults.before_write(len).and_then(|()| parts.iter().try_for_each(|p| segment.file.write_all(p)));
        if let Err(e) = result {
            let path = segment.path.display().to_string();
            if is_disk_full(&e) {
                if let Err(e2) = rewind(&mut segment.file, segment.len_bytes) {
                    return Err(
                        self.poison(format!("cutting WAL segment {path} back after a failed write ({e}) failed: {e2}"))
                    );
                }
                return Err(self.set_stall(format!("write of WAL segment {path} failed: {e}")));
            }
            return Err(self.poison(format!("write of WAL segment {path} failed: {e}")));
        }
        segment.len_bytes += len;
        self.size_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// `fdatasync`s the active segment if it has unsynced records; called
    /// holding the log lock. Never retried: a failure poisons the log.
    fn sync_active(&self, st: &mut Log) -> Result<(), WalError> {
        let written = self.written_lsn.load(Ordering::Acquire);
        self.sync_through(&st.sync_file.clone(), st.segment.number, &st.segment.path, written)
    }

    /// Makes everything up to `written` durable by fsyncing `file`, the
    /// duplicate handle of segment number `segment`, which held the log's end
    /// when `written` was read (earlier segments were fsynced when rotated),
    /// unless an fsync covers it first. One fsync at a time (group commit):
    /// a caller that finds one running waits for it to end, then returns if
    /// it was covered or leads the next fsync, for everything written by
    /// then. Waiting on a condition variable rather than on the fsync's lock
    /// lets every covered caller go at once when the fsync ends, instead of
    /// one by one behind the next fsync.
    fn sync_through(&self, file: &File, segment: u64, path: &Path, written: u64) -> Result<(), WalError> {
        let mut syncing = self.syncing.lock();
        loop {
            if self.poison.get().is_some() {
                return Err(self.poisoned_err());
            }
            if written <= self.synced_lsn.load(Ordering::Acquire) {
                return Ok(());
            }
            if !*syncing {
                *syncing = true;
                break;
            }
            self.sync_done.wait(&mut syncing);
        }
        drop(syncing);
        // What was written while this caller waited is in the same file
        // unless the log has moved to a later segment since. The switch is
        // published before any write to the new segment, so reading the LSN
        // first and the segment second never pairs a later segment's records
        // with this file.
        let now = self.written_lsn.load(Ordering::Acquire);
        let target = if self.current_segment.load(Ordering::Acquire) == segment { now.max(written) } else { written };
        let result = match self.sync_file(file) {
            Ok(()) => {
                self.synced_lsn.fetch_max(target, Ordering::AcqRel);
                self.progress.send_if_modified(|p| {
                    let advanced = target > p.synced_lsn;
                    p.synced_lsn = p.synced_lsn.max(target);
                    advanced
                });
                Ok(())
            }
            Err(e) => Err(self.poison(format!("fsync of WAL segment {} failed: {e}", path.display()))),
        };
        *self.syncing.lock() = false;
        self.sync_done.notify_all();
        result
    }

    /// fsyncs the active segment, then creates and switches to the next one;
    /// called holding the log lock with nothing buffered ahead of the switch.
    fn rotate_segment(&self, st: &mut Log) -> Result<(), WalError> {
        if let Err(e) = st.segment.trim() {
            return Err(self.poison(format!("trimming WAL segment {} failed: {e}", st.segment.path.display())));
        }
        self.sync_active(st)?;
        let number = st.segment.number + 1;
        let segment =
            self.faults.check_space().map_err(|e| io_err(&segment_path(&self.dir, number), e)).and_then(|()| {
                let s = ActiveSegment::create(&self.dir, number, self.opts.segment_bytes_max)?;
                let dup = s.file.try_clone().map_err(|e| io_err(&s.path, e))?;
                Ok((s, dup))
            });
        let (segment, dup) = match segment {
            Ok(s) => s,
            Err(e) if is_disk_full_err(&e) => return Err(self.set_stall(format!("cannot start segment: {e}"))),
            Err(e) => return Err(self.poison(format!("cannot start segment: {e}"))),
        };
        st.segment = segment;
        st.sync_file = Arc::new(dup);
        self.size_bytes.fetch_add(SEGMENT_HEADER_BYTES, Ordering::Relaxed);
        self.current_segment.store(number, Ordering::Release);
        tracing::info!(dir = %self.dir.display(), segment = number, "WAL rotated");
        Ok(())
    }

    /// The background thread: under `Always` it fsyncs whenever a waiter
    /// asks (one fsync at a time, each for everything written by then, so
    /// the worker threads go on serving and writing the next group
    /// meanwhile); under every policy, about once per interval, it writes
    /// what is still buffered and (unless the policy is `No`) fsyncs through
    /// the duplicate handle, outside the log lock.
    fn run_flusher(self: Arc<Self>) {
        let _guard = PoisonOnPanic(self.clone());
        let interval = Duration::from_millis(EVERYSEC_INTERVAL_MS);
        let mut last = Instant::now();
        loop {
            let asked = {
                let mut orders = self.flusher.lock();
                let deadline = last + interval;
                loop {
                    if orders.stop {
                        return;
                    }
                    let asked = orders.sync_wanted > self.synced_lsn.load(Ordering::Acquire);
                    if asked || Instant::now() >= deadline {
                        break asked;
                    }
                    self.flusher_wake.wait_until(&mut orders, deadline);
                }
            };
            last = Instant::now();
            if self.poison.get().is_some() {
                return;
            }
            // (Test hook: the periodic work only; an fsync a waiter asked
            // for still happens.)
            if !asked && self.faults.flusher_paused.load(Ordering::SeqCst) {
                continue;
            }
            let (file, number, path, written) = {
                let mut st = self.log.lock();
                // A full disk or a failure is reported to the records' waiters.
                let _ = self.write_out(&mut st, false);
                let written = self.written_lsn.load(Ordering::Acquire);
                (st.sync_file.clone(), st.segment.number, st.segment.path.clone(), written)
            };
            if self.opts.fsync != FsyncPolicy::No && self.sync_through(&file, number, &path, written).is_err() {
                return;
            }
        }
    }

    /// Close: refuse appends, stop the background thread, write and fsync.
    fn close(&self, flusher: Option<JoinHandle<()>>) -> Result<(), WalError> {
        let first = !std::mem::replace(&mut self.log.lock().closed, true);
        self.flusher.lock().stop = true;
        self.flusher_wake.notify_all();
        if let Some(handle) = flusher {
            if handle.join().is_err() {
                tracing::error!("WAL background thread panicked");
            }
        }
        if first && self.poison.get().is_none() {
            let mut st = self.log.lock();
            let _ = self.write_out(&mut st, true);
            if !st.ends.is_empty() {
                tracing::error!(
                    dir = %self.dir.display(),
                    records = st.ends.len(),
                    "WAL closed with records still unwritten: the disk is full (they were never acknowledged)"
                );
            }
            if let Err(e) = st.segment.trim() {
                self.poison(format!("trimming WAL segment {} failed: {e}", st.segment.path.display()));
            }
            if self.sync_active(&mut st).is_ok() {
                tracing::info!(dir = %self.dir.display(), lsn = self.synced_lsn.load(Ordering::Acquire), "WAL closed");
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

/// Poisons the log if the background thread panics, so no write is
/// acknowledged by a log whose state is unknown.
struct PoisonOnPanic(Arc<Shared>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison("the WAL background thread panicked".to_string());
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

// ---------------------------------------------------------------------------
// The active segment
// ---------------------------------------------------------------------------

struct ActiveSegment {
    number: u64,
    path: PathBuf,
    file: File,
    len_bytes: u64,
}

impl ActiveSegment {
    /// Creates segment `number` (it must not exist), writes its header,
    /// reserves `reserve_bytes` for it ([`preallocate`]), fsyncs it, then
    /// fsyncs the directory so the file itself survives a crash.
    fn create(dir: &Path, number: u64, reserve_bytes: u64) -> Result<ActiveSegment, WalError> {
        let path = segment_path(dir, number);
        let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| io_err(&path, e))?;
        let written = file
            .write_all(&segment_header())
            .map(|()| preallocate(&file, reserve_bytes))
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err(&path, e));
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

    /// Gives back the space reserved past the last record, so that only the
    /// segment being written when the server crashed ever ends in it.
    fn trim(&mut self) -> io::Result<()> {
        self.file.set_len(self.len_bytes)
    }
}

/// Reserves the segment's space up front (`fallocate`, which also sets the
/// file's size), so that a write into it does not grow the file: an fsync
/// after each write then need not also commit a new file size to the
/// journal. On this machine's ext4 that takes write + `fdatasync` of 100
/// bytes from 170 µs to 105 µs, and `appendfsync always` is bound by it. The
/// reserved space reads as zeros; recovery treats zeros after the last record
/// of the last segment as its end (see [`cut_torn_tail`]), and rotation and
/// close trim it. Best effort: where the filesystem cannot (or the disk has
/// no room for the whole segment) the segment simply grows as it is written.
/// Skipped on tmpfs, where an fsync costs nothing and reserving would take
/// the whole segment's size in memory at once.
fn preallocate(file: &File, bytes: u64) {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(bytes) else { return };
    // SAFETY: fstatfs fills the struct it is given; the descriptor is borrowed.
    let on_tmpfs = unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &mut fs) == 0 && fs.f_type == libc::TMPFS_MAGIC
    };
    if len > SEGMENT_HEADER_BYTES as libc::off_t && !on_tmpfs {
        // SAFETY: a plain system call on a descriptor this function borrows.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
        if rc != 0 {
            tracing::debug!(error = %io::Error::last_os_error(), "WAL segment not preallocated");
        }
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
    /// Zero bytes cut from the end of the last segment: space reserved for it
    /// that no append reached before a crash (not damage).
    pub preallocated_bytes_trimmed: u64,
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
            SegmentEnd::Torn { offset, len_bytes, zeros } => {
                cut_torn_tail(&path, offset, len_bytes, zeros, &mut report)?;
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
    /// `zeros`: everything cut is zero (reserved space, not damage).
    Torn {
        offset: u64,
        len_bytes: u64,
        zeros: bool,
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
            return Ok(SegmentEnd::Torn { offset: 0, len_bytes, zeros: false });
        }
        // Nothing but zeros: a segment whose space was reserved but whose
        // header never reached the disk (a crash during its creation, on a
        // file system that persisted the reservation first).
        if is_last && zeros_from(path, 0)? {
            let len_bytes = reader.len_bytes;
            return Ok(SegmentEnd::Torn { offset: 0, len_bytes, zeros: true });
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
                // Zeros to the end: reserved space no append reached, where
                // the last segment ends after a crash. No need to look for
                // records hiding after it.
                if is_last && maybe_torn && zeros_from(path, offset)? {
                    let len_bytes = reader.len_bytes;
                    return Ok(SegmentEnd::Torn { offset, len_bytes, zeros: true });
                }
                let resync = reader.scan_for_record(offset + 1, report.last_lsn.0)?;
                if is_last && maybe_torn && resync.is_none() {
                    let len_bytes = reader.len_bytes;
                    return Ok(SegmentEnd::Torn { offset, len_bytes, zeros: false });
                }
                return Ok(SegmentEnd::Corrupt { offset, reason, resync });
            }
        }
    }
}

fn cut_torn_tail(
    path: &Path,
    offset: u64,
    len_bytes: u64,
    zeros: bool,
    report: &mut ReplayReport,
) -> Result<(), WalError> {
    let cut_bytes = len_bytes - offset;
    if zeros {
        // The space `preallocate` reserved and no append reached: the log
        // simply ends here (a crash before the segment was trimmed).
        report.preallocated_bytes_trimmed = cut_bytes;
        if offset < SEGMENT_HEADER_BYTES {
            fs::remove_file(path).map_err(|e| io_err(path, e))?;
            fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
        } else {
            truncate_file(path, offset)?;
        }
        tracing::info!(file = %path.display(), offset, bytes = cut_bytes, "WAL segment's unused preallocated space trimmed");
        return Ok(());
    }
    let torn_bytes = cut_bytes;
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

/// Whether every byte of `path` from `offset` on is zero.
fn zeros_from(path: &Path, offset: u64) -> Result<bool, WalError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut reader = BufReader::with_capacity(SCAN_CHUNK_BYTES, file);
    reader.seek(SeekFrom::Start(offset)).map_err(|e| io_err(path, e))?;
    let mut chunk = vec![0u8; SCAN_CHUNK_BYTES];
    let zeros = vec![0u8; SCAN_CHUNK_BYTES];
    loop {
        match reader.read(&mut chunk).map_err(|e| io_err(path, e))? {
            0 => return Ok(true),
            // A slice comparison is one memcmp, quick even unoptimised.
            n if chunk[..n] != zeros[..n] => return Ok(false),
            _ => {}
        }
    }
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
        assert!(validate_options(&opts).is_ok());
    }
}
