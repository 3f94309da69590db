//! Preallocated segments (`FsBackend::with_preallocation`): zeros past the
//! last record are free space, not a torn tail; sealed segments are trimmed;
//! a write torn at a sector boundary over zeros is a torn tail, not
//! corruption; garbage that is not a lost sector still is corruption.

use lattice_storage::format::{encode_record, encode_segment_header, segment_name};
use lattice_storage::{
    FsBackend, FsyncPolicy, Log, LogBackend, LogOptions, MemBackend, StorageError,
};

use crate::{contents, segment_files, small};

fn entry(i: u64) -> Vec<u8> {
    format!("entry-{i}").into_bytes()
}

fn fill<B: LogBackend>(log: &mut Log<B>, range: std::ops::RangeInclusive<u64>) {
    let owned: Vec<(u64, Vec<u8>)> = range.map(|i| (i, entry(i))).collect();
    crate::append_owned(log, &owned).unwrap();
}

fn disk_len(dir: &std::path::Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).unwrap().len()
}

#[test]
fn zeros_ahead_of_the_end_survive_reopen_without_cutting_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let want: Vec<_> = (1..=30).map(|i| (i, entry(i))).collect();
    {
        let backend = FsBackend::with_preallocation(dir.path(), 1000).unwrap();
        let (mut log, _) = Log::open(backend, small(FsyncPolicy::Always)).unwrap();
        fill(&mut log, 1..=30);
        assert_eq!(contents(&log), want);
        let files = segment_files(log.backend());
        assert!(files.len() > 2, "tiny segments must roll");
        let (last, sealed) = files.split_last().unwrap();
        for name in sealed {
            assert!(
                disk_len(dir.path(), name) <= 128,
                "a sealed segment is trimmed to its records: {name}"
            );
        }
        let logical = log.backend().file_len(last).unwrap();
        assert!(
            disk_len(dir.path(), last) > logical,
            "the last segment keeps zeros ahead of its end"
        );
    }
    // As after kill -9: the zeros are still on disk.
    let (mut log, rec) = Log::open(
        FsBackend::with_preallocation(dir.path(), 1000).unwrap(),
        small(FsyncPolicy::Always),
    )
    .unwrap();
    let repair = rec.torn_tail.clone().expect("the zeros are trimmed");
    assert!(repair.zeros_only, "{repair:?}");
    assert_eq!(rec.entries, 30);
    assert_eq!(contents(&log), want);
    fill(&mut log, 31..=35);
    log.truncate_after(33).unwrap();
    fill(&mut log, 34..=34);
    drop(log);
    let (log, rec) = Log::open(
        FsBackend::with_preallocation(dir.path(), 1000).unwrap(),
        small(FsyncPolicy::Always),
    )
    .unwrap();
    assert!(rec.torn_tail.is_none_or(|t| t.zeros_only));
    assert_eq!(log.last_index(), Some(34));
    assert_eq!(contents(&log).last().unwrap(), &(34, entry(34)));
}

#[test]
fn a_large_preallocating_log_reopens_with_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        segment_size: 64 << 10,
        fsync: FsyncPolicy::No,
    };
    let payload = vec![7u8; 300];
    {
        let backend = FsBackend::with_preallocation(dir.path(), 16 << 10).unwrap();
        let (mut log, _) = Log::open(backend, opts).unwrap();
        for i in 1..=1000u64 {
            log.append(&[(i, payload.as_slice())]).unwrap();
        }
        log.sync().unwrap();
    }
    let (log, rec) = Log::open(FsBackend::open(dir.path()).unwrap(), opts).unwrap();
    assert_eq!(rec.entries, 1000);
    assert!(rec.torn_tail.is_none_or(|t| t.zeros_only));
    assert!(log.read(..).unwrap().all(|r| r.unwrap().1 == payload));
}

/// A segment holding `records`, then `zeros` bytes of preallocated space.
fn segment_with(records: &[(u64, Vec<u8>)], zeros: usize) -> Vec<u8> {
    let mut bytes = encode_segment_header(1).to_vec();
    for (i, p) in records {
        encode_record(*i, p, &mut bytes).unwrap();
    }
    bytes.resize(bytes.len() + zeros, 0);
    bytes
}

#[test]
fn a_record_with_a_lost_sector_over_zeros_is_a_torn_tail() {
    // Record 2's payload spans three sectors; the middle one never reached
    // the disk (it reads as the preallocated zeros), the last one did, and
    // so did record 3 of the same write after it.
    let records = vec![
        (1, b"first".to_vec()),
        (2, vec![0xAB; 1400]),
        (3, b"third".to_vec()),
    ];
    let mut bytes = segment_with(&records, 2048);
    bytes[512..1024].fill(0);
    let mem = MemBackend::new();
    mem.put(&segment_name(1), bytes);
    let (log, rec) = Log::open(mem, LogOptions::default()).unwrap();
    let torn = rec.torn_tail.unwrap();
    assert!(!torn.zeros_only);
    assert!(torn.reason.contains("torn write"), "{}", torn.reason);
    assert_eq!(log.last_index(), Some(1));
}

#[test]
fn a_record_header_cut_at_a_sector_boundary_is_a_torn_tail() {
    // Pad record 1 so that record 2's 20-byte header straddles offset 512,
    // then lose the sector after the boundary.
    let pad = 512 - 28 - 20 - 10;
    let records = vec![(1, vec![1u8; pad]), (2, b"second".to_vec())];
    let mut bytes = segment_with(&records, 1024);
    assert_eq!(
        28 + 20 + pad,
        502,
        "record 2 starts 10 bytes before the boundary"
    );
    bytes[512..1024].fill(0);
    let mem = MemBackend::new();
    mem.put(&segment_name(1), bytes);
    let (log, rec) = Log::open(mem, LogOptions::default()).unwrap();
    let torn = rec.torn_tail.unwrap();
    assert!(torn.reason.contains("record header"), "{}", torn.reason);
    assert_eq!(log.last_index(), Some(1));
}

#[test]
fn garbage_that_is_not_a_lost_sector_is_still_corruption() {
    let records = vec![(1, b"first".to_vec()), (2, b"second".to_vec())];
    let mut bytes = segment_with(&records, 1024);
    // Flip a bit in record 2's header: no sector of it is zeros.
    let at = 28 + 20 + 5;
    bytes[at + 2] ^= 0x10;
    let mem = MemBackend::new();
    mem.put(&segment_name(1), bytes);
    assert!(matches!(
        Log::open(mem, LogOptions::default()),
        Err(StorageError::Corrupt { .. })
    ));
}
