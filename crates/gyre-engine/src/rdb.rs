//! Redis's serialization of one value (the RDB object format), as DUMP and
//! RESTORE carry it: an RDB type byte, the encoded value, then a 2-byte RDB
//! version and a CRC64 (Jones, reflected) of everything before it, both
//! little endian.
//!
//! Encoding (DUMP): Gyre writes the plain RDB types every Redis since 2.x
//! reads: string (0), list (1), set (2), hash (4) and sorted set with binary
//! scores (5), strings length-prefixed and uncompressed, under RDB version
//! [`RDB_VERSION`] (Redis 7.2's).
//!
//! Decoding (RESTORE): the plain types above plus the compact ones Redis 7
//! writes: zset with text scores (3), ziplist list/zset/hash (10, 12, 13),
//! intset (11), quicklist of ziplists (14) or of listpacks (18), listpack
//! hash/zset/set (16, 17, 20); strings may be integer-encoded or LZF
//! compressed. Streams and modules are refused.
//!
//! Untrusted input: every length is checked against what remains before it
//! is used, counts only bound loops over bytes that exist, and nothing is
//! allocated beyond the payload's own size (plus LZF's declared output,
//! bounded by [`DECOMPRESSED_BYTES_MAX`]); a bad payload is an error, never
//! a panic.

use crate::types::{CollOp, EncodingConfig, HashOp, ListOp, SetOp, ZSetOp};
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

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The RDB type byte and encoding of a value (no trailer). Streams are not
/// written in Redis's format yet (its listpack-in-rax layout): an error.
pub fn encode_value(v: &Value) -> Result<Vec<u8>, RdbError> {
    let mut out = Vec::new();
    match v {
        Value::Stream(_) => return Err(RdbError::BadData("streams cannot be serialized in Redis's format yet")),
        Value::Int(_) | Value::Str(_) => {
            out.push(T_STRING);
            put_str(&mut out, v.as_bytes(&mut itoa::Buffer::new()));
        }
        Value::List(l) => {
            out.push(T_LIST);
            put_len(&mut out, l.len() as u64);
            for e in l.iter() {
                put_str(&mut out, e);
            }
        }
        Value::Set(s) => {
            out.push(T_SET);
            put_len(&mut out, s.len() as u64);
            let mut scratch = itoa::Buffer::new();
            for m in s.iter() {
                put_str(&mut out, m.as_bytes(&mut scratch));
            }
        }
        Value::Hash(h) => {
            out.push(T_HASH);
            put_len(&mut out, h.len() as u64);
            for (f, val) in h.iter() {
                put_str(&mut out, f);
                put_str(&mut out, val);
            }
        }
        Value::ZSet(z) => {
            out.push(T_ZSET_2);
            put_len(&mut out, z.len() as u64);
            // Redis writes from the highest score down, so that loading
            // inserts at the head; any order loads.
            z.for_range(0, z.len(), true, |m, s| {
                put_str(&mut out, m);
                out.extend_from_slice(&s.to_le_bytes());
            });
        }
    }
    Ok(out)
}

