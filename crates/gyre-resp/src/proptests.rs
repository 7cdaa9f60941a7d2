//! Property tests across modules: encode/parse round trips, chunked parsing,
//! and "arbitrary bytes never panic".

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::{encode_command, parse_frame, Frame, Limits, RequestParser};

fn bytes_strategy() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// Simple strings cannot contain CR or LF on the wire.
fn line_strategy() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 0..24).prop_map(Bytes::from)
}

fn big_number_strategy() -> impl Strategy<Value = Bytes> {
    "-?[0-9]{1,40}".prop_map(Bytes::from)
}

fn scalar_strategy() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_strategy().prop_map(Frame::Simple),
        bytes_strategy().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        bytes_strategy().prop_map(Frame::Bulk),
        Just(Frame::Null),
        // NaN never equals itself; every other double must round-trip exactly.
        any::<f64>().prop_filter("not NaN", |v| !v.is_nan()).prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        big_number_strategy().prop_map(Frame::BigNumber),
        (any::<[u8; 3]>(), bytes_strategy()).prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ]
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    scalar_strategy().prop_recursive(4, 64, 6, |inner| {
        let pairs = vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Frame::Array),
            vec(inner.clone(), 0..6).prop_map(Frame::Set),
            vec(inner, 0..6).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            pairs.prop_map(Frame::Attribute),
        ]
    })
}

/// Feeds `input` to a request parser in two pieces split at `split`.
fn parse_request_split(input: &[u8], split: usize) -> Option<(usize, Vec<Vec<u8>>)> {
    let mut parser = RequestParser::default();
    if let Some(n) = parser.parse(&input[..split]).unwrap() {
        return Some((n, parser.args(&input[..split]).iter().map(<[u8]>::to_vec).collect()));
    }
    let n = parser.parse(input).unwrap()?;
    Some((n, parser.args(input).iter().map(<[u8]>::to_vec).collect()))
}

proptest! {
    #[test]
    fn frame_round_trips(frame in frame_strategy()) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        let parsed = parse_frame(&out, &Limits::default()).unwrap();
        prop_assert_eq!(parsed, Some((frame, out.len())));
    }

    #[test]
    fn frame_prefixes_need_more(frame in frame_strategy(), cut in any::<prop::sample::Index>()) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        let end = cut.index(out.len());
        prop_assert_eq!(parse_frame(&out[..end], &Limits::default()), Ok(None));
    }

    #[test]
    fn command_round_trips(args in vec(vec(any::<u8>(), 0..40), 1..8), cut in any::<prop::sample::Index>()) {
        let mut out = BytesMut::new();
        encode_command(&args, &mut out);
        let split = cut.index(out.len() + 1);
        let parsed = parse_request_split(&out, split);
        prop_assert_eq!(parsed, Some((out.len(), args)));
    }

    #[test]
    fn request_parser_never_panics(input in vec(any::<u8>(), 0..256), cut in any::<prop::sample::Index>()) {
        let split = cut.index(input.len() + 1);
        let mut parser = RequestParser::new(Limits { inline_bytes_max: 64, bulk_bytes_max: 64, ..Limits::default() });
        let mut consumed = 0;
        let mut received = split;
        loop {
            let buf = &input[consumed..received];
            match parser.parse(buf) {
                Ok(Some(n)) => {
                    prop_assert!(n <= buf.len());
                    prop_assert!(n > 0);
                    for arg in parser.args(buf).iter() {
                        prop_assert!(arg.len() <= buf.len());
                    }
                    consumed += n;
                }
                Ok(None) if received < input.len() => received = input.len(),
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn frame_parser_never_panics(input in vec(any::<u8>(), 0..256)) {
        if let Ok(Some((_, consumed))) = parse_frame(&input, &Limits::default()) {
            prop_assert!(consumed <= input.len());
        }
    }

    #[test]
    fn frame_parser_never_panics_on_resp_like_input(input in "([*%~>|$!=+:,#(_-][-?0-9a-z.]{0,3}\r\n){1,12}") {
        let limits = Limits { nesting_depth_max: 4, ..Limits::default() };
        if let Ok(Some((_, consumed))) = parse_frame(input.as_bytes(), &limits) {
            prop_assert!(consumed <= input.len());
        }
    }
}
