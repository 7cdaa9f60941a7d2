//! The load generator: `clients` tokio tasks, one connection each, sending
//! batches of `pipeline` pre-encoded requests and timing every reply.
//!
//! Invariants:
//! * A request's latency runs from just before its batch is written to the
//!   read that completed its reply (redis-benchmark's definition); every reply
//!   parsed from one read shares that read's timestamp.
//! * Requests are claimed from a shared counter a batch at a time, so `-n`
//!   is exact however many clients there are; a time limit stops new batches
//!   and lets the ones in flight finish.
//! * Warm-up batches (those written before the measured phase starts) are
//!   neither counted nor timed.
//! * The hot path allocates nothing: the write buffer, read buffer and
//!   histogram are per client and reused; replies are scanned, not parsed.
//!
//! Limits: a client's read buffer grows only to hold one reply and never past
//! [`READ_BUFFER_BYTES_MAX`]; a larger reply aborts the run.
//!
//! The claiming, connecting and reply-scanning parts are shared with the
//! cluster driver (`cluster`).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gyre_resp::Frame;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::workload::{RequestGen, Rng};
use crate::scan::{ReplyScanner, Scanned};

/// Bytes a client reads per call at first.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest read buffer one client keeps (one reply must fit).
pub const READ_BUFFER_BYTES_MAX: usize = 1 << 30;

/// Highest latency the histogram tracks before resizing, in microseconds.
const LATENCY_US_TRACKED: u64 = 60_000_000;

/// Where the clients connect and how they log in.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// ACL user for AUTH.
    pub user: Option<Vec<u8>>,
    /// Password for AUTH (sent only when set).
    pub password: Option<Vec<u8>>,
    /// Database to SELECT when not 0.
    pub db: i64,
}

/// How long and how hard one workload runs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Connections, one task each.
    pub clients: usize,
    /// Requests per batch (`-P`), at least 1.
    pub pipeline: usize,
    /// Stop after this many measured requests.
    pub requests: Option<u64>,
    /// Stop starting batches after this long (measured phase).
    pub duration: Option<Duration>,
    /// Unmeasured load before the measured phase.
    pub warmup: Duration,
    /// Seed of client 0's RNG (client i uses seed + i).
    pub seed: u64,
}

/// What one workload measured.
#[derive(Debug)]
pub struct Outcome {
    /// Replies received in the measured phase.
    pub requests: u64,
    /// Of those, error replies.
    pub errors: u64,
    /// From the start of the measured phase to the last reply.
    pub elapsed: Duration,
    /// Latency of every measured request, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The first error reply's text, if any.
    pub first_error: Option<String>,
}

/// Counters the progress display reads while the clients run.
#[derive(Debug, Default)]
pub struct Progress {
    /// Measured replies so far.
    pub completed: AtomicU64,
    /// When the measured phase starts, as nanoseconds after `epoch` (set once
    /// the clients are connected).
    pub measure_start_ns: AtomicU64,
}

/// State the clients share.
pub struct Shared {
    spec: RunSpec,
    /// Measured requests handed out so far.
    issued: AtomicU64,
    /// When the measured phase starts (after the warm-up).
    pub measure_start: Instant,
    deadline: Option<Instant>,
    /// What the progress display reads.
    pub progress: Arc<Progress>,
}

impl Shared {
    /// Starts the clock once the clients are connected: the warm-up runs
    /// from now, the measured phase after it.
    pub fn start(spec: &RunSpec, progress: Arc<Progress>, epoch: Instant) -> Arc<Shared> {
        let measure_start = Instant::now() + spec.warmup;
        let deadline = spec.duration.map(|d| measure_start + d);
        let start_ns = measure_start.saturating_duration_since(epoch).as_nanos() as u64;
        progress.measure_start_ns.store(start_ns.max(1), Ordering::Relaxed);
        Arc::new(Shared { spec: spec.clone(), issued: AtomicU64::new(0), measure_start, deadline, progress })
    }

    /// How many requests the next batch may send: 0 when the run is over.
    pub fn claim(&self, now: Instant) -> u64 {
        let want = self.spec.pipeline as u64;
        if now < self.measure_start {
            return want;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return 0;
        }
        match self.spec.requests {
            None => want,
            Some(total) => {
                let before = self.issued.fetch_add(want, Ordering::Relaxed);
                total.saturating_sub(before).min(want)
            }
        }
    }
}

