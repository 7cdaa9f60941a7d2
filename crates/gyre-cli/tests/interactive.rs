//! The interactive prompt on a real pseudo-terminal: `script(1)` gives
//! gyre-cli a pty, and the test types into it line by line, waiting for each
//! prompt as a person would (typing ahead is discarded by the line editor,
//! as in any readline). Checks the prompt with host, port and database,
//! replies, argument hints, tab completion and the history file.
//!
//! Skipped (with a message) where `script` is not installed.

mod common;

use std::time::{Duration, Instant};

use common::start_server;
use common::terminal::{have_script, Terminal, EXPECT_TIMEOUT};

#[test]
fn prompt_hints_completion_and_history() {
    if !have_script() {
        eprintln!("skipping: script(1) is not installed");
        return;
    }
    let Some((_server, port)) = start_server() else { return };
    let histfile = std::env::temp_dir().join(format!("gyrecli-history-{}-{port}", std::process::id()));
    let _ = std::fs::remove_file(&histfile);
    let prompt = format!("127.0.0.1:{port}> ");
    let mut term = Terminal::start(port, &histfile);

    term.expect(&prompt);
    // The hint for SET appears in grey after the command name.
    term.send("set");
    term.expect("\x1b[90m key value [NX|XX] [GET] [EX seconds|");
    term.send(" greeting hello\r");
    term.expect("OK");
    term.expect(&prompt);
    term.send("get greeting\r");
    term.expect("\"hello\"");
    term.expect(&prompt);
    // The prompt shows the selected database.
    term.send("select 2\r");
    term.expect("OK");
    term.expect(&format!("127.0.0.1:{port}[2]> "));
    term.send("get greeting\r");
    term.expect("(nil)");
    // Tab completes a command name in the case it is typed in.
    term.send("dbsi\t");
    term.expect("dbsize");
    term.send("\r");
    term.expect("(integer) 0");
    term.send("auth not-the-password\r");
    term.expect("(error)");
    term.send("quit\r");
    let deadline = Instant::now() + EXPECT_TIMEOUT;
    while term.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gyre-cli did not quit");
        std::thread::sleep(Duration::from_millis(10));
    }
    let history = std::fs::read_to_string(&histfile).expect("history file written");
    let _ = std::fs::remove_file(&histfile);
    for line in ["set greeting hello", "get greeting", "select 2", "dbsize"] {
        assert!(history.lines().any(|l| l == line), "{line:?} in {history:?}");
    }
    assert!(!history.contains("auth"), "AUTH must stay out of the history: {history:?}");
}
