//! Opening a node: the data directory's layout, recovery (snapshot, then
//! the log tail through openraft), and the group of one.
//!
//! ```text
//! <dir>/raft-log/     entry segments (lattice-storage)
//! <dir>/raft-meta/    vote and purge point
//! <dir>/snapshots/    snapshot.lsnap
//! ```
//!
//! Recovery: the log is opened first (a torn tail is cut and reported; any
//! other damage stops start-up naming the file and offset), the snapshot is
//! loaded into the engine, and openraft replays committed entries after
//! it. A single node commits everything in its log when it elects itself,
//! so [`Node::open`] returns once the node leads and has applied the whole
//! log: every write acknowledged before a crash is back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lattice_storage::{FsBackend, FsyncPolicy, StorageError as LogError};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};

use crate::log_store::{LogHealth, LogOpenReport};
use crate::meta::Backend;
use crate::snapshot_file::SnapshotFileError;
use crate::state_machine::SnapshotStatus;
use crate::{Apply, LogStore, Raft, StateMachine, TypeConfig};

/// Redis's persistence directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// `appendonly yes`: the log is on disk.
    pub appendonly: bool,
    /// `appendfsync`.
    pub fsync: FsyncPolicy,
}

/// How to open a node.
#[derive(Clone)]
pub struct NodeOptions {
    /// Data directory (`dir`).
    pub dir: PathBuf,
    /// `appendonly` / `appendfsync`.
    pub durability: Durability,
    /// This node's id (1 for a group of one).
    pub id: u64,
    /// Address other members would reach it at.
    pub addr: String,
    /// Log segment size in bytes.
    pub segment_size: u64,
    /// Replaces the entry and meta log directories (fault injection in tests).
    pub backends: Option<(Backend, Backend)>,
}

/// Why a node could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The log is damaged before its tail (or unreadable).
    #[error("{0}")]
    Log(#[from] LogError),
    /// The snapshot is damaged or unreadable.
    #[error("{0}")]
    Snapshot(#[from] SnapshotFileError),
    /// openraft refused to start or to recover.
    #[error("raft: {0}")]
    Raft(String),
}

/// A running node.
pub struct Node {
    /// The Raft handle.
    pub raft: Raft,
    /// Log health (poisoned, disk full, counters).
    pub log_health: Arc<LogHealth>,
    /// Snapshot status (LASTSAVE, INFO persistence).
    pub snapshots: Arc<SnapshotStatus>,
    /// What recovery found in the log (`None` with `appendonly no`).
    pub log_report: Option<LogOpenReport>,
    /// Whether a snapshot was loaded at start.
    pub loaded_snapshot: bool,
    /// The log store (length for auto-snapshots).
    pub log: LogStore,
}

/// The network of a group of one: there is nobody to call.
#[derive(Clone, Default)]
pub struct NoNetwork;

fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(
        "this node has no peers",
    )))
}

impl RaftNetwork<TypeConfig> for NoNetwork {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(RPCError::Network(NetworkError::new(
            &std::io::Error::other("this node has no peers"),
        )))
    }
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoNetwork;

    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> Self::Network {
        NoNetwork
    }
}

/// Zeros the entry log keeps ahead of its end (see `FsBackend`): each
/// fsync then writes over blocks the segment already has, which costs about
/// half of one that grows the file. One chunk is written per 4 MiB of log.
const LOG_PREALLOCATION: u64 = 4 << 20;

fn fs_backend(dir: &Path, prealloc: u64) -> Result<Backend, LogError> {
    let b = FsBackend::with_preallocation(dir, prealloc).map_err(|e| LogError::Io {
        file: dir.display().to_string(),
        source: e,
    })?;
    Ok(Arc::new(b))
}

/// openraft settings for a group of one.
pub fn raft_config() -> Result<Config, OpenError> {
    let c = Config {
        cluster_name: "lattice".into(),
        heartbeat_interval: 100,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // The server triggers snapshots by log size (as Redis's
        // auto-aof-rewrite); nothing is kept in the log once covered.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Default::default()
    };
    c.validate().map_err(|e| OpenError::Raft(e.to_string()))
}

impl Node {
    /// Opens (or creates) the node in `opts.dir` and waits until it leads
    /// and has applied its whole log.
    pub async fn open<A: Apply>(opts: NodeOptions, app: Arc<A>) -> Result<Node, OpenError> {
        let snap_dir = opts.dir.join("snapshots");
        let (log, report) = if opts.durability.appendonly {
            let (log_b, meta_b) = match opts.backends.clone() {
                Some(b) => b,
                None => (
                    fs_backend(
                        &opts.dir.join("raft-log"),
                        LOG_PREALLOCATION.min(opts.segment_size),
                    )?,
                    fs_backend(&opts.dir.join("raft-meta"), 0)?,
                ),
            };
            let (log, report) =
                LogStore::open(log_b, meta_b, opts.durability.fsync, opts.segment_size)?;
            (log, Some(report))
        } else {
            (LogStore::memory(), None)
        };
        if let Some(r) = &report {
            if let Some(t) = r.recovery.torn_tail.as_ref().filter(|t| !t.zeros_only) {
                tracing::warn!(
                    file = %t.file,
                    bytes = t.bytes_cut,
                    "the log's last record was torn (a crash during a write): truncated {} bytes",
                    t.bytes_cut
                );
            }
        }
        let (sm, loaded) =
            StateMachine::open(app, Some(snap_dir), log.clone(), opts.durability.appendonly)?;
        let snapshots = sm.status();
        let log_health = log.health();
        let config = Arc::new(raft_config()?);
        let raft = Raft::new(opts.id, config, NoNetwork, log.clone(), sm)
            .await
            .map_err(|e| OpenError::Raft(e.to_string()))?;
        let fresh = report
            .as_ref()
            .is_none_or(|r| r.last_log_id.is_none() && r.last_purged.is_none())
            && !(opts.durability.appendonly && loaded.is_some());
        if fresh {
            let mut members = BTreeMap::new();
            members.insert(opts.id, BasicNode::new(opts.addr.clone()));
            if let Err(e) = raft.initialize(members).await {
                // Already initialised is fine (a vote without entries).
                tracing::debug!(error = %e, "initialize");
            }
        }
        let last = report.as_ref().and_then(|r| r.last_log_id).map(|l| l.index);
        let wait = raft.wait(Some(Duration::from_secs(600)));
        wait.state(ServerState::Leader, "become leader")
            .await
            .map_err(|e| OpenError::Raft(e.to_string()))?;
        if let Some(last) = last {
            raft.wait(Some(Duration::from_secs(3600)))
                .applied_index_at_least(Some(last), "replay the log")
                .await
                .map_err(|e| OpenError::Raft(e.to_string()))?;
        }
        Ok(Node {
            raft,
            log_health,
            snapshots,
            log_report: report,
            loaded_snapshot: loaded.is_some(),
            log,
        })
    }
}
