//! Pub/Sub: channels, patterns and shard channels, and each subscriber's
//! outbox of messages.
//!
//! The registry maps channels (and shard channels) to their subscribers and
//! keeps the list of pattern subscriptions. PUBLISH encodes the message once
//! per protocol into each subscriber's *outbox* and wakes its connection,
//! which writes the outbox to the socket between batches of commands (and
//! while idle). A subscriber that does not read lets its outbox grow; the
//! `client-output-buffer-limit` for the pubsub class bounds it: past the hard
//! limit, or past the soft limit for longer than its seconds, the subscriber
//! is disconnected and its outbox freed. So a client that subscribes and
//! never reads costs at most the hard limit.
//!
//! A connection's subscriptions are removed when it ends, however it ends
//! (the [`Subscription`] handle in its state removes them on drop).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gyre_resp::{Protocol, ReplyWriter};
use parking_lot::{Mutex, RwLock};

use crate::client::ClientInfo;

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }
    pub fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// The output limit of the pubsub class (`client-output-buffer-limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    /// Bytes; 0 = none.
    pub hard: u64,
    /// Bytes; 0 = none.
    pub soft: u64,
    pub soft_secs: u64,
}

impl Default for OutputLimit {
    /// Redis's pubsub default: 32mb 8mb 60.
    fn default() -> Self {
        OutputLimit { hard: 32 << 20, soft: 8 << 20, soft_secs: 60 }
    }
}

struct Outbox {
    buf: BytesMut,
    over_soft_since: Option<Instant>,
    closed: bool,
    /// The connection was woken and has not taken the outbox since: later
    /// messages need no wake-up of their own.
    woken: bool,
}

/// One subscribed connection: its outbox and its subscriptions.
pub struct Subscriber {
    pub info: Arc<ClientInfo>,
    resp3: AtomicBool,
    outbox: Mutex<Outbox>,
    wake: tokio::sync::Notify,
    subs: Mutex<Subs>,
}

#[derive(Default)]
struct Subs {
    channels: HashSet<Vec<u8>>,
    patterns: HashSet<Vec<u8>>,
    shard: HashSet<Vec<u8>>,
}

impl Subs {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

impl Subscriber {
    /// Waits until a message is queued (a permit is kept if one arrived while
    /// nobody waited, so none is missed).
    pub async fn notified(&self) {
        self.wake.notified().await
    }

    /// Takes the queued messages.
    pub fn take(&self) -> BytesMut {
        let mut o = self.outbox.lock();
        o.over_soft_since = None;
        o.woken = false;
        self.info.out_buf_bytes.store(0, Ordering::Relaxed);
        o.buf.split()
    }

    pub fn set_protocol(&self, proto: Protocol) {
        self.resp3.store(proto == Protocol::Resp3, Ordering::Relaxed);
    }

    /// Channel and pattern subscriptions (what SUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        let s = self.subs.lock();
        s.channels.len() + s.patterns.len()
    }

    /// Channels, patterns and shard channels subscribed to.
    pub fn counts(&self) -> [usize; 3] {
        let s = self.subs.lock();
        [s.channels.len(), s.patterns.len(), s.shard.len()]
    }

    pub fn shard_count(&self) -> usize {
        self.subs.lock().shard.len()
    }

    /// Subscribed to anything at all (RESP2 subscriber mode).
    pub fn active(&self) -> bool {
        let s = self.subs.lock();
        !(s.channels.is_empty() && s.patterns.is_empty() && s.shard.is_empty())
    }

    /// Queues one message (its parts after the kind word) and enforces the
    /// output limit.
    fn deliver(&self, word: &[u8], parts: &[&[u8]], limit: OutputLimit) {
        self.enqueue(limit, |buf, proto| {
            let mut w = ReplyWriter::new(buf, proto);
            w.push(1 + parts.len());
            w.bulk(word);
            for p in parts {
                w.bulk(p);
            }
        });
    }

    /// Whether messages to this subscriber are encoded as RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    /// Queues a message `write` encodes in the subscriber's protocol
    /// (invalidations of client-side caching) and enforces the output limit.
    pub fn deliver_with(&self, limit: OutputLimit, write: impl FnOnce(&mut BytesMut, Protocol)) {
        self.enqueue(limit, write);
    }

