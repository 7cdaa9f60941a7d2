//! Copying slots to another node over a byte stream: the data half of a slot
//! move (the cluster decides when, and hands over ownership).
//!
//! The source subscribes to the slots' change feed, then sends a copy of the
//! slots interleaved with their changes (`feed_tap::SlotStream`), then only
//! the changes, until it is told to stop. The target applies what arrives in
//! order (`feed_tap::apply_stream`: whole values by version, deltas only on
//! the version they followed) and commits it through its own commit point,
//! so what it acknowledges is durable under its `appendfsync`. Because every
//! record carries its version, the overlap between the copy and the changes
//! is harmless, and so is sending a copy again after a failure.
//!
//! A handover, as the cluster runs it: the source sends the copy
//! ([`Frame::Copied`] marks its end); once the target has acknowledged
//! everything through that mark it is caught up, and the topology may make
//! it the slots' owner under a new epoch. The source then refuses writes to
//! the slots (MOVED), sends the changes it had accepted, and ends the stream
//! ([`Frame::End`]); the target's acknowledgement of the end means it holds
//! every write the source acknowledged.
//!
//! Wire format (Gyre's own; integers little-endian), both directions:
//! `u32 payload len | u32 crc32c(kind ‖ payload) | u8 kind | payload`.
//! Source to target: `Records` (encoded feed records), `Copied` (empty, or
//! a version: u64 HLC, u16 node), `End`.
//! Target to source: `Ack` (u64: the sequence number of the last frame it
//! applied and made durable, frames counted from 1), and, on a target with
//! a log, `Synced` (u64: the last frame whose records its log has fsynced,
//! sent as its fsyncs cover them, between frames too).
//!
//! Limits: a frame is at most [`FRAME_BYTES_MAX`]; the source reads its copy
//! in chunks of about [`CHUNK_BYTES`] and sends no faster than its
//! `bytes_per_sec` budget; it waits for acknowledgements once
//! [`UNACKED_FRAMES_MAX`] frames are in flight.

use std::time::{Duration, Instant};

use bytes::Bytes;
use gyre_engine::{DbIndex, SlotId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::info;

use crate::feed_tap::{apply_stream, Applied, Lagged, SlotStream};
use crate::shared::Shared;
use gyre_engine::keyspace::key_hash;

/// The largest frame either side accepts.
pub const FRAME_BYTES_MAX: usize = 64 << 20;
/// How much of the copy the source reads at a time (under one shard lock).
pub const CHUNK_BYTES: usize = 256 << 10;
/// Frames up to this size go out in one write (header and payload copied
/// together); larger ones in two.
const ONE_WRITE_BYTES_MAX: usize = 64 << 10;
/// Frames the source sends ahead of the target's acknowledgements.
pub const UNACKED_FRAMES_MAX: u64 = 64;

const KIND_RECORDS: u8 = 1;
const KIND_COPIED: u8 = 2;
const KIND_END: u8 = 3;
const KIND_ACK: u8 = 4;
const KIND_SYNCED: u8 = 5;

/// One frame of the transfer protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Encoded change-feed records, in order.
    Records(Bytes),
    /// The copy is complete: what follows are changes only. With a version
    /// (a replica's feed from its caught-up primary): the source holds
    /// nothing of the slots, not even a tombstone, that the stream has not
    /// named and that is older than this version (it was taken just after
    /// the source subscribed to the slots' changes, so anything written
    /// since is newer); the target forgets what it holds of that kind
    /// (anti-entropy: see `replication`).
    Copied(Option<gyre_engine::Version>),
    /// The source has sent everything; the stream ends.
    End,
    /// The target applied and made durable every frame through this one.
    Ack(u64),
    /// Target to source: every frame through this one is fsynced to the
    /// target's log (WAITAOF counts it; a target without a log sends none).
    Synced(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("slot transfer link: {0}")]
    Io(#[from] std::io::Error),
    #[error("slot transfer frame of {0} bytes exceeds the limit of {FRAME_BYTES_MAX}")]
    FrameTooLarge(usize),
    #[error("slot transfer frame checksum mismatch")]
    Checksum,
    #[error("slot transfer: unexpected frame kind {0}")]
    UnexpectedKind(u8),
    #[error("slot transfer: {0} records did not decode")]
    Undecodable(usize),
    #[error("slot transfer: the target's log refused the data: {0}")]
    NotDurable(String),
    #[error(transparent)]
    Lagged(#[from] Lagged),
    #[error("slot transfer: the target stopped acknowledging")]
    AcksEnded,
    #[error("slot transfer: {0} records carried versions beyond max-clock-drift-ms; is the source's clock far ahead?")]
    ClockDrift(usize),
    #[error("slot transfer: {0}")]
    Fenced(String),
    #[error("slot transfer: nothing arrived for {0:?}")]
    Idle(Duration),
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> Result<(), TransferError> {
    if let Frame::Records(b) = frame {
        if b.len() > ONE_WRITE_BYTES_MAX {
            // Header and payload in two writes, without copying the payload.
            w.write_all(&frame_header(KIND_RECORDS, b)?).await?;
            w.write_all(b).await?;
            w.flush().await?;
            return Ok(());
        }
    }
    write_frames(w, std::slice::from_ref(frame)).await
}

/// Small frames in one write (replication sends many).
async fn write_frames<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Frame]) -> Result<(), TransferError> {
    let mut out = Vec::new();
    for frame in frames {
        let mut small = [0u8; 10];
        let (kind, payload) = frame_parts(frame, &mut small);
        out.extend_from_slice(&frame_header(kind, payload)?);
        out.extend_from_slice(payload);
    }
    w.write_all(&out).await?;
    w.flush().await?;
    Ok(())
}

/// A frame's kind and payload (the numbers encoded in `small`).
fn frame_parts<'a>(frame: &'a Frame, small: &'a mut [u8; 10]) -> (u8, &'a [u8]) {
    match frame {
        Frame::Records(b) => (KIND_RECORDS, b),
        Frame::Copied(None) => (KIND_COPIED, &[]),
        Frame::Copied(Some(v)) => {
            small[..8].copy_from_slice(&v.hlc().to_le_bytes());
            small[8..].copy_from_slice(&v.node().to_le_bytes());
            (KIND_COPIED, &small[..])
        }
        Frame::End => (KIND_END, &[]),
        Frame::Ack(seq) | Frame::Synced(seq) => {
            small[..8].copy_from_slice(&seq.to_le_bytes());
            let kind = if matches!(frame, Frame::Ack(_)) { KIND_ACK } else { KIND_SYNCED };
            (kind, &small[..8])
        }
    }
}

/// The header of a frame of `kind` carrying `payload`.
fn frame_header(kind: u8, payload: &[u8]) -> Result<[u8; 9], TransferError> {
    if payload.len() > FRAME_BYTES_MAX {
        return Err(TransferError::FrameTooLarge(payload.len()));
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[kind]), payload);
    let mut header = [0u8; 9];
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8] = kind;
    Ok(header)
}

pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Frame, TransferError> {
    let mut header = [0u8; 9];
    r.read_exact(&mut header).await?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let kind = header[8];
    if len > FRAME_BYTES_MAX {
        return Err(TransferError::FrameTooLarge(len));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    if crc32c::crc32c_append(crc32c::crc32c(&[kind]), &payload) != crc {
        return Err(TransferError::Checksum);
    }
    Ok(match kind {
        KIND_RECORDS => Frame::Records(Bytes::from(payload)),
        KIND_COPIED if len == 0 => Frame::Copied(None),
        KIND_COPIED if len == 10 => Frame::Copied(Some(gyre_engine::Version::new(
            u64::from_le_bytes(payload[..8].try_into().expect("8 bytes")),
            u16::from_le_bytes(payload[8..].try_into().expect("2 bytes")),
        ))),
        KIND_END if len == 0 => Frame::End,
        KIND_ACK if len == 8 => Frame::Ack(u64::from_le_bytes(payload[..].try_into().expect("8 bytes"))),
        KIND_SYNCED if len == 8 => Frame::Synced(u64::from_le_bytes(payload[..].try_into().expect("8 bytes"))),
        other => return Err(TransferError::UnexpectedKind(other)),
    })
}

/// The source's settings for one transfer.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Bandwidth budget (0: unlimited).
    pub bytes_per_sec: u64,
    /// How much of the copy is read at a time (under one shard lock).
    pub chunk_bytes: usize,
    /// CPU budget of reading the copy, in percent of one core (100: none):
    /// after each chunk the sender rests in proportion to the time it took.
    pub cpu_percent: u8,
    /// Once the copy is acknowledged, whenever the feed moves on, send a
    /// frame (empty if no record concerns the slots), so the target's
    /// acknowledgements follow the feed's position (replication: a write
    /// waits for its replicas to reach its position; see `replication`).
    pub follow_feed: bool,
    /// End the copy with the version before which the target may forget
    /// what the stream did not name ([`Frame::Copied`]): only a caught-up
    /// primary's feed, whose copy is authoritative.
    pub authoritative: bool,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            bytes_per_sec: 0,
            chunk_bytes: CHUNK_BYTES,
            cpu_percent: 100,
            follow_feed: false,
            authoritative: false,
        }
    }
}

