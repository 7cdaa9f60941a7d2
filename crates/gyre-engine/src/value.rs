//! Stored values and keyspace entries.
//!
//! A string that is the canonical decimal form of an `i64` is stored as an integer
//! (Redis's "int" encoding): no allocation, and INCR needs no parse. Everything else
//! is a byte vector. Later data types (lists, hashes, sets, sorted sets) join the
//! [`Value`] enum boxed, so that an entry stays small.

use crate::codec::{self, DecodeError, Reader};
use crate::hlc::Version;
use crate::num;
use crate::types::{CollOp, EncodingConfig, Hash, List, Set, Stream, ZSet};

/// Redis's OBJECT ENCODING threshold between "embstr" and "raw".
const EMBSTR_BYTES_MAX: usize = 44;

/// Longest collection element (list item, set member, hash field or value,
/// sorted-set member) kept inline, with no allocation: it fills the space a
/// heap pointer, length and capacity would take anyway.
pub const INLINE_BYTES_MAX: usize = 22;

/// Longest string *value* kept inside the keyspace entry itself. The entry's
/// value slot is 40 bytes (see docs/MEMORY.md): strings up to 38 bytes, which
/// covers most cache payloads of counters, tokens and short JSON, cost no
/// allocation of their own.
pub const VALUE_INLINE_BYTES_MAX: usize = 38;

/// String bytes: up to `N` inline, longer ones on the heap. The element type of
/// collections ([`StrValue`], `N` = 22, 32 bytes) and of string values
/// ([`ValueStr`], `N` = 38, 40 bytes). Compares and hashes exactly as its bytes,
/// so tables keyed by it are searched with a plain `&[u8]`.
#[derive(Clone)]
pub struct InlineStr<const N: usize>(Repr<N>);

/// A collection element: 32 bytes, up to 22 inline.
pub type StrValue = InlineStr<INLINE_BYTES_MAX>;
/// A string value: 40 bytes, up to 38 inline.
pub type ValueStr = InlineStr<VALUE_INLINE_BYTES_MAX>;

impl<const N: usize> PartialEq for InlineStr<N> {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> Eq for InlineStr<N> {}

impl<const N: usize> std::hash::Hash for InlineStr<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl<const N: usize> std::borrow::Borrow<[u8]> for InlineStr<N> {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

#[derive(Clone)]
enum Repr<const N: usize> {
    Inline { len: u8, buf: [u8; N] },
    Heap(Vec<u8>),
}

impl<const N: usize> InlineStr<N> {
    pub fn from_slice(bytes: &[u8]) -> InlineStr<N> {
        if bytes.len() <= N {
            let mut buf = [0u8; N];
            buf[..bytes.len()].copy_from_slice(bytes);
            InlineStr(Repr::Inline { len: bytes.len() as u8, buf })
        } else {
            InlineStr(Repr::Heap(bytes.to_vec()))
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(v) => v,
        }
    }

    /// The bytes as a growable vector, moving inline bytes to the heap first
    /// (APPEND and SETRANGE grow strings in place).
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        if let Repr::Inline { len, buf } = &self.0 {
            let mut v = Vec::with_capacity(usize::from(*len) * 2);
            v.extend_from_slice(&buf[..usize::from(*len)]);
            self.0 = Repr::Heap(v);
        }
        match &mut self.0 {
            Repr::Heap(v) => v,
            Repr::Inline { .. } => unreachable!("moved to the heap above"),
        }
    }

    /// Heap bytes owned (0 when inline).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(v) => v.capacity(),
        }
    }
}

impl<const N: usize> std::ops::Deref for InlineStr<N> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> From<&[u8]> for InlineStr<N> {
    fn from(bytes: &[u8]) -> InlineStr<N> {
        InlineStr::from_slice(bytes)
    }
}

