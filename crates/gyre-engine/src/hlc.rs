//! Hybrid logical clock: the version stamped on every Mutation.
//!
//! A [`Version`] is 64 bits: the upper 48 are milliseconds since the Unix epoch,
//! the lower 16 a logical counter. Versions issued by one [`Hlc`] strictly increase
//! even when the wall clock stalls or steps back, and `observe` folds in versions
//! seen from elsewhere (replicas, the log at recovery) so that later local writes
//! order after them. The clock never reads time itself: callers hand it `now_ms`.
//!
//! Remote versions go through [`Hlc::observe_remote`], which refuses one more
//! than a bound ahead of local time (a node with a wild clock, or a hostile
//! peer, would otherwise drag every later write of this node into its
//! future). The arithmetic saturates: no version wraps the clock.

use std::sync::atomic::{AtomicU64, Ordering};

const LOGICAL_BITS: u32 = 16;

/// A hybrid-logical-clock timestamp; the last-write-wins order between writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    pub const ZERO: Version = Version(0);

    /// The first version of millisecond `ms`: every version issued at an
    /// earlier time is below it.
    pub fn at_ms(ms: u64) -> Version {
        Version(ms.min(u64::MAX >> LOGICAL_BITS) << LOGICAL_BITS)
    }

    pub fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }
}

/// A remote version too far ahead of local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a version {ahead_ms} ms ahead of this node's clock was refused")]
pub struct ClockDrift {
    pub ahead_ms: u64,
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
        let wall = Version::at_ms(now_ms).0;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last.saturating_add(1));
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

    /// Folds in a version seen from another node, unless it is more than
    /// `max_drift_ms` ahead of `now_ms`: then it is refused (the caller
    /// counts it and rejects what carried it).
    pub fn observe_remote(&self, v: Version, now_ms: u64, max_drift_ms: u64) -> Result<(), ClockDrift> {
        let limit = Version::at_ms(now_ms.saturating_add(max_drift_ms).saturating_add(1));
        if v >= limit {
            return Err(ClockDrift { ahead_ms: v.physical_ms().saturating_sub(now_ms) });
        }
        self.observe(v);
        Ok(())
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
    fn remote_versions_too_far_ahead_are_refused() {
        let hlc = Hlc::new();
        assert!(hlc.observe_remote(Version::at_ms(1_400), 1_000, 500).is_ok());
        assert!(hlc.tick(1_000) > Version::at_ms(1_400));
        let far = Version::at_ms(1_501);
        assert_eq!(hlc.observe_remote(far, 1_000, 500), Err(ClockDrift { ahead_ms: 501 }));
        assert!(hlc.tick(1_000) < far, "a refused version does not move the clock");
    }

    #[test]
    fn hostile_versions_cannot_wrap_the_clock() {
        let hlc = Hlc::new();
        hlc.observe(Version(u64::MAX));
        assert_eq!(hlc.tick(5), Version(u64::MAX), "saturates instead of wrapping to zero");
        assert_eq!(Version::at_ms(u64::MAX).physical_ms(), u64::MAX >> LOGICAL_BITS);
    }

    #[test]
    fn observed_versions_are_overtaken() {
        let hlc = Hlc::new();
        let remote = Version(5_000 << LOGICAL_BITS | 7);
        hlc.observe(remote);
        assert!(hlc.tick(10) > remote);
    }
}
