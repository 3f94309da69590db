//! [`FaultBackend`]: wraps a backend to inject the failures the log must
//! survive: a torn write followed by a crash, fsync errors, and a full disk.
//!
//! It also tracks what is durable (bytes covered by a successful `sync`,
//! files whose creation a `sync_dir` covered) so [`FaultBackend::crash`] can
//! drop what a power cut would drop. Model limits: truncations and removals
//! count as durable at once (the log syncs them immediately under `Always`
//! and `EverySec`), and a crash keeps a prefix of each file's unsynced tail,
//! never reordered or garbage bytes.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::LogBackend;

#[derive(Debug, Default)]
struct FaultState {
    crashed: bool,
    fail_syncs: bool,
    capacity: Option<u64>,
    /// (appends still allowed, bytes of the next append that reach the file).
    torn_append: Option<(u64, usize)>,
    synced_len: HashMap<String, u64>,
    /// Created since the last `sync_dir`: lost by a crash.
    undurable: HashSet<String>,
}

/// A fault-injecting wrapper; clones share the fault state and the inner
/// backend's files, so a test keeps one clone and gives another to the log.
#[derive(Debug, Clone)]
pub struct FaultBackend<B> {
    inner: B,
    state: Arc<Mutex<FaultState>>,
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

impl<B: LogBackend> FaultBackend<B> {
    /// Wraps `inner`; whatever it holds now counts as durable.
    pub fn new(inner: B) -> io::Result<Self> {
        let mut state = FaultState::default();
        for name in inner.list()? {
            let len = inner.file_len(&name)?;
            state.synced_len.insert(name, len);
        }
        Ok(FaultBackend {
            inner,
            state: Arc::new(Mutex::new(state)),
        })
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// After `appends_before` more successful appends, the next append writes
    /// only its first `prefix` bytes and the "process" crashes: that append
    /// and every later operation fail until [`FaultBackend::crash`].
    pub fn arm_torn_append(&self, appends_before: u64, prefix: usize) {
        self.state().torn_append = Some((appends_before, prefix));
    }

    /// Makes every `sync` and `sync_dir` fail with EIO while `on`.
    pub fn fail_syncs(&self, on: bool) {
        self.state().fail_syncs = on;
    }

    /// Limits the total bytes of all files; an append that would pass it
    /// writes what fits and fails with ENOSPC. `None` frees the space.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state().capacity = bytes;
    }

    /// Whether a torn append has "killed the process".
    pub fn is_crashed(&self) -> bool {
        self.state().crashed
    }

    /// Simulates the machine going down and coming back: files whose
    /// creation no `sync_dir` covered vanish, and every other file keeps its
    /// synced bytes plus `keep(name, unsynced_len)` bytes (clamped) of its
    /// unsynced tail. `|_, n| n` models `kill -9` (the page cache survives),
    /// `|_, _| 0` a power cut. Clears the crashed flag and the armed faults.
    pub fn crash(&self, mut keep: impl FnMut(&str, u64) -> u64) -> io::Result<()> {
        let mut st = self.state();
        for name in self.inner.list()? {
            if st.undurable.contains(&name) {
                self.inner.remove(&name)?;
                continue;
            }
            let len = self.inner.file_len(&name)?;
            let synced = st.synced_len.get(&name).copied().unwrap_or(len).min(len);
            let kept = keep(&name, len - synced).min(len - synced);
            self.inner.truncate(&name, synced + kept)?;
        }
        st.crashed = false;
        st.torn_append = None;
        st.fail_syncs = false;
        st.undurable.clear();
        st.synced_len.clear();
        for name in self.inner.list()? {
            let len = self.inner.file_len(&name)?;
            st.synced_len.insert(name, len);
        }
        Ok(())
    }

    fn used(&self) -> io::Result<u64> {
        let mut total = 0u64;
        for name in self.inner.list()? {
            total = total.saturating_add(self.inner.file_len(&name)?);
        }
        Ok(total)
    }
}

impl<B: LogBackend> LogBackend for FaultBackend<B> {
    fn list(&self) -> io::Result<Vec<String>> {
        if self.state().crashed {
            return Err(crashed());
        }
        self.inner.list()
    }

    fn create(&self, name: &str) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        self.inner.create(name)?;
        st.undurable.insert(name.to_owned());
        st.synced_len.insert(name.to_owned(), 0);
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        if let Some((before, prefix)) = st.torn_append {
            if before == 0 {
                let cut = data.get(..prefix.min(data.len())).unwrap_or_default();
                self.inner.append(name, cut)?;
                st.crashed = true;
                st.torn_append = None;
                return Err(crashed());
            }
            st.torn_append = Some((before - 1, prefix));
        }
        if let Some(cap) = st.capacity {
            let free = cap.saturating_sub(self.used()?);
            if (data.len() as u64) > free {
                let fits = usize::try_from(free).unwrap_or(usize::MAX).min(data.len());
                self.inner
                    .append(name, data.get(..fits).unwrap_or_default())?;
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "simulated ENOSPC: no space left on device",
                ));
            }
        }
        self.inner.append(name, data)
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        if st.fail_syncs {
            return Err(io::Error::other("simulated EIO on fsync"));
        }
        self.inner.sync(name)?;
        let len = self.inner.file_len(name)?;
        st.synced_len.insert(name.to_owned(), len);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        if st.fail_syncs {
            return Err(io::Error::other("simulated EIO on directory fsync"));
        }
        self.inner.sync_dir()?;
        st.undurable.clear();
        Ok(())
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        if self.state().crashed {
            return Err(crashed());
        }
        self.inner.read_all(name)
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if self.state().crashed {
            return Err(crashed());
        }
        self.inner.read_at(name, offset, len)
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        if self.state().crashed {
            return Err(crashed());
        }
        self.inner.file_len(name)
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        self.inner.truncate(name, len)?;
        if let Some(s) = st.synced_len.get_mut(name) {
            *s = (*s).min(len);
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed());
        }
        self.inner.remove(name)?;
        st.synced_len.remove(name);
        st.undurable.remove(name);
        Ok(())
    }
}
