//! CLIENT PAUSE / CLIENT UNPAUSE.
//!
//! A pause holds commands (all of them, or only those that may write: the
//! WRITE and MAY_REPLICATE flags, which cover EVAL and PUBLISH) until its
//! deadline or CLIENT UNPAUSE. A held connection first sends the replies it
//! already has, then waits without a thread. The cost when nothing is paused
//! is one atomic load per command. As in Redis, a second pause keeps the
//! later deadline and the stricter mode; CLIENT UNPAUSE is never held, so a
//! pause can always be lifted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gyre_resp::Args;

use crate::client::ClientState;
use crate::cmd::{self, flags};

#[derive(Default)]
pub struct Pause {
    /// Unix ms when the pause ends; 0 = none.
    until_ms: AtomicU64,
    /// Every command is held, not only writes.
    all: AtomicBool,
    lifted: tokio::sync::Notify,
}

impl Pause {
    /// CLIENT PAUSE: until `until_ms`, all commands or only writes; `now` is
    /// the server's time.
    pub fn pause(&self, until_ms: u64, all: bool, now: u64) {
        let current = self.until_ms.load(Ordering::Acquire);
        if current > now {
            self.until_ms.store(current.max(until_ms), Ordering::Release);
            self.all.fetch_or(all, Ordering::AcqRel);
        } else {
            self.all.store(all, Ordering::Release);
            self.until_ms.store(until_ms, Ordering::Release);
        }
        // A shorter or milder pause than before changes what waiters wait for.
        self.lifted.notify_waiters();
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        self.until_ms.store(0, Ordering::Release);
        self.lifted.notify_waiters();
    }

    /// Whether a pause may be in effect (one atomic load).
    #[inline]
    pub fn maybe_active(&self) -> bool {
        self.until_ms.load(Ordering::Relaxed) != 0
    }

    /// Whether the command in `args` must wait now.
    pub fn holds(&self, args: &Args<'_>, client: &ClientState, now_ms: u64) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == 0 {
            return false;
        }
        if now_ms >= until {
            // Over: back to the one-load fast path (unless paused again meanwhile).
            let _ = self.until_ms.compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed);
            return false;
        }
        let Some(top) = cmd::lookup(args.get(0)) else { return false };
        let sub = (!top.subcommands.is_empty() && args.len() > 1).then(|| cmd::lookup_sub(top, args.get(1))).flatten();
        if sub.is_some_and(|s| s.has_flag(flags::UNPAUSES)) {
            return false;
        }
        if self.all.load(Ordering::Acquire) {
            return true;
        }
        // Queueing inside MULTI writes nothing; EXEC is held if the
        // transaction writes.
        if let Some(tx) = &client.multi {
            if !top.has_flag(cmd::flags::RUNS_TRANSACTION) {
                return false;
            }
            return tx.queued.iter().any(|c| cmd::lookup(c.args().get(0)).is_some_and(writes));
        }
        writes(top)
    }

    /// Waits until the pause ends or changes (then the caller asks again);
    /// `now` is the server's time.
    pub async fn wait(&self, now: u64) {
        let lifted = self.lifted.notified();
        let until = self.until_ms.load(Ordering::Acquire);
        if until <= now {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(until - now)) => {}
            () = lifted => {}
        }
    }
}

fn writes(spec: &cmd::CommandSpec) -> bool {
    spec.has_flag(flags::WRITE) || spec.has_flag(flags::MAY_REPLICATE)
}
