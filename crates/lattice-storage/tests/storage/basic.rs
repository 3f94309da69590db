//! The log API on the memory and file backends: append, read, roll,
//! truncate, purge, reopen, fsync policies, recovery of torn tails and
//! refusal of corruption.

use lattice_storage::format::{
    encode_record, encode_segment_header, segment_name, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use lattice_storage::{
    check, FsBackend, FsyncPolicy, Log, LogBackend, LogOptions, MemBackend, StorageError,
};

use crate::{contents, segment_files, small};

fn entry(i: u64) -> Vec<u8> {
    format!("entry-{i}").into_bytes()
}

fn fill<B: LogBackend>(log: &mut Log<B>, range: std::ops::RangeInclusive<u64>) {
    let owned: Vec<(u64, Vec<u8>)> = range.map(|i| (i, entry(i))).collect();
    crate::append_owned(log, &owned).unwrap();
}

#[test]
fn append_read_and_reopen_across_segments() {
    let mem = MemBackend::new();
    let (mut log, rec) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    assert_eq!(rec.entries, 0);
    assert_eq!(
        (log.first_index(), log.last_index(), log.next_index()),
        (None, None, None)
    );
    fill(&mut log, 1..=10);
    fill(&mut log, 11..=11);
    assert_eq!((log.first_index(), log.last_index()), (Some(1), Some(11)));
    assert!(segment_files(&mem).len() > 2, "tiny segments must roll");
    assert_eq!(segment_files(&mem)[0], segment_name(1));
    let want: Vec<_> = (1..=11).map(|i| (i, entry(i))).collect();
    assert_eq!(contents(&log), want);
    let mid: Vec<_> = log.read(4..7).unwrap().map(Result::unwrap).collect();
    assert_eq!(mid, want[3..6].to_vec());
    drop(log);
    let (log, rec) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(rec.entries, 11);
    assert_eq!(rec.bytes_truncated(), 0);
    assert_eq!(contents(&log), want);
}

#[test]
fn first_append_may_start_anywhere_then_must_be_contiguous() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    log.append(&[(100, b"a")]).unwrap();
    assert_eq!(log.first_index(), Some(100));
    let err = log.append(&[(102, b"c")]).unwrap_err();
    assert!(matches!(
        err,
        StorageError::NonContiguous {
            expected: 101,
            got: 102
        }
    ));
    let err = log.append(&[(101, b"b"), (103, b"d")]).unwrap_err();
    assert!(matches!(
        err,
        StorageError::NonContiguous {
            expected: 102,
            got: 103
        }
    ));
    assert_eq!(
        log.last_index(),
        Some(100),
        "a rejected batch writes nothing"
    );
    log.append(&[]).unwrap();
}

#[test]
fn empty_payloads_and_big_records_round_trip() {
    let (mut log, _) = Log::open(MemBackend::new(), small(FsyncPolicy::Always)).unwrap();
    let big = vec![7u8; 1000]; // larger than a whole segment: gets one to itself
    log.append(&[(1, b""), (2, &big), (3, b"x")]).unwrap();
    assert_eq!(
        contents(&log),
        vec![(1, vec![]), (2, big), (3, b"x".to_vec())]
    );
}

#[test]
fn truncate_after_removes_suffix_and_new_entries_replace_it() {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    fill(&mut log, 1..=12);
    let files_before = segment_files(&mem).len();
    log.truncate_after(5).unwrap();
    assert_eq!(log.last_index(), Some(5));
    assert!(segment_files(&mem).len() < files_before);
    log.truncate_after(9).unwrap(); // past the end: no-op
    assert_eq!(log.last_index(), Some(5));
    log.append(&[(6, b"new-6")]).unwrap();
    drop(log);
    let (log, _) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(log.last_index(), Some(6));
    assert_eq!(contents(&log).last().unwrap().1, b"new-6".to_vec());
}

#[test]
fn truncate_everything_keeps_the_log_anchored() {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    fill(&mut log, 5..=9);
    log.truncate_after(4).unwrap();
    assert_eq!((log.first_index(), log.next_index()), (None, Some(5)));
    assert!(log.append(&[(6, b"x")]).is_err());
    drop(log);
    let (mut log, _) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(log.next_index(), Some(5));
    log.append(&[(5, b"x")]).unwrap();
    assert!(matches!(
        log.truncate_after(2),
        Err(StorageError::OutOfRange { .. })
    ));
}

#[test]
fn clear_removes_every_entry_including_index_zero() {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    fill(&mut log, 0..=20);
    log.clear(0).unwrap();
    assert_eq!((log.first_index(), log.next_index()), (None, Some(0)));
    fill(&mut log, 0..=1);
    drop(log);
    let (log, _) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(contents(&log), vec![(0, entry(0)), (1, entry(1))]);
}

