//! The configuration file: reading `--config` TOML ([`parse_file`]),
//! CONFIG REWRITE ([`Config::rewrite`]), and the text generated from the
//! declaration (`gyre.example.toml`, docs/CONFIGURATION.md's table).
//!
//! Invariants: a file's values go through [`Param::normalize`] like any
//! other, and an error names the file, the line, the setting and the value.
//! A rewrite keeps the file's comments and order, and replaces the file
//! atomically (temporary file, fsync, rename, directory fsync). Limits: the
//! file is one flat table of strings, integers, booleans and arrays of them;
//! tables, floats and dates are refused, as is a setting given twice.

use std::path::{Path, PathBuf};

use super::{find, Config, Kind, Param, PARAMS};

/// Why a configuration file was refused: the file, where, and what.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("config file '{path}' is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config file '{path}', line {line}: unknown setting '{name}'")]
    Unknown { path: String, line: usize, name: String },
    #[error("config file '{path}', line {line}: invalid value '{value}' for setting '{name}': {why}")]
    Invalid { path: String, line: usize, name: String, value: String, why: String },
    #[error("config file '{path}', line {line}: setting '{name}' given twice")]
    Duplicate { path: String, line: usize, name: String },
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: Option<std::ops::Range<usize>>) -> usize {
    at.map_or(0, |r| text[..r.start.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// A TOML value as the text a setting takes: strings as they are, integers
/// in decimal, booleans as yes/no, arrays as their items joined by spaces
/// (`bind = ["127.0.0.1", "::1"]`, `client-output-buffer-limit = [...]`).
fn toml_value_text(v: &toml_edit::Value) -> Option<String> {
    use toml_edit::Value;
    match v {
        Value::String(s) => Some(s.value().clone()),
        Value::Integer(i) => Some(i.value().to_string()),
        Value::Boolean(b) => Some(if *b.value() { "yes" } else { "no" }.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(toml_value_text).collect();
            Some(parts?.join(" "))
        }
        Value::Float(_) | Value::Datetime(_) | Value::InlineTable(_) => None,
    }
}

/// Parses a configuration file: top-level `name = value` pairs, names as
/// declared (or their aliases). Every value is validated; unknown names,
/// tables and values of the wrong shape are errors naming the line.
pub fn parse_file(path: &str, text: &str) -> Result<Vec<(usize, String)>, FileError> {
    let doc = toml_edit::Document::parse(text.to_string())
        .map_err(|e| FileError::Syntax { path: path.to_string(), message: e.to_string().trim().to_string() })?;
    let mut found: Vec<(usize, String)> = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let line = line_of(text, doc.as_table().key(key).and_then(|k| k.span()));
        let Some((i, p)) = find(key) else {
            return Err(FileError::Unknown { path: path.to_string(), line, name: key.to_string() });
        };
        let invalid = |value: String, why: String| FileError::Invalid {
            path: path.to_string(),
            line,
            name: p.name.to_string(),
            value,
            why,
        };
        let Some(value) = item.as_value() else {
            return Err(invalid(
                item.to_string().trim().to_string(),
                "settings are top-level `name = value` pairs, not tables".into(),
            ));
        };
        let Some(text_value) = toml_value_text(value) else {
            return Err(invalid(
                value.to_string().trim().to_string(),
                "expected a string, an integer, a boolean or an array of them".into(),
            ));
        };
        let canonical = p.normalize(text_value.as_bytes()).map_err(|why| invalid(text_value.clone(), why))?;
        if found.iter().any(|(j, _)| *j == i) {
            return Err(FileError::Duplicate { path: path.to_string(), line, name: p.name.to_string() });
        }
        found.push((i, canonical));
    }
    Ok(found)
}

/// What a setting accepts, in words (for `gyre.example.toml` and --help).
pub fn allowed_values(p: &Param) -> String {
    match p.kind {
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::Memory { min, max } => {
            format!("bytes from {min} to {max}, or a string with a unit (\"64mb\", \"1gb\"; k = 1000, kb = 1024)")
        }
        Kind::Enum(options) => format!("one of: {}", options.join(", ")),
        Kind::Str => "a string".to_string(),
        Kind::OutputLimits => {
            "groups of \"class hard-bytes soft-bytes soft-seconds\", class normal, replica or pubsub".into()
        }
        Kind::KeyspaceEvents => "a string of event-class letters (see notify-keyspace-events in Redis)".into(),
        Kind::SavePoints => "\"seconds changes\" pairs, seconds >= 1 and changes >= 0, or \"\" for none".into(),
    }
}

/// A setting's value as TOML: integer kinds as integers, the rest as strings.
fn toml_value_of(p: &Param, canonical: &str) -> toml_edit::Value {
    match p.kind {
        Kind::Int { .. } | Kind::Memory { .. } => match canonical.parse::<i64>() {
            Ok(n) => toml_edit::Value::from(n),
            Err(_) => toml_edit::Value::from(canonical),
        },
        _ => toml_edit::Value::from(canonical),
    }
}

/// The text of `gyre.example.toml`: every setting with its description, what
/// it accepts, whether CONFIG SET can change it, and its default. A test keeps
/// the file at the repository root equal to this.
#[cfg(test)]
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Gyre configuration: every setting, with its default.\n\
         #\n\
         # Start with `gyre-server --config gyre.toml`. Each setting can also be given\n\
         # as a flag (`--maxclients 500`) or an environment variable (`GYRE_MAXCLIENTS=500`);\n\
         # precedence: flags > environment > this file > defaults. Unknown settings and\n\
         # invalid values stop start-up with a message naming them. CONFIG REWRITE writes\n\
         # the running values back to the file the server was started with, keeping comments.\n\
         #\n\
         # This file is generated from the settings declaration (crates/gyre-server/src/config/params.rs);\n\
         # a test fails when they differ. Regenerate: GYRE_BLESS=1 cargo test -p gyre-server example_toml\n",
    );
    for p in PARAMS {
        out.push('\n');
        out.push_str(&format!("# {}.\n", p.help.trim_end_matches('.')));
        let changeable = if p.mutable { "can be changed at run time (CONFIG SET)" } else { "fixed at start-up" };
        out.push_str(&format!("# Accepts {}; {changeable}.\n", allowed_values(p)));
        out.push_str(&format!("{} = {}\n", p.name, toml_value_of(p, p.default).to_string().trim()));
    }
    out
}

