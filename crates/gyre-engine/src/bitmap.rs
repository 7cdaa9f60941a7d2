//! Bit operations on string values, as Redis 7.2's `bitops.c` defines them.
//!
//! A string is a bitmap whose bit 0 is the most significant bit of byte 0.
//! Bits past the end read as 0. These are pure functions over byte slices:
//! the server parses arguments, reads the value, and turns a change into
//! Mutations (SETRANGE of the bytes that changed), so replay stays exact.
//!
//! Ranges follow Redis: `start`/`end` are inclusive, negative counts from the
//! end, and in `BIT` units they address bits instead of bytes.

/// Bits set in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        n += u64::from(u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones());
    }
    n + chunks.remainder().iter().map(|b| u64::from(b.count_ones())).sum::<u64>()
}

/// Resolves a BITCOUNT/BITPOS range against a string of `len` bytes, in the
/// range's units (`bit`: bits, else bytes). None: the range is empty.
/// Redis's rules: both negative and start > end is empty; negatives count
/// from the end; clamp to [0, total-1].
fn resolve(len: usize, start: i64, end: i64, bit: bool) -> Option<(u64, u64)> {
    let total = if bit { (len as i64) << 3 } else { len as i64 };
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e || total == 0 {
        return None;
    }
    Some((s as u64, e as u64))
}

/// BITCOUNT: bits set in the whole string, or in `range` = (start, end, in
/// bits?).
pub fn bitcount(bytes: &[u8], range: Option<(i64, i64, bool)>) -> u64 {
    let Some((start, end, bit)) = range else { return popcount(bytes) };
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let Some((s, e)) = resolve(bytes.len(), start, end, bit) else { return 0 };
    if !bit {
        return popcount(&bytes[s as usize..=e as usize]);
    }
    let (sb, eb) = ((s >> 3) as usize, (e >> 3) as usize);
    let mut n = popcount(&bytes[sb..=eb]);
    // Take off the bits of the edge bytes outside the range.
    let first_out = !(0xffu8 >> (s & 7));
    let last_out = 0xffu8.checked_shr((e & 7) as u32 + 1).unwrap_or(0);
    n -= u64::from((bytes[sb] & first_out).count_ones());
    n -= u64::from((bytes[eb] & last_out).count_ones());
    n
}

/// The bit at `offset` (0 past the end).
pub fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    byte < bytes.len() && bytes[byte] & (0x80 >> (offset & 7)) != 0
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the first bit equal to `bit`.
/// `start`/`end` None when not given. Redis's rule: looking for a 0 without an
/// explicit end, the string continues with zeros (the answer may be just past
/// its end); with an end given, no 0 in the range is -1. An empty string (or
/// missing key) looking for 1 is -1, for 0 is 0 (the caller handles missing
/// keys; an existing empty string answers -1 for both, as Redis does).
pub fn bitpos(bytes: &[u8], bit: bool, start: Option<i64>, end: Option<i64>, in_bits: bool) -> i64 {
    let len = bytes.len();
    let total_bits = (len as u64) << 3;
    let (s, e) = match start {
        None => {
            if len == 0 {
                return -1;
            }
            (0, total_bits - 1)
        }
        Some(start) => {
            let end = end.unwrap_or(if in_bits { ((len as i64) << 3) + 7 } else { len as i64 - 1 });
            match resolve(len, start, end, in_bits) {
                None => return -1,
                Some((s, e)) if in_bits => (s, e),
                Some((s, e)) => (s << 3, (e << 3) + 7),
            }
        }
    };
    for pos in s..=e {
        if get_bit(bytes, pos) == bit {
            return pos as i64;
        }
    }
    // Not found. Looking for a clear bit with no explicit end: the first bit
    // past the string (Redis answers the bit after the last byte read).
    if !bit && end.is_none() {
        return (e + 1) as i64;
    }
    -1
}

/// BITOP's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP: the result of `op` over `sources` (missing keys as empty strings),
/// as long as the longest source; shorter sources read as zeros.
pub fn bitop(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let max = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(max);
    for i in 0..max {
        let first = at(sources[0], i);
        let byte = match op {
            BitOp::Not => !first,
            BitOp::And => sources[1..].iter().fold(first, |acc, s| acc & at(s, i)),
            BitOp::Or => sources[1..].iter().fold(first, |acc, s| acc | at(s, i)),
            BitOp::Xor => sources[1..].iter().fold(first, |acc, s| acc ^ at(s, i)),
        };
        out.push(byte);
    }
    out
}

/// BITFIELD's integer types: `i1`..`i64`, `u1`..`u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldType {
    pub signed: bool,
    pub bits: u32,
}