#[test]
fn purge_before_deletes_whole_segments_and_keeps_logical_first() {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    fill(&mut log, 1..=12);
    log.purge_before(6).unwrap();
    assert_eq!((log.first_index(), log.last_index()), (Some(6), Some(12)));
    let files = segment_files(&mem);
    assert_ne!(files[0], segment_name(1), "the first segment is gone");
    let first_on_disk: u64 = files[0][..20].parse().unwrap();
    assert!(first_on_disk <= 6);
    assert!(matches!(
        log.read(5..7),
        Err(StorageError::OutOfRange { .. })
    ));
    assert_eq!(contents(&log).first().unwrap().0, 6);
    drop(log);
    // The logical first index is not persisted: the raft layer keeps it.
    let (log, _) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(log.first_index(), Some(first_on_disk));
    assert_eq!(log.last_index(), Some(12));
}

#[test]
fn purge_past_the_end_restarts_at_that_index() {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::Always)).unwrap();
    fill(&mut log, 1..=4);
    log.purge_before(50).unwrap();
    assert_eq!((log.first_index(), log.next_index()), (None, Some(50)));
    assert_eq!(segment_files(&mem), vec![segment_name(50)]);
    log.append(&[(50, b"after snapshot")]).unwrap();
    drop(log);
    let (log, _) = Log::open(mem, small(FsyncPolicy::Always)).unwrap();
    assert_eq!(contents(&log), vec![(50, b"after snapshot".to_vec())]);
}

#[test]
fn read_outside_the_log_is_out_of_range() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    assert_eq!(log.read(..).unwrap().count(), 0);
    fill(&mut log, 1..=3);
    assert!(matches!(
        log.read(0..2),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        log.read(2..=4),
        Err(StorageError::OutOfRange { .. })
    ));
    assert_eq!(log.read(2..2).unwrap().count(), 0);
    assert_eq!(log.read(2..=3).unwrap().count(), 2);
}

#[test]
fn fsync_policies_decide_when_data_needs_a_sync() {
    let (mut log, _) = Log::open(MemBackend::new(), small(FsyncPolicy::EverySec)).unwrap();
    assert!(!log.needs_sync());
    log.append(&[(1, b"a")]).unwrap();
    assert!(log.needs_sync());
    log.sync().unwrap();
    assert!(!log.needs_sync());
    let (mut log, _) = Log::open(MemBackend::new(), small(FsyncPolicy::Always)).unwrap();
    log.append(&[(1, b"a")]).unwrap();
    assert!(!log.needs_sync(), "Always syncs inside append");
    let (mut log, _) = Log::open(MemBackend::new(), small(FsyncPolicy::No)).unwrap();
    log.append(&[(1, b"a")]).unwrap();
    assert!(!log.needs_sync());
}

fn one_segment(records: u64) -> Vec<u8> {
    let mut bytes = encode_segment_header(1).to_vec();
    for i in 1..=records {
        encode_record(i, &entry(i), &mut bytes).unwrap();
    }
    bytes
}

const REC: usize = RECORD_HEADER_LEN + 7; // "entry-N" for N < 10

#[test]
fn torn_tail_is_cut_and_check_reports_it_without_changing_anything() {
    let mem = MemBackend::new();
    let mut bytes = one_segment(4);
    bytes.truncate(bytes.len() - 5);
    mem.put(&segment_name(1), bytes.clone());
    let report = check(&mem).unwrap();
    let torn = report.torn_tail.clone().unwrap();
    assert_eq!(torn.bytes_cut, (REC - 5) as u64);
    assert_eq!(torn.valid_len, (SEGMENT_HEADER_LEN + 3 * REC) as u64);
    assert_eq!(report.last_index, Some(3));
    assert_eq!(
        mem.read_all(&segment_name(1)).unwrap(),
        bytes,
        "check is read-only"
    );
    let (log, rec) = Log::open(mem.clone(), LogOptions::default()).unwrap();
    assert_eq!(rec.bytes_truncated(), (REC - 5) as u64);
    assert_eq!(log.last_index(), Some(3));
    assert_eq!(check(&mem).unwrap().torn_tail, None);
}

#[test]
fn bad_checksum_in_last_record_and_trailing_zeros_are_torn_tails() {
    let mem = MemBackend::new();
    let mut bytes = one_segment(3);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    bytes.extend_from_slice(&[0u8; 100]);
    mem.put(&segment_name(1), bytes);
    let (log, rec) = Log::open(mem, LogOptions::default()).unwrap();
    assert_eq!(rec.bytes_truncated(), (REC + 100) as u64);
    assert_eq!(log.last_index(), Some(2));
}

