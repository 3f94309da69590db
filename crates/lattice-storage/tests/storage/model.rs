//! Model-based property test: random appends, truncations, purges, syncs
//! and reopens against a `BTreeMap<u64, Vec<u8>>`, on the memory backend
//! and on a real directory.

use std::collections::BTreeMap;

use lattice_storage::{check, FsBackend, FsyncPolicy, Log, LogBackend, MemBackend};
use proptest::prelude::*;

use crate::small;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    /// `truncate_after(last - k)`, clamped to the logical first index.
    TruncateBack(u64),
    /// `purge_before(first + k)`; may go past the end.
    Purge(u64),
    Sync,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 1..6).prop_map(Op::Append),
        2 => (0u64..8).prop_map(Op::TruncateBack),
        2 => (0u64..10).prop_map(Op::Purge),
        1 => Just(Op::Sync),
        2 => Just(Op::Reopen),
    ]
}

/// What the log must hold: every entry ever appended and not truncated
/// (entries below `start` may still be on disk after a purge), the logical
/// first index and the next index.
#[derive(Debug, Default)]
struct Model {
    map: BTreeMap<u64, Vec<u8>>,
    start: u64,
    next: Option<u64>,
}

fn assert_matches<B: LogBackend>(log: &Log<B>, m: &Model) {
    assert_eq!(log.next_index(), m.next);
    let next = m.next.unwrap_or(m.start);
    if m.start < next {
        assert_eq!(log.first_index(), Some(m.start));
        assert_eq!(log.last_index(), Some(next - 1));
    } else {
        assert_eq!(log.first_index(), None);
    }
    let got: Vec<(u64, Vec<u8>)> = log.read(..).unwrap().map(Result::unwrap).collect();
    let want: Vec<(u64, Vec<u8>)> = m
        .map
        .range(m.start..next)
        .map(|(i, p)| (*i, p.clone()))
        .collect();
    assert_eq!(got, want);
}

fn run<B: LogBackend>(mut open: impl FnMut() -> B, ops: &[Op], fsync: FsyncPolicy) {
    let (mut log, _) = Log::open(open(), small(fsync)).unwrap();
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Append(payloads) => {
                let first = m.next.unwrap_or(1);
                let entries: Vec<(u64, Vec<u8>)> = payloads
                    .iter()
                    .enumerate()
                    .map(|(k, p)| (first + k as u64, p.clone()))
                    .collect();
                crate::append_owned(&mut log, &entries).unwrap();
                if m.next.is_none() {
                    m.start = first;
                }
                m.map.extend(entries);
                m.next = Some(first + payloads.len() as u64);
            }
            Op::TruncateBack(k) => {
                let Some(next) = m.next else { continue };
                let idx = next.saturating_sub(1 + k).max(m.start.saturating_sub(1));
                log.truncate_after(idx).unwrap();
                if idx + 1 < next {
                    m.map.retain(|i, _| *i <= idx);
                    m.next = Some(idx + 1);
                    m.start = m.start.min(idx + 1);
                }
            }
            Op::Purge(k) => {
                let p = m.start + k;
                log.purge_before(p).unwrap();
                match m.next {
                    Some(n) if p <= n => m.start = m.start.max(p),
                    _ => {
                        m.map.clear();
                        m.start = p;
                        m.next = Some(p);
                    }
                }
            }
            Op::Sync => log.sync().unwrap(),
            Op::Reopen => {
                drop(log);
                let backend = open();
                let report = check(&backend).unwrap();
                assert_eq!(report.torn_tail, None);
                let (reopened, rec) = Log::open(backend, small(fsync)).unwrap();
                assert_eq!(rec.bytes_truncated(), 0);
                log = reopened;
                // The logical first index is not persisted: what remains on
                // disk below it reappears and must be the original entries.
                if let Some(first) = log.first_index() {
                    assert!(first <= m.start);
                    m.start = first;
                } else if let Some(n) = m.next {
                    m.start = n;
                }
            }
        }
        assert_matches(&log, &m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model_in_memory(ops in prop::collection::vec(op(), 1..60)) {
        let mem = MemBackend::new();
        run(|| mem.clone(), &ops, FsyncPolicy::Always);
    }

    #[test]
    fn log_matches_model_in_memory_everysec(ops in prop::collection::vec(op(), 1..40)) {
        let mem = MemBackend::new();
        run(|| mem.clone(), &ops, FsyncPolicy::EverySec);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model_on_files(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        run(|| FsBackend::open(dir.path()).unwrap(), &ops, FsyncPolicy::Always);
    }
}

fn valid_segments() -> Vec<(String, Vec<u8>)> {
    let mem = MemBackend::new();
    let (mut log, _) = Log::open(mem.clone(), small(FsyncPolicy::No)).unwrap();
    for i in 1..=12u64 {
        log.append(&[(i, &vec![i as u8; (i * 7 % 40) as usize])])
            .unwrap();
    }
    drop(log);
    let mut files: Vec<(String, Vec<u8>)> = crate::segment_files(&mem)
        .into_iter()
        .map(|n| {
            let b = mem.read_all(&n).unwrap();
            (n, b)
        })
        .collect();
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Damaged bytes never panic recovery: `check` and `open` agree, and a
    /// log that opens reads back without error.
    #[test]
    fn damaged_segments_never_panic_and_check_agrees_with_open(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        cut_len in 0usize..40,
    ) {
        let mut files = valid_segments();
        for (file, at, xor) in flips {
            let n = files.len();
            let f = &mut files[file.index(n)].1;
            let i = at.index(f.len());
            f[i] ^= xor;
        }
        let n = files.len();
        let last = &mut files[cut.index(n)].1;
        let keep = last.len().saturating_sub(cut_len);
        last.truncate(keep);
        let mem = MemBackend::new();
        for (n, b) in files {
            mem.put(&n, b);
        }
        let checked = check(&mem);
        match Log::open(mem.clone(), small(FsyncPolicy::No)) {
            Ok((log, rec)) => {
                let report = checked.unwrap();
                prop_assert_eq!(rec.torn_tail, report.torn_tail);
                for item in log.read(..).unwrap() {
                    item.unwrap();
                }
            }
            Err(e) => {
                prop_assert!(checked.is_err(), "open failed ({}) but check passed", e);
            }
        }
    }
}
