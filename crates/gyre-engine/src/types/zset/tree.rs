//! The "skiplist" encoding of a large sorted set: an order-statistic B+tree
//! of (score, member) with nodes in two arenas addressed by `u32`, plus a
//! member -> score map (see the `zset` module docs for the design and why it
//! replaced a skiplist).
//!
//! Invariants (checked by the tests' `check_sorted`): all leaves at depth
//! `height`; keys strictly increasing along the leaf chain; an inner node's
//! keys and counts are its children's exact first keys and entry counts; no
//! node but the root is empty, and nodes but the root and the last leaf stay
//! at least a quarter full; the map and the tree hold the same entries.
//!
//! Limits: at most 2^32 members and `HEIGHT_MAX` levels, both asserted.

use hashbrown::HashMap;

use super::node::{fix_pair, pair_mut, Fixed, Inner, Keys, Leaf, Node, INNER_CAP, LEAF_CAP, NIL};
use crate::value::StrValue;

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
pub(super) struct Tree {
    pub(super) leaves: Vec<Leaf>,
    pub(super) inners: Vec<Inner>,
    pub(super) free_leaves: Vec<u32>,
    pub(super) free_inners: Vec<u32>,
    pub(super) root: u32,
    /// Levels of inner nodes above the leaves (0: the root is a leaf).
    pub(super) height: usize,
    pub(super) len: usize,
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
    pub(super) fn count_while(&self, pred: impl Fn(f64, &StrValue) -> bool) -> usize {
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
    pub(super) fn at_rank(&self, mut rank: usize) -> (u32, usize) {
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
    pub(super) fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
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
    pub(super) fn heap_bytes(&self) -> usize {
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
pub(super) struct Sorted {
    pub(super) tree: Tree,
    pub(super) dict: HashMap<StrValue, f64>,
}

impl Sorted {
    pub(super) fn with_capacity(n: usize) -> Sorted {
        Sorted { tree: Tree::new(), dict: HashMap::with_capacity(n) }
    }

    pub(super) fn set(&mut self, score: f64, member: &[u8]) {
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

    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        match self.dict.remove(member) {
            Some(score) => {
                self.tree.delete(score, member).expect("a member of the map is in the tree");
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::codec::Reader;
    use crate::types::zset::tests::{check_ranges, model_sorted};
    use crate::types::zset::{key_less, Repr, ZSet, ZSetOp};
    use crate::types::EncodingConfig;

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
