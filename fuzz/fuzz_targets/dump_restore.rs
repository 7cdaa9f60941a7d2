//! Fuzz target for RESTORE's decoder (`gyre_engine::rdb`): arbitrary bytes,
//! with or without a valid trailer, must never panic or read out of bounds; a
//! value that decodes re-encodes (DUMP) to a payload that decodes again to a
//! value of the same type.

#![no_main]

use gyre_engine::rdb;
use gyre_engine::EncodingConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = EncodingConfig::default();
    let _ = rdb::restore(data, &cfg);
    // The same bytes as a value under a correct trailer reach the decoder.
    if let Ok(v) = rdb::restore(&rdb::seal(data.to_vec()), &cfg) {
        let again = rdb::restore(&rdb::dump(&v), &cfg).expect("a dumped value restores");
        assert_eq!(again.type_name(), v.type_name());
    }
});
