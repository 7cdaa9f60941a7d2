//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queueing: between MULTI and EXEC the connection answers `+QUEUED` and keeps
//! a copy of each command (see `dispatch`); a command that cannot be
//! queued (unknown, wrong arity, not allowed in a transaction) is answered
//! with its error and makes EXEC answer `EXECABORT`.
//!
//! Atomicity: EXEC runs with the server's execution gate held exclusively
//! (`Shared::gate`; every other command holds it shared while it runs), so no
//! other client's command runs between the transaction's commands, on any
//! thread, and no reader sees half of it. The queued commands' mutations go to
//! the write-ahead log as one record, so recovery restores all or none. The
//! gate is simpler than locking the transaction's keys in a fixed order and
//! equally sound; its cost on the ordinary path is one uncontended
//! reader-count update per command.
//!
//! WATCH: each watched key remembers the version of its live entry (or that
//! it had none: absent or expired). EXEC, holding the gate, compares: any
//! change (a write by anyone, including this client, an expiry, FLUSHDB,
//! FLUSHALL, SWAPDB bringing in another value) aborts with a null reply. A key
//! created and deleted again between WATCH and EXEC compares equal, which
//! Redis would count as touched; the transaction's reads are still valid then.

use gyre_engine::{DbIndex, Version};
use gyre_resp::OwnedArgs;

use super::{err, Call, CmdResult};

/// A transaction being queued (after MULTI).
#[derive(Default, Debug)]
pub struct Transaction {
    pub queued: Vec<OwnedArgs>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub aborted: bool,
}

/// The WATCHed keys of a client: (database, key) to the version of the
/// key's live entry at WATCH (None: absent or expired). A map, so watching a
/// key twice keeps the first version and each WATCH costs one lookup per key.
pub type Watched = hashbrown::HashMap<(DbIndex, Vec<u8>), Option<Version>>;

/// Most keys one client may watch (a named limit; Redis has none, but a
/// client must not grow server memory without bound).
pub const WATCHED_KEYS_MAX: usize = 1 << 20;

fn live_version(call: &Call<'_>, db: DbIndex, key: &[u8]) -> Option<Version> {
    call.shared.live_version(db, key, call.now_ms)
}

pub fn multi(call: &mut Call<'_>) -> CmdResult {
    if call.client.multi.is_some() {
        return Err(err("ERR MULTI calls can not be nested"));
    }
    call.client.multi = Some(Transaction::default());
    call.out.ok();
    Ok(())
}

pub fn discard(call: &mut Call<'_>) -> CmdResult {
    if call.client.multi.take().is_none() {
        return Err(err("ERR DISCARD without MULTI"));
    }
    call.client.watched.clear();
    call.out.ok();
    Ok(())
}

pub fn watch(call: &mut Call<'_>) -> CmdResult {
    if call.client.multi.is_some() {
        return Err(err("ERR WATCH inside MULTI is not allowed"));
    }
    if call.client.watched.len() + call.argc() - 1 > WATCHED_KEYS_MAX {
        return Err(err("ERR too many watched keys"));
    }
    let db = call.client.db;
    for i in 1..call.argc() {
        let key = call.arg(i);
        if !call.client.watched.contains_key(&(db, key.to_vec())) {
            let version = live_version(call, db, key);
            call.client.watched.insert((db, key.to_vec()), version);
        }
    }
    call.out.ok();
    Ok(())
}

pub fn unwatch(call: &mut Call<'_>) -> CmdResult {
    call.client.watched.clear();
    call.out.ok();
    Ok(())
}

/// Runs the queued commands, each writing its reply into one array. The
/// connection holds the execution gate exclusively while this runs.
pub fn exec(call: &mut Call<'_>) -> CmdResult {
    let Some(tx) = call.client.multi.take() else {
        return Err(err("ERR EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut call.client.watched);
    if tx.aborted {
        return Err(err("EXECABORT Transaction discarded because of previous errors."));
    }
    if watched.iter().any(|((db, key), version)| live_version(call, *db, key) != *version) {
        call.out.null_array();
        return Ok(());
    }
    call.out.array(tx.queued.len());
    call.client.in_exec = true;
    for cmd in &tx.queued {
        crate::dispatch::execute_nested(cmd.args(), call.shared, call.client, call.out.buf(), call.log, call.now_ms);
    }
    call.client.in_exec = false;
    Ok(())
}