impl FieldType {
    /// Parses `i16`, `u8`, ... with Redis's limits (u64 is refused).
    pub fn parse(arg: &[u8]) -> Option<FieldType> {
        let (signed, rest) = match arg.split_first()? {
            (b'i', rest) => (true, rest),
            (b'u', rest) => (false, rest),
            _ => return None,
        };
        let bits = crate::num::parse_i64(rest)?;
        let max = if signed { 64 } else { 63 };
        (1..=max).contains(&bits).then_some(FieldType { signed, bits: bits as u32 })
    }
}

/// BITFIELD's overflow behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// The unsigned value of `bits` bits at bit `offset` (zeros past the end).
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v: u64 = 0;
    for i in 0..u64::from(bits) {
        v = (v << 1) | u64::from(get_bit(bytes, offset + i));
    }
    v
}

/// The two's complement value of `bits` bits at bit `offset`.
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(bytes, offset, bits);
    if bits < 64 && u & (1u64 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; `bytes` must be
/// long enough (the caller grows it first).
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let on = value & (1u64 << (u64::from(bits) - 1 - i)) != 0;
        let pos = offset + i;
        let (byte, mask) = ((pos >> 3) as usize, 0x80u8 >> (pos & 7));
        if on {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: None when `value + incr` fits in
/// `bits` bits, else the value to store under `ow` (None-inside for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        return Some(match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        });
    }
    if incr < 0 && incr < minincr {
        return Some(match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(0),
            Overflow::Fail => None,
        });
    }
    None
}

/// Redis's `checkSignedBitfieldOverflow`, same shape as [`unsigned_overflow`].
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        return Some(match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        });
    }
    if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        return Some(match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(min),
            Overflow::Fail => None,
        });
    }
    None
}

