//! Strict integer parsing shared by the parsers.
//!
//! [`parse_i64_redis`] is a port of Redis's `string2ll`: what it accepts is
//! exactly what Redis accepts for `*<count>` and `$<len>` headers (no `+`, no
//! leading zeros, no `-0`, no spaces, at most 20 bytes). It never allocates and
//! never panics; overflow is a rejection.

/// Longest decimal rendering of an i64 (`-9223372036854775808`), in bytes.
const I64_TEXT_BYTES_MAX: usize = 20;

/// Parses `text` as Redis's `string2ll` does; `None` when Redis would reject it.
pub(crate) fn parse_i64_redis(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > I64_TEXT_BYTES_MAX {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // The first digit must be 1-9: "0" alone was handled above, so this rejects
    // leading zeros and "-0", and an empty digit run after "-".
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let magnitude = accumulate_digits(digits)?;
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an optionally signed (`+` or `-`) decimal i64, as RESP3 allows in
/// `:` frames and aggregate lengths. Leading zeros are accepted.
pub(crate) fn parse_i64_lenient(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let magnitude = accumulate_digits(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Decimal value of a run of ASCII digits; `None` on a non-digit or u64 overflow.
fn accumulate_digits(digits: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

/// Index of the first `needle` in `haystack`. A plain loop: the compiler
/// vectorises it well enough for header lines of a few bytes, and the crate
/// keeps its dependency list short.
#[inline]
pub(crate) fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_parse_accepts_what_string2ll_accepts() {
        assert_eq!(parse_i64_redis(b"0"), Some(0));
        assert_eq!(parse_i64_redis(b"3"), Some(3));
        assert_eq!(parse_i64_redis(b"-1"), Some(-1));
        assert_eq!(parse_i64_redis(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_redis(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn redis_parse_rejects_what_string2ll_rejects() {
        for text in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64_redis(text), None, "{:?}", text.escape_ascii().to_string());
        }
    }

    #[test]
    fn lenient_parse_allows_sign_and_leading_zeros() {
        assert_eq!(parse_i64_lenient(b"+5"), Some(5));
        assert_eq!(parse_i64_lenient(b"-05"), Some(-5));
        assert_eq!(parse_i64_lenient(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_lenient(b"-"), None);
        assert_eq!(parse_i64_lenient(b""), None);
        assert_eq!(parse_i64_lenient(b"1.0"), None);
    }
}
