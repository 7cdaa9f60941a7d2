//! The nodes of a sorted set's counted B+tree (`tree.rs`): a node's sorted
//! keys with the scores apart from the members, leaves chained both ways,
//! inner nodes with each child's first key and entry count, and the moves
//! between two siblings that splits, merges and refills are made of.
//!
//! Invariants: a node's slots past its length hold placeholders (inline
//! empty members, no allocation), and every move keeps them at the tail.
//!
//! Limits: a node holds at most `LEAF_CAP` entries or `INNER_CAP` children;
//! inserting into a full node asserts.

use crate::value::StrValue;

/// Entries a leaf holds at most: 64 scores are 8 cache lines, so a binary
/// search in a leaf costs about 4 misses where a skiplist pays one per node.
pub(super) const LEAF_CAP: usize = 64;
/// Children an inner node holds at most.
pub(super) const INNER_CAP: usize = 64;
/// No leaf (the ends of the leaf chain).
pub(super) const NIL: u32 = u32::MAX;
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
pub(super) struct Keys<const N: usize> {
    pub(super) len: usize,
    pub(super) scores: [f64; N],
    pub(super) members: [StrValue; N],
}

impl<const N: usize> Keys<N> {
    pub(super) fn new() -> Self {
        Keys { len: 0, scores: [0.0; N], members: std::array::from_fn(|_| no_member()) }
    }

    /// How many leading keys satisfy `pred` (true for a prefix, then false).
    #[inline]
    pub(super) fn count_while(&self, pred: &impl Fn(f64, &StrValue) -> bool) -> usize {
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

    pub(super) fn insert_at(&mut self, pos: usize, score: f64, member: StrValue) {
        assert!(self.len < N, "insert into a full node");
        self.scores.copy_within(pos..self.len, pos + 1);
        self.scores[pos] = score;
        self.members[pos..=self.len].rotate_right(1);
        self.members[pos] = member;
        self.len += 1;
    }

    pub(super) fn remove_at(&mut self, pos: usize) -> StrValue {
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
    pub(super) fn first(&self) -> (f64, StrValue) {
        (self.scores[0], self.members[0].clone())
    }
}

/// A leaf: entries in order, and its neighbours in the leaf chain.
#[derive(Clone, Debug)]
pub(super) struct Leaf {
    pub(super) keys: Keys<LEAF_CAP>,
    pub(super) prev: u32,
    pub(super) next: u32,
}

/// An inner node: for each child, the child's exact first key (never a stale
/// one, so that predicates can be evaluated on keys as on entries), its
/// index and its number of entries.
#[derive(Clone, Debug)]
pub(super) struct Inner {
    pub(super) keys: Keys<INNER_CAP>,
    pub(super) children: [u32; INNER_CAP],
    pub(super) counts: [u32; INNER_CAP],
}

impl Inner {
    pub(super) fn new() -> Inner {
        Inner { keys: Keys::new(), children: [NIL; INNER_CAP], counts: [0; INNER_CAP] }
    }

    pub(super) fn insert_at(&mut self, pos: usize, key: (f64, StrValue), child: u32, count: usize) {
        let len = self.keys.len;
        self.children.copy_within(pos..len, pos + 1);
        self.counts.copy_within(pos..len, pos + 1);
        self.children[pos] = child;
        self.counts[pos] = count as u32;
        self.keys.insert_at(pos, key.0, key.1);
    }

    pub(super) fn remove_at(&mut self, pos: usize) {
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
pub(super) trait Node {
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
pub(super) fn pair_mut<T>(v: &mut [T], a: u32, b: u32) -> (&mut T, &mut T) {
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
pub(super) enum Fixed {
    /// The right one moved into the left one, which has this many entries.
    Merged(usize),
    /// The slots were shared out evenly: entries of the left and right ones.
    Shared(usize, usize),
}

/// Merges `b` into `a` when they fit in one node of `cap` slots, else shares
/// their slots out evenly (each then has at least `cap / 2`).
pub(super) fn fix_pair<T: Node>(a: &mut T, b: &mut T, cap: usize) -> Fixed {
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
