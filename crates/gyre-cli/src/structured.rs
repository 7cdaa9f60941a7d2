//! `--csv` and `--json` reply formatting, byte for byte as redis-cli 7 does it
//! (`cliFormatReplyCSV`, `cliFormatReplyJson`).
//!
//! * CSV: strings and statuses quoted with redis-cli's escaping, integers,
//!   doubles and booleans bare, nil as `NULL`, errors as `ERROR,"text"`;
//!   every aggregate (maps too) flattened into one comma-separated list.
//! * JSON: arrays, sets and pushes as `[...]`, maps as `{...}` (a key that is
//!   not a string is formatted and then quoted), nil as `null`, errors as
//!   `error:"text"` (not valid JSON, but what redis-cli prints). Strings escape
//!   `"` `\` and control bytes; other bytes pass through unchanged, invalid
//!   UTF-8 included, as in redis-cli.
//!
//! Like `format`, both walk aggregates with an explicit stack: no recursion.

use gyre_resp::{format_double, Frame};

use crate::format::push_quoted;

/// One pending step of the CSV walk.
enum CsvStep<'a> {
    Frame(&'a Frame),
    Comma,
}

/// Appends the CSV form of `frame` (without the final newline).
pub fn write_csv(frame: &Frame, out: &mut Vec<u8>) {
    let mut stack = vec![CsvStep::Frame(frame)];
    while let Some(step) = stack.pop() {
        let frame = match step {
            CsvStep::Comma => {
                out.push(b',');
                continue;
            }
            CsvStep::Frame(frame) => frame,
        };
        match frame {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(CsvStep::Frame(item));
                    if i > 0 {
                        stack.push(CsvStep::Comma);
                    }
                }
            }
            Frame::Map(pairs) | Frame::Attribute(pairs) => {
                for (i, (key, value)) in pairs.iter().enumerate().rev() {
                    stack.push(CsvStep::Frame(value));
                    stack.push(CsvStep::Comma);
                    stack.push(CsvStep::Frame(key));
                    if i > 0 {
                        stack.push(CsvStep::Comma);
                    }
                }
            }
            Frame::Error(text) => {
                out.extend_from_slice(b"ERROR,");
                push_quoted(text, out);
            }
            Frame::Simple(bytes) | Frame::Bulk(bytes) => push_quoted(bytes, out),
            Frame::Verbatim { text, .. } => push_quoted(text, out),
            scalar => bare_scalar(scalar, b"NULL", out),
        }
    }
}

/// Integers, doubles, booleans, big numbers and nil, which both formats
/// print unquoted.
fn bare_scalar(frame: &Frame, null: &[u8], out: &mut Vec<u8>) {
    match frame {
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(v) => format_double(*v, out),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::BigNumber(digits) => out.extend_from_slice(digits),
        Frame::Null => out.extend_from_slice(null),
        other => unreachable!("not a bare scalar: {other:?}"),
    }
}

