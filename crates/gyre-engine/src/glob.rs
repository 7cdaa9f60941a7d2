//! Glob-style pattern matching with the exact semantics of Redis's
//! `stringmatchlen` (src/util.c, Redis 7.2.6+), as used by KEYS, SCAN MATCH,
//! PSUBSCRIBE and friends.
//!
//! Grammar: `*` matches any run of bytes, `?` exactly one byte, `[...]` one
//! byte from a class (`[^...]` negates, `a-z` is a range, `\x` escapes `x`),
//! and `\x` outside a class matches `x` literally. Everything is byte-wise and
//! binary safe; `nocase` folds ASCII letters only (Redis runs in the C locale).
//! Redis's quirks are reproduced on purpose, because clients observe them:
//!
//! * An empty string is matched only by an empty pattern: `*` does not match
//!   `""`. (Redis's KEYS and SCAN special-case a lone `*` before calling the
//!   matcher, so callers that want `*` to list the empty key must do the same.)
//! * Reversed ranges work: `[z-a]` is `[a-z]`. With `nocase` the bounds are
//!   lowercased after ordering, so `[A-z]` no longer contains `_`.
//! * An unterminated class runs to the end of the pattern: `[abc` is `[abc]`,
//!   `[` matches nothing and `[^` matches any one byte. A `-` right before the
//!   end makes a range whose upper bound may be `]`: `[a-]` is the range
//!   `]`..`a`, unterminated.
//! * Inside a class an escape compares exactly, ignoring `nocase`.
//! * A trailing lone `\` matches a literal backslash.
//! * A pattern with more than 1000 star groups that are not at its end never
//!   matches: Redis 7.2.6 caps its recursion at 1000 nested stars
//!   (CVE-2024-31228) and every such group must be entered for a match.
//!
//! One documented divergence: range bounds compare as unsigned bytes. Redis
//! on x86 compares them as signed `char`, so a range whose ends straddle
//! 0x7F/0x80 (such as `[a-\xff]`) differs there; Redis on ARM agrees with us.
//!
//! Limits: patterns are untrusted, so the matcher never recurses and keeps a
//! single backtracking point (the most recent `*`). Every token matches
//! exactly one byte, which makes that classic algorithm exact, and bounds the
//! work by O(pattern length × string length) with no allocation.

/// Redis gives up once its `*` recursion is this deep; see the module docs.
const STAR_GROUPS_MAX: usize = 1000;

/// Returns whether `string` matches the glob `pattern`, exactly as Redis's
/// `stringmatchlen(pattern, string, nocase)` would.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // Redis's main loop only runs while both sides are non-empty, so an
    // empty string fails every non-empty pattern, even "*".
    if string.is_empty() {
        return pattern.is_empty();
    }
    let mut pi = 0;
    let mut si = 0;
    // Where to resume after a mismatch: the pattern position just past the
    // latest star group, and the string position that group currently
    // starts its match at. Earlier stars never need revisiting: every other
    // token is one byte wide, so any stretch the later star cannot absorb, an
    // earlier one could not either.
    let mut backtrack: Option<(usize, usize)> = None;
    let mut star_groups = 0;
    loop {
        if si == string.len() {
            // The string is spent: only stars may remain.
            while pattern.get(pi) == Some(&b'*') {
                pi += 1;
            }
            return pi == pattern.len();
        }
        if pattern.get(pi) == Some(&b'*') {
            while pattern.get(pi) == Some(&b'*') {
                pi += 1;
            }
            if pi == pattern.len() {
                return true;
            }
            star_groups += 1;
            if star_groups > STAR_GROUPS_MAX {
                return false;
            }
            backtrack = Some((pi, si));
            continue;
        }
        if pi < pattern.len() {
            let (next_pi, matched) = match_token(pattern, pi, string[si], nocase);
            if matched {
                pi = next_pi;
                si += 1;
                continue;
            }
        }
        // Mismatch, or pattern spent with string left: let the latest star
        // swallow one more byte and retry the rest of the pattern.
        match backtrack {
            Some((star_pi, star_si)) => {
                pi = star_pi;
                si = star_si + 1;
                backtrack = Some((star_pi, si));
            }
            None => return false,
        }
    }
}

/// Matches the single non-star token starting at `pattern[pi]` against byte
/// `c`. Returns the position just past the token and whether it matched. The
/// token's extent does not depend on `c`.
fn match_token(pattern: &[u8], pi: usize, c: u8, nocase: bool) -> (usize, bool) {
    match pattern[pi] {
        b'?' => (pi + 1, true),
        b'[' => match_class(pattern, pi + 1, c, nocase),
        b'\\' if pattern.len() - pi >= 2 => (pi + 2, eq(pattern[pi + 1], c, nocase)),
        // A trailing lone backslash falls through to a literal '\\'.
        literal => (pi + 1, eq(literal, c, nocase)),
    }
}

