//! [`Connection`]: one blocking TCP connection to a RESP server that sends
//! commands and reads reply frames.
//!
//! Invariants and limits:
//! * Every reply is parsed by `gyre_resp::parse_frame` under
//!   `Limits::default()` (bulk size, aggregate length, nesting depth), and the
//!   bytes buffered for one reply never exceed `reply_bytes_max`
//!   ([`REPLY_BYTES_MAX`] by default): a larger reply is an error, not growth.
//! * A malformed reply is an error ([`ConnError::Protocol`]); the connection
//!   must then be dropped, since its framing is lost.
//! * No read timeout: blocking commands (`BLPOP k 0`) wait as long as the
//!   server does, as in redis-cli.
//! * `parse_frame` is stateless, so a partly received reply is re-parsed
//!   from its start. To keep that linear, a reply is re-parsed only once the
//!   buffer has doubled since the last attempt, or when the socket has
//!   nothing more to read right now (checked with a non-blocking read).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::BytesMut;
use gyre_resp::{encode_command, parse_frame, Frame, Limits, ProtocolError};

use crate::tls::{Stream, TlsSetup};

/// Bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest reply buffered, in bytes: twice the largest bulk string
/// `Limits::default()` accepts, so one maximal value always fits.
pub const REPLY_BYTES_MAX: usize = 2 * gyre_resp::BULK_BYTES_MAX_DEFAULT;

/// Why a command could not get its reply.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The server closed the connection.
    #[error("Server closed the connection")]
    Closed,
    /// A socket error.
    #[error("{}", describe_io(.0))]
    Io(#[from] io::Error),
    /// The reply is not valid RESP or exceeds the protocol limits.
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// The reply is larger than the connection accepts.
    #[error("Protocol error: reply larger than {max_bytes} bytes")]
    ReplyTooLarge {
        /// The bound that was hit.
        max_bytes: usize,
    },
}

/// An I/O error as C's `strerror` words it, without Rust's "(os error N)".
pub fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    // Name resolution failures: keep getaddrinfo's own words, like hiredis.
    text.strip_prefix("failed to lookup address information: ").unwrap_or(text).to_string()
}

/// A connected client socket (plain or TLS) with its read buffer.
pub struct Connection {
    stream: Stream,
    /// Received bytes not yet consumed by a returned frame.
    buf: Vec<u8>,
    /// Encoded command being sent; reused between commands.
    out: BytesMut,
    limits: Limits,
    reply_bytes_max: usize,
}

