//! Keyspace notifications (`notify-keyspace-events`).
//!
//! After a write command ran, the mutations it recorded name the keys it
//! changed; each becomes an event published on `__keyspace@<db>__:<key>`
//! (flag K, payload the event name) and `__keyevent@<db>__:<event>` (flag E,
//! payload the key), when the event's class is enabled. Event names follow
//! Redis's (`set`, `incrby`, `lpush`, `hset`, `zincr`, `expire`, `del`,
//! `rename_from`/`rename_to`, ...). A collection emptied by a command (its
//! mutation is a delete) gets the command's event and then `del`, as in Redis.
//!
//! Also: `expired` for each key expiry removed, by a command's lookup or the
//! active expiry cycle (`gyre_engine::expired` names them); `keymiss` for each
//! key a read-only command found missing; `new` for each key a command
//! created (checked before and after it ran, only when `n` is on); `evicted`
//! for each key eviction removed (`evict` calls [`key_evicted`]). The cost
//! when notifications are off is one atomic load per command.

use bytes::Bytes;
use gyre_engine::{DbIndex, Mutation, NO_EXPIRY};

use crate::shared::Shared;

pub const K: u32 = 1 << 0;
pub const E: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEYMISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but `m` and `n`.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const CLASSES: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('m', KEYMISS),
    ('d', MODULE),
    ('n', NEW),
];

/// Parses the flags string; `Err` names the bad character.
pub fn parse_flags(s: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => K,
            'E' => E,
            c => CLASSES
                .iter()
                .find(|(ch, _)| *ch == c)
                .map(|(_, f)| *f)
                .ok_or(format!("invalid event class '{c}' (allowed: K E g $ l s h z x e t m d n A)"))?,
        };
    }
    Ok(flags)
}

/// The canonical string Redis reports for flags (`A` when every class of it
/// is on, then the rest, then K and E).
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    }
    for (c, f) in CLASSES {
        if flags & f != 0 && (flags & ALL != ALL || f & ALL == 0) {
            s.push(*c);
        }
    }
    if flags & K != 0 {
        s.push('K');
    }
    if flags & E != 0 {
        s.push('E');
    }
    s
}

/// `config` normalisation: validate and canonicalise.
pub fn normalize(text: &str) -> Result<String, String> {
    parse_flags(text).map(flags_to_string)
}

/// The event (class, name) a command's main effect on a key raises.
fn command_event(cmd: &str) -> Option<(u32, &'static str)> {
    Some(match cmd {
        "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx" => (STRING, "set"),
        "append" => (STRING, "append"),
        "setrange" => (STRING, "setrange"),
        "setbit" | "bitfield" => (STRING, "setbit"),
        "bitop" => (STRING, "set"),
        "pfadd" | "pfmerge" => (STRING, "pfadd"),
        "geoadd" => (ZSET, "zadd"),
        "georadius" | "georadiusbymember" => (ZSET, "georadiusstore"),
        "geosearchstore" => (ZSET, "geosearchstore"),
        "sort" => (LIST, "sortstore"),
        "incr" | "decr" | "incrby" | "decrby" => (STRING, "incrby"),
        "incrbyfloat" => (STRING, "incrbyfloat"),
        "getdel" | "del" | "unlink" => (GENERIC, "del"),
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => (GENERIC, "expire"),
        "persist" => (GENERIC, "persist"),
        "copy" => (GENERIC, "copy_to"),
        "restore" => (GENERIC, "restore"),
        "lpush" | "lpushx" => (LIST, "lpush"),
        "rpush" | "rpushx" => (LIST, "rpush"),
        "linsert" => (LIST, "linsert"),
        "lset" => (LIST, "lset"),
        "lrem" => (LIST, "lrem"),
        "ltrim" => (LIST, "ltrim"),
        "lpop" | "blpop" => (LIST, "lpop"),
        "rpop" | "brpop" => (LIST, "rpop"),
        "hset" | "hmset" | "hsetnx" => (HASH, "hset"),
        "hincrby" => (HASH, "hincrby"),
        "hincrbyfloat" => (HASH, "hincrbyfloat"),
        "hdel" => (HASH, "hdel"),
        "sadd" => (SET, "sadd"),
        "srem" => (SET, "srem"),
        "spop" => (SET, "spop"),
        "sinterstore" => (SET, "sinterstore"),
        "sunionstore" => (SET, "sunionstore"),
        "sdiffstore" => (SET, "sdiffstore"),
        "zadd" => (ZSET, "zadd"),
        "zincrby" => (ZSET, "zincr"),
        "zrem" => (ZSET, "zrem"),
        "zpopmin" | "bzpopmin" => (ZSET, "zpopmin"),
        "zpopmax" | "bzpopmax" => (ZSET, "zpopmax"),
        "zremrangebyscore" => (ZSET, "zremrangebyscore"),
        "zremrangebyrank" => (ZSET, "zremrangebyrank"),
        "zremrangebylex" => (ZSET, "zremrangebylex"),
        "zunionstore" => (ZSET, "zunionstore"),
        "zinterstore" => (ZSET, "zinterstore"),
        "zdiffstore" => (ZSET, "zdiffstore"),
        "zrangestore" => (ZSET, "zrangestore"),
        _ => return None,
    })
}

