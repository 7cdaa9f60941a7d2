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
//!
//! Files: this one holds [`StreamId`] and the [`Stream`] with its queries,
//! its entry-level changes and trim planning; `node.rs` the packed node
//! format, `group.rs` consumer groups and their PELs, `op.rs` the
//! [`StreamOp`]s with their application and encoding, `serial.rs` the whole
//! value's serialization and building a stream from parts (RDB).

use std::collections::BTreeMap;

use super::EncodingConfig;
use crate::codec::{put_u64, DecodeError, Reader};

mod group;
mod node;
mod op;
mod serial;

pub use group::{Consumer, Group, Nack};
use node::Node;
pub use op::{decode_op, StreamOp};

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
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn add(s: &mut Stream, ms: u64, seq: u64, f: &[u8], v: &[u8]) {
        s.apply(&StreamOp::Add { id: StreamId::new(ms, seq), fields: vec![(f, v)] }, &cfg());
    }

    pub(super) fn cfg() -> EncodingConfig {
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
}
