//! A real Gyre cluster for the end-to-end tests: `gyre-server` processes on
//! 127.0.0.1 with free client and cluster ports, the first starting the
//! cluster and the others joining it, each with its own data directory and
//! log under one temporary directory.
//!
//! Every process is killed when the [`TestCluster`] drops (panics included)
//! and its directory removed; every wait is bounded ([`SETTLE_TIMEOUT`],
//! [`QUERY_TIMEOUT`]). Needs Gyre's own server (`$GYRE_CLI_TEST_SERVER`
//! naming a gyre-server, or the one built beside the tests); without it
//! [`TestCluster::start`] says so and returns `None`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gyre_resp::{encode_command, parse_frame, Frame, Limits};

/// How long a cluster gets to form and finish moving its slots (a debug
/// build on a loaded 2-core machine is slow).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one query to a node may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a node gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port free for TCP and UDP on 127.0.0.1 (the cluster port carries both).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() && port < 55_000 {
            return port;
        }
    }
}

/// Gyre's server: `$GYRE_CLI_TEST_SERVER` if it is one, else the one built
/// beside the tests.
pub fn gyre_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GYRE_CLI_TEST_SERVER") {
        let path = PathBuf::from(path);
        return path.file_name().is_some_and(|n| n.to_string_lossy().contains("gyre-server")).then_some(path);
    }
    let own = std::env::current_exe().ok()?.parent()?.parent()?.join("gyre-server");
    own.exists().then_some(own)
}

/// One node.
pub struct Node {
    child: Child,
    /// Client port.
    pub port: u16,
    /// Cluster (Raft and SWIM) port.
    pub cluster_port: u16,
    log: PathBuf,
}

/// A running cluster, killed on drop.
pub struct TestCluster {
    /// The nodes, the first the one that started the cluster.
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestCluster {
    /// Starts `n` nodes (the first alone, the others joining it) and waits
    /// until every node reports `cluster_state:ok`, `n` known nodes, no slot
    /// move in progress and the same topology version. `None` without a
    /// gyre-server binary.
    pub fn start(n: usize) -> Option<TestCluster> {
        let Some(binary) = gyre_server_binary() else {
            eprintln!("skipping: cluster tests need gyre-server (build it, or set GYRE_CLI_TEST_SERVER)");
            return None;
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("gyre-cli-cluster-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let mut cluster = TestCluster { nodes: Vec::new(), dir };
        for i in 0..n {
            let seed = cluster.nodes.first().map(|first: &Node| first.cluster_port);
            let node = cluster.spawn(&binary, i, seed);
            cluster.nodes.push(node);
        }
        cluster.wait_settled(n);
        Some(cluster)
    }

    /// Starts node `i`, retrying with other ports if they were taken.
    fn spawn(&self, binary: &PathBuf, i: usize, seed: Option<u16>) -> Node {
        for _ in 0..5 {
            let (port, cluster_port) = (free_port(), free_port());
            let log = self.dir.join(format!("node-{i}.log"));
            let mut command = Command::new(binary);
            command
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--cluster-port", &cluster_port.to_string()])
                .arg("--dir")
                .arg(self.dir.join(format!("node-{i}")))
                // Quicker failure detection and gossip; small log segments
                // (each reserves its size on disk).
                .args(["--node-timeout-ms", "2000", "--gossip-interval-ms", "200", "--wal-segment-bytes", "1mb"]);
            if let Some(seed) = seed {
                command.args(["--join", &format!("127.0.0.1:{seed}")]);
            }
            let log_file = std::fs::File::create(&log).expect("create a node log");
            let child = command.stdout(Stdio::null()).stderr(log_file).spawn().expect("spawn gyre-server");
            let mut node = Node { child, port, cluster_port, log };
            if node.wait_listening() {
                return node;
            }
            let _ = node.child.kill();
            let _ = node.child.wait();
            eprintln!("node {i} did not start on ports {port}/{cluster_port}; retrying:\n{}", node.logs());
        }
        panic!("could not start node {i}");
    }

    /// Waits until every node agrees that `n` nodes share all slots.
    fn wait_settled(&self, n: usize) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let last: Vec<String> = self.nodes.iter().map(|node| cluster_info(node.port).unwrap_or_default()).collect();
            let settled = last.iter().all(|info| {
                info.contains("cluster_state:ok\r\n")
                    && info.contains(&format!("cluster_known_nodes:{n}\r\n"))
                    && info.contains("gyre_slot_moves_in_progress:0\r\n")
            });
            let version =
                |info: &String| info.lines().find(|l| l.starts_with("gyre_topology_version:")).map(String::from);
            if settled && last.iter().all(|info| version(info) == version(&last[0])) {
                return;
            }
            if Instant::now() > deadline {
                panic!("the cluster did not settle in {SETTLE_TIMEOUT:?}:\n{last:#?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes.iter().map(|n| format!("--- node on port {}\n{}", n.port, n.logs())).collect()
    }

    /// The client port of the node serving `key`'s slot (asks the first node).
    pub fn owner_of(&self, key: &str) -> u16 {
        let slot = match query(self.nodes[0].port, &["CLUSTER", "KEYSLOT", key]) {
            Ok(Frame::Integer(slot)) => slot,
            other => panic!("CLUSTER KEYSLOT {key}: {other:?}"),
        };
        let Ok(Frame::Array(ranges)) = query(self.nodes[0].port, &["CLUSTER", "SLOTS"]) else {
            panic!("CLUSTER SLOTS failed");
        };
        for range in ranges {
            let Frame::Array(parts) = range else { continue };
            if let [Frame::Integer(start), Frame::Integer(end), Frame::Array(node), ..] = parts.as_slice() {
                if (*start..=*end).contains(&slot) {
                    if let Some(Frame::Integer(port)) = node.get(1) {
                        return u16::try_from(*port).expect("a port");
                    }
                }
            }
        }
        panic!("no node serves slot {slot}");
    }
}

impl Node {
    /// Whether the node listens (and is this process), within START_TIMEOUT.
    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                return super::server_pid(stream) == Some(self.child.id());
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `CLUSTER INFO` of the node on `port`.
pub fn cluster_info(port: u16) -> Result<String, String> {
    match query(port, &["CLUSTER", "INFO"])? {
        Frame::Bulk(text) | Frame::Verbatim { text, .. } => Ok(String::from_utf8_lossy(&text).into_owned()),
        other => Err(format!("CLUSTER INFO: {other:?}")),
    }
}

/// Sends one command on a fresh connection and returns the reply, within
/// [`QUERY_TIMEOUT`].
pub fn query(port: u16, args: &[&str]) -> Result<Frame, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut out = bytes::BytesMut::new();
    encode_command(args, &mut out);
    stream.write_all(&out).map_err(|e| e.to_string())?;
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 16 * 1024]);
    loop {
        if let Some((frame, _)) = parse_frame(&buf, &Limits::default()).map_err(|e| e.to_string())? {
            return Ok(frame);
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
