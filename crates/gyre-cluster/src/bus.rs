//! The message bus: PUBLISH reaches the subscribers of every node, as in
//! Redis Cluster, where the cluster bus carries it.
//!
//! A node delivers a PUBLISH to its own subscribers at once (the reply
//! counts those, as Redis Cluster's does) and queues it here; one task
//! sends the queue to every other member that SWIM does not report down,
//! in batches, over a kept link per member, in order. The queue is bounded
//! ([`QUEUE_MAX`]): past it, messages are dropped and counted (as a slow
//! subscriber loses messages past its output limit), never blocking the
//! publisher. A member that cannot be reached misses the messages sent
//! meanwhile (pub/sub is at-most-once, in Redis too).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::node::Shared;
use crate::raft::{Link, Request, Response};
use crate::swim::Health;
use crate::topology::NodeTag;

/// Messages waiting to be sent to the other members.
pub const QUEUE_MAX: usize = 65_536;
/// Messages sent in one request.
const BATCH_MAX: usize = 1024;
/// How long one batch may take to one member.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// A published message: (channel, message).
pub type Message = (Vec<u8>, Vec<u8>);

/// The sending side, held by the node.
pub(crate) struct Bus {
    tx: mpsc::Sender<Message>,
    /// Messages dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
}

impl Bus {
    pub(crate) fn new() -> (Bus, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        (Bus { tx, dropped: AtomicU64::new(0) }, rx)
    }

    /// Queues a message for the other members; never waits.
    pub(crate) fn publish(&self, channel: &[u8], message: &[u8]) {
        if self.tx.try_send((channel.to_vec(), message.to_vec())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends what is queued to every other live member, batch by batch.
pub(crate) async fn bus_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Message>) {
    let mut links: HashMap<NodeTag, Link> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let Some(me) = shared.tag.get().copied() else {
            batch.clear();
            continue;
        };
        let t = shared.topology.load_full();
        let request = Request::Publish { messages: std::mem::take(&mut batch) };
        for m in t.members.values() {
            if m.tag == me || shared.swim.health_of(m.id.as_str()) == Some(Health::Down) {
                continue;
            }
            let link = links.entry(m.tag).or_insert_with(|| {
                Link::new(shared.net.clone(), shared.secret.clone(), m.cluster.to_string(), shared.nonces.clone())
            });
            match link.call(&request, SEND_TIMEOUT).await {
                Ok(Response::Published) => {}
                Ok(_) => tracing::debug!(to = %m.tag, "the bus: unexpected answer"),
                Err(e) => tracing::debug!(to = %m.tag, error = %e, "the bus: a member missed messages"),
            }
        }
        links.retain(|tag, _| t.members.contains_key(tag));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (bus, mut rx) = Bus::new();
        for i in 0..QUEUE_MAX + 5 {
            bus.publish(b"ch", i.to_string().as_bytes());
        }
        assert_eq!(bus.dropped.load(Ordering::Relaxed), 5);
        // The first messages are kept, in order.
        assert_eq!(rx.try_recv().unwrap(), (b"ch".to_vec(), b"0".to_vec()));
        assert_eq!(rx.try_recv().unwrap(), (b"ch".to_vec(), b"1".to_vec()));
    }
}
