//! The rows of the command table. Arity, flags and key positions follow Redis
//! 7.2's command JSON files, so COMMAND INFO answers as Redis does.

use super::flags::*;
use super::{acl, client, config, info, introspect, keys, server, shutdown, strings, transactions, CommandSpec, Group};

/// One command table row; used by every command module's table.
macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:ident, $since:literal, $summary:literal, $syntax:literal, $handler:expr) => {
        cmd!($name, $arity, $flags, $keys, $group, $since, $summary, $syntax, $handler, &[])
    };
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:ident, $since:literal, $summary:literal, $syntax:literal, $handler:expr, $subs:expr) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            numkeys_at: 0,
            group: Group::$group,
            since: $since,
            summary: $summary,
            syntax: $syntax,
            handler: $handler,
            subcommands: $subs,
            stats: {
                static ROW: crate::stats::Row = crate::stats::Row::new();
                &ROW
            },
        }
    };
}

pub(crate) use cmd;

/// A data command's handler (one that takes the narrow `cmd::data::Data`)
/// as a table row's `Handler`.
macro_rules! data {
    ($handler:path) => {{
        fn run(call: &mut $crate::cmd::Call<'_>) -> $crate::cmd::CmdResult {
            $handler(&mut call.data())
        }
        run
    }};
}

pub(crate) use data;

/// Key positions (first, last, step) shared by the command modules.
pub(crate) const NOKEYS: (i32, i32, i32) = (0, 0, 0);
pub(crate) const KEY1: (i32, i32, i32) = (1, 1, 1);
pub(crate) const ALLKEYS: (i32, i32, i32) = (1, -1, 1);

