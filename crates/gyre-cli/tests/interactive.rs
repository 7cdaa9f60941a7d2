//! The interactive prompt on a real pseudo-terminal: `script(1)` gives
//! gyre-cli a pty, and the test types into it line by line, waiting for each
//! prompt as a person would (typing ahead is discarded by the line editor,
//! as in any readline). Checks the prompt with host, port and database,
//! replies, argument hints, tab completion and the history file.
//!
//! Skipped (with a message) where `script` is not installed.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::start_server;

/// How long one expected text may take to appear.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// gyre-cli under `script`, killed on drop.
struct Terminal {
    child: Child,
    input: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    /// Output before this offset was already matched.
    seen: usize,
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    fn start(port: u16, histfile: &Path) -> Terminal {
        let command = format!("{} -p {port}", env!("CARGO_BIN_EXE_gyre-cli"));
        let mut child = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .env("GYRECLI_HISTFILE", histfile)
            .env("TERM", "xterm")
            .env_remove("GYRECLI_AUTH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn script");
        let input = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal { child, input, output, seen: 0 }
    }

    /// Waits until `needle` appears after what was matched so far.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        loop {
            {
                let out = self.output.lock().unwrap();
                let fresh = &out[self.seen..];
                if let Some(at) = fresh.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                    self.seen += at + needle.len();
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {needle:?}; got {:?}",
                    String::from_utf8_lossy(fresh)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn send(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }
}

fn have_script() -> bool {
    Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

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
