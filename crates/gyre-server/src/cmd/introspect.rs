//! Introspection: COMMAND (from the command table), OBJECT, and the HELP replies
//! of container commands.

use gyre_engine::SlotId;

use super::client::sub;
use super::errors::SYNTAX;
use super::flags::{self, *};
use super::table::{all, count as command_count};
use super::{err, lookup, lookup_sub, Call, CmdResult, CommandSpec, Group};

/// Handler of container commands (CONFIG, CLIENT, ...): the dispatcher always
/// descends into a subcommand, so reaching this is a bug in the table.
pub fn container(_call: &mut Call<'_>) -> CmdResult {
    Err(err("ERR container command called without a subcommand"))
}

/// The HELP reply of a container: one line per subcommand with its syntax.
pub fn help_reply(call: &mut Call<'_>, container: &str, subs: &[CommandSpec]) {
    call.out.array(subs.len() + 1);
    call.out.simple(format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes());
    for s in subs {
        let line = format!("{} {}: {}", s.name.to_ascii_uppercase(), s.syntax, s.summary);
        call.out.simple(line.trim().as_bytes());
    }
}

pub static COMMAND_SUBS: &[CommandSpec] = &[
    CommandSpec {
        group: Group::Server,
        since: "2.8.13",
        ..sub!("count", 2, LOADING | STALE, "Returns a count of commands.", "", count)
    },
    CommandSpec {
        group: Group::Server,
        since: "2.8.13",
        ..sub!(
            "info",
            -2,
            LOADING | STALE,
            "Returns information about one, multiple or all commands.",
            "[command-name [command-name ...]]",
            info
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "7.0.0",
        ..sub!(
            "docs",
            -2,
            LOADING | STALE,
            "Returns documentary information about one, multiple or all commands.",
            "[command-name [command-name ...]]",
            docs
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "2.8.13",
        ..sub!(
            "getkeys",
            -3,
            LOADING | STALE,
            "Extracts the key names from an arbitrary command.",
            "command [arg [arg ...]]",
            getkeys
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "7.0.0",
        ..sub!(
            "getkeysandflags",
            -3,
            LOADING | STALE,
            "Extracts the key names and access flags for an arbitrary command.",
            "command [arg [arg ...]]",
            super::admin::command_getkeysandflags
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "7.0.0",
        ..sub!(
            "list",
            -2,
            LOADING | STALE,
            "Returns a list of command names.",
            "[FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]",
            list
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "5.0.0",
        ..sub!("help", 2, LOADING | STALE, "Returns helpful text about the different subcommands.", "", help)
    },
];

/// COMMAND with no subcommand: every command's info. (With a subcommand the
/// dispatcher runs the subcommand's handler instead.)
pub fn command(call: &mut Call<'_>) -> CmdResult {
    call.out.array(command_count());
    for c in all() {
        write_info(call, c, None);
    }
    Ok(())
}

fn count(call: &mut Call<'_>) -> CmdResult {
    call.out.integer(command_count() as i64);
    Ok(())
}

fn help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "COMMAND", COMMAND_SUBS);
    Ok(())
}

/// Commands whose declared ACL categories (`acl_categories` in Redis 7.2's
/// command JSON) are not simply their group's: (top-level name, the
/// categories in place of the group's). WAIT and WAITAOF are documented in
/// the generic group but are `@connection`, not `@keyspace`; several server
/// commands touch the keyspace or are `@dangerous`; SORT is filed under the
/// types it sorts; the cluster group's connection-state commands are
/// `@connection` (and so are all COMMAND's subcommands).
const DECLARED_CATEGORIES: &[(&str, &[&str])] = &[
    ("wait", &["@connection"]),
    ("waitaof", &["@connection"]),
    ("command", &["@connection"]),
    ("keys", &["@keyspace", "@dangerous"]),
    ("restore", &["@keyspace", "@dangerous"]),
    ("restore-asking", &["@keyspace", "@dangerous"]),
    ("migrate", &["@keyspace", "@dangerous"]),
    ("dbsize", &["@keyspace"]),
    ("flushdb", &["@keyspace", "@dangerous"]),
    ("flushall", &["@keyspace", "@dangerous"]),
    ("swapdb", &["@keyspace", "@dangerous"]),
    ("info", &["@dangerous"]),
    ("lastsave", &["@admin", "@dangerous"]),
    ("role", &["@admin", "@dangerous"]),
    ("sort", &["@set", "@sortedset", "@list", "@dangerous"]),
    ("sort_ro", &["@set", "@sortedset", "@list", "@dangerous"]),
    ("readonly", &["@connection"]),
    ("readwrite", &["@connection"]),
    ("asking", &["@connection"]),
];

/// Subcommands whose declared categories are not their group's: (container,
/// subcommand, categories). Redis 7.2 declares none for PUBSUB HELP, unlike
/// the other PUBSUB subcommands.
const DECLARED_SUB_CATEGORIES: &[(&str, &str, &[&str])] = &[("pubsub", "help", &[])];

/// ACL categories in the order Redis lists them (`ACLCommandCategories` in
/// its src/acl.c), which COMMAND INFO and ACL CAT follow.
pub(crate) const CATEGORY_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// The categories Redis declares for `c` (before those its flags imply):
/// its entry in [`DECLARED_CATEGORIES`], `@connection` for COMMAND's
/// subcommands, none for any other container (CLIENT, CONFIG, OBJECT, ...:
/// its subcommands carry their own), else its group's.
fn group_category(c: &CommandSpec) -> &'static [&'static str] {
    let top_level = lookup(c.name.as_bytes()).is_some_and(|t| std::ptr::eq(t, c));
    if top_level {
        if let Some((_, cats)) = DECLARED_CATEGORIES.iter().find(|(name, _)| *name == c.name) {
            return cats;
        }
        if !c.subcommands.is_empty() {
            return &[];
        }
    } else {
        let sub_of = |parent: &[u8]| lookup(parent).is_some_and(|p| p.subcommands.iter().any(|s| std::ptr::eq(s, c)));
        if let Some((_, _, cats)) =
            DECLARED_SUB_CATEGORIES.iter().find(|(p, n, _)| *n == c.name && sub_of(p.as_bytes()))
        {
            return cats;
        }
        if sub_of(b"command") {
            return &["@connection"];
        }
    }
    match c.group {
        Group::String => &["@string"],
        Group::Generic => &["@keyspace"],
        Group::Connection => &["@connection"],
        Group::List => &["@list"],
        Group::Hash => &["@hash"],
        Group::Set => &["@set"],
        Group::SortedSet => &["@sortedset"],
        Group::Transactions => &["@transaction"],
        Group::PubSub => &["@pubsub"],
        Group::Scripting => &["@scripting"],
        Group::Stream => &["@stream"],
        Group::Bitmap => &["@bitmap"],
        Group::HyperLogLog => &["@hyperloglog"],
        Group::Geo => &["@geo"],
        Group::Server | Group::Cluster => &[],
    }
}

/// ACL categories, as Redis 7.2 assigns them: the declared ones
/// ([`group_category`]) plus those the flags imply (`setImplicitACLCategories`:
/// write, read unless `@scripting`, admin and dangerous, pubsub, fast,
/// blocking; slow when not fast), in [`CATEGORY_ORDER`].
pub(crate) fn acl_categories(c: &CommandSpec) -> Vec<&'static str> {
    let declared = group_category(c);
    let mut cats: Vec<&'static str> = declared.to_vec();
    if c.has_flag(WRITE) {
        cats.push("@write");
    }
    if c.has_flag(READONLY) && !declared.contains(&"@scripting") {
        cats.push("@read");
    }
    if c.has_flag(ADMIN) {
        cats.extend(["@admin", "@dangerous"]);
    }
    if c.has_flag(PUBSUB) {
        cats.push("@pubsub");
    }
    if c.has_flag(BLOCKING) {
        cats.push("@blocking");
    }
    cats.push(if c.has_flag(FAST) { "@fast" } else { "@slow" });
    CATEGORY_ORDER.iter().copied().filter(|cat| cats.contains(cat)).collect()
}

/// The flags COMMAND INFO lists for `c` (`full`: its name, `container|sub`
/// for a subcommand), in Redis 7.2's order (`addReplyFlagsForCommand`): those
/// of [`flags::NAMES`] it has, plus the two Redis derives from the command's
/// key specs (Redis's own, in [`super::keyspecs::SPECS`]): "no_mandatory_keys"
/// (a call may name no key) and "movablekeys" (the first/last/step range
/// does not cover every key: keys counted by an argument, after a keyword,
/// or found from the arguments' content). A command without a Redis key spec
/// is movable when its keys follow a `numkeys` argument.
pub(crate) fn info_flags(c: &CommandSpec, full: &str) -> Vec<&'static str> {
    let spec = super::keyspecs::SPECS.iter().find(|(n, _, _)| *n == full);
    let no_mandatory_keys = spec.is_some_and(|&(_, no_mandatory, _)| no_mandatory);
    let movable = match spec {
        Some((_, _, specs)) => movable_keys(specs),
        None => c.numkeys_at > 0,
    };
    let mut names = Vec::new();
    for &(bit, name) in flags::NAMES {
        if bit == NO_ASYNC_LOADING && no_mandatory_keys {
            names.push("no_mandatory_keys");
        }
        if bit == ALLOW_BUSY && movable {
            names.push("movablekeys");
        }
        if c.flags & bit != 0 {
            names.push(name);
        }
    }
    names
}

