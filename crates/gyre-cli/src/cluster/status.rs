//! `gyre-cli cluster status`: one node's view of the cluster as a table,
//! read from `CLUSTER NODES` and `CLUSTER INFO` on the node gyre-cli
//! connects to (no other node is asked).
//!
//! Per node: an id prefix ([`ID_PREFIX_LEN`] characters), the client
//! address, the state (`up`; `suspect` for Redis's `fail?`; `down` for
//! `fail`), and how many slots it is primary of; then the cluster state,
//! the topology version, slot moves in progress, frozen slots, the Raft
//! leader, failovers and slots catching up, and the replicas the node
//! feeds with their lag and its anti-entropy counters (from its `INFO
//! replication`). Gyre's `gyre_*`
//! fields are optional: against a Redis Cluster node their lines are left
//! out (text) or `null` (JSON).
//!
//! Parsing and formatting are pure functions of the two replies' text, so
//! they are tested without a server.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::bail;
use gyre_resp::Frame;

use crate::json::json_string;
use crate::session::Session;

/// Characters of a node id shown in the table.
pub const ID_PREFIX_LEN: usize = 8;

/// Lines of `CLUSTER NODES` read at most (a cluster has far fewer nodes).
pub const NODES_MAX: usize = 10_000;

/// A node's health as its flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Neither `fail?` nor `fail`.
    Up,
    /// `fail?`: this node suspects it is down.
    Suspect,
    /// `fail`: down.
    Down,
}

impl NodeState {
    fn word(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Suspect => "suspect",
            NodeState::Down => "down",
        }
    }
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    /// The 40-character node id.
    pub id: String,
    /// `host:port` of its clients (without `@cport` and hostname).
    pub addr: String,
    /// Its flags, e.g. `myself`, `master`, `fail?`.
    pub flags: Vec<String>,
    /// `connected` or `disconnected`.
    pub link: String,
    /// Slot ranges it is primary of, inclusive.
    pub ranges: Vec<(u16, u16)>,
}

impl NodeLine {
    /// Health from the flags.
    pub fn state(&self) -> NodeState {
        if self.flags.iter().any(|f| f == "fail") {
            NodeState::Down
        } else if self.flags.iter().any(|f| f == "fail?") {
            NodeState::Suspect
        } else {
            NodeState::Up
        }
    }

    /// Whether this is the node that answered.
    pub fn is_myself(&self) -> bool {
        self.flags.iter().any(|f| f == "myself")
    }

    /// Slots in its ranges.
    pub fn slot_count(&self) -> u32 {
        self.ranges.iter().map(|&(a, b)| u32::from(b) - u32::from(a) + 1).sum()
    }
}

/// Parses `CLUSTER NODES` text: `id ip:port@cport[,hostname] flags master
/// ping pong epoch link slot...` per line. Slot words in brackets (a
/// migration in progress) are skipped.
pub fn parse_nodes(text: &str) -> Result<Vec<NodeLine>, String> {
    let mut nodes = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if nodes.len() == NODES_MAX {
            return Err(format!("CLUSTER NODES lists more than {NODES_MAX} nodes"));
        }
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if words.len() < 8 {
            return Err(format!("unexpected CLUSTER NODES line: {line}"));
        }
        let addr = words[1].split(['@', ',']).next().unwrap_or_default().to_string();
        let mut ranges = Vec::new();
        for word in words[8..].iter().filter(|w| !w.starts_with('[')) {
            let (a, b) = word.split_once('-').unwrap_or((word, word));
            match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) if a <= b && usize::from(b) < super::slot::SLOTS => ranges.push((a, b)),
                _ => return Err(format!("unexpected slot range {word:?} in CLUSTER NODES")),
            }
        }
        nodes.push(NodeLine {
            id: words[0].to_string(),
            addr,
            flags: words[2].split(',').map(str::to_string).collect(),
            link: words[7].to_string(),
            ranges,
        });
    }
    Ok(nodes)
}

/// A replica the node feeds, from its `INFO replication` (`slaveN:` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLine {
    /// `ip:port` of its clients.
    pub addr: String,
    /// `online` (its copy is complete) or Gyre's `copying`.
    pub state: String,
    /// Feed positions it has not acknowledged (Gyre's `gyre_lag_records`).
    pub lag_records: Option<u64>,
    /// Seconds since its last acknowledgement (`lag`).
    pub lag_seconds: Option<u64>,
}

