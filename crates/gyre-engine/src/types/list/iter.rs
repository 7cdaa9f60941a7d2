//! The iterator over a list's elements, whichever the encoding: a walk of the
//! packed buffer between two byte offsets, or the deque's own iterator.
//!
//! Invariants: a packed walk's `front` and `back` are entry boundaries of
//! `buf` and `left` counts the entries between them, so the iterator is exact
//! size and double-ended.
//!
//! Limits: it borrows the list; no mutation while it lives.

use super::encoding::{read_backward, read_forward};
use crate::value::StrValue;

/// Iterator over a list's elements (double-ended, exact size).
pub struct Iter<'a>(pub(super) IterRepr<'a>);

pub(super) enum IterRepr<'a> {
    Packed { buf: &'a [u8], front: usize, back: usize, left: usize },
    Deque(std::collections::vec_deque::Iter<'a, StrValue>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            IterRepr::Packed { buf, front, back, left } => {
                if *front >= *back {
                    return None;
                }
                let (data, n, next) = read_forward(buf, *front);
                *front = next;
                *left -= 1;
                Some(&buf[data..data + n])
            }
            IterRepr::Deque(it) => it.next().map(|s| &s[..]),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterRepr::Packed { left, .. } => *left,
            IterRepr::Deque(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Packed { buf, front, back, left } => {
                if *front >= *back {
                    return None;
                }
                let (start, data, n) = read_backward(buf, *back);
                *back = start;
                *left -= 1;
                Some(&buf[data..data + n])
            }
            IterRepr::Deque(it) => it.next_back().map(|s| &s[..]),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}