/// Runs one workload to completion on `rt`.
pub fn run(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    spec: &RunSpec,
    gen: &RequestGen,
    progress: Arc<Progress>,
    epoch: Instant,
) -> anyhow::Result<Outcome> {
    rt.block_on(async {
        let mut streams = Vec::with_capacity(spec.clients);
        for _ in 0..spec.clients {
            streams.push(connect(target).await?);
        }
        let shared = Shared::start(spec, progress, epoch);
        let measure_start = shared.measure_start;
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, stream)| {
                let client = Client::new(stream, gen.clone(), Rng::new(spec.seed.wrapping_add(i as u64)));
                tokio::spawn(client.run(Arc::clone(&shared)))
            })
            .collect();
        let mut outcome =
            Outcome { requests: 0, errors: 0, elapsed: Duration::ZERO, latency_us: new_histogram(), first_error: None };
        let mut last_reply = measure_start;
        for task in tasks {
            let result = task.await.context("benchmark client panicked")??;
            outcome.requests += result.requests;
            outcome.errors += result.errors;
            outcome.latency_us.add(&result.latency_us).context("merging latency histograms")?;
            outcome.first_error = outcome.first_error.or(result.first_error);
            last_reply = last_reply.max(result.last_reply);
        }
        outcome.elapsed = last_reply.saturating_duration_since(measure_start);
        Ok(outcome)
    })
}

/// An empty latency histogram (microseconds, 3 significant digits, growing
/// past [`LATENCY_US_TRACKED`] if it must).
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, LATENCY_US_TRACKED, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Connects one client and runs the AUTH / SELECT handshake.
pub async fn connect(target: &Target) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| anyhow::anyhow!("Could not connect to Redis at {}:{}: {}", target.host, target.port, e))?;
    stream.set_nodelay(true)?;
    let mut conn = Conn::new(stream);
    if let Some(password) = &target.password {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        args.extend(target.user.as_deref());
        args.push(password);
        conn.call(&args).await.context("AUTH failed")?;
    }
    if target.db != 0 {
        conn.call(&[b"SELECT".to_vec(), target.db.to_string().into_bytes()]).await.context("SELECT failed")?;
    }
    Ok(conn.stream)
}

/// What one client measured.
struct ClientResult {
    requests: u64,
    errors: u64,
    latency_us: Histogram<u64>,
    first_error: Option<String>,
    last_reply: Instant,
}

/// One connection with its buffers.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    rbuf: Vec<u8>,
    /// Unconsumed bytes are `rbuf[start..end]`.
    start: usize,
    end: usize,
    scanner: ReplyScanner,
}

impl Conn {
    /// Wraps a connected socket.
    pub fn new(stream: TcpStream) -> Conn {
        Conn { stream, rbuf: vec![0; READ_CHUNK_BYTES], start: 0, end: 0, scanner: ReplyScanner::new() }
    }

    /// Sends one command and returns its reply, parsed (set-up queries only:
    /// `CLUSTER SLOTS`, `COMMAND GETKEYS`).
    pub async fn request(&mut self, args: &[impl AsRef<[u8]>]) -> anyhow::Result<Frame> {
        let mut out = bytes::BytesMut::new();
        gyre_resp::encode_command(args, &mut out);
        self.stream.write_all(&out).await?;
        let mut frame = None;
        self.read_replies(1, |_, _, bytes| {
            frame = gyre_resp::parse_frame(bytes, &gyre_resp::Limits::default()).map(|f| f.map(|(f, _)| f)).transpose();
        })
        .await?;
        Ok(frame.context("reply scanned but not parsed")??)
    }

    /// The next reply already buffered (its scan and where its bytes are:
    /// valid until the next [`Conn::try_fill`]), or `None` until more bytes come.
    pub fn next_reply(&mut self) -> anyhow::Result<Option<(Scanned, Range<usize>)>> {
        let Some(reply) = self.scanner.scan(&self.rbuf[self.start..self.end])? else { return Ok(None) };
        let range = self.start..self.start + reply.len;
        self.start += reply.len;
        Ok(Some((reply, range)))
    }

