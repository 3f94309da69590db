//! `RaftStateMachine` over the server's [`Apply`] implementation, and
//! snapshots.
//!
//! Apply hands each normal entry's commands to the server in log order
//! and returns their outcomes, which openraft routes to the proposer: the
//! reply to a write is what applying it produced.
//!
//! Snapshots never stall clients for the serialisation: the consistent
//! copy is taken in `get_snapshot_builder` (on the state-machine task,
//! between two applies, so it matches `last_applied` exactly) and written,
//! checksummed and fsynced on a blocking thread while applies go on.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};

use crate::snapshot_file::{self, SnapshotFileError};
use crate::{Applied, Apply, Entry, LogId, LogStore, SnapshotSource, TypeConfig};

type StoreResult<T> = Result<T, StorageError<u64>>;

fn snap_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::new(
            ErrorSubject::Snapshot(None),
            ErrorVerb::Write,
            AnyError::new(&e),
        ),
    }
}

/// What INFO persistence and LASTSAVE show about snapshots.
#[derive(Debug, Default)]
pub struct SnapshotStatus {
    /// A snapshot is being written.
    pub in_progress: AtomicBool,
    /// Unix seconds of the last successful snapshot (or of start-up).
    pub last_save_unix: AtomicU64,
    /// Whether the last snapshot attempt succeeded.
    pub last_ok: AtomicBool,
    /// Milliseconds the last snapshot took.
    pub last_duration_ms: AtomicU64,
    /// Bytes of the last snapshot.
    pub last_bytes: AtomicU64,
    /// Log index the last snapshot covers.
    pub last_index: AtomicU64,
    /// Snapshots written since start.
    pub count: AtomicU64,
    /// Why the last attempt failed.
    pub last_error: Mutex<Option<String>>,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The state machine.
pub struct StateMachine<A: Apply> {
    app: Arc<A>,
    last_applied: Option<LogId>,
    membership: StoredMembership<u64, BasicNode>,
    /// Where the snapshot file lives (`None`: tests without files).
    dir: Option<PathBuf>,
    log: LogStore,
    status: Arc<SnapshotStatus>,
    /// Whether the file's Raft metadata belongs to this log: false with
    /// `appendonly no` until this run writes or installs a snapshot.
    file_is_raft: bool,
    /// Without a directory, the current snapshot is kept in memory.
    in_memory: Arc<Mutex<Option<Vec<u8>>>>,
}

impl<A: Apply> StateMachine<A> {
    /// Opens the state machine: loads the snapshot in `dir` if there is
    /// one. With `raft_meta` false (`appendonly no`: the log is not kept),
    /// only the dataset is loaded, as Redis loads an RDB file, and the Raft
    /// position starts afresh.
    pub fn open(
        app: Arc<A>,
        dir: Option<PathBuf>,
        log: LogStore,
        raft_meta: bool,
    ) -> Result<(Self, Option<SnapshotMeta<u64, BasicNode>>), SnapshotFileError> {
        let status = Arc::new(SnapshotStatus::default());
        status.last_ok.store(true, Ordering::Relaxed);
        status.last_save_unix.store(unix_secs(), Ordering::Relaxed);
        let mut sm = StateMachine {
            app,
            last_applied: None,
            membership: StoredMembership::default(),
            dir,
            log,
            status,
            file_is_raft: raft_meta,
            in_memory: Arc::new(Mutex::new(None)),
        };
        let mut loaded = None;
        if let Some(dir) = &sm.dir {
            if let Some(p) = snapshot_file::read(dir)? {
                let file = snapshot_file::path_in(dir).display().to_string();
                sm.app
                    .restore(&mut &p.body[..])
                    .map_err(|reason| SnapshotFileError::Corrupt {
                        file,
                        offset: 0,
                        reason,
                    })?;
                if raft_meta {
                    sm.last_applied = p.meta.last_log_id;
                    sm.membership = p.meta.last_membership.clone();
                    if let Some(l) = p.meta.last_log_id {
                        sm.log.set_applied(l.index);
                    }
                }
                loaded = Some(p.meta);
            }
        }
        Ok((sm, loaded))
    }

    /// Snapshot status for INFO and LASTSAVE.
    pub fn status(&self) -> Arc<SnapshotStatus> {
        self.status.clone()
    }

    fn meta(&self) -> SnapshotMeta<u64, BasicNode> {
        let id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => "empty".to_owned(),
        };
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{id}-{}", unix_secs()),
        }
    }
}

