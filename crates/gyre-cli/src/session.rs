//! [`Session`]: a client's view of one server: how to (re)connect, the state
//! redis-cli tracks from the commands it sends (selected database, inside
//! MULTI), and executing one command with its output.
//!
//! Invariants:
//! * Connecting runs redis-cli's handshake in its order: `AUTH`, then
//!   `SELECT` (when the database is not 0), then `HELLO 3` (with `-3`). A
//!   refused step is reported and the session carries on, as redis-cli does.
//! * The tracked database changes only when `SELECT` (or `MULTI`/`EXEC`/
//!   `DISCARD`/`RESET`) succeeds, exactly as redis-cli updates its prompt, and
//!   is selected again after a reconnect.
//! * After any link failure the connection is dropped; the next command
//!   reconnects.
//! * RESP3 pushes that arrive while waiting for a reply are printed (when
//!   `show_pushes`) or dropped; attributes are dropped. Neither is taken for
//!   the reply.
//!
//! * With `-c` ([`ConnectOptions::cluster`]), a `-MOVED` or `-ASK` reply
//!   moves the session to the node it names (reconnecting with the same
//!   credentials and TLS settings, as redis-cli does, so the prompt shows
//!   that node from then on) and the command is sent again there, after
//!   `ASKING` for `-ASK`; a `-TRYAGAIN` reply is retried on the same node
//!   after a short wait. Both within the bounds of `cluster::redirect`; past
//!   them the last error is the reply. Inside `MULTI` nothing is followed:
//!   moving would run the command outside the transaction (the server then
//!   aborts it at `EXEC`).
//!
//! `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` and `MONITOR` never return: like
//! redis-cli, the session prints every frame until the connection ends.

use std::io::{self, Write};

use gyre_resp::Frame;

use crate::cluster::redirect::{tryagain_backoff, Reroute, REDIRECTS_MAX, TRYAGAIN_RETRIES_MAX};
use crate::cluster::slot::SlotId;
use crate::cluster::NodeAddr;
use crate::conn::{ConnError, Connection};
use crate::format::{format_push, format_reply, format_verbatim, OutputMode};
use crate::tls::TlsSetup;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// ACL user for `AUTH user password`.
    pub user: Option<Vec<u8>>,
    /// Password; `AUTH` is sent only when set.
    pub password: Option<Vec<u8>>,
    /// Database selected at connect time (`-n`).
    pub db: i64,
    /// Send `HELLO 3` after connecting (`-3`).
    pub resp3: bool,
    /// TLS, when `--tls` or a `rediss://` URI asks for it.
    pub tls: Option<TlsSetup>,
    /// Follow cluster redirects (`-c`).
    pub cluster: bool,
}

/// Why the session could not connect, or (for the handshake variants, which
/// are reported but not fatal) a step that was refused. Each reads as
/// redis-cli's message.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect or name resolution failed.
    #[error("Could not connect to Redis at {host}:{port}: {reason}")]
    Unreachable {
        /// Host as given.
        host: String,
        /// Port as given.
        port: u16,
        /// The system's words for the failure.
        reason: String,
    },
    /// The server refused `AUTH`.
    #[error("AUTH failed: {0}")]
    Auth(String),
    /// The server refused `SELECT`.
    #[error("SELECT {db} failed: {reason}")]
    Select {
        /// Database asked for.
        db: i64,
        /// The server's error.
        reason: String,
    },
    /// The server refused `HELLO 3`.
    #[error("HELLO 3 failed: {0}")]
    Hello(String),
    /// The link failed during the handshake.
    #[error("Error: {0}")]
    Link(#[from] ConnError),
}

