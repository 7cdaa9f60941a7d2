//! Graceful shutdown: SIGTERM, SIGINT and `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]`.
//!
//! The sequence ([`run`]) is entered holding the execution gate exclusively,
//! so every command already running has finished and none starts: the
//! listeners stop accepting, a final snapshot is taken when asked (SAVE, or
//! `shutdown-snapshot yes` unless NOSAVE; with `auto`, the default, when the
//! log has outgrown `wal-compact-bytes` and the last snapshot), the
//! write-ahead log is written and
//! fsynced, and the process exits 0. Every write a client was told succeeded
//! is in the log by then (replies wait for the log; see `persistence`). The
//! data directory's lock is a `flock`, released by the kernel at exit.
//!
//! A failed final snapshot aborts the shutdown (the server keeps serving and
//! SHUTDOWN answers `-ERR Errors trying to SHUTDOWN. Check logs.`) unless
//! FORCE is given. A second SIGTERM/SIGINT while a shutdown waits for running
//! commands exits at once with status 1; the log's records are checksummed,
//! so a record cut short is a torn tail that recovery truncates.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{error, info, warn};

use crate::config::ShutdownSnapshot;
use crate::shared::Shared;

/// Stops the listeners.
#[derive(Default)]
pub struct Shutdown {
    stopping: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Shutdown {
    /// Resolves once the server stops accepting connections.
    pub async fn stopping(&self) {
        let notified = self.notify.notified();
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// What the shutdown does beyond flushing the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Some(true): SAVE, Some(false): NOSAVE, None: `shutdown-snapshot`.
    pub save: Option<bool>,
    /// Exit even if the final snapshot fails.
    pub force: bool,
}

/// Runs the shutdown sequence; the caller holds the execution gate
/// exclusively. Exits the process, or returns why the shutdown was abandoned.
pub fn run(shared: &Shared, opts: Options, cause: &str) -> Result<std::convert::Infallible, String> {
    info!(cause, "shutting down: no new connections, running commands have finished");
    let settings = shared.config.settings();
    let mode = settings.shutdown_snapshot;
    let may_snapshot = opts.save.unwrap_or(mode != ShutdownSnapshot::No);
    if may_snapshot {
        // A background snapshot (BGSAVE, automatic compaction) is finished
        // rather than thrown away: under `auto` it is the snapshot the next
        // start loads, and a SAVE could not start beside it.
        let mut logged = false;
        while shared.persistence.snapshot_running.load(Ordering::Acquire) {
            if !std::mem::replace(&mut logged, true) {
                info!("waiting for the running snapshot to finish");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let save = opts.save.unwrap_or_else(|| match mode {
        ShutdownSnapshot::Yes => true,
        // What automatic compaction would do next: the next start then loads
        // a snapshot (about 3M keys/s) instead of replaying a long log tail
        // (about 1M/s).
        ShutdownSnapshot::Auto => crate::shared::compaction_due(shared),
        ShutdownSnapshot::No => false,
    });
    if save {
        if shared.persistence.wal.is_none() {
            info!("no final snapshot: persistence is off (appendonly no)");
        } else {
            info!("taking the final snapshot");
            if let Err(e) = shared.persistence.snapshot_now(&shared.ks, settings.snapshot_retention) {
                if !opts.force {
                    error!(error = %e, "final snapshot failed: shutdown abandoned (FORCE exits anyway)");
                    return Err(e);
                }
                warn!(error = %e, "final snapshot failed: exiting anyway (FORCE)");
            }
        }
    }
    shared.shutdown.stop_accepting();
    let code = if shared.persistence.close() { 0 } else { 1 };
    info!("Gyre is now ready to exit, bye bye");
    std::process::exit(code)
}

/// Holds every stripe of the gate and the world (no command runs after this
/// returns Some), polling until `give_up`. On a tokio worker the worker is
/// handed to another thread while this waits.
pub fn stop_the_world(shared: &Shared, give_up: impl FnMut() -> bool) -> Option<crate::gate::ExclusiveGuard<'_>> {
    let wait = || shared.gate.exclusive_blocking(crate::gate::Stripes::ALL, true, give_up);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// The signal path: waits for SIGTERM or SIGINT, then runs the shutdown on a
/// blocking thread (it waits for the gate). A second signal exits at once.
pub async fn on_signals(shared: std::sync::Arc<Shared>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "received a signal: shutting down gracefully (a second one exits at once)");
        let s = shared.clone();
        let mut graceful = tokio::task::spawn_blocking(move || {
            // Waits for a running transaction or script; a second signal
            // exits without waiting. A script past busy-reply-threshold is
            // killed if it has not written; one that has is not waited for
            // (its effects were never acknowledged).
            let _gate = match stop_the_world(&s, || crate::scripting::busy_error(&s).is_some()) {
                Some(gate) => Some(gate),
                None => {
                    warn!("a long script is running: stopping it");
                    let _ = s.scripting.kill(gyre_script::KillCommand::Script);
                    let _ = s.scripting.kill(gyre_script::KillCommand::Function);
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
                    stop_the_world(&s, || std::time::Instant::now() > deadline)
                }
            };
            run(&s, Options::default(), name)
        });
        tokio::select! {
            r = &mut graceful => match r {
                Ok(Err(why)) => error!(error = %why, "shutdown abandoned; still serving"),
                Ok(Ok(never)) => match never {},
                Err(e) => error!(error = %e, "shutdown task failed; still serving"),
            },
            _ = term.recv() => exit_now("SIGTERM"),
            _ = int.recv() => exit_now("SIGINT"),
        }
    }
}

fn exit_now(signal: &str) -> ! {
    warn!(signal, "second signal during shutdown: exiting now, without waiting for running commands");
    std::process::exit(1)
}
