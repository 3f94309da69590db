//! #[PerformanceCriticalPath]
//! The write path: every write becomes a command in a log entry of the
//! node's openraft group, and its reply is what applying it produced.
//!
//! * [`WritePath::submit`] queues a command for the proposer task, which
//!   drains whatever is queued (from every connection, in arrival order)
//!   into one [`Proposal`] — group commit before the log even sees it —
//!   and hands it to openraft without waiting for the commit; a responder
//!   task routes each entry's outcomes back in order.
//! * [`ServerApply`] is the state machine's side: it runs the commands on
//!   [`Core`] (engine, blocked clients, WATCH registry) in log order.
//!   Session state that changes what a later write does (who is blocked,
//!   who watches what) is changed only by log commands, so replay from a
//!   snapshot reproduces the live run exactly.
//! * Snapshots carry that session state before the engine's dataset.
//! * Persistence commands (SAVE, BGSAVE, LASTSAVE), INFO persistence,
//!   the automatic snapshot, and the shutdown flush.
//!
//! A poisoned log (failed fsync) or a full disk makes `submit` refuse
//! with Redis's `MISCONF` error while reads go on.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{BufMut, Bytes};
use lattice_engine::{CmdError, Reply, WriteOp};
use lattice_raft::codec::{put_argv, put_bytes};
use lattice_raft::log_store::LogHealth;
use lattice_raft::state_machine::SnapshotStatus;
use lattice_raft::{
    Applied, Apply, Command, LogStore, Node, Outcome, Proposal, Raft, SnapshotSource,
    INTERNAL_CLIENT,
};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::shared::{Blocked, Core, Shared};
use crate::transaction::Watches;

/// Commands per log entry at most (bounds one apply's hold on the engine).
const MAX_BATCH: usize = 1024;