/// Whether Redis flags a command with these key specs "movablekeys", as its
/// `populateCommandLegacyRangeSpec` decides (src/server.c, 7.2): a spec that
/// is not an index + range, or is incomplete, or a range with a step other
/// than 1 or not following on from the one before.
fn movable_keys(specs: &[super::keyspecs::KeySpec]) -> bool {
    use super::keyspecs::{BeginSearch, FindKeys, INCOMPLETE};
    let mut movable = false;
    let mut found = false;
    let mut prev_last: i64 = 0;
    for s in specs {
        let (BeginSearch::Index(pos), FindKeys::Range { last, step, .. }) = (&s.begin, &s.find) else {
            movable = true;
            continue;
        };
        if specs.len() > 1 && (*step != 1 || (prev_last != 0 && prev_last != i64::from(*pos) - 1)) {
            movable = true;
            continue;
        }
        if s.flags & INCOMPLETE != 0 {
            movable = true;
        }
        found = true;
        // Redis compares the last key as unsigned: a negative (counted from
        // the end) one is the largest.
        let last_abs = if *last >= 0 { i64::from(*last + pos) } else { i64::from(*last) };
        let key = |v: i64| v as u32;
        if prev_last == 0 || key(last_abs) > key(prev_last) {
            prev_last = last_abs;
        }
    }
    movable || (!specs.is_empty() && !found)
}

