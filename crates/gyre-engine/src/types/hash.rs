//! The Hash type: a map from field to value, both byte strings.
//!
//! Two encodings, named as Redis names them in OBJECT ENCODING:
//! * "listpack": one packed buffer of entries `varint(len) field varint(len) value`,
//!   in insertion order, preceded by a u32 count. A small hash costs one
//!   allocation of about its payload bytes, which is what makes millions of small
//!   hashes cheap. Lookups are linear, bounded by `hash-max-listpack-entries`.
//! * "hashtable": a hash table of [`StrValue`] to [`StrValue`] (short strings
//!   inline, no allocation each).
//!
//! A packed hash becomes a table, for good, when it holds more than
//! `hash-max-listpack-entries` fields or a field or value longer than
//! `hash-max-listpack-value` bytes is written to it (Redis's rules); a table
//! never goes back.
//!
//! Invariants: a field appears at most once; the packed count equals the number
//! of entries in the buffer; an empty packed hash owns no allocation.
//!
//! Limits: the packed encoding is for small hashes; its operations are linear in
//! its size. HSCAN over a table orders fields by their (process-seeded) hash, so
//! each step is linear in the table's size; steps are at least 1/32 of the table
//! so that a whole iteration stays linear.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashMap;

use super::packed::{
    entry_len, packed_count, put_varint, read_entry, reserve_slack, set_packed_count, varint_len, COUNT_BYTES,
};
use super::EncodingConfig;
use crate::codec::{put_bytes, put_u32, put_u8, DecodeError, Reader};
use crate::keyspace::KeyHasher;
use crate::value::StrValue;

type Table = HashMap<StrValue, StrValue, KeyHasher>;

/// A hash value. Kept to three words so that the box a keyspace entry points to
/// is as small as it can be.
#[derive(Clone, Default)]
pub struct Hash(Repr);

#[derive(Clone)]
enum Repr {
    /// Empty, or a u32 count followed by the packed entries.
    Packed(Vec<u8>),
    Table(Box<Table>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Packed(Vec::new())
    }
}

/// Two hashes are equal when they map the same fields to the same values,
/// whatever their encoding and order.
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

// ---------------------------------------------------------------------------
// Packed buffer primitives
// ---------------------------------------------------------------------------

/// Iterates a packed buffer's pairs.
struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Where one packed pair lies: the field's bytes, the value's varint start and
/// the value's bytes.
#[derive(Clone, Copy)]
struct PackedPair {
    field: (usize, usize),
    value_at: usize,
    value: (usize, usize),
}

impl PackedIter<'_> {
    fn new(buf: &[u8]) -> PackedIter<'_> {
        PackedIter { buf, pos: COUNT_BYTES.min(buf.len()) }
    }

    fn next_pair(&mut self) -> Option<PackedPair> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let field = read_entry(self.buf, self.pos);
        let value_at = field.1;
        let value = read_entry(self.buf, value_at);
        self.pos = value.1;
        Some(PackedPair { field, value_at, value })
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let p = self.next_pair()?;
        Some((&self.buf[p.field.0..p.field.1], &self.buf[p.value.0..p.value.1]))
    }
}

fn packed_find(buf: &[u8], field: &[u8]) -> Option<PackedPair> {
    let mut it = PackedIter::new(buf);
    while let Some(p) = it.next_pair() {
        if &buf[p.field.0..p.field.1] == field {
            return Some(p);
        }
    }
    None
}

/// Sets `field` in a packed buffer; returns whether it was added.
fn packed_set(buf: &mut Vec<u8>, field: &[u8], value: &[u8]) -> bool {
    if let Some(p) = packed_find(buf, field) {
        let old_len = p.value.1 - p.value.0;
        if old_len == value.len() {
            buf[p.value.0..p.value.1].copy_from_slice(value);
        } else {
            let mut encoded = Vec::with_capacity(entry_len(value));
            put_varint(&mut encoded, value.len());
            encoded.extend_from_slice(value);
            buf.splice(p.value_at..p.value.1, encoded);
        }
        return false;
    }
    let need = entry_len(field) + entry_len(value);
    if buf.is_empty() {
        buf.reserve_exact(COUNT_BYTES + need);
        buf.extend_from_slice(&[0; COUNT_BYTES]);
    } else {
        reserve_slack(buf, need);
    }
    put_varint(buf, field.len());
    buf.extend_from_slice(field);
    put_varint(buf, value.len());
    buf.extend_from_slice(value);
    let n = packed_count(buf) + 1;
    set_packed_count(buf, n);
    true
}

