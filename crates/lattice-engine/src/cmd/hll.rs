//! HyperLogLog commands (`hyperloglog.c`): PFADD, PFCOUNT, PFMERGE.
//!
//! A HyperLogLog is a plain string value in Redis's exact byte format, so a
//! value copied with GET/SET (or DUMP/RESTORE) between Redis and Lattice
//! keeps working and PFCOUNT gives the same numbers:
//!
//! ```text
//! "HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cached cardinality (8, LE)
//! ```
//!
//! followed by the registers. Dense: 16384 six-bit registers packed LSB first
//! (12288 bytes). Sparse: run-length opcodes — `00xxxxxx` ZERO (1..64 zero
//! registers), `01xxxxxx yyyyyyyy` XZERO (1..16384 zero registers),
//! `1vvvvvxx` VAL (1..4 registers of value 1..32). A sparse value is promoted
//! to dense when a register needs a value above 32 or the string would grow
//! past `hll-sparse-max-bytes` (3000). The top bit of the last cache byte
//! set means "cache invalid". Elements hash with MurmurHash64A, seed
//! 0xadc83b19; the estimate is Ertl's improved estimator, as in Redis 7.

use bytes::Bytes;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::keyspace::Entry;
use crate::value::{StrValue, Value};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

/// log2 of the number of registers.
const HLL_P: u32 = 14;
/// Bits of the hash left after the register index.
const HLL_Q: usize = 64 - HLL_P as usize;
/// Number of registers.
pub(crate) const HLL_REGISTERS: usize = 1 << HLL_P;
const HLL_P_MASK: u64 = (HLL_REGISTERS as u64) - 1;
const HLL_BITS: usize = 6;
const HLL_REGISTER_MAX: u8 = (1 << HLL_BITS) - 1;
/// Header bytes: magic, encoding, 3 unused, 8 cache.
const HLL_HDR_SIZE: usize = 16;
/// Total bytes of a dense HyperLogLog.
const HLL_DENSE_SIZE: usize = HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS).div_ceil(8);
const HLL_DENSE: u8 = 0;
const HLL_SPARSE: u8 = 1;
const HLL_MAX_ENCODING: u8 = 1;
/// `hll-sparse-max-bytes` (Redis default; not configurable here).
const HLL_SPARSE_MAX_BYTES: usize = 3000;
const SPARSE_XZERO_BIT: u8 = 0x40;
const SPARSE_VAL_BIT: u8 = 0x80;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const HLL_ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// `-WRONGTYPE` for a string that is not a HyperLogLog.
fn invalid_hll() -> CmdError {
    CmdError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

/// `-INVALIDOBJ` for a HyperLogLog whose sparse encoding is corrupt.
fn corrupt_hll() -> CmdError {
    CmdError::Other("INVALIDOBJ Corrupted HLL object detected".into())
}

/// The sparse representation is corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Corrupt;

/// MurmurHash2, 64-bit version (MurmurHash64A), reading blocks little endian
/// as Redis does on every platform.
pub(crate) fn murmurhash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let mut k = u64::from_le_bytes(b);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register index of an element and the length of its `000…1` pattern.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmurhash64a(ele, 0xadc8_3b19);
    let index = (hash & HLL_P_MASK) as usize;
    hash >>= HLL_P;
    // A sentinel bit makes the loop end with count <= Q + 1.
    hash |= 1u64 << HLL_Q;
    let count = hash.trailing_zeros() as u8 + 1;
    (index, count)
}

/// Reads dense register `i` from the register bytes.
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * HLL_BITS / 8;
    let fb = (i * HLL_BITS) & 7;
    let b0 = u16::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) as u8) & HLL_REGISTER_MAX
}