fn write_info(call: &mut Call<'_>, c: &CommandSpec, parent: Option<&str>) {
    let name = match parent {
        Some(p) => format!("{p}|{}", c.name),
        None => c.name.to_string(),
    };
    call.out.array(10);
    call.out.bulk(name.as_bytes());
    call.out.integer(i64::from(c.arity));
    let names = info_flags(c, &name);
    call.out.set(names.len());
    for n in names {
        call.out.simple(n.as_bytes());
    }
    call.out.integer(i64::from(c.first_key));
    call.out.integer(i64::from(c.last_key));
    call.out.integer(i64::from(c.step));
    let cats = acl_categories(c);
    call.out.set(cats.len());
    for cat in cats {
        call.out.simple(cat.as_bytes());
    }
    call.out.array(0);
    write_key_specs(call, c);
    call.out.array(c.subcommands.len());
    for s in c.subcommands {
        write_info(call, s, Some(c.name));
    }
}

fn write_key_specs(call: &mut Call<'_>, c: &CommandSpec) {
    if c.first_key <= 0 {
        call.out.array(0);
        return;
    }
    let out = &mut call.out;
    out.array(1);
    out.map(3);
    out.bulk(b"flags");
    let flags: &[&str] = if c.has_flag(WRITE) { &["RW", "UPDATE"] } else { &["RO", "ACCESS"] };
    out.array(flags.len());
    for f in flags {
        out.simple(f.as_bytes());
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.integer(i64::from(c.first_key));
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    out.integer(i64::from(if c.last_key < 0 { c.last_key } else { c.last_key - c.first_key }));
    out.bulk(b"keystep");
    out.integer(i64::from(c.step));
    out.bulk(b"limit");
    out.integer(0);
}

/// Commands named by arguments from index 2 on (all when none): (spec, parent).
fn named_commands(call: &Call<'_>) -> Vec<Option<(&'static CommandSpec, Option<&'static str>)>> {
    if call.argc() == 2 {
        return all().map(|c| Some((c, None))).collect();
    }
    (2..call.argc())
        .map(|i| {
            let name = call.arg(i);
            match name.iter().position(|&b| b == b'|') {
                Some(bar) => {
                    let parent = lookup(&name[..bar])?;
                    lookup_sub(parent, &name[bar + 1..]).map(|s| (s, Some(parent.name)))
                }
                None => lookup(name).map(|c| (c, None)),
            }
        })
        .collect()
}

fn info(call: &mut Call<'_>) -> CmdResult {
    let found = named_commands(call);
    call.out.array(found.len());
    for f in found {
        match f {
            Some((c, parent)) => write_info(call, c, parent),
            None => call.out.null_array(),
        }
    }
    Ok(())
}

fn docs(call: &mut Call<'_>) -> CmdResult {
    let found: Vec<_> = named_commands(call).into_iter().flatten().collect();
    call.out.map(found.len());
    for (c, parent) in found {
        let name = match parent {
            Some(p) => format!("{p}|{}", c.name),
            None => c.name.to_string(),
        };
        call.out.bulk(name.as_bytes());
        write_doc(call, c);
    }
    Ok(())
}

fn write_doc(call: &mut Call<'_>, c: &CommandSpec) {
    let args = parse_syntax(c.syntax);
    let fields = 3 + usize::from(!args.is_empty()) + usize::from(!c.subcommands.is_empty());
    call.out.map(fields);
    call.out.bulk(b"summary");
    call.out.bulk(c.summary.as_bytes());
    call.out.bulk(b"since");
    call.out.bulk(c.since.as_bytes());
    call.out.bulk(b"group");
    call.out.bulk(c.group.name().as_bytes());
    if !args.is_empty() {
        call.out.bulk(b"arguments");
        write_args(call, &args);
    }
    if !c.subcommands.is_empty() {
        call.out.bulk(b"subcommands");
        call.out.map(c.subcommands.len());
        for s in c.subcommands {
            call.out.bulk(format!("{}|{}", c.name, s.name).as_bytes());
            write_doc(call, s);
        }
    }
}

/// One documented argument, as COMMAND DOCS describes it.
#[derive(Debug, PartialEq)]
pub struct ArgDoc {
    pub name: String,
    pub kind: &'static str,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    pub children: Vec<ArgDoc>,
}

fn write_args(call: &mut Call<'_>, args: &[ArgDoc]) {
    call.out.array(args.len());
    for a in args {
        let flags: Vec<&str> = [(a.optional, "optional"), (a.multiple, "multiple")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect();
        let fields =
            2 + usize::from(a.token.is_some()) + usize::from(!flags.is_empty()) + usize::from(!a.children.is_empty());
        call.out.map(fields);
        call.out.bulk(b"name");
        call.out.bulk(a.name.as_bytes());
        call.out.bulk(b"type");
        call.out.bulk(a.kind.as_bytes());
        if let Some(t) = &a.token {
            call.out.bulk(b"token");
            call.out.bulk(t.as_bytes());
        }
        if !flags.is_empty() {
            call.out.bulk(b"flags");
            call.out.array(flags.len());
            for f in flags {
                call.out.simple(f.as_bytes());
            }
        }
        if !a.children.is_empty() {
            call.out.bulk(b"arguments");
            write_args(call, &a.children);
        }
    }
}

fn kind_of(name: &str) -> &'static str {
    match name {
        "key" | "newkey" | "source" | "destination" => "key",
        n if n.starts_with("unix-time") => "unix-time",
        "seconds" | "milliseconds" | "cursor" | "count" | "offset" | "start" | "end" | "increment" | "decrement"
        | "index" | "index1" | "index2" | "db" | "destination-db" | "client-id" | "maxage" | "protover" => "integer",
        _ => "string",
    }
}

/// Turns the documentation syntax of a command (Redis's notation: `[optional]`,
/// `a | b` alternatives, `x [x ...]` repetition, UPPER-CASE tokens) into argument
/// docs. The syntax strings are the table's own constants, not client input.
pub fn parse_syntax(syntax: &str) -> Vec<ArgDoc> {
    let tokens: Vec<String> =
        syntax.replace('[', " [ ").replace(']', " ] ").split_whitespace().map(String::from).collect();
    let mut pos = 0;
    parse_seq(&tokens, &mut pos)
}

fn parse_seq(tokens: &[String], pos: &mut usize) -> Vec<ArgDoc> {
    let mut alternatives: Vec<Vec<ArgDoc>> = vec![Vec::new()];
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        *pos += 1;
        let current = alternatives.last_mut().expect("never empty");
        match t {
            "]" => break,
            "|" => alternatives.push(Vec::new()),
            "..." => {}
            "[" => {
                let inner = parse_seq(tokens, pos);
                let repeats_previous = inner.len() == 1 && current.last().is_some_and(|p| p.name == inner[0].name);
                if repeats_previous {
                    current.last_mut().expect("checked").multiple = true;
                } else {
                    let mut a = group(inner);
                    a.optional = true;
                    current.push(a);
                }
            }
            word => current.push(word_arg(word)),
        }
    }
    if alternatives.len() == 1 {
        return alternatives.pop().expect("one");
    }
    let children = alternatives.into_iter().map(group).collect();
    vec![ArgDoc { name: "choice".into(), kind: "oneof", token: None, optional: false, multiple: false, children }]
}

