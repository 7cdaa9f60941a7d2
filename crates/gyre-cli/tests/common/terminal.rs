//! gyre-cli on a real pseudo-terminal: `script(1)` gives it a pty, and the
//! test types into it line by line, waiting for each expected text as a
//! person would (typing ahead is discarded by the line editor, as in any
//! readline). The process is killed on drop; every wait is bounded by
//! [`EXPECT_TIMEOUT`].

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one expected text may take to appear.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// gyre-cli under `script`, killed on drop.
pub struct Terminal {
    pub child: Child,
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
    /// gyre-cli on `port`, history in `histfile`.
    pub fn start(port: u16, histfile: &Path) -> Terminal {
        Terminal::start_with(&format!("-p {port}"), histfile)
    }

    /// gyre-cli with `args` (words split by the shell), history in `histfile`.
    pub fn start_with(args: &str, histfile: &Path) -> Terminal {
        let command = format!("{} {args}", env!("CARGO_BIN_EXE_gyre-cli"));
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
    pub fn expect(&mut self, needle: &str) {
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

    pub fn send(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }
}

/// Whether script(1) is installed.
pub fn have_script() -> bool {
    Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}
