//! The narrow handle a data command runs with: what GET or SET can touch is
//! what [`Data`] offers, and nothing else.
//!
//! A [`Call`] reaches the whole server (`Shared`: ACL, persistence, scripting,
//! other clients). A data command needs much less: its arguments and reply,
//! the selected database's shards, the connection's mutation log (handed to
//! the commit point when the batch ends), the command's time and version, the
//! hot settings and encoding thresholds that shape values, the lazy-free
//! thread for large values it overwrites, the blocked-client signal (LPUSH
//! serves BLPOP), whether it runs inside EXEC (where it may not block), and a
//! random stream seeded from the server's runtime. Its handler takes a `Data`
//! instead of a `Call`, and its table row wraps it with `data!` (see
//! `table.rs`).
//!
//! The `Call` behind the narrow methods is private to this module, so a
//! handler cannot reach past them. Invariant: a `Data` is one pointer; making
//! one allocates nothing, takes no lock and copies nothing.
//!
//! Who runs with it: the data commands (strings, keys, hashes, lists, sets,
//! sorted sets, geo, bitmaps, HyperLogLog, streams, SORT, DUMP/RESTORE, LCS).
//! Commands that act on the connection or the server (SELECT, SWAPDB,
//! CLIENT, CONFIG, ACL, INFO, scripting, Pub/Sub, transactions,
//! introspection) keep the `Call`.

use gyre_engine::{DbIndex, Entry, Keyspace, MutationLog, Now, Shard, SlotId};
use gyre_resp::{Args, ReplyWriter};

use super::{Call, CmdError};
use crate::config::Hot;
use crate::shared::Garbage;

/// What a data command may touch while it runs. A wrapper around the
/// command's [`Call`] that passes on only the methods below (the `Call` is
/// private to this module), so making one costs nothing.
pub struct Data<'c, 'a> {
    call: &'c mut Call<'a>,
}

impl<'a> Call<'a> {
    /// The narrow handle for a data command (see `cmd::data`).
    #[inline]
    pub fn data(&mut self) -> Data<'_, 'a> {
        Data { call: self }
    }
}

