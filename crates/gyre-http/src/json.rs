//! The one mapping between RESP3 frames and JSON, used for command replies,
//! key values and key names, and the parsing of JSON arguments.
//!
//! Replies ([`frame_to_json`]):
//!
//! | RESP3 | JSON |
//! | --- | --- |
//! | simple string, bulk string, verbatim string | string when valid UTF-8, else `{"base64": "..."}` (standard alphabet, padded) |
//! | integer | number |
//! | double | number; `"inf"`, `"-inf"`, `"nan"` as strings |
//! | big number | string of its digits |
//! | boolean | `true` / `false` |
//! | null | `null` |
//! | array, set, push | array |
//! | map, attribute | object when every key is a string (as above, UTF-8) and keys are distinct; else an array of `[key, value]` pairs |
//! | error (nested, e.g. inside EXEC's reply) | `{"error": "..."}` |
//!
//! A verbatim string loses its format (`txt`, `mkd`); order of map entries is
//! kept. Integers are exact in JSON, though JavaScript's numbers hold only 53
//! bits. Nesting deeper than [`JSON_DEPTH_MAX`] is refused (no reply of
//! Gyre's nests that deep; the bound keeps the conversion's recursion finite).
//!
//! Arguments ([`json_to_arg`]): a string (its UTF-8 bytes), a number (its JSON
//! text, so `10` and `"10"` are the same argument), or `{"base64": "..."}` for
//! arbitrary bytes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use gyre_resp::Frame;
use serde_json::{Map, Value};

/// Deepest reply nesting [`frame_to_json`] converts (a top-level array is
/// depth 1).
pub const JSON_DEPTH_MAX: usize = 128;

/// A reply nested deeper than [`JSON_DEPTH_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reply nests deeper than {JSON_DEPTH_MAX} levels and cannot be shown as JSON")]
pub struct ReplyTooDeep;

/// Converts a reply to JSON (see the module table).
pub fn frame_to_json(frame: &Frame) -> Result<Value, ReplyTooDeep> {
    convert(frame, 0)
}

fn convert(frame: &Frame, depth: usize) -> Result<Value, ReplyTooDeep> {
    Ok(match frame {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => bytes_to_json(b),
        Frame::BigNumber(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Frame::Error(e) => {
            let mut m = Map::new();
            m.insert("error".to_owned(), Value::String(String::from_utf8_lossy(e).into_owned()));
            Value::Object(m)
        }
        Frame::Integer(n) => Value::from(*n),
        Frame::Double(d) => double_to_json(*d),
        Frame::Boolean(b) => Value::Bool(*b),
        Frame::Null => Value::Null,
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let depth = deeper(depth)?;
            Value::Array(items.iter().map(|f| convert(f, depth)).collect::<Result<_, _>>()?)
        }
        Frame::Map(pairs) | Frame::Attribute(pairs) => map_to_json(pairs, deeper(depth)?)?,
    })
}

fn deeper(depth: usize) -> Result<usize, ReplyTooDeep> {
    if depth >= JSON_DEPTH_MAX {
        return Err(ReplyTooDeep);
    }
    Ok(depth + 1)
}

fn map_to_json(pairs: &[(Frame, Frame)], depth: usize) -> Result<Value, ReplyTooDeep> {
    let mut object = Map::with_capacity(pairs.len());
    for (key, value) in pairs {
        let Some(key) = text_key(key) else { break };
        if object.contains_key(key) {
            break;
        }
        object.insert(key.to_owned(), convert(value, depth)?);
    }
    if object.len() == pairs.len() {
        return Ok(Value::Object(object));
    }
    let mut list = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        list.push(Value::Array(vec![convert(key, depth)?, convert(value, depth)?]));
    }
    Ok(Value::Array(list))
}

/// The key as an object key, when it is a UTF-8 string.
fn text_key(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// Bytes as a JSON string when UTF-8, else `{"base64": ...}`.
pub(crate) fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => {
            let mut m = Map::new();
            m.insert("base64".to_owned(), Value::String(BASE64.encode(bytes)));
            Value::Object(m)
        }
    }
}

fn double_to_json(d: f64) -> Value {
    match serde_json::Number::from_f64(d) {
        Some(n) => Value::Number(n),
        None if d.is_nan() => Value::String("nan".to_owned()),
        None if d > 0.0 => Value::String("inf".to_owned()),
        None => Value::String("-inf".to_owned()),
    }
}

