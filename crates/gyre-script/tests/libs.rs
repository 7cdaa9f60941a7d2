//! The libraries: cjson, bit, struct, cmsgpack, redis.sha1hex.

mod common;

use bytes::Bytes;
use common::*;
use gyre_script::{sha1_hex, Frame};

fn bytes(data: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(data))
}

fn ints(values: &[i64]) -> Frame {
    Frame::Array(values.iter().map(|&v| Frame::Integer(v)).collect())
}

fn err_contains(body: &str, needle: &str) {
    let text = error_text(&run(&scripting(), body));
    assert!(text.contains(needle), "{body}: {text:?} lacks {needle:?}");
}

#[test]
fn sha1hex_of_known_strings() {
    let s = scripting();
    assert_eq!(run(&s, "return redis.sha1hex('')"), bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709"));
    assert_eq!(run(&s, "return redis.sha1hex('abc')"), bulk("a9993e364706816aba3e25717850c26c9cd0d89d"));
    assert_eq!(run(&s, "return redis.sha1hex(123)"), bulk(&sha1_hex(b"123")));
    assert_eq!(sha1_hex(b"The quick brown fox jumps over the lazy dog"), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

#[test]
fn cjson_encode_exact_output() {
    let s = scripting();
    let cases = [
        ("cjson.encode({1, 'a', true, false})", "[1,\"a\",true,false]"),
        ("cjson.encode({})", "{}"),
        ("cjson.encode({a = 1})", "{\"a\":1}"),
        ("cjson.encode({[1] = 1, [3] = 3})", "[1,null,3]"),
        ("cjson.encode(0.1)", "0.1"),
        ("cjson.encode(1/3)", "0.33333333333333"),
        ("cjson.encode(1e20)", "1e+20"),
        ("cjson.encode(-0)", "-0"),
        ("cjson.encode(12345678901234)", "12345678901234"),
        ("cjson.encode('a/b\"c\\\\d\\n\\1\\127')", "\"a\\/b\\\"c\\\\d\\n\\u0001\\u007f\""),
        ("cjson.encode(cjson.null)", "null"),
        ("cjson.encode({[2.5] = 'x'})", "{\"2.5\":\"x\"}"),
        ("cjson.encode('\\195\\169')", "\"\u{e9}\""),
    ];
    for (expr, expected) in cases {
        assert_eq!(run(&s, &format!("return {expr}")), bulk(expected), "{expr}");
    }
}

#[test]
fn cjson_encode_errors() {
    err_contains("return cjson.encode({[1] = 1, [20] = 2})", "Cannot serialise table: excessively sparse array");
    err_contains("return cjson.encode(function() end)", "Cannot serialise function: type not supported");
    err_contains("return cjson.encode(0/0)", "Cannot serialise number: must not be NaN or Inf");
    err_contains("return cjson.encode(math.huge)", "Cannot serialise number: must not be NaN or Inf");
    err_contains("return cjson.encode({[true] = 1})", "Cannot serialise boolean: table key must be a number or string");
    err_contains("local t = {} t[1] = t return cjson.encode(t)", "Cannot serialise, excessive nesting (1001)");
    err_contains("return cjson.encode()", "bad argument #1 to 'encode' (expected 1 argument)");
}

#[test]
fn cjson_round_trip_nested_with_null() {
    let r = run(
        &scripting(),
        r#"local t = {a = {1, 2, {b = 'x', c = {true, false}}}, n = cjson.null, s = 'q"\/', e = {}}
           local d = cjson.decode(cjson.encode(t))
           return {#d.a, d.a[3].b, tostring(d.a[3].c[1]), tostring(d.a[3].c[2]), tostring(d.n == cjson.null),
                   d.s, type(d.e), cjson.encode(d.e)}"#,
    );
    assert_eq!(
        r,
        Frame::Array(vec![
            Frame::Integer(3),
            bulk("x"),
            bulk("true"),
            bulk("false"),
            bulk("true"),
            bulk("q\"/"),
            bulk("table"),
            bulk("{}"),
        ])
    );
}

#[test]
fn cjson_decode_values() {
    let s = scripting();
    let r = run(
        &s,
        r#"local v = cjson.decode([[ [1, -2.5e2, "a\u00e9\ud83d\ude00\n", null, true, {"k": []}] ]])
                       return {v[1], v[2], v[3], tostring(v[4] == cjson.null), tostring(v[5]), #v[6].k}"#,
    );
    assert_eq!(
        r,
        Frame::Array(vec![
            Frame::Integer(1),
            Frame::Integer(-250),
            bulk("a\u{e9}\u{1f600}\n"),
            bulk("true"),
            bulk("true"),
            Frame::Integer(0),
        ])
    );
    // CJSON's lenient number parsing (strtod).
    assert_eq!(run(&s, "return cjson.decode('0x10')"), Frame::Integer(16));
    assert_eq!(run(&s, "return tostring(cjson.decode('-Infinity'))"), bulk("-inf"));
    assert_eq!(run(&s, "return cjson.decode('  \"x\"  ')"), bulk("x"));
}

#[test]
fn cjson_decode_errors() {
    let cases = [
        ("x", "Expected value but found invalid token at character 1"),
        ("", "Expected value but found T_END at character 1"),
        ("{\"a\":1", "Expected comma or object end but found T_END at character 7"),
        ("{1:2}", "Expected object key string but found T_NUMBER at character 2"),
        ("{\"a\" 1}", "Expected colon but found T_NUMBER at character 6"),
        ("[1 2]", "Expected comma or array end but found T_NUMBER at character 4"),
        ("[1,2] x", "Expected the end but found invalid token at character 7"),
        ("\"abc", "Expected value but found unexpected end of string at character 5"),
        ("\"a\\qb\"", "Expected value but found invalid escape code at character 3"),
        ("\"\\ud800\"", "Expected value but found invalid unicode escape code at character 2"),
        ("-", "Expected value but found invalid number at character 1"),
    ];
    for (json, expected) in cases {
        let body = format!("return cjson.decode({})", lua_quote(json));
        err_contains(&body, expected);
    }
    err_contains(
        &format!("return cjson.decode('{}')", "[".repeat(1001)),
        "Found too many nested data structures (1001) at character 1001",
    );
    err_contains("return cjson.decode('1', 2)", "bad argument #1 to 'decode' (expected 1 argument)");
}

fn lua_quote(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[test]
fn cjson_configuration_reports_defaults_and_refuses_changes() {
    let s = scripting();
    assert_eq!(run(&s, "return cjson.encode_max_depth()"), Frame::Integer(1000));
    err_contains("cjson.encode_max_depth(5)", "changing the CJSON configuration is not supported by Gyre");
}

#[test]
fn bit_operations() {
    let r = run(
        &scripting(),
        "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31),
                 bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8),
                 bit.bswap(0x12345678), bit.tobit(2^32 + 5), bit.tobit(-1), bit.band(-1, 0xffffffff),
                 bit.lshift(1, 33), bit.tobit(1.5), bit.tobit(2.5), bit.bnot(-5), bit.bxor(-1, 1),
                 bit.band('12', 4)}",
    );
    assert_eq!(
        r,
        ints(&[15, 7, 6, -1, -2147483648, 15, -16, 0x34567812, 0x78123456, 0x78563412, 5, -1, -1, 2, 2, 2, 4, -2, 4])
    );
}

#[test]
fn bit_tohex() {
    let r = run(
        &scripting(),
        "return {bit.tohex(-1), bit.tohex(255, -4), bit.tohex(255, 2), bit.tohex(0x1234, 12), bit.tohex(1)}",
    );
    assert_eq!(r, Frame::Array(vec![bulk("ffffffff"), bulk("00FF"), bulk("ff"), bulk("00001234"), bulk("00000001")]));
}

#[test]
fn struct_pack_and_unpack() {
    let s = scripting();
    assert_eq!(run(&s, "return struct.pack('>I2', 258)"), bytes(&[1, 2]));
    assert_eq!(run(&s, "return struct.pack('<i4', -2)"), bytes(&[0xfe, 0xff, 0xff, 0xff]));
    assert_eq!(run(&s, "return struct.pack('>i4', -2)"), bytes(&[0xff, 0xff, 0xff, 0xfe]));
    assert_eq!(run(&s, "return struct.pack('bBhH', -1, 255, -2, 65535)"), bytes(&[0xff, 0xff, 0xfe, 0xff, 0xff, 0xff]));
    assert_eq!(run(&s, "return struct.pack('s', 'ab')"), bytes(b"ab\0"));
    assert_eq!(run(&s, "return struct.pack('c3', 'abcdef')"), bytes(b"abc"));
    assert_eq!(run(&s, "return struct.pack('c0', 'abcdef')"), bytes(b"abcdef"));
    assert_eq!(run(&s, "return struct.pack('!4 b i4', 1, 2)"), bytes(&[1, 0, 0, 0, 2, 0, 0, 0]));
    assert_eq!(run(&s, "return struct.pack('>d', 1.5)"), bytes(&1.5f64.to_be_bytes()));
    assert_eq!(run(&s, "return struct.pack('<f', 0.5)"), bytes(&0.5f32.to_le_bytes()));
    assert_eq!(run(&s, "return {struct.unpack('>I2', '\\1\\2')}"), ints(&[258, 3]));
    assert_eq!(run(&s, "return {struct.unpack('<i4', '\\254\\255\\255\\255')}"), ints(&[-2, 5]));
    assert_eq!(run(&s, "return {struct.unpack('s', 'ab\\0cd')}"), Frame::Array(vec![bulk("ab"), Frame::Integer(4)]));
    assert_eq!(run(&s, "return {struct.unpack('bc0', '\\3abcz')}"), Frame::Array(vec![bulk("abc"), Frame::Integer(5)]));
    assert_eq!(run(&s, "return {struct.unpack('B', 'xyz', 2)}"), ints(&[121, 3]));
    assert_eq!(run(&s, "return tostring(struct.unpack('>d', struct.pack('>d', 3.25)))"), bulk("3.25"));
    assert_eq!(
        run(&s, "local a, b, c = struct.unpack('>i2 l', struct.pack('>i2 l', -300, 2^40)) return {a, b, c}"),
        ints(&[-300, 1 << 40, 11])
    );
    assert_eq!(run(&s, "return {struct.size('>i4h'), struct.size('!8 b d'), struct.size('c5 x')}"), ints(&[6, 16, 6]));
}

#[test]
fn struct_errors() {
    err_contains("return struct.pack('z')", "bad argument #1 to 'pack' (invalid format option 'z')");
    err_contains("return struct.unpack('>I4', 'ab')", "bad argument #2 to 'unpack' (data string too short)");
    err_contains("return struct.pack('i40', 1)", "integral size 40 is larger than limit of 32");
    err_contains("return struct.pack('!3 i4', 1)", "alignment 3 is not a power of 2");
    err_contains("return struct.pack('c5', 'ab')", "bad argument #3 to 'pack' (string too short)");
    err_contains("return struct.unpack('c0', 'ab')", "format 'c0' needs a previous size");
    err_contains("return struct.unpack('s', 'ab')", "unfinished string in data");
    err_contains("return struct.unpack('b', 'ab', 0)", "bad argument #3 to 'unpack' (offset must be 1 or greater)");
    err_contains("return struct.size('s')", "bad argument #1 to 'size' (option 's' has no fixed size)");
    err_contains("return struct.pack('i', 'x')", "bad argument #2 to 'pack' (number expected, got string)");
}

#[test]
fn cmsgpack_exact_encoding() {
    let s = scripting();
    let cases: [(&str, &[u8]); 16] = [
        ("1", &[0x01]),
        ("-1", &[0xff]),
        ("-32", &[0xe0]),
        ("-33", &[0xd0, 0xdf]),
        ("200", &[0xcc, 0xc8]),
        ("-200", &[0xd1, 0xff, 0x38]),
        ("70000", &[0xce, 0x00, 0x01, 0x11, 0x70]),
        ("2^40", &[0xcf, 0, 0, 1, 0, 0, 0, 0, 0]),
        ("1.5", &[0xca, 0x3f, 0xc0, 0x00, 0x00]),
        ("'abc'", &[0xa3, b'a', b'b', b'c']),
        ("{1, 2}", &[0x92, 0x01, 0x02]),
        ("{a = 1}", &[0x81, 0xa1, b'a', 0x01]),
        ("{}", &[0x90]),
        ("true", &[0xc3]),
        ("false", &[0xc2]),
        ("nil", &[0xc0]),
    ];
    for (expr, expected) in cases {
        assert_eq!(run(&s, &format!("return cmsgpack.pack({expr})")), bytes(expected), "{expr}");
    }
    let r = run(&s, "return cmsgpack.pack(0.1)");
    let mut expected = vec![0xcb];
    expected.extend_from_slice(&0.1f64.to_be_bytes());
    assert_eq!(r, bytes(&expected));
    assert_eq!(run(&s, "return cmsgpack.pack(1, 'a')"), bytes(&[0x01, 0xa1, b'a']));
    assert_eq!(run(&s, "return #cmsgpack.pack(string.rep('x', 40))"), Frame::Integer(42));
    assert_eq!(run(&s, "return #cmsgpack.pack(string.rep('x', 300))"), Frame::Integer(303));
}

#[test]
fn cmsgpack_round_trip() {
    let r = run(
        &scripting(),
        "local packed = cmsgpack.pack({1, 2, {3, 'x'}}, {a = {b = -7}}, 'str', -123456789, 3.25, true, false)
         local a, m, s, n, f, t, fl = cmsgpack.unpack(packed)
         return {#a, a[3][2], m.a.b, s, n, tostring(f), tostring(t), tostring(fl)}",
    );
    assert_eq!(
        r,
        Frame::Array(vec![
            Frame::Integer(3),
            bulk("x"),
            Frame::Integer(-7),
            bulk("str"),
            Frame::Integer(-123456789),
            bulk("3.25"),
            bulk("true"),
            bulk("false"),
        ])
    );
}

#[test]
fn cmsgpack_nesting_limit_encodes_nil() {
    // Tables nested past 16 levels encode as nil (and cycles terminate).
    let r = run(&scripting(), "local t = {} t[1] = t local p = cmsgpack.pack(t) return {#p, p:byte(#p)}");
    assert_eq!(r, ints(&[17, 0xc0]));
}

#[test]
fn cmsgpack_unpack_one_and_limit() {
    let s = scripting();
    let r = run(&s, "local p = cmsgpack.pack(1, 2, 3) local off, v = cmsgpack.unpack_one(p) local off2, w = cmsgpack.unpack_one(p, off) return {off, v, off2, w}");
    assert_eq!(r, ints(&[1, 1, 2, 2]));
    let r = run(&s, "local p = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_limit(p, 2)}");
    assert_eq!(r, ints(&[2, 1, 2]));
    let r = run(&s, "local p = cmsgpack.pack(1, 2) return {cmsgpack.unpack_limit(p, 5)}");
    assert_eq!(r, ints(&[-1, 1, 2]));
}

#[test]
fn cmsgpack_errors() {
    err_contains("return cmsgpack.unpack('\\193')", "Bad data format in input.");
    err_contains("return cmsgpack.unpack('\\146\\1')", "Missing bytes in input.");
    err_contains("return cmsgpack.pack()", "bad argument #0 to 'pack' (MessagePack pack needs input.)");
    err_contains("return cmsgpack.unpack_one('\\1', 5)", "Start offset 5 greater than input length 1.");
}