/// How long an entry waits for the previous entry's clients under
/// `appendfsync always` (`LATTICE_GROUP_COMMIT_LINGER_US`, default 500 µs):
/// each entry costs an fsync there, so fewer, fuller entries win.
pub fn group_commit_linger() -> Duration {
    Duration::from_micros(
        std::env::var("LATTICE_GROUP_COMMIT_LINGER_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    )
}

type Reply2 = Result<Outcome, CmdError>;

struct Pending {
    cmd: Command,
    tx: oneshot::Sender<Reply2>,
}

/// What `client_write_ff` hands back (openraft's tokio oneshot receiver).
type ResponderRx = oneshot::Receiver<
    Result<
        openraft::raft::ClientWriteResponse<lattice_raft::TypeConfig>,
        openraft::error::ClientWriteError<u64, openraft::BasicNode>,
    >,
>;

/// The node's write path.
pub struct WritePath {
    tx: mpsc::UnboundedSender<Pending>,
    /// The Raft handle.
    pub raft: Raft,
    /// Log health.
    pub health: Arc<LogHealth>,
    /// Snapshot status.
    pub snapshots: Arc<SnapshotStatus>,
    log: LogStore,
    /// Engine `dirty` counter when the last snapshot's copy was taken.
    pub dirty_at_snapshot: Arc<AtomicU64>,
    /// Log bytes written when the last snapshot finished.
    pub log_bytes_at_snapshot: Arc<AtomicU64>,
    /// Keys loaded from disk at start.
    pub keys_loaded: u64,
    /// The proposer's group-commit linger in microseconds (0: none).
    linger_us: Arc<AtomicU64>,
    /// The entry log's fault injector (`debug-log-faults yes`).
    pub faults: Option<lattice_storage::FaultBackend<Arc<lattice_storage::FsBackend>>>,
}

/// The MISCONF error Redis answers writes with when it cannot persist them.
pub fn misconf(why: &str) -> CmdError {
    CmdError::Other(format!(
        "MISCONF Errors writing to the log: {why}. Writes are refused; reads are served"
    ))
}

impl WritePath {
    /// Starts the proposer and responder tasks for an opened node.
    /// `linger` is how long an entry may wait for the clients of the
    /// previous one (zero unless every entry costs an fsync).
    pub fn start(node: Node, app: &ServerApply, linger: Duration) -> WritePath {
        let (tx, rx) = mpsc::unbounded_channel();
        let (resp_tx, resp_rx) = mpsc::unbounded_channel();
        let linger_us = Arc::new(AtomicU64::new(linger.as_micros() as u64));
        tokio::spawn(proposer(
            node.raft.clone(),
            rx,
            resp_tx,
            node.log_health.clone(),
            linger_us.clone(),
        ));
        tokio::spawn(responder(resp_rx, node.log_health.clone()));
        WritePath {
            tx,
            raft: node.raft,
            health: node.log_health,
            snapshots: node.snapshots,
            log: node.log,
            dirty_at_snapshot: app.dirty_at_snapshot.clone(),
            log_bytes_at_snapshot: app.log_bytes_at_snapshot.clone(),
            keys_loaded: 0,
            linger_us,
            faults: None,
        }
    }

    /// Why writes are refused now, if they are.
    pub fn refusal(&self) -> Option<CmdError> {
        let h = &self.health;
        if h.poisoned.load(Ordering::Relaxed) || h.disk_full.load(Ordering::Relaxed) {
            return Some(misconf(
                &h.error().unwrap_or_else(|| "the log failed".to_owned()),
            ));
        }
        None
    }

    /// Queues `cmd` for the log. Commands a connection submits are applied
    /// in submission order, so a caller need not wait for one before
    /// submitting the next.
    pub fn submit(&self, cmd: Command) -> Result<oneshot::Receiver<Reply2>, CmdError> {
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Pending { cmd, tx })
            .map_err(|_| CmdError::err("the write path has stopped"))?;
        Ok(rx)
    }

    /// Submits `cmd` and waits for its outcome.
    pub async fn propose(&self, cmd: Command) -> Reply2 {
        let rx = self.submit(cmd)?;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self
                .refusal()
                .unwrap_or_else(|| CmdError::err("the write path has stopped"))),
        }
    }

    /// `CONFIG SET appendfsync`: switches the log's policy, and the
    /// group-commit linger with it (only `always` pays an fsync per entry).
    pub fn set_fsync(&self, fsync: lattice_storage::FsyncPolicy) {
        self.log.set_fsync(fsync);
        let linger = if self.durable() && fsync == lattice_storage::FsyncPolicy::Always {
            group_commit_linger()
        } else {
            Duration::ZERO
        };
        self.linger_us
            .store(linger.as_micros() as u64, Ordering::Relaxed);
    }

    /// Whether the log is on disk.
    pub fn durable(&self) -> bool {
        self.log.is_durable()
    }

    /// Starts a snapshot unless one is running; false if one was.
    pub async fn start_snapshot(&self) -> Result<bool, CmdError> {
        if self.snapshots.in_progress.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| CmdError::err(format!("snapshot failed: {e}")))?;
        Ok(true)
    }

    /// SAVE: takes a snapshot covering everything applied now and waits
    /// until it is on disk.
    pub async fn save(&self) -> Result<(), CmdError> {
        let target = self.raft.metrics().borrow().last_applied.map(|l| l.index);
        let before = self.snapshots.count.load(Ordering::SeqCst);
        // A snapshot already running may predate `target`: let it finish.
        while self.snapshots.in_progress.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.start_snapshot().await?;
        let mut metrics = self.raft.metrics();
        loop {
            let done = {
                let m = metrics.borrow();
                m.snapshot.map(|s| s.index) >= target
                    && self.snapshots.count.load(Ordering::SeqCst) > before
            };
            if done {
                return Ok(());
            }
            if !self.snapshots.in_progress.load(Ordering::SeqCst)
                && !self.snapshots.last_ok.load(Ordering::SeqCst)
            {
                let why = self
                    .snapshots
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .unwrap_or_default();
                return Err(CmdError::err(format!("snapshot failed: {why}")));
            }
            // Woken by metrics changes; the timeout covers a failure that
            // changes no metric.
            let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
        }
    }

    /// Whether the log grew enough since the last snapshot to compact it
    /// (Redis's auto-aof-rewrite rule).
    pub fn wants_snapshot(&self, percentage: u64, min_size: u64) -> bool {
        if percentage == 0 || !self.durable() {
            return false;
        }
        let grown = self
            .health
            .bytes_written
            .load(Ordering::Relaxed)
            .saturating_sub(self.log_bytes_at_snapshot.load(Ordering::Relaxed));
        let base = self.snapshots.last_bytes.load(Ordering::Relaxed);
        grown >= min_size && grown.saturating_mul(100) >= base.saturating_mul(percentage)
    }

    /// Shutdown: optionally snapshot, make every appended entry durable
    /// and stop Raft.
    pub async fn shutdown(&self, save: bool) {
        if save {
            if let Err(e) = self.save().await {
                tracing::error!(error = %e.to_string(), "snapshot at shutdown failed");
            }
        }
        if let Err(e) = self.log.flush().await {
            tracing::error!(error = %e, "flushing the log at shutdown failed");
        }
        // The state machine may be stuck in a script SHUTDOWN NOSAVE cut
        // short; the log is already flushed, so do not wait on it forever.
        match tokio::time::timeout(Duration::from_secs(5), self.raft.shutdown()).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "raft shutdown"),
            Err(_) => tracing::warn!("raft did not stop within 5 s; exiting anyway"),
            Ok(Ok(())) => {}
        }
    }

    /// Entries held in the log.
    pub fn log_entries(&self) -> u64 {
        self.log.len()
    }
}