/// DUMP's payload for a value.
pub fn dump(v: &Value) -> Result<Vec<u8>, RdbError> {
    encode_value(v).map(seal)
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A cursor over untrusted bytes.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

type R<T> = Result<T, RdbError>;

const TRUNCATED: RdbError = RdbError::BadData("truncated");

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(TRUNCATED)?;
        let s = self.b.get(self.at..end).ok_or(TRUNCATED)?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    /// A length, or the special string encoding (Err side of the inner
    /// result) when the top bits are 11.
    fn len_or_special(&mut self) -> R<Result<u64, u8>> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Ok(u64::from(first & 0x3f)),
            1 => Ok((u64::from(first & 0x3f) << 8) | u64::from(self.u8()?)),
            2 => match first {
                0x80 => Ok(u64::from(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))),
                0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
                _ => return Err(RdbError::BadData("unknown length encoding")),
            },
            _ => Err(first & 0x3f),
        })
    }

    fn len(&mut self) -> R<u64> {
        self.len_or_special()?.map_err(|_| RdbError::BadData("unexpected string encoding"))
    }

    /// A count of items that each take at least `min_bytes`: refused when
    /// the rest of the payload cannot hold that many.
    fn count(&mut self, min_bytes: usize) -> R<usize> {
        let n = self.len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(RdbError::BadData("count larger than the payload"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.len_or_special()? {
            Ok(n) => {
                let n = usize::try_from(n).map_err(|_| TRUNCATED)?;
                Ok(self.take(n)?.to_vec())
            }
            Err(0) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Err(1) => Ok(i16::from_le_bytes(self.take(2)?.try_into().expect("2")).to_string().into_bytes()),
            Err(2) => Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4")).to_string().into_bytes()),
            Err(3) => {
                let clen = usize::try_from(self.len()?).map_err(|_| TRUNCATED)?;
                let ulen = usize::try_from(self.len()?).map_err(|_| TRUNCATED)?;
                if ulen > DECOMPRESSED_BYTES_MAX {
                    return Err(RdbError::BadData("compressed string too large"));
                }
                let c = self.take(clen)?;
                lzf_decompress(c, ulen).ok_or(RdbError::BadData("bad LZF data"))
            }
            Err(_) => Err(RdbError::BadData("unknown string encoding")),
        }
    }

    fn binary_double(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// The text-encoded double of RDB_TYPE_ZSET.
    fn text_double(&mut self) -> R<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let t = self.take(usize::from(n))?;
                std::str::from_utf8(t).ok().and_then(|s| s.parse().ok()).ok_or(RdbError::BadData("bad score"))
            }
        }
    }
}

