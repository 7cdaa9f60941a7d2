//! Members over real loopback sockets, in one process: formation, identical
//! maps, a node without the secret refused, a leave; an interrupted
//! bootstrap finishing at the next start.

use std::sync::Arc;
use std::time::Duration;

use gyre_cluster::net::TokioNet;
use gyre_cluster::{Cluster, ClusterConfig, Endpoint, NodeId, NodeTag};

fn free_port() -> u16 {
    // Both TCP and UDP must be free on the cluster port.
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

fn config(dir: &std::path::Path, n: u16, port: u16, seeds: Vec<String>, secret: Option<&str>) -> ClusterConfig {
    ClusterConfig {
        node_id: NodeId::parse(&format!("{n:040x}")).unwrap(),
        client: Endpoint { host: "127.0.0.1".into(), port: 7000 + n },
        cluster: Endpoint { host: "127.0.0.1".into(), port },
        bind: format!("127.0.0.1:{port}").parse().unwrap(),
        seeds,
        replication_factor: 3,
        secret: secret.map(|s| s.as_bytes().to_vec()),
        node_timeout_ms: 1000,
        gossip_interval_ms: 100,
        dir: dir.join(format!("n{n}")),
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_agree_refuse_an_intruder_and_let_one_leave() {
    let dir = tempdir();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let seed = vec![format!("127.0.0.1:{}", ports[0])];
    let a = Cluster::start(config(&dir, 1, ports[0], vec![], Some("s3cret")), Arc::new(TokioNet)).await.unwrap();
    assert!(a.wait_formed(Duration::from_secs(10)).await);
    let b = Cluster::start(config(&dir, 2, ports[1], seed.clone(), Some("s3cret")), Arc::new(TokioNet)).await.unwrap();
    let c = Cluster::start(config(&dir, 3, ports[2], seed.clone(), Some("s3cret")), Arc::new(TokioNet)).await.unwrap();
    let all = [a.clone(), b.clone(), c.clone()];
    wait_until("three members everywhere", || all.iter().all(|n| n.topology().members.len() == 3)).await;
    wait_until("the moves done and one version everywhere", || {
        a.topology().moving() == 0 && all.iter().all(|n| n.topology().version == a.topology().version)
    })
    .await;
    let t = a.topology();
    for n in &all {
        assert_eq!(n.topology().slots, t.slots);
    }
    for tag in 1..=3 {
        let p = t.primary_count(NodeTag(tag));
        assert!(p == 5461 || p == 5462, "{tag}: {p}");
    }
    wait_until("swim sees everyone", || {
        all.iter().all(|n| all.iter().all(|m| n.health(m.node_id()) == Some(gyre_cluster::Health::Up)))
    })
    .await;
    wait_until("three voters", || a.raft_view().voters.len() == 3 || b.raft_view().voters.len() == 3).await;
    wait_until("every map current", || all.iter().all(|n| n.map_is_current())).await;

    // A node without the secret cannot join.
    let port = free_port();
    let intruder = Cluster::start(config(&dir, 9, port, seed.clone(), None), Arc::new(TokioNet)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(intruder.tag().is_none());
    assert_eq!(a.topology().members.len(), 3);

    // C leaves: A and B hold everything.
    c.leave(std::time::Duration::from_secs(30)).await.unwrap();
    wait_until("two members", || a.topology().members.len() == 2 && b.topology().members.len() == 2).await;
    for tag in 1..=2 {
        let p = a.topology().primary_count(NodeTag(tag));
        assert_eq!(p, 8192);
    }
    c.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gyre-cluster-test-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Regression guard: a bootstrap that crashed after saving its tag but
/// before initialising Raft finishes at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_bootstrap_finishes_at_restart() {
    let dir = tempdir();
    let port = free_port();
    let cfg = config(&dir, 1, port, vec![], None);
    std::fs::create_dir_all(&cfg.dir).unwrap();
    let saved = format!("{{\"node_id\":\"{}\",\"tag\":1}}", cfg.node_id);
    std::fs::write(cfg.dir.join("node.json"), saved).unwrap();
    let a = Cluster::start(cfg, Arc::new(TokioNet)).await.unwrap();
    assert!(a.wait_formed(Duration::from_secs(10)).await);
    assert_eq!(a.tag(), Some(NodeTag(1)));
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
