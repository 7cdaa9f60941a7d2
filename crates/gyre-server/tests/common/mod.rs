//! Test harness for the Gyre integration tests.
//!
//! Every test starts its own server process on a free loopback port, talks to
//! it through the `redis` crate or through a raw socket ([`RawConn`]), and the
//! process is killed when the [`Server`] is dropped (also when the test panics).
//!
//! By default the server is the `gyre-server` binary of this crate. With
//! `GYRE_TEST_REDIS=1` in the environment, the same tests run against a real
//! `redis-server` (from `PATH`, or `GYRE_TEST_REDIS_BIN`) instead; that is how
//! the expectations in these tests are validated against Redis itself:
//!
//! ```text
//! cargo test -p gyre-server --tests                     # against Gyre
//! GYRE_TEST_REDIS=1 cargo test -p gyre-server --tests   # against redis-server
//! ```
//!
//! Server stdout/stderr go to files in the test's temp dir and are printed
//! when the server fails to start ([`Server::logs`] gives them on demand).
//!
//! Tests that pin behaviour only Redis 7.2 has (Debian ships 7.0) start with
//! `if skip_before_72(&server) { return; }`: skipped when the validation
//! server is an older Redis, run for Gyre and for Redis >= 7.2.

#![allow(dead_code)]

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use redis::Value;

/// How long a server may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout of raw connections and redis-rs connections.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// True when the tests run against a real `redis-server` (`GYRE_TEST_REDIS=1`).
pub fn is_redis() -> bool {
    matches!(std::env::var("GYRE_TEST_REDIS").as_deref(), Ok("1") | Ok("true") | Ok("yes"))
}

/// True (and prints a note) when the test should be skipped because it pins
/// Redis 7.2 behaviour and the validation server is an older Redis. Use as
/// `if skip_before_72(&server) { return; }`. Gyre always runs such tests.
pub fn skip_before_72(server: &Server) -> bool {
    if server.at_least_redis(7, 2) {
        false
    } else {
        eprintln!("skipped: pins Redis 7.2 behaviour, validation server is older");
        true
    }
}

/// Raises this test process's soft open-files limit to its hard limit: the
/// many-connection tests need more than the common default of 1024.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Waits until the server counts `n` blocked clients (INFO clients), so that a
/// test knows a client's blocking command has been registered.
pub fn wait_blocked(c: &mut redis::Connection, n: usize) {
    let ok = wait_for(Duration::from_secs(5), || {
        let info = as_str(&q(c, &["INFO", "clients"]));
        info_field(&info, "blocked_clients").and_then(|v| v.parse::<usize>().ok()) == Some(n)
    });
    assert!(ok, "the server never reported {n} blocked clients");
}

/// A raw connection that negotiated RESP3.
pub fn raw3(s: &Server) -> RawConn {
    let mut r = s.raw();
    r.call(&["HELLO", "3"]);
    r
}

/// A running server process, killed on drop.
pub struct Server {
    child: Option<Child>,
    port: u16,
    root: PathBuf,
    data_dir: PathBuf,
    version: Option<(u32, u32)>,
}

