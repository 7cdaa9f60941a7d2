//! [`format_double`]: doubles spelled exactly as Redis 7.2 replies with them.
//!
//! Redis 7.2's `d2string` prints `nan`, `inf`, `-inf`, `0` and `-0` literally;
//! integral values within ±2^62 as integers (`ll2string`); everything else with
//! `fpconv_dtoa`, i.e. shortest round-trip digits laid out by its
//! `emit_digits` rule:
//! * `K >= 0` (value = digits × 10^K) and decimal exponent < digits + 7: plain
//!   integer, zero-padded (`9223372036854776000`);
//! * `K < 0` and (`K > -7` or decimal exponent < 4): plain decimal
//!   (`1.23`, `0.000001`);
//! * otherwise scientific with a signed, unpadded exponent (`1e+20`, `1.5e-7`,
//!   `5e-324`).
//!
//! Digits come from Rust's shortest round-trip formatting (`{:e}`). Redis uses
//! Grisu2, which is shortest for all but a tiny fraction of doubles; for those
//! rare values Redis prints a longer (still round-tripping) digit string.
//! Formatting never allocates beyond the caller's output buffer.

use std::fmt::Write as _;

/// Longest text `format_double` produces, with margin: sign, 17 digits, a
/// point and a 5-byte exponent, or a 25-byte zero-padded integer.
pub(crate) const DOUBLE_TEXT_BYTES_MAX: usize = 32;

/// Appends `v` to `out` the way Redis 7.2 replies with a double.
pub fn format_double(v: f64, out: &mut Vec<u8>) {
    let mut text = DoubleText::new();
    text.format(v);
    out.extend_from_slice(text.as_bytes());
}

/// A fixed stack buffer holding one formatted double.
pub(crate) struct DoubleText {
    bytes: [u8; DOUBLE_TEXT_BYTES_MAX],
    len: usize,
}

