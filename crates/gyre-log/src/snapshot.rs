//! Snapshots: a point-in-time-ish copy of the whole keyspace in one file.
//!
//! What it is: [`write_snapshot`] walks the keyspace database by database and
//! shard by shard, holding one shard's lock only while that shard's live
//! entries are serialized into a buffer, so writes to other shards never wait
//! and the extra memory is one shard's worth, not the dataset's. The snapshot
//! is therefore *fuzzy*: each shard is captured at a different instant between
//! the start and the end of the write. Recovery makes it exact by replaying the
//! WAL from the segment that was current when the snapshot *started*
//! (versioned mutations make replaying over newer data harmless).
//! [`load_snapshot`] reads the file on one thread and decodes and inserts
//! blocks on every core.
//!
//! File format, version 3 (all integers little-endian):
//!
//! ```text
//! header   magic "GYRESNAP" (8) | u32 format version | u32 flags (0)
//!          | u64 snapshot id | u64 created unix ms | u32 crc32c of the 32 bytes before
//! blocks   u32 payload len (1..) | u32 crc32c(payload) | payload          (repeated)
//! payload  entries: u16 db | u32 key len | key | u64 expire_at_ms (0 = none)
//!          | u64 version clock | u16 version node tag | u32 value len
//!          | Value::serialize bytes                                   (repeated)
//!          a value len of u32::MAX marks a tombstone (no value bytes: the
//!          key was deleted at `version`), u32::MAX - 1 a database's flush
//!          watermark (empty key: everything older was flushed), u32::MAX - 2
//!          the version of the database's last SWAPDB (empty key)
//! trailer  u32 0 (end of blocks) | u64 keys | u64 blocks | "GYRE_END"
//!          | u32 file crc32c
//! ```
//!
//! The file checksum covers the header, every block's 8-byte header (whose crc
//! covers its payload) and the trailer before the checksum itself, so every
//! byte of the file is covered without hashing payloads twice. The magic and
//! the version are the stable prefix: later versions may change everything
//! after them. Versions 1 (no tombstones) and 2 (versions without a node tag,
//! read as tag 0) are still read. Blocks are cut at the first entry boundary past
//! [`BLOCK_TARGET_BYTES`] and never span two shards; a single entry larger than
//! that is a block on its own.
//!
//! Integrity: every checksum is computed on write and verified on read;
//! truncation is caught before anything is loaded (the trailer must sit at the
//! end of the file), every declared length is bounded by the bytes that
//! actually follow, and an entry must decode exactly. Errors name the file and
//! the byte offset.
//!
//! Limits: one value serializes to at most `u32::MAX` bytes (larger values fail
//! the snapshot with [`SnapshotError::EntryTooLarge`]); load uses at most
//! [`LOAD_THREADS_MAX`] threads and keeps at most two blocks per thread in
//! flight. A corrupt block found mid-load leaves the entries of the blocks
//! before it in the keyspace: the caller discards that keyspace before falling
//! back to an older snapshot.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gyre_engine::codec::{self, Reader};
use gyre_engine::{EncodingConfig, Entry, Keyspace, Shard, Value, Version};
use parking_lot::Mutex;
use tracing::{debug, info};

/// The first eight bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"GYRESNAP";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format version still read.
pub const FORMAT_VERSION_MIN: u32 = 1;
/// Value length marking a tombstone record.
const TOMBSTONE_MARK: u32 = u32::MAX;
/// Value length marking a flush watermark record.
const FLUSHED_MARK: u32 = u32::MAX - 1;
/// Value length marking a database's last-swap record.
const SWAPPED_MARK: u32 = u32::MAX - 2;
/// Blocks are cut at the first entry boundary past this many payload bytes.
pub const BLOCK_TARGET_BYTES: usize = 1 << 20;
/// Upper bound on loader threads, whatever the core count.
pub const LOAD_THREADS_MAX: usize = 64;
/// Blocks read ahead per loader thread (bounds the loader's memory).
pub const LOAD_BLOCKS_IN_FLIGHT_PER_THREAD: usize = 2;
/// `load_snapshot` reports progress each time this many more keys are loaded.
pub const PROGRESS_EVERY_KEYS: u64 = 100_000;
/// A shard buffer larger than this is shrunk back after use, so that one huge
/// shard does not pin its memory for the rest of the snapshot.
const SHARD_BUFFER_RETAIN_BYTES: usize = 8 << 20;

