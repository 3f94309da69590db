//! String commands (`t_string.c`): GET/SET and every option, counters,
//! ranges, MGET/MSET, LCS.

use bytes::Bytes;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::number::{arg_f64, arg_i64, format_incr_float, parse_f64, parse_i64};
use crate::value::{StrValue, Value};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

/// How a command sets a key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtlOpt {
    /// Leave the TTL as the write rules say (SET clears it).
    None,
    /// KEEPTTL
    Keep,
    /// PERSIST (GETEX)
    Persist,
    /// Absolute Unix ms.
    At(u64),
}

/// Parses an expire argument as Redis's `getExpireMillisecondsOrReply`:
/// a non-integer is `NotInteger`; zero, negative or overflowing is
/// `invalid expire time in '<cmd>' command`.
pub(crate) fn expire_at_ms(
    cmd: &str,
    raw: &[u8],
    unit_secs: bool,
    relative: bool,
    now_ms: u64,
) -> Result<u64, CmdError> {
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    let v = arg_i64(raw)?;
    if v <= 0 || (unit_secs && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if unit_secs { v * 1000 } else { v };
    if relative {
        ms = ms.checked_add(now_ms as i64).ok_or_else(invalid)?;
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms as u64)
}

fn parse_ttl_option(
    cmd: &str,
    args: &[Bytes],
    i: &mut usize,
    now_ms: u64,
    ttl: &mut TtlOpt,
    allow_keep: bool,
    allow_persist: bool,
) -> Result<bool, CmdError> {
    let opt = arg(args, *i).to_ascii_uppercase();
    let (secs, rel) = match opt.as_slice() {
        b"EX" => (true, true),
        b"PX" => (false, true),
        b"EXAT" => (true, false),
        b"PXAT" => (false, false),
        b"KEEPTTL" if allow_keep => {
            if *ttl != TtlOpt::None {
                return Err(CmdError::Syntax);
            }
            *ttl = TtlOpt::Keep;
            return Ok(true);
        }
        b"PERSIST" if allow_persist => {
            if *ttl != TtlOpt::None {
                return Err(CmdError::Syntax);
            }
            *ttl = TtlOpt::Persist;
            return Ok(true);
        }
        _ => return Ok(false),
    };
    if *ttl != TtlOpt::None || *i + 1 >= args.len() {
        return Err(CmdError::Syntax);
    }
    *i += 1;
    *ttl = TtlOpt::At(expire_at_ms(cmd, arg(args, *i), secs, rel, now_ms)?);
    Ok(true)
}

fn get(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(Reply::opt_bulk(ex.read_str(arg(args, 1))?.map(|s| &s[..])))
}

/// Stores a string, applying the TTL option; emits `set` (and `expire`).
fn store(ex: &mut Exec<'_>, key: &[u8], val: &[u8], ttl: TtlOpt) {
    ex.set_key(key, Value::str(val), ttl == TtlOpt::Keep);
    ex.notify(EventClass::String, "set", key);
    if let TtlOpt::At(at) = ttl {
        ex.db_mut().set_expire(key, at);
        ex.notify(EventClass::Generic, "expire", key);
    }
}

fn set(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let val = arg(args, 2);
    let (mut nx, mut xx, mut want_get) = (false, false, false);
    let mut ttl = TtlOpt::None;
    let mut i = 3;
    while i < args.len() {
        if parse_ttl_option("set", args, &mut i, ex.now_ms, &mut ttl, true, false)? {
            i += 1;
            continue;
        }
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => want_get = true,
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    let old: Option<StrValue> = if want_get {
        ex.read_str(key)?.cloned()
    } else {
        None
    };
    let exists = ex.exists(key);
    if (nx && exists) || (xx && !exists) {
        return Ok(if want_get {
            Reply::opt_bulk(old.as_deref())
        } else {
            Reply::Nil
        });
    }
    store(ex, key, val, ttl);
    Ok(if want_get {
        Reply::opt_bulk(old.as_deref())
    } else {
        Reply::Ok
    })
}

fn setnx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    if ex.exists(key) {
        return Ok(Reply::Int(0));
    }
    store(ex, key, arg(args, 2), TtlOpt::None);
    Ok(Reply::Int(1))
}

fn setex_generic(ex: &mut Exec<'_>, args: &[Bytes], secs: bool) -> R {
    let name = if secs { "setex" } else { "psetex" };
    let at = expire_at_ms(name, arg(args, 2), secs, true, ex.now_ms)?;
    store(ex, arg(args, 1), arg(args, 3), TtlOpt::At(at));
    Ok(Reply::Ok)
}

fn setex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setex_generic(ex, args, true)
}

