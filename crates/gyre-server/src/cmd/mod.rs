//! The command table and the dispatcher.
//!
//! [`TABLE`] is the single source of truth for every command: name, arity (Redis's
//! sign convention: `n` means exactly n arguments including the name, `-n` at least
//! n), flags, key positions (first, last, step; last -1 = the last argument), a
//! one-line summary, the argument syntax and the handler. `COMMAND`, `COMMAND INFO`,
//! `COMMAND DOCS`, `COMMAND GETKEYS`, the arity check and key extraction all read it.
//!
//! Dispatch: look the name up (ASCII case-insensitive), check arity, descend into
//! a subcommand table when the command has one (CONFIG GET, CLIENT ID, ...), extract
//! keys, then run the handler. A handler validates its arguments before it writes a
//! reply; an `Err` it returns becomes the error reply, so no handler ever writes a
//! partial reply followed by an error.

pub mod acl;
pub mod admin;
pub mod bitmaps;
pub mod client;
pub mod cluster;
pub mod config;
pub mod data;
pub mod diagnostics;
#[cfg(test)]
mod docs;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod keys;
pub(crate) mod keyspecs;
pub mod lcs;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod shutdown;
pub mod sort;
pub mod streams;
pub mod strings;
pub(crate) mod table;
pub mod tracking;
pub mod transactions;
pub mod zsets;

use std::fmt;

use gyre_engine::{DbIndex, MutationLog, Now, SlotId};
use gyre_resp::{Args, ReplyWriter};

use crate::client::ClientState;
use crate::shared::Shared;

/// Command flags, named as Redis names them in COMMAND INFO.
pub mod flags {
    pub const WRITE: u64 = 1 << 0;
    pub const READONLY: u64 = 1 << 1;
    pub const DENYOOM: u64 = 1 << 2;
    pub const ADMIN: u64 = 1 << 3;
    pub const PUBSUB: u64 = 1 << 4;
    pub const NOSCRIPT: u64 = 1 << 5;
    pub const BLOCKING: u64 = 1 << 6;
    pub const LOADING: u64 = 1 << 7;
    pub const STALE: u64 = 1 << 8;
    pub const SKIP_MONITOR: u64 = 1 << 9;
    pub const SKIP_SLOWLOG: u64 = 1 << 10;
    pub const FAST: u64 = 1 << 11;
    pub const NO_AUTH: u64 = 1 << 12;
    pub const MAY_REPLICATE: u64 = 1 << 13;
    pub const NO_MULTI: u64 = 1 << 14;
    pub const ALLOW_BUSY: u64 = 1 << 15;
    /// Shown by COMMAND INFO only, as Redis declares it (commands it refuses
    /// while a replica loads its primary's data asynchronously, which Gyre
    /// never does): nothing in Gyre acts on it.
    pub const NO_ASYNC_LOADING: u64 = 1 << 16;
    /// Gyre-internal (not shown by COMMAND INFO): runs holding the execution
    /// gate exclusively (EXEC).
    pub const EXCLUSIVE: u64 = 1 << 24;
    /// Gyre's own: runs without taking the gate at all (SCRIPT KILL and the
    /// like, which must work while a script holds it).
    pub const NO_GATE: u64 = 1 << 25;
    /// Gyre's own, with EXCLUSIVE: holds only the stripes of the
    /// transaction's keys (EXEC), not every stripe and the world (scripts).
    pub const EXCLUSIVE_KEYS: u64 = 1 << 26;
    /// Gyre's own: runs at once between MULTI and EXEC instead of queueing
    /// (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET).
    pub const CONTROLS_TRANSACTION: u64 = 1 << 27;
    /// Gyre's own: runs a script (EVAL, FCALL and their variants); MONITOR
    /// shows it before the commands the script runs.
    pub const RUNS_SCRIPT: u64 = 1 << 28;
    /// Gyre's own: changes the connection's subscriptions ((UN)SUBSCRIBE and
    /// the pattern and shard variants).
    pub const SUBSCRIPTION: u64 = 1 << 29;
    /// Gyre's own: a RESP2 connection may run it while subscribed, beside
    /// the SUBSCRIPTION commands (PING, QUIT, RESET).
    pub const WHILE_SUBSCRIBED: u64 = 1 << 30;
    /// Gyre's own: acts on the connection's own state (transaction, user,
    /// protocol, database, monitoring, CLIENT), so the HTTP API, which has
    /// no connection, refuses it.
    pub const CONNECTION_STATE: u64 = 1 << 31;
    /// Gyre's own: runs the queued transaction (EXEC); a pause holds it only
    /// when the transaction writes.
    pub const RUNS_TRANSACTION: u64 = 1 << 32;
    /// Gyre's own: ends a client pause, so a pause never holds it (CLIENT
    /// UNPAUSE).
    pub const UNPAUSES: u64 = 1 << 33;
    /// Gyre's own: the CACHING flag of client-side tracking outlives it
    /// (CLIENT CACHING itself; on CLIENT, every CLIENT command the connection
    /// runs, as Redis's resetClient spares `clientCommand`).
    pub const KEEPS_CACHING: u64 = 1 << 34;
    /// Gyre's own, for ACL channel checks: argument 1 is a channel (PUBLISH,
    /// SPUBLISH).
    pub const CHANNEL_ARG: u64 = 1 << 35;
    /// Gyre's own, for ACL channel checks: every argument is a channel
    /// (SUBSCRIBE, SSUBSCRIBE).
    pub const CHANNEL_ARGS: u64 = 1 << 36;
    /// Gyre's own, for ACL channel checks: every argument is a pattern
    /// (PSUBSCRIBE).
    pub const PATTERN_ARGS: u64 = 1 << 37;
    /// Gyre's own: some of its arguments are secrets, shown by MONITOR as
    /// `(redacted)` (AUTH, HELLO; where the secrets start is per command,
    /// see `monitor::redacted_from`).
    pub const SECRET_ARGS: u64 = 1 << 38;
    /// Gyre's own: a client blocked on it is woken when a key it waits on is
    /// deleted or replaced, to answer as Redis 7.2 does (XREADGROUP, whose
    /// group went with the key; see `blocking::NOKEY_SIGNAL`).
    pub const WAKES_ON_DELETE: u64 = 1 << 39;
    /// Gyre's own: waits for the connection's own earlier writes to reach
    /// the log or replicas (WAIT, WAITAOF), so it needs a connection (the
    /// HTTP API refuses it).
    pub const WAITS_ON_CONNECTION: u64 = 1 << 40;

