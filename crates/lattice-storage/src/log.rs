//! [`Log`]: the append-only Raft log over a [`LogBackend`].
//!
//! Owns the in-memory index (where each record starts), the fsync policy,
//! group commit, segment rolling, suffix truncation, prefix purge and
//! poisoning. It does not know what a payload means and depends on nothing
//! above it (no openraft, no tokio).
//!
//! Invariants kept here (docs/design/log-format.md lists them all):
//! * segments are contiguous in index and only the last may be empty;
//! * a segment is fsynced before its successor is created, so only the last
//!   segment can end in a torn tail;
//! * under [`FsyncPolicy::Always`], `append` returns `Ok` only after the
//!   whole batch (and any new segment's directory entry) is fsynced;
//! * after a failed fsync nothing is acknowledged again ([`StorageError::Poisoned`]).

use std::collections::BTreeSet;
use std::ops::{Bound, RangeBounds};

use crate::error::is_disk_full;
use crate::format::{
    decode_record_header, encode_record, encode_segment_header, segment_name, SEGMENT_HEADER_LEN,
};
use crate::scan::{scan, ScannedSegment, TailRepair};
use crate::{LogBackend, StorageError};

/// When appended data is fsynced (Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `append` fsyncs before returning: one fsync per batch (group commit).
    #[default]
    Always,
    /// The caller calls [`Log::sync`] from a once-a-second timer when
    /// [`Log::needs_sync`] says so; up to a second of appends can be lost.
    EverySec,
    /// Never fsync appends, truncations or purges; the OS writes back when
    /// it likes. Sealing a segment at a roll still fsyncs it (once per
    /// segment), so that only the last segment can ever be torn.
    No,
}

/// Options for [`Log::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// A segment is sealed and a new one started once it holds at least one
    /// record and the next record would take it past this many bytes.
    pub segment_size: u64,
    /// The fsync policy.
    pub fsync: FsyncPolicy,
}

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            fsync: FsyncPolicy::Always,
        }
    }
}

/// What `open` found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files in the opened log.
    pub segments: usize,
    /// Valid records found.
    pub entries: u64,
    /// The torn tail that was cut, if any (the caller logs it).
    pub torn_tail: Option<TailRepair>,
}

impl Recovery {
    /// Bytes cut from the torn tail (0 if none).
    pub fn bytes_truncated(&self) -> u64 {
        self.torn_tail.as_ref().map_or(0, |t| t.bytes_cut)
    }
}

#[derive(Debug)]
struct Segment {
    name: String,
    first: u64,
    /// Start offset of each record; record `first + i` is at `offsets[i]`.
    offsets: Vec<u64>,
    /// End of the last record (the file length).
    end: u64,
}

impl Segment {
    fn next(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }
}

impl From<ScannedSegment> for Segment {
    fn from(s: ScannedSegment) -> Self {
        Segment {
            name: s.name,
            first: s.first,
            offsets: s.offsets,
            end: s.end,
        }
    }
}

/// The Raft log. Sync API: the caller decides which thread blocks on fsync.
#[derive(Debug)]
pub struct Log<B: LogBackend> {
    backend: B,
    opts: LogOptions,
    segments: Vec<Segment>,
    /// Logical first index: entries below it are purged even if a segment
    /// still holds them.
    start: u64,
    /// Index the next append must carry; `None` for a log that has never
    /// held anything (the first append may start anywhere).
    next: Option<u64>,
    poisoned: bool,
    /// Files written since their last fsync.
    dirty: BTreeSet<String>,
    /// Files created since the last directory fsync.
    dir_dirty: bool,
}

