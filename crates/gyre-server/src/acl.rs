//! Users, passwords and permissions (Redis 6+ ACLs), and the per-command check.
//!
//! A [`User`] has a state (on/off), passwords (SHA-256 hashes, or `nopass`),
//! the commands it may run (a bit per command and subcommand of the command
//! table, set by `+cmd`, `-cmd|sub`, `+@category`, ...), the keys it may touch
//! (`~pattern` for read and write, `%R~` read only, `%W~` write only) and the
//! Pub/Sub channels it may use (`&pattern`). Categories come from the command
//! table (`cmd::introspect::acl_categories`): one definition for COMMAND INFO,
//! ACL CAT and the checks.
//!
//! Every connection starts as the `default` user, authenticated when that user
//! is `on` and `nopass` (no `requirepass`). Until it authenticates it may only
//! run commands flagged `no_auth` (AUTH, HELLO, QUIT, RESET). Each command is
//! checked by `dispatch` through [`check`]; a user that may run anything
//! on any key and channel (the default user by default) costs one atomic load
//! and a flag test. Denials answer `-NOPERM ...` in Redis 7.2's words and are
//! recorded in the ACL LOG (at most `acllog-max-len` entries, similar entries
//! within 60 s counted in one).
//!
//! Passwords are kept only as SHA-256 hashes and compared in constant time
//! (every stored hash is compared, with no early exit); they are never logged.
//!
//! Not supported: selectors (`(...)` rules, Redis 7.0), key permissions by
//! Redis's per-key-spec flags (Gyre asks: write commands need write access to
//! their keys, read-only commands read access, others any matching pattern).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use gyre_engine::glob::glob_match;
use gyre_resp::Args;
use parking_lot::{Mutex, RwLock};

use crate::cmd::{self, CmdError, CommandSpec};

/// Redis's ACL categories, in ACL CAT order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The reply of a denied command before authentication.
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Every command and subcommand of the table, numbered: a user's command
/// permissions are one bit per number.
struct CommandIndex {
    /// (spec, parent) by number.
    specs: Vec<(&'static CommandSpec, Option<&'static CommandSpec>)>,
    /// Spec address to number.
    by_addr: hashbrown::HashMap<usize, usize>,
}

fn index() -> &'static CommandIndex {
    static INDEX: OnceLock<CommandIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut specs = Vec::new();
        for c in cmd::table::all() {
            specs.push((c, None));
            for s in c.subcommands {
                specs.push((s, Some(c)));
            }
        }
        let by_addr = specs.iter().enumerate().map(|(i, (s, _))| (*s as *const CommandSpec as usize, i)).collect();
        CommandIndex { specs, by_addr }
    })
}

fn id_of(spec: &CommandSpec) -> usize {
    *index().by_addr.get(&(spec as *const CommandSpec as usize)).expect("every spec is in the command table")
}

/// The categories of a command, without the `@`.
fn categories_of(spec: &CommandSpec) -> impl Iterator<Item = &'static str> {
    cmd::introspect::acl_categories(spec).into_iter().map(|c| c.trim_start_matches('@'))
}

/// `name` or `parent|name`.
fn full_name(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

/// A key pattern and what it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyPattern {
    pattern: Vec<u8>,
    read: bool,
    write: bool,
}

impl KeyPattern {
    fn describe(&self) -> String {
        let flags = match (self.read, self.write) {
            (true, true) => "",
            (true, false) => "%R",
            _ => "%W",
        };
        format!("{flags}~{}", String::from_utf8_lossy(&self.pattern))
    }
}

/// One ACL user.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// SHA-256 of each password.
    passwords: Vec<[u8; 32]>,
    /// One bit per command index.
    allowed: Vec<u64>,
    /// The command rules as given since the last `+@all`/`-@all`, for ACL LIST.
    command_rules: Vec<String>,
    keys: Vec<KeyPattern>,
    /// `None`: all channels (`&*`, `allchannels`).
    channels: Option<Vec<Vec<u8>>>,
    /// Any command, any key, any channel: the check is skipped.
    unrestricted: bool,
    /// The `sanitize-payload` / `skip-sanitize-payload` flag.
    pub payload: PayloadCheck,
}

