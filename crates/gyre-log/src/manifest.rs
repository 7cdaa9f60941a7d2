//! The manifest: the small file that says where recovery starts.
//!
//! What it is: `dir/MANIFEST` lists the snapshots recovery may start from,
//! newest first, each with the first WAL segment that must be replayed after
//! loading it and when it started, plus the highest LSN written when the
//! newest was taken. Recovery loads the newest snapshot that is intact and
//! falls back to an older one (and more of the log) when it is not; the
//! caller keeps every segment the oldest listed snapshot needs. It is replaced
//! atomically (temp file, fsync, rename, fsync the directory), so a crash
//! leaves either the old or the new manifest, never a mix. Order of
//! operations for the caller: write the snapshot, then the manifest naming
//! it, and only then delete the snapshots and segments it no longer lists.
//!
//! It also holds the node's identity: a 160-bit id made at the first start
//! and never changed by a restart (the cluster names nodes by it).
//!
//! Format, version 3 (little-endian):
//!
//! ```text
//! magic "GYREMANI" (8) | u32 format version | u32 snapshot count | u64 last lsn
//! | node id (20)
//! | count x (u64 snapshot id | u64 wal first segment | u64 snapshot unix ms)
//! | u32 crc32c of everything before
//! ```
//!
//! Versions 1 (one optional snapshot, no LSN) and 2 (no node id) are still
//! read; their node id reads as all zeros (none yet). The magic and
//! version are the stable prefix; a reader rejects a version it does not know
//! rather than guessing. Reads are bounded: a file larger than
//! [`MANIFEST_BYTES_MAX`] is corrupt, not read, and a manifest lists at most
//! [`MANIFEST_SNAPSHOTS_MAX`] snapshots.
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
/// The format version this build writes; it reads 1 to 3.
pub const MANIFEST_VERSION: u32 = 3;
/// Bytes of a node id (40 hex characters).
pub const NODE_ID_BYTES: usize = 20;
/// Size of a version-1 manifest.
const MANIFEST_V1_BYTES: usize = 8 + 4 + 4 + 8 + 8 + 8 + 4;
/// Fixed part of a version-2 manifest (header, last LSN, checksum).
const MANIFEST_V2_FIXED_BYTES: usize = 8 + 4 + 4 + 8 + 4;
const SNAPSHOT_REF_BYTES: usize = 24;
/// Fixed part of a version-3 manifest (version 2's plus the node id).
const MANIFEST_V3_FIXED_BYTES: usize = MANIFEST_V2_FIXED_BYTES + NODE_ID_BYTES;
/// Most snapshots one manifest lists.
pub const MANIFEST_SNAPSHOTS_MAX: usize = 128;
/// No manifest may be larger than this; a bigger file is corrupt.
pub const MANIFEST_BYTES_MAX: u64 = 4096;
const V1_FLAG_HAS_SNAPSHOT: u32 = 1;

/// One snapshot recovery may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRef {
    pub id: u64,
    /// First WAL segment recovery must replay after loading this snapshot.
    pub wal_first_segment: u64,
    /// When the snapshot started (Unix ms).
    pub unix_ms: u64,
}

/// Where recovery starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Snapshots recovery may start from, newest first; empty before the
    /// first snapshot (then recovery replays the whole log).
    pub snapshots: Vec<SnapshotRef>,
    /// The highest LSN written when the newest snapshot was taken: the log
    /// continues above it even if every later record was compacted away, so
    /// an LSN is never handed out twice.
    pub last_lsn: u64,
    /// The node's persistent id; all zeros until one is made.
    pub node_id: [u8; NODE_ID_BYTES],
}

impl Manifest {
    /// The newest snapshot, if any.
    pub fn newest(&self) -> Option<&SnapshotRef> {
        self.snapshots.first()
    }

