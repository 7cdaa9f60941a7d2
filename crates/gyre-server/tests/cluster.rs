//! A cluster of three real `gyre-server` processes on 127.0.0.x: formation,
//! the same CLUSTER SLOTS on every node, MOVED / CROSSSLOT / SELECT, the
//! redis crate's cluster client writing and reading 1000 keys, DBSIZE
//! counting each key once, a restart that keeps the node's id and slots, a
//! killed node reported down and forgotten, a node cut off from the Raft
//! majority refusing to serve, five nodes with five Raft voters checked by
//! `redis-cli --cluster check`, loaded by `redis-benchmark --cluster` and
//! used by redis-py's `RedisCluster` (tests/clients/redis_py_cluster.py), and
//! a fourth node joining and leaving under load with its slots' data.
//!
//! Every process is killed when its `Node` drops (also on a failed
//! assertion), and every wait is bounded.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Commands, Value};

const WAIT: Duration = Duration::from_secs(30);

/// The tests of this file run one at a time: each starts three to five
/// servers, and on a 2-core machine several clusters at once starve each
/// other's timers (SWIM and Raft time out, and a bounded wait with them).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A port free for TCP and UDP on `ip`.
fn free_port(ip: &str) -> u16 {
    loop {
        let l = TcpListener::bind((ip, 0)).expect("bind a free port");
        let p = l.local_addr().unwrap().port();
        if UdpSocket::bind((ip, p)).is_ok() && p < 55000 {
            return p;
        }
    }
}

struct Node {
    child: Option<Child>,
    ip: String,
    port: u16,
    args: Vec<String>,
    log: PathBuf,
    /// The network namespace it runs in (partition tests).
    netns: Option<String>,
}

impl Node {
    fn start(root: &std::path::Path, n: u8, join: Option<&Node>) -> Node {
        Node::start_with(root, n, join, &[])
    }

