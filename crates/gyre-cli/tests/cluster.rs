//! gyre-cli against a real 3-node Gyre cluster (see `common::cluster`):
//! `-c` follows MOVED for one-shot commands, piped lines, a friendly verb and
//! the interactive prompt (which then shows the node and announces the
//! redirect); without `-c` the MOVED error is the output; `cluster status`
//! lists the three nodes with their slots, as text and JSON; `bench
//! --cluster` spreads a short load over all three primaries and reports each.
//!
//! One test drives one cluster through every check, so that the suite
//! starts three servers once (each check names itself in its failures).
//! Skipped (with a message) without gyre-server.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::TestCluster;
use common::terminal::{have_script, Terminal};
use common::{cli_within, start_server};
use serde_json::Value;

/// Longest a single gyre-cli run may take here.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// gyre-cli's stdout, asserting it exited 0.
fn cli_ok(args: &[&str], input: &str) -> String {
    let out = cli_within(args, input.as_bytes(), CLI_TIMEOUT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gyre-cli {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("utf8 output")
}

/// A key of the node on `port`: `{prefix}0`, `{prefix}1`... until one is.
fn key_on(cluster: &TestCluster, port: u16, prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| cluster.owner_of(key) == port)
        .unwrap_or_else(|| panic!("no key of node {port} among {prefix}0..9999"))
}

fn slot_of(cluster: &TestCluster, key: &str) -> i64 {
    match common::cluster::query(cluster.nodes[0].port, &["CLUSTER", "KEYSLOT", key]) {
        Ok(gyre_resp::Frame::Integer(slot)) => slot,
        other => panic!("CLUSTER KEYSLOT {key}: {other:?}"),
    }
}

#[test]
fn three_node_cluster() {
    let Some(cluster) = TestCluster::start(3) else { return };
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    redirects(&cluster, &ports);
    prompt_follows_redirects(&cluster, &ports);
    status(&ports);
    bench(&ports);
}

/// One-shot, piped and verb commands with and without `-c`.
fn redirects(cluster: &TestCluster, ports: &[u16]) {
    let p1 = ports[0].to_string();
    let key1 = key_on(cluster, ports[0], "user:");
    let key2 = key_on(cluster, ports[1], "user:");
    let key3 = key_on(cluster, ports[2], "user:");
    let (slot2, slot3) = (slot_of(cluster, &key2), slot_of(cluster, &key3));

    // Without -c, the MOVED error is the reply (and the exit code is 0).
    let moved = cli_ok(&["-p", &p1, "--no-raw", "SET", &key2, "v"], "");
    assert_eq!(moved, format!("(error) MOVED {slot2} 127.0.0.1:{}\n", ports[1]), "no -c");

    // With -c, one-shot commands land on the owner.
    for (key, value, owner) in [(&key2, "two", ports[1]), (&key3, "three", ports[2]), (&key1, "one", ports[0])] {
        assert_eq!(cli_ok(&["-c", "-p", &p1, "SET", key, value], ""), "OK\n", "-c SET {key}");
        assert_eq!(cli_ok(&["-c", "-p", &p1, "GET", key], ""), format!("{value}\n"), "-c GET {key}");
        let direct = cli_ok(&["-p", &owner.to_string(), "GET", key], "");
        assert_eq!(direct, format!("{value}\n"), "{key} is on its owner, port {owner}");
    }
    // A one-shot command does not announce the redirect (as redis-cli).
    let tty = cli_ok(&["-c", "-p", &p1, "--no-raw", "GET", &key3], "");
    assert_eq!(tty, "\"three\"\n", "one-shot -c output");

    // Piped lines follow too; the session stays on the last node it was sent to.
    let input = format!("SET {key2} a\nGET {key2}\nSET {key3} b\nGET {key3}\nGET {key1}\nINCR {key1}\n");
    let piped = cli_ok(&["-c", "-p", &p1], &input);
    let want = "OK\na\nOK\nb\none\nERR value is not an integer or out of range\n\n";
    assert_eq!(piped, want, "piped -c");
    let piped = cli_ok(&["-p", &p1], &format!("GET {key3}\n"));
    assert_eq!(piped, format!("MOVED {slot3} 127.0.0.1:{}\n\n", ports[2]), "piped without -c");

    // A friendly verb with -c.
    assert_eq!(cli_ok(&["-c", "-p", &p1, "put", &key3, "verb"], ""), "OK\n", "put with -c");
    assert_eq!(cli_ok(&["-p", &ports[2].to_string(), "GET", &key3], ""), "verb\n");
}

/// The prompt names the node it is on and announces each redirect.
fn prompt_follows_redirects(cluster: &TestCluster, ports: &[u16]) {
    if !have_script() {
        eprintln!("skipping the prompt check: script(1) is not installed");
        return;
    }
    let key2 = key_on(cluster, ports[1], "prompt:");
    let slot2 = slot_of(cluster, &key2);
    let histfile = std::env::temp_dir().join(format!("gyrecli-cluster-history-{}", std::process::id()));
    let mut term = Terminal::start_with(&format!("-c -p {}", ports[0]), &histfile);
    term.expect(&format!("127.0.0.1:{}> ", ports[0]));
    term.send(&format!("set {key2} x\r"));
    term.expect(&format!("-> Redirected to slot [{slot2}] located at 127.0.0.1:{}", ports[1]));
    term.expect("OK");
    term.expect(&format!("127.0.0.1:{}> ", ports[1]));
    term.send(&format!("get {key2}\r"));
    term.expect("\"x\"");
    term.send("quit\r");
    drop(term);
    let _ = std::fs::remove_file(&histfile);
}

/// `cluster status`, as text and JSON.
fn status(ports: &[u16]) {
    let p2 = ports[1].to_string();
    let text = cli_ok(&["-p", &p2, "cluster", "status"], "");
    assert!(text.starts_with("cluster:   ok (3 nodes, 16384 slots assigned)\n"), "{text}");
    assert!(text.contains("\nmoves:     0 in progress, 0 slots frozen\n"), "{text}");
    assert!(text.contains("\nraft:      leader "), "{text}");
    assert!(text.contains("\nfailover:  0 applied, "), "{text}");
    assert!(text.contains("\nreplicas:  "), "{text}");
    assert!(text.contains("\nentropy:   "), "{text}");
    let rows: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("ID ")).skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    let mut slots = Vec::new();
    for port in ports {
        let row = rows.iter().find(|r| r.contains(&format!(" 127.0.0.1:{port} "))).expect("a row per node");
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(words[2], "up", "{row}");
        slots.push(words[3].parse::<u32>().expect("a slot count"));
    }
    slots.sort();
    assert_eq!(slots, [5461, 5461, 5462], "{text}");
    assert!(rows.iter().any(|r| r.ends_with("myself") || r.contains("myself,")), "{text}");
    assert_eq!(text.matches("raft leader").count(), 1, "{text}");

    let json = cli_ok(&["-p", &p2, "cluster", "status", "--json"], "");
    let doc: Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(doc, serde_json::from_str::<Value>(&cli_ok(&["--json", "-p", &p2, "cluster", "status"], "")).unwrap());
    assert_eq!(doc["state"], "ok");
    assert_eq!(doc["moves_in_progress"], 0);
    assert_eq!(doc["slots_frozen"], 0);
    assert_eq!(doc["failovers"], 0);
    assert!(doc["replicas"].as_array().is_some_and(|r| r.len() <= 2), "{json}");
    assert!(doc["anti_entropy"]["rounds"].is_u64(), "{json}");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    let total: u64 = nodes.iter().map(|n| n["slots"].as_u64().unwrap()).sum();
    assert_eq!(total, 16384);
    assert!(nodes.iter().all(|n| n["state"] == "up"), "{json}");
    let leader = doc["raft_leader"].as_str().expect("a leader");
    assert_eq!(nodes.iter().filter(|n| n["id"] == leader && n["raft_leader"] == true).count(), 1, "{json}");
    let addresses: BTreeSet<&str> = nodes.iter().map(|n| n["address"].as_str().unwrap()).collect();
    let want: BTreeSet<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(addresses, want.iter().map(String::as_str).collect());
}