    /// Queues bytes already encoded (a MONITOR line) and enforces the output
    /// limit, as for a message.
    pub fn deliver_raw(&self, bytes: &[u8], limit: OutputLimit) {
        self.enqueue(limit, |buf, _| buf.extend_from_slice(bytes));
    }

    /// Appends to the outbox with `write`, then disconnects the subscriber if
    /// that took it over its limit, or wakes its connection.
    fn enqueue(&self, limit: OutputLimit, write: impl FnOnce(&mut BytesMut, Protocol)) {
        let proto = if self.resp3.load(Ordering::Relaxed) { Protocol::Resp3 } else { Protocol::Resp2 };
        let mut o = self.outbox.lock();
        if o.closed {
            return;
        }
        write(&mut o.buf, proto);
        let len = o.buf.len() as u64;
        // CLIENT LIST omem: what waits in the outbox.
        self.info.out_buf_bytes.store(o.buf.len(), Ordering::Relaxed);
        let over_hard = limit.hard > 0 && len > limit.hard;
        let over_soft = limit.soft > 0 && len > limit.soft;
        let soft_expired = match (over_soft, o.over_soft_since) {
            (false, _) => {
                o.over_soft_since = None;
                false
            }
            (true, None) => {
                o.over_soft_since = Some(Instant::now());
                limit.soft_secs == 0
            }
            (true, Some(since)) => since.elapsed() >= Duration::from_secs(limit.soft_secs),
        };
        if over_hard || soft_expired {
            o.closed = true;
            o.buf = BytesMut::new();
            drop(o);
            tracing::warn!(
                client = self.info.id,
                addr = %self.info.addr,
                bytes = len,
                "closing a subscriber over its output buffer limit (client-output-buffer-limit pubsub)"
            );
            self.info.kill();
            return;
        }
        let wake = !std::mem::replace(&mut o.woken, true);
        drop(o);
        if wake {
            self.wake.notify_one();
        }
    }
}

type SubList = Vec<Arc<Subscriber>>;

/// The server's subscriptions.
#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Vec<u8>, SubList>>,
    shard: RwLock<HashMap<Vec<u8>, SubList>>,
    patterns: RwLock<HashMap<Vec<u8>, SubList>>,
}

impl PubSub {
    fn map(&self, kind: Kind) -> &RwLock<HashMap<Vec<u8>, SubList>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// A subscriber for a connection that subscribes for the first time.
    pub fn subscriber(self: &Arc<Self>, info: Arc<ClientInfo>, proto: Protocol) -> Subscription {
        let sub = Arc::new(Subscriber {
            info,
            resp3: AtomicBool::new(proto == Protocol::Resp3),
            outbox: Mutex::new(Outbox { buf: BytesMut::new(), over_soft_since: None, closed: false, woken: false }),
            wake: tokio::sync::Notify::new(),
            subs: Mutex::new(Subs::default()),
        });
        Subscription { pubsub: self.clone(), sub }
    }