    /// [`Node::start`] with more flags.
    fn start_with(root: &std::path::Path, n: u8, join: Option<&Node>, extra: &[String]) -> Node {
        let ip = format!("127.0.0.{}", 10 + n);
        let port = free_port(&ip);
        let cport = free_port(&ip);
        let dir = root.join(format!("n{n}"));
        let mut args: Vec<String> = [
            "--bind",
            &ip,
            "--port",
            &port.to_string(),
            "--cluster-port",
            &cport.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--cluster-secret",
            "test-secret",
            "--node-timeout-ms",
            "2000",
            "--gossip-interval-ms",
            "200",
            // Small log segments: each reserves its size on disk.
            "--wal-segment-bytes",
            "1mb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // `extra` is flag-value pairs; one already set here replaces its value.
        for pair in extra.chunks(2) {
            match args.iter().position(|a| *a == pair[0]) {
                Some(i) if pair.len() == 2 => args[i + 1] = pair[1].clone(),
                _ => args.extend(pair.iter().cloned()),
            }
        }
        let mut node =
            Node { child: None, ip, port, args: args.clone(), log: root.join(format!("n{n}.log")), netns: None };
        if let Some(seed) = join {
            args.push("--join".into());
            args.push(seed.cluster_addr());
        }
        node.spawn(&args);
        node
    }

    fn cluster_addr(&self) -> String {
        let i = self.args.iter().position(|a| a == "--cluster-port").unwrap();
        format!("{}:{}", self.ip, self.args[i + 1])
    }

    fn spawn(&mut self, args: &[String]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut cmd = match &self.netns {
            // `ip netns exec` execs the server: the child is the server.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_gyre-server")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_gyre-server")),
        };
        let child = cmd.args(args).stdout(Stdio::null()).stderr(log).spawn().expect("spawn gyre-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect((self.ip.as_str(), self.port)).is_err() {
            assert!(Instant::now() < deadline, "node {} did not start:\n{}", self.ip, self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts on the same directory without --join.
    fn restart(&mut self) {
        self.kill();
        let args = self.args.clone();
        self.spawn(&args);
    }

    fn url(&self) -> String {
        format!("redis://{}:{}/", self.ip, self.port)
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection_with_timeout(Duration::from_secs(5)).unwrap()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // GYRE_KEEP_FAILED_DIRS=1 keeps a failed test's data and logs.
        if std::thread::panicking() && std::env::var_os("GYRE_KEEP_FAILED_DIRS").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("gyre-cluster-it-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn q(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".to_string(),
        other => format!("{other:?}"),
    }
}

fn err_text(r: redis::RedisResult<Value>) -> String {
    error_words(&r.expect_err("an error reply"))
}

/// An error reply as the server wrote it (`MOVED 3999 127.0.0.1:7001`).
fn error_words(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn wait_until(what: &str, nodes: &[&Node], mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().map(|n| format!("--- {}\n{}", n.ip, n.logs())).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slots_of(n: &Node) -> Option<Value> {
    let mut c = redis::Client::open(n.url()).ok()?.get_connection_with_timeout(Duration::from_secs(2)).ok()?;
    q(&mut c, &["CLUSTER", "SLOTS"]).ok()
}

fn formed(n: &Node, members: usize) -> bool {
    let Ok(client) = redis::Client::open(n.url()) else { return false };
    let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return false };
    let Ok(info) = q(&mut c, &["CLUSTER", "INFO"]) else { return false };
    let info = text(&info);
    info.contains("cluster_state:ok")
        && info.contains(&format!("cluster_known_nodes:{members}\r\n"))
        && info.contains("gyre_slot_moves_in_progress:0\r\n")
        && info.contains("gyre_slots_catching_up:0\r\n")
}

/// A key whose slot `owner` is not the primary of, and the MOVED it gets.
fn foreign_key(c: &mut redis::Connection) -> (String, String) {
    for i in 0..1000 {
        let k = format!("key:{i}");
        if let Err(e) = q(c, &["GET", &k]) {
            let t = err_text(Err(e));
            if t.starts_with("MOVED") {
                return (k, t);
            }
        }
    }
    panic!("every key was local");
}

#[test]
fn three_nodes_form_route_serve_a_cluster_client_and_restart() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let a = Node::start(&root.0, 1, None);
    let b = Node::start(&root.0, 2, Some(&a));
    let mut c = Node::start(&root.0, 3, Some(&a));
    let all = [&a, &b, &c];
    wait_until("three nodes to form", &all, || all.iter().all(|n| formed(n, 3)));
    wait_until("the same CLUSTER SLOTS everywhere", &all, || {
        let s: Vec<Option<Value>> = all.iter().map(|n| slots_of(n)).collect();
        s[0].is_some() && s.iter().all(|x| x == &s[0])
    });

    // The shape of CLUSTER SLOTS: [start, end, [ip, port, id, {}]], all
    // slots covered, ids 40 hex.
    let mut ca = a.client();
    let Value::Array(ranges) = q(&mut ca, &["CLUSTER", "SLOTS"]).unwrap() else { panic!("an array") };
    let mut covered = 0;
    for r in &ranges {
        let Value::Array(r) = r else { panic!("a range") };
        let (Value::Int(s), Value::Int(e)) = (&r[0], &r[1]) else { panic!("bounds") };
        covered += e - s + 1;
        let Value::Array(node) = &r[2] else { panic!("a node") };
        assert_eq!(node.len(), 4);
        assert!(!text(&node[0]).is_empty());
        assert!(matches!(node[1], Value::Int(p) if p > 0));
        assert_eq!(text(&node[2]).len(), 40);
    }
    assert_eq!(covered, 16384);
    let myid = text(&q(&mut ca, &["CLUSTER", "MYID"]).unwrap());
    let nodes = text(&q(&mut ca, &["CLUSTER", "NODES"]).unwrap());
    assert_eq!(nodes.lines().count(), 3);
    assert!(nodes.lines().any(|l| l.starts_with(&myid) && l.contains("myself,master")), "{nodes}");
    // Its replicas: the two others hold a copy of every slot it leads.
    let replicas: Vec<String> = redis::cmd("CLUSTER").arg("REPLICAS").arg(&myid).query(&mut ca).unwrap();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert!(replicas.iter().all(|l| l.contains(&format!(" slave {myid} ")) && !l.starts_with(&myid)), "{replicas:?}");
    let info = text(&q(&mut ca, &["INFO", "cluster"]).unwrap());
    assert!(info.contains("cluster_enabled:1"), "{info}");

    // Redirects and refusals, in Redis's words.
    let (key, moved) = foreign_key(&mut ca);
    let slot = match q(&mut ca, &["CLUSTER", "KEYSLOT", &key]).unwrap() {
        Value::Int(s) => s,
        other => panic!("{other:?}"),
    };
    assert!(moved.starts_with(&format!("MOVED {slot} 127.0.0.1")), "{moved}");
    assert_eq!(
        err_text(q(&mut ca, &["MSET", "a", "1", "b", "2"])),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(text(&q(&mut ca, &["READONLY"]).unwrap()), "OK");
    assert_eq!(text(&q(&mut ca, &["READWRITE"]).unwrap()), "OK");
    assert!(err_text(q(&mut ca, &["SELECT", "1"])).contains("SELECT is not allowed in cluster mode"));
    assert!(err_text(q(&mut ca, &["CLUSTER", "ADDSLOTS", "1"])).contains("Gyre assigns slots"));
    // Across a transaction's queued commands: EXEC answers CROSSSLOT.
    let mut local = Vec::new();
    for i in 0..10000 {
        let k = format!("t{i}");
        if q(&mut ca, &["GET", &k]).is_ok() {
            local.push(k);
        }
        if local.len() == 2 {
            break;
        }
    }
    q(&mut ca, &["MULTI"]).unwrap();
    q(&mut ca, &["SET", &local[0], "1"]).unwrap();
    q(&mut ca, &["SET", &local[1], "1"]).unwrap();
    assert_eq!(err_text(q(&mut ca, &["EXEC"])), "CROSSSLOT Keys in request don't hash to the same slot");
    // A script's keys too.
    let r = q(&mut ca, &["EVAL", "return 1", "2", "{x}1", "{y}1"]);
    assert_eq!(err_text(r), "CROSSSLOT Keys in request don't hash to the same slot");
    // SORT's patterns reach keys in other slots: refused, as in Redis 7.2.
    assert_eq!(
        err_text(q(&mut ca, &["SORT", &local[0], "BY", "w_*"])),
        "ERR BY option of SORT denied in Cluster mode."
    );
    assert_eq!(
        err_text(q(&mut ca, &["SORT", &local[0], "GET", "#"])),
        "ERR GET option of SORT denied in Cluster mode."
    );

    // The redis crate's cluster client writes and reads 1000 keys.
    let client = redis::cluster::ClusterClient::new(vec![a.url()]).unwrap();
    let mut cc = client.get_connection().unwrap();
    for i in 0..1000 {
        let _: () = cc.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    for i in 0..1000 {
        let v: String = cc.get(format!("k{i}")).unwrap();
        assert_eq!(v, format!("v{i}"));
    }
    // Each key counted once over the primaries.
    let total: i64 = all.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, 1000);
    // Anti-entropy's questions: a slot's digest buckets XOR to its digest,
    // and the keys of its non-empty buckets come with their versions.
    let slot = match q(&mut ca, &["CLUSTER", "KEYSLOT", &local[0]]).unwrap() {
        Value::Int(s) => s.to_string(),
        other => panic!("{other:?}"),
    };
    q(&mut ca, &["SET", &local[0], "digested"]).unwrap();
    // WAITAOF counts the replicas that fsynced this client's writes.
    let aof: Vec<i64> = redis::cmd("WAITAOF").arg(1).arg(2).arg(5000).query(&mut ca).unwrap();
    assert_eq!(aof, vec![1, 2], "the write fsynced here and on both replicas");
    let digest: Vec<i64> = redis::cmd("CLUSTER").arg("DIGEST").arg(&slot).query(&mut ca).unwrap();
    let buckets: Vec<i64> = redis::cmd("CLUSTER").arg("DIGEST-BUCKETS").arg(&slot).query(&mut ca).unwrap();
    assert_eq!(buckets.len(), 64);
    assert_eq!(buckets.iter().fold(0, |a, b| a ^ b), digest[0]);
    let held: Vec<String> = (0..64).filter(|&b| buckets[b] != 0).map(|b| b.to_string()).collect();
    let keys: Vec<(Vec<u8>, i64, i64)> =
        redis::cmd("CLUSTER").arg("DIGEST-KEYS").arg(&slot).arg(&held).query(&mut ca).unwrap();
    assert!(keys.iter().any(|(k, hlc, _)| k == local[0].as_bytes() && *hlc > 0), "{keys:?}");
    assert!(err_text(q(&mut ca, &["CLUSTER", "DIGEST-KEYS", &slot, "64"])).contains("Invalid bucket"));
    assert!(err_text(q(&mut ca, &["CLUSTER", "DIGEST-BUCKETS", "16384"])).contains("Invalid slot"));
    assert!(err_text(q(&mut ca, &["CLUSTER", "DIGEST-KEYS", "-1", "0"])).contains("Invalid slot"));

    // A restart without --join keeps the id and the slots.
    let mut cc3 = c.client();
    let id3 = text(&q(&mut cc3, &["CLUSTER", "MYID"]).unwrap());
    let before = slots_of(&c);
    drop(cc3);
    c.restart();
    let all = [&a, &b, &c];
    wait_until("the restarted node to rejoin", &all, || formed(&c, 3) && slots_of(&c) == before);
    assert_eq!(text(&q(&mut c.client(), &["CLUSTER", "MYID"]).unwrap()), id3);
    for i in 0..1000 {
        let v: String = cc.get(format!("k{i}")).unwrap();
        assert_eq!(v, format!("v{i}"));
    }
}

#[test]
fn queued_keys_are_checked_a_dead_node_is_forgotten_and_a_cut_off_node_stops_serving() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let a = Node::start(&root.0, 4, None);
    let b = Node::start(&root.0, 5, Some(&a));
    let mut c = Node::start(&root.0, 6, Some(&a));
    let all = [&a, &b, &c];
    wait_until("three nodes to form", &all, || all.iter().all(|n| formed(n, 3)));

    // A command queued in MULTI for a slot elsewhere gets MOVED at once and
    // dooms the transaction, as in Redis.
    let mut ca = a.client();
    let (key, _) = foreign_key(&mut ca);
    q(&mut ca, &["MULTI"]).unwrap();
    assert!(err_text(q(&mut ca, &["SET", &key, "1"])).starts_with("MOVED "));
    assert!(err_text(q(&mut ca, &["EXEC"])).starts_with("EXECABORT"));

    // Three voters, the change to them complete, so A and B are a majority.
    wait_until("three Raft voters", &all, || {
        all.iter().all(|n| {
            let info = text(&q(&mut n.client(), &["CLUSTER", "INFO"]).unwrap());
            info.contains("gyre_raft_voters:3\r\n") && info.contains("gyre_raft_joint:0\r\n")
        })
    });

    // Kill C: SWIM reports it down (CLUSTER NODES `fail`), and the leader,
    // woken by that, fails its slots over to A and B (replication factor 3):
    // the cluster serves every slot again before C is forgotten.
    let id_c = text(&q(&mut c.client(), &["CLUSTER", "MYID"]).unwrap());
    c.kill();
    let all = [&a, &b];
    wait_until("C to be reported down", &all, || {
        let nodes = text(&q(&mut ca, &["CLUSTER", "NODES"]).unwrap());
        nodes.lines().any(|l| l.starts_with(&id_c) && l.contains("master,fail "))
    });
    wait_until("C's slots failed over", &all, || {
        let info = text(&q(&mut ca, &["CLUSTER", "INFO"]).unwrap());
        info.contains("cluster_state:ok") && !info.contains("gyre_failovers:0\r\n")
    });

    // FORGET hands its slots to A and B; the cluster is whole again.
    assert_eq!(text(&q(&mut ca, &["CLUSTER", "FORGET", &id_c]).unwrap()), "OK");
    wait_until("two nodes holding every slot", &all, || all.iter().all(|n| formed(n, 2)));
    let client = redis::cluster::ClusterClient::new(vec![b.url()]).unwrap();
    let mut cc = client.get_connection().unwrap();
    for i in 0..200 {
        let _: () = cc.set(format!("f{i}"), i).unwrap();
        let v: i64 = cc.get(format!("f{i}")).unwrap();
        assert_eq!(v, i);
    }

    // Kill B too: A is cut off from the Raft majority and, after
    // node-timeout-ms, stops serving even its own slots.
    let mut b = b;
    let local = (0..10000).map(|i| format!("own{i}")).find(|k| q(&mut ca, &["GET", k]).is_ok()).expect("a local key");
    b.kill();
    wait_until("A to stop serving", &[&a], || {
        q(&mut ca, &["GET", &local]).is_err_and(|e| e.to_string().contains("The cluster is down"))
    });
    assert!(text(&q(&mut ca, &["CLUSTER", "INFO"]).unwrap()).contains("cluster_state:fail"));
}

#[test]
fn five_nodes_agree_with_five_raft_voters_and_keep_acknowledged_writes_across_a_primary_kill() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = ["--anti-entropy-interval-ms".to_string(), "500".to_string()];
    let a = Node::start_with(&root.0, 7, None, &extra);
    let mut rest: Vec<Node> = (8..=11).map(|n| Node::start_with(&root.0, n, Some(&a), &extra)).collect();
    let all: Vec<&Node> = std::iter::once(&a).chain(rest.iter()).collect();
    wait_until("five nodes to form", &all, || all.iter().all(|n| formed(n, 5)));
    wait_until("five voters and one map", &all, || {
        let infos: Vec<String> = all.iter().map(|n| text(&q(&mut n.client(), &["CLUSTER", "INFO"]).unwrap())).collect();
        let slots: Vec<Option<Value>> = all.iter().map(|n| slots_of(n)).collect();
        infos.iter().all(|i| i.contains("gyre_raft_voters:5\r\n"))
            && slots.iter().all(|s| s.is_some() && s == &slots[0])
    });
    // Each is primary of 16384/5 ± 1 slots.
    let nodes = text(&q(&mut a.client(), &["CLUSTER", "NODES"]).unwrap());
    for line in nodes.lines() {
        let count: i64 = line
            .split(' ')
            .skip(8)
            .map(|r| match r.split_once('-') {
                Some((x, y)) => y.parse::<i64>().unwrap() - x.parse::<i64>().unwrap() + 1,
                None => 1,
            })
            .sum();
        assert!((3276..=3277).contains(&count), "{line}");
    }

    // Redis's own cluster tools accept it.
    let addr = format!("{}:{}", a.ip, a.port);
    let check = tool("redis-cli", &["--cluster", "check", &addr]);
    assert!(check.contains("[OK] All nodes agree about slots configuration."), "{check}");
    assert!(check.contains("[OK] All 16384 slots covered."), "{check}");
    let port = a.port.to_string();
    let bench = tool("redis-benchmark", &["--cluster", "-h", &a.ip, "-p", &port, "-t", "set,get", "-n", "20000", "-q"]);
    assert!(bench.contains("SET: ") && bench.contains("GET: "), "{bench}");
    // And so does redis-py's RedisCluster.
    let python = redis_py();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/redis_py_cluster.py");
    let out = output_within(Command::new(&python).args([script, &a.ip, &port]), Duration::from_secs(120));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("redis-py cluster: ok"), "{said}");

    // Replication factor 3 on five nodes: unique SETs go on while a
    // primary is killed with SIGKILL, failed over and restarted; every
    // acknowledged one reads back, and each slot's three copies converge.
    let sets = UniqueSets::start(&all, "f:");
    sets.wait_for(101, &all);
    let probe = key_led_by(&a, rest[1].port);
    rest[1].kill();
    let four: Vec<&Node> = std::iter::once(&a).chain(rest.iter().filter(|n| n.child.is_some())).collect();
    let mut rc = Redirecting::new(&four);
    wait_until("a write to a slot of the killed primary", &four, || rc.query(&["SET", &probe, "after"]).is_ok());
    rest[1].restart();
    let all: Vec<&Node> = std::iter::once(&a).chain(rest.iter()).collect();
    wait_until("the killed node back as a member", &all, || all.iter().all(|n| formed(n, 5)));
    let acked = sets.finish();
    assert!(acked.len() > 100, "{} SETs acknowledged", acked.len());
    let mut rc = Redirecting::new(&all);
    check_acknowledged(&mut rc, "f:", &acked);
    wait_until("each slot's three copies to have equal digests", &all, || copies_agree(&all, 3));
}

/// Whether, for every slot, the nodes holding a copy (a digest other than
/// 0, an empty slot's) answer the same CLUSTER DIGEST, and there are
/// `copies` of them (or none: a slot without keys).
fn copies_agree(nodes: &[&Node], copies: usize) -> bool {
    let slots: Vec<String> = (0..16384).map(|s: u32| s.to_string()).collect();
    let mut all = Vec::new();
    for n in nodes {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("DIGEST").arg(&slots);
        let Ok(d) = cmd.query::<Vec<i64>>(&mut n.client()) else { return false };
        all.push(d);
    }
    (0..16384).all(|s| {
        let held: Vec<i64> = all.iter().map(|d| d[s]).filter(|d| *d != 0).collect();
        held.is_empty() || (held.len() == copies && held.iter().all(|d| *d == held[0]))
    })
}

/// Runs a Redis tool (Debian's redis-tools, which `.ci/run` installs) and
/// returns what it printed; fails the test if it fails.
fn tool(name: &str, args: &[&str]) -> String {
    let out = output_within(Command::new(name).args(args), Duration::from_secs(120));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} {args:?} failed:\n{said}");
    said
}

/// Runs `cmd` to its end and returns what it printed; kills it and fails
/// the test past `limit`, or when it cannot start (a tool not installed).
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} cannot start (.ci/run installs redis-tools and python3-venv): {e}"));
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output { status, stdout: stdout.join().expect("stdout"), stderr: stderr.join().expect("stderr") }
}

