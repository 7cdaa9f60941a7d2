//! Hash slots: [`key_slot`] (Redis Cluster's rule: CRC16/XMODEM of the key
//! or of its `{hash tag}`, modulo [`SLOTS`]; the engine's own
//! `gyre_engine::SlotId::of`, so client and server cannot disagree) and
//! [`SlotMap`], which node serves each slot as `CLUSTER SLOTS` tells it.
//!
//! Invariants of [`SlotMap`]: a node keeps its index for the map's lifetime
//! (a refresh adds nodes, never renumbers them), so a caller may index its
//! own per-node state (connections, statistics) by it; every slot is either
//! unassigned or names an index below [`SlotMap::node_count`].

use gyre_resp::Frame;

use super::NodeAddr;

/// Hash slots in a cluster.
pub const SLOTS: usize = gyre_engine::slot::SLOT_COUNT;

/// A hash slot, `0..SLOTS` (the engine's: one rule for server and client).
pub use gyre_engine::SlotId;

/// The slot `key` belongs to (Redis Cluster's rule, `SlotId::of`).
pub fn key_slot(key: &[u8]) -> SlotId {
    SlotId::of(key)
}

/// Marks a slot no node serves.
const UNASSIGNED: u16 = u16::MAX;

/// Which node serves each slot.
#[derive(Debug, Clone)]
pub struct SlotMap {
    nodes: Vec<NodeAddr>,
    /// Per slot, an index into `nodes` or [`UNASSIGNED`].
    owner: Vec<u16>,
}

impl Default for SlotMap {
    fn default() -> SlotMap {
        SlotMap { nodes: Vec::new(), owner: vec![UNASSIGNED; SLOTS] }
    }
}

impl SlotMap {
    /// Reads a `CLUSTER SLOTS` reply: `[start, end, [host, port, ...],
    /// replicas...]` per range. An empty host means the host the reply came
    /// from (`asked`), as in Redis. Slots the reply leaves out become
    /// unassigned; nodes already known keep their index. On an error the
    /// slots are as they were (new nodes may have been added).
    pub fn update(&mut self, reply: &Frame, asked: &str) -> Result<(), String> {
        let Frame::Array(ranges) = reply else {
            return Err(match reply {
                Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
                other => format!("unexpected CLUSTER SLOTS reply: {other:?}"),
            });
        };
        let mut owner = vec![UNASSIGNED; SLOTS];
        for range in ranges {
            let (start, end, addr) = parse_range(range, asked)?;
            let index = self.index_of(&addr);
            owner[start..=end].fill(index);
        }
        self.owner = owner;
        Ok(())
    }

    /// The index of `addr`, added if new.
    pub fn index_of(&mut self, addr: &NodeAddr) -> u16 {
        if let Some(i) = self.nodes.iter().position(|n| n == addr) {
            return i as u16;
        }
        assert!(self.nodes.len() < usize::from(UNASSIGNED), "more nodes than slots");
        self.nodes.push(addr.clone());
        (self.nodes.len() - 1) as u16
    }

    /// Records that `slot` is served by `addr` (a `-MOVED` reply); returns
    /// the node's index.
    pub fn set_owner(&mut self, slot: SlotId, addr: &NodeAddr) -> u16 {
        let index = self.index_of(addr);
        self.owner[usize::from(slot.0)] = index;
        index
    }

    /// The index of the node serving `slot`, if any.
    pub fn owner(&self, slot: SlotId) -> Option<u16> {
        Some(self.owner[usize::from(slot.0)]).filter(|&i| i != UNASSIGNED)
    }

    /// The address of node `index`.
    pub fn node(&self, index: u16) -> &NodeAddr {
        &self.nodes[usize::from(index)]
    }

    /// Nodes known so far (serving slots or not).
    #[cfg(test)]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Indexes of the nodes that serve at least one slot, ascending.
    pub fn primaries(&self) -> Vec<u16> {
        let mut serving = vec![false; self.nodes.len()];
        for &i in self.owner.iter().filter(|&&i| i != UNASSIGNED) {
            serving[usize::from(i)] = true;
        }
        (0..self.nodes.len() as u16).filter(|&i| serving[usize::from(i)]).collect()
    }

    /// Slots no node serves.
    pub fn unassigned(&self) -> usize {
        self.owner.iter().filter(|&&i| i == UNASSIGNED).count()
    }
}