/// What a target's acknowledgement says it holds durably (replication):
/// every record of the slots offered after `since` up to `position`, and,
/// once `copied`, everything older too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub position: u64,
    pub since: u64,
    pub copied: bool,
    /// Once `copied`: the source's log position (LSN; 0 when unknown or
    /// without a log) through which the target holds every record of the
    /// slots (see `hints`).
    pub lsn: u64,
    /// The feed position through which what it holds is also fsynced to
    /// its log (0: none yet; `Frame::Synced`).
    pub synced: u64,
}

/// Told what the target holds each time it acknowledges more.
pub type OnAck<'a> = &'a (dyn Fn(Held) + Send + Sync);

/// What a transfer moved, for INFO and the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub frames: u64,
    pub bytes: u64,
    pub records: u64,
    /// The copy is complete (changes only from here on).
    pub copied: bool,
    /// The last frame the target acknowledged.
    pub acked: u64,
    /// The last frame the target said is fsynced to its log.
    pub synced: u64,
}

/// The source side: sends `slots` of database `db` over `link`, then their
/// changes; once the target has acknowledged the whole copy (it is caught
/// up) awaits `stop`, then sends the last changes and `End`, and waits for
/// the target to acknowledge everything. `stop` resolves once the slots
/// refuse writes here and the writes already running on them have reached
/// the change feed, so the last changes are all taken. A tap
/// that lagged ends the transfer with [`TransferError::Lagged`]: start it
/// again (the target applies a second copy idempotently).
pub async fn send_slots<L: AsyncRead + AsyncWrite + Send + 'static>(
    shared: &Shared,
    link: L,
    db: DbIndex,
    slots: &[SlotId],
    opts: SendOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Progress, TransferError> {
    send_slots_acked(shared, link, db, slots, opts, stop, &|_| {}).await
}

/// [`send_slots`], telling `on_ack` what the target holds each time it
/// acknowledges more.
pub async fn send_slots_acked<L: AsyncRead + AsyncWrite + Send + 'static>(
    shared: &Shared,
    link: L,
    db: DbIndex,
    slots: &[SlotId],
    opts: SendOptions,
    stop: impl std::future::Future<Output = ()>,
    on_ack: OnAck<'_>,
) -> Result<Progress, TransferError> {
    let stream = SlotStream::start(&shared.persistence.taps, &shared.ks, db, slots);
    let (result, sent) = send_stream(shared, link, stream, None, slots, opts, stop, on_ack, None).await;
    sent.stream.finish(&shared.persistence.taps);
    result
}

/// A replica's feed whose link broke after the replica acknowledged its
/// copy, kept to be resumed (hinted handoff, in memory): its tap goes on
/// gathering the slots' changes (up to its bound: past it the tap lags and
/// the feed must copy again), and the frames the replica had not
/// acknowledged are kept. The replica holds durably everything it
/// acknowledged, so resuming with those frames and then the tap leaves it
/// missing nothing (a replica whose data was lost meanwhile differs from
/// its primary's digests, and anti-entropy sends it a copy).
pub struct Parked {
    stream: SlotStream,
    /// The frames not acknowledged, and their records.
    unacked: Vec<Unacked>,
    /// The frames come from the log, and the copy is complete only once
    /// they are acknowledged ([`from_log`]); else the replica had the copy.
    from_log: bool,
}

impl Parked {
    /// Whether its tap fell behind its bound (what it gathered is gone).
    pub fn lagged(&self) -> bool {
        self.stream.lagged()
    }

    /// Bytes of records kept in the frames not acknowledged.
    pub fn unacked_bytes(&self) -> usize {
        self.unacked.iter().map(|u| u.payload.as_ref().map_or(0, Bytes::len)).sum()
    }

    /// Bytes of hints it keeps: the frames not acknowledged, and the
    /// changes gathered since.
    pub fn hint_bytes(&self) -> usize {
        self.unacked_bytes() + self.stream.gathered_bytes()
    }
}

/// A frame sent and not acknowledged yet.
struct Unacked {
    /// Its number in the stream.
    frame: u64,
    /// The feed position it brings the target to.
    seen: u64,
    /// The log position through which it (with the frames before it)
    /// carries every record of the slots.
    lsn: u64,
    /// Its records, kept for a feed to resume (None: none, or not kept).
    payload: Option<Bytes>,
}

/// A feed to resume from this node's write-ahead log (durable hinted
/// handoff, after this node restarted): subscribes to `slots`' changes,
/// then reads back every record of theirs the log holds after LSN `after`
/// (through the last record appended before the subscription, so nothing
/// is missed between the two; the overlap is held by version). None when
/// that cannot be done without a copy: no log, the log no longer holds the
/// range (segments removed after a snapshot), more than `max_bytes` of
/// records, or a record that is not one key's (a flush, a slot dropped).
pub async fn from_log(shared: &Shared, slots: &[SlotId], after: u64, max_bytes: usize) -> Option<Parked> {
    let wal = shared.persistence.wal.clone()?;
    let stream = SlotStream::changes_only(&shared.persistence.taps, &shared.ks, 0, slots, max_bytes);
    let upto = wal.last_lsn();
    wal.wait_durable(upto).await.ok()?;
    let since = stream.since();
    let dir = shared.persistence.dir.clone();
    let mut wanted = vec![false; gyre_engine::slot::SLOT_COUNT];
    for s in slots {
        wanted[s.index()] = true;
    }
    let read = tokio::task::spawn_blocking(move || {
        let (mut frames, mut frame, mut bytes, mut whole) = (Vec::new(), Vec::new(), 0usize, true);
        let complete = gyre_log::wal::read_range(&dir, gyre_log::wal::Lsn(after), upto, |lsn, payload| {
            let payload = Bytes::copy_from_slice(payload);
            for (record, slot) in gyre_engine::keyspace::records(&payload) {
                match slot {
                    Some(slot) if !wanted[slot.index()] => {}
                    Some(_) if !is_drop(&record) => {
                        // Past the bound nothing more is kept (a copy it is).
                        bytes += record.len();
                        if bytes <= max_bytes {
                            frame.extend_from_slice(&record);
                        }
                    }
                    _ => whole = false,
                }
            }
            if frame.len() >= CHUNK_BYTES && bytes <= max_bytes {
                let payload = Some(Bytes::from(std::mem::take(&mut frame)));
                frames.push(Unacked { frame: 0, seen: since, lsn: lsn.0, payload });
            }
        });
        if !frame.is_empty() {
            frames.push(Unacked { frame: 0, seen: since, lsn: upto.0, payload: Some(Bytes::from(frame)) });
        }
        (complete, whole && bytes <= max_bytes, frames)
    });
    match read.await {
        Ok((Ok(true), true, unacked)) => Some(Parked { stream, unacked, from_log: true }),
        _ => {
            stream.finish(&shared.persistence.taps);
            None
        }
    }
}

/// Whether an encoded feed record drops a whole slot.
fn is_drop(record: &Bytes) -> bool {
    matches!(gyre_engine::mutation::decode_fed(record).map(|d| d.mutation), Ok(gyre_engine::Mutation::DropSlot { .. }))
}

