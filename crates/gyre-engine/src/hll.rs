//! HyperLogLog in Redis's own representation, byte for byte (Redis 7.2's
//! `hyperloglog.c`), so that a value copied between Redis and Gyre (GET/SET,
//! DUMP/RESTORE) counts the same on both sides.
//!
//! A value is a string: a 16-byte header (`HYLL`, encoding 0 = dense or
//! 1 = sparse, 3 zero bytes, the cached cardinality as 8 bytes little endian
//! whose top bit set means "stale"), then the registers: 16384 registers of
//! 6 bits, either packed (dense, 12288 bytes, least significant bits first)
//! or run-length coded (sparse: ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`,
//! VAL `1vvvvvxx`). Elements are hashed with MurmurHash64A, seed 0xadc83b19;
//! the low 14 bits pick the register, the run of zeros after them (plus one)
//! is the candidate value. The estimate is Ertl's improved estimator, as in
//! Redis.
//!
//! Untrusted input: values come from clients (SET, RESTORE). Every reader
//! here checks bounds: a corrupt sparse stream is reported as
//! [`Corrupt`] (Redis's `-INVALIDOBJ`), never a panic or a read out of range.
//! Where Redis reads the string's hidden terminating zero byte, these
//! functions read 0.

/// Header bytes.
pub const HDR_SIZE: usize = 16;
/// Registers (2^14).
pub const REGISTERS: usize = 1 << 14;
const P: u32 = 14;
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Bytes of a dense value, header included.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Redis's default `hll-sparse-max-bytes`.
pub const SPARSE_MAX_BYTES_DEFAULT: u64 = 3000;

/// The value is not a HyperLogLog at all (Redis: `-WRONGTYPE Key is not a
/// valid HyperLogLog string value.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotHll;

/// The value looks like a HyperLogLog but its sparse data is corrupt
/// (Redis: `-INVALIDOBJ Corrupted HLL object detected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's MurmurHash64A (the endian-neutral variant Redis uses).
pub fn murmurhash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h: u64 = seed ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the value it proposes (Redis's
/// `hllPatLen`).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// An empty HyperLogLog: sparse, all registers zero (one XZERO opcode).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR_SIZE + 2);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(SPARSE_XZERO_MAX_LEN);
        push_xzero(&mut v, n);
        left -= n;
    }
    v
}

/// Redis's `isHLLObjectOrReply` checks: the header, the encoding, the dense
/// size. Returns the encoding.
pub fn validate(bytes: &[u8]) -> Result<u8, NotHll> {
    if bytes.len() < HDR_SIZE || &bytes[..4] != b"HYLL" || bytes[4] > SPARSE {
        return Err(NotHll);
    }
    if bytes[4] == DENSE && bytes.len() != DENSE_SIZE {
        return Err(NotHll);
    }
    Ok(bytes[4])
}

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// A dense register (`regs` = the bytes after the header).
pub fn dense_get(regs: &[u8], index: usize) -> u8 {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let b0 = u32::from(at(regs, byte));
    let b1 = u32::from(at(regs, byte + 1));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

fn dense_set_raw(regs: &mut [u8], index: usize, val: u8) {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let fb8 = 8 - fb;
    let v = u32::from(val);
    regs[byte] &= !((u32::from(REGISTER_MAX) << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if byte + 1 < regs.len() {
        regs[byte + 1] &= !((u32::from(REGISTER_MAX) >> fb8) as u8);
        regs[byte + 1] |= (v >> fb8) as u8;
    }
}

/// Raises a dense register to `count` if it is lower; true when it changed.
fn dense_set(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(regs, index) {
        dense_set_raw(regs, index, count);
        true
    } else {
        false
    }
}

/// One sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn read(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0xc0 == 0 {
            Op::Zero(usize::from(b & 0x3f) + 1)
        } else if b & 0x80 == 0 {
            Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(at(s, p + 1))) + 1)
        } else {
            Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x3) + 1)
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn width(self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
}

fn val_byte(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push((l >> 8) as u8 | 0x40);
    v.push((l & 0xff) as u8);
}

fn push_zero_run(v: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        push_xzero(v, len);
    } else {
        v.push((len - 1) as u8);
    }
}