impl Server {
    /// Starts a server with default options.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra Gyre flags, e.g. `&["--hz", "100"]`.
    ///
    /// Flags are written `--name value`, which is also how `redis-server`
    /// accepts its configuration options on the command line, so they are
    /// passed unchanged to Redis in validation runs.
    pub fn start_with(extra_args: &[&str]) -> Server {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let root = std::env::temp_dir().join(format!("gyre-test-{}-{}-{}", std::process::id(), n, nanos));
        let data_dir = root.join("data");
        fs::create_dir_all(&data_dir).expect("create temp dir");

        // A port picked this way can (rarely) be taken by someone else before
        // the server binds it; then the server exits and we try another one.
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = spawn(port, &root, &data_dir, extra_args);
            match wait_ready(&mut child, port) {
                Start::Ready => {
                    let mut server = Server { child: Some(child), port, root, data_dir, version: None };
                    if is_redis() {
                        server.version = Some(server.query_redis_version());
                    }
                    return server;
                }
                outcome => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = read_logs(&root);
                    if outcome == Start::TimedOut {
                        break;
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&root);
        panic!(
            "server did not start: it exited, or did not accept connections within {:?}\n{}",
            START_TIMEOUT, last_err
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The directory passed as `--dir`.
    pub fn dir(&self) -> &Path {
        &self.data_dir
    }

    /// A synchronous RESP2 redis-rs connection.
    pub fn client(&self) -> redis::Connection {
        connect(&self.url())
    }

    /// A synchronous redis-rs connection that negotiated RESP3 (`HELLO 3`).
    pub fn client_resp3(&self) -> redis::Connection {
        connect(&format!("{}?protocol=resp3", self.url()))
    }

    /// A redis-rs client (for async connections).
    pub fn redis_client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// A raw TCP connection with a small RESP reader.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(&self.addr())
    }

    /// Whether the server is Gyre, or a Redis at least `major.minor`.
    pub fn at_least_redis(&self, major: u32, minor: u32) -> bool {
        match self.version {
            None => true,
            Some(v) => v >= (major, minor),
        }
    }

    /// The validation Redis's version, `None` for Gyre.
    pub fn redis_version(&self) -> Option<(u32, u32)> {
        self.version
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's stdout and stderr so far.
    pub fn logs(&self) -> String {
        read_logs(&self.root)
    }

    fn query_redis_version(&self) -> (u32, u32) {
        let mut raw = self.raw();
        let info = raw.call(&["INFO", "server"]).text();
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .expect("redis_version in INFO")
            .trim()
            .to_string();
        let mut parts = line.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }
}

/// How [`Server::restart`] stops the running process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, waiting for a clean exit.
    Term,
    /// SIGKILL: a crash.
    Kill,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stops the process; returns its exit status.
    pub fn stop(&mut self, how: Stop) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let sig = match how {
            Stop::Term => libc::SIGTERM,
            Stop::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(child.id() as i32, sig) };
        child.wait().expect("wait for the server")
    }

    /// Stops the server and starts it again on the same data directory (a new
    /// port), with `extra_args`. Panics if it does not come up.
    pub fn restart(&mut self, how: Stop, extra_args: &[&str]) {
        if self.child.is_some() {
            self.stop(how);
        }
        let mut child = None;
        for _ in 0..5 {
            let port = free_port();
            let mut c = spawn(port, &self.root, &self.data_dir, extra_args);
            match wait_ready(&mut c, port) {
                Start::Ready => {
                    self.port = port;
                    child = Some(c);
                    break;
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        self.child = Some(child.unwrap_or_else(|| panic!("server did not restart\n{}", read_logs(&self.root))));
    }

    /// Starts a second server process on this server's data directory and
    /// returns its exit status and stderr once it exits (for "directory in use").
    pub fn start_second_on_same_dir(&self) -> (std::process::ExitStatus, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_gyre-server"))
            .args(["--bind", "127.0.0.1", "--port", &free_port().to_string(), "--dir"])
            .arg(&self.data_dir)
            .output()
            .expect("run a second server");
        (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Starts a server on `data_dir` with `extra_args` and returns its exit
    /// status and stderr, for start-ups expected to fail (a corrupt log).
    pub fn try_start_on(data_dir: &Path, extra_args: &[&str]) -> Result<Child, (std::process::ExitStatus, String)> {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gyre-server"))
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--dir"])
            .arg(data_dir)
            .args(extra_args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn gyre-server");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
                return Err((status, err));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(child);
            }
            assert!(Instant::now() < deadline, "server neither started nor exited");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

fn spawn(port: u16, root: &Path, data_dir: &Path, extra_args: &[&str]) -> Child {
    let stdout = File::create(root.join("stdout.log")).expect("log file");
    let stderr = File::create(root.join("stderr.log")).expect("log file");
    let port_s = port.to_string();
    let dir_s = data_dir.to_str().expect("utf-8 temp dir").to_string();
    let mut cmd;
    if is_redis() {
        let bin = std::env::var("GYRE_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
        cmd = Command::new(bin);
        cmd.args(["--port", &port_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", &dir_s]);
    } else {
        cmd = Command::new(env!("CARGO_BIN_EXE_gyre-server"));
        cmd.args(["--bind", "127.0.0.1", "--port", &port_s, "--dir", &dir_s]);
    }
    cmd.args(extra_args).stdin(Stdio::null()).stdout(Stdio::from(stdout)).stderr(Stdio::from(stderr));
    cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {}", cmd.get_program(), e))
}

#[derive(PartialEq)]
enum Start {
    Ready,
    /// The process exited (e.g. the port was taken): try another port.
    Exited,
    /// Another test's server answered on this port: try another port.
    Foreign,
    TimedOut,
}

fn wait_ready(child: &mut Child, port: u16) -> Start {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return Start::Exited;
        }
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            drop(s);
            // Ready only when our own process answers: a probe can reach
            // another test's server (which may exit before we ask it).
            match owner_pid(port) {
                Some(pid) if pid == child.id() => return Start::Ready,
                Some(_) => return Start::Foreign,
                None => {}
            }
        }
        if Instant::now() > deadline {
            return Start::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `process_id` the server on `port` reports in `INFO server`, if it
/// reports one. Guards against two tests picking the same free port at the
/// same moment, where the loser's probe would reach the winner's server.
fn owner_pid(port: u16) -> Option<u32> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(&encode_str(&["INFO", "server"])).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Ok(Some((reply, _))) = parse_frame(&buf) {
            return match reply {
                Reply::Bulk(b) => info_field(&String::from_utf8_lossy(&b), "process_id")?.parse().ok(),
                _ => None,
            };
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn read_logs(root: &Path) -> String {
    let out = fs::read_to_string(root.join("stdout.log")).unwrap_or_default();
    let err = fs::read_to_string(root.join("stderr.log")).unwrap_or_default();
    format!("--- server stdout ---\n{}\n--- server stderr ---\n{}", out, err)
}

fn connect(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).expect("redis url");
    let con = client.get_connection_with_timeout(READ_TIMEOUT).unwrap_or_else(|e| panic!("connect {}: {}", url, e));
    con.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    con.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    con
}

// ---------------------------------------------------------------------------
// redis-rs helpers
// ---------------------------------------------------------------------------

/// Builds a command from string arguments.
pub fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

/// Runs a command and returns its reply; panics on an error reply.
pub fn q(con: &mut redis::Connection, args: &[&str]) -> Value {
    match cmd(args).query::<Value>(con) {
        Ok(v) => v,
        Err(e) => panic!("{:?} failed: {}", args, err_text(&e)),
    }
}

/// Runs a command and returns the full text of its error reply
/// (e.g. `ERR syntax error`); panics if it succeeds.
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match cmd(args).query::<Value>(con) {
        Ok(v) => {
            let mut shown = format!("{:?}", v);
            if shown.len() > 400 {
                let mut end = 400;
                while !shown.is_char_boundary(end) {
                    end -= 1;
                }
                shown.truncate(end);
                shown.push_str("...");
            }
            panic!("{:?} should fail but replied {}", args, shown)
        }
        Err(e) => err_text(&e),
    }
}

/// The full text of a server error as sent on the wire, without the `-`.
pub fn err_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{} {}", code, detail),
        (Some(code), None) => code.to_string(),
        _ => format!("<client error: {}>", e),
    }
}

/// Asserts that a command replies `+OK`.
pub fn ok(con: &mut redis::Connection, args: &[&str]) {
    assert_eq!(q(con, args), Value::Okay, "{:?}", args);
}

pub fn bulk(s: impl AsRef<[u8]>) -> Value {
    Value::BulkString(s.as_ref().to_vec())
}

pub fn int(n: i64) -> Value {
    Value::Int(n)
}

pub fn nil() -> Value {
    Value::Nil
}

pub fn status(s: &str) -> Value {
    if s == "OK" {
        Value::Okay
    } else {
        Value::SimpleString(s.to_string())
    }
}

pub fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

pub fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(bulk).collect())
}

/// The integer of an integer reply.
pub fn as_int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("expected integer, got {:?}", other),
    }
}

/// The text of a bulk/simple/verbatim string reply.
pub fn as_str(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).expect("utf-8"),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".to_string(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected string, got {:?}", other),
    }
}

/// Sorted strings of an array of bulk strings.
pub fn sorted_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => {
            let mut out: Vec<String> = items.iter().map(as_str).collect();
            out.sort();
            out
        }
        other => panic!("expected array, got {:?}", other),
    }
}

