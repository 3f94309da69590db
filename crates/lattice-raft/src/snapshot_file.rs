//! The snapshot container: Raft's metadata around the server's snapshot
//! bytes, checksummed as a whole, and the one file it lives in.
//!
//! Layout (all integers little-endian; see `docs/design/snapshot-format.md`):
//!
//! ```text
//! "LATRSNAP" version:u32 meta_len:u32 meta body body_len:u64 crc32:u32 "LATREND\0"
//! meta = has_last:u8 [log_id:24] has_mlog:u8 [log_id:24] membership id_len:u32 id
//! ```
//!
//! `crc32` covers every byte before `body_len`'s end. The body is what
//! [`crate::SnapshotSource::write_to`] wrote (session state and the
//! engine's dataset, which carries its own checksums too).
//!
//! The file is `snapshots/snapshot.lsnap`, replaced atomically (write a
//! temporary, fsync, rename, fsync the directory), so there is never more
//! than one and a crash leaves the old or the new one whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};
use openraft::{BasicNode, Membership, SnapshotMeta, StoredMembership};

use crate::codec::{decode_log_id, decode_membership, put_log_id, put_membership};
use crate::LogId;

/// Magic at the start of a snapshot file.
pub const MAGIC: &[u8; 8] = b"LATRSNAP";
/// Magic at the end.
pub const END_MAGIC: &[u8; 8] = b"LATREND\0";
/// Current container version.
pub const VERSION: u32 = 1;
/// The snapshot's file name inside the snapshot directory.
pub const FILE_NAME: &str = "snapshot.lsnap";

/// What is wrong with a snapshot file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    /// Reading or writing failed.
    #[error("snapshot I/O on {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid snapshot.
    #[error("corrupt snapshot {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The file (or "received" for one sent by a leader).
        file: String,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Written by a newer Lattice.
    #[error("snapshot {file} has version {version}; this build reads up to {VERSION}")]
    Version {
        /// The file.
        file: String,
        /// Its version.
        version: u32,
    },
}

/// A parsed snapshot: Raft's metadata and the server's body.
#[derive(Debug)]
pub struct Parsed {
    /// Raft metadata.
    pub meta: SnapshotMeta<u64, BasicNode>,
    /// The server's part.
    pub body: Bytes,
}

/// Wraps `body` (written by `write_body`) in the container.
pub fn encode(
    meta: &SnapshotMeta<u64, BasicNode>,
    write_body: impl FnOnce(&mut Vec<u8>) -> std::io::Result<u64>,
) -> std::io::Result<Vec<u8>> {
    let mut m = Vec::new();
    put_opt_log_id(&mut m, meta.last_log_id.as_ref());
    put_opt_log_id(&mut m, meta.last_membership.log_id().as_ref());
    put_membership(&mut m, meta.last_membership.membership());
    m.put_u32_le(meta.snapshot_id.len() as u32);
    m.put_slice(meta.snapshot_id.as_bytes());
    let mut out = Vec::with_capacity(m.len() + 64);
    out.put_slice(MAGIC);
    out.put_u32_le(VERSION);
    out.put_u32_le(m.len() as u32);
    out.put_slice(&m);
    let body_start = out.len();
    write_body(&mut out)?;
    let body_len = (out.len() - body_start) as u64;
    out.put_u64_le(body_len);
    let crc = crc32fast::hash(&out);
    out.put_u32_le(crc);
    out.put_slice(END_MAGIC);
    Ok(out)
}

fn put_opt_log_id(out: &mut Vec<u8>, id: Option<&LogId>) {
    match id {
        Some(id) => {
            out.put_u8(1);
            put_log_id(out, id);
        }
        None => out.put_u8(0),
    }
}