/// One BITFIELD write (SET or INCRBY) applied to `bytes` (already grown to
/// hold the field). Returns the reply value (SET: the old value; INCRBY: the
/// new one), or None when OVERFLOW FAIL refused it (nothing written), and
/// whether the stored bits changed.
pub fn field_write(
    bytes: &mut [u8],
    ty: FieldType,
    offset: u64,
    incr: bool,
    arg: i64,
    ow: Overflow,
) -> (Option<i64>, bool) {
    if ty.signed {
        let old = get_signed(bytes, offset, ty.bits);
        let (new, reply) = if incr {
            match signed_overflow(old, arg, ty.bits, ow) {
                None => (old + arg, old + arg),
                Some(Some(v)) => (v, v),
                Some(None) => return (None, false),
            }
        } else {
            match signed_overflow(arg, 0, ty.bits, ow) {
                None => (arg, old),
                Some(Some(v)) => (v, old),
                Some(None) => return (None, false),
            }
        };
        set_field(bytes, offset, ty.bits, new as u64);
        (Some(reply), new != old)
    } else {
        let old = get_unsigned(bytes, offset, ty.bits);
        let (new, reply) = if incr {
            match unsigned_overflow(old, arg, ty.bits, ow) {
                None => (old.wrapping_add(arg as u64), old.wrapping_add(arg as u64)),
                Some(Some(v)) => (v, v),
                Some(None) => return (None, false),
            }
        } else {
            match unsigned_overflow(arg as u64, 0, ty.bits, ow) {
                None => (arg as u64, old),
                Some(Some(v)) => (v, old),
                Some(None) => return (None, false),
            }
        };
        set_field(bytes, offset, ty.bits, new);
        (Some(reply as i64), new != old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: a bitmap as a vector of booleans.
    fn bits_of(bytes: &[u8]) -> Vec<bool> {
        (0..bytes.len() as u64 * 8).map(|i| get_bit(bytes, i)).collect()
    }

    #[test]
    fn examples_from_redis_docs() {
        assert_eq!(bitcount(b"foobar", None), 26);
        assert_eq!(bitcount(b"foobar", Some((0, 0, false))), 4);
        assert_eq!(bitcount(b"foobar", Some((1, 1, false))), 6);
        assert_eq!(bitcount(b"foobar", Some((1, 1, true))), 1);
        assert_eq!(bitcount(b"foobar", Some((5, 30, true))), 17);
        let v = [0xffu8, 0xf0, 0x00];
        assert_eq!(bitpos(&v, false, None, None, false), 12);
        let v = [0x00u8, 0xff, 0xf0];
        assert_eq!(bitpos(&v, true, Some(0), None, false), 8);
        assert_eq!(bitpos(&v, true, Some(2), None, false), 16);
        assert_eq!(bitpos(&v, true, Some(2), Some(-1), false), 16);
        assert_eq!(bitpos(&v, true, Some(7), Some(15), true), 8);
        assert_eq!(bitpos(&[0u8], true, None, None, false), -1);
        assert_eq!(bitpos(&[0xffu8], false, None, None, false), 8);
        assert_eq!(bitpos(&[0xffu8], false, Some(0), Some(-1), false), -1);
    }

    #[test]
    fn bitfield_overflow_as_redis() {
        let mut b = vec![0u8; 8];
        let u8t = FieldType { signed: false, bits: 8 };
        assert_eq!(field_write(&mut b, u8t, 0, false, 255, Overflow::Wrap).0, Some(0));
        assert_eq!(field_write(&mut b, u8t, 0, true, 10, Overflow::Wrap).0, Some(9));
        assert_eq!(field_write(&mut b, u8t, 0, true, 300, Overflow::Sat).0, Some(255));
        assert_eq!(field_write(&mut b, u8t, 0, true, 1, Overflow::Fail), (None, false));
        let i8t = FieldType { signed: true, bits: 8 };
        assert_eq!(field_write(&mut b, i8t, 8, false, 127, Overflow::Wrap).0, Some(0));
        assert_eq!(field_write(&mut b, i8t, 8, true, 1, Overflow::Wrap).0, Some(-128));
        assert_eq!(field_write(&mut b, i8t, 8, true, -1000, Overflow::Sat).0, Some(-128));
        let i64t = FieldType { signed: true, bits: 64 };
        let mut b = vec![0u8; 8];
        field_write(&mut b, i64t, 0, false, i64::MAX, Overflow::Wrap);
        assert_eq!(field_write(&mut b, i64t, 0, true, 1, Overflow::Wrap).0, Some(i64::MIN));
        assert_eq!(FieldType::parse(b"u64"), None);
        assert_eq!(FieldType::parse(b"i64"), Some(i64t));
        assert_eq!(FieldType::parse(b"u0"), None);
    }

    proptest! {
        #[test]
        fn bitcount_and_bitpos_match_a_bool_model(
            bytes in proptest::collection::vec(any::<u8>(), 0..24),
            start in -200i64..200,
            end in -200i64..200,
            in_bits: bool,
            bit: bool,
        ) {
            let model = bits_of(&bytes);
            let unit = if in_bits { 1 } else { 8 };
            let total = (model.len() / unit) as i64;
            let (mut s, mut e) = (start, end);
            if s < 0 { s += total; }
            if e < 0 { e += total; }
            let (s, e) = (s.max(0), e.max(0).min(total - 1));
            let range = if s > e || (start < 0 && end < 0 && start > end) {
                None
            } else {
                Some(((s as usize) * unit, (e as usize) * unit + unit - 1))
            };
            let want_count = range.map_or(0, |(a, b)| model[a..=b].iter().filter(|x| **x).count() as u64);
            prop_assert_eq!(bitcount(&bytes, Some((start, end, in_bits))), want_count);
            prop_assert_eq!(bitcount(&bytes, None), model.iter().filter(|x| **x).count() as u64);
            // BITPOS with an explicit end.
            let want_pos = if start < 0 && end < 0 && start > end { None } else { range }
                .and_then(|(a, b)| (a..=b).find(|i| model[*i] == bit))
                .map_or(-1, |i| i as i64);
            if !(start < 0 && end < 0 && start > end) {
                prop_assert_eq!(bitpos(&bytes, bit, Some(start), Some(end), in_bits), want_pos);
            }
        }

        #[test]
        fn bitfield_set_then_get_round_trips(
            bytes in proptest::collection::vec(any::<u8>(), 16..20),
            offset in 0u64..64,
            bits in 1u32..=64,
            value: i64,
        ) {
            let mut b = bytes.clone();
            let ty = FieldType { signed: true, bits };
            field_write(&mut b, ty, offset, false, value, Overflow::Wrap);
            let shift = 64 - bits;
            prop_assert_eq!(get_signed(&b, offset, bits), (value << shift) >> shift);
            // Bits outside the field are untouched.
            let (old, new) = (bits_of(&bytes), bits_of(&b));
            for i in 0..old.len() as u64 {
                if i < offset || i >= offset + u64::from(bits) {
                    prop_assert_eq!(old[i as usize], new[i as usize]);
                }
            }
        }

        #[test]
        fn bitop_matches_bytewise_model(
            a in proptest::collection::vec(any::<u8>(), 0..12),
            b in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let n = a.len().max(b.len());
            let at = |v: &Vec<u8>, i: usize| v.get(i).copied().unwrap_or(0);
            prop_assert_eq!(bitop(BitOp::And, &[&a, &b]), (0..n).map(|i| at(&a, i) & at(&b, i)).collect::<Vec<_>>());
            prop_assert_eq!(bitop(BitOp::Or, &[&a, &b]), (0..n).map(|i| at(&a, i) | at(&b, i)).collect::<Vec<_>>());
            prop_assert_eq!(bitop(BitOp::Xor, &[&a, &b]), (0..n).map(|i| at(&a, i) ^ at(&b, i)).collect::<Vec<_>>());
            prop_assert_eq!(bitop(BitOp::Not, &[&a]), a.iter().map(|x| !x).collect::<Vec<_>>());
        }
    }
}
