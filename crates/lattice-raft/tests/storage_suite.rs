//! openraft's storage conformance suite (`openraft::testing::Suite`) on
//! our log store and state machine, on real files and on the memory
//! backend (CORRECTNESS.md §5.1: "We must run this on our storage").

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};

use lattice_raft::log_store::LogStore;
use lattice_raft::meta::Backend;
use lattice_raft::{Apply, Command, Outcome, SnapshotSource, StateMachine};
use lattice_storage::{FsBackend, FsyncPolicy, MemBackend};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

/// A stand-in for the server: remembers the commands it applied.
#[derive(Default)]
struct Recorder {
    applied: Mutex<Vec<u64>>,
}

struct Copy(Vec<u64>);

impl SnapshotSource for Copy {
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<u64> {
        for i in &self.0 {
            w.write_all(&i.to_le_bytes())?;
        }
        Ok(self.0.len() as u64 * 8)
    }
}

impl Apply for Recorder {
    fn apply(&self, index: u64, commands: &[Command]) -> Vec<Outcome> {
        self.applied.lock().unwrap().push(index);
        commands
            .iter()
            .map(|_| Outcome::Reply(lattice_engine::Reply::Ok))
            .collect()
    }
    fn snapshot_source(&self) -> Box<dyn SnapshotSource> {
        Box::new(Copy(self.applied.lock().unwrap().clone()))
    }
    fn restore(&self, data: &mut dyn std::io::Read) -> Result<(), String> {
        let mut b = Vec::new();
        data.read_to_end(&mut b).map_err(|e| e.to_string())?;
        *self.applied.lock().unwrap() = b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok(())
    }
}

struct OnDisk;

impl StoreBuilder<lattice_raft::TypeConfig, LogStore, StateMachine<Recorder>, tempfile::TempDir>
    for OnDisk
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine<Recorder>), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let log_b: Backend = Arc::new(FsBackend::open(dir.path().join("raft-log")).unwrap());
        let meta_b: Backend = Arc::new(FsBackend::open(dir.path().join("raft-meta")).unwrap());
        let (log, _) = LogStore::open(log_b, meta_b, FsyncPolicy::Always, 4096).unwrap();
        let (sm, _) = StateMachine::open(
            Arc::new(Recorder::default()),
            Some(dir.path().join("snapshots")),
            log.clone(),
            true,
        )
        .unwrap();
        Ok((dir, log, sm))
    }
}

struct InMemoryFiles;

impl StoreBuilder<lattice_raft::TypeConfig, LogStore, StateMachine<Recorder>, ()>
    for InMemoryFiles
{
    async fn build(&self) -> Result<((), LogStore, StateMachine<Recorder>), StorageError<u64>> {
        let log_b: Backend = Arc::new(MemBackend::new());
        let meta_b: Backend = Arc::new(MemBackend::new());
        let (log, _) = LogStore::open(log_b, meta_b, FsyncPolicy::No, 1 << 20).unwrap();
        let (sm, _) =
            StateMachine::open(Arc::new(Recorder::default()), None, log.clone(), true).unwrap();
        Ok(((), log, sm))
    }
}

#[test]
fn openraft_suite_on_segment_files() {
    Suite::test_all(OnDisk).unwrap();
}

#[test]
fn openraft_suite_on_the_memory_backend() {
    Suite::test_all(InMemoryFiles).unwrap();
}