impl<'c, 'a> Data<'c, 'a> {
    /// The command's arguments, its name first.
    #[inline]
    pub fn args(&self) -> Args<'a> {
        self.call.args
    }

    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        self.call.args.get(i)
    }

    #[inline]
    pub fn argc(&self) -> usize {
        self.call.args.len()
    }

    /// The reply being written.
    #[inline]
    pub fn out(&mut self) -> &mut ReplyWriter<'a> {
        &mut self.call.out
    }

    /// A random stream seeded from the server's runtime, for commands that
    /// pick at random (SPOP, SRANDMEMBER, RANDOMKEY, ...).
    pub fn rng(&self) -> crate::runtime::XorShift {
        crate::runtime::XorShift::new(self.call.shared.runtime.seed())
    }

    /// Answers a container's HELP subcommand (XGROUP HELP, ...).
    pub fn help(&mut self, container: &str, subs: &[super::CommandSpec]) {
        super::introspect::help_reply(self.call, container, subs);
    }

    /// Whether the command runs inside EXEC or a script, where it may not
    /// block (XREAD BLOCK answers at once there).
    #[inline]
    pub fn in_exec(&self) -> bool {
        self.call.client.in_exec
    }

    /// Whether the command runs inside a script (XREAD's BLOCK is refused
    /// there, as Redis 7.2 does).
    #[inline]
    pub fn in_script(&self) -> bool {
        self.call.client.in_script
    }

    /// The protocol the reply is written in.
    #[inline]
    pub fn protocol(&self) -> gyre_resp::Protocol {
        self.call.out.protocol()
    }

    /// The connection's mutations, for the commit point.
    #[inline]
    pub fn log(&mut self) -> &mut MutationLog {
        self.call.log
    }

    /// Wall-clock time at dispatch, Unix milliseconds: one instant per command.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.call.now_ms
    }

    /// In cluster mode, whether `key`'s slot is one this node is primary of:
    /// what keyspace-wide commands (KEYS, SCAN) count, so a client fanning
    /// out to every primary counts each key once. Always true on one node.
    #[inline]
    pub fn counts_key(&self, key: &[u8]) -> bool {
        crate::cluster::counts_key(self.call.shared, key)
    }

    /// Whether the server runs in cluster mode (SORT refuses patterns there).
    pub fn cluster_enabled(&self) -> bool {
        self.call.shared.cluster.get().is_some()
    }

    /// Whether the client's user may read every key (SORT's patterns).
    pub fn reads_all_keys(&self) -> bool {
        self.call.client.auth.reads_all_keys()
    }

    /// DBSIZE in cluster mode: the keys of the slots this node is primary
    /// of (None on a single node).
    pub fn cluster_dbsize(&self, db: DbIndex) -> Option<usize> {
        crate::cluster::dbsize(self.call.shared, db)
    }

    /// In cluster mode, empties the slots this node serves, and only those
    /// (a slot being copied here keeps its copy), each drop logged after the
    /// earlier writes of its shard; `None` outside cluster mode.
    pub fn cluster_flush(&mut self) -> Option<gyre_engine::Detached> {
        let shared = self.call.shared;
        let slots = crate::cluster::served_slots(shared)?;
        Some(crate::commit::commit_drop(&shared.persistence, &shared.ks, self.call.log, 0, &slots, self.call.now_ms))
    }

    /// The keyspace (all databases: MOVE and COPY ... DB reach another).
    #[inline]
    pub fn ks(&self) -> &'a Keyspace {
        &self.call.shared.ks
    }

    /// The settings read on hot paths (`proto-max-bulk-len`, LFU, ...).
    #[inline]
    pub fn hot(&self) -> &'a Hot {
        &self.call.shared.config.hot
    }

    #[inline]
    pub fn db(&self) -> DbIndex {
        self.call.db()
    }

    /// Argument `i` as a key, its slot, and its shard of the selected database,
    /// locked: the preamble of every single-key command.
    #[inline]
    pub fn lock_key(&self, i: usize) -> (&'a [u8], SlotId, parking_lot::MutexGuard<'a, Shard>) {
        self.call.lock_key(i)
    }

    /// The slot of argument `i` (computed once by dispatch for the first key).
    #[inline]
    pub fn slot(&self, i: usize) -> SlotId {
        self.call.slot(i)
    }

    /// The key arguments, as the command table's key positions name them.
    #[inline]
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.call.keys()
    }

    /// The lookup time for this command, honouring CLIENT NO-TOUCH.
    #[inline]
    pub fn now(&self) -> Now {
        self.call.now()
    }

    /// A fresh version for this command's mutations.
    #[inline]
    pub fn version(&self) -> gyre_engine::Version {
        self.call.version()
    }

    /// Frees a deleted or overwritten entry, on the background thread when it
    /// is large (a million-element value must not stall the request path);
    /// see `evict::free_entry`.
    #[inline]
    pub fn free(&self, e: Entry) {
        crate::evict::free_entry(self.call.shared, e);
    }

    /// Hands `garbage` to the lazy-free thread (FLUSHDB ASYNC's databases).
    pub fn free_later(&self, garbage: Garbage) {
        self.call.shared.free_later(garbage);
    }

    /// The collection encoding thresholds (`hash-max-listpack-entries`, ...),
    /// for collections built outside the keyspace (SINTERSTORE, SORT).
    pub fn encoding(&self) -> gyre_engine::EncodingConfig {
        self.call.shared.config.encoding_config()
    }

    /// Records that `key` may now serve clients blocked on it (see
    /// [`Call::signal_ready`]).
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.call.signal_ready(key);
    }

    /// [`Data::signal_ready`] for a key of another database (COPY ... DB, MOVE).
    pub fn signal_ready_in(&mut self, db: DbIndex, key: &[u8]) {
        self.call.signal_ready_in(db, key);
    }

    /// Argument `i` parsed as an integer, or Redis's "not an integer" error.
    #[inline]
    pub fn int_arg(&self, i: usize) -> Result<i64, CmdError> {
        self.call.int_arg(i)
    }

    /// Argument `i` upper-cased is one of the given option names.
    #[inline]
    pub fn arg_is(&self, i: usize, name: &str) -> bool {
        self.call.arg_is(i, name)
    }
}
