//! [`Frame`]: a client-side RESP2/RESP3 value, its parser [`parse_frame`] and
//! its encoder [`Frame::encode`]; plus [`encode_command`] for requests.
//!
//! Invariants and limits:
//! * No recursion on input: parsing uses an explicit stack of open aggregates,
//!   at most `Limits::nesting_depth_max` deep (a top-level array is depth 1).
//!   Encoding also walks an explicit stack, so any `Frame` encodes without
//!   risk of stack overflow.
//! * Declared lengths are checked before anything is buffered: bulk-like
//!   payloads against `bulk_bytes_max`, aggregate counts against
//!   `multibulk_len_max` (maps and attributes count key and value), numeric
//!   header lines against `inline_bytes_max`, simple string/error/big number
//!   lines against `bulk_bytes_max`. Aggregates reserve at most
//!   [`FRAME_RESERVE_MAX`] elements up front.
//! * Stateless: `Ok(None)` means "need more bytes"; the caller retries with the
//!   whole frame's bytes, so a frame arriving in many chunks is re-parsed from
//!   its start each time (acceptable client-side; replies are mostly small).
//! * Strict framing: lines and payloads must end with CRLF.
//! * `|attribute` frames are returned as their own [`Frame::Attribute`]; one
//!   nested inside an aggregate counts as an element of it.
//! * Streamed RESP3 strings/aggregates (`$?`, `*?`) are not supported.

use bytes::{BufMut, Bytes, BytesMut};

use crate::double::DoubleText;
use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::num::parse_i64_lenient;

/// Most elements an aggregate reserves up front, whatever its declared count.
pub const FRAME_RESERVE_MAX: usize = 1024;

