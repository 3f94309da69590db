//! Recovery's reading half: scans every segment, decides what is a torn
//! tail (repairable) and what is corruption (fatal), and changes nothing.
//! [`check`] reports the result; `Log::open` applies the repair.
//!
//! The rule: only the end of the LAST segment may be torn, because a segment
//! is fsynced before its successor is created (see `Log::append`). So a bad
//! or short record is a torn tail when it is in the last segment and either
//! nothing but zeros follows it, or part of it that lies in one 512-byte
//! disk sector is all zeros (a sector of the last write never reached the
//! disk over preallocated zeros: etcd's WAL uses the same test); anywhere
//! else it is [`StorageError::Corrupt`]. Zeros after the last record of the
//! last segment are free space (a preallocating backend keeps them there):
//! they are reported as a repair with [`TailRepair::zeros_only`] set, which
//! cuts no record.

use crate::format::{
    decode_record_header, decode_segment_header, encode_segment_header, parse_segment_name,
    HeaderError, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_SUFFIX,
};
use crate::{LogBackend, StorageError};

/// A torn tail found by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRepair {
    /// The last segment file.
    pub file: String,
    /// Length of its valid prefix: the file is cut to this many bytes.
    pub valid_len: u64,
    /// How many bytes are cut (the caller logs this).
    pub bytes_cut: u64,
    /// The whole file goes: its segment header itself was torn (a crash
    /// while rolling to a new segment).
    pub remove_file: bool,
    /// Why the tail is considered torn.
    pub reason: String,
    /// Everything cut is zeros after the last whole record: preallocated
    /// space or a length extended before its data, not a lost record.
    pub zeros_only: bool,
}

/// What [`check`] found: the valid log, and the torn tail that opening
/// would cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Segment files that remain after the repair.
    pub segments: usize,
    /// First index physically held, if any.
    pub first_index: Option<u64>,
    /// Last index held, if any.
    pub last_index: Option<u64>,
    /// Number of valid records.
    pub entries: u64,
    /// The torn tail opening would cut, if any.
    pub torn_tail: Option<TailRepair>,
}

/// One segment as found on disk: where each record starts.
#[derive(Debug, Clone)]
pub(crate) struct ScannedSegment {
    pub(crate) name: String,
    pub(crate) first: u64,
    pub(crate) offsets: Vec<u64>,
    /// End of the valid data (file length after any repair).
    pub(crate) end: u64,
}

/// The outcome of a scan.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) segments: Vec<ScannedSegment>,
    pub(crate) repair: Option<TailRepair>,
}

/// Verifies the whole log in `backend` without modifying anything.
pub fn check<B: LogBackend>(backend: &B) -> Result<CheckReport, StorageError> {
    let scan = scan(backend)?;
    let entries: u64 = scan.segments.iter().map(|s| s.offsets.len() as u64).sum();
    let first = scan.segments.first().map(|s| s.first);
    let next = scan
        .segments
        .last()
        .map(|s| s.first + s.offsets.len() as u64);
    let (first_index, last_index) = match (first, next) {
        (Some(f), Some(n)) if entries > 0 => (Some(f), Some(n - 1)),
        _ => (None, None),
    };
    Ok(CheckReport {
        segments: scan.segments.len(),
        first_index,
        last_index,
        entries,
        torn_tail: scan.repair,
    })
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

/// Disk sector size assumed by the torn-write test (the smallest there is).
const SECTOR: usize = 512;

/// Whether some piece of `bytes[from..to]` that lies within one 512-byte
/// sector of the file is all zeros: that sector of the write was lost.
fn has_zero_sector_piece(bytes: &[u8], from: usize, to: usize) -> bool {
    let to = to.min(bytes.len());
    let mut at = from;
    while at < to {
        let piece_end = ((at / SECTOR + 1) * SECTOR).min(to);
        if bytes.get(at..piece_end).is_some_and(all_zero) {
            return true;
        }
        at = piece_end;
    }
    false
}

pub(crate) fn scan<B: LogBackend>(backend: &B) -> Result<Scan, StorageError> {
    let mut names = Vec::new();
    for name in backend.list().map_err(|e| StorageError::io(".", e))? {
        if !name.ends_with(SEGMENT_SUFFIX) {
            continue;
        }
        let first = parse_segment_name(&name).ok_or_else(|| {
            StorageError::corrupt(&name, 0, "segment file name is not {first_index:020}.seg")
        })?;
        names.push((first, name));
    }
    names.sort();

    let count = names.len();
    let mut segments: Vec<ScannedSegment> = Vec::with_capacity(count);
    let mut repair = None;
    for (i, (first, name)) in names.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let bytes = backend
            .read_all(&name)
            .map_err(|e| StorageError::io(&name, e))?;
        match decode_segment_header(&bytes) {
            Ok(h) if h == first => {}
            Ok(h) => {
                return Err(StorageError::corrupt(
                    &name,
                    0,
                    format!("segment header says first index {h}, file name says {first}"),
                ))
            }
            Err(e) => {
                // A crash while rolling can leave the new segment with a
                // prefix of its header (or, on some file systems, zeros).
                let expected = encode_segment_header(first);
                let torn_prefix = e == HeaderError::Short
                    && expected.get(..bytes.len()) == Some(bytes.as_slice());
                if is_last && (torn_prefix || all_zero(&bytes)) {
                    repair = Some(TailRepair {
                        file: name,
                        valid_len: 0,
                        bytes_cut: bytes.len() as u64,
                        remove_file: true,
                        reason: "segment header torn while rolling".to_owned(),
                        zeros_only: all_zero(&bytes),
                    });
                    break;
                }
                return Err(StorageError::corrupt(&name, 0, e.reason()));
            }
        }
        if let Some(prev) = segments.last() {
            let expected = prev.first + prev.offsets.len() as u64;
            if first != expected {
                return Err(StorageError::corrupt(
                    &name,
                    0,
                    format!(
                        "gap in log: segment starts at {first}, previous ends before {expected}"
                    ),
                ));
            }
        }
        let (offsets, end, torn) = scan_records(&name, &bytes, first, is_last)?;
        if let Some(reason) = torn {
            let cut = bytes.get(usize::try_from(end).unwrap_or(usize::MAX)..);
            repair = Some(TailRepair {
                file: name.clone(),
                valid_len: end,
                bytes_cut: bytes.len() as u64 - end,
                remove_file: false,
                reason,
                zeros_only: cut.is_some_and(all_zero),
            });
        }
        segments.push(ScannedSegment {
            name,
            first,
            offsets,
            end,
        });
    }
    Ok(Scan { segments, repair })
}

