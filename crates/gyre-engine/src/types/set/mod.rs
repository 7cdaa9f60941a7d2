//! The Set type: an unordered collection of distinct byte strings.
//!
//! Three encodings, named and chosen as Redis 7.2 names and chooses them:
//! * "intset": a sorted `Vec<i64>`, while every member is the canonical decimal
//!   form of an `i64` (Redis's `string2ll`: no sign `+`, no leading zeros, no
//!   `-0`) and there are at most `set-max-intset-entries` members.
//! * "listpack": one packed buffer, a u32 count then entries `varint(len) bytes`
//!   in insertion order, while there are at most `set-max-listpack-entries`
//!   members of at most `set-max-listpack-value` bytes each.
//! * "hashtable": the members in a dense `Vec<StrValue>` (short members inline)
//!   plus a hash index of positions into it. The dense vector gives SPOP and
//!   SRANDMEMBER a uniform random member in O(1).
//!
//! Conversions are Redis's, and one-way (a set never returns to a more compact
//! encoding, except that SINTERSTORE builds its result afresh):
//! * an intset that grows past `set-max-intset-entries` becomes a hashtable;
//! * adding a non-integer to an intset makes it a listpack when the intset has
//!   fewer than `set-max-listpack-entries` members and both the new member and
//!   the longest integer fit `set-max-listpack-value`, else a hashtable;
//! * a listpack that would exceed either listpack threshold becomes a hashtable;
//! * SADD's argument count is a size hint: a new set starts as a hashtable when
//!   the hint exceeds `set-max-listpack-entries` (or an intset when the first
//!   member is an integer and the hint fits), and an existing compact set whose
//!   threshold the hint exceeds is converted before the members are added.
//!
//! Invariants: members are distinct; an intset is strictly increasing; the packed
//! count equals the packed entries; an empty listpack owns no allocation; the
//! hash index holds exactly the positions `0..members.len()`.
//!
//! Limits: the compact encodings are for small sets; their operations are
//! linear in their size. SSCAN over a hashtable orders members by their
//! (process-seeded) hash, so each step is linear in the set's size; steps cover
//! at least 1/[`SCAN_STEPS_MAX`] of the set so that a whole iteration stays
//! linear. A hashtable holds fewer than 2^32 members.
//!
//! Files: this one holds the [`Set`] (which encoding answers what, the
//! conversions) and its iterator; `scan.rs` SSCAN; `listpack.rs` the listpack
//! encoding's byte-buffer primitives; `table.rs` the hashtable encoding;
//! `serial.rs` the value's serialization; `op.rs` the [`SetOp`] and its wire
//! format.

use super::packed::{packed_count, put_varint, reserve_slack, set_packed_count, COUNT_BYTES};
use super::EncodingConfig;
use crate::keyspace::KeyHasher;
use crate::num::parse_i64;
use crate::value::StrValue;

mod listpack;
mod op;
mod scan;
mod serial;
mod table;

use listpack::{decimal_len, packed_find, packed_push, packed_remove, PackedIter};
pub use op::{decode_op, SetOp};
use table::Table;

/// Redis caps the intset at 2^30 entries whatever `set-max-intset-entries` says.
const INTSET_ENTRIES_MAX: usize = 1 << 30;
/// Redis's listpack size limit (`lpSafeToAdd`): a listpack never grows past 1 GiB.
const LISTPACK_BYTES_MAX: usize = 1 << 30;
/// A hashtable SSCAN step visits at least 1/SCAN_STEPS_MAX of the set.
pub const SCAN_STEPS_MAX: usize = 32;
/// Decimal digits (with sign) of the longest i64.
const INT_DIGITS_MAX: usize = 20;

/// A set value.
#[derive(Clone, Default)]
pub struct Set(Repr);

