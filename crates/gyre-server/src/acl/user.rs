//! One ACL user: its state, passwords, and what it may run and touch; the
//! rules that change it (`ACL SETUSER` words: `on`, `>pw`, `~pattern`,
//! `+@category`, ...), its `ACL LIST` description, and the decision whether
//! it may run one command with its arguments.
//!
//! Invariants: passwords are kept only as SHA-256 hashes and compared in
//! constant time; `unrestricted` is true exactly when the user may run every
//! command on every key and channel, so the per-command check of such a
//! user is one flag test. Limits: no selectors (`(...)` rules, Redis 7.0).

use gyre_engine::glob::glob_match;
use gyre_resp::Args;

use super::{categories_of, id_of, index, CATEGORIES};
use crate::cmd::{self, CommandSpec};

/// A key pattern and what it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KeyPattern {
    pub(super) pattern: Vec<u8>,
    pub(super) read: bool,
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
    pub(super) keys: Vec<KeyPattern>,
    /// `None`: all channels (`&*`, `allchannels`).
    channels: Option<Vec<Vec<u8>>>,
    /// Any command, any key, any channel: the check is skipped.
    pub(super) unrestricted: bool,
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
    pub(super) fn denial(&self, top: &CommandSpec, spec: &'static CommandSpec, args: &Args<'_>) -> Option<Denial> {
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

pub(super) enum Denial {
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

pub(super) fn hex(bytes: &[u8]) -> String {
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
}