impl<B: LogBackend> Log<B> {
    /// Opens the log in `backend`, cutting a torn tail (reported in
    /// [`Recovery`]) and failing with [`StorageError::Corrupt`] on any
    /// damage before the tail.
    pub fn open(backend: B, opts: LogOptions) -> Result<(Self, Recovery), StorageError> {
        let scanned = scan(&backend)?;
        if let Some(rep) = &scanned.repair {
            if rep.remove_file {
                backend
                    .remove(&rep.file)
                    .map_err(|e| StorageError::io(&rep.file, e))?;
            } else {
                backend
                    .truncate(&rep.file, rep.valid_len)
                    .map_err(|e| StorageError::io(&rep.file, e))?;
                backend
                    .sync(&rep.file)
                    .map_err(|e| StorageError::SyncFailed {
                        file: rep.file.clone(),
                        source: e,
                    })?;
            }
            backend.sync_dir().map_err(|e| StorageError::SyncFailed {
                file: ".".to_owned(),
                source: e,
            })?;
        }
        let segments: Vec<Segment> = scanned.segments.into_iter().map(Segment::from).collect();
        let recovery = Recovery {
            segments: segments.len(),
            entries: segments.iter().map(|s| s.offsets.len() as u64).sum(),
            torn_tail: scanned.repair,
        };
        let start = segments.first().map_or(0, |s| s.first);
        let next = segments.last().map(Segment::next);
        let log = Log {
            backend,
            opts,
            segments,
            start,
            next,
            poisoned: false,
            dirty: BTreeSet::new(),
            dir_dirty: false,
        };
        Ok((log, recovery))
    }

    /// The backend (tests reach the fault injector through it).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The options the log was opened with.
    pub fn options(&self) -> LogOptions {
        self.opts
    }

    /// First index held, `None` when the log holds no entry.
    pub fn first_index(&self) -> Option<u64> {
        self.next.filter(|n| self.start < *n).map(|_| self.start)
    }

    /// Last index held, `None` when the log holds no entry.
    pub fn last_index(&self) -> Option<u64> {
        self.next.filter(|n| self.start < *n).map(|n| n - 1)
    }

    /// The index the next append must carry; `None` for a log that has never
    /// held an entry (any start index is accepted).
    pub fn next_index(&self) -> Option<u64> {
        self.next
    }

    /// Changes the fsync policy (`CONFIG SET appendfsync`). Dirty files are
    /// tracked under every policy, so moving to `Always` makes the next
    /// append fsync everything written before it too.
    pub fn set_fsync(&mut self, fsync: FsyncPolicy) {
        self.opts.fsync = fsync;
    }

    /// Whether an fsync failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether appended data awaits an fsync (for the `EverySec` timer).
    /// Always `false` under [`FsyncPolicy::No`].
    pub fn needs_sync(&self) -> bool {
        self.opts.fsync != FsyncPolicy::No && (!self.dirty.is_empty() || self.dir_dirty)
    }

