//! DUMP and RESTORE (`cluster.c`, `rdb.c`): a value serialized in Redis's RDB
//! object format, followed by the RDB version (10, Redis 7.0) as 2 bytes and
//! a CRC64 (Jones polynomial, reflected, as Redis's `crc64`) of everything
//! before it as 8 bytes, both little endian.
//!
//! DUMP writes strings exactly as Redis does (small integers int-encoded,
//! strings over 20 bytes LZF-compressed when that saves at least 4 bytes,
//! with Redis's LZF compressor ported byte for byte), integer sets as an
//! intset, and the other aggregates in the plain pre-listpack types (LIST,
//! SET, HASH, ZSET_2), which every Redis version restores. RESTORE reads all
//! of those plus what Redis 7.0 DUMPs: quicklists of listpacks or ziplists,
//! listpack/ziplist hashes and sorted sets, intsets and zipmaps. Streams and
//! module values are not supported (`Bad data format`).
//!
//! Snapshots (`crate::snapshot`) store each value in this same RDB object
//! format, through [`write_value_exact`] and [`decode_value`] (the decoder
//! RESTORE uses too): there a compact encoding is written as a Redis 7.2
//! listpack or intset blob and a large one as the plain type in its own
//! element order, so that loading rebuilds the same encoding and order
//! ([`Fidelity::AsWritten`]) and a replica restored from a snapshot makes
//! the same seeded random picks as one that replayed the log.
//!
//! Also here: whole-value readers and builders for the aggregate types
//! (`list_items`, `zset_pairs`, `new_list`, `new_zset` …) that SORT shares.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use indexmap::IndexMap;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::access;
use crate::config::EngineConfig;
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::keyspace::{Entry, FastHasher};
use crate::number::{arg_i64, parse_f64, parse_i64};
use crate::types::hash::{HashTable, HashValue};
use crate::types::intset::IntSet;
use crate::types::list::ListValue;
use crate::types::listpack::Listpack;
use crate::types::set::{SetTable, SetValue};
use crate::types::zset::{cmp_elements, Limits, Score, ZSetValue};
use crate::value::{StrValue, Value};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

/// RDB version written in payloads and the highest accepted (Redis 7.0).
const RDB_VERSION: u16 = 10;

const RDB_TYPE_STRING: u8 = 0;
const RDB_TYPE_LIST: u8 = 1;
const RDB_TYPE_SET: u8 = 2;
const RDB_TYPE_ZSET: u8 = 3;
const RDB_TYPE_HASH: u8 = 4;
const RDB_TYPE_ZSET_2: u8 = 5;
const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
const RDB_TYPE_SET_INTSET: u8 = 11;
const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
const RDB_TYPE_HASH_LISTPACK: u8 = 16;
const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;
const RDB_TYPE_SET_LISTPACK: u8 = 20;

const RDB_ENC_INT8: u64 = 0;
const RDB_ENC_INT16: u64 = 1;
const RDB_ENC_INT32: u64 = 2;
const RDB_ENC_LZF: u64 = 3;

const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

// ---------------------------------------------------------------------------
// CRC64 (Jones) and LZF.

// `i` stays below 256 by the loop bound; const fns cannot use `get_mut`.
#[allow(clippy::indexing_slicing)]
const fn crc64_table() -> [u64; 256] {
    // 0xad93d23594c935a9 bit-reversed: Redis's crc64 is reflected in and out.
    const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            k += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC64_TABLE: [u64; 256] = crc64_table();

/// Redis's `crc64(0, data)`.
pub(crate) fn crc64(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |crc, &b| {
        let t = CRC64_TABLE
            .get(((crc ^ u64::from(b)) & 0xff) as usize)
            .copied()
            .unwrap_or(0);
        t ^ (crc >> 8)
    })
}

const LZF_HLOG: u32 = 16;
const LZF_HSIZE: usize = 1 << LZF_HLOG;
/// Bits of a [`LzfTable`] slot that hold the position (the rest: generation).
const LZF_POS_BITS: u32 = 40;

/// LZF's hash table, reusable across calls. Redis leaves the table
/// uninitialised; an empty table is the deterministic equivalent (a stale
/// slot never passes the checks in `lzf_compress` except by pointing at
/// equal bytes anyway). Clearing 512 KiB for every string would dominate the
/// cost of serialising many short strings (a snapshot), so a slot holds
/// `generation << 40 | position` and only slots of the current call's
/// generation count: every call sees an empty table without a clear.
pub(crate) struct LzfTable {
    slots: Vec<u64>,
    generation: u64,
}

impl LzfTable {
    /// An unallocated table (allocated on the first compression).
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            generation: 0,
        }
    }

    /// Starts a compression: every slot reads as empty afterwards.
    fn begin(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![0; LZF_HSIZE];
        }
        self.generation += 1;
        if self.generation >= 1 << (64 - LZF_POS_BITS) {
            self.slots.fill(0);
            self.generation = 1;
        }
    }

    fn get(&self, slot: usize) -> usize {
        match self.slots.get(slot) {
            Some(&v) if v >> LZF_POS_BITS == self.generation => {
                (v & ((1 << LZF_POS_BITS) - 1)) as usize
            }
            _ => usize::MAX,
        }
    }

    fn set(&mut self, slot: usize, pos: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = (self.generation << LZF_POS_BITS) | pos as u64;
        }
    }
}

/// LZF compression as Redis's `lzf_compress` (liblzf 3.6, HLOG 16,
/// VERY_FAST), so that DUMP produces the same bytes. `None` when the output would not fit in
/// `out_len` bytes.
#[cfg(test)]
fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    lzf_compress_with(input, out_len, &mut LzfTable::new())
}

/// [`lzf_compress`] with a caller's (reused) hash table.
fn lzf_compress_with(input: &[u8], out_len: usize, htab: &mut LzfTable) -> Option<Vec<u8>> {
    const HLOG: u32 = LZF_HLOG;
    const HSIZE: usize = LZF_HSIZE;
    const MAX_LIT: usize = 1 << 5;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);
    let in_end = input.len();
    if in_end < 3 || out_len == 0 || in_end as u64 >= 1 << LZF_POS_BITS {
        return None;
    }
    let at = |i: usize| u32::from(input.get(i).copied().unwrap_or(0));
    let frst = |p: usize| (at(p) << 8) | at(p + 1);
    let next = |v: u32, p: usize| (v << 8) | at(p + 2);
    let idx = |h: u32| ((h >> (24 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1);
    htab.begin();
    let mut out = vec![0u8; out_len + 8];
    let out_end = out_len;
    let put = |out: &mut Vec<u8>, i: usize, b: u8| {
        if let Some(x) = out.get_mut(i) {
            *x = b;
        }
    };
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let mut hval = frst(ip);
    while ip + 2 < in_end {
        hval = next(hval, ip);
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip);
        let matched = r != usize::MAX
            && r < ip
            && ip - r - 1 < MAX_OFF
            && r > 0
            && input.get(r..r + 3) == input.get(ip..ip + 3);
        if matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_end - ip - len).min(MAX_REF);
            if op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            put(&mut out, op - lit - 1, (lit as u8).wrapping_sub(1));
            op -= usize::from(lit == 0);
            let same = |k: usize| input.get(r + k) == input.get(ip + k);
            'scan: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if !same(len) {
                            break 'scan;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && same(len)) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                put(&mut out, op, ((off >> 8) + (len << 5)) as u8);
                op += 1;
            } else {
                put(&mut out, op, ((off >> 8) + (7 << 5)) as u8);
                put(&mut out, op + 1, (len - 7) as u8);
                op += 2;
            }
            put(&mut out, op, off as u8);
            op += 2; // the offset byte, then the next run's header
            lit = 0;
            ip += len + 1;
            if ip + 2 >= in_end {
                break;
            }
            ip -= 2;
            hval = frst(ip);
            hval = next(hval, ip);
            htab.set(idx(hval), ip);
            ip += 1;
            hval = next(hval, ip);
            htab.set(idx(hval), ip);
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            put(&mut out, op, at(ip) as u8);
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                put(&mut out, op - lit - 1, (lit - 1) as u8);
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_end {
        lit += 1;
        put(&mut out, op, at(ip) as u8);
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            put(&mut out, op - lit - 1, (lit - 1) as u8);
            lit = 0;
            op += 1;
        }
    }
    put(&mut out, op - lit - 1, (lit as u8).wrapping_sub(1));
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// LZF decompression; `None` unless the input decodes to exactly `out_len`
/// bytes.
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // `out_len` comes from the payload: trust it only as far as the input
    // could expand (a 3-byte back reference yields at most 264 bytes).
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(88)));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(*input.get(ip)?);
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(input.get(ip..ip + len)?);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            len += 2;
            if out.len() + len > out_len || back > out.len() {
                return None;
            }
            let from = out.len() - back;
            for k in 0..len {
                let b = *out.get(from + k)?;
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

// ---------------------------------------------------------------------------
// Writing.

fn save_len(out: &mut Vec<u8>, len: usize) {
    let len = len as u64;
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | 0x40);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Redis's `rdbEncodeInteger`: values that fit 32 bits.
fn encode_int(v: i64, out: &mut Vec<u8>) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xc0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Redis's `rdbSaveRawString`, compressing with the caller's LZF table.
fn save_string_with(out: &mut Vec<u8>, s: &[u8], lzf: &mut LzfTable) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if encode_int(v, out) {
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(c) = lzf_compress_with(s, s.len() - 4, lzf) {
            out.push(0xc3);
            save_len(out, c.len());
            save_len(out, s.len());
            out.extend_from_slice(&c);
            return;
        }
    }
    save_len(out, s.len());
    out.extend_from_slice(s);
}