/// The command's key arguments and whether each was live before it ran
/// (for `new` and `keymiss`).
pub struct Before {
    db: DbIndex,
    keys: Vec<(Vec<u8>, bool)>,
}

/// Notes what `new` and `keymiss` events will need, when they are enabled.
pub fn before(
    shared: &Shared,
    flags: u32,
    spec: &crate::cmd::CommandSpec,
    args: &gyre_resp::Args<'_>,
    db: DbIndex,
    now_ms: u64,
) -> Option<Before> {
    if flags & (NEW | KEYMISS) == 0 {
        return None;
    }
    let keys = spec
        .key_indexes(args.len(), |i| args.get(i))
        .into_iter()
        .map(|i| (args.get(i).to_vec(), shared.live_version(db, args.get(i), now_ms).is_some()))
        .collect();
    Some(Before { db, keys })
}

/// A command that ran: its name, table row, arguments and the mutations it
/// recorded (encoded, as in its `MutationLog`).
pub struct Ran<'a> {
    pub name: &'a str,
    pub spec: &'a crate::cmd::CommandSpec,
    pub args: &'a gyre_resp::Args<'a>,
    pub mutations: &'a [u8],
}

/// Publishes the events of a command that ran, in Redis's order: keys its
/// lookups found expired, keys it missed or created, then its own events.
pub fn after(
    shared: &Shared,
    flags: u32,
    ran: Ran<'_>,
    before: Option<Before>,
    expired: Vec<(DbIndex, Vec<u8>)>,
    now_ms: u64,
) {
    shared.tracking.invalidate_removed(shared, &expired);
    for (db, key) in expired {
        emit(shared, flags, EXPIRED, "expired", db, &key);
    }
    if let Some(before) = before {
        for (key, existed) in &before.keys {
            if *existed {
                continue;
            }
            if ran.spec.has_flag(crate::cmd::flags::READONLY) {
                emit(shared, flags, KEYMISS, "keymiss", before.db, key);
            } else if flags & NEW != 0 && shared.live_version(before.db, key, now_ms).is_some() {
                emit(shared, flags, NEW, "new", before.db, key);
            }
        }
    }
    if !ran.mutations.is_empty() {
        command_ran(shared, flags, ran.name, ran.args, ran.mutations, now_ms);
    }
}

/// Publishes `expired` events for keys the active expiry cycle removed.
pub fn expired_in_background(shared: &Shared, keys: Vec<(DbIndex, Vec<u8>)>) {
    let flags = shared.config.hot.notify_flags.load(std::sync::atomic::Ordering::Relaxed) as u32;
    for (db, key) in keys {
        emit(shared, flags, EXPIRED, "expired", db, &key);
    }
}

/// Publishes the events of one command's mutations (`encoded`, as recorded in
/// its `MutationLog`).
fn command_ran(shared: &Shared, flags: u32, cmd: &str, args: &gyre_resp::Args<'_>, encoded: &[u8], now_ms: u64) {
    let all = Bytes::copy_from_slice(encoded);
    let mut pos = 0;
    let mut index = 0;
    while pos < all.len() {
        let Ok((m, used)) = gyre_engine::mutation::decode(&all.slice(pos..)) else { return };
        pos += used;
        let Some((db, key)) = m.key() else { continue };
        for (class, event) in events_of(cmd, args, &m, index) {
            emit(shared, flags, class, event, db, key);
        }
        // A collection operation that left the key empty removed it.
        if matches!(m, Mutation::Coll { .. }) && shared.live_version(db, key, now_ms).is_none() {
            emit(shared, flags, GENERIC, "del", db, key);
        }
        index += 1;
    }
}

