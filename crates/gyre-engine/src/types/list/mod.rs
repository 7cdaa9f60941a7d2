//! Lists: a sequence of byte strings with cheap pushes and pops at both ends.
//!
//! Two encodings, named as Redis names them in OBJECT ENCODING:
//!
//! * `listpack`: one packed `Vec<u8>` of entries, each `len | bytes | len` (the
//!   trailing length lets the buffer be walked from either end). A length under
//!   255 takes one byte; longer ones are the marker byte 255 and a u32 (before
//!   the bytes: marker then u32; after: u32 then marker). One allocation for the
//!   whole list. A push at the head moves the buffer, which the size limit
//!   keeps small (8 KB by default), as Redis's listpack does.
//! * `quicklist`: a `VecDeque` of [`StrValue`] (elements up to 22 bytes live
//!   inline): O(1) amortized push and pop at both ends, O(1) indexing.
//!
//! Conversions follow Redis 7.2's `list-max-listpack-size` (`fill`): a positive
//! fill limits the entries (and, like Redis's SIZE_SAFETY_LIMIT, the bytes to
//! 8 KB); -1..-5 limit the bytes to 4, 8, 16, 32 or 64 KB. Before a write that
//! adds elements, a listpack whose bytes plus the new elements' lengths, or whose
//! count plus theirs, would exceed the limit becomes a quicklist. After a write
//! that removes elements, a quicklist that is down to half the limits becomes a
//! listpack again (Redis converts a single-node quicklist at half its limits;
//! here "single node" is approximated by the size, since the deque has no
//! nodes). Byte sizes are this module's packed sizes, which differ from Redis's
//! listpack by a few bytes per entry (Redis packs small integers tighter).
//!
//! Invariants: both encodings keep the same byte count for the same elements
//! ([`entry_size`]), so the conversion decisions do not depend on the encoding;
//! `apply` never reads a clock or randomness, and never panics on an op that does
//! not fit the list (an index out of range, a missing pivot): it does nothing.
//!
//! Files: this one holds the [`List`] (which encoding answers what, the
//! conversions, `apply`) and the index helpers commands share;
//! `encoding.rs` the two encodings' storage (the packed byte format and the
//! deque); `iter.rs` the element iterator over either; `op.rs` the
//! [`ListOp`] and its wire format.

use std::collections::VecDeque;
use std::fmt;

use super::EncodingConfig;
use crate::codec::{put_bytes, put_u32, DecodeError, Reader};
use crate::value::StrValue;

mod encoding;
mod iter;
mod op;

use encoding::{read_forward, Deque, Packed};
pub use iter::Iter;
use iter::IterRepr;
pub use op::{decode_op, ListOp};

/// Length byte meaning "a u32 length follows" (before the bytes) or "precedes"
/// (after the bytes).
const LONG_MARKER: u8 = 0xFF;

/// Redis's node byte budgets for `list-max-listpack-size` -1 .. -5.
const NODE_BYTES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Redis's SIZE_SAFETY_LIMIT: with an entry-count limit a listpack still may not
/// grow past this many bytes.
const SIZE_SAFETY_BYTES: usize = 8192;

/// Bytes one element takes in the packed encoding.
fn entry_size(len: usize) -> usize {
    if len < LONG_MARKER as usize {
        len + 2
    } else {
        len + 10
    }
}

/// (byte limit, count limit) of one node for a `list-max-listpack-size`.
fn node_limits(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, usize::try_from(fill.max(1)).unwrap_or(usize::MAX))
    } else {
        let level = usize::try_from(fill.unsigned_abs() - 1).unwrap_or(usize::MAX).min(NODE_BYTES.len() - 1);
        (NODE_BYTES[level], usize::MAX)
    }
}

/// Redis's quicklistNodeExceedsLimit.
fn exceeds_limit(fill: i64, bytes: usize, count: usize) -> bool {
    let (bytes_max, count_max) = node_limits(fill);
    if bytes_max != usize::MAX {
        bytes > bytes_max
    } else {
        bytes > SIZE_SAFETY_BYTES || count > count_max
    }
}

