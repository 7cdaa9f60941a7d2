//! One client connection: read, execute every complete command (through
//! `dispatch`), write.
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
use gyre_engine::{MutationLog, PREFETCH_KEYS_MAX};
use gyre_resp::{Limits, ReplyWriter, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use crate::blocking;
use crate::client::ClientState;
use crate::commit::{commit, Ticket};
use crate::dispatch::{self, Exec};
use crate::shared::Shared;
use crate::tls::ClientStream;

/// Replies are written once this many bytes are pending, even mid-batch.
pub const OUT_FLUSH_BYTES: usize = 64 * 1024;
/// Read buffer growth step.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Read buffer of a new connection. A client that sends small commands and
/// then idles (a pooled connection) never holds more; the first read that
/// fills it switches the connection to [`READ_CHUNK_BYTES`] (docs/MEMORY.md).
const FIRST_READ_BYTES: usize = 1024;

fn limits(shared: &Shared) -> Limits {
    Limits {
        bulk_bytes_max: shared.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..Limits::default()
    }
}

/// Serves one connection until the client leaves, misbehaves or is killed.
///
/// Until its first bytes arrive a plain TCP connection waits with only its
/// socket and client record; the client state, the buffers, the parser and the state of a
/// running batch (a future of a kilobyte and more) are allocated then (see
/// docs/MEMORY.md: idle connections cost less than in Redis). A TLS
/// connection has read already (its handshake) and goes straight on.
#[allow(clippy::manual_async_fn)] // on purpose: see the comment in the body
pub fn serve<S: ClientStream>(
    stream: S,
    shared: Arc<Shared>,
    info: Arc<crate::client::ClientInfo>,
) -> impl std::future::Future<Output = ()> {
    // A block rather than an `async fn`, so the arguments are held once in
    // the future, and a peek through `poll_peek` rather than `readable()`: a
    // fresh socket may report readiness before any byte arrived (the peek
    // waits again then), and it needs no waiter node in the future.
    async move {
        info.fd.store(std::os::fd::AsRawFd::as_raw_fd(stream.tcp()), Ordering::Relaxed);
        if (&stream as &dyn std::any::Any).is::<tokio::net::TcpStream>() {
            let mut byte = [0u8; 1];
            let peek = std::future::poll_fn(|cx| {
                let mut buf = tokio::io::ReadBuf::new(&mut byte);
                stream.tcp().poll_peek(cx, &mut buf)
            });
            // `timeout` applies to a client that never sends, as to one that
            // stops; its timer is boxed so that the common case stays small.
            let secs = shared.config.hot.timeout_secs.load(Ordering::Relaxed);
            let peeked = if secs == 0 {
                Some(peek.await)
            } else {
                Box::pin(tokio::time::timeout(std::time::Duration::from_secs(secs), peek)).await.ok()
            };
            match peeked {
                Some(Ok(_)) => {}
                Some(Err(_)) => return,
                None => {
                    debug!(client = info.id, "closing idle client");
                    return;
                }
            }
        }
        let mut client = ClientState::new(info);
        client.auth = crate::acl::ClientAuth::connection(&shared.acl);
        client.relays = shared.config.settings().cluster.as_ref().is_some_and(|c| c.forward);
        Box::pin(serve_active(stream, shared, client)).await
    }
}

async fn serve_active<S: ClientStream>(mut stream: S, shared: Arc<Shared>, mut client: ClientState) {
    let mut input = BytesMut::with_capacity(FIRST_READ_BYTES);
    let mut read_chunk = FIRST_READ_BYTES;
    let mut bufs = Buffers {
        // Grows with the replies (and keeps its size), rather than 16 KiB up front.
        out: BytesMut::new(),
        log: MutationLog::new(),
        pending: Pending::default(),
    };
    let mut parser = RequestParser::new(limits(&shared));
    let mut generation = shared.config.hot.generation.load(Ordering::Acquire);
    loop {
        input.reserve(read_reserve_bytes(input.len(), parser.needed_bytes(), read_chunk));
        let spare = input.capacity() - input.len();
        // A subscriber also wakes for messages published to it.
        let read = match client.pubsub.as_ref().map(|s| s.sub.clone()) {
            None => match crate::limits::read_or_idle(&mut stream, &mut input, &shared, client.info.id).await {
                Some(r) => Some(r),
                None => return,
            },
            Some(sub) => tokio::select! {
                r = stream.read_buf(&mut input) => Some(r),
                () = sub.notified() => None,
            },
        };
        match read {
            None => {
                if write_messages(&mut stream, &client, &shared).await.is_err() {
                    return;
                }
                continue;
            }
            Some(Ok(0) | Err(_)) => return,
            Some(Ok(n)) => {
                shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                if n == spare {
                    read_chunk = READ_CHUNK_BYTES;
                }
            }
        }
        let g = shared.config.hot.generation.load(Ordering::Acquire);
        if g != generation {
            generation = g;
            parser.set_limits(limits(&shared));
        }
        let (consumed, outcome) =
            execute_buffered(&input, &mut parser, &shared, &mut client, &mut bufs, &mut stream).await;
        input.advance(consumed);
        let query_limit = shared.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
        if input.len() > query_limit {
            tracing::warn!(client = client.info.id, addr = %client.info.addr, bytes = input.len(), "closing client that reached max query buffer length");
            return;
        }
        client.info.query_buf_bytes.store(input.len(), Ordering::Relaxed);
        client.info.query_buf_free.store(input.capacity() - input.len(), Ordering::Relaxed);
        if flush(&mut stream, &mut bufs.out, &shared, &mut bufs.pending, client.proto).await.is_err() {
            return;
        }
        if write_messages(&mut stream, &client, &shared).await.is_err() {
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

/// Writes the messages published to this connection since the last time
/// (after the replies of its own commands, so a SUBSCRIBE confirmation
/// precedes the channel's messages).
async fn write_messages<S: ClientStream>(stream: &mut S, client: &ClientState, shared: &Shared) -> std::io::Result<()> {
    let Some(sub) = &client.pubsub else { return Ok(()) };
    let mut msgs = sub.sub.take();
    if msgs.is_empty() {
        return Ok(());
    }
    write_out(stream, &mut msgs, shared).await
}

/// How much buffer space to offer the next read. For a large declared bulk the
/// buffer grows geometrically (at most doubling) towards the declared size
/// instead of reserving it at once: a header alone must not make the server
/// commit memory (a thousand clients each declaring 512 MB would otherwise
/// claim half a terabyte), while doubling keeps the copying linear.
fn read_reserve_bytes(buffered: usize, needed: Option<usize>, chunk: usize) -> usize {
    let missing = needed.unwrap_or(0).saturating_sub(buffered);
    missing.min(buffered.max(chunk)).max(chunk)
}

enum Outcome {
    Continue,
    Close,
}

/// A connection's working buffers: replies not yet written, the mutations of
/// the command running, and what the replies wait for.
struct Buffers {
    out: BytesMut,
    log: MutationLog,
    pending: Pending,
}

/// What the replies in the output buffer wait for: the batch's ticket (its
/// records and those of the blocked clients it served; see `commit`), and
/// the replies of those blocked clients.
#[derive(Default)]
struct Pending {
    ticket: Ticket,
    deliveries: Vec<blocking::Delivery>,
    /// In a replicated cluster: the replies of writes, which wait for
    /// their replicas (see `replication::settle_replies`).
    writes: Vec<crate::replication::WriteReply>,
}

/// Commits the mutations accumulated so far (one log record); the pending
/// replies will wait for its ticket.
fn stage(shared: &Shared, log: &mut MutationLog, pending: &mut Pending) {
    pending.ticket = pending.ticket.and(commit(&shared.persistence, &shared.ks, log));
    log.clear();
}

/// In a cluster, notes the reply of a command that wrote (from `start` in
/// `out`), so that it waits for its replicas.
#[inline]
fn note_write(shared: &Shared, client: &ClientState, pending: &mut Pending, start: usize, out_len: usize) {
    if shared.cluster.get().is_some() {
        pending.writes.push(crate::replication::WriteReply::of(client, start..out_len));
    }
}

/// Sends the pending replies once the log says they may go: a reply to a write
/// leaves only when the write is durable under `appendfsync` and, in a
/// replicated cluster, held by its replicas (`write-consistency`; a write
/// that is not answers -NOREPLICAS). When the log failed instead, the
/// replies are dropped and the connection closed: they would claim writes
/// that are not durable.
async fn flush<S: ClientStream>(
    stream: &mut S,
    out: &mut BytesMut,
    shared: &Shared,
    pending: &mut Pending,
    proto: gyre_resp::Protocol,
) -> std::io::Result<()> {
    if pending.ticket != Ticket::NONE || !pending.writes.is_empty() {
        let ticket = pending.ticket.take();
        if let Err(reason) = ticket.durable(&shared.persistence).await {
            tracing::warn!(error = %reason, "a write could not be made durable: closing the client without its replies");
            out.clear();
            pending.deliveries.clear();
            pending.writes.clear();
            return Err(std::io::Error::other(reason));
        }
        crate::replication::settle_replies(shared, ticket.feed(), &mut pending.writes, out, proto).await;
    }
    pending.writes.clear();
    for d in pending.deliveries.drain(..) {
        d.send();
    }
    if out.is_empty() {
        return Ok(());
    }
    write_out(stream, out, shared).await
}

async fn write_out<S: ClientStream>(stream: &mut S, out: &mut BytesMut, shared: &Shared) -> std::io::Result<()> {
    shared.stats.net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    let r = crate::limits::write_limited(stream, out, shared).await;
    out.clear();
    r
}

/// Asks the CPU for the memory the lookups of the next commands of a
/// pipelined batch will read (the first key of each, in the client's
/// database), so that their cache misses overlap rather than follow one
/// another (`Keyspace::prefetch`). Returns the bytes of the commands it
/// skimmed (0 when the input does not start with a complete command it can
/// skim). A lone command, or a run of commands on one key, gets no hint:
/// there is nothing to overlap.
fn prefetch_ahead(input: &[u8], shared: &Shared, db: gyre_engine::DbIndex) -> usize {
    let mut keys: [&[u8]; PREFETCH_KEYS_MAX] = [&[]; PREFETCH_KEYS_MAX];
    let (mut n, mut pos) = (0, 0);
    for _ in 0..PREFETCH_KEYS_MAX {
        let Some((len, key)) = RequestParser::skim(&input[pos..]) else { break };
        pos += len;
        // A key repeated from the command before (a pipeline on one hot
        // key) is in the cache already.
        if let Some(key) = key.filter(|k| n == 0 || keys[n - 1] != *k) {
            keys[n] = key;
            n += 1;
        }
    }
    if n > 1 {
        shared.ks.prefetch(db, &keys[..n]);
    }
    pos
}

/// Executes every complete command at the front of `input`. Returns the bytes
/// consumed and whether to keep the connection.
async fn execute_buffered<S: ClientStream>(
    input: &[u8],
    parser: &mut RequestParser,
    shared: &Shared,
    client: &mut ClientState,
    bufs: &mut Buffers,
    stream: &mut S,
) -> (usize, Outcome) {
    let mut pos = 0;
    let mut executed = 0u64;
    // One clock read per batch: the commands of one read share an instant, as
    // they would have if they had arrived in one packet to a single-threaded
    // server.
    let now_ms = shared.now_ms();
    let Buffers { out, log, pending } = bufs;
    // Input up to here has had its keys prefetched (see `prefetch_ahead`).
    let mut warm_until = 0;
    let outcome = loop {
        if pos >= warm_until {
            warm_until = match prefetch_ahead(&input[pos..], shared, client.db) {
                0 => usize::MAX,
                skimmed => pos + skimmed,
            };
        }
        let rest = &input[pos..];
        match parser.parse(rest) {
            Ok(Some(n)) => {
                let args = parser.args(rest);
                pos += n;
                if args.is_empty() {
                    continue;
                }
                executed += 1;
                if shared.pause.maybe_active() && shared.pause.holds(&args, client, shared.now_ms()) {
                    // CLIENT PAUSE: what is answered goes out, then this waits.
                    stage(shared, log, pending);
                    if flush(stream, out, shared, pending, client.proto).await.is_err() {
                        break Outcome::Close;
                    }
                    while shared.pause.holds(&args, client, shared.now_ms()) {
                        shared.pause.wait(shared.now_ms()).await;
                    }
                }
                // The mutations of the commands of a batch accumulate in `log` and
                // go to the write-ahead log as one record when the replies are
                // about to leave (see `stage`): one hand-off per batch, not per
                // command, and the replies wait for that record anyway.
                let (mut start, recorded) = (out.len(), log.recorded());
                let blocked = match dispatch::execute(args, shared, client, out, log, now_ms) {
                    Exec::Done => None,
                    Exec::Blocked(spec) => Some(spec),
                    // The gate is held (EXEC, a script): what is answered goes
                    // out, then this task awaits its turn without its worker.
                    waiting => {
                        stage(shared, log, pending);
                        if flush(stream, out, shared, pending, client.proto).await.is_err() {
                            break Outcome::Close;
                        }
                        start = 0;
                        dispatch::finish(waiting, args, shared, client, out, log, now_ms).await
                    }
                };
                if log.recorded() != recorded {
                    note_write(shared, client, pending, start, out.len());
                } else if blocked.is_none() && shared.cluster.get().is_some() {
                    crate::replication::note_read(shared, client, log, &mut pending.writes, start..out.len());
                }
                if !client.ready_keys.is_empty() {
                    stage(shared, log, pending);
                    let served = blocking::serve(shared, std::mem::take(&mut client.ready_keys), now_ms).await;
                    pending.ticket = pending.ticket.and(served.ticket);
                    pending.deliveries.extend(served.deliveries);
                }
                if let Some(mut spec) = blocked {
                    // Replies before the blocking command go out now; the rest of
                    // the pipeline waits for its answer, as in Redis.
                    let argv: Vec<Vec<u8>> =
                        spec.argv.take().unwrap_or_else(|| args.iter().map(<[u8]>::to_vec).collect());
                    stage(shared, log, pending);
                    if flush(stream, out, shared, pending, client.proto).await.is_err() {
                        break Outcome::Close;
                    }
                    match blocking::wait(shared, client, argv, spec, stream.tcp()).await {
                        Some(reply) => out.extend_from_slice(&reply),
                        None => break Outcome::Close,
                    }
                }
                if client.close_after_reply {
                    break Outcome::Close;
                }
                if out.len() >= OUT_FLUSH_BYTES {
                    stage(shared, log, pending);
                    if flush(stream, out, shared, pending, client.proto).await.is_err() {
                        break Outcome::Close;
                    }
                }
            }
            Ok(None) => break Outcome::Continue,
            Err(e) => {
                debug!(client = client.info.id, addr = %client.info.addr, error = %e, "protocol error, closing connection");
                let msg = format!("ERR {e}");
                shared.diag.errors.record(msg.as_bytes());
                ReplyWriter::new(out, client.proto).error(msg.as_bytes());
                break Outcome::Close;
            }
        }
    };
    stage(shared, log, pending);
    if executed > 0 {
        shared.stats.commands_processed.fetch_add(executed, Ordering::Relaxed);
        client.publish();
    }
    (pos, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffer_grows_geometrically_not_to_the_declared_size() {
        let c = READ_CHUNK_BYTES;
        assert_eq!(read_reserve_bytes(0, None, c), READ_CHUNK_BYTES);
        assert_eq!(read_reserve_bytes(100, Some(512 << 20), c), READ_CHUNK_BYTES);
        assert_eq!(read_reserve_bytes(1 << 20, Some(512 << 20), c), 1 << 20);
        assert_eq!(read_reserve_bytes((512 << 20) - 10, Some(512 << 20), c), READ_CHUNK_BYTES);
        // A new connection starts small and grows the same way.
        assert_eq!(read_reserve_bytes(0, None, FIRST_READ_BYTES), FIRST_READ_BYTES);
        assert_eq!(read_reserve_bytes(4096, Some(1 << 20), FIRST_READ_BYTES), 4096);
    }
}