/// LZF decompression (liblzf's format) into exactly `out_len` bytes.
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(256)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if out.len() + n > out_len {
                return None;
            }
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Elements of a ziplist (integers as decimal text).
fn ziplist_entries(zl: &[u8]) -> R<Vec<Vec<u8>>> {
    let bad = RdbError::BadData("bad ziplist");
    if zl.len() < 11 || u32::from_le_bytes(zl[0..4].try_into().expect("4")) as usize != zl.len() {
        return Err(bad);
    }
    let mut c = Cur { b: &zl[..zl.len() - 1], at: 10 };
    if zl[zl.len() - 1] != 0xff {
        return Err(bad);
    }
    let mut out = Vec::new();
    while c.remaining() > 0 {
        let prev = c.u8()?;
        if prev == 0xfe {
            c.take(4)?;
        }
        let enc = c.u8()?;
        let v = match enc >> 6 {
            0 => c.take(usize::from(enc & 0x3f))?.to_vec(),
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(c.u8()?);
                c.take(n)?.to_vec()
            }
            2 => {
                let n = u32::from_be_bytes(c.take(4)?.try_into().expect("4")) as usize;
                c.take(n)?.to_vec()
            }
            _ => {
                let i: i64 = match enc {
                    0xc0 => i64::from(i16::from_le_bytes(c.take(2)?.try_into().expect("2"))),
                    0xd0 => i64::from(i32::from_le_bytes(c.take(4)?.try_into().expect("4"))),
                    0xe0 => i64::from_le_bytes(c.take(8)?.try_into().expect("8")),
                    0xf0 => {
                        let b = c.take(3)?;
                        i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
                    }
                    0xfe => i64::from(c.u8()? as i8),
                    0xf1..=0xfd => i64::from(enc & 0x0f) - 1,
                    _ => return Err(bad),
                };
                i.to_string().into_bytes()
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// Elements of a listpack (integers as decimal text).
fn listpack_entries(lp: &[u8]) -> R<Vec<Vec<u8>>> {
    let bad = RdbError::BadData("bad listpack");
    if lp.len() < 7 || u32::from_le_bytes(lp[0..4].try_into().expect("4")) as usize != lp.len() {
        return Err(bad);
    }
    let mut c = Cur { b: lp, at: 6 };
    let mut out = Vec::new();
    loop {
        let start = c.at;
        let enc = c.u8()?;
        if enc == 0xff {
            break;
        }
        let v: Vec<u8> = if enc & 0x80 == 0 {
            i64::from(enc & 0x7f).to_string().into_bytes()
        } else if enc & 0xc0 == 0x80 {
            c.take(usize::from(enc & 0x3f))?.to_vec()
        } else if enc & 0xe0 == 0xc0 {
            let raw = (u16::from(enc & 0x1f) << 8) | u16::from(c.u8()?);
            // 13-bit two's complement.
            let i = if raw >= 1 << 12 { i64::from(raw) - (1 << 13) } else { i64::from(raw) };
            i.to_string().into_bytes()
        } else if enc & 0xf0 == 0xe0 {
            let n = (usize::from(enc & 0x0f) << 8) | usize::from(c.u8()?);
            c.take(n)?.to_vec()
        } else {
            match enc {
                0xf0 => {
                    let n = u32::from_le_bytes(c.take(4)?.try_into().expect("4")) as usize;
                    c.take(n)?.to_vec()
                }
                0xf1 => i64::from(i16::from_le_bytes(c.take(2)?.try_into().expect("2"))).to_string().into_bytes(),
                0xf2 => {
                    let b = c.take(3)?;
                    i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8).to_string().into_bytes()
                }
                0xf3 => i64::from(i32::from_le_bytes(c.take(4)?.try_into().expect("4"))).to_string().into_bytes(),
                0xf4 => i64::from_le_bytes(c.take(8)?.try_into().expect("8")).to_string().into_bytes(),
                _ => return Err(bad),
            }
        };
        let l = c.at - start;
        let backlen = match l {
            0..=127 => 1,
            128..=16383 => 2,
            16384..=2097151 => 3,
            2097152..=268435455 => 4,
            _ => 5,
        };
        c.take(backlen)?;
        out.push(v);
    }
    if c.remaining() != 0 {
        return Err(bad);
    }
    Ok(out)
}

fn intset_entries(is: &[u8]) -> R<Vec<Vec<u8>>> {
    let bad = RdbError::BadData("bad intset");
    if is.len() < 8 {
        return Err(bad);
    }
    let width = u32::from_le_bytes(is[0..4].try_into().expect("4")) as usize;
    let n = u32::from_le_bytes(is[4..8].try_into().expect("4")) as usize;
    if !matches!(width, 2 | 4 | 8) || n.checked_mul(width) != Some(is.len() - 8) {
        return Err(bad);
    }
    Ok(is[8..]
        .chunks_exact(width)
        .map(|c| {
            let i = match width {
                2 => i64::from(i16::from_le_bytes(c.try_into().expect("2"))),
                4 => i64::from(i32::from_le_bytes(c.try_into().expect("4"))),
                _ => i64::from_le_bytes(c.try_into().expect("8")),
            };
            i.to_string().into_bytes()
        })
        .collect())
}

fn pairs(v: Vec<Vec<u8>>) -> R<Vec<(Vec<u8>, Vec<u8>)>> {
    if v.len() % 2 == 1 {
        return Err(RdbError::BadData("odd number of elements"));
    }
    let mut it = v.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn parse_score(b: &[u8]) -> R<f64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| !v.is_nan())
        .ok_or(RdbError::BadData("bad score"))
}

/// The collection a decoded value becomes.
enum Decoded {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(f64, Vec<u8>)>),
}

fn decode_parts(c: &mut Cur<'_>) -> R<Decoded> {
    let t = c.u8()?;
    decode_typed(c, t)
}