/// Whether a quicklist of `bytes` and `count` is small enough to go back to a
/// listpack: half the node limits, as Redis 7.2 on shrinking. With a count
/// limit, Redis's node must also be a single one, which holds at most
/// SIZE_SAFETY_BYTES.
fn fits_half_limit(fill: i64, bytes: usize, count: usize) -> bool {
    let (bytes_max, count_max) = node_limits(fill);
    if bytes_max != usize::MAX {
        bytes <= bytes_max / 2
    } else {
        bytes <= SIZE_SAFETY_BYTES && count <= count_max / 2
    }
}

/// Redis's normalisation of a (start, stop) index pair (LRANGE, LTRIM):
/// negative indexes count from the tail; the result is the inclusive range
/// clamped to the list, or None when it is empty.
pub fn normalize_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { start.saturating_add(len) } else { start };
    let mut stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// Resolves a possibly negative index (LINDEX, LSET) against `len`.
pub fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if index < 0 { index.checked_add(len_i)? } else { index };
    if (0..len_i).contains(&i) {
        Some(i as usize)
    } else {
        None
    }
}

#[derive(Clone)]
enum Repr {
    Packed(Packed),
    Deque(Deque),
}

/// A list value. Equality compares the elements, not the encoding.
#[derive(Clone)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> List {
        List { repr: Repr::Packed(Packed::default()) }
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "List({}) ", self.encoding())?;
        f.debug_list().entries(self.iter().map(|e| String::from_utf8_lossy(e).into_owned())).finish()
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len,
            Repr::Deque(d) => d.items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Deque(_) => "quicklist",
        }
    }

    /// Approximate heap bytes (MEMORY USAGE, lazy-free decisions); O(1).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.capacity(),
            // Slots of the deque, plus the packed size as an upper bound of
            // the elements' own heap bytes.
            Repr::Deque(d) => d.items.capacity() * std::mem::size_of::<StrValue>() + d.bytes,
        }
    }

    /// Packed size in bytes of the elements (the quantity the limits bound).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.len(),
            Repr::Deque(d) => d.bytes,
        }
    }

    /// The elements from head to tail.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter(IterRepr::Packed { buf: &p.buf, front: 0, back: p.buf.len(), left: p.len }),
            Repr::Deque(d) => Iter(IterRepr::Deque(d.items.iter())),
        }
    }

    /// The elements `start..=stop` (which must be within the list), head to tail.
    pub fn range(&self, start: usize, stop: usize) -> Iter<'_> {
        assert!(start <= stop && stop < self.len(), "range {start}..={stop} of a list of {}", self.len());
        match &self.repr {
            Repr::Packed(p) => {
                let (from, to) = p.span(start, stop);
                Iter(IterRepr::Packed { buf: &p.buf[..to], front: from, back: to, left: stop + 1 - start })
            }
            Repr::Deque(d) => Iter(IterRepr::Deque(d.items.range(start..=stop))),
        }
    }

    /// Element `i` (0-based from the head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        match &self.repr {
            Repr::Packed(p) => {
                let (data, n, _) = read_forward(&p.buf, p.offset_of(i));
                Some(&p.buf[data..data + n])
            }
            Repr::Deque(d) => Some(&d.items[i]),
        }
    }

    /// The head (`left`) or tail element.
    pub fn end(&self, left: bool) -> Option<&[u8]> {
        let mut it = self.iter();
        if left {
            it.next()
        } else {
            it.next_back()
        }
    }

    /// How many elements LREM `count value` would remove.
    pub fn count_removable(&self, count: i64, value: &[u8]) -> usize {
        let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        let limit = if count == 0 { usize::MAX } else { limit };
        self.iter().filter(|e| *e == value).take(limit).count()
    }

    pub fn serialize(&self, out: &mut Vec<u8>) {
        put_u32(out, u32::try_from(self.len()).expect("list of over 4G elements"));
        for e in self.iter() {
            put_bytes(out, e);
        }
    }

    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<List, DecodeError> {
        let n = r.count(4)?;
        if n == 0 {
            // The keyspace never stores an empty collection; one here is corrupt.
            return Err(DecodeError::Invalid("empty list"));
        }
        let mut list = List::new();
        for _ in 0..n {
            let e = r.slice()?;
            list.grow_check(e.len(), 1, cfg);
            list.push(false, e);
        }
        Ok(list)
    }

    pub fn apply(&mut self, op: &ListOp<&[u8]>, cfg: &EncodingConfig) {
        match op {
            ListOp::Push { left, values } => {
                self.grow_check(values.iter().map(|v| v.len()).sum(), values.len(), cfg);
                self.push_each(*left, values);
            }
            ListOp::Pop { left, count } => {
                let n = usize::try_from(*count).unwrap_or(usize::MAX).min(self.len());
                self.pop(*left, n);
                self.shrink_check(cfg);
            }
            ListOp::Set { index, value } => {
                if let Some(i) = resolve_index(*index, self.len()) {
                    self.grow_check(value.len(), 1, cfg);
                    self.replace(i, value);
                    self.shrink_check(cfg);
                }
            }
            ListOp::Insert { before, pivot, value } => {
                self.grow_check(value.len(), 1, cfg);
                self.insert(*before, pivot, value);
            }
            ListOp::Rem { count, value } => {
                self.remove(*count, value);
                self.shrink_check(cfg);
            }
            ListOp::Trim { start, stop } => {
                let len = self.len();
                match normalize_range(*start, *stop, len) {
                    None => self.pop(true, len),
                    Some((first, last)) => {
                        self.pop(false, len - last - 1);
                        self.pop(true, first);
                    }
                }
                self.shrink_check(cfg);
            }
        }
    }

    /// Before adding `add_count` elements of `add_bytes` in all: a listpack that
    /// would exceed the limit becomes a quicklist.
    fn grow_check(&mut self, add_bytes: usize, add_count: usize, cfg: &EncodingConfig) {
        if let Repr::Packed(p) = &mut self.repr {
            let fill = cfg.list_max_listpack_size;
            if exceeds_limit(fill, p.buf.len().saturating_add(add_bytes), p.len.saturating_add(add_count)) {
                let mut items = VecDeque::with_capacity(p.len + add_count);
                let bytes = p.buf.len();
                items.extend(
                    Iter(IterRepr::Packed { buf: &p.buf, front: 0, back: p.buf.len(), left: p.len })
                        .map(StrValue::from_slice),
                );
                self.repr = Repr::Deque(Deque { items, bytes });
            }
        }
    }

    /// After removing elements: a quicklist down to half the limits becomes a
    /// listpack.
    fn shrink_check(&mut self, cfg: &EncodingConfig) {
        if let Repr::Deque(d) = &self.repr {
            if !d.items.is_empty() && fits_half_limit(cfg.list_max_listpack_size, d.bytes, d.items.len()) {
                let mut p = Packed { buf: Vec::with_capacity(d.bytes), len: 0 };
                for e in &d.items {
                    p.push_back(e);
                }
                assert_eq!(p.buf.len(), d.bytes, "deque byte count drifted from its elements");
                self.repr = Repr::Packed(p);
            }
        }
    }

    fn push(&mut self, left: bool, v: &[u8]) {
        self.push_each(left, &[v]);
    }

    fn push_each(&mut self, left: bool, values: &[&[u8]]) {
        match &mut self.repr {
            Repr::Packed(p) if left => p.push_front_each(values),
            Repr::Packed(p) => {
                p.buf.reserve(values.iter().map(|v| entry_size(v.len())).sum());
                for v in values {
                    p.push_back(v);
                }
            }
            Repr::Deque(d) => {
                for v in values {
                    d.push(left, v);
                }
            }
        }
    }

    fn pop(&mut self, left: bool, n: usize) {
        debug_assert!(n <= self.len());
        if n == 0 {
            return;
        }
        match &mut self.repr {
            Repr::Packed(p) if left => p.pop_front(n),
            Repr::Packed(p) => p.pop_back(n),
            Repr::Deque(d) => d.pop(left, n),
        }
    }

    fn replace(&mut self, i: usize, v: &[u8]) {
        match &mut self.repr {
            Repr::Packed(p) => p.replace(i, v),
            Repr::Deque(d) => {
                d.bytes = d.bytes - entry_size(d.items[i].len()) + entry_size(v.len());
                d.items[i] = StrValue::from_slice(v);
            }
        }
    }

    /// Inserts `value` before or after the first `pivot` from the head; false
    /// when there is no such element.
    fn insert(&mut self, before: bool, pivot: &[u8], value: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => match p.find(pivot) {
                Some((at, after)) => {
                    p.insert_at(if before { at } else { after }, value);
                    true
                }
                None => false,
            },
            Repr::Deque(d) => match d.items.iter().position(|e| &e[..] == pivot) {
                Some(i) => {
                    d.bytes += entry_size(value.len());
                    d.items.insert(if before { i } else { i + 1 }, StrValue::from_slice(value));
                    true
                }
                None => false,
            },
        }
    }

    /// LREM: removes `count` elements equal to `value` from the head
    /// (`count > 0`), from the tail (`count < 0`) or all (`0`); returns how many.
    fn remove(&mut self, count: i64, value: &[u8]) -> usize {
        let limit = match count {
            0 => usize::MAX,
            c => usize::try_from(c.unsigned_abs()).unwrap_or(usize::MAX),
        };
        match &mut self.repr {
            Repr::Packed(p) => {
                // From the tail: every match at or after the limit-th match from
                // the tail goes, scanning forward.
                let from = if count < 0 { p.nth_match_from_tail(value, limit) } else { 0 };
                p.remove_from(from, value, limit)
            }
            Repr::Deque(d) => {
                let from = if count < 0 {
                    let mut seen = 0;
                    d.items
                        .iter()
                        .rposition(|e| {
                            seen += usize::from(&e[..] == value);
                            seen == limit
                        })
                        .unwrap_or(0)
                } else {
                    0
                };
                d.remove_from(from, value, limit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn cfg(fill: i64) -> EncodingConfig {
        EncodingConfig { list_max_listpack_size: fill, ..EncodingConfig::default() }
    }

    fn contents(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    fn push(l: &mut List, left: bool, vals: &[&str], c: &EncodingConfig) {
        let values = vals.iter().map(|v| v.as_bytes()).collect();
        l.apply(&ListOp::Push { left, values }, c);
    }

    #[test]
    fn pushes_pops_and_conversion_by_count() {
        let c = cfg(4);
        let mut l = List::new();
        push(&mut l, true, &["a", "b"], &c);
        push(&mut l, false, &["c", "d"], &c);
        assert_eq!(contents(&l), [b"b", b"a", b"c", b"d"]);
        assert_eq!(l.encoding(), "listpack");
        push(&mut l, false, &["e"], &c);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(contents(&l), [b"b", b"a", b"c", b"d", b"e"]);
        l.apply(&ListOp::Pop { left: true, count: 2 }, &c);
        assert_eq!(l.encoding(), "quicklist", "3 > half of 4");
        l.apply(&ListOp::Pop { left: false, count: 1 }, &c);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(contents(&l), [b"c", b"d"]);
    }

    #[test]
    fn byte_limit_converts_on_a_big_element() {
        let c = EncodingConfig::default();
        let mut l = List::new();
        push(&mut l, false, &["x"], &c);
        let big = "y".repeat(9000);
        push(&mut l, true, &[&big], &c);
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.get(0).unwrap().len(), 9000);
        l.apply(&ListOp::Pop { left: true, count: 1 }, &c);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(contents(&l), [b"x"]);
    }

    #[test]
    fn long_entries_walk_both_ways() {
        let c = EncodingConfig { list_max_listpack_size: -5, ..EncodingConfig::default() };
        let mut l = List::new();
        let long = "L".repeat(300);
        push(&mut l, false, &["a", &long, "b", &long], &c);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(l.iter().rev().map(|e| e.len()).collect::<Vec<_>>(), [300, 1, 300, 1]);
        assert_eq!(l.range(1, 2).map(|e| e.len()).collect::<Vec<_>>(), [300, 1]);
        assert_eq!(l.get(3).unwrap().len(), 300);
    }

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(normalize_range(0, -1, 3), Some((0, 2)));
        assert_eq!(normalize_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(normalize_range(2, 1, 3), None);
        assert_eq!(normalize_range(3, 5, 3), None);
        assert_eq!(normalize_range(-1, -1, 3), Some((2, 2)));
        assert_eq!(normalize_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(normalize_range(0, -1, 0), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(3, 3), None);
    }

    // ----- model-based property tests -----

    #[derive(Clone, Debug)]
    enum ModelOp {
        Push(bool, Vec<Vec<u8>>),
        Pop(bool, u64),
        Set(i64, Vec<u8>),
        Insert(bool, Vec<u8>, Vec<u8>),
        Rem(i64, Vec<u8>),
        Trim(i64, i64),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::sample::select(vec![&b"a"[..], b"b", b"c", b"", b"dd"]).prop_map(|v| v.to_vec()),
            2 => prop::collection::vec(any::<u8>(), 0..40),
            1 => prop::collection::vec(any::<u8>(), 250..400),
        ]
    }

    fn small_index() -> impl Strategy<Value = i64> {
        prop_oneof![8 => -12i64..12, 1 => any::<i64>()]
    }

    fn model_op() -> impl Strategy<Value = ModelOp> {
        prop_oneof![
            4 => (any::<bool>(), prop::collection::vec(value(), 1..6)).prop_map(|(l, v)| ModelOp::Push(l, v)),
            2 => (any::<bool>(), 0u64..5).prop_map(|(l, n)| ModelOp::Pop(l, n)),
            1 => (small_index(), value()).prop_map(|(i, v)| ModelOp::Set(i, v)),
            1 => (any::<bool>(), value(), value()).prop_map(|(b, p, v)| ModelOp::Insert(b, p, v)),
            1 => (-3i64..3, value()).prop_map(|(c, v)| ModelOp::Rem(c, v)),
            1 => (small_index(), small_index()).prop_map(|(a, b)| ModelOp::Trim(a, b)),
        ]
    }

    fn to_op(op: &ModelOp) -> ListOp<&[u8]> {
        match op {
            ModelOp::Push(l, v) => ListOp::Push { left: *l, values: v.iter().map(|x| &x[..]).collect() },
            ModelOp::Pop(l, n) => ListOp::Pop { left: *l, count: *n },
            ModelOp::Set(i, v) => ListOp::Set { index: *i, value: v },
            ModelOp::Insert(b, p, v) => ListOp::Insert { before: *b, pivot: p, value: v },
            ModelOp::Rem(c, v) => ListOp::Rem { count: *c, value: v },
            ModelOp::Trim(a, b) => ListOp::Trim { start: *a, stop: *b },
        }
    }

    fn apply_model(m: &mut VecDeque<Vec<u8>>, op: &ModelOp) {
        match op {
            ModelOp::Push(left, vals) => {
                for v in vals {
                    if *left {
                        m.push_front(v.clone())
                    } else {
                        m.push_back(v.clone())
                    }
                }
            }
            ModelOp::Pop(left, n) => {
                for _ in 0..*n {
                    if *left {
                        m.pop_front();
                    } else {
                        m.pop_back();
                    }
                }
            }
            ModelOp::Set(i, v) => {
                if let Some(i) = resolve_index(*i, m.len()) {
                    m[i] = v.clone();
                }
            }
            ModelOp::Insert(before, p, v) => {
                if let Some(i) = m.iter().position(|e| e == p) {
                    m.insert(if *before { i } else { i + 1 }, v.clone());
                }
            }
            ModelOp::Rem(c, v) => {
                let limit = if *c == 0 { usize::MAX } else { c.unsigned_abs() as usize };
                let mut removed = 0;
                if *c >= 0 {
                    let mut i = 0;
                    while i < m.len() {
                        if removed < limit && &m[i] == v {
                            m.remove(i);
                            removed += 1;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    let mut i = m.len();
                    while i > 0 {
                        i -= 1;
                        if removed < limit && &m[i] == v {
                            m.remove(i);
                            removed += 1;
                        }
                    }
                }
            }
            ModelOp::Trim(a, b) => match normalize_range(*a, *b, m.len()) {
                None => m.clear(),
                Some((s, e)) => {
                    m.truncate(e + 1);
                    m.drain(..s);
                }
            },
        }
    }

    fn check_same(l: &List, m: &VecDeque<Vec<u8>>, c: &EncodingConfig) {
        assert_eq!(l.len(), m.len());
        let fwd: Vec<&[u8]> = l.iter().collect();
        let want: Vec<&[u8]> = m.iter().map(|v| &v[..]).collect();
        assert_eq!(fwd, want);
        let mut back: Vec<&[u8]> = l.iter().rev().collect();
        back.reverse();
        assert_eq!(back, want);
        assert_eq!(l.iter().len(), m.len());
        for (i, v) in m.iter().enumerate() {
            assert_eq!(l.get(i), Some(&v[..]));
        }
        if !m.is_empty() {
            let (s, e) = (m.len() / 3, m.len() - 1 - m.len() / 4);
            assert_eq!(l.range(s, e).collect::<Vec<_>>(), want[s..=e].to_vec());
            assert_eq!(l.range(s, e).rev().count(), e - s + 1);
        }
        assert_eq!(l.bytes(), m.iter().map(|v| entry_size(v.len())).sum::<usize>());
        if l.encoding() == "listpack" {
            assert!(!exceeds_limit(c.list_max_listpack_size, l.bytes(), l.len()));
        }
    }

    fn run(ops: &[ModelOp], c: &EncodingConfig) {
        let mut l = List::new();
        let mut m = VecDeque::new();
        for op in ops {
            l.apply(&to_op(op), c);
            apply_model(&mut m, op);
            check_same(&l, &m, c);
        }
        // Serialization round trip keeps the elements; an empty list is not a
        // value the keyspace stores, and does not decode.
        let mut out = Vec::new();
        l.serialize(&mut out);
        match List::deserialize(&mut Reader::new(&out), c) {
            Ok(back) => {
                assert_eq!(back, l);
                check_same(&back, &m, c);
            }
            Err(e) => assert!(l.is_empty(), "{e}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn matches_the_model_with_tiny_limits(
            fill in prop_oneof![Just(1i64), Just(2), Just(3), Just(5), Just(-1)],
            ops in prop::collection::vec(model_op(), 0..60),
        ) {
            run(&ops, &cfg(fill));
        }

        #[test]
        fn matches_the_model_with_defaults(ops in prop::collection::vec(model_op(), 0..120)) {
            run(&ops, &EncodingConfig::default());
        }

        #[test]
        fn count_removable_predicts_rem(
            vals in prop::collection::vec(value(), 0..30),
            count in -4i64..4,
            target in value(),
            fill in prop_oneof![Just(2i64), Just(-2)],
        ) {
            let c = cfg(fill);
            let mut l = List::new();
            l.apply(&ListOp::Push { left: false, values: vals.iter().map(|v| &v[..]).collect() }, &c);
            let predicted = l.count_removable(count, &target);
            let before = l.len();
            l.apply(&ListOp::Rem { count, value: &target }, &c);
            prop_assert_eq!(before - l.len(), predicted);
        }

        #[test]
        fn ops_round_trip(op in model_op()) {
            let op = to_op(&op);
            let mut out = Vec::new();
            op.encode(&mut out);
            let bytes = Bytes::from(out);
            let mut r = Reader::over(&bytes);
            let decoded = decode_op(&mut r).expect("decode");
            prop_assert!(r.is_empty());
            prop_assert_eq!(decoded.as_ref(), op);
        }

        #[test]
        fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_op(&mut Reader::new(&bytes));
            let _ = List::deserialize(&mut Reader::new(&bytes), &EncodingConfig::default());
            let _ = List::deserialize(&mut Reader::new(&bytes), &cfg(1));
        }
    }
}
