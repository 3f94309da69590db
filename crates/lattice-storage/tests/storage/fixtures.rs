//! Committed corrupt logs under `tests/fixtures/`, each with the exact
//! outcome opening it must have. The bytes are made by `generate` below;
//! `fixtures_match_their_generator` keeps the committed files and the
//! generator in step (run it with `LATTICE_REGEN_FIXTURES=1` to rewrite
//! them after a deliberate format change, and bump the format version).

use std::path::{Path, PathBuf};

use lattice_storage::format::{encode_record, encode_segment_header, segment_name};
use lattice_storage::{check, FsBackend, Log, LogOptions, StorageError};

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn segment(first: u64, last: u64) -> Vec<u8> {
    let mut bytes = encode_segment_header(first).to_vec();
    for i in first..=last {
        encode_record(i, format!("entry-{i}").as_bytes(), &mut bytes).unwrap();
    }
    bytes
}

/// Every fixture: directory name and its files.
fn generate() -> Vec<(&'static str, Vec<(String, Vec<u8>)>)> {
    // torn_tail: records 1..=3, then the first 13 of record 4's 27 bytes.
    let full = segment(1, 4);
    let torn = full[..28 + 3 * 27 + 13].to_vec();
    // bad_checksum_mid: one payload byte of record 2 (at 28 + 27) flipped.
    let mut mid = segment(1, 3);
    mid[28 + 27 + 20] ^= 0x01;
    // bad_header: the second segment's first-index field damaged.
    let mut second = segment(3, 4);
    second[16] ^= 0x01;
    vec![
        ("torn_tail", vec![(segment_name(1), torn)]),
        ("bad_checksum_mid", vec![(segment_name(1), mid)]),
        (
            "bad_header",
            vec![(segment_name(1), segment(1, 2)), (segment_name(3), second)],
        ),
    ]
}

#[test]
fn fixtures_match_their_generator() {
    let regen = std::env::var_os("LATTICE_REGEN_FIXTURES").is_some();
    for (dir, files) in generate() {
        let dir = fixture_root().join(dir);
        for (name, bytes) in files {
            let path = dir.join(&name);
            if regen {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                committed,
                bytes,
                "{} differs from its generator",
                path.display()
            );
        }
    }
}

/// Copies a committed fixture to a temporary directory (opening repairs in place).
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_root().join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

#[test]
fn torn_tail_fixture_is_truncated_by_13_bytes() {
    let tmp = copy_fixture("torn_tail");
    let report = check(&FsBackend::open(tmp.path()).unwrap()).unwrap();
    let torn = report.torn_tail.unwrap();
    assert_eq!(
        (torn.file.as_str(), torn.valid_len, torn.bytes_cut),
        ("00000000000000000001.seg", 109, 13)
    );
    let (log, rec) =
        Log::open(FsBackend::open(tmp.path()).unwrap(), LogOptions::default()).unwrap();
    assert_eq!(rec.bytes_truncated(), 13);
    assert_eq!((log.first_index(), log.last_index()), (Some(1), Some(3)));
    let len = std::fs::metadata(tmp.path().join("00000000000000000001.seg"))
        .unwrap()
        .len();
    assert_eq!(len, 109);
}

fn assert_corrupt(fixture: &str, want_file: &str, want_offset: u64, want_reason: &str) {
    let tmp = copy_fixture(fixture);
    let before = std::fs::read(tmp.path().join(want_file)).unwrap();
    for err in [
        check(&FsBackend::open(tmp.path()).unwrap()).unwrap_err(),
        Log::open(FsBackend::open(tmp.path()).unwrap(), LogOptions::default()).unwrap_err(),
    ] {
        match err {
            StorageError::Corrupt {
                file,
                offset,
                reason,
            } => {
                assert_eq!((file.as_str(), offset), (want_file, want_offset));
                assert!(reason.contains(want_reason), "{reason}");
            }
            other => panic!("expected Corrupt, got {other}"),
        }
    }
    let after = std::fs::read(tmp.path().join(want_file)).unwrap();
    assert_eq!(before, after, "a corrupt log is never modified");
}

#[test]
fn bad_checksum_mid_fixture_is_corrupt_at_record_2() {
    assert_corrupt(
        "bad_checksum_mid",
        "00000000000000000001.seg",
        55,
        "payload checksum mismatch",
    );
}

#[test]
fn bad_header_fixture_is_corrupt_at_offset_0_of_second_segment() {
    assert_corrupt(
        "bad_header",
        "00000000000000000003.seg",
        0,
        "segment header checksum mismatch",
    );
}
