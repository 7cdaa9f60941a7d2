//! Stream ops: the deterministic effect of every stream write (entries,
//! trims, IDs, groups, consumers, deliveries, acknowledgements, claims),
//! their application to a [`Stream`], and their encoding in the log.
//!
//! Invariants: an op carries every time, count and choice the command made,
//! so applying it reads no clock; applying is idempotent for a replayed
//! `Add` (never backwards) and tolerant of any op that decodes.
//!
//! Limits: decoding checks every count against the bytes left; it never
//! panics on bad input.

use bytes::Bytes;

use super::{Group, Stream, StreamId};
use crate::codec::{put_bytes, put_u32, put_u64, put_u8, DecodeError, Reader};
use crate::types::EncodingConfig;

impl Stream {
    pub fn apply(&mut self, op: &StreamOp<&[u8]>, cfg: &EncodingConfig) {
        match op {
            StreamOp::Add { id, fields } => {
                // A replayed op never goes backwards; the command checked it.
                // (After XSETID the tail entry may lie past nothing but
                // `last_id`; the tail node's last ID is checked too, so an
                // entry can never go in out of order.)
                let tail = self.nodes.last_key_value().map_or(StreamId::MIN, |(_, n)| n.last);
                if *id > self.last_id && (*id > tail || self.nodes.is_empty()) {
                    self.append(*id, fields, cfg);
                }
            }
            StreamOp::TrimBefore { keep_from } => {
                self.delete_before(*keep_from);
            }
            StreamOp::Del { ids } => {
                for id in ids {
                    if self.delete(*id) && *id > self.max_deleted_id {
                        self.max_deleted_id = *id;
                    }
                }
            }
            StreamOp::SetId { last_id, entries_added, max_deleted_id } => {
                self.last_id = *last_id;
                self.entries_added = *entries_added;
                self.max_deleted_id = *max_deleted_id;
            }
            StreamOp::GroupCreate { group, last_id, entries_read } => {
                self.groups.entry(group.to_vec()).or_insert_with(|| Group::new(*last_id, *entries_read));
            }
            StreamOp::GroupSetId { group, last_id, entries_read } => {
                if let Some(g) = self.groups.get_mut(*group) {
                    g.last_id = *last_id;
                    g.entries_read = *entries_read;
                }
            }
            StreamOp::GroupDestroy { group } => {
                self.groups.remove(*group);
            }
            StreamOp::ConsumerCreate { group, consumer, now_ms } => {
                if let Some(g) = self.groups.get_mut(*group) {
                    g.consumer_mut(consumer, *now_ms);
                }
            }
            StreamOp::ConsumerDelete { group, consumer } => {
                if let Some(g) = self.groups.get_mut(*group) {
                    if let Some(c) = g.consumers.remove(*consumer) {
                        for id in c.pel {
                            g.pel.remove(&id);
                        }
                    }
                }
            }
            StreamOp::Read { group, consumer, now_ms, last, new, history } => {
                let Some(g) = self.groups.get_mut(*group) else { return };
                let c = g.consumer_mut(consumer, *now_ms);
                c.seen_time_ms = *now_ms;
                if !new.is_empty() {
                    c.active_time_ms = *now_ms as i64;
                }
                if let Some((id, read)) = last {
                    g.last_id = *id;
                    g.entries_read = *read;
                }
                for id in new {
                    g.assign(*id, consumer, *now_ms, 1);
                }
                for id in history {
                    if let Some(n) = g.pel.get_mut(id) {
                        n.delivery_time_ms = *now_ms;
                        n.delivery_count += 1;
                    }
                }
            }
            StreamOp::Ack { group, ids } => {
                if let Some(g) = self.groups.get_mut(*group) {
                    for id in ids {
                        g.unassign(*id);
                    }
                }
            }
            StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active } => {
                let Some(g) = self.groups.get_mut(*group) else { return };
                let c = g.consumer_mut(consumer, *now_ms);
                c.seen_time_ms = *now_ms;
                if *active {
                    c.active_time_ms = *now_ms as i64;
                }
                for id in dropped {
                    g.unassign(*id);
                }
                for (id, time_ms, count) in claims {
                    g.assign(*id, consumer, *time_ms, *count);
                }
                if let Some(id) = last_id {
                    if *id > g.last_id {
                        g.last_id = *id;
                    }
                }
            }
        }
    }
}