const HEADER_BYTES: u64 = 36;
const BLOCK_HEADER_BYTES: u64 = 8;
const TRAILER_MARKER: &[u8; 8] = b"GYRE_END";
/// u32 end marker, u64 keys, u64 blocks, marker, u32 file crc.
const TRAILER_BYTES: u64 = 4 + 8 + 8 + 8 + 4;
const FILE_PREFIX: &str = "snapshot-";
const FILE_SUFFIX: &str = ".gsnap";
const TEMP_SUFFIX: &str = ".tmp";

/// Why a snapshot could not be written, read or listed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O error on {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("snapshot {} is corrupt at byte offset {offset}: {reason}", .path.display())]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error(
        "snapshot {} has format version {version}; this build reads versions {FORMAT_VERSION_MIN} to {FORMAT_VERSION}",
        .path.display()
    )]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error(
        "cannot snapshot to {}: an entry in database {db} serializes to {bytes} bytes, more than the format's 4 GiB",
        .path.display()
    )]
    EntryTooLarge { path: PathBuf, db: u16, bytes: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt { path: path.to_path_buf(), offset, reason: reason.into() }
}

/// What a snapshot write or load did.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub path: PathBuf,
    /// Entries written or loaded.
    pub keys: u64,
    /// Size of the file.
    pub bytes: u64,
    pub duration: Duration,
}

/// `dir/snapshot-{id:016}.gsnap`.
pub fn snapshot_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}{id:016}{FILE_SUFFIX}"))
}

fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TEMP_SUFFIX);
    PathBuf::from(s)
}

/// Fsyncs a directory so that a create, rename or delete in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------
// Writing

