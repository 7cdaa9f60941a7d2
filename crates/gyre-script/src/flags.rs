//! Script flags and the `#!` first lines that declare them.
//!
//! EVAL bodies may start with `#!lua flags=no-writes,allow-oom`; function
//! libraries must start with `#!lua name=mylib`. Both lines are split the
//! way Redis's `sdssplitargs` splits them (blanks, `"…"` and `'…'` quoting),
//! and every error message is Redis 7.2's, without the `ERR ` prefix.

use std::fmt;

/// Flags a script or function declares (Redis's `scripts_flags_def`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScriptFlags(u8);

impl ScriptFlags {
    /// `no-writes`: the script only reads (EVAL_RO / FCALL_RO may run it).
    pub const NO_WRITES: ScriptFlags = ScriptFlags(1 << 0);
    /// `allow-oom`: may run when the server is over `maxmemory`.
    pub const ALLOW_OOM: ScriptFlags = ScriptFlags(1 << 1);
    /// `allow-stale`: may run on a replica with a stale dataset.
    pub const ALLOW_STALE: ScriptFlags = ScriptFlags(1 << 2);
    /// `no-cluster`: refuses to run in cluster mode.
    pub const NO_CLUSTER: ScriptFlags = ScriptFlags(1 << 3);
    /// `allow-cross-slot-keys`: may touch keys of several slots.
    pub const ALLOW_CROSS_SLOT_KEYS: ScriptFlags = ScriptFlags(1 << 4);
    /// An EVAL body without a shebang: Redis's backwards-compatible mode,
    /// where flags are not enforced before the run (write commands inside
    /// an EVAL_RO are refused one by one instead).
    pub const EVAL_COMPAT_MODE: ScriptFlags = ScriptFlags(1 << 5);

    /// The declarable flags with their names, in Redis's order (the order
    /// FUNCTION LIST reports them in).
    const NAMED: [(ScriptFlags, &'static str); 5] = [
        (ScriptFlags::NO_WRITES, "no-writes"),
        (ScriptFlags::ALLOW_OOM, "allow-oom"),
        (ScriptFlags::ALLOW_STALE, "allow-stale"),
        (ScriptFlags::NO_CLUSTER, "no-cluster"),
        (ScriptFlags::ALLOW_CROSS_SLOT_KEYS, "allow-cross-slot-keys"),
    ];

    /// No flags.
    pub const fn empty() -> ScriptFlags {
        ScriptFlags(0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: ScriptFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    pub const fn union(self, other: ScriptFlags) -> ScriptFlags {
        ScriptFlags(self.0 | other.0)
    }

    /// Names of the declarable flags that are set, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ScriptFlags::NAMED.into_iter().filter(move |(flag, _)| self.contains(*flag)).map(|(_, name)| name)
    }

    /// The flag spelled exactly `name` (shebang flags are case-sensitive).
    pub(crate) fn from_name(name: &[u8]) -> Option<ScriptFlags> {
        ScriptFlags::NAMED.into_iter().find(|(_, known)| known.as_bytes() == name).map(|(flag, _)| flag)
    }

    /// The flag named `name` ignoring case (`redis.register_function` flags).
    pub(crate) fn from_name_caseless(name: &[u8]) -> Option<ScriptFlags> {
        ScriptFlags::NAMED
            .into_iter()
            .find(|(_, known)| known.as_bytes().eq_ignore_ascii_case(name))
            .map(|(flag, _)| flag)
    }
}

impl fmt::Debug for ScriptFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        list.entries(self.names());
        if self.contains(ScriptFlags::EVAL_COMPAT_MODE) {
            list.entry(&"eval-compat-mode");
        }
        list.finish()
    }
}

/// What an EVAL body's first line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shebang {
    pub(crate) flags: ScriptFlags,
    /// Bytes of the shebang line, excluding its line feed: the body Lua
    /// compiles starts there, so line numbers stay the user's.
    pub(crate) len: usize,
}

/// Parses the optional `#!lua …` line of an EVAL body
/// (`evalExtractShebangFlags`). Without one the script is in compat mode.
pub(crate) fn parse_eval_shebang(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang { flags: ScriptFlags::EVAL_COMPAT_MODE, len: 0 });
    }
    let Some(len) = c_line_end(body) else {
        return Err("Invalid script shebang".to_string());
    };
    let parts = match split_args(&body[..len]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid engine in script shebang".to_string()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!("Unexpected engine in script shebang: {}", lossy(&parts[0])));
    }
    let mut flags = ScriptFlags::empty();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!("Unknown lua shebang option: {}", lossy(part)));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match ScriptFlags::from_name(name) {
                Some(flag) => flags = flags.union(flag),
                None => return Err(format!("Unexpected flag in script shebang: {}", lossy(name))),
            }
        }
    }
    Ok(Shebang { flags, len })
}

/// What a library's `#!<engine> name=<name>` first line declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LibraryMeta {
    pub(crate) engine: Vec<u8>,
    pub(crate) name: Vec<u8>,
    /// Where the code the engine compiles starts (at the shebang's line
    /// feed, so line numbers stay the user's).
    pub(crate) code_start: usize,
}