/// [`save_string_with`] with a fresh table (function dumps; tests build
/// payloads with it).
fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    save_string_with(out, s, &mut LzfTable::new());
}

/// Redis's intset blob: the narrowest width holding every value.
fn intset_blob(set: &IntSet) -> Vec<u8> {
    // The set's own width, as Redis writes its intset (which never narrows).
    let width = set.width();
    let mut out = Vec::with_capacity(8 + set.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(set.len() as u32).to_le_bytes());
    for v in set.iter() {
        out.extend_from_slice(v.to_le_bytes().get(..width).unwrap_or_default());
    }
    out
}

/// A value that has no RDB form: a compact encoding whose Redis listpack
/// would pass 4 GiB (unreachable with sane `*-max-listpack-*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// Appends one Redis listpack entry (`lpAppend`): canonical integers in the
/// smallest integer encoding, other strings with a 6-, 12- or 32-bit length,
/// then the entry's length backwards (`lpEncodeBacklen`). `listpack_entries`
/// reads exactly this.
fn lp_append_entry(out: &mut Vec<u8>, e: &[u8]) -> Result<(), TooLarge> {
    let start = out.len();
    match parse_i64(e) {
        Some(v @ 0..=127) => out.push(v as u8),
        Some(v @ -4096..=4095) => {
            let u = (v as u16) & 0x1fff;
            out.push(0xc0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        Some(v) if i16::try_from(v).is_ok() => {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        Some(v) if (-(1 << 23)..1 << 23).contains(&v) => {
            out.push(0xf2);
            out.extend_from_slice(v.to_le_bytes().get(..3).unwrap_or_default());
        }
        Some(v) if i32::try_from(v).is_ok() => {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        Some(v) => {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None if e.len() < 64 => {
            out.push(0x80 | e.len() as u8);
            out.extend_from_slice(e);
        }
        None if e.len() < 4096 => {
            out.push(0xe0 | (e.len() >> 8) as u8);
            out.push(e.len() as u8);
            out.extend_from_slice(e);
        }
        None => {
            out.push(0xf0);
            out.extend_from_slice(&u32::try_from(e.len()).map_err(|_| TooLarge)?.to_le_bytes());
            out.extend_from_slice(e);
        }
    }
    let l = out.len() - start;
    let low = |shift: u32| ((l >> shift) & 127) as u8 | 128;
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, low(0)]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[(l >> 14) as u8, low(7), low(0)]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[(l >> 21) as u8, low(14), low(7), low(0)]);
    } else {
        out.extend_from_slice(&[(l >> 28) as u8, low(21), low(14), low(7), low(0)]);
    }
    Ok(())
}

/// A Redis listpack of `entries`: total bytes (u32), count (u16, 65535
/// meaning "count them"), the entries, 0xff.
fn listpack_blob<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Result<Vec<u8>, TooLarge> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for e in entries {
        lp_append_entry(&mut out, e)?;
        count += 1;
    }
    out.push(0xff);
    let total = u32::try_from(out.len()).map_err(|_| TooLarge)?;
    let count = u16::try_from(count).unwrap_or(u16::MAX);
    if let Some(h) = out.get_mut(..4) {
        h.copy_from_slice(&total.to_le_bytes());
    }
    if let Some(h) = out.get_mut(4..6) {
        h.copy_from_slice(&count.to_le_bytes());
    }
    Ok(out)
}

/// The RDB serialization of a value as DUMP writes it (type byte and
/// payload): the plain types every Redis restores (module doc).
fn serialize_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let lzf = &mut LzfTable::new();
    match v {
        Value::Str(s) => {
            out.push(RDB_TYPE_STRING);
            save_string_with(&mut out, s, lzf);
        }
        Value::List(l) => {
            out.push(RDB_TYPE_LIST);
            save_len(&mut out, l.len());
            for i in l.iter() {
                save_string_with(&mut out, i, lzf);
            }
        }
        Value::Set(s) => {
            if let SetValue::Intset(v) = &**s {
                out.push(RDB_TYPE_SET_INTSET);
                save_string_with(&mut out, &intset_blob(v), lzf);
            } else {
                out.push(RDB_TYPE_SET);
                save_len(&mut out, s.len());
                for m in s.iter() {
                    m.with_bytes(|b| save_string_with(&mut out, b, lzf));
                }
            }
        }
        Value::Hash(h) => {
            out.push(RDB_TYPE_HASH);
            save_len(&mut out, h.len());
            for (f, v) in h.iter() {
                save_string_with(&mut out, f, lzf);
                save_string_with(&mut out, v, lzf);
            }
        }
        Value::ZSet(z) => {
            out.push(RDB_TYPE_ZSET_2);
            save_len(&mut out, z.len());
            // Highest first, as Redis walks its skiplist from the tail.
            for (m, score) in z.iter().rev() {
                save_string_with(&mut out, m, lzf);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
    out
}

/// The RDB serialization of a value that also records its encoding and
/// element order, for snapshots (`docs/design/snapshot-format.md`): a
/// compact encoding is written as Redis 7.2's RDB writes it (a listpack or
/// intset blob: types 16, 17, 18, 20, 11), a large one as the plain type
/// (LIST 1, SET 2, HASH 4, ZSET_2 5) in the table's own order (for a sorted
/// set, its member map's order, which random picks and ZSCAN index). Read
/// back by [`decode_value`] with [`Fidelity::AsWritten`], which rebuilds the
/// same encoding and order. Appends to `out`.
pub(crate) fn write_value_exact(
    out: &mut Vec<u8>,
    v: &Value,
    lzf: &mut LzfTable,
) -> Result<(), TooLarge> {
    match v {
        Value::Str(s) => {
            out.push(RDB_TYPE_STRING);
            save_string_with(out, s, lzf);
        }
        Value::List(l) => match &**l {
            ListValue::Listpack(lp) => {
                out.push(RDB_TYPE_LIST_QUICKLIST_2);
                save_len(out, 1);
                save_len(out, QUICKLIST_NODE_CONTAINER_PACKED as usize);
                save_string_with(out, &listpack_blob(lp.iter())?, lzf);
            }
            ListValue::Quicklist(q) => save_strings(out, RDB_TYPE_LIST, q.len(), q.iter(), lzf),
        },
        Value::Set(s) => match &**s {
            SetValue::Intset(v) => {
                out.push(RDB_TYPE_SET_INTSET);
                save_string_with(out, &intset_blob(v), lzf);
            }
            SetValue::Listpack(lp) => {
                save_listpack(out, RDB_TYPE_SET_LISTPACK, lp.iter(), lzf)?;
            }
            SetValue::Table(t) => save_strings(out, RDB_TYPE_SET, t.len(), t.iter(), lzf),
        },
        Value::Hash(h) => match &**h {
            HashValue::Listpack(lp) => {
                save_listpack(out, RDB_TYPE_HASH_LISTPACK, lp.iter(), lzf)?;
            }
            HashValue::Table(t) => {
                out.push(RDB_TYPE_HASH);
                save_len(out, t.len());
                for (f, v) in t.iter() {
                    save_string_with(out, f, lzf);
                    save_string_with(out, v, lzf);
                }
            }
        },
        Value::ZSet(z) => match &**z {
            // member, score text, member, score text … in (score, member) order.
            ZSetValue::Listpack(lp) => {
                save_listpack(out, RDB_TYPE_ZSET_LISTPACK, lp.iter(), lzf)?;
            }
            ZSetValue::Skiplist { dict, .. } => {
                out.push(RDB_TYPE_ZSET_2);
                save_len(out, dict.len());
                for (m, score) in dict {
                    save_string_with(out, m, lzf);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            }
        },
    }
    Ok(())
}

/// A type byte and a listpack blob (the compact encodings' RDB form).
fn save_listpack<'a>(
    out: &mut Vec<u8>,
    ty: u8,
    entries: impl Iterator<Item = &'a [u8]>,
    lzf: &mut LzfTable,
) -> Result<(), TooLarge> {
    out.push(ty);
    save_string_with(out, &listpack_blob(entries)?, lzf);
    Ok(())
}

/// A type byte, a count and that many strings (the plain RDB types).
fn save_strings<T: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    ty: u8,
    len: usize,
    items: impl Iterator<Item = T>,
    lzf: &mut LzfTable,
) {
    out.push(ty);
    save_len(out, len);
    for i in items {
        save_string_with(out, i.as_ref(), lzf);
    }
}

/// A DUMP payload: the serialized value, RDB version and CRC64.
pub(crate) fn dump_payload(v: &Value) -> Vec<u8> {
    let mut out = serialize_value(v);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Redis's `verifyDumpPayload`: version not newer than ours, CRC matches.
fn verify_payload(p: &[u8]) -> bool {
    if p.len() < 10 {
        return false;
    }
    let Some(footer) = p.get(p.len() - 10..) else {
        return false;
    };
    let ver = u16::from_le_bytes([
        footer.first().copied().unwrap_or(0),
        footer.get(1).copied().unwrap_or(0),
    ]);
    if ver > RDB_VERSION {
        return false;
    }
    let crc = crc64(p.get(..p.len() - 8).unwrap_or_default());
    footer.get(2..10) == Some(&crc.to_le_bytes()[..])
}

// ---------------------------------------------------------------------------
// Reading.

/// The payload is malformed (`Bad data format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bad;

type Load<T> = Result<T, Bad>;

/// How [`decode_value`] picks a decoded value's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fidelity {
    /// By content, as RESTORE (Redis's `rdbLoadObject`): the encoding the
    /// thresholds give the elements, whatever type byte carried them.
    ByContent,
    /// As [`write_value_exact`] recorded it: a plain type (LIST, SET, HASH,
    /// ZSET_2) is the large encoding with its elements in the written order,
    /// even when small; a blob type is the compact encoding (a set listpack
    /// stays a listpack even if every member is an integer), converted to
    /// the large one only if it is over `cfg`'s thresholds, as a live value
    /// would have been. Types `write_value_exact` never writes are refused.
    AsWritten,
}

/// A cursor over an RDB payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Load<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Bad)?;
        let s = self.buf.get(self.pos..end).ok_or(Bad)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Load<u8> {
        Ok(*self.bytes(1)?.first().ok_or(Bad)?)
    }

    /// `rdbLoadLenByRef`: (value, is-encoded).
    fn len_enc(&mut self) -> Load<(u64, bool)> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => ((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?), false),
            3 => (u64::from(b & 0x3f), true),
            _ if b == 0x80 => {
                let mut w = [0u8; 4];
                w.copy_from_slice(self.bytes(4)?);
                (u64::from(u32::from_be_bytes(w)), false)
            }
            _ if b == 0x81 => {
                let mut w = [0u8; 8];
                w.copy_from_slice(self.bytes(8)?);
                (u64::from_be_bytes(w), false)
            }
            _ => return Err(Bad),
        })
    }

    fn len(&mut self) -> Load<usize> {
        match self.len_enc()? {
            (n, false) => usize::try_from(n).map_err(|_| Bad),
            (_, true) => Err(Bad),
        }
    }

    /// `rdbGenericLoadStringObject`.
    fn string(&mut self) -> Load<Vec<u8>> {
        let (n, encoded) = self.len_enc()?;
        if !encoded {
            let n = usize::try_from(n).map_err(|_| Bad)?;
            return Ok(self.bytes(n)?.to_vec());
        }
        let v: i64 = match n {
            RDB_ENC_INT8 => i64::from(self.byte()? as i8),
            RDB_ENC_INT16 => {
                let b = self.bytes(2)?;
                i64::from(i16::from_le_bytes([
                    b.first().copied().ok_or(Bad)?,
                    b.get(1).copied().ok_or(Bad)?,
                ]))
            }
            RDB_ENC_INT32 => {
                let mut w = [0u8; 4];
                w.copy_from_slice(self.bytes(4)?);
                i64::from(i32::from_le_bytes(w))
            }
            RDB_ENC_LZF => {
                let clen = self.len()?;
                let len = self.len()?;
                let c = self.bytes(clen)?;
                return lzf_decompress(c, len).ok_or(Bad);
            }
            _ => return Err(Bad),
        };
        Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
    }

    /// `rdbLoadDoubleValue` (ZSET type 1 scores as text).
    fn text_double(&mut self) -> Load<f64> {
        match self.byte()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let s = self.bytes(usize::from(n))?;
                let t = std::str::from_utf8(s).map_err(|_| Bad)?;
                parse_f64(t.trim().as_bytes()).ok_or(Bad)
            }
        }
    }

    fn binary_double(&mut self) -> Load<f64> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.bytes(8)?);
        Ok(f64::from_le_bytes(w))
    }
}

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Elements of a Redis listpack, validated (`lpValidateIntegrity`, deep).
fn listpack_entries(lp: &[u8]) -> Load<Vec<Vec<u8>>> {
    if lp.len() < 7 {
        return Err(Bad);
    }
    let header = lp.get(..6).ok_or(Bad)?;
    let total = u32::from_le_bytes([
        *header.first().ok_or(Bad)?,
        *header.get(1).ok_or(Bad)?,
        *header.get(2).ok_or(Bad)?,
        *header.get(3).ok_or(Bad)?,
    ]) as usize;
    let count = u16::from_le_bytes([*header.get(4).ok_or(Bad)?, *header.get(5).ok_or(Bad)?]);
    if total != lp.len() || lp.last() != Some(&0xff) {
        return Err(Bad);
    }
    let mut r = Reader { buf: lp, pos: 6 };
    let mut out = Vec::new();
    loop {
        let start = r.pos;
        let b = r.byte()?;
        if b == 0xff {
            break;
        }
        let int_le = |r: &mut Reader<'_>, n: usize| -> Load<i64> {
            let bytes = r.bytes(n)?;
            let mut w = [0u8; 8];
            w.get_mut(..n).ok_or(Bad)?.copy_from_slice(bytes);
            let shift = 64 - 8 * n as u32;
            Ok((i64::from_le_bytes(w) << shift) >> shift)
        };
        let item = if b & 0x80 == 0 {
            int_text(i64::from(b & 0x7f))
        } else if b & 0xc0 == 0x80 {
            r.bytes(usize::from(b & 0x3f))?.to_vec()
        } else if b & 0xe0 == 0xc0 {
            let v = (i64::from(b & 0x1f) << 8) | i64::from(r.byte()?);
            int_text(if v >= 1 << 12 { v - (1 << 13) } else { v })
        } else if b & 0xf0 == 0xe0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(r.byte()?);
            r.bytes(n)?.to_vec()
        } else {
            match b {
                0xf0 => {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(r.bytes(4)?);
                    let n = u32::from_le_bytes(w) as usize;
                    r.bytes(n)?.to_vec()
                }
                0xf1 => int_text(int_le(&mut r, 2)?),
                0xf2 => int_text(int_le(&mut r, 3)?),
                0xf3 => int_text(int_le(&mut r, 4)?),
                0xf4 => int_text(int_le(&mut r, 8)?),
                _ => return Err(Bad),
            }
        };
        // The entry's length, stored backwards after it.
        let entry_len = r.pos - start;
        let backlen = match entry_len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        let stored = r.bytes(backlen)?;
        let mut decoded = 0usize;
        for (i, &x) in stored.iter().rev().enumerate() {
            decoded |= usize::from(x & 0x7f) << (7 * i);
        }
        if decoded != entry_len {
            return Err(Bad);
        }
        out.push(item);
    }
    if r.pos != lp.len() || (count != u16::MAX && usize::from(count) != out.len()) {
        return Err(Bad);
    }
    Ok(out)
}