/// Why one command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Not connected, and reconnecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The link failed while sending or reading.
    #[error("Error: {0}")]
    Link(#[from] ConnError),
    /// Writing to our own output failed (e.g. a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// One client session.
pub struct Session {
    opts: ConnectOptions,
    conn: Option<Connection>,
    mode: OutputMode,
    show_pushes: bool,
    /// Database the server has selected for us (as far as we know); shown
    /// in the prompt.
    db: i64,
    /// Database to select on (re)connect: `-n`, then the last successful
    /// `SELECT` (redis-cli's `input_dbnum`).
    wanted_db: i64,
    in_multi: bool,
    /// Database to return to if the transaction is discarded or fails.
    pre_multi_db: i64,
    /// Print redis-cli's `-> Redirected to ...` line (the interactive prompt).
    announce_redirects: bool,
}

impl Session {
    /// A disconnected session.
    pub fn new(opts: ConnectOptions, mode: OutputMode, show_pushes: bool) -> Session {
        let wanted_db = opts.db;
        Session {
            opts,
            conn: None,
            mode,
            show_pushes,
            db: 0,
            wanted_db,
            in_multi: false,
            pre_multi_db: 0,
            announce_redirects: false,
        }
    }

    /// Whether to print `-> Redirected to slot [N] located at host:port`
    /// when following a redirect; redis-cli does in its interactive prompt
    /// only, so one-shot and piped output stay the replies alone.
    pub fn set_announce_redirects(&mut self, announce: bool) {
        self.announce_redirects = announce;
    }

    /// The connected plain socket, leaving the session (`--pipe` takes it
    /// over); `None` when not connected or over TLS.
    pub fn into_stream(self) -> Option<std::net::TcpStream> {
        self.conn.and_then(Connection::into_stream)
    }

    /// The output mode replies are printed in.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Connects (dropping any current connection) and runs the handshake.
    ///
    /// Only an unreachable server or a failed link is an error. A refused
    /// `AUTH`, `SELECT` or `HELLO 3` is reported on stderr and the session
    /// stays connected, as in redis-cli (the command then runs and gets the
    /// server's own error, e.g. `NOAUTH`).
    pub fn connect(&mut self) -> Result<(), ConnectError> {
        self.conn = None;
        self.in_multi = false;
        self.db = 0;
        let mut conn =
            Connection::connect(&self.opts.host, self.opts.port, self.opts.tls.as_ref()).map_err(|reason| {
                ConnectError::Unreachable { host: self.opts.host.clone(), port: self.opts.port, reason }
            })?;
        if let Some(password) = &self.opts.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            args.extend(self.opts.user.as_deref());
            args.push(password);
            if let Frame::Error(e) = call(&mut conn, &args)? {
                eprintln!("{}", ConnectError::Auth(lossy(&e)));
            }
        }
        self.conn = Some(conn);
        if let Err(e) = self.finish_handshake() {
            self.conn = None;
            return Err(e.into());
        }
        Ok(())
    }

    fn finish_handshake(&mut self) -> Result<(), ConnError> {
        self.select_wanted_db()?;
        if self.opts.resp3 {
            let conn = self.conn.as_mut().expect("just connected");
            if let Frame::Error(e) = call(conn, &[&b"HELLO"[..], b"3"])? {
                eprintln!("{}", ConnectError::Hello(lossy(&e)));
            }
        }
        Ok(())
    }

    /// Selects `wanted_db` if it is not the selected one; a refusal is
    /// reported and leaves `db` as it was.
    fn select_wanted_db(&mut self) -> Result<(), ConnError> {
        let (wanted, conn) = (self.wanted_db, self.conn.as_mut().expect("connected"));
        if wanted == self.db {
            return Ok(());
        }
        match call(conn, &[b"SELECT".to_vec(), wanted.to_string().into_bytes()])? {
            Frame::Error(e) => eprintln!("{}", ConnectError::Select { db: wanted, reason: lossy(&e) }),
            _ => self.db = wanted,
        }
        Ok(())
    }

    /// The interactive prompt: `host:port[db](TX)> `, or `not connected> `.
    pub fn prompt(&self) -> String {
        if self.conn.is_none() {
            return "not connected> ".to_string();
        }
        let host = &self.opts.host;
        let mut prompt = if host.contains(':') {
            format!("[{host}]:{}", self.opts.port)
        } else {
            format!("{host}:{}", self.opts.port)
        };
        if self.db != 0 {
            prompt.push_str(&format!("[{}]", self.db));
        }
        if self.in_multi {
            prompt.push_str("(TX)");
        }
        prompt.push_str("> ");
        prompt
    }

    /// Sends `args` (reconnecting first if needed) and returns the reply
    /// unprinted; pushes and attributes are dropped. For the friendly verbs
    /// and start-up queries, so it tracks no state. Follows redirects with `-c`.
    pub fn call(&mut self, args: &[Vec<u8>]) -> Result<Frame, CommandError> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let result = self.round_trip(b"", args, &mut io::sink());
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Sends `args` and reads its reply (see `read_reply`), following
    /// cluster redirects when the session does.
    fn round_trip(&mut self, name: &[u8], args: &[Vec<u8>], out: &mut dyn Write) -> Result<Frame, CommandError> {
        self.conn.as_mut().expect("connected").send(args)?;
        let reply = self.read_reply(name, out)?;
        if !self.opts.cluster || self.in_multi {
            return Ok(reply);
        }
        self.follow_redirects(name, args, reply, out)
    }

    /// While `reply` is a redirect or `-TRYAGAIN` within the bounds, goes
    /// where it says (or waits) and sends `args` again; returns the last reply.
    fn follow_redirects(
        &mut self,
        name: &[u8],
        args: &[Vec<u8>],
        mut reply: Frame,
        out: &mut dyn Write,
    ) -> Result<Frame, CommandError> {
        let (mut redirects, mut retries) = (0, 0);
        loop {
            let reroute = match &reply {
                Frame::Error(text) => Reroute::parse(text),
                _ => None,
            };
            match reroute {
                Some(Reroute::TryAgain) if retries < TRYAGAIN_RETRIES_MAX => {
                    std::thread::sleep(tryagain_backoff(retries));
                    retries += 1;
                }
                Some(Reroute::Moved { slot, addr }) if redirects < REDIRECTS_MAX => {
                    redirects += 1;
                    self.redirect(slot, addr, false, out)?;
                }
                Some(Reroute::Ask { slot, addr }) if redirects < REDIRECTS_MAX => {
                    redirects += 1;
                    self.redirect(slot, addr, true, out)?;
                }
                _ => return Ok(reply),
            }
            self.conn.as_mut().expect("connected").send(args)?;
            reply = self.read_reply(name, out)?;
        }
    }

    /// Moves the session to `addr` (an empty host keeps the current one, as
    /// Redis means it) and connects there, announcing it when asked; with
    /// `asking`, sends `ASKING` first.
    fn redirect(
        &mut self,
        slot: SlotId,
        addr: NodeAddr,
        asking: bool,
        out: &mut dyn Write,
    ) -> Result<(), CommandError> {
        if !addr.host.is_empty() {
            self.opts.host = addr.host;
        }
        self.opts.port = addr.port;
        if self.announce_redirects {
            let (host, port) = (&self.opts.host, self.opts.port);
            writeln!(out, "-> Redirected to slot [{}] located at {host}:{port}", slot.0)?;
        }
        self.connect()?;
        if asking {
            // Only the link matters: redis-cli ignores the reply too.
            call(self.conn.as_mut().expect("just connected"), &[&b"ASKING"[..]])?;
        }
        Ok(())
    }

    /// Sends `args` (reconnecting first if needed) and prints the reply to `out`.
    pub fn execute(&mut self, args: &[Vec<u8>], out: &mut dyn Write) -> Result<(), CommandError> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let name = args.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
        let result = self.execute_connected(&name, args, out);
        if let Err(CommandError::Link(err)) = &result {
            self.conn = None;
            if name == b"shutdown" && matches!(err, ConnError::Closed) {
                // The server went away as asked: not an error (redis-cli too).
                return Ok(());
            }
        }
        result
    }

    fn execute_connected(&mut self, name: &[u8], args: &[Vec<u8>], out: &mut dyn Write) -> Result<(), CommandError> {
        if matches!(name, b"subscribe" | b"psubscribe" | b"ssubscribe" | b"monitor") {
            self.conn.as_mut().expect("connected before executing").send(args)?;
            return self.stream_forever(name, out);
        }
        let reply = self.round_trip(name, args, out)?;
        let text = if prints_verbatim(args) { format_verbatim(&reply) } else { format_reply(&reply, self.mode) };
        out.write_all(&text)?;
        out.flush()?;
        self.track_state(name, args, &reply);
        Ok(())
    }

    /// Reads frames until the reply, printing or skipping out-of-band ones.
    fn read_reply(&mut self, name: &[u8], out: &mut dyn Write) -> Result<Frame, CommandError> {
        // Outside subscribe mode a RESP3 unsubscribe is answered with a push.
        let push_is_reply = matches!(name, b"unsubscribe" | b"punsubscribe" | b"sunsubscribe");
        let conn = self.conn.as_mut().expect("connected");
        loop {
            match conn.read_frame()? {
                Frame::Attribute(_) => continue,
                Frame::Push(items) if !push_is_reply => {
                    if self.show_pushes {
                        out.write_all(&format_push(&Frame::Push(items), self.mode))?;
                    }
                }
                reply => return Ok(reply),
            }
        }
    }

    /// Prints every frame until the link fails (subscribe and monitor modes).
    fn stream_forever(&mut self, name: &[u8], out: &mut dyn Write) -> Result<(), CommandError> {
        if name != b"monitor" && self.mode != OutputMode::Raw {
            out.write_all(b"Reading messages... (press Ctrl-C to quit)\n")?;
        }
        let conn = self.conn.as_mut().expect("connected");
        loop {
            let frame = conn.read_frame()?;
            if matches!(frame, Frame::Attribute(_)) {
                continue;
            }
            out.write_all(&format_push(&frame, self.mode))?;
            out.flush()?;
        }
    }

    fn set_db(&mut self, db: i64) {
        self.db = db;
        self.wanted_db = db;
    }

    /// Updates the database / transaction state from a command and its reply,
    /// as redis-cli does for its prompt.
    fn track_state(&mut self, name: &[u8], args: &[Vec<u8>], reply: &Frame) {
        let failed = matches!(reply, Frame::Error(_));
        match (name, args.len()) {
            (b"select", 2) if !failed => self.set_db(parse_db(&args[1])),
            (b"multi", 1) if !failed => {
                self.in_multi = true;
                self.pre_multi_db = self.db;
            }
            (b"exec", 1) if self.in_multi => {
                self.in_multi = false;
                // A failed or aborted transaction did not run its SELECTs.
                if failed || matches!(reply, Frame::Null) {
                    self.set_db(self.pre_multi_db);
                }
            }
            (b"discard", 1) if !failed => {
                self.in_multi = false;
                self.set_db(self.pre_multi_db);
            }
            (b"reset", 1) if !failed => {
                self.in_multi = false;
                self.set_db(0);
            }
            (b"auth", 2 | 3) if !failed => {
                // A SELECT sent before authenticating was refused; redo it.
                if let Err(e) = self.select_wanted_db() {
                    eprintln!("Error: {e}");
                    self.conn = None;
                }
            }
            _ => {}
        }
    }
}

