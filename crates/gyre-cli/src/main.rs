//! `gyre-cli`: the command-line client for Gyre, and for any server that
//! speaks the Redis protocol. It behaves like `redis-cli` 7: same flags for
//! the common cases, same output text, same exit codes.
//!
//! Modes:
//! * one-shot: `gyre-cli SET k v` prints the reply and exits 0, even when the
//!   reply is an error; it exits 1 only when it cannot connect (or the link
//!   fails mid-command);
//! * piped: with no command and stdin not a terminal, each stdin line is a
//!   command (see `split`);
//! * interactive: with no command on a terminal, a prompt with line editing
//!   and history (`~/.gyrecli_history`, or `$GYRECLI_HISTFILE`).
//!
//! Output is redis-cli's TTY form when stdout is a terminal and its raw form
//! otherwise (`--raw` / `--no-raw` override; see `format`).
//!
//! Limits: replies are bounded by `gyre_resp::Limits::default()` and
//! `conn::REPLY_BYTES_MAX`; piped lines by `repl::STDIN_LINE_BYTES_MAX`.
//! Not yet supported: TLS, Unix sockets, URIs, `-r`/`-i`, `-x`, `--csv`,
//! cluster mode, the local `help` command.

mod conn;
mod format;
mod repl;
mod session;
mod split;

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::{ArgAction, Parser};

use crate::format::OutputMode;
use crate::session::{CommandError, ConnectOptions, Session};

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

    /// Start the session in RESP3 protocol mode (sends HELLO 3).
    #[arg(short = '3')]
    resp3: bool,

    /// Use raw formatting for replies (default when stdout is not a tty).
    #[arg(long = "raw", overrides_with = "no_raw")]
    raw: bool,

    /// Force formatted output even when stdout is not a tty.
    #[arg(long = "no-raw", overrides_with = "raw")]
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
    /// from stdin or the interactive prompt.
    #[arg(value_name = "CMD", trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        // The reader went away (`gyre-cli ... | head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || matches!(cause.downcast_ref::<CommandError>(), Some(CommandError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout_is_tty = io::stdout().is_terminal();
    let mode = match (args.raw, args.no_raw, stdout_is_tty) {
        (true, _, _) => OutputMode::Raw,
        (_, true, _) => OutputMode::Tty,
        (_, _, true) => OutputMode::Tty,
        (_, _, false) => OutputMode::Raw,
    };
    let show_pushes = args.show_pushes.as_deref().map_or(stdout_is_tty, |v| v == "yes");
    if args.password.is_some() && !args.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    let password = args.password.or_else(|| std::env::var_os("GYRECLI_AUTH"));
    let opts = ConnectOptions {
        host: args.host,
        port: args.port,
        user: args.user.map(OsString::into_encoded_bytes),
        password: password.map(OsString::into_encoded_bytes),
        db: args.db,
        resp3: args.resp3,
    };
    let mut session = Session::new(opts, mode, show_pushes);
    if !args.command.is_empty() {
        let command: Vec<Vec<u8>> = args.command.into_iter().map(OsString::into_encoded_bytes).collect();
        return one_shot(&mut session, &command);
    }
    if io::stdin().is_terminal() {
        repl::run_interactive(&mut session)?;
    } else {
        repl::run_piped(&mut session, &mut io::stdin().lock())?;
    }
    Ok(ExitCode::SUCCESS)
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
        assert_eq!(args.command, ["SET", "k", "-1"]);
    }

    #[test]
    fn last_of_raw_and_no_raw_wins() {
        let args = Args::try_parse_from(["gyre-cli", "--raw", "--no-raw"]).expect("parses");
        assert!(!args.raw && args.no_raw);
        let args = Args::try_parse_from(["gyre-cli", "--no-raw", "--raw"]).expect("parses");
        assert!(args.raw && !args.no_raw);
    }

    #[test]
    fn options_after_the_command_belong_to_it() {
        let args = Args::try_parse_from(["gyre-cli", "get", "-p"]).expect("parses");
        assert_eq!(args.command, ["get", "-p"]);
        assert_eq!(args.port, 6379);
    }
}
