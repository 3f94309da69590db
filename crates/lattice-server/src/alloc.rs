//! `CountingAlloc`: the system allocator plus a byte counter, so `INFO memory`
//! reports allocated bytes (Redis's `used_memory` comes from its allocator the
//! same way) and `maxmemory` compares against real usage, not an estimate.
//! The binary installs it with `#[global_allocator]`; without it, the counter
//! stays at zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A global allocator that counts live bytes.
pub struct CountingAlloc;

/// Bytes currently allocated through [`CountingAlloc`].
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Highest value `allocated_bytes` has had when sampled (the server cron and
/// every INFO read sample it, as Redis does).
pub fn peak_bytes() -> usize {
    let now = allocated_bytes();
    PEAK.fetch_max(now, Ordering::Relaxed).max(now)
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the only addition is a relaxed
// atomic counter update, which cannot allocate or unwind.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's (see the impl comment).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we only ever
        // hand out `System` pointers).
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from a previous `System` allocation.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: CountingAlloc = CountingAlloc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations_and_frees() {
        // Other test threads allocate too, so compare with slack.
        let before = allocated_bytes();
        let v: Vec<u8> = vec![1; 8 << 20];
        let during = allocated_bytes();
        assert!(during >= before + (7 << 20), "{before} -> {during}");
        let mut v = v;
        v.resize(16 << 20, 0);
        assert!(allocated_bytes() >= before + (15 << 20));
        // The peak is sampled (as Redis samples it in its cron), not tracked
        // per allocation: sample while the buffer is alive.
        assert!(peak_bytes() >= 15 << 20);
        drop(v);
        assert!(allocated_bytes() < during + (1 << 20));
        assert!(peak_bytes() >= 15 << 20, "the peak survives the free");
    }
}
