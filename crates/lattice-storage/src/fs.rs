//! [`FsBackend`]: segment files in a real directory.
//!
//! Write handles stay open (one per file, opened lazily) so an append is one
//! `write` call and a sync one `fdatasync`; reads use positioned reads on the
//! same handle.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::LogBackend;

/// A directory on a real file system.
#[derive(Debug)]
pub struct FsBackend {
    dir: PathBuf,
    files: Mutex<HashMap<String, File>>,
}

impl FsBackend {
    /// Uses `dir` (created if missing) as the log directory.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(FsBackend {
            dir,
            files: Mutex::new(HashMap::new()),
        })
    }

    /// The directory this backend writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `f` on the cached handle for `name`, opening it if needed.
    fn with_file<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut File) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if !files.contains_key(name) {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(self.path(name))?;
            files.insert(name.to_owned(), file);
        }
        match files.get_mut(name) {
            Some(file) => f(file),
            None => Err(io::Error::other("file handle vanished")),
        }
    }
}

impl LogBackend for FsBackend {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn create(&self, name: &str) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(self.path(name))?;
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.insert(name.to_owned(), file);
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.with_file(name, |f| f.write_all(data))
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        self.with_file(name, |f| f.sync_data())
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name))
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.with_file(name, |f| f.read_exact_at(&mut buf, offset))?;
        Ok(buf)
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.path(name))?.len())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.with_file(name, |f| f.set_len(len))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        fs::remove_file(self.path(name))
    }
}
