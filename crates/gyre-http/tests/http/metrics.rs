//! `/metrics`, read with a Prometheus text-format parser.

use std::collections::HashSet;

use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;
use serde_json::json;

use crate::fake::Fake;
use crate::{client, start, TestServer};

async fn scrape(server: &TestServer, c: &reqwest::Client) -> (String, Scrape) {
    let r = c.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = r.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    (text, scrape)
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    }
}

/// Buckets (upper bound, cumulative count) of the histogram `name`.
fn buckets(scrape: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let sample = scrape.samples.iter().find(|s| s.metric == name).unwrap_or_else(|| panic!("no {name}"));
    let Value::Histogram(counts) = &sample.value else { panic!("{name} is not a histogram") };
    let mut counts: Vec<_> = counts.iter().map(|c| (c.less_than, c.count)).collect();
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    counts
}

#[tokio::test]
async fn metrics_report_the_backend_and_the_http_layer() {
    let server = start(Fake::new()).await;
    let c = client();
    for key in ["a", "b"] {
        c.put(server.url(&format!("/v1/keys/{key}?ttl=60"))).body("v").send().await.unwrap();
    }
    c.put(server.url("/v1/keys/c")).body("v").send().await.unwrap();
    c.get(server.url("/v1/keys/a")).send().await.unwrap();
    c.get(server.url("/v1/keys/missing")).send().await.unwrap();
    c.post(server.url("/v1/commands")).json(&json!(["NOSUCH"])).send().await.unwrap();
    let (text, scrape) = scrape(&server, &c).await;

    assert_eq!(value(&scrape, "gyre_commands_total", &[("cmd", "set")]), 3.0);
    assert_eq!(value(&scrape, "gyre_commands_total", &[("cmd", "get")]), 2.0);
    assert!(value(&scrape, "gyre_commands_duration_seconds_total", &[("cmd", "set")]) >= 0.0);
    assert_eq!(value(&scrape, "gyre_keyspace_hits_total", &[]), 1.0);
    assert_eq!(value(&scrape, "gyre_keyspace_misses_total", &[]), 1.0);
    assert_eq!(value(&scrape, "gyre_db_keys", &[("db", "0")]), 3.0);
    assert_eq!(value(&scrape, "gyre_db_expiring_keys", &[("db", "0")]), 2.0);
    assert_eq!(value(&scrape, "gyre_connected_clients", &[]), 3.0);
    assert_eq!(value(&scrape, "gyre_memory_used_bytes", &[]), 1_048_576.0);
    assert_eq!(value(&scrape, "gyre_wal_size_bytes", &[]), 4096.0);
    assert_eq!(value(&scrape, "gyre_snapshot_age_seconds", &[]), 12.0);
    assert_eq!(value(&scrape, "gyre_uptime_seconds", &[]), 42.0);
    assert_eq!(value(&scrape, "gyre_evicted_keys_total", &[]), 0.0);

    // Six commands ran; the command histogram counted each once.
    let commands = buckets(&scrape, "gyre_command_duration_seconds");
    assert_eq!(commands.last().unwrap(), &(f64::INFINITY, 6.0));
    assert!(commands.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
    assert_eq!(value(&scrape, "gyre_command_duration_seconds_count", &[]), 6.0);
    assert_eq!(buckets(&scrape, "gyre_wal_fsync_duration_seconds").last().unwrap(), &(f64::INFINITY, 0.0));

    // The HTTP layer's own numbers: six requests before this scrape.
    assert_eq!(value(&scrape, "gyre_http_requests_total", &[("code", "204")]), 3.0);
    assert_eq!(value(&scrape, "gyre_http_requests_total", &[("code", "200")]), 1.0);
    assert_eq!(value(&scrape, "gyre_http_requests_total", &[("code", "404")]), 1.0);
    assert_eq!(value(&scrape, "gyre_http_requests_total", &[("code", "400")]), 1.0);
    assert_eq!(buckets(&scrape, "gyre_http_request_duration_seconds").last().unwrap(), &(f64::INFINITY, 6.0));
    assert_eq!(value(&scrape, "gyre_http_connections", &[]), 1.0, "this client's pooled connection");

    // Every sample belongs to a family with HELP and TYPE lines.
    let typed: HashSet<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    let helped: HashSet<&str> = text.lines().filter_map(|l| l.strip_prefix("# HELP ")?.split(' ').next()).collect();
    assert_eq!(typed, helped);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.starts_with("gyre_"), "{line}");
        let family =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| typed.contains(f));
        assert!(typed.contains(family.unwrap_or(name)), "{line} has no TYPE");
    }
}

#[tokio::test]
async fn the_scrape_itself_is_counted_next_time() {
    let server = start(Fake::new()).await;
    let c = client();
    let (_, first) = scrape(&server, &c).await;
    assert!(first.samples.iter().all(|s| s.metric != "gyre_http_requests_total"), "no request finished yet");
    let (_, second) = scrape(&server, &c).await;
    assert_eq!(value(&second, "gyre_http_requests_total", &[("code", "200")]), 1.0);
}
