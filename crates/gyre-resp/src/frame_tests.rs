//! Unit tests of the frame parser and encoder.

use super::*;

fn parse(input: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    parse_frame(input, &Limits::default())
}

fn parse_whole(input: &[u8]) -> Frame {
    let (frame, consumed) = parse(input).unwrap().expect("complete frame");
    assert_eq!(consumed, input.len());
    frame
}

fn bulk(text: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text))
}

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

#[test]
fn resp2_scalars() {
    assert_eq!(parse_whole(b"+OK\r\n"), Frame::Simple(Bytes::from_static(b"OK")));
    assert_eq!(parse_whole(b"-ERR bad\r\n"), Frame::Error(Bytes::from_static(b"ERR bad")));
    assert_eq!(parse_whole(b":-12\r\n"), Frame::Integer(-12));
    assert_eq!(parse_whole(b"$5\r\na\r\nbc\r\n"), bulk(b"a\r\nbc"));
    assert_eq!(parse_whole(b"$0\r\n\r\n"), bulk(b""));
    assert_eq!(parse_whole(b"$-1\r\n"), Frame::Null);
    assert_eq!(parse_whole(b"*-1\r\n"), Frame::Null);
}

#[test]
fn resp3_scalars() {
    assert_eq!(parse_whole(b"_\r\n"), Frame::Null);
    assert_eq!(parse_whole(b",1.23\r\n"), Frame::Double(1.23));
    assert_eq!(parse_whole(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
    assert_eq!(parse_whole(b",1e+20\r\n"), Frame::Double(1e20));
    assert!(matches!(parse_whole(b",nan\r\n"), Frame::Double(v) if v.is_nan()));
    assert_eq!(parse_whole(b"#t\r\n"), Frame::Boolean(true));
    assert_eq!(parse_whole(b"#f\r\n"), Frame::Boolean(false));
    assert_eq!(
        parse_whole(b"(-123456789012345678901234567890\r\n"),
        Frame::BigNumber(Bytes::from_static(b"-123456789012345678901234567890"))
    );
    assert_eq!(parse_whole(b"!8\r\nERR a\r\nb\r\n"), Frame::Error(Bytes::from_static(b"ERR a\r\nb")));
    assert_eq!(
        parse_whole(b"=9\r\ntxt:hello\r\n"),
        Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"hello") }
    );
}

#[test]
fn aggregates() {
    assert_eq!(
        parse_whole(b"*3\r\n$1\r\na\r\n*0\r\n:1\r\n"),
        Frame::Array(vec![bulk(b"a"), Frame::Array(vec![]), Frame::Integer(1)])
    );
    assert_eq!(
        parse_whole(b"%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n#t\r\n"),
        Frame::Map(vec![
            (Frame::Simple(Bytes::from_static(b"a")), Frame::Integer(1)),
            (Frame::Simple(Bytes::from_static(b"b")), Frame::Set(vec![Frame::Boolean(true)])),
        ])
    );
    assert_eq!(
        parse_whole(b">2\r\n+message\r\n_\r\n"),
        Frame::Push(vec![Frame::Simple(Bytes::from_static(b"message")), Frame::Null])
    );
    assert_eq!(
        parse_whole(b"|1\r\n+ttl\r\n:3\r\n"),
        Frame::Attribute(vec![(Frame::Simple(Bytes::from_static(b"ttl")), Frame::Integer(3))])
    );
}

#[test]
fn consumed_stops_at_the_frame_end() {
    assert_eq!(parse(b"+a\r\n+b\r\n").unwrap(), Some((Frame::Simple(Bytes::from_static(b"a")), 4)));
}

#[test]
fn every_strict_prefix_needs_more() {
    let input = b"*4\r\n$3\r\nabc\r\n%1\r\n+k\r\n,1.5\r\n=7\r\ntxt:abc\r\n*-1\r\n";
    parse_whole(input);
    for end in 0..input.len() {
        assert_eq!(parse(&input[..end]), Ok(None), "prefix {end}");
    }
}

