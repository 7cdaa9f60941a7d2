//! Sorted sets: unique members ordered by (score, member), scores IEEE doubles
//! (never NaN).
//!
//! Two encodings, as Redis has:
//! * **listpack**: one packed byte buffer of entries in (score, member) order,
//!   each `varint member length, member bytes, score`. A score that is a small
//!   non-negative integer takes one byte, other integral scores up to 2^53 a tag
//!   and 1..8 zigzag bytes, anything else a tag and the 8 bytes of the double
//!   (-0 becomes 0, as in Redis's listpack):
//!   ten short members cost about as much as in Redis's listpack. Lookups are
//!   linear scans, which is what small sets want (one cache-friendly buffer).
//!   Used while the set has at most `zset-max-listpack-entries` members of at
//!   most `zset-max-listpack-value` bytes.
//! * **skiplist** (Redis's name, which clients see in OBJECT ENCODING): an
//!   order-statistic B+tree keyed by (score, member), plus a `hashbrown` map
//!   member -> score for O(1) ZSCORE and membership. Leaves hold up to 64
//!   entries in two arrays (the scores, eight to a cache line, then the
//!   members as inline-or-heap `StrValue`s) and are chained both ways for
//!   range walks; inner nodes hold up to 64 children with each child's exact
//!   first key and entry count, so rank, range by rank, range by score and
//!   range by lex are one descent each, O(log n). Nodes live in two arenas
//!   addressed by `u32` (no unsafe code, no parent pointers: a descent
//!   records its path). Nodes split in halves (but for appends at the right
//!   edge, which start a new leaf so ascending loads are packed) and, after
//!   a delete, a node under a quarter full merges with or refills from a
//!   sibling.
//!
//!   Why not Redis's skiplist (this encoding's first form): a skiplist
//!   search visits about 2 log4(n) nodes, each one a cache miss, twice per
//!   score update (delete, then insert); at 100k members that is dozens of
//!   misses. The tree's inner levels are few and small enough to stay cached
//!   and a leaf costs a handful of misses in adjacent lines (a binary search
//!   over scores, members read only on equal scores, then a short memmove),
//!   so updates and queries take a half to a quarter of the time (see
//!   `benches/zset.rs`). The tree has no random levels: its shape is a
//!   function of the op sequence alone.
//!
//! Conversion is one-way (listpack -> skiplist) when an insert crosses a
//! threshold or an Add op carries more items than the entry limit (Redis's
//! size hint), as in Redis. Every query that selects by score or by lex range
//! is answered as a range of ranks (`score_rank_range`, `lex_rank_range`), so
//! commands iterate ranks whatever the encoding.
//!
//! Ops are absolute: [`ZSetOp::Add`] sets scores (ZINCRBY computes the new
//! score in the command), [`ZSetOp::Rem`] removes named members.

use bytes::Bytes;
use hashbrown::HashMap;

use super::EncodingConfig;
use crate::codec::{put_bytes, put_f64, put_u32, put_u8, DecodeError, Reader};
use crate::value::StrValue;

/// Comparison of two (score, member) keys in set order.
fn key_less(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

/// A score interval as ZRANGEBYSCORE takes it (`(` makes a bound exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// No score can be inside (Redis's zslIsInRange first test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    fn below_min(&self, s: f64) -> bool {
        if self.min_exclusive {
            s <= self.min
        } else {
            s < self.min
        }
    }

    fn within_max(&self, s: f64) -> bool {
        if self.max_exclusive {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    NegInf,
    PosInf,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

impl LexBound<'_> {
    /// Redis treats `-` and `+` as exclusive.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// Redis's sdscmplex of the bound against `other`, with -inf/+inf.
    fn cmp_bound(&self, other: &LexBound<'_>) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (LexBound::NegInf, LexBound::NegInf) | (LexBound::PosInf, LexBound::PosInf) => Equal,
            (LexBound::NegInf, _) | (_, LexBound::PosInf) => Less,
            (LexBound::PosInf, _) | (_, LexBound::NegInf) => Greater,
            (a, b) => a.bytes().cmp(b.bytes()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => b,
            _ => b"",
        }
    }

    /// Compares a member with this bound: Less when the member sorts before it.
    fn cmp_member(&self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            LexBound::NegInf => Greater,
            LexBound::PosInf => Less,
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => m.cmp(b),
        }
    }
}

/// A lex interval as ZRANGEBYLEX takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl LexRange<'_> {
    /// No member can be inside (Redis's zslIsInLexRange first test).
    pub fn is_empty(&self) -> bool {
        let c = self.min.cmp_bound(&self.max);
        c.is_gt() || (c.is_eq() && (self.min.exclusive() || self.max.exclusive()))
    }

    fn below_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.exclusive() {
            c.is_le()
        } else {
            c.is_lt()
        }
    }

    fn within_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.exclusive() {
            c.is_lt()
        } else {
            c.is_le()
        }
    }
}

// ---------------------------------------------------------------------------
// The listpack encoding
// ---------------------------------------------------------------------------

/// Score tags after the one-byte small integers 0..=SMALL_INT_MAX.
const SMALL_INT_MAX: u8 = 0xEF;
/// 0xF0 + n: a zigzag integer of n (1..=8) little-endian bytes follows.
const TAG_INT_BASE: u8 = 0xEF;
/// The 8 bytes of an f64 follow.
const TAG_DOUBLE: u8 = 0xFF;
/// Integral scores at most this large in magnitude are stored as integers.
const EXACT_INT_MAX: f64 = 9007199254740992.0; // 2^53

