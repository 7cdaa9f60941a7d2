//! A small in-memory [`Backend`]: strings and hashes in a `BTreeMap`, a
//! manual clock (TTL tests set time instead of sleeping), a password for the
//! default user, and two ACL users (`alice` may write, `reader` may not).
//! Enough of GET/SET/DEL/PTTL/SCAN/HSET/HGETALL for the API tests, plus
//! `FRAMES` and `DEEP`, which return replies that exercise the JSON mapping,
//! and `SLEEP ms`, a slow command.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use gyre_http::{AuthError, Backend, CommandMetrics, DbMetrics, Histogram, MetricsSnapshot, JSON_DEPTH_MAX};
use gyre_resp::Frame;

#[derive(Debug, Clone)]
enum Value {
    Str(Bytes),
    Hash(Vec<(Bytes, Bytes)>),
}

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    expires_at_ms: Option<u64>,
}

/// Who runs a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub can_write: bool,
}

pub struct Fake {
    data: Mutex<BTreeMap<Bytes, Entry>>,
    /// The default user's password; `None`: no auth required.
    password: Option<Vec<u8>>,
    ready: AtomicBool,
    now_ms: AtomicU64,
    /// Every command run, in order (names and arguments).
    log: Mutex<Vec<Vec<Bytes>>>,
    calls: Mutex<BTreeMap<String, (u64, u64)>>,
    latency: Histogram,
    hits: AtomicU64,
    misses: AtomicU64,
}

pub const PASSWORD: &str = "s3cret:with colon";
pub const ALICE_PASSWORD: &str = "wonderland";
pub const READER_PASSWORD: &str = "looking";

impl Fake {
    pub fn new() -> Self {
        Fake {
            data: Mutex::new(BTreeMap::new()),
            password: None,
            ready: AtomicBool::new(true),
            now_ms: AtomicU64::new(1_000_000),
            log: Mutex::new(Vec::new()),
            calls: Mutex::new(BTreeMap::new()),
            latency: Histogram::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn with_password() -> Self {
        Fake { password: Some(PASSWORD.as_bytes().to_vec()), ..Fake::new() }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The commands run so far, as text (lossy), for assertions.
    pub fn commands(&self) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|args| args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "))
            .collect()
    }

    fn run(&self, session: &Session, args: &[Bytes]) -> Frame {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let writes = matches!(name.as_str(), "set" | "del" | "hset");
        if writes && !session.can_write {
            return err(&format!("NOPERM User {} has no permissions to run the '{name}' command", session.user));
        }
        let now = self.now_ms.load(Ordering::Relaxed);
        let mut data = self.data.lock().unwrap();
        data.retain(|_, e| e.expires_at_ms.is_none_or(|at| at > now));
        let arg = |i: usize| args.get(i).cloned();
        match (name.as_str(), args.len()) {
            ("get", 2) => match data.get(&args[1]) {
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    Frame::Null
                }
                Some(Entry { value: Value::Str(v), .. }) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    Frame::Bulk(v.clone())
                }
                Some(_) => wrongtype(),
            },
            ("set", 3..) => set(&mut data, args, now),
            ("del", 2..) => Frame::Integer(args[1..].iter().filter(|k| data.remove(*k).is_some()).count() as i64),
            ("pttl", 2) => match data.get(&args[1]) {
                None => Frame::Integer(-2),
                Some(Entry { expires_at_ms: None, .. }) => Frame::Integer(-1),
                Some(Entry { expires_at_ms: Some(at), .. }) => Frame::Integer((at - now) as i64),
            },
            ("scan", 2..) => scan(&data, &args[1..]),
            ("hset", n) if n >= 4 && n % 2 == 0 => hset(&mut data, args),
            ("hgetall", 2) => match data.get(&args[1]) {
                None => Frame::Map(vec![]),
                Some(Entry { value: Value::Hash(fields), .. }) => {
                    Frame::Map(fields.iter().map(|(f, v)| (Frame::Bulk(f.clone()), Frame::Bulk(v.clone()))).collect())
                }
                Some(_) => wrongtype(),
            },
            ("frames", 1) => frames(),
            ("deep", 1) => {
                let mut frame = Frame::Integer(1);
                for _ in 0..=JSON_DEPTH_MAX {
                    frame = Frame::Array(vec![frame]);
                }
                frame
            }
            ("echo", 2) => Frame::Bulk(arg(1).unwrap()),
            (known, _) if ["get", "set", "del", "pttl", "scan", "hset", "hgetall", "echo"].contains(&known) => {
                err(&format!("ERR wrong number of arguments for '{known}' command"))
            }
            _ => err(&format!("ERR unknown command '{}'", String::from_utf8_lossy(&args[0]))),
        }
    }
}

fn err(msg: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(msg.as_bytes()))
}

fn wrongtype() -> Frame {
    err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

fn set(data: &mut BTreeMap<Bytes, Entry>, args: &[Bytes], now: u64) -> Frame {
    let (mut nx, mut xx, mut px) = (false, false, None);
    let mut i = 3;
    while i < args.len() {
        match args[i].to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"PX" => {
                i += 1;
                let ms = args.get(i).and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok());
                match ms {
                    Some(ms) if ms > 0 => px = Some(ms),
                    _ => return err("ERR invalid expire time in 'set' command"),
                }
            }
            _ => return err("ERR syntax error"),
        }
        i += 1;
    }
    let exists = data.contains_key(&args[1]);
    if (nx && exists) || (xx && !exists) {
        return Frame::Null;
    }
    let entry = Entry { value: Value::Str(args[2].clone()), expires_at_ms: px.map(|ms| now + ms) };
    data.insert(args[1].clone(), entry);
    Frame::Simple(Bytes::from_static(b"OK"))
}

