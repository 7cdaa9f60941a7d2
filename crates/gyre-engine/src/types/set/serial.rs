//! A set's serialization: an encoding tag, a u32 count, then the members
//! (i64s for an intset, length-prefixed bytes otherwise).
//!
//! Invariants: reading back what `serialize` wrote gives an equal set, in the
//! same encoding unless the current thresholds forbid it (then a hashtable,
//! as when Redis loads an RDB file).
//!
//! Limits: `deserialize` never panics on bad input; an empty set, an unsorted
//! intset, duplicate members or an unknown tag is an error.

use super::{distinct, intset_max_entries, packed_push, Member, Repr, Set, Table};
use crate::codec::{put_bytes, put_i64, put_u32, put_u8, DecodeError, Reader};
use crate::types::EncodingConfig;

impl Set {
    /// The whole value: an encoding tag, a u32 count, then the members (i64s
    /// for an intset, length-prefixed bytes otherwise).
    pub fn serialize(&self, out: &mut Vec<u8>) {
        let n = u32::try_from(self.len()).expect("a set holds fewer than 2^32 members");
        match &self.0 {
            Repr::Ints(v) => {
                put_u8(out, ENC_INTSET);
                put_u32(out, n);
                for &i in v {
                    put_i64(out, i);
                }
            }
            Repr::Packed(_) | Repr::Table(_) => {
                put_u8(out, if matches!(self.0, Repr::Packed(_)) { ENC_LISTPACK } else { ENC_HASHTABLE });
                put_u32(out, n);
                for m in self.iter() {
                    let Member::Bytes(b) = m else { unreachable!("only an intset yields integers") };
                    put_bytes(out, b);
                }
            }
        }
    }

    /// Reads a set written by [`Set::serialize`], keeping its encoding unless
    /// the current thresholds forbid it (then it becomes a hashtable, as when
    /// Redis loads an RDB file). Never panics on bad input; an empty or
    /// malformed set (unsorted intset, duplicate members) is an error.
    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<Set, DecodeError> {
        let enc = r.u8()?;
        let min_item = if enc == ENC_INTSET { 8 } else { 4 };
        let n = r.count(min_item)?;
        if n == 0 {
            return Err(DecodeError::Invalid("empty set"));
        }
        let mut set = match enc {
            ENC_INTSET => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = r.i64()?;
                    if v.last().is_some_and(|&last| last >= i) {
                        return Err(DecodeError::Invalid("intset not strictly increasing"));
                    }
                    v.push(i);
                }
                Set(Repr::Ints(v))
            }
            ENC_LISTPACK if n <= cfg.set_max_listpack_entries => {
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    members.push(r.slice()?);
                }
                if distinct(&members).len() != n {
                    return Err(DecodeError::Invalid("duplicate set member"));
                }
                let mut buf = Vec::new();
                for m in members {
                    packed_push(&mut buf, m);
                }
                Set(Repr::Packed(buf))
            }
            ENC_LISTPACK | ENC_HASHTABLE => {
                let mut t = Table::with_capacity(n);
                for _ in 0..n {
                    if !t.insert(r.slice()?) {
                        return Err(DecodeError::Invalid("duplicate set member"));
                    }
                }
                Set(Repr::Table(Box::new(t)))
            }
            _ => return Err(DecodeError::Invalid("unknown set encoding")),
        };
        if matches!(set.0, Repr::Ints(_)) && n > intset_max_entries(cfg) {
            set.convert_to_table(n);
        }
        Ok(set)
    }
}

const ENC_INTSET: u8 = 0;
const ENC_LISTPACK: u8 = 1;
const ENC_HASHTABLE: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserialize_rejects_malformed_sets() {
        let cfg = EncodingConfig::default();
        let bad = |bytes: &[u8]| Set::deserialize(&mut Reader::new(bytes), &cfg).is_err();
        assert!(bad(&[ENC_INTSET, 0, 0, 0, 0]));
        let mut unsorted = vec![ENC_INTSET, 2, 0, 0, 0];
        unsorted.extend_from_slice(&5i64.to_le_bytes());
        unsorted.extend_from_slice(&5i64.to_le_bytes());
        assert!(bad(&unsorted));
        for enc in [ENC_LISTPACK, ENC_HASHTABLE] {
            let mut dup = vec![enc, 2, 0, 0, 0];
            put_bytes(&mut dup, b"x");
            put_bytes(&mut dup, b"x");
            assert!(bad(&dup));
        }
        assert!(bad(&[9, 1, 0, 0, 0, 0, 0, 0, 0]));
    }
}
