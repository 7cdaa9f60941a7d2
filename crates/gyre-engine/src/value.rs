//! Stored values and keyspace entries.
//!
//! A string that is the canonical decimal form of an `i64` is stored as an integer
//! (Redis's "int" encoding): no allocation, and INCR needs no parse. Everything else
//! is a byte vector. Later data types (lists, hashes, sets, sorted sets) join the
//! [`Value`] enum boxed, so that an entry stays small.

use crate::hlc::Version;
use crate::num;

/// Redis's OBJECT ENCODING threshold between "embstr" and "raw".
const EMBSTR_BYTES_MAX: usize = 44;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(Vec<u8>),
}

impl Value {
    /// The value for a string write: integers are recognised and stored as such.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(i) = num::parse_i64(bytes) {
                return Value::Int(i);
            }
        }
        Value::Str(bytes.to_vec())
    }

    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) => "string",
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_BYTES_MAX => "embstr",
            Value::Str(_) => "raw",
        }
    }

    /// The string bytes, formatting an integer into `scratch` (no allocation).
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            Value::Str(s) => s,
            Value::Int(i) => scratch.format(*i).as_bytes(),
        }
    }

    /// Converts an integer value into its byte form in place (before APPEND, SETRANGE).
    pub fn make_bytes_mut(&mut self) -> &mut Vec<u8> {
        if let Value::Int(i) = *self {
            let mut v = Vec::with_capacity(20);
            num::format_i64(i, &mut v);
            *self = Value::Str(v);
        }
        match self {
            Value::Str(s) => s,
            Value::Int(_) => unreachable!("converted above"),
        }
    }

    /// Length of the string form in bytes.
    pub fn str_len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Int(i) => decimal_len(*i),
        }
    }

    /// Approximate heap bytes owned by the value (for MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) => s.capacity(),
        }
    }
}

fn decimal_len(i: i64) -> usize {
    let digits = if i == 0 { 1 } else { i.unsigned_abs().ilog10() as usize + 1 };
    digits + usize::from(i < 0)
}

/// No expiry.
pub const NO_EXPIRY: u64 = 0;

/// One key's record: value, absolute expiry, version and access clock.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; [`NO_EXPIRY`] when persistent.
    pub expire_at_ms: u64,
    /// Version of the last mutation applied to this key.
    pub version: Version,
    /// Access clock for eviction: last access in seconds (LRU), truncated to 32 bits.
    pub access: u32,
}

impl Entry {
    pub fn new(value: Value, expire_at_ms: u64, version: Version) -> Entry {
        Entry { value, expire_at_ms, version, access: 0 }
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
        assert_eq!(Value::from_bytes(b"0123"), Value::Str(b"0123".to_vec()));
        assert_eq!(Value::from_bytes(b"+1"), Value::Str(b"+1".to_vec()));
        assert_eq!(Value::from_bytes(b"1 "), Value::Str(b"1 ".to_vec()));
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
    fn encodings_follow_redis_names() {
        assert_eq!(Value::from_bytes(b"12").encoding(), "int");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding(), "raw");
    }
}
