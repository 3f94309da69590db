//! List commands (`t_list.c`): pushes and pops at both ends, ranges and
//! indexes, LINSERT/LREM/LTRIM/LPOS, LMOVE/RPOPLPUSH, LMPOP, and the blocking
//! forms BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP.
//!
//! Blocking: a blocking command first tries to serve exactly as its
//! non-blocking form. When nothing can be served it answers
//! `Reply::WouldBlock` with the keys to wait on and the timeout, if the
//! caller allows blocking; otherwise (MULTI, scripts) it answers what Redis
//! answers a client that may not block: a null array for BLPOP, BRPOP and
//! BLMPOP, a null bulk for BLMOVE and BRPOPLPUSH. The server re-runs the
//! command when a key it waits on becomes ready (every handler that adds
//! elements to a list calls `Exec::key_ready`) and answers the timeout
//! itself; Redis 7.0 answers a timed-out blocked client of any of the five
//! commands with a null array (`*-1` in RESP2, `_` in RESP3).

use bytes::Bytes;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::number::{arg_i64, parse_i64};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

/// Parses LEFT|RIGHT (`getListPositionFromObjectOrReply`): true for LEFT.
fn parse_end(raw: &[u8]) -> Result<bool, CmdError> {
    if raw.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Parses an integer in `min..=max` as `getRangeLongFromObjectOrReply` with
/// a message: a non-integer and an out-of-range value both answer `ERR msg`.
fn range_i64(raw: &[u8], min: i64, max: i64, msg: &str) -> Result<i64, CmdError> {
    match parse_i64(raw) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(CmdError::err(msg)),
    }
}

/// `count` elements, clamped to what a list can hold.
fn to_count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A decimal literal split into its parts (syntax already checked).
struct Decimal {
    negative: bool,
    /// Integer and fraction digits, concatenated.
    digits: Vec<u8>,
    /// Power of ten that `digits` (as an integer) is multiplied by.
    exp10: i64,
}

impl Decimal {
    /// Splits `[+-]digits[.digits][(e|E)[+-]digits]`; `None` otherwise.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(p) => {
                let e = body.get(p + 1..)?;
                let (neg, digits) = match e.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, e.strip_prefix('+').unwrap_or(e)),
                };
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                // Saturate: an exponent this large is outside every range.
                let v = digits.bytes().fold(0i64, |v, c| {
                    v.saturating_mul(10).saturating_add(i64::from(c - b'0'))
                });
                (body.get(..p)?, if neg { -v } else { v })
            }
            None => (body, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let exp10 = exp.saturating_sub(frac_part.len() as i64);
        Some(Decimal {
            negative,
            digits,
            exp10,
        })
    }

    /// `floor(log10 |value|)`, or `None` for zero.
    fn magnitude(&self) -> Option<i64> {
        let first = self.digits.iter().position(|&c| c != b'0')?;
        let significant = (self.digits.len() - first) as i64;
        Some((significant - 1).saturating_add(self.exp10))
    }

    /// `ceil(value × 10^shift)` computed exactly, saturated at ±2^100 (far
    /// beyond any `long long`).
    fn ceil_scaled(&self, shift: i64) -> i128 {
        const CAP: i128 = 1 << 100;
        let exp = self.exp10.saturating_add(shift);
        let int_len = if exp >= 0 {
            self.digits.len()
        } else {
            let cut = (self.digits.len() as i64).saturating_add(exp);
            usize::try_from(cut).unwrap_or(0)
        };
        let (int_digits, frac_digits) = self.digits.split_at(int_len.min(self.digits.len()));
        let mut n: i128 = 0;
        for &c in int_digits {
            n = (n * 10 + i128::from(c - b'0')).min(CAP);
        }
        if exp > 0 && n != 0 {
            for _ in 0..exp.min(40) {
                n = (n * 10).min(CAP);
            }
        }
        let fraction = frac_digits.iter().any(|&c| c != b'0');
        // ceil rounds a positive value with a fraction up, a negative one
        // toward zero.
        match (self.negative, fraction) {
            (true, _) => -n,
            (false, true) => n + 1,
            (false, false) => n,
        }
    }
}

/// Parses a C99 hexadecimal float (`0x1.8p3`), which `strtold` accepts.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let body = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))?;
    let (mant, exp) = match body.find(['p', 'P']) {
        Some(p) => {
            let e = body.get(p + 1..)?;
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: i32 = e.parse().unwrap_or(if e.starts_with('-') {
                i32::MIN
            } else {
                i32::MAX
            });
            (body.get(..p)?, v)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0.0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp.clamp(-20_000, 20_000));
    Some(if neg { -v } else { v })
}

/// Parses a blocking timeout in seconds as Redis 7.0's
/// `getTimeoutFromObjectOrReply`: `strtold` (no blanks, no trailing bytes,
/// no NaN, nothing beyond `long double`'s range), then
/// `(long long) ceill(seconds * 1000)` milliseconds; 0 waits forever.
/// Decimal input is scaled exactly. A product beyond `long long` converts
/// to `LLONG_MIN` on x86-64, so Redis calls it negative; so do we. Redis
/// 7.0 has no upper bound check: a huge timeout blocks (practically)
/// forever, and the caller must add it to the clock with saturation.
pub(crate) fn parse_timeout(raw: &[u8]) -> Result<u64, CmdError> {
    // `long double` spans about 3.6e-4951 (subnormal) to 1.19e4932.
    const LDBL_MAX_EXP10: i64 = 4932;
    const LDBL_MIN_EXP10: i64 = -4951;
    let not_float = || CmdError::err("timeout is not a float or out of range");
    let negative = || CmdError::err("timeout is negative");
    if raw.is_empty() || raw.len() >= 5 * 1024 {
        return Err(not_float());
    }
    let text = std::str::from_utf8(raw).map_err(|_| not_float())?;
    let ms: i128 = if let Some(v) = parse_hex_float(text) {
        let ms = (v * 1000.0).ceil();
        // Outside `long long` (NaN included): `LLONG_MIN` after the cast.
        if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&ms) {
            return Err(negative());
        }
        ms as i128
    } else {
        // Syntax (and NaN) as `strtod`; range is checked below against
        // `long double`, not `f64`; infinities are out of `long long`.
        let r = crate::number::strtod(raw);
        if raw.first().is_some_and(|&c| crate::number::is_c_space(c))
            || r.used != raw.len()
            || r.value.is_nan()
        {
            return Err(not_float());
        }
        let v = r.value;
        if v.is_infinite() && !text.bytes().any(|c| c.is_ascii_digit()) {
            return Err(negative());
        }
        let dec = Decimal::parse(text).ok_or_else(not_float)?;
        if let Some(mag) = dec.magnitude() {
            if !(LDBL_MIN_EXP10..=LDBL_MAX_EXP10).contains(&mag) {
                return Err(not_float());
            }
        }
        dec.ceil_scaled(3)
    };
    u64::try_from(ms)
        .ok()
        .filter(|&ms| ms <= i64::MAX as u64)
        .ok_or_else(negative)
}

