//! CLUSTER and the connection commands cluster clients send (READONLY,
//! READWRITE, ASKING), with Redis 7's reply shapes. The topology comes from
//! `gyre-cluster`; see docs/CLUSTER.md for what each field means in Gyre.
//!
//! Commands of Redis Cluster's manual slot management (ADDSLOTS, MEET,
//! SETSLOT, REPLICATE, FAILOVER, ...) answer an error that says why: Gyre
//! assigns slots itself, through its agreed topology.

use std::time::Duration;

use gyre_cluster::{Health, Member, NodeTag, Topology, SLOTS};
use gyre_engine::SlotId;

use super::client::sub;
use super::flags::*;
use super::introspect::help_reply;
use super::table::{cmd, NOKEYS};
use super::{err, Call, CmdError, CmdResult, CommandSpec, Group};
use crate::cluster::Face;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "cluster",
        -2,
        0,
        NOKEYS,
        Cluster,
        "3.0.0",
        "A container for Redis Cluster commands.",
        "",
        super::introspect::container,
        SUBCOMMANDS
    ),
    cmd!(
        "readonly",
        1,
        FAST | LOADING | STALE,
        NOKEYS,
        Cluster,
        "3.0.0",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
        "",
        readonly
    ),
    cmd!(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        NOKEYS,
        Cluster,
        "3.0.0",
        "Enables read-write queries for a connection to a Reids Cluster replica node.",
        "",
        readwrite
    ),
    cmd!(
        "asking",
        1,
        FAST,
        NOKEYS,
        Cluster,
        "3.0.0",
        "Signals that a cluster client is following an -ASK redirect.",
        "",
        ok
    ),
];

macro_rules! csub {
    ($name:literal, $arity:expr, $flags:expr, $summary:literal, $syntax:literal, $handler:expr) => {
        CommandSpec {
            group: Group::Cluster,
            since: "3.0.0",
            ..sub!($name, $arity, $flags, $summary, $syntax, $handler)
        }
    };
}

