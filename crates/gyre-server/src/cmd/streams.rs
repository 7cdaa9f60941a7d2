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

use gyre_engine::types::stream::{Group as CGroup, Stream, StreamId, StreamOp, Trim, ENTRIES_READ_INVALID};
use gyre_engine::{CollOp, Entry, Mutation, SlotId, Value};
use gyre_resp::{Protocol, ReplyWriter};

use super::data::Data;
use super::errors::{NOT_INTEGER, SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, KEY1, NOKEYS};
use super::{arity_error, err, BlockSpec, CmdError, CmdResult, CommandSpec, Group, TimeoutReply};

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

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
    CommandSpec { numkeys_at: super::KEYS_AFTER_STREAMS, ..x!("xreadgroup", -7, WRITE | BLOCKING, NOKEYS, "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]", xreadgroup) },
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

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

fn parse_u64(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Redis's streamGenericParseIDOrReply: `-`, `+` (unless strict), `ms`
/// (sequence `missing_seq`) or `ms-seq`.
fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
    let invalid = || err(INVALID_ID);
    match arg {
        b"-" if !strict => return Ok(StreamId::MIN),
        b"+" if !strict => return Ok(StreamId::MAX),
        _ => {}
    }
    match arg.iter().position(|&b| b == b'-') {
        None => Ok(StreamId::new(parse_u64(arg).ok_or_else(invalid)?, missing_seq)),
        Some(dash) => {
            let ms = parse_u64(&arg[..dash]).ok_or_else(invalid)?;
            let seq = parse_u64(&arg[dash + 1..]).ok_or_else(invalid)?;
            Ok(StreamId::new(ms, seq))
        }
    }
}

fn parse_strict(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(arg, 0, true)
}

/// An interval bound: `(id` is exclusive (strict parse), otherwise as parse_id.
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id(&arg[1..], missing_seq, true)?, true))
    } else {
        Ok((parse_id(arg, missing_seq, false)?, false))
    }
}

fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, 0)? {
        (id, false) => Ok(id),
        (id, true) => id.incr().ok_or(err("ERR invalid start ID for the interval")),
    }
}

fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, u64::MAX)? {
        (id, false) => Ok(id),
        (id, true) => id.decr().ok_or(err("ERR invalid end ID for the interval")),
    }
}

fn int(arg: &[u8]) -> Result<i64, CmdError> {
    gyre_engine::num::parse_i64(arg).ok_or(err(NOT_INTEGER))
}

fn id_bytes(id: StreamId) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// The stream an entry holds, or WRONGTYPE.
fn stream_of(e: &Entry) -> Result<&Stream, CmdError> {
    match &e.value {
        Value::Stream(s) => Ok(s),
        _ => Err(err(WRONGTYPE)),
    }
}