/// Converts a sparse value to dense (Redis's `hllSparseToDense`); the header
/// (magic, cached cardinality) is kept. A dense value is returned unchanged.
pub fn sparse_to_dense(bytes: &[u8]) -> Result<Vec<u8>, Corrupt> {
    if bytes[4] == DENSE {
        return Ok(bytes.to_vec());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&bytes[..HDR_SIZE]);
    dense[4] = DENSE;
    let s = &bytes[HDR_SIZE..];
    let regs = &mut dense[HDR_SIZE..];
    let (mut p, mut idx) = (0, 0usize);
    while p < s.len() {
        let op = Op::read(s, p);
        if let Op::Val(v, n) = op {
            if idx + n > REGISTERS {
                break;
            }
            for i in idx..idx + n {
                dense_set_raw(regs, i, v);
            }
        }
        idx += op.span();
        p += op.width();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(dense)
}

fn invalidate_cache(bytes: &mut [u8]) {
    bytes[15] |= 0x80;
}

/// Raises register `index` to `count` in a sparse value (Redis's
/// `hllSparseSet`, including when it promotes to dense: a value the sparse
/// form cannot hold, or a sparse form growing past `sparse_max_bytes`).
/// Returns whether a register changed.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, sparse_max_bytes: u64) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Step 1: the opcode covering `index`.
    let end = v.len();
    let (mut p, mut first, mut prev, mut span) = (HDR_SIZE, 0usize, None, 0usize);
    let mut op = Op::Zero(1);
    while p < end {
        op = Op::read(v, p);
        span = op.span();
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += op.width();
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let next = p + op.width();
    // Step 2: the trivial cases, else the replacement sequence.
    let mut trivial = false;
    match op {
        Op::Val(old, n) => {
            if old >= count {
                return Ok(false);
            }
            if n == 1 {
                v[p] = val_byte(count, 1);
                trivial = true;
            }
        }
        Op::Zero(1) => {
            v[p] = val_byte(count, 1);
            trivial = true;
        }
        _ => {}
    }
    if !trivial {
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        match op {
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zero_run(&mut seq, index - first);
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    push_zero_run(&mut seq, last - index);
                }
            }
            Op::Val(cur, _) => {
                if index != first {
                    seq.push(val_byte(cur, index - first));
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    seq.push(val_byte(cur, last - index));
                }
            }
        }
        // Step 3: splice it in, or promote when the sparse form would grow
        // past its limit.
        let oldlen = op.width();
        if seq.len() > oldlen && (v.len() + seq.len() - oldlen) as u64 > sparse_max_bytes {
            return promote(v, index, count);
        }
        v.splice(p..next.min(v.len()), seq);
    }
    // Step 4: merge adjacent VAL opcodes of equal value, scanning up to five
    // opcodes from the one before the change.
    let mut q = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while q < v.len() && scan > 0 {
        scan -= 1;
        match Op::read(v, q) {
            Op::XZero(_) => {
                q += 2;
                continue;
            }
            Op::Zero(_) => {
                q += 1;
                continue;
            }
            Op::Val(v1, l1) => {
                if q + 1 < v.len() {
                    if let Op::Val(v2, l2) = Op::read(v, q + 1) {
                        if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                            v[q + 1] = val_byte(v1, l1 + l2);
                            v.remove(q);
                            continue;
                        }
                    }
                }
            }
        }
        q += 1;
    }
    invalidate_cache(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    let mut dense = sparse_to_dense(v)?;
    let changed = dense_set(&mut dense[HDR_SIZE..], index, count);
    debug_assert!(changed, "a promotion always raises a register");
    *v = dense;
    Ok(changed)
}

/// Raises register `index` to `count` in a valid HyperLogLog of either
/// encoding; true when it changed.
pub fn set_register(v: &mut Vec<u8>, index: usize, count: u8, sparse_max_bytes: u64) -> Result<bool, Corrupt> {
    match v[4] {
        DENSE => Ok(dense_set(&mut v[HDR_SIZE..], index, count)),
        _ => sparse_set(v, index, count, sparse_max_bytes),
    }
}

/// PFADD of one element to a valid HyperLogLog; true when a register changed
/// (the cached cardinality is then marked stale).
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max_bytes: u64) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    let changed = set_register(v, index, count, sparse_max_bytes)?;
    if changed {
        invalidate_cache(v);
    }
    Ok(changed)
}

