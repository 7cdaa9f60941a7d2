//! `--pipe`: mass insertion of a raw RESP stream from stdin, as redis-cli's
//! pipe mode does it.
//!
//! A writer thread copies stdin to the socket in fixed-size chunks (the input
//! is never held whole), then sends `ECHO <20 random hex chars>`. The calling
//! thread counts replies as they come, printing each error reply to stderr;
//! when the echo of its marker comes back, every earlier command has been
//! answered. Output and exit code are redis-cli's:
//!
//! ```text
//! All data transferred. Waiting for the last reply...
//! Last reply received from server.
//! errors: 1, replies: 3
//! ```
//!
//! exit 1 when any reply was an error, or when no reply came for
//! `--pipe-timeout` seconds after the input ended (0 waits forever).
//!
//! Limits: stdin is read [`CHUNK_BYTES`] at a time; one reply may take at
//! most [`REPLY_BYTES_MAX`] of buffer.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::scan::ReplyScanner;

/// Bytes copied from stdin per write.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Largest single reply buffered while counting.
pub const REPLY_BYTES_MAX: usize = 2 * gyre_resp::BULK_BYTES_MAX_DEFAULT;

/// Length of the end-of-input marker (redis-cli's `RDB_EOF_MARK_SIZE`).
const MARKER_LEN: usize = 20;

/// Totals at the end of a pipe run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Error replies.
    pub errors: u64,
    /// Replies to the input's commands (the marker's echo not counted).
    pub replies: u64,
}

/// Streams `input` to `stream` and counts the replies. `timeout` bounds the
/// wait for each reply once the input has ended (`None`: wait forever).
pub fn run(
    stream: TcpStream,
    input: impl Read + Send + 'static,
    timeout: Option<Duration>,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let marker = marker();
    let writer_stream = stream.try_clone().context("cloning the socket")?;
    let input_done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = Arc::clone(&input_done);
        let marker = marker.clone();
        std::thread::spawn(move || write_all_input(writer_stream, input, &marker, timeout, &done))
    };
    let mut reader = ReplyReader { stream, buf: Vec::new(), start: 0, scanner: ReplyScanner::new() };
    let mut expected_echo = format!("${MARKER_LEN}\r\n").into_bytes();
    expected_echo.extend_from_slice(&marker);
    expected_echo.extend_from_slice(b"\r\n");
    let mut summary = Summary { errors: 0, replies: 0 };
    let mut announced = false;
    loop {
        let reply = match reader.next_reply() {
            Ok(reply) => reply,
            Err(e) if is_timeout(&e) => {
                let secs = timeout.map_or(0, |t| t.as_secs());
                writeln!(out, "No replies for {secs} seconds: exiting.")?;
                summary.errors += 1;
                break;
            }
            Err(e) => {
                // A writer failure explains a closed link better.
                if let Ok(Err(write_err)) = writer.join() {
                    return Err(write_err);
                }
                return Err(e);
            }
        };
        if !announced && input_done.load(Ordering::Acquire) {
            writeln!(out, "All data transferred. Waiting for the last reply...")?;
            announced = true;
        }
        if reply.first() == Some(&b'-') {
            eprintln!("{}", String::from_utf8_lossy(&reply[1..reply.len() - 2]));
            summary.errors += 1;
        } else if reply == expected_echo.as_slice() {
            if !announced {
                writeln!(out, "All data transferred. Waiting for the last reply...")?;
            }
            writeln!(out, "Last reply received from server.")?;
            break;
        }
        summary.replies += 1;
    }
    let _ = reader.stream.shutdown(Shutdown::Both);
    if let Ok(Err(e)) = writer.join() {
        if summary.errors == 0 {
            return Err(e);
        }
    }
    writeln!(out, "errors: {}, replies: {}", summary.errors, summary.replies)?;
    Ok(summary)
}

/// Copies `input` to the socket, then the marker's ECHO; sets the read
/// timeout for the wait that follows.
fn write_all_input(
    mut stream: TcpStream,
    mut input: impl Read,
    marker: &[u8],
    timeout: Option<Duration>,
    done: &AtomicBool,
) -> anyhow::Result<()> {
    let mut chunk = vec![0u8; CHUNK_BYTES];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading stdin"),
        };
        stream.write_all(&chunk[..n]).context("writing to the server")?;
    }
    let mut echo = format!("*2\r\n$4\r\nECHO\r\n${MARKER_LEN}\r\n").into_bytes();
    echo.extend_from_slice(marker);
    echo.extend_from_slice(b"\r\n");
    stream.write_all(&echo).context("writing to the server")?;
    stream.set_read_timeout(timeout)?;
    done.store(true, Ordering::Release);
    Ok(())
}

/// 20 hex characters that no input is likely to echo by chance.
fn marker() -> Vec<u8> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut rng = crate::rng::Rng::new(nanos ^ (u64::from(std::process::id()) << 32));
    (0..MARKER_LEN).map(|_| b"0123456789abcdef"[rng.below(16) as usize]).collect()
}

fn is_timeout(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

/// Reads whole replies from the socket.
struct ReplyReader {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The next reply starts at `buf[start]`.
    start: usize,
    scanner: ReplyScanner,
}

impl ReplyReader {
    /// The next reply's bytes.
    fn next_reply(&mut self) -> anyhow::Result<&[u8]> {
        loop {
            if let Some(reply) = self.scanner.scan(&self.buf[self.start..])? {
                let at = self.start;
                self.start += reply.len;
                return Ok(&self.buf[at..at + reply.len]);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            if self.buf.len() >= REPLY_BYTES_MAX {
                bail!("reply larger than {REPLY_BYTES_MAX} bytes");
            }
            let len = self.buf.len();
            self.buf.resize(len + CHUNK_BYTES, 0);
            let read = self.stream.read(&mut self.buf[len..]);
            self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => bail!("Server closed the connection"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A fake server that answers each of the first `n` commands with
    /// `replies[i]`, then echoes the marker.
    fn fake(replies: Vec<&'static [u8]>) -> (TcpStream, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Wait for the marker's ECHO, then answer everything.
            while !seen.windows(8).any(|w| w == b"$4\r\nECHO") || !seen.ends_with(b"\r\n") {
                let n = socket.read(&mut buf).unwrap();
                assert!(n > 0);
                seen.extend_from_slice(&buf[..n]);
            }
            let marker = &seen[seen.len() - 22..seen.len() - 2];
            for reply in replies {
                socket.write_all(reply).unwrap();
            }
            socket.write_all(format!("$20\r\n{}\r\n", String::from_utf8_lossy(marker)).as_bytes()).unwrap();
        });
        (TcpStream::connect(addr).unwrap(), server)
    }

    #[test]
    fn counts_replies_and_errors_until_the_marker() {
        let (stream, server) = fake(vec![b"+OK\r\n", b"-ERR bad\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"]);
        let input: &'static [u8] = b"*1\r\n$4\r\nPING\r\n";
        let mut out = Vec::new();
        let summary = run(stream, input, Some(Duration::from_secs(10)), &mut out).unwrap();
        assert_eq!(summary, Summary { errors: 1, replies: 3 });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "All data transferred. Waiting for the last reply...\nLast reply received from server.\nerrors: 1, replies: 3\n"
        );
        server.join().unwrap();
    }

    #[test]
    fn markers_are_hex() {
        let m = marker();
        assert_eq!(m.len(), MARKER_LEN);
        assert!(m.iter().all(u8::is_ascii_hexdigit));
    }
}
