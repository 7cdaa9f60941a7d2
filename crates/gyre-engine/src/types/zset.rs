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
//! * **skiplist**: Redis's own structure, a skiplist with spans (so rank, range
//!   by rank and range by score are O(log n)), here with its nodes in an arena
//!   addressed by `u32` indices (no unsafe code, no per-node pointers to fix up),
//!   plus a `hashbrown` map member -> score for O(1) ZSCORE and membership. A
//!   skiplist was chosen over an order-statistic B-tree because its update
//!   rules are short and well understood (they are Redis's), which matters more
//!   for correctness here than the B-tree's better cache behaviour; the node
//!   levels follow Redis's p = 1/4 from a deterministic generator, so replaying
//!   the same ops builds the same shape.
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

/// Redis's ZSKIPLIST_MAXLEVEL.
const MAX_LEVEL: usize = 32;
/// No node (end of a level, no backward link).
const NIL: u32 = u32::MAX;
/// Index of the skiplist's header node in the arena.
const HEAD: u32 = 0;

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
    // -0 is stored as the integer 0, as Redis's listpack does (a skiplist
    // keeps the sign).
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
// The skiplist encoding
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Link {
    forward: u32,
    /// Nodes crossed by following `forward` (Redis's span).
    span: u32,
    /// The score of the `forward` node, kept here so that a search compares
    /// scores without loading the next node (one cache miss per step, not two).
    fscore: f64,
}

const NO_LINK: Link = Link { forward: NIL, span: 0, fscore: 0.0 };

/// Levels stored inside a node (98% of nodes have at most 3 with p = 1/4):
/// a step of a search then reads one node, not a node and a separate array.
const INLINE_LEVELS: usize = 3;

#[derive(Clone, Debug)]
struct Node {
    member: StrValue,
    score: f64,
    backward: u32,
    links: [Link; INLINE_LEVELS],
    /// Levels from INLINE_LEVELS up (empty, no allocation, for most nodes).
    upper: Box<[Link]>,
}

impl Node {
    fn new(member: &[u8], score: f64, backward: u32, level: usize) -> Node {
        let upper = if level > INLINE_LEVELS {
            vec![NO_LINK; level - INLINE_LEVELS].into()
        } else {
            Box::new([]) as Box<[Link]>
        };
        Node { member: StrValue::from_slice(member), score, backward, links: [NO_LINK; INLINE_LEVELS], upper }
    }

    #[inline]
    fn link(&self, lvl: usize) -> &Link {
        if lvl < INLINE_LEVELS {
            &self.links[lvl]
        } else {
            &self.upper[lvl - INLINE_LEVELS]
        }
    }

    #[inline]
    fn link_mut(&mut self, lvl: usize) -> &mut Link {
        if lvl < INLINE_LEVELS {
            &mut self.links[lvl]
        } else {
            &mut self.upper[lvl - INLINE_LEVELS]
        }
    }
}

/// Redis's zskiplist with spans, nodes in an arena; slot 0 is the header.
#[derive(Clone, Debug)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
    /// State of the deterministic level generator (xorshift64).
    seed: u64,
}