/// Writes dense register `i`.
fn dense_write(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * HLL_BITS / 8;
    let fb = (i * HLL_BITS) & 7;
    let v = u16::from(val);
    let max = u16::from(HLL_REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((max << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count`; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_write(regs, i, count);
        true
    } else {
        false
    }
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == SPARSE_XZERO_BIT
}

fn is_val(b: u8) -> bool {
    b & SPARSE_VAL_BIT != 0
}

fn zero_len(b: u8) -> usize {
    usize::from(b & 0x3f) + 1
}

fn xzero_len(b0: u8, b1: u8) -> usize {
    ((usize::from(b0 & 0x3f) << 8) | usize::from(b1)) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 0x3) + 1
}

fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2) | ((len - 1) as u8) | SPARSE_VAL_BIT
}

fn push_zero(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        out.push(((l >> 8) as u8) | SPARSE_XZERO_BIT);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// One decoded sparse opcode: (registers covered, value, opcode bytes).
fn sparse_op(s: &[u8], p: usize) -> (usize, u8, usize) {
    let b = s.get(p).copied().unwrap_or(0);
    if is_zero(b) {
        (zero_len(b), 0, 1)
    } else if is_xzero(b) {
        (xzero_len(b, s.get(p + 1).copied().unwrap_or(0)), 0, 2)
    } else {
        (val_len(b), val_value(b), 1)
    }
}

/// A new, empty HyperLogLog (sparse: a single XZERO run).
pub(crate) fn create_hll() -> StrValue {
    let mut v = StrValue::new();
    v.extend_from_slice(b"HYLL");
    v.push(HLL_SPARSE);
    v.extend_from_slice(&[0u8; 11]);
    let mut ops = Vec::new();
    let mut left = HLL_REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_zero(&mut ops, run);
        left -= run;
    }
    v.extend_from_slice(&ops);
    v
}

/// Redis's `isHLLObjectOrReply` header checks.
fn is_hll(s: &[u8]) -> bool {
    if s.len() < HLL_HDR_SIZE || s.get(..4) != Some(&b"HYLL"[..]) {
        return false;
    }
    let enc = s.get(4).copied().unwrap_or(u8::MAX);
    enc <= HLL_MAX_ENCODING && !(enc == HLL_DENSE && s.len() != HLL_DENSE_SIZE)
}

fn encoding(s: &[u8]) -> u8 {
    s.get(4).copied().unwrap_or(HLL_DENSE)
}

fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(15) {
        *b |= 1 << 7;
    }
}

/// The dense form of a sparse HyperLogLog (the header, cache included, is
/// kept), or `Corrupt`.
fn sparse_to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut dense = vec![0u8; HLL_DENSE_SIZE];
    if let (Some(d), Some(h)) = (dense.get_mut(..HLL_HDR_SIZE), s.get(..HLL_HDR_SIZE)) {
        d.copy_from_slice(h);
    }
    if let Some(e) = dense.get_mut(4) {
        *e = HLL_DENSE;
    }
    let regs = dense.get_mut(HLL_HDR_SIZE..).unwrap_or_default();
    let mut idx = 0usize;
    let mut p = HLL_HDR_SIZE;
    while p < s.len() {
        let (run, val, oplen) = sparse_op(s, p);
        if val > 0 {
            if run + idx > HLL_REGISTERS {
                break;
            }
            for i in idx..idx + run {
                dense_write(regs, i, val);
            }
        }
        idx += run;
        p += oplen;
    }
    if idx != HLL_REGISTERS {
        return Err(Corrupt);
    }
    Ok(dense)
}

/// Promotes `s` to dense and raises register `index` to `count`.
fn promote(s: &mut StrValue, index: usize, count: u8) -> Result<bool, Corrupt> {
    let mut dense = sparse_to_dense(s)?;
    let changed = dense_set(
        dense.get_mut(HLL_HDR_SIZE..).unwrap_or_default(),
        index,
        count,
    );
    *s = StrValue::from_vec(dense);
    Ok(changed)
}

/// Raises sparse register `index` to `count`, splitting opcodes as Redis's
/// `hllSparseSet` does (byte-for-byte the same result), and promoting to
/// dense when needed. True if the register changed.
fn sparse_set(s: &mut StrValue, index: usize, count: u8) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let mut p = HLL_HDR_SIZE;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    let mut oplen = 1;
    while p < end {
        let (run, _, len) = sparse_op(s, p);
        span = run;
        oplen = len;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end || p + oplen > end {
        return Err(Corrupt);
    }
    let op = s.get(p).copied().unwrap_or(0);
    let (is_zero_op, is_xzero_op) = (is_zero(op), is_xzero(op));
    let runlen = span;

    let mut updated_in_place = false;
    if is_val(op) {
        let oldcount = val_value(op);
        // Case A: the run already holds a value >= count.
        if oldcount >= count {
            return Ok(false);
        }
        // Case B: a VAL run of one register.
        if runlen == 1 {
            if let Some(b) = s.get_mut(p) {
                *b = val_op(count, 1);
            }
            updated_in_place = true;
        }
    }
    // Case C: a ZERO run of one register.
    if !updated_in_place && is_zero_op && runlen == 1 {
        if let Some(b) = s.get_mut(p) {
            *b = val_op(count, 1);
        }
        updated_in_place = true;
    }

    if !updated_in_place {
        // Case D: split the opcode into up to three.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        if is_zero_op || is_xzero_op {
            if index != first {
                push_zero(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zero(&mut seq, last - index);
            }
        } else {
            let curval = val_value(op);
            if index != first {
                seq.push(val_op(curval, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(curval, last - index));
            }
        }
        // Step 3: substitute the new sequence, or promote if too large.
        let grows = seq.len() > oplen;
        if grows && s.len() + (seq.len() - oplen) > HLL_SPARSE_MAX_BYTES {
            return promote(s, index, count);
        }
        s.drain(p..p + oplen);
        s.insert_from_slice(p, &seq);
    }

    // Step 4: merge adjacent VAL opcodes of equal value, scanning up to five
    // opcodes from the previous one.
    let mut end = s.len();
    let mut q = prev.unwrap_or(HLL_HDR_SIZE);
    let mut scanlen = 5;
    while q < end && scanlen > 0 {
        scanlen -= 1;
        let b = s.get(q).copied().unwrap_or(0);
        if is_xzero(b) {
            q += 2;
            continue;
        } else if is_zero(b) {
            q += 1;
            continue;
        }
        if q + 1 < end {
            let b2 = s.get(q + 1).copied().unwrap_or(0);
            if is_val(b2) && val_value(b) == val_value(b2) {
                let len = val_len(b) + val_len(b2);
                if len <= SPARSE_VAL_MAX_LEN {
                    if let Some(x) = s.get_mut(q + 1) {
                        *x = val_op(val_value(b), len);
                    }
                    s.remove(q);
                    end -= 1;
                    continue;
                }
            }
        }
        q += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

/// Adds one element; true if a register changed.
fn hll_add(s: &mut StrValue, ele: &[u8]) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    match encoding(s) {
        HLL_DENSE => Ok(dense_set(
            s.get_mut(HLL_HDR_SIZE..).unwrap_or_default(),
            index,
            count,
        )),
        HLL_SPARSE => sparse_set(s, index, count),
        _ => Err(Corrupt),
    }
}

/// Histogram of register values of a stored HyperLogLog.
fn histogram(s: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    let regs = s.get(HLL_HDR_SIZE..).unwrap_or_default();
    if encoding(s) == HLL_DENSE {
        for i in 0..HLL_REGISTERS {
            if let Some(c) = h.get_mut(usize::from(dense_get(regs, i))) {
                *c += 1;
            }
        }
        return Ok(h);
    }
    let mut idx = 0usize;
    let mut p = 0usize;
    while p < regs.len() {
        let (run, val, oplen) = sparse_op(regs, p);
        idx += run;
        if let Some(c) = h.get_mut(usize::from(val)) {
            *c += run as u32;
        }
        p += oplen;
    }
    if idx != HLL_REGISTERS {
        return Err(Corrupt);
    }
    Ok(h)
}

/// Histogram of a raw register array (one byte per register).
fn raw_histogram(regs: &[u8]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &r in regs {
        if let Some(c) = h.get_mut(usize::from(r & 63)) {
            *c += 1;
        }
    }
    h
}

fn hll_sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn hll_tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator from a register histogram (Redis's `hllCount`).
fn estimate(h: &[u32; 64]) -> u64 {
    let m = HLL_REGISTERS as f64;
    let at = |i: usize| f64::from(h.get(i).copied().unwrap_or(0));
    let mut z = m * hll_tau((m - at(HLL_Q + 1)) / m);
    for j in (1..=HLL_Q).rev() {
        z += at(j);
        z *= 0.5;
    }
    z += m * hll_sigma(at(0) / m);
    (HLL_ALPHA_INF * m * m / z).round() as u64
}

/// Merges a stored HyperLogLog into `max` (one byte per register).
fn hll_merge(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    let regs = s.get(HLL_HDR_SIZE..).unwrap_or_default();
    if encoding(s) == HLL_DENSE {
        for (i, m) in max.iter_mut().enumerate().take(HLL_REGISTERS) {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = 0usize;
    while p < regs.len() {
        let (run, val, oplen) = sparse_op(regs, p);
        if val > 0 {
            if run + i > HLL_REGISTERS {
                break;
            }
            for m in max.iter_mut().skip(i).take(run) {
                if val > *m {
                    *m = val;
                }
            }
        }
        i += run;
        p += oplen;
    }
    if i != HLL_REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Reads a key as a HyperLogLog: `None` if absent, WRONGTYPE otherwise.
fn read_hll<'e>(ex: &'e mut Exec<'_>, key: &[u8]) -> Result<Option<&'e StrValue>, CmdError> {
    match ex.read_str(key)? {
        None => Ok(None),
        Some(s) if is_hll(s) => Ok(Some(s)),
        Some(_) => Err(invalid_hll()),
    }
}

fn pfadd(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = args.get(1).map_or(&[][..], |k| &k[..]);
    let elements = args.get(2..).unwrap_or_default();
    let mut created = None;
    let mut updated = 0u64;
    match ex.write_str(key)? {
        Some(s) => {
            if !is_hll(s) {
                return Err(invalid_hll());
            }
            for e in elements {
                if hll_add(s, e).map_err(|_| corrupt_hll())? {
                    updated += 1;
                }
            }
            if updated > 0 {
                invalidate_cache(s);
            }
        }
        None => {
            let mut s = create_hll();
            updated = 1;
            for e in elements {
                if hll_add(&mut s, e).map_err(|_| corrupt_hll())? {
                    updated += 1;
                }
            }
            invalidate_cache(&mut s);
            created = Some(s);
        }
    }
    if updated == 0 {
        return Ok(Reply::Int(0));
    }
    match created {
        Some(s) => ex.set_key(key, Value::Str(s), false),
        None => ex.modified(key),
    }
    // Redis counts one change per register updated.
    ex.stats.dirty += updated - 1;
    ex.notify(EventClass::String, "pfadd", key);
    Ok(Reply::Int(1))
}

fn pfcount(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    if args.len() > 2 {
        // The union of several HyperLogLogs, without touching them.
        let mut max = vec![0u8; HLL_REGISTERS];
        for key in args.iter().skip(1) {
            let Some(s) = read_hll(ex, key)? else {
                continue;
            };
            hll_merge(&mut max, s).map_err(|_| corrupt_hll())?;
        }
        return Ok(Reply::Int(estimate(&raw_histogram(&max)) as i64));
    }
    let key = args.get(1).map_or(&[][..], |k| &k[..]);
    let s = match ex.lookup_read(key) {
        None => return Ok(Reply::Int(0)),
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => s,
        Some(_) => return Err(CmdError::WrongType),
    };
    if !is_hll(s) {
        return Err(invalid_hll());
    }
    let mut cache = [0u8; 8];
    if let Some(c) = s.get(8..16) {
        cache.copy_from_slice(c);
    }
    if cache[7] & 0x80 == 0 {
        return Ok(Reply::Int(u64::from_le_bytes(cache) as i64));
    }
    let card = estimate(&histogram(s).map_err(|_| corrupt_hll())?);
    // Redis stores the new cache even though PFCOUNT is a read: the value
    // changes representation, not meaning.
    if let Some(c) = s.get_mut(8..16) {
        c.copy_from_slice(&card.to_le_bytes());
    }
    ex.modified(key);
    Ok(Reply::Int(card as i64))
}

fn pfmerge(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let mut max = vec![0u8; HLL_REGISTERS];
    let mut use_dense = false;
    // The destination is merged too (it is the first key).
    for key in args.iter().skip(1) {
        let Some(s) = read_hll(ex, key)? else {
            continue;
        };
        if encoding(s) == HLL_DENSE {
            use_dense = true;
        }
        hll_merge(&mut max, s).map_err(|_| corrupt_hll())?;
    }
    let dest = args.get(1).map_or(&[][..], |k| &k[..]);
    let mut created = None;
    let target: &mut StrValue = match ex.write_str(dest)? {
        Some(s) => s,
        None => created.insert(create_hll()),
    };
    if use_dense && encoding(target) == HLL_SPARSE {
        *target = StrValue::from_vec(sparse_to_dense(target).map_err(|_| corrupt_hll())?);
    }
    for (j, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        if encoding(target) == HLL_DENSE {
            dense_set(target.get_mut(HLL_HDR_SIZE..).unwrap_or_default(), j, m);
        } else {
            // As Redis, a corrupt destination is left as it is.
            let _ = sparse_set(target, j, m);
        }
    }
    invalidate_cache(target);
    match created {
        Some(s) => ex.set_key(dest, Value::Str(s), false),
        None => ex.modified(dest),
    }
    ex.notify(EventClass::String, "pfadd", dest);
    Ok(Reply::Ok)
}

/// HyperLogLog command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        Group::HyperLogLog,
        Some(pfadd),
    ),
    CommandSpec::new(
        "pfcount",
        -2,
        READONLY,
        (1, -1, 1),
        Group::HyperLogLog,
        Some(pfcount),
    ),
    CommandSpec::new(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        (1, -1, 1),
        Group::HyperLogLog,
        Some(pfmerge),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig};

    fn run(e: &mut Engine, args: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        e.call(0, args, 1_000, 7, false).reply
    }

    fn int(r: Reply) -> i64 {
        match r {
            Reply::Int(i) => i,
            other => panic!("not an int: {other:?}"),
        }
    }

    fn get(e: &mut Engine, key: &[u8]) -> Vec<u8> {
        match run(e, &[b"get", key]) {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("not a bulk: {other:?}"),
        }
    }

    fn err(r: Reply) -> String {
        match r {
            Reply::Error(e) => e.wire_text(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn empty_hll_layout_matches_redis() {
        let v = create_hll();
        assert_eq!(&v[..], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
    }

    #[test]
    fn pfadd_creates_and_reports_changes() {
        let mut e = Engine::new(EngineConfig::default());
        assert_eq!(int(run(&mut e, &[b"pfadd", b"h"])), 1);
        assert_eq!(int(run(&mut e, &[b"pfadd", b"h"])), 0);
        assert_eq!(int(run(&mut e, &[b"pfadd", b"h", b"a", b"b", b"c"])), 1);
        assert_eq!(int(run(&mut e, &[b"pfadd", b"h", b"a", b"b"])), 0);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"h"])), 3);
        // The cache is now valid and stored in the value.
        let v = get(&mut e, b"h");
        assert_eq!(&v[8..16], &3u64.to_le_bytes());
        assert_eq!(int(run(&mut e, &[b"pfcount", b"h"])), 3);
    }

    #[test]
    fn sparse_bytes_match_redis() {
        // Captured from redis-server 7.0.15: PFADD h a b c; PFCOUNT h; GET h.
        let mut e = Engine::new(EngineConfig::default());
        run(&mut e, &[b"pfadd", b"h", b"a", b"b", b"c"]);
        run(&mut e, &[b"pfcount", b"h"]);
        let v = get(&mut e, b"h");
        let expected: &[u8] = b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\
            \x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a";
        assert_eq!(v, expected);
    }

    #[test]
    fn counts_match_redis_at_scale() {
        // PFADD of "e0".."e9999" in batches of 1000 on redis-server 7.0.15.
        let mut e = Engine::new(EngineConfig::default());
        let mut expected = vec![];
        for batch in 0..10 {
            let mut args: Vec<Vec<u8>> = vec![b"pfadd".to_vec(), b"big".to_vec()];
            for i in batch * 1000..(batch + 1) * 1000 {
                args.push(format!("e{i}").into_bytes());
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            run(&mut e, &refs);
            expected.push(int(run(&mut e, &[b"pfcount", b"big"])));
        }
        assert_eq!(
            expected,
            vec![1008, 2000, 2979, 3974, 4968, 5953, 6963, 7966, 8958, 9973]
        );
        let v = get(&mut e, b"big");
        assert_eq!(v.len(), HLL_DENSE_SIZE);
        assert_eq!(v[4], HLL_DENSE);
    }

    #[test]
    fn promotion_when_sparse_grows_too_large() {
        // Sizes and counts captured from redis-server 7.0.15 adding "x0".. in
        // batches of 100: still sparse at 1600 elements, dense at 1700.
        let mut e = Engine::new(EngineConfig::default());
        let expect = [
            (800, 1540, 800),
            (1600, 2855, 1596),
            (1700, HLL_DENSE_SIZE, 1694),
        ];
        let mut n = 0;
        for (upto, len, count) in expect {
            let mut args: Vec<Vec<u8>> = vec![b"pfadd".to_vec(), b"h".to_vec()];
            for i in n..upto {
                args.push(format!("x{i}").into_bytes());
            }
            n = upto;
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            run(&mut e, &refs);
            assert_eq!(get(&mut e, b"h").len(), len, "after {upto}");
            assert_eq!(int(run(&mut e, &[b"pfcount", b"h"])), count, "after {upto}");
        }
    }

    #[test]
    fn pfcount_union_and_pfmerge() {
        let mut e = Engine::new(EngineConfig::default());
        run(&mut e, &[b"pfadd", b"a", b"1", b"2", b"3"]);
        run(&mut e, &[b"pfadd", b"b", b"3", b"4", b"5"]);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"a", b"b", b"missing"])), 5);
        assert_eq!(run(&mut e, &[b"pfmerge", b"c", b"a", b"b"]), Reply::Ok);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"c"])), 5);
        // The destination's own registers take part in the merge.
        run(&mut e, &[b"pfadd", b"d", b"9"]);
        assert_eq!(run(&mut e, &[b"pfmerge", b"d", b"a"]), Reply::Ok);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"d"])), 4);
        // PFMERGE with no sources creates an empty HLL (cache invalidated).
        assert_eq!(run(&mut e, &[b"pfmerge", b"empty"]), Reply::Ok);
        assert_eq!(
            get(&mut e, b"empty"),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
        );
    }

    #[test]
    fn merge_into_dense_when_a_source_is_dense() {
        let mut e = Engine::new(EngineConfig::default());
        let mut args: Vec<Vec<u8>> = vec![b"pfadd".to_vec(), b"big".to_vec()];
        for i in 0..3000 {
            args.push(format!("y{i}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        run(&mut e, &refs);
        run(&mut e, &[b"pfadd", b"small", b"q"]);
        run(&mut e, &[b"pfmerge", b"small", b"big"]);
        assert_eq!(get(&mut e, b"small")[4], HLL_DENSE);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"big"])), 2984);
        assert_eq!(int(run(&mut e, &[b"pfcount", b"small"])), 2985);
    }

    #[test]
    fn errors() {
        let mut e = Engine::new(EngineConfig::default());
        run(&mut e, &[b"set", b"s", b"hello"]);
        let wrong = "WRONGTYPE Key is not a valid HyperLogLog string value.";
        assert_eq!(err(run(&mut e, &[b"pfadd", b"s", b"a"])), wrong);
        assert_eq!(err(run(&mut e, &[b"pfcount", b"s"])), wrong);
        assert_eq!(err(run(&mut e, &[b"pfmerge", b"d", b"s"])), wrong);
        run(
            &mut e,
            &[b"set", b"dense-bad", b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0xx"],
        );
        assert_eq!(err(run(&mut e, &[b"pfcount", b"dense-bad"])), wrong);
        run(
            &mut e,
            &[
                b"set",
                b"enc-bad",
                b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff",
            ],
        );
        assert_eq!(err(run(&mut e, &[b"pfadd", b"enc-bad", b"a"])), wrong);
        // A sparse HLL whose runs do not cover 16384 registers is corrupt.
        run(
            &mut e,
            &[b"set", b"corrupt", b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x40"],
        );
        let corrupt = "INVALIDOBJ Corrupted HLL object detected";
        assert_eq!(err(run(&mut e, &[b"pfcount", b"corrupt"])), corrupt);
        assert_eq!(err(run(&mut e, &[b"pfadd", b"corrupt", b"a"])), corrupt);
        assert_eq!(err(run(&mut e, &[b"pfcount", b"corrupt", b"x"])), corrupt);
        assert_eq!(
            err(run(&mut e, &[b"pfcount"])),
            "ERR wrong number of arguments for 'pfcount' command"
        );
    }

    #[test]
    fn pfcount_on_wrong_type() {
        let mut db = Engine::new(EngineConfig::default());
        db.db_mut(0)
            .unwrap()
            .insert(b"l", Value::List(Box::default()), 0, 0);
        assert_eq!(
            err(run(&mut db, &[b"pfcount", b"l"])),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            err(run(&mut db, &[b"pfadd", b"l", b"x"])),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(int(run(&mut db, &[b"pfcount", b"nokey"])), 0);
    }

    #[test]
    fn sparse_set_splits_and_merges_runs() {
        let mut s = create_hll();
        assert!(sparse_set(&mut s, 100, 3).unwrap());
        // XZERO(100) VAL(3,1) XZERO(16283)
        assert_eq!(&s[16..], &[0x40, 0x63, val_op(3, 1), 0x7f, 0x9a]);
        assert!(sparse_set(&mut s, 101, 3).unwrap());
        // The two VAL runs merge into one of length 2.
        assert_eq!(&s[16..], &[0x40, 0x63, val_op(3, 2), 0x7f, 0x99]);
        assert!(!sparse_set(&mut s, 101, 2).unwrap());
        assert!(sparse_set(&mut s, 0, 1).unwrap());
        assert_eq!(&s[16..19], &[val_op(1, 1), 0x40, 0x62]);
        let dense = sparse_to_dense(&s).unwrap();
        let regs = &dense[16..];
        assert_eq!(dense_get(regs, 0), 1);
        assert_eq!(dense_get(regs, 100), 3);
        assert_eq!(dense_get(regs, 101), 3);
        assert_eq!(dense_get(regs, 102), 0);
        // A value above 32 promotes to dense.
        assert!(sparse_set(&mut s, 5, 40).unwrap());
        assert_eq!(s.len(), HLL_DENSE_SIZE);
        assert_eq!(dense_get(&s[16..], 5), 40);
        assert_eq!(dense_get(&s[16..], 100), 3);
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; HLL_DENSE_SIZE - HLL_HDR_SIZE];
        for i in 0..HLL_REGISTERS {
            dense_write(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..HLL_REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }
}
