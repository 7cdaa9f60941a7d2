//! The two line-driven modes: interactive (a terminal, with `rustyline` line
//! editing, a history file, and hints and completion from `hints`) and piped
//! (commands read from stdin).
//!
//! Both follow redis-cli's REPL: each line is split with [`split_args`];
//! empty lines are ignored; `quit`/`exit` end the session; a line that does
//! not split prints `Invalid argument(s)`; a leading count repeats the
//! command (`3 INCR k`). A failed connection or link is reported and the
//! next line tries again; the exit code stays 0.
//!
//! Limits: a piped line longer than [`STDIN_LINE_BYTES_MAX`] is skipped with
//! an error instead of being buffered.

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;

use crate::format::OutputMode;
use crate::hints::{CommandHelp, PromptHelper};
use crate::session::{is_sensitive, CommandError, Session};
use crate::split::split_args;

/// Longest line read from a pipe: the largest bulk string plus room for
/// quoting it.
pub const STDIN_LINE_BYTES_MAX: usize = gyre_resp::BULK_BYTES_MAX_DEFAULT + 64 * 1024;

/// Commands that take this long get redis-cli's `(1.23s)` line (interactive,
/// TTY output only).
const SLOW_COMMAND: Duration = Duration::from_millis(500);

/// What the loop does after a line.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Continue,
    Quit,
}

/// Reads commands from a pipe until end of input or `quit`.
pub fn run_piped(session: &mut Session, input: &mut dyn BufRead) -> io::Result<()> {
    connect_or_report(session);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = Read::take(&mut *input, STDIN_LINE_BYTES_MAX as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        if line.len() > STDIN_LINE_BYTES_MAX {
            skip_rest_of_line(input)?;
            eprintln!("Error: input line longer than {STDIN_LINE_BYTES_MAX} bytes, skipped");
            continue;
        }
        if run_line(session, &line, false)? == Next::Quit {
            return Ok(());
        }
    }
}

fn skip_rest_of_line(input: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            input.consume(newline + 1);
            return Ok(());
        }
        let len = chunk.len();
        input.consume(len);
    }
}

/// The interactive prompt loop.
pub fn run_interactive(session: &mut Session) -> anyhow::Result<()> {
    session.set_announce_redirects(true);
    connect_or_report(session);
    // Hints and completion from the server's command table, if it has one.
    let help = CommandHelp::fetch(session);
    let mut editor: Editor<PromptHelper, FileHistory> = Editor::new()?;
    editor.set_helper(Some(PromptHelper::new(help)));
    let history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable history file just means no history yet.
        let _ = editor.load_history(path);
    }
    loop {
        let line = match editor.readline(&session.prompt()) {
            Ok(line) => line,
            // Ctrl-C and Ctrl-D leave, as in redis-cli.
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if line.trim().eq_ignore_ascii_case("clear") {
            editor.clear_screen()?;
            continue;
        }
        let keep = split_args(line.as_bytes()).map_or(true, |args| !args.is_empty() && !is_sensitive(&args));
        if keep {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                // Saved after every command so a crash loses nothing; a
                // read-only home must not stop the session.
                let _ = editor.save_history(path);
            }
        }
        if run_line(session, line.as_bytes(), true)? == Next::Quit {
            return Ok(());
        }
    }
}

/// `$GYRECLI_HISTFILE`, else `~/.gyrecli_history`, else no history.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GYRECLI_HISTFILE") {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".gyrecli_history"))
}

fn connect_or_report(session: &mut Session) {
    if let Err(e) = session.connect() {
        eprintln!("{e}");
    }
}

/// Runs one input line. Only failures to write our own output are errors.
fn run_line(session: &mut Session, line: &[u8], interactive: bool) -> io::Result<Next> {
    let mut stdout = io::stdout();
    let Ok(args) = split_args(line) else {
        writeln!(stdout, "Invalid argument(s)")?;
        return Ok(Next::Continue);
    };
    let Some(first) = args.first() else {
        return Ok(Next::Continue);
    };
    if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
        return Ok(Next::Quit);
    }
    let (repeat, command) = match parse_repeat(&args) {
        Ok(split) => split,
        Err(()) => {
            writeln!(stdout, "Invalid redis-cli repeat command option value.")?;
            return Ok(Next::Continue);
        }
    };
    for _ in 0..repeat {
        let start = Instant::now();
        let result = session.execute(command, &mut stdout);
        let elapsed = start.elapsed();
        match result {
            Ok(()) => {}
            Err(CommandError::Output(e)) => return Err(e),
            Err(e) => {
                stdout.flush()?;
                eprintln!("{e}");
                break;
            }
        }
        if interactive && session.mode() == OutputMode::Tty && elapsed >= SLOW_COMMAND {
            writeln!(stdout, "({:.2}s)", elapsed.as_secs_f64())?;
        }
    }
    Ok(Next::Continue)
}

/// A leading all-digits word before a command is a repeat count.
fn parse_repeat(args: &[Vec<u8>]) -> Result<(u64, &[Vec<u8>]), ()> {
    let first = &args[0];
    if args.len() < 2 || first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
        return Ok((1, args));
    }
    let count = std::str::from_utf8(first).ok().and_then(|s| s.parse::<u64>().ok()).filter(|&n| n > 0).ok_or(())?;
    Ok((count, &args[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn repeat_prefix() {
        let a = args(&["3", "incr", "k"]);
        assert_eq!(parse_repeat(&a), Ok((3, &a[1..])));
        let a = args(&["incr", "k"]);
        assert_eq!(parse_repeat(&a), Ok((1, &a[..])));
        // A lone number is a command, not a count.
        let a = args(&["3"]);
        assert_eq!(parse_repeat(&a), Ok((1, &a[..])));
        assert_eq!(parse_repeat(&args(&["0", "ping"])), Err(()));
        assert_eq!(parse_repeat(&args(&["99999999999999999999999", "ping"])), Err(()));
    }

    #[test]
    fn long_lines_are_skipped_to_their_end() {
        let mut input: &[u8] = b"xxxxxxxx\nnext\n";
        skip_rest_of_line(&mut input).unwrap();
        assert_eq!(input, b"next\n");
    }
}
