//! One client connection: read, execute every complete command, write.
//!
//! The loop reads what the socket has, executes every complete command in the
//! buffer in order, and writes all their replies with one write. Replies are
//! flushed early when they exceed [`OUT_FLUSH_BYTES`], which bounds the memory a
//! client that sends requests but never reads can make us hold: we stop reading
//! from it until it reads (TCP backpressure), so its cost is one buffer.
//!
//! Limits: bulk length (`proto-max-bulk-len`), inline line length (64 KB) and
//! the multibulk count are enforced by the parser at the header; the query buffer
//! (`client-query-buffer-limit`) here. A protocol error is answered with
//! `-ERR Protocol error: ...` and the connection is closed, as Redis does.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use gyre_engine::MutationLog;
use gyre_resp::{Args, Limits, ReplyWriter, RequestParser};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tracing::debug;

use crate::client::{ClientState, CmdName, ReplyMode};
use crate::cmd::{self, Call};
use crate::shared::{unix_ms, Shared};

/// Replies are written once this many bytes are pending, even mid-batch.
pub const OUT_FLUSH_BYTES: usize = 64 * 1024;
/// Read buffer growth step.
const READ_CHUNK_BYTES: usize = 16 * 1024;

fn limits(shared: &Shared) -> Limits {
    Limits {
        bulk_bytes_max: shared.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..Limits::default()
    }
}

/// Serves one connection until the client leaves, misbehaves or is killed.
pub async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut client: ClientState) {
    let _ = stream.set_nodelay(true);
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut parser = RequestParser::new(limits(&shared));
    let mut generation = shared.config.hot.generation.load(Ordering::Acquire);
    let mut log = MutationLog::new();
    loop {
        let want = parser.needed_bytes().unwrap_or(0).saturating_sub(input.len()).max(READ_CHUNK_BYTES);
        input.reserve(want);
        match read_some(&stream, &mut input).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        let g = shared.config.hot.generation.load(Ordering::Acquire);
        if g != generation {
            generation = g;
            parser.set_limits(limits(&shared));
        }
        let (consumed, outcome) =
            execute_buffered(&input, &mut parser, &shared, &mut client, &mut out, &mut log, &mut stream).await;
        input.advance(consumed);
        let query_limit = shared.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
        if input.len() > query_limit {
            tracing::warn!(client = client.info.id, addr = %client.info.addr, bytes = input.len(), "closing client that reached max query buffer length");
            return;
        }
        client.info.query_buf_bytes.store(input.len(), Ordering::Relaxed);
        if !out.is_empty() && write_out(&mut stream, &mut out, &shared).await.is_err() {
            return;
        }
        match outcome {
            Outcome::Continue => {}
            Outcome::Close => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

/// Reads what the socket holds into `input`'s spare capacity. A read shorter
/// than the space offered means the socket was drained, so readiness is
/// cleared at once: the next call waits for epoll instead of first making a
/// read() that can only return EAGAIN (one syscall per request saved for
/// request/reply clients). tokio only clears if no newer readiness event was
/// seen since, so data arriving meanwhile is never missed.
async fn read_some(stream: &TcpStream, input: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        let spare = input.capacity() - input.len();
        match stream.try_read_buf(input) {
            Ok(n) => {
                if n > 0 && n < spare {
                    let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(std::io::ErrorKind::WouldBlock.into()));
                }
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

enum Outcome {
    Continue,
    Close,
}

async fn write_out(stream: &mut TcpStream, out: &mut BytesMut, shared: &Shared) -> std::io::Result<()> {
    shared.stats.net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    let r = stream.write_all(out).await;
    out.clear();
    r
}

/// Executes every complete command at the front of `input`. Returns the bytes
/// consumed and whether to keep the connection.
async fn execute_buffered(
    input: &[u8],
    parser: &mut RequestParser,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    stream: &mut TcpStream,
) -> (usize, Outcome) {
    let mut pos = 0;
    let mut executed = 0u64;
    // One clock read per batch: the commands of one read share an instant, as
    // they would have if they had arrived in one packet to a single-threaded
    // server.
    let now_ms = unix_ms();
    let outcome = loop {
        let rest = &input[pos..];
        match parser.parse(rest) {
            Ok(Some(n)) => {
                let args = parser.args(rest);
                pos += n;
                if args.is_empty() {
                    continue;
                }
                executed += 1;
                execute(args, shared, client, out, log, now_ms);
                if client.close_after_reply {
                    break Outcome::Close;
                }
                if out.len() >= OUT_FLUSH_BYTES && write_out(stream, out, shared).await.is_err() {
                    break Outcome::Close;
                }
            }
            Ok(None) => break Outcome::Continue,
            Err(e) => {
                debug!(client = client.info.id, addr = %client.info.addr, error = %e, "protocol error, closing connection");
                ReplyWriter::new(out, client.proto).error(format!("ERR {e}").as_bytes());
                break Outcome::Close;
            }
        }
    };
    if executed > 0 {
        shared.stats.commands_processed.fetch_add(executed, Ordering::Relaxed);
        client.publish();
    }
    (pos, outcome)
}

/// True when a memory limit is set and the allocator reports more in use.
#[inline]
fn over_maxmemory(shared: &Shared) -> bool {
    let limit = shared.config.hot.maxmemory.load(Ordering::Relaxed);
    limit != 0 && crate::memory::allocated_bytes() as u64 > limit
}

/// Runs one command and writes its reply (unless CLIENT REPLY says otherwise).
pub fn execute(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) {
    let mark = out.len();
    if client.reply == ReplyMode::SkipNext {
        client.reply = ReplyMode::Skipping;
    }
    match cmd::resolve(&args, &mut client.last_spec) {
        Ok((top, spec)) => {
            client.current_cmd = CmdName::Known { top: top.name, sub: (!std::ptr::eq(top, spec)).then_some(spec.name) };
            let proto = client.proto;
            let result = if spec.has_flag(cmd::flags::DENYOOM) && over_maxmemory(shared) {
                Err(cmd::err("OOM command not allowed when used memory > 'maxmemory'."))
            } else {
                let mut call = Call { args, out: ReplyWriter::new(out, proto), shared, client, log, now_ms };
                (spec.handler)(&mut call)
            };
            if let Err(e) = result {
                ReplyWriter::new(out, proto).error(e.to_string().as_bytes());
            }
        }
        Err(e) => {
            client.current_cmd = CmdName::Unknown;
            ReplyWriter::new(out, client.proto).error(e.to_string().as_bytes());
        }
    }
    // The durability layer takes the mutations here; until it exists they have
    // been applied to memory only.
    log.clear();
    match client.reply {
        ReplyMode::On | ReplyMode::SkipNext => {}
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::Skipping => {
            out.truncate(mark);
            client.reply = ReplyMode::On;
        }
    }
}