    /// (bit, Redis's name) in COMMAND INFO order (Redis 7.2's
    /// `addReplyFlagsForCommand`, which also places "no_mandatory_keys"
    /// before "no_async_loading" and "movablekeys" before "allow_busy"; see
    /// `introspect::info_flags`). MAY_REPLICATE is Redis's too, but COMMAND
    /// INFO hides it, as Redis does.
    pub const NAMES: &[(u64, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Command groups (COMMAND DOCS "group") which also give ACL categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    String,
    Generic,
    Connection,
    Server,
    List,
    Hash,
    Set,
    SortedSet,
    Transactions,
    PubSub,
    Scripting,
    Stream,
    Bitmap,
    HyperLogLog,
    Geo,
    Cluster,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::String => "string",
            Group::Generic => "generic",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::List => "list",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Transactions => "transactions",
            Group::PubSub => "pubsub",
            Group::Scripting => "scripting",
            Group::Stream => "stream",
            Group::Bitmap => "bitmap",
            Group::HyperLogLog => "hyperloglog",
            Group::Geo => "geo",
            Group::Cluster => "cluster",
        }
    }
}

/// A command handler.
pub type Handler = fn(&mut Call<'_>) -> CmdResult;

/// One row of the command table.
pub struct CommandSpec {
    /// Lower-case name; for a subcommand, the subcommand alone (e.g. "get").
    pub name: &'static str,
    pub arity: i32,
    pub flags: u64,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// For commands whose keys follow a `numkeys` argument (LMPOP, ZUNIONSTORE,
    /// ...): that argument's index; 0 when there is none. Such keys are
    /// "movable" in Redis's terms and come in addition to first/last/step.
    pub numkeys_at: usize,
    pub group: Group,
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument syntax after the name, as Redis's documentation writes it.
    pub syntax: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    /// This row's number among a server's INFO commandstats counters (see
    /// `stats::Row`). (A reference to a static of its own: the table's slices
    /// may not hold interior mutability themselves.)
    pub stats: &'static crate::stats::Row,
}

impl CommandSpec {
    pub fn has_flag(&self, f: u64) -> bool {
        self.flags & f != 0
    }

    /// Indexes of the key arguments in `argc` arguments (name at index 0), for
    /// commands without a `numkeys` argument.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first_key, self.step.max(1) as usize);
        let last = match self.last_key {
            l if l < 0 => argc as i32 + l,
            l => l,
        };
        let range = if first <= 0 || last < first { 0..0 } else { first as usize..(last as usize + 1).min(argc) };
        range.step_by(step)
    }

    /// Indexes of every key argument of `args`, including keys counted by a
    /// `numkeys` argument (clamped to the arguments present; a non-numeric
    /// count names no keys, the handler reports the error).
    pub fn key_indexes<'a>(&self, argc: usize, arg: impl Fn(usize) -> &'a [u8]) -> Vec<usize> {
        if self.numkeys_at == KEYS_AFTER_STREAMS {
            return streams::keys_after_streams(argc, arg);
        }
        let mut keys: Vec<usize> = self.key_positions(argc).collect();
        if self.numkeys_at > 0 && self.numkeys_at < argc {
            let n = gyre_engine::num::parse_u64(arg(self.numkeys_at)).unwrap_or(0) as usize;
            let start = self.numkeys_at + 1;
            keys.extend(start..(start.saturating_add(n)).min(argc));
        }
        keys
    }
}