#[derive(Clone)]
enum Repr {
    /// Sorted, distinct integers.
    Ints(Vec<i64>),
    /// Empty, or a u32 count followed by the packed entries.
    Packed(Vec<u8>),
    Table(Box<Table>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Ints(Vec::new())
    }
}

/// One member as a set stores it: an intset yields integers, the others bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member's bytes, formatting an integer into `scratch`.
    pub fn as_bytes<'b>(&self, scratch: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Member::Int(i) => scratch.format(i).as_bytes(),
            Member::Bytes(b) => b,
        }
    }

    /// The member as an owned string (inline when short: no allocation).
    pub fn to_str_value(&self) -> StrValue {
        StrValue::from_slice(self.as_bytes(&mut itoa::Buffer::new()))
    }
}

/// Two sets are equal when they hold the same members in the same encoding,
/// whatever their order.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.encoding() == other.encoding()
            && self.len() == other.len()
            && self.iter().all(|m| other.contains_member(m))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut scratch = itoa::Buffer::new();
        let mut members: Vec<String> =
            self.iter().map(|m| String::from_utf8_lossy(m.as_bytes(&mut scratch)).into_owned()).collect();
        // Sorted, so that two equal sets print the same whatever their history.
        members.sort();
        f.debug_struct("Set").field("encoding", &self.encoding()).field("members", &members).finish()
    }
}

/// The members of a set, in its order (sorted for an intset; insertion order,
/// with removals filled from the end, for the others).
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Ints(std::slice::Iter<'a, i64>),
    Packed(PackedIter<'a>),
    Table(std::slice::Iter<'a, StrValue>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.0 {
            IterInner::Ints(it) => it.next().map(|&i| Member::Int(i)),
            IterInner::Packed(it) => it.next().map(Member::Bytes),
            IterInner::Table(it) => it.next().map(|s| Member::Bytes(s.as_slice())),
        }
    }
}

fn intset_max_entries(cfg: &EncodingConfig) -> usize {
    cfg.set_max_intset_entries.min(INTSET_ENTRIES_MAX)
}

impl Set {
    /// An empty set, encoded as an (empty) intset as Redis's `createIntsetObject`.
    pub fn new() -> Set {
        Set::default()
    }

    /// An empty set encoded as a listpack (Redis's `createSetListpackObject`),
    /// for commands that build a result the way Redis does (SINTERSTORE).
    pub fn new_listpack() -> Set {
        Set(Repr::Packed(Vec::new()))
    }