    fn check_poison(&self) -> Result<(), StorageError> {
        if self.poisoned {
            Err(StorageError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Fsyncs every dirty file, then the directory if files were created.
    /// A failure poisons the log.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check_poison()?;
        self.sync_inner()
    }

    fn sync_inner(&mut self) -> Result<(), StorageError> {
        while let Some(name) = self.dirty.first().cloned() {
            if let Err(e) = self.backend.sync(&name) {
                self.poisoned = true;
                return Err(StorageError::SyncFailed {
                    file: name,
                    source: e,
                });
            }
            self.dirty.remove(&name);
        }
        if self.dir_dirty {
            if let Err(e) = self.backend.sync_dir() {
                self.poisoned = true;
                return Err(StorageError::SyncFailed {
                    file: ".".to_owned(),
                    source: e,
                });
            }
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Cuts the free space a preallocating backend keeps past the last
    /// record (and marks the segment for the next sync), so a cleanly shut
    /// down log ends at its last record. Appends after it preallocate again.
    pub fn trim(&mut self) -> Result<(), StorageError> {
        self.check_poison()?;
        if let Some(seg) = self.segments.last() {
            let name = seg.name.clone();
            if let Err(e) = self.backend.truncate(&name, seg.end) {
                self.poisoned = true;
                return Err(StorageError::io(&name, e));
            }
            self.dirty.insert(name);
        }
        Ok(())
    }

    /// Appends `entries`, whose indexes must run on contiguously from
    /// [`Log::next_index`]. Under [`FsyncPolicy::Always`] the whole batch is
    /// fsynced once before this returns (group commit). On any error the log
    /// is as it was before the call ([`StorageError::DiskFull`] included), or
    /// poisoned if it could not be put back.
    pub fn append(&mut self, entries: &[(u64, &[u8])]) -> Result<(), StorageError> {
        self.check_poison()?;
        let Some(&(first, _)) = entries.first() else {
            return Ok(());
        };
        let expected = self.next.unwrap_or(first);
        // The index after the batch must exist too (it becomes `next`).
        let Some(after) = expected.checked_add(entries.len() as u64) else {
            return Err(StorageError::OutOfRange {
                lo: expected,
                hi: u64::MAX,
                first: self.start,
                next: expected,
            });
        };
        for (i, (index, _)) in entries.iter().enumerate() {
            let want = expected + i as u64;
            if *index != want {
                return Err(StorageError::NonContiguous {
                    expected: want,
                    got: *index,
                });
            }
        }
        let before = self.mark();
        if let Err(e) = self.write_batch(entries) {
            if self.rollback(before).is_err() {
                self.poisoned = true;
            }
            return Err(e);
        }
        let was_empty_anchor = self.next.is_none();
        self.next = Some(after);
        if was_empty_anchor {
            self.start = first;
        }
        if self.opts.fsync == FsyncPolicy::Always {
            self.sync_inner()?;
        }
        Ok(())
    }

    /// Where the log ends now, to roll back a failed append.
    fn mark(&self) -> (usize, u64, usize) {
        match self.segments.last() {
            Some(s) => (self.segments.len(), s.end, s.offsets.len()),
            None => (0, 0, 0),
        }
    }

    fn rollback(&mut self, (count, end, records): (usize, u64, usize)) -> Result<(), StorageError> {
        while self.segments.len() > count {
            if let Some(seg) = self.segments.pop() {
                self.dirty.remove(&seg.name);
                match self.backend.remove(&seg.name) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StorageError::io(&seg.name, e))
                    }
                    _ => {}
                }
            }
        }
        if let Some(seg) = self.segments.last_mut() {
            // A failed append may have written part of its bytes past `end`.
            self.backend
                .truncate(&seg.name, end)
                .map_err(|e| StorageError::io(&seg.name, e))?;
            seg.end = end;
            seg.offsets.truncate(records);
        }
        Ok(())
    }

    fn write_batch(&mut self, entries: &[(u64, &[u8])]) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        let mut pending: Vec<u64> = Vec::new();
        for (index, payload) in entries {
            let rec_start = buf.len();
            encode_record(*index, payload, &mut buf)?;
            let rec_len = (buf.len() - rec_start) as u64;
            let roll = match self.segments.last() {
                None => true,
                Some(seg) => {
                    let holds_records = !seg.offsets.is_empty() || !pending.is_empty();
                    holds_records && seg.end + rec_start as u64 + rec_len > self.opts.segment_size
                }
            };
            if roll {
                let record = buf.split_off(rec_start);
                self.flush(&buf, &mut pending)?;
                buf = record;
                self.roll(*index)?;
            }
            let base = self.segments.last().map_or(0, |s| s.end);
            pending.push(base + (buf.len() as u64 - rec_len));
        }
        self.flush(&buf, &mut pending)
    }

    /// Writes `buf` (records starting at `pending` offsets) to the last segment.
    fn flush(&mut self, buf: &[u8], pending: &mut Vec<u64>) -> Result<(), StorageError> {
        if buf.is_empty() {
            return Ok(());
        }
        let Some(seg) = self.segments.last_mut() else {
            return Err(StorageError::io(
                ".",
                std::io::Error::other("no segment to append to"),
            ));
        };
        self.backend.append(&seg.name, buf).map_err(|e| {
            if is_disk_full(&e) {
                StorageError::DiskFull {
                    file: seg.name.clone(),
                }
            } else {
                StorageError::io(&seg.name, e)
            }
        })?;
        seg.end += buf.len() as u64;
        seg.offsets.append(pending);
        self.dirty.insert(seg.name.clone());
        Ok(())
    }

    /// Seals the last segment (trimmed to its last record and fsynced,
    /// whatever the policy, so only the last segment can ever be torn or
    /// hold free space) and starts a new one at `first`.
    fn roll(&mut self, first: u64) -> Result<(), StorageError> {
        if let Some(seg) = self.segments.last() {
            let name = seg.name.clone();
            // A preallocating backend keeps zeros past the end; a sealed
            // segment must end at its last record (recovery treats zeros
            // as free space only in the last segment).
            self.backend
                .truncate(&name, seg.end)
                .map_err(|e| StorageError::io(&name, e))?;
            if let Err(e) = self.backend.sync(&name) {
                self.poisoned = true;
                return Err(StorageError::SyncFailed {
                    file: name,
                    source: e,
                });
            }
            self.dirty.remove(&name);
        }
        self.create_segment(first)
    }