/// A user's RESTORE payload flag, as Redis 7.2 shows it in ACL LIST and ACL
/// GETUSER. Gyre checks every RESTORE payload in full whatever the flag says
/// (its decoder never trusts a payload), so the flag is recorded and shown,
/// never consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadCheck {
    /// `sanitize-payload`: what Redis 7.2 gives every new user and `reset`.
    Sanitize,
    /// `skip-sanitize-payload`.
    Skip,
}

impl PayloadCheck {
    pub fn flag(self) -> &'static str {
        match self {
            PayloadCheck::Sanitize => "sanitize-payload",
            PayloadCheck::Skip => "skip-sanitize-payload",
        }
    }
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no commands,
    /// keys or channels, `sanitize-payload` (Redis 7.2; 7.0 set no payload
    /// flag until `reset`).
    pub fn new(name: &str) -> User {
        let words = index().specs.len().div_ceil(64);
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            allowed: vec![0; words],
            command_rules: vec!["-@all".into()],
            keys: Vec::new(),
            channels: Some(Vec::new()),
            unrestricted: false,
            payload: PayloadCheck::Sanitize,
        }
    }

    /// The `default` user before any configuration: on, nopass, everything.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for rule in ["on", "nopass", "allkeys", "allchannels", "allcommands"] {
            u.apply(rule.as_bytes()).expect("valid rule");
        }
        u
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        let (w, b) = (id / 64, id % 64);
        if on {
            self.allowed[w] |= 1 << b;
        } else {
            self.allowed[w] &= !(1 << b);
        }
    }

    fn has_bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn all_commands(&self) -> bool {
        (0..index().specs.len()).all(|i| self.has_bit(i))
    }

    fn update_unrestricted(&mut self) {
        let all_keys = self.keys.iter().any(|k| k.pattern == b"*" && k.read && k.write);
        self.unrestricted = self.all_commands() && all_keys && self.channels.is_none();
    }

    /// May authenticate with `password` (constant time in the password and in
    /// which stored hash matches).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let digest = sha256(password);
        let mut matched = 0u8;
        for stored in &self.passwords {
            let diff = stored.iter().zip(digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            matched |= std::hint::black_box(u8::from(diff == 0));
        }
        matched == 1
    }

    /// Applies one ACL SETUSER rule, or says why it is invalid (Redis's words).
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(rule).map_err(|_| "Syntax error".to_string())?;
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![KeyPattern { pattern: b"*".to_vec(), read: true, write: true }],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = None,
            "resetchannels" => self.channels = Some(Vec::new()),
            "allcommands" => self.command_rule(b"+@all")?,
            "nocommands" => self.command_rule(b"-@all")?,
            "reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels", "off", "-@all", "sanitize-payload"] {
                    self.apply(r.as_bytes())?;
                }
            }
            "sanitize-payload" => self.payload = PayloadCheck::Sanitize,
            "skip-sanitize-payload" => self.payload = PayloadCheck::Skip,
            _ => self.apply_with_argument(rule)?,
        }
        self.update_unrestricted();
        Ok(())
    }

    fn apply_with_argument(&mut self, rule: &[u8]) -> Result<(), String> {
        match rule[0] {
            b'>' => {
                let h = sha256(&rule[1..]);
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'#' => {
                let h = parse_hash(&rule[1..]).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?;
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let h = if rule[0] == b'<' {
                    sha256(&rule[1..])
                } else {
                    parse_hash(&rule[1..]).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?
                };
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != h);
                if self.passwords.len() == before {
                    return Err("The password you are trying to remove from the user does not exist".into());
                }
            }
            b'~' => self.add_key_pattern(&rule[1..], true, true)?,
            b'%' => {
                let tilde = rule.iter().position(|&b| b == b'~').ok_or("Syntax error")?;
                let flags = &rule[1..tilde];
                let (mut read, mut write) = (false, false);
                for f in flags {
                    match f.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err("Syntax error".into()),
                    }
                }
                if !read && !write {
                    return Err("Syntax error".into());
                }
                self.add_key_pattern(&rule[tilde + 1..], read, write)?;
            }
            b'&' => {
                let pattern = rule[1..].to_vec();
                match &mut self.channels {
                    None => return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels".into()),
                    Some(list) if pattern == b"*" => {
                        list.clear();
                        self.channels = None;
                    }
                    Some(list) => {
                        if !list.contains(&pattern) {
                            list.push(pattern);
                        }
                    }
                }
            }
            b'+' | b'-' => self.command_rule(rule)?,
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, pattern: &[u8], read: bool, write: bool) -> Result<(), String> {
        if self.keys.iter().any(|k| k.pattern == b"*" && k.read && k.write) {
            return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into());
        }
        if let Some(k) = self.keys.iter_mut().find(|k| k.pattern == pattern) {
            k.read |= read;
            k.write |= write;
        } else {
            self.keys.push(KeyPattern { pattern: pattern.to_vec(), read, write });
        }
        Ok(())
    }

    /// `+cmd`, `-cmd`, `+cmd|sub`, `+@cat`, `-@cat`.
    fn command_rule(&mut self, rule: &[u8]) -> Result<(), String> {
        const UNKNOWN: &str = "Unknown command or category name in ACL";
        let allow = rule[0] == b'+';
        let name = std::str::from_utf8(&rule[1..]).map_err(|_| UNKNOWN)?.to_ascii_lowercase();
        let ids: Vec<usize> = if let Some(cat) = name.strip_prefix('@') {
            if cat == "all" {
                (0..index().specs.len()).collect()
            } else if CATEGORIES.contains(&cat) {
                index()
                    .specs
                    .iter()
                    .enumerate()
                    .filter(|(_, (s, _))| categories_of(s).any(|c| c == cat))
                    .map(|(i, _)| i)
                    .collect()
            } else {
                return Err(UNKNOWN.into());
            }
        } else if let Some((parent, sub)) = name.split_once('|') {
            let p = cmd::lookup(parent.as_bytes()).ok_or(UNKNOWN)?;
            if p.subcommands.is_empty() {
                return Err(format!("The specified command '{parent}' does not have any subcommands"));
            }
            let s = cmd::lookup_sub(p, sub.as_bytes()).ok_or(UNKNOWN)?;
            vec![id_of(s)]
        } else {
            let c = cmd::lookup(name.as_bytes()).ok_or(UNKNOWN)?;
            std::iter::once(id_of(c)).chain(c.subcommands.iter().map(id_of)).collect()
        };
        for id in ids {
            self.set_bit(id, allow);
        }
        let canonical = format!("{}{name}", if allow { '+' } else { '-' });
        if name == "@all" {
            self.command_rules.clear();
        }
        self.command_rules.retain(|r| *r != canonical);
        self.command_rules.push(canonical);
        Ok(())
    }

    /// The command rules, as ACL GETUSER and ACL LIST show them.
    pub fn describe_commands(&self) -> String {
        self.command_rules.join(" ")
    }

    pub fn describe_keys(&self) -> String {
        self.keys.iter().map(KeyPattern::describe).collect::<Vec<_>>().join(" ")
    }

    /// `&*`, or the channel patterns (each with `&`).
    pub fn describe_channels(&self) -> String {
        match &self.channels {
            None => "&*".into(),
            Some(list) => list.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect::<Vec<_>>().join(" "),
        }
    }

    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(|h| hex(h)).collect()
    }

    /// The user as one ACL LIST line (and aclfile line).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name), (if self.enabled { "on" } else { "off" }).to_string()];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.push(self.payload.flag().into());
        parts.extend(self.password_hashes().into_iter().map(|h| format!("#{h}")));
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.channels.is_some() {
            parts.push("resetchannels".into());
        }
        let channels = self.describe_channels();
        if !channels.is_empty() {
            parts.push(channels);
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }

    /// Why this user may not run `spec` with `args`, if it may not.
    fn denial(&self, top: &CommandSpec, spec: &'static CommandSpec, args: &Args<'_>) -> Option<Denial> {
        if self.unrestricted {
            return None;
        }
        if !self.has_bit(id_of(spec)) {
            return Some(Denial::Command);
        }
        let (read, write) = (spec.has_flag(cmd::flags::READONLY), spec.has_flag(cmd::flags::WRITE));
        for i in spec.key_indexes(args.len(), |i| args.get(i)) {
            let key = args.get(i);
            let ok = self
                .keys
                .iter()
                .any(|k| (!read || k.read) && (!write || k.write) && glob_match(&k.pattern, key, false));
            if !ok {
                return Some(Denial::Key(key.to_vec()));
            }
        }
        let Some(patterns) = &self.channels else { return None };
        let (channels, literal) = channel_args(top, args);
        for c in channels {
            let ch = args.get(c);
            let ok = patterns.iter().any(|p| if literal { p == ch } else { glob_match(p, ch, false) });
            if !ok {
                return Some(Denial::Channel(ch.to_vec()));
            }
        }
        None
    }
}

