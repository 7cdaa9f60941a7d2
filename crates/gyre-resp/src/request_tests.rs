//! Unit tests of the request parser: Redis's error cases, resumption, limits.

use super::*;

/// Parses every command in `input` (fed whole), returning each one's args.
fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = RequestParser::default();
    let mut commands = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let buf = &input[offset..];
        match parser.parse(buf)? {
            Some(n) => {
                assert!(n > 0 && n <= buf.len());
                commands.push(parser.args(buf).iter().map(<[u8]>::to_vec).collect());
                offset += n;
            }
            None => break,
        }
    }
    Ok(commands)
}

/// Parses `input` delivered in chunks of `chunk_bytes`, as a server would:
/// the buffer grows, completed commands are consumed from its front.
fn parse_chunked(input: &[u8], chunk_bytes: usize) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = RequestParser::default();
    let mut commands = Vec::new();
    let mut consumed = 0;
    let mut received = 0;
    while received < input.len() {
        received = (received + chunk_bytes).min(input.len());
        loop {
            let buf = &input[consumed..received];
            match parser.parse(buf)? {
                Some(n) => {
                    commands.push(parser.args(buf).iter().map(<[u8]>::to_vec).collect());
                    consumed += n;
                }
                None => break,
            }
        }
    }
    Ok(commands)
}

fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

fn parse_one(input: &[u8]) -> Result<Option<usize>, ProtocolError> {
    RequestParser::default().parse(input)
}

#[test]
fn multibulk_command() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(input), Ok(Some(input.len())));
    let args = parser.args(input);
    assert_eq!(args.len(), 3);
    assert!(!args.is_empty());
    assert_eq!(args.get(0), b"SET");
    assert_eq!(args.get(1), b"k");
    assert_eq!(args.get(2), b"value");
    assert!(!parser.last_was_inline());
}

#[test]
fn multibulk_args_point_into_the_callers_buffer() {
    let input = b"*1\r\n$4\r\nPING\r\n";
    let mut parser = RequestParser::default();
    parser.parse(input).unwrap();
    let arg = parser.args(input).get(0);
    assert_eq!(arg.as_ptr(), input[8..].as_ptr());
}

#[test]
fn pipeline_of_mixed_commands() {
    let input = b"*1\r\n$4\r\nPING\r\nGET a\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nset x \"y z\"\n";
    let expected = vec![cmd(&[b"PING"]), cmd(&[b"GET", b"a"]), cmd(&[b"ECHO", b""]), cmd(&[b"set", b"x", b"y z"])];
    assert_eq!(parse_all(input).unwrap(), expected);
}

#[test]
fn byte_by_byte_matches_all_at_once() {
    let input = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nk\r\r\n$4\r\n\r\n\r\n\r\n";
    let whole = parse_all(input).unwrap();
    assert_eq!(whole.len(), 3);
    for chunk in 1..input.len() {
        assert_eq!(parse_chunked(input, chunk).unwrap(), whole, "chunk {chunk}");
    }
}

#[test]
fn binary_payload_containing_crlf() {
    let input = b"*2\r\n$3\r\nSET\r\n$6\r\n\r\n*1\r\n\r\n";
    assert_eq!(parse_all(input).unwrap(), vec![cmd(&[b"SET", b"\r\n*1\r\n"])]);
    assert_eq!(parse_chunked(input, 1).unwrap(), vec![cmd(&[b"SET", b"\r\n*1\r\n"])]);
}

#[test]
fn incomplete_input_returns_none_until_complete() {
    let input = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    let mut parser = RequestParser::default();
    for end in 0..input.len() {
        assert_eq!(parser.parse(&input[..end]), Ok(None), "prefix {end}");
    }
    assert_eq!(parser.parse(input), Ok(Some(input.len())));
    assert_eq!(parser.args(input).get(1), b"key");
}

#[test]
fn empty_commands() {
    for input in [&b"*0\r\n"[..], b"*-1\r\n", b"*-5\r\n", b"\r\n", b"\n", b"   \r\n"] {
        let mut parser = RequestParser::default();
        assert_eq!(parser.parse(input), Ok(Some(input.len())), "{}", input.escape_ascii());
        assert!(parser.args(input).is_empty());
    }
}

#[test]
fn empty_command_clears_previous_args() {
    let mut parser = RequestParser::default();
    let first = b"*1\r\n$4\r\nPING\r\n";
    parser.parse(first).unwrap();
    assert_eq!(parser.args(first).len(), 1);
    assert_eq!(parser.parse(b"*0\r\n"), Ok(Some(4)));
    assert_eq!(parser.args(b"*0\r\n").len(), 0);
}

#[test]
fn inline_commands() {
    let input = b"set \"a b\" 'c d'\r\n";
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(input), Ok(Some(input.len())));
    assert!(parser.last_was_inline());
    let args: Vec<&[u8]> = parser.args(input).iter().collect();
    assert_eq!(args, vec![&b"set"[..], b"a b", b"c d"]);
    assert_eq!(parse_all(b"\"\\x41\"\n").unwrap(), vec![cmd(&[b"A"])]);
    // Only one CR is stripped before the LF.
    assert_eq!(parse_all(b"a\r\r\n").unwrap(), vec![cmd(&[b"a"])]);
}