/// A replica's feed ([`send_slots_acked`] that never stops on its own):
/// a fresh copy, or with `parked` the resumption of a feed whose link
/// broke ([`Parked`]), that also sends the `repairs` anti-entropy queues.
/// Returns how it ended and, when the link broke after the replica
/// acknowledged its copy, the feed to resume later.
#[allow(clippy::too_many_arguments)]
pub async fn send_feed<L: AsyncRead + AsyncWrite + Send + 'static>(
    shared: &Shared,
    link: L,
    slots: &[SlotId],
    opts: SendOptions,
    on_ack: OnAck<'_>,
    parked: Option<Parked>,
    tap_bytes: usize,
    repairs: &Repairs,
) -> (Result<Progress, TransferError>, Option<Parked>) {
    let taps = &shared.persistence.taps;
    let (stream, resume) = match parked {
        Some(p) if !p.stream.lagged() => (p.stream, Some((p.unacked, p.from_log))),
        _ => (SlotStream::start_bounded(taps, &shared.ks, 0, slots, tap_bytes), None),
    };
    let (result, sent) =
        send_stream(shared, link, stream, resume, slots, opts, std::future::pending(), on_ack, Some(repairs)).await;
    if result.is_err() && sent.copy_acked && !sent.stream.lagged() {
        let unacked = sent.unacked.into_iter().filter(|u| u.payload.is_some()).collect();
        return (result, Some(Parked { stream: sent.stream, unacked, from_log: false }));
    }
    sent.stream.finish(taps);
    (result, None)
}

/// Keys anti-entropy found differing in a feed's replica (each with the
/// version the replica holds), for the feed to send the records that
/// repair them ([`gyre_engine::Keyspace::export_repair`]). They go in the
/// feed's order: each key is read when its records are sent, after every
/// change the feed already sent, so a change that follows reaches the
/// replica after it (and one already included in it is held there).
#[derive(Default)]
pub struct Repairs {
    queue: parking_lot::Mutex<std::collections::VecDeque<gyre_engine::keyspace::KeyRepair>>,
    ready: tokio::sync::Notify,
}

impl Repairs {
    /// Queues `keys` to repair.
    pub fn push(&self, keys: Vec<gyre_engine::keyspace::KeyRepair>) {
        if keys.is_empty() {
            return;
        }
        self.queue.lock().extend(keys);
        self.ready.notify_one();
    }

    /// Keys queued and not sent yet.
    pub fn pending(&self) -> usize {
        self.queue.lock().len()
    }

    /// The records of the next queued keys, about `chunk_bytes` of them.
    fn take(&self, ks: &gyre_engine::Keyspace, chunk_bytes: usize, now_ms: u64) -> Bytes {
        let mut out = Vec::new();
        let mut queue = self.queue.lock();
        while out.len() < chunk_bytes.max(1) {
            let Some((key, theirs)) = queue.pop_front() else { break };
            ks.export_repair(0, &key, theirs, now_ms, &mut out);
        }
        Bytes::from(out)
    }
}

/// What a sender leaves behind: its stream, whether the target
/// acknowledged the copy, and the frames it had not acknowledged.
struct Sent {
    stream: SlotStream,
    copy_acked: bool,
    unacked: std::collections::VecDeque<Unacked>,
}

