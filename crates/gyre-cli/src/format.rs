//! Reply formatting: the exact text redis-cli 7 prints for a reply, in its
//! two everyday modes, plus CSV and JSON.
//!
//! * [`OutputMode::Tty`] (redis-cli's "standard" output): `(integer) 1`,
//!   quoted and escaped strings, `(nil)`, `(error) ...`, numbered and
//!   indented aggregates (`1)` arrays, `1~` sets, `1#` maps with `=>`).
//! * [`OutputMode::Raw`]: payloads as they are, one aggregate element per line,
//!   nothing for nil, errors as their text followed by an empty line (as
//!   redis-cli 7 does: the error's own newline plus the reply terminator).
//!
//! * [`OutputMode::Csv`] and [`OutputMode::Json`]: `--csv` / `--json`, see
//!   `structured`.
//!
//! Invariants: formatting never fails and never recurses: aggregates are
//! walked with an explicit work stack, so any [`Frame`] the parser accepted,
//! however deep, formats in bounded stack space. Output is bytes, not UTF-8:
//! raw mode passes binary payloads through untouched.
//!
//! Known differences from redis-cli 7.0 (deliberate): RESP3 big numbers print
//! as `(big number) N` (7.0 aborts with "Unknown reply type"; later versions
//! print this), and a nested RESP3 attribute prints like a map (hiredis
//! cannot parse attributes at all). Doubles print in Redis 7.2's spelling of
//! the value, since [`Frame::Double`] keeps the value rather than the text.

use gyre_resp::{format_double, Frame};

use crate::structured::{write_csv, write_json};

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Human-friendly, as redis-cli prints to a terminal.
    Tty,
    /// Payloads only, as redis-cli prints to a pipe or with `--raw`.
    Raw,
    /// `--csv`: one comma-separated line per reply (see `structured`).
    Csv,
    /// `--json`: one JSON value per reply (see `structured`).
    Json,
}

/// Formats a whole reply in `mode`, including its trailing newline.
pub fn format_reply(frame: &Frame, mode: OutputMode) -> Vec<u8> {
    let mut out = Vec::new();
    match mode {
        OutputMode::Tty => write_tty(frame, &mut out),
        OutputMode::Raw => write_raw(frame, &mut out),
        OutputMode::Csv => write_csv(frame, &mut out),
        OutputMode::Json => write_json(frame, &mut out),
    }
    if mode != OutputMode::Tty {
        out.push(b'\n');
    }
    out
}

/// Formats a reply that redis-cli always prints verbatim (`INFO`,
/// `CLIENT LIST`, ...): raw text with no terminator added, since the text
/// already ends with one.
pub fn format_verbatim(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    write_raw(frame, &mut out);
    out
}

/// Formats an out-of-band RESP3 push. In TTY mode a client-side caching
/// invalidation gets redis-cli's one-line form
/// (`-> invalidate: 'k1', 'k2'`); anything else prints as a reply.
pub fn format_push(frame: &Frame, mode: OutputMode) -> Vec<u8> {
    if mode == OutputMode::Tty {
        if let Some(keys) = invalidated_keys(frame) {
            let mut out = b"-> invalidate: ".to_vec();
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.push(b'\'');
                if let Frame::Bulk(bytes) | Frame::Simple(bytes) = key {
                    out.extend_from_slice(bytes);
                }
                out.push(b'\'');
            }
            out.push(b'\n');
            return out;
        }
    }
    format_reply(frame, mode)
}

/// The keys of an `invalidate` push (`>2 "invalidate" *n keys`), if it is one.
fn invalidated_keys(frame: &Frame) -> Option<&[Frame]> {
    match frame {
        Frame::Push(items) => match items.as_slice() {
            [Frame::Bulk(kind), Frame::Array(keys)] if kind.as_ref() == b"invalidate" => Some(keys),
            _ => None,
        },
        _ => None,
    }
}

