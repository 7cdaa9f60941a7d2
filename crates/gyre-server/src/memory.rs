//! Memory and CPU accounting for INFO.
//!
//! `used_memory` comes from a counting wrapper around the system allocator: one
//! relaxed atomic add per allocation and free. The eviction work (maxmemory) will
//! revisit the allocator choice; the counter is what it will read.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CountingAlloc;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Bytes currently allocated by the process through Rust's allocator.
pub fn allocated_bytes() -> usize {
    let now = ALLOCATED.load(Ordering::Relaxed);
    PEAK.fetch_max(now, Ordering::Relaxed);
    now
}

/// The highest `allocated_bytes` observed (sampled when INFO runs).
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed).max(ALLOCATED.load(Ordering::Relaxed))
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
    #[test]
    fn human_units() {
        assert_eq!(super::human(512), "512B");
        assert_eq!(super::human(1536), "1.50K");
        assert_eq!(super::human(3 * 1024 * 1024), "3.00M");
    }
}