/// A Python with redis-py, in a virtual environment under the target
/// directory (created once; pip fetches redis-py from PyPI).
fn redis_py() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("redis-py");
    let python = target.join("bin/python3");
    let ready = target.join(".installed-5.2.1");
    if !ready.exists() {
        let run = |cmd: &mut Command| {
            let out = output_within(cmd, Duration::from_secs(300));
            assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(Command::new("python3").args(["-m", "venv", target.to_str().unwrap()]));
        run(Command::new(&python).args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "redis==5.2.1"]));
        std::fs::write(&ready, b"").unwrap();
    }
    python
}

/// The primary of each slot, from CLUSTER SLOTS: (port, slots it leads).
fn slot_counts(n: &Node) -> std::collections::BTreeMap<i64, i64> {
    let mut counts = std::collections::BTreeMap::new();
    let Some(Value::Array(ranges)) = slots_of(n) else { return counts };
    for r in &ranges {
        let Value::Array(r) = r else { continue };
        let (Value::Int(s), Value::Int(e), Value::Array(node)) = (&r[0], &r[1], &r[2]) else { continue };
        let Value::Int(port) = node[1] else { continue };
        *counts.entry(port).or_insert(0) += e - s + 1;
    }
    counts
}

/// Counters bumped with INCR by a writer thread through the cluster client,
/// and read back by a reader thread that checks none goes backwards.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writer: std::thread::JoinHandle<(Vec<i64>, Vec<bool>)>,
    reader: std::thread::JoinHandle<usize>,
}

const COUNTERS: usize = 300;

impl Load {
    fn start(seed: &Node) -> Load {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let url = seed.url();
        // What the counters hold before (an earlier load's writes): a counter
        // this load does not reach must still hold it.
        let before: Vec<i64> = {
            let client = redis::cluster::ClusterClient::new(vec![url.clone()]).unwrap();
            let mut cc = client.get_connection().unwrap();
            (0..COUNTERS).map(|k| cc.get::<_, Option<i64>>(format!("ctr:{k}")).unwrap().unwrap_or(0)).collect()
        };
        let writer = {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let client = redis::cluster::ClusterClient::new(vec![url]).unwrap();
                let mut cc = client.get_connection().unwrap();
                // The last value each INCR acknowledged (at first, what the
                // counter held); whether a write to the key failed (its
                // outcome unknown: one more may have applied).
                let (mut acked, mut unsure) = (before, vec![false; COUNTERS]);
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % COUNTERS;
                    match cc.incr::<_, _, i64>(format!("ctr:{k}"), 1) {
                        Ok(v) => {
                            assert!(v > acked[k] || unsure[k], "ctr:{k} went from {} to {v}", acked[k]);
                            acked[k] = v;
                        }
                        Err(_) => unsure[k] = true,
                    }
                    i += 1;
                }
                (acked, unsure)
            })
        };
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::cluster::ClusterClient::new(vec![url]).unwrap();
                let mut cc = client.get_connection().unwrap();
                let mut seen = vec![0i64; COUNTERS];
                let mut reads = 0;
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let k = (i * 7) % COUNTERS;
                    if let Ok(v) = cc.get::<_, Option<i64>>(format!("ctr:{k}")) {
                        let v = v.unwrap_or(0);
                        assert!(v >= seen[k], "ctr:{k} read {v} after {}", seen[k]);
                        seen[k] = v;
                        reads += 1;
                    }
                    i += 1;
                }
                reads
            })
        };
        Load { stop, writer, reader }
    }

    /// Stops the load; checks every counter holds its last acknowledged value.
    fn finish(self, seed: &Node) -> i64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (acked, unsure) = self.writer.join().expect("the writer saw no counter go backwards");
        let reads = self.reader.join().expect("the reader saw no counter go backwards");
        assert!(reads > 0);
        eprintln!("load: counters sum {}, {reads} reads", acked.iter().sum::<i64>());
        let client = redis::cluster::ClusterClient::new(vec![seed.url()]).unwrap();
        let mut cc = client.get_connection().unwrap();
        for k in 0..COUNTERS {
            let v: Option<i64> = cc.get(format!("ctr:{k}")).unwrap();
            let v = v.unwrap_or(0);
            let ok = v == acked[k] || (unsure[k] && v >= acked[k]);
            assert!(ok, "ctr:{k} holds {v}, the last acknowledged INCR answered {}", acked[k]);
        }
        acked.iter().sum()
    }
}

fn check_keys(seed: &Node, n: usize) {
    let client = redis::cluster::ClusterClient::new(vec![seed.url()]).unwrap();
    let mut cc = client.get_connection().unwrap();
    for i in 0..n {
        let v: Option<String> = cc.get(format!("pre:{i}")).unwrap();
        assert_eq!(v.as_deref(), Some(format!("value-{i}").as_str()), "pre:{i}");
        let len: i64 = cc.llen(format!("list:{{{}}}", i % 97)).unwrap();
        assert_eq!(len, (n / 97 + usize::from(i % 97 < n % 97)) as i64);
    }
}

#[test]
fn a_joining_node_takes_its_share_with_the_data_under_writes_and_a_leaving_one_hands_it_back() {
    let _one_at_a_time = serial();
    let root = tempdir();
    // Replication factor 3 (the default): moves and replica feeds together.
    let mut a = Node::start(&root.0, 20, None);
    let b = Node::start(&root.0, 21, Some(&a));
    let c = Node::start(&root.0, 22, Some(&a));
    let three = [&a, &b, &c];
    wait_until("three nodes to form", &three, || three.iter().all(|n| formed(n, 3)));
    // Data of two types, in every node's slots.
    let keys = 3000;
    {
        let client = redis::cluster::ClusterClient::new(vec![a.url()]).unwrap();
        let mut cc = client.get_connection().unwrap();
        for i in 0..keys {
            let _: () = cc.set(format!("pre:{i}"), format!("value-{i}")).unwrap();
            let _: () = cc.rpush(format!("list:{{{}}}", i % 97), i).unwrap();
        }
    }
    let load = Load::start(&a);
    std::thread::sleep(Duration::from_millis(300));

    // A fourth node joins under the writes: about a quarter of the slots
    // move to it, with their keys.
    let mut d = Node::start(&root.0, 23, Some(&a));
    let four = [&a, &b, &c, &d];
    wait_until("four nodes, the moves done", &four, || four.iter().all(|n| formed(n, 4)));
    let counts = slot_counts(&a);
    let moved = counts.get(&(d.port as i64)).copied().unwrap_or(0);
    assert!((4096..=4097).contains(&moved), "the newcomer leads {moved} slots: {counts:?}");
    let info = text(&q(&mut d.client(), &["CLUSTER", "INFO"]).unwrap());
    assert!(!info.contains("gyre_slots_moved_in:0\r\n"), "{info}");
    std::thread::sleep(Duration::from_millis(300));
    let writes = load.finish(&a);
    assert!(writes > 0);
    check_keys(&a, keys);
    // Each key counted once over the primaries, the moved ones included.
    let total: i64 = four.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, (keys + 97 + COUNTERS) as i64);

    // Killed and restarted, a sender does not get back the slots it dropped,
    // and the receiver keeps what it received.
    a.restart();
    d.restart();
    let four = [&a, &b, &c, &d];
    wait_until("four nodes after the restarts", &four, || four.iter().all(|n| formed(n, 4)));
    check_keys(&a, keys);
    let total: i64 = four.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, (keys + 97 + COUNTERS) as i64);
    // What it holds (INFO keyspace) is its slots' keys, led or replicated:
    // at least what it serves, and each slot's count adds up.
    let mut pipe = redis::pipe();
    for s in 0..16384 {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(s);
    }
    let counts: Vec<i64> = pipe.query(&mut a.client()).unwrap();
    let info = text(&q(&mut a.client(), &["INFO", "keyspace"]).unwrap());
    let held: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("db0:keys="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let served: i64 = redis::cmd("DBSIZE").query(&mut a.client()).unwrap();
    assert!(held >= served, "{info}");
    assert_eq!(held, counts.iter().sum::<i64>(), "{info}");

    // The fourth leaves under writes: LEAVE answers once its slots have
    // moved, and nothing is lost.
    let load = Load::start(&a);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(text(&q(&mut d.client(), &["CLUSTER", "LEAVE"]).unwrap()), "OK");
    let three = [&a, &b, &c];
    wait_until("three nodes again", &three, || three.iter().all(|n| formed(n, 3)));
    load.finish(&a);
    check_keys(&a, keys);
    let total: i64 = three.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, (keys + 97 + COUNTERS) as i64);

    // FLUSHALL empties the slots the node serves, and nothing of the others'.
    let on_a: i64 = redis::cmd("DBSIZE").query(&mut a.client()).unwrap();
    assert!(on_a > 0);
    assert_eq!(text(&q(&mut a.client(), &["FLUSHALL"]).unwrap()), "OK");
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut a.client()).unwrap(), 0);
    let total: i64 = three.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, (keys + 97 + COUNTERS) as i64 - on_a);
}

