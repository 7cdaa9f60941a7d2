//! `gyre-cli`: the command-line client for Gyre, and for any server that
//! speaks the Redis protocol. It behaves like `redis-cli` 7: same flags for
//! the common cases, same output text, same exit codes.
//!
//! Modes:
//! * one-shot: `gyre-cli SET k v` prints the reply and exits 0, even when the
//!   reply is an error; it exits 1 only when it cannot connect (or the link
//!   fails mid-command). `-x` reads the last argument from stdin;
//! * friendly verbs: `put`, `delete`, `keys` (SCAN-based), `stats`,
//!   `cluster status`, lowercase only and only first on the line; `--`
//!   before the command forces a plain Redis command (see `verbs`);
//! * `bench`: a load generator (see `bench`), `bench --cluster` spreading it
//!   over a cluster's primaries by slot;
//! * `import-rdb FILE`: loads a Redis RDB file with RESTORE (see `import_rdb`);
//! * `--pipe`: mass insertion of a RESP stream from stdin (see `pipe`);
//! * piped: with no command and stdin not a terminal, each stdin line is a
//!   command (see `split`);
//! * interactive: with no command on a terminal, a prompt with line editing,
//!   history (`~/.gyrecli_history`, or `$GYRECLI_HISTFILE`), argument hints
//!   and tab completion from `COMMAND DOCS` (see `hints`).
//!
//! Cluster mode (`-c`, as redis-cli's): commands, verbs, piped lines and
//! the prompt follow `-MOVED` and `-ASK` to the node they name and retry
//! `-TRYAGAIN`, within the bounds of `cluster::redirect`; the prompt shows
//! the node the session is on (see `session`, `cluster`).
//!
//! Output is redis-cli's TTY form when stdout is a terminal and its raw form
//! otherwise (`--raw` / `--no-raw` override); `--csv` and `--json` as
//! redis-cli 7 prints them (see `format`, `structured`).
//!
//! Limits: replies are bounded by `gyre_resp::Limits::default()` and
//! `conn::REPLY_BYTES_MAX`; piped lines by `repl::STDIN_LINE_BYTES_MAX`; a
//! `-x` argument by [`STDIN_ARG_BYTES_MAX`].
//! TLS (`--tls`, `rediss://`, see `tls`) covers commands and the prompt, not
//! `bench` or `--pipe`; `-c` covers commands, verbs, the prompt and `bench`,
//! not `--pipe` or `import-rdb`.
//! Not supported: Unix sockets, `-r`/`-i`, `-X`, redis-cli's cluster manager
//! (`--cluster check|fix|...`), the local `help` command.

mod bench;
mod cluster;
mod conn;
mod format;
mod hints;
mod import_rdb;
mod json;
mod pipe;
mod repl;
mod rng;
mod scan;
mod session;
mod split;
mod structured;
mod tls;
mod uri;
mod verbs;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::format::OutputMode;
use crate::session::{CommandError, ConnectOptions, Session};
use crate::tls::{TlsOptions, TlsSetup};