/// Removes `field` from a packed buffer; returns whether it was there.
fn packed_del(buf: &mut Vec<u8>, field: &[u8]) -> bool {
    let Some(p) = packed_find(buf, field) else {
        return false;
    };
    let n = packed_count(buf) - 1;
    if n == 0 {
        *buf = Vec::new();
        return true;
    }
    let field_at = p.field.0 - varint_len(p.field.1 - p.field.0);
    buf.drain(field_at..p.value.1);
    set_packed_count(buf, n);
    // Give memory back when most of the buffer has been deleted.
    if buf.capacity() > 64 && buf.len() < buf.capacity() / 2 {
        buf.shrink_to(buf.len() + buf.len() / 8);
    }
    true
}

fn table_with_capacity(n: usize) -> Box<Table> {
    Box::new(Table::with_capacity_and_hasher(n, KeyHasher))
}

// ---------------------------------------------------------------------------
// The value
// ---------------------------------------------------------------------------

/// Iterator over a hash's (field, value) pairs: insertion order when packed,
/// table order otherwise.
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Packed(PackedIter<'a>),
    Table(hashbrown::hash_map::Iter<'a, StrValue, StrValue>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        match &mut self.0 {
            IterRepr::Packed(it) => it.next(),
            IterRepr::Table(it) => it.next().map(|(k, v)| (k.as_slice(), v.as_slice())),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Packed(buf) => packed_count(buf),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.0 {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Whether the hash uses the packed (listpack) encoding.
    pub fn is_packed(&self) -> bool {
        matches!(self.0, Repr::Packed(_))
    }

    /// Approximate heap bytes (MEMORY USAGE, lazy-free decisions).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Packed(buf) => buf.capacity(),
            Repr::Table(t) => {
                let buckets = t.capacity() * (2 * std::mem::size_of::<StrValue>() + 1);
                let strings: usize = t.iter().map(|(k, v)| k.heap_bytes() + v.heap_bytes()).sum();
                std::mem::size_of::<Table>() + buckets + strings
            }
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.0 {
            Repr::Packed(buf) => packed_find(buf, field).map(|p| &buf[p.value.0..p.value.1]),
            Repr::Table(t) => t.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// The (field, value) pairs: insertion order when packed, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Packed(buf) => Iter(IterRepr::Packed(PackedIter::new(buf))),
            Repr::Table(t) => Iter(IterRepr::Table(t.iter())),
        }
    }

    /// One HSCAN step. A packed hash is returned whole and the next cursor is 0,
    /// as Redis does. A table visits the fields whose hash (63 bits) is at least
    /// `cursor`, in hash order, at least `count` of them (and at least 1/32 of the
    /// table) unless fewer remain; the next cursor is the hash after the last
    /// visited, or 0 at the end. Because the order does not depend on the table's
    /// layout, a field present for the whole iteration is visited exactly once,
    /// whatever is inserted or resized meanwhile.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        let t = match &self.0 {
            Repr::Packed(_) => {
                self.iter().for_each(|(f, v)| visit(f, v));
                return 0;
            }
            Repr::Table(t) => t,
        };
        let mut batch: Vec<(u64, &StrValue, &StrValue)> = Vec::with_capacity(t.len());
        for (f, v) in t.iter() {
            let h = scan_hash(f);
            if h >= cursor {
                batch.push((h, f, v));
            }
        }
        let budget = count.max(t.len() / 32).max(1);
        let mut next = 0;
        if batch.len() > budget {
            batch.select_nth_unstable_by_key(budget - 1, |e| e.0);
            let last_h = batch[budget - 1].0;
            // Fields sharing the last hash go in this step too, so a cursor never
            // splits them.
            batch.retain(|e| e.0 <= last_h);
            next = last_h + 1;
        }
        batch.sort_unstable_by_key(|e| e.0);
        for (_, f, v) in batch {
            visit(f, v);
        }
        next
    }

    pub fn serialize(&self, out: &mut Vec<u8>) {
        put_u8(out, if self.is_packed() { ENC_PACKED } else { ENC_TABLE });
        put_u32(out, u32::try_from(self.len()).expect("hash under 2^32 fields"));
        for (f, v) in self.iter() {
            put_bytes(out, f);
            put_bytes(out, v);
        }
    }

    /// Reads a hash written by [`Hash::serialize`]. The encoding is kept, except
    /// that a packed hash beyond this configuration's thresholds becomes a table
    /// (as Redis does when it loads one). Never panics on arbitrary bytes.
    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<Hash, DecodeError> {
        let enc = r.u8()?;
        if enc != ENC_PACKED && enc != ENC_TABLE {
            return Err(DecodeError::Invalid("unknown hash encoding"));
        }
        let n = r.count(8)?;
        let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(n);
        let mut seen: hashbrown::HashSet<&[u8], KeyHasher> = hashbrown::HashSet::with_capacity_and_hasher(n, KeyHasher);
        for _ in 0..n {
            let f = r.slice()?;
            let v = r.slice()?;
            if !seen.insert(f) {
                return Err(DecodeError::Invalid("duplicate hash field"));
            }
            pairs.push((f, v));
        }
        let too_big = n > cfg.hash_max_listpack_entries
            || pairs.iter().any(|(f, v)| f.len().max(v.len()) > cfg.hash_max_listpack_value);
        if enc == ENC_TABLE || too_big {
            let mut t = table_with_capacity(n);
            for (f, v) in pairs {
                t.insert(StrValue::from_slice(f), StrValue::from_slice(v));
            }
            return Ok(Hash(Repr::Table(t)));
        }
        if n == 0 {
            return Ok(Hash::new());
        }
        let size: usize = pairs.iter().map(|(f, v)| entry_len(f) + entry_len(v)).sum();
        let mut buf = Vec::with_capacity(COUNT_BYTES + size);
        buf.extend_from_slice(&[0; COUNT_BYTES]);
        for (f, v) in pairs {
            put_varint(&mut buf, f.len());
            buf.extend_from_slice(f);
            put_varint(&mut buf, v.len());
            buf.extend_from_slice(v);
        }
        set_packed_count(&mut buf, n);
        Ok(Hash(Repr::Packed(buf)))
    }

    pub fn apply(&mut self, op: &HashOp<&[u8]>, cfg: &EncodingConfig) {
        match op {
            HashOp::Set { pairs } => {
                if let Repr::Packed(buf) = &mut self.0 {
                    if buf.is_empty() && !pairs.is_empty() {
                        // A new hash: one allocation of exactly its size (unless
                        // fields repeat), rather than one per field.
                        let size: usize = pairs.iter().map(|(f, v)| entry_len(f) + entry_len(v)).sum();
                        buf.reserve_exact(COUNT_BYTES + size);
                    }
                }
                for (f, v) in pairs {
                    self.set(f, v, cfg);
                }
            }
            HashOp::Del { fields } => {
                for f in fields {
                    self.del(f);
                }
            }
        }
    }

    /// Sets one field; returns whether it was added.
    fn set(&mut self, field: &[u8], value: &[u8], cfg: &EncodingConfig) -> bool {
        if let Repr::Packed(buf) = &mut self.0 {
            if field.len().max(value.len()) <= cfg.hash_max_listpack_value {
                let added = packed_set(buf, field, value);
                if packed_count(buf) > cfg.hash_max_listpack_entries {
                    self.convert();
                }
                return added;
            }
            self.convert();
        }
        let Repr::Table(t) = &mut self.0 else { unreachable!("converted above") };
        match t.get_mut(field) {
            Some(v) => {
                *v = StrValue::from_slice(value);
                false
            }
            None => {
                t.insert(StrValue::from_slice(field), StrValue::from_slice(value));
                true
            }
        }
    }

    /// Removes one field; returns whether it was there.
    fn del(&mut self, field: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Packed(buf) => packed_del(buf, field),
            Repr::Table(t) => {
                let removed = t.remove(field).is_some();
                // Give memory back when the table is mostly empty.
                if removed && t.capacity() > 64 && t.len() < t.capacity() / 8 {
                    t.shrink_to(t.len() * 2);
                }
                removed
            }
        }
    }

    /// Packed -> table (one way).
    fn convert(&mut self) {
        if let Repr::Packed(buf) = &self.0 {
            let mut t = table_with_capacity(packed_count(buf));
            for (f, v) in PackedIter::new(buf) {
                t.insert(StrValue::from_slice(f), StrValue::from_slice(v));
            }
            self.0 = Repr::Table(t);
        }
    }
}

