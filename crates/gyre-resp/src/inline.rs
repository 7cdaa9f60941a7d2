//! Splitting of inline commands, a port of Redis's `sdssplitargs`.
//!
//! Rules (identical to Redis 7): arguments are separated by whitespace;
//! `"double quotes"` allow the escapes `\n \r \t \b \a \\ \"` and `\xHH` (any
//! other `\c` yields `c`); `'single quotes'` allow only `\'`; a quote may start
//! in the middle of an argument (`ab"c d"` is `abc d`); a closing quote must be
//! followed by whitespace or the end of the line, otherwise the request has
//! unbalanced quotes. A NUL byte ends the line, as it does for Redis's C string.
//!
//! Unescaped bytes are appended to a caller-owned scratch buffer and each
//! argument is recorded as a `(start, end)` span into it, so splitting reuses
//! the caller's allocations. Work is linear in the line length; no recursion.

use crate::error::ProtocolError;
use crate::num::find_byte;

/// Splits `line` (without its newline) into arguments appended to `scratch`,
/// pushing one `(start, end)` span of `scratch` per argument onto `spans`.
pub(crate) fn split_inline(
    line: &[u8],
    scratch: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) -> Result<(), ProtocolError> {
    // Redis copies the line into a C string, so a NUL terminates it.
    let line = match find_byte(line, 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut pos = 0;
    loop {
        while pos < line.len() && is_c_space(line[pos]) {
            pos += 1;
        }
        if pos == line.len() {
            return Ok(());
        }
        let start = scratch.len();
        pos = read_token(line, pos, scratch)?;
        spans.push((start, scratch.len()));
    }
}

/// C `isspace` in the "C" locale: used to skip blanks and to validate the byte
/// after a closing quote.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Reads one argument starting at `pos`; returns the position after it.
fn read_token(line: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(pos) {
            // Unquoted arguments end only at these four bytes (not \v or \f),
            // exactly as sdssplitargs' switch does.
            None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok(pos),
            Some(b'"') => return read_double_quoted(line, pos + 1, out),
            Some(b'\'') => return read_single_quoted(line, pos + 1, out),
            Some(&byte) => {
                out.push(byte);
                pos += 1;
            }
        }
    }
}

/// Reads the inside of a double-quoted section starting just after the quote.
fn read_double_quoted(line: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(pos) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'\\') if pos + 1 < line.len() => {
                if let Some(byte) = hex_escape(line, pos) {
                    out.push(byte);
                    pos += 4;
                } else {
                    out.push(unescape(line[pos + 1]));
                    pos += 2;
                }
            }
            Some(b'"') => return after_closing_quote(line, pos),
            Some(&byte) => {
                out.push(byte);
                pos += 1;
            }
        }
    }
}

/// Reads the inside of a single-quoted section starting just after the quote.
fn read_single_quoted(line: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(pos) {
            None => return Err(ProtocolError::UnbalancedQuotes),
            Some(b'\\') if line.get(pos + 1) == Some(&b'\'') => {
                out.push(b'\'');
                pos += 2;
            }
            Some(b'\'') => return after_closing_quote(line, pos),
            Some(&byte) => {
                out.push(byte);
                pos += 1;
            }
        }
    }
}

/// Validates what follows the closing quote at `quote_pos`.
fn after_closing_quote(line: &[u8], quote_pos: usize) -> Result<usize, ProtocolError> {
    match line.get(quote_pos + 1) {
        Some(&next) if !is_c_space(next) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(quote_pos + 1),
    }
}

/// The byte of a `\xHH` escape at `pos`, if the escape is complete and valid.
fn hex_escape(line: &[u8], pos: usize) -> Option<u8> {
    if line.get(pos + 1) != Some(&b'x') {
        return None;
    }
    let high = hex_value(*line.get(pos + 2)?)?;
    let low = hex_value(*line.get(pos + 3)?)?;
    Some(high * 16 + low)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The byte a backslash escape stands for inside double quotes.
fn unescape(byte: u8) -> u8 {
    match byte {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut scratch = Vec::new();
        let mut spans = Vec::new();
        split_inline(line, &mut scratch, &mut spans)?;
        Ok(spans.iter().map(|&(s, e)| scratch[s..e].to_vec()).collect())
    }

    fn owned(args: &[&[u8]]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.to_vec()).collect()
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(split(b"  set  key\tvalue ").unwrap(), owned(&[b"set", b"key", b"value"]));
        assert_eq!(split(b"").unwrap(), owned(&[]));
        assert_eq!(split(b" \t ").unwrap(), owned(&[]));
    }

    #[test]
    fn quoted_arguments() {
        assert_eq!(split(br#"set "a b" 'c d'"#).unwrap(), owned(&[b"set", b"a b", b"c d"]));
        assert_eq!(split(br#""\x41""#).unwrap(), owned(&[b"A"]));
        assert_eq!(split(br#""\x4""#).unwrap(), owned(&[b"x4"]));
        assert_eq!(split(br#""a\n\r\t\b\a\\\"\q""#).unwrap(), owned(&[b"a\n\r\t\x08\x07\\\"q"]));
        assert_eq!(split(br#"'it\'s' 'a\nb'"#).unwrap(), owned(&[b"it's", b"a\\nb"]));
        assert_eq!(split(br#""""#).unwrap(), owned(&[b""]));
        assert_eq!(split(br#"ab"c d" e"#).unwrap(), owned(&[b"abc d", b"e"]));
    }

    #[test]
    fn unbalanced_quotes_are_rejected() {
        for line in [&br#""abc"#[..], br#"'abc"#, br#""abc"def"#, br#"'a'b"#, br#""abc\""#, br#""ab\"#] {
            assert_eq!(split(line), Err(ProtocolError::UnbalancedQuotes), "{}", line.escape_ascii());
        }
    }

    #[test]
    fn closing_quote_may_be_followed_by_any_c_space() {
        assert_eq!(split(b"\"a\"\x0bb").unwrap(), owned(&[b"a", b"b"]));
    }

    #[test]
    fn vertical_tab_is_part_of_an_unquoted_argument() {
        assert_eq!(split(b"a\x0bb").unwrap(), owned(&[b"a\x0bb"]));
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split(b"get a\0b c").unwrap(), owned(&[b"get", b"a"]));
    }
}
