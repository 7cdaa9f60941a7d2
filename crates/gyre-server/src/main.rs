//! gyre-server: the Gyre key-value server.
//!
//! Start-up: read settings (flags > GYRE_* environment > defaults), start the
//! background worker, bind the RESP listener, serve each connection in its own
//! task. Uses every core: a multi-threaded runtime sized to the available
//! parallelism.

mod blocking;
mod client;
mod cmd;
mod config;
mod conn;
mod gate;
mod http;
mod listener;
mod memory;
mod notify;
mod persistence;
mod pubsub;
mod scripting;
mod shared;
// Introspection: command/error statistics, SLOWLOG, LATENCY, MONITOR.
mod latency;
mod monitor;
mod slowlog;
mod stats;

#[global_allocator]
static ALLOC: memory::CountingAlloc = memory::CountingAlloc;

use anyhow::Context;

fn main() {
    // Errors are for operators: one line, no debug dump, non-zero exit.
    if let Err(e) = run() {
        eprintln!("gyre-server: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let overrides = parse_command_line()?;
    init_logging();
    let config = config::Config::new(overrides);
    raise_fd_limit(config.hot.maxclients.load(std::sync::atomic::Ordering::Relaxed));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Multi-threaded even on one core: a long Lua script hands its worker to
    // another thread (`scripting::hand_off_worker`), which only this runtime
    // supports, so the server keeps answering (-BUSY, SCRIPT KILL) meanwhile.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("gyre-worker")
        .enable_all()
        .build()
        .context("building the async runtime")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), threads, pid = std::process::id(), "Gyre starting");
    let result = runtime.block_on(listener::run(config));
    // A thread still running a script (one that wrote, so SCRIPT KILL cannot
    // stop it) must not keep the process alive: its effects were never
    // acknowledged.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// Descriptors beyond the clients: listeners, data files, the log.
const RESERVED_FDS: u64 = 32;

/// Raises the soft open-files limit towards `maxclients` plus a reserve (as
/// Redis does), up to the hard limit; warns when even that is too low.
fn raise_fd_limit(maxclients: u64) {
    let wanted = maxclients + RESERVED_FDS;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= wanted {
        return;
    }
    let target = wanted.min(lim.rlim_max);
    let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 && target >= wanted {
        return;
    }
    tracing::warn!(
        maxclients,
        open_files_limit = target,
        "the open-files limit is below maxclients; raise it (ulimit -n) to serve that many clients"
    );
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GYRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Builds the command line from the settings declaration: `--<name> <value>` for
/// each setting, with `GYRE_<NAME>` as its environment variable. Returns the
/// validated overrides (index into PARAMS, canonical value).
fn parse_command_line() -> anyhow::Result<Vec<(usize, String)>> {
    let mut command = clap::Command::new("gyre-server")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Gyre: a multi-threaded, Redis-compatible key-value server");
    for p in config::PARAMS {
        let env = format!("GYRE_{}", p.name.to_ascii_uppercase().replace('-', "_"));
        command = command.arg(
            clap::Arg::new(p.name)
                .long(p.name)
                .value_name("VALUE")
                .env(env)
                .help(format!("{} [default: {}]", p.help, p.default)),
        );
    }
    let matches = command.get_matches();
    let mut overrides = Vec::new();
    for (i, p) in config::PARAMS.iter().enumerate() {
        if let Some(v) = matches.get_one::<String>(p.name) {
            let canonical = p
                .normalize(v.as_bytes())
                .map_err(|why| anyhow::anyhow!("invalid value '{v}' for setting '{}': {why}", p.name))?;
            overrides.push((i, canonical));
        }
    }
    Ok(overrides)
}
