//! Stream commands: XADD, XDEL, XTRIM, XSETID, XRANGE, XREVRANGE, XLEN,
//! XREAD, XREADGROUP, XGROUP *, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO *.
//!
//! Every write reads the stream, decides, and commits deterministic
//! [`StreamOp`]s: XADD names the ID it chose and trimming names the first
//! entry kept; XREADGROUP names the group's new last ID and read counter and
//! the PEL entries it created or redelivered, with the time; XCLAIM and
//! XAUTOCLAIM name each claimed entry's delivery time and count. Replies and
//! errors follow Redis 7.2 (`t_stream.c`).
//!
//! Blocking: XREAD and XREADGROUP with BLOCK that find nothing return
//! [`CmdError::Block`] on their keys; XADD (and XGROUP DESTROY, which must
//! wake XREADGROUP waiters with an error) signal the key, and the blocked
//! command runs again. XREAD's `$` is replaced by the stream's last ID before
//! the client waits, so the command that runs again waits for what is newer.
//!
//! Layout: this file holds the command table and the key rules the
//! dispatcher and the blocking machinery call; `common` parses IDs and
//! writes entries, `plain` has the commands without groups, `read` XREAD and
//! XREADGROUP, `groups` the consumer-group commands and `info` XINFO.

mod common;
mod groups;
mod info;
mod plain;
mod read;

use gyre_engine::Mutation;

use self::groups::{
    xack, xautoclaim, xclaim, xgroup_create, xgroup_createconsumer, xgroup_delconsumer, xgroup_destroy, xgroup_help,
    xgroup_setid, xpending,
};
use self::info::{xinfo_consumers, xinfo_groups, xinfo_help, xinfo_stream};
use self::plain::{xadd, xdel, xlen, xrange, xrevrange, xsetid, xtrim};
use self::read::{xread, xreadgroup};
use super::flags::*;
use super::table::{cmd, data, KEY1, NOKEYS};
use super::{CommandSpec, Group};

macro_rules! x {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $since:literal, $summary:literal, $syntax:literal, $handler:path) => {
        cmd!($name, $arity, $flags, $keys, Stream, $since, $summary, $syntax, data!($handler))
    };
}

pub static COMMANDS: &[CommandSpec] = &[
    x!("xadd", -5, WRITE | DENYOOM | FAST, KEY1, "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]", xadd),
    x!("xdel", -3, WRITE | FAST, KEY1, "5.0.0", "Returns the number of messages after removing them from a stream.", "key id [id ...]", xdel),
    x!("xtrim", -4, WRITE, KEY1, "5.0.0", "Deletes messages from the beginning of a stream.", "key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]", xtrim),
    x!("xsetid", -3, WRITE | DENYOOM | FAST, KEY1, "5.0.0", "An internal command for replicating stream values.", "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]", xsetid),
    x!("xrange", -4, READONLY, KEY1, "5.0.0", "Returns the messages from a stream within a range of IDs.", "key start end [COUNT count]", xrange),
    x!("xrevrange", -4, READONLY, KEY1, "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", "key end start [COUNT count]", xrevrange),
    x!("xlen", 2, READONLY | FAST, KEY1, "5.0.0", "Return the number of messages in a stream.", "key", xlen),
    CommandSpec { numkeys_at: super::KEYS_AFTER_STREAMS, ..x!("xread", -4, READONLY | BLOCKING, NOKEYS, "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]", xread) },
    CommandSpec { numkeys_at: super::KEYS_AFTER_STREAMS, ..x!("xreadgroup", -7, WRITE | BLOCKING | WAKES_ON_DELETE, NOKEYS, "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]", xreadgroup) },
    x!("xack", -4, WRITE | FAST, KEY1, "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", "key group id [id ...]", xack),
    x!("xpending", -3, READONLY, KEY1, "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", "key group [[IDLE min-idle-time] start end count [consumer]]", xpending),
    x!("xclaim", -6, WRITE | FAST, KEY1, "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]", xclaim),
    x!("xautoclaim", -6, WRITE | FAST, KEY1, "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", "key group consumer min-idle-time start [COUNT count] [JUSTID]", xautoclaim),
    cmd!("xgroup", -2, 0, NOKEYS, Stream, "5.0.0", "A container for consumer groups commands.", "", super::introspect::container, XGROUP_SUBS),
    cmd!("xinfo", -2, 0, NOKEYS, Stream, "5.0.0", "A container for stream introspection commands.", "", super::introspect::container, XINFO_SUBS),
];

const KEY2: (i32, i32, i32) = (2, 2, 1);

