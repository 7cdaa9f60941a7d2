//! [`ReplyScanner`]: finds where one RESP2/RESP3 reply ends without building
//! it, for the paths that only count replies (`bench`, `--pipe`).
//!
//! Invariants:
//! * No allocation and no recursion: an aggregate only adds to a count of
//!   elements still expected, so any nesting depth scans in constant space.
//! * Resumable: when the reply is incomplete the scanner keeps the offset of
//!   the first element it could not finish and the count still expected, so
//!   the next call continues there instead of rescanning from the start. The
//!   caller must pass the same reply start (bytes may only be appended).
//! * Bulk payloads are skipped by their declared length and must end in CRLF;
//!   anything else malformed is a [`ScanError`] and the stream is unusable.
//!
//! Limits: a declared length above [`DECLARED_LEN_MAX`] is an error, so a
//! hostile length cannot overflow the offsets.

/// Largest bulk or aggregate length accepted (Redis's own proto-max-bulk-len
/// ceiling is far below).
pub const DECLARED_LEN_MAX: i64 = 1 << 40;

/// A reply stream that is not RESP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// A type byte RESP does not define.
    #[error("Protocol error: invalid type byte '{}'", char::from(*.0))]
    InvalidType(u8),
    /// A length that is not a number, is negative (other than -1) or too large.
    #[error("Protocol error: invalid length")]
    InvalidLength,
    /// A bulk payload not followed by CRLF.
    #[error("Protocol error: bulk payload not terminated by CRLF")]
    MissingTerminator,
}

/// One complete reply found by [`ReplyScanner::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes the reply takes, from its first byte.
    pub len: usize,
    /// The reply's type byte (`b'-'` or `b'!'` for an error).
    pub kind: u8,
}

impl Scanned {
    /// Whether the reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self.kind, b'-' | b'!')
    }
}

/// Scanning state for the reply at the start of the buffer.
#[derive(Debug, Clone, Default)]
pub struct ReplyScanner {
    /// Offset of the next element to scan.
    pos: usize,
    /// Elements still expected (0 means a new reply: one is expected).
    pending: u64,
}

impl ReplyScanner {
    /// A scanner at the start of a reply.
    pub fn new() -> ReplyScanner {
        ReplyScanner::default()
    }

    /// Scans the reply starting at `buf[0]`. Returns `Ok(None)` while it is
    /// incomplete (call again with more bytes appended); on `Some` the scanner
    /// is reset for the next reply.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<Scanned>, ScanError> {
        if self.pending == 0 {
            self.pending = 1;
            self.pos = 0;
        }
        while self.pending > 0 {
            let Some(next) = scan_element(buf, self.pos)? else {
                return Ok(None);
            };
            self.pos = next.end;
            self.pending = self.pending - 1 + next.children;
        }
        let len = self.pos;
        self.pos = 0;
        Ok(Some(Scanned { len, kind: buf[0] }))
    }
}

/// One element's header (and payload, for bulk types).
struct Element {
    /// Offset just past the element's own bytes (not its children).
    end: usize,
    /// Elements that follow as its children.
    children: u64,
}

fn scan_element(buf: &[u8], pos: usize) -> Result<Option<Element>, ScanError> {
    let Some(&kind) = buf.get(pos) else { return Ok(None) };
    let Some(cr) = find_crlf(buf, pos + 1) else { return Ok(None) };
    let line = &buf[pos + 1..cr];
    let end = cr + 2;
    let element = match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Element { end, children: 0 },
        b'$' | b'=' | b'!' => match parse_len(line)? {
            None => Element { end, children: 0 },
            Some(n) => {
                let payload_end = end + n as usize;
                if buf.len() < payload_end + 2 {
                    return Ok(None);
                }
                if &buf[payload_end..payload_end + 2] != b"\r\n" {
                    return Err(ScanError::MissingTerminator);
                }
                Element { end: payload_end + 2, children: 0 }
            }
        },
        b'*' | b'~' | b'>' => Element { end, children: parse_len(line)?.unwrap_or(0) },
        b'%' => Element { end, children: 2 * parse_len(line)?.unwrap_or(0) },
        // An attribute map precedes the reply it describes.
        b'|' => Element { end, children: 2 * parse_len(line)?.unwrap_or(0) + 1 },
        other => return Err(ScanError::InvalidType(other)),
    };
    Ok(Some(element))
}

