//! The one write path (issue 3): every write is an entry of an openraft
//! group — a single node is a group of one — and its reply comes from the
//! state machine's apply.
//!
//! What this crate owns:
//! * [`TypeConfig`] and the log payload: a [`Proposal`] is a batch of
//!   [`Command`]s (group commit: many clients' writes, or one client's
//!   pipelined burst, in one entry); [`Applied`] carries one [`Outcome`] per
//!   command back to whoever proposed it.
//! * [`codec`]: the binary encoding of entries in the on-disk log.
//! * [`log_store`]: `RaftLogStorage` over `lattice-storage` (segments,
//!   checksums, fsync policy), with one writer thread that orders vote and
//!   log I/O and fsyncs each batch of appends once.
//! * [`state_machine`]: `RaftStateMachine` over an [`Apply`] implementation
//!   (the server's engine core) and the snapshot files.
//! * [`node`]: opening a node from a data directory (recovery) and the
//!   network stub of a group of one.
//!
//! Determinism: everything a command's result depends on is in the entry
//! (time, seed, client id for blocking and WATCH), so replaying the log
//! after a snapshot rebuilds the same state (see ARCHITECTURE.md).

pub mod codec;
pub mod log_store;
pub mod meta;
pub mod node;
pub mod snapshot_file;
pub mod state_machine;

use std::io::Cursor;

use bytes::Bytes;
use lattice_engine::{Reply, WriteOp};
use tokio::sync::oneshot;

pub use log_store::LogStore;
pub use node::{Durability, Node, NodeOptions, OpenError};
pub use state_machine::StateMachine;

openraft::declare_raft_types!(
    /// Lattice's Raft types: batches of commands in, one outcome per command out.
    pub TypeConfig:
        D            = Proposal,
        R            = Applied,
        NodeId       = u64,
        Node         = openraft::BasicNode,
        Entry        = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle with Lattice's types.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry with Lattice's types.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<u64>;

/// Client id used for writes the server makes itself (active expiry,
/// eviction): they never block and own no session state.
pub const INTERNAL_CLIENT: u64 = 0;

/// One thing the state machine does, in log order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// An engine write. `client` owns the blocking registration when the
    /// command blocks, and the WATCH state an EXEC (a `Batch`) checks.
    Write {
        /// The proposing connection (`INTERNAL_CLIENT` for the server).
        client: u64,
        /// The self-contained write (time and seed included).
        op: WriteOp,
    },
    /// A blocked client timed out or left: forget its registration. In the
    /// log so that replay serves exactly the waiters the live run served.
    Unblock {
        /// The client.
        client: u64,
    },
    /// WATCH: what EXEC checks is state, so registering it is a write.
    Watch {
        /// The client.
        client: u64,
        /// Its database.
        db: usize,
        /// Keys to watch.
        keys: Vec<Bytes>,
        /// Time of the WATCH (a key already expired then is "absent").
        time_ms: u64,
    },
    /// UNWATCH, DISCARD, RESET or disconnection.
    Unwatch {
        /// The client.
        client: u64,
    },
    /// Start-up after recovery: the clients of the previous run are gone,
    /// so their waiters and watches go too.
    ResetSessions,
    /// A script run (EVAL with the script body — EVALSHA is resolved to
    /// its body before proposing — or FCALL). `argv` is the command as the
    /// state machine runs it, name first; the script's writes are applied
    /// in this one command, so it is atomic on every replica.
    Script {
        /// The proposing connection.
        client: u64,
        /// Its database.
        db: usize,
        /// `EVAL body numkeys …` or `FCALL name numkeys …`.
        argv: Vec<Bytes>,
        /// Time of the run (TIME inside the script).
        time_ms: u64,
        /// Seed of the script's `math.random` and of its commands' picks.
        seed: u64,
        /// The client speaks RESP3 (shapes the reply conversion).
        resp3: bool,
    },
    /// FUNCTION LOAD / DELETE / FLUSH / RESTORE (libraries are replicated
    /// state). `argv` starts at the subcommand.
    Function {
        /// The subcommand and its arguments.
        argv: Vec<Bytes>,
    },
    /// DEBUG POPULATE.
    Populate {
        /// Database.
        db: usize,
        /// Number of keys.
        count: u64,
        /// Key prefix.
        prefix: Bytes,
        /// Value size, if given.
        size: Option<u64>,
        /// Time of the write.
        time_ms: u64,
    },
}

/// A log entry's payload: commands applied in order, as one unit.
///
/// Shared, because openraft clones entries: the log store keeps the entry
/// until it is applied and hands the state machine a copy; a deep copy of
/// every command's arguments showed in `-P 16` profiles (clone, then drop).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proposal(pub std::sync::Arc<Vec<Command>>);

impl From<Vec<Command>> for Proposal {
    fn from(commands: Vec<Command>) -> Self {
        Proposal(std::sync::Arc::new(commands))
    }
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proposal({} commands)", self.0.len())
    }
}

/// What applying one command produced on this node.
#[derive(Debug)]
pub enum Outcome {
    /// The reply.
    Reply(Reply),
    /// The command blocked; the reply arrives on `rx` when a later write
    /// serves the client (or never, if it times out first).
    Blocked {
        /// Where the reply arrives.
        rx: oneshot::Receiver<Reply>,
        /// The command's timeout (0: forever).
        timeout_ms: u64,
    },
}

/// One outcome per command of the applied proposal (empty for blank and
/// membership entries).
#[derive(Debug, Default)]
pub struct Applied(pub Vec<Outcome>);

/// The state machine's side of the server: applies commands to the
/// dataset and takes and loads snapshots of it.
pub trait Apply: Send + Sync + 'static {
    /// Applies the commands of entry `index` in order. During start-up
    /// replay nobody waits for the outcomes; they are dropped.
    fn apply(&self, index: u64, commands: &[Command]) -> Vec<Outcome>;
    /// Takes a consistent copy of the state to snapshot (under the
    /// dataset's lock; cheap), to be serialised later off the lock.
    fn snapshot_source(&self) -> Box<dyn SnapshotSource>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&self, data: &mut dyn std::io::Read) -> Result<(), String>;
    /// Told after a snapshot is on disk (LASTSAVE, INFO persistence).
    fn snapshot_saved(&self, _index: u64, _bytes: u64) {}
}

/// A consistent copy of the state, serialised off the lock.
pub trait SnapshotSource: Send + Sync {
    /// Writes the application part of a snapshot.
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<u64>;
}
pub mod fuzzing;
