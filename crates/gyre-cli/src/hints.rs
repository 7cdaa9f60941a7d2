//! Interactive help from the server's own command table: argument hints
//! shown after the typed command (as redis-cli's hints) and tab completion of
//! command and subcommand names.
//!
//! Both come from `COMMAND DOCS`, fetched once when the prompt starts; a
//! server without it falls back to the names from `COMMAND LIST` (completion
//! only), and a server with neither gets neither. Nothing is hard-coded.
//!
//! A hint is the command's argument syntax rendered from its docs in Redis's
//! notation (`key value [NX|XX] [GET] [EX seconds|PX milliseconds|...]`).
//! Each typed argument (the one being typed included, as in redis-cli) drops
//! one leading required argument from it.
//!
//! Limits: argument docs nest at most [`ARG_DEPTH_MAX`] levels; deeper parts
//! render as `...` (the reply is the server's, so the walk is bounded).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use gyre_resp::Frame;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::session::Session;

/// Deepest argument nesting rendered.
pub const ARG_DEPTH_MAX: usize = 8;

/// One command's rendered arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CommandHint {
    /// Top-level arguments, each rendered, with whether it is required.
    args: Vec<(String, bool)>,
}

/// Everything the prompt knows about the server's commands.
#[derive(Debug, Default)]
pub struct CommandHelp {
    /// Upper-case command name (`SET`, `CONFIG GET`) to its hint.
    hints: BTreeMap<String, CommandHint>,
    /// Upper-case command names.
    names: BTreeSet<String>,
    /// Upper-case container name to its upper-case subcommand names.
    subcommands: BTreeMap<String, BTreeSet<String>>,
}

impl CommandHelp {
    /// Asks the server; empty when it answers neither `COMMAND DOCS` nor
    /// `COMMAND LIST`.
    pub fn fetch(session: &mut Session) -> CommandHelp {
        if let Ok(docs @ (Frame::Array(_) | Frame::Map(_))) = session.call(&[b"COMMAND".to_vec(), b"DOCS".to_vec()]) {
            return CommandHelp::from_docs(&docs);
        }
        let mut help = CommandHelp::default();
        if let Ok(Frame::Array(names) | Frame::Set(names)) = session.call(&[b"COMMAND".to_vec(), b"LIST".to_vec()]) {
            for name in names.iter().filter_map(text) {
                help.add_name(&name);
            }
        }
        help
    }

    /// Builds the help from a `COMMAND DOCS` reply (RESP2 or RESP3).
    pub fn from_docs(docs: &Frame) -> CommandHelp {
        let mut help = CommandHelp::default();
        for (name, doc) in pairs(docs) {
            let Some(name) = text(name) else { continue };
            help.add_doc(&name, doc);
            for (sub_name, sub_doc) in field(doc, "subcommands").map(pairs).unwrap_or_default() {
                if let Some(sub_name) = text(sub_name) {
                    help.add_doc(&sub_name, sub_doc);
                }
            }
        }
        help
    }

    /// Records `name` (`set` or `config|get`) and its hint.
    fn add_doc(&mut self, name: &str, doc: &Frame) {
        let key = self.add_name(name);
        let args = field(doc, "arguments").map(items).unwrap_or_default();
        let args = args.iter().map(|a| (render_arg(a, 0), !is_optional(a))).collect();
        self.hints.insert(key, CommandHint { args });
    }

    /// Records a command name; returns its lookup key (`CONFIG GET`).
    fn add_name(&mut self, name: &str) -> String {
        let upper = name.to_ascii_uppercase();
        match upper.split_once('|') {
            Some((container, sub)) => {
                self.subcommands.entry(container.to_string()).or_default().insert(sub.to_string());
                format!("{container} {sub}")
            }
            None => {
                self.names.insert(upper.clone());
                upper
            }
        }
    }

