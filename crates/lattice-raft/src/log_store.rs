//! `RaftLogStorage` over `lattice-storage`.
//!
//! Ordering and group commit: every I/O (appends, truncations, purges and
//! vote saves) goes, in the order openraft issues it, to one writer thread
//! that owns the files. The thread drains what is queued and writes runs of
//! consecutive appends with one `Log::append` call, i.e. one fsync under
//! `appendfsync always`, then fires their flush callbacks — never before
//! the fsync. Vote and log I/O therefore cannot be reordered (openraft PR
//! #1410), and a burst of proposals costs one fsync.
//!
//! Entries not yet applied stay in an in-memory cache, so the state
//! machine never reads back what was just written; older entries are read
//! from disk (recovery replay, and a follower catching up later).
//!
//! Failures: a full disk is retried by the writer until space returns,
//! with [`LogHealth::disk_full`] set so the server refuses new writes with
//! Redis's `MISCONF` error meanwhile (nothing acknowledged is touched). A
//! failed fsync poisons the log: the flush callback reports the error,
//! openraft stops, and [`LogHealth::poisoned`] makes the server say why.
//!
//! `appendonly no` keeps entries in memory only and drops them once
//! applied (a group of one has no follower to send them to).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use lattice_storage::{FsyncPolicy, Log, LogOptions, Recovery, StorageError as LogError};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, RaftLogReader, StorageError, StorageIOError, Vote};
use tokio::sync::oneshot;

use crate::codec::{decode_entry, encode_entry};
use crate::meta::{Backend, MetaState, MetaStore};
use crate::{Entry, LogId, TypeConfig};

type StoreResult<T> = Result<T, StorageError<u64>>;

/// Applied entries kept in memory with `appendonly no`. Small: an entry
/// can carry a whole pipelined burst (up to 1024 commands with their
/// values), so 1024 of them held a copy of most of a freshly loaded dataset
/// (4-7x Redis's used_memory after a `redis-cli --pipe` load, measured by
/// bench/workloads_compare.py).
const MEMORY_KEEP: u64 = 8;

fn io_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::write_logs(AnyError::new(&e)),
    }
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::read_logs(AnyError::new(&e)),
    }
}

/// What the server shows about the log's health (INFO, write refusals).
#[derive(Debug, Default)]
pub struct LogHealth {
    /// An fsync failed: the node refuses writes until restarted.
    pub poisoned: AtomicBool,
    /// The last append hit a full disk; the writer retries until it fits.
    pub disk_full: AtomicBool,
    /// The error behind `poisoned` or `disk_full`, for replies and INFO.
    pub last_error: Mutex<Option<String>>,
    /// Appends written (`aof_` style counters).
    pub appends: AtomicU64,
    /// Fsyncs of the entry log.
    pub fsyncs: AtomicU64,
    /// Bytes of entries written since start.
    pub bytes_written: AtomicU64,
}

impl LogHealth {
    fn set_error(&self, e: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
    }

    /// The error behind the current refusal, if any.
    pub fn error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Entries known to the store, and the ids openraft asks about.
#[derive(Default)]
struct Index {
    /// Unapplied (and, in memory mode, all kept) entries, contiguous.
    cache: VecDeque<Entry>,
    last_log_id: Option<LogId>,
    last_purged: Option<LogId>,
    vote: Option<Vote<u64>>,
}

impl Index {
    fn cache_first(&self) -> Option<u64> {
        self.cache.front().map(|e| e.log_id.index)
    }
}

enum Io {
    Append {
        records: Vec<(u64, Vec<u8>)>,
        callback: LogFlushed<TypeConfig>,
    },
    Truncate {
        since: u64,
        done: oneshot::Sender<Result<(), LogError>>,
    },
    Purge {
        upto: u64,
        purged: Option<LogId>,
        vote: Option<Vote<u64>>,
        done: oneshot::Sender<Result<(), LogError>>,
    },
    SaveVote {
        vote: Vote<u64>,
        purged: Option<LogId>,
        done: oneshot::Sender<Result<(), LogError>>,
    },
    /// Switch `appendfsync`, after fsyncing what was written so far.
    SetFsync { fsync: FsyncPolicy },
    /// Make everything appended durable, whatever the policy (shutdown).
    Flush {
        done: oneshot::Sender<Result<(), LogError>>,
    },
}

struct Shared {
    index: Mutex<Index>,
    /// The on-disk log (`None` with `appendonly no`).
    log: Option<Arc<Mutex<Log<Backend>>>>,
    /// Last index the state machine applied (0: none), for cache eviction.
    applied: AtomicU64,
    health: Arc<LogHealth>,
}

/// The log store handle (cheap to clone: openraft's reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
    io: Option<mpsc::Sender<Io>>,
}

