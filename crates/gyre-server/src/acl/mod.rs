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
//!
//! Layout: this file holds the command index and the per-connection side
//! (a connection's [`ClientAuth`], [`check`], [`authenticate`]); `user` is one
//! [`User`] and its rules, `store` the users of the server ([`Acl`]), the
//! aclfile and the ACL LOG.

mod store;
mod user;

pub use store::Acl;
use user::{hex, Denial};
pub use user::{valid_user_name, User};

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use gyre_resp::Args;

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

    #[test]
    fn genpass_has_the_bits_asked_for() {
        assert_eq!(genpass(256).len(), 64);
        assert_eq!(genpass(5).len(), 2);
        assert_ne!(genpass(128), genpass(128));
    }
}