/// Elements of a Redis ziplist, validated as `ziplistValidateIntegrity`
/// (deep): sizes, previous-entry lengths, tail offset and count.
fn ziplist_entries(zl: &[u8]) -> Load<Vec<Vec<u8>>> {
    if zl.len() < 11 {
        return Err(Bad);
    }
    let u32_at = |i: usize| -> Load<usize> {
        let b = zl.get(i..i + 4).ok_or(Bad)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(b);
        Ok(u32::from_le_bytes(w) as usize)
    };
    let total = u32_at(0)?;
    let tail = u32_at(4)?;
    let count = u16::from_le_bytes([*zl.get(8).ok_or(Bad)?, *zl.get(9).ok_or(Bad)?]);
    if total != zl.len() || zl.last() != Some(&0xff) {
        return Err(Bad);
    }
    let mut r = Reader { buf: zl, pos: 10 };
    let mut out = Vec::new();
    let mut prev_len = 0usize;
    let mut last_start = None;
    loop {
        let start = r.pos;
        let first = r.byte()?;
        if first == 0xff {
            break;
        }
        let prevlen = if first < 254 {
            usize::from(first)
        } else if first == 254 {
            let mut w = [0u8; 4];
            w.copy_from_slice(r.bytes(4)?);
            u32::from_le_bytes(w) as usize
        } else {
            return Err(Bad);
        };
        if prevlen != prev_len {
            return Err(Bad);
        }
        let e = r.byte()?;
        let int_le = |r: &mut Reader<'_>, n: usize| -> Load<i64> {
            let bytes = r.bytes(n)?;
            let mut w = [0u8; 8];
            w.get_mut(..n).ok_or(Bad)?.copy_from_slice(bytes);
            let shift = 64 - 8 * n as u32;
            Ok((i64::from_le_bytes(w) << shift) >> shift)
        };
        let item = match e >> 6 {
            0 => r.bytes(usize::from(e & 0x3f))?.to_vec(),
            1 => {
                let n = (usize::from(e & 0x3f) << 8) | usize::from(r.byte()?);
                r.bytes(n)?.to_vec()
            }
            2 => {
                // Redis masks 10xxxxxx to 0x80: a 32-bit big-endian length.
                let mut w = [0u8; 4];
                w.copy_from_slice(r.bytes(4)?);
                let n = u32::from_be_bytes(w) as usize;
                r.bytes(n)?.to_vec()
            }
            _ => match e {
                0xc0 => int_text(int_le(&mut r, 2)?),
                0xd0 => int_text(int_le(&mut r, 4)?),
                0xe0 => int_text(int_le(&mut r, 8)?),
                0xf0 => int_text(int_le(&mut r, 3)?),
                0xfe => int_text(int_le(&mut r, 1)?),
                0xf1..=0xfd => int_text(i64::from(e & 0x0f) - 1),
                _ => return Err(Bad),
            },
        };
        prev_len = r.pos - start;
        last_start = Some(start);
        out.push(item);
    }
    if r.pos != zl.len()
        || last_start.map_or(10, |s| s) != tail
        || (count != u16::MAX && usize::from(count) != out.len())
    {
        return Err(Bad);
    }
    Ok(out)
}

