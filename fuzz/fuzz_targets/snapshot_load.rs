//! Arbitrary bytes as a snapshot file: loading must never panic; it either
//! loads or reports corruption.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("gyre-fuzz-snap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = gyre_log::snapshot::snapshot_path(&dir, 1);
    std::fs::write(&path, data).unwrap();
    let ks = gyre_engine::Keyspace::new();
    let _ = gyre_log::snapshot::load_snapshot(&ks, &path, &gyre_engine::EncodingConfig::default(), &|_, _| {});
    let _ = gyre_log::manifest::read_manifest(&dir);
});