fn psetex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setex_generic(ex, args, false)
}

fn getex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let mut ttl = TtlOpt::None;
    let mut i = 2;
    while i < args.len() {
        if !parse_ttl_option("getex", args, &mut i, ex.now_ms, &mut ttl, false, true)? {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(v) = ex.read_str(key)?.cloned() else {
        return Ok(Reply::Nil);
    };
    match ttl {
        TtlOpt::At(at) if at <= ex.now_ms => {
            ex.delete(key);
            ex.notify(EventClass::Generic, "del", key);
        }
        TtlOpt::At(at) => {
            ex.db_mut().set_expire(key, at);
            ex.modified(key);
            ex.notify(EventClass::Generic, "expire", key);
        }
        TtlOpt::Persist if ex.db_mut().get(key).is_some_and(|e| e.expire_at != 0) => {
            ex.db_mut().set_expire(key, 0);
            ex.modified(key);
            ex.notify(EventClass::Generic, "persist", key);
        }
        _ => {}
    }
    Ok(Reply::bulk(&v))
}

fn getdel(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let Some(v) = ex.read_str(key)?.cloned() else {
        return Ok(Reply::Nil);
    };
    ex.delete(key);
    ex.notify(EventClass::Generic, "del", key);
    Ok(Reply::bulk(&v))
}

fn getset(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let old = ex.read_str(key)?.cloned();
    store(ex, key, arg(args, 2), TtlOpt::None);
    Ok(Reply::opt_bulk(old.as_deref()))
}

/// Adds `delta` to the integer at `key`, as INCRBY: keeps the TTL.
fn incr_by(ex: &mut Exec<'_>, key: &[u8], delta: i64) -> R {
    let cur = match ex.write_str(key)? {
        None => 0,
        Some(s) => parse_i64(s).ok_or(CmdError::NotInteger)?,
    };
    let new = cur.checked_add(delta).ok_or(CmdError::Overflow)?;
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    match ex.write_str(key)? {
        Some(s) => {
            *s = StrValue::from_slice(&text);
            ex.modified(key);
        }
        None => ex.set_key(key, Value::str(&text), false),
    }
    ex.notify(EventClass::String, "incrby", key);
    Ok(Reply::Int(new))
}

fn incr(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    incr_by(ex, arg(args, 1), 1)
}

fn decr(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    incr_by(ex, arg(args, 1), -1)
}

fn incrby(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    incr_by(ex, arg(args, 1), arg_i64(arg(args, 2))?)
}

fn decrby(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let d = arg_i64(arg(args, 2))?;
    if d == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ex, arg(args, 1), -d)
}

fn incrbyfloat(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let delta = arg_f64(arg(args, 2))?;
    let cur = match ex.write_str(key)? {
        None => 0.0,
        Some(s) => parse_f64(s).ok_or(CmdError::NotFloat)?,
    };
    let new = cur + delta;
    if !new.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_incr_float(new);
    match ex.write_str(key)? {
        Some(s) => {
            *s = StrValue::from_slice(text.as_bytes());
            ex.modified(key);
        }
        None => ex.set_key(key, Value::str(text.as_bytes()), false),
    }
    ex.notify(EventClass::String, "incrbyfloat", key);
    Ok(Reply::bulk_str(&text))
}

fn append(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let add = arg(args, 2);
    let cur_len = ex.write_str(key)?.map(|s| s.len());
    let new_len = match cur_len {
        None => {
            ex.set_key(key, Value::str(add), false);
            add.len()
        }
        Some(len) => {
            ex.check_len(len + add.len())?;
            if let Some(s) = ex.write_str(key)? {
                s.extend_from_slice(add);
            }
            ex.modified(key);
            len + add.len()
        }
    };
    ex.notify(EventClass::String, "append", key);
    Ok(Reply::Int(new_len as i64))
}

fn strlen(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(Reply::Int(
        ex.read_str(arg(args, 1))?.map_or(0, |s| s.len()) as i64,
    ))
}

/// Redis's GETRANGE index arithmetic.
pub(crate) fn range_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

fn getrange(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let start = arg_i64(arg(args, 2))?;
    let end = arg_i64(arg(args, 3))?;
    let Some(s) = ex.read_str(arg(args, 1))? else {
        return Ok(Reply::bulk(b""));
    };
    Ok(match range_bounds(start, end, s.len()) {
        Some((a, b)) => Reply::bulk(s.get(a..=b).unwrap_or_default()),
        None => Reply::bulk(b""),
    })
}