/// Members of an intset blob (sorted, unique, non-empty).
/// The width (2, 4 or 8) and members of a Redis intset blob.
fn intset_members(blob: &[u8]) -> Load<(usize, Vec<i64>)> {
    let head = |i: usize| -> Load<usize> {
        let b = blob.get(i..i + 4).ok_or(Bad)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(b);
        Ok(u32::from_le_bytes(w) as usize)
    };
    let width = head(0)?;
    let len = head(4)?;
    if !matches!(width, 2 | 4 | 8) || len == 0 || blob.len() != 8 + len * width {
        return Err(Bad);
    }
    let mut out: Vec<i64> = Vec::with_capacity(len);
    for c in blob.get(8..).unwrap_or_default().chunks_exact(width) {
        let mut w = [0u8; 8];
        w.get_mut(..width).ok_or(Bad)?.copy_from_slice(c);
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(w) << shift) >> shift;
        if out.last().is_some_and(|&p| p >= v) {
            return Err(Bad);
        }
        out.push(v);
    }
    Ok((width, out))
}

/// Field/value pairs of a Redis 2.4 zipmap.
fn zipmap_pairs(zm: &[u8]) -> Load<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut r = Reader { buf: zm, pos: 1 };
    let zm_len = *zm.first().ok_or(Bad)?;
    let read_len = |r: &mut Reader<'_>| -> Load<Option<usize>> {
        match r.byte()? {
            255 => Ok(None),
            254 => {
                let mut w = [0u8; 4];
                w.copy_from_slice(r.bytes(4)?);
                Ok(Some(u32::from_le_bytes(w) as usize))
            }
            n => Ok(Some(usize::from(n))),
        }
    };
    let mut out = Vec::new();
    while let Some(klen) = read_len(&mut r)? {
        let k = r.bytes(klen)?.to_vec();
        let vlen = read_len(&mut r)?.ok_or(Bad)?;
        let free = usize::from(r.byte()?);
        let v = r.bytes(vlen)?.to_vec();
        r.bytes(free)?;
        out.push((k, v));
    }
    if r.pos != zm.len() || (zm_len < 254 && usize::from(zm_len) != out.len()) {
        return Err(Bad);
    }
    Ok(out)
}

/// Splits a flat field, value, field, value … list into pairs.
fn pairs(flat: Vec<Vec<u8>>) -> Load<Vec<(Vec<u8>, Vec<u8>)>> {
    if !flat.len().is_multiple_of(2) {
        return Err(Bad);
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn build_hash(pairs: Vec<(Vec<u8>, Vec<u8>)>, cfg: &EngineConfig) -> Load<Value> {
    if pairs.is_empty() {
        return Err(Bad);
    }
    let mut h = HashValue::default();
    if pairs.len() > cfg.hash_max_listpack_entries {
        h.convert_to_table();
    }
    for (f, v) in &pairs {
        if !h.set(f, v, cfg) {
            return Err(Bad); // a duplicate field
        }
    }
    Ok(Value::Hash(Box::new(h)))
}

fn build_set(members: Vec<Vec<u8>>, cfg: &EngineConfig) -> Load<Value> {
    let first = members.first().ok_or(Bad)?;
    let mut s = SetValue::with_hint(first, members.len(), cfg);
    for m in &members {
        if !s.add(m, cfg) {
            return Err(Bad); // a duplicate member
        }
    }
    Ok(Value::Set(Box::new(s)))
}

fn build_zset(pairs: Vec<(Vec<u8>, f64)>, cfg: &EngineConfig) -> Load<Value> {
    if pairs.is_empty() || pairs.iter().any(|(_, s)| s.is_nan()) {
        return Err(Bad);
    }
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    if !pairs.iter().all(|(m, _)| seen.insert(&m[..])) {
        return Err(Bad); // a duplicate member
    }
    Ok(Value::ZSet(Box::new(new_zset(pairs, cfg))))
}

fn build_list(items: Vec<Vec<u8>>, cfg: &EngineConfig) -> Load<Value> {
    if items.is_empty() {
        return Err(Bad);
    }
    Ok(Value::List(Box::new(new_list(items, cfg))))
}

/// A list in the large representation, elements in the written order.
fn exact_list(r: &mut Reader<'_>) -> Load<Value> {
    let n = r.len()?;
    let mut q = VecDeque::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        q.push_back(r.string()?.into_boxed_slice());
    }
    if q.is_empty() {
        return Err(Bad);
    }
    Ok(Value::List(Box::new(ListValue::Quicklist(q))))
}

/// A set table, members in the written order.
fn exact_set_table(r: &mut Reader<'_>) -> Load<Value> {
    let n = r.len()?;
    let mut t = SetTable::with_capacity_and_hasher(n.min(1 << 16), FastHasher::default());
    for _ in 0..n {
        if !t.insert(r.string()?.into_boxed_slice()) {
            return Err(Bad); // a duplicate member
        }
    }
    if t.is_empty() {
        return Err(Bad);
    }
    Ok(Value::Set(Box::new(SetValue::Table(Box::new(t)))))
}

/// A set listpack in the written order (or a table, in that order, if it
/// is over the thresholds), never an intset.
fn exact_set_listpack(members: Vec<Vec<u8>>, cfg: &EngineConfig) -> Load<Value> {
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    if members.is_empty() || !members.iter().all(|m| seen.insert(&m[..])) {
        return Err(Bad);
    }
    let fits = members.len() <= cfg.set_max_listpack_entries
        && members
            .iter()
            .all(|m| m.len() <= cfg.set_max_listpack_value);
    let mut s = SetValue::Listpack(Listpack::new());
    if let SetValue::Listpack(lp) = &mut s {
        for m in &members {
            lp.push_back(m);
        }
    }
    if !fits {
        s.convert_to_table();
    }
    Ok(Value::Set(Box::new(s)))
}

/// A hash table, fields in the written order.
fn exact_hash_table(r: &mut Reader<'_>) -> Load<Value> {
    let n = r.len()?;
    let mut t = HashTable::with_capacity_and_hasher(n.min(1 << 16), FastHasher::default());
    for _ in 0..n {
        let f = r.string()?.into_boxed_slice();
        let v = r.string()?.into_boxed_slice();
        if t.insert(f, v).is_some() {
            return Err(Bad); // a duplicate field
        }
    }
    if t.is_empty() {
        return Err(Bad);
    }
    Ok(Value::Hash(Box::new(HashValue::Table(Box::new(t)))))
}

/// A sorted set's large form, its member map in the written order.
fn exact_zset_skiplist(r: &mut Reader<'_>) -> Load<Value> {
    let n = r.len()?;
    let mut dict = IndexMap::with_capacity_and_hasher(n.min(1 << 16), FastHasher::default());
    let mut tree = BTreeSet::new();
    for _ in 0..n {
        let m: Box<[u8]> = r.string()?.into_boxed_slice();
        let s = r.binary_double()?;
        if s.is_nan() || dict.insert(m.clone(), s).is_some() {
            return Err(Bad); // NaN, or a duplicate member
        }
        tree.insert((Score(s), m));
    }
    if dict.is_empty() {
        return Err(Bad);
    }
    Ok(Value::ZSet(Box::new(ZSetValue::Skiplist { dict, tree })))
}

/// `rdbLoadObject` for the types Lattice has.
fn load_object(t: u8, r: &mut Reader<'_>, cfg: &EngineConfig, fidelity: Fidelity) -> Load<Value> {
    if fidelity == Fidelity::AsWritten {
        match t {
            RDB_TYPE_LIST => return exact_list(r),
            RDB_TYPE_SET => return exact_set_table(r),
            RDB_TYPE_HASH => return exact_hash_table(r),
            RDB_TYPE_ZSET_2 => return exact_zset_skiplist(r),
            RDB_TYPE_SET_LISTPACK => {
                return exact_set_listpack(listpack_entries(&r.string()?)?, cfg)
            }
            // The compact blobs come back in the encoding their content
            // gets, which is the compact one unless the thresholds shrank.
            RDB_TYPE_STRING
            | RDB_TYPE_SET_INTSET
            | RDB_TYPE_HASH_LISTPACK
            | RDB_TYPE_ZSET_LISTPACK
            | RDB_TYPE_LIST_QUICKLIST_2 => {}
            _ => return Err(Bad),
        }
    }
    match t {
        RDB_TYPE_STRING => Ok(Value::Str(StrValue::from_vec(r.string()?))),
        RDB_TYPE_LIST => {
            let n = r.len()?;
            let mut items = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                items.push(r.string()?);
            }
            build_list(items, cfg)
        }
        RDB_TYPE_SET => {
            let n = r.len()?;
            let mut members = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                members.push(r.string()?);
            }
            build_set(members, cfg)
        }
        RDB_TYPE_ZSET | RDB_TYPE_ZSET_2 => {
            let n = r.len()?;
            let mut pairs = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let m = r.string()?;
                let s = if t == RDB_TYPE_ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                pairs.push((m, s));
            }
            build_zset(pairs, cfg)
        }
        RDB_TYPE_HASH => {
            let n = r.len()?;
            let mut kv = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                kv.push((f, v));
            }
            build_hash(kv, cfg)
        }
        RDB_TYPE_LIST_QUICKLIST | RDB_TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if t == RDB_TYPE_LIST_QUICKLIST_2 {
                    match r.len_enc()? {
                        (c, false)
                            if c == QUICKLIST_NODE_CONTAINER_PLAIN
                                || c == QUICKLIST_NODE_CONTAINER_PACKED =>
                        {
                            c
                        }
                        _ => return Err(Bad),
                    }
                } else {
                    QUICKLIST_NODE_CONTAINER_PACKED
                };
                let data = r.string()?;
                if data.is_empty() {
                    return Err(Bad);
                }
                if container == QUICKLIST_NODE_CONTAINER_PLAIN {
                    items.push(data);
                } else if t == RDB_TYPE_LIST_QUICKLIST_2 {
                    items.extend(listpack_entries(&data)?);
                } else {
                    items.extend(ziplist_entries(&data)?);
                }
            }
            build_list(items, cfg)
        }
        RDB_TYPE_HASH_ZIPMAP => build_hash(zipmap_pairs(&r.string()?)?, cfg),
        RDB_TYPE_LIST_ZIPLIST => build_list(ziplist_entries(&r.string()?)?, cfg),
        RDB_TYPE_SET_INTSET => {
            let (width, members) = intset_members(&r.string()?)?;
            let mut v = build_set(members.into_iter().map(int_text).collect(), cfg)?;
            if let Value::Set(s) = &mut v {
                if let SetValue::Intset(is) = &mut **s {
                    is.widen_to(width);
                }
            }
            Ok(v)
        }
        RDB_TYPE_SET_LISTPACK => build_set(listpack_entries(&r.string()?)?, cfg),
        RDB_TYPE_ZSET_ZIPLIST | RDB_TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            let flat = if t == RDB_TYPE_ZSET_ZIPLIST {
                ziplist_entries(&blob)?
            } else {
                listpack_entries(&blob)?
            };
            let mut zp = Vec::with_capacity(flat.len() / 2);
            for (m, s) in pairs(flat)? {
                zp.push((m, parse_f64(&s).ok_or(Bad)?));
            }
            build_zset(zp, cfg)
        }
        RDB_TYPE_HASH_ZIPLIST | RDB_TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let flat = if t == RDB_TYPE_HASH_ZIPLIST {
                ziplist_entries(&blob)?
            } else {
                listpack_entries(&blob)?
            };
            build_hash(pairs(flat)?, cfg)
        }
        // Modules (6, 7) and streams (15, 19, 21) are not supported.
        _ => Err(Bad),
    }
}

