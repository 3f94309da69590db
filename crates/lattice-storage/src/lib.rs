//! The on-disk Raft log of Lattice: checksummed records in segment files,
//! fsync policies with group commit, torn-tail recovery, poisoning on fsync
//! failure, and a [`LogBackend`] seam so tests can inject faults.
//!
//! This crate sits below `lattice-raft` (which will implement openraft's
//! `RaftLogStorage` over [`Log`]) and depends on no other Lattice crate, no
//! openraft and no async runtime: every call is synchronous and the caller
//! chooses the thread that blocks on fsync. The byte format, the recovery
//! rules and the invariants are in `docs/design/log-format.md`.
//!
//! Reading order: [`format`] (bytes), `backend.rs` (the seam), `scan.rs`
//! (recovery and [`check`]), `log.rs` ([`Log`]), then the backends
//! `fs.rs`, `mem.rs`, `fault.rs`.

mod backend;
mod error;
mod fault;
pub mod format;
mod fs;
mod log;
mod mem;
mod scan;

pub use backend::LogBackend;
pub use error::StorageError;
pub use fault::FaultBackend;
pub use format::MAX_PAYLOAD_LEN;
pub use fs::FsBackend;
pub use log::{FsyncPolicy, Log, LogOptions, LogReader, Recovery, DEFAULT_SEGMENT_SIZE};
pub use mem::MemBackend;
pub use scan::{check, CheckReport, TailRepair};
