//! Fuzz target: the request decoder and the frame parser never panic, the
//! decoder's buffered state stays bounded, and a frame that parses
//! re-serialises to something that parses to the same frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use lattice_resp::{parse_frame, RequestDecoder};

fuzz_target!(|data: &[u8]| {
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
        let again = parse_frame(&out).expect("re-parse").expect("complete");
        assert_eq!(again.0, frame);
    }
});