    /// A new set for members whose first is `first`, `hint` of them
    /// (Redis's `setTypeCreate`).
    fn create(first: &[u8], hint: usize, cfg: &EncodingConfig) -> Set {
        if parse_i64(first).is_some() && hint <= cfg.set_max_intset_entries {
            return Set::new();
        }
        if hint <= cfg.set_max_listpack_entries {
            return Set::new_listpack();
        }
        Set(Repr::Table(Box::new(Table::with_capacity(hint))))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Ints(v) => v.len(),
            Repr::Packed(buf) => packed_count(buf),
            Repr::Table(t) => t.members.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Ints(_) => "intset",
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes (MEMORY USAGE, lazy-free decisions).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Ints(v) => v.capacity() * std::mem::size_of::<i64>(),
            Repr::Packed(buf) => buf.capacity(),
            Repr::Table(t) => t.heap_bytes(),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.0 {
            Repr::Ints(v) => IterInner::Ints(v.iter()),
            Repr::Packed(buf) => IterInner::Packed(PackedIter::new(buf)),
            Repr::Table(t) => IterInner::Table(t.members.iter()),
        })
    }

    /// The member at position `i` of [`Set::iter`]'s order: O(1), except O(i)
    /// for a listpack.
    pub fn get(&self, i: usize) -> Option<Member<'_>> {
        match &self.0 {
            Repr::Ints(v) => v.get(i).map(|&x| Member::Int(x)),
            Repr::Packed(buf) => PackedIter::new(buf).nth(i).map(Member::Bytes),
            Repr::Table(t) => t.members.get(i).map(|s| Member::Bytes(s.as_slice())),
        }
    }

    /// The members at the given positions (in any order, distinct or not), in
    /// the order of `positions`: one pass over a listpack.
    pub fn members_at(&self, positions: &[usize]) -> Vec<Member<'_>> {
        let Repr::Packed(buf) = &self.0 else {
            return positions.iter().map(|&i| self.get(i).expect("position in range")).collect();
        };
        let all: Vec<&[u8]> = PackedIter::new(buf).collect();
        positions.iter().map(|&i| Member::Bytes(all[i])).collect()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.0 {
            Repr::Ints(v) => parse_i64(m).is_some_and(|i| v.binary_search(&i).is_ok()),
            Repr::Packed(buf) => packed_find(buf, m).is_some(),
            Repr::Table(t) => t.position(m).is_some(),
        }
    }

    /// [`Set::contains`] for a member of another set (an integer needs no
    /// formatting to be looked up in an intset).
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (&self.0, m) {
            (Repr::Ints(v), Member::Int(i)) => v.binary_search(&i).is_ok(),
            (_, m) => self.contains(m.as_bytes(&mut itoa::Buffer::new())),
        }
    }

    /// How many distinct members of `members` are not in the set: what SADD
    /// would add.
    pub fn count_absent(&self, members: &[&[u8]]) -> usize {
        if let [m] = members {
            return usize::from(!self.contains(m));
        }
        distinct(members).iter().filter(|m| !self.contains(m)).count()
    }

    /// The distinct members of `members` that are in the set, in argument
    /// order: what SREM would remove.
    pub fn present<'m>(&self, members: &[&'m [u8]]) -> Vec<&'m [u8]> {
        if let [m] = members {
            return if self.contains(m) { vec![*m] } else { Vec::new() };
        }
        let mut found = distinct(members);
        found.retain(|m| self.contains(m));
        found
    }

    /// Adds one member with Redis's conversion rules (`setTypeAddAux`);
    /// returns whether it was new. Ops use this; so do commands building a
    /// result set before storing it whole.
    pub fn insert(&mut self, m: &[u8], cfg: &EncodingConfig) -> bool {
        match &mut self.0 {
            Repr::Table(t) => t.insert(m),
            Repr::Packed(buf) => {
                if packed_find(buf, m).is_some() {
                    return false;
                }
                let n = packed_count(buf);
                if n < cfg.set_max_listpack_entries
                    && m.len() <= cfg.set_max_listpack_value
                    && buf.len() + m.len() + 10 <= LISTPACK_BYTES_MAX
                {
                    packed_push(buf, m);
                } else {
                    self.convert_to_table(n + 1);
                    self.insert(m, cfg);
                }
                true
            }
            Repr::Ints(v) => match parse_i64(m) {
                Some(i) => {
                    let Err(at) = v.binary_search(&i) else { return false };
                    reserve_slack(v, 1);
                    v.insert(at, i);
                    if v.len() > intset_max_entries(cfg) {
                        self.convert_to_table(0);
                    }
                    true
                }
                None => {
                    let n = v.len();
                    if self.intset_fits_listpack(m.len(), cfg) {
                        self.convert_to_listpack();
                    } else {
                        self.convert_to_table(n + 1);
                    }
                    self.insert(m, cfg)
                }
            },
        }
    }

    /// [`Set::insert`] for a member of another set.
    pub fn insert_member(&mut self, m: Member<'_>, cfg: &EncodingConfig) -> bool {
        self.insert(m.as_bytes(&mut itoa::Buffer::new()), cfg)
    }

    /// Whether an intset plus a non-integer of `len` bytes may become a
    /// listpack (Redis 7.2's check in `setTypeAddAux`).
    fn intset_fits_listpack(&self, len: usize, cfg: &EncodingConfig) -> bool {
        let Repr::Ints(v) = &self.0 else { return false };
        let widest = match (v.first(), v.last()) {
            (Some(&lo), Some(&hi)) => decimal_len(lo).max(decimal_len(hi)),
            _ => 0,
        };
        v.len() < cfg.set_max_listpack_entries
            && len <= cfg.set_max_listpack_value
            && widest <= cfg.set_max_listpack_value
            && v.len() * (INT_DIGITS_MAX + 2) + len <= LISTPACK_BYTES_MAX
    }

    /// Removes one member; returns whether it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Ints(v) => {
                let Some(Ok(at)) = parse_i64(m).map(|i| v.binary_search(&i)) else { return false };
                v.remove(at);
                if v.capacity() > 2 * v.len() + 8 {
                    v.shrink_to_fit();
                }
                true
            }
            Repr::Packed(buf) => packed_remove(buf, m),
            Repr::Table(t) => t.remove(m),
        }
    }

    /// Converts to an intset when every member is an integer and they fit one
    /// (Redis's `maybeConvertToIntset`, which SINTERSTORE applies to its result).
    pub fn maybe_convert_to_intset(&mut self, cfg: &EncodingConfig) {
        if matches!(self.0, Repr::Ints(_)) || self.len() > intset_max_entries(cfg) {
            return;
        }
        let mut ints = Vec::with_capacity(self.len());
        for m in self.iter() {
            let Member::Bytes(b) = m else { unreachable!("only an intset yields integers") };
            match parse_i64(b) {
                Some(i) => ints.push(i),
                None => return,
            }
        }
        ints.sort_unstable();
        self.0 = Repr::Ints(ints);
    }

    /// Intset to listpack, members in ascending order.
    fn convert_to_listpack(&mut self) {
        let Repr::Ints(v) = &self.0 else { unreachable!("only an intset becomes a listpack") };
        let mut buf = Vec::new();
        if !v.is_empty() {
            let widest = decimal_len(v[0]).max(decimal_len(v[v.len() - 1]));
            buf.reserve_exact(COUNT_BYTES + v.len() * (widest + 1));
            buf.extend_from_slice(&[0; COUNT_BYTES]);
            let mut scratch = itoa::Buffer::new();
            for &i in v {
                let s = scratch.format(i).as_bytes();
                put_varint(&mut buf, s.len());
                buf.extend_from_slice(s);
            }
            set_packed_count(&mut buf, v.len());
        }
        self.0 = Repr::Packed(buf);
    }

    /// Any compact encoding to a hashtable sized for `capacity` members (at
    /// least the current ones).
    fn convert_to_table(&mut self, capacity: usize) {
        let mut t = Table::with_capacity(capacity.max(self.len()));
        let mut scratch = itoa::Buffer::new();
        for m in self.iter() {
            t.insert(m.as_bytes(&mut scratch));
        }
        self.0 = Repr::Table(Box::new(t));
    }

    /// Adds SADD's members: creates or converts for the size hint first, as
    /// Redis's `saddCommand` does.
    fn add_all(&mut self, members: &[&[u8]], cfg: &EncodingConfig) {
        let Some(first) = members.first() else { return };
        let hint = members.len();
        if self.is_empty() {
            *self = Set::create(first, hint, cfg);
        } else {
            let too_many = match &self.0 {
                Repr::Packed(_) => hint > cfg.set_max_listpack_entries,
                Repr::Ints(_) => hint > cfg.set_max_intset_entries,
                Repr::Table(_) => false,
            };
            if too_many {
                self.convert_to_table(hint);
            }
        }
        for m in members {
            self.insert(m, cfg);
        }
    }

    /// Applies a write's deterministic effect.
    pub fn apply(&mut self, op: &SetOp<&[u8]>, cfg: &EncodingConfig) {
        match op {
            SetOp::Add { members } => self.add_all(members, cfg),
            SetOp::Rem { members } => {
                for m in members {
                    self.remove(m);
                }
            }
        }
    }
}
/// The distinct entries of `members`, first occurrences in order.
pub fn distinct<'m>(members: &[&'m [u8]]) -> Vec<&'m [u8]> {
    /// Below this many, comparing each to those before it beats hashing.
    const QUADRATIC_MAX: usize = 16;
    if members.len() <= QUADRATIC_MAX {
        let mut out: Vec<&[u8]> = Vec::with_capacity(members.len());
        for m in members {
            if !out.contains(m) {
                out.push(m);
            }
        }
        return out;
    }
    let mut seen = hashbrown::HashSet::with_capacity_and_hasher(members.len(), KeyHasher);
    members.iter().copied().filter(|m| seen.insert(*m)).collect()
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::codec::Reader;

    fn tiny() -> EncodingConfig {
        EncodingConfig {
            set_max_intset_entries: 5,
            set_max_listpack_entries: 4,
            set_max_listpack_value: 6,
            ..EncodingConfig::default()
        }
    }

    pub(super) fn add(set: &mut Set, members: &[&str], cfg: &EncodingConfig) {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        set.apply(&SetOp::Add { members }, cfg);
    }

    fn rem(set: &mut Set, members: &[&str], cfg: &EncodingConfig) {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        set.apply(&SetOp::Rem { members }, cfg);
    }

    fn contents(set: &Set) -> BTreeSet<Vec<u8>> {
        let mut scratch = itoa::Buffer::new();
        set.iter().map(|m| m.as_bytes(&mut scratch).to_vec()).collect()
    }

    #[test]
    fn integers_make_an_intset_in_order() {
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        add(&mut s, &["3", "-1", "2", "3"], &cfg);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Member::Int(-1), Member::Int(2), Member::Int(3)]);
        // Non-canonical integers are strings.
        add(&mut s, &["007"], &cfg);
        assert_eq!(s.encoding(), "listpack");
        assert!(s.contains(b"007") && s.contains(b"-1") && !s.contains(b"7"));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn a_non_integer_first_member_makes_a_listpack() {
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        add(&mut s, &["a", "1"], &cfg);
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Member::Bytes(b"a"), Member::Bytes(b"1")]);
    }

    #[test]
    fn conversions_follow_redis_thresholds() {
        let cfg = tiny();
        // Intset past its entries: hashtable.
        let mut s = Set::new();
        add(&mut s, &["1", "2", "3", "4", "5"], &cfg);
        assert_eq!(s.encoding(), "intset");
        add(&mut s, &["6"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // Intset with fewer members than listpack entries plus a string: listpack.
        let mut s = Set::new();
        add(&mut s, &["1", "2", "3"], &cfg);
        add(&mut s, &["x"], &cfg);
        assert_eq!(s.encoding(), "listpack");
        // ... but not when it already holds as many as a listpack may.
        let mut s = Set::new();
        add(&mut s, &["1", "2", "3", "4"], &cfg);
        add(&mut s, &["x"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // ... nor when an integer is wider than a listpack value.
        let mut s = Set::new();
        add(&mut s, &["1234567"], &cfg);
        add(&mut s, &["x"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // ... nor when the string is too long.
        let mut s = Set::new();
        add(&mut s, &["1"], &cfg);
        add(&mut s, &["abcdefg"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // Listpack past its entries, or with a long member: hashtable.
        let mut s = Set::new();
        add(&mut s, &["a", "b", "c", "d"], &cfg);
        assert_eq!(s.encoding(), "listpack");
        add(&mut s, &["e"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::new();
        add(&mut s, &["a"], &cfg);
        add(&mut s, &["abcdefg"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // A size hint past the thresholds: hashtable at once, duplicates counted.
        let mut s = Set::new();
        add(&mut s, &["a", "a", "a", "a", "a"], &cfg);
        assert_eq!((s.encoding(), s.len()), ("hashtable", 1));
        let mut s = Set::new();
        add(&mut s, &["a"], &cfg);
        add(&mut s, &["a", "a", "a", "a", "a"], &cfg);
        assert_eq!(s.encoding(), "hashtable");
        // Removal never converts back.
        rem(&mut s, &["a"], &cfg);
        assert!(s.is_empty());
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn sinterstore_result_becomes_an_intset_when_all_integers() {
        let cfg = tiny();
        let mut s = Set::new_listpack();
        for m in ["3", "1", "2"] {
            s.insert(m.as_bytes(), &cfg);
        }
        assert_eq!(s.encoding(), "listpack");
        s.maybe_convert_to_intset(&cfg);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Member::Int(1), Member::Int(2), Member::Int(3)]);
        let mut s = Set::new_listpack();
        s.insert(b"1", &cfg);
        s.insert(b"a", &cfg);
        s.maybe_convert_to_intset(&cfg);
        assert_eq!(s.encoding(), "listpack");
    }

    #[test]
    fn hashtable_random_access_survives_removals() {
        let cfg = tiny();
        let mut s = Set::new();
        let names: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let all: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        add(&mut s, &all, &cfg);
        assert_eq!(s.encoding(), "hashtable");
        for (i, name) in all.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            assert!(s.remove(name.as_bytes()), "{i}");
        }
        let left = contents(&s);
        assert_eq!(left.len(), s.len());
        for i in 0..s.len() {
            let Some(Member::Bytes(b)) = s.get(i) else { panic!() };
            assert!(s.contains(b));
        }
        assert!(s.get(s.len()).is_none());
        for name in all.iter().step_by(3) {
            assert!(s.contains(name.as_bytes()));
        }
    }

    #[test]
    fn helpers_for_sadd_and_srem() {
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        add(&mut s, &["a", "b"], &cfg);
        assert_eq!(s.count_absent(&[b"a", b"c", b"c", b"d"]), 2);
        assert_eq!(s.present(&[b"b", b"x", b"b", b"a"]), vec![&b"b"[..], b"a"]);
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("{}", i % 20).into_bytes()).collect();
        let many: Vec<&[u8]> = many.iter().map(|m| m.as_slice()).collect();
        assert_eq!(distinct(&many).len(), 20);
    }

    fn arb_member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => (-8i64..8).prop_map(|i| i.to_string().into_bytes()),
            1 => Just(b"007".to_vec()),
            1 => Just(i64::MIN.to_string().into_bytes()),
            3 => proptest::collection::vec(b'a'..b'e', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 0..12),
        ]
    }

    fn arb_op() -> impl Strategy<Value = SetOp<Bytes>> {
        let m = || arb_member().prop_map(Bytes::from);
        prop_oneof![
            3 => proptest::collection::vec(m(), 0..7).prop_map(|members| SetOp::Add { members }),
            2 => proptest::collection::vec(m(), 0..4).prop_map(|members| SetOp::Rem { members }),
        ]
    }

    fn rank(enc: &str) -> u8 {
        match enc {
            "intset" => 0,
            "listpack" => 1,
            _ => 2,
        }
    }

    /// Applies ops as the keyspace does (an emptied set is deleted) and checks
    /// contents against a BTreeSet and the encodings against their invariants.
    fn check_against_model(ops: &[SetOp<Bytes>], cfg: &EncodingConfig) -> Result<(), TestCaseError> {
        let mut set = Set::new();
        let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
        for op in ops {
            let before = rank(set.encoding());
            let was_empty = set.is_empty();
            set.apply(&op.as_ref(), cfg);
            match op {
                SetOp::Add { members } => model.extend(members.iter().map(|m| m.to_vec())),
                SetOp::Rem { members } => members.iter().for_each(|m| {
                    model.remove(m.as_ref());
                }),
            }
            prop_assert_eq!(contents(&set), model.clone());
            prop_assert_eq!(set.len(), model.len());
            if !was_empty {
                prop_assert!(rank(set.encoding()) >= before, "conversions are one-way");
            }
            match &set.0 {
                Repr::Ints(v) => {
                    prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(v.len() <= cfg.set_max_intset_entries);
                }
                Repr::Packed(buf) => {
                    prop_assert!(packed_count(buf) <= cfg.set_max_listpack_entries);
                    prop_assert!(set
                        .iter()
                        .all(|m| matches!(m, Member::Bytes(b) if b.len() <= cfg.set_max_listpack_value)));
                    prop_assert_eq!(buf.is_empty(), set.is_empty());
                }
                Repr::Table(t) => {
                    prop_assert_eq!(t.index.len(), t.members.len());
                    for (i, m) in t.members.iter().enumerate() {
                        prop_assert_eq!(t.position(m), Some(i));
                    }
                    let heap: usize = t.members.iter().map(|m| m.heap_bytes()).sum();
                    prop_assert_eq!(t.member_heap, heap);
                }
            }
            for m in &model {
                prop_assert!(set.contains(m));
            }
            if set.is_empty() {
                set = Set::new();
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn ops_match_model_tiny_thresholds(ops in proptest::collection::vec(arb_op(), 0..40)) {
            check_against_model(&ops, &tiny())?;
        }

        #[test]
        fn ops_match_model_default_thresholds(ops in proptest::collection::vec(arb_op(), 0..40)) {
            check_against_model(&ops, &EncodingConfig::default())?;
        }

        #[test]
        fn op_encode_decode_round_trip(op in arb_op()) {
            let mut buf = Vec::new();
            op.encode(&mut buf);
            let bytes = Bytes::from(buf);
            let mut r = Reader::over(&bytes);
            prop_assert_eq!(decode_op(&mut r).unwrap(), op);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn serialize_round_trip(ops in proptest::collection::vec(arb_op(), 0..30), tiny_cfg in any::<bool>()) {
            let cfg = if tiny_cfg { tiny() } else { EncodingConfig::default() };
            let mut set = Set::new();
            for op in &ops {
                set.apply(&op.as_ref(), &cfg);
                if set.is_empty() {
                    set = Set::new();
                }
            }
            prop_assume!(!set.is_empty());
            let mut buf = Vec::new();
            set.serialize(&mut buf);
            let mut r = Reader::new(&buf);
            let back = Set::deserialize(&mut r, &cfg).unwrap();
            prop_assert!(r.is_empty());
            prop_assert_eq!(back.encoding(), set.encoding());
            prop_assert_eq!(back.iter().collect::<Vec<_>>(), set.iter().collect::<Vec<_>>());
            prop_assert_eq!(back, set);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_op(&mut Reader::new(&bytes));
            let _ = Set::deserialize(&mut Reader::new(&bytes), &tiny());
            let _ = Set::deserialize(&mut Reader::new(&bytes), &EncodingConfig::default());
        }
    }

    #[test]
    fn deserialize_converts_past_the_current_thresholds() {
        let mut set = Set::new();
        add(&mut set, &["1", "2", "3", "4", "5", "6", "7"], &EncodingConfig::default());
        let mut buf = Vec::new();
        set.serialize(&mut buf);
        let back = Set::deserialize(&mut Reader::new(&buf), &tiny()).unwrap();
        assert_eq!(back.encoding(), "hashtable");
        assert_eq!(contents(&back), contents(&set));
    }

    #[test]
    fn small_sets_stay_small() {
        assert!(std::mem::size_of::<Set>() <= 32);
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        add(&mut s, &["alpha", "beta", "gamma", "delta", "epsilon"], &cfg);
        // 4 count bytes + 5 * (1 length byte + ~5 bytes), with an eighth of slack.
        assert!(s.heap_bytes() <= 48, "{}", s.heap_bytes());
    }
}