#[test]
fn inline_unbalanced_quotes() {
    assert_eq!(parse_one(b"set \"a b\r\n"), Err(ProtocolError::UnbalancedQuotes));
    assert_eq!(parse_one(b"set 'a'b\r\n"), Err(ProtocolError::UnbalancedQuotes));
    assert_eq!(ProtocolError::UnbalancedQuotes.to_string(), "Protocol error: unbalanced quotes in request");
}

#[test]
fn inline_too_big() {
    let limits = Limits { inline_bytes_max: 8, ..Limits::default() };
    let mut parser = RequestParser::new(limits);
    assert_eq!(parser.parse(b"12345678"), Ok(None));
    let err = parser.parse(b"123456789").unwrap_err();
    assert_eq!(err, ProtocolError::TooBigInlineRequest);
    assert_eq!(err.to_string(), "Protocol error: too big inline request");
    // A line of exactly the limit is accepted.
    let mut parser = RequestParser::new(limits);
    assert_eq!(parser.parse(b"12345678\nrest"), Ok(Some(9)));
    // The default limit is 64 KiB.
    let long = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(parse_one(&long), Err(ProtocolError::TooBigInlineRequest));
    assert_eq!(parse_one(&long[..64 * 1024]), Ok(None));
}

#[test]
fn multibulk_count_errors() {
    for input in [&b"*x\r\n"[..], b"*\r\n", b"*01\r\n", b"*1 \r\n", b"*2147483648\r\n", b"*99999999999999999999\r\n"] {
        let err = parse_one(input).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidMultibulkLength, "{}", input.escape_ascii());
        assert_eq!(err.to_string(), "Protocol error: invalid multibulk length");
    }
    assert_eq!(parse_one(b"*2147483647\r\n"), Ok(None));
    let limits = Limits { multibulk_len_max: 3, ..Limits::default() };
    assert_eq!(RequestParser::new(limits).parse(b"*3\r\n"), Ok(None));
    assert_eq!(RequestParser::new(limits).parse(b"*4\r\n"), Err(ProtocolError::InvalidMultibulkLength));
}

#[test]
fn multibulk_count_too_big() {
    let mut input = vec![b'*'];
    input.resize(64 * 1024, b'1');
    assert_eq!(parse_one(&input), Ok(None));
    input.push(b'1');
    let err = parse_one(&input).unwrap_err();
    assert_eq!(err, ProtocolError::TooBigMultibulkCount);
    assert_eq!(err.to_string(), "Protocol error: too big mbulk count string");
}

#[test]
fn bulk_count_too_big() {
    let mut input = b"*1\r\n$".to_vec();
    input.resize(5 + 64 * 1024, b'1');
    let err = parse_one(&input).unwrap_err();
    assert_eq!(err, ProtocolError::TooBigBulkCount);
    assert_eq!(err.to_string(), "Protocol error: too big bulk count string");
}

#[test]
fn expected_dollar() {
    let err = parse_one(b"*1\r\n+PING\r\n").unwrap_err();
    assert_eq!(err, ProtocolError::ExpectedDollar { got: b'+' });
    assert_eq!(err.to_string(), "Protocol error: expected '$', got '+'");
    // Like Redis, the check waits for the whole header line.
    assert_eq!(parse_one(b"*1\r\n+PI"), Ok(None));
    assert_eq!(parse_one(b"*1\r\n\r\n"), Err(ProtocolError::ExpectedDollar { got: b'\r' }));
}

#[test]
fn invalid_bulk_length() {
    for input in [&b"*1\r\n$-1\r\n"[..], b"*1\r\n$x\r\n", b"*1\r\n$\r\n", b"*1\r\n$+3\r\n", b"*1\r\n$03\r\n"] {
        let err = parse_one(input).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidBulkLength, "{}", input.escape_ascii());
        assert_eq!(err.to_string(), "Protocol error: invalid bulk length");
    }
}

#[test]
fn oversized_bulk_rejected_with_only_the_header_present() {
    assert_eq!(parse_one(b"*1\r\n$600000000\r\n"), Err(ProtocolError::InvalidBulkLength));
    assert_eq!(parse_one(b"*1\r\n$536870912\r\n"), Ok(None));
    let limits = Limits { bulk_bytes_max: 4, ..Limits::default() };
    assert_eq!(RequestParser::new(limits).parse(b"*1\r\n$5\r\n"), Err(ProtocolError::InvalidBulkLength));
    assert_eq!(RequestParser::new(limits).parse(b"*1\r\n$4\r\nabcd\r\n"), Ok(Some(14)));
}

#[test]
fn needed_bytes_reports_the_bulk_end() {
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(b"*2\r\n$3\r\nGET\r\n$"), Ok(None));
    assert_eq!(parser.needed_bytes(), None);
    let buf = b"*2\r\n$3\r\nGET\r\n$100\r\nab";
    assert_eq!(parser.parse(buf), Ok(None));
    assert_eq!(parser.needed_bytes(), Some(19 + 100 + 2));
}