/// A plain GET over HTTP/1.1 (the HTTP API): the status line and the body.
fn http_get(ip: &str, port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect((ip, port)).expect("connect to the HTTP API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn with_cluster_redirect_forward_a_plain_client_and_the_http_api_reach_every_slot() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let http = free_port("127.0.0.40");
    let extra = |http: Option<u16>| -> Vec<String> {
        let mut v = vec!["--cluster-redirect".to_string(), "forward".to_string()];
        if let Some(p) = http {
            v.extend(["--http-port".to_string(), p.to_string()]);
        }
        v
    };
    let a = Node::start_with(&root.0, 30, None, &extra(Some(http)));
    let b = Node::start_with(&root.0, 31, Some(&a), &extra(None));
    let c = Node::start_with(&root.0, 32, Some(&a), &extra(None));
    let all = [&a, &b, &c];
    wait_until("three nodes to form", &all, || all.iter().all(|n| formed(n, 3)));
    // A plain connection to A writes and reads keys of every node's slots.
    let mut ca = a.client();
    for i in 0..300 {
        let _: () = ca.set(format!("fw:{i}"), i).unwrap();
    }
    for i in 0..300 {
        let v: i64 = ca.get(format!("fw:{i}")).unwrap();
        assert_eq!(v, i);
    }
    let total: i64 = all.iter().map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap()).sum();
    assert_eq!(total, 300);
    let here: i64 = redis::cmd("DBSIZE").query(&mut ca).unwrap();
    assert!(here < 200, "the keys are spread over the nodes, not all on A ({here})");
    // Errors come back as the owner answers them.
    let _: () = ca.rpush("wt", 1).unwrap();
    assert!(err_text(q(&mut ca, &["GET", "wt"])).starts_with("WRONGTYPE"));
    let key = (0..300).map(|i| format!("fw:{i}")).find(|k| owner_port(&a, k) != a.port as i64).unwrap();
    // Inside MULTI a foreign key is still MOVED (a transaction runs on one node).
    q(&mut ca, &["MULTI"]).unwrap();
    assert!(err_text(q(&mut ca, &["SET", &key, "1"])).starts_with("MOVED "));
    assert!(err_text(q(&mut ca, &["EXEC"])).starts_with("EXECABORT"));
    // PUBLISH on A reaches a subscriber of C (the count is A's own).
    let mut sub = c.client();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").unwrap();
    let receivers: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut ca).unwrap();
    assert_eq!(receivers, 0);
    let msg = ps.get_message().expect("the message reaches the other node");
    assert_eq!(msg.get_channel_name(), "news");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    drop(ps);
    // The HTTP API of A reads a key another node serves.
    let (status, body) = http_get(&a.ip, http, &format!("/v1/keys/{key}"));
    assert!(status.contains("200"), "{status} {body}");
    assert_eq!(body, key.trim_start_matches("fw:"));
    // When the owner cannot be reached, the client gets the MOVED it would
    // have had.
    let owner = owner_port(&a, &key);
    let mut nodes = [b, c];
    let dead = nodes.iter_mut().find(|n| i64::from(n.port) == owner).expect("the owner is B or C");
    dead.kill();
    let moved = err_text(q(&mut ca, &["GET", &key]));
    assert!(moved.starts_with("MOVED ") && moved.ends_with(&format!(":{owner}")), "{moved}");
}

/// The client port of the primary of `key`'s slot, from CLUSTER SLOTS.
fn owner_port(n: &Node, key: &str) -> i64 {
    let Value::Int(slot) = q(&mut n.client(), &["CLUSTER", "KEYSLOT", key]).unwrap() else { panic!("a slot") };
    let Some(Value::Array(ranges)) = slots_of(n) else { panic!("CLUSTER SLOTS") };
    for r in &ranges {
        let Value::Array(r) = r else { continue };
        let (Value::Int(s), Value::Int(e), Value::Array(node)) = (&r[0], &r[1], &r[2]) else { continue };
        if (*s..=*e).contains(&slot) {
            let Value::Int(port) = node[1] else { panic!("a port") };
            return port;
        }
    }
    panic!("slot {slot} not covered")
}

/// A key whose slot `owner` (a node's client port) leads, found by asking
/// `via` (which answers MOVED for slots it does not lead).
fn key_led_by(via: &Node, owner: u16) -> String {
    let mut c = via.client();
    for i in 0..100_000 {
        let k = format!("probe:{i}");
        match q(&mut c, &["GET", &k]) {
            Ok(_) if via.port == owner => return k,
            Err(e) if e.to_string().ends_with(&format!(":{owner}")) => return k,
            _ => {}
        }
    }
    panic!("no key led by port {owner}");
}

/// Sends a signal to a node's process (SIGSTOP, SIGCONT).
fn signal(n: &Node, sig: &str) {
    let pid = n.child.as_ref().expect("running").id().to_string();
    let status = Command::new("kill").args([sig, &pid]).status().expect("run kill");
    assert!(status.success());
}

