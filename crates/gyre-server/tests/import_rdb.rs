//! `gyre-server --import-rdb`: an RDB file written by Debian's redis-server
//! 7.0 (gyre-engine/src/testdata/redis7.rdb: strings, integers, a bitmap, a
//! HyperLogLog, list, sets, hash, sorted set, keys in databases 0 and 3, an
//! expiry in the future and one in the past) loads with every key and
//! expiry, survives a restart without the flag, and a damaged file is
//! refused with its offset. Gyre only (Redis has no such flag).

mod common;

use std::path::PathBuf;

use common::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gyre-engine/src/testdata/redis7.rdb")
}

fn check(c: &mut redis::Connection) {
    assert_eq!(q(c, &["DBSIZE"]), int(11));
    assert_eq!(q(c, &["GET", "s1"]), bulk("hello"));
    assert_eq!(q(c, &["GET", "n1"]), bulk("12345"));
    assert_eq!(q(c, &["GET", "big"]), bulk("a".repeat(100)));
    assert_eq!(q(c, &["GETBIT", "bits", "100"]), int(1));
    assert_eq!(q(c, &["PFCOUNT", "hll"]), int(3));
    assert_eq!(q(c, &["LRANGE", "l1", "0", "-1"]), bulks(&["a", "b", "c", "1", "2", "3"]));
    assert_eq!(sorted_strings(&q(c, &["SMEMBERS", "st"])), vec!["1", "2", "3"]);
    assert_eq!(sorted_strings(&q(c, &["SMEMBERS", "ss"])), vec!["a", "b", "c"]);
    assert_eq!(q(c, &["HGET", "h", "g"]), bulk("w"));
    assert_eq!(q(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]), bulks(&["a", "1", "b", "2"]));
    assert!(as_int(&q(c, &["PTTL", "vol"])) > 0);
    ok(c, &["SELECT", "3"]);
    assert_eq!(q(c, &["GET", "other"]), bulk("db3"));
    assert_eq!(q(c, &["EXPIRETIME", "other"]), int(4102444800));
    assert_eq!(q(c, &["EXISTS", "gone"]), int(0));
    ok(c, &["SELECT", "0"]);
}

#[test]
fn a_redis_rdb_file_imports_with_every_key_and_expiry() {
    if is_redis() {
        return;
    }
    let path = fixture();
    let mut s = Server::start_with(&["--import-rdb", path.to_str().unwrap()]);
    let mut c = s.client();
    check(&mut c);
    // The keys went through the log: a restart without the flag has them.
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    check(&mut c);
}

#[test]
fn a_damaged_or_missing_file_is_refused() {
    if is_redis() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("gyre-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut data = std::fs::read(fixture()).unwrap();
    let n = data.len();
    data[40] ^= 0x55;
    let bad = dir.join("bad.rdb");
    std::fs::write(&bad, &data).unwrap();
    let (status, stderr) =
        Server::try_start_on(&dir.join("data"), &["--import-rdb", bad.to_str().unwrap()]).unwrap_err();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("checksum mismatch (the file is corrupt or truncated) at byte offset {}", n - 8)),
        "{stderr}"
    );
    let (status, stderr) =
        Server::try_start_on(&dir.join("data"), &["--import-rdb", dir.join("missing.rdb").to_str().unwrap()])
            .unwrap_err();
    assert!(!status.success());
    assert!(stderr.contains("reading RDB file"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
