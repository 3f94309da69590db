//! `CountingAlloc`: mimalloc plus a byte counter, so `INFO memory` reports
//! allocated bytes (Redis's `used_memory` comes from its allocator the same
//! way) and `maxmemory` compares against real usage, not an estimate.
//! The binary installs it with `#[global_allocator]`; without it, the counter
//! stays at zero.
//!
//! Why mimalloc rather than the system allocator: the write path allocates
//! and frees small buffers per command (arguments, log entries, replies);
//! under glibc malloc that was ~15% of the server's CPU in `redis-benchmark
//! -P 16` profiles (`_int_malloc`, `unlink_chunk`, `malloc_consolidate`).
//! Redis links jemalloc for the same reason. The counter adds each block's
//! usable size (what the allocator really reserved, size-class rounding
//! included), as Redis's `zmalloc` counts `malloc_usable_size`, so the two
//! `used_memory` figures compare like with like.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use mimalloc::MiMalloc;

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

/// The usable size of a live block from [`MiMalloc`].
///
/// # Safety
/// `p` must be a live, non-null pointer returned by `MiMalloc`.
#[allow(unsafe_code)]
unsafe fn usable(p: *mut u8) -> usize {
    // SAFETY: the caller passes a live MiMalloc block.
    unsafe { MiMalloc.usable_size(p) }
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `MiMalloc` with the caller's arguments
// unchanged, so its guarantees hold; the additions are `mi_usable_size` on
// blocks MiMalloc handed out (still live at that point) and a relaxed atomic
// counter update, neither of which allocates or unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's (see the impl comment).
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by MiMalloc.
            ALLOCATED.fetch_add(unsafe { usable(p) }, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by MiMalloc.
            ALLOCATED.fetch_add(unsafe { usable(p) }, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live MiMalloc block (we only hand out those);
        // its size is read before it is freed.
        ALLOCATED.fetch_sub(unsafe { usable(ptr) }, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by MiMalloc with `layout`.
        unsafe { MiMalloc.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a live MiMalloc block.
        let old = unsafe { usable(ptr) };
        // SAFETY: `ptr`/`layout` come from a previous MiMalloc allocation.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by MiMalloc; on success `ptr`
            // is gone and only `p` is live.
            let new = unsafe { usable(p) };
            if new >= old {
                ALLOCATED.fetch_add(new - old, Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub(old - new, Ordering::Relaxed);
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
