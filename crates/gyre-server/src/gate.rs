//! The execution gate: what makes a transaction (and, later, a script) atomic
//! on a multi-threaded server.
//!
//! Every command runs holding the gate *shared*; EXEC holds it *exclusively*
//! while its queued commands run. So no other command starts while a
//! transaction runs, and the transaction waits for the commands already
//! running to finish. A shared entry costs one atomic update of the lock's
//! reader count; commands hold it only while they execute, never across an
//! `.await`. Shard locks are always taken after the gate, and threads that do
//! not take the gate (expiry, snapshots) take only shard locks, so the order
//! is fixed and there is no deadlock.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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
    /// `exclusive`, for every holder) to leave.
    pub fn enter(&self, exclusive: bool) -> GateGuard<'_> {
        if exclusive {
            GateGuard::Exclusive(self.lock.write())
        } else {
            GateGuard::Shared(self.lock.read())
        }
    }
}