/// Polls `f` every few milliseconds until it returns true or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Parses `INFO` text into (field, value) pairs, skipping `#` lines.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k == field {
            Some(v.trim_end().to_string())
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------------
// Raw RESP connection
// ---------------------------------------------------------------------------

/// A parsed RESP2/RESP3 frame.
#[derive(Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1` (null bulk string).
    NilBulk,
    /// RESP2 `*-1` (null array).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 `_`.
    Null,
    Double(String),
    Bool(bool),
    BigNumber(String),
    BlobError(String),
    Verbatim(String, String),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Attribute(Vec<(Reply, Reply)>),
    Push(Vec<Reply>),
}

impl Reply {
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(s.as_ref().to_vec())
    }

    pub fn simple(s: &str) -> Reply {
        Reply::Simple(s.to_string())
    }

    pub fn error(s: &str) -> Reply {
        Reply::Error(s.to_string())
    }

    /// The text of a string-like reply (bulk, simple, verbatim, error).
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) | Reply::Error(s) | Reply::Double(s) | Reply::BigNumber(s) => s.clone(),
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Verbatim(_, s) => s.clone(),
            other => panic!("expected a string reply, got {:?}", other),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected integer, got {:?}", other),
        }
    }

    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => v,
            other => panic!("expected an aggregate, got {:?}", other),
        }
    }

    /// Looks up a key in a RESP3 map or a RESP2 flat key/value array.
    pub fn field(&self, key: &str) -> Option<&Reply> {
        match self {
            Reply::Map(pairs) => pairs.iter().find(|(k, _)| k.text() == key).map(|(_, v)| v),
            Reply::Array(items) => items.chunks(2).find(|c| c.len() == 2 && c[0].text() == key).map(|c| &c[1]),
            other => panic!("expected a map, got {:?}", other),
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{:?}", s),
            Reply::Error(s) => write!(f, "-{:?}", s),
            Reply::Int(n) => write!(f, ":{}", n),
            Reply::Bulk(b) => write!(f, "${:?}", String::from_utf8_lossy(b)),
            Reply::NilBulk => write!(f, "$-1"),
            Reply::NilArray => write!(f, "*-1"),
            Reply::Array(v) => f.debug_list().entries(v).finish(),
            Reply::Null => write!(f, "_"),
            Reply::Double(s) => write!(f, ",{}", s),
            Reply::Bool(b) => write!(f, "#{}", if *b { 't' } else { 'f' }),
            Reply::BigNumber(s) => write!(f, "({}", s),
            Reply::BlobError(s) => write!(f, "!{:?}", s),
            Reply::Verbatim(fmt_, s) => write!(f, "={}:{:?}", fmt_, s),
            Reply::Map(pairs) => f.debug_map().entries(pairs.iter().map(|(k, v)| (k, v))).finish(),
            Reply::Set(v) => {
                write!(f, "~")?;
                f.debug_set().entries(v).finish()
            }
            Reply::Attribute(pairs) => {
                write!(f, "|")?;
                f.debug_map().entries(pairs.iter().map(|(k, v)| (k, v))).finish()
            }
            Reply::Push(v) => {
                write!(f, ">")?;
                f.debug_list().entries(v).finish()
            }
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes a command given as strings.
pub fn encode_str(args: &[&str]) -> Vec<u8> {
    let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode(&v)
}

/// Tries to parse one frame from `buf`; `Ok(None)` if it is incomplete.
/// Returns the frame and the number of bytes it used.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    fn line(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
        let rest = buf.get(start..)?;
        let pos = rest.windows(2).position(|w| w == b"\r\n")?;
        Some((&rest[..pos], start + pos + 2))
    }
    fn text(b: &[u8]) -> Result<String, String> {
        String::from_utf8(b.to_vec()).map_err(|_| format!("non-utf8 line {:?}", b))
    }
    fn num(b: &[u8]) -> Result<i64, String> {
        text(b)?.parse::<i64>().map_err(|_| format!("bad number {:?}", String::from_utf8_lossy(b)))
    }
    fn at(buf: &[u8], start: usize) -> Result<Option<(Reply, usize)>, String> {
        let Some(&tag) = buf.get(start) else {
            return Ok(None);
        };
        let Some((l, next)) = line(buf, start + 1) else {
            return Ok(None);
        };
        let blob = |len: i64| -> Option<(Vec<u8>, usize)> {
            let len = len as usize;
            if buf.len() < next + len + 2 {
                return None;
            }
            Some((buf[next..next + len].to_vec(), next + len + 2))
        };
        let aggregate = |n: i64, per: usize| -> Result<Option<(Vec<Reply>, usize)>, String> {
            let mut items = Vec::new();
            let mut pos = next;
            for _ in 0..(n as usize * per) {
                match at(buf, pos)? {
                    Some((r, p)) => {
                        items.push(r);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((items, pos)))
        };
        let pairs = |v: Vec<Reply>| -> Vec<(Reply, Reply)> {
            let mut out = Vec::new();
            let mut it = v.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        };
        Ok(match tag {
            b'+' => Some((Reply::Simple(text(l)?), next)),
            b'-' => Some((Reply::Error(text(l)?), next)),
            b':' => Some((Reply::Int(num(l)?), next)),
            b',' => Some((Reply::Double(text(l)?), next)),
            b'(' => Some((Reply::BigNumber(text(l)?), next)),
            b'#' => match l {
                b"t" => Some((Reply::Bool(true), next)),
                b"f" => Some((Reply::Bool(false), next)),
                _ => return Err(format!("bad boolean {:?}", l)),
            },
            b'_' => Some((Reply::Null, next)),
            b'$' | b'!' | b'=' => {
                let n = num(l)?;
                if n < 0 {
                    if tag != b'$' {
                        return Err("negative blob length".into());
                    }
                    Some((Reply::NilBulk, next))
                } else {
                    match blob(n) {
                        None => None,
                        Some((b, p)) => {
                            if &buf[p - 2..p] != b"\r\n" {
                                return Err("blob not terminated by CRLF".into());
                            }
                            let r = match tag {
                                b'$' => Reply::Bulk(b),
                                b'!' => Reply::BlobError(text(&b)?),
                                _ => {
                                    let s = text(&b)?;
                                    if s.len() < 4 || &s[3..4] != ":" {
                                        return Err(format!("bad verbatim {:?}", s));
                                    }
                                    Reply::Verbatim(s[..3].to_string(), s[4..].to_string())
                                }
                            };
                            Some((r, p))
                        }
                    }
                }
            }
            b'*' | b'~' | b'>' => {
                let n = num(l)?;
                if n < 0 {
                    if tag != b'*' {
                        return Err("negative aggregate length".into());
                    }
                    Some((Reply::NilArray, next))
                } else {
                    aggregate(n, 1)?.map(|(v, p)| {
                        let r = match tag {
                            b'*' => Reply::Array(v),
                            b'~' => Reply::Set(v),
                            _ => Reply::Push(v),
                        };
                        (r, p)
                    })
                }
            }
            b'%' | b'|' => {
                let n = num(l)?;
                aggregate(n, 2)?.map(|(v, p)| {
                    let r = if tag == b'%' { Reply::Map(pairs(v)) } else { Reply::Attribute(pairs(v)) };
                    (r, p)
                })
            }
            other => return Err(format!("unknown RESP type byte {:?}", other as char)),
        })
    }
    at(buf, 0)
}

/// A raw TCP connection to the server with a tiny RESP reader.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(addr: &str) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {}: {}", addr, e));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn { stream, buf: Vec::new() }
    }

    /// Changes the read timeout (default 5 s).
    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }

    /// Writes bytes as they are.
    /// Like `send`, but reports a write error (the server closed) instead of
    /// panicking.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends a command as a RESP array.
    pub fn send_cmd(&mut self, args: &[&str]) {
        let b = encode_str(args);
        self.send(&b);
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, args: &[&str]) -> Reply {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Sends a binary command and reads its reply.
    pub fn call_bin(&mut self, args: &[&[u8]]) -> Reply {
        let b = encode(args);
        self.send(&b);
        self.read_reply()
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one complete frame and returns its exact bytes.
    pub fn read_frame_bytes(&mut self) -> Vec<u8> {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((_, used))) => {
                    let bytes: Vec<u8> = self.buf.drain(..used).collect();
                    return bytes;
                }
                Ok(None) => {}
                Err(e) => panic!("malformed reply from server: {} in {:?}", e, String::from_utf8_lossy(&self.buf)),
            }
            match self.fill() {
                Ok(0) => {
                    panic!("connection closed while waiting for a reply; have {:?}", String::from_utf8_lossy(&self.buf))
                }
                Ok(_) => {}
                Err(e) => panic!("reading reply: {} (have {:?})", e, String::from_utf8_lossy(&self.buf)),
            }
        }
    }

    /// Reads one complete reply.
    pub fn read_reply(&mut self) -> Reply {
        let bytes = self.read_frame_bytes();
        parse_frame(&bytes).unwrap().unwrap().0
    }

    /// Reads exactly `n` bytes (or panics on timeout / EOF).
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => panic!("connection closed; wanted {} bytes, have {:?}", n, String::from_utf8_lossy(&self.buf)),
                Ok(_) => {}
                Err(e) => panic!("reading: {}", e),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Asserts that nothing arrives within `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        assert!(self.buf.is_empty(), "unexpected data {:?}", String::from_utf8_lossy(&self.buf));
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let r = self.fill();
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        match r {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Ok(0) => panic!("connection was closed"),
            Ok(_) => panic!("unexpected data {:?}", String::from_utf8_lossy(&self.buf)),
            Err(e) => panic!("read error: {}", e),
        }
    }

    /// Asserts that the server closes the connection (EOF or reset) without
    /// sending anything more, within the read timeout.
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            assert!(
                self.buf.is_empty(),
                "expected the connection to be closed, got data {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            match self.fill() {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                    return
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    panic!("connection still open after {:?}", READ_TIMEOUT)
                }
                Err(e) => panic!("read error: {}", e),
            }
            if Instant::now() > deadline {
                panic!("connection still open");
            }
        }
    }

    /// Closes the writing half (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
