//! `gyre-cli bench`: a load generator in the spirit of redis-benchmark.
//!
//! Flags follow redis-benchmark where the two overlap (`-c -n -P -d -r -t
//! --csv -q`, `--dbnum`, `--threads`); Gyre adds a mixed read/write workload
//! (`--read-ratio`), zipfian keys (`--zipf S`), time-bound runs
//! (`--duration`), an unmeasured warm-up (`--warmup`), JSON results and a
//! live progress bar (on a terminal only). A custom command follows `--`,
//! with `__rand_int__` placeholders as in redis-benchmark.
//!
//! With `--cluster` (or gyre-cli's `-c`) each request goes to the primary
//! of its key's slot, and the report adds each node's share (see `cluster`).
//!
//! Each workload runs on fresh connections, one after another. Latency is
//! measured per request from the write of its batch to the read of its reply
//! (see `driver`), recorded in an HDR histogram and reported as p50, p90,
//! p99, p99.9 and max.
//!
//! Limits: at most [`CLIENTS_MAX`] connections and [`PIPELINE_MAX`] requests
//! per batch; values up to [`DATA_SIZE_MAX`] bytes.

mod cluster;
mod driver;
mod report;
mod workload;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{ArgAction, Parser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::driver::{Progress, RunSpec, Target};
use self::workload::{KeyDist, Workload, Zipf};

/// Most connections one run opens.
pub const CLIENTS_MAX: usize = 10_000;
/// Most requests in one pipelined batch.
pub const PIPELINE_MAX: usize = 100_000;
/// Largest value size (`-d`), in bytes.
pub const DATA_SIZE_MAX: usize = 512 * 1024 * 1024;

/// How often the progress line is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

/// Benchmark a Redis-protocol server (flags as in redis-benchmark where they overlap).
#[derive(Debug, Parser)]
#[command(
    name = "gyre-cli bench",
    disable_help_flag = true,
    after_help = "Examples:\n  gyre-cli bench -c 50 -n 200000 -t set,get -P 16\n  \
                  gyre-cli bench -t mixed --read-ratio 0.9 -r 100000 --zipf 0.99 --duration 10s --warmup 2s\n  \
                  gyre-cli bench -n 100000 -r 1000 -- HSET h:__rand_int__ f __rand_int__\n  \
                  gyre-cli -p 7001 bench --cluster -r 100000 -t set,get"
)]
pub struct BenchArgs {
    /// Server hostname (default: gyre-cli's -h).
    #[arg(short = 'h', long = "host", value_name = "HOSTNAME")]
    host: Option<String>,

    /// Server port (default: gyre-cli's -p).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Option<u16>,

    /// Password for AUTH (default: gyre-cli's -a or $GYRECLI_AUTH).
    #[arg(short = 'a', value_name = "PASSWORD")]
    password: Option<OsString>,

    /// ACL user for AUTH.
    #[arg(long = "user", value_name = "USERNAME")]
    user: Option<OsString>,

    /// Database to SELECT (default: gyre-cli's -n).
    #[arg(long = "dbnum", value_name = "DB")]
    db: Option<i64>,

    /// Parallel connections.
    #[arg(short = 'c', value_name = "CLIENTS", default_value_t = 50)]
    clients: usize,

    /// Total requests per workload (default 100000 unless --duration is given).
    #[arg(short = 'n', value_name = "REQUESTS")]
    requests: Option<u64>,

    /// Pipeline <numreq> requests per batch.
    #[arg(short = 'P', value_name = "NUMREQ", default_value_t = 1)]
    pipeline: usize,

    /// Value size of SET/LPUSH/HSET values, in bytes.
    #[arg(short = 'd', value_name = "SIZE", default_value_t = 3)]
    data_size: usize,

    /// Keyspace size: __rand_int__ becomes a key number in 0..KEYSPACE
    /// (without -r every request uses the same key, as in redis-benchmark).
    #[arg(short = 'r', value_name = "KEYSPACE")]
    keyspace: Option<u64>,

    /// Zipfian key distribution with this exponent (e.g. 0.99) instead of uniform; needs -r.
    #[arg(long = "zipf", value_name = "S")]
    zipf: Option<f64>,

    /// Workloads, comma-separated: set, get, mixed, incr, lpush, hset, ping.
    #[arg(short = 't', value_name = "TESTS", value_delimiter = ',', default_value = "set,get")]
    tests: Vec<String>,

    /// Fraction of GETs in the mixed workload.
    #[arg(long = "read-ratio", value_name = "FRACTION", default_value_t = 0.9)]
    read_ratio: f64,