static SUBCOMMANDS: &[CommandSpec] = &[
    csub!("slots", 2, LOADING | STALE, "Returns the mapping of cluster slots to nodes.", "", slots),
    csub!("shards", 2, LOADING | STALE, "Returns the mapping of cluster slots to shards.", "", shards),
    csub!("nodes", 2, STALE, "Returns the cluster configuration for a node.", "", nodes),
    csub!("info", 2, STALE, "Returns information about the state of a node.", "", info),
    csub!("myid", 2, STALE, "Returns the ID of a node.", "", myid),
    csub!("myshardid", 2, STALE, "Returns the shard ID of a node.", "", myid),
    csub!("keyslot", 3, STALE, "Returns the hash slot for a key.", "key", keyslot),
    csub!("countkeysinslot", 3, STALE, "Returns the number of keys in a hash slot.", "slot", countkeysinslot),
    csub!("getkeysinslot", 4, STALE, "Returns the key names in a hash slot.", "slot count", getkeysinslot),
    csub!(
        "digest",
        -3,
        STALE,
        "Returns this node's digest of each hash slot given: equal on two nodes exactly when they hold the slot's keys and tombstones at the same versions (Gyre).",
        "slot [slot ...]",
        digest
    ),
    csub!(
        "digest-buckets",
        3,
        STALE,
        "Returns this node's digest of a hash slot split into 64 buckets of keys, for anti-entropy to narrow a slot that differs (Gyre).",
        "slot",
        digest_buckets
    ),
    csub!(
        "digest-keys",
        -4,
        STALE,
        "Returns the keys and tombstones of a hash slot's digest buckets with their versions, for anti-entropy (Gyre).",
        "slot bucket [bucket ...]",
        digest_keys
    ),
    csub!("links", 2, STALE, "Returns a list of all TCP links to and from peer nodes.", "", links),
    csub!("replicas", 3, ADMIN | STALE, "Lists the replica nodes of a master node.", "node-id", replicas),
    csub!("slaves", 3, ADMIN | STALE, "Lists the replica nodes of a master node.", "node-id", replicas),
    csub!(
        "leave",
        2,
        ADMIN | NOSCRIPT | NO_MULTI,
        "Hands this node's slots to the others and leaves the cluster (Gyre).",
        "",
        leave
    ),
    csub!(
        "forget",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING | NO_MULTI,
        "Removes a node from the cluster; its slots go to the others.",
        "node-id",
        forget
    ),
    csub!(
        "consistency",
        -2,
        LOADING | STALE | FAST,
        "Shows or sets this connection's write and read consistency: how many copies hold a write before it is acknowledged, or what a read returns before it answers (Gyre).",
        "[WRITE <ONE | QUORUM | ALL | DEFAULT>] [READ <ONE | QUORUM | ALL | DEFAULT>]",
        consistency
    ),
    csub!("help", 2, LOADING | STALE, "Returns helpful text about the different subcommands.", "", help),
    csub!("addslots", -3, ADMIN | STALE | NO_ASYNC_LOADING, "Assigns new hash slots to a node.", "slot [slot ...]", manual),
    csub!(
        "addslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        "Assigns new hash slot ranges to a node.",
        "start-slot end-slot [start-slot end-slot ...]",
        manual
    ),
    csub!("delslots", -3, ADMIN | STALE | NO_ASYNC_LOADING, "Sets hash slots as unbound for a node.", "slot [slot ...]", manual),
    csub!(
        "delslotsrange",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        "Sets hash slot ranges as unbound for a node.",
        "start-slot end-slot [start-slot end-slot ...]",
        manual
    ),
    csub!("flushslots", 2, ADMIN | STALE | NO_ASYNC_LOADING, "Deletes all slots information from a node.", "", manual),
    csub!(
        "meet",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        "Forces a node to handshake with another node.",
        "ip port [cluster-bus-port]",
        manual
    ),
    csub!("replicate", 3, ADMIN | STALE | NO_ASYNC_LOADING, "Configure a node as replica of a master node.", "node-id", manual),
    csub!(
        "setslot",
        -4,
        ADMIN | STALE | NO_ASYNC_LOADING,
        "Binds a hash slot to a node.",
        "slot <IMPORTING node-id | MIGRATING node-id | NODE node-id | STABLE>",
        manual
    ),
    csub!(
        "failover",
        -2,
        ADMIN | STALE | NO_ASYNC_LOADING,
        "Forces a replica to perform a manual failover of its master.",
        "[FORCE | TAKEOVER]",
        manual
    ),
    csub!("reset", -2, ADMIN | STALE | NOSCRIPT, "Resets a node.", "[HARD | SOFT]", manual),
    csub!("saveconfig", 2, ADMIN | STALE | NO_ASYNC_LOADING, "Forces a node to save the cluster configuration to disk.", "", manual),
    csub!("set-config-epoch", 3, ADMIN | STALE | NO_ASYNC_LOADING, "Sets the configuration epoch for a new node.", "config-epoch", manual),
    csub!("bumpepoch", 2, ADMIN | STALE | NO_ASYNC_LOADING, "Advances the cluster config epoch.", "", manual),
    csub!(
        "count-failure-reports",
        3,
        ADMIN | STALE,
        "Returns the number of active failure reports active for a node.",
        "node-id",
        manual
    ),
];

/// ASKING: `+OK` on every cluster node; refused outside cluster mode, as
/// Redis does.
fn ok(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    call.out.ok();
    Ok(())
}

/// READONLY: reads of slots this node replicates are served here, possibly
/// stale (see `cluster::route`); refused outside cluster mode.
fn readonly(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    call.client.readonly = true;
    call.out.ok();
    Ok(())
}

/// READWRITE: back to redirecting every command for a slot led elsewhere.
fn readwrite(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    call.client.readonly = false;
    call.out.ok();
    Ok(())
}

fn face<'a>(call: &Call<'a>) -> Result<&'a Face, CmdError> {
    call.shared.cluster.get().ok_or_else(|| err("ERR This instance has cluster support disabled"))
}

