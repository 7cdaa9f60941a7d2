//! Shared harness for the end-to-end tests: start a real server on a free
//! port (killed on drop, panics included) and run the built `gyre-cli`.
//!
//! The server is `$GYRE_CLI_TEST_SERVER` if set, else Gyre's own server built
//! beside the tests (`cargo test --workspace` builds it), else `redis-server`
//! (from `/usr/bin` or `PATH`); with none, server tests print a message and
//! pass without checking anything.

#![allow(dead_code)] // Each test binary uses a different part.

pub mod cluster;
pub mod terminal;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to start accepting connections.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A server process, killed on drop; its data directory (Gyre's) goes too.
pub struct Server {
    child: Child,
    dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GYRE_CLI_TEST_SERVER") {
        return Some(PathBuf::from(path));
    }
    // Gyre's own server, built beside this test by `cargo test --workspace`
    // (target/<profile>/deps/cli-* -> target/<profile>/gyre-server).
    let own = std::env::current_exe().ok()?.parent()?.parent()?.join("gyre-server");
    if own.exists() {
        return Some(own);
    }
    let fixed = PathBuf::from("/usr/bin/redis-server");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("redis-server"))
        .find(|candidate| candidate.exists())
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Starts the test server on a free port, or `None` (after saying so) when
/// there is no server binary. `--port N` is passed to any server; the
/// persistence flags only to redis-server.
pub fn start_server() -> Option<(Server, u16)> {
    let Some(binary) = server_binary() else {
        eprintln!("skipping: no server (set GYRE_CLI_TEST_SERVER or install redis-server)");
        return None;
    };
    // A free port can be taken by another test's server between the probe and
    // the bind; then the connection reaches the wrong process. Retry then.
    for _ in 0..5 {
        if let Some(found) = try_start(&binary) {
            return Some(found);
        }
    }
    panic!("could not start {} on a free port", binary.display());
}

pub fn try_start(binary: &Path) -> Option<(Server, u16)> {
    let port = free_port();
    let mut command = Command::new(binary);
    command.arg("--port").arg(port.to_string()).args(["--appendonly", "no"]);
    let mut dir = None;
    if binary.file_name().is_some_and(|name| name.to_string_lossy().contains("redis-server")) {
        command.args(["--save", ""]);
    } else {
        // Keep Gyre's data directory out of the source tree.
        let path = std::env::temp_dir().join(format!("gyre-cli-test-{}-{port}", std::process::id()));
        command.arg("--dir").arg(&path);
        dir = Some(path);
    }
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn the test server");
    let mut server = Server { child, dir };
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait().expect("poll the server") {
            eprintln!("test server {} exited early ({status}); retrying on another port", binary.display());
            return None;
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            return (server_pid(stream) == Some(server.child.id())).then_some((server, port));
        }
        assert!(Instant::now() < deadline, "test server did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `process_id` the server at the other end reports in INFO server.
pub fn server_pid(mut stream: TcpStream) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !text.windows(11).any(|w| w == b"process_id:") || !text.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    text.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|v| v.trim().parse().ok())
}

/// Runs gyre-cli with `args`, feeding `stdin` (closed if `None`).
pub fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    cli_bytes(args, stdin.unwrap_or_default().as_bytes())
}

/// Runs gyre-cli with `args`, feeding `input` on stdin from a thread (so a
/// large input cannot deadlock against a full stdout pipe).
pub fn cli_bytes(args: &[&str], input: &[u8]) -> Output {
    let (child, feeder) = spawn_cli(args, input);
    let output = child.wait_with_output().expect("gyre-cli runs");
    feeder.join().expect("stdin feeder");
    output
}

/// Starts gyre-cli with `args`, its output piped, and a thread feeding it
/// `input` on stdin.
fn spawn_cli(args: &[&str], input: &[u8]) -> (std::process::Child, std::thread::JoinHandle<()>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gyre-cli"))
        .args(args)
        .env_remove("GYRECLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gyre-cli");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        // gyre-cli may exit before reading everything; that is its business.
        let _ = pipe.write_all(&input);
    });
    (child, feeder)
}

/// Runs gyre-cli against `port` without checking the exit code.
pub fn run_any(port: u16, args: &[&str], input: &[u8]) -> Output {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    cli_bytes(&all, input)
}

/// Runs a one-shot command against `port` and returns its stdout, asserting
/// exit code 0.
pub fn run(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    let output = cli(&all, None);
    assert!(output.status.success(), "gyre-cli {all:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf8 output")
}

/// Runs gyre-cli with `args` and `input` on stdin, killing it (and failing
/// the test) if it has not exited within `timeout`.
pub fn cli_within(args: &[&str], input: &[u8], timeout: Duration) -> Output {
    let (mut child, feeder) = spawn_cli(args, input);
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout pipe")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr pipe")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll gyre-cli") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gyre-cli {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    feeder.join().expect("stdin feeder");
    Output { status, stdout: stdout.join().expect("stdout reader"), stderr: stderr.join().expect("stderr reader") }
}
