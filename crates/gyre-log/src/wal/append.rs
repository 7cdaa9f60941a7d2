//! The appending side: the buffer that records are copied into, the group
//! `write` and the group fsync, the background thread, and poisoning.
//!
//! What it is: [`Shared`] is the state behind a `Wal`: the active segment
//! and the records not yet written ([`Log`], behind one mutex), and the
//! written / synced LSNs the waiters read. Appending only copies a record
//! into the buffer ([`RecordBuilder`] builds one in place); whoever waits
//! first writes everyone's buffered records with one `write`, rotating at
//! record boundaries. Fsyncs never overlap: a caller that finds one running
//! waits, and then needs its own only if that one did not cover its record.
//! The background thread runs the fsyncs `Always` waiters ask for, and once
//! per [`EVERYSEC_INTERVAL_MS`] writes what is still buffered and (unless the
//! policy is `No`) fsyncs, outside the log lock.
//!
//! Invariants: LSN order is buffer order is file order; the buffer holds
//! whole records only, the last one `next_lsn - 1`. Lock order: `log`, then
//! `syncing`. The current segment number is published before any write to a
//! new segment, so an fsync never claims a later segment's records. A failed
//! write or fsync poisons the log for good, and a failed fsync is never
//! retried. A full disk instead stalls it: the partial write is cut back so
//! the segment ends at its last whole record, the records stay buffered in
//! LSN order, and writing is retried about every [`STALL_RETRY_MS`] until it
//! succeeds. A panic of the background thread poisons the log.
//!
//! Limits: the buffer is written once it holds [`BATCH_BYTES_MAX`] bytes;
//! payloads above [`COPY_BYTES_MAX`] are written straight from the caller's
//! buffer. [`FaultInjector`] is a test hook, not part of the stable API.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::segment::{record_header, segment_path, ActiveSegment};
use super::{
    io_err, FsyncPolicy, WalError, WalOptions, BATCH_BYTES_MAX, EVERYSEC_INTERVAL_MS, RECORD_HEADER_BYTES,
    RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES, STALL_RETRY_MS,
};

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

pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) opts: WalOptions,
    pub(super) faults: Arc<FaultInjector>,
    pub(super) log: Mutex<Log>,
    /// An fsync is running (see `sync_through`): fsyncs never overlap and
    /// none starts after one has failed. Lock order: `log`, then this.
    pub(super) syncing: Mutex<bool>,
    /// Signalled when an fsync ends.
    pub(super) sync_done: Condvar,
    /// Set once when the log fails.
    pub(super) poison: OnceLock<String>,
    /// Why the log is stalled (disk full); `None` when it is not. Unlike the
    /// poison, this clears when a retry succeeds.
    pub(super) stall: Mutex<Option<String>>,
    /// `stall.is_some()`, readable without the lock on the write path.
    pub(super) stalled: AtomicBool,
    pub(super) written_lsn: AtomicU64,
    pub(super) synced_lsn: AtomicU64,
    pub(super) fsync_count: AtomicU64,
    pub(super) size_bytes: AtomicU64,
    pub(super) current_segment: AtomicU64,
    /// What the background thread is asked to do.
    pub(super) flusher: Mutex<FlusherOrders>,
    pub(super) flusher_wake: Condvar,
    /// Fsync progress, for `Always` waiters (who wait without a thread).
    pub(super) progress: watch::Sender<Progress>,
}

/// What the background thread is asked to do, behind `Shared::flusher`.
#[derive(Default)]
pub(super) struct FlusherOrders {
    /// Highest LSN an `Always` waiter needs fsynced.
    pub(super) sync_wanted: u64,
    stop: bool,
}

/// What `Always` waiters watch.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Progress {
    pub(super) synced_lsn: u64,
    pub(super) poisoned: bool,
    pub(super) closed: bool,
}

/// The active segment and the records not yet written, behind `Shared::log`.
pub(super) struct Log {
    pub(super) segment: ActiveSegment,
    /// A duplicate handle of `segment.file`, to fsync without the lock.
    pub(super) sync_file: Arc<File>,
    pub(super) next_lsn: u64,
    pub(super) closed: bool,
    /// Whole records appended but not yet written, in LSN order; the last is
    /// `next_lsn - 1`.
    pub(super) buf: Vec<u8>,
    /// Where each buffered record ends in `buf`.
    pub(super) ends: Vec<usize>,
    /// When writing after a full disk was last tried.
    pub(super) last_retry: Instant,
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

/// Builds records in the log's buffer under its lock
/// ([`Wal::append_with`](super::Wal::append_with)).
pub struct RecordBuilder<'a> {
    pub(super) st: &'a mut Log,
    /// Where the open record's header starts in the buffer.
    pub(super) start: Option<usize>,
    pub(super) last: Option<u64>,
    pub(super) oversized: Option<u64>,
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
    pub(super) fn finish(&mut self) {
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
pub(super) const COPY_BYTES_MAX: usize = 64 << 10;

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
    pub(super) fn poison(&self, reason: String) -> WalError {
        if self.poison.set(reason.clone()).is_ok() {
            tracing::error!(dir = %self.dir.display(), %reason, "WAL poisoned; refusing further writes");
            self.progress.send_modify(|p| p.poisoned = true);
        }
        self.poisoned_err()
    }

    pub(super) fn poisoned_err(&self) -> WalError {
        match self.poison.get() {
            Some(reason) => WalError::Poisoned(reason.clone()),
            None => WalError::Closed,
        }
    }

    pub(super) fn poison_reason(&self) -> Option<String> {
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

    pub(super) fn stall_reason(&self) -> Option<String> {
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
    pub(super) fn write_out(&self, st: &mut Log, retry_now: bool) -> Result<(), WalError> {
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
    pub(super) fn write_record(&self, st: &mut Log, lsn: u64, header: &[u8], payload: &[u8]) -> Result<(), WalError> {
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
    pub(super) fn rotate_segment(&self, st: &mut Log) -> Result<(), WalError> {
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
    pub(super) fn run_flusher(self: Arc<Self>) {
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
    pub(super) fn close(&self, flusher: Option<JoinHandle<()>>) -> Result<(), WalError> {
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