/// The channel arguments of a Pub/Sub command, and whether they are patterns
/// (matched literally against the user's patterns, as Redis does).
fn channel_args(top: &CommandSpec, args: &Args<'_>) -> (std::ops::Range<usize>, bool) {
    use crate::cmd::flags::{CHANNEL_ARG, CHANNEL_ARGS, PATTERN_ARGS};
    if top.has_flag(CHANNEL_ARG) {
        (1..2.min(args.len()), false)
    } else if top.has_flag(CHANNEL_ARGS | PATTERN_ARGS) {
        (1..args.len(), top.has_flag(PATTERN_ARGS))
    } else {
        (0..0, false)
    }
}

enum Denial {
    Command,
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 lower-case hex digits.
fn parse_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// A valid user name: not empty, no spaces or control characters, UTF-8.
pub fn valid_user_name(name: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(name).map_err(|_| "Usernames must be valid UTF-8".to_string())?;
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Usernames can't contain spaces or null characters".into());
    }
    Ok(text)
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
    pub entry_id: u64,
}

/// Similar entries this close together are counted in one (Redis: 60 s).
const LOG_GROUP_MS: u64 = 60_000;

/// The users and the ACL LOG.
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped on every change of any user: connections re-read theirs.
    generation: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    next_entry_id: AtomicU64,
    /// `aclfile`, for ACL LOAD and ACL SAVE.
    pub file: Option<PathBuf>,
    /// The server's time, for the ACL LOG's timestamps.
    runtime: Arc<dyn crate::runtime::Runtime>,
}