/// Command-line client for Gyre (and any Redis-protocol server).
#[derive(Debug, Parser)]
#[command(
    name = "gyre-cli",
    version,
    // `-h` is the host, as in redis-cli; help is `--help` only, and the
    // version is `-v` / `--version`.
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Args {
    /// Server hostname.
    #[arg(short = 'h', long = "host", value_name = "HOSTNAME", default_value = "127.0.0.1")]
    host: String,

    /// Server port.
    #[arg(short = 'p', long = "port", value_name = "PORT", default_value_t = 6379)]
    port: u16,

    /// Database number.
    #[arg(short = 'n', value_name = "DB", default_value_t = 0, allow_negative_numbers = true)]
    db: i64,

    /// Password to use when connecting (also $GYRECLI_AUTH, which is safer).
    #[arg(short = 'a', long = "pass", value_name = "PASSWORD")]
    password: Option<OsString>,

    /// ACL user to authenticate as (needs a password).
    #[arg(long = "user", value_name = "USERNAME")]
    user: Option<OsString>,

    /// Don't warn about passing the password with -a.
    #[arg(long = "no-auth-warning")]
    no_auth_warning: bool,

    /// Server URI: redis://[[USER][:PASSWORD]@]HOST[:PORT][/DB].
    #[arg(short = 'u', value_name = "URI")]
    uri: Option<String>,

    /// Enable cluster mode: follow -MOVED and -ASK redirections to the node
    /// they name, and retry -TRYAGAIN.
    #[arg(short = 'c')]
    cluster: bool,

    /// Start the session in RESP2 protocol mode (the default, except with --json).
    #[arg(short = '2', overrides_with = "resp3")]
    resp2: bool,

    /// Start the session in RESP3 protocol mode (sends HELLO 3).
    #[arg(short = '3', overrides_with = "resp2")]
    resp3: bool,

    /// Read the last argument from stdin.
    #[arg(short = 'x')]
    stdin_arg: bool,

    /// Transfer a raw RESP stream from stdin to the server (mass insertion).
    #[arg(long = "pipe")]
    pipe: bool,

    /// In --pipe mode, give up when no reply comes for this many seconds
    /// after all data is sent (0: wait forever).
    #[arg(long = "pipe-timeout", value_name = "SECONDS", default_value_t = 30)]
    pipe_timeout: u64,

    /// Establish a secure TLS connection.
    #[arg(long = "tls")]
    tls: bool,

    /// Server name to verify with TLS (default: the host).
    #[arg(long = "sni", value_name = "HOST")]
    sni: Option<String>,

    /// CA certificate file (PEM) to verify the server with (default: the system bundle).
    #[arg(long = "cacert", value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Client certificate (PEM) to authenticate with.
    #[arg(long = "cert", value_name = "FILE")]
    cert: Option<PathBuf>,

    /// Private key file (PEM) of --cert.
    #[arg(long = "key", value_name = "FILE")]
    key: Option<PathBuf>,

    /// Allow insecure TLS connection by skipping cert validation.
    #[arg(long = "insecure")]
    insecure: bool,

    /// Output in CSV format.
    #[arg(long = "csv", overrides_with_all = ["json", "raw", "no_raw"])]
    csv: bool,

    /// Output in JSON format (implies RESP3 unless -2 is given).
    #[arg(long = "json", overrides_with_all = ["csv", "raw", "no_raw"])]
    json: bool,

    /// Use raw formatting for replies (default when stdout is not a tty).
    #[arg(long = "raw", overrides_with_all = ["no_raw", "csv", "json"])]
    raw: bool,

    /// Force formatted output even when stdout is not a tty.
    #[arg(long = "no-raw", overrides_with_all = ["raw", "csv", "json"])]
    no_raw: bool,

    /// Print RESP3 push messages received between replies (default: yes when
    /// stdout is a tty).
    #[arg(long = "show-pushes", value_name = "yes|no", value_parser = ["yes", "no"])]
    show_pushes: Option<String>,

    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,

    /// Print version.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: Option<bool>,

    /// Command and arguments to run once; without one, commands are read
    /// from stdin or the interactive prompt. Friendly verbs: put KEY VALUE
    /// [--ttl SECONDS], get KEY, delete KEY.., keys [PATTERN], stats,
    /// cluster status [--json], and bench [OPTIONS] (see `gyre-cli bench
    /// --help`; --cluster to spread it over a cluster); `--` before the
    /// command sends it as it is.
    #[arg(value_name = "CMD", trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// Largest `-x` argument read from stdin, in bytes.
pub const STDIN_ARG_BYTES_MAX: usize = gyre_resp::BULK_BYTES_MAX_DEFAULT;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = Args::parse_from(&argv);
    let forced_raw = command_follows_double_dash(&argv, args.command.len());
    match run(args, forced_raw) {
        Ok(code) => code,
        // The reader went away (`gyre-cli ... | head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the command words (the last `command_len` of `argv`) come right
/// after a `--`, which clap swallows: then no friendly verb applies.
fn command_follows_double_dash(argv: &[OsString], command_len: usize) -> bool {
    command_len > 0 && argv.len() > command_len && argv[argv.len() - command_len - 1] == "--"
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || matches!(cause.downcast_ref::<CommandError>(), Some(CommandError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn output_mode(args: &Args, stdout_is_tty: bool) -> OutputMode {
    match (args.json, args.csv, args.raw, args.no_raw, stdout_is_tty) {
        (true, ..) => OutputMode::Json,
        (_, true, ..) => OutputMode::Csv,
        (_, _, true, ..) => OutputMode::Raw,
        (_, _, _, true, _) | (.., true) => OutputMode::Tty,
        _ => OutputMode::Raw,
    }
}

/// Host, port, credentials and database from the flags and `-u`.
fn connect_options(args: &mut Args) -> anyhow::Result<ConnectOptions> {
    let from_uri = match &args.uri {
        Some(text) => uri::parse(text)?,
        None => uri::ServerUri::default(),
    };
    let password_given = args.password.is_some() || from_uri.password.is_some();
    if password_given && !args.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    let password = from_uri
        .password
        .or_else(|| args.password.take().map(OsString::into_encoded_bytes))
        .or_else(|| std::env::var_os("GYRECLI_AUTH").map(OsString::into_encoded_bytes));
    let tls = if args.tls || from_uri.tls {
        let opts = TlsOptions {
            cacert: args.cacert.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
            insecure: args.insecure,
            sni: args.sni.clone(),
        };
        Some(TlsSetup::new(&opts)?)
    } else {
        None
    };
    Ok(ConnectOptions {
        tls,
        host: from_uri.host.unwrap_or_else(|| args.host.clone()),
        port: from_uri.port.unwrap_or(args.port),
        user: from_uri.user.or_else(|| args.user.take().map(OsString::into_encoded_bytes)),
        password,
        db: from_uri.db.unwrap_or(args.db),
        resp3: args.resp3 || (args.json && !args.resp2),
        cluster: args.cluster,
    })
}

fn run(mut args: Args, forced_raw: bool) -> anyhow::Result<ExitCode> {
    let stdout_is_tty = io::stdout().is_terminal();
    let mode = output_mode(&args, stdout_is_tty);
    let show_pushes = args.show_pushes.as_deref().map_or(stdout_is_tty, |v| v == "yes");
    let opts = connect_options(&mut args)?;
    let is_bench = !forced_raw && args.command.first().is_some_and(|w| w == "bench");
    if (is_bench || args.pipe) && opts.tls.is_some() {
        anyhow::bail!("TLS is supported for commands and the prompt, not for bench or --pipe");
    }
    let is_import = !forced_raw && args.command.first().is_some_and(|w| w == "import-rdb");
    if (is_import || args.pipe) && opts.cluster {
        anyhow::bail!("-c is supported for commands, verbs, the prompt and bench, not for --pipe or import-rdb");
    }
    if is_bench {
        let defaults = bench::Defaults {
            host: opts.host,
            port: opts.port,
            user: opts.user,
            password: opts.password,
            db: opts.db,
            cluster: opts.cluster,
        };
        bench::main(&args.command[1..], defaults)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.pipe {
        return pipe_mode(&opts, args.pipe_timeout);
    }
    if is_import {
        return import_rdb_mode(&opts, &args.command[1..]);
    }
    let mut session = Session::new(opts, mode, show_pushes);
    if !args.command.is_empty() {
        let mut command: Vec<Vec<u8>> = args.command.into_iter().map(OsString::into_encoded_bytes).collect();
        if args.stdin_arg {
            command.push(read_stdin_arg()?);
        }
        if !forced_raw {
            if let Some(verb) = verbs::parse(&command) {
                return friendly(&mut session, verb);
            }
        }
        return one_shot(&mut session, &command);
    }
    if io::stdin().is_terminal() {
        repl::run_interactive(&mut session)?;
    } else {
        repl::run_piped(&mut session, &mut io::stdin().lock())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `-x`: all of stdin, bounded.
fn read_stdin_arg() -> anyhow::Result<Vec<u8>> {
    let mut arg = Vec::new();
    io::stdin().lock().take(STDIN_ARG_BYTES_MAX as u64 + 1).read_to_end(&mut arg)?;
    if arg.len() > STDIN_ARG_BYTES_MAX {
        anyhow::bail!("stdin is longer than {STDIN_ARG_BYTES_MAX} bytes");
    }
    Ok(arg)
}

/// `import-rdb FILE`: see `import_rdb`.
fn import_rdb_mode(opts: &ConnectOptions, rest: &[OsString]) -> anyhow::Result<ExitCode> {
    let [path] = rest else {
        eprintln!("usage: gyre-cli [connection options] import-rdb FILE");
        return Ok(ExitCode::from(2));
    };
    if opts.tls.is_some() {
        anyhow::bail!("TLS is supported for commands and the prompt, not for import-rdb");
    }
    let mut session = Session::new(opts.clone(), OutputMode::Raw, false);
    if let Err(e) = session.connect() {
        eprintln!("{e}");
        return Ok(ExitCode::FAILURE);
    }
    let stream = session.into_stream().expect("connected over plain TCP");
    let mut conn = conn::Connection::from_stream(stream, import_rdb::REPLY_BYTES_MAX);
    match import_rdb::import(&mut conn, &path.to_string_lossy()) {
        Ok(s) => {
            eprintln!(
                "import-rdb: {} keys restored, {} expired keys skipped, {} refused",
                s.restored, s.expired, s.refused
            );
            Ok(if s.refused > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Err(e) => {
            eprintln!("import-rdb: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn pipe_mode(opts: &ConnectOptions, timeout_s: u64) -> anyhow::Result<ExitCode> {
    // The handshake (AUTH, SELECT) runs on a normal session first.
    let mut session = Session::new(opts.clone(), OutputMode::Raw, false);
    if let Err(e) = session.connect() {
        eprintln!("{e}");
        return Ok(ExitCode::FAILURE);
    }
    let stream = session.into_stream().expect("connected over plain TCP");
    let timeout = (timeout_s > 0).then(|| Duration::from_secs(timeout_s));
    let summary = pipe::run(stream, io::stdin(), timeout, &mut io::stdout())?;
    Ok(if summary.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn friendly(session: &mut Session, verb: Result<verbs::Verb, verbs::Usage>) -> anyhow::Result<ExitCode> {
    let verb = match verb {
        Ok(verb) => verb,
        Err(usage) => {
            eprintln!("{usage}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Err(e) = session.connect() {
        eprintln!("{e}");
        return Ok(ExitCode::FAILURE);
    }
    match verbs::run(verb, session, &mut io::stdout().lock()) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::FAILURE),
        Err(e) => match e.downcast::<CommandError>() {
            Ok(CommandError::Output(e)) => Err(e.into()),
            Ok(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e),
        },
    }
}

fn one_shot(session: &mut Session, command: &[Vec<u8>]) -> anyhow::Result<ExitCode> {
    if let Err(e) = session.connect() {
        eprintln!("{e}");
        return Ok(ExitCode::FAILURE);
    }
    match session.execute(command, &mut io::stdout()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(CommandError::Output(e)) => Err(e.into()),
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn flags_parse_like_redis_cli() {
        let args = Args::try_parse_from([
            "gyre-cli", "-h", "10.0.0.1", "-p", "7000", "-n", "2", "-3", "--raw", "SET", "k", "-1",
        ])
        .expect("parses");
        assert_eq!(args.host, "10.0.0.1");
        assert_eq!(args.port, 7000);
        assert_eq!(args.db, 2);
        assert!(args.resp3 && args.raw);
        assert!(!args.cluster);
        assert_eq!(args.command, ["SET", "k", "-1"]);
        let args = Args::try_parse_from(["gyre-cli", "-c", "-p", "7001", "GET", "k"]).expect("parses");
        assert!(args.cluster);
        assert_eq!(args.command, ["GET", "k"]);
    }

    #[test]
    fn last_of_raw_and_no_raw_wins() {
        let args = Args::try_parse_from(["gyre-cli", "--raw", "--no-raw"]).expect("parses");
        assert!(!args.raw && args.no_raw);
        let args = Args::try_parse_from(["gyre-cli", "--no-raw", "--raw"]).expect("parses");
        assert!(args.raw && !args.no_raw);
    }

    #[test]
    fn double_dash_before_the_command_is_detected() {
        let argv = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let a = argv(&["gyre-cli", "-p", "1", "--", "keys", "*"]);
        let args = Args::try_parse_from(&a).expect("parses");
        assert_eq!(args.command, ["keys", "*"]);
        assert!(command_follows_double_dash(&a, args.command.len()));
        let a = argv(&["gyre-cli", "keys", "*"]);
        assert!(!command_follows_double_dash(&a, 2));
        // A `--` after the first word belongs to the command (bench's custom command).
        let a = argv(&["gyre-cli", "bench", "-n", "5", "--", "SET", "k", "v"]);
        let args = Args::try_parse_from(&a).expect("parses");
        assert_eq!(args.command, ["bench", "-n", "5", "--", "SET", "k", "v"]);
        assert!(!command_follows_double_dash(&a, args.command.len()));
    }

    #[test]
    fn csv_json_and_raw_last_wins() {
        let mode = |words: &[&str]| output_mode(&Args::try_parse_from(words).expect("parses"), false);
        assert_eq!(mode(&["gyre-cli", "--csv"]), OutputMode::Csv);
        assert_eq!(mode(&["gyre-cli", "--csv", "--json"]), OutputMode::Json);
        assert_eq!(mode(&["gyre-cli", "--json", "--raw"]), OutputMode::Raw);
        assert_eq!(mode(&["gyre-cli", "--json", "--no-raw"]), OutputMode::Tty);
        assert_eq!(mode(&["gyre-cli"]), OutputMode::Raw);
    }

    #[test]
    fn options_after_the_command_belong_to_it() {
        let args = Args::try_parse_from(["gyre-cli", "get", "-p"]).expect("parses");
        assert_eq!(args.command, ["get", "-p"]);
        assert_eq!(args.port, 6379);
    }
}
