//! Hybrid logical clock: the version stamped on every Mutation.
//!
//! A [`Version`] is a hybrid-logical-clock value (the upper 48 of 64 bits are
//! milliseconds since the Unix epoch, the lower 16 a logical counter) plus the
//! *node tag* of the node that issued it, compared as (clock, node). Versions
//! issued by one [`Hlc`] strictly increase even when the wall clock stalls or
//! steps back, and two nodes never issue equal versions: their tags differ
//! (the cluster's topology log hands each member a tag once and never reuses
//! it; a standalone node issues tag 0; [`NodeTag::MAX`] is reserved for
//! expiry's deletes, see [`Version::expired`]). `observe` folds in versions seen from
//! elsewhere (replicas, the log at recovery) so that later local writes order
//! after them. The clock never reads time itself: callers hand it `now_ms`.
//!
//! Remote versions go through [`Hlc::observe_remote`], which refuses one more
//! than a bound ahead of local time (a node with a wild clock, or a hostile
//! peer, would otherwise drag every later write of this node into its
//! future). The arithmetic saturates: no version wraps the clock.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

const LOGICAL_BITS: u32 = 16;

/// A node's tag inside the versions it issues (see the module doc).
pub type NodeTag = u16;

/// A version: the last-write-wins order between writes.
///
/// Packed to 10 bytes with 2-byte alignment: it sits in every key's entry,
/// where it fills what was padding (docs/MEMORY.md).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(C, packed(2))]
pub struct Version {
    hlc: u64,
    node: NodeTag,
}

impl Version {
    pub const ZERO: Version = Version { hlc: 0, node: 0 };
    /// Above every version a clock can issue.
    pub const MAX: Version = Version { hlc: u64::MAX, node: NodeTag::MAX };

    pub const fn new(hlc: u64, node: NodeTag) -> Version {
        Version { hlc, node }
    }

    /// A version of tag 0 (a standalone node's, and tests').
    pub const fn from_hlc(hlc: u64) -> Version {
        Version { hlc, node: 0 }
    }

    /// The first version of millisecond `ms`: every version issued at an
    /// earlier time is below it.
    pub fn at_ms(ms: u64) -> Version {
        Version::from_hlc(ms.min(u64::MAX >> LOGICAL_BITS) << LOGICAL_BITS)
    }

    /// The clock part.
    #[inline]
    pub fn hlc(self) -> u64 {
        self.hlc
    }

    /// The issuing node's tag.
    #[inline]
    pub fn node(self) -> NodeTag {
        self.node
    }

    /// The version of the delete that expiry makes of a key at version
    /// `self`: the same clock with the reserved tag [`NodeTag::MAX`], so it
    /// orders after the key's version and before every version any clock
    /// issues after seeing the key's (a tick always advances the clock part).
    /// Two nodes expiring the same key version make the same delete.
    pub fn expired(self) -> Version {
        Version { hlc: self.hlc(), node: NodeTag::MAX }
    }

    pub fn physical_ms(self) -> u64 {
        self.hlc() >> LOGICAL_BITS
    }
}

impl Ord for Version {
    #[inline]
    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        (self.hlc(), self.node()).cmp(&(other.hlc(), other.node()))
    }
}

impl PartialOrd for Version {
    #[inline]
    fn partial_cmp(&self, other: &Version) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Version({}.{}@{})", self.physical_ms(), self.hlc() & 0xffff, self.node())
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
    node: AtomicU16,
}

impl Hlc {
    pub fn new() -> Hlc {
        Hlc::default()
    }

    /// Sets the tag this clock's versions carry (at start, and when the
    /// topology hands this node its tag).
    pub fn set_node(&self, node: NodeTag) {
        self.node.store(node, Ordering::Relaxed);
    }

    pub fn node(&self) -> NodeTag {
        self.node.load(Ordering::Relaxed)
    }

    /// A new version, strictly greater than every version issued or observed so far.
    pub fn tick(&self, now_ms: u64) -> Version {
        let node = self.node.load(Ordering::Relaxed);
        let wall = Version::at_ms(now_ms).hlc();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last.saturating_add(1));
            match self.last.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Version::new(next, node),
                Err(seen) => last = seen,
            }
        }
    }

    /// Makes later ticks order after `v`.
    pub fn observe(&self, v: Version) {
        self.last.fetch_max(v.hlc(), Ordering::Relaxed);
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
        Version::new(self.last.load(Ordering::Relaxed), self.node())
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
        hlc.observe(Version::from_hlc(u64::MAX));
        assert_eq!(hlc.tick(5), Version::from_hlc(u64::MAX), "saturates instead of wrapping to zero");
        assert_eq!(Version::at_ms(u64::MAX).physical_ms(), u64::MAX >> LOGICAL_BITS);
    }

    #[test]
    fn observed_versions_are_overtaken() {
        let hlc = Hlc::new();
        let remote = Version::new(5_000 << LOGICAL_BITS | 7, 9);
        hlc.observe(remote);
        assert!(hlc.tick(10) > remote);
    }

    #[test]
    fn versions_order_by_clock_then_node() {
        let a = Version::new(100, 2);
        assert!(a < Version::new(100, 3) && Version::new(100, 3) < Version::new(101, 0));
        assert_ne!(Version::new(100, 1), Version::new(100, 2), "two nodes never issue equal versions");
        assert_eq!(std::mem::size_of::<Version>(), 10);
        let (x, y) = (Hlc::new(), Hlc::new());
        x.set_node(1);
        y.set_node(2);
        let (vx, vy) = (x.tick(1_000), y.tick(1_000));
        assert_eq!(vx.hlc(), vy.hlc());
        assert!(vx < vy);
        assert_eq!((vx.node(), vy.node()), (1, 2));
    }
}