/// Opens the node in the configured `dir` (recovering what is there),
/// starts the write path and forgets the previous run's client sessions.
pub async fn open(shared: &Arc<Shared>, addr: Option<std::net::SocketAddr>) -> std::io::Result<()> {
    let cfg = shared.config();
    let started = std::time::Instant::now();
    *shared
        .aborted_scripts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        crate::scripting::load_aborted(&cfg.dir);
    let app = Arc::new(ServerApply::new(shared));
    let mut faults = None;
    let mut backends = None;
    if cfg.debug_log_faults && cfg.appendonly {
        let fault_backend = |sub: &str| -> std::io::Result<_> {
            lattice_storage::FaultBackend::new(Arc::new(lattice_storage::FsBackend::open(
                cfg.dir.join(sub),
            )?))
        };
        let log = fault_backend("raft-log")?;
        let meta = fault_backend("raft-meta")?;
        faults = Some(log.clone());
        let log: lattice_raft::meta::Backend = Arc::new(log);
        let meta: lattice_raft::meta::Backend = Arc::new(meta);
        backends = Some((log, meta));
        tracing::warn!("debug-log-faults is on: DEBUG LOG-FAULT can break the log");
    }
    let opts = lattice_raft::NodeOptions {
        dir: cfg.dir.clone(),
        durability: lattice_raft::Durability {
            appendonly: cfg.appendonly,
            fsync: cfg.appendfsync,
        },
        id: 1,
        addr: addr.map_or_else(|| "127.0.0.1:6379".to_owned(), |a| a.to_string()),
        segment_size: lattice_storage::DEFAULT_SEGMENT_SIZE,
        backends,
    };
    let node = Node::open(opts, app.clone()).await.map_err(|e| {
        let dir = std::fs::canonicalize(&cfg.dir).unwrap_or_else(|_| cfg.dir.clone());
        std::io::Error::other(format!("cannot open the data in {}: {e}", dir.display()))
    })?;
    let _ = app.health.set(node.log_health.clone());
    let loaded_snapshot = node.loaded_snapshot;
    let replayed = node
        .log_report
        .as_ref()
        .and_then(|r| r.last_log_id)
        .map_or(0, |l| l.index);
    let linger = if cfg.appendonly && cfg.appendfsync == lattice_storage::FsyncPolicy::Always {
        group_commit_linger()
    } else {
        Duration::ZERO
    };
    let mut wp = WritePath::start(node, &app, linger);
    wp.faults = faults;
    wp.keys_loaded = {
        let core = shared.core();
        (0..core.engine.db_count())
            .filter_map(|i| core.engine.db(i))
            .map(|d| d.len() as u64)
            .sum()
    };
    let keys = wp.keys_loaded;
    shared.set_write_path(wp);
    // The previous run's clients are gone: their waiters and watches too.
    shared
        .propose(Command::ResetSessions)
        .await
        .map_err(|e| std::io::Error::other(format!("cannot start the write path: {e}")))?;
    // Replay is over: from now on only SCRIPT KILL stops a busy script.
    shared.scripts.set_auto_kill(false);
    tracing::info!(
        keys,
        snapshot = loaded_snapshot,
        last_log_index = replayed,
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The commands of the entry being collected.
#[derive(Default)]
struct Batch {
    cmds: Vec<Command>,
    txs: Vec<oneshot::Sender<Reply2>>,
    /// Clients with a write in it.
    clients: HashSet<u64>,
}

impl Batch {
    fn push(&mut self, p: Pending) {
        if let Command::Write { client, .. } = &p.cmd {
            self.clients.insert(*client);
        }
        self.cmds.push(p.cmd);
        self.txs.push(p.tx);
    }

    /// Takes what is queued, up to the entry size; true if anything came.
    fn drain(&mut self, rx: &mut mpsc::UnboundedReceiver<Pending>) -> bool {
        let before = self.cmds.len();
        while self.cmds.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => self.push(p),
                Err(_) => break,
            }
        }
        self.cmds.len() > before
    }
}