/// What opening the on-disk log found.
#[derive(Debug, Clone)]
pub struct LogOpenReport {
    /// Segment files and torn-tail repair of the entry log.
    pub recovery: Recovery,
    /// Last entry on disk.
    pub last_log_id: Option<LogId>,
    /// Entries purged (covered by a snapshot).
    pub last_purged: Option<LogId>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LogStore {
    /// A log kept in memory only (`appendonly no`).
    pub fn memory() -> Self {
        LogStore {
            shared: Arc::new(Shared {
                index: Mutex::new(Index::default()),
                log: None,
                applied: AtomicU64::new(0),
                health: Arc::new(LogHealth::default()),
            }),
            io: None,
        }
    }

    /// Opens the entry log and the vote log, repairing a torn tail and
    /// failing on corruption before it, and starts the writer thread.
    pub fn open(
        log_backend: Backend,
        meta_backend: Backend,
        fsync: FsyncPolicy,
        segment_size: u64,
    ) -> Result<(Self, LogOpenReport), LogError> {
        let (meta, saved, _) = MetaStore::open(meta_backend, fsync)?;
        let (mut log, recovery) = Log::open(
            log_backend,
            LogOptions {
                segment_size,
                fsync,
            },
        )?;
        let MetaState { vote, purged } = saved;
        if let Some(p) = purged {
            // A purge is recorded before segments are deleted; finish it.
            if log.first_index().is_some_and(|f| f <= p.index) {
                log.purge_before(p.index + 1)?;
            }
        }
        let mut last_log_id = purged;
        if let Some(last) = log.last_index() {
            if purged.is_none_or(|p| last > p.index) {
                let rec = log.read(last..=last)?.next().transpose()?.ok_or_else(|| {
                    LogError::Corrupt {
                        file: "raft-log".into(),
                        offset: 0,
                        reason: format!("entry {last} missing"),
                    }
                })?;
                let entry = decode_entry(Bytes::from(rec.1)).map_err(|e| LogError::Corrupt {
                    file: "raft-log".into(),
                    offset: 0,
                    reason: format!("entry {last}: {e}"),
                })?;
                last_log_id = Some(entry.log_id);
            }
        }
        let health = Arc::new(LogHealth::default());
        let log = Arc::new(Mutex::new(log));
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            log: log.clone(),
            meta,
            fsync,
            health: health.clone(),
        };
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::Io {
                file: "raft-log".into(),
                source: e,
            })?;
        let report = LogOpenReport {
            recovery,
            last_log_id,
            last_purged: purged,
        };
        Ok((
            LogStore {
                shared: Arc::new(Shared {
                    index: Mutex::new(Index {
                        cache: VecDeque::new(),
                        last_log_id,
                        last_purged: purged,
                        vote,
                    }),
                    log: Some(log),
                    applied: AtomicU64::new(0),
                    health,
                }),
                io: Some(tx),
            },
            report,
        ))
    }

    /// The health flags the server reports and checks.
    pub fn health(&self) -> Arc<LogHealth> {
        self.shared.health.clone()
    }

    /// Tells the store what the state machine applied (cache eviction).
    pub fn set_applied(&self, index: u64) {
        self.shared.applied.fetch_max(index, Ordering::Relaxed);
    }

    /// Whether entries live on disk (`appendonly yes`).
    pub fn is_durable(&self) -> bool {
        self.shared.log.is_some()
    }

    /// Entries currently held on disk or in memory after the last purge.
    pub fn len(&self) -> u64 {
        let ix = lock(&self.shared.index);
        if self.io.is_none() {
            return ix.cache.len() as u64;
        }
        let first = ix.last_purged.map_or(0, |p| p.index + 1);
        ix.last_log_id
            .map_or(0, |l| (l.index + 1).saturating_sub(first))
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn send_and_wait(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), LogError>>) -> Io,
    ) -> StoreResult<()> {
        let Some(io) = &self.io else { return Ok(()) };
        let (done, rx) = oneshot::channel();
        io.send(make(done))
            .map_err(|_| io_err(std::io::Error::other("log writer stopped")))?;
        match rx.await {
            Ok(r) => r.map_err(io_err),
            Err(_) => Err(io_err(std::io::Error::other("log writer stopped"))),
        }
    }

    /// Fsyncs everything appended so far, whatever `appendfsync` says
    /// (SHUTDOWN and SIGTERM, as Redis fsyncs its AOF on the way out), and
    /// trims the segment's preallocated zeros so the log ends at its last
    /// record.
    pub async fn flush(&self) -> Result<(), String> {
        self.send_and_wait(|done| Io::Flush { done })
            .await
            .map_err(|e| e.to_string())
    }

    /// Switches `appendfsync` at run time (`CONFIG SET appendfsync`). The
    /// writer thread fsyncs everything appended before the switch first, so
    /// a move to `always` covers earlier writes too; appends issued after
    /// this call are ordered after the switch (same queue), so there is
    /// nothing to wait for. A failed fsync here poisons the log as any other.
    pub fn set_fsync(&self, fsync: FsyncPolicy) {
        if let Some(io) = &self.io {
            let _ = io.send(Io::SetFsync { fsync });
        }
    }

    // openraft's error type is what the trait returns; boxing it here would
    // only move the size to every caller.
    #[allow(clippy::result_large_err)]
    fn read_range(&self, start: u64, end: u64) -> StoreResult<Vec<Entry>> {
        let mut out = Vec::new();
        if start >= end {
            return Ok(out);
        }
        let cache_first = {
            let ix = lock(&self.shared.index);
            ix.cache_first()
        };
        // The part below the cache comes from disk.
        let disk_end = cache_first.map_or(end, |c| c.min(end));
        if start < disk_end {
            let Some(log) = &self.shared.log else {
                return Err(read_err(std::io::Error::other(format!(
                    "entries {start}..{disk_end} were dropped after apply (appendonly no)"
                ))));
            };
            let log = lock(log);
            // Only what the log holds: openraft accepts a shorter answer.
            let lo = start.max(log.first_index().unwrap_or(start));
            let hi = disk_end.min(log.next_index().unwrap_or(lo));
            for rec in log.read(lo..hi.max(lo)).map_err(read_err)? {
                let (_, payload) = rec.map_err(read_err)?;
                out.push(decode_entry(Bytes::from(payload)).map_err(read_err)?);
            }
        }
        let ix = lock(&self.shared.index);
        let from = start.max(disk_end);
        if let Some(first) = ix.cache_first() {
            for i in from..end {
                match i.checked_sub(first).and_then(|o| ix.cache.get(o as usize)) {
                    Some(e) => out.push(e.clone()),
                    None => break,
                }
            }
        }
        Ok(out)
    }
}

