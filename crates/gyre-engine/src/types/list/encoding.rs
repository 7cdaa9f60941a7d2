//! The two storage encodings of a list, without the conversion policy (that
//! is [`List`](super::List)'s): `Packed`, the listpack, one `Vec<u8>` of
//! `len | bytes | len` entries walkable from either end, and `Deque`, the
//! quicklist, a `VecDeque` of [`StrValue`].
//!
//! Invariants: a `Packed` buffer is written only by `write_entry`, so the
//! readers (`read_forward`, `read_backward`) never meet a malformed entry, and
//! its `len` is the number of entries; a `Deque`'s `bytes` is the sum of
//! `entry_size` over its items, the size the same elements would take packed.
//!
//! Limits: packed indexing and search are linear walks (from the nearer end),
//! and a push at the head moves the buffer: meant for lists within
//! `list-max-listpack-size`. Callers check indexes and counts; the methods
//! assume them in range.

use std::collections::VecDeque;

use super::{entry_size, LONG_MARKER};
use crate::value::StrValue;

// ---------------------------------------------------------------------------
// Packed encoding
// ---------------------------------------------------------------------------

/// Writes one entry into `dst`, which is exactly `entry_size(v.len())` bytes.
fn write_entry(dst: &mut [u8], v: &[u8]) {
    debug_assert_eq!(dst.len(), entry_size(v.len()));
    let n = v.len();
    if n < LONG_MARKER as usize {
        dst[0] = n as u8;
        dst[1..1 + n].copy_from_slice(v);
        dst[1 + n] = n as u8;
    } else {
        let len = u32::try_from(n).expect("element over 4 GiB: bulk limits forbid it").to_le_bytes();
        dst[0] = LONG_MARKER;
        dst[1..5].copy_from_slice(&len);
        dst[5..5 + n].copy_from_slice(v);
        dst[5 + n..9 + n].copy_from_slice(&len);
        dst[9 + n] = LONG_MARKER;
    }
}

/// The entry starting at `pos`: (data start, data len, next entry's start).
#[inline]
pub(super) fn read_forward(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let b = buf[pos];
    if b != LONG_MARKER {
        let n = b as usize;
        (pos + 1, n, pos + n + 2)
    } else {
        let n = u32::from_le_bytes(buf[pos + 1..pos + 5].try_into().expect("4 bytes")) as usize;
        (pos + 5, n, pos + n + 10)
    }
}

/// The entry ending at `end`: (entry start, data start, data len).
#[inline]
pub(super) fn read_backward(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let b = buf[end - 1];
    if b != LONG_MARKER {
        let n = b as usize;
        (end - n - 2, end - n - 1, n)
    } else {
        let n = u32::from_le_bytes(buf[end - 5..end - 1].try_into().expect("4 bytes")) as usize;
        (end - n - 10, end - n - 5, n)
    }
}

#[derive(Clone, Default)]
pub(super) struct Packed {
    pub(super) buf: Vec<u8>,
    pub(super) len: usize,
}

impl Packed {
    /// Byte offset of entry `i` (`i == len` gives the end), walking from the
    /// nearer end.
    pub(super) fn offset_of(&self, i: usize) -> usize {
        debug_assert!(i <= self.len);
        if i <= self.len / 2 {
            let mut pos = 0;
            for _ in 0..i {
                pos = read_forward(&self.buf, pos).2;
            }
            pos
        } else {
            let mut end = self.buf.len();
            for _ in i..self.len {
                end = read_backward(&self.buf, end).0;
            }
            end
        }
    }

    /// Byte span of entries `start..=stop`.
    pub(super) fn span(&self, start: usize, stop: usize) -> (usize, usize) {
        let from = self.offset_of(start);
        let forward_steps = stop + 1 - start;
        let backward_steps = self.len - stop - 1;
        let to = if forward_steps <= backward_steps {
            let mut pos = from;
            for _ in 0..forward_steps {
                pos = read_forward(&self.buf, pos).2;
            }
            pos
        } else {
            self.offset_of(stop + 1)
        };
        (from, to)
    }

    pub(super) fn push_back(&mut self, v: &[u8]) {
        let at = self.buf.len();
        self.buf.resize(at + entry_size(v.len()), 0);
        write_entry(&mut self.buf[at..], v);
        self.len += 1;
    }

