//! [`Histogram`]: a lock-free latency histogram with fixed bucket bounds, for
//! the server's hot paths (command latency, fsync latency), and its
//! [`HistogramSnapshot`], which `/metrics` renders as a Prometheus histogram.
//!
//! Cost of [`Histogram::observe`]: one binary search over the bounds (22 by
//! default, so five comparisons) and two relaxed atomic adds. No locks, no
//! allocation.
//!
//! Consistency: a snapshot reads each bucket on its own, so while observations
//! go on it may see an observation in a bucket but not yet in the sum (or the
//! reverse). The count is the sum of the buckets, so `count` and the buckets
//! always agree, which is what Prometheus checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Default bucket upper bounds, in nanoseconds: 1 µs to 10 s in 1-2.5-5
/// steps. A value lands in the first bucket whose bound is at least the value
/// (Prometheus `le`); above the last bound it counts in `+Inf`.
pub const LATENCY_BOUNDS_NS: &[u64] = &[
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A concurrent histogram of durations. Share it by reference (or `Arc`).
#[derive(Debug)]
pub struct Histogram {
    bounds_ns: &'static [u64],
    /// One more than the bounds: the last is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// A histogram with `bounds_ns` as bucket upper bounds.
    ///
    /// # Panics
    /// When the bounds are empty or not strictly increasing (a programming
    /// error: bounds are constants).
    pub fn new(bounds_ns: &'static [u64]) -> Self {
        assert!(!bounds_ns.is_empty(), "a histogram needs at least one bound");
        assert!(bounds_ns.windows(2).all(|w| w[0] < w[1]), "histogram bounds must increase strictly");
        let counts = (0..=bounds_ns.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram { bounds_ns, counts, sum_ns: AtomicU64::new(0) }
    }

    /// Records one duration (saturating at `u64::MAX` nanoseconds, 584 years).
    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        self.observe_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration given in nanoseconds.
    #[inline]
    pub fn observe_ns(&self, ns: u64) {
        let bucket = self.bounds_ns.partition_point(|&bound| bound < ns);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds_ns: self.bounds_ns,
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

impl Default for Histogram {
    /// A histogram over [`LATENCY_BOUNDS_NS`].
    fn default() -> Self {
        Histogram::new(LATENCY_BOUNDS_NS)
    }
}

/// The state of a [`Histogram`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Bucket upper bounds in nanoseconds, increasing.
    pub bounds_ns: &'static [u64],
    /// Observations per bucket (not cumulative): `bounds_ns.len() + 1`
    /// entries, the last one for values above every bound.
    pub counts: Vec<u64>,
    /// Sum of all observed values, in nanoseconds (wrapping).
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    /// An empty snapshot over `bounds_ns`.
    pub fn empty(bounds_ns: &'static [u64]) -> Self {
        HistogramSnapshot { bounds_ns, counts: vec![0; bounds_ns.len() + 1], sum_ns: 0 }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s observations to these (for per-thread histograms merged
    /// at read time).
    ///
    /// # Panics
    /// When the two have different bounds.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        assert_eq!(self.bounds_ns, other.bounds_ns, "merging histograms with different bounds");
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }
}

impl Default for HistogramSnapshot {
    /// An empty snapshot over [`LATENCY_BOUNDS_NS`].
    fn default() -> Self {
        HistogramSnapshot::empty(LATENCY_BOUNDS_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_is_at_least_the_value() {
        let h = Histogram::new(&[10, 20, 30]);
        for ns in [0, 10, 11, 20, 30, 31, u64::MAX] {
            h.observe_ns(ns);
        }
        let s = h.snapshot();
        // <=10: 0 and 10; <=20: 11 and 20; <=30: 30; +Inf: 31 and MAX.
        assert_eq!(s.counts, vec![2, 2, 1, 2]);
        assert_eq!(s.count(), 7);
        assert_eq!(s.sum_ns, (10 + 11 + 20 + 30 + 31u64).wrapping_add(u64::MAX));
    }

    #[test]
    fn observe_takes_durations() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.counts[2], 1, "3 µs is in the 5 µs bucket");
        assert_eq!(*s.counts.last().unwrap(), 1, "60 s is above every bound");
        assert_eq!(s.sum_ns, 60_000_003_000);
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        let h = std::sync::Arc::new(Histogram::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.observe_ns(i * 1000 + t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(h.snapshot().count(), 40_000);
    }

    #[test]
    fn merge_adds_counts_and_sums() {
        let a = Histogram::new(&[10]);
        let b = Histogram::new(&[10]);
        a.observe_ns(5);
        b.observe_ns(50);
        let mut s = a.snapshot();
        s.merge(&b.snapshot());
        assert_eq!(s.counts, vec![1, 1]);
        assert_eq!(s.sum_ns, 55);
    }

    #[test]
    #[should_panic(expected = "increase strictly")]
    fn unordered_bounds_are_refused() {
        let _ = Histogram::new(&[10, 10]);
    }

    #[test]
    fn default_bounds_increase() {
        assert!(LATENCY_BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(HistogramSnapshot::default().counts.len(), LATENCY_BOUNDS_NS.len() + 1);
    }
}
