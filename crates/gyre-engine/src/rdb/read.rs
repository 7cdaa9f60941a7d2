//! Decoding one value in the RDB object format (RESTORE, and each key of an
//! RDB file): a cursor over the untrusted bytes, the plain types, and which
//! reader each compact type goes to (`packed.rs`, `stream.rs`), then the
//! value built from what was read.
//!
//! Invariants: every length is checked against what remains before it is
//! used, counts only bound loops over bytes that exist, and allocations
//! follow the payload's size; a bad payload is an error, never a panic.
//!
//! Limits: module types are refused; LZF output is bounded by
//! [`DECOMPRESSED_BYTES_MAX`].

use super::packed::{intset_entries, listpack_entries, lzf_decompress, ziplist_entries};
use super::stream::{decode_stream, StreamParts};
use super::*;
use crate::types::{CollOp, HashOp, ListOp, SetOp, Stream, ZSetOp};

/// A cursor over untrusted bytes.
pub(super) struct Cur<'a> {
    pub(super) b: &'a [u8],
    pub(super) at: usize,
}

pub(super) type R<T> = Result<T, RdbError>;

const TRUNCATED: RdbError = RdbError::BadData("truncated");

impl<'a> Cur<'a> {
    pub(super) fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(TRUNCATED)?;
        let s = self.b.get(self.at..end).ok_or(TRUNCATED)?;
        self.at = end;
        Ok(s)
    }

    pub(super) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn remaining(&self) -> usize {
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

    pub(super) fn len(&mut self) -> R<u64> {
        self.len_or_special()?.map_err(|_| RdbError::BadData("unexpected string encoding"))
    }

    /// A count of items that each take at least `min_bytes`: refused when
    /// the rest of the payload cannot hold that many.
    pub(super) fn count(&mut self, min_bytes: usize) -> R<usize> {
        let n = self.len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(RdbError::BadData("count larger than the payload"));
        }
        Ok(n as usize)
    }

    pub(super) fn string(&mut self) -> R<Vec<u8>> {
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
pub(super) enum Decoded {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(f64, Vec<u8>)>),
    Stream(StreamParts),
}

fn decode_parts(c: &mut Cur<'_>) -> R<Decoded> {
    let t = c.u8()?;
    decode_typed(c, t)
}

pub(super) fn decode_typed(c: &mut Cur<'_>, t: u8) -> R<Decoded> {
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
        T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3 => Decoded::Stream(decode_stream(c, t)?),
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

pub(super) fn build_value(parts: Decoded, cfg: &EncodingConfig) -> Result<Value, RdbError> {
    let empty = RdbError::BadData("empty collection");
    let build = |op: CollOp<&[u8]>| {
        let mut v = Value::empty_for(&op);
        v.apply_op(&op, cfg);
        v
    };
    Ok(match parts {
        Decoded::Str(s) => Value::from_bytes(&s),
        // A stream may be empty (its entries deleted, its groups kept).
        Decoded::Stream(p) => {
            let mut s = Stream::from_parts(&p.entries, p.counters, p.groups, cfg).map_err(RdbError::BadData)?;
            debug_assert_eq!(s.len(), p.length);
            if p.estimate_entries_read {
                s.estimate_groups_entries_read();
            }
            Value::Stream(Box::new(s))
        }
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