fn range_bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        let (mut start, mut end) = range_bounds(&range);
        {
            let ix = lock(&self.shared.index);
            let last = ix.last_log_id.map_or(0, |l| l.index + 1);
            end = end.min(last);
            if let Some(p) = ix.last_purged {
                start = start.max(p.index + 1);
            }
        }
        self.read_range(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let ix = lock(&self.shared.index);
        Ok(LogState {
            last_purged_log_id: ix.last_purged,
            last_log_id: ix.last_log_id.or(ix.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StoreResult<()> {
        let purged = {
            let mut ix = lock(&self.shared.index);
            ix.vote = Some(*vote);
            ix.last_purged
        };
        let vote = *vote;
        self.send_and_wait(|done| Io::SaveVote { vote, purged, done })
            .await
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<u64>>> {
        Ok(lock(&self.shared.index).vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let applied = self.shared.applied.load(Ordering::Relaxed);
        let mut records = Vec::new();
        {
            let mut ix = lock(&self.shared.index);
            let purged = ix.last_purged.map(|p| p.index);
            for e in entries {
                // Covered by a snapshot already: nothing to keep.
                if purged.is_some_and(|p| e.log_id.index <= p) {
                    continue;
                }
                if self.io.is_some() {
                    let mut buf = Vec::new();
                    encode_entry(&e, &mut buf);
                    records.push((e.log_id.index, buf));
                }
                ix.last_log_id = Some(e.log_id);
                ix.cache.push_back(e);
            }
            // Applied entries leave the cache (on disk they can be read
            // back). In memory mode they are gone for good, so a window of
            // the newest applied ones stays for openraft's own lookups near
            // the tail; older ones could only matter to a follower, and a
            // group of one has none.
            let keep = if self.io.is_none() { MEMORY_KEEP } else { 0 };
            while ix
                .cache_first()
                .is_some_and(|f| f.saturating_add(keep) < applied)
            {
                ix.cache.pop_front();
            }
        }
        match &self.io {
            None => callback.log_io_completed(Ok(())),
            Some(io) => {
                if let Err(mpsc::SendError(Io::Append { callback, .. })) =
                    io.send(Io::Append { records, callback })
                {
                    callback.log_io_completed(Err(std::io::Error::other("log writer stopped")));
                }
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> StoreResult<()> {
        let since = log_id.index;
        {
            let mut ix = lock(&self.shared.index);
            while ix.cache.back().is_some_and(|e| e.log_id.index >= since) {
                ix.cache.pop_back();
            }
        }
        self.send_and_wait(|done| Io::Truncate { since, done })
            .await?;
        // The new last entry: in the cache, or on disk below it.
        let prev = match since.checked_sub(1) {
            None => None,
            Some(p) => {
                let purged = lock(&self.shared.index).last_purged;
                if purged.is_some_and(|x| x.index >= p) {
                    purged
                } else {
                    self.read_range(p, p + 1)?.pop().map(|e| e.log_id)
                }
            }
        };
        let mut ix = lock(&self.shared.index);
        ix.last_log_id = prev.or(ix.last_purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> StoreResult<()> {
        let vote = {
            let mut ix = lock(&self.shared.index);
            ix.last_purged = Some(log_id);
            if ix.last_log_id.is_none_or(|l| l.index < log_id.index) {
                ix.last_log_id = Some(log_id);
            }
            while ix.cache_first().is_some_and(|f| f <= log_id.index) {
                ix.cache.pop_front();
            }
            ix.vote
        };
        self.send_and_wait(|done| Io::Purge {
            upto: log_id.index,
            purged: Some(log_id),
            vote,
            done,
        })
        .await
    }
}

/// The thread that owns the files.
struct Writer {
    log: Arc<Mutex<Log<Backend>>>,
    meta: MetaStore,
    fsync: FsyncPolicy,
    health: Arc<LogHealth>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Io>) {
        let tick = Duration::from_secs(1);
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(io) => io,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.everysec();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.everysec();
                    return;
                }
            };
            let mut batch = vec![first];
            while let Ok(io) = rx.try_recv() {
                batch.push(io);
            }
            let mut appends = Vec::new();
            for io in batch {
                match io {
                    Io::Append { records, callback } => appends.push((records, callback)),
                    other => {
                        self.flush_appends(std::mem::take(&mut appends));
                        self.other(other);
                    }
                }
            }
            self.flush_appends(appends);
        }
    }

    /// `appendfsync everysec`: fsync what the last second appended.
    fn everysec(&mut self) {
        if self.fsync != FsyncPolicy::EverySec {
            return;
        }
        let r = {
            let mut log = lock(&self.log);
            if log.needs_sync() && !log.is_poisoned() {
                self.health.fsyncs.fetch_add(1, Ordering::Relaxed);
                log.sync()
            } else {
                Ok(())
            }
        };
        let r = r.and_then(|()| self.meta.sync());
        if let Err(e) = r {
            self.poison(&e);
        }
    }

    fn poison(&self, e: &LogError) {
        tracing::error!(error = %e, "the log is poisoned: refusing writes until restart");
        self.health.set_error(e.to_string());
        self.health.poisoned.store(true, Ordering::SeqCst);
    }

    /// Writes runs of appends with one `Log::append` (one fsync), then
    /// fires their callbacks.
    fn flush_appends(&mut self, appends: Vec<(Vec<(u64, Vec<u8>)>, LogFlushed<TypeConfig>)>) {
        if appends.is_empty() {
            return;
        }
        let records: Vec<(u64, &[u8])> = appends
            .iter()
            .flat_map(|(r, _)| r.iter().map(|(i, p)| (*i, p.as_slice())))
            .collect();
        let bytes: u64 = records.iter().map(|(_, p)| p.len() as u64).sum();
        let mut warned = false;
        let result = loop {
            let r = lock(&self.log).append(&records);
            match r {
                Err(LogError::DiskFull { file }) => {
                    // Nothing was written; refuse new writes and retry until
                    // space returns (Redis retries its AOF write the same way).
                    if !warned {
                        let msg = format!("disk full while appending to {file}");
                        tracing::error!("{msg}; refusing writes until space is freed");
                        self.health.set_error(msg);
                        self.health.disk_full.store(true, Ordering::SeqCst);
                        warned = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => break other,
            }
        };
        if warned {
            tracing::warn!("space is available again: appends resumed");
            self.health.disk_full.store(false, Ordering::SeqCst);
            if !self.health.poisoned.load(Ordering::SeqCst) {
                *lock(&self.health.last_error) = None;
            }
        }
        match result {
            Ok(()) => {
                self.health.appends.fetch_add(1, Ordering::Relaxed);
                self.health
                    .bytes_written
                    .fetch_add(bytes, Ordering::Relaxed);
                if self.fsync == FsyncPolicy::Always {
                    self.health.fsyncs.fetch_add(1, Ordering::Relaxed);
                }
                for (_, cb) in appends {
                    cb.log_io_completed(Ok(()));
                }
            }
            Err(e) => {
                self.poison(&e);
                for (_, cb) in appends {
                    cb.log_io_completed(Err(std::io::Error::other(e.to_string())));
                }
            }
        }
    }

    fn other(&mut self, io: Io) {
        match io {
            Io::Append { .. } => {}
            Io::Truncate { since, done } => {
                let mut log = lock(&self.log);
                let r = match since.checked_sub(1) {
                    Some(keep) => log.truncate_after(keep),
                    None => log.clear(0),
                };
                let _ = done.send(r);
            }
            Io::Purge {
                upto,
                purged,
                vote,
                done,
            } => {
                // Record the purge point first: a crash between the two
                // leaves extra entries, which open() purges again.
                let r = self
                    .meta
                    .save(MetaState { vote, purged })
                    .and_then(|()| lock(&self.log).purge_before(upto + 1));
                let _ = done.send(r);
            }
            Io::SetFsync { fsync } => {
                let r = lock(&self.log).sync().and_then(|()| self.meta.sync());
                match r {
                    Ok(()) => {
                        self.fsync = fsync;
                        lock(&self.log).set_fsync(fsync);
                        self.meta.set_fsync(fsync);
                    }
                    Err(e) => self.poison(&e),
                }
            }
            Io::Flush { done } => {
                let r = {
                    let mut log = lock(&self.log);
                    log.trim().and_then(|()| log.sync())
                }
                .and_then(|()| self.meta.sync());
                let _ = done.send(r);
            }
            Io::SaveVote { vote, purged, done } => {
                let r = self.meta.save(MetaState {
                    vote: Some(vote),
                    purged,
                });
                if let Err(e) = &r {
                    self.poison(e);
                }
                let _ = done.send(r);
            }
        }
    }
}