#[test]
fn corruption_before_the_tail_fails_open_with_file_and_offset() {
    let mem = MemBackend::new();
    let mut bytes = one_segment(3);
    bytes[SEGMENT_HEADER_LEN + REC + RECORD_HEADER_LEN] ^= 1; // payload of record 2
    mem.put(&segment_name(1), bytes);
    match Log::open(mem.clone(), LogOptions::default()) {
        Err(StorageError::Corrupt { file, offset, .. }) => {
            assert_eq!(file, segment_name(1));
            assert_eq!(offset, (SEGMENT_HEADER_LEN + REC) as u64);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(check(&mem), Err(StorageError::Corrupt { .. })));
}

#[test]
fn torn_tail_of_a_sealed_segment_is_corruption() {
    let mem = MemBackend::new();
    let mut first = one_segment(2);
    first.truncate(first.len() - 3);
    mem.put(&segment_name(1), first);
    let mut second = encode_segment_header(3).to_vec();
    encode_record(3, b"x", &mut second).unwrap();
    mem.put(&segment_name(3), second);
    let err = Log::open(mem, LogOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt { file, offset, .. }
            if *file == segment_name(1) && *offset == (SEGMENT_HEADER_LEN + REC) as u64),
        "{err}"
    );
}

#[test]
fn gap_between_segments_is_corruption() {
    let mem = MemBackend::new();
    mem.put(&segment_name(1), one_segment(2));
    let mut second = encode_segment_header(4).to_vec();
    encode_record(4, b"x", &mut second).unwrap();
    mem.put(&segment_name(4), second);
    let err = Log::open(mem, LogOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt { file, offset: 0, reason }
            if *file == segment_name(4) && reason.contains("gap")),
        "{err}"
    );
}

#[test]
fn torn_segment_header_on_roll_removes_the_file() {
    let mem = MemBackend::new();
    mem.put(&segment_name(1), one_segment(2));
    mem.put(&segment_name(3), encode_segment_header(3)[..10].to_vec());
    let (log, rec) = Log::open(mem.clone(), LogOptions::default()).unwrap();
    let torn = rec.torn_tail.unwrap();
    assert!(torn.remove_file);
    assert_eq!(torn.bytes_cut, 10);
    assert_eq!(log.last_index(), Some(2));
    assert_eq!(segment_files(&mem), vec![segment_name(1)]);
}

#[test]
fn bad_segment_header_and_misnamed_segment_are_corruption() {
    let mem = MemBackend::new();
    let mut bytes = one_segment(1);
    bytes[8] = 9; // version
    mem.put(&segment_name(1), bytes);
    assert!(matches!(
        Log::open(mem, LogOptions::default()),
        Err(StorageError::Corrupt { offset: 0, .. })
    ));
    let mem = MemBackend::new();
    mem.put(&segment_name(2), one_segment(1));
    assert!(matches!(
        Log::open(mem, LogOptions::default()),
        Err(StorageError::Corrupt { offset: 0, .. })
    ));
    let mem = MemBackend::new();
    mem.put("7.seg", one_segment(1));
    assert!(matches!(
        Log::open(mem, LogOptions::default()),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn non_segment_files_are_ignored() {
    let mem = MemBackend::new();
    mem.put("vote.meta", b"whatever".to_vec());
    let (mut log, _) = Log::open(mem.clone(), LogOptions::default()).unwrap();
    log.append(&[(1, b"a")]).unwrap();
    drop(log);
    assert_eq!(Log::open(mem, LogOptions::default()).unwrap().1.entries, 1);
}

#[test]
fn file_backend_round_trips_and_recovers_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Log::open(
            FsBackend::open(dir.path()).unwrap(),
            small(FsyncPolicy::Always),
        )
        .unwrap();
        fill(&mut log, 1..=9);
        log.truncate_after(7).unwrap();
        log.purge_before(3).unwrap();
    }
    let last = dir.path().join(
        segment_files(&FsBackend::open(dir.path()).unwrap())
            .last()
            .unwrap(),
    );
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&last, bytes).unwrap();
    let (log, rec) = Log::open(
        FsBackend::open(dir.path()).unwrap(),
        small(FsyncPolicy::Always),
    )
    .unwrap();
    assert_eq!(rec.bytes_truncated(), 3);
    assert_eq!(log.last_index(), Some(7));
    let got = contents(&log);
    assert_eq!(got.last().unwrap(), &(7, entry(7)));
}

#[test]
fn the_index_space_end_is_refused_not_overflowed() {
    let (mut log, _) = Log::open(MemBackend::new(), LogOptions::default()).unwrap();
    assert!(matches!(
        log.append(&[(u64::MAX, b"x")]),
        Err(StorageError::OutOfRange { .. })
    ));
    log.append(&[(u64::MAX - 1, b"x")]).unwrap();
    assert_eq!(log.next_index(), Some(u64::MAX));
    let mem = MemBackend::new();
    let mut bytes = encode_segment_header(u64::MAX).to_vec();
    encode_record(u64::MAX, b"x", &mut bytes).unwrap();
    mem.put(&segment_name(u64::MAX), bytes);
    assert!(matches!(
        Log::open(mem, LogOptions::default()),
        Err(StorageError::Corrupt { .. })
    ));
}
