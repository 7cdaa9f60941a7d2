//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE) in Redis's representation:
//! exact replies and errors, the same bytes as Redis for the same input (the
//! fixtures in gyre-engine/src/testdata were written by redis-server), values
//! copied from Redis with SET counting the same, corrupt values answering
//! INVALIDOBJ, `hll-sparse-max-bytes`, and recovery after a crash. Validated
//! against Redis 7 (`GYRE_TEST_REDIS=1`).

mod common;

use common::*;

const SPARSE_100: &[u8] = include_bytes!("../../gyre-engine/src/testdata/hll_sparse_100.bin");
const SPARSE_100_COUNTED: &[u8] = include_bytes!("../../gyre-engine/src/testdata/hll_sparse_100_counted.bin");
const DENSE_20000: &[u8] = include_bytes!("../../gyre-engine/src/testdata/hll_dense_20000.bin");

fn get_bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    match q(c, &["GET", key]) {
        Value::BulkString(b) => b,
        other => panic!("GET {key}: {other:?}"),
    }
}

fn set_bytes(c: &mut redis::Connection, key: &str, value: &[u8]) {
    let r: Value = redis::cmd("SET").arg(key).arg(value).query(c).expect("SET");
    assert_eq!(r, Value::Okay);
}

fn pfadd_each(c: &mut redis::Connection, key: &str, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("PFADD").arg(key).arg(format!("ele:{i}")).ignore();
    }
    let _: () = pipe.query(c).expect("pipeline");
}

#[test]
fn pfadd_pfcount_pfmerge_replies() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["PFADD", "h", "a", "b", "c", "d", "e", "f", "g"]), int(1));
    assert_eq!(q(c, &["PFADD", "h", "a"]), int(0));
    assert_eq!(q(c, &["PFADD", "h"]), int(0));
    assert_eq!(q(c, &["PFADD", "empty"]), int(1));
    assert_eq!(q(c, &["PFCOUNT", "h"]), int(7));
    assert_eq!(q(c, &["PFCOUNT", "empty"]), int(0));
    assert_eq!(q(c, &["PFCOUNT", "nokey"]), int(0));
    assert_eq!(q(c, &["PFADD", "h2", "g", "x", "y"]), int(1));
    assert_eq!(q(c, &["PFCOUNT", "h", "h2", "nokey"]), int(9));
    ok(c, &["PFMERGE", "m", "h", "h2"]);
    assert_eq!(q(c, &["PFCOUNT", "m"]), int(9));
    // The destination is one of the inputs.
    ok(c, &["PFMERGE", "h2", "h"]);
    assert_eq!(q(c, &["PFCOUNT", "h2"]), int(9));
    ok(c, &["PFMERGE", "created"]);
    assert_eq!(q(c, &["PFCOUNT", "created"]), int(0));
    assert_eq!(q(c, &["STRLEN", "created"]), int(18));
}

