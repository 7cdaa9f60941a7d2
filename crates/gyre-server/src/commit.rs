//! The commit point: the one way a change leaves the keyspace for the log.
//!
//! Every writer (connections, with EXEC and scripts inside them; blocked
//! clients served; the HTTP API; eviction in the background; `--import-rdb`)
//! hands the mutations it recorded to [`commit`] and gets a [`Ticket`]. The
//! ticket resolves when the write is durable under `appendfsync`; in the
//! cluster it will also wait for the write's replicas. A reply to a write
//! leaves only once its ticket resolved. Nothing else appends to the log
//! (`Persistence::append` is called from here only).
//!
//! Tickets combine: a connection's batch waits for the newest of its own
//! records and those of the blocked clients it served.
//!
//! What a commit appends (see `MutationLog`): first the change feeds of the
//! shards the writer touched, taken under the log's lock (so per key the log
//! has writes in the order they happened, whoever commits first, and
//! recovery applies the log in its own order), then the writer's own pieces
//! (a transaction's or a script's mutations, database-wide ones). A writer
//! whose changes another writer's commit already took waits on a later
//! record, which the log makes durable after it.
//!
//! EXEC and scripts commit at their end, before their shards are released
//! ([`commit_atomic`]); SWAPDB commits as it swaps ([`commit_swap`]).

use gyre_engine::{DbIndex, Keyspace, MutationLog};
use gyre_log::wal::{Lsn, RecordBuilder};

use crate::persistence::Persistence;

/// What a reply waits for: the newest log record it depends on (none: the
/// command wrote nothing, or persistence is off), and, while replicas are
/// fed, the replication feed's position after its changes (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "a write's reply must wait for its ticket"]
pub struct Ticket(Option<Lsn>, u64);

impl Ticket {
    /// Nothing to wait for.
    pub const NONE: Ticket = Ticket(None, 0);

    /// Waits for both (the newer record covers the older: the log is in
    /// LSN order, the feed in the same order).
    pub fn and(self, other: Ticket) -> Ticket {
        Ticket(self.0.max(other.0), self.1.max(other.1))
    }

    /// The replication feed's position a replica must have acknowledged to
    /// hold this write (0: nothing was fed; see `replication`).
    pub fn feed(&self) -> u64 {
        self.1
    }

    /// The log record to wait for (None: nothing was logged).
    pub fn lsn(&self) -> Option<Lsn> {
        self.0
    }

    /// Takes the ticket out, leaving nothing to wait for.
    pub fn take(&mut self) -> Ticket {
        std::mem::take(self)
    }

    /// Resolves when the write is durable; the error when the log failed (the
    /// write is in memory but must not be acknowledged).
    pub async fn durable(self, persistence: &Persistence) -> Result<(), String> {
        match self.0 {
            None => Ok(()),
            Some(lsn) => persistence.wait_durable(lsn).await,
        }
    }
}

/// Commits what `log` holds (see the module doc) and returns what a reply
/// must wait for, including what was committed earlier in the batch.
pub fn commit(persistence: &Persistence, ks: &Keyspace, log: &mut MutationLog) -> Ticket {
    let earlier = Ticket(log.take_committed().map(Lsn), log.take_committed_feed());
    if !log.has_pending() {
        return earlier;
    }
    let taps = &persistence.taps;
    if !persistence.logging() {
        // No log; the taps (a slot being copied, replicas) still get the
        // changes, in one order.
        if !taps.active() {
            take(ks, log, &mut |_| {});
            return earlier;
        }
        let _order = taps.order.lock();
        take(ks, log, &mut |piece| taps.offer(piece));
        return earlier.and(Ticket(None, taps.position()));
    }
    let mut feed = 0;
    let lsn = persistence.append_with(|rec| {
        to_log(persistence, ks, log, rec);
        feed = taps.position();
    });
    earlier.and(Ticket(lsn, feed))
}

/// Takes `log`'s touched feeds, then its own pieces, into `sink`.
fn take(ks: &Keyspace, log: &mut MutationLog, sink: &mut dyn FnMut(&[u8])) {
    for (db, shard) in log.take_touched() {
        ks.take_feed(db, shard, sink);
    }
    for piece in log.take_own() {
        sink(piece);
    }
}

/// [`take`] into a log record, offering each piece to the taps in log order.
fn to_log(persistence: &Persistence, ks: &Keyspace, log: &mut MutationLog, rec: &mut RecordBuilder<'_>) {
    let taps = &persistence.taps;
    take(ks, log, &mut |piece| {
        taps.offer(piece);
        rec.extend(piece);
    });
}