impl SkipList {
    fn new() -> SkipList {
        let head = Node::new(b"", 0.0, NIL, MAX_LEVEL);
        SkipList { nodes: vec![head], free: Vec::new(), level: 1, len: 0, tail: NIL, seed: 0x9E37_79B9_7F4A_7C15 }
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn link(&self, i: u32, lvl: usize) -> Link {
        *self.nodes[i as usize].link(lvl)
    }

    fn link_mut(&mut self, i: u32, lvl: usize) -> &mut Link {
        self.nodes[i as usize].link_mut(lvl)
    }

    /// Redis's zslRandomLevel: each level with probability 1/4.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            if self.seed & 3 != 0 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    /// For each level, the last node before (score, member), and its rank.
    fn find_update(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if l.forward == NIL || l.fscore > score {
                    break;
                }
                if l.fscore == score && *self.node(l.forward).member >= *member {
                    break;
                }
                rank[i] += l.span;
                x = l.forward;
            }
            update[i] = x;
        }
        (update, rank)
    }

    fn insert(&mut self, score: f64, member: &[u8]) {
        let (mut update, mut rank) = self.find_update(score, member);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node::new(member, score, if update[0] == HEAD { NIL } else { update[0] }, level);
        let x = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                assert!(self.nodes.len() < NIL as usize, "sorted set over 2^32 members");
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let prev = self.link(update[i], i);
            let crossed = rank[0] - rank[i];
            *self.link_mut(x, i) = Link { forward: prev.forward, span: prev.span - crossed, fscore: prev.fscore };
            *self.link_mut(update[i], i) = Link { forward: x, span: crossed + 1, fscore: score };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        let next = self.link(x, 0).forward;
        if next == NIL {
            self.tail = x;
        } else {
            self.nodes[next as usize].backward = x;
        }
        self.len += 1;
    }

    /// Removes (score, member); false when absent.
    fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let (update, _) = self.find_update(score, member);
        let x = self.link(update[0], 0).forward;
        if x == NIL || self.node(x).score != score || &*self.node(x).member != member {
            return false;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let l = self.link(u, i);
            if l.forward == x {
                let xl = self.link(x, i);
                *self.link_mut(u, i) = Link { forward: xl.forward, span: l.span + xl.span - 1, fscore: xl.fscore };
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        let (next, back) = (self.link(x, 0).forward, self.node(x).backward);
        if next == NIL {
            self.tail = back;
        } else {
            self.nodes[next as usize].backward = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let n = &mut self.nodes[x as usize];
        n.member = StrValue::from_slice(b"");
        n.upper = Box::new([]);
        self.free.push(x);
        true
    }

    /// How many leading nodes satisfy `pred` (which must be true for a prefix
    /// of the order and false after it).
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL {
                    break;
                }
                let f = self.node(l.forward);
                if !pred(f.score, &f.member) {
                    break;
                }
                rank += l.span as usize;
                x = l.forward;
            }
        }
        rank
    }

    /// The node at 0-based `rank` (< len).
    fn at_rank(&self, rank: usize) -> u32 {
        let target = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.forward;
            }
            if traversed == target {
                return x;
            }
        }
        unreachable!("rank {rank} out of range for {} nodes", self.len)
    }
}

/// The skiplist encoding: ordered list plus member -> score map.
#[derive(Clone, Debug)]
struct Sorted {
    list: SkipList,
    dict: HashMap<StrValue, f64>,
}

impl Sorted {
    fn with_capacity(n: usize) -> Sorted {
        Sorted { list: SkipList::new(), dict: HashMap::with_capacity(n) }
    }

    fn set(&mut self, score: f64, member: &[u8]) {
        match self.dict.get_mut(member) {
            Some(old) if old.to_bits() == score.to_bits() => {}
            Some(old) => {
                let prev = *old;
                *old = score;
                let removed = self.list.delete(prev, member);
                debug_assert!(removed);
                self.list.insert(score, member);
            }
            None => {
                self.dict.insert(StrValue::from_slice(member), score);
                self.list.insert(score, member);
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match self.dict.remove(member) {
            Some(score) => {
                let removed = self.list.delete(score, member);
                debug_assert!(removed);
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
            Repr::Sorted(s) => s.list.len,
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
                let nodes = s.list.nodes.capacity() * std::mem::size_of::<Node>();
                let links: usize = s.list.nodes.iter().map(|n| n.upper.len() * std::mem::size_of::<Link>()).sum();
                let members: usize = s.list.nodes.iter().map(|n| n.member.heap_bytes() * 2).sum();
                let dict = s.dict.capacity() * (std::mem::size_of::<(StrValue, f64)>() + 1);
                std::mem::size_of::<Sorted>() + nodes + links + members + dict + s.list.free.capacity() * 4
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
                let below = s.list.count_while(|fs, fm| key_less(fs, fm, score, member));
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
                let n = s.list.node(s.list.at_rank(rank));
                Some((&n.member, n.score))
            }
        }
    }

    /// How many leading entries satisfy `pred` (monotone: true then false).
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed { buf, .. } => packed_iter(buf).take_while(|&(_, m, s)| pred(s, m)).count(),
            Repr::Sorted(s) => s.list.count_while(pred),
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
            Repr::Sorted(sorted) => {
                let list = &sorted.list;
                let mut x = list.at_rank(if rev { end - 1 } else { start });
                for _ in start..end {
                    let n = list.node(x);
                    f(&n.member, n.score);
                    x = if rev { n.backward } else { n.links[0].forward };
                }
            }
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