fn word_arg(word: &str) -> ArgDoc {
    if word.chars().any(|c| c.is_ascii_lowercase()) {
        ArgDoc {
            name: word.to_string(),
            kind: kind_of(word),
            token: None,
            optional: false,
            multiple: false,
            children: vec![],
        }
    } else {
        ArgDoc {
            name: word.to_ascii_lowercase(),
            kind: "pure-token",
            token: Some(word.to_string()),
            optional: false,
            multiple: false,
            children: vec![],
        }
    }
}

/// A sequence as one argument: a TOKEN followed by one value becomes that value
/// with its token; anything longer becomes a block.
fn group(mut seq: Vec<ArgDoc>) -> ArgDoc {
    if seq.len() == 1 {
        return seq.pop().expect("one");
    }
    if seq.len() == 2 && seq[0].kind == "pure-token" && seq[1].token.is_none() && seq[1].children.is_empty() {
        let mut value = seq.pop().expect("two");
        value.token = seq.pop().expect("two").token;
        return value;
    }
    let name = seq.iter().find(|a| a.kind != "pure-token").map_or_else(|| "block".to_string(), |a| a.name.clone());
    ArgDoc { name, kind: "block", token: None, optional: false, multiple: false, children: seq }
}

fn getkeys(call: &mut Call<'_>) -> CmdResult {
    let args = call.args;
    let name = args.get(2);
    let Some(spec) = lookup(name) else {
        return Err(err("ERR Invalid command specified"));
    };
    let argc = args.len() - 2;
    let arity_ok =
        if spec.arity >= 0 { argc == spec.arity as usize } else { argc >= spec.arity.unsigned_abs() as usize };
    if !arity_ok {
        return Err(err("ERR Invalid number of arguments specified for command"));
    }
    let spec = if spec.subcommands.is_empty() {
        spec
    } else {
        lookup_sub(spec, args.get(3)).ok_or(err("ERR Invalid command specified"))?
    };
    let positions = spec.key_indexes(argc, |i| args.get(i + 2));
    if positions.is_empty() {
        return Err(err("ERR The command has no key arguments"));
    }
    call.out.array(positions.len());
    for p in positions {
        call.out.bulk(args.get(p + 2));
    }
    Ok(())
}

