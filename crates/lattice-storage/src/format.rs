//! The byte format of segment files: the segment header, the record codec
//! and segment file names. Encoding, decoding and every constant of the
//! format live here and nowhere else (docs/design/log-format.md describes
//! them byte by byte). Decoding never panics on any input.
//!
//! ```text
//! segment header (28 bytes)
//!   magic        [u8; 8]  = b"LATSEG\r\n"
//!   version      u32 LE   = 1
//!   reserved     u32 LE   = 0
//!   first_index  u64 LE   (equals the number in the file name)
//!   header_crc   u32 LE   = crc32(previous 24 bytes)
//! record (20-byte header + payload)
//!   len          u32 LE   payload length
//!   index        u64 LE   Raft log index
//!   payload_crc  u32 LE   = crc32(payload)
//!   header_crc   u32 LE   = crc32(len ++ index ++ payload_crc)
//!   payload      [u8; len]
//! ```

use crate::StorageError;

/// First eight bytes of every segment file. The `\r\n` catches text-mode
/// mangling, as PNG's signature does.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LATSEG\r\n";
/// Version of the segment format written by this code.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 28;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 20;
/// Largest payload one record may carry (1 GiB). Recovery reads a whole
/// segment into memory, so this also bounds recovery's allocation per record.
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// `{first_index:020}.seg`: zero-padded so lexical order is index order.
pub fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name back into its first index. `None` unless the
/// name is exactly twenty decimal digits followed by `.seg`.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// The header that starts a segment whose first record has `first_index`.
pub fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    let mut body = Vec::with_capacity(SEGMENT_HEADER_LEN);
    body.extend_from_slice(&SEGMENT_MAGIC);
    body.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&first_index.to_le_bytes());
    let c = crc(&[&body]);
    body.extend_from_slice(&c.to_le_bytes());
    for (dst, src) in out.iter_mut().zip(body) {
        *dst = src;
    }
    out
}

/// Why a segment header did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Short,
    /// The magic bytes are wrong: not a Lattice segment.
    Magic,
    /// A format version this code does not read.
    Version(u32),
    /// The reserved field is not zero (written by a newer format).
    Reserved,
    /// The header checksum does not match.
    Checksum,
}

impl HeaderError {
    /// The reason text used in [`StorageError::Corrupt`].
    pub fn reason(self) -> String {
        match self {
            HeaderError::Short => "segment header cut short".to_owned(),
            HeaderError::Magic => "bad segment magic".to_owned(),
            HeaderError::Version(v) => format!("unsupported segment format version {v}"),
            HeaderError::Reserved => "non-zero reserved field in segment header".to_owned(),
            HeaderError::Checksum => "segment header checksum mismatch".to_owned(),
        }
    }
}

/// Decodes a segment header from the start of `bytes`, returning its first index.
pub fn decode_segment_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    let head = bytes.get(..SEGMENT_HEADER_LEN).ok_or(HeaderError::Short)?;
    if head.get(..8) != Some(&SEGMENT_MAGIC[..]) {
        return Err(HeaderError::Magic);
    }
    let stored = le_u32(head, 24).ok_or(HeaderError::Short)?;
    let body = head.get(..24).ok_or(HeaderError::Short)?;
    if crc(&[body]) != stored {
        return Err(HeaderError::Checksum);
    }
    let version = le_u32(head, 8).ok_or(HeaderError::Short)?;
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    if le_u32(head, 12) != Some(0) {
        return Err(HeaderError::Reserved);
    }
    le_u64(head, 16).ok_or(HeaderError::Short)
}

/// Appends the encoded record `(index, payload)` to `out`.
pub fn encode_record(index: u64, payload: &[u8], out: &mut Vec<u8>) -> Result<(), StorageError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|_| payload.len() <= MAX_PAYLOAD_LEN)
        .ok_or(StorageError::RecordTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        })?;
    let len_b = len.to_le_bytes();
    let index_b = index.to_le_bytes();
    let pcrc_b = crc(&[payload]).to_le_bytes();
    let hcrc = crc(&[&len_b, &index_b, &pcrc_b]);
    out.reserve(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(&len_b);
    out.extend_from_slice(&index_b);
    out.extend_from_slice(&pcrc_b);
    out.extend_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// A decoded record header whose own checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length.
    pub len: u32,
    /// Raft log index.
    pub index: u64,
    /// crc32 of the payload.
    pub payload_crc: u32,
}

impl RecordHeader {
    /// Header plus payload length.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }

    /// Whether `payload` matches the checksum in this header.
    pub fn payload_ok(&self, payload: &[u8]) -> bool {
        crc(&[payload]) == self.payload_crc
    }
}

/// Decodes a record header from the start of `bytes`. `None` when fewer
/// than [`RECORD_HEADER_LEN`] bytes are given or the header checksum fails.
pub fn decode_record_header(bytes: &[u8]) -> Option<RecordHeader> {
    let head = bytes.get(..RECORD_HEADER_LEN)?;
    let body = head.get(..16)?;
    if crc(&[body]) != le_u32(head, 16)? {
        return None;
    }
    Some(RecordHeader {
        len: le_u32(head, 0)?,
        index: le_u64(head, 4)?,
        payload_crc: le_u32(head, 12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_by_index() {
        assert_eq!(segment_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("1.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000a.seg"), None);
        assert_eq!(parse_segment_name("00000000000000000001.log"), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        assert_eq!(decode_segment_header(&h[..27]), Err(HeaderError::Short));
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::Magic));
        let mut bad = h;
        bad[20] ^= 1;
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::Checksum));
    }

    #[test]
    fn record_round_trips_and_header_checksum_catches_length_damage() {
        let mut buf = Vec::new();
        encode_record(7, b"hello", &mut buf).unwrap();
        assert_eq!(buf.len(), RECORD_HEADER_LEN + 5);
        let h = decode_record_header(&buf).unwrap();
        assert_eq!((h.len, h.index), (5, 7));
        assert!(h.payload_ok(&buf[RECORD_HEADER_LEN..]));
        assert!(!h.payload_ok(b"hellO"));
        // A flipped length bit must not send recovery past the end of the file.
        buf[3] ^= 0x80;
        assert_eq!(decode_record_header(&buf), None);
        assert_eq!(decode_record_header(&[0u8; RECORD_HEADER_LEN]), None);
        assert_eq!(decode_record_header(&[]), None);
    }
}