/// Walks the records of one segment. Returns the record offsets, the end of
/// the valid data and, if the segment ends in a torn tail, why.
fn scan_records(
    name: &str,
    bytes: &[u8],
    first: u64,
    is_last: bool,
) -> Result<(Vec<u64>, u64, Option<String>), StorageError> {
    let mut offsets = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut index = first;
    loop {
        let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) else {
            return Ok((offsets, pos as u64, None));
        };
        let at = pos as u64;
        // A torn tail is repairable only at the end of the last segment.
        let torn = |reason: &str| {
            if is_last {
                Ok(reason.to_owned())
            } else {
                Err(StorageError::corrupt(
                    name,
                    at,
                    format!("{reason} in a sealed (not last) segment"),
                ))
            }
        };
        let torn_result = if rest.len() < RECORD_HEADER_LEN {
            torn("record header cut short")
        } else if let Some(h) = decode_record_header(rest) {
            if h.len as usize > MAX_PAYLOAD_LEN {
                return Err(StorageError::corrupt(
                    name,
                    at,
                    format!("record length {} exceeds the maximum", h.len),
                ));
            }
            if h.index != index {
                return Err(StorageError::corrupt(
                    name,
                    at,
                    format!("record index {} where {index} was expected", h.index),
                ));
            }
            let rec_len = RECORD_HEADER_LEN + h.len as usize;
            match rest.get(RECORD_HEADER_LEN..rec_len) {
                None => torn("record cut short"),
                Some(payload) if h.payload_ok(payload) => {
                    offsets.push(at);
                    pos += rec_len;
                    // The index after the last record must be representable.
                    index = index.checked_add(1).ok_or_else(|| {
                        StorageError::corrupt(
                            name,
                            at,
                            "record index u64::MAX leaves no next index",
                        )
                    })?;
                    continue;
                }
                Some(_) if all_zero(rest.get(rec_len..).unwrap_or_default()) => {
                    torn("payload checksum mismatch in the last record")
                }
                Some(_) if is_last && has_zero_sector_piece(bytes, pos, pos + rec_len) => torn(
                    "payload checksum mismatch in a record with a sector of zeros (torn write)",
                ),
                Some(_) => {
                    return Err(StorageError::corrupt(
                        name,
                        at,
                        "payload checksum mismatch before the end of the log",
                    ))
                }
            }
        } else if all_zero(rest) {
            torn("trailing zeros")
        } else if is_last && has_zero_sector_piece(bytes, pos, pos + RECORD_HEADER_LEN) {
            torn("record header with a sector of zeros (torn write)")
        } else {
            return Err(StorageError::corrupt(
                name,
                at,
                "record header checksum mismatch",
            ));
        };
        return torn_result.map(|reason| (offsets, at, Some(reason)));
    }
}
