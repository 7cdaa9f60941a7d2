//! A stream's serialization as a whole value (COPY, RENAME, snapshots),
//! and building one from the parts another format carries (Redis's RDB).
//!
//! Invariants: what `serialize` writes, `deserialize` reads back equal;
//! both readers refuse entries out of ID order and pending entries of
//! unknown consumers, so a stream read here satisfies the module's
//! invariants.
//!
//! Limits: `deserialize` never panics on bad input; every count is checked
//! against the bytes left.

use std::collections::{BTreeMap, BTreeSet};

use super::{Consumer, Group, Nack, OwnedEntry, Stream, StreamCounters, StreamId};
use crate::codec::{put_bytes, put_u32, put_u64, DecodeError, Reader};
use crate::types::EncodingConfig;

impl Stream {
    pub fn serialize(&self, out: &mut Vec<u8>) {
        self.last_id.encode(out);
        self.max_deleted_id.encode(out);
        put_u64(out, self.entries_added);
        put_u64(out, self.length);
        self.range(StreamId::MIN, StreamId::MAX, false, |id, fields| {
            id.encode(out);
            put_u32(out, fields.len() as u32);
            for (f, v) in fields {
                put_bytes(out, f);
                put_bytes(out, v);
            }
            true
        });
        put_u32(out, self.groups.len() as u32);
        for (name, g) in &self.groups {
            put_bytes(out, name);
            g.last_id.encode(out);
            put_u64(out, g.entries_read as u64);
            put_u32(out, g.consumers.len() as u32);
            for (cname, c) in &g.consumers {
                put_bytes(out, cname);
                put_u64(out, c.seen_time_ms);
                put_u64(out, c.active_time_ms as u64);
            }
            put_u32(out, g.pel.len() as u32);
            for (id, n) in &g.pel {
                id.encode(out);
                put_bytes(out, &n.consumer);
                put_u64(out, n.delivery_time_ms);
                put_u64(out, n.delivery_count);
            }
        }
    }

    /// Builds a stream from its parts, as another format carries them
    /// (Redis's RDB, see `rdb.rs`): live entries in ascending ID order, the
    /// counters, and the groups with their PELs. Errors name the
    /// inconsistency; the groups' PELs must agree with their consumers'.
    pub fn from_parts(
        entries: &[OwnedEntry],
        counters: StreamCounters,
        groups: BTreeMap<Vec<u8>, Group>,
        cfg: &EncodingConfig,
    ) -> Result<Stream, &'static str> {
        let mut s = Stream::default();
        for (id, fields) in entries {
            if s.length > 0 && *id <= s.last_id {
                return Err("stream entry IDs out of order");
            }
            let fields: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
            s.append(*id, &fields, cfg);
        }
        if s.length > 0 && counters.last_id < s.last_id {
            return Err("stream last ID below its last entry");
        }
        s.last_id = counters.last_id;
        s.max_deleted_id = counters.max_deleted_id;
        s.entries_added = counters.entries_added.max(s.length);
        for g in groups.values() {
            let owned = g.consumers.iter().flat_map(|(name, c)| c.pel.iter().map(move |id| (id, name)));
            let mut n = 0;
            for (id, name) in owned {
                n += 1;
                if g.pel.get(id).is_none_or(|nack| &nack.consumer != name) {
                    return Err("consumer pending entry not in its group's PEL");
                }
            }
            if n != g.pel.len() {
                return Err("group pending entry without a consumer");
            }
        }
        s.groups = groups;
        Ok(s)
    }

    /// Sets every group's read counter to its estimate from its last ID
    /// (loading a format without the counters, as Redis does).
    pub fn estimate_groups_entries_read(&mut self) {
        let reads: Vec<i64> = self.groups.values().map(|g| self.estimate_distance(g.last_id)).collect();
        for (g, r) in self.groups.values_mut().zip(reads) {
            g.entries_read = r;
        }
    }

    /// The counters [`Stream::from_parts`] takes, as this stream has them.
    pub fn counters(&self) -> StreamCounters {
        StreamCounters { last_id: self.last_id, max_deleted_id: self.max_deleted_id, entries_added: self.entries_added }
    }

    /// Reads what [`Stream::serialize`] wrote; never panics on bad input.
    pub fn deserialize(r: &mut Reader<'_>, cfg: &EncodingConfig) -> Result<Stream, DecodeError> {
        let mut s = Stream { last_id: StreamId::decode(r)?, max_deleted_id: StreamId::decode(r)?, ..Stream::default() };
        let entries_added = r.u64()?;
        let length = r.u64()?;
        let mut prev: Option<StreamId> = None;
        for _ in 0..length {
            let id = StreamId::decode(r)?;
            if prev.is_some_and(|p| id <= p) {
                return Err(DecodeError::Invalid("stream entry IDs out of order"));
            }
            prev = Some(id);
            let n = r.count(8)?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.slice()?, r.slice()?));
            }
            let last = s.last_id;
            s.append(id, &fields, cfg);
            s.last_id = last.max(id);
        }
        s.entries_added = entries_added;
        let groups = r.count(28)?;
        for _ in 0..groups {
            let name = r.slice()?.to_vec();
            let mut g = Group::new(StreamId::decode(r)?, r.u64()? as i64);
            let consumers = r.count(20)?;
            for _ in 0..consumers {
                let cname = r.slice()?.to_vec();
                let seen = r.u64()?;
                let active = r.u64()? as i64;
                g.consumers
                    .insert(cname, Consumer { seen_time_ms: seen, active_time_ms: active, pel: BTreeSet::new() });
            }
            let pel = r.count(36)?;
            for _ in 0..pel {
                let id = StreamId::decode(r)?;
                let consumer = r.slice()?;
                let (time, count) = (r.u64()?, r.u64()?);
                let Some(c) = g.consumers.get_mut(consumer) else {
                    return Err(DecodeError::Invalid("pending entry of an unknown consumer"));
                };
                c.pel.insert(id);
                g.pel.insert(id, Nack { consumer: consumer.to_vec(), delivery_time_ms: time, delivery_count: count });
            }
            s.groups.insert(name, g);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::tests::cfg;
    use crate::types::stream::StreamOp;

    #[test]
    fn serialization_round_trips_with_groups() {
        let mut s = Stream::default();
        for i in 1..=150u64 {
            s.apply(
                &StreamOp::Add { id: StreamId::new(i, 0), fields: vec![(&b"a"[..], &b"1"[..]), (b"b", b"2")] },
                &cfg(),
            );
        }
        s.apply(&StreamOp::Del { ids: vec![StreamId::new(5, 0)] }, &cfg());
        s.apply(&StreamOp::GroupCreate { group: b"g", last_id: StreamId::MIN, entries_read: 0 }, &cfg());
        s.apply(
            &StreamOp::Read {
                group: b"g",
                consumer: b"c",
                now_ms: 7,
                last: Some((StreamId::new(3, 0), 3)),
                new: vec![StreamId::new(1, 0), StreamId::new(2, 0)],
                history: vec![],
            },
            &cfg(),
        );
        let mut buf = Vec::new();
        s.serialize(&mut buf);
        let back = Stream::deserialize(&mut Reader::new(&buf), &cfg()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.group(b"g").unwrap().consumers[&b"c"[..]].pel.len(), 2);
        for cut in 0..buf.len() {
            assert!(Stream::deserialize(&mut Reader::new(&buf[..cut]), &cfg()).is_err());
        }
    }
}