/// Builds one snapshot from a copy taken at a known log position.
pub struct Builder<A: Apply> {
    app: Arc<A>,
    source: Option<Box<dyn SnapshotSource>>,
    meta: SnapshotMeta<u64, BasicNode>,
    dir: Option<PathBuf>,
    status: Arc<SnapshotStatus>,
    in_memory: Arc<Mutex<Option<Vec<u8>>>>,
}

impl<A: Apply> RaftSnapshotBuilder<TypeConfig> for Builder<A> {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let Some(source) = self.source.take() else {
            return Err(snap_err(std::io::Error::other(
                "snapshot builder used twice",
            )));
        };
        let meta = self.meta.clone();
        let dir = self.dir.clone();
        let status = self.status.clone();
        let started = std::time::Instant::now();
        let m2 = meta.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, SnapshotFileError> {
            let bytes =
                snapshot_file::encode(&m2, |out| source.write_to(out)).map_err(|source| {
                    SnapshotFileError::Io {
                        file: "snapshot".into(),
                        source,
                    }
                })?;
            if let Some(dir) = &dir {
                snapshot_file::write_atomic(dir, &bytes)?;
            }
            Ok(bytes)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()));
        status.in_progress.store(false, Ordering::SeqCst);
        let bytes = match result {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                record_failure(&status, &e.to_string());
                return Err(snap_err(e));
            }
            Err(e) => {
                record_failure(&status, &e.to_string());
                return Err(snap_err(e));
            }
        };
        if self.dir.is_none() {
            *lock(&self.in_memory) = Some(bytes.clone());
        }
        let index = meta.last_log_id.map_or(0, |l| l.index);
        status.last_ok.store(true, Ordering::SeqCst);
        status.last_save_unix.store(unix_secs(), Ordering::SeqCst);
        status
            .last_duration_ms
            .store(started.elapsed().as_millis() as u64, Ordering::SeqCst);
        status
            .last_bytes
            .store(bytes.len() as u64, Ordering::SeqCst);
        status.last_index.store(index, Ordering::SeqCst);
        status.count.fetch_add(1, Ordering::SeqCst);
        self.app.snapshot_saved(index, bytes.len() as u64);
        tracing::info!(index, bytes = bytes.len(), "snapshot written");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn record_failure(status: &SnapshotStatus, e: &str) {
    tracing::error!(error = e, "snapshot failed");
    status.last_ok.store(false, Ordering::SeqCst);
    *lock(&status.last_error) = Some(e.to_owned());
}

impl<A: Apply> RaftStateMachine<TypeConfig> for StateMachine<A> {
    type SnapshotBuilder = Builder<A>;

    async fn applied_state(
        &mut self,
    ) -> StoreResult<(Option<LogId>, StoredMembership<u64, BasicNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for e in entries {
            self.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(Applied::default()),
                EntryPayload::Normal(p) => {
                    out.push(Applied(self.app.apply(e.log_id.index, &p.0)));
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(Applied::default());
                }
            }
        }
        if let Some(l) = self.last_applied {
            self.log.set_applied(l.index);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.status.in_progress.store(true, Ordering::SeqCst);
        self.file_is_raft = true;
        Builder {
            app: self.app.clone(),
            source: Some(self.app.snapshot_source()),
            meta: self.meta(),
            dir: self.dir.clone(),
            status: self.status.clone(),
            in_memory: self.in_memory.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StoreResult<()> {
        let bytes = Bytes::from(snapshot.into_inner());
        let parsed = snapshot_file::decode(bytes.clone(), "received").map_err(snap_err)?;
        self.app
            .restore(&mut &parsed.body[..])
            .map_err(|e| snap_err(std::io::Error::other(e)))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        if let Some(l) = meta.last_log_id {
            self.log.set_applied(l.index);
        }
        match &self.dir {
            Some(dir) => {
                snapshot_file::write_atomic(dir, &bytes).map_err(snap_err)?;
                self.file_is_raft = true;
            }
            None => *lock(&self.in_memory) = Some(bytes.to_vec()),
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        let (bytes, p) = match &self.dir {
            None => match lock(&self.in_memory).clone() {
                Some(b) => (b, PathBuf::from("memory")),
                None => return Ok(None),
            },
            Some(_) if !self.file_is_raft => return Ok(None),
            Some(dir) => {
                let p = snapshot_file::path_in(dir);
                match std::fs::read(&p) {
                    Ok(b) => (b, p),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(snap_err(e)),
                }
            }
        };
        let parsed = snapshot_file::decode(Bytes::from(bytes.clone()), &p.display().to_string())
            .map_err(snap_err)?;
        Ok(Some(Snapshot {
            meta: parsed.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
