//! Replays the committed fuzz corpus (`fuzz/corpus/raft_decode`) through the
//! same checks as the fuzz target (`lattice_raft::fuzzing`), so every input
//! the fuzzer kept is a regression test in the normal test run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use lattice_raft::fuzzing::check_invariants;

#[test]
fn corpus_replays_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/raft_decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.unwrap().path();
        check_invariants(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 10, "corpus too small: {n}");
}
