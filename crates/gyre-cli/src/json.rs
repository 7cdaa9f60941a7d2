//! The little JSON the structured outputs need (`bench --json`, `cluster
//! status --json`): string literals and finite numbers. Reply formatting
//! (`--json` on replies) is redis-cli's own dialect, in `structured`.

use std::fmt::Write as _;

/// A finite number with up to 3 decimals (JSON has no NaN or infinity).
pub fn json_number(v: f64) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" || text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers() {
        assert_eq!(json_string("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
        assert_eq!(json_number(0.5), "0.5");
        assert_eq!(json_number(2000.0), "2000");
        assert_eq!(json_number(-0.0001), "0");
        assert_eq!(json_number(f64::NAN), "null");
    }
}