    /// Delivers to the subscribers of `channel` and of matching patterns;
    /// returns how many received it.
    pub fn publish(&self, channel: &[u8], msg: &[u8], limit: OutputLimit) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for s in subs {
                s.deliver(b"message", &[channel, msg], limit);
                n += 1;
            }
        }
        let patterns = self.patterns.read();
        for (pattern, subs) in patterns.iter() {
            if gyre_engine::glob::glob_match(pattern, channel, false) {
                for s in subs {
                    s.deliver(b"pmessage", &[pattern, channel, msg], limit);
                    n += 1;
                }
            }
        }
        n
    }

    /// SPUBLISH: delivers to the subscribers of a shard channel.
    pub fn spublish(&self, channel: &[u8], msg: &[u8], limit: OutputLimit) -> usize {
        let shard = self.shard.read();
        let Some(subs) = shard.get(channel) else { return 0 };
        for s in subs {
            s.deliver(b"smessage", &[channel, msg], limit);
        }
        subs.len()
    }

    /// Active channels (or shard channels) matching `pattern` (all when None).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.map(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| gyre_engine::glob::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// The subscriber of `channel` that is client `client_id` (the target of
    /// redirected invalidations).
    pub fn subscriber_of(&self, kind: Kind, channel: &[u8], client_id: u64) -> Option<Arc<Subscriber>> {
        self.map(kind).read().get(channel)?.iter().find(|s| s.info.id == client_id).cloned()
    }

    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.map(kind).read().get(channel).map_or(0, Vec::len)
    }

    /// Number of distinct patterns subscribed to (PUBSUB NUMPAT).
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }

    fn add(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) {
        self.map(kind).write().entry(name.to_vec()).or_default().push(sub.clone());
    }

    fn remove(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) {
        let mut map = self.map(kind).write();
        if let Some(list) = map.get_mut(name) {
            list.retain(|s| !Arc::ptr_eq(s, sub));
            if list.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// A connection's handle on its subscriptions; dropping it (the connection
/// ended) removes them all.
pub struct Subscription {
    pubsub: Arc<PubSub>,
    pub sub: Arc<Subscriber>,
}

impl Subscription {
    /// Subscribes; false if it already was.
    pub fn subscribe(&self, kind: Kind, name: &[u8]) -> bool {
        let added = self.sub.subs.lock().set(kind).insert(name.to_vec());
        if added {
            self.pubsub.add(kind, name, &self.sub);
        }
        added
    }

    /// Unsubscribes; false if it was not subscribed.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8]) -> bool {
        let removed = self.sub.subs.lock().set(kind).remove(name);
        if removed {
            self.pubsub.remove(kind, name, &self.sub);
        }
        removed
    }

    /// The names subscribed to of one kind.
    pub fn names(&self, kind: Kind) -> Vec<Vec<u8>> {
        self.sub.subs.lock().set(kind).iter().cloned().collect()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.names(kind) {
                self.pubsub.remove(kind, &name, &self.sub);
            }
        }
    }
}

/// Parses `client-output-buffer-limit`: `class hard soft seconds` groups
/// (class normal, replica/slave or pubsub; sizes in Redis's memory notation).
/// Returns the canonical text (all three classes, bytes) and the pubsub limit.
/// Classes not given take their defaults.
pub fn parse_output_limits(text: &str) -> Result<(String, OutputLimit), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("wrong number of arguments: expected groups of <class> <hard limit> <soft limit> <soft seconds>"
            .to_string());
    }
    let mut classes = [
        ("normal", OutputLimit { hard: 0, soft: 0, soft_secs: 0 }),
        ("replica", OutputLimit { hard: 256 << 20, soft: 64 << 20, soft_secs: 60 }),
        ("pubsub", OutputLimit::default()),
    ];
    for g in words.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "replica" | "slave" => 1,
            "pubsub" => 2,
            other => return Err(format!("invalid client class '{other}' (normal, replica or pubsub)")),
        };
        let mem = |s: &str| crate::config::parse_memory(s).ok_or(format!("invalid memory value '{s}'"));
        let soft_secs = g[3].parse::<u64>().map_err(|_| format!("invalid seconds '{}'", g[3]))?;
        classes[class].1 = OutputLimit { hard: mem(g[1])?, soft: mem(g[2])?, soft_secs };
    }
    let canonical = classes
        .iter()
        .map(|(name, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_secs))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((canonical, classes[2].1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limits_parse_with_defaults_and_reject_nonsense() {
        let (text, pubsub) = parse_output_limits("pubsub 1mb 512kb 10").unwrap();
        assert_eq!(pubsub, OutputLimit { hard: 1 << 20, soft: 512 << 10, soft_secs: 10 });
        assert_eq!(text, "normal 0 0 0 replica 268435456 67108864 60 pubsub 1048576 524288 10");
        assert_eq!(parse_output_limits(&text).unwrap().0, text, "canonical text parses to itself");
        assert!(parse_output_limits("pubsub 1mb 1mb").is_err());
        assert!(parse_output_limits("bogus 1 1 1").is_err());
        assert!(parse_output_limits("pubsub x 1 1").is_err());
        assert!(parse_output_limits("pubsub 1 1 -1").is_err());
    }
}