/// Commands of the string, generic, connection and server groups; the
/// collection types keep their tables in their own modules ([`all`] joins them).
pub static TABLE: &[CommandSpec] = &[
    // Strings
    cmd!("get", 2, READONLY | FAST, KEY1, String, "1.0.0", "Returns the string value of a key.", "key", data!(strings::get)),
    cmd!("set", -3, WRITE | DENYOOM, KEY1, String, "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]", data!(strings::set)),
    cmd!("setnx", 3, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Set the string value of a key only when the key doesn't exist.", "key value", data!(strings::setnx)),
    cmd!("setex", 4, WRITE | DENYOOM, KEY1, String, "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "key seconds value", data!(strings::setex)),
    cmd!("psetex", 4, WRITE | DENYOOM, KEY1, String, "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "key milliseconds value", data!(strings::psetex)),
    cmd!("getset", 3, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "key value", data!(strings::getset)),
    cmd!("getdel", 2, WRITE | FAST, KEY1, String, "6.2.0", "Returns the string value of a key after deleting the key.", "key", data!(strings::getdel)),
    cmd!("getex", -2, WRITE | FAST, KEY1, String, "6.2.0", "Returns the string value of a key after setting its expiration time.", "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]", data!(strings::getex)),
    cmd!("mget", -2, READONLY | FAST, ALLKEYS, String, "1.0.0", "Atomically returns the string values of one or more keys.", "key [key ...]", data!(strings::mget)),
    cmd!("mset", -3, WRITE | DENYOOM, (1, -1, 2), String, "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "key value [key value ...]", data!(strings::mset)),
    cmd!("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), String, "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "key value [key value ...]", data!(strings::msetnx)),
    cmd!("append", 3, WRITE | DENYOOM | FAST, KEY1, String, "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "key value", data!(strings::append)),
    cmd!("strlen", 2, READONLY | FAST, KEY1, String, "2.2.0", "Returns the length of a string value.", "key", data!(strings::strlen)),
    cmd!("getrange", 4, READONLY, KEY1, String, "2.4.0", "Returns a substring of the string stored at a key.", "key start end", data!(strings::getrange)),
    cmd!("substr", 4, READONLY, KEY1, String, "1.0.0", "Returns a substring from a string value.", "key start end", data!(strings::getrange)),
    cmd!("setrange", 4, WRITE | DENYOOM, KEY1, String, "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset value", data!(strings::setrange)),
    cmd!("incr", 2, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", data!(strings::incr)),
    cmd!("decr", 2, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", data!(strings::decr)),
    cmd!("incrby", 3, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment", data!(strings::incrby)),
    cmd!("decrby", 3, WRITE | DENYOOM | FAST, KEY1, String, "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "key decrement", data!(strings::decrby)),
    cmd!("incrbyfloat", 3, WRITE | DENYOOM | FAST, KEY1, String, "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment", data!(strings::incrbyfloat)),
    // Keys
    cmd!("del", -2, WRITE, ALLKEYS, Generic, "1.0.0", "Deletes one or more keys.", "key [key ...]", data!(keys::del)),
    cmd!("unlink", -2, WRITE | FAST, ALLKEYS, Generic, "4.0.0", "Asynchronously deletes one or more keys.", "key [key ...]", data!(keys::del)),
    cmd!("exists", -2, READONLY | FAST, ALLKEYS, Generic, "1.0.0", "Determines whether one or more keys exist.", "key [key ...]", data!(keys::exists)),
    cmd!("touch", -2, READONLY | FAST, ALLKEYS, Generic, "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key [key ...]", data!(keys::touch)),
    cmd!("type", 2, READONLY | FAST, KEY1, Generic, "1.0.0", "Determines the type of value stored at a key.", "key", data!(keys::type_)),
    cmd!("keys", 2, READONLY, NOKEYS, Generic, "1.0.0", "Returns all key names that match a pattern.", "pattern", data!(keys::keys)),
    cmd!("scan", -2, READONLY, NOKEYS, Generic, "2.8.0", "Iterates over the key names in the database.", "cursor [MATCH pattern] [COUNT count] [TYPE type]", data!(keys::scan)),
    cmd!("randomkey", 1, READONLY, NOKEYS, Generic, "1.0.0", "Returns a random key name from the database.", "", data!(keys::randomkey)),
    cmd!("rename", 3, WRITE, (1, 2, 1), Generic, "1.0.0", "Renames a key and overwrites the destination.", "key newkey", data!(keys::rename)),
    cmd!("renamenx", 3, WRITE | FAST, (1, 2, 1), Generic, "1.0.0", "Renames a key only when the target key name doesn't exist.", "key newkey", data!(keys::renamenx)),
    cmd!("copy", -3, WRITE | DENYOOM, (1, 2, 1), Generic, "6.2.0", "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]", data!(keys::copy)),
    cmd!("move", 3, WRITE | FAST, KEY1, Generic, "1.0.0", "Moves a key to another database.", "key db", data!(keys::move_)),
    cmd!("expire", -3, WRITE | FAST, KEY1, Generic, "1.0.0", "Sets the expiration time of a key in seconds.", "key seconds [NX | XX | GT | LT]", data!(keys::expire)),
    cmd!("pexpire", -3, WRITE | FAST, KEY1, Generic, "2.6.0", "Sets the expiration time of a key in milliseconds.", "key milliseconds [NX | XX | GT | LT]", data!(keys::pexpire)),
    cmd!("expireat", -3, WRITE | FAST, KEY1, Generic, "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "key unix-time-seconds [NX | XX | GT | LT]", data!(keys::expireat)),
    cmd!("pexpireat", -3, WRITE | FAST, KEY1, Generic, "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "key unix-time-milliseconds [NX | XX | GT | LT]", data!(keys::pexpireat)),
    cmd!("persist", 2, WRITE | FAST, KEY1, Generic, "2.2.0", "Removes the expiration time of a key.", "key", data!(keys::persist)),
    cmd!("ttl", 2, READONLY | FAST, KEY1, Generic, "1.0.0", "Returns the expiration time in seconds of a key.", "key", data!(keys::ttl)),
    cmd!("pttl", 2, READONLY | FAST, KEY1, Generic, "2.6.0", "Returns the expiration time in milliseconds of a key.", "key", data!(keys::pttl)),
    cmd!("expiretime", 2, READONLY | FAST, KEY1, Generic, "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "key", data!(keys::expiretime)),
    cmd!("pexpiretime", 2, READONLY | FAST, KEY1, Generic, "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key", data!(keys::pexpiretime)),
    cmd!("object", -2, 0, NOKEYS, Generic, "2.2.3", "A container for object introspection commands.", "", introspect::container, OBJECT_SUBS),
    cmd!("dbsize", 1, READONLY | FAST, NOKEYS, Server, "1.0.0", "Returns the number of keys in the database.", "", data!(keys::dbsize)),
    cmd!("flushdb", -1, WRITE, NOKEYS, Server, "1.0.0", "Remove all keys from the current database.", "[ASYNC | SYNC]", data!(keys::flushdb)),
    cmd!("flushall", -1, WRITE, NOKEYS, Server, "1.0.0", "Removes all keys from all databases.", "[ASYNC | SYNC]", data!(keys::flushall)),
    cmd!("select", 2, LOADING | STALE | FAST | CONNECTION_STATE, NOKEYS, Connection, "1.0.0", "Changes the selected database.", "index", keys::select),
    cmd!("swapdb", 3, WRITE | FAST, NOKEYS, Server, "4.0.0", "Swaps two Redis databases.", "index1 index2", keys::swapdb),
    // Connection
    cmd!("ping", -1, FAST | WHILE_SUBSCRIBED, NOKEYS, Connection, "1.0.0", "Returns the server's liveliness response.", "[message]", server::ping),
    cmd!("echo", 2, LOADING | STALE | FAST, NOKEYS, Connection, "1.0.0", "Returns the given string.", "message", server::echo),
    cmd!("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | CONTROLS_TRANSACTION | WHILE_SUBSCRIBED | CONNECTION_STATE, NOKEYS, Connection, "1.0.0", "Closes the connection.", "", server::quit),
    // Transactions
    cmd!("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | CONTROLS_TRANSACTION | CONNECTION_STATE, NOKEYS, Transactions, "1.2.0", "Starts a transaction.", "", transactions::multi),
    cmd!("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | EXCLUSIVE | EXCLUSIVE_KEYS | CONTROLS_TRANSACTION | CONNECTION_STATE | RUNS_TRANSACTION, NOKEYS, Transactions, "1.2.0", "Executes all commands in a transaction.", "", transactions::exec),
    cmd!("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | CONTROLS_TRANSACTION | CONNECTION_STATE, NOKEYS, Transactions, "2.0.0", "Discards a transaction.", "", transactions::discard),
    cmd!("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | CONTROLS_TRANSACTION | CONNECTION_STATE, ALLKEYS, Transactions, "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", "key [key ...]", transactions::watch),
    cmd!("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | CONNECTION_STATE, NOKEYS, Transactions, "2.2.0", "Forgets about watched keys of a transaction.", "", transactions::unwatch),
    cmd!("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | CONTROLS_TRANSACTION | WHILE_SUBSCRIBED | CONNECTION_STATE, NOKEYS, Connection, "6.2.0", "Resets the connection.", "", server::reset),
    cmd!("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | CONNECTION_STATE | SECRET_ARGS, NOKEYS, Connection, "6.0.0", "Handshakes with the Redis server.", "[protover [AUTH username password] [SETNAME clientname]]", server::hello),
    cmd!("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | CONNECTION_STATE | SECRET_ARGS, NOKEYS, Connection, "1.0.0", "Authenticates the connection.", "[username] password", acl::auth),
    cmd!("client", -2, CONNECTION_STATE | KEEPS_CACHING, NOKEYS, Connection, "2.4.0", "A container for client connection commands.", "", introspect::container, client::SUBCOMMANDS),
    // Server
    cmd!("info", -1, LOADING | STALE, NOKEYS, Server, "1.0.0", "Returns information and statistics about the server.", "[section [section ...]]", info::info),
    cmd!("config", -2, 0, NOKEYS, Server, "2.0.0", "A container for server configuration commands.", "", introspect::container, config::SUBCOMMANDS),
    cmd!("acl", -2, 0, NOKEYS, Server, "6.0.0", "A container for Access List Control commands.", "", introspect::container, acl::SUBCOMMANDS),
    cmd!("time", 1, LOADING | STALE | FAST, NOKEYS, Server, "2.6.0", "Returns the server time.", "", server::time),
    cmd!("command", -1, LOADING | STALE, NOKEYS, Server, "2.8.13", "Returns detailed information about all commands.", "", introspect::command, introspect::COMMAND_SUBS),
    cmd!("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, NOKEYS, Server, "1.0.0", "Synchronously saves the database(s) to disk.", "", server::save),
    cmd!("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, NOKEYS, Server, "1.0.0", "Asynchronously saves the database(s) to disk.", "[SCHEDULE]", server::bgsave),
    cmd!("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, NOKEYS, Server, "1.0.0", "Asynchronously rewrites the append-only file to disk.", "", server::bgrewriteaof),
    cmd!("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | NO_GATE, NOKEYS, Server, "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]", shutdown::shutdown),
    cmd!("lastsave", 1, LOADING | STALE | FAST, NOKEYS, Server, "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", "", server::lastsave),
    cmd!("memory", -2, 0, NOKEYS, Server, "4.0.0", "A container for memory diagnostics commands.", "", introspect::container, introspect::MEMORY_SUBS),
];

static OBJECT_SUBS: &[CommandSpec] = &[
    cmd!(
        "encoding",
        3,
        READONLY,
        (2, 2, 1),
        Generic,
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
        "key",
        introspect::object_encoding
    ),
    cmd!(
        "freq",
        3,
        READONLY,
        (2, 2, 1),
        Generic,
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        "key",
        introspect::object_freq
    ),
    cmd!(
        "idletime",
        3,
        READONLY,
        (2, 2, 1),
        Generic,
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
        "key",
        introspect::object_idletime
    ),
    cmd!(
        "refcount",
        3,
        READONLY,
        (2, 2, 1),
        Generic,
        "2.2.3",
        "Returns the reference count of a value of a key.",
        "key",
        introspect::object_refcount
    ),
    cmd!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        Generic,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "",
        introspect::object_help
    ),
];

/// Every top-level command Gyre serves, from every module's table.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    TABLE
        .iter()
        .chain(super::lists::COMMANDS)
        .chain(super::hashes::COMMANDS)
        .chain(super::sets::COMMANDS)
        .chain(super::zsets::COMMANDS)
        .chain(super::streams::COMMANDS)
        .chain(super::pubsub::COMMANDS)
        .chain(super::scripting::COMMANDS)
        .chain(super::diagnostics::COMMANDS)
        .chain(super::bitmaps::COMMANDS)
        .chain(super::lcs::COMMANDS)
        .chain(super::hll::COMMANDS)
        .chain(super::geo::COMMANDS)
        .chain(super::sort::COMMANDS)
        .chain(super::dump::COMMANDS)
        .chain(super::admin::COMMANDS)
        .chain(super::cluster::COMMANDS)
}

/// Number of top-level commands.
pub fn count() -> usize {
    all().count()
}

/// Lookup by name, ASCII case-insensitive, through a map built on first use.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    use std::sync::OnceLock;
    static INDEX: OnceLock<hashbrown::HashMap<&'static [u8], &'static CommandSpec>> = OnceLock::new();
    let index = INDEX.get_or_init(|| all().map(|c| (c.name.as_bytes(), c)).collect());
    if name.len() > 32 {
        return None;
    }
    let mut lower = [0u8; 32];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(c.arity != 0, "{} has arity 0", c.name);
            for s in c.subcommands {
                assert_eq!(s.name, s.name.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn commands_with_keys_name_positions_inside_their_arity() {
        for c in all().chain(all().flat_map(|c| c.subcommands)) {
            if c.first_key > 0 {
                assert!(c.first_key < c.arity.abs().max(2), "{}", c.name);
                assert!(c.step >= 1, "{}", c.name);
            }
            assert!(c.has_flag(WRITE) as u8 + c.has_flag(READONLY) as u8 <= 1, "{} is both write and readonly", c.name);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup(b"GeT").unwrap().name, "get");
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }
}
