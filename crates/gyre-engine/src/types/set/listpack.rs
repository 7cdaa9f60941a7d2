//! The listpack encoding's primitives: a packed buffer (the u32 count of
//! `types::packed`, then entries `varint(len) bytes` in insertion order) read,
//! searched, appended to and shrunk in place.
//!
//! Invariants: callers push only members known absent, so entries stay
//! distinct; every push and removal keeps the count equal to the entries; a
//! buffer emptied by removals is freed (an empty listpack owns no allocation).
//!
//! Limits: finding and removing are linear scans, meant for sets within
//! `set-max-listpack-entries` and `-value`.

use crate::types::packed::{
    packed_count, put_varint, read_entry, reserve_slack, set_packed_count, varint_len, COUNT_BYTES,
};

/// The entries of a packed buffer, in order.
pub(super) struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl PackedIter<'_> {
    pub(super) fn new(buf: &[u8]) -> PackedIter<'_> {
        PackedIter { buf, pos: COUNT_BYTES.min(buf.len()) }
    }

    /// The next entry as (entry start, bytes start, bytes end).
    fn next_entry(&mut self) -> Option<(usize, usize, usize)> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let (start, end) = read_entry(self.buf, at);
        self.pos = end;
        Some((at, start, end))
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (_, start, end) = self.next_entry()?;
        Some(&self.buf[start..end])
    }
}

/// The entry holding `m`: (entry start, entry end).
pub(super) fn packed_find(buf: &[u8], m: &[u8]) -> Option<(usize, usize)> {
    let mut it = PackedIter::new(buf);
    while let Some((at, start, end)) = it.next_entry() {
        if end - start == m.len() && &buf[start..end] == m {
            return Some((at, end));
        }
    }
    None
}

/// Appends `m` (known absent) to a packed buffer.
pub(super) fn packed_push(buf: &mut Vec<u8>, m: &[u8]) {
    let n = packed_count(buf);
    let header = if buf.is_empty() { COUNT_BYTES } else { 0 };
    reserve_slack(buf, header + varint_len(m.len()) + m.len());
    if header > 0 {
        buf.extend_from_slice(&[0; COUNT_BYTES]);
    }
    put_varint(buf, m.len());
    buf.extend_from_slice(m);
    set_packed_count(buf, n + 1);
}

/// Removes `m` from a packed buffer; returns whether it was there.
pub(super) fn packed_remove(buf: &mut Vec<u8>, m: &[u8]) -> bool {
    let Some((at, end)) = packed_find(buf, m) else { return false };
    let n = packed_count(buf) - 1;
    if n == 0 {
        *buf = Vec::new();
        return true;
    }
    buf.drain(at..end);
    set_packed_count(buf, n);
    if buf.capacity() > 2 * buf.len() + 64 {
        buf.shrink_to_fit();
    }
    true
}

/// Length of the decimal form of `i` (Redis's `sdigits10`).
pub(super) fn decimal_len(i: i64) -> usize {
    let digits = if i == 0 { 1 } else { i.unsigned_abs().ilog10() as usize + 1 };
    digits + usize::from(i < 0)
}
