//! Fuzz target for `parse_frame`: arbitrary bytes must never panic or overflow
//! the stack; a parsed frame consumes at most the input, re-encodes, and the
//! re-encoding parses back to an equal frame (NaN doubles excepted, since NaN
//! never equals itself).

#![no_main]

use bytes::BytesMut;
use gyre_resp::{parse_frame, Frame, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits =
    Limits { bulk_bytes_max: 4096, multibulk_len_max: 256, inline_bytes_max: 256, nesting_depth_max: 16 };

fn contains_nan(frame: &Frame) -> bool {
    let mut stack = vec![frame];
    while let Some(frame) = stack.pop() {
        match frame {
            Frame::Double(v) if v.is_nan() => return true,
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => stack.extend(items),
            Frame::Map(pairs) | Frame::Attribute(pairs) => {
                stack.extend(pairs.iter().flat_map(|(k, v)| [k, v]));
            }
            _ => {}
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some((frame, consumed))) = parse_frame(data, &LIMITS) else {
        return;
    };
    assert!(consumed <= data.len());
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    let reparsed =
        parse_frame(&out, &Limits::default()).expect("re-encoded frame parses").expect("re-encoded frame is complete");
    assert_eq!(reparsed.1, out.len());
    if !contains_nan(&frame) {
        assert_eq!(reparsed.0, frame);
    }
});