/// Verifies and parses a container.
pub fn decode(bytes: Bytes, file: &str) -> Result<Parsed, SnapshotFileError> {
    let corrupt = |offset: usize, reason: &str| SnapshotFileError::Corrupt {
        file: file.to_owned(),
        offset: offset as u64,
        reason: reason.to_owned(),
    };
    if bytes.get(..8) != Some(&MAGIC[..]) {
        return Err(corrupt(0, "not a Lattice snapshot (bad magic)"));
    }
    let n = bytes.len();
    if n < 8 + 4 + 4 + 8 + 4 + 8 {
        return Err(corrupt(n, "truncated"));
    }
    let trailer = n - 20;
    if bytes.get(n - 8..) != Some(&END_MAGIC[..]) {
        return Err(corrupt(
            n.saturating_sub(8),
            "truncated or damaged end marker",
        ));
    }
    let version = le_u32(&bytes, 8).ok_or_else(|| corrupt(8, "truncated"))?;
    if version > VERSION || version == 0 {
        return Err(SnapshotFileError::Version {
            file: file.to_owned(),
            version,
        });
    }
    let want_crc = le_u32(&bytes, n - 12).ok_or_else(|| corrupt(n - 12, "truncated"))?;
    let covered = bytes.get(..n - 12).ok_or_else(|| corrupt(0, "truncated"))?;
    if crc32fast::hash(covered) != want_crc {
        return Err(corrupt(n - 12, "checksum mismatch"));
    }
    let meta_len = le_u32(&bytes, 12).ok_or_else(|| corrupt(12, "truncated"))? as usize;
    let meta_start: usize = 16;
    let meta_end = meta_start
        .checked_add(meta_len)
        .filter(|&e| e <= trailer)
        .ok_or_else(|| corrupt(12, "metadata length out of range"))?;
    let body_len = u64::from_le_bytes(
        bytes
            .get(trailer..trailer + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt(trailer, "truncated"))?,
    );
    if body_len != (trailer - meta_end) as u64 {
        return Err(corrupt(trailer, "body length does not match the file"));
    }
    let meta = bytes.slice(meta_start..meta_end);
    let mut pos = 0usize;
    let last_log_id =
        read_opt_log_id(&meta, &mut pos).ok_or_else(|| corrupt(meta_start + pos, "bad log id"))?;
    let mlog =
        read_opt_log_id(&meta, &mut pos).ok_or_else(|| corrupt(meta_start + pos, "bad log id"))?;
    let (membership, used): (Membership<u64, BasicNode>, usize) =
        decode_membership(meta.slice(pos..))
            .map_err(|e| corrupt(meta_start + pos + e.offset, e.reason))?;
    pos += used;
    let id_len = le_u32(&meta, pos).ok_or_else(|| corrupt(meta_start + pos, "truncated"))? as usize;
    pos += 4;
    let id = meta
        .get(pos..pos.saturating_add(id_len))
        .ok_or_else(|| corrupt(meta_start + pos, "snapshot id out of range"))?;
    let snapshot_id = String::from_utf8(id.to_vec())
        .map_err(|_| corrupt(meta_start + pos, "snapshot id not UTF-8"))?;
    if pos + id_len != meta.len() {
        return Err(corrupt(meta_start + pos + id_len, "trailing metadata"));
    }
    Ok(Parsed {
        meta: SnapshotMeta {
            last_log_id,
            last_membership: StoredMembership::new(mlog, membership),
            snapshot_id,
        },
        body: bytes.slice(meta_end..trailer),
    })
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_opt_log_id(b: &Bytes, pos: &mut usize) -> Option<Option<LogId>> {
    match *b.get(*pos)? {
        0 => {
            *pos += 1;
            Some(None)
        }
        1 => {
            let id = decode_log_id(b.slice(*pos + 1..(*pos + 25).min(b.len()))).ok()?;
            *pos += 25;
            Some(Some(id))
        }
        _ => None,
    }
}

/// The snapshot file's path in `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Replaces the snapshot file atomically and durably.
pub fn write_atomic(dir: &Path, bytes: &[u8]) -> Result<(), SnapshotFileError> {
    let io = |file: &Path| {
        let file = file.display().to_string();
        move |source| SnapshotFileError::Io { file, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let fin = path_in(dir);
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, &fin).map_err(io(&fin))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Reads and verifies the snapshot file in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Parsed>, SnapshotFileError> {
    let p = path_in(dir);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotFileError::Io {
                file: p.display().to_string(),
                source,
            })
        }
    };
    decode(Bytes::from(bytes), &p.display().to_string()).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta() -> SnapshotMeta<u64, BasicNode> {
        let mut nodes = BTreeMap::new();
        nodes.insert(1, BasicNode::new("127.0.0.1:6379"));
        let m = Membership::new(vec![[1].into_iter().collect()], nodes);
        let id = LogId::new(openraft::CommittedLeaderId::new(2, 1), 40);
        SnapshotMeta {
            last_log_id: Some(id),
            last_membership: StoredMembership::new(Some(id), m),
            snapshot_id: "2-1-40-abc".into(),
        }
    }

    fn sample() -> Vec<u8> {
        encode(&meta(), |out| {
            out.extend_from_slice(b"body bytes");
            Ok(10)
        })
        .unwrap()
    }

    #[test]
    fn round_trips() {
        let p = decode(Bytes::from(sample()), "t").unwrap();
        assert_eq!(p.meta, meta());
        assert_eq!(&p.body[..], b"body bytes");
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_refused() {
        let good = sample();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(
                decode(Bytes::from(bad), "t").is_err(),
                "flip at {i} accepted"
            );
        }
        for cut in 0..good.len() {
            assert!(decode(Bytes::copy_from_slice(&good[..cut]), "t").is_err());
        }
    }

    #[test]
    fn a_newer_version_is_named() {
        let mut bad = sample();
        bad[8..12].copy_from_slice(&9u32.to_le_bytes());
        let e = decode(Bytes::from(bad), "f").unwrap_err();
        assert!(
            matches!(e, SnapshotFileError::Version { version: 9, .. }),
            "{e}"
        );
    }

    #[test]
    fn the_file_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        write_atomic(dir.path(), &sample()).unwrap();
        write_atomic(dir.path(), &sample()).unwrap();
        let p = read(dir.path()).unwrap().unwrap();
        assert_eq!(p.meta, meta());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }
}
