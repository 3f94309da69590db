//! Bitmap commands (`bitops.c`): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO. Bitmaps are plain strings; bit 0 is the most
//! significant bit of the first byte. Offsets are bounded by
//! `proto-max-bulk-len` (512 MB, i.e. 2^32 bits by default).

use bytes::Bytes;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::number::parse_i64;
use crate::value::{StrValue, Value};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

fn offset_error() -> CmdError {
    CmdError::err("bit offset is not an integer or out of range")
}

/// Parses a bit offset as Redis's `getBitOffsetFromArgument`: a non-negative
/// integer whose byte fits `proto-max-bulk-len`; with `hash_bits > 0`, the
/// form `#N` means `N * hash_bits` (BITFIELD).
fn parse_offset(ex: &Exec<'_>, raw: &[u8], hash_bits: u32) -> Result<u64, CmdError> {
    let (digits, mult) = match raw.split_first() {
        Some((b'#', rest)) if hash_bits > 0 => (rest, i64::from(hash_bits)),
        _ => (raw, 1),
    };
    let v = parse_i64(digits)
        .ok_or_else(offset_error)?
        .wrapping_mul(mult);
    if v < 0 || (v >> 3) as u64 >= ex.config.proto_max_bulk_len as u64 {
        return Err(offset_error());
    }
    Ok(v as u64)
}

/// How `string_for_bits` found the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// Already long enough.
    Kept,
    /// Zero-padded to reach the bit.
    Grown,
    /// Created (and already marked modified by `set_key`).
    Created,
}

/// Gets (creating or zero-padding) the string at `key` so that bit `maxbit`
/// exists, as Redis's `lookupStringForBitCommand`.
fn string_for_bits(ex: &mut Exec<'_>, key: &[u8], maxbit: u64) -> Result<Room, CmdError> {
    let need = (maxbit >> 3) as usize + 1;
    match ex.write_str(key)? {
        Some(s) if s.len() < need => {
            s.resize(need, 0);
            Ok(Room::Grown)
        }
        Some(_) => Ok(Room::Kept),
        None => {
            ex.set_key(key, Value::Str(StrValue::from_elem(0, need)), false);
            Ok(Room::Created)
        }
    }
}

fn setbit(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let offset = parse_offset(ex, arg(args, 2), 0)?;
    let bit_error = || CmdError::err("bit is not an integer or out of range");
    let on = parse_i64(arg(args, 3)).ok_or_else(bit_error)?;
    if on & !1 != 0 {
        return Err(bit_error());
    }
    let room = string_for_bits(ex, key, offset)?;
    let dirty = room != Room::Kept;
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    let mut old = 0;
    let mut changed = false;
    if let Some(b) = ex.write_str(key)?.and_then(|s| s.get_mut(byte)) {
        old = (*b >> shift) & 1;
        if dirty || i64::from(old) != on {
            *b = (*b & !(1 << shift)) | ((on as u8) << shift);
            changed = true;
        }
    }
    if changed {
        if room != Room::Created {
            ex.modified(key);
        }
        ex.notify(EventClass::String, "setbit", key);
    }
    Ok(Reply::Int(i64::from(old)))
}

fn getbit(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let offset = parse_offset(ex, arg(args, 2), 0)?;
    let Some(s) = ex.read_str(arg(args, 1))? else {
        return Ok(Reply::Int(0));
    };
    let byte = (offset >> 3) as usize;
    let bit = s.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1);
    Ok(Reply::Int(i64::from(bit)))
}

