//! Number parsing and formatting that reproduces Redis's text rules byte for
//! byte, because clients see the difference (`INCR` on `"01"` is an error,
//! `INCRBYFLOAT` stores `"10.6"`, not `"10.59999999999999964"`).
//!
//! * [`parse_i64`] / [`parse_u64`]: Redis `string2ll` rules: canonical
//!   decimal only (optional `-` for i64; no `+`, no spaces, no leading zeros,
//!   no `-0`), overflow rejected. Every accepted string is exactly what
//!   [`format_i64`] prints for the value, which is what lets Redis store such
//!   strings as integers.
//! * [`parse_u64_lenient`]: Redis `string2ull` as it really is (used for
//!   stream IDs): `string2ll`, then a `strtoull` fallback that also takes
//!   leading whitespace, `+`, leading zeros and even a wrapping `-`.
//! * [`parse_f64`]: Redis `string2d` (`ZADD` scores, and `INCRBYFLOAT`'s
//!   `string2ld` bar the limits below): the whole string must be what C
//!   `strtod` accepts (decimal, exponent, hex floats such as `0x1p3`,
//!   `inf`/`infinity` in any case), with no leading whitespace, no NaN, and
//!   no overflow to infinity or underflow to zero.
//! * [`format_f64_incr`]: the text `INCRBYFLOAT`/`HINCRBYFLOAT` store.
//!
//! Limits: Gyre computes in `f64`, Redis's `INCRBYFLOAT` in x87 `long double`.
//! So `INCRBYFLOAT` operands beyond the `f64` range (`1e400`, `1e-400`) are
//! rejected here although Redis accepts them, results carry `f64` rounding
//! (`0.1 + 0.2` is `0.30000000000000004` here, `0.3` in Redis), and Redis's
//! `string2ld` length cap (5119 bytes) is not applied. Nothing allocates
//! except by growing the caller's output buffer.

use std::io::Write as _;

/// Parses a canonical signed decimal integer, exactly as Redis `string2ll`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    match s {
        [b'-', digits @ ..] => {
            // i64::MIN has 19 digits, so 19 digits never overflow a u64.
            let magnitude = parse_canonical_digits(digits, 19)?;
            if magnitude == 0 {
                return None; // "-0" is not canonical
            }
            0i64.checked_sub_unsigned(magnitude)
        }
        _ => i64::try_from(parse_canonical_digits(s, 19)?).ok(),
    }
}

/// Parses a canonical unsigned decimal integer: [`parse_i64`]'s rules
/// without a sign, over the full `u64` range.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    parse_canonical_digits(s, 20)
}

