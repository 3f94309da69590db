//! Key-space commands (`db.c`, `expire.c`, `object.c`): DEL, EXISTS, the
//! EXPIRE family with NX/XX/GT/LT, TTLs, RENAME, COPY, MOVE, SCAN, KEYS,
//! RANDOMKEY, TOUCH, TYPE, OBJECT, DBSIZE, FLUSHDB/FLUSHALL, SWAPDB.

use bytes::Bytes;
use rand::Rng;

use super::flags::*;
use super::{CommandSpec, Group};
use crate::access;
use crate::effect::{Effect, EventClass};
use crate::exec::Exec;
use crate::glob::glob_match;
use crate::number::{arg_i64, parse_i64};
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

fn del(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let mut n = 0;
    for k in args.iter().skip(1) {
        if ex.delete(k) {
            ex.notify(EventClass::Generic, "del", k);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

fn exists(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let mut n = 0;
    for k in args.iter().skip(1) {
        if ex.lookup_read(k).is_some() {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

fn expire_generic(ex: &mut Exec<'_>, args: &[Bytes], secs: bool, relative: bool) -> R {
    let name = arg(args, 0).to_ascii_lowercase();
    let name = String::from_utf8_lossy(&name).into_owned();
    let invalid = || CmdError::err(format!("invalid expire time in '{name}' command"));
    let key = arg(args, 1);
    let mut when = arg_i64(arg(args, 2))?;
    if secs {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if relative {
        when = when.checked_add(ex.now_ms as i64).ok_or_else(invalid)?;
    }
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.iter().skip(3) {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(CmdError::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let Some(e) = ex.lookup_write(key) else {
        return Ok(Reply::Int(0));
    };
    let cur = e.expire_at;
    let has = cur != 0;
    let cur = cur as i64;
    if (nx && has) || (xx && !has) || (gt && (!has || when <= cur)) || (lt && has && when >= cur) {
        return Ok(Reply::Int(0));
    }
    if when <= ex.now_ms as i64 {
        ex.delete(key);
        ex.notify(EventClass::Generic, "del", key);
    } else {
        ex.db_mut().set_expire(key, when as u64);
        ex.modified(key);
        ex.notify(EventClass::Generic, "expire", key);
    }
    Ok(Reply::Int(1))
}

fn expire(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    expire_generic(ex, args, true, true)
}
fn pexpire(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    expire_generic(ex, args, false, true)
}
fn expireat(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    expire_generic(ex, args, true, false)
}
fn pexpireat(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    expire_generic(ex, args, false, false)
}

/// TTL family: `-2` no key, `-1` no TTL; else remaining or absolute time.
fn ttl_generic(ex: &mut Exec<'_>, args: &[Bytes], ms: bool, absolute: bool) -> R {
    let now = ex.now_ms;
    let Some(e) = ex.lookup_read(arg(args, 1)) else {
        return Ok(Reply::Int(-2));
    };
    if e.expire_at == 0 {
        return Ok(Reply::Int(-1));
    }
    let at = e.expire_at as i64;
    Ok(Reply::Int(match (absolute, ms) {
        (true, true) => at,
        (true, false) => at / 1000,
        (false, true) => (at - now as i64).max(0),
        (false, false) => ((at - now as i64).max(0) + 500) / 1000,
    }))
}

fn ttl(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    ttl_generic(ex, args, false, false)
}
fn pttl(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    ttl_generic(ex, args, true, false)
}
fn expiretime(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    ttl_generic(ex, args, false, true)
}
fn pexpiretime(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    ttl_generic(ex, args, true, true)
}

fn persist(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let has_ttl = ex.lookup_write(key).is_some_and(|e| e.expire_at != 0);
    if !has_ttl {
        return Ok(Reply::Int(0));
    }
    ex.db_mut().set_expire(key, 0);
    ex.modified(key);
    ex.notify(EventClass::Generic, "persist", key);
    Ok(Reply::Int(1))
}

fn type_(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    // TYPE does not count as a hit or miss in Redis (LOOKUP_NOTOUCH); close enough.
    let t = ex
        .lookup_read(arg(args, 1))
        .map_or("none", |e| e.value.value_type().name());
    Ok(Reply::Status(t.into()))
}

fn rename_generic(ex: &mut Exec<'_>, args: &[Bytes], nx: bool) -> R {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    if ex.lookup_write(src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if nx && ex.exists(dst) {
        return Ok(Reply::Int(0));
    }
    let Some(entry) = ex.db_mut().remove(src) else {
        return Err(CmdError::NoSuchKey);
    };
    ex.modified(src);
    ex.delete(dst);
    ex.db_mut()
        .insert(dst, entry.value, entry.expire_at, entry.access);
    ex.key_added(dst);
    ex.modified(dst);
    ex.notify(EventClass::Generic, "rename_from", src);
    ex.notify(EventClass::Generic, "rename_to", dst);
    ex.key_ready(dst);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

fn rename(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    rename_generic(ex, args, false)
}
fn renamenx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    rename_generic(ex, args, true)
}

fn parse_db_index(ex: &Exec<'_>, raw: &[u8]) -> Result<usize, CmdError> {
    let n = arg_i64(raw)?;
    if n < 0 || n as usize >= ex.db_count() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

fn copy(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    let mut target = ex.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"REPLACE" => replace = true,
            b"DB" if i + 1 < args.len() => {
                i += 1;
                target = parse_db_index(ex, arg(args, i))?;
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    if src == dst && target == ex.db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let Some(entry) = ex.lookup_write(src).map(|e| e.clone()) else {
        return Ok(Reply::Int(0));
    };
    let here = ex.db;
    ex.db = target;
    if ex.exists(dst) {
        if !replace {
            ex.db = here;
            return Ok(Reply::Int(0));
        }
        ex.delete(dst);
    }
    let access = access::initial_access(ex.now_ms, ex.config);
    ex.db_mut()
        .insert(dst, entry.value, entry.expire_at, access);
    ex.key_added(dst);
    ex.modified(dst);
    ex.notify(EventClass::Generic, "copy_to", dst);
    ex.key_ready(dst);
    ex.db = here;
    Ok(Reply::Int(1))
}

fn move_(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let target = parse_db_index(ex, arg(args, 2))?;
    if target == ex.db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    if ex.lookup_write(key).is_none() {
        return Ok(Reply::Int(0));
    }
    let here = ex.db;
    ex.db = target;
    let taken = ex.exists(key);
    ex.db = here;
    if taken {
        return Ok(Reply::Int(0));
    }
    let Some(entry) = ex.db_mut().remove(key) else {
        return Ok(Reply::Int(0));
    };
    ex.modified(key);
    // Redis adds the key to the target (`new`) before `move_from`.
    ex.db = target;
    ex.db_mut()
        .insert(key, entry.value, entry.expire_at, entry.access);
    ex.key_added(key);
    ex.db = here;
    ex.notify(EventClass::Generic, "move_from", key);
    ex.db = target;
    ex.modified(key);
    ex.notify(EventClass::Generic, "move_to", key);
    ex.key_ready(key);
    ex.db = here;
    Ok(Reply::Int(1))
}

/// Parses SCAN-family options after the cursor: MATCH, COUNT, and (for SCAN)
/// TYPE. Returns (pattern, count, type).
pub(crate) fn scan_options(
    args: &[Bytes],
    from: usize,
    allow_type: bool,
) -> Result<(Option<Bytes>, usize, Option<Bytes>), CmdError> {
    let mut pattern = None;
    let mut count = 10usize;
    let mut ty = None;
    let mut i = from;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"MATCH" if has_value => pattern = args.get(i + 1).cloned(),
            b"COUNT" if has_value => {
                let c = arg_i64(arg(args, i + 1))?;
                if c < 1 {
                    return Err(CmdError::Syntax);
                }
                count = c as usize;
            }
            b"TYPE" if has_value && allow_type => ty = args.get(i + 1).cloned(),
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    Ok((pattern, count, ty))
}

/// Parses a SCAN cursor as Redis's `strtoul` does (one parser for SCAN,
/// HSCAN, SSCAN and ZSCAN).
pub(crate) fn parse_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    super::hash::parse_scan_cursor(raw)
}

fn scan(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cursor = parse_cursor(arg(args, 1))?;
    let (pattern, count, ty) = scan_options(args, 2, true)?;
    let ty = ty.map(|t| t.to_ascii_lowercase());
    let now = ex.now_ms;
    let mut keys = Vec::new();
    let next = ex.db_mut().scan(cursor, count, |k, e| {
        if e.is_expired(now) {
            return;
        }
        if let Some(p) = &pattern {
            if !glob_match(p, k) {
                return;
            }
        }
        if let Some(t) = &ty {
            if e.value.value_type().name().as_bytes() != &t[..] {
                return;
            }
        }
        keys.push(Reply::bulk(k));
    });
    Ok(Reply::Array(vec![
        Reply::bulk_str(&next.to_string()),
        Reply::Array(keys),
    ]))
}

fn keys(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let pattern = arg(args, 1);
    let now = ex.now_ms;
    let all = pattern == b"*";
    let out: Vec<Reply> = ex
        .db_mut()
        .iter()
        .filter(|(k, e)| !e.is_expired(now) && (all || glob_match(pattern, k)))
        .map(|(k, _)| Reply::bulk(k))
        .collect();
    Ok(Reply::Array(out))
}

fn randomkey(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let _ = args;
    let now = ex.now_ms;
    // Bounded tries, as Redis, so a db full of expired keys cannot spin.
    for _ in 0..100 {
        let n = ex.db_mut().len();
        if n == 0 {
            return Ok(Reply::Nil);
        }
        let i = ex.rng.gen_range(0..n);
        let Some((k, e)) = ex.db_mut().get_index(i) else {
            return Ok(Reply::Nil);
        };
        if !e.is_expired(now) {
            return Ok(Reply::bulk(k));
        }
    }
    Ok(Reply::Nil)
}

fn touch(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let n = args
        .iter()
        .skip(1)
        .filter(|k| ex.lookup_read(k).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

fn dbsize(ex: &mut Exec<'_>, _args: &[Bytes]) -> R {
    Ok(Reply::Int(ex.db_mut().len() as i64))
}

fn flush_option(args: &[Bytes]) -> Result<(), CmdError> {
    match args.get(1).map(|a| a.to_ascii_uppercase()) {
        None => Ok(()),
        Some(a) if (a == b"ASYNC" || a == b"SYNC") && args.len() == 2 => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    flush_option(args)?;
    let n = ex.db_mut().len() as u64;
    ex.db_mut().clear();
    ex.stats.dirty += n.max(1);
    let db = ex.db;
    ex.effects.push(Effect::Flushed { db: Some(db) });
    Ok(Reply::Ok)
}

fn flushall(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    flush_option(args)?;
    for i in 0..ex.db_count() {
        if let Some(db) = ex.db_at(i) {
            db.clear();
        }
    }
    ex.stats.dirty += 1;
    ex.effects.push(Effect::Flushed { db: None });
    Ok(Reply::Ok)
}

fn swapdb(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let a = parse_i64(arg(args, 1)).ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let b = parse_i64(arg(args, 2)).ok_or_else(|| CmdError::err("invalid second DB index"))?;
    let n = ex.db_count() as i64;
    if a < 0 || b < 0 || a >= n || b >= n {
        return Err(CmdError::DbIndexOutOfRange);
    }
    if a != b {
        ex.dbs.swap(a as usize, b as usize);
        ex.stats.dirty += 1;
        ex.effects.push(Effect::Flushed {
            db: Some(a as usize),
        });
        ex.effects.push(Effect::Flushed {
            db: Some(b as usize),
        });
    }
    Ok(Reply::Ok)
}

fn object_encoding(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let now = ex.now_ms;
    Ok(
        match ex.db_mut().get(arg(args, 2)).filter(|e| !e.is_expired(now)) {
            Some(e) => Reply::bulk_str(e.value.encoding()),
            None => Reply::Nil,
        },
    )
}

fn object_freq(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    if !ex.config.maxmemory_policy.is_lfu() {
        return Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now = ex.now_ms;
    let cfg = ex.config;
    Ok(
        match ex.db_mut().get(arg(args, 2)).filter(|e| !e.is_expired(now)) {
            Some(e) => Reply::Int(i64::from(access::lfu_decayed(e.access, now, cfg))),
            None => Reply::Nil,
        },
    )
}

fn object_idletime(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    if ex.config.maxmemory_policy.is_lfu() {
        return Err(CmdError::err("An LRU maxmemory policy is not selected, access time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now = ex.now_ms;
    Ok(
        match ex.db_mut().get(arg(args, 2)).filter(|e| !e.is_expired(now)) {
            Some(e) => Reply::Int((access::idle_ms(e.access, now) / 1000) as i64),
            None => Reply::Nil,
        },
    )
}

fn object_refcount(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let now = ex.now_ms;
    Ok(
        match ex.db_mut().get(arg(args, 2)).filter(|e| !e.is_expired(now)) {
            Some(_) => Reply::Int(1),
            None => Reply::Nil,
        },
    )
}

fn object_help(_ex: &mut Exec<'_>, _args: &[Bytes]) -> R {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Status((*l).into())).collect(),
    ))
}

const OBJECT_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "encoding",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        Some(object_encoding),
    ),
    CommandSpec::new(
        "freq",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        Some(object_freq),
    ),
    CommandSpec::new(
        "idletime",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        Some(object_idletime),
    ),
    CommandSpec::new(
        "refcount",
        3,
        READONLY,
        (2, 2, 1),
        Group::Generic,
        Some(object_refcount),
    ),
    CommandSpec::new(
        "help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        Group::Generic,
        Some(object_help),
    ),
];

/// Key-space command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, (1, -1, 1), Group::Generic, Some(del)),
    CommandSpec::new(
        "unlink",
        -2,
        WRITE | FAST,
        (1, -1, 1),
        Group::Generic,
        Some(del),
    ),
    CommandSpec::new(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::Generic,
        Some(exists),
    ),
    CommandSpec::new(
        "expire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(expire),
    ),
    CommandSpec::new(
        "pexpire",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(pexpire),
    ),
    CommandSpec::new(
        "expireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(expireat),
    ),
    CommandSpec::new(
        "pexpireat",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(pexpireat),
    ),
    CommandSpec::new(
        "ttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(ttl),
    ),
    CommandSpec::new(
        "pttl",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(pttl),
    ),
    CommandSpec::new(
        "expiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(expiretime),
    ),
    CommandSpec::new(
        "pexpiretime",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(pexpiretime),
    ),
    CommandSpec::new(
        "persist",
        2,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(persist),
    ),
    CommandSpec::new(
        "type",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(type_),
    ),
    CommandSpec::new("rename", 3, WRITE, (1, 2, 1), Group::Generic, Some(rename)),
    CommandSpec::new(
        "renamenx",
        3,
        WRITE | FAST,
        (1, 2, 1),
        Group::Generic,
        Some(renamenx),
    ),
    CommandSpec::new(
        "copy",
        -3,
        WRITE | DENYOOM,
        (1, 2, 1),
        Group::Generic,
        Some(copy),
    ),
    CommandSpec::new(
        "move",
        3,
        WRITE | FAST,
        (1, 1, 1),
        Group::Generic,
        Some(move_),
    ),
    CommandSpec::new("scan", -2, READONLY, (0, 0, 0), Group::Generic, Some(scan)),
    CommandSpec::new("keys", 2, READONLY, (0, 0, 0), Group::Generic, Some(keys)),
    CommandSpec::new(
        "randomkey",
        1,
        READONLY,
        (0, 0, 0),
        Group::Generic,
        Some(randomkey),
    ),
    CommandSpec::new(
        "touch",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        Group::Generic,
        Some(touch),
    ),
    CommandSpec::new(
        "dbsize",
        1,
        READONLY | FAST,
        (0, 0, 0),
        Group::Server,
        Some(dbsize),
    ),
    CommandSpec::new(
        "flushdb",
        -1,
        WRITE,
        (0, 0, 0),
        Group::Server,
        Some(flushdb),
    ),
    CommandSpec::new(
        "flushall",
        -1,
        WRITE,
        (0, 0, 0),
        Group::Server,
        Some(flushall),
    ),
    CommandSpec::new(
        "swapdb",
        3,
        WRITE | FAST,
        (0, 0, 0),
        Group::Server,
        Some(swapdb),
    ),
    CommandSpec::new("object", -2, 0, (0, 0, 0), Group::Generic, None)
        .with_subcommands(OBJECT_SUBS),
];