/// Bookkeeping after popping from `key` (`listElementsRemoved`): the pop
/// event, deletion of an emptied list with `del`, and the modification.
fn elements_removed(ex: &mut Exec<'_>, key: &[u8], front: bool) {
    ex.notify(EventClass::List, if front { "lpop" } else { "rpop" }, key);
    ex.delete_if_empty(key);
    ex.modified(key);
}

/// Marks `key` as having received elements: modification, the push-style
/// event, and a wake-up for clients blocked on it.
fn elements_added(ex: &mut Exec<'_>, key: &[u8], event: &'static str) {
    ex.modified(key);
    ex.notify(EventClass::List, event, key);
    ex.key_ready(key);
}

/// Answers a blocking command that found nothing: block when allowed, else
/// the reply Redis gives a client that may not block.
fn block_or(ex: &Exec<'_>, keys: &[&[u8]], timeout_ms: u64, otherwise: Reply) -> R {
    if !ex.allow_block {
        return Ok(otherwise);
    }
    let mut uniq: Vec<Bytes> = Vec::with_capacity(keys.len());
    for k in keys {
        if !uniq.iter().any(|u| u[..] == k[..]) {
            uniq.push(Bytes::copy_from_slice(k));
        }
    }
    Ok(Reply::WouldBlock {
        keys: uniq,
        timeout_ms,
    })
}

fn push_generic(ex: &mut Exec<'_>, args: &[Bytes], front: bool, only_existing: bool) -> R {
    let key = arg(args, 1);
    let exists = ex.write_list(key)?.is_some();
    if !exists && only_existing {
        return Ok(Reply::Int(0));
    }
    let cfg = ex.config;
    let list = ex.list_or_create(key)?;
    list.push_many(cfg, args.iter().skip(2).map(|a| &a[..]), front);
    let len = list.len();
    elements_added(ex, key, if front { "lpush" } else { "rpush" });
    Ok(Reply::Int(len as i64))
}

fn lpush(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    push_generic(ex, args, true, false)
}

fn rpush(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    push_generic(ex, args, false, false)
}

fn lpushx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    push_generic(ex, args, true, true)
}

fn rpushx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    push_generic(ex, args, false, true)
}

fn pop_generic(ex: &mut Exec<'_>, args: &[Bytes], front: bool) -> R {
    if args.len() > 3 {
        return Err(CmdError::Arity(
            if front { "lpop" } else { "rpop" }.to_string(),
        ));
    }
    let count = match args.get(2) {
        Some(raw) => Some(range_i64(
            raw,
            0,
            i64::MAX,
            "value is out of range, must be positive",
        )?),
        None => None,
    };
    let key = arg(args, 1);
    let Some(list) = ex.write_list(key)? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    let reply = match count {
        Some(0) => return Ok(Reply::Array(Vec::new())),
        Some(n) => Reply::bulk_array(list.pop_many(to_count(n), front)),
        None => match list.pop(front) {
            Some(v) => Reply::Bulk(Bytes::from(v)),
            // Only an empty list could get here, and lists are never stored empty.
            None => return Ok(Reply::Nil),
        },
    };
    elements_removed(ex, key, front);
    Ok(reply)
}

fn lpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    pop_generic(ex, args, true)
}

fn rpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    pop_generic(ex, args, false)
}

fn llen(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(Reply::Int(
        ex.read_list(arg(args, 1))?.map_or(0, |l| l.len() as i64),
    ))
}

/// Resolves LRANGE/LTRIM indexes against `len` as Redis does; `None` when
/// the range is empty, else the inclusive `(start, end)`.
fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 {
        llen.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        llen.saturating_add(end)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

fn lrange(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let start = arg_i64(arg(args, 2))?;
    let end = arg_i64(arg(args, 3))?;
    let Some(list) = ex.read_list(arg(args, 1))? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((s, e)) = resolve_range(start, end, list.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::bulk_array(list.iter_from(s).take(e - s + 1)))
}

/// A possibly negative index into a list of `len`, if in range.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        (len as i64).saturating_add(index)
    } else {
        index
    };
    usize::try_from(i).ok().filter(|&i| i < len)
}

fn lindex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let Some(list) = ex.read_list(arg(args, 1))? else {
        return Ok(Reply::Nil);
    };
    let index = arg_i64(arg(args, 2))?;
    Ok(Reply::opt_bulk(
        resolve_index(index, list.len()).and_then(|i| list.get(i)),
    ))
}

