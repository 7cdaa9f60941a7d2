//! [`split_args`]: turns one typed or piped line into command arguments,
//! with redis-cli's quoting rules (its `sdssplitargs`), byte for byte.
//!
//! Rules:
//! * Arguments are separated by whitespace; leading whitespace is skipped.
//! * `"double quotes"` understand `\n \r \t \b \a`, `\xHH` (two hex digits)
//!   and `\<any>` meaning that byte; `'single quotes'` only understand `\'`.
//! * A quote may start mid-argument (`a"b c"` is `ab c`), but a closing quote
//!   must be followed by whitespace or the end of the line, and every quote
//!   must be closed; otherwise the whole line is rejected.
//! * A NUL byte ends the line, as it ends the C string redis-cli splits.
//!
//! Limits: none of its own; the caller bounds the line length. Output is at
//! most as long as the input.

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// An unterminated quote, or a closing quote followed by something other
    /// than whitespace.
    #[error("Invalid argument(s)")]
    UnbalancedQuotes,
}

/// Bytes C's `isspace` accepts in the "C" locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|v| v as u8)
}

/// Splits `line` into arguments; see the module docs for the rules.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    // Everything after a NUL is invisible to redis-cli, which splits a C string.
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&b| is_space(b)) {
            pos += 1;
        }
        if pos >= line.len() {
            return Ok(args);
        }
        let (arg, next) = split_one(line, pos)?;
        args.push(arg);
        pos = next;
    }
}

/// Quoting state inside one argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Reads one argument starting at `pos` (not whitespace); returns it and the
/// position just after its terminator.
fn split_one(line: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), SplitError> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    loop {
        let byte = line.get(pos).copied();
        let next = line.get(pos + 1).copied();
        match (quote, byte) {
            (Quote::Double | Quote::Single, None) => return Err(SplitError::UnbalancedQuotes),
            (Quote::None, None) => return Ok((arg, pos)),
            (Quote::None, Some(b' ' | b'\n' | b'\r' | b'\t')) => return Ok((arg, pos + 1)),
            (Quote::None, Some(b'"')) => quote = Quote::Double,
            (Quote::None, Some(b'\'')) => quote = Quote::Single,
            (Quote::None, Some(b)) => arg.push(b),
            (Quote::Double, Some(b'\\')) if next == Some(b'x') => {
                let hex =
                    (line.get(pos + 2).and_then(|&b| hex_value(b)), line.get(pos + 3).and_then(|&b| hex_value(b)));
                if let (Some(high), Some(low)) = hex {
                    arg.push(high * 16 + low);
                    pos += 3;
                } else {
                    // Not a valid \xHH: like any other escape, `\x` means `x`.
                    arg.push(b'x');
                    pos += 1;
                }
            }
            (Quote::Double, Some(b'\\')) if next.is_some() => {
                arg.push(unescape(next.unwrap_or_default()));
                pos += 1;
            }
            (Quote::Single, Some(b'\\')) if next == Some(b'\'') => {
                arg.push(b'\'');
                pos += 1;
            }
            (Quote::Double, Some(b'"')) | (Quote::Single, Some(b'\'')) => {
                return match next {
                    None => Ok((arg, pos + 1)),
                    Some(b) if is_space(b) => Ok((arg, pos + 2)),
                    Some(_) => Err(SplitError::UnbalancedQuotes),
                };
            }
            (_, Some(b)) => arg.push(b),
        }
        pos += 1;
    }
}

fn unescape(byte: u8) -> u8 {
    match byte {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => b'\x08',
        b'a' => b'\x07',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<Vec<u8>> {
        split_args(line.as_bytes()).expect("line splits")
    }

    fn strs(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(split("set  foo bar"), strs(&["set", "foo", "bar"]));
        assert_eq!(split("  \t get k \r\n"), strs(&["get", "k"]));
        assert_eq!(split(""), Vec::<Vec<u8>>::new());
        assert_eq!(split("   "), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(split(r#"set "a b" "c\nd""#), strs(&["set", "a b", "c\nd"]));
        assert_eq!(split(r#""\r\t\b\a\"\\\q""#), strs(&["\r\t\x08\x07\"\\q"]));
        assert_eq!(split(r#""\x41\x7a\x00""#), vec![b"Az\0".to_vec()]);
        assert_eq!(split(r#""\xff""#), vec![vec![0xff]]);
        // An incomplete \x escape is just `x` followed by the rest.
        assert_eq!(split(r#""\x4g""#), strs(&["x4g"]));
        assert_eq!(split(r#""""#), strs(&[""]));
    }

    #[test]
    fn single_quotes_are_literal_except_quote() {
        assert_eq!(split(r"'a\nb'"), strs(&[r"a\nb"]));
        assert_eq!(split(r"'it\'s'"), strs(&["it's"]));
        assert_eq!(split("''"), strs(&[""]));
    }

    #[test]
    fn quotes_may_start_mid_argument() {
        assert_eq!(split(r#"a"b c" d"#), strs(&["ab c", "d"]));
        assert_eq!(split(r#"a'b c'"#), strs(&["ab c"]));
    }

    #[test]
    fn unbalanced_quotes_are_rejected() {
        for line in [r#"set "abc"#, "set 'abc", r#""a"b"#, "'a'b", r#"get "a\"#] {
            assert_eq!(split_args(line.as_bytes()), Err(SplitError::UnbalancedQuotes), "{line}");
        }
    }

    #[test]
    fn closing_quote_may_be_followed_by_any_space() {
        assert_eq!(split("\"a\"\x0bb"), strs(&["a", "b"]));
        assert_eq!(split("'a'\r"), strs(&["a"]));
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split_args(b"get a\0b c").unwrap(), strs(&["get", "a"]));
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        assert_eq!(split_args(b"set \xc3\xa9 \xff").unwrap(), vec![b"set".to_vec(), vec![0xc3, 0xa9], vec![0xff]]);
    }
}
