//! [`MemBackend`]: segment "files" in memory, for `appendonly no` and tests.
//!
//! Clones share the same files, so a test can reopen a log over the bytes a
//! dropped log left behind.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::LogBackend;

/// In-memory files; `sync` and `sync_dir` do nothing.
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {name}"))
}

impl MemBackend {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn files(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces (or creates) a file's whole contents; tests use it to plant
    /// damaged bytes.
    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        self.files().insert(name.to_owned(), bytes);
    }
}

impl LogBackend for MemBackend {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }

    fn create(&self, name: &str) -> io::Result<()> {
        let mut files = self.files();
        if files.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} exists"),
            ));
        }
        files.insert(name.to_owned(), Vec::new());
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.files()
            .get_mut(name)
            .ok_or_else(|| not_found(name))?
            .extend_from_slice(data);
        Ok(())
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        if self.files().contains_key(name) {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        self.files()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let files = self.files();
        let file = files.get(name).ok_or_else(|| not_found(name))?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        start
            .checked_add(len)
            .and_then(|end| file.get(start..end))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        Ok(self.files().get(name).ok_or_else(|| not_found(name))?.len() as u64)
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut files = self.files();
        let file = files.get_mut(name).ok_or_else(|| not_found(name))?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        file.resize(len, 0);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }
}