/// The deterministic effect of a stream write.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamOp<B> {
    /// Append an entry (XADD, with the ID it chose).
    Add {
        id: StreamId,
        fields: Vec<(B, B)>,
    },
    /// Delete every entry before `keep_from`; all of them when None (trimming).
    TrimBefore {
        keep_from: Option<StreamId>,
    },
    /// Delete entries (XDEL); raises the max deleted ID.
    Del {
        ids: Vec<StreamId>,
    },
    /// XSETID: the counters, as decided.
    SetId {
        last_id: StreamId,
        entries_added: u64,
        max_deleted_id: StreamId,
    },
    GroupCreate {
        group: B,
        last_id: StreamId,
        entries_read: i64,
    },
    GroupSetId {
        group: B,
        last_id: StreamId,
        entries_read: i64,
    },
    GroupDestroy {
        group: B,
    },
    ConsumerCreate {
        group: B,
        consumer: B,
        now_ms: u64,
    },
    /// Deletes a consumer and its pending entries.
    ConsumerDelete {
        group: B,
        consumer: B,
    },
    /// XREADGROUP: the consumer was seen at `now_ms`; the group's last ID and
    /// read counter moved to `last`; `new` entries join its PEL (count 1);
    /// `history` entries were delivered again (count + 1).
    Read {
        group: B,
        consumer: B,
        now_ms: u64,
        last: Option<(StreamId, i64)>,
        new: Vec<StreamId>,
        history: Vec<StreamId>,
    },
    /// XACK: the entries leave the PEL.
    Ack {
        group: B,
        ids: Vec<StreamId>,
    },
    /// XCLAIM / XAUTOCLAIM: `claims` (id, delivery time, delivery count) move
    /// to `consumer`; `dropped` (deleted entries) leave the PEL; the group's
    /// last ID rises to `last_id` (LASTID).
    Claim {
        group: B,
        consumer: B,
        now_ms: u64,
        claims: Vec<(StreamId, u64, u64)>,
        dropped: Vec<StreamId>,
        last_id: Option<StreamId>,
        active: bool,
    },
}

const OP_ADD: u8 = 1;
const OP_TRIM: u8 = 2;
const OP_DEL: u8 = 3;
const OP_SETID: u8 = 4;
const OP_GCREATE: u8 = 5;
const OP_GSETID: u8 = 6;
const OP_GDESTROY: u8 = 7;
const OP_CCREATE: u8 = 8;
const OP_CDELETE: u8 = 9;
const OP_READ: u8 = 10;
const OP_ACK: u8 = 11;
const OP_CLAIM: u8 = 12;

fn put_ids(out: &mut Vec<u8>, ids: &[StreamId]) {
    put_u32(out, ids.len() as u32);
    for id in ids {
        id.encode(out);
    }
}

fn get_ids(r: &mut Reader<'_>) -> Result<Vec<StreamId>, DecodeError> {
    let n = r.count(16)?;
    (0..n).map(|_| StreamId::decode(r)).collect()
}

