//! End-to-end tests of `gyre-cli bench` against a real server: small runs
//! finish, print every percentile, and their JSON parses; custom commands
//! run exactly `-n` times.

mod common;

use common::{run, run_any, start_server};
use serde_json::Value;

fn bench(port: u16, args: &[&str]) -> String {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    let out = run_any(port, &all, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("utf8 output")
}

#[test]
fn small_run_prints_throughput_and_percentiles() {
    let Some((_server, port)) = start_server() else { return };
    let out = bench(port, &["-n", "2000", "-c", "4", "-t", "set,get"]);
    for title in ["====== SET ======", "====== GET ======"] {
        assert!(out.contains(title), "{out}");
    }
    assert_eq!(out.matches("2000 requests completed").count(), 2, "{out}");
    assert_eq!(out.matches("requests per second").count(), 2, "{out}");
    for label in ["p50 ", "p90 ", "p99 ", "p99.9 ", "max "] {
        assert_eq!(out.matches(label).count(), 2, "{label} in {out}");
    }
    // No progress bar when stdout is not a terminal.
    assert!(!out.contains("req/s"), "{out}");
}

#[test]
fn json_results_parse() {
    let Some((_server, port)) = start_server() else { return };
    let out = bench(port, &["--json", "-n", "3000", "-c", "8", "-P", "4", "-r", "1000", "-t", "set,get,mixed,incr"]);
    let doc: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(doc["config"]["clients"], 8);
    assert_eq!(doc["config"]["pipeline"], 4);
    let results = doc["results"].as_array().expect("results array");
    let tests: Vec<&str> = results.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["SET", "GET", "MIXED(90% GET)", "INCR"]);
    for r in results {
        assert_eq!(r["requests"], 3000, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
        let lat = &r["latency_ms"];
        let p: Vec<f64> =
            ["min", "p50", "p90", "p99", "p99.9", "max"].iter().map(|k| lat[k].as_f64().unwrap()).collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "percentiles in order: {p:?}");
    }
    // With a keyspace, SET wrote random keys (at most 1000 of them).
    let keys: u64 = run(port, &["DBSIZE"]).trim().parse().unwrap();
    assert!((500..=2000).contains(&keys), "{keys} keys");
}

#[test]
fn custom_command_runs_exactly_n_times() {
    let Some((_server, port)) = start_server() else { return };
    let out = bench(port, &["-q", "-n", "1234", "-c", "7", "-P", "5", "--", "INCR", "bench:counter"]);
    assert!(out.starts_with("INCR bench:counter: "), "{out}");
    assert_eq!(run(port, &["GET", "bench:counter"]), "1234\n");
    // Placeholders become 12-digit key numbers below -r.
    bench(port, &["-q", "-n", "200", "-r", "10", "--zipf", "0.99", "--", "SET", "z:__rand_int__", "v"]);
    let keys = run(port, &["KEYS", "z:*"]);
    assert!(keys.lines().all(|k| k.len() == 14 && k.starts_with("z:0000000000")), "{keys}");
}

#[test]
fn errors_are_counted_and_reported() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["SET", "text", "abc"]);
    let all = ["bench", "--csv", "-n", "100", "-c", "2", "--", "INCR", "text"];
    let out = run_any(port, &all, b"");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().nth(1).expect("a CSV row");
    assert!(row.starts_with("\"INCR text\",") && row.ends_with(",\"100\",\"100\""), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERR value is not an integer"));
}

#[test]
fn duration_and_warmup_bound_the_run() {
    let Some((_server, port)) = start_server() else { return };
    let started = std::time::Instant::now();
    let out = bench(port, &["--json", "-c", "2", "-t", "ping", "--duration", "300ms", "--warmup", "100ms"]);
    let elapsed = started.elapsed();
    let doc: Value = serde_json::from_str(&out).expect("valid JSON");
    let r = &doc["results"][0];
    assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    let seconds = r["seconds"].as_f64().unwrap();
    assert!((0.25..2.0).contains(&seconds), "measured {seconds} s");
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
}

#[test]
fn unreachable_server_fails_cleanly() {
    let port = common::free_port();
    let out = run_any(port, &["bench", "-n", "10"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("Could not connect to Redis at 127.0.0.1:{port}")), "{stderr}");
}