/// Writes a snapshot of `ks` to `dir/snapshot-{id:016}.gsnap` without stopping
/// writes: database by database, shard by shard, each shard locked only while
/// its live entries are serialized into a buffer (the buffer, not the whole
/// dataset, is the extra memory), then written. Writes to a temp file (`.tmp`
/// suffix), CRC32C per block, a trailer with counts and a whole-file checksum,
/// fsync, rename, fsync the directory. `now_ms` decides which entries have
/// expired (skipped). `dir` must exist. On error the temp file is removed and
/// no snapshot file appears.
pub fn write_snapshot(ks: &Keyspace, dir: &Path, id: u64, now_ms: u64) -> Result<SnapshotInfo, SnapshotError> {
    let started = Instant::now();
    let path = snapshot_path(dir, id);
    let tmp = temp_path(&path);
    let written = write_temp(ks, &tmp, id, now_ms).and_then(|counts| {
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(counts)
    });
    let (keys, bytes) = match written {
        Ok(counts) => counts,
        Err(e) => {
            // Best effort: a leftover temp is also removed by remove_old_snapshots.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    sync_dir(dir).map_err(io_err(dir))?;
    let duration = started.elapsed();
    debug!(path = %path.display(), keys, bytes, duration_ms = duration.as_millis() as u64, "snapshot written");
    Ok(SnapshotInfo { path, keys, bytes, duration })
}

/// Writes and fsyncs the whole temp file; returns (keys, file bytes).
fn write_temp(ks: &Keyspace, tmp: &Path, id: u64, now_ms: u64) -> Result<(u64, u64), SnapshotError> {
    let file = OpenOptions::new().write(true).create(true).truncate(true).open(tmp).map_err(io_err(tmp))?;
    let mut out =
        BlockWriter { out: BufWriter::with_capacity(256 << 10, file), path: tmp, offset: 0, crc: 0, blocks: 0 };
    out.header(id, now_ms)?;
    let mut buf = ShardBuffer::default();
    let mut keys = 0u64;
    for db in 0..ks.db_count() {
        let db = u16::try_from(db).expect("database count fits u16");
        for s in 0..ks.db(db).shard_count() {
            let guard = ks.db(db).lock_shard(s);
            let filled = buf.fill(db, &guard, now_ms, tmp);
            drop(guard);
            filled?;
            out.blocks(&buf)?;
            keys += buf.keys;
            buf.release();
        }
    }
    let bytes = out.finish(keys)?;
    Ok((keys, bytes))
}

/// One shard's live entries, serialized, with the block boundaries.
#[derive(Default)]
struct ShardBuffer {
    bytes: Vec<u8>,
    /// End offset (in `bytes`) of each block.
    block_ends: Vec<usize>,
    keys: u64,
}

impl ShardBuffer {
    /// Serializes the live entries of `shard` (called under its lock: no I/O).
    fn fill(&mut self, db: u16, shard: &Shard, now_ms: u64, path: &Path) -> Result<(), SnapshotError> {
        self.bytes.clear();
        self.block_ends.clear();
        self.keys = 0;
        let mut block_start = 0;
        for (key, entry) in shard.iter() {
            if entry.is_expired(now_ms) {
                continue;
            }
            let start = self.bytes.len();
            encode_entry(&mut self.bytes, db, key, entry).map_err(|bytes| SnapshotError::EntryTooLarge {
                path: path.to_path_buf(),
                db,
                bytes,
            })?;
            self.keys += 1;
            if self.bytes.len() - block_start >= BLOCK_TARGET_BYTES {
                // The entry crossing the target ends the block; a block is
                // never empty, and one huge entry is a block by itself.
                if self.bytes.len() - block_start > u32::MAX as usize {
                    return Err(SnapshotError::EntryTooLarge {
                        path: path.to_path_buf(),
                        db,
                        bytes: (self.bytes.len() - start) as u64,
                    });
                }
                self.block_ends.push(self.bytes.len());
                block_start = self.bytes.len();
            }
        }
        // What deletes left behind, so that replaying older mutations
        // after this snapshot cannot bring a deleted key back.
        let flushed = shard.flushed_before();
        if flushed != Version::ZERO {
            encode_mark(&mut self.bytes, db, b"", flushed, FLUSHED_MARK);
        }
        let swapped = shard.swapped_at();
        if swapped != Version::ZERO {
            encode_mark(&mut self.bytes, db, b"", swapped, SWAPPED_MARK);
        }
        for (key, version) in shard.tombstones() {
            encode_mark(&mut self.bytes, db, key, version, TOMBSTONE_MARK);
            if self.bytes.len() - block_start >= BLOCK_TARGET_BYTES {
                self.block_ends.push(self.bytes.len());
                block_start = self.bytes.len();
            }
        }
        if self.bytes.len() > block_start {
            self.block_ends.push(self.bytes.len());
        }
        Ok(())
    }

    fn release(&mut self) {
        if self.bytes.capacity() > SHARD_BUFFER_RETAIN_BYTES {
            self.bytes = Vec::new();
        }
    }
}

/// Appends a tombstone or flush watermark record (keys are bounded by
/// `proto-max-bulk-len`, far below u32::MAX).
fn encode_mark(out: &mut Vec<u8>, db: u16, key: &[u8], version: Version, mark: u32) {
    codec::put_u16(out, db);
    codec::put_u32(out, key.len() as u32);
    out.extend_from_slice(key);
    codec::put_u64(out, 0);
    put_version(out, version);
    codec::put_u32(out, mark);
}

fn put_version(out: &mut Vec<u8>, v: Version) {
    codec::put_u64(out, v.hlc());
    codec::put_u16(out, v.node());
}

/// Appends one entry; `Err(bytes)` when a length does not fit its u32 field.
fn encode_entry(out: &mut Vec<u8>, db: u16, key: &[u8], entry: &Entry) -> Result<(), u64> {
    let key_len = u32::try_from(key.len()).map_err(|_| key.len() as u64)?;
    codec::put_u16(out, db);
    codec::put_u32(out, key_len);
    out.extend_from_slice(key);
    codec::put_u64(out, entry.expire_at_ms);
    put_version(out, entry.version);
    let len_at = out.len();
    codec::put_u32(out, 0);
    entry.value.serialize(out);
    let value_len = out.len() - len_at - 4;
    let value_len = u32::try_from(value_len).ok().filter(|n| *n < SWAPPED_MARK).ok_or(value_len as u64)?;
    out[len_at..len_at + 4].copy_from_slice(&value_len.to_le_bytes());
    Ok(())
}

/// The temp file being written, with the running file checksum.
struct BlockWriter<'a> {
    out: BufWriter<File>,
    path: &'a Path,
    offset: u64,
    /// crc32c of the header, block headers and trailer written so far.
    crc: u32,
    blocks: u64,
}

impl BlockWriter<'_> {
    fn put(&mut self, bytes: &[u8], in_file_crc: bool) -> Result<(), SnapshotError> {
        self.out.write_all(bytes).map_err(io_err(self.path))?;
        if in_file_crc {
            self.crc = crc32c::crc32c_append(self.crc, bytes);
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn header(&mut self, id: u64, now_ms: u64) -> Result<(), SnapshotError> {
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.extend_from_slice(MAGIC);
        codec::put_u32(&mut h, FORMAT_VERSION);
        codec::put_u32(&mut h, 0);
        codec::put_u64(&mut h, id);
        codec::put_u64(&mut h, now_ms);
        let crc = crc32c::crc32c(&h);
        codec::put_u32(&mut h, crc);
        assert_eq!(h.len() as u64, HEADER_BYTES);
        self.put(&h, true)
    }

    fn blocks(&mut self, buf: &ShardBuffer) -> Result<(), SnapshotError> {
        let mut start = 0;
        for &end in &buf.block_ends {
            let payload = &buf.bytes[start..end];
            assert!(!payload.is_empty() && payload.len() <= u32::MAX as usize);
            let mut head = [0u8; BLOCK_HEADER_BYTES as usize];
            head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            head[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
            self.put(&head, true)?;
            self.put(payload, false)?;
            self.blocks += 1;
            start = end;
        }
        Ok(())
    }

    /// Writes the trailer, flushes and fsyncs; returns the file size.
    fn finish(mut self, keys: u64) -> Result<u64, SnapshotError> {
        let mut t = Vec::with_capacity(TRAILER_BYTES as usize);
        codec::put_u32(&mut t, 0);
        codec::put_u64(&mut t, keys);
        codec::put_u64(&mut t, self.blocks);
        t.extend_from_slice(TRAILER_MARKER);
        self.put(&t, true)?;
        let crc = self.crc;
        self.put(&crc.to_le_bytes(), false)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| SnapshotError::Io { path: self.path.to_path_buf(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(self.path))?;
        Ok(self.offset)
    }
}

// ---------------------------------------------------------------------------
// Loading

/// A block read from the file, waiting to be verified and applied.
struct Block {
    /// File offset of the block's header.
    offset: u64,
    crc: u32,
    payload: Vec<u8>,
}

/// State shared by the reader and the loader threads.
struct LoadShared<'a> {
    ks: &'a Keyspace,
    /// The file's format version.
    format: u32,
    cfg: &'a EncodingConfig,
    path: &'a Path,
    progress: &'a (dyn Fn(u64, u64) + Sync),
    failed: AtomicBool,
    error: Mutex<Option<SnapshotError>>,
    keys: AtomicU64,
    bytes: AtomicU64,
}

impl LoadShared<'_> {
    fn fail(&self, e: SnapshotError) {
        let mut slot = self.error.lock();
        // Keep the error nearest the start of the file: it is the first damage.
        let earlier = match (&*slot, &e) {
            (None, _) => true,
            (Some(SnapshotError::Corrupt { offset: a, .. }), SnapshotError::Corrupt { offset: b, .. }) => b < a,
            _ => false,
        };
        if earlier {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::Release);
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

/// Loads a snapshot into `ks` (normally empty) using every core: read and
/// verify blocks, decode entries, `load_entry` them from several threads
/// (std::thread::scope; blocks are independent). Calls `progress(keys, bytes)`
/// every [`PROGRESS_EVERY_KEYS`] keys and once at the end.
///
/// Corruption (bad magic, unknown version, checksum mismatch, truncated file,
/// undecodable entry) is an error naming the file and offset. Truncation and a
/// bad header are found before anything is loaded; damage inside a block is
/// found when that block is reached, after earlier blocks were loaded: on any
/// error the caller must treat `ks` as partial (discard it) before falling
/// back to an older snapshot.
pub fn load_snapshot(
    ks: &Keyspace,
    path: &Path,
    cfg: &EncodingConfig,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SnapshotInfo, SnapshotError> {
    let started = Instant::now();
    let mut reader = SnapshotReader::open(path)?;
    let shared = LoadShared {
        ks,
        format: reader.format,
        cfg,
        path,
        progress,
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        keys: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, LOAD_THREADS_MAX);
    let read = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Block>(threads * LOAD_BLOCKS_IN_FLIGHT_PER_THREAD);
        // Each loader owns a handle on the receiver: if they all die (a
        // panic), the channel closes and the reader stops instead of blocking.
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let shared = &shared;
            scope.spawn(move || load_worker(shared, &rx));
        }
        drop(rx);
        let read = reader.read_blocks(&tx, &shared);
        drop(tx);
        read
    });
    if let Some(e) = shared.error.into_inner() {
        return Err(e);
    }
    let trailer = read?;
    let keys = shared.keys.load(Ordering::Acquire);
    if keys != trailer.keys {
        return Err(corrupt(
            path,
            reader.file_len - TRAILER_BYTES,
            format!("trailer declares {} keys but the blocks hold {keys}", trailer.keys),
        ));
    }
    progress(keys, reader.file_len);
    let duration = started.elapsed();
    debug!(path = %path.display(), keys, bytes = reader.file_len, threads, duration_ms = duration.as_millis() as u64, "snapshot loaded");
    Ok(SnapshotInfo { path: path.to_path_buf(), keys, bytes: reader.file_len, duration })
}

/// Takes blocks until the reader is done. After a failure it keeps draining
/// (without applying) so the reader never blocks on a full channel.
fn load_worker(shared: &LoadShared<'_>, rx: &Mutex<Receiver<Block>>) {
    loop {
        let Ok(block) = rx.lock().recv() else { return };
        if shared.failed() {
            continue;
        }
        match load_block(shared, &block) {
            Ok(keys) => {
                let bytes = BLOCK_HEADER_BYTES + block.payload.len() as u64;
                let total_bytes = shared.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
                let before = shared.keys.fetch_add(keys, Ordering::AcqRel);
                let after = before + keys;
                if before / PROGRESS_EVERY_KEYS != after / PROGRESS_EVERY_KEYS {
                    (shared.progress)(after, total_bytes);
                }
            }
            Err(e) => shared.fail(e),
        }
    }
}

/// Verifies one block and loads its entries; returns how many.
fn load_block(shared: &LoadShared<'_>, block: &Block) -> Result<u64, SnapshotError> {
    let actual = crc32c::crc32c(&block.payload);
    if actual != block.crc {
        return Err(corrupt(
            shared.path,
            block.offset,
            format!("block checksum mismatch (stored {:#010x}, computed {actual:#010x})", block.crc),
        ));
    }
    let payload_offset = block.offset + BLOCK_HEADER_BYTES;
    let mut r = Reader::new(&block.payload);
    let mut keys = 0;
    while !r.is_empty() {
        let at = r.position() as u64;
        let record = decode_entry(&mut r, shared.cfg, shared.ks.db_count(), shared.format)
            .map_err(|reason| corrupt(shared.path, payload_offset + at, format!("undecodable entry: {reason}")))?;
        match record {
            Record::Entry(db, key, entry) => {
                shared.ks.load_entry(db, key, entry);
                keys += 1;
            }
            Record::Tombstone(db, key, version) => shared.ks.load_tombstone(db, key, version),
            Record::Flushed(db, version) => shared.ks.load_flushed_before(db, version),
            Record::Swapped(db, version) => shared.ks.load_swapped_at(db, version),
        }
    }
    Ok(keys)
}

/// One record of a block.
enum Record<'a> {
    Entry(u16, &'a [u8], Entry),
    Tombstone(u16, &'a [u8], Version),
    Flushed(u16, Version),
    Swapped(u16, Version),
}

/// Decodes one record; a value must use exactly its declared length.
/// `format` is the file's format version (node tags from 3 on).
fn decode_entry<'a>(
    r: &mut Reader<'a>,
    cfg: &EncodingConfig,
    db_count: usize,
    format: u32,
) -> Result<Record<'a>, String> {
    let db = r.u16().map_err(|e| e.to_string())?;
    if usize::from(db) >= db_count {
        return Err(format!("database index {db} out of range (0..{db_count})"));
    }
    let key = r.slice().map_err(|e| format!("key: {e}"))?;
    let expire_at_ms = r.u64().map_err(|e| e.to_string())?;
    let hlc = r.u64().map_err(|e| e.to_string())?;
    let node = if format >= 3 { r.u16().map_err(|e| e.to_string())? } else { 0 };
    let version = Version::new(hlc, node);
    let value_len = r.u32().map_err(|e| format!("value: {e}"))?;
    match value_len {
        TOMBSTONE_MARK => return Ok(Record::Tombstone(db, key, version)),
        FLUSHED_MARK if key.is_empty() => return Ok(Record::Flushed(db, version)),
        SWAPPED_MARK if key.is_empty() => return Ok(Record::Swapped(db, version)),
        FLUSHED_MARK | SWAPPED_MARK => return Err("a database record with a key".into()),
        _ => {}
    }
    let value_bytes = r.take(value_len as usize).map_err(|e| format!("value: {e}"))?;
    let mut vr = Reader::new(value_bytes);
    let value = Value::deserialize(&mut vr, cfg).map_err(|e| format!("value: {e}"))?;
    if !vr.is_empty() {
        return Err(format!("value: {} bytes left over after decoding", value_bytes.len() - vr.position()));
    }
    let mut entry = Entry::new(value, expire_at_ms, version);
    // As when a Set is applied: the key was last touched when it was written.
    entry.access = gyre_engine::access_clock(version.physical_ms());
    Ok(Record::Entry(db, key, entry))
}

/// What the trailer says.
struct Trailer {
    keys: u64,
}

/// Sequential reader of a snapshot file, keeping the file checksum.
struct SnapshotReader<'a> {
    inp: BufReader<File>,
    path: &'a Path,
    file_len: u64,
    offset: u64,
    crc: u32,
    /// The format version the header names.
    format: u32,
}

