//! The vote, durable before `save_vote` returns (openraft's rule: a vote
//! lost in a crash lets a node vote twice in one term).
//!
//! Kept as records of a small `lattice-storage` log of its own (directory
//! `raft-meta/`), so it gets the same checksums, torn-tail repair, fsync
//! policy and fault injection as the entry log: the newest valid record
//! wins, and older ones are purged as segments roll.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use lattice_storage::{FsyncPolicy, Log, LogBackend, LogOptions, Recovery, StorageError};
use openraft::Vote;

use crate::codec::{decode_log_id, put_log_id};
use crate::LogId;

/// A shared log backend (a directory, memory, or a fault injector).
pub type Backend = Arc<dyn LogBackend + Send + Sync>;

/// Segment size of the meta log: votes are 17 bytes, so small segments
/// keep the purged history small.
const META_SEGMENT_SIZE: u64 = 64 << 10;

/// The durable vote.
pub struct MetaStore {
    log: Log<Backend>,
}

/// What the meta log holds: the vote and the purge point of the entry log
/// (which `lattice-storage` does not persist itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaState {
    /// The last saved vote.
    pub vote: Option<Vote<u64>>,
    /// Entries up to this id are covered by a snapshot and purged.
    pub purged: Option<LogId>,
}

fn encode_vote(v: &Vote<u64>, out: &mut Vec<u8>) {
    out.put_u64_le(v.leader_id.term);
    out.put_u64_le(v.leader_id.node_id);
    out.put_u8(u8::from(v.committed));
}

fn decode_vote(b: &[u8]) -> Option<Vote<u64>> {
    let term = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let node = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    let committed = *b.get(16)?;
    if b.len() != 17 || committed > 1 {
        return None;
    }
    Some(if committed == 1 {
        Vote::new_committed(term, node)
    } else {
        Vote::new(term, node)
    })
}

/// Record: `has_vote:u8 [vote:17] has_purged:u8 [log_id:24]`.
fn encode_state(s: &MetaState) -> Vec<u8> {
    let mut out = Vec::with_capacity(43);
    match &s.vote {
        Some(v) => {
            out.put_u8(1);
            encode_vote(v, &mut out);
        }
        None => out.put_u8(0),
    }
    match &s.purged {
        Some(p) => {
            out.put_u8(1);
            put_log_id(&mut out, p);
        }
        None => out.put_u8(0),
    }
    out
}

/// Decodes one meta record (`None` if it is not a valid one).
pub fn decode_record(b: &[u8]) -> Option<MetaState> {
    let mut pos = 0;
    let mut st = MetaState::default();
    if *b.first()? == 1 {
        st.vote = Some(decode_vote(b.get(1..18)?)?);
        pos = 18;
    } else {
        pos += 1;
    }
    match *b.get(pos)? {
        1 => {
            let id = b.get(pos + 1..pos + 25)?;
            st.purged = Some(decode_log_id(Bytes::copy_from_slice(id)).ok()?);
            pos += 25;
        }
        0 => pos += 1,
        _ => return None,
    }
    (pos == b.len()).then_some(st)
}

impl MetaStore {
    /// Opens the meta log in `backend` and returns the last saved state.
    pub fn open(
        backend: Backend,
        fsync: FsyncPolicy,
    ) -> Result<(Self, MetaState, Recovery), StorageError> {
        let (log, rec) = Log::open(
            backend,
            LogOptions {
                segment_size: META_SEGMENT_SIZE,
                fsync,
            },
        )?;
        let mut state = MetaState::default();
        if let Some(last) = log.last_index() {
            let mut reader = log.read(last..=last)?;
            if let Some(rec) = reader.next() {
                let (_, payload) = rec?;
                state = decode_record(&payload).ok_or_else(|| StorageError::Corrupt {
                    file: "raft-meta".to_owned(),
                    offset: 0,
                    reason: "the last vote record does not decode".to_owned(),
                })?;
            }
        }
        Ok((MetaStore { log }, state, rec))
    }

    /// Saves the state (fsynced before returning under `always`).
    pub fn save(&mut self, state: MetaState) -> Result<(), StorageError> {
        let index = self.log.next_index().unwrap_or(1);
        let payload = encode_state(&state);
        self.log.append(&[(index, &payload)])?;
        // Older records are history: drop whole sealed segments.
        self.log.purge_before(index)?;
        Ok(())
    }

    /// Changes the fsync policy.
    pub fn set_fsync(&mut self, fsync: FsyncPolicy) {
        self.log.set_fsync(fsync);
    }

    /// Fsyncs pending records (the `everysec` timer).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.log.needs_sync() {
            self.log.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use lattice_storage::MemBackend;

    #[test]
    fn the_newest_vote_survives_reopen() {
        let mem: Backend = Arc::new(MemBackend::new());
        let (mut m, s, _) = MetaStore::open(mem.clone(), FsyncPolicy::Always).unwrap();
        assert_eq!(s, MetaState::default());
        for t in 1..5000 {
            m.save(MetaState {
                vote: Some(Vote::new(t, 1)),
                purged: None,
            })
            .unwrap();
        }
        let last = MetaState {
            vote: Some(Vote::new_committed(5000, 2)),
            purged: Some(LogId::new(openraft::CommittedLeaderId::new(4, 2), 77)),
        };
        m.save(last).unwrap();
        drop(m);
        let (_, s, _) = MetaStore::open(mem, FsyncPolicy::Always).unwrap();
        assert_eq!(s, last);
    }

    #[test]
    fn records_decode_strictly() {
        let st = MetaState {
            vote: Some(Vote::new(3, 4)),
            purged: None,
        };
        assert_eq!(decode_record(&encode_state(&st)), Some(st));
        assert!(decode_vote(&[0; 16]).is_none());
        assert!(decode_vote(&[0; 18]).is_none());
        let mut bad = encode_state(&st);
        bad[17] = 2;
        assert!(decode_record(&bad).is_none());
        let mut long = encode_state(&st);
        long.push(0);
        assert!(decode_record(&long).is_none());
        for cut in 0..encode_state(&st).len() {
            assert!(decode_record(&encode_state(&st)[..cut]).is_none());
        }
    }
}
