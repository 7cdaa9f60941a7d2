//! The per-slot digest: the XOR of a stable hash of (key, version) over a
//! slot's entries and tombstones, kept up to date in O(1) per change, so that
//! two copies of a slot compare without reading them.
//!
//! Invariant: the hash is defined here byte for byte and never changes:
//! copies on different nodes and builds must agree.
//!
//! Limits: 64 bits; two different slots collide with probability 2^-64.

use crate::hlc::Version;

/// One (key, version)'s share of its slot's digest. Defined here, byte for
/// byte, rather than by a hashing crate: copies on different nodes (and
/// builds) must agree, and hash crates do not promise stable output. Eight
/// key bytes at a time through splitmix64's finalizer.
#[inline]
pub(super) fn digest_term(key: &[u8], version: Version) -> u64 {
    version_term(digest_key(key), version)
}

/// How many buckets anti-entropy splits a slot's digest into: a key's
/// bucket is the top six bits of its digest hash ([`digest_bucket`]), so
/// the XOR of a slot's bucket digests is the slot's digest.
pub const DIGEST_BUCKETS: usize = 64;

/// The bucket of `key` among a slot's [`DIGEST_BUCKETS`] (stable across
/// nodes and builds, as [`digest_term`]).
#[inline]
pub(super) fn digest_bucket(key: &[u8]) -> usize {
    (digest_key(key) >> 58) as usize
}

/// The key's part of [`digest_term`], computed once when a key changes
/// version: a multiply per eight bytes, one full mix at the end.
#[inline]
fn digest_key(key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x6779_7265_6469_6765 ^ key.len() as u64; // "gyredige"
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    digest_mix(h ^ u64::from_le_bytes(tail))
}

#[inline]
fn version_term(key_part: u64, version: Version) -> u64 {
    digest_mix(key_part ^ version.hlc() ^ u64::from(version.node()).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finalizer.
#[inline]
fn digest_mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// [`digest_term`]'s change when `key` moves from version `from` to `to`.
#[inline]
pub(super) fn digest_change(key: &[u8], from: Version, to: Version) -> u64 {
    let k = digest_key(key);
    version_term(k, from) ^ version_term(k, to)
}