fn setrange(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let offset = arg_i64(arg(args, 2))?;
    let val = arg(args, 3);
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let cur = ex.write_str(key)?.map(|s| s.len());
    match cur {
        None => {
            if val.is_empty() {
                return Ok(Reply::Int(0));
            }
            ex.check_len(offset + val.len())?;
            let mut s = StrValue::from_elem(0, offset);
            s.extend_from_slice(val);
            ex.set_key(key, Value::Str(s), false);
        }
        Some(len) => {
            if val.is_empty() {
                return Ok(Reply::Int(len as i64));
            }
            ex.check_len(offset + val.len())?;
            if let Some(s) = ex.write_str(key)? {
                if s.len() < offset + val.len() {
                    s.resize(offset + val.len(), 0);
                }
                if let Some(dst) = s.get_mut(offset..offset + val.len()) {
                    dst.copy_from_slice(val);
                }
            }
            ex.modified(key);
        }
    }
    ex.notify(EventClass::String, "setrange", key);
    Ok(Reply::Int(ex.write_str(key)?.map_or(0, |s| s.len()) as i64))
}

fn mget(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let mut out = Vec::with_capacity(args.len().saturating_sub(1));
    for k in args.iter().skip(1) {
        // A key of another type reads as nil in MGET.
        out.push(match ex.read_str(k) {
            Ok(Some(s)) => Reply::bulk(s),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

fn mset_pairs<'a>(args: &'a [Bytes], name: &str) -> Result<Vec<(&'a [u8], &'a [u8])>, CmdError> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Arity(name.into()));
    }
    Ok(rest.chunks(2).map(|c| (arg(c, 0), arg(c, 1))).collect())
}

fn mset(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    for (k, v) in mset_pairs(args, "mset")? {
        store(ex, k, v, TtlOpt::None);
    }
    Ok(Reply::Ok)
}

fn msetnx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let pairs = mset_pairs(args, "msetnx")?;
    if pairs.iter().any(|(k, _)| ex.exists(k)) {
        return Ok(Reply::Int(0));
    }
    for (k, v) in pairs {
        store(ex, k, v, TtlOpt::None);
    }
    Ok(Reply::Int(1))
}

fn lcs(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len = 0i64;
    let mut i = 3;
    while i < args.len() {
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"LEN" => want_len = true,
            b"IDX" => want_idx = true,
            b"WITHMATCHLEN" => with_len = true,
            b"MINMATCHLEN" if i + 1 < args.len() => {
                i += 1;
                min_len = arg_i64(arg(args, i))?.max(0);
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let a = ex
        .read_str(arg(args, 1))
        .map_err(|_| CmdError::err("The specified keys must contain string values"))?;
    let a = a.map(|s| s.to_vec()).unwrap_or_default();
    let b = ex
        .read_str(arg(args, 2))
        .map_err(|_| CmdError::err("The specified keys must contain string values"))?;
    let b = b.map(|s| s.to_vec()).unwrap_or_default();
    let cells = (a.len() + 1).saturating_mul(b.len() + 1);
    if cells.saturating_mul(4) > ex.config.proto_max_bulk_len {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = b.len() + 1;
    let mut dp = vec![0u32; cells];
    for (i, ca) in a.iter().enumerate() {
        for (j, cb) in b.iter().enumerate() {
            let v = if ca == cb {
                dp.get(i * w + j).copied().unwrap_or(0) + 1
            } else {
                let up = dp.get(i * w + j + 1).copied().unwrap_or(0);
                let left = dp.get((i + 1) * w + j).copied().unwrap_or(0);
                up.max(left)
            };
            if let Some(c) = dp.get_mut((i + 1) * w + j + 1) {
                *c = v;
            }
        }
    }
    let total = dp.get(a.len() * w + b.len()).copied().unwrap_or(0) as usize;
    // Walk back from the end, collecting the string and the match ranges.
    let mut out = vec![0u8; total];
    let mut matches: Vec<((usize, usize), (usize, usize), usize)> = Vec::new();
    // The match being extended backwards: (a_start, a_end, b_start, b_end).
    let mut cur: Option<(usize, usize, usize, usize)> = None;
    let mut emit = |c: (usize, usize, usize, usize)| {
        let l = c.1 - c.0 + 1;
        if l as i64 >= min_len {
            matches.push(((c.0, c.1), (c.2, c.3), l));
        }
    };
    let (mut i, mut j, mut k) = (a.len(), b.len(), total);
    while i > 0 && j > 0 {
        if a.get(i - 1) == b.get(j - 1) {
            if let Some(o) = out.get_mut(k - 1) {
                *o = a.get(i - 1).copied().unwrap_or(0);
            }
            k -= 1;
            match cur.as_mut() {
                Some(c) if c.0 == i && c.2 == j => {
                    c.0 = i - 1;
                    c.2 = j - 1;
                }
                _ => {
                    if let Some(c) = cur.take() {
                        emit(c);
                    }
                    cur = Some((i - 1, i - 1, j - 1, j - 1));
                }
            }
            i -= 1;
            j -= 1;
        } else {
            let up = dp.get((i - 1) * w + j).copied().unwrap_or(0);
            let left = dp.get(i * w + j - 1).copied().unwrap_or(0);
            if up > left {
                i -= 1;
            } else {
                j -= 1;
            }
        }
    }
    if let Some(c) = cur {
        emit(c);
    }
    if want_idx {
        let list = matches
            .iter()
            .map(|&((a0, a1), (b0, b1), l)| {
                let mut item = vec![
                    Reply::Array(vec![Reply::Int(a0 as i64), Reply::Int(a1 as i64)]),
                    Reply::Array(vec![Reply::Int(b0 as i64), Reply::Int(b1 as i64)]),
                ];
                if with_len {
                    item.push(Reply::Int(l as i64));
                }
                Reply::Array(item)
            })
            .collect();
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(list)),
            (Reply::bulk_str("len"), Reply::Int(total as i64)),
        ]));
    }
    if want_len {
        return Ok(Reply::Int(total as i64));
    }
    Ok(Reply::bulk(&out))
}

