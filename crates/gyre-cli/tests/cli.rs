//! End-to-end tests: run the built `gyre-cli` binary against a real server
//! and assert the exact text redis-cli 7 would print.
//!
//! The server is `$GYRE_CLI_TEST_SERVER` if set, else `redis-server` (from
//! `/usr/bin` or `PATH`); with neither, server tests print a message and pass
//! without checking anything. Each test starts its own server on a free port
//! and kills it when done ([`Server`]'s `Drop`).
//!
//! stdout is a pipe here, so the default output is raw; `--no-raw` gives
//! the terminal form. Interactive mode needs a terminal and is not driven
//! here; piped stdin exercises the same line handling.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to start accepting connections.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A server process, killed on drop.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> Option<PathBuf> {
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
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Starts the test server on a free port, or `None` (after saying so) when
/// there is no server binary. `--port N` is passed to any server; the
/// persistence flags only to redis-server.
fn start_server() -> Option<(Server, u16)> {
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

fn try_start(binary: &Path) -> Option<(Server, u16)> {
    let port = free_port();
    let mut command = Command::new(binary);
    command.arg("--port").arg(port.to_string());
    if binary.file_name().is_some_and(|name| name.to_string_lossy().contains("redis-server")) {
        command.args(["--save", "", "--appendonly", "no"]);
    } else {
        // Keep Gyre's data directory out of the source tree.
        let dir = std::env::temp_dir().join(format!("gyre-cli-test-{}-{port}", std::process::id()));
        command.arg("--dir").arg(dir);
    }
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn the test server");
    let mut server = Server { child };
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
fn server_pid(mut stream: TcpStream) -> Option<u32> {
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
fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gyre-cli"))
        .args(args)
        .env_remove("GYRECLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gyre-cli");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("gyre-cli runs")
}

/// Runs a one-shot command against `port` and returns its stdout, asserting
/// exit code 0.
fn run(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    let output = cli(&all, None);
    assert!(output.status.success(), "gyre-cli {all:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf8 output")
}

#[test]
fn one_shot_set_and_get() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["SET", "foo", "bar"]), "OK\n");
    assert_eq!(run(port, &["GET", "foo"]), "bar\n");
    assert_eq!(run(port, &["--no-raw", "GET", "foo"]), "\"bar\"\n");
    assert_eq!(run(port, &["--no-raw", "SET", "foo", "baz"]), "OK\n");
}

#[test]
fn nil_and_integer_replies() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["--no-raw", "GET", "missing"]), "(nil)\n");
    assert_eq!(run(port, &["GET", "missing"]), "\n");
    assert_eq!(run(port, &["--no-raw", "INCR", "n"]), "(integer) 1\n");
    assert_eq!(run(port, &["INCR", "n"]), "2\n");
    assert_eq!(run(port, &["--no-raw", "INCRBY", "n", "-5"]), "(integer) -3\n");
}

#[test]
fn error_replies_exit_zero() {
    let Some((_server, port)) = start_server() else { return };
    let tty = run(port, &["--no-raw", "SET", "k"]);
    assert_eq!(tty, "(error) ERR wrong number of arguments for 'set' command\n");
    // Raw mode: the error text, its newline, then the reply terminator.
    let raw = run(port, &["--raw", "SET", "k"]);
    assert_eq!(raw, "ERR wrong number of arguments for 'set' command\n\n");
}

#[test]
fn arrays_raw_and_formatted() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["MSET", "k1", "a", "k2", "b c", "k3", "x\ny", "k4", "é"]);
    let tty = run(port, &["--no-raw", "MGET", "k1", "k2", "k3", "k4", "missing"]);
    assert_eq!(tty, "1) \"a\"\n2) \"b c\"\n3) \"x\\ny\"\n4) \"\\xc3\\xa9\"\n5) (nil)\n");
    let raw = run(port, &["MGET", "k1", "k2", "k3", "k4"]);
    assert_eq!(raw, "a\nb c\nx\ny\né\n");
    // The last of --raw / --no-raw wins, as in redis-cli.
    assert_eq!(run(port, &["--no-raw", "--raw", "MGET", "k1"]), "a\n");
    assert_eq!(run(port, &["--no-raw", "KEYS", "nomatch*"]), "(empty array)\n");
}

#[test]
fn resp3_map_replies() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["-3", "--no-raw", "CONFIG", "GET", "hz"]), "1# \"hz\" => \"10\"\n");
    assert_eq!(run(port, &["-3", "--raw", "CONFIG", "GET", "hz"]), "hz 10\n");
    assert_eq!(run(port, &["--no-raw", "CONFIG", "GET", "hz"]), "1) \"hz\"\n2) \"10\"\n");
}

#[test]
fn stdin_runs_each_line() {
    let Some((_server, port)) = start_server() else { return };
    let port = port.to_string();
    let input = "SET greeting \"hello\\tworld\"\n\nGET greeting\nINCR counter\nGET nothing\nSET \"unbalanced\nNOSUCHCOMMAND\n2 INCR counter\nQUIT\nINCR counter\n";
    let output = cli(&["-p", &port], Some(input));
    assert!(output.status.success());
    let want = "OK\nhello\tworld\n1\n\nInvalid argument(s)\n\
                ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \n\n2\n3\n";
    assert_eq!(String::from_utf8_lossy(&output.stdout), want);
    // QUIT ended the session: the last INCR never ran.
    let output = cli(&["-p", &port, "--no-raw"], Some("GET counter\n'quoted key' x\n"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "\"3\"\n(error) ERR unknown command 'quoted key', with args beginning with: 'x' \n"
    );
}

#[test]
fn db_flag_selects_database() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["-n", "2", "SET", "k", "in-db-2"]), "OK\n");
    assert_eq!(run(port, &["--no-raw", "GET", "k"]), "(nil)\n");
    assert_eq!(run(port, &["-n", "2", "GET", "k"]), "in-db-2\n");
    // SELECT typed in stdin mode applies to the lines after it.
    let port = port.to_string();
    let output = cli(&["-p", &port], Some("GET k\nSELECT 2\nGET k\n"));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "\nOK\nin-db-2\n");
}

#[test]
fn unreachable_server_exits_nonzero() {
    let port = free_port().to_string();
    let output = cli(&["-p", &port, "PING"], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    assert!(output.stdout.is_empty());
    // Piped mode reports it (once at start, once per command) and exits 0.
    let output = cli(&["-p", &port], Some("PING\n"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr).matches("Could not connect").count(), 2);
}

#[test]
fn help_is_long_only_and_h_is_host() {
    let output = cli(&["--help"], None);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("-h, --host <HOSTNAME>"), "{help}");
    let output = cli(&["-h"], None);
    assert!(!output.status.success(), "-h without a value is an error, not help");
}
