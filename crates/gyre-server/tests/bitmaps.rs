//! Bitmap commands on ordinary strings (SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP, BITFIELD, BITFIELD_RO) and LCS: exact replies and errors, validated
//! against Redis 7 (`GYRE_TEST_REDIS=1`), and a seeded random sequence of
//! writes checked against a `Vec<u8>` model, then again after a crash and
//! recovery (the mutations replay to the same bytes).

mod common;

use common::*;
use rand::{Rng, SeedableRng};

fn bin(c: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn get_bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    match q(c, &["GET", key]) {
        Value::BulkString(b) => b,
        Value::Nil => Vec::new(),
        other => panic!("GET {key}: {other:?}"),
    }
}

fn ints(v: &[i64]) -> Value {
    arr(v.iter().map(|n| int(*n)).collect())
}

#[test]
fn setbit_and_getbit() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["SETBIT", "k", "7", "1"]), int(0));
    assert_eq!(q(c, &["SETBIT", "k", "7", "1"]), int(1));
    assert_eq!(q(c, &["SETBIT", "k", "7", "0"]), int(1));
    assert_eq!(q(c, &["GETBIT", "k", "7"]), int(0));
    assert_eq!(q(c, &["GETBIT", "k", "100"]), int(0));
    assert_eq!(q(c, &["GETBIT", "nokey", "1"]), int(0));
    assert_eq!(q(c, &["SETBIT", "k", "100", "1"]), int(0));
    let mut want = vec![0u8; 13];
    want[12] = 0x08;
    assert_eq!(get_bytes(c, "k"), want);
    for (off, bit) in [("-1", "1"), ("x", "1"), ("4294967296", "1")] {
        assert_eq!(err(c, &["SETBIT", "k", off, bit]), "ERR bit offset is not an integer or out of range");
    }
    assert_eq!(err(c, &["SETBIT", "k", "1", "2"]), "ERR bit is not an integer or out of range");
    assert_eq!(err(c, &["GETBIT", "k", "-1"]), "ERR bit offset is not an integer or out of range");
    // Integers are strings of digits.
    ok(c, &["SET", "n", "12345"]);
    assert_eq!(q(c, &["GETBIT", "n", "3"]), int(1));
    assert_eq!(q(c, &["SETBIT", "n", "6", "1"]), int(0));
    assert_eq!(q(c, &["GET", "n"]), bulk("32345"));
    // The expiry is kept.
    ok(c, &["SET", "t", "a", "EX", "100"]);
    assert_eq!(q(c, &["SETBIT", "t", "100", "1"]), int(0));
    assert!(as_int(&q(c, &["TTL", "t"])) > 0);
    assert_eq!(q(c, &["RPUSH", "l", "x"]), int(1));
    assert_eq!(err(c, &["SETBIT", "l", "1", "1"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(err(c, &["GETBIT", "l", "1"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
}

#[test]
fn bitcount_with_byte_and_bit_ranges() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "s", "foobar"]);
    assert_eq!(q(c, &["BITCOUNT", "s"]), int(26));
    assert_eq!(q(c, &["BITCOUNT", "s", "0", "0"]), int(4));
    assert_eq!(q(c, &["BITCOUNT", "s", "1", "1"]), int(6));
    assert_eq!(q(c, &["BITCOUNT", "s", "1", "1", "BYTE"]), int(6));
    assert_eq!(q(c, &["BITCOUNT", "s", "5", "30", "BIT"]), int(17));
    assert_eq!(q(c, &["BITCOUNT", "s", "5", "30", "bit"]), int(17));
    assert_eq!(q(c, &["BITCOUNT", "s", "-1", "-2"]), int(0));
    assert_eq!(q(c, &["BITCOUNT", "s", "-2", "-1"]), int(7));
    assert_eq!(q(c, &["BITCOUNT", "nokey", "0"]), int(0));
    assert_eq!(err(c, &["BITCOUNT", "s", "5", "30", "foo"]), "ERR syntax error");
    assert_eq!(err(c, &["BITCOUNT", "s", "0"]), "ERR syntax error");
    assert_eq!(err(c, &["BITCOUNT", "s", "0", "-1", "x", "y"]), "ERR syntax error");
    assert_eq!(err(c, &["BITCOUNT", "s", "a", "b"]), "ERR value is not an integer or out of range");
    ok(c, &["SET", "n", "12345"]);
    assert_eq!(q(c, &["BITCOUNT", "n"]), int(17));
    ok(c, &["SET", "e", ""]);
    assert_eq!(q(c, &["BITCOUNT", "e"]), int(0));
}

#[test]
fn bitpos_with_byte_and_bit_ranges() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    bin(c, &[b"SET", b"p", b"\xff\xf0\x00"]);
    assert_eq!(q(c, &["BITPOS", "p", "0"]), int(12));
    bin(c, &[b"SET", b"q", b"\x00\xff\xf0"]);
    assert_eq!(q(c, &["BITPOS", "q", "1", "0"]), int(8));
    assert_eq!(q(c, &["BITPOS", "q", "1", "2"]), int(16));
    assert_eq!(q(c, &["BITPOS", "q", "1", "2", "-1", "BYTE"]), int(16));
    assert_eq!(q(c, &["BITPOS", "q", "1", "7", "15", "BIT"]), int(8));
    assert_eq!(q(c, &["BITPOS", "q", "1", "7", "-3", "BIT"]), int(8));
    bin(c, &[b"SET", b"z", b"\x00\x00\x00"]);
    assert_eq!(q(c, &["BITPOS", "z", "1"]), int(-1));
    assert_eq!(q(c, &["BITPOS", "nokey", "1"]), int(-1));
    assert_eq!(q(c, &["BITPOS", "nokey", "0"]), int(0));
    bin(c, &[b"SET", b"ff", b"\xff\xff"]);
    assert_eq!(q(c, &["BITPOS", "ff", "0"]), int(16));
    assert_eq!(q(c, &["BITPOS", "ff", "0", "0"]), int(16));
    assert_eq!(q(c, &["BITPOS", "ff", "0", "0", "-1"]), int(-1));
    assert_eq!(err(c, &["BITPOS", "ff", "0", "1", "BIT"]), "ERR value is not an integer or out of range");
    assert_eq!(q(c, &["BITPOS", "ff", "0", "3", "5", "BIT"]), int(-1));
    assert_eq!(q(c, &["BITPOS", "ff", "1", "3", "5", "BIT"]), int(3));
    assert_eq!(q(c, &["BITPOS", "ff", "0", "0", "20", "BIT"]), int(-1));
    ok(c, &["SET", "e", ""]);
    assert_eq!(q(c, &["BITPOS", "e", "0"]), int(-1));
    assert_eq!(q(c, &["BITPOS", "e", "1"]), int(-1));
    assert_eq!(err(c, &["BITPOS", "q", "2"]), "ERR The bit argument must be 1 or 0.");
    assert_eq!(err(c, &["BITPOS", "q", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(err(c, &["BITPOS", "q", "1", "a"]), "ERR value is not an integer or out of range");
    assert_eq!(err(c, &["BITPOS", "q", "1", "0", "1", "bitx"]), "ERR syntax error");
}

#[test]
fn bitop_and_or_xor_not() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "a", "abc"]);
    bin(c, &[b"SET", b"b", b"a\x00\xffzz"]);
    assert_eq!(q(c, &["BITOP", "AND", "d", "a", "b"]), int(5));
    assert_eq!(get_bytes(c, "d"), b"a\x00c\x00\x00");
    assert_eq!(q(c, &["BITOP", "or", "d", "a", "b"]), int(5));
    assert_eq!(get_bytes(c, "d"), b"ab\xffzz");
    assert_eq!(q(c, &["BITOP", "XOR", "d", "a", "b"]), int(5));
    assert_eq!(get_bytes(c, "d"), b"\x00b\x9czz");
    assert_eq!(q(c, &["BITOP", "NOT", "d", "a"]), int(3));
    assert_eq!(get_bytes(c, "d"), b"\x9e\x9d\x9c");
    assert_eq!(err(c, &["BITOP", "NOT", "d", "a", "b"]), "ERR BITOP NOT must be called with a single source key.");
    assert_eq!(err(c, &["BITOP", "foo", "d", "a"]), "ERR syntax error");
    // Every source empty: the destination is deleted.
    assert_eq!(q(c, &["BITOP", "AND", "d", "nokey1", "nokey2"]), int(0));
    assert_eq!(q(c, &["EXISTS", "d"]), int(0));
    assert_eq!(q(c, &["RPUSH", "l", "x"]), int(1));
    assert_eq!(
        err(c, &["BITOP", "OR", "d", "a", "l"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // The destination's expiry goes, as with SET.
    ok(c, &["SET", "d", "x", "EX", "100"]);
    assert_eq!(q(c, &["BITOP", "OR", "d", "a"]), int(3));
    assert_eq!(q(c, &["TTL", "d"]), int(-1));
}

#[test]
fn bitfield_get_set_incrby_and_overflow() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["BITFIELD", "bf", "SET", "u8", "0", "255", "GET", "u8", "0"]), ints(&[0, 255]));
    assert_eq!(q(c, &["BITFIELD", "bf", "INCRBY", "u8", "0", "10", "GET", "u8", "0"]), ints(&[9, 9]));
    assert_eq!(q(c, &["BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300"]), ints(&[255]));
    assert_eq!(q(c, &["BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1"]), arr(vec![nil()]));
    assert_eq!(q(c, &["BITFIELD", "bf", "OVERFLOW", "WRAP", "INCRBY", "i8", "8", "200"]), ints(&[-56]));
    assert_eq!(
        q(c, &["BITFIELD", "bf", "SET", "i8", "#1", "-100", "GET", "i8", "#1", "GET", "u4", "8", "GET", "i4", "8"]),
        ints(&[-56, -100, 9, -7])
    );
    assert_eq!(q(c, &["BITFIELD", "bf", "GET", "i64", "0"]), ints(&[-28_147_497_671_065_600]));
    assert_eq!(q(c, &["BITFIELD", "bf", "GET", "u63", "0"]), ints(&[9_209_298_288_019_243_008]));
    assert_eq!(
        q(c, &["BITFIELD", "bf", "INCRBY", "i64", "0", "9223372036854775807"]),
        ints(&[9_195_224_539_183_710_207])
    );
    assert_eq!(
        q(
            c,
            &["BITFIELD", "bf", "SET", "i64", "100", "-1", "GET", "u32", "100", "GET", "u1", "163", "GET", "u1", "164"]
        ),
        ints(&[0, 4_294_967_295, 1, 0])
    );
    let type_err = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    assert_eq!(err(c, &["BITFIELD", "bf", "GET", "u64", "0"]), type_err);
    assert_eq!(err(c, &["BITFIELD", "bf", "GET", "x8", "0"]), type_err);
    assert_eq!(err(c, &["BITFIELD", "bf", "GET", "u8", "-1"]), "ERR bit offset is not an integer or out of range");
    assert_eq!(
        err(c, &["BITFIELD", "bf", "SET", "u8", "4294967296", "1"]),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(err(c, &["BITFIELD", "bf", "foo"]), "ERR syntax error");
    assert_eq!(err(c, &["BITFIELD", "bf", "SET", "u8", "0"]), "ERR syntax error");
    assert_eq!(err(c, &["BITFIELD", "bf", "OVERFLOW", "bar"]), "ERR Invalid OVERFLOW type specified");
    assert_eq!(err(c, &["BITFIELD", "bf", "SET", "u8", "0", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(q(c, &["BITFIELD", "bf"]), arr(vec![]));
    // Reads do not create the key; a write that fails still does (as Redis).
    assert_eq!(q(c, &["BITFIELD", "nokey", "GET", "u8", "0"]), ints(&[0]));
    assert_eq!(q(c, &["EXISTS", "nokey"]), int(0));
    assert_eq!(q(c, &["BITFIELD", "newk", "OVERFLOW", "FAIL", "SET", "u2", "0", "10"]), arr(vec![nil()]));
    assert_eq!(get_bytes(c, "newk"), b"\x00");
    // BITFIELD_RO.
    assert_eq!(q(c, &["BITFIELD_RO", "bf", "GET", "u8", "0", "GET", "i16", "3"]), ints(&[127, -801]));
    for args in [
        &["BITFIELD_RO", "bf", "SET", "u8", "0", "1"][..],
        &["BITFIELD_RO", "bf", "GET", "u8", "0", "SET", "u8", "0", "1"],
    ] {
        assert_eq!(err(c, args), "ERR BITFIELD_RO only supports the GET subcommand");
    }
    assert_eq!(q(c, &["RPUSH", "l", "x"]), int(1));
    assert_eq!(
        err(c, &["BITFIELD_RO", "l", "GET", "u8", "0"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn lcs_lengths_indexes_and_errors() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["LCS", "x1", "x2"]), bulk(""));
    ok(c, &["SET", "a", "ohmytext"]);
    ok(c, &["SET", "b", "mynewtext"]);
    assert_eq!(q(c, &["LCS", "a", "b"]), bulk("mytext"));
    assert_eq!(q(c, &["LCS", "a", "b", "LEN"]), int(6));
    let range = |a: i64, b: i64| ints(&[a, b]);
    assert_eq!(
        q(c, &["LCS", "a", "b", "IDX"]),
        arr(vec![
            bulk("matches"),
            arr(vec![arr(vec![range(4, 7), range(5, 8)]), arr(vec![range(2, 3), range(0, 1)])]),
            bulk("len"),
            int(6)
        ])
    );
    assert_eq!(
        q(c, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        arr(vec![bulk("matches"), arr(vec![arr(vec![range(4, 7), range(5, 8), int(4)])]), bulk("len"), int(6)])
    );
    assert_eq!(
        err(c, &["LCS", "a", "b", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(err(c, &["LCS", "a", "b", "foo"]), "ERR syntax error");
    assert_eq!(err(c, &["LCS", "a", "b", "MINMATCHLEN"]), "ERR syntax error");
    assert_eq!(err(c, &["LCS", "a", "b", "MINMATCHLEN", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(q(c, &["RPUSH", "l", "x"]), int(1));
    assert_eq!(err(c, &["LCS", "a", "l"]), "ERR The specified keys must contain string values");
    assert_eq!(q(c, &["LCS", "a", "nokey"]), bulk(""));
}

/// The model of one SETBIT / BITFIELD SET (WRAP) on a byte vector.
fn model_set_bits(model: &mut Vec<u8>, offset: u64, bits: u32, value: u64) {
    let last = offset + u64::from(bits) - 1;
    if model.len() <= (last / 8) as usize {
        model.resize((last / 8) as usize + 1, 0);
    }
    for i in 0..u64::from(bits) {
        let on = (value >> (u64::from(bits) - 1 - i)) & 1 == 1;
        let p = offset + i;
        let mask = 0x80u8 >> (p % 8);
        let byte = &mut model[(p / 8) as usize];
        *byte = if on { *byte | mask } else { *byte & !mask };
    }
}

/// Random SETBIT, BITFIELD SET/INCRBY (WRAP) and SETRANGE writes against a
/// `Vec<u8>` model, with BITCOUNT checked along the way; then the whole value
/// again after a crash and recovery (Gyre only: the validation Redis runs
/// without persistence).
#[test]
fn random_writes_match_a_byte_vector_model() {
    let mut s = Server::start();
    let mut c = s.client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    let mut model: Vec<u8> = Vec::new();
    for step in 0..400 {
        match rng.gen_range(0..3) {
            0 => {
                let off = rng.gen_range(0..400u64);
                let bit = rng.gen_range(0..2u64);
                let old = model.get((off / 8) as usize).map_or(0, |b| (b >> (7 - off % 8)) & 1);
                assert_eq!(q(&mut c, &["SETBIT", "bm", &off.to_string(), &bit.to_string()]), int(old as i64));
                model_set_bits(&mut model, off, 1, bit);
            }
            1 => {
                let off = rng.gen_range(0..400u64);
                let bits = rng.gen_range(1..=63u32);
                let v: u64 = rng.gen::<u64>() & ((1u64 << bits) - 1);
                let ty = format!("u{bits}");
                q(&mut c, &["BITFIELD", "bm", "SET", &ty, &off.to_string(), &v.to_string()]);
                model_set_bits(&mut model, off, bits, v);
            }
            _ => {
                let off = rng.gen_range(0..400u64);
                let bits = rng.gen_range(1..=16u32);
                let ty = format!("u{bits}");
                let incr = rng.gen_range(-70000i64..70000);
                let got = q(&mut c, &["BITFIELD", "bm", "INCRBY", &ty, &off.to_string(), &incr.to_string()]);
                let mut cur: u64 = 0;
                for i in 0..u64::from(bits) {
                    let p = off + i;
                    let b = model.get((p / 8) as usize).map_or(0, |b| (b >> (7 - p % 8)) & 1);
                    cur = (cur << 1) | u64::from(b);
                }
                let new = cur.wrapping_add(incr as u64) & ((1u64 << bits) - 1);
                assert_eq!(got, ints(&[new as i64]), "step {step}");
                model_set_bits(&mut model, off, bits, new);
            }
        }
        if step % 50 == 0 {
            let ones: u32 = model.iter().map(|b| b.count_ones()).sum();
            assert_eq!(q(&mut c, &["BITCOUNT", "bm"]), int(i64::from(ones)));
        }
    }
    assert_eq!(get_bytes(&mut c, "bm"), model);
    if is_redis() {
        return;
    }
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert_eq!(get_bytes(&mut c, "bm"), model);
}