fn commit(call: &mut Data<'_, '_>, shard: &mut gyre_engine::Shard, key: &[u8], op: StreamOp<&[u8]>) {
    let (db, slot, version) = (call.db(), SlotId::of(key), call.version());
    shard.commit(slot, &Mutation::Coll { db, key, op: CollOp::Stream(op), version }, call.log());
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

fn write_entry(w: &mut ReplyWriter<'_>, id: StreamId, fields: &[(&[u8], &[u8])]) {
    w.array(2);
    w.bulk(&id_bytes(id));
    w.array(fields.len() * 2);
    for (f, v) in fields {
        w.bulk(f);
        w.bulk(v);
    }
}

/// Encodes up to `count` entries (0: all) of `start..=end` into a buffer of
/// their own; returns how many and the bytes (the caller writes the header).
fn encode_range(
    proto: Protocol,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
    mut each: impl FnMut(StreamId),
) -> (usize, bytes::BytesMut) {
    let mut buf = bytes::BytesMut::new();
    let mut w = ReplyWriter::new(&mut buf, proto);
    let mut n = 0;
    s.range(start, end, rev, |id, fields| {
        write_entry(&mut w, id, fields);
        each(id);
        n += 1;
        count == 0 || n < count
    });
    (n, buf)
}

// ---------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------

/// Trimming options of XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the ID argument's index, the ID and whether its sequence was given.
    id_at: usize,
    id: Option<(StreamId, bool)>,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_trim_args(call: &Data<'_, '_>, xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut a = TrimArgs::default();
    let mut limit_given = false;
    let argc = call.argc();
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = call.arg(i);
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            a.approx = false;
            let next = call.arg(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                a.approx = next == b"~";
                i += 1;
            }
            let v = call.arg(i + 1);
            a.trim = Some(if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = int(v)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict(v)?)
            });
            i += 2;
            continue;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = int(call.arg(i + 1))?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 2;
            continue;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_xadd_id(opt)?);
            break;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    a.id_at = i;
    if a.limit > 0 && a.trim.is_none() {
        return Err(err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && a.trim.is_none() {
        return Err(err("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given {
        if !a.approx {
            return Err(err("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if a.approx {
        // At most 100 nodes' worth of work (10,000 without a node limit).
        let per_node = call.encoding().stream_node_max_entries as u64;
        a.limit = match per_node.saturating_mul(100) {
            0 => 10_000,
            n => n,
        };
    }
    Ok(a)
}

/// XADD's explicit ID: `ms-seq`, `ms` or `ms-*` (sequence chosen).
fn parse_xadd_id(arg: &[u8]) -> Result<(StreamId, bool), CmdError> {
    if let Some(ms) = arg.strip_suffix(b"-*") {
        let ms = parse_u64(ms).ok_or(err(INVALID_ID))?;
        return Ok((StreamId::new(ms, 0), false));
    }
    Ok((parse_strict(arg)?, true))
}

/// Trims the stream at `key` as `a` says; returns how many entries went.
fn trim(
    call: &mut Data<'_, '_>,
    shard: &mut gyre_engine::Shard,
    key: &[u8],
    a: &TrimArgs,
    now: gyre_engine::Now,
) -> u64 {
    let Some(t) = a.trim else { return 0 };
    let slot = SlotId::of(key);
    let plan = match shard.get(slot, key, now).map(|e| &e.value) {
        Some(Value::Stream(s)) => s.plan_trim(t, a.approx, a.limit),
        _ => return 0,
    };
    if plan.0 > 0 {
        commit(call, shard, key, StreamOp::TrimBefore { keep_from: plan.1 });
    }
    plan.0
}

pub fn xadd(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_trim_args(call, true)?;
    let field_at = a.id_at + 1;
    let nfields = call.argc().saturating_sub(field_at);
    if nfields < 2 || !nfields.is_multiple_of(2) {
        return Err(arity_error("xadd"));
    }
    if a.id == Some((StreamId::MIN, true)) {
        return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let (key, slot, mut shard) = call.lock_key(1);
    let id = {
        let empty = Stream::default();
        let s = match shard.get(slot, key, now) {
            Some(e) => stream_of(e)?,
            None if a.nomkstream => {
                drop(shard);
                call.out().null();
                return Ok(());
            }
            None => &empty,
        };
        if s.last_id == StreamId::MAX {
            return Err(err("ERR The stream has exhausted the last possible ID, unable to add more items"));
        }
        let id = match a.id {
            Some((id, true)) => Some(id),
            Some((id, false)) => s.next_id(now_ms, Some(id.ms)),
            None => s.next_id(now_ms, None),
        };
        match id {
            Some(id) if id > s.last_id => id,
            _ => return Err(err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        }
    };
    let fields: Vec<(&[u8], &[u8])> =
        (field_at..args.len()).step_by(2).map(|i| (args.get(i), args.get(i + 1))).collect();
    commit(call, &mut shard, key, StreamOp::Add { id, fields });
    trim(call, &mut shard, key, &a, now);
    drop(shard);
    call.out().bulk(&id_bytes(id));
    call.signal_ready(key);
    Ok(())
}

pub fn xtrim(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_trim_args(call, false)?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get(slot, key, now) {
        None => {
            drop(shard);
            call.out().integer(0);
            return Ok(());
        }
        Some(e) => {
            stream_of(e)?;
        }
    }
    let n = trim(call, &mut shard, key, &a, now);
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xdel(call: &mut Data<'_, '_>) -> CmdResult {
    let args = call.args();
    let ids = (2..args.len()).map(|i| parse_strict(args.get(i))).collect::<Result<Vec<_>, _>>()?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let present: Vec<StreamId> = match shard.get(slot, key, now) {
        None => Vec::new(),
        Some(e) => {
            let s = stream_of(e)?;
            let mut seen = std::collections::BTreeSet::new();
            ids.into_iter().filter(|id| s.contains(*id) && seen.insert(*id)).collect()
        }
    };
    let n = present.len();
    if n > 0 {
        commit(call, &mut shard, key, StreamOp::Del { ids: present });
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xsetid(call: &mut Data<'_, '_>) -> CmdResult {
    let id = parse_strict(call.arg(2))?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < call.argc() {
        let more = call.argc() - 1 - i;
        if call.arg_is(i, "ENTRIESADDED") && more > 0 {
            let n = int(call.arg(i + 1))?;
            if n < 0 {
                return Err(err("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if call.arg_is(i, "MAXDELETEDID") && more > 0 {
            max_deleted = parse_strict(call.arg(i + 1))?;
            if id < max_deleted {
                return Err(err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let op = {
        let Some(e) = shard.get(slot, key, now) else { return Err(err(super::errors::NO_SUCH_KEY)) };
        let s = stream_of(e)?;
        if id < s.max_deleted_id {
            return Err(err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"));
        }
        if !s.is_empty() {
            if id < s.last_entry_id() {
                return Err(err("ERR The ID specified in XSETID is smaller than the target stream top item"));
            }
            if entries_added.is_some_and(|n| s.len() > n) {
                return Err(err("ERR The entries_added specified in XSETID is smaller than the target stream length"));
            }
        }
        StreamOp::SetId {
            last_id: id,
            entries_added: entries_added.unwrap_or(s.entries_added),
            max_deleted_id: if max_deleted.is_zero() { s.max_deleted_id } else { max_deleted },
        }
    };
    commit(call, &mut shard, key, op);
    drop(shard);
    call.out().ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN
// ---------------------------------------------------------------------------

fn range_generic(call: &mut Data<'_, '_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (call.arg(3), call.arg(2)) } else { (call.arg(2), call.arg(3)) };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < call.argc() {
        if call.arg_is(j, "COUNT") && j + 1 < call.argc() {
            count = int(call.arg(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let (now, proto) = (call.now(), call.protocol());
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let s = stream_of(e)?;
    if count == 0 {
        drop(shard);
        call.out().null_array();
        return Ok(());
    }
    let (n, buf) = encode_range(proto, s, start, end, rev, count.max(0) as usize, |_| {});
    drop(shard);
    call.out().array(n);
    call.out().raw(&buf);
    Ok(())
}

pub fn xrange(call: &mut Data<'_, '_>) -> CmdResult {
    range_generic(call, false)
}

pub fn xrevrange(call: &mut Data<'_, '_>) -> CmdResult {
    range_generic(call, true)
}

pub fn xlen(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => stream_of(e)?.len(),
    };
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD, XREADGROUP
// ---------------------------------------------------------------------------

/// XREAD / XREADGROUP's options.
struct ReadArgs<'a> {
    timeout: Option<Option<std::time::Duration>>,
    count: usize,
    streams_at: usize,
    nkeys: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
}

/// BLOCK's milliseconds, as Redis's getTimeoutFromObjectOrReply reads them.
fn parse_block_ms(arg: &[u8]) -> Result<Option<std::time::Duration>, CmdError> {
    let ms = gyre_engine::num::parse_i64(arg).ok_or(err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    Ok((ms > 0).then(|| std::time::Duration::from_millis(ms as u64)))
}

fn parse_read_args<'a>(call: &Data<'_, 'a>, group_cmd: bool) -> Result<ReadArgs<'a>, CmdError> {
    let args = call.args();
    let mut a = ReadArgs { timeout: None, count: 0, streams_at: 0, nkeys: 0, group: None, noack: false };
    let argc = args.len();
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = args.get(i);
        if o.eq_ignore_ascii_case(b"BLOCK") && more > 0 {
            // Redis 7.2 refuses the option in scripts outright (7.4 lets it
            // answer as a timeout, as in MULTI), naming the command as sent.
            if call.in_script() {
                let name = String::from_utf8_lossy(args.get(0));
                return Err(CmdError::Msg(format!("ERR {name} command is not allowed with BLOCK option from scripts")));
            }
            i += 1;
            a.timeout = Some(parse_block_ms(args.get(i))?);
        } else if o.eq_ignore_ascii_case(b"COUNT") && more > 0 {
            i += 1;
            a.count = int(args.get(i))?.max(0) as usize;
        } else if o.eq_ignore_ascii_case(b"STREAMS") && more > 0 {
            a.streams_at = i + 1;
            let n = argc - a.streams_at;
            if !n.is_multiple_of(2) {
                let (name, symbol) = if group_cmd { ("xreadgroup", '>') } else { ("xread", '$') };
                return Err(CmdError::Msg(format!(
                    "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            a.nkeys = n / 2;
            break;
        } else if o.eq_ignore_ascii_case(b"GROUP") && more >= 2 {
            if !group_cmd {
                return Err(err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            a.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"NOACK") {
            if !group_cmd {
                return Err(err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            a.noack = true;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    if a.streams_at == 0 {
        return Err(err(SYNTAX));
    }
    if group_cmd && a.group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(a)
}

/// What the ID argument of one stream asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Entries after this ID.
    Id(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
}

/// Writes the reply of XREAD/XREADGROUP: the streams that had something.
fn write_read_reply(call: &mut Data<'_, '_>, served: Vec<(&[u8], usize, bytes::BytesMut)>) {
    if served.is_empty() {
        call.out().null_array();
        return;
    }
    let resp3 = call.protocol() == Protocol::Resp3;
    if resp3 {
        call.out().map(served.len());
    } else {
        call.out().array(served.len());
    }
    for (key, n, buf) in served {
        if !resp3 {
            call.out().array(2);
        }
        call.out().bulk(key);
        call.out().array(n);
        call.out().raw(&buf);
    }
}

/// Waits on `keys`, or answers a null array where nothing may wait (MULTI,
/// scripts), as Redis does for clients that deny blocking.
fn block_or_null(
    call: &mut Data<'_, '_>,
    keys: Vec<Vec<u8>>,
    timeout: Option<std::time::Duration>,
    argv: Option<Vec<Vec<u8>>>,
) -> CmdResult {
    if call.in_exec() {
        call.out().null_array();
        return Ok(());
    }
    Err(CmdError::Block(BlockSpec { keys, timeout, timeout_reply: TimeoutReply::NullArray, argv }))
}

pub fn xread(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_read_args(call, false)?;
    let (args, now, proto, db) = (call.args(), call.now(), call.protocol(), call.db());
    let keys: Vec<&[u8]> = (0..a.nkeys).map(|i| args.get(a.streams_at + i)).collect();
    let ks = call.ks();
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    // First every ID (and `$`) is resolved and every type checked.
    let mut afters = Vec::with_capacity(a.nkeys);
    for (i, key) in keys.iter().enumerate() {
        let slot = SlotId::of(key);
        let s = match g.shard(db, slot).get_read(slot, key, now) {
            None => None,
            Some(e) => Some(stream_of(e)?),
        };
        let arg = args.get(a.streams_at + a.nkeys + i);
        afters.push(match arg {
            b"$" => s.map_or(StreamId::MIN, |s| s.last_id),
            b">" => return Err(err(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            )),
            _ => parse_strict(arg)?,
        });
    }
    let mut served = Vec::new();
    for (key, after) in keys.iter().zip(&afters) {
        let slot = SlotId::of(key);
        let Some(e) = g.shard(db, slot).get(slot, key, now) else { continue };
        let s = stream_of(e)?;
        if s.is_empty() || s.last_entry_id() <= *after {
            continue;
        }
        let start = after.incr().expect("a greater entry exists");
        let (n, buf) = encode_range(proto, s, start, StreamId::MAX, false, a.count, |_| {});
        served.push((*key, n, buf));
    }
    drop(g);
    if !served.is_empty() || a.timeout.is_none() {
        write_read_reply(call, served);
        return Ok(());
    }
    // `$` becomes the ID it stood for, so the command that runs again on a
    // signal waits for entries newer than those of now.
    let mut argv: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
    for (i, after) in afters.iter().enumerate() {
        let at = a.streams_at + a.nkeys + i;
        if argv[at] == b"$" {
            argv[at] = id_bytes(*after);
        }
    }
    let timeout = a.timeout.expect("checked above");
    block_or_null(call, keys.iter().map(|k| k.to_vec()).collect(), timeout, Some(argv))
}

fn nogroup_read(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// One stream's share of an XREADGROUP: the reply and the op to commit.
fn read_group_one<'a>(
    proto: Protocol,
    s: &Stream,
    g: &CGroup,
    after: After,
    a: &ReadArgs<'a>,
    now_ms: u64,
) -> (Option<(usize, bytes::BytesMut)>, StreamOp<&'a [u8]>) {
    let (group, consumer) = a.group.expect("XREADGROUP has a group");
    let mut op = StreamOp::Read { group, consumer, now_ms, last: None, new: Vec::new(), history: Vec::new() };
    let StreamOp::Read { last, new, history, .. } = &mut op else { unreachable!() };
    match after {
        After::New => {
            if s.is_empty() || s.last_entry_id() <= g.last_id {
                return (None, op);
            }
            let mut read = g.entries_read;
            let mut last_id = g.last_id;
            let start = g.last_id.incr().expect("a greater entry exists");
            let (n, buf) = encode_range(proto, s, start, StreamId::MAX, false, a.count, |id| {
                read = s.entries_read_after(read, id);
                last_id = id;
                if !a.noack {
                    new.push(id);
                }
            });
            *last = Some((last_id, read));
            (Some((n, buf)), op)
        }
        After::Id(id) => {
            let mut buf = bytes::BytesMut::new();
            let mut w = ReplyWriter::new(&mut buf, proto);
            let mut n = 0;
            let pel = g.consumers.get(consumer).map(|c| &c.pel);
            let start = id.incr();
            if let (Some(pel), Some(start)) = (pel, start) {
                for pid in pel.range(start..) {
                    if a.count > 0 && n >= a.count {
                        break;
                    }
                    match s.get(*pid) {
                        Some(fields) => {
                            let f: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                            write_entry(&mut w, *pid, &f);
                            history.push(*pid);
                        }
                        None => {
                            w.array(2);
                            w.bulk(&id_bytes(*pid));
                            w.null_array();
                        }
                    }
                    n += 1;
                }
            }
            (Some((n, buf)), op)
        }
    }
}

pub fn xreadgroup(call: &mut Data<'_, '_>) -> CmdResult {
    let a = parse_read_args(call, true)?;
    let (group, consumer) = a.group.expect("checked by parse_read_args");
    let (args, now, now_ms, proto, db) = (call.args(), call.now(), call.now_ms(), call.protocol(), call.db());
    let keys: Vec<&[u8]> = (0..a.nkeys).map(|i| args.get(a.streams_at + i)).collect();
    let ks = call.ks();
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    let mut afters = Vec::with_capacity(a.nkeys);
    for (i, key) in keys.iter().enumerate() {
        let slot = SlotId::of(key);
        let found = match g.shard(db, slot).get_read(slot, key, now) {
            None => false,
            Some(e) => stream_of(e)?.group(group).is_some(),
        };
        if !found {
            return Err(nogroup_read(key, group));
        }
        let arg = args.get(a.streams_at + a.nkeys + i);
        afters.push(match arg {
            b"$" => return Err(err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            b">" => After::New,
            _ => After::Id(parse_strict(arg)?),
        });
    }
    let mut served = Vec::new();
    let mut ops = Vec::new();
    for (key, after) in keys.iter().zip(&afters) {
        let slot = SlotId::of(key);
        let e = g.shard(db, slot).get(slot, key, now).expect("checked above");
        let s = stream_of(e)?;
        let cg = s.group(group).expect("checked above");
        let existed = cg.consumers.contains_key(consumer);
        let (reply, op) = read_group_one(proto, s, cg, *after, &a, now_ms);
        if let Some((n, buf)) = reply {
            served.push((*key, n, buf));
        }
        ops.push((*key, op, existed));
    }
    let blocking = served.is_empty() && a.timeout.is_some() && !call.in_exec();
    for (key, op, existed) in ops {
        let slot = SlotId::of(key);
        // A consumer created on the way is an op of its own (its keyspace
        // event). A client about to wait records nothing else: the command
        // runs again when served, and a run that still finds nothing leaves
        // no trace.
        if !existed {
            commit(call, g.shard(db, slot), key, StreamOp::ConsumerCreate { group, consumer, now_ms });
        }
        if !blocking {
            commit(call, g.shard(db, slot), key, op);
        }
    }
    drop(g);
    if !blocking {
        write_read_reply(call, served);
        return Ok(());
    }
    let timeout = a.timeout.expect("checked above");
    block_or_null(call, keys.iter().map(|k| k.to_vec()).collect(), timeout, None)
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn subcommand_syntax_error(call: &Data<'_, '_>) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        super::printable(call.arg(1), 128)
    ))
}

/// XGROUP's options after the ID: MKSTREAM (CREATE) and ENTRIESREAD.
fn parse_group_opts(call: &Data<'_, '_>, create: bool) -> Result<(bool, i64), CmdError> {
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_INVALID);
    let mut i = 5;
    while i < call.argc() {
        if create && call.arg_is(i, "MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if call.arg_is(i, "ENTRIESREAD") && i + 1 < call.argc() {
            entries_read = int(call.arg(i + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(call));
        }
    }
    Ok((mkstream, entries_read))
}

const XGROUP_NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// Looks up the stream of XGROUP's key and the group; the errors Redis gives
/// when either is missing (`need_group`: SETID, CREATECONSUMER, DELCONSUMER).
fn group_target<'s>(
    e: Option<&'s mut Entry>,
    key: &[u8],
    group: &[u8],
    need_group: bool,
) -> Result<(&'s Stream, Option<&'s CGroup>), CmdError> {
    let Some(e) = e else { return Err(err(XGROUP_NEEDS_KEY)) };
    let s = stream_of(e)?;
    let g = s.group(group);
    if need_group && g.is_none() {
        return Err(nogroup(key, group));
    }
    Ok((s, g))
}

pub fn xgroup_create(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() > 8 {
        return Err(subcommand_syntax_error(call));
    }
    let (mkstream, entries_read) = parse_group_opts(call, true)?;
    let (now, args) = (call.now(), call.args());
    let (group, id_arg) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let last_id = {
        let e = shard.get(slot, key, now);
        let s = match e {
            None if mkstream => None,
            e => Some(group_target(e, key, group, false)?),
        };
        let id = if id_arg == b"$" { s.map_or(StreamId::MIN, |(s, _)| s.last_id) } else { parse_strict(id_arg)? };
        if s.is_some_and(|(_, g)| g.is_some()) {
            return Err(err("BUSYGROUP Consumer Group name already exists"));
        }
        id
    };
    commit(call, &mut shard, key, StreamOp::GroupCreate { group, last_id, entries_read });
    drop(shard);
    call.out().ok();
    Ok(())
}

pub fn xgroup_setid(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() != 5 && call.argc() != 7 {
        return Err(subcommand_syntax_error(call));
    }
    let (_, entries_read) = parse_group_opts(call, false)?;
    let (now, args) = (call.now(), call.args());
    let (group, id_arg) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let last_id = {
        let (s, _) = group_target(shard.get(slot, key, now), key, group, true)?;
        if id_arg == b"$" {
            s.last_id
        } else {
            parse_id(id_arg, 0, false)?
        }
    };
    commit(call, &mut shard, key, StreamOp::GroupSetId { group, last_id, entries_read });
    drop(shard);
    call.out().ok();
    Ok(())
}

pub fn xgroup_destroy(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, group) = (call.now(), call.args().get(3));
    let (key, slot, mut shard) = call.lock_key(2);
    let exists = group_target(shard.get(slot, key, now), key, group, false)?.1.is_some();
    if exists {
        commit(call, &mut shard, key, StreamOp::GroupDestroy { group });
    }
    drop(shard);
    call.out().integer(i64::from(exists));
    if exists {
        // XREADGROUP waiters on this group answer NOGROUP.
        call.signal_ready(key);
    }
    Ok(())
}

pub fn xgroup_createconsumer(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let (group, consumer) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let created = {
        let (_, g) = group_target(shard.get(slot, key, now), key, group, true)?;
        !g.expect("required").consumers.contains_key(consumer)
    };
    if created {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    drop(shard);
    call.out().integer(i64::from(created));
    Ok(())
}

pub fn xgroup_delconsumer(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let (group, consumer) = (args.get(3), args.get(4));
    let (key, slot, mut shard) = call.lock_key(2);
    let pending = {
        let (_, g) = group_target(shard.get(slot, key, now), key, group, true)?;
        g.expect("required").consumers.get(consumer).map(|c| c.pel.len())
    };
    if pending.is_some() {
        commit(call, &mut shard, key, StreamOp::ConsumerDelete { group, consumer });
    }
    drop(shard);
    call.out().integer(pending.unwrap_or(0) as i64);
    Ok(())
}

fn xgroup_help(call: &mut Data<'_, '_>) -> CmdResult {
    call.help("XGROUP", XGROUP_SUBS);
    Ok(())
}

// ---------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------

pub fn xack(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, args) = (call.now(), call.args());
    let group = args.get(2);
    let (key, slot, mut shard) = call.lock_key(1);
    let ids = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => stream_of(e)?.group(group),
        };
        let Some(g) = g else {
            drop(shard);
            call.out().integer(0);
            return Ok(());
        };
        let ids = (3..args.len()).map(|i| parse_strict(args.get(i))).collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::BTreeSet::new();
        ids.into_iter().filter(|id| g.pel.contains_key(id) && seen.insert(*id)).collect::<Vec<_>>()
    };
    let n = ids.len();
    if n > 0 {
        commit(call, &mut shard, key, StreamOp::Ack { group, ids });
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn xpending(call: &mut Data<'_, '_>) -> CmdResult {
    let argc = call.argc();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(err(SYNTAX));
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if call.arg_is(3, "IDLE") {
            min_idle = int(call.arg(4))?;
            if argc < 8 {
                return Err(err(SYNTAX));
            }
            at += 2;
        }
        let count = int(call.arg(at + 2))?.max(0) as usize;
        let start = range_start(call.arg(at))?;
        let end = range_end(call.arg(at + 1))?;
        let args = call.args();
        let consumer = (at + 3 < argc).then(|| args.get(at + 3));
        range = Some((min_idle, start, end, count, consumer));
    }
    let (now, now_ms, args) = (call.now(), call.now_ms(), call.args());
    let group = args.get(2);
    let (key, slot, mut shard) = call.lock_key(1);
    let g = match shard.get_read(slot, key, now) {
        None => None,
        Some(e) => stream_of(e)?.group(group),
    };
    let Some(g) = g else {
        return Err(CmdError::Msg(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        )));
    };
    let out = call.out();
    let Some((min_idle, start, end, count, consumer)) = range else {
        out.array(4);
        out.integer(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                out.bulk(&id_bytes(*first));
                out.bulk(&id_bytes(*last));
                let busy: Vec<_> = g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).collect();
                out.array(busy.len());
                for (name, c) in busy {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            None => Vec::new(),
            Some(c) => c.pel.range(start..).take_while(|id| **id <= end).copied().collect(),
        },
        None => g.pel.range(start..).take_while(|(id, _)| **id <= end).map(|(id, _)| *id).collect(),
    };
    let rows: Vec<_> = ids
        .iter()
        .filter_map(|id| g.pel.get(id).map(|n| (id, n)))
        .filter(|(_, n)| min_idle == 0 || (now_ms as i64 - n.delivery_time_ms as i64) >= min_idle)
        .take(count)
        .collect();
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        out.bulk(&id_bytes(*id));
        out.bulk(&n.consumer);
        out.integer((now_ms as i64 - n.delivery_time_ms as i64).max(0));
        out.integer(n.delivery_count as i64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------

fn nogroup_claim(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn min_idle_arg(arg: &[u8], cmd: &str) -> Result<i64, CmdError> {
    let v = gyre_engine::num::parse_i64(arg)
        .ok_or_else(|| CmdError::Msg(format!("ERR Invalid min-idle-time argument for {cmd}")))?;
    Ok(v.max(0))
}

/// XCLAIM's options after the IDs.
struct ClaimOpts {
    force: bool,
    justid: bool,
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    last_id: StreamId,
}

fn parse_claim_opts(call: &Data<'_, '_>, from: usize, now_ms: u64) -> Result<ClaimOpts, CmdError> {
    let mut o =
        ClaimOpts { force: false, justid: false, delivery_time: None, retry_count: None, last_id: StreamId::MIN };
    let bad = |name: &str| CmdError::Msg(format!("ERR Invalid {name} option argument for XCLAIM"));
    let mut j = from;
    while j < call.argc() {
        let more = call.argc() - 1 - j;
        let opt = call.arg(j);
        if opt.eq_ignore_ascii_case(b"FORCE") {
            o.force = true;
        } else if opt.eq_ignore_ascii_case(b"JUSTID") {
            o.justid = true;
        } else if opt.eq_ignore_ascii_case(b"IDLE") && more > 0 {
            j += 1;
            let idle = gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("IDLE"))?;
            o.delivery_time = Some((now_ms as i64).saturating_sub(idle));
        } else if opt.eq_ignore_ascii_case(b"TIME") && more > 0 {
            j += 1;
            o.delivery_time = Some(gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("TIME"))?);
        } else if opt.eq_ignore_ascii_case(b"RETRYCOUNT") && more > 0 {
            j += 1;
            o.retry_count = Some(gyre_engine::num::parse_i64(call.arg(j)).ok_or_else(|| bad("RETRYCOUNT"))?);
        } else if opt.eq_ignore_ascii_case(b"LASTID") && more > 0 {
            j += 1;
            o.last_id = parse_strict(call.arg(j))?;
        } else {
            return Err(CmdError::Msg(format!("ERR Unrecognized XCLAIM option '{}'", super::printable(opt, 128))));
        }
        j += 1;
    }
    Ok(o)
}

pub fn xclaim(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args, proto) = (call.now(), call.now_ms(), call.args(), call.protocol());
    let (group, consumer) = (args.get(2), args.get(3));
    let (key, slot, mut shard) = call.lock_key(1);
    let (op, n, buf, existed) = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => {
                let s = stream_of(e)?;
                s.group(group).map(|g| (s, g))
            }
        };
        let Some((s, g)) = g else { return Err(nogroup_claim(key, group)) };
        let min_idle = min_idle_arg(args.get(4), "XCLAIM")?;
        let mut ids = Vec::new();
        let mut j = 5;
        while j < args.len() {
            match parse_strict(args.get(j)) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            j += 1;
        }
        let o = parse_claim_opts(call, j, now_ms)?;
        let time = match o.delivery_time {
            Some(t) if t >= 0 && t <= now_ms as i64 => t as u64,
            _ => now_ms,
        };
        let mut claims: Vec<(StreamId, u64, u64)> = Vec::new();
        let mut dropped = Vec::new();
        let mut buf = bytes::BytesMut::new();
        let mut w = ReplyWriter::new(&mut buf, proto);
        let mut n = 0;
        for id in ids {
            let Some(fields) = s.get(id) else {
                if g.pel.contains_key(&id) && !dropped.contains(&id) {
                    dropped.push(id);
                }
                continue;
            };
            // A later mention of the same ID sees the earlier claim.
            let current = claims
                .iter()
                .rev()
                .find(|c| c.0 == id)
                .map(|c| (c.1, c.2))
                .or_else(|| g.pel.get(&id).map(|nack| (nack.delivery_time_ms, nack.delivery_count)));
            let (prev_time, prev_count) = match current {
                Some(c) => c,
                // FORCE creates the pending entry (delivered once, as Redis's new NACK).
                None if o.force => (now_ms, 1),
                None => continue,
            };
            if current.is_some() && min_idle > 0 && (now_ms as i64 - prev_time as i64) < min_idle {
                continue;
            }
            let count = match o.retry_count {
                Some(r) if r >= 0 => r as u64,
                _ if !o.justid => prev_count + 1,
                _ => prev_count,
            };
            claims.push((id, time, count));
            if o.justid {
                w.bulk(&id_bytes(id));
            } else {
                let f: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                write_entry(&mut w, id, &f);
            }
            n += 1;
        }
        let last_id = (o.last_id > g.last_id).then_some(o.last_id);
        let active = n > 0;
        let existed = g.consumers.contains_key(consumer);
        (StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active }, n, buf, existed)
    };
    if !existed {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    commit(call, &mut shard, key, op);
    drop(shard);
    call.out().array(n);
    call.out().raw(&buf);
    Ok(())
}

pub fn xautoclaim(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, args, proto) = (call.now(), call.now_ms(), call.args(), call.protocol());
    let (group, consumer) = (args.get(2), args.get(3));
    let min_idle = min_idle_arg(args.get(4), "XAUTOCLAIM")?;
    let start = range_start(args.get(5))?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < args.len() {
        if call.arg_is(j, "COUNT") && j + 1 < args.len() {
            let max = i64::MAX / 16;
            count = gyre_engine::num::parse_i64(args.get(j + 1))
                .filter(|c| (1..=max).contains(c))
                .ok_or(err("ERR COUNT must be > 0"))?;
            j += 2;
        } else if call.arg_is(j, "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let (key, slot, mut shard) = call.lock_key(1);
    let (op, n, buf, next, deleted, existed) = {
        let g = match shard.get(slot, key, now) {
            None => None,
            Some(e) => {
                let s = stream_of(e)?;
                s.group(group).map(|g| (s, g))
            }
        };
        let Some((s, g)) = g else { return Err(nogroup_claim(key, group)) };
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut claims = Vec::new();
        let mut dropped = Vec::new();
        let mut buf = bytes::BytesMut::new();
        let mut w = ReplyWriter::new(&mut buf, proto);
        let mut n = 0;
        let mut it = g.pel.range(start..).peekable();
        while attempts > 0 && left > 0 {
            let Some((id, nack)) = it.next() else { break };
            attempts -= 1;
            let Some(fields) = s.get(*id) else {
                dropped.push(*id);
                left -= 1;
                continue;
            };
            if min_idle > 0 && (now_ms as i64 - nack.delivery_time_ms as i64) < min_idle {
                continue;
            }
            let cnt = if justid { nack.delivery_count } else { nack.delivery_count + 1 };
            claims.push((*id, now_ms, cnt));
            if justid {
                w.bulk(&id_bytes(*id));
            } else {
                let f: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                write_entry(&mut w, *id, &f);
            }
            n += 1;
            left -= 1;
        }
        let next = it.next().map_or(StreamId::MIN, |(id, _)| *id);
        let active = n > 0;
        let deleted = dropped.clone();
        let existed = g.consumers.contains_key(consumer);
        let op = StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id: None, active };
        (op, n, buf, next, deleted, existed)
    };
    if !existed {
        commit(call, &mut shard, key, StreamOp::ConsumerCreate { group, consumer, now_ms });
    }
    commit(call, &mut shard, key, op);
    drop(shard);
    let out = call.out();
    out.array(3);
    out.bulk(&id_bytes(next));
    out.array(n);
    out.raw(&buf);
    out.array(deleted.len());
    for id in deleted {
        out.bulk(&id_bytes(id));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

fn xinfo_help(call: &mut Data<'_, '_>) -> CmdResult {
    call.help("XINFO", XINFO_SUBS);
    Ok(())
}

fn xinfo_syntax_error(call: &Data<'_, '_>) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        super::printable(call.arg(1), 128)
    ))
}

fn write_lag(out: &mut ReplyWriter<'_>, s: &Stream, g: &CGroup) {
    match s.group_lag(g) {
        Some(lag) => out.integer(lag),
        None => out.null(),
    }
}

fn write_entries_read(out: &mut ReplyWriter<'_>, g: &CGroup) {
    if g.entries_read != ENTRIES_READ_INVALID {
        out.integer(g.entries_read);
    } else {
        out.null();
    }
}

pub fn xinfo_consumers(call: &mut Data<'_, '_>) -> CmdResult {
    let (now, now_ms, group) = (call.now(), call.now_ms(), call.args().get(3));
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(super::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let Some(g) = s.group(group) else { return Err(nogroup(key, group)) };
    let out = call.out();
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(4);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.integer(c.pel.len() as i64);
        out.bulk(b"idle");
        out.integer((now_ms as i64 - c.seen_time_ms as i64).max(0));
        out.bulk(b"inactive");
        out.integer(if c.active_time_ms == -1 { -1 } else { now_ms as i64 - c.active_time_ms });
    }
    Ok(())
}

pub fn xinfo_groups(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(super::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let out = call.out();
    out.array(s.groups().len());
    for (name, g) in s.groups() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.integer(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.integer(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        out.bulk(&id_bytes(g.last_id));
        out.bulk(b"entries-read");
        write_entries_read(out, g);
        out.bulk(b"lag");
        write_lag(out, s, g);
    }
    Ok(())
}

pub fn xinfo_stream(call: &mut Data<'_, '_>) -> CmdResult {
    let optc = call.argc() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if optc > 0 {
        if (optc != 1 && optc != 3) || !call.arg_is(3, "FULL") {
            return Err(xinfo_syntax_error(call));
        }
        full = true;
        if optc == 3 {
            if !call.arg_is(4, "COUNT") {
                return Err(xinfo_syntax_error(call));
            }
            count = int(call.arg(5))?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let (now, proto) = (call.now(), call.protocol());
    let (key, slot, mut shard) = call.lock_key(2);
    let Some(e) = shard.get_read(slot, key, now) else { return Err(err(super::errors::NO_SUCH_KEY)) };
    let s = stream_of(e)?;
    let out = call.out();
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.integer(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.integer(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.integer(s.node_count() as i64 + 1);
    out.bulk(b"last-generated-id");
    out.bulk(&id_bytes(s.last_id));
    out.bulk(b"max-deleted-entry-id");
    out.bulk(&id_bytes(s.max_deleted_id));
    out.bulk(b"entries-added");
    out.integer(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    out.bulk(&id_bytes(s.first_id()));
    if !full {
        out.bulk(b"groups");
        out.integer(s.groups().len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            let (n, buf) = encode_range(proto, s, StreamId::MIN, StreamId::MAX, rev, 1, |_| {});
            if n == 0 {
                out.null();
            } else {
                out.raw(&buf);
            }
        }
        return Ok(());
    }
    let limit = count as usize;
    out.bulk(b"entries");
    let (n, buf) = encode_range(proto, s, StreamId::MIN, StreamId::MAX, false, limit, |_| {});
    out.array(n);
    out.raw(&buf);
    out.bulk(b"groups");
    out.array(s.groups().len());
    let take = |len: usize| if limit == 0 { len } else { len.min(limit) };
    for (name, g) in s.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        out.bulk(&id_bytes(g.last_id));
        out.bulk(b"entries-read");
        write_entries_read(out, g);
        out.bulk(b"lag");
        write_lag(out, s, g);
        out.bulk(b"pel-count");
        out.integer(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(take(g.pel.len()));
        for (id, nack) in g.pel.iter().take(take(g.pel.len())) {
            out.array(4);
            out.bulk(&id_bytes(*id));
            out.bulk(&nack.consumer);
            out.integer(nack.delivery_time_ms as i64);
            out.integer(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(5);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.integer(c.seen_time_ms as i64);
            out.bulk(b"active-time");
            out.integer(c.active_time_ms);
            out.bulk(b"pel-count");
            out.integer(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(take(c.pel.len()));
            for id in c.pel.iter().take(take(c.pel.len())) {
                let nack = g.pel.get(id).expect("a consumer's pending entry is in its group's PEL");
                out.array(3);
                out.bulk(&id_bytes(*id));
                out.integer(nack.delivery_time_ms as i64);
                out.integer(nack.delivery_count as i64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_reads_them() {
        assert_eq!(parse_id(b"5", 7, false).ok(), Some(StreamId::new(5, 7)));
        assert_eq!(parse_id(b"5-3", 7, false).ok(), Some(StreamId::new(5, 3)));
        assert_eq!(parse_id(b"-", 0, false).ok(), Some(StreamId::MIN));
        assert_eq!(parse_id(b"+", 0, false).ok(), Some(StreamId::MAX));
        assert!(parse_id(b"+", 0, true).is_err());
        assert!(parse_id(b"5-", 0, false).is_err());
        assert!(parse_id(b"x", 0, false).is_err());
        assert!(parse_id(b"18446744073709551616", 0, false).is_err());
        assert_eq!(parse_xadd_id(b"5-*").ok(), Some((StreamId::new(5, 0), false)));
        assert_eq!(range_start(b"(5-3").ok(), Some(StreamId::new(5, 4)));
        assert_eq!(range_end(b"(5").ok(), Some(StreamId::new(5, u64::MAX - 1)));
        assert_eq!(range_end(b"(5-0").ok(), Some(StreamId::new(4, u64::MAX)));
        assert!(range_end(b"(0-0").is_err());
    }

    #[test]
    fn stream_keys_follow_the_streams_keyword() {
        let argv: Vec<&[u8]> = vec![b"XREAD", b"COUNT", b"2", b"STREAMS", b"a", b"b", b"0", b"0"];
        assert_eq!(keys_after_streams(argv.len(), |i| argv[i]), vec![4, 5]);
        let argv: Vec<&[u8]> = vec![b"XREADGROUP", b"GROUP", b"g", b"STREAMS", b"STREAMS", b"k", b">"];
        assert_eq!(keys_after_streams(argv.len(), |i| argv[i]), vec![5]);
    }
}
