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

use gyre_engine::MutationLog;
use gyre_log::wal::Lsn;

use crate::persistence::Persistence;

/// What a reply waits for: the newest log record it depends on (none: the
/// command wrote nothing, or persistence is off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "a write's reply must wait for its ticket"]
pub struct Ticket(Option<Lsn>);

impl Ticket {
    /// Nothing to wait for.
    pub const NONE: Ticket = Ticket(None);

    /// Waits for both (the newer record covers the older: the log is in LSN order).
    pub fn and(self, other: Ticket) -> Ticket {
        Ticket(self.0.max(other.0))
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

/// Commits the mutations recorded in `log` (one log record) and returns
/// what a reply must wait for.
pub fn commit(persistence: &Persistence, log: &MutationLog) -> Ticket {
    Ticket(persistence.append(log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_wait_for_the_newest_record() {
        let a = Ticket(Some(Lsn(3)));
        let b = Ticket(Some(Lsn(7)));
        assert_eq!(a.and(b), b);
        assert_eq!(b.and(Ticket::NONE), b);
        assert_eq!(Ticket::NONE.and(Ticket::NONE), Ticket::NONE);
        let mut t = b;
        assert_eq!(t.take(), b);
        assert_eq!(t, Ticket::NONE);
    }
}
