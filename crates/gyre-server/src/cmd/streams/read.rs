//! XREAD and XREADGROUP, blocking or not.
//!
//! Invariant: a read that finds nothing and may block returns
//! [`CmdError::Block`] on its keys and changes nothing; XREAD's `$` is
//! replaced by the stream's last ID before the client waits, so the command
//! that runs again waits for what is newer. XREADGROUP commits the group's
//! new last ID and read counter and each PEL entry it created or
//! redelivered, with the time. Limits: the keys are the first half of the
//! arguments after STREAMS (see `keys_after_streams`).

use gyre_engine::types::stream::{Group as CGroup, Stream, StreamId, StreamOp};
use gyre_engine::SlotId;
use gyre_resp::{Protocol, ReplyWriter};

use super::common::{commit, encode_range, id_bytes, int, parse_strict, stream_of, write_entry};
use crate::cmd::data::Data;
use crate::cmd::errors::SYNTAX;
use crate::cmd::{err, BlockSpec, CmdError, CmdResult, TimeoutReply};

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