/// CLUSTER CONSISTENCY [WRITE level] [READ level]: without arguments,
/// `write <level> read <level>` (this connection's, else the server's
/// `write-consistency` and `read-consistency`); with WRITE or READ (or
/// both), sets this connection's levels (`default`: the server's again).
fn consistency(call: &mut Call<'_>) -> CmdResult {
    use crate::replication::Consistency;
    let face = face(call)?;
    if call.argc() == 2 {
        let settings = call.shared.config.settings();
        let server = settings.cluster.as_ref();
        let write = call
            .client
            .write_consistency
            .unwrap_or_else(|| server.map_or_else(Default::default, |c| c.write_consistency));
        let read = call.client.read_consistency.unwrap_or(face.read_consistency);
        call.out.array(4);
        call.out.bulk(b"write");
        call.out.bulk(write.name().as_bytes());
        call.out.bulk(b"read");
        call.out.bulk(read.name().as_bytes());
        return Ok(());
    }
    const SYNTAX: &str = "ERR syntax error: CLUSTER CONSISTENCY [WRITE <ONE | QUORUM | ALL | DEFAULT>] [READ <ONE | QUORUM | ALL | DEFAULT>]";
    if !call.argc().is_multiple_of(2) {
        return Err(err(SYNTAX));
    }
    // Validated whole before anything changes.
    let (mut write, mut read) = (call.client.write_consistency, call.client.read_consistency);
    for i in (2..call.argc()).step_by(2) {
        let what = String::from_utf8_lossy(call.arg(i)).to_ascii_lowercase();
        if what != "write" && what != "read" {
            return Err(err(SYNTAX));
        }
        let word = String::from_utf8_lossy(call.arg(i + 1)).to_ascii_lowercase();
        let level =
            match word.as_str() {
                "default" => None,
                w => Some(Consistency::parse(w).ok_or_else(|| {
                    CmdError::Msg(format!("ERR {what} consistency must be ONE, QUORUM, ALL or DEFAULT"))
                })?),
            };
        if what == "write" {
            write = level;
        } else {
            read = level;
        }
    }
    (call.client.write_consistency, call.client.read_consistency) = (write, read);
    call.out.ok();
    Ok(())
}

fn help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "CLUSTER", SUBCOMMANDS);
    Ok(())
}

fn manual(call: &mut Call<'_>) -> CmdResult {
    let name = String::from_utf8_lossy(call.arg(1)).to_ascii_uppercase();
    Err(CmdError::Msg(format!(
        "ERR CLUSTER {name} is not supported: Gyre assigns slots, replicas and failovers itself through its agreed topology; nodes join with --join and leave with CLUSTER LEAVE or CLUSTER FORGET (see docs/CLUSTER.md)"
    )))
}

/// Runs of consecutive slots with the same primary, in slot order.
fn primary_ranges(t: &Topology) -> Vec<(u16, u16, NodeTag)> {
    let mut out: Vec<(u16, u16, NodeTag)> = Vec::new();
    for (i, s) in t.slots.iter().enumerate() {
        let Some(&p) = s.replicas.first() else { continue };
        match out.last_mut() {
            Some(r) if r.1 as usize + 1 == i && r.2 == p => r.1 = i as u16,
            _ => out.push((i as u16, i as u16, p)),
        }
    }
    out
}

/// CLUSTER SLOTS: `[start, end, [ip, port, id, {}]]` per run of slots, the
/// primary only. Every Gyre node is the primary of some slots and a
/// replica of others; Redis Cluster clients take a node named as a replica
/// anywhere for a replica everywhere (redis-py's `PRIMARIES` would skip
/// it), so replicas are not listed here (see docs/CLUSTER.md; READONLY
/// connections to a replica read its copy).
fn slots(call: &mut Call<'_>) -> CmdResult {
    let t = face(call)?.cluster.topology();
    let ranges = primary_ranges(&t);
    call.out.array(ranges.len());
    for (start, end, tag) in ranges {
        let m = t.member(tag).expect("slots name members");
        call.out.array(3);
        call.out.integer(start as i64);
        call.out.integer(end as i64);
        call.out.array(4);
        call.out.bulk(m.client.host.as_bytes());
        call.out.integer(m.client.port as i64);
        call.out.bulk(m.id.as_str().as_bytes());
        call.out.map(0);
    }
    Ok(())
}

fn health_word(face: &Face, m: &Member) -> Health {
    face.cluster.health(&m.id).unwrap_or(Health::Up)
}