fn list(call: &mut Call<'_>) -> CmdResult {
    // Redis lists subcommands too, as "container|sub".
    let mut names: Vec<String> = Vec::new();
    for c in all() {
        names.push(c.name.to_string());
        names.extend(c.subcommands.iter().map(|s| format!("{}|{}", c.name, s.name)));
    }
    if call.argc() > 2 {
        if call.argc() != 5 || !call.arg_is(2, "FILTERBY") {
            return Err(err(SYNTAX));
        }
        let value = call.arg(4).to_vec();
        if call.arg_is(3, "PATTERN") {
            names.retain(|n| gyre_engine::glob::glob_match(&value, n.as_bytes(), true));
        } else if call.arg_is(3, "ACLCAT") {
            let cat = format!("@{}", String::from_utf8_lossy(&value).to_ascii_lowercase());
            names.retain(|n| {
                let top = n.split('|').next().unwrap_or(n);
                lookup(top.as_bytes()).is_some_and(|c| acl_categories(c).contains(&cat.as_str()))
            });
        } else if call.arg_is(3, "MODULE") {
            names.clear();
        } else {
            return Err(err(SYNTAX));
        }
    }
    call.out.array(names.len());
    for n in names {
        call.out.bulk(n.as_bytes());
    }
    Ok(())
}

// OBJECT subcommands.

fn object_entry<T>(call: &Call<'_>, f: impl FnOnce(&gyre_engine::Entry) -> T) -> Option<T> {
    let key = call.arg(2);
    let slot = SlotId::of(key);
    let mut shard = call.shared.ks.db(call.db()).lock(slot);
    // OBJECT does not count as an access (Redis looks up with LOOKUP_NOTOUCH).
    shard.get(slot, key, gyre_engine::Now { touch: false, ..call.now() }).map(|e| f(e))
}

pub fn object_encoding(call: &mut Call<'_>) -> CmdResult {
    match object_entry(call, |e| e.encoding()) {
        Some(enc) => call.out.bulk(enc.as_bytes()),
        None => call.out.null(),
    }
    Ok(())
}

fn lfu_policy(call: &Call<'_>) -> bool {
    call.shared.config.hot.lfu().is_some()
}