/// `numkeys_at` of XREAD and XREADGROUP: their keys are the first half of
/// the arguments after the STREAMS keyword (movable keys, as in Redis).
pub const KEYS_AFTER_STREAMS: usize = usize::MAX;

/// What a handler can fail with; written to the client as an error reply,
/// except [`CmdError::Block`].
#[derive(Debug)]
pub enum CmdError {
    /// A complete error line including its code, e.g. "ERR syntax error".
    Msg(String),
    Static(&'static str),
    /// A blocking command (BLPOP, BZPOPMIN, ...) found nothing to serve: the
    /// client waits on the keys. The handler must not have written a reply or
    /// committed anything. The server runs the same command again, on the
    /// client's behalf, when one of the keys is signalled ready
    /// ([`Call::signal_ready`]), and answers `timeout_reply` if time runs out.
    Block(BlockSpec),
}

/// Where and how long a blocked client waits.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub keys: Vec<Vec<u8>>,
    /// None: wait forever (timeout 0).
    pub timeout: Option<std::time::Duration>,
    pub timeout_reply: TimeoutReply,
    /// The command to run again when a key is signalled, when it differs
    /// from the one sent (XREAD's `$` becomes the ID it stood for).
    pub argv: Option<Vec<Vec<u8>>>,
}

/// The reply a blocked client gets when its timeout expires. Redis answers
/// every list and sorted-set wait with a null array (`*-1` in RESP2), BLMOVE
/// and BRPOPLPUSH included, and so does XREAD / XREADGROUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutReply {
    NullArray,
    /// WAIT: the replica count.
    Integer(i64),
    /// WAITAOF: `[numlocal, numreplicas]`, read when the wait ends: the
    /// local count (1 once the log as written when the client blocked is
    /// fsynced) and, in a cluster, the replicas that fsynced this client's
    /// writes (through the feed position when it blocked); the wait also
    /// ends once both reach what was asked (`local`, `replicas`).
    WaitAof {
        local: i64,
        replicas: i64,
    },
    /// WAIT in a cluster: the number of replicas holding this client's
    /// writes (the feed position when it blocked), read when the wait ends;
    /// the wait also ends once `wanted` do.
    WaitReplicas {
        wanted: i64,
    },
}

