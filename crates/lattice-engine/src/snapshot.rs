//! Snapshots of the whole dataset: this module owns the snapshot byte format
//! (versioned, chunked, checksummed; specified with its reader rules in
//! `docs/design/snapshot-format.md`), taking a consistent copy of the
//! dataset ([`Engine::snapshot_view`], under the caller's lock), streaming it
//! ([`SnapshotView::write_to`], off the lock), loading one
//! ([`Engine::load_snapshot`]), and [`Engine::dataset_digest`], which
//! compares two engines' datasets.
//!
//! A snapshot must let a replica that loads it continue exactly like one
//! that replayed the log: applying the same writes afterwards must give the
//! same replies and state, including seeded random picks (SPOP, RANDOMKEY,
//! HRANDFIELD …) that index operation-ordered structures. So a snapshot
//! keeps every database's key slot order, each value's encoding and element
//! order (see `cmd::dump::write_value_exact`, which stores each value in
//! Redis's RDB object format), expired keys that no write has deleted yet,
//! and the LRU/LFU access words.
//!
//! Loading is all or nothing: the dataset is built aside and swapped in only
//! once the whole snapshot, end marker included, has been read and verified.
//! Every length read from the input is checked against a limit and filled
//! incrementally, so hostile bytes cannot make the loader allocate much more
//! than they are long (or panic).

use std::io::{self, Read, Write};

use crc32fast::Hasher;

use crate::cmd::dump::{decode_value, write_value_exact, Fidelity, LzfTable};
use crate::keyspace::{Db, Entry, Key};
use crate::value::Value;
use crate::Engine;

/// First bytes of every snapshot.
const MAGIC: &[u8; 8] = b"LATSNAP\0";
/// The format version this build writes and the only one it reads.
const VERSION: u32 = 1;
/// Magic, version, crc32 of the two.
const HEADER_LEN: usize = 16;
/// Payload bytes per chunk the writer emits (the last chunk may be shorter).
const CHUNK_PAYLOAD: usize = 64 * 1024;
/// Largest chunk payload a reader accepts.
const MAX_CHUNK_PAYLOAD: u32 = 1 << 20;
/// Opcode: a database section follows (index, key count, records).
const OP_SELECT_DB: u8 = 0xFE;
/// Opcode: end of the snapshot (total key count follows).
const OP_END: u8 = 0xFF;
/// Longest key a snapshot may hold.
const MAX_KEY_LEN: u64 = u32::MAX as u64;
/// Longest serialised value a snapshot may hold (1 TiB).
const MAX_VALUE_LEN: u64 = 1 << 40;
/// Keys reserved up front for a database section, whatever its header says
/// (the table grows as verified records arrive).
const MAX_RESERVE: u64 = 1 << 16;

/// Why a snapshot could not be loaded. Loading changes nothing on error.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading the input failed (not a property of the bytes).
    #[error("snapshot read failed: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid snapshot: damaged, truncated or not a
    /// snapshot at all. `offset` is the byte offset of the unit in which the
    /// problem was found: 0 for the header, the start of the chunk for a
    /// checksum failure or truncation, and the start of the record (or
    /// opcode) for a structural error inside checksummed data.
    #[error("corrupt snapshot at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the snapshot.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The header is intact but names a format version this build does not
    /// read (written by a newer Lattice).
    #[error("snapshot format version {0} is not supported (this build reads version {v})", v = VERSION)]
    UnsupportedVersion(u32),
    /// The snapshot holds a database index this engine does not have
    /// (`databases` is smaller than on the node that wrote it).
    #[error("snapshot holds database {db} but only {databases} databases are configured")]
    DatabaseOutOfRange {
        /// The database index in the snapshot.
        db: u64,
        /// Databases this engine has.
        databases: usize,
    },
}

fn corrupt(offset: u64, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt {
        offset,
        reason: reason.into(),
    }
}

/// A consistent, owned copy of the dataset taken under the caller's lock
/// (cheap: it copies each database's slots; values are cloned, which for
/// short strings is a copy of inline bytes), serialised later off the lock
/// with [`SnapshotView::write_to`].
pub struct SnapshotView {
    /// Non-empty databases: (index, slots in order).
    dbs: Vec<(usize, Vec<(Key, Entry)>)>,
    keys: u64,
}

impl std::fmt::Debug for SnapshotView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotView")
            .field("databases", &self.dbs.len())
            .field("keys", &self.keys)
            .finish()
    }
}

impl Engine {
    /// Copies the dataset for a snapshot. Called with the engine locked; the
    /// copy is serialised later, without the lock, by
    /// [`SnapshotView::write_to`]. Expired keys not yet deleted are included
    /// (only writes delete them, so they are part of the replicated state).
    pub fn snapshot_view(&self) -> SnapshotView {
        let dbs: Vec<(usize, Vec<(Key, Entry)>)> = self
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| (i, d.slots().to_vec()))
            .collect();
        let keys = dbs.iter().map(|(_, s)| s.len() as u64).sum();
        SnapshotView { dbs, keys }
    }

    /// Replaces the whole dataset with a snapshot's; returns the number of
    /// keys loaded. The settings (`config`, whose encoding thresholds shape
    /// the loaded values as they would shape live ones) and the counters
    /// (`stats`) are kept. On any error nothing changes. No [`crate::Effect`]s
    /// are produced: the caller treats a load like FLUSHALL followed by new
    /// data (WATCHed keys dirty, blocked clients re-checked).
    ///
    /// Reads exactly the snapshot's bytes and nothing after them, so a
    /// snapshot can be embedded in a longer stream.
    pub fn load_snapshot<R: Read>(&mut self, r: R) -> Result<u64, SnapshotError> {
        let (dbs, keys) = read_snapshot(r, self)?;
        self.dbs = dbs;
        Ok(keys)
    }

    /// A digest of the dataset for comparing two engines (tests, replica
    /// checks), in the manner of Redis's `DEBUG DIGEST`: the XOR of one
    /// 64-bit digest per key, so it does not depend on the order of keys.
    /// A key's digest covers its database, name, expire time (expired keys
    /// still present count), type, and value; unlike Redis's it also covers
    /// the value's encoding and element order (as SMEMBERS, HGETALL and a
    /// large sorted set's member map hold them), because here those are
    /// replicated state: seeded random picks and SCAN cursors index them.
    /// Not covered: the keys' slot order (snapshots keep it anyway), the
    /// LRU/LFU access words, counters and settings.
    ///
    /// Each key's digest is FNV-1a (64-bit) over length-prefixed fields,
    /// finished with MurmurHash3's `fmix64`: stable across builds and
    /// platforms, but not cryptographic. 0 for an empty dataset.
    pub fn dataset_digest(&self) -> u64 {
        self.dbs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.iter().map(move |(k, e)| key_digest(i, k, e)))
            .fold(0, |acc, d| acc ^ d)
    }
}

