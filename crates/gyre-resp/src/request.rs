//! [`RequestParser`]: the server-side parser of client requests, matching Redis
//! 7's `processMultibulkBuffer` and `processInlineBuffer`.
//!
//! A buffer starting with `*` is a multibulk request (`*<n>\r\n` then `n` times
//! `$<len>\r\n<payload>\r\n`); anything else is an inline command line.
//!
//! Invariants:
//! * Zero copy for multibulk: arguments are `(start, end)` spans into the
//!   caller's buffer. After warm-up (the span Vec has grown) parsing a request
//!   allocates nothing. Inline arguments are unescaped into an internal scratch
//!   buffer, so their spans point there instead.
//! * Resumable in linear time: on `Ok(None)` the parser keeps the spans parsed
//!   so far, the position reached and how far the current header line was
//!   scanned. The next call must pass a slice starting at the same byte, with
//!   more bytes appended, and continues from where it stopped, so a request
//!   arriving in many chunks costs O(total bytes), not O(chunks * bytes).
//! * Payloads are skipped by length, never scanned; the two bytes after a
//!   payload are skipped without checking them, as Redis does.
//!
//! Limits ([`Limits`]): header and inline lines are scanned at most
//! `inline_bytes_max + 1` bytes; counts and lengths are checked against
//! `multibulk_len_max` and `bulk_bytes_max` as soon as their header line is
//! complete, so an oversized request is rejected before its payload arrives.
//! The declared element count is never pre-allocated beyond
//! [`SPANS_RESERVE_MAX`] entries, and buffers grown by an unusually large
//! command are shrunk when the next command starts.

use crate::error::ProtocolError;
use crate::inline::split_inline;
use crate::limits::Limits;
use crate::num::{find_byte, parse_i64_redis};

/// Most span entries reserved up front for a declared multibulk count; beyond
/// this the Vec grows as elements actually arrive (a `*2147483647` header alone
/// must not allocate 32 GiB).
pub const SPANS_RESERVE_MAX: usize = 1024;

/// Span entries kept allocated between commands. A rare huge command (say 1M
/// arguments, 16 MiB of spans) must not pin its memory on an idle connection,
/// so larger allocations are shrunk back when the next command starts.
const SPANS_RETAIN_MAX: usize = 4096;

/// Inline scratch bytes kept allocated between commands, for the same reason.
const SCRATCH_RETAIN_BYTES_MAX: usize = 4096;

/// Where the parser stands within the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in progress; the next byte decides inline vs multibulk.
    Start,
    /// Looking for the newline ending an inline command.
    Inline,
    /// Looking for the CR ending the `*<n>` header.
    MultibulkHeader,
    /// Reading the `remaining` bulk elements.
    Bulks,
}

/// Result of looking for the end of a header line.
enum LineScan {
    /// The line ends with the CR at this index, and at least one byte follows it.
    Found(usize),
    /// Not enough bytes yet.
    NeedMore,
    /// More than `inline_bytes_max` bytes without a terminator.
    TooLong,
}

