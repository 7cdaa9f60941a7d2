//! gyre-server: the Gyre key-value server.
//!
//! Start-up: read settings (flags > GYRE_* environment > `--config` file >
//! defaults; any invalid value stops start-up before anything is opened),
//! start logging, the background worker and the listeners (plain and TLS),
//! serve each connection in its own task, and stop gracefully on SIGTERM,
//! SIGINT or SHUTDOWN (see `shutdown`). Uses every core: a multi-threaded
//! runtime sized to the available parallelism.

mod acl;
mod blocking;
mod client;
mod cluster;
mod cmd;
mod commit;
mod config;
mod conn;
mod dispatch;
mod evict;
mod feed_tap;
mod gate;
mod hints;
mod http;
mod import_rdb;
mod limits;
mod listener;
mod memory;
mod notify;
mod pause;
mod persistence;
mod pubsub;
mod relay;
mod replication;
mod runtime;
mod save_points;
mod scripting;
mod shared;
mod slot_moves;
mod slot_transfer;
// Introspection: command/error statistics, SLOWLOG, LATENCY, MONITOR.
mod latency;
mod monitor;
mod shutdown;
mod slowlog;
mod stats;
mod tls;
mod tracking;

#[global_allocator]
static ALLOC: memory::CountingAlloc = memory::CountingAlloc;

use anyhow::Context;

/// Stack of each runtime thread (workers and blocking threads).
const WORKER_STACK_BYTES: usize = 8 << 20;

fn main() {
    // Errors are for operators: one line, no debug dump, non-zero exit.
    if let Err(e) = run() {
        eprintln!("gyre-server: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let CommandLine { overrides, file, origin, import_rdb } = parse_command_line()?;
    let config = config::Config::new(overrides).with_file(file);
    let offset = config.settings().clock_offset_ms;
    let os: std::sync::Arc<dyn runtime::Runtime> = std::sync::Arc::new(runtime::OsRuntime::with_offset(offset));
    // Before any key is hashed (--import-rdb below included).
    gyre_engine::seed_key_hasher(os.seed());
    init_logging(&config)?;
    tracing::info!(source = %origin, "configuration loaded");
    if let Some(path) = import_rdb {
        import_rdb::import(&config, &path)?;
    }
    raise_fd_limit(config.hot.maxclients.load(std::sync::atomic::Ordering::Relaxed));
    // The command clock calibrates itself (up to 200 ms) while start-up goes on.
    runtime::warm_up_clock();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Multi-threaded even on one core: a long Lua script hands its worker to
    // another thread (`scripting::hand_off_worker`), which only this runtime
    // supports, so the server keeps answering (-BUSY, SCRIPT KILL) meanwhile.
    let tokio_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("gyre-worker")
        // Scripts run on these threads, and Lua's C conversions recurse per
        // nesting level (cmsgpack decodes 1000 levels): a 2 MiB stack held
        // about 600 in a debug build. Untouched stack pages cost nothing.
        .thread_stack_size(WORKER_STACK_BYTES)
        .enable_all()
        .build()
        .context("building the async runtime")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), threads, pid = std::process::id(), "Gyre starting");
    let result = tokio_runtime.block_on(listener::run(config, os));
    // A thread still running a script (one that wrote, so SCRIPT KILL cannot
    // stop it) must not keep the process alive: its effects were never
    // acknowledged.
    tokio_runtime.shutdown_timeout(std::time::Duration::from_millis(500));
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

/// The tracing level for Redis's `loglevel` names.
fn tracing_level(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "trace",
        "verbose" => "debug",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    }
}

/// Logging as `loglevel`, `log-format` and `logfile` say (GYRE_LOG, a tracing
/// filter, overrides the level).
fn init_logging(config: &config::Config) -> anyhow::Result<()> {
    let settings = config.settings();
    let level = tracing_level(&settings.loglevel);
    let filter = tracing_subscriber::EnvFilter::try_from_env("GYRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logfile = &settings.logfile;
    let writer = if logfile.is_empty() {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr)
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .with_context(|| format!("opening logfile '{logfile}'"))?;
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(file))
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(logfile.is_empty());
    if settings.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

/// The environment variable of a setting: `GYRE_` and the name upper-cased,
/// dashes as underscores.
fn env_name(name: &str) -> String {
    format!("GYRE_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// Builds the command line from the settings declaration: `--<name> <value>` for
/// each setting, with `GYRE_<NAME>` as its environment variable, plus
/// `--config <file>`, and validates every value given.
fn parse_command_line() -> anyhow::Result<CommandLine> {
    let mut command = clap::Command::new("gyre-server")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Gyre: a multi-threaded, Redis-compatible key-value server")
        .after_help("Precedence: flags > environment (GYRE_<NAME>) > --config file > defaults.")
        .arg(
            clap::Arg::new("config")
                .long("config")
                .value_name("FILE")
                .env("GYRE_CONFIG")
                .help("TOML file of settings (see gyre.example.toml); CONFIG REWRITE writes back to it"),
        )
        .arg(
            clap::Arg::new("import-rdb")
                .long("import-rdb")
                .value_name("FILE")
                .help("Before serving, load a Redis RDB file (Redis 6 or 7) into the data directory: every key and expiry, through the write-ahead log"),
        );
    for p in config::PARAMS {
        command = command.arg(
            clap::Arg::new(p.name)
                .long(p.name)
                .value_name("VALUE")
                // `--clock-offset-ms -5000`, not only `=-5000`.
                .allow_negative_numbers(true)
                .env(env_name(p.name))
                .hide_env_values(matches!(p.name, "requirepass" | "cluster-secret"))
                .help(format!("{} [default: {:?}]", p.help, p.default)),
        );
    }
    let matches = command.get_matches();
    let file = matches.get_one::<String>("config").cloned();
    let import_rdb = matches.get_one::<String>("import-rdb").cloned();
    let mut overrides = Vec::new();
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file '{path}'"))?;
        overrides = config::parse_file(path, &text)?;
    }
    let from_file = overrides.len();
    let (mut from_env, mut from_flags) = (0, 0);
    for (i, p) in config::PARAMS.iter().enumerate() {
        let Some(v) = matches.get_one::<String>(p.name) else { continue };
        let source = if matches.value_source(p.name) == Some(clap::parser::ValueSource::EnvVariable) {
            from_env += 1;
            format!("environment variable {}", env_name(p.name))
        } else {
            from_flags += 1;
            format!("flag --{}", p.name)
        };
        let canonical = p.normalize(v.as_bytes()).map_err(|why| {
            anyhow::anyhow!(
                "invalid value '{v}' for setting '{}' ({source}): {why}; allowed: {}",
                p.name,
                config::allowed_values(p)
            )
        })?;
        overrides.push((i, canonical));
    }
    let origin = format!(
        "{} ({from_file} settings), {from_env} from the environment, {from_flags} from flags, the rest defaults",
        file.as_deref().map_or("no config file".to_string(), |f| format!("config file '{f}'"))
    );
    Ok(CommandLine { overrides, file: file.map(std::path::PathBuf::from), origin, import_rdb })
}

/// The settings the command line, environment and file give.
struct CommandLine {
    /// (index into PARAMS, canonical value), later entries win.
    overrides: Vec<(usize, String)>,
    /// `--config`.
    file: Option<std::path::PathBuf>,
    /// Where the settings came from, for the start-up log.
    origin: String,
    /// `--import-rdb`: an RDB file to load before serving.
    import_rdb: Option<String>,
}