/// Appends `bytes` double-quoted with redis-cli's escaping (`sdscatrepr`):
/// `\\ \" \n \r \t \a \b`, printable ASCII as is, anything else as `\xhh`.
pub fn push_quoted(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\x07' => out.extend_from_slice(b"\\a"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// One pending step of the TTY walk.
enum TtyStep<'a> {
    /// Print this frame; continuation lines are indented by `indent` spaces.
    Frame { frame: &'a Frame, indent: usize },
    /// Print an element's number (`  3) `). Every element but the first is
    /// preceded by the parent's indent: the first shares the line its parent's
    /// own number (or `=>`) already started.
    Number { indent: usize, first: bool, number: usize, width: usize, sep: u8 },
    /// Join a map key's line to its value with ` => `.
    MapValue { value: &'a Frame, indent: usize },
}

fn write_tty(frame: &Frame, out: &mut Vec<u8>) {
    let mut stack = vec![TtyStep::Frame { frame, indent: 0 }];
    while let Some(step) = stack.pop() {
        match step {
            TtyStep::Frame { frame, indent } => tty_frame(frame, indent, out, &mut stack),
            TtyStep::Number { indent, first, number, width, sep } => {
                if !first {
                    out.resize(out.len() + indent, b' ');
                }
                out.extend_from_slice(format!("{number:>width$}{} ", char::from(sep)).as_bytes());
            }
            TtyStep::MapValue { value, indent } => {
                // The key ended its line; the value goes on the same one.
                if out.last() == Some(&b'\n') {
                    out.pop();
                }
                out.extend_from_slice(b" => ");
                if is_multiline(value) {
                    // A multi-line value starts on its own line so its
                    // numbers line up.
                    out.push(b'\n');
                    out.resize(out.len() + indent, b' ');
                }
                stack.push(TtyStep::Frame { frame: value, indent });
            }
        }
    }
}

/// An aggregate as the TTY walk sees it: plain elements or key/value pairs
/// (one of the two is empty), the character after each number, and the text
/// for an empty one.
struct Aggregate<'a> {
    items: &'a [Frame],
    pairs: &'a [(Frame, Frame)],
    sep: u8,
    empty: &'static [u8],
}

impl<'a> Aggregate<'a> {
    fn of(frame: &'a Frame) -> Option<Aggregate<'a>> {
        let list = |items: &'a [Frame], sep, empty| Aggregate { items, pairs: &[], sep, empty };
        Some(match frame {
            Frame::Array(items) => list(items, b')', b"(empty array)\n"),
            Frame::Push(items) => list(items, b')', b"(empty push)\n"),
            Frame::Set(items) => list(items, b'~', b"(empty set)\n"),
            Frame::Map(pairs) | Frame::Attribute(pairs) => {
                Aggregate { items: &[], pairs, sep: b'#', empty: b"(empty hash)\n" }
            }
            _ => return None,
        })
    }
}

/// Prints a scalar, or queues an aggregate's elements on `stack`.
fn tty_frame<'a>(frame: &'a Frame, indent: usize, out: &mut Vec<u8>, stack: &mut Vec<TtyStep<'a>>) {
    let Some(Aggregate { items, pairs, sep, empty }) = Aggregate::of(frame) else {
        return tty_scalar(frame, out);
    };
    let count = items.len() + pairs.len();
    if count == 0 {
        out.extend_from_slice(empty);
        return;
    }
    let width = count.to_string().len();
    let child = indent + width + 2;
    // Pushed in reverse so that element 1 pops first.
    for (i, item) in items.iter().enumerate().rev() {
        stack.push(TtyStep::Frame { frame: item, indent: child });
        stack.push(TtyStep::Number { indent, first: i == 0, number: i + 1, width, sep });
    }
    for (i, (key, value)) in pairs.iter().enumerate().rev() {
        stack.push(TtyStep::MapValue { value, indent: child });
        stack.push(TtyStep::Frame { frame: key, indent: child });
        stack.push(TtyStep::Number { indent, first: i == 0, number: i + 1, width, sep });
    }
}

fn tty_scalar(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(text) => out.extend_from_slice(text),
        Frame::Error(text) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(text);
        }
        Frame::Integer(n) => out.extend_from_slice(format!("(integer) {n}").as_bytes()),
        Frame::Bulk(bytes) => push_quoted(bytes, out),
        Frame::Null => out.extend_from_slice(b"(nil)"),
        Frame::Double(v) => {
            out.extend_from_slice(b"(double) ");
            format_double(*v, out);
        }
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::BigNumber(digits) => {
            out.extend_from_slice(b"(big number) ");
            out.extend_from_slice(digits);
        }
        Frame::Verbatim { text, .. } => out.extend_from_slice(text),
        Frame::Array(_) | Frame::Map(_) | Frame::Set(_) | Frame::Push(_) | Frame::Attribute(_) => {
            unreachable!("aggregates are handled by tty_frame")
        }
    }
    out.push(b'\n');
}

/// Whether the TTY form of `frame` spans several lines (redis-cli's
/// `cliIsMultilineValueTTY`), walking single-element chains iteratively.
fn is_multiline(mut frame: &Frame) -> bool {
    loop {
        match frame {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => match items.as_slice() {
                [] => return false,
                [only] => frame = only,
                _ => return true,
            },
            Frame::Map(pairs) | Frame::Attribute(pairs) => match pairs.as_slice() {
                [] => return false,
                [(_, value)] => frame = value,
                _ => return true,
            },
            _ => return false,
        }
    }
}

