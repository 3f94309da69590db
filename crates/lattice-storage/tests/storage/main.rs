//! Integration tests of `lattice-storage`, one binary: behaviour of the log
//! API (`basic`), faults (`faults`), torn-write crash recovery (`crash`), a
//! model-based property test (`model`), committed corrupt fixtures
//! (`fixtures`) and preallocated segments (`prealloc`).

// Test helpers outside #[test] fns panic on purpose when setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod basic;
mod crash;
mod faults;
mod fixtures;
mod model;
mod prealloc;

use lattice_storage::{FsyncPolicy, Log, LogBackend, LogOptions};

/// Options with tiny segments so a few entries span several files.
pub fn small(fsync: FsyncPolicy) -> LogOptions {
    LogOptions {
        segment_size: 128,
        fsync,
    }
}

/// Every entry the log holds, in order.
pub fn contents<B: LogBackend>(log: &Log<B>) -> Vec<(u64, Vec<u8>)> {
    log.read(..)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Appends `(index, payload)` pairs given as owned vectors.
pub fn append_owned<B: LogBackend>(
    log: &mut Log<B>,
    entries: &[(u64, Vec<u8>)],
) -> Result<(), lattice_storage::StorageError> {
    let borrowed: Vec<(u64, &[u8])> = entries.iter().map(|(i, p)| (*i, p.as_slice())).collect();
    log.append(&borrowed)
}

/// Segment file names in the backend, sorted.
pub fn segment_files<B: LogBackend>(backend: &B) -> Vec<String> {
    let mut names: Vec<String> = backend
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}