/// Decodes one RDB-serialised value (type byte and payload, without DUMP's
/// footer): the one decoder RESTORE and snapshot loading share. Returns the
/// value and the number of bytes of `body` it used.
pub(crate) fn decode_value(
    body: &[u8],
    cfg: &EngineConfig,
    fidelity: Fidelity,
) -> Load<(Value, usize)> {
    let mut r = Reader { buf: body, pos: 0 };
    let t = r.byte()?;
    let v = load_object(t, &mut r, cfg, fidelity)?;
    Ok((v, r.pos))
}

/// Decodes a DUMP payload (already verified) into a value.
fn load_payload(p: &[u8], cfg: &EngineConfig) -> Load<Value> {
    let body = p.get(..p.len().saturating_sub(10)).ok_or(Bad)?;
    decode_value(body, cfg, Fidelity::ByContent).map(|(v, _)| v)
}

// ---------------------------------------------------------------------------
// Whole-value readers and builders shared with SORT.

/// A list's elements, head to tail.
pub(crate) fn list_items(l: &ListValue) -> Vec<Vec<u8>> {
    l.iter().map(<[u8]>::to_vec).collect()
}

/// A sorted set's (member, score) pairs, lowest first.
pub(crate) fn zset_pairs(z: &ZSetValue) -> Vec<(Vec<u8>, f64)> {
    z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
}

/// A sorted set from unique (member, score) pairs, in the encoding Redis
/// picks for that content.
pub(crate) fn new_zset(mut pairs: Vec<(Vec<u8>, f64)>, cfg: &EngineConfig) -> ZSetValue {
    pairs.sort_by(|a, b| cmp_elements((&a.0, a.1), (&b.0, b.1)));
    let limits = Limits {
        entries: cfg.zset_max_listpack_entries,
        value: cfg.zset_max_listpack_value,
    };
    ZSetValue::from_sorted(pairs, limits)
}

/// Converts a listpack sorted set to the skiplist encoding (SORT does this
/// to the sorted key in Redis 7.0).
pub(crate) fn zset_to_skiplist(z: &mut ZSetValue) {
    if let ZSetValue::Listpack(_) = z {
        // Limits no non-empty set fits force the large encoding.
        *z = ZSetValue::from_sorted(
            zset_pairs(z),
            Limits {
                entries: 0,
                value: 0,
            },
        );
    }
}

/// A list from its elements, as RPUSH would build it.
pub(crate) fn new_list(items: Vec<Vec<u8>>, cfg: &EngineConfig) -> ListValue {
    let mut l = ListValue::default();
    l.push_many(cfg, items.iter().map(Vec::as_slice), false);
    l
}

// ---------------------------------------------------------------------------
// Commands.

fn dump(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(match ex.lookup_read(arg(args, 1)) {
        Some(e) => Reply::Bulk(Bytes::from(dump_payload(&e.value))),
        None => Reply::Nil,
    })
}