/// One pending step of the raw walk.
enum RawStep<'a> {
    Frame(&'a Frame),
    Text(&'static [u8]),
}

fn write_raw(frame: &Frame, out: &mut Vec<u8>) {
    let mut stack = vec![RawStep::Frame(frame)];
    while let Some(step) = stack.pop() {
        let frame = match step {
            RawStep::Text(text) => {
                out.extend_from_slice(text);
                continue;
            }
            RawStep::Frame(frame) => frame,
        };
        match frame {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(RawStep::Frame(item));
                    if i > 0 {
                        stack.push(RawStep::Text(b"\n"));
                    }
                }
            }
            Frame::Map(pairs) | Frame::Attribute(pairs) => {
                for (i, (key, value)) in pairs.iter().enumerate().rev() {
                    stack.push(RawStep::Frame(value));
                    stack.push(RawStep::Text(b" "));
                    stack.push(RawStep::Frame(key));
                    if i > 0 {
                        stack.push(RawStep::Text(b"\n"));
                    }
                }
            }
            scalar => raw_scalar(scalar, out),
        }
    }
}

fn raw_scalar(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(bytes) | Frame::Bulk(bytes) | Frame::BigNumber(bytes) => out.extend_from_slice(bytes),
        Frame::Verbatim { text, .. } => out.extend_from_slice(text),
        Frame::Error(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Null => {}
        Frame::Double(v) => format_double(*v, out),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Array(_) | Frame::Map(_) | Frame::Set(_) | Frame::Push(_) | Frame::Attribute(_) => {
            unreachable!("aggregates are handled by write_raw")
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn simple(s: &str) -> Frame {
        Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn tty(frame: &Frame) -> String {
        String::from_utf8(format_reply(frame, OutputMode::Tty)).expect("utf8 in tests")
    }

    fn raw(frame: &Frame) -> String {
        String::from_utf8(format_reply(frame, OutputMode::Raw)).expect("utf8 in tests")
    }

    #[test]
    fn scalars_in_both_modes() {
        let verbatim = Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"line1\nline2") };
        // (frame, tty text, raw text), checked against redis-cli 7.0.15.
        let table: Vec<(Frame, &str, &str)> = vec![
            (simple("OK"), "OK\n", "OK\n"),
            (err("ERR unknown command"), "(error) ERR unknown command\n", "ERR unknown command\n\n"),
            (Frame::Integer(1), "(integer) 1\n", "1\n"),
            (Frame::Integer(-42), "(integer) -42\n", "-42\n"),
            (bulk("bar"), "\"bar\"\n", "bar\n"),
            (bulk(""), "\"\"\n", "\n"),
            (Frame::Null, "(nil)\n", "\n"),
            (Frame::Double(2.5), "(double) 2.5\n", "2.5\n"),
            (Frame::Double(1e300), "(double) 1e+300\n", "1e+300\n"),
            (Frame::Double(f64::INFINITY), "(double) inf\n", "inf\n"),
            (Frame::Boolean(true), "(true)\n", "(true)\n"),
            (Frame::Boolean(false), "(false)\n", "(false)\n"),
            (
                Frame::BigNumber(Bytes::from_static(b"12345678901234567890")),
                "(big number) 12345678901234567890\n",
                "12345678901234567890\n",
            ),
            (verbatim, "line1\nline2\n", "line1\nline2\n"),
        ];
        for (frame, want_tty, want_raw) in table {
            assert_eq!(tty(&frame), want_tty, "tty {frame:?}");
            assert_eq!(raw(&frame), want_raw, "raw {frame:?}");
        }
    }

    #[test]
    fn tty_escaping_matches_sdscatrepr() {
        let frame = Frame::Bulk(Bytes::from_static(b"a\"b\\c\n\r\t\x07\x08\x00\x7f\xc3\xa9 ~"));
        assert_eq!(tty(&frame), "\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\x7f\\xc3\\xa9 ~\"\n");
        // Raw mode passes binary through untouched.
        assert_eq!(format_reply(&frame, OutputMode::Raw), b"a\"b\\c\n\r\t\x07\x08\x00\x7f\xc3\xa9 ~\n");
    }

    #[test]
    fn flat_and_empty_arrays() {
        let frame = Frame::Array(vec![bulk("a"), bulk("b"), bulk("c d"), bulk("x\ny")]);
        assert_eq!(tty(&frame), "1) \"a\"\n2) \"b\"\n3) \"c d\"\n4) \"x\\ny\"\n");
        assert_eq!(raw(&frame), "a\nb\nc d\nx\ny\n");
        assert_eq!(tty(&Frame::Array(vec![])), "(empty array)\n");
        assert_eq!(raw(&Frame::Array(vec![])), "\n");
        assert_eq!(tty(&Frame::Set(vec![])), "(empty set)\n");
        assert_eq!(tty(&Frame::Map(vec![])), "(empty hash)\n");
        assert_eq!(tty(&Frame::Push(vec![])), "(empty push)\n");
    }

    #[test]
    fn nested_arrays_indent_by_number_width() {
        // Captured from redis-cli 7.0.15:
        // EVAL "return {1,{'a','b',{'c',{}}},'x',<lrange of 1..11>}" 0
        let eleven = Frame::Array((1..=11).map(|i| bulk(&i.to_string())).collect());
        let frame = Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![bulk("a"), bulk("b"), Frame::Array(vec![bulk("c"), Frame::Array(vec![])])]),
            bulk("x"),
            eleven,
        ]);
        let want = "\
1) (integer) 1
2) 1) \"a\"
   2) \"b\"
   3) 1) \"c\"
      2) (empty array)