/// The HSCAN order of a field: the top 63 bits of its table hash, so that
/// "the hash after the last visited" never overflows into cursor 0.
fn scan_hash(field: &[u8]) -> u64 {
    KeyHasher.hash_one(field) >> 1
}

const ENC_PACKED: u8 = 0;
const ENC_TABLE: u8 = 1;

// ---------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------

/// The deterministic effect of a hash write. Commands decide (HSETNX checks the
/// field, HINCRBY computes the sum) and the op names the outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum HashOp<B> {
    /// Set each field to its value, in order (a later pair wins).
    Set { pairs: Vec<(B, B)> },
    /// Remove these fields (absent ones are ignored).
    Del { fields: Vec<B> },
}

const OP_SET: u8 = 1;
const OP_DEL: u8 = 2;

impl<B: AsRef<[u8]>> HashOp<B> {
    pub fn as_ref(&self) -> HashOp<&[u8]> {
        match self {
            HashOp::Set { pairs } => {
                HashOp::Set { pairs: pairs.iter().map(|(f, v)| (f.as_ref(), v.as_ref())).collect() }
            }
            HashOp::Del { fields } => HashOp::Del { fields: fields.iter().map(|f| f.as_ref()).collect() },
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            HashOp::Set { pairs } => {
                put_u8(out, OP_SET);
                put_u32(out, u32::try_from(pairs.len()).expect("pairs bounded by the request size"));
                for (f, v) in pairs {
                    put_bytes(out, f.as_ref());
                    put_bytes(out, v.as_ref());
                }
            }
            HashOp::Del { fields } => {
                put_u8(out, OP_DEL);
                put_u32(out, u32::try_from(fields.len()).expect("fields bounded by the request size"));
                for f in fields {
                    put_bytes(out, f.as_ref());
                }
            }
        }
    }
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<HashOp<Bytes>, DecodeError> {
    match r.u8()? {
        OP_SET => {
            let n = r.count(8)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let f = r.bytes()?;
                pairs.push((f, r.bytes()?));
            }
            Ok(HashOp::Set { pairs })
        }
        OP_DEL => {
            let n = r.count(4)?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push(r.bytes()?);
            }
            Ok(HashOp::Del { fields })
        }
        _ => Err(DecodeError::Invalid("unknown hash op")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap as Model;

    fn tiny() -> EncodingConfig {
        EncodingConfig { hash_max_listpack_entries: 4, hash_max_listpack_value: 6, ..EncodingConfig::default() }
    }

    fn set_op<'a>(pairs: &[(&'a [u8], &'a [u8])]) -> HashOp<&'a [u8]> {
        HashOp::Set { pairs: pairs.to_vec() }
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<Hash>() <= 24, "a hash must stay three words: {}", std::mem::size_of::<Hash>());
    }