/// Answers every waiting command with the same error.
fn fail_all(txs: Vec<oneshot::Sender<Reply2>>, e: &CmdError) {
    for tx in txs {
        let _ = tx.send(Err(e.clone()));
    }
}

async fn proposer(
    raft: Raft,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    resp_tx: mpsc::UnboundedSender<(
        ResponderRx,
        Vec<oneshot::Sender<Reply2>>,
        OwnedSemaphorePermit,
    )>,
    health: Arc<LogHealth>,
    linger_us: Arc<AtomicU64>,
) {
    // One entry in flight: openraft 0.9 appends and fsyncs each entry on its
    // own (RaftCore waits for every flush), so group commit happens here:
    // while an entry is made durable and applied, new commands queue, and
    // the next entry takes all of them.
    let in_flight = Arc::new(Semaphore::new(1));
    // Clients whose commands made up the previous entry.
    let mut previous: HashSet<u64> = HashSet::new();
    while let Some(first) = rx.recv().await {
        // Wait for room before collecting: what arrives meanwhile joins
        // this entry.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Batch::default();
        batch.push(first);
        batch.drain(&mut rx);
        // Group commit across round trips: the clients of the previous
        // entry have just been answered and are about to send their next
        // command; linger briefly (yielding, so their connections run) until
        // they are all here, so concurrent clients converge on one entry
        // per fsync instead of alternating halves.
        // It gives up after `linger` in all, or after a quiet gap of a
        // third of it (a client that went on to do something else).
        let linger = Duration::from_micros(linger_us.load(Ordering::Relaxed));
        if !linger.is_zero() && previous.len() > 1 {
            let start = std::time::Instant::now();
            let mut last_arrival = start;
            while batch.cmds.len() < MAX_BATCH && !previous.is_subset(&batch.clients) {
                let now = std::time::Instant::now();
                if now - start >= linger || now - last_arrival >= linger / 3 {
                    break;
                }
                tokio::task::yield_now().await;
                if batch.drain(&mut rx) {
                    last_arrival = std::time::Instant::now();
                }
            }
        }
        let Batch { cmds, txs, clients } = batch;
        previous = clients;
        match raft.client_write_ff(Proposal::from(cmds)).await {
            Ok(r) => {
                let _ = resp_tx.send((r, txs, permit));
            }
            Err(fatal) => fail_all(txs, &stopped(&health, &fatal.to_string())),
        }
    }
}

fn stopped(health: &LogHealth, why: &str) -> CmdError {
    if health.poisoned.load(Ordering::Relaxed) {
        misconf(&health.error().unwrap_or_default())
    } else {
        CmdError::err(format!("the write was not applied: {why}"))
    }
}

/// The reply to a write whose fate the node cannot know.
fn unknown_outcome(health: &LogHealth) -> CmdError {
    let why = health
        .error()
        .unwrap_or_else(|| "the node stopped".to_owned());
    CmdError::Other(format!(
        "IOERR the write's outcome is unknown: {why}; it may or may not be present after a restart"
    ))
}

async fn responder(
    mut rx: mpsc::UnboundedReceiver<(
        ResponderRx,
        Vec<oneshot::Sender<Reply2>>,
        OwnedSemaphorePermit,
    )>,
    health: Arc<LogHealth>,
) {
    while let Some((r, txs, permit)) = rx.recv().await {
        let result = r.await;
        // The entry is applied: the proposer may send the next one.
        drop(permit);
        match result {
            Ok(Ok(resp)) => {
                let Applied(outcomes) = resp.data;
                let mut outcomes = outcomes.into_iter();
                for tx in txs {
                    let o = outcomes
                        .next()
                        .ok_or_else(|| CmdError::err("missing outcome"));
                    let _ = tx.send(o);
                }
            }
            Ok(Err(e)) => fail_all(txs, &stopped(&health, &e.to_string())),
            // The entry was handed to the log but the node stopped before
            // it was applied: it may have reached the disk (an fsync that
            // fails does not unwrite the page cache), so the client must
            // treat it as indeterminate.
            Err(_) => fail_all(txs, &unknown_outcome(&health)),
        }
    }
}