/// Any RESP2/RESP3 value, as a client receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-text` or a RESP3 blob error `!len`.
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len` payload.
    Bulk(Bytes),
    /// `$-1`, `*-1` and RESP3 `_`.
    Null,
    /// RESP3 `,v`
    Double(f64),
    /// RESP3 `#t` / `#f`
    Boolean(bool),
    /// RESP3 `(digits`
    BigNumber(Bytes),
    /// RESP3 `=len` `fmt:text`
    Verbatim {
        /// The three-byte format, e.g. `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `fmt:`.
        text: Bytes,
    },
    /// `*n`
    Array(Vec<Frame>),
    /// RESP3 `%n` (n key/value pairs).
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~n`
    Set(Vec<Frame>),
    /// RESP3 `>n`
    Push(Vec<Frame>),
    /// RESP3 `|n` (n key/value pairs), returned as its own frame.
    Attribute(Vec<(Frame, Frame)>),
}

/// Parses one frame from the start of `buf`.
///
/// `Ok(Some((frame, consumed)))`: a frame occupies `buf[..consumed]`.
/// `Ok(None)`: more bytes are needed. `Err`: the bytes are not valid RESP or
/// exceed `limits`.
pub fn parse_frame(buf: &[u8], limits: &Limits) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut reader = Reader { buf, pos: 0, limits };
    let mut open: Vec<OpenAggregate> = Vec::new();
    loop {
        let Some(token) = reader.next_token()? else {
            return Ok(None);
        };
        let mut frame = match token {
            Token::Scalar(frame) => frame,
            Token::Aggregate(kind, count) => {
                if open.len() >= limits.nesting_depth_max {
                    return Err(ProtocolError::NestingTooDeep);
                }
                let aggregate = OpenAggregate::new(kind, count);
                if !aggregate.is_complete() {
                    open.push(aggregate);
                    continue;
                }
                aggregate.into_frame()
            }
        };
        // Hand the finished frame to its parent, closing every parent it completes.
        loop {
            let Some(parent) = open.last_mut() else {
                return Ok(Some((frame, reader.pos)));
            };
            parent.add(frame);
            if !parent.is_complete() {
                break;
            }
            frame = open.pop().expect("parent exists").into_frame();
        }
    }
}

/// Kinds of aggregate frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggregateKind {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

impl AggregateKind {
    fn has_pairs(self) -> bool {
        matches!(self, AggregateKind::Map | AggregateKind::Attribute)
    }
}

/// One lexical unit: a complete scalar, or the header of an aggregate with
/// its element count (pairs already doubled for maps).
enum Token {
    Scalar(Frame),
    Aggregate(AggregateKind, usize),
}

/// An aggregate whose elements are still arriving.
struct OpenAggregate {
    kind: AggregateKind,
    /// Child frames still expected (keys and values both count).
    remaining: usize,
    items: Vec<Frame>,
    pairs: Vec<(Frame, Frame)>,
    pending_key: Option<Frame>,
}

impl OpenAggregate {
    fn new(kind: AggregateKind, remaining: usize) -> Self {
        let reserve = remaining.min(FRAME_RESERVE_MAX);
        let (items, pairs) = if kind.has_pairs() {
            (Vec::new(), Vec::with_capacity(reserve / 2))
        } else {
            (Vec::with_capacity(reserve), Vec::new())
        };
        OpenAggregate { kind, remaining, items, pairs, pending_key: None }
    }

    fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    fn add(&mut self, frame: Frame) {
        debug_assert!(self.remaining > 0);
        self.remaining -= 1;
        if !self.kind.has_pairs() {
            self.items.push(frame);
        } else if let Some(key) = self.pending_key.take() {
            self.pairs.push((key, frame));
        } else {
            self.pending_key = Some(frame);
        }
    }

    fn into_frame(self) -> Frame {
        match self.kind {
            AggregateKind::Array => Frame::Array(self.items),
            AggregateKind::Set => Frame::Set(self.items),
            AggregateKind::Push => Frame::Push(self.items),
            AggregateKind::Map => Frame::Map(self.pairs),
            AggregateKind::Attribute => Frame::Attribute(self.pairs),
        }
    }
}

/// A cursor over the input; every method returns `Ok(None)` when the input
/// ends before the unit it reads.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl Reader<'_> {
    fn next_token(&mut self) -> Result<Option<Token>, ProtocolError> {
        let Some(&marker) = self.buf.get(self.pos) else {
            return Ok(None);
        };
        let start = self.pos;
        self.pos += 1;
        let token = match marker {
            b'*' | b'%' | b'~' | b'>' | b'|' => self.aggregate(marker)?,
            b'$' | b'!' | b'=' => self.blob(marker)?,
            _ => self.line_scalar(marker)?.map(Token::Scalar),
        };
        if token.is_none() {
            self.pos = start;
        }
        Ok(token)
    }

    /// Reads a CRLF-terminated line of at most `max_bytes` bytes. A bare CR
    /// or LF inside the line is an error: RESP lines cannot contain them.
    fn line(&mut self, max_bytes: usize) -> Result<Option<&[u8]>, ProtocolError> {
        let rest = &self.buf[self.pos..];
        let window = &rest[..rest.len().min(max_bytes.saturating_add(1))];
        let Some(cr) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if rest.len() > max_bytes {
                return Err(ProtocolError::LineTooLong);
            }
            return Ok(None);
        };
        if rest[cr] == b'\n' {
            return Err(ProtocolError::ExpectedCrlf);
        }
        match rest.get(cr + 1) {
            None => Ok(None),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(Some(&rest[..cr]))
            }
            Some(_) => Err(ProtocolError::ExpectedCrlf),
        }
    }

    /// Reads a length/count header line as an i64.
    fn header_number(&mut self, invalid: ProtocolError) -> Result<Option<i64>, ProtocolError> {
        let max = self.limits.inline_bytes_max;
        match self.line(max)? {
            None => Ok(None),
            Some(text) => parse_i64_lenient(text).map(Some).ok_or(invalid),
        }
    }

    fn aggregate(&mut self, marker: u8) -> Result<Option<Token>, ProtocolError> {
        let Some(count) = self.header_number(ProtocolError::InvalidMultibulkLength)? else {
            return Ok(None);
        };
        let kind = match marker {
            b'*' => AggregateKind::Array,
            b'%' => AggregateKind::Map,
            b'~' => AggregateKind::Set,
            b'>' => AggregateKind::Push,
            _ => AggregateKind::Attribute,
        };
        if count == -1 && kind == AggregateKind::Array {
            return Ok(Some(Token::Scalar(Frame::Null)));
        }
        let count = usize::try_from(count)
            .ok()
            .filter(|&count| count <= self.limits.multibulk_len_max)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        let children = if kind.has_pairs() { count.checked_mul(2) } else { Some(count) };
        let children = children.ok_or(ProtocolError::InvalidMultibulkLength)?;
        Ok(Some(Token::Aggregate(kind, children)))
    }

    /// `$`, `!` and `=`: a length header then that many bytes and CRLF.
    fn blob(&mut self, marker: u8) -> Result<Option<Token>, ProtocolError> {
        let Some(len) = self.header_number(ProtocolError::InvalidBulkLength)? else {
            return Ok(None);
        };
        if len == -1 && marker == b'$' {
            return Ok(Some(Token::Scalar(Frame::Null)));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.limits.bulk_bytes_max)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        let Some(payload) = self.payload(len)? else {
            return Ok(None);
        };
        let frame = match marker {
            b'$' => Frame::Bulk(Bytes::copy_from_slice(payload)),
            b'!' => Frame::Error(Bytes::copy_from_slice(payload)),
            _ => verbatim(payload)?,
        };
        Ok(Some(Token::Scalar(frame)))
    }

    /// `len` payload bytes followed by CRLF.
    fn payload(&mut self, len: usize) -> Result<Option<&[u8]>, ProtocolError> {
        let rest = &self.buf[self.pos..];
        if rest.len() < len.saturating_add(2) {
            return Ok(None);
        }
        if &rest[len..len + 2] != b"\r\n" {
            return Err(ProtocolError::ExpectedCrlf);
        }
        self.pos += len + 2;
        Ok(Some(&rest[..len]))
    }

    /// Scalars carried on one line: `+ - : , # ( _`.
    fn line_scalar(&mut self, marker: u8) -> Result<Option<Frame>, ProtocolError> {
        let max = match marker {
            b'+' | b'-' | b'(' => self.limits.bulk_bytes_max,
            b':' | b',' | b'#' | b'_' => self.limits.inline_bytes_max,
            _ => return Err(ProtocolError::InvalidTypeByte { got: marker }),
        };
        let Some(text) = self.line(max)? else {
            return Ok(None);
        };
        let frame = match marker {
            b'+' => Frame::Simple(Bytes::copy_from_slice(text)),
            b'-' => Frame::Error(Bytes::copy_from_slice(text)),
            b':' => Frame::Integer(parse_i64_lenient(text).ok_or(ProtocolError::InvalidInteger)?),
            b',' => Frame::Double(parse_double(text)?),
            b'#' => Frame::Boolean(parse_boolean(text)?),
            b'(' => Frame::BigNumber(parse_big_number(text)?),
            _ if text.is_empty() => Frame::Null,
            _ => return Err(ProtocolError::InvalidNull),
        };
        Ok(Some(frame))
    }
}