3) \"x\"
4)  1) \"1\"
    2) \"2\"
    3) \"3\"
    4) \"4\"
    5) \"5\"
    6) \"6\"
    7) \"7\"
    8) \"8\"
    9) \"9\"
   10) \"10\"
   11) \"11\"
";
        assert_eq!(tty(&frame), want);
        assert_eq!(raw(&Frame::Array(vec![Frame::Array(vec![bulk("a"), bulk("b")]), bulk("c")])), "a\nb\nc\n");
    }

    #[test]
    fn maps_sets_and_pushes() {
        // DEBUG PROTOCOL map / set under RESP3, from redis-cli 7.0.15.
        let map = Frame::Map((0..3).map(|i| (Frame::Integer(i), Frame::Boolean(i == 1))).collect());
        assert_eq!(tty(&map), "1# (integer) 0 => (false)\n2# (integer) 1 => (true)\n3# (integer) 2 => (false)\n");
        assert_eq!(raw(&map), "0 (false)\n1 (true)\n2 (false)\n");
        let set = Frame::Set(vec![Frame::Integer(0), Frame::Integer(1)]);
        assert_eq!(tty(&set), "1~ (integer) 0\n2~ (integer) 1\n");
        assert_eq!(raw(&set), "0\n1\n");
        let push = Frame::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]);
        assert_eq!(tty(&push), "1) \"message\"\n2) \"ch\"\n3) \"hi\"\n");
    }

    #[test]
    fn map_values_that_span_lines_start_on_their_own_line() {
        // EVAL "return {map={a=1,b={1,2}}}" 0 with -3, from redis-cli 7.0.15.
        let frame = Frame::Map(vec![
            (bulk("a"), Frame::Integer(1)),
            (bulk("b"), Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])),
        ]);
        assert_eq!(tty(&frame), "1# \"a\" => (integer) 1\n2# \"b\" => \n   1) (integer) 1\n   2) (integer) 2\n");
        // A one-element aggregate stays on the key's line.
        let one = Frame::Map(vec![(bulk("k"), Frame::Array(vec![bulk("v")]))]);
        assert_eq!(tty(&one), "1# \"k\" => 1) \"v\"\n");
        // Inside an array, the map's continuation lines use the array's indent.
        let nested = Frame::Array(vec![bulk("x"), Frame::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))])]);
        assert_eq!(tty(&nested), "1) \"x\"\n2) 1# \"a\" => \"1\"\n   2# \"b\" => \"2\"\n");
    }

    #[test]
    fn invalidate_push_has_a_one_line_form() {
        let push = Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("k1"), bulk("k2")])]);
        assert_eq!(format_push(&push, OutputMode::Tty), b"-> invalidate: 'k1', 'k2'\n");
        assert_eq!(format_push(&push, OutputMode::Raw), b"invalidate\nk1\nk2\n");
        let other = Frame::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]);
        assert_eq!(format_push(&other, OutputMode::Tty), format_reply(&other, OutputMode::Tty));
    }

    #[test]
    fn verbatim_commands_print_text_without_terminator() {
        assert_eq!(format_verbatim(&bulk("# Server\r\nredis_version:7\r\n")), b"# Server\r\nredis_version:7\r\n");
    }

    #[test]
    fn deep_nesting_formats_without_recursion() {
        let mut frame = bulk("leaf");
        for _ in 0..100_000 {
            frame = Frame::Array(vec![frame]);
        }
        let text = format_reply(&frame, OutputMode::Raw);
        assert_eq!(text, b"leaf\n");
        let text = format_reply(&frame, OutputMode::Tty);
        assert!(text.ends_with(b"1) \"leaf\"\n"));
        // Dropping 100k nested Vecs recurses in Drop; unwind it by hand.
        let mut current = frame;
        while let Frame::Array(mut items) = current {
            current = items.pop().unwrap_or(Frame::Null);
        }
    }
}