impl Connection {
    /// Connects to `host:port`, trying each resolved address in turn, then
    /// runs the TLS handshake when `tls` is given. The error text is what
    /// follows "Could not connect to Redis at h:p: ".
    pub fn connect(host: &str, port: u16, tls: Option<&TlsSetup>) -> Result<Connection, String> {
        let addrs = (host, port).to_socket_addrs().map_err(|e| describe_io(&e))?;
        let mut last = String::from("Name or service not known");
        for addr in addrs {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    // Interactive round trips: don't let Nagle delay small commands.
                    let _ = stream.set_nodelay(true);
                    let stream = match tls {
                        None => Stream::Plain(stream),
                        Some(tls) => {
                            let name = tls.server_name.as_deref().unwrap_or(host);
                            let tls_stream = crate::tls::connect(&tls.config, name, stream)
                                .map_err(|e| format!("TLS handshake failed: {e}"))?;
                            Stream::Tls(Box::new(tls_stream))
                        }
                    };
                    return Ok(Connection::with_stream(stream, REPLY_BYTES_MAX));
                }
                Err(e) => last = describe_io(&e),
            }
        }
        Err(last)
    }

    /// Wraps a connected stream, bounding each reply to `reply_bytes_max` bytes.
    pub fn from_stream(stream: TcpStream, reply_bytes_max: usize) -> Connection {
        Connection::with_stream(Stream::Plain(stream), reply_bytes_max)
    }

    fn with_stream(stream: Stream, reply_bytes_max: usize) -> Connection {
        Connection { stream, buf: Vec::new(), out: BytesMut::new(), limits: Limits::default(), reply_bytes_max }
    }

    /// The plain socket, for a caller that takes over the protocol
    /// (`--pipe`); `None` over TLS. Must be called between replies:
    /// buffered bytes would be lost.
    pub fn into_stream(self) -> Option<TcpStream> {
        assert!(self.buf.is_empty(), "unread reply bytes when handing over the socket");
        match self.stream {
            Stream::Plain(stream) => Some(stream),
            Stream::Tls(_) => None,
        }
    }

    /// Sends one command.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ConnError> {
        self.out.clear();
        encode_command(args, &mut self.out);
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        if self.out.capacity() > 4 * READ_CHUNK_BYTES {
            // Don't keep a huge SET's buffer for the rest of the session.
            self.out = BytesMut::new();
        }
        Ok(())
    }

    /// Reads the next frame, whatever it is (reply, push or attribute).
    pub fn read_frame(&mut self) -> Result<Frame, ConnError> {
        // Buffered length at the last parse that needed more bytes.
        let mut parsed_len: usize = 0;
        let mut must_parse = true;
        loop {
            if must_parse || self.buf.len() >= parsed_len.saturating_mul(2) {
                if let Some((frame, used)) = parse_frame(&self.buf, &self.limits)? {
                    self.consume(used);
                    return Ok(frame);
                }
                parsed_len = self.buf.len();
            }
            if self.buf.len() >= self.reply_bytes_max {
                return Err(ConnError::ReplyTooLarge { max_bytes: self.reply_bytes_max });
            }
            // Bytes arrived since the last parse: don't block on the socket
            // before looking at them, the reply may already be complete.
            let unparsed = self.buf.len() > parsed_len;
            must_parse = match self.fill(unparsed) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                Err(e) => return Err(e.into()),
            };
        }
    }

    /// Reads once into the buffer, without blocking if `nonblocking`.
    fn fill(&mut self, nonblocking: bool) -> io::Result<usize> {
        let start = self.buf.len();
        let room = READ_CHUNK_BYTES.min(self.reply_bytes_max - start);
        self.buf.resize(start + room, 0);
        if nonblocking {
            self.stream.tcp().set_nonblocking(true)?;
        }
        let result = self.stream.read(&mut self.buf[start..]);
        if nonblocking {
            self.stream.tcp().set_nonblocking(false)?;
        }
        self.buf.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    fn consume(&mut self, used: usize) {
        self.buf.drain(..used);
        if self.buf.capacity() > 4 * READ_CHUNK_BYTES && self.buf.len() < READ_CHUNK_BYTES {
            // A big reply is done; give its memory back.
            self.buf.shrink_to(READ_CHUNK_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A connection to a one-shot fake server that writes `script` in the
    /// given chunks (with pauses so they arrive separately) and then closes.
    fn fake_server(chunks: Vec<Vec<u8>>, reply_bytes_max: usize) -> (Connection, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            for chunk in chunks {
                if socket.write_all(&chunk).is_err() {
                    return;
                }
                thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let stream = TcpStream::connect(addr).expect("connect");
        (Connection::from_stream(stream, reply_bytes_max), server)
    }

    #[test]
    fn reads_frames_split_across_chunks_and_pipelined() {
        let chunks = vec![b"*2\r\n$3\r\nfo".to_vec(), b"o\r\n:7\r\n+OK\r\n$".to_vec(), b"-1\r\n".to_vec()];
        let (mut conn, server) = fake_server(chunks, REPLY_BYTES_MAX);
        let foo = Frame::Bulk(bytes::Bytes::from_static(b"foo"));
        assert_eq!(conn.read_frame().unwrap(), Frame::Array(vec![foo, Frame::Integer(7)]));
        assert_eq!(conn.read_frame().unwrap(), Frame::Simple(bytes::Bytes::from_static(b"OK")));
        assert_eq!(conn.read_frame().unwrap(), Frame::Null);
        assert!(matches!(conn.read_frame(), Err(ConnError::Closed)));
        server.join().unwrap();
    }

    #[test]
    fn large_reply_arrives_whole() {
        let payload = vec![b'x'; 3 * READ_CHUNK_BYTES + 17];
        let mut wire = format!("${}\r\n", payload.len()).into_bytes();
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(b"\r\n");
        let (mut conn, server) = fake_server(vec![wire], REPLY_BYTES_MAX);
        assert_eq!(conn.read_frame().unwrap(), Frame::Bulk(payload.into()));
        server.join().unwrap();
    }

    #[test]
    fn malformed_reply_is_an_error() {
        let (mut conn, server) = fake_server(vec![b"?what\r\n".to_vec()], REPLY_BYTES_MAX);
        let err = conn.read_frame().unwrap_err();
        assert!(matches!(err, ConnError::Protocol(_)), "{err:?}");
        assert_eq!(err.to_string(), "Protocol error: invalid type byte '?'");
        server.join().unwrap();
    }

    #[test]
    fn over_limit_declared_bulk_is_refused_before_buffering() {
        let (mut conn, server) = fake_server(vec![b"$999999999999\r\n".to_vec()], REPLY_BYTES_MAX);
        assert!(matches!(conn.read_frame(), Err(ConnError::Protocol(ProtocolError::InvalidBulkLength))));
        server.join().unwrap();
    }

    #[test]
    fn reply_larger_than_the_bound_is_refused() {
        let mut wire = b"*1000\r\n".to_vec();
        for _ in 0..1000 {
            wire.extend_from_slice(b"$10\r\n0123456789\r\n");
        }
        let (mut conn, server) = fake_server(vec![wire], 4096);
        assert!(matches!(conn.read_frame(), Err(ConnError::ReplyTooLarge { max_bytes: 4096 })));
        drop(conn);
        server.join().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn io_errors_read_like_strerror() {
        let refused = io::Error::from_raw_os_error(111); // ECONNREFUSED on Linux
        assert_eq!(describe_io(&refused), "Connection refused");
    }
}