const W: u32 = WRITE | DENYOOM;

/// String command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "get",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::String,
        Some(get),
    ),
    CommandSpec::new("set", -3, W, (1, 1, 1), Group::String, Some(set)),
    CommandSpec::new("setnx", 3, W | FAST, (1, 1, 1), Group::String, Some(setnx)),
    CommandSpec::new("setex", 4, W, (1, 1, 1), Group::String, Some(setex)),
    CommandSpec::new("psetex", 4, W, (1, 1, 1), Group::String, Some(psetex)),
    CommandSpec::new(
        "getex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        Group::String,
        Some(getex),
    ),
    CommandSpec::new(
        "getdel",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Group::String,
        Some(getdel),
    ),
    CommandSpec::new(
        "getset",
        3,
        W | FAST,
        (1, 1, 1),
        Group::String,
        Some(getset),
    ),
    CommandSpec::new("incr", 2, W | FAST, (1, 1, 1), Group::String, Some(incr)),
    CommandSpec::new("decr", 2, W | FAST, (1, 1, 1), Group::String, Some(decr)),
    CommandSpec::new(
        "incrby",
        3,
        W | FAST,
        (1, 1, 1),
        Group::String,
        Some(incrby),
    ),
    CommandSpec::new(
        "decrby",
        3,
        W | FAST,
        (1, 1, 1),
        Group::String,
        Some(decrby),
    ),
    CommandSpec::new(
        "incrbyfloat",
        3,
        W | FAST,
        (1, 1, 1),
        Group::String,
        Some(incrbyfloat),
    ),
    CommandSpec::new(
        "append",
        3,
        W | FAST,
        (1, 1, 1),
        Group::String,
        Some(append),
    ),
    CommandSpec::new(
        "strlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::String,
        Some(strlen),
    ),
    CommandSpec::new(
        "getrange",
        4,
        READONLY,
        (1, 1, 1),
        Group::String,
        Some(getrange),
    ),
    CommandSpec::new(
        "substr",
        4,
        READONLY,
        (1, 1, 1),
        Group::String,
        Some(getrange),
    ),
    CommandSpec::new("setrange", 4, W, (1, 1, 1), Group::String, Some(setrange)),
    CommandSpec::new(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::String,
        Some(mget),
    ),
    CommandSpec::new("mset", -3, W, (1, -1, 2), Group::String, Some(mset)),
    CommandSpec::new("msetnx", -3, W, (1, -1, 2), Group::String, Some(msetnx)),
    CommandSpec::new("lcs", -3, READONLY, (1, 2, 1), Group::String, Some(lcs)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_bounds_match_redis() {
        assert_eq!(range_bounds(0, -1, 5), Some((0, 4)));
        assert_eq!(range_bounds(-3, -1, 5), Some((2, 4)));
        assert_eq!(range_bounds(-1, -3, 5), None);
        assert_eq!(range_bounds(2, 100, 5), Some((2, 4)));
        assert_eq!(range_bounds(0, 0, 0), None);
    }

    #[test]
    fn expire_parsing() {
        assert_eq!(expire_at_ms("set", b"10", true, true, 1000), Ok(11_000));
        assert!(expire_at_ms("set", b"0", true, true, 1000).is_err());
        assert_eq!(
            expire_at_ms("set", b"x", true, true, 0),
            Err(CmdError::NotInteger)
        );
        assert!(expire_at_ms("set", b"9223372036854775807", true, true, 0).is_err());
    }
}