/// Sends `args` and returns the reply, skipping pushes and attributes.
fn call<A: AsRef<[u8]>>(conn: &mut Connection, args: &[A]) -> Result<Frame, ConnError> {
    conn.send(args)?;
    loop {
        match conn.read_frame()? {
            Frame::Push(_) | Frame::Attribute(_) => continue,
            reply => return Ok(reply),
        }
    }
}

/// redis-cli reads the database with `atoi`: leading digits, else 0.
fn parse_db(arg: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().map(|n| sign * n).unwrap_or(0)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Commands whose reply redis-cli prints verbatim even on a terminal, because
/// the reply is preformatted text.
fn prints_verbatim(args: &[Vec<u8>]) -> bool {
    let arg = |i: usize| args.get(i).map(|a| a.to_ascii_lowercase()).unwrap_or_default();
    let (cmd, sub, argc) = (arg(0), arg(1), args.len());
    match cmd.as_slice() {
        b"info" | b"lolwut" => true,
        b"debug" => argc >= 2 && matches!(sub.as_slice(), b"htstats" | b"htstats-key"),
        b"memory" => argc >= 2 && matches!(sub.as_slice(), b"malloc-stats" | b"doctor"),
        b"cluster" => argc == 2 && matches!(sub.as_slice(), b"nodes" | b"info"),
        b"client" => argc >= 2 && sub == b"list",
        b"latency" => (argc == 3 && sub == b"graph") || (argc == 2 && sub == b"doctor"),
        _ => false,
    }
}

/// Commands that must not be written to the history file (they carry secrets).
pub fn is_sensitive(args: &[Vec<u8>]) -> bool {
    let lower: Vec<Vec<u8>> = args.iter().take(3).map(|a| a.to_ascii_lowercase()).collect();
    let word = |i: usize| lower.get(i).map(Vec::as_slice).unwrap_or_default();
    match word(0) {
        b"auth" => true,
        b"acl" => word(1) == b"setuser",
        b"config" => word(1) == b"set" && matches!(word(2), b"masterauth" | b"masteruser" | b"requirepass"),
        b"hello" | b"migrate" => {
            args.iter().any(|a| a.eq_ignore_ascii_case(b"auth") || a.eq_ignore_ascii_case(b"auth2"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicU16, AtomicU64};
    use std::sync::Arc;

    use super::*;
    use crate::cluster::fake::fake_node;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn session(host: &str) -> Session {
        let opts = ConnectOptions {
            host: host.into(),
            port: 6379,
            user: None,
            password: None,
            db: 0,
            resp3: false,
            tls: None,
            cluster: false,
        };
        Session::new(opts, OutputMode::Tty, false)
    }

    #[test]
    fn prompt_tracks_db_and_transaction() {
        let mut s = session("127.0.0.1");
        assert_eq!(s.prompt(), "not connected> ");
        let ok = Frame::Simple("OK".into());
        s.track_state(b"select", &args(&["select", "2"]), &ok);
        assert_eq!(s.db, 2);
        s.track_state(b"select", &args(&["select", "9"]), &Frame::Error("ERR DB index is out of range".into()));
        assert_eq!(s.db, 2);
        s.track_state(b"multi", &args(&["multi"]), &ok);
        s.track_state(b"select", &args(&["select", "5"]), &Frame::Simple("QUEUED".into()));
        assert!(s.in_multi);
        assert_eq!(s.db, 5);
        s.track_state(b"discard", &args(&["discard"]), &ok);
        assert!(!s.in_multi);
        assert_eq!(s.db, 2);
        s.track_state(b"reset", &args(&["reset"]), &Frame::Simple("RESET".into()));
        assert_eq!(s.db, 0);
    }

    /// A session with `-c` on `port`.
    fn cluster_session(port: u16) -> Session {
        let mut s = session("127.0.0.1");
        s.opts.port = port;
        s.opts.cluster = true;
        s.mode = OutputMode::Raw;
        s
    }

    fn run(s: &mut Session, words: &[&str]) -> String {
        let mut out = Vec::new();
        s.execute(&args(words), &mut out).expect("runs");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cluster_mode_follows_moved_and_retries_tryagain() {
        // B: TRYAGAIN to the first command of each connection.
        let b = fake_node(Arc::new(|_: &[String], count: u64, _: bool| match count {
            1 => "-TRYAGAIN The slot is being handed over\r\n".into(),
            _ => "+OK\r\n".into(),
        }));
        // A: the slot is B's (an empty host: the one we used).
        let a = fake_node(Arc::new(move |_: &[String], _: u64, _: bool| format!("-MOVED 5061 :{b}\r\n")));
        let mut s = cluster_session(a);
        s.connect().unwrap();
        assert_eq!(s.prompt(), format!("127.0.0.1:{a}> "));
        s.set_announce_redirects(true);
        let out = run(&mut s, &["SET", "bar", "v"]);
        assert_eq!(out, format!("-> Redirected to slot [5061] located at 127.0.0.1:{b}\nOK\n"));
        assert_eq!(s.prompt(), format!("127.0.0.1:{b}> "), "the session moved");
        // Friendly verbs' calls follow too, silently.
        let mut s = cluster_session(a);
        assert_eq!(s.call(&args(&["SET", "bar", "v"])).unwrap(), Frame::Simple("OK".into()));
    }

    #[test]
    fn cluster_mode_asks_once() {
        let b = fake_node(Arc::new(|words: &[String], _: u64, asking: bool| match words[0].as_str() {
            "ASKING" => "+OK\r\n".into(),
            "GET" if asking => "$2\r\nv1\r\n".into(),
            _ => "-ERR no ASKING before this\r\n".into(),
        }));
        let a = fake_node(Arc::new(move |_: &[String], _: u64, _: bool| format!("-ASK 12182 127.0.0.1:{b}\r\n")));
        let mut s = cluster_session(a);
        assert_eq!(run(&mut s, &["GET", "foo"]), "v1\n", "not announced outside the prompt");
    }

    #[test]
    fn cluster_redirects_are_bounded_and_not_followed_in_multi() {
        let commands = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&commands);
        let port = Arc::new(AtomicU16::new(0));
        let own = Arc::clone(&port);
        // A node that keeps sending the client back to itself.
        let a = fake_node(Arc::new(move |words: &[String], _: u64, _: bool| {
            seen.fetch_add(1, Relaxed);
            match words[0].as_str() {
                "MULTI" => "+OK\r\n".into(),
                _ => format!("-MOVED 0 127.0.0.1:{}\r\n", own.load(Relaxed)),
            }
        }));
        port.store(a, Relaxed);
        let mut s = cluster_session(a);
        s.mode = OutputMode::Tty;
        let out = run(&mut s, &["GET", "k"]);
        assert_eq!(out, format!("(error) MOVED 0 127.0.0.1:{a}\n"));
        assert_eq!(commands.load(Relaxed), 1 + u64::from(REDIRECTS_MAX));
        // Inside MULTI the MOVED is the reply: the transaction is doomed.
        commands.store(0, Relaxed);
        run(&mut s, &["MULTI"]);
        assert_eq!(run(&mut s, &["SET", "k", "v"]), format!("(error) MOVED 0 127.0.0.1:{a}\n"));
        assert_eq!(commands.load(Relaxed), 2);
    }

    #[test]
    fn atoi_database_numbers() {
        assert_eq!(parse_db(b"12"), 12);
        assert_eq!(parse_db(b"-3"), -3);
        assert_eq!(parse_db(b"7x"), 7);
        assert_eq!(parse_db(b"x"), 0);
    }

    #[test]
    fn verbatim_and_sensitive_commands() {
        assert!(prints_verbatim(&args(&["INFO"])));
        assert!(prints_verbatim(&args(&["client", "LIST"])));
        assert!(!prints_verbatim(&args(&["client", "info"])));
        assert!(!prints_verbatim(&args(&["cluster", "nodes", "x"])));
        assert!(is_sensitive(&args(&["AUTH", "pw"])));
        assert!(is_sensitive(&args(&["acl", "SETUSER", "u", ">pw"])));
        assert!(is_sensitive(&args(&["config", "set", "requirepass", "pw"])));
        assert!(is_sensitive(&args(&["HELLO", "3", "AUTH", "u", "pw"])));
        assert!(!is_sensitive(&args(&["hello", "3"])));
        assert!(!is_sensitive(&args(&["set", "auth", "x"])));
    }
}