/// Server-side, resumable request parser. See the module documentation.
///
/// When `parse` returns `Ok(None)` it keeps its progress, and the next call
/// must pass a slice that starts at the same byte as before, now with more
/// bytes appended. After `Ok(Some(n))` the command occupies `buf[..n]` and its
/// arguments are available via [`RequestParser::args`] until the next call to
/// `parse`; the caller then calls `parse(&buf[n..])` for the next command.
/// After an error the parser is reset, but the connection should be closed.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: Limits,
    phase: Phase,
    /// Offset (from the slice start) of the next unparsed byte.
    pos_bytes: usize,
    /// Bytes of the line starting at `pos_bytes` already scanned for a
    /// terminator without finding one (keeps byte-by-byte arrival linear).
    scanned_bytes: usize,
    /// Multibulk elements still to read.
    remaining: usize,
    /// Length of the current bulk once its `$` header has been read.
    bulk_bytes: Option<usize>,
    /// Argument spans: into the caller's buffer (multibulk) or `scratch` (inline).
    spans: Vec<(usize, usize)>,
    /// Unescaped inline arguments.
    scratch: Vec<u8>,
    /// Whether the current/last command was inline.
    inline: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            phase: Phase::Start,
            pos_bytes: 0,
            scanned_bytes: 0,
            remaining: 0,
            bulk_bytes: None,
            spans: Vec::new(),
            scratch: Vec::new(),
            inline: false,
        }
    }

    /// Replaces the limits (e.g. after `CONFIG SET proto-max-bulk-len`). Takes
    /// effect for headers not yet read.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Parses one command from the start of `buf`.
    ///
    /// `Ok(Some(n))`: a complete command occupies `buf[..n]` (zero arguments
    /// means an empty command the server skips). `Ok(None)`: more bytes are
    /// needed; progress is kept. `Err`: the request is malformed or over a limit.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        if self.phase == Phase::Start {
            if buf.is_empty() {
                return Ok(None);
            }
            if let Some(consumed) = self.parse_fast(buf) {
                return Ok(Some(consumed));
            }
            self.begin(buf[0]);
        }
        assert!(self.pos_bytes <= buf.len(), "RequestParser resumed with a buffer shorter than the previous one");
        let result = match self.phase {
            Phase::Inline => self.parse_inline(buf),
            Phase::MultibulkHeader => self.parse_multibulk_header(buf),
            Phase::Bulks => self.parse_bulks(buf),
            Phase::Start => unreachable!("begin() leaves Start"),
        };
        if !matches!(result, Ok(None)) {
            self.finish();
        }
        result
    }

    /// The arguments of the command the last `parse` returned `Some` for.
    /// `buf` must be the slice passed to that call.
    ///
    /// # Panics
    /// If `buf` is shorter than the command the parser saw.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        let base = if self.inline { &self.scratch[..] } else { buf };
        Args { base, spans: &self.spans }
    }

    /// After `Ok(None)`: total number of bytes the buffer must hold (from the
    /// slice start) before the current bulk is complete, when known. Lets the
    /// caller reserve capacity once for a large value.
    pub fn needed_bytes(&self) -> Option<usize> {
        match (self.phase, self.bulk_bytes) {
            (Phase::Bulks, Some(len)) => Some(self.pos_bytes.saturating_add(len).saturating_add(2)),
            _ => None,
        }
    }

    /// Whether the current/last command was an inline one.
    pub fn last_was_inline(&self) -> bool {
        self.inline
    }

    /// The common case in one pass: a complete multibulk command with at most
    /// [`FAST_ARGS_MAX`] arguments and short, canonical headers, already whole in
    /// `buf`. Returns `None` for anything else (incomplete, unusual or invalid
    /// input), and the general parser then decides, so both paths give the
    /// same results; this one only skips the bookkeeping that resumption needs.
    fn parse_fast(&mut self, buf: &[u8]) -> Option<usize> {
        let (args_max, bulk_max) = (FAST_ARGS_MAX.min(self.limits.multibulk_len_max), self.limits.bulk_bytes_max);
        self.spans.clear();
        if self.spans.capacity() > SPANS_RETAIN_MAX {
            self.spans.shrink_to(SPANS_RETAIN_MAX);
        }
        let spans = &mut self.spans;
        let end = walk_fast(buf, args_max, |_, start, end| {
            spans.push((start, end));
            (end - start <= bulk_max).then_some(())
        })?;
        self.inline = false;
        Some(end)
    }

    /// Skims the complete command at the start of `buf` without parsing it
    /// into arguments: its length in bytes and its second argument (the
    /// first key of most commands), for a caller that wants to look ahead
    /// in a pipeline (the server warms the cache for the keys of the
    /// commands it is about to run). `None` for anything
    /// [`RequestParser::parse`] would not take in its fast path: an
    /// incomplete, inline, unusual or invalid command. Changes nothing.
    pub fn skim(buf: &[u8]) -> Option<(usize, Option<&[u8]>)> {
        let mut second = None;
        let end = walk_fast(buf, FAST_ARGS_MAX, |i, start, end| {
            if i == 1 {
                second = Some((start, end));
            }
            Some(())
        })?;
        Some((end, second.map(|(start, end)| &buf[start..end])))
    }

    /// Starts a new request whose first byte is `first`.
    fn begin(&mut self, first: u8) {
        self.spans.clear();
        self.spans.shrink_to(SPANS_RETAIN_MAX);
        self.scratch.clear();
        self.scratch.shrink_to(SCRATCH_RETAIN_BYTES_MAX);
        self.inline = first != b'*';
        self.phase = if self.inline { Phase::Inline } else { Phase::MultibulkHeader };
    }

    /// Resets the progress counters after a complete command or an error,
    /// keeping the spans so that `args` still works.
    fn finish(&mut self) {
        self.phase = Phase::Start;
        self.pos_bytes = 0;
        self.scanned_bytes = 0;
        self.remaining = 0;
        self.bulk_bytes = None;
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let max = self.limits.inline_bytes_max;
        let window_end = buf.len().min(max.saturating_add(1));
        let from = self.scanned_bytes.min(window_end);
        let Some(offset) = find_byte(&buf[from..window_end], b'\n') else {
            if buf.len() > max {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            self.scanned_bytes = window_end;
            return Ok(None);
        };
        let newline = from + offset;
        // "\r\n" and a bare "\n" both end the line, as in Redis.
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
        split_inline(&buf[..line_end], &mut self.scratch, &mut self.spans)?;
        Ok(Some(newline + 1))
    }

    fn parse_multibulk_header(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let cr = match self.scan_line(buf) {
            LineScan::Found(cr) => cr,
            LineScan::NeedMore => return Ok(None),
            LineScan::TooLong => return Err(ProtocolError::TooBigMultibulkCount),
        };
        let count = parse_i64_redis(&buf[1..cr]).ok_or(ProtocolError::InvalidMultibulkLength)?;
        let next = cr + 2;
        if count <= 0 {
            return Ok(Some(next));
        }
        let count = usize::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?;
        if count > self.limits.multibulk_len_max {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        self.spans.reserve(count.min(SPANS_RESERVE_MAX));
        self.remaining = count;
        self.pos_bytes = next;
        self.phase = Phase::Bulks;
        self.parse_bulks(buf)
    }

    fn parse_bulks(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulk_bytes {
                Some(len) => len,
                None => match self.read_bulk_header(buf)? {
                    Some(len) => len,
                    None => return Ok(None),
                },
            };
            let end = self.pos_bytes.saturating_add(len);
            if buf.len() < end.saturating_add(2) {
                self.bulk_bytes = Some(len);
                return Ok(None);
            }
            self.spans.push((self.pos_bytes, end));
            self.pos_bytes = end + 2;
            self.bulk_bytes = None;
            self.remaining -= 1;
        }
        Ok(Some(self.pos_bytes))
    }

    /// Reads a `$<len>` header at `pos_bytes`, advancing past it.
    fn read_bulk_header(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let cr = match self.scan_line(buf) {
            LineScan::Found(cr) => cr,
            LineScan::NeedMore => return Ok(None),
            LineScan::TooLong => return Err(ProtocolError::TooBigBulkCount),
        };
        let start = self.pos_bytes;
        if buf[start] != b'$' {
            return Err(ProtocolError::ExpectedDollar { got: buf[start] });
        }
        let len = parse_i64_redis(&buf[start + 1..cr])
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| len <= self.limits.bulk_bytes_max)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        self.pos_bytes = cr + 2;
        Ok(Some(len))
    }

    /// Looks for the CR ending the header line that starts at `pos_bytes`.
    /// Like Redis, a line is complete once one byte follows its CR (the LF is
    /// assumed, not checked).
    fn scan_line(&mut self, buf: &[u8]) -> LineScan {
        let start = self.pos_bytes;
        let max = self.limits.inline_bytes_max;
        let available = buf.len() - start;
        let window_end = start + available.min(max.saturating_add(1));
        let from = start + self.scanned_bytes.min(window_end - start);
        match find_byte(&buf[from..window_end], b'\r') {
            Some(offset) if from + offset + 1 < buf.len() => {
                self.scanned_bytes = 0;
                LineScan::Found(from + offset)
            }
            Some(offset) => {
                // The CR is the last byte: rescan from it once the LF arrives.
                self.scanned_bytes = from + offset - start;
                LineScan::NeedMore
            }
            None if available > max => LineScan::TooLong,
            None => {
                self.scanned_bytes = window_end - start;
                LineScan::NeedMore
            }
        }
    }
}