impl<B: AsRef<[u8]>> StreamOp<B> {
    pub fn as_ref(&self) -> StreamOp<&[u8]> {
        match self {
            StreamOp::Add { id, fields } => {
                StreamOp::Add { id: *id, fields: fields.iter().map(|(f, v)| (f.as_ref(), v.as_ref())).collect() }
            }
            StreamOp::TrimBefore { keep_from } => StreamOp::TrimBefore { keep_from: *keep_from },
            StreamOp::Del { ids } => StreamOp::Del { ids: ids.clone() },
            StreamOp::SetId { last_id, entries_added, max_deleted_id } => {
                StreamOp::SetId { last_id: *last_id, entries_added: *entries_added, max_deleted_id: *max_deleted_id }
            }
            StreamOp::GroupCreate { group, last_id, entries_read } => {
                StreamOp::GroupCreate { group: group.as_ref(), last_id: *last_id, entries_read: *entries_read }
            }
            StreamOp::GroupSetId { group, last_id, entries_read } => {
                StreamOp::GroupSetId { group: group.as_ref(), last_id: *last_id, entries_read: *entries_read }
            }
            StreamOp::GroupDestroy { group } => StreamOp::GroupDestroy { group: group.as_ref() },
            StreamOp::ConsumerCreate { group, consumer, now_ms } => {
                StreamOp::ConsumerCreate { group: group.as_ref(), consumer: consumer.as_ref(), now_ms: *now_ms }
            }
            StreamOp::ConsumerDelete { group, consumer } => {
                StreamOp::ConsumerDelete { group: group.as_ref(), consumer: consumer.as_ref() }
            }
            StreamOp::Read { group, consumer, now_ms, last, new, history } => StreamOp::Read {
                group: group.as_ref(),
                consumer: consumer.as_ref(),
                now_ms: *now_ms,
                last: *last,
                new: new.clone(),
                history: history.clone(),
            },
            StreamOp::Ack { group, ids } => StreamOp::Ack { group: group.as_ref(), ids: ids.clone() },
            StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active } => StreamOp::Claim {
                group: group.as_ref(),
                consumer: consumer.as_ref(),
                now_ms: *now_ms,
                claims: claims.clone(),
                dropped: dropped.clone(),
                last_id: *last_id,
                active: *active,
            },
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            StreamOp::Add { id, fields } => {
                put_u8(out, OP_ADD);
                id.encode(out);
                put_u32(out, fields.len() as u32);
                for (f, v) in fields {
                    put_bytes(out, f.as_ref());
                    put_bytes(out, v.as_ref());
                }
            }
            StreamOp::TrimBefore { keep_from } => {
                put_u8(out, OP_TRIM);
                match keep_from {
                    Some(id) => {
                        put_u8(out, 1);
                        id.encode(out);
                    }
                    None => put_u8(out, 0),
                }
            }
            StreamOp::Del { ids } => {
                put_u8(out, OP_DEL);
                put_ids(out, ids);
            }
            StreamOp::SetId { last_id, entries_added, max_deleted_id } => {
                put_u8(out, OP_SETID);
                last_id.encode(out);
                put_u64(out, *entries_added);
                max_deleted_id.encode(out);
            }
            StreamOp::GroupCreate { group, last_id, entries_read } => {
                put_u8(out, OP_GCREATE);
                put_bytes(out, group.as_ref());
                last_id.encode(out);
                put_u64(out, *entries_read as u64);
            }
            StreamOp::GroupSetId { group, last_id, entries_read } => {
                put_u8(out, OP_GSETID);
                put_bytes(out, group.as_ref());
                last_id.encode(out);
                put_u64(out, *entries_read as u64);
            }
            StreamOp::GroupDestroy { group } => {
                put_u8(out, OP_GDESTROY);
                put_bytes(out, group.as_ref());
            }
            StreamOp::ConsumerCreate { group, consumer, now_ms } => {
                put_u8(out, OP_CCREATE);
                put_bytes(out, group.as_ref());
                put_bytes(out, consumer.as_ref());
                put_u64(out, *now_ms);
            }
            StreamOp::ConsumerDelete { group, consumer } => {
                put_u8(out, OP_CDELETE);
                put_bytes(out, group.as_ref());
                put_bytes(out, consumer.as_ref());
            }
            StreamOp::Read { group, consumer, now_ms, last, new, history } => {
                put_u8(out, OP_READ);
                put_bytes(out, group.as_ref());
                put_bytes(out, consumer.as_ref());
                put_u64(out, *now_ms);
                match last {
                    Some((id, read)) => {
                        put_u8(out, 1);
                        id.encode(out);
                        put_u64(out, *read as u64);
                    }
                    None => put_u8(out, 0),
                }
                put_ids(out, new);
                put_ids(out, history);
            }
            StreamOp::Ack { group, ids } => {
                put_u8(out, OP_ACK);
                put_bytes(out, group.as_ref());
                put_ids(out, ids);
            }
            StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active } => {
                put_u8(out, OP_CLAIM);
                put_bytes(out, group.as_ref());
                put_bytes(out, consumer.as_ref());
                put_u64(out, *now_ms);
                put_u32(out, claims.len() as u32);
                for (id, t, c) in claims {
                    id.encode(out);
                    put_u64(out, *t);
                    put_u64(out, *c);
                }
                put_ids(out, dropped);
                match last_id {
                    Some(id) => {
                        put_u8(out, 1);
                        id.encode(out);
                    }
                    None => put_u8(out, 0),
                }
                put_u8(out, u8::from(*active));
            }
        }
    }
}

fn get_opt_id(r: &mut Reader<'_>) -> Result<Option<StreamId>, DecodeError> {
    Ok(match r.u8()? {
        0 => None,
        1 => Some(StreamId::decode(r)?),
        _ => return Err(DecodeError::Invalid("bad option flag")),
    })
}