/// Parses a library's metadata line (`functionExtractLibMetaData`).
pub(crate) fn parse_library_meta(code: &[u8]) -> Result<LibraryMeta, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".to_string());
    }
    let Some(len) = c_line_end(code) else {
        return Err("Invalid library metadata".to_string());
    };
    let parts = match split_args(&code[..len]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid library metadata".to_string()),
    };
    let engine = parts[0][2..].to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".to_string());
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", lossy(part)));
    }
    let Some(name) = name else {
        return Err("Library name was not given".to_string());
    };
    Ok(LibraryMeta { engine, name, code_start: len })
}

/// Whether `name` is a valid library or function name: `[a-zA-Z0-9_]+`.
pub(crate) fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Offset of the first line feed, as C's `strchr(s, '\n')` finds it: None
/// if a NUL byte (where C strings end) or the end comes first.
fn c_line_end(text: &[u8]) -> Option<usize> {
    let end = text.iter().position(|&b| b == b'\n' || b == 0)?;
    (text[end] == b'\n').then_some(end)
}

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Redis's `sdssplitargs`: blank-separated words, with `"…"` (C escapes,
/// `\xHH`) and `'…'` quoting. None on unbalanced quotes or a closing quote
/// not followed by a blank.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut words = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(words);
        }
        let mut word = Vec::new();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' && at(p + 2).is_ascii_hexdigit() && at(p + 3).is_ascii_hexdigit() {
                    let hex = std::str::from_utf8(&line[p + 2..p + 4]).ok()?;
                    word.push(u8::from_str_radix(hex, 16).ok()?);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    word.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    word.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    word.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    word.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => word.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_shebang_flags() {
        let sb = parse_eval_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert_eq!(sb.len, 31);
        assert!(sb.flags.contains(ScriptFlags::NO_WRITES));
        assert!(sb.flags.contains(ScriptFlags::ALLOW_OOM));
        assert!(!sb.flags.contains(ScriptFlags::EVAL_COMPAT_MODE));
        let none = parse_eval_shebang(b"return 1").unwrap();
        assert_eq!(none.flags, ScriptFlags::EVAL_COMPAT_MODE);
        assert_eq!(parse_eval_shebang(b"#!lua\nreturn 1").unwrap().flags, ScriptFlags::empty());
        assert_eq!(parse_eval_shebang(b"#!lua flags=\nx").unwrap().flags, ScriptFlags::empty());
    }

    #[test]
    fn eval_shebang_errors() {
        assert_eq!(parse_eval_shebang(b"#!lua").unwrap_err(), "Invalid script shebang");
        assert_eq!(parse_eval_shebang(b"#!lua\0\n").unwrap_err(), "Invalid script shebang");
        assert_eq!(parse_eval_shebang(b"#!python\n").unwrap_err(), "Unexpected engine in script shebang: #!python");
        assert_eq!(parse_eval_shebang(b"#!lua flags=bad\n").unwrap_err(), "Unexpected flag in script shebang: bad");
        assert_eq!(parse_eval_shebang(b"#!lua flags=no-writes,\n").unwrap_err(), "Unexpected flag in script shebang: ");
        assert_eq!(parse_eval_shebang(b"#!lua name=x\n").unwrap_err(), "Unknown lua shebang option: name=x");
        assert_eq!(parse_eval_shebang(b"#!lua \"x\n").unwrap_err(), "Invalid engine in script shebang");
        assert_eq!(
            parse_eval_shebang(b"#!lua flags=NO-WRITES\n").unwrap_err(),
            "Unexpected flag in script shebang: NO-WRITES"
        );
    }

    #[test]
    fn library_meta() {
        let meta = parse_library_meta(b"#!lua name=mylib\nreturn").unwrap();
        assert_eq!(meta.engine, b"lua");
        assert_eq!(meta.name, b"mylib");
        assert_eq!(meta.code_start, 16);
        assert_eq!(parse_library_meta(b"#!LUA NAME=x\n").unwrap().name, b"x");
        assert_eq!(parse_library_meta(b"return 1").unwrap_err(), "Missing library metadata");
        assert_eq!(parse_library_meta(b"#!lua name=x").unwrap_err(), "Invalid library metadata");
        assert_eq!(parse_library_meta(b"#!lua\n").unwrap_err(), "Library name was not given");
        assert_eq!(
            parse_library_meta(b"#!lua name=a name=b\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(parse_library_meta(b"#!lua foo=bar\n").unwrap_err(), "Invalid metadata value given: foo=bar");
    }

    #[test]
    fn split_args_quoting() {
        assert_eq!(split_args(b"  a  \"b c\" 'd e'").unwrap(), vec![b"a".to_vec(), b"b c".to_vec(), b"d e".to_vec()]);
        assert_eq!(split_args(b"\"\\x41\\n\"").unwrap(), vec![b"A\n".to_vec()]);
        assert!(split_args(b"\"a\"b").is_none());
        assert!(split_args(b"'unterminated").is_none());
        assert!(split_args(b"").unwrap().is_empty());
    }

    #[test]
    fn names_and_validation() {
        let flags = ScriptFlags::ALLOW_STALE.union(ScriptFlags::NO_WRITES);
        assert_eq!(flags.names().collect::<Vec<_>>(), vec!["no-writes", "allow-stale"]);
        assert_eq!(ScriptFlags::from_name_caseless(b"No-Writes"), Some(ScriptFlags::NO_WRITES));
        assert_eq!(ScriptFlags::from_name(b"No-Writes"), None);
        assert!(is_valid_name(b"my_lib9"));
        assert!(!is_valid_name(b"my-lib"));
        assert!(!is_valid_name(b""));
    }
}