    /// The hint for `line` with the cursor at its end, if any.
    pub fn hint_for(&self, line: &str) -> Option<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let first = words.first()?.to_ascii_uppercase();
        // Every typed word counts, the one being typed too (as redis-cli).
        let (hint, typed_args) = match words.get(1).map(|w| format!("{first} {}", w.to_ascii_uppercase())) {
            Some(two) if self.hints.contains_key(&two) => (&self.hints[&two], words.len() - 2),
            _ => (self.hints.get(&first)?, words.len() - 1),
        };
        let required = hint.args.iter().take_while(|(_, required)| *required).count();
        let rest: Vec<&str> = hint.args.iter().skip(typed_args.min(required)).map(|(text, _)| text.as_str()).collect();
        if rest.is_empty() || (typed_args > required && required == hint.args.len()) {
            return None;
        }
        let sep = if line.ends_with(char::is_whitespace) { "" } else { " " };
        Some(format!("{sep}{}", rest.join(" ")))
    }

    /// Completion candidates for the word that ends at the end of `line`,
    /// and where that word starts.
    pub fn complete(&self, line: &str) -> (usize, Vec<String>) {
        let start = line.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let prefix = &line[start..];
        let before: Vec<&str> = line[..start].split_whitespace().collect();
        let pool = match before.as_slice() {
            [] => Some(&self.names),
            [container] => self.subcommands.get(&container.to_ascii_uppercase()),
            _ => None,
        };
        let Some(pool) = pool else { return (start, Vec::new()) };
        let upper = prefix.to_ascii_uppercase();
        // Answer in the case the user is typing in.
        let lower = prefix.chars().any(|c| c.is_ascii_lowercase());
        let found = pool
            .iter()
            .filter(|name| name.starts_with(&upper))
            .map(|name| if lower { name.to_ascii_lowercase() } else { name.clone() })
            .collect();
        (start, found)
    }
}

/// Key/value pairs of a RESP3 map or a RESP2 flat array.
fn pairs(frame: &Frame) -> Vec<(&Frame, &Frame)> {
    match frame {
        Frame::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        Frame::Array(items) => items.chunks_exact(2).map(|kv| (&kv[0], &kv[1])).collect(),
        _ => Vec::new(),
    }
}