/// One `CLUSTER SLOTS` entry: its slot range and its primary.
fn parse_range(range: &Frame, asked: &str) -> Result<(usize, usize, NodeAddr), String> {
    let bad = || format!("unexpected CLUSTER SLOTS entry: {range:?}");
    let Frame::Array(parts) = range else { return Err(bad()) };
    let (Some(Frame::Integer(start)), Some(Frame::Integer(end)), Some(Frame::Array(primary))) =
        (parts.first(), parts.get(1), parts.get(2))
    else {
        return Err(bad());
    };
    let (start, end) = (usize::try_from(*start).map_err(|_| bad())?, usize::try_from(*end).map_err(|_| bad())?);
    if start > end || end >= SLOTS {
        return Err(bad());
    }
    let host = match primary.first() {
        Some(Frame::Bulk(h) | Frame::Simple(h)) => String::from_utf8_lossy(h).into_owned(),
        _ => return Err(bad()),
    };
    let port = match primary.get(1) {
        Some(Frame::Integer(p)) => u16::try_from(*p).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let host = if host.is_empty() || host == "?" { asked.to_string() } else { host };
    Ok((start, end, NodeAddr { host, port }))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn slots_as_redis_computes_them() {
        // Each value checked with CLUSTER KEYSLOT against gyre-server and
        // redis-server 7.0.
        for (key, slot) in [
            ("foo", 12182),
            ("bar", 5061),
            ("somekey", 11058),
            ("foo{hash_tag}", 2515),
            ("bar{hash_tag}", 2515),
            ("{user1000}.following", 3443),
            ("{user1000}.followers", 3443),
            ("key:000000000042", 7803),
            ("123456789", 12739),
            ("{}user", 12192),
            ("{{x}}", 11068),
            ("a{b}{c}", 3300),
        ] {
            assert_eq!(key_slot(key.as_bytes()), SlotId(slot), "{key}");
        }
    }

    fn entry(start: i64, end: i64, host: &str, port: i64) -> Frame {
        let node = Frame::Array(vec![
            Frame::Bulk(Bytes::from(host.to_string())),
            Frame::Integer(port),
            Frame::Bulk(Bytes::from_static(b"0123abcd")),
        ]);
        Frame::Array(vec![Frame::Integer(start), Frame::Integer(end), node])
    }

    #[test]
    fn slot_map_from_cluster_slots() {
        let reply = Frame::Array(vec![
            entry(0, 5460, "127.0.0.1", 7001),
            entry(5461, 10922, "", 7002),
            entry(10923, 16383, "127.0.0.1", 7003),
        ]);
        let mut map = SlotMap::default();
        assert_eq!(map.unassigned(), SLOTS);
        map.update(&reply, "10.0.0.9").unwrap();
        assert_eq!(map.unassigned(), 0);
        assert_eq!(map.primaries(), [0, 1, 2]);
        let owner = |s| map.node(map.owner(SlotId(s)).unwrap()).to_string();
        assert_eq!(owner(0), "127.0.0.1:7001");
        assert_eq!(owner(5461), "10.0.0.9:7002", "an empty host is the one asked");
        assert_eq!(owner(16383), "127.0.0.1:7003");
        // A refresh keeps indexes; a slot left out becomes unassigned.
        let moved = Frame::Array(vec![entry(0, 5460, "127.0.0.1", 7003), entry(10923, 16383, "127.0.0.1", 7004)]);
        map.update(&moved, "x").unwrap();
        assert_eq!(map.node_count(), 4);
        assert_eq!(map.owner(SlotId(0)), Some(2));
        assert_eq!(map.owner(SlotId(6000)), None);
        assert_eq!(map.primaries(), [2, 3]);
        let addr = NodeAddr { host: "127.0.0.1".into(), port: 7001 };
        assert_eq!(map.set_owner(SlotId(6000), &addr), 0);
        assert_eq!(map.owner(SlotId(6000)), Some(0));
    }

    #[test]
    fn bad_cluster_slots_replies_are_refused() {
        let mut map = SlotMap::default();
        let err = map.update(&Frame::Error(Bytes::from_static(b"ERR cluster support disabled")), "h");
        assert_eq!(err.unwrap_err(), "ERR cluster support disabled");
        assert!(map.update(&Frame::Array(vec![entry(5, 4, "h", 1)]), "h").is_err());
        assert!(map.update(&Frame::Array(vec![entry(0, 16384, "h", 1)]), "h").is_err());
        assert!(map.update(&Frame::Array(vec![entry(0, 1, "h", 70000)]), "h").is_err());
    }
}