/// CLUSTER SHARDS: one shard per member (each is the primary of its slots).
fn shards(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    let t = face.cluster.topology();
    call.out.array(t.members.len());
    for m in t.members.values() {
        let ranges = t.primary_ranges(m.tag);
        call.out.map(2);
        call.out.bulk(b"slots");
        call.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            call.out.integer(a as i64);
            call.out.integer(b as i64);
        }
        call.out.bulk(b"nodes");
        call.out.array(1);
        call.out.map(7);
        call.out.bulk(b"id");
        call.out.bulk(m.id.as_str().as_bytes());
        call.out.bulk(b"port");
        call.out.integer(m.client.port as i64);
        call.out.bulk(b"ip");
        call.out.bulk(m.client.host.as_bytes());
        call.out.bulk(b"endpoint");
        call.out.bulk(m.client.host.as_bytes());
        call.out.bulk(b"role");
        call.out.bulk(b"master");
        call.out.bulk(b"replication-offset");
        call.out.integer(0);
        call.out.bulk(b"health");
        call.out.bulk(if health_word(face, m) == Health::Down { b"fail" } else { b"online" });
    }
    Ok(())
}

/// A member's config epoch: its tag, unique and stable.
fn config_epoch(m: &Member) -> u64 {
    m.tag.0 as u64
}

fn current_epoch(t: &Topology) -> u64 {
    t.version.max(t.members.keys().map(|k| k.0 as u64).max().unwrap_or(0))
}

/// A member's line in Redis's CLUSTER NODES format, up to its slots: as a
/// master, or (with `master`) as a replica of that member.
fn node_line(call: &Call<'_>, face: &Face, m: &Member, master: Option<&Member>) -> String {
    let me = face.cluster.tag();
    let health = health_word(face, m);
    let mut flags = if Some(m.tag) == me { "myself,".to_string() } else { String::new() };
    flags.push_str(if master.is_some() { "slave" } else { "master" });
    match health {
        Health::Suspect => flags.push_str(",fail?"),
        Health::Down => flags.push_str(",fail"),
        Health::Up => {}
    }
    let pong = if Some(m.tag) == me || health == Health::Down { 0 } else { call.now_ms };
    let link = if health == Health::Down { "disconnected" } else { "connected" };
    format!(
        "{} {}:{}@{} {flags} {} 0 {pong} {} {link}",
        m.id,
        m.client.host,
        m.client.port,
        m.cluster.port,
        master.map_or("-", |p| p.id.as_str()),
        config_epoch(m)
    )
}