/// The events one mutation raises, in order.
fn events_of(cmd: &str, args: &gyre_resp::Args<'_>, m: &Mutation<Bytes>, index: usize) -> Vec<(u32, &'static str)> {
    let emptied = matches!(m, Mutation::Del { .. });
    match (cmd, m) {
        ("rename" | "renamenx", Mutation::Del { .. }) => vec![(GENERIC, "rename_from")],
        ("rename" | "renamenx", _) => vec![(GENERIC, "rename_to")],
        ("move", Mutation::Del { .. }) => vec![(GENERIC, "move_from")],
        ("move", _) => vec![(GENERIC, "move_to")],
        ("bitop" | "georadius" | "georadiusbymember" | "geosearchstore" | "sort" | "restore", Mutation::Del { .. }) => {
            vec![(GENERIC, "del")]
        }
        ("smove", Mutation::Coll { .. }) if index == 0 => vec![(SET, "srem")],
        ("smove", Mutation::Coll { .. }) => vec![(SET, "sadd")],
        ("lmove" | "blmove" | "rpoplpush" | "brpoplpush", _) => {
            let left = |i: usize| i < args.len() && args.get(i).eq_ignore_ascii_case(b"left");
            let is_lmove = cmd.ends_with("lmove");
            let event = match index {
                0 if is_lmove && left(3) => "lpop",
                0 => "rpop",
                _ if !is_lmove || left(4) => "lpush",
                _ => "rpush",
            };
            let mut v = vec![(LIST, event)];
            if emptied {
                v.push((GENERIC, "del"));
            }
            v
        }
        (_, Mutation::Coll { op: gyre_engine::CollOp::Stream(op), .. }) => stream_event(op).into_iter().collect(),
        (_, Mutation::Expire { expire_at_ms, .. }) if *expire_at_ms == NO_EXPIRY => vec![(GENERIC, "persist")],
        (_, Mutation::Expire { .. }) => vec![(GENERIC, "expire")],
        (_, Mutation::Set { expire_at_ms, .. }) if *expire_at_ms != NO_EXPIRY && cmd != "incrbyfloat" => {
            let mut v: Vec<_> = command_event(cmd).into_iter().collect();
            if matches!(cmd, "set" | "setex" | "psetex" | "getex") {
                v.push((GENERIC, "expire"));
            }
            v
        }
        (_, Mutation::Del { .. }) => match command_event(cmd) {
            Some((GENERIC, "del")) | None => vec![(GENERIC, "del")],
            // A collection command that emptied the key.
            Some(ev) => vec![ev, (GENERIC, "del")],
        },
        _ => command_event(cmd).into_iter().collect(),
    }
}

/// The event of a stream op, as Redis names it (reads, acknowledgements and
/// claims raise none).
fn stream_event(op: &gyre_engine::types::StreamOp<Bytes>) -> Option<(u32, &'static str)> {
    use gyre_engine::types::StreamOp as Op;
    Some(match op {
        Op::Add { .. } => (STREAM, "xadd"),
        Op::TrimBefore { .. } => (STREAM, "xtrim"),
        Op::Del { .. } => (STREAM, "xdel"),
        Op::SetId { .. } => (STREAM, "xsetid"),
        Op::GroupCreate { .. } => (STREAM, "xgroup-create"),
        Op::GroupSetId { .. } => (STREAM, "xgroup-setid"),
        Op::GroupDestroy { .. } => (STREAM, "xgroup-destroy"),
        Op::ConsumerCreate { .. } => (STREAM, "xgroup-createconsumer"),
        Op::ConsumerDelete { .. } => (STREAM, "xgroup-delconsumer"),
        Op::Read { .. } | Op::Ack { .. } | Op::Claim { .. } => return None,
    })
}

/// Raises `evicted` for a key removed by eviction (see `evict`).
pub fn key_evicted(shared: &Shared, flags: u32, db: u16, key: &[u8]) {
    emit(shared, flags, EVICTED, "evicted", db, key);
}

fn emit(shared: &Shared, flags: u32, class: u32, event: &str, db: u16, key: &[u8]) {
    if flags & class == 0 {
        return;
    }
    let limit = *shared.config.hot.pubsub_limit.read();
    if flags & K != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        shared.pubsub.publish(&ch, event.as_bytes(), limit);
    }
    if flags & E != 0 {
        let ch = format!("__keyevent@{db}__:{event}");
        shared.pubsub.publish(ch.as_bytes(), key, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_as_redis() {
        assert_eq!(normalize("KEA").unwrap(), "AKE");
        assert_eq!(normalize("Elg").unwrap(), "glE");
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("Kgn").unwrap(), "gnK");
        assert!(normalize("Kq").is_err());
    }
}