pub fn object_freq(call: &mut Call<'_>) -> CmdResult {
    if !lfu_policy(call) {
        return Err(err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    // Reported after decay, as Redis does, without counting as an access.
    let now_ms = call.now_ms;
    let lfu = call.shared.config.hot.lfu();
    match object_entry(call, |e| lfu.map_or(e.freq, |p| e.decayed_freq(now_ms, p))) {
        Some(freq) => call.out.integer(i64::from(freq)),
        None => call.out.null(),
    }
    Ok(())
}

pub fn object_idletime(call: &mut Call<'_>) -> CmdResult {
    if lfu_policy(call) {
        return Err(err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now_ms = call.now_ms;
    match object_entry(call, |e| e.idle_ms(now_ms) / 1000) {
        Some(idle) => call.out.integer(idle as i64),
        None => call.out.null(),
    }
    Ok(())
}

/// Redis shares the integers 0..10000 and reports INT_MAX for them.
const SHARED_INTEGERS: i64 = 10_000;

pub fn object_refcount(call: &mut Call<'_>) -> CmdResult {
    let rc = object_entry(call, |e| match e.value {
        gyre_engine::Value::Int(i) if (0..SHARED_INTEGERS).contains(&i) => i64::from(i32::MAX),
        _ => 1,
    });
    match rc {
        Some(n) => call.out.integer(n),
        None => call.out.null(),
    }
    Ok(())
}

/// MEMORY subcommands.
pub static MEMORY_SUBS: &[CommandSpec] = &[
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        first_key: 2,
        last_key: 2,
        step: 1,
        ..sub!("usage", -3, READONLY, "Estimates the memory usage of a key.", "key [SAMPLES count]", memory_usage)
    },
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        ..sub!("stats", 2, 0, "Returns details about memory usage.", "", memory_stats)
    },
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        ..sub!("doctor", 2, 0, "Outputs a memory problems report.", "", memory_doctor)
    },
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        ..sub!("purge", 2, 0, "Asks the allocator to release memory.", "", memory_purge)
    },
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        ..sub!("malloc-stats", 2, 0, "Returns the allocator statistics.", "", super::admin::memory_malloc_stats)
    },
    CommandSpec {
        group: Group::Server,
        since: "4.0.0",
        ..sub!("help", 2, LOADING | STALE, "Returns helpful text about the different subcommands.", "", memory_help)
    },
];

/// Bytes a key costs: its node (key and entry), the key's and the value's
/// heap allocations, and its share of the slot table's buckets. SAMPLES is
/// accepted for compatibility; the estimate walks Gyre's own structures, so
/// nothing is sampled.
fn memory_usage(call: &mut Call<'_>) -> CmdResult {
    match call.argc() {
        3 => {}
        5 if call.arg_is(3, "SAMPLES") => {
            call.int_arg(4)?;
        }
        _ => return Err(err(SYNTAX)),
    }
    let key = call.arg(2);
    let slot = SlotId::of(key);
    let shard = call.shared.ks.db(call.db()).lock(slot);
    match shard.peek_live(slot, key, call.now_ms).and_then(|_| shard.memory_usage(slot, key)) {
        Some(bytes) => call.out.integer(bytes as i64),
        None => call.out.null(),
    }
    Ok(())
}

/// (name, value) pairs of MEMORY STATS, Redis's field names where they apply.
fn memory_stats_fields(call: &Call<'_>) -> Vec<(String, f64)> {
    use crate::memory;
    let shared = call.shared;
    let used = memory::sample_peak();
    let rss = memory::rss_bytes();
    let a = memory::allocator_stats();
    let keys: usize = (0..shared.ks.db_count()).map(|i| shared.ks.db(i as u16).len()).sum();
    let clients = shared.clients.len();
    vec![
        ("peak.allocated".into(), memory::peak_bytes() as f64),
        ("total.allocated".into(), used as f64),
        ("startup.allocated".into(), memory::startup_bytes() as f64),
        ("lazyfree.pending.bytes".into(), crate::evict::lazy_pending_bytes(call.shared) as f64),
        ("clients.normal".into(), clients as f64),
        ("keys.count".into(), keys as f64),
        (
            "keys.bytes-per-key".into(),
            used.saturating_sub(memory::startup_bytes()).checked_div(keys).map_or(0.0, |v| v as f64),
        ),
        ("dataset.bytes".into(), used.saturating_sub(memory::startup_bytes()) as f64),
        ("allocator.allocated".into(), a.allocated as f64),
        ("allocator.active".into(), a.active as f64),
        ("allocator.resident".into(), a.resident as f64),
        ("allocator.mapped".into(), a.mapped as f64),
        ("allocator.retained".into(), a.retained as f64),
        ("allocator.small.nmalloc".into(), a.nmalloc_small as f64),
        ("allocator.large.nmalloc".into(), a.nmalloc_large as f64),
        (
            "allocator-fragmentation.ratio".into(),
            if a.allocated > 0 { a.active as f64 / a.allocated as f64 } else { 0.0 },
        ),
        ("rss-overhead.ratio".into(), if a.resident > 0 { rss as f64 / a.resident as f64 } else { 0.0 }),
        ("fragmentation".into(), if used > 0 { rss as f64 / used as f64 } else { 0.0 }),
    ]
}