    fn create_segment(&mut self, first: u64) -> Result<(), StorageError> {
        let name = segment_name(first);
        self.backend
            .create(&name)
            .map_err(|e| StorageError::io(&name, e))?;
        // Registered before the header write so a failed write is rolled back.
        self.segments.push(Segment {
            name: name.clone(),
            first,
            offsets: Vec::new(),
            end: 0,
        });
        self.dir_dirty = true;
        self.backend
            .append(&name, &encode_segment_header(first))
            .map_err(|e| {
                if is_disk_full(&e) {
                    StorageError::DiskFull { file: name.clone() }
                } else {
                    StorageError::io(&name, e)
                }
            })?;
        if let Some(seg) = self.segments.last_mut() {
            seg.end = SEGMENT_HEADER_LEN as u64;
        }
        self.dirty.insert(name);
        Ok(())
    }

    /// Removes every entry after `index` (Raft conflict resolution). A no-op
    /// if `index` is at or past the last entry. `index + 1` may not be below
    /// the logical first index. Synced at once unless the policy is `No`.
    /// Any I/O failure poisons the log (recovery rereads the disk).
    pub fn truncate_after(&mut self, index: u64) -> Result<(), StorageError> {
        self.check_poison()?;
        let Some(next) = self.next else {
            return Ok(());
        };
        if index.saturating_add(1) >= next {
            return Ok(());
        }
        if index + 1 < self.start {
            return Err(StorageError::OutOfRange {
                lo: index + 1,
                hi: next,
                first: self.start,
                next,
            });
        }
        let result = self.truncate_inner(index);
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        self.next = Some(index + 1);
        self.start = self.start.min(index + 1);
        self.sync_unless_no()
    }

    /// Removes every entry (Raft conflict resolution reaching the first
    /// entry); the log restarts empty with `next` as its next index.
    pub fn clear(&mut self, next: u64) -> Result<(), StorageError> {
        self.check_poison()?;
        let result = (|| {
            // Newest first, so a crash part-way leaves a contiguous prefix.
            while let Some(seg) = self.segments.pop() {
                self.dirty.remove(&seg.name);
                self.backend
                    .remove(&seg.name)
                    .map_err(|e| StorageError::io(&seg.name, e))?;
                self.dir_dirty = true;
            }
            self.create_segment(next)
        })();
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        self.next = Some(next);
        self.start = next;
        self.sync_unless_no()
    }

    fn truncate_inner(&mut self, index: u64) -> Result<(), StorageError> {
        // Newest first, so a crash part-way leaves a contiguous prefix.
        while self.segments.len() > 1 && self.segments.last().is_some_and(|s| s.first > index) {
            if let Some(seg) = self.segments.pop() {
                self.dirty.remove(&seg.name);
                self.backend
                    .remove(&seg.name)
                    .map_err(|e| StorageError::io(&seg.name, e))?;
                self.dir_dirty = true;
            }
        }
        if let Some(seg) = self.segments.last_mut() {
            let keep = usize::try_from((index + 1).saturating_sub(seg.first)).unwrap_or(usize::MAX);
            let new_end = seg.offsets.get(keep).copied().unwrap_or(seg.end);
            self.backend
                .truncate(&seg.name, new_end)
                .map_err(|e| StorageError::io(&seg.name, e))?;
            seg.offsets.truncate(keep);
            seg.end = new_end;
            self.dirty.insert(seg.name.clone());
        }
        Ok(())
    }

    /// Compaction after a snapshot: entries below `index` are no longer
    /// held. Deletes whole segments whose entries are all below `index`;
    /// the rest stay on disk but [`Log::first_index`] becomes `index`. If
    /// `index` is past the end, every segment goes and the log restarts
    /// empty with `index` as the next index (a snapshot was installed).
    ///
    /// The logical first index is not persisted: after a reopen
    /// `first_index` is the first index still on disk (at most `index`);
    /// the Raft layer keeps its own last-purged id.
    pub fn purge_before(&mut self, index: u64) -> Result<(), StorageError> {
        self.check_poison()?;
        if self.next.is_some() && index <= self.start {
            return Ok(());
        }
        let result = self.purge_inner(index);
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        self.sync_unless_no()
    }

