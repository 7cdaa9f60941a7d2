//! The Stream type: an append-only log of entries (each an ID and field/value
//! pairs) with consumer groups, as Redis 7.2 defines it.
//!
//! Encoding ("stream", as Redis names it): a B-tree of *nodes* keyed by the ID
//! of their first ("master") entry, the same shape as Redis's radix tree of
//! listpacks. A node is one packed buffer: the master entry's field names, then
//! each entry as `flags, varint(ms delta), varint(seq), [fields], values`; an
//! entry with the master's field names stores only its values. Deleted entries
//! are flagged in place and a node with no live entry left is dropped. A node
//! takes at most `stream-node-max-entries` entries (live or deleted, default
//! 100) and about `stream-node-max-bytes` bytes (default 4096), as Redis's
//! settings of those names say (see [`EncodingConfig`]), so XADD and a point lookup cost
//! O(log n) plus one node, and a range costs O(log n) plus what it returns.
//!
//! Approximate trimming (`MAXLEN ~`, `MINID ~`) removes whole nodes only,
//! exactly as Redis does; [`Stream::plan_trim`] computes the outcome, and the
//! op that commits it ([`StreamOp::TrimBefore`]) names the first entry kept,
//! so replaying it never depends on the node layout.
//!
//! Consumer groups keep a pending entries list (PEL) per group and one per
//! consumer; every change to them is an op with absolute times and counts
//! ([`StreamOp::Read`], [`StreamOp::Claim`], ...), decided by the command.
//!
//! Invariants: entry IDs strictly increase through the nodes; `length` counts
//! live entries; `last_id` is at least the last entry's ID; a PEL entry is in
//! its group's PEL and its consumer's, and nowhere else.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::EncodingConfig;
use crate::codec::{put_bytes, put_u32, put_u64, put_u8, DecodeError, Reader};