/// `db.N` of MEMORY STATS for each database with keys, as Redis 7.2 nests it:
/// (N, bytes of the main hash table, of the expires table). Gyre's main
/// table is the database's slot tables; it keeps expiry times in the entries,
/// so it has no expires table and no separate slot-to-keys index (the
/// tables are per slot), both 0.
fn memory_stats_dbs(call: &Call<'_>) -> Vec<(usize, usize, usize)> {
    let ks = &call.shared.ks;
    (0..ks.db_count())
        .filter_map(|i| {
            let db = ks.db(i as u16);
            (!db.is_empty()).then(|| (i, db.table_bytes(), 0))
        })
        .collect()
}

fn memory_stats(call: &mut Call<'_>) -> CmdResult {
    let fields = memory_stats_fields(call);
    let dbs = memory_stats_dbs(call);
    call.out.map(fields.len() + dbs.len());
    for (name, v) in fields {
        call.out.bulk(name.as_bytes());
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            call.out.integer(v as i64);
        } else {
            call.out.double(v);
        }
    }
    for (i, main_bytes, expires_bytes) in dbs {
        call.out.bulk(format!("db.{i}").as_bytes());
        call.out.map(3);
        call.out.bulk(b"overhead.hashtable.main");
        call.out.integer(main_bytes as i64);
        call.out.bulk(b"overhead.hashtable.expires");
        call.out.integer(expires_bytes as i64);
        call.out.bulk(b"overhead.hashtable.slot-to-keys");
        call.out.integer(0);
    }
    Ok(())
}

/// A short human report, in the spirit of Redis's MEMORY DOCTOR.
fn memory_doctor(call: &mut Call<'_>) -> CmdResult {
    use crate::memory;
    let used = memory::allocated_bytes();
    let rss = memory::rss_bytes();
    let peak = memory::peak_bytes();
    let limit = call.shared.config.hot.maxmemory.load(std::sync::atomic::Ordering::Relaxed) as usize;
    let mut issues: Vec<String> = Vec::new();
    if used < 5 * 1024 * 1024 {
        issues.push("Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".into());
    } else {
        if peak > used * 3 / 2 {
            issues.push(format!("Peak memory: at some point in the past the instance used {} (now {}); the allocator may keep pages from then, which shows as RSS.", memory::human(peak), memory::human(used)));
        }
        if rss > used * 3 / 2 {
            issues.push(format!("High fragmentation: RSS is {:.2} times the used memory ({} vs {}). MEMORY PURGE returns unused pages to the OS.", rss as f64 / used as f64, memory::human(rss), memory::human(used)));
        }
        if limit > 0 && call.shared.config.hot.policy() == gyre_engine::Policy::NoEviction && used > limit / 10 * 9 {
            issues.push(format!(
                "Close to maxmemory ({} of {}) with maxmemory-policy noeviction: writes will get -OOM.",
                memory::human(used),
                memory::human(limit)
            ));
        }
    }
    let text = if issues.is_empty() {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
            .to_string()
    } else {
        format!(
            "Sam, I detected a few issues in this Gyre instance memory implants:\n\n * {}\n",
            issues.join("\n\n * ")
        )
    };
    call.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn memory_purge(call: &mut Call<'_>) -> CmdResult {
    if !crate::memory::purge() {
        return Err(err("ERR Error purging dirty pages"));
    }
    call.out.ok();
    Ok(())
}

fn memory_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "MEMORY", MEMORY_SUBS);
    Ok(())
}

