//! Whole RDB files (gyre-server `--import-rdb`, gyre-cli): the header,
//! auxiliary fields, database selectors, expiry and LRU/LFU hints, keys,
//! and the trailing checksum, verified before anything is read.
//!
//! Invariants: a key's value is decoded as RESTORE decodes it (`read.rs`),
//! and handed back with its raw bytes; an error names its byte offset.
//!
//! Limits: Redis 6 and 7 files (versions up to [`RDB_VERSION`]); modules
//! and pre-7.0 functions are refused; the whole file is in memory.

use super::read::{build_value, decode_typed, Cur, R};
use super::{crc64, RdbError, RDB_VERSION};
use crate::types::EncodingConfig;
use crate::value::Value;

#[cfg(doc)]
use super::seal_version;

/// One key of an RDB file.
pub struct FileEntry {
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, if any.
    pub expire_at_ms: Option<u64>,
    /// The value as the file encodes it (type byte first): with
    /// [`seal_version`] of the file's version, a RESTORE payload any server
    /// that reads that version accepts.
    pub raw: Vec<u8>,
}

/// Why an RDB file could not be read, and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub offset: usize,
    pub what: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte offset {}", self.what, self.offset)
    }
}

/// A reader over a whole RDB file (Redis 6 and 7: versions up to
/// [`RDB_VERSION`]): the header, auxiliary fields, database selectors,
/// expiry and LRU/LFU hints, keys, and the checksum at the end, which
/// [`FileReader::open`] verifies before anything is read.
pub struct FileReader<'a> {
    cur: Cur<'a>,
    db: u64,
    pub version: u16,
    done: bool,
}

impl<'a> FileReader<'a> {
    /// Checks the header and the trailing CRC64 (when the file has one).
    pub fn open(data: &'a [u8]) -> Result<FileReader<'a>, FileError> {
        let bad = |offset: usize, what: &str| FileError { offset, what: what.to_string() };
        if data.len() < 9 || &data[..5] != b"REDIS" {
            return Err(bad(0, "not an RDB file (no REDIS header)"));
        }
        let version: u16 = std::str::from_utf8(&data[5..9])
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(5, "bad RDB version field"))?;
        if !(1..=RDB_VERSION).contains(&version) {
            return Err(bad(5, &format!("unsupported RDB version {version}")));
        }
        let mut body = data;
        if version >= 5 {
            if data.len() < 9 + 1 + 8 {
                return Err(bad(data.len(), "file too short for its checksum"));
            }
            let n = data.len();
            let stored = u64::from_le_bytes(data[n - 8..].try_into().expect("8"));
            if stored != 0 && stored != crc64(0, &data[..n - 8]) {
                return Err(bad(n - 8, "checksum mismatch (the file is corrupt or truncated)"));
            }
            body = &data[..n - 8];
        }
        Ok(FileReader { cur: Cur { b: body, at: 9 }, db: 0, version, done: false })
    }

    /// Byte offset of the next thing to read.
    pub fn offset(&self) -> usize {
        self.cur.at
    }

    fn err(&self, at: usize, e: RdbError) -> FileError {
        let what = match e {
            RdbError::BadData(w) => w.to_string(),
            RdbError::VersionOrChecksum => "bad version or checksum".to_string(),
        };
        FileError { offset: at, what }
    }

    /// The next key, or None at the end of the file.
    pub fn next_entry(&mut self, cfg: &EncodingConfig) -> Result<Option<FileEntry>, FileError> {
        let mut expire_at_ms = None;
        while !self.done {
            let at = self.cur.at;
            let op = self.cur.u8().map_err(|e| self.err(at, e))?;
            let r: R<()> = match op {
                0xff => {
                    self.done = true;
                    if self.cur.remaining() != 0 {
                        return Err(FileError { offset: self.cur.at, what: "bytes after the end marker".into() });
                    }
                    return Ok(None);
                }
                0xfe => self.cur.len().map(|db| self.db = db),
                0xfd => self.cur.take(4).map(|b| {
                    expire_at_ms = Some(u64::from(u32::from_le_bytes(b.try_into().expect("4"))) * 1000);
                }),
                0xfc => self.cur.take(8).map(|b| expire_at_ms = Some(u64::from_le_bytes(b.try_into().expect("8")))),
                0xfb => self.cur.len().and_then(|_| self.cur.len()).map(|_| ()),
                0xfa => self.cur.string().and_then(|_| self.cur.string()).map(|_| ()),
                0xf9 => self.cur.u8().map(|_| ()),
                0xf8 => self.cur.len().map(|_| ()),
                0xf5 => self.cur.string().map(|_| ()),
                0xf4 => self.cur.len().and_then(|_| self.cur.len()).and_then(|_| self.cur.len()).map(|_| ()),
                0xf6 | 0xf7 => Err(RdbError::BadData("modules and pre-7.0 functions are not supported")),
                t => {
                    let key = self.cur.string().map_err(|e| self.err(at, e))?;
                    let value_at = self.cur.at;
                    let mut c = Cur { b: self.cur.b, at: value_at };
                    let parts = decode_typed(&mut c, t).map_err(|e| {
                        let what = match e {
                            RdbError::BadData(w) => format!("key '{}': {w}", String::from_utf8_lossy(&key)),
                            RdbError::VersionOrChecksum => "bad data".into(),
                        };
                        FileError { offset: value_at, what }
                    })?;
                    let mut raw = Vec::with_capacity(1 + c.at - value_at);
                    raw.push(t);
                    raw.extend_from_slice(&self.cur.b[value_at..c.at]);
                    self.cur.at = c.at;
                    let value = build_value(parts, cfg).map_err(|e| self.err(value_at, e))?;
                    return Ok(Some(FileEntry { db: self.db, key, value, expire_at_ms, raw }));
                }
            };
            r.map_err(|e| self.err(at, e))?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDB file written by redis-server 7.0 (SAVE): every key, its
    /// database and expiry; a damaged copy is refused with an offset.
    #[test]
    fn reads_a_redis_rdb_file() {
        let cfg = EncodingConfig::default();
        let data = include_bytes!("../testdata/redis7.rdb");
        let mut r = FileReader::open(data).unwrap();
        assert_eq!(r.version, 10);
        let mut seen = Vec::new();
        while let Some(e) = r.next_entry(&cfg).unwrap() {
            seen.push((e.db, String::from_utf8(e.key).unwrap(), e.value.type_name(), e.expire_at_ms.is_some()));
        }
        seen.sort();
        let want: Vec<(u64, String, &str, bool)> = [
            (0, "big", "string", false),
            (0, "bits", "string", false),
            (0, "h", "hash", false),
            (0, "hll", "string", false),
            (0, "l1", "list", false),
            (0, "n1", "string", false),
            (0, "s1", "string", false),
            (0, "ss", "set", false),
            (0, "st", "set", false),
            (0, "vol", "string", true),
            (0, "z", "zset", false),
            (3, "gone", "string", true),
            (3, "other", "string", true),
        ]
        .into_iter()
        .map(|(d, k, t, e)| (d, k.to_string(), t, e))
        .collect();
        assert_eq!(seen, want);
        let mut bad = data.to_vec();
        bad[40] ^= 0x55;
        let e = FileReader::open(&bad).err().unwrap();
        assert!(e.what.contains("checksum"), "{e}");
        assert_eq!(e.offset, data.len() - 8);
        assert!(FileReader::open(b"NOTREDIS0010").is_err());
    }
}
