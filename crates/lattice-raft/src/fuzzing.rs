//! The invariants the `raft_decode` fuzz target checks, shared with the
//! test that replays its committed corpus: decoding disk bytes (a log
//! entry, a meta record, a snapshot container) never panics, and an entry
//! that decodes re-encodes to bytes that decode to the same entry.

use bytes::Bytes;

use crate::codec::{decode_entry, encode_entry};

/// Runs every decoder on `data`; panics if an invariant breaks.
pub fn check_invariants(data: &[u8]) {
    if let Ok(entry) = decode_entry(Bytes::copy_from_slice(data)) {
        let mut again = Vec::new();
        encode_entry(&entry, &mut again);
        let back = decode_entry(Bytes::from(again.clone()));
        let Ok(back) = back else {
            panic!("a decoded entry re-encodes to bytes that do not decode");
        };
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(
            format!("{:?}", back.payload),
            format!("{:?}", entry.payload)
        );
        let mut third = Vec::new();
        encode_entry(&back, &mut third);
        assert_eq!(again, third, "encoding is not stable");
    }
    let _ = crate::meta::decode_record(data);
    let _ = crate::snapshot_file::decode(Bytes::copy_from_slice(data), "fuzz");
}