/// One pending step of the JSON walk.
enum JsonStep<'a> {
    Frame(&'a Frame),
    Text(&'static [u8]),
    /// A map key starts here: remember where.
    KeyStart,
    /// The map key last started is complete: quote it if it is not a JSON
    /// string already.
    KeyEnd,
}

/// Appends the JSON form of `frame` (without the final newline).
pub fn write_json(frame: &Frame, out: &mut Vec<u8>) {
    let mut stack = vec![JsonStep::Frame(frame)];
    let mut key_starts = Vec::new();
    while let Some(step) = stack.pop() {
        let frame = match step {
            JsonStep::Text(text) => {
                out.extend_from_slice(text);
                continue;
            }
            JsonStep::KeyStart => {
                key_starts.push(out.len());
                continue;
            }
            JsonStep::KeyEnd => {
                let start = key_starts.pop().expect("KeyStart precedes KeyEnd");
                if out.get(start) != Some(&b'"') {
                    out.insert(start, b'"');
                    out.push(b'"');
                }
                continue;
            }
            JsonStep::Frame(frame) => frame,
        };
        match frame {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                out.push(b'[');
                stack.push(JsonStep::Text(b"]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(JsonStep::Frame(item));
                    if i > 0 {
                        stack.push(JsonStep::Text(b","));
                    }
                }
            }
            Frame::Map(pairs) | Frame::Attribute(pairs) => {
                out.push(b'{');
                stack.push(JsonStep::Text(b"}"));
                for (i, (key, value)) in pairs.iter().enumerate().rev() {
                    stack.push(JsonStep::Frame(value));
                    stack.push(JsonStep::Text(b":"));
                    stack.push(JsonStep::KeyEnd);
                    stack.push(JsonStep::Frame(key));
                    stack.push(JsonStep::KeyStart);
                    if i > 0 {
                        stack.push(JsonStep::Text(b","));
                    }
                }
            }
            Frame::Error(text) => {
                out.extend_from_slice(b"error:");
                push_json_string(text, out);
            }
            Frame::Simple(bytes) | Frame::Bulk(bytes) => push_json_string(bytes, out),
            Frame::Verbatim { text, .. } => push_json_string(text, out),
            scalar => bare_scalar(scalar, b"null", out),
        }
    }
}

/// A JSON string with redis-cli's escaping (`escapeJsonString`).
fn push_json_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(s: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s))
    }

    fn csv(frame: &Frame) -> String {
        let mut out = Vec::new();
        write_csv(frame, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn json(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        write_json(frame, &mut out);
        out
    }

    #[test]
    fn csv_matches_redis_cli() {
        // Each expectation captured from redis-cli 7.0.15 --csv.
        assert_eq!(csv(&bulk(b"bar")), "\"bar\"");
        assert_eq!(csv(&Frame::Null), "NULL");
        assert_eq!(csv(&Frame::Integer(1)), "1");
        assert_eq!(csv(&Frame::Array(vec![bulk(b"a"), bulk(b"b c"), bulk(b"d\"e")])), "\"a\",\"b c\",\"d\\\"e\"");
        assert_eq!(csv(&Frame::Error("ERR boom".into())), "ERROR,\"ERR boom\"");
        assert_eq!(
            csv(&Frame::Array(vec![Frame::Integer(1), Frame::Error("ERR inner".into())])),
            "1,ERROR,\"ERR inner\""
        );
        assert_eq!(csv(&Frame::Array(vec![])), "");
        assert_eq!(csv(&bulk(b"\xc3\xa9\x01\n")), "\"\\xc3\\xa9\\x01\\n\"");
        let nested = Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![Frame::Integer(2), bulk(b"x")]),
            Frame::Simple("st".into()),
        ]);
        assert_eq!(csv(&nested), "1,2,\"x\",\"st\"");
        // RESP3: DEBUG PROTOCOL map / double / true.
        let map = Frame::Map((0..3).map(|i| (Frame::Integer(i), Frame::Boolean(i == 1))).collect());
        assert_eq!(csv(&map), "0,false,1,true,2,false");
        assert_eq!(csv(&Frame::Double(2.5)), "2.5");
        assert_eq!(
            csv(&Frame::Verbatim { format: *b"txt", text: "This is a verbatim\nstring".into() }),
            "\"This is a verbatim\\nstring\""
        );
    }

    #[test]
    fn json_matches_redis_cli() {
        assert_eq!(json(&bulk(b"bar")), b"\"bar\"");
        assert_eq!(json(&Frame::Null), b"null");
        assert_eq!(json(&Frame::Array(vec![bulk(b"a"), bulk(b"b c"), bulk(b"d\"e")])), b"[\"a\",\"b c\",\"d\\\"e\"]");
        let hash = Frame::Map(vec![(bulk(b"f1"), bulk(b"v1")), (bulk(b"f2"), bulk(b"2"))]);
        assert_eq!(json(&hash), b"{\"f1\":\"v1\",\"f2\":\"2\"}");
        assert_eq!(json(&Frame::Array(vec![Frame::Array(vec![bulk(b"m"), Frame::Double(1.5)])])), b"[[\"m\",1.5]]");
        assert_eq!(json(&Frame::Error("ERR boom".into())), b"error:\"ERR boom\"");
        assert_eq!(
            json(&Frame::Array(vec![Frame::Integer(1), Frame::Error("ERR inner".into())])),
            b"[1,error:\"ERR inner\"]"
        );
        assert_eq!(json(&Frame::Array(vec![])), b"[]");
        assert_eq!(json(&Frame::Set(vec![Frame::Integer(0), Frame::Integer(1)])), b"[0,1]");
        // Non-ASCII passes through; control bytes are \u escapes.
        assert_eq!(json(&bulk(b"\xc3\xa9\x01\n")), b"\"\xc3\xa9\\u0001\\n\"");
        assert_eq!(json(&bulk(b"\xff\x7f\t/\x1f\\")), b"\"\xff\x7f\\t/\\u001f\\\\\"");
        // Non-string keys are quoted (DEBUG PROTOCOL map).
        let map = Frame::Map((0..3).map(|i| (Frame::Integer(i), Frame::Boolean(i == 1))).collect());
        assert_eq!(json(&map), b"{\"0\":false,\"1\":true,\"2\":false}");
        let hello = Frame::Map(vec![(bulk(b"proto"), Frame::Integer(3)), (bulk(b"modules"), Frame::Array(vec![]))]);
        assert_eq!(json(&hello), b"{\"proto\":3,\"modules\":[]}");
    }

    #[test]
    fn nested_maps_with_aggregate_keys_quote_each_key() {
        let inner = Frame::Map(vec![(Frame::Integer(7), Frame::Null)]);
        let frame = Frame::Map(vec![(Frame::Array(vec![Frame::Integer(1)]), inner)]);
        assert_eq!(json(&frame), b"{\"[1]\":{\"7\":null}}");
    }
}
