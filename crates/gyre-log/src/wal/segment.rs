//! Segment files: their names, the segment header and the record header, the
//! segment being appended to, and the reader that checks records again.
//!
//! What it is: a segment is `wal-{segment:016}.log`, a header (magic
//! [`SEGMENT_MAGIC`], u32 [`FORMAT_VERSION`]) and then records, each a
//! header (u32 payload length, u32 crc32c of the LSN bytes and the payload,
//! u64 LSN) followed by its payload, integers little-endian.
//! [`ActiveSegment`] is the file the appender writes; [`SegmentReader`] reads
//! one back for recovery, a record at a time.
//!
//! Invariants: a segment is created new, its header written, its space
//! reserved ([`preallocate`]), the file fsynced and then the directory, so a
//! segment that exists after a crash has its header unless the crash hit its
//! creation; a half-made segment is removed again. `ActiveSegment::len_bytes`
//! is where its last whole record ends; reserved space past it reads as zeros
//! and is trimmed at rotation and close. Every record read is checked again
//! (length limit, end of file, CRC, LSN order); a declared length above
//! [`RECORD_PAYLOAD_BYTES_MAX`] is damage, never an allocation.
//!
//! Limits: the reader holds one record in memory at a time; the scan for a
//! valid record after damage reads [`SCAN_CHUNK_BYTES`] at a time and accepts
//! only LSNs within [`RESYNC_LSN_WINDOW`] of the last good one. What damage
//! means (torn tail or corruption) is decided by recovery, not here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{
    io_err, WalError, FORMAT_VERSION, RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES,
    SEGMENT_MAGIC,
};

/// How far past the last good LSN the resynchronising scan looks for the next
/// valid record (after a bad one) when deciding "torn tail or corruption".
const RESYNC_LSN_WINDOW: u64 = 1 << 32;
/// Chunk size of that scan, and of recovery's check for zeros.
pub(super) const SCAN_CHUNK_BYTES: usize = 1 << 20;

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

pub(super) fn fsync_dir(dir: &Path) -> Result<(), WalError> {
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
pub(super) fn record_header(lsn: u64, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES as usize] {
    let lsn_bytes = lsn.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&lsn_bytes), payload);
    let mut header = [0u8; RECORD_HEADER_BYTES as usize];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8..16].copy_from_slice(&lsn_bytes);
    header
}

// ---------------------------------------------------------------------------
// The active segment
// ---------------------------------------------------------------------------

pub(super) struct ActiveSegment {
    pub(super) number: u64,
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) len_bytes: u64,
}

impl ActiveSegment {
    /// Creates segment `number` (it must not exist), writes its header,
    /// reserves `reserve_bytes` for it ([`preallocate`]), fsyncs it, then
    /// fsyncs the directory so the file itself survives a crash.
    pub(super) fn create(dir: &Path, number: u64, reserve_bytes: u64) -> Result<ActiveSegment, WalError> {
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

    pub(super) fn has_records(&self) -> bool {
        self.len_bytes > SEGMENT_HEADER_BYTES
    }

    /// Gives back the space reserved past the last record, so that only the
    /// segment being written when the server crashed ever ends in it.
    pub(super) fn trim(&mut self) -> io::Result<()> {
        self.file.set_len(self.len_bytes)
    }
}

/// Reserves the segment's space up front (`fallocate`, which also sets the
/// file's size), so that a write into it does not grow the file: an fsync
/// after each write then need not also commit a new file size to the
/// journal. On this machine's ext4 that takes write + `fdatasync` of 100
/// bytes from 170 µs to 105 µs, and `appendfsync always` is bound by it. The
/// reserved space reads as zeros; recovery treats zeros after the last record
/// of the last segment as its end (see `cut_torn_tail` in `replay.rs`), and
/// rotation and close trim it. Best effort: where the filesystem cannot (or
/// the disk has no room for the whole segment) the segment simply grows as it
/// is written. Skipped on tmpfs, where an fsync costs nothing and reserving
/// would take the whole segment's size in memory at once.
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
// The segment reader
// ---------------------------------------------------------------------------

pub(super) enum Step {
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

pub(super) struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    pub(super) len_bytes: u64,
    pub(super) pos: u64,
    /// Whether the bytes read as header are a prefix of a valid header.
    pub(super) header_prefix_ok: bool,
}

impl SegmentReader {
    pub(super) fn open(path: &Path) -> Result<SegmentReader, WalError> {
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

    pub(super) fn seek(&mut self, pos: u64) -> Result<(), WalError> {
        self.reader.seek(SeekFrom::Start(pos)).map_err(|e| io_err(&self.path, e))?;
        self.pos = pos;
        Ok(())
    }

    /// `Ok(Err((offset, reason)))` for a bad header.
    pub(super) fn read_header(&mut self) -> Result<Result<(), (u64, String)>, WalError> {
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
    pub(super) fn next_record(&mut self, prev_lsn: u64, payload: &mut Vec<u8>) -> Result<Step, WalError> {
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
    pub(super) fn scan_for_record(&self, from: u64, prev_lsn: u64) -> Result<Option<u64>, WalError> {
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
}