pub fn object_help(call: &mut Call<'_>) -> CmdResult {
    let subs = lookup(b"object").map(|c| c.subcommands).unwrap_or(&[]);
    help_reply(call, "OBJECT", subs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis 7.2.6's COMMAND INFO flags and ACL categories, one command or
    /// subcommand a line (`name<TAB>flags<TAB>categories`), generated from its
    /// command JSON by scripts/redis-command-info.py.
    const REDIS_COMMAND_INFO: &str = include_str!("../../tests/data/redis-7.2.6-command-info.txt");

    /// Where Gyre's COMMAND INFO deliberately differs from Redis 7.2.6:
    /// (name, "flags" or "categories", Gyre's value), each with its reason.
    /// An entry that no longer differs fails the test too, so the list stays
    /// exact.
    const ALLOWED_DIFFERENCES: &[(&str, &str, &str)] = &[
        // Redis: admin,stale,no_async_loading. Gyre's CLUSTER FORGET commits
        // a topology change through Raft and waits for it (up to 30 s) on
        // the worker thread: NOSCRIPT and NO_MULTI keep it out of scripts
        // and transactions, which hold the execution gate meanwhile.
        ("cluster|forget", "flags", "admin,noscript,stale,no_async_loading,no_multi"),
    ];

    /// Gyre's own commands, which Redis does not have to compare against.
    const GYRE_ONLY: &[&str] =
        &["cluster|digest", "cluster|digest-buckets", "cluster|digest-keys", "cluster|leave", "cluster|consistency"];

    #[test]
    fn command_info_matches_redis() {
        let redis: std::collections::HashMap<&str, (&str, &str)> = REDIS_COMMAND_INFO
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut f = l.split('\t');
                let (name, flags, cats) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
                (name, (flags, cats))
            })
            .collect();
        let mut gyre: Vec<(String, &CommandSpec)> = Vec::new();
        for c in all() {
            gyre.push((c.name.to_string(), c));
            for s in c.subcommands {
                gyre.push((format!("{}|{}", c.name, s.name), s));
            }
        }
        let mut diffs = Vec::new();
        let mut compared = 0;
        let mut missing = Vec::new();
        for (name, c) in &gyre {
            let Some(&(want_flags, want_cats)) = redis.get(name.as_str()) else {
                missing.push(name.clone());
                continue;
            };
            compared += 1;
            let flags = info_flags(c, name).join(",");
            let cats = acl_categories(c).join(",");
            for (what, have, want) in [("flags", flags, want_flags), ("categories", cats, want_cats)] {
                let allowed = ALLOWED_DIFFERENCES.iter().any(|&(n, w, v)| n == name && w == what && v == have);
                if have != want && !allowed {
                    diffs.push(format!("{name} {what}: gyre {have:?}, redis {want:?}"));
                }
                if have == want && ALLOWED_DIFFERENCES.iter().any(|&(n, w, _)| n == name && w == what) {
                    diffs.push(format!("{name} {what}: allow-listed but now matches Redis"));
                }
            }
        }
        for &(n, w, _) in ALLOWED_DIFFERENCES {
            if !gyre.iter().any(|(name, _)| name == n) || !["flags", "categories"].contains(&w) {
                diffs.push(format!("allow-list entry {n} {w} names nothing Gyre has"));
            }
        }
        eprintln!("compared {compared} commands and subcommands; not in Redis 7.2.6: {missing:?}");
        assert!(diffs.is_empty(), "{} differences from Redis 7.2.6:\n{}", diffs.len(), diffs.join("\n"));
        // Every command Gyre has is one Redis has, except Gyre's own.
        assert_eq!(missing, GYRE_ONLY, "commands Redis 7.2.6 does not have");
    }

    #[test]
    fn syntax_of_set_becomes_redis_like_arguments() {
        let args = parse_syntax("key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]");
        assert_eq!(args.len(), 5);
        assert_eq!((args[0].name.as_str(), args[0].kind), ("key", "key"));
        assert_eq!(args[2].kind, "oneof");
        assert!(args[2].optional);
        assert_eq!(args[2].children[0].token.as_deref(), Some("NX"));
        assert_eq!(args[3].token.as_deref(), Some("GET"));
        let ex = &args[4].children[0];
        assert_eq!((ex.name.as_str(), ex.kind, ex.token.as_deref()), ("seconds", "integer", Some("EX")));
    }

    #[test]
    fn repetition_marks_the_argument_multiple() {
        let args = parse_syntax("key [key ...]");
        assert_eq!(args.len(), 1);
        assert!(args[0].multiple && !args[0].optional);
        let pairs = parse_syntax("key value [key value ...]");
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[2].kind, "block");
        assert!(pairs[2].optional);
    }

    #[test]
    fn every_table_syntax_parses() {
        for c in all().chain(all().flat_map(|c| c.subcommands)) {
            let _ = parse_syntax(c.syntax);
        }
    }
}
