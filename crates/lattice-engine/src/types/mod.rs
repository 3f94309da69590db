//! Value representations, one file per type, each with a compact small
//! encoding (a [`listpack::Listpack`] or an intset) and a large one, switched
//! by the `*-max-listpack-*` / `set-max-intset-entries` thresholds.

pub mod hash;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod set;
pub mod zset;

/// Heap bytes of a boxed byte string, for `MEMORY USAGE` estimates.
pub(crate) fn bytes_heap(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        // Allocator size classes round small allocations up to 16 bytes.
        b.len().div_ceil(16) * 16
    }
}
