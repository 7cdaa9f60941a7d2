//! Hybrid logical clock: the version stamped on every Mutation.
//!
//! A [`Version`] is 64 bits: the upper 48 are milliseconds since the Unix epoch,
//! the lower 16 a logical counter. Versions issued by one [`Hlc`] strictly increase
//! even when the wall clock stalls or steps back, and `observe` folds in versions
//! seen from elsewhere (replicas, the log at recovery) so that later local writes
//! order after them. The clock never reads time itself: callers hand it `now_ms`.

use std::sync::atomic::{AtomicU64, Ordering};

const LOGICAL_BITS: u32 = 16;

/// A hybrid-logical-clock timestamp; the last-write-wins order between writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    pub const ZERO: Version = Version(0);

    pub fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }
}

/// A thread-safe hybrid logical clock.
#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicU64,
}

impl Hlc {
    pub fn new() -> Hlc {
        Hlc::default()
    }

    /// A new version, strictly greater than every version issued or observed so far.
    pub fn tick(&self, now_ms: u64) -> Version {
        let wall = now_ms << LOGICAL_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last + 1);
            match self.last.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Version(next),
                Err(seen) => last = seen,
            }
        }
    }

    /// Makes later ticks order after `v`.
    pub fn observe(&self, v: Version) {
        self.last.fetch_max(v.0, Ordering::Relaxed);
    }

    pub fn last(&self) -> Version {
        Version(self.last.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_even_when_the_clock_steps_back() {
        let hlc = Hlc::new();
        let a = hlc.tick(1_000);
        let b = hlc.tick(1_000);
        let c = hlc.tick(900);
        assert!(a < b && b < c);
        assert_eq!(a.physical_ms(), 1_000);
        assert_eq!(c.physical_ms(), 1_000);
        let d = hlc.tick(2_000);
        assert_eq!(d.physical_ms(), 2_000);
    }

    #[test]
    fn observed_versions_are_overtaken() {
        let hlc = Hlc::new();
        let remote = Version(5_000 << LOGICAL_BITS | 7);
        hlc.observe(remote);
        assert!(hlc.tick(10) > remote);
    }
}