impl SnapshotView {
    /// Number of keys in the copy.
    pub fn key_count(&self) -> u64 {
        self.keys
    }

    /// Streams the snapshot to `w` in chunks of 64 KiB (one `write_all` per
    /// chunk, then `flush`), so only one chunk and the largest single value's
    /// serialisation are buffered. Returns the number of bytes written.
    /// Fails with `InvalidData` only for a key or value over the format's
    /// limits (4 GiB keys, 1 TiB values), rather than write what no reader
    /// would accept.
    pub fn write_to<W: Write>(&self, w: W) -> io::Result<u64> {
        self.write_chunked(w, CHUNK_PAYLOAD)
    }

    fn write_chunked<W: Write>(&self, w: W, chunk: usize) -> io::Result<u64> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut out = ChunkWriter::new(w, chunk)?;
        let mut rec = Vec::with_capacity(64);
        let mut val = Vec::with_capacity(64);
        let mut lzf = LzfTable::new();
        for (db, slots) in &self.dbs {
            rec.clear();
            rec.push(OP_SELECT_DB);
            put_varint(&mut rec, *db as u64);
            put_varint(&mut rec, slots.len() as u64);
            out.put(&rec)?;
            for (key, entry) in slots {
                val.clear();
                write_value_exact(&mut val, &entry.value, &mut lzf)
                    .map_err(|_| invalid("a compact value is too large for a listpack"))?;
                if key.len() as u64 > MAX_KEY_LEN || val.len() as u64 > MAX_VALUE_LEN {
                    return Err(invalid(
                        "a key or value is over the snapshot format's limits",
                    ));
                }
                rec.clear();
                put_varint(&mut rec, key.len() as u64);
                rec.extend_from_slice(key);
                rec.extend_from_slice(&entry.expire_at.to_le_bytes());
                rec.extend_from_slice(&entry.access.to_le_bytes());
                put_varint(&mut rec, val.len() as u64);
                out.put(&rec)?;
                out.put(&val)?;
                if val.capacity() > 1 << 20 {
                    val = Vec::with_capacity(64); // do not keep a huge value's buffer
                }
            }
        }
        rec.clear();
        rec.push(OP_END);
        rec.extend_from_slice(&self.keys.to_le_bytes());
        out.put(&rec)?;
        out.finish()
    }
}

// ---------------------------------------------------------------------------
// Writing.

/// The 16-byte header for `version`.
fn header(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let mut body = Vec::with_capacity(12);
    body.extend_from_slice(MAGIC);
    body.extend_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    h.copy_from_slice(&body);
    h
}

/// LEB128: seven bits per byte, low first, high bit set on all but the last.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Cuts the logical stream into chunks: `len:u32 payload crc:u32`, where
/// `crc` is the crc32 of every byte of the snapshot before it (a running
/// checksum, so chunks cannot be dropped, repeated or reordered unnoticed).
struct ChunkWriter<W: Write> {
    w: W,
    /// The chunk being filled: 4 bytes for its length, then the payload.
    buf: Vec<u8>,
    chunk: usize,
    crc: Hasher,
    written: u64,
}

impl<W: Write> ChunkWriter<W> {
    fn new(mut w: W, chunk: usize) -> io::Result<Self> {
        let h = header(VERSION);
        w.write_all(&h)?;
        let mut crc = Hasher::new();
        crc.update(&h);
        let mut buf = Vec::with_capacity(chunk + 8);
        buf.extend_from_slice(&[0; 4]);
        Ok(Self {
            w,
            buf,
            chunk: chunk.max(1),
            crc,
            written: HEADER_LEN as u64,
        })
    }

    fn put(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = self.chunk - (self.buf.len() - 4);
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = rest;
            if self.buf.len() - 4 == self.chunk {
                self.emit()?;
            }
        }
        Ok(())
    }

    fn emit(&mut self) -> io::Result<()> {
        let len = self.buf.len() - 4;
        if len == 0 {
            return Ok(());
        }
        if let Some(h) = self.buf.get_mut(..4) {
            h.copy_from_slice(&(len as u32).to_le_bytes());
        }
        self.crc.update(&self.buf);
        let c = self.crc.clone().finalize().to_le_bytes();
        self.crc.update(&c);
        self.buf.extend_from_slice(&c);
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        Ok(())
    }

    fn finish(mut self) -> io::Result<u64> {
        self.emit()?;
        self.w.flush()?;
        Ok(self.written)
    }
}

// ---------------------------------------------------------------------------
// Reading.