fn lset(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let cfg = ex.config;
    let Some(list) = ex.write_list(key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = arg_i64(arg(args, 2))?;
    let Some(i) = resolve_index(index, list.len()) else {
        return Err(CmdError::IndexOutOfRange);
    };
    list.replace(cfg, i, arg(args, 3));
    ex.modified(key);
    ex.notify(EventClass::List, "lset", key);
    Ok(Reply::Ok)
}

fn linsert(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let where_ = arg(args, 2);
    let after = if where_.eq_ignore_ascii_case(b"after") {
        true
    } else if where_.eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let cfg = ex.config;
    let Some(list) = ex.write_list(key)? else {
        return Ok(Reply::Int(0));
    };
    let Some(pos) = list.position(arg(args, 3)) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(cfg, if after { pos + 1 } else { pos }, arg(args, 4));
    let len = list.len();
    elements_added(ex, key, "linsert");
    Ok(Reply::Int(len as i64))
}

fn lrem(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let count = arg_i64(arg(args, 2))?;
    let Some(list) = ex.write_list(key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = list.remove_matching(arg(args, 3), count);
    if removed > 0 {
        ex.modified(key);
        ex.notify(EventClass::List, "lrem", key);
    }
    ex.delete_if_empty(key);
    Ok(Reply::Int(removed as i64))
}

fn ltrim(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let start = arg_i64(arg(args, 2))?;
    let end = arg_i64(arg(args, 3))?;
    let Some(list) = ex.write_list(key)? else {
        return Ok(Reply::Ok);
    };
    let len = list.len();
    let (ltrim, rtrim) = match resolve_range(start, end, len) {
        Some((s, e)) => (s, len - e - 1),
        None => (len, 0),
    };
    list.remove_range(0, ltrim);
    let rest = list.len();
    list.remove_range(rest - rtrim.min(rest), rtrim);
    ex.notify(EventClass::List, "ltrim", key);
    ex.delete_if_empty(key);
    ex.modified(key);
    Ok(Reply::Ok)
}

fn lpos(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let item = arg(args, 2);
    let (mut rank, mut count, mut maxlen) = (1i64, -1i64, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = arg(args, j);
        let more = j + 1 < args.len();
        if more && opt.eq_ignore_ascii_case(b"rank") {
            j += 1;
            rank = arg_i64(arg(args, j))?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if more && opt.eq_ignore_ascii_case(b"count") {
            j += 1;
            count = range_i64(arg(args, j), 0, i64::MAX, "COUNT can't be negative")?;
        } else if more && opt.eq_ignore_ascii_case(b"maxlen") {
            j += 1;
            maxlen = range_i64(arg(args, j), 0, i64::MAX, "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates a C long, so
    // RANK -9223372036854775808 stays negative and matches from the first
    // hit (with COUNT, `matches - rank + 1` wraps negative and never stops
    // the scan); wrapping arithmetic reproduces that.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let Some(list) = ex.read_list(arg(args, 1))? else {
        return Ok(if count != -1 {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let len = list.len() as i64;
    let iter: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
        Box::new(list.iter_rev())
    } else {
        Box::new(list.iter())
    };
    let mut matches = 0i64;
    let mut found: Vec<Reply> = Vec::new();
    let mut single: Option<i64> = None;
    for (index, e) in (0i64..).zip(iter) {
        if maxlen != 0 && index >= maxlen {
            break;
        }
        if e != item {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let at = if from_tail { len - index - 1 } else { index };
        if count == -1 {
            single = Some(at);
            break;
        }
        found.push(Reply::Int(at));
        if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
            break;
        }
    }
    Ok(if count != -1 {
        Reply::Array(found)
    } else {
        single.map_or(Reply::Nil, Reply::Int)
    })
}

/// LMOVE's core (`lmoveGenericCommand`): pops from `src`, pushes onto
/// `dst`, replies with the element or nil when `src` is empty.
fn move_generic(ex: &mut Exec<'_>, src: &[u8], dst: &[u8], from_left: bool, to_left: bool) -> R {
    let cfg = ex.config;
    if ex.write_list(src)?.is_none_or(|l| l.is_empty()) {
        return Ok(Reply::Nil);
    }
    // Type-check the destination before anything changes.
    ex.write_list(dst)?;
    let Some(value) = ex.write_list(src)?.and_then(|l| l.pop(from_left)) else {
        return Ok(Reply::Nil);
    };
    // When src == dst this pushes onto the same (momentarily emptied) list,
    // so a one-element rotation keeps the key.
    ex.list_or_create(dst)?.push(cfg, &value, to_left);
    elements_added(ex, dst, if to_left { "lpush" } else { "rpush" });
    elements_removed(ex, src, from_left);
    Ok(Reply::Bulk(Bytes::from(value)))
}

fn lmove(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let from_left = parse_end(arg(args, 3))?;
    let to_left = parse_end(arg(args, 4))?;
    move_generic(ex, arg(args, 1), arg(args, 2), from_left, to_left)
}

fn rpoplpush(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    move_generic(ex, arg(args, 1), arg(args, 2), false, true)
}

/// Parsed LMPOP/BLMPOP arguments after the optional timeout.
struct MpopArgs<'a> {
    keys: Vec<&'a [u8]>,
    left: bool,
    count: usize,
}

/// Parses `numkeys key… LEFT|RIGHT [COUNT n]` starting at `numkeys_idx`, in
/// Redis's order (`lmpopGenericCommand`).
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs<'_>, CmdError> {
    let numkeys = range_i64(
        arg(args, numkeys_idx),
        1,
        i64::MAX,
        "numkeys should be greater than 0",
    )?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let left = parse_end(arg(args, where_idx))?;
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && j + 1 < args.len() && arg(args, j).eq_ignore_ascii_case(b"count") {
            j += 1;
            count = Some(range_i64(
                arg(args, j),
                1,
                i64::MAX,
                "count should be greater than 0",
            )?);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let keys = args
        .get(numkeys_idx + 1..where_idx)
        .unwrap_or(&[])
        .iter()
        .map(|k| &k[..])
        .collect();
    Ok(MpopArgs {
        keys,
        left,
        count: to_count(count.unwrap_or(1)),
    })
}

/// Pops up to `count` elements from the first non-empty list among `keys`
/// and replies `[key, [elements…]]`; `None` if every list is empty.
fn mpop_serve(
    ex: &mut Exec<'_>,
    keys: &[&[u8]],
    left: bool,
    count: usize,
) -> Result<Option<Reply>, CmdError> {
    for &key in keys {
        let Some(list) = ex.write_list(key)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        let items = list.pop_many(count, left);
        elements_removed(ex, key, left);
        return Ok(Some(Reply::Array(vec![
            Reply::bulk(key),
            Reply::bulk_array(items),
        ])));
    }
    Ok(None)
}

fn lmpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let p = parse_mpop(args, 1)?;
    Ok(mpop_serve(ex, &p.keys, p.left, p.count)?.unwrap_or(Reply::NilArray))
}

fn blmpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let p = parse_mpop(args, 2)?;
    let timeout = parse_timeout(arg(args, 1))?;
    match mpop_serve(ex, &p.keys, p.left, p.count)? {
        Some(reply) => Ok(reply),
        None => block_or(ex, &p.keys, timeout, Reply::NilArray),
    }
}

/// BLPOP/BRPOP (`blockingPopGenericCommand`): the timeout is parsed first,
/// then the first non-empty list among the keys is served `[key, element]`.
fn blocking_pop(ex: &mut Exec<'_>, args: &[Bytes], left: bool) -> R {
    let last = args.len().saturating_sub(1);
    let timeout = parse_timeout(arg(args, last))?;
    let keys: Vec<&[u8]> = args
        .get(1..last)
        .unwrap_or(&[])
        .iter()
        .map(|k| &k[..])
        .collect();
    for &key in &keys {
        let Some(list) = ex.write_list(key)? else {
            continue;
        };
        let Some(value) = list.pop(left) else {
            continue;
        };
        elements_removed(ex, key, left);
        return Ok(Reply::Array(vec![
            Reply::bulk(key),
            Reply::Bulk(Bytes::from(value)),
        ]));
    }
    block_or(ex, &keys, timeout, Reply::NilArray)
}

fn blpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    blocking_pop(ex, args, true)
}

fn brpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    blocking_pop(ex, args, false)
}

/// BLMOVE/BRPOPLPUSH (`blmoveGenericCommand`): only the source is checked
/// before blocking; the destination's type is checked when serving.
fn blocking_move(
    ex: &mut Exec<'_>,
    args: &[Bytes],
    from_left: bool,
    to_left: bool,
    timeout: u64,
) -> R {
    let src = arg(args, 1);
    if ex.write_list(src)?.is_none_or(|l| l.is_empty()) {
        return block_or(ex, &[src], timeout, Reply::Nil);
    }
    move_generic(ex, src, arg(args, 2), from_left, to_left)
}

fn blmove(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let from_left = parse_end(arg(args, 3))?;
    let to_left = parse_end(arg(args, 4))?;
    let timeout = parse_timeout(arg(args, 5))?;
    blocking_move(ex, args, from_left, to_left, timeout)
}

fn brpoplpush(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let timeout = parse_timeout(arg(args, 3))?;
    blocking_move(ex, args, false, true, timeout)
}

/// Key positions of a `numkeys key…` command whose count is at
/// `numkeys_idx` (Redis's `genericGetKeys`): none when the count is not a
/// positive integer or names more keys than there are arguments.
fn numkeys_positions(args: &[Bytes], numkeys_idx: usize) -> Vec<usize> {
    let first = numkeys_idx + 1;
    let Some(n) = args.get(numkeys_idx).and_then(|a| parse_i64(a)) else {
        return Vec::new();
    };
    match usize::try_from(n) {
        Ok(n) if n >= 1 && n <= args.len().saturating_sub(first) => (first..first + n).collect(),
        _ => Vec::new(),
    }
}

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 2)
}

const W: u32 = WRITE | DENYOOM;