fn verbatim(payload: &[u8]) -> Result<Frame, ProtocolError> {
    match payload {
        [a, b, c, b':', text @ ..] => Ok(Frame::Verbatim { format: [*a, *b, *c], text: Bytes::copy_from_slice(text) }),
        _ => Err(ProtocolError::InvalidVerbatim),
    }
}

fn parse_double(text: &[u8]) -> Result<f64, ProtocolError> {
    std::str::from_utf8(text).ok().and_then(|s| s.parse::<f64>().ok()).ok_or(ProtocolError::InvalidDouble)
}

fn parse_boolean(text: &[u8]) -> Result<bool, ProtocolError> {
    match text {
        b"t" => Ok(true),
        b"f" => Ok(false),
        _ => Err(ProtocolError::InvalidBoolean),
    }
}

fn parse_big_number(text: &[u8]) -> Result<Bytes, ProtocolError> {
    let digits = match text.split_first() {
        Some((b'-' | b'+', rest)) => rest,
        _ => text,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError::InvalidBigNumber);
    }
    Ok(Bytes::copy_from_slice(text))
}

/// Children of an aggregate still to encode.
enum Children<'a> {
    Items(std::slice::Iter<'a, Frame>),
    Pairs(std::slice::Iter<'a, (Frame, Frame)>, Option<&'a Frame>),
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Frame;

    fn next(&mut self) -> Option<&'a Frame> {
        match self {
            Children::Items(items) => items.next(),
            Children::Pairs(pairs, pending_value) => {
                if let Some(value) = pending_value.take() {
                    return Some(value);
                }
                let (key, value) = pairs.next()?;
                *pending_value = Some(value);
                Some(key)
            }
        }
    }
}