static XGROUP_SUBS: &[CommandSpec] = &[
    x!(
        "create",
        -5,
        WRITE | DENYOOM,
        KEY2,
        "5.0.0",
        "Creates a consumer group.",
        "key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]",
        xgroup_create
    ),
    x!(
        "createconsumer",
        5,
        WRITE | DENYOOM,
        KEY2,
        "6.2.0",
        "Creates a consumer in a consumer group.",
        "key group consumer",
        xgroup_createconsumer
    ),
    x!(
        "delconsumer",
        5,
        WRITE,
        KEY2,
        "5.0.0",
        "Deletes a consumer from a consumer group.",
        "key group consumer",
        xgroup_delconsumer
    ),
    x!("destroy", 4, WRITE, KEY2, "5.0.0", "Destroys a consumer group.", "key group", xgroup_destroy),
    x!(
        "setid",
        -5,
        WRITE,
        KEY2,
        "5.0.0",
        "Sets the last-delivered ID of a consumer group.",
        "key group <id | $> [ENTRIESREAD entries-read]",
        xgroup_setid
    ),
    x!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
        xgroup_help
    ),
];

static XINFO_SUBS: &[CommandSpec] = &[
    x!(
        "consumers",
        4,
        READONLY,
        KEY2,
        "5.0.0",
        "Returns a list of the consumers in a consumer group.",
        "key group",
        xinfo_consumers
    ),
    x!("groups", 3, READONLY, KEY2, "5.0.0", "Returns a list of the consumer groups of a stream.", "key", xinfo_groups),
    x!(
        "stream",
        -3,
        READONLY,
        KEY2,
        "5.0.0",
        "Returns information about a stream.",
        "key [FULL [COUNT count]]",
        xinfo_stream
    ),
    x!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
        xinfo_help
    ),
];

/// The keys of XREAD / XREADGROUP: the first half of the arguments after
/// STREAMS (for XREADGROUP the search starts after `GROUP group consumer`).
pub fn keys_after_streams<'a>(argc: usize, arg: impl Fn(usize) -> &'a [u8]) -> Vec<usize> {
    let start = if argc > 1 && arg(1).eq_ignore_ascii_case(b"GROUP") { 4 } else { 1 };
    let Some(at) = (start..argc).find(|&i| arg(i).eq_ignore_ascii_case(b"STREAMS")) else { return Vec::new() };
    let n = (argc - at - 1) / 2;
    (at + 1..at + 1 + n).collect()
}

/// After a command: keys its mutations deleted or replaced are signalled to
/// XREADGROUP waiters (the group went with the key), which run again and
/// answer as Redis 7.2 does (NOGROUP, WRONGTYPE, or entries of a stream moved
/// there). Other waiters are not disturbed (see `blocking::NOKEY_SIGNAL`).
pub fn signal_deleted(shared: &crate::shared::Shared, client: &mut crate::client::ClientState, mutations: &[u8]) {
    let all = bytes::Bytes::copy_from_slice(mutations);
    let mut pos = 0;
    let mut push = |db: gyre_engine::DbIndex, key: Vec<u8>| {
        let signal = (db | crate::blocking::NOKEY_SIGNAL, key);
        if !client.ready_keys.contains(&signal) {
            client.ready_keys.push(signal);
        }
    };
    while pos < all.len() {
        let Ok((m, used)) = gyre_engine::mutation::decode(&all.slice(pos..)) else { return };
        pos += used;
        match &m {
            // Only keys an XREADGROUP waits on: a signal makes the batch's
            // log go out early, which other writers should not pay for.
            Mutation::Del { db, key, .. } | Mutation::Set { db, key, .. } | Mutation::Restore { db, key, .. }
                if shared.blocking.nokey_waits_on(*db, key) =>
            {
                push(*db, key.to_vec())
            }
            Mutation::FlushAll { .. } => shared.blocking.nokey_waited(None).into_iter().for_each(|(d, k)| push(d, k)),
            Mutation::FlushDb { db, .. } | Mutation::DropSlot { db, .. } => {
                shared.blocking.nokey_waited(Some(*db)).into_iter().for_each(|(d, k)| push(d, k))
            }
            Mutation::SwapDb { a, b, .. } => {
                for db in [*a, *b] {
                    shared.blocking.nokey_waited(Some(db)).into_iter().for_each(|(d, k)| push(d, k));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_follow_the_streams_keyword() {
        let argv: Vec<&[u8]> = vec![b"XREAD", b"COUNT", b"2", b"STREAMS", b"a", b"b", b"0", b"0"];
        assert_eq!(keys_after_streams(argv.len(), |i| argv[i]), vec![4, 5]);
        let argv: Vec<&[u8]> = vec![b"XREADGROUP", b"GROUP", b"g", b"STREAMS", b"STREAMS", b"k", b">"];
        assert_eq!(keys_after_streams(argv.len(), |i| argv[i]), vec![5]);
    }
}
