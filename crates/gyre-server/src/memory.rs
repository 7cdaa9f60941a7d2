//! Memory accounting: the allocator, `used_memory`, and allocator statistics.
//!
//! The global allocator is jemalloc (the one Redis ships with): no per-allocation
//! header, size classes 16 bytes apart up to 128 bytes (a 64-byte entry costs 64
//! bytes, where glibc's malloc takes 80), and statistics to compare against.
//!
//! `used_memory` is a counter kept by a thin wrapper: every allocation adds, and
//! every free subtracts, the jemalloc *size class* of the request (what the
//! allocator really hands out), with one relaxed atomic operation. It is exact
//! at any instant, so the eviction loop can read it after each key it frees;
//! jemalloc's own `stats.allocated` needs an epoch refresh (microseconds) and is
//! read only for INFO and MEMORY STATS. The two agree within a few percent (the
//! difference is what thread caches hold; see the test below).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use tikv_jemallocator::Jemalloc;

/// The allocator's name and version, as INFO's `mem_allocator`.
pub const ALLOCATOR_NAME: &str = "jemalloc-5.3.0";

pub struct CountingAlloc;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The jemalloc size class serving a request of `size` bytes with at most
/// 16-byte alignment (jemalloc's default build: 16-byte quantum, four classes
/// per doubling, so the class step is a quarter of the next power of two).
#[inline]
pub fn size_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    let lg = usize::BITS - (size - 1).leading_zeros();
    let step = (1usize << lg.saturating_sub(3)).max(16);
    (size + step - 1) & !(step - 1)
}

#[inline]
fn charged(layout: Layout) -> usize {
    size_class(layout.size().max(layout.align()))
}

unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to jemalloc.
        let p = unsafe { Jemalloc.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(charged(layout), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { Jemalloc.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(charged(layout), Ordering::Relaxed);
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to jemalloc.
        let p = unsafe { Jemalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(charged(layout), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let p = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new = Layout::from_size_align(new_size, layout.align()).map_or(new_size, charged);
            ALLOCATED.fetch_add(new, Ordering::Relaxed);
            ALLOCATED.fetch_sub(charged(layout), Ordering::Relaxed);
        }
        p
    }
}

/// Bytes currently allocated through the global allocator (`used_memory`).
#[inline]
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

static STARTUP: AtomicUsize = AtomicUsize::new(0);

/// Records the memory in use before any data is loaded (MEMORY STATS
/// `startup.allocated`; the data set is what came after).
pub fn mark_startup() {
    STARTUP.store(allocated_bytes(), Ordering::Relaxed);
}

pub fn startup_bytes() -> usize {
    STARTUP.load(Ordering::Relaxed)
}

/// Records the current use for `used_memory_peak` (called by INFO and by the
/// background worker every cycle) and returns it.
pub fn sample_peak() -> usize {
    let now = allocated_bytes();
    PEAK.fetch_max(now, Ordering::Relaxed);
    now
}

/// The highest `allocated_bytes` observed.
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed).max(allocated_bytes())
}

/// Resets the peak to the current use (MEMORY STATS does not; CONFIG RESETSTAT does in Redis).
pub fn reset_peak() {
    PEAK.store(allocated_bytes(), Ordering::Relaxed);
}

/// jemalloc's own view, refreshed on each call (an epoch advance: microseconds,
/// not for hot paths).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    /// Bytes in objects handed out (thread caches included).
    pub allocated: usize,
    /// Bytes in pages holding objects.
    pub active: usize,
    /// Bytes in physically resident pages the allocator holds.
    pub resident: usize,
    pub mapped: usize,
    pub retained: usize,
    /// Allocations served since start, small and large size classes (all
    /// arenas): with a request count, allocations per request.
    pub nmalloc_small: u64,
    pub nmalloc_large: u64,
}

pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return AllocatorStats::default();
    }
    AllocatorStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
        mapped: stats::mapped::read().unwrap_or(0),
        retained: stats::retained::read().unwrap_or(0),
        // MALLCTL_ARENAS_ALL (4096): the merged statistics of every arena.
        nmalloc_small: read_u64(b"stats.arenas.4096.small.nmalloc\0"),
        nmalloc_large: read_u64(b"stats.arenas.4096.large.nmalloc\0"),
    }
}

fn read_u64(name: &[u8]) -> u64 {
    // SAFETY: `name` is a NUL-terminated control name of a u64 statistic.
    unsafe { tikv_jemalloc_ctl::raw::read::<u64>(name) }.unwrap_or(0)
}

/// Returns unused dirty pages of every arena to the OS (MEMORY PURGE).
pub fn purge() -> bool {
    // MALLCTL_ARENAS_ALL: the pseudo-arena index that names every arena.
    let name = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated control name; the command reads and writes nothing.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// Resident set size from /proc (0 where unavailable).
pub fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: usize = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// (user, system) CPU seconds of the process, from /proc (zeros where unavailable).
pub fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0) };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return (0.0, 0.0) };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

/// Redis's human-readable byte counts: "1.50M", "512B".
pub fn human(bytes: usize) -> String {
    const UNITS: &[(f64, &str)] = &[(1024.0 * 1024.0 * 1024.0, "G"), (1024.0 * 1024.0, "M"), (1024.0, "K")];
    let b = bytes as f64;
    for (size, unit) in UNITS {
        if b >= *size {
            return format!("{:.2}{unit}", b / size);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_match_jemalloc() {
        for size in [
            1usize,
            8,
            9,
            16,
            17,
            24,
            33,
            48,
            63,
            64,
            65,
            80,
            100,
            128,
            129,
            160,
            161,
            200,
            257,
            1000,
            4097,
            20000,
            1 << 20,
        ] {
            let layout = Layout::from_size_align(size, 1).unwrap();
            // SAFETY: a fresh allocation of `layout`, freed with it below.
            let (p, usable) = unsafe {
                let p = CountingAlloc.alloc(layout);
                (p, tikv_jemallocator::usable_size(p))
            };
            assert_eq!(size_class(size), usable, "size {size}");
            // SAFETY: allocated above with this layout.
            unsafe { CountingAlloc.dealloc(p, layout) };
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(super::human(512), "512B");
        assert_eq!(super::human(1536), "1.50K");
        assert_eq!(super::human(3 * 1024 * 1024), "3.00M");
    }
}