/// The settings reference of `docs/CONFIGURATION.md` (between its
/// `settings:begin` / `settings:end` markers): one table row per setting. A
/// test keeps the document equal to this.
#[cfg(test)]
pub fn settings_markdown() -> String {
    let mut out = String::from("| setting | accepts | default | CONFIG SET | description |\n|---|---|---|---|---|\n");
    for p in PARAMS {
        let default = if p.default.is_empty() { "(empty)".to_string() } else { format!("`{}`", p.default) };
        out.push_str(&format!(
            "| `{}` | {} | {default} | {} | {} |\n",
            p.name,
            allowed_values(p).replace('|', "\\|"),
            if p.mutable { "yes" } else { "no" },
            p.help.replace('|', "\\|"),
        ));
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file beside it (with the
/// original's permissions), fsynced, renamed over it, then the directory fsynced.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("config path has no file name"))?;
    let tmp = dir.join(format!(".{}.rewrite-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Config {
    /// CONFIG REWRITE: writes the running values to the start-up file. Keys
    /// already in the file are updated in place (keeping comments and order);
    /// settings not in it are appended when they differ from their default.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or("The server is running without a config file")?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Rewriting config file: {e}")),
        };
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| format!("Rewriting config file: {}", e.to_string().trim()))?;
        let values = self.values.read().clone();
        let present: Vec<(String, usize)> =
            doc.as_table().iter().filter_map(|(k, _)| find(k).map(|(i, _)| (k.to_string(), i))).collect();
        for (key, i) in &present {
            let decor = doc[key.as_str()].as_value().map(|v| v.decor().clone());
            let mut v = toml_value_of(&PARAMS[*i], &values[*i]);
            if let Some(d) = decor {
                *v.decor_mut() = d;
            }
            doc[key.as_str()] = toml_edit::Item::Value(v);
        }
        for (i, p) in PARAMS.iter().enumerate() {
            if values[i] != p.default && !present.iter().any(|(_, j)| *j == i) {
                doc[p.name] = toml_edit::Item::Value(toml_value_of(p, &values[i]));
            }
        }
        write_atomically(path, &doc.to_string()).map_err(|e| format!("Rewriting config file: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings table of docs/CONFIGURATION.md is generated from the
    /// declaration; GYRE_BLESS=1 rewrites it.
    #[test]
    fn configuration_md_lists_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md");
        let have = std::fs::read_to_string(&path).expect("docs/CONFIGURATION.md");
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let start = have.find(begin).expect("settings:begin marker") + begin.len();
        let stop = have.find(end).expect("settings:end marker");
        let want = settings_markdown();
        if std::env::var("GYRE_BLESS").is_ok() {
            let text = format!("{}{want}{}", &have[..start], &have[stop..]);
            std::fs::write(&path, text).expect("write docs/CONFIGURATION.md");
            return;
        }
        assert!(
            have[start..stop] == want,
            "docs/CONFIGURATION.md's settings table is out of date: run GYRE_BLESS=1 cargo test -p gyre-server configuration_md"
        );
    }

    /// `gyre.example.toml` is generated from the declaration and cannot drift
    /// from it; GYRE_BLESS=1 rewrites it.
    #[test]
    fn example_toml_matches_the_declaration() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gyre.example.toml");
        let want = example_toml();
        if std::env::var("GYRE_BLESS").is_ok() {
            std::fs::write(&path, &want).expect("write gyre.example.toml");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "gyre.example.toml is out of date: run GYRE_BLESS=1 cargo test -p gyre-server example_toml"
        );
        let parsed = parse_file("gyre.example.toml", &have).expect("the example parses");
        assert_eq!(parsed.len(), PARAMS.len(), "the example sets every setting");
        for (i, v) in parsed {
            assert_eq!(v, PARAMS[i].default, "{}", PARAMS[i].name);
        }
    }

    #[test]
    fn file_values_of_every_shape() {
        let text = "port = 7000\nappendonly = false\nmaxmemory = \"2mb\"\nbind = [\"127.0.0.1\", \"::1\"]\n# c\nhash-max-ziplist-entries = 9\n";
        let got = parse_file("t.toml", text).unwrap();
        let by_name = |n: &str| got.iter().find(|(i, _)| PARAMS[*i].name == n).map(|(_, v)| v.as_str());
        assert_eq!(by_name("port"), Some("7000"));
        assert_eq!(by_name("appendonly"), Some("no"));
        assert_eq!(by_name("maxmemory"), Some("2097152"));
        assert_eq!(by_name("bind"), Some("127.0.0.1 ::1"));
        assert_eq!(by_name("hash-max-listpack-entries"), Some("9"));
    }

    #[test]
    fn file_errors_name_the_line_setting_and_value() {
        let e = parse_file("g.toml", "port = 1\n\nnosuch = 3\n").unwrap_err().to_string();
        assert_eq!(e, "config file 'g.toml', line 3: unknown setting 'nosuch'");
        let e = parse_file("g.toml", "hz = 9000\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "config file 'g.toml', line 1: invalid value '9000' for setting 'hz': argument must be between 1 and 500 inclusive"
        );
        let e = parse_file("g.toml", "appendfsync = \"sometimes\"").unwrap_err().to_string();
        assert!(e.contains("'appendfsync'") && e.contains("'sometimes'") && e.contains("always, everysec, no"), "{e}");
        assert!(parse_file("g.toml", "[server]\nport = 1\n")
            .unwrap_err()
            .to_string()
            .contains("unknown setting 'server'"));
        assert!(parse_file("g.toml", "hz = 1.5").unwrap_err().to_string().contains("expected a string"));
        assert!(parse_file("g.toml", "hz = ").unwrap_err().to_string().contains("not valid TOML"));
        let dup = parse_file("g.toml", "hash-max-ziplist-entries = 1\nhash-max-listpack-entries = 2").unwrap_err();
        assert!(dup.to_string().contains("given twice"), "{dup}");
    }

    #[test]
    fn rewrite_keeps_comments_and_appends_changes() {
        let dir = std::env::temp_dir().join(format!("gyre-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.toml");
        std::fs::write(&path, "# my port\nport = 7000 # trailing\nhz = 20\n").unwrap();
        let overrides = parse_file("g.toml", &std::fs::read_to_string(&path).unwrap()).unwrap();
        let c = Config::new(overrides).with_file(Some(path.clone()));
        c.set_many(&[(b"hz", b"30"), (b"maxclients", b"77")]).unwrap();
        c.rewrite().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# my port\nport = 7000 # trailing\nhz = 30\nmaxclients = 77\n");
        let again = Config::new(parse_file("g.toml", &text).unwrap());
        assert_eq!(again.get("maxclients").unwrap(), "77");
        assert!(Config::new(vec![]).rewrite().unwrap_err().contains("without a config file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
