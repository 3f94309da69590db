//! The one error type of the storage layer, [`StorageError`].
//!
//! Which errors are fatal: [`StorageError::SyncFailed`] and
//! [`StorageError::Poisoned`] mean the log refuses every later write until the
//! process restarts and recovery rereads the disk. [`StorageError::DiskFull`]
//! is not fatal: the failed append left the log as it was and a later append
//! may succeed. [`StorageError::Corrupt`] from `open` or `check` means the
//! on-disk log cannot be trusted and start-up must stop.

use std::io;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O operation other than fsync failed.
    #[error("I/O error on {file}: {source}")]
    Io {
        /// The file (or directory) the operation was on.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An fsync failed. The log is now poisoned: data the kernel could not
    /// write back may be gone from the page cache, so nothing may be
    /// acknowledged any more.
    #[error("fsync failed on {file}: {source}; the log is poisoned and refuses writes")]
    SyncFailed {
        /// The file (or directory) whose fsync failed.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier fsync (or an unrecoverable write error) poisoned the log;
    /// it refuses appends, syncs, truncations and purges until reopened.
    #[error("the log is poisoned by an earlier failure and refuses writes until restart")]
    Poisoned,
    /// The device is full. The failed append was rolled back; the log is
    /// exactly as before it and appends work again once space is freed.
    #[error("disk full while appending to {file}")]
    DiskFull {
        /// The file that could not grow.
        file: String,
    },
    /// The on-disk bytes are not a valid log at this position (not a torn
    /// tail, which recovery repairs by itself).
    #[error("corrupt log: {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        file: String,
        /// Byte offset of the first bad byte (start of the bad record or header).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// `append` was given indexes that do not follow the last one contiguously.
    #[error("non-contiguous append: expected index {expected}, got {got}")]
    NonContiguous {
        /// The index the log expected next.
        expected: u64,
        /// The index it was given.
        got: u64,
    },
    /// A read, truncation or purge named indexes the log does not hold.
    #[error("index range {lo}..{hi} is outside the log ({first}..{next})")]
    OutOfRange {
        /// Requested start (inclusive).
        lo: u64,
        /// Requested end (exclusive).
        hi: u64,
        /// Logical first index held.
        first: u64,
        /// Next index to be appended.
        next: u64,
    },
    /// A payload is larger than one record may carry.
    #[error("record payload of {len} bytes exceeds the maximum of {max}")]
    RecordTooLarge {
        /// Payload length given.
        len: usize,
        /// The limit ([`crate::MAX_PAYLOAD_LEN`]).
        max: usize,
    },
}

impl StorageError {
    /// Wraps an I/O error from a non-fsync operation on `file`.
    pub(crate) fn io(file: &str, source: io::Error) -> Self {
        StorageError::Io {
            file: file.to_owned(),
            source,
        }
    }

    /// A `Corrupt` error at `offset` of `file`.
    pub(crate) fn corrupt(file: &str, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            file: file.to_owned(),
            offset,
            reason: reason.into(),
        }
    }
}

/// True when `e` means "no space left on device" (ENOSPC, or EDQUOT: a
/// quota is the same condition from the log's point of view).
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    e.kind() == io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}
