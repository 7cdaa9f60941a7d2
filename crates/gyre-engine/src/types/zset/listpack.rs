//! The listpack encoding of a small sorted set: one exactly sized byte
//! buffer of entries in (score, member) order, each `varint member length,
//! member bytes, score` (the score's form is described in the module docs
//! of `zset`).
//!
//! Invariants: the buffer is written only by `encode_entry`, so reading it
//! back never fails; entries stay in set order (`packed_insert` finds the
//! place).
//!
//! Limits: lookups and inserts are linear scans and shifts: meant for sets
//! within `zset-max-listpack-entries` and `-value`.

use super::key_less;

/// Score tags after the one-byte small integers 0..=SMALL_INT_MAX.
const SMALL_INT_MAX: u8 = 0xEF;
/// 0xF0 + n: a zigzag integer of n (1..=8) little-endian bytes follows.
const TAG_INT_BASE: u8 = 0xEF;
/// The 8 bytes of an f64 follow.
const TAG_DOUBLE: u8 = 0xFF;
/// Integral scores at most this large in magnitude are stored as integers.
const EXACT_INT_MAX: f64 = 9007199254740992.0; // 2^53

/// Appends the packed form of one entry.
pub(super) fn encode_entry(out: &mut Vec<u8>, score: f64, member: &[u8]) {
    let mut n = member.len() as u32;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(member);
    encode_score(out, score);
}

fn encode_score(out: &mut Vec<u8>, score: f64) {
    // -0 is stored as the integer 0, as Redis's listpack does (the skiplist
    // encoding keeps the sign; -0 and 0 tie, then order by member).
    let integral = score.fract() == 0.0 && score.abs() <= EXACT_INT_MAX;
    if !integral {
        out.push(TAG_DOUBLE);
        out.extend_from_slice(&score.to_bits().to_le_bytes());
        return;
    }
    let i = score as i64;
    if (0..=i64::from(SMALL_INT_MAX)).contains(&i) {
        out.push(i as u8);
        return;
    }
    let z = ((i << 1) ^ (i >> 63)) as u64;
    let bytes = (8 - z.leading_zeros() as usize / 8).max(1);
    out.push(TAG_INT_BASE + bytes as u8);
    out.extend_from_slice(&z.to_le_bytes()[..bytes]);
}

/// Decodes the entry at `off`: (member, score, offset of the next entry).
/// The buffer is only ever written by `encode_entry`.
pub(super) fn decode_entry(buf: &[u8], mut off: usize) -> (&[u8], f64, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[off];
        off += 1;
        len |= usize::from(b & 0x7F) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    let member = &buf[off..off + len];
    off += len;
    let tag = buf[off];
    off += 1;
    let score = match tag {
        0..=SMALL_INT_MAX => f64::from(tag),
        TAG_DOUBLE => {
            let bits = u64::from_le_bytes(buf[off..off + 8].try_into().expect("8 bytes"));
            off += 8;
            f64::from_bits(bits)
        }
        _ => {
            let n = usize::from(tag - TAG_INT_BASE);
            let mut raw = [0u8; 8];
            raw[..n].copy_from_slice(&buf[off..off + n]);
            off += n;
            let z = u64::from_le_bytes(raw);
            (((z >> 1) as i64) ^ -((z & 1) as i64)) as f64
        }
    };
    (member, score, off)
}

/// Iterates the entries of a packed buffer in order.
pub(super) struct PackedIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    /// (offset of the entry, member, score)
    type Item = (usize, &'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.buf.len() {
            return None;
        }
        let at = self.off;
        let (m, s, next) = decode_entry(self.buf, at);
        self.off = next;
        Some((at, m, s))
    }
}

pub(super) fn packed_iter(buf: &[u8]) -> PackedIter<'_> {
    PackedIter { buf, off: 0 }
}

/// Runs `f` on the buffer as a vector; the buffer keeps exactly its length
/// (one allocation of the exact size per set, as a listpack).
fn with_vec(buf: &mut Box<[u8]>, f: impl FnOnce(&mut Vec<u8>)) {
    let mut v = std::mem::take(buf).into_vec();
    f(&mut v);
    *buf = v.into_boxed_slice();
}

/// Removes the entry starting at `off`.
pub(super) fn packed_remove_at(buf: &mut Box<[u8]>, off: usize) {
    let (_, _, next) = decode_entry(buf, off);
    with_vec(buf, |v| {
        v.drain(off..next);
    });
}

/// Inserts an entry at its place in order (the member must be absent).
pub(super) fn packed_insert(buf: &mut Box<[u8]>, score: f64, member: &[u8]) {
    let pos = packed_iter(buf).find(|&(_, m, s)| key_less(score, member, s, m)).map_or(buf.len(), |(at, _, _)| at);
    let mut entry = Vec::with_capacity(member.len() + 14);
    encode_entry(&mut entry, score, member);
    with_vec(buf, |v| {
        let old_len = v.len();
        v.reserve_exact(entry.len());
        v.resize(old_len + entry.len(), 0);
        v.copy_within(pos..old_len, pos + entry.len());
        v[pos..pos + entry.len()].copy_from_slice(&entry);
    });
}