/// Most arguments the fast path handles; longer commands take the general path.
const FAST_ARGS_MAX: usize = 64;
/// Most digits of a header number on the fast path (up to 999,999,999).
const FAST_DIGITS_MAX: usize = 9;

/// Walks a complete multibulk command at the start of `buf` with at most
/// `args_max` arguments and short, canonical headers, calling `each` with
/// every argument's index and span (`None` from it stops the walk). The
/// command's length, or `None` when it is not such a command (incomplete,
/// unusual or invalid) or `each` refused an argument.
#[inline(always)]
fn walk_fast(buf: &[u8], args_max: usize, mut each: impl FnMut(usize, usize, usize) -> Option<()>) -> Option<usize> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let (count, mut pos) = fast_header_number(buf, 1)?;
    if count == 0 || count > args_max {
        return None;
    }
    for i in 0..count {
        if *buf.get(pos)? != b'$' {
            return None;
        }
        let (len, start) = fast_header_number(buf, pos + 1)?;
        let end = start.checked_add(len)?;
        if buf.len() < end.checked_add(2)? {
            return None;
        }
        each(i, start, end)?;
        pos = end + 2;
    }
    Some(pos)
}

/// A header number at `buf[pos..]` on the fast path: 1 to 9 digits without a
/// leading zero (a lone "0" is fine), then CR and one more byte (the LF, which
/// Redis does not check either). Returns the number and the position after the
/// line. `None` for anything the general path must judge.
#[inline]
fn fast_header_number(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let mut n = 0usize;
    let mut i = pos;
    loop {
        let b = *buf.get(i)?;
        match b {
            b'0'..=b'9' => {
                n = n * 10 + usize::from(b - b'0');
                i += 1;
                if i - pos > FAST_DIGITS_MAX {
                    return None;
                }
            }
            b'\r' => break,
            _ => return None,
        }
    }
    let digits = i - pos;
    if digits == 0 || (digits > 1 && buf[pos] == b'0') || i + 1 >= buf.len() {
        return None;
    }
    Some((n, i + 2))
}