/// A SCAN-family cursor (SCAN, HSCAN, SSCAN, ZSCAN) as Redis reads it (C
/// `strtoul`, base 10, validated against Redis 7.0): the empty string is 0; a
/// `+`, leading zeros and a wrapping `-` are accepted; leading whitespace,
/// trailing bytes and overflow are not.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || err("ERR invalid cursor");
    let (negative, digits) = match arg {
        [] => return Ok(0),
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// Parses a blocking command's timeout (seconds, fractional allowed) with
/// Redis's errors (`now_ms`: the command's time). Zero means forever.
pub fn parse_block_timeout(arg: &[u8], now_ms: u64) -> Result<Option<std::time::Duration>, CmdError> {
    let secs = gyre_engine::num::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or(err("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(err("ERR timeout is negative"));
    }
    if secs == 0.0 {
        return Ok(None);
    }
    // Redis's rule: the deadline in Unix milliseconds must fit in an i64.
    if secs * 1000.0 > i64::MAX as f64 - now_ms as f64 {
        return Err(err("ERR timeout is out of range"));
    }
    Ok(Some(std::time::Duration::from_secs_f64(secs)))
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::Msg(s) => f.write_str(s),
            CmdError::Static(s) => f.write_str(s),
            CmdError::Block(_) => f.write_str("ERR blocked"),
        }
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Redis's common error replies.
pub mod errors {
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
}

pub fn err(s: &'static str) -> CmdError {
    CmdError::Static(s)
}

/// Everything a handler may touch while it runs: the whole server. Data
/// commands narrow it to a [`data::Data`] (`Call::data`), which offers only the
/// keyspace, the mutation log and what values need.
pub struct Call<'a> {
    pub args: Args<'a>,
    /// The table row being run: its key positions say which arguments are keys.
    pub spec: &'static CommandSpec,
    pub out: ReplyWriter<'a>,
    pub shared: &'a Shared,
    pub client: &'a mut ClientState,
    pub log: &'a mut MutationLog,
    /// Wall-clock time at dispatch, Unix milliseconds: one instant per command.
    pub now_ms: u64,
    /// The slot of the first key argument, when dispatch computed it (for
    /// the gate): [`Call::lock_key`] then skips a second CRC16.
    pub first_slot: Option<SlotId>,
}

impl<'a> Call<'a> {
    pub fn arg(&self, i: usize) -> &[u8] {
        self.args.get(i)
    }

    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// Argument `i` as a key, its slot, and its shard of the selected database,
    /// locked: the preamble of every single-key command.
    pub fn lock_key(&self, i: usize) -> (&'a [u8], SlotId, parking_lot::MutexGuard<'a, gyre_engine::Shard>) {
        let key = self.args.get(i);
        let slot = self.slot(i);
        (key, slot, self.shared.ks.db(self.client.db).lock(slot))
    }

    /// The slot of argument `i` (computed once by dispatch for the first key).
    #[inline]
    pub fn slot(&self, i: usize) -> SlotId {
        match self.first_slot {
            Some(slot) if i as i32 == self.spec.first_key => slot,
            _ => SlotId::of(self.args.get(i)),
        }
    }

    /// The key arguments, as the command table's key positions name them: the
    /// one definition that routing, ACLs and COMMAND GETKEYS share.
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let args = self.args;
        self.spec.key_indexes(args.len(), |i| args.get(i)).into_iter().map(move |i| args.get(i))
    }

    pub fn db(&self) -> DbIndex {
        self.client.db
    }

    /// The lookup time for this command, honouring CLIENT NO-TOUCH.
    pub fn now(&self) -> Now {
        Now { ms: self.now_ms, touch: !self.client.no_touch, lfu: self.shared.config.hot.lfu() }
    }

    /// A fresh version for this command's mutations.
    pub fn version(&self) -> gyre_engine::Version {
        self.shared.ks.next_version(self.now_ms)
    }

    /// Records that `key` (in the selected database) may now serve clients
    /// blocked on it: call after committing a write that adds elements (LPUSH,
    /// ZADD, LMOVE's destination, ...). Blocked clients are served, in the order
    /// they blocked, once this command has finished.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.signal_ready_in(self.client.db, key);
    }

    /// [`Call::signal_ready`] for a key of another database (COPY ... DB, MOVE).
    pub fn signal_ready_in(&mut self, db: DbIndex, key: &[u8]) {
        // The common case, nobody blocked anywhere, costs one atomic load.
        if !self.shared.blocking.anyone_blocked() {
            return;
        }
        if !self.client.ready_keys.iter().any(|(d, k)| *d == db && k == key) {
            self.client.ready_keys.push((db, key.to_vec()));
        }
    }

    /// Argument `i` parsed as an integer, or Redis's "not an integer" error.
    pub fn int_arg(&self, i: usize) -> Result<i64, CmdError> {
        gyre_engine::num::parse_i64(self.arg(i)).ok_or(err(errors::NOT_INTEGER))
    }

    /// Argument `i` upper-cased is one of the given option names.
    pub fn arg_is(&self, i: usize, name: &str) -> bool {
        self.arg(i).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Finds a command by name (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    table::lookup(name)
}

pub fn lookup_sub(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Redis's "wrong number of arguments" error for `name` (lower-case full name).
pub fn arity_error(name: &str) -> CmdError {
    CmdError::Msg(format!("ERR wrong number of arguments for '{name}' command"))
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// Redis's unknown-command error: the name cut to 128 bytes, then arguments as
/// `'a' 'b' ` while that list is shorter than 128 bytes, each cut to what is left.
pub fn unknown_command_error(args: &Args<'_>) -> CmdError {
    let mut listed = String::new();
    for a in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&printable(a, room));
        listed.push_str("' ");
    }
    CmdError::Msg(format!("ERR unknown command '{}', with args beginning with: {listed}", printable(args.get(0), 128)))
}

/// Bytes as text for an error message: invalid UTF-8 and control characters
/// become spaces, so an error line can never be broken by client input.
pub fn printable(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    String::from_utf8_lossy(b).chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Resolves the spec that will run for `args`: checks arity and subcommands.
/// Returns (command, subcommand or the command itself). `last` is the caller's
/// previous top-level command: clients tend to repeat one, and comparing a name
/// is cheaper than a table lookup.
#[inline]
pub fn resolve(
    args: &Args<'_>,
    last: &mut Option<&'static CommandSpec>,
) -> Result<(&'static CommandSpec, &'static CommandSpec), CmdError> {
    let name = args.get(0);
    let spec = match *last {
        Some(c) if c.name.as_bytes().eq_ignore_ascii_case(name) => c,
        _ => {
            let c = lookup(name).ok_or_else(|| unknown_command_error(args))?;
            *last = Some(c);
            c
        }
    };
    if !arity_ok(spec.arity, args.len()) {
        return Err(arity_error(spec.name));
    }
    // A container called bare (COMMAND) runs its own handler; the arity check
    // above keeps the others (CONFIG, CLIENT, OBJECT) from getting here bare.
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok((spec, spec));
    }
    let sub = lookup_sub(spec, args.get(1)).ok_or_else(|| {
        CmdError::Msg(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            printable(args.get(1), 128),
            spec.name.to_ascii_uppercase()
        ))
    })?;
    if !arity_ok(sub.arity, args.len()) {
        return Err(arity_error(&format!("{}|{}", spec.name, sub.name)));
    }
    Ok((spec, sub))
}