impl Acl {
    /// The users at start-up: the default user with `requirepass`, then the
    /// aclfile (which may redefine the default user).
    pub fn new(
        requirepass: &str,
        file: Option<PathBuf>,
        runtime: Arc<dyn crate::runtime::Runtime>,
    ) -> Result<Acl, String> {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            next_entry_id: AtomicU64::new(0),
            file,
            runtime,
        };
        acl.users.write().insert("default".into(), Arc::new(User::default_user()));
        acl.set_requirepass(requirepass);
        if acl.file.is_some() {
            acl.load()?;
        }
        Ok(acl)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.get("default").expect("the default user always exists")
    }

    /// `requirepass`: the default user's only password (empty: nopass).
    pub fn set_requirepass(&self, password: &str) {
        let mut users = self.users.write();
        let mut u = (**users.get("default").expect("default user")).clone();
        let rule = if password.is_empty() { "nopass".to_string() } else { format!(">{password}") };
        u.apply(b"resetpass").expect("valid rule");
        u.apply(rule.as_bytes()).expect("valid rule");
        users.insert("default".into(), Arc::new(u));
        drop(users);
        self.bump();
    }

    /// ACL SETUSER: all rules or none.
    pub fn set_user(&self, name: &str, rules: &[&[u8]]) -> Result<(), String> {
        let mut users = self.users.write();
        let mut u = users.get(name).map_or_else(|| User::new(name), |u| (**u).clone());
        for r in rules {
            u.apply(r)
                .map_err(|why| format!("Error in ACL SETUSER modifier '{}': {why}", String::from_utf8_lossy(r)))?;
        }
        users.insert(name.to_string(), Arc::new(u));
        drop(users);
        self.bump();
        Ok(())
    }

    /// ACL DELUSER: the names deleted (never `default`).
    pub fn delete(&self, names: &[&str]) -> Result<Vec<String>, String> {
        if names.contains(&"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write();
        let deleted: Vec<String> =
            names.iter().filter(|n| users.remove(**n).is_some()).map(|n| n.to_string()).collect();
        drop(users);
        self.bump();
        Ok(deleted)
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// The aclfile's text for the current users.
    fn file_text(&self) -> String {
        self.users().iter().map(|u| u.describe() + "\n").collect()
    }

    /// ACL SAVE: the users to the aclfile, atomically.
    pub fn save(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or(NO_ACLFILE)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.file_text().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!(
                "There was an error trying to save the ACLs. Please check the server logs for more information ({e})"
            )
        })
    }

    /// ACL LOAD (and start-up): replaces every user with the aclfile's; on
    /// any error nothing changes. A file without `default` keeps the current
    /// default user.
    pub fn load(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or(NO_ACLFILE)?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // A missing file at start-up is an empty one (ACL SAVE creates it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Error loading ACLs, opening file '{}': {e}", path.display())),
        };
        let mut loaded: BTreeMap<String, Arc<User>> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let at = format!("{}:{}", path.display(), n + 1);
            if words[0] != "user" || words.len() < 2 {
                return Err(format!("{at}: line should start with user keyword"));
            }
            let name = valid_user_name(words[1].as_bytes()).map_err(|why| format!("{at}: {why}"))?;
            if loaded.contains_key(name) {
                return Err(format!("{at}: duplicate user '{name}' found"));
            }
            let mut u = User::new(name);
            for r in &words[2..] {
                u.apply(r.as_bytes()).map_err(|why| format!("{at}: Error in user declaration '{r}': {why}"))?;
            }
            loaded.insert(name.to_string(), Arc::new(u));
        }
        let mut users = self.users.write();
        if !loaded.contains_key("default") {
            loaded.insert(
                "default".into(),
                users.get("default").cloned().unwrap_or_else(|| Arc::new(User::default_user())),
            );
        }
        *users = loaded;
        drop(users);
        self.bump();
        Ok(())
    }

    /// Records a denial or failed authentication.
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
        client: &str,
        max: usize,
    ) {
        let now = self.runtime.now_ms();
        let mut log = self.log.lock();
        if let Some(e) = log.iter_mut().find(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.updated_ms) < LOG_GROUP_MS
        }) {
            e.count += 1;
            e.updated_ms = now;
            e.client_info = client.to_string();
            return;
        }
        let entry_id = self.next_entry_id.fetch_add(1, Ordering::Relaxed);
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created_ms: now,
            updated_ms: now,
            client_info: client.to_string(),
            entry_id,
        });
        log.truncate(max);
    }

    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}