impl Core {
    /// Applies one log command (the state machine's unit of work).
    pub fn run(&mut self, cmd: &Command) -> Outcome {
        match *cmd {
            Command::Write { client, ref op } => {
                if let WriteOp::Batch { time_ms, .. } = op {
                    // EXEC: the WATCH check happens here, in log order.
                    if client != INTERNAL_CLIENT
                        && self.watches.take_dirty(client, &self.engine, *time_ms)
                    {
                        return Outcome::Reply(Reply::NilArray);
                    }
                }
                let may_block = client != INTERNAL_CLIENT && matches!(op, WriteOp::Command { .. });
                match self.apply_as(client, op, may_block) {
                    Reply::WouldBlock { keys, timeout_ms } => {
                        let WriteOp::Command { db, args, .. } = op else {
                            return Outcome::Reply(Reply::Error(CmdError::err(
                                "only a single command can block",
                            )));
                        };
                        let rx = self.blocked.add(client, *db, args.clone(), keys);
                        Outcome::Blocked { rx, timeout_ms }
                    }
                    r => Outcome::Reply(r),
                }
            }
            Command::Unblock { client } => {
                let was = self.blocked.take(client).is_some();
                Outcome::Reply(Reply::Int(i64::from(was)))
            }
            Command::Watch {
                client,
                db,
                ref keys,
                time_ms,
            } => {
                self.watches.watch(client, db, keys, &self.engine, time_ms);
                Outcome::Reply(Reply::Ok)
            }
            Command::Unwatch { client } => {
                self.watches.unwatch(client);
                Outcome::Reply(Reply::Ok)
            }
            Command::ResetSessions => {
                self.blocked = Blocked::default();
                self.watches = Watches::default();
                Outcome::Reply(Reply::Ok)
            }
            Command::Script {
                client,
                db,
                ref argv,
                time_ms,
                seed,
                resp3,
            } => {
                let ctx = lattice_script::RunCtx {
                    db,
                    time_ms,
                    seed,
                    resp3,
                    read_only: false,
                };
                Outcome::Reply(self.run_script(client, argv, ctx))
            }
            Command::Function { ref argv } => Outcome::Reply(self.run_function(argv)),
            Command::Populate {
                db,
                count,
                ref prefix,
                size,
                time_ms,
            } => {
                let size = size.map(|s| usize::try_from(s).unwrap_or(usize::MAX));
                self.engine.populate(db, count, prefix, size, time_ms);
                Outcome::Reply(Reply::Ok)
            }
        }
    }
}

/// The state machine's view of the server.
pub struct ServerApply {
    shared: Weak<Shared>,
    dirty_at_snapshot: Arc<AtomicU64>,
    log_bytes_at_snapshot: Arc<AtomicU64>,
    /// Log health, once the node is open (bytes at snapshot time).
    pub health: std::sync::OnceLock<Arc<LogHealth>>,
}

impl ServerApply {
    /// The applier for `shared`.
    pub fn new(shared: &Arc<Shared>) -> Self {
        ServerApply {
            shared: Arc::downgrade(shared),
            dirty_at_snapshot: Arc::new(AtomicU64::new(0)),
            log_bytes_at_snapshot: Arc::new(AtomicU64::new(0)),
            health: std::sync::OnceLock::new(),
        }
    }
}

/// Session section magic (version 2 adds the function libraries).
const SESSIONS_MAGIC: &[u8; 8] = b"LATSESS2";
/// The version-1 section, without libraries (still read).
const SESSIONS_MAGIC_V1: &[u8; 8] = b"LATSESS1";

/// The server's part of a snapshot: session state, then the dataset.
struct ServerSnapshot {
    sessions: Vec<u8>,
    view: lattice_engine::SnapshotView,
}