fn items(frame: &Frame) -> Vec<&Frame> {
    match frame {
        Frame::Array(items) | Frame::Set(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(frame: &'a Frame, name: &str) -> Option<&'a Frame> {
    pairs(frame).into_iter().find(|(k, _)| text(k).as_deref() == Some(name)).map(|(_, v)| v)
}

fn text(frame: &Frame) -> Option<String> {
    match frame {
        Frame::Bulk(b) | Frame::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn has_flag(arg: &Frame, flag: &str) -> bool {
    field(arg, "flags").map(items).unwrap_or_default().iter().any(|f| text(f).as_deref() == Some(flag))
}

fn is_optional(arg: &Frame) -> bool {
    has_flag(arg, "optional")
}

/// One argument in Redis's notation.
fn render_arg(arg: &Frame, depth: usize) -> String {
    if depth >= ARG_DEPTH_MAX {
        return "...".into();
    }
    let kind = field(arg, "type").and_then(text).unwrap_or_default();
    let name = field(arg, "name").and_then(text).unwrap_or_default();
    let token = field(arg, "token").and_then(text);
    let children = || field(arg, "arguments").map(items).unwrap_or_default();
    let body = match kind.as_str() {
        "pure-token" => token.clone().unwrap_or_else(|| name.to_ascii_uppercase()),
        "oneof" => children().iter().map(|c| render_arg(c, depth + 1)).collect::<Vec<_>>().join("|"),
        "block" => children().iter().map(|c| render_arg(c, depth + 1)).collect::<Vec<_>>().join(" "),
        _ => name,
    };
    let mut out = match (&token, kind.as_str()) {
        (Some(t), k) if k != "pure-token" => format!("{t} {body}"),
        _ => body,
    };
    if has_flag(arg, "multiple") {
        out = format!("{out} [{out} ...]");
    }
    if is_optional(arg) {
        out = format!("[{out}]");
    }
    out
}

/// The rustyline helper: hints and completion from [`CommandHelp`].
pub struct PromptHelper {
    help: CommandHelp,
}

impl PromptHelper {
    /// A helper answering from `help`.
    pub fn new(help: CommandHelp) -> PromptHelper {
        PromptHelper { help }
    }
}

impl Completer for PromptHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.help.complete(&line[..pos]))
    }
}

impl Hinter for PromptHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        // Only with the cursor at the end, as redis-cli.
        (pos == line.len()).then(|| self.help.hint_for(line)).flatten()
    }
}

impl Highlighter for PromptHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Dark grey, like redis-cli's hints.
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for PromptHelper {}

impl Helper for PromptHelper {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// An argument doc as a RESP2 flat array.
    fn arg(name: &str, kind: &str, token: Option<&str>, flags: &[&str], children: Vec<Frame>) -> Frame {
        let mut kv = vec![bulk("name"), bulk(name), bulk("type"), bulk(kind)];
        if let Some(t) = token {
            kv.extend([bulk("token"), bulk(t)]);
        }
        if !flags.is_empty() {
            kv.extend([
                bulk("flags"),
                Frame::Array(flags.iter().map(|f| Frame::Simple(Bytes::copy_from_slice(f.as_bytes()))).collect()),
            ]);
        }
        if !children.is_empty() {
            kv.extend([bulk("arguments"), Frame::Array(children)]);
        }
        Frame::Array(kv)
    }

    fn docs() -> Frame {
        let set_args = vec![
            arg("key", "key", None, &[], vec![]),
            arg("value", "string", None, &[], vec![]),
            arg(
                "condition",
                "oneof",
                None,
                &["optional"],
                vec![
                    arg("nx", "pure-token", Some("NX"), &[], vec![]),
                    arg("xx", "pure-token", Some("XX"), &[], vec![]),
                ],
            ),
            arg("get", "pure-token", Some("GET"), &["optional"], vec![]),
            arg(
                "expiration",
                "oneof",
                None,
                &["optional"],
                vec![
                    arg("seconds", "integer", Some("EX"), &[], vec![]),
                    arg("keepttl", "pure-token", Some("KEEPTTL"), &[], vec![]),
                ],
            ),
        ];
        let set = Frame::Array(vec![bulk("summary"), bulk("Sets a key"), bulk("arguments"), Frame::Array(set_args)]);
        let del =
            Frame::Array(vec![bulk("arguments"), Frame::Array(vec![arg("key", "key", None, &["multiple"], vec![])])]);
        let config_get = Frame::Array(vec![
            bulk("arguments"),
            Frame::Array(vec![arg("parameter", "string", None, &["multiple"], vec![])]),
        ]);
        let config = Frame::Array(vec![
            bulk("summary"),
            bulk("container"),
            bulk("subcommands"),
            Frame::Array(vec![bulk("config|get"), config_get, bulk("config|set"), Frame::Array(vec![])]),
        ]);
        Frame::Array(vec![
            bulk("set"),
            set,
            bulk("del"),
            del,
            bulk("config"),
            config,
            bulk("ping"),
            Frame::Array(vec![]),
        ])
    }

    #[test]
    fn hints_render_redis_notation() {
        let help = CommandHelp::from_docs(&docs());
        assert_eq!(help.hint_for("set").as_deref(), Some(" key value [NX|XX] [GET] [EX seconds|KEEPTTL]"));
        assert_eq!(help.hint_for("SET ").as_deref(), Some("key value [NX|XX] [GET] [EX seconds|KEEPTTL]"));
        assert_eq!(help.hint_for("set k").as_deref(), Some(" value [NX|XX] [GET] [EX seconds|KEEPTTL]"));
        assert_eq!(help.hint_for("set k ").as_deref(), Some("value [NX|XX] [GET] [EX seconds|KEEPTTL]"));
        assert_eq!(help.hint_for("set k v").as_deref(), Some(" [NX|XX] [GET] [EX seconds|KEEPTTL]"));
        assert_eq!(help.hint_for("del").as_deref(), Some(" key [key ...]"));
        assert_eq!(help.hint_for("config get ").as_deref(), Some("parameter [parameter ...]"));
        assert_eq!(help.hint_for("ping"), None);
        assert_eq!(help.hint_for("nosuch "), None);
        assert_eq!(help.hint_for(""), None);
    }

    #[test]
    fn completes_names_in_the_typed_case() {
        let help = CommandHelp::from_docs(&docs());
        assert_eq!(help.complete("s"), (0, vec!["set".to_string()]));
        assert_eq!(help.complete("CO"), (0, vec!["CONFIG".to_string()]));
        // Nothing typed yet: upper case.
        assert_eq!(help.complete("config "), (7, vec!["GET".to_string(), "SET".to_string()]));
        assert_eq!(help.complete("config g"), (7, vec!["get".to_string()]));
        assert_eq!(help.complete("CONFIG G"), (7, vec!["GET".to_string()]));
        assert_eq!(help.complete("set k"), (4, vec![]));
    }

    #[test]
    fn resp3_maps_work_too() {
        let Frame::Array(flat) = docs() else { unreachable!() };
        let map = Frame::Map(flat.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect());
        let help = CommandHelp::from_docs(&map);
        assert_eq!(help.hint_for("del ").as_deref(), Some("key [key ...]"));
    }

    #[test]
    fn deep_argument_nesting_is_cut() {
        let mut a = arg("leaf", "string", None, &[], vec![]);
        for _ in 0..20 {
            a = arg("b", "block", None, &[], vec![a]);
        }
        assert!(render_arg(&a, 0).contains("..."));
    }
}
