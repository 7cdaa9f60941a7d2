//! Number formatting and parsing with C's exact behaviour, for the places
//! where Redis's Lua libraries go through `printf`/`strtod`: `%.17g` for
//! `redis.call` arguments, `%.14g` for `cjson.encode`, `strtod` for
//! `cjson.decode`, and x86-64's float-to-integer casts.

/// Appends `v` formatted as C's `printf("%.<precision>g", v)` (glibc).
pub(crate) fn format_g(v: f64, precision: usize, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() { b"-nan" } else { b"nan" });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    let precision = precision.max(1);
    // Integral values below 10^precision print as plain integers: the common
    // case, done without going through the float formatter.
    let limit = 10f64.powi(precision as i32);
    if v == v.trunc() && v.abs() < limit && v != 0.0 {
        let mut buf = itoa_buf(v as i64);
        out.append(&mut buf);
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exponent) = sci.split_once('e').expect("exponent form has an 'e'");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    if exponent < -4 || exponent >= precision as i32 {
        out.extend_from_slice(strip_fraction_zeros(mantissa).as_bytes());
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(magnitude.to_string().as_bytes());
    } else {
        let decimals = (precision as i32 - 1 - exponent) as usize;
        let fixed = format!("{:.*}", decimals, v);
        out.extend_from_slice(strip_fraction_zeros(&fixed).as_bytes());
    }
}