fn decode_typed(c: &mut Cur<'_>, t: u8) -> R<Decoded> {
    Ok(match t {
        T_STRING => Decoded::Str(c.string()?),
        T_LIST | T_SET => {
            let n = c.count(1)?;
            let items = (0..n).map(|_| c.string()).collect::<R<Vec<_>>>()?;
            if t == T_LIST {
                Decoded::List(items)
            } else {
                Decoded::Set(items)
            }
        }
        T_ZSET | T_ZSET_2 => {
            let n = c.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let m = c.string()?;
                let s = if t == T_ZSET_2 { c.binary_double()? } else { c.text_double()? };
                if s.is_nan() {
                    return Err(RdbError::BadData("NaN score"));
                }
                items.push((s, m));
            }
            Decoded::ZSet(items)
        }
        T_HASH => {
            let n = c.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push((c.string()?, c.string()?));
            }
            Decoded::Hash(items)
        }
        T_LIST_ZIPLIST => Decoded::List(ziplist_entries(&c.string()?)?),
        T_SET_INTSET => Decoded::Set(intset_entries(&c.string()?)?),
        T_SET_LISTPACK => Decoded::Set(listpack_entries(&c.string()?)?),
        T_ZSET_ZIPLIST | T_ZSET_LISTPACK => {
            let raw = c.string()?;
            let v = if t == T_ZSET_ZIPLIST { ziplist_entries(&raw)? } else { listpack_entries(&raw)? };
            Decoded::ZSet(pairs(v)?.into_iter().map(|(m, s)| Ok((parse_score(&s)?, m))).collect::<R<Vec<_>>>()?)
        }
        T_HASH_ZIPLIST => Decoded::Hash(pairs(ziplist_entries(&c.string()?)?)?),
        T_HASH_LISTPACK => Decoded::Hash(pairs(listpack_entries(&c.string()?)?)?),
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            let nodes = c.count(2)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if t == T_LIST_QUICKLIST_2 { c.len()? } else { 2 };
                let raw = c.string()?;
                match (t, container) {
                    // A PLAIN node holds one large element as it is.
                    (T_LIST_QUICKLIST_2, 1) => items.push(raw),
                    (T_LIST_QUICKLIST_2, 2) => items.extend(listpack_entries(&raw)?),
                    (T_LIST_QUICKLIST, _) => items.extend(ziplist_entries(&raw)?),
                    _ => return Err(RdbError::BadData("unknown quicklist container")),
                }
            }
            Decoded::List(items)
        }
        _ => return Err(RdbError::BadData("unsupported value type")),
    })
}

/// Decodes one value (type byte and encoding) with nothing left over.
/// Empty collections are refused, as Redis refuses them.
pub fn decode_value(encoded: &[u8], cfg: &EncodingConfig) -> Result<Value, RdbError> {
    let mut c = Cur { b: encoded, at: 0 };
    let parts = decode_parts(&mut c)?;
    if c.remaining() != 0 {
        return Err(RdbError::BadData("trailing bytes"));
    }
    build_value(parts, cfg)
}

fn build_value(parts: Decoded, cfg: &EncodingConfig) -> Result<Value, RdbError> {
    let empty = RdbError::BadData("empty collection");
    let build = |op: CollOp<&[u8]>| {
        let mut v = Value::empty_for(&op);
        v.apply_op(&op, cfg);
        v
    };
    Ok(match parts {
        Decoded::Str(s) => Value::from_bytes(&s),
        Decoded::List(items) if !items.is_empty() => {
            build(CollOp::List(ListOp::Push { left: false, values: items.iter().map(|v| v.as_slice()).collect() }))
        }
        Decoded::Set(items) if !items.is_empty() => {
            build(CollOp::Set(SetOp::Add { members: items.iter().map(|v| v.as_slice()).collect() }))
        }
        Decoded::Hash(items) if !items.is_empty() => build(CollOp::Hash(HashOp::Set {
            pairs: items.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect(),
        })),
        Decoded::ZSet(items) if !items.is_empty() => {
            build(CollOp::ZSet(ZSetOp::Add(items.iter().map(|(s, m)| (*s, m.as_slice())).collect())))
        }
        _ => return Err(empty),
    })
}

/// RESTORE's payload: trailer checked, then the value decoded.
pub fn restore(payload: &[u8], cfg: &EncodingConfig) -> Result<Value, RdbError> {
    decode_value(unseal(payload)?, cfg)
}

// ---------------------------------------------------------------------------
// Whole RDB files (gyre-server --import-rdb)
// ---------------------------------------------------------------------------

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
            let p = dump(v).expect("not a stream");
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
        for (hex, want) in include_str!("testdata/redis_dumps.txt")
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

    /// An RDB file written by redis-server 7.0 (SAVE): every key, its
    /// database and expiry; a damaged copy is refused with an offset.
    #[test]
    fn reads_a_redis_rdb_file() {
        let cfg = EncodingConfig::default();
        let data = include_bytes!("testdata/redis7.rdb");
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