    /// Run each workload this long (e.g. 10s, 500ms, 2m); with -n, whichever ends first.
    #[arg(long = "duration", value_name = "TIME", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Unmeasured load before each workload (e.g. 2s).
    #[arg(long = "warmup", value_name = "TIME", value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,

    /// Worker threads for the clients (1 is redis-benchmark's default, single-threaded).
    #[arg(long = "threads", value_name = "N", default_value_t = 1)]
    threads: usize,

    /// Spread the load over a cluster: read CLUSTER SLOTS from the node
    /// given, send each request to its key's primary, follow MOVED, ASK and
    /// TRYAGAIN, and report each node (also gyre-cli's -c).
    #[arg(long = "cluster")]
    cluster: bool,

    /// Seed for key choice (runs with the same seed send the same keys).
    #[arg(long = "seed", value_name = "N", default_value_t = 0x5eed)]
    seed: u64,

    /// Output CSV.
    #[arg(long = "csv")]
    csv: bool,

    /// Output JSON.
    #[arg(long = "json", conflicts_with = "csv")]
    json: bool,

    /// Quiet: one line per workload.
    #[arg(short = 'q')]
    quiet: bool,

    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,

    /// A custom command to benchmark instead of -t, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Connection settings from gyre-cli's own flags, used where bench's are absent.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `-h`.
    pub host: String,
    /// `-p`.
    pub port: u16,
    /// `--user`.
    pub user: Option<Vec<u8>>,
    /// `-a` or `$GYRECLI_AUTH`.
    pub password: Option<Vec<u8>>,
    /// `-n`.
    pub db: i64,
    /// `-c`: treat the server as a cluster, as `--cluster` does.
    pub cluster: bool,
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("invalid duration '{text}'"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in '{text}' (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration '{text}'"))
}

/// A validated benchmark plan.
struct Plan {
    target: Target,
    spec: RunSpec,
    workloads: Vec<Workload>,
    data_size: usize,
    keys: KeyDist,
    setup: report::Setup,
    threads: usize,
    cluster: bool,
}

impl BenchArgs {
    fn plan(self, defaults: Defaults) -> anyhow::Result<Plan> {
        if !(1..=CLIENTS_MAX).contains(&self.clients) {
            bail!("-c must be between 1 and {CLIENTS_MAX}");
        }
        if !(1..=PIPELINE_MAX).contains(&self.pipeline) {
            bail!("-P must be between 1 and {PIPELINE_MAX}");
        }
        if self.data_size > DATA_SIZE_MAX {
            bail!("-d must be at most {DATA_SIZE_MAX}");
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            bail!("--read-ratio must be between 0 and 1");
        }
        if self.threads == 0 || self.threads > 256 {
            bail!("--threads must be between 1 and 256");
        }
        let keys = match (self.keyspace, self.zipf) {
            (Some(0), _) => bail!("-r must be at least 1"),
            (None, Some(_)) => bail!("--zipf needs a keyspace (-r)"),
            (_, Some(s)) if !(s.is_finite() && s >= 0.0) => bail!("--zipf must be a number >= 0"),
            (None, None) => KeyDist::Fixed,
            (Some(n), None) => KeyDist::Uniform(n),
            (Some(n), Some(s)) => KeyDist::Zipf(Zipf::new(n, s)),
        };
        let key_text = match (&keys, self.keyspace, self.zipf) {
            (KeyDist::Fixed, _, _) => "1 key".to_string(),
            (_, Some(n), Some(s)) => format!("{n} keys, zipfian s={s}"),
            (_, n, _) => format!("{} keys, uniform", n.unwrap_or(1)),
        };
        let workloads = if self.command.is_empty() {
            self.tests
                .iter()
                .map(|name| {
                    Workload::from_name(name.trim(), self.read_ratio).with_context(|| {
                        format!("unknown workload '{name}' (set, get, mixed, incr, lpush, hset, ping)")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            vec![Workload::Custom(self.command.into_iter().map(OsString::into_encoded_bytes).collect())]
        };
        let requests = match (self.requests, self.duration) {
            (None, None) => Some(100_000),
            (n, _) => n,
        };
        let password = self.password.map(OsString::into_encoded_bytes).or(defaults.password);
        let target = Target {
            host: self.host.unwrap_or(defaults.host),
            port: self.port.unwrap_or(defaults.port),
            user: self.user.map(OsString::into_encoded_bytes).or(defaults.user),
            password,
            db: self.db.unwrap_or(defaults.db),
        };
        let spec = RunSpec {
            clients: self.clients,
            pipeline: self.pipeline,
            requests,
            duration: self.duration,
            warmup: self.warmup,
            seed: self.seed,
        };
        let setup = report::Setup {
            clients: self.clients,
            pipeline: self.pipeline,
            data_size: self.data_size,
            keys: key_text,
            warmup_s: self.warmup.as_secs_f64(),
        };
        Ok(Plan {
            target,
            spec,
            workloads,
            data_size: self.data_size,
            keys,
            setup,
            threads: self.threads,
            cluster: self.cluster || defaults.cluster,
        })
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Text,
    Quiet,
    Csv,
    Json,
}

/// Runs `gyre-cli bench ARGS` (ARGS without the word `bench`).
pub fn main(args: &[OsString], defaults: Defaults) -> anyhow::Result<()> {
    let parsed =
        BenchArgs::try_parse_from(std::iter::once(OsString::from("gyre-cli bench")).chain(args.iter().cloned()))
            .unwrap_or_else(|e| e.exit());
    let output = match (parsed.json, parsed.csv, parsed.quiet) {
        (true, _, _) => Output::Json,
        (_, true, _) => Output::Csv,
        (_, _, true) => Output::Quiet,
        _ => Output::Text,
    };
    let plan = parsed.plan(defaults)?;
    let rt = if plan.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(plan.threads).enable_all().build()?
    };
    // The bar goes to stderr, and only when a person is watching stdout.
    let show_progress = io::stdout().is_terminal() && io::stderr().is_terminal();
    let mut stdout = io::stdout().lock();
    if output == Output::Csv {
        stdout.write_all(report::csv_header().as_bytes())?;
    }
    let routes = match plan.cluster {
        true => Some(Arc::new(rt.block_on(cluster::Routes::load(&plan.target))?)),
        false => None,
    };
    if routes.is_some() && matches!(plan.keys, KeyDist::Fixed) {
        eprintln!("bench --cluster: without -r every request uses one key, so one node gets all the load");
    }
    let mut results = Vec::new();
    for workload in &plan.workloads {
        let gen = workload.generator(plan.data_size, plan.keys.clone());
        let title = workload.title();
        let (outcome, by_node) = match &routes {
            None => {
                let run = |progress, epoch| driver::run(&rt, &plan.target, &plan.spec, &gen, progress, epoch);
                (run_with_progress(&plan, &title, show_progress, run)?, None)
            }
            Some(routes) => {
                let gen = match workload {
                    Workload::Custom(args) => {
                        gen.with_key_arg(rt.block_on(cluster::custom_key_arg(&plan.target, args))?)
                    }
                    _ => gen,
                };
                let run = |progress, epoch| cluster::run(&rt, routes, &plan.spec, &gen, progress, epoch);
                let outcome = run_with_progress(&plan, &title, show_progress, run)?;
                (outcome.total, Some((outcome.nodes, outcome.reroutes)))
            }
        };
        if let Some(text) = &outcome.first_error {
            eprintln!("{title}: {} error replies, the first: {text}", outcome.errors);
        }
        let mut result =
            report::Result::new(title, outcome.requests, outcome.errors, outcome.elapsed, &outcome.latency_us);
        if let Some((nodes, reroutes)) = by_node {
            result.cluster = Some(report::ClusterFigures::new(nodes, reroutes));
        }
        let text = match output {
            Output::Text => report::text(&result, &plan.setup),
            Output::Quiet => report::quiet(&result),
            Output::Csv => report::csv_row(&result),
            Output::Json => String::new(),
        };
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        results.push(result);
    }
    if output == Output::Json {
        stdout.write_all(report::json(&results, &plan.setup).as_bytes())?;
    }
    Ok(())
}

/// Runs one workload (`run`, given the progress counters and the epoch)
/// while a thread redraws the progress bar.
fn run_with_progress<T>(
    plan: &Plan,
    title: &str,
    show: bool,
    run: impl FnOnce(Arc<Progress>, Instant) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let progress = Arc::new(Progress::default());
    let done = AtomicBool::new(false);
    let epoch = Instant::now();
    let bar = progress_bar(plan, title, show);
    std::thread::scope(|scope| {
        let drawer = scope.spawn(|| draw_progress(&bar, plan, &progress, &done, epoch));
        let outcome = run(Arc::clone(&progress), epoch);
        done.store(true, Ordering::Relaxed);
        // Don't wait out the drawer's tick: short runs end at once.
        drawer.thread().unpark();
        outcome
    })
}

fn progress_bar(plan: &Plan, title: &str, show: bool) -> ProgressBar {
    let target = if show { ProgressDrawTarget::stderr_with_hz(10) } else { ProgressDrawTarget::hidden() };
    let (len, unit) = match (plan.spec.requests, plan.spec.duration) {
        (Some(n), _) => (n, "{pos}/{len} req"),
        (None, Some(d)) => (d.as_millis() as u64, "{elapsed}"),
        (None, None) => (0, ""),
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let template = format!("{{prefix:>12}} [{{bar:30}}] {unit} {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
    bar.set_prefix(title.to_string());
    bar
}

/// Redraws until `done`: position, and throughput over the last tick.
fn draw_progress(bar: &ProgressBar, plan: &Plan, progress: &Progress, done: &AtomicBool, epoch: Instant) {
    let (mut last_count, mut last_at) = (0u64, Instant::now());
    loop {
        std::thread::park_timeout(PROGRESS_TICK);
        if done.load(Ordering::Relaxed) {
            break;
        }
        let count = progress.completed.load(Ordering::Relaxed);
        let now = Instant::now();
        let start_ns = progress.measure_start_ns.load(Ordering::Relaxed);
        let start = epoch + Duration::from_nanos(start_ns);
        if start_ns == 0 || now < start {
            bar.set_message("connecting / warming up");
            last_at = now;
            continue;
        }
        let rate = (count - last_count) as f64 / now.duration_since(last_at).as_secs_f64();
        (last_count, last_at) = (count, now);
        match plan.spec.requests {
            Some(_) => bar.set_position(count),
            None => bar.set_position(now.duration_since(start).as_millis() as u64),
        }
        bar.set_message(format!("{rate:.0} req/s"));
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> BenchArgs {
        BenchArgs::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).expect("parses")
    }

    fn defaults() -> Defaults {
        Defaults { host: "127.0.0.1".into(), port: 6379, user: None, password: None, db: 0, cluster: false }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn redis_benchmark_flags() {
        let args = parse(&["-c", "50", "-n", "200000", "-t", "set,get", "-P", "16", "-d", "10", "-r", "1000", "-q"]);
        let plan = args.plan(defaults()).unwrap();
        assert_eq!(plan.workloads, vec![Workload::Set, Workload::Get]);
        assert_eq!((plan.spec.clients, plan.spec.pipeline, plan.spec.requests), (50, 16, Some(200_000)));
        assert!(matches!(plan.keys, KeyDist::Uniform(1000)));
        assert_eq!(plan.data_size, 10);
        assert!(!plan.cluster);
        assert!(parse(&["--cluster"]).plan(defaults()).unwrap().cluster);
        let d = Defaults { cluster: true, ..defaults() };
        assert!(parse(&[]).plan(d).unwrap().cluster, "gyre-cli's -c");
    }

    #[test]
    fn custom_command_after_double_dash() {
        let plan = parse(&["-n", "10", "--", "SET", "k:__rand_int__", "-1"]).plan(defaults()).unwrap();
        assert_eq!(
            plan.workloads,
            vec![Workload::Custom(vec![b"SET".to_vec(), b"k:__rand_int__".to_vec(), b"-1".to_vec()])]
        );
    }

    #[test]
    fn duration_alone_has_no_request_limit() {
        let plan = parse(&["--duration", "1s"]).plan(defaults()).unwrap();
        assert_eq!(plan.spec.requests, None);
        assert_eq!(parse(&[]).plan(defaults()).unwrap().spec.requests, Some(100_000));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(parse(&["--zipf", "1.0"]).plan(defaults()).is_err());
        assert!(parse(&["-c", "0"]).plan(defaults()).is_err());
        assert!(parse(&["-t", "nosuch"]).plan(defaults()).is_err());
        assert!(parse(&["--read-ratio", "1.5"]).plan(defaults()).is_err());
        assert!(parse(&["-r", "0"]).plan(defaults()).is_err());
    }

    #[test]
    fn connection_flags_fall_back_to_the_clients() {
        let d = Defaults {
            host: "10.1.1.1".into(),
            port: 7000,
            user: None,
            password: Some(b"pw".to_vec()),
            db: 3,
            cluster: false,
        };
        let plan = parse(&["-p", "7001"]).plan(d).unwrap();
        assert_eq!((plan.target.host.as_str(), plan.target.port, plan.target.db), ("10.1.1.1", 7001, 3));
        assert_eq!(plan.target.password.as_deref(), Some(&b"pw"[..]));
    }
}