pub const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// A connection's identity.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// None: an internal client (a blocked command run again on its client's
    /// behalf, unit tests): already checked, not checked again.
    pub user: Option<Arc<User>>,
    pub authenticated: bool,
    generation: u64,
}

impl Default for ClientAuth {
    fn default() -> Self {
        ClientAuth { user: None, authenticated: true, generation: 0 }
    }
}

impl ClientAuth {
    /// A new network connection: the default user, authenticated when it
    /// needs no password.
    pub fn connection(acl: &Acl) -> ClientAuth {
        let user = acl.default_user();
        let authenticated = user.enabled && user.nopass;
        ClientAuth { user: Some(user), authenticated, generation: acl.generation() }
    }

    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("default", |u| u.name.as_str())
    }

    /// Whether the client may read every key (`~*` or `%R~*`): SORT's BY and
    /// GET patterns reach keys the command's key positions do not name, so
    /// Redis refuses them to anyone less.
    pub fn reads_all_keys(&self) -> bool {
        self.user.as_ref().is_none_or(|u| u.keys.iter().any(|k| k.pattern == b"*" && k.read))
    }
}

/// The ACL check of one command, run before it executes: NOAUTH before
/// authentication, then command, keys and channels. Returns the error reply
/// of a denial (and records it in the ACL LOG).
pub fn check(
    shared: &crate::shared::Shared,
    client: &mut crate::client::ClientState,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    args: &Args<'_>,
) -> Option<CmdError> {
    let auth = &mut client.auth;
    let user = auth.user.as_ref()?;
    if !auth.authenticated {
        return (!top.has_flag(cmd::flags::NO_AUTH)).then(|| cmd::err(NOAUTH));
    }
    let generation = shared.acl.generation();
    if auth.generation != generation {
        // The user changed (or was deleted: DELUSER also closes its clients).
        auth.generation = generation;
        match shared.acl.get(&user.name) {
            Some(u) => auth.user = Some(u),
            None => {
                auth.authenticated = false;
                client.close_after_reply = true;
                return Some(cmd::err(NOAUTH));
            }
        }
    }
    let user = auth.user.as_ref().expect("set above");
    // The common case (the default user, +@all ~* &*) decided without a call.
    // AUTH, HELLO, QUIT and RESET (no-auth commands, which touch no key) are
    // always allowed, as in Redis: a user without +auth can still switch user.
    if user.unrestricted || top.has_flag(cmd::flags::NO_AUTH) {
        return None;
    }
    let denial = user.denial(top, spec, args)?;
    let context = if client.in_exec { "multi" } else { "toplevel" };
    let max = shared.config.hot.acllog_max_len.load(Ordering::Relaxed) as usize;
    let describe = || client.info.describe();
    let (reason, object, msg) = match denial {
        Denial::Command => {
            let name = full_name(spec, (!std::ptr::eq(top, spec)).then_some(top));
            let msg = format!("NOPERM User {} has no permissions to run the '{name}' command", user.name);
            ("command", name, msg)
        }
        Denial::Key(k) => {
            ("key", String::from_utf8_lossy(&k).into_owned(), "NOPERM No permissions to access a key".into())
        }
        Denial::Channel(c) => {
            ("channel", String::from_utf8_lossy(&c).into_owned(), "NOPERM No permissions to access a channel".into())
        }
    };
    shared.acl.log(reason, context, object, user.name.clone(), &describe(), max);
    Some(CmdError::Msg(msg))
}