/// PFADD of `elements` to a valid dense HyperLogLog without copying it: the
/// bytes to overwrite, as (offset in the value, new byte), in the order
/// written (a later patch of the same offset wins). Empty when no register
/// changed; otherwise the cache byte is among them when it was still valid.
pub fn dense_add_patches<'a>(v: &[u8], elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<(usize, u8)> {
    let mut patches: Vec<(usize, u8)> = Vec::new();
    let byte_at = |patches: &[(usize, u8)], off: usize| {
        patches.iter().rev().find(|(o, _)| *o == off).map_or_else(|| at(v, off), |(_, b)| *b)
    };
    for ele in elements {
        let (index, count) = pat_len(ele);
        let byte = HDR_SIZE + index * BITS / 8;
        let fb = (index * BITS) & 7;
        let (b0, b1) = (byte_at(&patches, byte), byte_at(&patches, byte + 1));
        let current = (((u32::from(b0) >> fb) | (u32::from(b1) << (8 - fb))) & u32::from(REGISTER_MAX)) as u8;
        if count <= current {
            continue;
        }
        let mut pair = [b0, b1];
        let v32 = u32::from(count);
        pair[0] &= !((u32::from(REGISTER_MAX) << fb) as u8);
        pair[0] |= (v32 << fb) as u8;
        patches.push((byte, pair[0]));
        if byte + 1 < v.len() {
            pair[1] &= !((u32::from(REGISTER_MAX) >> (8 - fb)) as u8);
            pair[1] |= (v32 >> (8 - fb)) as u8;
            patches.push((byte + 1, pair[1]));
        }
    }
    if !patches.is_empty() && v[15] & 0x80 == 0 {
        patches.push((15, v[15] | 0x80));
    }
    patches
}