    #[test]
    fn packed_set_get_overwrite_delete() {
        let cfg = EncodingConfig::default();
        let mut h = Hash::new();
        assert_eq!(h.heap_bytes(), 0);
        h.apply(&set_op(&[(b"a", b"1"), (b"b", b"22")]), &cfg);
        assert_eq!(h.len(), 2);
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"a"), Some(&b"1"[..]));
        // Same length, longer, shorter.
        h.apply(&set_op(&[(b"a", b"9")]), &cfg);
        assert_eq!(h.get(b"a"), Some(&b"9"[..]));
        let long = vec![b'x'; 200];
        let cfg_big = EncodingConfig { hash_max_listpack_value: 1000, ..cfg };
        h.apply(&set_op(&[(b"a", &long)]), &cfg_big);
        assert_eq!(h.get(b"a"), Some(&long[..]));
        assert_eq!(h.get(b"b"), Some(&b"22"[..]));
        h.apply(&set_op(&[(b"a", b"")]), &cfg);
        assert_eq!(h.get(b"a"), Some(&b""[..]));
        assert_eq!(h.len(), 2);
        h.apply(&HashOp::Del { fields: vec![&b"a"[..], &b"zz"[..]] }, &cfg);
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(b"a"), None);
        h.apply(&HashOp::Del { fields: vec![&b"b"[..]] }, &cfg);
        assert!(h.is_empty());
        assert_eq!(h.heap_bytes(), 0);
    }

    #[test]
    fn converts_on_entries_and_on_length() {
        let cfg = tiny();
        let mut h = Hash::new();
        for i in 0..4u8 {
            h.apply(&set_op(&[(&[b'a' + i], b"v")]), &cfg);
        }
        assert_eq!(h.encoding(), "listpack");
        h.apply(&set_op(&[(b"e", b"v")]), &cfg);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        // One way: deleting does not convert back.
        h.apply(&HashOp::Del { fields: vec![&b"a"[..], &b"b"[..]] }, &cfg);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.apply(&set_op(&[(b"f", b"123456")]), &cfg);
        assert_eq!(h.encoding(), "listpack");
        h.apply(&set_op(&[(b"f", b"1234567")]), &cfg);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"1234567"[..]));
        let mut h = Hash::new();
        h.apply(&set_op(&[(b"field67", b"1")]), &cfg);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn ten_small_fields_fit_in_one_small_buffer() {
        let cfg = EncodingConfig::default();
        let mut h = Hash::new();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            (0..10).map(|i| (format!("field:{i}").into_bytes(), format!("value:{i}").into_bytes())).collect();
        let refs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
        h.apply(&HashOp::Set { pairs: refs }, &cfg);
        assert_eq!(h.heap_bytes(), 4 + 10 * (8 + 8));
        // Grown one field at a time, the slack stays within an eighth.
        let mut h = Hash::new();
        for (f, v) in &pairs {
            h.apply(&set_op(&[(f, v)]), &cfg);
        }
        assert!(h.heap_bytes() <= (4 + 10 * 16) * 9 / 8, "{}", h.heap_bytes());
    }

    #[test]
    fn scan_visits_each_field_once_while_the_table_grows() {
        let cfg = EncodingConfig { hash_max_listpack_entries: 0, ..EncodingConfig::default() };
        let mut h = Hash::new();
        for i in 0..1000 {
            let f = format!("f{i}");
            h.apply(&set_op(&[(f.as_bytes(), b"v")]), &cfg);
        }
        let mut seen = Model::new();
        let mut cursor = 0;
        let mut extra = 0;
        loop {
            cursor = h.scan(cursor, 10, |f, _| *seen.entry(f.to_vec()).or_insert(0) += 1);
            // Grow the table during the scan.
            for _ in 0..20 {
                let f = format!("new{extra}");
                extra += 1;
                h.apply(&set_op(&[(f.as_bytes(), b"v")]), &cfg);
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert_eq!(seen.get(format!("f{i}").as_bytes()), Some(&1), "f{i}");
        }
        assert!(seen.values().all(|&n| n == 1));
    }

    // -----------------------------------------------------------------------
    // Property tests against a model
    // -----------------------------------------------------------------------

    fn arb_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(b'a'..b'e', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 0..max_len),
        ]
    }

    fn arb_op() -> impl Strategy<Value = HashOp<Bytes>> {
        let b = |n| arb_bytes(n).prop_map(Bytes::from);
        prop_oneof![
            3 => proptest::collection::vec((b(10), b(10)), 0..6).prop_map(|pairs| HashOp::Set { pairs }),
            1 => proptest::collection::vec(b(10), 0..4).prop_map(|fields| HashOp::Del { fields }),
        ]
    }

    fn apply_model(m: &mut Model<Vec<u8>, Vec<u8>>, op: &HashOp<Bytes>) {
        match op {
            HashOp::Set { pairs } => {
                for (f, v) in pairs {
                    m.insert(f.to_vec(), v.to_vec());
                }
            }
            HashOp::Del { fields } => {
                for f in fields {
                    m.remove(f.as_ref());
                }
            }
        }
    }

    fn contents(h: &Hash) -> Model<Vec<u8>, Vec<u8>> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    fn check_against_model(ops: &[HashOp<Bytes>], cfg: &EncodingConfig) -> Result<(), TestCaseError> {
        let mut h = Hash::new();
        let mut m = Model::new();
        for op in ops {
            h.apply(&op.as_ref(), cfg);
            apply_model(&mut m, op);
            prop_assert_eq!(h.len(), m.len());
            prop_assert_eq!(h.iter().count(), m.len());
            let packed_ok = m.len() <= cfg.hash_max_listpack_entries
                && m.iter().all(|(f, v)| f.len().max(v.len()) <= cfg.hash_max_listpack_value);
            if !packed_ok {
                prop_assert_eq!(h.encoding(), "hashtable");
            }
        }
        prop_assert_eq!(contents(&h), m.clone());
        for (f, v) in &m {
            prop_assert_eq!(h.get(f), Some(&v[..]));
        }
        let mut scanned = Model::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 3, |f, v| {
                scanned.insert(f.to_vec(), v.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        prop_assert_eq!(scanned, m);
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
        fn serialize_round_trip(ops in proptest::collection::vec(arb_op(), 0..30), tiny_load in any::<bool>()) {
            let mut h = Hash::new();
            for op in &ops {
                h.apply(&op.as_ref(), &tiny());
            }
            let mut buf = Vec::new();
            h.serialize(&mut buf);
            let load_cfg = if tiny_load { tiny() } else { EncodingConfig::default() };
            let mut r = Reader::new(&buf);
            let back = Hash::deserialize(&mut r, &load_cfg).unwrap();
            prop_assert!(r.is_empty());
            prop_assert_eq!(&back, &h);
            // A table stays a table; a packed hash stays packed when it fits.
            if !h.is_packed() {
                prop_assert_eq!(back.encoding(), "hashtable");
            }
        }

        #[test]
        fn deserialize_never_panics_on_damaged_input(
            ops in proptest::collection::vec(arb_op(), 1..10),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut h = Hash::new();
            for op in &ops {
                h.apply(&op.as_ref(), &tiny());
            }
            let mut buf = Vec::new();
            h.serialize(&mut buf);
            let i = at.index(buf.len());
            buf[i] = byte;
            let _ = Hash::deserialize(&mut Reader::new(&buf), &tiny());
            buf.truncate(cut.index(buf.len()));
            let _ = Hash::deserialize(&mut Reader::new(&buf), &EncodingConfig::default());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_op(&mut Reader::new(&bytes));
            let _ = Hash::deserialize(&mut Reader::new(&bytes), &tiny());
        }
    }

    #[test]
    fn deserialize_rejects_duplicates_and_bad_encodings() {
        let mut buf = vec![ENC_PACKED];
        put_u32(&mut buf, 2);
        for _ in 0..2 {
            put_bytes(&mut buf, b"f");
            put_bytes(&mut buf, b"v");
        }
        assert!(Hash::deserialize(&mut Reader::new(&buf), &EncodingConfig::default()).is_err());
        buf[0] = 7;
        assert!(Hash::deserialize(&mut Reader::new(&buf), &EncodingConfig::default()).is_err());
    }
}