    /// The bytes of a reply [`Conn::next_reply`] returned.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.rbuf[range]
    }

    /// Reads what the socket holds without waiting (call when it is
    /// readable): `Some(0)` when the server closed it, `None` when the
    /// readiness was spurious.
    pub fn try_fill(&mut self) -> anyhow::Result<Option<usize>> {
        self.make_room()?;
        match self.stream.try_read(&mut self.rbuf[self.end..]) {
            Ok(n) => {
                self.end += n;
                Ok(Some(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends one command and fails on an error reply (handshake only).
    async fn call(&mut self, args: &[impl AsRef<[u8]>]) -> anyhow::Result<()> {
        let mut out = bytes::BytesMut::new();
        gyre_resp::encode_command(args, &mut out);
        self.stream.write_all(&out).await?;
        let mut error = None;
        self.read_replies(1, |reply, _, bytes| {
            if reply.is_error() {
                error = Some(error_text(bytes));
            }
        })
        .await?;
        match error {
            Some(text) => bail!("{text}"),
            None => Ok(()),
        }
    }

    /// Reads until `count` replies arrived, handing each to `on_reply` with
    /// the time of the read that completed it and its bytes.
    async fn read_replies(
        &mut self,
        count: u64,
        mut on_reply: impl FnMut(Scanned, Instant, &[u8]),
    ) -> anyhow::Result<Instant> {
        let mut got = 0;
        let mut at = Instant::now();
        loop {
            while got < count {
                let Some(reply) = self.scanner.scan(&self.rbuf[self.start..self.end])? else { break };
                on_reply(reply, at, &self.rbuf[self.start..self.start + reply.len]);
                self.start += reply.len;
                got += 1;
            }
            if got == count {
                return Ok(at);
            }
            self.make_room()?;
            let n = self.stream.read(&mut self.rbuf[self.end..]).await?;
            if n == 0 {
                bail!("Server closed the connection");
            }
            self.end += n;
            at = Instant::now();
        }
    }

    /// Ensures there is free space after `end`, compacting or growing.
    fn make_room(&mut self) -> anyhow::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end < self.rbuf.len() {
            return Ok(());
        }
        if self.start > 0 {
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return Ok(());
        }
        if self.rbuf.len() >= READ_BUFFER_BYTES_MAX {
            bail!("reply larger than {READ_BUFFER_BYTES_MAX} bytes");
        }
        self.rbuf.resize(self.rbuf.len() * 2, 0);
        Ok(())
    }
}

/// An error reply's text without its type byte and CRLF.
pub fn error_text(reply: &[u8]) -> String {
    let text = reply.get(1..reply.len().saturating_sub(2)).unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// One benchmark client.
struct Client {
    conn: Conn,
    gen: RequestGen,
    rng: Rng,
    wbuf: Vec<u8>,
}

impl Client {
    fn new(stream: TcpStream, gen: RequestGen, rng: Rng) -> Client {
        Client { conn: Conn::new(stream), gen, rng, wbuf: Vec::new() }
    }

    async fn run(mut self, shared: Arc<Shared>) -> anyhow::Result<ClientResult> {
        let mut result = ClientResult {
            requests: 0,
            errors: 0,
            latency_us: new_histogram(),
            first_error: None,
            last_reply: shared.measure_start,
        };
        loop {
            let now = Instant::now();
            let batch = shared.claim(now);
            if batch == 0 {
                return Ok(result);
            }
            let measured = now >= shared.measure_start;
            self.wbuf.clear();
            for _ in 0..batch {
                self.gen.write(&mut self.wbuf, &mut self.rng);
            }
            let sent = Instant::now();
            self.conn.stream.write_all(&self.wbuf).await?;
            let (mut errors, mut first_error) = (0, None);
            let latency = &mut result.latency_us;
            let last = self
                .conn
                .read_replies(batch, |reply, at, bytes| {
                    if !measured {
                        return;
                    }
                    latency.saturating_record(at.saturating_duration_since(sent).as_micros() as u64);
                    if reply.is_error() {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(error_text(bytes));
                        }
                    }
                })
                .await?;
            if measured {
                result.requests += batch;
                result.errors += errors;
                result.first_error = result.first_error.or(first_error);
                result.last_reply = last;
                shared.progress.completed.fetch_add(batch, Ordering::Relaxed);
            }
        }
    }
}
