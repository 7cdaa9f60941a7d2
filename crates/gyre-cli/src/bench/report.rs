//! Benchmark results as text (detailed or `-q`), CSV and JSON.
//!
//! A cluster run (`--cluster`) adds each node's figures: under the total in
//! the text, as rows `TEST@host:port` after the total's in CSV, and as
//! `cluster.nodes` in JSON; `-q` prints the total only. A node's throughput
//! is its replies over the whole run's time, so the nodes' add up to the
//! total.
//!
//! Latencies are kept in microseconds and printed in milliseconds with three
//! decimals, as redis-benchmark prints them; percentiles are the highest value
//! equivalent to the quantile in the HDR histogram (3 significant digits).

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::cluster::Reroutes;
use super::driver::Outcome;
use crate::cluster::NodeAddr;
use crate::json::{json_number, json_string};

/// Percentiles reported, as (label, quantile).
pub const PERCENTILES: [(&str, f64); 5] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)];

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Result {
    /// Workload title (`SET`, `GET`, a custom command line...).
    pub test: String,
    /// Measured requests.
    pub requests: u64,
    /// Error replies among them.
    pub errors: u64,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Requests per second.
    pub rps: f64,
    /// Mean latency, milliseconds.
    pub avg_ms: f64,
    /// Smallest latency, milliseconds.
    pub min_ms: f64,
    /// Latency at each of [`PERCENTILES`], milliseconds.
    pub percentiles_ms: [f64; 5],
    /// Per node, for a cluster run.
    pub cluster: Option<ClusterFigures>,
}

/// A cluster run's breakdown.
#[derive(Debug, Clone)]
pub struct ClusterFigures {
    /// One result per node, its `test` the node's `host:port`.
    pub nodes: Vec<Result>,
    /// Redirects and retries followed.
    pub reroutes: Reroutes,
}

impl ClusterFigures {
    /// Summarizes each node's outcome.
    pub fn new(nodes: Vec<(NodeAddr, Outcome)>, reroutes: Reroutes) -> ClusterFigures {
        let nodes = nodes
            .into_iter()
            .map(|(addr, o)| Result::new(addr.to_string(), o.requests, o.errors, o.elapsed, &o.latency_us))
            .collect();
        ClusterFigures { nodes, reroutes }
    }
}

impl Result {
    /// Summarizes a finished run.
    pub fn new(test: String, requests: u64, errors: u64, elapsed: Duration, latency_us: &Histogram<u64>) -> Result {
        let secs = elapsed.as_secs_f64();
        let rps = if secs > 0.0 { requests as f64 / secs } else { 0.0 };
        let ms = |us: u64| us as f64 / 1000.0;
        let empty = latency_us.is_empty();
        let percentiles_ms = PERCENTILES.map(|(_, q)| if empty { 0.0 } else { ms(latency_us.value_at_quantile(q)) });
        Result {
            test,
            requests,
            errors,
            elapsed,
            rps,
            avg_ms: if empty { 0.0 } else { latency_us.mean() / 1000.0 },
            min_ms: if empty { 0.0 } else { ms(latency_us.min()) },
            percentiles_ms,
            cluster: None,
        }
    }
}

/// The settings printed with the results.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Connections.
    pub clients: usize,
    /// Pipeline depth.
    pub pipeline: usize,
    /// Value size in bytes.
    pub data_size: usize,
    /// Keyspace description (`1 key`, `100000 keys, uniform`...).
    pub keys: String,
    /// Warm-up seconds.
    pub warmup_s: f64,
}

/// The detailed text block for one workload.
pub fn text(r: &Result, setup: &Setup) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "====== {} ======", r.test);
    let _ = writeln!(
        out,
        "  {} requests completed in {:.2} seconds, {} errors",
        r.requests,
        r.elapsed.as_secs_f64(),
        r.errors
    );
    let _ = writeln!(
        out,
        "  {} parallel clients, pipeline {}, {} bytes payload, {}",
        setup.clients, setup.pipeline, setup.data_size, setup.keys
    );
    if setup.warmup_s > 0.0 {
        let _ = writeln!(out, "  after {:.1} s of warm-up", setup.warmup_s);
    }
    let _ = writeln!(out, "  throughput: {:.2} requests per second", r.rps);
    let _ = writeln!(out, "  latency (msec): {}", latencies(r));
    if let Some(c) = &r.cluster {
        let rr = c.reroutes;
        let _ = writeln!(
            out,
            "  cluster: {} nodes; {} MOVED and {} ASK followed, {} TRYAGAIN retried",
            c.nodes.len(),
            rr.moved,
            rr.ask,
            rr.tryagain
        );
        let width = c.nodes.iter().map(|n| n.test.len()).max().unwrap_or(0);
        for n in &c.nodes {
            let _ = writeln!(
                out,
                "    {:<width$}  {} requests, {} errors, {:.2} requests per second; latency (msec): {}",
                n.test,
                n.requests,
                n.errors,
                n.rps,
                latencies(n)
            );
        }
    }
    out.push('\n');
    out
}

/// `avg 0.850  min 0.041  p50 0.719 ...`.
fn latencies(r: &Result) -> String {
    let mut out = format!("avg {:.3}  min {:.3}", r.avg_ms, r.min_ms);
    for ((label, _), value) in PERCENTILES.iter().zip(r.percentiles_ms) {
        let _ = write!(out, "  {label} {value:.3}");
    }
    out
}