    /// The first WAL segment any listed snapshot needs: compaction keeps it
    /// and every later one (0 = keep all).
    pub fn first_segment_needed(&self) -> u64 {
        self.snapshots.iter().map(|s| s.wal_first_segment).min().unwrap_or(0)
    }

    /// This manifest with `snap` as the newest snapshot, keeping at most
    /// `keep` snapshots in all (at least 1).
    pub fn with_snapshot(&self, snap: SnapshotRef, last_lsn: u64, keep: usize) -> Manifest {
        let mut snapshots = Vec::with_capacity(keep);
        snapshots.push(snap);
        snapshots.extend(self.snapshots.iter().copied());
        snapshots.truncate(keep.clamp(1, MANIFEST_SNAPSHOTS_MAX));
        Manifest { snapshots, last_lsn: self.last_lsn.max(last_lsn), node_id: self.node_id }
    }
}

/// Why the manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest I/O error on {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("manifest {} is corrupt: {reason}", .path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "manifest {} has format version {version}; this build reads versions 1 to {MANIFEST_VERSION}",
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
    let mut bytes = Vec::with_capacity(MANIFEST_V1_BYTES);
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
    let fixed = if version == 3 { MANIFEST_V3_FIXED_BYTES } else { MANIFEST_V2_FIXED_BYTES };
    let expected_len = match version {
        1 => MANIFEST_V1_BYTES,
        2 | 3 if b.len() >= 16 => {
            let count = u32_at(12) as usize;
            if count > MANIFEST_SNAPSHOTS_MAX {
                return Err(corrupt(path, format!("lists {count} snapshots (at most {MANIFEST_SNAPSHOTS_MAX})")));
            }
            fixed + count * SNAPSHOT_REF_BYTES
        }
        2 | 3 => fixed,
        _ => return Err(ManifestError::UnsupportedVersion { path: path.to_path_buf(), version }),
    };
    if b.len() != expected_len {
        return Err(corrupt(path, format!("{} bytes, expected {expected_len}", b.len())));
    }
    let stored = u32_at(expected_len - 4);
    let actual = crc32c::crc32c(&b[..expected_len - 4]);
    if stored != actual {
        return Err(corrupt(path, format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})")));
    }
    if version == 1 {
        let flags = u32_at(12);
        if flags & !V1_FLAG_HAS_SNAPSHOT != 0 {
            return Err(corrupt(path, format!("unknown flags {flags:#x}")));
        }
        let snap = SnapshotRef { id: u64_at(16), wal_first_segment: u64_at(24), unix_ms: u64_at(32) };
        let snapshots = if flags & V1_FLAG_HAS_SNAPSHOT != 0 { vec![snap] } else { Vec::new() };
        return Ok(Manifest { snapshots, last_lsn: 0, node_id: [0; NODE_ID_BYTES] });
    }
    let mut node_id = [0; NODE_ID_BYTES];
    let refs_at = if version == 3 {
        node_id.copy_from_slice(&b[24..24 + NODE_ID_BYTES]);
        24 + NODE_ID_BYTES
    } else {
        24
    };
    let count = u32_at(12) as usize;
    let snapshots = (0..count)
        .map(|i| {
            let at = refs_at + i * SNAPSHOT_REF_BYTES;
            SnapshotRef { id: u64_at(at), wal_first_segment: u64_at(at + 8), unix_ms: u64_at(at + 16) }
        })
        .collect();
    Ok(Manifest { snapshots, last_lsn: u64_at(16), node_id })
}

