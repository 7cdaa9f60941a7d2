//! Redis's serialization of one value (the RDB object format), as DUMP and
//! RESTORE carry it: an RDB type byte, the encoded value, then a 2-byte RDB
//! version and a CRC64 (Jones, reflected) of everything before it, both
//! little endian.
//!
//! Encoding (DUMP): Gyre writes the plain RDB types every Redis since 2.x
//! reads: string (0), list (1), set (2), hash (4) and sorted set with binary
//! scores (5), strings length-prefixed and uncompressed, under RDB version
//! [`RDB_VERSION`] (Redis 7.2's); streams as Redis 7.2 writes them
//! (`STREAM_LISTPACKS_3`, 21: listpacks of delta-encoded entries keyed by
//! their master ID, the counters, the groups with their PELs and consumers),
//! or for an older reader the types 19 (Redis 7.0) and 15
//! ([`encode_value_for`]).
//!
//! Decoding (RESTORE): the plain types above plus the compact ones Redis 7
//! writes: zset with text scores (3), ziplist list/zset/hash (10, 12, 13),
//! intset (11), quicklist of ziplists (14) or of listpacks (18), listpack
//! hash/zset/set (16, 17, 20), streams (15, 19, 21); strings may be
//! integer-encoded or LZF compressed. Modules are refused.
//!
//! Untrusted input: every length is checked against what remains before it
//! is used, counts only bound loops over bytes that exist, and nothing is
//! allocated beyond the payload's own size (plus LZF's declared output,
//! bounded by [`DECOMPRESSED_BYTES_MAX`]); a bad payload is an error, never
//! a panic.
//!
//! Files: this one holds the type bytes, the errors, the CRC64 and the
//! payload's framing (DUMP's trailer); `write.rs` encodes a value,
//! `read.rs` decodes one (the plain types, and which reader each compact
//! type goes to), `packed.rs` the compact containers Redis writes (LZF,
//! ziplist, listpack, intset), `stream.rs` a stream in both directions, and
//! `file.rs` reads whole RDB files.

mod file;
mod packed;
mod read;
mod stream;
mod write;

pub use file::{FileEntry, FileError, FileReader};
pub use packed::lzf_decompress;
pub use read::decode_value;
pub use write::{encode_value, encode_value_for};

use crate::types::EncodingConfig;
use crate::value::Value;

/// The RDB version DUMP writes (Redis 7.2's).
pub const RDB_VERSION: u16 = 11;
/// Largest LZF output accepted (Redis's proto-max-bulk-len default).
pub const DECOMPRESSED_BYTES_MAX: usize = 512 << 20;

const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_SET_LISTPACK: u8 = 20;
const T_STREAM_LISTPACKS: u8 = 15;
const T_STREAM_LISTPACKS_2: u8 = 19;
const T_STREAM_LISTPACKS_3: u8 = 21;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbError {
    /// Version newer than ours, or the checksum does not match.
    VersionOrChecksum,
    /// The value itself is malformed or of a type Gyre does not hold.
    BadData(&'static str),
}

// ---------------------------------------------------------------------------
// CRC64 (Jones), as Redis's crc64.c
// ---------------------------------------------------------------------------

const fn crc64_table() -> [u64; 256] {
    // Reflected polynomial of 0xad93d23594c935a9.
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            j += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static CRC64_TABLE: [u64; 256] = crc64_table();

/// Redis's CRC64 of `data`, continuing from `crc` (0 to start).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = CRC64_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

// ---------------------------------------------------------------------------
// Payload framing
// ---------------------------------------------------------------------------

/// Appends the version and checksum trailer to an encoded value.
pub fn seal(payload: Vec<u8>) -> Vec<u8> {
    seal_version(payload, RDB_VERSION)
}

/// [`seal`] under a given RDB version (an older one for an older Redis).
pub fn seal_version(mut payload: Vec<u8>, version: u16) -> Vec<u8> {
    payload.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

/// Checks a DUMP payload's trailer (Redis's `verifyDumpPayload`) and returns
/// the encoded value before it. A zero checksum is accepted, as Redis does
/// (it marks a payload written without one).
pub fn unseal(payload: &[u8]) -> Result<&[u8], RdbError> {
    if payload.len() < 10 {
        return Err(RdbError::VersionOrChecksum);
    }
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    if version > RDB_VERSION {
        return Err(RdbError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(payload[n - 8..].try_into().expect("8 bytes"));
    if crc != 0 && crc != crc64(0, &payload[..n - 8]) {
        return Err(RdbError::VersionOrChecksum);
    }
    Ok(&payload[..n - 10])
}

/// DUMP's payload for a value.
pub fn dump(v: &Value) -> Vec<u8> {
    seal(encode_value(v))
}

/// RESTORE's payload: trailer checked, then the value decoded.
pub fn restore(payload: &[u8], cfg: &EncodingConfig) -> Result<Value, RdbError> {
    decode_value(unseal(payload)?, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        // Redis's crc64.c test vector.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let cfg = EncodingConfig::default();
        let values = [Value::from_bytes(b"hello"), Value::from_bytes(b"12345"), Value::from_bytes(&[7u8; 1000])];
        for v in &values {
            let p = dump(v);
            let back = restore(&p, &cfg).unwrap();
            assert_eq!(back.as_bytes(&mut itoa::Buffer::new()), v.as_bytes(&mut itoa::Buffer::new()));
            let mut bad = p.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(restore(&bad, &cfg).unwrap_err(), RdbError::VersionOrChecksum);
        }
        assert_eq!(restore(b"short", &cfg).unwrap_err(), RdbError::VersionOrChecksum);
    }

    /// Payloads DUMPed by redis-server 7.0 (hex), restored.
    #[test]
    fn restores_redis_payloads() {
        let cfg = EncodingConfig::default();
        for (hex, want) in include_str!("../testdata/redis_dumps.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split_once(' ').expect("hex and description"))
        {
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let v = restore(&bytes, &cfg).unwrap_or_else(|e| panic!("{want}: {e:?}"));
            assert_eq!(v.type_name(), want.split(':').next().unwrap(), "{want}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let cfg = EncodingConfig::default();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for n in 0..3000usize {
            let mut v = Vec::with_capacity(n % 64);
            for _ in 0..n % 64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            if let Some(b) = v.first_mut() {
                *b %= 22;
            }
            let _ = decode_value(&v, &cfg);
            let _ = restore(&seal(v), &cfg);
        }
    }
}