#[test]
fn trailing_crlf_after_payload_is_skipped_unchecked() {
    // Redis skips the two bytes after a payload without looking at them.
    assert_eq!(parse_all(b"*1\r\n$1\r\naXY").unwrap(), vec![cmd(&[b"a"])]);
}

#[test]
fn declared_count_is_not_preallocated() {
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(b"*2000000000\r\n"), Ok(None));
    assert!(parser.spans.capacity() <= SPANS_RESERVE_MAX);
}

#[test]
fn huge_multibulk_in_small_chunks_is_linear() {
    // 1M arguments in 16 KiB chunks. A quadratic parser would rescan ~1M
    // spans per chunk (~10^10 steps); this finishes in well under a second.
    let arg_count = 1_000_000;
    let mut input = format!("*{arg_count}\r\n").into_bytes();
    for i in 0..arg_count {
        let arg = (i % 1000).to_string();
        input.extend_from_slice(format!("${}\r\n{}\r\n", arg.len(), arg).as_bytes());
    }
    let mut parser = RequestParser::default();
    let mut received = 0;
    let mut calls = 0;
    let done = loop {
        received = (received + 16 * 1024).min(input.len());
        calls += 1;
        if let Some(n) = parser.parse(&input[..received]).unwrap() {
            break n;
        }
    };
    assert_eq!(done, input.len());
    assert!(calls > 100);
    let args = parser.args(&input);
    assert_eq!(args.len(), arg_count);
    assert_eq!(args.get(999_999), b"999");
}

#[test]
fn memory_of_a_huge_command_is_released_by_the_next_one() {
    let mut input = b"*10000\r\n".to_vec();
    for _ in 0..10_000 {
        input.extend_from_slice(b"$1\r\na\r\n");
    }
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(&input), Ok(Some(input.len())));
    assert!(parser.spans.capacity() >= 10_000);
    assert_eq!(parser.parse(b"PING\r\n"), Ok(Some(6)));
    assert!(parser.spans.capacity() <= SPANS_RETAIN_MAX);
}

#[test]
fn long_header_arriving_byte_by_byte_is_not_rescanned() {
    // Scanning resumes where it stopped; the result is still an error once the
    // limit is crossed.
    let limits = Limits { inline_bytes_max: 1000, ..Limits::default() };
    let mut parser = RequestParser::new(limits);
    let input = vec![b'a'; 1001];
    for end in 1..=1000 {
        assert_eq!(parser.parse(&input[..end]), Ok(None));
    }
    assert_eq!(parser.parse(&input), Err(ProtocolError::TooBigInlineRequest));
}

#[test]
fn parser_is_reusable_after_an_error() {
    let mut parser = RequestParser::default();
    assert!(parser.parse(b"*x\r\n").is_err());
    assert_eq!(parser.parse(b"PING\r\n"), Ok(Some(6)));
    assert_eq!(parser.args(b"PING\r\n").get(0), b"PING");
}

#[test]
fn set_limits_applies_to_later_headers() {
    let mut parser = RequestParser::default();
    assert_eq!(parser.parse(b"*1\r\n"), Ok(None));
    parser.set_limits(Limits { bulk_bytes_max: 2, ..Limits::default() });
    assert_eq!(parser.parse(b"*1\r\n$3\r\n"), Err(ProtocolError::InvalidBulkLength));
}

#[test]
fn args_debug_is_readable() {
    let input = b"*2\r\n$3\r\nGET\r\n$2\r\n\x00a\r\n";
    let mut parser = RequestParser::default();
    parser.parse(input).unwrap();
    assert_eq!(format!("{:?}", parser.args(input)), r#"["GET", "\\x00a"]"#);
}

#[test]
fn skim_agrees_with_the_parser_on_length_and_second_argument() {
    let pipeline =
        b"*2\r\n$3\r\nGET\r\n$7\r\nkey:001\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n*1\r\n$4\r\nPING\r\n";
    let mut parser = RequestParser::default();
    let mut pos = 0;
    let mut seen = Vec::new();
    while pos < pipeline.len() {
        let rest = &pipeline[pos..];
        let (len, second) = RequestParser::skim(rest).expect("a complete canonical command");
        assert_eq!(parser.parse(rest).unwrap(), Some(len));
        let args = parser.args(rest);
        assert_eq!(second, (args.len() > 1).then(|| args.get(1)));
        seen.push(second.map(<[u8]>::to_vec));
        pos += len;
    }
    assert_eq!(seen, vec![Some(b"key:001".to_vec()), Some(b"k".to_vec()), None]);
    // Incomplete, inline, malformed and empty input: nothing, and no panic.
    for bad in [
        &b"*2\r\n$3\r\nGET\r\n$7\r\nkey:0"[..],
        b"*2\r\n$3\r\nGET\r\n$7\r\nkey:001\r",
        b"GET key\r\n",
        b"*2\r\n:3\r\nGET\r\n",
        b"*0\r\n",
        b"*2\r\n$99999999999999999999\r\n",
        b"",
    ] {
        assert_eq!(RequestParser::skim(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}