/// Parses the optional `BYTE|BIT` unit: true for BIT.
fn parse_unit(raw: &[u8]) -> Result<bool, CmdError> {
    if raw.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// A resolved range: byte `start..=end` plus, in BIT mode, masks of the
/// out-of-range bits of the first and last bytes.
struct BitRange {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

/// Redis's index arithmetic for BITCOUNT/BITPOS ranges (`totlen` in bytes).
fn resolve_range(mut start: i64, mut end: i64, totlen: i64, isbit: bool) -> BitRange {
    let total = if isbit { totlen << 3 } else { totlen };
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0, 0);
    if isbit && start <= end {
        first_mask = !((1u32 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    BitRange {
        start,
        end,
        first_mask,
        last_mask,
    }
}

fn popcount(bytes: &[u8]) -> i64 {
    bytes.iter().map(|b| i64::from(b.count_ones())).sum()
}

fn bitcount(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    // Redis 7.0 looks the key up before parsing the range.
    let Some(s) = ex.read_str(arg(args, 1))? else {
        return Ok(Reply::Int(0));
    };
    let len = s.len() as i64;
    let range = match args.len() {
        2 => BitRange {
            start: 0,
            end: len - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4 | 5 => {
            let start = crate::number::arg_i64(arg(args, 2))?;
            let end = crate::number::arg_i64(arg(args, 3))?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let isbit = if args.len() == 5 {
                parse_unit(arg(args, 4))?
            } else {
                false
            };
            resolve_range(start, end, len, isbit)
        }
        _ => return Err(CmdError::Syntax),
    };
    if range.start > range.end {
        return Ok(Reply::Int(0));
    }
    let (a, b) = (range.start as usize, range.end as usize);
    let mut count = popcount(s.get(a..=b).unwrap_or_default());
    let first = s.get(a).copied().unwrap_or(0) & range.first_mask;
    let last = s.get(b).copied().unwrap_or(0) & range.last_mask;
    count -= popcount(&[first, last]);
    Ok(Reply::Int(count))
}

/// Position of the first `bit` in `bytes`, as Redis's `redisBitpos`: looking
/// for 0 past the end finds the first padding bit; looking for 1 and
/// finding none gives -1.
fn first_bit(bytes: &[u8], bit: u8) -> i64 {
    let skip = if bit == 1 { 0 } else { 0xff };
    for (i, &b) in bytes.iter().enumerate() {
        if b != skip {
            let lead = if bit == 1 {
                b.leading_zeros()
            } else {
                (!b).leading_zeros()
            };
            return (i as i64) * 8 + i64::from(lead);
        }
    }
    if bit == 1 {
        -1
    } else {
        bytes.len() as i64 * 8
    }
}

fn bitpos(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let bit = crate::number::arg_i64(arg(args, 2))?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let bit = bit as u8;
    let Some(s) = ex.read_str(arg(args, 1))? else {
        return Ok(Reply::Int(if bit == 1 { -1 } else { 0 }));
    };
    let len = s.len() as i64;
    let mut end_given = false;
    let range = match args.len() {
        3 => BitRange {
            start: 0,
            end: len - 1,
            first_mask: 0,
            last_mask: 0,
        },
        4..=6 => {
            let start = crate::number::arg_i64(arg(args, 3))?;
            let isbit = if args.len() == 6 {
                parse_unit(arg(args, 5))?
            } else {
                false
            };
            let end = if args.len() >= 5 {
                end_given = true;
                crate::number::arg_i64(arg(args, 4))?
            } else if isbit {
                (len << 3) + 7
            } else {
                len - 1
            };
            resolve_range(start, end, len, isbit)
        }
        _ => return Err(CmdError::Syntax),
    };
    if range.start > range.end {
        return Ok(Reply::Int(-1));
    }
    let byte_at = |i: i64| s.get(i as usize).copied().unwrap_or(0);
    let mut start = range.start;
    let mut bytes = range.end - range.start + 1;
    let (fm, lm) = (range.first_mask, range.last_mask);
    let mut pos;
    // Masked edge bytes are searched alone, the middle in one pass.
    'search: {
        if fm != 0 {
            let mut c = if bit == 1 {
                byte_at(start) & !fm
            } else {
                byte_at(start) | fm
            };
            if lm != 0 && bytes == 1 {
                c = if bit == 1 { c & !lm } else { c | lm };
            }
            pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - i64::from(lm != 0);
        if cur > 0 {
            let slice = s
                .get(start as usize..(start + cur) as usize)
                .unwrap_or_default();
            pos = first_bit(slice, bit);
            if bytes == cur || (pos != -1 && pos != cur << 3) {
                break 'search;
            }
            start += cur;
            bytes -= cur;
        }
        let c = if bit == 1 {
            byte_at(range.end) & !lm
        } else {
            byte_at(range.end) | lm
        };
        pos = first_bit(&[c], bit);
    }
    // With an explicit end, a 0 just past the range is not in the range.
    if end_given && bit == 0 && pos == bytes << 3 {
        return Ok(Reply::Int(-1));
    }
    if pos != -1 {
        pos += start << 3;
    }
    Ok(Reply::Int(pos))
}

fn bitop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let name = arg(args, 1);
    let op = if name.eq_ignore_ascii_case(b"and") {
        Op::And
    } else if name.eq_ignore_ascii_case(b"or") {
        Op::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        Op::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        Op::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == Op::Not && args.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let target = arg(args, 2);
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(args.len().saturating_sub(3));
    for key in args.iter().skip(3) {
        sources.push(ex.read_str(key)?.map(|s| s.to_vec()).unwrap_or_default());
    }
    let maxlen = sources.iter().map(Vec::len).max().unwrap_or(0);
    if maxlen == 0 {
        if ex.delete(target) {
            ex.notify(EventClass::Generic, "del", target);
        }
        return Ok(Reply::Int(0));
    }
    let mut res = StrValue::from_elem(0, maxlen);
    let byte = |src: &Vec<u8>, j: usize| src.get(j).copied().unwrap_or(0);
    for (j, out) in res.iter_mut().enumerate() {
        let mut it = sources.iter();
        let mut acc = it.next().map_or(0, |s| byte(s, j));
        if op == Op::Not {
            acc = !acc;
        }
        for s in it {
            let b = byte(s, j);
            match op {
                Op::And => acc &= b,
                Op::Or => acc |= b,
                Op::Xor => acc ^= b,
                Op::Not => {}
            }
        }
        *out = acc;
    }
    ex.set_key(target, Value::Str(res), false);
    ex.notify(EventClass::String, "set", target);
    Ok(Reply::Int(maxlen as i64))
}

/// BITFIELD overflow behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Debug, Clone, Copy)]
struct BitfieldOp {
    offset: u64,
    value: i64,
    op: FieldOp,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// Parses `i1`..`i64` / `u1`..`u63`: (signed, bits).
fn parse_type(raw: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let (signed, rest) = match raw.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(err()),
    };
    let bits = parse_i64(rest).ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for j in 0..u64::from(bits) {
        let o = offset + j;
        let b = p.get((o >> 3) as usize).copied().unwrap_or(0);
        value = (value << 1) | u64::from((b >> (7 - (o & 7))) & 1);
    }
    value
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bitval = ((value >> (u64::from(bits) - 1 - j)) & 1) as u8;
        let o = offset + j;
        if let Some(b) = p.get_mut((o >> 3) as usize) {
            let shift = 7 - (o & 7);
            *b = (*b & !(1 << shift)) | (bitval << shift);
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: 0 fits, 1 overflow, -1
/// underflow, with the value to store for WRAP/SAT.
fn check_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        return (1, limit);
    }
    if incr < 0 && incr < minincr {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        return (-1, limit);
    }
    (0, 0)
}

/// Redis's `checkSignedBitfieldOverflow`.
fn check_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        return (1, limit);
    }
    if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        return (-1, limit);
    }
    (0, 0)
}

/// Runs one SET/INCRBY on the string; the reply and whether it changed it.
fn apply_write(p: &mut [u8], op: &BitfieldOp) -> (Reply, bool) {
    if op.signed {
        let old = get_signed(p, op.offset, op.bits);
        let (overflow, new, ret) = if op.op == FieldOp::IncrBy {
            let (o, w) = check_signed(old, op.value, op.bits, op.overflow);
            let n = if o != 0 {
                w
            } else {
                old.wrapping_add(op.value)
            };
            (o, n, n)
        } else {
            let (o, w) = check_signed(op.value, 0, op.bits, op.overflow);
            (o, if o != 0 { w } else { op.value }, old)
        };
        if overflow != 0 && op.overflow == Overflow::Fail {
            return (Reply::Nil, false);
        }
        set_unsigned(p, op.offset, op.bits, new as u64);
        (Reply::Int(ret), old != new)
    } else {
        let old = get_unsigned(p, op.offset, op.bits);
        let (overflow, new, ret) = if op.op == FieldOp::IncrBy {
            let (o, w) = check_unsigned(old, op.value, op.bits, op.overflow);
            let n = if o != 0 {
                w
            } else {
                old.wrapping_add(op.value as u64)
            };
            (o, n, n)
        } else {
            let v = op.value as u64;
            let (o, w) = check_unsigned(v, 0, op.bits, op.overflow);
            (o, if o != 0 { w } else { v }, old)
        };
        if overflow != 0 && op.overflow == Overflow::Fail {
            return (Reply::Nil, false);
        }
        set_unsigned(p, op.offset, op.bits, new);
        (Reply::Int(ret as i64), old != new)
    }
}

/// GET on a (possibly absent) string: reads past the end as zeros.
fn apply_get(p: &[u8], op: &BitfieldOp) -> Reply {
    if op.signed {
        Reply::Int(get_signed(p, op.offset, op.bits))
    } else {
        Reply::Int(get_unsigned(p, op.offset, op.bits) as i64)
    }
}

fn bitfield_generic(ex: &mut Exec<'_>, args: &[Bytes], ro: bool) -> R {
    let key = arg(args, 1);
    let mut ops: Vec<BitfieldOp> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest = 0u64;
    let mut j = 2;
    while j < args.len() {
        let remargs = args.len() - j - 1;
        let sub = arg(args, j);
        let op = if sub.eq_ignore_ascii_case(b"get") && remargs >= 2 {
            FieldOp::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remargs >= 3 {
            FieldOp::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remargs >= 3 {
            FieldOp::IncrBy
        } else if sub.eq_ignore_ascii_case(b"overflow") && remargs >= 1 {
            let t = arg(args, j + 1);
            overflow = if t.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = parse_type(arg(args, j + 1))?;
        let offset = parse_offset(ex, arg(args, j + 2), bits)?;
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + u64::from(bits) - 1);
            value = crate::number::arg_i64(arg(args, j + 3))?;
        }
        ops.push(BitfieldOp {
            offset,
            value,
            op,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    if readonly {
        let s = ex.read_str(key)?.map(|s| s.to_vec()).unwrap_or_default();
        return Ok(Reply::Array(
            ops.iter().map(|op| apply_get(&s, op)).collect(),
        ));
    }
    if ro {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let room = string_for_bits(ex, key, highest)?;
    let dirty = room != Room::Kept;
    let mut replies = Vec::with_capacity(ops.len());
    let mut changes = 0u64;
    if let Some(s) = ex.write_str(key)? {
        for op in &ops {
            if op.op == FieldOp::Get {
                replies.push(apply_get(s, op));
            } else {
                let (reply, changed) = apply_write(s, op);
                if reply != Reply::Nil && (dirty || changed) {
                    changes += 1;
                }
                replies.push(reply);
            }
        }
    }
    if changes > 0 {
        if room != Room::Created {
            ex.modified(key);
        }
        ex.stats.dirty += changes - 1;
        ex.notify(EventClass::String, "setbit", key);
    }
    Ok(Reply::Array(replies))
}

fn bitfield(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    bitfield_generic(ex, args, false)
}

fn bitfield_ro(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    bitfield_generic(ex, args, true)
}

const W: u32 = WRITE | DENYOOM;

/// Bitmap command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, W, (1, 1, 1), Group::Bitmap, Some(setbit)),
    CommandSpec::new(
        "getbit",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Group::Bitmap,
        Some(getbit),
    ),
    CommandSpec::new(
        "bitcount",
        -2,
        READONLY,
        (1, 1, 1),
        Group::Bitmap,
        Some(bitcount),
    ),
    CommandSpec::new(
        "bitpos",
        -3,
        READONLY,
        (1, 1, 1),
        Group::Bitmap,
        Some(bitpos),
    ),
    CommandSpec::new("bitop", -4, W, (2, -1, 1), Group::Bitmap, Some(bitop)),
    CommandSpec::new("bitfield", -2, W, (1, 1, 1), Group::Bitmap, Some(bitfield)),
    CommandSpec::new(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Bitmap,
        Some(bitfield_ro),
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

    fn r(e: &mut Engine, line: &str) -> Reply {
        let parts: Vec<Vec<u8>> = line.split(' ').map(|p| p.as_bytes().to_vec()).collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        run(e, &refs)
    }

    fn int(rep: Reply) -> i64 {
        match rep {
            Reply::Int(i) => i,
            other => panic!("not an int: {other:?}"),
        }
    }

    fn err(rep: Reply) -> String {
        match rep {
            Reply::Error(e) => e.wire_text(),
            other => panic!("not an error: {other:?}"),
        }
    }

    fn ints(rep: Reply) -> Vec<Option<i64>> {
        match rep {
            Reply::Array(v) => v
                .into_iter()
                .map(|x| match x {
                    Reply::Int(i) => Some(i),
                    Reply::Nil => None,
                    other => panic!("unexpected {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    fn get(e: &mut Engine, key: &str) -> Vec<u8> {
        match r(e, &format!("get {key}")) {
            Reply::Bulk(b) => b.to_vec(),
            Reply::Nil => vec![],
            other => panic!("{other:?}"),
        }
    }

    fn new() -> Engine {
        Engine::new(EngineConfig::default())
    }

    #[test]
    fn setbit_getbit() {
        let mut e = new();
        assert_eq!(int(r(&mut e, "setbit k 7 1")), 0);
        assert_eq!(get(&mut e, "k"), vec![1]);
        assert_eq!(int(r(&mut e, "setbit k 7 1")), 1);
        assert_eq!(int(r(&mut e, "setbit k 7 0")), 1);
        assert_eq!(int(r(&mut e, "setbit k 100 1")), 0);
        assert_eq!(get(&mut e, "k").len(), 13);
        assert_eq!(int(r(&mut e, "getbit k 100")), 1);
        assert_eq!(int(r(&mut e, "getbit k 99")), 0);
        assert_eq!(int(r(&mut e, "getbit k 100000")), 0);
        assert_eq!(int(r(&mut e, "getbit nokey 3")), 0);
    }

    #[test]
    fn offsets_are_bounded_by_proto_max_bulk_len() {
        let cfg = EngineConfig {
            proto_max_bulk_len: 1024,
            ..Default::default()
        };
        let mut e = Engine::new(cfg);
        assert_eq!(int(r(&mut e, "setbit k 8191 1")), 0);
        assert_eq!(get(&mut e, "k").len(), 1024);
        let off = "ERR bit offset is not an integer or out of range";
        assert_eq!(err(r(&mut e, "setbit k 8192 1")), off);
        assert_eq!(err(r(&mut e, "getbit k 8192")), off);
        assert_eq!(err(r(&mut e, "bitfield k get u8 8192")), off);
        assert_eq!(ints(r(&mut e, "bitfield k get u8 8191")), vec![Some(128)]);
        assert_eq!(err(r(&mut e, "bitfield k get u8 #1024")), off);
        // The default limit is 2^32 bits.
        let mut e = new();
        assert_eq!(err(r(&mut e, "setbit k 4294967296 1")), off);
        assert_eq!(
            ints(r(&mut e, "bitfield k get u8 4294967295")),
            vec![Some(0)]
        );
    }

    #[test]
    fn setbit_errors() {
        let mut e = new();
        let off = "ERR bit offset is not an integer or out of range";
        let bit = "ERR bit is not an integer or out of range";
        assert_eq!(err(r(&mut e, "setbit k -1 1")), off);
        assert_eq!(err(r(&mut e, "setbit k 4294967296 1")), off);
        assert_eq!(err(r(&mut e, "setbit k x 1")), off);
        assert_eq!(err(r(&mut e, "setbit k 1 2")), bit);
        assert_eq!(err(r(&mut e, "setbit k 1 x")), bit);
        assert_eq!(err(r(&mut e, "setbit k 1 -1")), bit);
        assert_eq!(err(r(&mut e, "getbit k x")), off);
        assert_eq!(err(r(&mut e, "getbit k 4294967296")), off);
        e.db_mut(0)
            .unwrap()
            .insert(b"l", Value::List(Box::default()), 0, 0);
        let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(err(r(&mut e, "setbit l 1 1")), wt);
        assert_eq!(err(r(&mut e, "getbit l 1")), wt);
        assert_eq!(err(r(&mut e, "bitcount l")), wt);
        assert_eq!(err(r(&mut e, "bitpos l 1")), wt);
        assert_eq!(err(r(&mut e, "bitfield l get u8 0")), wt);
        assert_eq!(err(r(&mut e, "bitfield l set u8 0 1")), wt);
        assert_eq!(err(r(&mut e, "bitop and d l")), wt);
    }

    #[test]
    fn bitcount_ranges() {
        let mut e = new();
        r(&mut e, "set k foobar");
        assert_eq!(int(r(&mut e, "bitcount k")), 26);
        assert_eq!(int(r(&mut e, "bitcount k 0 0")), 4);
        assert_eq!(int(r(&mut e, "bitcount k 1 1")), 6);
        assert_eq!(int(r(&mut e, "bitcount k 1 1 byte")), 6);
        assert_eq!(int(r(&mut e, "bitcount k 5 30 bit")), 17);
        assert_eq!(int(r(&mut e, "bitcount k 0 1 BIT")), 1);
        assert_eq!(int(r(&mut e, "bitcount k -2 -1")), 7);
        assert_eq!(int(r(&mut e, "bitcount k -1 -2")), 0);
        assert_eq!(int(r(&mut e, "bitcount k 100 200")), 0);
        assert_eq!(int(r(&mut e, "bitcount k -100 100")), 26);
        assert_eq!(int(r(&mut e, "bitcount k -3 -1 bit")), 1);
        assert_eq!(err(r(&mut e, "bitcount k 0")), "ERR syntax error");
        assert_eq!(
            err(r(&mut e, "bitcount k a b")),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(err(r(&mut e, "bitcount k 0 1 x")), "ERR syntax error");
        assert_eq!(err(r(&mut e, "bitcount k 0 1 bit x")), "ERR syntax error");
        // Redis 7.0 answers 0 for a missing key before parsing anything.
        assert_eq!(int(r(&mut e, "bitcount nokey a b")), 0);
    }

    #[test]
    fn bitpos_cases() {
        let mut e = new();
        let args: Vec<&[u8]> = vec![b"set", b"k", b"\xff\xf0\x00"];
        run(&mut e, &args);
        assert_eq!(int(r(&mut e, "bitpos k 0")), 12);
        assert_eq!(int(r(&mut e, "bitpos k 1")), 0);
        assert_eq!(int(r(&mut e, "bitpos k 1 2")), -1);
        assert_eq!(int(r(&mut e, "bitpos k 0 2")), 16);
        assert_eq!(int(r(&mut e, "bitpos k 1 1")), 8);
        assert_eq!(int(r(&mut e, "bitpos k 0 0 0")), -1);
        assert_eq!(int(r(&mut e, "bitpos k 0 0 1")), 12);
        assert_eq!(int(r(&mut e, "bitpos k 1 3 10 bit")), 3);
        assert_eq!(int(r(&mut e, "bitpos k 0 3 10 bit")), -1);
        assert_eq!(int(r(&mut e, "bitpos k 0 3 15 bit")), 12);
        assert_eq!(int(r(&mut e, "bitpos k 1 12 -1 bit")), -1);
        assert_eq!(int(r(&mut e, "bitpos k 0 12 -1 bit")), 12);
        assert_eq!(
            err(r(&mut e, "bitpos k 0 12 bit")),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(int(r(&mut e, "bitpos k 1 -3 -1")), 0);
        assert_eq!(int(r(&mut e, "bitpos k 1 5 2")), -1);
        let ones: Vec<&[u8]> = vec![b"set", b"f", b"\xff\xff"];
        run(&mut e, &ones);
        assert_eq!(int(r(&mut e, "bitpos f 0")), 16);
        assert_eq!(int(r(&mut e, "bitpos f 0 0 -1")), -1);
        assert_eq!(int(r(&mut e, "bitpos f 0 0")), 16);
        assert_eq!(int(r(&mut e, "bitpos nokey 0")), 0);
        assert_eq!(int(r(&mut e, "bitpos nokey 1")), -1);
        assert_eq!(int(r(&mut e, "bitpos nokey 1 x")), -1);
        assert_eq!(
            err(r(&mut e, "bitpos k 2")),
            "ERR The bit argument must be 1 or 0."
        );
        assert_eq!(
            err(r(&mut e, "bitpos k x")),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(r(&mut e, "bitpos k 1 x")),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(err(r(&mut e, "bitpos k 1 0 1 2 3")), "ERR syntax error");
        assert_eq!(err(r(&mut e, "bitpos k 1 0 1 x")), "ERR syntax error");
    }

    #[test]
    fn bitop_ops() {
        let mut e = new();
        let a: Vec<&[u8]> = vec![b"set", b"a", b"\x0f\xf0\xaa"];
        let b: Vec<&[u8]> = vec![b"set", b"b", b"\xff\x00"];
        run(&mut e, &a);
        run(&mut e, &b);
        assert_eq!(int(r(&mut e, "bitop and d a b")), 3);
        assert_eq!(get(&mut e, "d"), vec![0x0f, 0x00, 0x00]);
        assert_eq!(int(r(&mut e, "bitop or d a b")), 3);
        assert_eq!(get(&mut e, "d"), vec![0xff, 0xf0, 0xaa]);
        assert_eq!(int(r(&mut e, "bitop xor d a b nokey")), 3);
        assert_eq!(get(&mut e, "d"), vec![0xf0, 0xf0, 0xaa]);
        assert_eq!(int(r(&mut e, "bitop NOT d b")), 2);
        assert_eq!(get(&mut e, "d"), vec![0x00, 0xff]);
        assert_eq!(int(r(&mut e, "bitop and d nokey nokey2")), 0);
        assert_eq!(int(r(&mut e, "exists d")), 0);
        assert_eq!(err(r(&mut e, "bitop foo d a")), "ERR syntax error");
        assert_eq!(
            err(r(&mut e, "bitop not d a b")),
            "ERR BITOP NOT must be called with a single source key."
        );
        assert_eq!(
            err(r(&mut e, "bitop and d")),
            "ERR wrong number of arguments for 'bitop' command"
        );
    }

    #[test]
    fn bitfield_basics() {
        let mut e = new();
        assert_eq!(
            ints(r(&mut e, "bitfield k set i8 0 -100 get i8 0 get u8 0")),
            vec![Some(0), Some(-100), Some(156)]
        );
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield k incrby u2 100 1 overflow sat incrby u2 102 1"
            )),
            vec![Some(1), Some(1)]
        );
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield k incrby u2 100 1 overflow sat incrby u2 102 1"
            )),
            vec![Some(2), Some(2)]
        );
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield k incrby u2 100 1 overflow sat incrby u2 102 1"
            )),
            vec![Some(3), Some(3)]
        );
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield k incrby u2 100 1 overflow sat incrby u2 102 1"
            )),
            vec![Some(0), Some(3)]
        );
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield k overflow fail incrby u2 102 1 get u2 102"
            )),
            vec![None, Some(3)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield k set u8 #1 255 get u8 8 get u4 #3")),
            vec![Some(0), Some(255), Some(15)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield nokey get i64 0 get u63 1")),
            vec![Some(0), Some(0)]
        );
        assert_eq!(ints(r(&mut e, "bitfield k")), vec![]);
        assert_eq!(
            ints(r(&mut e, "bitfield_ro k get u8 8 overflow fail")),
            vec![Some(255)]
        );
    }

    #[test]
    fn bitfield_overflow_semantics() {
        let mut e = new();
        // Signed wrap and saturation.
        assert_eq!(
            ints(r(&mut e, "bitfield s set i8 0 127 incrby i8 0 1")),
            vec![Some(0), Some(-128)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield s overflow sat incrby i8 0 -10")),
            vec![Some(-128)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield s overflow sat set i8 0 1000 get i8 0")),
            vec![Some(-128), Some(127)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield s set i8 0 200 get i8 0")),
            vec![Some(127), Some(-56)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield s overflow fail set i8 0 200 get i8 0")),
            vec![None, Some(-56)]
        );
        // 64-bit signed.
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield b set i64 0 9223372036854775807 incrby i64 0 1"
            )),
            vec![Some(0), Some(i64::MIN)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield b overflow sat incrby i64 0 -1")),
            vec![Some(i64::MIN)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield b overflow fail incrby i64 0 -1")),
            vec![None]
        );
        // Unsigned.
        assert_eq!(
            ints(r(
                &mut e,
                "bitfield u set u63 0 9223372036854775807 incrby u63 0 1"
            )),
            vec![Some(0), Some(0)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield u overflow sat incrby u63 0 -1")),
            vec![Some(0)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield u set u8 0 -1 get u8 0")),
            vec![Some(0), Some(255)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield u overflow sat set u8 0 -1 get u8 0")),
            vec![Some(255), Some(255)]
        );
        assert_eq!(
            ints(r(&mut e, "bitfield u overflow wrap incrby u8 0 -1")),
            vec![Some(254)]
        );
    }

    #[test]
    fn bitfield_errors() {
        let mut e = new();
        let ty = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        assert_eq!(err(r(&mut e, "bitfield k get u64 0")), ty);
        assert_eq!(err(r(&mut e, "bitfield k get i65 0")), ty);
        assert_eq!(err(r(&mut e, "bitfield k get I8 0")), ty);
        assert_eq!(err(r(&mut e, "bitfield k get u0 0")), ty);
        assert_eq!(err(r(&mut e, "bitfield k get i 0")), ty);
        assert_eq!(
            err(r(&mut e, "bitfield k overflow foo")),
            "ERR Invalid OVERFLOW type specified"
        );
        assert_eq!(err(r(&mut e, "bitfield k get i8")), "ERR syntax error");
        assert_eq!(err(r(&mut e, "bitfield k bar")), "ERR syntax error");
        assert_eq!(err(r(&mut e, "bitfield k overflow")), "ERR syntax error");
        assert_eq!(
            err(r(&mut e, "bitfield k get u8 #")),
            "ERR bit offset is not an integer or out of range"
        );
        assert_eq!(
            err(r(&mut e, "bitfield k get u8 -1")),
            "ERR bit offset is not an integer or out of range"
        );
        assert_eq!(
            err(r(&mut e, "bitfield k get u8 #536870912")),
            "ERR bit offset is not an integer or out of range"
        );
        assert_eq!(
            err(r(&mut e, "bitfield k set u8 0 x")),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(r(&mut e, "bitfield_ro k set i8 0 1")),
            "ERR BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(int(r(&mut e, "exists k")), 0);
    }

    #[test]
    fn bitfield_matches_redis_layout() {
        // Redis docs example: u5 23 at offset 7 gives 00000001 01110000.
        let mut e = new();
        r(&mut e, "bitfield k set u5 7 23");
        assert_eq!(get(&mut e, "k"), vec![0b0000_0001, 0b0111_0000]);
    }

    #[test]
    fn notifications() {
        let mut e = new();
        let args: Vec<Bytes> = ["setbit", "k", "1", "0"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let out = e.apply(&e.prepare(0, args.clone(), 0, 0), false);
        assert!(out.effects.iter().any(|f| matches!(
            f,
            crate::Effect::Notify {
                event: "setbit",
                ..
            }
        )));
        // Unchanged bit: no event.
        let out = e.apply(&e.prepare(0, args, 0, 0), false);
        assert!(out.effects.is_empty());
    }
}