impl DoubleText {
    pub(crate) fn new() -> Self {
        DoubleText { bytes: [0; DOUBLE_TEXT_BYTES_MAX], len: 0 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Replaces the content with `v` formatted as Redis's `d2string` does.
    pub(crate) fn format(&mut self, v: f64) {
        self.len = 0;
        if v.is_nan() {
            self.extend(b"nan");
        } else if v.is_infinite() {
            self.extend(if v < 0.0 { b"-inf" } else { b"inf" });
        } else if v == 0.0 {
            self.extend(if v.is_sign_negative() { b"-0" } else { b"0" });
        } else if let Some(integer) = exact_i64_within_2_pow_62(v) {
            self.extend(itoa::Buffer::new().format(integer).as_bytes());
        } else {
            self.format_fpconv(v);
        }
    }

    /// `fpconv_dtoa` for a finite, non-zero double.
    fn format_fpconv(&mut self, v: f64) {
        if v < 0.0 {
            self.push(b'-');
        }
        let (digits, digit_count, k) = shortest_digits(v.abs());
        self.emit_digits(&digits[..digit_count], k);
    }

    /// fpconv's `emit_digits`: value = `digits` × 10^`k`.
    fn emit_digits(&mut self, digits: &[u8], k: i32) {
        let digit_count = digits.len() as i32;
        let exp = (k + digit_count - 1).abs();
        if k >= 0 && exp < digit_count + 7 {
            self.extend(digits);
            for _ in 0..k {
                self.push(b'0');
            }
        } else if k < 0 && (k > -7 || exp < 4) {
            let offset = digit_count + k;
            if offset <= 0 {
                self.extend(b"0.");
                for _ in 0..-offset {
                    self.push(b'0');
                }
                self.extend(digits);
            } else {
                let (int_part, frac_part) = digits.split_at(offset as usize);
                self.extend(int_part);
                self.push(b'.');
                self.extend(frac_part);
            }
        } else {
            self.emit_scientific(digits, k);
        }
    }

    /// Scientific notation: `d[.ddd]e±X`, exponent without padding.
    fn emit_scientific(&mut self, digits: &[u8], k: i32) {
        self.push(digits[0]);
        if digits.len() > 1 {
            self.push(b'.');
            self.extend(&digits[1..]);
        }
        let exponent = k + digits.len() as i32 - 1;
        self.push(b'e');
        self.push(if exponent < 0 { b'-' } else { b'+' });
        self.extend(itoa::Buffer::new().format(exponent.unsigned_abs()).as_bytes());
    }
}

/// Redis's `double2ll`: `Some` when `v` is integral and within ±2^62, the
/// range in which Redis prints a double with its integer formatter.
fn exact_i64_within_2_pow_62(v: f64) -> Option<i64> {
    const BOUND: f64 = 4_611_686_018_427_387_904.0; // 2^62 == (double)(LLONG_MAX / 2)
    if !(-BOUND..=BOUND).contains(&v) {
        return None;
    }
    let integer = v as i64;
    (integer as f64 == v).then_some(integer)
}

/// Shortest round-trip decimal digits of a finite positive `v`: returns
/// (digit buffer, digit count, k) with `v == digits × 10^k`.
fn shortest_digits(v: f64) -> ([u8; 24], usize, i32) {
    // `{:e}` prints the shortest round-trip digits as `d.ddde[-]X`.
    let mut text = StackText::new();
    write!(text, "{v:e}").expect("a 40-byte buffer fits any f64 in {:e} form");
    let text = text.as_bytes();
    let e_pos = text.iter().position(|&b| b == b'e').expect("{:e} output has an exponent");
    let exponent: i32 = std::str::from_utf8(&text[e_pos + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("{:e} exponent is a decimal integer");
    let mut digits = [0u8; 24];
    let mut count = 0;
    for &byte in text[..e_pos].iter().filter(|b| b.is_ascii_digit()) {
        digits[count] = byte;
        count += 1;
    }
    (digits, count, exponent - (count as i32 - 1))
}

/// A small stack buffer implementing `fmt::Write`, to format without allocating.
struct StackText {
    bytes: [u8; 40],
    len: usize,
}

impl StackText {
    fn new() -> Self {
        StackText { bytes: [0; 40], len: 0 }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: f64) -> String {
        let mut out = Vec::new();
        format_double(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn special_values() {
        assert_eq!(text(f64::NAN), "nan");
        assert_eq!(text(f64::INFINITY), "inf");
        assert_eq!(text(f64::NEG_INFINITY), "-inf");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "-0");
    }

    #[test]
    fn integral_values_use_integer_form() {
        assert_eq!(text(1.0), "1");
        assert_eq!(text(-42.0), "-42");
        assert_eq!(text(1e16), "10000000000000000");
        assert_eq!(text(4_611_686_018_427_387_904.0), "4611686018427387904");
    }

    #[test]
    fn shortest_round_trip_digits() {
        assert_eq!(text(1.23), "1.23");
        assert_eq!(text(0.1), "0.1");
        assert_eq!(text(-1.5), "-1.5");
        assert_eq!(text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(text(123456.789), "123456.789");
    }

    #[test]
    fn fpconv_layout_rules() {
        assert_eq!(text(0.0001), "0.0001");
        assert_eq!(text(0.000001), "0.000001");
        assert_eq!(text(1e-7), "1e-7");
        assert_eq!(text(1.5e-7), "1.5e-7");
        assert_eq!(text(1e19), "1e+19");
        assert_eq!(text(1e20), "1e+20");
        assert_eq!(text(9_223_372_036_854_775_808.0), "9223372036854776000");
        assert_eq!(text(-1e300), "-1e+300");
        assert_eq!(text(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(text(5e-324), "5e-324");
        // Decimal exponent -5 with k = -9: neither plain rule applies.
        assert_eq!(text(1.2345e-5), "1.2345e-5");
        assert_eq!(text(0.001234), "0.001234");
        assert_eq!(text(0.0001234), "1.234e-4");
        assert_eq!(text(1.234567891), "1.234567891");
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        for v in [1.23, 1e-7, 2.5e-300, 1.7976931348623157e308, 123.456e20, -7.25e-12, 1e23] {
            assert_eq!(text(v).parse::<f64>().unwrap(), v);
        }
    }
}
