//! Redis's glob matching (`stringmatchlen`), used by FUNCTION LIST
//! LIBRARYNAME: `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.
//!
//! Iterative: a `*` remembers where to resume, so a pattern of many stars
//! costs O(pattern × string) and never recurses.

/// Whether `string` matches `pattern`, optionally ignoring ASCII case.
pub(crate) fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut p, mut s) = (0usize, 0usize);
    // Where the last `*` was: pattern index after it, string index it covers up to.
    let mut resume: Option<(usize, usize)> = None;
    while s < string.len() {
        let step = if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    resume = Some((p, s));
                    continue;
                }
                b'?' => Some(p + 1),
                b'[' => match_class(pattern, p, string[s], nocase),
                b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], string[s]).then_some(p + 2),
                c => eq(c, string[s]).then_some(p + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                p = next;
                s += 1;
            }
            None => match resume {
                Some((star_p, star_s)) => {
                    p = star_p;
                    s = star_s + 1;
                    resume = Some((star_p, star_s + 1));
                }
                None => return false,
            },
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches one byte against the class starting at `pattern[open] == '['`;
/// returns the pattern index after the class on a match.
fn match_class(pattern: &[u8], open: usize, c: u8, nocase: bool) -> Option<usize> {
    let lower = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let mut p = open + 1;
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        if p >= pattern.len() {
            // Unterminated class: Redis treats the end of the pattern as its end.
            break;
        }
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            p += 1;
            if pattern[p] == c {
                matched = true;
            }
        } else if pattern[p] == b']' {
            break;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
            let (mut start, mut end) = (pattern[p], pattern[p + 2]);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let (start, end, c) = (lower(start), lower(end), lower(c));
            if c >= start && c <= end {
                matched = true;
            }
            p += 2;
        } else if lower(pattern[p]) == lower(c) {
            matched = true;
        }
        p += 1;
    }
    (matched != negate).then_some(p + 1)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
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
