//! The longest common subsequence of two strings (the LCS command), computed
//! as Redis 7 computes it: the full dynamic-programming table of u32 lengths,
//! walked back from the end, so that the subsequence chosen and the match
//! ranges reported are Redis's, in Redis's order (last match first).
//!
//! Limits: the table is (|a|+1) x (|b|+1) u32 cells; the caller refuses inputs
//! whose table exceeds its budget ([`table_bytes`]) before calling [`lcs`].

/// One run of matching bytes: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub a_start: u32,
    pub a_end: u32,
    pub b_start: u32,
    pub b_end: u32,
}

impl Match {
    pub fn len(&self) -> u32 {
        self.a_end - self.a_start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The result: the subsequence and its matching runs, last run first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lcs {
    pub len: u32,
    pub string: Vec<u8>,
    pub matches: Vec<Match>,
}

/// Bytes the table for inputs of these lengths takes (None on overflow).
pub fn table_bytes(a_len: usize, b_len: usize) -> Option<u64> {
    (a_len as u64 + 1).checked_mul(b_len as u64 + 1)?.checked_mul(4)
}

/// Computes the LCS of `a` and `b`. Both must be shorter than u32::MAX - 1.
pub fn lcs(a: &[u8], b: &[u8]) -> Lcs {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let len = t[alen * w + blen];
    let mut string = vec![0u8; len as usize];
    let mut matches = Vec::new();
    let mut idx = len as usize;
    let (mut i, mut j) = (alen, blen);
    // `None`: no run in progress (Redis's `arange_start == alen`).
    let mut run: Option<Match> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            string[idx - 1] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            match &mut run {
                None => run = Some(Match { a_start: ai, a_end: ai, b_start: bj, b_end: bj }),
                Some(r) if r.a_start == ai + 1 && r.b_start == bj + 1 => {
                    r.a_start -= 1;
                    r.b_start -= 1;
                }
                Some(_) => emit = true,
            }
            if run.is_some_and(|r| r.a_start == 0 || r.b_start == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = run.take() {
                matches.push(r);
            }
        }
    }
    Lcs { len, string, matches }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_documentation_example() {
        let r = lcs(b"ohmytext", b"mynewtext");
        assert_eq!(r.string, b"mytext");
        assert_eq!(r.len, 6);
        let runs: Vec<_> = r.matches.iter().map(|m| (m.a_start, m.a_end, m.b_start, m.b_end, m.len())).collect();
        assert_eq!(runs, vec![(4, 7, 5, 8, 4), (2, 3, 0, 1, 2)]);
        assert_eq!(lcs(b"", b"abc"), Lcs::default());
    }
}