/// Index of the `\r` of the first CRLF at or after `from`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut at = 0;
    while let Some(i) = rest[at..].iter().position(|&b| b == b'\r') {
        let cr = at + i;
        match rest.get(cr + 1) {
            Some(b'\n') => return Some(from + cr),
            Some(_) => at = cr + 1,
            None => return None,
        }
    }
    None
}

/// A declared length: `None` for -1 (null), else the count.
fn parse_len(line: &[u8]) -> Result<Option<u64>, ScanError> {
    if line == b"-1" {
        return Ok(None);
    }
    if line.is_empty() || line.len() > 15 || !line.iter().all(u8::is_ascii_digit) {
        return Err(ScanError::InvalidLength);
    }
    let n = line.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
    if n > DECLARED_LEN_MAX {
        return Err(ScanError::InvalidLength);
    }
    Ok(Some(n as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(wire: &[u8]) -> Scanned {
        ReplyScanner::new().scan(wire).expect("valid").expect("complete")
    }

    #[test]
    fn scalars_and_nulls() {
        for wire in [&b"+OK\r\n"[..], b":12\r\n", b"$-1\r\n", b"_\r\n", b",1.5\r\n", b"#t\r\n", b"$0\r\n\r\n"] {
            assert_eq!(whole(wire).len, wire.len(), "{wire:?}");
        }
        let err = whole(b"-ERR x\r\n");
        assert!(err.is_error());
        assert!(!whole(b"$3\r\nfoo\r\n").is_error());
    }

    #[test]
    fn aggregates_nested_and_followed_by_more() {
        let wire = b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n%1\r\n+k\r\n$1\r\nv\r\n*0\r\n+NEXT\r\n";
        assert_eq!(whole(wire).len, wire.len() - b"+NEXT\r\n".len());
        let attr = b"|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n";
        assert_eq!(whole(attr).len, attr.len());
    }

    #[test]
    fn resumes_byte_by_byte() {
        let wire = b"*2\r\n$5\r\nhello\r\n*1\r\n$-1\r\n:7\r\n";
        let reply_len = wire.len() - 4;
        let mut scanner = ReplyScanner::new();
        for cut in 0..reply_len {
            assert_eq!(scanner.scan(&wire[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(scanner.scan(wire), Ok(Some(Scanned { len: reply_len, kind: b'*' })));
        // Reset: the next reply scans from its own start.
        assert_eq!(scanner.scan(&wire[reply_len..]), Ok(Some(Scanned { len: 4, kind: b':' })));
    }

    #[test]
    fn payload_may_contain_crlf() {
        let wire = b"$4\r\n\r\n\r\n\r\n";
        assert_eq!(whole(wire).len, wire.len());
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut s = ReplyScanner::new();
        assert_eq!(s.scan(b"?x\r\n"), Err(ScanError::InvalidType(b'?')));
        assert_eq!(ReplyScanner::new().scan(b"$abc\r\n"), Err(ScanError::InvalidLength));
        assert_eq!(ReplyScanner::new().scan(b"*-5\r\n"), Err(ScanError::InvalidLength));
        assert_eq!(ReplyScanner::new().scan(b"$99999999999999\r\n"), Err(ScanError::InvalidLength));
        assert_eq!(ReplyScanner::new().scan(b"$1\r\nabc\r\n"), Err(ScanError::MissingTerminator));
    }

    #[test]
    fn huge_declared_aggregates_cost_nothing_up_front() {
        assert_eq!(ReplyScanner::new().scan(b"*1000000000\r\n:1\r\n"), Ok(None));
    }
}
