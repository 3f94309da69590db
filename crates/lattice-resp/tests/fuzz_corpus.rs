//! Replays the committed fuzz corpus (`fuzz/corpus/resp_decode`) through the
//! same checks as the fuzz target, so every input the fuzzer ever kept is a
//! regression test in the normal test run.

// Test helpers outside #[test] functions may unwrap and index: a panic
// is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::BytesMut;
use lattice_resp::{parse_frame, RequestDecoder};

fn check(data: &[u8]) {
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::from(data);
    for _ in 0..1024 {
        match d.decode(&mut buf) {
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
    assert!(d.pending_bytes() <= data.len());
    if let Ok(Some((frame, _))) = parse_frame(data) {
        let mut out = BytesMut::new();
        frame.write(&mut out);
        assert_eq!(parse_frame(&out).unwrap().unwrap().0, frame);
    }
}

#[test]
fn corpus_replays_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/resp_decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 10, "corpus too small: {n}");
}