/// Matches the class whose body starts at `pattern[start]` (just past the
/// `[`), following Redis's scan order exactly: escape, then `]`, then end of
/// pattern, then range, then literal.
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (usize, bool) {
    let mut i = start;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        let left = pattern.len() - i;
        if left == 0 {
            // Unterminated: the class consumes the rest of the pattern.
            break;
        }
        let b = pattern[i];
        if b == b'\\' && left >= 2 {
            // Redis compares escaped class members exactly, even with nocase.
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if b == b']' {
            i += 1;
            break;
        } else if left >= 3 && pattern[i + 1] == b'-' {
            matched |= in_range(b, pattern[i + 2], c, nocase);
            i += 3;
        } else {
            matched |= eq(b, c, nocase);
            i += 1;
        }
    }
    (i, matched != negate)
}

/// Redis's range test: order the bounds first, then lowercase all three.
fn in_range(a: u8, b: u8, c: u8, nocase: bool) -> bool {
    let (mut lo, mut hi, mut c) = if a > b { (b, a, c) } else { (a, b, c) };
    if nocase {
        lo = lo.to_ascii_lowercase();
        hi = hi.to_ascii_lowercase();
        c = c.to_ascii_lowercase();
    }
    lo <= c && c <= hi
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line-by-line transliteration of Redis 7.2.6's `stringmatchlen_impl`,
    /// recursion, `skipLongerMatches` and nesting cap included. Bytes past
    /// the end of the pattern read as NUL, as they do in an sds string. Only
    /// for small inputs: it is the exponential-time original.
    fn redis_ref(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
        let mut skip = false;
        redis_impl(pattern, string, nocase, &mut skip, 0)
    }

    fn redis_impl(pat: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
        if nesting > 1000 {
            return false;
        }
        let at = |i: usize| pat.get(i).copied().unwrap_or(0);
        let lower = |b: u8| b.to_ascii_lowercase();
        let (mut p, mut plen) = (0usize, pat.len() as isize);
        let (mut si, mut slen) = (0usize, s.len() as isize);
        while plen > 0 && slen > 0 {
            match at(p) {
                b'*' => {
                    while plen > 0 && at(p + 1) == b'*' {
                        p += 1;
                        plen -= 1;
                    }
                    if plen == 1 {
                        return true;
                    }
                    while slen > 0 {
                        if redis_impl(&pat[p + 1..], &s[si..], nocase, skip, nesting + 1) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                    *skip = true;
                    return false;
                }
                b'?' => {
                    si += 1;
                    slen -= 1;
                }
                b'[' => {
                    p += 1;
                    plen -= 1;
                    let not = at(p) == b'^';
                    if not {
                        p += 1;
                        plen -= 1;
                    }
                    let mut m = false;
                    loop {
                        if at(p) == b'\\' && plen >= 2 {
                            p += 1;
                            plen -= 1;
                            if at(p) == s[si] {
                                m = true;
                            }
                        } else if at(p) == b']' {
                            break;
                        } else if plen == 0 {
                            p -= 1;
                            plen += 1;
                            break;
                        } else if plen >= 3 && at(p + 1) == b'-' {
                            let (mut start, mut end, mut c) = (at(p), at(p + 2), s[si]);
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            if nocase {
                                start = lower(start);
                                end = lower(end);
                                c = lower(c);
                            }
                            p += 2;
                            plen -= 2;
                            if c >= start && c <= end {
                                m = true;
                            }
                        } else if (!nocase && at(p) == s[si]) || (nocase && lower(at(p)) == lower(s[si])) {
                            m = true;
                        }
                        p += 1;
                        plen -= 1;
                    }
                    if not {
                        m = !m;
                    }
                    if !m {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                }
                first => {
                    if first == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                    }
                    let ok = if nocase { lower(at(p)) == lower(s[si]) } else { at(p) == s[si] };
                    if !ok {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                }
            }
            p += 1;
            plen -= 1;
            if slen == 0 {
                while at(p) == b'*' && plen > 0 {
                    p += 1;
                    plen -= 1;
                }
                break;
            }
        }
        plen == 0 && slen == 0
    }

    fn check(pattern: &str, string: &str, nocase: bool, want: bool) {
        let (p, s) = (pattern.as_bytes(), string.as_bytes());
        assert_eq!(glob_match(p, s, nocase), want, "glob_match({pattern:?}, {string:?}, nocase={nocase})");
        assert_eq!(redis_ref(p, s, nocase), want, "reference disagrees on {pattern:?} {string:?}");
    }

    #[test]
    fn keyspace_tcl_keys_with_pattern() {
        let keys = ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"];
        let got: Vec<_> = keys.iter().filter(|k| glob_match(b"foo*", k.as_bytes(), false)).collect();
        assert_eq!(got, [&"foo_a", &"foo_b", &"foo_c"]);
        // KEYS with hashtag.
        let keys = ["{a}x", "{a}y", "{a}z", "{b}a", "{b}b", "{b}c"];
        let got: Vec<_> = keys.iter().filter(|k| glob_match(b"{a}*", k.as_bytes(), false)).collect();
        assert_eq!(got, [&"{a}x", &"{a}y", &"{a}z"]);
        let got: Vec<_> = keys.iter().filter(|k| glob_match(b"*{b}*", k.as_bytes(), false)).collect();
        assert_eq!(got, [&"{b}a", &"{b}b", &"{b}c"]);
    }

    #[test]
    fn keyspace_tcl_long_nested_loops() {
        // "Regression for pattern matching long nested loops".
        let key = "a".repeat(40);
        check("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &key, false, false);
    }

    #[test]
    fn keyspace_tcl_very_long_nested_loops() {
        // "Regression for pattern matching very long nested loops": as plain
        // glob this would match, but Redis's nesting cap makes it fail.
        let key = vec![b'a'; 50_000];
        let pattern = b"*?".repeat(50_000);
        assert!(!glob_match(&pattern, &key, false));
    }

    #[test]
    fn star_group_cap_is_exactly_1000() {
        let key = vec![b'a'; 2000];
        // 1000 non-trailing groups: allowed. 1001: never matches.
        assert!(glob_match(&b"*a".repeat(1000), &key, false));
        assert!(!glob_match(&b"*a".repeat(1001), &key, false));
        // A trailing group does not recurse in Redis, so it does not count;
        // runs of stars collapse into one group.
        let mut p = b"*a".repeat(1000);
        p.extend_from_slice(b"***");
        assert!(glob_match(&p, &key, false));
        assert!(glob_match(&b"**a".repeat(1000), &key, false));
        // Cross-check the boundary against the transliterated original.
        for n in [999, 1000, 1001] {
            let p = b"*a".repeat(n);
            assert_eq!(glob_match(&p, &key[..1100], false), redis_ref(&p, &key[..1100], false), "n={n}");
        }
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let key = vec![b'a'; 10_000];
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &key, false));
        let pattern = [b"*".as_slice(), &[b'a'; 100], b"b"].concat();
        assert!(!glob_match(&pattern, &key, false));
    }

    #[test]
    fn basics() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("*", "", false), // Redis: empty strings only match empty patterns
            ("**", "", false),
            ("*", "anything", true),
            ("**", "x", true),
            ("hello", "hello", true),
            ("hello", "hell", false),
            ("hello", "hello!", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "hllo", true),
            ("h*llo", "heeeello", true),
            ("h*", "h", true),
            ("h**", "h", true),
            ("*o", "hello", true),
            ("*l*", "hello", true),
            ("*x*", "hello", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("*a*b", "ababab", true),
            ("*?", "a", true),
            ("?*", "a", true),
            ("??", "a", false),
            ("user:*:name", "user:42:name", true),
            ("user:*:name", "user:42:names", false),
        ];
        for &(p, s, want) in cases {
            check(p, s, false, want);
        }
    }

    #[test]
    fn classes() {
        let cases: &[(&str, &str, bool)] = &[
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("[z-a]", "m", true), // reversed range
            ("[z-a]", "A", false),
            ("[]", "]", false),  // empty class never matches
            ("[]]", "]", false), // empty class, then literal ']'
            ("[^]", "x", true),
            ("[^]]", "]", false), // "[^]" (any byte), then a literal ']'
            ("[^]]", "x]", true),
            ("[", "[", false), // unterminated empty class matches nothing
            ("[", "", false),
            ("[^", "x", true), // unterminated negated empty class: any byte
            ("[^", "xy", false),
            ("[abc", "b", true), // unterminated class runs to pattern end
            ("[abc", "bc", false),
            ("[a-]", "]", true), // range ']'..'a', unterminated
            ("[a-]", "^", true),
            ("[a-]", "-", false),
            ("[a-]x", "x", true),
            ("[a-]x", "ax", false),
            ("[-a]", "-", true),    // leading '-' is literal
            ("[a-c-e]", "-", true), // a-c, then '-' and 'e' literals
            ("[a-c-e]", "d", false),
            ("[\\]]", "]", true), // escaped ']' inside a class
            ("[\\^a]", "^", true),
            ("[\\-]", "-", true),
            ("[\\", "\\", true), // trailing backslash in a class is literal
            ("[a\\", "\\", true),
            ("[*]", "*", true), // '*' and '?' are literal in a class
            ("[?]", "x", false),
            ("[^a-z]", "A", true),
            ("[^a-z]", "q", false),
            ("*[0-9]", "key9", true),
            ("*[0-9]", "key", false),
        ];
        for &(p, s, want) in cases {
            check(p, s, false, want);
        }
    }

    #[test]
    fn escapes() {
        let cases: &[(&str, &str, bool)] = &[
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("\\?", "?", true),
            ("\\?", "x", false),
            ("\\[", "[", true),
            ("\\a", "a", true),
            ("\\\\", "\\", true),
            ("a\\", "a\\", true), // trailing lone backslash is literal
            ("a\\", "a", false),
            ("\\", "\\", true),
            ("*\\*", "abc*", true),
            ("*\\*", "abc", false),
        ];
        for &(p, s, want) in cases {
            check(p, s, false, want);
        }
    }

    #[test]
    fn nocase() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("HELLO", "hello", true, true),
            ("HELLO", "hello", false, false),
            ("h*O", "HeLLo", true, true),
            ("[A-Z]", "q", true, true),
            ("[A-Z]", "q", false, false),
            ("[a-z]", "Q", true, true),
            ("[A-z]", "_", false, true), // '_' lies between 'Z' and 'a'
            ("[A-z]", "_", true, false), // bounds lowercase to a..z
            ("[Z-a]", "a", true, false), // lowercased bounds z..a: empty
            ("[^A]", "a", true, false),
            ("[AB]", "b", true, true),
            ("[\\A]", "a", true, false), // class escapes compare exactly
            ("[\\A]", "A", true, true),
            ("\\A", "a", true, true), // outside a class they honor nocase
        ];
        for &(p, s, nocase, want) in cases {
            check(p, s, nocase, want);
        }
        // Only ASCII folds: bytes above 0x7F are compared as-is.
        assert!(!glob_match(&[0xC9], &[0xE9], true));
    }

    #[test]
    fn binary_safe() {
        assert!(glob_match(b"a\0*", b"a\0\xff\x00", false));
        assert!(glob_match(b"[\x00-\x10]", b"\x05", false));
        assert!(glob_match(b"[\x80-\xff]", b"\xc3", false));
        assert!(!glob_match(b"a\0", b"a", false));
        assert!(glob_match(b"?", b"\xff", false));
    }

    fn glob_bytes() -> impl Strategy<Value = Vec<u8>> {
        // A small alphabet so that metacharacters and matches are common.
        let byte = prop::sample::select(b"ab-^]\\[*?A".to_vec());
        prop::collection::vec(byte, 0..10)
    }

    fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(b"abAB-]^\\[*".to_vec()), 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn agrees_with_redis(p in glob_bytes(), s in text_bytes(), nocase in any::<bool>()) {
            prop_assert_eq!(glob_match(&p, &s, nocase), redis_ref(&p, &s, nocase));
        }

        #[test]
        fn agrees_with_redis_on_any_bytes(
            p in prop::collection::vec(any::<u8>(), 0..8),
            s in prop::collection::vec(any::<u8>(), 0..8),
            nocase in any::<bool>(),
        ) {
            prop_assert_eq!(glob_match(&p, &s, nocase), redis_ref(&p, &s, nocase));
        }

        #[test]
        fn literal_pattern_matches_itself(s in prop::collection::vec(any::<u8>(), 1..16)) {
            // Escaping every byte turns any string into a pattern for itself.
            let p: Vec<u8> = s.iter().flat_map(|&b| [b'\\', b]).collect();
            prop_assert!(glob_match(&p, &s, false));
        }
    }

    /// The cases gyre-script's own matcher had (FUNCTION LIST LIBRARYNAME,
    /// which now uses this one).
    #[test]
    fn library_name_patterns() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"lib*", b"library", false));
        assert!(!glob_match(b"lib*", b"mylib", false));
        assert!(glob_match(b"*lib", b"mylib", false));
        assert!(glob_match(b"m?lib", b"mylib", false));
        assert!(glob_match(b"[mn]ylib", b"nylib", false));
        assert!(!glob_match(b"[^mn]ylib", b"nylib", false));
        assert!(glob_match(b"[a-c]x", b"bx", false));
        assert!(glob_match(b"MY*", b"mylib", true));
        assert!(!glob_match(b"MY*", b"mylib", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
        assert!(glob_match(b"*a*b*c*", b"xxaxxbxxcxx", false));
        assert!(!glob_match(b"*a*b*c*d", b"xxaxxbxxcxx", false));
        assert!(glob_match(b"", b"", false));
        assert!(!glob_match(b"", b"a", false));
    }
}