impl<'a> SnapshotReader<'a> {
    /// Opens the file and checks the header and the trailer's position, so a
    /// truncated or foreign file is rejected before anything is loaded.
    fn open(path: &'a Path) -> Result<SnapshotReader<'a>, SnapshotError> {
        let file = File::open(path).map_err(io_err(path))?;
        let file_len = file.metadata().map_err(io_err(path))?.len();
        let mut r = SnapshotReader {
            inp: BufReader::with_capacity(256 << 10, file),
            path,
            file_len,
            offset: 0,
            crc: 0,
            format: 0,
        };
        r.check_header()?;
        if file_len < HEADER_BYTES + TRAILER_BYTES {
            return Err(corrupt(
                path,
                file_len,
                format!("truncated: {file_len} bytes is shorter than header and trailer"),
            ));
        }
        let marker_at = file_len - TRAILER_BYTES + 20;
        r.inp.seek(SeekFrom::Start(marker_at)).map_err(io_err(path))?;
        let mut marker = [0u8; 8];
        r.inp.read_exact(&mut marker).map_err(io_err(path))?;
        if &marker != TRAILER_MARKER {
            return Err(corrupt(path, marker_at, "truncated or damaged: no trailer at the end of the file"));
        }
        r.inp.seek(SeekFrom::Start(HEADER_BYTES)).map_err(io_err(path))?;
        Ok(r)
    }

    fn check_header(&mut self) -> Result<(), SnapshotError> {
        let path = self.path;
        if self.file_len < 12 {
            return Err(corrupt(path, 0, format!("truncated: {} bytes, no header", self.file_len)));
        }
        let mut h = [0u8; HEADER_BYTES as usize];
        let n = read_up_to(&mut self.inp, &mut h).map_err(io_err(path))?;
        if &h[..8] != MAGIC {
            return Err(corrupt(path, 0, "bad magic: not a Gyre snapshot"));
        }
        let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
        if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
            return Err(SnapshotError::UnsupportedVersion { path: path.to_path_buf(), version });
        }
        self.format = version;
        if n < h.len() {
            return Err(corrupt(path, n as u64, "truncated header"));
        }
        let stored = u32::from_le_bytes(h[32..36].try_into().expect("4 bytes"));
        if crc32c::crc32c(&h[..32]) != stored {
            return Err(corrupt(path, 32, "header checksum mismatch"));
        }
        let flags = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes"));
        if flags != 0 {
            return Err(corrupt(path, 12, format!("unknown header flags {flags:#x}")));
        }
        self.crc = crc32c::crc32c_append(0, &h);
        self.offset = HEADER_BYTES;
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inp.read_exact(buf).map_err(io_err(self.path))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Reads every block into `tx`, then checks the trailer. Stops early
    /// (returning Ok with zero keys) when a loader has failed.
    fn read_blocks(&mut self, tx: &SyncSender<Block>, shared: &LoadShared<'_>) -> Result<Trailer, SnapshotError> {
        let body_end = self.file_len - TRAILER_BYTES;
        let mut blocks = 0u64;
        while self.offset < body_end {
            if shared.failed() {
                return Ok(Trailer { keys: 0 });
            }
            let block = self.read_block(body_end)?;
            blocks += 1;
            if tx.send(block).is_err() {
                // Every loader thread is gone (they panicked); the scope
                // re-raises the panic.
                return Ok(Trailer { keys: 0 });
            }
        }
        self.read_trailer(blocks)
    }

    fn read_block(&mut self, body_end: u64) -> Result<Block, SnapshotError> {
        let offset = self.offset;
        if offset + BLOCK_HEADER_BYTES > body_end {
            return Err(corrupt(self.path, offset, "block header runs into the trailer"));
        }
        let mut head = [0u8; BLOCK_HEADER_BYTES as usize];
        self.read_exact(&mut head)?;
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if len == 0 {
            return Err(corrupt(self.path, offset, "empty block before the trailer"));
        }
        // Bounding by the bytes actually present keeps a corrupt length from
        // allocating more than the file holds.
        if self.offset + u64::from(len) > body_end {
            return Err(corrupt(self.path, offset, format!("block length {len} runs past the end of the blocks")));
        }
        self.crc = crc32c::crc32c_append(self.crc, &head);
        let mut payload = vec![0u8; len as usize];
        self.read_exact(&mut payload)?;
        Ok(Block { offset, crc, payload })
    }

    fn read_trailer(&mut self, blocks: u64) -> Result<Trailer, SnapshotError> {
        let at = self.offset;
        let mut t = [0u8; TRAILER_BYTES as usize];
        self.read_exact(&mut t)?;
        let end = u32::from_le_bytes(t[..4].try_into().expect("4 bytes"));
        if end != 0 {
            return Err(corrupt(self.path, at, "trailer does not start with the end-of-blocks marker"));
        }
        let keys = u64::from_le_bytes(t[4..12].try_into().expect("8 bytes"));
        let declared_blocks = u64::from_le_bytes(t[12..20].try_into().expect("8 bytes"));
        let stored = u32::from_le_bytes(t[28..32].try_into().expect("4 bytes"));
        let actual = crc32c::crc32c_append(self.crc, &t[..28]);
        if stored != actual {
            return Err(corrupt(
                self.path,
                at + 28,
                format!("file checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
            ));
        }
        if declared_blocks != blocks {
            return Err(corrupt(
                self.path,
                at,
                format!("trailer declares {declared_blocks} blocks, file holds {blocks}"),
            ));
        }
        Ok(Trailer { keys })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Directory management

/// The id in a complete snapshot's file name, or None for anything else.
fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The id in a snapshot temp file's name.
fn parse_temp_name(name: &str) -> Option<u64> {
    parse_snapshot_name(name.strip_suffix(TEMP_SUFFIX)?)
}

/// (complete ids, temp ids) found in `dir`; a missing directory holds none.
fn scan_dir(dir: &Path) -> Result<(Vec<u64>, Vec<u64>), SnapshotError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let (mut done, mut temps) = (Vec::new(), Vec::new());
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = parse_snapshot_name(name) {
            done.push(id);
        } else if let Some(id) = parse_temp_name(name) {
            temps.push(id);
        }
    }
    done.sort_unstable();
    temps.sort_unstable();
    Ok((done, temps))
}

/// Snapshot ids present in `dir` (complete files only, not temps), ascending.
/// A directory that does not exist holds none.
pub fn list_snapshots(dir: &Path) -> Result<Vec<u64>, SnapshotError> {
    Ok(scan_dir(dir)?.0)
}

/// Deletes the complete snapshots not in `keep` (the ones the manifest
/// lists), and leftover temp files of snapshots no newer than the newest kept
/// one (a newer temp may be a write in progress). Call it only after the
/// manifest lists `keep`; with `keep` empty it deletes nothing. Returns the
/// files removed.
pub fn remove_old_snapshots(dir: &Path, keep: &[u64]) -> Result<u64, SnapshotError> {
    let Some(&newest) = keep.iter().max() else { return Ok(0) };
    let (done, temps) = scan_dir(dir)?;
    let mut doomed: Vec<PathBuf> = Vec::new();
    doomed.extend(done.iter().filter(|id| !keep.contains(id)).map(|&id| snapshot_path(dir, id)));
    doomed.extend(temps.iter().filter(|&&id| id <= newest).map(|&id| temp_path(&snapshot_path(dir, id))));
    let mut removed = 0;
    for path in &doomed {
        match fs::remove_file(path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    if removed > 0 {
        sync_dir(dir).map_err(io_err(dir))?;
        info!(dir = %dir.display(), removed, "old snapshots removed");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        let dir = Path::new("/d");
        let p = snapshot_path(dir, 42);
        assert_eq!(p, Path::new("/d/snapshot-0000000000000042.gsnap"));
        assert_eq!(parse_snapshot_name("snapshot-0000000000000042.gsnap"), Some(42));
        assert_eq!(parse_snapshot_name(&format!("snapshot-{:016}.gsnap", u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_snapshot_name("snapshot-0000000000000042.gsnap.tmp"), None);
        assert_eq!(parse_temp_name("snapshot-0000000000000042.gsnap.tmp"), Some(42));
        assert_eq!(parse_snapshot_name("snapshot-+42.gsnap"), None);
        assert_eq!(parse_snapshot_name("snapshot-.gsnap"), None);
        assert_eq!(parse_snapshot_name("snapshot-99999999999999999999.gsnap"), None, "overflows u64");
        assert_eq!(parse_snapshot_name("MANIFEST"), None);
    }

    #[test]
    fn an_entry_encodes_with_its_declared_lengths() {
        let mut out = Vec::new();
        let entry = Entry::new(Value::from_bytes(b"hello world"), 7, Version::new(9, 4));
        encode_entry(&mut out, 3, b"key", &entry).unwrap();
        let mut r = Reader::new(&out);
        let Ok(Record::Entry(db, key, e)) = decode_entry(&mut r, &EncodingConfig::default(), 16, FORMAT_VERSION) else {
            panic!("an entry")
        };
        assert!(r.is_empty());
        assert_eq!((db, key, e.expire_at_ms, e.version, e.value), (3, &b"key"[..], 7, Version::new(9, 4), entry.value));
        let mut r = Reader::new(&out);
        assert!(decode_entry(&mut r, &EncodingConfig::default(), 3, FORMAT_VERSION)
            .err()
            .expect("error")
            .contains("out of range"));
    }

    #[test]
    fn tombstones_and_flush_watermarks_encode_as_marks() {
        let mut out = Vec::new();
        encode_mark(&mut out, 2, b"gone", Version::new(11, 4), TOMBSTONE_MARK);
        encode_mark(&mut out, 5, b"", Version::new(12, 4), FLUSHED_MARK);
        let mut r = Reader::new(&out);
        let cfg = EncodingConfig::default();
        assert!(
            matches!(decode_entry(&mut r, &cfg, 16, FORMAT_VERSION), Ok(Record::Tombstone(2, b"gone", v)) if v == Version::new(11, 4))
        );
        assert!(
            matches!(decode_entry(&mut r, &cfg, 16, FORMAT_VERSION), Ok(Record::Flushed(5, v)) if v == Version::new(12, 4))
        );
        assert!(r.is_empty());
        let mut bad = Vec::new();
        encode_mark(&mut bad, 0, b"k", Version::new(1, 4), FLUSHED_MARK);
        assert!(decode_entry(&mut Reader::new(&bad), &cfg, 16, FORMAT_VERSION).is_err());
    }
}
