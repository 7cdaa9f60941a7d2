//! The ranges sorted set queries take: a score interval (ZRANGEBYSCORE's
//! `(` and `-inf`/`+inf`) and a lex interval (ZRANGEBYLEX's `[`, `(`, `-`,
//! `+`), each answering "is this below the range's start" and "is this
//! within its end", the two monotone predicates a query turns into a range
//! of ranks.
//!
//! Invariants: both predicates are monotone over set order (true for a
//! prefix, then false), so a binary search over ranks finds each bound.
//!
//! Limits: a lex range is meaningful only when all scores are equal, as in
//! Redis.

/// A score interval as ZRANGEBYSCORE takes it (`(` makes a bound exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// No score can be inside (Redis's zslIsInRange first test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    pub(super) fn below_min(&self, s: f64) -> bool {
        if self.min_exclusive {
            s <= self.min
        } else {
            s < self.min
        }
    }

    pub(super) fn within_max(&self, s: f64) -> bool {
        if self.max_exclusive {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    NegInf,
    PosInf,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

impl LexBound<'_> {
    /// Redis treats `-` and `+` as exclusive.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// Redis's sdscmplex of the bound against `other`, with -inf/+inf.
    fn cmp_bound(&self, other: &LexBound<'_>) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (LexBound::NegInf, LexBound::NegInf) | (LexBound::PosInf, LexBound::PosInf) => Equal,
            (LexBound::NegInf, _) | (_, LexBound::PosInf) => Less,
            (LexBound::PosInf, _) | (_, LexBound::NegInf) => Greater,
            (a, b) => a.bytes().cmp(b.bytes()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => b,
            _ => b"",
        }
    }

    /// Compares a member with this bound: Less when the member sorts before it.
    fn cmp_member(&self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            LexBound::NegInf => Greater,
            LexBound::PosInf => Less,
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => m.cmp(b),
        }
    }
}

/// A lex interval as ZRANGEBYLEX takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl LexRange<'_> {
    /// No member can be inside (Redis's zslIsInLexRange first test).
    pub fn is_empty(&self) -> bool {
        let c = self.min.cmp_bound(&self.max);
        c.is_gt() || (c.is_eq() && (self.min.exclusive() || self.max.exclusive()))
    }

    pub(super) fn below_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.exclusive() {
            c.is_le()
        } else {
            c.is_lt()
        }
    }

    pub(super) fn within_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.exclusive() {
            c.is_lt()
        } else {
            c.is_le()
        }
    }
}
