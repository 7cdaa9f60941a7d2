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
//!
//! Files: this one holds the [`ZSet`] (which encoding answers what, and the
//! conversion), its ops and its serialization; `range.rs` the score and lex
//! ranges queries take; `listpack.rs` the small encoding's byte format;
//! `node.rs` the tree's leaves and inner nodes; `tree.rs` the counted B+tree
//! and the "skiplist" encoding built on it.

use bytes::Bytes;

use super::EncodingConfig;
use crate::codec::{put_bytes, put_f64, put_u32, put_u8, DecodeError, Reader};
use crate::value::StrValue;

mod listpack;
mod node;
mod range;
mod tree;

use listpack::{decode_entry, encode_entry, packed_insert, packed_iter, packed_remove_at};
pub use range::{LexBound, LexRange, ScoreRange};
use tree::Sorted;

/// Comparison of two (score, member) keys in set order.
fn key_less(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
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
    pub(super) fn model_sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
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

    pub(super) fn check_ranges(
        z: &ZSet,
        want: &[(f64, Vec<u8>)],
        lo: f64,
        hi: f64,
        ex: bool,
    ) -> Result<(), TestCaseError> {
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
}