impl Frame {
    /// Appends the native RESP3 encoding of this frame to `out`.
    ///
    /// `Null` is `_`. A `Simple` containing CR or LF has them replaced by
    /// spaces; an `Error` containing CR or LF is written as a blob error (`!`),
    /// which [`parse_frame`] reads back as the same `Error`.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut stack: Vec<Children<'_>> = Vec::new();
        let mut next = Some(self);
        while let Some(frame) = next {
            if let Some(children) = frame.encode_head(out) {
                stack.push(children);
            }
            next = None;
            while let Some(children) = stack.last_mut() {
                if let Some(child) = children.next() {
                    next = Some(child);
                    break;
                }
                stack.pop();
            }
        }
    }

    /// Writes a scalar, or an aggregate's header and returns its children.
    fn encode_head<'a>(&'a self, out: &mut BytesMut) -> Option<Children<'a>> {
        match self {
            Frame::Simple(text) => put_sanitized_line(out, b'+', text),
            Frame::Error(text) if text.contains(&b'\r') || text.contains(&b'\n') => {
                put_blob(out, b'!', &[text.as_ref()])
            }
            Frame::Error(text) => put_line(out, b'-', text),
            Frame::Integer(n) => put_line(out, b':', itoa::Buffer::new().format(*n).as_bytes()),
            Frame::Bulk(data) => put_blob(out, b'$', &[data.as_ref()]),
            Frame::Null => out.put_slice(b"_\r\n"),
            Frame::Double(v) => {
                let mut text = DoubleText::new();
                text.format(*v);
                put_line(out, b',', text.as_bytes());
            }
            Frame::Boolean(v) => out.put_slice(if *v { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(digits) => put_line(out, b'(', digits),
            Frame::Verbatim { format, text } => put_blob(out, b'=', &[&format[..], b":", text.as_ref()]),
            Frame::Array(items) => return Some(put_items(out, b'*', items)),
            Frame::Set(items) => return Some(put_items(out, b'~', items)),
            Frame::Push(items) => return Some(put_items(out, b'>', items)),
            Frame::Map(pairs) => return Some(put_pairs(out, b'%', pairs)),
            Frame::Attribute(pairs) => return Some(put_pairs(out, b'|', pairs)),
        }
        None
    }
}

fn put_items<'a>(out: &mut BytesMut, marker: u8, items: &'a [Frame]) -> Children<'a> {
    put_line(out, marker, itoa::Buffer::new().format(items.len()).as_bytes());
    Children::Items(items.iter())
}

fn put_pairs<'a>(out: &mut BytesMut, marker: u8, pairs: &'a [(Frame, Frame)]) -> Children<'a> {
    put_line(out, marker, itoa::Buffer::new().format(pairs.len()).as_bytes());
    Children::Pairs(pairs.iter(), None)
}

fn put_line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(marker);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn put_sanitized_line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    let start = out.len() + 1;
    put_line(out, marker, text);
    let end = out.len() - 2;
    for byte in &mut out[start..end] {
        if *byte == b'\r' || *byte == b'\n' {
            *byte = b' ';
        }
    }
}

/// `<marker><total len>\r\n<parts...>\r\n`.
fn put_blob(out: &mut BytesMut, marker: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    put_line(out, marker, itoa::Buffer::new().format(len).as_bytes());
    out.reserve(len + 2);
    for part in parts {
        out.put_slice(part);
    }
    out.put_slice(b"\r\n");
}

/// Appends `args` as a multibulk array of bulk strings (a client request).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let mut digits = itoa::Buffer::new();
    // Reserve once: each argument needs `$`, at most 20 length digits, two CRLFs.
    let total: usize = args.iter().map(|arg| arg.as_ref().len() + 25).sum();
    out.reserve(total + 25);
    put_line(out, b'*', digits.format(args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        put_line(out, b'$', digits.format(arg.len()).as_bytes());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
