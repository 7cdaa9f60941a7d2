//! Property tests for the decoders of bytes clients control, beside the fuzz
//! targets in `fuzz/` (which need cargo-fuzz and nightly): RESTORE payloads
//! (`rdb`) and HyperLogLog values (`hll`, written with SET). Random bytes,
//! and valid values written by Redis with bytes flipped, cut or appended,
//! must never panic; a payload that decodes re-encodes (DUMP) to one that
//! decodes again to a value of the same type, as the fuzz target asserts.

use gyre_engine::{hll, rdb, EncodingConfig};
use proptest::prelude::*;

fn hex(h: &str) -> Vec<u8> {
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
}

/// DUMP payloads written by redis-server 7.0: every type, streams included.
fn redis_payloads() -> Vec<Vec<u8>> {
    [include_str!("../src/testdata/redis_dumps.txt"), include_str!("../src/testdata/redis_stream_dumps.txt")]
        .iter()
        .flat_map(|f| f.lines())
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| hex(l.split_once(' ').unwrap().0))
        .collect()
}

/// What the fuzz target checks for one candidate payload.
fn restore_never_panics(payload: &[u8]) {
    let cfg = EncodingConfig::default();
    let _ = rdb::restore(payload, &cfg);
    if let Ok(v) = rdb::restore(&rdb::seal(payload.to_vec()), &cfg) {
        let again = rdb::restore(&rdb::dump(&v), &cfg).expect("a dumped value restores");
        assert_eq!(again.type_name(), v.type_name());
    }
}

/// Damage to a value: flip, overwrite, cut or grow.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Set(usize, u8),
    Cut(usize),
    Append(Vec<u8>),
    Insert(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Damage::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        any::<usize>().prop_map(Damage::Cut),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Damage::Append),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
    ]
}

fn apply(v: &mut Vec<u8>, d: &Damage) {
    if v.is_empty() {
        return;
    }
    match d {
        Damage::Flip(i, b) => {
            let n = v.len();
            v[i % n] ^= b;
        }
        Damage::Set(i, b) => {
            let n = v.len();
            v[i % n] = *b;
        }
        Damage::Cut(i) => v.truncate(i % v.len()),
        Damage::Append(bytes) => v.extend_from_slice(bytes),
        Damage::Insert(i, b) => {
            let n = v.len();
            v.insert(i % n, *b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_restore_payloads_never_panic(t in 0u8..25, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut v = vec![t];
        v.extend_from_slice(&body);
        restore_never_panics(&v);
    }

    /// Redis's own payloads (the value, under a correct trailer), damaged.
    #[test]
    fn damaged_redis_payloads_never_panic(which in any::<usize>(), damages in proptest::collection::vec(damage(), 1..4)) {
        let payloads = redis_payloads();
        let p = &payloads[which % payloads.len()];
        let mut body = p[..p.len() - 10].to_vec();
        for d in &damages {
            apply(&mut body, d);
        }
        restore_never_panics(&body);
    }

    /// HyperLogLog values that pass the header check: sparse with random
    /// opcodes, and dense with random registers.
    #[test]
    fn random_hll_values_never_panic(sparse in any::<bool>(), body in proptest::collection::vec(any::<u8>(), 0..64), fill in any::<u8>()) {
        let mut v = b"HYLL".to_vec();
        v.push(u8::from(sparse));
        v.extend_from_slice(&[0; 11]);
        if sparse {
            v.extend_from_slice(&body);
        } else {
            let dense_bytes = hll::REGISTERS * 6 / 8;
            v.extend((0..dense_bytes).map(|i| body.get(i % body.len().max(1)).copied().unwrap_or(fill) ^ fill));
        }
        hll_never_panics(&v, &body);
    }

    /// HyperLogLog values written by Redis, damaged.
    #[test]
    fn damaged_redis_hll_values_never_panic(dense in any::<bool>(), damages in proptest::collection::vec(damage(), 1..4), ele in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut v = if dense {
            include_bytes!("../src/testdata/hll_dense_20000.bin").to_vec()
        } else {
            include_bytes!("../src/testdata/hll_sparse_100.bin").to_vec()
        };
        for d in &damages {
            apply(&mut v, d);
        }
        hll_never_panics(&v, &ele);
    }
}

/// What the HLL fuzz target checks: a value that passes the header check
/// counts, merges, converts and takes an addition, or is reported corrupt.
fn hll_never_panics(v: &[u8], ele: &[u8]) {
    if hll::validate(v).is_err() {
        return;
    }
    let _ = hll::count_registers(v);
    let mut max = [0u8; hll::REGISTERS];
    let _ = hll::merge_into(&mut max, v);
    let _ = hll::add(&mut v.to_vec(), ele, 3000);
    let _ = hll::sparse_to_dense(v);
}
