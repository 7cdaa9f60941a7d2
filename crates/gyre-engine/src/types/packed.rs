//! Primitives of the packed ("listpack") buffers that small hashes and sets
//! keep their entries in: a u32 entry count, then each entry as a varint
//! length and its bytes. One contiguous allocation per collection; reads walk
//! it from the front. Buffers are only ever written by this crate, so readers
//! index them without re-validating (deserialization validates untrusted bytes
//! before building a buffer).

/// Bytes of the entry count at the start of a packed buffer.
pub(crate) const COUNT_BYTES: usize = 4;

/// Bytes a varint of `len` takes.
pub(crate) fn varint_len(len: usize) -> usize {
    let mut n = 1;
    let mut v = len >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

/// Bytes one packed string takes.
pub(crate) fn entry_len(s: &[u8]) -> usize {
    varint_len(s.len()) + s.len()
}

/// Reads the entry at `pos` of a packed buffer we wrote: (start, end) of its bytes.
pub(crate) fn read_entry(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut p = pos;
    loop {
        let b = buf[p];
        p += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (p, p + len)
}

/// The entry count of a packed buffer (0 for an empty, unallocated one).
pub(crate) fn packed_count(buf: &[u8]) -> usize {
    match buf.get(..COUNT_BYTES) {
        Some(c) => u32::from_le_bytes(c.try_into().expect("4 bytes")) as usize,
        None => 0,
    }
}

pub(crate) fn set_packed_count(buf: &mut [u8], n: usize) {
    let n = u32::try_from(n).expect("packed buffers stay far below 2^32 entries (the thresholds bound them)");
    buf[..COUNT_BYTES].copy_from_slice(&n.to_le_bytes());
}

/// Grows `v` by at least `additional` with 1/8 slack: packed buffers are
/// allocated near their exact size, and this bounds the waste of growing one
/// entry at a time.
pub(crate) fn reserve_slack<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional + v.len() / 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 20] {
            let mut buf = vec![0u8; COUNT_BYTES];
            put_varint(&mut buf, len);
            assert_eq!(buf.len() - COUNT_BYTES, varint_len(len));
            buf.extend(std::iter::repeat_n(7u8, len));
            assert_eq!(read_entry(&buf, COUNT_BYTES), (COUNT_BYTES + varint_len(len), buf.len()));
        }
        let mut buf = vec![0u8; COUNT_BYTES];
        assert_eq!(packed_count(&buf), 0);
        set_packed_count(&mut buf, 42);
        assert_eq!(packed_count(&buf), 42);
        assert_eq!(packed_count(&[]), 0);
    }
}
