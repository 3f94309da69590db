//! Property tests: any request encoded as RESP decodes to the same arguments,
//! however the bytes are split; any frame roundtrips; no input panics.

use bytes::{Bytes, BytesMut};
use lattice_resp::{parse_frame, Frame, RequestDecoder};
use proptest::prelude::*;

fn encode_request(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,20}".prop_map(Frame::Simple),
        "[a-zA-Z0-9 ]{0,20}".prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Frame::Bulk(Bytes::from(v))),
        Just(Frame::Null),
        any::<bool>().prop_map(Frame::Boolean),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Set),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

proptest! {
    #[test]
    fn requests_roundtrip_under_any_split(
        reqs in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), 1..5),
        chunk in 1usize..17,
    ) {
        let mut wire = Vec::new();
        for r in &reqs { wire.extend(encode_request(r)); }
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(args) = d.decode(&mut buf).unwrap() {
                got.push(args.into_iter().map(|b| b.to_vec()).collect::<Vec<_>>());
            }
        }
        prop_assert_eq!(got, reqs);
    }

    #[test]
    fn frames_roundtrip(f in frame_strategy()) {
        let mut b = BytesMut::new();
        f.write(&mut b);
        prop_assert_eq!(parse_frame(&b).unwrap(), Some((f, b.len())));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::from(&data[..]);
        for _ in 0..64 {
            match d.decode(&mut buf) { Ok(Some(_)) => continue, _ => break }
        }
        let _ = parse_frame(&data);
    }
}