/// AUTH / HELLO AUTH: checks `name`/`password` and, when they are good, makes
/// the connection that user. Failures are logged (without the password).
pub fn authenticate(
    shared: &crate::shared::Shared,
    client: &mut crate::client::ClientState,
    name: &[u8],
    password: &[u8],
) -> Result<(), CmdError> {
    let user = std::str::from_utf8(name).ok().and_then(|n| shared.acl.get(n));
    match user {
        Some(u) if u.enabled && u.password_ok(password) => {
            *client.info.user.lock() = u.name.clone();
            client.auth = ClientAuth { user: Some(u), authenticated: true, generation: shared.acl.generation() };
            Ok(())
        }
        _ => {
            let max = shared.config.hot.acllog_max_len.load(Ordering::Relaxed) as usize;
            let name = String::from_utf8_lossy(name).into_owned();
            shared.acl.log("auth", "toplevel", "AUTH".into(), name, &client.info.describe(), max);
            Err(cmd::err(WRONGPASS))
        }
    }
}

/// RESET: back to the default user, authenticated when it needs no password.
pub fn reset_client(shared: &crate::shared::Shared, client: &mut crate::client::ClientState) {
    if client.auth.user.is_some() {
        client.auth = ClientAuth::connection(&shared.acl);
        *client.info.user.lock() = "default".into();
    }
}