/// A view of one command's arguments: argument `i` is a `&'a [u8]`.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    spans: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Number of arguments (the command name included).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the command is empty (the server skips it).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (start, end) = self.spans[i];
        &self.base[start..end]
    }

    /// The arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.spans.iter().map(move |&(start, end)| &base[start..end])
    }
}

/// One command's arguments owned in one buffer (a queued MULTI command, a
/// command a script runs): [`OwnedArgs::args`] gives the same view the parser
/// gives.
#[derive(Clone, Default, Debug)]
pub struct OwnedArgs {
    base: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl OwnedArgs {
    /// Copies `args`.
    pub fn from_args(args: &Args<'_>) -> OwnedArgs {
        OwnedArgs::from_slices(args.iter())
    }

    /// Copies each argument of `items`.
    pub fn from_slices<'b>(items: impl IntoIterator<Item = &'b [u8]>) -> OwnedArgs {
        let mut owned = OwnedArgs::default();
        for a in items {
            let start = owned.base.len();
            owned.base.extend_from_slice(a);
            owned.spans.push((start, owned.base.len()));
        }
        owned
    }

    /// The borrowed view.
    pub fn args(&self) -> Args<'_> {
        Args { base: &self.base, spans: &self.spans }
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.base.capacity() + self.spans.capacity() * std::mem::size_of::<(usize, usize)>()
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|arg| arg.escape_ascii().to_string())).finish()
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