/// A JSON argument or value as bytes; `Err` says what is wrong, for a 400.
pub(crate) fn json_to_arg(value: &Value) -> Result<Bytes, String> {
    match value {
        Value::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Value::Number(n) => Ok(Bytes::from(n.to_string())),
        Value::Object(m) if m.len() == 1 => match m.get("base64") {
            Some(Value::String(b64)) => {
                BASE64.decode(b64).map(Bytes::from).map_err(|e| format!("invalid base64 ({e})"))
            }
            _ => Err("an object must be {\"base64\": \"...\"}".to_owned()),
        },
        _ => Err("expected a string, a number or {\"base64\": \"...\"}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bulk(s: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s))
    }

    #[test]
    fn scalars() {
        assert_eq!(frame_to_json(&Frame::Simple("OK".into())).unwrap(), json!("OK"));
        assert_eq!(frame_to_json(&bulk(b"h\xc3\xa9")).unwrap(), json!("hé"));
        assert_eq!(frame_to_json(&bulk(b"\xff\x00")).unwrap(), json!({"base64": "/wA="}));
        assert_eq!(frame_to_json(&Frame::Integer(-7)).unwrap(), json!(-7));
        assert_eq!(frame_to_json(&Frame::Integer(i64::MAX)).unwrap().to_string(), "9223372036854775807");
        assert_eq!(frame_to_json(&Frame::Double(1.5)).unwrap(), json!(1.5));
        assert_eq!(frame_to_json(&Frame::Double(f64::INFINITY)).unwrap(), json!("inf"));
        assert_eq!(frame_to_json(&Frame::Double(f64::NEG_INFINITY)).unwrap(), json!("-inf"));
        assert_eq!(frame_to_json(&Frame::Double(f64::NAN)).unwrap(), json!("nan"));
        assert_eq!(
            frame_to_json(&Frame::BigNumber("123456789012345678901234567890".into())).unwrap(),
            json!("123456789012345678901234567890")
        );
        assert_eq!(frame_to_json(&Frame::Boolean(true)).unwrap(), json!(true));
        assert_eq!(frame_to_json(&Frame::Null).unwrap(), json!(null));
        let verbatim = Frame::Verbatim { format: *b"txt", text: "hi".into() };
        assert_eq!(frame_to_json(&verbatim).unwrap(), json!("hi"));
        assert_eq!(frame_to_json(&Frame::Error("ERR x".into())).unwrap(), json!({"error": "ERR x"}));
    }

    #[test]
    fn aggregates() {
        let arr = Frame::Array(vec![Frame::Integer(1), Frame::Set(vec![bulk(b"a")]), Frame::Null]);
        assert_eq!(frame_to_json(&arr).unwrap(), json!([1, ["a"], null]));
        let map = Frame::Map(vec![(bulk(b"z"), Frame::Integer(1)), (Frame::Simple("a".into()), Frame::Integer(2))]);
        let value = frame_to_json(&map).unwrap();
        assert_eq!(value, json!({"z": 1, "a": 2}));
        assert_eq!(value.to_string(), r#"{"z":1,"a":2}"#, "server order is kept");
    }

    #[test]
    fn maps_without_string_keys_or_with_duplicates_become_pair_lists() {
        let ints = Frame::Map(vec![(Frame::Integer(1), bulk(b"a"))]);
        assert_eq!(frame_to_json(&ints).unwrap(), json!([[1, "a"]]));
        let binary = Frame::Map(vec![(bulk(b"ok"), Frame::Integer(1)), (bulk(b"\xff"), Frame::Integer(2))]);
        assert_eq!(frame_to_json(&binary).unwrap(), json!([["ok", 1], [{"base64": "/w=="}, 2]]));
        let dup = Frame::Map(vec![(bulk(b"k"), Frame::Integer(1)), (bulk(b"k"), Frame::Integer(2))]);
        assert_eq!(frame_to_json(&dup).unwrap(), json!([["k", 1], ["k", 2]]));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut frame = Frame::Integer(1);
        for _ in 0..JSON_DEPTH_MAX {
            frame = Frame::Array(vec![frame]);
        }
        assert!(frame_to_json(&frame).is_ok(), "{JSON_DEPTH_MAX} levels convert");
        let frame = Frame::Array(vec![frame]);
        assert_eq!(frame_to_json(&frame), Err(ReplyTooDeep));
    }

    #[test]
    fn arguments() {
        assert_eq!(json_to_arg(&json!("hé")).unwrap(), Bytes::from_static("hé".as_bytes()));
        assert_eq!(json_to_arg(&json!(10)).unwrap(), Bytes::from_static(b"10"));
        assert_eq!(json_to_arg(&json!(-1.5)).unwrap(), Bytes::from_static(b"-1.5"));
        assert_eq!(json_to_arg(&json!({"base64": "/wA="})).unwrap(), Bytes::from_static(b"\xff\x00"));
        assert!(json_to_arg(&json!({"base64": "!!"})).unwrap_err().contains("invalid base64"));
        assert!(json_to_arg(&json!({"b64": "AA=="})).is_err());
        assert!(json_to_arg(&json!(true)).is_err());
        assert!(json_to_arg(&json!(null)).is_err());
        assert!(json_to_arg(&json!(["a"])).is_err());
    }
}