/// Parses the `slaveN:ip=...,port=...,state=...,lag=...` lines of `INFO
/// replication`.
pub fn parse_replicas(text: &str) -> Vec<ReplicaLine> {
    let info = parse_info(text);
    let mut names: Vec<&String> =
        info.keys().filter(|k| k.starts_with("slave") && k[5..].parse::<u32>().is_ok()).collect();
    names.sort_by_key(|k| k[5..].parse::<u32>().unwrap_or(0));
    names
        .into_iter()
        .map(|k| {
            let fields: HashMap<&str, &str> = info[k].split(',').filter_map(|f| f.split_once('=')).collect();
            let number = |name: &str| fields.get(name).and_then(|v| v.parse().ok());
            ReplicaLine {
                addr: format!("{}:{}", fields.get("ip").unwrap_or(&"?"), fields.get("port").unwrap_or(&"?")),
                state: fields.get("state").unwrap_or(&"?").to_string(),
                lag_records: number("gyre_lag_records"),
                lag_seconds: number("lag"),
            }
        })
        .collect()
}

/// `CLUSTER INFO` (or `INFO`) text as `field -> value`.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The status as text.
pub fn render_text(nodes: &[NodeLine], info: &HashMap<String, String>, replicas: &[ReplicaLine]) -> String {
    let get = |name: &str| info.get(name).map(String::as_str);
    let leader = get("gyre_raft_leader").unwrap_or_default();
    let mut out = String::new();
    let assigned = get("cluster_slots_assigned").unwrap_or("?");
    let known = get("cluster_known_nodes").unwrap_or("?");
    let noun = if known == "1" { "node" } else { "nodes" };
    let _ =
        writeln!(out, "cluster:   {} ({known} {noun}, {assigned} slots assigned)", get("cluster_state").unwrap_or("?"));
    if let Some(version) = get("gyre_topology_version") {
        let current = if get("gyre_map_current") == Some("0") { ", not current on this node" } else { "" };
        let _ = writeln!(out, "topology:  version {version}{current}");
    }
    if let Some(moves) = get("gyre_slot_moves_in_progress") {
        let _ =
            writeln!(out, "moves:     {moves} in progress, {} slots frozen", get("gyre_slots_frozen").unwrap_or("?"));
    }
    if info.contains_key("gyre_raft_leader") {
        let who = match nodes.iter().find(|n| !leader.is_empty() && n.id == leader) {
            Some(n) => format!("{} ({})", short_id(&n.id), n.addr),
            None if leader.is_empty() => "none".to_string(),
            None => short_id(leader).to_string(),
        };
        let _ = writeln!(
            out,
            "raft:      leader {who}, {} voters, term {}",
            get("gyre_raft_voters").unwrap_or("?"),
            get("gyre_raft_term").unwrap_or("?")
        );
    }
    if let Some(failovers) = get("gyre_failovers") {
        let _ = writeln!(
            out,
            "failover:  {failovers} applied, {} slots of this node catching up",
            get("gyre_slots_catching_up").unwrap_or("?")
        );
    }
    if info.contains_key("gyre_failovers") || !replicas.is_empty() {
        let fed: Vec<String> = replicas
            .iter()
            .map(|r| {
                let records = r.lag_records.map_or(String::new(), |n| format!("{n} records, "));
                let seconds = r.lag_seconds.map_or("?".to_string(), |s| s.to_string());
                format!("{} {} (lag {records}{seconds} s)", r.addr, r.state)
            })
            .collect();
        let list = if fed.is_empty() { "none fed by this node".to_string() } else { fed.join("; ") };
        let _ = writeln!(out, "replicas:  {list}");
    }
    if let Some(parked) = get("gyre_feeds_parked") {
        let _ = writeln!(
            out,
            "hints:     {parked} feeds parked ({} bytes), {} replays ({} from the log)",
            get("gyre_hint_bytes").unwrap_or("?"),
            get("gyre_feed_resumes").unwrap_or("?"),
            get("gyre_feed_resumes_from_log").unwrap_or("?")
        );
    }
    if let Some(rounds) = get("gyre_anti_entropy_rounds") {
        let _ = writeln!(
            out,
            "entropy:   {rounds} rounds, {} replica slots found differing, {} keys repaired, {} keys forgotten here",
            get("gyre_anti_entropy_slots_differing").unwrap_or("?"),
            get("gyre_anti_entropy_keys_repaired").unwrap_or("?"),
            get("gyre_keys_forgotten").unwrap_or("?")
        );
    }
    out.push('\n');
    let width = nodes.iter().map(|n| n.addr.len()).max().unwrap_or(0).max("ADDRESS".len());
    let _ = writeln!(out, "{:<w$}  {:<width$}  {:<7}  {:>5}", "ID", "ADDRESS", "STATE", "SLOTS", w = ID_PREFIX_LEN);
    for n in nodes {
        let mut notes = Vec::new();
        if n.is_myself() {
            notes.push("myself");
        }
        if !leader.is_empty() && n.id == leader {
            notes.push("raft leader");
        }
        let line = format!(
            "{:<w$}  {:<width$}  {:<7}  {:>5}  {}",
            short_id(&n.id),
            n.addr,
            n.state().word(),
            n.slot_count(),
            notes.join(", "),
            w = ID_PREFIX_LEN
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The status as one JSON document (`null` for fields the server lacks).
pub fn render_json(nodes: &[NodeLine], info: &HashMap<String, String>, replicas: &[ReplicaLine]) -> String {
    let text = |name: &str| info.get(name).map_or("null".to_string(), |v| json_string(v));
    let number =
        |name: &str| info.get(name).filter(|v| v.parse::<u64>().is_ok()).map_or("null".to_string(), |v| v.to_string());
    let leader = info.get("gyre_raft_leader").filter(|l| !l.is_empty());
    let mut out = String::from("{");
    let _ = write!(
        out,
        "\"state\":{},\"known_nodes\":{},\"slots_assigned\":{},\"topology_version\":{},\
         \"map_current\":{},\"moves_in_progress\":{},\"slots_frozen\":{},\"raft_leader\":{},\
         \"raft_voters\":{},\"raft_term\":{},\"nodes\":[",
        text("cluster_state"),
        number("cluster_known_nodes"),
        number("cluster_slots_assigned"),
        number("gyre_topology_version"),
        info.get("gyre_map_current").map_or("null", |v| if v == "1" { "true" } else { "false" }),
        number("gyre_slot_moves_in_progress"),
        number("gyre_slots_frozen"),
        leader.map_or("null".to_string(), |l| json_string(l)),
        number("gyre_raft_voters"),
        number("gyre_raft_term"),
    );
    for (i, n) in nodes.iter().enumerate() {
        let flags: Vec<String> = n.flags.iter().map(|f| json_string(f)).collect();
        let ranges: Vec<String> = n.ranges.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
        let _ = write!(
            out,
            "{}{{\"id\":{},\"address\":{},\"state\":\"{}\",\"slots\":{},\"myself\":{},\"raft_leader\":{},\
             \"flags\":[{}],\"link\":{},\"ranges\":[{}]}}",
            if i > 0 { "," } else { "" },
            json_string(&n.id),
            json_string(&n.addr),
            n.state().word(),
            n.slot_count(),
            n.is_myself(),
            leader.is_some_and(|l| *l == n.id),
            flags.join(","),
            json_string(&n.link),
            ranges.join(",")
        );
    }
    let fed: Vec<String> = replicas
        .iter()
        .map(|r| {
            let opt = |v: Option<u64>| v.map_or("null".to_string(), |n| n.to_string());
            format!(
                "{{\"address\":{},\"state\":{},\"lag_records\":{},\"lag_seconds\":{}}}",
                json_string(&r.addr),
                json_string(&r.state),
                opt(r.lag_records),
                opt(r.lag_seconds)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "],\"failovers\":{},\"slots_catching_up\":{},\"replicas\":[{}],\
         \"hints\":{{\"parked\":{},\"bytes\":{},\"replays\":{},\"from_log\":{}}},\
         \"anti_entropy\":{{\"rounds\":{},\"slots_differing\":{},\"keys_repaired\":{},\"keys_forgotten\":{}}}}}",
        number("gyre_failovers"),
        number("gyre_slots_catching_up"),
        fed.join(","),
        number("gyre_feeds_parked"),
        number("gyre_hint_bytes"),
        number("gyre_feed_resumes"),
        number("gyre_feed_resumes_from_log"),
        number("gyre_anti_entropy_rounds"),
        number("gyre_anti_entropy_slots_differing"),
        number("gyre_anti_entropy_keys_repaired"),
        number("gyre_keys_forgotten"),
    );
    out
}

fn short_id(id: &str) -> &str {
    id.get(..ID_PREFIX_LEN).unwrap_or(id)
}

/// Reads both replies through `session` and returns the report (text, or
/// JSON with `json`). An error reply (a server without cluster mode) is the
/// error.
pub fn run(session: &mut Session, json: bool) -> anyhow::Result<String> {
    let nodes_text = text_reply(session, "NODES")?;
    let info_text = text_reply(session, "INFO")?;
    let nodes = parse_nodes(&nodes_text).map_err(anyhow::Error::msg)?;
    let mut info = parse_info(&info_text);
    let replicas = match session.call(&[b"INFO".to_vec(), b"replication".to_vec()])? {
        Frame::Bulk(text) | Frame::Verbatim { text, .. } => {
            let text = String::from_utf8_lossy(&text);
            // Its Gyre counters (anti-entropy) beside CLUSTER INFO's.
            info.extend(parse_info(&text).into_iter().filter(|(k, _)| k.starts_with("gyre_")));
            parse_replicas(&text)
        }
        _ => Vec::new(),
    };
    Ok(if json { render_json(&nodes, &info, &replicas) } else { render_text(&nodes, &info, &replicas) })
}

/// `CLUSTER <sub>`'s text reply.
fn text_reply(session: &mut Session, sub: &str) -> anyhow::Result<String> {
    match session.call(&[b"CLUSTER".to_vec(), sub.as_bytes().to_vec()])? {
        Frame::Bulk(text) | Frame::Verbatim { text, .. } | Frame::Simple(text) => {
            Ok(String::from_utf8_lossy(&text).into_owned())
        }
        Frame::Error(e) => bail!("CLUSTER {sub} failed: {}", String::from_utf8_lossy(&e)),
        other => bail!("unexpected reply to CLUSTER {sub}: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
1f3c9a0e5b7d2c4e6f8a0b1c2d3e4f5a6b7c8d9e 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
8b2d4f6a8c0e1a3b5c7d9e0f1a2b3c4d5e6f7a8b 127.0.0.1:7002@17002 master,fail? - 0 1700000000000 2 connected 5461-10922
c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1 127.0.0.1:7003@17003,node3 master,fail - 0 0 3 disconnected 10923-16382 16383 [16383->-8b2d4f6a8c0e1a3b5c7d9e0f1a2b3c4d5e6f7a8b]
";

    fn info() -> HashMap<String, String> {
        parse_info(
            "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\n\
             gyre_topology_version:7\r\ngyre_slot_moves_in_progress:1\r\ngyre_slots_frozen:0\r\n\
             gyre_raft_term:2\r\ngyre_raft_leader:8b2d4f6a8c0e1a3b5c7d9e0f1a2b3c4d5e6f7a8b\r\n\
             gyre_raft_voters:3\r\ngyre_map_current:1\r\n",
        )
    }

    #[test]
    fn node_lines_parse() {
        let nodes = parse_nodes(NODES).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].addr, "127.0.0.1:7001");
        assert!(nodes[0].is_myself());
        assert_eq!(nodes[0].slot_count(), 5461);
        assert_eq!(nodes[1].state(), NodeState::Suspect);
        assert_eq!(nodes[2].state(), NodeState::Down);
        assert_eq!(nodes[2].addr, "127.0.0.1:7003", "hostname and cluster port dropped");
        assert_eq!(nodes[2].ranges, [(10923, 16382), (16383, 16383)], "migrations skipped");
        assert_eq!(nodes[2].link, "disconnected");
        assert!(parse_nodes("short line").is_err());
        assert!(parse_nodes("a b:1@2 master - 0 0 1 connected 9-3").is_err());
        assert!(parse_nodes("a b:1@2 master - 0 0 1 connected 0-16384").is_err());
        assert_eq!(parse_nodes("\n").unwrap(), []);
    }

    #[test]
    fn text_table() {
        let text = render_text(&parse_nodes(NODES).unwrap(), &info(), &[]);
        let want = "\
cluster:   fail (3 nodes, 16384 slots assigned)
topology:  version 7
moves:     1 in progress, 0 slots frozen
raft:      leader 8b2d4f6a (127.0.0.1:7002), 3 voters, term 2

ID        ADDRESS         STATE    SLOTS
1f3c9a0e  127.0.0.1:7001  up        5461  myself
8b2d4f6a  127.0.0.1:7002  suspect   5462  raft leader
c3e5a7b9  127.0.0.1:7003  down      5461
";
        assert_eq!(text, want);
    }

    #[test]
    fn redis_cluster_without_gyre_fields() {
        let info = parse_info("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:1\r\n");
        let nodes = parse_nodes("abc 10.0.0.1:6379@16379 myself,master - 0 0 0 connected 0-16383\n").unwrap();
        let text = render_text(&nodes, &info, &[]);
        assert_eq!(
            text,
            "cluster:   ok (1 node, 16384 slots assigned)\n\nID        ADDRESS        STATE    SLOTS\n\
             abc       10.0.0.1:6379  up       16384  myself\n"
        );
        let json = render_json(&nodes, &info, &[]);
        assert!(json.contains("\"topology_version\":null,\"map_current\":null"), "{json}");
        assert!(json.contains("\"raft_leader\":null"), "{json}");
    }

    #[test]
    fn json_document() {
        let json = render_json(&parse_nodes(NODES).unwrap(), &info(), &[]);
        assert!(json.starts_with(
            "{\"state\":\"fail\",\"known_nodes\":3,\"slots_assigned\":16384,\"topology_version\":7,\
             \"map_current\":true,\"moves_in_progress\":1,\"slots_frozen\":0,\
             \"raft_leader\":\"8b2d4f6a8c0e1a3b5c7d9e0f1a2b3c4d5e6f7a8b\",\"raft_voters\":3,\"raft_term\":2,\
             \"nodes\":[{\"id\":\"1f3c9a0e5b7d2c4e6f8a0b1c2d3e4f5a6b7c8d9e\",\"address\":\"127.0.0.1:7001\",\
             \"state\":\"up\",\"slots\":5461,\"myself\":true,\"raft_leader\":false,\
             \"flags\":[\"myself\",\"master\"],\"link\":\"connected\",\"ranges\":[[0,5460]]}"
        ));
        assert!(
            json.ends_with(
                "\"ranges\":[[10923,16382],[16383,16383]]}],\"failovers\":null,\"slots_catching_up\":null,\"replicas\":[],\
                 \"hints\":{\"parked\":null,\"bytes\":null,\"replays\":null,\"from_log\":null},\
                 \"anti_entropy\":{\"rounds\":null,\"slots_differing\":null,\"keys_repaired\":null,\"keys_forgotten\":null}}\n"
            ),
            "{json}"
        );
    }

    #[test]
    fn replicas_and_failovers() {
        let replication = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave1:ip=127.0.0.23,port=7000,state=copying,offset=0,lag=3,gyre_tag=3,gyre_slots=5461,gyre_lag_records=40\r\n\
            slave0:ip=127.0.0.22,port=7000,state=online,offset=90,lag=0,gyre_tag=2,gyre_slots=5461,gyre_lag_records=0\r\n\
            master_repl_offset:90\r\n";
        let replicas = parse_replicas(replication);
        assert_eq!(replicas.len(), 2);
        assert_eq!(replicas[0].addr, "127.0.0.22:7000", "in slave order");
        assert_eq!(
            (replicas[1].state.as_str(), replicas[1].lag_records, replicas[1].lag_seconds),
            ("copying", Some(40), Some(3))
        );
        let mut info = info();
        info.insert("gyre_failovers".into(), "1".into());
        info.insert("gyre_slots_catching_up".into(), "0".into());
        info.insert("gyre_anti_entropy_rounds".into(), "12".into());
        info.insert("gyre_anti_entropy_slots_differing".into(), "2".into());
        info.insert("gyre_anti_entropy_keys_repaired".into(), "7".into());
        info.insert("gyre_feeds_parked".into(), "1".into());
        info.insert("gyre_hint_bytes".into(), "2048".into());
        info.insert("gyre_feed_resumes".into(), "3".into());
        info.insert("gyre_feed_resumes_from_log".into(), "1".into());
        info.insert("gyre_keys_forgotten".into(), "5".into());
        let text = render_text(&parse_nodes(NODES).unwrap(), &info, &replicas);
        assert!(text.contains("failover:  1 applied, 0 slots of this node catching up\n"), "{text}");
        assert!(text.contains("hints:     1 feeds parked (2048 bytes), 3 replays (1 from the log)\n"), "{text}");
        assert!(
            text.contains(
                "entropy:   12 rounds, 2 replica slots found differing, 7 keys repaired, 5 keys forgotten here\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "replicas:  127.0.0.22:7000 online (lag 0 records, 0 s); 127.0.0.23:7000 copying (lag 40 records, 3 s)\n"
            ),
            "{text}"
        );
        let json = render_json(&parse_nodes(NODES).unwrap(), &info, &replicas);
        assert!(json.contains("\"failovers\":1,\"slots_catching_up\":0,\"replicas\":[{\"address\":\"127.0.0.22:7000\",\"state\":\"online\",\"lag_records\":0,\"lag_seconds\":0},"), "{json}");
        assert!(
            json.contains(
                "\"hints\":{\"parked\":1,\"bytes\":2048,\"replays\":3,\"from_log\":1},\"anti_entropy\":{\"rounds\":12,\"slots_differing\":2,\"keys_repaired\":7,\"keys_forgotten\":5}}"
            ),
            "{json}"
        );
        // A Redis replica line has no Gyre fields.
        let redis = parse_replicas("slave0:ip=10.0.0.2,port=6380,state=online,offset=5,lag=1\r\n");
        assert_eq!(redis[0].lag_records, None);
    }
}
