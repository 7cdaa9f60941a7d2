//! Arbitrary bytes as a WAL segment (after a valid header, so the record
//! parser is what gets exercised): replay must never panic, and must either
//! fail with an error or hand back records whose payloads lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("gyre-fuzz-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = Vec::new();
    file.extend_from_slice(&gyre_log::wal::SEGMENT_MAGIC);
    file.extend_from_slice(&gyre_log::wal::FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(data);
    std::fs::write(gyre_log::wal::segment_path(&dir, 1), &file).unwrap();
    let mut total = 0usize;
    let _ = gyre_log::wal::replay(&dir, 0, data.first().is_some_and(|b| b & 1 == 1), |_, payload| {
        total += payload.len();
    });
    assert!(total <= data.len());
});