/// Replication factor 3 on three nodes: every acknowledged write (unique
/// SETs, INCRs) survives the kill -9 of a primary under load, which the
/// others fail over (its slots' new primaries catch up from a majority
/// first), and its restart as a replica; the copies converge; a primary
/// whose replicas are paused answers -NOREPLICAS rather than acknowledge.
#[test]
fn acknowledged_writes_survive_a_primary_killed_under_load_and_paused_replicas_refuse_quorum_writes() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = ["--write-timeout-ms".to_string(), "1000".to_string()];
    let a = Node::start_with(&root.0, 40, None, &extra);
    let mut b = Node::start_with(&root.0, 41, Some(&a), &extra);
    let c = Node::start_with(&root.0, 42, Some(&a), &extra);
    let three = [&a, &b, &c];
    // Formed, with all three Raft voters (with two, losing one stops the
    // log, and with it any failover).
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let info = text(&q(&mut a.client(), &["CLUSTER", "INFO"]).unwrap());
    assert!(info.contains("gyre_replication_factor:3\r\n"), "{info}");

    // Unique SETs, acknowledged ones recorded, beside the INCR load.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sets = {
        let (stop, url) = (stop.clone(), a.url());
        std::thread::spawn(move || {
            let client = redis::cluster::ClusterClient::new(vec![url]).unwrap();
            let mut cc = client.get_connection().unwrap();
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if cc.set::<_, _, ()>(format!("w:{i}"), i).is_ok() {
                    acked.push(i);
                }
                i += 1;
            }
            acked
        })
    };
    let load = Load::start(&a);
    std::thread::sleep(Duration::from_millis(800));

    // kill -9 of a primary under the writes; the others take its slots
    // over once SWIM declares it down, and writes to them succeed again.
    let probe = key_led_by(&a, b.port);
    b.kill();
    let killed = Instant::now();
    let two = [&a, &c];
    wait_until("a write to a slot of the killed primary", &two, || {
        let Ok(client) = redis::cluster::ClusterClient::new(vec![a.url()]) else { return false };
        let Ok(mut cc) = client.get_connection() else { return false };
        cc.set::<_, _, ()>(&probe, "after").is_ok()
    });
    let failover = killed.elapsed();
    b.restart();
    let three = [&a, &b, &c];
    wait_until("the killed node back as a member", &three, || three.iter().all(|n| formed(n, 3)));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = sets.join().expect("the SET writer");
    let incrs = load.finish(&a);
    assert!(acked.len() > 100 && incrs > 100, "{} SETs and {incrs} INCRs acknowledged", acked.len());
    let client = redis::cluster::ClusterClient::new(vec![a.url()]).unwrap();
    let mut cc = client.get_connection().unwrap();
    for i in &acked {
        let v: Option<u64> = cc.get(format!("w:{i}")).unwrap();
        assert_eq!(v, Some(*i), "acknowledged SET w:{i} was lost (failover took {failover:?})");
    }
    let stats = text(&q(&mut c.client(), &["INFO", "replication"]).unwrap());
    assert!(stats.contains("connected_slaves:2\r\n"), "{stats}");
    let info = text(&q(&mut c.client(), &["CLUSTER", "INFO"]).unwrap());
    assert!(!info.contains("gyre_failovers:0\r\n") && info.contains("gyre_failovers:"), "{info}");

    // The copies converge: every node's copy (READONLY) of a sample of
    // keys equals what its primary answers.
    for i in acked.iter().step_by(37) {
        let key = format!("w:{i}");
        wait_until("the replicas to converge", &three, || {
            three.iter().all(|n| {
                let mut conn = n.client();
                let _ = q(&mut conn, &["READONLY"]);
                q(&mut conn, &["GET", &key]).map(|v| text(&v)) == Ok(i.to_string())
            })
        });
    }

    // And whole: every slot's three copies have equal digests.
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));

    // Expiry belongs to the primary: its delete reaches the replicas, which
    // hide the key meanwhile and then no longer hold it.
    let _: () = redis::cmd("SET").arg("exp:1").arg("v").arg("PX").arg(200).query(&mut cc).unwrap();
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg("exp:1").query(&mut a.client()).unwrap();
    wait_until("every copy of an expired key to be gone", &three, || {
        three.iter().all(|n| {
            let mut conn = n.client();
            let _ = q(&mut conn, &["READONLY"]);
            q(&mut conn, &["GET", "exp:1"]) == Ok(Value::Nil)
                && redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query::<i64>(&mut conn).is_ok_and(|n| {
                    let keys: Vec<String> = redis::cmd("CLUSTER")
                        .arg("GETKEYSINSLOT")
                        .arg(slot)
                        .arg(n)
                        .query(&mut conn)
                        .unwrap_or_default();
                    !keys.iter().any(|k| k == "exp:1")
                })
        })
    });

    // Both replicas of a's slots paused: a quorum write cannot be held by
    // two copies, so it answers NOREPLICAS after write-timeout-ms.
    let mine = key_led_by(&a, a.port);
    q(&mut a.client(), &["SET", &mine, "v"]).unwrap();
    let mut at_one = a.client();
    assert_eq!(text(&q(&mut at_one, &["CLUSTER", "CONSISTENCY", "WRITE", "one"]).unwrap()), "OK");
    let mut read_quorum = a.client();
    assert_eq!(text(&q(&mut read_quorum, &["CLUSTER", "CONSISTENCY", "READ", "quorum"]).unwrap()), "OK");
    assert_eq!(q(&mut read_quorum, &["GET", &mine]).map(|v| text(&v)), Ok("v".to_string()));
    signal(&b, "-STOP");
    signal(&c, "-STOP");
    // A connection at `one` needs the primary alone, to write as to read.
    let alone = q(&mut at_one, &["SET", &mine, "w"]);
    let read_alone = q(&mut at_one, &["GET", &mine]);
    let started = Instant::now();
    let refused = err_text(q(&mut a.client(), &["SET", &mine, "x"]));
    // A read at quorum waits for a replica to hold what it read.
    let unread = err_text(q(&mut read_quorum, &["GET", &mine]));
    signal(&b, "-CONT");
    signal(&c, "-CONT");
    assert!(refused.starts_with("NOREPLICAS"), "{refused}");
    assert!(unread.starts_with("NOREPLICAS Not enough good replicas to read"), "{unread}");
    assert_eq!(alone.map(|v| text(&v)), Ok("OK".to_string()));
    assert_eq!(read_alone.map(|v| text(&v)), Ok("w".to_string()));
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    let level = q(&mut at_one, &["CLUSTER", "CONSISTENCY"]).unwrap();
    assert_eq!(level, Value::Array(vec![bulk("write"), bulk("one"), bulk("read"), bulk("one")]));
    let bad = err_text(q(&mut at_one, &["CLUSTER", "CONSISTENCY", "WRITE", "two"]));
    assert!(bad.starts_with("ERR write consistency must be ONE, QUORUM, ALL or DEFAULT"), "{bad}");
    let bad = err_text(q(&mut at_one, &["CLUSTER", "CONSISTENCY", "READ", "all", "WRITE", "some"]));
    assert!(bad.starts_with("ERR write consistency must be"), "{bad}");
    let bad = err_text(q(&mut at_one, &["CLUSTER", "CONSISTENCY", "READS", "one"]));
    assert!(bad.starts_with("ERR syntax error"), "{bad}");
    // The refused command changed nothing.
    let level = q(&mut at_one, &["CLUSTER", "CONSISTENCY"]).unwrap();
    assert_eq!(level, Value::Array(vec![bulk("write"), bulk("one"), bulk("read"), bulk("one")]));
    assert_eq!(text(&q(&mut at_one, &["RESET"]).unwrap()), "RESET");
    let level = q(&mut at_one, &["CLUSTER", "CONSISTENCY"]).unwrap();
    assert_eq!(level, Value::Array(vec![bulk("write"), bulk("quorum"), bulk("read"), bulk("one")]));
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    wait_until("quorum writes again once the replicas resume", &three, || {
        q(&mut a.client(), &["SET", &mine, "y"]).is_ok()
    });
    assert_eq!(q(&mut read_quorum, &["GET", &mine]).map(|v| text(&v)), Ok("y".to_string()));
    let stats = text(&q(&mut a.client(), &["INFO", "replication"]).unwrap());
    assert!(!stats.contains("gyre_noreplicas:0\r\n"), "{stats}");
    // WAIT counts the replicas that hold the connection's writes.
    let mut conn = a.client();
    q(&mut conn, &["SET", &mine, "z"]).unwrap();
    let held = q(&mut conn, &["WAIT", "2", "5000"]).unwrap();
    assert_eq!(held, Value::Int(2));
}

/// Reads one RESP reply (a simple string, error, integer or bulk string)
/// off a raw socket: Ok with its text (`(nil)` for a null), Err with an
/// error's text or what went wrong reading.
fn raw_reply(r: &mut impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| format!("reading a reply: {e}"))?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_string()),
        "-" => Err(rest.to_string()),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| format!("a bad bulk length: {line}"))?;
            if len < 0 {
                return Ok("(nil)".into());
            }
            let mut body = vec![0u8; len as usize + 2];
            r.read_exact(&mut body).map_err(|e| format!("reading a bulk string: {e}"))?;
            body.truncate(len as usize);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        "" => Err("the connection closed".into()),
        _ => Err(format!("an unexpected reply: {line}")),
    }
}

/// An error worth trying again: TRYAGAIN, CLUSTERDOWN, or not a server's
/// error at all (a connection that broke or timed out).
fn transient(e: &str) -> bool {
    let word = e.split(' ').next().unwrap_or_default();
    word == "TRYAGAIN" || word == "CLUSTERDOWN" || word.is_empty() || !word.chars().all(|c| c.is_ascii_uppercase())
}

/// Reads `n` replies off a raw socket, as text (`raw_reply`; errors as
/// `-text`).
fn raw_replies(s: &mut TcpStream, n: usize) -> Vec<String> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    (0..n).map(|_| raw_reply(&mut r).unwrap_or_else(|e| format!("-{e}"))).collect()
}

/// A client that follows MOVED from node to node over raw sockets, every
/// connect and reply bounded (a paused node accepts connections and never
/// answers; the redis crate's clients then wait forever in their
/// handshake).
struct Redirecting {
    nodes: Vec<String>,
    conns: std::collections::HashMap<String, std::io::BufReader<TcpStream>>,
    next: usize,
}

impl Redirecting {
    fn new(nodes: &[&Node]) -> Redirecting {
        let nodes = nodes.iter().map(|n| format!("{}:{}", n.ip, n.port)).collect();
        Redirecting { nodes, conns: Default::default(), next: 0 }
    }

    fn exchange(&mut self, addr: &str, args: &[&str]) -> Result<String, String> {
        if !self.conns.contains_key(addr) {
            let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
            let s = TcpStream::connect_timeout(&sa, Duration::from_secs(1)).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            self.conns.insert(addr.to_string(), std::io::BufReader::new(s));
        }
        let conn = self.conns.get_mut(addr).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req += &format!("${}\r\n{a}\r\n", a.len());
        }
        let sent = std::io::Write::write_all(conn.get_mut(), req.as_bytes());
        let r = sent.map_err(|e| format!("sending: {e}")).and_then(|_| raw_reply(conn));
        if let Err(e) = &r {
            if !e.contains(' ')
                || e.starts_with("reading")
                || e.starts_with("sending")
                || e.starts_with("the connection")
            {
                // Broken or timed out: the stream is out of step.
                self.conns.remove(addr);
            }
        }
        r
    }

    /// Runs `args` at the key's primary (asking the nodes in turn, then
    /// following MOVED): the reply's text, or its error.
    fn query(&mut self, args: &[&str]) -> Result<String, String> {
        self.next = (self.next + 1) % self.nodes.len();
        let mut addr = self.nodes[self.next].clone();
        for _ in 0..3 {
            match self.exchange(&addr, args) {
                Err(e) if e.starts_with("MOVED ") => addr = e.rsplit(' ').next().unwrap_or_default().to_string(),
                r => return r,
            }
        }
        Err("too many redirects".into())
    }

    /// [`Redirecting::query`], retried for a bounded while on the errors
    /// that say to come back (TRYAGAIN, CLUSTERDOWN: a node between
    /// leases, a slot catching up) and on a broken connection (a node
    /// restarted).
    fn query_settled(&mut self, args: &[&str]) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.query(args) {
                Err(e) if transient(&e) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                r => return r,
            }
        }
    }
}

/// Unique SETs (`<prefix><i>` set to `i`) through a [`Redirecting`]
/// client on a thread of their own; [`UniqueSets::finish`] stops them and
/// returns the `i` of each acknowledged one.
struct UniqueSets {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    writer: std::thread::JoinHandle<Vec<u64>>,
}

impl UniqueSets {
    fn start(nodes: &[&Node], prefix: &str) -> UniqueSets {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stopped, counted) = (stop.clone(), count.clone());
        let (mut rc, prefix) = (Redirecting::new(nodes), prefix.to_string());
        let writer = std::thread::spawn(move || {
            let (mut acked, mut i) = (Vec::new(), 0u64);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                if rc.query(&["SET", &format!("{prefix}{i}"), &i.to_string()]).is_ok() {
                    acked.push(i);
                    counted.store(acked.len(), std::sync::atomic::Ordering::Relaxed);
                }
                i += 1;
            }
            acked
        });
        UniqueSets { stop, count, writer }
    }

    /// Waits (bounded) until `n` SETs were acknowledged: a fault injected
    /// after it meets writes under way, however slow the machine, and the
    /// checker has that many to check at least.
    fn wait_for(&self, n: usize, nodes: &[&Node]) {
        let what = format!("{n} SETs acknowledged before the fault");
        wait_until(&what, nodes, || self.count.load(std::sync::atomic::Ordering::Relaxed) >= n);
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.writer.join().expect("the SET writer")
    }
}

/// Every acknowledged [`UniqueSets`] write of `prefix` reads back.
fn check_acknowledged(rc: &mut Redirecting, prefix: &str, acked: &[u64]) {
    for i in acked {
        assert_eq!(
            rc.query_settled(&["GET", &format!("{prefix}{i}")]),
            Ok(i.to_string()),
            "acknowledged SET {prefix}{i} was lost"
        );
    }
}

