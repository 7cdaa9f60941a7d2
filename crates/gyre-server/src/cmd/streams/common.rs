//! What every stream command shares: parsing stream IDs and intervals
//! (Redis's `streamParseID` rules: `ms`, `ms-seq`, `-`, `+`, `(` for an
//! exclusive bound), the stream a key holds (or WRONGTYPE), committing a
//! [`StreamOp`] as a mutation, and writing entries as replies.
//!
//! Invariant: every ID argument goes through these functions, so every
//! command rejects the same malformed IDs with the same error. Limits: IDs
//! are two `u64`s; a number that does not fit is an invalid ID.

use gyre_engine::types::stream::{Stream, StreamId, StreamOp};
use gyre_engine::{CollOp, Entry, Mutation, SlotId, Value};
use gyre_resp::{Protocol, ReplyWriter};

use crate::cmd::data::Data;
use crate::cmd::errors::{NOT_INTEGER, WRONGTYPE};
use crate::cmd::{err, CmdError};

pub(super) const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Redis's streamGenericParseIDOrReply: `-`, `+` (unless strict), `ms`
/// (sequence `missing_seq`) or `ms-seq`.
pub(super) fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
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

pub(super) fn parse_strict(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(arg, 0, true)
}

/// An interval bound: `(id` is exclusive (strict parse), otherwise as parse_id.
pub(super) fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id(&arg[1..], missing_seq, true)?, true))
    } else {
        Ok((parse_id(arg, missing_seq, false)?, false))
    }
}

pub(super) fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, 0)? {
        (id, false) => Ok(id),
        (id, true) => id.incr().ok_or(err("ERR invalid start ID for the interval")),
    }
}

pub(super) fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    match parse_interval(arg, u64::MAX)? {
        (id, false) => Ok(id),
        (id, true) => id.decr().ok_or(err("ERR invalid end ID for the interval")),
    }
}

pub(super) fn int(arg: &[u8]) -> Result<i64, CmdError> {
    gyre_engine::num::parse_i64(arg).ok_or(err(NOT_INTEGER))
}

pub(super) fn id_bytes(id: StreamId) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// The stream an entry holds, or WRONGTYPE.
pub(super) fn stream_of(e: &Entry) -> Result<&Stream, CmdError> {
    match &e.value {
        Value::Stream(s) => Ok(s),
        _ => Err(err(WRONGTYPE)),
    }
}

pub(super) fn commit(call: &mut Data<'_, '_>, shard: &mut gyre_engine::Shard, key: &[u8], op: StreamOp<&[u8]>) {
    let (db, slot, version) = (call.db(), SlotId::of(key), call.version());
    shard.commit(slot, &Mutation::Coll { db, key, op: CollOp::Stream(op), version }, call.log());
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

pub(super) fn write_entry(w: &mut ReplyWriter<'_>, id: StreamId, fields: &[(&[u8], &[u8])]) {
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
pub(super) fn encode_range(
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

/// XADD's explicit ID: `ms-seq`, `ms` or `ms-*` (sequence chosen).
pub(super) fn parse_xadd_id(arg: &[u8]) -> Result<(StreamId, bool), CmdError> {
    if let Some(ms) = arg.strip_suffix(b"-*") {
        let ms = parse_u64(ms).ok_or(err(INVALID_ID))?;
        return Ok((StreamId::new(ms, 0), false));
    }
    Ok((parse_strict(arg)?, true))
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
}