/// Sends `stream` over `link` (see [`send_slots`]); `resume`: a resumed
/// feed, with the frames to send first (and whether they come from the
/// log, see [`Parked`]).
#[allow(clippy::too_many_arguments)]
async fn send_stream<L: AsyncRead + AsyncWrite + Send + 'static>(
    shared: &Shared,
    link: L,
    stream: SlotStream,
    resume: Option<(Vec<Unacked>, bool)>,
    slots: &[SlotId],
    opts: SendOptions,
    stop: impl std::future::Future<Output = ()>,
    on_ack: OnAck<'_>,
    repairs: Option<&Repairs>,
) -> (Result<Progress, TransferError>, Sent) {
    // Subscribed: every write from here on is newer than this.
    let before = opts.authoritative.then(|| shared.ks.next_version(shared.now_ms()));
    let (rx, tx) = tokio::io::split(link);
    // Acknowledgements are read by a task of their own: a frame read is not
    // safe to abandon halfway, as a `select!` branch would.
    let (ack_tx, acks) = tokio::sync::watch::channel((0u64, 0u64));
    // Aborted on drop too: a cancelled feed must not leave the reader
    // holding the link open.
    let mut reader = AbortOnDrop(tokio::spawn(read_acks(rx, ack_tx)));
    let mut sent = Sent { stream, copy_acked: false, unacked: Default::default() };
    let result = send_inner(shared, tx, acks, &mut sent, resume, slots, opts, before, stop, on_ack, repairs).await;
    reader.0.abort();
    let result = match (result, (&mut reader.0).await) {
        (Err(TransferError::AcksEnded), Ok(Err(read))) => Err(read),
        (result, _) => result,
    };
    (result, sent)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the target's acknowledgements: the frames it holds, and the
/// frames fsynced to its log.
async fn read_acks<R: AsyncRead + Unpin>(
    mut rx: R,
    acks: tokio::sync::watch::Sender<(u64, u64)>,
) -> Result<(), TransferError> {
    loop {
        match read_frame(&mut rx).await? {
            Frame::Ack(seq) => acks.send_modify(|a| a.0 = seq),
            Frame::Synced(seq) => acks.send_modify(|a| a.1 = seq),
            _ => return Err(TransferError::UnexpectedKind(0)),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_inner<W: AsyncWrite + Unpin>(
    shared: &Shared,
    mut tx: W,
    mut acks: tokio::sync::watch::Receiver<(u64, u64)>,
    sent: &mut Sent,
    resume: Option<(Vec<Unacked>, bool)>,
    slots: &[SlotId],
    opts: SendOptions,
    forget_before: Option<gyre_engine::Version>,
    stop: impl std::future::Future<Output = ()>,
    on_ack: OnAck<'_>,
    repairs: Option<&Repairs>,
) -> Result<Progress, TransferError> {
    let started = Instant::now();
    let mut progress = Progress::default();
    let mut last_report = Instant::now();
    tokio::pin!(stop);
    let mut stopping = false;
    // The frame that ended the copy; caught up once it is acknowledged.
    let mut copied_at = u64::MAX;
    // Rest the CPU budget asks for and not taken yet.
    let mut owed_rest = Duration::ZERO;
    // Frames sent and not acknowledged: the feed position each brings the
    // target to (and its records, kept for a feed to resume).
    let Sent { stream, copy_acked, unacked: positions } = sent;
    let keep = opts.follow_feed;
    // The feed position of the last frame sent.
    let mut framed = 0u64;
    let since = stream.since();
    // Frames acknowledged and not yet said fsynced: number, position.
    let mut unsynced = std::collections::VecDeque::<(u64, u64)>::new();
    let mut synced_position = 0u64;
    let mut acked = |progress: &Progress,
                     positions: &mut std::collections::VecDeque<Unacked>,
                     copied_at: u64,
                     copy_acked: &mut bool| {
        let (mut at, mut lsn) = (None, 0);
        while positions.front().is_some_and(|u| u.frame <= progress.acked) {
            let u = positions.pop_front().expect("a front");
            at = Some(u.seen);
            lsn = lsn.max(u.lsn);
            unsynced.push_back((u.frame, u.seen));
        }
        let mut synced = None;
        while unsynced.front().is_some_and(|(frame, _)| *frame <= progress.synced) {
            synced = unsynced.pop_front().map(|(_, seen)| seen);
        }
        *copy_acked |= progress.acked >= copied_at;
        if let Some(s) = synced {
            synced_position = synced_position.max(s);
        }
        if at.is_some() || synced.is_some() {
            let position = at.unwrap_or(0);
            let copied = progress.acked >= copied_at;
            on_ack(Held { position, since, copied, lsn, synced: if copied { synced_position } else { 0 } });
        }
    };
    // A resumed feed's last replayed frame (see below), until acknowledged.
    let mut replayed_at = u64::MAX;
    // The log position through which every record of the slots was
    // offered (to the stream, or before it subscribed: its copy).
    let lsn_now = || shared.persistence.wal.as_ref().map_or(0, |w| w.written_lsn().0);
    if let Some((resume, from_log)) = resume {
        // A resumed feed: the target had the copy; what it had not
        // acknowledged goes again (or, from the log, what it missed; the
        // copy is then complete once that is acknowledged), then the
        // changes gathered since.
        if !from_log {
            send(&mut tx, &Frame::Copied(None), &mut progress).await?;
            copied_at = progress.frames;
            positions.push_back(Unacked { frame: copied_at, seen: since, lsn: 0, payload: None });
        }
        let mut lsn = 0;
        for u in resume {
            let payload = u.payload.unwrap_or_default();
            progress.bytes += payload.len() as u64;
            send(&mut tx, &Frame::Records(payload.clone()), &mut progress).await?;
            positions.push_back(Unacked { frame: progress.frames, payload: Some(payload), ..u });
            framed = u.seen;
            lsn = u.lsn;
        }
        if from_log {
            send(&mut tx, &Frame::Copied(None), &mut progress).await?;
            copied_at = progress.frames;
            positions.push_back(Unacked { frame: copied_at, seen: since, lsn, payload: None });
        }
        progress.copied = true;
        replayed_at = progress.frames;
        info!(
            slots = slots.len(),
            frames = progress.frames,
            from_log,
            "replication: hint replay started (a feed resumed without a copy)"
        );
    }
    loop {
        if progress.acked >= replayed_at {
            replayed_at = u64::MAX;
            info!(slots = slots.len(), "replication: hint replay done (the replica holds what it missed)");
        }
        // Acknowledgements that arrived meanwhile (during a copy, writes
        // wait for them).
        if acks.has_changed().unwrap_or(false) {
            (progress.acked, progress.synced) = *acks.borrow_and_update();
            acked(&progress, positions, copied_at, copy_acked);
        }
        // Flow control: wait for acknowledgements when far ahead.
        while progress.frames >= progress.acked + UNACKED_FRAMES_MAX {
            acks.changed().await.map_err(|_| TransferError::AcksEnded)?;
            (progress.acked, progress.synced) = *acks.borrow_and_update();
            acked(&progress, positions, copied_at, copy_acked);
        }
        let was_copied = stream.copied();
        let reading = Instant::now();
        let lsn = lsn_now();
        let (records, seen) = stream.next_seen(&shared.ks, opts.chunk_bytes, shared.now_ms())?;
        rest(opts.cpu_percent, reading.elapsed(), &mut owed_rest).await;
        if !records.is_empty() || (opts.follow_feed && was_copied && seen > framed) {
            let mut payload = Vec::with_capacity(records.iter().map(Bytes::len).sum());
            for r in &records {
                payload.extend_from_slice(r);
            }
            progress.records += records.len() as u64;
            progress.bytes += payload.len() as u64;
            let payload = Bytes::from(payload);
            send(&mut tx, &Frame::Records(payload.clone()), &mut progress).await?;
            positions.push_back(Unacked { frame: progress.frames, seen, lsn, payload: keep.then_some(payload) });
            framed = seen;
            pace(opts.bytes_per_sec, progress.bytes, started).await;
        }
        if !was_copied && stream.copied() {
            send(&mut tx, &Frame::Copied(forget_before), &mut progress).await?;
            progress.copied = true;
            copied_at = progress.frames;
            positions.push_back(Unacked { frame: progress.frames, seen, lsn, payload: None });
            info!(
                slots = slots.len(),
                mb = progress.bytes >> 20,
                ms = started.elapsed().as_millis() as u64,
                "slot copy sent; streaming changes"
            );
        }
        if let Some(repairs) = repairs.filter(|_| stream.copied()) {
            // After the changes taken so far (see [`Repairs`]).
            let reading = Instant::now();
            let payload = repairs.take(&shared.ks, opts.chunk_bytes, shared.now_ms());
            rest(opts.cpu_percent, reading.elapsed(), &mut owed_rest).await;
            if !payload.is_empty() {
                progress.bytes += payload.len() as u64;
                send(&mut tx, &Frame::Records(payload.clone()), &mut progress).await?;
                let payload = keep.then_some(payload);
                positions.push_back(Unacked { frame: progress.frames, seen: framed, lsn, payload });
                pace(opts.bytes_per_sec, progress.bytes, started).await;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) && !(opts.follow_feed && progress.copied) {
            info!(
                slots = slots.len(),
                mb = progress.bytes >> 20,
                records = progress.records,
                copied = progress.copied,
                "sending slots"
            );
            last_report = Instant::now();
        }
        if stopping {
            break;
        }
        if stream.copied() {
            // Changes only: wait for one, an acknowledgement, or (caught up)
            // the stop.
            let caught_up = progress.acked >= copied_at;
            let repairing = async {
                match repairs {
                    Some(r) => r.ready.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stream.changed(opts.follow_feed.then_some(framed)) => {}
                () = repairing => {}
                () = &mut stop, if caught_up => stopping = true,
                changed = acks.changed() => {
                    changed.map_err(|_| TransferError::AcksEnded)?;
                    (progress.acked, progress.synced) = *acks.borrow_and_update();
                    acked(&progress, positions, copied_at, copy_acked);
                }
            }
        }
    }
    send(&mut tx, &Frame::End, &mut progress).await?;
    while progress.acked < progress.frames {
        acks.changed().await.map_err(|_| TransferError::AcksEnded)?;
        (progress.acked, progress.synced) = *acks.borrow_and_update();
    }
    info!(
        slots = slots.len(),
        mb = progress.bytes >> 20,
        records = progress.records,
        ms = started.elapsed().as_millis() as u64,
        "slot transfer done"
    );
    Ok(progress)
}

async fn send<W: AsyncWrite + Unpin>(tx: &mut W, frame: &Frame, progress: &mut Progress) -> Result<(), TransferError> {
    write_frame(tx, frame).await?;
    progress.frames += 1;
    Ok(())
}

/// Rests owed below this are kept for later (a timer's granularity is
/// about a millisecond; a chunk's read is often less).
const REST_MIN: Duration = Duration::from_millis(5);

/// After work that took `worked`, owes a rest so that work is at most
/// `percent` of the time, and takes it once it reaches [`REST_MIN`].
async fn rest(percent: u8, worked: Duration, owed: &mut Duration) {
    if percent >= 100 {
        return;
    }
    let percent = u32::from(percent.max(1));
    *owed += worked * (100 - percent) / percent;
    if *owed >= REST_MIN {
        let started = Instant::now();
        tokio::time::sleep(*owed).await;
        *owed = owed.saturating_sub(started.elapsed());
    }
}

/// Sleeps as long as sending `sent` bytes since `started` is ahead of the budget.
async fn pace(bytes_per_sec: u64, sent: u64, started: Instant) {
    if bytes_per_sec == 0 {
        return;
    }
    let due = Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64);
    if let Some(ahead) = due.checked_sub(started.elapsed()) {
        tokio::time::sleep(ahead).await;
    }
}

/// The target side: applies what arrives over `link` and acknowledges each
/// frame once it is durable here, until `End`. Returns what it applied.
pub async fn receive_slots<L: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    link: L,
) -> Result<Applied, TransferError> {
    receive_slots_fenced(shared, link, &|| Ok(()), None, None).await
}

/// A replica's feed, for [`receive_slots_fenced`]: the slots it carries
/// (of database 0), and where to note how far it got.
#[derive(Clone, Copy)]
pub struct Follows<'a> {
    pub slots: &'a [u16],
    /// Raised to the newest version (HLC) of the records applied and made
    /// durable here (see `DataPlane::applied_from`).
    pub furthest: &'a std::sync::atomic::AtomicU64,
}

/// [`receive_slots`], asking `fence` before each frame is applied and
/// acknowledged whether the source may still send here (a replica stops
/// acknowledging a primary the topology has deposed), and giving up when
/// no frame arrives for `idle` (a copy whose sender stalled). With
/// `follows` (a replica's feed), a copy that ends with a version
/// ([`Frame::Copied`]) makes this node forget what it holds of the feed's
/// slots that the stream did not name and that is older than that version
/// ([`forget_unnamed`]), and the feed's progress is noted as it goes.
pub async fn receive_slots_fenced<L: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    link: L,
    fence: &(dyn Fn() -> Result<(), String> + Send + Sync),
    idle: Option<Duration>,
    follows: Option<Follows<'_>>,
) -> Result<Applied, TransferError> {
    let forgets = follows.map(|f| f.slots);
    let (rx, mut tx) = tokio::io::split(link);
    // Buffered: frames already received are applied together, made durable
    // with one log write and acknowledged once (acknowledgements are
    // cumulative), instead of one of each per frame.
    let mut rx = tokio::io::BufReader::with_capacity(RECEIVE_BUFFER_BYTES, rx);
    let mut total = Applied::default();
    let mut seq = 0u64;
    // The keys the stream named until its copy ended (by hash: a collision
    // only keeps a key that could have been forgotten).
    let mut named = forgets.map(|_| std::collections::HashSet::<u64>::new());
    // Copy records this node holds a newer version of (see
    // [`forget_unnamed`]).
    let mut newer_here: Vec<Bytes> = Vec::new();
    // Frames acknowledged and not yet fsynced here: number, log record.
    let wal = shared.persistence.wal.clone();
    let (mut unsynced, mut logged) = (std::collections::VecDeque::<(u64, u64)>::new(), 0u64);
    loop {
        // While acknowledged frames wait for the log's fsync, say when they
        // are fsynced (`Frame::Synced`), also between frames.
        if let Some(wal) = wal.as_ref().filter(|_| !unsynced.is_empty()) {
            loop {
                report_synced(&mut tx, wal, &mut unsynced).await?;
                if unsynced.is_empty() || !rx.buffer().is_empty() {
                    break;
                }
                tokio::select! {
                    // Cancel-safe: what it read stays in the buffer.
                    filled = tokio::io::AsyncBufReadExt::fill_buf(&mut rx) => {
                        filled?;
                        break;
                    }
                    () = tokio::time::sleep(SYNCED_POLL) => {}
                }
            }
        }
        let frame = match idle {
            None => read_frame(&mut rx).await?,
            Some(limit) => {
                tokio::time::timeout(limit, read_frame(&mut rx)).await.map_err(|_| TransferError::Idle(limit))??
            }
        };
        let mut ticket = crate::commit::Ticket::NONE;
        let mut next = Some(frame);
        let mut ended = false;
        while let Some(frame) = next.take() {
            seq += 1;
            // Before applying too: a deposed primary's last records (the drop
            // of a slot it handed over) must not reach a replica that already
            // serves under the new map.
            fence().map_err(TransferError::Fenced)?;
            match frame {
                Frame::Records(bytes) => {
                    let records: Vec<Bytes> = gyre_engine::keyspace::records(&bytes).map(|(r, _)| r).collect();
                    if let Some(named) = named.as_mut() {
                        for r in &records {
                            let Ok(d) = gyre_engine::mutation::decode_fed(r) else { continue };
                            let Some((0, key)) = d.mutation.key() else { continue };
                            named.insert(key_hash(key));
                            let slot = SlotId::of(key);
                            if shared.ks.db(0).lock(slot).key_version(slot, key) > d.mutation.version() {
                                newer_here.push(r.clone());
                            }
                        }
                    }
                    let drift = crate::feed_tap::DriftCheck::of(shared);
                    let (applied, t) = apply_stream(&shared.persistence, &shared.ks, drift, &records);
                    if applied.undecodable > 0 || records.iter().map(Bytes::len).sum::<usize>() != bytes.len() {
                        return Err(TransferError::Undecodable(applied.undecodable.max(1)));
                    }
                    if applied.drift_refused > 0 {
                        return Err(TransferError::ClockDrift(applied.drift_refused));
                    }
                    ticket = ticket.and(t);
                    total.applied += applied.applied;
                    total.held += applied.held;
                    total.gaps += applied.gaps;
                    total.newest = total.newest.max(applied.newest);
                }
                Frame::Copied(before) => {
                    if let (Some(slots), Some(before), Some(named)) = (forgets, before, named.take()) {
                        let (forgotten, t) = forget_unnamed(shared, slots, &named, &newer_here, before);
                        total.forgotten += forgotten;
                        ticket = ticket.and(t);
                    }
                    named = None;
                    newer_here = Vec::new();
                }
                Frame::End => ended = true,
                Frame::Ack(_) => return Err(TransferError::UnexpectedKind(KIND_ACK)),
                Frame::Synced(_) => return Err(TransferError::UnexpectedKind(KIND_SYNCED)),
            }
            if !ended && frame_buffered(rx.buffer()) {
                next = Some(read_frame(&mut rx).await?);
            }
        }
        ticket.durable(&shared.persistence).await.map_err(TransferError::NotDurable)?;
        if let Some(f) = follows {
            f.furthest.fetch_max(total.newest, std::sync::atomic::Ordering::Relaxed);
        }
        fence().map_err(TransferError::Fenced)?;
        if let Some(wal) = wal.as_ref().filter(|_| !ended) {
            logged = logged.max(ticket.lsn().map_or(0, |l| l.0));
            if unsynced.is_empty() && wal.synced_lsn().0 >= logged {
                // Fsynced already (`appendfsync always`): both in one write.
                write_frames(&mut tx, &[Frame::Ack(seq), Frame::Synced(seq)]).await?;
                continue;
            }
            unsynced.push_back((seq, logged));
        }
        write_frame(&mut tx, &Frame::Ack(seq)).await?;
        if ended {
            return Ok(total);
        }
        if let Some(wal) = &wal {
            report_synced(&mut tx, wal, &mut unsynced).await?;
        }
    }
}

/// How often a receiver looks at its log's fsync progress while frames it
/// acknowledged wait for it.
const SYNCED_POLL: Duration = Duration::from_millis(20);

/// Sends `Frame::Synced` for the last of the acknowledged frames whose
/// records the log has fsynced (each entry: frame number, log record).
async fn report_synced<W: AsyncWrite + Unpin>(
    tx: &mut W,
    wal: &gyre_log::wal::Wal,
    unsynced: &mut std::collections::VecDeque<(u64, u64)>,
) -> Result<(), TransferError> {
    let synced = wal.synced_lsn().0;
    let mut last = None;
    while unsynced.front().is_some_and(|(_, lsn)| *lsn <= synced) {
        last = unsynced.pop_front().map(|(seq, _)| seq);
    }
    if let Some(seq) = last {
        write_frame(tx, &Frame::Synced(seq)).await?;
    }
    Ok(())
}

/// Anti-entropy at the end of a feed's copy, for `slots` (database 0):
/// what this replica holds older than `before` (taken just after the
/// primary subscribed to the slots, so every write since is newer) and
/// the primary's copy contradicts goes, as a logged `Mutation::Forget` of
/// the exact version held:
/// * a key or tombstone the stream did not name (`named`, by the
///   keyspace's `key_hash`): the primary had none and has written none
///   since: a deposed primary's unacknowledged write, a delete whose
///   tombstone the primary collected;
/// * a version newer than the primary's (`newer_here`: copy records this
///   node held a newer version of), which is then replaced by the
///   primary's: a write of another lineage.
///
/// A write acknowledged at `quorum` is never among them: a primary feeds
/// only after it caught up from a majority. Returns how many went and the
/// ticket of their log records.
pub fn forget_unnamed(
    shared: &Shared,
    slots: &[u16],
    named: &std::collections::HashSet<u64>,
    newer_here: &[Bytes],
    before: gyre_engine::Version,
) -> (usize, crate::commit::Ticket) {
    let mut log = gyre_engine::MutationLog::new();
    let mut forgotten = 0;
    let mut replace = Vec::new();
    for r in newer_here {
        let Ok(d) = gyre_engine::mutation::decode_fed(r) else { continue };
        let Some((0, key)) = d.mutation.key() else { continue };
        let slot = SlotId::of(key);
        let mut shard = shared.ks.db(0).lock(slot);
        let held = shard.key_version(slot, key);
        if held > d.mutation.version() && held < before {
            shard.commit(slot, &gyre_engine::Mutation::Forget { db: 0, key, version: held }, &mut log);
            forgotten += 1;
            replace.push(r.clone());
        }
    }
    for &s in slots {
        let slot = SlotId(s);
        let stale: Vec<_> = shared
            .ks
            .slot_versions(0, slot)
            .into_iter()
            .filter(|(key, version)| *version < before && !named.contains(&key_hash(key)))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let mut shard = shared.ks.db(0).lock(slot);
        for (key, version) in &stale {
            let m = gyre_engine::Mutation::Forget { db: 0, key: &key[..], version: *version };
            shard.commit(slot, &m, &mut log);
            forgotten += 1;
        }
    }
    let mut ticket = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
    if !replace.is_empty() {
        let drift = crate::feed_tap::DriftCheck::of(shared);
        ticket = ticket.and(apply_stream(&shared.persistence, &shared.ks, drift, &replace).1);
    }
    if forgotten > 0 {
        if let Some(face) = shared.cluster.get() {
            face.replication.keys_forgotten.fetch_add(forgotten as u64, std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(
            keys = forgotten,
            replaced = replace.len(),
            "replication: forgot what the primary's copy showed it does not have"
        );
    }
    (forgotten, ticket)
}

/// How much a receiver reads ahead.
const RECEIVE_BUFFER_BYTES: usize = 256 << 10;

/// Whether `buf` holds a whole frame.
fn frame_buffered(buf: &[u8]) -> bool {
    buf.len() >= 9 && 9 + u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize <= buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use gyre_engine::{Mutation, MutationLog};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn write(shared: &Shared, key: &[u8], f: impl FnOnce(gyre_engine::Version) -> Mutation<Vec<u8>>) {
        let mut log = MutationLog::new();
        let slot = SlotId::of(key);
        let mut shard = shared.ks.db(0).lock(slot);
        let m = f(shared.ks.next_version(crate::runtime::unix_ms()));
        shard.commit(slot, &m.as_ref(), &mut log);
        drop(shard);
        let _ = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
    }

    fn value(shared: &Shared, key: &[u8]) -> Option<String> {
        let slot = SlotId::of(key);
        let shard = shared.ks.db(0).lock(slot);
        shard.peek(slot, key).map(|e| format!("{:?}", e.value))
    }

    /// SET `key` `value` on `shared`.
    fn set(shared: &Shared, key: &[u8], value: &[u8]) {
        write(shared, key, |version| Mutation::Set {
            db: 0,
            key: key.to_vec(),
            value: value.to_vec(),
            expire_at_ms: 0,
            version,
        })
    }

    /// A primary (node tag 1, with a log when `logged`) and a replica (tag
    /// 2): two nodes issue different versions.
    fn primary_and_replica(logged: bool) -> (Arc<Shared>, Arc<Shared>) {
        let primary = Shared::start(Config::for_test_with_log(logged)).expect("primary");
        let replica = Shared::start(Config::for_test()).expect("replica");
        primary.ks.clock().set_node(1);
        replica.ks.clock().set_node(2);
        (primary, replica)
    }

    /// The replica's end of a feed of `slot`.
    fn follow(
        replica: &Arc<Shared>,
        slot: SlotId,
        link: tokio::io::DuplexStream,
    ) -> tokio::task::JoinHandle<Result<Applied, TransferError>> {
        follow_noting(replica, slot, link, Arc::default())
    }

    /// [`follow`], noting how far the feed got in `furthest`.
    fn follow_noting(
        replica: &Arc<Shared>,
        slot: SlotId,
        link: tokio::io::DuplexStream,
        furthest: Arc<std::sync::atomic::AtomicU64>,
    ) -> tokio::task::JoinHandle<Result<Applied, TransferError>> {
        let replica = Arc::clone(replica);
        tokio::spawn(async move {
            let follows = Follows { slots: &[slot.0], furthest: &furthest };
            receive_slots_fenced(&replica, link, &|| Ok(()), None, Some(follows)).await
        })
    }

    /// Waits (the thread sleeps: the feed runs on another worker) until
    /// `f` holds, for at most 5 s.
    fn until(what: &str, f: &dyn Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_move_whole_under_writes_and_the_target_acknowledges_the_end() {
        let source = Arc::new(Shared::start(Config::for_test()).expect("source"));
        let target = Arc::new(Shared::start(Config::for_test()).expect("target"));
        let key = |i: usize| format!("{{moving}}key{i}").into_bytes();
        for i in 0..2_000 {
            write(&source, &key(i), |version| Mutation::Set {
                db: 0,
                key: key(i),
                value: vec![b'x'; 100],
                expire_at_ms: 0,
                version,
            });
        }
        let slot = SlotId::of(&key(0));
        // Writes (whole values and appends) go on while the slot moves.
        let writing = Arc::new(AtomicBool::new(true));
        let writer = {
            let (source, writing) = (Arc::clone(&source), Arc::clone(&writing));
            tokio::task::spawn_blocking(move || {
                let mut n = 0usize;
                while writing.load(Ordering::Relaxed) {
                    let k = key(n * 7 % 2_000);
                    write(&source, &k, |version| Mutation::Append {
                        db: 0,
                        key: k.clone(),
                        data: b"+".to_vec(),
                        version,
                    });
                    n += 1;
                }
                n
            })
        };
        let (a, b) = tokio::io::duplex(1 << 16);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let receiving = {
            let target = Arc::clone(&target);
            tokio::spawn(async move { receive_slots(&target, b).await })
        };
        let sending = {
            let source = Arc::clone(&source);
            tokio::spawn(async move {
                let stop = async {
                    let _ = stop_rx.await;
                };
                send_slots(
                    &source,
                    a,
                    0,
                    &[slot],
                    SendOptions {
                        bytes_per_sec: 2 << 20,
                        chunk_bytes: 4 << 10,
                        cpu_percent: 50,
                        ..SendOptions::default()
                    },
                    stop,
                )
                .await
            })
        };
        // 2,000 keys of 100 bytes at 2 MB/s: about 0.1 s of copying.
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The handover: writes to the slot stop at the source, then the source
        // sends what is left and ends.
        writing.store(false, Ordering::Relaxed);
        let appends = writer.await.unwrap();
        assert!(appends > 0);
        stop_tx.send(()).unwrap();
        let progress = sending.await.unwrap().expect("sent");
        let applied = receiving.await.unwrap().expect("received");
        assert!(progress.copied && progress.acked == progress.frames);
        assert!(progress.frames > 40, "the copy went in many chunks, with writes between them");
        assert!(applied.applied >= 2_000);
        for i in 0..2_000 {
            assert_eq!(value(&target, &key(i)), value(&source, &key(i)), "key {i}");
        }
        assert_eq!(target.ks.slot_digest(0, slot), source.ks.slot_digest(0, slot));
        assert!(!source.persistence.taps.active(), "the source's tap is gone");
    }

    #[tokio::test]
    async fn a_receiver_gives_up_on_a_sender_that_stalls_and_refuses_a_fenced_one() {
        let target = Arc::new(Shared::start(Config::for_test()).expect("target"));
        let (_stalled, b) = tokio::io::duplex(1 << 10);
        let r = receive_slots_fenced(&target, b, &|| Ok(()), Some(Duration::from_millis(50)), None).await;
        assert!(matches!(r, Err(TransferError::Idle(_))), "{r:?}");
        let (mut a, b) = tokio::io::duplex(1 << 10);
        write_frame(&mut a, &Frame::Records(Bytes::new())).await.unwrap();
        let r = receive_slots_fenced(&target, b, &|| Err("deposed".into()), None, None).await;
        assert!(matches!(r, Err(TransferError::Fenced(ref why)) if why == "deposed"), "{r:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_followed_feed_reports_each_write_the_target_holds() {
        let source = Arc::new(Shared::start(Config::for_test()).expect("source"));
        // With a log: it also says what its fsyncs cover (WAITAOF).
        let target = Arc::new(Shared::start(Config::for_test_with_log(true)).expect("target"));
        let key = |i: usize| format!("{{fed}}key{i}").into_bytes();
        let other = |i: usize| format!("{{elsewhere}}key{i}").into_bytes();
        write(&source, &key(0), |version| Mutation::Set {
            db: 0,
            key: key(0),
            value: b"a".to_vec(),
            expire_at_ms: 0,
            version,
        });
        let slot = SlotId::of(&key(0));
        let (a, b) = tokio::io::duplex(1 << 16);
        let receiving = {
            let target = Arc::clone(&target);
            tokio::spawn(async move { receive_slots(&target, b).await })
        };
        let held = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let synced = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sending = {
            let (source, held, synced) = (Arc::clone(&source), Arc::clone(&held), Arc::clone(&synced));
            tokio::spawn(async move {
                let opts = SendOptions { follow_feed: true, ..SendOptions::default() };
                let on_ack = |h: Held| {
                    if h.copied {
                        held.fetch_max(h.position, Ordering::SeqCst);
                        synced.fetch_max(h.synced, Ordering::SeqCst);
                    }
                };
                send_slots_acked(&source, a, 0, &[slot], opts, std::future::pending(), &on_ack).await
            })
        };
        while !source.persistence.taps.active() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for round in 1..=20usize {
            // A write to the slot, then one to a slot the feed does not carry.
            let (k, v) = if round % 2 == 0 { (key(round), b"x".to_vec()) } else { (other(round), b"y".to_vec()) };
            let mut log = MutationLog::new();
            let s = SlotId::of(&k);
            {
                let mut shard = source.ks.db(0).lock(s);
                let version = source.ks.next_version(crate::runtime::unix_ms());
                shard.commit(
                    s,
                    &Mutation::Set { db: 0, key: k.clone(), value: v, expire_at_ms: 0, version }.as_ref(),
                    &mut log,
                );
            }
            let position = crate::commit::commit(&source.persistence, &source.ks, &mut log).feed();
            assert!(position > 0, "a write while a tap is on has a feed position");
            let deadline = Instant::now() + Duration::from_secs(5);
            while held.load(Ordering::SeqCst) < position {
                assert!(Instant::now() < deadline, "round {round}: the target never reported position {position}");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        assert!(value(&target, &key(20)).is_some());
        assert!(value(&target, &other(19)).is_none(), "only the slot is fed");
        // The target's log fsyncs every second (`everysec`): then it says
        // so, though no frame follows.
        let last = held.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while synced.load(Ordering::SeqCst) < last {
            assert!(Instant::now() < deadline, "the target never said it fsynced position {last}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(synced.load(Ordering::SeqCst) <= held.load(Ordering::SeqCst), "fsynced only what it holds");
        sending.abort();
        let _ = receiving.await;
    }

    /// A replica's feed from its caught-up primary: the replica keeps what
    /// the primary has (whatever its own version), forgets the keys and
    /// tombstones of the fed slot the primary lacks (a deposed primary's
    /// writes, a tombstone the primary collected), keeps every other slot
    /// alone, and ends with the primary's digest; a write made during the
    /// copy stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_authoritative_copy_makes_a_replica_forget_what_its_primary_lacks() {
        let (primary, replica) = primary_and_replica(false);
        let key = |name: &str| format!("{{fed}}{name}").into_bytes();
        let set = |shared: &Shared, k: Vec<u8>, value: &[u8]| set(shared, &k, value);
        for i in 0..50 {
            set(&primary, key(&format!("both{i}")), b"p");
        }
        // The replica: a newer version of one (another lineage's write),
        // extras of its own, a tombstone the primary does not have, and a
        // key of another slot.
        replica.ks.clock().observe(primary.ks.next_version(crate::runtime::unix_ms()));
        set(&replica, key("both0"), b"other");
        set(&replica, key("extra1"), b"x");
        set(&replica, key("extra2"), b"x");
        set(&replica, key("gone"), b"x");
        write(&replica, &key("gone"), |version| Mutation::Del { db: 0, key: key("gone"), version });
        set(&replica, b"{elsewhere}k".to_vec(), b"kept");
        // The replica's writes are older than the primary's subscription (as
        // a deposed primary's are, within the allowed clock drift).
        primary.ks.clock().observe(replica.ks.next_version(crate::runtime::unix_ms()));
        let slot = SlotId::of(&key("both0"));
        let (a, b) = tokio::io::duplex(1 << 16);
        let furthest = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let receiving = follow_noting(&replica, slot, b, Arc::clone(&furthest));
        let copied = Arc::new(AtomicBool::new(false));
        let sending = {
            let (primary, copied) = (Arc::clone(&primary), Arc::clone(&copied));
            tokio::spawn(async move {
                let opts =
                    SendOptions { follow_feed: true, authoritative: true, chunk_bytes: 256, ..SendOptions::default() };
                let on_ack = |h: Held| copied.store(h.copied, Ordering::SeqCst);
                send_slots_acked(&primary, a, 0, &[slot], opts, std::future::pending(), &on_ack).await
            })
        };
        while !primary.persistence.taps.active() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        set(&primary, key("during"), b"d");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !copied.load(Ordering::SeqCst) || value(&replica, &key("during")).is_none() {
            assert!(Instant::now() < deadline, "the copy was never acknowledged");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for i in 0..50 {
            let k = key(&format!("both{i}"));
            assert_eq!(value(&replica, &k), value(&primary, &k), "key {i}");
        }
        assert_eq!(value(&replica, &key("extra1")), None);
        assert_eq!(value(&replica, &key("extra2")), None);
        assert!(value(&replica, b"{elsewhere}k").is_some(), "another slot is left alone");
        assert_eq!(replica.ks.slot_digest(0, slot), primary.ks.slot_digest(0, slot), "the tombstone went too");
        // How far the feed got (what a failover ranks replicas by): the
        // newest write it carried.
        let newest = primary.ks.db(0).lock(slot).key_version(slot, &key("during")).hlc();
        let deadline = Instant::now() + Duration::from_secs(5);
        while furthest.load(Ordering::SeqCst) != newest {
            assert!(Instant::now() < deadline, "the feed's progress stayed at {furthest:?}, not {newest}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sending.abort();
        let _ = receiving.await;
    }

    /// A replica's feed whose link breaks after the copy is parked: the
    /// changes made meanwhile are gathered, and the resumed feed delivers
    /// them without sending the copy again (what the replica holds that
    /// the primary lacks stays: no copy came to make it forget).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_feed_resumes_without_a_copy_within_its_bound_and_with_one_past_it() {
        let (primary, replica) = primary_and_replica(false);
        let key = |i: usize| format!("{{fed}}k{i}").into_bytes();
        let set = |shared: &Shared, k: Vec<u8>| set(shared, &k, b"v");
        for i in 0..20 {
            set(&primary, key(i));
        }
        let slot = SlotId::of(&key(0));
        let opts = SendOptions { follow_feed: true, authoritative: true, ..SendOptions::default() };
        let copied = Arc::new(AtomicBool::new(false));
        let feed = |link: tokio::io::DuplexStream, parked: Option<Parked>| {
            let (primary, copied) = (Arc::clone(&primary), Arc::clone(&copied));
            tokio::spawn(async move {
                let on_ack = |h: Held| copied.store(h.copied, Ordering::SeqCst);
                send_feed(&primary, link, &[slot], opts, &on_ack, parked, 1 << 20, &Repairs::default()).await
            })
        };
        let follow = |link: tokio::io::DuplexStream| follow(&replica, slot, link);
        let (a, b) = tokio::io::duplex(1 << 16);
        let (sending, receiving) = (feed(a, None), follow(b));
        until("the copy, acknowledged", &|| copied.load(Ordering::SeqCst));
        set(&primary, key(20));
        until("a change after the copy", &|| value(&replica, &key(20)).is_some());
        receiving.abort();
        let (result, parked) = sending.await.unwrap();
        assert!(result.is_err());
        let parked = parked.expect("a feed whose copy was acknowledged is kept");
        for i in 21..40 {
            set(&primary, key(i));
        }
        set(&replica, b"{fed}extra".to_vec());
        copied.store(false, Ordering::SeqCst);
        let (a, b) = tokio::io::duplex(1 << 16);
        let (sending, receiving) = (feed(a, Some(parked)), follow(b));
        until("the changes made while the link was down", &|| (0..40).all(|i| value(&replica, &key(i)).is_some()));
        assert!(value(&replica, b"{fed}extra").is_some(), "no copy was sent again");

        // Past its bound (`hint-max-bytes`, 1 MB here) what a parked feed
        // gathered is gone: the next feed sends a fresh copy, which makes
        // the replica forget what the primary lacks.
        until("the resumed feed acknowledged", &|| copied.load(Ordering::SeqCst));
        receiving.abort();
        let (_, parked) = sending.await.unwrap();
        let parked = parked.expect("kept again");
        let big = vec![b'x'; 100 << 10];
        for i in 40..60 {
            let k = key(i);
            write(&primary, &k, |version| Mutation::Set {
                db: 0,
                key: k.clone(),
                value: big.clone(),
                expire_at_ms: 0,
                version,
            });
        }
        let (a, b) = tokio::io::duplex(1 << 16);
        let (sending, receiving) = (feed(a, Some(parked)), follow(b));
        until("a fresh copy", &|| value(&replica, &key(59)).is_some() && value(&replica, b"{fed}extra").is_none());
        receiving.abort();
        let _ = sending.await;
    }

    /// Anti-entropy's repairs: a replica that diverged from its primary
    /// after its copy (a key the primary never had, a write of another
    /// lineage, a delete the primary did not make) is repaired through
    /// the running feed, in its order with the changes that follow, with
    /// only the keys that differ: the slot's copies end equal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_repairs_the_keys_anti_entropy_found_differing() {
        let (primary, replica) = primary_and_replica(false);
        let key = |i: usize| format!("{{fixed}}k{i}").into_bytes();
        let set = |shared: &Shared, k: Vec<u8>, value: &[u8]| set(shared, &k, value);
        for i in 0..50 {
            set(&primary, key(i), b"v");
        }
        let slot = SlotId::of(&key(0));
        let repairs = Arc::new(Repairs::default());
        let copied = Arc::new(AtomicBool::new(false));
        let (a, b) = tokio::io::duplex(1 << 16);
        let sending = {
            let (primary, copied, repairs) = (Arc::clone(&primary), Arc::clone(&copied), Arc::clone(&repairs));
            let opts = SendOptions { follow_feed: true, authoritative: true, ..SendOptions::default() };
            tokio::spawn(async move {
                let on_ack = |h: Held| copied.store(h.copied, Ordering::SeqCst);
                send_feed(&primary, a, &[slot], opts, &on_ack, None, 1 << 20, &repairs).await
            })
        };
        let receiving = follow(&replica, slot, b);
        let digest = |shared: &Shared| shared.ks.slot_digest(0, slot);
        until("the copy", &|| copied.load(Ordering::SeqCst) && digest(&replica) == digest(&primary));
        set(&replica, key(50), b"unknown to the primary");
        set(&replica, key(3), b"another lineage");
        write(&replica, &key(7), |version| Mutation::Del { db: 0, key: key(7), version });
        assert_ne!(digest(&replica), digest(&primary));
        // What `replication::narrow` finds: the buckets that differ, then
        // their keys whose versions differ.
        let (ours, theirs) = (primary.ks.slot_bucket_digests(0, slot), replica.ks.slot_bucket_digests(0, slot));
        let mask = (0..ours.len()).filter(|&b| ours[b] != theirs[b]).fold(0u64, |m, b| m | 1 << b);
        let differing = gyre_engine::keyspace::differing_keys(
            primary.ks.slot_versions_in(0, slot, mask),
            replica.ks.slot_versions_in(0, slot, mask),
        );
        assert_eq!(differing.len(), 3, "{differing:?}");
        repairs.push(differing);
        set(&primary, key(3), b"after the repair");
        until("the replica's copy to equal the primary's", &|| {
            repairs.pending() == 0 && digest(&replica) == digest(&primary)
        });
        assert_eq!(value(&replica, &key(3)), value(&primary, &key(3)));
        assert!(value(&replica, &key(7)).is_some() && value(&replica, &key(50)).is_none());
        assert!(!sending.is_finished(), "repaired by the running feed, without a copy");
        receiving.abort();
        let _ = sending.await;
    }

    /// Durable hints: a feed resumed after its primary lost its in-memory
    /// hints (a restart) reads what the replica missed back from the
    /// primary's log, from the log position the replica's acknowledgements
    /// reached, and sends no copy; a position the log no longer holds (or
    /// one past its end) resumes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_resumes_from_the_log_where_the_replica_stood() {
        let (primary, replica) = primary_and_replica(true);
        let key = |i: usize| format!("{{logged}}k{i}").into_bytes();
        let set = |shared: &Shared, k: Vec<u8>| set(shared, &k, b"v");
        for i in 0..20 {
            set(&primary, key(i));
        }
        // Elsewhere: not the feed's slot, never sent.
        set(&primary, b"other".to_vec());
        let slot = SlotId::of(&key(0));
        let opts = SendOptions { follow_feed: true, authoritative: true, ..SendOptions::default() };
        let held = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let feed = |link: tokio::io::DuplexStream, parked: Option<Parked>| {
            let (primary, held) = (Arc::clone(&primary), Arc::clone(&held));
            tokio::spawn(async move {
                let on_ack = |h: Held| {
                    if h.copied {
                        held.fetch_max(h.lsn, Ordering::SeqCst);
                    }
                };
                send_feed(&primary, link, &[slot], opts, &on_ack, parked, 1 << 20, &Repairs::default()).await
            })
        };
        let follow = |link: tokio::io::DuplexStream| follow(&replica, slot, link);
        // Written out, as a client's write is before its reply.
        let wal = primary.persistence.wal.clone().unwrap();
        let written = || {
            let wal = wal.clone();
            async move { wal.wait_durable(wal.last_lsn()).await.unwrap() }
        };
        let (a, b) = tokio::io::duplex(1 << 16);
        let (sending, receiving) = (feed(a, None), follow(b));
        set(&primary, key(20));
        written().await;
        until("the change", &|| value(&replica, &key(20)).is_some());
        set(&primary, key(21));
        written().await;
        until("a log position held", &|| held.load(Ordering::SeqCst) > 0);
        receiving.abort();
        let (_, parked) = sending.await.unwrap();
        // The primary restarts: what it kept in memory is gone.
        drop(parked);
        let mark = held.load(Ordering::SeqCst);
        for i in 22..40 {
            set(&primary, key(i));
        }
        set(&replica, b"{logged}extra".to_vec());
        let past_end = wal.last_lsn().0 + 10;
        assert!(from_log(&primary, &[slot], past_end, 1 << 20).await.is_none(), "a mark past the log's end");
        assert!(from_log(&primary, &[slot], mark, 16).await.is_none(), "more than the bound");
        let resumed = from_log(&primary, &[slot], mark, 1 << 20).await.expect("the log holds what it missed");
        assert!(resumed.unacked_bytes() > 0);
        let (a, b) = tokio::io::duplex(1 << 16);
        let (sending, receiving) = (feed(a, Some(resumed)), follow(b));
        set(&primary, key(40));
        until("what it missed and what came after", &|| (0..41).all(|i| value(&replica, &key(i)).is_some()));
        assert!(value(&replica, b"{logged}extra").is_some(), "no copy was sent");
        assert!(value(&replica, b"other").is_none(), "only the feed's slots");
        receiving.abort();
        let _ = sending.await;
    }

    /// The time and bytes to move a slot of 100 MB, over loopback TCP, with
    /// no bandwidth budget (docs/BENCHMARKS.md). Run with
    /// `cargo test --release -p gyre-server --bin gyre-server -- --ignored --nocapture measure_moving`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a test"]
    async fn measure_moving_a_100_mb_slot() {
        let source = Arc::new(Shared::start(Config::for_test()).expect("source"));
        let target = Arc::new(Shared::start(Config::for_test()).expect("target"));
        let key = |i: usize| format!("{{big}}key:{i:012}").into_bytes();
        let keys = 100_000;
        for i in 0..keys {
            write(&source, &key(i), |version| Mutation::Set {
                db: 0,
                key: key(i),
                value: vec![b'v'; 1_000],
                expire_at_ms: 0,
                version,
            });
        }
        let slot = SlotId::of(&key(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiving = {
            let target = Arc::clone(&target);
            tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                receive_slots(&target, socket).await
            })
        };
        let started = Instant::now();
        let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let progress = send_slots(&source, socket, 0, &[slot], SendOptions::default(), async {}).await.unwrap();
        let applied = receiving.await.unwrap().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(applied.applied, keys);
        println!(
            "moved a slot of {keys} keys ({} MB of values) in {:.2} s: {} MB sent in {} frames, {:.0} MB/s",
            (keys * 1_000) >> 20,
            elapsed.as_secs_f64(),
            progress.bytes >> 20,
            progress.frames,
            progress.bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
        );
    }

    #[tokio::test]
    async fn the_cpu_budget_rests_in_proportion_to_the_work() {
        let mut owed = Duration::ZERO;
        let t = Instant::now();
        rest(100, Duration::from_millis(50), &mut owed).await;
        assert!(t.elapsed() < Duration::from_millis(40), "100% is no budget");
        // 1 ms of work at 50% owes 1 ms: kept for later.
        rest(50, Duration::from_millis(1), &mut owed).await;
        assert_eq!(owed, Duration::from_millis(1));
        let t = Instant::now();
        rest(25, Duration::from_millis(20), &mut owed).await;
        // 20 ms of work at 25% owes 60 ms more, taken with the 1 ms.
        assert!(t.elapsed() >= Duration::from_millis(61));
        assert!(owed < REST_MIN);
    }

    #[tokio::test]
    async fn a_damaged_frame_is_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Frame::Records(Bytes::from_static(b"abc"))).await.unwrap();
        let mut round = &buf[..];
        assert_eq!(read_frame(&mut round).await.unwrap(), Frame::Records(Bytes::from_static(b"abc")));
        buf[10] ^= 1;
        assert!(matches!(read_frame(&mut &buf[..]).await, Err(TransferError::Checksum)));
        let mut huge = Vec::new();
        huge.extend_from_slice(&(FRAME_BYTES_MAX as u32 + 1).to_le_bytes());
        huge.extend_from_slice(&[0; 5]);
        assert!(matches!(read_frame(&mut &huge[..]).await, Err(TransferError::FrameTooLarge(_))));
        let mut ack = Vec::new();
        write_frame(&mut ack, &Frame::Ack(7)).await.unwrap();
        assert_eq!(read_frame(&mut &ack[..]).await.unwrap(), Frame::Ack(7));
        let mut synced = Vec::new();
        write_frame(&mut synced, &Frame::Synced(9)).await.unwrap();
        assert_eq!(read_frame(&mut &synced[..]).await.unwrap(), Frame::Synced(9));
    }
}