/// Reads until `out` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, out: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = out.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The logical stream of a snapshot: hands out bytes of chunks whose
/// checksum has been verified, and knows the file offset of each.
struct ChunkReader<R: Read> {
    r: R,
    crc: Hasher,
    /// Bytes consumed from `r`.
    consumed: u64,
    /// Payload of the current chunk, verified.
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[0]`.
    buf_at: u64,
}

impl<R: Read> ChunkReader<R> {
    /// Reads and checks the header.
    fn open(mut r: R) -> Result<Self, SnapshotError> {
        let mut h = [0u8; HEADER_LEN];
        let n = read_full(&mut r, &mut h)?;
        let magic = h.get(..n.min(MAGIC.len())).unwrap_or_default();
        if MAGIC.get(..magic.len()) != Some(magic) {
            return Err(corrupt(0, "not a Lattice snapshot (bad magic)"));
        }
        if n < HEADER_LEN {
            return Err(corrupt(
                0,
                format!("truncated header ({n} of {HEADER_LEN} bytes)"),
            ));
        }
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(h.get(i..i + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(w)
        };
        let version = word(8);
        if crc32fast::hash(h.get(..12).unwrap_or_default()) != word(12) {
            return Err(corrupt(0, "header checksum mismatch"));
        }
        if version != VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let mut crc = Hasher::new();
        crc.update(&h);
        Ok(Self {
            r,
            crc,
            consumed: HEADER_LEN as u64,
            buf: Vec::new(),
            pos: 0,
            buf_at: HEADER_LEN as u64,
        })
    }

    /// Reads and verifies the next chunk.
    fn next_chunk(&mut self) -> Result<(), SnapshotError> {
        let at = self.consumed;
        let mut lenb = [0u8; 4];
        let n = read_full(&mut self.r, &mut lenb)?;
        if n == 0 {
            return Err(corrupt(
                at,
                "truncated: the snapshot ends before its end marker",
            ));
        }
        if n < 4 {
            return Err(corrupt(
                at,
                format!("truncated chunk header ({n} of 4 bytes)"),
            ));
        }
        let len = u32::from_le_bytes(lenb);
        if len == 0 || len > MAX_CHUNK_PAYLOAD {
            return Err(corrupt(
                at,
                format!("chunk length {len} is outside 1..={MAX_CHUNK_PAYLOAD}"),
            ));
        }
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        let got = read_full(&mut self.r, &mut self.buf)?;
        if got < self.buf.len() {
            return Err(corrupt(
                at,
                format!("truncated chunk ({got} of {len} payload bytes)"),
            ));
        }
        let mut crcb = [0u8; 4];
        let n = read_full(&mut self.r, &mut crcb)?;
        if n < 4 {
            return Err(corrupt(at, "truncated chunk (checksum missing)"));
        }
        self.crc.update(&lenb);
        self.crc.update(&self.buf);
        if self.crc.clone().finalize() != u32::from_le_bytes(crcb) {
            return Err(corrupt(at, "chunk checksum mismatch"));
        }
        self.crc.update(&crcb);
        self.buf_at = at + 4;
        self.pos = 0;
        self.consumed = at + 4 + u64::from(len) + 4;
        Ok(())
    }

    /// File offset of the next logical byte.
    fn offset(&self) -> u64 {
        if self.pos < self.buf.len() {
            self.buf_at + self.pos as u64
        } else {
            self.consumed + 4 // the next chunk's payload
        }
    }

    /// Appends the next `n` logical bytes to `out`, a chunk at a time (so
    /// `n` is never trusted for an allocation).
    fn read_into(&mut self, mut n: u64, out: &mut Vec<u8>) -> Result<(), SnapshotError> {
        while n > 0 {
            if self.pos >= self.buf.len() {
                self.next_chunk()?;
            }
            let avail = self.buf.get(self.pos..).unwrap_or_default();
            let k = usize::try_from(n).unwrap_or(usize::MAX).min(avail.len());
            out.extend_from_slice(avail.get(..k).unwrap_or_default());
            self.pos += k;
            n -= k as u64;
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = self.byte()?;
        }
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, SnapshotError> {
        if self.pos >= self.buf.len() {
            self.next_chunk()?;
        }
        let b = self.buf.get(self.pos).copied().ok_or_else(|| {
            corrupt(self.buf_at, "internal: empty chunk") // next_chunk refuses those
        })?;
        self.pos += 1;
        Ok(b)
    }

    /// A LEB128 `u64` in its shortest form.
    fn varint(&mut self) -> Result<u64, SnapshotError> {
        let at = self.offset();
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(corrupt(at, "varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(corrupt(at, "varint not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(corrupt(at, "varint longer than 10 bytes"))
    }
}

/// Reads a whole snapshot into fresh databases (as many as `engine` has),
/// shaped by `engine`'s config.
fn read_snapshot<R: Read>(r: R, engine: &Engine) -> Result<(Vec<Db>, u64), SnapshotError> {
    let cfg = &engine.config;
    let databases = engine.dbs.len();
    let mut cr = ChunkReader::open(r)?;
    let mut dbs: Vec<Db> = (0..databases).map(|_| Db::default()).collect();
    let mut total = 0u64;
    let mut last_db: Option<u64> = None;
    let mut key = Vec::new();
    let mut val = Vec::new();
    loop {
        let at = cr.offset();
        match cr.byte()? {
            OP_SELECT_DB => {
                let index = cr.varint()?;
                let count = cr.varint()?;
                if last_db.is_some_and(|l| index <= l) {
                    return Err(corrupt(at, "database sections out of order"));
                }
                last_db = Some(index);
                if count == 0 {
                    return Err(corrupt(at, "empty database section"));
                }
                let db = usize::try_from(index)
                    .ok()
                    .and_then(|i| dbs.get_mut(i))
                    .ok_or(SnapshotError::DatabaseOutOfRange {
                        db: index,
                        databases,
                    })?;
                db.reserve(count.min(MAX_RESERVE) as usize);
                for _ in 0..count {
                    let at = cr.offset();
                    let klen = cr.varint()?;
                    if klen > MAX_KEY_LEN {
                        return Err(corrupt(at, format!("key length {klen} over the limit")));
                    }
                    key.clear();
                    cr.read_into(klen, &mut key)?;
                    let expire_at = u64::from_le_bytes(cr.array()?);
                    let access = u32::from_le_bytes(cr.array()?);
                    let vlen = cr.varint()?;
                    if vlen > MAX_VALUE_LEN {
                        return Err(corrupt(at, format!("value length {vlen} over the limit")));
                    }
                    val.clear();
                    cr.read_into(vlen, &mut val)?;
                    let value = match decode_value(&val, cfg, Fidelity::AsWritten) {
                        Ok((v, used)) if used == val.len() => v,
                        Ok(_) => return Err(corrupt(at, "bytes left over after the value")),
                        Err(_) => return Err(corrupt(at, "malformed value")),
                    };
                    if !db.insert_new(&key, value, expire_at, access) {
                        return Err(corrupt(at, "duplicate key"));
                    }
                    if val.capacity() > 1 << 20 {
                        val = Vec::new();
                    }
                }
                total = total.saturating_add(count);
            }
            OP_END => {
                let declared = u64::from_le_bytes(cr.array()?);
                if declared != total {
                    return Err(corrupt(
                        at,
                        format!("end marker counts {declared} keys, the sections {total}"),
                    ));
                }
                if cr.pos != cr.buf.len() {
                    return Err(corrupt(at, "bytes after the end marker"));
                }
                return Ok((dbs, total));
            }
            op => return Err(corrupt(at, format!("unknown opcode {op:#04x}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// Digest.

/// FNV-1a, 64-bit.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// A length-prefixed field, so that field boundaries count.
    fn field(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.bytes(b);
    }

    /// MurmurHash3's `fmix64` over the state.
    fn finish(self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

fn key_digest(db: usize, key: &[u8], e: &Entry) -> u64 {
    let mut h = Fnv::new();
    h.u64(db as u64);
    h.field(key);
    h.u64(e.expire_at);
    h.field(e.value.value_type().name().as_bytes());
    h.field(e.value.encoding().as_bytes());
    match &e.value {
        Value::Str(s) => h.field(s),
        Value::List(l) => {
            // Both list representations report "quicklist": count which.
            h.u64(u64::from(l.is_listpack()));
            h.u64(l.len() as u64);
            for i in l.iter() {
                h.field(i);
            }
        }
        Value::Set(s) => {
            h.u64(s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| h.field(b));
            }
        }
        Value::Hash(v) => {
            h.u64(v.len() as u64);
            for (f, x) in v.iter() {
                h.field(f);
                h.field(x);
            }
        }
        Value::ZSet(z) => {
            let ix = z.indexed();
            h.u64(ix.len() as u64);
            for i in 0..ix.len() {
                if let Some((m, s)) = ix.get(i) {
                    h.field(m);
                    h.u64(s.to_bits());
                }
            }
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::test_replies::argv;
    use crate::{EngineConfig, Reply};

    const NOW: u64 = 1_700_000_000_000;

    fn run(e: &mut Engine, db: usize, parts: &[&str]) -> Reply {
        e.call(db, argv(parts), NOW, 7, false).reply
    }

    /// Runs a command built from owned strings (many arguments).
    fn run_owned(e: &mut Engine, db: usize, parts: Vec<String>) -> Reply {
        let args: Vec<Bytes> = parts.into_iter().map(Bytes::from).collect();
        e.call(db, args, NOW, 7, false).reply
    }

    fn many(cmd: &str, key: &str, items: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut v = vec![cmd.to_string(), key.to_string()];
        v.extend(items);
        v
    }

    fn snapshot(e: &Engine, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let n = e.snapshot_view().write_chunked(&mut out, chunk).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    /// `logical` cut into chunks with valid checksums behind a valid header:
    /// what a writer with a bug (or an attacker) could produce.
    fn framed(logical: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = ChunkWriter::new(&mut out, CHUNK_PAYLOAD).unwrap();
        w.put(logical).unwrap();
        w.finish().unwrap();
        out
    }

    /// The logical stream of a one-chunk snapshot.
    fn logical(snapshot: &[u8]) -> Vec<u8> {
        snapshot[HEADER_LEN + 4..snapshot.len() - 4].to_vec()
    }

    fn value_bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value_exact(&mut out, v, &mut LzfTable::new()).unwrap();
        out
    }

    /// One record: key, expire, access, value bytes.
    fn record(key: &[u8], expire_at: u64, value: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        put_varint(&mut r, key.len() as u64);
        r.extend_from_slice(key);
        r.extend_from_slice(&expire_at.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes());
        put_varint(&mut r, value.len() as u64);
        r.extend_from_slice(value);
        r
    }

    fn end(keys: u64) -> Vec<u8> {
        let mut r = vec![OP_END];
        r.extend_from_slice(&keys.to_le_bytes());
        r
    }

    /// Every database's keys in slot order.
    fn slot_order(e: &Engine) -> Vec<Vec<Vec<u8>>> {
        (0..e.db_count())
            .map(|i| e.db(i).unwrap().iter().map(|(k, _)| k.to_vec()).collect())
            .collect()
    }

    /// Every key's expire time and access word.
    fn meta(e: &Engine) -> Vec<(usize, Vec<u8>, u64, u32)> {
        let mut out = Vec::new();
        for i in 0..e.db_count() {
            for (k, en) in e.db(i).unwrap().iter() {
                out.push((i, k.to_vec(), en.expire_at, en.access));
            }
        }
        out
    }

    /// Replies that show every key's content, order, encoding and TTL, and
    /// seeded random picks over it.
    fn observe(e: &mut Engine) -> Vec<Reply> {
        let mut out = Vec::new();
        for db in 0..e.db_count() {
            let keys: Vec<String> = e
                .db(db)
                .unwrap()
                .iter()
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect();
            out.push(run(e, db, &["DBSIZE"]));
            out.push(run(e, db, &["RANDOMKEY"]));
            for k in &keys {
                let k = k.as_str();
                out.push(run(e, db, &["TYPE", k]));
                out.push(run(e, db, &["PTTL", k]));
                out.push(run(e, db, &["OBJECT", "ENCODING", k]));
                out.push(run(e, db, &["GET", k]));
                out.push(run(e, db, &["LRANGE", k, "0", "-1"]));
                out.push(run(e, db, &["HGETALL", k]));
                out.push(run(e, db, &["SMEMBERS", k]));
                out.push(run(e, db, &["ZRANGE", k, "0", "-1", "WITHSCORES"]));
                out.push(run(e, db, &["SRANDMEMBER", k, "-5"]));
                out.push(run(e, db, &["HRANDFIELD", k, "-5", "WITHVALUES"]));
                out.push(run(e, db, &["ZRANDMEMBER", k, "-5", "WITHSCORES"]));
                out.push(run(e, db, &["ZSCAN", k, "0", "COUNT", "3"]));
            }
        }
        out
    }

    fn pseudo_random(n: usize, mut seed: u64) -> String {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'!' + ((seed >> 33) % 90) as u8)
            })
            .collect()
    }

    /// Every value type in every encoding, in three databases, with and
    /// without TTLs, plus an expired key no write has deleted yet.
    fn rich_engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default());
        let ok = |r: Reply| assert!(!matches!(r, Reply::Error(_)), "{r:?}");
        for (k, v) in [
            ("s:plain", "hello".to_string()),
            ("s:int", "12345".to_string()),
            ("s:neg", "-5".to_string()),
            ("s:i64", "-9223372036854775808".to_string()),
            ("s:big", "x".repeat(5000)),
            ("s:rand", pseudo_random(300, 1)),
            ("s:huge", pseudo_random(250_000, 2)),
            ("s:empty", String::new()),
            ("s:21", "abcdefghijklmnopqrstu".to_string()),
        ] {
            ok(run_owned(&mut e, 0, vec!["SET".into(), k.into(), v]));
        }
        ok(run(
            &mut e,
            0,
            &["RPUSH", "l:small", "a", "1", "-200", "xyz"],
        ));
        ok(run_owned(
            &mut e,
            0,
            many("RPUSH", "l:big", (0..2000).map(|i| format!("item{i}"))),
        ));
        ok(run_owned(
            &mut e,
            0,
            many("RPUSH", "l:fat", ["y".repeat(9000), "b".into()]),
        ));
        ok(run(&mut e, 0, &["HSET", "h:lp", "f1", "v1", "f2", "123"]));
        let fields = |n: usize| (0..n).flat_map(|i| [format!("f{i}"), format!("v{i}")]);
        ok(run_owned(&mut e, 0, many("HSET", "h:ht", fields(600))));
        ok(run_owned(
            &mut e,
            0,
            many("HSET", "h:long", ["f".into(), "v".repeat(100)]),
        ));
        ok(run_owned(&mut e, 0, many("HSET", "h:shrunk", fields(600))));
        ok(run_owned(
            &mut e,
            0,
            many(
                "HDEL",
                "h:shrunk",
                (0..600)
                    .filter(|i| ![5, 300, 599].contains(i))
                    .map(|i| format!("f{i}")),
            ),
        ));
        ok(run(
            &mut e,
            0,
            &["SADD", "set:int", "1", "2", "3", "-70000", "5000000000"],
        ));
        ok(run(&mut e, 0, &["SADD", "set:lp", "a", "b", "c"]));
        let members = |n: usize| (0..n).map(|i| format!("m{i}"));
        ok(run_owned(&mut e, 0, many("SADD", "set:ht", members(300))));
        ok(run(&mut e, 0, &["SADD", "set:lpints", "x", "3", "1", "2"]));
        ok(run(&mut e, 0, &["SREM", "set:lpints", "x"]));
        ok(run_owned(
            &mut e,
            0,
            many("SADD", "set:shrunk", members(300)),
        ));
        ok(run_owned(
            &mut e,
            0,
            many("SREM", "set:shrunk", (2..299).map(|i| format!("m{i}"))),
        ));
        ok(run_owned(
            &mut e,
            0,
            many("SADD", "set:bigint", (0..600).map(|i| (i * 7).to_string())),
        ));
        ok(run(
            &mut e,
            0,
            &["ZADD", "z:lp", "1", "a", "2.5", "b", "-inf", "c", "-0", "d"],
        ));
        let pairs =
            |n: usize| (0..n).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]);
        ok(run_owned(&mut e, 0, many("ZADD", "z:sl", pairs(200))));
        ok(run(
            &mut e,
            0,
            &["ZADD", "z:sl", "-0", "negzero", "inf", "top"],
        ));
        ok(run_owned(&mut e, 0, many("ZADD", "z:shrunk", pairs(200))));
        ok(run_owned(
            &mut e,
            0,
            many("ZREM", "z:shrunk", (3..197).map(|i| format!("m{i}"))),
        ));
        ok(run(&mut e, 0, &["PFADD", "hll:sparse", "a", "b", "c"]));
        ok(run_owned(
            &mut e,
            0,
            many("PFADD", "hll:dense", (0..3000).map(|i| format!("e{i}"))),
        ));
        ok(run(&mut e, 0, &["SETBIT", "bm", "100000", "1"]));
        ok(run(&mut e, 0, &["PEXPIRE", "s:plain", "50000"]));
        ok(run(&mut e, 0, &["PEXPIRE", "h:ht", "100000"]));
        ok(run(&mut e, 0, &["PEXPIRE", "z:sl", "7"]));
        // Expired, but only a write deletes it: the snapshot keeps it.
        e.db_mut(0)
            .unwrap()
            .insert(b"stale", Value::str(b"old"), NOW - 1, 0);
        ok(run(&mut e, 3, &["SET", "a", "1"]));
        ok(run(&mut e, 3, &["LPUSH", "q", "x", "y"]));
        ok(run(&mut e, 3, &["PEXPIRE", "q", "1000"]));
        ok(run_owned(
            &mut e,
            15,
            vec!["SET".into(), "bin\u{0}key".into(), "v".into()],
        ));
        e
    }

    #[test]
    fn round_trip_keeps_every_type_encoding_order_and_ttl() {
        let mut a = rich_engine();
        let bytes = snapshot(&a, CHUNK_PAYLOAD);
        let mut b = Engine::new(EngineConfig::default());
        run(&mut b, 0, &["SET", "replaced", "x"]);
        run(&mut b, 7, &["SET", "replaced", "x"]);
        let n = b.load_snapshot(&bytes[..]).unwrap();
        assert_eq!(n, a.snapshot_view().key_count());
        assert_eq!(
            n as usize,
            (0..16).map(|i| a.db(i).unwrap().len()).sum::<usize>()
        );
        assert_ne!(a.dataset_digest(), 0);
        assert_eq!(a.dataset_digest(), b.dataset_digest());
        assert_eq!(slot_order(&a), slot_order(&b));
        assert_eq!(meta(&a), meta(&b), "expire times and access words");
        assert!(b.db(7).unwrap().is_empty());
        // The loaded engine writes the same bytes again.
        assert_eq!(snapshot(&b, CHUNK_PAYLOAD), bytes);

        let encodings = [
            ("s:int", "int"),
            ("s:plain", "embstr"),
            ("s:big", "raw"),
            ("h:lp", "listpack"),
            ("h:ht", "hashtable"),
            ("h:long", "hashtable"),
            ("h:shrunk", "hashtable"),
            ("set:int", "intset"),
            ("set:lp", "listpack"),
            ("set:ht", "hashtable"),
            ("set:lpints", "listpack"),
            ("set:shrunk", "hashtable"),
            ("set:bigint", "hashtable"),
            ("z:lp", "listpack"),
            ("z:sl", "skiplist"),
            ("z:shrunk", "skiplist"),
        ];
        for (k, enc) in encodings {
            assert_eq!(
                b.db(0).unwrap().get(k.as_bytes()).unwrap().value.encoding(),
                enc,
                "{k}"
            );
        }
        let list = |e: &Engine, k: &[u8]| match &e.db(0).unwrap().get(k).unwrap().value {
            Value::List(l) => l.is_listpack(),
            other => panic!("{other:?}"),
        };
        assert!(list(&b, b"l:small"));
        assert!(!list(&b, b"l:big") && !list(&b, b"l:fat"));
        // Orders a by-content rebuild would change.
        assert_eq!(
            run(&mut b, 0, &["SMEMBERS", "set:lpints"]),
            crate::test_replies::set(&["3", "1", "2"])
        );
        assert_eq!(run(&mut b, 0, &["PTTL", "s:plain"]), Reply::Int(50000));
        assert_eq!(run(&mut b, 0, &["GET", "stale"]), Reply::Nil);
        assert!(b.db(0).unwrap().get(b"stale").is_some());
        assert_eq!(
            run(&mut b, 0, &["PFCOUNT", "hll:dense"]),
            run(&mut a, 0, &["PFCOUNT", "hll:dense"])
        );
        assert_eq!(
            run(&mut b, 15, &["GET", "bin\u{0}key"]),
            Reply::bulk_str("v")
        );
        assert_eq!(observe(&mut a), observe(&mut b));
        // Seeded random writes pick the same elements.
        for k in ["set:ht", "set:shrunk", "set:lpints", "set:int"] {
            assert_eq!(
                run(&mut a, 0, &["SPOP", k, "2"]),
                run(&mut b, 0, &["SPOP", k, "2"])
            );
        }
        assert_eq!(a.dataset_digest(), b.dataset_digest());
    }

    #[test]
    fn loading_applies_the_loading_engines_thresholds() {
        let a = rich_engine();
        let bytes = snapshot(&a, CHUNK_PAYLOAD);
        let cfg = EngineConfig {
            hash_max_listpack_entries: 1,
            set_max_listpack_entries: 2,
            set_max_intset_entries: 2,
            zset_max_listpack_entries: 2,
            list_max_listpack_size: 2,
            ..EngineConfig::default()
        };
        let mut b = Engine::new(cfg);
        b.load_snapshot(&bytes[..]).unwrap();
        for (k, enc) in [
            ("h:lp", "hashtable"),
            ("set:lp", "hashtable"),
            ("set:lpints", "hashtable"),
            ("set:int", "hashtable"),
            ("z:lp", "skiplist"),
        ] {
            assert_eq!(
                b.db(0).unwrap().get(k.as_bytes()).unwrap().value.encoding(),
                enc,
                "{k}"
            );
        }
        let mut a = a;
        for (k, cmd) in [
            ("h:lp", "HGETALL"),
            ("set:lpints", "SMEMBERS"),
            ("z:lp", "ZRANGE"),
        ] {
            let args: &[&str] = if cmd == "ZRANGE" {
                &[cmd, k, "0", "-1", "WITHSCORES"]
            } else {
                &[cmd, k]
            };
            assert_eq!(run(&mut a, 0, args), run(&mut b, 0, args), "{k}");
        }
        assert_eq!(
            run(&mut b, 0, &["LRANGE", "l:small", "0", "-1"]),
            run(&mut a, 0, &["LRANGE", "l:small", "0", "-1"])
        );
    }

    #[test]
    fn an_empty_dataset_round_trips() {
        let e = Engine::new(EngineConfig::default());
        let bytes = snapshot(&e, CHUNK_PAYLOAD);
        assert_eq!(bytes.len(), HEADER_LEN + 4 + 9 + 4);
        let mut b = rich_engine();
        assert_eq!(b.load_snapshot(&bytes[..]).unwrap(), 0);
        assert_eq!(b.dataset_digest(), 0);
    }

    #[test]
    fn records_span_chunks_and_writes_stream() {
        struct Recorder {
            bytes: Vec<u8>,
            largest_write: usize,
            flushed: bool,
        }
        impl Write for Recorder {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.largest_write = self.largest_write.max(b.len());
                self.bytes.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.flushed = true;
                Ok(())
            }
        }
        let a = rich_engine();
        let mut rec = Recorder {
            bytes: Vec::new(),
            largest_write: 0,
            flushed: false,
        };
        let n = a.snapshot_view().write_to(&mut rec).unwrap();
        assert_eq!(n, rec.bytes.len() as u64);
        assert!(rec.flushed);
        assert!(rec.bytes.len() > 3 * CHUNK_PAYLOAD, "{}", rec.bytes.len());
        assert!(rec.largest_write <= CHUNK_PAYLOAD + 8);
        assert_eq!(rec.bytes, snapshot(&a, CHUNK_PAYLOAD));
        // Tiny chunks: every record spans several.
        for chunk in [1, 7, 100] {
            let small = snapshot(&a, chunk);
            let mut b = Engine::new(EngineConfig::default());
            b.load_snapshot(&small[..]).unwrap();
            assert_eq!(b.dataset_digest(), a.dataset_digest());
        }
    }

    #[test]
    fn load_reads_exactly_the_snapshot() {
        let a = rich_engine();
        let mut bytes = snapshot(&a, CHUNK_PAYLOAD);
        let len = bytes.len() as u64;
        bytes.extend_from_slice(b"whatever follows");
        let mut cur = Cursor::new(bytes);
        let mut b = Engine::new(EngineConfig::default());
        b.load_snapshot(&mut cur).unwrap();
        assert_eq!(cur.position(), len);
    }

    /// A small dataset across types and two databases (about 450 bytes).
    fn small_engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default());
        run(&mut e, 0, &["SET", "s", "hello"]);
        run(&mut e, 0, &["SET", "n", "42"]);
        run(&mut e, 0, &["PEXPIRE", "n", "9000"]);
        run(&mut e, 0, &["RPUSH", "l", "a", "b", "c"]);
        run(&mut e, 0, &["HSET", "h", "f", "v", "g", "w"]);
        run(&mut e, 0, &["SADD", "si", "1", "2", "3"]);
        run(&mut e, 0, &["SADD", "sl", "x", "y"]);
        run(&mut e, 0, &["ZADD", "z", "1", "a", "2", "b"]);
        run_owned(
            &mut e,
            1,
            many("SADD", "big", (0..130).map(|i| format!("{i}"))),
        );
        run(&mut e, 1, &["SADD", "big", "str"]);
        e
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_detected() {
        let e = small_engine();
        let mut target = Engine::new(EngineConfig::default());
        run(&mut target, 0, &["SET", "keep", "me"]);
        let before = target.dataset_digest();
        for chunk in [CHUNK_PAYLOAD, 61] {
            let good = snapshot(&e, chunk);
            assert!(good.len() > 300, "{}", good.len());
            for i in 0..good.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[i] ^= mask;
                    match target.load_snapshot(&bad[..]) {
                        Err(SnapshotError::Corrupt { offset, .. }) => {
                            assert!(offset <= i as u64, "flip at {i} reported at {offset}");
                        }
                        other => panic!("flip {mask:#x} at {i} (chunk {chunk}): {other:?}"),
                    }
                }
            }
            for len in 0..good.len() {
                match target.load_snapshot(&good[..len]) {
                    Err(SnapshotError::Corrupt { offset, .. }) => assert!(offset <= len as u64),
                    other => panic!("cut at {len}: {other:?}"),
                }
            }
            assert_eq!(
                target.dataset_digest(),
                before,
                "a failed load changed nothing"
            );
            target.load_snapshot(&good[..]).unwrap();
            assert_eq!(target.dataset_digest(), e.dataset_digest());
            run(&mut target, 0, &["FLUSHALL"]);
            run(&mut target, 0, &["SET", "keep", "me"]);
        }
    }

    #[test]
    fn header_errors() {
        let good = snapshot(&small_engine(), CHUNK_PAYLOAD);
        let mut e = Engine::new(EngineConfig::default());
        let at0 = |r: Result<u64, SnapshotError>| match r {
            Err(SnapshotError::Corrupt { offset: 0, reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(at0(e.load_snapshot(&b"REDIS0011"[..])).contains("bad magic"));
        let mut bad = good.clone();
        bad[..8].copy_from_slice(b"LATSEG\r\n");
        assert!(at0(e.load_snapshot(&bad[..])).contains("bad magic"));
        assert!(at0(e.load_snapshot(&b""[..])).contains("truncated header"));
        assert!(at0(e.load_snapshot(&good[..10])).contains("truncated header"));
        // A newer version with an intact header.
        let mut newer = good.clone();
        newer[..HEADER_LEN].copy_from_slice(&header(2));
        assert!(matches!(
            e.load_snapshot(&newer[..]),
            Err(SnapshotError::UnsupportedVersion(2))
        ));
        // A damaged version field is corruption, not a version.
        let mut flipped = good.clone();
        flipped[8] = 2;
        assert!(at0(e.load_snapshot(&flipped[..])).contains("header checksum"));
        let msg = SnapshotError::UnsupportedVersion(2).to_string();
        assert_eq!(
            msg,
            "snapshot format version 2 is not supported (this build reads version 1)"
        );
    }

    #[test]
    fn structural_errors_inside_checksummed_data() {
        let cfg = EngineConfig::default();
        let v = value_bytes(&Value::str(b"v"));
        let rec = record(b"k", 0, &v);
        let section = |db: u64, n: u64| {
            let mut s = vec![OP_SELECT_DB];
            put_varint(&mut s, db);
            put_varint(&mut s, n);
            s
        };
        let first = (HEADER_LEN + 4) as u64;
        let cases: Vec<(Vec<u8>, u64, &str)> = vec![
            (vec![0x42], first, "unknown opcode"),
            (
                [section(0, 1), rec.clone(), end(2)].concat(),
                first + 3 + rec.len() as u64,
                "end marker counts",
            ),
            (
                [end(0), vec![0]].concat(),
                first,
                "bytes after the end marker",
            ),
            (
                [section(0, 2), rec.clone(), rec.clone(), end(2)].concat(),
                first + 3 + rec.len() as u64,
                "duplicate key",
            ),
            (
                [
                    section(1, 1),
                    rec.clone(),
                    section(0, 1),
                    rec.clone(),
                    end(2),
                ]
                .concat(),
                first + 3 + rec.len() as u64,
                "out of order",
            ),
            (
                [section(0, 0), end(0)].concat(),
                first,
                "empty database section",
            ),
            (
                [
                    section(0, 1),
                    record(b"k", 0, &[v.clone(), vec![0]].concat()),
                    end(1),
                ]
                .concat(),
                first + 3,
                "left over",
            ),
            (
                [section(0, 1), record(b"k", 0, &[42]), end(1)].concat(),
                first + 3,
                "malformed value",
            ),
            // Types only DUMP/RESTORE use are refused in a snapshot.
            (
                [
                    section(0, 1),
                    record(b"k", 0, &[3, 1, 1, b'a', 1, b'1']),
                    end(1),
                ]
                .concat(),
                first + 3,
                "malformed value",
            ),
            (
                [section(0, 1), record(b"k", 0, &[1, 0]), end(1)].concat(),
                first + 3,
                "malformed value",
            ),
            (
                [
                    section(0, 1),
                    record(b"k", 0, &[2, 2, 1, b'a', 1, b'a']),
                    end(1),
                ]
                .concat(),
                first + 3,
                "malformed value",
            ),
            (
                [vec![OP_SELECT_DB, 0x80, 0x00, 1], rec.clone(), end(1)].concat(),
                first + 1,
                "shortest form",
            ),
            (
                [vec![OP_SELECT_DB], vec![0xff; 10]].concat(),
                first + 1,
                "overflows",
            ),
            (
                [section(0, 1), {
                    let mut r = Vec::new();
                    put_varint(&mut r, MAX_KEY_LEN + 1);
                    r
                }]
                .concat(),
                first + 3,
                "key length",
            ),
            // The snapshot ends before the end marker.
            (Vec::new(), HEADER_LEN as u64, "ends before its end marker"),
            (
                [section(0, 1), rec.clone()].concat(),
                (HEADER_LEN + 8 + 3 + rec.len()) as u64,
                "ends before its end marker",
            ),
        ];
        for (logical, offset, reason) in cases {
            let bytes = framed(&logical);
            let mut e = Engine::new(cfg.clone());
            match e.load_snapshot(&bytes[..]) {
                Err(SnapshotError::Corrupt {
                    offset: o,
                    reason: r,
                }) => {
                    assert!(r.contains(reason), "{r:?} for {logical:?}");
                    assert_eq!(o, offset, "{r:?} for {logical:?}");
                }
                other => panic!("{other:?} for {logical:?}"),
            }
        }
        // A value length far beyond the data: refused when the data runs out,
        // without allocating for the claim.
        let mut huge = section(0, 1);
        put_varint(&mut huge, 1);
        huge.push(b'k');
        huge.extend_from_slice(&[0; 12]);
        put_varint(&mut huge, MAX_VALUE_LEN);
        huge.extend_from_slice(&end(1));
        let bytes = framed(&huge);
        let mut e = Engine::new(cfg.clone());
        assert!(matches!(
            e.load_snapshot(&bytes[..]),
            Err(SnapshotError::Corrupt { offset, .. }) if offset == bytes.len() as u64
        ));
        // A database this engine does not have.
        let bytes = framed(&[section(16, 1), rec.clone(), end(1)].concat());
        assert!(matches!(
            e.load_snapshot(&bytes[..]),
            Err(SnapshotError::DatabaseOutOfRange {
                db: 16,
                databases: 16
            })
        ));
        let mut few = Engine::new(EngineConfig {
            databases: 2,
            ..cfg
        });
        let bytes = snapshot(&rich_engine(), CHUNK_PAYLOAD);
        assert!(matches!(
            few.load_snapshot(&bytes[..]),
            Err(SnapshotError::DatabaseOutOfRange {
                db: 3,
                databases: 2
            })
        ));
    }

    #[test]
    fn views_move_to_other_threads() {
        // The copy is taken under the lock and serialised on another thread.
        fn send<T: Send + 'static>() {}
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        send::<SnapshotView>();
        error::<SnapshotError>();
    }

    #[test]
    fn io_errors_are_reported_as_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut e = Engine::new(EngineConfig::default());
        assert!(matches!(
            e.load_snapshot(Failing),
            Err(SnapshotError::Io(_))
        ));
    }

    /// Applies `(db, argv, time)` steps with seeds from their positions.
    fn apply_steps(
        e: &mut Engine,
        steps: &[(usize, Vec<String>, u64)],
        first_seed: usize,
    ) -> Vec<Reply> {
        steps
            .iter()
            .enumerate()
            .map(|(i, (db, args, now))| {
                let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.clone())).collect();
                let seed = (first_seed + i) as u64;
                let r = crate::cmd::resolve(&args).expect("valid command");
                if r.spec.is_write() {
                    let op = e.prepare(*db, args, *now, seed);
                    e.apply(&op, false).reply
                } else {
                    e.read(r.spec, *db, &args, *now, seed).reply
                }
            })
            .collect()
    }

    /// One step of a command log: a command in a database, or a clock tick.
    #[derive(Debug, Clone)]
    enum Step {
        Cmd(usize, u8, u8, Vec<u8>, u16),
        Advance(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0usize..3, 0u8..30, 0u8..4, proptest::collection::vec(0u8..10, 1..5), 0u16..3000)
                .prop_map(|(db, kind, k, m, n)| Step::Cmd(db, kind, k, m, n)),
            1 => (0u16..3000).prop_map(Step::Advance),
        ]
    }

    const MEMBERS: [&str; 10] = [
        "1",
        "2",
        "-7",
        "300",
        "x",
        "y",
        "zz",
        "a-long-member",
        "0",
        "9",
    ];

    /// The argv of a command step at `now`.
    fn argv_of(kind: u8, k: u8, m: &[u8], n: u16, now: u64) -> Vec<String> {
        let key = format!("k{k}");
        let ms = || m.iter().map(|&i| MEMBERS[usize::from(i)].to_string());
        let m0 = MEMBERS[usize::from(m[0])].to_string();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut a = match kind {
            0 => s(&["SET", &key, &m0]),
            1 => s(&["SET", &key, &m0, "PX", &(n + 1).to_string()]),
            2 => s(&["APPEND", &key, &m0]),
            3 => s(&["INCR", &key]),
            4 => s(&["DEL", &key]),
            5 => s(&["EXPIRE", &key, &(n % 4).to_string()]),
            6 => s(&[
                "PEXPIREAT",
                &key,
                &(now + u64::from(n)).saturating_sub(500).to_string(),
            ]),
            7 => s(&["LPUSH", &key]),
            8 => s(&["RPOP", &key]),
            9 => {
                let mut v = s(&["HSET", &key]);
                for x in ms() {
                    v.push(x.clone());
                    v.push(format!("{x}{n}"));
                }
                return v;
            }
            10 => s(&["HDEL", &key]),
            11 => s(&["SADD", &key]),
            12 => s(&["SREM", &key]),
            13 => {
                let mut v = s(&["ZADD", &key]);
                for (i, x) in ms().enumerate() {
                    v.push(format!("{}", f64::from(n) / 7.0 - i as f64));
                    v.push(x);
                }
                return v;
            }
            14 => s(&["ZREM", &key]),
            15 => s(&["PFADD", &key]),
            16 => s(&["SETBIT", &key, &(n % 64).to_string(), "1"]),
            17 => s(&["SPOP", &key]),
            18 => s(&["RANDOMKEY"]),
            19 => s(&["SRANDMEMBER", &key, "-3"]),
            20 => s(&["HRANDFIELD", &key, "-3", "WITHVALUES"]),
            21 => s(&["ZRANDMEMBER", &key, "-3", "WITHSCORES"]),
            22 => s(&["SMEMBERS", &key]),
            23 => s(&["HGETALL", &key]),
            24 => s(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            25 => s(&["SCAN", "0", "COUNT", "2"]),
            26 => s(&["OBJECT", "ENCODING", &key]),
            27 => s(&["PTTL", &key]),
            28 => s(&["LRANGE", &key, "0", "-1"]),
            _ => s(&["OBJECT", "IDLETIME", &key]),
        };
        if matches!(kind, 7 | 10 | 11 | 12 | 14 | 15) {
            a.extend(ms());
        }
        a
    }

    /// Encoding thresholds small enough that a few elements cross them.
    fn tiny_config() -> EngineConfig {
        EngineConfig {
            databases: 4,
            hash_max_listpack_entries: 3,
            hash_max_listpack_value: 8,
            set_max_intset_entries: 3,
            set_max_listpack_entries: 3,
            set_max_listpack_value: 8,
            zset_max_listpack_entries: 3,
            zset_max_listpack_value: 8,
            list_max_listpack_size: 3,
            ..EngineConfig::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

        /// Replaying a log from empty, or loading a snapshot taken after
        /// its first k entries and replaying the rest, gives the same
        /// dataset and the same replies.
        #[test]
        fn snapshot_then_replay_equals_full_replay(
            log in proptest::collection::vec(step(), 1..70),
            split in any::<prop::sample::Index>(),
        ) {
            let mut now = NOW;
            let mut steps = Vec::new();
            for st in &log {
                match st {
                    Step::Advance(ms) => now += u64::from(*ms),
                    Step::Cmd(db, kind, k, m, n) => steps.push((*db, argv_of(*kind, *k, m, *n, now), now)),
                }
            }
            let k = split.index(steps.len() + 1);
            let mut a = Engine::new(tiny_config());
            let replies_a = apply_steps(&mut a, &steps, 0);
            let mut b = Engine::new(tiny_config());
            apply_steps(&mut b, &steps[..k], 0);
            let mut bytes = Vec::new();
            b.snapshot_view().write_to(&mut bytes).unwrap();
            let mut c = Engine::new(tiny_config());
            c.load_snapshot(&bytes[..]).unwrap();
            prop_assert_eq!(c.dataset_digest(), b.dataset_digest());
            prop_assert_eq!(meta(&c), meta(&b));
            let replies_c = apply_steps(&mut c, &steps[k..], k);
            prop_assert_eq!(&replies_a[k..], &replies_c[..]);
            prop_assert_eq!(a.dataset_digest(), c.dataset_digest());
            prop_assert_eq!(slot_order(&a), slot_order(&c));
            prop_assert_eq!(meta(&a), meta(&c));
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut e = Engine::new(tiny_config());
            prop_assert!(e.load_snapshot(&data[..]).is_err());
            let mut with_header = header(VERSION).to_vec();
            with_header.extend_from_slice(&data);
            prop_assert!(e.load_snapshot(&with_header[..]).is_err());
            prop_assert_eq!(e.dataset_digest(), 0);
        }

        /// Checksummed garbage reaches the record and value decoders.
        #[test]
        fn checksummed_garbage_never_panics(
            db in 0u8..5,
            ty in prop::sample::select(vec![0u8, 1, 2, 4, 5, 11, 16, 17, 18, 20, 3, 99]),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            tail in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let mut value = vec![ty];
            value.extend_from_slice(&payload);
            let logical = [vec![OP_SELECT_DB, db, 1], record(b"k", 0, &value), end(1), tail].concat();
            let mut e = Engine::new(tiny_config());
            let _ = e.load_snapshot(&framed(&logical)[..]);
            let _ = e.load_snapshot(&framed(&payload)[..]);
        }

        /// A valid snapshot's logical bytes with one byte changed, then
        /// re-checksummed: never a panic; if it loads, it loads consistently.
        #[test]
        fn mutated_then_rechecksummed_never_panics(at in any::<prop::sample::Index>(), to in any::<u8>()) {
            let mut l = logical(&snapshot(&small_engine(), CHUNK_PAYLOAD));
            let i = at.index(l.len());
            l[i] = to;
            let mut e = Engine::new(EngineConfig::default());
            if let Ok(n) = e.load_snapshot(&framed(&l)[..]) {
                let keys: usize = (0..e.db_count()).map(|d| e.db(d).unwrap().len()).sum();
                prop_assert_eq!(n, keys as u64);
            }
        }
    }

    #[test]
    #[ignore = "timing: cargo test -p lattice-engine --release -- --ignored snapshot_timing --nocapture"]
    #[allow(clippy::disallowed_methods)] // a measurement, not engine logic
    fn snapshot_timing() {
        use std::time::Instant;
        for (size, label) in [(16, "16-byte values"), (100, "100-byte values (LZF)")] {
            let mut e = Engine::new(EngineConfig::default());
            let t = Instant::now();
            e.populate(0, 1_000_000, b"key", Some(size), NOW);
            let t_populate = t.elapsed();
            let t = Instant::now();
            let view = e.snapshot_view();
            let t_view = t.elapsed();
            let mut out = Vec::with_capacity(128 << 20);
            let t = Instant::now();
            let n = view.write_to(&mut out).unwrap();
            let t_write = t.elapsed();
            drop(view);
            let mut f = Engine::new(EngineConfig::default());
            let t = Instant::now();
            let keys = f.load_snapshot(&out[..]).unwrap();
            let t_load = t.elapsed();
            let t = Instant::now();
            let d = f.dataset_digest();
            let t_digest = t.elapsed();
            assert_eq!(keys, 1_000_000);
            assert_eq!(d, e.dataset_digest());
            println!(
                "1M keys, {label}: snapshot_view {t_view:?}, write_to {t_write:?} ({:.1} MB), \
                 load_snapshot {t_load:?}, dataset_digest {t_digest:?} (populate {t_populate:?})",
                n as f64 / 1e6
            );
        }
    }
}