/// A node's byte size when `stream-node-max-bytes` is 0 (Redis's listpack limit).
const NODE_BYTES_LIMIT: usize = 1 << 30;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None after the last possible one.
    pub fn incr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID, or None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    pub fn encode(self, out: &mut Vec<u8>) {
        put_u64(out, self.ms);
        put_u64(out, self.seq);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<StreamId, DecodeError> {
        Ok(StreamId { ms: r.u64()?, seq: r.u64()? })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's marker of an unknown entries-read counter.
pub const ENTRIES_READ_INVALID: i64 = -1;

// ---------------------------------------------------------------------------
// Varints and nodes
// ---------------------------------------------------------------------------

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`. Nodes are written only by this module, so a
/// malformed one is a bug: the assertion stays on.
fn get_var(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
        assert!(shift < 64, "stream node: varint too long");
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_var(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// One node: the master field names, then the entries.
#[derive(Clone, Debug)]
struct Node {
    buf: Vec<u8>,
    /// Offset of the first entry (after the master fields).
    entries_at: u32,
    live: u32,
    /// Live and deleted entries.
    total: u32,
    /// ID of the last entry written (live or deleted).
    last: StreamId,
}

/// Where an entry of a node is, its ID, and whether it is deleted.
struct Slot {
    /// Offset of the flags byte.
    at: usize,
    id: StreamId,
    deleted: bool,
}

impl Node {
    fn new(master: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
        let mut buf = Vec::with_capacity(256);
        put_var(&mut buf, fields.len() as u64);
        for (f, _) in fields {
            put_str(&mut buf, f);
        }
        let entries_at = buf.len() as u32;
        Node { buf, entries_at, live: 0, total: 0, last: master }
    }

    fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_var(&self.buf, &mut pos) as usize;
        (0..n).map(|_| get_str(&self.buf, &mut pos)).collect()
    }

    fn push(&mut self, master: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let same = {
            let m = self.master_fields();
            m.len() == fields.len() && m.iter().zip(fields).all(|(a, (f, _))| *a == *f)
        };
        let buf = &mut self.buf;
        buf.push(if same { FLAG_SAMEFIELDS } else { 0 });
        put_var(buf, id.ms - master.ms);
        // Within the master's millisecond the sequence is stored as a delta.
        put_var(buf, if id.ms == master.ms { id.seq - master.seq } else { id.seq });
        if !same {
            put_var(buf, fields.len() as u64);
        }
        for (f, v) in fields {
            if !same {
                put_str(buf, f);
            }
            put_str(buf, v);
        }
        self.live += 1;
        self.total += 1;
        self.last = id;
    }

    /// Decodes the entry at `pos` into `fields` (cleared first); returns its
    /// ID, whether it is deleted, and where the next entry starts.
    fn decode_at<'a>(
        &'a self,
        master: StreamId,
        master_fields: &[&'a [u8]],
        mut pos: usize,
        fields: &mut Vec<(&'a [u8], &'a [u8])>,
    ) -> (StreamId, bool, usize) {
        let buf = &self.buf[..];
        let flags = buf[pos];
        pos += 1;
        let ms = master.ms + get_var(buf, &mut pos);
        let seq_raw = get_var(buf, &mut pos);
        let seq = if ms == master.ms { master.seq + seq_raw } else { seq_raw };
        fields.clear();
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in master_fields {
                let v = get_str(buf, &mut pos);
                fields.push((*f, v));
            }
        } else {
            let n = get_var(buf, &mut pos);
            for _ in 0..n {
                let f = get_str(buf, &mut pos);
                let v = get_str(buf, &mut pos);
                fields.push((f, v));
            }
        }
        (StreamId::new(ms, seq), flags & FLAG_DELETED != 0, pos)
    }

    /// Visits the entries (deleted ones included) from the first, or from
    /// the last backwards, until `f` returns false; decodes only what it
    /// visits, into one reused buffer.
    fn walk<'a>(
        &'a self,
        master: StreamId,
        rev: bool,
        mut f: impl FnMut(usize, StreamId, bool, &[(&'a [u8], &'a [u8])]) -> bool,
    ) -> bool {
        let master_fields = self.master_fields();
        let mut fields = Vec::with_capacity(master_fields.len());
        if !rev {
            let mut pos = self.entries_at as usize;
            while pos < self.buf.len() {
                let (id, deleted, next) = self.decode_at(master, &master_fields, pos, &mut fields);
                if !f(pos, id, deleted, &fields) {
                    return false;
                }
                pos = next;
            }
            return true;
        }
        let mut starts = Vec::with_capacity(self.total as usize);
        let mut pos = self.entries_at as usize;
        while pos < self.buf.len() {
            starts.push(pos);
            pos = self.decode_at(master, &master_fields, pos, &mut fields).2;
        }
        for at in starts.into_iter().rev() {
            let (id, deleted, _) = self.decode_at(master, &master_fields, at, &mut fields);
            if !f(at, id, deleted, &fields) {
                return false;
            }
        }
        true
    }

    /// Every entry, deleted ones included, in order.
    fn slots(&self, master: StreamId) -> Vec<Slot> {
        let mut out = Vec::with_capacity(self.total as usize);
        self.walk(master, false, |at, id, deleted, _| {
            out.push(Slot { at, id, deleted });
            true
        });
        out
    }

    fn mark_deleted(&mut self, at: usize) {
        self.buf[at] |= FLAG_DELETED;
        self.live -= 1;
    }
}

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Vec<u8>,
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    /// Last attempted interaction (read, claim).
    pub seen_time_ms: u64,
    /// Last successful interaction; -1 when never.
    pub active_time_ms: i64,
    pub pel: BTreeSet<StreamId>,
}

impl Consumer {
    fn new(now_ms: u64) -> Consumer {
        Consumer { seen_time_ms: now_ms, active_time_ms: -1, pel: BTreeSet::new() }
    }
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical reads counter, or [`ENTRIES_READ_INVALID`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    fn consumer_mut(&mut self, name: &[u8], now_ms: u64) -> &mut Consumer {
        self.consumers.entry(name.to_vec()).or_insert_with(|| Consumer::new(now_ms))
    }

    /// Assigns `id` to `consumer` with the given delivery time and count,
    /// taking it from its previous owner.
    fn assign(&mut self, id: StreamId, consumer: &[u8], time_ms: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != consumer {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(id, Nack { consumer: consumer.to_vec(), delivery_time_ms: time_ms, delivery_count: count });
        self.consumer_mut(consumer, time_ms).pel.insert(id);
    }

    fn unassign(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    groups: BTreeMap<Vec<u8>, Group>,
}

/// Two streams are equal when they hold the same entries, counters and groups,
/// whatever their node layout.
impl PartialEq for Stream {
    fn eq(&self, other: &Stream) -> bool {
        self.length == other.length
            && self.last_id == other.last_id
            && self.max_deleted_id == other.max_deleted_id
            && self.entries_added == other.entries_added
            && self.groups == other.groups
            && self.entries() == other.entries()
    }
}

/// A stream's counters besides its length: the last ID given out, the
/// largest deleted ID, and the count of entries ever added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounters {
    pub last_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
}

/// An owned entry (tests, models, serialization).
pub type OwnedEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// How to trim (XADD and XTRIM's MAXLEN / MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl Stream {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes in the tree (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn groups(&self) -> &BTreeMap<Vec<u8>, Group> {
        &self.groups
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    /// Visits live entries with `start <= id <= end`, ascending (or descending
    /// when `rev`), until `f` returns false.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &[(&[u8], &[u8])]) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            // The node holding `start` begins at or before it.
            let from = self.nodes.range(..=start).next_back().map_or(start, |(k, _)| *k);
            for (master, node) in self.nodes.range(from..=end) {
                if node.last < start {
                    continue;
                }
                let go_on = node.walk(*master, false, |_, id, deleted, fields| {
                    if deleted || id < start {
                        return true;
                    }
                    id <= end && f(id, fields)
                });
                if !go_on {
                    return;
                }
            }
        } else {
            for (master, node) in self.nodes.range(..=end).rev() {
                if node.last < start {
                    return;
                }
                let go_on = node.walk(*master, true, |_, id, deleted, fields| {
                    if deleted || id > end {
                        return true;
                    }
                    id >= start && f(id, fields)
                });
                if !go_on {
                    return;
                }
            }
        }
    }

    /// The fields of the entry `id`, if it is live.
    pub fn get(&self, id: StreamId) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = None;
        self.range(id, id, false, |_, fields| {
            out = Some(fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect());
            false
        });
        out
    }

    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Every live entry, owned (tests and serialization).
    pub fn entries(&self) -> Vec<OwnedEntry> {
        let mut out = Vec::with_capacity(self.length as usize);
        self.range(StreamId::MIN, StreamId::MAX, false, |id, fields| {
            out.push((id, fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()));
            true
        });
        out
    }

    /// The first live entry's ID (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        // Without deletions in the head node, its first entry is its key.
        if let Some((master, node)) = self.nodes.first_key_value() {
            if node.live == node.total {
                return *master;
            }
        }
        let mut first = StreamId::MIN;
        self.range(StreamId::MIN, StreamId::MAX, false, |id, _| {
            first = id;
            false
        });
        first
    }

    /// The last live entry's ID (0-0 when empty).
    pub fn last_entry_id(&self) -> StreamId {
        // Without deletions in the tail node, its last entry is live.
        if let Some((_, node)) = self.nodes.last_key_value() {
            if node.live == node.total {
                return node.last;
            }
        }
        let mut last = StreamId::MIN;
        self.range(StreamId::MIN, StreamId::MAX, true, |id, _| {
            last = id;
            false
        });
        last
    }

    /// The ID XADD with `*` (or `ms-*` when `ms` is given) would use at
    /// `now_ms`; None when no greater ID exists.
    pub fn next_id(&self, now_ms: u64, ms: Option<u64>) -> Option<StreamId> {
        match ms {
            Some(ms) if ms == self.last_id.ms => self.last_id.seq.checked_add(1).map(|seq| StreamId::new(ms, seq)),
            Some(ms) if ms > self.last_id.ms => Some(StreamId::new(ms, 0)),
            Some(_) => None,
            None if now_ms > self.last_id.ms => Some(StreamId::new(now_ms, 0)),
            None => self.last_id.incr(),
        }
    }

    fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], cfg: &EncodingConfig) {
        let bytes: usize = fields.iter().map(|(f, v)| f.len() + v.len() + 2).sum();
        let max_bytes = match cfg.stream_node_max_bytes {
            0 => NODE_BYTES_LIMIT,
            n => n.min(NODE_BYTES_LIMIT),
        };
        let max_entries = cfg.stream_node_max_entries;
        let tail_full = match self.nodes.last_key_value() {
            None => true,
            Some((_, n)) => n.buf.len() + bytes >= max_bytes || (max_entries > 0 && n.total as usize >= max_entries),
        };
        if tail_full {
            // A node that is full for good gives back its spare capacity, as
            // Redis shrinks a listpack when it starts the next one.
            if let Some(mut last) = self.nodes.last_entry() {
                last.get_mut().buf.shrink_to_fit();
            }
            self.nodes.insert(id, Node::new(id, fields));
        }
        let master = *self.nodes.last_key_value().expect("a tail node").0;
        let node = self.nodes.get_mut(&master).expect("the tail node");
        node.push(master, id, fields);
        self.length += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Deletes the live entry `id`; false when there is none.
    fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else { return false };
        let Some(at) = node.slots(master).iter().find(|s| s.id == id && !s.deleted).map(|s| s.at) else {
            return false;
        };
        node.mark_deleted(at);
        if node.live == 0 {
            self.nodes.remove(&master);
        }
        self.length -= 1;
        true
    }

    /// Deletes every live entry before `keep_from` (all of them when None).
    fn delete_before(&mut self, keep_from: Option<StreamId>) -> u64 {
        let mut deleted = 0;
        while let Some(mut entry) = self.nodes.first_entry() {
            let master = *entry.key();
            let node = entry.get_mut();
            if keep_from.is_none_or(|k| node.last < k) {
                deleted += u64::from(node.live);
                entry.remove();
                continue;
            }
            let keep = keep_from.expect("checked above");
            let doomed: Vec<usize> =
                node.slots(master).iter().filter(|s| !s.deleted && s.id < keep).map(|s| s.at).collect();
            for at in doomed {
                node.mark_deleted(at);
                deleted += 1;
            }
            if node.live == 0 {
                entry.remove();
                continue;
            }
            break;
        }
        self.length -= deleted;
        deleted
    }

    /// What trimming would do, as Redis's streamTrim does it: the number of
    /// entries removed and the first entry kept (None: none kept). `limit` 0
    /// is no limit; with `approx` only whole nodes go.
    pub fn plan_trim(&self, trim: Trim, approx: bool, limit: u64) -> (u64, Option<StreamId>) {
        let mut length = self.length;
        let mut deleted = 0u64;
        let mut first_kept: Option<StreamId> = None;
        'nodes: for (master, node) in &self.nodes {
            if let Trim::MaxLen(max) = trim {
                if length <= max {
                    first_kept = self.first_live_in(*master);
                    break;
                }
            }
            let entries = u64::from(node.live);
            if limit > 0 && deleted + entries > limit {
                first_kept = self.first_live_in(*master);
                break;
            }
            let remove_node = match trim {
                Trim::MaxLen(max) => length - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove_node {
                length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                first_kept = self.first_live_in(*master);
                break;
            }
            for s in node.slots(*master) {
                if s.deleted {
                    continue;
                }
                let stop = match trim {
                    Trim::MaxLen(max) => length <= max,
                    Trim::MinId(min) => s.id >= min,
                };
                if stop {
                    first_kept = Some(s.id);
                    break 'nodes;
                }
                length -= 1;
                deleted += 1;
            }
            // The node emptied: the next node's first entry is kept, if any.
            first_kept = self
                .nodes
                .range((std::ops::Bound::Excluded(*master), std::ops::Bound::Unbounded))
                .find_map(|(m, _)| self.first_live_in(*m));
            break;
        }
        (deleted, first_kept)
    }

    fn first_live_in(&self, master: StreamId) -> Option<StreamId> {
        self.nodes.get(&master)?.slots(master).iter().find(|s| !s.deleted).map(|s| s.id)
    }

    /// Whether a deleted entry may lie in `start..=end` (Redis's
    /// streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry: the logical read
    /// counter of `id`, or [`ENTRIES_READ_INVALID`] when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return self.entries_added as i64,
            std::cmp::Ordering::Greater => return ENTRIES_READ_INVALID,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted_id.is_zero() || self.max_deleted_id < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return (self.entries_added - self.length) as i64,
                std::cmp::Ordering::Equal => return (self.entries_added - self.length + 1) as i64,
                std::cmp::Ordering::Greater => {}
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (XINFO), or None when it cannot be known.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.range_has_tombstones(g.last_id, StreamId::MAX) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// The group's read counter after delivering `id` (XREADGROUP `>`).
    pub fn entries_read_after(&self, g_entries_read: i64, id: StreamId) -> i64 {
        if g_entries_read != ENTRIES_READ_INVALID && !self.range_has_tombstones(id, StreamId::MAX) {
            g_entries_read + 1
        } else if self.entries_added > 0 {
            self.estimate_distance(id)
        } else {
            g_entries_read
        }
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        const BTREE_SLOT_BYTES: usize = 64;
        let nodes: usize = self.nodes.values().map(|n| n.buf.capacity() + BTREE_SLOT_BYTES + 48).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                name.len()
                    + 96
                    + g.pel.values().map(|n| n.consumer.len() + 64).sum::<usize>()
                    + g.consumers.iter().map(|(n, c)| n.len() + 64 + c.pel.len() * 24).sum::<usize>()
            })
            .sum();
        nodes + groups
    }

    // -----------------------------------------------------------------------
    // Ops
    // -----------------------------------------------------------------------

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

    // -----------------------------------------------------------------------
    // Serialization
    // -----------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------

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

    fn add(s: &mut Stream, ms: u64, seq: u64, f: &[u8], v: &[u8]) {
        s.apply(&StreamOp::Add { id: StreamId::new(ms, seq), fields: vec![(f, v)] }, &cfg());
    }

    fn cfg() -> EncodingConfig {
        EncodingConfig::default()
    }

    #[test]
    fn ids_step_and_order() {
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.decr(), None);
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
    }

    #[test]
    fn nodes_split_and_ranges_cross_them() {
        let mut s = Stream::default();
        for i in 1..=350u64 {
            add(&mut s, i / 3 + 1, i, b"f", i.to_string().as_bytes());
        }
        assert_eq!(s.len(), 350);
        assert_eq!(s.node_count(), 4);
        let mut got = Vec::new();
        s.range(StreamId::new(34, 99), StreamId::new(40, 0), false, |id, _| {
            got.push(id);
            true
        });
        assert_eq!(got.first(), Some(&StreamId::new(34, 99)));
        let mut rev = Vec::new();
        s.range(StreamId::new(34, 99), StreamId::new(40, 0), true, |id, _| {
            rev.push(id);
            true
        });
        rev.reverse();
        assert_eq!(got, rev);
        assert_eq!(s.get(StreamId::new(101, 300)), Some(vec![(b"f".to_vec(), b"300".to_vec())]));
    }

    #[test]
    fn approximate_trim_removes_whole_nodes_only() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            add(&mut s, i, 0, b"f", b"v");
        }
        assert_eq!(s.plan_trim(Trim::MaxLen(200), true, 0), (0, Some(StreamId::new(1, 0))));
        assert_eq!(s.plan_trim(Trim::MaxLen(120), true, 0), (100, Some(StreamId::new(101, 0))));
        assert_eq!(s.plan_trim(Trim::MaxLen(120), false, 0), (130, Some(StreamId::new(131, 0))));
        assert_eq!(s.plan_trim(Trim::MaxLen(0), false, 0), (250, None));
        assert_eq!(s.plan_trim(Trim::MinId(StreamId::new(150, 0)), false, 0), (149, Some(StreamId::new(150, 0))));
        s.apply(&StreamOp::TrimBefore { keep_from: Some(StreamId::new(131, 0)) }, &cfg());
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), StreamId::new(131, 0));
        s.apply(&StreamOp::TrimBefore { keep_from: None }, &cfg());
        assert!(s.is_empty());
        assert_eq!(s.last_id, StreamId::new(250, 0));
    }

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