/// Whether `n`, once deposed, follows the new map and serves again: it
/// answers MOVED for `key` (or, should a later failover, under CI load,
/// hand the slot back to it, the `value` written since) and
/// `cluster_state:ok`.
fn follows_new_map(n: &Node, key: &str, value: &str) -> bool {
    let mut conn = n.client();
    let moved_or_new = match q(&mut conn, &["GET", key]) {
        Ok(v) => text(&v) == value,
        Err(e) => error_words(&e).starts_with("MOVED "),
    };
    moved_or_new && q(&mut conn, &["CLUSTER", "INFO"]).is_ok_and(|i| text(&i).contains("cluster_state:ok"))
}

/// Whether `nodes` formed, each knowing them all, with as many Raft voters
/// (none left in a joint configuration).
fn formed_with_voters(nodes: &[&Node]) -> bool {
    let voters = format!("gyre_raft_voters:{}\r\ngyre_raft_joint:0\r\n", nodes.len());
    nodes.iter().all(|n| formed(n, nodes.len()))
        && q(&mut nodes[0].client(), &["CLUSTER", "INFO"]).is_ok_and(|i| text(&i).contains(&voters))
}

/// A numeric field of `n`'s INFO `section` (0 when absent).
fn info_number(n: &Node, section: &str, field: &str) -> u64 {
    let info = text(&q(&mut n.client(), &["INFO", section]).unwrap());
    let prefix = format!("{field}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// What a primary cut off on a minority side answers, asked over `s`: a
/// read of `key`, a write at the server's level, and one at `one`.
fn minority_attempts(s: &mut TcpStream, key: &str) -> Vec<String> {
    let req = format!("GET {key}\r\nSET {key} minority\r\nCLUSTER CONSISTENCY WRITE one\r\nSET {key} minority-one\r\n");
    std::io::Write::write_all(s, req.as_bytes()).unwrap();
    raw_replies(s, 4)
}

/// A primary paused (SIGSTOP) past the node timeout is failed over while
/// writers go on; once resumed (SIGCONT) it answers nothing from its old
/// map: commands sent to it while it was paused, at `one` as at `quorum`,
/// read and write nothing (its lease lapsed before its successor served),
/// and it rejoins as a replica of the new primary. No acknowledged write
/// is lost and a deleted key does not come back.
#[test]
fn a_paused_primary_is_deposed_and_serves_nothing_stale_when_it_resumes() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = ["--anti-entropy-interval-ms".to_string(), "500".to_string()];
    let a = Node::start_with(&root.0, 50, None, &extra);
    let b = Node::start_with(&root.0, 51, Some(&a), &extra);
    let mut c = Node::start_with(&root.0, 52, Some(&a), &extra);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let key = key_led_by(&a, b.port);
    let gone = key_led_by(&c, b.port) + ":deleted";
    let mut rc = Redirecting::new(&three);
    assert_eq!(rc.query_settled(&["SET", &key, "before"]).as_deref(), Ok("OK"));
    assert_eq!(rc.query_settled(&["SET", &gone, "x"]).as_deref(), Ok("OK"));
    assert_eq!(rc.query_settled(&["DEL", &gone]).as_deref(), Ok("1"));

    // Unique SETs throughout, acknowledged ones recorded.
    let sets = UniqueSets::start(&three, "p:");
    sets.wait_for(21, &three);
    // Connections to the primary opened before it pauses: one at `one`.
    let mut at_one = TcpStream::connect((b.ip.as_str(), b.port)).unwrap();
    let mut at_quorum = TcpStream::connect((b.ip.as_str(), b.port)).unwrap();
    std::io::Write::write_all(&mut at_one, b"CLUSTER CONSISTENCY WRITE one\r\n").unwrap();
    assert_eq!(raw_replies(&mut at_one, 1), ["OK"]);
    signal(&b, "-STOP");
    let two = [&a, &c];
    let mut writes = Redirecting::new(&two);
    wait_until("the paused primary's slot to take writes elsewhere", &two, || {
        writes.query(&["SET", &key, "after"]).is_ok()
    });
    // Sent while it is paused; read once it resumes.
    std::io::Write::write_all(&mut at_one, format!("GET {key}\r\nSET {key} stale-one\r\n").as_bytes()).unwrap();
    std::io::Write::write_all(&mut at_quorum, format!("GET {key}\r\nSET {key} stale-quorum\r\n").as_bytes()).unwrap();
    signal(&b, "-CONT");
    for (what, conn) in [("one", &mut at_one), ("quorum", &mut at_quorum)] {
        let replies = raw_replies(conn, 2);
        assert!(replies[0] != "before", "the resumed primary served a stale read at {what}: {replies:?}");
        assert!(replies[1] != "OK", "the resumed primary acknowledged a write at {what}: {replies:?}");
    }
    // It follows the new map: MOVED to the new primary (or, should a
    // later failover hand the slot back to it, the value written since).
    wait_until("the resumed node to follow the new map and serve again", &three, || follows_new_map(&b, &key, "after"));
    let acked = sets.finish();
    assert!(acked.len() > 20, "{} SETs acknowledged", acked.len());
    check_acknowledged(&mut rc, "p:", &acked);
    assert_eq!(rc.query_settled(&["GET", &key]).as_deref(), Ok("after"));
    // The resumed node's copy converges, and the deleted key stays deleted.
    wait_until("the resumed node's copy to converge", &three, || {
        let mut conn = b.client();
        let _ = q(&mut conn, &["READONLY"]);
        q(&mut conn, &["GET", &key]).map(|v| text(&v)) == Ok("after".into())
            && q(&mut conn, &["GET", &gone]) == Ok(Value::Nil)
    });
    assert_eq!(rc.query_settled(&["GET", &gone]).as_deref(), Ok("(nil)"));
    // Every slot's copies converge: with RF 3 on three nodes each node
    // holds every slot, so all three digests of each slot are equal.
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));

    // A node whose data is wiped (its identity kept: the manifest and the
    // cluster directory) rejoins: it
    // catches up on the slots it leads before serving them and is sent
    // fresh copies of the others; nothing acknowledged is lost.
    c.kill();
    let dir = root.0.join("n52");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "MANIFEST") && path.is_file() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    c.restart();
    let three = [&a, &b, &c];
    wait_until("the wiped node back as a member", &three, || three.iter().all(|n| formed(n, 3)));
    wait_until("the wiped node's copies to converge", &three, || copies_agree(&three, 3));
    for i in acked.iter().step_by(7) {
        assert_eq!(rc.query_settled(&["GET", &format!("p:{i}")]), Ok(i.to_string()), "p:{i} after the wipe");
    }
    assert_eq!(rc.query_settled(&["GET", &gone]).as_deref(), Ok("(nil)"));
    let counter = |field: &str| -> u64 { three.iter().map(|n| info_number(n, "replication", field)).sum() };
    assert!(counter("gyre_anti_entropy_rounds") > 0, "anti-entropy rounds ran");
    eprintln!(
        "feeds resumed {}, replica slots found differing {}, keys repaired {}",
        counter("gyre_feed_resumes"),
        counter("gyre_anti_entropy_slots_differing"),
        counter("gyre_anti_entropy_keys_repaired")
    );
}

/// A private network for partition tests: a network namespace per node,
/// each joined to one bridge by a veth pair, with addresses in
/// 10.77.<id>.0/24 that exist only here (the bridge has .254, so this
/// process reaches every node). Cutting a node takes its link down: it
/// then reaches no one and no one reaches it, except from inside its own
/// namespace ([`Net::run_in`]). Everything is deleted on drop.
struct Net {
    id: u32,
    nodes: usize,
}

impl Net {
    /// None when network namespaces cannot be made here (not root).
    fn new(nodes: usize) -> Option<Net> {
        // Unique per network made in this process, and across processes.
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = (std::process::id() + made * 53) % 200 + 20;
        let net = Net { id, nodes: 0 };
        let bridge = net.bridge();
        if !ip(&["link", "add", &bridge, "type", "bridge"]) {
            return None;
        }
        let mut net = net;
        net.nodes = nodes;
        for (args, what) in [
            (vec!["addr", "add", &format!("10.77.{id}.254/24"), "dev", &bridge], "address the bridge"),
            (vec!["link", "set", &bridge, "up"], "bring the bridge up"),
        ] {
            assert!(ip(&args.iter().map(|s| s.as_ref()).collect::<Vec<&str>>()), "{what}");
        }
        for i in 0..nodes {
            let (ns, host, inside, addr) =
                (net.ns(i), net.host_link(i), format!("gyc{id}n{i}"), format!("{}/24", net.ip(i)));
            for args in [
                vec!["netns", "add", &ns],
                vec!["link", "add", &host, "type", "veth", "peer", "name", &inside],
                vec!["link", "set", &inside, "netns", &ns],
                vec!["link", "set", &host, "master", &bridge],
                vec!["link", "set", &host, "up"],
                vec!["-n", &ns, "addr", "add", &addr, "dev", &inside],
                vec!["-n", &ns, "link", "set", &inside, "up"],
                vec!["-n", &ns, "link", "set", "lo", "up"],
            ] {
                assert!(ip(&args), "ip {args:?}");
            }
        }
        Some(net)
    }

    fn bridge(&self) -> String {
        format!("gyb{}", self.id)
    }

    fn ns(&self, i: usize) -> String {
        format!("gy{}n{i}", self.id)
    }

    fn host_link(&self, i: usize) -> String {
        format!("gyv{}n{i}", self.id)
    }