impl<const N: usize> std::fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// A stored value: 40 bytes. Strings up to 38 bytes live inline; collections
/// larger than 32 bytes are boxed so an entry stays small, smaller ones
/// (hashes, sorted sets) live inline, which saves an allocation and a pointer
/// chase per key.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Str(ValueStr),
    List(Box<List>),
    Hash(Hash),
    Set(Box<Set>),
    ZSet(ZSet),
    Stream(Box<Stream>),
}

const VALUE_INT: u8 = 0;
const VALUE_STR: u8 = 1;
const VALUE_LIST: u8 = 2;
const VALUE_HASH: u8 = 3;
const VALUE_SET: u8 = 4;
const VALUE_ZSET: u8 = 5;
const VALUE_STREAM: u8 = 6;

impl Value {
    /// The value for a string write: integers are recognised and stored as such.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(i) = num::parse_i64(bytes) {
                return Value::Int(i);
            }
        }
        Value::Str(ValueStr::from_slice(bytes))
    }

    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_))
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_BYTES_MAX => "embstr",
            Value::Str(_) => "raw",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// An empty collection of the type `op` applies to.
    pub fn empty_for(op: &CollOp<&[u8]>) -> Value {
        match op {
            CollOp::List(_) => Value::List(Box::default()),
            CollOp::Hash(_) => Value::Hash(Hash::default()),
            CollOp::Set(_) => Value::Set(Box::default()),
            CollOp::ZSet(_) => Value::ZSet(ZSet::default()),
            CollOp::Stream(_) => Value::Stream(Box::default()),
        }
    }

    /// Applies a collection op; false when the value is not of the op's type.
    pub fn apply_op(&mut self, op: &CollOp<&[u8]>, cfg: &EncodingConfig) -> bool {
        match (self, op) {
            (Value::List(v), CollOp::List(o)) => v.apply(o, cfg),
            (Value::Hash(v), CollOp::Hash(o)) => v.apply(o, cfg),
            (Value::Set(v), CollOp::Set(o)) => v.apply(o, cfg),
            (Value::ZSet(v), CollOp::ZSet(o)) => v.apply(o, cfg),
            (Value::Stream(v), CollOp::Stream(o)) => v.apply(o, cfg),
            _ => return false,
        }
        true
    }

    /// A collection with no elements left (to be deleted, as Redis does).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Int(_) | Value::Str(_) => false,
            Value::List(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            Value::Set(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
            // A stream stays when its last entry goes, as in Redis.
            Value::Stream(_) => false,
        }
    }

    /// The whole value as bytes (COPY, RENAME, MOVE of any type; snapshots).
    pub fn serialize(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(VALUE_INT);
                codec::put_i64(out, *i);
            }
            Value::Str(s) => {
                out.push(VALUE_STR);
                codec::put_bytes(out, s);
            }
            Value::List(v) => {
                out.push(VALUE_LIST);
                v.serialize(out);
            }
            Value::Hash(v) => {
                out.push(VALUE_HASH);
                v.serialize(out);
            }
            Value::Set(v) => {
                out.push(VALUE_SET);
                v.serialize(out);
            }
            Value::ZSet(v) => {
                out.push(VALUE_ZSET);
                v.serialize(out);
            }
            Value::Stream(v) => {
                out.push(VALUE_STREAM);
                v.serialize(out);
            }
        }
    }

    /// Reads a value written by [`Value::serialize`]; never panics on bad input.
    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<Value, DecodeError> {
        Ok(match r.u8()? {
            VALUE_INT => Value::Int(r.i64()?),
            VALUE_STR => Value::Str(ValueStr::from_slice(r.slice()?)),
            VALUE_LIST => Value::List(Box::new(List::deserialize(r, cfg)?)),
            VALUE_HASH => Value::Hash(Hash::deserialize(r, cfg)?),
            VALUE_SET => Value::Set(Box::new(Set::deserialize(r, cfg)?)),
            VALUE_ZSET => Value::ZSet(ZSet::deserialize(r, cfg)?),
            VALUE_STREAM => Value::Stream(Box::new(Stream::deserialize(r, cfg)?)),
            _ => return Err(DecodeError::Invalid("unknown value type")),
        })
    }

    /// The string bytes, formatting an integer into `scratch` (no allocation).
    /// Panics on a collection: callers check the type first (WRONGTYPE).
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            Value::Str(s) => s,
            Value::Int(i) => scratch.format(*i).as_bytes(),
            other => panic!("string bytes of a {}", other.type_name()),
        }
    }

    /// Converts an integer value into its byte form in place (before APPEND, SETRANGE).
    pub fn make_bytes_mut(&mut self) -> &mut Vec<u8> {
        if let Value::Int(i) = *self {
            let mut v = Vec::with_capacity(20);
            num::format_i64(i, &mut v);
            *self = Value::Str(InlineStr(Repr::Heap(v)));
        }
        match self {
            Value::Str(s) => s.make_mut(),
            Value::Int(_) => unreachable!("converted above"),
            other => panic!("string bytes of a {}", other.type_name()),
        }
    }

    /// Length of the string form in bytes (0 for a collection).
    pub fn str_len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Int(i) => decimal_len(*i),
            _ => 0,
        }
    }

    /// Approximate heap bytes owned by the value (for MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) => s.heap_bytes(),
            Value::List(v) => std::mem::size_of::<List>() + v.heap_bytes(),
            Value::Hash(v) => v.heap_bytes(),
            Value::Set(v) => std::mem::size_of::<Set>() + v.heap_bytes(),
            Value::ZSet(v) => v.heap_bytes(),
            Value::Stream(v) => std::mem::size_of::<Stream>() + v.heap_bytes(),
        }
    }
}