#[test]
fn type_and_corruption_errors() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    let not_hll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    let invalid = "INVALIDOBJ Corrupted HLL object detected";
    ok(c, &["SET", "s", "foo"]);
    assert_eq!(err(c, &["PFADD", "s", "a"]), not_hll);
    assert_eq!(err(c, &["PFCOUNT", "s"]), not_hll);
    assert_eq!(q(c, &["PFADD", "h", "a"]), int(1));
    assert_eq!(err(c, &["PFMERGE", "d", "h", "s"]), not_hll);
    assert_eq!(q(c, &["EXISTS", "d"]), int(0));
    assert_eq!(q(c, &["RPUSH", "l", "a"]), int(1));
    assert_eq!(err(c, &["PFADD", "l", "a"]), wrongtype);
    assert_eq!(err(c, &["PFCOUNT", "h", "l"]), wrongtype);
    // A header alone, or dense of the wrong size: not a HyperLogLog.
    ok(c, &["SET", "hd", "HYLL"]);
    assert_eq!(err(c, &["PFCOUNT", "hd"]), not_hll);
    set_bytes(c, "d0", b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    assert_eq!(err(c, &["PFADD", "d0", "a"]), not_hll);
    // Sparse data that does not cover the registers exactly: INVALIDOBJ.
    set_bytes(c, "cc", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\xff\xff");
    assert_eq!(err(c, &["PFCOUNT", "cc"]), invalid);
    assert_eq!(err(c, &["PFADD", "cc", "a"]), invalid);
    assert_eq!(err(c, &["PFCOUNT", "cc", "h"]), invalid);
    assert_eq!(err(c, &["PFMERGE", "x", "cc"]), invalid);
    set_bytes(c, "t", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x7f\xff");
    assert_eq!(err(c, &["PFCOUNT", "t"]), invalid);
    // Truncated inside an XZERO opcode: reported, not read past.
    set_bytes(c, "tr", b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f");
    assert_eq!(err(c, &["PFCOUNT", "tr"]), invalid);
    assert_eq!(q(c, &["PING"]), status("PONG"));
}

/// The same PFADDs give Redis's bytes, sparse and dense, and PFCOUNT stores
/// the cardinality in the header as Redis does.
#[test]
fn same_bytes_as_redis() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    pfadd_each(c, "sparse", 100);
    assert_eq!(get_bytes(c, "sparse"), SPARSE_100);
    assert_eq!(q(c, &["PFCOUNT", "sparse"]), int(100));
    assert_eq!(get_bytes(c, "sparse"), SPARSE_100_COUNTED);
    pfadd_each(c, "dense", 20000);
    assert_eq!(get_bytes(c, "dense"), DENSE_20000);
    assert_eq!(q(c, &["PFCOUNT", "dense"]), int(20261));
}

/// Values written by Redis, copied in with SET, count and grow the same.
#[test]
fn values_copied_from_redis_count_the_same() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    set_bytes(c, "d", DENSE_20000);
    assert_eq!(q(c, &["PFCOUNT", "d"]), int(20261));
    set_bytes(c, "s", SPARSE_100_COUNTED);
    assert_eq!(q(c, &["PFCOUNT", "s"]), int(100));
    assert_eq!(q(c, &["PFCOUNT", "s", "d"]), int(20261));
    ok(c, &["PFMERGE", "s", "d"]);
    assert_eq!(q(c, &["STRLEN", "s"]), int(12304));
    assert_eq!(q(c, &["PFCOUNT", "s"]), int(20261));
    // Adding what the fixture already holds changes nothing.
    assert_eq!(q(c, &["PFADD", "d", "ele:0", "ele:19999"]), int(0));
}

#[test]
fn sparse_max_bytes_is_honoured() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["CONFIG", "GET", "hll-sparse-max-bytes"]), bulks(&["hll-sparse-max-bytes", "3000"]));
    let letters: Vec<String> = ('a'..='z').map(|l| l.to_string()).collect();
    let mut add = vec!["PFADD".to_string(), "small".to_string()];
    add.extend(letters.iter().cloned());
    ok(c, &["CONFIG", "SET", "hll-sparse-max-bytes", "30"]);
    let args: Vec<&str> = add.iter().map(|s| s.as_str()).collect();
    assert_eq!(q(c, &args), int(1));
    assert_eq!(q(c, &["STRLEN", "small"]), int(12304));
    ok(c, &["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
    add[1] = "big".into();
    let args: Vec<&str> = add.iter().map(|s| s.as_str()).collect();
    assert_eq!(q(c, &args), int(1));
    assert!(as_int(&q(c, &["STRLEN", "big"])) < 100);
    assert_eq!(q(c, &["PFCOUNT", "small"]), q(c, &["PFCOUNT", "big"]));
    // A merge with a dense input is dense; with sparse inputs it stays sparse.
    ok(c, &["PFMERGE", "m", "small", "big"]);
    assert_eq!(q(c, &["STRLEN", "m"]), int(12304));
    ok(c, &["PFMERGE", "m2", "big"]);
    assert_eq!(q(c, &["STRLEN", "m2"]), q(c, &["STRLEN", "big"]));
}

/// PFADD, PFCOUNT's cache and PFMERGE replay to the same bytes (Gyre only:
/// the validation Redis runs without persistence).
#[test]
fn values_survive_a_crash() {
    if is_redis() {
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    pfadd_each(&mut c, "sparse", 100);
    assert_eq!(q(&mut c, &["PFCOUNT", "sparse"]), int(100));
    pfadd_each(&mut c, "dense", 20000);
    ok(&mut c, &["PFMERGE", "m", "sparse", "dense"]);
    let before: Vec<Vec<u8>> = ["sparse", "dense", "m"].iter().map(|k| get_bytes(&mut c, k)).collect();
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    let after: Vec<Vec<u8>> = ["sparse", "dense", "m"].iter().map(|k| get_bytes(&mut c, k)).collect();
    assert_eq!(before, after);
    assert_eq!(after[0], SPARSE_100_COUNTED);
    assert_eq!(after[1], DENSE_20000);
}