fn itoa_buf(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// `1.2500` → `1.25`, `3.000` → `3`; strings without a point are unchanged.
fn strip_fraction_zeros(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// A C cast `(long long)v` as x86-64 performs it: truncation toward zero,
/// and the "integer indefinite" value `i64::MIN` for NaN and out-of-range
/// inputs (C leaves those undefined; Redis runs on this behaviour).
pub(crate) fn c_cast_i64(v: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// A C cast `(int)v` as x86-64 performs it.
pub(crate) fn c_cast_i32(v: f64) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        i32::MIN
    } else {
        v as i32
    }
}

/// Parses the longest prefix of `text` that C's `strtod` accepts (decimal,
/// hexadecimal, `inf`/`infinity`, `nan`), without skipping leading blanks.
/// Returns the value and the number of bytes consumed; 0 bytes means no
/// number was found.
pub(crate) fn strtod_prefix(text: &[u8]) -> (f64, usize) {
    let mut pos = 0;
    let negative = match text.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &text[pos..];
    if starts_with_caseless(rest, b"inf") {
        let len = if starts_with_caseless(rest, b"infinity") { 8 } else { 3 };
        return (sign * f64::INFINITY, pos + len);
    }
    if starts_with_caseless(rest, b"nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..].iter().position(|&b| !(b.is_ascii_alphanumeric() || b == b'_')) {
                if rest[4 + close] == b')' {
                    len = 4 + close + 1;
                }
            }
        }
        return (f64::NAN.copysign(sign), pos + len);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((value, len)) = parse_hex_float(&rest[2..]) {
            return (sign * value, pos + 2 + len);
        }
        // "0x" without hex digits: strtod reads the "0" alone.
        return (sign * 0.0, pos + 1);
    }
    let mut end = 0;
    let mut digits = 0;
    while end < rest.len() && rest[end].is_ascii_digit() {
        end += 1;
        digits += 1;
    }
    if end < rest.len() && rest[end] == b'.' {
        end += 1;
        while end < rest.len() && rest[end].is_ascii_digit() {
            end += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if end < rest.len() && (rest[end] | 0x20) == b'e' {
        let mut exp_end = end + 1;
        if exp_end < rest.len() && (rest[exp_end] == b'+' || rest[exp_end] == b'-') {
            exp_end += 1;
        }
        let exp_digits_start = exp_end;
        while exp_end < rest.len() && rest[exp_end].is_ascii_digit() {
            exp_end += 1;
        }
        if exp_end > exp_digits_start {
            end = exp_end;
        }
    }
    let literal = std::str::from_utf8(&rest[..end]).expect("ASCII digits");
    let value: f64 = literal.parse().unwrap_or(0.0);
    (sign * value, pos + end)
}

fn starts_with_caseless(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Hex digits `[.hexdigits][p[+-]digits]` after the `0x`; None if no digit.
fn parse_hex_float(text: &[u8]) -> Option<(f64, usize)> {
    let mut value = 0.0f64;
    let mut pos = 0;
    let mut digits = 0;
    while pos < text.len() && text[pos].is_ascii_hexdigit() {
        value = value * 16.0 + f64::from(hex_value(text[pos]));
        pos += 1;
        digits += 1;
    }
    let mut scale = 0i32;
    if pos < text.len() && text[pos] == b'.' {
        let mut frac = pos + 1;
        let mut frac_digits = 0;
        while frac < text.len() && text[frac].is_ascii_hexdigit() {
            value = value * 16.0 + f64::from(hex_value(text[frac]));
            scale -= 4;
            frac += 1;
            frac_digits += 1;
        }
        if digits + frac_digits > 0 {
            pos = frac;
            digits += frac_digits;
        }
    }
    if digits == 0 {
        return None;
    }
    if pos < text.len() && (text[pos] | 0x20) == b'p' {
        let mut exp_end = pos + 1;
        let mut exp_negative = false;
        if exp_end < text.len() && (text[exp_end] == b'+' || text[exp_end] == b'-') {
            exp_negative = text[exp_end] == b'-';
            exp_end += 1;
        }
        let start = exp_end;
        let mut exponent = 0i32;
        while exp_end < text.len() && text[exp_end].is_ascii_digit() {
            exponent = exponent.saturating_mul(10).saturating_add(i32::from(text[exp_end] - b'0'));
            exp_end += 1;
        }
        if exp_end > start {
            scale = scale.saturating_add(if exp_negative { -exponent } else { exponent });
            pos = exp_end;
        }
    }
    Some((value * 2f64.powi(scale), pos))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64, p: usize) -> String {
        let mut out = Vec::new();
        format_g(v, p, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(g(5.0, 17), "5");
        assert_eq!(g(-12.0, 17), "-12");
        assert_eq!(g(0.1, 17), "0.10000000000000001");
        assert_eq!(g(0.1, 14), "0.1");
        assert_eq!(g(1e17, 17), "1e+17");
        assert_eq!(g(1e16, 17), "10000000000000000");
        assert_eq!(g(1e15, 14), "1e+15");
        assert_eq!(g(123456.789, 14), "123456.789");
        assert_eq!(g(0.0001, 14), "0.0001");
        assert_eq!(g(0.00001, 14), "1e-05");
        assert_eq!(g(3.25159, 14), "3.25159");
        assert_eq!(g(-0.0, 14), "-0");
        assert_eq!(g(0.0, 14), "0");
        assert_eq!(g(f64::INFINITY, 17), "inf");
        assert_eq!(g(f64::NEG_INFINITY, 17), "-inf");
        assert_eq!(g(1.5e300, 14), "1.5e+300");
        assert_eq!(g(2.5, 17), "2.5");
    }

    #[test]
    fn c_casts_follow_x86() {
        assert_eq!(c_cast_i64(3.9), 3);
        assert_eq!(c_cast_i64(-3.9), -3);
        assert_eq!(c_cast_i64(f64::NAN), i64::MIN);
        assert_eq!(c_cast_i64(1e300), i64::MIN);
        assert_eq!(c_cast_i32(1e10), i32::MIN);
        assert_eq!(c_cast_i32(-7.5), -7);
    }

    #[test]
    fn strtod_prefixes() {
        assert_eq!(strtod_prefix(b"12abc"), (12.0, 2));
        assert_eq!(strtod_prefix(b"-1.5e3,"), (-1500.0, 6));
        assert_eq!(strtod_prefix(b"1e"), (1.0, 1));
        assert_eq!(strtod_prefix(b"0x10"), (16.0, 4));
        assert_eq!(strtod_prefix(b"0x"), (0.0, 1));
        assert_eq!(strtod_prefix(b"+7"), (7.0, 2));
        assert_eq!(strtod_prefix(b"Infinity"), (f64::INFINITY, 8));
        assert_eq!(strtod_prefix(b"-inf"), (f64::NEG_INFINITY, 4));
        assert!(strtod_prefix(b"nan").0.is_nan());
        assert_eq!(strtod_prefix(b"-"), (0.0, 0));
        assert_eq!(strtod_prefix(b".5"), (0.5, 2));
        assert_eq!(strtod_prefix(b"5."), (5.0, 2));
    }
}