    /// Pushes each value at the head in turn (so the last ends up first).
    pub(super) fn push_front_each(&mut self, values: &[&[u8]]) {
        let add: usize = values.iter().map(|v| entry_size(v.len())).sum();
        let old = self.buf.len();
        self.buf.resize(old + add, 0);
        self.buf.copy_within(0..old, add);
        let mut pos = 0;
        for v in values.iter().rev() {
            let n = entry_size(v.len());
            write_entry(&mut self.buf[pos..pos + n], v);
            pos += n;
        }
        self.len += values.len();
    }

    pub(super) fn insert_at(&mut self, pos: usize, v: &[u8]) {
        let n = entry_size(v.len());
        let old = self.buf.len();
        self.buf.resize(old + n, 0);
        self.buf.copy_within(pos..old, pos + n);
        write_entry(&mut self.buf[pos..pos + n], v);
        self.len += 1;
    }

    pub(super) fn pop_front(&mut self, n: usize) {
        let off = self.offset_of(n);
        self.buf.drain(..off);
        self.len -= n;
    }

    pub(super) fn pop_back(&mut self, n: usize) {
        let off = self.offset_of(self.len - n);
        self.buf.truncate(off);
        self.len -= n;
    }

    pub(super) fn replace(&mut self, i: usize, v: &[u8]) {
        let (start, end) = self.span(i, i);
        let (old, new) = (end - start, entry_size(v.len()));
        let total = self.buf.len();
        if new > old {
            self.buf.resize(total + new - old, 0);
            self.buf.copy_within(end..total, start + new);
        } else if new < old {
            self.buf.copy_within(end..total, start + new);
            self.buf.truncate(total - (old - new));
        }
        write_entry(&mut self.buf[start..start + new], v);
    }

    /// Offset of the first entry equal to `pivot`, and the offset after it.
    pub(super) fn find(&self, pivot: &[u8]) -> Option<(usize, usize)> {
        let mut pos = 0;
        while pos < self.buf.len() {
            let (data, n, next) = read_forward(&self.buf, pos);
            if &self.buf[data..data + n] == pivot {
                return Some((pos, next));
            }
            pos = next;
        }
        None
    }

    /// Removes up to `limit` entries equal to `value` at offsets at or past
    /// `from`, scanning forward; returns how many.
    pub(super) fn remove_from(&mut self, from: usize, value: &[u8], limit: usize) -> usize {
        let (mut read, mut write, mut removed) = (from, from, 0);
        while read < self.buf.len() {
            let (data, n, next) = read_forward(&self.buf, read);
            if removed < limit && &self.buf[data..data + n] == value {
                removed += 1;
            } else {
                if write != read {
                    self.buf.copy_within(read..next, write);
                }
                write += next - read;
            }
            read = next;
        }
        self.buf.truncate(write);
        self.len -= removed;
        removed
    }

    /// Offset of the entry that is the `nth` (1-based) match of `value` counted
    /// from the tail, or 0 when there are fewer matches.
    pub(super) fn nth_match_from_tail(&self, value: &[u8], nth: usize) -> usize {
        let (mut end, mut seen) = (self.buf.len(), 0);
        while end > 0 {
            let (start, data, n) = read_backward(&self.buf, end);
            if &self.buf[data..data + n] == value {
                seen += 1;
                if seen == nth {
                    return start;
                }
            }
            end = start;
        }
        0
    }
}

// ---------------------------------------------------------------------------
// Deque encoding
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
pub(super) struct Deque {
    pub(super) items: VecDeque<StrValue>,
    /// Sum of `entry_size` over the items: the packed size, for conversions.
    pub(super) bytes: usize,
}

impl Deque {
    pub(super) fn push(&mut self, left: bool, v: &[u8]) {
        self.bytes += entry_size(v.len());
        let s = StrValue::from_slice(v);
        if left {
            self.items.push_front(s);
        } else {
            self.items.push_back(s);
        }
    }

    pub(super) fn pop(&mut self, left: bool, n: usize) {
        for _ in 0..n {
            let v = if left { self.items.pop_front() } else { self.items.pop_back() };
            self.bytes -= entry_size(v.expect("n <= len").len());
        }
    }

    /// Removes the items equal to `value` at indexes `from..`, up to `limit`.
    pub(super) fn remove_from(&mut self, from: usize, value: &[u8], limit: usize) -> usize {
        let (mut i, mut removed, mut freed) = (0, 0, 0);
        self.items.retain(|v| {
            let drop = i >= from && removed < limit && &v[..] == value;
            i += 1;
            if drop {
                removed += 1;
                freed += entry_size(v.len());
            }
            !drop
        });
        self.bytes -= freed;
        removed
    }
}