    fn ip(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.id, i + 1)
    }

    /// Cuts node `i` off (true) or joins it again (false).
    fn cut(&self, i: usize, off: bool) {
        assert!(ip(&["link", "set", &self.host_link(i), if off { "down" } else { "up" }]));
    }

    /// Partitions `minority` onto a bridge of its own (they reach each
    /// other, not the rest, and this process reaches them only from inside
    /// their namespaces), or (`apart` false) joins them back.
    fn split(&self, minority: &[usize], apart: bool) {
        let other = format!("{}m", self.bridge());
        if apart && !ip(&["link", "show", &other]) {
            assert!(ip(&["link", "add", &other, "type", "bridge"]) && ip(&["link", "set", &other, "up"]));
        }
        let to = if apart { other } else { self.bridge() };
        for &i in minority {
            assert!(ip(&["link", "set", &self.host_link(i), "master", &to]), "move node {i} to {to}");
        }
    }

    /// Runs `f` on a thread inside node `i`'s namespace (its sockets are
    /// made there).
    fn run_in<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/var/run/netns/{}", self.ns(i));
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("the namespace");
            // SAFETY: setns on a valid namespace fd changes only this thread's
            // network namespace.
            assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            f()
        })
        .join()
        .expect("the thread in the namespace")
    }

    /// Starts node `i` in its namespace (client port 7000 + i, cluster
    /// port 17000 + i), joining `join`.
    fn start(&self, root: &std::path::Path, i: usize, join: Option<&Node>, extra: &[String]) -> Node {
        let (ip, port) = (self.ip(i), 7000 + i as u16);
        let dir = root.join(format!("n{i}"));
        let mut args: Vec<String> = [
            "--bind",
            &ip,
            "--port",
            &port.to_string(),
            "--cluster-port",
            &(17000 + i).to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--cluster-secret",
            "test-secret",
            "--wal-segment-bytes",
            "1mb",
            // This process reaches it over the bridge, not loopback.
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        let mut node = Node {
            child: None,
            ip,
            port,
            args: args.clone(),
            log: root.join(format!("n{i}.log")),
            netns: Some(self.ns(i)),
        };
        if let Some(seed) = join {
            args.push("--join".into());
            args.push(seed.cluster_addr());
        }
        node.spawn(&args);
        node
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.nodes {
            ip(&["link", "del", &self.host_link(i)]);
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["link", "del", &format!("{}m", self.bridge())]);
        ip(&["link", "del", &self.bridge()]);
    }
}

/// Runs `ip` with `args`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A network partition (Linux network namespaces) cuts a primary off
/// alone: on its minority side it serves nothing once its lease lapses
/// (no read of its stale value, no write at `quorum` or `one`), while the
/// majority fails it over and goes on taking writes; once the partition
/// heals it rejoins as a replica, every acknowledged write reads back,
/// and every slot's copies converge to equal digests.
#[test]
fn a_primary_cut_off_by_a_partition_serves_nothing_on_its_side_and_the_majority_goes_on() {
    let _one_at_a_time = serial();
    let Some(net) = Net::new(3) else {
        eprintln!("skipped: making network namespaces needs root (ip netns, ip link)");
        return;
    };
    let root = tempdir();
    let extra = ["--anti-entropy-interval-ms".to_string(), "500".to_string()];
    let a = net.start(&root.0, 0, None, &extra);
    let b = net.start(&root.0, 1, Some(&a), &extra);
    let c = net.start(&root.0, 2, Some(&a), &extra);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let key = key_led_by(&a, b.port);
    let mut rc = Redirecting::new(&three);
    assert_eq!(rc.query_settled(&["SET", &key, "before"]).as_deref(), Ok("OK"));
    let sets = UniqueSets::start(&three, "n:");
    sets.wait_for(51, &three);

    net.cut(1, true);
    let two = [&a, &c];
    let mut majority = Redirecting::new(&two);
    wait_until("the majority to take writes to the cut-off primary's slot", &two, || {
        majority.query(&["SET", &key, "after"]).is_ok()
    });
    // The minority side: the cut-off primary, asked from inside its own
    // namespace, reads and writes nothing.
    let (addr, k) = (format!("{}:{}", b.ip, b.port), key.clone());
    let replies = net.run_in(1, move || {
        minority_attempts(&mut TcpStream::connect(&addr).expect("connect inside the namespace"), &k)
    });
    eprintln!("the cut-off primary answered {replies:?}");
    assert!(replies[0] != "before", "the cut-off primary served a stale read: {replies:?}");
    assert!(replies[1] != "OK", "the cut-off primary acknowledged a quorum write: {replies:?}");
    assert_eq!(replies[2], "OK");
    assert!(replies[3] != "OK", "the cut-off primary acknowledged a write at one: {replies:?}");

    net.cut(1, false);
    wait_until("the healed node to follow the new map and serve again", &three, || follows_new_map(&b, &key, "after"));
    let acked = sets.finish();
    assert!(acked.len() > 50, "{} SETs acknowledged", acked.len());
    check_acknowledged(&mut rc, "n:", &acked);
    assert_eq!(rc.query_settled(&["GET", &key]).as_deref(), Ok("after"));
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));
}

/// A node whose clock runs 5 s ahead (`clock-offset-ms`, the runtime's
/// wall clock) cannot drag the others' clocks: they refuse its feed's
/// versions (counted in INFO `clock_drift_refused`), so its slots'
/// quorum writes answer -NOREPLICAS, while the other nodes' quorum
/// writes, whose versions they would refuse too if their clocks had been
/// dragged, go on being acknowledged. Once its clock is set right (a
/// restart), its feeds are taken again as soon as real time passes the
/// versions it issued; every acknowledged write reads back and the copies
/// converge.
#[test]
fn a_node_whose_clock_runs_ahead_cannot_drag_the_others_and_its_slots_refuse_quorum_writes() {
    with_a_skewed_clock(55, 5000, |skew| {
        let refused = err_text(q(&mut skew.c.client(), &["SET", &skew.at_c, "ahead"]));
        assert!(refused.starts_with("NOREPLICAS"), "{refused}");
        let drift: u64 = [skew.a, skew.b].iter().map(|n| info_number(n, "stats", "clock_drift_refused")).sum();
        assert!(drift > 0, "the others counted the skewed node's versions");
    });
}

/// A node whose clock runs 5 s behind: the others' versions are ahead of
/// its clock by more than `max-clock-drift-ms`, so it refuses their feeds
/// (counted in its INFO `clock_drift_refused`) and its clock is not
/// dragged either; its own versions, behind the others' clocks, are taken.
/// Every quorum write is acknowledged (the other two hold the others'
/// slots; they take the lagging node's), including overwrites of keys
/// written before at newer versions by the others; once its clock is set
/// right, every acknowledged write reads back and the copies converge.
#[test]
fn a_node_whose_clock_runs_behind_refuses_newer_feeds_and_loses_no_write() {
    with_a_skewed_clock(60, -5000, |skew| {
        assert!(
            skew.acked.len() as u64 > skew.attempted / 2,
            "{} of {} SETs acknowledged",
            skew.acked.len(),
            skew.attempted
        );
        let mut c = skew.c.client();
        assert_eq!(q(&mut c, &["SET", &skew.at_c, "behind"]).map(|v| text(&v)), Ok("OK".to_string()));
        assert_eq!(q(&mut c, &["SET", &skew.at_c, "behind, again"]).map(|v| text(&v)), Ok("OK".to_string()));
        let mut rc = Redirecting::new(&[skew.a, skew.b, skew.c]);
        assert_eq!(rc.query_settled(&["GET", &skew.at_c]).as_deref(), Ok("behind, again"));
        assert!(
            info_number(skew.c, "stats", "clock_drift_refused") > 0,
            "the lagging node refused the others' versions"
        );
        let drift: u64 = [skew.a, skew.b].iter().map(|n| info_number(n, "stats", "clock_drift_refused")).sum();
        assert_eq!(drift, 0, "the others take the lagging node's versions");
    });
}

/// What the clock tests look at while the third node's clock is skewed.
struct Skew<'a> {
    a: &'a Node,
    b: &'a Node,
    c: &'a Node,
    /// A key the skewed node leads.
    at_c: String,
    /// Unique SETs acknowledged, of those attempted, over 2 s.
    acked: Vec<u64>,
    attempted: u64,
}

/// The clock tests' course: three nodes (numbered from `first`) whose
/// third node's clock is `offset_ms` off (`clock-offset-ms`, the runtime's
/// wall clock); unique SETs for 2 s and a SET on the first node's key;
/// `during` checks the skew's effects; then the third node's clock is set
/// right (a restart), its slots take quorum writes again, every
/// acknowledged write reads back and the copies converge.
fn with_a_skewed_clock(first: u8, offset_ms: i64, during: impl FnOnce(&Skew)) {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = [
        "--anti-entropy-interval-ms".to_string(),
        "500".to_string(),
        "--write-timeout-ms".to_string(),
        "500".to_string(),
    ];
    let a = Node::start_with(&root.0, first, None, &extra);
    let b = Node::start_with(&root.0, first + 1, Some(&a), &extra);
    let mut skewed = extra.to_vec();
    skewed.extend(["--clock-offset-ms".to_string(), offset_ms.to_string()]);
    let mut c = Node::start_with(&root.0, first + 2, Some(&a), &skewed);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let (at_a, at_c) = (key_led_by(&a, a.port), key_led_by(&a, c.port));
    let mut rc = Redirecting::new(&three);
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut attempted = 0u64;
    while Instant::now() < deadline {
        if rc.query(&["SET", &format!("s:{attempted}"), &attempted.to_string()]).is_ok() {
            acked.push(attempted);
        }
        attempted += 1;
    }
    assert!(!acked.is_empty());
    assert_eq!(q(&mut a.client(), &["SET", &at_a, "fine"]).map(|v| text(&v)), Ok("OK".to_string()));
    during(&Skew { a: &a, b: &b, c: &c, at_c: at_c.clone(), acked: acked.clone(), attempted });

    let at = c.args.iter().position(|a| a == "--clock-offset-ms").unwrap();
    c.args[at + 1] = "0".into();
    c.restart();
    let three = [&a, &b, &c];
    wait_until("the corrected node's slots to take quorum writes again", &three, || {
        q(&mut c.client(), &["SET", &at_c, "later"]).is_ok()
    });
    let mut rc = Redirecting::new(&three);
    check_acknowledged(&mut rc, "s:", &acked);
    assert_eq!(rc.query_settled(&["GET", &at_a]).as_deref(), Ok("fine"));
    assert_eq!(rc.query_settled(&["GET", &at_c]).as_deref(), Ok("later"));
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));
}