/// Raises `max[i]` to every register of a valid HyperLogLog (Redis's
/// `hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        let regs = &v[HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let s = &v[HDR_SIZE..];
    let (mut p, mut i) = (0, 0usize);
    while p < s.len() {
        let op = Op::read(s, p);
        if let Op::Val(val, n) = op {
            if i + n > REGISTERS {
                break;
            }
            for m in &mut max[i..i + n] {
                *m = (*m).max(val);
            }
        }
        i += op.span();
        p += op.width();
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// The estimate from a register histogram (Ertl's estimator, as Redis).
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q as usize + 1])) / m);
    for j in (1..=Q as usize).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimate of a valid HyperLogLog, computed from its registers (the
/// cached value is not consulted).
pub fn count_registers(v: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if v[4] == DENSE {
        let regs = &v[HDR_SIZE..];
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(regs, i))] += 1;
        }
    } else {
        let s = &v[HDR_SIZE..];
        let (mut p, mut idx) = (0, 0usize);
        while p < s.len() {
            let op = Op::read(s, p);
            let n = op.span();
            // Redis adds the run to its histogram before checking the total;
            // counts stay in range because a run is at most 16384.
            match op {
                Op::Val(val, _) => histo[usize::from(val)] = histo[usize::from(val)].saturating_add(n as u32),
                _ => histo[0] = histo[0].saturating_add(n as u32),
            }
            idx += n;
            p += op.width();
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimate of raw registers (PFCOUNT of several keys).
pub fn count_raw(max: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u32; 64];
    for r in max {
        histo[usize::from(*r & 63)] += 1;
    }
    estimate(&histo)
}

/// The cached cardinality, when it is valid.
pub fn cached(v: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(v[8..16].try_into().expect("8 bytes"));
    (v[15] & 0x80 == 0).then_some(card)
}

/// Stores `card` as the cached cardinality (PFCOUNT does).
pub fn store_cache(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: u64, max_bytes: u64) -> Vec<u8> {
        let mut v = new_sparse();
        for i in 0..n {
            add(&mut v, format!("ele:{i}").as_bytes(), max_bytes).unwrap();
        }
        v
    }

    #[test]
    fn empty_and_small_counts() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert_eq!(validate(&v), Ok(SPARSE));
        assert_eq!(count_registers(&v), Ok(0));
        let v = filled(100, 3000);
        assert_eq!(v[4], SPARSE);
        let c = count_registers(&v).unwrap();
        assert!((95..=105).contains(&c), "{c}");
    }

    #[test]
    fn sparse_and_dense_agree() {
        for n in [10u64, 500, 3000] {
            let sparse = filled(n, 1 << 20);
            let dense_by_limit = filled(n, 0);
            assert_eq!(dense_by_limit[4], DENSE);
            let converted = sparse_to_dense(&sparse).unwrap();
            assert_eq!(converted[HDR_SIZE..], dense_by_limit[HDR_SIZE..], "n={n}");
            assert_eq!(count_registers(&sparse), count_registers(&dense_by_limit));
            let mut max = [0u8; REGISTERS];
            merge_into(&mut max, &sparse).unwrap();
            assert_eq!(count_raw(&max), count_registers(&sparse).unwrap());
        }
    }

    #[test]
    fn dense_patches_equal_adding_to_a_copy() {
        let mut dense = filled(5000, 0);
        store_cache(&mut dense, 42);
        for batch in
            [vec!["x"], vec!["a", "b", "c", "a"], (0..300).map(|i| if i % 2 == 0 { "p" } else { "q" }).collect()]
        {
            let elements: Vec<Vec<u8>> =
                batch.iter().enumerate().map(|(i, e)| format!("{e}{i}").into_bytes()).collect();
            let mut copy = dense.clone();
            let mut changed = false;
            for e in &elements {
                changed |= add(&mut copy, e, 3000).unwrap();
            }
            let patches = dense_add_patches(&dense, elements.iter().map(|e| e.as_slice()));
            assert_eq!(patches.is_empty(), !changed);
            let mut patched = dense.clone();
            for (o, b) in patches {
                patched[o] = b;
            }
            assert_eq!(patched, copy);
            dense = patched;
        }
    }

    #[test]
    fn corrupt_values_are_reported_not_read_past() {
        let mut v = new_sparse();
        v.truncate(HDR_SIZE + 1); // half an XZERO
        assert_eq!(count_registers(&v), Err(Corrupt));
        let mut w = v.clone();
        assert_eq!(add(&mut w, b"x", 3000), Err(Corrupt));
        let mut bad = new_sparse();
        bad.extend_from_slice(&[0xff; 40]);
        assert_eq!(count_registers(&bad), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        // Redis's merge stops at the first VAL that would run past the last
        // register, before counting it, so this one passes there too.
        assert_eq!(merge_into(&mut max, &bad), Ok(()));
        bad.truncate(HDR_SIZE + 1);
        assert_eq!(merge_into(&mut max, &bad), Err(Corrupt));
        assert_eq!(validate(b"HYLL"), Err(NotHll));
        let mut d = sparse_to_dense(&new_sparse()).unwrap();
        assert_eq!(validate(&d), Ok(DENSE));
        d.pop();
        assert_eq!(validate(&d), Err(NotHll));
        // Arbitrary bytes after a valid header never panic.
        for seed in 0..200u64 {
            let mut v = new_sparse();
            v.truncate(HDR_SIZE);
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for _ in 0..(seed % 50) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            let _ = count_registers(&v);
            let _ = merge_into(&mut max, &v);
            let _ = add(&mut v.clone(), b"e", 3000);
            let _ = sparse_to_dense(&v);
        }
    }

    /// Fixtures written by redis-server 7.0 (PFADD of "ele:0".."ele:N-1",
    /// one element per command, then GET; "counted": after PFCOUNT).
    #[test]
    fn same_bytes_and_estimates_as_redis() {
        let sparse = filled(100, 3000);
        assert_eq!(sparse, include_bytes!("testdata/hll_sparse_100.bin"));
        let mut counted = sparse.clone();
        let card = count_registers(&counted).unwrap();
        assert_eq!(card, 100);
        store_cache(&mut counted, card);
        assert_eq!(counted, include_bytes!("testdata/hll_sparse_100_counted.bin"));
        let dense = filled(20000, 3000);
        assert_eq!(dense, include_bytes!("testdata/hll_dense_20000.bin"));
        assert_eq!(count_registers(&dense), Ok(20261));
    }

    #[test]
    fn one_million_distinct_items_within_the_error_bound() {
        let mut v = new_sparse();
        let n = 1_000_000u64;
        for i in 0..n {
            add(&mut v, &i.to_le_bytes(), 3000).unwrap();
        }
        let c = count_registers(&v).unwrap() as f64;
        // Redis's standard error is 0.81%; allow 5 sigma.
        let err = (c - n as f64).abs() / n as f64;
        assert!(err < 5.0 * 0.0081, "estimate {c}, error {err}");
    }
}
