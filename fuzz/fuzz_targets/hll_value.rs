//! Fuzz target for HyperLogLog values (`gyre_engine::hll`), which clients can
//! write with SET: any bytes that pass the header check must count, merge and
//! take additions without panicking or reading out of bounds (a corrupt value
//! is an error).

#![no_main]

use gyre_engine::hll;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut v = b"HYLL".to_vec();
    v.extend_from_slice(data);
    if hll::validate(&v).is_err() {
        return;
    }
    let _ = hll::count_registers(&v);
    let mut max = [0u8; hll::REGISTERS];
    let _ = hll::merge_into(&mut max, &v);
    let _ = hll::add(&mut v.clone(), data, 3000);
    let _ = hll::sparse_to_dense(&v);
});
