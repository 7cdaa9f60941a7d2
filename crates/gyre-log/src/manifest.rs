//! The manifest: the small file that says where recovery starts.
//!
//! What it is: `dir/MANIFEST` names the newest complete snapshot, the first WAL
//! segment recovery must replay after loading it, and when that snapshot
//! started. It is replaced atomically (temp file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new manifest, never a
//! mix. Order of operations for the caller: write the snapshot, then the
//! manifest naming it, and only then delete older snapshots and segments.
//!
//! Format, version 1 (little-endian, [`MANIFEST_BYTES`] bytes):
//!
//! ```text
//! magic "GYREMANI" (8) | u32 format version | u32 flags (bit 0: has snapshot)
//! | u64 snapshot id | u64 wal first segment | u64 snapshot unix ms
//! | u32 crc32c of everything before
//! ```
//!
//! The magic and version are the stable prefix; a reader rejects a version it
//! does not know rather than guessing. Reads are bounded: a file larger than
//! [`MANIFEST_BYTES_MAX`] is corrupt, not read.
//!
//! Errors: [`ManifestError`], its own type (a manifest has no offsets worth
//! reporting beyond "which file").

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gyre_engine::codec;
use tracing::debug;

use crate::snapshot::sync_dir;

/// The manifest's file name inside the data directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
const MANIFEST_TEMP_FILE: &str = "MANIFEST.tmp";
pub const MANIFEST_MAGIC: &[u8; 8] = b"GYREMANI";
pub const MANIFEST_VERSION: u32 = 1;
/// Size of a version-1 manifest.
pub const MANIFEST_BYTES: usize = 8 + 4 + 4 + 8 + 8 + 8 + 4;
/// No manifest version may be larger than this; a bigger file is corrupt.
pub const MANIFEST_BYTES_MAX: u64 = 4096;
const FLAG_HAS_SNAPSHOT: u32 = 1;

/// Where recovery starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The newest complete snapshot, if any.
    pub snapshot_id: Option<u64>,
    /// First WAL segment recovery must replay after loading that snapshot.
    pub wal_first_segment: u64,
    /// When that snapshot started (Unix ms).
    pub snapshot_unix_ms: u64,
}

/// Why the manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest I/O error on {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("manifest {} is corrupt: {reason}", .path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "manifest {} has format version {version}; this build reads version {MANIFEST_VERSION}",
        .path.display()
    )]
    UnsupportedVersion { path: PathBuf, version: u32 },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ManifestError {
    ManifestError::Corrupt { path: path.to_path_buf(), reason: reason.into() }
}

/// The path of the manifest in `dir`.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// Reads `dir/MANIFEST`; Ok(None) when there is none (a fresh directory, or
/// no directory at all). A corrupt manifest (checksum) is an error naming the
/// file.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
    let path = manifest_path(dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut bytes = Vec::with_capacity(MANIFEST_BYTES);
    // One byte past the bound tells "too large" from "exactly at the bound".
    file.take(MANIFEST_BYTES_MAX + 1).read_to_end(&mut bytes).map_err(io_err(&path))?;
    if bytes.len() as u64 > MANIFEST_BYTES_MAX {
        return Err(corrupt(&path, format!("larger than {MANIFEST_BYTES_MAX} bytes")));
    }
    decode(&path, &bytes).map(Some)
}

fn decode(path: &Path, b: &[u8]) -> Result<Manifest, ManifestError> {
    if b.len() < 12 || &b[..8] != MANIFEST_MAGIC {
        return Err(corrupt(path, "bad magic: not a Gyre manifest"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != MANIFEST_VERSION {
        return Err(ManifestError::UnsupportedVersion { path: path.to_path_buf(), version });
    }
    if b.len() != MANIFEST_BYTES {
        return Err(corrupt(path, format!("{} bytes, expected {MANIFEST_BYTES}", b.len())));
    }
    let stored = u32_at(MANIFEST_BYTES - 4);
    let actual = crc32c::crc32c(&b[..MANIFEST_BYTES - 4]);
    if stored != actual {
        return Err(corrupt(path, format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})")));
    }
    let flags = u32_at(12);
    if flags & !FLAG_HAS_SNAPSHOT != 0 {
        return Err(corrupt(path, format!("unknown flags {flags:#x}")));
    }
    Ok(Manifest {
        snapshot_id: (flags & FLAG_HAS_SNAPSHOT != 0).then(|| u64_at(16)),
        wal_first_segment: u64_at(24),
        snapshot_unix_ms: u64_at(32),
    })
}

fn encode(m: &Manifest) -> Vec<u8> {
    let mut b = Vec::with_capacity(MANIFEST_BYTES);
    b.extend_from_slice(MANIFEST_MAGIC);
    codec::put_u32(&mut b, MANIFEST_VERSION);
    codec::put_u32(&mut b, if m.snapshot_id.is_some() { FLAG_HAS_SNAPSHOT } else { 0 });
    codec::put_u64(&mut b, m.snapshot_id.unwrap_or(0));
    codec::put_u64(&mut b, m.wal_first_segment);
    codec::put_u64(&mut b, m.snapshot_unix_ms);
    let crc = crc32c::crc32c(&b);
    codec::put_u32(&mut b, crc);
    assert_eq!(b.len(), MANIFEST_BYTES);
    b
}

/// Writes the manifest atomically: temp file, checksum, fsync, rename, fsync
/// the directory. `dir` must exist. When this returns Ok the new manifest is
/// durable; on error the old one (if any) is still in place.
pub fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), ManifestError> {
    let tmp = dir.join(MANIFEST_TEMP_FILE);
    let path = manifest_path(dir);
    let written = write_temp(&tmp, &encode(m)).and_then(|()| fs::rename(&tmp, &path).map_err(io_err(&path)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir).map_err(io_err(dir))?;
    debug!(path = %path.display(), ?m, "manifest written");
    Ok(())
}

fn write_temp(tmp: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(tmp).map_err(io_err(tmp))?;
    f.write_all(bytes).map_err(io_err(tmp))?;
    f.sync_all().map_err(io_err(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_with_and_without_a_snapshot() {
        let p = Path::new("/d/MANIFEST");
        for m in [
            Manifest { snapshot_id: Some(7), wal_first_segment: 3, snapshot_unix_ms: 1_700_000_000_000 },
            Manifest { snapshot_id: None, wal_first_segment: 0, snapshot_unix_ms: 0 },
        ] {
            assert_eq!(decode(p, &encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let m = Manifest { snapshot_id: Some(7), wal_first_segment: 3, snapshot_unix_ms: 99 };
        let good = encode(&m);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(decode(Path::new("M"), &bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }
}
