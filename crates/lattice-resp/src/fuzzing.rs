//! The invariants the fuzz target checks, shared with the test that replays
//! the committed corpus so both always check the same things. Panics on a
//! violation (that is how a fuzzer reports one).

use bytes::BytesMut;

use crate::{parse_frame, RequestDecoder};

/// Feeds `data` to the request decoder and the frame parser: neither may
/// panic, the decoder's buffered state stays within the input's size, and a
/// frame that parses re-serialises to one that parses to the same frame.
pub fn check_invariants(data: &[u8]) {
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::from(data);
    for _ in 0..1024 {
        match d.decode(&mut buf) {
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
    assert!(
        d.pending_bytes() <= data.len(),
        "decoder holds more than it was given"
    );
    if let Ok(Some((frame, _))) = parse_frame(data) {
        let mut out = BytesMut::new();
        frame.write(&mut out);
        let again = parse_frame(&out);
        assert!(
            matches!(&again, Ok(Some((f, _))) if *f == frame),
            "frame did not roundtrip: {frame:?} -> {again:?}"
        );
    }
}