/// Dry-run check for ACL DRYRUN: the error a user would get, verbosely.
pub fn dry_run(user: &User, args: &Args<'_>) -> Result<Option<String>, CmdError> {
    let mut last = None;
    let (top, spec) = cmd::resolve(args, &mut last)?;
    Ok(user.denial(top, spec, args).map(|d| match d {
        Denial::Command => format!(
            "User {} has no permissions to run the '{}' command",
            user.name,
            full_name(spec, (!std::ptr::eq(top, spec)).then_some(top))
        ),
        Denial::Key(k) => format!("No permissions to access the '{}' key", String::from_utf8_lossy(&k)),
        Denial::Channel(c) => format!("No permissions to access the '{}' channel", String::from_utf8_lossy(&c)),
    }))
}

/// Commands (and `parent|sub` subcommands) in a category, for ACL CAT.
pub fn commands_in(category: &str) -> Option<Vec<String>> {
    if !CATEGORIES.contains(&category) {
        return None;
    }
    Some(
        index()
            .specs
            .iter()
            .filter(|(s, _)| categories_of(s).any(|c| c == category))
            .map(|(s, p)| full_name(s, *p))
            .collect(),
    )
}

/// ACL GENPASS: `bits` random bits as hex (rounded up to whole hex digits).
pub fn genpass(bits: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut s = hex(&bytes);
    s.truncate(bits.div_ceil(4));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("u");
        for r in rules {
            u.apply(r.as_bytes()).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        u
    }

    #[test]
    fn passwords_are_hashed_and_checked() {
        let u = user(&["on", ">secret"]);
        assert!(u.password_ok(b"secret"));
        assert!(!u.password_ok(b"Secret"));
        assert!(!u.password_ok(b""));
        assert!(!u.describe().contains("secret"));
        let hash = hex(&sha256(b"other"));
        let u = user(&[&format!("#{hash}")]);
        assert!(u.password_ok(b"other"));
        assert!(user(&["nopass"]).password_ok(b"anything"));
        assert!(User::new("x").apply(b"#abc").is_err());
        assert!(User::new("x").apply(b"<nope").is_err());
    }

    #[test]
    fn describe_is_redis_acl_list_format() {
        let u = user(&["on", ">pw", "~cached:*", "%R~r:*", "&chan*", "+@hash", "+get", "-hdel", "+config|get"]);
        assert_eq!(
            u.describe(),
            format!(
                "user u on sanitize-payload #{} ~cached:* %R~r:* resetchannels &chan* -@all +@hash +get -hdel +config|get",
                hex(&sha256(b"pw"))
            )
        );
        assert_eq!(User::new("bob").describe(), "user bob off sanitize-payload resetchannels -@all");
        assert_eq!(User::default_user().describe(), "user default on nopass sanitize-payload ~* &* +@all");
        assert_eq!(user(&["skip-sanitize-payload"]).describe(), "user u off skip-sanitize-payload resetchannels -@all");
        assert_eq!(
            user(&["skip-sanitize-payload", "reset"]).describe(),
            "user u off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn rules_reject_nonsense() {
        let mut u = User::new("x");
        assert_eq!(u.apply(b"bogus").unwrap_err(), "Syntax error");
        assert_eq!(u.apply(b"+@nosuch").unwrap_err(), "Unknown command or category name in ACL");
        assert_eq!(u.apply(b"+nosuchcmd").unwrap_err(), "Unknown command or category name in ACL");
        assert!(u.apply(b"+get|x").unwrap_err().contains("does not have any subcommands"));
        assert!(u.apply(b"%X~k").is_err());
        u.apply(b"allkeys").unwrap();
        assert!(u.apply(b"~k*").unwrap_err().contains("after the * pattern"));
    }

    #[test]
    fn unrestricted_only_with_everything() {
        assert!(User::default_user().unrestricted);
        assert!(!user(&["allkeys", "allcommands"]).unrestricted);
        assert!(!user(&["allkeys", "allchannels", "allcommands", "-get"]).unrestricted);
        assert!(user(&["allkeys", "allchannels", "-@all", "+@all"]).unrestricted);
    }

    #[test]
    fn genpass_has_the_bits_asked_for() {
        assert_eq!(genpass(256).len(), 64);
        assert_eq!(genpass(5).len(), 2);
        assert_ne!(genpass(128), genpass(128));
    }
}