#[test]
fn malformed_frames() {
    let cases: [(&[u8], ProtocolError); 15] = [
        (b"@x\r\n", ProtocolError::InvalidTypeByte { got: b'@' }),
        (b":1x\r\n", ProtocolError::InvalidInteger),
        (b":99999999999999999999\r\n", ProtocolError::InvalidInteger),
        (b",abc\r\n", ProtocolError::InvalidDouble),
        (b"#x\r\n", ProtocolError::InvalidBoolean),
        (b"(12a\r\n", ProtocolError::InvalidBigNumber),
        (b"=3\r\ntxt\r\n", ProtocolError::InvalidVerbatim),
        (b"=5\r\ntxt-a\r\n", ProtocolError::InvalidVerbatim),
        (b"_x\r\n", ProtocolError::InvalidNull),
        (b"+a\rb\r\n", ProtocolError::ExpectedCrlf),
        (b"+a\nb\r\n", ProtocolError::ExpectedCrlf),
        (b"$1\r\nabc\r\n", ProtocolError::ExpectedCrlf),
        (b"$-2\r\n", ProtocolError::InvalidBulkLength),
        (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*x\r\n", ProtocolError::InvalidMultibulkLength),
    ];
    for (input, expected) in cases {
        assert_eq!(parse(input), Err(expected), "{}", input.escape_ascii());
    }
}

#[test]
fn declared_lengths_are_checked_before_payload() {
    let limits = Limits { bulk_bytes_max: 10, multibulk_len_max: 3, ..Limits::default() };
    assert_eq!(parse_frame(b"$11\r\n", &limits), Err(ProtocolError::InvalidBulkLength));
    assert_eq!(parse_frame(b"!11\r\n", &limits), Err(ProtocolError::InvalidBulkLength));
    assert_eq!(parse_frame(b"$10\r\n", &limits), Ok(None));
    assert_eq!(parse_frame(b"*4\r\n", &limits), Err(ProtocolError::InvalidMultibulkLength));
    assert_eq!(parse_frame(b"*3\r\n", &limits), Ok(None));
    assert_eq!(parse_frame(b"%3\r\n", &limits), Ok(None));
    assert_eq!(parse_frame(b"%4\r\n", &limits), Err(ProtocolError::InvalidMultibulkLength));
    // A huge declared count alone allocates at most FRAME_RESERVE_MAX slots.
    assert_eq!(parse(b"*2000000000\r\n"), Ok(None));
}

#[test]
fn lines_are_bounded() {
    let limits = Limits { inline_bytes_max: 4, bulk_bytes_max: 6, ..Limits::default() };
    assert_eq!(parse_frame(b":12345", &limits), Err(ProtocolError::LineTooLong));
    assert_eq!(parse_frame(b":1234", &limits), Ok(None));
    assert_eq!(parse_frame(b"+1234567", &limits), Err(ProtocolError::LineTooLong));
    assert_eq!(parse_frame(b"+123456\r\n", &limits).unwrap().unwrap().1, 9);
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut input = b"*1\r\n".repeat(depth);
    input.extend_from_slice(b":1\r\n");
    input
}

#[test]
fn nesting_depth_is_limited() {
    let limits = Limits { nesting_depth_max: 3, ..Limits::default() };
    assert!(parse_frame(&nested_arrays(3), &limits).unwrap().is_some());
    assert_eq!(parse_frame(&nested_arrays(4), &limits), Err(ProtocolError::NestingTooDeep));
    assert_eq!(parse_frame(b"*1\r\n*1\r\n*1\r\n*0\r\n", &limits), Err(ProtocolError::NestingTooDeep));
    // Far deeper than any thread stack could recurse: rejected, no overflow.
    assert_eq!(parse(&nested_arrays(1_000_000)), Err(ProtocolError::NestingTooDeep));
}

#[test]
fn encode_native_resp3() {
    let frame = Frame::Array(vec![
        Frame::Simple(Bytes::from_static(b"OK")),
        Frame::Error(Bytes::from_static(b"ERR x")),
        Frame::Integer(7),
        bulk(b"ab"),
        Frame::Null,
        Frame::Double(2.5),
        Frame::Boolean(false),
        Frame::BigNumber(Bytes::from_static(b"123")),
        Frame::Verbatim { format: *b"mkd", text: Bytes::from_static(b"# t") },
        Frame::Map(vec![(Frame::Integer(1), Frame::Set(vec![]))]),
        Frame::Push(vec![Frame::Boolean(true)]),
        Frame::Attribute(vec![]),
    ]);
    let expected: &[u8] = b"*12\r\n+OK\r\n-ERR x\r\n:7\r\n$2\r\nab\r\n_\r\n,2.5\r\n#f\r\n(123\r\n=7\r\nmkd:# t\r\n%1\r\n:1\r\n~0\r\n>1\r\n#t\r\n|0\r\n";
    assert_eq!(encoded(&frame).escape_ascii().to_string(), expected.escape_ascii().to_string());
    assert_eq!(parse_whole(expected), frame);
}

#[test]
fn encode_escapes_line_breaks() {
    assert_eq!(encoded(&Frame::Simple(Bytes::from_static(b"a\r\nb"))), b"+a  b\r\n");
    let error = Frame::Error(Bytes::from_static(b"ERR a\nb"));
    assert_eq!(encoded(&error), b"!7\r\nERR a\nb\r\n");
    assert_eq!(parse_whole(&encoded(&error)), error);
}

#[test]
fn encode_deep_frame_without_recursion() {
    let mut frame = Frame::Integer(1);
    for _ in 0..100_000 {
        frame = Frame::Array(vec![frame]);
    }
    let bytes = encoded(&frame);
    assert_eq!(bytes.len(), 100_000 * 4 + 4);
    // Dismantle iteratively: the derived Drop would recurse 100k deep.
    while let Frame::Array(mut items) = frame {
        frame = items.pop().unwrap();
    }
}

#[test]
fn encode_command_is_a_multibulk_of_bulks() {
    let mut out = BytesMut::new();
    encode_command(&["SET", "k", ""], &mut out);
    assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    let mut out = BytesMut::new();
    encode_command::<&[u8]>(&[], &mut out);
    assert_eq!(&out[..], b"*0\r\n");
}