    fn purge_inner(&mut self, index: u64) -> Result<(), StorageError> {
        let within = self.next.is_some_and(|n| index <= n);
        // Oldest first, so a crash part-way leaves a contiguous suffix.
        while !self.segments.is_empty() {
            let removable = match self.segments.get(1) {
                Some(second) => second.first <= index,
                None => !within,
            };
            if !removable {
                break;
            }
            let seg = self.segments.remove(0);
            self.dirty.remove(&seg.name);
            self.backend
                .remove(&seg.name)
                .map_err(|e| StorageError::io(&seg.name, e))?;
            self.dir_dirty = true;
        }
        if !within {
            self.create_segment(index)?;
            self.next = Some(index);
        }
        self.start = index;
        Ok(())
    }

    fn sync_unless_no(&mut self) -> Result<(), StorageError> {
        if self.opts.fsync == FsyncPolicy::No {
            Ok(())
        } else {
            self.sync_inner()
        }
    }

    /// Reads the entries in `range` (bounded by the log when open-ended).
    /// The range must lie within [`Log::first_index`]`..=`[`Log::last_index`];
    /// each record's checksums are verified again as it is read.
    pub fn read(&self, range: impl RangeBounds<u64>) -> Result<LogReader<'_, B>, StorageError> {
        let next = self.next.unwrap_or(self.start);
        let lo = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => self.start,
        };
        let hi = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => next,
        };
        if lo < hi && (lo < self.start || hi > next) {
            return Err(StorageError::OutOfRange {
                lo,
                hi,
                first: self.start,
                next,
            });
        }
        Ok(LogReader {
            log: self,
            next: lo,
            end: hi.max(lo),
        })
    }

    fn read_entry(&self, index: u64) -> Result<Vec<u8>, StorageError> {
        let pos = self.segments.partition_point(|s| s.first <= index);
        let seg = pos
            .checked_sub(1)
            .and_then(|p| self.segments.get(p))
            .ok_or(StorageError::OutOfRange {
                lo: index,
                hi: index + 1,
                first: self.start,
                next: self.next.unwrap_or(self.start),
            })?;
        let k = usize::try_from(index - seg.first).unwrap_or(usize::MAX);
        let end = seg.offsets.get(k + 1).copied().unwrap_or(seg.end);
        let Some(&off) = seg.offsets.get(k) else {
            return Err(StorageError::OutOfRange {
                lo: index,
                hi: index + 1,
                first: self.start,
                next: self.next.unwrap_or(self.start),
            });
        };
        let len = usize::try_from(end - off).unwrap_or(usize::MAX);
        let bytes = self
            .backend
            .read_at(&seg.name, off, len)
            .map_err(|e| StorageError::io(&seg.name, e))?;
        let header = decode_record_header(&bytes)
            .filter(|h| h.index == index && h.record_len() == len as u64)
            .ok_or_else(|| {
                StorageError::corrupt(&seg.name, off, "record header changed on disk")
            })?;
        let payload = bytes
            .get(crate::format::RECORD_HEADER_LEN..)
            .unwrap_or_default();
        if !header.payload_ok(payload) {
            return Err(StorageError::corrupt(
                &seg.name,
                off,
                "payload checksum mismatch on read",
            ));
        }
        Ok(payload.to_vec())
    }
}

/// Iterator over `(index, payload)` returned by [`Log::read`]. Stops after
/// the first error.
#[derive(Debug)]
pub struct LogReader<'a, B: LogBackend> {
    log: &'a Log<B>,
    next: u64,
    end: u64,
}

impl<B: LogBackend> Iterator for LogReader<'_, B> {
    type Item = Result<(u64, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        match self.log.read_entry(index) {
            Ok(payload) => {
                self.next += 1;
                Some(Ok((index, payload)))
            }
            Err(e) => {
                self.next = self.end;
                Some(Err(e))
            }
        }
    }
}
