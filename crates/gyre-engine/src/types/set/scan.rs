//! SSCAN over a set. A compact set (intset, listpack) is visited whole in one
//! step, as Redis does; a hashtable is visited in order of member hash, the
//! cursor being the lowest hash not yet returned.
//!
//! Invariants: a member present for the whole iteration is returned exactly
//! once, however the set grows or shrinks (and the table resizes) meanwhile;
//! a member added or removed during it may or may not be returned.
//!
//! Limits: hashes are process-seeded, so a cursor is meaningless across
//! restarts; each hashtable step is linear in the set's size, and covers at
//! least 1/[`SCAN_STEPS_MAX`] of it so that a whole iteration stays linear.

use super::{Member, Repr, Set, SCAN_STEPS_MAX};
use crate::keyspace::key_hash;

impl Set {
    /// One SSCAN step from `cursor`; returns the next cursor, 0 when done.
    ///
    /// A compact set is visited whole (cursor 0 back), as Redis does. A
    /// hashtable is visited in order of member hash: `cursor` is the lowest
    /// hash not yet returned. A step returns every member with a hash from
    /// `cursor` up to a bound, so a member present for the whole iteration is
    /// returned exactly once, however the set grows or shrinks meanwhile.
    /// `count` is a hint: a step covers at least `count` members and at least
    /// 1/[`SCAN_STEPS_MAX`] of the set.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(Member<'a>)) -> u64 {
        let Repr::Table(t) = &self.0 else {
            self.iter().for_each(visit);
            return 0;
        };
        let mut batch: Vec<(u64, u32)> = t
            .members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let h = key_hash(m);
                (h >= cursor).then_some((h, i as u32))
            })
            .collect();
        let budget = count.max(t.members.len() / SCAN_STEPS_MAX).max(1);
        let mut next = 0;
        if batch.len() > budget {
            batch.select_nth_unstable_by_key(budget - 1, |&(h, _)| h);
            let bound = batch[budget - 1].0;
            batch.retain(|&(h, _)| h <= bound);
            // The bound is below the largest remaining hash, so this cannot wrap.
            next = bound + 1;
        }
        for (_, i) in batch {
            visit(Member::Bytes(&t.members[i as usize]));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::set::tests::add;
    use crate::types::EncodingConfig;

    #[test]
    fn scan_returns_every_member_present_throughout_once() {
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        let names: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
        for n in &names {
            s.insert(n.as_bytes(), &cfg);
        }
        assert_eq!(s.encoding(), "hashtable");
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| seen.push(m.as_bytes(&mut itoa::Buffer::new()).to_vec()));
            steps += 1;
            // The set grows and shrinks (the table resizes) while we scan.
            s.insert(format!("new:{steps}").as_bytes(), &cfg);
            s.remove(format!("new:{}", steps - 1).as_bytes());
            if cursor == 0 {
                break;
            }
        }
        assert!(steps <= SCAN_STEPS_MAX + 2, "{steps} steps");
        for n in &names {
            assert_eq!(seen.iter().filter(|m| m.as_slice() == n.as_bytes()).count(), 1, "{n}");
        }
    }

    #[test]
    fn compact_scan_is_whole() {
        let cfg = EncodingConfig::default();
        let mut s = Set::new();
        add(&mut s, &["a", "b", "c"], &cfg);
        let mut n = 0;
        assert_eq!(s.scan(12345, 1, |_| n += 1), 0);
        assert_eq!(n, 3);
    }
}