impl SnapshotSource for ServerSnapshot {
    fn write_to(&self, w: &mut dyn Write) -> std::io::Result<u64> {
        w.write_all(&self.sessions)?;
        let n = self.view.write_to(&mut *w)?;
        Ok(self.sessions.len() as u64 + n)
    }
}

/// Session state as bytes: magic, length, body, CRC32 of the body. See
/// docs/design/snapshot-format.md.
fn encode_sessions(core: &Core) -> Vec<u8> {
    let mut body = Vec::new();
    let waiters = core.blocked.export();
    body.put_u32_le(waiters.len() as u32);
    for (client, db, args, keys) in &waiters {
        body.put_u64_le(*client);
        body.put_u32_le(*db as u32);
        put_argv(&mut body, args);
        put_argv(&mut body, keys);
    }
    let watches = core.watches.export();
    body.put_u32_le(watches.len() as u32);
    for (client, dirty, keys) in &watches {
        body.put_u64_le(*client);
        body.put_u8(u8::from(*dirty));
        body.put_u32_le(keys.len() as u32);
        for (db, key, expired) in keys {
            body.put_u32_le(*db as u32);
            put_bytes(&mut body, key);
            body.put_u8(u8::from(*expired));
        }
    }
    let libs = core.function_codes();
    body.put_u32_le(libs.len() as u32);
    for code in &libs {
        put_bytes(&mut body, code);
    }
    let mut out = Vec::with_capacity(body.len() + 20);
    out.put_slice(SESSIONS_MAGIC);
    out.put_u64_le(body.len() as u64);
    out.put_u32_le(crc32fast::hash(&body));
    out.put_slice(&body);
    out
}

