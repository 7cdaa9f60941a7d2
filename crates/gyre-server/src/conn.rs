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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use gyre_log::wal::Lsn;

use crate::blocking;
use crate::client::{ClientState, CmdName, ReplyMode};
use crate::cmd::{self, BlockSpec, Call, CmdError};
use crate::scripting;
use crate::shared::{unix_ms, Shared};
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
        if flush(&mut stream, &mut bufs.out, &shared, &mut bufs.pending).await.is_err() {
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

/// What the replies in the output buffer wait for: the log record with the
/// highest LSN the batch produced, and the replies of blocked clients this
/// connection served.
#[derive(Default)]
struct Pending {
    lsn: Option<Lsn>,
    deliveries: Vec<blocking::Delivery>,
}

/// Hands the mutations accumulated so far to the write-ahead log as one record;
/// the pending replies will wait for it.
fn stage(shared: &Shared, log: &mut MutationLog, pending: &mut Pending) {
    pending.lsn = pending.lsn.max(shared.persistence.append(log));
    log.clear();
}

/// Sends the pending replies once the log says they may go: a reply to a write
/// leaves only when the write is durable under `appendfsync`. When the log
/// failed instead, the replies are dropped and the connection closed: they
/// would claim writes that are not durable.
async fn flush<S: ClientStream>(
    stream: &mut S,
    out: &mut BytesMut,
    shared: &Shared,
    pending: &mut Pending,
) -> std::io::Result<()> {
    if let Some(lsn) = pending.lsn.take() {
        if let Err(reason) = shared.persistence.wait_durable(lsn).await {
            tracing::warn!(error = %reason, "a write could not be made durable: closing the client without its replies");
            out.clear();
            pending.deliveries.clear();
            return Err(std::io::Error::other(reason));
        }
    }
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
    let now_ms = unix_ms();
    let Buffers { out, log, pending } = bufs;
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
                if shared.pause.maybe_active() && shared.pause.holds(&args, client) {
                    // CLIENT PAUSE: what is answered goes out, then this waits.
                    stage(shared, log, pending);
                    if flush(stream, out, shared, pending).await.is_err() {
                        break Outcome::Close;
                    }
                    while shared.pause.holds(&args, client) {
                        shared.pause.wait().await;
                    }
                }
                // The mutations of the commands of a batch accumulate in `log` and
                // go to the write-ahead log as one record when the replies are
                // about to leave (see `stage`): one hand-off per batch, not per
                // command, and the replies wait for that record anyway.
                let blocked = execute(args, shared, client, out, log, now_ms);
                if !client.ready_keys.is_empty() {
                    stage(shared, log, pending);
                    let served = blocking::serve(shared, std::mem::take(&mut client.ready_keys), now_ms);
                    pending.lsn = pending.lsn.max(served.lsn);
                    pending.deliveries.extend(served.deliveries);
                }
                if let Some(spec) = blocked {
                    // Replies before the blocking command go out now; the rest of
                    // the pipeline waits for its answer, as in Redis.
                    let argv: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
                    stage(shared, log, pending);
                    if flush(stream, out, shared, pending).await.is_err() {
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
                    if flush(stream, out, shared, pending).await.is_err() {
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

/// The reply a command wrote into a buffer of its own, as a frame: how
/// scripts (`redis.call`) and the HTTP API read what `execute` answered.
pub fn reply_frame(out: &[u8]) -> gyre_resp::Frame {
    let limits = Limits { nesting_depth_max: usize::MAX, ..Limits::default() };
    match gyre_resp::parse_frame(out, &limits) {
        Ok(Some((frame, _))) => frame,
        // Every command writes exactly one well-formed reply.
        _ => gyre_resp::Frame::Error(bytes::Bytes::from_static(
            b"ERR internal error: the command's reply could not be read",
        )),
    }
}

/// True when a memory limit is set and memory is over it, once what is
/// queued for lazy freeing is left out (see `evict`). Scripts check it before
/// commands that may add data; eviction itself runs before a command starts.
#[inline]
pub fn over_maxmemory(shared: &Shared) -> bool {
    let limit = shared.config.hot.maxmemory.load(Ordering::Relaxed) as usize;
    limit != 0 && crate::evict::used_for_limit() > limit
}

/// Runs one command and writes its reply (unless CLIENT REPLY says otherwise).
/// Returns where to wait when a blocking command found nothing to serve; it
/// then wrote no reply.
pub fn execute(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) -> Option<BlockSpec> {
    let mut blocked = None;
    let mark = out.len();
    if client.reply == ReplyMode::SkipNext {
        client.reply = ReplyMode::Skipping;
    }
    // The command that called this one, if any (a script runner for a script's commands).
    let caller = client.current_cmd;
    match cmd::resolve(&args, &mut client.last_spec) {
        Ok((top, spec)) => {
            client.current_cmd = CmdName::Known { top: top.name, sub: (!std::ptr::eq(top, spec)).then_some(spec.name) };
            let proto = client.proto;
            if let Some(denied) = crate::acl::check(shared, client, top, spec, &args) {
                // A denied command dooms the transaction it was sent in.
                if let Some(tx) = &mut client.multi {
                    tx.aborted = true;
                }
                let msg = denied.to_string();
                crate::stats::rejected_call(spec);
                shared.diag.errors.record(msg.as_bytes());
                ReplyWriter::new(out, proto).error(msg.as_bytes());
            } else if client.proto == gyre_resp::Protocol::Resp2
                && client.subscribed()
                && !cmd::pubsub::allowed_while_subscribed(top)
            {
                let msg = format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", full_name(top, spec));
                crate::stats::rejected_call(spec);
                shared.diag.errors.record(msg.as_bytes());
                ReplyWriter::new(out, proto).error(msg.as_bytes());
            } else if client.multi.is_some() && !controls_transaction(top) {
                queue(args, spec, client, out, shared);
            } else {
                // Inside EXEC or a script the gate is already held (exclusively).
                let gate = if client.in_exec || spec.has_flag(cmd::flags::NO_GATE) {
                    Ok(None)
                } else {
                    let busy =
                        || if spec.has_flag(cmd::flags::ALLOW_BUSY) { None } else { scripting::busy_error(shared) };
                    shared.gate.enter(spec.has_flag(cmd::flags::EXCLUSIVE), busy).map(Some)
                };
                let refusal = if spec.has_flag(cmd::flags::WRITE) { shared.persistence.write_refusal() } else { None };
                let result = if let Err(busy) = gate {
                    Err(crate::stats::rejected(shared, spec, cmd::CmdError::Msg(busy)))
                } else if let Some(msg) = refusal {
                    Err(crate::stats::rejected(shared, spec, cmd::CmdError::Msg(msg)))
                } else if spec.has_flag(cmd::flags::WRITE | cmd::flags::DENYOOM | cmd::flags::MAY_REPLICATE)
                    && crate::evict::make_room(shared, log, now_ms).is_err()
                    && spec.has_flag(cmd::flags::DENYOOM)
                {
                    Err(crate::stats::rejected(
                        shared,
                        spec,
                        cmd::err("OOM command not allowed when used memory > 'maxmemory'."),
                    ))
                } else {
                    // Introspection: one clock read before and one after the
                    // handler, one load to learn whether anyone monitors.
                    let monitored = shared.diag.monitors.active();
                    if monitored && crate::monitor::runs_scripts(top) {
                        crate::monitor::feed_before(shared, client, &args);
                    }
                    let started = crate::stats::clock_start();
                    let log_mark = log.bytes().len();
                    let notify = shared.config.hot.notify_flags.load(Ordering::Relaxed) as u32;
                    // EXEC and scripts: the commands they run notify for themselves.
                    let result = if notify == 0 || spec.has_flag(cmd::flags::EXCLUSIVE) {
                        let mut call =
                            Call { args, spec, out: ReplyWriter::new(out, proto), shared, client, log, now_ms };
                        (spec.handler)(&mut call)
                    } else {
                        let before = crate::notify::before(shared, notify, spec, &args, client.db, now_ms);
                        let mut run = || {
                            let mut call =
                                Call { args, spec, out: ReplyWriter::new(out, proto), shared, client, log, now_ms };
                            (spec.handler)(&mut call)
                        };
                        let (result, expired) = if notify & crate::notify::EXPIRED != 0 {
                            gyre_engine::expired::collecting(run)
                        } else {
                            (run(), Vec::new())
                        };
                        let ran = crate::notify::Ran {
                            name: top.name,
                            spec,
                            args: &args,
                            mutations: &log.bytes()[log_mark..],
                        };
                        crate::notify::after(shared, notify, ran, before, expired, now_ms);
                        result
                    };
                    // A handler may answer an error itself (a script returning one).
                    let error_reply = crate::stats::error_line(&out[mark..]);
                    let run = crate::stats::Run {
                        top,
                        spec,
                        args: &args,
                        started,
                        db: client.db,
                        monitored,
                        caller,
                        error_reply,
                    };
                    crate::stats::ran(shared, client, run, &result);
                    result
                };
                match result {
                    Ok(()) => {}
                    // Inside a transaction or a script nothing waits: as if it timed out.
                    Err(CmdError::Block(b)) if client.in_exec => match b.timeout_reply {
                        cmd::TimeoutReply::NullArray => ReplyWriter::new(out, proto).null_array(),
                        cmd::TimeoutReply::Integer(n) => ReplyWriter::new(out, proto).integer(n),
                    },
                    Err(CmdError::Block(spec)) => blocked = Some(spec),
                    // (Counted in the error statistics by `stats::ran`.)
                    Err(e) => ReplyWriter::new(out, proto).error(e.to_string().as_bytes()),
                }
            }
        }
        Err(e) => {
            client.current_cmd = CmdName::Unknown;
            // A command that cannot be queued dooms the transaction.
            if let Some(tx) = &mut client.multi {
                tx.aborted = true;
            }
            crate::stats::rejected_while_resolving(&args, &e);
            let msg = e.to_string();
            shared.diag.errors.record(msg.as_bytes());
            ReplyWriter::new(out, client.proto).error(msg.as_bytes());
        }
    }
    match client.reply {
        ReplyMode::On | ReplyMode::SkipNext => {}
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::Skipping => {
            out.truncate(mark);
            client.reply = ReplyMode::On;
        }
    }
    blocked
}

/// Runs one command inside EXEC or a script, which hold the gate
/// (`client.in_exec` is set).
pub fn execute_nested(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) {
    debug_assert!(client.in_exec);
    let blocked = execute(args, shared, client, out, log, now_ms);
    debug_assert!(blocked.is_none(), "nothing blocks inside EXEC or a script");
}

/// `get`, or `config|get` for a subcommand.
fn full_name(top: &cmd::CommandSpec, spec: &cmd::CommandSpec) -> String {
    if std::ptr::eq(top, spec) {
        top.name.to_string()
    } else {
        format!("{}|{}", top.name, spec.name)
    }
}

/// The commands that run at once between MULTI and EXEC instead of queueing.
fn controls_transaction(top: &cmd::CommandSpec) -> bool {
    matches!(top.name, "multi" | "exec" | "discard" | "watch" | "quit" | "reset")
}

/// Queues a command between MULTI and EXEC, or refuses one that may not run
/// in a transaction (which then fails EXEC).
fn queue(args: Args<'_>, spec: &cmd::CommandSpec, client: &mut ClientState, out: &mut BytesMut, shared: &Shared) {
    let mut w = ReplyWriter::new(out, client.proto);
    let tx = client.multi.as_mut().expect("in MULTI");
    if spec.has_flag(cmd::flags::NO_MULTI) {
        tx.aborted = true;
        let msg = b"ERR Command not allowed inside a transaction";
        crate::stats::rejected_call(spec);
        shared.diag.errors.record(msg);
        w.error(msg);
        return;
    }
    tx.queued.push(gyre_resp::OwnedArgs::from_args(&args));
    w.simple(b"QUEUED");
}

#[cfg(test)]
mod tests {
    //! The write path's contract: each command records exactly the mutations
    //! that reproduce its effect, with absolute values (INCR sets the result,
    //! EXPIRE names a time, SETRANGE on a missing key sets the padded value).
    use std::net::SocketAddr;

    use bytes::Bytes;
    use gyre_engine::{Keyspace, Mutation, NO_EXPIRY};
    use gyre_resp::encode_command;

    use super::*;
    use crate::client::ClientInfo;
    use crate::config::Config;

    /// The commands' clock: real time, because the server's background expiry
    /// cycle runs on real time too.
    fn now_ms() -> u64 {
        use std::sync::OnceLock;
        static NOW: OnceLock<u64> = OnceLock::new();
        *NOW.get_or_init(unix_ms)
    }

    struct Harness {
        shared: Arc<Shared>,
        client: ClientState,
    }

    impl Harness {
        fn new() -> Harness {
            let shared = Shared::start(Config::for_test()).expect("start");
            let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let client = ClientState::new(Arc::new(ClientInfo::new(1, addr, addr)));
            Harness { shared, client }
        }

        /// Runs one command; returns the reply bytes and the mutations recorded.
        fn run(&mut self, args: &[&str]) -> (String, Vec<Mutation<Bytes>>) {
            let mut buf = BytesMut::new();
            encode_command(args, &mut buf);
            let mut parser = RequestParser::new(Limits::default());
            parser.parse(&buf).expect("valid").expect("complete");
            let mut out = BytesMut::new();
            let mut log = MutationLog::new();
            execute(parser.args(&buf), &self.shared, &mut self.client, &mut out, &mut log, now_ms());
            (String::from_utf8_lossy(&out).into_owned(), log.decode_all())
        }

        fn mutations(&mut self, args: &[&str]) -> Vec<Mutation<Bytes>> {
            self.run(args).1
        }
    }

    fn set_of(m: &Mutation<Bytes>) -> (&[u8], &[u8], u64) {
        match m {
            Mutation::Set { key, value, expire_at_ms, .. } => (key, value, *expire_at_ms),
            other => panic!("expected Set, got {other:?}"),
        }
    }

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

    #[test]
    fn reads_and_failed_writes_record_nothing() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        for cmd in [
            &["GET", "k"][..],
            &["EXISTS", "k"],
            &["TTL", "k"],
            &["SET", "k", "x", "NX"],
            &["INCR", "k"],
            &["DEL", "nope"],
        ] {
            assert!(h.mutations(cmd).is_empty(), "{cmd:?}");
        }
    }

    #[test]
    fn counters_record_their_result_and_keep_the_expiry() {
        let mut h = Harness::new();
        h.run(&["SET", "n", "10", "PX", "5000"]);
        let ms = h.mutations(&["INCRBY", "n", "5"]);
        assert_eq!(ms.len(), 1);
        assert_eq!(set_of(&ms[0]), (&b"n"[..], &b"15"[..], now_ms() + 5000));
        let ms = h.mutations(&["INCRBYFLOAT", "n", "0.5"]);
        assert_eq!(set_of(&ms[0]), (&b"n"[..], &b"15.5"[..], now_ms() + 5000));
    }

    #[test]
    fn relative_expiry_becomes_absolute() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        match &h.mutations(&["EXPIRE", "k", "100"])[..] {
            [Mutation::Expire { expire_at_ms, .. }] => assert_eq!(*expire_at_ms, now_ms() + 100_000),
            other => panic!("{other:?}"),
        }
        match &h.mutations(&["PERSIST", "k"])[..] {
            [Mutation::Expire { expire_at_ms, .. }] => assert_eq!(*expire_at_ms, NO_EXPIRY),
            other => panic!("{other:?}"),
        }
        // An expiry in the past deletes the key.
        assert!(matches!(&h.mutations(&["PEXPIREAT", "k", "1"])[..], [Mutation::Del { .. }]));
        let (_, ms) = h.run(&["SETEX", "s", "10", "v"]);
        assert_eq!(set_of(&ms[0]).2, now_ms() + 10_000);
    }

    #[test]
    fn setrange_and_append_on_missing_keys_record_the_whole_value() {
        let mut h = Harness::new();
        let ms = h.mutations(&["SETRANGE", "k", "3", "ab"]);
        assert_eq!(set_of(&ms[0]).1, b"\0\0\0ab");
        assert!(
            matches!(&h.mutations(&["APPEND", "k", "c"])[..], [Mutation::Append { data, .. }] if &data[..] == b"c")
        );
        let ms = h.mutations(&["APPEND", "fresh", "xyz"]);
        assert_eq!(set_of(&ms[0]), (&b"fresh"[..], &b"xyz"[..], NO_EXPIRY));
    }

    #[test]
    fn a_key_written_twice_in_one_command_gets_increasing_versions() {
        let mut h = Harness::new();
        let ms = h.mutations(&["MSET", "d", "x", "d", "y"]);
        assert_eq!(ms.len(), 2);
        assert!(ms[0].version() < ms[1].version());
        assert_eq!(h.run(&["GET", "d"]).0, "$1\r\ny\r\n");
    }

    #[test]
    fn rename_is_a_delete_and_a_set_with_the_expiry() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "v", "PX", "9000"]);
        let ms = h.mutations(&["RENAME", "a", "b"]);
        assert!(matches!(&ms[0], Mutation::Del { key, .. } if &key[..] == b"a"));
        assert_eq!(set_of(&ms[1]), (&b"b"[..], &b"v"[..], now_ms() + 9000));
    }

    /// Replaying what the commands recorded on a fresh keyspace gives the same data.
    #[test]
    fn recorded_mutations_replay_to_the_same_state() {
        let mut h = Harness::new();
        let mut all = Vec::new();
        for cmd in [
            &["MSET", "a", "1", "b", "2", "c", "3"][..],
            &["INCR", "a"],
            &["APPEND", "b", "xyz"],
            &["SETRANGE", "c", "5", "!"],
            &["EXPIRE", "c", "60"],
            &["RENAME", "b", "bb"],
            &["DEL", "a"],
            &["SET", "a", "again"],
            &["COPY", "a", "a2", "DB", "3"],
            &["SWAPDB", "0", "1"],
            &["MOVE", "a", "2"],
            &["RPUSH", "l", "a", "b", "c", "d", "e"],
            &["LPUSH", "l", "z"],
            &["LMOVE", "l", "l", "LEFT", "RIGHT"],
            &["LMOVE", "l", "l2", "RIGHT", "LEFT"],
            &["LREM", "l", "1", "b"],
            &["LSET", "l", "0", "x"],
            &["LINSERT", "l", "BEFORE", "c", "y"],
            &["LTRIM", "l", "0", "2"],
            &["LPOP", "l2"],
            &["COPY", "l", "l3"],
            &["HSET", "h", "f1", "1", "f2", "two", "f3", "3"],
            &["HINCRBY", "h", "f1", "41"],
            &["HINCRBYFLOAT", "h", "f3", "0.5"],
            &["HSETNX", "h", "f4", "x"],
            &["HDEL", "h", "f2"],
            &["RENAME", "h", "h2"],
            &["SADD", "s", "1", "2", "3", "x"],
            &["SADD", "s2", "2", "3", "y"],
            &["SPOP", "s"],
            &["SMOVE", "s2", "s", "y"],
            &["SINTERSTORE", "s3", "s", "s2"],
            &["SUNIONSTORE", "s4", "s", "s2"],
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
            &["ZINCRBY", "z", "2.5", "a"],
            &["ZADD", "z", "GT", "CH", "1", "b", "10", "c"],
            &["ZPOPMIN", "z"],
            &["ZREMRANGEBYSCORE", "z", "9", "+inf"],
            &["ZUNIONSTORE", "z2", "2", "z", "s", "WEIGHTS", "2", "1"],
            &["ZRANGESTORE", "z3", "z2", "0", "1"],
        ] {
            all.extend(h.mutations(cmd));
        }
        let replica = Keyspace::new();
        for m in &all {
            replica.apply(m);
        }
        for db in 0..16u16 {
            let mut want = Vec::new();
            let mut got = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = h.shared.ks.db(db).scan(cursor, 100, now_ms(), |k, e| {
                    want.push((k.to_vec(), format!("{:?}", e.value), e.expire_at_ms))
                });
                if cursor == 0 {
                    break;
                }
            }
            loop {
                cursor = replica.db(db).scan(cursor, 100, now_ms(), |k, e| {
                    got.push((k.to_vec(), format!("{:?}", e.value), e.expire_at_ms))
                });
                if cursor == 0 {
                    break;
                }
            }
            want.sort();
            got.sort();
            assert_eq!(want, got, "db {db}");
        }
    }
}
