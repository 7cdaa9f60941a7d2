//! [`ReplyWriter`]: encodes server replies straight into the connection's
//! output buffer, in the client's protocol ([`Protocol::Resp2`] or
//! [`Protocol::Resp3`]), without building an intermediate tree.
//!
//! Invariants: every method appends exactly one complete RESP element (or the
//! header of an aggregate, whose elements the caller writes next); numbers are
//! formatted on the stack (itoa, [`crate::format_double`]), so the only
//! allocation is the output buffer's own growth. Simple strings and errors
//! cannot carry CR or LF on the wire, so those bytes are replaced by spaces
//! (Redis does the same for errors). RESP3-only types degrade to their Redis 7
//! RESP2 equivalents.

use bytes::{BufMut, BytesMut};

use crate::double::DoubleText;

/// The protocol a client negotiated (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Protocol {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// Writes replies directly into an output buffer in the client's protocol.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    out: &'a mut BytesMut,
    proto: Protocol,
}

impl<'a> ReplyWriter<'a> {
    /// A writer appending to `out` in protocol `proto`.
    pub fn new(out: &'a mut BytesMut, proto: Protocol) -> Self {
        ReplyWriter { out, proto }
    }

    /// The protocol replies are written in.
    /// The output buffer itself (to run nested commands that write their own
    /// replies into it, as EXEC does).
    pub fn buf(&mut self) -> &mut BytesMut {
        self.out
    }

    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    /// Switches the protocol of the replies written from now on (HELLO answers
    /// in the protocol it negotiates).
    pub fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.out.put_slice(b"+OK\r\n");
    }

    /// A simple string `+s` (CR/LF inside replaced by spaces).
    pub fn simple(&mut self, s: &[u8]) {
        self.line(b'+', s);
    }

    /// An error `-msg`; `msg` includes the code (`b"ERR syntax error"`).
    /// CR/LF inside are replaced by spaces.
    pub fn error(&mut self, msg: &[u8]) {
        self.line(b'-', msg);
    }

    /// An integer `:v`.
    pub fn integer(&mut self, v: i64) {
        self.header(b':', v);
    }

    /// A bulk string `$len` + payload.
    pub fn bulk(&mut self, b: &[u8]) {
        self.header_usize(b'$', b.len());
        self.out.reserve(b.len() + 2);
        self.out.put_slice(b);
        self.out.put_slice(b"\r\n");
    }

    /// `v` formatted in decimal as a bulk string.
    pub fn bulk_int(&mut self, v: i64) {
        let mut digits = itoa::Buffer::new();
        self.bulk(digits.format(v).as_bytes());
    }

    /// A null value: RESP2 `$-1`, RESP3 `_`.
    pub fn null(&mut self) {
        self.out.put_slice(match self.proto {
            Protocol::Resp2 => b"$-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    /// A null array: RESP2 `*-1`, RESP3 `_`.
    pub fn null_array(&mut self) {
        self.out.put_slice(match self.proto {
            Protocol::Resp2 => b"*-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    /// An array header `*len`; `len` elements must follow.
    pub fn array(&mut self, len: usize) {
        self.header_usize(b'*', len);
    }

    /// A map header: RESP3 `%pairs`, RESP2 `*(2*pairs)`; `2*pairs` elements
    /// (key, value, key, value...) must follow.
    pub fn map(&mut self, pairs: usize) {
        match self.proto {
            Protocol::Resp2 => self.header_usize(b'*', pairs.saturating_mul(2)),
            Protocol::Resp3 => self.header_usize(b'%', pairs),
        }
    }

    /// A set header: RESP3 `~len`, RESP2 `*len`.
    pub fn set(&mut self, len: usize) {
        self.header_usize(self.resp3_or_array(b'~'), len);
    }

    /// A push header: RESP3 `>len`, RESP2 `*len`.
    pub fn push(&mut self, len: usize) {
        self.header_usize(self.resp3_or_array(b'>'), len);
    }

    /// A double: RESP3 `,v`, RESP2 a bulk string of the same text.
    pub fn double(&mut self, v: f64) {
        let mut text = DoubleText::new();
        text.format(v);
        match self.proto {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// A boolean: RESP3 `#t`/`#f`, RESP2 `:1`/`:0`.
    pub fn boolean(&mut self, v: bool) {
        self.out.put_slice(match (self.proto, v) {
            (Protocol::Resp3, true) => b"#t\r\n",
            (Protocol::Resp3, false) => b"#f\r\n",
            (Protocol::Resp2, true) => b":1\r\n",
            (Protocol::Resp2, false) => b":0\r\n",
        });
    }

    /// A verbatim string: RESP3 `=len` + `fmt:text`, RESP2 a bulk of `text`.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header_usize(b'=', text.len() + 4);
                self.out.reserve(text.len() + 6);
                self.out.put_slice(format);
                self.out.put_u8(b':');
                self.out.put_slice(text);
                self.out.put_slice(b"\r\n");
            }
        }
    }

    /// A big number: RESP3 `(digits`, RESP2 a bulk of `digits`.
    pub fn big_number(&mut self, digits: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(digits),
            Protocol::Resp3 => self.line(b'(', digits),
        }
    }

    /// Already-encoded bytes, appended as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.put_slice(bytes);
    }

    fn resp3_or_array(&self, resp3_marker: u8) -> u8 {
        match self.proto {
            Protocol::Resp2 => b'*',
            Protocol::Resp3 => resp3_marker,
        }
    }

    /// `<marker><text>\r\n` with CR/LF in `text` replaced by spaces, so the
    /// line cannot be cut short or inject a reply.
    fn line(&mut self, marker: u8, text: &[u8]) {
        self.out.reserve(text.len() + 3);
        self.out.put_u8(marker);
        let start = self.out.len();
        self.out.put_slice(text);
        for byte in &mut self.out[start..] {
            if *byte == b'\r' || *byte == b'\n' {
                *byte = b' ';
            }
        }
        self.out.put_slice(b"\r\n");
    }

    fn header(&mut self, marker: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.put_header(marker, digits.format(n).as_bytes());
    }

    fn header_usize(&mut self, marker: u8, n: usize) {
        let mut digits = itoa::Buffer::new();
        self.put_header(marker, digits.format(n).as_bytes());
    }

    fn put_header(&mut self, marker: u8, digits: &[u8]) {
        self.out.reserve(digits.len() + 3);
        self.out.put_u8(marker);
        self.out.put_slice(digits);
        self.out.put_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes written by `f` in RESP2 and in RESP3.
    fn both(f: impl Fn(&mut ReplyWriter<'_>)) -> (Vec<u8>, Vec<u8>) {
        let mut out2 = BytesMut::new();
        f(&mut ReplyWriter::new(&mut out2, Protocol::Resp2));
        let mut out3 = BytesMut::new();
        f(&mut ReplyWriter::new(&mut out3, Protocol::Resp3));
        (out2.to_vec(), out3.to_vec())
    }

    fn assert_both(f: impl Fn(&mut ReplyWriter<'_>), resp2: &[u8], resp3: &[u8]) {
        let (got2, got3) = both(f);
        assert_eq!(got2.escape_ascii().to_string(), resp2.escape_ascii().to_string(), "RESP2");
        assert_eq!(got3.escape_ascii().to_string(), resp3.escape_ascii().to_string(), "RESP3");
    }

    #[test]
    fn protocol_accessor_and_default() {
        let mut out = BytesMut::new();
        assert_eq!(ReplyWriter::new(&mut out, Protocol::Resp3).protocol(), Protocol::Resp3);
        assert_eq!(Protocol::default(), Protocol::Resp2);
    }

    #[test]
    fn same_in_both_protocols() {
        assert_both(|w| w.ok(), b"+OK\r\n", b"+OK\r\n");
        assert_both(|w| w.simple(b"PONG"), b"+PONG\r\n", b"+PONG\r\n");
        assert_both(|w| w.simple(b"a\r\nb"), b"+a  b\r\n", b"+a  b\r\n");
        assert_both(|w| w.error(b"ERR syntax error"), b"-ERR syntax error\r\n", b"-ERR syntax error\r\n");
        assert_both(|w| w.error(b"ERR x\ny"), b"-ERR x y\r\n", b"-ERR x y\r\n");
        assert_both(|w| w.integer(-42), b":-42\r\n", b":-42\r\n");
        assert_both(|w| w.integer(i64::MIN), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n");
        assert_both(|w| w.bulk(b"a\r\nb"), b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n");
        assert_both(|w| w.bulk(b""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        assert_both(|w| w.bulk_int(1234), b"$4\r\n1234\r\n", b"$4\r\n1234\r\n");
        assert_both(|w| w.bulk_int(-7), b"$2\r\n-7\r\n", b"$2\r\n-7\r\n");
        assert_both(|w| w.array(3), b"*3\r\n", b"*3\r\n");
        assert_both(|w| w.raw(b"+X\r\n"), b"+X\r\n", b"+X\r\n");
    }

    #[test]
    fn nulls() {
        assert_both(|w| w.null(), b"$-1\r\n", b"_\r\n");
        assert_both(|w| w.null_array(), b"*-1\r\n", b"_\r\n");
    }

    #[test]
    fn resp3_aggregates_degrade_to_arrays() {
        assert_both(|w| w.map(2), b"*4\r\n", b"%2\r\n");
        assert_both(|w| w.set(5), b"*5\r\n", b"~5\r\n");
        assert_both(|w| w.push(3), b"*3\r\n", b">3\r\n");
    }

    #[test]
    fn doubles() {
        assert_both(|w| w.double(1.23), b"$4\r\n1.23\r\n", b",1.23\r\n");
        assert_both(|w| w.double(1.0), b"$1\r\n1\r\n", b",1\r\n");
        assert_both(|w| w.double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        assert_both(|w| w.double(f64::NEG_INFINITY), b"$4\r\n-inf\r\n", b",-inf\r\n");
        assert_both(|w| w.double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
        assert_both(|w| w.double(1e20), b"$5\r\n1e+20\r\n", b",1e+20\r\n");
    }

    #[test]
    fn booleans() {
        assert_both(|w| w.boolean(true), b":1\r\n", b"#t\r\n");
        assert_both(|w| w.boolean(false), b":0\r\n", b"#f\r\n");
    }

    #[test]
    fn verbatim_and_big_number() {
        assert_both(|w| w.verbatim(b"txt", b"hello"), b"$5\r\nhello\r\n", b"=9\r\ntxt:hello\r\n");
        assert_both(
            |w| w.big_number(b"3492890328409238509324850943850943825024385"),
            b"$43\r\n3492890328409238509324850943850943825024385\r\n",
            b"(3492890328409238509324850943850943825024385\r\n",
        );
    }

    #[test]
    fn sequence_of_replies_appends() {
        let (resp2, resp3) = both(|w| {
            w.map(1);
            w.bulk(b"k");
            w.boolean(true);
        });
        assert_eq!(resp2, b"*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(resp3, b"%1\r\n$1\r\nk\r\n#t\r\n");
    }
}