/// Appends the packed form of one entry.
fn encode_entry(out: &mut Vec<u8>, score: f64, member: &[u8]) {
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
fn decode_entry(buf: &[u8], mut off: usize) -> (&[u8], f64, usize) {
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
struct PackedIter<'a> {
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

fn packed_iter(buf: &[u8]) -> PackedIter<'_> {
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
fn packed_remove_at(buf: &mut Box<[u8]>, off: usize) {
    let (_, _, next) = decode_entry(buf, off);
    with_vec(buf, |v| {
        v.drain(off..next);
    });
}

/// Inserts an entry at its place in order (the member must be absent).
fn packed_insert(buf: &mut Box<[u8]>, score: f64, member: &[u8]) {
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

// ---------------------------------------------------------------------------
// The "skiplist" encoding: a counted B+tree
// ---------------------------------------------------------------------------

/// Entries a leaf holds at most: 64 scores are 8 cache lines, so a binary
/// search in a leaf costs about 4 misses where a skiplist pays one per node.
const LEAF_CAP: usize = 64;
/// Children an inner node holds at most.
const INNER_CAP: usize = 64;
/// After a delete, a non-root leaf with fewer entries is merged with or
/// refilled from a sibling (a quarter, not a half, so that a set hovering
/// around a boundary does not merge and split on every other op).
const LEAF_MIN: usize = LEAF_CAP / 4;
/// The same for inner nodes and their children.
const INNER_MIN: usize = INNER_CAP / 4;
/// Levels of inner nodes at most. Inner nodes but the root keep at least
/// `INNER_MIN` children, so 2^32 members need at most 8 levels; a tree that
/// would grow past this is a bug, and asserts.
const HEIGHT_MAX: usize = 16;
/// No leaf (the ends of the leaf chain).
const NIL: u32 = u32::MAX;

/// The placeholder in unused slots (inline, no allocation).
fn no_member() -> StrValue {
    StrValue::from_slice(b"")
}

/// Moves `src[at..at + n]` to `dst[to..to + n]`, shifting `dst[to..dst_len]`
/// right and `src[at + n..src_len]` left. Slots past a length hold
/// placeholders, which end up at the tail of `src`.
fn move_slots<T>(src: &mut [T], src_len: usize, at: usize, n: usize, dst: &mut [T], dst_len: usize, to: usize) {
    dst[to..dst_len + n].rotate_right(n);
    dst[to..to + n].swap_with_slice(&mut src[at..at + n]);
    src[at..src_len].rotate_left(n);
}

/// The sorted (score, member) keys of one node, scores apart from members:
/// a search compares scores, eight to a cache line, and reads a member only
/// when the scores are equal.
#[derive(Clone, Debug)]
struct Keys<const N: usize> {
    len: usize,
    scores: [f64; N],
    members: [StrValue; N],
}

impl<const N: usize> Keys<N> {
    fn new() -> Self {
        Keys { len: 0, scores: [0.0; N], members: std::array::from_fn(|_| no_member()) }
    }

    /// How many leading keys satisfy `pred` (true for a prefix, then false).
    #[inline]
    fn count_while(&self, pred: &impl Fn(f64, &StrValue) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(self.scores[mid], &self.members[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn insert_at(&mut self, pos: usize, score: f64, member: StrValue) {
        assert!(self.len < N, "insert into a full node");
        self.scores.copy_within(pos..self.len, pos + 1);
        self.scores[pos] = score;
        self.members[pos..=self.len].rotate_right(1);
        self.members[pos] = member;
        self.len += 1;
    }

    fn remove_at(&mut self, pos: usize) -> StrValue {
        let member = std::mem::replace(&mut self.members[pos], no_member());
        self.scores.copy_within(pos + 1..self.len, pos);
        self.members[pos..self.len].rotate_left(1);
        self.len -= 1;
        member
    }

    fn move_to(&mut self, at: usize, n: usize, dst: &mut Self, to: usize) {
        move_slots(&mut self.scores, self.len, at, n, &mut dst.scores, dst.len, to);
        move_slots(&mut self.members, self.len, at, n, &mut dst.members, dst.len, to);
        self.len -= n;
        dst.len += n;
    }

    /// The first key (the node must not be empty).
    fn first(&self) -> (f64, StrValue) {
        (self.scores[0], self.members[0].clone())
    }
}

/// A leaf: entries in order, and its neighbours in the leaf chain.
#[derive(Clone, Debug)]
struct Leaf {
    keys: Keys<LEAF_CAP>,
    prev: u32,
    next: u32,
}

/// An inner node: for each child, the child's exact first key (never a stale
/// one, so that predicates can be evaluated on keys as on entries), its
/// index and its number of entries.
#[derive(Clone, Debug)]
struct Inner {
    keys: Keys<INNER_CAP>,
    children: [u32; INNER_CAP],
    counts: [u32; INNER_CAP],
}

impl Inner {
    fn new() -> Inner {
        Inner { keys: Keys::new(), children: [NIL; INNER_CAP], counts: [0; INNER_CAP] }
    }

    fn insert_at(&mut self, pos: usize, key: (f64, StrValue), child: u32, count: usize) {
        let len = self.keys.len;
        self.children.copy_within(pos..len, pos + 1);
        self.counts.copy_within(pos..len, pos + 1);
        self.children[pos] = child;
        self.counts[pos] = count as u32;
        self.keys.insert_at(pos, key.0, key.1);
    }

    fn remove_at(&mut self, pos: usize) {
        let len = self.keys.len;
        self.children.copy_within(pos + 1..len, pos);
        self.counts.copy_within(pos + 1..len, pos);
        self.keys.remove_at(pos);
    }

    /// Entries under this node.
    fn entries(&self) -> usize {
        self.counts[..self.keys.len].iter().map(|&c| c as usize).sum()
    }
}

/// What the two node kinds share for splits, merges and refills.
trait Node {
    fn len(&self) -> usize;
    /// Entries under the node.
    fn entries(&self) -> usize;
    /// Moves slots `[at, at + n)` to `dst` at `to` (see `move_slots`).
    fn move_to(&mut self, at: usize, n: usize, dst: &mut Self, to: usize);
}

impl Node for Leaf {
    fn len(&self) -> usize {
        self.keys.len
    }
    fn entries(&self) -> usize {
        self.keys.len
    }
    fn move_to(&mut self, at: usize, n: usize, dst: &mut Self, to: usize) {
        self.keys.move_to(at, n, &mut dst.keys, to);
    }
}

impl Node for Inner {
    fn len(&self) -> usize {
        self.keys.len
    }
    fn entries(&self) -> usize {
        Inner::entries(self)
    }
    fn move_to(&mut self, at: usize, n: usize, dst: &mut Self, to: usize) {
        let (len, dst_len) = (self.keys.len, dst.keys.len);
        move_slots(&mut self.children, len, at, n, &mut dst.children, dst_len, to);
        move_slots(&mut self.counts, len, at, n, &mut dst.counts, dst_len, to);
        self.keys.move_to(at, n, &mut dst.keys, to);
    }
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(v: &mut [T], a: u32, b: u32) -> (&mut T, &mut T) {
    let (a, b) = (a as usize, b as usize);
    assert_ne!(a, b, "a node paired with itself");
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

/// How two siblings were fixed after one of them fell under its minimum.
enum Fixed {
    /// The right one moved into the left one, which has this many entries.
    Merged(usize),
    /// The slots were shared out evenly: entries of the left and right ones.
    Shared(usize, usize),
}

/// Merges `b` into `a` when they fit in one node of `cap` slots, else shares
/// their slots out evenly (each then has at least `cap / 2`).
fn fix_pair<T: Node>(a: &mut T, b: &mut T, cap: usize) -> Fixed {
    let total = a.len() + b.len();
    if total <= cap {
        b.move_to(0, b.len(), a, a.len());
        return Fixed::Merged(a.entries());
    }
    let want = total / 2;
    if a.len() < want {
        b.move_to(0, want - a.len(), a, a.len());
    } else {
        let n = a.len() - want;
        a.move_to(want, n, b, 0);
    }
    Fixed::Shared(a.entries(), b.entries())
}

/// The inner nodes from the root down to a leaf and the child taken in each.
type Path = [(u32, usize); HEIGHT_MAX];

/// An order-statistic B+tree of (score, member), nodes in arenas addressed by
/// `u32` (no unsafe code, no parent pointers). Invariants, checked by
/// `check` in the tests: all leaves at depth `height`; keys strictly
/// increasing along the leaf chain; an inner node's `keys[i]` is the first
/// key under child `i` and `counts[i]` the entries under it; no node but the
/// root is empty; an inner root has at least 2 children, other inner nodes
/// at least `INNER_MIN`, leaves but the last at least `LEAF_MIN` entries.
#[derive(Clone, Debug)]
struct Tree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Levels of inner nodes above the leaves (0: the root is a leaf).
    height: usize,
    len: usize,
}

impl Tree {
    fn new() -> Tree {
        let mut t = Tree {
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
        };
        t.root = t.alloc_leaf();
        t
    }

    fn alloc_leaf(&mut self) -> u32 {
        let leaf = Leaf { keys: Keys::new(), prev: NIL, next: NIL };
        if let Some(i) = self.free_leaves.pop() {
            self.leaves[i as usize] = leaf;
            return i;
        }
        assert!(self.leaves.len() < NIL as usize, "sorted set over 2^32 leaves");
        self.leaves.push(leaf);
        (self.leaves.len() - 1) as u32
    }

    fn alloc_inner(&mut self) -> u32 {
        if let Some(i) = self.free_inners.pop() {
            self.inners[i as usize] = Inner::new();
            return i;
        }
        self.inners.push(Inner::new());
        (self.inners.len() - 1) as u32
    }

    /// The leaf where (score, member) is or belongs, recording the way down.
    fn descend(&self, score: f64, member: &[u8], path: &mut Path) -> u32 {
        let mut node = self.root;
        for step in path.iter_mut().take(self.height) {
            let inner = &self.inners[node as usize];
            // The last child whose first key is <= the key (or the first).
            let upto = inner.keys.count_while(&|s, m| s < score || (s == score && **m <= *member));
            let i = upto.saturating_sub(1);
            *step = (node, i);
            node = inner.children[i];
        }
        node
    }

    /// Records that the node reached by `path[..depth]` now starts with
    /// `key`: in its parent, and up while it is its parent's first child.
    fn update_first(&mut self, path: &Path, depth: usize, key: (f64, StrValue)) {
        for &(p, i) in path[..depth].iter().rev() {
            let keys = &mut self.inners[p as usize].keys;
            keys.scores[i] = key.0;
            keys.members[i] = key.1.clone();
            if i != 0 {
                break;
            }
        }
    }

    /// Inserts (score, member), which must be absent.
    fn insert(&mut self, score: f64, member: StrValue) {
        assert!(self.len < u32::MAX as usize, "sorted set over 2^32 members");
        let mut path = [(NIL, 0); HEIGHT_MAX];
        let id = self.descend(score, &member, &mut path);
        for &(p, i) in &path[..self.height] {
            self.inners[p as usize].counts[i] += 1;
        }
        self.len += 1;
        let leaf = &mut self.leaves[id as usize];
        let pos = leaf.keys.count_while(&|s, m| s < score || (s == score && **m < *member));
        if leaf.keys.len < LEAF_CAP {
            leaf.keys.insert_at(pos, score, member);
            if pos == 0 {
                let first = leaf.keys.first();
                self.update_first(&path, self.height, first);
            }
            return;
        }
        // Appending at the right edge of the set (ascending inserts, loading
        // a serialized set) leaves the full leaf full and starts a new one,
        // so that such sets are packed, not half empty. Only leaves do this,
        // so the new leaf always has a sibling.
        let append = pos == LEAF_CAP && leaf.next == NIL;
        let mid = if append { LEAF_CAP } else { LEAF_CAP / 2 };
        let rid = self.alloc_leaf();
        let (left, right) = pair_mut(&mut self.leaves, id, rid);
        left.move_to(mid, LEAF_CAP - mid, right, 0);
        (right.prev, right.next, left.next) = (id, left.next, rid);
        if pos < mid {
            left.keys.insert_at(pos, score, member);
        } else {
            right.keys.insert_at(pos - mid, score, member);
        }
        let (left_count, right_count, right_first) = (left.keys.len, right.keys.len, right.keys.first());
        let (first, next) = (left.keys.first(), right.next);
        if next != NIL {
            self.leaves[next as usize].prev = rid;
        }
        if pos == 0 {
            self.update_first(&path, self.height, first);
        }
        self.insert_child(&path, self.height, left_count, (right_first, rid, right_count));
    }

    /// The node at `depth` on `path` was split: it keeps `left_count`
    /// entries and `right` (first key, node, entries) goes just after it in
    /// its parent, splitting that in turn when full. Inner nodes always split
    /// in halves, so every inner node but the root keeps at least
    /// `INNER_MIN` children and every node has a sibling to merge with.
    fn insert_child(
        &mut self,
        path: &Path,
        mut depth: usize,
        mut left_count: usize,
        mut right: ((f64, StrValue), u32, usize),
    ) {
        while depth > 0 {
            depth -= 1;
            let (p, i) = path[depth];
            let node = &mut self.inners[p as usize];
            node.counts[i] = left_count as u32;
            if node.keys.len < INNER_CAP {
                node.insert_at(i + 1, right.0, right.1, right.2);
                return;
            }
            let (at, mid) = (i + 1, INNER_CAP / 2);
            let rid = self.alloc_inner();
            let (l, r) = pair_mut(&mut self.inners, p, rid);
            l.move_to(mid, INNER_CAP - mid, r, 0);
            if at < mid {
                l.insert_at(at, right.0, right.1, right.2);
            } else {
                r.insert_at(at - mid, right.0, right.1, right.2);
            }
            left_count = l.entries();
            right = (r.keys.first(), rid, r.entries());
        }
        // The root split: a new root above the two halves.
        let old = self.root;
        let first = if self.height == 0 {
            self.leaves[old as usize].keys.first()
        } else {
            self.inners[old as usize].keys.first()
        };
        let root = self.alloc_inner();
        let node = &mut self.inners[root as usize];
        node.insert_at(0, first, old, left_count);
        node.insert_at(1, right.0, right.1, right.2);
        self.root = root;
        self.height += 1;
        assert!(self.height < HEIGHT_MAX, "sorted set tree too high");
    }

    /// Removes (score, member) and returns the member; None when absent.
    fn delete(&mut self, score: f64, member: &[u8]) -> Option<StrValue> {
        let mut path = [(NIL, 0); HEIGHT_MAX];
        let id = self.descend(score, member, &mut path);
        let leaf = &mut self.leaves[id as usize];
        let pos = leaf.keys.count_while(&|s, m| s < score || (s == score && **m < *member));
        if pos >= leaf.keys.len || leaf.keys.scores[pos] != score || *leaf.keys.members[pos] != *member {
            return None;
        }
        let removed = leaf.keys.remove_at(pos);
        let (left, first) = (leaf.keys.len, (pos == 0 && leaf.keys.len > 0).then(|| leaf.keys.first()));
        for &(p, i) in &path[..self.height] {
            self.inners[p as usize].counts[i] -= 1;
        }
        self.len -= 1;
        if let Some(first) = first {
            self.update_first(&path, self.height, first);
        }
        if left < LEAF_MIN {
            self.rebalance(&path);
        }
        Some(removed)
    }

    /// Fixes underfull nodes from the leaf on `path` up, then drops roots
    /// with a single child.
    fn rebalance(&mut self, path: &Path) {
        let mut depth = self.height;
        while depth > 0 {
            let (p, i) = path[depth - 1];
            let at_leaf = depth == self.height;
            let child = self.inners[p as usize].children[i];
            let (len, min) = if at_leaf {
                (self.leaves[child as usize].keys.len, LEAF_MIN)
            } else {
                (self.inners[child as usize].keys.len, INNER_MIN)
            };
            if len >= min {
                break;
            }
            assert!(self.inners[p as usize].keys.len >= 2, "a node without a sibling");
            let (ai, bi) = if i > 0 { (i - 1, i) } else { (i, i + 1) };
            self.fix_children(path, depth, at_leaf, (ai, bi), len == 0);
            depth -= 1;
        }
        while self.height > 0 && self.inners[self.root as usize].keys.len == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].children[0];
            self.inners[old as usize].keys.remove_at(0);
            self.free_inners.push(old);
            self.height -= 1;
        }
    }

    /// Merges or refills the children `ai` < `bi` of the node that `path`
    /// reaches at `depth - 1`; `a_was_empty` when the left one lost its
    /// only entry (its first key then changes).
    fn fix_children(&mut self, path: &Path, depth: usize, at_leaf: bool, (ai, bi): (usize, usize), a_was_empty: bool) {
        let p = path[depth - 1].0 as usize;
        let (a, b) = (self.inners[p].children[ai], self.inners[p].children[bi]);
        let (fixed, a_first, b_first) = if at_leaf {
            let (la, lb) = pair_mut(&mut self.leaves, a, b);
            let fixed = fix_pair(la, lb, LEAF_CAP);
            if let Fixed::Merged(_) = fixed {
                let next = lb.next;
                la.next = next;
                if next != NIL {
                    self.leaves[next as usize].prev = a;
                }
                self.free_leaves.push(b);
            }
            let first_b = (self.leaves[b as usize].keys.len > 0).then(|| self.leaves[b as usize].keys.first());
            (fixed, self.leaves[a as usize].keys.first(), first_b)
        } else {
            let (na, nb) = pair_mut(&mut self.inners, a, b);
            let fixed = fix_pair(na, nb, INNER_CAP);
            if let Fixed::Merged(_) = fixed {
                self.free_inners.push(b);
            }
            let first_b = (self.inners[b as usize].keys.len > 0).then(|| self.inners[b as usize].keys.first());
            (fixed, self.inners[a as usize].keys.first(), first_b)
        };
        let parent = &mut self.inners[p];
        match fixed {
            Fixed::Merged(n) => {
                parent.counts[ai] = n as u32;
                parent.remove_at(bi);
            }
            Fixed::Shared(na, nb) => {
                parent.counts[ai] = na as u32;
                parent.counts[bi] = nb as u32;
                let (s, m) = b_first.expect("a refilled node is not empty");
                parent.keys.scores[bi] = s;
                parent.keys.members[bi] = m;
            }
        }
        if a_was_empty && ai == path[depth - 1].1 {
            // The emptied left child took its sibling's entries: its first
            // key is new, in this parent and maybe further up.
            self.update_first(path, depth, a_first);
        }
    }

    /// How many leading entries satisfy `pred` (true for a prefix of the
    /// order, then false).
    fn count_while(&self, pred: impl Fn(f64, &StrValue) -> bool) -> usize {
        let mut node = self.root;
        let mut rank = 0usize;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let i = inner.keys.count_while(&pred).saturating_sub(1);
            rank += inner.counts[..i].iter().map(|&c| c as usize).sum::<usize>();
            node = inner.children[i];
        }
        rank + self.leaves[node as usize].keys.count_while(&pred)
    }

    /// The leaf and slot of the entry at 0-based `rank` (< len).
    fn at_rank(&self, mut rank: usize) -> (u32, usize) {
        assert!(rank < self.len, "rank {rank} out of range for {} entries", self.len);
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let mut i = 0;
            while rank >= inner.counts[i] as usize {
                rank -= inner.counts[i] as usize;
                i += 1;
            }
            node = inner.children[i];
        }
        (node, rank)
    }

    /// Calls `f(member, score)` for the ranks `[start, end)` (end <= len,
    /// start < end), ascending, or descending when `rev`.
    fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let mut left = end - start;
        if rev {
            let (mut id, pos) = self.at_rank(end - 1);
            let mut upto = pos + 1;
            loop {
                let keys = &self.leaves[id as usize].keys;
                let take = upto.min(left);
                for j in (upto - take..upto).rev() {
                    f(&keys.members[j], keys.scores[j]);
                }
                left -= take;
                if left == 0 {
                    return;
                }
                id = self.leaves[id as usize].prev;
                upto = self.leaves[id as usize].keys.len;
            }
        }
        let (mut id, mut pos) = self.at_rank(start);
        loop {
            let keys = &self.leaves[id as usize].keys;
            let take = (keys.len - pos).min(left);
            for j in pos..pos + take {
                f(&keys.members[j], keys.scores[j]);
            }
            left -= take;
            if left == 0 {
                return;
            }
            id = self.leaves[id as usize].next;
            pos = 0;
        }
    }

    /// Heap bytes of the arenas and of the members' own allocations.
    fn heap_bytes(&self) -> usize {
        let arenas = self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
            + (self.free_leaves.capacity() + self.free_inners.capacity()) * 4;
        let leaf_members: usize =
            self.leaves.iter().flat_map(|l| &l.keys.members[..l.keys.len]).map(StrValue::heap_bytes).sum();
        let inner_members: usize =
            self.inners.iter().flat_map(|n| &n.keys.members[..n.keys.len]).map(StrValue::heap_bytes).sum();
        arenas + leaf_members + inner_members
    }
}

/// The "skiplist" encoding: the ordered tree plus member -> score map.
#[derive(Clone, Debug)]
struct Sorted {
    tree: Tree,
    dict: HashMap<StrValue, f64>,
}

impl Sorted {
    fn with_capacity(n: usize) -> Sorted {
        Sorted { tree: Tree::new(), dict: HashMap::with_capacity(n) }
    }

    fn set(&mut self, score: f64, member: &[u8]) {
        match self.dict.get_mut(member) {
            Some(old) if old.to_bits() == score.to_bits() => {}
            Some(old) => {
                let prev = *old;
                *old = score;
                let m = self.tree.delete(prev, member).expect("a member of the map is in the tree");
                self.tree.insert(score, m);
            }
            None => {
                self.dict.insert(StrValue::from_slice(member), score);
                self.tree.insert(score, StrValue::from_slice(member));
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match self.dict.remove(member) {
            Some(score) => {
                self.tree.delete(score, member).expect("a member of the map is in the tree");
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------
// ZSet
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Repr {
    /// The entries, exactly sized, and their count.
    Packed {
        buf: Box<[u8]>,
        len: u32,
    },
    Sorted(Box<Sorted>),
}

/// A sorted set (see the module docs for its encodings).
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet { repr: Repr::Packed { buf: Box::new([]), len: 0 } }
    }
}

impl PartialEq for ZSet {
    /// Same members with the same scores (whatever the encodings).
    fn eq(&self, other: &ZSet) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (mut a, mut b) = (Vec::with_capacity(self.len()), Vec::with_capacity(other.len()));
        self.for_range(0, self.len(), false, |m, s| a.push((m.to_vec(), s)));
        other.for_range(0, other.len(), false, |m, s| b.push((m.to_vec(), s)));
        a == b
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed { len, .. } => *len as usize,
            Repr::Sorted(s) => s.tree.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed { .. } => "listpack",
            Repr::Sorted(_) => "skiplist",
        }
    }

    /// Approximate heap bytes (MEMORY USAGE, lazy-free decisions).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed { buf, .. } => buf.len(),
            Repr::Sorted(s) => {
                let dict = s.dict.capacity() * (std::mem::size_of::<(StrValue, f64)>() + 1);
                let dict_members: usize = s.dict.keys().map(StrValue::heap_bytes).sum();
                std::mem::size_of::<Sorted>() + s.tree.heap_bytes() + dict + dict_members
            }
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed { buf, .. } => packed_iter(buf).find(|&(_, m, _)| m == member).map(|(_, _, s)| s),
            Repr::Sorted(s) => s.dict.get(member).copied(),
        }
    }

    /// The 0-based rank of `member` in ascending order, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed { buf, .. } => {
                packed_iter(buf).enumerate().find(|(_, (_, m, _))| *m == member).map(|(i, (_, _, s))| (i, s))
            }
            Repr::Sorted(s) => {
                let score = *s.dict.get(member)?;
                // Members are read only on equal scores (see `Keys`).
                let below = s.tree.count_while(|fs, fm| fs < score || (fs == score && **fm < *member));
                Some((below, score))
            }
        }
    }

    /// The member and score at 0-based `rank` (< len).
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        match &self.repr {
            Repr::Packed { buf, .. } => packed_iter(buf).nth(rank).map(|(_, m, s)| (m, s)),
            Repr::Sorted(s) => {
                let (leaf, pos) = s.tree.at_rank(rank);
                let keys = &s.tree.leaves[leaf as usize].keys;
                Some((&keys.members[pos], keys.scores[pos]))
            }
        }
    }

    /// How many leading entries satisfy `pred` (monotone: true then false).
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed { buf, .. } => packed_iter(buf).take_while(|&(_, m, s)| pred(s, m)).count(),
            Repr::Sorted(s) => s.tree.count_while(|fs, fm| pred(fs, fm)),
        }
    }

    /// The ranks `[first, end)` of the members with scores inside `r`
    /// (empty when first >= end).
    pub fn score_rank_range(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() || self.is_empty() {
            return (0, 0);
        }
        let first = self.count_while(|s, _| r.below_min(s));
        let end = self.count_while(|s, _| r.within_max(s));
        (first, end.max(first))
    }

    /// The ranks `[first, end)` of the members inside the lex range `r`
    /// (meaningful when all scores are equal, as in Redis).
    pub fn lex_rank_range(&self, r: &LexRange<'_>) -> (usize, usize) {
        if r.is_empty() || self.is_empty() {
            return (0, 0);
        }
        let first = self.count_while(|_, m| r.below_min(m));
        let end = self.count_while(|_, m| r.within_max(m));
        (first, end.max(first))
    }

    /// Calls `f(member, score)` for the ranks `[start, end)` in ascending
    /// order, or descending from `end - 1` when `rev`.
    pub fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Packed { buf, .. } => {
                let it = packed_iter(buf).skip(start).take(end - start);
                if rev {
                    let offsets: Vec<usize> = it.map(|(at, _, _)| at).collect();
                    for &at in offsets.iter().rev() {
                        let (m, s, _) = decode_entry(buf, at);
                        f(m, s);
                    }
                } else {
                    for (_, m, s) in it {
                        f(m, s);
                    }
                }
            }
            Repr::Sorted(sorted) => sorted.tree.for_range(start, end, rev, f),
        }
    }

    /// Every (score, member) in order, copied out (set operations, tests).
    pub fn to_vec(&self) -> Vec<(f64, Vec<u8>)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_range(0, self.len(), false, |m, s| out.push((s, m.to_vec())));
        out
    }

    /// A set holding `pairs`, which must be sorted by (score, member) with
    /// unique members and no NaN, in the listpack encoding whatever its size:
    /// for building a value to serialize (the reader picks the encoding).
    pub fn from_sorted<'a>(pairs: impl IntoIterator<Item = (f64, &'a [u8])>) -> ZSet {
        let mut buf = Vec::new();
        let mut len = 0u32;
        for (s, m) in pairs {
            encode_entry(&mut buf, s, m);
            len += 1;
        }
        ZSet { repr: Repr::Packed { buf: buf.into_boxed_slice(), len } }
    }

    fn convert_to_sorted(&mut self) {
        let Repr::Packed { buf, len } = &self.repr else {
            return;
        };
        let mut sorted = Sorted::with_capacity(*len as usize);
        for (_, m, s) in packed_iter(buf) {
            sorted.set(s, m);
        }
        self.repr = Repr::Sorted(Box::new(sorted));
    }

    /// Sets `member`'s score, inserting it when absent.
    fn set(&mut self, score: f64, member: &[u8], cfg: &EncodingConfig) {
        if let Repr::Packed { buf, len } = &mut self.repr {
            let found = packed_iter(buf).find(|&(_, m, _)| m == member);
            match found {
                Some((_, _, s)) if s.to_bits() == score.to_bits() => return,
                Some((at, _, _)) => {
                    packed_remove_at(buf, at);
                    packed_insert(buf, score, member);
                    return;
                }
                None if (*len as usize) < cfg.zset_max_listpack_entries
                    && member.len() <= cfg.zset_max_listpack_value =>
                {
                    packed_insert(buf, score, member);
                    *len += 1;
                    return;
                }
                None => self.convert_to_sorted(),
            }
        }
        if let Repr::Sorted(s) = &mut self.repr {
            s.set(score, member);
        }
    }

    fn remove(&mut self, member: &[u8]) {
        match &mut self.repr {
            Repr::Packed { buf, len } => {
                if let Some((at, _, _)) = packed_iter(buf).find(|&(_, m, _)| m == member) {
                    packed_remove_at(buf, at);
                    *len -= 1;
                }
            }
            Repr::Sorted(s) => {
                s.remove(member);
            }
        }
    }

    /// Whole value: encoding flag (0 listpack, 1 skiplist: kept by COPY and
    /// RENAME, as Redis keeps the object), count, then (member, score) in order.
    pub fn serialize(&self, out: &mut Vec<u8>) {
        put_u8(out, u8::from(matches!(self.repr, Repr::Sorted(_))));
        put_u32(out, self.len() as u32);
        self.for_range(0, self.len(), false, |m, s| {
            put_bytes(out, m);
            put_f64(out, s);
        });
    }

    /// Reads [`ZSet::serialize`]'s form; the listpack encoding is used when the
    /// flag asks for it and the set fits the thresholds. Rejects NaN scores,
    /// entries out of order and repeated members; never panics.
    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<ZSet, DecodeError> {
        let flag = r.u8()?;
        if flag > 1 {
            return Err(DecodeError::Invalid("unknown sorted set encoding"));
        }
        let n = r.count(12)?;
        let mut pairs: Vec<(f64, &[u8])> = Vec::with_capacity(n);
        for _ in 0..n {
            let m = r.slice()?;
            let s = r.f64()?;
            if s.is_nan() {
                return Err(DecodeError::Invalid("NaN score in sorted set"));
            }
            if let Some(&(ps, pm)) = pairs.last() {
                if !key_less(ps, pm, s, m) {
                    return Err(DecodeError::Invalid("sorted set entries out of order"));
                }
            }
            pairs.push((s, m));
        }
        let fits =
            n <= cfg.zset_max_listpack_entries && pairs.iter().all(|(_, m)| m.len() <= cfg.zset_max_listpack_value);
        if flag == 0 && fits {
            let mut seen = hashbrown::HashSet::with_capacity(n);
            if !pairs.iter().all(|(_, m)| seen.insert(*m)) {
                return Err(DecodeError::Invalid("repeated sorted set member"));
            }
            return Ok(ZSet::from_sorted(pairs));
        }
        let mut sorted = Sorted::with_capacity(n);
        for (s, m) in pairs {
            if sorted.dict.contains_key(m) {
                return Err(DecodeError::Invalid("repeated sorted set member"));
            }
            sorted.set(s, m);
        }
        Ok(ZSet { repr: Repr::Sorted(Box::new(sorted)) })
    }

    pub fn apply(&mut self, op: &ZSetOp<&[u8]>, cfg: &EncodingConfig) {
        match op {
            ZSetOp::Add(items) => {
                // Redis converts up front when a command brings more elements
                // than a listpack may hold (zsetTypeMaybeConvert's size hint).
                if items.len() > cfg.zset_max_listpack_entries {
                    self.convert_to_sorted();
                }
                for &(score, member) in items {
                    self.set(score, member, cfg);
                }
            }
            ZSetOp::Rem(members) => {
                for m in members {
                    self.remove(m);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------

/// The deterministic effect of a sorted set write.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetOp<B> {
    /// Set each member's score (absolute), inserting absent members; applied
    /// in order. Scores are never NaN.
    Add(Vec<(f64, B)>),
    /// Remove these members (absent ones are skipped).
    Rem(Vec<B>),
}

const OP_ADD: u8 = 1;
const OP_REM: u8 = 2;

impl<B: AsRef<[u8]>> ZSetOp<B> {
    pub fn as_ref(&self) -> ZSetOp<&[u8]> {
        match self {
            ZSetOp::Add(items) => ZSetOp::Add(items.iter().map(|(s, m)| (*s, m.as_ref())).collect()),
            ZSetOp::Rem(members) => ZSetOp::Rem(members.iter().map(|m| m.as_ref()).collect()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ZSetOp::Add(items) => {
                put_u8(out, OP_ADD);
                put_u32(out, items.len() as u32);
                for (s, m) in items {
                    put_f64(out, *s);
                    put_bytes(out, m.as_ref());
                }
            }
            ZSetOp::Rem(members) => {
                put_u8(out, OP_REM);
                put_u32(out, members.len() as u32);
                for m in members {
                    put_bytes(out, m.as_ref());
                }
            }
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<ZSetOp<Bytes>, DecodeError> {
    match r.u8()? {
        OP_ADD => {
            let n = r.count(12)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let s = r.f64()?;
                if s.is_nan() {
                    return Err(DecodeError::Invalid("NaN score in sorted set op"));
                }
                items.push((s, r.bytes()?));
            }
            Ok(ZSetOp::Add(items))
        }
        OP_REM => {
            let n = r.count(4)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.bytes()?);
            }
            Ok(ZSetOp::Rem(members))
        }
        _ => Err(DecodeError::Invalid("unknown sorted set op")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn tiny() -> EncodingConfig {
        EncodingConfig { zset_max_listpack_entries: 4, zset_max_listpack_value: 6, ..EncodingConfig::default() }
    }

    fn arb_score() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(-1.0),
            Just(239.0),
            Just(240.0),
            Just(-240.0),
            Just(1.5),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(9007199254740992.0),
            Just(1e300),
            (-1000i64..1000).prop_map(|i| i as f64),
            any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        ]
    }

    fn arb_member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0u8..12).prop_map(|i| vec![b'a' + i]),
            proptest::collection::vec(any::<u8>(), 0..10),
            proptest::collection::vec(b'x'..=b'z', 20..200),
        ]
    }

    fn arb_op() -> impl Strategy<Value = ZSetOp<Vec<u8>>> {
        prop_oneof![
            3 => proptest::collection::vec((arb_score(), arb_member()), 1..8).prop_map(ZSetOp::Add),
            1 => proptest::collection::vec(arb_member(), 1..5).prop_map(ZSetOp::Rem),
        ]
    }

    /// The model's contents in set order.
    fn model_sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));
        v
    }

    fn apply_model(model: &mut BTreeMap<Vec<u8>, f64>, op: &ZSetOp<Vec<u8>>) {
        match op {
            ZSetOp::Add(items) => {
                for (s, m) in items {
                    model.insert(m.clone(), *s);
                }
            }
            ZSetOp::Rem(ms) => {
                for m in ms {
                    model.remove(m);
                }
            }
        }
    }

    fn same_contents(z: &ZSet, want: &[(f64, Vec<u8>)]) -> Result<(), TestCaseError> {
        prop_assert_eq!(z.len(), want.len());
        let got = z.to_vec();
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            prop_assert_eq!(g.0, w.0);
            prop_assert_eq!(&g.1, &w.1);
        }
        let mut rev = Vec::new();
        z.for_range(0, z.len(), true, |m, s| rev.push((s, m.to_vec())));
        rev.reverse();
        prop_assert_eq!(&rev, &got);
        for (i, (s, m)) in want.iter().enumerate() {
            prop_assert_eq!(z.score(m), Some(*s));
            prop_assert_eq!(z.rank(m).map(|r| r.0), Some(i));
            let (gm, gs) = z.get(i).unwrap();
            prop_assert_eq!((gm, gs), (&m[..], *s));
        }
        Ok(())
    }

    fn check_ranges(z: &ZSet, want: &[(f64, Vec<u8>)], lo: f64, hi: f64, ex: bool) -> Result<(), TestCaseError> {
        let r = ScoreRange { min: lo, max: hi, min_exclusive: ex, max_exclusive: !ex };
        let inside: Vec<usize> =
            (0..want.len()).filter(|&i| !r.below_min(want[i].0) && r.within_max(want[i].0)).collect();
        let (first, end) = z.score_rank_range(&r);
        let got: Vec<usize> = (first..end).collect();
        prop_assert_eq!(got, inside);
        Ok(())
    }

    proptest! {
        #[test]
        fn ops_match_a_model(ops in proptest::collection::vec(arb_op(), 0..40), tiny_cfg in any::<bool>(),
                             lo in arb_score(), hi in arb_score(), ex in any::<bool>()) {
            let cfg = if tiny_cfg { tiny() } else { EncodingConfig::default() };
            let mut z = ZSet::new();
            let mut model = BTreeMap::new();
            for op in &ops {
                z.apply(&op.as_ref(), &cfg);
                apply_model(&mut model, op);
                let want = model_sorted(&model);
                same_contents(&z, &want)?;
            }
            let want = model_sorted(&model);
            check_ranges(&z, &want, lo, hi, ex)?;
            let big = model.len() > cfg.zset_max_listpack_entries
                || model.keys().any(|m| m.len() > cfg.zset_max_listpack_value);
            if big {
                prop_assert_eq!(z.encoding(), "skiplist");
            }
            // serialize -> deserialize keeps contents and encoding.
            let mut bytes = Vec::new();
            z.serialize(&mut bytes);
            let back = ZSet::deserialize(&mut Reader::new(&bytes), &cfg).unwrap();
            prop_assert_eq!(back.encoding(), z.encoding());
            same_contents(&back, &want)?;
            prop_assert!(back == z);
        }

        #[test]
        fn lex_ranges_match_a_model(members in proptest::collection::vec(arb_member(), 0..30), tiny_cfg in any::<bool>(),
                                    a in arb_member(), b in arb_member(), kind in 0u8..16) {
            let cfg = if tiny_cfg { tiny() } else { EncodingConfig::default() };
            let mut z = ZSet::new();
            z.apply(&ZSetOp::Add(members.iter().map(|m| (0.0, &m[..])).collect()), &cfg);
            let mut sorted: Vec<Vec<u8>> = members.clone();
            sorted.sort();
            sorted.dedup();
            let bound = |k: u8, v: &[u8]| -> LexBound<'static> {
                let v: &'static [u8] = Box::leak(v.to_vec().into_boxed_slice());
                match k { 0 => LexBound::NegInf, 1 => LexBound::PosInf, 2 => LexBound::Inclusive(v), _ => LexBound::Exclusive(v) }
            };
            let r = LexRange { min: bound(kind & 3, &a), max: bound(kind >> 2, &b) };
            let want: Vec<usize> = if r.is_empty() { vec![] } else {
                (0..sorted.len()).filter(|&i| !r.below_min(&sorted[i]) && r.within_max(&sorted[i])).collect()
            };
            let (first, end) = z.lex_rank_range(&r);
            prop_assert_eq!((first..end).collect::<Vec<_>>(), want);
        }

        #[test]
        fn op_encoding_round_trips(op in arb_op()) {
            let mut buf = Vec::new();
            op.encode(&mut buf);
            let bytes = Bytes::from(buf);
            let mut r = Reader::over(&bytes);
            let back = decode_op(&mut r).unwrap();
            prop_assert!(r.is_empty());
            prop_assert_eq!(back.as_ref(), op.as_ref());
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = decode_op(&mut Reader::new(&bytes));
            let _ = ZSet::deserialize(&mut Reader::new(&bytes), &tiny());
            let _ = ZSet::deserialize(&mut Reader::new(&bytes), &EncodingConfig::default());
        }
    }

    #[test]
    fn listpack_is_compact() {
        let mut z = ZSet::new();
        let members: Vec<String> = (0..10).map(|i| format!("member:{i}")).collect();
        let items: Vec<(f64, &[u8])> = members.iter().enumerate().map(|(i, m)| (i as f64, m.as_bytes())).collect();
        z.apply(&ZSetOp::Add(items), &EncodingConfig::default());
        assert_eq!(z.encoding(), "listpack");
        // 1 length byte + 8 member bytes + 1 score byte per entry.
        assert_eq!(z.heap_bytes(), 100);
        // 24 bytes: a 32-byte malloc chunk, like Redis's robj (16) rounded.
        assert!(std::mem::size_of::<ZSet>() <= 24);
    }

    #[test]
    fn conversion_follows_the_thresholds() {
        let cfg = tiny();
        let mut z = ZSet::new();
        z.apply(&ZSetOp::Add(vec![(1.0, &b"a"[..]), (2.0, b"b"), (3.0, b"c"), (4.0, b"d")]), &cfg);
        assert_eq!(z.encoding(), "listpack");
        z.apply(&ZSetOp::Add(vec![(5.0, &b"e"[..])]), &cfg);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new();
        z.apply(&ZSetOp::Add(vec![(1.0, &b"long-member"[..])]), &cfg);
        assert_eq!(z.encoding(), "skiplist");
        // More items than the limit convert even when they collapse to one.
        let mut z = ZSet::new();
        z.apply(&ZSetOp::Add(vec![(1.0, &b"a"[..]); 5]), &cfg);
        assert_eq!((z.len(), z.encoding()), (1, "skiplist"));
    }

    /// Walks the subtree at `node` (`depth` levels of inner nodes below the
    /// root), checking counts and first keys; returns (entries, first key).
    fn walk(t: &Tree, node: u32, depth: usize, leaves: &mut Vec<u32>, inners: &mut Vec<u32>) -> (usize, f64, Vec<u8>) {
        let is_root = depth == 0;
        if depth == t.height {
            let keys = &t.leaves[node as usize].keys;
            let last = t.leaves[node as usize].next == NIL;
            assert!(is_root || keys.len >= if last { 1 } else { LEAF_MIN }, "leaf with too few entries");
            leaves.push(node);
            return (keys.len, keys.scores[0], keys.members[0].to_vec());
        }
        inners.push(node);
        let inner = &t.inners[node as usize];
        assert!(inner.keys.len >= if is_root { 2 } else { INNER_MIN }, "inner node with too few children");
        let mut total = 0;
        for i in 0..inner.keys.len {
            let (n, s, m) = walk(t, inner.children[i], depth + 1, leaves, inners);
            assert_eq!(inner.counts[i] as usize, n, "count of child {i}");
            assert_eq!(inner.keys.scores[i].to_bits(), s.to_bits(), "first score of child {i}");
            assert_eq!(&*inner.keys.members[i], &m[..], "first member of child {i}");
            total += n;
        }
        (total, inner.keys.scores[0], inner.keys.members[0].to_vec())
    }

    /// Checks every invariant of the tree (see `Tree`) and that it holds
    /// exactly the map's entries.
    fn check_sorted(s: &Sorted) {
        let t = &s.tree;
        let (mut leaves, mut inners) = (Vec::new(), Vec::new());
        let (total, _, _) = walk(t, t.root, 0, &mut leaves, &mut inners);
        assert_eq!(total, t.len);
        assert_eq!(t.len, s.dict.len());
        // The leaf chain is the in-order sequence of leaves.
        for (k, &id) in leaves.iter().enumerate() {
            let leaf = &t.leaves[id as usize];
            assert_eq!(leaf.prev, if k == 0 { NIL } else { leaves[k - 1] });
            assert_eq!(leaf.next, leaves.get(k + 1).copied().unwrap_or(NIL));
        }
        let mut prev: Option<(f64, Vec<u8>)> = None;
        for &id in &leaves {
            let keys = &t.leaves[id as usize].keys;
            for j in 0..keys.len {
                let (sc, m) = (keys.scores[j], &keys.members[j]);
                assert_eq!(s.dict.get(&m[..]).map(|d| d.to_bits()), Some(sc.to_bits()));
                if let Some((ps, pm)) = &prev {
                    assert!(key_less(*ps, pm, sc, m), "entries out of order");
                }
                prev = Some((sc, m.to_vec()));
            }
        }
        // Every arena slot is either reachable or free, never both.
        let mut free_leaves = t.free_leaves.clone();
        free_leaves.extend(&leaves);
        free_leaves.sort_unstable();
        assert_eq!(free_leaves, (0..t.leaves.len() as u32).collect::<Vec<_>>());
        let mut free_inners = t.free_inners.clone();
        free_inners.extend(&inners);
        free_inners.sort_unstable();
        assert_eq!(free_inners, (0..t.inners.len() as u32).collect::<Vec<_>>());
    }

    fn sorted_of(z: &ZSet) -> &Sorted {
        match &z.repr {
            Repr::Sorted(s) => s,
            Repr::Packed { .. } => panic!("expected the skiplist encoding"),
        }
    }

    /// A deterministic xorshift stream for the larger randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn big_member(i: u64) -> Vec<u8> {
        // Some members too long to be stored inline.
        if i.is_multiple_of(7) {
            format!("a-rather-long-member-name-{i:08}").into_bytes()
        } else {
            format!("m{i}").into_bytes()
        }
    }

    /// Checks contents, ranks, both iteration orders and a few score ranges
    /// of a large set against the model.
    fn check_big(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>, rng: &mut Rng) {
        check_sorted(sorted_of(z));
        let want = model_sorted(model);
        assert_eq!(z.to_vec(), want);
        let mut rev = Vec::new();
        z.for_range(0, z.len(), true, |m, s| rev.push((s, m.to_vec())));
        rev.reverse();
        assert_eq!(rev, want);
        for _ in 0..50 {
            let i = (rng.next() % want.len().max(1) as u64) as usize;
            if let Some((s, m)) = want.get(i) {
                assert_eq!(z.rank(m), Some((i, *s)));
                assert_eq!(z.get(i), Some((&m[..], *s)));
            }
            let (lo, hi) = ((rng.next() % 40) as f64 - 20.0, (rng.next() % 40) as f64 - 20.0);
            check_ranges(z, &want, lo, hi, rng.next().is_multiple_of(2)).unwrap();
        }
    }

    #[test]
    fn tree_invariants_hold_under_random_ops() {
        let cfg = EncodingConfig::default();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut z = ZSet::new();
        let mut model = BTreeMap::new();
        for round in 0..40_000u32 {
            let m = big_member(rng.next() % 6000);
            let r = rng.next();
            if r.is_multiple_of(5) {
                z.apply(&ZSetOp::Rem(vec![&m[..]]), &cfg);
                model.remove(&m);
            } else {
                // Few distinct scores: many ties, ordered by member. -0 ties 0.
                let s = match r % 11 {
                    0 => -0.0,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => (r >> 8) as f64 / 3.0,
                    _ => ((r >> 8) % 40) as f64 - 20.0,
                };
                z.apply(&ZSetOp::Add(vec![(s, &m[..])]), &cfg);
                model.insert(m, s);
            }
            if round % 4000 == 3999 {
                check_big(&z, &model, &mut rng);
            }
        }
        assert!(sorted_of(&z).tree.height >= 2, "the test should reach several levels");
        // Empty it in random order: merges all the way up to a leaf root.
        let mut members: Vec<Vec<u8>> = model.keys().cloned().collect();
        while !members.is_empty() {
            let m = members.swap_remove((rng.next() % members.len() as u64) as usize);
            z.apply(&ZSetOp::Rem(vec![&m[..]]), &cfg);
            model.remove(&m);
            if members.len().is_multiple_of(700) {
                check_big(&z, &model, &mut rng);
            }
        }
        assert_eq!((z.len(), sorted_of(&z).tree.height), (0, 0));
    }

    #[test]
    fn ascending_loads_fill_the_leaves() {
        let n = 10_000usize;
        let members: Vec<String> = (0..n).map(|i| format!("m{i:06}")).collect();
        let z = ZSet::from_sorted(members.iter().enumerate().map(|(i, m)| (i as f64, m.as_bytes())));
        let mut bytes = Vec::new();
        z.serialize(&mut bytes);
        bytes[0] = 1; // ask for the skiplist encoding
        let back = ZSet::deserialize(&mut Reader::new(&bytes), &EncodingConfig::default()).unwrap();
        let s = sorted_of(&back);
        check_sorted(s);
        assert_eq!(s.tree.leaves.len(), n.div_ceil(LEAF_CAP));
        assert!(back == z);
        // Regression: the last leaf holds a single entry (and so did, once,
        // a lone last inner node); emptying it must not leave an empty leaf.
        let mut z = ZSet::new();
        let cfg = EncodingConfig::default();
        let count = LEAF_CAP * INNER_CAP + 1;
        for chunk in members[..count].chunks(1000) {
            z.apply(&ZSetOp::Add(chunk.iter().map(|m| (0.0, m.as_bytes())).collect()), &cfg);
        }
        for m in members[..count].iter().rev().take(100) {
            z.apply(&ZSetOp::Rem(vec![m.as_bytes()]), &cfg);
            check_sorted(sorted_of(&z));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn tree_matches_a_model(ops in proptest::collection::vec((0u64..1500, -8i8..8, 0u8..4), 0..3000)) {
            let cfg = EncodingConfig::default();
            let mut z = ZSet::new();
            let mut model = BTreeMap::new();
            for &(id, score, kind) in &ops {
                let m = big_member(id);
                if kind == 0 {
                    z.apply(&ZSetOp::Rem(vec![&m[..]]), &cfg);
                    model.remove(&m);
                } else {
                    z.apply(&ZSetOp::Add(vec![(f64::from(score), &m[..])]), &cfg);
                    model.insert(m, f64::from(score));
                }
            }
            if let Repr::Sorted(s) = &z.repr {
                check_sorted(s);
            }
            prop_assert_eq!(z.to_vec(), model_sorted(&model));
        }
    }

    #[test]
    fn skiplist_ranks_over_many_members() {
        let cfg = EncodingConfig::default();
        let mut z = ZSet::new();
        let members: Vec<String> = (0..5000).map(|i| format!("m{i:05}")).collect();
        for chunk in members.chunks(97) {
            z.apply(&ZSetOp::Add(chunk.iter().map(|m| ((m.len() % 7) as f64, m.as_bytes())).collect()), &cfg);
        }
        let removed: Vec<&[u8]> = members.iter().step_by(3).map(|m| m.as_bytes()).collect();
        z.apply(&ZSetOp::Rem(removed), &cfg);
        let all = z.to_vec();
        assert_eq!(all.len(), 5000 - 1667);
        for (i, (s, m)) in all.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m), Some((i, *s)));
            assert_eq!(z.get(i).unwrap().0, &m[..]);
        }
    }
}