fn decimal_len(i: i64) -> usize {
    let digits = if i == 0 { 1 } else { i.unsigned_abs().ilog10() as usize + 1 };
    digits + usize::from(i < 0)
}

/// No expiry.
pub const NO_EXPIRY: u64 = 0;

/// The frequency counter of a new key (Redis's LFU_INIT_VAL), so that new keys
/// are not the first evicted.
pub const LFU_INIT_VAL: u8 = 5;

/// How an access updates the LFU counter (Redis's `lfu-log-factor` and
/// `lfu-decay-time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LfuParams {
    pub log_factor: u32,
    /// Minutes of idleness that take one off the counter (0 = never decay).
    pub decay_minutes: u32,
}

impl Entry {
    /// Redis's OBJECT ENCODING name for this entry's value.
    pub fn encoding(&self) -> &'static str {
        match self.value {
            Value::Str(_) if self.modified_in_place => "raw",
            ref v => v.encoding(),
        }
    }

    /// The frequency counter after decay for the minutes idle until `now_ms`.
    pub fn decayed_freq(&self, now_ms: u64, p: LfuParams) -> u8 {
        if p.decay_minutes == 0 {
            return self.freq;
        }
        let periods = self.idle_ms(now_ms) / 60_000 / u64::from(p.decay_minutes);
        self.freq.saturating_sub(periods.min(255) as u8)
    }

    /// Milliseconds since the last access, at the access clock's resolution
    /// ([`ACCESS_CLOCK_MS`]). Wraps after 497 days of idleness, as Redis's LRU
    /// clock does after 194.
    #[inline]
    pub fn idle_ms(&self, now_ms: u64) -> u64 {
        u64::from(access_clock(now_ms).wrapping_sub(self.access)) * ACCESS_CLOCK_MS
    }

    /// Records an access at `now_ms`: the counter first decays by the idle
    /// minutes, then grows logarithmically, as Redis's LFULogIncr. `coin` is a
    /// uniform random number in [0, 1).
    pub fn record_access(&mut self, now_ms: u64, lfu: Option<LfuParams>, coin: f64) {
        if let Some(p) = lfu {
            self.freq = self.decayed_freq(now_ms, p);
            if self.freq < u8::MAX {
                let base = f64::from(self.freq.saturating_sub(LFU_INIT_VAL));
                let p_incr = 1.0 / (base * f64::from(p.log_factor) + 1.0);
                if coin < p_incr {
                    self.freq += 1;
                }
            }
        }
        self.access = access_clock(now_ms);
    }
}