/// `bench --cluster` reaches every primary.
fn bench(ports: &[u16]) {
    let p3 = ports[2].to_string();
    let args =
        ["-p", &p3, "bench", "--cluster", "--json", "-n", "3000", "-c", "4", "-P", "4", "-r", "10000", "-t", "set,get"];
    let doc: Value = serde_json::from_str(&cli_ok(&args, "")).expect("valid JSON");
    for result in doc["results"].as_array().expect("results") {
        assert_eq!(result["requests"], 3000, "{result}");
        assert_eq!(result["errors"], 0, "{result}");
        let cluster = &result["cluster"];
        assert_eq!(cluster["moved"], 0, "the map was current: {result}");
        let nodes = cluster["nodes"].as_array().expect("per-node results");
        let addresses: BTreeSet<&str> = nodes.iter().map(|n| n["node"].as_str().unwrap()).collect();
        let want: BTreeSet<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        assert_eq!(addresses, want.iter().map(String::as_str).collect(), "{result}");
        let requests: Vec<u64> = nodes.iter().map(|n| n["requests"].as_u64().unwrap()).collect();
        assert_eq!(requests.iter().sum::<u64>(), 3000, "{result}");
        // 10,000 uniform keys over three equal shares: each gets about a third.
        assert!(requests.iter().all(|&r| (600..1400).contains(&r)), "{result}");
        assert!(nodes.iter().all(|n| n["rps"].as_f64().unwrap() > 0.0 && n["latency_ms"]["p99"].is_number()));
    }
    // The text report names every node under the total.
    let text = cli_ok(&["-c", "-p", &p3, "bench", "-n", "2000", "-c", "2", "-r", "1000", "-t", "ping,incr"], "");
    for port in ports {
        assert_eq!(text.matches(&format!("    127.0.0.1:{port}  ")).count(), 2, "{text}");
    }
    assert_eq!(
        text.matches("  cluster: 3 nodes; 0 MOVED and 0 ASK followed, 0 TRYAGAIN retried\n").count(),
        2,
        "{text}"
    );
}

#[test]
fn cluster_status_of_a_standalone_server_fails() {
    let Some((_server, port)) = start_server() else { return };
    let out = cli_within(&["-p", &port.to_string(), "cluster", "status"], b"", CLI_TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CLUSTER NODES failed: ERR This instance has cluster support disabled"), "{stderr}");
    // bench --cluster says why it cannot run.
    let out = cli_within(&["-p", &port.to_string(), "bench", "--cluster", "-n", "10"], b"", CLI_TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cluster support disabled"), "{stderr}");
}