fn encode(m: &Manifest) -> Vec<u8> {
    assert!(m.snapshots.len() <= MANIFEST_SNAPSHOTS_MAX, "too many snapshots in a manifest");
    let mut b = Vec::with_capacity(MANIFEST_V3_FIXED_BYTES + m.snapshots.len() * SNAPSHOT_REF_BYTES);
    b.extend_from_slice(MANIFEST_MAGIC);
    codec::put_u32(&mut b, MANIFEST_VERSION);
    codec::put_u32(&mut b, m.snapshots.len() as u32);
    codec::put_u64(&mut b, m.last_lsn);
    b.extend_from_slice(&m.node_id);
    for s in &m.snapshots {
        codec::put_u64(&mut b, s.id);
        codec::put_u64(&mut b, s.wal_first_segment);
        codec::put_u64(&mut b, s.unix_ms);
    }
    let crc = crc32c::crc32c(&b);
    codec::put_u32(&mut b, crc);
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

    fn snap(id: u64) -> SnapshotRef {
        SnapshotRef { id, wal_first_segment: id * 10, unix_ms: 1_700_000_000_000 + id }
    }

    #[test]
    fn encoding_round_trips_with_none_one_and_many_snapshots() {
        let p = Path::new("/d/MANIFEST");
        for m in [
            Manifest::default(),
            Manifest { snapshots: vec![snap(7)], last_lsn: 99, node_id: [7; NODE_ID_BYTES] },
            Manifest {
                snapshots: (1..=MANIFEST_SNAPSHOTS_MAX as u64).rev().map(snap).collect(),
                last_lsn: 5,
                node_id: [0xab; NODE_ID_BYTES],
            },
        ] {
            let bytes = encode(&m);
            assert!(bytes.len() as u64 <= MANIFEST_BYTES_MAX);
            assert_eq!(decode(p, &bytes).unwrap(), m);
        }
    }

    #[test]
    fn version_1_manifests_are_still_read() {
        let mut b = Vec::new();
        b.extend_from_slice(MANIFEST_MAGIC);
        codec::put_u32(&mut b, 1);
        codec::put_u32(&mut b, V1_FLAG_HAS_SNAPSHOT);
        for v in [7u64, 3, 99] {
            codec::put_u64(&mut b, v);
        }
        let crc = crc32c::crc32c(&b);
        codec::put_u32(&mut b, crc);
        let m = decode(Path::new("M"), &b).unwrap();
        assert_eq!(
            m,
            Manifest {
                snapshots: vec![SnapshotRef { id: 7, wal_first_segment: 3, unix_ms: 99 }],
                last_lsn: 0,
                node_id: [0; NODE_ID_BYTES]
            }
        );
    }

    #[test]
    fn version_2_manifests_are_still_read_without_a_node_id() {
        let mut b = Vec::new();
        b.extend_from_slice(MANIFEST_MAGIC);
        codec::put_u32(&mut b, 2);
        codec::put_u32(&mut b, 1);
        codec::put_u64(&mut b, 42);
        for v in [7u64, 3, 99] {
            codec::put_u64(&mut b, v);
        }
        let crc = crc32c::crc32c(&b);
        codec::put_u32(&mut b, crc);
        let m = decode(Path::new("M"), &b).unwrap();
        assert_eq!(m.snapshots, vec![SnapshotRef { id: 7, wal_first_segment: 3, unix_ms: 99 }]);
        assert_eq!((m.last_lsn, m.node_id), (42, [0; NODE_ID_BYTES]));
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let good = encode(&Manifest { snapshots: vec![snap(7), snap(6)], last_lsn: 42, node_id: [1; NODE_ID_BYTES] });
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(decode(Path::new("M"), &bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn a_new_snapshot_goes_first_and_the_oldest_beyond_retention_drops() {
        let m = Manifest::default().with_snapshot(snap(1), 10, 2).with_snapshot(snap(2), 20, 2);
        assert_eq!(m.snapshots, vec![snap(2), snap(1)]);
        assert_eq!(m.first_segment_needed(), 10);
        let m = m.with_snapshot(snap(3), 15, 2);
        assert_eq!(m.snapshots, vec![snap(3), snap(2)]);
        assert_eq!((m.first_segment_needed(), m.last_lsn), (20, 20), "the LSN never goes back");
        assert_eq!(m.with_snapshot(snap(4), 0, 0).snapshots, vec![snap(4)], "keep is at least 1");
    }
}