fn hset(data: &mut BTreeMap<Bytes, Entry>, args: &[Bytes]) -> Frame {
    let entry = data.entry(args[1].clone()).or_insert(Entry { value: Value::Hash(vec![]), expires_at_ms: None });
    let Value::Hash(fields) = &mut entry.value else { return wrongtype() };
    let mut added = 0;
    for pair in args[2..].chunks(2) {
        match fields.iter_mut().find(|(f, _)| *f == pair[0]) {
            Some((_, v)) => *v = pair[1].clone(),
            None => {
                fields.push((pair[0].clone(), pair[1].clone()));
                added += 1;
            }
        }
    }
    Frame::Integer(added)
}

/// SCAN over the sorted keys: the cursor is an index.
fn scan(data: &BTreeMap<Bytes, Entry>, args: &[Bytes]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&args[0]).ok().and_then(|c| c.parse::<usize>().ok()) else {
        return err("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut kind) = (None, 10usize, None);
    for pair in args[1..].chunks(2) {
        let [opt, value] = pair else { return err("ERR syntax error") };
        match opt.to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value.clone()),
            b"COUNT" => match std::str::from_utf8(value).ok().and_then(|c| c.parse().ok()) {
                Some(n) => count = n,
                None => return err("ERR value is not an integer or out of range"),
            },
            b"TYPE" => kind = Some(value.clone()),
            _ => return err("ERR syntax error"),
        }
    }
    let keys: Vec<_> = data.iter().collect();
    let end = (cursor + count).min(keys.len());
    let page = keys.get(cursor..end).unwrap_or_default();
    let found = page
        .iter()
        .filter(|(k, _)| pattern.as_ref().is_none_or(|p| glob(p, k)))
        .filter(|(_, e)| {
            kind.as_ref().is_none_or(|t| match e.value {
                Value::Str(_) => &t[..] == b"string",
                Value::Hash(_) => &t[..] == b"hash",
            })
        })
        .map(|(k, _)| Frame::Bulk((*k).clone()))
        .collect();
    let next = if end >= keys.len() { 0 } else { end };
    Frame::Array(vec![Frame::Bulk(Bytes::from(next.to_string())), Frame::Array(found)])
}

/// `*` and `?` only, iteratively.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// One reply with every kind of frame.
fn frames() -> Frame {
    Frame::Array(vec![
        Frame::Simple(Bytes::from_static(b"OK")),
        Frame::Bulk(Bytes::from_static(b"\xff\xfe")),
        Frame::Integer(-42),
        Frame::Double(2.5),
        Frame::Double(f64::INFINITY),
        Frame::Boolean(false),
        Frame::BigNumber(Bytes::from_static(b"3492890328409238509324850943850943825024385")),
        Frame::Null,
        Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"some text") },
        Frame::Set(vec![Frame::Bulk(Bytes::from_static(b"m"))]),
        Frame::Map(vec![(Frame::Integer(1), Frame::Bulk(Bytes::from_static(b"one")))]),
        Frame::Error(Bytes::from_static(b"ERR nested")),
    ])
}

impl Backend for Fake {
    type Session = Session;

    fn auth_required(&self) -> bool {
        self.password.is_some()
    }

    fn authenticate(&self, user: Option<&str>, password: &[u8]) -> Result<Session, AuthError> {
        let ok = match user.unwrap_or("default") {
            "default" => self.password.as_deref().is_none_or(|p| p == password),
            "alice" => password == ALICE_PASSWORD.as_bytes(),
            "reader" => password == READER_PASSWORD.as_bytes(),
            _ => false,
        };
        if !ok {
            return Err(AuthError::WrongPass);
        }
        let user = user.unwrap_or("default").to_owned();
        let can_write = user != "reader";
        Ok(Session { user, can_write })
    }

    fn anonymous(&self) -> Session {
        Session { user: "default".to_owned(), can_write: true }
    }

    async fn execute(&self, session: &Session, args: &[Bytes]) -> Frame {
        assert!(!args.is_empty(), "the API never sends an empty command");
        let start = Instant::now();
        self.log.lock().unwrap().push(args.to_vec());
        let reply = if args[0].eq_ignore_ascii_case(b"sleep") {
            // SLEEP ms: a slow command, for shutdown tests (awaits, never blocks).
            let ms = std::str::from_utf8(&args[1]).unwrap().parse().unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Frame::Simple(Bytes::from_static(b"OK"))
        } else {
            self.run(session, args)
        };
        let elapsed = start.elapsed();
        self.latency.observe(elapsed);
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let mut calls = self.calls.lock().unwrap();
        let entry = calls.entry(name).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_micros() as u64;
        reply
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn metrics(&self) -> MetricsSnapshot {
        let data = self.data.lock().unwrap();
        let expiring = data.values().filter(|e| e.expires_at_ms.is_some()).count() as u64;
        let commands = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(name, (calls, usec))| CommandMetrics {
                name: Cow::Owned(name.clone()),
                calls_total: *calls,
                duration_usec_total: *usec,
                ..Default::default()
            })
            .collect();
        MetricsSnapshot {
            uptime_seconds: 42,
            commands,
            keyspace_hits_total: self.hits.load(Ordering::Relaxed),
            keyspace_misses_total: self.misses.load(Ordering::Relaxed),
            connected_clients: 3,
            used_memory_bytes: 1 << 20,
            databases: vec![DbMetrics { db: 0, keys: data.len() as u64, expiring_keys: expiring }],
            wal_size_bytes: 4096,
            last_snapshot_age_seconds: Some(12),
            command_latency: self.latency.snapshot(),
            ..Default::default()
        }
    }
}