/// Resolution of the access clock kept in each entry. Finer than Redis's one
/// second so that LRU tells apart keys touched within the same second (a hot
/// set read in a tight loop against a stream of new keys).
pub const ACCESS_CLOCK_MS: u64 = 10;

/// The access clock at `now_ms` (Unix milliseconds), in [`ACCESS_CLOCK_MS`]
/// ticks, truncated to 32 bits.
#[inline]
pub fn access_clock(now_ms: u64) -> u32 {
    (now_ms / ACCESS_CLOCK_MS) as u32
}

/// One key's record: value, absolute expiry, version and access clock.
///
/// `repr(C)` to fix the order: what every lookup reads or writes (expiry,
/// access clock) comes first, right after the key in the node, so that it
/// shares the key's cache line more often (docs/MEMORY.md).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Entry {
    /// Absolute expiry in Unix milliseconds; [`NO_EXPIRY`] when persistent.
    pub expire_at_ms: u64,
    /// Access clock for eviction: last access, see [`access_clock`].
    pub access: u32,
    /// Logarithmic access-frequency counter (LFU), as Redis's 8-bit counter.
    pub freq: u8,
    /// The string was modified in place (APPEND, SETRANGE): Redis then reports
    /// the "raw" encoding whatever its length.
    pub modified_in_place: bool,
    /// Version of the last mutation applied to this key.
    pub version: Version,
    pub value: Value,
}

impl Entry {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(value: Value, expire_at_ms: u64, version: Version) -> Entry {
        Entry { value, expire_at_ms, version, access: 0, freq: LFU_INIT_VAL, modified_in_place: false }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != NO_EXPIRY && self.expire_at_ms <= now_ms
    }

    pub fn has_expiry(&self) -> bool {
        self.expire_at_ms != NO_EXPIRY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_recognised_only_in_canonical_form() {
        assert_eq!(Value::from_bytes(b"123"), Value::Int(123));
        assert_eq!(Value::from_bytes(b"-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(Value::from_bytes(b"0123"), Value::Str(ValueStr::from(&b"0123"[..])));
        assert_eq!(Value::from_bytes(b"+1"), Value::Str(ValueStr::from(&b"+1"[..])));
        assert_eq!(Value::from_bytes(b"1 "), Value::Str(ValueStr::from(&b"1 "[..])));
    }

    #[test]
    fn string_forms_and_lengths_agree() {
        for i in [0i64, 7, -7, 10, 99, 100, -100, i64::MAX, i64::MIN] {
            let v = Value::Int(i);
            let mut s = itoa::Buffer::new();
            assert_eq!(v.as_bytes(&mut s), i.to_string().as_bytes());
            assert_eq!(v.str_len(), i.to_string().len());
        }
    }

    #[test]
    fn short_strings_live_inline_and_grow_onto_the_heap() {
        assert_eq!(std::mem::size_of::<StrValue>(), 32, "collection elements must not grow");
        assert_eq!(std::mem::size_of::<Value>(), 40, "the value slot of an entry (docs/MEMORY.md)");
        assert_eq!(std::mem::size_of::<Entry>(), 64, "an entry fills one 64-byte line (docs/MEMORY.md)");
        let mut v = Value::from_bytes(&[b'a'; VALUE_INLINE_BYTES_MAX]);
        assert_eq!(v.heap_bytes(), 0);
        v.make_bytes_mut().push(b'b');
        let Value::Str(s) = &v else { panic!() };
        assert_eq!(s.len(), VALUE_INLINE_BYTES_MAX + 1);
        assert!(v.heap_bytes() > VALUE_INLINE_BYTES_MAX);
        assert!(Value::from_bytes(&[b'a'; VALUE_INLINE_BYTES_MAX + 1]).heap_bytes() > 0);
    }

    #[test]
    fn encodings_follow_redis_names() {
        assert_eq!(Value::from_bytes(b"12").encoding(), "int");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding(), "raw");
    }
}
