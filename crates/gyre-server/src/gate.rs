//! The execution gate: what makes a transaction or a script atomic on a
//! multi-threaded server.
//!
//! Every command runs holding the gate *shared*; EXEC, EVAL and FCALL hold it
//! *exclusively* while their commands run. So no other command starts while a
//! transaction runs, and the transaction waits for the commands already
//! running to finish. A shared entry costs one atomic update of the lock's
//! reader count; commands hold it only while they execute, never across an
//! `.await`. Shard locks are always taken after the gate, and threads that do
//! not take the gate (expiry, snapshots) take only shard locks, so the order
//! is fixed and there is no deadlock.

use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How often a command waiting at the gate asks whether to give up (a
/// script has run past `busy-reply-threshold`).
const BUSY_POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
pub struct Gate {
    lock: RwLock<()>,
}

/// Held while a command runs.
pub enum GateGuard<'a> {
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

impl Gate {
    /// Enters the gate, waiting for an exclusive holder (or, when
    /// `exclusive`, for every holder) to leave. While it waits, `busy` is
    /// asked every few milliseconds whether to give up instead (with its
    /// error: `-BUSY` while a long script runs).
    pub fn enter<E>(&self, exclusive: bool, busy: impl Fn() -> Option<E>) -> Result<GateGuard<'_>, E> {
        if exclusive {
            if let Some(g) = self.lock.try_write() {
                return Ok(GateGuard::Exclusive(g));
            }
            loop {
                if let Some(g) = self.lock.try_write_for(BUSY_POLL) {
                    return Ok(GateGuard::Exclusive(g));
                }
                if let Some(e) = busy() {
                    return Err(e);
                }
            }
        }
        if let Some(g) = self.lock.try_read() {
            return Ok(GateGuard::Shared(g));
        }
        loop {
            if let Some(g) = self.lock.try_read_for(BUSY_POLL) {
                return Ok(GateGuard::Shared(g));
            }
            if let Some(e) = busy() {
                return Err(e);
            }
        }
    }
}
