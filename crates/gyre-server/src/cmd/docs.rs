//! `docs/COMMANDS.md`, generated from the command table.
//!
//! The test below fails when the committed file differs from what the table
//! says; `GYRE_UPDATE_DOCS=1 cargo test -p gyre-server --bin gyre-server
//! commands_md` rewrites it.

use std::fmt::Write;

use super::flags::NAMES;
use super::table::all;
use super::{CommandSpec, Group};

/// The groups in the order the document lists them.
const GROUPS: &[Group] = &[
    Group::String,
    Group::List,
    Group::Hash,
    Group::Set,
    Group::SortedSet,
    Group::Stream,
    Group::Bitmap,
    Group::HyperLogLog,
    Group::Geo,
    Group::Generic,
    Group::PubSub,
    Group::Transactions,
    Group::Scripting,
    Group::Connection,
    Group::Server,
    Group::Cluster,
];

fn flag_names(spec: &CommandSpec) -> String {
    let names: Vec<&str> = NAMES.iter().filter(|(bit, _)| spec.has_flag(*bit)).map(|(_, n)| *n).collect();
    names.join(", ")
}

/// Text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn row(t: &mut String, name: &str, spec: &CommandSpec) {
    let syntax = if spec.syntax.is_empty() { name.to_string() } else { format!("{name} {}", spec.syntax) };
    let keys = match (spec.first_key, spec.numkeys_at) {
        (0, 0) => String::new(),
        (0, super::KEYS_AFTER_STREAMS) => "after STREAMS".to_string(),
        (0, n) => format!("after numkeys (arg {n})"),
        (f, 0) => format!("{f}, {}, {}", spec.last_key, spec.step),
        (f, n) => format!("{f}, {}, {}; after numkeys (arg {n})", spec.last_key, spec.step),
    };
    let _ = writeln!(
        t,
        "| `{}` | {} | {} | {} | {} | {} |",
        cell(&syntax),
        spec.arity,
        flag_names(spec),
        keys,
        spec.since,
        cell(spec.summary)
    );
}

/// The whole document.
pub fn commands_markdown() -> String {
    let mut t = String::from(
        "# Gyre commands\n\n\
         Generated from the command table (`crates/gyre-server/src/cmd`) by the test\n\
         `cmd::docs::tests::commands_md_is_up_to_date`; do not edit by hand. To regenerate:\n\n\
         ```sh\nGYRE_UPDATE_DOCS=1 cargo test -p gyre-server --bin gyre-server commands_md\n```\n\n\
         Arity follows Redis: `n` is exactly n arguments including the command name, `-n` at least n.\n\
         Keys are (first, last, step) argument positions, last -1 meaning the last argument.\n\
         Flags are those `COMMAND INFO` reports. Subcommands are listed as `CONTAINER SUB`.\n",
    );
    let total: usize = all().count();
    let subs: usize = all().map(|c| c.subcommands.len()).sum();
    let _ = writeln!(t, "\n{total} commands, {subs} subcommands.");
    for group in GROUPS {
        let mut cmds: Vec<&CommandSpec> = all().filter(|c| c.group == *group).collect();
        if cmds.is_empty() {
            continue;
        }
        cmds.sort_by_key(|c| c.name);
        let _ = writeln!(t, "\n## {}\n", group.name());
        t.push_str("| Command | Arity | Flags | Keys | Since | Summary |\n|---|---|---|---|---|---|\n");
        for c in cmds {
            let name = c.name.to_ascii_uppercase();
            row(&mut t, &name, c);
            let mut subs: Vec<&CommandSpec> = c.subcommands.iter().collect();
            subs.sort_by_key(|s| s.name);
            for s in subs {
                row(&mut t, &format!("{name} {}", s.name.to_ascii_uppercase()), s);
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COMMANDS.md");
        let want = commands_markdown();
        if std::env::var("GYRE_UPDATE_DOCS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &want).expect("write docs/COMMANDS.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/COMMANDS.md is out of date with the command table; run \
             GYRE_UPDATE_DOCS=1 cargo test -p gyre-server --bin gyre-server commands_md"
        );
    }

    #[test]
    fn every_group_is_listed() {
        let listed: usize = GROUPS.iter().map(|g| all().filter(|c| c.group == *g).count()).sum();
        assert_eq!(listed, all().count(), "a command's group is missing from GROUPS");
    }
}
