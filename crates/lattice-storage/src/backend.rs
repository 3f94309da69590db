//! The [`LogBackend`] seam: the only file operations the log performs.
//!
//! The log never touches `std::fs` directly; it names files by their segment
//! name and asks a backend. [`crate::FsBackend`] is the real directory,
//! [`crate::MemBackend`] keeps everything in memory (`appendonly no`), and
//! [`crate::FaultBackend`] wraps either to inject torn writes, fsync errors
//! and a full disk in tests.

use std::io;

/// File operations on one flat directory of segment files.
///
/// Methods take `&self`: implementations use interior mutability so a test
/// can keep a handle to the same backend the log owns.
pub trait LogBackend {
    /// Names of all files in the directory (any order; non-segment files included).
    fn list(&self) -> io::Result<Vec<String>>;
    /// Creates a new empty file. Fails if it already exists.
    fn create(&self, name: &str) -> io::Result<()>;
    /// Appends `data` at the end of an existing file. On error an unknown
    /// prefix of `data` may have been written.
    fn append(&self, name: &str, data: &[u8]) -> io::Result<()>;
    /// Makes the file's contents and length durable (fdatasync).
    fn sync(&self, name: &str) -> io::Result<()>;
    /// Makes file creations and removals in the directory durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Reads a whole file.
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Reads exactly `len` bytes at `offset`.
    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Current length of a file.
    fn file_len(&self, name: &str) -> io::Result<u64>;
    /// Cuts a file to `len` bytes (preallocated space past `len` included).
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Deletes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
}

/// A shared backend (the log and a maintenance task, or a test, holding the
/// same directory).
impl<T: LogBackend + ?Sized> LogBackend for std::sync::Arc<T> {
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn create(&self, name: &str) -> io::Result<()> {
        (**self).create(name)
    }
    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        (**self).append(name, data)
    }
    fn sync(&self, name: &str) -> io::Result<()> {
        (**self).sync(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        (**self).sync_dir()
    }
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        (**self).read_all(name)
    }
    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        (**self).read_at(name, offset, len)
    }
    fn file_len(&self, name: &str) -> io::Result<u64> {
        (**self).file_len(name)
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        (**self).truncate(name, len)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        (**self).remove(name)
    }
}