fn restore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let (mut replace, mut absttl) = (false, false);
    let (mut freq, mut idle): (i64, i64) = (-1, -1);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        let a = arg(args, j);
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more >= 1 && freq == -1 {
            idle = arg_i64(arg(args, j + 1))?;
            if idle < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more >= 1 && idle == -1 {
            freq = arg_i64(arg(args, j + 1))?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if !replace && ex.exists(key) {
        return Err(CmdError::Other(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let mut ttl = arg_i64(arg(args, 2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let payload = arg(args, 3);
    if !verify_payload(payload) {
        return Err(CmdError::err("DUMP payload version or checksum are wrong"));
    }
    let value = load_payload(payload, ex.config).map_err(|_| CmdError::err("Bad data format"))?;
    let deleted = replace && ex.delete(key);
    if ttl != 0 && !absttl {
        // Redis adds without a check; an overflow becomes a past time.
        ttl = ttl.wrapping_add(ex.now_ms as i64);
    }
    if ttl != 0 && ttl <= ex.now_ms as i64 {
        if deleted {
            ex.notify(EventClass::Generic, "del", key);
        }
        return Ok(Reply::Ok);
    }
    let wakes = matches!(value, Value::List(_) | Value::ZSet(_));
    ex.set_key(key, value, false);
    if ttl != 0 {
        ex.db_mut().set_expire(key, ttl as u64);
    }
    let now = ex.now_ms;
    let lfu = ex.config.maxmemory_policy.is_lfu();
    if let Some(Entry { access: a, .. }) = ex.db_mut().get_mut(key) {
        if lfu && freq >= 0 {
            *a = (access::lfu_minutes(now) << 8) | freq as u32;
        } else if !lfu && idle >= 0 {
            const LRU_CLOCK_MAX: i64 = (1 << 24) - 1;
            let clock = i64::from(access::lru_clock(now));
            let mut abs = clock - idle;
            if abs < 0 {
                abs = (clock + LRU_CLOCK_MAX / 2) % LRU_CLOCK_MAX;
            }
            *a = abs as u32;
        }
    }
    if wakes {
        ex.key_ready(key);
    }
    ex.notify(EventClass::Generic, "restore", key);
    Ok(Reply::Ok)
}

/// DUMP/RESTORE command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, READONLY, (1, 1, 1), Group::Generic, Some(dump)),
    CommandSpec::new(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::Generic,
        Some(restore),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Effect, Engine, EngineConfig, EvictionPolicy};

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    fn run_at(e: &mut Engine, args: &[&[u8]], now: u64) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        e.call(0, args, now, 7, false).reply
    }

    const NOW: u64 = 1_700_000_000_000;

    fn run(e: &mut Engine, args: &[&[u8]]) -> Reply {
        run_at(e, args, NOW)
    }

    fn err(r: Reply) -> String {
        match r {
            Reply::Error(e) => e.wire_text(),
            other => panic!("not an error: {other:?}"),
        }
    }

    fn restore_hex(e: &mut Engine, key: &[u8], hex: &str) -> Reply {
        let p = unhex(hex);
        run(e, &[b"restore", key, b"0", &p])
    }

    fn value(e: &Engine, key: &[u8]) -> Value {
        e.db(0).unwrap().get(key).unwrap().value.clone()
    }

    fn with_checksum(mut body: Vec<u8>, version: u16) -> Vec<u8> {
        body.extend_from_slice(&version.to_le_bytes());
        let crc = crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn crc64_matches_redis() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // A payload from redis-server 7.0.15 (DUMP of "hello").
        assert!(verify_payload(&unhex("000568656c6c6f0a006372df766534200a")));
        assert!(!verify_payload(&unhex(
            "000568656c6c6f0a006372df766534200b"
        )));
        assert!(!verify_payload(b"short"));
    }

    #[test]
    fn string_dumps_match_redis() {
        // (value, DUMP from redis-server 7.0.15)
        let long_a = "a".repeat(40);
        let ones = "1".repeat(30);
        let cases: Vec<(&[u8], &str)> = vec![
            (b"hello", "000568656c6c6f0a006372df766534200a"),
            (b"12345", "00c139300a009d94ea2793fc08b9"),
            (b"-5", "00c0fb0a0049c4c6f4d7263f68"),
            (long_a.as_bytes(), "00c30928016161e01b000161610a00cf092faaae25831d"),
            (
                b"abcdefghijklmnopqrstuvwxyz0123456789",
                "00246162636465666768696a6b6c6d6e6f707172737475767778797a303132333435363738390a00c3d18e5aec8d8f0d",
            ),
            (ones.as_bytes(), "00c3091e013131e011000131310a00cd5a1f968d03c0ba"),
            (b"", "00000a005d9b5c400f7fa2da"),
            (b"12345678901", "000b31323334353637383930310a00304e52d727176510"),
            (b"123456789012345", "000f3132333435363738393031323334350a00aa23d080cc386836"),
        ];
        for (v, hex) in cases {
            assert_eq!(
                dump_payload(&Value::str(v)),
                unhex(hex),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn lzf_output_matches_redis() {
        // Longer strings: DUMP output captured from redis-server 7.0.15.
        let cases = [
            ("6161626261626161616162626162616161626161616161616161626261616161626261626261616261626261626162626262626162626161626162626162626261626161616161626262626261626261626161626261626261626262616161626261616162616162626262616161626261616162616162626161626261626162626262626262626161626162626161626262616261626262626262626161626262626262626262626262616262626161616262626162616262626161616261616161626161616161626162616162626262616161626162626262616261626162626262", "00c3407940e306616162626162612000a007600b4000200f20002005200220152005200140002005c0102009200b20002009400b600e400520082003600b20042002200040096004400e60032001a000200e200b2005200420018000600ee00000401560422009c00b200f80042005200c201b2005200920072004400120000a0053e4a198e7f9682d"),
            ("626162626261616162626262616261616162616261626162616162626161616162626262616262616162626161616161626261626262616161626162626261616261626261616162626262616161626161626262626261616262616161626161626261626262616161616261616262626261616262626161616262626162626261626161616161626162616262626261626161626162626162626161616162616262616161626162626261616161616161626262616261626162626262626161616162626162616261616162626261626261616262626261616161626261616162616261626162626262626161616262616162616161616262616261", "00c3408040fc066261626262616140050162616008a0012011201620052007200260032000200a4011200880074006400d20004006201040004006c00e4011200bc01b2008400460054009201020004007200d2004600b20072008a00a8006400740004009600140008010600fa0192008e00218200c80014000400d200420022004201700610a0088760ff24ff0977e"),
        ];
        for (v, d) in cases {
            let v = unhex(v);
            assert_eq!(dump_payload(&Value::str(&v)), unhex(d));
            match load_payload(&unhex(d), &EngineConfig::default()).unwrap() {
                Value::Str(s) => assert_eq!(&s[..], &v[..]),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn lzf_round_trips() {
        let mut seed = 12345u64;
        for n in [3usize, 21, 100, 1000, 20000] {
            for kind in 0..3 {
                let data: Vec<u8> = (0..n)
                    .map(|i| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        match kind {
                            0 => (seed >> 60) as u8 % 3 + b'a',
                            1 => (seed >> 56) as u8,
                            _ => (i % 7) as u8,
                        }
                    })
                    .collect();
                if let Some(c) = lzf_compress(&data, n + 64) {
                    assert_eq!(lzf_decompress(&c, n).unwrap(), data);
                    assert_eq!(lzf_decompress(&c, n + 1), None);
                }
            }
        }
        assert_eq!(lzf_decompress(&[0x05, b'a'], 6), None);
        assert_eq!(lzf_decompress(&[0x20, 0x00], 3), None);
    }

    #[test]
    fn a_reused_lzf_table_compresses_as_a_fresh_one() {
        let inputs: Vec<Vec<u8>> = vec![
            b"abcabcabcabcabcabcabcabcabcabc".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            (0..3000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        let mut table = LzfTable::new();
        for round in 0..3 {
            if round == 2 {
                // The generation counter wraps: the table is cleared once.
                table.generation = (1 << (64 - LZF_POS_BITS)) - 1;
            }
            for input in &inputs {
                let n = input.len();
                assert_eq!(
                    lzf_compress_with(input, n + 64, &mut table),
                    lzf_compress(input, n + 64)
                );
            }
        }
    }

    #[test]
    fn listpack_blobs_decode_back_at_every_encoding_boundary() {
        let mut entries: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-4097",
            "32767",
            "-32768",
            "32768",
            "8388607",
            "-8388608",
            "8388608",
            "2147483647",
            "-2147483648",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "007",
            "-0",
            "+1",
            "1.5",
            "",
            " 1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for n in [63, 64, 4095, 4096, 20_000] {
            entries.push(vec![b'q'; n]);
        }
        let blob = listpack_blob(entries.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(listpack_entries(&blob).unwrap(), entries);
        // Integers take Redis's integer encodings (7-bit: one byte + backlen).
        assert_eq!(
            listpack_blob([&b"5"[..]].into_iter()).unwrap(),
            vec![9, 0, 0, 0, 1, 0, 5, 1, 0xff]
        );
        // More than 65534 entries: the count field says "count them".
        let many: Vec<Vec<u8>> = (0..70_000).map(|i| format!("{i}").into_bytes()).collect();
        let blob = listpack_blob(many.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(blob.get(4..6), Some(&[0xff, 0xff][..]));
        assert_eq!(listpack_entries(&blob).unwrap(), many);
    }

    #[test]
    fn exact_values_decode_with_their_encoding_and_order() {
        let cfg = EngineConfig::default();
        let mut e = Engine::new(cfg.clone());
        // A set listpack of integers (created with a string, which left)
        // stays a listpack in insertion order; RESTORE makes it an intset.
        for a in [
            &[&b"sadd"[..], b"s", b"x", b"3", b"1", b"2"][..],
            &[b"srem", b"s", b"x"],
        ] {
            run(&mut e, a);
        }
        // A hash table emptied down to one field stays a table.
        let mut args: Vec<Vec<u8>> = vec![b"hset".to_vec(), b"h".to_vec()];
        for i in 0..600 {
            args.push(format!("f{i}").into_bytes());
            args.push(b"v".to_vec());
        }
        run(&mut e, &args.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let mut del: Vec<Vec<u8>> = vec![b"hdel".to_vec(), b"h".to_vec()];
        del.extend((1..600).map(|i| format!("f{i}").into_bytes()));
        run(&mut e, &del.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for (key, exact, by_content) in [
            (&b"s"[..], "listpack", "intset"),
            (b"h", "hashtable", "listpack"),
        ] {
            let v = value(&e, key);
            let mut out = Vec::new();
            write_value_exact(&mut out, &v, &mut LzfTable::new()).unwrap();
            let (back, used) = decode_value(&out, &cfg, Fidelity::AsWritten).unwrap();
            assert_eq!(used, out.len());
            assert_eq!(back.encoding(), exact);
            assert_eq!(
                decode_value(&out, &cfg, Fidelity::ByContent)
                    .unwrap()
                    .0
                    .encoding(),
                by_content
            );
            assert_eq!(dump_payload(&back), dump_payload(&v));
        }
        match value(&e, b"s") {
            Value::Set(s) => assert_eq!(
                s.iter().map(|m| m.to_vec()).collect::<Vec<_>>(),
                vec![b"3".to_vec(), b"1".to_vec(), b"2".to_vec()]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restores_redis_aggregates() {
        let mut e = Engine::new(EngineConfig::default());
        // RPUSH l1 a b 1 -200 <70 x c>: a quicklist of one listpack.
        let l1 = "120102c31b405b135b00000005008161028162020101df3802e04663e03c000148ff0a00305302700ae24109";
        assert_eq!(restore_hex(&mut e, b"l1", l1), Reply::Ok);
        match value(&e, b"l1") {
            Value::List(l) => assert_eq!(
                list_items(&l),
                vec![
                    b"a".to_vec(),
                    b"b".to_vec(),
                    b"1".to_vec(),
                    b"-200".to_vec(),
                    vec![b'c'; 70]
                ]
            ),
            other => panic!("{other:?}"),
        }
        // SADD set1 1 2 100000 -3: an intset of 32-bit integers.
        let set1 = "0b180400000004000000fdffffff0100000002000000a08601000a00e56f68d5ee10feb5";
        assert_eq!(restore_hex(&mut e, b"set1", set1), Reply::Ok);
        match value(&e, b"set1") {
            Value::Set(s) => {
                assert_eq!(s.encoding(), "intset");
                let m: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
                assert_eq!(
                    m,
                    vec![
                        b"-3".to_vec(),
                        b"1".to_vec(),
                        b"2".to_vec(),
                        b"100000".to_vec()
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // SADD set2 a b: a plain set.
        assert_eq!(
            restore_hex(&mut e, b"set2", "0202016101620a00fe642125eb033d0d"),
            Reply::Ok
        );
        match value(&e, b"set2") {
            Value::Set(s) => assert!(s.contains(b"a") && s.contains(b"b") && s.len() == 2),
            other => panic!("{other:?}"),
        }
        // ZADD z1 1.5 a 2 b -inf c: a listpack sorted set.
        let z1 =
            "111d1d0000000600816302842d696e660581610283312e35048162020201ff0a0017dce91ab8436c89";
        assert_eq!(restore_hex(&mut e, b"z1", z1), Reply::Ok);
        match value(&e, b"z1") {
            Value::ZSet(z) => {
                assert_eq!(z.encoding(), "listpack");
                assert_eq!(
                    zset_pairs(&z),
                    vec![
                        (b"c".to_vec(), f64::NEG_INFINITY),
                        (b"a".to_vec(), 1.5),
                        (b"b".to_vec(), 2.0)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // HSET h1 f1 v1 f2 123: a listpack hash.
        let h1 = "10151500000004008266310382763103826632037b01ff0a004ac585b69f9c1e83";
        assert_eq!(restore_hex(&mut e, b"h1", h1), Reply::Ok);
        match value(&e, b"h1") {
            Value::Hash(h) => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                    h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                assert_eq!(
                    pairs,
                    vec![
                        (b"f1".to_vec(), b"v1".to_vec()),
                        (b"f2".to_vec(), b"123".to_vec())
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restores_redis_large_encodings() {
        // Captured with list-max-listpack-size 4, hash-max-listpack-entries 2,
        // set-max-intset-entries 2 and zset-max-listpack-entries 2.
        let mut e = Engine::new(EngineConfig::default());
        let ql = "12030213130000000400816102816202816302816402ff02121200000004008165028166020701dff802ff02c30f22072200000001009978e00f00011aff0a00de564380e3696470";
        assert_eq!(restore_hex(&mut e, b"ql", ql), Reply::Ok);
        match value(&e, b"ql") {
            Value::List(l) => {
                let want: Vec<Vec<u8>> = ["a", "b", "c", "d", "e", "f", "7", "-8"]
                    .iter()
                    .map(|s| s.as_bytes().to_vec())
                    .chain(std::iter::once(vec![b'x'; 25]))
                    .collect();
                assert_eq!(list_items(&l), want);
            }
            other => panic!("{other:?}"),
        }
        let ht = "04030266330276330266320276320266310276310a002e730ee3f9da2e7e";
        assert_eq!(restore_hex(&mut e, b"ht", ht), Reply::Ok);
        match value(&e, b"ht") {
            Value::Hash(h) => {
                assert_eq!(h.len(), 3);
                assert_eq!(h.get(b"f2"), Some(&b"v2"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            restore_hex(&mut e, b"st", "0203c002c001c0030a00198e965aa5cce5a4"),
            Reply::Ok
        );
        match value(&e, b"st") {
            Value::Set(s) => {
                assert_eq!(s.encoding(), "intset");
                assert_eq!(
                    s.iter().map(|m| m.to_vec()).collect::<Vec<_>>(),
                    vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
                );
            }
            other => panic!("{other:?}"),
        }
        let zs = "05040163000000000000084001640000000000000440016200000000000000400161000000000000f03f0a00f6dade9a37076fb9";
        assert_eq!(restore_hex(&mut e, b"zs", zs), Reply::Ok);
        match value(&e, b"zs") {
            Value::ZSet(z) => assert_eq!(
                zset_pairs(&z),
                vec![
                    (b"a".to_vec(), 1.0),
                    (b"b".to_vec(), 2.0),
                    (b"d".to_vec(), 2.5),
                    (b"c".to_vec(), 3.0)
                ]
            ),
            other => panic!("{other:?}"),
        }
        // RPUSH lz with 50 x "aaaaaaaaaa": an LZF-compressed listpack node.
        let lz = "120102c31a425f075f02000032008a61e00000000be0ff0be1ff07e13207010bff0a00933563ba8b1bc985";
        assert_eq!(restore_hex(&mut e, b"lz", lz), Reply::Ok);
        match value(&e, b"lz") {
            Value::List(l) => assert_eq!(list_items(&l), vec![b"aaaaaaaaaa".to_vec(); 50]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restores_ziplist_and_zipmap_encodings() {
        let mut e = Engine::new(EngineConfig::default());
        // A ziplist: "a", 12 (4-bit immediate).
        let zl = unhex("100000000d0000000200000161");
        let mut zl = zl;
        zl.extend_from_slice(&[0x03, 0xfd, 0xff]);
        let mut body = vec![RDB_TYPE_LIST_ZIPLIST];
        save_string(&mut body, &zl);
        let p = with_checksum(body, 9);
        assert_eq!(run(&mut e, &[b"restore", b"zl", b"0", &p]), Reply::Ok);
        match value(&e, b"zl") {
            Value::List(l) => assert_eq!(list_items(&l), vec![b"a".to_vec(), b"12".to_vec()]),
            other => panic!("{other:?}"),
        }
        // The same ziplist as the single node of a version-1 quicklist.
        let mut body = vec![RDB_TYPE_LIST_QUICKLIST, 1];
        save_string(&mut body, &zl);
        let p = with_checksum(body, 9);
        assert_eq!(run(&mut e, &[b"restore", b"ql", b"0", &p]), Reply::Ok);
        // A ziplist sorted set: a 1.5, b 2; and a ziplist hash.
        let mut zz = unhex("180000001500000004000001610303312e35050162");
        zz.extend_from_slice(&[0x03, 0xf3, 0xff]);
        let mut body = vec![RDB_TYPE_ZSET_ZIPLIST];
        save_string(&mut body, &zz);
        assert_eq!(
            run(&mut e, &[b"restore", b"zz", b"0", &with_checksum(body, 9)]),
            Reply::Ok
        );
        match value(&e, b"zz") {
            Value::ZSet(z) => assert_eq!(
                zset_pairs(&z),
                vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), 2.0)]
            ),
            other => panic!("{other:?}"),
        }
        let mut body = vec![RDB_TYPE_HASH_ZIPLIST];
        save_string(&mut body, &zz);
        assert_eq!(
            run(&mut e, &[b"restore", b"hz", b"0", &with_checksum(body, 9)]),
            Reply::Ok
        );
        match value(&e, b"hz") {
            Value::Hash(h) => assert_eq!(h.get(b"b"), Some(&b"2"[..])),
            other => panic!("{other:?}"),
        }
        // A zipmap hash: f -> v.
        let mut body = vec![RDB_TYPE_HASH_ZIPMAP];
        save_string(&mut body, &[0x01, 0x01, b'f', 0x01, 0x00, b'v', 0xff]);
        assert_eq!(
            run(&mut e, &[b"restore", b"zm", b"0", &with_checksum(body, 9)]),
            Reply::Ok
        );
        match value(&e, b"zm") {
            Value::Hash(h) => assert_eq!(h.get(b"f"), Some(&b"v"[..])),
            other => panic!("{other:?}"),
        }
        // A ZSET (type 3) with text scores.
        let mut body = vec![RDB_TYPE_ZSET, 2, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254];
        body = with_checksum(std::mem::take(&mut body), 9);
        assert_eq!(run(&mut e, &[b"restore", b"z3", b"0", &body]), Reply::Ok);
        match value(&e, b"z3") {
            Value::ZSet(z) => assert_eq!(
                zset_pairs(&z),
                vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), f64::INFINITY)]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_payloads() {
        let mut e = Engine::new(EngineConfig::default());
        let bad = "ERR Bad data format";
        // A stream from redis-server 7.0.15: not supported.
        let st = "130110000000000000000100000000000000011d1d0000000a0001010001010181610200010201000100018162020401ff0101010101000001000a006f4334ecd7fa5aec";
        assert_eq!(err(restore_hex(&mut e, b"st", st)), bad);
        let cases: Vec<Vec<u8>> = vec![
            vec![RDB_TYPE_LIST, 0],                                     // empty list
            vec![RDB_TYPE_SET, 2, 1, b'a', 1, b'a'],                    // duplicate member
            vec![RDB_TYPE_HASH, 2, 1, b'a', 1, b'1', 1, b'a', 1, b'2'], // duplicate field
            vec![RDB_TYPE_ZSET_2, 1, 1, b'a'],                          // truncated score
            vec![RDB_TYPE_STRING, 5, b'a'],                             // truncated string
            vec![42],                                                   // unknown type
            vec![RDB_TYPE_STRING, 0xc3, 2, 5, 0x01, b'a'],              // LZF length mismatch
            vec![RDB_TYPE_SET_INTSET, 8, 2, 0, 0, 0, 0, 0, 0, 0],       // empty intset
            // LZF claiming a 1 TiB result: refused without allocating it.
            vec![
                RDB_TYPE_STRING,
                0xc3,
                2,
                0x81,
                0,
                0,
                1,
                0,
                0,
                0,
                0,
                0,
                0x01,
                b'a',
            ],
        ];
        for body in cases {
            let p = with_checksum(body.clone(), RDB_VERSION);
            assert_eq!(
                err(run(&mut e, &[b"restore", b"k", b"0", &p])),
                bad,
                "{body:?}"
            );
        }
        let mut nan = vec![RDB_TYPE_ZSET_2, 1, 1, b'a'];
        nan.extend_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(
            err(run(
                &mut e,
                &[b"restore", b"k", b"0", &with_checksum(nan, 10)]
            )),
            bad
        );
        assert_eq!(run(&mut e, &[b"exists", b"k"]), Reply::Int(0));
    }

    #[test]
    fn restore_errors_in_redis_order() {
        let mut e = Engine::new(EngineConfig::default());
        let good = dump_payload(&Value::str(b"v"));
        let newer = with_checksum(vec![RDB_TYPE_STRING, 1, b'v'], 11);
        let mut corrupt = good.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        let version = "ERR DUMP payload version or checksum are wrong";
        assert_eq!(err(run(&mut e, &[b"restore", b"k", b"0", &newer])), version);
        assert_eq!(
            err(run(&mut e, &[b"restore", b"k", b"0", &corrupt])),
            version
        );
        assert_eq!(err(run(&mut e, &[b"restore", b"k", b"0", b"xx"])), version);
        assert_eq!(
            err(run(&mut e, &[b"restore", b"k", b"-1", &good])),
            "ERR Invalid TTL value, must be >= 0"
        );
        assert_eq!(
            err(run(&mut e, &[b"restore", b"k", b"x", &good])),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(run(&mut e, &[b"restore", b"k", b"0", &good, b"foo"])),
            "ERR syntax error"
        );
        assert_eq!(
            err(run(
                &mut e,
                &[b"restore", b"k", b"0", &good, b"idletime", b"-1"]
            )),
            "ERR Invalid IDLETIME value, must be >= 0"
        );
        assert_eq!(
            err(run(
                &mut e,
                &[b"restore", b"k", b"0", &good, b"freq", b"256"]
            )),
            "ERR Invalid FREQ value, must be >= 0 and <= 255"
        );
        assert_eq!(
            err(run(
                &mut e,
                &[
                    b"restore",
                    b"k",
                    b"0",
                    &good,
                    b"freq",
                    b"1",
                    b"idletime",
                    b"1"
                ]
            )),
            "ERR syntax error"
        );
        assert_eq!(
            err(run(&mut e, &[b"restore", b"k", b"0"])),
            "ERR wrong number of arguments for 'restore' command"
        );
        assert_eq!(run(&mut e, &[b"restore", b"k", b"0", &good]), Reply::Ok);
        let busy = "BUSYKEY Target key name already exists.";
        assert_eq!(err(run(&mut e, &[b"restore", b"k", b"0", &good])), busy);
        // The existence check comes before the TTL and payload checks.
        assert_eq!(err(run(&mut e, &[b"restore", b"k", b"-1", b"junk"])), busy);
        assert_eq!(
            run(&mut e, &[b"restore", b"k", b"0", &good, b"REPLACE"]),
            Reply::Ok
        );
    }

    #[test]
    fn ttl_and_access_options() {
        let mut e = Engine::new(EngineConfig::default());
        let good = dump_payload(&Value::str(b"v"));
        assert_eq!(run(&mut e, &[b"restore", b"a", b"5000", &good]), Reply::Ok);
        assert_eq!(e.db(0).unwrap().get(b"a").unwrap().expire_at, NOW + 5000);
        let at = (NOW + 9000).to_string();
        assert_eq!(
            run(&mut e, &[b"restore", b"b", at.as_bytes(), &good, b"ABSTTL"]),
            Reply::Ok
        );
        assert_eq!(e.db(0).unwrap().get(b"b").unwrap().expire_at, NOW + 9000);
        // An absolute time in the past: OK, and nothing is created…
        assert_eq!(
            run(&mut e, &[b"restore", b"c", b"1000", &good, b"absttl"]),
            Reply::Ok
        );
        assert!(e.db(0).unwrap().get(b"c").is_none());
        // …and with REPLACE the old key is deleted.
        let args: Vec<Bytes> = vec![
            "restore".into(),
            "a".into(),
            "1".into(),
            Bytes::from(good.clone()),
            "absttl".into(),
            "replace".into(),
        ];
        let out = e.apply(&e.prepare(0, args, NOW, 0), false);
        assert_eq!(out.reply, Reply::Ok);
        assert!(e.db(0).unwrap().get(b"a").is_none());
        assert!(out
            .effects
            .iter()
            .any(|f| matches!(f, Effect::Notify { event: "del", .. })));
        // IDLETIME sets the LRU clock back.
        assert_eq!(
            run(
                &mut e,
                &[b"restore", b"d", b"0", &good, b"idletime", b"100"]
            ),
            Reply::Ok
        );
        let acc = e.db(0).unwrap().get(b"d").unwrap().access;
        assert_eq!(acc, crate::access::lru_clock(NOW) - 100);
        // FREQ only applies under an LFU policy.
        let cfg = EngineConfig {
            maxmemory_policy: EvictionPolicy::AllKeysLfu,
            ..Default::default()
        };
        let mut lfu = Engine::new(cfg);
        assert_eq!(
            run(&mut lfu, &[b"restore", b"f", b"0", &good, b"freq", b"77"]),
            Reply::Ok
        );
        assert_eq!(lfu.db(0).unwrap().get(b"f").unwrap().access & 0xff, 77);
        // Notification.
        let args: Vec<Bytes> = vec!["restore".into(), "n".into(), "0".into(), Bytes::from(good)];
        let out = e.apply(&e.prepare(0, args, NOW, 0), false);
        assert!(out.effects.iter().any(|f| matches!(
            f,
            Effect::Notify {
                event: "restore",
                ..
            }
        )));
    }

    #[test]
    fn dump_round_trips_every_type() {
        let cfg = EngineConfig::default();
        let mut e = Engine::new(cfg.clone());
        let big: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("member-{i}").into_bytes())
            .collect();
        let values = vec![
            Value::str(b"plain"),
            Value::str(&vec![b'z'; 5000]),
            Value::List(Box::new(new_list(
                vec![b"a".to_vec(), b"1".to_vec(), vec![b'q'; 100]],
                &cfg,
            ))),
            Value::List(Box::new(new_list(big.clone(), &cfg))),
            build_set(
                vec![b"1".to_vec(), b"-70000".to_vec(), b"5000000000".to_vec()],
                &cfg,
            )
            .unwrap(),
            build_set(vec![b"x".to_vec(), b"y".to_vec()], &cfg).unwrap(),
            build_set(big.clone(), &cfg).unwrap(),
            build_hash(vec![(b"f".to_vec(), b"v".to_vec())], &cfg).unwrap(),
            build_hash(big.iter().map(|m| (m.clone(), m.clone())).collect(), &cfg).unwrap(),
            Value::ZSet(Box::new(new_zset(
                vec![(b"a".to_vec(), 2.5), (b"b".to_vec(), -1.0)],
                &cfg,
            ))),
            Value::ZSet(Box::new(new_zset(
                big.iter()
                    .enumerate()
                    .map(|(i, m)| (m.clone(), i as f64 / 3.0))
                    .collect(),
                &cfg,
            ))),
        ];
        for (i, v) in values.into_iter().enumerate() {
            let key = format!("k{i}");
            e.db_mut(0).unwrap().insert(key.as_bytes(), v.clone(), 0, 0);
            let Reply::Bulk(p) = run(&mut e, &[b"dump", key.as_bytes()]) else {
                panic!()
            };
            let dst = format!("r{i}");
            assert_eq!(
                run(&mut e, &[b"restore", dst.as_bytes(), b"0", &p]),
                Reply::Ok
            );
            let back = value(&e, dst.as_bytes());
            assert_eq!(back.value_type(), v.value_type());
            assert_eq!(back.encoding(), v.encoding(), "{key}");
            assert_eq!(dump_payload(&back), p.to_vec(), "{key}");
        }
        assert_eq!(run(&mut e, &[b"dump", b"missing"]), Reply::Nil);
    }

    #[test]
    fn dump_formats_for_redis() {
        let cfg = EngineConfig::default();
        // An intset is written as Redis writes it (SADD set1 1 2 100000 -3).
        let s = build_set(
            vec![
                b"1".to_vec(),
                b"2".to_vec(),
                b"100000".to_vec(),
                b"-3".to_vec(),
            ],
            &cfg,
        )
        .unwrap();
        assert_eq!(
            dump_payload(&s),
            unhex("0b180400000004000000fdffffff0100000002000000a08601000a00e56f68d5ee10feb5")
        );
        // A sorted set is written highest score first, as Redis's skiplist.
        let z = Value::ZSet(Box::new(new_zset(
            vec![
                (b"a".to_vec(), 1.0),
                (b"b".to_vec(), 2.0),
                (b"c".to_vec(), 3.0),
                (b"d".to_vec(), 2.5),
            ],
            &EngineConfig {
                zset_max_listpack_entries: 2,
                ..Default::default()
            },
        )));
        assert_eq!(
            dump_payload(&z),
            unhex("05040163000000000000084001640000000000000440016200000000000000400161000000000000f03f0a00f6dade9a37076fb9")
        );
    }

    #[test]
    fn restore_wakes_blocked_list_clients() {
        let mut e = Engine::new(EngineConfig::default());
        let cfg = EngineConfig::default();
        let p = dump_payload(&Value::List(Box::new(new_list(vec![b"x".to_vec()], &cfg))));
        let args: Vec<Bytes> = vec!["restore".into(), "l".into(), "0".into(), Bytes::from(p)];
        let out = e.apply(&e.prepare(0, args, NOW, 0), false);
        assert!(out
            .effects
            .iter()
            .any(|f| matches!(f, Effect::KeyReady { .. })));
    }
}

/// `RDB_OPCODE_FUNCTION2`: one function library's code in a FUNCTION DUMP.
const RDB_OPCODE_FUNCTION2: u8 = 245;

/// A FUNCTION DUMP payload as Redis 7.0 writes it (each library's code
/// after the FUNCTION2 opcode, then RDB version and CRC64), so payloads
/// move between Lattice and Redis in both directions.
pub fn function_dump_payload<T: AsRef<[u8]>>(codes: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in codes {
        out.push(RDB_OPCODE_FUNCTION2);
        save_string(&mut out, c.as_ref());
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION DUMP payload; `None` when the version,
/// checksum or framing is wrong (Redis's "payload version or checksum are
/// wrong" / "given type is not a function").
pub fn parse_function_payload(p: &[u8]) -> Option<Vec<Vec<u8>>> {
    if !verify_payload(p) {
        return None;
    }
    let body = p.get(..p.len() - 10)?;
    let mut r = Reader { buf: body, pos: 0 };
    let mut codes = Vec::new();
    while r.pos < body.len() {
        if r.byte().ok()? != RDB_OPCODE_FUNCTION2 {
            return None;
        }
        codes.push(r.string().ok()?);
    }
    Some(codes)
}

#[cfg(test)]
mod function_payload_tests {
    use super::*;

    #[test]
    fn function_payloads_round_trip_and_reject_damage() {
        let codes = vec![b"#!lua name=a\nreturn".to_vec(), vec![b'x'; 300]];
        let p = function_dump_payload(&codes);
        assert_eq!(parse_function_payload(&p), Some(codes));
        for cut in 0..p.len() {
            assert_eq!(
                parse_function_payload(p.get(..cut).unwrap_or_default()),
                None
            );
        }
        let mut flipped = p.clone();
        if let Some(b) = flipped.get_mut(3) {
            *b ^= 1;
        }
        assert_eq!(parse_function_payload(&flipped), None);
        // Redis 7.0.15's FUNCTION DUMP of one small library starts so.
        assert_eq!(p.first(), Some(&0xf5));
    }
}
