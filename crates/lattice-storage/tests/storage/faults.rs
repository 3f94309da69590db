//! Fault injection: fsync errors poison the log; a full disk fails the
//! append, leaves the log byte-for-byte as before and recovers when space
//! is freed.

use lattice_storage::{
    FaultBackend, FsBackend, FsyncPolicy, Log, LogBackend, MemBackend, StorageError,
};

use crate::{contents, segment_files, small};

fn snapshot<B: LogBackend>(b: &B) -> Vec<(String, Vec<u8>)> {
    segment_files(b)
        .into_iter()
        .map(|n| {
            let bytes = b.read_all(&n).unwrap();
            (n, bytes)
        })
        .collect()
}

#[test]
fn fsync_error_poisons_appends_and_syncs_but_not_reads() {
    let fault = FaultBackend::new(MemBackend::new()).unwrap();
    let (mut log, _) = Log::open(fault.clone(), small(FsyncPolicy::Always)).unwrap();
    log.append(&[(1, b"a")]).unwrap();
    fault.fail_syncs(true);
    let err = log.append(&[(2, b"b")]).unwrap_err();
    assert!(matches!(err, StorageError::SyncFailed { .. }), "{err}");
    assert!(log.is_poisoned());
    fault.fail_syncs(false);
    // Even with a healthy disk again, nothing is acknowledged any more.
    assert!(matches!(
        log.append(&[(3, b"c")]),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(log.sync(), Err(StorageError::Poisoned)));
    assert!(matches!(log.truncate_after(1), Err(StorageError::Poisoned)));
    assert!(matches!(log.purge_before(2), Err(StorageError::Poisoned)));
    assert_eq!(log.read(1..=1).unwrap().next().unwrap().unwrap().1, b"a");
    drop(log);
    // A restart rereads the disk and may write again.
    let (mut log, _) = Log::open(fault, small(FsyncPolicy::Always)).unwrap();
    let next = log.next_index().unwrap();
    log.append(&[(next, b"again")]).unwrap();
}

#[test]
fn everysec_sync_error_poisons_too() {
    let fault = FaultBackend::new(MemBackend::new()).unwrap();
    let (mut log, _) = Log::open(fault.clone(), small(FsyncPolicy::EverySec)).unwrap();
    log.append(&[(1, b"a")]).unwrap();
    fault.fail_syncs(true);
    assert!(matches!(log.sync(), Err(StorageError::SyncFailed { .. })));
    assert!(matches!(
        log.append(&[(2, b"b")]),
        Err(StorageError::Poisoned)
    ));
}

#[test]
fn fsync_error_while_sealing_a_segment_poisons_under_policy_no() {
    let fault = FaultBackend::new(MemBackend::new()).unwrap();
    let (mut log, _) = Log::open(fault.clone(), small(FsyncPolicy::No)).unwrap();
    log.append(&[(1, &[1u8; 100])]).unwrap();
    fault.fail_syncs(true);
    let err = log.append(&[(2, &[2u8; 100])]).unwrap_err();
    assert!(matches!(err, StorageError::SyncFailed { .. }), "{err}");
    assert!(log.is_poisoned());
}

fn disk_full_then_recovery<B: LogBackend + Clone>(fault: FaultBackend<B>) {
    let (mut log, _) = Log::open(fault.clone(), small(FsyncPolicy::Always)).unwrap();
    log.append(&[(1, b"one"), (2, b"two")]).unwrap();
    let before = snapshot(&fault);
    let used: u64 = before.iter().map(|(_, b)| b.len() as u64).sum();
    // Room for part of the batch: the first records fit, later ones and the
    // roll to a new segment do not.
    fault.set_capacity(Some(used + 60));
    let batch: Vec<(u64, Vec<u8>)> = (3..8).map(|i| (i, vec![i as u8; 30])).collect();
    let err = crate::append_owned(&mut log, &batch).unwrap_err();
    assert!(matches!(err, StorageError::DiskFull { .. }), "{err}");
    assert!(!log.is_poisoned());
    assert_eq!(snapshot(&fault), before, "a failed append leaves no trace");
    assert_eq!(log.last_index(), Some(2));
    // Still full: fails again, still clean.
    assert!(matches!(
        crate::append_owned(&mut log, &batch),
        Err(StorageError::DiskFull { .. })
    ));
    assert_eq!(snapshot(&fault), before);
    fault.set_capacity(None);
    crate::append_owned(&mut log, &batch).unwrap();
    assert_eq!(log.last_index(), Some(7));
    drop(log);
    let (log, rec) = Log::open(fault, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(rec.bytes_truncated(), 0);
    let got = contents(&log);
    assert_eq!(got.len(), 7);
    assert_eq!(got[6], (7, vec![7u8; 30]));
}

#[test]
fn disk_full_leaves_log_unchanged_and_appends_resume_on_memory() {
    disk_full_then_recovery(FaultBackend::new(MemBackend::new()).unwrap());
}

#[test]
fn disk_full_leaves_log_unchanged_and_appends_resume_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let fs = std::sync::Arc::new(FsBackend::open(dir.path()).unwrap());
    disk_full_then_recovery(FaultBackend::new(fs).unwrap());
}

#[test]
fn disk_full_on_the_first_segment_header_leaves_no_file() {
    let fault = FaultBackend::new(MemBackend::new()).unwrap();
    fault.set_capacity(Some(10));
    let (mut log, _) = Log::open(fault.clone(), small(FsyncPolicy::Always)).unwrap();
    assert!(matches!(
        log.append(&[(1, b"a")]),
        Err(StorageError::DiskFull { .. })
    ));
    assert!(segment_files(&fault).is_empty());
    assert_eq!(log.next_index(), None);
    fault.set_capacity(None);
    log.append(&[(1, b"a")]).unwrap();
}
