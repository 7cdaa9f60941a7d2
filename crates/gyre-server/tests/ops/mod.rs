//! Helpers for the operations tests (configuration, TLS, limits, shutdown):
//! a Gyre process started with any flags and environment, killed on drop.

#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("gyre-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write temp file");
        p.to_str().expect("utf-8").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A gyre-server process, killed on drop.
pub struct Gyre {
    pub child: Option<Child>,
    pub port: u16,
    pub stderr_path: PathBuf,
}

impl Gyre {
    /// The command for gyre-server with `--dir` in `dir`; no port given.
    pub fn command(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gyre-server"));
        c.arg("--dir").arg(dir.join("data")).args(args).stdin(Stdio::null());
        for (k, v) in envs {
            c.env(k, v);
        }
        c
    }

    /// Starts a server on a free port (`--port` is added unless `args` has
    /// one, in which case `port` must say it) and waits until it accepts.
    pub fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)], port: Option<u16>) -> Gyre {
        let port_given = port.is_some();
        let port = port.unwrap_or_else(free_port);
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !port_given {
            all.extend(["--port".into(), port.to_string()]);
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let stderr_path = dir.join(format!("stderr-{port}.log"));
        let stderr = std::fs::File::create(&stderr_path).expect("log file");
        let child = Gyre::command(dir, &refs, envs).stdout(Stdio::null()).stderr(stderr).spawn().expect("spawn");
        let mut g = Gyre { child: Some(child), port, stderr_path };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = g.child.as_mut().unwrap().try_wait() {
                panic!("gyre-server exited ({st}) at start-up:\n{}", g.logs());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return g;
            }
            assert!(Instant::now() < deadline, "gyre-server did not start:\n{}", g.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for the process to exit (at most `within`), returning its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < deadline, "gyre-server still running after {within:?}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gyre {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs gyre-server expecting it to fail at start-up: (status, stderr).
pub fn start_failure(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let port = free_port().to_string();
    let mut all = vec!["--port", port.as_str()];
    all.extend_from_slice(args);
    let mut child = Gyre::command(dir, &all, envs).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return (st, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gyre-server {args:?} started instead of failing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