/// List command specs (flags, arity and key positions as Redis 7.0's
/// `COMMAND INFO`).
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, W | FAST, (1, 1, 1), Group::List, Some(lpush)),
    CommandSpec::new("rpush", -3, W | FAST, (1, 1, 1), Group::List, Some(rpush)),
    CommandSpec::new("lpushx", -3, W | FAST, (1, 1, 1), Group::List, Some(lpushx)),
    CommandSpec::new("rpushx", -3, W | FAST, (1, 1, 1), Group::List, Some(rpushx)),
    CommandSpec::new("lpop", -2, WRITE | FAST, (1, 1, 1), Group::List, Some(lpop)),
    CommandSpec::new("rpop", -2, WRITE | FAST, (1, 1, 1), Group::List, Some(rpop)),
    CommandSpec::new(
        "llen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::List,
        Some(llen),
    ),
    CommandSpec::new("lrange", 4, READONLY, (1, 1, 1), Group::List, Some(lrange)),
    CommandSpec::new("lindex", 3, READONLY, (1, 1, 1), Group::List, Some(lindex)),
    CommandSpec::new("lset", 4, W, (1, 1, 1), Group::List, Some(lset)),
    CommandSpec::new("linsert", 5, W, (1, 1, 1), Group::List, Some(linsert)),
    CommandSpec::new("lrem", 4, WRITE, (1, 1, 1), Group::List, Some(lrem)),
    CommandSpec::new("ltrim", 4, WRITE, (1, 1, 1), Group::List, Some(ltrim)),
    CommandSpec::new("lpos", -3, READONLY, (1, 1, 1), Group::List, Some(lpos)),
    CommandSpec::new("lmove", 5, W, (1, 2, 1), Group::List, Some(lmove)),
    CommandSpec::new("rpoplpush", 3, W, (1, 2, 1), Group::List, Some(rpoplpush)),
    CommandSpec::new("lmpop", -4, WRITE, (0, 0, 0), Group::List, Some(lmpop))
        .with_getkeys(lmpop_keys),
    CommandSpec::new(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        Group::List,
        Some(blpop),
    ),
    CommandSpec::new(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        Group::List,
        Some(brpop),
    ),
    CommandSpec::new(
        "blmove",
        6,
        W | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        Group::List,
        Some(blmove),
    ),
    CommandSpec::new(
        "brpoplpush",
        4,
        W | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        Group::List,
        Some(brpoplpush),
    ),
    CommandSpec::new(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        (0, 0, 0),
        Group::List,
        Some(blmpop),
    )
    .with_getkeys(blmpop_keys),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd;
    use crate::test_replies::{argv, arr, b, err};
    use crate::{Effect, Engine, EngineConfig, Outcome};

    /// Runs a command as the server would: arity via `resolve`, writes
    /// through prepare/apply (blocking allowed or not), reads through `read`.
    fn exec_with(e: &mut Engine, parts: &[&str], allow_block: bool) -> Outcome {
        let args = argv(parts);
        e.call(0, args, 1_000, 7, allow_block)
    }

    fn run(e: &mut Engine, parts: &[&str]) -> Reply {
        exec_with(e, parts, true).reply
    }

    fn engine() -> Engine {
        Engine::new(EngineConfig::default())
    }

    fn events(out: &Outcome) -> Vec<(&'static str, String)> {
        out.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notify { event, key, .. } => {
                    Some((*event, String::from_utf8_lossy(key).into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    fn ready(out: &Outcome) -> Vec<String> {
        out.effects
            .iter()
            .filter_map(|e| match e {
                Effect::KeyReady { key, .. } => Some(String::from_utf8_lossy(key).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn whole(e: &mut Engine, key: &str) -> Reply {
        run(e, &["lrange", key, "0", "-1"])
    }

    fn wrongtype() -> Reply {
        Reply::Error(CmdError::WrongType)
    }

    #[test]
    fn push_orders_and_replies_with_length() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["rpush", "l", "a", "b"]), Reply::Int(2));
        assert_eq!(run(&mut e, &["lpush", "l", "x", "y"]), Reply::Int(4));
        assert_eq!(whole(&mut e, "l"), arr(&["y", "x", "a", "b"]));
        assert_eq!(run(&mut e, &["rpushx", "l", "z"]), Reply::Int(5));
        assert_eq!(run(&mut e, &["lpushx", "l", "w", "v"]), Reply::Int(7));
        assert_eq!(
            whole(&mut e, "l"),
            arr(&["v", "w", "y", "x", "a", "b", "z"])
        );
        // The X forms leave a missing key alone.
        assert_eq!(run(&mut e, &["lpushx", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["rpushx", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["llen", "nokey"]), Reply::Int(0));
        // Wrong type and arity.
        run(&mut e, &["set", "s", "v"]);
        for c in ["lpush", "rpush", "lpushx", "rpushx"] {
            assert_eq!(run(&mut e, &[c, "s", "a"]), wrongtype());
            assert_eq!(
                run(&mut e, &[c, "l"]),
                Reply::Error(CmdError::Arity(c.to_string()))
            );
        }
    }

    #[test]
    fn push_notifies_and_wakes_blocked_clients() {
        let mut e = engine();
        let out = exec_with(&mut e, &["rpush", "l", "a", "b"], true);
        assert_eq!(events(&out), vec![("rpush", "l".to_string())]);
        assert_eq!(ready(&out), vec!["l"]);
        let out = exec_with(&mut e, &["lpushx", "l", "c"], true);
        assert_eq!(events(&out), vec![("lpush", "l".to_string())]);
        assert_eq!(ready(&out), vec!["l"]);
        let out = exec_with(&mut e, &["lpushx", "nokey", "c"], true);
        assert!(out.effects.is_empty());
        let out = exec_with(&mut e, &["linsert", "l", "before", "a", "z"], true);
        assert_eq!(events(&out), vec![("linsert", "l".to_string())]);
        assert_eq!(ready(&out), vec!["l"]);
    }

    #[test]
    fn pop_with_and_without_count() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "c", "d", "e"]);
        assert_eq!(run(&mut e, &["lpop", "l"]), b("a"));
        assert_eq!(run(&mut e, &["rpop", "l"]), b("e"));
        assert_eq!(run(&mut e, &["lpop", "l", "0"]), Reply::Array(vec![]));
        assert_eq!(run(&mut e, &["rpop", "l", "2"]), arr(&["d", "c"]));
        let out = exec_with(&mut e, &["lpop", "l", "10"], true);
        assert_eq!(out.reply, arr(&["b"]));
        assert_eq!(
            events(&out),
            vec![("lpop", "l".to_string()), ("del", "l".to_string())]
        );
        assert_eq!(run(&mut e, &["exists", "l"]), Reply::Int(0));
        // Missing key: nil bulk without a count, null array with one (even 0).
        assert_eq!(run(&mut e, &["lpop", "l"]), Reply::Nil);
        assert_eq!(run(&mut e, &["rpop", "l", "1"]), Reply::NilArray);
        assert_eq!(run(&mut e, &["lpop", "l", "0"]), Reply::NilArray);
        // A count of 0 does not touch the list.
        run(&mut e, &["rpush", "l", "a"]);
        let out = exec_with(&mut e, &["rpop", "l", "0"], true);
        assert_eq!(out.reply, Reply::Array(vec![]));
        assert!(out.effects.is_empty());
        // Errors.
        let positive = err("ERR value is out of range, must be positive");
        assert_eq!(run(&mut e, &["lpop", "l", "-1"]), positive);
        assert_eq!(run(&mut e, &["lpop", "l", "x"]), positive);
        assert_eq!(run(&mut e, &["rpop", "nokey", "-1"]), positive);
        assert_eq!(
            run(&mut e, &["lpop", "l", "1", "2"]),
            Reply::Error(CmdError::Arity("lpop".into()))
        );
        assert_eq!(
            run(&mut e, &["rpop", "l", "1", "2"]),
            Reply::Error(CmdError::Arity("rpop".into()))
        );
        assert_eq!(
            run(&mut e, &["lpop"]),
            Reply::Error(CmdError::Arity("lpop".into()))
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["lpop", "s"]), wrongtype());
        assert_eq!(run(&mut e, &["rpop", "s", "0"]), wrongtype());
    }

    #[test]
    fn llen_lrange_lindex() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "c", "d"]);
        assert_eq!(run(&mut e, &["llen", "l"]), Reply::Int(4));
        assert_eq!(run(&mut e, &["lrange", "l", "1", "2"]), arr(&["b", "c"]));
        assert_eq!(run(&mut e, &["lrange", "l", "-2", "100"]), arr(&["c", "d"]));
        assert_eq!(run(&mut e, &["lrange", "l", "-100", "0"]), arr(&["a"]));
        assert_eq!(run(&mut e, &["lrange", "l", "3", "1"]), arr(&[]));
        assert_eq!(run(&mut e, &["lrange", "l", "4", "10"]), arr(&[]));
        assert_eq!(run(&mut e, &["lrange", "l", "0", "-5"]), arr(&[]));
        assert_eq!(
            run(
                &mut e,
                &["lrange", "l", "-9223372036854775808", "9223372036854775807"]
            ),
            arr(&["a", "b", "c", "d"])
        );
        assert_eq!(run(&mut e, &["lrange", "nokey", "0", "-1"]), arr(&[]));
        assert_eq!(
            run(&mut e, &["lrange", "nokey", "x", "1"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(run(&mut e, &["lindex", "l", "0"]), b("a"));
        assert_eq!(run(&mut e, &["lindex", "l", "-1"]), b("d"));
        assert_eq!(run(&mut e, &["lindex", "l", "4"]), Reply::Nil);
        assert_eq!(run(&mut e, &["lindex", "l", "-5"]), Reply::Nil);
        assert_eq!(
            run(&mut e, &["lindex", "l", "-9223372036854775808"]),
            Reply::Nil
        );
        // LINDEX looks the key up before parsing the index.
        assert_eq!(run(&mut e, &["lindex", "nokey", "x"]), Reply::Nil);
        assert_eq!(
            run(&mut e, &["lindex", "l", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["llen", "s"]), wrongtype());
        assert_eq!(run(&mut e, &["lrange", "s", "0", "1"]), wrongtype());
        assert_eq!(
            run(&mut e, &["lrange", "s", "x", "1"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(run(&mut e, &["lindex", "s", "x"]), wrongtype());
    }

    #[test]
    fn lset_replaces_and_reports_errors() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "c"]);
        let out = exec_with(&mut e, &["lset", "l", "-1", "z"], true);
        assert_eq!(out.reply, Reply::Ok);
        assert_eq!(events(&out), vec![("lset", "l".to_string())]);
        assert_eq!(run(&mut e, &["lset", "l", "0", "y"]), Reply::Ok);
        assert_eq!(whole(&mut e, "l"), arr(&["y", "b", "z"]));
        assert_eq!(
            run(&mut e, &["lset", "l", "3", "q"]),
            Reply::Error(CmdError::IndexOutOfRange)
        );
        assert_eq!(
            run(&mut e, &["lset", "l", "-4", "q"]),
            Reply::Error(CmdError::IndexOutOfRange)
        );
        assert_eq!(
            run(&mut e, &["lset", "l", "x", "q"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["lset", "nokey", "x", "q"]),
            Reply::Error(CmdError::NoSuchKey)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["lset", "s", "x", "q"]), wrongtype());
    }

    #[test]
    fn linsert_before_and_after() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "a"]);
        assert_eq!(
            run(&mut e, &["linsert", "l", "BEFORE", "a", "x"]),
            Reply::Int(4)
        );
        assert_eq!(
            run(&mut e, &["linsert", "l", "after", "b", "y"]),
            Reply::Int(5)
        );
        assert_eq!(
            run(&mut e, &["linsert", "l", "After", "a", "z"]),
            Reply::Int(6)
        );
        assert_eq!(whole(&mut e, "l"), arr(&["x", "a", "z", "b", "y", "a"]));
        let out = exec_with(&mut e, &["linsert", "l", "before", "nope", "q"], true);
        assert_eq!(out.reply, Reply::Int(-1));
        assert!(out.effects.is_empty());
        assert_eq!(
            run(&mut e, &["linsert", "nokey", "before", "a", "q"]),
            Reply::Int(0)
        );
        assert_eq!(run(&mut e, &["exists", "nokey"]), Reply::Int(0));
        assert_eq!(
            run(&mut e, &["linsert", "l", "middle", "a", "q"]),
            Reply::Error(CmdError::Syntax)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(
            run(&mut e, &["linsert", "s", "before", "a", "q"]),
            wrongtype()
        );
        // The syntax error comes before the type check.
        assert_eq!(
            run(&mut e, &["linsert", "s", "middle", "a", "q"]),
            Reply::Error(CmdError::Syntax)
        );
    }

    #[test]
    fn lrem_counts_and_deletes_emptied_lists() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(run(&mut e, &["lrem", "l", "-1", "a"]), Reply::Int(1));
        assert_eq!(whole(&mut e, "l"), arr(&["a", "b", "a", "c"]));
        assert_eq!(run(&mut e, &["lrem", "l", "1", "a"]), Reply::Int(1));
        assert_eq!(whole(&mut e, "l"), arr(&["b", "a", "c"]));
        let out = exec_with(&mut e, &["lrem", "l", "0", "zz"], true);
        assert_eq!(out.reply, Reply::Int(0));
        assert!(out.effects.is_empty());
        run(&mut e, &["rpush", "m", "a", "a"]);
        let out = exec_with(&mut e, &["lrem", "m", "0", "a"], true);
        assert_eq!(out.reply, Reply::Int(2));
        assert_eq!(
            events(&out),
            vec![("lrem", "m".to_string()), ("del", "m".to_string())]
        );
        assert_eq!(run(&mut e, &["exists", "m"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["lrem", "nokey", "0", "a"]), Reply::Int(0));
        assert_eq!(
            run(&mut e, &["lrem", "nokey", "x", "a"]),
            Reply::Error(CmdError::NotInteger)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["lrem", "s", "1", "a"]), wrongtype());
        assert_eq!(
            run(&mut e, &["lrem", "s", "x", "a"]),
            Reply::Error(CmdError::NotInteger)
        );
    }

    #[test]
    fn ltrim_ranges() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "c", "d", "e"]);
        assert_eq!(run(&mut e, &["ltrim", "l", "1", "-2"]), Reply::Ok);
        assert_eq!(whole(&mut e, "l"), arr(&["b", "c", "d"]));
        assert_eq!(run(&mut e, &["ltrim", "l", "-100", "100"]), Reply::Ok);
        assert_eq!(whole(&mut e, "l"), arr(&["b", "c", "d"]));
        let out = exec_with(&mut e, &["ltrim", "l", "0", "-1"], true);
        assert_eq!(events(&out), vec![("ltrim", "l".to_string())]);
        assert_eq!(run(&mut e, &["ltrim", "l", "2", "5"]), Reply::Ok);
        assert_eq!(whole(&mut e, "l"), arr(&["d"]));
        let out = exec_with(&mut e, &["ltrim", "l", "5", "10"], true);
        assert_eq!(
            events(&out),
            vec![("ltrim", "l".to_string()), ("del", "l".to_string())]
        );
        assert_eq!(run(&mut e, &["exists", "l"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["ltrim", "nokey", "0", "1"]), Reply::Ok);
        assert_eq!(
            run(&mut e, &["ltrim", "nokey", "x", "1"]),
            Reply::Error(CmdError::NotInteger)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["ltrim", "s", "0", "1"]), wrongtype());
    }

    #[test]
    fn lpos_options() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(run(&mut e, &["lpos", "l", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["lpos", "l", "c"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["lpos", "l", "z"]), Reply::Nil);
        assert_eq!(run(&mut e, &["lpos", "l", "a", "rank", "2"]), Reply::Int(2));
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "-1"]),
            Reply::Int(4)
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "-2"]),
            Reply::Int(2)
        );
        assert_eq!(run(&mut e, &["lpos", "l", "a", "RANK", "4"]), Reply::Nil);
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&i| Reply::Int(i)).collect());
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "COUNT", "0"]),
            ints(&[0, 2, 4])
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "COUNT", "2"]),
            ints(&[0, 2])
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "-1", "COUNT", "2"]),
            ints(&[4, 2])
        );
        assert_eq!(
            run(
                &mut e,
                &["lpos", "l", "a", "RANK", "2", "COUNT", "2", "MAXLEN", "4"]
            ),
            ints(&[2])
        );
        assert_eq!(
            run(
                &mut e,
                &["lpos", "l", "a", "RANK", "-1", "COUNT", "0", "MAXLEN", "3"]
            ),
            ints(&[4, 2])
        );
        assert_eq!(run(&mut e, &["lpos", "l", "c", "MAXLEN", "3"]), Reply::Nil);
        assert_eq!(run(&mut e, &["lpos", "l", "z", "COUNT", "0"]), ints(&[]));
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "9223372036854775807"]),
            Reply::Nil
        );
        // RANK LONG_MIN: Redis's negation overflows; see lpos().
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "-9223372036854775808"]),
            Reply::Int(4)
        );
        assert_eq!(
            run(
                &mut e,
                &[
                    "lpos",
                    "l",
                    "a",
                    "RANK",
                    "-9223372036854775808",
                    "COUNT",
                    "1"
                ]
            ),
            ints(&[4, 2, 0])
        );
        assert_eq!(run(&mut e, &["lpos", "nokey", "a"]), Reply::Nil);
        assert_eq!(
            run(&mut e, &["lpos", "nokey", "a", "COUNT", "0"]),
            ints(&[])
        );
        // Errors, in Redis's order: options before the key.
        let rank0 = err(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
             or use negative to start from the end of the list",
        );
        assert_eq!(run(&mut e, &["lpos", "l", "a", "RANK", "0"]), rank0);
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "COUNT", "-1"]),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "COUNT", "x"]),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "MAXLEN", "-1"]),
            err("ERR MAXLEN can't be negative")
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "RANK"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "FOO", "1"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["lpos", "l", "a", "COUNT", "-1", "RANK", "0"]),
            err("ERR COUNT can't be negative")
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(run(&mut e, &["lpos", "s", "a"]), wrongtype());
        assert_eq!(run(&mut e, &["lpos", "s", "a", "RANK", "0"]), rank0);
    }

    #[test]
    fn lmove_in_every_direction() {
        let mut e = engine();
        run(&mut e, &["rpush", "src", "a", "b", "c"]);
        assert_eq!(
            run(&mut e, &["lmove", "src", "dst", "LEFT", "RIGHT"]),
            b("a")
        );
        assert_eq!(
            run(&mut e, &["lmove", "src", "dst", "right", "left"]),
            b("c")
        );
        assert_eq!(whole(&mut e, "dst"), arr(&["c", "a"]));
        assert_eq!(run(&mut e, &["rpoplpush", "dst", "src"]), b("a"));
        assert_eq!(whole(&mut e, "src"), arr(&["a", "b"]));
        // Rotation on one key.
        assert_eq!(
            run(&mut e, &["lmove", "src", "src", "left", "right"]),
            b("a")
        );
        assert_eq!(whole(&mut e, "src"), arr(&["b", "a"]));
        run(&mut e, &["rpush", "one", "x"]);
        let out = exec_with(&mut e, &["rpoplpush", "one", "one"], true);
        assert_eq!(out.reply, b("x"));
        assert_eq!(
            events(&out),
            vec![("lpush", "one".to_string()), ("rpop", "one".to_string())]
        );
        assert_eq!(whole(&mut e, "one"), arr(&["x"]));
        // Emptying the source: push event on dst, then pop and del on src.
        let out = exec_with(&mut e, &["lmove", "one", "two", "left", "left"], true);
        assert_eq!(
            events(&out),
            vec![
                ("lpush", "two".to_string()),
                ("lpop", "one".to_string()),
                ("del", "one".to_string())
            ]
        );
        assert_eq!(ready(&out), vec!["two"]);
        assert_eq!(run(&mut e, &["exists", "one"]), Reply::Int(0));
        // Missing source, errors.
        assert_eq!(
            run(&mut e, &["lmove", "nokey", "dst", "left", "left"]),
            Reply::Nil
        );
        assert_eq!(run(&mut e, &["rpoplpush", "nokey", "dst"]), Reply::Nil);
        assert_eq!(
            run(&mut e, &["lmove", "src", "dst", "up", "left"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["lmove", "src", "dst", "left", "down"]),
            Reply::Error(CmdError::Syntax)
        );
        run(&mut e, &["set", "s", "v"]);
        assert_eq!(
            run(&mut e, &["lmove", "src", "s", "left", "left"]),
            wrongtype()
        );
        assert_eq!(whole(&mut e, "src"), arr(&["b", "a"]));
        assert_eq!(
            run(&mut e, &["lmove", "s", "dst", "left", "left"]),
            wrongtype()
        );
        assert_eq!(
            run(&mut e, &["lmove", "nokey", "s", "left", "left"]),
            Reply::Nil
        );
    }

    #[test]
    fn lmpop_parses_and_serves_the_first_non_empty_list() {
        let mut e = engine();
        run(&mut e, &["rpush", "b", "1", "2", "3"]);
        let nested = |key: &str, items: &[&str]| Reply::Array(vec![b(key), arr(items)]);
        assert_eq!(
            run(&mut e, &["lmpop", "2", "a", "b", "LEFT"]),
            nested("b", &["1"])
        );
        assert_eq!(
            run(&mut e, &["lmpop", "2", "a", "b", "right", "count", "5"]),
            nested("b", &["3", "2"])
        );
        assert_eq!(run(&mut e, &["exists", "b"]), Reply::Int(0));
        assert_eq!(
            run(&mut e, &["lmpop", "2", "a", "b", "LEFT"]),
            Reply::NilArray
        );
        let numkeys = err("ERR numkeys should be greater than 0");
        assert_eq!(run(&mut e, &["lmpop", "0", "a", "LEFT"]), numkeys);
        assert_eq!(run(&mut e, &["lmpop", "x", "a", "LEFT"]), numkeys);
        assert_eq!(run(&mut e, &["lmpop", "-1", "a", "LEFT"]), numkeys);
        assert_eq!(
            run(&mut e, &["lmpop", "2", "a", "LEFT"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["lmpop", "1", "a", "MIDDLE"]),
            Reply::Error(CmdError::Syntax)
        );
        let count = err("ERR count should be greater than 0");
        assert_eq!(
            run(&mut e, &["lmpop", "1", "a", "LEFT", "COUNT", "0"]),
            count
        );
        assert_eq!(
            run(&mut e, &["lmpop", "1", "a", "LEFT", "COUNT", "x"]),
            count
        );
        for extra in [&["COUNT"][..], &["COUNT", "1", "COUNT", "1"], &["FOO"]] {
            let mut parts = vec!["lmpop", "1", "a", "LEFT"];
            parts.extend_from_slice(extra);
            assert_eq!(run(&mut e, &parts), Reply::Error(CmdError::Syntax));
        }
        assert_eq!(
            run(&mut e, &["lmpop", "1", "a"]),
            Reply::Error(CmdError::Arity("lmpop".into()))
        );
        // A wrong-type key before a served one is an error; after it, unseen.
        run(&mut e, &["set", "s", "v"]);
        run(&mut e, &["rpush", "l", "x", "y"]);
        assert_eq!(run(&mut e, &["lmpop", "2", "s", "l", "LEFT"]), wrongtype());
        assert_eq!(
            run(&mut e, &["lmpop", "2", "l", "s", "LEFT"]),
            nested("l", &["x"])
        );
        let out = exec_with(&mut e, &["lmpop", "1", "l", "RIGHT", "COUNT", "9"], true);
        assert_eq!(
            events(&out),
            vec![("rpop", "l".to_string()), ("del", "l".to_string())]
        );
    }

    #[test]
    fn blocking_pops_serve_at_once_when_they_can() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a", "b"]);
        assert_eq!(run(&mut e, &["blpop", "nokey", "l", "0"]), arr(&["l", "a"]));
        assert_eq!(run(&mut e, &["brpop", "l", "0.01"]), arr(&["l", "b"]));
        assert_eq!(run(&mut e, &["exists", "l"]), Reply::Int(0));
        run(&mut e, &["rpush", "l", "a", "b", "c"]);
        let out = exec_with(
            &mut e,
            &["blmpop", "0", "1", "l", "RIGHT", "COUNT", "2"],
            true,
        );
        assert_eq!(out.reply, Reply::Array(vec![b("l"), arr(&["c", "b"])]));
        assert_eq!(events(&out), vec![("rpop", "l".to_string())]);
        assert_eq!(
            run(&mut e, &["blmove", "l", "d", "LEFT", "LEFT", "0"]),
            b("a")
        );
        assert_eq!(run(&mut e, &["brpoplpush", "d", "e", "5"]), b("a"));
        assert_eq!(whole(&mut e, "e"), arr(&["a"]));
        // Serving works the same when blocking is not allowed.
        let out = exec_with(&mut e, &["blpop", "e", "0"], false);
        assert_eq!(out.reply, arr(&["e", "a"]));
        // Wrong types.
        run(&mut e, &["set", "s", "v"]);
        run(&mut e, &["rpush", "l", "x"]);
        assert_eq!(run(&mut e, &["blpop", "s", "l", "0"]), wrongtype());
        assert_eq!(run(&mut e, &["blpop", "l", "s", "0"]), arr(&["l", "x"]));
        assert_eq!(
            run(&mut e, &["blmove", "s", "d", "left", "left", "0"]),
            wrongtype()
        );
        run(&mut e, &["rpush", "l", "x"]);
        assert_eq!(run(&mut e, &["brpoplpush", "l", "s", "0"]), wrongtype());
        assert_eq!(run(&mut e, &["blmpop", "0", "1", "s", "LEFT"]), wrongtype());
    }

    #[test]
    fn blocking_commands_block_or_time_out() {
        let mut e = engine();
        let keys = |ks: &[&str]| {
            ks.iter()
                .map(|k| Bytes::copy_from_slice(k.as_bytes()))
                .collect::<Vec<_>>()
        };
        let out = exec_with(&mut e, &["blpop", "a", "b", "a", "1.5"], true);
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["a", "b"]),
                timeout_ms: 1500
            }
        );
        assert!(out.effects.is_empty());
        let out = exec_with(&mut e, &["brpop", "a", "0"], true);
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["a"]),
                timeout_ms: 0
            }
        );
        let out = exec_with(
            &mut e,
            &["blmpop", "0.25", "2", "x", "y", "LEFT", "COUNT", "3"],
            true,
        );
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["x", "y"]),
                timeout_ms: 250
            }
        );
        let out = exec_with(
            &mut e,
            &["blmove", "src", "dst", "LEFT", "RIGHT", "2"],
            true,
        );
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["src"]),
                timeout_ms: 2000
            }
        );
        let out = exec_with(&mut e, &["brpoplpush", "src", "dst", "0"], true);
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["src"]),
                timeout_ms: 0
            }
        );
        // A wrong-type destination does not stop BLMOVE from blocking.
        run(&mut e, &["set", "s", "v"]);
        let out = exec_with(&mut e, &["blmove", "src", "s", "LEFT", "RIGHT", "0"], true);
        assert_eq!(
            out.reply,
            Reply::WouldBlock {
                keys: keys(&["src"]),
                timeout_ms: 0
            }
        );
        // Not allowed to block (MULTI, scripts): the timeout reply at once.
        assert_eq!(
            exec_with(&mut e, &["blpop", "a", "0"], false).reply,
            Reply::NilArray
        );
        assert_eq!(
            exec_with(&mut e, &["brpop", "a", "1"], false).reply,
            Reply::NilArray
        );
        assert_eq!(
            exec_with(&mut e, &["blmpop", "0", "1", "a", "LEFT"], false).reply,
            Reply::NilArray
        );
        assert_eq!(
            exec_with(&mut e, &["blmove", "a", "b", "LEFT", "LEFT", "0"], false).reply,
            Reply::Nil
        );
        assert_eq!(
            exec_with(&mut e, &["brpoplpush", "a", "b", "0"], false).reply,
            Reply::Nil
        );
        // Argument errors come first, in Redis's order.
        let not_float = err("ERR timeout is not a float or out of range");
        let negative = err("ERR timeout is negative");
        assert_eq!(run(&mut e, &["blpop", "a", "x"]), not_float);
        assert_eq!(run(&mut e, &["blpop", "s", "x"]), not_float);
        assert_eq!(run(&mut e, &["brpop", "a", "-1"]), negative);
        assert_eq!(
            run(&mut e, &["blmove", "a", "b", "up", "LEFT", "x"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["blmove", "a", "b", "LEFT", "LEFT", "x"]),
            not_float
        );
        assert_eq!(run(&mut e, &["brpoplpush", "a", "b", "-2"]), negative);
        assert_eq!(run(&mut e, &["blmpop", "x", "1", "a", "LEFT"]), not_float);
        assert_eq!(
            run(&mut e, &["blmpop", "x", "0", "a", "LEFT"]),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(run(&mut e, &["blmpop", "-1", "1", "a", "LEFT"]), negative);
        assert_eq!(
            run(&mut e, &["blmpop", "0", "1", "a", "LEFT", "COUNT"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["blpop", "a"]),
            Reply::Error(CmdError::Arity("blpop".into()))
        );
        assert_eq!(
            run(&mut e, &["blmpop", "0", "1", "a"]),
            Reply::Error(CmdError::Arity("blmpop".into()))
        );
    }

    #[test]
    fn timeouts_round_as_redis() {
        let ok = |s: &str| parse_timeout(s.as_bytes()).unwrap();
        let msg = |s: &str| parse_timeout(s.as_bytes()).unwrap_err().wire_text();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("1"), 1000);
        assert_eq!(ok("1.5"), 1500);
        assert_eq!(ok("+1"), 1000);
        assert_eq!(ok(".5"), 500);
        assert_eq!(ok("1."), 1000);
        assert_eq!(ok("1e1"), 10_000);
        // ceill: a fraction of a millisecond rounds up, a negative one to 0.
        assert_eq!(ok("0.0001"), 1);
        assert_eq!(ok("0.0015"), 2);
        assert_eq!(ok("-0.0001"), 0);
        assert_eq!(ok("-0"), 0);
        assert_eq!(ok("1e-400"), 1);
        assert_eq!(ok("-1e-400"), 0);
        assert_eq!(ok("0x10"), 16_000);
        assert_eq!(ok("0x1.8p1"), 3000);
        assert_eq!(ok("9223372036854775"), 9_223_372_036_854_775_000);
        let not_float = "ERR timeout is not a float or out of range";
        let negative = "ERR timeout is negative";
        for s in [
            "x", "", " 1", "1 ", "nan", "1e", "0x", "0x1p", "1e5000", "1e-5000", "--1",
        ] {
            assert_eq!(msg(s), not_float, "{s:?}");
        }
        for s in [
            "-1",
            "-0.001",
            "inf",
            "-inf",
            "+Infinity",
            "1e16",
            "9223372036854776",
            "1e400",
        ] {
            assert_eq!(msg(s), negative, "{s:?}");
        }
    }

    #[test]
    fn key_positions() {
        let spec = |n: &str| cmd::lookup(n.as_bytes()).unwrap();
        assert_eq!(
            spec("blpop").key_positions(&argv(&["blpop", "a", "b", "0"])),
            vec![1, 2]
        );
        assert_eq!(
            spec("brpop").key_positions(&argv(&["brpop", "a", "0"])),
            vec![1]
        );
        assert_eq!(
            spec("lmove").key_positions(&argv(&["lmove", "a", "b", "left", "left"])),
            vec![1, 2]
        );
        assert_eq!(
            spec("blmove").key_positions(&argv(&["blmove", "a", "b", "left", "left", "0"])),
            vec![1, 2]
        );
        assert_eq!(
            spec("brpoplpush").key_positions(&argv(&["brpoplpush", "a", "b", "0"])),
            vec![1, 2]
        );
        let lmpop = spec("lmpop");
        assert_ne!(lmpop.flags & MOVABLEKEYS, 0);
        assert_eq!(
            lmpop.key_positions(&argv(&["lmpop", "2", "a", "b", "left"])),
            vec![2, 3]
        );
        assert_eq!(
            lmpop.key_positions(&argv(&["lmpop", "0", "a", "left"])),
            Vec::<usize>::new()
        );
        assert_eq!(
            lmpop.key_positions(&argv(&["lmpop", "5", "a", "left"])),
            Vec::<usize>::new()
        );
        let blmpop = spec("blmpop");
        assert_eq!(
            blmpop.key_positions(&argv(&["blmpop", "0", "2", "a", "b", "left"])),
            vec![3, 4]
        );
        assert_eq!(
            blmpop.key_positions(&argv(&["blmpop", "0", "x", "a", "left"])),
            Vec::<usize>::new()
        );
        assert_ne!(spec("blpop").flags & BLOCKING, 0);
        assert_ne!(spec("blpop").flags & NOSCRIPT, 0);
        assert_eq!(spec("blmpop").flags & NOSCRIPT, 0);
    }

    #[test]
    fn large_lists_switch_representation_and_report_quicklist() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a"]);
        let is_lp = |e: &Engine| match &e.db(0).unwrap().get(b"l").unwrap().value {
            crate::Value::List(l) => l.is_listpack(),
            _ => panic!("not a list"),
        };
        assert!(is_lp(&e));
        assert_eq!(
            e.db(0).unwrap().get(b"l").unwrap().value.encoding(),
            "quicklist"
        );
        let big = "x".repeat(5000);
        run(&mut e, &["rpush", "l", &big, &big]);
        assert!(!is_lp(&e));
        assert_eq!(
            e.db(0).unwrap().get(b"l").unwrap().value.encoding(),
            "quicklist"
        );
        // Everything keeps working on the large representation.
        assert_eq!(run(&mut e, &["lindex", "l", "0"]), b("a"));
        assert_eq!(
            run(&mut e, &["linsert", "l", "after", "a", "b"]),
            Reply::Int(4)
        );
        assert_eq!(run(&mut e, &["lrem", "l", "-1", &big]), Reply::Int(1));
        assert_eq!(run(&mut e, &["lrange", "l", "0", "1"]), arr(&["a", "b"]));
        assert_eq!(run(&mut e, &["lpos", "l", &big]), Reply::Int(2));
        assert_eq!(run(&mut e, &["ltrim", "l", "0", "1"]), Reply::Ok);
        assert!(!is_lp(&e));
        assert_eq!(run(&mut e, &["rpop", "l", "5"]), arr(&["b", "a"]));
        // An emptied list is deleted; a new one starts small.
        run(&mut e, &["rpush", "l", "a"]);
        assert!(is_lp(&e));
    }

    #[test]
    fn expired_lists_are_gone() {
        let mut e = engine();
        run(&mut e, &["rpush", "l", "a"]);
        run(&mut e, &["pexpire", "l", "1"]);
        // The helper runs every command at t=1000 ms; expire relative to it.
        let op = e.prepare(0, argv(&["rpush", "l", "b"]), 5_000, 1);
        assert_eq!(e.apply(&op, true).reply, Reply::Int(1));
    }
}