pub fn decode_op(r: &mut Reader<'_>) -> Result<StreamOp<Bytes>, DecodeError> {
    Ok(match r.u8()? {
        OP_ADD => {
            let id = StreamId::decode(r)?;
            let n = r.count(8)?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.bytes()?, r.bytes()?));
            }
            StreamOp::Add { id, fields }
        }
        OP_TRIM => StreamOp::TrimBefore { keep_from: get_opt_id(r)? },
        OP_DEL => StreamOp::Del { ids: get_ids(r)? },
        OP_SETID => StreamOp::SetId {
            last_id: StreamId::decode(r)?,
            entries_added: r.u64()?,
            max_deleted_id: StreamId::decode(r)?,
        },
        OP_GCREATE => {
            StreamOp::GroupCreate { group: r.bytes()?, last_id: StreamId::decode(r)?, entries_read: r.u64()? as i64 }
        }
        OP_GSETID => {
            StreamOp::GroupSetId { group: r.bytes()?, last_id: StreamId::decode(r)?, entries_read: r.u64()? as i64 }
        }
        OP_GDESTROY => StreamOp::GroupDestroy { group: r.bytes()? },
        OP_CCREATE => StreamOp::ConsumerCreate { group: r.bytes()?, consumer: r.bytes()?, now_ms: r.u64()? },
        OP_CDELETE => StreamOp::ConsumerDelete { group: r.bytes()?, consumer: r.bytes()? },
        OP_READ => {
            let group = r.bytes()?;
            let consumer = r.bytes()?;
            let now_ms = r.u64()?;
            let last = match r.u8()? {
                0 => None,
                1 => Some((StreamId::decode(r)?, r.u64()? as i64)),
                _ => return Err(DecodeError::Invalid("bad option flag")),
            };
            StreamOp::Read { group, consumer, now_ms, last, new: get_ids(r)?, history: get_ids(r)? }
        }
        OP_ACK => StreamOp::Ack { group: r.bytes()?, ids: get_ids(r)? },
        OP_CLAIM => {
            let group = r.bytes()?;
            let consumer = r.bytes()?;
            let now_ms = r.u64()?;
            let n = r.count(32)?;
            let mut claims = Vec::with_capacity(n);
            for _ in 0..n {
                claims.push((StreamId::decode(r)?, r.u64()?, r.u64()?));
            }
            let dropped = get_ids(r)?;
            let last_id = get_opt_id(r)?;
            let active = r.u8()? != 0;
            StreamOp::Claim { group, consumer, now_ms, claims, dropped, last_id, active }
        }
        _ => return Err(DecodeError::Invalid("unknown stream op")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::{add, cfg};

    proptest::proptest! {
        /// Arbitrary bytes as stream ops and as a serialized stream: decoding
        /// never panics, and neither does applying whatever decoded, in any
        /// order, to a stream with entries and a group.
        #[test]
        fn decoding_and_applying_arbitrary_ops_never_panics(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), 0..20),
        ) {
            let mut s = Stream::default();
            for i in 1..=120u64 {
                add(&mut s, i, 0, b"f", b"v");
            }
            s.apply(&StreamOp::GroupCreate { group: b"g", last_id: StreamId::MIN, entries_read: 0 }, &cfg());
            for mut c in chunks {
                let _ = Stream::deserialize(&mut Reader::new(&c), &cfg());
                // Half the time, aim at a valid op tag.
                if c.first().is_some_and(|b| b & 1 == 0) {
                    c[0] = 1 + c[0] % 12;
                }
                if let Ok(op) = decode_op(&mut Reader::new(&c)) {
                    s.apply(&op.as_ref(), &cfg());
                }
            }
            let mut buf = Vec::new();
            s.serialize(&mut buf);
            proptest::prop_assert_eq!(Stream::deserialize(&mut Reader::new(&buf), &cfg()).unwrap(), s);
        }
    }

    #[test]
    fn ops_round_trip() {
        let ops: Vec<StreamOp<&[u8]>> = vec![
            StreamOp::Add { id: StreamId::new(1, 2), fields: vec![(b"f", b"v")] },
            StreamOp::TrimBefore { keep_from: None },
            StreamOp::TrimBefore { keep_from: Some(StreamId::new(3, 4)) },
            StreamOp::Del { ids: vec![StreamId::new(1, 1)] },
            StreamOp::SetId { last_id: StreamId::new(9, 9), entries_added: 3, max_deleted_id: StreamId::new(1, 0) },
            StreamOp::GroupCreate { group: b"g", last_id: StreamId::MAX, entries_read: -1 },
            StreamOp::GroupSetId { group: b"g", last_id: StreamId::MIN, entries_read: 5 },
            StreamOp::GroupDestroy { group: b"g" },
            StreamOp::ConsumerCreate { group: b"g", consumer: b"c", now_ms: 5 },
            StreamOp::ConsumerDelete { group: b"g", consumer: b"c" },
            StreamOp::Read {
                group: b"g",
                consumer: b"c",
                now_ms: 1,
                last: Some((StreamId::new(1, 1), -1)),
                new: vec![StreamId::new(1, 1)],
                history: vec![StreamId::new(0, 1)],
            },
            StreamOp::Ack { group: b"g", ids: vec![StreamId::new(1, 1)] },
            StreamOp::Claim {
                group: b"g",
                consumer: b"d",
                now_ms: 3,
                claims: vec![(StreamId::new(1, 1), 2, 4)],
                dropped: vec![StreamId::new(0, 9)],
                last_id: Some(StreamId::new(2, 2)),
                active: true,
            },
        ];
        for op in ops {
            let mut buf = Vec::new();
            op.encode(&mut buf);
            let back = decode_op(&mut Reader::new(&buf)).unwrap();
            assert_eq!(back.as_ref(), op);
        }
    }
}