/// CLUSTER NODES: Redis's line format, every member a master of the slots
/// it is primary of.
fn nodes(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    let t = face.cluster.topology();
    let mut text = String::new();
    for m in t.members.values() {
        text.push_str(&node_line(call, face, m, None));
        for (a, b) in t.primary_ranges(m.tag) {
            if a == b {
                text.push_str(&format!(" {a}"));
            } else {
                text.push_str(&format!(" {a}-{b}"));
            }
        }
        text.push('\n');
    }
    call.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// CLUSTER INFO: Redis's fields, then Gyre's topology and Raft state.
fn info(call: &mut Call<'_>) -> CmdResult {
    use std::sync::atomic::Ordering::Relaxed;
    let face = face(call)?;
    let t = face.cluster.topology();
    let (mut ok, mut pfail, mut fail) = (0, 0, 0);
    for s in &t.slots {
        let Some(p) = s.replicas.first().and_then(|p| t.member(*p)) else { continue };
        match health_word(face, p) {
            Health::Up => ok += 1,
            Health::Suspect => pfail += 1,
            Health::Down => fail += 1,
        }
    }
    let assigned = t.assigned();
    let current = face.cluster.map_is_current();
    let state = if assigned == SLOTS && fail == 0 && face.cluster.tag().is_some() && current { "ok" } else { "fail" };
    let size = t.members.keys().filter(|k| t.primary_count(**k) > 0).count();
    let my_epoch = face.cluster.tag().and_then(|k| t.member(k)).map_or(0, config_epoch);
    let raft = face.cluster.raft_view();
    let moves = t.moving();
    let text = format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{size}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\ngyre_topology_version:{}\r\ngyre_replication_factor:{}\r\ngyre_slot_moves_in_progress:{moves}\r\ngyre_raft_term:{}\r\ngyre_raft_leader:{}\r\ngyre_raft_voters:{}\r\ngyre_raft_joint:{}\r\ngyre_swim_bad_datagrams:{}\r\ngyre_map_current:{}\r\ngyre_slots_frozen:{}\r\ngyre_slots_moved_out:{}\r\ngyre_slots_moved_in:{}\r\ngyre_move_bytes_sent:{}\r\ngyre_move_records_received:{}\r\ngyre_moves_failed:{}\r\ngyre_publish_dropped:{}\r\ngyre_slots_catching_up:{}\r\ngyre_failovers:{}\r\n",
        t.members.len(),
        current_epoch(&t),
        t.version,
        t.replication_factor,
        raft.term,
        raft.leader.and_then(|l| t.member(l)).map_or("", |m| m.id.as_str()),
        raft.voters.len(),
        u8::from(raft.joint),
        face.cluster.bad_datagrams(),
        u8::from(current),
        face.moves.frozen_count(),
        face.moves.slots_out.load(Relaxed),
        face.moves.slots_in.load(Relaxed),
        face.moves.bytes_out.load(Relaxed),
        face.moves.records_in.load(Relaxed),
        face.moves.failed.load(Relaxed),
        face.cluster.publish_dropped(),
        face.slots_catching_up(),
        t.failovers,
    );
    call.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn myid(call: &mut Call<'_>) -> CmdResult {
    let id = face(call)?.my_id.clone();
    call.out.bulk(id.as_bytes());
    Ok(())
}

fn keyslot(call: &mut Call<'_>) -> CmdResult {
    let slot = SlotId::of(call.arg(2)).0;
    call.out.integer(slot as i64);
    Ok(())
}

fn countkeysinslot(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    let slot = call.int_arg(2)?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(err("ERR Invalid slot"));
    }
    let slot = SlotId(slot as u16);
    let n = call.shared.ks.db(0).lock(slot).slot_len(slot);
    call.out.integer(n as i64);
    Ok(())
}

/// CLUSTER DIGEST slot [slot ...]: the digest of each slot's copy here
/// (its keys and tombstones with their versions; 0 for an empty slot), as
/// a signed 64-bit integer. Replicas of a slot that converged answer the
/// same; a primary compares its replicas' with its own (anti-entropy, see
/// `replication`).
fn digest(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    let slots = (2..call.argc()).map(|i| slot_arg(call, i)).collect::<Result<Vec<_>, _>>()?;
    call.out.array(slots.len());
    for slot in slots {
        call.out.integer(call.shared.ks.slot_digest(0, slot) as i64);
    }
    Ok(())
}

fn slot_arg(call: &Call<'_>, i: usize) -> Result<SlotId, CmdError> {
    let slot = call.int_arg(i)?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(err("ERR Invalid slot"));
    }
    Ok(SlotId(slot as u16))
}

/// CLUSTER DIGEST-BUCKETS slot: the slot's digest split into 64 buckets by
/// key (their XOR is `CLUSTER DIGEST`'s), as signed 64-bit integers. A
/// primary compares a replica's with its own to narrow a slot that differs
/// (anti-entropy, see `replication`).
fn digest_buckets(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    let slot = slot_arg(call, 2)?;
    let buckets = call.shared.ks.slot_bucket_digests(0, slot);
    call.out.array(buckets.len());
    for b in buckets {
        call.out.integer(b as i64);
    }
    Ok(())
}

/// CLUSTER DIGEST-KEYS slot bucket [bucket ...]: every key and tombstone
/// of those digest buckets of the slot, as `[key, hlc, node]` (its
/// version), for a primary to find which keys differ in a replica's copy.
fn digest_keys(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    let slot = slot_arg(call, 2)?;
    let mut buckets = 0u64;
    for i in 3..call.argc() {
        let b = call.int_arg(i)?;
        if !(0..gyre_engine::DIGEST_BUCKETS as i64).contains(&b) {
            return Err(err("ERR Invalid bucket"));
        }
        buckets |= 1 << b;
    }
    let versions = call.shared.ks.slot_versions_in(0, slot, buckets);
    call.out.array(versions.len());
    for (key, version) in versions {
        call.out.array(3);
        call.out.bulk(&key);
        call.out.integer(version.hlc() as i64);
        call.out.integer(i64::from(version.node()));
    }
    Ok(())
}