/// A bounded reader over the session body.
struct Cursor<'a> {
    b: &'a [u8],
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.b.len() {
            return Err("session state truncated".into());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.b.len() {
            return Err("session count larger than the data".into());
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn list(&mut self) -> Result<Vec<Bytes>, String> {
        let n = self.count(4)?;
        (0..n).map(|_| self.bytes()).collect()
    }
}

type Sessions = (
    Vec<(u64, usize, Vec<Bytes>, Vec<Bytes>)>,
    Vec<(u64, bool, Vec<(usize, Bytes, bool)>)>,
    Vec<Bytes>,
);

fn decode_sessions(r: &mut dyn Read) -> Result<Sessions, String> {
    let mut head = [0u8; 20];
    r.read_exact(&mut head)
        .map_err(|e| format!("session state: {e}"))?;
    let v2 = match head.get(..8) {
        Some(m) if m == &SESSIONS_MAGIC[..] => true,
        Some(m) if m == &SESSIONS_MAGIC_V1[..] => false,
        _ => return Err("session state: bad magic".into()),
    };
    let mut c = Cursor { b: &head[8..] };
    let len = c.u64()?;
    let crc = c.u32()?;
    // Sessions are small (waiters and watches of live clients); refuse a
    // length that could only come from damage.
    if len > 1 << 30 {
        return Err("session state: length out of range".into());
    }
    let mut body = Vec::new();
    r.take(len)
        .read_to_end(&mut body)
        .map_err(|e| format!("session state: {e}"))?;
    if body.len() as u64 != len {
        return Err("session state truncated".into());
    }
    if crc32fast::hash(&body) != crc {
        return Err("session state: checksum mismatch".into());
    }
    let mut c = Cursor { b: &body };
    let n = c.count(20)?;
    let mut waiters = Vec::with_capacity(n);
    for _ in 0..n {
        let client = c.u64()?;
        let db = c.u32()? as usize;
        let args = c.list()?;
        let keys = c.list()?;
        waiters.push((client, db, args, keys));
    }
    let n = c.count(13)?;
    let mut watches = Vec::with_capacity(n);
    for _ in 0..n {
        let client = c.u64()?;
        let dirty = c.u8()? != 0;
        let k = c.count(9)?;
        let mut keys = Vec::with_capacity(k);
        for _ in 0..k {
            let db = c.u32()? as usize;
            let key = c.bytes()?;
            let expired = c.u8()? != 0;
            keys.push((db, key, expired));
        }
        watches.push((client, dirty, keys));
    }
    let libs = if v2 { c.list()? } else { Vec::new() };
    if !c.b.is_empty() {
        return Err("session state: trailing bytes".into());
    }
    Ok((waiters, watches, libs))
}

/// Decodes a snapshot body (session state, then the dataset) into a
/// scratch engine; returns the number of keys (`lattice check`).
pub fn verify_snapshot_body(body: &[u8]) -> Result<u64, String> {
    let mut r = body;
    decode_sessions(&mut r)?;
    let mut engine = lattice_engine::Engine::new(lattice_engine::EngineConfig::default());
    engine.load_snapshot(&mut r).map_err(|e| e.to_string())
}

impl Apply for ServerApply {
    fn apply(&self, index: u64, commands: &[Command]) -> Vec<Outcome> {
        let Some(shared) = self.shared.upgrade() else {
            return commands
                .iter()
                .map(|_| Outcome::Reply(Reply::Error(CmdError::err("the server is stopping"))))
                .collect();
        };
        // A script may hold this thread for long: let the runtime move the
        // other tasks off it.
        if commands.iter().any(|c| matches!(c, Command::Script { .. })) {
            let aborted = shared
                .aborted_scripts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&index);
            shared.scripts.set_entry(index);
            shared.scripts.announce();
            let out = crate::scripting::blocking(|| {
                let mut core = shared.core();
                commands
                    .iter()
                    .map(|c| match c {
                        Command::Script { .. } if aborted => Outcome::Reply(Reply::Error(
                            CmdError::err("the script was stopped by SHUTDOWN NOSAVE"),
                        )),
                        c => core.run(c),
                    })
                    .collect()
            });
            shared.scripts.finish();
            shared.scripts.set_entry(0);
            shared.script_done.notify_waiters();
            return out;
        }
        let mut core = shared.core();
        commands.iter().map(|c| core.run(c)).collect()
    }

    fn snapshot_source(&self) -> Box<dyn SnapshotSource> {
        let Some(shared) = self.shared.upgrade() else {
            return Box::new(ServerSnapshot {
                sessions: Vec::new(),
                view: lattice_engine::Engine::new(Default::default()).snapshot_view(),
            });
        };
        let core = shared.core();
        self.dirty_at_snapshot
            .store(core.engine.stats.dirty, Ordering::Relaxed);
        if let Some(h) = self.health.get() {
            self.log_bytes_at_snapshot
                .store(h.bytes_written.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        Box::new(ServerSnapshot {
            sessions: encode_sessions(&core),
            view: core.engine.snapshot_view(),
        })
    }

    fn restore(&self, data: &mut dyn Read) -> Result<(), String> {
        let Some(shared) = self.shared.upgrade() else {
            return Err("the server is stopping".into());
        };
        let (waiters, watches, libs) = decode_sessions(data)?;
        let mut core = shared.core();
        core.restore_functions(&libs)
            .map_err(|e| format!("function libraries: {}", e.wire_text()))?;
        core.engine.load_snapshot(data).map_err(|e| e.to_string())?;
        let mut blocked = Blocked::default();
        for (client, db, args, keys) in waiters {
            // Nobody waits on these channels: after a restore, serving them
            // only has to change the dataset as the live run did.
            drop(blocked.add(client, db, args, keys));
        }
        core.blocked = blocked;
        core.watches = Watches::import(watches);
        self.dirty_at_snapshot
            .store(core.engine.stats.dirty, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn sessions_round_trip_and_refuse_damage() {
        let pubsub = Arc::new(crate::pubsub::PubSub::new(
            &crate::config::ServerConfig::default(),
        ));
        let mut core = Core::new(lattice_engine::Engine::new(Default::default()), pubsub);
        drop(
            core.blocked
                .add(7, 1, vec![b("BLPOP"), b("q"), b("0")], vec![b("q")]),
        );
        drop(core.blocked.add(
            3,
            0,
            vec![b("BLPOP"), b("a"), b("b"), b("0")],
            vec![b("a"), b("b")],
        ));
        core.watches
            .watch(9, 2, &[b("w1"), b("w2")], &core.engine, 5);
        let bytes = encode_sessions(&core);
        let (waiters, watches, _libs) = decode_sessions(&mut &bytes[..]).unwrap();
        assert_eq!(waiters, core.blocked.export());
        assert_eq!(watches, core.watches.export());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            if let Some(x) = bad.get_mut(i) {
                *x ^= 0x10;
            }
            assert!(decode_sessions(&mut &bad[..]).is_err(), "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode_sessions(&mut &bytes[..cut]).is_err());
        }
    }
}