/// Parses an unsigned integer exactly as Redis `string2ull` does, strtoull
/// fallback included: canonical decimals as [`parse_u64`] (but a negative
/// canonical value is rejected), otherwise optional leading C whitespace, an
/// optional `+` or `-`, then one or more digits to the end. Leading zeros are
/// fine, and `-N` wraps to `2^64 - N` as C does (`" -1"` is `u64::MAX`).
/// Overflow of the magnitude is rejected. Unlike Redis, which sees a C string,
/// a NUL byte is an ordinary invalid byte rather than the end of the input.
pub fn parse_u64_lenient(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    let (negative, digits) = match &s[start..] {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// C `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// One or more ASCII digits, at most `max_len`, no leading zero unless the
/// whole string is "0", value fitting a u64.
fn parse_canonical_digits(s: &[u8], max_len: usize) -> Option<u64> {
    let (&first, rest) = s.split_first()?;
    if s.len() > max_len {
        return None;
    }
    if first == b'0' {
        return rest.is_empty().then_some(0);
    }
    let mut v = u64::from(first.wrapping_sub(b'0'));
    if v > 9 {
        return None;
    }
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // Only a 20-digit u64 can overflow; the checks are nearly free.
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Parses a float exactly as Redis `string2d` (see the module docs).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let (negative, body) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if let [b'0', x, hex @ ..] = body {
        if x.eq_ignore_ascii_case(&b'x') {
            // strtod reads hex floats; Rust's parser does not.
            let magnitude = parse_hex_magnitude(hex)?;
            return Some(if negative { -magnitude } else { magnitude });
        }
    }
    // Rust's grammar matches strtod's for decimals and "inf"/"infinity"
    // (both case-insensitive, both take "1." and ".5", both refuse spaces
    // and an exponent without digits). What remains is what strtod signals
    // through NaN and ERANGE, which Redis rejects.
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    if v.is_infinite() && !is_inf_literal(body) {
        return None; // overflow: strtod returns HUGE_VAL with ERANGE
    }
    if v == 0.0 && has_nonzero_mantissa_digit(body) {
        return None; // underflow to zero: ERANGE with a zero result
    }
    Some(v)
}

fn is_inf_literal(body: &[u8]) -> bool {
    body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity")
}

fn has_nonzero_mantissa_digit(body: &[u8]) -> bool {
    body.iter().take_while(|&&b| b != b'e' && b != b'E').any(|&b| (b'1'..=b'9').contains(&b))
}

/// Parses what follows "0x" in a C hex float: hex digits with an optional
/// point (at least one digit), then optionally `p` or `P`, an optional sign
/// and decimal digits (a binary exponent). Rounds to nearest even like
/// strtod; `None` where strtod would leave bytes unread or signal ERANGE.
fn parse_hex_magnitude(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut mantissa: u64 = 0;
    // Value so far is (mantissa + a nonzero fraction if sticky) * 2^exp2.
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut any_digit = false;
    let mut seen_point = false;
    while let Some(&b) = s.get(i) {
        if b == b'.' && !seen_point {
            seen_point = true;
            i += 1;
            continue;
        }
        let Some(d) = (b as char).to_digit(16) else {
            break;
        };
        any_digit = true;
        if mantissa >> 60 == 0 {
            mantissa = (mantissa << 4) | u64::from(d);
            if seen_point {
                exp2 -= 4;
            }
        } else {
            // No room: 61+ significant bits are already kept, which is plenty
            // for a 53-bit result; the rest only matters as "nonzero or not".
            sticky |= d != 0;
            if !seen_point {
                exp2 += 4;
            }
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if let Some(b'p' | b'P') = s.get(i) {
        let (negative, digits) = match &s[i + 1..] {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            rest => (false, rest),
        };
        if digits.is_empty() {
            return None;
        }
        let mut e: i64 = 0;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            // Saturate: far beyond any finite, nonzero result already.
            e = (e * 10 + i64::from(d)).min(1 << 40);
        }
        exp2 += if negative { -e } else { e };
    } else if i != s.len() {
        return None;
    }
    compose_f64(mantissa, exp2, sticky)
}

/// Rounds `(mantissa + sticky fraction) * 2^exp2` to the nearest f64, ties to
/// even. `None` on overflow or on a nonzero value rounding to zero.
fn compose_f64(mantissa: u64, exp2: i64, sticky: bool) -> Option<f64> {
    if mantissa == 0 {
        return Some(0.0);
    }
    let shift = mantissa.leading_zeros();
    let m = mantissa << shift;
    // The value lies in [2^top, 2^(top+1)).
    let mut top = exp2 - i64::from(shift) + 63;
    if top > 1023 {
        return None;
    }
    // How many low bits of `m` fall below the result's last place: 11 for a
    // normal result, more for a subnormal one.
    let dropped = if top >= -1022 { 11 } else { 11 + (-1022 - top) };
    if dropped > 64 {
        return None; // below half the smallest subnormal: rounds to zero
    }
    let (q, rem) = if dropped == 64 { (0, m) } else { (m >> dropped, m & ((1 << dropped) - 1)) };
    let half = 1u64 << (dropped - 1);
    let round_up = rem > half || (rem == half && (sticky || q & 1 == 1));
    let mut q = q + u64::from(round_up);
    if top < -1022 {
        // Subnormal; a carry into bit 52 yields the smallest normal, which
        // the IEEE encoding handles by itself.
        return (q != 0).then(|| f64::from_bits(q));
    }
    if q == 1 << 53 {
        q >>= 1;
        top += 1;
        if top > 1023 {
            return None;
        }
    }
    let biased = (top + 1023) as u64;
    Some(f64::from_bits((biased << 52) | (q & ((1 << 52) - 1))))
}

/// Appends the text Redis stores for an `INCRBYFLOAT` / `HINCRBYFLOAT`
/// result: plain decimal, never an exponent, no trailing zeros or point, and
/// `0` rather than `-0`.
///
/// Redis prints its `long double` with `%.17Lf` and trims. For `f64` that
/// would expose binary noise (`10.59999999999999964`), so this prints the
/// shortest decimal that round-trips (`10.6`) and only falls back to 17
/// fixed decimals, rounded half-even like glibc, when the shortest form has
/// more than 17 of them: Redis never stores more, so `1e-20` becomes `0`
/// exactly as in Redis. Infinity and NaN, which callers reject before
/// storing, print as Redis's `ld2string` does (`inf`, `-inf`, `nan`).
pub fn format_f64_incr(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let start = out.len();
    // Writing to a Vec cannot fail.
    write!(out, "{v}").expect("write to Vec");
    let text = &out[start..];
    let frac_digits = text.iter().position(|&b| b == b'.').map_or(0, |dot| text.len() - dot - 1);
    if frac_digits > 17 {
        out.truncate(start);
        write!(out, "{v:.17}").expect("write to Vec");
        // There is a point, so trimming zeros stops at it.
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
    }
    if &out[start..] == b"-0" {
        out.truncate(start);
        out.push(b'0');
    }
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal form of `v` (Redis `ll2string`), two digits per step
/// into a stack buffer.
pub fn format_i64(v: i64, out: &mut Vec<u8>) {
    // u64::MAX has 20 digits; |i64::MIN| has 19.
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut n = v.unsigned_abs();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + n as u8;
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt_i64(v: i64) -> String {
        let mut out = Vec::new();
        format_i64(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn fmt_incr(v: f64) -> String {
        let mut out = b"prefix:".to_vec();
        format_f64_incr(v, &mut out);
        let text = String::from_utf8(out).unwrap();
        text.strip_prefix("prefix:").expect("appends, keeps prefix").to_owned()
    }

    #[test]
    fn parse_i64_table() {
        let accepted: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("99", 99),
            ("-99", -99),
            ("10", 10),
            ("-10", -10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("9223372036854775806", i64::MAX - 1),
            ("-9223372036854775807", i64::MIN + 1),
        ];
        for &(s, want) in accepted {
            assert_eq!(parse_i64(s.as_bytes()), Some(want), "{s:?}");
        }
        let rejected = [
            "",
            "-",
            "+",
            "+1",
            " 1",
            "1 ",
            " ",
            "01",
            "00",
            "-0",
            "-01",
            "--1",
            "1-",
            "1e3",
            "1.0",
            "1.",
            "0x10",
            "abc",
            "12a",
            "a12",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "-99999999999999999999",
            "100000000000000000000",
            "1\0",
            "\u{0661}",
        ];
        for s in rejected {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn parse_u64_table() {
        let accepted: &[(&str, u64)] = &[
            ("0", 0),
            ("1", 1),
            ("9223372036854775808", 1 << 63),
            ("18446744073709551615", u64::MAX),
            ("18446744073709551614", u64::MAX - 1),
        ];
        for &(s, want) in accepted {
            assert_eq!(parse_u64(s.as_bytes()), Some(want), "{s:?}");
        }
        let rejected = [
            "",
            "-",
            "-0",
            "-1",
            "+1",
            " 1",
            "1 ",
            "01",
            "00",
            "1e3",
            "1.0",
            "18446744073709551616",
            "99999999999999999999",
            "184467440737095516150",
            "x",
        ];
        for s in rejected {
            assert_eq!(parse_u64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn parse_u64_lenient_is_string2ull() {
        let accepted: &[(&str, u64)] = &[
            ("0", 0),
            ("123", 123),
            ("18446744073709551615", u64::MAX), // string2ll overflows, strtoull doesn't
            ("01", 1),
            ("00", 0),
            ("+5", 5),
            (" 5", 5),
            ("\t\n\x0b\x0c\r 7", 7),
            ("-0", 0),
            ("+0", 0),
            (" -1", u64::MAX), // strtoull negates in unsigned arithmetic
            ("-01", u64::MAX),
            ("-18446744073709551615", 1),
        ];
        for &(s, want) in accepted {
            assert_eq!(parse_u64_lenient(s.as_bytes()), Some(want), "{s:?}");
        }
        let rejected = [
            "",
            " ",
            "-",
            "+",
            "-1",
            "-5",
            "5 ",
            "1e3",
            "1.5",
            "0x10",
            "++1",
            "+-1",
            "- 1",
            "18446744073709551616",
            "-18446744073709551616",
            "1\0",
            "\x00",
        ];
        for s in rejected {
            assert_eq!(parse_u64_lenient(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn parse_f64_accepts_what_strtod_accepts() {
        let accepted: &[(&str, f64)] = &[
            ("0", 0.0),
            ("-0", -0.0),
            ("1", 1.0),
            ("+1", 1.0),
            ("-1.5", -1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("+.5e1", 5.0),
            ("00012", 12.0),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("1e-3", 0.001),
            ("1.e2", 100.0),
            ("10.5", 10.5),
            ("3.0e3", 3000.0),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("INF", f64::INFINITY),
            ("Infinity", f64::INFINITY),
            ("-INFINITY", f64::NEG_INFINITY),
            ("1.7976931348623157e308", f64::MAX),
            ("-1.7976931348623157e308", f64::MIN),
            ("4.9e-324", 5e-324), // subnormal: ERANGE but nonzero, accepted
            ("2.2250738585072014e-308", f64::MIN_POSITIVE),
            ("0e-99999", 0.0), // zero, not an underflow
            ("0.000e99999", 0.0),
            ("0x10", 16.0),
            ("0X10", 16.0),
            ("-0x10", -16.0),
            ("0x1p3", 8.0),
            ("0x1P-2", 0.25),
            ("0x1.8p1", 3.0),
            ("0x.8", 0.5),
            ("0x1.", 1.0),
            ("0xA.8p0", 10.5),
            ("0x1p+3", 8.0),
            ("0x0p99999", 0.0),
            ("0x1p-1074", 5e-324),
            ("0x1.8p-1075", 5e-324), // above half the smallest subnormal
            ("0x1.fffffffffffffp1023", f64::MAX),
            ("0x1p-1022", f64::MIN_POSITIVE),
        ];
        for &(s, want) in accepted {
            let got = parse_f64(s.as_bytes());
            assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{s:?} -> {got:?}");
        }
    }

    #[test]
    fn parse_f64_rejects() {
        let rejected = [
            "",
            "+",
            "-",
            ".",
            "e3",
            "1e",
            "1e+",
            "1e-",
            " 1",
            "1 ",
            "\t1",
            "1\n",
            "1,5",
            "1_000",
            "nan",
            "NaN",
            "-nan",
            "+NAN",
            "nan(1)",
            "infinit",
            "infx",
            "in",
            "--1",
            "+-1",
            "1.2.3",
            "1e3.5",
            "1e400",
            "-1e400",
            "1e-400",
            "-1e-400",
            "2e-324",
            "1.7976931348623159e308",
            "0x",
            "0x.",
            "0xg",
            "0x1p",
            "0x1p+",
            "0x1q",
            "0x1.8.1",
            "0x1p1024",
            "0x1p-1075",
            "0x1p3.5",
            " 0x10",
            "x10",
            "1\0",
            "\u{0661}",
            "١",
        ];
        for s in rejected {
            assert_eq!(parse_f64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn hex_rounding_is_nearest_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        assert_eq!(parse_f64(b"0x20000000000001"), Some(9007199254740992.0));
        assert_eq!(parse_f64(b"0x20000000000003"), Some(9007199254740996.0));
        // Bits beyond the kept 64 still break the tie (sticky).
        let two_64 = 18446744073709551616.0;
        assert_eq!(parse_f64(b"0x200000000000010000000000000000"), Some(9007199254740992.0 * two_64));
        assert_eq!(parse_f64(b"0x200000000000010000000000000001"), Some(9007199254740994.0 * two_64));
        // Rounding up can carry into the exponent.
        assert_eq!(parse_f64(b"0x1.fffffffffffff8p0"), Some(2.0));
        assert_eq!(parse_f64(b"0x1.fffffffffffff8p1023"), None); // carries to overflow
                                                                 // Subnormal ties: 3 * 2^-1075 is halfway between 1 and 2 units: even (2).
        assert_eq!(parse_f64(b"0x3p-1075"), Some(f64::from_bits(2)));
        assert_eq!(parse_f64(b"0x1p-1075"), None); // tie with zero: zero, so underflow
                                                   // Leading zeros and long fractions.
        assert_eq!(parse_f64(b"0x000000000000000000000001p0"), Some(1.0));
        assert_eq!(parse_f64(b"0x0.00000000000000000000001p92"), Some(1.0));
    }

    #[test]
    fn format_f64_incr_matches_redis() {
        let cases: &[(f64, &str)] = &[
            (5.0e3 + 2.0e2, "5200"),
            (10.5 + 0.1, "10.6"),
            (3.0, "3"),
            (1e-5, "0.00001"),
            (0.0, "0"),
            (-0.0, "0"),
            (1.0 + 0.25, "1.25"),
            (-1.5, "-1.5"),
            (1e21, "1000000000000000000000"),
            (1e20, "100000000000000000000"),
            (-1e-7, "-0.0000001"),
            (1e-17, "0.00000000000000001"),
            (1e-20, "0"),  // Redis rounds to 17 decimals: stores "0"
            (-1e-20, "0"), // and "-0" becomes "0"
            (6e-18, "0.00000000000000001"),
            (0.012345678901234567, "0.01234567890123457"),
            (1.0 / 262144.0, "0.00000381469726562"), // exact tie: half-even, like glibc
            (17179869184.0, "17179869184"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(v, want) in cases {
            assert_eq!(fmt_incr(v), want, "{v:?}");
        }
        // 309 digits, exponent-free, as %.17Lf would print it.
        assert_eq!(fmt_incr(f64::MAX), format!("17976931348623157{}", "0".repeat(292)));
    }

    #[test]
    fn format_i64_table() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (-1, "-1"),
            (9, "9"),
            (10, "10"),
            (99, "99"),
            (-99, "-99"),
            (100, "100"),
            (-2147483648, "-2147483648"),
            (i64::MAX, "9223372036854775807"),
            (i64::MIN, "-9223372036854775808"),
        ];
        for &(v, want) in cases {
            assert_eq!(fmt_i64(v), want);
        }
        let mut out = b"x".to_vec();
        format_i64(42, &mut out);
        assert_eq!(out, b"x42");
    }

    proptest! {
        #[test]
        fn i64_round_trips(v in any::<i64>()) {
            let text = fmt_i64(v);
            prop_assert_eq!(&text, &v.to_string());
            prop_assert_eq!(parse_i64(text.as_bytes()), Some(v));
        }

        #[test]
        fn u64_round_trips(v in any::<u64>()) {
            prop_assert_eq!(parse_u64(v.to_string().as_bytes()), Some(v));
            prop_assert_eq!(parse_u64_lenient(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn parse_i64_accepts_only_canonical_text(s in "[-+ 0-9a]{0,22}") {
            // Accepted iff formatting the value gives back the same bytes.
            let canonical = s.parse::<i64>().ok().filter(|v| v.to_string() == s);
            prop_assert_eq!(parse_i64(s.as_bytes()), canonical);
        }

        #[test]
        fn parse_f64_agrees_with_std_on_plain_decimals(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            for text in [format!("{v}"), format!("{v:e}"), format!("{v:?}")] {
                prop_assert_eq!(parse_f64(text.as_bytes()).map(f64::to_bits), Some(v.to_bits()), "{}", text);
            }
        }

        #[test]
        fn hex_floats_round_trip(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            // Build "%a"-style text by hand: 0x1.<13 hex digits>p<exp>.
            let sign = if v.is_sign_negative() { "-" } else { "" };
            let frac = bits & ((1 << 52) - 1);
            let biased = ((bits >> 52) & 0x7ff) as i64;
            let text = if biased == 0 {
                format!("{sign}0x0.{frac:013x}p-1022")
            } else {
                format!("{sign}0x1.{frac:013x}p{}", biased - 1023)
            };
            prop_assert_eq!(parse_f64(text.as_bytes()).map(f64::to_bits), Some(bits), "{}", text);
        }

        #[test]
        fn format_f64_incr_round_trips_when_not_tiny(v in any::<f64>()) {
            // Below 0.1 a 17-digit value needs more than 17 decimals, which
            // Redis (and so this) rounds away.
            prop_assume!(v.is_finite() && (v == 0.0 || v.abs() >= 0.1));
            let text = fmt_incr(v);
            prop_assert!(!text.contains('e'));
            let back = parse_f64(text.as_bytes()).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn format_f64_incr_never_exceeds_17_decimals(v in any::<f64>()) {
            prop_assume!(v.is_finite());
            let text = fmt_incr(v);
            if let Some(dot) = text.find('.') {
                prop_assert!(text.len() - dot - 1 <= 17, "{}", text);
                prop_assert!(!text.ends_with('0') && !text.ends_with('.'), "{}", text);
            }
            prop_assert!(text != "-0");
        }
    }
}

/// Most significant digits the exact decimal path of [`add_decimals`] handles:
/// within this, Redis's long-double sum printed with 17 decimals equals the
/// exact decimal sum.
const EXACT_DIGITS_MAX: usize = 18;
/// Redis prints INCRBYFLOAT results with at most 17 decimals (`%.17Lf`).
const DECIMALS_MAX: u32 = 17;

/// A plain decimal `[-]digits[.digits]` as (mantissa, decimals).
fn plain_decimal(s: &[u8]) -> Option<(i128, u32)> {
    let (negative, body) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    let (int_part, frac_part) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[..0]),
    };
    if int_part.is_empty() || !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return None;
    }
    let significant = int_part.iter().skip_while(|&&b| b == b'0').count() + frac_part.len();
    if significant > EXACT_DIGITS_MAX || frac_part.len() > DECIMALS_MAX as usize {
        return None;
    }
    let mantissa = int_part.iter().chain(frac_part).fold(0i128, |m, &d| m * 10 + i128::from(d - b'0'));
    Some((if negative { -mantissa } else { mantissa }, frac_part.len() as u32))
}

/// INCRBYFLOAT on text, as Redis's long-double arithmetic shows it: when both
/// operands are plain decimals of at most 18 significant digits the sum is
/// exact (`1.1 + 2.2` is `3.3`, not `3.3000000000000003`); `None` otherwise,
/// and the caller adds as f64. The result has no trailing zeros and no "-0".
pub fn add_decimals(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let (ma, sa) = plain_decimal(a)?;
    let (mb, sb) = plain_decimal(b)?;
    let scale = sa.max(sb);
    let sum = ma * 10i128.pow(scale - sa) + mb * 10i128.pow(scale - sb);
    let digits = sum.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale as usize + 1);
    let (int_part, frac_part) = digits.split_at(digits.len() - scale as usize);
    let frac_part = frac_part.trim_end_matches('0');
    let mut out = Vec::with_capacity(digits.len() + 2);
    if sum < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(int_part.as_bytes());
    if !frac_part.is_empty() {
        out.push(b'.');
        out.extend_from_slice(frac_part.as_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod decimal_tests {
    use super::add_decimals;

    fn add(a: &str, b: &str) -> Option<String> {
        add_decimals(a.as_bytes(), b.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn sums_like_redis_long_double() {
        assert_eq!(add("1.1", "2.2").as_deref(), Some("3.3"));
        assert_eq!(add("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(add("3", "-3").as_deref(), Some("0"));
        assert_eq!(add("-0.5", "0.25").as_deref(), Some("-0.25"));
        assert_eq!(add("5000", "200").as_deref(), Some("5200"));
        assert_eq!(add("0.1", "-0.3").as_deref(), Some("-0.2"));
    }

    #[test]
    fn declines_what_needs_floating_point() {
        assert_eq!(add("1e3", "1"), None);
        assert_eq!(add("inf", "1"), None);
        assert_eq!(add("1.", "1").as_deref(), Some("2"));
        assert_eq!(add("", "1"), None);
        assert_eq!(add("1234567890.1234567890", "1"), None);
    }
}