fn getkeysinslot(call: &mut Call<'_>) -> CmdResult {
    face(call)?;
    let slot = call.int_arg(2)?;
    let count = call.int_arg(3)?;
    if !(0..SLOTS as i64).contains(&slot) || count < 0 {
        return Err(err("ERR Invalid slot or number of keys"));
    }
    let slot = SlotId(slot as u16);
    let keys: Vec<Vec<u8>> = {
        let shard = call.shared.ks.db(0).lock(slot);
        shard.iter().filter(|(k, _)| SlotId::of(k) == slot).take(count as usize).map(|(k, _)| k.to_vec()).collect()
    };
    call.out.array(keys.len());
    for k in &keys {
        call.out.bulk(k);
    }
    Ok(())
}

/// CLUSTER LINKS: one link each way per member SWIM says is up.
fn links(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    let t = face.cluster.topology();
    let peers: Vec<&Member> = t
        .members
        .values()
        .filter(|m| m.id != *face.cluster.node_id() && health_word(face, m) != Health::Down)
        .collect();
    call.out.array(peers.len() * 2);
    for m in peers {
        for direction in [&b"to"[..], b"from"] {
            call.out.map(6);
            call.out.bulk(b"direction");
            call.out.bulk(direction);
            call.out.bulk(b"node");
            call.out.bulk(m.id.as_str().as_bytes());
            call.out.bulk(b"create-time");
            call.out.integer(0);
            call.out.bulk(b"events");
            call.out.bulk(b"r");
            call.out.bulk(b"send-buffer-allocated");
            call.out.integer(0);
            call.out.bulk(b"send-buffer-used");
            call.out.integer(0);
        }
    }
    Ok(())
}

/// CLUSTER REPLICAS / SLAVES node-id: the members that hold a copy of
/// some slot the node is primary of, each as a CLUSTER NODES line naming
/// it their master (a Gyre member is also the primary of slots of its
/// own, which CLUSTER NODES shows).
fn replicas(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    let id = String::from_utf8_lossy(call.arg(2)).into_owned();
    let t = face.cluster.topology();
    let Some(primary) = t.member_by_id(&id) else {
        return Err(CmdError::Msg(format!("ERR Unknown node {id}")));
    };
    let mut tags: Vec<NodeTag> = t
        .slots
        .iter()
        .filter(|s| s.replicas.first() == Some(&primary.tag))
        .flat_map(|s| s.replicas[1..].iter().copied())
        .collect();
    tags.sort();
    tags.dedup();
    let lines: Vec<String> =
        tags.iter().filter_map(|r| t.member(*r)).map(|m| node_line(call, face, m, Some(primary))).collect();
    call.out.array(lines.len());
    for line in lines {
        call.out.bulk(line.as_bytes());
    }
    Ok(())
}

/// Runs a topology change to completion (a Raft commit), on this worker
/// thread: rare, operator-driven, and bounded by a timeout.
fn wait_for<T>(fut: impl std::future::Future<Output = Result<T, gyre_cluster::Error>>) -> Result<T, CmdError> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| err("ERR no runtime to run the change on"))?;
    let r = tokio::task::block_in_place(|| handle.block_on(tokio::time::timeout(Duration::from_secs(30), fut)));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CmdError::Msg(format!("ERR {e}"))),
        Err(_) => Err(err("ERR the topology change timed out; it may still apply (see CLUSTER INFO)")),
    }
}

/// How long CLUSTER LEAVE waits for this node's slots to move away.
const LEAVE_WAIT: Duration = Duration::from_secs(25);

fn leave(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    // Bounded below `wait_for`'s limit, so a long hand-over answers why;
    // sent again, LEAVE waits again for the moves still going on.
    wait_for(face.cluster.leave(LEAVE_WAIT))?;
    call.out.ok();
    Ok(())
}

fn forget(call: &mut Call<'_>) -> CmdResult {
    let face = face(call)?;
    let id = String::from_utf8_lossy(call.arg(2)).into_owned();
    if id.eq_ignore_ascii_case(&face.my_id) {
        return Err(err("ERR I tried hard but I can't forget myself..."));
    }
    wait_for(face.cluster.forget(&id))?;
    call.out.ok();
    Ok(())
}
