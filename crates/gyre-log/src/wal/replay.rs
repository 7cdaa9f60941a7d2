//! Recovery: [`replay`] reads the log back, hands every valid record to the
//! caller in LSN order, and decides what damage means.
//!
//! What it is: segments from the snapshot's first one on are read in number
//! order and every record is checked again. A *torn tail* (an incomplete or
//! checksum-failing record at the very end of the last segment, with no valid
//! record after it: a crash mid-append) is cut off the file; zeros after the
//! last record are reserved space no append reached, trimmed and not counted
//! as damage. Anything else (bad magic or version, a missing segment number,
//! a bad record followed by a valid one, LSNs going backwards) is corruption:
//! an error naming the file and byte offset, or, when the caller asks
//! (`truncate_corrupt`), a cut of the log there with the records it drops
//! counted.
//!
//! Invariants: only the last segment can have a torn tail (a segment is
//! fsynced before the next is created). Every cut is fsynced (the file, or
//! the directory for a removed segment) before recovery returns, and the last
//! segment is fsynced, so everything replayed is on stable storage.
//!
//! Limits: one record in memory at a time. With `EverySec` or `No`, a power
//! loss can leave a damaged record followed by valid ones in the last
//! segment; that is indistinguishable from corruption and stops recovery.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::segment::{fsync_dir, list_segments, segment_path, SegmentReader, Step, SCAN_CHUNK_BYTES};
use super::{io_err, Lsn, WalError, BATCH_BYTES_MAX, SEGMENT_HEADER_BYTES};

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
/// Reads the records of a log that may be live (being appended to), with
/// LSNs in (`after`, `upto`], in order, calling `f(lsn, payload)`, and
/// changes nothing: a record past the end of what was written ends the
/// read. Returns `false` when the log does not hold every record of that
/// range (the first one is gone with segments removed after a snapshot, or
/// the log ends before `upto`), or `after` is past `upto`. For hinted handoff: what a replica missed
/// since `after`, read back from the log (`upto` must be written out).
pub fn read_range(dir: &Path, after: Lsn, upto: Lsn, mut f: impl FnMut(Lsn, &[u8])) -> Result<bool, WalError> {
    if upto <= after {
        // Nothing after `after`; a mark past the end is of another log.
        return Ok(upto == after);
    }
    let mut payload = Vec::new();
    let mut prev = 0u64;
    for number in list_segments(dir)? {
        let mut reader = SegmentReader::open(&segment_path(dir, number))?;
        if reader.read_header()?.is_err() {
            return Ok(false);
        }
        loop {
            match reader.next_record(prev, &mut payload)? {
                Step::Record { lsn } => {
                    // The first record held must follow `after` at once.
                    if prev == 0 && lsn > after.0 + 1 {
                        return Ok(false);
                    }
                    if lsn > upto.0 {
                        return Ok(true);
                    }
                    prev = lsn;
                    if lsn > after.0 {
                        f(Lsn(lsn), &payload);
                    }
                }
                Step::End => break,
                // The end of what was written (or damage): enough if the
                // range was read whole.
                Step::Bad { .. } => return Ok(prev >= upto.0),
            }
        }
    }
    Ok(prev >= upto.0)
}

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