/// The `-q` line: `SET: 123.45 requests per second, p50=0.279 msec`.
pub fn quiet(r: &Result) -> String {
    format!("{}: {:.2} requests per second, p50={:.3} msec\n", r.test, r.rps, r.percentiles_ms[0])
}

/// The CSV header line.
pub fn csv_header() -> &'static str {
    "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p90_latency_ms\",\
     \"p99_latency_ms\",\"p99_9_latency_ms\",\"max_latency_ms\",\"requests\",\"errors\"\n"
}

/// One CSV row, then one per node of a cluster run.
pub fn csv_row(r: &Result) -> String {
    let mut out = csv_line(r, &r.test);
    for n in r.cluster.iter().flat_map(|c| &c.nodes) {
        out.push_str(&csv_line(n, &format!("{}@{}", r.test, n.test)));
    }
    out
}

fn csv_line(r: &Result, test: &str) -> String {
    let mut out = format!("\"{}\",\"{:.2}\",\"{:.3}\",\"{:.3}\"", test.replace('"', "\"\""), r.rps, r.avg_ms, r.min_ms);
    for value in r.percentiles_ms {
        let _ = write!(out, ",\"{value:.3}\"");
    }
    let _ = writeln!(out, ",\"{}\",\"{}\"", r.requests, r.errors);
    out
}

/// The whole run as one JSON document.
pub fn json(results: &[Result], setup: &Setup) -> String {
    let mut out = String::from("{\"config\":{");
    let _ = write!(
        out,
        "\"clients\":{},\"pipeline\":{},\"data_size\":{},\"keys\":{},\"warmup_s\":{}",
        setup.clients,
        setup.pipeline,
        setup.data_size,
        json_string(&setup.keys),
        json_number(setup.warmup_s)
    );
    out.push_str("},\"results\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"test\":{},\"requests\":{},\"errors\":{},\"seconds\":{},",
            json_string(&r.test),
            r.requests,
            r.errors,
            json_number(r.elapsed.as_secs_f64())
        );
        json_figures(r, &mut out);
        if let Some(c) = &r.cluster {
            let rr = c.reroutes;
            let _ = write!(
                out,
                ",\"cluster\":{{\"moved\":{},\"ask\":{},\"tryagain\":{},\"nodes\":[",
                rr.moved, rr.ask, rr.tryagain
            );
            for (j, n) in c.nodes.iter().enumerate() {
                let _ = write!(
                    out,
                    "{}{{\"node\":{},\"requests\":{},\"errors\":{},",
                    if j > 0 { "," } else { "" },
                    json_string(&n.test),
                    n.requests,
                    n.errors
                );
                json_figures(n, &mut out);
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push('}');
    }
    out.push_str("]}\n");
    out
}

/// `"rps":...,"latency_ms":{...}`.
fn json_figures(r: &Result, out: &mut String) {
    let _ = write!(
        out,
        "\"rps\":{},\"latency_ms\":{{\"avg\":{},\"min\":{}",
        json_number(r.rps),
        json_number(r.avg_ms),
        json_number(r.min_ms)
    );
    for ((label, _), value) in PERCENTILES.iter().zip(r.percentiles_ms) {
        let _ = write!(out, ",\"{label}\":{}", json_number(value));
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Result {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        Result::new("SET".into(), 1000, 2, Duration::from_millis(500), &h)
    }

    fn setup() -> Setup {
        Setup { clients: 50, pipeline: 1, data_size: 3, keys: "1 key".into(), warmup_s: 0.0 }
    }

    #[test]
    fn figures_come_from_the_histogram() {
        let r = sample();
        assert_eq!(r.rps, 2000.0);
        assert_eq!(r.percentiles_ms[0], 0.5);
        assert_eq!(r.percentiles_ms[1], 0.9);
        assert_eq!(r.percentiles_ms[4], 1.0);
        assert_eq!(r.min_ms, 0.001);
    }

    #[test]
    fn quiet_and_csv_lines() {
        let r = sample();
        assert_eq!(quiet(&r), "SET: 2000.00 requests per second, p50=0.500 msec\n");
        assert_eq!(
            csv_row(&r),
            "\"SET\",\"2000.00\",\"0.500\",\"0.001\",\"0.500\",\"0.900\",\"0.990\",\"0.999\",\"1.000\",\"1000\",\"2\"\n"
        );
        assert_eq!(csv_header().matches(',').count(), csv_row(&r).matches(',').count());
    }

    #[test]
    fn json_document() {
        let text = json(&[sample()], &setup());
        assert_eq!(
            text,
            "{\"config\":{\"clients\":50,\"pipeline\":1,\"data_size\":3,\"keys\":\"1 key\",\"warmup_s\":0},\
             \"results\":[{\"test\":\"SET\",\"requests\":1000,\"errors\":2,\"seconds\":0.5,\"rps\":2000,\
             \"latency_ms\":{\"avg\":0.5,\"min\":0.001,\"p50\":0.5,\"p90\":0.9,\"p99\":0.99,\"p99.9\":0.999,\"max\":1}}]}\n"
        );
    }

    #[test]
    fn empty_run_reports_zeros() {
        let h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let r = Result::new("GET".into(), 0, 0, Duration::ZERO, &h);
        assert_eq!((r.rps, r.avg_ms, r.percentiles_ms[4]), (0.0, 0.0, 0.0));
    }
}