/// Takes every shard's feed to the log: the changes no writer commits
/// (expiry's deletes, in the background worker's cycle). Nothing waits on
/// them: replaying a log that lacks one expires the key again.
pub fn commit_feeds(persistence: &Persistence, ks: &Keyspace) {
    let taps = &persistence.taps;
    if persistence.logging() {
        let _ = persistence.append_with(|rec| {
            ks.take_all_feeds(&mut |piece| {
                taps.offer(piece);
                rec.extend(piece);
            })
        });
    } else if taps.active() {
        let _order = taps.order.lock();
        ks.take_all_feeds(&mut |piece| taps.offer(piece));
    }
}

/// Ends the atomic section EXEC or a script opened in `log` and commits it,
/// while its shards are still held; the batch's reply waits for it.
pub fn commit_atomic(persistence: &Persistence, ks: &Keyspace, log: &mut MutationLog) {
    log.end_atomic();
    let Ticket(lsn, feed) = commit(persistence, ks, log);
    if let Some(lsn) = lsn {
        log.note_committed(lsn.0);
    }
    log.note_committed_feed(feed);
}

/// SWAPDB outside a transaction: swaps databases `a` and `b` and logs the
/// swap after every earlier write of both, in one critical section of the
/// log (see `Keyspace::swap_db`). Inside an atomic section the swap is the
/// section's, committed with it.
pub fn commit_swap(
    persistence: &Persistence,
    ks: &Keyspace,
    log: &mut MutationLog,
    a: DbIndex,
    b: DbIndex,
    now_ms: u64,
) {
    in_log_order(persistence, ks, log, |log, sink| ks.swap_db(a, b, now_ms, log, sink));
}

/// Drops `slots` of database `db` (see `Keyspace::drop_slots`), each drop
/// logged after every earlier write of its shard, in one critical section
/// of the log, as [`commit_swap`] does. Returns the detached entries.
pub fn commit_drop(
    persistence: &Persistence,
    ks: &Keyspace,
    log: &mut MutationLog,
    db: DbIndex,
    slots: &[gyre_engine::SlotId],
    now_ms: u64,
) -> gyre_engine::Detached {
    in_log_order(persistence, ks, log, |log, sink| ks.drop_slots(db, slots, now_ms, log, sink))
}

/// Runs a keyspace-wide change whose place among single-key writes matters
/// (`op` takes the shards' feeds into its sink, then writes its own record):
/// under the log's lock, after `log`'s own pending records, so the log holds
/// it exactly where it happened. Inside an atomic section, or without a log,
/// `op` records into `log` instead (no sink). A poisoned log takes nothing:
/// the change is made in memory and the reply reports the log, as for any
/// write.
fn in_log_order<T>(
    persistence: &Persistence,
    ks: &Keyspace,
    log: &mut MutationLog,
    op: impl FnOnce(&mut MutationLog, Option<gyre_engine::keyspace::FeedSink<'_>>) -> T,
) -> T {
    if log.in_atomic() || !persistence.logging() {
        return op(log, None);
    }
    let mut op = Some(op);
    let mut done = None;
    let taps = &persistence.taps;
    let mut feed = 0;
    let lsn = persistence.append_with(|rec| {
        to_log(persistence, ks, log, rec);
        let op = op.take().expect("the log calls its filler once");
        done = Some(op(
            log,
            Some(&mut |piece| {
                taps.offer(piece);
                rec.extend(piece);
            }),
        ));
        feed = taps.position();
    });
    if let Some(lsn) = lsn {
        log.note_committed(lsn.0);
    }
    log.note_committed_feed(feed);
    match (done, op) {
        (Some(v), _) => v,
        (None, Some(op)) => op(log, None),
        (None, None) => unreachable!("the filler ran, so it returned"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_wait_for_the_newest_record() {
        let a = Ticket(Some(Lsn(3)), 2);
        let b = Ticket(Some(Lsn(7)), 5);
        assert_eq!(a.and(b), b);
        assert_eq!(b.and(Ticket::NONE), b);
        assert_eq!(Ticket::NONE.and(Ticket::NONE), Ticket::NONE);
        let mut t = b;
        assert_eq!(t.take(), b);
        assert_eq!(t, Ticket::NONE);
    }
}