#[cfg(test)]
mod tests {
    use super::{flags, parse_scan_cursor};

    /// The top-level commands carrying `flag`, sorted.
    fn carrying(flag: u64) -> Vec<&'static str> {
        let mut names: Vec<&str> = super::table::all().filter(|c| c.has_flag(flag)).map(|c| c.name).collect();
        names.sort_unstable();
        names
    }

    /// The behaviour flags name the commands the name matches they replaced
    /// named (monitor, pubsub, HTTP, pause, ACL channels).
    #[test]
    fn behaviour_flags_mark_the_commands_they_did_by_name() {
        let subscription = ["psubscribe", "punsubscribe", "ssubscribe", "subscribe", "sunsubscribe", "unsubscribe"];
        assert_eq!(carrying(flags::SUBSCRIPTION), subscription);
        assert_eq!(carrying(flags::WHILE_SUBSCRIBED), ["ping", "quit", "reset"]);
        let scripts = ["eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro"];
        assert_eq!(carrying(flags::RUNS_SCRIPT), scripts);
        let state = [
            "auth", "client", "discard", "exec", "hello", "monitor", "multi", "quit", "reset", "select", "unwatch",
            "watch",
        ];
        assert_eq!(carrying(flags::CONNECTION_STATE), state);
        assert_eq!(carrying(flags::RUNS_TRANSACTION), ["exec"]);
        assert_eq!(carrying(flags::CHANNEL_ARG), ["publish", "spublish"]);
        assert_eq!(carrying(flags::CHANNEL_ARGS), ["ssubscribe", "subscribe"]);
        assert_eq!(carrying(flags::PATTERN_ARGS), ["psubscribe"]);
        let client = super::lookup(b"client").expect("declared");
        assert!(super::lookup_sub(client, b"unpause").is_some_and(|s| s.has_flag(flags::UNPAUSES)));
        assert!(super::lookup_sub(client, b"caching").is_some_and(|s| s.has_flag(flags::KEEPS_CACHING)));
    }

    #[test]
    fn scan_cursors_parse_as_strtoul() {
        let ok = |s: &[u8]| parse_scan_cursor(s).ok();
        assert_eq!(ok(b"0"), Some(0));
        assert_eq!(ok(b""), Some(0));
        assert_eq!(ok(b"007"), Some(7));
        assert_eq!(ok(b"+5"), Some(5));
        assert_eq!(ok(b"-1"), Some(u64::MAX));
        assert_eq!(ok(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(ok(b"18446744073709551616"), None);
        for bad in [&b" 1"[..], b"1 ", b"x", b"+", b"-", b"1x"] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }
}