/// Durable hints: a primary killed with SIGKILL and restarted before the
/// node timeout fails it over keeps its slots; once it caught up again,
/// its feeds resume from its write-ahead log where each replica's
/// acknowledgements stood (`hints`), with no fresh copy; every
/// acknowledged SET reads back and the copies converge.
#[test]
fn a_primary_restarted_at_once_resumes_its_feeds_from_its_log() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = [
        "--node-timeout-ms".to_string(),
        "10000".to_string(),
        "--anti-entropy-interval-ms".to_string(),
        "500".to_string(),
    ];
    let mut a = Node::start_with(&root.0, 65, None, &extra);
    let b = Node::start_with(&root.0, 66, Some(&a), &extra);
    let c = Node::start_with(&root.0, 67, Some(&a), &extra);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let sets = UniqueSets::start(&three, "h:");
    // Every replica online, and a mark kept for each (written every second).
    wait_until("the primary's feeds online", &three, || {
        let info = text(&q(&mut a.client(), &["INFO", "replication"]).unwrap());
        info.matches("state=online").count() == 2
    });
    std::thread::sleep(Duration::from_millis(2500));
    sets.wait_for(21, &three);
    a.restart();
    let three = [&a, &b, &c];
    wait_until("its feeds resumed from its log", &three, || {
        q(&mut a.client(), &["PING"]).is_ok() && info_number(&a, "replication", "gyre_feed_resumes_from_log") == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    let acked = sets.finish();
    assert!(acked.len() > 20, "{} SETs acknowledged", acked.len());
    let mut rc = Redirecting::new(&three);
    check_acknowledged(&mut rc, "h:", &acked);
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));
    assert_eq!(info_number(&a, "cluster", "gyre_failovers"), 0, "no failover: the node came back in time");
}

/// Sloppy quorum: at `write-consistency all`, a write whose replica was
/// killed is acknowledged, as `sloppy-quorum yes` lets the hints kept for
/// that replica count (without it, such a write answers -NOREPLICAS:
/// `acknowledged_writes_survive_...`); the replica, back, holds it.
#[test]
fn with_sloppy_quorum_hints_count_towards_a_write_and_reach_the_replica() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = [
        "--write-consistency".to_string(),
        "all".to_string(),
        "--write-timeout-ms".to_string(),
        "1000".to_string(),
        "--sloppy-quorum".to_string(),
        "yes".to_string(),
    ];
    let a = Node::start_with(&root.0, 70, None, &extra);
    let b = Node::start_with(&root.0, 71, Some(&a), &extra);
    let mut c = Node::start_with(&root.0, 72, Some(&a), &extra);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    let key = key_led_by(&a, a.port);
    wait_until("a write at all", &three, || q(&mut a.client(), &["SET", &key, "before"]).is_ok());
    c.kill();
    let two = [&a, &b];
    wait_until("the feed to the killed replica parked", &two, || {
        info_number(&a, "replication", "gyre_feeds_parked") == 1
    });
    assert_eq!(q(&mut a.client(), &["SET", &key, "hinted"]).map(|v| text(&v)), Ok("OK".to_string()));
    c.restart();
    let three = [&a, &b, &c];
    wait_until("the returning replica to hold the hinted write", &three, || {
        let mut conn = c.client();
        let _ = q(&mut conn, &["READONLY"]);
        q(&mut conn, &["GET", &key]).map(|v| text(&v)) == Ok("hinted".into())
    });
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));
}

/// Hints end with `hint-ttl`: the feed parked for a killed replica is
/// dropped once its time is up (the replica, back, gets a fresh copy), and
/// the log says so.
#[test]
fn hints_expire_after_hint_ttl() {
    let _one_at_a_time = serial();
    let root = tempdir();
    let extra = ["--hint-ttl".to_string(), "1".to_string()];
    let a = Node::start_with(&root.0, 75, None, &extra);
    let b = Node::start_with(&root.0, 76, Some(&a), &extra);
    let mut c = Node::start_with(&root.0, 77, Some(&a), &extra);
    let three = [&a, &b, &c];
    wait_until("three nodes to form with three voters", &three, || formed_with_voters(&three));
    wait_until("the feeds online", &three, || {
        text(&q(&mut a.client(), &["INFO", "replication"]).unwrap()).matches("state=online").count() == 2
    });
    c.kill();
    let two = [&a, &b];
    wait_until("the feed to the killed replica parked", &two, || {
        info_number(&a, "replication", "gyre_feeds_parked") == 1
    });
    let parked_at = Instant::now();
    wait_until("the parked feed dropped after hint-ttl", &two, || {
        info_number(&a, "replication", "gyre_feeds_parked") == 0
    });
    assert!(parked_at.elapsed() >= Duration::from_millis(500), "dropped before its time");
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("hints expired (hint-ttl)"), "the log says the hints expired");
    c.restart();
    let three = [&a, &b, &c];
    wait_until("every slot's copies to have equal digests", &three, || copies_agree(&three, 3));
}

/// A delete's tombstone must outlive the hint window and an anti-entropy
/// round: a cluster node whose `tombstone-ttl` does not is refused at
/// start, with a message that names the settings.
#[test]
fn a_tombstone_ttl_within_the_hint_window_is_refused_at_start() {
    let root = tempdir();
    let ip = "127.0.0.1";
    let (port, cport) = (free_port(ip), free_port(ip));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gyre-server"));
    cmd.args(["--bind", ip, "--port", &port.to_string(), "--cluster-port", &cport.to_string()]).args([
        "--dir",
        root.0.join("n").to_str().unwrap(),
        "--tombstone-ttl",
        "600",
        "--hint-ttl",
        "600",
    ]);
    let out = output_within(&mut cmd, WAIT);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("tombstone-ttl (600 s) must exceed hint-ttl plus anti-entropy-interval-ms (610 s)"),
        "{said}"
    );
}

/// Five nodes (RF 3) in network namespaces; a partition puts a primary and
/// one other node on a side of their own. On that minority side neither
/// serves (no majority of Raft voters: their leases lapse), even to a
/// client beside them; the majority side fails their slots over and goes
/// on taking writes. Once healed, every acknowledged write reads back and
/// each slot's three copies converge.
#[test]
fn a_primary_partitioned_with_a_minority_serves_nothing_and_the_majority_goes_on() {
    let _one_at_a_time = serial();
    let Some(net) = Net::new(5) else {
        eprintln!("skipped: making network namespaces needs root (ip netns, ip link)");
        return;
    };
    let root = tempdir();
    let extra = ["--anti-entropy-interval-ms".to_string(), "500".to_string()];
    let first = net.start(&root.0, 0, None, &extra);
    let rest: Vec<Node> = (1..5).map(|i| net.start(&root.0, i, Some(&first), &extra)).collect();
    let all: Vec<&Node> = std::iter::once(&first).chain(rest.iter()).collect();
    wait_until("five nodes to form with five voters", &all, || formed_with_voters(&all));
    // The key is led by node 3; the minority is node 3 and a node that
    // holds no copy of its slot (with two of the slot's three copies on
    // the minority side, no side could serve it: the majority of copies
    // decides, as for any quorum).
    let key = key_led_by(&first, all[3].port);
    let mut rc = Redirecting::new(&all);
    assert_eq!(rc.query_settled(&["SET", &key, "before"]).as_deref(), Ok("OK"));
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key).query(&mut first.client()).unwrap();
    let mut other = None;
    wait_until("the key's three copies", &all, || {
        let holds: Vec<bool> = all
            .iter()
            .map(|n| {
                redis::cmd("CLUSTER")
                    .arg("DIGEST")
                    .arg(slot)
                    .query::<Vec<i64>>(&mut n.client())
                    .is_ok_and(|d| d[0] != 0)
            })
            .collect();
        // The first node (the Raft leader since formation) when it can be:
        // a leader cut off with a minority still reaches the follower beside
        // it, which must not take that for a lease.
        other = if holds[0] { (0..5).find(|&i| !holds[i]) } else { Some(0) };
        holds.iter().filter(|h| **h).count() == 3
    });
    let minority = [3, other.expect("a node without a copy")];
    let majority: Vec<&Node> = (0..5).filter(|i| !minority.contains(i)).map(|i| all[i]).collect();
    let sets = UniqueSets::start(&all, "m:");
    sets.wait_for(51, &all);

    net.split(&minority, true);
    let mut writes = Redirecting::new(&majority);
    wait_until("the majority to take writes to the cut-off primary's slot", &majority, || {
        writes.query(&["SET", &key, "after"]).is_ok()
    });
    // The minority side, asked from beside the cut-off primary (the other
    // minority node's namespace reaches it over their own bridge).
    let (addr, k) = (format!("{}:{}", all[3].ip, all[3].port), key.clone());
    let replies = net.run_in(minority[1], move || {
        minority_attempts(&mut TcpStream::connect(&addr).expect("connect across the minority's bridge"), &k)
    });
    eprintln!("the partitioned primary answered {replies:?}");
    assert!(replies[0] != "before", "a stale read on the minority side: {replies:?}");
    assert!(replies[1] != "OK", "a quorum write acknowledged on the minority side: {replies:?}");
    assert!(replies[3] != "OK", "a write at one acknowledged on the minority side: {replies:?}");

    net.split(&minority, false);
    wait_until("the healed nodes to serve again", &all, || {
        all.iter().all(|n| text(&q(&mut n.client(), &["CLUSTER", "INFO"]).unwrap()).contains("cluster_state:ok"))
    });
    let acked = sets.finish();
    assert!(acked.len() > 50, "{} SETs acknowledged", acked.len());
    check_acknowledged(&mut rc, "m:", &acked);
    assert_eq!(rc.query_settled(&["GET", &key]).as_deref(), Ok("after"));
    wait_until("each slot's three copies to have equal digests", &all, || copies_agree(&all, 3));
}
